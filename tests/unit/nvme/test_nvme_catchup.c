/* A queue pair catching up with a reset (capdrv_nvme_ctrl_opts::
 * qpair_threads; capdrv/nvme.h "Threads"), over the in-process shim and the
 * sim's NVMe controller, which completes commands inside the doorbell
 * write: a command submitted before the reset was completed by the
 * controller before it stopped, and its completion sits unreaped in the
 * old completion queue. Cases a review found:
 * - a callback that submits again while the pair catches up gets
 *   -CAPDRV_EBUSY (not a second, nested catch-up that cancelled the new
 *   command and left the pair broken), and the pair works afterwards;
 * - destroying a pair that has not caught up delivers that completion with
 *   its real status, as the default mode does;
 * - after a reset a pair takes no new work until its owner polls. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "nvme_rig.h"

#ifndef NVME_MANIFEST
#error "NVME_MANIFEST must name the compiled manifest"
#endif

struct ctx {
    struct capdrv_nvme_qpair *qp;
    struct capdrv_dma_seg seg;
    int a_done, a_status, b_done, b_status, b_submit_rc;
};

static void cb_b(void *arg, const struct capdrv_nvme_cpl *cpl)
{
    struct ctx *x = arg;
    x->b_done++;
    x->b_status = cpl->status;
}

/* A keep-the-queue-busy callback: submits B when A completes. */
static void cb_a(void *arg, const struct capdrv_nvme_cpl *cpl)
{
    struct ctx *x = arg;
    x->a_done++;
    x->a_status = cpl->status;
    if (x->a_done == 1)
        x->b_submit_rc = capdrv_nvme_write(x->qp, 1, 8, 1, &x->seg, 1, cb_b, x);
}

static void up(struct nvme_rig *r, struct ctx *x, bool threads)
{
    struct nvme_rig_opts o = {.ctrl = {.io_queues = 2, .qpair_threads = threads}};
    nvme_rig_up(r, NVME_MANIFEST, &o);
    memset(x, 0, sizeof *x);
    struct capdrv_nvme_qpair_opts qo = {.depth = 8, .auto_ring = true};
    assert_int_equal(capdrv_nvme_qpair_create(r->c, &qo, &x->qp), 0);
    struct capdrv_dmabuf_info bi;
    (void)nvme_rig_alloc(r, 4096, &bi);
    x->seg = (struct capdrv_dma_seg){capdrv_dma_ref(&bi, 0), 512};
}

static void t_resubmit_while_catching_up(void **state)
{
    (void)state;
    struct nvme_rig r;
    struct ctx x;
    up(&r, &x, true);
    assert_int_equal(capdrv_nvme_write(x.qp, 1, 0, 1, &x.seg, 1, cb_a, &x), 0);
    assert_int_equal(capdrv_nvme_ctrl_reset(r.c), 0);
    assert_int_equal(x.a_done, 0); /* the owner has not caught up yet */
    /* New work waits for the owner's poll. */
    assert_int_equal(capdrv_nvme_write(x.qp, 1, 16, 1, &x.seg, 1, cb_b, &x), -CAPDRV_EBUSY);
    assert_int_equal(capdrv_nvme_qpair_poll(x.qp, 0), 1);
    assert_int_equal(x.a_done, 1);
    assert_int_equal(x.a_status, 0);          /* completed before the controller stopped */
    assert_int_equal(x.b_submit_rc, -CAPDRV_EBUSY); /* from inside the catch-up */
    struct capdrv_nvme_qpair_info qi;
    assert_int_equal(capdrv_nvme_qpair_info(x.qp, &qi), 0);
    assert_false(qi.broken);
    assert_int_equal(qi.inflight, 0);
    /* The pair works: a fresh command completes once, successfully. */
    assert_int_equal(capdrv_nvme_write(x.qp, 1, 16, 1, &x.seg, 1, cb_b, &x), 0);
    assert_int_equal(capdrv_nvme_qpair_wait(x.qp, -1), 1);
    assert_int_equal(x.b_done, 1);
    assert_int_equal(x.b_status, 0);
    assert_int_equal(capdrv_nvme_qpair_destroy(x.qp), 0);
    nvme_rig_down(&r);
}

static void destroy_before_catch_up(bool threads)
{
    struct nvme_rig r;
    struct ctx x;
    up(&r, &x, threads);
    assert_int_equal(capdrv_nvme_write(x.qp, 1, 0, 1, &x.seg, 1, cb_b, &x), 0);
    assert_int_equal(capdrv_nvme_ctrl_reset(r.c), 0);
    assert_int_equal(capdrv_nvme_qpair_destroy(x.qp), 0);
    assert_int_equal(x.b_done, 1);
    assert_int_equal(x.b_status, 0); /* the controller's real status, both modes */
    nvme_rig_down(&r);
}

static void t_destroy_before_catch_up(void **state)
{
    (void)state;
    destroy_before_catch_up(false);
    destroy_before_catch_up(true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_resubmit_while_catching_up),
        cmocka_unit_test(t_destroy_before_catch_up),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
