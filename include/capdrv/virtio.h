/**
 * @file capdrv/virtio.h
 * @brief VIRTIO 1.2 PCI modern transport (§4.1), device status machine
 *        (§3.1.1) and feature negotiation (§2.2), provider side.
 *
 * Everything here goes through capdrv/sys.h: configuration-space reads find
 * the virtio vendor capabilities (§4.1.4), and each structure they describe
 * (common configuration, notifications, ISR status, device configuration)
 * must lie inside one MMIO window of the grant (capdrv_window_info()). The
 * device is not trusted: capability lists are walked with a bound and loop
 * detection, every offset and length read from it is range-checked before
 * use, and every wait on it is bounded.
 *
 * Devices are driven through the modern interface only (§4.1.4): modern
 * PCI device ids 0x1040..0x107f, and transitional ids 0x1000..0x103f
 * (mapped to a virtio device id by the table of §4.1.2.1, e.g. 0x1000
 * network, 0x1001 block), which §4.1.2.2 requires drivers to match, when
 * the device offers the virtio vendor capabilities as well. A legacy-only
 * device (no capability list or no common-configuration capability) and a
 * transitional id the table does not list are refused with
 * -CAPDRV_ENODEV.
 *
 * **Lanes.** In the brokered lane the kernel materialises the descriptor
 * table and available ring at each doorbell, so notification suppression
 * cannot be relied on: capdrv_virtio_pci_kick() rings after every publish
 * there, and only when capdrv_virtq_needs_notify() asks for it in the
 * direct lane.
 *
 * Typical bring-up (§3.1.1) of a block device with one queue, error handling
 * shortened; the queue's memory is set up as in capdrv/virtq.h:
 * @code
 * #include <capdrv/dev/virtio_pci.h>
 *
 * static int bring_up(capdrv_sys *sys, capdrv_cap_t grant, struct capdrv_virtio_pci *vp,
 *                     struct capdrv_virtq *vq, struct capdrv_virtio_pci_queue *q)
 * {
 *     char why[128];
 *     int rc = capdrv_virtio_pci_open(sys, grant, vp, why, sizeof why);  // reset, ACK, DRIVER
 *     if (rc < 0)
 *         return rc;  // why: what was wrong with the device
 *     uint64_t feat, capacity;
 *     capdrv_virtio_negotiate(vp, 1ull << CAPDRV_VBLK_F_FLUSH, &feat);  // FEATURES_OK re-read
 *     capdrv_virtio_config_read(vp, CAPDRV_VBLK_CFG_CAPACITY, &capacity, sizeof capacity);
 *     unsigned max;
 *     capdrv_virtio_queue_max(vp, 0, &max);
 *     // ... capdrv_virtq_init(vq, ...) with a size <= max ...
 *     capdrv_virtio_queue_setup(vp, 0, vq, 1, q);  // MSI-X vector 1
 *     return capdrv_virtio_driver_ok(vp);
 * }
 * // Then per batch: capdrv_virtq_add(), capdrv_virtq_publish(),
 * // capdrv_virtio_pci_kick(vp, q, vq); at the end capdrv_virtio_pci_close(vp)
 * // (device reset, windows released).
 * @endcode
 */
#ifndef CAPDRV_VIRTIO_H
#define CAPDRV_VIRTIO_H

#include <stddef.h>
#include <stdint.h>

#include <capdrv/error.h>
#include <capdrv/sys.h>
#include <capdrv/virtq.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Constants ---------------------------------------------------------- */

/** PCI vendor id of virtio devices (§4.1.2). */
#define CAPDRV_VIRTIO_PCI_VENDOR 0x1af4u
/** First PCI device id of a virtio device: the transitional ids
 *  0x1000..0x103f come first (§4.1.2, table in §4.1.2.1). */
#define CAPDRV_VIRTIO_PCI_TRANSITIONAL_BASE 0x1000u
/** First modern PCI device id: 0x1040 + virtio device id (§4.1.2). */
#define CAPDRV_VIRTIO_PCI_MODERN_BASE 0x1040u
/** Last PCI device id in the virtio range (§4.1.2). */
#define CAPDRV_VIRTIO_PCI_DEVICE_MAX 0x107fu

/** Device status bits (§2.1). */
enum capdrv_virtio_status {
    CAPDRV_VIRTIO_STATUS_ACKNOWLEDGE = 1u,         /**< guest noticed the device */
    CAPDRV_VIRTIO_STATUS_DRIVER = 2u,              /**< guest knows how to drive it */
    CAPDRV_VIRTIO_STATUS_DRIVER_OK = 4u,           /**< driver is ready */
    CAPDRV_VIRTIO_STATUS_FEATURES_OK = 8u,         /**< feature negotiation complete */
    CAPDRV_VIRTIO_STATUS_DEVICE_NEEDS_RESET = 64u, /**< device hit an unrecoverable error */
    CAPDRV_VIRTIO_STATUS_FAILED = 128u             /**< driver gave up on the device */
};

/** Reserved feature bits (§6) the transport knows about. */
enum capdrv_virtio_feature_bit {
    CAPDRV_VIRTIO_F_INDIRECT_DESC = 28,   /**< indirect descriptors (§2.7.5.3) */
    CAPDRV_VIRTIO_F_EVENT_IDX = 29,       /**< VIRTIO_F_RING_EVENT_IDX (§2.7.7, §2.7.10) */
    CAPDRV_VIRTIO_F_VERSION_1 = 32,       /**< compliant with VIRTIO 1.x; required here */
    CAPDRV_VIRTIO_F_ACCESS_PLATFORM = 33, /**< device DMA goes through the platform (IOMMU) */
    CAPDRV_VIRTIO_F_RING_PACKED = 34,     /**< packed virtqueue (never accepted here) */
    CAPDRV_VIRTIO_F_ORDER_PLATFORM = 36   /**< platform memory ordering */
};

/** A feature bit as a 64-bit mask. */
#define CAPDRV_VIRTIO_BIT(b) (1ull << (b))

/** MSI-X "no vector" value (§4.1.5.1.2). */
#define CAPDRV_VIRTIO_MSI_NO_VECTOR 0xffffu

/** virtio_pci_cap cfg_type values (§4.1.4). */
enum capdrv_virtio_pci_cap_type {
    CAPDRV_VIRTIO_PCI_CAP_COMMON_CFG = 1, /**< common configuration */
    CAPDRV_VIRTIO_PCI_CAP_NOTIFY_CFG = 2, /**< notifications */
    CAPDRV_VIRTIO_PCI_CAP_ISR_CFG = 3,    /**< ISR status */
    CAPDRV_VIRTIO_PCI_CAP_DEVICE_CFG = 4, /**< device-specific configuration */
    CAPDRV_VIRTIO_PCI_CAP_PCI_CFG = 5     /**< PCI configuration access (not used) */
};

/** Most MMIO windows of one grant the transport looks at. */
#define CAPDRV_VIRTIO_PCI_MAX_WINDOWS 8u
/** Most capabilities the walk visits before refusing the list (§4.1.4:
 *  a 256-byte header holds at most 48 capabilities of 4 bytes). */
#define CAPDRV_VIRTIO_PCI_MAX_CAPS 48u
/** Device status reads while waiting for a reset to complete (§4.1.4.3.2). */
#define CAPDRV_VIRTIO_RESET_POLLS 100000u
/** Attempts at a consistent device-configuration read (§4.1.4.3.1). */
#define CAPDRV_VIRTIO_CONFIG_RETRIES 64u

/* ---- Transport handle -------------------------------------------------- */

/** Where one virtio structure lives: window and byte range inside it. */
struct capdrv_virtio_pci_region {
    uint32_t present; /**< non-zero when found */
    uint32_t window;  /**< grant window index */
    uint64_t offset;  /**< start, from the window start */
    uint64_t length;  /**< bytes */
};

/**
 * A virtio PCI modern device bound to one open grant. The caller owns the
 * storage; every field is private to the library and may change.
 */
struct capdrv_virtio_pci {
    capdrv_sys *sys;        /**< connection the grant belongs to */
    capdrv_cap_t grant;     /**< the open grant (owned by the caller) */
    capdrv_cap_t mmio[CAPDRV_VIRTIO_PCI_MAX_WINDOWS]; /**< opened windows, 0 if not */
    /** where the common configuration, notification, ISR status and
     *  device configuration structures live (§4.1.4.3 to §4.1.4.6) */
    struct capdrv_virtio_pci_region common, notify, isr, device;
    uint32_t notify_mult;   /**< notify_off_multiplier (§4.1.4.4) */
    uint16_t pci_device;    /**< PCI device id */
    uint16_t virtio_id;     /**< virtio device id (§5) */
    uint16_t num_queues;    /**< common cfg num_queues at open */
    uint8_t status;         /**< device status as last written */
    uint8_t reserved;       /**< padding */
    int lane;               /**< enum capdrv_lane */
    uint64_t features;      /**< negotiated features (valid after FEATURES_OK) */
};

/** One enabled queue's notification address (capdrv_virtio_queue_setup()). */
struct capdrv_virtio_pci_queue {
    uint64_t notify_off; /**< doorbell offset from the start of the notify structure */
    uint16_t index;      /**< queue index */
    uint16_t vector;     /**< MSI-X vector the device accepted, or NO_VECTOR */
    int lane;            /**< enum capdrv_lane of the device */
};

/**
 * @brief Bind a virtio PCI device through its modern interface: find its
 *        structures, reset it, and set ACKNOWLEDGE then DRIVER (§3.1.1
 *        steps 1-3).
 *
 * Walks the capability list (§4.1.4) with at most CAPDRV_VIRTIO_PCI_MAX_CAPS
 * steps and refuses loops; uses the first capability of each type that has
 * a valid BAR and lies inside one window of the grant with the access it
 * needs (common: read/write, notify: write, ISR and device: read). Enables
 * Memory Space and Bus Master in the PCI COMMAND register.
 *
 * The device id comes from the PCI device id: 0x1040 + id for a modern
 * device, the §4.1.2.1 table for a transitional one (0x1000..0x103f),
 * whose modern interface is then used like any other.
 *
 * @param sys connection.
 * @param grant open grant of the function.
 * @param vp handle storage (filled).
 * @param why receives a one-line reason on failure (may be NULL).
 * @param why_len size of @p why.
 * @return 0; -CAPDRV_ENODEV (not a virtio device; a legacy-only device:
 *         no capability list or no usable common configuration
 *         capability, transitional ids included; or a transitional id
 *         §4.1.2.1 does not list),
 *         -CAPDRV_EPROTO (malformed capability list or structure),
 *         -CAPDRV_EFAULT (a structure outside every window of the grant),
 *         -CAPDRV_ETIMEDOUT (reset did not complete), -CAPDRV_EPERM (bus
 *         mastering refused: the grant has no DMA profile),
 *         -CAPDRV_EINVAL (NULL argument), or an error of capdrv/sys.h.
 */
int capdrv_virtio_pci_open(capdrv_sys *sys, capdrv_cap_t grant, struct capdrv_virtio_pci *vp,
                           char *why, size_t why_len);

/**
 * @brief Reset the device and release the windows the transport opened.
 *
 * The grant stays open (it is the caller's). Safe on a handle whose open
 * failed after zeroing, and idempotent.
 *
 * @param vp handle, or NULL.
 */
void capdrv_virtio_pci_close(struct capdrv_virtio_pci *vp);

/**
 * @brief Reset the device: write 0 to device_status and wait, bounded, for
 *        it to read back 0 (§4.1.4.3.2, §2.4).
 * @param vp handle.
 * @return 0; -CAPDRV_ETIMEDOUT after CAPDRV_VIRTIO_RESET_POLLS reads;
 *         -CAPDRV_EINVAL (NULL); an error of capdrv/sys.h.
 */
int capdrv_virtio_reset(struct capdrv_virtio_pci *vp);

/**
 * @brief Read device_status.
 * @param vp handle.
 * @param status receives the byte.
 * @return 0; -CAPDRV_EINVAL (NULL); an error of capdrv/sys.h.
 */
int capdrv_virtio_get_status(struct capdrv_virtio_pci *vp, uint8_t *status);

/**
 * @brief Check that the device has not asked for a reset (§2.1.1: a driver
 *        must not assume requests in flight complete once
 *        DEVICE_NEEDS_RESET is set).
 * @param vp handle.
 * @return 0 healthy; -CAPDRV_EIO when DEVICE_NEEDS_RESET is set;
 *         -CAPDRV_EINVAL (NULL); an error of capdrv/sys.h.
 */
int capdrv_virtio_check(struct capdrv_virtio_pci *vp);

/**
 * @brief Set FAILED in device_status (§3.1.1: the driver gave up).
 * @param vp handle.
 * @return 0; -CAPDRV_EINVAL (NULL); an error of capdrv/sys.h.
 */
int capdrv_virtio_fail(struct capdrv_virtio_pci *vp);

/**
 * @brief Read the 64 feature bits the device offers (device_feature through
 *        device_feature_select 0 and 1, §4.1.4.3).
 * @param vp handle.
 * @param features receives the bits.
 * @return 0; -CAPDRV_EINVAL (NULL); an error of capdrv/sys.h.
 */
int capdrv_virtio_device_features(struct capdrv_virtio_pci *vp, uint64_t *features);

/**
 * @brief Negotiate features and set FEATURES_OK (§3.1.1 steps 4-6).
 *
 * Accepts `offered & (wanted | VERSION_1 | ACCESS_PLATFORM)`: VERSION_1 is
 * required (a device without it is legacy, §6.1), ACCESS_PLATFORM is
 * accepted whenever offered (§6.1: a driver that refuses it may make the
 * device fail or bypass the IOMMU). RING_PACKED is never accepted (only
 * split rings exist here). Then writes FEATURES_OK and reads device_status
 * back: a device that cleared it refused the subset (§3.1.1 step 6). On any
 * failure FAILED is set.
 *
 * @param vp handle after capdrv_virtio_pci_open().
 * @param wanted device-type and ring features the driver supports.
 * @param accepted receives the negotiated set (may be NULL).
 * @return 0; -CAPDRV_ENODEV (VERSION_1 not offered); -CAPDRV_ENOTSUP
 *         (FEATURES_OK not kept by the device); -CAPDRV_EINVAL (NULL
 *         @p vp); an error of capdrv/sys.h.
 */
int capdrv_virtio_negotiate(struct capdrv_virtio_pci *vp, uint64_t wanted, uint64_t *accepted);

/**
 * @brief The negotiated features.
 * @param vp handle.
 * @return the bits accepted by capdrv_virtio_negotiate() (0 before).
 */
CAPDRV_INLINE uint64_t capdrv_virtio_features(const struct capdrv_virtio_pci *vp)
{
    return vp->features;
}

/**
 * @brief Whether feature @p bit was negotiated.
 * @param vp handle.
 * @param bit feature bit number 0..63.
 * @return 1 or 0.
 */
CAPDRV_INLINE int capdrv_virtio_has(const struct capdrv_virtio_pci *vp, unsigned bit)
{
    return bit < 64 && ((vp->features >> bit) & 1u);
}

/**
 * @brief Set DRIVER_OK (§3.1.1 step 8): the device is live.
 * @param vp handle, features negotiated and queues set up.
 * @return 0; -CAPDRV_EIO (the device reports DEVICE_NEEDS_RESET or
 *         dropped the status bits); -CAPDRV_EINVAL; an error of
 *         capdrv/sys.h.
 */
int capdrv_virtio_driver_ok(struct capdrv_virtio_pci *vp);

/**
 * @brief Read @p len bytes of device-specific configuration at @p offset,
 *        consistently (§4.1.4.3.1, §2.5.1: re-read while config_generation
 *        changes, at most CAPDRV_VIRTIO_CONFIG_RETRIES times).
 *
 * Uses naturally aligned accesses of at most 4 bytes (§4.1.3.1: 64-bit
 * fields may be read as two 32-bit halves; the generation check makes the
 * pair consistent). Multi-byte fields are little-endian in @p buf as on the
 * device.
 *
 * @param vp handle.
 * @param offset byte offset in the device configuration structure.
 * @param buf receives the bytes.
 * @param len bytes; @p offset + @p len must lie inside the structure.
 * @return 0; -CAPDRV_ENOENT (no device configuration structure);
 *         -CAPDRV_ERANGE (outside it); -CAPDRV_EIO (generation never
 *         stable); -CAPDRV_EINVAL (NULL); an error of capdrv/sys.h.
 */
int capdrv_virtio_config_read(struct capdrv_virtio_pci *vp, uint32_t offset, void *buf,
                              size_t len);

/**
 * @brief Length of the device-specific configuration structure.
 * @param vp handle.
 * @return bytes (0 when the device has none).
 */
CAPDRV_INLINE uint64_t capdrv_virtio_config_len(const struct capdrv_virtio_pci *vp)
{
    return vp->device.present ? vp->device.length : 0;
}

/**
 * @brief Number of queues the device offers (common cfg num_queues).
 * @param vp handle.
 * @return the count read at open.
 */
CAPDRV_INLINE unsigned capdrv_virtio_num_queues(const struct capdrv_virtio_pci *vp)
{
    return vp->num_queues;
}

/**
 * @brief The virtio device id (§5: 2 block, 1 network, ...).
 * @param vp handle.
 * @return PCI device id - 0x1040.
 */
CAPDRV_INLINE unsigned capdrv_virtio_device_id(const struct capdrv_virtio_pci *vp)
{
    return vp->virtio_id;
}

/**
 * @brief Largest Queue Size of queue @p index (select it, read queue_size;
 *        §4.1.5.1.3).
 * @param vp handle.
 * @param index queue index.
 * @param max receives the size; a power of two <= CAPDRV_VIRTQ_MAX_SIZE.
 * @return 0; -CAPDRV_ENOENT (index >= num_queues, or size 0: the queue is
 *         unavailable); -CAPDRV_EPROTO (the device reports a size that is
 *         not a power of two or above 32768, §2.7); -CAPDRV_EINVAL; an error
 *         of capdrv/sys.h.
 */
int capdrv_virtio_queue_max(struct capdrv_virtio_pci *vp, unsigned index, unsigned *max);

/**
 * @brief Program and enable one queue (§4.1.5.1.3).
 *
 * Selects @p index, writes queue_size (the virtq's size, which may shrink
 * the device's), queue_desc/driver/device from capdrv_virtq_area_refs(),
 * queue_msix_vector (read back: NO_VECTOR means the device refused it,
 * §4.1.5.1.2), computes and checks the doorbell address (§4.1.4.4), then
 * writes queue_enable = 1. Call after FEATURES_OK and before DRIVER_OK.
 *
 * @param vp handle.
 * @param index queue index.
 * @param vq initialised queue (capdrv_virtq_init()).
 * @param vector MSI-X vector for used-buffer notifications, or
 *        CAPDRV_VIRTIO_MSI_NO_VECTOR for none (polling).
 * @param q receives the queue's doorbell information.
 * @return 0; -CAPDRV_ENOENT (no such queue); -CAPDRV_ERANGE (virtq larger
 *         than the device's maximum); -CAPDRV_EIO (vector refused, or
 *         queue_enable did not stick); -CAPDRV_EPROTO (doorbell outside the
 *         notify structure); -CAPDRV_EINVAL; an error of capdrv/sys.h.
 */
int capdrv_virtio_queue_setup(struct capdrv_virtio_pci *vp, unsigned index,
                              const struct capdrv_virtq *vq, uint16_t vector,
                              struct capdrv_virtio_pci_queue *q);

/**
 * @brief Route configuration-change notifications to an MSI-X vector
 *        (config_msix_vector, read back; §4.1.5.1.2).
 * @param vp handle.
 * @param vector vector, or CAPDRV_VIRTIO_MSI_NO_VECTOR.
 * @return 0; -CAPDRV_EIO (the device refused the vector); -CAPDRV_EINVAL;
 *         an error of capdrv/sys.h.
 */
int capdrv_virtio_config_vector(struct capdrv_virtio_pci *vp, uint16_t vector);

/**
 * @brief Ring a queue's doorbell: a 2-byte write of the queue index to the
 *        queue's notify address (§4.1.4.4, §4.1.5.2).
 * @param vp handle.
 * @param q from capdrv_virtio_queue_setup().
 * @return 0; -CAPDRV_EFAULT (the kernel refused a published DMA
 *         reference); -CAPDRV_EINVAL; an error of capdrv/sys.h.
 */
int capdrv_virtio_notify(struct capdrv_virtio_pci *vp, const struct capdrv_virtio_pci_queue *q);

/**
 * @brief Notify after a capdrv_virtq_publish() when needed.
 *
 * Brokered lane: always rings (the kernel materialises the rings at the
 * doorbell, so the device never sees a publish without one). Direct lane:
 * rings when capdrv_virtq_needs_notify() says so (§2.7.13.4).
 *
 * @param vp handle.
 * @param q the queue's doorbell information.
 * @param vq the queue.
 * @return 1 rang, 0 not needed; -CAPDRV_EPROTO (queue broken); errors of
 *         capdrv_virtio_notify().
 */
int capdrv_virtio_pci_kick(struct capdrv_virtio_pci *vp, const struct capdrv_virtio_pci_queue *q,
                           struct capdrv_virtq *vq);

/**
 * @brief Read (and so clear) the ISR status byte (§4.1.4.5). Only needed
 *        without MSI-X.
 * @param vp handle.
 * @param isr receives the byte (bit 0: queue, bit 1: configuration).
 * @return 0; -CAPDRV_ENOENT (no ISR structure); -CAPDRV_EINVAL; an error
 *         of capdrv/sys.h.
 */
int capdrv_virtio_isr(struct capdrv_virtio_pci *vp, uint8_t *isr);

#ifdef __cplusplus
}
#endif
#endif /* CAPDRV_VIRTIO_H */
