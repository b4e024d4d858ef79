/*
 * Split virtqueue, driver-to-device direction (VIRTIO 1.2 §2.7.13
 * "Supplying Buffers to The Device"): building descriptor chains, batched
 * publication, available-buffer notification suppression (§2.7.10) and the
 * audit of the driver area.
 *
 * The descriptor table and the available ring are written by the driver
 * only. Nothing here ever reads the descriptor table back; the available
 * ring is read back solely to detect a device that wrote into it (the
 * private avail_shadow copy is what the driver acts on).
 */
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <capdrv/virtq.h>

#include "virtq_priv.h"

/* §2.7.5.2: "Drivers MUST NOT add a descriptor chain longer than 2^32
 * bytes in total". */
#define VQ_MAX_REQ_BYTES ((uint64_t)1 << 32)

static void put_desc(struct capdrv_vring_desc *d, uint64_t addr, uint32_t len, uint16_t flags,
                     uint16_t next)
{
    d->addr = vq_le64(addr);
    d->len = vq_le32(len);
    d->flags = vq_le16(flags);
    d->next = vq_le16(next);
}

/* Record @p head as queued and put it in the available ring now
 * (§2.7.13.2); only the idx update at publish exposes it to the device
 * (§2.7.13.3). */
static inline void queue_head(struct capdrv_virtq *vq, uint16_t head, uint16_t ndesc, void *cookie,
                              uint32_t wlen)
{
    struct capdrv_virtq_slot *s = &vq->slot[head];
    s->state = VQ_SLOT_QUEUED;
    s->ndesc = ndesc;
    s->cookie = cookie;
    s->wlen = wlen;
    uint16_t pos = (uint16_t)(vq->avail_next & vq->mask);
    vq_write16(&vq->avail_ring[pos], head);
    vq->avail_shadow[pos] = head;
    vq->avail_next++;
}

/* Chains of two or more segments (direct or indirect): the general path. */
static int add_chain(struct capdrv_virtq *vq, const struct capdrv_virtq_seg *segs, unsigned n_out,
                     unsigned n_in, void *cookie)
{
    /* "A driver MUST NOT create a descriptor chain longer than the Queue
     * Size" (§2.7.5.3.1; an indirect table's entries count as the chain).
     * Each count is bounded first so the sum cannot wrap. */
    if (n_out > vq->size || n_in > vq->size)
        return -CAPDRV_EINVAL;
    unsigned nseg = n_out + n_in;
    if (nseg == 0 || nseg > vq->size)
        return -CAPDRV_EINVAL;

    uint64_t total = 0, wtotal = 0;
    for (unsigned i = 0; i < nseg; i++) {
        if (segs[i].len == 0)
            return -CAPDRV_EINVAL;
        total += segs[i].len; /* <= 32768 * (2^32 - 1): no wrap */
        if (i >= n_out)
            wtotal += segs[i].len;
    }
    if (total > VQ_MAX_REQ_BYTES)
        return -CAPDRV_EOVERFLOW;

    /* Indirect (§2.7.5.3) when negotiated and the table can hold the
     * request; a single segment takes one descriptor either way, so it
     * stays direct and leaves its table unused. */
    int indirect = vq->indirect != NULL && nseg >= 2u && nseg <= vq->indirect_max;
    unsigned need = indirect ? 1u : nseg;
    if (need > vq->num_free)
        return -CAPDRV_ENOSPC;

    struct capdrv_virtq_slot *s = vq->slot;
    uint16_t head = vq->free_head;

    if (indirect) {
        /* The head's own table: entries 0 .. nseg-1 chained through `next`
         * inside the table, never F_INDIRECT (§2.7.5.3.1), readable before
         * writable (§2.7.4.2). */
        struct capdrv_vring_desc *tbl = vq->indirect + (size_t)head * vq->indirect_max;
        for (unsigned i = 0; i < nseg; i++) {
            uint16_t fl = (uint16_t)((i >= n_out ? CAPDRV_VRING_DESC_F_WRITE : 0u) |
                                     (i + 1u < nseg ? CAPDRV_VRING_DESC_F_NEXT : 0u));
            put_desc(&tbl[i], segs[i].ref, segs[i].len, fl,
                     (uint16_t)(i + 1u < nseg ? i + 1u : 0u));
        }
        /* The ring descriptor: F_INDIRECT alone (never with F_NEXT,
         * §2.7.5.3.1; F_WRITE would be ignored, §2.7.5.3.2); addr and len
         * are the table's reference and size in bytes (§2.7.5.3). */
        uint64_t tref = vq->indirect_ref +
                        (uint64_t)head * vq->indirect_max * sizeof(struct capdrv_vring_desc);
        put_desc(&vq->desc[head], tref,
                 (uint32_t)(nseg * sizeof(struct capdrv_vring_desc)),
                 (uint16_t)CAPDRV_VRING_DESC_F_INDIRECT, 0);
        vq->free_head = s[head].next;
    } else {
        /* Direct chain through the free list's own order: the private
         * links become the chain's links, so freeing is a splice. */
        uint16_t d = head;
        for (unsigned i = 0;; i++) {
            uint16_t nx = s[d].next;
            uint16_t fl = (uint16_t)((i >= n_out ? CAPDRV_VRING_DESC_F_WRITE : 0u) |
                                     (i + 1u < nseg ? CAPDRV_VRING_DESC_F_NEXT : 0u));
            put_desc(&vq->desc[d], segs[i].ref, segs[i].len, fl, i + 1u < nseg ? nx : 0u);
            s[d].state = VQ_SLOT_MID;
            if (i + 1u == nseg) {
                vq->free_head = nx;
                break;
            }
            d = nx;
        }
    }
    vq->num_free -= need;

    queue_head(vq, head, (uint16_t)need, cookie,
               wtotal > UINT32_MAX ? UINT32_MAX : (uint32_t)wtotal);
    return 0;
}

int capdrv_virtq_add(struct capdrv_virtq *vq, const struct capdrv_virtq_seg *segs, unsigned n_out,
                     unsigned n_in, void *cookie)
{
    if (vq == NULL || segs == NULL)
        return -CAPDRV_EINVAL;
    if (vq->fault != CAPDRV_VIRTQ_OK)
        return -CAPDRV_EPROTO;
    if (n_out + n_in != 1u || n_out > 1u)
        return add_chain(vq, segs, n_out, n_in, cookie);
    /* One segment (the common case: a receive buffer, a single-buffer
     * request): one descriptor, never indirect, no chain to walk. The same
     * rules as the general path: a non-empty segment (§2.7.5), a free
     * descriptor. */
    uint32_t len = segs[0].len;
    if (len == 0)
        return -CAPDRV_EINVAL;
    if (vq->num_free == 0)
        return -CAPDRV_ENOSPC;
    uint16_t head = vq->free_head;
    vq->free_head = vq->slot[head].next;
    vq->num_free--;
    put_desc(&vq->desc[head], segs[0].ref, len, n_in ? (uint16_t)CAPDRV_VRING_DESC_F_WRITE : 0u,
             0);
    queue_head(vq, head, 1, cookie, n_in ? len : 0u);
    return 0;
}

/* The driver area's header and used_event still hold what the driver
 * wrote: it "is only written by the driver and read by the device"
 * (§2.7.6). */
static int check_avail_header(struct capdrv_virtq *vq)
{
    if (vq_read16(&vq->avail->idx) != vq->avail_pub)
        return vq_break(vq, CAPDRV_VIRTQ_FAULT_AVAIL_IDX);
    if (vq_read16(&vq->avail->flags) != vq->avail_flags ||
        vq_read16(vq->used_event) != vq->used_event_val)
        return vq_break(vq, CAPDRV_VIRTQ_FAULT_AVAIL_FLAGS);
    return 0;
}

/* Ring entries [from, from + n) (free-running indices) match the shadow. */
static int check_avail_entries(struct capdrv_virtq *vq, uint16_t from, uint32_t n)
{
    for (uint32_t k = 0; k < n; k++) {
        uint16_t pos = (uint16_t)((from + k) & vq->mask);
        if (vq_read16(&vq->avail_ring[pos]) != vq->avail_shadow[pos])
            return vq_break(vq, CAPDRV_VIRTQ_FAULT_AVAIL_RING);
    }
    return 0;
}

int capdrv_virtq_publish(struct capdrv_virtq *vq)
{
    if (vq == NULL)
        return -CAPDRV_EINVAL;
    if (vq->fault != CAPDRV_VIRTQ_OK)
        return -CAPDRV_EPROTO;

    /* At most Queue Size heads are queued (each holds a descriptor). */
    uint32_t n = (uint16_t)(vq->avail_next - vq->avail_pub);
    if (check_avail_header(vq) != 0)
        return -CAPDRV_EPROTO;
    if (n == 0)
        return 0;

    /* One pass: each new entry still holds what the driver wrote, and its
     * head goes in flight. On a rewritten entry the queue breaks and
     * nothing is published: the heads already marked go back to queued
     * (detach counts in-flight heads against in_flight). */
    for (uint32_t k = 0; k < n; k++) {
        uint16_t pos = (uint16_t)((vq->avail_pub + k) & vq->mask);
        uint16_t head = vq->avail_shadow[pos];
        if (vq_read16(&vq->avail_ring[pos]) != head) {
            while (k-- > 0)
                vq->slot[vq->avail_shadow[(vq->avail_pub + k) & vq->mask]].state = VQ_SLOT_QUEUED;
            vq_break(vq, CAPDRV_VIRTQ_FAULT_AVAIL_RING);
            return -CAPDRV_EPROTO;
        }
        vq->slot[head].state = VQ_SLOT_INFLIGHT;
    }
    vq->in_flight += n;
    vq->since_kick = vq->since_kick > UINT32_MAX - n ? UINT32_MAX : vq->since_kick + n;

    /* VIRTIO 1.2 §2.7.13.3.1: "The driver MUST perform a suitable memory
     * barrier before the idx update, to ensure the device sees the most
     * up-to-date copy" of the descriptors, indirect tables and ring entries
     * written by capdrv_virtq_add() (step 4 of §2.7.13). Release fence,
     * then the one store of avail->idx for the whole batch (step 5); pairs
     * with the device's read barrier between reading avail->idx and reading
     * the ring entries and descriptors. */
    atomic_thread_fence(memory_order_release);
    vq_write16(&vq->avail->idx, vq->avail_next);
    vq->avail_pub = vq->avail_next;
    return (int)n;
}

int capdrv_virtq_needs_notify(struct capdrv_virtq *vq)
{
    if (vq == NULL)
        return -CAPDRV_EINVAL;
    if (vq->fault != CAPDRV_VIRTQ_OK)
        return -CAPDRV_EPROTO;

    uint32_t added = vq->since_kick;
    uint16_t old_idx = vq->kick_idx, new_idx = vq->avail_pub;
    vq->since_kick = 0;
    vq->kick_idx = new_idx;
    if (added == 0)
        return 0;

    /* VIRTIO 1.2 §2.7.13.4.1: the driver "MUST perform a suitable memory
     * barrier before reading flags or avail_event, to avoid missing a
     * notification" (step 6 of §2.7.13). The avail->idx store in
     * publish must be globally visible before we load the device's
     * suppression state: a store->load order, which only a full fence
     * gives. Pairs with the device's full barrier between writing
     * avail_event/flags and re-reading avail->idx. */
    atomic_thread_fence(memory_order_seq_cst);

    if ((vq->flags & CAPDRV_VIRTQ_F_EVENT_IDX) != 0) {
        /* §2.7.10.1 with EVENT_IDX: notify iff one of the idx values
         * the entries were written at, [old, new), equals avail_event
         * (flags is ignored). The 16-bit test cannot tell after 65536 or
         * more additions: then always notify (spurious notifications are
         * allowed, §2.7.10.2). */
        if (added > 0xffffu)
            return 1;
        uint16_t ev = vq_read16(vq->avail_event); /* any value is harmless */
        return capdrv_vring_need_event(ev, new_idx, old_idx);
    }
    /* §2.7.10.1 without EVENT_IDX: flags 1 means "SHOULD NOT notify", 0
     * "MUST notify" (avail_event is ignored). The device may only write 0
     * or 1 (§2.7.10.2); of any other value only bit 0 is honoured. */
    return (vq_read16(&vq->used->flags) & CAPDRV_VRING_USED_F_NO_NOTIFY) == 0;
}

int capdrv_virtq_verify(struct capdrv_virtq *vq)
{
    if (vq == NULL)
        return -CAPDRV_EINVAL;
    if (vq->fault != CAPDRV_VIRTQ_OK)
        return -CAPDRV_EPROTO;
    if (check_avail_header(vq) != 0 || check_avail_entries(vq, 0, vq->size) != 0)
        return -CAPDRV_EPROTO;
    return 0;
}
