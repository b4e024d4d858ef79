/* The bind-time probe (NVMe Base 2.0 §3.5.1 initialisation, §5.17
 * Identify). The brokered lane must know a command's transfer length
 * without asking the provider: for Read/Write it is (NLB+1) x the
 * namespace's LBA data size, and the length decides what PRP2 means. So
 * before any provider exists the shim runs the controller itself, with an
 * admin queue and an Identify page in shim-owned memory:
 *
 *   disable (CC.EN 0, CSTS.RDY 0 within CAP.TO), AQA/ASQ/ACQ, enable,
 *   Identify Controller (MDTS, NN, SGLS, SQES/CQES), Identify active NSID
 *   list (CNS 02h; if refused, NSIDs 1..NN), Identify Namespace for each
 *   (LBA format: data size, metadata size, extended or not), disable.
 *
 * Everything the device returns is untrusted: CAP fields, CSTS, every
 * Identify byte. Values out of range refuse the manifest (the controller is
 * not one the lanes can be enforced on) or, for one namespace, leave that
 * namespace out (its NSID is then refused). Waits are bounded: CAP.TO for
 * readiness, a fixed budget per command; time passes through the
 * platform's irq_wait (simulated time on the sim). */
#include "nvme_shim.h"

#include "../util.h"

#define PCI_COMMAND 0x04
#define PCI_COMMAND_MEM_MASTER 0x0006u
#define PROBE_Q 4u                 /* admin queue entries during the probe */
#define NAP_NS 1000000ull          /* 1 ms slices */
#define CMD_NAPS 1000u             /* a command gets 1 s */
#define STOP_NAPS_MIN 100u
#define LBADS_MIN 9u               /* NVM 1.0 §4.1.5.1: 512 B ... */
#define LBADS_MAX 16u              /* ... 64 KiB: what the shim accepts */
#define MDTS_CAP_SHIFT 9u          /* 4 KiB << 9 = 2 MiB = NVME_MAX_XFER */

/* Memory: page 0 the admin SQ, page 1 the admin CQ, page 2 Identify data. */
enum { PG_SQ = 0, PG_CQ = 1, PG_DATA = 2, PROBE_PAGES = 3 };

struct probe {
    struct shim_profile_ctx *ctx;
    struct nvme_state *st;
    volatile uint8_t *mem;
    uint64_t dev;
    uint16_t sq_tail, cq_head, cid;
    uint8_t phase;
    char *why;
    unsigned long why_len;
};

static int refuse(struct probe *p, int rc, const char *msg)
{
    shim_str_set(p->why, p->why_len, "grant ", p->ctx->g->m->name);
    shim_str_append(p->why, p->why_len, ": nvme: ");
    shim_str_append(p->why, p->why_len, msg);
    return rc;
}

static int rd(struct probe *p, uint64_t off, uint32_t *v)
{
    uint64_t x = 0;
    int rc = shim_profile_raw_read(p->ctx, 0, off, 4, &x);
    *v = (uint32_t)x;
    return rc < 0 ? -CAPDRV_EIO : 0;
}

static int wr(struct probe *p, uint64_t off, uint32_t v)
{
    return shim_profile_raw_write(p->ctx, 0, off, 4, v) < 0 ? -CAPDRV_EIO : 0;
}

/* Wait until CSTS.RDY == @want, at most @naps slices. */
static int wait_ready(struct probe *p, uint32_t want, uint32_t naps)
{
    for (uint32_t n = 0;; n++) {
        uint32_t csts;
        int rc = rd(p, NVME_CSTS, &csts);
        if (rc < 0)
            return rc;
        if (csts == 0xffffffffu)
            return -CAPDRV_EIO; /* removed, or not answering */
        if ((csts & NVME_CSTS_CFS) && want)
            return -CAPDRV_EIO; /* §3.1.3.6: fatal status */
        if ((csts & NVME_CSTS_RDY) == want)
            return 0;
        if (n >= naps)
            return -CAPDRV_ETIMEDOUT;
        shim_profile_nap(p->ctx, NAP_NS);
    }
}

/* CAP.TO is in 500 ms units (§3.1.3.1); at least one slice. */
static uint32_t to_naps(const struct probe *p)
{
    uint32_t to = NVME_CAP_TO(p->st->c.cap);
    return to ? to * 500u : 1u;
}

/* One admin command, waited for; returns 0, the device's nonzero status
 * (positive), or a negative error. */
static int command(struct probe *p, uint8_t opc, uint32_t nsid, uint32_t cdw10)
{
    volatile uint8_t *sqe = p->mem + PG_SQ * NVME_PAGE + (uint64_t)p->sq_tail * NVME_SQE;
    uint16_t cid = ++p->cid;
    for (unsigned i = 0; i < NVME_SQE; i++)
        sqe[i] = 0;
    sqe[0] = opc;
    nvme_le_put(sqe + 2, 2, cid);
    nvme_le_put(sqe + 4, 4, nsid);
    nvme_le_put(sqe + 24, 8, p->dev + PG_DATA * NVME_PAGE); /* PRP1: one whole page */
    nvme_le_put(sqe + 40, 4, cdw10);
    for (unsigned i = 0; i < NVME_PAGE; i++)
        p->mem[PG_DATA * NVME_PAGE + i] = 0;
    p->sq_tail = (uint16_t)((p->sq_tail + 1u) % PROBE_Q);
    __atomic_thread_fence(__ATOMIC_SEQ_CST); /* §3.3.1.2: SQE before the doorbell */
    int rc = wr(p, NVME_DOORBELLS, p->sq_tail);
    if (rc < 0)
        return rc;
    volatile uint8_t *cqe = p->mem + PG_CQ * NVME_PAGE + (uint64_t)p->cq_head * NVME_CQE;
    for (uint32_t n = 0; (nvme_le(cqe + 14, 2) & 1u) != p->phase; n++) {
        if (n >= CMD_NAPS)
            return -CAPDRV_ETIMEDOUT;
        shim_profile_nap(p->ctx, NAP_NS);
    }
    __atomic_thread_fence(__ATOMIC_ACQUIRE); /* the entry after its phase tag */
    uint16_t status = (uint16_t)nvme_le(cqe + 14, 2), got_cid = (uint16_t)nvme_le(cqe + 12, 2);
    uint16_t sqid = (uint16_t)nvme_le(cqe + 10, 2);
    p->cq_head = (uint16_t)((p->cq_head + 1u) % PROBE_Q);
    if (p->cq_head == 0)
        p->phase ^= 1u;
    /* PCIe Transport 1.0 §3.1.2.2: CQ 0 head doorbell, one stride (4 << CAP.DSTRD) after SQ 0 tail. */
    if ((rc = wr(p, NVME_DOORBELLS + p->st->c.stride, p->cq_head)) < 0)
        return rc;
    if (got_cid != cid || sqid != 0)
        return -CAPDRV_EPROTO; /* §3.3.3.2: a completion for something we never sent */
    return (status >> 1) ? (int)(status >> 1) : 0;
}

static uint64_t data_le(const struct probe *p, unsigned off, unsigned n)
{
    return nvme_le(p->mem + PG_DATA * NVME_PAGE + off, n);
}

/* Base 2.0 §3.1.3.1: CAP as the lanes need it. */
static int check_cap(struct probe *p)
{
    struct nvme_ctrl *c = &p->st->c;
    uint32_t lo, hi;
    int rc;
    if ((rc = rd(p, NVME_CAP, &lo)) < 0 || (rc = rd(p, NVME_CAP + 4, &hi)) < 0)
        return refuse(p, rc, "cannot read CAP");
    c->cap = lo | (uint64_t)hi << 32;
    if (c->cap == ~0ull)
        return refuse(p, -CAPDRV_EIO, "CAP reads all ones (device not answering)");
    if (!(c->cap & NVME_CAP_CSS_NVM))
        return refuse(p, -CAPDRV_ENOTSUP, "CAP.CSS lacks the NVM command set");
    if (NVME_CAP_MPSMIN(c->cap) != 0)
        return refuse(p, -CAPDRV_ENOTSUP, "CAP.MPSMIN above 4 KiB pages");
    if (NVME_CAP_MQES(c->cap) == 0)
        return refuse(p, -CAPDRV_EPROTO, "CAP.MQES 0 (queues need two entries)");
    c->mqes = NVME_CAP_MQES(c->cap) + 1u;
    unsigned dstrd = NVME_CAP_DSTRD(c->cap);
    uint64_t bar = p->ctx->g->fn.bar_size[0];
    if (dstrd > 10)
        return refuse(p, -CAPDRV_EPROTO, "CAP.DSTRD out of range");
    c->stride = 4u << dstrd;
    /* The admin pair's doorbells must lie inside BAR0; I/O queue ids are
     * tracked as far as their doorbells do too. */
    if (bar < NVME_DOORBELLS || (bar - NVME_DOORBELLS) / (2u * c->stride) < 1)
        return refuse(p, -CAPDRV_EPROTO, "BAR0 too small for the admin doorbells");
    uint64_t pairs = (bar - NVME_DOORBELLS) / (2u * c->stride);
    c->max_qid = pairs - 1u < NVME_MAX_QID ? (unsigned)(pairs - 1u) : NVME_MAX_QID;
    return 0;
}

/* Identify Controller (Base 2.0 §5.17.2.1). */
static int identify_ctrl(struct probe *p)
{
    struct nvme_ctrl *c = &p->st->c;
    int rc = command(p, 0x06, 0, 0x01);
    if (rc != 0)
        return refuse(p, rc < 0 ? rc : -CAPDRV_EIO, "Identify Controller failed");
    unsigned sqes = (unsigned)data_le(p, 512, 1), cqes = (unsigned)data_le(p, 513, 1);
    /* SQES/CQES: required (3:0) <= size <= maximum (7:4). */
    if ((sqes & 0xfu) > 6 || (sqes >> 4) < 6 || (cqes & 0xfu) > 4 || (cqes >> 4) < 4)
        return refuse(p, -CAPDRV_ENOTSUP, "controller lacks 64-byte SQEs / 16-byte CQEs");
    unsigned mdts = (unsigned)data_le(p, 77, 1);
    /* MDTS: 2^n minimum pages (MPSMIN is 0: 4 KiB); 0 means no limit. */
    c->max_xfer = mdts == 0 || mdts >= MDTS_CAP_SHIFT ? NVME_MAX_XFER : (uint64_t)NVME_PAGE << mdts;
    c->nn = (uint32_t)data_le(p, 516, 4);
    c->sgl = (data_le(p, 536, 4) & 0x3u) != 0;
    return 0;
}

/* Identify Namespace (NVM 1.0 §4.1.5.1) for @nsid; records it when its LBA
 * format is one the lanes can size transfers with. */
static int identify_ns(struct probe *p, uint32_t nsid)
{
    struct nvme_ctrl *c = &p->st->c;
    int rc = command(p, 0x06, nsid, 0x00);
    if (rc < 0)
        return refuse(p, rc, "Identify Namespace failed");
    if (rc > 0)
        return 0; /* the device refuses it: the shim refuses its NSID too */
    uint64_t nsze = data_le(p, 0, 8);
    unsigned nlbaf = (unsigned)data_le(p, 25, 1), flbas = (unsigned)data_le(p, 26, 1);
    unsigned fmt = (flbas & 0xfu) | ((flbas >> 5) & 0x3u) << 4; /* §4.1.5.1: FLBAS 6:5, 3:0 */
    if (nsze == 0 || fmt > nlbaf || fmt >= 64)
        return 0; /* inactive, or a format index outside the table */
    uint32_t lbaf = (uint32_t)data_le(p, 128 + 4 * fmt, 4);
    unsigned lbads = (lbaf >> 16) & 0xffu;
    if (lbads < LBADS_MIN || lbads > LBADS_MAX || c->n_ns >= NVME_MAX_NS)
        return 0;
    c->ns[c->n_ns++] = (struct nvme_ns){
        .nsid = nsid, .lbads = (uint8_t)lbads, .ms = (uint16_t)(lbaf & 0xffffu),
        .ext = (flbas & 0x10u) != 0};
    return 0;
}

/* Identify active NSID list (Base 2.0 §5.17.2.2, CNS 02h): increasing,
 * non-zero, at most NN, ended by 0 or the end of the page. */
static int namespaces(struct probe *p)
{
    struct nvme_ctrl *c = &p->st->c;
    uint32_t list[NVME_MAX_NS], n = 0;
    int rc = command(p, 0x06, 0, 0x02);
    if (rc < 0)
        return refuse(p, rc, "Identify active namespace list failed");
    if (rc > 0) {
        /* NVMe 1.0 controllers: NSIDs 1..NN, inactive ones read NSZE 0. */
        for (uint32_t id = 1; id <= c->nn && n < NVME_MAX_NS; id++)
            list[n++] = id;
    } else {
        uint32_t prev = 0;
        for (unsigned i = 0; i < NVME_PAGE / 4u; i++) {
            uint32_t id = (uint32_t)data_le(p, 4 * i, 4);
            if (id == 0)
                break;
            if (id <= prev || id > c->nn || id == 0xffffffffu)
                return refuse(p, -CAPDRV_EPROTO, "malformed active namespace list");
            prev = id;
            if (n < NVME_MAX_NS)
                list[n++] = id; /* more are left out: their NSIDs are refused */
        }
    }
    for (uint32_t i = 0; i < n; i++)
        if ((rc = identify_ns(p, list[i])) < 0)
            return rc;
    return 0;
}

static int run(struct probe *p)
{
    int rc = check_cap(p);
    if (rc < 0)
        return rc;
    /* §3.5.1: disable, wait for RDY 0, program the admin queue, enable. */
    if ((rc = wr(p, NVME_CC, 0)) < 0 || (rc = wait_ready(p, 0, to_naps(p))) < 0)
        return refuse(p, rc, "controller did not become disabled (CSTS.RDY) within CAP.TO");
    uint64_t sq = p->dev + PG_SQ * NVME_PAGE, cq = p->dev + PG_CQ * NVME_PAGE;
    uint32_t cc = NVME_CC_EN | 6u << NVME_CC_IOSQES_SHIFT | 4u << NVME_CC_IOCQES_SHIFT;
    if ((rc = wr(p, NVME_AQA, (PROBE_Q - 1u) << 16 | (PROBE_Q - 1u))) < 0 ||
        (rc = wr(p, NVME_ASQ, (uint32_t)sq)) < 0 || (rc = wr(p, NVME_ASQ + 4, (uint32_t)(sq >> 32))) < 0 ||
        (rc = wr(p, NVME_ACQ, (uint32_t)cq)) < 0 || (rc = wr(p, NVME_ACQ + 4, (uint32_t)(cq >> 32))) < 0 ||
        (rc = wr(p, NVME_CC, cc)) < 0)
        return refuse(p, rc, "cannot program the admin queue");
    if ((rc = wait_ready(p, 1, to_naps(p))) < 0)
        return refuse(p, rc, "controller did not become ready (CSTS.RDY) within CAP.TO");
    p->phase = 1; /* §3.3.3.2: the first pass through a CQ has phase 1 */
    if ((rc = identify_ctrl(p)) < 0)
        return rc;
    return namespaces(p);
}

int nvme_probe(struct shim_profile_ctx *ctx, struct nvme_state *st, char *why,
               unsigned long why_len)
{
    struct probe p = {.ctx = ctx, .st = st, .why = why, .why_len = why_len};
    struct shim_grant *g = ctx->g;
    if (!(g->fn.bar_flags[0] & CAPDRV_HW_BAR_MEM))
        return refuse(&p, -CAPDRV_ENODEV, "BAR0 is not a memory BAR");
    /* The grant's IOVA allocator starts at the claim; the probe's memory is
     * mapped (and gone) before any claim. */
    if (g->lane == CAPDRV_LANE_DIRECT && g->next_iova < g->iova_base)
        g->next_iova = g->iova_base;
    uint32_t index;
    void *cpu;
    int rc = shim_profile_shadow_alloc(ctx, PROBE_PAGES * NVME_PAGE, &index, &cpu, &p.dev);
    if (rc < 0)
        return refuse(&p, rc, "no DMA memory for the probe (the lanes need it)");
    p.mem = cpu;
    uint32_t command_reg = 0;
    rc = shim_profile_cfg_read(ctx, PCI_COMMAND, 2, &command_reg) < 0 ? -CAPDRV_EIO : 0;
    if (rc == 0 && shim_profile_cfg_write(ctx, PCI_COMMAND, 2,
                                          command_reg | PCI_COMMAND_MEM_MASTER) < 0)
        rc = -CAPDRV_EIO;
    if (rc < 0)
        refuse(&p, rc, "cannot enable the function for the probe");
    else
        rc = run(&p);
    /* Leave the controller disabled, and stopped before its memory goes:
     * if it will not stop, a function reset; if that fails, the grant is
     * DMA-unsafe and the memory is quarantined, never reused. */
    if (p.st->c.stride) {
        uint32_t naps = p.st->c.cap ? to_naps(&p) : STOP_NAPS_MIN;
        if (wr(&p, NVME_CC, 0) < 0 || wait_ready(&p, 0, naps) < 0)
            (void)shim_profile_function_reset(ctx);
    }
    (void)shim_profile_cfg_write(ctx, PCI_COMMAND, 2, command_reg);
    shim_profile_shadow_free(ctx, index);
    if (rc < 0)
        st->c = (struct nvme_ctrl){0};
    return rc;
}
