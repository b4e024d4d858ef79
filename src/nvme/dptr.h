/*
 * Private helpers shared by the PRP and SGL builders (prp.c, sgl.c).
 */
#ifndef CAPDRV_SRC_NVME_DPTR_H
#define CAPDRV_SRC_NVME_DPTR_H

#include <stdint.h>

#include <capdrv/prp.h>

/* Record why a builder failed and return the error code @p err (< 0). */
static inline int dptr_fail(struct capdrv_dptr_diag *diag, int err, enum capdrv_dptr_fault fault,
                            uint64_t index)
{
    if (diag != NULL) {
        diag->fault = fault;
        diag->index = index > UINT32_MAX ? UINT32_MAX : (uint32_t)index;
    }
    return err;
}

/*
 * List pages needed for @p entries list entries (PRP entries or SGL
 * descriptors) when a page holds @p per_page of them and, on every page but
 * the last, the final slot is the pointer to the next page (NVMe Base 2.0
 * §4.1.1 PRP list chaining; §4.1.2 Segment descriptors). per_page >= 2.
 *   entries <= per_page: one page;
 *   otherwise k pages hold (k - 1) * (per_page - 1) + per_page entries, so
 *   k = ceil((entries - 1) / (per_page - 1)).
 */
static inline uint64_t dptr_pages_for(uint64_t entries, uint64_t per_page)
{
    if (entries == 0)
        return 0;
    if (entries <= per_page)
        return 1;
    return (entries - 2) / (per_page - 1) + 1;
}

#endif /* CAPDRV_SRC_NVME_DPTR_H */
