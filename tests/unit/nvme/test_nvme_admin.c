/* NVMe admin commands (src/nvme/admin.c, admin_cmds.c, dbbuf.c) against
 * the fake controller: Identify, namespace list and info, features, log
 * pages, Abort, passthru, asynchronous events and Doorbell Buffer Config
 * (NVMe Base 2.0 §5; NVM Command Set 1.0 §4.1.5). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "fake_nvme.h"

struct at {
    struct fn *f;
    struct capdrv_nvme_ctrl *c;
    char why[160];
};

static void at_open(struct at *t, const struct capdrv_nvme_ctrl_opts *o)
{
    memset(t, 0, sizeof *t);
    t->f = fn_new(CAPDRV_LANE_BROKERED);
    assert_non_null(t->f);
    t->f->nn = 2;
    fn_identity(t->f);
    assert_int_equal(fn_open(t->f, o, &t->c, t->why, sizeof t->why), 0);
}

static void at_close(struct at *t)
{
    capdrv_nvme_ctrl_close(t->c);
    assert_int_equal(fn_live_bufs(t->f), 0);
    fn_free(t->f);
}

static void t_identify_ns(void **state)
{
    (void)state;
    struct at t;
    at_open(&t, NULL);
    struct capdrv_nvme_id_ctrl *id = malloc(sizeof *id);
    assert_int_equal(capdrv_nvme_identify(t.c, CAPDRV_NVME_CNS_CTRL, 0, id), 0);
    assert_int_equal(id->vid, 0x1b36);
    assert_int_equal(id->nn, 2);
    assert_int_equal(t.f->last_admin_opc, 0x06);
    assert_int_equal(t.f->last_cdw10, 1);
    /* Unknown CNS: the controller's status comes back as -CAPDRV_EIO. */
    assert_int_equal(capdrv_nvme_identify(t.c, 0x55, 0, id), -CAPDRV_EIO);
    free(id);

    uint32_t ids[8];
    assert_int_equal(capdrv_nvme_ns_list(t.c, 0, ids, 8), 2);
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[1], 2);
    assert_int_equal(capdrv_nvme_ns_list(t.c, 1, ids, 8), 1);
    assert_int_equal(ids[0], 2);
    assert_int_equal(capdrv_nvme_ns_list(t.c, 0, ids, 1), 1);
    assert_int_equal(capdrv_nvme_ns_list(t.c, 2, ids, 8), 0);
    assert_int_equal(capdrv_nvme_ns_list(t.c, 0xfffffffeu, ids, 8), -CAPDRV_EINVAL);

    struct capdrv_nvme_ns_info ns;
    assert_int_equal(capdrv_nvme_ns_info(t.c, 2, &ns), 0);
    assert_int_equal(ns.nsid, 2);
    assert_int_equal(ns.lba_count, FN_NS_BLOCKS);
    assert_int_equal(ns.lba_size, 512);
    assert_int_equal(ns.lba_shift, 9);
    assert_int_equal(ns.ms, 0);
    assert_false(ns.extended);
    /* NN is 2, so NSID 3 is outside: Invalid Namespace; an inactive one
     * within NN reads as zeroes and gives ENOENT. */
    t.f->nn = 1;
    assert_int_equal(capdrv_nvme_ns_info(t.c, 2, &ns), -CAPDRV_ENOENT);
    assert_int_equal(capdrv_nvme_ns_info(t.c, 0, &ns), -CAPDRV_EINVAL);
    /* 4 KiB blocks. */
    t.f->lba_shift = 12;
    assert_int_equal(capdrv_nvme_ns_info(t.c, 1, &ns), 0);
    assert_int_equal(ns.lba_size, 4096);
    /* A malformed LBADS is refused. */
    t.f->lba_shift = 7;
    assert_int_equal(capdrv_nvme_ns_info(t.c, 1, &ns), -CAPDRV_EPROTO);
    at_close(&t);
}

static void t_features_logs(void **state)
{
    (void)state;
    struct at t;
    at_open(&t, NULL);
    uint32_t dw0 = 0;
    assert_int_equal(capdrv_nvme_set_features(t.c, CAPDRV_NVME_FEAT_TEMP_THRESH, 0, 0x157, NULL,
                                              0, &dw0),
                     0);
    assert_int_equal(t.f->last_cdw11, 0x157);
    assert_int_equal(capdrv_nvme_get_features(t.c, CAPDRV_NVME_FEAT_TEMP_THRESH, 0, 0, NULL, 0,
                                              &dw0),
                     0);
    assert_int_equal(dw0, 0x157);
    assert_int_equal(capdrv_nvme_get_features(t.c, CAPDRV_NVME_FEAT_NUM_QUEUES, 0, 0, NULL, 0,
                                              &dw0),
                     0);
    assert_int_equal(dw0, 0);
    /* The library owns Number of Queues. */
    assert_int_equal(capdrv_nvme_set_features(t.c, CAPDRV_NVME_FEAT_NUM_QUEUES, 0, 0, NULL, 0,
                                              NULL),
                     -CAPDRV_EINVAL);
    assert_int_equal(capdrv_nvme_get_features(t.c, 0, 0, 0, NULL, 0, &dw0), -CAPDRV_EIO);

    struct capdrv_nvme_smart_log smart;
    assert_int_equal(capdrv_nvme_get_log_page(t.c, CAPDRV_NVME_LOG_SMART, 0xffffffffu, 0, &smart,
                                              sizeof smart),
                     0);
    assert_int_equal(smart.critical_warning, 2);
    assert_int_equal(smart.temperature[0] | smart.temperature[1] << 8, 310);
    assert_int_equal(smart.avail_spare, 100);
    assert_int_equal(smart.power_on_hours[0], 42);
    /* NUMD 0's based: 512 bytes = 128 dwords. */
    assert_int_equal(t.f->last_cdw10, 0x02u | 127u << 16);
    struct capdrv_nvme_error_log_entry err[4];
    assert_int_equal(capdrv_nvme_get_log_page(t.c, CAPDRV_NVME_LOG_ERROR, 0, 0, err, sizeof err),
                     0);
    assert_int_equal(err[0].error_count, 7);
    assert_int_equal(err[0].cmdid, 0x1234);
    /* With an offset. */
    uint8_t part[8];
    assert_int_equal(capdrv_nvme_get_log_page(t.c, CAPDRV_NVME_LOG_FW_SLOT, 0, 8, part, 8), 0);
    assert_memory_equal(part, "capdrv01", 8);
    assert_int_equal(capdrv_nvme_get_log_page(t.c, 0x7f, 0, 0, part, 8), -CAPDRV_EIO);
    assert_int_equal(capdrv_nvme_get_log_page(t.c, 2, 0, 0, part, 6), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_nvme_get_log_page(t.c, 2, 0, 0, part, 0), -CAPDRV_EINVAL);
    assert_int_equal(t.f->bad_dma, 0);
    at_close(&t);
}

static void t_abort_passthru(void **state)
{
    (void)state;
    struct at t;
    at_open(&t, NULL);
    struct capdrv_nvme_ns_info ns;
    assert_int_equal(capdrv_nvme_ns_info(t.c, 1, &ns), 0);
    struct capdrv_nvme_qpair *qp;
    struct capdrv_nvme_qpair_opts qo = {.polling = true};
    assert_int_equal(capdrv_nvme_qpair_create(t.c, &qo, &qp), 0);
    /* A held Flush, aborted by hand (§5.1): Abort answers "aborted" and the
     * command completes with Command Abort Requested. */
    t.f->hold_qid = 1;
    t.f->hold_opc = 0x00;
    struct fn_done d = {0};
    assert_int_equal(capdrv_nvme_flush(qp, 1, fn_done_cb, &d), 0);
    assert_int_equal(capdrv_nvme_qpair_ring(qp), 1);
    assert_int_equal(capdrv_nvme_qpair_poll(qp, 0), 0);
    assert_int_equal(fn_held_count(t.f), 1);
    struct capdrv_nvme_qpair_info qi;
    capdrv_nvme_qpair_info(qp, &qi);
    assert_int_equal(qi.inflight, 1);
    uint16_t cid = t.f->held[0].cid;
    uint32_t dw0 = 7;
    assert_int_equal(capdrv_nvme_abort(t.c, 1, cid, &dw0), 0);
    assert_int_equal(dw0, 0);
    assert_int_equal(t.f->last_cdw10, 1u | (uint32_t)cid << 16);
    assert_int_equal(capdrv_nvme_qpair_poll(qp, 0), 1);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.status, -CAPDRV_EIO);
    assert_int_equal(d.sct, 0);
    assert_int_equal(d.sc, CAPDRV_NVME_SC_ABORT_REQ);
    assert_int_equal(d.cid, cid);
    /* Abort of nothing: dw0 bit 0 says not aborted. */
    assert_int_equal(capdrv_nvme_abort(t.c, 1, 0x777, &dw0), 0);
    assert_int_equal(dw0 & 1u, 1);
    t.f->hold_qid = -2;

    /* Passthru: Keep Alive without data; Identify with data; errors. */
    struct capdrv_nvme_sqe sqe = {.opc = CAPDRV_NVME_ADMIN_KEEP_ALIVE};
    struct capdrv_nvme_cqe cqe;
    assert_int_equal(capdrv_nvme_admin_passthru(t.c, &sqe, NULL, 0, &cqe), 0);
    assert_int_equal(cqe.status, 0);
    uint8_t *buf = calloc(1, 4096);
    sqe = (struct capdrv_nvme_sqe){.opc = CAPDRV_NVME_ADMIN_IDENTIFY, .cdw10 = 1};
    sqe.dptr.prp.prp1 = 0xdeadbeef000ull; /* ignored: the library's buffer is used */
    assert_int_equal(capdrv_nvme_admin_passthru(t.c, &sqe, buf, 4096, &cqe), 0);
    assert_int_equal(buf[0] | buf[1] << 8, 0x1b36);
    free(buf);
    sqe = (struct capdrv_nvme_sqe){.opc = 0xc1};
    assert_int_equal(capdrv_nvme_admin_passthru(t.c, &sqe, NULL, 0, &cqe), -CAPDRV_EIO);
    assert_int_equal((cqe.status & CAPDRV_NVME_CQE_SC_MASK) >> CAPDRV_NVME_CQE_SC_SHIFT,
                     CAPDRV_NVME_SC_INVALID_OPCODE);
    static const uint8_t refused[] = {0x00, 0x01, 0x04, 0x05, 0x0c, 0x7c};
    for (unsigned i = 0; i < sizeof refused; i++) {
        sqe = (struct capdrv_nvme_sqe){.opc = refused[i]};
        assert_int_equal(capdrv_nvme_admin_passthru(t.c, &sqe, NULL, 0, &cqe), -CAPDRV_EPERM);
    }
    sqe = (struct capdrv_nvme_sqe){.opc = CAPDRV_NVME_ADMIN_SET_FEATURES, .cdw10 = 7};
    assert_int_equal(capdrv_nvme_admin_passthru(t.c, &sqe, NULL, 0, &cqe), -CAPDRV_EPERM);
    uint8_t big[8];
    sqe = (struct capdrv_nvme_sqe){.opc = CAPDRV_NVME_ADMIN_KEEP_ALIVE};
    assert_int_equal(capdrv_nvme_admin_passthru(t.c, &sqe, big, CAPDRV_NVME_ADMIN_XFER_MAX + 4u,
                                                &cqe),
                     -CAPDRV_EINVAL);
    assert_int_equal(t.f->bad_dma, 0);
    assert_int_equal(capdrv_nvme_qpair_destroy(qp), 0);
    at_close(&t);
}

static void t_async_events(void **state)
{
    (void)state;
    struct at t;
    at_open(&t, NULL);
    struct capdrv_nvme_event ev[4];
    assert_int_equal(capdrv_nvme_ctrl_events(t.c, ev, 4), 0);
    assert_int_equal(capdrv_nvme_ctrl_wait_event(t.c, 5000000), -CAPDRV_ETIMEDOUT);
    /* A SMART event (§5.2.1): type 1, info 1, log page 02h. */
    fn_event(t.f, 0x00020101u);
    assert_int_equal(t.f->n_aer, 3);
    assert_int_equal(capdrv_nvme_ctrl_process_admin(t.c), 1);
    assert_int_equal(t.f->n_aer, 4); /* re-armed */
    assert_int_equal(capdrv_nvme_ctrl_events(t.c, ev, 4), 1);
    assert_int_equal(ev[0].type, CAPDRV_NVME_AER_SMART);
    assert_int_equal(ev[0].info, 1);
    assert_int_equal(ev[0].log_page, 2);
    assert_int_equal(ev[0].dw0, 0x00020101u);
    /* Masked until the log is read (RAE clear re-enables it). */
    fn_event(t.f, 0x00020101u);
    assert_int_equal(capdrv_nvme_ctrl_process_admin(t.c), 0);
    struct capdrv_nvme_smart_log smart;
    assert_int_equal(capdrv_nvme_get_log_page(t.c, 2, 0xffffffffu, 0, &smart, sizeof smart), 0);
    assert_int_equal(t.f->last_cdw10 & 0x8000u, 0);
    fn_event(t.f, 0x00020101u);
    /* An event met while a synchronous command waits is queued too. */
    fn_event(t.f, 0x00010000u);
    assert_int_equal(capdrv_nvme_ctrl_wait_event(t.c, -1), 2);
    assert_int_equal(capdrv_nvme_ctrl_events(t.c, ev, 1), 1);
    assert_int_equal(ev[0].type, CAPDRV_NVME_AER_SMART);
    assert_int_equal(capdrv_nvme_ctrl_events(t.c, ev, 4), 1);
    assert_int_equal(ev[0].type, CAPDRV_NVME_AER_ERROR);
    assert_int_equal(t.f->n_aer, 4);
    at_close(&t);

    /* aer_slots and AERL limit what is kept outstanding; a controller that
     * refuses an AER (limit exceeded) is not asked again. */
    struct capdrv_nvme_ctrl_opts o = {.pool = FN_POOL, .aer_slots = 1};
    at_open(&t, &o);
    assert_int_equal(t.f->n_aer, 1);
    at_close(&t);
    t.f = fn_new(CAPDRV_LANE_BROKERED);
    t.f->id_ctrl[259] = 0; /* AERL 0: one */
    assert_int_equal(fn_open(t.f, NULL, &t.c, t.why, sizeof t.why), 0);
    struct capdrv_nvme_ctrl_info in;
    capdrv_nvme_ctrl_info(t.c, &in);
    assert_int_equal(in.aer_slots, 1);
    assert_int_equal(t.f->n_aer, 1);
    at_close(&t);
}

static void t_event_overflow(void **state)
{
    (void)state;
    struct at t;
    at_open(&t, NULL);
    /* Distinct notice events (type 2 masks only itself once; use vendor
     * type 7 after each read of nothing: the fake masks per type, so post
     * types 0..7 repeatedly clearing the mask by hand). */
    for (unsigned i = 0; i < CAPDRV_NVME_EVENT_QUEUE + 3u; i++) {
        t.f->ev_masked = 0;
        fn_event(t.f, 0x7u | i << 8);
        assert_true(capdrv_nvme_ctrl_process_admin(t.c) >= 0);
    }
    struct capdrv_nvme_ctrl_info in;
    capdrv_nvme_ctrl_info(t.c, &in);
    assert_int_equal(in.events_dropped, 3);
    struct capdrv_nvme_event ev[CAPDRV_NVME_EVENT_QUEUE + 3u];
    assert_int_equal(capdrv_nvme_ctrl_events(t.c, ev, CAPDRV_NVME_EVENT_QUEUE + 3u),
                     CAPDRV_NVME_EVENT_QUEUE);
    assert_int_equal(ev[0].info, 0);
    assert_int_equal(ev[CAPDRV_NVME_EVENT_QUEUE - 1u].info, CAPDRV_NVME_EVENT_QUEUE - 1u);
    at_close(&t);
}

static void rw_once(struct at *t, struct capdrv_nvme_qpair *qp, struct capdrv_dmabuf_info *bi,
                    bool write, uint64_t lba, uint8_t fill)
{
    struct fn_done d = {0};
    struct capdrv_dma_seg seg = {bi->ref_base, 512};
    if (write)
        memset(bi->cpu, fill, 512);
    int rc = write ? capdrv_nvme_write(qp, 1, lba, 1, &seg, 1, fn_done_cb, &d)
                   : capdrv_nvme_read(qp, 1, lba, 1, &seg, 1, fn_done_cb, &d);
    assert_int_equal(rc, 0);
    assert_int_equal(capdrv_nvme_qpair_wait(qp, -1), 1);
    assert_int_equal(d.status, 0);
    (void)t;
}

static void t_shadow_doorbells(void **state)
{
    (void)state;
    struct at t;
    /* Not offered (OACS bit 8 clear): plain doorbells. */
    struct capdrv_nvme_ctrl_opts o = {.pool = FN_POOL, .shadow_doorbells = true};
    at_open(&t, &o);
    struct capdrv_nvme_ctrl_info in;
    capdrv_nvme_ctrl_info(t.c, &in);
    assert_false(in.shadow_doorbells);
    assert_int_equal(in.shadow_doorbells_err, -CAPDRV_ENOTSUP);
    at_close(&t);

    t.f = fn_new(CAPDRV_LANE_DIRECT);
    fn_id_set(t.f, 256, 2, 0x100);
    assert_int_equal(fn_open(t.f, &o, &t.c, t.why, sizeof t.why), 0);
    capdrv_nvme_ctrl_info(t.c, &in);
    assert_true(in.shadow_doorbells);
    assert_int_equal(in.shadow_doorbells_err, 0);
    assert_true(t.f->dbbuf);
    struct capdrv_nvme_ns_info ns;
    assert_int_equal(capdrv_nvme_ns_info(t.c, 1, &ns), 0);
    struct capdrv_nvme_qpair *qp;
    assert_int_equal(capdrv_nvme_qpair_create(t.c, NULL, &qp), 0);
    struct capdrv_dmabuf_info bi;
    assert_int_equal(fn_alloc(t.f, 4096, &bi), 0);
    /* EventIdx follows each doorbell: every update still needs MMIO. */
    unsigned db0 = t.f->sq_doorbells;
    rw_once(&t, qp, &bi, true, 3, 0xa5);
    assert_int_equal(t.f->sq_doorbells, db0 + 1);
    /* Lazy EventIdx: the controller polls the shadow buffer; no MMIO. */
    t.f->dbbuf_lazy = true;
    rw_once(&t, qp, &bi, false, 3, 0); /* this one still rings: EventIdx was current */
    db0 = t.f->sq_doorbells;
    unsigned cq0 = t.f->cq_doorbells;
    for (unsigned i = 0; i < 5; i++) {
        memset(bi.cpu, 0, 512);
        rw_once(&t, qp, &bi, false, 3, 0);
        assert_int_equal(((uint8_t *)bi.cpu)[100], 0xa5);
    }
    assert_int_equal(t.f->sq_doorbells, db0);
    assert_int_equal(t.f->cq_doorbells, cq0);
    /* After a reset the buffer is configured again. */
    assert_int_equal(capdrv_nvme_ctrl_reset(t.c), 0);
    assert_true(t.f->dbbuf);
    rw_once(&t, qp, &bi, false, 3, 0);
    assert_int_equal(t.f->bad_accesses, 0);
    at_close(&t);
}

/* Interrupt Coalescing (Base 2.0 §5.27.1.6, FID 08h): CDW11 = THR (7:0,
 * 0's based) | TIME (15:8, 100 us units), SV clear; Get Features with SEL
 * 000b, the reserved DW0 bits 31:16 ignored. */
static void t_irq_coalescing(void **state)
{
    (void)state;
    struct at t;
    at_open(&t, NULL);
    assert_int_equal(capdrv_nvme_set_irq_coalescing(t.c, 0x12, 0x34), 0);
    assert_int_equal(t.f->last_admin_opc, CAPDRV_NVME_ADMIN_SET_FEATURES);
    assert_int_equal(t.f->last_cdw10, 0x08u);
    assert_int_equal(t.f->last_cdw11, 0x3412u);
    assert_int_equal(t.f->feat[0x08], 0x3412u);
    unsigned thr = 99, time = 99;
    assert_int_equal(capdrv_nvme_get_irq_coalescing(t.c, &thr, &time), 0);
    assert_int_equal(t.f->last_admin_opc, CAPDRV_NVME_ADMIN_GET_FEATURES);
    assert_int_equal(t.f->last_cdw10, 0x08u);
    assert_int_equal(thr, 0x12);
    assert_int_equal(time, 0x34);
    /* The extremes; then what a controller reports with reserved bits set. */
    assert_int_equal(capdrv_nvme_set_irq_coalescing(t.c, 255, 255), 0);
    assert_int_equal(t.f->last_cdw11, 0xffffu);
    assert_int_equal(capdrv_nvme_set_irq_coalescing(t.c, 0, 1), 0);
    assert_int_equal(t.f->last_cdw11, 0x0100u);
    assert_int_equal(capdrv_nvme_set_irq_coalescing(t.c, 7, 0), 0);
    assert_int_equal(t.f->last_cdw11, 0x0007u);
    t.f->feat[0x08] = 0xabcd5a01u;
    assert_int_equal(capdrv_nvme_get_irq_coalescing(t.c, &thr, &time), 0);
    assert_int_equal(thr, 0x01);
    assert_int_equal(time, 0x5a);
    /* Out of range: refused before anything is sent. */
    unsigned cmds = t.f->admin_cmds;
    assert_int_equal(capdrv_nvme_set_irq_coalescing(t.c, 256, 0), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_nvme_set_irq_coalescing(t.c, 0, 256), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_nvme_set_irq_coalescing(NULL, 0, 0), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_nvme_get_irq_coalescing(t.c, NULL, &time), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_nvme_get_irq_coalescing(t.c, &thr, NULL), -CAPDRV_EINVAL);
    assert_int_equal(t.f->admin_cmds, cmds);
    /* A controller that fails them: -CAPDRV_EIO, outputs untouched. */
    t.f->fail_qid = 0;
    t.f->fail_opc = -1;
    t.f->fail_status = 0x0002;
    t.f->fail_count = 2;
    assert_int_equal(capdrv_nvme_set_irq_coalescing(t.c, 1, 1), -CAPDRV_EIO);
    thr = time = 77;
    assert_int_equal(capdrv_nvme_get_irq_coalescing(t.c, &thr, &time), -CAPDRV_EIO);
    assert_int_equal(thr, 77);
    assert_int_equal(time, 77);
    at_close(&t);
}

/* Doorbell Buffer Config offered but refused: by the controller with a
 * status (-CAPDRV_EIO), or by the kernel at the admin SQ doorbell (the
 * shim's -CAPDRV_EPERM; -CAPDRV_EFAULT for a refused reference). Open
 * succeeds with plain doorbells, the reason is reported, the admin queue
 * stays healthy, and after a kernel refusal a reset does not ask again. */
static void t_shadow_doorbells_refused(void **state)
{
    (void)state;
    static const int kernel_rc[] = {-CAPDRV_EPERM, -CAPDRV_EFAULT};
    struct capdrv_nvme_ctrl_opts o = {.pool = FN_POOL, .shadow_doorbells = true};
    struct capdrv_nvme_ctrl_info in;
    struct at t;
    /* The controller fails it with Invalid Field in Command. */
    t.f = fn_new(CAPDRV_LANE_BROKERED);
    fn_id_set(t.f, 256, 2, 0x100);
    t.f->fail_qid = 0;
    t.f->fail_opc = CAPDRV_NVME_ADMIN_DBBUF_CONFIG;
    t.f->fail_status = 0x0002;
    t.f->fail_count = 1;
    assert_int_equal(fn_open(t.f, &o, &t.c, t.why, sizeof t.why), 0);
    capdrv_nvme_ctrl_info(t.c, &in);
    assert_false(in.shadow_doorbells);
    assert_int_equal(in.shadow_doorbells_err, -CAPDRV_EIO);
    at_close(&t);
    for (unsigned k = 0; k < sizeof kernel_rc / sizeof kernel_rc[0]; k++) {
        t.f = fn_new(CAPDRV_LANE_BROKERED);
        fn_id_set(t.f, 256, 2, 0x100);
        t.f->refuse_opc = CAPDRV_NVME_ADMIN_DBBUF_CONFIG;
        t.f->refuse_rc = kernel_rc[k];
        assert_int_equal(fn_open(t.f, &o, &t.c, t.why, sizeof t.why), 0);
        assert_int_equal(t.f->refused, 1);
        assert_false(t.f->dbbuf);
        capdrv_nvme_ctrl_info(t.c, &in);
        assert_false(in.shadow_doorbells);
        assert_int_equal(in.shadow_doorbells_err, kernel_rc[k]);
        /* The admin queue took the command back: the AERs went out
         * after it and the next admin commands complete. */
        assert_int_equal(t.f->n_aer, in.aer_slots);
        uint8_t id[CAPDRV_NVME_IDENTIFY_BYTES];
        assert_int_equal(capdrv_nvme_identify(t.c, CAPDRV_NVME_CNS_CTRL, 0, id), 0);
        struct capdrv_nvme_ns_info ns;
        assert_int_equal(capdrv_nvme_ns_info(t.c, 1, &ns), 0);
        struct capdrv_nvme_qpair *qp;
        assert_int_equal(capdrv_nvme_qpair_create(t.c, NULL, &qp), 0);
        struct capdrv_dmabuf_info bi;
        assert_int_equal(fn_alloc(t.f, 4096, &bi), 0);
        unsigned db0 = t.f->sq_doorbells;
        rw_once(&t, qp, &bi, true, 5, 0x5a);
        assert_int_equal(t.f->sq_doorbells, db0 + 1); /* plain MMIO doorbell */
        assert_int_equal(fn_disk(t.f, 1)[5 * 512], 0x5a);
        assert_int_equal(capdrv_nvme_ctrl_reset(t.c), 0);
        assert_int_equal(t.f->refused, 1);
        capdrv_nvme_ctrl_info(t.c, &in);
        assert_int_equal(in.shadow_doorbells_err, kernel_rc[k]);
        rw_once(&t, qp, &bi, false, 5, 0);
        assert_int_equal(t.f->bad_accesses, 0);
        at_close(&t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_identify_ns),    cmocka_unit_test(t_features_logs),
        cmocka_unit_test(t_abort_passthru), cmocka_unit_test(t_async_events),
        cmocka_unit_test(t_event_overflow), cmocka_unit_test(t_shadow_doorbells),
        cmocka_unit_test(t_shadow_doorbells_refused), cmocka_unit_test(t_irq_coalescing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
