/* The virtqueue hot path allocates nothing: every heap call of the process
 * (the library, the in-process shim, the sim and the hosted environment
 * alike, since all are linked statically into this test) goes through
 * counting wrappers (the linker's --wrap, see CMakeLists.txt), and the
 * count must not move while
 *
 * - a split virtqueue (capdrv/virtq.h) adds, publishes, decides on
 *   notifications, is served by the reference device of vq_test.c, reaps,
 *   re-arms and audits, over many ring wraps, direct and indirect chains;
 * - a virtio-blk handle (capdrv/virtio_blk.h) submits batches and polls
 *   (or waits on its interrupt) for their completions over the shim and the
 *   sim's virtio-blk, in both DMA lanes;
 * - a virtio-net pair (capdrv/virtio_net.h) sends, reaps, receives and
 *   releases frames over the sim.
 *
 * Memory is allocated up front by the open calls (capdrv/virtq.h: "The
 * library allocates nothing"; the drivers allocate per queue at open).
 * t_counter_sees_library proves the wrappers see the library's own calls,
 * so a zero is not vacuous. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_slurp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <capdrv/shim.h>
#include <capdrv/sim.h>
#include <capdrv/virtio_blk.h>
#include <capdrv/virtio_net.h>
#include <capdrv/virtq.h>

#include "vq_test.h"

#if !defined(VBLK_MANIFEST) || !defined(VNET_MANIFEST)
#error "VBLK_MANIFEST and VNET_MANIFEST must name the compiled test manifests"
#endif

/* ---- Counting wrappers (-Wl,--wrap=...) ---------------------------------- */

/* Test-only counters: this executable's one thread. */
static unsigned long g_heap_calls;

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
int __real_posix_memalign(void **p, size_t align, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);
int __wrap_posix_memalign(void **p, size_t align, size_t n);
void *__wrap_aligned_alloc(size_t align, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

void *__wrap_malloc(size_t n)
{
    g_heap_calls++;
    return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    g_heap_calls++;
    return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    g_heap_calls++;
    return __real_realloc(p, n);
}

void __wrap_free(void *p)
{
    if (p) /* free(NULL) is no heap work */
        g_heap_calls++;
    __real_free(p);
}

int __wrap_posix_memalign(void **p, size_t align, size_t n)
{
    g_heap_calls++;
    return __real_posix_memalign(p, align, n);
}

void *__wrap_aligned_alloc(size_t align, size_t n)
{
    g_heap_calls++;
    return __real_aligned_alloc(align, n);
}

char *__wrap_strdup(const char *s)
{
    g_heap_calls++;
    return __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
    g_heap_calls++;
    return __real_strndup(s, n);
}

/* ---- The mechanism itself ------------------------------------------------ */

static void t_counter_sees_library(void **state)
{
    (void)state;
    /* capdrv_env_hosted_new() calloc()s inside libcapdrv: the wrappers
     * must see it, and its free. */
    unsigned long before = g_heap_calls;
    struct capdrv_env *env = capdrv_env_hosted_new(NULL);
    assert_non_null(env);
    assert_true(g_heap_calls > before);
    before = g_heap_calls;
    capdrv_env_hosted_free(env);
    assert_true(g_heap_calls > before);
}

/* ---- Split virtqueue ----------------------------------------------------- */

static void virtq_loop(unsigned flags, unsigned indirect_max)
{
    struct vq_fix f;
    vq_fix_init(&f, 64, flags, indirect_max);
    f.dev.auto_avail_event = 1;
    static struct vq_dev_req r; /* large; not on the stack */
    struct capdrv_virtq_completion c[16];
    unsigned long before = g_heap_calls;
    uint64_t n = 0;
    for (unsigned round = 0; round < 2000; round++) {
        /* A batch of 1..8 requests of 1..3 segments: direct, indirect
         * (when negotiated), readable and writable parts. */
        unsigned batch = 1u + round % 8u;
        for (unsigned k = 0; k < batch; k++, n++) {
            unsigned nseg = 1u + (unsigned)(n % 3u);
            struct capdrv_virtq_seg seg[3];
            for (unsigned s = 0; s < nseg; s++)
                seg[s] = (struct capdrv_virtq_seg){VQ_DATA_REF + n * 4096u + s * 512u, 512};
            unsigned n_out = nseg > 1 ? 1 : (unsigned)(n & 1u);
            assert_int_equal(capdrv_virtq_add(&f.vq, seg, n_out, nseg - n_out, VQ_COOKIE(n)), 0);
        }
        assert_int_equal(capdrv_virtq_publish(&f.vq), (int)batch);
        assert_true(capdrv_virtq_needs_notify(&f.vq) >= 0);
        while (vq_dev_pop(&f.dev, &r))
            vq_dev_complete(&f.dev, r.head, (uint32_t)(r.wbytes < 100 ? r.wbytes : 100));
        vq_dev_flush(&f.dev);
        unsigned got = 0;
        while (got < batch) {
            int k = capdrv_virtq_reap(&f.vq, c, 16);
            assert_true(k > 0);
            got += (unsigned)k;
        }
        assert_int_equal(capdrv_virtq_enable_cb(&f.vq), 0);
        assert_int_equal(capdrv_virtq_disable_cb(&f.vq), 0);
        if (round % 64u == 0)
            assert_int_equal(capdrv_virtq_verify(&f.vq), 0);
    }
    /* Taking back what the device holds after a reset allocates nothing
     * either. */
    struct capdrv_virtq_seg seg = {VQ_DATA_REF, 64};
    assert_int_equal(capdrv_virtq_add(&f.vq, &seg, 1, 0, VQ_COOKIE(0)), 0);
    assert_int_equal(capdrv_virtq_publish(&f.vq), 1);
    assert_int_equal(capdrv_virtq_detach(&f.vq, c, 16), 1);
    assert_int_equal(g_heap_calls - before, 0);
    vq_fix_free(&f);
}

static void t_virtq(void **state)
{
    (void)state;
    virtq_loop(0, 0);
    virtq_loop(CAPDRV_VIRTQ_F_EVENT_IDX | CAPDRV_VIRTQ_F_INDIRECT, 4);
}

/* ---- Over the shim and the sim --------------------------------------------- */

struct machine {
    struct capdrv_env *env;
    struct capdrv_sim *sim;
    struct capdrv_shim *shim;
    capdrv_sys *sys;
    unsigned fn[2];
    char why[256];
};

static void machine_up(struct machine *m, int iommu, int net, const char *provider)
{
    memset(m, 0, sizeof *m);
    struct capdrv_sim_config sc = {.iommu = iommu};
    assert_int_equal(capdrv_sim_create(&sc, &m->sim), 0);
    for (unsigned i = 0; i < (net ? 2u : 1u); i++) {
        struct capdrv_pci_addr a = {0, 0, (uint8_t)(4 + i), 0};
        if (net)
            assert_int_equal(capdrv_sim_add_virtio_net(m->sim, &a, NULL, &m->fn[i]), 0);
        else
            assert_int_equal(capdrv_sim_add_virtio_blk(m->sim, &a, NULL, &m->fn[i]), 0);
    }
    if (net)
        assert_int_equal(capdrv_sim_virtio_net_connect(m->sim, m->fn[0], m->fn[1]), 0);
    m->env = capdrv_env_hosted_new(NULL);
    assert_non_null(m->env);
    size_t len;
    void *blob = test_slurp(net ? VNET_MANIFEST : VBLK_MANIFEST, &len);
    struct capdrv_shim_config c = {.env = m->env, .hw = capdrv_sim_hw(m->sim), .manifest = blob,
                                   .manifest_len = len};
    int rc = capdrv_shim_create(&c, &m->shim, m->why, sizeof m->why);
    free(blob);
    if (rc < 0)
        fail_msg("shim: %s (%s)", m->why, capdrv_strerror(rc));
    assert_int_equal(capdrv_shim_connect(m->shim, provider, &m->sys), 0);
}

static void machine_down(struct machine *m)
{
    capdrv_sys_close(m->sys);
    assert_int_equal(capdrv_sim_oracle_violations(m->sim), 0);
    capdrv_shim_destroy(m->shim);
    assert_int_equal(capdrv_env_hosted_live_allocs(m->env), 0);
    capdrv_env_hosted_free(m->env);
    capdrv_sim_destroy(m->sim);
}

static void open_grant(struct machine *m, const char *name, capdrv_cap_t *grant, capdrv_cap_t *pool)
{
    int idx = capdrv_grant_find(m->sys, name);
    assert_true(idx >= 0);
    assert_int_equal(capdrv_grant_open(m->sys, (unsigned)idx, grant), 0);
    assert_int_equal(capdrv_pool_open(m->sys, *grant, pool), 0);
}

/* Batches of 8 requests (4 KiB writes, then reads of the same sectors,
 * three segments each, and a flush), submitted and polled (or waited for)
 * to completion, over more ring wraps than the queue has entries. */
static void blk_case(int iommu, int irq)
{
    struct machine m;
    machine_up(&m, iommu, 0, "blk");
    capdrv_cap_t grant, pool, data;
    struct capdrv_dmabuf_info di;
    open_grant(&m, "vblk", &grant, &pool);
    assert_int_equal(capdrv_dma_alloc(m.sys, pool, 8 * 4096, &data, &di), 0);
    struct capdrv_virtio_blk_opts o = {.pool = pool, .queue_size = 64, .irq = irq};
    struct capdrv_virtio_blk *blk;
    int rc = capdrv_virtio_blk_open(m.sys, grant, &o, &blk, m.why, sizeof m.why);
    if (rc < 0)
        fail_msg("open: %s (%s)", m.why, capdrv_strerror(rc));
    struct capdrv_virtq_seg seg[8][3];
    struct capdrv_virtio_blk_req r[9];
    struct capdrv_virtio_blk_done d[9];
    for (unsigned k = 0; k < 8; k++) {
        seg[k][0] = (struct capdrv_virtq_seg){capdrv_dma_ref(&di, k * 4096u), 1024};
        seg[k][1] = (struct capdrv_virtq_seg){capdrv_dma_ref(&di, k * 4096u + 1024u), 2048};
        seg[k][2] = (struct capdrv_virtq_seg){capdrv_dma_ref(&di, k * 4096u + 3072u), 1024};
    }
    unsigned long before = 0;
    for (unsigned round = 0; round < 201; round++) {
        /* Round 0 is a warm-up: anything done once per queue is done. */
        if (round == 1)
            before = g_heap_calls;
        unsigned n = 8;
        for (unsigned k = 0; k < 8; k++)
            r[k] = (struct capdrv_virtio_blk_req){
                .type = round & 1u ? CAPDRV_VIRTIO_BLK_T_IN : CAPDRV_VIRTIO_BLK_T_OUT,
                .sector = (round % 16u) * 64u + k * 8u, .segs = seg[k], .n_segs = 3,
                .cookie = &r[k]};
        if (round % 4u == 3u)
            r[n++] = (struct capdrv_virtio_blk_req){.type = CAPDRV_VIRTIO_BLK_T_FLUSH,
                                                    .cookie = &r[8]};
        assert_int_equal(capdrv_virtio_blk_submit(blk, 0, r, n), (int)n);
        unsigned got = 0;
        for (unsigned spin = 0; got < n; spin++) {
            assert_true(spin < 1000);
            rc = capdrv_virtio_blk_reap(blk, 0, d + got, n - got);
            assert_true(rc >= 0);
            got += (unsigned)rc;
            if (rc == 0 && got < n) {
                if (irq)
                    assert_int_equal(capdrv_virtio_blk_wait(blk, 0, 1000000000), 1);
                else
                    capdrv_sim_advance(m.sim, 1000);
            }
        }
        for (unsigned k = 0; k < n; k++)
            assert_int_equal(d[k].status, 0);
    }
    unsigned long calls = g_heap_calls - before;
    capdrv_virtio_blk_close(blk);
    assert_int_equal(capdrv_cap_release(m.sys, grant), 0);
    machine_down(&m);
    if (calls)
        fail_msg("%lu heap calls in 200 rounds of virtio-blk submit/poll", calls);
}

static void t_blk_brokered_poll(void **s) { (void)s; blk_case(0, 0); }
static void t_blk_direct_poll(void **s) { (void)s; blk_case(1, 0); }
static void t_blk_brokered_irq(void **s) { (void)s; blk_case(0, 1); }
static void t_blk_direct_irq(void **s) { (void)s; blk_case(1, 1); }

/* Frames both ways between a connected pair: send, reap, receive, release
 * (which reposts), over several ring wraps. */
static void net_case(int iommu)
{
    struct machine m;
    machine_up(&m, iommu, 1, "net");
    struct capdrv_virtio_net *net[2];
    capdrv_cap_t grant[2], pool[2], data[2];
    struct capdrv_dmabuf_info di[2];
    for (unsigned i = 0; i < 2; i++) {
        char name[8];
        snprintf(name, sizeof name, "vnet%u", i);
        open_grant(&m, name, &grant[i], &pool[i]);
        assert_int_equal(capdrv_dma_alloc(m.sys, pool[i], 8 * 2048, &data[i], &di[i]), 0);
        struct capdrv_virtio_net_opts o = {.pool = pool[i], .queue_size = 32};
        int rc = capdrv_virtio_net_open(m.sys, grant[i], &o, &net[i], m.why, sizeof m.why);
        if (rc < 0)
            fail_msg("open %s: %s (%s)", name, m.why, capdrv_strerror(rc));
        for (unsigned k = 0; k < 8; k++) /* broadcast destination and source */
            memset((uint8_t *)di[i].cpu + k * 2048u, 0xff, 12);
    }
    struct capdrv_virtq_seg seg[8];
    struct capdrv_virtio_net_tx tx[8];
    struct capdrv_virtio_net_tx_done d[8];
    struct capdrv_virtio_net_rx rx[8];
    uint32_t h[8];
    unsigned long before = 0;
    for (unsigned round = 0; round < 101; round++) {
        if (round == 1)
            before = g_heap_calls;
        unsigned from = round & 1u, to = 1u - from;
        for (unsigned k = 0; k < 8; k++) {
            seg[k] = (struct capdrv_virtq_seg){capdrv_dma_ref(&di[from], k * 2048u),
                                               60u + (round * 8u + k) % 1400u};
            tx[k] = (struct capdrv_virtio_net_tx){.segs = &seg[k], .n_segs = 1, .cookie = &tx[k]};
        }
        unsigned sent = 0, reaped = 0, got = 0;
        for (unsigned spin = 0; reaped < 8 || got < 8; spin++) {
            assert_true(spin < 1000);
            if (sent < 8) {
                int rc = capdrv_virtio_net_send(net[from], tx + sent, 8 - sent);
                assert_true(rc >= 0);
                sent += (unsigned)rc;
            }
            int rc = capdrv_virtio_net_tx_reap(net[from], d, 8);
            assert_true(rc >= 0);
            reaped += (unsigned)rc;
            rc = capdrv_virtio_net_recv(net[to], rx, 8 - got);
            assert_true(rc >= 0);
            for (int k = 0; k < rc; k++)
                h[k] = rx[k].handle;
            if (rc > 0)
                assert_int_equal(capdrv_virtio_net_rx_release(net[to], h, (unsigned)rc), 0);
            got += (unsigned)rc;
            capdrv_sim_advance(m.sim, 1000);
        }
    }
    unsigned long calls = g_heap_calls - before;
    for (unsigned i = 0; i < 2; i++) {
        capdrv_virtio_net_close(net[i]);
        assert_int_equal(capdrv_cap_release(m.sys, grant[i]), 0);
    }
    machine_down(&m);
    if (calls)
        fail_msg("%lu heap calls in 100 rounds of virtio-net send/reap/recv/release", calls);
}

static void t_net_brokered(void **s) { (void)s; net_case(0); }
static void t_net_direct(void **s) { (void)s; net_case(1); }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_counter_sees_library),
        cmocka_unit_test(t_virtq),
        cmocka_unit_test(t_blk_brokered_poll),
        cmocka_unit_test(t_blk_direct_poll),
        cmocka_unit_test(t_blk_brokered_irq),
        cmocka_unit_test(t_blk_direct_irq),
        cmocka_unit_test(t_net_brokered),
        cmocka_unit_test(t_net_direct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
