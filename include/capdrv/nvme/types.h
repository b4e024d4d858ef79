/**
 * @file capdrv/nvme/types.h
 * @brief NVMe wire formats: the 64-byte submission queue entry with its data
 *        pointer, the 16-byte SGL descriptor and the 16-byte completion
 *        queue entry (NVM Express Base Specification 2.0).
 *
 * These structures are the bytes a controller reads and writes. They hold
 * fixed-width integers only (no enum, bool or pointer), every multi-byte
 * field is little-endian on the wire, and their sizes and field offsets are
 * checked at compile time. The layouts are host-order views of the
 * little-endian bytes: on a big-endian host convert with
 * capdrv_nvme_cpu_to_le64() / capdrv_nvme_le64_to_cpu() and friends (the
 * library's builders already do).
 *
 * Fields that hold addresses (MPTR, PRP1/PRP2, SGL descriptor addresses)
 * receive *DMA references* (capdrv_dma_ref() in capdrv/sys.h), never raw
 * bus addresses: a token in the brokered lane, an IOVA in the direct lane.
 *
 * Example: a 4 KiB Read (NVM Command Set 1.0 §3.3.4) with a PRP data
 * pointer; see capdrv/prp.h for transfers that need PRP lists or SGLs.
 * @code
 * struct capdrv_nvme_sqe sqe = {0};
 * sqe.opc = 0x02;                                   // Read
 * sqe.cid = capdrv_nvme_cpu_to_le16(cid);
 * sqe.nsid = capdrv_nvme_cpu_to_le32(1);
 * capdrv_nvme_sqe_set_psdt(&sqe, CAPDRV_NVME_PSDT_PRP);
 * sqe.dptr.prp.prp1 = capdrv_nvme_cpu_to_le64(capdrv_dma_ref(&bi, 0));
 * sqe.dptr.prp.prp2 = 0;                            // one page: reserved
 * sqe.cdw10 = capdrv_nvme_cpu_to_le32((uint32_t)slba);
 * sqe.cdw11 = capdrv_nvme_cpu_to_le32((uint32_t)(slba >> 32));
 * sqe.cdw12 = capdrv_nvme_cpu_to_le32(nlb - 1);     // 0's based
 * @endcode
 */
#ifndef CAPDRV_NVME_TYPES_H
#define CAPDRV_NVME_TYPES_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Marks the library's inline fast-path helpers (same as capdrv/sys.h). */
#ifndef CAPDRV_INLINE
#define CAPDRV_INLINE static inline
#endif

/** Compile-time check usable from C11 and C++11 headers alike. */
#ifdef __cplusplus
#define CAPDRV_NVME_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define CAPDRV_NVME_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif

/* ---------------------------------------------------------------------- */
/* Byte order (NVMe Base 2.0 §1.5 Conventions: fields are little-endian)  */
/* ---------------------------------------------------------------------- */

#if defined(__BYTE_ORDER__) && defined(__ORDER_BIG_ENDIAN__) && \
    __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
/** 1 when the host is big-endian and wire fields need swapping. */
#define CAPDRV_NVME_HOST_BIG_ENDIAN 1
#else
/** 0: the host is little-endian; conversions are the identity. */
#define CAPDRV_NVME_HOST_BIG_ENDIAN 0
#endif

/**
 * @brief Convert a host value to a little-endian 64-bit wire field.
 * @param v host-order value.
 * @return @p v in little-endian byte order (identity on little-endian hosts).
 */
CAPDRV_INLINE uint64_t capdrv_nvme_cpu_to_le64(uint64_t v)
{
#if CAPDRV_NVME_HOST_BIG_ENDIAN
    return __builtin_bswap64(v);
#else
    return v;
#endif
}

/**
 * @brief Convert a little-endian 64-bit wire field to host order.
 * @param v wire value.
 * @return host-order value.
 */
CAPDRV_INLINE uint64_t capdrv_nvme_le64_to_cpu(uint64_t v)
{
    return capdrv_nvme_cpu_to_le64(v);
}

/**
 * @brief Convert a host value to a little-endian 32-bit wire field.
 * @param v host-order value.
 * @return @p v in little-endian byte order.
 */
CAPDRV_INLINE uint32_t capdrv_nvme_cpu_to_le32(uint32_t v)
{
#if CAPDRV_NVME_HOST_BIG_ENDIAN
    return __builtin_bswap32(v);
#else
    return v;
#endif
}

/**
 * @brief Convert a little-endian 32-bit wire field to host order.
 * @param v wire value.
 * @return host-order value.
 */
CAPDRV_INLINE uint32_t capdrv_nvme_le32_to_cpu(uint32_t v)
{
    return capdrv_nvme_cpu_to_le32(v);
}

/**
 * @brief Convert a host value to a little-endian 16-bit wire field.
 * @param v host-order value.
 * @return @p v in little-endian byte order.
 */
CAPDRV_INLINE uint16_t capdrv_nvme_cpu_to_le16(uint16_t v)
{
#if CAPDRV_NVME_HOST_BIG_ENDIAN
    return __builtin_bswap16(v);
#else
    return v;
#endif
}

/**
 * @brief Convert a little-endian 16-bit wire field to host order.
 * @param v wire value.
 * @return host-order value.
 */
CAPDRV_INLINE uint16_t capdrv_nvme_le16_to_cpu(uint16_t v)
{
    return capdrv_nvme_cpu_to_le16(v);
}

/* ---------------------------------------------------------------------- */
/* SGL descriptor (NVMe Base 2.0 §4.1.2)                                  */
/* ---------------------------------------------------------------------- */

/**
 * SGL Descriptor Type, bits 7:4 of the SGL Identifier (byte 15)
 * (NVMe Base 2.0 §4.1.2, "SGL Descriptor Type" figure).
 */
enum capdrv_nvme_sgl_type {
    CAPDRV_NVME_SGL_DATA_BLOCK = 0x0,           /**< data to transfer */
    CAPDRV_NVME_SGL_BIT_BUCKET = 0x1,           /**< data to discard (reads) */
    CAPDRV_NVME_SGL_SEGMENT = 0x2,              /**< next segment, not the last */
    CAPDRV_NVME_SGL_LAST_SEGMENT = 0x3,         /**< next segment, the last one */
    CAPDRV_NVME_SGL_KEYED_DATA_BLOCK = 0x4,     /**< fabrics (RDMA) only */
    CAPDRV_NVME_SGL_TRANSPORT_DATA_BLOCK = 0x5, /**< fabrics transport specific */
    CAPDRV_NVME_SGL_VENDOR = 0xF                /**< vendor specific */
};

/**
 * SGL Descriptor Sub Type, bits 3:0 of the SGL Identifier
 * (NVMe Base 2.0 §4.1.2). NVMe over PCIe uses ::CAPDRV_NVME_SGL_SUB_ADDRESS.
 */
enum capdrv_nvme_sgl_subtype {
    CAPDRV_NVME_SGL_SUB_ADDRESS = 0x0,  /**< Address field is a memory address */
    CAPDRV_NVME_SGL_SUB_OFFSET = 0x1,   /**< Address field is an offset (fabrics) */
    CAPDRV_NVME_SGL_SUB_TRANSPORT = 0xA /**< transport specific (fabrics) */
};

/**
 * @brief SGL Identifier byte from a descriptor type and sub type.
 * @param type a value of enum capdrv_nvme_sgl_type (4 bits).
 * @param subtype a value of enum capdrv_nvme_sgl_subtype (4 bits).
 * @return the byte to store in capdrv_nvme_sgl_desc::id.
 */
CAPDRV_INLINE uint8_t capdrv_nvme_sgl_id(unsigned type, unsigned subtype)
{
    return (uint8_t)(((type & 0xFu) << 4) | (subtype & 0xFu));
}

/**
 * One SGL descriptor, 16 bytes (NVMe Base 2.0 §4.1.2, "Generic SGL
 * Descriptor Format" and the Data Block / Segment / Last Segment figures).
 *
 * For Data Block, Segment and Last Segment descriptors with the Address sub
 * type, @c addr is the start of the data (or of the next segment) and
 * @c length its size in bytes; for a Segment or Last Segment descriptor the
 * length is 16 times the number of descriptors in the next segment.
 */
struct capdrv_nvme_sgl_desc {
    uint64_t addr;   /**< bytes 7:0  Address (a DMA reference) */
    uint32_t length; /**< bytes 11:8 Length in bytes */
    uint8_t rsvd[3]; /**< bytes 14:12 reserved (0) */
    uint8_t id;      /**< byte 15 SGL Identifier: type 7:4, sub type 3:0 */
};

CAPDRV_NVME_STATIC_ASSERT(sizeof(struct capdrv_nvme_sgl_desc) == 16,
                          "NVMe Base 2.0 §4.1.2: SGL descriptor is 16 bytes");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_sgl_desc, addr) == 0,
                          "NVMe Base 2.0 §4.1.2: Address at bytes 7:0");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_sgl_desc, length) == 8,
                          "NVMe Base 2.0 §4.1.2: Length at bytes 11:8");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_sgl_desc, id) == 15,
                          "NVMe Base 2.0 §4.1.2: SGL Identifier at byte 15");

/* ---------------------------------------------------------------------- */
/* Submission queue entry (NVMe Base 2.0 §4.2, Common Command Format)     */
/* ---------------------------------------------------------------------- */

/** PRP Entry 1 and 2 of the data pointer (NVMe Base 2.0 §4.1.1, §4.2). */
struct capdrv_nvme_prp_pair {
    uint64_t prp1; /**< bytes 31:24 of the SQE: PRP Entry 1 */
    uint64_t prp2; /**< bytes 39:32 of the SQE: PRP Entry 2 (data or list pointer) */
};

/**
 * Data Pointer (DPTR), SQE bytes 39:24 (NVMe Base 2.0 §4.2, Common Command
 * Format): PRP Entry 1 and 2 when CDW0.PSDT is 00b, otherwise SGL Entry 1.
 */
union capdrv_nvme_dptr {
    struct capdrv_nvme_prp_pair prp;  /**< PSDT 00b */
    struct capdrv_nvme_sgl_desc sgl1; /**< PSDT 01b or 10b */
};

CAPDRV_NVME_STATIC_ASSERT(sizeof(union capdrv_nvme_dptr) == 16,
                          "NVMe Base 2.0 §4.2: DPTR is 16 bytes");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_prp_pair, prp2) == 8,
                          "NVMe Base 2.0 §4.2: PRP2 follows PRP1");

/**
 * PRP or SGL for Data Transfer, CDW0 bits 15:14 (NVMe Base 2.0 §4.2). For
 * NVMe over PCIe, Admin commands shall use PRPs (00b).
 */
enum capdrv_nvme_psdt {
    CAPDRV_NVME_PSDT_PRP = 0,            /**< 00b: PRPs are used */
    CAPDRV_NVME_PSDT_SGL_MPTR_CONTIG = 1, /**< 01b: SGLs; MPTR is a contiguous buffer */
    CAPDRV_NVME_PSDT_SGL_MPTR_SGL = 2     /**< 10b: SGLs; MPTR points at one SGL descriptor */
};

/** capdrv_nvme_sqe::flags: Fused Operation, CDW0 bits 9:8. */
#define CAPDRV_NVME_SQE_FUSE_MASK 0x03u
/** capdrv_nvme_sqe::flags: shift of PSDT (CDW0 bits 15:14). */
#define CAPDRV_NVME_SQE_PSDT_SHIFT 6
/** capdrv_nvme_sqe::flags: mask of PSDT (CDW0 bits 15:14). */
#define CAPDRV_NVME_SQE_PSDT_MASK 0xC0u

/**
 * Submission Queue Entry, 64 bytes (NVMe Base 2.0 §4.2, "Common Command
 * Format"). Command Dword 0 is split into its byte-sized parts: Opcode
 * (bits 7:0), FUSE and PSDT (bits 15:8, see CAPDRV_NVME_SQE_*), and the
 * Command Identifier (bits 31:16).
 */
struct capdrv_nvme_sqe {
    uint8_t opc;                 /**< byte 0: Opcode */
    uint8_t flags;               /**< byte 1: FUSE (1:0), reserved (5:2), PSDT (7:6) */
    uint16_t cid;                /**< bytes 3:2: Command Identifier */
    uint32_t nsid;               /**< bytes 7:4: Namespace Identifier */
    uint32_t cdw2;               /**< bytes 11:8: command specific */
    uint32_t cdw3;               /**< bytes 15:12: command specific */
    uint64_t mptr;               /**< bytes 23:16: Metadata Pointer */
    union capdrv_nvme_dptr dptr; /**< bytes 39:24: Data Pointer */
    uint32_t cdw10;              /**< bytes 43:40: command specific */
    uint32_t cdw11;              /**< bytes 47:44 */
    uint32_t cdw12;              /**< bytes 51:48 */
    uint32_t cdw13;              /**< bytes 55:52 */
    uint32_t cdw14;              /**< bytes 59:56 */
    uint32_t cdw15;              /**< bytes 63:60 */
};

/** Bytes per submission queue entry (CC.IOSQES = 6). */
#define CAPDRV_NVME_SQE_SIZE 64u
/** Bytes per completion queue entry (CC.IOCQES = 4). */
#define CAPDRV_NVME_CQE_SIZE 16u

CAPDRV_NVME_STATIC_ASSERT(sizeof(struct capdrv_nvme_sqe) == CAPDRV_NVME_SQE_SIZE,
                          "NVMe Base 2.0 §4.2: SQE is 64 bytes");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_sqe, flags) == 1,
                          "NVMe Base 2.0 §4.2: FUSE/PSDT in CDW0 byte 1");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_sqe, cid) == 2,
                          "NVMe Base 2.0 §4.2: CID at CDW0 bits 31:16");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_sqe, nsid) == 4,
                          "NVMe Base 2.0 §4.2: NSID at bytes 7:4");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_sqe, mptr) == 16,
                          "NVMe Base 2.0 §4.2: MPTR at bytes 23:16");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_sqe, dptr) == 24,
                          "NVMe Base 2.0 §4.2: DPTR at bytes 39:24");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_sqe, cdw10) == 40,
                          "NVMe Base 2.0 §4.2: CDW10 at bytes 43:40");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_sqe, cdw15) == 60,
                          "NVMe Base 2.0 §4.2: CDW15 at bytes 63:60");

/**
 * @brief Set the PSDT field (CDW0 bits 15:14) of a submission queue entry.
 *
 * Use ::CAPDRV_NVME_PSDT_PRP after capdrv_prp_build() and
 * ::CAPDRV_NVME_PSDT_SGL_MPTR_CONTIG after capdrv_sgl_build() (capdrv/prp.h).
 *
 * @param sqe the entry; other bits of its flags byte are kept.
 * @param psdt a value of enum capdrv_nvme_psdt (2 bits).
 */
CAPDRV_INLINE void capdrv_nvme_sqe_set_psdt(struct capdrv_nvme_sqe *sqe, unsigned psdt)
{
    sqe->flags = (uint8_t)((sqe->flags & ~CAPDRV_NVME_SQE_PSDT_MASK) |
                           ((psdt << CAPDRV_NVME_SQE_PSDT_SHIFT) & CAPDRV_NVME_SQE_PSDT_MASK));
}

/**
 * @brief The PSDT field (CDW0 bits 15:14) of a submission queue entry.
 * @param sqe the entry.
 * @return 0..3 (3 is reserved).
 */
CAPDRV_INLINE unsigned capdrv_nvme_sqe_psdt(const struct capdrv_nvme_sqe *sqe)
{
    return ((unsigned)sqe->flags & CAPDRV_NVME_SQE_PSDT_MASK) >> CAPDRV_NVME_SQE_PSDT_SHIFT;
}

/* ---------------------------------------------------------------------- */
/* Completion queue entry (NVMe Base 2.0 §4.6)                            */
/* ---------------------------------------------------------------------- */

/**
 * Completion Queue Entry, 16 bytes (NVMe Base 2.0 §4.6, "Completion Queue
 * Entry Layout"). The device writes it: read it once into a local copy,
 * then validate (the phase tag first, then the CID, SQ identifier and head).
 */
struct capdrv_nvme_cqe {
    uint32_t cdw0;   /**< DW0: command specific */
    uint32_t cdw1;   /**< DW1: command specific */
    uint16_t sqhd;   /**< DW2 15:0: SQ Head Pointer */
    uint16_t sqid;   /**< DW2 31:16: SQ Identifier */
    uint16_t cid;    /**< DW3 15:0: Command Identifier */
    uint16_t status; /**< DW3 31:16: Phase Tag (bit 0) and Status Field (15:1) */
};

CAPDRV_NVME_STATIC_ASSERT(sizeof(struct capdrv_nvme_cqe) == CAPDRV_NVME_CQE_SIZE,
                          "NVMe Base 2.0 §4.6: CQE is 16 bytes");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_cqe, sqhd) == 8,
                          "NVMe Base 2.0 §4.6: SQHD at DW2 15:0");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_cqe, sqid) == 10,
                          "NVMe Base 2.0 §4.6: SQID at DW2 31:16");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_cqe, cid) == 12,
                          "NVMe Base 2.0 §4.6: CID at DW3 15:0");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_cqe, status) == 14,
                          "NVMe Base 2.0 §4.6: Phase/Status at DW3 31:16");

/* Bits of capdrv_nvme_cqe::status (host order), NVMe Base 2.0 §4.6.1. */
#define CAPDRV_NVME_CQE_P 0x0001u          /**< Phase Tag (DW3 bit 16) */
#define CAPDRV_NVME_CQE_SC_SHIFT 1         /**< Status Code, 8 bits */
#define CAPDRV_NVME_CQE_SC_MASK 0x01FEu    /**< Status Code mask */
#define CAPDRV_NVME_CQE_SCT_SHIFT 9        /**< Status Code Type, 3 bits */
#define CAPDRV_NVME_CQE_SCT_MASK 0x0E00u   /**< Status Code Type mask */
#define CAPDRV_NVME_CQE_CRD_SHIFT 12       /**< Command Retry Delay, 2 bits */
#define CAPDRV_NVME_CQE_CRD_MASK 0x3000u   /**< Command Retry Delay mask */
#define CAPDRV_NVME_CQE_M 0x4000u          /**< More (Error Information log) */
#define CAPDRV_NVME_CQE_DNR 0x8000u        /**< Do Not Retry */

/* ---------------------------------------------------------------------- */
/* Identify Controller fields the data-pointer builders consume            */
/* ---------------------------------------------------------------------- */

/**
 * SGL Support (SGLS), Identify Controller bytes 539:536, bits 1:0
 * (NVMe Base 2.0 §5.17.2.1): whether the controller takes SGLs for NVM
 * command set I/O and with which Data Block alignment.
 */
enum capdrv_nvme_sgls_support {
    CAPDRV_NVME_SGLS_NONE = 0x0,         /**< 00b: SGLs not supported */
    CAPDRV_NVME_SGLS_BYTE = 0x1,         /**< 01b: supported, no alignment requirement */
    CAPDRV_NVME_SGLS_DWORD = 0x2,        /**< 10b: supported, Data Blocks dword aligned and sized */
    CAPDRV_NVME_SGLS_SUPPORT_MASK = 0x3  /**< mask of the field */
};

#ifdef __cplusplus
}
#endif
#endif /* CAPDRV_NVME_TYPES_H */
