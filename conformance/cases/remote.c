/* Cases that need a process boundary between provider and manager
 * (issue #6, docs/MANAGER.md). They SKIP on in-process platforms. */
#define _GNU_SOURCE
#include "../conf.h"
#include "engine.h"

#include <capdrv/dev/dmatest.h>
#include <capdrv/remote.h>

#include "remote/wire.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static bool need_remote(struct conf_ctx *c)
{
    if (c->socket_path)
        return true;
    conf_skip(c, "needs a manager in another process: run with --platform remote:<inner>");
    return false;
}

/* Is provider @name connected, by the manager's own status report? */
static int connected(struct conf_ctx *c, const char *name)
{
    static char text[16384]; /* the runner is single-threaded */
    if (capdrv_remote_status(c->socket_path, text, sizeof text) < 0)
        return -1;
    char key[64];
    snprintf(key, sizeof key, "provider name=%s ", name);
    return strstr(text, key) != NULL;
}

/* Wait (up to 5 s) until the manager has noticed that @name is gone. */
static bool wait_gone(struct conf_ctx *c, const char *name)
{
    for (int i = 0; i < 5000; i++) {
        int k = connected(c, name);
        if (k == 0)
            return true;
        if (k < 0)
            return false;
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    return false;
}

/* Blocking waits in this process were seen to fail with EINTR under load
 * (no signal handler is installed; most likely io_uring's task-work
 * notification for the manager thread's ring): a socket with SO_RCVTIMEO
 * and poll() report such a wake-up instead of restarting. Both helpers
 * retry. */
static ssize_t recv_retry(int fd, void *buf, size_t len);

/* Wait for @fd to become readable. */
static bool readable(int fd, int timeout_ms)
{
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    int n;
    do
        n = poll(&pf, 1, timeout_ms);
    while (n < 0 && errno == EINTR);
    return n == 1;
}

/* The process-boundary cases drive the engine's device (cases/engine.h):
 * dmatest on the sim, QEMU's or the host's NVMe controller elsewhere; the
 * other provider holds "peer" (a second dmatest) or "bystander" (an
 * any-function grant). */
static const char *other_grant(struct conf_ctx *c)
{
    if (!c->plat->grants)
        return "peer";
    for (const char *const *g = c->plat->grants; *g; g++)
        if (!strcmp(*g, "peer"))
            return "peer";
    return "bystander";
}

/* The other provider is still served: a call only the manager answers. */
static int other_served(struct conf_ctx *c, capdrv_cap_t g, const char *name)
{
    if (!strcmp(name, "peer")) {
        capdrv_cap_t pm;
        uint64_t v = 0;
        int rc = capdrv_mmio_open(c->other, g, 0, &pm);
        if (rc == 0)
            rc = capdrv_mmio_read(c->other, pm, CAPDRV_DMATEST_ID, 4, &v);
        if (rc == 0)
            (void)capdrv_cap_release(c->other, pm);
        return rc < 0 ? rc : v == CAPDRV_DMATEST_ID_VALUE ? 0 : -CAPDRV_EIO;
    }
    capdrv_cap_t pool; /* AnyFunction holds no DMAPool: the manager says so */
    int rc = capdrv_pool_open(c->other, g, &pool);
    return rc == -CAPDRV_EACCES ? 0 : rc < 0 ? rc : -CAPDRV_EIO;
}

/* The hold relay. A forked provider's NVMe Read is held by the platform's
 * nvme_stall, whose connection to QEMU (QMP) belongs to the runner and
 * must not be used from the fork: the child asks over a pipe ('H' hold,
 * 'U' let go) and the runner answers ('G' done, 'N' cannot, 'E' failed). */
static struct {
    int req, ack; /* the child's ends */
} relay = {-1, -1};

static int relay_stall(struct conf_ctx *c, const char *grant, unsigned qid, bool on)
{
    (void)c, (void)grant, (void)qid;
    char req = on ? 'H' : 'U', ack = 0;
    /* longer than the worst the runner's nvme_stall may take (VFIO guest:
     * QMP open and two commands, 20 s each) */
    if (write(relay.req, &req, 1) != 1 || !readable(relay.ack, 90000) ||
        read(relay.ack, &ack, 1) != 1)
        return -CAPDRV_EIO;
    return ack == 'G' ? 0 : ack == 'N' ? -CAPDRV_ENOTSUP : -CAPDRV_EIO;
}

/* The runner's side: serve hold requests from @req (answers on @ack)
 * until the child sends 'R' (ready: its DMA is in flight) or fails. */
static bool serve_until_ready(struct conf_ctx *c, const char *grant, int req, int ack,
                              bool *held)
{
    for (;;) {
        char m = 0;
        if (!readable(req, 30000) || read(req, &m, 1) != 1)
            return false;
        if (m == 'R')
            return true;
        int rc = c->plat->nvme_stall ? c->plat->nvme_stall(c, grant, 0, m == 'H') : -CAPDRV_ENOTSUP;
        if (rc == 0)
            *held = m == 'H';
        char a = rc == 0 ? 'G' : rc == -CAPDRV_ENOTSUP ? 'N' : 'E';
        if (write(ack, &a, 1) != 1)
            return false;
    }
}

/* In a forked child (NVMe): become provider "conf" (c is the child's copy
 * of the runner's context: the shim and the platform state in it stay the
 * runner's and are not touched, nvme_stall goes through the relay; the
 * advance hook of an NVMe machine only sleeps, device time being real),
 * open the engine and allocate a buffer of @size. Exits 10/11 when that
 * fails. */
static void child_engine(struct conf_ctx *c, struct conf_platform *plat, struct conf_engine *e,
                         size_t size, capdrv_cap_t *b, struct capdrv_dmabuf_info *bi)
{
    c->shim = NULL;
    c->other = NULL; /* the runner's connection: not ours to use */
    if (capdrv_remote_connect(c->socket_path, "conf", &c->conf) < 0)
        _exit(10);
    *plat = *c->plat;
    if (plat->nvme_stall)
        plat->nvme_stall = relay_stall;
    c->plat = plat;
    if (!conf_engine_open(c, e, 0) || capdrv_dma_alloc(c->conf, e->pool, size, b, bi) < 0)
        _exit(11);
}

/* The dmatest children (the sim): the device's own delay keeps a fill in
 * flight, and completions are waited for by interrupt, which the sim's
 * manager-side wait turns into device time (the child must not advance
 * its copy of the runner's sim). */
/* As "conf": grant "dev", window 0, a buffer of @size, and (@irq) vector
 * 0. Exits 10 (no connection) or 11. */
static capdrv_sys *dmatest_child_open(const char *path, size_t size, capdrv_cap_t *m,
                                      capdrv_cap_t *b, struct capdrv_dmabuf_info *bi,
                                      capdrv_cap_t *irq)
{
    capdrv_sys *sys;
    capdrv_cap_t g, pool;
    if (capdrv_remote_connect(path, "conf", &sys) < 0)
        _exit(10);
    int idx = capdrv_grant_find(sys, "dev");
    if (idx < 0 || capdrv_grant_open(sys, (unsigned)idx, &g) < 0 ||
        capdrv_mmio_open(sys, g, 0, m) < 0 || capdrv_pool_open(sys, g, &pool) < 0 ||
        capdrv_dma_alloc(sys, pool, size, b, bi) < 0 || (irq && capdrv_irq_open(sys, g, 0, irq) < 0))
        _exit(11);
    return sys;
}

static void dmatest_provider(const char *path)
{
    capdrv_cap_t m, b;
    struct capdrv_dmabuf_info bi;
    capdrv_sys *sys = dmatest_child_open(path, 16384, &m, &b, &bi, NULL);
    memset(bi.cpu, 0xc3, bi.size); /* the shared mapping is writable */
    if (conf_dmatest(sys, m, capdrv_dma_ref(&bi, 0), 16384, CAPDRV_DMATEST_CMD_FILL, 0x11223344u,
                     1000000) < 0)
        _exit(12);
    if (write(relay.req, "R", 1) != 1)
        _exit(13);
    for (;;)
        pause();
}

static void dmatest_loader(const char *path)
{
    capdrv_cap_t m, b, irq;
    struct capdrv_dmabuf_info bi;
    capdrv_sys *sys = dmatest_child_open(path, 8192, &m, &b, &bi, &irq);
    for (unsigned i = 0;; i++) {
        struct capdrv_dmabuf_info now;
        int rc = capdrv_dmabuf_info(sys, b, &now);
        if (rc == -CAPDRV_ESTALE)
            _exit(0);
        if (rc < 0)
            _exit(12);
        uint32_t pat = 0x01010101u * (i % 250 + 1);
        rc = conf_dmatest(sys, m, capdrv_dma_ref(&bi, 0), 8192, CAPDRV_DMATEST_CMD_FILL, pat, 20000);
        if (rc == -CAPDRV_EFAULT) /* revoked between the two calls: refused at the device */
            continue;
        if (rc < 0)
            _exit(13);
        uint64_t ready;
        rc = capdrv_irq_wait(sys, &irq, 1, 1000000000, &ready);
        if (rc < 0 && rc != -CAPDRV_ETIMEDOUT)
            _exit(14);
        capdrv_irq_ack(sys, irq);
        if (rc == 1 && ((const uint8_t *)bi.cpu)[8191] != (uint8_t)pat)
            /* the fill did not land: only right if the revoke cut it off */
            _exit(capdrv_dmabuf_info(sys, b, &now) == -CAPDRV_ESTALE ? 0 : 15);
        if (i == 0) {
            char r = 'R';
            if (write(relay.req, &r, 1) != 1 || write(relay.req, &b, sizeof b) != (ssize_t)sizeof b)
                _exit(16);
        }
    }
}

/* The forked provider of death_kill9: as "conf", start a fill into a
 * buffer of its own that stays in flight (dmatest: slowed by the device;
 * NVMe: the Read held inside QEMU, through the relay), report 'R' on
 * relay.req, then wait to be killed. Exit codes name the step that failed. */
static void child_provider(struct conf_ctx *c)
{
    if (!strcmp(conf_engine_grant(c), "dev"))
        dmatest_provider(c->socket_path);
    struct conf_platform plat;
    struct conf_engine e;
    capdrv_cap_t b;
    struct capdrv_dmabuf_info bi;
    child_engine(c, &plat, &e, 16384, &b, &bi);
    memset(bi.cpu, 0xc3, bi.size); /* the shared mapping is writable */
    (void)conf_engine_hold_next(&e);
    if (conf_engine_start(&e, capdrv_dma_ref(&bi, 0), 16384, 0x11223344u, 1000000) < 0)
        _exit(12);
    if (write(relay.req, "R", 1) != 1)
        _exit(13);
    for (;;)
        pause();
}

/* Fork a child provider with the relay's pipes; the runner's ends in
 * *req / *ack. -1 when it cannot. */
static pid_t fork_child(struct conf_ctx *c, void (*body)(struct conf_ctx *), int *req, int *ack)
{
    int up[2], down[2];
    if (pipe(up) < 0)
        return -1;
    if (pipe(down) < 0) {
        close(up[0]);
        close(up[1]);
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(up[0]);
        close(down[1]);
        relay.req = up[1];
        relay.ack = down[0];
        body(c);
        _exit(0);
    }
    close(up[1]);
    close(down[0]);
    if (pid < 0) {
        close(up[0]);
        close(down[1]);
        return -1;
    }
    *req = up[0];
    *ack = down[1];
    return pid;
}

static void death_kill9(struct conf_ctx *c)
{
    const char *grant = conf_engine_grant(c), *oname = other_grant(c);
    if (!need_remote(c) || !conf_need_grant(c, grant ? grant : "dev"))
        return; /* the child opens the engine's grant */
    /* the other provider holds a grant and keeps being served throughout */
    capdrv_cap_t og = conf_open(c, c->other, oname);
    CONF_CHECK(c, og != CAPDRV_CAP_INVALID);
    CONF_EQ(c, other_served(c, og, oname), 0);
    capdrv_sys_close(c->conf); /* frees the name "conf" for the child */
    c->conf = NULL;
    unsigned resets = c->plat->reset_count ? c->plat->reset_count(c, grant) : 0;
    int req = -1, ack = -1;
    bool held = false;
    pid_t pid = fork_child(c, child_provider, &req, &ack);
    CONF_CHECK(c, pid > 0);
    bool ok = serve_until_ready(c, grant, req, ack, &held);
    close(req);
    close(ack);
    struct capdrv_shim_stats st;
    int st_rc = capdrv_shim_stats(c->shim, &st);
    kill(pid, SIGKILL); /* death with the fill in flight */
    int wst = 0;
    waitpid(pid, &wst, 0);
    if (!ok) {
        if (held)
            (void)c->plat->nvme_stall(c, grant, 0, false);
        conf_fail(c, __FILE__, __LINE__, "provider process failed before the kill (exit %d)",
                  WIFEXITED(wst) ? WEXITSTATUS(wst) : -1);
        return;
    }
    CONF_EQ(c, st_rc, 0);
    CONF_CHECK(c, st.dma_buffers >= 1); /* it held its buffer (NVMe: and its queues) ... */
    CONF_CHECK(c, st.dma_inflight >= 1); /* ... with the device working on it */
    CONF_CHECK(c, wait_gone(c, "conf"));
    if (held) /* the teardown's reset has let the held Read go; so does this */
        CONF_EQ(c, c->plat->nvme_stall(c, grant, 0, false), 0);
    if (c->plat->advance)
        c->plat->advance(c, 5000000);
    if (c->plat->oracle_violations)
        CONF_EQ(c, c->plat->oracle_violations(c), 0);
    CONF_EQ(c, capdrv_shim_stats(c->shim, &st), 0);
    CONF_EQ(c, st.dma_buffers, 0);     /* ledger released */
    CONF_EQ(c, st.grants_claimed, 1);  /* only the other provider's */
    CONF_CHECK(c, st.scrubbed_bytes >= 16384);
    if (c->plat->reset_count)
        CONF_CHECK(c, c->plat->reset_count(c, grant) > resets); /* quiesced by reset */
    CONF_EQ(c, other_served(c, og, oname), 0);
    CONF_EQ(c, conf_connect(c, "conf", &c->conf), 0); /* a restarted provider */
    CONF_CHECK(c, conf_open(c, c->conf, grant) != CAPDRV_CAP_INVALID);
    /* NVMe without a hold (the platform's nvme_stall said it cannot): the
     * Read may have finished before the kill, so "in flight" is unproven. */
    if (strcmp(grant, "dev") && !held)
        conf_skip(c, "platform %s cannot hold an NVMe command: the kill may have come with no "
                     "DMA in flight (the teardown checks above passed)", c->plat->name);
}

/* The forked provider of revoke_under_load: as "conf", run DMA fills on
 * one buffer back to back (each checked and waited for), send the
 * buffer's handle on relay.req after the first, and stop when a call on
 * the buffer reports it stale. Exit 0: it saw -CAPDRV_ESTALE (after the
 * device refused its reference, or a fill failed because the revoke reset
 * the device under it); other codes name the step that failed. */
static void child_loader(struct conf_ctx *c)
{
    if (!strcmp(conf_engine_grant(c), "dev"))
        dmatest_loader(c->socket_path);
    struct conf_platform plat;
    struct conf_engine e;
    capdrv_cap_t b;
    struct capdrv_dmabuf_info bi;
    child_engine(c, &plat, &e, 8192, &b, &bi);
    for (unsigned i = 0;; i++) {
        struct capdrv_dmabuf_info now;
        int rc = capdrv_dmabuf_info(c->conf, b, &now);
        if (rc == -CAPDRV_ESTALE)
            _exit(0);
        if (rc < 0)
            _exit(12);
        uint32_t pat = 0x01010101u * (i % 250 + 1);
        rc = conf_engine_fill(&e, capdrv_dma_ref(&bi, 0), 8192, pat);
        if (rc < 0) /* refused, or cut off: only right once the buffer is stale */
            _exit(capdrv_dmabuf_info(c->conf, b, &now) == -CAPDRV_ESTALE ? 0 : 13);
        if (((const uint8_t *)bi.cpu)[8191] != (uint8_t)pat)
            /* the fill did not land: only right if the revoke cut it off */
            _exit(capdrv_dmabuf_info(c->conf, b, &now) == -CAPDRV_ESTALE ? 0 : 15);
        if (i == 0) {
            char m = 'R';
            if (write(relay.req, &m, 1) != 1 || write(relay.req, &b, sizeof b) != (ssize_t)sizeof b)
                _exit(16);
        }
    }
}

static void revoke_under_load(struct conf_ctx *c)
{
    const char *grant = conf_engine_grant(c);
    if (!need_remote(c) || !conf_need_grant(c, grant ? grant : "dev"))
        return; /* the child opens the engine's grant */
    capdrv_sys_close(c->conf); /* frees the name "conf" for the child */
    c->conf = NULL;
    int req = -1, ack = -1;
    bool held = false;
    pid_t pid = fork_child(c, child_loader, &req, &ack);
    CONF_CHECK(c, pid > 0);
    capdrv_cap_t b = 0;
    bool ok = serve_until_ready(c, grant, req, ack, &held) && readable(req, 10000) &&
              read(req, &b, sizeof b) == (ssize_t)sizeof b;
    close(req);
    close(ack);
    int rc = ok ? capdrv_remote_revoke(c->socket_path, "conf", b) : -1; /* while it loops */
    /* its next call on the buffer must see the revoke; give it 30 s (an
     * NVMe fill cut off by the revoke's reset waits out its bound first) */
    int wst = 0;
    pid_t w = 0;
    for (int i = 0; i < 30000 && (w = waitpid(pid, &wst, WNOHANG)) == 0; i++)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    if (w == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &wst, 0);
    }
    if (!ok || w == 0 || !WIFEXITED(wst) || WEXITSTATUS(wst) != 0) {
        conf_fail(c, __FILE__, __LINE__, "provider process: %s (exit %d)",
                  !ok ? "no buffer handle" : w == 0 ? "never saw the revoke" : "failed",
                  WIFEXITED(wst) ? WEXITSTATUS(wst) : -1);
        return;
    }
    CONF_EQ(c, rc, 0);
    CONF_CHECK(c, wait_gone(c, "conf"));
    if (c->plat->advance)
        c->plat->advance(c, 5000000);
    if (c->plat->oracle_violations) /* no DMA touched the revoked memory */
        CONF_EQ(c, c->plat->oracle_violations(c), 0);
    struct capdrv_shim_stats st;
    CONF_EQ(c, capdrv_shim_stats(c->shim, &st), 0);
    CONF_EQ(c, st.dma_buffers, 0);
    CONF_EQ(c, capdrv_remote_revoke(c->socket_path, "conf", b), -CAPDRV_ENOENT); /* gone */
    CONF_EQ(c, conf_connect(c, "conf", &c->conf), 0);
    CONF_CHECK(c, conf_open(c, c->conf, grant) != CAPDRV_CAP_INVALID);
}

static int raw_dial(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        fd = -1;
    }
    struct timeval tv = {.tv_sec = 5};
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static ssize_t recv_retry(int fd, void *buf, size_t len)
{
    ssize_t n;
    do
        n = recv(fd, buf, len, 0);
    while (n < 0 && errno == EINTR);
    return n;
}

/* The manager hangs up on @fd: recv sees end of file. */
static bool hung_up(int fd)
{
    char b[64];
    ssize_t n;
    while ((n = recv_retry(fd, b, sizeof b)) > 0) {
    }
    if (n < 0)
        fprintf(stderr, "hung_up: recv: %s\n", strerror(errno));
    return n == 0;
}

static size_t packet(unsigned char *out, uint16_t type, const void *pl, size_t len, uint32_t seq)
{
    struct cdw_hdr h;
    cdw_hdr_init(&h, type, (uint32_t)len, seq);
    memcpy(out, &h, sizeof h);
    if (len)
        memcpy(out + sizeof h, pl, len);
    return sizeof h + len;
}

static void malformed(struct conf_ctx *c)
{
    const char *grant = conf_engine_grant(c);
    if (!need_remote(c) || !conf_need_grant(c, grant ? grant : "dev"))
        return;
    unsigned char buf[2048];
    /* before the handshake: garbage, a bad magic, a request instead of hello */
    int fd = raw_dial(c->socket_path);
    CONF_CHECK(c, fd >= 0);
    CONF_EQ(c, send(fd, "xyz", 3, 0), 3);
    CONF_CHECK(c, hung_up(fd));
    close(fd);
    struct cdw_hello hello = {0};
    snprintf(hello.name, sizeof hello.name, "conf");
    size_t n = packet(buf, CDW_HELLO, &hello, sizeof hello, 1);
    buf[0] ^= 0xff;
    CONF_CHECK(c, (fd = raw_dial(c->socket_path)) >= 0);
    CONF_EQ(c, send(fd, buf, n, 0), (long long)n);
    CONF_CHECK(c, hung_up(fd));
    close(fd);
    n = packet(buf, CDW_GRANT_COUNT, NULL, 0, 1);
    CONF_CHECK(c, (fd = raw_dial(c->socket_path)) >= 0);
    CONF_EQ(c, send(fd, buf, n, 0), (long long)n);
    CONF_CHECK(c, hung_up(fd));
    close(fd);
    /* silence: no hello within the deadline (300 ms on this platform) */
    CONF_CHECK(c, (fd = raw_dial(c->socket_path)) >= 0);
    CONF_CHECK(c, hung_up(fd));
    close(fd);

    /* after a good handshake, holding a grant: an oversized packet is a
     * protocol violation, and the violator is torn down like a dead one */
    capdrv_sys_close(c->conf);
    c->conf = NULL;
    CONF_CHECK(c, (fd = raw_dial(c->socket_path)) >= 0);
    n = packet(buf, CDW_HELLO, &hello, sizeof hello, 1);
    CONF_EQ(c, send(fd, buf, n, 0), (long long)n);
    struct cdw_hdr rh;
    CONF_EQ(c, recv_retry(fd, buf, sizeof buf), (long long)(sizeof rh + sizeof(struct cdw_r_hello)));
    struct cdw_r_hello hr;
    memcpy(&hr, buf + sizeof rh, sizeof hr);
    CONF_EQ(c, hr.rc, 0);
    struct cdw_index gi = {.index = 0};
    n = packet(buf, CDW_GRANT_OPEN, &gi, sizeof gi, 2);
    CONF_EQ(c, send(fd, buf, n, 0), (long long)n);
    CONF_EQ(c, recv_retry(fd, buf, sizeof buf), (long long)(sizeof rh + sizeof(struct cdw_r_cap)));
    struct cdw_r_cap cr;
    memcpy(&cr, buf + sizeof rh, sizeof cr);
    CONF_EQ(c, cr.rc, 0);
    struct capdrv_shim_stats st;
    CONF_EQ(c, capdrv_shim_stats(c->shim, &st), 0);
    unsigned claimed = st.grants_claimed;
    memset(buf, 0, sizeof buf);
    n = packet(buf, CDW_CAP_RELEASE, buf + 1024, 1000, 3); /* length fits no request */
    CONF_EQ(c, send(fd, buf, n, 0), (long long)n);
    CONF_CHECK(c, hung_up(fd));
    close(fd);
    CONF_CHECK(c, wait_gone(c, "conf"));
    CONF_EQ(c, capdrv_shim_stats(c->shim, &st), 0);
    CONF_EQ(c, st.grants_claimed, claimed - 1); /* its grant was torn down */

    /* the manager kept serving everyone else */
    CONF_EQ(c, conf_connect(c, "conf", &c->conf), 0);
    CONF_CHECK(c, conf_open(c, c->conf, grant) != CAPDRV_CAP_INVALID);
    CONF_CHECK(c, conf_open(c, c->other, other_grant(c)) != CAPDRV_CAP_INVALID);
}

static bool all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return false;
    return true;
}

/* Where the other provider holds only an any-function grant (QEMU, VFIO)
 * it has no memory of its own: the handle half then runs the other way
 * round, and the memory half is "a released buffer's bytes never reach
 * the next allocation". */
static void two_providers(struct conf_ctx *c)
{
    const char *grant = conf_engine_grant(c), *oname = other_grant(c);
    if (!need_remote(c) || !conf_need_grant(c, grant ? grant : "dev"))
        return;
    capdrv_sys *dup;
    /* one live connection per provider name; unknown names have nothing */
    CONF_EQ(c, capdrv_remote_connect(c->socket_path, "other", &dup), -CAPDRV_EBUSY);
    CONF_EQ(c, capdrv_remote_connect(c->socket_path, "nobody", &dup), -CAPDRV_ENOENT);
    /* Handles are per provider: one that names a buffer in one table
     * names nothing in the other's (which holds no buffer yet). */
    capdrv_sys *owner = c->other, *stranger = c->conf;
    const char *owner_grant = oname;
    if (strcmp(oname, "peer") != 0) { /* "other" has no pool: roles swap */
        owner = c->conf;
        stranger = c->other;
        owner_grant = grant;
    }
    capdrv_cap_t g = conf_open(c, owner, owner_grant), pool, b;
    CONF_CHECK(c, g != CAPDRV_CAP_INVALID);
    struct capdrv_dmabuf_info bi, seen;
    CONF_EQ(c, capdrv_pool_open(owner, g, &pool), 0);
    CONF_EQ(c, capdrv_dma_alloc(owner, pool, 4096, &b, &bi), 0);
    memset(bi.cpu, 0x77, 4096);
    int rc = capdrv_dmabuf_info(stranger, b, &seen);
    CONF_CHECK(c, rc == -CAPDRV_ESTALE || rc == -CAPDRV_EBADF);
    if (owner == c->conf) {
        /* memory: a released buffer's bytes never reach the next one */
        CONF_EQ(c, capdrv_cap_release(c->conf, b), 0);
        CONF_EQ(c, capdrv_dma_alloc(c->conf, pool, 4096, &b, &seen), 0);
        CONF_CHECK(c, all_zero(seen.cpu, 4096));
        return;
    }
    /* memory: a buffer of "other" is not reachable through "conf" */
    capdrv_cap_t cg = conf_open(c, c->conf, grant), cpool, cb;
    CONF_CHECK(c, cg != CAPDRV_CAP_INVALID);
    CONF_EQ(c, capdrv_pool_open(c->conf, cg, &cpool), 0);
    CONF_EQ(c, capdrv_dma_alloc(c->conf, cpool, 4096, &cb, &seen), 0);
    CONF_CHECK(c, seen.cpu != bi.cpu);
    CONF_CHECK(c, all_zero(seen.cpu, 4096)); /* fresh memory: scrubbed, not the peer's bytes */
}

const struct conf_case conf_cases_remote[] = {
    {"remote.death-kill9",
     "kill -9 of a provider with DMA in flight: device quiesced, ledger released and scrubbed, "
     "grant claimable again, other providers served throughout (issue #6)",
     CONF_BOTH_LANES, death_kill9},
    {"remote.revoke-under-load",
     "revoke from the manager (control socket) while a provider process runs DMA on the buffer: "
     "its next call on it is stale, no DMA reaches the memory afterwards (issue #6)",
     CONF_BOTH_LANES, revoke_under_load},
    {"remote.malformed-messages",
     "a peer sending malformed or oversized messages, or no hello in time, is disconnected "
     "and torn down; the manager keeps serving (issue #6; docs/MANAGER.md)",
     CONF_BOTH_LANES, malformed},
    {"remote.two-providers",
     "one connection per provider name; a provider reaches neither another's handles nor its "
     "memory (issue #6)",
     CONF_BOTH_LANES, two_providers},
};
const size_t conf_cases_remote_n = sizeof conf_cases_remote / sizeof conf_cases_remote[0];
