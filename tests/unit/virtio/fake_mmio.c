/* A fake virtio-mmio version 2 register block behind a capdrv_sys
 * backend; see fake_mmio.h. Device-side rules: VIRTIO 1.2 §4.2.2,
 * §4.2.3. */
#include "fake_mmio.h"

#include <string.h>

#define MMIO_HANDLE(w) (0x0200000000000007ull + (w))

static struct fm *F(capdrv_sys *s)
{
    return (struct fm *)(void *)s;
}

static void do_reset(struct fm *f)
{
    f->status = 0;
    f->drv_features = 0;
    f->int_status = 0;
    for (unsigned i = 0; i < FM_MAX_QUEUES; i++) {
        struct fm_queue *q = &f->q[i];
        q->num = 0;
        q->ready = 0;
        q->desc = q->driver = q->device = 0;
    }
}

static struct fm_queue *selq(struct fm *f)
{
    return f->queue_sel < FM_MAX_QUEUES ? &f->q[f->queue_sel] : NULL;
}

/* Control register read (§4.2.2); -1: not readable. */
static int ctl_read(struct fm *f, uint32_t off, uint64_t *v)
{
    struct fm_queue *q = selq(f);
    switch (off) {
    case 0x000: *v = f->magic; return 0;
    case 0x004: *v = f->version; return 0;
    case 0x008: *v = f->device_id; return 0;
    case 0x00c: *v = f->vendor_id; return 0;
    case 0x010: *v = (uint32_t)(f->dfsel < 2 ? f->dev_features >> (32 * f->dfsel) : 0); return 0;
    /* Queues beyond the implemented ones are "not available": 0. */
    case 0x034: *v = q ? q->num_max : 0; return 0;
    case 0x044: *v = q ? q->ready : 0; return 0;
    case 0x060: *v = f->int_status; return 0;
    case 0x070:
        *v = f->reset_stuck ? 1u : f->status | (f->needs_reset ? 64u : 0u);
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

static void set_half(uint64_t *field, uint32_t off_in_pair, uint64_t v)
{
    *field = off_in_pair ? (*field & 0xffffffffu) | (v << 32) : (*field & ~0xffffffffull) | v;
}

/* Control register write; -1: not writable or a value the device refuses. */
static int ctl_write(struct fm *f, uint32_t off, uint64_t v)
{
    struct fm_queue *q = selq(f);
    switch (off) {
    case 0x014: f->dfsel = (uint32_t)v; return 0;
    case 0x020:
        if (f->drvsel >= 2)
            return -1;
        f->drv_features &= ~(0xffffffffull << (32 * f->drvsel));
        f->drv_features |= v << (32 * f->drvsel);
        return 0;
    case 0x024: f->drvsel = (uint32_t)v; return 0;
    case 0x030: f->queue_sel = (uint32_t)v; return 0;
    case 0x038:
        if (!q || v > q->num_max || q->ready)
            return -1;
        q->num = (uint32_t)v;
        return 0;
    case 0x044:
        if (!q || v > 1)
            return -1;
        if (!f->ready_sticks_not)
            q->ready = (uint32_t)v;
        return 0;
    case 0x050:
        f->last_notify = (uint32_t)v;
        if (v >= FM_MAX_QUEUES || !f->q[v].ready)
            return -1;
        f->q[v].notifies++;
        /* The device "uses" a buffer at once and raises the line. */
        if (f->status & 4)
            f->int_status |= 1;
        return 0;
    case 0x064:
        f->acked |= (uint32_t)v;
        f->int_status &= ~(uint32_t)v;
        return 0;
    case 0x070:
        if (f->status_writes < sizeof f->status_log / sizeof f->status_log[0])
            f->status_log[f->status_writes] = (uint32_t)v;
        f->status_writes++;
        if (v == 0) {
            do_reset(f);
            return 0;
        }
        f->status = (uint32_t)v;
        /* §3.1.1 step 6: a device refusing the subset clears FEATURES_OK;
         * so does one offered a feature it did not offer. */
        if ((v & 8) && (f->refuse_features_ok || (f->drv_features & ~f->dev_features)))
            f->status &= ~8u;
        return 0;
    case 0x080: case 0x084:
        if (!q || q->ready)
            return -1;
        set_half(&q->desc, off & 4, v);
        return 0;
    case 0x090: case 0x094:
        if (!q || q->ready)
            return -1;
        set_half(&q->driver, off & 4, v);
        return 0;
    case 0x0a0: case 0x0a4:
        if (!q || q->ready)
            return -1;
        set_half(&q->device, off & 4, v);
        return 0;
    default: return -1;
    }
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
    strcpy(out->name, "vmmio");
    return 0;
}

static int op_open(capdrv_sys *s, unsigned index, capdrv_cap_t *grant)
{
    (void)s;
    if (index)
        return -CAPDRV_ENOENT;
    *grant = FM_GRANT;
    return 0;
}

static int op_lane(capdrv_sys *s, capdrv_cap_t grant)
{
    return grant == FM_GRANT ? F(s)->lane : -CAPDRV_EBADF;
}

static int op_reset(capdrv_sys *s, capdrv_cap_t grant)
{
    (void)s;
    (void)grant;
    return -CAPDRV_ENOSYS;
}

static int op_window(capdrv_sys *s, capdrv_cap_t grant, unsigned w, struct capdrv_window_info *out)
{
    struct fm *f = F(s);
    if (grant != FM_GRANT)
        return -CAPDRV_EBADF;
    if (w >= f->n_win)
        return -CAPDRV_ENOENT;
    *out = f->win[w];
    return 0;
}

static int op_mmio_open(capdrv_sys *s, capdrv_cap_t grant, unsigned w, capdrv_cap_t *mmio)
{
    struct fm *f = F(s);
    if (grant != FM_GRANT)
        return -CAPDRV_EBADF;
    if (w >= f->n_win)
        return -CAPDRV_ENOENT;
    if (f->mmio_open[w])
        return -CAPDRV_EBUSY;
    f->mmio_open[w] = true;
    *mmio = MMIO_HANDLE(w);
    return 0;
}

/* Check handle, window bounds and access; -> offset in the block. */
static int access_check(struct fm *f, capdrv_cap_t mmio, uint64_t off, unsigned width,
                        uint32_t need, uint32_t *block_off)
{
    uint64_t w = mmio - MMIO_HANDLE(0);
    f->mmio_accesses++;
    if (w >= f->n_win || !f->mmio_open[w])
        return -CAPDRV_EBADF;
    if ((width != 1 && width != 2 && width != 4 && width != 8) || off % width) {
        f->bad_accesses++;
        return -CAPDRV_EINVAL;
    }
    if (off + width > f->win[w].length || !(f->win[w].flags & need)) {
        f->bad_accesses++;
        return -CAPDRV_EFAULT;
    }
    uint64_t bo = f->win[w].offset + off;
    if (bo + width > FM_BLOCK_LEN) {
        f->bad_accesses++;
        return -CAPDRV_EFAULT;
    }
    /* §4.2.2.2: control registers are accessed 32 bits wide only. */
    if (bo < 0x100 && width != 4) {
        f->bad_accesses++;
        return -CAPDRV_EINVAL;
    }
    /* §4.2.2.2: configuration fields at most 32 bits at a time. */
    if (bo >= 0x100 && width > 4) {
        f->bad_accesses++;
        return -CAPDRV_EINVAL;
    }
    *block_off = (uint32_t)bo;
    if (bo < 0x100 && bo > f->max_offset)
        f->max_offset = (uint32_t)bo;
    return 0;
}

static int op_mmio_read(capdrv_sys *s, capdrv_cap_t mmio, uint64_t off, unsigned width, uint64_t *v)
{
    struct fm *f = F(s);
    uint32_t bo;
    int rc = access_check(f, mmio, off, width, CAPDRV_WINDOW_READ, &bo);
    if (rc < 0)
        return rc;
    if (bo >= 0x100) {
        uint64_t x = 0;
        for (unsigned i = 0; i < width; i++)
            x |= (uint64_t)f->config[bo - 0x100 + i] << (8 * i);
        *v = x;
        return 0;
    }
    if (ctl_read(f, bo, v) < 0) {
        f->bad_accesses++;
        return -CAPDRV_EFAULT;
    }
    return 0;
}

static int op_mmio_write(capdrv_sys *s, capdrv_cap_t mmio, uint64_t off, unsigned width, uint64_t v)
{
    struct fm *f = F(s);
    uint32_t bo;
    int rc = access_check(f, mmio, off, width, CAPDRV_WINDOW_WRITE, &bo);
    if (rc < 0)
        return rc;
    if (bo >= 0x100 || v > 0xffffffffu || ctl_write(f, bo, v) < 0) {
        f->bad_accesses++;
        return -CAPDRV_EFAULT;
    }
    return 0;
}

static int op_cfg_read(capdrv_sys *s, capdrv_cap_t g, uint32_t off, unsigned w, uint32_t *v)
{
    (void)s, (void)g, (void)off, (void)w, (void)v;
    return -CAPDRV_ENOSYS; /* not a PCI function */
}

static int op_cfg_write(capdrv_sys *s, capdrv_cap_t g, uint32_t off, unsigned w, uint32_t v)
{
    (void)s, (void)g, (void)off, (void)w, (void)v;
    return -CAPDRV_ENOSYS;
}

static int op_pool_open(capdrv_sys *s, capdrv_cap_t grant, capdrv_cap_t *pool)
{
    (void)s, (void)grant, (void)pool;
    return -CAPDRV_EACCES;
}

static int op_dma_alloc(capdrv_sys *s, capdrv_cap_t pool, size_t size, capdrv_cap_t *buf,
                        struct capdrv_dmabuf_info *info)
{
    (void)s, (void)pool, (void)size, (void)buf, (void)info;
    return -CAPDRV_EBADF;
}

static int op_dmabuf_info(capdrv_sys *s, capdrv_cap_t buf, struct capdrv_dmabuf_info *info)
{
    (void)s, (void)buf, (void)info;
    return -CAPDRV_EBADF;
}

static int op_irq_open(capdrv_sys *s, capdrv_cap_t grant, unsigned v, capdrv_cap_t *irq)
{
    struct fm *f = F(s);
    if (grant != FM_GRANT)
        return -CAPDRV_EBADF;
    if (v != 0)
        return -CAPDRV_ENOENT; /* one line per device (§4.2.3.4) */
    if (f->irq_open)
        return -CAPDRV_EBUSY;
    f->irq_open = true;
    *irq = FM_IRQ;
    return 0;
}

static int op_irq_wait(capdrv_sys *s, const capdrv_cap_t *irqs, unsigned n, int64_t t,
                       uint64_t *ready)
{
    struct fm *f = F(s);
    (void)t;
    if (n == 0 || n > 64)
        return -CAPDRV_EINVAL;
    uint64_t m = 0;
    int c = 0;
    for (unsigned i = 0; i < n; i++) {
        if (irqs[i] != FM_IRQ || !f->irq_open)
            return -CAPDRV_EBADF;
        /* Level-triggered: pending while InterruptStatus is non-zero. */
        if (f->int_status) {
            m |= 1ull << i;
            c++;
        }
    }
    *ready = m;
    return c ? c : -CAPDRV_ETIMEDOUT;
}

static int op_irq_ack(capdrv_sys *s, capdrv_cap_t irq)
{
    return irq == FM_IRQ && F(s)->irq_open ? 0 : -CAPDRV_EBADF;
}

static int op_irq_mask(capdrv_sys *s, capdrv_cap_t irq, bool masked)
{
    (void)masked;
    return irq == FM_IRQ && F(s)->irq_open ? 0 : -CAPDRV_EBADF;
}

static int op_release(capdrv_sys *s, capdrv_cap_t cap)
{
    struct fm *f = F(s);
    f->releases++;
    if (cap == FM_IRQ) {
        if (!f->irq_open)
            return -CAPDRV_ESTALE;
        f->irq_open = false;
        return 0;
    }
    uint64_t w = cap - MMIO_HANDLE(0);
    if (w >= FM_MAX_WINDOWS || !f->mmio_open[w])
        return -CAPDRV_ESTALE;
    f->mmio_open[w] = false;
    return 0;
}

static void op_close(capdrv_sys *s)
{
    (void)s;
}

static const struct capdrv_sys_ops fm_ops = {
    .grant_count = op_count, .grant_info = op_info, .grant_open = op_open,
    .grant_lane = op_lane, .grant_reset = op_reset, .window_info = op_window,
    .mmio_open = op_mmio_open, .mmio_read = op_mmio_read, .mmio_write = op_mmio_write,
    .cfg_read = op_cfg_read, .cfg_write = op_cfg_write, .pool_open = op_pool_open,
    .dma_alloc = op_dma_alloc, .dmabuf_info = op_dmabuf_info, .irq_open = op_irq_open,
    .irq_wait = op_irq_wait, .irq_ack = op_irq_ack, .irq_mask = op_irq_mask,
    .cap_release = op_release, .close = op_close,
};

void fm_init(struct fm *f, uint64_t features, int lane)
{
    memset(f, 0, sizeof *f);
    f->sys.ops = &fm_ops;
    f->lane = lane;
    f->win[0] = (struct capdrv_window_info){.name = "regs", .bar = 0, .offset = 0,
                                            .length = FM_BLOCK_LEN,
                                            .flags = CAPDRV_WINDOW_READ | CAPDRV_WINDOW_WRITE};
    f->n_win = 1;
    f->magic = 0x74726976u;
    f->version = 2;
    f->device_id = 2;
    f->vendor_id = 0x554d4551u; /* "QEMU" */
    f->dev_features = (1ull << 32) | features;
    for (unsigned i = 0; i < FM_MAX_QUEUES; i++)
        f->q[i].num_max = 64;
    for (unsigned i = 0; i < FM_CONFIG_LEN; i++)
        f->config[i] = (uint8_t)(i * 7 + 3);
    do_reset(f);
}

capdrv_sys *fm_sys(struct fm *f)
{
    return &f->sys;
}
