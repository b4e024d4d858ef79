/* Fuzz target: the NVMe PRP and SGL builders (include/capdrv/prp.h,
 * src/nvme/prp.c, sgl.c) over arbitrary segment layouts, configurations and
 * list pages, checked against a small reference model written here from the
 * header's contract and NVMe Base 2.0 §4.1.1 / §4.1.2 (independent of the
 * unit tests' decoder in tests/unit/nvme/).
 *
 * For every input:
 * - the model predicts the result: success with n list pages, or the exact
 *   error, fault and index of the first broken rule;
 * - on failure nothing was written: the data pointer and every list page
 *   still hold their fill pattern, and the diag says what the model said;
 * - on success the diag is untouched, a device-side decoder walks PRP1/PRP2
 *   and the PRP lists (chain entries included), or SGL1 and the SGL
 *   segments, and must reconstruct exactly the transfer's bytes; entries
 *   after the last used one and pages after the last used one are
 *   untouched; capdrv_*_lists_needed() is consistent;
 * - the single-segment fast paths (capdrv_prp_build_one(),
 *   capdrv_sgl_build_one()) give byte-identical results;
 * - canaries on both sides of every list page are intact (and each page is
 *   its own heap block, so ASan sees any write outside it).
 *
 * Input (a byte stream; reads past the end give zeros):
 *   mode     bit 0: 0 PRP, 1 SGL; bit 1: raw configuration values
 *   config   PRP: page shift (12 + b % 3), or a raw u64 page size;
 *            SGL: SGLS byte and list size 16 * (2 + b % 255), or raw u32;
 *            then a max-transfer selector (b < 128: unlimited, else a u32)
 *   nlists   b % 5 list pages, each with a flag byte: bit 0 NULL CPU
 *            address, bit 1 CPU address + 4, bit 2 reference + 4, bit 3
 *            reference + 8
 *   nsegs    b % 65 segments, each a kind byte then its values: bits 1:0
 *            address (page-aligned index, page + small offset, raw u64, just
 *            below 2^64); bits 3:2 length (whole pages, small, raw u32, to
 *            the end of the page) */
#include "fuzz_common.h"

#include <string.h>

#include <capdrv/nvme/types.h>
#include <capdrv/prp.h>

#define MAX_LISTS 4u
#define MAX_SEGS 64u
#define CANARY 32u
#define FILL 0xa5u
#define CANARY_BYTE 0x5au
#define LIST_REF_BASE 0x0000700000000000ull
#define LIST_REF_STRIDE 0x10000000ull /* 256 MiB: aligned for every page size used */
#define SGL_DESC 16u

/* ------------------------------------------------------------------ */
/* Input reader                                                       */

/* ------------------------------------------------------------------ */
/* List pages with canaries                                           */

struct lpage {
    uint8_t *block;   /* heap block: canary, page (+ 4 spare), canary */
    uint8_t *mem;     /* the page inside it (even when the builder is given NULL) */
    size_t size;      /* page bytes */
    struct capdrv_dma_page page;
};

static struct lpage lp[MAX_LISTS];
static struct capdrv_dma_page pages[MAX_LISTS];

static void lists_make(struct fuzz_rd *r, unsigned n, size_t size)
{
    for (unsigned j = 0; j < n; j++) {
        uint8_t f = fuzz_rd8(r);
        lp[j].size = size;
        lp[j].block = malloc(CANARY + size + 4 + CANARY);
        FUZZ_CHECK(lp[j].block != NULL);
        memset(lp[j].block, CANARY_BYTE, CANARY + size + 4 + CANARY);
        uint8_t *cpu = lp[j].block + CANARY + ((f & 2u) ? 4u : 0u);
        memset(cpu, FILL, size);
        lp[j].mem = cpu;
        lp[j].page.cpu = (f & 1u) ? NULL : cpu;
        lp[j].page.ref = LIST_REF_BASE + j * LIST_REF_STRIDE + ((f & 4u) ? 4u : 0u) +
                         ((f & 8u) ? 8u : 0u);
        pages[j] = lp[j].page;
    }
}

/* Where page j's content really is (even when the builder was given NULL). */
static uint8_t *lists_cpu(unsigned j)
{
    return lp[j].mem;
}

static int all_fill(const uint8_t *p, size_t n, uint8_t v)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != v)
            return 0;
    return 1;
}

/* Page j untouched from byte @from on, and its canaries intact. */
static void lists_check_untouched(unsigned j, size_t from)
{
    uint8_t *cpu = lists_cpu(j);
    size_t lead = (size_t)(cpu - lp[j].block);
    FUZZ_CHECK(all_fill(lp[j].block, lead, CANARY_BYTE));
    if (from < lp[j].size)
        FUZZ_CHECK_MSG(all_fill(cpu + from, lp[j].size - from, FILL), "list page written", j);
    size_t tail = CANARY + lp[j].size + 4 + CANARY - lead - lp[j].size;
    FUZZ_CHECK_MSG(all_fill(cpu + lp[j].size, tail, CANARY_BYTE), "canary after page", j);
}

static void lists_free(unsigned n)
{
    for (unsigned j = 0; j < n; j++) {
        free(lp[j].block);
        memset(&lp[j], 0, sizeof lp[j]);
    }
}

static int list_index(uint64_t ref, unsigned nlists)
{
    for (unsigned j = 0; j < nlists; j++)
        if (lp[j].page.ref == ref)
            return (int)j;
    return -1;
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return capdrv_nvme_le64_to_cpu(v);
}

/* ------------------------------------------------------------------ */
/* The model: what the contract says the builder must return           */

struct expect {
    int rc;                     /* >= 0: list pages used */
    enum capdrv_dptr_fault fault;
    uint32_t index;
};

static struct expect fail(int rc, enum capdrv_dptr_fault f, uint64_t index)
{
    struct expect e = {rc, f, index > UINT32_MAX ? UINT32_MAX : (uint32_t)index};
    return e;
}

/* k list pages of @per slots hold k * (per - 1) + 1 entries (every page but
 * the last gives its final slot to the chain pointer). */
static uint64_t pages_for(uint64_t entries, uint64_t per)
{
    if (entries == 0)
        return 0;
    if (entries <= per)
        return 1;
    return 1 + (entries - per + (per - 2)) / (per - 1);
}

static int page_bad(const struct capdrv_dma_page *p, uint64_t ref_align_mask)
{
    return p->cpu == NULL || ((uintptr_t)p->cpu & 7u) != 0 || (p->ref & ref_align_mask) != 0;
}

static struct expect prp_model(const struct capdrv_prp_cfg *cfg, const struct capdrv_dma_seg *s,
                               unsigned n, unsigned nlists)
{
    if (n == 0)
        return fail(-CAPDRV_EINVAL, CAPDRV_DPTR_BAD_ARG, 0);
    uint64_t psize = cfg->page_size, mask = psize - 1, total = 0, entries = 0;
    for (unsigned i = 0; i < n; i++) {
        uint64_t ref = s[i].ref, len = s[i].len;
        if (len == 0)
            return fail(-CAPDRV_EINVAL, CAPDRV_DPTR_EMPTY_SEG, i);
        if (ref + (len - 1) < ref)
            return fail(-CAPDRV_EOVERFLOW, CAPDRV_DPTR_WRAP, i);
        if (i == 0 && (ref % 4) != 0)
            return fail(-CAPDRV_EINVAL, CAPDRV_DPTR_START_ALIGN, i);
        if (i > 0 && (ref % psize) != 0)
            return fail(-CAPDRV_EINVAL, CAPDRV_DPTR_MID_START, i);
        if (i + 1 < n && ((ref + len) % psize) != 0)
            return fail(-CAPDRV_EINVAL, CAPDRV_DPTR_MID_END, i);
        total += len;
        if (total > cfg->max_xfer)
            return fail(-CAPDRV_ERANGE, CAPDRV_DPTR_OVER_MDTS, i);
        uint64_t first = ref & mask;
        entries += (first + len + psize - 1) / psize; /* pages touched */
    }
    if (entries <= 2)
        return fail(0, CAPDRV_DPTR_OK, 0);
    uint64_t need = pages_for(entries - 1, psize / 8);
    if (need > nlists)
        return fail(-CAPDRV_ENOSPC, CAPDRV_DPTR_NO_LIST_SPACE, need);
    for (unsigned j = 0; j < need; j++)
        if (page_bad(&pages[j], mask))
            return fail(-CAPDRV_EINVAL, CAPDRV_DPTR_BAD_LIST_PAGE, j);
    return fail((int)need, CAPDRV_DPTR_OK, 0);
}

static struct expect sgl_model(const struct capdrv_sgl_cfg *cfg, const struct capdrv_dma_seg *s,
                               unsigned n, unsigned nlists)
{
    if (n == 0)
        return fail(-CAPDRV_EINVAL, CAPDRV_DPTR_BAD_ARG, 0);
    uint64_t total = 0;
    for (unsigned i = 0; i < n; i++) {
        uint64_t ref = s[i].ref, len = s[i].len;
        if (len == 0)
            return fail(-CAPDRV_EINVAL, CAPDRV_DPTR_EMPTY_SEG, i);
        if (ref + (len - 1) < ref)
            return fail(-CAPDRV_EOVERFLOW, CAPDRV_DPTR_WRAP, i);
        if (cfg->dword_gran && (ref % 4) != 0)
            return fail(-CAPDRV_EINVAL, CAPDRV_DPTR_START_ALIGN, i);
        if (cfg->dword_gran && (len % 4) != 0)
            return fail(-CAPDRV_EINVAL, CAPDRV_DPTR_LEN_ALIGN, i);
        total += len;
        if (total > cfg->max_xfer)
            return fail(-CAPDRV_ERANGE, CAPDRV_DPTR_OVER_MDTS, i);
    }
    if (n == 1)
        return fail(0, CAPDRV_DPTR_OK, 0);
    uint64_t need = pages_for(n, cfg->list_bytes / SGL_DESC);
    if (need > nlists)
        return fail(-CAPDRV_ENOSPC, CAPDRV_DPTR_NO_LIST_SPACE, need);
    for (unsigned j = 0; j < need; j++)
        if (page_bad(&pages[j], 7))
            return fail(-CAPDRV_EINVAL, CAPDRV_DPTR_BAD_LIST_PAGE, j);
    return fail((int)need, CAPDRV_DPTR_OK, 0);
}

/* ------------------------------------------------------------------ */
/* Device-side decoders                                               */

/* The transfer as byte ranges, cut at memory-page boundaries (PRP) or one
 * per segment (SGL), compared piece by piece with what the decoder finds. */
struct piece {
    uint64_t addr, len;
};

static struct piece want[16384];
static unsigned n_want;

static void want_prp_pieces(const struct capdrv_dma_seg *s, unsigned n, uint64_t psize)
{
    n_want = 0;
    for (unsigned i = 0; i < n; i++) {
        uint64_t addr = s[i].ref, left = s[i].len;
        while (left) {
            uint64_t room = psize - (addr & (psize - 1));
            uint64_t len = left < room ? left : room;
            FUZZ_CHECK(n_want < sizeof want / sizeof want[0]);
            want[n_want++] = (struct piece){addr, len};
            addr += len;
            left -= len;
        }
    }
}

static unsigned got_i;

static void got(uint64_t addr, uint64_t len)
{
    FUZZ_CHECK_MSG(got_i < n_want, "decoder found extra piece", got_i);
    FUZZ_CHECK_MSG(want[got_i].addr == addr, "piece address differs", got_i);
    FUZZ_CHECK_MSG(want[got_i].len == len, "piece length differs", got_i);
    got_i++;
}

/* NVMe Base 2.0 §4.1.1, read as a controller would. */
static void prp_decode(const struct capdrv_prp_cfg *cfg, const union capdrv_nvme_dptr *d,
                       const struct capdrv_dma_seg *s, unsigned n, unsigned nlists, int rc)
{
    uint64_t psize = cfg->page_size, mask = psize - 1, total = 0;
    for (unsigned i = 0; i < n; i++)
        total += s[i].len;
    want_prp_pieces(s, n, psize);
    got_i = 0;
    uint64_t prp1 = capdrv_nvme_le64_to_cpu(d->prp.prp1), prp2 = capdrv_nvme_le64_to_cpu(d->prp.prp2);
    FUZZ_CHECK((prp1 & 3u) == 0);
    uint64_t first = psize - (prp1 & mask);
    if (first > total)
        first = total;
    got(prp1, first);
    uint64_t left = total - first;
    if (left == 0) {
        FUZZ_CHECK(prp2 == 0); /* reserved */
        FUZZ_CHECK(rc == 0);
    } else if (left <= psize) {
        FUZZ_CHECK((prp2 & mask) == 0); /* a data page */
        got(prp2, left);
        FUZZ_CHECK(rc == 0);
    } else {
        uint64_t per = psize / 8, entries = (left + psize - 1) / psize;
        int pg = list_index(prp2, nlists);
        FUZZ_CHECK_MSG(pg == 0, "PRP2 is not list page 0", pg);
        uint64_t slot = 0;
        while (left) {
            const uint8_t *list = lists_cpu((unsigned)pg);
            uint64_t e = get64(list + slot * 8);
            if (slot == per - 1 && entries > 1) { /* chain to the next list page */
                int next = list_index(e, nlists);
                FUZZ_CHECK_MSG(next == pg + 1, "chain entry is not the next list page", next);
                pg = next;
                slot = 0;
                continue;
            }
            FUZZ_CHECK((e & mask) == 0);
            uint64_t len = left < psize ? left : psize;
            got(e, len);
            left -= len;
            entries--;
            slot++;
        }
        FUZZ_CHECK_MSG(rc == pg + 1, "list pages used", rc);
        lists_check_untouched((unsigned)pg, (size_t)(slot * 8));
        for (unsigned j = (unsigned)pg + 1; j < nlists; j++)
            lists_check_untouched(j, 0);
        FUZZ_CHECK((uint64_t)rc <= capdrv_prp_lists_needed(cfg, total));
    }
    if (rc == 0)
        for (unsigned j = 0; j < nlists; j++)
            lists_check_untouched(j, 0);
    FUZZ_CHECK_MSG(got_i == n_want, "decoder found fewer pieces", got_i);
}

static void sgl_desc(const uint8_t *p, struct capdrv_nvme_sgl_desc *d)
{
    memcpy(d, p, sizeof *d);
    d->addr = capdrv_nvme_le64_to_cpu(d->addr);
    d->length = capdrv_nvme_le32_to_cpu(d->length);
    FUZZ_CHECK(d->rsvd[0] == 0 && d->rsvd[1] == 0 && d->rsvd[2] == 0);
    FUZZ_CHECK((d->id & 0xfu) == CAPDRV_NVME_SGL_SUB_ADDRESS);
}

/* NVMe Base 2.0 §4.1.2, read as a controller would. */
static void sgl_decode(const struct capdrv_sgl_cfg *cfg, const union capdrv_nvme_dptr *dp,
                       const struct capdrv_dma_seg *s, unsigned n, unsigned nlists, int rc)
{
    n_want = 0;
    for (unsigned i = 0; i < n; i++)
        want[n_want++] = (struct piece){s[i].ref, s[i].len};
    got_i = 0;
    struct capdrv_nvme_sgl_desc d;
    sgl_desc((const uint8_t *)dp, &d);
    unsigned type = d.id >> 4;
    if (type == CAPDRV_NVME_SGL_DATA_BLOCK) {
        got(d.addr, d.length);
        FUZZ_CHECK(rc == 0);
        for (unsigned j = 0; j < nlists; j++)
            lists_check_untouched(j, 0);
    } else {
        int pg = -1;
        while (type == CAPDRV_NVME_SGL_SEGMENT || type == CAPDRV_NVME_SGL_LAST_SEGMENT) {
            int next = list_index(d.addr, nlists);
            FUZZ_CHECK_MSG(next == pg + 1, "segment is not the next list page", next);
            pg = next;
            FUZZ_CHECK(d.length >= SGL_DESC && d.length % SGL_DESC == 0 &&
                       d.length <= cfg->list_bytes);
            unsigned count = d.length / SGL_DESC, last_seg = type == CAPDRV_NVME_SGL_LAST_SEGMENT;
            const uint8_t *list = lists_cpu((unsigned)pg);
            for (unsigned k = 0; k < count; k++) {
                sgl_desc(list + k * SGL_DESC, &d);
                type = d.id >> 4;
                if (type == CAPDRV_NVME_SGL_DATA_BLOCK) {
                    FUZZ_CHECK(d.length > 0);
                    got(d.addr, d.length);
                    continue;
                }
                /* A (Last) Segment descriptor only as a segment's final
                 * descriptor, and never inside the last segment. */
                FUZZ_CHECK(type == CAPDRV_NVME_SGL_SEGMENT || type == CAPDRV_NVME_SGL_LAST_SEGMENT);
                FUZZ_CHECK(k == count - 1 && !last_seg);
            }
            lists_check_untouched((unsigned)pg, (size_t)count * SGL_DESC);
            if (last_seg)
                break;
            /* A segment reached by a Segment descriptor ends with a pointer. */
            FUZZ_CHECK(type == CAPDRV_NVME_SGL_SEGMENT || type == CAPDRV_NVME_SGL_LAST_SEGMENT);
        }
        FUZZ_CHECK_MSG(rc == pg + 1, "list pages used", rc);
        for (unsigned j = (unsigned)pg + 1; j < nlists; j++)
            lists_check_untouched(j, 0);
        FUZZ_CHECK((uint64_t)rc == capdrv_sgl_lists_needed(cfg, n));
    }
    FUZZ_CHECK_MSG(got_i == n_want, "decoder found fewer pieces", got_i);
}

/* ------------------------------------------------------------------ */
/* Driver                                                             */

static struct capdrv_dma_seg segs[MAX_SEGS];

static unsigned read_segs(struct fuzz_rd *r, uint64_t psize)
{
    unsigned n = fuzz_rd8(r) % (MAX_SEGS + 1);
    for (unsigned i = 0; i < n; i++) {
        uint8_t kind = fuzz_rd8(r);
        uint64_t ref;
        switch (kind & 3u) {
        case 0: ref = fuzz_rdn(r, 2) * psize; break;
        case 1: ref = fuzz_rdn(r, 2) * psize + (fuzz_rdn(r, 2) & (psize - 1)); break;
        case 2: ref = fuzz_rdn(r, 8); break;
        default: ref = UINT64_MAX - fuzz_rdn(r, 2); break;
        }
        uint32_t len;
        switch ((kind >> 2) & 3u) {
        case 0: len = (uint32_t)((fuzz_rd8(r) + 1u) * psize); break;
        case 1: len = (uint32_t)fuzz_rdn(r, 2) + 1u; break;
        case 2: len = (uint32_t)fuzz_rdn(r, 4); break;
        default: len = (uint32_t)(psize - (ref & (psize - 1))); break;
        }
        segs[i].ref = ref;
        segs[i].len = len;
    }
    return n;
}

static uint64_t read_max_xfer(struct fuzz_rd *r)
{
    return fuzz_rd8(r) < 128 ? 0 : fuzz_rdn(r, 4);
}

static void check_failed(int rc, const struct expect *e, const struct capdrv_dptr_diag *diag,
                         const union capdrv_nvme_dptr *d, unsigned nlists)
{
    FUZZ_CHECK_MSG(rc == e->rc, "builder rc", rc);
    FUZZ_CHECK_MSG(diag->fault == e->fault, "diag fault", diag->fault);
    FUZZ_CHECK_MSG(diag->index == e->index, "diag index", diag->index);
    FUZZ_CHECK(all_fill((const uint8_t *)d, sizeof *d, FILL)); /* data pointer untouched */
    for (unsigned j = 0; j < nlists; j++)
        lists_check_untouched(j, 0);
}

static void run_prp(struct fuzz_rd *r, uint8_t mode)
{
    uint64_t psize = (mode & 2u) ? fuzz_rdn(r, 8) : (uint64_t)1 << (12 + fuzz_rd8(r) % 3);
    uint64_t max_xfer = read_max_xfer(r);
    struct capdrv_prp_cfg cfg;
    memset(&cfg, FILL, sizeof cfg);
    int rc = capdrv_prp_cfg_init(&cfg, psize, max_xfer);
    int valid = psize >= CAPDRV_NVME_PAGE_MIN && psize <= CAPDRV_NVME_PAGE_MAX &&
                (psize & (psize - 1)) == 0;
    FUZZ_CHECK_MSG(rc == (valid ? 0 : -CAPDRV_EINVAL), "prp_cfg_init rc", rc);
    if (rc < 0 || psize > 4 * CAPDRV_NVME_PAGE_MIN)
        return; /* list pages of larger sizes are not worth the memory here */
    FUZZ_CHECK(cfg.page_size == psize && cfg.max_xfer == (max_xfer ? max_xfer : UINT64_MAX));

    unsigned nlists = fuzz_rd8(r) % (MAX_LISTS + 1);
    lists_make(r, nlists, psize);
    unsigned n = read_segs(r, psize);

    struct expect e = prp_model(&cfg, segs, n, nlists);
    union capdrv_nvme_dptr d;
    struct capdrv_dptr_diag diag;
    memset(&d, FILL, sizeof d);
    memset(&diag, FILL, sizeof diag);
    rc = capdrv_prp_build(&cfg, n ? segs : NULL, n, nlists ? pages : NULL, nlists, &d, &diag);
    if (fuzz_verbose())
        fprintf(stderr, "fuzz_prp: prp page %llu segs %u lists %u: rc=%d fault=%d index=%u\n",
                (unsigned long long)psize, n, nlists, rc, rc < 0 ? (int)diag.fault : 0,
                rc < 0 ? diag.index : 0);
    if (e.rc < 0) {
        check_failed(rc, &e, &diag, &d, nlists);
    } else {
        FUZZ_CHECK_MSG(rc == e.rc, "prp_build rc", rc);
        FUZZ_CHECK(all_fill((const uint8_t *)&diag, sizeof diag, FILL));
        prp_decode(&cfg, &d, segs, n, nlists, rc);
    }

    if (n == 1) { /* the inline fast path must agree byte for byte */
        union capdrv_nvme_dptr d1;
        memset(&d1, FILL, sizeof d1);
        if (rc > 0) /* refill what the general build wrote */
            for (unsigned j = 0; j < (unsigned)rc; j++)
                memset(lists_cpu(j), FILL, lp[j].size);
        struct capdrv_dptr_diag diag1;
        memset(&diag1, FILL, sizeof diag1);
        int rc1 = capdrv_prp_build_one(&cfg, segs[0].ref, segs[0].len, nlists ? pages : NULL,
                                       nlists, &d1, &diag1);
        if (e.rc < 0) {
            check_failed(rc1, &e, &diag1, &d1, nlists);
        } else {
            FUZZ_CHECK_MSG(rc1 == rc, "prp_build_one rc", rc1);
            FUZZ_CHECK(memcmp(&d1, &d, sizeof d) == 0);
            prp_decode(&cfg, &d1, segs, n, nlists, rc1);
        }
    }
    lists_free(nlists);
}

static void run_sgl(struct fuzz_rd *r, uint8_t mode)
{
    uint32_t sgls = fuzz_rd8(r);
    uint32_t list_bytes = (mode & 2u) ? (uint32_t)fuzz_rdn(r, 4) : SGL_DESC * (2u + fuzz_rd8(r) % 255u);
    uint64_t max_xfer = read_max_xfer(r);
    struct capdrv_sgl_cfg cfg;
    memset(&cfg, FILL, sizeof cfg);
    int rc = capdrv_sgl_cfg_init(&cfg, sgls, list_bytes, max_xfer);
    unsigned sup = sgls & CAPDRV_NVME_SGLS_SUPPORT_MASK;
    int want_rc = (sup != CAPDRV_NVME_SGLS_BYTE && sup != CAPDRV_NVME_SGLS_DWORD) ? -CAPDRV_ENOTSUP
                  : (list_bytes < 2 * SGL_DESC || list_bytes % SGL_DESC) ? -CAPDRV_EINVAL
                                                                       : 0;
    FUZZ_CHECK_MSG(rc == want_rc, "sgl_cfg_init rc", rc);
    if (rc < 0 || list_bytes > 4096)
        return;
    FUZZ_CHECK(cfg.list_bytes == list_bytes && cfg.dword_gran == (sup == CAPDRV_NVME_SGLS_DWORD));

    unsigned nlists = fuzz_rd8(r) % (MAX_LISTS + 1);
    lists_make(r, nlists, list_bytes);
    unsigned n = read_segs(r, 4096);

    struct expect e = sgl_model(&cfg, segs, n, nlists);
    union capdrv_nvme_dptr d;
    struct capdrv_dptr_diag diag;
    memset(&d, FILL, sizeof d);
    memset(&diag, FILL, sizeof diag);
    rc = capdrv_sgl_build(&cfg, n ? segs : NULL, n, nlists ? pages : NULL, nlists, &d, &diag);
    if (fuzz_verbose())
        fprintf(stderr, "fuzz_prp: sgl list %u segs %u lists %u: rc=%d fault=%d index=%u\n",
                list_bytes, n, nlists, rc, rc < 0 ? (int)diag.fault : 0, rc < 0 ? diag.index : 0);
    if (e.rc < 0) {
        check_failed(rc, &e, &diag, &d, nlists);
    } else {
        FUZZ_CHECK_MSG(rc == e.rc, "sgl_build rc", rc);
        FUZZ_CHECK(all_fill((const uint8_t *)&diag, sizeof diag, FILL));
        sgl_decode(&cfg, &d, segs, n, nlists, rc);
    }

    if (n == 1) {
        union capdrv_nvme_dptr d1;
        struct capdrv_dptr_diag diag1;
        memset(&d1, FILL, sizeof d1);
        memset(&diag1, FILL, sizeof diag1);
        int rc1 = capdrv_sgl_build_one(&cfg, segs[0].ref, segs[0].len, &d1, &diag1);
        if (e.rc < 0) {
            check_failed(rc1, &e, &diag1, &d1, nlists);
        } else {
            FUZZ_CHECK_MSG(rc1 == 0, "sgl_build_one rc", rc1);
            FUZZ_CHECK(memcmp(&d1, &d, sizeof d) == 0);
        }
    }
    lists_free(nlists);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_rd r = {data, size};
    uint8_t mode = fuzz_rd8(&r);
    if (mode & 1u)
        run_sgl(&r, mode);
    else
        run_prp(&r, mode);
    return 0;
}
