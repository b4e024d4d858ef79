/* Profile of NVMe controllers (class 010802, any vendor): the register
 * window rules of BAR0 (NVMe Base 2.0 §3.1.3) and the controller state
 * machine around CC (§3.5, §3.6).
 *
 * Rules enforced, per register:
 * - CAP (8 bytes, or two 4-byte halves), VS: read only; CAP hides NSSRS,
 *   BPS, PMRS and CMBS (features whose registers are refused), and in the
 *   brokered lane caps MQES at the shadow bound;
 * - INTMS/INTMC: 4 bytes, forwarded (they only mask interrupts);
 * - CC: 4 bytes, intercepted: EN 0->1 first materialises (brokered) or
 *   validates (direct) the admin queue; EN 1->0 makes every doorbell
 *   refused until CSTS.RDY reads 0, then drops the queues and retires the
 *   in-flight buffers; SHN stops submissions;
 * - CSTS: read (a read that shows RDY 0 after EN 1->0 completes the drop);
 * - NSSR: write refused (a subsystem reset reaches other controllers);
 * - AQA, ASQ, ACQ: kept by the shim (ASQ/ACQ hold DMA references, 8 bytes
 *   or 4+4); they reach the device only at CC.EN 0->1, resolved;
 * - CMB, boot partition, NSSD, CRTO and PMR registers: refused (a CMB or
 *   boot partition buffer is DMA the shim does not broker);
 * - doorbells (PCIe Transport 1.0 §3.1.2.1 ff): 4-byte writes, for queues the shim knows,
 *   values below the queue size; an SQ tail runs the lane first;
 * - every other offset, and every BAR but 0: refused. */
#include "nvme_shim.h"

#include "../util.h"

#define PCI_CLASS_NVME 0x010802u /* Base 2.0 §3.1.2: mass storage, NVM, NVM Express */
#define STOP_POLLS 64u           /* CSTS reads after CC.EN 1->0 before answering */

static struct nvme_state *state(struct shim_profile_ctx *ctx)
{
    return ctx->g->profile_priv;
}

static bool nvme_match(const struct capdrv_pci_id *id)
{
    return id->class_code == PCI_CLASS_NVME;
}

static int reg_read(struct shim_profile_ctx *ctx, uint64_t off, unsigned width, uint64_t *v)
{
    return shim_profile_raw_read(ctx, 0, off, width, v) < 0 ? -CAPDRV_EIO : 0;
}

static int reg_write(struct shim_profile_ctx *ctx, uint64_t off, unsigned width, uint64_t v)
{
    return shim_profile_raw_write(ctx, 0, off, width, v) < 0 ? -CAPDRV_EIO : 0;
}

/* The controller is reset (CC.EN 0 and CSTS.RDY 0, §3.6.1, or an FLR):
 * nothing the profile set up is in use any more. */
static void controller_stopped(struct shim_profile_ctx *ctx, struct nvme_state *st)
{
    nvme_queues_drop(ctx, st);
    shim_profile_retire_all(ctx);
    st->enabled = st->stopping = st->shutdown = false;
}

/* After CC.EN 1->0: a CSTS value with RDY 0 (and not all ones, which is a
 * removed or hostile device) means the controller stopped. */
static void note_csts(struct shim_profile_ctx *ctx, struct nvme_state *st, uint64_t csts)
{
    if (st->stopping && csts != 0xffffffffu && !(csts & NVME_CSTS_RDY))
        controller_stopped(ctx, st);
}

static int cap_read(struct shim_profile_ctx *ctx, struct nvme_state *st, uint64_t off,
                    unsigned width, uint64_t *val)
{
    uint64_t cap;
    int rc = width == 8 ? reg_read(ctx, NVME_CAP, 8, &cap) : 0;
    if (width == 4) {
        uint64_t lo = 0, hi = 0;
        rc = reg_read(ctx, NVME_CAP, 4, &lo);
        if (rc == 0)
            rc = reg_read(ctx, NVME_CAP + 4, 4, &hi);
        cap = (lo & 0xffffffffu) | (hi << 32);
    }
    if (rc < 0)
        return rc;
    cap &= ~NVME_CAP_HIDDEN;
    /* Brokered: every queue needs shadow memory; a provider sizing its
     * queues from CAP.MQES stays inside the shim's bound. */
    if (ctx->g->lane == CAPDRV_LANE_BROKERED && NVME_CAP_MQES(cap) >= NVME_BROKERED_MAX_QSIZE)
        cap = (cap & ~0xffffull) | (NVME_BROKERED_MAX_QSIZE - 1u);
    (void)st;
    *val = width == 8 ? cap : (cap >> (off == NVME_CAP ? 0 : 32)) & 0xffffffffu;
    return 0;
}

static int cc_write(struct shim_profile_ctx *ctx, struct nvme_state *st, uint64_t v)
{
    if (v & ~(uint64_t)NVME_CC_KNOWN)
        return -CAPDRV_EINVAL; /* reserved bits, CRIME (2.0): not understood here */
    if (st->stopping) {
        uint64_t csts = 0xffffffffu;
        if (reg_read(ctx, NVME_CSTS, 4, &csts) == 0)
            note_csts(ctx, st, csts);
        if (st->stopping)
            return -CAPDRV_EBUSY; /* §3.6.1: wait for RDY 0 before writing CC again */
    }
    uint32_t cc = (uint32_t)v, iosqes = (cc >> NVME_CC_IOSQES_SHIFT) & 0xfu,
             iocqes = (cc >> NVME_CC_IOCQES_SHIFT) & 0xfu;
    /* The lanes read 64-byte SQEs in 4 KiB memory pages; other entry sizes
     * and page sizes are refused (0 = not chosen yet, while disabled). */
    if ((iosqes != 0 && iosqes != 6) || (iocqes != 0 && iocqes != 4))
        return -CAPDRV_EINVAL;
    if (!st->enabled && (cc & NVME_CC_EN)) {
        if ((cc & (NVME_CC_MPS_MASK | NVME_CC_CSS_MASK | NVME_CC_SHN_MASK)) != 0)
            return -CAPDRV_EINVAL; /* MPS 0 (4 KiB), CSS 000b (NVM), no shutdown */
        int rc = nvme_admin_enable(ctx, st);
        if (rc == 0)
            rc = reg_write(ctx, NVME_CC, 4, cc);
        if (rc < 0) {
            nvme_queues_drop(ctx, st); /* the device saw no CC.EN = 1 */
            return rc;
        }
        st->enabled = true;
        st->shutdown = false;
        st->cc = cc;
        return 0;
    }
    if (st->enabled && !(cc & NVME_CC_EN)) {
        int rc = reg_write(ctx, NVME_CC, 4, cc);
        if (rc < 0)
            return rc;
        st->cc = cc;
        /* Nothing more reaches the device; the queues go once it stopped. */
        st->stopping = true;
        for (unsigned q = 0; q <= NVME_MAX_QID; q++)
            st->sq[q].live = st->cq[q].live = false;
        for (unsigned n = 0; n < STOP_POLLS && st->stopping; n++) {
            uint64_t csts = 0xffffffffu;
            if (reg_read(ctx, NVME_CSTS, 4, &csts) < 0)
                break;
            note_csts(ctx, st, csts);
        }
        return 0;
    }
    if (st->enabled) {
        /* §3.1.3.5: only SHN changes while enabled. */
        if ((cc ^ st->cc) & ~NVME_CC_SHN_MASK)
            return -CAPDRV_EINVAL;
        if (cc & NVME_CC_SHN_MASK)
            st->shutdown = true;
    }
    int rc = reg_write(ctx, NVME_CC, 4, cc);
    if (rc == 0)
        st->cc = cc;
    return rc;
}

/* AQA/ASQ/ACQ as the provider sees them: its own values. */
static int shadow_access(struct nvme_state *st, uint64_t off, unsigned width, bool write,
                         uint64_t *val)
{
    if (off == NVME_AQA) {
        if (width != 4)
            return -CAPDRV_EINVAL;
        if (!write) {
            *val = st->aqa;
            return 0;
        }
        if (st->enabled || st->stopping)
            return -CAPDRV_EBUSY; /* used only at CC.EN 0->1 */
        if (*val & ~0x0fff0fffull)
            return -CAPDRV_EINVAL; /* §3.1.3.8 reserved bits */
        st->aqa = (uint32_t)*val;
        return 0;
    }
    uint64_t base = off < NVME_ACQ ? NVME_ASQ : NVME_ACQ;
    unsigned half = (unsigned)(off - base);
    if (!(width == 8 && half == 0) && width != 4)
        return -CAPDRV_EINVAL;
    uint64_t *r = base == NVME_ASQ ? &st->asq : &st->acq;
    if (!write) {
        *val = width == 8 ? *r : (*r >> (8 * half)) & 0xffffffffu;
        return 0;
    }
    if (st->enabled || st->stopping)
        return -CAPDRV_EBUSY;
    if (width == 8)
        *r = *val;
    else
        *r = (*r & ~(0xffffffffull << (8 * half))) | (*val << (8 * half));
    return 0;
}

static int doorbell_access(struct shim_profile_ctx *ctx, struct nvme_state *st, uint64_t off,
                           unsigned width, bool write, uint64_t val)
{
    uint64_t rel = off - NVME_DOORBELLS, idx = rel / st->c.stride;
    if (rel % st->c.stride || idx / 2 > st->c.max_qid)
        return -CAPDRV_EFAULT; /* between doorbells, or a queue id not tracked */
    if (!write)
        return -CAPDRV_EPERM; /* doorbells are write-only (PCIe Transport 1.0 §3.1.2) */
    if (width != 4)
        return -CAPDRV_EINVAL;
    unsigned qid = (unsigned)(idx / 2);
    return idx % 2 == 0 ? nvme_sq_doorbell(ctx, st, qid, val) : nvme_cq_doorbell(ctx, st, qid, val);
}

static int nvme_access(struct shim_profile_ctx *ctx, unsigned bar, uint64_t off, unsigned width,
                       bool write, uint64_t *val)
{
    struct nvme_state *st = state(ctx);
    if (bar != 0)
        return -CAPDRV_EPERM; /* MSI-X and vendor BARs: nothing a provider needs */
    if (off >= NVME_DOORBELLS)
        return doorbell_access(ctx, st, off, width, write, *val);
    switch (off) {
    case NVME_CAP:
    case NVME_CAP + 4:
        if (write)
            return -CAPDRV_EPERM;
        if (width != 4 && !(width == 8 && off == NVME_CAP))
            return -CAPDRV_EINVAL;
        return cap_read(ctx, st, off, width, val);
    case NVME_VS:
        if (write)
            return -CAPDRV_EPERM;
        return width == 4 ? SHIM_PROFILE_PASS : -CAPDRV_EINVAL;
    case NVME_INTMS:
    case NVME_INTMC:
        return width == 4 ? SHIM_PROFILE_PASS : -CAPDRV_EINVAL;
    case NVME_CC:
        if (width != 4)
            return -CAPDRV_EINVAL;
        return write ? cc_write(ctx, st, *val) : SHIM_PROFILE_PASS;
    case NVME_CSTS: {
        if (write)
            return -CAPDRV_EPERM;
        if (width != 4)
            return -CAPDRV_EINVAL;
        int rc = reg_read(ctx, NVME_CSTS, 4, val);
        if (rc == 0)
            note_csts(ctx, st, *val);
        return rc;
    }
    case NVME_NSSR:
        if (write)
            return -CAPDRV_EPERM; /* §3.7.1: resets every controller of the subsystem */
        return width == 4 ? SHIM_PROFILE_PASS : -CAPDRV_EINVAL;
    case NVME_AQA:
    case NVME_ASQ:
    case NVME_ASQ + 4:
    case NVME_ACQ:
    case NVME_ACQ + 4:
        return shadow_access(st, off, width, write, val);
    default:
        break;
    }
    if ((off >= NVME_CMBLOC && off < NVME_REGS_END) || (off >= NVME_PMRCAP && off < NVME_PMR_END))
        return -CAPDRV_EPERM; /* CMB, boot partitions, NSSD, CRTO, PMR: refused */
    return -CAPDRV_EFAULT;    /* not a register */
}

static int nvme_bind(struct shim_profile_ctx *ctx, char *why, unsigned long why_len)
{
    struct nvme_state *st = shim_profile_alloc(ctx, sizeof *st);
    if (!st)
        return -CAPDRV_ENOMEM;
    int rc = nvme_probe(ctx, st, why, why_len);
    if (rc < 0) {
        shim_profile_free(ctx, st);
        return rc;
    }
    ctx->g->profile_priv = st;
    return 0;
}

/* At shim destroy the ledger (shadows included) is already gone; at a
 * refused create no claim ever existed. Either way there is nothing to
 * free but the state. */
static void nvme_unbind(struct shim_profile_ctx *ctx)
{
    shim_profile_free(ctx, state(ctx));
    ctx->g->profile_priv = NULL;
}

/* The function was reset (FLR) or the claim ends: the controller runs
 * nothing the profile set up (hw.h: after a reset there is no DMA). */
static void nvme_forget(struct shim_profile_ctx *ctx)
{
    struct nvme_state *st = state(ctx);
    if (!st)
        return;
    controller_stopped(ctx, st);
    st->aqa = 0;
    st->asq = st->acq = 0;
    st->cc = 0;
}

/* §3.6.1: CC.EN 0 with CSTS.RDY 0 is a controller that processes nothing
 * (an all-ones read is a removed or hostile device: not idle). */
static bool nvme_idle(struct shim_profile_ctx *ctx)
{
    struct nvme_state *st = state(ctx);
    uint64_t cc = 0xffffffffu, csts = 0xffffffffu;
    if (!st || reg_read(ctx, NVME_CC, 4, &cc) < 0 || reg_read(ctx, NVME_CSTS, 4, &csts) < 0 ||
        cc == 0xffffffffu || csts == 0xffffffffu)
        return false;
    if ((cc & NVME_CC_EN) || (csts & NVME_CSTS_RDY))
        return false;
    controller_stopped(ctx, st);
    return true;
}

const struct shim_profile shim_profile_nvme = {
    .name = "nvme",
    .match = nvme_match,
    .dma = true,
    .nvme = true,
    .regmap_bar = -1,
    .idle = nvme_idle,
    .bind = nvme_bind,
    .unbind = nvme_unbind,
    .access = nvme_access,
    .forget = nvme_forget,
};
