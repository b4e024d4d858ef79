#include "test_shim_nvme_drv.h"

#include <string.h>

void nt_put_le(void *p, unsigned n, uint64_t v)
{
    for (unsigned i = 0; i < n; i++)
        ((uint8_t *)p)[i] = (uint8_t)(v >> (8 * i));
}

uint64_t nt_get_le(const void *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)((const uint8_t *)p)[i] << (8 * i);
    return v;
}

void nt_pattern(void *p, size_t n, unsigned seed)
{
    ps_fill(p, n, seed);
}

void nt_scan(struct nt *t, struct ps_report *r)
{
    ps_report_init(r);
    ps_scan_provider(&t->conn, r);
}

void nt_assert_no_leak(struct nt *t)
{
    struct ps_report r;
    char msg[2048];
    nt_scan(t, &r);
    if (r.n != 0 || r.incomplete || r.bufs < 3 || r.windows < 1 || r.mmio_ok == 0 ||
        r.cfg_ok == 0)
        fail_msg("device-address scan: %s", ps_report_str(&r, msg, sizeof msg));
}

/* ---- hostile platform wrapper ------------------------------------------- */

#define H_FWD(name, ret, params, args) \
    static ret h_##name params { struct nt_hostile *h = ctx; return h->inner.ops->name args; }
H_FWD(caps, unsigned, (void *ctx), (h->inner.ctx))
H_FWD(function_count, int, (void *ctx), (h->inner.ctx))
H_FWD(function_info, int, (void *ctx, unsigned fn, struct capdrv_hw_function *o), (h->inner.ctx, fn, o))
H_FWD(cfg_read, int, (void *ctx, unsigned fn, uint32_t o, unsigned w, uint32_t *v), (h->inner.ctx, fn, o, w, v))
H_FWD(cfg_write, int, (void *ctx, unsigned fn, uint32_t o, unsigned w, uint32_t v), (h->inner.ctx, fn, o, w, v))
H_FWD(dma_alloc, int, (void *ctx, size_t n, struct capdrv_hw_dma *o), (h->inner.ctx, n, o))
H_FWD(dma_free, void, (void *ctx, struct capdrv_hw_dma *m), (h->inner.ctx, m))
H_FWD(irq_enable, int, (void *ctx, unsigned fn, unsigned v), (h->inner.ctx, fn, v))
H_FWD(irq_disable, int, (void *ctx, unsigned fn, unsigned v), (h->inner.ctx, fn, v))
H_FWD(irq_mask, int, (void *ctx, unsigned fn, unsigned v, bool m), (h->inner.ctx, fn, v, m))
H_FWD(irq_wait, int, (void *ctx, const struct capdrv_hw_irq *s, unsigned n, int64_t t, uint64_t *r), (h->inner.ctx, s, n, t, r))
H_FWD(function_reset, int, (void *ctx, unsigned fn), (h->inner.ctx, fn))

static int h_dma_map(void *ctx, unsigned fn, const struct capdrv_hw_dma *m, uint64_t i, uint64_t *d)
{
    struct nt_hostile *h = ctx;
    int rc = h->inner.ops->dma_map(h->inner.ctx, fn, m, i, d);
    if (rc == 0 && h->n < 64) {
        h->r[h->n].phys = *d;
        h->r[h->n].cpu = m->cpu;
        h->r[h->n++].size = m->size;
    }
    return rc;
}

static int h_dma_unmap(void *ctx, unsigned fn, const struct capdrv_hw_dma *m, uint64_t d)
{
    struct nt_hostile *h = ctx;
    for (unsigned i = 0; i < h->n; i++)
        if (h->r[i].phys == d)
            h->r[i] = h->r[--h->n];
    return h->inner.ops->dma_unmap(h->inner.ctx, fn, m, d);
}

static uint8_t *h_cpu(struct nt_hostile *h, uint64_t dev)
{
    for (unsigned i = 0; i < h->n; i++)
        if (dev >= h->r[i].phys && dev - h->r[i].phys < h->r[i].size)
            return (uint8_t *)h->r[i].cpu + (dev - h->r[i].phys);
    return NULL;
}

static int h_bar_read(void *ctx, unsigned fn, unsigned b, uint64_t o, unsigned w, uint64_t *v)
{
    struct nt_hostile *h = ctx;
    int rc = h->inner.ops->bar_read(h->inner.ctx, fn, b, o, w, v);
    if (rc == 0 && fn == h->fn && b == 0 && o < 8) {
        uint64_t cap = 0, hi = 0;
        h->inner.ops->bar_read(h->inner.ctx, fn, 0, 0, 4, &cap);
        h->inner.ops->bar_read(h->inner.ctx, fn, 0, 4, 4, &hi);
        cap = ((cap | hi << 32) | h->cap_set) & ~h->cap_clear;
        uint64_t x = cap >> (8 * o);
        *v = w == 8 ? x : x & ((1ull << (8 * w)) - 1u);
    }
    return rc;
}

/* After an admin SQ doorbell (processed synchronously by the sim), patch
 * the data of the Identify command just submitted. */
static int h_bar_write(void *ctx, unsigned fn, unsigned b, uint64_t o, unsigned w, uint64_t v)
{
    struct nt_hostile *h = ctx;
    if (fn == h->fn && b == 0 && o == R_ASQ)
        h->asq = (h->asq & ~0xffffffffull) | (v & 0xffffffffu);
    if (fn == h->fn && b == 0 && o == R_ASQ + 4)
        h->asq = (h->asq & 0xffffffffu) | v << 32;
    int rc = h->inner.ops->bar_write(h->inner.ctx, fn, b, o, w, v);
    if (rc == 0 && fn == h->fn && b == 0 && o == R_DB && h->patch_cns >= 0) {
        /* The probe's admin queue has 4 entries; the command is at tail-1. */
        uint8_t *sqe = h_cpu(h, h->asq + ((v + 3u) % 4u) * 64u);
        if (sqe && sqe[0] == 0x06 && (int)(nt_get_le(sqe + 40, 4) & 0xff) == h->patch_cns) {
            uint8_t *data = h_cpu(h, nt_get_le(sqe + 24, 8));
            if (data)
                nt_put_le(data + h->patch_off, h->patch_len, h->patch_val);
        }
    }
    return rc;
}

void nt_hostile_install(struct nt *t, struct nt_hostile *h)
{
    h->inner = t->f.hw;
    h->fn = t->fn;
    h->ops = (struct capdrv_hw_ops){
        .caps = h_caps, .function_count = h_function_count, .function_info = h_function_info,
        .cfg_read = h_cfg_read, .cfg_write = h_cfg_write, .bar_read = h_bar_read,
        .bar_write = h_bar_write, .dma_alloc = h_dma_alloc, .dma_free = h_dma_free,
        .dma_map = h_dma_map, .dma_unmap = h_dma_unmap, .irq_enable = h_irq_enable,
        .irq_disable = h_irq_disable, .irq_mask = h_irq_mask, .irq_wait = h_irq_wait,
        .function_reset = h_function_reset};
    t->f.hw = (struct capdrv_hw){.ops = &h->ops, .ctx = h};
}

/* ---- machine and claim ---------------------------------------------------- */

int nt_machine(struct nt *t, bool iommu, const struct capdrv_sim_nvme_config *cfg,
               struct nt_hostile *h)
{
    memset(t, 0, sizeof *t);
    fx_machine(&t->f, iommu);
    struct capdrv_pci_addr a8 = {0, 0, 8, 0};
    assert_int_equal(capdrv_sim_add_nvme(t->f.sim, &a8, cfg, &t->fn), 0);
    if (h)
        nt_hostile_install(t, h);
    ps_hw_install(&t->rec, &t->f.hw, t->f.sim);
    return fx_shim(&t->f, "nvme");
}

void nt_claim(struct nt *t, bool iommu, const struct capdrv_sim_nvme_config *cfg)
{
    assert_int_equal(nt_machine(t, iommu, cfg, NULL), 0);
    assert_int_equal(capdrv_shim_connect(t->f.shim, "p1", &t->f.p1), 0);
    t->f.p1 = ps_conn_wrap(&t->conn, t->f.p1, &t->rec);
    t->grant = fx_open(t->f.p1, "nvme");
    t->mmio = fx_mmio(t->f.p1, t->grant, 0);
    assert_int_equal(capdrv_cfg_write(t->f.p1, t->grant, 0x04, 2, 0x0006), 0); /* MEM|MASTER */
    assert_int_equal(capdrv_pool_open(t->f.p1, t->grant, &t->pool), 0);
    assert_int_equal(capdrv_dma_alloc(t->f.p1, t->pool, QB_SIZE, &t->qb, &t->q), 0);
    assert_int_equal(capdrv_dma_alloc(t->f.p1, t->pool, DB_SIZE, &t->db, &t->d), 0);
    assert_int_equal(capdrv_dma_alloc(t->f.p1, t->pool, LB_SIZE, &t->lb, &t->l), 0);
    uint64_t cap = 0;
    assert_int_equal(nt_rd(t, R_CAP, 8, &cap), 0);
    t->stride = 4u << ((cap >> 32) & 0xf);
}

void nt_up(struct nt *t, bool iommu, const struct capdrv_sim_nvme_config *cfg)
{
    nt_claim(t, iommu, cfg);
    nt_enable(t);
    nt_create_io(t);
}

void nt_done(struct nt *t)
{
    fx_done(&t->f);
}

/* ---- registers -------------------------------------------------------------- */

int nt_rd(struct nt *t, uint64_t off, unsigned width, uint64_t *v)
{
    int rc = capdrv_mmio_read(t->f.p1, t->mmio, off, width, v);
    if (rc == 0 && t->n_seen < sizeof t->seen / sizeof t->seen[0])
        t->seen[t->n_seen++] = *v;
    return rc;
}

uint32_t nt_r32(struct nt *t, uint64_t off)
{
    uint64_t v = 0;
    assert_int_equal(nt_rd(t, off, 4, &v), 0);
    return (uint32_t)v;
}

int nt_wr(struct nt *t, uint64_t off, unsigned width, uint64_t v)
{
    return capdrv_mmio_write(t->f.p1, t->mmio, off, width, v);
}

void nt_w32(struct nt *t, uint64_t off, uint32_t v)
{
    assert_int_equal(nt_wr(t, off, 4, v), 0);
}

void nt_enable(struct nt *t)
{
    nt_w32(t, R_CC, 0);
    for (unsigned n = 0; (nt_r32(t, R_CSTS) & 1u) && n < 100; n++)
        capdrv_sim_advance(t->f.sim, 1000000);
    nt_w32(t, R_AQA, (QDEPTH - 1u) << 16 | (QDEPTH - 1u));
    assert_int_equal(nt_wr(t, R_ASQ, 8, capdrv_dma_ref(&t->q, QB_ASQ)), 0);
    nt_w32(t, R_ACQ, (uint32_t)capdrv_dma_ref(&t->q, QB_ACQ));
    nt_w32(t, R_ACQ + 4, (uint32_t)(capdrv_dma_ref(&t->q, QB_ACQ) >> 32));
    nt_w32(t, R_CC, CC_ON);
    for (unsigned n = 0; !(nt_r32(t, R_CSTS) & 1u) && n < 100; n++)
        capdrv_sim_advance(t->f.sim, 1000000);
    assert_int_equal(nt_r32(t, R_CSTS) & 3u, 1u);
    memset(t->sq_tail, 0, sizeof t->sq_tail);
    memset(t->cq_head, 0, sizeof t->cq_head);
    t->phase[0] = t->phase[1] = 1;
    memset((uint8_t *)t->q.cpu + QB_ACQ, 0, 4096);
    memset((uint8_t *)t->q.cpu + QB_IOCQ, 0, 4096);
}

struct capdrv_nvme_sqe nt_sqe(struct nt *t, uint8_t opc, uint32_t nsid)
{
    struct capdrv_nvme_sqe s;
    memset(&s, 0, sizeof s);
    s.opc = opc;
    s.cid = ++t->cid;
    s.nsid = nsid;
    return s;
}

static uint8_t *sq_mem(struct nt *t, unsigned qid)
{
    return (uint8_t *)t->q.cpu + (qid == 0 ? QB_ASQ : QB_IOSQ);
}

int nt_submit(struct nt *t, unsigned qid, const struct capdrv_nvme_sqe *sqe, unsigned n)
{
    uint16_t tail = t->sq_tail[qid];
    for (unsigned i = 0; i < n; i++) {
        memcpy(sq_mem(t, qid) + 64u * tail, &sqe[i], 64);
        tail = (uint16_t)((tail + 1u) % QDEPTH);
    }
    int rc = nt_wr(t, R_DB + 2u * qid * t->stride, 4, tail);
    if (rc == 0)
        t->sq_tail[qid] = tail;
    return rc;
}

bool nt_reap(struct nt *t, unsigned qid, struct capdrv_nvme_cqe *out)
{
    uint8_t *cq = (uint8_t *)t->q.cpu + (qid == 0 ? QB_ACQ : QB_IOCQ) + 16u * t->cq_head[qid];
    if ((nt_get_le(cq + 14, 2) & 1u) != t->phase[qid])
        return false;
    memcpy(out, cq, 16);
    t->cq_head[qid] = (uint16_t)((t->cq_head[qid] + 1u) % QDEPTH);
    if (t->cq_head[qid] == 0)
        t->phase[qid] ^= 1u;
    nt_w32(t, R_DB + (2u * qid + 1u) * t->stride, t->cq_head[qid]);
    return true;
}

unsigned nt_cmd(struct nt *t, unsigned qid, struct capdrv_nvme_sqe *sqe)
{
    assert_int_equal(nt_submit(t, qid, sqe, 1), 0);
    struct capdrv_nvme_cqe c;
    assert_true(nt_reap(t, qid, &c));
    assert_int_equal(c.cid, sqe->cid);
    return (c.status >> 1) & 0x7ffu;
}

void nt_create_io(struct nt *t)
{
    struct capdrv_nvme_sqe s = nt_sqe(t, 0x05, 0); /* Create I/O CQ */
    s.dptr.prp.prp1 = capdrv_dma_ref(&t->q, QB_IOCQ);
    s.cdw10 = (QDEPTH - 1u) << 16 | 1u;
    s.cdw11 = 1u; /* PC, no interrupts */
    assert_int_equal(nt_cmd(t, 0, &s), 0);
    s = nt_sqe(t, 0x01, 0); /* Create I/O SQ */
    s.dptr.prp.prp1 = capdrv_dma_ref(&t->q, QB_IOSQ);
    s.cdw10 = (QDEPTH - 1u) << 16 | 1u;
    s.cdw11 = 1u << 16 | 1u; /* CQ 1, PC */
    assert_int_equal(nt_cmd(t, 0, &s), 0);
}

unsigned nt_rw(struct nt *t, uint8_t opc, uint64_t slba, unsigned nlb, uint64_t prp1,
               uint64_t prp2)
{
    struct capdrv_nvme_sqe s = nt_sqe(t, opc, 1);
    s.dptr.prp.prp1 = prp1;
    s.dptr.prp.prp2 = prp2;
    s.cdw10 = (uint32_t)slba;
    s.cdw11 = (uint32_t)(slba >> 32);
    s.cdw12 = nlb - 1u;
    return nt_cmd(t, 1, &s);
}
