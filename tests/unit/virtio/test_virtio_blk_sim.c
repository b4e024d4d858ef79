/* The virtio-blk driver end to end: the library's transport and driver over
 * the in-process shim (with its virtio profile) and the sim's virtio-blk
 * device, in both DMA lanes, polling and with interrupts, plus the sim's
 * fault knobs. Every case ends with the DMA oracle clean and every
 * allocation of the hosted environment returned. The whole list runs twice:
 * over the sim's virtio-pci function, then over its virtio-mmio device
 * (VIRTIO 1.2 §4.2; the driver picks the transport from the grant). */
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

#if !defined(VBLK_MANIFEST) || !defined(VBLK_MMIO_MANIFEST)
#error "VBLK_MANIFEST and VBLK_MMIO_MANIFEST must name the compiled test manifests"
#endif

/* The transport of the current group (set by its setup): 0 PCI, 1 MMIO. */
static int g_mmio;
#define MMIO_BASE 0x0a000000u /* vblk_mmio_sim.dts */

#define F_INDIRECT (1ull << 28)
#define F_EVENT_IDX (1ull << 29)
#define DATA_LEN (256u * 1024u)

struct e2e {
    struct capdrv_env *env;
    struct capdrv_sim *sim;
    struct capdrv_shim *shim;
    capdrv_sys *sys;
    unsigned fn;
    capdrv_cap_t grant, pool, data;
    struct capdrv_dmabuf_info di;
    struct capdrv_virtio_blk *blk;
    struct capdrv_virtio_blk_info info;
    int irq;
    char why[256];
};

/* Machine, shim, provider, grant and pool; the device is not opened. */
static void e2e_machine(struct e2e *t, int iommu, const struct capdrv_sim_virtio_blk_config *bc)
{
    memset(t, 0, sizeof *t);
    struct capdrv_sim_config sc = {.iommu = iommu};
    assert_int_equal(capdrv_sim_create(&sc, &t->sim), 0);
    struct capdrv_pci_addr a = {0, 0, 4, 0};
    if (g_mmio)
        assert_int_equal(capdrv_sim_add_virtio_mmio_blk(t->sim, MMIO_BASE, bc, &t->fn), 0);
    else
        assert_int_equal(capdrv_sim_add_virtio_blk(t->sim, &a, bc, &t->fn), 0);
    t->env = capdrv_env_hosted_new(NULL);
    assert_non_null(t->env);
    size_t len;
    void *blob = test_slurp(g_mmio ? VBLK_MMIO_MANIFEST : VBLK_MANIFEST, &len);
    struct capdrv_shim_config c = {.env = t->env, .hw = capdrv_sim_hw(t->sim), .manifest = blob,
                                   .manifest_len = len};
    int rc = capdrv_shim_create(&c, &t->shim, t->why, sizeof t->why);
    free(blob);
    if (rc < 0)
        fail_msg("shim: %s (%s)", t->why, capdrv_strerror(rc));
    assert_int_equal(capdrv_shim_connect(t->shim, "blk", &t->sys), 0);
    int idx = capdrv_grant_find(t->sys, "vblk");
    assert_true(idx >= 0);
    assert_int_equal(capdrv_grant_open(t->sys, (unsigned)idx, &t->grant), 0);
    assert_int_equal(capdrv_pool_open(t->sys, t->grant, &t->pool), 0);
    assert_int_equal(capdrv_dma_alloc(t->sys, t->pool, DATA_LEN, &t->data, &t->di), 0);
}

static int e2e_open(struct e2e *t, unsigned queues, int irq)
{
    struct capdrv_virtio_blk_opts o = {.pool = t->pool, .num_queues = queues, .irq = irq};
    t->irq = irq;
    int rc = capdrv_virtio_blk_open(t->sys, t->grant, &o, &t->blk, t->why, sizeof t->why);
    if (rc == 0)
        assert_int_equal(capdrv_virtio_blk_info(t->blk, &t->info), 0);
    return rc;
}

static void e2e_up(struct e2e *t, int iommu, unsigned queues, int irq)
{
    struct capdrv_sim_virtio_blk_config bc = {.num_queues = queues};
    e2e_machine(t, iommu, &bc);
    int rc = e2e_open(t, queues, irq);
    if (rc < 0)
        fail_msg("open: %s (%s)", t->why, capdrv_strerror(rc));
}

static void e2e_done(struct e2e *t)
{
    capdrv_virtio_blk_close(t->blk);
    assert_int_equal(capdrv_cap_release(t->sys, t->grant), 0);
    capdrv_sys_close(t->sys);
    assert_int_equal(capdrv_sim_oracle_violations(t->sim), 0);
    capdrv_shim_destroy(t->shim);
    assert_int_equal(capdrv_env_hosted_live_allocs(t->env), 0);
    capdrv_env_hosted_free(t->env);
    struct capdrv_sim_dma_stats st;
    assert_int_equal(capdrv_sim_dma_stats(t->sim, &st), 0);
    assert_int_equal(st.regions, 0);
    capdrv_sim_destroy(t->sim);
}

/* Reap @n completions of queue @q (waiting on the interrupt when opened
 * with one, else letting simulated time pass), bounded. */
static void collect(struct e2e *t, unsigned q, struct capdrv_virtio_blk_done *d, unsigned n)
{
    unsigned got = 0;
    for (unsigned spin = 0; got < n; spin++) {
        assert_true(spin < 100000);
        int rc = capdrv_virtio_blk_reap(t->blk, q, d + got, n - got);
        assert_true(rc >= 0);
        got += (unsigned)rc;
        if (rc == 0 && got < n) {
            if (t->irq)
                assert_int_equal(capdrv_virtio_blk_wait(t->blk, q, 1000000000), 1);
            else
                capdrv_sim_advance(t->sim, 1000);
        }
    }
}

static int run_one(struct e2e *t, unsigned q, struct capdrv_virtio_blk_req *r, uint32_t *len)
{
    assert_int_equal(capdrv_virtio_blk_submit(t->blk, q, r, 1), 1);
    struct capdrv_virtio_blk_done d;
    collect(t, q, &d, 1);
    assert_ptr_equal(d.cookie, r->cookie);
    if (len)
        *len = d.len;
    return d.status;
}

/* Write a pattern with qd 8 in 16 KiB requests (4 segments each) over
 * every queue, read it back into the second half, compare with the buffer
 * and the backing store. */
static void roundtrip(struct e2e *t, uint64_t sector0)
{
    uint8_t *p = t->di.cpu;
    const size_t half = DATA_LEN / 2, bs = 16384;
    for (size_t i = 0; i < half; i++)
        p[i] = (uint8_t)(i * 37u + (i >> 12) + sector0);
    memset(p + half, 0, half);
    for (int pass = 0; pass < 2; pass++) {
        uint32_t type = pass ? CAPDRV_VIRTIO_BLK_T_IN : CAPDRV_VIRTIO_BLK_T_OUT;
        size_t base = pass ? half : 0;
        struct capdrv_virtq_seg seg[8][4];
        struct capdrv_virtio_blk_req r[8];
        struct capdrv_virtio_blk_done d[8];
        for (size_t off = 0; off < half; off += 8 * bs) {
            unsigned q = (unsigned)(off / (8 * bs)) % t->info.num_queues;
            for (unsigned k = 0; k < 8; k++) {
                for (unsigned s = 0; s < 4; s++)
                    seg[k][s] = (struct capdrv_virtq_seg){
                        capdrv_dma_ref(&t->di, base + off + k * bs + s * 4096u), 4096};
                r[k] = (struct capdrv_virtio_blk_req){
                    .type = type, .sector = sector0 + (off + k * bs) / 512, .segs = seg[k],
                    .n_segs = 4, .cookie = &r[k]};
            }
            assert_int_equal(capdrv_virtio_blk_submit(t->blk, q, r, 8), 8);
            collect(t, q, d, 8);
            for (unsigned k = 0; k < 8; k++) {
                assert_int_equal(d[k].status, 0);
                assert_int_equal(d[k].len, pass ? bs : 0);
            }
        }
    }
    assert_memory_equal(p + half, p, half);
    uint8_t *store = malloc(half);
    assert_non_null(store);
    assert_int_equal(capdrv_sim_virtio_blk_data(t->sim, t->fn, sector0 * 512, store, half, false), 0);
    assert_memory_equal(store, p, half);
    free(store);
}

static void lane_case(int iommu, int irq)
{
    struct e2e t;
    e2e_up(&t, iommu, 1, irq);
    assert_int_equal(t.info.lane, iommu ? CAPDRV_LANE_DIRECT : CAPDRV_LANE_BROKERED);
    /* The shim hides EVENT_IDX and INDIRECT in the brokered lane; the
     * driver negotiates what it reads. */
    assert_int_equal(!!(t.info.features & F_EVENT_IDX), iommu);
    assert_int_equal(!!(t.info.features & F_INDIRECT), iommu);
    assert_int_equal(t.info.capacity, 2048);
    roundtrip(&t, 64);
    e2e_done(&t);
}

static void t_brokered_poll(void **s) { (void)s; lane_case(0, 0); }
static void t_brokered_irq(void **s) { (void)s; lane_case(0, 1); }
static void t_direct_poll(void **s) { (void)s; lane_case(1, 0); }
static void t_direct_irq(void **s) { (void)s; lane_case(1, 1); }

static void t_multiqueue(void **state)
{
    (void)state;
    struct e2e t;
    e2e_up(&t, 1, 2, 1);
    assert_int_equal(t.info.num_queues, 2);
    roundtrip(&t, 0);
    e2e_done(&t);
}

/* The device completes 10 us after the doorbell: the interrupt path really
 * waits (the sim runs the event inside irq_wait). */
static void t_delayed_irq(void **state)
{
    (void)state;
    for (int iommu = 0; iommu < 2; iommu++) {
        struct e2e t;
        e2e_up(&t, iommu, 1, 1);
        assert_int_equal(capdrv_sim_virtio_set_fault(t.sim, t.fn, CAPDRV_SIM_VIRTIO_FAULT_DELAY), 0);
        uint64_t t0 = capdrv_sim_now(t.sim);
        roundtrip(&t, 200);
        assert_true(capdrv_sim_now(t.sim) > t0);
        e2e_done(&t);
    }
}

static void t_commands(void **state)
{
    (void)state;
    struct e2e t;
    e2e_up(&t, 0, 1, 1);
    uint8_t ones[4096];
    memset(ones, 0xff, sizeof ones);
    for (unsigned i = 0; i < 8; i++)
        assert_int_equal(capdrv_sim_virtio_blk_data(t.sim, t.fn, 4096u * i, ones, 4096, true), 0);
    struct capdrv_virtq_seg s = {capdrv_dma_ref(&t.di, 0), CAPDRV_VIRTIO_BLK_ID_BYTES};
    struct capdrv_virtio_blk_req r = {.type = CAPDRV_VIRTIO_BLK_T_GET_ID, .segs = &s, .n_segs = 1,
                                      .cookie = &r};
    uint32_t len;
    assert_int_equal(run_one(&t, 0, &r, &len), 0);
    assert_int_equal(len, CAPDRV_VIRTIO_BLK_ID_BYTES);
    assert_string_equal((const char *)t.di.cpu, CAPDRV_SIM_VIRTIO_BLK_SERIAL);
    r = (struct capdrv_virtio_blk_req){.type = CAPDRV_VIRTIO_BLK_T_FLUSH, .cookie = &r};
    assert_int_equal(run_one(&t, 0, &r, NULL), 0);
    r = (struct capdrv_virtio_blk_req){.type = CAPDRV_VIRTIO_BLK_T_WRITE_ZEROES, .sector = 8,
                                       .num_sectors = 8, .flags = CAPDRV_VIRTIO_BLK_WZ_UNMAP,
                                       .cookie = &r};
    assert_int_equal(run_one(&t, 0, &r, NULL), 0);
    r.type = CAPDRV_VIRTIO_BLK_T_DISCARD;
    r.sector = 32;
    r.flags = 0;
    assert_int_equal(run_one(&t, 0, &r, NULL), 0);
    uint8_t disk[48 * 512];
    assert_int_equal(capdrv_sim_virtio_blk_data(t.sim, t.fn, 0, disk, sizeof disk, false), 0);
    assert_int_equal(disk[8 * 512 - 1], 0xff);
    assert_int_equal(disk[8 * 512], 0);
    assert_int_equal(disk[16 * 512 - 1], 0);
    assert_int_equal(disk[16 * 512], 0xff);
    assert_int_equal(disk[32 * 512], 0); /* the sim zeroes discarded ranges */
    e2e_done(&t);
}

static void t_io_error(void **state)
{
    (void)state;
    struct e2e t;
    e2e_up(&t, 1, 1, 0);
    assert_int_equal(capdrv_sim_virtio_set_fault(t.sim, t.fn, CAPDRV_SIM_VIRTIO_FAULT_IOERR), 0);
    struct capdrv_virtq_seg s = {capdrv_dma_ref(&t.di, 0), 4096};
    struct capdrv_virtio_blk_req r = {.type = CAPDRV_VIRTIO_BLK_T_IN, .segs = &s, .n_segs = 1,
                                      .cookie = &r};
    assert_int_equal(run_one(&t, 0, &r, NULL), -CAPDRV_EIO);
    assert_int_equal(capdrv_sim_virtio_set_fault(t.sim, t.fn, CAPDRV_SIM_VIRTIO_FAULT_NONE), 0);
    assert_int_equal(run_one(&t, 0, &r, NULL), 0); /* the queue is still healthy */
    e2e_done(&t);
}

/* Hostile completions break the queue with -CAPDRV_EPROTO; closing still
 * resets the device and frees everything. */
static void broken(int iommu, enum capdrv_sim_virtio_fault fault)
{
    struct e2e t;
    e2e_up(&t, iommu, 1, 0);
    assert_int_equal(capdrv_sim_virtio_set_fault(t.sim, t.fn, fault), 0);
    struct capdrv_virtq_seg s = {capdrv_dma_ref(&t.di, 0), 4096};
    struct capdrv_virtio_blk_req r[2] = {
        {.type = CAPDRV_VIRTIO_BLK_T_IN, .segs = &s, .n_segs = 1, .cookie = &r[0]},
        {.type = CAPDRV_VIRTIO_BLK_T_IN, .segs = &s, .n_segs = 1, .cookie = &r[1]}};
    assert_int_equal(capdrv_virtio_blk_submit(t.blk, 0, r, 2), 2);
    struct capdrv_virtio_blk_done d[4];
    int rc = capdrv_virtio_blk_reap(t.blk, 0, d, 4);
    if (rc >= 0) /* completions before the fault came first */
        rc = capdrv_virtio_blk_reap(t.blk, 0, d, 4);
    assert_int_equal(rc, -CAPDRV_EPROTO);
    assert_int_equal(capdrv_virtio_blk_submit(t.blk, 0, r, 1), -CAPDRV_EPROTO);
    e2e_done(&t);
}

static void t_used_id_range(void **s) { (void)s; broken(0, CAPDRV_SIM_VIRTIO_FAULT_USED_ID_RANGE); }
static void t_used_len(void **s) { (void)s; broken(1, CAPDRV_SIM_VIRTIO_FAULT_USED_LEN); }
static void t_double(void **s) { (void)s; broken(0, CAPDRV_SIM_VIRTIO_FAULT_DOUBLE); }

static void t_reorder(void **state)
{
    (void)state;
    struct e2e t;
    e2e_up(&t, 1, 1, 0);
    assert_int_equal(capdrv_sim_virtio_set_fault(t.sim, t.fn, CAPDRV_SIM_VIRTIO_FAULT_REORDER), 0);
    roundtrip(&t, 300); /* completions out of order are still matched by cookie */
    e2e_done(&t);
}

static void t_needs_reset(void **state)
{
    (void)state;
    struct e2e t;
    e2e_up(&t, 0, 1, 1);
    assert_int_equal(capdrv_sim_virtio_set_fault(t.sim, t.fn, CAPDRV_SIM_VIRTIO_FAULT_NEEDS_RESET), 0);
    struct capdrv_virtq_seg s = {capdrv_dma_ref(&t.di, 0), 4096};
    struct capdrv_virtio_blk_req r = {.type = CAPDRV_VIRTIO_BLK_T_OUT, .segs = &s, .n_segs = 1,
                                      .cookie = &r};
    assert_int_equal(capdrv_virtio_blk_submit(t.blk, 0, &r, 1), 1);
    /* Nothing completes; the configuration interrupt reports the state. */
    assert_int_equal(capdrv_virtio_blk_wait(t.blk, 0, 1000000000), -CAPDRV_EIO);
    assert_int_equal(capdrv_virtio_blk_check(t.blk), -CAPDRV_EIO);
    assert_int_equal(capdrv_virtio_blk_inflight(t.blk, 0), 1);
    assert_int_equal(capdrv_sim_virtio_set_fault(t.sim, t.fn, CAPDRV_SIM_VIRTIO_FAULT_NONE), 0);
    /* Close (reset) and open again: the device works. */
    capdrv_virtio_blk_close(t.blk);
    t.blk = NULL;
    assert_int_equal(e2e_open(&t, 1, 1), 0);
    roundtrip(&t, 0);
    e2e_done(&t);
}

static void t_features_refused(void **state)
{
    (void)state;
    /* A device without FLUSH, DISCARD, WRITE_ZEROES: those requests are
     * refused before they reach it. */
    struct e2e t;
    struct capdrv_sim_virtio_blk_config bc = {
        .features_clear = (1ull << CAPDRV_VIRTIO_BLK_F_FLUSH) |
                          (1ull << CAPDRV_VIRTIO_BLK_F_DISCARD) |
                          (1ull << CAPDRV_VIRTIO_BLK_F_WRITE_ZEROES)};
    e2e_machine(&t, 1, &bc);
    assert_int_equal(e2e_open(&t, 1, 0), 0);
    struct capdrv_virtio_blk_req r = {.type = CAPDRV_VIRTIO_BLK_T_FLUSH};
    assert_int_equal(capdrv_virtio_blk_submit(t.blk, 0, &r, 1), -CAPDRV_ENOTSUP);
    r = (struct capdrv_virtio_blk_req){.type = CAPDRV_VIRTIO_BLK_T_DISCARD, .num_sectors = 1};
    assert_int_equal(capdrv_virtio_blk_submit(t.blk, 0, &r, 1), -CAPDRV_ENOTSUP);
    e2e_done(&t);
}

static void t_pool_too_small(void **state)
{
    (void)state;
    /* Queue memory beyond the pool quota: open fails cleanly and the pool
     * still serves the caller. */
    struct e2e t;
    struct capdrv_sim_virtio_blk_config bc = {.queue_size_max = 1024};
    e2e_machine(&t, 1, &bc);
    capdrv_cap_t big;
    struct capdrv_dmabuf_info bi;
    assert_int_equal(capdrv_dma_alloc(t.sys, t.pool, (16u << 20) - DATA_LEN - 4096, &big, &bi), 0);
    struct capdrv_virtio_blk_opts o = {.pool = t.pool, .queue_size = 1024};
    assert_int_equal(capdrv_virtio_blk_open(t.sys, t.grant, &o, &t.blk, t.why, sizeof t.why),
                     -CAPDRV_ENOSPC);
    assert_null(t.blk);
    assert_non_null(strstr(t.why, "DMA memory"));
    assert_int_equal(capdrv_cap_release(t.sys, big), 0);
    assert_int_equal(e2e_open(&t, 1, 0), 0);
    e2e_done(&t);
}

static int on_pci(void **state)
{
    (void)state;
    g_mmio = 0;
    return 0;
}

static int on_mmio(void **state)
{
    (void)state;
    g_mmio = 1;
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_brokered_poll), cmocka_unit_test(t_brokered_irq),
        cmocka_unit_test(t_direct_poll),   cmocka_unit_test(t_direct_irq),
        cmocka_unit_test(t_multiqueue),    cmocka_unit_test(t_delayed_irq),
        cmocka_unit_test(t_commands),      cmocka_unit_test(t_io_error),
        cmocka_unit_test(t_used_id_range), cmocka_unit_test(t_used_len),
        cmocka_unit_test(t_double),        cmocka_unit_test(t_reorder),
        cmocka_unit_test(t_needs_reset),   cmocka_unit_test(t_features_refused),
        cmocka_unit_test(t_pool_too_small),
    };
    int failed = cmocka_run_group_tests_name("virtio-pci", tests, on_pci, NULL);
    return failed + cmocka_run_group_tests_name("virtio-mmio", tests, on_mmio, NULL);
}
