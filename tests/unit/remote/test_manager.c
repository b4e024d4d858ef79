/* The manager's server and its memfd DMA memory (manager/server.c,
 * manager/hwmem.c), served on a thread over capdrv-managerd's sim machine
 * (manager/sim.dts):
 * the credentials rule, status, and that DMA memory is shared while a
 * buffer lives and detached once it is freed. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <capdrv/dev/dmatest.h>
#include <capdrv/remote.h>
#include <capdrv/shim.h>
#include <capdrv/sim.h>

#include "hwmem.h"
#include "remote/wire.h"
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct fx {
    struct capdrv_env *env;
    struct capdrv_sim *sim;
    struct mgr_hwmem *mem;
    struct capdrv_shim *shim;
    struct mgr_server *srv;
    pthread_t thr;
    char dir[64], path[96];
};

static void *serve(void *arg)
{
    mgr_server_run(arg);
    return NULL;
}

static void drop(void *arg, const char *line)
{
    (void)arg;
    if (getenv("CAPDRV_TEST_MANAGER_LOG")) /* debugging aid */
        fprintf(stderr, "manager %s\n", line);
}

/* Start a manager whose only rule admits provider "other" for a uid that
 * is not ours. */
static int setup_with(void **state, bool irq_eventfds)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    FILE *fp = fopen(MANIFEST, "rb");
    assert_non_null(fp);
    static char blob[65536];
    size_t len = fread(blob, 1, sizeof blob, fp);
    fclose(fp);
    struct capdrv_env_hosted_opts eo = {.log_level = -1};
    f->env = capdrv_env_hosted_new(&eo);
    struct capdrv_sim_config cfg = {.iommu = false};
    assert_int_equal(capdrv_sim_create(&cfg, &f->sim), 0);
    struct capdrv_pci_addr a[6] = {{0, 0, 3, 0}, {0, 0, 4, 0}, {0, 0, 5, 0},
                                   {0, 0, 6, 0}, {0, 0, 7, 0}, {0, 0, 8, 0}};
    struct capdrv_sim_nvme_config nvme = {.max_io_queues = 4, .sgl = true};
    unsigned fn;
    assert_int_equal(capdrv_sim_add_dmatest(f->sim, &a[0], &fn), 0);
    assert_int_equal(capdrv_sim_add_scratch(f->sim, &a[1], 0x1234, 0x5678, 0x058000, &fn), 0);
    assert_int_equal(capdrv_sim_add_dmatest(f->sim, &a[2], &fn), 0);
    assert_int_equal(capdrv_sim_add_virtio_blk(f->sim, &a[3], NULL, &fn), 0);
    assert_int_equal(capdrv_sim_add_virtio_net(f->sim, &a[4], NULL, &fn), 0);
    assert_int_equal(capdrv_sim_add_nvme(f->sim, &a[5], &nvme, &fn), 0);
    struct capdrv_hw hw;
    assert_int_equal(mgr_hwmem_wrap(capdrv_sim_hw(f->sim), &f->mem, &hw), 0);
    struct capdrv_shim_config sc = {.env = f->env, .hw = hw, .manifest = blob, .manifest_len = len};
    char why[256];
    assert_int_equal(capdrv_shim_create(&sc, &f->shim, why, sizeof why), 0);
    snprintf(f->dir, sizeof f->dir, "/tmp/capdrv-mgr-test-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/m.sock", f->dir);
    static struct mgr_allow allow;
    snprintf(allow.name, sizeof allow.name, "other");
    allow.uid = geteuid() + 1;
    struct mgr_server_config mc = {.shim = f->shim, .mem = f->mem, .socket_path = f->path,
                                   .allow = &allow, .n_allow = 1, .log = drop,
                                   .irq_eventfds = irq_eventfds};
    assert_int_equal(mgr_server_create(&mc, &f->srv, why, sizeof why), 0);
    assert_int_equal(pthread_create(&f->thr, NULL, serve, f->srv), 0);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_with(state, false);
}

/* The same with interrupts as eventfds (irqpump.h). On the sim the pump's
 * waits run the simulated clock while it waits: fine for these tests. */
static int setup_evfd(void **state)
{
    return setup_with(state, true);
}

static int teardown(void **state)
{
    struct fx *f = *state;
    mgr_server_stop(f->srv);
    pthread_join(f->thr, NULL);
    mgr_server_destroy(f->srv);
    assert_int_equal(access(f->path, F_OK), -1); /* socket unlinked */
    capdrv_shim_destroy(f->shim);
    assert_int_equal(mgr_hwmem_regions(f->mem), 0); /* every region given back */
    mgr_hwmem_free(f->mem);
    capdrv_sim_destroy(f->sim);
    capdrv_env_hosted_free(f->env);
    rmdir(f->dir);
    free(f);
    return 0;
}

static void test_credentials_rule(void **state)
{
    struct fx *f = *state;
    capdrv_sys *a, *b;
    /* "other" has a rule, and it names another uid */
    assert_int_equal(capdrv_remote_connect(f->path, "other", &b), -CAPDRV_EACCES);
    /* "conf" has no rule: our uid is the manager's */
    assert_int_equal(capdrv_remote_connect(f->path, "conf", &a), 0);
    assert_int_equal(capdrv_remote_connect(f->path, "conf", &b), -CAPDRV_EBUSY);
    assert_int_equal(capdrv_remote_connect(f->path, "nobody", &b), -CAPDRV_ENOENT);
    assert_int_equal(capdrv_remote_connect(f->path, "", &b), -CAPDRV_EINVAL);
    assert_true(mgr_server_has_provider(f->srv, "conf"));
    capdrv_sys_close(a); /* BYE: gone by the time close returns */
    assert_false(mgr_server_has_provider(f->srv, "conf"));
    assert_int_equal(capdrv_remote_connect(f->path, "conf", &a), 0);
    capdrv_sys_close(a);
}

static void test_status(void **state)
{
    struct fx *f = *state;
    capdrv_sys *a;
    assert_int_equal(capdrv_remote_connect(f->path, "conf", &a), 0);
    int idx = capdrv_grant_find(a, "dev");
    assert_true(idx >= 0);
    capdrv_cap_t g;
    assert_int_equal(capdrv_grant_open(a, (unsigned)idx, &g), 0);
    char text[8192];
    int n = capdrv_remote_status(f->path, text, sizeof text);
    assert_true(n > 0 && (size_t)n < sizeof text);
    assert_non_null(strstr(text, "provider name=conf "));
    assert_non_null(strstr(text, "grant provider=conf name=dev claimed=1"));
    assert_non_null(strstr(text, "grants_claimed=1 "));
    /* revoke through the control socket: the grant goes stale */
    assert_int_equal(capdrv_remote_revoke(f->path, "other", g), -CAPDRV_ENOENT); /* not connected */
    assert_int_equal(capdrv_remote_revoke(f->path, "conf", g), 0);
    assert_int_equal(capdrv_grant_lane(a, g), -CAPDRV_ESTALE);
    assert_int_equal(capdrv_remote_revoke(f->path, "conf", g), -CAPDRV_ESTALE);
    assert_int_equal(capdrv_remote_revoke(f->path, "", g), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_grant_open(a, (unsigned)idx, &g), 0); /* claimable again */
    char small[16]; /* truncated, still terminated, full length reported */
    assert_int_equal(capdrv_remote_status(f->path, small, sizeof small), n);
    assert_int_equal(strlen(small), sizeof small - 1);
    capdrv_sys_close(a);
}

static void test_dma_shared_then_detached(void **state)
{
    struct fx *f = *state;
    capdrv_sys *a;
    assert_int_equal(capdrv_remote_connect(f->path, "conf", &a), 0);
    int idx = capdrv_grant_find(a, "dev");
    capdrv_cap_t g, pool, b;
    assert_int_equal(capdrv_grant_open(a, (unsigned)idx, &g), 0);
    assert_int_equal(capdrv_pool_open(a, g, &pool), 0);
    struct capdrv_dmabuf_info bi;
    assert_int_equal(capdrv_dma_alloc(a, pool, 8192, &b, &bi), 0);
    assert_int_equal(bi.size, 8192);
    const unsigned char *p = bi.cpu;
    for (size_t i = 0; i < bi.size; i++) /* zeroed, as sys.h promises */
        assert_int_equal(p[i], 0);
    /* one live region on the manager's side: this buffer's */
    assert_int_equal(mgr_hwmem_regions(f->mem), 1);
    memset(bi.cpu, 0x5c, bi.size);
    struct capdrv_dmabuf_info again;
    assert_int_equal(capdrv_dmabuf_info(a, b, &again), 0);
    assert_ptr_equal(again.cpu, bi.cpu); /* the same mapping, not a new one */
    assert_int_equal(capdrv_cap_release(a, b), 0);
    assert_int_equal(mgr_hwmem_regions(f->mem), 0);
    assert_int_equal(capdrv_dmabuf_info(a, b, &again), -CAPDRV_ESTALE);
    capdrv_sys_close(a);
}

/* hwmem alone: sealed memfd, shared while live, detached at free. */
static void test_hwmem_seal_and_detach(void **state)
{
    struct fx *f = *state;
    struct mgr_hwmem *m;
    struct capdrv_hw hw;
    assert_int_equal(mgr_hwmem_wrap(capdrv_sim_hw(f->sim), &m, &hw), 0);
    struct capdrv_hw_dma mem;
    assert_int_equal(hw.ops->dma_alloc(hw.ctx, 4096, &mem), 0);
    int fd;
    size_t size;
    assert_int_equal(mgr_hwmem_lookup(m, mem.cpu, &fd, &size), 0);
    assert_int_equal(size, 4096);
    assert_int_equal(mgr_hwmem_lookup(m, (char *)mem.cpu + 4096, &fd, &size) < 0, 1);
    assert_int_equal(mgr_hwmem_lookup(m, mem.cpu, &fd, &size), 0);
    assert_int_equal(ftruncate(fd, 0), -1); /* F_SEAL_SHRINK */
    assert_int_equal(ftruncate(fd, 1 << 20), -1); /* F_SEAL_GROW */
    unsigned char *peer = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    assert_true(peer != MAP_FAILED);
    close(fd);
    peer[10] = 0x42; /* a provider's write lands in the manager's memory */
    assert_int_equal(((volatile unsigned char *)mem.cpu)[10], 0x42);
    hw.ops->dma_free(hw.ctx, &mem);
    assert_int_equal(mgr_hwmem_regions(m), 0);
    /* The next region (the platform may reuse the same address) has its
     * own memfd: the old holder's writes do not reach it. */
    struct capdrv_hw_dma mem2;
    assert_int_equal(hw.ops->dma_alloc(hw.ctx, 4096, &mem2), 0);
    unsigned char before = ((volatile unsigned char *)mem2.cpu)[12];
    peer[12] = (unsigned char)(before ^ 0xff);
    assert_int_equal(((volatile unsigned char *)mem2.cpu)[12], before);
    assert_int_equal(peer[10], 0x42); /* the holder keeps its orphaned copy */
    hw.ops->dma_free(hw.ctx, &mem2);
    munmap(peer, 4096);
    mgr_hwmem_free(m);
}

/* A platform with files of its own (hw.h dma_fd): the sim, whose dma_fd
 * answers with @own_fd (or refuses when it is -1). */
struct own_hw {
    struct capdrv_hw inner;
    struct capdrv_hw_ops ops;
    int own_fd;
};

static int own_dma_fd(void *ctx, const struct capdrv_hw_dma *mem, int *fd)
{
    (void)mem;
    struct own_hw *o = ctx;
    if (o->own_fd < 0)
        return -CAPDRV_ENOTSUP;
    *fd = fcntl(o->own_fd, F_DUPFD_CLOEXEC, 0);
    return 0;
}

static int own_dma_alloc(void *ctx, size_t size, struct capdrv_hw_dma *out)
{
    struct own_hw *o = ctx;
    return o->inner.ops->dma_alloc(o->inner.ctx, size, out);
}

static void own_dma_free(void *ctx, struct capdrv_hw_dma *mem)
{
    struct own_hw *o = ctx;
    o->inner.ops->dma_free(o->inner.ctx, mem);
}

/* hwmem over a platform that offers dma_fd: the platform's file is handed
 * out (never one of hwmem's), the region's memory is left alone at free,
 * and a platform that refuses makes the allocation fail (no fallback to
 * putting a memfd under memory the device reaches some other way). */
static void test_hwmem_platform_files(void **state)
{
    struct fx *f = *state;
    struct own_hw o = {.inner = capdrv_sim_hw(f->sim)};
    o.ops = *o.inner.ops;
    o.ops.dma_fd = own_dma_fd;
    o.ops.dma_alloc = own_dma_alloc; /* the ctx is ours: forward */
    o.ops.dma_free = own_dma_free;
    o.own_fd = memfd_create("platform-own", MFD_CLOEXEC);
    assert_true(o.own_fd >= 0);
    struct mgr_hwmem *m;
    struct capdrv_hw hw;
    assert_int_equal(mgr_hwmem_wrap((struct capdrv_hw){.ops = &o.ops, .ctx = &o}, &m, &hw), 0);
    struct capdrv_hw_dma mem;
    assert_int_equal(hw.ops->dma_alloc(hw.ctx, 4096, &mem), 0);
    memset(mem.cpu, 0x5e, 4096);
    int fd;
    size_t size;
    assert_int_equal(mgr_hwmem_lookup(m, mem.cpu, &fd, &size), 0);
    struct stat a, b;
    assert_int_equal(fstat(fd, &a), 0);
    assert_int_equal(fstat(o.own_fd, &b), 0);
    assert_true(a.st_ino == b.st_ino && a.st_dev == b.st_dev); /* the platform's own */
    close(fd);
    hw.ops->dma_free(hw.ctx, &mem);
    assert_int_equal(mgr_hwmem_regions(m), 0);
    close(o.own_fd);
    o.own_fd = -1; /* from now on the platform has no file to give */
    assert_int_equal(hw.ops->dma_alloc(hw.ctx, 4096, &mem), -CAPDRV_ENOTSUP);
    assert_int_equal(mgr_hwmem_regions(m), 0);
    mgr_hwmem_free(m);
}

/* Provider "conf" with grant "dev": window 0, a 4 KiB buffer, vector 0. */
struct dev_rig {
    capdrv_sys *a;
    capdrv_cap_t g, m, irq;
    struct capdrv_dmabuf_info bi;
};

static void dev_rig_open(struct fx *f, struct dev_rig *r)
{
    assert_int_equal(capdrv_remote_connect(f->path, "conf", &r->a), 0);
    int idx = capdrv_grant_find(r->a, "dev");
    assert_true(idx >= 0);
    capdrv_cap_t pool, b;
    assert_int_equal(capdrv_grant_open(r->a, (unsigned)idx, &r->g), 0);
    assert_int_equal(capdrv_mmio_open(r->a, r->g, 0, &r->m), 0);
    assert_int_equal(capdrv_pool_open(r->a, r->g, &pool), 0);
    assert_int_equal(capdrv_dma_alloc(r->a, pool, 4096, &b, &r->bi), 0);
    assert_int_equal(capdrv_irq_open(r->a, r->g, 0, &r->irq), 0);
}

/* A dmatest fill of the whole buffer with @pattern, @delay_ns of latency. */
static void dev_rig_fill(struct dev_rig *r, uint32_t pattern, uint32_t delay_ns)
{
    const struct { uint64_t off, val; unsigned width; } fill[] = {
        {CAPDRV_DMATEST_ADDR, capdrv_dma_ref(&r->bi, 0), 8}, {CAPDRV_DMATEST_LEN, 4096, 4},
        {CAPDRV_DMATEST_PATTERN, pattern, 4},               {CAPDRV_DMATEST_DELAY_NS, delay_ns, 4},
        {CAPDRV_DMATEST_CMD, CAPDRV_DMATEST_CMD_FILL, 4}};
    for (unsigned i = 0; i < sizeof fill / sizeof fill[0]; i++)
        assert_int_equal(capdrv_mmio_write(r->a, r->m, fill[i].off, fill[i].width, fill[i].val), 0);
}

/* The client's wait is a loop of slices (wire.h CDW_IRQ_WAIT_SLICE_NS)
 * that honours its own timeout and ends when the interrupt fires (the
 * sim's wait is simulated time: a fill of 500 ms latency is still in
 * flight after 100 ms). */
static void test_irq_wait_slices(void **state)
{
    struct fx *f = *state;
    struct dev_rig r;
    dev_rig_open(f, &r);
    capdrv_sys *a = r.a;
    capdrv_cap_t m = r.m, irq = r.irq;
    struct capdrv_dmabuf_info bi = r.bi;
    dev_rig_fill(&r, 0x5a5a5a5au, 500000000u); /* 500 ms of simulated latency */
    /* Through the client: 100 ms is ten slices, and the fill is not done. */
    uint64_t ready = 0;
    assert_int_equal(capdrv_irq_wait(a, &irq, 1, 100000000, &ready), -CAPDRV_ETIMEDOUT);
    uint64_t st = 0;
    assert_int_equal(capdrv_mmio_read(a, m, CAPDRV_DMATEST_STATUS, 4, &st), 0);
    assert_true(st & CAPDRV_DMATEST_STATUS_BUSY);
    /* Unbounded: slices until it fires. */
    assert_int_equal(capdrv_irq_wait(a, &irq, 1, -1, &ready), 1);
    assert_int_equal(ready, 1);
    assert_int_equal(((unsigned char *)bi.cpu)[4095], 0x5a);
    capdrv_sys_close(a);
}

/* recv() that retries on EINTR: blocking waits in this process were seen
 * to fail with EINTR under load (no signal handler is installed; most
 * likely io_uring's task-work notification for the server thread's ring),
 * and a socket with SO_RCVTIMEO reports that instead of restarting. */
static ssize_t recv_retry(int fd, void *buf, size_t len)
{
    ssize_t n;
    do
        n = recv(fd, buf, len, 0);
    while (n < 0 && errno == EINTR);
    return n;
}

static int raw_hello(const char *path, const char *name)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    unsigned char pkt[sizeof(struct cdw_hdr) + sizeof(struct cdw_hello)];
    struct cdw_hdr h;
    struct cdw_hello m = {0};
    snprintf(m.name, sizeof m.name, "%s", name);
    cdw_hdr_init(&h, CDW_HELLO, sizeof m, 1);
    memcpy(pkt, &h, sizeof h);
    memcpy(pkt + sizeof h, &m, sizeof m);
    assert_int_equal(send(fd, pkt, sizeof pkt, 0), (ssize_t)sizeof pkt);
    unsigned char in[64];
    ssize_t n = recv_retry(fd, in, sizeof in);
    if (n < 0)
        fail_msg("hello: recv: %s", strerror(errno));
    assert_int_equal(n, (ssize_t)(sizeof h + sizeof(struct cdw_r_hello)));
    struct cdw_r_hello r;
    memcpy(&r, in + sizeof h, sizeof r);
    assert_int_equal(r.rc, 0);
    return fd;
}

/* Interrupts as eventfds: a provider's waits happen in the provider (the
 * manager's status counts the eventfds handed out); a firing is pending
 * until acknowledged, a poll right after the acknowledgement sees nothing,
 * and a capability made stale under a waiter (its grant released) ends
 * the wait with -CAPDRV_ESTALE. */
static void test_irq_eventfds(void **state)
{
    struct fx *f = *state;
    struct dev_rig r;
    dev_rig_open(f, &r);
    capdrv_sys *a = r.a;
    capdrv_cap_t g = r.g, irq = r.irq;
    struct capdrv_dmabuf_info bi = r.bi;
    char text[4096];
    assert_true(capdrv_remote_status(f->path, text, sizeof text) > 0);
    assert_non_null(strstr(text, "provider name=conf "));
    assert_non_null(strstr(text, "irq_eventfds=1"));
    uint64_t ready = 0;
    assert_int_equal(capdrv_irq_wait(a, &irq, 1, 0, &ready), -CAPDRV_ETIMEDOUT);
    for (unsigned round = 0; round < 3; round++) {
        memset(bi.cpu, 0, 4096);
        dev_rig_fill(&r, 0x01010101u * (round + 1), 2000000u);
        assert_int_equal(capdrv_irq_wait(a, &irq, 1, -1, &ready), 1);
        assert_int_equal(ready, 1);
        assert_int_equal(((unsigned char *)bi.cpu)[4095], round + 1);
        /* pending until acknowledged, however often asked */
        assert_int_equal(capdrv_irq_wait(a, &irq, 1, 1000000, &ready), 1);
        assert_int_equal(capdrv_irq_ack(a, irq), 0);
        assert_int_equal(capdrv_irq_wait(a, &irq, 1, 0, &ready), -CAPDRV_ETIMEDOUT);
    }
    /* released: no longer tracked */
    assert_int_equal(capdrv_cap_release(a, irq), 0);
    assert_true(capdrv_remote_status(f->path, text, sizeof text) > 0);
    assert_non_null(strstr(text, "irq_eventfds=0"));
    /* stale under a waiter: the grant goes, and its vector with it */
    assert_int_equal(capdrv_irq_open(a, g, 0, &irq), 0);
    assert_int_equal(capdrv_cap_release(a, g), 0);
    assert_int_equal(capdrv_irq_wait(a, &irq, 1, 2000000000, &ready), -CAPDRV_ESTALE);
    capdrv_sys_close(a);
}

/* One raw request and its reply payload (at most @cap bytes). */
static ssize_t raw_rpc(int fd, uint16_t type, uint32_t seq, const void *q, size_t qlen, void *r,
                       size_t cap)
{
    unsigned char pkt[sizeof(struct cdw_hdr) + sizeof(struct cdw_irq_wait)], in[CDW_MSG_MAX];
    struct cdw_hdr h;
    cdw_hdr_init(&h, type, (uint32_t)qlen, seq);
    memcpy(pkt, &h, sizeof h);
    memcpy(pkt + sizeof h, q, qlen);
    assert_int_equal(send(fd, pkt, sizeof h + qlen, MSG_NOSIGNAL), (ssize_t)(sizeof h + qlen));
    ssize_t n = recv_retry(fd, in, sizeof in);
    assert_true(n >= (ssize_t)sizeof h);
    n -= (ssize_t)sizeof h;
    memcpy(r, in + sizeof h, (size_t)n < cap ? (size_t)n : cap);
    return n;
}

/* A hostile provider asks the manager to wait for an interrupt without
 * bound: the manager waits one slice (wire.h CDW_IRQ_WAIT_SLICE_NS) and
 * answers, since its loop serves every provider. On the sim (simulated
 * time) a fill of 500 ms latency is then still in flight; an unclamped
 * wait would have run the clock to it and reported the interrupt. */
static void test_irq_wait_clamped(void **state)
{
    struct fx *f = *state;
    int fd = raw_hello(f->path, "conf");
    struct cdw_r_cap rc;
    struct cdw_r_rc rr;
    struct cdw_r_val rv;
    struct cdw_r_grant_info info = {0};
    struct cdw_index gi = {.index = 0};
    for (;; gi.index++) { /* the grant named "dev" */
        assert_true(gi.index < 16);
        raw_rpc(fd, CDW_GRANT_INFO, 2 + gi.index, &gi, sizeof gi, &info, sizeof info);
        assert_int_equal(info.rc, 0);
        if (!strcmp(info.name, "dev"))
            break;
    }
    raw_rpc(fd, CDW_GRANT_OPEN, 20, &gi, sizeof gi, &rc, sizeof rc);
    assert_int_equal(rc.rc, 0);
    struct cdw_cap_idx ci = {.cap = rc.cap, .index = 0};
    struct cdw_cap gc = {rc.cap};
    raw_rpc(fd, CDW_MMIO_OPEN, 21, &ci, sizeof ci, &rc, sizeof rc);
    assert_int_equal(rc.rc, 0);
    uint64_t m = rc.cap;
    raw_rpc(fd, CDW_IRQ_OPEN, 22, &ci, sizeof ci, &rc, sizeof rc);
    assert_int_equal(rc.rc, 0);
    uint64_t irq = rc.cap;
    raw_rpc(fd, CDW_POOL_OPEN, 23, &gc, sizeof gc, &rc, sizeof rc);
    assert_int_equal(rc.rc, 0);
    struct cdw_alloc al = {.pool = rc.cap, .size = 4096};
    struct cdw_r_buf buf; /* its memfd is dropped with the control data */
    raw_rpc(fd, CDW_DMA_ALLOC, 24, &al, sizeof al, &buf, sizeof buf);
    assert_int_equal(buf.rc, 0);
    const struct { uint64_t off, val; unsigned width; } fill[] = {
        {CAPDRV_DMATEST_ADDR, buf.ref_base, 8},     {CAPDRV_DMATEST_LEN, 4096, 4},
        {CAPDRV_DMATEST_PATTERN, 0x5a5a5a5au, 4}, {CAPDRV_DMATEST_DELAY_NS, 500000000u, 4},
        {CAPDRV_DMATEST_CMD, CAPDRV_DMATEST_CMD_FILL, 4}};
    for (unsigned i = 0; i < sizeof fill / sizeof fill[0]; i++) {
        struct cdw_mmio_wr w = {.cap = m, .offset = fill[i].off, .val = fill[i].val,
                                .width = fill[i].width};
        raw_rpc(fd, CDW_MMIO_WRITE, 30 + i, &w, sizeof w, &rr, sizeof rr);
        assert_int_equal(rr.rc, 0);
    }
    struct cdw_irq_wait q = {.n = 1, .timeout_ns = -1, .irqs = {irq}};
    raw_rpc(fd, CDW_IRQ_WAIT, 40, &q, sizeof q, &rv, sizeof rv);
    assert_int_equal(rv.rc, -CAPDRV_ETIMEDOUT);
    q.timeout_ns = INT64_MAX;
    raw_rpc(fd, CDW_IRQ_WAIT, 41, &q, sizeof q, &rv, sizeof rv);
    assert_int_equal(rv.rc, -CAPDRV_ETIMEDOUT);
    struct cdw_mmio_rd r = {.cap = m, .offset = CAPDRV_DMATEST_STATUS, .width = 4};
    raw_rpc(fd, CDW_MMIO_READ, 42, &r, sizeof r, &rv, sizeof rv);
    assert_int_equal(rv.rc, 0);
    assert_true(rv.val & CAPDRV_DMATEST_STATUS_BUSY); /* 20 ms of 500 gone */
    close(fd);
}

/* A hostile provider: after a good hello, a deterministic stream of
 * packets with a valid header prefix and random type, length and payload
 * (and, half the time, a real handle of its own in the first field). The
 * manager answers or hangs up, never crashes or leaks: once every
 * connection is gone, nothing is claimed and no DMA memory is live. */
static void test_hostile_stream(void **state)
{
    struct fx *f = *state;
    uint64_t x = 0x9e3779b97f4a7c15ull; /* xorshift64: reproducible */
#define RND() (x ^= x << 13, x ^= x >> 7, x ^= x << 17, x)
    unsigned hangups = 0, answers = 0;
    int fd = raw_hello(f->path, "conf");
    capdrv_cap_t mine[8] = {0};
    unsigned n_mine = 0;
    for (unsigned i = 0; i < 3000; i++) {
        unsigned char pkt[700];
        for (size_t k = 0; k < sizeof pkt; k++)
            pkt[k] = (unsigned char)RND();
        uint16_t type = (uint16_t)(RND() % (CDW_TYPE_END + 2));
        size_t want = cdw_payload_size(type);
        size_t len = RND() % 4 ? want : RND() % 600; /* mostly the right size */
        if (type == CDW_BYE || type == CDW_HELLO)
            len = 600; /* keep the stream going: those two are refused */
        if (n_mine && RND() % 2 && len >= 8)
            memcpy(pkt + sizeof(struct cdw_hdr), &mine[RND() % n_mine], 8);
        if ((type == CDW_GRANT_OPEN || type == CDW_GRANT_INFO) && len >= 4)
            pkt[sizeof(struct cdw_hdr)] &= 7; /* real grant indexes, often */
        struct cdw_hdr h;
        cdw_hdr_init(&h, type, (uint32_t)len, i + 2);
        memcpy(pkt, &h, sizeof h);
        if (send(fd, pkt, sizeof h + len, MSG_NOSIGNAL) < 0)
            fail_msg("send: the manager hung up before the request");
        unsigned char in[CDW_MSG_MAX];
        ssize_t n = recv_retry(fd, in, sizeof in);
        assert_true(n >= 0); /* no timeout: an answer or a hang-up */
        if (n == 0) {
            hangups++;
            close(fd);
            fd = raw_hello(f->path, "conf"); /* the name is free again */
            n_mine = 0;
            continue;
        }
        answers++;
        struct cdw_hdr rh;
        assert_int_equal(cdw_check(in, (size_t)n, 1, &rh), 0);
        assert_int_equal(rh.seq, i + 2);
        struct cdw_r_cap rc;
        if ((type == CDW_GRANT_OPEN || type == CDW_MMIO_OPEN || type == CDW_POOL_OPEN ||
             type == CDW_IRQ_OPEN) && (size_t)n == sizeof rh + sizeof rc) {
            memcpy(&rc, in + sizeof rh, sizeof rc);
            if (rc.rc == 0 && n_mine < 8)
                mine[n_mine++] = rc.cap;
        }
    }
#undef RND
    close(fd);
    print_message("hostile stream: %u answers, %u hang-ups\n", answers, hangups);
    /* both kinds happened: the stream tested refusals and real calls */
    assert_true(hangups > 10);
    assert_true(answers > 100);
    for (int i = 0; i < 5000 && mgr_server_has_provider(f->srv, "conf"); i++)
        usleep(1000);
    assert_false(mgr_server_has_provider(f->srv, "conf"));
    struct capdrv_shim_stats st;
    assert_int_equal(capdrv_shim_stats(f->shim, &st), 0);
    assert_int_equal(st.grants_claimed, 0);
    assert_int_equal(st.dma_buffers, 0);
    assert_int_equal(mgr_hwmem_regions(f->mem), 0);
    capdrv_sys *a; /* and it still serves */
    assert_int_equal(capdrv_remote_connect(f->path, "conf", &a), 0);
    assert_true(capdrv_grant_count(a) > 0);
    capdrv_sys_close(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_credentials_rule, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dma_shared_then_detached, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hwmem_seal_and_detach, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hwmem_platform_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_irq_wait_slices, setup, teardown),
        cmocka_unit_test_setup_teardown(test_irq_wait_clamped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_irq_eventfds, setup_evfd, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_stream, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
