/* NVMe timeout recovery (src/nvme/recovery.c, qpair.c, admin.c) against
 * the fake controller: a command past its deadline is aborted (NVMe Base
 * 2.0 §5.1); an Abort that does not help within the admin timeout leads
 * to a controller reset (§3.7.2) that re-creates every queue with its
 * identifier; every outstanding command completes exactly once. Time is
 * the fake's waited time, so the bounds are exact. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "fake_nvme.h"

#define IO_TO 100000000ull   /* 100 ms */
#define ADMIN_TO 50000000ull /* 50 ms */

struct rt {
    struct fn *f;
    struct capdrv_nvme_ctrl *c;
    struct capdrv_nvme_qpair *qp[3];
    struct capdrv_dmabuf_info data;
    struct capdrv_dma_seg seg;
    char why[160];
};

static void rt_open(struct rt *t)
{
    memset(t, 0, sizeof *t);
    t->f = fn_new(CAPDRV_LANE_DIRECT);
    struct capdrv_nvme_ctrl_opts o = {.pool = FN_POOL, .io_queues = 3, .io_timeout_ns = IO_TO,
                                      .admin_timeout_ns = ADMIN_TO};
    assert_int_equal(fn_open(t->f, &o, &t->c, t->why, sizeof t->why), 0);
    struct capdrv_nvme_ns_info ns;
    assert_int_equal(capdrv_nvme_ns_info(t->c, 1, &ns), 0);
    for (int i = 0; i < 3; i++) {
        struct capdrv_nvme_qpair_opts qo = {.depth = 8, .polling = i == 2};
        assert_int_equal(capdrv_nvme_qpair_create(t->c, &qo, &t->qp[i]), 0);
    }
    assert_int_equal(fn_alloc(t->f, 65536, &t->data), 0);
    t->seg = (struct capdrv_dma_seg){t->data.ref_base, 512};
}

static void rt_close(struct rt *t)
{
    assert_int_equal(t->f->bad_dma, 0);
    capdrv_nvme_ctrl_close(t->c);
    assert_int_equal(fn_live_bufs(t->f), 0);
    fn_free(t->f);
}

static uint64_t resets(struct rt *t)
{
    struct capdrv_nvme_ctrl_info in;
    capdrv_nvme_ctrl_info(t->c, &in);
    return in.resets;
}

static int read1(struct rt *t, int q, struct fn_done *d)
{
    return capdrv_nvme_read(t->qp[q], 1, 0, 1, &t->seg, 1, fn_done_cb, d);
}

static void t_timeout_abort(void **state)
{
    (void)state;
    struct rt t;
    rt_open(&t);
    t.f->hold_qid = 1;
    t.f->hold_opc = 0x02;
    t.f->hold_count = 1;
    struct fn_done d = {0};
    assert_int_equal(read1(&t, 0, &d), 0);
    uint64_t t0 = t.f->now_ns;
    unsigned a0 = t.f->admin_cmds;
    /* A bounded wait shorter than the deadline: nothing happens. */
    assert_int_equal(capdrv_nvme_qpair_wait(t.qp[0], 40000000), -CAPDRV_ETIMEDOUT);
    assert_int_equal(d.calls, 0);
    assert_int_equal(t.f->admin_cmds, a0); /* no Abort yet */
    /* Then the deadline: Abort, honoured; the command reports the timeout. */
    assert_int_equal(capdrv_nvme_qpair_wait(t.qp[0], -1), 1);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.status, -CAPDRV_ETIMEDOUT);
    assert_int_equal(d.sc, CAPDRV_NVME_SC_ABORT_REQ);
    assert_int_equal(t.f->aborts_honoured, 1);
    assert_int_equal(t.f->last_admin_opc, 0x08);
    assert_int_equal(resets(&t), 0);
    /* Exactly the deadline of waited time (within one slice). */
    assert_true(t.f->now_ns - t0 >= IO_TO);
    assert_true(t.f->now_ns - t0 <= IO_TO + CAPDRV_NVME_WAIT_SLICE_NS);
    /* The queue goes on. */
    assert_int_equal(read1(&t, 0, &d), 0);
    assert_int_equal(capdrv_nvme_qpair_wait(t.qp[0], -1), 1);
    assert_int_equal(d.status, 0);
    rt_close(&t);
}

static void t_abort_ignored_reset(void **state)
{
    (void)state;
    struct rt t;
    rt_open(&t);
    t.f->hold_qid = -1;
    t.f->hold_opc = 0x02;
    t.f->abort_ignored = true;
    struct fn_done a = {0}, b = {0}, q = {0}, ok = {0};
    /* Completed before the reset but not reaped: delivered as completed. */
    assert_int_equal(capdrv_nvme_flush(t.qp[1], 1, fn_done_cb, &ok), 0);
    assert_int_equal(capdrv_nvme_qpair_ring(t.qp[1]), 1);
    assert_int_equal(read1(&t, 0, &a), 0);
    assert_int_equal(capdrv_nvme_qpair_wait(t.qp[0], 30000000), -CAPDRV_ETIMEDOUT);
    assert_int_equal(read1(&t, 1, &b), 0);
    assert_int_equal(capdrv_nvme_qpair_ring(t.qp[1]), 1);
    assert_int_equal(read1(&t, 2, &q), 0); /* queued, never rung */
    uint64_t t0 = t.f->now_ns;
    /* A's deadline (at 100 ms) -> Abort (ignored) -> 50 ms later a reset. */
    assert_int_equal(capdrv_nvme_qpair_wait(t.qp[0], -1), 1);
    assert_int_equal(resets(&t), 1);
    assert_int_equal(t.f->disables, 1);
    assert_true(t.f->now_ns - t0 >= (IO_TO - 30000000) + ADMIN_TO);
    assert_true(t.f->now_ns - t0 <= (IO_TO - 30000000) + ADMIN_TO + 3 * CAPDRV_NVME_WAIT_SLICE_NS);
    assert_int_equal(a.calls, 1);
    assert_int_equal(a.status, -CAPDRV_ETIMEDOUT);
    assert_int_equal(b.calls, 1);
    assert_int_equal(b.status, -CAPDRV_ECANCELED);
    assert_int_equal(q.calls, 1);
    assert_int_equal(q.status, -CAPDRV_ECANCELED);
    assert_int_equal(ok.calls, 1);
    assert_int_equal(ok.status, 0);
    /* Every queue exists again with its identifier, empty; AERs re-armed. */
    for (unsigned id = 1; id <= 3; id++) {
        assert_true(t.f->sq[id].live);
        assert_true(t.f->cq[id].live);
    }
    assert_true(t.f->cq[1].ien);
    assert_false(t.f->cq[3].ien);
    assert_int_equal(t.f->n_aer, 4);
    t.f->hold_qid = -2;
    for (int i = 0; i < 3; i++) {
        struct capdrv_nvme_qpair_info qi;
        capdrv_nvme_qpair_info(t.qp[i], &qi);
        assert_int_equal(qi.inflight, 0);
        assert_int_equal(read1(&t, i, &ok), 0);
        assert_int_equal(capdrv_nvme_qpair_wait(t.qp[i], -1), 1);
        assert_int_equal(ok.status, 0);
    }
    /* Nothing completed twice. */
    assert_int_equal(a.calls + b.calls + q.calls, 3);
    rt_close(&t);
}

static void t_abort_lost(void **state)
{
    (void)state;
    struct rt t;
    rt_open(&t);
    t.f->hold_qid = 1;
    t.f->hold_opc = 0x02;
    t.f->abort_dropped = true; /* the Abort itself never completes */
    struct fn_done d = {0};
    assert_int_equal(read1(&t, 0, &d), 0);
    assert_int_equal(capdrv_nvme_qpair_wait(t.qp[0], -1), 1);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.status, -CAPDRV_ETIMEDOUT);
    assert_int_equal(resets(&t), 1);
    t.f->abort_dropped = false;
    t.f->hold_qid = -2;
    assert_int_equal(read1(&t, 0, &d), 0);
    assert_int_equal(capdrv_nvme_qpair_wait(t.qp[0], -1), 1);
    assert_int_equal(d.status, 0);
    rt_close(&t);
}

static void t_admin_timeout(void **state)
{
    (void)state;
    struct rt t;
    rt_open(&t);
    struct fn_done d = {0};
    t.f->hold_qid = 1;
    t.f->hold_opc = -1;
    assert_int_equal(read1(&t, 0, &d), 0);
    assert_int_equal(capdrv_nvme_qpair_ring(t.qp[0]), 1);
    t.f->hold_qid = 0;
    t.f->hold_opc = 0x0a; /* Get Features */
    t.f->hold_count = 1;
    uint64_t t0 = t.f->now_ns;
    uint32_t dw0;
    assert_int_equal(capdrv_nvme_get_features(t.c, 4, 0, 0, NULL, 0, &dw0), -CAPDRV_ETIMEDOUT);
    assert_true(t.f->now_ns - t0 >= ADMIN_TO && t.f->now_ns - t0 <= ADMIN_TO + 1000000);
    assert_int_equal(resets(&t), 1);
    /* The reset completed the I/O command that was outstanding. */
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.status, -CAPDRV_ECANCELED);
    assert_int_equal(capdrv_nvme_get_features(t.c, 4, 0, 0, NULL, 0, &dw0), 0);
    rt_close(&t);
}

static void t_failed_delete(void **state)
{
    (void)state;
    struct rt t;
    rt_open(&t);
    struct fn_done d = {0};
    t.f->hold_qid = 2;
    t.f->hold_opc = -1;
    assert_int_equal(read1(&t, 1, &d), 0);
    assert_int_equal(capdrv_nvme_qpair_ring(t.qp[1]), 1);
    /* Delete SQ fails with a status: the library resets to be sure the
     * controller no longer uses the queue, then frees it. */
    t.f->fail_qid = 0;
    t.f->fail_opc = 0x00;
    t.f->fail_status = 0x0101;
    t.f->fail_count = 1;
    assert_int_equal(capdrv_nvme_qpair_destroy(t.qp[1]), -CAPDRV_EIO);
    t.qp[1] = NULL;
    assert_int_equal(resets(&t), 1);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.status, -CAPDRV_ECANCELED);
    assert_false(t.f->sq[2].live);
    assert_true(t.f->sq[1].live && t.f->sq[3].live);
    t.f->hold_qid = -2;
    assert_int_equal(read1(&t, 0, &d), 0);
    assert_int_equal(capdrv_nvme_qpair_wait(t.qp[0], -1), 1);
    assert_int_equal(d.status, 0);
    rt_close(&t);
}

static void t_reset_fails(void **state)
{
    (void)state;
    struct rt t;
    rt_open(&t);
    struct fn_done d = {0};
    t.f->hold_qid = 1;
    t.f->hold_opc = -1;
    assert_int_equal(read1(&t, 0, &d), 0);
    assert_int_equal(capdrv_nvme_qpair_ring(t.qp[0]), 1);
    /* The controller does not come back: everything completes anyway and
     * every later call fails cleanly. */
    t.f->never_ready = true;
    assert_int_equal(capdrv_nvme_ctrl_reset(t.c), -CAPDRV_ETIMEDOUT);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.status, -CAPDRV_ECANCELED);
    assert_int_equal(read1(&t, 0, &d), -CAPDRV_EIO);
    assert_int_equal(capdrv_nvme_ctrl_check(t.c), -CAPDRV_EIO);
    uint8_t buf[4096];
    assert_int_equal(capdrv_nvme_identify(t.c, 1, 0, buf), -CAPDRV_EIO);
    /* A later reset can succeed. */
    t.f->never_ready = false;
    t.f->hold_qid = -2;
    assert_int_equal(capdrv_nvme_ctrl_reset(t.c), 0);
    assert_int_equal(read1(&t, 0, &d), 0);
    assert_int_equal(capdrv_nvme_qpair_wait(t.qp[0], -1), 1);
    assert_int_equal(d.status, 0);
    rt_close(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_timeout_abort), cmocka_unit_test(t_abort_ignored_reset),
        cmocka_unit_test(t_abort_lost),    cmocka_unit_test(t_admin_timeout),
        cmocka_unit_test(t_failed_delete), cmocka_unit_test(t_reset_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
