/* Cases that need a process boundary between provider and manager
 * (issue #6, docs/MANAGER.md). They SKIP on in-process platforms. */
#define _GNU_SOURCE
#include "../conf.h"

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

/* The forked provider: connect as "conf", start a slow DMA fill on "dev",
 * report 'R' on @wfd, then wait to be killed. Exit codes name the step
 * that failed. */
static void child_provider(const char *path, int wfd)
{
    capdrv_sys *sys;
    capdrv_cap_t g, m, pool, b;
    struct capdrv_dmabuf_info bi;
    if (capdrv_remote_connect(path, "conf", &sys) < 0)
        _exit(10);
    int idx = capdrv_grant_find(sys, "dev");
    if (idx < 0 || capdrv_grant_open(sys, (unsigned)idx, &g) < 0 ||
        capdrv_mmio_open(sys, g, 0, &m) < 0 || capdrv_pool_open(sys, g, &pool) < 0 ||
        capdrv_dma_alloc(sys, pool, 16384, &b, &bi) < 0)
        _exit(11);
    memset(bi.cpu, 0xc3, bi.size); /* the shared mapping is writable */
    if (conf_dmatest(sys, m, capdrv_dma_ref(&bi, 0), 16384, CAPDRV_DMATEST_CMD_FILL, 0x11223344u,
                     1000000) < 0)
        _exit(12);
    if (write(wfd, "R", 1) != 1)
        _exit(13);
    for (;;)
        pause();
}

static void death_kill9(struct conf_ctx *c)
{
    if (!need_remote(c) || !conf_need_grant(c, "dev")) /* the child opens it */
        return;
    /* the other provider holds a grant and keeps being served throughout */
    capdrv_cap_t peer = conf_open(c, c->other, "peer"), pm;
    CONF_CHECK(c, peer != CAPDRV_CAP_INVALID);
    CONF_EQ(c, capdrv_mmio_open(c->other, peer, 0, &pm), 0);
    capdrv_sys_close(c->conf); /* frees the name "conf" for the child */
    c->conf = NULL;
    unsigned resets = c->plat->reset_count ? c->plat->reset_count(c, "dev") : 0;
    int pfd[2];
    CONF_EQ(c, pipe(pfd), 0);
    fflush(NULL);
    pid_t pid = fork();
    CONF_CHECK(c, pid >= 0);
    if (pid == 0) {
        close(pfd[0]);
        child_provider(c->socket_path, pfd[1]);
    }
    close(pfd[1]);
    char ready = 0;
    bool ok = readable(pfd[0], 10000) && read(pfd[0], &ready, 1) == 1 && ready == 'R';
    close(pfd[0]);
    struct capdrv_shim_stats st;
    int st_rc = capdrv_shim_stats(c->shim, &st);
    kill(pid, SIGKILL); /* death with the fill in flight */
    int wst = 0;
    waitpid(pid, &wst, 0);
    if (!ok)
        conf_fail(c, __FILE__, __LINE__, "provider process failed before the kill (exit %d)",
                  WIFEXITED(wst) ? WEXITSTATUS(wst) : -1);
    if (!ok)
        return;
    CONF_EQ(c, st_rc, 0);
    CONF_EQ(c, st.dma_buffers, 1); /* it held its buffer ... */
    CONF_EQ(c, st.dma_inflight, 1); /* ... with the device working on it */
    CONF_CHECK(c, wait_gone(c, "conf"));
    if (c->plat->advance)
        c->plat->advance(c, 5000000);
    if (c->plat->oracle_violations)
        CONF_EQ(c, c->plat->oracle_violations(c), 0);
    CONF_EQ(c, capdrv_shim_stats(c->shim, &st), 0);
    CONF_EQ(c, st.dma_buffers, 0);     /* ledger released */
    CONF_EQ(c, st.grants_claimed, 1);  /* only the other provider's */
    CONF_CHECK(c, st.scrubbed_bytes >= 16384);
    if (c->plat->reset_count)
        CONF_CHECK(c, c->plat->reset_count(c, "dev") > resets); /* quiesced by reset */
    uint64_t v;
    CONF_EQ(c, capdrv_mmio_read(c->other, pm, CAPDRV_DMATEST_ID, 4, &v), 0);
    CONF_EQ(c, v, CAPDRV_DMATEST_ID_VALUE);
    CONF_EQ(c, conf_connect(c, "conf", &c->conf), 0); /* a restarted provider */
    CONF_CHECK(c, conf_open(c, c->conf, "dev") != CAPDRV_CAP_INVALID);
}

/* The forked provider of revoke_under_load: as "conf", run DMA fills on
 * one buffer back to back (each checked, each waited for by interrupt),
 * send the buffer's handle on @wfd after the first, and stop when a call
 * on the buffer reports it stale. Exit 0: it saw -CAPDRV_ESTALE (or the
 * device refused its reference, -CAPDRV_EFAULT, first); other codes name
 * the step that failed. */
static void child_loader(const char *path, int wfd)
{
    capdrv_sys *sys;
    capdrv_cap_t g, m, pool, b, irq;
    struct capdrv_dmabuf_info bi;
    if (capdrv_remote_connect(path, "conf", &sys) < 0)
        _exit(10);
    int idx = capdrv_grant_find(sys, "dev");
    if (idx < 0 || capdrv_grant_open(sys, (unsigned)idx, &g) < 0 ||
        capdrv_mmio_open(sys, g, 0, &m) < 0 || capdrv_pool_open(sys, g, &pool) < 0 ||
        capdrv_dma_alloc(sys, pool, 8192, &b, &bi) < 0 || capdrv_irq_open(sys, g, 0, &irq) < 0)
        _exit(11);
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
        if (rc == 1 && ((const uint8_t *)bi.cpu)[8191] != (uint8_t)pat) {
            /* the fill did not land: only right if the revoke cut it off */
            struct capdrv_dmabuf_info again;
            _exit(capdrv_dmabuf_info(sys, b, &again) == -CAPDRV_ESTALE ? 0 : 15);
        }
        if (i == 0 && write(wfd, &b, sizeof b) != (ssize_t)sizeof b)
            _exit(16);
    }
}

static void revoke_under_load(struct conf_ctx *c)
{
    if (!need_remote(c) || !conf_need_grant(c, "dev")) /* the child opens it */
        return;
    capdrv_sys_close(c->conf); /* frees the name "conf" for the child */
    c->conf = NULL;
    int pfd[2];
    CONF_EQ(c, pipe(pfd), 0);
    fflush(NULL);
    pid_t pid = fork();
    CONF_CHECK(c, pid >= 0);
    if (pid == 0) {
        close(pfd[0]);
        child_loader(c->socket_path, pfd[1]);
    }
    close(pfd[1]);
    capdrv_cap_t b = 0;
    bool ok = readable(pfd[0], 10000) && read(pfd[0], &b, sizeof b) == (ssize_t)sizeof b;
    close(pfd[0]);
    int rc = ok ? capdrv_remote_revoke(c->socket_path, "conf", b) : -1; /* while it loops */
    /* its next call on the buffer must see the revoke; give it 10 s */
    int wst = 0;
    pid_t w = 0;
    for (int i = 0; i < 10000 && (w = waitpid(pid, &wst, WNOHANG)) == 0; i++)
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
    CONF_CHECK(c, conf_open(c, c->conf, "dev") != CAPDRV_CAP_INVALID);
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
    if (!need_remote(c))
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
    CONF_CHECK(c, conf_open(c, c->conf, "dev") != CAPDRV_CAP_INVALID);
    CONF_CHECK(c, conf_open(c, c->other, "peer") != CAPDRV_CAP_INVALID);
}

static void two_providers(struct conf_ctx *c)
{
    if (!need_remote(c))
        return;
    capdrv_sys *dup;
    /* one live connection per provider name; unknown names have nothing */
    CONF_EQ(c, capdrv_remote_connect(c->socket_path, "other", &dup), -CAPDRV_EBUSY);
    CONF_EQ(c, capdrv_remote_connect(c->socket_path, "nobody", &dup), -CAPDRV_ENOENT);
    /* memory: a buffer of "other" is not reachable through "conf" */
    capdrv_cap_t g = conf_open(c, c->other, "peer"), pool, b;
    CONF_CHECK(c, g != CAPDRV_CAP_INVALID);
    struct capdrv_dmabuf_info bi, mine;
    CONF_EQ(c, capdrv_pool_open(c->other, g, &pool), 0);
    CONF_EQ(c, capdrv_dma_alloc(c->other, pool, 4096, &b, &bi), 0);
    memset(bi.cpu, 0x77, 4096);
    int rc = capdrv_dmabuf_info(c->conf, b, &mine);
    CONF_CHECK(c, rc == -CAPDRV_ESTALE || rc == -CAPDRV_EBADF);
    capdrv_cap_t cg = conf_open(c, c->conf, "dev"), cpool, cb;
    CONF_EQ(c, capdrv_pool_open(c->conf, cg, &cpool), 0);
    CONF_EQ(c, capdrv_dma_alloc(c->conf, cpool, 4096, &cb, &mine), 0);
    CONF_CHECK(c, mine.cpu != bi.cpu);
    const unsigned char *p = mine.cpu; /* fresh memory: scrubbed, not the peer's bytes */
    for (size_t i = 0; i < 4096; i++)
        CONF_EQ(c, p[i], 0);
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
