/*
 * PRP builder (src/nvme/prp.c), NVMe Base 2.0 §4.1.1: table-driven cases
 * with exact PRP1/PRP2/list contents (in the manner of SPDK's
 * nvme_pcie_ut.c), the chaining boundaries, every page size 4..64 KiB x
 * first-entry offsets x lengths around the interesting boundaries, and the
 * inline single-segment path against the general one. Every successful
 * build is also decoded by the reference decoder (dptr_decode.c).
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

#define KiB 1024ull
#define A 0x100000ull              /* IOVA-shaped data buffer */
#define T 0xA000000500000000ull    /* brokered token: buffer 5, offset 0 */
#define T2 0xA000000900000000ull   /* brokered token: buffer 9 */
#define L0 0x7000000ull            /* list page 0 (64 KiB aligned), then + page */

/* ---------------------------------------------------------------- config */

static void test_cfg_init(void **state)
{
    (void)state;
    struct capdrv_prp_cfg cfg;
    memset(&cfg, 0x77, sizeof cfg);
    assert_int_equal(capdrv_prp_cfg_init(NULL, 4096, 0), -CAPDRV_EINVAL);
    static const uint64_t bad[] = {0, 1, 2048, 4095, 4097, 3 * 4096, 12288, 256ull << 20,
                                   (128ull << 20) + 4096, 1ull << 40};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(capdrv_prp_cfg_init(&cfg, bad[i], 0), -CAPDRV_EINVAL);
        assert_int_equal(cfg.page_shift, 0x77777777u); /* untouched */
    }
    for (unsigned mps = 0; mps <= 15; mps++) { /* CC.MPS 0..15: 4 KiB .. 128 MiB */
        uint64_t ps = 4096ull << mps;
        assert_int_equal(capdrv_prp_cfg_init(&cfg, ps, 0), 0);
        assert_int_equal(cfg.page_size, ps);
        assert_int_equal(cfg.page_mask, ps - 1);
        assert_int_equal(cfg.page_shift, 12 + mps);
        assert_int_equal(cfg.list_entries, ps / 8);
        assert_true(cfg.max_xfer == UINT64_MAX);
    }
    assert_int_equal(capdrv_prp_cfg_init(&cfg, 4096, 128 * KiB), 0);
    assert_int_equal(cfg.max_xfer, 128 * KiB);
}

static void test_mdts_bytes(void **state)
{
    (void)state;
    assert_int_equal(capdrv_nvme_mdts_bytes(0, 0), 0);          /* no limit */
    assert_int_equal(capdrv_nvme_mdts_bytes(5, 0), 128 * KiB);  /* 2^5 * 4 KiB */
    assert_int_equal(capdrv_nvme_mdts_bytes(5, 1), 256 * KiB);  /* units of MPSMIN */
    assert_int_equal(capdrv_nvme_mdts_bytes(9, 0), 2048 * KiB);
    assert_int_equal(capdrv_nvme_mdts_bytes(51, 0), 1ull << 63);
    assert_int_equal(capdrv_nvme_mdts_bytes(52, 0), 0);         /* 2^64: no limit */
    assert_int_equal(capdrv_nvme_mdts_bytes(255, 15), 0);
}

static void test_bad_args(void **state)
{
    (void)state;
    struct capdrv_prp_cfg cfg, zero;
    union capdrv_nvme_dptr d;
    struct capdrv_dptr_diag why;
    struct capdrv_dma_seg seg = {A, 512};
    memset(&zero, 0, sizeof zero);
    assert_int_equal(capdrv_prp_cfg_init(&cfg, 4096, 0), 0);

    dptr_poison(&d);
    assert_int_equal(capdrv_prp_build(NULL, &seg, 1, NULL, 0, &d, &why), -CAPDRV_EINVAL);
    check_failed(-CAPDRV_EINVAL, -CAPDRV_EINVAL, &why, CAPDRV_DPTR_BAD_ARG, 0, &d, NULL, 0);
    assert_int_equal(capdrv_prp_build(&zero, &seg, 1, NULL, 0, &d, &why), -CAPDRV_EINVAL);
    assert_int_equal(why.fault, CAPDRV_DPTR_BAD_ARG);
    assert_int_equal(capdrv_prp_build(&cfg, NULL, 1, NULL, 0, &d, &why), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_prp_build(&cfg, &seg, 0, NULL, 0, &d, &why), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_prp_build(&cfg, &seg, 1, NULL, 1, &d, &why), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_prp_build(&cfg, &seg, 1, NULL, 0, NULL, &why), -CAPDRV_EINVAL);
    assert_dptr_poisoned(&d);
    /* The inline path falls back to the same checks. */
    assert_int_equal(capdrv_prp_build_one(NULL, A, 512, NULL, 0, &d, &why), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_prp_build_one(&zero, A, 512, NULL, 0, &d, &why), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_prp_build_one(&cfg, A, 512, NULL, 0, NULL, &why), -CAPDRV_EINVAL);
    assert_int_equal(why.fault, CAPDRV_DPTR_BAD_ARG);
    /* diag is optional. */
    assert_int_equal(capdrv_prp_build(&cfg, &seg, 0, NULL, 0, &d, NULL), -CAPDRV_EINVAL);
    assert_dptr_poisoned(&d);
}

static void test_fault_str(void **state)
{
    (void)state;
    for (unsigned f = CAPDRV_DPTR_OK; f <= CAPDRV_DPTR_BAD_LIST_PAGE; f++) {
        assert_non_null(capdrv_dptr_fault_str(f));
        assert_string_not_equal(capdrv_dptr_fault_str(f), "unknown fault");
        for (unsigned g = 0; g < f; g++)
            assert_string_not_equal(capdrv_dptr_fault_str(f), capdrv_dptr_fault_str(g));
    }
    assert_string_equal(capdrv_dptr_fault_str(CAPDRV_DPTR_BAD_LIST_PAGE + 1), "unknown fault");
    assert_string_equal(capdrv_dptr_fault_str(~0u), "unknown fault");
}

/* ------------------------------------------------------------- the table */

struct prp_case {
    const char *name;
    uint64_t page;    /* memory page size */
    uint64_t mdts;    /* max transfer, 0 = unlimited */
    unsigned nsegs;
    struct capdrv_dma_seg segs[4];
    unsigned nlists;  /* list pages offered (refs L0 + i * page) */
    int rc;
    enum capdrv_dptr_fault fault;
    uint32_t index;
    uint64_t prp1, prp2;
    unsigned nent;    /* entries expected in list page 0 */
    uint64_t list[6];
};

#define OK(n) (n), CAPDRV_DPTR_OK, 0
#define ERR(e, f, i) -(e), (f), (i), 0, 0, 0, {0}
#define P4 (4 * KiB)

static const struct prp_case cases[] = {
    /* one page: PRP2 reserved (0) */
    {"512B aligned", P4, 0, 1, {{A, 0x200}}, 2, OK(0), A, 0, 0, {0}},
    {"512B at 0x108000", P4, 0, 1, {{0x108000, 0x200}}, 2, OK(0), 0x108000, 0, 0, {0}},
    {"512B ending at page end", P4, 0, 1, {{0x100E00, 0x200}}, 2, OK(0), 0x100E00, 0, 0, {0}},
    {"4K aligned", P4, 0, 1, {{A, 0x1000}}, 2, OK(0), A, 0, 0, {0}},
    {"4B at page-4", P4, 0, 1, {{0x100FFC, 4}}, 2, OK(0), 0x100FFC, 0, 0, {0}},
    {"1B at page-4", P4, 0, 1, {{0x100FFC, 1}}, 2, OK(0), 0x100FFC, 0, 0, {0}},
    /* two pages: PRP2 is the second page */
    {"512B crossing", P4, 0, 1, {{0x100F00, 0x200}}, 2, OK(0), 0x100F00, 0x101000, 0, {0}},
    {"8B at page-4", P4, 0, 1, {{0x100FFC, 8}}, 2, OK(0), 0x100FFC, 0x101000, 0, {0}},
    {"4K+1 aligned", P4, 0, 1, {{A, 0x1001}}, 2, OK(0), A, 0x101000, 0, {0}},
    {"4K at offset 4", P4, 0, 1, {{0x100004, 0x1000}}, 2, OK(0), 0x100004, 0x101000, 0, {0}},
    {"8K aligned", P4, 0, 1, {{A, 0x2000}}, 2, OK(0), A, 0x101000, 0, {0}},
    {"8K-4 at offset 4", P4, 0, 1, {{0x100004, 0x1FFC}}, 0, OK(0), 0x100004, 0x101000, 0, {0}},
    {"tail + head of two buffers", P4, 0, 2, {{0x100800, 0x800}, {0x300000, 0x200}}, 0, OK(0),
     0x100800, 0x300000, 0, {0}},
    /* three or more pages: PRP2 is a list pointer */
    {"8K+1 aligned", P4, 0, 1, {{A, 0x2001}}, 2, OK(1), A, L0, 2, {0x101000, 0x102000}},
    {"8K at offset 4", P4, 0, 1, {{0x100004, 0x2000}}, 2, OK(1), 0x100004, L0, 2,
     {0x101000, 0x102000}},
    {"16K aligned", P4, 0, 1, {{A, 0x4000}}, 2, OK(1), A, L0, 3,
     {0x101000, 0x102000, 0x103000}},
    {"16K at offset 0x800", P4, 0, 1, {{0x100800, 0x4000}}, 2, OK(1), 0x100800, L0, 4,
     {0x101000, 0x102000, 0x103000, 0x104000}},
    {"two 8K buffers", P4, 0, 2, {{A, 0x2000}, {0x300000, 0x2000}}, 2, OK(1), A, L0, 3,
     {0x101000, 0x300000, 0x301000}},
    {"three buffers", P4, 0, 3, {{0x100C00, 0x400}, {0x200000, 0x1000}, {0x300000, 0x10}}, 1,
     OK(1), 0x100C00, L0, 2, {0x200000, 0x300000}},
    {"tokens: 3 pages past offset 0x200", P4, 0, 1, {{T + 0x200, 0x3000}}, 1, OK(1), T + 0x200,
     L0, 3, {T + 0x1000, T + 0x2000, T + 0x3000}},
    {"mixed tokens and IOVAs", P4, 0, 4,
     {{T + 0x200, 0xE00}, {0x7F1234560000, 0x3000}, {T2, 0x1000}, {0x400000, 1}}, 1, OK(1),
     T + 0x200, L0, 5, {0x7F1234560000, 0x7F1234561000, 0x7F1234562000, T2, 0x400000}},
    {"ends at 2^64", P4, 0, 1, {{0xFFFFFFFFFFFFF000, 0x1000}}, 0, OK(0), 0xFFFFFFFFFFFFF000, 0,
     0, {0}},
    /* other page sizes */
    {"8K page, 4K offset, 8K", 8 * KiB, 0, 1, {{0x101000, 0x2000}}, 0, OK(0), 0x101000,
     0x102000, 0, {0}},
    {"64K page, 4K offset, 64K", 64 * KiB, 0, 1, {{0x10001000, 0x10000}}, 0, OK(0), 0x10001000,
     0x10010000, 0, {0}},
    {"64K page, 128K aligned", 64 * KiB, 0, 1, {{0x10000000, 0x20000}}, 0, OK(0), 0x10000000,
     0x10010000, 0, {0}},
    {"64K page, 128K+1", 64 * KiB, 0, 1, {{0x10000000, 0x20001}}, 1, OK(1), 0x10000000, L0, 2,
     {0x10010000, 0x10020000}},
    {"64K page, 4K buffers are not pages", 64 * KiB, 0, 2, {{0x10000000, 0x1000},
     {0x20000000, 0x1000}}, 1, ERR(CAPDRV_EINVAL, CAPDRV_DPTR_MID_END, 0)},
    /* MDTS */
    {"MDTS exact", P4, 16 * KiB, 1, {{A, 0x4000}}, 1, OK(1), A, L0, 3,
     {0x101000, 0x102000, 0x103000}},
    {"MDTS + 1", P4, 16 * KiB, 1, {{A, 0x4001}}, 1, ERR(CAPDRV_ERANGE, CAPDRV_DPTR_OVER_MDTS, 0)},
    {"MDTS + 1 in segment 1", P4, 16 * KiB, 2, {{A, 0x2000}, {0x300000, 0x2001}}, 1,
     ERR(CAPDRV_ERANGE, CAPDRV_DPTR_OVER_MDTS, 1)},
    /* refused layouts */
    {"start +1", P4, 0, 1, {{0x100001, 0x200}}, 1, ERR(CAPDRV_EINVAL, CAPDRV_DPTR_START_ALIGN, 0)},
    {"start +2", P4, 0, 1, {{0x100002, 0x2000}}, 1,
     ERR(CAPDRV_EINVAL, CAPDRV_DPTR_START_ALIGN, 0)},
    {"start +3 token", P4, 0, 1, {{T + 3, 4}}, 1, ERR(CAPDRV_EINVAL, CAPDRV_DPTR_START_ALIGN, 0)},
    {"middle starts inside a page", P4, 0, 2, {{A, 0x1000}, {0x300200, 0x200}}, 1,
     ERR(CAPDRV_EINVAL, CAPDRV_DPTR_MID_START, 1)},
    {"middle starts 4 bytes in", P4, 0, 3, {{A, 0x1000}, {0x300004, 0xFFC}, {0x400000, 1}}, 1,
     ERR(CAPDRV_EINVAL, CAPDRV_DPTR_MID_START, 1)},
    {"first ends inside a page", P4, 0, 2, {{0x100800, 0x400}, {0x300000, 0x1000}}, 1,
     ERR(CAPDRV_EINVAL, CAPDRV_DPTR_MID_END, 0)},
    {"middle ends inside a page", P4, 0, 3, {{A, 0x1000}, {0x300000, 0x800}, {0x400000, 0x1000}},
     1, ERR(CAPDRV_EINVAL, CAPDRV_DPTR_MID_END, 1)},
    {"zero length", P4, 0, 1, {{A, 0}}, 1, ERR(CAPDRV_EINVAL, CAPDRV_DPTR_EMPTY_SEG, 0)},
    {"zero length later", P4, 0, 2, {{A, 0x1000}, {0x300000, 0}}, 1,
     ERR(CAPDRV_EINVAL, CAPDRV_DPTR_EMPTY_SEG, 1)},
    {"wraps 2^64", P4, 0, 1, {{0xFFFFFFFFFFFFF000, 0x1001}}, 1,
     ERR(CAPDRV_EOVERFLOW, CAPDRV_DPTR_WRAP, 0)},
    {"no list page", P4, 0, 1, {{A, 0x4000}}, 0, ERR(CAPDRV_ENOSPC, CAPDRV_DPTR_NO_LIST_SPACE, 1)},
    {"first rule broken wins", P4, 0, 3, {{A, 0x1000}, {0x300004, 0x10}, {0x400000, 0}}, 1,
     ERR(CAPDRV_EINVAL, CAPDRV_DPTR_MID_START, 1)},
};

static void run_case(const struct prp_case *c)
{
    struct capdrv_prp_cfg cfg;
    struct arena a;
    union capdrv_nvme_dptr d;
    struct capdrv_dptr_diag why = {CAPDRV_DPTR_OK, 0};
    unsigned navail = c->nlists;

    print_message("  case: %s\n", c->name);
    assert_int_equal(capdrv_prp_cfg_init(&cfg, c->page, c->mdts), 0);
    arena_init(&a, 4, c->page, c->page, L0, c->page);
    arena_fill(&a);
    dptr_poison(&d);
    int rc = capdrv_prp_build(&cfg, c->segs, c->nsegs, navail ? a.pages : NULL, navail, &d, &why);
    if (c->rc < 0) {
        check_failed(rc, c->rc, &why, c->fault, c->index, &d, &a, a.n);
    } else {
        assert_int_equal(rc, c->rc);
        assert_true(d.prp.prp1 == capdrv_nvme_cpu_to_le64(c->prp1));
        assert_true(d.prp.prp2 == capdrv_nvme_cpu_to_le64(c->prp2));
        const uint64_t *l = a.pages[0].cpu;
        for (unsigned k = 0; k < c->nent; k++)
            assert_true(capdrv_nvme_le64_to_cpu(l[k]) == c->list[k]);
        if (rc > 0)
            assert_int_equal(arena_dirty_from(&a, 0, 8ull * c->nent), 0);
        check_prp_ok(&cfg, c->segs, c->nsegs, &a, navail, &d, rc);
        if (c->nsegs == 1) { /* the inline path gives the same bytes */
            union capdrv_nvme_dptr d1;
            unsigned char *snap = malloc((size_t)c->page);
            assert_non_null(snap);
            memcpy(snap, a.pages[0].cpu, (size_t)c->page);
            arena_fill(&a);
            dptr_poison(&d1);
            int rc1 = capdrv_prp_build_one(&cfg, c->segs[0].ref, c->segs[0].len,
                                           navail ? a.pages : NULL, navail, &d1, &why);
            assert_int_equal(rc1, rc);
            assert_memory_equal(&d1, &d, sizeof d);
            assert_memory_equal(snap, a.pages[0].cpu, (size_t)c->page);
            free(snap);
        }
    }
    arena_free(&a);
}

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i]);
}

/* --------------------------------------------------------- list pages */

static void test_bad_list_pages(void **state)
{
    (void)state;
    struct capdrv_prp_cfg cfg;
    struct arena a;
    union capdrv_nvme_dptr d;
    struct capdrv_dptr_diag why;
    struct capdrv_dma_page pg[3];
    const struct capdrv_dma_seg one_list = {A, 0x4000};        /* needs 1 list page */
    const struct capdrv_dma_seg two_lists = {A, 514 * 0x1000}; /* needs 2 */

    assert_int_equal(capdrv_prp_cfg_init(&cfg, 4096, 0), 0);
    arena_init(&a, 3, 4096, 4096, L0, 4096);

    struct {
        unsigned page;
        int field; /* 0: ref + 8, 1: ref + 0x800, 2: cpu NULL, 3: cpu + 4 */
        const struct capdrv_dma_seg *seg;
    } bad[] = {
        {0, 0, &one_list}, {0, 1, &one_list}, {0, 2, &one_list}, {0, 3, &one_list},
        {1, 0, &two_lists}, {1, 2, &two_lists}, {1, 3, &two_lists},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memcpy(pg, a.pages, sizeof pg);
        switch (bad[i].field) {
        case 0: pg[bad[i].page].ref += 8; break;
        case 1: pg[bad[i].page].ref += 0x800; break;
        case 2: pg[bad[i].page].cpu = NULL; break;
        default: pg[bad[i].page].cpu = (char *)pg[bad[i].page].cpu + 4; break;
        }
        arena_fill(&a);
        dptr_poison(&d);
        int rc = capdrv_prp_build(&cfg, bad[i].seg, 1, pg, 3, &d, &why);
        check_failed(rc, -CAPDRV_EINVAL, &why, CAPDRV_DPTR_BAD_LIST_PAGE, bad[i].page, &d, &a, 3);
    }
    /* A bad page that is not needed is not looked at. */
    memcpy(pg, a.pages, sizeof pg);
    pg[1].cpu = NULL;
    pg[2].ref += 1;
    arena_fill(&a);
    int rc = capdrv_prp_build(&cfg, &one_list, 1, pg, 3, &d, &why);
    assert_int_equal(rc, 1);
    check_prp_ok(&cfg, &one_list, 1, &a, 1, &d, rc);
    arena_free(&a);
}

/* ------------------------------------------------------------- chaining */

/* Expected list contents for one contiguous transfer starting at page base
 * B (offset off) touching N pages, checked slot by slot, written the simple
 * way: entry k (1..N-1) is B + k*P; a page's last slot chains when more than
 * one entry remains. */
static void expect_chain(const struct arena *a, uint64_t P, uint64_t B, uint64_t N, int rc)
{
    const uint64_t per = P / 8;
    uint64_t k = 1;
    unsigned pg = 0;
    uint64_t slot = 0;
    while (k < N) {
        const uint64_t *l = a->pages[pg].cpu;
        if (slot == per - 1 && N - k > 1) {
            assert_true(capdrv_nvme_le64_to_cpu(l[slot]) == a->pages[pg + 1].ref);
            pg++;
            slot = 0;
            continue;
        }
        assert_true(capdrv_nvme_le64_to_cpu(l[slot]) == B + k * P);
        slot++;
        k++;
    }
    assert_int_equal(pg + 1, rc);
}

static void test_chaining_4k(void **state)
{
    (void)state;
    struct capdrv_prp_cfg cfg;
    struct arena a;
    union capdrv_nvme_dptr d;
    struct capdrv_dptr_diag why;
    const uint64_t P = 4096;
    assert_int_equal(capdrv_prp_cfg_init(&cfg, P, 0), 0);
    arena_init(&a, 4, P, P, L0, P);

    static const struct {
        uint64_t off, pages; /* first offset, memory pages touched */
        int rc;
    } t[] = {
        {0, 3, 1},      {0, 513, 1},    /* 512 list entries: one full page, no chain */
        {0, 514, 2},    /* 513: 511 + chain, then 2 */
        {0, 1024, 2},   /* 1023: 511 + chain, then a full 512 */
        {0, 1025, 3},   /* 1024: two chained pages, then 2 */
        {4, 513, 1},    {4092, 513, 1}, {512, 514, 2},
        {4092, 1535, 3}, /* 1534 = 511 + 511 + 512: three pages, the last full */
        {4092, 1536, 4}, /* 1535: a fourth page */
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        uint64_t ent = t[i].pages - 1;
        int want = (int)(ent <= 512 ? 1 : (ent - 2) / 511 + 1);
        struct capdrv_dma_seg seg = {T + t[i].off, (uint32_t)(t[i].pages * P - t[i].off)};
        arena_fill(&a);
        dptr_poison(&d);
        int rc = capdrv_prp_build(&cfg, &seg, 1, a.pages, 4, &d, &why);
        assert_int_equal(rc, want);
        assert_int_equal(rc, t[i].rc);
        assert_true(capdrv_nvme_le64_to_cpu(d.prp.prp1) == T + t[i].off);
        assert_true(capdrv_nvme_le64_to_cpu(d.prp.prp2) == L0);
        expect_chain(&a, P, T, t[i].pages, rc);
        check_prp_ok(&cfg, &seg, 1, &a, 4, &d, rc);
        assert_int_equal(capdrv_prp_lists_needed(&cfg, seg.len) >= (uint64_t)rc, 1);

        /* one list page short: refused, nothing written */
        arena_fill(&a);
        dptr_poison(&d);
        rc = capdrv_prp_build(&cfg, &seg, 1, a.pages, (unsigned)want - 1, &d, &why);
        check_failed(rc, -CAPDRV_ENOSPC, &why, CAPDRV_DPTR_NO_LIST_SPACE, (uint32_t)want, &d, &a,
                     a.n);
    }
    arena_free(&a);
}

/* The chain decision at a list page's last slot when the entries come from
 * several segments: total memory pages N around one and two full list
 * pages, cut into segments of s pages (the last takes the rest). */
static void test_chaining_segments(void **state)
{
    (void)state;
    struct capdrv_prp_cfg cfg;
    struct arena a;
    const uint64_t P = 4096, E = P / 8;
    assert_int_equal(capdrv_prp_cfg_init(&cfg, P, 0), 0);
    arena_init(&a, 4, P, P, L0, P);
    const uint64_t Ns[] = {E, E + 1, E + 2, 2 * E - 2, 2 * E - 1, 2 * E, 2 * E + 1};
    const uint64_t sizes[] = {1, 2, 3, 7, E - 2, E - 1, E, E + 1};
    struct capdrv_dma_seg *segs = calloc(2 * E + 2, sizeof *segs);
    assert_non_null(segs);
    for (size_t ni = 0; ni < sizeof Ns / sizeof Ns[0]; ni++) {
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
            for (uint64_t off = 0; off < P; off += P - 4) { /* offset 0 and page-4 */
                const uint64_t N = Ns[ni];
                unsigned n = 0;
                for (uint64_t done = 0; done < N; n++) {
                    uint64_t k = sizes[si] < N - done ? sizes[si] : N - done;
                    /* each segment in its own buffer (token buffer n) */
                    uint64_t base = T + ((uint64_t)n << 32);
                    uint64_t o = n == 0 ? off : 0;
                    segs[n].ref = base + o;
                    segs[n].len = (uint32_t)(k * P - o);
                    done += k;
                }
                segs[n - 1].len -= 3; /* the last ends mid-page */
                const uint64_t R = N - 1;
                const int want = (int)(R <= E ? 1 : (R - 2) / (E - 1) + 1);
                union capdrv_nvme_dptr d;
                struct capdrv_dptr_diag why;
                arena_fill(&a);
                dptr_poison(&d);
                int rc = capdrv_prp_build(&cfg, segs, n, a.pages, (unsigned)want, &d, &why);
                if (rc != want)
                    print_error("N %llu seg pages %llu off %llu: rc %d want %d\n",
                                (unsigned long long)N, (unsigned long long)sizes[si],
                                (unsigned long long)off, rc, want);
                assert_int_equal(rc, want);
                check_prp_ok(&cfg, segs, n, &a, 4, &d, rc);
            }
        }
    }
    free(segs);
    arena_free(&a);
}

static void test_lists_needed(void **state)
{
    (void)state;
    struct capdrv_prp_cfg cfg;
    assert_int_equal(capdrv_prp_cfg_init(&cfg, 4096, 0), 0);
    assert_int_equal(capdrv_prp_lists_needed(NULL, 4096), 0);
    assert_int_equal(capdrv_prp_lists_needed(&cfg, 0), 0);
    assert_int_equal(capdrv_prp_lists_needed(&cfg, 4), 0);        /* page-4 + 4: one page */
    assert_int_equal(capdrv_prp_lists_needed(&cfg, 5), 0);        /* two pages */
    assert_int_equal(capdrv_prp_lists_needed(&cfg, 4096), 0);
    assert_int_equal(capdrv_prp_lists_needed(&cfg, 4097), 0);     /* at most 2 pages */
    assert_int_equal(capdrv_prp_lists_needed(&cfg, 4100), 0);
    assert_int_equal(capdrv_prp_lists_needed(&cfg, 4101), 1);     /* 3 pages at offset page-4 */
    assert_int_equal(capdrv_prp_lists_needed(&cfg, 512 * 4096), 1); /* 513 pages, 512 entries */
    assert_int_equal(capdrv_prp_lists_needed(&cfg, 512 * 4096 + 5), 2);
    assert_int_equal(capdrv_prp_lists_needed(&cfg, 2 * 1024 * 1024), 1); /* MDTS 2 MiB */
    assert_true(capdrv_prp_lists_needed(&cfg, UINT64_MAX) > 0);
    /* Cross-check against building the worst case (offset page-4). */
    struct arena a;
    arena_init(&a, 4, 4096, 4096, L0, 4096);
    for (uint64_t len = 1; len < 1100 * 4096; len += 4093) {
        struct capdrv_dma_seg seg = {A + 4092, (uint32_t)len};
        union capdrv_nvme_dptr d;
        int rc = capdrv_prp_build(&cfg, &seg, 1, a.pages, 4, &d, NULL);
        assert_true(rc >= 0);
        assert_int_equal(capdrv_prp_lists_needed(&cfg, len), rc);
    }
    arena_free(&a);
}

/* ---------------------------------------------------------------- sweep */

/* Every page size 4..64 KiB x offsets {0, 4, 512, P-4} x lengths around one
 * and two pages, one full list page, one entry over (chaining), two full
 * pages, and MDTS / MDTS + 1. */
static void test_sweep(void **state)
{
    (void)state;
    for (uint64_t P = 4096; P <= 64 * KiB; P *= 2) {
        const uint64_t E = P / 8;
        const uint64_t mdts = 32 * P;
        struct capdrv_prp_cfg cfg, cfgm;
        struct arena a;
        assert_int_equal(capdrv_prp_cfg_init(&cfg, P, 0), 0);
        assert_int_equal(capdrv_prp_cfg_init(&cfgm, P, mdts), 0);
        arena_init(&a, 4, P, P, T2, P); /* list pages shaped like tokens */
        const uint64_t offs[] = {0, 4, 512, P - 4};
        for (size_t oi = 0; oi < 4; oi++) {
            const uint64_t off = offs[oi];
            const int64_t lens[] = {
                1, 4, (int64_t)(P - off) - 1, (int64_t)(P - off), (int64_t)(P - off) + 1,
                (int64_t)P, (int64_t)P + 1, (int64_t)(2 * P - off), (int64_t)(2 * P - off) + 1,
                (int64_t)(2 * P), (int64_t)(3 * P),
                (int64_t)((E + 1) * P - off),     /* exactly one full list page */
                (int64_t)((E + 1) * P - off) + 1, /* one entry over: chain */
                (int64_t)(2 * E * P - off),       /* two list pages, the second full */
                (int64_t)(2 * E * P - off) + 1,   /* three */
            };
            for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
                if (lens[li] <= 0 || lens[li] > (int64_t)UINT32_MAX)
                    continue;
                const uint64_t len = (uint64_t)lens[li];
                const uint64_t touched = (off + len - 1) / P + 1;
                const int want = touched <= 2 ? 0
                                 : (int)(touched - 1 <= E ? 1 : (touched - 3) / (E - 1) + 1);
                const uint64_t base = (oi & 1) ? 0x7F00000000ull : T; /* IOVA or token */
                struct capdrv_dma_seg seg = {base + off, (uint32_t)len};
                union capdrv_nvme_dptr d, d1;
                struct capdrv_dptr_diag why;

                arena_fill(&a);
                dptr_poison(&d);
                int rc = capdrv_prp_build(&cfg, &seg, 1, a.pages, 4, &d, &why);
                assert_int_equal(rc, want);
                check_prp_ok(&cfg, &seg, 1, &a, 4, &d, rc);
                uint64_t prp2 = capdrv_nvme_le64_to_cpu(d.prp.prp2);
                if (touched == 1)
                    assert_true(prp2 == 0);
                else if (touched == 2)
                    assert_true(prp2 == base + P);
                else
                    assert_true(prp2 == a.pages[0].ref);
                if (rc > 0)
                    expect_chain(&a, P, base, touched, rc);

                /* inline path: same result (compare data pointers; lists are
                 * rewritten identically, checked by the decoder again) */
                arena_fill(&a);
                dptr_poison(&d1);
                assert_int_equal(capdrv_prp_build_one(&cfg, seg.ref, seg.len, a.pages, 4, &d1,
                                                      &why), rc);
                assert_memory_equal(&d1, &d, sizeof d);
                check_prp_ok(&cfg, &seg, 1, &a, 4, &d1, rc);
            }
            /* up to MDTS, and one byte over */
            for (uint64_t len = mdts - 1; len <= mdts + 1; len++) {
                struct capdrv_dma_seg seg = {T + off, (uint32_t)len};
                union capdrv_nvme_dptr d;
                struct capdrv_dptr_diag why;
                arena_fill(&a);
                dptr_poison(&d);
                int rc = capdrv_prp_build(&cfgm, &seg, 1, a.pages, 4, &d, &why);
                if (len > mdts) {
                    check_failed(rc, -CAPDRV_ERANGE, &why, CAPDRV_DPTR_OVER_MDTS, 0, &d, &a, 4);
                    dptr_poison(&d);
                    rc = capdrv_prp_build_one(&cfgm, seg.ref, seg.len, a.pages, 4, &d, &why);
                    check_failed(rc, -CAPDRV_ERANGE, &why, CAPDRV_DPTR_OVER_MDTS, 0, &d, &a, 4);
                } else {
                    assert_int_equal(rc, 1);
                    check_prp_ok(&cfgm, &seg, 1, &a, 4, &d, rc);
                }
            }
            /* misaligned starts at every page size */
            for (uint64_t mis = 1; mis <= 3; mis++) {
                struct capdrv_dma_seg seg = {T + off + mis, 4};
                union capdrv_nvme_dptr d;
                struct capdrv_dptr_diag why;
                arena_fill(&a);
                dptr_poison(&d);
                int rc = capdrv_prp_build_one(&cfg, seg.ref, seg.len, a.pages, 4, &d, &why);
                check_failed(rc, -CAPDRV_EINVAL, &why, CAPDRV_DPTR_START_ALIGN, 0, &d, &a, 4);
            }
        }
        arena_free(&a);
    }
}

/* Large pages: CC.MPS up to 128 MiB; no list needed below three pages. */
static void test_huge_pages(void **state)
{
    (void)state;
    for (uint64_t P = 128 * KiB; P <= 128 * KiB * KiB; P *= 2) {
        struct capdrv_prp_cfg cfg;
        union capdrv_nvme_dptr d;
        assert_int_equal(capdrv_prp_cfg_init(&cfg, P, 0), 0);
        const uint64_t base = 0x4000000000ull; /* aligned to 128 MiB */
        struct capdrv_dma_seg s1 = {base + P - 4, 8};
        assert_int_equal(capdrv_prp_build(&cfg, &s1, 1, NULL, 0, &d, NULL), 0);
        assert_true(capdrv_nvme_le64_to_cpu(d.prp.prp2) == base + P);
        struct capdrv_dma_seg s2 = {base + 4096, 4096};
        assert_int_equal(capdrv_prp_build_one(&cfg, s2.ref, s2.len, NULL, 0, &d, NULL), 0);
        assert_true(capdrv_nvme_le64_to_cpu(d.prp.prp2) == 0);
        /* a mid-page 4 KiB-aligned second segment is not page aligned here */
        struct capdrv_dma_seg s3[2] = {{base, (uint32_t)P}, {base + 2 * P + 4096, 16}};
        struct capdrv_dptr_diag why;
        int rc = capdrv_prp_build(&cfg, s3, 2, NULL, 0, &d, &why);
        assert_int_equal(rc, -CAPDRV_EINVAL);
        assert_int_equal(why.fault, CAPDRV_DPTR_MID_START);
        assert_int_equal(why.index, 1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cfg_init),
        cmocka_unit_test(test_mdts_bytes),
        cmocka_unit_test(test_bad_args),
        cmocka_unit_test(test_fault_str),
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_bad_list_pages),
        cmocka_unit_test(test_chaining_4k),
        cmocka_unit_test(test_chaining_segments),
        cmocka_unit_test(test_lists_needed),
        cmocka_unit_test(test_sweep),
        cmocka_unit_test(test_huge_pages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
