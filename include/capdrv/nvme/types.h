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
 * Example: a 4 KiB Read (NVM Command Set 1.0 §3.2.4) into one page-aligned
 * buffer, with a PRP data pointer; see capdrv/prp.h for transfers that need
 * PRP lists or SGLs.
 * @code
 * #include <capdrv/sys.h>
 *
 * // nlb: blocks in 4 KiB (8 with 512-byte blocks).
 * static void read_sqe(struct capdrv_nvme_sqe *sqe, uint16_t cid, uint64_t slba, uint32_t nlb,
 *                      const struct capdrv_dmabuf_info *buf)
 * {
 *     *sqe = (struct capdrv_nvme_sqe){0};
 *     sqe->opc = 0x02;  // Read
 *     sqe->cid = capdrv_nvme_cpu_to_le16(cid);
 *     sqe->nsid = capdrv_nvme_cpu_to_le32(1);
 *     capdrv_nvme_sqe_set_psdt(sqe, CAPDRV_NVME_PSDT_PRP);
 *     sqe->dptr.prp.prp1 = capdrv_nvme_cpu_to_le64(capdrv_dma_ref(buf, 0));
 *     sqe->dptr.prp.prp2 = 0;  // the transfer stays in one memory page: unused
 *     sqe->cdw10 = capdrv_nvme_cpu_to_le32((uint32_t)slba);
 *     sqe->cdw11 = capdrv_nvme_cpu_to_le32((uint32_t)(slba >> 32));
 *     sqe->cdw12 = capdrv_nvme_cpu_to_le32(nlb - 1);  // 0's based
 * }
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
/* Byte order (NVMe Base 2.0 §1.4 Conventions: fields are little-endian)  */
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
/* Submission queue entry (NVMe Base 2.0 §3.3.3.1, Common Command Format) */
/* ---------------------------------------------------------------------- */

/** PRP Entry 1 and 2 of the data pointer (NVMe Base 2.0 §4.1.1, §3.3.3.1). */
struct capdrv_nvme_prp_pair {
    uint64_t prp1; /**< bytes 31:24 of the SQE: PRP Entry 1 */
    uint64_t prp2; /**< bytes 39:32 of the SQE: PRP Entry 2 (data or list pointer) */
};

/**
 * Data Pointer (DPTR), SQE bytes 39:24 (NVMe Base 2.0 §3.3.3.1, Common Command
 * Format): PRP Entry 1 and 2 when CDW0.PSDT is 00b, otherwise SGL Entry 1.
 */
union capdrv_nvme_dptr {
    struct capdrv_nvme_prp_pair prp;  /**< PSDT 00b */
    struct capdrv_nvme_sgl_desc sgl1; /**< PSDT 01b or 10b */
};

CAPDRV_NVME_STATIC_ASSERT(sizeof(union capdrv_nvme_dptr) == 16,
                          "NVMe Base 2.0 §3.3.3.1: DPTR is 16 bytes");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_prp_pair, prp2) == 8,
                          "NVMe Base 2.0 §3.3.3.1: PRP2 follows PRP1");

/**
 * PRP or SGL for Data Transfer, CDW0 bits 15:14 (NVMe Base 2.0 §3.3.3.1). For
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
 * Submission Queue Entry, 64 bytes (NVMe Base 2.0 §3.3.3.1, "Common Command
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
                          "NVMe Base 2.0 §3.3.3.1: SQE is 64 bytes");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_sqe, flags) == 1,
                          "NVMe Base 2.0 §3.3.3.1: FUSE/PSDT in CDW0 byte 1");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_sqe, cid) == 2,
                          "NVMe Base 2.0 §3.3.3.1: CID at CDW0 bits 31:16");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_sqe, nsid) == 4,
                          "NVMe Base 2.0 §3.3.3.1: NSID at bytes 7:4");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_sqe, mptr) == 16,
                          "NVMe Base 2.0 §3.3.3.1: MPTR at bytes 23:16");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_sqe, dptr) == 24,
                          "NVMe Base 2.0 §3.3.3.1: DPTR at bytes 39:24");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_sqe, cdw10) == 40,
                          "NVMe Base 2.0 §3.3.3.1: CDW10 at bytes 43:40");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_sqe, cdw15) == 60,
                          "NVMe Base 2.0 §3.3.3.1: CDW15 at bytes 63:60");

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
/* Completion queue entry (NVMe Base 2.0 §3.3.3.2)                        */
/* ---------------------------------------------------------------------- */

/**
 * Completion Queue Entry, 16 bytes (NVMe Base 2.0 §3.3.3.2, "Completion Queue
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
                          "NVMe Base 2.0 §3.3.3.2: CQE is 16 bytes");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_cqe, sqhd) == 8,
                          "NVMe Base 2.0 §3.3.3.2: SQHD at DW2 15:0");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_cqe, sqid) == 10,
                          "NVMe Base 2.0 §3.3.3.2: SQID at DW2 31:16");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_cqe, cid) == 12,
                          "NVMe Base 2.0 §3.3.3.2: CID at DW3 15:0");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_cqe, status) == 14,
                          "NVMe Base 2.0 §3.3.3.2: Phase/Status at DW3 31:16");

/* Bits of capdrv_nvme_cqe::status (host order), NVMe Base 2.0 §3.3.3.2.1. */
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

/* ---------------------------------------------------------------------- */
/* Identify data structures (NVMe Base 2.0 §5.17.2; NVM Command Set 1.0    */
/* §4.1.5), log pages (Base 2.0 §5.16.1) and the DSM range (NVM 1.0 §3.2.3) */
/* Field names follow the specification's abbreviations as nvme-cli and    */
/* libnvme spell them. Every field sits at its natural alignment, so the   */
/* layouts need no packing; offsets are checked below.                    */
/* ---------------------------------------------------------------------- */

/** Bytes of every Identify data structure (NVMe Base 2.0 §5.17.2). */
#define CAPDRV_NVME_IDENTIFY_BYTES 4096u

/**
 * Power State Descriptor, 32 bytes (NVMe Base 2.0 §5.17.2.1, "Power State
 * Descriptor Data Structure").
 */
struct capdrv_nvme_id_psd {
    uint16_t mp;        /**< bytes 1:0 Maximum Power (MXPS scale) */
    uint8_t rsvd2;      /**< byte 2 reserved */
    uint8_t flags;      /**< byte 3: bit 0 MXPS, bit 1 NOPS */
    uint32_t enlat;     /**< bytes 7:4 Entry Latency (us) */
    uint32_t exlat;     /**< bytes 11:8 Exit Latency (us) */
    uint8_t rrt;        /**< byte 12 Relative Read Throughput */
    uint8_t rrl;        /**< byte 13 Relative Read Latency */
    uint8_t rwt;        /**< byte 14 Relative Write Throughput */
    uint8_t rwl;        /**< byte 15 Relative Write Latency */
    uint16_t idlp;      /**< bytes 17:16 Idle Power */
    uint8_t ips;        /**< byte 18 Idle Power Scale (bits 7:6) */
    uint8_t rsvd19;     /**< byte 19 reserved */
    uint16_t actp;      /**< bytes 21:20 Active Power */
    uint8_t apws;       /**< byte 22 Active Power Workload (2:0), Scale (7:6) */
    uint8_t rsvd23[9];  /**< bytes 31:23 reserved */
};

CAPDRV_NVME_STATIC_ASSERT(sizeof(struct capdrv_nvme_id_psd) == 32,
                          "NVMe Base 2.0 §5.17.2.1: power state descriptor is 32 bytes");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_id_psd, enlat) == 4, "PSD ENLAT");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_id_psd, idlp) == 16, "PSD IDLP");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_id_psd, actp) == 20, "PSD ACTP");

/**
 * Identify Controller data structure, 4096 bytes (CNS 01h; NVMe Base 2.0
 * §5.17.2.1, "Identify Controller Data Structure"). Controller-written:
 * treat every field as untrusted.
 */
struct capdrv_nvme_id_ctrl {
    uint16_t vid;            /**< 1:0 PCI Vendor ID */
    uint16_t ssvid;          /**< 3:2 PCI Subsystem Vendor ID */
    char sn[20];             /**< 23:4 Serial Number (ASCII, space padded) */
    char mn[40];             /**< 63:24 Model Number (ASCII, space padded) */
    char fr[8];              /**< 71:64 Firmware Revision (ASCII, space padded) */
    uint8_t rab;             /**< 72 Recommended Arbitration Burst */
    uint8_t ieee[3];         /**< 75:73 IEEE OUI Identifier */
    uint8_t cmic;            /**< 76 Controller Multi-Path I/O and NS Sharing */
    uint8_t mdts;            /**< 77 Maximum Data Transfer Size (2^n min pages; 0 none) */
    uint16_t cntlid;         /**< 79:78 Controller ID */
    uint32_t ver;            /**< 83:80 Version */
    uint32_t rtd3r;          /**< 87:84 RTD3 Resume Latency */
    uint32_t rtd3e;          /**< 91:88 RTD3 Entry Latency */
    uint32_t oaes;           /**< 95:92 Optional Asynchronous Events Supported */
    uint32_t ctratt;         /**< 99:96 Controller Attributes */
    uint16_t rrls;           /**< 101:100 Read Recovery Levels Supported */
    uint8_t rsvd102[9];      /**< 110:102 reserved */
    uint8_t cntrltype;       /**< 111 Controller Type (1 I/O, 2 discovery, 3 admin) */
    uint8_t fguid[16];       /**< 127:112 FRU Globally Unique Identifier */
    uint16_t crdt1;          /**< 129:128 Command Retry Delay Time 1 */
    uint16_t crdt2;          /**< 131:130 Command Retry Delay Time 2 */
    uint16_t crdt3;          /**< 133:132 Command Retry Delay Time 3 */
    uint8_t rsvd134[119];    /**< 252:134 reserved */
    uint8_t nvmsr;           /**< 253 NVM Subsystem Report */
    uint8_t vwci;            /**< 254 VPD Write Cycle Information */
    uint8_t mec;             /**< 255 Management Endpoint Capabilities */
    uint16_t oacs;           /**< 257:256 Optional Admin Command Support */
    uint8_t acl;             /**< 258 Abort Command Limit (0's based) */
    uint8_t aerl;            /**< 259 Asynchronous Event Request Limit (0's based) */
    uint8_t frmw;            /**< 260 Firmware Updates */
    uint8_t lpa;             /**< 261 Log Page Attributes */
    uint8_t elpe;            /**< 262 Error Log Page Entries (0's based) */
    uint8_t npss;            /**< 263 Number of Power States Support (0's based) */
    uint8_t avscc;           /**< 264 Admin Vendor Specific Command Configuration */
    uint8_t apsta;           /**< 265 Autonomous Power State Transition Attributes */
    uint16_t wctemp;         /**< 267:266 Warning Composite Temperature Threshold (K) */
    uint16_t cctemp;         /**< 269:268 Critical Composite Temperature Threshold (K) */
    uint16_t mtfa;           /**< 271:270 Maximum Time for Firmware Activation */
    uint32_t hmpre;          /**< 275:272 Host Memory Buffer Preferred Size */
    uint32_t hmmin;          /**< 279:276 Host Memory Buffer Minimum Size */
    uint8_t tnvmcap[16];     /**< 295:280 Total NVM Capacity (bytes, 128-bit) */
    uint8_t unvmcap[16];     /**< 311:296 Unallocated NVM Capacity */
    uint32_t rpmbs;          /**< 315:312 Replay Protected Memory Block Support */
    uint16_t edstt;          /**< 317:316 Extended Device Self-test Time */
    uint8_t dsto;            /**< 318 Device Self-test Options */
    uint8_t fwug;            /**< 319 Firmware Update Granularity */
    uint16_t kas;            /**< 321:320 Keep Alive Support (100 ms units) */
    uint16_t hctma;          /**< 323:322 Host Controlled Thermal Management Attributes */
    uint16_t mntmt;          /**< 325:324 Minimum Thermal Management Temperature */
    uint16_t mxtmt;          /**< 327:326 Maximum Thermal Management Temperature */
    uint32_t sanicap;        /**< 331:328 Sanitize Capabilities */
    uint32_t hmminds;        /**< 335:332 Host Memory Buffer Minimum Descriptor Entry Size */
    uint16_t hmmaxd;         /**< 337:336 Host Memory Maximum Descriptors Entries */
    uint16_t nsetidmax;      /**< 339:338 NVM Set Identifier Maximum */
    uint16_t endgidmax;      /**< 341:340 Endurance Group Identifier Maximum */
    uint8_t anatt;           /**< 342 ANA Transition Time */
    uint8_t anacap;          /**< 343 Asymmetric Namespace Access Capabilities */
    uint32_t anagrpmax;      /**< 347:344 ANA Group Identifier Maximum */
    uint32_t nanagrpid;      /**< 351:348 Number of ANA Group Identifiers */
    uint32_t pels;           /**< 355:352 Persistent Event Log Size */
    uint16_t domainid;       /**< 357:356 Domain Identifier */
    uint8_t rsvd358[10];     /**< 367:358 reserved */
    uint8_t megcap[16];      /**< 383:368 Max Endurance Group Capacity */
    uint8_t rsvd384[128];    /**< 511:384 reserved */
    uint8_t sqes;            /**< 512 SQ Entry Size: max (7:4), required (3:0), log2 */
    uint8_t cqes;            /**< 513 CQ Entry Size: max (7:4), required (3:0), log2 */
    uint16_t maxcmd;         /**< 515:514 Maximum Outstanding Commands */
    uint32_t nn;             /**< 519:516 Number of Namespaces (largest NSID) */
    uint16_t oncs;           /**< 521:520 Optional NVM Command Support */
    uint16_t fuses;          /**< 523:522 Fused Operation Support */
    uint8_t fna;             /**< 524 Format NVM Attributes */
    uint8_t vwc;             /**< 525 Volatile Write Cache */
    uint16_t awun;           /**< 527:526 Atomic Write Unit Normal */
    uint16_t awupf;          /**< 529:528 Atomic Write Unit Power Fail */
    uint8_t icsvscc;         /**< 530 I/O Command Set Vendor Specific Command Configuration */
    uint8_t nwpc;            /**< 531 Namespace Write Protection Capabilities */
    uint16_t acwu;           /**< 533:532 Atomic Compare & Write Unit */
    uint16_t ocfs;           /**< 535:534 Optional Copy Formats Supported */
    uint32_t sgls;           /**< 539:536 SGL Support (enum capdrv_nvme_sgls_support) */
    uint32_t mnan;           /**< 543:540 Maximum Number of Allowed Namespaces */
    uint8_t maxdna[16];      /**< 559:544 Maximum Domain Namespace Attachments */
    uint32_t maxcna;         /**< 563:560 Maximum I/O Controller Namespace Attachments */
    uint8_t rsvd564[204];    /**< 767:564 reserved */
    char subnqn[256];        /**< 1023:768 NVM Subsystem NVMe Qualified Name (NUL padded) */
    uint8_t rsvd1024[768];   /**< 1791:1024 reserved */
    uint32_t ioccsz;         /**< 1795:1792 I/O Queue Command Capsule Supported Size (fabrics) */
    uint32_t iorcsz;         /**< 1799:1796 I/O Queue Response Capsule Supported Size (fabrics) */
    uint16_t icdoff;         /**< 1801:1800 In Capsule Data Offset (fabrics) */
    uint8_t fcatt;           /**< 1802 Fabrics Controller Attributes */
    uint8_t msdbd;           /**< 1803 Maximum SGL Data Block Descriptors */
    uint16_t ofcs;           /**< 1805:1804 Optional Fabric Commands Support */
    uint8_t rsvd1806[242];   /**< 2047:1806 reserved */
    struct capdrv_nvme_id_psd psd[32]; /**< 3071:2048 Power State Descriptors 0..31 */
    uint8_t vs[1024];        /**< 4095:3072 Vendor Specific */
};

CAPDRV_NVME_STATIC_ASSERT(sizeof(struct capdrv_nvme_id_ctrl) == CAPDRV_NVME_IDENTIFY_BYTES,
                          "NVMe Base 2.0 §5.17.2.1: Identify Controller is 4096 bytes");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_id_ctrl, sn) == 4, "ID SN");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_id_ctrl, mn) == 24, "ID MN");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_id_ctrl, fr) == 64, "ID FR");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_id_ctrl, mdts) == 77, "ID MDTS");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_id_ctrl, cntlid) == 78, "ID CNTLID");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_id_ctrl, ver) == 80, "ID VER");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_id_ctrl, cntrltype) == 111, "ID CNTRLTYPE");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_id_ctrl, crdt1) == 128, "ID CRDT1");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_id_ctrl, oacs) == 256, "ID OACS");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_id_ctrl, aerl) == 259, "ID AERL");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_id_ctrl, hmpre) == 272, "ID HMPRE");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_id_ctrl, kas) == 320, "ID KAS");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_id_ctrl, anagrpmax) == 344, "ID ANAGRPMAX");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_id_ctrl, megcap) == 368, "ID MEGCAP");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_id_ctrl, sqes) == 512, "ID SQES");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_id_ctrl, nn) == 516, "ID NN");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_id_ctrl, oncs) == 520, "ID ONCS");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_id_ctrl, vwc) == 525, "ID VWC");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_id_ctrl, sgls) == 536, "ID SGLS");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_id_ctrl, maxcna) == 560, "ID MAXCNA");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_id_ctrl, subnqn) == 768, "ID SUBNQN");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_id_ctrl, ioccsz) == 1792, "ID IOCCSZ");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_id_ctrl, ofcs) == 1804, "ID OFCS");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_id_ctrl, psd) == 2048, "ID PSD");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_id_ctrl, vs) == 3072, "ID VS");

/* Identify Controller OACS bits (NVMe Base 2.0 §5.17.2.1). */
#define CAPDRV_NVME_OACS_SECURITY 0x0001u   /**< Security Send/Receive */
#define CAPDRV_NVME_OACS_FORMAT 0x0002u     /**< Format NVM */
#define CAPDRV_NVME_OACS_FW 0x0004u         /**< Firmware Commit/Download */
#define CAPDRV_NVME_OACS_NS_MGMT 0x0008u    /**< Namespace Management */
#define CAPDRV_NVME_OACS_SELF_TEST 0x0010u  /**< Device Self-test */
#define CAPDRV_NVME_OACS_DIRECTIVES 0x0020u /**< Directives */
#define CAPDRV_NVME_OACS_MI 0x0040u         /**< NVMe-MI Send/Receive */
#define CAPDRV_NVME_OACS_VIRT 0x0080u       /**< Virtualization Management */
#define CAPDRV_NVME_OACS_DBBC 0x0100u       /**< Doorbell Buffer Config */

/* Identify Controller ONCS bits (NVMe Base 2.0 §5.17.2.1). */
#define CAPDRV_NVME_ONCS_COMPARE 0x0001u      /**< Compare */
#define CAPDRV_NVME_ONCS_WRITE_UNC 0x0002u    /**< Write Uncorrectable */
#define CAPDRV_NVME_ONCS_DSM 0x0004u          /**< Dataset Management */
#define CAPDRV_NVME_ONCS_WRITE_ZEROES 0x0008u /**< Write Zeroes */
#define CAPDRV_NVME_ONCS_SAVE_FEAT 0x0010u    /**< Save field of Set/Get Features */
#define CAPDRV_NVME_ONCS_RESERVATIONS 0x0020u /**< Reservations */
#define CAPDRV_NVME_ONCS_TIMESTAMP 0x0040u    /**< Timestamp feature */
#define CAPDRV_NVME_ONCS_VERIFY 0x0080u       /**< Verify */
#define CAPDRV_NVME_ONCS_COPY 0x0100u         /**< Copy */

/** LBA Format data structure, 4 bytes (NVM Command Set 1.0 §4.1.5.1). */
struct capdrv_nvme_lbaf {
    uint16_t ms;   /**< 1:0 Metadata Size per LBA, bytes */
    uint8_t lbads; /**< 2 LBA Data Size, log2 bytes (>= 9 when valid) */
    uint8_t rp;    /**< 3 Relative Performance (bits 1:0) */
};

CAPDRV_NVME_STATIC_ASSERT(sizeof(struct capdrv_nvme_lbaf) == 4, "NVM 1.0: LBA format is 4 bytes");

/**
 * Identify Namespace data structure for the NVM Command Set, 4096 bytes
 * (CNS 00h; NVM Command Set 1.0 §4.1.5.1). Controller-written: untrusted.
 */
struct capdrv_nvme_id_ns {
    uint64_t nsze;         /**< 7:0 Namespace Size (LBAs) */
    uint64_t ncap;         /**< 15:8 Namespace Capacity (LBAs) */
    uint64_t nuse;         /**< 23:16 Namespace Utilization (LBAs) */
    uint8_t nsfeat;        /**< 24 Namespace Features */
    uint8_t nlbaf;         /**< 25 Number of LBA Formats (0's based) */
    uint8_t flbas;         /**< 26 Formatted LBA Size: index 3:0 and 6:5, extended 4 */
    uint8_t mc;            /**< 27 Metadata Capabilities */
    uint8_t dpc;           /**< 28 End-to-end Data Protection Capabilities */
    uint8_t dps;           /**< 29 End-to-end Data Protection Type Settings */
    uint8_t nmic;          /**< 30 Namespace Multi-path I/O and NS Sharing Capabilities */
    uint8_t rescap;        /**< 31 Reservation Capabilities */
    uint8_t fpi;           /**< 32 Format Progress Indicator */
    uint8_t dlfeat;        /**< 33 Deallocate Logical Block Features */
    uint16_t nawun;        /**< 35:34 Namespace Atomic Write Unit Normal */
    uint16_t nawupf;       /**< 37:36 Namespace Atomic Write Unit Power Fail */
    uint16_t nacwu;        /**< 39:38 Namespace Atomic Compare & Write Unit */
    uint16_t nabsn;        /**< 41:40 Namespace Atomic Boundary Size Normal */
    uint16_t nabo;         /**< 43:42 Namespace Atomic Boundary Offset */
    uint16_t nabspf;       /**< 45:44 Namespace Atomic Boundary Size Power Fail */
    uint16_t noiob;        /**< 47:46 Namespace Optimal I/O Boundary */
    uint8_t nvmcap[16];    /**< 63:48 NVM Capacity (bytes) */
    uint16_t npwg;         /**< 65:64 Namespace Preferred Write Granularity */
    uint16_t npwa;         /**< 67:66 Namespace Preferred Write Alignment */
    uint16_t npdg;         /**< 69:68 Namespace Preferred Deallocate Granularity */
    uint16_t npda;         /**< 71:70 Namespace Preferred Deallocate Alignment */
    uint16_t nows;         /**< 73:72 Namespace Optimal Write Size */
    uint16_t mssrl;        /**< 75:74 Maximum Single Source Range Length */
    uint32_t mcl;          /**< 79:76 Maximum Copy Length */
    uint8_t msrc;          /**< 80 Maximum Source Range Count */
    uint8_t rsvd81;        /**< 81 reserved */
    uint8_t nulbaf;        /**< 82 Number of Unique Capability LBA Formats */
    uint8_t rsvd83[9];     /**< 91:83 reserved */
    uint32_t anagrpid;     /**< 95:92 ANA Group Identifier */
    uint8_t rsvd96[3];     /**< 98:96 reserved */
    uint8_t nsattr;        /**< 99 Namespace Attributes */
    uint16_t nvmsetid;     /**< 101:100 NVM Set Identifier */
    uint16_t endgid;       /**< 103:102 Endurance Group Identifier */
    uint8_t nguid[16];     /**< 119:104 Namespace Globally Unique Identifier */
    uint8_t eui64[8];      /**< 127:120 IEEE Extended Unique Identifier */
    struct capdrv_nvme_lbaf lbaf[64]; /**< 383:128 LBA Formats 0..63 */
    uint8_t rsvd384[3456]; /**< 3839:384 reserved */
    uint8_t vs[256];       /**< 4095:3840 Vendor Specific */
};

CAPDRV_NVME_STATIC_ASSERT(sizeof(struct capdrv_nvme_id_ns) == CAPDRV_NVME_IDENTIFY_BYTES,
                          "NVM 1.0 §4.1.5.1: Identify Namespace is 4096 bytes");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_id_ns, nsfeat) == 24, "NS NSFEAT");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_id_ns, flbas) == 26, "NS FLBAS");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_id_ns, nvmcap) == 48, "NS NVMCAP");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_id_ns, mcl) == 76, "NS MCL");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_id_ns, anagrpid) == 92, "NS ANAGRPID");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_id_ns, nsattr) == 99, "NS NSATTR");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_id_ns, nguid) == 104, "NS NGUID");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_id_ns, lbaf) == 128, "NS LBAF");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_id_ns, vs) == 3840, "NS VS");

/** FLBAS bit 4: metadata is transferred at the end of each LBA's data. */
#define CAPDRV_NVME_FLBAS_EXTENDED 0x10u

/**
 * @brief The LBA format index selected by FLBAS (NVM Command Set 1.0
 *        §4.1.5.1: bits 3:0 are the low four bits, bits 6:5 the high two
 *        when more than 16 formats exist).
 * @param flbas Identify Namespace byte 26.
 * @return index 0..63; check it against NLBAF before use.
 */
CAPDRV_INLINE unsigned capdrv_nvme_flbas_index(uint8_t flbas)
{
    return ((unsigned)flbas & 0xFu) | (((unsigned)flbas >> 5 & 0x3u) << 4);
}

/**
 * SMART / Health Information log page, 512 bytes (Log Identifier 02h,
 * NVMe Base 2.0 §5.16.1.3). 128-bit counters are little-endian byte arrays.
 */
struct capdrv_nvme_smart_log {
    uint8_t critical_warning;        /**< 0 Critical Warning bits */
    uint8_t temperature[2];          /**< 2:1 Composite Temperature (K, little-endian) */
    uint8_t avail_spare;             /**< 3 Available Spare (%) */
    uint8_t spare_thresh;            /**< 4 Available Spare Threshold (%) */
    uint8_t percent_used;            /**< 5 Percentage Used */
    uint8_t endu_grp_crit_warn_sumry;/**< 6 Endurance Group Critical Warning Summary */
    uint8_t rsvd7[25];               /**< 31:7 reserved */
    uint8_t data_units_read[16];     /**< 47:32 Data Units Read (1000 x 512 B) */
    uint8_t data_units_written[16];  /**< 63:48 Data Units Written */
    uint8_t host_reads[16];          /**< 79:64 Host Read Commands */
    uint8_t host_writes[16];         /**< 95:80 Host Write Commands */
    uint8_t ctrl_busy_time[16];      /**< 111:96 Controller Busy Time (minutes) */
    uint8_t power_cycles[16];        /**< 127:112 Power Cycles */
    uint8_t power_on_hours[16];      /**< 143:128 Power On Hours */
    uint8_t unsafe_shutdowns[16];    /**< 159:144 Unsafe Shutdowns */
    uint8_t media_errors[16];        /**< 175:160 Media and Data Integrity Errors */
    uint8_t num_err_log_entries[16]; /**< 191:176 Number of Error Information Log Entries */
    uint32_t warning_temp_time;      /**< 195:192 Warning Composite Temperature Time */
    uint32_t critical_comp_time;     /**< 199:196 Critical Composite Temperature Time */
    uint16_t temp_sensor[8];         /**< 215:200 Temperature Sensors 1..8 (K) */
    uint32_t thm_temp1_trans_count;  /**< 219:216 Thermal Mgmt Temp 1 Transition Count */
    uint32_t thm_temp2_trans_count;  /**< 223:220 Thermal Mgmt Temp 2 Transition Count */
    uint32_t thm_temp1_total_time;   /**< 227:224 Total Time For Thermal Mgmt Temp 1 */
    uint32_t thm_temp2_total_time;   /**< 231:228 Total Time For Thermal Mgmt Temp 2 */
    uint8_t rsvd232[280];            /**< 511:232 reserved */
};

CAPDRV_NVME_STATIC_ASSERT(sizeof(struct capdrv_nvme_smart_log) == 512,
                          "NVMe Base 2.0 §5.16.1.3: SMART / Health log is 512 bytes");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_smart_log, data_units_read) == 32, "SMART DUR");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_smart_log, num_err_log_entries) == 176,
                          "SMART NUM_ERR");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_smart_log, warning_temp_time) == 192, "SMART WCTT");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_smart_log, temp_sensor) == 200, "SMART TS");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_smart_log, thm_temp1_trans_count) == 216,
                          "SMART TMT1TC");

/**
 * Error Information log entry, 64 bytes (Log Identifier 01h, NVMe Base
 * 2.0 §5.16.1.2).
 */
struct capdrv_nvme_error_log_entry {
    uint64_t error_count;          /**< 7:0 Error Count (unique id; 0: entry invalid) */
    uint16_t sqid;                 /**< 9:8 Submission Queue ID */
    uint16_t cmdid;                /**< 11:10 Command ID */
    uint16_t status_field;         /**< 13:12 Status Field (bits 15:1) and Phase Tag */
    uint16_t parm_error_location;  /**< 15:14 Parameter Error Location */
    uint64_t lba;                  /**< 23:16 LBA */
    uint32_t nsid;                 /**< 27:24 Namespace */
    uint8_t vs;                    /**< 28 Vendor Specific Information Available */
    uint8_t trtype;                /**< 29 Transport Type */
    uint8_t rsvd30[2];             /**< 31:30 reserved */
    uint64_t cs;                   /**< 39:32 Command Specific Information */
    uint16_t trtype_spec_info;     /**< 41:40 Transport Type Specific Information */
    uint8_t rsvd42[22];            /**< 63:42 reserved */
};

CAPDRV_NVME_STATIC_ASSERT(sizeof(struct capdrv_nvme_error_log_entry) == 64,
                          "NVMe Base 2.0 §5.16.1.2: error log entry is 64 bytes");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_error_log_entry, lba) == 16, "ERR LBA");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_error_log_entry, cs) == 32, "ERR CS");

/**
 * Dataset Management range, 16 bytes (NVM Command Set 1.0 §3.2.3,
 * "Dataset Management – Range Definition").
 */
struct capdrv_nvme_dsm_range {
    uint32_t cattr; /**< 3:0 Context Attributes */
    uint32_t nlb;   /**< 7:4 Length in logical blocks (1-based, not 0's based) */
    uint64_t slba;  /**< 15:8 Starting LBA */
};

CAPDRV_NVME_STATIC_ASSERT(sizeof(struct capdrv_nvme_dsm_range) == 16,
                          "NVM 1.0 §3.2.3: DSM range is 16 bytes");
CAPDRV_NVME_STATIC_ASSERT(offsetof(struct capdrv_nvme_dsm_range, slba) == 8, "DSM SLBA");

#ifdef __cplusplus
}
#endif
#endif /* CAPDRV_NVME_TYPES_H */
