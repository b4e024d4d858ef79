/*
 * Private helpers of the split virtqueue (virtq.c, virtq_avail.c,
 * virtq_used.c): the per-descriptor private state, shared-memory accessors
 * with the VIRTIO 1.x little-endian conversion, and the chain release.
 *
 * Shared-memory access model. The rings are plain (non-_Atomic) structs in
 * DMA memory that a device, not a C thread, reads and writes. Every access
 * to a field the device may write, and every field whose store publishes
 * something, goes through a volatile access of the field's own width (read
 * or written exactly once, never torn for an aligned 16/32-bit field),
 * combined with a C11 atomic_thread_fence() exactly where VIRTIO 1.2
 * requires a barrier (the fences are at the call sites, each citing its
 * rule). This is the READ_ONCE/WRITE_ONCE + virtio_{w,r,}mb() model: it
 * keeps the wire structs as fixed-width integers (no _Atomic type in
 * memory someone else writes) and never accesses one object through two
 * different types.
 */
#ifndef CAPDRV_SRC_VIRTIO_VIRTQ_PRIV_H
#define CAPDRV_SRC_VIRTIO_VIRTQ_PRIV_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <capdrv/virtq.h>

/* ---- Private per-descriptor state -------------------------------------- */

/* Life of a descriptor, as the driver knows it. Only a head in
 * VQ_SLOT_INFLIGHT may be completed by the device (§2.7.8: a used element
 * names the head of a chain the driver made available). */
enum vq_slot_state {
    VQ_SLOT_FREE = 0,    /* on the free list */
    VQ_SLOT_QUEUED = 1,  /* head of a request added but not yet published */
    VQ_SLOT_INFLIGHT = 2,/* head of a published request not yet completed */
    VQ_SLOT_MID = 3      /* non-head descriptor of a direct chain */
};

/* One per descriptor, in the caller's private state region (never
 * device-visible), so the device cannot corrupt the free list, the chain
 * links or the cookies. */
struct capdrv_virtq_slot {
    void *cookie;   /* head: the caller's cookie */
    uint32_t wlen;  /* head: device-writable bytes posted, saturated at UINT32_MAX */
    uint16_t next;  /* free list link, or the next descriptor of the chain */
    uint16_t ndesc; /* head: ring descriptors the request holds (1 if indirect) */
    uint16_t state; /* enum vq_slot_state */
};

CAPDRV_STATIC_ASSERT(sizeof(struct capdrv_virtq_slot) <= CAPDRV_VIRTQ_SLOT_BYTES,
                     "CAPDRV_VIRTQ_SLOT_BYTES covers the private slot");
CAPDRV_STATIC_ASSERT(_Alignof(struct capdrv_virtq_slot) <= CAPDRV_VIRTQ_STATE_ALIGN,
                     "CAPDRV_VIRTQ_STATE_ALIGN covers the private slot");
CAPDRV_STATIC_ASSERT(CAPDRV_VIRTQ_MAX_SIZE <= 65535u, "descriptor indices fit in 16 bits");

/* ---- Little-endian conversion (VIRTIO 1.x: every field is le, §1.4) ---- */

#if defined(__BYTE_ORDER__) && defined(__ORDER_BIG_ENDIAN__)
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define VQ_BIG_ENDIAN 1
#endif
#endif

static inline uint16_t vq_le16(uint16_t v)
{
#ifdef VQ_BIG_ENDIAN
    return __builtin_bswap16(v);
#else
    return v;
#endif
}

static inline uint32_t vq_le32(uint32_t v)
{
#ifdef VQ_BIG_ENDIAN
    return __builtin_bswap32(v);
#else
    return v;
#endif
}

static inline uint64_t vq_le64(uint64_t v)
{
#ifdef VQ_BIG_ENDIAN
    return __builtin_bswap64(v);
#else
    return v;
#endif
}

/* ---- Shared-memory accessors (values in CPU order) --------------------- */

/* One read of a device-visible le16 field. */
static inline uint16_t vq_read16(const uint16_t *p)
{
    return vq_le16(*(const volatile uint16_t *)p);
}

/* One read of a device-visible le32 field. */
static inline uint32_t vq_read32(const uint32_t *p)
{
    return vq_le32(*(const volatile uint32_t *)p);
}

/* One store to a device-visible le16 field. */
static inline void vq_write16(uint16_t *p, uint16_t v)
{
    *(volatile uint16_t *)p = vq_le16(v);
}

/* ---- Queue state helpers ------------------------------------------------ */

/* Mark the queue broken (first fault wins) and return -CAPDRV_EPROTO. */
static inline int vq_break(struct capdrv_virtq *vq, enum capdrv_virtq_fault fault)
{
    if (vq->fault == CAPDRV_VIRTQ_OK)
        vq->fault = (int)fault;
    return -CAPDRV_EPROTO;
}

/*
 * Return the chain of @p head to the free list. Walks the private links
 * only (the device-visible `next` fields are never read back), so a device
 * that rewrote the descriptor table cannot redirect it. O(descriptors).
 */
static inline void vq_free_chain(struct capdrv_virtq *vq, uint16_t head)
{
    struct capdrv_virtq_slot *s = vq->slot;
    unsigned n = s[head].ndesc;
    uint16_t d = head;

    s[head].cookie = NULL;
    s[head].wlen = 0;
    for (unsigned i = 1;; i++) {
        s[d].state = VQ_SLOT_FREE;
        if (i >= n)
            break;
        d = s[d].next;
    }
    s[d].next = vq->free_head;
    vq->free_head = head;
    vq->num_free += n;
}

#endif /* CAPDRV_SRC_VIRTIO_VIRTQ_PRIV_H */
