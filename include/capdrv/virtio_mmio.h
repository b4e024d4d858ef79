/**
 * @file capdrv/virtio_mmio.h
 * @brief VIRTIO 1.2 virtio-mmio transport, version 2 (§4.2), and discovery
 *        of virtio-mmio devices in a flattened device tree.
 *
 * **Transport.** A virtio-mmio device is one register block (§4.2.2): the
 * control registers at 0x000..0x0ff and the device-specific configuration
 * from 0x100. The provider reaches it through one MMIO window of a grant
 * (capdrv/sys.h), which must cover at least the control registers with
 * read/write access; the configuration is whatever of the window lies past
 * 0x100. The device is not trusted: every value read from it is checked
 * before use and every wait on it is bounded.
 *
 * Only version 2 (the VIRTIO 1.x "modern" interface) is driven. A legacy
 * device (Version 1, §4.2.4) and a placeholder slot (DeviceID 0, §4.2.3.1)
 * are refused with -CAPDRV_ENODEV and a reason.
 *
 * The status machine (§3.1.1), feature negotiation (§2.2), configuration
 * reads (§2.5.1) and queue setup are the same code as the PCI transport's
 * (capdrv/virtio.h); only the registers differ. Interrupts: one line per
 * device (§4.2.3.4) whose cause is InterruptStatus (bit 0: used buffer,
 * bit 1: configuration change), acknowledged through InterruptACK. Open the
 * line with capdrv_irq_open() on the grant (vector 0).
 *
 * Discovery and a typical bring-up (error handling shortened; the queue's
 * memory is set up as in capdrv/virtq.h):
 * @code
 * #include <stdio.h>
 *
 * static void list_devices(const void *dtb, size_t len)
 * {
 *     struct capdrv_virtio_mmio_node nodes[8];
 *     unsigned n;
 *     if (capdrv_virtio_mmio_scan(dtb, len, nodes, 8, &n) != 0)
 *         return;  // -CAPDRV_ENOSPC: more than 8 nodes
 *     for (unsigned i = 0; i < n; i++)
 *         printf("%s: %#llx, %#llx bytes\n", nodes[i].path,
 *                (unsigned long long)nodes[i].base, (unsigned long long)nodes[i].size);
 * }
 *
 * static int bring_up(capdrv_sys *sys, capdrv_cap_t grant, struct capdrv_virtio_mmio *vm,
 *                     struct capdrv_virtq *vq, struct capdrv_virtio_mmio_queue *q)
 * {
 *     char why[128];
 *     int rc = capdrv_virtio_mmio_open(sys, grant, 0, vm, why, sizeof why);  // reset, ACK, DRIVER
 *     if (rc < 0)
 *         return rc;
 *     capdrv_virtio_mmio_negotiate(vm, 0, NULL);  // FEATURES_OK re-read
 *     unsigned max;
 *     capdrv_virtio_mmio_queue_max(vm, 0, &max);
 *     // ... capdrv_virtq_init(vq, ...) with a size <= max ...
 *     capdrv_virtio_mmio_queue_setup(vm, 0, vq, q);
 *     return capdrv_virtio_mmio_driver_ok(vm);
 * }
 * // Then per batch: capdrv_virtq_publish(), capdrv_virtio_mmio_kick(vm, q, vq);
 * // at the end capdrv_virtio_mmio_close(vm).
 *
 * // When the line fires (capdrv_irq_open(sys, grant, 0, ...)): read the cause,
 * // acknowledge it, then reap the queues on CAPDRV_VIRTIO_MMIO_INT_VRING.
 * static int on_interrupt(struct capdrv_virtio_mmio *vm, uint32_t *cause)
 * {
 *     int rc = capdrv_virtio_mmio_irq_status(vm, cause);
 *     *cause &= CAPDRV_VIRTIO_MMIO_INT_VRING | CAPDRV_VIRTIO_MMIO_INT_CONFIG;
 *     if (rc < 0 || *cause == 0)
 *         return rc;
 *     return capdrv_virtio_mmio_irq_ack(vm, *cause);
 * }
 * @endcode
 *
 * **Discovery.** capdrv_virtio_mmio_scan() lists the `virtio,mmio` nodes of
 * a device tree blob (as on QEMU's arm/riscv `virt` machines, or in the
 * Linux binding Documentation/devicetree/bindings/virtio/mmio.yaml) with
 * their register range and first interrupt specifier. The blob is hostile
 * input: it is checked as a whole before use and every property length is
 * checked before it is read.
 */
#ifndef CAPDRV_VIRTIO_MMIO_H
#define CAPDRV_VIRTIO_MMIO_H

#include <stddef.h>
#include <stdint.h>

#include <capdrv/error.h>
#include <capdrv/sys.h>
#include <capdrv/virtio.h>
#include <capdrv/virtq.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Register block (§4.2.2) -------------------------------------------- */

/** MagicValue: "virt" in little-endian (§4.2.2). */
#define CAPDRV_VIRTIO_MMIO_MAGIC 0x74726976u
/** The only Version driven here (1 is the legacy interface, §4.2.4). */
#define CAPDRV_VIRTIO_MMIO_VERSION 2u
/** Start of the device-specific configuration; the control registers end
 *  here, so a window must be at least this long. */
#define CAPDRV_VIRTIO_MMIO_CONFIG 0x100u
/** Queue indexes accepted (QueueSel is 32 bits, but a queue index is 16
 *  bits in every notification, §2.7). Probe with
 *  capdrv_virtio_mmio_queue_max(): 0 maximum means no such queue. */
#define CAPDRV_VIRTIO_MMIO_MAX_QUEUES 0x10000u

/** Register offsets of the virtio-mmio register block (§4.2.2, table
 *  "MMIO Device Register Layout"). All control registers are 32 bits. */
enum capdrv_virtio_mmio_reg {
    CAPDRV_VIRTIO_MMIO_MAGIC_VALUE = 0x000,         /**< R: 0x74726976 */
    CAPDRV_VIRTIO_MMIO_VERSION_REG = 0x004,         /**< R: 2 (1 = legacy) */
    CAPDRV_VIRTIO_MMIO_DEVICE_ID = 0x008,           /**< R: virtio device id (§5); 0 = none */
    CAPDRV_VIRTIO_MMIO_VENDOR_ID = 0x00c,           /**< R: subsystem vendor id */
    CAPDRV_VIRTIO_MMIO_DEVICE_FEATURES = 0x010,     /**< R: 32 feature bits */
    CAPDRV_VIRTIO_MMIO_DEVICE_FEATURES_SEL = 0x014, /**< W: which 32 bits */
    CAPDRV_VIRTIO_MMIO_DRIVER_FEATURES = 0x020,     /**< W: 32 accepted bits */
    CAPDRV_VIRTIO_MMIO_DRIVER_FEATURES_SEL = 0x024, /**< W: which 32 bits */
    CAPDRV_VIRTIO_MMIO_QUEUE_SEL = 0x030,           /**< W: queue index */
    CAPDRV_VIRTIO_MMIO_QUEUE_NUM_MAX = 0x034,       /**< R: largest size; 0 = no queue */
    CAPDRV_VIRTIO_MMIO_QUEUE_NUM = 0x038,           /**< W: size the driver uses */
    CAPDRV_VIRTIO_MMIO_QUEUE_READY = 0x044,         /**< RW: queue enabled */
    CAPDRV_VIRTIO_MMIO_QUEUE_NOTIFY = 0x050,        /**< W: queue index (doorbell) */
    CAPDRV_VIRTIO_MMIO_INTERRUPT_STATUS = 0x060,    /**< R: interrupt causes */
    CAPDRV_VIRTIO_MMIO_INTERRUPT_ACK = 0x064,       /**< W: causes handled */
    CAPDRV_VIRTIO_MMIO_STATUS = 0x070,              /**< RW: device status (§2.1) */
    CAPDRV_VIRTIO_MMIO_QUEUE_DESC_LOW = 0x080,      /**< W: descriptor table, low 32 bits */
    CAPDRV_VIRTIO_MMIO_QUEUE_DESC_HIGH = 0x084,     /**< W: descriptor table, high 32 bits */
    CAPDRV_VIRTIO_MMIO_QUEUE_DRIVER_LOW = 0x090,    /**< W: available ring, low */
    CAPDRV_VIRTIO_MMIO_QUEUE_DRIVER_HIGH = 0x094,   /**< W: available ring, high */
    CAPDRV_VIRTIO_MMIO_QUEUE_DEVICE_LOW = 0x0a0,    /**< W: used ring, low */
    CAPDRV_VIRTIO_MMIO_QUEUE_DEVICE_HIGH = 0x0a4,   /**< W: used ring, high */
    CAPDRV_VIRTIO_MMIO_CONFIG_GENERATION = 0x0fc    /**< R: configuration generation */
};

/** InterruptStatus / InterruptACK bits (§4.2.2, §4.2.3.4). */
enum capdrv_virtio_mmio_int {
    CAPDRV_VIRTIO_MMIO_INT_VRING = 1u, /**< a used buffer was added to some queue */
    CAPDRV_VIRTIO_MMIO_INT_CONFIG = 2u /**< the device configuration changed */
};

/* ---- Transport handle ---------------------------------------------------- */

/**
 * A virtio-mmio device bound to one window of an open grant. The caller
 * owns the storage; every field is private to the library and may change.
 */
struct capdrv_virtio_mmio {
    capdrv_sys *sys;     /**< connection the grant belongs to */
    capdrv_cap_t grant;  /**< the open grant (owned by the caller) */
    capdrv_cap_t mmio;   /**< the opened window, 0 if not */
    uint32_t window;     /**< its index */
    uint32_t device_id;  /**< DeviceID (§5) */
    uint32_t vendor_id;  /**< VendorID */
    uint8_t status;      /**< device status as last written */
    uint8_t reserved[3]; /**< padding */
    int lane;            /**< enum capdrv_lane */
    uint64_t config_len; /**< bytes of the window past CAPDRV_VIRTIO_MMIO_CONFIG */
    uint64_t features;   /**< negotiated features (valid after FEATURES_OK) */
};

/** One enabled queue (capdrv_virtio_mmio_queue_setup()). */
struct capdrv_virtio_mmio_queue {
    uint16_t index; /**< queue index: the value written to QueueNotify */
    int lane;       /**< enum capdrv_lane of the device */
};

/**
 * @brief Bind a virtio-mmio device: check the register block, reset the
 *        device, set ACKNOWLEDGE then DRIVER (§4.2.3.1, §3.1.1 steps 1-3).
 *
 * Reads MagicValue, Version and DeviceID first and touches no other
 * register when they do not describe a version-2 device (§4.2.3.1).
 *
 * @param sys connection.
 * @param grant open grant.
 * @param window the grant's window over the register block (at least
 *        CAPDRV_VIRTIO_MMIO_CONFIG bytes, readable and writable).
 * @param vm handle storage (filled).
 * @param why receives a one-line reason on failure (may be NULL).
 * @param why_len size of @p why.
 * @return 0; -CAPDRV_ENODEV (bad magic, Version 1 = legacy, any Version
 *         other than 2, DeviceID 0 = placeholder); -CAPDRV_EFAULT (window
 *         shorter than the control registers); -CAPDRV_EPERM (window not
 *         readable and writable); -CAPDRV_ETIMEDOUT (reset did not
 *         complete); -CAPDRV_EINVAL (NULL argument); or an error of
 *         capdrv/sys.h (e.g. -CAPDRV_ENOENT: no such window).
 */
int capdrv_virtio_mmio_open(capdrv_sys *sys, capdrv_cap_t grant, unsigned window,
                            struct capdrv_virtio_mmio *vm, char *why, size_t why_len);

/**
 * @brief Reset the device and release the window. The grant stays open.
 *        Safe on a zeroed handle and idempotent.
 * @param vm handle, or NULL.
 */
void capdrv_virtio_mmio_close(struct capdrv_virtio_mmio *vm);

/**
 * @brief Reset: write 0 to Status and wait, bounded, for it to read back 0
 *        (§4.2.2 Status, §2.4).
 * @param vm handle.
 * @return 0; -CAPDRV_ETIMEDOUT after CAPDRV_VIRTIO_RESET_POLLS reads;
 *         -CAPDRV_EINVAL; an error of capdrv/sys.h.
 */
int capdrv_virtio_mmio_reset(struct capdrv_virtio_mmio *vm);

/**
 * @brief Read the device status (low byte of Status).
 * @param vm handle.
 * @param status receives the byte.
 * @return 0; -CAPDRV_EINVAL; an error of capdrv/sys.h.
 */
int capdrv_virtio_mmio_get_status(struct capdrv_virtio_mmio *vm, uint8_t *status);

/**
 * @brief Check that the device has not set DEVICE_NEEDS_RESET (§2.1.1).
 * @param vm handle.
 * @return 0 healthy; -CAPDRV_EIO when it is set; -CAPDRV_EINVAL; an error
 *         of capdrv/sys.h.
 */
int capdrv_virtio_mmio_check(struct capdrv_virtio_mmio *vm);

/**
 * @brief Set FAILED in the device status (§3.1.1).
 * @param vm handle.
 * @return 0; -CAPDRV_EINVAL; an error of capdrv/sys.h.
 */
int capdrv_virtio_mmio_fail(struct capdrv_virtio_mmio *vm);

/**
 * @brief Read the 64 feature bits the device offers (DeviceFeatures
 *        through DeviceFeaturesSel 0 and 1, §4.2.2).
 * @param vm handle.
 * @param features receives the bits.
 * @return 0; -CAPDRV_EINVAL; an error of capdrv/sys.h.
 */
int capdrv_virtio_mmio_device_features(struct capdrv_virtio_mmio *vm, uint64_t *features);

/**
 * @brief Negotiate features and set FEATURES_OK (§3.1.1 steps 4-6), with
 *        the rules of capdrv_virtio_negotiate(): VERSION_1 required,
 *        ACCESS_PLATFORM taken when offered, RING_PACKED never; FEATURES_OK
 *        re-read; FAILED set on any failure.
 * @param vm handle after capdrv_virtio_mmio_open().
 * @param wanted device-type and ring features the driver supports.
 * @param accepted receives the negotiated set (may be NULL).
 * @return 0; -CAPDRV_ENODEV (VERSION_1 not offered); -CAPDRV_ENOTSUP
 *         (FEATURES_OK not kept); -CAPDRV_EINVAL; an error of capdrv/sys.h.
 */
int capdrv_virtio_mmio_negotiate(struct capdrv_virtio_mmio *vm, uint64_t wanted,
                                 uint64_t *accepted);

/**
 * @brief The negotiated features.
 * @param vm handle.
 * @return the bits accepted by capdrv_virtio_mmio_negotiate() (0 before).
 */
CAPDRV_INLINE uint64_t capdrv_virtio_mmio_features(const struct capdrv_virtio_mmio *vm)
{
    return vm->features;
}

/**
 * @brief Whether feature @p bit was negotiated.
 * @param vm handle.
 * @param bit feature bit number 0..63.
 * @return 1 or 0.
 */
CAPDRV_INLINE int capdrv_virtio_mmio_has(const struct capdrv_virtio_mmio *vm, unsigned bit)
{
    return bit < 64 && ((vm->features >> bit) & 1u);
}

/**
 * @brief The virtio device id (§5: 1 network, 2 block, ...).
 * @param vm handle.
 * @return DeviceID as read at open.
 */
CAPDRV_INLINE unsigned capdrv_virtio_mmio_device_id(const struct capdrv_virtio_mmio *vm)
{
    return vm->device_id;
}

/**
 * @brief Length of the device-specific configuration reachable through
 *        the window (window length - CAPDRV_VIRTIO_MMIO_CONFIG).
 * @param vm handle.
 * @return bytes (0 when the window ends at the control registers).
 */
CAPDRV_INLINE uint64_t capdrv_virtio_mmio_config_len(const struct capdrv_virtio_mmio *vm)
{
    return vm->config_len;
}

/**
 * @brief Set DRIVER_OK (§3.1.1 step 8).
 * @param vm handle, features negotiated and queues set up.
 * @return 0; -CAPDRV_EIO (DEVICE_NEEDS_RESET, or status bits dropped;
 *         FAILED is then set); -CAPDRV_EINVAL; an error of capdrv/sys.h.
 */
int capdrv_virtio_mmio_driver_ok(struct capdrv_virtio_mmio *vm);

/**
 * @brief Read device-specific configuration consistently (§2.5.1:
 *        re-read while ConfigGeneration changes, at most
 *        CAPDRV_VIRTIO_CONFIG_RETRIES times), with aligned accesses of at
 *        most 4 bytes (§4.2.2.2). Bytes land in @p buf as on the device
 *        (little-endian).
 * @param vm handle.
 * @param offset byte offset from CAPDRV_VIRTIO_MMIO_CONFIG.
 * @param buf receives the bytes.
 * @param len bytes.
 * @return 0; -CAPDRV_ENOENT (no configuration in the window);
 *         -CAPDRV_ERANGE (beyond it); -CAPDRV_EIO (generation never
 *         stable); -CAPDRV_EINVAL; an error of capdrv/sys.h.
 */
int capdrv_virtio_mmio_config_read(struct capdrv_virtio_mmio *vm, uint32_t offset, void *buf,
                                   size_t len);

/**
 * @brief Largest size of queue @p index (QueueSel, QueueNumMax; §4.2.3.2).
 * @param vm handle.
 * @param index queue index < CAPDRV_VIRTIO_MMIO_MAX_QUEUES.
 * @param max receives a power of two <= CAPDRV_VIRTQ_MAX_SIZE.
 * @return 0; -CAPDRV_ENOENT (index out of range, or QueueNumMax 0: the
 *         queue is not available); -CAPDRV_EPROTO (not a power of two or
 *         above 32768, §2.7); -CAPDRV_EINVAL; an error of capdrv/sys.h.
 */
int capdrv_virtio_mmio_queue_max(struct capdrv_virtio_mmio *vm, unsigned index, unsigned *max);

/**
 * @brief Program and enable one queue (§4.2.3.2): select it, check
 *        QueueReady reads 0, check QueueNumMax, write QueueNum, the three
 *        area addresses (capdrv_virtq_area_refs()) and QueueReady = 1,
 *        read back. Call after FEATURES_OK and before DRIVER_OK.
 * @param vm handle.
 * @param index queue index.
 * @param vq initialised queue.
 * @param q receives the queue's doorbell information.
 * @return 0; -CAPDRV_ENOENT (no such queue); -CAPDRV_EBUSY (QueueReady
 *         already set); -CAPDRV_ERANGE (virtq larger than QueueNumMax);
 *         -CAPDRV_EIO (QueueReady did not stick); -CAPDRV_EPROTO;
 *         -CAPDRV_EINVAL; an error of capdrv/sys.h.
 */
int capdrv_virtio_mmio_queue_setup(struct capdrv_virtio_mmio *vm, unsigned index,
                                   const struct capdrv_virtq *vq,
                                   struct capdrv_virtio_mmio_queue *q);

/**
 * @brief Ring a queue's doorbell: write its index to QueueNotify
 *        (§4.2.2, §4.2.3.3; no VIRTIO_F_NOTIFICATION_DATA).
 * @param vm handle.
 * @param q from capdrv_virtio_mmio_queue_setup().
 * @return 0; -CAPDRV_EFAULT (the kernel refused a published DMA
 *         reference); -CAPDRV_EINVAL; an error of capdrv/sys.h.
 */
int capdrv_virtio_mmio_notify(struct capdrv_virtio_mmio *vm,
                              const struct capdrv_virtio_mmio_queue *q);

/**
 * @brief Notify after capdrv_virtq_publish() when needed: always in the
 *        brokered lane, when capdrv_virtq_needs_notify() asks in the
 *        direct lane (as capdrv_virtio_pci_kick()).
 * @param vm handle.
 * @param q the queue's doorbell information.
 * @param vq the queue.
 * @return 1 rang, 0 not needed; -CAPDRV_EPROTO (queue broken); errors of
 *         capdrv_virtio_mmio_notify().
 */
int capdrv_virtio_mmio_kick(struct capdrv_virtio_mmio *vm, const struct capdrv_virtio_mmio_queue *q,
                            struct capdrv_virtq *vq);

/**
 * @brief Read InterruptStatus (§4.2.2): why the interrupt line fired.
 * @param vm handle.
 * @param bits receives enum capdrv_virtio_mmio_int bits (other bits the
 *        device sets are passed through unchanged).
 * @return 0; -CAPDRV_EINVAL; an error of capdrv/sys.h.
 */
int capdrv_virtio_mmio_irq_status(struct capdrv_virtio_mmio *vm, uint32_t *bits);

/**
 * @brief Acknowledge interrupt causes by writing them to InterruptACK
 *        (§4.2.3.4). Acknowledge the kernel's Interrupt capability
 *        (capdrv_irq_ack()) separately.
 * @param vm handle.
 * @param bits causes handled: a non-empty subset of
 *        CAPDRV_VIRTIO_MMIO_INT_VRING | CAPDRV_VIRTIO_MMIO_INT_CONFIG.
 * @return 0; -CAPDRV_EINVAL (NULL, no bits, or undefined bits); an error
 *         of capdrv/sys.h.
 */
int capdrv_virtio_mmio_irq_ack(struct capdrv_virtio_mmio *vm, uint32_t bits);

/* ---- Device-tree discovery ------------------------------------------------ */

/** Longest node path stored, including the terminating NUL (longer paths
 *  are refused with -CAPDRV_ERANGE). */
#define CAPDRV_VIRTIO_MMIO_PATH_MAX 128u
/** Most cells of one interrupt specifier that are recorded. */
#define CAPDRV_VIRTIO_MMIO_IRQ_CELLS 4u

/** One `virtio,mmio` node of a device tree (capdrv_virtio_mmio_scan()). */
struct capdrv_virtio_mmio_node {
    char path[CAPDRV_VIRTIO_MMIO_PATH_MAX]; /**< full node path, e.g. "/virtio_mmio@a000000" */
    int offset;                  /**< node offset in the blob */
    uint64_t base;               /**< first `reg` entry: address */
    uint64_t size;               /**< first `reg` entry: size (> 0) */
    unsigned irq_cells;          /**< cells in irq[] (0: the node has no `interrupts`) */
    uint32_t irq[CAPDRV_VIRTIO_MMIO_IRQ_CELLS]; /**< first interrupt specifier, raw
                                      cells; for an arm GIC 3-cell specifier:
                                      type (0 SPI, 1 PPI), number, flags */
    uint32_t irq_parent;         /**< `interrupt-parent` phandle of the node or its
                                      nearest ancestor, 0 if none */
};

/**
 * @brief List the `virtio,mmio` nodes of a flattened device tree.
 *
 * Every node whose `compatible` list contains "virtio,mmio" and whose
 * `status` is not "disabled" (Devicetree Specification v0.4 §2.3.4:
 * "okay"/absent is enabled; any other value but "disabled" is kept) is
 * reported in blob order with its first `reg` entry, decoded with the
 * parent's `#address-cells` and `#size-cells` (1 or 2 each; absent:
 * 2 and 1, §2.3.5), and its first `interrupts` specifier, sized by the
 * interrupt parent's `#interrupt-cells` (absent or no parent: the whole
 * property when it holds 1..CAPDRV_VIRTIO_MMIO_IRQ_CELLS cells).
 *
 * The blob must be of version 17 (what dtc and QEMU emit; older layouts
 * are refused) and is checked (fdt_check_full()) before any node is read, and
 * every property length is checked against what is decoded from it. A
 * malformed matching node stops the scan: the error says what kind, and
 * *@p n counts the good nodes before it.
 *
 * @param dtb the blob, 8-byte aligned (libfdt requires it).
 * @param len bytes available at @p dtb (at least the blob's totalsize).
 * @param out array receiving up to @p max nodes (may be NULL when @p max
 *        is 0: count only).
 * @param max entries in @p out.
 * @param n receives the number of matching nodes (may exceed @p max).
 * @return 0 (all matching nodes fit), -CAPDRV_ENOSPC (more than @p max
 *         match; the first @p max are filled and *@p n is the total);
 *         -CAPDRV_EINVAL (NULL @p dtb or @p n, @p out NULL with @p max > 0,
 *         or @p dtb not 8-byte aligned); -CAPDRV_EPROTO (not a valid, a
 *         truncated or a pre-17 blob, or a matching node with a missing or malformed
 *         `reg`, a bad `#address-cells`/`#size-cells` on its parent, or a
 *         malformed `interrupts`, `interrupt-parent` or
 *         `#interrupt-cells`); -CAPDRV_ERANGE (a path longer than
 *         CAPDRV_VIRTIO_MMIO_PATH_MAX, or base + size beyond 64 bits).
 */
int capdrv_virtio_mmio_scan(const void *dtb, size_t len, struct capdrv_virtio_mmio_node *out,
                            unsigned max, unsigned *n);

#ifdef __cplusplus
}
#endif
#endif /* CAPDRV_VIRTIO_MMIO_H */
