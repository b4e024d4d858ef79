/* Conformance platform "remote:<inner>": the inner platform's machine and
 * shim, served by the manager's server (manager/server.c) on a thread of
 * the runner; "conf" and "other" are socket connections to it
 * (capdrv/remote.h), so every case goes through the wire protocol, the
 * memfd-shared DMA memory and the manager's teardown. The observer hooks
 * stay the inner platform's: the runner shares the machine with the
 * manager thread (the shim and the platform lock themselves). Cases that
 * need a real process boundary fork providers (cases/remote.c). */
#define _GNU_SOURCE
#include "../conf.h"

#include <capdrv/remote.h>

#include "hwmem.h"
#include "server.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct remote_state {
    char dir[64];
    char path[96];
    struct mgr_hwmem *mem;
    struct mgr_server *srv;
    pthread_t thr;
    bool running;
};

static void quiet(void *arg, const char *line)
{
    (void)arg;
    if (getenv("CAPDRV_CONF_MANAGER_LOG")) /* debugging aid: see what the manager saw */
        fprintf(stderr, "manager %s\n", line);
}

static void *serve(void *arg)
{
    mgr_server_run(arg);
    return NULL;
}

int conf_remote_wrap(struct conf_ctx *c, struct capdrv_hw *hw)
{
    struct remote_state *r = c->rdata;
    return mgr_hwmem_wrap(*hw, &r->mem, hw);
}

int conf_remote_serve(struct conf_ctx *c, char *why, size_t why_len)
{
    struct remote_state *r = c->rdata;
    struct mgr_server_config mc = {.shim = c->shim, .mem = r->mem, .socket_path = r->path,
                                   .hello_timeout_ms = 300, /* remote.malformed-messages waits it out */
                                   /* QEMU and VFIO wait in real time: eventfds
                                    * (the sim's waits run its clock: messages) */
                                   .irq_eventfds = strcmp(c->plat->inner->name, "sim") != 0,
                                   .log = quiet};
    int rc = mgr_server_create(&mc, &r->srv, why, why_len);
    if (rc < 0)
        return rc;
    if (pthread_create(&r->thr, NULL, serve, r->srv) != 0) {
        snprintf(why, why_len, "cannot start the manager thread");
        return -CAPDRV_ENOMEM;
    }
    r->running = true;
    if ((rc = capdrv_remote_connect(r->path, "conf", &c->conf)) < 0 ||
        (rc = capdrv_remote_connect(r->path, "other", &c->other)) < 0)
        snprintf(why, why_len, "provider connect over %s failed", r->path);
    return rc;
}

int conf_remote_revoke(struct conf_ctx *c, capdrv_sys *sys, capdrv_cap_t cap)
{
    struct remote_state *r = c->rdata;
    if (!r->srv || (sys != c->conf && sys != c->other))
        return -CAPDRV_EINVAL;
    return mgr_server_revoke(r->srv, sys == c->conf ? "conf" : "other", cap);
}

void conf_remote_halt(struct conf_ctx *c)
{
    struct remote_state *r = c->rdata;
    if (r->running) {
        mgr_server_stop(r->srv);
        pthread_join(r->thr, NULL);
        r->running = false;
    }
    mgr_server_destroy(r->srv); /* tears down providers a case left behind */
    r->srv = NULL;
}

void conf_remote_unwrap(struct conf_ctx *c)
{
    struct remote_state *r = c->rdata;
    mgr_hwmem_free(r->mem);
    r->mem = NULL;
}

static int remote_setup(struct conf_ctx *c, enum capdrv_lane lane, char *why, size_t why_len)
{
    /* The manager shares DMA memory through a memfd per region
     * (manager/hwmem.h): one it puts under ordinary process memory (sim,
     * vfio), or the platform's own (qtest with dma_fds: a hot-plugged
     * DIMM per region, set up by the inner setup when socket_path is
     * set). qtest-virt has neither (docs/MANAGER.md, "DMA memory"). */
    if (strcmp(c->plat->inner->name, "sim") && strcmp(c->plat->inner->name, "vfio") &&
        strcmp(c->plat->inner->name, "qtest")) {
        snprintf(why, why_len, "the manager cannot share %s DMA memory (sim, vfio and qtest only)",
                 c->plat->inner->name);
        return -CAPDRV_ENOTSUP;
    }
    struct remote_state *r = calloc(1, sizeof *r);
    if (!r)
        return -CAPDRV_ENOMEM;
    snprintf(r->dir, sizeof r->dir, "/tmp/capdrv-conf-XXXXXX");
    if (!mkdtemp(r->dir)) {
        free(r);
        snprintf(why, why_len, "mkdtemp failed");
        return -CAPDRV_EIO;
    }
    snprintf(r->path, sizeof r->path, "%s/manager.sock", r->dir);
    c->rdata = r;
    c->socket_path = r->path;
    return c->plat->inner->setup(c, lane, why, why_len);
}

static void remote_teardown(struct conf_ctx *c)
{
    struct remote_state *r = c->rdata;
    c->plat->inner->teardown(c); /* conf_shim_stop(): providers, manager, shim */
    if (r) {
        if (r->srv || r->mem) { /* the inner setup failed half-way */
            conf_remote_halt(c);
            conf_remote_unwrap(c);
        }
        rmdir(r->dir);
        free(r);
    }
    c->rdata = NULL;
    c->socket_path = NULL;
}

void conf_remote_platform(const struct conf_platform *inner, const char *name,
                          struct conf_platform *out)
{
    *out = *inner; /* observer hooks and grant list: the inner machine's */
    out->name = name;
    out->setup = remote_setup;
    out->teardown = remote_teardown;
    out->inner = inner;
}
