/* Shared CMocka checks; see dptr_check.h. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "dptr_check.h"

#define DPTR_POISON 0x5Au

void dptr_poison(union capdrv_nvme_dptr *d)
{
    memset(d, DPTR_POISON, sizeof *d);
}

void assert_dptr_poisoned(const union capdrv_nvme_dptr *d)
{
    const unsigned char *p = (const unsigned char *)d;
    for (size_t i = 0; i < sizeof *d; i++)
        assert_int_equal(p[i], DPTR_POISON);
}

void assert_arena_clean(const struct arena *a, unsigned n)
{
    for (unsigned i = 0; i < n && i < a->n; i++) {
        uint64_t dirty = arena_dirty_from(a, i, 0);
        if (dirty != 0)
            print_error("list page %u: %llu bytes written\n", i, (unsigned long long)dirty);
        assert_int_equal(dirty, 0);
    }
}

void assert_arena_clean_page(const struct arena *a, unsigned i)
{
    assert_true(i < a->n);
    assert_int_equal(arena_dirty_from(a, i, 0), 0);
}

uint64_t segs_total(const struct capdrv_dma_seg *segs, unsigned n)
{
    uint64_t t = 0;
    for (unsigned i = 0; i < n; i++)
        t += segs[i].len;
    return t;
}

static void compare_ranges(struct dec_ranges *got, const struct capdrv_dma_seg *segs,
                           unsigned nsegs)
{
    struct dec_ranges want = {0};
    assert_int_equal(dec_ranges_from_segs(&want, segs, nsegs), 0);
    if (!dec_ranges_equal(got, &want)) {
        print_error("decoded %zu ranges, input %zu ranges\n", got->n, want.n);
        for (size_t i = 0; i < got->n || i < want.n; i++)
            print_error("  %zu: got %#llx+%#llx want %#llx+%#llx\n", i,
                        i < got->n ? (unsigned long long)got->r[i].ref : 0ull,
                        i < got->n ? (unsigned long long)got->r[i].len : 0ull,
                        i < want.n ? (unsigned long long)want.r[i].ref : 0ull,
                        i < want.n ? (unsigned long long)want.r[i].len : 0ull);
        fail();
    }
    dec_ranges_free(&want);
}

static void check_written_extent(struct arena *a, unsigned navail, int rc)
{
    /* Used pages: nothing past what the device reads. Unused: nothing. */
    for (unsigned i = 0; i < navail && i < a->n; i++) {
        uint64_t from = i < (unsigned)rc ? a->read_hi[i] : 0;
        if (i < (unsigned)rc)
            assert_true(from > 0);
        uint64_t dirty = arena_dirty_from(a, i, from);
        if (dirty != 0)
            print_error("list page %u (rc %d): %llu bytes written past offset %llu\n", i, rc,
                        (unsigned long long)dirty, (unsigned long long)from);
        assert_int_equal(dirty, 0);
    }
}

void check_prp_ok(const struct capdrv_prp_cfg *cfg, const struct capdrv_dma_seg *segs,
                  unsigned nsegs, struct arena *a, unsigned navail,
                  const union capdrv_nvme_dptr *dptr, int rc)
{
    struct dec_ranges got = {0};
    struct dec_mem m;
    assert_true(rc >= 0);
    arena_mem(a, &m);
    m.n = navail < a->n ? navail : a->n; /* the device can reach only the pages offered */
    int drc = dec_prp(dptr, cfg->page_size, segs_total(segs, nsegs), &m, &got);
    if (drc != DEC_OK)
        print_error("PRP decoder: error %d\n", drc);
    assert_int_equal(drc, DEC_OK);
    compare_ranges(&got, segs, nsegs);
    assert_int_equal(m.lists, rc);
    check_written_extent(a, navail, rc);
    dec_ranges_free(&got);
}

void check_sgl_ok(const struct capdrv_dma_seg *segs, unsigned nsegs, struct arena *a,
                  unsigned navail, const union capdrv_nvme_dptr *dptr, int rc)
{
    struct dec_ranges got = {0};
    struct dec_mem m;
    assert_true(rc >= 0);
    arena_mem(a, &m);
    m.n = navail < a->n ? navail : a->n;
    int drc = dec_sgl(dptr, segs_total(segs, nsegs), &m, &got);
    if (drc != DEC_OK)
        print_error("SGL decoder: error %d\n", drc);
    assert_int_equal(drc, DEC_OK);
    compare_ranges(&got, segs, nsegs);
    assert_int_equal(m.lists, rc);
    check_written_extent(a, navail, rc);
    dec_ranges_free(&got);
}

void check_failed(int rc, int want_rc, const struct capdrv_dptr_diag *diag,
                  enum capdrv_dptr_fault want_fault, uint32_t want_index,
                  const union capdrv_nvme_dptr *dptr, const struct arena *a, unsigned navail)
{
    if (rc != want_rc || diag->fault != want_fault || diag->index != want_index)
        print_error("rc %d fault %d (%s) index %u; want rc %d fault %d (%s) index %u\n", rc,
                    (int)diag->fault, capdrv_dptr_fault_str(diag->fault), diag->index, want_rc,
                    (int)want_fault, capdrv_dptr_fault_str(want_fault), want_index);
    assert_int_equal(rc, want_rc);
    assert_int_equal(diag->fault, want_fault);
    assert_int_equal(diag->index, want_index);
    assert_dptr_poisoned(dptr);
    if (a != NULL)
        assert_arena_clean(a, navail);
}
