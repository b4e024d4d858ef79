/* Capability handles and grants: generations, stale handles, forged
 * handles, per-provider isolation, grant claim rules. */
#include "fixture.h"

#include <string.h>

static void test_grants_visible_per_provider(void **state)
{
    (void)state;
    struct fx f;
    fx_basic(&f, false);
    assert_int_equal(capdrv_grant_count(f.p1), 2);
    assert_int_equal(capdrv_grant_count(f.p2), 1);
    assert_true(capdrv_grant_find(f.p1, "dma0") >= 0);
    assert_int_equal(capdrv_grant_find(f.p2, "dma0"), -CAPDRV_ENOENT); /* p1's grant */
    struct capdrv_grant_info gi;
    assert_int_equal(capdrv_grant_info(f.p1, 0, &gi), 0);
    assert_string_equal(gi.name, "dma0");
    assert_int_equal(gi.cls, CAPDRV_GRANT_DMA_CAPABLE);
    assert_int_equal(gi.id.vendor, CAPDRV_DMATEST_VENDOR);
    assert_int_equal(gi.addr.dev, 3);
    assert_int_equal(gi.n_windows, 2);
    assert_int_equal(gi.n_irqs, 2);
    assert_int_equal(gi.pool_quota_bytes, 0x10000);
    assert_int_equal(gi.pool_quota_buffers, 4);
    assert_false(gi.claimed);
    assert_int_equal(capdrv_grant_info(f.p1, 2, &gi), -CAPDRV_ENOENT);
    assert_int_equal(capdrv_grant_info(f.p1, 0, NULL), -CAPDRV_EINVAL);
    fx_done(&f);
}

static void test_unknown_provider_refused(void **state)
{
    (void)state;
    struct fx f;
    fx_basic(&f, false);
    capdrv_sys *s = NULL;
    assert_int_equal(capdrv_shim_connect(f.shim, "nobody", &s), -CAPDRV_ENOENT);
    assert_null(s);
    fx_done(&f);
}

static void test_grant_open_is_exclusive(void **state)
{
    (void)state;
    struct fx f;
    fx_basic(&f, false);
    capdrv_cap_t g = fx_open(f.p1, "dma0"), g2 = 0;
    assert_int_equal(capdrv_cap_type_of(g), CAPDRV_CAP_GRANT);
    assert_int_equal(capdrv_grant_open(f.p1, 0, &g2), -CAPDRV_EBUSY);
    /* A second connection of the same provider sees it claimed. */
    capdrv_sys *again;
    assert_int_equal(capdrv_shim_connect(f.shim, "p1", &again), 0);
    struct capdrv_grant_info gi;
    assert_int_equal(capdrv_grant_info(again, 0, &gi), 0);
    assert_true(gi.claimed);
    assert_int_equal(capdrv_grant_open(again, 0, &g2), -CAPDRV_EBUSY);
    /* Released: available again. */
    assert_int_equal(capdrv_cap_release(f.p1, g), 0);
    assert_int_equal(capdrv_grant_open(again, 0, &g2), 0);
    capdrv_sys_close(again);
    fx_done(&f);
}

static void test_stale_after_release(void **state)
{
    (void)state;
    struct fx f;
    fx_basic(&f, false);
    capdrv_cap_t g = fx_open(f.p1, "dma0");
    capdrv_cap_t m = fx_mmio(f.p1, g, 0);
    uint64_t v;
    assert_int_equal(capdrv_mmio_read(f.p1, m, CAPDRV_DMATEST_ID, 4, &v), 0);
    assert_int_equal(v, CAPDRV_DMATEST_ID_VALUE);
    assert_int_equal(capdrv_cap_release(f.p1, m), 0);
    assert_int_equal(capdrv_mmio_read(f.p1, m, CAPDRV_DMATEST_ID, 4, &v), -CAPDRV_ESTALE);
    assert_int_equal(capdrv_cap_release(f.p1, m), -CAPDRV_ESTALE);
    /* The slot is reused by the next capability; the old handle stays stale. */
    capdrv_cap_t m2 = fx_mmio(f.p1, g, 0);
    assert_int_not_equal(m2, m);
    assert_int_equal(m2 & 0xffffffffu, m & 0xffffffffu); /* same slot, new generation */
    assert_int_equal(capdrv_mmio_read(f.p1, m, CAPDRV_DMATEST_ID, 4, &v), -CAPDRV_ESTALE);
    assert_int_equal(capdrv_mmio_read(f.p1, m2, CAPDRV_DMATEST_ID, 4, &v), 0);
    /* Releasing the grant makes every derived capability stale. */
    assert_int_equal(capdrv_cap_release(f.p1, g), 0);
    assert_int_equal(capdrv_mmio_read(f.p1, m2, CAPDRV_DMATEST_ID, 4, &v), -CAPDRV_ESTALE);
    assert_int_equal(capdrv_grant_lane(f.p1, g), -CAPDRV_ESTALE);
    fx_done(&f);
}

static void test_forged_handles(void **state)
{
    (void)state;
    struct fx f;
    fx_basic(&f, false);
    capdrv_cap_t g = fx_open(f.p1, "dma0");
    capdrv_cap_t m = fx_mmio(f.p1, g, 0);
    uint64_t v;
    const capdrv_cap_t type_mask = 0xffull << CAPDRV_CAP_TYPE_SHIFT;
    struct {
        capdrv_cap_t cap;
        int expect;
    } cases[] = {
        {CAPDRV_CAP_INVALID, -CAPDRV_EBADF},
        {(m & ~type_mask) | ((capdrv_cap_t)CAPDRV_CAP_IRQ << CAPDRV_CAP_TYPE_SHIFT), -CAPDRV_EBADF},
        {(m & ~type_mask) | ((capdrv_cap_t)0x7f << CAPDRV_CAP_TYPE_SHIFT), -CAPDRV_EBADF},
        {m + (1ull << 32), -CAPDRV_EBADF},  /* a future generation: forged */
        {m + 1000, -CAPDRV_EBADF},          /* slot never issued */
        {g, -CAPDRV_EBADF},                 /* live, but a grant, not a window */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(capdrv_mmio_read(f.p1, cases[i].cap, 0, 4, &v), cases[i].expect);
    fx_done(&f);
}

static void test_handles_are_per_provider(void **state)
{
    (void)state;
    struct fx f;
    fx_basic(&f, false);
    capdrv_cap_t g1 = fx_open(f.p1, "dma0");
    capdrv_cap_t m1 = fx_mmio(f.p1, g1, 0);
    uint64_t v;
    /* p2 never received these handles: its own table has no such slot. */
    assert_int_equal(capdrv_mmio_read(f.p2, m1, 0, 4, &v), -CAPDRV_EBADF);
    assert_int_equal(capdrv_cap_release(f.p2, g1), -CAPDRV_EBADF);
    /* Once p2 holds a grant in the same slot, p1's handle still does not
     * reach p2's device: handles are resolved in the caller's table. */
    capdrv_cap_t g2 = fx_open(f.p2, "dma1");
    capdrv_cap_t m2 = fx_mmio(f.p2, g2, 0);
    assert_int_equal(m1, m2); /* same encoding, different tables */
    assert_int_equal(capdrv_mmio_write(f.p2, m2, CAPDRV_DMATEST_PATTERN, 4, 0x2222), 0);
    assert_int_equal(capdrv_mmio_write(f.p1, m1, CAPDRV_DMATEST_PATTERN, 4, 0x1111), 0);
    assert_int_equal(capdrv_mmio_read(f.p2, m2, CAPDRV_DMATEST_PATTERN, 4, &v), 0);
    assert_int_equal(v, 0x2222);
    fx_done(&f);
}

static void test_window_and_irq_claims_exclusive(void **state)
{
    (void)state;
    struct fx f;
    fx_basic(&f, false);
    capdrv_cap_t g = fx_open(f.p1, "dma0"), x;
    fx_mmio(f.p1, g, 0);
    assert_int_equal(capdrv_mmio_open(f.p1, g, 0, &x), -CAPDRV_EBUSY);
    assert_int_equal(capdrv_mmio_open(f.p1, g, 2, &x), -CAPDRV_ENOENT);
    assert_int_equal(capdrv_irq_open(f.p1, g, 0, &x), 0);
    assert_int_equal(capdrv_irq_open(f.p1, g, 0, &x), -CAPDRV_EBUSY);
    assert_int_equal(capdrv_irq_open(f.p1, g, 2, &x), -CAPDRV_ENOENT); /* manifest grants 2 */
    capdrv_cap_t p;
    assert_int_equal(capdrv_pool_open(f.p1, g, &p), 0);
    assert_int_equal(capdrv_pool_open(f.p1, g, &x), -CAPDRV_EBUSY);
    fx_done(&f);
}

static void test_null_arguments(void **state)
{
    (void)state;
    struct fx f;
    fx_basic(&f, false);
    capdrv_cap_t g = fx_open(f.p1, "dma0");
    assert_int_equal(capdrv_grant_open(f.p1, 0, NULL), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_mmio_open(f.p1, g, 0, NULL), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_grant_count(NULL), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_grant_find(f.p1, NULL), -CAPDRV_EINVAL);
    capdrv_sys_close(NULL);
    fx_done(&f);
}

static void test_forged_type_on_live_slot(void **state)
{
    (void)state;
    struct fx f;
    fx_basic(&f, false);
    capdrv_cap_t g = fx_open(f.p1, "dma0");
    capdrv_cap_t m = fx_mmio(f.p1, g, 0);
    const capdrv_cap_t type_mask = 0xffull << CAPDRV_CAP_TYPE_SHIFT;
    /* Release takes any type; a handle claiming to be a grant for the
     * window's live slot is forged and must not release anything. */
    capdrv_cap_t forged = (m & ~type_mask) | ((capdrv_cap_t)CAPDRV_CAP_GRANT << CAPDRV_CAP_TYPE_SHIFT);
    assert_int_equal(capdrv_cap_release(f.p1, forged), -CAPDRV_EBADF);
    uint64_t v;
    assert_int_equal(capdrv_mmio_read(f.p1, m, CAPDRV_DMATEST_ID, 4, &v), 0);
    assert_int_equal(capdrv_grant_lane(f.p1, g), CAPDRV_LANE_BROKERED);
    fx_done(&f);
}

static void test_grant_release_always_resets(void **state)
{
    (void)state;
    struct fx f;
    fx_basic(&f, false);
    capdrv_cap_t g = fx_open(f.p1, "dma0");
    fx_mmio(f.p1, g, 0);
    unsigned before = capdrv_sim_reset_count(f.sim, f.fn_dma0);
    /* Nothing in flight: release must still reset, since the provider may
     * have programmed the device through its window in ways the shim
     * does not track. */
    assert_int_equal(capdrv_cap_release(f.p1, g), 0);
    assert_int_equal(capdrv_sim_reset_count(f.sim, f.fn_dma0), before + 1);
    fx_done(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grants_visible_per_provider),
        cmocka_unit_test(test_unknown_provider_refused),
        cmocka_unit_test(test_grant_open_is_exclusive),
        cmocka_unit_test(test_stale_after_release),
        cmocka_unit_test(test_forged_handles),
        cmocka_unit_test(test_handles_are_per_provider),
        cmocka_unit_test(test_window_and_irq_claims_exclusive),
        cmocka_unit_test(test_null_arguments),
        cmocka_unit_test(test_forged_type_on_live_slot),
        cmocka_unit_test(test_grant_release_always_resets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
