/*
 * The reference decoder (dptr_decode.c) is the oracle of the builder tests,
 * so it is tested too: hand-made PRP and SGL structures, correct ones
 * decoding to known ranges and each malformed one caught with its verdict.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "dptr_decode.h"

#define P 4096ull
#define L0 0x7000000ull

struct fx {
    struct arena a;
    struct dec_mem m;
    struct dec_ranges r;
    union capdrv_nvme_dptr d;
};

static void fx_init(struct fx *f, uint64_t page_bytes)
{
    memset(f, 0, sizeof *f);
    arena_init(&f->a, 3, page_bytes, 4096, L0, 0x1000);
    memset(f->a.mem, 0, 3 * 4096);
    arena_mem(&f->a, &f->m);
}

static void fx_fini(struct fx *f)
{
    dec_ranges_free(&f->r);
    arena_free(&f->a);
}

static void put64(struct fx *f, unsigned page, unsigned slot, uint64_t v)
{
    uint64_t le = capdrv_nvme_cpu_to_le64(v);
    memcpy((char *)f->a.pages[page].cpu + 8 * slot, &le, 8);
}

static void set_prp(struct fx *f, uint64_t p1, uint64_t p2)
{
    f->d.prp.prp1 = capdrv_nvme_cpu_to_le64(p1);
    f->d.prp.prp2 = capdrv_nvme_cpu_to_le64(p2);
}

static void assert_range(const struct dec_ranges *r, size_t i, uint64_t ref, uint64_t len)
{
    assert_true(i < r->n);
    assert_true(r->r[i].ref == ref);
    assert_true(r->r[i].len == len);
}

static void test_prp_good(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f, P);
    set_prp(&f, 0x100010, 0);
    assert_int_equal(dec_prp(&f.d, P, 0x10, &f.m, &f.r), DEC_OK);
    assert_range(&f.r, 0, 0x100010, 0x10);
    assert_int_equal(f.m.lists, 0);

    set_prp(&f, 0x100800, 0x300000); /* two pages, not contiguous */
    assert_int_equal(dec_prp(&f.d, P, 0x1000, &f.m, &f.r), DEC_OK);
    assert_int_equal(f.r.n, 2);
    assert_range(&f.r, 0, 0x100800, 0x800);
    assert_range(&f.r, 1, 0x300000, 0x800);

    /* chained: list 0 full (511 data + chain), list 1 two entries */
    for (unsigned k = 0; k < 511; k++)
        put64(&f, 0, k, 0x200000 + (k + 1) * P);
    put64(&f, 0, 511, L0 + 0x1000);
    put64(&f, 1, 0, 0x200000 + 512 * P);
    put64(&f, 1, 1, 0x900000);
    set_prp(&f, 0x200000, L0);
    assert_int_equal(dec_prp(&f.d, P, 513 * P + 5, &f.m, &f.r), DEC_OK);
    assert_int_equal(f.r.n, 2);
    assert_range(&f.r, 0, 0x200000, 513 * P);
    assert_range(&f.r, 1, 0x900000, 5);
    assert_int_equal(f.m.lists, 2);
    assert_int_equal(f.a.read_hi[0], P);
    assert_int_equal(f.a.read_hi[1], 16);

    /* exactly 512 entries: the last slot is data, not a chain pointer */
    put64(&f, 0, 511, 0x200000 + 512 * P);
    assert_int_equal(dec_prp(&f.d, P, 513 * P, &f.m, &f.r), DEC_OK);
    assert_range(&f.r, 0, 0x200000, 513 * P);
    assert_int_equal(f.m.lists, 1);

    /* a list pointer with an in-page offset (allowed, qword aligned):
     * fewer slots before the chain */
    put64(&f, 0, 510, 0x500000);
    put64(&f, 0, 511, L0 + 0x1000);
    put64(&f, 1, 0, 0x600000);
    put64(&f, 1, 1, 0x680000);
    set_prp(&f, 0x400000, L0 + 510 * 8);
    assert_int_equal(dec_prp(&f.d, P, 4 * P, &f.m, &f.r), DEC_OK);
    assert_int_equal(f.r.n, 4);
    assert_range(&f.r, 1, 0x500000, P);
    assert_range(&f.r, 2, 0x600000, P);
    assert_range(&f.r, 3, 0x680000, P);
    /* with one page left at the last slot, that slot is data */
    assert_int_equal(dec_prp(&f.d, P, 3 * P, &f.m, &f.r), DEC_OK);
    assert_range(&f.r, 2, L0 + 0x1000, P);
    fx_fini(&f);
}

static void test_prp_bad(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f, P);
    set_prp(&f, 0x100002, 0);
    assert_int_equal(dec_prp(&f.d, P, 4, &f.m, &f.r), DEC_PRP1_ALIGN);
    set_prp(&f, 0x100000, 0x200000);
    assert_int_equal(dec_prp(&f.d, P, 0x1000, &f.m, &f.r), DEC_PRP2_RESERVED);
    set_prp(&f, 0x100000, 0x200008);
    assert_int_equal(dec_prp(&f.d, P, 0x1001, &f.m, &f.r), DEC_ENTRY_OFFSET);
    set_prp(&f, 0x100000, 0x9000000); /* unmapped list */
    assert_int_equal(dec_prp(&f.d, P, 3 * P, &f.m, &f.r), DEC_LIST_UNMAPPED);
    set_prp(&f, 0x100000, L0 + 4);
    assert_int_equal(dec_prp(&f.d, P, 3 * P, &f.m, &f.r), DEC_LIST_ALIGN);
    put64(&f, 0, 0, 0x101000);
    put64(&f, 0, 1, 0x102800); /* list entry with an offset */
    set_prp(&f, 0x100000, L0);
    assert_int_equal(dec_prp(&f.d, P, 3 * P, &f.m, &f.r), DEC_ENTRY_OFFSET);
    /* a chain pointer past the mapped pages, and a chain loop */
    for (unsigned k = 0; k < 511; k++)
        put64(&f, 0, k, 0x200000 + (k + 1) * P);
    put64(&f, 0, 511, 0x9000000);
    assert_int_equal(dec_prp(&f.d, P, 600 * P, &f.m, &f.r), DEC_LIST_UNMAPPED);
    put64(&f, 0, 511, L0 + 511 * 8); /* points at itself */
    assert_int_equal(dec_prp(&f.d, P, 600 * P, &f.m, &f.r), DEC_LOOP);
    fx_fini(&f);
}

static void put_desc(void *at, uint64_t addr, uint32_t len, uint8_t id)
{
    struct capdrv_nvme_sgl_desc d;
    memset(&d, 0, sizeof d);
    d.addr = capdrv_nvme_cpu_to_le64(addr);
    d.length = capdrv_nvme_cpu_to_le32(len);
    d.id = id;
    memcpy(at, &d, sizeof d);
}

static void *desc_at(struct fx *f, unsigned page, unsigned k)
{
    return (char *)f->a.pages[page].cpu + 16 * k;
}

static void test_sgl(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f, 64);
    /* good: SGL1 -> Segment(L0, 3 desc) -> Last Segment(L1, 2 desc) */
    put_desc(&f.d.sgl1, L0, 48, 0x20);
    put_desc(desc_at(&f, 0, 0), 0x1000, 10, 0x00);
    put_desc(desc_at(&f, 0, 1), 0x100A, 6, 0x00); /* contiguous: merged */
    put_desc(desc_at(&f, 0, 2), L0 + 0x1000, 32, 0x30);
    put_desc(desc_at(&f, 1, 0), 0x5000, 1, 0x00);
    put_desc(desc_at(&f, 1, 1), 0x7000, 3, 0x00);
    assert_int_equal(dec_sgl(&f.d, 20, &f.m, &f.r), DEC_OK);
    assert_int_equal(f.r.n, 3);
    assert_range(&f.r, 0, 0x1000, 16);
    assert_int_equal(f.m.lists, 2);
    assert_int_equal(dec_sgl(&f.d, 21, &f.m, &f.r), DEC_LENGTH);

    /* a Segment descriptor that is not last in its segment */
    put_desc(desc_at(&f, 0, 1), L0 + 0x1000, 32, 0x30);
    assert_int_equal(dec_sgl(&f.d, 20, &f.m, &f.r), DEC_SGL_ORDER);
    put_desc(desc_at(&f, 0, 1), 0x100A, 6, 0x00);
    /* a segment reached by a Segment descriptor must chain on */
    put_desc(desc_at(&f, 0, 2), 0x2000, 4, 0x00);
    assert_int_equal(dec_sgl(&f.d, 20, &f.m, &f.r), DEC_SGL_UNTERMINATED);
    /* ... and inside the last segment no (Last) Segment descriptor */
    put_desc(&f.d.sgl1, L0, 48, 0x30);
    put_desc(desc_at(&f, 0, 2), L0 + 0x1000, 32, 0x30);
    assert_int_equal(dec_sgl(&f.d, 20, &f.m, &f.r), DEC_SGL_ORDER);
    /* lengths */
    put_desc(&f.d.sgl1, L0, 0, 0x30);
    assert_int_equal(dec_sgl(&f.d, 20, &f.m, &f.r), DEC_SGL_SEG_LEN);
    put_desc(&f.d.sgl1, L0, 24, 0x30);
    assert_int_equal(dec_sgl(&f.d, 20, &f.m, &f.r), DEC_SGL_SEG_LEN);
    put_desc(&f.d.sgl1, L0, 80, 0x30); /* longer than the mapped page */
    assert_int_equal(dec_sgl(&f.d, 20, &f.m, &f.r), DEC_LIST_UNMAPPED);
    put_desc(&f.d.sgl1, L0 + 4, 16, 0x30);
    assert_int_equal(dec_sgl(&f.d, 20, &f.m, &f.r), DEC_LIST_ALIGN);
    /* types */
    put_desc(&f.d.sgl1, 0x1000, 20, 0x10); /* bit bucket */
    assert_int_equal(dec_sgl(&f.d, 20, &f.m, &f.r), DEC_SGL_TYPE);
    put_desc(&f.d.sgl1, 0x1000, 20, 0x01); /* offset sub type */
    assert_int_equal(dec_sgl(&f.d, 20, &f.m, &f.r), DEC_SGL_TYPE);
    put_desc(&f.d.sgl1, 0x1000, 20, 0x00);
    f.d.sgl1.rsvd[1] = 1;
    assert_int_equal(dec_sgl(&f.d, 20, &f.m, &f.r), DEC_SGL_TYPE);
    put_desc(&f.d.sgl1, 0x1000, 0, 0x00);
    assert_int_equal(dec_sgl(&f.d, 0, &f.m, &f.r), DEC_SGL_ZERO);
    put_desc(&f.d.sgl1, 0x1000, 20, 0x00);
    assert_int_equal(dec_sgl(&f.d, 20, &f.m, &f.r), DEC_OK);
    /* loop */
    put_desc(&f.d.sgl1, L0, 16, 0x20);
    put_desc(desc_at(&f, 0, 0), L0, 16, 0x20);
    assert_int_equal(dec_sgl(&f.d, 20, &f.m, &f.r), DEC_LOOP);
    fx_fini(&f);
}

static void test_ranges(void **state)
{
    (void)state;
    struct dec_ranges a = {0}, b = {0};
    const struct capdrv_dma_seg s1[] = {{0x1000, 0x1000}, {0x2000, 0x10}, {0x9000, 4}};
    const struct capdrv_dma_seg s2[] = {{0x1000, 0x1010}, {0x9000, 4}};
    const struct capdrv_dma_seg s3[] = {{0x9000, 4}, {0x1000, 0x1010}};
    assert_int_equal(dec_ranges_from_segs(&a, s1, 3), 0);
    assert_int_equal(dec_ranges_from_segs(&b, s2, 2), 0);
    assert_true(dec_ranges_equal(&a, &b));
    assert_int_equal(dec_ranges_from_segs(&b, s3, 2), 0); /* order matters */
    assert_false(dec_ranges_equal(&a, &b));
    dec_ranges_free(&a);
    dec_ranges_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prp_good),
        cmocka_unit_test(test_prp_bad),
        cmocka_unit_test(test_sgl),
        cmocka_unit_test(test_ranges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
