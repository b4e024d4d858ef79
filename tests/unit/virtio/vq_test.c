/* Fixture and reference device for the split virtqueue tests; see vq_test.h. */
#define _POSIX_C_SOURCE 200809L /* posix_memalign */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "vq_test.h"

uint16_t vq_rd16(const unsigned char *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

uint32_t vq_rd32(const unsigned char *p)
{
    return (uint32_t)vq_rd16(p) | ((uint32_t)vq_rd16(p + 2) << 16);
}

uint64_t vq_rd64(const unsigned char *p)
{
    return (uint64_t)vq_rd32(p) | ((uint64_t)vq_rd32(p + 4) << 32);
}

void vq_wr16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

void vq_wr32(unsigned char *p, uint32_t v)
{
    vq_wr16(p, (uint16_t)v);
    vq_wr16(p + 2, (uint16_t)(v >> 16));
}

uint64_t vq_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static void *xalloc(size_t align, size_t len)
{
    void *p = NULL;
    assert_int_equal(posix_memalign(&p, align, len), 0);
    return p;
}

void vq_fix_init(struct vq_fix *f, unsigned size, unsigned flags, unsigned indirect_max)
{
    memset(f, 0, sizeof *f);
    if (indirect_max != 0)
        flags |= CAPDRV_VIRTQ_F_INDIRECT;
    assert_int_equal(capdrv_virtq_layout(size, flags, &f->lay), 0);
    /* Exactly the sizes asked for: ASan flags a byte beyond them. Filled
     * with garbage so that init is seen to zero what it must. */
    f->ring = xalloc(CAPDRV_VIRTQ_RING_ALIGN, f->lay.total_len);
    memset(f->ring, 0xA5, f->lay.total_len);
    size_t slen = capdrv_virtq_state_size(size);
    assert_int_equal(slen, CAPDRV_VIRTQ_STATE_SIZE(size));
    f->state = xalloc(CAPDRV_VIRTQ_STATE_ALIGN, slen);
    memset(f->state, 0x5A, slen);
    size_t ilen = 0;
    if (indirect_max != 0) {
        ilen = (size_t)size * indirect_max * sizeof(struct capdrv_vring_desc);
        f->ind = xalloc(16, ilen);
        memset(f->ind, 0xC3, ilen);
    }
    f->cfg = (struct capdrv_virtq_config){
        .size = size,
        .flags = flags,
        .ring = f->ring,
        .ring_ref = VQ_RING_REF,
        .ring_len = f->lay.total_len,
        .indirect = f->ind,
        .indirect_ref = f->ind != NULL ? VQ_IND_REF : 0,
        .indirect_len = ilen,
        .indirect_max = indirect_max,
        .state = f->state,
        .state_len = slen,
    };
    assert_int_equal(capdrv_virtq_init(&f->vq, &f->cfg), 0);

    /* Init zeroed the device-visible memory. */
    const unsigned char *r = f->ring;
    for (size_t i = 0; i < f->lay.total_len; i++)
        assert_int_equal(r[i], 0);
    for (size_t i = 0; i < ilen; i++)
        assert_int_equal(((unsigned char *)f->ind)[i], 0);

    struct vq_dev *d = &f->dev;
    d->size = size;
    d->mask = size - 1u;
    d->event_idx = (flags & CAPDRV_VIRTQ_F_EVENT_IDX) != 0;
    d->indirect = indirect_max != 0;
    d->indirect_max = indirect_max;
    d->ring = f->ring;
    d->lay = f->lay;
    d->ind = f->ind;
    d->ind_len = ilen;
    d->auto_avail_event = 1;
    d->busy = calloc(size, 1);
    d->hd_n = calloc(size, sizeof *d->hd_n);
    d->hd_wbytes = calloc(size, sizeof *d->hd_wbytes);
    assert_non_null(d->busy);
    assert_non_null(d->hd_n);
    assert_non_null(d->hd_wbytes);
}

void vq_fix_free(struct vq_fix *f)
{
    free(f->ring);
    free(f->state);
    free(f->ind);
    free(f->dev.busy);
    free(f->dev.hd_n);
    free(f->dev.hd_wbytes);
    memset(f, 0, sizeof *f);
}

uint16_t vq_dev_avail_idx(const struct vq_dev *d)
{
    return vq_rd16(d->ring + d->lay.avail_off + 2);
}

uint16_t vq_dev_avail_flags(const struct vq_dev *d)
{
    return vq_rd16(d->ring + d->lay.avail_off);
}

uint16_t vq_dev_used_event(const struct vq_dev *d)
{
    return vq_rd16(d->ring + d->lay.used_event_off);
}

uint16_t vq_dev_ring_used_idx(const struct vq_dev *d)
{
    return vq_rd16(d->ring + d->lay.used_off + 2);
}

void vq_dev_set_avail_event(struct vq_dev *d, uint16_t v)
{
    vq_wr16(d->ring + d->lay.avail_event_off, v);
}

void vq_dev_set_used_flags(struct vq_dev *d, uint16_t v)
{
    vq_wr16(d->ring + d->lay.used_off, v);
}

unsigned vq_dev_pending(const struct vq_dev *d)
{
    unsigned n = (uint16_t)(vq_dev_avail_idx(d) - d->last_avail);
    assert_true(n <= d->size);
    return n;
}

/* Append one segment, checking readable-before-writable (§2.7.4.2). */
static void add_seg(struct vq_dev_req *r, uint64_t addr, uint32_t len, uint16_t flags)
{
    int w = (flags & CAPDRV_VRING_DESC_F_WRITE) != 0;
    assert_true(r->nseg < VQ_DEV_MAX_SEGS);
    if (r->nseg > 0 && r->seg[r->nseg - 1].write)
        assert_true(w); /* no readable segment after a writable one */
    assert_true(len > 0);
    r->seg[r->nseg].addr = addr;
    r->seg[r->nseg].len = len;
    r->seg[r->nseg].write = w;
    r->nseg++;
    if (w)
        r->wbytes += len;
}

static void walk_indirect(struct vq_dev *d, struct vq_dev_req *r, uint64_t addr, uint32_t len)
{
    assert_true(d->indirect);
    /* The table lies inside the slab, 16-aligned, whole descriptors, and
     * is the head's own (one table per head). */
    assert_true(addr >= VQ_IND_REF && addr - VQ_IND_REF < d->ind_len);
    uint64_t off = addr - VQ_IND_REF;
    assert_int_equal(off % 16u, 0);
    assert_int_equal(len % 16u, 0);
    assert_true(len >= 16u && off + len <= d->ind_len);
    assert_int_equal(off, (uint64_t)r->head * d->indirect_max * 16u);
    unsigned n = len / 16u;
    assert_true(n <= d->indirect_max && n <= d->size);
    const unsigned char *t = d->ind + off;
    unsigned i = 0, steps = 0;
    for (;;) {
        const unsigned char *e = t + 16u * i;
        uint16_t fl = vq_rd16(e + 12);
        /* §2.7.5.3.1: no F_INDIRECT inside a table. */
        assert_int_equal(fl & CAPDRV_VRING_DESC_F_INDIRECT, 0);
        assert_int_equal(fl & ~(unsigned)(CAPDRV_VRING_DESC_F_NEXT | CAPDRV_VRING_DESC_F_WRITE), 0);
        add_seg(r, vq_rd64(e), vq_rd32(e + 8), fl);
        steps++;
        if ((fl & CAPDRV_VRING_DESC_F_NEXT) == 0)
            break;
        uint16_t nx = vq_rd16(e + 14);
        assert_true(nx < n);
        assert_true(steps < n); /* no loop */
        i = nx;
    }
    /* The driver sizes the table to the request exactly. */
    assert_int_equal(steps, n);
}

int vq_dev_pop(struct vq_dev *d, struct vq_dev_req *r)
{
    if (vq_dev_pending(d) == 0)
        return 0;
    /* Device side of §2.7.13.3: read idx, then a read barrier, then the
     * ring entries and descriptors. */
    atomic_thread_fence(memory_order_acquire);
    memset(r, 0, sizeof *r);
    const unsigned char *ring = d->ring + d->lay.avail_off + 4u;
    uint16_t head = vq_rd16(ring + 2u * (d->last_avail & d->mask));
    assert_true(head < d->size);
    r->head = head;

    const unsigned char *desc = d->ring + d->lay.desc_off;
    uint16_t i = head;
    for (unsigned steps = 0;; steps++) {
        assert_true(steps < d->size); /* a chain is at most Queue Size long */
        assert_true(steps < VQ_DEV_MAX_SEGS);
        /* The driver must not hand out a descriptor the device holds. */
        assert_int_equal(d->busy[i], 0);
        d->busy[i] = 1;
        r->desc[steps] = i;
        const unsigned char *e = desc + 16u * i;
        uint16_t fl = vq_rd16(e + 12);
        assert_int_equal(fl & ~(unsigned)(CAPDRV_VRING_DESC_F_NEXT | CAPDRV_VRING_DESC_F_WRITE |
                                          CAPDRV_VRING_DESC_F_INDIRECT),
                         0);
        if (fl & CAPDRV_VRING_DESC_F_INDIRECT) {
            /* This driver only makes a lone indirect descriptor: never with
             * F_NEXT (§2.7.5.3.1), never after a chain. */
            assert_int_equal(steps, 0);
            assert_int_equal(fl, CAPDRV_VRING_DESC_F_INDIRECT);
            r->indirect = 1;
            walk_indirect(d, r, vq_rd64(e), vq_rd32(e + 8));
            break;
        }
        add_seg(r, vq_rd64(e), vq_rd32(e + 8), fl);
        if ((fl & CAPDRV_VRING_DESC_F_NEXT) == 0)
            break;
        i = vq_rd16(e + 14);
        assert_true(i < d->size);
    }
    assert_true(r->wbytes <= ((uint64_t)1 << 32));
    d->hd_n[head] = (uint16_t)(r->indirect ? 1u : r->nseg);
    d->hd_wbytes[head] = r->wbytes;
    d->last_avail++;
    if (d->event_idx && d->auto_avail_event)
        vq_dev_set_avail_event(d, d->last_avail); /* kick me for the next one */
    return 1;
}

void vq_dev_push_raw(struct vq_dev *d, uint32_t id, uint32_t len)
{
    unsigned char *e = d->ring + d->lay.used_off + 4u + 8u * (d->used_idx & d->mask);
    vq_wr32(e, id);
    vq_wr32(e + 4, len);
    d->used_idx++;
}

void vq_dev_complete(struct vq_dev *d, uint16_t head, uint32_t len)
{
    assert_true(head < d->size);
    assert_true(d->hd_n[head] > 0);
    assert_true(len <= d->hd_wbytes[head]);
    const unsigned char *desc = d->ring + d->lay.desc_off;
    uint16_t i = head;
    for (unsigned k = 0; k < d->hd_n[head]; k++) {
        assert_true(i < d->size);
        assert_int_equal(d->busy[i], 1);
        d->busy[i] = 0;
        i = vq_rd16(desc + 16u * i + 14);
    }
    d->hd_n[head] = 0;
    d->hd_wbytes[head] = 0;
    vq_dev_push_raw(d, head, len);
}

int vq_dev_flush(struct vq_dev *d)
{
    uint16_t old = vq_dev_ring_used_idx(d);
    /* §2.7.8.2: elements before idx (write barrier), then idx. */
    atomic_thread_fence(memory_order_release);
    vq_wr16(d->ring + d->lay.used_off + 2, d->used_idx);
    if (old == d->used_idx)
        return 0;
    /* Full barrier between the idx store and reading the suppression
     * state (the device's mirror of §2.7.13.4.1). */
    atomic_thread_fence(memory_order_seq_cst);
    if (d->event_idx)
        return capdrv_vring_need_event(vq_dev_used_event(d), d->used_idx, old);
    return (vq_dev_avail_flags(d) & CAPDRV_VRING_AVAIL_F_NO_INTERRUPT) == 0;
}
