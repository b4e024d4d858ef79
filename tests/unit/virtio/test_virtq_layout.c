/* Split virtqueue layout (VIRTIO 1.2 §2.7 "Virtqueue Part Alignment and
 * Size") for every Queue Size, the private state size, and where init puts
 * each part. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <string.h>

#include "vq_test.h"

static const unsigned flag_sets[] = {0, CAPDRV_VIRTQ_F_EVENT_IDX, CAPDRV_VIRTQ_F_INDIRECT,
                                     CAPDRV_VIRTQ_F_EVENT_IDX | CAPDRV_VIRTQ_F_INDIRECT};

/* Independent model: desc table, then avail (6 + 2n) right after it, used
 * (6 + 8n) at the next multiple of 64. */
static void expect_layout(unsigned n, const struct capdrv_virtq_layout *l)
{
    size_t avail_off = 16u * (size_t)n;
    size_t avail_end = avail_off + 6u + 2u * (size_t)n;
    size_t used_off = (avail_end + 63u) / 64u * 64u;
    assert_int_equal(l->size, n);
    assert_int_equal(l->desc_off, 0);
    assert_int_equal(l->desc_len, 16u * (size_t)n);
    assert_int_equal(l->avail_off, avail_off);
    assert_int_equal(l->avail_len, 6u + 2u * (size_t)n);
    assert_int_equal(l->used_event_off, avail_off + 4u + 2u * (size_t)n);
    assert_int_equal(l->used_off, used_off);
    assert_int_equal(l->used_len, 6u + 8u * (size_t)n);
    assert_int_equal(l->avail_event_off, used_off + 4u + 8u * (size_t)n);
    assert_int_equal(l->total_len, used_off + 6u + 8u * (size_t)n);
    assert_int_equal(l->align, 16);
    /* §2.7.1 alignments: desc 16, avail 2, used 4 (we give 64). */
    assert_int_equal(l->desc_off % 16u, 0);
    assert_int_equal(l->avail_off % 2u, 0);
    assert_int_equal(l->used_off % 4u, 0);
    assert_int_equal(l->used_off % 64u, 0);
    /* Parts in order, no overlap, used_event/avail_event are the last two
     * bytes of their parts. */
    assert_true(l->desc_off + l->desc_len <= l->avail_off);
    assert_true(l->avail_off + l->avail_len <= l->used_off);
    assert_int_equal(l->used_event_off + 2u, l->avail_off + l->avail_len);
    assert_int_equal(l->avail_event_off + 2u, l->used_off + l->used_len);
    assert_int_equal(l->used_off - (l->avail_off + l->avail_len) < 64u, 1);
}

static void test_layout_every_size(void **state)
{
    (void)state;
    unsigned count = 0;
    for (unsigned n = 1; n <= CAPDRV_VIRTQ_MAX_SIZE; n <<= 1) {
        for (size_t k = 0; k < sizeof flag_sets / sizeof flag_sets[0]; k++) {
            struct capdrv_virtq_layout l;
            memset(&l, 0xEE, sizeof l);
            assert_int_equal(capdrv_virtq_layout(n, flag_sets[k], &l), 0);
            expect_layout(n, &l);
        }
        assert_int_equal(capdrv_virtq_state_size(n), CAPDRV_VIRTQ_STATE_SIZE(n));
        assert_int_equal(capdrv_virtq_state_size(n), (size_t)n * 26u);
        count++;
    }
    assert_int_equal(count, 16); /* 2^0 .. 2^15 */
}

/* A few sizes with the numbers written out. */
static void test_layout_table(void **state)
{
    (void)state;
    static const struct {
        unsigned n;
        size_t avail_off, used_event_off, used_off, avail_event_off, total;
    } t[] = {
        {1, 16, 22, 64, 76, 78},
        {2, 32, 40, 64, 84, 86},
        {4, 64, 76, 128, 164, 166},
        {8, 128, 148, 192, 260, 262},
        {256, 4096, 4612, 4672, 6724, 6726},
        {32768, 524288, 589828, 589888, 852036, 852038},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        struct capdrv_virtq_layout l;
        assert_int_equal(capdrv_virtq_layout(t[i].n, 0, &l), 0);
        assert_int_equal(l.avail_off, t[i].avail_off);
        assert_int_equal(l.used_event_off, t[i].used_event_off);
        assert_int_equal(l.used_off, t[i].used_off);
        assert_int_equal(l.avail_event_off, t[i].avail_event_off);
        assert_int_equal(l.total_len, t[i].total);
    }
}

static void test_layout_invalid(void **state)
{
    (void)state;
    static const unsigned bad[] = {0, 3, 5, 6, 100, 1000, 32767, 32769, 65536, 1u << 20, UINT_MAX};
    struct capdrv_virtq_layout l;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(capdrv_virtq_layout(bad[i], 0, &l), -CAPDRV_EINVAL);
        assert_int_equal(capdrv_virtq_state_size(bad[i]), 0);
    }
    assert_int_equal(capdrv_virtq_layout(8, 1u << 2, &l), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_virtq_layout(8, 1u << 31, &l), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_virtq_layout(8, 0, NULL), -CAPDRV_EINVAL);
}

/* Init places every part where the layout says, and tells the transport
 * ring_ref + offset. */
static void test_init_places_parts(void **state)
{
    (void)state;
    for (unsigned n = 1; n <= CAPDRV_VIRTQ_MAX_SIZE; n <<= 1) {
        struct vq_fix f;
        vq_fix_init(&f, n, CAPDRV_VIRTQ_F_EVENT_IDX, n >= 4 ? 4 : 0);
        unsigned char *r = f.ring;
        assert_ptr_equal(f.vq.desc, r + f.lay.desc_off);
        assert_ptr_equal(f.vq.avail, r + f.lay.avail_off);
        assert_ptr_equal(f.vq.avail_ring, r + f.lay.avail_off + 4);
        assert_ptr_equal(f.vq.used_event, r + f.lay.used_event_off);
        assert_ptr_equal(f.vq.used, r + f.lay.used_off);
        assert_ptr_equal(f.vq.used_ring, r + f.lay.used_off + 4);
        assert_ptr_equal(f.vq.avail_event, r + f.lay.avail_event_off);
        uint64_t dref, aref, uref;
        capdrv_virtq_area_refs(&f.vq, &dref, &aref, &uref);
        assert_int_equal(dref, VQ_RING_REF + f.lay.desc_off);
        assert_int_equal(aref, VQ_RING_REF + f.lay.avail_off);
        assert_int_equal(uref, VQ_RING_REF + f.lay.used_off);
        assert_int_equal(capdrv_virtq_size(&f.vq), n);
        assert_int_equal(capdrv_virtq_num_free(&f.vq), n);
        assert_int_equal(capdrv_virtq_error(&f.vq), CAPDRV_VIRTQ_OK);
        /* A fresh queue passes the audit and has nothing to reap. */
        assert_int_equal(capdrv_virtq_verify(&f.vq), 0);
        struct capdrv_virtq_completion c;
        assert_int_equal(capdrv_virtq_reap(&f.vq, &c, 1), 0);
        vq_fix_free(&f);
    }
}

/* The wire structs match the spec's byte layout (also static-asserted in
 * the header; this checks the test device's decoding agrees). */
static void test_wire_structs(void **state)
{
    (void)state;
    struct capdrv_vring_desc d;
    memset(&d, 0, sizeof d);
    d.addr = 0x0102030405060708ull;
    d.len = 0x11223344u;
    d.flags = 0x5566u;
    d.next = 0x7788u;
    const unsigned char *p = (const unsigned char *)&d;
    /* Host order here; on a little-endian host that is the wire order. */
    uint16_t probe = 1;
    if (*(const unsigned char *)&probe == 1) {
        assert_int_equal(vq_rd64(p), 0x0102030405060708ull);
        assert_int_equal(vq_rd32(p + 8), 0x11223344u);
        assert_int_equal(vq_rd16(p + 12), 0x5566u);
        assert_int_equal(vq_rd16(p + 14), 0x7788u);
    }
    assert_int_equal(sizeof(struct capdrv_vring_used_elem), 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout_every_size),
        cmocka_unit_test(test_layout_table),
        cmocka_unit_test(test_layout_invalid),
        cmocka_unit_test(test_init_places_parts),
        cmocka_unit_test(test_wire_structs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
