/* Private model of the NVMe profile (NVM Express Base Specification 2.0,
 * "Base 2.0 §x"; NVM Command Set Specification 1.0, "NVM 1.0 §x").
 *
 * Files, one concern each:
 *   nvme_regs.c   the profile: BAR0 register window rules, CC/CSTS/AQA/
 *                 ASQ/ACQ handling, bind/unbind/forget/idle;
 *   nvme_probe.c  the bind-time probe: the shim's own admin queue in
 *                 shim-owned memory learns the facts the lanes rely on
 *                 (MDTS, namespaces and their LBA data sizes, SGL support);
 *   nvme_queues.c the queue table, shadow SQs and the doorbells;
 *   nvme_sqe.c    per-SQE rules: opcode allowlist, NSID, transfer length,
 *                 queue creation and deletion;
 *   nvme_prp.c    the data pointer (PRP lists, SGL segments) and queue
 *                 bases for both lanes.
 *
 * Lanes. Brokered: the admin SQ and every I/O SQ the device reads are
 * shim-owned shadows with the provider's slots 1:1 (so CQE.SQHD names the
 * same slot); each SQE is copied at its tail doorbell with every reference
 * resolved, PRP lists and SGL segments rebuilt in a shim-owned page per
 * slot. CQs stay in provider memory: completions carry no addresses.
 * Direct: the device reads the provider's queues by IOVA; each new SQE's
 * every range (data, list pages, segments, queue bases) is checked against
 * the ledger before the doorbell is written. */
#ifndef CAPDRV_SHIM_NVME_SHIM_H
#define CAPDRV_SHIM_NVME_SHIM_H

#include "../shim_internal.h"

/* Base 2.0 §3.1.3 controller registers (offsets in BAR0). */
enum {
    NVME_CAP = 0x00,
    NVME_VS = 0x08,
    NVME_INTMS = 0x0c,
    NVME_INTMC = 0x10,
    NVME_CC = 0x14,
    NVME_CSTS = 0x1c,
    NVME_NSSR = 0x20,
    NVME_AQA = 0x24,
    NVME_ASQ = 0x28,
    NVME_ACQ = 0x30,
    NVME_CMBLOC = 0x38,      /* 0x38..0x6b: CMB, boot partitions, NSSD, CRTO */
    NVME_REGS_END = 0x6c,
    NVME_PMRCAP = 0xe00,     /* 0xe00..0xe1b: persistent memory region */
    NVME_PMR_END = 0xe1c,
    NVME_DOORBELLS = 0x1000  /* PCIe Transport 1.0 §3.1.2.1: SQ y tail at 0x1000 + 2y*(4 << DSTRD) */
};

/* §3.1.3.1 CAP fields. */
#define NVME_CAP_MQES(c) ((uint32_t)((c) & 0xffffu))
#define NVME_CAP_TO(c) ((uint32_t)(((c) >> 24) & 0xffu))
#define NVME_CAP_DSTRD(c) ((unsigned)(((c) >> 32) & 0xfu))
#define NVME_CAP_CSS_NVM (1ull << 37)
#define NVME_CAP_MPSMIN(c) ((unsigned)(((c) >> 48) & 0xfu))
/* Features the shim does not let a provider use, hidden from CAP reads:
 * NSSRS (36), BPS (45), PMRS (56), CMBS (57). */
#define NVME_CAP_HIDDEN ((1ull << 36) | (1ull << 45) | (1ull << 56) | (1ull << 57))

/* §3.1.3.5 CC fields. */
#define NVME_CC_EN 0x1u
#define NVME_CC_CSS_MASK (0x7u << 4)
#define NVME_CC_MPS_MASK (0xfu << 7)
#define NVME_CC_AMS_MASK (0x7u << 11)
#define NVME_CC_SHN_MASK (0x3u << 14)
#define NVME_CC_IOSQES_SHIFT 16
#define NVME_CC_IOCQES_SHIFT 20
#define NVME_CC_KNOWN (NVME_CC_EN | NVME_CC_CSS_MASK | NVME_CC_MPS_MASK | NVME_CC_AMS_MASK | \
                       NVME_CC_SHN_MASK | (0xfu << NVME_CC_IOSQES_SHIFT) |                   \
                       (0xfu << NVME_CC_IOCQES_SHIFT))

/* §3.1.3.6 CSTS fields. */
#define NVME_CSTS_RDY 0x1u
#define NVME_CSTS_CFS 0x2u

/* Limits of this profile (documented in docs/ARCHITECTURE.md "NVMe lanes"). */
#define NVME_PAGE 4096u             /* CC.MPS 0 only: 4 KiB memory pages */
#define NVME_MAX_NS 16u             /* namespaces the probe records */
#define NVME_MAX_QID 32u            /* I/O queue ids 1..32 */
#define NVME_MAX_XFER (2u << 20)    /* bytes per command, and never above MDTS */
#define NVME_LIST_ENTRIES (NVME_PAGE / 8u)    /* one shadow PRP list page per slot */
#define NVME_SGL_MAX_DESC (NVME_PAGE / 16u)   /* descriptors walked per command */
#define NVME_BROKERED_MAX_QSIZE 1024u         /* shadow memory bound per queue */
#define NVME_ADMIN_MAX_QSIZE 4096u            /* §3.1.3.8 AQA: 12-bit 0's based */
#define NVME_SQE 64u
#define NVME_CQE 16u

/* What the probe learnt about one namespace (NVM 1.0 §4.1.5.1). */
struct nvme_ns {
    uint32_t nsid;
    uint8_t lbads;   /* log2 of the LBA data size, 9..16 */
    uint16_t ms;     /* metadata bytes per LBA */
    bool ext;        /* metadata transferred at the end of each LBA's data */
};

/* Facts from bind time (the probe). */
struct nvme_ctrl {
    uint64_t cap;
    unsigned stride;    /* doorbell stride, bytes: 4 << CAP.DSTRD */
    uint32_t mqes;      /* largest I/O queue, entries (CAP.MQES + 1) */
    uint64_t max_xfer;  /* bytes per command: min(MDTS, NVME_MAX_XFER) */
    bool sgl;           /* SGLS: SGLs for NVM commands */
    uint32_t nn;        /* Identify Controller NN */
    unsigned n_ns;
    struct nvme_ns ns[NVME_MAX_NS];
    unsigned max_qid;   /* I/O queue ids whose doorbells lie in BAR0 */
};

/* A submission queue (qid 0: the admin SQ). */
struct nvme_sq {
    bool live;          /* its tail doorbell may be written */
    uint16_t size;      /* entries */
    uint16_t cqid;
    uint16_t tail;      /* provider tail already validated / copied */
    uint64_t ref;       /* the provider's queue (token or IOVA) */
    /* brokered lane: the SQ the device reads, then one list page per slot */
    bool shadow_live;
    uint32_t shadow_idx;
    uint32_t shadow_cap;   /* entries the shadow holds */
    uint8_t *shadow;
    uint64_t shadow_dev;
};

struct nvme_cq {
    bool live;
    uint16_t size;
    uint64_t ref;       /* the provider's queue (token or IOVA) */
};

struct nvme_state {
    struct nvme_ctrl c;
    /* per claim, cleared by forget */
    uint32_t aqa;
    uint64_t asq, acq;  /* shadow registers: references, never device addresses */
    uint32_t cc;        /* last CC written through the shim */
    bool enabled;       /* CC.EN 0->1 went through the shim */
    bool stopping;      /* CC.EN 1->0 written, CSTS.RDY not yet seen 0 */
    bool shutdown;      /* CC.SHN written: no more submissions */
    struct nvme_sq sq[NVME_MAX_QID + 1];
    struct nvme_cq cq[NVME_MAX_QID + 1];
};

/* nvme_probe.c: fills st->c; a failure refuses the manifest with @why. */
int nvme_probe(struct shim_profile_ctx *ctx, struct nvme_state *st, char *why,
               unsigned long why_len);

/* nvme_queues.c */
int nvme_admin_enable(struct shim_profile_ctx *ctx, struct nvme_state *st);
int nvme_sq_doorbell(struct shim_profile_ctx *ctx, struct nvme_state *st, unsigned qid,
                     uint64_t tail);
int nvme_cq_doorbell(struct shim_profile_ctx *ctx, struct nvme_state *st, unsigned qid,
                     uint64_t head);
int nvme_sq_create(struct shim_profile_ctx *ctx, struct nvme_state *st, unsigned qid,
                   uint16_t size, uint16_t cqid, uint64_t ref, uint64_t *devbase);
/* Drop every queue and free the shadows (the controller is reset). */
void nvme_queues_drop(struct shim_profile_ctx *ctx, struct nvme_state *st);
/* Whether [@ref, @ref + @len) overlaps a live CQ ring or, unless
 * @cqs_only, a live SQ ring of the controller (provider references). */
bool nvme_overlaps_queue(const struct nvme_state *st, uint64_t ref, uint64_t len, bool cqs_only);

/* nvme_sqe.c: check one SQE copied out of the provider's SQ @qid; in the
 * brokered lane rewrite it in place into what the device may read, with
 * @list_cpu/@list_dev the slot's shadow list page. Applies queue creation
 * and deletion to @st (the caller rolls back a refused doorbell). */
int nvme_sqe_check(struct shim_profile_ctx *ctx, struct nvme_state *st, unsigned qid,
                   uint8_t *sqe, uint8_t *list_cpu, uint64_t list_dev);
const struct nvme_ns *nvme_ns_find(const struct nvme_state *st, uint32_t nsid);

/* nvme_prp.c */
int nvme_dptr_prp(struct shim_profile_ctx *ctx, const struct nvme_state *st, uint8_t *sqe,
                  uint64_t len, uint8_t *list_cpu, uint64_t list_dev);
int nvme_dptr_sgl(struct shim_profile_ctx *ctx, const struct nvme_state *st, uint8_t *sqe,
                  uint64_t len, uint8_t *list_cpu, uint64_t list_dev);
/* A physically contiguous queue of @len bytes at @ref (PC=1, memory page
 * aligned): its device address. */
int nvme_queue_base(struct shim_profile_ctx *ctx, uint64_t ref, uint64_t len, uint64_t *dev);

/* Little-endian loads/stores on memory another party may write: byte
 * accesses through volatile, so each byte is read once. */
static inline uint64_t nvme_le(const volatile uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static inline void nvme_le_put(volatile uint8_t *p, unsigned n, uint64_t v)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

#endif
