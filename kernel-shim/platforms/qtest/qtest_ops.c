/* The qtest platform's struct capdrv_hw_ops: argument checks, locking and
 * dispatch. The shim checks accesses before they get here; these checks are
 * the second line and refuse with an error, never abort (a malformed qtest
 * command would abort QEMU, so nothing unchecked reaches the wire). Once
 * QEMU is gone every operation that needs it fails with -CAPDRV_EIO. */
#include "qtest_internal.h"

static struct capdrv_qtest *lock(void *ctx)
{
    struct capdrv_qtest *q = ctx;
    if (q)
        pthread_mutex_lock(&q->lock);
    return q;
}

static int unlock(struct capdrv_qtest *q, int rc)
{
    pthread_mutex_unlock(&q->lock);
    return rc;
}

static unsigned op_caps(void *ctx)
{
    const struct capdrv_qtest *q = ctx;
    /* Without intel-iommu only the brokered lane can run here. */
    return q && q->iommu ? CAPDRV_HW_IOMMU : 0u;
}

static int op_function_count(void *ctx)
{
    struct capdrv_qtest *q = lock(ctx);
    return q ? unlock(q, (int)q->n_fns) : -CAPDRV_EINVAL;
}

static int op_function_info(void *ctx, unsigned fn, struct capdrv_hw_function *out)
{
    struct capdrv_qtest *q = lock(ctx);
    if (!q)
        return -CAPDRV_EINVAL;
    const struct qt_fn *f = qt_fn_get(q, fn);
    if (!f)
        return unlock(q, -CAPDRV_ENOENT);
    if (!out)
        return unlock(q, -CAPDRV_EINVAL);
    *out = f->info;
    return unlock(q, 0);
}

static int op_cfg_read(void *ctx, unsigned fn, uint32_t offset, unsigned width, uint32_t *val)
{
    struct capdrv_qtest *q = lock(ctx);
    if (!q)
        return -CAPDRV_EINVAL;
    const struct qt_fn *f = qt_fn_get(q, fn);
    if (f && f->info.kind != CAPDRV_HW_FN_PCI)
        return unlock(q, -CAPDRV_ENOTSUP); /* hw.h: MMIO devices have no config space */
    return unlock(q, f ? qt_cfg_read(q, f, offset, width, val) : -CAPDRV_ENOENT);
}

static int op_cfg_write(void *ctx, unsigned fn, uint32_t offset, unsigned width, uint32_t val)
{
    struct capdrv_qtest *q = lock(ctx);
    if (!q)
        return -CAPDRV_EINVAL;
    struct qt_fn *f = qt_fn_get(q, fn);
    if (f && f->info.kind != CAPDRV_HW_FN_PCI)
        return unlock(q, -CAPDRV_ENOTSUP); /* hw.h: MMIO devices have no config space */
    return unlock(q, f ? qt_cfg_write(q, f, offset, width, val) : -CAPDRV_ENOENT);
}

/* Width 1/2/4/8, naturally aligned, inside an assigned memory BAR. */
static bool bar_access_ok(const struct qt_fn *f, unsigned bar, uint64_t off, unsigned width)
{
    if (bar >= CAPDRV_HW_NUM_BARS || !f->bar_addr[bar])
        return false;
    if (width != 1 && width != 2 && width != 4 && width != 8)
        return false;
    uint64_t size = f->info.bar_size[bar];
    return (off & (width - 1u)) == 0 && off < size && width <= size - off;
}

static int op_bar_read(void *ctx, unsigned fn, unsigned bar, uint64_t offset, unsigned width,
                       uint64_t *val)
{
    struct capdrv_qtest *q = lock(ctx);
    if (!q)
        return -CAPDRV_EINVAL;
    const struct qt_fn *f = qt_fn_get(q, fn);
    if (!f)
        return unlock(q, -CAPDRV_ENOENT);
    if (!val)
        return unlock(q, -CAPDRV_EINVAL);
    if (!bar_access_ok(f, bar, offset, width))
        return unlock(q, -CAPDRV_EFAULT);
    return unlock(q, qt_mem_read(q, f->bar_addr[bar] + offset, width, val));
}

static int op_bar_write(void *ctx, unsigned fn, unsigned bar, uint64_t offset, unsigned width,
                        uint64_t val)
{
    struct capdrv_qtest *q = lock(ctx);
    if (!q)
        return -CAPDRV_EINVAL;
    const struct qt_fn *f = qt_fn_get(q, fn);
    if (!f)
        return unlock(q, -CAPDRV_ENOENT);
    if (!bar_access_ok(f, bar, offset, width))
        return unlock(q, -CAPDRV_EFAULT);
    return unlock(q, qt_mem_write(q, f->bar_addr[bar] + offset, width, val));
}

static int op_dma_alloc(void *ctx, size_t size, struct capdrv_hw_dma *out)
{
    struct capdrv_qtest *q = lock(ctx);
    return q ? unlock(q, qt_dma_alloc(q, size, out)) : -CAPDRV_EINVAL;
}

static void op_dma_free(void *ctx, struct capdrv_hw_dma *mem)
{
    struct capdrv_qtest *q = lock(ctx);
    if (!q)
        return;
    qt_dma_free(q, mem);
    unlock(q, 0);
}

static int op_dma_fd(void *ctx, const struct capdrv_hw_dma *mem, int *fd)
{
    struct capdrv_qtest *q = lock(ctx);
    if (!q)
        return -CAPDRV_EINVAL;
    int rc = qt_dma_fd(q, mem, fd);
    return unlock(q, rc);
}

static int op_dma_map(void *ctx, unsigned fn, const struct capdrv_hw_dma *mem, uint64_t iova,
                      uint64_t *devaddr)
{
    struct capdrv_qtest *q = lock(ctx);
    if (!q)
        return -CAPDRV_EINVAL;
    struct qt_fn *f = qt_fn_get(q, fn);
    return unlock(q, f ? qt_dma_map(q, f, mem, iova, devaddr) : -CAPDRV_ENOENT);
}

static int op_dma_unmap(void *ctx, unsigned fn, const struct capdrv_hw_dma *mem, uint64_t devaddr)
{
    struct capdrv_qtest *q = lock(ctx);
    if (!q)
        return -CAPDRV_EINVAL;
    struct qt_fn *f = qt_fn_get(q, fn);
    return unlock(q, f ? qt_dma_unmap(q, f, mem, devaddr) : -CAPDRV_ENOENT);
}

static int op_irq_enable(void *ctx, unsigned fn, unsigned vector)
{
    struct capdrv_qtest *q = lock(ctx);
    if (!q)
        return -CAPDRV_EINVAL;
    struct qt_fn *f = qt_fn_get(q, fn);
    return unlock(q, f ? qt_irq_enable(q, f, vector) : -CAPDRV_ENOENT);
}

static int op_irq_disable(void *ctx, unsigned fn, unsigned vector)
{
    struct capdrv_qtest *q = lock(ctx);
    if (!q)
        return -CAPDRV_EINVAL;
    struct qt_fn *f = qt_fn_get(q, fn);
    return unlock(q, f ? qt_irq_disable(q, f, vector) : -CAPDRV_ENOENT);
}

static int op_irq_mask(void *ctx, unsigned fn, unsigned vector, bool masked)
{
    struct capdrv_qtest *q = lock(ctx);
    if (!q)
        return -CAPDRV_EINVAL;
    struct qt_fn *f = qt_fn_get(q, fn);
    return unlock(q, f ? qt_irq_mask(q, f, vector, masked) : -CAPDRV_ENOENT);
}

static int op_irq_wait(void *ctx, const struct capdrv_hw_irq *set, unsigned n, int64_t timeout_ns,
                       uint64_t *ready)
{
    struct capdrv_qtest *q = ctx;
    /* Polls guest RAM without the lock (qtest_irq.c) so other threads keep
     * driving QEMU meanwhile. */
    return q ? qt_irq_wait(q, set, n, timeout_ns, ready) : -CAPDRV_EINVAL;
}

static int op_function_reset(void *ctx, unsigned fn)
{
    struct capdrv_qtest *q = lock(ctx);
    if (!q)
        return -CAPDRV_EINVAL;
    struct qt_fn *f = qt_fn_get(q, fn);
    if (f && f->info.kind == CAPDRV_HW_FN_MMIO)
        return unlock(q, qt_mmio_reset(q, f));
    return unlock(q, f ? qt_function_reset(q, f) : -CAPDRV_ENOENT);
}

static const struct capdrv_hw_ops qtest_hw_ops = {
    .caps = op_caps,
    .function_count = op_function_count,
    .function_info = op_function_info,
    .cfg_read = op_cfg_read,
    .cfg_write = op_cfg_write,
    .bar_read = op_bar_read,
    .bar_write = op_bar_write,
    .dma_alloc = op_dma_alloc,
    .dma_free = op_dma_free,
    .dma_map = op_dma_map,
    .dma_fd = op_dma_fd,
    .dma_unmap = op_dma_unmap,
    .irq_enable = op_irq_enable,
    .irq_disable = op_irq_disable,
    .irq_mask = op_irq_mask,
    .irq_wait = op_irq_wait,
    .function_reset = op_function_reset,
};

struct capdrv_hw capdrv_qtest_hw(struct capdrv_qtest *q)
{
    struct capdrv_hw hw = {.ops = q ? &qtest_hw_ops : NULL, .ctx = q};
    return hw;
}
