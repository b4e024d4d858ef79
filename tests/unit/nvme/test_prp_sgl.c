/*
 * SGL builder (src/nvme/sgl.c), NVMe Base 2.0 §4.1.2: configuration from
 * SGLS, exact descriptor contents for one segment, one list page, exactly
 * full, one over (chaining with Segment / Last Segment), three pages; the
 * dword-granularity rules; errors; and a sweep over list sizes x segment
 * counts checked by the reference decoder.
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

#define A 0x100000ull
#define T 0xA000000500000000ull
#define L0 0x7000000ull
#define LSTRIDE 0x1000ull

#define ID_DATA 0x00u
#define ID_SEG 0x20u
#define ID_LAST 0x30u

static void test_ids(void **state)
{
    (void)state;
    /* §4.1.2: type in bits 7:4, sub type in 3:0. */
    assert_int_equal(capdrv_nvme_sgl_id(CAPDRV_NVME_SGL_DATA_BLOCK, CAPDRV_NVME_SGL_SUB_ADDRESS), 0x00);
    assert_int_equal(capdrv_nvme_sgl_id(CAPDRV_NVME_SGL_SEGMENT, CAPDRV_NVME_SGL_SUB_ADDRESS), 0x20);
    assert_int_equal(capdrv_nvme_sgl_id(CAPDRV_NVME_SGL_LAST_SEGMENT, CAPDRV_NVME_SGL_SUB_ADDRESS), 0x30);
    assert_int_equal(capdrv_nvme_sgl_id(CAPDRV_NVME_SGL_KEYED_DATA_BLOCK, CAPDRV_NVME_SGL_SUB_OFFSET), 0x41);
    assert_int_equal(capdrv_nvme_sgl_id(CAPDRV_NVME_SGL_VENDOR, 0xF), 0xFF);
    struct capdrv_nvme_sqe sqe;
    memset(&sqe, 0, sizeof sqe);
    sqe.flags = 0x3; /* FUSE bits survive */
    capdrv_nvme_sqe_set_psdt(&sqe, CAPDRV_NVME_PSDT_SGL_MPTR_CONTIG);
    assert_int_equal(sqe.flags, 0x43);
    assert_int_equal(capdrv_nvme_sqe_psdt(&sqe), 1);
    capdrv_nvme_sqe_set_psdt(&sqe, CAPDRV_NVME_PSDT_SGL_MPTR_SGL);
    assert_int_equal(sqe.flags, 0x83);
    capdrv_nvme_sqe_set_psdt(&sqe, CAPDRV_NVME_PSDT_PRP);
    assert_int_equal(sqe.flags, 0x03);
    /* CDW0 as a little-endian dword: PSDT at bits 15:14, CID at 31:16. */
    sqe.opc = 0x02;
    sqe.cid = capdrv_nvme_cpu_to_le16(0xBEEF);
    capdrv_nvme_sqe_set_psdt(&sqe, 1);
    unsigned char raw[64];
    memcpy(raw, &sqe, 64);
    uint32_t cdw0 = (uint32_t)raw[0] | (uint32_t)raw[1] << 8 | (uint32_t)raw[2] << 16 |
                    (uint32_t)raw[3] << 24;
    assert_int_equal((cdw0 >> 14) & 3, 1);
    assert_int_equal(cdw0 >> 16, 0xBEEF);
    assert_int_equal(cdw0 & 0xFF, 0x02);
}

static void test_cfg_init(void **state)
{
    (void)state;
    struct capdrv_sgl_cfg cfg;
    memset(&cfg, 0x77, sizeof cfg);
    assert_int_equal(capdrv_sgl_cfg_init(NULL, 1, 4096, 0), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_sgl_cfg_init(&cfg, 0, 4096, 0), -CAPDRV_ENOTSUP);
    assert_int_equal(capdrv_sgl_cfg_init(&cfg, 3, 4096, 0), -CAPDRV_ENOTSUP);     /* reserved */
    assert_int_equal(capdrv_sgl_cfg_init(&cfg, 0xFFFC, 4096, 0), -CAPDRV_ENOTSUP);
    static const uint32_t bad_bytes[] = {0, 16, 24, 40, 4095, 4100};
    for (size_t i = 0; i < sizeof bad_bytes / sizeof bad_bytes[0]; i++)
        assert_int_equal(capdrv_sgl_cfg_init(&cfg, 1, bad_bytes[i], 0), -CAPDRV_EINVAL);
    assert_int_equal(cfg.list_descs, 0x77777777u); /* untouched */

    assert_int_equal(capdrv_sgl_cfg_init(&cfg, 0x00170001, 4096, 0), 0); /* other bits ignored */
    assert_int_equal(cfg.list_descs, 256);
    assert_int_equal(cfg.list_bytes, 4096);
    assert_int_equal(cfg.dword_gran, 0);
    assert_true(cfg.max_xfer == UINT64_MAX);
    assert_int_equal(capdrv_sgl_cfg_init(&cfg, CAPDRV_NVME_SGLS_DWORD, 32, 1 << 20), 0);
    assert_int_equal(cfg.list_descs, 2);
    assert_int_equal(cfg.dword_gran, 1);
    assert_int_equal(cfg.max_xfer, 1 << 20);

    assert_int_equal(capdrv_sgl_lists_needed(NULL, 5), 0);
    assert_int_equal(capdrv_sgl_lists_needed(&cfg, 0), 0);
    assert_int_equal(capdrv_sgl_lists_needed(&cfg, 1), 0);
    assert_int_equal(capdrv_sgl_lists_needed(&cfg, 2), 1);
    assert_int_equal(capdrv_sgl_lists_needed(&cfg, 3), 2); /* 2 per page: 1 data + chain */
    assert_int_equal(capdrv_sgl_lists_needed(&cfg, 10), 9);
}

struct desc {
    uint64_t addr;
    uint32_t len;
    uint8_t id;
};

static void assert_desc(const struct capdrv_nvme_sgl_desc *d, struct desc w)
{
    assert_true(capdrv_nvme_le64_to_cpu(d->addr) == w.addr);
    assert_int_equal(capdrv_nvme_le32_to_cpu(d->length), w.len);
    assert_int_equal(d->id, w.id);
    assert_int_equal(d->rsvd[0] | d->rsvd[1] | d->rsvd[2], 0);
}

#define MAXSEG 10
struct sgl_case {
    const char *name;
    uint32_t sgls;
    uint32_t list_bytes;
    uint64_t mdts;
    unsigned nsegs;
    struct capdrv_dma_seg segs[MAXSEG];
    unsigned nlists;
    int rc;
    enum capdrv_dptr_fault fault;
    uint32_t index;
    struct desc sgl1;
    struct desc pages[3][4]; /* expected descriptors, list_bytes 64: 4 a page */
    unsigned ndesc[3];
};

#define S(i) {A + 0x10000 * (i), 0x100 + (i)}
#define D(i) {A + 0x10000 * (i), 0x100 + (i), ID_DATA}
#define OK(n) (n), CAPDRV_DPTR_OK, 0
#define ERR(e, f, i) -(e), (f), (i), {0, 0, 0}, {{{0, 0, 0}}}, {0}

static const struct sgl_case cases[] = {
    {"one segment, byte granular", 1, 64, 0, 1, {{A + 3, 5}}, 0, OK(0), {A + 3, 5, ID_DATA},
     {{{0, 0, 0}}}, {0}},
    {"one token segment", 1, 64, 0, 1, {{T + 0x40, 0x10000}}, 0, OK(0),
     {T + 0x40, 0x10000, ID_DATA}, {{{0, 0, 0}}}, {0}},
    {"two segments", 1, 64, 0, 2, {S(0), S(1)}, 1, OK(1), {L0, 32, ID_LAST},
     {{D(0), D(1)}}, {2}},
    {"exactly one full page", 1, 64, 0, 4, {S(0), S(1), S(2), S(3)}, 1, OK(1),
     {L0, 64, ID_LAST}, {{D(0), D(1), D(2), D(3)}}, {4}},
    {"one over: chain with Last Segment", 1, 64, 0, 5, {S(0), S(1), S(2), S(3), S(4)}, 2, OK(2),
     {L0, 64, ID_SEG},
     {{D(0), D(1), D(2), {L0 + LSTRIDE, 32, ID_LAST}}, {D(3), D(4)}}, {4, 2}},
    {"two pages, second full", 1, 64, 0, 7, {S(0), S(1), S(2), S(3), S(4), S(5), S(6)}, 2, OK(2),
     {L0, 64, ID_SEG},
     {{D(0), D(1), D(2), {L0 + LSTRIDE, 64, ID_LAST}}, {D(3), D(4), D(5), D(6)}}, {4, 4}},
    {"three pages: Segment then Last Segment", 1, 64, 0, 8,
     {S(0), S(1), S(2), S(3), S(4), S(5), S(6), S(7)}, 3, OK(3), {L0, 64, ID_SEG},
     {{D(0), D(1), D(2), {L0 + LSTRIDE, 64, ID_SEG}},
      {D(3), D(4), D(5), {L0 + 2 * LSTRIDE, 32, ID_LAST}},
      {D(6), D(7)}},
     {4, 4, 2}},
    {"dword granular, aligned", 2, 64, 0, 2, {{A, 4}, {T + 8, 0x1000}}, 1, OK(1),
     {L0, 32, ID_LAST}, {{{A, 4, ID_DATA}, {T + 8, 0x1000, ID_DATA}}}, {2}},
    {"ends at 2^64", 1, 64, 0, 2, {{A, 4}, {UINT64_MAX - 3, 4}}, 1, OK(1), {L0, 32, ID_LAST},
     {{{A, 4, ID_DATA}, {UINT64_MAX - 3, 4, ID_DATA}}}, {2}},
    {"MDTS exact", 1, 64, 0x203, 2, {S(0), S(3)}, 1, OK(1), {L0, 32, ID_LAST},
     {{D(0), D(3)}}, {2}},
    /* refused */
    {"dword granular, odd start", 2, 64, 0, 2, {{A, 4}, {A + 0x1001, 4}}, 1,
     ERR(CAPDRV_EINVAL, CAPDRV_DPTR_START_ALIGN, 1)},
    {"dword granular, odd length", 2, 64, 0, 1, {{A, 6}}, 1,
     ERR(CAPDRV_EINVAL, CAPDRV_DPTR_LEN_ALIGN, 0)},
    {"zero length", 1, 64, 0, 2, {S(0), {A, 0}}, 1, ERR(CAPDRV_EINVAL, CAPDRV_DPTR_EMPTY_SEG, 1)},
    {"wraps", 1, 64, 0, 1, {{UINT64_MAX - 3, 5}}, 1, ERR(CAPDRV_EOVERFLOW, CAPDRV_DPTR_WRAP, 0)},
    {"MDTS + 1", 1, 64, 0x202, 2, {S(0), S(3)}, 1, ERR(CAPDRV_ERANGE, CAPDRV_DPTR_OVER_MDTS, 1)},
    {"no list page", 1, 64, 0, 2, {S(0), S(1)}, 0,
     ERR(CAPDRV_ENOSPC, CAPDRV_DPTR_NO_LIST_SPACE, 1)},
    {"one list page short", 1, 64, 0, 8, {S(0), S(1), S(2), S(3), S(4), S(5), S(6), S(7)}, 2,
     ERR(CAPDRV_ENOSPC, CAPDRV_DPTR_NO_LIST_SPACE, 3)},
};

static void run_case(const struct sgl_case *c)
{
    struct capdrv_sgl_cfg cfg;
    struct arena a;
    union capdrv_nvme_dptr d;
    struct capdrv_dptr_diag why = {CAPDRV_DPTR_OK, 0};

    print_message("  case: %s\n", c->name);
    assert_int_equal(capdrv_sgl_cfg_init(&cfg, c->sgls, c->list_bytes, c->mdts), 0);
    arena_init(&a, 4, c->list_bytes, 64, L0, LSTRIDE);
    arena_fill(&a);
    dptr_poison(&d);
    int rc = capdrv_sgl_build(&cfg, c->segs, c->nsegs, c->nlists ? a.pages : NULL, c->nlists, &d,
                              &why);
    if (c->rc < 0) {
        check_failed(rc, c->rc, &why, c->fault, c->index, &d, &a, a.n);
    } else {
        assert_int_equal(rc, c->rc);
        assert_desc(&d.sgl1, c->sgl1);
        for (int p = 0; p < rc; p++) {
            const struct capdrv_nvme_sgl_desc *l = a.pages[p].cpu;
            for (unsigned k = 0; k < c->ndesc[p]; k++)
                assert_desc(&l[k], c->pages[p][k]);
            assert_int_equal(arena_dirty_from(&a, (unsigned)p, 16ull * c->ndesc[p]), 0);
        }
        check_sgl_ok(c->segs, c->nsegs, &a, c->nlists, &d, rc);
    }
    if (c->nsegs == 1) { /* the inline path agrees */
        union capdrv_nvme_dptr d1;
        struct capdrv_dptr_diag why1 = {CAPDRV_DPTR_OK, 0};
        dptr_poison(&d1);
        int rc1 = capdrv_sgl_build_one(&cfg, c->segs[0].ref, c->segs[0].len, &d1, &why1);
        assert_int_equal(rc1, rc);
        if (rc >= 0)
            assert_memory_equal(&d1, &d, sizeof d);
        else
            check_failed(rc1, c->rc, &why1, c->fault, c->index, &d1, NULL, 0);
    }
    arena_free(&a);
}

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i]);
}

static void test_bad_args_and_pages(void **state)
{
    (void)state;
    struct capdrv_sgl_cfg cfg, zero;
    struct arena a;
    union capdrv_nvme_dptr d;
    struct capdrv_dptr_diag why;
    struct capdrv_dma_seg segs[6] = {S(0), S(1), S(2), S(3), S(4), S(5)};
    struct capdrv_dma_page pg[2];
    memset(&zero, 0, sizeof zero);
    assert_int_equal(capdrv_sgl_cfg_init(&cfg, 1, 64, 0), 0);
    arena_init(&a, 2, 64, 64, L0, LSTRIDE);
    arena_fill(&a);

    dptr_poison(&d);
    assert_int_equal(capdrv_sgl_build(NULL, segs, 1, NULL, 0, &d, &why), -CAPDRV_EINVAL);
    check_failed(-CAPDRV_EINVAL, -CAPDRV_EINVAL, &why, CAPDRV_DPTR_BAD_ARG, 0, &d, &a, 2);
    assert_int_equal(capdrv_sgl_build(&zero, segs, 1, NULL, 0, &d, &why), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_sgl_build(&cfg, NULL, 1, NULL, 0, &d, &why), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_sgl_build(&cfg, segs, 0, NULL, 0, &d, &why), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_sgl_build(&cfg, segs, 2, NULL, 1, &d, &why), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_sgl_build(&cfg, segs, 1, NULL, 0, NULL, &why), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_sgl_build_one(&zero, A, 1, &d, &why), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_sgl_build_one(NULL, A, 1, &d, &why), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_sgl_build_one(&cfg, A, 1, NULL, NULL), -CAPDRV_EINVAL);
    assert_dptr_poisoned(&d);

    for (int field = 0; field < 4; field++) {
        for (unsigned p = 0; p < 2; p++) {
            memcpy(pg, a.pages, sizeof pg);
            switch (field) {
            case 0: pg[p].ref += 4; break;                          /* not qword aligned */
            case 1: pg[p].ref += 1; break;
            case 2: pg[p].cpu = NULL; break;
            default: pg[p].cpu = (char *)pg[p].cpu + 4; break;
            }
            dptr_poison(&d);
            int rc = capdrv_sgl_build(&cfg, segs, 6, pg, 2, &d, &why); /* needs 2 pages */
            check_failed(rc, -CAPDRV_EINVAL, &why, CAPDRV_DPTR_BAD_LIST_PAGE, p, &d, &a, 2);
        }
    }
    /* qword-aligned but not page-aligned segments are fine (§4.1.2). */
    memcpy(pg, a.pages, sizeof pg);
    pg[1].ref += 8;
    int rc = capdrv_sgl_build(&cfg, segs, 6, pg, 2, &d, &why);
    assert_int_equal(rc, 2);
    const struct capdrv_nvme_sgl_desc *l0 = a.pages[0].cpu;
    assert_true(capdrv_nvme_le64_to_cpu(l0[3].addr) == L0 + LSTRIDE + 8);
    arena_free(&a);
}

/* list sizes x segment counts 1 .. 3 pages + 2, mixed refs and lengths. */
static void test_sweep(void **state)
{
    (void)state;
    static const uint32_t sizes[] = {32, 48, 64, 256, 4096};
    uint64_t seed = 0x5eed5eedULL;
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        for (uint32_t sgls = 1; sgls <= 2; sgls++) {
            struct capdrv_sgl_cfg cfg;
            assert_int_equal(capdrv_sgl_cfg_init(&cfg, sgls, sizes[si], 0), 0);
            const unsigned E = cfg.list_descs;
            const unsigned maxn = 3 * (E - 1) + 3;
            const unsigned npages = (unsigned)capdrv_sgl_lists_needed(&cfg, maxn);
            struct arena a;
            arena_init(&a, npages, sizes[si], 8, T + 0x100000000ull, LSTRIDE);
            struct capdrv_dma_seg *segs = calloc(maxn, sizeof *segs);
            assert_non_null(segs);
            for (unsigned n = 1; n <= maxn; n++) {
                for (unsigned i = 0; i < n; i++) {
                    uint64_t base = (i & 1) ? 0x7F0000000000ull : T + ((uint64_t)i << 32);
                    uint64_t off = rng_below(&seed, 1 << 20);
                    uint32_t len = 1 + (uint32_t)rng_below(&seed, 1 << 16);
                    if (sgls == 2) {
                        off &= ~3ull;
                        len = (len + 3) & ~3u;
                    }
                    segs[i].ref = base + off;
                    segs[i].len = len;
                }
                union capdrv_nvme_dptr d;
                struct capdrv_dptr_diag why;
                arena_fill(&a);
                dptr_poison(&d);
                int rc = capdrv_sgl_build(&cfg, segs, n, a.pages, npages, &d, &why);
                assert_int_equal(rc, (int)capdrv_sgl_lists_needed(&cfg, n));
                check_sgl_ok(segs, n, &a, npages, &d, rc);
                /* SGL1 type: Data Block, Last Segment or Segment */
                unsigned type = d.sgl1.id >> 4;
                if (n == 1)
                    assert_int_equal(type, CAPDRV_NVME_SGL_DATA_BLOCK);
                else if (n <= E)
                    assert_int_equal(type, CAPDRV_NVME_SGL_LAST_SEGMENT);
                else
                    assert_int_equal(type, CAPDRV_NVME_SGL_SEGMENT);
                if (rc > 0) { /* one page short */
                    arena_fill(&a);
                    dptr_poison(&d);
                    int rc2 = capdrv_sgl_build(&cfg, segs, n, a.pages, (unsigned)rc - 1, &d, &why);
                    check_failed(rc2, -CAPDRV_ENOSPC, &why, CAPDRV_DPTR_NO_LIST_SPACE,
                                 (uint32_t)rc, &d, &a, npages);
                }
            }
            free(segs);
            arena_free(&a);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_cfg_init),
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_bad_args_and_pages),
        cmocka_unit_test(test_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
