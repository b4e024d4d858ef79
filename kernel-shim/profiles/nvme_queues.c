/* The queue table, the shadow SQs of the brokered lane and the doorbells
 * (NVMe Base 2.0 §3.3.1 queue model, PCIe Transport 1.0 §3.1.2 doorbells, §3.5.1 admin
 * queue setup).
 *
 * Brokered: each SQ the device reads is shim-owned memory - the SQ itself
 * with the provider's slots 1:1, then one list page per slot for the
 * slot's PRP list or SGL segment - allocated when the queue is created and
 * kept until the controller is reset (a deleted queue id reuses it), so
 * the device never holds an address of freed memory while it may still
 * fetch. At each tail doorbell every new SQE is read once from the
 * provider's SQ, checked and resolved (nvme_sqe.c), written to the shadow
 * slot, and only then is the device's doorbell written.
 *
 * Direct: the device reads the provider's SQ by IOVA; each new SQE is
 * checked (every range against the ledger) before the doorbell.
 *
 * One refused SQE refuses the whole doorbell: the device's doorbell is not
 * written and queue creations/deletions of the batch are rolled back.
 *
 * Queue rings of one controller never overlap (checked at creation, both
 * lanes): the controller writes completions into CQs while it reads SQEs,
 * so in the direct lane a CQ over an SQ would change entries after the
 * shim checked them. (§5.4/§5.5 leave overlapping queues undefined.) */
#include "nvme_shim.h"

#include "../util.h"

static bool brokered(const struct shim_profile_ctx *ctx)
{
    return ctx->g->lane == CAPDRV_LANE_BROKERED;
}

static uint64_t sqe_area(uint64_t entries)
{
    return (entries * NVME_SQE + NVME_PAGE - 1u) & ~(uint64_t)(NVME_PAGE - 1u);
}

static void shadow_free(struct shim_profile_ctx *ctx, struct nvme_sq *q)
{
    if (q->shadow_live)
        shim_profile_shadow_free(ctx, q->shadow_idx);
    q->shadow_live = false;
    q->shadow = NULL;
    q->shadow_dev = 0;
    q->shadow_cap = 0;
}

/* A shadow for @entries slots: the SQ, then one list page per slot. */
static int shadow_get(struct shim_profile_ctx *ctx, struct nvme_sq *q, uint32_t entries)
{
    if (q->shadow_live && q->shadow_cap >= entries)
        return 0; /* a deleted queue id comes back: same shim memory */
    if (q->shadow_live)
        return -CAPDRV_EBUSY; /* larger than before: only after a reset */
    if (entries > NVME_BROKERED_MAX_QSIZE)
        return -CAPDRV_EINVAL;
    void *cpu;
    uint64_t dev;
    uint64_t bytes = sqe_area(entries) + (uint64_t)entries * NVME_PAGE;
    int rc = shim_profile_shadow_alloc(ctx, (size_t)bytes, &q->shadow_idx, &cpu, &dev);
    if (rc < 0)
        return rc;
    q->shadow_live = true;
    q->shadow = cpu;
    q->shadow_dev = dev;
    q->shadow_cap = entries;
    return 0;
}

static int db_write(struct shim_profile_ctx *ctx, const struct nvme_state *st, unsigned qid,
                    bool cq, uint64_t val)
{
    uint64_t off = NVME_DOORBELLS + (2ull * qid + (cq ? 1u : 0u)) * st->c.stride;
    return shim_profile_raw_write(ctx, 0, off, 4, val) < 0 ? -CAPDRV_EIO : 0;
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    /* Written so that no end address is computed: references come from
     * the provider and may sit just below 2^64. */
    if (alen == 0 || blen == 0)
        return false;
    return a <= b ? b - a < alen : a - b < blen;
}

bool nvme_overlaps_queue(const struct nvme_state *st, uint64_t ref, uint64_t len, bool cqs_only)
{
    for (unsigned i = 0; i <= NVME_MAX_QID; i++) {
        const struct nvme_cq *c = &st->cq[i];
        const struct nvme_sq *s = &st->sq[i];
        if (c->live && ranges_overlap(ref, len, c->ref, (uint64_t)c->size * NVME_CQE))
            return true;
        if (!cqs_only && s->live && ranges_overlap(ref, len, s->ref, (uint64_t)s->size * NVME_SQE))
            return true;
    }
    return false;
}

int nvme_sq_create(struct shim_profile_ctx *ctx, struct nvme_state *st, unsigned qid,
                   uint16_t size, uint16_t cqid, uint64_t ref, uint64_t *devbase)
{
    struct nvme_sq *q = &st->sq[qid];
    uint64_t dev;
    /* Brokered: the provider's SQ is only read by the shim, but it must be
     * its own memory, whole; direct: the device reads it there. */
    int rc = nvme_queue_base(ctx, ref, (uint64_t)size * NVME_SQE, &dev);
    if (rc == 0 && brokered(ctx)) {
        rc = shadow_get(ctx, q, size);
        dev = q->shadow_dev;
    }
    if (rc < 0)
        return rc;
    q->live = true;
    q->size = size;
    q->cqid = cqid;
    q->tail = 0; /* §3.3.1: a new queue's head and tail are 0 */
    q->ref = ref;
    *devbase = dev;
    return 0;
}

int nvme_admin_enable(struct shim_profile_ctx *ctx, struct nvme_state *st)
{
    /* §3.1.3.8: ASQS/ACQS are 0's based; at least 2 entries each. */
    uint32_t asqs = (st->aqa & 0xfffu) + 1u, acqs = ((st->aqa >> 16) & 0xfffu) + 1u;
    if (asqs < 2 || acqs < 2)
        return -CAPDRV_EINVAL;
    if (brokered(ctx) && asqs > NVME_BROKERED_MAX_QSIZE)
        return -CAPDRV_EINVAL;
    if (ranges_overlap(st->asq, (uint64_t)asqs * NVME_SQE, st->acq, (uint64_t)acqs * NVME_CQE))
        return -CAPDRV_EINVAL; /* see the file comment */
    uint64_t acq_dev, asq_dev;
    int rc = nvme_queue_base(ctx, st->acq, (uint64_t)acqs * NVME_CQE, &acq_dev);
    if (rc < 0)
        return rc;
    nvme_queues_drop(ctx, st); /* the controller is disabled: nothing is in use */
    struct nvme_sq *q = &st->sq[0];
    rc = nvme_queue_base(ctx, st->asq, (uint64_t)asqs * NVME_SQE, &asq_dev);
    if (rc == 0 && brokered(ctx)) {
        rc = shadow_get(ctx, q, asqs);
        asq_dev = q->shadow_dev;
    }
    /* §3.5.1: AQA, ASQ, ACQ before CC.EN; 64-bit registers as two
     * 32-bit halves, low first, which every controller accepts. */
    if (rc == 0 && shim_profile_raw_write(ctx, 0, NVME_AQA, 4, st->aqa) < 0)
        rc = -CAPDRV_EIO;
    if (rc == 0 && (shim_profile_raw_write(ctx, 0, NVME_ASQ, 4, asq_dev & 0xffffffffu) < 0 ||
                    shim_profile_raw_write(ctx, 0, NVME_ASQ + 4, 4, asq_dev >> 32) < 0 ||
                    shim_profile_raw_write(ctx, 0, NVME_ACQ, 4, acq_dev & 0xffffffffu) < 0 ||
                    shim_profile_raw_write(ctx, 0, NVME_ACQ + 4, 4, acq_dev >> 32) < 0))
        rc = -CAPDRV_EIO;
    if (rc < 0)
        return rc; /* the caller drops the shadow */
    q->live = true;
    q->size = (uint16_t)asqs;
    q->tail = 0;
    q->ref = st->asq;
    st->cq[0] = (struct nvme_cq){.live = true, .size = (uint16_t)acqs, .ref = st->acq};
    return 0;
}

/* A refused admin doorbell leaves the queue table as it was; shadows the
 * batch allocated are freed (the device never saw them). */
struct qsnap {
    struct nvme_sq sq[NVME_MAX_QID + 1];
    struct nvme_cq cq[NVME_MAX_QID + 1];
};

static void rollback(struct shim_profile_ctx *ctx, struct nvme_state *st, const struct qsnap *s)
{
    for (unsigned i = 0; i <= NVME_MAX_QID; i++) {
        struct nvme_sq *q = &st->sq[i];
        if (q->shadow_live && !(s->sq[i].shadow_live && s->sq[i].shadow_idx == q->shadow_idx))
            shadow_free(ctx, q);
        *q = s->sq[i];
        st->cq[i] = s->cq[i];
    }
}

int nvme_sq_doorbell(struct shim_profile_ctx *ctx, struct nvme_state *st, unsigned qid,
                     uint64_t tail)
{
    struct nvme_sq *q = &st->sq[qid];
    if (!st->enabled || st->stopping || st->shutdown || !q->live)
        return -CAPDRV_EINVAL; /* not a queue the controller runs now */
    if (tail >= q->size)
        return -CAPDRV_EINVAL; /* §3.3.1: a tail is a slot index */
    unsigned size = q->size, n = ((unsigned)tail + size - q->tail) % size;
    uint64_t dev;
    void *cpu;
    /* Re-resolve the provider's SQ each time: a released buffer fails
     * here instead of being read after free. */
    int rc = shim_profile_dma_publish_cpu(ctx, q->ref, (uint64_t)size * NVME_SQE, &dev, &cpu);
    if (rc < 0)
        return rc;
    struct qsnap *snap = NULL;
    if (qid == 0 && n > 0) {
        snap = shim_profile_alloc(ctx, sizeof *snap);
        if (!snap)
            return -CAPDRV_ENOMEM;
        for (unsigned i = 0; i <= NVME_MAX_QID; i++) {
            snap->sq[i] = st->sq[i];
            snap->cq[i] = st->cq[i];
        }
    }
    bool b = brokered(ctx);
    const volatile uint8_t *psq = cpu;
    for (unsigned i = 0; i < n && rc == 0; i++) {
        unsigned slot = (q->tail + i) % size;
        uint8_t e[NVME_SQE];
        for (unsigned k = 0; k < NVME_SQE; k++)
            e[k] = psq[slot * NVME_SQE + k]; /* read once: the checks use this copy */
        uint8_t *list_cpu = NULL;
        uint64_t list_dev = 0;
        if (b) {
            uint64_t lo = sqe_area(q->shadow_cap) + (uint64_t)slot * NVME_PAGE;
            list_cpu = q->shadow + lo;
            list_dev = q->shadow_dev + lo;
        }
        rc = nvme_sqe_check(ctx, st, qid, e, list_cpu, list_dev);
        if (rc == 0 && b) {
            volatile uint8_t *s = q->shadow + (uint64_t)slot * NVME_SQE;
            for (unsigned k = 0; k < NVME_SQE; k++)
                s[k] = e[k];
        }
    }
    if (rc == 0) {
        /* §3.3.1.2: the entries are in memory before the tail update. */
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        rc = db_write(ctx, st, qid, false, tail);
    }
    if (rc < 0) {
        if (snap)
            rollback(ctx, st, snap);
    } else {
        st->sq[qid].tail = (uint16_t)tail;
    }
    shim_profile_free(ctx, snap);
    return rc;
}

int nvme_cq_doorbell(struct shim_profile_ctx *ctx, struct nvme_state *st, unsigned qid,
                     uint64_t head)
{
    const struct nvme_cq *cq = &st->cq[qid];
    if (!st->enabled || st->stopping || !cq->live)
        return -CAPDRV_EINVAL;
    if (head >= cq->size)
        return -CAPDRV_EINVAL;
    return db_write(ctx, st, qid, true, head);
}

void nvme_queues_drop(struct shim_profile_ctx *ctx, struct nvme_state *st)
{
    for (unsigned i = 0; i <= NVME_MAX_QID; i++) {
        shadow_free(ctx, &st->sq[i]);
        st->sq[i] = (struct nvme_sq){0};
        st->cq[i] = (struct nvme_cq){0};
    }
}
