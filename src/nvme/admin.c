/* The admin queue: synchronous commands through the library's admin data
 * buffer, and Asynchronous Event Requests kept outstanding (NVMe Base 2.0
 * §3.3.1, §5.2). Commands themselves: admin_cmds.c. */
#include "nvme_internal.h"

#include <string.h>

static void sync_cb(void *arg, const struct capdrv_nvme_cpl *cpl)
{
    struct nvme_sync *s = arg;
    s->cpl = *cpl;
    s->done = true;
}

/* Completion entry as the caller of passthru sees it (host order). */
static void cqe_from_cpl(const struct capdrv_nvme_cpl *cpl, struct capdrv_nvme_cqe *e)
{
    memset(e, 0, sizeof *e);
    e->cdw0 = cpl->dw0;
    e->cdw1 = cpl->dw1;
    e->sqid = cpl->sqid;
    e->cid = cpl->cid;
    e->status = (uint16_t)((unsigned)cpl->sc << CAPDRV_NVME_CQE_SC_SHIFT |
                           (unsigned)cpl->sct << CAPDRV_NVME_CQE_SCT_SHIFT |
                           (cpl->more ? CAPDRV_NVME_CQE_M : 0u) |
                           (cpl->dnr ? CAPDRV_NVME_CQE_DNR : 0u));
}

/* Wait for @p s, reaping the admin queue, for at most the command's
 * deadline. A deadline that passes resets the controller (the admin queue
 * has nowhere to send an Abort that would itself be reliable), unless a
 * reset is already running; either way -CAPDRV_ETIMEDOUT. */
static void ack_admin(struct capdrv_nvme_ctrl *c)
{
    /* Acknowledge before reaping (as capdrv_nvme_qpair_wait() does): a
     * stale interrupt would otherwise end the first sleep at once. */
    capdrv_cap_t irq = c->aq.irq ? c->aq.irq : c->timer;
    if (irq)
        (void)capdrv_irq_ack(c->sys, irq);
}

static int wait_sync(struct capdrv_nvme_ctrl *c, struct nvme_cmd *m, struct nvme_sync *s)
{
    ack_admin(c);
    for (;;) {
        int rc = nvme_queue_reap(&c->aq, 0);
        if (s->done)
            return 0;
        if (rc < 0)
            return rc;
        if (rc > 0) {
            /* Completions, but not this command's (AERs, say): a
             * controller that completes every re-armed AER at once must
             * not stop the clock. */
            c->clock_ns += NVME_NO_PROGRESS_NS;
            if (c->clock_ns < m->deadline)
                continue;
        }
        if (c->clock_ns >= m->deadline) {
            m->timed_out = true;
            return -CAPDRV_ETIMEDOUT;
        }
        /* Nothing new: check the controller is alive before sleeping (a
         * removed or failed controller would never answer). */
        if ((rc = nvme_health(c)) < 0)
            return rc;
        uint64_t woke;
        uint64_t left = m->deadline - c->clock_ns;
        rc = nvme_sleep(c, &c->clock_ns, c->aq.irq, left < CAPDRV_NVME_WAIT_SLICE_NS ? left
                                                                       : CAPDRV_NVME_WAIT_SLICE_NS,
                        &woke);
        if (rc < 0)
            return rc;
        if (woke && nvme_queue_reap(&c->aq, 0) == 0 && !s->done)
            c->clock_ns += woke; /* a wake-up without progress */
    }
}

static int admin_sync_locked(struct capdrv_nvme_ctrl *c, struct capdrv_nvme_sqe *sqe, void *buf,
                             size_t len, int dir, struct nvme_sync *out)
{
    if (len > CAPDRV_NVME_ADMIN_XFER_MAX || (len && !buf))
        return -CAPDRV_EINVAL;
    if (c->gone)
        return -CAPDRV_ENODEV;
    if (c->admin_busy)
        return -CAPDRV_EBUSY;
    struct capdrv_nvme_sqe *e;
    struct nvme_cmd *m;
    int rc = nvme_queue_get(&c->aq, &e, &m);
    if (rc < 0)
        return rc;
    *e = *sqe;
    uint8_t *data = (uint8_t *)c->abi.cpu + c->a_off;
    if (len) {
        if (dir & NVME_DIR_TO_DEV)
            memcpy(data, buf, len);
        else
            memset(data, 0, len);
        /* §3.3.3.1 (PCIe): admin commands use PRPs. The data area is page
         * aligned; the list page follows it. */
        size_t page = (size_t)1 << c->page_shift;
        size_t list_off = c->a_off + CAPDRV_NVME_ADMIN_XFER_MAX;
        list_off = (list_off + page - 1u) / page * page;
        struct capdrv_dma_page list = {(uint8_t *)c->abi.cpu + list_off,
                                       capdrv_dma_ref(&c->abi, list_off)};
        rc = capdrv_prp_build_one(&c->admin_prp, capdrv_dma_ref(&c->abi, c->a_off),
                                  (uint32_t)len, &list, 1, &e->dptr, NULL);
        if (rc < 0) {
            nvme_queue_unget(&c->aq, m);
            return rc;
        }
    }
    /* Without data, DPTR is sent as the caller built it (zero, or e.g. the
     * two pages of Doorbell Buffer Config). */
    capdrv_nvme_sqe_set_psdt(e, CAPDRV_NVME_PSDT_PRP);
    nvme_queue_commit(&c->aq, m, c->o.admin_timeout_ns, sync_cb, out);
    if ((rc = nvme_queue_ring(&c->aq)) < 0) {
        m->cb = NULL; /* parked at the next reset; nobody waits for it */
        /* The kernel refused the doorbell (an opcode or a queue its rules
         * do not allow): the controller saw nothing, so take the command
         * back and keep the admin queue usable; the caller gets why. */
        if (nvme_kernel_refusal(rc))
            (void)nvme_queue_withdraw(&c->aq);
        return rc;
    }
    c->admin_busy = true;
    rc = wait_sync(c, m, out);
    c->admin_busy = false;
    if (rc == -CAPDRV_ETIMEDOUT && !c->resetting) {
        /* Admin timeout: reset; the reset completes this command with
         * -CAPDRV_ETIMEDOUT through sync_cb. */
        (void)nvme_reset(c, -CAPDRV_ECANCELED);
        if (!out->done)
            m->cb = NULL;
        return -CAPDRV_ETIMEDOUT;
    }
    if (rc < 0 && !out->done) {
        /* Still outstanding (controller gone, failed or its queue broken):
         * the completion, if any, must not reach this stack frame. */
        m->cb = NULL;
        return rc;
    }
    if (len && (dir & NVME_DIR_FROM_DEV))
        memcpy(buf, data, len);
    return out->cpl.status;
}

/* The admin queue has one user at a time: queue pairs on other threads
 * reach it only here (their Aborts) and through resets. */
int nvme_admin_sync(struct capdrv_nvme_ctrl *c, struct capdrv_nvme_sqe *sqe, void *buf,
                    size_t len, int dir, struct nvme_sync *out)
{
    memset(out, 0, sizeof *out);
    nvme_lock(c);
    int rc = admin_sync_locked(c, sqe, buf, len, dir, out);
    nvme_unlock(c);
    return rc;
}

int nvme_admin_simple(struct capdrv_nvme_ctrl *c, struct capdrv_nvme_sqe *sqe, uint32_t *dw0)
{
    struct nvme_sync s;
    int rc = nvme_admin_sync(c, sqe, NULL, 0, NVME_DIR_NONE, &s);
    if (dw0 && s.done)
        *dw0 = s.cpl.dw0;
    return rc;
}

/* ---------------------------------------------------------------------- */
/* Asynchronous events (§5.2)                                              */
/* ---------------------------------------------------------------------- */

static int aer_submit(struct capdrv_nvme_ctrl *c);

static void aer_cb(void *arg, const struct capdrv_nvme_cpl *cpl)
{
    struct capdrv_nvme_ctrl *c = arg;
    c->aer_armed--;
    if (cpl->status != 0) {
        /* Failed (e.g. Asynchronous Event Request Limit Exceeded, or
         * aborted by a reset, which re-arms by itself): not re-armed. */
        return;
    }
    if (c->ev_count < CAPDRV_NVME_EVENT_QUEUE) {
        struct capdrv_nvme_event *ev = &c->ev[(c->ev_head + c->ev_count) % CAPDRV_NVME_EVENT_QUEUE];
        ev->dw0 = cpl->dw0;
        ev->type = (uint8_t)(cpl->dw0 & 0x7u);
        ev->info = (uint8_t)(cpl->dw0 >> 8);
        ev->log_page = (uint8_t)(cpl->dw0 >> 16);
        c->ev_count++;
    } else {
        c->info.events_dropped++;
    }
    /* §5.2: each completed request is replaced so events keep flowing. */
    if (!c->resetting && aer_submit(c) == 0)
        (void)nvme_queue_ring(&c->aq);
}

static int aer_submit(struct capdrv_nvme_ctrl *c)
{
    struct capdrv_nvme_sqe *e;
    struct nvme_cmd *m;
    int rc = nvme_queue_get(&c->aq, &e, &m);
    if (rc < 0)
        return rc;
    e->opc = CAPDRV_NVME_ADMIN_ASYNC_EVENT;
    /* No deadline: an AER completes only when an event happens (§5.2). */
    nvme_queue_commit(&c->aq, m, UINT64_MAX, aer_cb, c);
    c->aer_armed++;
    return 0;
}

int nvme_aer_arm(struct capdrv_nvme_ctrl *c)
{
    int rc = 0;
    while (c->aer_armed < c->info.aer_slots && (rc = aer_submit(c)) == 0)
        ;
    int r2 = nvme_queue_ring(&c->aq);
    return rc < 0 ? rc : r2 < 0 ? r2 : 0;
}

int capdrv_nvme_ctrl_process_admin(struct capdrv_nvme_ctrl *c)
{
    if (!c)
        return -CAPDRV_EINVAL;
    nvme_lock(c);
    int rc = nvme_queue_reap(&c->aq, 0);
    nvme_unlock(c);
    return rc;
}

int capdrv_nvme_ctrl_events(struct capdrv_nvme_ctrl *c, struct capdrv_nvme_event *ev,
                            unsigned max)
{
    if (!c || (!ev && max))
        return -CAPDRV_EINVAL;
    unsigned n = 0;
    nvme_lock(c);
    while (n < max && c->ev_count) {
        ev[n++] = c->ev[c->ev_head];
        c->ev_head = (c->ev_head + 1u) % CAPDRV_NVME_EVENT_QUEUE;
        c->ev_count--;
    }
    nvme_unlock(c);
    return (int)n;
}

int capdrv_nvme_ctrl_wait_event(struct capdrv_nvme_ctrl *c, int64_t timeout_ns)
{
    if (!c)
        return -CAPDRV_EINVAL;
    /* Its own clock, and the lock only around each look at the admin
     * queue: a long wait for events does not hold up other threads'
     * admin commands. */
    uint64_t clock = 0;
    nvme_lock(c);
    ack_admin(c);
    nvme_unlock(c);
    for (;;) {
        nvme_lock(c);
        int rc = nvme_queue_reap(&c->aq, 0);
        unsigned n = c->ev_count;
        nvme_unlock(c);
        if (n)
            return (int)n;
        if (rc < 0)
            return rc;
        if (rc > 0)
            continue;
        if (timeout_ns >= 0 && clock >= (uint64_t)timeout_ns)
            return -CAPDRV_ETIMEDOUT;
        if ((rc = nvme_health(c)) < 0)
            return rc;
        uint64_t slice = CAPDRV_NVME_WAIT_SLICE_NS;
        if (timeout_ns >= 0 && (uint64_t)timeout_ns - clock < slice)
            slice = (uint64_t)timeout_ns - clock;
        uint64_t woke;
        if ((rc = nvme_sleep(c, &clock, c->aq.irq, slice, &woke)) < 0)
            return rc;
        if (woke) {
            nvme_lock(c);
            bool none = nvme_queue_reap(&c->aq, 0) == 0 && !c->ev_count;
            nvme_unlock(c);
            if (none)
                clock += woke;
        }
    }
}

/* Exposed for passthru (admin_cmds.c). */
void nvme_admin_cqe(const struct capdrv_nvme_cpl *cpl, struct capdrv_nvme_cqe *e);
void nvme_admin_cqe(const struct capdrv_nvme_cpl *cpl, struct capdrv_nvme_cqe *e)
{
    cqe_from_cpl(cpl, e);
}
