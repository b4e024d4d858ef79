/**
 * @file capdrv/vfio.h
 * @brief The "vfio" platform: real PCI functions of a Linux machine, reached
 *        through VFIO (type1 IOMMU), implementing include/capdrv/hw.h.
 *
 * capdrv_vfio_create() finds the functions the caller selects with libpci
 * filters (the syntax of `lspci -s` and `lspci -d`), checks that each is
 * bound to the vfio-pci driver and that its IOMMU group is viable, and opens
 * it. The platform then serves every capdrv_hw_ops call:
 *
 * - **Containers**: one type1 container (VFIO_TYPE1v2_IOMMU) per IOMMU
 *   group, so every group has its own I/O address space: a mapping made for
 *   one function is not reachable by a function of another group. Two
 *   selected functions in one group would share an address space the IOMMU
 *   cannot split; capdrv_vfio_create() refuses that (-CAPDRV_EBUSY).
 * - **Config space**: the VFIO config region, read and written with
 *   pread/pwrite (the kernel filters and virtualises parts of it). Writes to
 *   BAR and expansion-ROM registers are refused (-CAPDRV_EPERM) as on the
 *   other platforms. COMMAND.MEM is set at create; Bus Master is the
 *   driver's choice.
 * - **BARs**: memory BARs are mmap()ed when VFIO allows it, else accessed
 *   with pread/pwrite on the region. I/O BARs are reported without
 *   CAPDRV_HW_BAR_MEM and never accessed.
 * - **DMA memory**: anonymous private memory, page aligned, filled with junk
 *   (0xa5) like fresh memory on a real machine. caps() reports
 *   CAPDRV_HW_IOMMU: dma_map() maps the region at the IOVA the shim chose
 *   (VFIO_IOMMU_MAP_DMA into the function's container) and dma_unmap()
 *   unmaps it. The kernel pins mapped pages and counts them against
 *   RLIMIT_MEMLOCK; a map beyond that limit fails with -CAPDRV_ENOMEM.
 *   capdrv_hw_dma::phys is 0: no device reaches this memory without a
 *   mapping.
 * - **MSI-X**: each vector is delivered to its own eventfd
 *   (VFIO_DEVICE_SET_IRQS); irq_wait() waits on them with io_uring poll
 *   requests. VFIO cannot mask MSI-X vectors of a PCI function, so
 *   irq_mask() is done here: a masked vector's events stay counted in its
 *   eventfd and irq_wait() reports them after unmask. Vectors 0..63 only.
 * - **function_reset**: VFIO_DEVICE_RESET (FLR or another reset the kernel
 *   picks), with MSI-X torn down first and COMMAND.MASTER cleared after,
 *   because the kernel restores the saved config state around the reset.
 *   A function the kernel cannot reset: -CAPDRV_ENOTSUP.
 *
 * Errors at create carry a reason in @p why, including the exact commands
 * to bind a function to vfio-pci when it is bound elsewhere.
 * Operations are serialised by an internal lock; irq_wait() runs without it.
 *
 * Example (one NVMe controller, error handling shortened):
 * @code
 * #include <stdio.h>
 *
 * static int open_nvme(struct capdrv_vfio **out)
 * {
 *     const struct capdrv_vfio_select sel[] = {{.slot = "0000:00:03.0"}};
 *     struct capdrv_vfio_config cfg = {.select = sel, .n_select = 1};
 *     char why[512];
 *     int rc = capdrv_vfio_create(&cfg, out, why, sizeof why);
 *     if (rc < 0)
 *         fprintf(stderr, "vfio: %s\n", why);
 *     // capdrv_vfio_hw(*out) is the struct capdrv_hw for the shim.
 *     return rc;
 * }
 * @endcode
 */
#ifndef CAPDRV_VFIO_H
#define CAPDRV_VFIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <capdrv/error.h>
#include <capdrv/hw.h>
#include <capdrv/sys.h>

#ifdef __cplusplus
extern "C" {
#endif

/** An open set of VFIO functions (opaque). */
struct capdrv_vfio;

/** Most functions one instance opens. */
#define CAPDRV_VFIO_MAX_FUNCTIONS 32u
/** MSI-X vectors per function the platform serves (0..63). */
#define CAPDRV_VFIO_MAX_VECTORS 64u

/**
 * One selection of functions. Both members are optional and combine with
 * AND; an entry with neither selects nothing and is refused.
 */
struct capdrv_vfio_select {
    /** `lspci -s` syntax: `[[[[<domain>]:]<bus>]:][<device>][.[<func>]]`,
     *  e.g. "0000:00:03.0" or "03.0"; NULL = any address. */
    const char *slot;
    /** `lspci -d` syntax: `[<vendor>]:[<device>][:<class>[:<prog-if>]]`,
     *  e.g. "1b36:0010" or "::0108" (every NVMe controller); NULL = any. */
    const char *id;
};

/** Instance configuration (capdrv_vfio_create()). Zero-initialise it. */
struct capdrv_vfio_config {
    const struct capdrv_vfio_select *select; /**< selections; each must match >= 1 function */
    size_t n_select;                         /**< entries in @ref select, >= 1 */
    const char *sysfs_root;                  /**< NULL = "/sys" (tests point it elsewhere) */
    const char *vfio_dir;                    /**< NULL = "/dev/vfio" */
};

/**
 * @brief Parse one selection the way lspci parses `-s` and `-d`.
 *
 * For command lines: "vfio:0000:00:03.0" style strings are split by the
 * caller; this checks that @p sel's members are valid filters (libpci's
 * pci_filter_parse_slot() and pci_filter_parse_id()).
 * @param sel the selection.
 * @param why receives libpci's complaint on failure; may be NULL.
 * @param why_len bytes of @p why.
 * @return 0, or -CAPDRV_EINVAL for a malformed filter, an entry with
 *         neither member, or NULL @p sel.
 */
int capdrv_vfio_check_select(const struct capdrv_vfio_select *sel, char *why, size_t why_len);

/**
 * @brief Find, check and open the selected functions.
 *
 * Functions are numbered 0..n-1 in bus-address order. Needs read access to
 * sysfs and read/write access to /dev/vfio/vfio and each group's
 * /dev/vfio/N (N: the IOMMU group) (docs/VFIO.md: permissions for a non-root user).
 * @param cfg configuration (not NULL; at least one selection).
 * @param out receives the instance.
 * @param why receives the reason on failure; may be NULL.
 * @param why_len bytes of @p why.
 * @return 0; -CAPDRV_EINVAL for a bad configuration or filter;
 *         -CAPDRV_ENODEV when a selection matches no function or sysfs
 *         cannot be read; -CAPDRV_EBUSY when a function is not bound to
 *         vfio-pci (@p why says how to bind it) or two functions share an
 *         IOMMU group; -CAPDRV_ENOTSUP when there is no IOMMU group, no
 *         VFIO (no /dev/vfio/vfio) or no type1v2 IOMMU; -CAPDRV_EACCES when
 *         a VFIO node may not be opened; -CAPDRV_EPERM when a group is not
 *         viable (another function of it is bound to a host driver);
 *         -CAPDRV_EIO for other VFIO failures; -CAPDRV_ENOSPC past
 *         CAPDRV_VFIO_MAX_FUNCTIONS; -CAPDRV_ENOMEM.
 */
int capdrv_vfio_create(const struct capdrv_vfio_config *cfg, struct capdrv_vfio **out, char *why,
                       size_t why_len);

/**
 * @brief Close everything: MSI-X is disabled, every DMA mapping unmapped
 *        and every region freed, the devices and groups closed.
 * @param v the instance, or NULL (nothing happens).
 */
void capdrv_vfio_destroy(struct capdrv_vfio *v);

/**
 * @brief The platform interface of an instance, to hand to the kernel shim.
 * @param v the instance.
 * @return the operations (every member implemented) and @p v as context;
 *         both members are NULL when @p v is NULL.
 */
struct capdrv_hw capdrv_vfio_hw(struct capdrv_vfio *v);

/**
 * @brief Find the platform function number of a bus address.
 * @param v the instance.
 * @param addr bus address.
 * @param fn receives the function number.
 * @return 0, -CAPDRV_ENOENT if the address was not opened,
 *         -CAPDRV_EINVAL for NULL arguments.
 */
int capdrv_vfio_find(const struct capdrv_vfio *v, const struct capdrv_pci_addr *addr,
                     unsigned *fn);

/**
 * @brief A one-line description of function @p fn for listings:
 *        address, ids, name from pci.ids (hex ids when the database is
 *        missing) and IOMMU group, e.g.
 *        "0000:00:03.0 [1b36:0010] Red Hat, Inc. QEMU NVM Express Controller (group 3)".
 * @param v the instance.
 * @param fn platform function number.
 * @param buf receives the NUL-terminated text (truncated to fit).
 * @param len bytes of @p buf (> 0).
 * @return 0, -CAPDRV_ENOENT for an unknown function, -CAPDRV_EINVAL for
 *         NULL arguments or @p len 0.
 */
int capdrv_vfio_describe(struct capdrv_vfio *v, unsigned fn, char *buf, size_t len);

/**
 * @brief How many times function_reset() reset function @p fn.
 * @param v the instance.
 * @param fn platform function number.
 * @return the count (0 for an unknown function or NULL @p v).
 */
unsigned capdrv_vfio_reset_count(struct capdrv_vfio *v, unsigned fn);

/** DMA bookkeeping of the platform (capdrv_vfio_dma_stats()). */
struct capdrv_vfio_dma_stats {
    size_t regions;  /**< live dma_alloc() regions */
    size_t bytes;    /**< their total size */
    size_t mappings; /**< live IOMMU mappings, all functions */
};

/**
 * @brief DMA bookkeeping, e.g. to check that a shim freed everything.
 * @param v the instance.
 * @param out receives the counts.
 * @return 0 or -CAPDRV_EINVAL for NULL arguments.
 */
int capdrv_vfio_dma_stats(struct capdrv_vfio *v, struct capdrv_vfio_dma_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* CAPDRV_VFIO_H */
