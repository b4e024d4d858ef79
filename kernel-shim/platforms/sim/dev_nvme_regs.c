/* Simulated NVMe controller: controller registers (NVM Express Base 2.0
 * §3.1.3), the CC/CSTS state machine (enable §3.5.1, reset §3.7.2,
 * shutdown §3.6), doorbells (PCIe Transport 1.0 §3.1.2.1-2), time-driven work and the
 * sim_dev_ops table.
 *
 * Register decoding is deliberately forgiving on reads (any width inside
 * the 64-byte register image) and strict on writes (32-bit registers take
 * 32-bit writes, ASQ/ACQ also 64-bit; everything else is dropped), as the
 * spec only defines naturally sized accesses. */
#include "blk_store.h"
#include "dev_nvme.h"

#include <stdlib.h>
#include <string.h>

uint64_t nvme_page_size(const struct nvme_dev *d)
{
    return (uint64_t)4096u << NVME_CC_MPS(d->cc); /* §3.1.3.5: 2^(12 + MPS) */
}

unsigned nvme_nsq(const struct nvme_dev *d)
{
    return (d->feat.nq & 0xffffu) + 1u;
}

unsigned nvme_ncq(const struct nvme_dev *d)
{
    return (d->feat.nq >> 16) + 1u;
}

void nvme_fatal(struct nvme_dev *d)
{
    /* §3.1.3.6 CFS: set when a fatal error occurs that cannot be reported
     * in a completion queue; cleared by a controller reset. */
    d->cfs = true;
}

bool nvme_running(const struct nvme_dev *d)
{
    /* Commands are processed only with CC.EN = RDY = 1 (§3.5.1), not after
     * a fatal error, and not once a shutdown was requested (§3.6: the host
     * stops submitting; the model stops fetching). */
    return (d->cc & NVME_CC_EN) && d->rdy && !d->cfs && NVME_CC_SHN(d->cc) == 0 &&
           d->shst == NVME_SHST_NORMAL;
}

static uint64_t reg_cap(const struct nvme_dev *d)
{
    const struct capdrv_sim_nvme_config *c = &d->cfg;
    uint64_t cap = (uint64_t)(c->mqes - 1u);  /* MQES, 0's based */
    cap |= 1ull << 16;                        /* CQR: queues physically contiguous */
    cap |= (uint64_t)c->cap_to << 24;         /* TO */
    cap |= (uint64_t)c->dstrd << 32;          /* DSTRD */
    cap |= 1ull << 37;                        /* CSS bit 0: NVM command set */
    cap |= (uint64_t)NVME_MPSMAX << 52;       /* MPSMIN 0 (4 KiB), MPSMAX 64 KiB */
    return cap;
}

static uint32_t reg_csts(const struct nvme_dev *d)
{
    return (d->rdy ? NVME_CSTS_RDY : 0u) | (d->cfs ? NVME_CSTS_CFS : 0u) |
           (d->shst << NVME_CSTS_SHST_SHIFT);
}

static void image(const struct nvme_dev *d, uint8_t *r)
{
    memset(r, 0, NVME_REG_END);
    sim_le_put(r + NVME_REG_CAP, 8, reg_cap(d));
    sim_le_put(r + NVME_REG_VS, 4, NVME_VS_2_0);
    /* INTMS/INTMC: reserved with MSI-X (§3.1.3.3), read 0. NSSR: absent. */
    sim_le_put(r + NVME_REG_CC, 4, d->cc);
    sim_le_put(r + NVME_REG_CSTS, 4, reg_csts(d));
    sim_le_put(r + NVME_REG_AQA, 4, d->aqa);
    sim_le_put(r + NVME_REG_ASQ, 8, d->asq);
    sim_le_put(r + NVME_REG_ACQ, 8, d->acq);
}

static uint64_t nvme_bar0_read(struct capdrv_sim *sim, struct sim_fn *f, uint64_t off,
                               unsigned width)
{
    (void)sim;
    const struct nvme_dev *d = nvme_of(f);
    if (d->fault.kind == CAPDRV_SIM_NVME_FAULT_REMOVED)
        return width == 8 ? UINT64_MAX : (1ull << (8 * width)) - 1u; /* master abort */
    if (off >= NVME_REG_END)
        return 0; /* doorbells and reserved space read 0 */
    uint8_t r[NVME_REG_END + 8];
    image(d, r);
    memset(r + NVME_REG_END, 0, 8);
    return sim_le_get(r + off, width); /* off < 0x40, width <= 8: inside r */
}

/* ---- controller state --------------------------------------------------- */

/* Controller Level Reset (§3.7.2): queues, outstanding commands, events and
 * features go; AQA/ASQ/ACQ, the logs and the media stay. */
static void ctrl_reset(struct nvme_dev *d)
{
    memset(d->sq, 0, sizeof d->sq);
    memset(d->cq, 0, sizeof d->cq);
    d->n_ioq = 0;
    nvme_pool_clear(d);
    d->n_events = 0;
    nvme_features_default(d);
    d->cfs = false;
    d->shst = NVME_SHST_NORMAL;
    d->shst_target = NVME_SHST_NORMAL;
}

static void set_rdy(struct capdrv_sim *sim, struct nvme_dev *d, bool rdy)
{
    d->rdy_target = rdy;
    if (d->cfg.ready_delay_ns == 0) {
        d->rdy = rdy;
        d->rdy_due = SIM_NEVER;
    } else {
        d->rdy_due = sim_sat_add(sim->now_ns, d->cfg.ready_delay_ns);
    }
}

/* §3.5.1 step 5/6 and §3.1.4.5: the values the controller must accept. */
static bool config_ok(const struct nvme_dev *d)
{
    uint32_t cc = d->cc;
    unsigned sqes = NVME_CC_IOSQES(cc), cqes = NVME_CC_IOCQES(cc);
    unsigned asqs = d->aqa & 0xfffu, acqs = (d->aqa >> 16) & 0xfffu;
    return NVME_CC_CSS(cc) == 0 && NVME_CC_MPS(cc) <= NVME_MPSMAX && NVME_CC_AMS(cc) == 0 &&
           (sqes == 0 || sqes == 6) && (cqes == 0 || cqes == 4) && asqs >= 1 && acqs >= 1;
}

static void enable(struct capdrv_sim *sim, struct nvme_dev *d)
{
    ctrl_reset(d);
    if (!config_ok(d)) {
        nvme_fatal(d);
        return;
    }
    /* The admin queue pair as AQA/ASQ/ACQ describe it (§3.5.1 step 4). */
    d->sq[0] = (struct nvme_sq){.valid = true,
                                .base = d->asq,
                                .size = (uint16_t)((d->aqa & 0xfffu) + 1u),
                                .cqid = 0};
    d->cq[0] = (struct nvme_cq){.valid = true,
                                .ien = true,
                                .phase = true,
                                .base = d->acq,
                                .size = (uint16_t)(((d->aqa >> 16) & 0xfffu) + 1u),
                                .iv = 0,
                                .users = 1};
    if (d->fault.kind == CAPDRV_SIM_NVME_FAULT_NEVER_READY) {
        d->rdy_due = SIM_NEVER;
        return;
    }
    set_rdy(sim, d, true);
}

static void write_cc(struct capdrv_sim *sim, struct nvme_dev *d, uint32_t v)
{
    v &= NVME_CC_WMASK;
    bool was = d->cc & NVME_CC_EN, now = v & NVME_CC_EN;
    if (was && now) {
        /* Other fields are frozen while enabled; SHN starts a shutdown. */
        unsigned old_shn = NVME_CC_SHN(d->cc);
        d->cc = (d->cc & ~(3u << 14)) | (v & (3u << 14));
        if (NVME_CC_SHN(v) != 0 && old_shn == 0 && d->shst == NVME_SHST_NORMAL) {
            /* §3.6.1: SHST 01b while shutdown processing occurs, then 10b. */
            if (d->cfg.ready_delay_ns == 0) {
                d->shst = NVME_SHST_COMPLETE;
            } else {
                d->shst = NVME_SHST_OCCURRING;
                d->shst_target = NVME_SHST_COMPLETE;
                d->shst_due = sim_sat_add(sim->now_ns, d->cfg.ready_delay_ns);
            }
        }
        return;
    }
    d->cc = v;
    if (!was && now) {
        enable(sim, d);
    } else if (was && !now) {
        ctrl_reset(d);
        d->shst_due = SIM_NEVER;
        set_rdy(sim, d, false);
    }
}

/* ---- doorbells ----------------------------------------------------------- */

static void doorbell(struct capdrv_sim *sim, struct sim_fn *f, uint64_t off, uint32_t val)
{
    struct nvme_dev *d = nvme_of(f);
    uint64_t stride = 4u << d->cfg.dstrd; /* PCIe Transport 1.0 §3.1.2.1: 2^(2 + DSTRD) bytes */
    uint64_t rel = off - NVME_DB_BASE;
    if (rel % stride != 0 || !nvme_running(d))
        return;
    if (d->fault.kind == CAPDRV_SIM_NVME_FAULT_CFS) {
        if (d->fault.count > 0 && --d->fault.count == 0)
            d->fault.kind = CAPDRV_SIM_NVME_FAULT_NONE;
        nvme_fatal(d);
        return;
    }
    uint64_t idx = rel / stride, y = idx / 2;
    bool is_cq = idx & 1u;
    if (y >= NVME_MAX_QUEUES || !(is_cq ? d->cq[y].valid : d->sq[y].valid)) {
        /* §5.2 (Figure "Error Status codes"): Write to Invalid Doorbell Register. */
        nvme_event(sim, f, NVME_AE_ERROR, NVME_AE_INFO_BAD_DB, NVME_LOG_ERROR);
        return;
    }
    d->stats.doorbells++;
    if (is_cq) {
        struct nvme_cq *q = &d->cq[y];
        /* PCIe Transport 1.0 §3.1.2.2: the new head must be inside the queue and may only
         * release entries the controller has posted. */
        uint32_t posted = (uint32_t)(q->tail + q->size - q->head) % q->size;
        uint32_t adv = val < q->size ? (uint32_t)(val + q->size - q->head) % q->size : UINT32_MAX;
        if (adv > posted) {
            nvme_event(sim, f, NVME_AE_ERROR, NVME_AE_INFO_BAD_DB_VALUE, NVME_LOG_ERROR);
            return;
        }
        q->head = (uint16_t)val;
        nvme_drain_cq(sim, f, (uint16_t)y);
    } else {
        struct nvme_sq *q = &d->sq[y];
        if (val >= q->size) {
            nvme_event(sim, f, NVME_AE_ERROR, NVME_AE_INFO_BAD_DB_VALUE, NVME_LOG_ERROR);
            return;
        }
        q->tail = (uint16_t)val;
    }
    nvme_run_queues(sim, f);
}

static void nvme_bar0_write(struct capdrv_sim *sim, struct sim_fn *f, uint64_t off, unsigned width,
                            uint64_t val)
{
    struct nvme_dev *d = nvme_of(f);
    if (d->fault.kind == CAPDRV_SIM_NVME_FAULT_REMOVED)
        return;
    if (off >= NVME_DB_BASE) {
        if (width == 4) /* doorbells are 32-bit registers */
            doorbell(sim, f, off, (uint32_t)val);
        return;
    }
    bool enabled = d->cc & NVME_CC_EN;
    uint64_t amask = ~0xfffull; /* ASQ/ACQ bits 11:0 are reserved (§3.1.3.9-10) */
    if (width == 8) {
        if (enabled)
            return;
        if (off == NVME_REG_ASQ)
            d->asq = val & amask;
        else if (off == NVME_REG_ACQ)
            d->acq = val & amask;
        return;
    }
    if (width != 4)
        return;
    uint32_t v = (uint32_t)val;
    switch (off) {
    case NVME_REG_CC:
        write_cc(sim, d, v);
        return;
    case NVME_REG_AQA:
        if (!enabled)
            d->aqa = v & 0x0fff0fffu;
        return;
    case NVME_REG_ASQ:
    case NVME_REG_ASQ + 4:
    case NVME_REG_ACQ:
    case NVME_REG_ACQ + 4: {
        if (enabled)
            return;
        uint64_t *r = off < NVME_REG_ACQ ? &d->asq : &d->acq;
        if (off % 8 == 0)
            *r = ((*r & 0xffffffff00000000ull) | v) & amask;
        else
            *r = (*r & 0xffffffffull) | ((uint64_t)v << 32);
        return;
    }
    default:
        return; /* CAP, VS, CSTS read-only; INTMS/INTMC reserved; NSSR absent */
    }
}

/* ---- time ------------------------------------------------------------------ */

static uint64_t nvme_next_event(const struct sim_fn *f)
{
    const struct nvme_dev *d = nvme_of(f);
    uint64_t t = nvme_pool_next(d);
    if (d->rdy_due < t)
        t = d->rdy_due;
    if (d->shst_due < t)
        t = d->shst_due;
    return t;
}

static void nvme_run_event(struct capdrv_sim *sim, struct sim_fn *f)
{
    struct nvme_dev *d = nvme_of(f);
    if (d->rdy_due <= sim->now_ns) {
        d->rdy_due = SIM_NEVER;
        d->rdy = d->rdy_target;
        return;
    }
    if (d->shst_due <= sim->now_ns) {
        d->shst_due = SIM_NEVER;
        d->shst = d->shst_target;
        return;
    }
    nvme_pool_run(sim, f);
}

/* ---- lifecycle ------------------------------------------------------------- */

static void nvme_destroy(struct sim_fn *f)
{
    struct nvme_dev *d = nvme_of(f);
    if (!d)
        return;
    for (unsigned i = 0; i < CAPDRV_SIM_NVME_MAX_NS; i++)
        sim_blk_store_close(d->ns[i].store);
    free(d->segs);
    free(d->bounce);
    free(d);
    f->dev_state = NULL;
}

static void power_on(struct nvme_dev *d)
{
    ctrl_reset(d);
    d->cc = 0;
    d->aqa = 0;
    d->asq = d->acq = 0;
    d->rdy = d->rdy_target = false;
    d->rdy_due = SIM_NEVER;
    d->shst_due = SIM_NEVER;
}

static int open_ns(struct nvme_ns *ns, const struct capdrv_sim_nvme_ns_config *c)
{
    ns->lbads = c->lba_shift;
    unsigned to_sectors = c->lba_shift - 9u; /* blk_store counts 512-byte sectors */
    if (!c->backing_file) {
        ns->nlba = c->lba_count;
        return sim_blk_store_open_mem(ns->nlba << c->lba_shift, &ns->store);
    }
    uint64_t sectors = c->lba_count << to_sectors;
    int rc = sim_blk_store_open_file(c->backing_file, &sectors, &ns->store);
    if (rc < 0)
        return rc;
    ns->nlba = sectors >> to_sectors;
    return ns->nlba == 0 ? -CAPDRV_EINVAL : 0; /* smaller than one block */
}

static int nvme_init(struct sim_fn *f)
{
    const struct capdrv_sim_nvme_config *c = f->init_arg; /* normalised by the caller */
    struct nvme_dev *d = calloc(1, sizeof *d);
    if (!d)
        return -CAPDRV_ENOMEM;
    f->dev_state = d;
    d->cfg = *c;
    for (unsigned i = 0; i < CAPDRV_SIM_NVME_MAX_NS; i++)
        d->cfg.ns[i].backing_file = NULL; /* the caller's storage: not kept */
    d->nns = c->n_namespaces;
    int rc = 0;
    d->segs = calloc(NVME_MAX_SEGS, sizeof *d->segs);
    d->bounce = malloc(NVME_BOUNCE);
    if (!d->segs || !d->bounce)
        rc = -CAPDRV_ENOMEM;
    for (unsigned i = 0; rc == 0 && i < d->nns; i++)
        rc = open_ns(&d->ns[i], &c->ns[i]);
    if (rc < 0) {
        nvme_destroy(f);
        return rc;
    }
    d->fault.kind = CAPDRV_SIM_NVME_FAULT_NONE;
    power_on(d);
    return 0;
}

static void nvme_reset(struct sim_fn *f)
{
    /* FLR (PCIe Base 4.0 §6.6.2; NVMe Base 2.0 §3.7.3): a controller reset
     * plus every register to its power-on value. */
    power_on(nvme_of(f));
}

const struct sim_dev_ops sim_dev_nvme = {
    .name = "nvme",
    .init = nvme_init,
    .bar0_read = nvme_bar0_read,
    .bar0_write = nvme_bar0_write,
    .reset = nvme_reset,
    .next_event = nvme_next_event,
    .run_event = nvme_run_event,
    .destroy = nvme_destroy,
};
