/* Public entry points of capdrv/sys.h: check pointers, then forward to the
 * connection's backend (in-process shim, socket transport, a port). */
#include <capdrv/sys_backend.h>

#include <stddef.h>

int capdrv_grant_count(capdrv_sys *sys)
{
    if (!sys || !sys->ops)
        return -CAPDRV_EINVAL;
    return sys->ops->grant_count(sys);
}

int capdrv_grant_info(capdrv_sys *sys, unsigned index, struct capdrv_grant_info *out)
{
    if (!sys || !sys->ops || !out)
        return -CAPDRV_EINVAL;
    return sys->ops->grant_info(sys, index, out);
}

int capdrv_grant_open(capdrv_sys *sys, unsigned index, capdrv_cap_t *grant)
{
    if (!sys || !sys->ops || !grant)
        return -CAPDRV_EINVAL;
    return sys->ops->grant_open(sys, index, grant);
}

int capdrv_grant_lane(capdrv_sys *sys, capdrv_cap_t grant)
{
    if (!sys || !sys->ops)
        return -CAPDRV_EINVAL;
    return sys->ops->grant_lane(sys, grant);
}

int capdrv_grant_reset(capdrv_sys *sys, capdrv_cap_t grant)
{
    if (!sys || !sys->ops)
        return -CAPDRV_EINVAL;
    return sys->ops->grant_reset(sys, grant);
}

int capdrv_window_info(capdrv_sys *sys, capdrv_cap_t grant, unsigned window, struct capdrv_window_info *out)
{
    if (!sys || !sys->ops || !out)
        return -CAPDRV_EINVAL;
    return sys->ops->window_info(sys, grant, window, out);
}

int capdrv_mmio_open(capdrv_sys *sys, capdrv_cap_t grant, unsigned window, capdrv_cap_t *mmio)
{
    if (!sys || !sys->ops || !mmio)
        return -CAPDRV_EINVAL;
    return sys->ops->mmio_open(sys, grant, window, mmio);
}

int capdrv_mmio_read(capdrv_sys *sys, capdrv_cap_t mmio, uint64_t offset, unsigned width, uint64_t *val)
{
    if (!sys || !sys->ops || !val)
        return -CAPDRV_EINVAL;
    return sys->ops->mmio_read(sys, mmio, offset, width, val);
}

int capdrv_mmio_write(capdrv_sys *sys, capdrv_cap_t mmio, uint64_t offset, unsigned width, uint64_t val)
{
    if (!sys || !sys->ops)
        return -CAPDRV_EINVAL;
    return sys->ops->mmio_write(sys, mmio, offset, width, val);
}

int capdrv_cfg_read(capdrv_sys *sys, capdrv_cap_t grant, uint32_t offset, unsigned width, uint32_t *val)
{
    if (!sys || !sys->ops || !val)
        return -CAPDRV_EINVAL;
    return sys->ops->cfg_read(sys, grant, offset, width, val);
}

int capdrv_cfg_write(capdrv_sys *sys, capdrv_cap_t grant, uint32_t offset, unsigned width, uint32_t val)
{
    if (!sys || !sys->ops)
        return -CAPDRV_EINVAL;
    return sys->ops->cfg_write(sys, grant, offset, width, val);
}

int capdrv_pool_open(capdrv_sys *sys, capdrv_cap_t grant, capdrv_cap_t *pool)
{
    if (!sys || !sys->ops || !pool)
        return -CAPDRV_EINVAL;
    return sys->ops->pool_open(sys, grant, pool);
}

int capdrv_dma_alloc(capdrv_sys *sys, capdrv_cap_t pool, size_t size, capdrv_cap_t *buf, struct capdrv_dmabuf_info *info)
{
    if (!sys || !sys->ops || !buf || !info)
        return -CAPDRV_EINVAL;
    return sys->ops->dma_alloc(sys, pool, size, buf, info);
}

int capdrv_dmabuf_info(capdrv_sys *sys, capdrv_cap_t buf, struct capdrv_dmabuf_info *info)
{
    if (!sys || !sys->ops || !info)
        return -CAPDRV_EINVAL;
    return sys->ops->dmabuf_info(sys, buf, info);
}

int capdrv_irq_open(capdrv_sys *sys, capdrv_cap_t grant, unsigned vector, capdrv_cap_t *irq)
{
    if (!sys || !sys->ops || !irq)
        return -CAPDRV_EINVAL;
    return sys->ops->irq_open(sys, grant, vector, irq);
}

int capdrv_irq_wait(capdrv_sys *sys, const capdrv_cap_t *irqs, unsigned n, int64_t timeout_ns, uint64_t *ready)
{
    if (!sys || !sys->ops || !irqs || !ready)
        return -CAPDRV_EINVAL;
    return sys->ops->irq_wait(sys, irqs, n, timeout_ns, ready);
}

int capdrv_irq_ack(capdrv_sys *sys, capdrv_cap_t irq)
{
    if (!sys || !sys->ops)
        return -CAPDRV_EINVAL;
    return sys->ops->irq_ack(sys, irq);
}

int capdrv_irq_mask(capdrv_sys *sys, capdrv_cap_t irq, bool masked)
{
    if (!sys || !sys->ops)
        return -CAPDRV_EINVAL;
    return sys->ops->irq_mask(sys, irq, masked);
}

int capdrv_cap_release(capdrv_sys *sys, capdrv_cap_t cap)
{
    if (!sys || !sys->ops)
        return -CAPDRV_EINVAL;
    return sys->ops->cap_release(sys, cap);
}

int capdrv_grant_find(capdrv_sys *sys, const char *name)
{
    if (!sys || !sys->ops || !name)
        return -CAPDRV_EINVAL;
    int n = capdrv_grant_count(sys);
    for (int i = 0; i < n; i++) {
        struct capdrv_grant_info info;
        if (capdrv_grant_info(sys, (unsigned)i, &info) < 0)
            continue;
        size_t k = 0;
        while (k < CAPDRV_NAME_MAX && info.name[k] && info.name[k] == name[k])
            k++;
        if (k < CAPDRV_NAME_MAX && info.name[k] == name[k])
            return i;
    }
    return n < 0 ? n : -CAPDRV_ENOENT;
}

void capdrv_sys_close(capdrv_sys *sys)
{
    if (sys && sys->ops && sys->ops->close)
        sys->ops->close(sys);
}
