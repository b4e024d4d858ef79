/**
 * @file capdrv/virtq.h
 * @brief VIRTIO 1.2 split virtqueue (§2.7), driver side, hardened against a
 *        hostile device.
 *
 * A split virtqueue is three areas in device-visible memory (VIRTIO 1.2
 * §2.7): the descriptor table (driver-written), the available ring or
 * "driver area" (driver-written) and the used ring or "device area"
 * (device-written). This module owns the driver's half of that protocol:
 * free-list management, descriptor chains (device-readable segments before
 * device-writable ones, §2.7.4.2), indirect tables (§2.7.5.3), batched
 * publication with one release store of avail->idx (§2.7.13), notification
 * suppression in both directions (VIRTIO_F_EVENT_IDX, §2.7.7 / §2.7.10), and
 * completion reaping.
 *
 * **Memory.** The library allocates nothing. The caller provides:
 * - the ring region, a DMA buffer of capdrv_virtq_layout() `total_len`
 *   bytes, as a CPU pointer plus the DMA reference of its byte 0
 *   (capdrv_dma_ref(), see capdrv/sys.h). Every device address the library
 *   writes is `reference + offset`; whether that is a brokered-lane token or
 *   a direct-lane IOVA is the lane's business, not this module's;
 * - optionally an indirect-table slab (another DMA buffer): one table of
 *   `indirect_max` descriptors per possible head;
 * - the per-descriptor state, capdrv_virtq_state_size() bytes of *private*
 *   memory (never device-visible: the device must not be able to corrupt the
 *   free list or the cookies).
 *
 * **Hostile device.** Nothing read from device-writable memory is trusted.
 * Each used element is copied once into a local and validated before use;
 * the library never follows a pointer or index stored in shared memory (the
 * free list, chain links and cookies live in the private state). A protocol
 * violation (used id out of range or not in flight, a length larger than the
 * device-writable bytes posted, a used index that moves by more than what is
 * in flight, a driver area that was rewritten) marks the queue *broken*: the
 * detecting call and every later call return -CAPDRV_EPROTO, and
 * capdrv_virtq_error() says which rule was broken. Reset the device, then
 * capdrv_virtq_detach() returns the cookies still held.
 *
 * The driver area (§2.7.6: written only by the driver) is checked in two
 * places: capdrv_virtq_publish() compares the header, used_event and the
 * entries it is about to expose; only capdrv_virtq_verify() compares the
 * entries published earlier, which the driver itself overwrites when the
 * ring wraps. So a device that rewrites an entry it has already consumed
 * is seen only if verify runs before the driver reuses that entry; the
 * check is a tripwire for a misbehaving device, not a barrier (the driver
 * never acts on what it reads back: it uses its private copy). What
 * bounds such a device is the DMA lane: the IOMMU mapping in the direct
 * lane, and in the brokered lane the device does not see the driver's
 * rings at all. The virtio-blk and virtio-net drivers call verify once
 * per Queue Size completions of each queue.
 *
 * **Threads.** A queue is not internally locked; serialise calls on one
 * queue (the device runs concurrently, of course).
 *
 * Example (a 256-entry queue and one request; error handling shortened):
 * @code
 * #include <capdrv/sys.h>
 *
 * static _Alignas(CAPDRV_VIRTQ_STATE_ALIGN) unsigned char st[CAPDRV_VIRTQ_STATE_SIZE(256)];
 *
 * // ring: a DMA buffer (capdrv_dma_alloc(): zeroed, page aligned) of at
 * // least capdrv_virtq_layout()'s total_len bytes.
 * static int setup(struct capdrv_virtq *vq, const struct capdrv_dmabuf_info *ring)
 * {
 *     struct capdrv_virtq_layout lay;
 *     int rc = capdrv_virtq_layout(256, CAPDRV_VIRTQ_F_EVENT_IDX, &lay);
 *     if (rc < 0 || ring->size < lay.total_len)
 *         return rc < 0 ? rc : -CAPDRV_EINVAL;
 *     struct capdrv_virtq_config cfg = {
 *         .size = 256, .flags = CAPDRV_VIRTQ_F_EVENT_IDX,
 *         .ring = ring->cpu, .ring_ref = capdrv_dma_ref(ring, 0), .ring_len = ring->size,
 *         .state = st, .state_len = sizeof st,
 *     };
 *     // Next: program capdrv_virtq_area_refs() into the transport, enable the queue.
 *     return capdrv_virtq_init(vq, &cfg);
 * }
 *
 * // A 16-byte header the device reads, 4 KiB it writes. Returns 1 when the
 * // transport's doorbell must be rung.
 * static int submit(struct capdrv_virtq *vq, uint64_t hdr_ref, uint64_t data_ref, void *req)
 * {
 *     struct capdrv_virtq_seg seg[2] = {
 *         {hdr_ref, 16},    // device-readable
 *         {data_ref, 4096}, // device-writable
 *     };
 *     int rc = capdrv_virtq_add(vq, seg, 1, 1, req);  // repeat for a batch
 *     if (rc == 0)
 *         rc = capdrv_virtq_publish(vq);  // one avail->idx store
 *     return rc < 0 ? rc : capdrv_virtq_needs_notify(vq);
 * }
 *
 * // Reap until empty, then re-arm the interrupt. Returns 0 when it is armed
 * // and nothing is pending (wait for it), or -CAPDRV_EPROTO (reset the device).
 * static int complete(struct capdrv_virtq *vq, void (*finish)(void *req, uint32_t len))
 * {
 *     struct capdrv_virtq_completion c[32];
 *     for (;;) {
 *         int n = capdrv_virtq_reap(vq, c, 32);
 *         if (n < 0)
 *             return n;
 *         for (int i = 0; i < n; i++)
 *             finish(c[i].cookie, c[i].len);
 *         if (n == 0 && (n = capdrv_virtq_enable_cb(vq)) <= 0)
 *             return n;
 *     }
 * }
 * @endcode
 */
#ifndef CAPDRV_VIRTQ_H
#define CAPDRV_VIRTQ_H

#include <stddef.h>
#include <stdint.h>

#include <capdrv/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Marks the library's inline fast-path helpers. */
#ifndef CAPDRV_INLINE
#define CAPDRV_INLINE static inline
#endif

/** Compile-time check usable from C11 and C++11 headers. */
#ifndef CAPDRV_STATIC_ASSERT
#ifdef __cplusplus
#define CAPDRV_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define CAPDRV_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif
#endif

/* ---- Wire format (VIRTIO 1.2 §2.7.5, §2.7.6, §2.7.8) -------------------
 * Shared-memory structures: fixed-width integers only, every field
 * little-endian (VIRTIO 1.x; the library converts on big-endian hosts). */

/** Largest Queue Size (§2.7: "The maximum Queue Size value is 32768"). */
#define CAPDRV_VIRTQ_MAX_SIZE 32768u

/** Descriptor continues via `next` (§2.7.5). */
#define CAPDRV_VRING_DESC_F_NEXT 1u
/** Buffer is device write-only (§2.7.5). */
#define CAPDRV_VRING_DESC_F_WRITE 2u
/** Buffer holds an indirect descriptor table (§2.7.5.3). */
#define CAPDRV_VRING_DESC_F_INDIRECT 4u
/** avail->flags: driver does not want used-buffer notifications (§2.7.7). */
#define CAPDRV_VRING_AVAIL_F_NO_INTERRUPT 1u
/** used->flags: device does not want available-buffer notifications (§2.7.10). */
#define CAPDRV_VRING_USED_F_NO_NOTIFY 1u

/** One descriptor (`struct virtq_desc`, §2.7.5): 16 bytes. */
struct capdrv_vring_desc {
    uint64_t addr;  /**< le64 DMA reference of the buffer */
    uint32_t len;   /**< le32 buffer length in bytes */
    uint16_t flags; /**< le16 CAPDRV_VRING_DESC_F_* */
    uint16_t next;  /**< le16 index of the next descriptor if F_NEXT */
};

/**
 * Header of the available ring (`struct virtq_avail`, §2.7.6). It is
 * followed in memory by `le16 ring[Queue Size]` and `le16 used_event`
 * (CAPDRV_VRING_AVAIL_RING_OFF; capdrv_virtq_layout::used_event_off).
 */
struct capdrv_vring_avail {
    uint16_t flags; /**< le16 CAPDRV_VRING_AVAIL_F_* */
    uint16_t idx;   /**< le16 next free ring entry; wraps at 65536 */
};

/** One used-ring element (`struct virtq_used_elem`, §2.7.8): 8 bytes. */
struct capdrv_vring_used_elem {
    uint32_t id;  /**< le32 head of the completed descriptor chain */
    uint32_t len; /**< le32 bytes written into the device-writable part */
};

/**
 * Header of the used ring (`struct virtq_used`, §2.7.8). It is followed in
 * memory by `struct capdrv_vring_used_elem ring[Queue Size]` and
 * `le16 avail_event` (CAPDRV_VRING_USED_RING_OFF;
 * capdrv_virtq_layout::avail_event_off).
 */
struct capdrv_vring_used {
    uint16_t flags; /**< le16 CAPDRV_VRING_USED_F_* */
    uint16_t idx;   /**< le16 next element the device writes; wraps at 65536 */
};

/** Offset of `ring[]` inside the available ring. */
#define CAPDRV_VRING_AVAIL_RING_OFF 4u
/** Offset of `ring[]` inside the used ring. */
#define CAPDRV_VRING_USED_RING_OFF 4u

CAPDRV_STATIC_ASSERT(sizeof(struct capdrv_vring_desc) == 16, "virtq_desc is 16 bytes (§2.7.5)");
CAPDRV_STATIC_ASSERT(offsetof(struct capdrv_vring_desc, addr) == 0, "virtq_desc.addr");
CAPDRV_STATIC_ASSERT(offsetof(struct capdrv_vring_desc, len) == 8, "virtq_desc.len");
CAPDRV_STATIC_ASSERT(offsetof(struct capdrv_vring_desc, flags) == 12, "virtq_desc.flags");
CAPDRV_STATIC_ASSERT(offsetof(struct capdrv_vring_desc, next) == 14, "virtq_desc.next");
CAPDRV_STATIC_ASSERT(sizeof(struct capdrv_vring_avail) == CAPDRV_VRING_AVAIL_RING_OFF,
                     "virtq_avail header is 4 bytes (§2.7.6)");
CAPDRV_STATIC_ASSERT(offsetof(struct capdrv_vring_avail, flags) == 0, "virtq_avail.flags");
CAPDRV_STATIC_ASSERT(offsetof(struct capdrv_vring_avail, idx) == 2, "virtq_avail.idx");
CAPDRV_STATIC_ASSERT(sizeof(struct capdrv_vring_used_elem) == 8, "virtq_used_elem is 8 bytes (§2.7.8)");
CAPDRV_STATIC_ASSERT(offsetof(struct capdrv_vring_used_elem, id) == 0, "virtq_used_elem.id");
CAPDRV_STATIC_ASSERT(offsetof(struct capdrv_vring_used_elem, len) == 4, "virtq_used_elem.len");
CAPDRV_STATIC_ASSERT(sizeof(struct capdrv_vring_used) == CAPDRV_VRING_USED_RING_OFF,
                     "virtq_used header is 4 bytes (§2.7.8)");
CAPDRV_STATIC_ASSERT(offsetof(struct capdrv_vring_used, flags) == 0, "virtq_used.flags");
CAPDRV_STATIC_ASSERT(offsetof(struct capdrv_vring_used, idx) == 2, "virtq_used.idx");

/**
 * @brief VIRTIO_F_EVENT_IDX test `vring_need_event()` (§2.7.7.2, §2.7.10.1).
 *
 * True when moving an index from @p old_idx to @p new_idx crosses
 * @p event_idx, i.e. event_idx lies in [old_idx, new_idx) modulo 2^16. Used
 * by the driver for available-buffer notifications (avail_event) and by a
 * device model for used-buffer notifications (used_event).
 *
 * @param event_idx the other side's event index.
 * @param new_idx index after the update.
 * @param old_idx index before the update (at the previous check).
 * @return 1 if a notification is needed, else 0.
 */
CAPDRV_INLINE int capdrv_vring_need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old_idx)
{
    return (uint16_t)(new_idx - event_idx - 1u) < (uint16_t)(new_idx - old_idx);
}

/* ---- Layout ------------------------------------------------------------ */

/** Queue options (negotiated features the ring format depends on). */
enum capdrv_virtq_flags {
    CAPDRV_VIRTQ_F_EVENT_IDX = 1u << 0, /**< VIRTIO_F_EVENT_IDX (bit 29) negotiated */
    CAPDRV_VIRTQ_F_INDIRECT = 1u << 1   /**< VIRTIO_F_INDIRECT_DESC (bit 28) negotiated */
};

/**
 * Where each part of a split virtqueue lies inside one ring region (byte
 * offsets from the region start). The descriptor table is at 0 (alignment
 * 16), the available ring follows it (alignment 2), the used ring starts on
 * the next 64-byte boundary: the spec requires 4 (§2.7.1), 64 keeps the
 * device-written area off the driver-written cache lines.
 */
struct capdrv_virtq_layout {
    size_t size;            /**< Queue Size */
    size_t desc_off;        /**< descriptor table ("descriptor area"), always 0 */
    size_t desc_len;        /**< 16 * size */
    size_t avail_off;       /**< available ring ("driver area") */
    size_t avail_len;       /**< 6 + 2 * size, used_event included (§2.7) */
    size_t used_event_off;  /**< avail_off + 4 + 2 * size */
    size_t used_off;        /**< used ring ("device area"), 64-byte aligned */
    size_t used_len;        /**< 6 + 8 * size, avail_event included (§2.7) */
    size_t avail_event_off; /**< used_off + 4 + 8 * size */
    size_t total_len;       /**< bytes the ring region must hold */
    size_t align;           /**< required alignment of the region start (16) */
};

/** Alignment the ring region needs (the descriptor table's, §2.7.1). */
#define CAPDRV_VIRTQ_RING_ALIGN 16u

/**
 * @brief Compute the layout of a split virtqueue of @p size entries.
 *
 * The sizes are the spec's (§2.7 table), which always reserve used_event and
 * avail_event; @p flags does not change the layout and is accepted so that
 * the caller passes what it will pass to capdrv_virtq_init().
 *
 * @param size Queue Size: a power of two, 1 .. CAPDRV_VIRTQ_MAX_SIZE (§2.7).
 * @param flags CAPDRV_VIRTQ_F_* bits.
 * @param out filled on success.
 * @return 0; -CAPDRV_EINVAL for a bad @p size, unknown @p flags or a NULL
 *         @p out.
 */
int capdrv_virtq_layout(unsigned size, unsigned flags, struct capdrv_virtq_layout *out);

/* ---- Queue handle ------------------------------------------------------ */

/** Bytes of private state per descriptor (see CAPDRV_VIRTQ_STATE_SIZE). */
#define CAPDRV_VIRTQ_SLOT_BYTES 24u
/** Private state bytes for a queue of @p n entries (a constant expression). */
#define CAPDRV_VIRTQ_STATE_SIZE(n) ((size_t)(n) * (CAPDRV_VIRTQ_SLOT_BYTES + 2u))
/** Alignment the private state needs. */
#define CAPDRV_VIRTQ_STATE_ALIGN 8u

/**
 * @brief Bytes of private state a queue of @p size entries needs.
 * @param size Queue Size (power of two, 1 .. CAPDRV_VIRTQ_MAX_SIZE).
 * @return CAPDRV_VIRTQ_STATE_SIZE(size), or 0 for an invalid @p size.
 */
size_t capdrv_virtq_state_size(unsigned size);

/** Everything capdrv_virtq_init() needs; unused fields zero. */
struct capdrv_virtq_config {
    unsigned size;          /**< Queue Size, power of two, 1 .. 32768 */
    unsigned flags;         /**< CAPDRV_VIRTQ_F_* */
    void *ring;             /**< ring region (DMA memory), 16-byte aligned */
    uint64_t ring_ref;      /**< DMA reference of ring byte 0 (capdrv_dma_ref()), 16-byte aligned */
    size_t ring_len;        /**< >= capdrv_virtq_layout::total_len */
    void *indirect;         /**< indirect slab (DMA memory), 16-byte aligned; required with
                                 F_INDIRECT, NULL without */
    uint64_t indirect_ref;  /**< DMA reference of indirect byte 0, 16-byte aligned */
    size_t indirect_len;    /**< >= size * indirect_max * 16 */
    unsigned indirect_max;  /**< descriptors per indirect table, 1 .. size (§2.7.5.3.1) */
    void *state;            /**< private memory, CAPDRV_VIRTQ_STATE_ALIGN aligned, not inside
                                 the ring region or the indirect slab */
    size_t state_len;       /**< >= capdrv_virtq_state_size(size) */
};

/** Why a queue is broken (capdrv_virtq_error()). */
enum capdrv_virtq_fault {
    CAPDRV_VIRTQ_OK = 0,               /**< not broken */
    CAPDRV_VIRTQ_FAULT_USED_ID_RANGE,  /**< used element id >= Queue Size */
    CAPDRV_VIRTQ_FAULT_USED_ID_STATE,  /**< used id is not the head of a published, uncompleted
                                            request (double completion, mid-chain or free id) */
    CAPDRV_VIRTQ_FAULT_USED_LEN,       /**< used len > device-writable bytes posted */
    CAPDRV_VIRTQ_FAULT_USED_IDX,       /**< used idx moved by more than in flight, or backwards */
    CAPDRV_VIRTQ_FAULT_AVAIL_IDX,      /**< avail->idx differs from what the driver published */
    CAPDRV_VIRTQ_FAULT_AVAIL_RING,     /**< an avail ring entry differs from what was written */
    CAPDRV_VIRTQ_FAULT_AVAIL_FLAGS     /**< avail->flags or used_event differs from what was written */
};

struct capdrv_virtq_slot; /* private per-descriptor state (src/virtio) */

/**
 * A queue handle: private driver state, kept apart from the shared rings
 * (the sDDF split). The caller owns the storage (embed it, or static);
 * every field is private to the library and may change between releases.
 */
struct capdrv_virtq {
    /* Device-visible memory (caller's DMA buffers). */
    struct capdrv_vring_desc *desc;           /**< descriptor table */
    struct capdrv_vring_avail *avail;         /**< driver area header */
    uint16_t *avail_ring;                     /**< le16 ring[size] */
    uint16_t *used_event;                     /**< le16 after avail ring */
    struct capdrv_vring_used *used;           /**< device area header */
    struct capdrv_vring_used_elem *used_ring; /**< ring[size] */
    uint16_t *avail_event;                    /**< le16 after used ring */
    struct capdrv_vring_desc *indirect;       /**< size * indirect_max tables, or NULL */
    /** DMA references of the descriptor table, driver area and device area
     *  (capdrv_virtq_area_refs()) and of the indirect slab (0 without one) */
    /**@{*/ uint64_t desc_ref, avail_ref, used_ref, indirect_ref; /**@}*/
    /* Private memory (caller's state region). */
    struct capdrv_virtq_slot *slot; /**< per descriptor: free list, chains, cookies */
    uint16_t *avail_shadow;         /**< what the driver wrote into avail ring[] */
    /** Queue Size, size - 1, enum capdrv_virtq_flags given at init, and
     *  descriptors per indirect table (0: no indirect tables) */
    /**@{*/ uint32_t size, mask, flags, indirect_max; /**@}*/
    uint32_t num_free;   /**< free descriptors */
    uint32_t in_flight;  /**< published heads not yet completed */
    uint32_t since_kick; /**< heads published since the last needs_notify() */
    uint16_t free_head;  /**< first free descriptor (valid when num_free > 0) */
    uint16_t avail_next; /**< next avail entry to fill */
    uint16_t avail_pub;  /**< avail->idx as last published */
    uint16_t kick_idx;   /**< avail->idx at the last needs_notify() */
    uint16_t last_used;  /**< next used entry to consume */
    uint16_t avail_flags;    /**< avail->flags as last written */
    uint16_t used_event_val; /**< used_event as last written */
    uint16_t detach_pos;     /**< where capdrv_virtq_detach() resumes its scan */
    int fault; /**< enum capdrv_virtq_fault */
};

/**
 * @brief Initialise a queue over caller-provided memory.
 *
 * Zeroes the ring region (so used->flags starts at 0, §2.7.10.1) and the
 * indirect slab, and builds the free list. Call before the transport
 * enables the queue (and again after a device reset, to reuse the memory).
 * Allocates nothing.
 *
 * Every argument is checked before anything is written: a refused call
 * leaves all three memory areas untouched.
 *
 * @param vq handle storage.
 * @param cfg memory and options; see struct capdrv_virtq_config.
 * @return 0; -CAPDRV_EINVAL for a NULL argument, a bad size, unknown flags,
 *         a NULL or misaligned ring/indirect/state pointer, a misaligned
 *         ring_ref/indirect_ref or one whose range wraps 2^64, a region too
 *         small, private state overlapping the ring or the slab (or the
 *         slab overlapping the ring), indirect_max outside 1..size,
 *         CAPDRV_VIRTQ_F_INDIRECT without a slab, or a slab (or
 *         indirect_max) given without CAPDRV_VIRTQ_F_INDIRECT.
 */
int capdrv_virtq_init(struct capdrv_virtq *vq, const struct capdrv_virtq_config *cfg);

/** One buffer segment of a request. */
struct capdrv_virtq_seg {
    uint64_t ref; /**< DMA reference of the segment (capdrv_dma_ref()) */
    uint32_t len; /**< length in bytes, > 0 */
};

/**
 * @brief Queue one request (not yet visible to the device).
 *
 * Segments `segs[0 .. n_out)` are device-readable and
 * `segs[n_out .. n_out+n_in)` device-writable, in that order (§2.7.4.2).
 * With CAPDRV_VIRTQ_F_INDIRECT, a request of 2 .. indirect_max segments goes
 * into the head's indirect table and takes one ring descriptor
 * (§2.7.5.3); otherwise it takes one descriptor per segment. The request
 * becomes visible at the next capdrv_virtq_publish().
 *
 * @param vq queue.
 * @param segs n_out + n_in segments.
 * @param n_out device-readable segments.
 * @param n_in device-writable segments.
 * @param cookie returned with the completion (any value).
 * @return 0; -CAPDRV_ENOSPC (not enough free descriptors now: reap, then
 *         retry); -CAPDRV_EINVAL (NULL argument, no segments, a zero-length
 *         segment, or more segments than the Queue Size, §2.7.5.3.1);
 *         -CAPDRV_EOVERFLOW (segments total more than 2^32 bytes,
 *         §2.7.5.2); -CAPDRV_EPROTO (queue broken).
 */
int capdrv_virtq_add(struct capdrv_virtq *vq, const struct capdrv_virtq_seg *segs, unsigned n_out,
                     unsigned n_in, void *cookie);

/**
 * @brief Make every request added since the last publish visible to the
 *        device, with one release store of avail->idx (§2.7.13.3).
 *
 * First checks that the driver area still holds what the driver wrote.
 *
 * @param vq queue.
 * @return number of requests published (>= 0); -CAPDRV_EINVAL (NULL);
 *         -CAPDRV_EPROTO (queue broken, or found the driver area rewritten).
 */
int capdrv_virtq_publish(struct capdrv_virtq *vq);

/**
 * @brief Whether the device wants an available-buffer notification for
 *        what was published since the previous call (§2.7.10, §2.7.13.4).
 *
 * With EVENT_IDX: vring_need_event(avail_event, new, old); without it:
 * used->flags & NO_NOTIFY clear. Call after capdrv_virtq_publish() and ring
 * the doorbell when it returns 1. Publishing more than 65535 requests
 * between calls makes the answer 1 (the 16-bit test cannot tell).
 *
 * @param vq queue.
 * @return 1 notify, 0 do not; -CAPDRV_EINVAL (NULL); -CAPDRV_EPROTO
 *         (broken).
 */
int capdrv_virtq_needs_notify(struct capdrv_virtq *vq);

/** One completed request. */
struct capdrv_virtq_completion {
    void *cookie; /**< as given to capdrv_virtq_add() */
    uint32_t len; /**< bytes the device wrote, <= device-writable bytes posted */
};

/**
 * @brief Collect up to @p max completed requests.
 *
 * Reads used->idx once (acquire), then copies and validates each used
 * element before acting on it; frees its descriptors. If a violation is
 * found after some completions were already taken, those are returned (each
 * cookie exactly once) and the next call returns -CAPDRV_EPROTO.
 *
 * @param vq queue.
 * @param out room for @p max completions.
 * @param max most completions to return.
 * @return number of completions (>= 0); -CAPDRV_EINVAL (NULL vq, or NULL
 *         @p out with @p max > 0); -CAPDRV_EPROTO (queue broken, now or
 *         before).
 */
int capdrv_virtq_reap(struct capdrv_virtq *vq, struct capdrv_virtq_completion *out, unsigned max);

/**
 * @brief Advise the device that used-buffer notifications are not needed
 *        (§2.7.7: NO_INTERRUPT, or an old used_event with EVENT_IDX).
 *
 * Without EVENT_IDX this sets avail->flags to NO_INTERRUPT; with it
 * (flags must stay 0) used_event is set just behind the next entry, so the
 * device would notify only after another 65535 completions. Advisory: a
 * notification may still arrive (§2.7.7.1).
 *
 * @param vq queue.
 * @return 0; -CAPDRV_EINVAL (NULL); -CAPDRV_EPROTO (broken).
 */
int capdrv_virtq_disable_cb(struct capdrv_virtq *vq);

/**
 * @brief Ask for a used-buffer notification for the next completion, then
 *        re-check for completions that raced with the request (§2.7.14).
 *
 * With EVENT_IDX the request is one-shot (used_event = next entry): call it
 * again before each wait. Only wait for the interrupt when it returns 0.
 *
 * @param vq queue.
 * @return 0 armed and nothing pending; 1 completions already pending (reap
 *         before waiting); -CAPDRV_EINVAL (NULL); -CAPDRV_EPROTO (broken,
 *         or the used index moved by more than in flight).
 */
int capdrv_virtq_enable_cb(struct capdrv_virtq *vq);

/**
 * @brief Full audit of the driver area: avail flags, idx, every ring entry
 *        and used_event against the driver's private copy. O(Queue Size).
 *
 * The one check of entries published before the last publish (see
 * "Hostile device" above for what it can and cannot see). Allocates
 * nothing; cheap enough to run every Queue Size completions, which is what
 * capdrv/virtio_blk.h and capdrv/virtio_net.h do.
 *
 * @param vq queue.
 * @return 0; -CAPDRV_EINVAL (NULL); -CAPDRV_EPROTO (broken, or a rewrite
 *         found now: the queue is marked broken).
 */
int capdrv_virtq_verify(struct capdrv_virtq *vq);

/**
 * @brief Take back requests the device still holds, after a device reset.
 *
 * Only call once the device can no longer touch the queue (reset or queue
 * disabled). Returns the cookies of requests added and not completed (len
 * 0), each once, and frees their descriptors; call until it returns 0. Works
 * on a broken queue. Re-initialise with capdrv_virtq_init() before reuse.
 *
 * @param vq queue.
 * @param out room for @p max entries.
 * @param max most entries to return.
 * @return number returned (>= 0); -CAPDRV_EINVAL (NULL vq, or NULL @p out
 *         with @p max > 0).
 */
int capdrv_virtq_detach(struct capdrv_virtq *vq, struct capdrv_virtq_completion *out, unsigned max);

/**
 * @brief Describe a fault code.
 * @param fault a value of enum capdrv_virtq_fault.
 * @return a static, never-NULL string.
 */
const char *capdrv_virtq_strfault(int fault);

/**
 * @brief Why the queue is broken.
 * @param vq queue.
 * @return a value of enum capdrv_virtq_fault; CAPDRV_VIRTQ_OK if healthy.
 */
CAPDRV_INLINE int capdrv_virtq_error(const struct capdrv_virtq *vq)
{
    return vq->fault;
}

/**
 * @brief Free descriptors (a request needs one per segment, or one if it
 *        goes indirect).
 * @param vq queue.
 * @return count.
 */
CAPDRV_INLINE unsigned capdrv_virtq_num_free(const struct capdrv_virtq *vq)
{
    return vq->num_free;
}

/**
 * @brief Queue Size.
 * @param vq queue.
 * @return the size given to capdrv_virtq_init().
 */
CAPDRV_INLINE unsigned capdrv_virtq_size(const struct capdrv_virtq *vq)
{
    return vq->size;
}

/**
 * @brief The DMA references the transport programs into the device
 *        (queue_desc / queue_driver / queue_device, §4.1.4.3; or the MMIO
 *        QueueDesc/QueueDriver/QueueDevice registers, §4.2.2).
 * @param vq queue.
 * @param desc receives the descriptor area reference.
 * @param driver receives the driver area (available ring) reference.
 * @param device receives the device area (used ring) reference.
 */
CAPDRV_INLINE void capdrv_virtq_area_refs(const struct capdrv_virtq *vq, uint64_t *desc,
                                          uint64_t *driver, uint64_t *device)
{
    *desc = vq->desc_ref;
    *driver = vq->avail_ref;
    *device = vq->used_ref;
}

#ifdef __cplusplus
}
#endif
#endif /* CAPDRV_VIRTQ_H */
