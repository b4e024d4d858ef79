/* Simulated NVMe controller: the queue engine (NVM Express Base 2.0 §3.3,
 * §3.3.3.2): fetching SQ entries, dispatching them, posting completions with
 * the Phase Tag, the full-CQ rule, interrupts, commands held inside the
 * controller (FAULT_SLOW, Asynchronous Event Requests), fault injection
 * and asynchronous events.
 *
 * Bounded by construction: an SQ is fetched only while its CQ has room and
 * no completion is waiting for it, and while the wait pool has room for
 * the command and a duplicate completion, so the controller never holds
 * more than NVME_POOL entries whatever the driver does. */
#include "dev_nvme.h"

#include <string.h>

/* ---- the wait pool -------------------------------------------------------- */

struct nvme_wait *nvme_pool_get(struct nvme_dev *d)
{
    for (unsigned i = 0; i < NVME_POOL; i++) {
        if (d->pool[i].state == W_FREE) {
            d->pool_used++;
            memset(&d->pool[i], 0, sizeof d->pool[i]);
            d->pool[i].seq = d->seq++;
            return &d->pool[i];
        }
    }
    return NULL;
}

void nvme_pool_put(struct nvme_dev *d, struct nvme_wait *w)
{
    if (w->state == W_AER && d->aer_outstanding > 0)
        d->aer_outstanding--;
    w->state = W_FREE;
    d->pool_used--;
}

void nvme_pool_clear(struct nvme_dev *d)
{
    memset(d->pool, 0, sizeof d->pool);
    d->pool_used = 0;
    d->aer_outstanding = 0;
    memset(d->marks, 0, sizeof d->marks);
}

bool nvme_abort_marked(struct nvme_dev *d, uint16_t sqid, uint16_t cid)
{
    for (unsigned i = 0; i <= NVME_ACL; i++) {
        struct nvme_abort_mark *m = &d->marks[i];
        if (m->used && m->sqid == sqid && m->cid == cid) {
            m->used = false;
            return true;
        }
    }
    return false;
}

uint64_t nvme_pool_next(const struct nvme_dev *d)
{
    uint64_t t = SIM_NEVER;
    if (d->pool_used == 0)
        return t;
    for (unsigned i = 0; i < NVME_POOL; i++)
        if (d->pool[i].state == W_SLOW && d->pool[i].due < t)
            t = d->pool[i].due;
    return t;
}

/* ---- posting -------------------------------------------------------------- */

static bool cq_full(const struct nvme_cq *q)
{
    /* Base 2.0 §3.3.1 (Full Queue): full when the tail is one entry
     * behind the head; the last free slot is never used. */
    return (uint16_t)((q->tail + 1u) % q->size) == q->head;
}

/* CQE Status Field (Base 2.0 §3.3.3.2.1): SC 8:1, SCT 11:9, DNR 15, P 0. */
static uint16_t status_field(uint16_t st, bool phase)
{
    uint16_t v = (uint16_t)(((st & 0xffu) << 1) | (((st >> 8) & 0x7u) << 9));
    if (st & NVME_DNR)
        v |= CAPDRV_NVME_CQE_DNR;
    return (uint16_t)(v | (phase ? CAPDRV_NVME_CQE_P : 0u));
}

/* Write one CQE to @cqid (room was checked). false: fatal error. */
static bool post(struct capdrv_sim *sim, struct sim_fn *f, const struct nvme_cpl *c,
                 uint16_t cqid)
{
    struct nvme_dev *d = nvme_of(f);
    struct nvme_cq *q = &d->cq[cqid];
    const struct nvme_sq *sq = c->sqid < NVME_MAX_QUEUES ? &d->sq[c->sqid] : NULL;
    uint16_t sqhd = sq && sq->valid ? sq->head : 0;
    uint16_t sqid = c->sqid, cid = c->cid;
    bool phase = q->phase;
    switch (c->fault) {
    case CAPDRV_SIM_NVME_FAULT_SQHD:
        sqhd = (uint16_t)(sq && sq->valid ? sq->size + 1u : 0xffffu);
        break;
    case CAPDRV_SIM_NVME_FAULT_SQID:
        sqid = (uint16_t)(d->cfg.max_io_queues + 1u);
        break;
    case CAPDRV_SIM_NVME_FAULT_PHASE:
        phase = !phase;
        break;
    case CAPDRV_SIM_NVME_FAULT_BAD_CID:
        cid ^= 0x8000u;
        break;
    default:
        break;
    }
    uint8_t e[CAPDRV_NVME_CQE_SIZE];
    sim_le_put(e + 0, 4, c->dw0);
    sim_le_put(e + 4, 4, 0);
    sim_le_put(e + 8, 2, sqhd);
    sim_le_put(e + 10, 2, sqid);
    sim_le_put(e + 12, 2, cid);
    sim_le_put(e + 14, 2, status_field(c->status, phase));
    uint64_t at = q->base + (uint64_t)q->tail * CAPDRV_NVME_CQE_SIZE;
    if (sim_dma_access(sim, f, at, e, sizeof e, true) < 0) {
        nvme_fatal(d); /* a completion that cannot be posted (§3.1.3.6 CFS) */
        return false;
    }
    /* §3.3.3.2: the Phase Tag inverts each time the tail wraps. */
    if (++q->tail == q->size) {
        q->tail = 0;
        q->phase = !q->phase;
    }
    if (q->ien)
        sim_irq_raise(f, q->iv);
    return true;
}

static void emit(struct capdrv_sim *sim, struct sim_fn *f, const struct nvme_cpl *c,
                 uint16_t cqid)
{
    struct nvme_dev *d = nvme_of(f);
    struct nvme_cq *q = &d->cq[cqid];
    if (!q->valid || d->cfs)
        return;
    if (q->stalled == 0 && !cq_full(q)) {
        post(sim, f, c, cqid);
        return;
    }
    /* No room: the completion waits inside the controller until the host
     * releases CQ entries with the head doorbell. */
    struct nvme_wait *w = nvme_pool_get(d);
    if (!w) {
        d->stats.dropped++; /* cannot happen: fetching keeps two entries free */
        return;
    }
    w->state = W_STALLED;
    w->cqid = cqid;
    w->cpl = *c;
    q->stalled++;
}

void nvme_drain_cq(struct capdrv_sim *sim, struct sim_fn *f, uint16_t cqid)
{
    struct nvme_dev *d = nvme_of(f);
    struct nvme_cq *q = &d->cq[cqid];
    while (q->valid && q->stalled > 0 && !cq_full(q) && !d->cfs) {
        struct nvme_wait *best = NULL;
        for (unsigned i = 0; i < NVME_POOL; i++) {
            struct nvme_wait *w = &d->pool[i];
            if (w->state == W_STALLED && w->cqid == cqid && (!best || w->seq < best->seq))
                best = w;
        }
        if (!best) {
            q->stalled = 0; /* bookkeeping repair; never expected */
            return;
        }
        struct nvme_cpl c = best->cpl;
        nvme_pool_put(d, best);
        q->stalled--;
        if (!post(sim, f, &c, cqid))
            return;
    }
}

void nvme_complete(struct capdrv_sim *sim, struct sim_fn *f, struct nvme_cpl c)
{
    struct nvme_dev *d = nvme_of(f);
    if (c.sqid >= NVME_MAX_QUEUES || !d->sq[c.sqid].valid)
        return; /* its SQ is gone (reset): nothing to report */
    if (c.sqid == 0)
        d->stats.admin_cmds++;
    else
        d->stats.io_cmds++;
    if (c.status != NVME_OK)
        nvme_elog_add(d, &c, c.nsid);
    uint16_t cqid = d->sq[c.sqid].cqid;
    emit(sim, f, &c, cqid);
    if (c.fault == CAPDRV_SIM_NVME_FAULT_DUP_CID)
        emit(sim, f, &c, cqid);
}

/* ---- asynchronous events (Base 2.0 §5.2) --------------------------------- */

static void complete_aer(struct capdrv_sim *sim, struct sim_fn *f, struct nvme_wait *w,
                         const struct nvme_event *e)
{
    struct nvme_dev *d = nvme_of(f);
    struct nvme_cpl c = w->cpl;
    c.status = NVME_OK;
    /* Completion DW0: event type 2:0, information 15:8, log page 23:16. */
    c.dw0 = (uint32_t)e->type | (uint32_t)e->info << 8 | (uint32_t)e->log << 16;
    nvme_pool_put(d, w);
    nvme_complete(sim, f, c);
}

void nvme_event(struct capdrv_sim *sim, struct sim_fn *f, uint8_t type, uint8_t info, uint8_t log)
{
    struct nvme_dev *d = nvme_of(f);
    struct nvme_event e = {.type = type, .info = info, .log = log};
    struct nvme_wait *best = NULL;
    for (unsigned i = 0; i < NVME_POOL && d->aer_outstanding > 0; i++) {
        struct nvme_wait *w = &d->pool[i];
        if (w->state == W_AER && (!best || w->seq < best->seq))
            best = w;
    }
    if (best) {
        complete_aer(sim, f, best, &e);
        return;
    }
    if (d->n_events < NVME_EVENTS_MAX)
        d->events[d->n_events++] = e; /* reported by the next request */
}

/* ---- fetch and dispatch --------------------------------------------------- */

bool nvme_execute(struct capdrv_sim *sim, struct sim_fn *f, uint16_t sqid,
                  const struct capdrv_nvme_sqe *sqe, struct nvme_cpl *out)
{
    memset(out, 0, sizeof *out);
    out->sqid = sqid;
    out->cid = sqe->cid;
    out->nsid = sqe->nsid;
    out->fault = nvme_of(f)->cur_fault;
    if (sqid == 0)
        return nvme_admin(sim, f, sqe, out);
    out->status = nvme_io(sim, f, sqe);
    return true;
}

static bool command_fault(enum capdrv_sim_nvme_fault_kind k)
{
    return k == CAPDRV_SIM_NVME_FAULT_STATUS || k == CAPDRV_SIM_NVME_FAULT_DROP ||
           k == CAPDRV_SIM_NVME_FAULT_SLOW || k == CAPDRV_SIM_NVME_FAULT_BAD_CID ||
           k == CAPDRV_SIM_NVME_FAULT_DUP_CID || k == CAPDRV_SIM_NVME_FAULT_SQHD ||
           k == CAPDRV_SIM_NVME_FAULT_PHASE || k == CAPDRV_SIM_NVME_FAULT_SQID;
}

/* The fault that applies to a command fetched from SQ @y (consumes one
 * count). */
static struct capdrv_sim_nvme_fault match_fault(struct nvme_dev *d, uint16_t y, uint8_t opc)
{
    struct capdrv_sim_nvme_fault none = {.kind = CAPDRV_SIM_NVME_FAULT_NONE};
    struct capdrv_sim_nvme_fault *ft = &d->fault;
    if (!command_fault(ft->kind) || (ft->qid >= 0 && (uint16_t)ft->qid != y) ||
        (ft->opcode >= 0 && ft->opcode != opc))
        return none;
    struct capdrv_sim_nvme_fault got = *ft;
    if (ft->count > 0 && --ft->count == 0)
        ft->kind = CAPDRV_SIM_NVME_FAULT_NONE;
    return got;
}

/* Host-order copy of a fetched entry (Base 2.0 §1.4: little-endian). */
static void sqe_decode(const uint8_t *raw, struct capdrv_nvme_sqe *s)
{
    s->opc = raw[0];
    s->flags = raw[1];
    s->cid = (uint16_t)sim_le_get(raw + 2, 2);
    s->nsid = (uint32_t)sim_le_get(raw + 4, 4);
    s->cdw2 = (uint32_t)sim_le_get(raw + 8, 4);
    s->cdw3 = (uint32_t)sim_le_get(raw + 12, 4);
    s->mptr = sim_le_get(raw + 16, 8);
    s->dptr.prp.prp1 = sim_le_get(raw + 24, 8);
    s->dptr.prp.prp2 = sim_le_get(raw + 32, 8);
    s->cdw10 = (uint32_t)sim_le_get(raw + 40, 4);
    s->cdw11 = (uint32_t)sim_le_get(raw + 44, 4);
    s->cdw12 = (uint32_t)sim_le_get(raw + 48, 4);
    s->cdw13 = (uint32_t)sim_le_get(raw + 52, 4);
    s->cdw14 = (uint32_t)sim_le_get(raw + 56, 4);
    s->cdw15 = (uint32_t)sim_le_get(raw + 60, 4);
}

static void fetch_one(struct capdrv_sim *sim, struct sim_fn *f, uint16_t y)
{
    struct nvme_dev *d = nvme_of(f);
    struct nvme_sq *q = &d->sq[y];
    uint8_t raw[CAPDRV_NVME_SQE_SIZE];
    uint64_t at = q->base + (uint64_t)q->head * CAPDRV_NVME_SQE_SIZE;
    if (sim_dma_access(sim, f, at, raw, sizeof raw, false) < 0) {
        nvme_fatal(d); /* the command cannot even be identified */
        return;
    }
    q->head = (uint16_t)((q->head + 1u) % q->size);
    struct capdrv_nvme_sqe sqe;
    sqe_decode(raw, &sqe);
    struct nvme_cpl c;
    if (nvme_abort_marked(d, y, sqe.cid)) {
        memset(&c, 0, sizeof c);
        c.sqid = y;
        c.cid = sqe.cid;
        c.nsid = sqe.nsid;
        c.status = NVME_S_ABORT_REQ;
        nvme_complete(sim, f, c);
        return;
    }
    struct capdrv_sim_nvme_fault ft = match_fault(d, y, sqe.opc);
    switch (ft.kind) {
    case CAPDRV_SIM_NVME_FAULT_DROP:
        d->stats.dropped++;
        return;
    case CAPDRV_SIM_NVME_FAULT_STATUS:
        memset(&c, 0, sizeof c);
        c.sqid = y;
        c.cid = sqe.cid;
        c.nsid = sqe.nsid;
        c.status = ft.status & 0x7ffu;
        nvme_complete(sim, f, c);
        nvme_event(sim, f, NVME_AE_ERROR, NVME_AE_INFO_TRANSIENT, NVME_LOG_ERROR);
        return;
    case CAPDRV_SIM_NVME_FAULT_SLOW: {
        struct nvme_wait *w = nvme_pool_get(d); /* room checked by can_fetch() */
        if (!w)
            return;
        w->state = W_SLOW;
        w->due = sim_sat_add(sim->now_ns, ft.delay_ns);
        w->sqid = y;
        w->sqe = sqe;
        return;
    }
    default:
        break;
    }
    d->cur_fault = (uint8_t)ft.kind;
    bool done = nvme_execute(sim, f, y, &sqe, &c);
    d->cur_fault = CAPDRV_SIM_NVME_FAULT_NONE;
    if (done)
        nvme_complete(sim, f, c);
}

uint64_t nvme_sq_backlog(const struct nvme_dev *d)
{
    uint64_t n = 0;
    for (uint16_t y = 0; y < NVME_MAX_QUEUES; y++) {
        const struct nvme_sq *q = &d->sq[y];
        if (q->valid && q->size > 0)
            n += ((unsigned)q->tail + q->size - q->head) % q->size;
    }
    return n;
}

static bool can_fetch(const struct nvme_dev *d, uint16_t y)
{
    const struct nvme_sq *q = &d->sq[y];
    const struct nvme_cq *cq = &d->cq[q->cqid];
    return q->valid && q->head != q->tail && cq->valid && cq->stalled == 0 && !cq_full(cq) &&
           NVME_POOL - d->pool_used >= 2u;
}

void nvme_run_queues(struct capdrv_sim *sim, struct sim_fn *f)
{
    struct nvme_dev *d = nvme_of(f);
    if (d->in_run)
        return; /* the outer loop picks up whatever changed */
    d->in_run = true;
    /* Each fetch consumes one entry and nothing can ring a doorbell while
     * the lock is held, so this ends after at most the queued entries. */
    for (bool progress = true; progress;) {
        progress = false;
        for (uint16_t y = 0; y < NVME_MAX_QUEUES; y++) {
            while (nvme_running(d) && can_fetch(d, y)) {
                fetch_one(sim, f, y);
                progress = true;
            }
        }
    }
    d->in_run = false;
}

void nvme_pool_run(struct capdrv_sim *sim, struct sim_fn *f)
{
    struct nvme_dev *d = nvme_of(f);
    struct nvme_wait *best = NULL;
    for (unsigned i = 0; i < NVME_POOL; i++) {
        struct nvme_wait *w = &d->pool[i];
        if (w->state == W_SLOW && w->due <= sim->now_ns &&
            (!best || w->due < best->due || (w->due == best->due && w->seq < best->seq)))
            best = w;
    }
    if (!best)
        return;
    uint16_t sqid = best->sqid;
    struct capdrv_nvme_sqe sqe = best->sqe;
    nvme_pool_put(d, best);
    /* A controller that stopped (fatal error, shutdown) drops the work:
     * the event must make progress either way. */
    if (!nvme_running(d) || !d->sq[sqid].valid)
        return;
    struct nvme_cpl c;
    if (nvme_execute(sim, f, sqid, &sqe, &c))
        nvme_complete(sim, f, c);
    nvme_run_queues(sim, f);
}
