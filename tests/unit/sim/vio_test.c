/* Shared helpers of the sim virtio device tests; see vio_test.h. */
#include "vio_test.h"

#include <string.h>

/* ---- little-endian access to the test's own DMA memory ------------------ */

void put(uint8_t *p, unsigned w, uint64_t v)
{
    for (unsigned i = 0; i < w; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

uint64_t get(const uint8_t *p, unsigned w)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < w; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* ---- platform access ------------------------------------------------------ */

uint32_t cfg(struct vt *t, uint32_t off, unsigned w)
{
    uint32_t v = 0xdeadbeef;
    assert_int_equal(t->hw.ops->cfg_read(t->hw.ctx, t->fn, off, w, &v), 0);
    return v;
}

uint64_t bar_rd(struct vt *t, uint64_t off, unsigned w)
{
    uint64_t v = 0xdeadbeef;
    assert_int_equal(t->hw.ops->bar_read(t->hw.ctx, t->fn, 0, off, w, &v), 0);
    return v;
}

void bar_wr(struct vt *t, uint64_t off, unsigned w, uint64_t v)
{
    assert_int_equal(t->hw.ops->bar_write(t->hw.ctx, t->fn, 0, off, w, v), 0);
}

uint64_t cr(struct vt *t, uint32_t field, unsigned w)
{
    return bar_rd(t, t->cap[CAPDRV_VPCI_CAP_COMMON_CFG].off + field, w);
}

void cw(struct vt *t, uint32_t field, unsigned w, uint64_t v)
{
    bar_wr(t, t->cap[CAPDRV_VPCI_CAP_COMMON_CFG].off + field, w, v);
}

uint8_t status(struct vt *t)
{
    return (uint8_t)cr(t, CAPDRV_VPCI_COMMON_STATUS, 1);
}

uint8_t isr(struct vt *t)
{
    return (uint8_t)bar_rd(t, t->cap[CAPDRV_VPCI_CAP_ISR_CFG].off, 1);
}

uint64_t devcfg(struct vt *t, uint32_t off, unsigned w)
{
    return bar_rd(t, t->cap[CAPDRV_VPCI_CAP_DEVICE_CFG].off + off, w);
}

void kick(struct vt *t, unsigned q)
{
    bar_wr(t, t->cap[CAPDRV_VPCI_CAP_NOTIFY_CFG].off + (uint64_t)q * t->mult, 2, q);
}

/* Poll vector @v of the function: 1 fired, 0 not (no simulated time). */
int fired(struct vt *t, unsigned v)
{
    struct capdrv_hw_irq src = {t->fn, v};
    uint64_t ready = 0;
    int rc = t->hw.ops->irq_wait(t->hw.ctx, &src, 1, 0, &ready);
    if (rc == -CAPDRV_ETIMEDOUT)
        return 0;
    assert_int_equal(rc, 1);
    return 1;
}

/* Walk the capability list (PCI Local Bus 3.0 §6.7, VIRTIO 1.2 §4.1.4)
 * with a bound, recording the first virtio capability of each type. */
void walk_caps(struct vt *t)
{
    memset(t->cap, 0, sizeof t->cap);
    assert_true(cfg(t, 0x06, 2) & 0x10); /* capabilities list */
    uint32_t ptr = cfg(t, 0x34, 1) & 0xfc;
    int hops = 0;
    for (; ptr && hops < 48; hops++) {
        assert_true(ptr >= 0x40 && ptr < 0x100);
        if (cfg(t, ptr, 1) == CAPDRV_VPCI_CAP_ID_VNDR) {
            uint8_t type = (uint8_t)cfg(t, ptr + CAPDRV_VPCI_CAP_CFG_TYPE, 1);
            assert_true(type >= 1 && type <= 5);
            struct vcap *c = &t->cap[type];
            if (!c->found) {
                c->found = true;
                c->at = ptr;
                c->len = (uint8_t)cfg(t, ptr + CAPDRV_VPCI_CAP_LEN, 1);
                c->bar = (uint8_t)cfg(t, ptr + CAPDRV_VPCI_CAP_BAR, 1);
                c->off = cfg(t, ptr + CAPDRV_VPCI_CAP_OFFSET, 4);
                c->length = cfg(t, ptr + CAPDRV_VPCI_CAP_LENGTH, 4);
                if (type == CAPDRV_VPCI_CAP_NOTIFY_CFG)
                    t->mult = cfg(t, ptr + CAPDRV_VPCI_NOTIFY_CAP_MULT, 4);
            }
        }
        ptr = cfg(t, ptr + 1, 1) & 0xfc;
    }
    assert_int_equal(ptr, 0);
    for (unsigned type = 1; type <= 5; type++)
        assert_true(t->cap[type].found);
}

uint64_t offered(struct vt *t)
{
    cw(t, CAPDRV_VPCI_COMMON_DFSELECT, 4, 0);
    uint64_t lo = cr(t, CAPDRV_VPCI_COMMON_DF, 4);
    cw(t, CAPDRV_VPCI_COMMON_DFSELECT, 4, 1);
    uint64_t hi = cr(t, CAPDRV_VPCI_COMMON_DF, 4);
    return hi << 32 | lo;
}

/* §3.1.1 steps 1-6; returns device_status as read back. */
uint8_t negotiate(struct vt *t, uint64_t accept)
{
    cw(t, CAPDRV_VPCI_COMMON_STATUS, 1, 0);
    assert_int_equal(status(t), 0);
    cw(t, CAPDRV_VPCI_COMMON_STATUS, 1, S_ACK);
    cw(t, CAPDRV_VPCI_COMMON_STATUS, 1, S_ACK | S_DRV);
    cw(t, CAPDRV_VPCI_COMMON_GFSELECT, 4, 0);
    cw(t, CAPDRV_VPCI_COMMON_GF, 4, (uint32_t)accept);
    cw(t, CAPDRV_VPCI_COMMON_GFSELECT, 4, 1);
    cw(t, CAPDRV_VPCI_COMMON_GF, 4, (uint32_t)(accept >> 32));
    cw(t, CAPDRV_VPCI_COMMON_STATUS, 1, S_ACK | S_DRV | S_FOK);
    return status(t);
}

uint64_t ring_dev(struct vt *t, unsigned q, uint32_t off)
{
    return t->ring_dev + (uint64_t)q * RING_SIZE + off;
}

uint8_t *ring_cpu(struct vt *t, unsigned q, uint32_t off)
{
    return t->r + (size_t)q * RING_SIZE + off;
}

/* Program queue @q (fresh, zeroed rings) and enable it. */
void setup_queue(struct vt *t, unsigned q, uint16_t vector)
{
    memset(ring_cpu(t, q, 0), 0, RING_SIZE);
    t->avail[q] = 0;
    cw(t, CAPDRV_VPCI_COMMON_Q_SELECT, 2, q);
    cw(t, CAPDRV_VPCI_COMMON_Q_SIZE, 2, Q);
    /* desc as one 64-bit access, the others as two halves (§4.1.3.1). */
    cw(t, CAPDRV_VPCI_COMMON_Q_DESCLO, 8, ring_dev(t, q, 0));
    cw(t, CAPDRV_VPCI_COMMON_Q_AVAILLO, 4, (uint32_t)ring_dev(t, q, AVAIL_OFF));
    cw(t, CAPDRV_VPCI_COMMON_Q_AVAILHI, 4, ring_dev(t, q, AVAIL_OFF) >> 32);
    cw(t, CAPDRV_VPCI_COMMON_Q_USEDLO, 4, (uint32_t)ring_dev(t, q, USED_OFF));
    cw(t, CAPDRV_VPCI_COMMON_Q_USEDHI, 4, ring_dev(t, q, USED_OFF) >> 32);
    cw(t, CAPDRV_VPCI_COMMON_Q_MSIX, 2, vector);
    assert_int_equal(cr(t, CAPDRV_VPCI_COMMON_Q_MSIX, 2), vector);
    cw(t, CAPDRV_VPCI_COMMON_Q_ENABLE, 2, 1);
    assert_int_equal(cr(t, CAPDRV_VPCI_COMMON_Q_ENABLE, 2), 1);
}

/* Full bring-up of queue 0 (and queue 1 when @nq is 2). */
void start(struct vt *t, uint64_t accept, unsigned nq, uint16_t vector)
{
    assert_int_equal(negotiate(t, accept), S_ACK | S_DRV | S_FOK);
    for (unsigned q = 0; q < nq; q++)
        setup_queue(t, q, vector);
    cw(t, CAPDRV_VPCI_COMMON_STATUS, 1, S_ACK | S_DRV | S_FOK | S_DOK);
    assert_int_equal(status(t), S_ACK | S_DRV | S_FOK | S_DOK);
}

void desc_at(uint8_t *table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
             uint16_t next)
{
    uint8_t *d = table + 16u * i;
    put(d, 8, addr);
    put(d + 8, 4, len);
    put(d + 12, 2, flags);
    put(d + 14, 2, next);
}

void desc(struct vt *t, unsigned q, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
          uint16_t next)
{
    desc_at(ring_cpu(t, q, 0), i, addr, len, flags, next);
}

void post(struct vt *t, unsigned q, uint16_t head)
{
    put(ring_cpu(t, q, AVAIL_OFF + 4u + 2u * (t->avail[q] % Q)), 2, head);
    t->avail[q]++;
    put(ring_cpu(t, q, AVAIL_OFF + 2u), 2, t->avail[q]);
}

uint16_t used_idx(struct vt *t, unsigned q)
{
    return (uint16_t)get(ring_cpu(t, q, USED_OFF + 2u), 2);
}

void used_elem(struct vt *t, unsigned q, uint16_t k, uint32_t *id, uint32_t *len)
{
    const uint8_t *e = ring_cpu(t, q, USED_OFF + 4u + 8u * (k % Q));
    *id = (uint32_t)get(e, 4);
    *len = (uint32_t)get(e + 4, 4);
}

void vt_attach(struct vt *t, struct capdrv_sim *sim, unsigned fn)
{
    memset(t, 0, sizeof *t);
    t->sim = sim;
    t->fn = fn;
    t->hw = capdrv_sim_hw(sim);
    walk_caps(t);
    assert_int_equal(t->hw.ops->dma_alloc(t->hw.ctx, 2 * RING_SIZE, &t->ring), 0);
    assert_int_equal(t->hw.ops->dma_map(t->hw.ctx, t->fn, &t->ring, 0x100000, &t->ring_dev), 0);
    assert_int_equal(t->hw.ops->dma_alloc(t->hw.ctx, BUF_SIZE, &t->buf), 0);
    assert_int_equal(t->hw.ops->dma_map(t->hw.ctx, t->fn, &t->buf, 0x200000, &t->buf_dev), 0);
    t->r = t->ring.cpu;
    t->b = t->buf.cpu;
    memset(t->b, 0, BUF_SIZE);
}

void vt_detach(struct vt *t)
{
    assert_int_equal(t->hw.ops->dma_unmap(t->hw.ctx, t->fn, &t->ring, t->ring_dev), 0);
    assert_int_equal(t->hw.ops->dma_unmap(t->hw.ctx, t->fn, &t->buf, t->buf_dev), 0);
    t->hw.ops->dma_free(t->hw.ctx, &t->ring);
    t->hw.ops->dma_free(t->hw.ctx, &t->buf);
}

void vt_finish(struct capdrv_sim *sim, unsigned long violations)
{
    struct capdrv_sim_dma_stats ds;
    assert_int_equal(capdrv_sim_dma_stats(sim, &ds), 0);
    assert_int_equal(ds.regions, 0);
    assert_int_equal(ds.mappings, 0);
    assert_int_equal(capdrv_sim_oracle_violations(sim), violations);
    capdrv_sim_destroy(sim);
}

void vt_close(struct vt *t, unsigned long violations)
{
    vt_detach(t);
    vt_finish(t->sim, violations);
}
