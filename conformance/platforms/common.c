/* What every conformance platform does the same way: build the shim from a
 * compiled manifest in CONF_MANIFEST_DIR, connect the two providers, and
 * take it all down again. */
#define _GNU_SOURCE /* nanosleep */
#include "../conf.h"

#include <capdrv/remote.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    char *buf = NULL;
    if (fseek(fp, 0, SEEK_END) == 0) {
        long n = ftell(fp);
        if (n > 0 && fseek(fp, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n)) &&
            fread(buf, 1, (size_t)n, fp) != (size_t)n) {
            free(buf);
            buf = NULL;
        }
        *len = n > 0 ? (size_t)n : 0;
    }
    fclose(fp);
    return buf;
}

int conf_shim_start(struct conf_ctx *c, struct capdrv_env *env, struct capdrv_hw hw,
                    const char *manifest, char *why, size_t why_len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.dtb", CONF_MANIFEST_DIR, manifest);
    size_t len = 0;
    void *blob = slurp(path, &len);
    if (!blob) {
        snprintf(why, why_len, "cannot read manifest %s", path);
        return -CAPDRV_ENOENT;
    }
    int rc = c->rdata ? conf_remote_wrap(c, &hw) : 0; /* memfd-backed DMA memory */
    if (rc < 0) {
        free(blob);
        snprintf(why, why_len, "cannot wrap the platform's DMA memory");
        return rc;
    }
    struct capdrv_shim_config sc = {.env = env, .hw = hw, .manifest = blob, .manifest_len = len};
    rc = capdrv_shim_create(&sc, &c->shim, why, why_len);
    free(blob);
    if (rc == 0 && c->rdata)
        return conf_remote_serve(c, why, why_len);
    if (rc == 0 && (rc = capdrv_shim_connect(c->shim, "conf", &c->conf)) == 0)
        rc = capdrv_shim_connect(c->shim, "other", &c->other);
    return rc;
}

int conf_revoke(struct conf_ctx *c, capdrv_sys *sys, capdrv_cap_t cap)
{
    return c->rdata ? conf_remote_revoke(c, sys, cap) : capdrv_shim_revoke(c->shim, sys, cap);
}

int conf_connect(struct conf_ctx *c, const char *provider, capdrv_sys **sys)
{
    return c->rdata ? capdrv_remote_connect(c->socket_path, provider, sys)
                    : capdrv_shim_connect(c->shim, provider, sys);
}

void conf_shim_stop(struct conf_ctx *c)
{
    capdrv_sys_close(c->conf); /* remote: an orderly goodbye, teardown done on return */
    capdrv_sys_close(c->other);
    if (c->rdata)
        conf_remote_halt(c);
    capdrv_shim_destroy(c->shim);
    if (c->rdata)
        conf_remote_unwrap(c);
    c->conf = c->other = NULL;
    c->shim = NULL;
}

void conf_advance_realtime(struct conf_ctx *c, uint64_t ns)
{
    (void)c;
    struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000u), .tv_nsec = (long)(ns % 1000000000u)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}
