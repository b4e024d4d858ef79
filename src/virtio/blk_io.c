/* virtio-blk requests (VIRTIO 1.2 §5.2.6): checking, building the
 * header/data/status chain, batched submission, completion. */
#include "blk_internal.h"
#include "pci_internal.h"

#include <capdrv/virtio_mmio.h>

#include <string.h>

static void put_le32(uint8_t *p, uint32_t v)
{
    for (unsigned i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
    put_le32(p, (uint32_t)v);
    put_le32(p + 4, (uint32_t)(v >> 32));
}

static int feature(const struct capdrv_virtio_blk *b, unsigned bit)
{
    return (b->info.features >> bit) & 1u;
}

/* A range of @n sectors from @sector lies inside the device. */
static int in_capacity(const struct capdrv_virtio_blk *b, uint64_t sector, uint64_t n)
{
    return sector <= b->info.capacity && n <= b->info.capacity - sector;
}

/* Check one request against §5.2.6 and what was negotiated. */
static int check_req(const struct capdrv_virtio_blk *b, const struct capdrv_virtio_blk_req *r)
{
    uint64_t bytes = 0;
    if (r->n_segs > b->seg_limit || (r->n_segs && !r->segs))
        return -CAPDRV_EINVAL;
    /* Header, optional range, data and status must fit one chain (a chain
     * is at most Queue Size long, §2.7.5.3.1) ... */
    int ranged = r->type == CAPDRV_VIRTIO_BLK_T_DISCARD || r->type == CAPDRV_VIRTIO_BLK_T_WRITE_ZEROES;
    if ((uint64_t)r->n_segs + 2u + (unsigned)ranged > b->info.queue_size)
        return -CAPDRV_EINVAL;
    for (unsigned i = 0; i < r->n_segs; i++) {
        if (r->segs[i].len == 0)
            return -CAPDRV_EINVAL;
        bytes += r->segs[i].len;
    }
    /* ... and the whole chain must total less than 2^32 bytes (§2.7.5.2). */
    if (bytes + VBLK_HDR_BYTES + VBLK_RANGE_BYTES + 1u > UINT32_MAX)
        return -CAPDRV_EINVAL;
    switch (r->type) {
    case CAPDRV_VIRTIO_BLK_T_IN:
    case CAPDRV_VIRTIO_BLK_T_OUT:
        /* §5.2.6.1: data is a multiple of 512 bytes; sector counts 512-byte
         * units whatever blk_size is. The posted length also has to fit the
         * 32-bit used len with the status byte (§2.7.8). */
        if (r->n_segs == 0 || bytes % CAPDRV_VIRTIO_BLK_SECTOR_SIZE || r->flags ||
            bytes >= UINT32_MAX)
            return -CAPDRV_EINVAL;
        return in_capacity(b, r->sector, bytes / CAPDRV_VIRTIO_BLK_SECTOR_SIZE) ? 0
                                                                                 : -CAPDRV_ERANGE;
    case CAPDRV_VIRTIO_BLK_T_FLUSH:
        if (!feature(b, CAPDRV_VIRTIO_BLK_F_FLUSH))
            return -CAPDRV_ENOTSUP;
        /* §5.2.6.1: sector is 0 for FLUSH; no data. */
        return (r->n_segs || r->sector || r->flags) ? -CAPDRV_EINVAL : 0;
    case CAPDRV_VIRTIO_BLK_T_GET_ID:
        /* §5.2.6: a 20-byte device-writable id string. */
        return (bytes < CAPDRV_VIRTIO_BLK_ID_BYTES || bytes >= UINT32_MAX || r->sector ||
                r->flags)
                   ? -CAPDRV_EINVAL
                   : 0;
    case CAPDRV_VIRTIO_BLK_T_DISCARD:
    case CAPDRV_VIRTIO_BLK_T_WRITE_ZEROES: {
        int discard = r->type == CAPDRV_VIRTIO_BLK_T_DISCARD;
        if (!feature(b, discard ? CAPDRV_VIRTIO_BLK_F_DISCARD : CAPDRV_VIRTIO_BLK_F_WRITE_ZEROES))
            return -CAPDRV_ENOTSUP;
        /* §5.2.6.1: unmap is only meaningful (and only allowed) for
         * WRITE_ZEROES; the range comes in the request, not as data. */
        uint32_t allowed = discard ? 0 : CAPDRV_VIRTIO_BLK_WZ_UNMAP;
        if (r->n_segs || r->num_sectors == 0 || (r->flags & ~allowed))
            return -CAPDRV_EINVAL;
        uint32_t max = discard ? b->info.max_discard_sectors : b->info.max_write_zeroes_sectors;
        if ((max && r->num_sectors > max) || !in_capacity(b, r->sector, r->num_sectors))
            return -CAPDRV_ERANGE;
        return 0;
    }
    default:
        return -CAPDRV_EINVAL;
    }
}

/* Fill the slot's header (and range) and add the chain to the ring. */
static int add_req(struct vblk_queue *q,
                   const struct capdrv_virtio_blk_req *r)
{
    if (q->n_free == 0)
        return -CAPDRV_ENOSPC;
    struct vblk_slot *s = &q->slots[q->free_stack[q->n_free - 1u]];
    size_t base = q->slot_off + (size_t)s->index * VBLK_SLOT_BYTES;
    uint8_t *mem = (uint8_t *)q->io.bi.cpu + base;
    int ranged = r->type == CAPDRV_VIRTIO_BLK_T_DISCARD ||
                 r->type == CAPDRV_VIRTIO_BLK_T_WRITE_ZEROES;
    /* struct virtio_blk_req (§5.2.6): le32 type, le32 reserved, le64
     * sector; for a range command, sector in the header is 0 and the range
     * follows as struct virtio_blk_discard_write_zeroes. */
    put_le32(mem + VBLK_SLOT_HDR, r->type);
    put_le32(mem + VBLK_SLOT_HDR + 4, 0);
    put_le64(mem + VBLK_SLOT_HDR + 8, ranged ? 0 : r->sector);
    if (ranged) {
        put_le64(mem + VBLK_SLOT_RANGE, r->sector);
        put_le32(mem + VBLK_SLOT_RANGE + 8, r->num_sectors);
        put_le32(mem + VBLK_SLOT_RANGE + 12, r->flags);
    }
    mem[VBLK_SLOT_STATUS] = VBLK_STATUS_UNSET;

    struct capdrv_virtq_seg segs[CAPDRV_VIRTIO_BLK_MAX_SEGS + 3];
    unsigned n = 0, n_out, data_in = 0;
    segs[n++] = (struct capdrv_virtq_seg){capdrv_dma_ref(&q->io.bi, base + VBLK_SLOT_HDR),
                                          VBLK_HDR_BYTES};
    if (ranged)
        segs[n++] = (struct capdrv_virtq_seg){capdrv_dma_ref(&q->io.bi, base + VBLK_SLOT_RANGE),
                                              VBLK_RANGE_BYTES};
    for (unsigned i = 0; i < r->n_segs; i++) {
        segs[n++] = r->segs[i];
        data_in += r->segs[i].len;
    }
    /* §2.7.4.2: device-readable segments first. OUT data is readable; IN
     * and GET_ID data is writable, like the status byte. */
    int data_writable = r->type == CAPDRV_VIRTIO_BLK_T_IN || r->type == CAPDRV_VIRTIO_BLK_T_GET_ID;
    n_out = data_writable ? n - r->n_segs : n;
    if (!data_writable)
        data_in = 0;
    segs[n++] = (struct capdrv_virtq_seg){capdrv_dma_ref(&q->io.bi, base + VBLK_SLOT_STATUS), 1};
    int rc = capdrv_virtq_add(&q->io.vq, segs, n_out, n - n_out, s);
    if (rc < 0)
        return rc;
    s->cookie = r->cookie;
    s->type = r->type;
    s->in_len = data_in + 1u;
    q->n_free--;
    q->inflight++;
    return 0;
}

int capdrv_virtio_blk_submit(struct capdrv_virtio_blk *blk, unsigned q,
                             const struct capdrv_virtio_blk_req *reqs, unsigned n)
{
    if (!blk || q >= blk->info.num_queues || (n && !reqs))
        return -CAPDRV_EINVAL;
    if (blk->cancelled)
        return -CAPDRV_ECANCELED;
    struct vblk_queue *vq = &blk->q[q];
    if (vq->io.doorbell_rc < 0)
        return -CAPDRV_EPROTO; /* see below: only a reset recovers */
    for (unsigned i = 0; i < n; i++) {
        int rc = check_req(blk, &reqs[i]);
        if (rc < 0)
            return rc;
    }
    unsigned done = 0;
    while (done < n) {
        int rc = add_req(vq, &reqs[done]);
        if (rc == -CAPDRV_ENOSPC)
            break;
        if (rc < 0)
            return rc; /* -CAPDRV_EPROTO: the queue is broken (nothing was added) */
        done++;
    }
    if (done == 0)
        return 0;
    /* One release store of avail->idx for the whole batch (§2.7.13.3),
     * then one doorbell (§2.7.13.4; always in the brokered lane). */
    int rc = capdrv_virtq_publish(&vq->io.vq);
    if (rc >= 0) {
        /* PCI: the queue's notify address (§4.1.5.2); MMIO: QueueNotify
         * (§4.2.3.3). */
        struct vt v;
        vblk_transport(blk, &v);
        rc = vt_kick(&v, vq->io.pq.lane, vq->io.pq.index, vq->io.pq.notify_off, &vq->io.vq);
    }
    if (rc < 0) {
        /* The requests are in the ring but the kernel refused the doorbell
         * (e.g. a reference outside the ledger): every later doorbell would
         * re-check the same entries. The queue is unusable until a reset;
         * say so on every later submit instead of queueing more. */
        vq->io.doorbell_rc = rc;
        return rc;
    }
    return (int)done;
}

/* The request's outcome from its status byte and used length. */
static int finish(struct vblk_queue *q, struct vblk_slot *s, uint32_t used_len, uint32_t *data)
{
    const volatile uint8_t *st =
        (const volatile uint8_t *)q->io.bi.cpu + q->slot_off + (size_t)s->index * VBLK_SLOT_BYTES +
        VBLK_SLOT_STATUS;
    uint8_t status = *st; /* read once: device-written memory */
    *data = used_len ? used_len - 1u : 0;
    /* §2.7.8: len counts the bytes written to the device-writable part;
     * the status byte is its last byte. Without it nothing was reported. A
     * success must cover all of it, or data the caller will trust was not
     * written (GET_ID may write fewer than the posted id bytes, §5.2.6). */
    if (used_len == 0)
        return -CAPDRV_EPROTO;
    if (status == CAPDRV_VIRTIO_BLK_S_OK && s->type != CAPDRV_VIRTIO_BLK_T_GET_ID &&
        used_len != s->in_len)
        return -CAPDRV_EPROTO;
    switch (status) {
    case CAPDRV_VIRTIO_BLK_S_OK: return 0;
    case CAPDRV_VIRTIO_BLK_S_IOERR: return -CAPDRV_EIO;
    case CAPDRV_VIRTIO_BLK_S_UNSUPP: return -CAPDRV_ENOTSUP;
    default: return -CAPDRV_EPROTO;
    }
}

int capdrv_virtio_blk_reap(struct capdrv_virtio_blk *blk, unsigned q,
                           struct capdrv_virtio_blk_done *out, unsigned max)
{
    if (!blk || q >= blk->info.num_queues || (max && !out))
        return -CAPDRV_EINVAL;
    if (blk->cancelled)
        return -CAPDRV_ECANCELED;
    struct vblk_queue *vq = &blk->q[q];
    enum { CHUNK = 32 };
    struct capdrv_virtq_completion c[CHUNK];
    unsigned got = 0;
    while (got < max) {
        unsigned want = max - got < CHUNK ? max - got : CHUNK;
        int n = capdrv_virtq_reap(&vq->io.vq, c, want);
        if (n < 0)
            return got ? (int)got : n; /* the next call reports the fault */
        for (int i = 0; i < n; i++) {
            /* Cookies come from the virtq's private state, never from
             * device memory: the slot pointer is ours. */
            struct vblk_slot *s = c[i].cookie;
            struct capdrv_virtio_blk_done *d = &out[got++];
            d->cookie = s->cookie;
            d->status = finish(vq, s, c[i].len, &d->len);
            vq->free_stack[vq->n_free++] = s->index;
            vq->inflight--;
        }
        /* Audit the available ring once per Queue Size completions
         * (queue.h); a rewrite found breaks the queue: what was taken is
         * returned, the next call reports the fault. */
        if (n > 0 && vio_queue_audit(&vq->io, (unsigned)n) < 0)
            break;
        if ((unsigned)n < want)
            break;
    }
    return (int)got;
}

/* virtio-mmio: one line for every queue and for configuration changes
 * (§4.2.3.4). Read InterruptStatus, acknowledge what it reports through
 * InterruptACK (the device then drops the line), then acknowledge the
 * kernel's capability so the next assertion is delivered. A used buffer of
 * another queue wakes this wait too: the caller reaps nothing and waits
 * again. */
static int wait_line(struct capdrv_virtio_blk *blk, struct vblk_queue *vq, int64_t timeout_ns)
{
    int rc = capdrv_virtq_enable_cb(&vq->io.vq); /* §2.7.14: arm, then re-check */
    if (rc != 0)
        return rc < 0 ? rc : 1;
    uint64_t ready = 0;
    if ((rc = capdrv_irq_wait(blk->sys, &blk->cfg_irq, 1, timeout_ns, &ready)) < 0)
        return rc;
    uint32_t cause = 0;
    if ((rc = capdrv_virtio_mmio_irq_status(&blk->vm, &cause)) < 0)
        return rc;
    cause &= CAPDRV_VIRTIO_MMIO_INT_VRING | CAPDRV_VIRTIO_MMIO_INT_CONFIG;
    if (cause && (rc = capdrv_virtio_mmio_irq_ack(&blk->vm, cause)) < 0)
        return rc;
    if ((rc = capdrv_irq_ack(blk->sys, blk->cfg_irq)) < 0)
        return rc;
    /* A configuration change may be DEVICE_NEEDS_RESET (§2.1.2). */
    if ((cause & CAPDRV_VIRTIO_MMIO_INT_CONFIG) && (rc = capdrv_virtio_mmio_check(&blk->vm)) < 0)
        return rc;
    return 1;
}

int capdrv_virtio_blk_wait(struct capdrv_virtio_blk *blk, unsigned q, int64_t timeout_ns)
{
    if (!blk || q >= blk->info.num_queues)
        return -CAPDRV_EINVAL;
    if (blk->cancelled)
        return -CAPDRV_ECANCELED;
    struct vblk_queue *vq = &blk->q[q];
    if (blk->mmio)
        return blk->cfg_irq ? wait_line(blk, vq, timeout_ns) : -CAPDRV_ENOTSUP;
    if (!vq->io.irq || !blk->cfg_irq)
        return -CAPDRV_ENOTSUP;
    /* §2.7.14: arm, then re-check, so a completion that raced with the
     * arming is not slept through. */
    int rc = capdrv_virtq_enable_cb(&vq->io.vq);
    if (rc != 0)
        return rc < 0 ? rc : 1;
    capdrv_cap_t irqs[2] = {vq->io.irq, blk->cfg_irq};
    uint64_t ready = 0;
    rc = capdrv_irq_wait(blk->sys, irqs, 2, timeout_ns, &ready);
    if (rc < 0)
        return rc;
    if (ready & 1u)
        (void)capdrv_irq_ack(blk->sys, vq->io.irq);
    if (ready & 2u) {
        (void)capdrv_irq_ack(blk->sys, blk->cfg_irq);
        /* A configuration change may be DEVICE_NEEDS_RESET (§2.1.2). */
        struct vt v;
        vblk_transport(blk, &v);
        if ((rc = vt_check(&v)) < 0)
            return rc;
    }
    return 1;
}

int capdrv_virtio_blk_cancel(struct capdrv_virtio_blk *blk, struct capdrv_virtio_blk_done *out,
                             unsigned max)
{
    if (!blk || (max && !out))
        return -CAPDRV_EINVAL;
    if (!blk->cancelled) {
        /* §2.4 / §4.1.4.3.2 / §4.2.2 Status: once it reads back 0 the device
         * no longer uses the rings or the buffers they name. */
        struct vt v;
        vblk_transport(blk, &v);
        blk->cancel_rc = vt_reset(&v);
        blk->cancelled = true;
    }
    enum { CHUNK = 32 };
    struct capdrv_virtq_completion c[CHUNK];
    unsigned got = 0;
    while (got < max && blk->cancel_q < blk->info.num_queues) {
        struct vblk_queue *vq = &blk->q[blk->cancel_q];
        unsigned want = max - got < CHUNK ? max - got : CHUNK;
        /* The driver's own record of what is outstanding, never the
         * device's rings; works on a broken queue too. */
        int n = capdrv_virtq_detach(&vq->io.vq, c, want);
        if (n < 0)
            return n;
        for (int i = 0; i < n; i++) {
            struct vblk_slot *s = c[i].cookie;
            out[got++] = (struct capdrv_virtio_blk_done){.cookie = s->cookie, .len = 0,
                                                         .status = -CAPDRV_ECANCELED};
            vq->free_stack[vq->n_free++] = s->index;
            vq->inflight--;
        }
        if ((unsigned)n < want)
            blk->cancel_q++;
    }
    return (int)got;
}
