/* A hostile NVMe controller (fake_nvme.h knobs) against the library's
 * completion checks (src/nvme/queue.c, recovery.c): unknown, free or
 * duplicated CIDs, SQ head outside the submitted range, wrong phase tags,
 * foreign SQ identifiers, surprise removal, fatal status, refused
 * doorbells. Each gives a clear per-queue error and no double completion;
 * a reset completes the broken queue's commands exactly once (NVMe Base
 * 2.0 §3.3.3.2, §3.3.1, §9.5). ASan runs of this file check the "no
 * out-of-bounds access" half. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "fake_nvme.h"

struct ht {
    struct fn *f;
    struct capdrv_nvme_ctrl *c;
    struct capdrv_nvme_qpair *qp, *qp2;
    struct capdrv_dmabuf_info data;
    struct capdrv_dma_seg seg;
    char why[160];
};

static void ht_open(struct ht *t, bool polling)
{
    memset(t, 0, sizeof *t);
    t->f = fn_new(CAPDRV_LANE_BROKERED);
    struct capdrv_nvme_ctrl_opts o = {.pool = FN_POOL, .io_queues = 2,
                                      .io_timeout_ns = 100000000ull,
                                      .admin_timeout_ns = 50000000ull};
    assert_int_equal(fn_open(t->f, &o, &t->c, t->why, sizeof t->why), 0);
    struct capdrv_nvme_ns_info ns;
    assert_int_equal(capdrv_nvme_ns_info(t->c, 1, &ns), 0);
    struct capdrv_nvme_qpair_opts qo = {.depth = 16, .polling = polling};
    assert_int_equal(capdrv_nvme_qpair_create(t->c, &qo, &t->qp), 0);
    assert_int_equal(capdrv_nvme_qpair_create(t->c, &qo, &t->qp2), 0);
    assert_int_equal(fn_alloc(t->f, 65536, &t->data), 0);
    t->seg = (struct capdrv_dma_seg){t->data.ref_base, 512};
}

static void ht_close(struct ht *t)
{
    capdrv_nvme_ctrl_close(t->c);
    assert_int_equal(fn_live_bufs(t->f), 0);
    assert_int_equal(t->f->bad_release, 0);
    fn_free(t->f);
}

static int read1(struct ht *t, struct capdrv_nvme_qpair *qp, struct fn_done *d)
{
    return capdrv_nvme_read(qp, 1, 0, 1, &t->seg, 1, fn_done_cb, d);
}

static bool broken(struct capdrv_nvme_qpair *qp)
{
    struct capdrv_nvme_qpair_info qi;
    capdrv_nvme_qpair_info(qp, &qi);
    return qi.broken;
}

/* Break qp with @h on its next completion; the command's callback must not
 * run until a reset, and then exactly once with @want. */
static void one_case(enum fn_hostile h, uint16_t cid, uint16_t sqid, const char *why_has,
                     int calls_before, int want_after)
{
    struct ht t;
    ht_open(&t, true);
    t.f->hostile = h;
    t.f->hostile_qid = 1;
    t.f->hostile_count = 1;
    t.f->hostile_cid = cid;
    t.f->hostile_sqid = sqid;
    struct fn_done d = {0};
    assert_int_equal(read1(&t, t.qp, &d), 0);
    assert_int_equal(capdrv_nvme_qpair_ring(t.qp), 1);
    int rc = capdrv_nvme_qpair_poll(t.qp, 0);
    if (calls_before)
        assert_int_equal(rc, calls_before);
    rc = capdrv_nvme_qpair_poll(t.qp, 0);
    assert_int_equal(rc, -CAPDRV_EPROTO);
    assert_true(broken(t.qp));
    assert_non_null(strstr(capdrv_nvme_qpair_why(t.qp), why_has));
    assert_int_equal(d.calls, calls_before);
    /* Every later call on the queue says so; the other queue is fine. */
    assert_int_equal(read1(&t, t.qp, &d), -CAPDRV_EPROTO);
    assert_int_equal(capdrv_nvme_qpair_wait(t.qp, 0), -CAPDRV_EPROTO);
    struct fn_done d2 = {0};
    assert_int_equal(read1(&t, t.qp2, &d2), 0);
    assert_int_equal(capdrv_nvme_qpair_wait(t.qp2, -1), 1);
    assert_int_equal(d2.status, 0);
    /* Reset: the broken queue's command completes once, then the queue is
     * usable again with the same identifier. */
    assert_int_equal(capdrv_nvme_ctrl_reset(t.c), 0);
    assert_int_equal(d.calls, 1);
    if (!calls_before)
        assert_int_equal(d.status, want_after);
    assert_false(broken(t.qp));
    assert_string_equal(capdrv_nvme_qpair_why(t.qp), "");
    assert_int_equal(read1(&t, t.qp, &d), 0);
    assert_int_equal(capdrv_nvme_qpair_wait(t.qp, -1), 1);
    assert_int_equal(d.calls, 2);
    assert_int_equal(d.status, 0);
    ht_close(&t);
}

static void t_bad_cid(void **state)
{
    (void)state;
    one_case(FN_BAD_CID, 0, 0, "not outstanding", 0, -CAPDRV_EPROTO);
    one_case(FN_CID_VALUE, 0x0ffe, 0, "not outstanding", 0, -CAPDRV_EPROTO);
    one_case(FN_CID_VALUE, 0xffff, 0, "not outstanding", 0, -CAPDRV_EPROTO);
}

static void t_duplicate(void **state)
{
    (void)state;
    /* The first copy completes the command; the second breaks the queue
     * and nothing completes twice (the reset finds nothing to complete). */
    one_case(FN_DUP, 0, 0, "not outstanding", 1, 0);
}

static void t_never_submitted(void **state)
{
    (void)state;
    /* A real completion, then one for slot 5, which is free (its CID from
     * before any use: index 5, generation 0). */
    one_case(FN_EXTRA, 5, 0, "not outstanding", 1, 0);
}

static void t_sqhd(void **state)
{
    (void)state;
    one_case(FN_SQHD, 0, 0, "SQ head", 0, -CAPDRV_EPROTO);
    one_case(FN_SQHD_AHEAD, 0, 0, "SQ head", 0, -CAPDRV_EPROTO);
}

static void t_sqid(void **state)
{
    (void)state;
    one_case(FN_SQID, 0, 2, "names SQ 2", 0, -CAPDRV_EPROTO); /* another live queue */
    one_case(FN_SQID, 0, 7, "names SQ 7", 0, -CAPDRV_EPROTO); /* a queue that does not exist */
    one_case(FN_SQID, 0, 0, "names SQ 0", 0, -CAPDRV_EPROTO); /* the admin queue */
}

static void t_phase(void **state)
{
    (void)state;
    struct ht t;
    ht_open(&t, true);
    /* A CQE with the wrong phase is simply not new (§3.3.3.2). */
    t.f->hostile = FN_PHASE;
    t.f->hostile_qid = 1;
    t.f->hostile_count = 1;
    struct fn_done d = {0};
    assert_int_equal(read1(&t, t.qp, &d), 0);
    assert_int_equal(capdrv_nvme_qpair_ring(t.qp), 1);
    assert_int_equal(capdrv_nvme_qpair_poll(t.qp, 0), 0);
    assert_false(broken(t.qp));
    assert_int_equal(d.calls, 0);
    /* Lost for good: the deadline recovers it (Abort finds nothing, then a
     * reset completes it with -CAPDRV_ETIMEDOUT). */
    assert_int_equal(capdrv_nvme_qpair_wait(t.qp, -1), 1);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.status, -CAPDRV_ETIMEDOUT);
    ht_close(&t);
}

static void t_admin_queue(void **state)
{
    (void)state;
    struct ht t;
    ht_open(&t, true);
    t.f->hostile = FN_BAD_CID;
    t.f->hostile_qid = 0;
    t.f->hostile_count = 1;
    uint8_t buf[4096];
    assert_int_equal(capdrv_nvme_identify(t.c, 1, 0, buf), -CAPDRV_EPROTO);
    assert_int_equal(capdrv_nvme_identify(t.c, 1, 0, buf), -CAPDRV_EPROTO);
    assert_int_equal(capdrv_nvme_ctrl_process_admin(t.c), -CAPDRV_EPROTO);
    assert_int_equal(capdrv_nvme_ctrl_reset(t.c), 0);
    assert_int_equal(capdrv_nvme_identify(t.c, 1, 0, buf), 0);
    assert_int_equal(t.f->n_aer, 4);
    ht_close(&t);
}

/* §5.5 refused after §5.4 succeeded: the library deletes the CQ again
 * (§5.6) and keeps the memory it handed out until the next disable. */
static void t_create_sq_refused(void **state)
{
    (void)state;
    struct ht t;
    ht_open(&t, true);
    assert_int_equal(capdrv_nvme_qpair_destroy(t.qp2), 0);
    t.qp2 = NULL;
    t.f->fail_qid = 0;
    t.f->fail_opc = CAPDRV_NVME_ADMIN_CREATE_SQ;
    t.f->fail_status = 0x0101; /* Invalid Queue Identifier */
    t.f->fail_count = 1;
    struct capdrv_nvme_qpair_opts qo = {.depth = 16, .polling = true};
    assert_int_equal(capdrv_nvme_qpair_create(t.c, &qo, &t.qp2), -CAPDRV_EIO);
    assert_null(t.qp2);
    assert_false(t.f->cq[2].live);
    assert_int_equal(t.f->last_admin_opc, CAPDRV_NVME_ADMIN_DELETE_CQ);
    assert_int_equal(t.f->bad_release, 0);
    assert_int_equal(capdrv_nvme_qpair_create(t.c, &qo, &t.qp2), 0);
    ht_close(&t);
}

/* The cleanup Delete I/O CQ never completes: the admin timeout resets the
 * controller (CC.EN 0 takes the queue away, §3.7.2), once; the other
 * queue pair survives. */
static void t_create_cleanup_lost(void **state)
{
    (void)state;
    struct ht t;
    ht_open(&t, true);
    assert_int_equal(capdrv_nvme_qpair_destroy(t.qp2), 0);
    t.qp2 = NULL;
    t.f->fail_qid = 0;
    t.f->fail_opc = CAPDRV_NVME_ADMIN_CREATE_SQ;
    t.f->fail_status = 0x0101;
    t.f->fail_count = 1;
    t.f->hold_qid = 0;
    t.f->hold_opc = CAPDRV_NVME_ADMIN_DELETE_CQ;
    t.f->hold_count = 1;
    unsigned disables = t.f->disables;
    struct capdrv_nvme_qpair_opts qo = {.depth = 16, .polling = true};
    assert_int_equal(capdrv_nvme_qpair_create(t.c, &qo, &t.qp2), -CAPDRV_EIO);
    assert_int_equal(t.f->disables, disables + 1u);
    assert_false(t.f->cq[2].live);
    assert_int_equal(t.f->bad_release, 0);
    struct fn_done d = {0};
    assert_int_equal(read1(&t, t.qp, &d), 0);
    assert_int_equal(capdrv_nvme_qpair_wait(t.qp, -1), 1);
    assert_int_equal(d.status, 0);
    ht_close(&t);
}

/* The Create I/O SQ completion is malformed (unknown CID): the admin
 * queue breaks, so neither the SQ's fate nor a cleanup Delete can be
 * known. Both queues may be live: the library resets the controller
 * before it lets their memory go (found by fuzz_nvme_cq). */
static void t_create_sq_malformed(void **state)
{
    (void)state;
    struct ht t;
    ht_open(&t, true);
    assert_int_equal(capdrv_nvme_qpair_destroy(t.qp2), 0);
    t.qp2 = NULL;
    t.f->hostile = FN_BAD_CID;
    t.f->hostile_qid = 0;
    t.f->hostile_skip = 1; /* Create I/O CQ completes intact */
    t.f->hostile_count = 1;
    unsigned disables = t.f->disables;
    struct capdrv_nvme_qpair_opts qo = {.depth = 16, .polling = true};
    assert_int_equal(capdrv_nvme_qpair_create(t.c, &qo, &t.qp2), -CAPDRV_EPROTO);
    assert_null(t.qp2);
    assert_int_equal(t.f->disables, disables + 1u);
    assert_false(t.f->sq[2].live);
    assert_false(t.f->cq[2].live);
    assert_int_equal(t.f->bad_release, 0);
    /* The reset re-created the surviving pair and the admin queue. */
    struct fn_done d = {0};
    assert_int_equal(read1(&t, t.qp, &d), 0);
    assert_int_equal(capdrv_nvme_qpair_wait(t.qp, -1), 1);
    assert_int_equal(d.status, 0);
    assert_int_equal(capdrv_nvme_qpair_create(t.c, &qo, &t.qp2), 0);
    ht_close(&t);
}

static void t_surprise_removal(void **state)
{
    (void)state;
    struct ht t;
    ht_open(&t, false);
    t.f->hold_qid = -1;
    t.f->hold_opc = 0x02;
    struct fn_done d[3] = {{0}};
    assert_int_equal(read1(&t, t.qp, &d[0]), 0);
    assert_int_equal(read1(&t, t.qp, &d[1]), 0);
    assert_int_equal(capdrv_nvme_qpair_ring(t.qp), 2);
    assert_int_equal(read1(&t, t.qp2, &d[2]), 0); /* queued, not rung */
    t.f->removed = true;
    /* The next wait finds CSTS all ones: everything outstanding, on every
     * queue, completes now with -CAPDRV_ENODEV. */
    assert_int_equal(capdrv_nvme_qpair_wait(t.qp, -1), 2);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(d[i].calls, 1);
        assert_int_equal(d[i].status, -CAPDRV_ENODEV);
    }
    assert_int_equal(read1(&t, t.qp, &d[0]), -CAPDRV_ENODEV);
    assert_int_equal(capdrv_nvme_qpair_poll(t.qp2, 0), -CAPDRV_ENODEV);
    assert_int_equal(capdrv_nvme_ctrl_check(t.c), -CAPDRV_ENODEV);
    assert_int_equal(capdrv_nvme_ctrl_reset(t.c), -CAPDRV_ENODEV);
    uint8_t buf[4096];
    assert_int_equal(capdrv_nvme_identify(t.c, 1, 0, buf), -CAPDRV_ENODEV);
    assert_int_equal(d[0].calls, 1);
    ht_close(&t);
}

static void t_fatal_status(void **state)
{
    (void)state;
    struct ht t;
    ht_open(&t, false);
    t.f->hold_qid = 1;
    t.f->hold_opc = -1;
    struct fn_done d = {0};
    assert_int_equal(read1(&t, t.qp, &d), 0);
    assert_int_equal(capdrv_nvme_qpair_ring(t.qp), 1);
    t.f->csts |= 2u; /* CFS */
    assert_int_equal(capdrv_nvme_qpair_wait(t.qp, -1), -CAPDRV_EIO);
    assert_int_equal(d.calls, 0);
    assert_int_equal(capdrv_nvme_ctrl_check(t.c), -CAPDRV_EIO);
    t.f->hold_qid = -2;
    assert_int_equal(capdrv_nvme_ctrl_reset(t.c), 0);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.status, -CAPDRV_ECANCELED);
    assert_int_equal(read1(&t, t.qp, &d), 0);
    assert_int_equal(capdrv_nvme_qpair_wait(t.qp, -1), 1);
    assert_int_equal(d.status, 0);
    ht_close(&t);
}

static void t_doorbell_refused(void **state)
{
    (void)state;
    struct ht t;
    ht_open(&t, true);
    /* The kernel refuses the SQ 1 doorbell (here: outside the window). */
    t.f->win.length = 0x1008;
    struct fn_done d = {0};
    assert_int_equal(read1(&t, t.qp, &d), 0);
    assert_int_equal(capdrv_nvme_qpair_ring(t.qp), -CAPDRV_EFAULT);
    assert_true(broken(t.qp));
    assert_non_null(strstr(capdrv_nvme_qpair_why(t.qp), "refused"));
    assert_int_equal(read1(&t, t.qp, &d), -CAPDRV_EFAULT);
    assert_int_equal(d.calls, 0);
    t.f->win.length = FN_BAR0_LEN;
    assert_int_equal(capdrv_nvme_ctrl_reset(t.c), 0);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.status, -CAPDRV_EFAULT);
    ht_close(&t);
}

static void t_garbage_cq(void **state)
{
    (void)state;
    /* Every completion corrupted in turn, many commands outstanding: the
     * queue breaks at the first bad entry and the counts stay exact. */
    static const enum fn_hostile kinds[] = {FN_BAD_CID, FN_DUP, FN_SQHD, FN_SQHD_AHEAD, FN_SQID};
    for (unsigned k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        struct ht t;
        ht_open(&t, true);
        struct fn_done d = {0};
        for (int i = 0; i < 10; i++)
            assert_int_equal(read1(&t, t.qp, &d), 0);
        t.f->hostile = kinds[k];
        t.f->hostile_qid = 1;
        t.f->hostile_count = 0;
        t.f->hostile_sqid = 5;
        assert_int_equal(capdrv_nvme_qpair_ring(t.qp), 10);
        int got = 0, rc;
        while ((rc = capdrv_nvme_qpair_poll(t.qp, 0)) > 0)
            got += rc;
        assert_int_equal(rc, -CAPDRV_EPROTO);
        assert_int_equal(d.calls, got);
        t.f->hostile = FN_OK;
        assert_int_equal(capdrv_nvme_ctrl_reset(t.c), 0);
        assert_int_equal(d.calls, 10);
        ht_close(&t);
    }
}

/* The CID a completion entry in slot @slot of CQ @cqid carries. */
static uint16_t cqe_cid(struct ht *t, unsigned cqid, unsigned slot)
{
    const uint8_t *e = fn_ref(t->f, t->f->cq[cqid].base + 16u * slot, 16);
    assert_non_null(e);
    return (uint16_t)(e[12] | e[13] << 8);
}

/* §5.7 then §5.6: once Delete I/O SQ and Delete I/O CQ completed the queue
 * is gone. Its held command completes once (-CAPDRV_ECANCELED), however
 * often the controller posts its abort; what the controller writes into
 * the deleted CQ afterwards lands in memory the library still owns (kept
 * until the next disable) and is never read; a completion naming the
 * deleted SQ on a live CQ breaks that queue (§3.3.3.2 SQ Identifier) and the
 * command it held completes once, at the reset. */
static void t_cqe_for_deleted_queue(void **state)
{
    (void)state;
    struct ht t;
    ht_open(&t, true);
    t.f->hold_qid = 2;
    t.f->hold_opc = 0x02;
    t.f->hold_count = 1;
    struct fn_done d2 = {0};
    assert_int_equal(read1(&t, t.qp2, &d2), 0);
    assert_int_equal(capdrv_nvme_qpair_ring(t.qp2), 1);
    assert_int_equal(fn_held_count(t.f), 1);
    t.f->hostile = FN_DUP; /* Delete SQ's abort of the held Read, posted twice */
    t.f->hostile_qid = 2;
    t.f->hostile_count = 1;
    assert_int_equal(capdrv_nvme_qpair_destroy(t.qp2), 0);
    t.qp2 = NULL;
    assert_false(t.f->sq[2].live);
    assert_false(t.f->cq[2].live);
    assert_int_equal(d2.calls, 1);
    assert_int_equal(d2.status, -CAPDRV_ECANCELED);
    /* The controller keeps writing into the deleted CQ. */
    unsigned dma0 = t.f->bad_dma;
    fn_cqe_at(t.f, 2, 3, 2, 0x1003, 4, 0, 1);
    assert_int_equal(t.f->bad_dma, dma0);
    assert_int_equal(d2.calls, 1);
    /* A completion naming the deleted SQ 2 arrives on CQ 1. */
    t.f->hold_qid = 1;
    t.f->hold_opc = 0x02;
    t.f->hold_count = 1;
    struct fn_done d = {0};
    assert_int_equal(read1(&t, t.qp, &d), 0);
    assert_int_equal(capdrv_nvme_qpair_ring(t.qp), 1);
    assert_true(fn_post_cqe(t.f, 1, 2, 0x1000, 1, 0));
    assert_int_equal(capdrv_nvme_qpair_poll(t.qp, 0), -CAPDRV_EPROTO);
    assert_true(broken(t.qp));
    assert_non_null(strstr(capdrv_nvme_qpair_why(t.qp), "names SQ 2"));
    assert_int_equal(d.calls, 0);
    assert_int_equal(capdrv_nvme_ctrl_reset(t.c), 0);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.status, -CAPDRV_EPROTO);
    assert_int_equal(d2.calls, 1);
    assert_int_equal(read1(&t, t.qp, &d), 0);
    assert_int_equal(capdrv_nvme_qpair_wait(t.qp, -1), 1);
    assert_int_equal(d.calls, 2);
    assert_int_equal(d.status, 0);
    assert_int_equal(t.f->bad_dma, dma0);
    ht_close(&t);
}

/* A queue identifier used again (§5.4/§5.5 after §5.6/§5.7) gets new queue
 * memory and new command slots. A stale completion of the old pair's
 * command posted on the new CQ: with nothing outstanding it breaks the
 * queue; when its CID happens to name the new pair's outstanding command
 * (a fresh pair's slots start at the same CIDs), that command completes
 * once, and its real completion then breaks the queue - never a second
 * completion. */
static void t_cqe_after_qid_reuse(void **state)
{
    (void)state;
    struct ht t;
    ht_open(&t, true);
    struct fn_done old = {0};
    assert_int_equal(read1(&t, t.qp2, &old), 0);
    assert_int_equal(capdrv_nvme_qpair_wait(t.qp2, -1), 1);
    assert_int_equal(old.status, 0);
    struct capdrv_nvme_qpair_opts qo = {.depth = 16, .polling = true};
    struct capdrv_nvme_qpair_info qi;
    for (int round = 0; round < 2; round++) {
        assert_int_equal(capdrv_nvme_qpair_destroy(t.qp2), 0);
        assert_int_equal(capdrv_nvme_qpair_create(t.c, &qo, &t.qp2), 0);
        capdrv_nvme_qpair_info(t.qp2, &qi);
        assert_int_equal(qi.qid, 2);
        if (round == 0) {
            /* Nothing outstanding on the new pair. */
            assert_true(fn_post_cqe(t.f, 2, 2, old.cid, 1, 0));
            assert_int_equal(capdrv_nvme_qpair_poll(t.qp2, 0), -CAPDRV_EPROTO);
            assert_non_null(strstr(capdrv_nvme_qpair_why(t.qp2), "not outstanding"));
            assert_int_equal(old.calls, 1);
            assert_int_equal(capdrv_nvme_ctrl_reset(t.c), 0);
            assert_false(broken(t.qp2));
            continue;
        }
        /* The new pair's first command has the old one's CID. */
        t.f->hold_qid = 2;
        t.f->hold_opc = 0x02;
        t.f->hold_count = 1;
        struct fn_done d = {0};
        assert_int_equal(read1(&t, t.qp2, &d), 0);
        assert_int_equal(capdrv_nvme_qpair_ring(t.qp2), 1);
        assert_true(fn_post_cqe(t.f, 2, 2, old.cid, 1, 0x0004)); /* stale: Data Transfer Error */
        assert_int_equal(capdrv_nvme_qpair_poll(t.qp2, 0), 1);
        assert_int_equal(d.calls, 1);
        assert_int_equal(d.cid, old.cid);
        assert_int_equal(d.status, -CAPDRV_EIO);
        fn_release_held(t.f, 0); /* the real completion */
        assert_int_equal(capdrv_nvme_qpair_poll(t.qp2, 0), -CAPDRV_EPROTO);
        assert_non_null(strstr(capdrv_nvme_qpair_why(t.qp2), "not outstanding"));
        assert_int_equal(capdrv_nvme_ctrl_reset(t.c), 0);
        assert_int_equal(d.calls, 1);
    }
    assert_int_equal(old.calls, 1);
    struct fn_done d = {0};
    assert_int_equal(read1(&t, t.qp2, &d), 0);
    assert_int_equal(capdrv_nvme_qpair_wait(t.qp2, -1), 1);
    assert_int_equal(d.status, 0);
    ht_close(&t);
}

/* §3.3.3.2 Phase Tag, out of order: the controller posts A's entry one slot
 * past its tail, then B's, so entries with the new phase follow a slot
 * that is not new. The library stops at the first slot that is not new
 * (nothing is taken from beyond it). If the hole is later filled with a
 * copy of A's entry, A completes once and the copy breaks the queue; if
 * it never is, the deadlines recover both commands through a reset. Each
 * command completes exactly once either way. */
static void t_phase_out_of_order(void **state)
{
    (void)state;
    for (int fill = 1; fill >= 0; fill--) {
        struct ht t;
        ht_open(&t, true);
        t.f->hostile = FN_PHASE_AHEAD;
        t.f->hostile_qid = 1;
        t.f->hostile_count = 1;
        struct fn_done a = {0}, b = {0};
        assert_int_equal(read1(&t, t.qp, &a), 0);
        assert_int_equal(read1(&t, t.qp, &b), 0);
        assert_int_equal(capdrv_nvme_qpair_ring(t.qp), 2);
        assert_int_equal(t.f->cq[1].tail, 3); /* slot 0 skipped, A in 1, B in 2 */
        assert_int_equal(capdrv_nvme_qpair_poll(t.qp, 0), 0);
        assert_false(broken(t.qp));
        assert_int_equal(a.calls + b.calls, 0);
        if (fill) {
            uint16_t cid_a = cqe_cid(&t, 1, 1);
            fn_cqe_at(t.f, 1, 0, 1, cid_a, 1, 0, 1);
            assert_int_equal(capdrv_nvme_qpair_poll(t.qp, 0), 1);
            assert_int_equal(a.calls, 1);
            assert_int_equal(a.status, 0);
            assert_int_equal(capdrv_nvme_qpair_poll(t.qp, 0), -CAPDRV_EPROTO);
            assert_non_null(strstr(capdrv_nvme_qpair_why(t.qp), "not outstanding"));
            assert_int_equal(b.calls, 0);
            assert_int_equal(capdrv_nvme_ctrl_reset(t.c), 0);
            assert_int_equal(b.status, -CAPDRV_EPROTO);
        } else {
            int rc = capdrv_nvme_qpair_wait(t.qp, -1);
            assert_true(rc > 0);
            assert_int_equal(a.status, -CAPDRV_ETIMEDOUT);
            assert_int_equal(b.status, -CAPDRV_ETIMEDOUT);
        }
        assert_int_equal(a.calls, 1);
        assert_int_equal(b.calls, 1);
        struct fn_done d = {0};
        assert_int_equal(read1(&t, t.qp, &d), 0);
        assert_int_equal(capdrv_nvme_qpair_wait(t.qp, -1), 1);
        assert_int_equal(d.status, 0);
        assert_int_equal(a.calls + b.calls, 2);
        ht_close(&t);
    }
}

/* §3.3.3.2: the controller inverts the Phase Tag before it wraps (an early
 * flip). Its entries never look new, on this pass or, because the library
 * stops at the first one, on the next: the commands are recovered by
 * their deadlines (Abort, then a reset) and complete exactly once; the
 * re-created queue works, also across its own wraps. */
static void t_phase_early_flip(void **state)
{
    (void)state;
    struct ht t;
    ht_open(&t, true);
    struct fn_done d = {0};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(read1(&t, t.qp, &d), 0);
        assert_int_equal(capdrv_nvme_qpair_wait(t.qp, -1), 1);
    }
    t.f->hostile = FN_PHASE_FLIP;
    t.f->hostile_qid = 1;
    t.f->hostile_count = 1;
    struct fn_done c[3] = {{0}};
    for (int i = 0; i < 3; i++)
        assert_int_equal(read1(&t, t.qp, &c[i]), 0);
    assert_int_equal(capdrv_nvme_qpair_ring(t.qp), 3);
    assert_int_equal(capdrv_nvme_qpair_poll(t.qp, 0), 0);
    assert_false(broken(t.qp));
    struct capdrv_nvme_ctrl_info in;
    capdrv_nvme_ctrl_info(t.c, &in);
    uint64_t resets = in.resets;
    assert_true(capdrv_nvme_qpair_wait(t.qp, -1) > 0);
    capdrv_nvme_ctrl_info(t.c, &in);
    assert_int_equal(in.resets, resets + 1);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(c[i].calls, 1);
        assert_int_equal(c[i].status, -CAPDRV_ETIMEDOUT);
    }
    /* 40 commands through the re-created 16-entry queue: two wraps. */
    for (int i = 0; i < 40; i++) {
        assert_int_equal(read1(&t, t.qp, &d), 0);
        assert_int_equal(capdrv_nvme_qpair_wait(t.qp, -1), 1);
        assert_int_equal(d.status, 0);
    }
    assert_int_equal(d.calls, 42);
    for (int i = 0; i < 3; i++)
        assert_int_equal(c[i].calls, 1);
    ht_close(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_bad_cid),        cmocka_unit_test(t_duplicate),
        cmocka_unit_test(t_never_submitted), cmocka_unit_test(t_sqhd),
        cmocka_unit_test(t_sqid),           cmocka_unit_test(t_phase),
        cmocka_unit_test(t_admin_queue),    cmocka_unit_test(t_surprise_removal),
        cmocka_unit_test(t_fatal_status),   cmocka_unit_test(t_doorbell_refused),
        cmocka_unit_test(t_garbage_cq),     cmocka_unit_test(t_create_sq_refused),
        cmocka_unit_test(t_create_cleanup_lost), cmocka_unit_test(t_create_sq_malformed),
        cmocka_unit_test(t_cqe_for_deleted_queue), cmocka_unit_test(t_cqe_after_qid_reuse),
        cmocka_unit_test(t_phase_out_of_order), cmocka_unit_test(t_phase_early_flip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
