/* NVMe controller bring-up and shutdown (src/nvme/ctrl.c, regs.c) against
 * the fake controller of fake_nvme.h: CAP/VS/CC/AQA programming, CAP.TO
 * bounded waits, CFS and surprise removal at every step, memory page size
 * selection, doorbell stride (NVMe Base 2.0 §3.5.1, §3.1.3, §3.6.1). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "fake_nvme.h"

static void t_open_defaults(void **state)
{
    (void)state;
    struct fn *f = fn_new(CAPDRV_LANE_BROKERED);
    struct capdrv_nvme_ctrl *c;
    char why[160] = "";
    assert_int_equal(fn_open(f, NULL, &c, why, sizeof why), 0);
    struct capdrv_nvme_ctrl_info in;
    assert_int_equal(capdrv_nvme_ctrl_info(c, &in), 0);
    assert_int_equal(in.mqes, 1024);
    assert_true(in.cqr);
    assert_int_equal(in.dstrd, 0);
    assert_int_equal(in.to_ms, 1000);
    assert_int_equal(in.page_size, 4096);
    assert_int_equal(in.mps_min, 4096);
    assert_int_equal(in.mps_max, 65536);
    assert_int_equal(in.vs, 0x00020000u);
    assert_int_equal(in.mdts_bytes, 128 * 1024);
    assert_int_equal(in.admin_depth, 32);
    assert_int_equal(in.io_queues, 1);
    assert_int_equal(in.aer_slots, 4);
    assert_false(in.sgl);
    assert_int_equal(in.oncs, 0x0c);
    assert_int_equal(in.nn, 1);
    assert_int_equal(in.vid, 0x1b36);
    assert_int_equal(in.cntlid, 1);
    assert_string_equal(in.sn, "FAKE-0001");
    assert_string_equal(in.mn, "capdrv fake NVMe");
    assert_string_equal(in.fr, "fake1.0");
    assert_int_equal(in.lane, CAPDRV_LANE_BROKERED);
    assert_int_equal(in.n_vectors, 1);
    assert_false(in.shadow_doorbells);
    const struct capdrv_nvme_id_ctrl *id = capdrv_nvme_ctrl_id(c);
    assert_non_null(id);
    assert_int_equal(id->mdts, 5);
    assert_int_equal(id->sqes, 0x66);
    assert_int_equal(id->psd[0].mp, 2500);
    assert_memory_equal(id->subnqn, "nqn.2024-01.org.capdrv:fake", 27);
    /* CC (§3.1.3.5): EN, CSS 0, MPS 0, AMS 0, IOSQES 6, IOCQES 4. */
    assert_int_equal(f->cc, 1u | 6u << 16 | 4u << 20);
    assert_int_equal(f->aqa, 31u | 31u << 16);
    assert_int_equal(f->n_aer, 4);
    assert_int_equal(f->nq_granted, 1);
    assert_int_equal(f->bad_accesses, 0);
    assert_int_equal(f->bad_dma, 0);
    capdrv_nvme_ctrl_close(c);
    /* §3.6.1: normal shutdown, then disabled; everything released. */
    assert_int_equal(f->shutdowns, 1);
    assert_int_equal(f->cc & 1u, 0);
    assert_int_equal(fn_live_bufs(f), 0);
    assert_false(f->mmio_open);
    assert_false(f->irq_open[0]);
    fn_free(f);
}

static void t_cap_to_timeout(void **state)
{
    (void)state;
    struct fn *f = fn_new(CAPDRV_LANE_DIRECT);
    struct capdrv_nvme_ctrl *c;
    char why[160] = "";
    f->never_ready = true;
    assert_int_equal(fn_open(f, NULL, &c, why, sizeof why), -CAPDRV_ETIMEDOUT);
    assert_null(c);
    assert_non_null(strstr(why, "CAP.TO"));
    /* CAP.TO 2 = 1 s of waited time, not more than one slice beyond. */
    assert_true(f->now_ns >= 1000000000ull);
    assert_true(f->now_ns <= 1000000000ull + CAPDRV_NVME_WAIT_SLICE_NS);
    assert_int_equal(fn_live_bufs(f), 0);
    fn_free(f);

    /* A slow controller within CAP.TO is waited for. */
    f = fn_new(CAPDRV_LANE_DIRECT);
    f->ready_delay_ns = 300000000ull;
    assert_int_equal(fn_open(f, NULL, &c, why, sizeof why), 0);
    assert_true(f->now_ns >= 300000000ull && f->now_ns < 400000000ull);
    capdrv_nvme_ctrl_close(c);
    fn_free(f);

    /* A controller found enabled that never clears RDY: the disable step
     * times out. */
    f = fn_new(CAPDRV_LANE_DIRECT);
    f->cc = 1;
    f->csts = 1;
    f->stuck_ready = true;
    assert_int_equal(fn_open(f, NULL, &c, why, sizeof why), -CAPDRV_ETIMEDOUT);
    assert_non_null(strstr(why, "did not clear"));
    fn_free(f);

    /* Larger CAP.TO means a longer bound. */
    f = fn_new(CAPDRV_LANE_DIRECT);
    f->cap = (f->cap & ~(0xffull << 24)) | 10ull << 24;
    f->never_ready = true;
    assert_int_equal(fn_open(f, NULL, &c, why, sizeof why), -CAPDRV_ETIMEDOUT);
    assert_true(f->now_ns >= 5000000000ull && f->now_ns <= 5001000000ull);
    fn_free(f);
}

static void t_cfs_each_step(void **state)
{
    (void)state;
    char why[160] = "";
    struct capdrv_nvme_ctrl *c;
    /* At enable. */
    struct fn *f = fn_new(CAPDRV_LANE_BROKERED);
    f->cfs_on_enable = true;
    assert_int_equal(fn_open(f, NULL, &c, why, sizeof why), -CAPDRV_EIO);
    assert_non_null(strstr(why, "CFS"));
    assert_int_equal(f->cc & 1u, 0); /* left disabled */
    assert_int_equal(fn_live_bufs(f), 0);
    fn_free(f);
    /* During Identify (doorbell 1) and Set Features (doorbell 2). */
    for (unsigned n = 1; n <= 2; n++) {
        f = fn_new(CAPDRV_LANE_BROKERED);
        f->cfs_at_doorbell = n;
        assert_int_equal(fn_open(f, NULL, &c, why, sizeof why), -CAPDRV_EIO);
        assert_non_null(strstr(why, n == 1 ? "Identify" : "Number of Queues"));
        assert_int_equal(fn_live_bufs(f), 0);
        fn_free(f);
    }
    /* At the AER doorbell: open succeeds (nothing waits for the AERs), the
     * health check sees it, and a reset recovers. */
    f = fn_new(CAPDRV_LANE_BROKERED);
    f->cfs_at_doorbell = 3;
    assert_int_equal(fn_open(f, NULL, &c, why, sizeof why), 0);
    assert_int_equal(capdrv_nvme_ctrl_check(c), -CAPDRV_EIO);
    assert_int_equal(capdrv_nvme_identify(c, 1, 0, (uint8_t[4096]){0}), -CAPDRV_EIO);
    assert_int_equal(capdrv_nvme_ctrl_reset(c), 0);
    assert_int_equal(capdrv_nvme_ctrl_check(c), 0);
    assert_int_equal(f->n_aer, 4);
    struct capdrv_nvme_ctrl_info in;
    capdrv_nvme_ctrl_info(c, &in);
    assert_int_equal(in.resets, 1);
    capdrv_nvme_ctrl_close(c);
    fn_free(f);
}

static void t_removed(void **state)
{
    (void)state;
    char why[160] = "";
    struct capdrv_nvme_ctrl *c;
    struct fn *f = fn_new(CAPDRV_LANE_BROKERED);
    f->removed = true;
    assert_int_equal(fn_open(f, NULL, &c, why, sizeof why), -CAPDRV_ENODEV);
    assert_non_null(strstr(why, "all ones"));
    fn_free(f);
    for (unsigned n = 1; n <= 2; n++) {
        f = fn_new(CAPDRV_LANE_BROKERED);
        f->remove_at_doorbell = n;
        assert_int_equal(fn_open(f, NULL, &c, why, sizeof why), -CAPDRV_ENODEV);
        assert_int_equal(fn_live_bufs(f), 0);
        fn_free(f);
    }
}

static void t_mps(void **state)
{
    (void)state;
    char why[160] = "";
    struct capdrv_nvme_ctrl *c;
    struct capdrv_nvme_ctrl_info in;
    /* MPSMIN 1: 8 KiB pages; the admin queue and Identify still work. */
    struct fn *f = fn_new(CAPDRV_LANE_BROKERED);
    f->cap |= 1ull << 48;
    assert_int_equal(fn_open(f, NULL, &c, why, sizeof why), 0);
    capdrv_nvme_ctrl_info(c, &in);
    assert_int_equal(in.page_size, 8192);
    assert_int_equal((f->cc >> 7) & 0xfu, 1);
    /* MDTS is in units of the minimum page size (§5.17.2.1). */
    assert_int_equal(in.mdts_bytes, 8192u << 5);
    assert_int_equal(f->bad_dma, 0);
    capdrv_nvme_ctrl_close(c);
    fn_free(f);
    /* MPSMIN above MPSMAX: malformed. */
    f = fn_new(CAPDRV_LANE_BROKERED);
    f->cap = (f->cap & ~(0xffull << 48)) | 3ull << 48 | 2ull << 52;
    assert_int_equal(fn_open(f, NULL, &c, why, sizeof why), -CAPDRV_EPROTO);
    fn_free(f);
    /* 128 KiB minimum pages: not supported by the library. */
    f = fn_new(CAPDRV_LANE_BROKERED);
    f->cap = (f->cap & ~(0xffull << 48)) | 5ull << 48 | 6ull << 52;
    assert_int_equal(fn_open(f, NULL, &c, why, sizeof why), -CAPDRV_ENOTSUP);
    fn_free(f);
}

static void t_dstrd(void **state)
{
    (void)state;
    char why[160] = "";
    struct capdrv_nvme_ctrl *c;
    struct fn *f = fn_new(CAPDRV_LANE_DIRECT);
    f->cap |= 2ull << 32; /* 16-byte doorbell stride */
    struct capdrv_nvme_ctrl_opts o = {.pool = FN_POOL, .io_queues = 2};
    assert_int_equal(fn_open(f, &o, &c, why, sizeof why), 0);
    struct capdrv_nvme_ns_info ns;
    assert_int_equal(capdrv_nvme_ns_info(c, 1, &ns), 0);
    struct capdrv_nvme_qpair *qp[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(capdrv_nvme_qpair_create(c, NULL, &qp[i]), 0);
    struct capdrv_dmabuf_info bi;
    assert_int_equal(fn_alloc(f, 4096, &bi), 0);
    memset(fn_disk(f, 1), 0x5a, 512);
    for (int i = 0; i < 2; i++) {
        struct fn_done d = {0};
        struct capdrv_dma_seg seg = {bi.ref_base, 512};
        assert_int_equal(capdrv_nvme_read(qp[i], 1, 0, 1, &seg, 1, fn_done_cb, &d), 0);
        assert_int_equal(capdrv_nvme_qpair_wait(qp[i], -1), 1);
        assert_int_equal(d.calls, 1);
        assert_int_equal(d.status, 0);
    }
    assert_int_equal(((uint8_t *)bi.cpu)[511], 0x5a);
    /* Every doorbell landed on a stride boundary of a live queue. */
    assert_int_equal(f->bad_accesses, 0);
    capdrv_nvme_ctrl_close(c);
    fn_free(f);
    /* A window that does not reach the admin doorbells is refused. */
    f = fn_new(CAPDRV_LANE_DIRECT);
    f->win.length = 0x1004;
    assert_int_equal(fn_open(f, NULL, &c, why, sizeof why), -CAPDRV_ENOTSUP);
    assert_non_null(strstr(why, "doorbell"));
    fn_free(f);
    /* One that reaches the admin doorbells but not queue 1's: no qpair. */
    f = fn_new(CAPDRV_LANE_DIRECT);
    f->win.length = 0x1008;
    assert_int_equal(fn_open(f, NULL, &c, why, sizeof why), 0);
    assert_int_equal(capdrv_nvme_qpair_create(c, NULL, &qp[0]), -CAPDRV_ENOTSUP);
    capdrv_nvme_ctrl_close(c);
    fn_free(f);
}

static void t_refusals(void **state)
{
    (void)state;
    char why[160] = "";
    struct capdrv_nvme_ctrl *c = (void *)1;
    struct fn *f = fn_new(CAPDRV_LANE_BROKERED);
    struct capdrv_nvme_ctrl_opts o = {.pool = 0};
    assert_int_equal(fn_open(f, &o, &c, why, sizeof why), -CAPDRV_EINVAL);
    assert_null(c);
    o.pool = FN_POOL;
    o.admin_depth = 1;
    assert_int_equal(fn_open(f, &o, &c, why, sizeof why), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_nvme_ctrl_open(NULL, FN_GRANT, &o, &c, why, sizeof why),
                     -CAPDRV_EINVAL);
    /* No NVM command set. */
    f->cap &= ~(1ull << 37);
    assert_int_equal(fn_open(f, NULL, &c, why, sizeof why), -CAPDRV_ENOTSUP);
    fn_free(f);
    /* Entry sizes the library cannot use (§5.17.2.1 SQES/CQES). */
    f = fn_new(CAPDRV_LANE_BROKERED);
    f->id_ctrl[512] = 0x77;
    assert_int_equal(fn_open(f, NULL, &c, why, sizeof why), -CAPDRV_ENOTSUP);
    assert_int_equal(f->cc & 1u, 0);
    assert_int_equal(fn_live_bufs(f), 0);
    fn_free(f);
    /* MQES 0 is malformed; a small MQES caps the admin queue. */
    f = fn_new(CAPDRV_LANE_BROKERED);
    f->cap &= ~0xffffull;
    assert_int_equal(fn_open(f, NULL, &c, why, sizeof why), -CAPDRV_EPROTO);
    f->cap |= 7u;
    assert_int_equal(fn_open(f, NULL, &c, why, sizeof why), 0);
    struct capdrv_nvme_ctrl_info in;
    capdrv_nvme_ctrl_info(c, &in);
    assert_int_equal(in.admin_depth, 8);
    assert_int_equal(f->aqa, 7u | 7u << 16);
    assert_true(in.aer_slots <= 5); /* room left for synchronous commands */
    capdrv_nvme_ctrl_close(c);
    fn_free(f);
    capdrv_nvme_ctrl_close(NULL);
}

static void t_vectors_and_queues(void **state)
{
    (void)state;
    char why[160] = "";
    struct capdrv_nvme_ctrl *c;
    struct capdrv_nvme_ctrl_info in;
    /* No interrupt vector at all: waits poll without sleeping and the
     * deadlines still hold. */
    struct fn *f = fn_new(CAPDRV_LANE_BROKERED);
    f->n_vectors = 0;
    f->never_ready = true;
    assert_int_equal(fn_open(f, NULL, &c, why, sizeof why), -CAPDRV_ETIMEDOUT);
    assert_int_equal(f->irq_waits, 0);
    f->never_ready = false;
    assert_int_equal(fn_open(f, NULL, &c, why, sizeof why), 0);
    capdrv_nvme_ctrl_info(c, &in);
    assert_int_equal(in.n_vectors, 0);
    capdrv_nvme_ctrl_close(c);
    fn_free(f);
    /* Number of Queues: the controller grants fewer than asked. */
    f = fn_new(CAPDRV_LANE_BROKERED);
    f->max_ioq = 2;
    struct capdrv_nvme_ctrl_opts o = {.pool = FN_POOL, .io_queues = 6, .aer_slots = 2};
    assert_int_equal(fn_open(f, &o, &c, why, sizeof why), 0);
    assert_int_equal(f->last_admin_opc, 0x0c);
    capdrv_nvme_ctrl_info(c, &in);
    assert_int_equal(in.io_queues, 2);
    assert_int_equal(in.aer_slots, 2);
    assert_int_equal(f->n_aer, 2);
    struct capdrv_nvme_qpair *qp[3];
    assert_int_equal(capdrv_nvme_qpair_create(c, NULL, &qp[0]), 0);
    assert_int_equal(capdrv_nvme_qpair_create(c, NULL, &qp[1]), 0);
    assert_int_equal(capdrv_nvme_qpair_create(c, NULL, &qp[2]), -CAPDRV_ENOSPC);
    /* A controller that does not finish shutting down is disabled anyway. */
    f->shutdown_stuck = true;
    capdrv_nvme_ctrl_close(c);
    assert_int_equal(f->cc & 1u, 0);
    assert_int_equal(fn_live_bufs(f), 0);
    fn_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_open_defaults), cmocka_unit_test(t_cap_to_timeout),
        cmocka_unit_test(t_cfs_each_step), cmocka_unit_test(t_removed),
        cmocka_unit_test(t_mps),           cmocka_unit_test(t_dstrd),
        cmocka_unit_test(t_refusals),      cmocka_unit_test(t_vectors_and_queues),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
