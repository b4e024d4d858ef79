/* DMA memory: ranges of guest RAM, and per-function mapping bookkeeping.
 *
 * Guest RAM from CAPDRV_QTEST_DMA_BASE (an offset into RAM, which starts
 * at guest physical 0 on q35 and 0x40000000 on aarch64 virt) to its end
 * is handed out first-fit,
 * page aligned, with one unused page after every range so a device that
 * runs one byte past its buffer lands in memory nobody owns. The CPU
 * pointer is this process's mapping of the same memfd, so what the driver
 * writes the device reads with no copy.
 *
 * No IOMMU: dma_map() only records that the shim allowed the function to
 * reach the range and returns its guest physical address (hw.h); nothing
 * stops a device from reaching any other guest address. What the platform
 * can do instead is watch: every guard page and every freed region is
 * filled with a canary and checked later (capdrv_qtest_canary_check(), and
 * before the range is handed out again), so a device write into memory
 * the shim gave back - DMA after revoke, reset or release - or past the end
 * of a buffer is seen. Reads and writes of the same bytes are not.
 *
 * With capdrv_qtest_config::dma_fds every region is instead a memfd
 * hot-plugged as a DIMM (qtest_dimm.c), with its guard page inside it. */
#define _GNU_SOURCE
#include "qtest_internal.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void qt_dma_fini(struct capdrv_qtest *q)
{
    for (size_t i = 0; i < q->n_regions; i++) /* QEMU is gone: only ours to drop */
        if (q->regions[i].fd >= 0) {
            munmap(q->regions[i].cpu, q->regions[i].size + QT_PAGE);
            close(q->regions[i].fd);
        }
    free(q->regions);
    q->regions = NULL;
    q->n_regions = q->cap_regions = 0;
    q->live_bytes = 0;
    free(q->watch);
    q->watch = NULL;
    q->n_watch = 0;
}

/* ---- canaries --------------------------------------------------------------- */

/* Whether watched range @w still holds the canary; a changed one is
 * counted (once: it is filled again). */
static void watch_check(struct capdrv_qtest *q, const struct qt_watch *w)
{
    uint8_t *p = qt_ram_at(q, w->gpa);
    for (size_t i = 0; i < w->size; i++) {
        if (p[i] != QT_CANARY) {
            q->canary_bad++;
            q->canary_last = w->gpa + i;
            memset(p, QT_CANARY, w->size);
            return;
        }
    }
}

static void watch_remove(struct capdrv_qtest *q, size_t i)
{
    memmove(&q->watch[i], &q->watch[i + 1], (q->n_watch - i - 1) * sizeof q->watch[0]);
    q->n_watch--;
}

/* Fill [gpa, gpa + size) with the canary and watch it. The list is bounded:
 * the oldest range is checked and dropped to make room. Without memory
 * for the list nothing is watched (the allocator itself is unaffected). */
static void watch_add(struct capdrv_qtest *q, uint64_t gpa, size_t size)
{
    if (size == 0 || gpa < q->ram_gpa || gpa - q->ram_gpa > q->ram_bytes ||
        size > q->ram_bytes - (gpa - q->ram_gpa))
        return; /* outside RAM (the last region's guard page) */
    if (!q->watch && !(q->watch = malloc(QT_MAX_WATCH * sizeof q->watch[0])))
        return;
    if (q->n_watch == QT_MAX_WATCH) {
        watch_check(q, &q->watch[0]);
        watch_remove(q, 0);
    }
    memset(qt_ram_at(q, gpa), QT_CANARY, size);
    q->watch[q->n_watch++] = (struct qt_watch){.gpa = gpa, .size = size};
}

/* [gpa, gpa + size) is handed out: check the watched ranges it overlaps
 * and stop watching them. */
static void watch_claim(struct capdrv_qtest *q, uint64_t gpa, size_t size)
{
    for (size_t i = q->n_watch; i-- > 0;) {
        const struct qt_watch *w = &q->watch[i];
        if (w->gpa < gpa + size && gpa < w->gpa + w->size) {
            watch_check(q, w);
            watch_remove(q, i);
        }
    }
}

int capdrv_qtest_canary_check(struct capdrv_qtest *q, struct capdrv_qtest_canary *out)
{
    if (!q || !out)
        return -CAPDRV_EINVAL;
    pthread_mutex_lock(&q->lock);
    size_t bytes = 0;
    for (size_t i = 0; i < q->n_watch; i++) {
        watch_check(q, &q->watch[i]);
        bytes += q->watch[i].size;
    }
    for (size_t i = 0; i < q->n_regions; i++) /* dma_fds: each DIMM's guard page */
        if (q->regions[i].fd >= 0) {
            qt_dimm_guard_check(q, &q->regions[i]);
            bytes += QT_PAGE;
        }
    *out = (struct capdrv_qtest_canary){.changed = q->canary_bad, .last_gpa = q->canary_last,
                                        .ranges = q->n_watch, .bytes = bytes};
    pthread_mutex_unlock(&q->lock);
    return 0;
}

/* The live region @mem describes (all fields must agree), or NULL: the
 * caller's struct is input and may be stale or forged. */
static struct qt_region *region_of(struct capdrv_qtest *q, const struct capdrv_hw_dma *mem)
{
    if (!mem)
        return NULL;
    for (size_t i = 0; i < q->n_regions; i++) {
        struct qt_region *r = &q->regions[i];
        if (r->gpa == mem->phys)
            return r->id == (uint64_t)mem->cookie && r->size == mem->size && mem->cpu == r->cpu
                       ? r
                       : NULL;
    }
    return NULL;
}

int qt_dma_alloc(struct capdrv_qtest *q, size_t size, struct capdrv_hw_dma *out)
{
    if (!out || size == 0 || size % QT_PAGE != 0 || size > q->ram_bytes)
        return -CAPDRV_EINVAL;
    if (q->n_regions == q->cap_regions) {
        size_t cap = q->cap_regions ? q->cap_regions * 2 : 16;
        struct qt_region *r = realloc(q->regions, cap * sizeof *r);
        if (!r)
            return -CAPDRV_ENOMEM;
        q->regions = r;
        q->cap_regions = cap;
    }
    if (q->dma_fds) {
        struct qt_region nr;
        int rc = qt_dimm_alloc(q, size, &nr);
        if (rc < 0)
            return rc;
        size_t k = q->n_regions; /* kept sorted by guest address */
        while (k > 0 && q->regions[k - 1].gpa > nr.gpa)
            k--;
        memmove(&q->regions[k + 1], &q->regions[k], (q->n_regions - k) * sizeof q->regions[0]);
        q->regions[k] = nr;
        q->n_regions++;
        q->live_bytes += size;
        memset(nr.cpu, 0xa5, size); /* junk, as on real machines */
        *out = (struct capdrv_hw_dma){.cpu = nr.cpu, .phys = nr.gpa, .size = size,
                                      .cookie = (uintptr_t)nr.id};
        return 0;
    }
    /* First fit: the gap before region i ends at its start; the last gap
     * ends at the end of RAM. Each region owns the page after it. */
    uint64_t at = q->ram_gpa + CAPDRV_QTEST_DMA_BASE;
    size_t i = 0;
    for (; i <= q->n_regions; i++) {
        uint64_t end = i < q->n_regions ? q->regions[i].gpa : q->ram_gpa + q->ram_bytes;
        if (end >= at && end - at >= size + (i < q->n_regions ? QT_PAGE : 0u))
            break;
        if (i < q->n_regions)
            at = q->regions[i].gpa + q->regions[i].size + QT_PAGE;
    }
    if (i > q->n_regions)
        return -CAPDRV_ENOMEM;
    memmove(&q->regions[i + 1], &q->regions[i], (q->n_regions - i) * sizeof q->regions[0]);
    q->regions[i] = (struct qt_region){.gpa = at, .size = size, .id = q->next_id++,
                                       .cpu = qt_ram_at(q, at), .fd = -1};
    q->n_regions++;
    q->live_bytes += size;
    watch_claim(q, at, size + QT_PAGE);
    watch_add(q, at + size, QT_PAGE); /* the guard page */
    /* Fresh DMA memory holds junk on real machines; do not make it zero. */
    memset(qt_ram_at(q, at), 0xa5, size);
    *out = (struct capdrv_hw_dma){.cpu = qt_ram_at(q, at), .phys = at, .size = size,
                                  .cookie = (uintptr_t)q->regions[i].id};
    return 0;
}

int qt_dma_fd(struct capdrv_qtest *q, const struct capdrv_hw_dma *mem, int *fd)
{
    struct qt_region *r = region_of(q, mem);
    if (!r || !fd)
        return -CAPDRV_EINVAL;
    if (r->fd < 0)
        return -CAPDRV_ENOTSUP; /* a slice of guest RAM: no file of its own */
    *fd = fcntl(r->fd, F_DUPFD_CLOEXEC, 0);
    return *fd >= 0 ? 0 : -CAPDRV_ENOMEM;
}

static void maps_remove(struct qt_fn *f, size_t i)
{
    memmove(&f->maps[i], &f->maps[i + 1], (f->n_maps - i - 1) * sizeof f->maps[0]);
    f->n_maps--;
}

void qt_dma_free(struct capdrv_qtest *q, const struct capdrv_hw_dma *mem)
{
    struct qt_region *r = region_of(q, mem);
    if (!r)
        return; /* not ours or already freed: never crash */
    for (unsigned k = 0; k < q->n_fns; k++) /* hw.h: unmapped from every function first */
        for (size_t i = q->fns[k].n_maps; i-- > 0;)
            if (q->fns[k].maps[i].gpa == r->gpa) {
                if (q->iommu)
                    (void)qt_iommu_unmap(q, &q->fns[k], q->fns[k].maps[i].iova, r->size);
                maps_remove(&q->fns[k], i);
            }
    q->live_bytes -= r->size;
    if (r->fd >= 0)
        qt_dimm_free(q, r); /* ejected: its addresses reach nothing from now on */
    else
        watch_add(q, r->gpa, r->size); /* the guard page after it stays watched */
    size_t i = (size_t)(r - q->regions);
    memmove(&q->regions[i], &q->regions[i + 1], (q->n_regions - i - 1) * sizeof q->regions[0]);
    q->n_regions--;
}

int qt_dma_map(struct capdrv_qtest *q, struct qt_fn *f, const struct capdrv_hw_dma *mem,
               uint64_t iova, uint64_t *devaddr)
{
    struct qt_region *r = region_of(q, mem);
    if (!r || !devaddr)
        return -CAPDRV_EINVAL;
    if (!q->iommu)
        iova = r->gpa; /* no IOMMU: the requested IOVA means nothing (hw.h) */
    else if (iova % QT_PAGE || iova > UINT64_MAX - r->size || iova + r->size > (1ull << 48) ||
             !f->pml4)
        return -CAPDRV_EINVAL; /* 4-level tables: 48-bit IOVAs; a function on bus 0 */
    for (size_t i = 0; i < f->n_maps; i++) {
        const struct qt_map *m = &f->maps[i];
        if (m->gpa == r->gpa || (q->iommu && m->iova < iova + r->size && iova < m->iova + m->size))
            return -CAPDRV_EEXIST;
    }
    if (f->n_maps == f->cap_maps) {
        size_t cap = f->cap_maps ? f->cap_maps * 2 : 16;
        struct qt_map *m = realloc(f->maps, cap * sizeof *m);
        if (!m)
            return -CAPDRV_ENOMEM;
        f->maps = m;
        f->cap_maps = cap;
    }
    if (q->iommu) {
        int rc = qt_iommu_map(q, f, iova, r->gpa, r->size);
        if (rc < 0)
            return rc;
    }
    f->maps[f->n_maps++] = (struct qt_map){.gpa = r->gpa, .size = r->size, .iova = iova};
    *devaddr = iova;
    return 0;
}

int qt_dma_unmap(struct capdrv_qtest *q, struct qt_fn *f, const struct capdrv_hw_dma *mem,
                 uint64_t devaddr)
{
    if (!mem)
        return -CAPDRV_EINVAL;
    for (size_t i = 0; i < f->n_maps; i++) {
        if (f->maps[i].iova == devaddr && f->maps[i].gpa == mem->phys) {
            int rc = q->iommu ? qt_iommu_unmap(q, f, devaddr, f->maps[i].size) : 0;
            maps_remove(f, i);
            return rc;
        }
    }
    return -CAPDRV_ENOENT;
}

int capdrv_qtest_dma_stats(struct capdrv_qtest *q, struct capdrv_qtest_dma_stats *out)
{
    if (!q || !out)
        return -CAPDRV_EINVAL;
    pthread_mutex_lock(&q->lock);
    size_t maps = 0;
    for (unsigned k = 0; k < q->n_fns; k++)
        maps += q->fns[k].n_maps;
    *out = (struct capdrv_qtest_dma_stats){.regions = q->n_regions, .bytes = q->live_bytes,
                                           .mappings = maps};
    pthread_mutex_unlock(&q->lock);
    return 0;
}
