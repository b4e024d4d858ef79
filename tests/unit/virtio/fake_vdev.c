/* A fake virtio PCI modern function behind a capdrv_sys backend; see
 * fake_vdev.h. Device-side rules come from VIRTIO 1.2 §4.1.4, §2.7, §5.2. */
#include "fake_vdev.h"

#include <stdlib.h>
#include <string.h>

#define MMIO_HANDLE(w) (0x0200000000000001ull + (w))
#define IRQ_HANDLE(v) (0x0500000000000001ull + (v))
#define BUF_HANDLE(i) (0x0400000000000001ull + (i))
#define REF_BASE(i) (0x00a0000000000000ull + ((uint64_t)(i) << 32))

static struct fv *F(capdrv_sys *s)
{
    return (struct fv *)(void *)s;
}

static uint64_t rd(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void wr(uint8_t *p, unsigned n, uint64_t v)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

void *fv_ref(struct fv *f, uint64_t ref, size_t len)
{
    for (unsigned i = 0; i < f->n_buf; i++) {
        struct fv_buf *b = &f->buf[i];
        if (b->live && ref >= b->ref && ref - b->ref <= b->size && len <= b->size - (ref - b->ref))
            return (uint8_t *)b->cpu + (ref - b->ref);
    }
    return NULL;
}

/* ---- Block back end (§5.2.6) ------------------------------------------- */

struct seg {
    uint8_t *p;
    uint32_t len;
    bool write;
};

/* Gather the chain at @head (direct or one indirect table, §2.7.5.3). */
static int gather(struct fv *f, struct fv_queue *q, uint16_t head, struct seg *s, unsigned max)
{
    uint8_t *table = fv_ref(f, q->desc, (size_t)16 * q->size);
    if (!table || head >= q->size)
        return -1;
    unsigned n = 0, tsize = q->size;
    uint16_t i = head;
    for (unsigned hops = 0; hops < 2u * q->size + 64u; hops++) {
        uint8_t *d = table + 16u * i;
        uint64_t addr = rd(d, 8);
        uint32_t len = (uint32_t)rd(d + 8, 4);
        uint16_t flags = (uint16_t)rd(d + 12, 2), next = (uint16_t)rd(d + 14, 2);
        if (flags & 4) { /* INDIRECT: only from the ring's table, no NEXT */
            if (table != fv_ref(f, q->desc, (size_t)16 * q->size) || (flags & 1) || len % 16)
                return -1;
            table = fv_ref(f, addr, len);
            if (!table)
                return -1;
            tsize = len / 16;
            i = 0;
            continue;
        }
        if (n == max)
            return -1;
        s[n].p = fv_ref(f, addr, len);
        s[n].len = len;
        s[n].write = flags & 2;
        if (!s[n].p)
            return -1;
        if (n && s[n - 1].write && !s[n].write) /* §2.7.4.2 order */
            return -1;
        n++;
        if (!(flags & 1))
            return (int)n;
        if (next >= tsize)
            return -1;
        i = next;
    }
    return -1;
}

/* Execute one request; returns the number of writable bytes written. */
static uint32_t blk_exec(struct fv *f, struct seg *s, unsigned n)
{
    if (n < 2 || s[0].len < 16 || s[0].write || !s[n - 1].write || s[n - 1].len < 1)
        return 0;
    uint32_t type = (uint32_t)rd(s[0].p, 4);
    uint64_t sector = rd(s[0].p + 8, 8);
    uint8_t status = 0;
    uint32_t written = 0;
    f->requests++;
    f->last_type = type;
    uint64_t off = sector * 512;
    switch (type) {
    case 0: /* IN */
    case 1: /* OUT */
        for (unsigned i = 1; i + 1 < n; i++) {
            if (off + s[i].len > sizeof f->disk) {
                status = 1;
                break;
            }
            if (type == 0) {
                memcpy(s[i].p, f->disk + off, s[i].len);
                written += s[i].len;
            } else {
                memcpy(f->disk + off, s[i].p, s[i].len);
            }
            off += s[i].len;
        }
        break;
    case 4: /* FLUSH */
        break;
    case 8: /* GET_ID */
        if (n >= 3 && s[1].write) {
            uint32_t k = s[1].len < 20 ? s[1].len : 20;
            memcpy(s[1].p, "fake-virtio-blk-0001", k);
            written += s[1].len;
        }
        break;
    case 11: /* DISCARD */
    case 13: /* WRITE_ZEROES */
        if (n < 3 || s[1].len < 16 || s[1].write) {
            status = 1;
            break;
        }
        uint64_t rs = rd(s[1].p, 8);
        uint32_t nsec = (uint32_t)rd(s[1].p + 8, 4);
        if ((rs + nsec) * 512 > sizeof f->disk)
            status = 1;
        else if (type == 13)
            memset(f->disk + rs * 512, 0, (size_t)nsec * 512);
        break;
    default:
        status = 2;
    }
    if (f->status_override >= 0)
        status = (uint8_t)f->status_override;
    s[n - 1].p[s[n - 1].len - 1] = status;
    return written + s[n - 1].len;
}

static void serve_queue(struct fv *f, unsigned qi)
{
    struct fv_queue *q = &f->q[qi];
    if (!q->enable || !(f->status & 4))
        return;
    uint8_t *avail = fv_ref(f, q->driver, 4u + 2u * q->size + 2u);
    uint8_t *used = fv_ref(f, q->device, 4u + 8u * q->size + 2u);
    if (!avail || !used)
        return;
    uint16_t aidx = (uint16_t)rd(avail + 2, 2);
    if (q->last_avail == aidx)
        return;
    while (q->last_avail != aidx) {
        uint16_t head = (uint16_t)rd(avail + 4 + 2 * (q->last_avail % q->size), 2);
        q->last_avail++;
        struct seg s[300];
        int n = gather(f, q, head, s, 300);
        uint32_t len = n > 0 ? blk_exec(f, s, (unsigned)n) : 0;
        if (f->len_override >= 0)
            len = (uint32_t)f->len_override;
        uint8_t *e = used + 4 + 8 * (q->used_idx % q->size);
        wr(e, 4, f->corrupt_used_id ? q->size + 7u : head);
        wr(e + 4, 4, len);
        q->used_idx++;
        __atomic_thread_fence(__ATOMIC_RELEASE);
        wr(used + 2, 2, q->used_idx);
    }
    /* avail_event = next index we will look at (EVENT_IDX, §2.7.10). */
    wr(used + 4 + 8 * q->size, 2, q->last_avail);
    if (f->mmio)
        f->int_status |= 1u; /* §4.2.3.4: the line, cause "used buffer" */
    else if (q->vector != 0xffff && q->vector < 64)
        f->irq_pending |= 1ull << q->vector;
}

void fv_serve(struct fv *f)
{
    for (unsigned i = 0; i < FV_MAX_QUEUES; i++)
        serve_queue(f, i);
}

/* ---- BAR0 registers ----------------------------------------------------- */

static int common_read(struct fv *f, uint64_t off, unsigned width, uint64_t *v)
{
    struct fv_queue *q = f->queue_select < FV_MAX_QUEUES ? &f->q[f->queue_select] : NULL;
    /* §4.1.3.1: natural widths; 64-bit fields as 32-bit halves. */
    switch (off) {
    case 0x04: *v = (uint32_t)(f->dfsel < 2 ? f->dev_features >> (32 * f->dfsel) : 0); return width == 4 ? 0 : -1;
    case 0x00: *v = f->dfsel; return width == 4 ? 0 : -1;
    case 0x08: *v = f->drvsel; return width == 4 ? 0 : -1;
    case 0x0c: *v = (uint32_t)(f->drvsel < 2 ? f->drv_features >> (32 * f->drvsel) : 0); return width == 4 ? 0 : -1;
    case 0x10: *v = f->config_vector; return width == 2 ? 0 : -1;
    case 0x12: *v = f->num_queues; return width == 2 ? 0 : -1;
    case 0x14:
        *v = f->reset_stuck ? 1 : (uint64_t)(f->status | (f->needs_reset ? 64 : 0));
        return width == 1 ? 0 : -1;
    case 0x15:
        if (f->gen_flaps) {
            f->gen_flaps--;
            f->generation++;
        }
        *v = f->generation;
        return width == 1 ? 0 : -1;
    case 0x16: *v = f->queue_select; return width == 2 ? 0 : -1;
    case 0x18: *v = q ? q->size : 0; return width == 2 ? 0 : -1;
    case 0x1a: *v = q ? q->vector : 0xffff; return width == 2 ? 0 : -1;
    case 0x1c: *v = q ? q->enable : 0; return width == 2 ? 0 : -1;
    case 0x1e: *v = q ? q->notify_off : 0; return width == 2 ? 0 : -1;
    default: return -1;
    }
}

static void do_reset(struct fv *f)
{
    f->status = 0;
    f->int_status = 0;
    f->drv_features = 0;
    f->config_vector = 0xffff;
    for (unsigned i = 0; i < FV_MAX_QUEUES; i++) {
        struct fv_queue *q = &f->q[i];
        q->size = q->max_size;
        q->vector = 0xffff;
        q->enable = 0;
        q->desc = q->driver = q->device = 0;
        q->last_avail = q->used_idx = 0;
    }
}

static int common_write(struct fv *f, uint64_t off, unsigned width, uint64_t v)
{
    struct fv_queue *q = f->queue_select < FV_MAX_QUEUES ? &f->q[f->queue_select] : NULL;
    if (off >= 0x20 && off < 0x38) { /* queue_desc/driver/device halves */
        if (width != 4 || !q)
            return -1;
        uint64_t *field = off < 0x28 ? &q->desc : off < 0x30 ? &q->driver : &q->device;
        unsigned half = (unsigned)((off - 0x20) / 4) % 2;
        *field = half ? (*field & 0xffffffffu) | (v << 32) : (*field & ~0xffffffffull) | v;
        return 0;
    }
    switch (off) {
    case 0x00: f->dfsel = (uint32_t)v; return width == 4 ? 0 : -1;
    case 0x08: f->drvsel = (uint32_t)v; return width == 4 ? 0 : -1;
    case 0x0c:
        if (width != 4 || f->drvsel >= 2)
            return -1;
        f->drv_features &= ~(0xffffffffull << (32 * f->drvsel));
        f->drv_features |= v << (32 * f->drvsel);
        return 0;
    case 0x10:
        f->config_vector = f->refuse_vectors ? 0xffff : (uint16_t)v;
        return width == 2 ? 0 : -1;
    case 0x14:
        if (width != 1)
            return -1;
        if (f->status_writes < sizeof f->status_log)
            f->status_log[f->status_writes] = (uint8_t)v;
        f->status_writes++;
        if (v == 0) {
            do_reset(f);
            return 0;
        }
        f->status = (uint8_t)v;
        /* §3.1.1 step 6: a device refusing the subset clears FEATURES_OK;
         * so does one offered a feature it did not offer. */
        if ((v & 8) && (f->refuse_features_ok || (f->drv_features & ~f->dev_features)))
            f->status &= (uint8_t)~8u;
        return 0;
    case 0x16: f->queue_select = (uint16_t)v; return width == 2 ? 0 : -1;
    case 0x18:
        if (!q || width != 2 || v > q->max_size || q->enable)
            return -1;
        q->size = (uint16_t)v;
        return 0;
    case 0x1a:
        if (!q || width != 2)
            return -1;
        q->vector = f->refuse_vectors ? 0xffff : (uint16_t)v;
        return 0;
    case 0x1c:
        if (!q || width != 2 || v != 1)
            return -1;
        q->enable = 1;
        return 0;
    default: return -1;
    }
}

/* ---- virtio-mmio register block (§4.2.2) --------------------------------- */

static struct fv_queue *mmio_q(struct fv *f)
{
    return f->queue_select < FV_MAX_QUEUES ? &f->q[f->queue_select] : NULL;
}

/* Control registers: 32-bit accesses only (§4.2.2.2); -1 refuses. */
static int mmio_read(struct fv *f, uint64_t off, unsigned width, uint64_t *v)
{
    if (off >= 0x100) { /* device configuration, at most 32 bits at a time */
        if (width > 4)
            return -1;
        uint64_t c = off - 0x100;
        *v = c + width <= FV_DEVCFG_LEN ? rd(f->devcfg + c, width) : 0;
        return 0;
    }
    if (width != 4)
        return -1;
    struct fv_queue *q = mmio_q(f);
    switch (off) {
    case 0x000: *v = f->mmio_magic; return 0;
    case 0x004: *v = f->mmio_version; return 0;
    case 0x008: *v = f->mmio_device_id; return 0;
    case 0x00c: *v = 0x554d4551u; return 0;
    case 0x010: *v = (uint32_t)(f->dfsel < 2 ? f->dev_features >> (32 * f->dfsel) : 0); return 0;
    case 0x034: *v = q ? q->max_size : 0; return 0; /* 0: no such queue */
    case 0x044: *v = q ? q->enable : 0; return 0;
    case 0x060: *v = f->int_status; return 0;
    case 0x070:
        *v = f->reset_stuck ? 1 : (uint64_t)(f->status | (f->needs_reset ? 64 : 0));
        return 0;
    case 0x0fc:
        if (f->gen_flaps) {
            f->gen_flaps--;
            f->generation++;
        }
        *v = f->generation;
        return 0;
    default: return -1; /* write-only or reserved */
    }
}

static int mmio_write(struct fv *f, uint64_t off, unsigned width, uint64_t v)
{
    if (off >= 0x100 || width != 4)
        return -1; /* the configuration is read-only here */
    struct fv_queue *q = mmio_q(f);
    switch (off) {
    case 0x014: f->dfsel = (uint32_t)v; return 0;
    case 0x020:
        if (f->drvsel >= 2)
            return -1;
        f->drv_features &= ~(0xffffffffull << (32 * f->drvsel));
        f->drv_features |= v << (32 * f->drvsel);
        return 0;
    case 0x024: f->drvsel = (uint32_t)v; return 0;
    case 0x030: f->queue_select = v > 0xffff ? 0xffff : (uint16_t)v; return 0;
    case 0x038:
        if (!q || v == 0 || v > q->max_size || q->enable)
            return -1;
        q->size = (uint16_t)v;
        return 0;
    case 0x044:
        if (!q || v > 1)
            return -1;
        q->enable = (uint16_t)v;
        return 0;
    case 0x050:
        /* §4.2.3.3: the queue index (no VIRTIO_F_NOTIFICATION_DATA). */
        f->last_notify = (uint32_t)v;
        if (v >= FV_MAX_QUEUES || !f->q[v].enable)
            return -1;
        f->q[v].notifies++;
        if (!f->manual)
            serve_queue(f, (unsigned)v);
        return 0;
    case 0x064:
        f->int_acks++;
        f->int_acked |= (uint32_t)v;
        f->int_status &= ~(uint32_t)v;
        return 0;
    case 0x070:
        return common_write(f, 0x14, 1, v & 0xffu);
    case 0x080: case 0x084: case 0x090: case 0x094: case 0x0a0: case 0x0a4: {
        if (!q || q->enable)
            return -1;
        uint64_t *field = off < 0x90 ? &q->desc : off < 0xa0 ? &q->driver : &q->device;
        *field = (off & 4) ? (*field & 0xffffffffu) | (v << 32) : (*field & ~0xffffffffull) | v;
        return 0;
    }
    default: return -1;
    }
}

static int bar_read(struct fv *f, uint64_t off, unsigned width, uint64_t *v)
{
    if (f->mmio)
        return mmio_read(f, off, width, v);
    if (off < FV_COMMON + 0x40)
        return common_read(f, off - FV_COMMON, width, v);
    if (off == FV_ISR && width == 1) {
        *v = f->isr;
        f->isr = 0;
        return 0;
    }
    if (off >= FV_DEVCFG && off + width <= FV_DEVCFG + FV_DEVCFG_LEN && width <= 4) {
        *v = rd(f->devcfg + (off - FV_DEVCFG), width);
        return 0;
    }
    return -1;
}

static int bar_write(struct fv *f, uint64_t off, unsigned width, uint64_t v)
{
    if (f->mmio)
        return mmio_write(f, off, width, v);
    if (off < FV_COMMON + 0x40)
        return common_write(f, off - FV_COMMON, width, v);
    if (off >= FV_NOTIFY && off < FV_NOTIFY + 0x100) {
        /* §4.1.4.4: a 16-bit write of the queue index at its address. */
        uint64_t qi = (off - FV_NOTIFY) / FV_NOTIFY_MULT;
        if (width != 2 || (off - FV_NOTIFY) % FV_NOTIFY_MULT || qi >= FV_MAX_QUEUES ||
            v != qi || f->q[qi].notify_off != qi)
            return -1;
        f->q[qi].notifies++;
        if (!f->manual)
            serve_queue(f, (unsigned)qi);
        return 0;
    }
    return -1;
}

/* ---- capdrv_sys operations --------------------------------------------- */

static int op_count(capdrv_sys *s)
{
    (void)s;
    return 1;
}

static int op_info(capdrv_sys *s, unsigned index, struct capdrv_grant_info *out)
{
    (void)s;
    if (index)
        return -CAPDRV_ENOENT;
    memset(out, 0, sizeof *out);
    strcpy(out->name, "vblk");
    return 0;
}

static int op_open(capdrv_sys *s, unsigned index, capdrv_cap_t *grant)
{
    (void)s;
    if (index)
        return -CAPDRV_ENOENT;
    *grant = FV_GRANT;
    return 0;
}

static int op_lane(capdrv_sys *s, capdrv_cap_t grant)
{
    return grant == FV_GRANT ? F(s)->lane : -CAPDRV_EBADF;
}

static int op_reset(capdrv_sys *s, capdrv_cap_t grant)
{
    (void)s;
    (void)grant;
    return -CAPDRV_ENOSYS;
}

static int op_window(capdrv_sys *s, capdrv_cap_t grant, unsigned w, struct capdrv_window_info *out)
{
    struct fv *f = F(s);
    if (grant != FV_GRANT)
        return -CAPDRV_EBADF;
    if (w >= f->n_win)
        return -CAPDRV_ENOENT;
    *out = f->win[w];
    return 0;
}

static int op_mmio_open(capdrv_sys *s, capdrv_cap_t grant, unsigned w, capdrv_cap_t *mmio)
{
    struct fv *f = F(s);
    if (grant != FV_GRANT)
        return -CAPDRV_EBADF;
    if (w >= f->n_win)
        return -CAPDRV_ENOENT;
    if (f->mmio_open[w])
        return -CAPDRV_EBUSY;
    f->mmio_open[w] = true;
    *mmio = MMIO_HANDLE(w);
    return 0;
}

static int window_of(struct fv *f, capdrv_cap_t mmio, uint64_t off, unsigned width, uint32_t need,
                     uint64_t *bar_off)
{
    uint64_t w = mmio - MMIO_HANDLE(0);
    f->mmio_accesses++;
    if (w >= f->n_win || !f->mmio_open[w])
        return -CAPDRV_EBADF;
    if ((width != 1 && width != 2 && width != 4 && width != 8) || off % width) {
        f->bad_accesses++;
        return -CAPDRV_EINVAL;
    }
    if (off + width > f->win[w].length || f->win[w].bar != 0) {
        f->bad_accesses++;
        return -CAPDRV_EFAULT;
    }
    if (!(f->win[w].flags & need)) {
        f->bad_accesses++;
        return -CAPDRV_EPERM;
    }
    *bar_off = f->win[w].offset + off;
    return 0;
}

static int op_mmio_read(capdrv_sys *s, capdrv_cap_t mmio, uint64_t off, unsigned width, uint64_t *v)
{
    struct fv *f = F(s);
    uint64_t bo;
    int rc = window_of(f, mmio, off, width, CAPDRV_WINDOW_READ, &bo);
    if (rc < 0)
        return rc;
    if (bar_read(f, bo, width, v) < 0) {
        f->bad_accesses++;
        return -CAPDRV_EFAULT;
    }
    return 0;
}

static int op_mmio_write(capdrv_sys *s, capdrv_cap_t mmio, uint64_t off, unsigned width, uint64_t v)
{
    struct fv *f = F(s);
    uint64_t bo;
    int rc = window_of(f, mmio, off, width, CAPDRV_WINDOW_WRITE, &bo);
    if (rc < 0)
        return rc;
    if (bar_write(f, bo, width, v) < 0) {
        f->bad_accesses++;
        return -CAPDRV_EFAULT;
    }
    return 0;
}

static int op_cfg_read(capdrv_sys *s, capdrv_cap_t grant, uint32_t off, unsigned width, uint32_t *v)
{
    struct fv *f = F(s);
    if (grant != FV_GRANT)
        return -CAPDRV_EBADF;
    if (f->mmio)
        return -CAPDRV_ENOTSUP; /* an MMIO device has no configuration space */
    if ((width != 1 && width != 2 && width != 4) || off % width)
        return -CAPDRV_EINVAL;
    if (off >= 4096)
        return -CAPDRV_EFAULT;
    if (off == 4 && width == 2) {
        *v = f->command;
        return 0;
    }
    *v = off + width <= sizeof f->cfg ? (uint32_t)rd(f->cfg + off, width) : 0;
    return 0;
}

static int op_cfg_write(capdrv_sys *s, capdrv_cap_t grant, uint32_t off, unsigned width, uint32_t v)
{
    struct fv *f = F(s);
    if (grant != FV_GRANT)
        return -CAPDRV_EBADF;
    if (f->mmio)
        return -CAPDRV_ENOTSUP;
    if (off != 4 || width != 2 || (v & ~0x0406u) != (f->command & ~0x0406u))
        return -CAPDRV_EPERM;
    f->command = (uint16_t)v;
    return 0;
}

static int op_pool_open(capdrv_sys *s, capdrv_cap_t grant, capdrv_cap_t *pool)
{
    (void)s;
    if (grant != FV_GRANT)
        return -CAPDRV_EBADF;
    *pool = FV_POOL;
    return 0;
}

static int op_dma_alloc(capdrv_sys *s, capdrv_cap_t pool, size_t size, capdrv_cap_t *buf,
                        struct capdrv_dmabuf_info *info)
{
    struct fv *f = F(s);
    if (pool != FV_POOL)
        return -CAPDRV_EBADF;
    if (size == 0)
        return -CAPDRV_EINVAL;
    size = (size + 4095u) & ~(size_t)4095u;
    if (f->n_buf == FV_MAX_BUFS || (f->pool_limit && f->pool_used + size > f->pool_limit))
        return -CAPDRV_ENOSPC;
    void *p = aligned_alloc(4096, size);
    if (!p)
        return -CAPDRV_ENOMEM;
    memset(p, 0, size);
    struct fv_buf *b = &f->buf[f->n_buf];
    b->cpu = p;
    b->size = size;
    b->ref = REF_BASE(f->n_buf + 1);
    b->live = true;
    f->pool_used += size;
    *buf = BUF_HANDLE(f->n_buf);
    f->n_buf++;
    info->cpu = p;
    info->size = size;
    info->ref_base = b->ref;
    return 0;
}

static int op_dmabuf_info(capdrv_sys *s, capdrv_cap_t buf, struct capdrv_dmabuf_info *info)
{
    struct fv *f = F(s);
    uint64_t i = buf - BUF_HANDLE(0);
    if (i >= f->n_buf || !f->buf[i].live)
        return -CAPDRV_ESTALE;
    info->cpu = f->buf[i].cpu;
    info->size = f->buf[i].size;
    info->ref_base = f->buf[i].ref;
    return 0;
}

static int op_irq_open(capdrv_sys *s, capdrv_cap_t grant, unsigned v, capdrv_cap_t *irq)
{
    struct fv *f = F(s);
    if (grant != FV_GRANT)
        return -CAPDRV_EBADF;
    if (v >= 8 || (f->mmio && v != 0))
        return -CAPDRV_ENOENT; /* MMIO: one line (§4.2.3.4) */
    if (f->irq_open[v])
        return -CAPDRV_EBUSY;
    f->irq_open[v] = true;
    *irq = IRQ_HANDLE(v);
    return 0;
}

static int op_irq_wait(capdrv_sys *s, const capdrv_cap_t *irqs, unsigned n, int64_t t,
                       uint64_t *ready)
{
    struct fv *f = F(s);
    (void)t;
    if (n == 0 || n > 64)
        return -CAPDRV_EINVAL;
    /* No time passes in the fake: a device served synchronously at the
     * doorbell, or by fv_serve() from the test. */
    uint64_t m = 0;
    int c = 0;
    for (unsigned i = 0; i < n; i++) {
        uint64_t v = irqs[i] - IRQ_HANDLE(0);
        if (v >= 8 || !f->irq_open[v])
            return -CAPDRV_EBADF;
        /* MMIO: level-triggered, asserted while InterruptStatus != 0. */
        if (f->mmio ? f->int_status != 0 : (f->irq_pending & (1ull << v)) != 0) {
            m |= 1ull << i;
            c++;
        }
    }
    *ready = m;
    return c ? c : -CAPDRV_ETIMEDOUT;
}

static int op_irq_ack(capdrv_sys *s, capdrv_cap_t irq)
{
    struct fv *f = F(s);
    uint64_t v = irq - IRQ_HANDLE(0);
    if (v >= 8 || !f->irq_open[v])
        return -CAPDRV_EBADF;
    f->irq_pending &= ~(1ull << v);
    return 0;
}

static int op_irq_mask(capdrv_sys *s, capdrv_cap_t irq, bool masked)
{
    (void)s;
    (void)irq;
    (void)masked;
    return 0;
}

static int op_release(capdrv_sys *s, capdrv_cap_t cap)
{
    struct fv *f = F(s);
    f->releases++;
    uint64_t i;
    switch (capdrv_cap_type_of(cap)) {
    case CAPDRV_CAP_MMIO:
        i = cap - MMIO_HANDLE(0);
        if (i >= FV_MAX_WINDOWS || !f->mmio_open[i])
            return -CAPDRV_ESTALE;
        f->mmio_open[i] = false;
        return 0;
    case CAPDRV_CAP_IRQ:
        i = cap - IRQ_HANDLE(0);
        if (i >= 8 || !f->irq_open[i])
            return -CAPDRV_ESTALE;
        f->irq_open[i] = false;
        return 0;
    case CAPDRV_CAP_DMABUF:
        i = cap - BUF_HANDLE(0);
        if (i >= f->n_buf || !f->buf[i].live)
            return -CAPDRV_ESTALE;
        f->buf[i].live = false;
        f->pool_used -= f->buf[i].size;
        free(f->buf[i].cpu);
        f->buf[i].cpu = NULL;
        return 0;
    default:
        return 0;
    }
}

static void op_close(capdrv_sys *s)
{
    (void)s;
}

static const struct capdrv_sys_ops fv_ops = {
    .grant_count = op_count, .grant_info = op_info, .grant_open = op_open,
    .grant_lane = op_lane, .grant_reset = op_reset, .window_info = op_window,
    .mmio_open = op_mmio_open, .mmio_read = op_mmio_read, .mmio_write = op_mmio_write,
    .cfg_read = op_cfg_read, .cfg_write = op_cfg_write, .pool_open = op_pool_open,
    .dma_alloc = op_dma_alloc, .dmabuf_info = op_dmabuf_info, .irq_open = op_irq_open,
    .irq_wait = op_irq_wait, .irq_ack = op_irq_ack, .irq_mask = op_irq_mask,
    .cap_release = op_release, .close = op_close,
};

void fv_set_caps(struct fv *f, const struct fv_cap *caps, unsigned n)
{
    memset(f->cfg + 0x40, 0, sizeof f->cfg - 0x40);
    f->cfg[0x34] = n ? 0x40 : 0;
    for (unsigned i = 0; i < n; i++) {
        uint8_t *c = f->cfg + 0x40 + 20 * i;
        c[0] = 0x09;
        c[1] = i + 1 < n ? (uint8_t)(0x40 + 20 * (i + 1)) : 0;
        c[2] = caps[i].type == 2 ? 20 : 16;
        c[3] = caps[i].type;
        c[4] = caps[i].bar;
        wr(c + 8, 4, caps[i].offset);
        wr(c + 12, 4, caps[i].length);
        if (caps[i].type == 2)
            wr(c + 16, 4, FV_NOTIFY_MULT);
    }
}

void fv_init(struct fv *f, uint64_t blk_features, int lane)
{
    memset(f, 0, sizeof *f);
    f->sys.ops = &fv_ops;
    f->lane = lane;
    wr(f->cfg + 0x00, 2, 0x1af4);
    wr(f->cfg + 0x02, 2, 0x1042);
    wr(f->cfg + 0x06, 2, 0x0010); /* capability list */
    wr(f->cfg + 0x08, 4, 0x01800001u);
    static const struct fv_cap caps[] = {
        {1, 0, FV_COMMON, 0x40}, {2, 0, FV_NOTIFY, 0x100}, {3, 0, FV_ISR, 1}, {4, 0, FV_DEVCFG, FV_DEVCFG_LEN}};
    fv_set_caps(f, caps, 4);
    f->win[0] = (struct capdrv_window_info){.name = "bar0", .bar = 0, .offset = 0,
                                            .length = FV_BAR0_LEN,
                                            .flags = CAPDRV_WINDOW_READ | CAPDRV_WINDOW_WRITE};
    f->n_win = 1;
    f->dev_features = (1ull << 32) | (1ull << 33) | blk_features;
    f->num_queues = FV_MAX_QUEUES;
    for (unsigned i = 0; i < FV_MAX_QUEUES; i++) {
        f->q[i].max_size = 64;
        f->q[i].notify_off = (uint16_t)i;
    }
    do_reset(f);
    f->status_override = -1;
    f->len_override = -1;
    /* virtio_blk_config (§5.2.4). */
    wr(f->devcfg + 0x00, 8, FV_DISK_SECTORS);
    wr(f->devcfg + 0x0c, 4, 16);   /* seg_max */
    wr(f->devcfg + 0x14, 4, 4096); /* blk_size */
    wr(f->devcfg + 0x22, 2, 2);    /* num_queues */
    wr(f->devcfg + 0x24, 4, 256);  /* max_discard_sectors */
    wr(f->devcfg + 0x28, 4, 1);    /* max_discard_seg */
    wr(f->devcfg + 0x30, 4, 512);  /* max_write_zeroes_sectors */
    wr(f->devcfg + 0x34, 4, 1);    /* max_write_zeroes_seg */
}

void fv_init_mmio(struct fv *f, uint64_t blk_features, int lane)
{
    fv_init(f, blk_features, lane);
    f->mmio = true;
    f->mmio_magic = 0x74726976u; /* "virt" */
    f->mmio_version = 2;
    f->mmio_device_id = 2;
    memset(f->cfg, 0, sizeof f->cfg);
    f->win[0] = (struct capdrv_window_info){.name = "regs", .bar = 0, .offset = 0,
                                            .length = FV_MMIO_LEN,
                                            .flags = CAPDRV_WINDOW_READ | CAPDRV_WINDOW_WRITE};
}

capdrv_sys *fv_sys(struct fv *f)
{
    return &f->sys;
}

void fv_fini(struct fv *f)
{
    for (unsigned i = 0; i < f->n_buf; i++) {
        free(f->buf[i].cpu);
        f->buf[i].cpu = NULL;
        f->buf[i].live = false;
    }
}
