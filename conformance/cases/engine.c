/* The DMA engine of the authority, dma and irq cases (engine.h): dmatest
 * where the platform has it, else an NVMe controller driven through
 * capdrv/nvme.h. */
#include "engine.h"

#include <capdrv/dev/dmatest.h>
#include <capdrv/nvme.h>

#include <string.h>

#define NVME_SCRATCH_LBA 2048u         /* past every LBA the nvme.* cases use (< 1100) */
#define NVME_STAGE_BYTES (64u * 1024u) /* largest fill or sum, rounded up to blocks */
#define NVME_SPILL_BYTES 4096u         /* tail of a last block beyond the range */
#define NVME_WAIT_SLICES 100000        /* of 0.1 ms: TCG guests are slow */
#define DMATEST_POLLS 1000             /* as the dmatest cases always polled */

const char *conf_engine_grant(struct conf_ctx *c)
{
    static const char *const order[] = {"dev", "nvme"};
    if (!c->plat->grants)
        return order[0];
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        for (const char *const *g = c->plat->grants; *g; g++)
            if (!strcmp(*g, order[i]))
                return order[i];
    return NULL;
}

static void drain_irq(struct conf_engine *e)
{
    uint64_t ready;
    for (int i = 0; i < 64 && capdrv_irq_wait(e->c->conf, &e->irq, 1, 0, &ready) == 1; i++)
        (void)capdrv_irq_ack(e->c->conf, e->irq);
}

static bool nvme_up(struct conf_ctx *c, struct conf_engine *e)
{
    /* Polling: I/O completion queues without interrupts (IEN = 0); the
     * admin queue still interrupts on vector 0 when the case holds it. */
    struct capdrv_nvme_ctrl_opts o = {.pool = e->pool, .io_queues = 1, .polling = true};
    /* When the case holds vector 0 the library sleeps on another vector
     * of the grant (capdrv/nvme.h, "Time"), so its deadlines stay real. */
    char why[256] = "";
    int rc = capdrv_nvme_ctrl_open(c->conf, e->g, &o, &e->ctrl, why, sizeof why);
    if (rc < 0)
        return conf_fail(c, __FILE__, __LINE__, "NVMe engine: controller open: %s (%s)",
                         capdrv_strerror(rc), why);
    struct capdrv_nvme_ctrl_info ci;
    struct capdrv_nvme_ns_info ns;
    if ((rc = capdrv_nvme_ctrl_info(e->ctrl, &ci)) < 0 ||
        (rc = capdrv_nvme_ns_info(e->ctrl, 1, &ns)) < 0)
        return conf_fail(c, __FILE__, __LINE__, "NVMe engine: namespace 1: %s", capdrv_strerror(rc));
    if (ns.extended || ns.ms || ns.lba_size > NVME_SPILL_BYTES ||
        ns.lba_count < NVME_SCRATCH_LBA + NVME_STAGE_BYTES / ns.lba_size)
        return conf_fail(c, __FILE__, __LINE__, "NVMe engine: namespace 1 too small or with metadata");
    e->nsid = ns.nsid;
    e->bs = ns.lba_size;
    struct capdrv_nvme_qpair_opts qo = {.depth = 8, .polling = true, .sgl = ci.sgl,
                                        .max_xfer = NVME_STAGE_BYTES + NVME_SPILL_BYTES};
    if ((rc = capdrv_nvme_qpair_create(e->ctrl, &qo, &e->qp)) < 0)
        return conf_fail(c, __FILE__, __LINE__, "NVMe engine: queue pair: %s", capdrv_strerror(rc));
    struct capdrv_nvme_qpair_info qi;
    if ((rc = capdrv_nvme_qpair_info(e->qp, &qi)) < 0)
        return conf_fail(c, __FILE__, __LINE__, "NVMe engine: queue pair info: %s", capdrv_strerror(rc));
    e->sgl = qi.sgl;
    /* SGLS bits 1:0 = 10b: Data Blocks dword aligned and sized (Base 2.0 §5.17.2.1). */
    if (e->sgl && (ci.sgls & 3u) == 2u)
        e->sgl = false; /* then only ranges PRPs could express too (nvme_segs()) */
    if (capdrv_dma_alloc(c->conf, e->pool, NVME_STAGE_BYTES, &e->stage_buf, &e->stage) < 0 ||
        capdrv_dma_alloc(c->conf, e->pool, NVME_SPILL_BYTES, &e->spill_buf, &e->spill) < 0)
        return conf_fail(c, __FILE__, __LINE__, "NVMe engine: cannot allocate its buffers");
    if (e->irq != CAPDRV_CAP_INVALID)
        drain_irq(e); /* bring-up's admin completions are not the case's */
    return true;
}

bool conf_engine_open(struct conf_ctx *c, struct conf_engine *e, unsigned flags)
{
    memset(e, 0, sizeof *e);
    e->c = c;
    e->g = e->m = e->pool = e->irq = CAPDRV_CAP_INVALID;
    e->grant = conf_engine_grant(c);
    if (!e->grant) {
        conf_skip(c, "platform %s has no DMA engine grant (\"dev\" or \"nvme\")", c->plat->name);
        c->absent = true;
        return false;
    }
    e->kind = !strcmp(e->grant, "dev") ? CONF_ENGINE_DMATEST : CONF_ENGINE_NVME;
    e->g = conf_open(c, c->conf, e->grant);
    if (e->g == CAPDRV_CAP_INVALID)
        return false;
    /* The NVMe library opens window 0 itself, and the shim's NVMe profile
     * lets one capability at a time hold it. */
    bool window = e->kind == CONF_ENGINE_DMATEST || (flags & CONF_ENGINE_REGS);
    if ((window && capdrv_mmio_open(c->conf, e->g, 0, &e->m) < 0) ||
        capdrv_pool_open(c->conf, e->g, &e->pool) < 0)
        return conf_fail(c, __FILE__, __LINE__, "cannot open window 0 or the pool of \"%s\"", e->grant);
    /* Before the NVMe library opens vector 0 for its admin queue. */
    if ((flags & CONF_ENGINE_IRQ) && capdrv_irq_open(c->conf, e->g, 0, &e->irq) < 0)
        return conf_fail(c, __FILE__, __LINE__, "cannot open vector 0 of \"%s\"", e->grant);
    if (e->kind == CONF_ENGINE_NVME && !(flags & CONF_ENGINE_REGS))
        return nvme_up(c, e);
    return true;
}

void conf_engine_close(struct conf_engine *e)
{
    (void)conf_engine_unhold(e); /* the platform's, whatever became of the grant */
    if (e->orphaned)
        return;
    capdrv_nvme_qpair_destroy(e->qp);
    capdrv_nvme_ctrl_close(e->ctrl);
    e->qp = NULL;
    e->ctrl = NULL;
}

int conf_engine_park(struct conf_engine *e)
{
    if (e->kind == CONF_ENGINE_DMATEST || e->m != CAPDRV_CAP_INVALID)
        return 0;
    capdrv_nvme_qpair_destroy(e->qp);
    capdrv_nvme_ctrl_close(e->ctrl);
    e->qp = NULL;
    e->ctrl = NULL;
    return capdrv_mmio_open(e->c->conf, e->g, 0, &e->m);
}

void conf_engine_orphan(struct conf_engine *e)
{
    /* Closing would touch the dead capabilities, the freed capdrv_sys of a
     * closed provider, or queue memory already unmapped: abandon frees the
     * handle without any of that. */
    capdrv_nvme_ctrl_abandon(e->ctrl);
    e->orphaned = true;
    e->qp = NULL;
    e->ctrl = NULL;
}

int conf_engine_regs(struct conf_engine *e, struct conf_engine_regs *r)
{
    memset(r, 0, sizeof *r);
    if (e->kind == CONF_ENGINE_DMATEST) {
        r->id = CAPDRV_DMATEST_ID;
        r->id_value = CAPDRV_DMATEST_ID_VALUE;
        r->beyond = 0x200;
        r->addr = CAPDRV_DMATEST_ADDR;
        for (uint64_t reg = 0; reg <= CAPDRV_DMATEST_DELAY_NS; reg += 4) {
            r->scan[r->n_scan].off = reg;
            r->scan[r->n_scan++].width = reg == CAPDRV_DMATEST_ADDR ? 8 : 4;
            if (reg == CAPDRV_DMATEST_ADDR)
                reg += 4;
        }
        return 0;
    }
    /* NVMe Base 2.0 §3.1.4: CAP 0x00, VS 0x08 (read-only), INTMS 0x0c,
     * CC 0x14, CSTS 0x1c, AQA 0x24, ASQ 0x28, ACQ 0x30; window 0 of the
     * grant is BAR0 [0, 0x2000). VS is read from the device itself. */
    static const struct { uint64_t off; unsigned width; } nvme[] = {
        {0x00, 8}, {0x08, 4}, {0x0c, 4}, {0x14, 4}, {0x1c, 4}, {0x24, 4}, {0x28, 8}, {0x30, 8},
    };
    r->id = 0x08;
    r->beyond = 0x2000;
    r->addr = 0x28;
    for (size_t i = 0; i < sizeof nvme / sizeof nvme[0]; i++) {
        r->scan[r->n_scan].off = nvme[i].off;
        r->scan[r->n_scan++].width = nvme[i].width;
    }
    if (!e->c->plat->device_reg)
        return -CAPDRV_ENOTSUP;
    return e->c->plat->device_reg(e->c, e->grant, r->id, 4, &r->id_value);
}

/* --- dmatest ------------------------------------------------------------- */

static int dmatest_wait(struct conf_engine *e)
{
    for (int i = 0; i < DMATEST_POLLS; i++) {
        uint64_t st;
        int rc = capdrv_mmio_read(e->c->conf, e->m, CAPDRV_DMATEST_STATUS, 4, &st);
        if (rc < 0)
            return rc;
        if (!(st & CAPDRV_DMATEST_STATUS_BUSY))
            return (st & CAPDRV_DMATEST_STATUS_ERROR) ? -CAPDRV_EIO : 0;
        if (e->c->plat->advance)
            e->c->plat->advance(e->c, 1000);
    }
    return -CAPDRV_ETIMEDOUT;
}

/* --- NVMe ---------------------------------------------------------------- */

static void on_done(void *arg, const struct capdrv_nvme_cpl *cpl)
{
    struct conf_engine *e = arg;
    e->calls++;
    e->status = cpl->status;
}

/* Queue and ring one Read or Write of the scratch range. A refused
 * doorbell: reset the controller, which must complete the command exactly
 * once with an error; then report the doorbell's error. */
static int nvme_submit(struct conf_engine *e, bool write, const struct capdrv_dma_seg *segs,
                       unsigned n, uint32_t nlb)
{
    e->calls = 0;
    e->status = 1;
    int rc = (write ? capdrv_nvme_write : capdrv_nvme_read)(e->qp, e->nsid, NVME_SCRATCH_LBA, nlb,
                                                           segs, n, on_done, e);
    if (rc == -CAPDRV_EOVERFLOW)
        return -CAPDRV_ENOTSUP; /* a range that wraps: no SGL or PRP entry can name it */
    if (rc < 0)
        return rc;
    int ring = capdrv_nvme_qpair_ring(e->qp);
    if (ring >= 0)
        return 0;
    if ((rc = capdrv_nvme_ctrl_reset(e->ctrl)) < 0)
        return rc;
    return e->calls == 1 && e->status < 0 ? ring : -CAPDRV_EPROTO;
}

/* Reap by polling the completion queue; device time passes in between
 * (real time on QEMU and VFIO). Without an advance hook, the library's
 * own wait (which sleeps in capdrv_irq_wait() slices on its timer vector). */
static int nvme_wait(struct conf_engine *e)
{
    struct conf_ctx *c = e->c;
    for (int i = 0; i < NVME_WAIT_SLICES && e->calls == 0; i++) {
        int rc = c->plat->advance ? capdrv_nvme_qpair_poll(e->qp, 0)
                                  : capdrv_nvme_qpair_wait(e->qp, 1000000);
        if (rc < 0 && rc != -CAPDRV_ETIMEDOUT)
            return rc;
        if (e->calls == 0 && c->plat->advance)
            c->plat->advance(c, 100000);
    }
    if (e->calls != 1)
        return -CAPDRV_ETIMEDOUT;
    return e->status;
}

/* Data segments for [ref, ref + len) in whole blocks: the range, then the
 * block's tail in the spill buffer. -CAPDRV_ENOTSUP: not expressible. */
static int nvme_segs(struct conf_engine *e, uint64_t ref, uint32_t len, struct capdrv_dma_seg *s,
                     unsigned *n, uint32_t *nlb)
{
    if (len == 0)
        return -CAPDRV_EINVAL;
    *nlb = (len + e->bs - 1) / e->bs;
    uint32_t pad = *nlb * e->bs - len;
    if ((uint64_t)*nlb * e->bs > NVME_STAGE_BYTES)
        return -CAPDRV_ENOTSUP;
    /* PRPs (§4.1.1): a dword-aligned start and no second piece. */
    if (!e->sgl && (pad != 0 || (ref & 3u)))
        return -CAPDRV_ENOTSUP;
    s[0] = (struct capdrv_dma_seg){ref, len};
    s[1] = (struct capdrv_dma_seg){capdrv_dma_ref(&e->spill, 0), pad};
    *n = pad ? 2 : 1;
    return 0;
}

static void pattern_into(uint8_t *p, uint32_t len, uint32_t pattern)
{
    for (uint32_t i = 0; i < len; i++)
        p[i] = (uint8_t)(pattern >> (8 * (i & 3)));
}

/* Pattern to the scratch range, then the Read into the range rung. */
static int nvme_start(struct conf_engine *e, uint64_t ref, uint32_t len, uint32_t pattern)
{
    struct capdrv_dma_seg s[2];
    unsigned n;
    uint32_t nlb;
    int rc = nvme_segs(e, ref, len, s, &n, &nlb);
    if (rc < 0)
        return rc;
    pattern_into(e->stage.cpu, nlb * e->bs, pattern);
    struct capdrv_dma_seg src = {capdrv_dma_ref(&e->stage, 0), nlb * e->bs};
    if ((rc = nvme_submit(e, true, &src, 1, nlb)) < 0 || (rc = nvme_wait(e)) != 0)
        return rc;
    if (e->hold_next) {
        struct capdrv_nvme_qpair_info qi;
        e->hold_next = false;
        if ((rc = capdrv_nvme_qpair_info(e->qp, &qi)) < 0)
            return rc;
        rc = e->c->plat->nvme_stall(e->c, e->grant, qi.qid, true);
        if (rc < 0 && rc != -CAPDRV_ENOTSUP)
            return rc;
        e->held = rc == 0; /* ENOTSUP: this machine cannot hold; run unheld */
    }
    return nvme_submit(e, false, s, n, nlb);
}

bool conf_engine_hold_next(struct conf_engine *e)
{
    if (e->kind != CONF_ENGINE_NVME || !e->c->plat->nvme_stall)
        return false;
    e->hold_next = true;
    return true;
}

int conf_engine_unhold(struct conf_engine *e)
{
    if (!e->held)
        return 0;
    e->held = false;
    return e->c->plat->nvme_stall(e->c, e->grant, 0, false);
}

/* --- either -------------------------------------------------------------- */

int conf_engine_start(struct conf_engine *e, uint64_t ref, uint32_t len, uint32_t pattern,
                      uint32_t slow_ns)
{
    if (e->kind == CONF_ENGINE_DMATEST)
        return conf_dmatest(e->c->conf, e->m, ref, len, CAPDRV_DMATEST_CMD_FILL, pattern, slow_ns);
    return nvme_start(e, ref, len, pattern);
}

int conf_engine_wait(struct conf_engine *e)
{
    return e->kind == CONF_ENGINE_DMATEST ? dmatest_wait(e) : nvme_wait(e);
}

int conf_engine_fill(struct conf_engine *e, uint64_t ref, uint32_t len, uint32_t pattern)
{
    int rc = conf_engine_start(e, ref, len, pattern, 0);
    return rc < 0 ? rc : conf_engine_wait(e);
}

int conf_engine_sum(struct conf_engine *e, uint64_t ref, uint32_t len, uint32_t *sum)
{
    int rc;
    if (e->kind == CONF_ENGINE_DMATEST) {
        uint64_t v;
        if ((rc = conf_dmatest(e->c->conf, e->m, ref, len, CAPDRV_DMATEST_CMD_SUM, 0, 0)) < 0 ||
            (rc = dmatest_wait(e)) < 0 ||
            (rc = capdrv_mmio_read(e->c->conf, e->m, CAPDRV_DMATEST_RESULT, 4, &v)) < 0)
            return rc;
        *sum = (uint32_t)v;
        return 0;
    }
    struct capdrv_dma_seg s[2];
    unsigned n;
    uint32_t nlb;
    if ((rc = nvme_segs(e, ref, len, s, &n, &nlb)) < 0)
        return rc;
    /* The device reads the range (Write to the medium), then returns it
     * (Read into staging, cleared first so stale bytes cannot pass). */
    memset(e->stage.cpu, 0, nlb * e->bs);
    struct capdrv_dma_seg dst = {capdrv_dma_ref(&e->stage, 0), nlb * e->bs};
    if ((rc = nvme_submit(e, true, s, n, nlb)) < 0 || (rc = nvme_wait(e)) != 0 ||
        (rc = nvme_submit(e, false, &dst, 1, nlb)) < 0 || (rc = nvme_wait(e)) != 0)
        return rc;
    uint32_t total = 0;
    for (uint32_t i = 0; i < len; i++)
        total += ((const uint8_t *)e->stage.cpu)[i];
    *sum = total;
    return 0;
}

int conf_engine_kick(struct conf_engine *e)
{
    if (e->kind == CONF_ENGINE_DMATEST)
        return 0;
    int rc = nvme_wait(e);
    if (rc != 0)
        return rc;
    /* Get Features, Number of Queues (Base 2.0 §5.27, FID 07h): no data, only
     * a completion on the admin queue, which is on vector 0. */
    uint32_t dw0;
    return capdrv_nvme_get_features(e->ctrl, 0x07, 0, 0, NULL, 0, &dw0);
}
