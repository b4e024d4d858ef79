/* Controller health and recovery (NVMe Base 2.0 §3.7.2 Controller Reset,
 * §5.1 Abort, §9.5 Controller Fatal Status, §3.1.3.6 CSTS): surprise
 * removal, fatal status, command timeouts (Abort, then reset) and the
 * reset that completes every outstanding command exactly once and
 * re-creates every queue with its identifier. */
#include "nvme_internal.h"

#include <stdlib.h>

/* Keep @p buf (a destroyed queue's memory) until the controller is next
 * disabled; if the list cannot grow, release it at once. */
void nvme_retire(struct capdrv_nvme_ctrl *c, capdrv_cap_t *buf)
{
    if (!*buf)
        return;
    if (c->n_retired == c->cap_retired) {
        unsigned n = c->cap_retired ? 2u * c->cap_retired : 8u;
        capdrv_cap_t *p = realloc(c->retired, n * sizeof *p);
        if (!p) {
            (void)capdrv_cap_release(c->sys, *buf);
            *buf = CAPDRV_CAP_INVALID;
            return;
        }
        c->retired = p;
        c->cap_retired = n;
    }
    c->retired[c->n_retired++] = *buf;
    *buf = CAPDRV_CAP_INVALID;
}

void nvme_release_retired(struct capdrv_nvme_ctrl *c)
{
    for (unsigned i = 0; i < c->n_retired; i++)
        (void)capdrv_cap_release(c->sys, c->retired[i]);
    c->n_retired = 0;
}

/* Without qpair_threads the reset or removal catches every queue pair up
 * itself (the caller drives them all from one thread); with it, each
 * owner does at its next call (nvme_qpair_sync()). */
static void resync_all(struct capdrv_nvme_ctrl *c)
{
    if (c->o.qpair_threads)
        return;
    for (struct capdrv_nvme_qpair *qp = c->qps; qp; qp = qp->next)
        (void)nvme_qpair_resync(qp, false);
}

static void run_everything(struct capdrv_nvme_ctrl *c)
{
    (void)nvme_queue_run_parked(&c->aq);
    if (c->o.qpair_threads)
        return;
    for (struct capdrv_nvme_qpair *qp = c->qps; qp; qp = qp->next)
        (void)nvme_queue_run_parked(&qp->q);
}

int nvme_qpair_resync(struct capdrv_nvme_qpair *qp, bool run)
{
    struct nvme_queue *q = &qp->q;
    struct capdrv_nvme_ctrl *c = q->c;
    if (q->resyncing)
        return -CAPDRV_EBUSY; /* re-entered from a callback of the reap below */
    nvme_lock(c);
    if (q->epoch == atomic_load(&c->epoch) || (run && c->resetting)) {
        /* Caught up already, or (an owner's call) a reset is still running
         * on this thread, re-entered from a callback: it catches up. */
        nvme_unlock(c);
        return q->broken ? q->err : 0;
    }
    bool gone = c->gone;
    nvme_unlock(c);
    /* The controller was disabled or removed since this pair's queues were
     * created: they no longer exist there. Completions it posted before it
     * stopped are real (a disable waits for CSTS.RDY 0, §3.7.2, and the
     * queue was not given to it again): deliver them first, also when the
     * reset then failed (the controller was left disabled). Their
     * callbacks run without the controller lock; one that submits again
     * gets -CAPDRV_EBUSY until the pair has caught up. */
    q->resyncing = true;
    q->detached = true;
    if (!gone && !q->broken)
        (void)nvme_queue_reap(q, 0);
    nvme_lock(c);
    nvme_queue_park_all(q, c->gone ? -CAPDRV_ENODEV : q->broken ? q->err : c->reset_status);
    /* Shadow doorbell pages may have gone with the reset: the queue is
     * attached again when it is created. */
    q->sh_sq = q->sh_cq = q->ev_sq = q->ev_cq = NULL;
    int rc = 0;
    if (c->gone) {
        nvme_queue_break(q, -CAPDRV_ENODEV, "controller removed");
        rc = -CAPDRV_ENODEV;
    } else if (!c->enabled) {
        nvme_queue_break(q, -CAPDRV_EIO, "controller reset failed");
        rc = -CAPDRV_EIO;
    } else {
        q->broken = false;
        q->why[0] = '\0';
        nvme_queue_rewind(q);
        if (q->qid > c->info.io_queues) {
            rc = -CAPDRV_EPROTO; /* the controller now grants fewer queues */
        } else {
            bool held, touched;
            rc = nvme_qpair_create_hw(qp, &held, &touched);
        }
        if (rc == 0)
            q->detached = false;
        else if (c->o.qpair_threads)
            nvme_queue_break(q, rc, "re-creating the queue after a reset failed: %s",
                             capdrv_strerror(rc));
    }
    /* The queues (if any) were created under the lock, after every reset
     * so far: they belong to the epoch of now. */
    q->epoch = atomic_load(&c->epoch);
    qp->oncs = c->info.oncs;
    nvme_unlock(c);
    q->resyncing = false;
    if (run)
        (void)nvme_queue_run_parked(q);
    return rc;
}

/* CSTS read all ones: a PCIe function that is no longer there (surprise
 * removal). Nothing will ever complete and the device can no longer reach
 * host memory, so every outstanding command completes now with
 * -CAPDRV_ENODEV. */
int nvme_gone(struct capdrv_nvme_ctrl *c)
{
    nvme_lock(c);
    if (c->gone) {
        nvme_unlock(c);
        return -CAPDRV_ENODEV;
    }
    c->gone = true;
    c->enabled = false;
    atomic_fetch_add(&c->epoch, 1u);
    nvme_queue_park_all(&c->aq, -CAPDRV_ENODEV);
    for (unsigned i = 0; i + 1u < c->aq.depth; i++)
        if (c->aq.cmds[i].state == CMD_PARKED)
            c->aq.cmds[i].park_status = -CAPDRV_ENODEV;
    resync_all(c);
    run_everything(c);
    nvme_unlock(c);
    return -CAPDRV_ENODEV;
}

int nvme_health(struct capdrv_nvme_ctrl *c)
{
    if (c->gone)
        return -CAPDRV_ENODEV;
    uint32_t csts = 0;
    unsigned epoch = atomic_load(&c->epoch);
    int rc = nvme_csts(c, &csts);
    if (rc < 0)
        return rc;
    /* §9.5: CFS means the controller cannot continue; only a reset helps.
     * A value read before another thread's reset says nothing about the
     * controller after it. */
    if (csts & NVME_CSTS_CFS) {
        nvme_lock(c);
        if (atomic_load(&c->epoch) == epoch)
            c->fatal = true;
        nvme_unlock(c);
    }
    if (c->fatal || (!c->enabled && !c->resetting))
        return -CAPDRV_EIO;
    return 0;
}

int nvme_reset(struct capdrv_nvme_ctrl *c, int status)
{
    nvme_lock(c);
    if (c->gone || c->resetting) {
        int busy = c->gone ? -CAPDRV_ENODEV : -CAPDRV_EBUSY;
        nvme_unlock(c);
        return busy;
    }
    c->resetting = true;
    c->info.resets++;
    c->reset_status = status;
    /* The epoch moves before the controller stops: a pair on another
     * thread whose doorbell is refused from here on knows why. From now
     * on every pair's queues belong to the old epoch: each is caught up
     * (its completions delivered, the rest parked with @status, its queues
     * created again) below, or by its owner with qpair_threads. */
    atomic_fetch_add(&c->epoch, 1u);
    /* §3.7.2: CC.EN 1 -> 0 deletes every I/O queue and aborts what they
     * held; once CSTS.RDY reads 0 the controller touches no host memory,
     * so parked commands' buffers are free again. */
    int rc = nvme_ctrl_disable(c);
    if (c->gone) {
        c->resetting = false;
        nvme_unlock(c);
        return -CAPDRV_ENODEV;
    }
    nvme_queue_park_all(&c->aq, -CAPDRV_ECANCELED);
    if (rc == 0)
        nvme_release_retired(c);
    /* Internal admin commands (AERs, a timed-out synchronous command)
     * complete first: nothing of the user's runs while queues are down. */
    (void)nvme_queue_run_parked(&c->aq);
    if (rc == 0) {
        c->aq.broken = false;
        rc = nvme_ctrl_setup(c, NULL, 0);
    }
    if (rc < 0)
        c->enabled = false; /* every pair then breaks when it catches up */
    if (rc == 0 && !c->o.qpair_threads)
        for (struct capdrv_nvme_qpair *qp = c->qps; qp && rc == 0; qp = qp->next)
            rc = nvme_qpair_resync(qp, false);
    if (rc == 0)
        rc = nvme_aer_arm(c);
    if (rc < 0 && !c->gone) {
        /* Left disabled: every queue refuses work until close. */
        (void)nvme_ctrl_disable(c);
        c->enabled = false;
        nvme_queue_break(&c->aq, -CAPDRV_EIO, "controller reset failed: %s", capdrv_strerror(rc));
        nvme_queue_park_all(&c->aq, -CAPDRV_ECANCELED);
        if (!c->o.qpair_threads)
            for (struct capdrv_nvme_qpair *qp = c->qps; qp; qp = qp->next) {
                qp->q.detached = true;
                if (qp->q.epoch != atomic_load(&c->epoch) && !qp->q.broken)
                    (void)nvme_queue_reap(&qp->q, 0); /* posted before the stop: real */
                nvme_queue_break(&qp->q, -CAPDRV_EIO, "controller reset failed: %s",
                                 capdrv_strerror(rc));
                nvme_queue_park_all(&qp->q, -CAPDRV_ECANCELED);
                qp->q.epoch = atomic_load(&c->epoch);
            }
    }
    c->resetting = false;
    run_everything(c);
    nvme_unlock(c);
    return c->gone ? -CAPDRV_ENODEV : rc;
}

int capdrv_nvme_ctrl_reset(struct capdrv_nvme_ctrl *c)
{
    if (!c)
        return -CAPDRV_EINVAL;
    return nvme_reset(c, -CAPDRV_ECANCELED);
}

/* Commands of @p q past their deadline: send an Abort for each (§5.1); a
 * command whose Abort did not make it complete within the admin timeout
 * causes a reset. Returns 1 when a reset ran, 0 otherwise, or an error. */
int nvme_recover_timeouts(struct capdrv_nvme_ctrl *c, struct nvme_queue *q)
{
    uint64_t now = *q->clock;
    nvme_queue_expire(q, now);
    for (unsigned i = 0; i + 1u < q->depth; i++) {
        struct nvme_cmd *m = &q->cmds[i];
        if (m->state != CMD_SENT || !m->timed_out)
            continue;
        if (m->abort_deadline == UINT64_MAX) {
            m->abort_deadline = now + c->o.admin_timeout_ns;
            uint16_t cid = m->cid;
            int rc = capdrv_nvme_abort(c, q->qid, cid, NULL);
            if (rc == -CAPDRV_ETIMEDOUT || rc == -CAPDRV_ENODEV)
                return 1; /* the admin timeout already reset the controller */
            if (rc < 0 && rc != -CAPDRV_EIO) {
                /* The admin queue cannot carry the Abort: reset. */
                rc = nvme_reset(c, -CAPDRV_ECANCELED);
                return rc < 0 ? rc : 1;
            }
            /* Abort answered (or refused with a status): the command
             * completes on its own CQ, or the deadline below catches it. */
            continue;
        }
        if (m->abort_deadline <= now) {
            int rc = nvme_reset(c, -CAPDRV_ECANCELED);
            return rc < 0 ? rc : 1;
        }
    }
    return 0;
}
