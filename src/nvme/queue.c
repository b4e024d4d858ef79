/* The NVMe queue engine shared by the admin queue and I/O queue pairs:
 * command slots and CIDs, SQ entries and the tail doorbell, CQ entries
 * validated before use (a controller is not trusted), and the parked state
 * through which a reset completes every outstanding command exactly once.
 * NVMe Base 2.0 §3.3.1 (queue rules), §3.3.3.1 (SQE), §3.3.3.2 (CQE). */
#include "nvme_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t round_up(size_t v, size_t a)
{
    return (v + a - 1u) / a * a;
}

/* Allocate @p bytes of page-aligned DMA memory: dma_alloc gives 4 KiB
 * alignment; a larger memory page size needs slack and an offset. */
static int alloc_aligned(struct capdrv_nvme_ctrl *c, size_t bytes, capdrv_cap_t *buf,
                         struct capdrv_dmabuf_info *bi, size_t *off)
{
    size_t page = (size_t)1 << c->page_shift;
    size_t slack = page > 4096u ? page - 4096u : 0;
    int rc = capdrv_dma_alloc(c->sys, c->pool, bytes + slack, buf, bi);
    if (rc < 0)
        return rc;
    *off = (size_t)((page - (bi->ref_base & (page - 1u))) & (page - 1u));
    return 0;
}

int nvme_queue_alloc(struct capdrv_nvme_ctrl *c, struct nvme_queue *q, uint16_t qid,
                     unsigned depth, unsigned list_per_slot)
{
    size_t page = (size_t)1 << c->page_shift;
    memset(q, 0, sizeof *q);
    q->c = c;
    q->clock = &c->clock_ns;
    q->qid = qid;
    q->depth = depth;
    q->vector = -1;
    q->list_per_slot = list_per_slot;
    q->cmds = calloc(depth, sizeof *q->cmds);
    q->free_fifo = calloc(depth, sizeof *q->free_fifo);
    q->sq_slot_map = calloc(depth, sizeof *q->sq_slot_map);
    if (!q->cmds || !q->free_fifo || !q->sq_slot_map)
        return -CAPDRV_ENOMEM;
    /* Queues are physically contiguous (CREATE with PC = 1, §5.4/§5.5) and
     * start on a memory page (their PRP Entry 1 has offset 0). */
    size_t sq_bytes = round_up((size_t)depth * CAPDRV_NVME_SQE_SIZE, page);
    size_t cq_bytes = round_up((size_t)depth * CAPDRV_NVME_CQE_SIZE, page);
    size_t off = 0;
    int rc = alloc_aligned(c, sq_bytes + cq_bytes, &q->qbuf, &q->qbi, &off);
    if (rc < 0)
        return rc;
    q->sq_off = off;
    q->cq_off = off + sq_bytes;
    q->sq = (struct capdrv_nvme_sqe *)(void *)((uint8_t *)q->qbi.cpu + q->sq_off);
    q->cq = (struct capdrv_nvme_cqe *)(void *)((uint8_t *)q->qbi.cpu + q->cq_off);
    if (list_per_slot) {
        rc = alloc_aligned(c, (size_t)depth * list_per_slot * page, &q->lbuf, &q->lbi, &q->l_off);
        if (rc < 0)
            return rc;
    }
    /* One slot fewer than entries: an SQ holds at most depth - 1 commands
     * (§3.3.1.5: full when Tail + 1 == Head), and with at most depth - 1
     * commands outstanding the CQ can never be full either. */
    for (unsigned i = 0; i + 1u < depth; i++) {
        q->free_fifo[i] = (uint16_t)i;
        q->cmds[i].cid = (uint16_t)i;
    }
    q->free_count = depth - 1u;
    q->sq_db = nvme_doorbell(c, qid, false);
    q->cq_db = nvme_doorbell(c, qid, true);
    nvme_queue_rewind(q);
    return 0;
}

void nvme_queue_free(struct capdrv_nvme_ctrl *c, struct nvme_queue *q)
{
    if (q->qbuf)
        (void)capdrv_cap_release(c->sys, q->qbuf);
    if (q->lbuf)
        (void)capdrv_cap_release(c->sys, q->lbuf);
    nvme_queue_free_heap(q);
}

void nvme_queue_free_heap(struct nvme_queue *q)
{
    free(q->cmds);
    free(q->free_fifo);
    free(q->sq_slot_map);
    q->cmds = NULL;
    q->free_fifo = NULL;
    q->sq_slot_map = NULL;
    q->qbuf = q->lbuf = CAPDRV_CAP_INVALID;
}

/* Empty rings after a reset or at creation: both start at entry 0, and the
 * first pass of the CQ has phase 1 (§3.3.3.2: the controller inverts the Phase
 * Tag at each pass; entries start zeroed, so nothing looks new). */
void nvme_queue_rewind(struct nvme_queue *q)
{
    q->sq_tail = q->sq_rung = q->sq_head = 0;
    q->cq_head = 0;
    q->phase = 1;
    q->unrung = 0;
    if (q->cq)
        memset(q->cq, 0, (size_t)q->depth * CAPDRV_NVME_CQE_SIZE);
    if (q->sh_sq)
        *q->sh_sq = 0;
    if (q->sh_cq)
        *q->sh_cq = 0;
}

void nvme_queue_break(struct nvme_queue *q, int err, const char *fmt, ...)
{
    if (q->broken)
        return;
    q->broken = true;
    q->err = err;
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(q->why, sizeof q->why, fmt, ap);
    va_end(ap);
}

int nvme_queue_check(const struct nvme_queue *q)
{
    if (q->c->gone)
        return -CAPDRV_ENODEV;
    if (q->broken)
        return q->err;
    return 0;
}

int nvme_queue_get(struct nvme_queue *q, struct capdrv_nvme_sqe **sqe, struct nvme_cmd **cmd)
{
    int rc = nvme_queue_check(q);
    if (rc < 0)
        return rc;
    if (q->c->resetting && q->qid != 0)
        return -CAPDRV_EBUSY;
    /* §3.3.1.5: the SQ is full when Tail + 1 == Head (modulo its size). */
    if (q->free_count == 0 || (q->sq_tail + 1u) % q->depth == q->sq_head)
        return -CAPDRV_EBUSY;
    uint16_t idx = q->free_fifo[q->free_head];
    q->free_head = (q->free_head + 1u) % q->depth;
    q->free_count--;
    struct nvme_cmd *m = &q->cmds[idx];
    unsigned gen = ((unsigned)(m->cid >> NVME_CID_GEN_SHIFT) + 1u) % NVME_CID_GENS;
    m->cid = (uint16_t)(idx | gen << NVME_CID_GEN_SHIFT);
    m->timed_out = false;
    m->abort_deadline = UINT64_MAX;
    struct capdrv_nvme_sqe *e = &q->sq[q->sq_tail];
    memset(e, 0, sizeof *e);
    *sqe = e;
    *cmd = m;
    return 0;
}

static void put_free(struct nvme_queue *q, struct nvme_cmd *m)
{
    m->state = CMD_FREE;
    m->cb = NULL;
    m->arg = NULL;
    unsigned at = (q->free_head + q->free_count) % q->depth;
    q->free_fifo[at] = (uint16_t)(m->cid & NVME_CID_IDX_MASK);
    q->free_count++;
}

void nvme_queue_unget(struct nvme_queue *q, struct nvme_cmd *cmd)
{
    /* Not committed: the slot goes back; the SQ entry is not published. */
    put_free(q, cmd);
}

void nvme_queue_commit(struct nvme_queue *q, struct nvme_cmd *cmd, uint64_t timeout_ns,
                       capdrv_nvme_cb cb, void *arg)
{
    struct capdrv_nvme_sqe *e = &q->sq[q->sq_tail];
    e->cid = capdrv_nvme_cpu_to_le16(cmd->cid);
    cmd->opc = e->opc;
    cmd->cb = cb;
    cmd->arg = arg;
    cmd->state = CMD_QUEUED;
    uint64_t now = *q->clock;
    cmd->deadline = timeout_ns == UINT64_MAX || timeout_ns > UINT64_MAX - now
                        ? UINT64_MAX
                        : now + timeout_ns;
    q->sq_slot_map[q->sq_tail] = (uint16_t)(cmd->cid & NVME_CID_IDX_MASK);
    q->sq_tail = (q->sq_tail + 1u) % q->depth;
    q->inflight++;
    q->unrung++;
}

struct capdrv_dma_page nvme_queue_list(const struct nvme_queue *q, const struct nvme_cmd *cmd,
                                       unsigned i)
{
    size_t page = (size_t)1 << q->c->page_shift;
    size_t off = q->l_off + ((size_t)(cmd->cid & NVME_CID_IDX_MASK) * q->list_per_slot + i) * page;
    struct capdrv_dma_page p = {(uint8_t *)q->lbi.cpu + off, capdrv_dma_ref(&q->lbi, off)};
    return p;
}

/* Shadow doorbell rule (Doorbell Buffer Config, §5.8 with the EventIdx
 * convention it shares with virtio): after writing the new value to the
 * shadow, the MMIO doorbell is needed only if the controller's EventIdx
 * lies in [old, new). */
static bool need_mmio(uint32_t ev, uint32_t new_v, uint32_t old_v)
{
    return (uint16_t)(new_v - ev - 1u) < (uint16_t)(new_v - old_v);
}

static int write_doorbell(struct nvme_queue *q, bool cq, uint32_t val, uint32_t old)
{
    volatile uint32_t *sh = cq ? q->sh_cq : q->sh_sq;
    if (sh) {
        *sh = val;
        /* The shadow write must be visible before EventIdx is read, or a
         * controller that just updated EventIdx could miss the new value:
         * a full fence, as on the virtio used/avail event protocol. */
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        uint32_t ev = *(cq ? q->ev_cq : q->ev_sq);
        if (!need_mmio(ev, val, old))
            return 0;
    }
    return capdrv_mmio_write(q->c->sys, q->c->mmio, cq ? q->cq_db : q->sq_db, 4, val);
}

int nvme_queue_ring(struct nvme_queue *q)
{
    int rc = nvme_queue_check(q);
    if (rc < 0)
        return rc;
    if (q->unrung == 0)
        return 0;
    /* §3.3.1.2: the SQ entries must be in memory before the controller
     * learns the new tail. Release fence: every store to the entries is
     * ordered before the doorbell store; capdrv_mmio_write() then performs
     * the MMIO write in order after prior memory writes (the sys layer's
     * guarantee: in-process calls, and the shim's wmb before the device
     * write). */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    rc = write_doorbell(q, false, q->sq_tail, q->sq_rung);
    if (rc < 0 && nvme_queue_outdated(q))
        return NVME_E_OUTDATED; /* a reset took the queue away: its owner catches up */
    if (rc < 0) {
        /* The kernel refused the doorbell (e.g. a DMA reference outside
         * the ledger): the controller never saw these entries, but the
         * ring is now inconsistent with it; stop using the queue. */
        nvme_queue_break(q, rc == -CAPDRV_EFAULT ? -CAPDRV_EFAULT : rc,
                         "SQ %u tail doorbell refused: %s", q->qid, capdrv_strerror(rc));
        return rc;
    }
    unsigned n = 0;
    for (uint32_t i = q->sq_rung; i != q->sq_tail; i = (i + 1u) % q->depth) {
        q->cmds[q->sq_slot_map[i]].state = CMD_SENT;
        n++;
    }
    q->sq_rung = q->sq_tail;
    q->unrung = 0;
    return (int)n;
}

/* The kernel refused the tail doorbell that was to publish @p q's unrung
 * entries (nvme_queue_ring() broke the queue with the refusal): the
 * controller never saw them, since a refused doorbell leaves the device
 * untouched (capdrv/sys.h capdrv_mmio_write()). Take them back - their
 * slots return to the free FIFO, the tail to the last one rung - and make
 * the queue usable again. Only for commands nobody waits for (no
 * callback); -CAPDRV_EINVAL when @p q is not in that state. Used by the
 * admin path (admin.c) for every command the kernel refuses. */
int nvme_queue_withdraw(struct nvme_queue *q)
{
    if (!q->broken || q->unrung == 0 || q->c->gone || q->reaping)
        return -CAPDRV_EINVAL;
    unsigned n = 0;
    for (uint32_t i = q->sq_rung; i != q->sq_tail; i = (i + 1u) % q->depth, n++) {
        const struct nvme_cmd *m = &q->cmds[q->sq_slot_map[i]];
        if (m->state != CMD_QUEUED || m->cb)
            return -CAPDRV_EINVAL;
    }
    if (n != q->unrung)
        return -CAPDRV_EINVAL;
    for (uint32_t i = q->sq_rung; i != q->sq_tail; i = (i + 1u) % q->depth) {
        put_free(q, &q->cmds[q->sq_slot_map[i]]);
        q->inflight--;
    }
    q->sq_tail = q->sq_rung;
    q->unrung = 0;
    q->broken = false;
    q->err = 0;
    q->why[0] = '\0';
    return 0;
}

void nvme_cpl_from_cqe(const struct capdrv_nvme_cqe *e, struct capdrv_nvme_cpl *cpl)
{
    uint16_t st = capdrv_nvme_le16_to_cpu(e->status);
    memset(cpl, 0, sizeof *cpl);
    cpl->sc = (uint8_t)((st & CAPDRV_NVME_CQE_SC_MASK) >> CAPDRV_NVME_CQE_SC_SHIFT);
    cpl->sct = (uint8_t)((st & CAPDRV_NVME_CQE_SCT_MASK) >> CAPDRV_NVME_CQE_SCT_SHIFT);
    cpl->dnr = (st & CAPDRV_NVME_CQE_DNR) != 0;
    cpl->more = (st & CAPDRV_NVME_CQE_M) != 0;
    /* §3.3.3.2.1: SCT 0 with SC 0 is Successful Completion; anything else is an
     * error the command failed with. */
    cpl->status = (cpl->sc == 0 && cpl->sct == 0) ? 0 : -CAPDRV_EIO;
    cpl->cid = capdrv_nvme_le16_to_cpu(e->cid);
    cpl->sqid = capdrv_nvme_le16_to_cpu(e->sqid);
    cpl->dw0 = capdrv_nvme_le32_to_cpu(e->cdw0);
    cpl->dw1 = capdrv_nvme_le32_to_cpu(e->cdw1);
}

/* Validate one new CQE (already copied out of shared memory) against what
 * the host submitted. Returns the command or NULL after breaking @p q. */
static struct nvme_cmd *validate(struct nvme_queue *q, const struct capdrv_nvme_cqe *e)
{
    uint16_t sqid = capdrv_nvme_le16_to_cpu(e->sqid);
    uint16_t cid = capdrv_nvme_le16_to_cpu(e->cid);
    uint16_t sqhd = capdrv_nvme_le16_to_cpu(e->sqhd);
    /* §3.3.3.2: SQ Identifier names the SQ the command came from. Every CQ here
     * has exactly one SQ, so anything else (a deleted queue, another
     * queue's command) is a protocol error. */
    if (sqid != q->qid) {
        nvme_queue_break(q, -CAPDRV_EPROTO, "CQ %u: completion names SQ %u", q->qid, sqid);
        return NULL;
    }
    /* §3.3.3.2: CID must name a command outstanding on that SQ. An unknown
     * CID, a second completion of the same command, or a completion of an
     * entry the doorbell never published are all errors. */
    unsigned idx = cid & NVME_CID_IDX_MASK;
    struct nvme_cmd *m = idx + 1u < q->depth ? &q->cmds[idx] : NULL;
    if (!m || m->cid != cid || m->state != CMD_SENT) {
        nvme_queue_break(q, -CAPDRV_EPROTO,
                         "CQ %u: completion for CID %#x, which is not outstanding%s", q->qid,
                         cid, m && m->cid == cid && m->state == CMD_QUEUED ? " (never rung)" : "");
        return NULL;
    }
    /* §3.3.3.2 / §3.3.1: SQHD is the controller's SQ head: it may only move
     * forward, and not past the tail last written to the doorbell. */
    uint32_t fwd = ((uint32_t)sqhd + q->depth - q->sq_head) % q->depth;
    uint32_t avail = (q->sq_rung + q->depth - q->sq_head) % q->depth;
    if (sqhd >= q->depth || fwd > avail) {
        nvme_queue_break(q, -CAPDRV_EPROTO,
                         "CQ %u: SQ head %u outside the submitted range (head %u, tail %u)",
                         q->qid, sqhd, q->sq_head, q->sq_rung);
        return NULL;
    }
    q->sq_head = sqhd;
    return m;
}

int nvme_queue_reap(struct nvme_queue *q, unsigned max)
{
    int rc = nvme_queue_check(q);
    if (rc < 0)
        return rc;
    if (q->reaping)
        return 0; /* called from a completion callback: the outer loop reaps */
    q->reaping++;
    int n = 0;
    uint32_t old_head = q->cq_head;
    while (max == 0 || (unsigned)n < max) {
        struct capdrv_nvme_cqe *slot = &q->cq[q->cq_head];
        /* §3.3.3.2: an entry is new when its Phase Tag equals the current pass's
         * phase. Acquire load: the rest of the entry is read only after the
         * phase says the controller has finished writing it. A wrong phase
         * simply means "not new yet". */
        uint16_t st = __atomic_load_n(&slot->status, __ATOMIC_ACQUIRE);
        if ((capdrv_nvme_le16_to_cpu(st) & CAPDRV_NVME_CQE_P) != q->phase)
            break;
        struct capdrv_nvme_cqe e;
        memcpy(&e, slot, sizeof e);
        e.status = st; /* the value the phase check saw */
        struct nvme_cmd *m = validate(q, &e);
        if (!m)
            break;
        if (++q->cq_head == q->depth) {
            q->cq_head = 0;
            q->phase ^= 1u;
        }
        struct capdrv_nvme_cpl cpl;
        nvme_cpl_from_cqe(&e, &cpl);
        if (m->timed_out && cpl.status != 0)
            cpl.status = -CAPDRV_ETIMEDOUT;
        capdrv_nvme_cb cb = m->cb;
        void *arg = m->arg;
        q->inflight--;
        put_free(q, m); /* before the callback: it may submit again */
        q->completions++;
        if (cb)
            cb(arg, &cpl);
        n++;
        if (q->c->gone)
            break;
    }
    q->reaping--;
    /* While disabled (a reset reaping what completed before it) the
     * controller has no queue to release entries of. */
    if (q->cq_head != old_head && !q->c->gone && q->c->enabled && !q->detached) {
        /* §3.3.1.2: the head doorbell releases the consumed entries. */
        int wrc = write_doorbell(q, true, q->cq_head, old_head);
        if (wrc < 0 && nvme_queue_outdated(q))
            return (int)n; /* a reset took the queue away: its owner catches up */
        if (wrc < 0) {
            nvme_queue_break(q, wrc, "CQ %u head doorbell refused: %s", q->qid,
                             capdrv_strerror(wrc));
            return wrc;
        }
    }
    if (q->broken && n == 0)
        return q->err;
    if (q->c->gone && n == 0)
        return -CAPDRV_ENODEV;
    return n;
}

/* The controller no longer holds any command of @p q (it was disabled, or
 * the queue deleted): every queued or sent command becomes parked with the
 * status it will report. */
void nvme_queue_park_all(struct nvme_queue *q, int status)
{
    for (unsigned i = 0; i + 1u < q->depth; i++) {
        struct nvme_cmd *m = &q->cmds[i];
        if (m->state != CMD_QUEUED && m->state != CMD_SENT)
            continue;
        m->state = CMD_PARKED;
        m->park_status = m->timed_out ? -CAPDRV_ETIMEDOUT : status;
        q->inflight--;
        q->parked++;
    }
}

unsigned nvme_queue_run_parked(struct nvme_queue *q)
{
    unsigned n = 0;
    for (unsigned i = 0; i + 1u < q->depth && q->parked; i++) {
        struct nvme_cmd *m = &q->cmds[i];
        if (m->state != CMD_PARKED)
            continue;
        struct capdrv_nvme_cpl cpl = {.status = m->park_status, .cid = m->cid, .sqid = q->qid};
        capdrv_nvme_cb cb = m->cb;
        void *arg = m->arg;
        q->parked--;
        put_free(q, m);
        q->completions++;
        if (cb)
            cb(arg, &cpl);
        n++;
    }
    return n;
}

void nvme_queue_expire(struct nvme_queue *q, uint64_t now)
{
    for (unsigned i = 0; i + 1u < q->depth; i++) {
        struct nvme_cmd *m = &q->cmds[i];
        if ((m->state == CMD_QUEUED || m->state == CMD_SENT) && !m->timed_out &&
            m->deadline <= now)
            m->timed_out = true;
    }
}
