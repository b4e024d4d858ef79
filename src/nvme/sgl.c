/*
 * SGL builder (NVMe Base 2.0 §4.1.2 "Scatter Gather List (SGL)"), NVMe over
 * PCIe flavour: Data Block, Segment and Last Segment descriptors with the
 * Address sub type. Same two-pass shape as prp.c: check everything, then
 * write.
 */
#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include <capdrv/prp.h>

#include "dptr.h"

#define SGL_DESC_BYTES 16u

int capdrv_sgl_cfg_init(struct capdrv_sgl_cfg *cfg, uint32_t sgls, uint32_t list_bytes,
                        uint64_t max_xfer)
{
    if (cfg == NULL)
        return -CAPDRV_EINVAL;
    /* Identify Controller SGLS bits 1:0 (NVMe Base 2.0 §5.17.2.1). */
    uint32_t sup = sgls & CAPDRV_NVME_SGLS_SUPPORT_MASK;
    if (sup != CAPDRV_NVME_SGLS_BYTE && sup != CAPDRV_NVME_SGLS_DWORD)
        return -CAPDRV_ENOTSUP;
    /* A segment is a whole number of 16-byte descriptors; a chained one
     * needs room for at least one Data Block and one Segment descriptor. */
    if (list_bytes < 2 * SGL_DESC_BYTES || list_bytes % SGL_DESC_BYTES != 0)
        return -CAPDRV_EINVAL;
    cfg->max_xfer = max_xfer == 0 ? UINT64_MAX : max_xfer;
    cfg->list_bytes = list_bytes;
    cfg->list_descs = list_bytes / SGL_DESC_BYTES;
    cfg->dword_gran = sup == CAPDRV_NVME_SGLS_DWORD;
    return 0;
}

static int sgl_cfg_ok(const struct capdrv_sgl_cfg *cfg)
{
    return cfg->list_descs >= 2 && cfg->list_bytes == cfg->list_descs * SGL_DESC_BYTES &&
           cfg->dword_gran <= 1 && cfg->max_xfer != 0;
}

uint64_t capdrv_sgl_lists_needed(const struct capdrv_sgl_cfg *cfg, uint64_t nsegs)
{
    if (cfg == NULL || nsegs <= 1 || !sgl_cfg_ok(cfg))
        return 0;
    return dptr_pages_for(nsegs, cfg->list_descs);
}

static inline void put_desc(struct capdrv_nvme_sgl_desc *d, uint64_t addr, uint32_t len,
                            unsigned type)
{
    d->addr = capdrv_nvme_cpu_to_le64(addr);
    d->length = capdrv_nvme_cpu_to_le32(len);
    d->rsvd[0] = d->rsvd[1] = d->rsvd[2] = 0;
    d->id = capdrv_nvme_sgl_id(type, CAPDRV_NVME_SGL_SUB_ADDRESS);
}

int capdrv_sgl_build(const struct capdrv_sgl_cfg *cfg, const struct capdrv_dma_seg *segs,
                     unsigned nsegs, const struct capdrv_dma_page *lists, unsigned nlists,
                     union capdrv_nvme_dptr *dptr, struct capdrv_dptr_diag *diag)
{
    if (cfg == NULL || segs == NULL || nsegs == 0 || dptr == NULL || !sgl_cfg_ok(cfg) ||
        (lists == NULL && nlists != 0))
        return dptr_fail(diag, -CAPDRV_EINVAL, CAPDRV_DPTR_BAD_ARG, 0);

    uint64_t total = 0; /* cannot wrap: < 2^32 segments of < 2^32 bytes */
    for (unsigned i = 0; i < nsegs; i++) {
        const uint64_t ref = segs[i].ref;
        const uint64_t len = segs[i].len;
        if (len == 0)
            return dptr_fail(diag, -CAPDRV_EINVAL, CAPDRV_DPTR_EMPTY_SEG, i);
        if (len - 1 > UINT64_MAX - ref)
            return dptr_fail(diag, -CAPDRV_EOVERFLOW, CAPDRV_DPTR_WRAP, i);
        if (cfg->dword_gran) {
            /* SGLS 10b: Data Block address and length dword aligned (§4.1.2). */
            if ((ref & 3u) != 0)
                return dptr_fail(diag, -CAPDRV_EINVAL, CAPDRV_DPTR_START_ALIGN, i);
            if ((len & 3u) != 0)
                return dptr_fail(diag, -CAPDRV_EINVAL, CAPDRV_DPTR_LEN_ALIGN, i);
        }
        total += len;
        if (total > cfg->max_xfer)
            return dptr_fail(diag, -CAPDRV_ERANGE, CAPDRV_DPTR_OVER_MDTS, i);
    }

    if (nsegs == 1) {
        /* SGL1 is the only descriptor of the first segment: a Data Block
         * there is the whole SGL (§4.1.2). */
        put_desc(&dptr->sgl1, segs[0].ref, segs[0].len, CAPDRV_NVME_SGL_DATA_BLOCK);
        return 0;
    }

    const uint64_t per = cfg->list_descs;
    const uint64_t need = dptr_pages_for(nsegs, per);
    if (need > nlists || need > INT_MAX) /* the count is returned as an int */
        return dptr_fail(diag, -CAPDRV_ENOSPC, CAPDRV_DPTR_NO_LIST_SPACE, need);
    for (unsigned j = 0; j < need; j++) {
        /* SGL segments are qword aligned (§4.1.2). */
        if (lists[j].cpu == NULL || ((uintptr_t)lists[j].cpu & 7u) != 0 ||
            (lists[j].ref & 7u) != 0)
            return dptr_fail(diag, -CAPDRV_EINVAL, CAPDRV_DPTR_BAD_LIST_PAGE, j);
    }

    /* §4.1.2: SGL1 is a Segment descriptor when more segments follow the one
     * it points at, a Last Segment descriptor when that one is the last.
     * Only the final descriptor of a segment may be a (Last) Segment
     * descriptor, and the last segment holds Data Blocks only. */
    const unsigned last_pg = (unsigned)need - 1;
    unsigned s = 0; /* next input segment */
    for (unsigned pg = 0; pg <= last_pg; pg++) {
        struct capdrv_nvme_sgl_desc *d = lists[pg].cpu;
        const unsigned data = pg == last_pg ? nsegs - s : (unsigned)per - 1;
        for (unsigned k = 0; k < data; k++, s++)
            put_desc(&d[k], segs[s].ref, segs[s].len, CAPDRV_NVME_SGL_DATA_BLOCK);
        if (pg != last_pg) {
            const unsigned next = pg + 1 == last_pg ? nsegs - s : (unsigned)per;
            put_desc(&d[data], lists[pg + 1].ref, next * SGL_DESC_BYTES,
                     pg + 1 == last_pg ? CAPDRV_NVME_SGL_LAST_SEGMENT : CAPDRV_NVME_SGL_SEGMENT);
        }
    }

    const uint32_t first_len = (uint32_t)((need == 1 ? nsegs : per) * SGL_DESC_BYTES);
    put_desc(&dptr->sgl1, lists[0].ref, first_len,
             need == 1 ? CAPDRV_NVME_SGL_LAST_SEGMENT : CAPDRV_NVME_SGL_SEGMENT);
    return (int)need;
}
