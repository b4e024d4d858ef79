/* DMAPool and DMABuffer capabilities: quota-checked allocation into the
 * ledger; the provider learns a CPU pointer and a DMA reference, never a
 * device address in the brokered lane. */
#include "shim_internal.h"

#include <capdrv_shim/core.h>

#include "util.h"

int capdrv_shim_sys_pool_open(struct capdrv_shim *shim, struct shim_provider *p, capdrv_cap_t cap,
                              capdrv_cap_t *pool)
{
    shim_lock(shim);
    struct shim_grant *g;
    uint32_t gi;
    int rc = shim_grant_from_cap(shim, p, cap, &g, &gi);
    /* Seed grant classes: only DMA-capable classes own a pool. */
    if (rc == 0 && (g->m->cls == CAPDRV_GRANT_ANY_FUNCTION || g->m->pool_bytes == 0))
        rc = -CAPDRV_EACCES;
    if (rc == 0 && g->pool_slot != SHIM_CAP_NO_PARENT)
        rc = -CAPDRV_EBUSY;
    if (rc == 0) {
        rc = shim_cap_alloc(shim, p, CAPDRV_CAP_POOL, g->holder_slot, gi, gi, pool);
        if (rc >= 0) {
            g->pool_slot = (uint32_t)rc;
            rc = 0;
        }
    }
    shim_unlock(shim);
    return rc;
}

static void fill_info(const struct shim_ledger_entry *e, struct capdrv_dmabuf_info *info)
{
    info->cpu = e->mem.cpu;
    info->size = e->mem.size;
    info->ref_base = e->ref_base;
}

int capdrv_shim_sys_dma_alloc(struct capdrv_shim *shim, struct shim_provider *p, capdrv_cap_t cap,
                              size_t size, capdrv_cap_t *buf, struct capdrv_dmabuf_info *info)
{
    shim_lock(shim);
    uint32_t pslot;
    int rc = shim_cap_lookup(p, cap, CAPDRV_CAP_POOL, &pslot);
    uint32_t gi = rc == 0 ? p->caps.slots[pslot].grant : 0;
    struct shim_grant *g = rc == 0 ? &shim->grants[gi] : NULL;
    size_t rounded = 0;
    if (rc == 0 && (size == 0 || size > SHIM_MAX_BUFFER_SIZE))
        rc = -CAPDRV_EINVAL;
    if (rc == 0) {
        rounded = (size + SHIM_PAGE_SIZE - 1u) & ~(size_t)(SHIM_PAGE_SIZE - 1u);
        if (g->pool_buffers >= g->m->pool_buffers ||
            !shim_range_within(g->pool_bytes, rounded, g->m->pool_bytes))
            rc = -CAPDRV_ENOSPC;
    }
    uint32_t index = 0;
    if (rc == 0)
        rc = shim_ledger_add(shim, gi, p, rounded, &index);
    if (rc == 0) {
        rc = shim_cap_alloc(shim, p, CAPDRV_CAP_DMABUF, pslot, gi, index, buf);
        if (rc < 0) {
            shim_ledger_remove(shim, index);
        } else {
            rc = 0;
            g->pool_bytes += shim->ledger.e[index].mem.size;
            g->pool_buffers++;
            fill_info(&shim->ledger.e[index], info);
        }
    }
    shim_unlock(shim);
    return rc;
}

int capdrv_shim_sys_dmabuf_info(struct capdrv_shim *shim, struct shim_provider *p, capdrv_cap_t cap,
                                struct capdrv_dmabuf_info *info)
{
    shim_lock(shim);
    uint32_t slot;
    int rc = shim_cap_lookup(p, cap, CAPDRV_CAP_DMABUF, &slot);
    if (rc == 0)
        fill_info(&shim->ledger.e[p->caps.slots[slot].object], info);
    shim_unlock(shim);
    return rc;
}
