/* The hand-made NVMe driver of the sim NVMe controller tests; see
 * test_sim_nvme_drv.h. */
#include "test_sim_nvme_drv.h"

#include <string.h>

void nt_put_le(uint8_t *p, unsigned w, uint64_t v)
{
    for (unsigned i = 0; i < w; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

uint64_t nt_get_le(const uint8_t *p, unsigned w)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < w; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

void nt_open(struct nt *t, const struct capdrv_sim_nvme_config *cfg)
{
    memset(t, 0, sizeof *t);
    struct capdrv_pci_addr a = {0, 0, 8, 0};
    assert_int_equal(capdrv_sim_create(NULL, &t->sim), 0);
    assert_int_equal(capdrv_sim_add_nvme(t->sim, &a, cfg, &t->fn), 0);
    t->hw = capdrv_sim_hw(t->sim);
    t->dstrd = cfg ? cfg->dstrd : 0;
    assert_int_equal(t->hw.ops->dma_alloc(t->hw.ctx, NT_MEM, &t->mem), 0);
    assert_int_equal(t->hw.ops->dma_map(t->hw.ctx, t->fn, &t->mem, 0, &t->dev), 0);
    t->cpu = t->mem.cpu;
    memset(t->cpu, 0, NT_MEM);
    struct capdrv_hw_function info;
    assert_int_equal(t->hw.ops->function_info(t->hw.ctx, t->fn, &info), 0);
    uint32_t ctrl;
    assert_int_equal(t->hw.ops->cfg_read(t->hw.ctx, t->fn, 0x82, 2, &ctrl), 0);
    unsigned nv = (ctrl & 0x7ffu) + 1u;
    for (unsigned v = 0; v < nv; v++)
        assert_int_equal(t->hw.ops->irq_enable(t->hw.ctx, t->fn, v), 0);
}

void nt_close(struct nt *t, unsigned long violations)
{
    assert_int_equal(t->hw.ops->dma_unmap(t->hw.ctx, t->fn, &t->mem, t->dev), 0);
    t->hw.ops->dma_free(t->hw.ctx, &t->mem);
    struct capdrv_sim_dma_stats ds;
    assert_int_equal(capdrv_sim_dma_stats(t->sim, &ds), 0);
    assert_int_equal(ds.regions, 0);
    assert_int_equal(ds.mappings, 0);
    assert_int_equal(capdrv_sim_oracle_violations(t->sim), violations);
    capdrv_sim_destroy(t->sim);
}

uint64_t nt_rd(struct nt *t, uint64_t off, unsigned w)
{
    uint64_t v = 0;
    assert_int_equal(t->hw.ops->bar_read(t->hw.ctx, t->fn, 0, off, w, &v), 0);
    return v;
}

void nt_wr(struct nt *t, uint64_t off, unsigned w, uint64_t v)
{
    assert_int_equal(t->hw.ops->bar_write(t->hw.ctx, t->fn, 0, off, w, v), 0);
}

uint32_t nt_csts(struct nt *t)
{
    return (uint32_t)nt_rd(t, R_CSTS, 4);
}

uint64_t nt_sq_db(struct nt *t, unsigned q)
{
    return 0x1000u + (2u * q) * (4u << t->dstrd);
}

uint64_t nt_cq_db(struct nt *t, unsigned q)
{
    return 0x1000u + (2u * q + 1u) * (4u << t->dstrd);
}

uint64_t nt_dev(struct nt *t, uint64_t off)
{
    return t->dev + off;
}

uint8_t *nt_cpu(struct nt *t, uint64_t off)
{
    return t->cpu + off;
}

uint64_t nt_sq_off(unsigned q)
{
    return q == 0 ? NT_ASQ : q * 0x10000u;
}

uint64_t nt_cq_off(unsigned q)
{
    return q == 0 ? NT_ACQ : q * 0x10000u + 0x8000u;
}

void nt_enable_cc(struct nt *t, uint16_t entries, uint32_t cc)
{
    nt_wr(t, R_AQA, 4, (uint32_t)(entries - 1u) << 16 | (uint32_t)(entries - 1u));
    nt_wr(t, R_ASQ, 8, nt_dev(t, NT_ASQ));
    nt_wr(t, R_ACQ, 8, nt_dev(t, NT_ACQ));
    memset(nt_cpu(t, NT_ACQ), 0, 0x1000);
    t->sq_tail[0] = 0;
    t->sq_size[0] = entries;
    t->cq_head[0] = 0;
    t->cq_size[0] = entries;
    t->phase[0] = true;
    nt_wr(t, R_CC, 4, cc);
}

void nt_enable(struct nt *t)
{
    nt_enable_cc(t, NT_ADMIN_ENTRIES, CC_READY_VALUE);
    assert_int_equal(nt_csts(t) & 3u, 1u);
}

void nt_disable(struct nt *t)
{
    nt_wr(t, R_CC, 4, 0);
    assert_int_equal(nt_csts(t) & 1u, 0u);
}

uint16_t nt_put(struct nt *t, unsigned q, const struct ncmd *c)
{
    uint8_t *e = nt_cpu(t, nt_sq_off(q) + (uint64_t)t->sq_tail[q] * 64u);
    uint16_t cid = c->cid ? c->cid : ++t->cid;
    if (cid == 0)
        cid = ++t->cid;
    memset(e, 0, 64);
    e[0] = c->opc;
    e[1] = c->flags;
    nt_put_le(e + 2, 2, cid);
    nt_put_le(e + 4, 4, c->nsid);
    nt_put_le(e + 24, 8, c->prp1);
    nt_put_le(e + 32, 8, c->prp2);
    nt_put_le(e + 40, 4, c->cdw10);
    nt_put_le(e + 44, 4, c->cdw11);
    nt_put_le(e + 48, 4, c->cdw12);
    nt_put_le(e + 52, 4, c->cdw13);
    nt_put_le(e + 56, 4, c->cdw14);
    nt_put_le(e + 60, 4, c->cdw15);
    t->sq_tail[q] = (uint16_t)((t->sq_tail[q] + 1u) % t->sq_size[q]);
    return cid;
}

void nt_ring(struct nt *t, unsigned q)
{
    nt_wr(t, nt_sq_db(t, q), 4, t->sq_tail[q]);
}

bool nt_peek(struct nt *t, unsigned q, struct ncqe *e)
{
    const uint8_t *p = nt_cpu(t, nt_cq_off(q) + (uint64_t)t->cq_head[q] * 16u);
    uint16_t sf = (uint16_t)nt_get_le(p + 14, 2);
    if (((sf & 1u) != 0) != t->phase[q])
        return false;
    e->dw0 = (uint32_t)nt_get_le(p, 4);
    e->sqhd = (uint16_t)nt_get_le(p + 8, 2);
    e->sqid = (uint16_t)nt_get_le(p + 10, 2);
    e->cid = (uint16_t)nt_get_le(p + 12, 2);
    e->st = (uint16_t)((((sf >> 9) & 7u) << 8) | ((sf >> 1) & 0xffu));
    e->dnr = sf & 0x8000u;
    e->p = sf & 1u;
    return true;
}

bool nt_take(struct nt *t, unsigned q, struct ncqe *e)
{
    if (!nt_peek(t, q, e))
        return false;
    if (++t->cq_head[q] == t->cq_size[q]) {
        t->cq_head[q] = 0;
        t->phase[q] = !t->phase[q];
    }
    return true;
}

void nt_release(struct nt *t, unsigned q)
{
    nt_wr(t, nt_cq_db(t, q), 4, t->cq_head[q]);
}

struct ncqe nt_cmd(struct nt *t, unsigned q, const struct ncmd *c)
{
    uint16_t cid = nt_put(t, q, c);
    nt_ring(t, q);
    struct ncqe e;
    unsigned cq = q; /* the tests pair SQ q with CQ q */
    if (!nt_take(t, cq, &e))
        fail_msg("no completion for opcode 0x%02x on queue %u", c->opc, q);
    assert_int_equal(e.cid, cid);
    assert_int_equal(e.sqid, q);
    assert_int_equal(e.sqhd, t->sq_tail[q]);
    struct ncqe extra;
    assert_false(nt_peek(t, cq, &extra));
    nt_release(t, cq);
    return e;
}

uint16_t nt_create_cq(struct nt *t, unsigned q, uint16_t entries, bool ien, uint16_t iv)
{
    struct ncmd c = {.opc = 0x05, .prp1 = nt_dev(t, nt_cq_off(q)),
                     .cdw10 = (uint32_t)(entries - 1u) << 16 | q,
                     .cdw11 = (uint32_t)iv << 16 | (ien ? 2u : 0u) | 1u};
    uint16_t st = nt_cmd(t, 0, &c).st;
    if (st == 0 && q < NT_NQ) {
        memset(nt_cpu(t, nt_cq_off(q)), 0, (size_t)entries * 16u);
        t->cq_head[q] = 0;
        t->cq_size[q] = entries;
        t->phase[q] = true;
    }
    return st;
}

uint16_t nt_create_sq(struct nt *t, unsigned q, uint16_t entries, uint16_t cqid)
{
    struct ncmd c = {.opc = 0x01, .prp1 = nt_dev(t, nt_sq_off(q)),
                     .cdw10 = (uint32_t)(entries - 1u) << 16 | q,
                     .cdw11 = (uint32_t)cqid << 16 | 1u};
    uint16_t st = nt_cmd(t, 0, &c).st;
    if (st == 0 && q < NT_NQ) {
        t->sq_tail[q] = 0;
        t->sq_size[q] = entries;
    }
    return st;
}

void nt_io_pair(struct nt *t, unsigned q, uint16_t entries)
{
    assert_int_equal(nt_create_cq(t, q, entries, true, (uint16_t)q), 0);
    assert_int_equal(nt_create_sq(t, q, entries, (uint16_t)q), 0);
}

uint16_t nt_identify(struct nt *t, uint8_t cns, uint32_t nsid)
{
    memset(nt_cpu(t, NT_DATA), 0xee, 4096);
    struct ncmd c = {.opc = 0x06, .nsid = nsid, .prp1 = nt_dev(t, NT_DATA), .cdw10 = cns};
    return nt_cmd(t, 0, &c).st;
}

uint16_t nt_rw(struct nt *t, unsigned q, bool write, uint32_t nsid, uint64_t slba, uint32_t nlb,
               uint64_t prp1, uint64_t prp2)
{
    struct ncmd c = {.opc = write ? 0x01 : 0x02, .nsid = nsid, .prp1 = prp1, .prp2 = prp2,
                     .cdw10 = (uint32_t)slba, .cdw11 = (uint32_t)(slba >> 32),
                     .cdw12 = nlb - 1u};
    return nt_cmd(t, q, &c).st;
}

int nt_fired(struct nt *t, unsigned v)
{
    struct capdrv_hw_irq src = {t->fn, v};
    uint64_t ready = 0;
    int rc = t->hw.ops->irq_wait(t->hw.ctx, &src, 1, 0, &ready);
    if (rc == -CAPDRV_ETIMEDOUT)
        return 0;
    assert_int_equal(rc, 1);
    return 1;
}
