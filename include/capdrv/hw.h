/**
 * @file capdrv/hw.h
 * @brief The platform interface: what the kernel shim needs from a machine.
 *
 * The shim is portable; everything machine-specific sits behind one
 * `struct capdrv_hw_ops` table. A platform (the in-process simulator, QEMU
 * over qtest, Linux VFIO, or a real kernel's PCI layer) fills the table and
 * the shim calls nothing else. Functions are numbered 0..function_count-1 by
 * the platform; that number is only meaningful to the platform and the shim.
 *
 * Division of labour:
 * - the platform performs accesses and reports what hardware exists;
 * - the shim decides whether an access is allowed (windows, ledger, grants)
 *   and treats every value the platform reads from a device as untrusted.
 *
 * DMA memory: dma_alloc() returns memory the CPU can use and its physical
 * (device-visible without an IOMMU) address. Before a device may touch it the
 * shim calls dma_map() for that function; without an IOMMU the platform
 * returns the physical address, with one it maps the IOVA the shim chose.
 * Platforms that can check device accesses (the simulator's DMA oracle)
 * check them against exactly these mappings.
 *
 * Example (a platform skeleton; a real one fills every member):
 * @code
 * struct my_machine {
 *     unsigned n_functions;
 * };
 *
 * static unsigned my_caps(void *ctx)
 * {
 *     (void)ctx;
 *     return 0;  // no IOMMU: grants get the brokered lane
 * }
 *
 * static int my_function_count(void *ctx)
 * {
 *     return (int)((const struct my_machine *)ctx)->n_functions;
 * }
 *
 * static const struct capdrv_hw_ops my_ops = {
 *     .caps = my_caps,
 *     .function_count = my_function_count,
 *     // ... function_info, cfg_read, ..., function_reset: every member is required
 * };
 *
 * static struct capdrv_hw my_platform(struct my_machine *m)
 * {
 *     struct capdrv_hw hw = {.ops = &my_ops, .ctx = m};
 *     return hw;  // hand it to the kernel shim (capdrv/shim.h)
 * }
 * @endcode
 */
#ifndef CAPDRV_HW_H
#define CAPDRV_HW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <capdrv/error.h>
#include <capdrv/sys.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Platform capabilities reported by capdrv_hw_ops::caps (the boot probe). */
enum capdrv_hw_caps {
    CAPDRV_HW_IOMMU = 1u << 0 /**< DMA remapping: dma_map() honours the IOVA */
};

/** BAR flags (capdrv_hw_function::bar_flags). */
enum capdrv_hw_bar_flags {
    CAPDRV_HW_BAR_MEM = 1u << 0,     /**< memory BAR (I/O BARs are not granted) */
    CAPDRV_HW_BAR_64 = 1u << 1,      /**< 64-bit BAR (occupies two slots) */
    CAPDRV_HW_BAR_PREFETCH = 1u << 2 /**< prefetchable */
};

/** Number of BAR slots of a type-0 PCI header. */
#define CAPDRV_HW_NUM_BARS 6

/** Kind of a function (capdrv_hw_function::kind). */
enum capdrv_hw_fn_kind {
    CAPDRV_HW_FN_PCI = 0, /**< a PCI function (the zero value: older platforms) */
    CAPDRV_HW_FN_MMIO = 1 /**< a memory-mapped device found in a device tree (no PCI) */
};

/** Interrupt lines a platform reports for one MMIO device. */
#define CAPDRV_HW_MAX_IRQ_LINES 4

/** What a platform knows about one function: a PCI function, or an MMIO
 *  device (kind CAPDRV_HW_FN_MMIO). An MMIO device has no PCI address,
 *  identity or configuration space (cfg_read/cfg_write refuse it); its
 *  register region is reported as BAR 0 (bar_size[0] = mmio_size, flags
 *  CAPDRV_HW_BAR_MEM) so windows name it as bar 0, and its interrupt line
 *  is "vector 0" of irq_enable()/irq_wait(). */
struct capdrv_hw_function {
    struct capdrv_pci_addr addr;                /**< bus address (PCI only) */
    struct capdrv_pci_id id;                    /**< identity (PCI only) */
    uint64_t bar_size[CAPDRV_HW_NUM_BARS];      /**< 0 when not implemented */
    uint32_t bar_flags[CAPDRV_HW_NUM_BARS];     /**< enum capdrv_hw_bar_flags */
    uint32_t kind;                              /**< enum capdrv_hw_fn_kind */
    uint32_t n_irq_lines;                       /**< MMIO: entries of irq_line[] in use */
    uint64_t mmio_base;                         /**< MMIO: physical base of the region */
    uint64_t mmio_size;                         /**< MMIO: region length (= bar_size[0]) */
    uint32_t irq_line[CAPDRV_HW_MAX_IRQ_LINES]; /**< MMIO: platform interrupt numbers
                                                     (e.g. GIC SPI); line 0 is vector 0 */
};

/** A DMA-able memory region from dma_alloc(). */
struct capdrv_hw_dma {
    void *cpu;         /**< CPU mapping */
    uint64_t phys;     /**< device-visible address when no IOMMU translates */
    size_t size;       /**< bytes, a multiple of 4096 */
    uintptr_t cookie;  /**< platform's own bookkeeping */
};

/** One interrupt source to wait on (capdrv_hw_ops::irq_wait). */
struct capdrv_hw_irq {
    unsigned fn;     /**< platform function number */
    unsigned vector; /**< MSI-X vector; 0 for an MMIO device's interrupt line */
};

/** The platform operations. Every member is required. */
struct capdrv_hw_ops {
    /** Boot probe: enum capdrv_hw_caps bits. */
    unsigned (*caps)(void *ctx);
    /** Number of functions (>= 0) or a negative error. */
    int (*function_count)(void *ctx);
    /** Describe function @p fn; -CAPDRV_ENOENT past the end. */
    int (*function_info)(void *ctx, unsigned fn, struct capdrv_hw_function *out);
    /** Config read; width 1, 2, 4; offset < 4096 and aligned. An MMIO
     *  function has no configuration space: -CAPDRV_ENOTSUP. */
    int (*cfg_read)(void *ctx, unsigned fn, uint32_t offset, unsigned width, uint32_t *val);
    /** Config write; same rules as cfg_read. */
    int (*cfg_write)(void *ctx, unsigned fn, uint32_t offset, unsigned width, uint32_t val);
    /** BAR read; width 1, 2, 4, 8; the shim has bounds-checked the access. */
    int (*bar_read)(void *ctx, unsigned fn, unsigned bar, uint64_t offset, unsigned width,
                    uint64_t *val);
    /** BAR write; same rules as bar_read. */
    int (*bar_write)(void *ctx, unsigned fn, unsigned bar, uint64_t offset, unsigned width,
                     uint64_t val);
    /** Allocate @p size bytes (multiple of 4096) of DMA-able memory. */
    int (*dma_alloc)(void *ctx, size_t size, struct capdrv_hw_dma *out);
    /** Free memory from dma_alloc(); it is unmapped from every function first. */
    void (*dma_free)(void *ctx, struct capdrv_hw_dma *mem);
    /** Let function @p fn reach @p mem; returns the device address in @p devaddr
     *  (the IOVA @p iova with an IOMMU, else mem->phys). */
    int (*dma_map)(void *ctx, unsigned fn, const struct capdrv_hw_dma *mem, uint64_t iova,
                   uint64_t *devaddr);
    /** Undo dma_map(); after it returns the function can no longer reach @p mem. */
    int (*dma_unmap)(void *ctx, unsigned fn, const struct capdrv_hw_dma *mem, uint64_t devaddr);
    /** Route MSI-X @p vector of @p fn to a host-side source and enable it
     *  (an MMIO function: vector 0 is its interrupt line 0; irq_wait()
     *  reports it when the device raised it, and a level-triggered line
     *  again while it stays asserted; the platform documents which). */
    int (*irq_enable)(void *ctx, unsigned fn, unsigned vector);
    /** Disable a vector; pending state is dropped. */
    int (*irq_disable)(void *ctx, unsigned fn, unsigned vector);
    /** Mask or unmask a vector (a masked vector latches, it does not fire). */
    int (*irq_mask)(void *ctx, unsigned fn, unsigned vector, bool masked);
    /** Wait until any source in @p set fired, or @p timeout_ns (0 polls,
     *  negative waits without bound). Fired sources are consumed and set in
     *  @p ready. Returns the number fired (> 0) or -CAPDRV_ETIMEDOUT. */
    int (*irq_wait)(void *ctx, const struct capdrv_hw_irq *set, unsigned n, int64_t timeout_ns,
                    uint64_t *ready);
    /** Function-level reset: afterwards the function performs no DMA and has
     *  its power-on register state (PCIe Base 4.0 §6.6.2), including MSI-X
     *  disabled: every vector must be enabled again with irq_enable(). DMA
     *  mappings are not touched. An MMIO function gets the device's own
     *  reset (virtio-mmio: Status 0, VIRTIO 1.2 §4.2.2.1) and its line is
     *  disabled. */
    int (*function_reset)(void *ctx, unsigned fn);
    /** Optional (NULL when absent): a new descriptor (the caller closes it)
     *  of a file whose bytes [0, mem->size) are the region's memory (the
     *  file may go on past them with pages of the region's own, e.g. its
     *  guard page; never with anything else), for a manager that shares DMA memory with provider processes
     *  (SCM_RIGHTS + mmap). Only a platform that gives each region a file
     *  of its own can offer it, and it must never reuse that file for
     *  another region: a provider may keep its mapping after the region is
     *  freed. Without it the manager puts a memfd under ordinary process
     *  memory itself (manager/hwmem.c). Returns 0, -CAPDRV_EINVAL for a
     *  region that is not live, -CAPDRV_ENOTSUP when this instance's
     *  regions have no file of their own (the manager then refuses the
     *  allocation rather than share other memory), or -CAPDRV_ENOMEM. */
    int (*dma_fd)(void *ctx, const struct capdrv_hw_dma *mem, int *fd);
};

/** A platform instance: operations plus their context. */
struct capdrv_hw {
    const struct capdrv_hw_ops *ops; /**< operations */
    void *ctx;                       /**< passed to every operation */
};

#ifdef __cplusplus
}
#endif
#endif /* CAPDRV_HW_H */
