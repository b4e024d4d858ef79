/*
 * Split virtqueue (VIRTIO 1.2 §2.7): layout, initialisation over caller
 * memory, detach after reset, fault names. Adding and publishing requests
 * is in virtq_avail.c, completions and used-buffer notifications in
 * virtq_used.c. Nothing here allocates or makes a system call.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <capdrv/virtq.h>

#include "virtq_priv.h"

/* Offsets below are computed in size_t from size <= 32768: at most
 * 16 * 32768 + 64 + 6 + 2 * 32768 + 6 + 8 * 32768 bytes, far from any
 * overflow even with a 32-bit size_t. */
#define VQ_USED_ALIGN 64u

static const char *const fault_names[] = {
    [CAPDRV_VIRTQ_OK] = "no fault",
    [CAPDRV_VIRTQ_FAULT_USED_ID_RANGE] = "used element id is not below the Queue Size",
    [CAPDRV_VIRTQ_FAULT_USED_ID_STATE] = "used element id is not the head of an in-flight request",
    [CAPDRV_VIRTQ_FAULT_USED_LEN] = "used element len exceeds the device-writable bytes posted",
    [CAPDRV_VIRTQ_FAULT_USED_IDX] = "used idx moved by more than the requests in flight",
    [CAPDRV_VIRTQ_FAULT_AVAIL_IDX] = "avail idx differs from what the driver published",
    [CAPDRV_VIRTQ_FAULT_AVAIL_RING] = "an avail ring entry differs from what the driver wrote",
    [CAPDRV_VIRTQ_FAULT_AVAIL_FLAGS] = "avail flags or used_event differ from what the driver wrote",
};

const char *capdrv_virtq_strfault(int fault)
{
    if (fault >= 0 && (size_t)fault < sizeof fault_names / sizeof fault_names[0])
        return fault_names[fault];
    return "unknown fault";
}

/* Queue Size rule: a power of two, 1 .. 32768 (§2.7). */
static int size_ok(unsigned size)
{
    return size >= 1u && size <= CAPDRV_VIRTQ_MAX_SIZE && (size & (size - 1u)) == 0;
}

int capdrv_virtq_layout(unsigned size, unsigned flags, struct capdrv_virtq_layout *out)
{
    if (out == NULL || !size_ok(size) ||
        (flags & ~(unsigned)(CAPDRV_VIRTQ_F_EVENT_IDX | CAPDRV_VIRTQ_F_INDIRECT)) != 0)
        return -CAPDRV_EINVAL;
    size_t n = size;
    out->size = n;
    /* Descriptor table: 16 * Queue Size bytes, alignment 16 (§2.7, table
     * "Virtqueue Part Alignment and Size"). At offset 0 of a 16-aligned
     * region. */
    out->desc_off = 0;
    out->desc_len = 16u * n;
    /* Available ring: 6 + 2 * Queue Size bytes (flags, idx, ring[],
     * used_event), alignment 2; right after the table (16 * n is even). */
    out->avail_off = out->desc_off + out->desc_len;
    out->avail_len = 6u + 2u * n;
    out->used_event_off = out->avail_off + CAPDRV_VRING_AVAIL_RING_OFF + 2u * n;
    /* Used ring: 6 + 8 * Queue Size bytes (flags, idx, ring[], avail_event),
     * alignment 4 (§2.7); we use 64 so the device-written area shares no
     * cache line with the driver-written ones. */
    size_t end_avail = out->avail_off + out->avail_len;
    out->used_off = (end_avail + (VQ_USED_ALIGN - 1u)) & ~(size_t)(VQ_USED_ALIGN - 1u);
    out->used_len = 6u + 8u * n;
    out->avail_event_off = out->used_off + CAPDRV_VRING_USED_RING_OFF + 8u * n;
    out->total_len = out->used_off + out->used_len;
    out->align = CAPDRV_VIRTQ_RING_ALIGN;
    return 0;
}

size_t capdrv_virtq_state_size(unsigned size)
{
    return size_ok(size) ? CAPDRV_VIRTQ_STATE_SIZE(size) : 0;
}

/* [a, a + alen) and [b, b + blen) share a byte. Lengths are > 0. */
static int overlaps(const void *a, size_t alen, const void *b, size_t blen)
{
    uintptr_t pa = (uintptr_t)a, pb = (uintptr_t)b;
    return pa < pb + blen && pb < pa + alen;
}

/* ref .. ref + len - 1 does not wrap the 64-bit reference space. */
static int ref_range_ok(uint64_t ref, uint64_t len)
{
    return len == 0 || ref <= UINT64_MAX - (len - 1u);
}

int capdrv_virtq_init(struct capdrv_virtq *vq, const struct capdrv_virtq_config *cfg)
{
    struct capdrv_virtq_layout lay;

    if (vq == NULL || cfg == NULL || capdrv_virtq_layout(cfg->size, cfg->flags, &lay) != 0)
        return -CAPDRV_EINVAL;

    /* Ring region: CPU pointer and DMA reference both 16-aligned, the
     * descriptor table's alignment (§2.7.1); the other parts are placed
     * inside it with their own alignment by capdrv_virtq_layout(). */
    if (cfg->ring == NULL || ((uintptr_t)cfg->ring & (CAPDRV_VIRTQ_RING_ALIGN - 1u)) != 0 ||
        cfg->ring_len < lay.total_len || (cfg->ring_ref & (CAPDRV_VIRTQ_RING_ALIGN - 1u)) != 0 ||
        !ref_range_ok(cfg->ring_ref, lay.total_len))
        return -CAPDRV_EINVAL;

    size_t state_len = CAPDRV_VIRTQ_STATE_SIZE(cfg->size);
    if (cfg->state == NULL || ((uintptr_t)cfg->state & (CAPDRV_VIRTQ_STATE_ALIGN - 1u)) != 0 ||
        cfg->state_len < state_len || overlaps(cfg->state, state_len, cfg->ring, lay.total_len))
        return -CAPDRV_EINVAL;

    uint64_t ind_bytes = 0;
    if ((cfg->flags & CAPDRV_VIRTQ_F_INDIRECT) != 0) {
        /* One table of indirect_max descriptors per head (§2.7.5.3); a
         * table longer than the Queue Size is never useful (the chain
         * limit, §2.7.5.3.1 / header). */
        if (cfg->indirect == NULL || cfg->indirect_max < 1u || cfg->indirect_max > cfg->size ||
            ((uintptr_t)cfg->indirect & (CAPDRV_VIRTQ_RING_ALIGN - 1u)) != 0 ||
            (cfg->indirect_ref & (CAPDRV_VIRTQ_RING_ALIGN - 1u)) != 0)
            return -CAPDRV_EINVAL;
        ind_bytes = (uint64_t)cfg->size * cfg->indirect_max * sizeof(struct capdrv_vring_desc);
        if ((uint64_t)cfg->indirect_len < ind_bytes || ind_bytes > (uint64_t)SIZE_MAX ||
            !ref_range_ok(cfg->indirect_ref, ind_bytes) ||
            overlaps(cfg->indirect, (size_t)ind_bytes, cfg->ring, lay.total_len) ||
            overlaps(cfg->indirect, (size_t)ind_bytes, cfg->state, state_len))
            return -CAPDRV_EINVAL;
    } else if (cfg->indirect != NULL || cfg->indirect_max != 0) {
        return -CAPDRV_EINVAL;
    }

    unsigned char *ring = cfg->ring;
    unsigned char *state = cfg->state;

    /* The device is not running yet (init precedes enabling the queue,
     * §3.1.1), so plain memset is fine. A zeroed used ring starts with
     * used->flags 0 and idx 0, a zeroed driver area with avail->idx 0
     * (§2.7.6, §2.7.8). */
    memset(ring, 0, lay.total_len);
    if (ind_bytes != 0)
        memset(cfg->indirect, 0, (size_t)ind_bytes);
    memset(state, 0, state_len);
    memset(vq, 0, sizeof *vq);

    /* Casts through void *: each offset keeps its part's alignment. */
    vq->desc = (struct capdrv_vring_desc *)(void *)(ring + lay.desc_off);
    vq->avail = (struct capdrv_vring_avail *)(void *)(ring + lay.avail_off);
    vq->avail_ring = (uint16_t *)(void *)(ring + lay.avail_off + CAPDRV_VRING_AVAIL_RING_OFF);
    vq->used_event = (uint16_t *)(void *)(ring + lay.used_event_off);
    vq->used = (struct capdrv_vring_used *)(void *)(ring + lay.used_off);
    vq->used_ring =
        (struct capdrv_vring_used_elem *)(void *)(ring + lay.used_off + CAPDRV_VRING_USED_RING_OFF);
    vq->avail_event = (uint16_t *)(void *)(ring + lay.avail_event_off);
    vq->desc_ref = cfg->ring_ref + lay.desc_off;
    vq->avail_ref = cfg->ring_ref + lay.avail_off;
    vq->used_ref = cfg->ring_ref + lay.used_off;
    if (ind_bytes != 0) {
        vq->indirect = cfg->indirect;
        vq->indirect_ref = cfg->indirect_ref;
        vq->indirect_max = cfg->indirect_max;
    }

    vq->slot = (struct capdrv_virtq_slot *)(void *)state;
    vq->avail_shadow =
        (uint16_t *)(void *)(state + (size_t)cfg->size * sizeof(struct capdrv_virtq_slot));
    vq->size = cfg->size;
    vq->mask = cfg->size - 1u;
    vq->flags = cfg->flags;

    /* Free list 0 -> 1 -> ... -> size - 1 (the last link is never
     * followed: num_free bounds every walk). */
    for (uint32_t i = 0; i < vq->size; i++)
        vq->slot[i].next = (uint16_t)(i + 1u);
    vq->num_free = vq->size;
    vq->free_head = 0;
    return 0;
}

int capdrv_virtq_detach(struct capdrv_virtq *vq, struct capdrv_virtq_completion *out, unsigned max)
{
    if (vq == NULL || (out == NULL && max > 0))
        return -CAPDRV_EINVAL;

    /* Resumable scan: start where the previous call stopped (detach_pos)
     * and go at most once around, so draining a queue with small batches
     * costs O(size + requests), and a return of 0 means a full circle found
     * nothing. Only private state is read: which heads are outstanding is
     * the driver's knowledge, not the device's. */
    unsigned n = 0;
    uint32_t pos = vq->detach_pos & vq->mask;
    for (uint32_t seen = 0; seen < vq->size && n < max; seen++, pos = (pos + 1u) & vq->mask) {
        struct capdrv_virtq_slot *s = &vq->slot[pos];
        if (s->state != VQ_SLOT_QUEUED && s->state != VQ_SLOT_INFLIGHT)
            continue;
        if (s->state == VQ_SLOT_INFLIGHT)
            vq->in_flight--;
        out[n].cookie = s->cookie;
        out[n].len = 0;
        n++;
        vq_free_chain(vq, (uint16_t)pos);
    }
    vq->detach_pos = (uint16_t)pos;
    /* Nothing is queued or in flight any more; keep the indices coherent
     * for the (forbidden) case of a caller that keeps using the queue. */
    if (n < max)
        vq->avail_next = vq->avail_pub;
    return (int)n;
}
