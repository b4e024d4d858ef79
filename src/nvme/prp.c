/*
 * PRP builder (NVMe Base 2.0 §4.1.1 "Physical Region Page Entry and List").
 *
 * Two passes: the first checks every segment and counts the PRP entries
 * (one per memory page the transfer touches) without writing anything; the
 * second writes PRP1/PRP2 and the list pages. So a refused input leaves the
 * caller's memory exactly as it was, and the cost is one pass over the
 * (few) segments plus one store per entry.
 */
#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include <capdrv/prp.h>

#include "dptr.h"

static const char *const fault_names[] = {
    [CAPDRV_DPTR_OK] = "no fault",
    [CAPDRV_DPTR_BAD_ARG] = "bad argument or uninitialised config",
    [CAPDRV_DPTR_EMPTY_SEG] = "segment of length 0",
    [CAPDRV_DPTR_WRAP] = "segment wraps the 64-bit address space",
    [CAPDRV_DPTR_START_ALIGN] = "segment start not dword aligned",
    [CAPDRV_DPTR_LEN_ALIGN] = "segment length not a multiple of 4",
    [CAPDRV_DPTR_MID_START] = "segment after the first does not start on a page boundary",
    [CAPDRV_DPTR_MID_END] = "segment before the last does not end on a page boundary",
    [CAPDRV_DPTR_OVER_MDTS] = "transfer longer than the maximum transfer size",
    [CAPDRV_DPTR_NO_LIST_SPACE] = "not enough list pages",
    [CAPDRV_DPTR_BAD_LIST_PAGE] = "list page misaligned or without CPU address",
};

const char *capdrv_dptr_fault_str(unsigned fault)
{
    if (fault < sizeof fault_names / sizeof fault_names[0] && fault_names[fault] != NULL)
        return fault_names[fault];
    return "unknown fault";
}

int capdrv_prp_cfg_init(struct capdrv_prp_cfg *cfg, uint64_t page_size, uint64_t max_xfer)
{
    /* CC.MPS: 2^(12 + MPS), MPS 0..15 (NVMe Base 2.0 §3.1.3.5). */
    if (cfg == NULL || page_size < CAPDRV_NVME_PAGE_MIN || page_size > CAPDRV_NVME_PAGE_MAX ||
        (page_size & (page_size - 1)) != 0)
        return -CAPDRV_EINVAL;
    uint32_t shift = 12;
    while (((uint64_t)1 << shift) != page_size)
        shift++;
    cfg->page_size = page_size;
    cfg->page_mask = page_size - 1;
    cfg->max_xfer = max_xfer == 0 ? UINT64_MAX : max_xfer;
    cfg->page_shift = shift;
    cfg->list_entries = (uint32_t)(page_size / sizeof(uint64_t));
    return 0;
}

/* A config capdrv_prp_cfg_init() could have produced (catches zeroed or stale ones). */
static int prp_cfg_ok(const struct capdrv_prp_cfg *cfg)
{
    return cfg->page_shift >= 12 && cfg->page_shift <= 27 &&
           cfg->page_size == (uint64_t)1 << cfg->page_shift &&
           cfg->page_mask == cfg->page_size - 1 &&
           cfg->list_entries == cfg->page_size / sizeof(uint64_t) && cfg->max_xfer != 0;
}

/* Memory pages touched by [ref, ref + len), len >= 1, no wrap. */
static inline uint64_t pages_touched(uint64_t ref, uint64_t len, uint64_t mask, unsigned shift)
{
    return (((ref & mask) + len - 1) >> shift) + 1;
}

uint64_t capdrv_prp_lists_needed(const struct capdrv_prp_cfg *cfg, uint64_t bytes)
{
    if (cfg == NULL || bytes == 0 || !prp_cfg_ok(cfg))
        return 0;
    /* Worst legal first offset is page_size - 4 (dword aligned, §4.1.1); later
     * segments are page-aligned, so the transfer touches
     * floor((off + bytes - 1) / page) + 1 pages, computed without overflow. */
    uint64_t b = bytes - 1;
    uint64_t touched = (b >> cfg->page_shift) +
                       (((b & cfg->page_mask) + cfg->page_size - 4) >> cfg->page_shift) + 1;
    return touched <= 2 ? 0 : dptr_pages_for(touched - 1, cfg->list_entries);
}

int capdrv_prp_build(const struct capdrv_prp_cfg *cfg, const struct capdrv_dma_seg *segs,
                     unsigned nsegs, const struct capdrv_dma_page *lists, unsigned nlists,
                     union capdrv_nvme_dptr *dptr, struct capdrv_dptr_diag *diag)
{
    if (cfg == NULL || segs == NULL || nsegs == 0 || dptr == NULL || !prp_cfg_ok(cfg) ||
        (lists == NULL && nlists != 0))
        return dptr_fail(diag, -CAPDRV_EINVAL, CAPDRV_DPTR_BAD_ARG, 0);

    const uint64_t psize = cfg->page_size;
    const uint64_t mask = cfg->page_mask;
    const unsigned shift = cfg->page_shift;
    const unsigned last = nsegs - 1;
    uint64_t total = 0;   /* cannot wrap: nsegs < 2^32 segments of < 2^32 bytes */
    uint64_t entries = 0; /* PRP entries = memory pages touched */

    /* Pass 1: check, count; write nothing. */
    for (unsigned i = 0; i < nsegs; i++) {
        const uint64_t ref = segs[i].ref;
        const uint64_t len = segs[i].len;
        if (len == 0)
            return dptr_fail(diag, -CAPDRV_EINVAL, CAPDRV_DPTR_EMPTY_SEG, i);
        if (len - 1 > UINT64_MAX - ref)
            return dptr_fail(diag, -CAPDRV_EOVERFLOW, CAPDRV_DPTR_WRAP, i);
        if (i == 0) {
            /* §4.1.1: PRP1's offset shall be dword aligned (bits 1:0 = 00b). */
            if ((ref & 3u) != 0)
                return dptr_fail(diag, -CAPDRV_EINVAL, CAPDRV_DPTR_START_ALIGN, i);
        } else if ((ref & mask) != 0) {
            /* §4.1.1: PRP2 as a data pointer and every PRP list entry have a
             * memory page offset of 0h, so only the first segment may start
             * inside a page. */
            return dptr_fail(diag, -CAPDRV_EINVAL, CAPDRV_DPTR_MID_START, i);
        }
        /* §4.1.1: entries describe whole pages after the first, so a segment
         * followed by another must run to the end of its last page (a
         * segment ending exactly at 2^64 wraps to 0: page aligned too). */
        if (i != last && ((ref + len) & mask) != 0)
            return dptr_fail(diag, -CAPDRV_EINVAL, CAPDRV_DPTR_MID_END, i);
        total += len;
        if (total > cfg->max_xfer)
            return dptr_fail(diag, -CAPDRV_ERANGE, CAPDRV_DPTR_OVER_MDTS, i);
        entries += pages_touched(ref, len, mask, shift);
    }

    const uint64_t prp1 = segs[0].ref;
    if (entries <= 2) {
        /* §4.1.1: PRP2 is reserved when the transfer stays in one page, and
         * is the second page's address when it crosses exactly one page
         * boundary. With two entries, either segment 0 spans both pages or
         * segments 0 and 1 have one page each. */
        uint64_t prp2 = 0;
        if (entries == 2)
            prp2 = nsegs == 1 ? (prp1 & ~mask) + psize : segs[1].ref;
        dptr->prp.prp1 = capdrv_nvme_cpu_to_le64(prp1);
        dptr->prp.prp2 = capdrv_nvme_cpu_to_le64(prp2);
        return 0;
    }

    /* §4.1.1: otherwise PRP2 is a PRP List pointer. Entries 1 .. entries-1
     * go to the lists; a page holds page_size / 8 entries and, when more
     * remain than fit, its last entry points to the next list page. */
    const uint64_t per = cfg->list_entries;
    const uint64_t need = dptr_pages_for(entries - 1, per);
    if (need > nlists || need > INT_MAX) /* the count is returned as an int */
        return dptr_fail(diag, -CAPDRV_ENOSPC, CAPDRV_DPTR_NO_LIST_SPACE, need);
    for (unsigned j = 0; j < need; j++) {
        /* Page-aligned lists (stricter than the qword alignment the spec asks
         * of a list pointer) make every list a whole page, so the chain entry
         * is always the page's last slot. */
        if (lists[j].cpu == NULL || ((uintptr_t)lists[j].cpu & 7u) != 0 ||
            (lists[j].ref & mask) != 0)
            return dptr_fail(diag, -CAPDRV_EINVAL, CAPDRV_DPTR_BAD_LIST_PAGE, j);
    }

    /* Pass 2: fill. */
    unsigned pg = 0;
    uint64_t *slot = lists[0].cpu;
    uint64_t *end = slot + per;
    uint64_t left = entries - 1; /* list entries still to write */
    for (unsigned i = 0; i < nsegs; i++) {
        uint64_t page = segs[i].ref & ~mask;
        uint64_t n = pages_touched(segs[i].ref, segs[i].len, mask, shift);
        if (i == 0) { /* PRP1 covers the first page */
            page += psize;
            n--;
        }
        while (n > 0) {
            if (slot == end - 1 && left > 1) {
                /* §4.1.1: last entry of a full list page -> next list page. */
                pg++;
                *slot = capdrv_nvme_cpu_to_le64(lists[pg].ref);
                slot = lists[pg].cpu;
                end = slot + per;
            }
            uint64_t room = (uint64_t)(end - slot);
            uint64_t run = left <= room ? n : (n < room - 1 ? n : room - 1);
            for (uint64_t k = 0; k < run; k++) {
                slot[k] = capdrv_nvme_cpu_to_le64(page);
                page += psize;
            }
            slot += run;
            n -= run;
            left -= run;
        }
    }

    dptr->prp.prp1 = capdrv_nvme_cpu_to_le64(prp1);
    dptr->prp.prp2 = capdrv_nvme_cpu_to_le64(lists[0].ref);
    return (int)need;
}
