/**
 * @file capdrv/prp.h
 * @brief NVMe data-pointer builders: PRP entries and lists (NVMe Base 2.0
 *        §4.1.1) and SGL descriptors and segments (§4.1.2).
 *
 * A transfer is described as an ordered list of segments (struct
 * capdrv_dma_seg), each a DMA reference and a length; the segments may lie
 * in different DMA buffers. A builder turns that list into the 16-byte Data
 * Pointer of a submission queue entry (union capdrv_nvme_dptr) and, when
 * the transfer needs more than the SQE can hold, fills *list pages* the
 * caller provides: PRP lists, or SGL segments. The library allocates
 * nothing, makes no system call and calls no function pointer; the common
 * single-segment case has inline fast paths (capdrv_prp_build_one(),
 * capdrv_sgl_build_one()).
 *
 * Everything the builders write where the device expects an address is a
 * DMA reference taken from the caller's input (capdrv_dma_ref()): data
 * pages, and the list pages' own references for PRP2, chain entries and SGL
 * segment descriptors. The builders never learn which DMA lane is in use;
 * they only rely on a reference's low bits giving its offset inside the
 * memory page (true of brokered tokens, whose low 32 bits are the offset
 * into a page-aligned buffer, and of IOVAs).
 *
 * Errors. Every builder checks its whole input before writing anything: on
 * failure it returns a negative code, leaves the data pointer and every
 * list page untouched, and (when asked) says which rule broke and where in
 * a struct capdrv_dptr_diag. On success it writes the data pointer, the
 * used entries of the first *n* list pages (n = the return value) and
 * nothing else: entries after the last used one, and later list pages, are
 * left as they were.
 *
 * Choosing PRPs or SGLs is the caller's business: PRPs always work (and are
 * the only choice for Admin commands over PCIe, §3.3.3.1); SGLs only when the
 * controller's SGLS field says so (capdrv_sgl_cfg_init()). Set CDW0.PSDT
 * to match with capdrv_nvme_sqe_set_psdt().
 *
 * Example: the data pointer of a Read into two buffers, 4 KiB memory pages,
 * MDTS 128 KiB.
 * @code
 * #include <stdio.h>
 * #include <capdrv/sys.h>
 *
 * // a, b: the data buffers; list: one page-aligned 4 KiB page for the PRP list.
 * static int read_dptr(struct capdrv_nvme_sqe *sqe, const struct capdrv_dmabuf_info *a,
 *                      const struct capdrv_dmabuf_info *b, const struct capdrv_dmabuf_info *list)
 * {
 *     struct capdrv_prp_cfg cfg;
 *     // Identify MDTS 5 in units of CAP.MPSMIN 0 (4 KiB): 128 KiB.
 *     capdrv_prp_cfg_init(&cfg, 4096, capdrv_nvme_mdts_bytes(5, 0));
 *
 *     struct capdrv_dma_seg segs[2] = {
 *         {capdrv_dma_ref(a, 0x800), 0x1800},  // ends on a page boundary
 *         {capdrv_dma_ref(b, 0), 0x3000},      // starts on one
 *     };
 *     struct capdrv_dma_page page = {list->cpu, list->ref_base};
 *     struct capdrv_dptr_diag why;
 *     int n = capdrv_prp_build(&cfg, segs, 2, &page, 1, &sqe->dptr, &why);
 *     if (n < 0) {
 *         fprintf(stderr, "prp: %s (%s, #%u)\n", capdrv_strerror(n),
 *                 capdrv_dptr_fault_str(why.fault), why.index);
 *         return n;
 *     }
 *     capdrv_nvme_sqe_set_psdt(sqe, CAPDRV_NVME_PSDT_PRP);
 *     return n;  // list pages used (here 1): keep them until the command completes
 * }
 * @endcode
 */
#ifndef CAPDRV_PRP_H
#define CAPDRV_PRP_H

#include <stddef.h>
#include <stdint.h>

#include <capdrv/error.h>
#include <capdrv/nvme/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/** One contiguous piece of a transfer. */
struct capdrv_dma_seg {
    uint64_t ref; /**< DMA reference of the first byte (capdrv_dma_ref()) */
    uint32_t len; /**< bytes; at least 1 */
};

/**
 * Caller memory the builders may fill with PRP entries or SGL descriptors.
 * For PRPs it is one memory page (CC.MPS bytes) aligned to that size; for
 * SGLs it is capdrv_sgl_cfg::list_bytes bytes, 8-byte aligned.
 */
struct capdrv_dma_page {
    void *cpu;    /**< CPU address, 8-byte aligned */
    uint64_t ref; /**< DMA reference of the same memory */
};

/** Which rule an input broke (capdrv_dptr_diag::fault). */
enum capdrv_dptr_fault {
    CAPDRV_DPTR_OK = 0,           /**< no fault */
    CAPDRV_DPTR_BAD_ARG,          /**< NULL pointer, no segments, or config not initialised
                                       (-CAPDRV_EINVAL; index 0) */
    CAPDRV_DPTR_EMPTY_SEG,        /**< a segment of length 0 (-CAPDRV_EINVAL) */
    CAPDRV_DPTR_WRAP,             /**< ref + len passes 2^64 (-CAPDRV_EOVERFLOW) */
    CAPDRV_DPTR_START_ALIGN,      /**< PRP: the first segment does not start on a dword
                                       (§4.1.1); SGL with dword granularity: a segment does
                                       not start on a dword (§4.1.2) (-CAPDRV_EINVAL) */
    CAPDRV_DPTR_LEN_ALIGN,        /**< SGL with dword granularity: a length is not a
                                       multiple of 4 (§4.1.2) (-CAPDRV_EINVAL) */
    CAPDRV_DPTR_MID_START,        /**< PRP: a segment after the first does not start on a
                                       memory page boundary (§4.1.1) (-CAPDRV_EINVAL) */
    CAPDRV_DPTR_MID_END,          /**< PRP: a segment before the last does not end on a
                                       memory page boundary (§4.1.1) (-CAPDRV_EINVAL) */
    CAPDRV_DPTR_OVER_MDTS,        /**< total length exceeds the maximum transfer; index is
                                       the segment where the sum first exceeds it
                                       (-CAPDRV_ERANGE) */
    CAPDRV_DPTR_NO_LIST_SPACE,    /**< too few list pages; index is the number needed
                                       (saturated at UINT32_MAX) (-CAPDRV_ENOSPC) */
    CAPDRV_DPTR_BAD_LIST_PAGE     /**< a list page that would be used has a NULL or
                                       misaligned CPU address or a misaligned reference;
                                       index is that page (-CAPDRV_EINVAL) */
};

/** Why a builder refused its input. Written only when a builder fails. */
struct capdrv_dptr_diag {
    enum capdrv_dptr_fault fault; /**< the rule that broke */
    uint32_t index;               /**< segment or list-page index (see the fault) */
};

/**
 * @brief Describe a builder fault.
 * @param fault a value of enum capdrv_dptr_fault.
 * @return a static, never-NULL string; unknown values give "unknown fault".
 */
const char *capdrv_dptr_fault_str(unsigned fault);

/* ---------------------------------------------------------------------- */
/* PRP (NVMe Base 2.0 §4.1.1)                                             */
/* ---------------------------------------------------------------------- */

/** Smallest memory page size, CC.MPS = 0 (NVMe Base 2.0 §3.1.3.5). */
#define CAPDRV_NVME_PAGE_MIN 4096u
/** Largest memory page size, CC.MPS = 15: 128 MiB. */
#define CAPDRV_NVME_PAGE_MAX (128u * 1024u * 1024u)

/**
 * Per-controller PRP parameters, set by capdrv_prp_cfg_init() once and then
 * only read (builders may share one from many threads). Fields are public
 * for the inline fast path; do not fill them by hand.
 */
struct capdrv_prp_cfg {
    uint64_t page_size;    /**< memory page size (CC.MPS) in bytes */
    uint64_t page_mask;    /**< page_size - 1 */
    uint64_t max_xfer;     /**< maximum transfer in bytes; UINT64_MAX: unlimited */
    uint32_t page_shift;   /**< log2(page_size), 12..27 */
    uint32_t list_entries; /**< PRP entries per list page: page_size / 8 */
};

/**
 * @brief Maximum Data Transfer Size in bytes from Identify Controller MDTS.
 *
 * MDTS is a power of two in units of the *minimum* memory page size
 * (2^(12 + CAP.MPSMIN)), not of CC.MPS; 0 means no limit
 * (NVMe Base 2.0 §5.17.2.1).
 *
 * @param mdts Identify Controller byte 77.
 * @param cap_mpsmin CAP.MPSMIN, 0..15.
 * @return the limit in bytes, or 0 for "no limit" (also when the limit
 *         does not fit in 64 bits); pass it to capdrv_prp_cfg_init() or
 *         capdrv_sgl_cfg_init().
 */
CAPDRV_INLINE uint64_t capdrv_nvme_mdts_bytes(uint8_t mdts, unsigned cap_mpsmin)
{
    unsigned shift = 12u + (cap_mpsmin & 0xFu) + mdts;
    return (mdts == 0 || shift >= 64) ? 0 : (uint64_t)1 << shift;
}

/**
 * @brief Prepare PRP parameters for one controller.
 * @param cfg filled on success; untouched on failure.
 * @param page_size memory page size in bytes (2^(12 + CC.MPS)): a power of
 *        two from ::CAPDRV_NVME_PAGE_MIN to ::CAPDRV_NVME_PAGE_MAX.
 * @param max_xfer largest transfer in bytes (capdrv_nvme_mdts_bytes(), or
 *        a smaller limit of the caller's); 0 means unlimited.
 * @return 0; -CAPDRV_EINVAL for a NULL @p cfg or a bad @p page_size.
 */
int capdrv_prp_cfg_init(struct capdrv_prp_cfg *cfg, uint64_t page_size, uint64_t max_xfer);

/**
 * @brief Build PRP1/PRP2 and, if needed, PRP lists for a transfer.
 *
 * Rules (NVMe Base 2.0 §4.1.1): PRP1 carries the first segment's reference
 * with its in-page offset, which must be dword aligned; every later entry
 * is the start of a memory page, so each segment after the first must
 * start on a page boundary and each segment before the last must end on
 * one. If the transfer touches one memory page PRP2 is 0 (reserved); if it
 * touches two, PRP2 is the second page; otherwise PRP2 is the reference of
 * list page 0. A list page holds page_size / 8 entries; when more entries
 * remain than fit, its last entry is the reference of the next list page
 * (chaining), so list pages must each be one memory page, aligned to it.
 *
 * Checks run segment by segment in input order, and for one segment in the
 * order of enum capdrv_dptr_fault; the first failure is reported. List-page
 * checks follow, for the pages that would be used only.
 *
 * @param cfg from capdrv_prp_cfg_init().
 * @param segs the transfer, in order; @p nsegs entries.
 * @param nsegs number of segments, at least 1.
 * @param lists list pages, used in order from 0; may be NULL if
 *        @p nlists is 0.
 * @param nlists number of list pages available.
 * @param dptr receives PRP1 and PRP2 (little-endian); e.g. &sqe->dptr.
 * @param diag if not NULL, receives the fault on failure.
 * @return the number of list pages used (0 when the transfer fits in PRP1
 *         and PRP2); -CAPDRV_EINVAL (bad argument, empty segment, misaligned
 *         start, middle or end, or a bad list page); -CAPDRV_EOVERFLOW (a
 *         segment wraps the 64-bit space); -CAPDRV_ERANGE (longer than
 *         max_xfer); -CAPDRV_ENOSPC (more list pages needed than given).
 */
int capdrv_prp_build(const struct capdrv_prp_cfg *cfg, const struct capdrv_dma_seg *segs,
                     unsigned nsegs, const struct capdrv_dma_page *lists, unsigned nlists,
                     union capdrv_nvme_dptr *dptr, struct capdrv_dptr_diag *diag);

/**
 * @brief Single-segment PRP build; inline when the transfer spans at most
 *        two memory pages (no list page needed), otherwise the same as
 *        capdrv_prp_build() with one segment.
 * @param cfg from capdrv_prp_cfg_init().
 * @param ref DMA reference of the first byte (dword aligned).
 * @param len bytes, at least 1.
 * @param lists list pages for long transfers (may be NULL if @p nlists is 0).
 * @param nlists number of list pages available.
 * @param dptr receives PRP1 and PRP2.
 * @param diag if not NULL, receives the fault on failure.
 * @return as capdrv_prp_build().
 */
CAPDRV_INLINE int capdrv_prp_build_one(const struct capdrv_prp_cfg *cfg, uint64_t ref,
                                       uint32_t len, const struct capdrv_dma_page *lists,
                                       unsigned nlists, union capdrv_nvme_dptr *dptr,
                                       struct capdrv_dptr_diag *diag)
{
    if (cfg != NULL && dptr != NULL && cfg->page_shift != 0 && len != 0 && (ref & 3u) == 0 &&
        len <= cfg->max_xfer && (uint64_t)len - 1 <= UINT64_MAX - ref) {
        uint64_t off = ref & cfg->page_mask;
        if (off + len <= 2 * cfg->page_size) {
            /* §4.1.1: PRP2 is reserved for one page, the second page otherwise. */
            uint64_t prp2 = off + len > cfg->page_size ? ref - off + cfg->page_size : 0;
            dptr->prp.prp1 = capdrv_nvme_cpu_to_le64(ref);
            dptr->prp.prp2 = capdrv_nvme_cpu_to_le64(prp2);
            return 0;
        }
    }
    struct capdrv_dma_seg seg = {ref, len};
    return capdrv_prp_build(cfg, &seg, 1, lists, nlists, dptr, diag);
}

/**
 * @brief Worst-case number of PRP list pages for one transfer.
 *
 * With the alignment rules above, a transfer of @p bytes touches at most
 * ceil((bytes + page_size - 4) / page_size) memory pages whatever its
 * segments; this gives the list pages that needs. Use it to size the
 * per-command list memory (e.g. for max_xfer).
 *
 * @param cfg from capdrv_prp_cfg_init().
 * @param bytes transfer length.
 * @return list pages needed (0 for transfers that fit in PRP1/PRP2, and
 *         for a NULL @p cfg).
 */
uint64_t capdrv_prp_lists_needed(const struct capdrv_prp_cfg *cfg, uint64_t bytes);

/* ---------------------------------------------------------------------- */
/* SGL (NVMe Base 2.0 §4.1.2)                                             */
/* ---------------------------------------------------------------------- */

/** Per-controller SGL parameters from capdrv_sgl_cfg_init(); read only. */
struct capdrv_sgl_cfg {
    uint64_t max_xfer;    /**< maximum transfer in bytes; UINT64_MAX: unlimited */
    uint32_t list_bytes;  /**< bytes per list page (SGL segment capacity) */
    uint32_t list_descs;  /**< descriptors per list page: list_bytes / 16 */
    uint32_t dword_gran;  /**< 1: Data Blocks must be dword aligned and sized */
};

/**
 * @brief Prepare SGL parameters for one controller.
 * @param cfg filled on success; untouched on failure.
 * @param sgls the Identify Controller SGLS field (bytes 539:536); bits 1:0
 *        decide (enum capdrv_nvme_sgls_support), other bits are ignored.
 * @param list_bytes size of each list page the caller will provide: a
 *        multiple of 16, at least 32 (one Data Block plus the Segment
 *        descriptor that chains to the next page), e.g. 4096.
 * @param max_xfer largest transfer in bytes; 0 means unlimited.
 * @return 0; -CAPDRV_ENOTSUP (SGLS bits 1:0 are 00b or the reserved 11b);
 *         -CAPDRV_EINVAL (NULL @p cfg, bad @p list_bytes).
 */
int capdrv_sgl_cfg_init(struct capdrv_sgl_cfg *cfg, uint32_t sgls, uint32_t list_bytes,
                        uint64_t max_xfer);

/**
 * @brief Build SGL Entry 1 and, if needed, SGL segments for a transfer.
 *
 * Each input segment becomes one Data Block descriptor (sub type Address).
 * One segment: SGL1 is that Data Block. Up to list_descs segments: SGL1 is
 * a Last Segment descriptor pointing at list page 0, which holds all Data
 * Blocks. More: SGL1 is a Segment descriptor for list page 0; every list
 * page but the last holds list_descs - 1 Data Blocks and ends with a
 * Segment descriptor for the next page, or a Last Segment descriptor when
 * the next page is the final one; the final page holds only Data Blocks
 * (NVMe Base 2.0 §4.1.2: only the last descriptor of a segment may be a
 * Segment or Last Segment descriptor, and the last segment has none). A
 * Segment/Last Segment length is 16 times the next page's descriptors.
 *
 * Set CDW0.PSDT to ::CAPDRV_NVME_PSDT_SGL_MPTR_CONTIG (01b), or to 10b if
 * MPTR is also an SGL. Only for I/O commands: over PCIe, Admin commands use
 * PRPs (§3.3.3.1).
 *
 * @param cfg from capdrv_sgl_cfg_init().
 * @param segs the transfer, in order.
 * @param nsegs number of segments, at least 1.
 * @param lists list pages (list_bytes each, 8-byte aligned CPU address and
 *        reference), used in order; may be NULL if @p nlists is 0.
 * @param nlists number of list pages available.
 * @param dptr receives SGL1 (little-endian); e.g. &sqe->dptr.
 * @param diag if not NULL, receives the fault on failure.
 * @return list pages used (0 for a single segment); -CAPDRV_EINVAL (bad
 *         argument, empty segment, dword rule, bad list page);
 *         -CAPDRV_EOVERFLOW; -CAPDRV_ERANGE (over max_xfer);
 *         -CAPDRV_ENOSPC (too few list pages).
 */
int capdrv_sgl_build(const struct capdrv_sgl_cfg *cfg, const struct capdrv_dma_seg *segs,
                     unsigned nsegs, const struct capdrv_dma_page *lists, unsigned nlists,
                     union capdrv_nvme_dptr *dptr, struct capdrv_dptr_diag *diag);

/**
 * @brief Single-segment SGL build: SGL1 is one Data Block descriptor.
 * @param cfg from capdrv_sgl_cfg_init().
 * @param ref DMA reference of the first byte.
 * @param len bytes, at least 1.
 * @param dptr receives SGL1.
 * @param diag if not NULL, receives the fault on failure.
 * @return 0; -CAPDRV_EINVAL, -CAPDRV_EOVERFLOW, -CAPDRV_ERANGE as
 *         capdrv_sgl_build().
 */
CAPDRV_INLINE int capdrv_sgl_build_one(const struct capdrv_sgl_cfg *cfg, uint64_t ref,
                                       uint32_t len, union capdrv_nvme_dptr *dptr,
                                       struct capdrv_dptr_diag *diag)
{
    if (cfg != NULL && dptr != NULL && cfg->list_descs != 0 && len != 0 &&
        len <= cfg->max_xfer && (uint64_t)len - 1 <= UINT64_MAX - ref &&
        (cfg->dword_gran == 0 || ((ref | len) & 3u) == 0)) {
        dptr->sgl1.addr = capdrv_nvme_cpu_to_le64(ref);
        dptr->sgl1.length = capdrv_nvme_cpu_to_le32(len);
        dptr->sgl1.rsvd[0] = dptr->sgl1.rsvd[1] = dptr->sgl1.rsvd[2] = 0;
        dptr->sgl1.id = capdrv_nvme_sgl_id(CAPDRV_NVME_SGL_DATA_BLOCK, CAPDRV_NVME_SGL_SUB_ADDRESS);
        return 0;
    }
    struct capdrv_dma_seg seg = {ref, len};
    return capdrv_sgl_build(cfg, &seg, 1, NULL, 0, dptr, diag);
}

/**
 * @brief Number of SGL list pages a transfer of @p nsegs segments needs.
 * @param cfg from capdrv_sgl_cfg_init().
 * @param nsegs number of segments.
 * @return list pages (0 for 0 or 1 segment, and for a NULL @p cfg).
 */
uint64_t capdrv_sgl_lists_needed(const struct capdrv_sgl_cfg *cfg, uint64_t nsegs);

#ifdef __cplusplus
}
#endif
#endif /* CAPDRV_PRP_H */
