/**
 * @file capdrv/sys.h
 * @brief The capability-syscall ABI: everything a provider (a userspace
 *        driver) may do to a device, and nothing more.
 *
 * A provider holds no ambient authority. The kernel (here: the kernel shim,
 * reached in-process or over a socket) gives it *grants* from a manifest;
 * from an open grant it derives capabilities:
 *
 * | capability  | what it allows |
 * |-------------|----------------|
 * | grant       | the claim on one PCI function; parent of all below |
 * | DeviceMmio  | reads/writes inside one granted BAR window |
 * | DMAPool     | allocation of DMA buffers up to the grant's quota |
 * | DMABuffer   | CPU access to one buffer and a DMA reference to it |
 * | Interrupt   | wait (multiplexed), acknowledge, mask one vector |
 *
 * Capabilities are 64-bit handles carrying a type and a generation. Once a
 * handle is released, revoked or torn down, every use of it fails with
 * -CAPDRV_ESTALE and has no effect, even if its slot is reused.
 *
 * DMA references: a provider never needs a device address. It writes
 * capdrv_dma_ref() values wherever the device expects an address. In the
 * *brokered* lane (no IOMMU) these are opaque tokens that the shim
 * validates and turns into device addresses in memory the provider cannot
 * write; in the *direct* lane (IOMMU) they are IOVAs, and the shim checks
 * every newly published range against the DMA ledger at the doorbell.
 *
 * Example (open grant "blk0" and its first window, allocate a DMA page;
 * error handling shortened):
 * @code
 * static int first_page(capdrv_sys *sys, capdrv_cap_t *grant, uint64_t *ref)
 * {
 *     capdrv_cap_t mmio, pool, buf;
 *     struct capdrv_dmabuf_info bi;
 *     int idx = capdrv_grant_find(sys, "blk0");
 *     if (idx < 0)
 *         return idx;
 *     capdrv_grant_open(sys, (unsigned)idx, grant);
 *     capdrv_mmio_open(sys, *grant, 0, &mmio);
 *     capdrv_pool_open(sys, *grant, &pool);
 *     int rc = capdrv_dma_alloc(sys, pool, 4096, &buf, &bi);
 *     if (rc < 0)
 *         return rc;
 *     *ref = capdrv_dma_ref(&bi, 0);  // write this where an address goes
 *     return 0;  // capdrv_cap_release(sys, *grant) releases everything derived
 * }
 * @endcode
 */
#ifndef CAPDRV_SYS_H
#define CAPDRV_SYS_H

#include <stdbool.h>
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

/** A capability handle. 0 is never a valid handle. */
typedef uint64_t capdrv_cap_t;

/** The invalid handle. */
#define CAPDRV_CAP_INVALID ((capdrv_cap_t)0)

/** A connection to the kernel's capability interface (opaque). */
typedef struct capdrv_sys capdrv_sys;

/** Capability types, encoded in every handle. */
enum capdrv_cap_type {
    CAPDRV_CAP_GRANT = 1,  /**< claim on one function */
    CAPDRV_CAP_MMIO = 2,   /**< DeviceMmio window */
    CAPDRV_CAP_POOL = 3,   /**< DMAPool */
    CAPDRV_CAP_DMABUF = 4, /**< DMABuffer */
    CAPDRV_CAP_IRQ = 5     /**< Interrupt vector */
};

/** Bit position of the type field in a handle (bits 56..63). */
#define CAPDRV_CAP_TYPE_SHIFT 56

/**
 * @brief The type encoded in a handle (no validation: the kernel decides).
 * @param cap any handle.
 * @return a value of enum capdrv_cap_type, or 0 for CAPDRV_CAP_INVALID.
 */
CAPDRV_INLINE unsigned capdrv_cap_type_of(capdrv_cap_t cap)
{
    return (unsigned)(cap >> CAPDRV_CAP_TYPE_SHIFT);
}

/** Grant classes (the seed's ProdGrantClass). */
enum capdrv_grant_class {
    CAPDRV_GRANT_ANY_FUNCTION = 1,   /**< MMIO, config, interrupts; no DMA */
    CAPDRV_GRANT_DMA_CAPABLE = 2,    /**< a function with a DMA profile (virtio, NVMe) */
    CAPDRV_GRANT_NVME_CONTROLLER = 3 /**< an NVMe controller only */
};

/** DMA lanes; see the file overview. */
enum capdrv_lane {
    CAPDRV_LANE_BROKERED = 1, /**< tokens; the shim materialises addresses */
    CAPDRV_LANE_DIRECT = 2    /**< IOVAs; the shim validates at the doorbell */
};

/** A PCI function's address. */
struct capdrv_pci_addr {
    uint16_t domain; /**< PCI segment */
    uint8_t bus;     /**< bus number */
    uint8_t dev;     /**< device number, 0..31 */
    uint8_t fn;      /**< function number, 0..7 */
};

/** A PCI function's identity, as read from its configuration space. */
struct capdrv_pci_id {
    uint16_t vendor;        /**< vendor id */
    uint16_t device;        /**< device id */
    uint16_t subsys_vendor; /**< subsystem vendor id */
    uint16_t subsys_device; /**< subsystem id */
    uint32_t class_code;    /**< base class, subclass, prog-if (24 bits) */
    uint8_t revision;       /**< revision id */
};

/** Longest grant or window name, including the terminating NUL. */
#define CAPDRV_NAME_MAX 32

/** What a grant offers (capdrv_grant_info()). */
struct capdrv_grant_info {
    char name[CAPDRV_NAME_MAX];       /**< manifest node name */
    enum capdrv_grant_class cls;      /**< grant class */
    enum capdrv_lane lane;            /**< DMA lane selected for this grant */
    struct capdrv_pci_addr addr;      /**< the bound function */
    struct capdrv_pci_id id;          /**< its identity */
    unsigned n_windows;               /**< MMIO windows (capdrv_window_info()) */
    unsigned n_irqs;                  /**< interrupt vectors that may be opened */
    uint64_t pool_quota_bytes;        /**< DMA pool byte quota (0: no DMA) */
    unsigned pool_quota_buffers;      /**< DMA pool buffer-count quota */
    bool claimed;                     /**< already opened (by anyone) */
};

/** Window flags (capdrv_window_info::flags). */
enum capdrv_window_flags {
    CAPDRV_WINDOW_READ = 1u << 0,   /**< reads allowed */
    CAPDRV_WINDOW_WRITE = 1u << 1,  /**< writes allowed */
    CAPDRV_WINDOW_REGMAP = 1u << 2  /**< only registers of the device profile are accessible */
};

/** One MMIO window of a grant. */
struct capdrv_window_info {
    char name[CAPDRV_NAME_MAX]; /**< manifest name, e.g. "notify" */
    unsigned bar;               /**< BAR index 0..5 */
    uint64_t offset;            /**< window start inside the BAR */
    uint64_t length;            /**< window length in bytes */
    uint32_t flags;             /**< enum capdrv_window_flags */
};

/** A DMA buffer as the provider sees it. */
struct capdrv_dmabuf_info {
    void *cpu;         /**< CPU mapping, valid until the buffer is released */
    size_t size;       /**< usable size (a multiple of 4096) */
    uint64_t ref_base; /**< DMA reference of byte 0; see capdrv_dma_ref() */
};

/**
 * @brief The DMA reference of byte @p offset of a buffer.
 *
 * Write the result wherever the device expects a bus address (descriptor,
 * PRP entry, queue base register). It is a token in the brokered lane and an
 * IOVA in the direct lane; either way the kernel validates it before the
 * device sees it. Pure arithmetic: no call into the kernel.
 *
 * @param buf   info from capdrv_dma_alloc() or capdrv_dmabuf_info().
 * @param offset byte offset; must be < buf->size (not checked here; the
 *               kernel refuses references outside the buffer).
 * @return the DMA reference.
 */
CAPDRV_INLINE uint64_t capdrv_dma_ref(const struct capdrv_dmabuf_info *buf, size_t offset)
{
    return buf->ref_base + (uint64_t)offset;
}

/**
 * @brief The DMA lane selected for an open grant.
 * @param sys connection.
 * @param grant an open grant.
 * @return CAPDRV_LANE_BROKERED or CAPDRV_LANE_DIRECT; -CAPDRV_ESTALE or
 *         -CAPDRV_EBADF for a bad handle.
 */
int capdrv_grant_lane(capdrv_sys *sys, capdrv_cap_t grant);

/**
 * @brief Number of grants the manifest gives this provider.
 * @param sys connection.
 * @return count (>= 0), or a negative error.
 */
int capdrv_grant_count(capdrv_sys *sys);

/**
 * @brief Describe grant @p index.
 * @param sys connection.
 * @param index 0 .. capdrv_grant_count()-1.
 * @param out filled on success.
 * @return 0, or -CAPDRV_ENOENT for an index out of range, -CAPDRV_EINVAL
 *         for a NULL @p out.
 */
int capdrv_grant_info(capdrv_sys *sys, unsigned index, struct capdrv_grant_info *out);

/**
 * @brief Find a grant by its manifest name.
 * @param sys connection.
 * @param name NUL-terminated name.
 * @return its index (>= 0), or -CAPDRV_ENOENT.
 */
int capdrv_grant_find(capdrv_sys *sys, const char *name);

/**
 * @brief Claim grant @p index, giving a grant capability.
 *
 * A grant can be open once at a time, system-wide; it becomes available
 * again when released or when its holder is torn down.
 *
 * @param sys connection.
 * @param index grant index.
 * @param grant receives the handle.
 * @return 0; -CAPDRV_ENOENT (no such grant), -CAPDRV_EBUSY (already open),
 *         -CAPDRV_ENODEV (the function vanished), -CAPDRV_ENOMEM.
 */
int capdrv_grant_open(capdrv_sys *sys, unsigned index, capdrv_cap_t *grant);

/**
 * @brief Describe MMIO window @p window of an open grant.
 * @param sys connection.
 * @param grant open grant.
 * @param window 0 .. n_windows-1.
 * @param out filled on success.
 * @return 0; -CAPDRV_ENOENT, -CAPDRV_ESTALE, -CAPDRV_EBADF.
 */
int capdrv_window_info(capdrv_sys *sys, capdrv_cap_t grant, unsigned window,
                       struct capdrv_window_info *out);

/**
 * @brief Function reset: quiesce and reset the granted function.
 *
 * Every capability derived from @p grant (MMIO, pool, buffers, interrupts)
 * becomes stale; the device performs no DMA afterwards; pool memory is
 * scrubbed. The grant itself stays open so the provider can start again.
 *
 * @param sys connection.
 * @param grant open grant.
 * @return 0; -CAPDRV_ESTALE, -CAPDRV_EBADF, -CAPDRV_EIO (reset failed; the
 *         derived capabilities are revoked regardless).
 */
int capdrv_grant_reset(capdrv_sys *sys, capdrv_cap_t grant);

/**
 * @brief Open a DeviceMmio capability for one window.
 * @param sys connection.
 * @param grant open grant.
 * @param window window index.
 * @param mmio receives the handle.
 * @return 0; -CAPDRV_ENOENT, -CAPDRV_EBUSY (already open), -CAPDRV_ESTALE,
 *         -CAPDRV_EBADF, -CAPDRV_ENOMEM.
 */
int capdrv_mmio_open(capdrv_sys *sys, capdrv_cap_t grant, unsigned window, capdrv_cap_t *mmio);

/**
 * @brief Read a device register inside a window.
 * @param sys connection.
 * @param mmio DeviceMmio capability.
 * @param offset byte offset from the window start; naturally aligned.
 * @param width 1, 2, 4 or 8 bytes.
 * @param val receives the value.
 * @return 0; -CAPDRV_EFAULT (outside the window, or not a register of the
 *         profile), -CAPDRV_EINVAL (width or alignment), -CAPDRV_EPERM
 *         (window not readable), -CAPDRV_ESTALE, -CAPDRV_EBADF, -CAPDRV_EIO.
 */
int capdrv_mmio_read(capdrv_sys *sys, capdrv_cap_t mmio, uint64_t offset, unsigned width,
                     uint64_t *val);

/**
 * @brief Write a device register inside a window.
 *
 * A write to a register the device profile marks as a doorbell is a
 * *notify*: the kernel first validates (direct lane) or materialises
 * (brokered lane) every DMA reference the doorbell publishes, and refuses
 * the write if any lies outside the ledger. A write to a register the
 * profile marks as a DMA address register takes a DMA reference.
 *
 * @param sys connection.
 * @param mmio DeviceMmio capability.
 * @param offset byte offset from the window start; naturally aligned.
 * @param width 1, 2, 4 or 8 bytes.
 * @param val value (or DMA reference).
 * @return 0; -CAPDRV_EFAULT (outside the window, or a reference outside the
 *         ledger), -CAPDRV_EINVAL, -CAPDRV_EPERM (read-only register or
 *         window), -CAPDRV_ESTALE, -CAPDRV_EBADF, -CAPDRV_EIO.
 */
int capdrv_mmio_write(capdrv_sys *sys, capdrv_cap_t mmio, uint64_t offset, unsigned width,
                      uint64_t val);

/**
 * @brief Read the granted function's PCI configuration space.
 * @param sys connection.
 * @param grant open grant.
 * @param offset 0..4095, naturally aligned.
 * @param width 1, 2 or 4.
 * @param val receives the value.
 * @return 0; -CAPDRV_EFAULT (beyond config space), -CAPDRV_EINVAL,
 *         -CAPDRV_ESTALE, -CAPDRV_EBADF, -CAPDRV_EIO; -CAPDRV_ENOTSUP when
 *         the grant is not a PCI function (an MMIO device found in a device
 *         tree has no configuration space: capdrv_virtio_blk_open() uses
 *         this to pick the virtio-mmio transport).
 */
int capdrv_cfg_read(capdrv_sys *sys, capdrv_cap_t grant, uint32_t offset, unsigned width,
                    uint32_t *val);

/**
 * @brief Write an allowed field of the function's configuration space.
 *
 * Only the COMMAND register's Memory Space, Bus Master and INTx Disable
 * bits may be changed (PCI Local Bus 3.0 §6.2.2); BARs, capabilities and
 * MSI-X are the kernel's.
 *
 * @param sys connection.
 * @param grant open grant.
 * @param offset must be 0x04 (COMMAND).
 * @param width 2.
 * @param val new COMMAND value; other bits must equal their current value.
 * @return 0; -CAPDRV_EPERM (field or bit not writable), -CAPDRV_EINVAL,
 *         -CAPDRV_ESTALE, -CAPDRV_EBADF, -CAPDRV_EIO; -CAPDRV_ENOTSUP when
 *         the grant is not a PCI function.
 */
int capdrv_cfg_write(capdrv_sys *sys, capdrv_cap_t grant, uint32_t offset, unsigned width,
                     uint32_t val);

/**
 * @brief Open the grant's DMAPool.
 * @param sys connection.
 * @param grant open grant of class DMA_CAPABLE or NVME_CONTROLLER.
 * @param pool receives the handle.
 * @return 0; -CAPDRV_EACCES (class ANY_FUNCTION or zero quota),
 *         -CAPDRV_EBUSY (already open), -CAPDRV_ESTALE, -CAPDRV_EBADF.
 */
int capdrv_pool_open(capdrv_sys *sys, capdrv_cap_t grant, capdrv_cap_t *pool);

/**
 * @brief Allocate a zeroed, page-aligned DMA buffer from a pool.
 *
 * The buffer enters the DMA ledger and is mapped for the granted function.
 * Release it with capdrv_cap_release(); its memory is scrubbed before
 * anyone else can get it.
 *
 * @param sys connection.
 * @param pool DMAPool capability.
 * @param size bytes, rounded up to 4096; 1 .. 1 GiB.
 * @param buf receives the DMABuffer handle.
 * @param info receives the CPU pointer, size and DMA reference base.
 * @return 0; -CAPDRV_ENOSPC (quota), -CAPDRV_EINVAL (size),
 *         -CAPDRV_ENOMEM, -CAPDRV_ESTALE, -CAPDRV_EBADF, -CAPDRV_EIO.
 */
int capdrv_dma_alloc(capdrv_sys *sys, capdrv_cap_t pool, size_t size, capdrv_cap_t *buf,
                     struct capdrv_dmabuf_info *info);

/**
 * @brief Describe a live DMA buffer.
 * @param sys connection.
 * @param buf DMABuffer capability.
 * @param info filled on success.
 * @return 0; -CAPDRV_ESTALE, -CAPDRV_EBADF.
 */
int capdrv_dmabuf_info(capdrv_sys *sys, capdrv_cap_t buf, struct capdrv_dmabuf_info *info);

/**
 * @brief Open an Interrupt capability for one vector of the grant.
 * @param sys connection.
 * @param grant open grant.
 * @param vector MSI-X vector (0 .. n_irqs-1).
 * @param irq receives the handle.
 * @return 0; -CAPDRV_ENOENT, -CAPDRV_EBUSY, -CAPDRV_ESTALE, -CAPDRV_EBADF,
 *         -CAPDRV_EIO.
 */
int capdrv_irq_open(capdrv_sys *sys, capdrv_cap_t grant, unsigned vector, capdrv_cap_t *irq);

/**
 * @brief Wait until any of @p n interrupts is pending, or a timeout.
 * @param sys connection.
 * @param irqs Interrupt capabilities (at most 64).
 * @param n number of entries.
 * @param timeout_ns 0 polls; negative waits without bound.
 * @param ready receives a bit mask: bit i set when irqs[i] is pending.
 * @return number of pending interrupts (> 0); -CAPDRV_ETIMEDOUT;
 *         -CAPDRV_EINVAL (n is 0 or > 64); -CAPDRV_ESTALE / -CAPDRV_EBADF
 *         for a bad handle (nothing waited).
 */
int capdrv_irq_wait(capdrv_sys *sys, const capdrv_cap_t *irqs, unsigned n, int64_t timeout_ns,
                    uint64_t *ready);

/**
 * @brief Acknowledge a pending interrupt (clears its pending state).
 * @param sys connection.
 * @param irq Interrupt capability.
 * @return 0; -CAPDRV_ESTALE, -CAPDRV_EBADF.
 */
int capdrv_irq_ack(capdrv_sys *sys, capdrv_cap_t irq);

/**
 * @brief Mask or unmask one interrupt vector.
 * @param sys connection.
 * @param irq Interrupt capability.
 * @param masked true to mask.
 * @return 0; -CAPDRV_ESTALE, -CAPDRV_EBADF, -CAPDRV_EIO.
 */
int capdrv_irq_mask(capdrv_sys *sys, capdrv_cap_t irq, bool masked);

/**
 * @brief Release a capability and everything derived from it.
 *
 * Releasing a grant releases its windows, pool, buffers and interrupts and
 * quiesces the function; releasing a pool releases its buffers. A DMA
 * buffer with device work in flight is retired only after the function is
 * quiesced.
 *
 * @param sys connection.
 * @param cap any live handle.
 * @return 0; -CAPDRV_ESTALE, -CAPDRV_EBADF.
 */
int capdrv_cap_release(capdrv_sys *sys, capdrv_cap_t cap);

/**
 * @brief Close the connection: everything still held is torn down, exactly
 *        as on provider death.
 * @param sys connection, or NULL (no effect).
 */
void capdrv_sys_close(capdrv_sys *sys);

#ifdef __cplusplus
}
#endif
#endif /* CAPDRV_SYS_H */
