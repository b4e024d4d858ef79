/* Shared DMA memory for the manager: wrap any platform so that every
 * dma_alloc() region is backed by a sealed memfd the manager can hand to a
 * provider (SCM_RIGHTS), without the platform or the shim knowing.
 *
 * How: after the platform allocates a region (page-aligned, a multiple of
 * 4096, as hw.h requires), its pages are replaced in place by a MAP_SHARED
 * mapping of a fresh memfd holding the same bytes, so the device model and
 * the shim keep using the same CPU pointer. At dma_free() the pages are
 * replaced by private anonymous memory *before* the platform frees the
 * region: a provider that kept its mapping then holds an orphaned memfd
 * and never an alias of memory the manager reuses.
 *
 * The memfd is sealed against shrinking and growing (F_SEAL_SHRINK,
 * F_SEAL_GROW, F_SEAL_SEAL): a hostile provider holding it cannot
 * ftruncate() it and make the manager's or device's accesses fault. */
#ifndef CAPDRV_MGR_HWMEM_H
#define CAPDRV_MGR_HWMEM_H

#include <stddef.h>

#include <capdrv/hw.h>

struct mgr_hwmem;

/* Wrap @inner; *wrapped is the platform to give the shim. -CAPDRV_ENOMEM. */
int mgr_hwmem_wrap(struct capdrv_hw inner, struct mgr_hwmem **out, struct capdrv_hw *wrapped);
/* Free the wrapper (after the shim using it is destroyed). */
void mgr_hwmem_free(struct mgr_hwmem *m);
/* A new descriptor (the caller closes it) of the memfd backing the region
 * that starts at @cpu, and the region's size; -CAPDRV_ENOENT when @cpu
 * starts no region, -CAPDRV_ENOMEM when out of descriptors. */
int mgr_hwmem_lookup(struct mgr_hwmem *m, const void *cpu, int *fd, size_t *size);
/* Live regions (for tests and status). */
size_t mgr_hwmem_regions(struct mgr_hwmem *m);

#endif
