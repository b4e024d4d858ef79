/* I/O queue pairs: creation and deletion on the controller (NVMe Base 2.0
 * §5.4 Create I/O Completion Queue, §5.5 Create I/O Submission Queue,
 * §5.6/§5.7 Delete I/O CQ/SQ), interrupt routing, and the ring/poll/wait calls with
 * per-command deadlines. Submissions: io.c. */
#include "nvme_internal.h"

#include <stdlib.h>
#include <string.h>

/* Runs one queue-management command. Returns its status and sets
 * @p settled when an intact completion arrived: a status error then means
 * the controller refused it (it changed nothing); without one the outcome
 * is unknown. */
static int queue_cmd(struct capdrv_nvme_ctrl *c, struct capdrv_nvme_sqe *e, bool *settled)
{
    struct nvme_sync s;
    int rc = nvme_admin_sync(c, e, NULL, 0, NVME_DIR_NONE, &s);
    /* A command the kernel refused at the doorbell and the admin path took
     * back never reached the controller: settled too. */
    *settled = s.done || (nvme_kernel_refusal(rc) && !c->aq.broken);
    return rc;
}

static int create_cq(struct capdrv_nvme_qpair *qp, bool *settled)
{
    struct nvme_queue *q = &qp->q;
    struct capdrv_nvme_sqe e;
    memset(&e, 0, sizeof e);
    e.opc = CAPDRV_NVME_ADMIN_CREATE_CQ;
    e.dptr.prp.prp1 = capdrv_nvme_cpu_to_le64(capdrv_dma_ref(&q->qbi, q->cq_off));
    /* §5.4: CDW10 QSIZE 31:16 (0's based) and QID 15:0; CDW11 IV 31:16,
     * IEN bit 1, PC bit 0 (physically contiguous). */
    e.cdw10 = capdrv_nvme_cpu_to_le32((uint32_t)(q->depth - 1u) << 16 | q->qid);
    uint32_t cdw11 = 1u;
    if (q->vector >= 0)
        cdw11 |= (uint32_t)q->vector << 16 | 2u;
    e.cdw11 = capdrv_nvme_cpu_to_le32(cdw11);
    return queue_cmd(q->c, &e, settled);
}

static int create_sq(struct capdrv_nvme_qpair *qp, bool *settled)
{
    struct nvme_queue *q = &qp->q;
    struct capdrv_nvme_sqe e;
    memset(&e, 0, sizeof e);
    e.opc = CAPDRV_NVME_ADMIN_CREATE_SQ;
    e.dptr.prp.prp1 = capdrv_nvme_cpu_to_le64(capdrv_dma_ref(&q->qbi, q->sq_off));
    /* §5.5: CDW10 QSIZE/QID as above; CDW11 CQID 31:16, QPRIO 2:1 (ignored
     * with round robin), PC bit 0. */
    e.cdw10 = capdrv_nvme_cpu_to_le32((uint32_t)(q->depth - 1u) << 16 | q->qid);
    e.cdw11 = capdrv_nvme_cpu_to_le32((uint32_t)q->qid << 16 | 1u);
    return queue_cmd(q->c, &e, settled);
}

static int delete_queue(struct capdrv_nvme_ctrl *c, uint8_t opc, uint16_t qid)
{
    struct capdrv_nvme_sqe e;
    memset(&e, 0, sizeof e);
    e.opc = opc;
    e.cdw10 = capdrv_nvme_cpu_to_le32(qid);
    bool settled;
    return queue_cmd(c, &e, &settled);
}

/* The CQ must exist before its SQ (§5.5: Completion Queue Invalid). On
 * failure *@p held tells whether the controller may still use the queue
 * memory: a Create it may have carried out (accepted, or no intact
 * completion) whose Delete did not succeed. *@p touched tells whether any
 * Create may have taken effect at all (the memory was then handed to the
 * controller, even if it has since been deleted). */
int nvme_qpair_create_hw(struct capdrv_nvme_qpair *qp, bool *held, bool *touched)
{
    struct capdrv_nvme_ctrl *c = qp->q.c;
    bool settled = false;
    *held = *touched = false;
    nvme_dbbuf_attach(c, &qp->q);
    int rc = create_cq(qp, &settled);
    if (rc < 0) {
        /* Refused with a status: nothing was created. */
        *held = *touched = !settled;
        return rc;
    }
    *touched = true;
    if ((rc = create_sq(qp, &settled)) == 0)
        return 0;
    /* §5.6: a CQ cannot be deleted while an SQ uses it; an SQ whose
     * Create had no intact completion may exist, so delete it first. */
    if (!settled && delete_queue(c, CAPDRV_NVME_ADMIN_DELETE_SQ, qp->q.qid) < 0)
        *held = true;
    else if (delete_queue(c, CAPDRV_NVME_ADMIN_DELETE_CQ, qp->q.qid) < 0)
        *held = true;
    return rc;
}

static void route_irq(struct capdrv_nvme_ctrl *c, struct nvme_queue *q, bool polling)
{
    q->vector = -1;
    q->irq = CAPDRV_CAP_INVALID;
    if (polling || c->o.polling)
        return;
    /* Queue id q takes vector q; beyond the vectors the library uses,
     * pairs share them round robin. */
    unsigned v = q->qid < NVME_MAX_VECTORS ? q->qid : 1u + (q->qid - 1u) % (NVME_MAX_VECTORS - 1u);
    if (!c->irq[v] && capdrv_irq_open(c->sys, c->grant, v, &c->irq[v]) == 0)
        c->info.n_vectors++;
    if (!c->irq[v])
        v = 0; /* share the admin vector; waits are sliced, so nothing is missed for long */
    if (!c->irq[v])
        return;
    q->vector = (int)v;
    q->irq = c->irq[v];
}

static int resolve(struct capdrv_nvme_ctrl *c, const struct capdrv_nvme_qpair_opts *in,
                   struct capdrv_nvme_qpair *qp)
{
    struct capdrv_nvme_qpair_opts o = in ? *in : (struct capdrv_nvme_qpair_opts){0};
    if (!o.depth)
        o.depth = CAPDRV_NVME_QPAIR_DEPTH_DEFAULT;
    if (o.depth < 2 || o.depth > CAPDRV_NVME_QPAIR_DEPTH_MAX)
        return -CAPDRV_EINVAL;
    if (o.depth > c->info.mqes)
        o.depth = c->info.mqes;
    if (!o.max_segs)
        o.max_segs = CAPDRV_NVME_MAX_SEGS;
    if (o.max_segs > CAPDRV_NVME_MAX_SEGS)
        return -CAPDRV_EINVAL;
    if (!o.max_xfer)
        o.max_xfer = CAPDRV_NVME_MAX_XFER_DEFAULT;
    if (c->info.mdts_bytes && o.max_xfer > c->info.mdts_bytes)
        o.max_xfer = (uint32_t)c->info.mdts_bytes;
    uint64_t page = (uint64_t)1 << c->page_shift;
    int rc = capdrv_prp_cfg_init(&qp->prp, page, o.max_xfer);
    if (rc < 0)
        return rc;
    qp->sgl = o.sgl && c->info.sgl;
    if (qp->sgl && (rc = capdrv_sgl_cfg_init(&qp->sglc, c->info.sgls, (uint32_t)page,
                                             o.max_xfer)) < 0)
        return rc;
    o.sgl = qp->sgl;
    qp->o = o;
    return 0;
}

static unsigned lists_per_slot(const struct capdrv_nvme_qpair *qp)
{
    /* At least one page per slot: DSM ranges live there (NVM §3.2.3). */
    uint64_t n = capdrv_prp_lists_needed(&qp->prp, qp->o.max_xfer);
    if (qp->sgl) {
        uint64_t s = capdrv_sgl_lists_needed(&qp->sglc, qp->o.max_segs);
        if (s > n)
            n = s;
    }
    return n ? (unsigned)n : 1u;
}

static int qpair_create(struct capdrv_nvme_ctrl *c, const struct capdrv_nvme_qpair_opts *o,
                        struct capdrv_nvme_qpair **out)
{
    int rc = nvme_health(c);
    if (rc < 0)
        return rc;
    uint16_t qid = 0;
    for (unsigned i = 1; i <= c->info.io_queues && !qid; i++)
        if (!c->qid_used[i])
            qid = (uint16_t)i;
    if (!qid)
        return -CAPDRV_ENOSPC;
    if (nvme_doorbell(c, qid, true) + 4u > c->window_len)
        return -CAPDRV_ENOTSUP;
    struct capdrv_nvme_qpair *qp = calloc(1, sizeof *qp);
    if (!qp)
        return -CAPDRV_ENOMEM;
    if ((rc = resolve(c, o, qp)) == 0 && lists_per_slot(qp) > NVME_SLOT_LISTS_MAX)
        rc = -CAPDRV_EINVAL; /* max_xfer too large for the per-slot list pages */
    if (rc < 0 ||
        (rc = nvme_queue_alloc(c, &qp->q, qid, qp->o.depth, lists_per_slot(qp))) < 0) {
        nvme_queue_free(c, &qp->q);
        free(qp);
        return rc;
    }
    route_irq(c, &qp->q, qp->o.polling);
    if (c->o.qpair_threads)
        qp->q.clock = &qp->q.own_clock;
    qp->q.epoch = atomic_load(&c->epoch);
    qp->oncs = c->info.oncs;
    bool held, touched;
    uint64_t resets = c->info.resets;
    if ((rc = nvme_qpair_create_hw(qp, &held, &touched)) < 0) {
        /* Memory the controller may still write must outlive its use: a
         * queue it may hold is taken away by a reset (CC.EN 0, §3.7.2),
         * and memory it was given is kept until the next disable, as
         * after capdrv_nvme_qpair_destroy(). */
        if (touched) {
            nvme_retire(c, &qp->q.qbuf);
            nvme_retire(c, &qp->q.lbuf);
        }
        if (held && c->info.resets == resets && !c->gone) /* (an admin timeout resets) */
            (void)nvme_reset(c, -CAPDRV_ECANCELED);
        nvme_queue_free(c, &qp->q);
        free(qp);
        return rc;
    }
    c->qid_used[qid] = true;
    qp->next = c->qps;
    c->qps = qp;
    *out = qp;
    return 0;
}

int capdrv_nvme_qpair_create(struct capdrv_nvme_ctrl *c, const struct capdrv_nvme_qpair_opts *o,
                             struct capdrv_nvme_qpair **out)
{
    if (out)
        *out = NULL;
    if (!c || !out)
        return -CAPDRV_EINVAL;
    nvme_lock(c);
    int rc = qpair_create(c, o, out);
    nvme_unlock(c);
    return rc;
}

static void unlink_qp(struct capdrv_nvme_ctrl *c, struct capdrv_nvme_qpair *qp)
{
    for (struct capdrv_nvme_qpair **pp = &c->qps; *pp; pp = &(*pp)->next)
        if (*pp == qp) {
            *pp = qp->next;
            return;
        }
}

void nvme_qpairs_abandon(struct capdrv_nvme_ctrl *c)
{
    while (c->qps) {
        struct capdrv_nvme_qpair *qp = c->qps;
        c->qps = qp->next;
        nvme_queue_break(&qp->q, -CAPDRV_ECANCELED, "controller handle abandoned");
        if (qp->q.cmds) {
            nvme_queue_park_all(&qp->q, -CAPDRV_ECANCELED);
            (void)nvme_queue_run_parked(&qp->q);
        }
        nvme_queue_free_heap(&qp->q);
        free(qp);
    }
}

int capdrv_nvme_qpair_destroy(struct capdrv_nvme_qpair *qp)
{
    if (!qp)
        return 0;
    struct capdrv_nvme_ctrl *c = qp->q.c;
    if (qp->q.epoch != atomic_load(&c->epoch) && !c->gone && !qp->q.broken) {
        /* Not caught up with a reset (qpair_threads): what the controller
         * posted before it stopped is real; deliver it (no head doorbell:
         * the queue is gone from the controller), cancel the rest below. */
        qp->q.detached = true;
        (void)nvme_queue_reap(&qp->q, 0);
    }
    nvme_lock(c);
    unlink_qp(c, qp);
    int rc = 0;
    /* A pair that has not caught up with a reset has no queues on the
     * controller any more: nothing to delete. */
    bool current = qp->q.epoch == atomic_load(&c->epoch) && !qp->q.detached;
    if (current && c->enabled && !c->gone && !c->fatal) {
        /* §5.7: deleting the SQ aborts its outstanding commands before the
         * Delete completes; then the CQ may go (§5.6). */
        rc = delete_queue(c, CAPDRV_NVME_ADMIN_DELETE_SQ, qp->q.qid);
        if (rc == 0)
            rc = delete_queue(c, CAPDRV_NVME_ADMIN_DELETE_CQ, qp->q.qid);
        if (rc < 0 && !c->gone) {
            /* The controller may still hold the queue: a reset (CC.EN 0)
             * is the only way to be sure it no longer touches its memory. */
            (void)nvme_reset(c, -CAPDRV_ECANCELED);
        }
    }
    nvme_queue_break(&qp->q, -CAPDRV_ECANCELED, "queue pair destroyed");
    nvme_queue_park_all(&qp->q, c->gone ? -CAPDRV_ENODEV : -CAPDRV_ECANCELED);
    c->qid_used[qp->q.qid] = false;
    /* The queue memory is kept until the controller is next disabled: the
     * kernel may count memory a device has used as in flight until then
     * (releasing it earlier could make it reset the function). */
    nvme_retire(c, &qp->q.qbuf);
    nvme_retire(c, &qp->q.lbuf);
    nvme_unlock(c);
    (void)nvme_queue_run_parked(&qp->q);
    nvme_queue_free(c, &qp->q);
    free(qp);
    return rc;
}

int capdrv_nvme_qpair_info(const struct capdrv_nvme_qpair *qp, struct capdrv_nvme_qpair_info *out)
{
    if (!qp || !out)
        return -CAPDRV_EINVAL;
    memset(out, 0, sizeof *out);
    out->qid = qp->q.qid;
    out->depth = qp->q.depth;
    out->vector = qp->q.vector;
    out->sgl = qp->sgl;
    out->max_xfer = qp->o.max_xfer;
    out->max_segs = qp->o.max_segs;
    out->inflight = qp->q.inflight + qp->q.parked;
    out->unrung = qp->q.unrung;
    out->broken = qp->q.broken;
    return 0;
}

const char *capdrv_nvme_qpair_why(const struct capdrv_nvme_qpair *qp)
{
    return qp && qp->q.broken ? qp->q.why : "";
}

int capdrv_nvme_qpair_ring(struct capdrv_nvme_qpair *qp)
{
    if (!qp)
        return -CAPDRV_EINVAL;
    int rc = nvme_qpair_current(qp);
    if (rc == 0 && (rc = nvme_queue_ring(&qp->q)) == NVME_E_OUTDATED)
        rc = 0; /* a reset took the queue: what was queued completes, cancelled, at the
                 * next poll or wait */
    return rc;
}

int capdrv_nvme_qpair_poll(struct capdrv_nvme_qpair *qp, unsigned max)
{
    if (!qp)
        return -CAPDRV_EINVAL;
    uint64_t done0 = qp->q.completions;
    int rc = nvme_qpair_sync(qp);
    if (qp->q.completions != done0)
        return (int)(qp->q.completions - done0);
    if (rc < 0)
        return rc;
    rc = nvme_queue_reap(&qp->q, max);
    if (nvme_queue_outdated(&qp->q)) {
        /* A reset elsewhere while reaping: catch up now. */
        int src = nvme_qpair_sync(qp);
        if (qp->q.completions != done0)
            return (int)(qp->q.completions - done0);
        return src < 0 ? src : rc;
    }
    return rc;
}

/* Time to the next deadline of an outstanding command (or its Abort). */
static uint64_t next_deadline(const struct nvme_queue *q, uint64_t now)
{
    uint64_t best = UINT64_MAX;
    for (unsigned i = 0; i + 1u < q->depth; i++) {
        const struct nvme_cmd *m = &q->cmds[i];
        if (m->state != CMD_SENT)
            continue;
        uint64_t d = m->timed_out ? m->abort_deadline : m->deadline;
        if (d < best)
            best = d;
    }
    return best == UINT64_MAX ? UINT64_MAX : best > now ? best - now : 1u;
}

int capdrv_nvme_qpair_wait(struct capdrv_nvme_qpair *qp, int64_t timeout_ns)
{
    if (!qp)
        return -CAPDRV_EINVAL;
    struct nvme_queue *q = &qp->q;
    struct capdrv_nvme_ctrl *c = q->c;
    uint64_t done0 = q->completions;
    int rc = nvme_qpair_sync(qp);
    if (q->completions != done0)
        return (int)(q->completions - done0);
    if (rc < 0 || ((rc = nvme_queue_ring(q)) < 0 && rc != NVME_E_OUTDATED))
        return rc; /* NVME_E_OUTDATED: a reset; the loop below catches up */
    /* Acknowledge before reaping: an interrupt raised by completions about
     * to be reaped is consumed, and one raised after the reap stays
     * pending and ends the next sleep at once (nothing is missed). */
    if (q->irq)
        (void)capdrv_irq_ack(c->sys, q->irq);
    uint64_t start = *q->clock;
    for (;;) {
        /* A reset (this pair's timeout recovery, or another thread's) or
         * a removal: catch up first, completing what the queue held. */
        rc = nvme_qpair_sync(qp);
        if (q->completions != done0)
            return (int)(q->completions - done0);
        if (rc < 0)
            return rc;
        rc = nvme_queue_reap(q, 0);
        if (q->completions != done0)
            return (int)(q->completions - done0);
        if (rc < 0)
            return rc;
        if (q->inflight == 0 && q->parked == 0)
            return 0;
        if ((rc = nvme_recover_timeouts(c, q)) < 0)
            return rc;
        if (rc > 0 || q->completions != done0)
            continue;
        uint64_t waited = *q->clock - start;
        if (timeout_ns >= 0 && waited >= (uint64_t)timeout_ns)
            return -CAPDRV_ETIMEDOUT;
        if ((rc = nvme_health(c)) < 0) {
            /* Surprise removal completes everything outstanding at once. */
            (void)nvme_qpair_sync(qp);
            return q->completions != done0 ? (int)(q->completions - done0) : rc;
        }
        uint64_t slice = CAPDRV_NVME_WAIT_SLICE_NS;
        uint64_t dl = next_deadline(q, *q->clock);
        if (dl < slice)
            slice = dl;
        if (timeout_ns >= 0 && (uint64_t)timeout_ns - waited < slice)
            slice = (uint64_t)timeout_ns - waited;
        uint64_t woke;
        if ((rc = nvme_sleep(c, q->clock, q->irq, slice, &woke)) < 0)
            return rc;
        if (woke && nvme_queue_reap(q, 0) == 0 && q->completions == done0)
            *q->clock += woke; /* a wake-up without progress */
    }
}
