/* The sim platform's struct capdrv_hw_ops: argument checking, locking and
 * dispatch to the concern that implements each operation. The shim checks
 * accesses before they get here; these checks are the second line (defence
 * in depth) and behave like hardware would: a bad access is refused with an
 * error, never an abort. */
#include "sim_internal.h"

static struct capdrv_sim *lock(void *ctx)
{
    struct capdrv_sim *sim = ctx;
    if (sim)
        pthread_mutex_lock(&sim->lock);
    return sim;
}

static int unlock(struct capdrv_sim *sim, int rc)
{
    pthread_mutex_unlock(&sim->lock);
    return rc;
}

static unsigned op_caps(void *ctx)
{
    struct capdrv_sim *sim = ctx;
    return sim && sim->iommu ? CAPDRV_HW_IOMMU : 0u;
}

static int op_function_count(void *ctx)
{
    struct capdrv_sim *sim = lock(ctx);
    if (!sim)
        return -CAPDRV_EINVAL;
    return unlock(sim, (int)sim->n_fns);
}

static int op_function_info(void *ctx, unsigned fn, struct capdrv_hw_function *out)
{
    struct capdrv_sim *sim = lock(ctx);
    if (!sim)
        return -CAPDRV_EINVAL;
    const struct sim_fn *f = sim_fn_get(sim, fn);
    if (!f)
        return unlock(sim, -CAPDRV_ENOENT);
    if (!out)
        return unlock(sim, -CAPDRV_EINVAL);
    *out = f->info;
    if (f->info.kind == CAPDRV_HW_FN_PCI)
        sim_pci_identity(f, &out->id);
    return unlock(sim, 0);
}

static int op_cfg_read(void *ctx, unsigned fn, uint32_t offset, unsigned width, uint32_t *val)
{
    struct capdrv_sim *sim = lock(ctx);
    if (!sim)
        return -CAPDRV_EINVAL;
    struct sim_fn *f = sim_fn_get(sim, fn);
    if (!f)
        return unlock(sim, -CAPDRV_ENOENT);
    if (!val)
        return unlock(sim, -CAPDRV_EINVAL);
    if (f->info.kind != CAPDRV_HW_FN_PCI)
        return unlock(sim, -CAPDRV_ENOTSUP); /* hw.h: no configuration space */
    return unlock(sim, sim_pci_cfg_read(f, offset, width, val));
}

static int op_cfg_write(void *ctx, unsigned fn, uint32_t offset, unsigned width, uint32_t val)
{
    struct capdrv_sim *sim = lock(ctx);
    if (!sim)
        return -CAPDRV_EINVAL;
    struct sim_fn *f = sim_fn_get(sim, fn);
    if (!f)
        return unlock(sim, -CAPDRV_ENOENT);
    if (f->info.kind != CAPDRV_HW_FN_PCI)
        return unlock(sim, -CAPDRV_ENOTSUP); /* hw.h: no configuration space */
    return unlock(sim, sim_pci_cfg_write(sim, f, offset, width, val));
}

/* Width 1/2/4/8, naturally aligned, inside an implemented BAR. */
static bool bar_access_ok(const struct sim_fn *f, unsigned bar, uint64_t off, unsigned width)
{
    if (bar >= CAPDRV_HW_NUM_BARS)
        return false;
    uint64_t size = f->info.bar_size[bar];
    if (width != 1 && width != 2 && width != 4 && width != 8)
        return false;
    return (off & (width - 1u)) == 0 && off < size && width <= size - off;
}

static int op_bar_read(void *ctx, unsigned fn, unsigned bar, uint64_t offset, unsigned width,
                       uint64_t *val)
{
    struct capdrv_sim *sim = lock(ctx);
    if (!sim)
        return -CAPDRV_EINVAL;
    struct sim_fn *f = sim_fn_get(sim, fn);
    if (!f)
        return unlock(sim, -CAPDRV_ENOENT);
    if (!val)
        return unlock(sim, -CAPDRV_EINVAL);
    if (!bar_access_ok(f, bar, offset, width))
        return unlock(sim, -CAPDRV_EFAULT);
    *val = bar == SIM_MSIX_BAR ? sim_irq_bar_read(f, offset, width)
                               : f->dev->bar0_read(sim, f, offset, width);
    return unlock(sim, 0);
}

static int op_bar_write(void *ctx, unsigned fn, unsigned bar, uint64_t offset, unsigned width,
                        uint64_t val)
{
    struct capdrv_sim *sim = lock(ctx);
    if (!sim)
        return -CAPDRV_EINVAL;
    struct sim_fn *f = sim_fn_get(sim, fn);
    if (!f)
        return unlock(sim, -CAPDRV_ENOENT);
    if (!bar_access_ok(f, bar, offset, width))
        return unlock(sim, -CAPDRV_EFAULT);
    if (width < 8)
        val &= (1ull << (8 * width)) - 1u; /* only the bytes on the bus */
    if (bar == SIM_MSIX_BAR)
        sim_irq_bar_write(f, offset, width, val);
    else
        f->dev->bar0_write(sim, f, offset, width, val);
    return unlock(sim, 0);
}

static int op_dma_alloc(void *ctx, size_t size, struct capdrv_hw_dma *out)
{
    struct capdrv_sim *sim = lock(ctx);
    if (!sim)
        return -CAPDRV_EINVAL;
    return unlock(sim, sim_dma_alloc(sim, size, out));
}

static void op_dma_free(void *ctx, struct capdrv_hw_dma *mem)
{
    struct capdrv_sim *sim = lock(ctx);
    if (!sim)
        return;
    sim_dma_free(sim, mem);
    unlock(sim, 0);
}

static int op_dma_map(void *ctx, unsigned fn, const struct capdrv_hw_dma *mem, uint64_t iova,
                      uint64_t *devaddr)
{
    struct capdrv_sim *sim = lock(ctx);
    if (!sim)
        return -CAPDRV_EINVAL;
    struct sim_fn *f = sim_fn_get(sim, fn);
    if (!f)
        return unlock(sim, -CAPDRV_ENOENT);
    return unlock(sim, sim_dma_map(sim, f, mem, iova, devaddr));
}

static int op_dma_unmap(void *ctx, unsigned fn, const struct capdrv_hw_dma *mem, uint64_t devaddr)
{
    struct capdrv_sim *sim = lock(ctx);
    if (!sim)
        return -CAPDRV_EINVAL;
    struct sim_fn *f = sim_fn_get(sim, fn);
    if (!f)
        return unlock(sim, -CAPDRV_ENOENT);
    return unlock(sim, sim_dma_unmap(sim, f, mem, devaddr));
}

static int op_irq_enable(void *ctx, unsigned fn, unsigned vector)
{
    struct capdrv_sim *sim = lock(ctx);
    if (!sim)
        return -CAPDRV_EINVAL;
    struct sim_fn *f = sim_fn_get(sim, fn);
    return unlock(sim, f ? sim_irq_enable(f, vector) : -CAPDRV_ENOENT);
}

static int op_irq_disable(void *ctx, unsigned fn, unsigned vector)
{
    struct capdrv_sim *sim = lock(ctx);
    if (!sim)
        return -CAPDRV_EINVAL;
    struct sim_fn *f = sim_fn_get(sim, fn);
    return unlock(sim, f ? sim_irq_disable(f, vector) : -CAPDRV_ENOENT);
}

static int op_irq_mask(void *ctx, unsigned fn, unsigned vector, bool masked)
{
    struct capdrv_sim *sim = lock(ctx);
    if (!sim)
        return -CAPDRV_EINVAL;
    struct sim_fn *f = sim_fn_get(sim, fn);
    return unlock(sim, f ? sim_irq_mask(f, vector, masked) : -CAPDRV_ENOENT);
}

static int op_irq_wait(void *ctx, const struct capdrv_hw_irq *set, unsigned n, int64_t timeout_ns,
                       uint64_t *ready)
{
    struct capdrv_sim *sim = lock(ctx);
    if (!sim)
        return -CAPDRV_EINVAL;
    /* The lock is held throughout: the wait never sleeps, it runs the
     * simulated clock forward instead. */
    return unlock(sim, sim_irq_wait(sim, set, n, timeout_ns, ready));
}

static int op_function_reset(void *ctx, unsigned fn)
{
    struct capdrv_sim *sim = lock(ctx);
    if (!sim)
        return -CAPDRV_EINVAL;
    struct sim_fn *f = sim_fn_get(sim, fn);
    if (!f)
        return unlock(sim, -CAPDRV_ENOENT);
    sim_function_reset(sim, f);
    return unlock(sim, 0);
}

const struct capdrv_hw_ops sim_hw_ops = {
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
    .dma_unmap = op_dma_unmap,
    .irq_enable = op_irq_enable,
    .irq_disable = op_irq_disable,
    .irq_mask = op_irq_mask,
    .irq_wait = op_irq_wait,
    .function_reset = op_function_reset,
};
