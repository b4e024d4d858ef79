/* The DMA ledger: every live DMA buffer, its owner, its device address and
 * the DMA reference the provider sees; resolution of references for both
 * lanes; unmap + scrub on removal. */
#include "shim_internal.h"

#include "util.h"

static uint64_t token_base(uint32_t index, uint16_t gen)
{
    return (SHIM_TOKEN_TAG << 60) | ((uint64_t)(gen & SHIM_TOKEN_GEN_MASK) << 48) |
           ((uint64_t)index << 32);
}

static int ledger_slot(struct capdrv_shim *shim, uint32_t *index)
{
    struct shim_ledger *l = &shim->ledger;
    for (uint32_t i = 0; i < l->n; i++) {
        if (!l->e[i].live && !l->e[i].retired) {
            *index = i;
            return 0;
        }
    }
    if (l->n >= SHIM_LEDGER_MAX)
        return -CAPDRV_ENOSPC;
    uint32_t n = l->n ? l->n * 2u : 64u;
    if (n > SHIM_LEDGER_MAX)
        n = SHIM_LEDGER_MAX;
    struct shim_ledger_entry *e = capdrv_env_alloc(shim->env, (size_t)n * sizeof *e);
    if (!e)
        return -CAPDRV_ENOMEM;
    for (uint32_t i = 0; i < l->n; i++)
        e[i] = l->e[i];
    for (uint32_t i = l->n; i < n; i++)
        e[i].gen = 1;
    capdrv_env_free(shim->env, l->e);
    *index = l->n;
    l->e = e;
    l->n = n;
    return 0;
}

int shim_ledger_add(struct capdrv_shim *shim, uint32_t gi, struct shim_provider *owner,
                    size_t size, uint32_t *index)
{
    struct shim_grant *g = &shim->grants[gi];
    uint32_t idx;
    int rc = ledger_slot(shim, &idx);
    if (rc < 0)
        return rc;
    struct shim_ledger_entry *e = &shim->ledger.e[idx];
    struct capdrv_hw_dma mem = {0};
    rc = shim->hw.ops->dma_alloc(shim->hw.ctx, size, &mem);
    if (rc < 0)
        return rc;
    if (!mem.cpu || mem.size < size) { /* a platform must not hand out less */
        shim->hw.ops->dma_free(shim->hw.ctx, &mem);
        return -CAPDRV_EIO;
    }
    /* Behind an IOMMU every buffer needs its own IOVA, in either lane (the
     * brokered lane just never shows it to the provider). The whole
     * platform buffer is mapped, so its IOVA range is mem.size (a platform
     * may round up). */
    uint64_t iova = 0;
    if ((shim->hw_caps & CAPDRV_HW_IOMMU) &&
        (rc = shim_iova_alloc(shim, gi, mem.size, &iova)) < 0) {
        shim->hw.ops->dma_free(shim->hw.ctx, &mem);
        return rc;
    }
    uint64_t devaddr = 0;
    rc = shim->hw.ops->dma_map(shim->hw.ctx, g->hw_fn, &mem, iova, &devaddr);
    if (rc < 0) {
        shim->hw.ops->dma_free(shim->hw.ctx, &mem);
        return rc;
    }
    if ((shim->hw_caps & CAPDRV_HW_IOMMU) &&
        (rc = shim_iova_index_insert(shim, devaddr, idx)) < 0) {
        (void)shim->hw.ops->dma_unmap(shim->hw.ctx, g->hw_fn, &mem, devaddr);
        shim->hw.ops->dma_free(shim->hw.ctx, &mem);
        return rc;
    }
    /* Memory is zeroed before the provider sees it; it may hold whatever
     * the platform had there. */
    for (size_t i = 0; i < size; i++)
        ((volatile uint8_t *)mem.cpu)[i] = 0;
    e->live = true;
    e->grant = gi;
    e->owner = owner;
    e->mem = mem;
    e->devaddr = devaddr;
    e->ref_base = g->lane == CAPDRV_LANE_DIRECT ? devaddr : token_base(idx, e->gen);
    e->inflight = 0;
    e->shim_owned = owner == NULL;
    shim->ledger.live++;
    shim->ledger.live_bytes += mem.size;
    *index = idx;
    return 0;
}

void shim_ledger_remove(struct capdrv_shim *shim, uint32_t index)
{
    struct shim_ledger_entry *e = &shim->ledger.e[index];
    if (!e->live)
        return;
    struct shim_grant *g = &shim->grants[e->grant];
    /* No reference resolves to it from now on (quarantined or not). */
    if (shim->hw_caps & CAPDRV_HW_IOMMU)
        shim_iova_index_remove(shim, e->devaddr);
    /* Unmap first: once it returns the function cannot reach the memory. */
    int rc = shim->hw.ops->dma_unmap(shim->hw.ctx, g->hw_fn, &e->mem, e->devaddr);
    /* Scrub before the platform can hand the memory to anyone else. */
    volatile uint8_t *p = e->mem.cpu;
    for (size_t i = 0; i < e->mem.size; i++)
        p[i] = 0;
    shim->scrubbed_bytes += e->mem.size;
    shim->ledger.live--;
    shim->ledger.live_bytes -= e->mem.size;
    e->live = false;
    e->owner = NULL;
    e->inflight = 0;
    if (rc < 0 || g->dma_unsafe) {
        /* The device may still reach this memory (unmap failed, or a reset
         * failed and DMA may still run): never give it back.
         * The slot is retired with the memory (quarantined, not reused). */
        capdrv_env_log(shim->env, CAPDRV_LOG_ERROR, "dma-quarantined", index,
                       (uint64_t)-rc);
        e->retired = true;
        e->quarantined = true;
        return;
    }
    shim->hw.ops->dma_free(shim->hw.ctx, &e->mem);
    if (e->gen == SHIM_TOKEN_GEN_MASK)
        e->retired = true;
    else
        e->gen++;
}

int shim_ledger_resolve(struct capdrv_shim *shim, uint32_t gi, uint64_t ref, uint64_t len,
                        uint64_t *devaddr, uint32_t *index)
{
    struct shim_grant *g = &shim->grants[gi];
    struct shim_ledger *l = &shim->ledger;
    if (len == 0)
        return -CAPDRV_EINVAL;
    if (g->lane == CAPDRV_LANE_BROKERED) {
        /* A token names one buffer: check tag, index, generation, owner
         * grant and that [offset, offset+len) lies inside the buffer. */
        if ((ref >> 60) != SHIM_TOKEN_TAG)
            return -CAPDRV_EFAULT;
        uint32_t idx = (uint32_t)(ref >> 32) & 0xffffu;
        uint16_t gen = (uint16_t)((ref >> 48) & SHIM_TOKEN_GEN_MASK);
        uint64_t off = ref & 0xffffffffu;
        if (idx >= l->n)
            return -CAPDRV_EFAULT;
        struct shim_ledger_entry *e = &l->e[idx];
        if (!e->live || e->shim_owned || e->gen != gen || e->grant != gi ||
            !shim_range_within(off, len, e->mem.size))
            return -CAPDRV_EFAULT;
        *devaddr = e->devaddr + off;
        *index = idx;
        return 0;
    }
    /* Direct lane: the IOVA range must lie inside one live buffer of this
     * grant (a range spanning two buffers crosses a guard page anyway).
     * Buffers never overlap, so the only candidate is the one mapped at
     * the greatest IOVA <= ref (binary search in the IOVA index); every
     * condition is then checked on it. */
    uint32_t i = shim_iova_index_find(shim, ref);
    if (i >= l->n)
        return -CAPDRV_EFAULT;
    struct shim_ledger_entry *e = &l->e[i];
    if (!e->live || e->shim_owned || e->grant != gi ||
        !shim_range_inside(ref, len, e->devaddr, e->mem.size))
        return -CAPDRV_EFAULT;
    *devaddr = ref;
    *index = i;
    return 0;
}

void shim_ledger_destroy(struct capdrv_shim *shim)
{
    for (uint32_t i = 0; i < shim->ledger.n; i++)
        shim_ledger_remove(shim, i);
    capdrv_env_free(shim->env, shim->ledger.e);
    shim->ledger.e = NULL;
    shim->ledger.n = 0;
    shim_iova_index_free(shim);
}
