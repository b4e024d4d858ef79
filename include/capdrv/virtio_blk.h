/**
 * @file capdrv/virtio_blk.h
 * @brief virtio-blk driver (VIRTIO 1.2 §5.2) over the PCI modern transport
 *        (capdrv/virtio.h) or virtio-mmio version 2 (capdrv/virtio_mmio.h),
 *        and split virtqueues (capdrv/virtq.h).
 *
 * **Transport.** capdrv_virtio_blk_open() picks the transport from the
 * grant: a grant without PCI configuration space (capdrv_cfg_read()
 * answers -CAPDRV_ENOTSUP, as the kernel does for a device-tree MMIO
 * device, capdrv/hw.h) is a virtio-mmio device reached through window
 * capdrv_virtio_blk_opts::mmio_window (default 0); any other grant is a PCI
 * function. Everything below works the same over both, except interrupts:
 * PCI routes each queue to its own MSI-X vector, virtio-mmio has one line
 * per device (§4.2.3.4) that capdrv_virtio_blk_wait() reads and
 * acknowledges (InterruptStatus, InterruptACK) on every queue's behalf.
 *
 * capdrv_virtio_blk_open() brings a granted virtio-blk function up
 * (§3.1.1), negotiating SEG_MAX, BLK_SIZE, FLUSH, MQ, DISCARD, WRITE_ZEROES,
 * INDIRECT_DESC and RING_EVENT_IDX whenever the device offers them (plus
 * VERSION_1 and ACCESS_PLATFORM, see capdrv_virtio_negotiate()). It
 * allocates from the caller's DMA pool one buffer per queue holding the
 * rings, the indirect tables and the request headers and status bytes;
 * request data lives in the caller's own DMA buffers, passed as
 * (DMA reference, length) segments.
 *
 * Requests are submitted in batches (one doorbell per batch) on a chosen
 * queue, each with a caller cookie, and completed by polling
 * (capdrv_virtio_blk_reap()) or by interrupt (capdrv_virtio_blk_wait() then
 * reap). Every completion carries a status: 0, -CAPDRV_EIO (the device
 * reported VIRTIO_BLK_S_IOERR), -CAPDRV_ENOTSUP (VIRTIO_BLK_S_UNSUPP), or
 * -CAPDRV_EPROTO (a malformed status byte or used length). A queue whose
 * ring the device corrupts (capdrv/virtq.h) makes every later call on it
 * return -CAPDRV_EPROTO; capdrv_virtio_blk_cancel() takes its requests
 * back, then close and reopen the device to recover. Besides the used ring
 * (checked at every reap) the driver audits each queue's available ring
 * with capdrv_virtq_verify() once per Queue Size completions reaped (in
 * capdrv_virtio_blk_reap(): the completions taken are returned, the next
 * call gives -CAPDRV_EPROTO). A device that rewrites an entry the driver
 * overwrites before that audit is not seen (capdrv/virtq.h: a tripwire,
 * not a barrier; the driver never uses what it reads back).
 *
 * A handle is not locked: serialise calls per queue; different queues may
 * be driven from different threads.
 *
 * Example (read 4 KiB from sector 8, polling; error handling shortened):
 * @code
 * // data: a DMA buffer of the caller's, at least 4 KiB (capdrv_dma_alloc()).
 * static int read_4k(capdrv_sys *sys, capdrv_cap_t grant, capdrv_cap_t pool,
 *                    const struct capdrv_dmabuf_info *data)
 * {
 *     struct capdrv_virtio_blk_opts o = {.pool = pool};
 *     struct capdrv_virtio_blk *blk;
 *     char why[128];
 *     int rc = capdrv_virtio_blk_open(sys, grant, &o, &blk, why, sizeof why);
 *     if (rc < 0)
 *         return rc;
 *     struct capdrv_virtq_seg seg = {capdrv_dma_ref(data, 0), 4096};
 *     struct capdrv_virtio_blk_req r = {.type = CAPDRV_VIRTIO_BLK_T_IN, .sector = 8,
 *                                       .segs = &seg, .n_segs = 1, .cookie = &r};
 *     struct capdrv_virtio_blk_done d = {0};
 *     rc = capdrv_virtio_blk_submit(blk, 0, &r, 1);
 *     while (rc >= 0 && (rc = capdrv_virtio_blk_reap(blk, 0, &d, 1)) == 0)
 *         ;  // or sleep in capdrv_virtio_blk_wait() when opened with irq
 *     capdrv_virtio_blk_close(blk);
 *     return rc < 0 ? rc : d.status;  // d.cookie == &r
 * }
 * @endcode
 */
#ifndef CAPDRV_VIRTIO_BLK_H
#define CAPDRV_VIRTIO_BLK_H

#include <stddef.h>
#include <stdint.h>

#include <capdrv/sys.h>
#include <capdrv/virtio.h>
#include <capdrv/virtq.h>

#ifdef __cplusplus
extern "C" {
#endif

/** virtio device id of a block device (§5). */
#define CAPDRV_VIRTIO_ID_BLOCK 2u

/** virtio-blk feature bits (§5.2.3). */
enum capdrv_virtio_blk_feature_bit {
    CAPDRV_VIRTIO_BLK_F_SIZE_MAX = 1,     /**< size_max is valid */
    CAPDRV_VIRTIO_BLK_F_SEG_MAX = 2,      /**< seg_max is valid */
    CAPDRV_VIRTIO_BLK_F_GEOMETRY = 4,     /**< geometry is valid */
    CAPDRV_VIRTIO_BLK_F_RO = 5,           /**< device is read-only */
    CAPDRV_VIRTIO_BLK_F_BLK_SIZE = 6,     /**< blk_size is valid */
    CAPDRV_VIRTIO_BLK_F_FLUSH = 9,        /**< FLUSH command supported */
    CAPDRV_VIRTIO_BLK_F_TOPOLOGY = 10,    /**< topology is valid */
    CAPDRV_VIRTIO_BLK_F_CONFIG_WCE = 11,  /**< writeback mode in config */
    CAPDRV_VIRTIO_BLK_F_MQ = 12,          /**< num_queues is valid */
    CAPDRV_VIRTIO_BLK_F_DISCARD = 13,     /**< DISCARD command supported */
    CAPDRV_VIRTIO_BLK_F_WRITE_ZEROES = 14 /**< WRITE_ZEROES command supported */
};

/** Request types (§5.2.6). */
enum capdrv_virtio_blk_type {
    CAPDRV_VIRTIO_BLK_T_IN = 0,           /**< read: data device-writable */
    CAPDRV_VIRTIO_BLK_T_OUT = 1,          /**< write: data device-readable */
    CAPDRV_VIRTIO_BLK_T_FLUSH = 4,        /**< flush the write cache (F_FLUSH) */
    CAPDRV_VIRTIO_BLK_T_GET_ID = 8,       /**< device id string, 20 bytes */
    CAPDRV_VIRTIO_BLK_T_DISCARD = 11,     /**< discard a range (F_DISCARD) */
    CAPDRV_VIRTIO_BLK_T_WRITE_ZEROES = 13 /**< zero a range (F_WRITE_ZEROES) */
};

/** Status byte values (§5.2.6). */
enum capdrv_virtio_blk_status {
    CAPDRV_VIRTIO_BLK_S_OK = 0,     /**< success */
    CAPDRV_VIRTIO_BLK_S_IOERR = 1,  /**< device or driver error */
    CAPDRV_VIRTIO_BLK_S_UNSUPP = 2  /**< request unsupported by the device */
};

/** WRITE_ZEROES flag: the device may deallocate the range (§5.2.6). */
#define CAPDRV_VIRTIO_BLK_WZ_UNMAP 1u

/** Sector unit of every request, whatever blk_size says (§5.2.6). */
#define CAPDRV_VIRTIO_BLK_SECTOR_SIZE 512u
/** Bytes of a GET_ID answer (§5.2.6). */
#define CAPDRV_VIRTIO_BLK_ID_BYTES 20u
/** Most data segments of one request, whatever seg_max allows. */
#define CAPDRV_VIRTIO_BLK_MAX_SEGS 128u
/** Most queues one handle drives. */
#define CAPDRV_VIRTIO_BLK_MAX_QUEUES 16u
/** Default and largest Queue Size the driver asks for. */
#define CAPDRV_VIRTIO_BLK_DEFAULT_QUEUE_SIZE 256u
/** Descriptors per indirect table (§2.7.5.3). */
#define CAPDRV_VIRTIO_BLK_INDIRECT_MAX 32u

/** Driver features capdrv_virtio_blk_open() asks for by default. */
#define CAPDRV_VIRTIO_BLK_DEFAULT_FEATURES                                                        \
    (CAPDRV_VIRTIO_BIT(CAPDRV_VIRTIO_BLK_F_SEG_MAX) | CAPDRV_VIRTIO_BIT(CAPDRV_VIRTIO_BLK_F_BLK_SIZE) | \
     CAPDRV_VIRTIO_BIT(CAPDRV_VIRTIO_BLK_F_FLUSH) | CAPDRV_VIRTIO_BIT(CAPDRV_VIRTIO_BLK_F_MQ) |         \
     CAPDRV_VIRTIO_BIT(CAPDRV_VIRTIO_BLK_F_DISCARD) |                                             \
     CAPDRV_VIRTIO_BIT(CAPDRV_VIRTIO_BLK_F_WRITE_ZEROES) |                                        \
     CAPDRV_VIRTIO_BIT(CAPDRV_VIRTIO_F_INDIRECT_DESC) | CAPDRV_VIRTIO_BIT(CAPDRV_VIRTIO_F_EVENT_IDX))

/** A block device handle (opaque). */
struct capdrv_virtio_blk;

/** Options of capdrv_virtio_blk_open(); zero means the default. */
struct capdrv_virtio_blk_opts {
    capdrv_cap_t pool;   /**< the caller's open DMA pool (required) */
    unsigned num_queues; /**< queues wanted (default 1); capped by the device */
    unsigned queue_size; /**< power of two (default 256); capped by the device */
    int irq;             /**< non-zero: route completions to interrupts. PCI: MSI-X
                              (config change: vector 0, queue i: vector i + 1);
                              virtio-mmio: the device's one line (vector 0) for all.
                              Zero: polling only */
    uint64_t features;   /**< driver features to ask for (default
                              CAPDRV_VIRTIO_BLK_DEFAULT_FEATURES); others are not asked */
    unsigned mmio_window; /**< virtio-mmio only: the grant's window over the register
                               block (default 0); ignored for a PCI function */
};

/** What the device is and what was negotiated. */
struct capdrv_virtio_blk_info {
    uint64_t capacity;        /**< size in 512-byte sectors (§5.2.4) */
    uint32_t blk_size;        /**< optimal block size (512 without F_BLK_SIZE) */
    uint32_t seg_max;         /**< data segments per request the driver accepts */
    uint32_t max_discard_sectors;      /**< 0 without F_DISCARD */
    uint32_t max_write_zeroes_sectors; /**< 0 without F_WRITE_ZEROES */
    unsigned num_queues;      /**< queues in use */
    unsigned queue_size;      /**< Queue Size of each */
    uint64_t features;        /**< negotiated feature bits */
    int lane;                 /**< enum capdrv_lane of the grant */
    int irq;                  /**< non-zero when interrupts are routed */
};

/** One request for capdrv_virtio_blk_submit(). */
struct capdrv_virtio_blk_req {
    uint32_t type;        /**< enum capdrv_virtio_blk_type */
    uint32_t flags;       /**< WRITE_ZEROES: CAPDRV_VIRTIO_BLK_WZ_UNMAP; else 0 */
    uint64_t sector;      /**< first 512-byte sector (0 for FLUSH and GET_ID) */
    uint32_t num_sectors; /**< DISCARD / WRITE_ZEROES: sectors in the range */
    unsigned n_segs;      /**< data segments: IN/OUT >= 1, GET_ID >= 1, others 0 */
    const struct capdrv_virtq_seg *segs; /**< data in the caller's DMA buffers */
    void *cookie;         /**< returned with the completion */
};

/** One completed request. */
struct capdrv_virtio_blk_done {
    void *cookie;  /**< as submitted */
    int status;    /**< 0, -CAPDRV_EIO, -CAPDRV_ENOTSUP or -CAPDRV_EPROTO */
    uint32_t len;  /**< data bytes the device wrote (IN, GET_ID) */
};

/**
 * @brief Bring up a virtio-blk function and its queues (§3.1.1).
 *
 * Binds the transport (capdrv_virtio_pci_open(), or
 * capdrv_virtio_mmio_open() for a grant without PCI configuration space:
 * see "Transport" above), negotiates features, reads the configuration
 * (§5.2.4) and sets up `num_queues` queues with memory from
 * @p opts->pool, opening the grant's interrupt vectors (virtio-mmio: its
 * line) when @p opts->irq is set, then sets DRIVER_OK.
 *
 * @param sys connection.
 * @param grant open grant of a virtio-blk function or virtio-mmio device
 *        (class DMA_CAPABLE).
 * @param opts options; pool required.
 * @param out receives the handle.
 * @param why receives a one-line reason on failure (may be NULL).
 * @param why_len size of @p why.
 * @return 0; -CAPDRV_EINVAL (bad argument or option); -CAPDRV_ENODEV (not
 *         a virtio-blk device with the modern interface, modern or
 *         transitional PCI id); -CAPDRV_ENOTSUP (the device refused
 *         the features, or offers queues smaller than 4); -CAPDRV_EPROTO
 *         (malformed configuration); -CAPDRV_ENOMEM; errors of
 *         capdrv_virtio_pci_open() or capdrv_virtio_mmio_open() and of
 *         capdrv/sys.h (e.g.
 *         -CAPDRV_ENOSPC when the pool quota is too small).
 */
int capdrv_virtio_blk_open(capdrv_sys *sys, capdrv_cap_t grant,
                           const struct capdrv_virtio_blk_opts *opts,
                           struct capdrv_virtio_blk **out, char *why, size_t why_len);

/**
 * @brief Reset the device and free everything the handle holds (DMA
 *        buffers, interrupt and window capabilities). Requests still in
 *        flight are dropped: the reset guarantees the device no longer
 *        touches their buffers. The grant and the pool stay open.
 * @param blk handle, or NULL.
 */
void capdrv_virtio_blk_close(struct capdrv_virtio_blk *blk);

/**
 * @brief Describe the device.
 * @param blk handle.
 * @param out filled.
 * @return 0; -CAPDRV_EINVAL for NULL arguments.
 */
int capdrv_virtio_blk_info(const struct capdrv_virtio_blk *blk, struct capdrv_virtio_blk_info *out);

/**
 * @brief Queue a batch of requests on queue @p q and ring one doorbell.
 *
 * Every request is checked first; if any is malformed nothing is
 * submitted. Then requests are added in order until the queue is full, made
 * visible with one publish (§2.7.13), and the device is notified once
 * (as capdrv_virtio_pci_kick() or capdrv_virtio_mmio_kick()).
 *
 * @param blk handle.
 * @param q queue index (< num_queues).
 * @param reqs requests.
 * @param n number of requests.
 * @return requests submitted (0..n; fewer than @p n when the queue filled:
 *         reap, then submit the rest); -CAPDRV_EINVAL (bad queue, type,
 *         segment count or length: IN/OUT data must be a non-zero multiple
 *         of 512 bytes, at most seg_max segments, a chain no longer than
 *         the Queue Size, under 2^32 bytes in all); -CAPDRV_ERANGE (beyond
 *         the capacity, or a DISCARD/WRITE_ZEROES range above the device's
 *         maximum); -CAPDRV_ENOTSUP (FLUSH, DISCARD or WRITE_ZEROES not
 *         negotiated); -CAPDRV_EPROTO (queue broken, or an earlier
 *         doorbell was refused); -CAPDRV_EFAULT (the kernel refused a DMA
 *         reference at the doorbell: the batch's requests are in the ring
 *         but the device was not told, and the queue takes no more
 *         requests until capdrv_virtio_blk_close() resets the device;
 *         requests completed before can still be reaped).
 */
int capdrv_virtio_blk_submit(struct capdrv_virtio_blk *blk, unsigned q,
                             const struct capdrv_virtio_blk_req *reqs, unsigned n);

/**
 * @brief Collect up to @p max completed requests of queue @p q (polling).
 * @param blk handle.
 * @param q queue index.
 * @param out room for @p max completions.
 * @param max most completions.
 * @return completions (>= 0); -CAPDRV_EPROTO (the device broke the ring
 *         protocol: reset needed); -CAPDRV_EINVAL.
 */
int capdrv_virtio_blk_reap(struct capdrv_virtio_blk *blk, unsigned q,
                           struct capdrv_virtio_blk_done *out, unsigned max);

/**
 * @brief Wait for queue @p q's completion interrupt (opened with irq set).
 *
 * Re-arms used-buffer notifications (capdrv_virtq_enable_cb(), §2.7.14);
 * if completions are already pending returns at once, else waits on the
 * queue's vector and the configuration vector and acknowledges what fired.
 * Over virtio-mmio it waits on the device's one line instead, reads
 * InterruptStatus and acknowledges its causes through InterruptACK
 * (§4.2.3.4): a completion on another queue also returns 1, and since one
 * waiter takes the line for all queues, wait on at most one queue at a
 * time (or with a bounded timeout) when several threads drive the queues.
 * A configuration interrupt with DEVICE_NEEDS_RESET set gives -CAPDRV_EIO.
 * Reap afterwards.
 *
 * @param blk handle.
 * @param q queue index.
 * @param timeout_ns as capdrv_irq_wait(): negative waits without bound.
 * @return 1 (reap now); -CAPDRV_ETIMEDOUT; -CAPDRV_EIO (device needs a
 *         reset); -CAPDRV_ENOTSUP (opened without irq); -CAPDRV_EPROTO;
 *         -CAPDRV_EINVAL; errors of capdrv_irq_wait().
 */
int capdrv_virtio_blk_wait(struct capdrv_virtio_blk *blk, unsigned q, int64_t timeout_ns);

/**
 * @brief Requests of queue @p q submitted and not yet reaped.
 * @param blk handle.
 * @param q queue index.
 * @return the count (0 for a bad argument).
 */
unsigned capdrv_virtio_blk_inflight(const struct capdrv_virtio_blk *blk, unsigned q);

/**
 * @brief Take back every request still in flight, after a fault or a
 *        timeout: reset the device, then return the requests with status
 *        -CAPDRV_ECANCELED.
 *
 * The first call resets the device (§2.4: after a reset the device uses
 * no buffer it was given), so the caller may reuse or free the requests'
 * data buffers once they come back. Requests are returned in batches of at
 * most @p max, over every queue; call until it returns 0. Each request
 * submitted and not reaped is returned exactly once, with its cookie,
 * len 0 and status -CAPDRV_ECANCELED; none is lost, even on a queue the
 * device broke (capdrv_virtq_detach()). Afterwards the handle only
 * accepts further cancel calls (returning 0) and capdrv_virtio_blk_close():
 * submit, reap and wait return -CAPDRV_ECANCELED.
 *
 * @param blk handle.
 * @param out room for @p max requests.
 * @param max most requests to return.
 * @return requests returned (>= 0; 0 when none is left); -CAPDRV_EINVAL.
 *         The requests come back even if the reset fails (device_status
 *         never reads 0): their buffers then stay in flight in the kernel
 *         shim (it resets the function before anyone else can reuse them),
 *         so the caller must not hand them to the device again.
 */
int capdrv_virtio_blk_cancel(struct capdrv_virtio_blk *blk, struct capdrv_virtio_blk_done *out,
                             unsigned max);

/**
 * @brief Check the device status for DEVICE_NEEDS_RESET (§2.1.1).
 * @param blk handle.
 * @return 0 healthy; -CAPDRV_EIO when the device needs a reset; errors of
 *         capdrv/sys.h.
 */
int capdrv_virtio_blk_check(struct capdrv_virtio_blk *blk);

#ifdef __cplusplus
}
#endif
#endif /* CAPDRV_VIRTIO_BLK_H */
