/*
 * Randomized (fixed-seed) tests of the PRP and SGL builders: thousands of
 * legal layouts must round-trip exactly through the reference decoder;
 * illegal ones (one rule broken at a time) must be refused with the
 * documented error, fault and index, leaving the data pointer and every
 * list page untouched.
 *
 * CAPDRV_PRP_FUZZ_ITERS (environment) overrides the iteration count;
 * CAPDRV_PRP_FUZZ_SEED the seed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include <capdrv/prp.h>

#include "dptr_check.h"

#define MAXSEGS 24
#define NLISTS 8            /* list pages available at most */
#define PMAX (64u * 1024u)  /* largest page size exercised */

static unsigned long iters(void)
{
    const char *e = getenv("CAPDRV_PRP_FUZZ_ITERS");
    return e ? strtoul(e, NULL, 0) : 20000ul;
}

static uint64_t seed0(uint64_t dflt)
{
    const char *e = getenv("CAPDRV_PRP_FUZZ_SEED");
    return e ? strtoull(e, NULL, 0) : dflt;
}

/* A reference shaped like a brokered token (buffer id in bits 32..55 under
 * 0xA0.. high bits, byte offset below) or like a 48-bit IOVA, page aligned
 * to P, with room for 'span' bytes without crossing 2^32 (tokens). */
static uint64_t rand_base(uint64_t *s, uint64_t P, uint64_t span, int token)
{
    if (token) {
        uint64_t buf = 1 + rng_below(s, 0xFFFFFF);
        uint64_t room = (1ull << 32) - span;
        uint64_t off = rng_below(s, room / P) * P;
        return 0xA000000000000000ull | (buf << 32) | off;
    }
    return (rng_next(s) & 0x0000FFFFFFFFFFFFull) & ~(P - 1);
}

enum mut {
    M_NONE,
    M_EMPTY,
    M_START,
    M_MID_START,
    M_MID_END,
    M_MDTS,
    M_WRAP,
    M_NOSPACE,
    M_BADLIST,
    M_LEN_ALIGN, /* SGL only */
    M_COUNT
};

/* Index of the segment where the running total first exceeds mdts. */
static uint32_t over_index(const struct capdrv_dma_seg *segs, unsigned n, uint64_t mdts)
{
    uint64_t t = 0;
    for (unsigned i = 0; i < n; i++) {
        t += segs[i].len;
        if (t > mdts)
            return i;
    }
    fail_msg("total does not exceed mdts");
    return 0;
}

static void corrupt_page(uint64_t *s, struct capdrv_dma_page *p, uint64_t align)
{
    switch (rng_below(s, 3)) {
    case 0: p->ref += align > 8 ? 8 * (1 + rng_below(s, align / 8 - 1)) : 4; break;
    case 1: p->cpu = NULL; break;
    default: p->cpu = (char *)p->cpu + 4; break;
    }
}

static void test_prp_random(void **state)
{
    (void)state;
    uint64_t s = seed0(0xC0FFEE1234ULL);
    unsigned long n_ok = 0, n_bad[M_COUNT] = {0};
    struct arena a;
    arena_init(&a, NLISTS, PMAX, PMAX, 0, 0); /* refs set per iteration */
    struct capdrv_dma_page pg[NLISTS];
    struct capdrv_dma_seg segs[MAXSEGS];

    for (unsigned long it = 0; it < iters(); it++) {
        const uint64_t P = 4096ull << rng_below(&s, 5);
        const uint64_t E = P / 8;
        const int token = (int)rng_below(&s, 2);
        a.page_bytes = P; /* use the first P bytes of each arena slot */
        /* list pages: token- or IOVA-shaped, P aligned */
        uint64_t lbase = rand_base(&s, P, NLISTS * P, !token);
        for (unsigned j = 0; j < NLISTS; j++) {
            a.pages[j].ref = lbase + j * P;
            pg[j] = a.pages[j];
        }

        /* a legal layout, at most ~3 list pages of entries */
        const unsigned nsegs = 1 + (unsigned)rng_below(&s, rng_below(&s, 4) == 0 ? MAXSEGS : 4);
        uint64_t budget;
        switch (rng_below(&s, 6)) {
        case 0: budget = 1 + rng_below(&s, 3 * E); break;
        case 1: /* around one and two full list pages (chain decisions) */
            budget = (rng_below(&s, 2) ? E + 1 : 2 * E) - 1 + rng_below(&s, 3);
            break;
        default: budget = 1 + rng_below(&s, 8); break;
        }
        if (budget < nsegs)
            budget = nsegs;
        for (unsigned i = 0; i < nsegs; i++) {
            const uint64_t later = nsegs - 1 - i;      /* segments after this one */
            const uint64_t most = budget - later;      /* pages this one may take */
            uint64_t k = i == nsegs - 1 ? budget : 1 + rng_below(&s, 1 + rng_below(&s, most));
            budget -= k;
            uint64_t off = 0;
            if (i == 0) {
                switch (rng_below(&s, 4)) {
                case 0: off = 0; break;
                case 1: off = P - 4; break;
                default: off = 4 * rng_below(&s, P / 4); break;
                }
            }
            uint64_t len = k * P - off; /* to the end of its last page */
            if (i == nsegs - 1) {       /* the last may end anywhere in its last page */
                uint64_t min = (k - 1) * P - off + 1;
                if (k == 1)
                    min = 1;
                switch (rng_below(&s, 3)) {
                case 0: break;
                case 1: len = min; break;
                default: len = min + rng_below(&s, len - min + 1); break;
                }
            }
            segs[i].ref = rand_base(&s, P, k * P, token) + off;
            segs[i].len = (uint32_t)len;
        }
        const uint64_t total = segs_total(segs, nsegs);
        uint64_t mdts = 0;
        switch (rng_below(&s, 4)) {
        case 0: mdts = 0; break;
        case 1: mdts = total; break;
        case 2: mdts = total + rng_below(&s, 1u << 20); break;
        default: mdts = 1ull << 40; break;
        }
        uint64_t touched = 0;
        for (unsigned i = 0; i < nsegs; i++)
            touched += ((segs[i].ref & (P - 1)) + segs[i].len - 1) / P + 1;
        const uint64_t need = touched <= 2 ? 0 : (touched - 1 <= E ? 1 : (touched - 3) / (E - 1) + 1);
        assert_true(need <= NLISTS);
        unsigned nlists = (unsigned)need + (unsigned)rng_below(&s, NLISTS - need + 1);

        /* maybe break exactly one rule */
        enum mut m = M_NONE;
        int want = (int)need;
        enum capdrv_dptr_fault wf = CAPDRV_DPTR_OK;
        uint32_t wi = 0;
        if (rng_below(&s, 100) < 40) {
            m = (enum mut)(1 + rng_below(&s, M_LEN_ALIGN - 1));
            unsigned j;
            switch (m) {
            case M_EMPTY:
                j = (unsigned)rng_below(&s, nsegs);
                segs[j].len = 0;
                want = -CAPDRV_EINVAL, wf = CAPDRV_DPTR_EMPTY_SEG, wi = j;
                break;
            case M_START:
                segs[0].ref += 1 + rng_below(&s, 3);
                want = -CAPDRV_EINVAL, wf = CAPDRV_DPTR_START_ALIGN, wi = 0;
                break;
            case M_MID_START:
                if (nsegs < 2) { m = M_NONE; break; }
                j = 1 + (unsigned)rng_below(&s, nsegs - 1);
                segs[j].ref += 4 * (1 + rng_below(&s, P / 4 - 1));
                want = -CAPDRV_EINVAL, wf = CAPDRV_DPTR_MID_START, wi = j;
                break;
            case M_MID_END:
                if (nsegs < 2) { m = M_NONE; break; }
                j = (unsigned)rng_below(&s, nsegs - 1);
                if (segs[j].len > 1 && rng_below(&s, 2))
                    segs[j].len -= 1 + (uint32_t)rng_below(&s, segs[j].len - 1 < P - 1 ? segs[j].len - 1 : P - 1);
                else
                    segs[j].len += 1 + (uint32_t)rng_below(&s, P - 1);
                want = -CAPDRV_EINVAL, wf = CAPDRV_DPTR_MID_END, wi = j;
                break;
            case M_MDTS:
                mdts = 1 + rng_below(&s, total - 1 > 0 ? total - 1 : 1);
                if (mdts >= total) { m = M_NONE; mdts = 0; break; }
                want = -CAPDRV_ERANGE, wf = CAPDRV_DPTR_OVER_MDTS;
                wi = over_index(segs, nsegs, mdts);
                break;
            case M_WRAP: {
                j = nsegs - 1;
                uint64_t off = j == 0 ? (segs[0].ref & (P - 1)) : 0;
                segs[j].ref = (0 - P) + off; /* the top page of the 64-bit space */
                segs[j].len = (uint32_t)(P - off + 1 + rng_below(&s, P));
                mdts = 0;
                want = -CAPDRV_EOVERFLOW, wf = CAPDRV_DPTR_WRAP, wi = j;
                break;
            }
            case M_NOSPACE:
                if (need == 0) { m = M_NONE; break; }
                nlists = (unsigned)rng_below(&s, need);
                want = -CAPDRV_ENOSPC, wf = CAPDRV_DPTR_NO_LIST_SPACE, wi = (uint32_t)need;
                break;
            case M_BADLIST:
                if (need == 0) { m = M_NONE; break; }
                j = (unsigned)rng_below(&s, need);
                corrupt_page(&s, &pg[j], P);
                want = -CAPDRV_EINVAL, wf = CAPDRV_DPTR_BAD_LIST_PAGE, wi = j;
                break;
            default:
                m = M_NONE;
                break;
            }
            if (m == M_NONE)
                want = (int)need;
        }

        struct capdrv_prp_cfg cfg;
        assert_int_equal(capdrv_prp_cfg_init(&cfg, P, mdts), 0);
        union capdrv_nvme_dptr d;
        struct capdrv_dptr_diag why = {CAPDRV_DPTR_OK, 0};
        const unsigned watch = nlists + 1 < NLISTS ? nlists + 1 : NLISTS; /* offered + 1 */
        arena_fill_n(&a, watch);
        dptr_poison(&d);
        int rc;
        if (nsegs == 1 && rng_below(&s, 2))
            rc = capdrv_prp_build_one(&cfg, segs[0].ref, segs[0].len, nlists ? pg : NULL, nlists,
                                      &d, &why);
        else
            rc = capdrv_prp_build(&cfg, segs, nsegs, nlists ? pg : NULL, nlists, &d, &why);
        if (rc != want)
            print_error("iteration %lu: P %llu nsegs %u mutation %d\n", it,
                        (unsigned long long)P, nsegs, (int)m);
        if (want >= 0) {
            assert_int_equal(rc, want);
            check_prp_ok(&cfg, segs, nsegs, &a, nlists, &d, rc);
            if (watch > nlists)
                assert_arena_clean_page(&a, nlists);
            n_ok++;
        } else {
            check_failed(rc, want, &why, wf, wi, &d, &a, watch);
            n_bad[m]++;
        }
    }
    print_message("  PRP: %lu legal, refused: empty %lu start %lu mid-start %lu mid-end %lu "
                  "mdts %lu wrap %lu nospace %lu badlist %lu\n",
                  n_ok, n_bad[M_EMPTY], n_bad[M_START], n_bad[M_MID_START], n_bad[M_MID_END],
                  n_bad[M_MDTS], n_bad[M_WRAP], n_bad[M_NOSPACE], n_bad[M_BADLIST]);
    /* every kind of case was exercised */
    assert_true(n_ok > iters() / 4);
    for (int k = M_EMPTY; k <= M_BADLIST; k++)
        assert_true(n_bad[k] > 0);
    arena_free(&a);
}

static void test_sgl_random(void **state)
{
    (void)state;
    static const uint32_t sizes[] = {32, 48, 64, 256, 4096};
    uint64_t s = seed0(0xBADC0DE5ULL);
    unsigned long n_ok = 0, n_bad[M_COUNT] = {0};
    enum { SEGS = 640, PAGES = 72 };
    struct arena a;
    arena_init(&a, PAGES, 4096, 4096, 0, 0);
    struct capdrv_dma_page *pg = calloc(PAGES, sizeof *pg);
    struct capdrv_dma_seg *segs = calloc(SEGS, sizeof *segs);
    assert_non_null(pg);
    assert_non_null(segs);

    for (unsigned long it = 0; it < iters(); it++) {
        const uint32_t lb = sizes[rng_below(&s, 5)];
        const uint32_t sgls = 1 + (uint32_t)rng_below(&s, 2);
        const int dword = sgls == 2;
        struct capdrv_sgl_cfg cfg0;
        assert_int_equal(capdrv_sgl_cfg_init(&cfg0, sgls, lb, 0), 0);
        const uint64_t E = cfg0.list_descs;
        a.page_bytes = lb;
        uint64_t lbase = rand_base(&s, 4096, PAGES * 4096ull, (int)rng_below(&s, 2));
        for (unsigned j = 0; j < PAGES; j++) {
            a.pages[j].ref = lbase + j * 4096ull + 8 * rng_below(&s, (4096 - lb) / 8 + 1);
            pg[j] = a.pages[j];
        }
        /* segment count: keep list pages <= PAGES - 1 */
        uint64_t maxn = (PAGES - 1) * (E - 1) + 1;
        if (maxn > SEGS)
            maxn = SEGS;
        unsigned nsegs;
        switch (rng_below(&s, 4)) {
        case 0: nsegs = 1; break;
        case 1: nsegs = 2 + (unsigned)rng_below(&s, E - 1); break;     /* one page */
        case 2: nsegs = (unsigned)E + (unsigned)rng_below(&s, 3); break; /* boundary */
        default: nsegs = 1 + (unsigned)rng_below(&s, maxn); break;
        }
        if (nsegs > maxn)
            nsegs = (unsigned)maxn;
        for (unsigned i = 0; i < nsegs; i++) {
            uint64_t len = 1 + rng_below(&s, rng_below(&s, 8) == 0 ? 1u << 24 : 4096);
            uint64_t ref = rand_base(&s, 4096, len + 4096, (int)rng_below(&s, 2)) +
                           rng_below(&s, 4096);
            if (dword) {
                ref &= ~3ull;
                len = (len + 3) & ~3ull;
            }
            segs[i].ref = ref;
            segs[i].len = (uint32_t)len;
        }
        const uint64_t total = segs_total(segs, nsegs);
        uint64_t mdts = rng_below(&s, 2) ? 0 : total + rng_below(&s, 4096);
        const uint64_t need = nsegs <= 1 ? 0 : (nsegs <= E ? 1 : (nsegs - 2) / (E - 1) + 1);
        assert_int_equal(need, capdrv_sgl_lists_needed(&cfg0, nsegs));
        assert_true(need < PAGES);
        unsigned nlists = (unsigned)need + (unsigned)rng_below(&s, PAGES - need + 1);

        enum mut m = M_NONE;
        int want = (int)need;
        enum capdrv_dptr_fault wf = CAPDRV_DPTR_OK;
        uint32_t wi = 0;
        if (rng_below(&s, 100) < 40) {
            static const enum mut sgl_muts[] = {M_EMPTY, M_START, M_LEN_ALIGN, M_MDTS,
                                                M_WRAP,  M_NOSPACE, M_BADLIST};
            m = sgl_muts[rng_below(&s, sizeof sgl_muts / sizeof sgl_muts[0])];
            unsigned j = (unsigned)rng_below(&s, nsegs);
            switch (m) {
            case M_EMPTY:
                segs[j].len = 0;
                want = -CAPDRV_EINVAL, wf = CAPDRV_DPTR_EMPTY_SEG, wi = j;
                break;
            case M_START:
                if (!dword) { m = M_NONE; break; }
                segs[j].ref += 1 + rng_below(&s, 3);
                want = -CAPDRV_EINVAL, wf = CAPDRV_DPTR_START_ALIGN, wi = j;
                break;
            case M_LEN_ALIGN:
                if (!dword || segs[j].len < 4) { m = M_NONE; break; }
                segs[j].len -= 1 + (uint32_t)rng_below(&s, 3);
                want = -CAPDRV_EINVAL, wf = CAPDRV_DPTR_LEN_ALIGN, wi = j;
                break;
            case M_MDTS:
                if (total < 2) { m = M_NONE; break; }
                mdts = 1 + rng_below(&s, total - 1);
                want = -CAPDRV_ERANGE, wf = CAPDRV_DPTR_OVER_MDTS;
                wi = over_index(segs, nsegs, mdts);
                break;
            case M_WRAP:
                segs[j].ref = 0 - (uint64_t)(4 * (1 + rng_below(&s, 64)));
                segs[j].len = (uint32_t)(0 - segs[j].ref) + 4 * (1 + (uint32_t)rng_below(&s, 64));
                mdts = 0;
                want = -CAPDRV_EOVERFLOW, wf = CAPDRV_DPTR_WRAP, wi = j;
                break;
            case M_NOSPACE:
                if (need == 0) { m = M_NONE; break; }
                nlists = (unsigned)rng_below(&s, need);
                want = -CAPDRV_ENOSPC, wf = CAPDRV_DPTR_NO_LIST_SPACE, wi = (uint32_t)need;
                break;
            case M_BADLIST:
                if (need == 0) { m = M_NONE; break; }
                j = (unsigned)rng_below(&s, need);
                corrupt_page(&s, &pg[j], 8);
                want = -CAPDRV_EINVAL, wf = CAPDRV_DPTR_BAD_LIST_PAGE, wi = j;
                break;
            default:
                m = M_NONE;
                break;
            }
            if (m == M_NONE)
                want = (int)need;
        }

        struct capdrv_sgl_cfg cfg;
        assert_int_equal(capdrv_sgl_cfg_init(&cfg, sgls, lb, mdts), 0);
        union capdrv_nvme_dptr d;
        struct capdrv_dptr_diag why = {CAPDRV_DPTR_OK, 0};
        const unsigned watch = nlists + 1 < PAGES ? nlists + 1 : PAGES;
        arena_fill_n(&a, watch);
        dptr_poison(&d);
        int rc;
        if (nsegs == 1 && rng_below(&s, 2))
            rc = capdrv_sgl_build_one(&cfg, segs[0].ref, segs[0].len, &d, &why);
        else
            rc = capdrv_sgl_build(&cfg, segs, nsegs, nlists ? pg : NULL, nlists, &d, &why);
        if (rc != want)
            print_error("iteration %lu: list %u nsegs %u mutation %d\n", it, lb, nsegs, (int)m);
        if (want >= 0) {
            assert_int_equal(rc, want);
            check_sgl_ok(segs, nsegs, &a, nlists, &d, rc);
            if (watch > nlists)
                assert_arena_clean_page(&a, nlists);
            n_ok++;
        } else {
            check_failed(rc, want, &why, wf, wi, &d, &a, watch);
            n_bad[m]++;
        }
    }
    print_message("  SGL: %lu legal, refused: empty %lu start %lu len %lu mdts %lu wrap %lu "
                  "nospace %lu badlist %lu\n",
                  n_ok, n_bad[M_EMPTY], n_bad[M_START], n_bad[M_LEN_ALIGN], n_bad[M_MDTS],
                  n_bad[M_WRAP], n_bad[M_NOSPACE], n_bad[M_BADLIST]);
    assert_true(n_ok > iters() / 4);
    static const enum mut seen[] = {M_EMPTY, M_START, M_LEN_ALIGN, M_MDTS, M_WRAP, M_NOSPACE,
                                    M_BADLIST};
    for (size_t k = 0; k < sizeof seen / sizeof seen[0]; k++)
        assert_true(n_bad[seen[k]] > 0);
    free(pg);
    free(segs);
    arena_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prp_random),
        cmocka_unit_test(test_sgl_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
