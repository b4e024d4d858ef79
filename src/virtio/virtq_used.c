/*
 * Split virtqueue, device-to-driver direction (VIRTIO 1.2 §2.7.14
 * "Receiving Used Buffers From The Device"): reaping the used ring against
 * a hostile device, and used-buffer notification suppression (§2.7.7).
 *
 * The used ring is device-written: every value read from it is untrusted.
 * used->idx is read once per call; each element is copied into locals once
 * (one read of `id`, one of `len`) and validated against the private
 * per-descriptor state before anything is done with it.
 */
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <capdrv/virtq.h>

#include "virtq_priv.h"

/* Elements the device has added since the driver last consumed, or a
 * fault if that is more than can be in flight. */
static int used_pending(struct capdrv_virtq *vq, uint16_t used_idx, uint32_t *pending)
{
    /* Free-running 16-bit indices (§2.7.8): the distance is modulo 2^16.
     * A device that moved idx backwards shows up as a huge distance; one
     * that completed more than was published as a distance above
     * in_flight. Either is a protocol violation. */
    uint32_t n = (uint16_t)(used_idx - vq->last_used);
    if (n > vq->in_flight)
        return vq_break(vq, CAPDRV_VIRTQ_FAULT_USED_IDX);
    *pending = n;
    return 0;
}

int capdrv_virtq_reap(struct capdrv_virtq *vq, struct capdrv_virtq_completion *out, unsigned max)
{
    if (vq == NULL || (out == NULL && max > 0))
        return -CAPDRV_EINVAL;
    if (vq->fault != CAPDRV_VIRTQ_OK)
        return -CAPDRV_EPROTO;

    /* Read used->idx once, then an acquire fence: the element reads below
     * must not be satisfied before it (§2.7.14 reads entries only after
     * seeing idx move). Pairs with the device's write barrier between
     * writing the element and updating used->idx ("The device MUST set len
     * prior to updating the used idx", §2.7.8.2). */
    uint16_t used_idx = vq_read16(&vq->used->idx);
    atomic_thread_fence(memory_order_acquire);

    uint32_t pending;
    if (used_pending(vq, used_idx, &pending) != 0)
        return -CAPDRV_EPROTO;

    struct capdrv_virtq_slot *s = vq->slot;
    unsigned n = 0;
    while (n < max && pending > 0) {
        const struct capdrv_vring_used_elem *e = &vq->used_ring[vq->last_used & vq->mask];
        /* Read once into locals; validate; only then use. */
        uint32_t id = vq_read32(&e->id);
        uint32_t len = vq_read32(&e->len);

        if (id >= vq->size) {
            vq_break(vq, CAPDRV_VIRTQ_FAULT_USED_ID_RANGE);
            break;
        }
        /* §2.7.8: id is "the head entry of the descriptor chain" the
         * driver placed in the available ring. Only a published, not yet
         * completed head qualifies: this refuses double completions, ids in
         * the middle of a chain, free ids and heads not yet published. */
        if (s[id].state != VQ_SLOT_INFLIGHT) {
            vq_break(vq, CAPDRV_VIRTQ_FAULT_USED_ID_STATE);
            break;
        }
        /* §2.7.8: len is the number of bytes written "into the device
         * writable portion of the buffer"; more than was posted is a lie
         * that would make the driver trust bytes the device never wrote
         * (§2.7.8.3). */
        if (len > s[id].wlen) {
            vq_break(vq, CAPDRV_VIRTQ_FAULT_USED_LEN);
            break;
        }

        out[n].cookie = s[id].cookie;
        out[n].len = len;
        n++;
        vq_free_chain(vq, (uint16_t)id);
        vq->in_flight--;
        vq->last_used++;
        pending--;
    }
    /* Completions taken before a fault are returned (each exactly once);
     * the next call reports the fault. */
    if (n == 0 && vq->fault != CAPDRV_VIRTQ_OK)
        return -CAPDRV_EPROTO;
    return (int)n;
}

int capdrv_virtq_disable_cb(struct capdrv_virtq *vq)
{
    if (vq == NULL)
        return -CAPDRV_EINVAL;
    if (vq->fault != CAPDRV_VIRTQ_OK)
        return -CAPDRV_EPROTO;

    /* Advisory only (§2.7.7: "Neither of these notification suppression
     * methods are reliable"), so no barrier. */
    if ((vq->flags & CAPDRV_VIRTQ_F_EVENT_IDX) != 0) {
        /* With EVENT_IDX flags MUST stay 0 (§2.7.7.1); instead point
         * used_event just behind the next entry: the device would notify
         * only after used->idx advanced by another 65535, which cannot
         * happen before the driver consumes many more completions. */
        vq->used_event_val = (uint16_t)(vq->last_used - 1u);
        vq_write16(vq->used_event, vq->used_event_val);
    } else if ((vq->avail_flags & CAPDRV_VRING_AVAIL_F_NO_INTERRUPT) == 0) {
        /* §2.7.7.1 without EVENT_IDX: flags 1 advises "no notifications". */
        vq->avail_flags = CAPDRV_VRING_AVAIL_F_NO_INTERRUPT;
        vq_write16(&vq->avail->flags, vq->avail_flags);
    }
    return 0;
}

int capdrv_virtq_enable_cb(struct capdrv_virtq *vq)
{
    if (vq == NULL)
        return -CAPDRV_EINVAL;
    if (vq->fault != CAPDRV_VIRTQ_OK)
        return -CAPDRV_EPROTO;

    if ((vq->flags & CAPDRV_VIRTQ_F_EVENT_IDX) != 0) {
        /* §2.7.7.1: notify when the device writes the entry at index
         * used_event, i.e. the next one the driver has not consumed. */
        vq->used_event_val = vq->last_used;
        vq_write16(vq->used_event, vq->used_event_val);
    } else if ((vq->avail_flags & CAPDRV_VRING_AVAIL_F_NO_INTERRUPT) != 0) {
        vq->avail_flags = 0;
        vq_write16(&vq->avail->flags, 0);
    }

    /* §2.7.14: "beware the problem of missing notifications between
     * emptying the ring and reenabling notifications", handled "by
     * re-checking for more used buffers after notifications are
     * reenabled" with a full barrier in between (the spec's mb()). The
     * used_event/flags store must be visible to the device before we load
     * used->idx: a store->load order, so seq_cst. Pairs with the device's
     * full barrier between updating used->idx and reading used_event or
     * flags (§2.7.7.2). */
    atomic_thread_fence(memory_order_seq_cst);

    uint32_t pending;
    if (used_pending(vq, vq_read16(&vq->used->idx), &pending) != 0)
        return -CAPDRV_EPROTO;
    return pending != 0;
}
