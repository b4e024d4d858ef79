/* Per-command rules, applied to each new SQE at its tail doorbell (NVMe
 * Base 2.0 §3.3.3.1 common command format, §5 admin commands; NVM Command Set
 * 1.0 §3 I/O commands).
 *
 * - Opcodes are an allowlist. Admin: Delete/Create I/O SQ and CQ, Get Log
 *   Page, Identify, Abort, Set/Get Features (an allowlist of features that
 *   move no data, never saved), Asynchronous Event Request, Keep Alive.
 *   NVM: Flush, Write, Read, Compare, Write Zeroes, Dataset Management.
 *   Everything else is refused - among them Format NVM, Namespace
 *   Management/Attachment, Sanitize, Firmware Commit/Download, Security
 *   Send/Receive, Device Self-test, Directives, Virtualization Management
 *   and Doorbell Buffer Config (which would let the device read tails the
 *   shim never validated).
 * - Fused operations are refused; MPTR must be 0 (metadata pointers are not
 *   brokered), so namespaces with separate metadata move no data.
 * - The NSID is one the bind-time probe saw, or 0 / FFFFFFFFh where the
 *   command allows it.
 * - The transfer length is computed here from the command and the probe's
 *   facts, bounded by MDTS; the data pointer is then resolved (brokered) or
 *   validated (direct) for exactly that length (nvme_prp.c). Commands that
 *   move no data must carry a zero data pointer.
 * - Create I/O SQ/CQ: PC = 1, sizes 2..CAP.MQES+1, an unused queue id the
 *   shim tracks, an existing CQ for an SQ; the queue is known from this
 *   doorbell on. Delete forgets it (its shadow stays until reset). */
#include "nvme_shim.h"

#include "../util.h"

#define NSID_ALL 0xffffffffu
#define SQE_FLAGS 1u
#define SQE_NSID 4u
#define SQE_MPTR 16u
#define SQE_DPTR 24u
#define SQE_CDW10 40u
#define SQE_CDW11 44u
#define SQE_CDW12 48u
#define FUSE_MASK 0x03u
#define FLAGS_RSVD 0x3cu
#define PSDT_SHIFT 6
#define IDENTIFY_BYTES 4096u

/* §5 admin opcodes. */
enum {
    ADM_DELETE_SQ = 0x00,
    ADM_CREATE_SQ = 0x01,
    ADM_GET_LOG = 0x02,
    ADM_DELETE_CQ = 0x04,
    ADM_CREATE_CQ = 0x05,
    ADM_IDENTIFY = 0x06,
    ADM_ABORT = 0x08,
    ADM_SET_FEATURES = 0x09,
    ADM_GET_FEATURES = 0x0a,
    ADM_AER = 0x0c,
    ADM_KEEP_ALIVE = 0x18
};

/* NVM 1.0 §3 I/O opcodes. */
enum {
    IO_FLUSH = 0x00,
    IO_WRITE = 0x01,
    IO_READ = 0x02,
    IO_COMPARE = 0x05,
    IO_WRITE_ZEROES = 0x08,
    IO_DSM = 0x09
};

/* Base 2.0 §5.27.1: features a provider may set and get. None transfers
 * data: Arbitration, Power Management, Temperature Threshold, Number of
 * Queues, Interrupt Coalescing, Interrupt Vector Configuration, Write
 * Atomicity Normal, Asynchronous Event Configuration, Keep Alive Timer. */
static bool feature_allowed(unsigned fid)
{
    switch (fid) {
    case 0x01: case 0x02: case 0x04: case 0x07: case 0x08:
    case 0x09: case 0x0a: case 0x0b: case 0x0f:
        return true;
    default:
        return false;
    }
}

const struct nvme_ns *nvme_ns_find(const struct nvme_state *st, uint32_t nsid)
{
    for (unsigned i = 0; i < st->c.n_ns; i++)
        if (st->c.ns[i].nsid == nsid)
            return &st->c.ns[i];
    return NULL;
}

/* NSID 0 or FFFFFFFFh (controller / all namespaces) or one the probe saw. */
static bool nsid_any_ok(const struct nvme_state *st, uint32_t nsid)
{
    return nsid == 0 || nsid == NSID_ALL || nvme_ns_find(st, nsid);
}

static int no_data(const uint8_t *sqe, unsigned psdt)
{
    return psdt == 0 && nvme_le(sqe + SQE_DPTR, 8) == 0 && nvme_le(sqe + SQE_DPTR + 8, 8) == 0
               ? 0
               : -CAPDRV_EINVAL;
}

static int create_cq(struct shim_profile_ctx *ctx, struct nvme_state *st, uint8_t *sqe,
                     uint32_t cdw10, uint32_t cdw11)
{
    unsigned qid = cdw10 & 0xffffu;
    uint32_t size = (cdw10 >> 16) + 1u;
    if (qid == 0 || qid > st->c.max_qid || st->cq[qid].live)
        return -CAPDRV_EINVAL;
    if (!(cdw11 & 1u))
        return -CAPDRV_EINVAL; /* §5.4: PC = 0 (PRP-listed queues) not supported */
    if (size < 2 || size > st->c.mqes ||
        (ctx->g->lane == CAPDRV_LANE_BROKERED && size > NVME_BROKERED_MAX_QSIZE))
        return -CAPDRV_EINVAL;
    if (((st->cc >> NVME_CC_IOCQES_SHIFT) & 0xfu) != 4)
        return -CAPDRV_EINVAL; /* §3.1.3.5: CC.IOCQES first */
    uint64_t ref = nvme_le(sqe + SQE_DPTR, 8), dev;
    if (nvme_le(sqe + SQE_DPTR + 8, 8) != 0 || nvme_overlaps_queue(st, ref, size * NVME_CQE, false))
        return -CAPDRV_EINVAL;
    int rc = nvme_queue_base(ctx, ref, (uint64_t)size * NVME_CQE, &dev);
    if (rc < 0)
        return rc;
    /* The CQ stays in provider memory (completions carry no addresses). */
    if (ctx->g->lane == CAPDRV_LANE_BROKERED)
        nvme_le_put(sqe + SQE_DPTR, 8, dev);
    st->cq[qid] = (struct nvme_cq){.live = true, .size = (uint16_t)size, .ref = ref};
    return 0;
}

static int create_sq(struct shim_profile_ctx *ctx, struct nvme_state *st, uint8_t *sqe,
                     uint32_t cdw10, uint32_t cdw11)
{
    unsigned qid = cdw10 & 0xffffu, cqid = cdw11 >> 16;
    uint32_t size = (cdw10 >> 16) + 1u;
    if (qid == 0 || qid > st->c.max_qid || st->sq[qid].live)
        return -CAPDRV_EINVAL;
    if (cqid == 0 || cqid > st->c.max_qid || !st->cq[cqid].live)
        return -CAPDRV_EINVAL; /* §5.5: the CQ exists first */
    if (!(cdw11 & 1u))
        return -CAPDRV_EINVAL; /* PC = 1 only */
    if (size < 2 || size > st->c.mqes)
        return -CAPDRV_EINVAL;
    if (((st->cc >> NVME_CC_IOSQES_SHIFT) & 0xfu) != 6)
        return -CAPDRV_EINVAL;
    uint64_t ref = nvme_le(sqe + SQE_DPTR, 8), dev;
    if (nvme_le(sqe + SQE_DPTR + 8, 8) != 0 || nvme_overlaps_queue(st, ref, size * NVME_SQE, false))
        return -CAPDRV_EINVAL;
    int rc = nvme_sq_create(ctx, st, qid, (uint16_t)size, (uint16_t)cqid, ref, &dev);
    if (rc == 0 && ctx->g->lane == CAPDRV_LANE_BROKERED)
        nvme_le_put(sqe + SQE_DPTR, 8, dev); /* the device reads the shadow */
    return rc;
}

static int delete_queue(struct nvme_state *st, bool sq, uint32_t cdw10)
{
    unsigned qid = cdw10 & 0xffffu;
    if (qid == 0 || qid > st->c.max_qid)
        return -CAPDRV_EINVAL;
    if (sq) {
        if (!st->sq[qid].live)
            return -CAPDRV_EINVAL;
        st->sq[qid].live = false;
        return 0;
    }
    if (!st->cq[qid].live)
        return -CAPDRV_EINVAL;
    for (unsigned q = 1; q <= st->c.max_qid; q++)
        if (st->sq[q].live && st->sq[q].cqid == qid)
            return -CAPDRV_EBUSY; /* §5.6: its SQs are deleted first */
    st->cq[qid].live = false;
    return 0;
}

/* Admin command rules; *len is the data transfer (0: none). */
static int admin_rules(struct shim_profile_ctx *ctx, struct nvme_state *st, uint8_t *sqe,
                       unsigned psdt, uint64_t *len)
{
    uint32_t nsid = (uint32_t)nvme_le(sqe + SQE_NSID, 4);
    uint32_t cdw10 = (uint32_t)nvme_le(sqe + SQE_CDW10, 4);
    uint32_t cdw11 = (uint32_t)nvme_le(sqe + SQE_CDW11, 4);
    *len = 0;
    switch (sqe[0]) {
    case ADM_DELETE_SQ:
    case ADM_DELETE_CQ:
        if (nsid != 0 || no_data(sqe, psdt) < 0)
            return -CAPDRV_EINVAL;
        return delete_queue(st, sqe[0] == ADM_DELETE_SQ, cdw10);
    case ADM_CREATE_SQ:
    case ADM_CREATE_CQ:
        if (nsid != 0 || psdt != 0)
            return -CAPDRV_EINVAL;
        return sqe[0] == ADM_CREATE_SQ ? create_sq(ctx, st, sqe, cdw10, cdw11)
                                       : create_cq(ctx, st, sqe, cdw10, cdw11);
    case ADM_GET_LOG: {
        /* §5.16: NUMD = NUMDU:NUMDL, dwords, 0's based. */
        uint64_t numd = ((uint64_t)(cdw11 & 0xffffu) << 16) | (cdw10 >> 16);
        *len = (numd + 1u) * 4u;
        return nsid_any_ok(st, nsid) ? 0 : -CAPDRV_EINVAL;
    }
    case ADM_IDENTIFY:
        *len = IDENTIFY_BYTES; /* §5.17: every data structure is 4 KiB */
        return nsid_any_ok(st, nsid) ? 0 : -CAPDRV_EINVAL;
    case ADM_SET_FEATURES:
    case ADM_GET_FEATURES:
        if (!feature_allowed(cdw10 & 0xffu))
            return -CAPDRV_EPERM;
        if (sqe[0] == ADM_SET_FEATURES && (cdw10 & 0x80000000u))
            return -CAPDRV_EPERM; /* §5.27: SV would persist across resets */
        if (!nsid_any_ok(st, nsid))
            return -CAPDRV_EINVAL;
        return no_data(sqe, psdt);
    case ADM_ABORT:
    case ADM_AER:
    case ADM_KEEP_ALIVE:
        return nsid == 0 ? no_data(sqe, psdt) : -CAPDRV_EINVAL;
    default:
        return -CAPDRV_EPERM;
    }
}

static int io_rules(struct nvme_state *st, const uint8_t *sqe, unsigned psdt, uint64_t *len)
{
    uint32_t nsid = (uint32_t)nvme_le(sqe + SQE_NSID, 4);
    uint32_t cdw10 = (uint32_t)nvme_le(sqe + SQE_CDW10, 4);
    uint32_t cdw12 = (uint32_t)nvme_le(sqe + SQE_CDW12, 4);
    const struct nvme_ns *ns = nvme_ns_find(st, nsid);
    *len = 0;
    switch (sqe[0]) {
    case IO_FLUSH:
        if (!ns && nsid != NSID_ALL) /* Base 2.0 §7.1 (FFFFFFFFh: all) */
            return -CAPDRV_EINVAL;
        return no_data(sqe, psdt);
    case IO_WRITE:
    case IO_READ:
    case IO_COMPARE: {
        if (!ns)
            return -CAPDRV_EINVAL;
        if (ns->ms && !ns->ext)
            return -CAPDRV_EPERM; /* separate metadata needs MPTR: not brokered */
        /* NVM 1.0 §3.2.4: NLB is 0's based; an extended LBA carries its
         * metadata inline (NVM 1.0 §5.8.3). */
        uint64_t lba = (1ull << ns->lbads) + (ns->ext ? ns->ms : 0u);
        *len = ((cdw12 & 0xffffu) + 1ull) * lba;
        return 0;
    }
    case IO_WRITE_ZEROES:
        if (!ns)
            return -CAPDRV_EINVAL;
        return no_data(sqe, psdt);
    case IO_DSM:
        if (!ns)
            return -CAPDRV_EINVAL;
        *len = ((cdw10 & 0xffu) + 1u) * 16u; /* NVM 1.0 §3.2.3: NR ranges, 0's based */
        return 0;
    default:
        return -CAPDRV_EPERM;
    }
}

int nvme_sqe_check(struct shim_profile_ctx *ctx, struct nvme_state *st, unsigned qid,
                   uint8_t *sqe, uint8_t *list_cpu, uint64_t list_dev)
{
    uint8_t flags = sqe[SQE_FLAGS];
    unsigned psdt = flags >> PSDT_SHIFT;
    if (flags & FUSE_MASK)
        return -CAPDRV_EPERM; /* §3.3.3.1: fused operations (Compare and Write) */
    if (flags & FLAGS_RSVD)
        return -CAPDRV_EINVAL;
    if (nvme_le(sqe + SQE_MPTR, 8) != 0)
        return -CAPDRV_EINVAL; /* metadata pointers are not resolved by the shim */
    uint64_t len = 0;
    int rc = qid == 0 ? admin_rules(ctx, st, sqe, psdt, &len) : io_rules(st, sqe, psdt, &len);
    if (rc < 0 || len == 0)
        return rc;
    if (len > st->c.max_xfer)
        return -CAPDRV_EINVAL; /* MDTS (§5.17.2.1), and the shim's own bound */
    if (psdt == 0)
        return nvme_dptr_prp(ctx, st, sqe, len, list_cpu, list_dev);
    /* §3.3.3.1: admin commands over PCIe use PRPs; SGLs only where SGLS says. */
    if (psdt == 1 && qid != 0 && st->c.sgl)
        return nvme_dptr_sgl(ctx, st, sqe, len, list_cpu, list_dev);
    return -CAPDRV_EINVAL;
}
