/* DMA memory, per-function mappings and the DMA oracle.
 *
 * Memory: each dma_alloc() region is its own page-aligned heap block (so
 * ASan sees CPU-side overruns of a DMA buffer) with a simulated physical
 * address. Physical addresses are bump-allocated from
 * CAPDRV_SIM_DMA_PHYS_BASE, never reused, and separated by one unmapped
 * page: a device holding a stale or off-by-one address always faults, and
 * an address can never be mistaken for a CPU pointer.
 *
 * Mappings: per function, the device-address ranges it may reach. Without
 * an IOMMU a mapping is the region's own physical range (the platform
 * records permission only; real hardware would let the device reach all of
 * memory, which is exactly what the oracle exists to catch). With an IOMMU
 * it is an IOVA range of that function's private address space.
 *
 * Oracle: sim_dma_access() is the only path from a device model to memory.
 * An access must lie entirely inside one mapping of that function; anything
 * else is refused, counted and recorded. */
#include "sim_internal.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* Keep simulated addresses well inside 52 bits, where any IOMMU or CPU
 * could express them. */
#define SIM_PHYS_LIMIT (1ull << 52)

int sim_dma_init(struct sim_dma *d, size_t limit)
{
    memset(d, 0, sizeof *d);
    d->limit = limit;
    d->next_phys = CAPDRV_SIM_DMA_PHYS_BASE;
    d->next_id = 1;
    return 0;
}

void sim_dma_fini(struct capdrv_sim *sim)
{
    struct sim_dma *d = &sim->dma;
    for (size_t i = 0; i < d->n; i++)
        free(d->r[i].cpu);
    free(d->r);
    memset(d, 0, sizeof *d);
}

void sim_maps_free(struct sim_maps *maps)
{
    free(maps->m);
    memset(maps, 0, sizeof *maps);
}

static bool range_ok(uint64_t base, uint64_t len)
{
    return len > 0 && base <= UINT64_MAX - len;
}

/* Index of the region starting at @phys, or d->n. */
static size_t region_find(const struct sim_dma *d, uint64_t phys)
{
    size_t lo = 0, hi = d->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (d->r[mid].phys < phys)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < d->n && d->r[lo].phys == phys ? lo : d->n;
}

/* The live region @mem describes (all fields must agree), or NULL: a
 * caller's struct is input and may be stale or forged. */
static struct sim_region *region_of(struct sim_dma *d, const struct capdrv_hw_dma *mem)
{
    if (!mem)
        return NULL;
    size_t i = region_find(d, mem->phys);
    if (i == d->n)
        return NULL;
    struct sim_region *r = &d->r[i];
    if (r->id != (uint64_t)mem->cookie || r->cpu != mem->cpu || r->size != mem->size)
        return NULL;
    return r;
}

int sim_dma_alloc(struct capdrv_sim *sim, size_t size, struct capdrv_hw_dma *out)
{
    struct sim_dma *d = &sim->dma;
    if (!out || size == 0 || size % SIM_PAGE_SIZE != 0)
        return -CAPDRV_EINVAL;
    if (size > d->limit || d->live_bytes > d->limit - size)
        return -CAPDRV_ENOMEM;
    /* Region plus one guard page of address space. */
    if (d->next_phys >= SIM_PHYS_LIMIT || size > SIM_PHYS_LIMIT - d->next_phys - SIM_PAGE_SIZE)
        return -CAPDRV_ENOMEM;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;
        struct sim_region *r = realloc(d->r, cap * sizeof *r);
        if (!r)
            return -CAPDRV_ENOMEM;
        d->r = r;
        d->cap = cap;
    }
    void *cpu = aligned_alloc(SIM_PAGE_SIZE, size);
    if (!cpu)
        return -CAPDRV_ENOMEM;
    /* Fresh DMA memory holds junk on real machines; the shim must not
     * rely on it being zero, so do not make it zero. */
    memset(cpu, 0xa5, size);
    struct sim_region *r = &d->r[d->n++]; /* phys only grows: stays sorted */
    r->phys = d->next_phys;
    r->size = size;
    r->cpu = cpu;
    r->id = d->next_id++;
    d->next_phys += size + SIM_PAGE_SIZE;
    d->live_bytes += size;
    out->cpu = cpu;
    out->phys = r->phys;
    out->size = size;
    out->cookie = (uintptr_t)r->id;
    return 0;
}

static void maps_remove_at(struct sim_maps *maps, size_t i)
{
    memmove(&maps->m[i], &maps->m[i + 1], (maps->n - i - 1) * sizeof maps->m[0]);
    maps->n--;
}

void sim_dma_free(struct capdrv_sim *sim, const struct capdrv_hw_dma *mem)
{
    struct sim_dma *d = &sim->dma;
    struct sim_region *r = region_of(d, mem);
    if (!r)
        return; /* not ours (or already freed): nothing to do, never crash */
    /* hw.h: the memory is unmapped from every function first, so a device
     * can never reach freed memory even if the caller forgot an unmap. */
    for (unsigned f = 0; f < sim->n_fns; f++) {
        struct sim_maps *maps = &sim->fns[f]->maps;
        for (size_t i = maps->n; i-- > 0;)
            if (maps->m[i].phys == r->phys)
                maps_remove_at(maps, i);
    }
    free(r->cpu);
    d->live_bytes -= r->size;
    size_t i = (size_t)(r - d->r);
    memmove(&d->r[i], &d->r[i + 1], (d->n - i - 1) * sizeof d->r[0]);
    d->n--;
}

/* First mapping whose end is above @addr (the only candidate to contain
 * or overlap a range starting at @addr). */
static size_t maps_lower(const struct sim_maps *maps, uint64_t addr)
{
    size_t lo = 0, hi = maps->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct sim_map *m = &maps->m[mid];
        if (m->devaddr + m->size <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int sim_dma_map(struct capdrv_sim *sim, struct sim_fn *f, const struct capdrv_hw_dma *mem,
                uint64_t iova, uint64_t *devaddr)
{
    struct sim_region *r = region_of(&sim->dma, mem);
    if (!r || !devaddr)
        return -CAPDRV_EINVAL;
    struct sim_maps *maps = &f->maps;
    for (size_t i = 0; i < maps->n; i++)
        if (maps->m[i].phys == r->phys)
            return -CAPDRV_EEXIST;
    /* Without an IOMMU the device address is the physical address and the
     * requested IOVA means nothing (hw.h). */
    uint64_t da = sim->iommu ? iova : r->phys;
    if (da % SIM_PAGE_SIZE != 0 || !range_ok(da, r->size))
        return -CAPDRV_EINVAL;
    size_t at = maps_lower(maps, da);
    if (at < maps->n && maps->m[at].devaddr < da + r->size)
        return -CAPDRV_EINVAL; /* overlaps a live mapping of this function */
    if (maps->n == maps->cap) {
        size_t cap = maps->cap ? maps->cap * 2 : 16;
        struct sim_map *m = realloc(maps->m, cap * sizeof *m);
        if (!m)
            return -CAPDRV_ENOMEM;
        maps->m = m;
        maps->cap = cap;
    }
    memmove(&maps->m[at + 1], &maps->m[at], (maps->n - at) * sizeof maps->m[0]);
    maps->m[at] = (struct sim_map){.devaddr = da, .size = r->size, .phys = r->phys, .cpu = r->cpu};
    maps->n++;
    *devaddr = da;
    return 0;
}

int sim_dma_unmap(struct capdrv_sim *sim, struct sim_fn *f, const struct capdrv_hw_dma *mem,
                  uint64_t devaddr)
{
    (void)sim;
    if (!mem)
        return -CAPDRV_EINVAL;
    struct sim_maps *maps = &f->maps;
    for (size_t i = 0; i < maps->n; i++) {
        if (maps->m[i].devaddr == devaddr && maps->m[i].phys == mem->phys) {
            maps_remove_at(maps, i);
            return 0;
        }
    }
    return -CAPDRV_ENOENT;
}

static void violation(struct capdrv_sim *sim, const struct sim_fn *f, uint64_t devaddr,
                      size_t len, bool is_write)
{
    if (sim->violations < ULONG_MAX)
        sim->violations++;
    sim->have_last = true;
    sim->last = (struct capdrv_sim_violation){
        .fn = f->index, .devaddr = devaddr, .len = len, .is_write = is_write, .now_ns = sim->now_ns};
}

int sim_dma_access(struct capdrv_sim *sim, struct sim_fn *f, uint64_t devaddr, void *buf,
                   size_t len, bool is_write)
{
    if (len == 0)
        return 0; /* no bus transaction at all */
    const struct sim_maps *maps = &f->maps;
    if (range_ok(devaddr, len)) {
        size_t at = maps_lower(maps, devaddr);
        if (at < maps->n) {
            const struct sim_map *m = &maps->m[at];
            uint64_t off = devaddr - m->devaddr;
            if (devaddr >= m->devaddr && len <= m->size && off <= m->size - len) {
                if (is_write)
                    memcpy(m->cpu + off, buf, len);
                else
                    memcpy(buf, m->cpu + off, len);
                return 0;
            }
        }
    }
    /* Not entirely inside one mapping of this function: an IOMMU would
     * fault it, and without one the device would have corrupted memory the
     * shim never handed out. Refuse and record either way. */
    violation(sim, f, devaddr, len, is_write);
    return -CAPDRV_EFAULT;
}
