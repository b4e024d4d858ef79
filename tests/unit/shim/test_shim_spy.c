/* Shim rules that need a platform which misbehaves or is watched: the
 * fixture's spy (spy.h) wraps the sim platform. */
#include "fixture.h"

#include <string.h>

struct revoke_arg {
    struct fx *f;
    capdrv_cap_t irq;
};

static void revoke_during_wait(void *arg)
{
    struct revoke_arg *a = arg;
    assert_int_equal(capdrv_shim_revoke(a->f->shim, a->f->p1, a->irq), 0);
}

/* A handle revoked while its owner blocks in irq_wait is re-resolved after
 * the wait: the interrupt that "fired" meanwhile is not delivered. */
static void test_irq_wait_rechecks_after_blocking(void **state)
{
    (void)state;
    struct fx f;
    struct fx_spy *spy = fx_spied(&f);
    capdrv_cap_t g = fx_open(f.p1, "dma0"), irq;
    assert_int_equal(capdrv_irq_open(f.p1, g, 0, &irq), 0);
    struct revoke_arg a = {&f, irq};
    spy->during_wait = revoke_during_wait;
    spy->during_wait_arg = &a;
    uint64_t ready = 0;
    assert_int_equal(capdrv_irq_wait(f.p1, &irq, 1, 1000000, &ready), -CAPDRV_ESTALE);
    assert_int_equal(ready, 0);
    assert_null(spy->during_wait); /* the hook ran */
    fx_done(&f);
}

/* A firing the platform consumed during the wait is kept for the handles
 * that are still valid, even when another handle of the same wait was
 * revoked meanwhile (the platform's latch is empty now: dropping it would
 * lose the interrupt). The wait itself reports the stale handle. */
static void test_irq_fired_kept_when_other_goes_stale(void **state)
{
    (void)state;
    struct fx f;
    struct fx_spy *spy = fx_spied(&f);
    capdrv_cap_t g = fx_open(f.p1, "dma0"), irqs[2];
    assert_int_equal(capdrv_irq_open(f.p1, g, 0, &irqs[0]), 0);
    assert_int_equal(capdrv_irq_open(f.p1, g, 1, &irqs[1]), 0);
    struct revoke_arg a = {&f, irqs[1]};
    spy->during_wait = revoke_during_wait; /* then reports irqs[0] as fired */
    spy->during_wait_arg = &a;
    uint64_t ready = 0;
    assert_int_equal(capdrv_irq_wait(f.p1, irqs, 2, 1000000, &ready), -CAPDRV_ESTALE);
    assert_null(spy->during_wait);
    assert_int_equal(capdrv_irq_wait(f.p1, &irqs[0], 1, 0, &ready), 1);
    assert_int_equal(ready, 1);
    fx_done(&f);
}

/* Releasing an interrupt capability disconnects the vector at the platform,
 * and a vector opened again does not inherit the old pending state. */
static void test_irq_release_disables_and_forgets(void **state)
{
    (void)state;
    struct fx f;
    struct fx_spy *spy = fx_spied(&f);
    capdrv_cap_t g = fx_open(f.p1, "dma0"), irq;
    assert_int_equal(capdrv_irq_open(f.p1, g, 0, &irq), 0);
    assert_int_equal(capdrv_sim_irq_raise(f.sim, f.fn_dma0, 0), 0);
    uint64_t ready = 0;
    /* wake with the vector pending, but do not consume it via ack */
    assert_int_equal(capdrv_irq_wait(f.p1, &irq, 1, 0, &ready), 1);
    unsigned before = spy->irq_disables;
    assert_int_equal(capdrv_cap_release(f.p1, irq), 0);
    assert_int_equal(spy->irq_disables, before + 1);
    assert_int_equal(capdrv_irq_open(f.p1, g, 0, &irq), 0);
    ready = 0;
    assert_int_equal(capdrv_irq_wait(f.p1, &irq, 1, 0, &ready), -CAPDRV_ETIMEDOUT);
    assert_int_equal(ready, 0);
    fx_done(&f);
}

/* If the dmatest STATUS register cannot be read, the profile cannot call
 * the device idle: releasing a published buffer resets the function. */
static void test_unreadable_status_is_not_idle(void **state)
{
    (void)state;
    struct fx f;
    struct fx_spy *spy = fx_spied(&f);
    capdrv_cap_t g = fx_open(f.p1, "dma0"), m = fx_mmio(f.p1, g, 0), pool, b;
    struct capdrv_dmabuf_info bi;
    assert_int_equal(capdrv_pool_open(f.p1, g, &pool), 0);
    assert_int_equal(capdrv_dma_alloc(f.p1, pool, 4096, &b, &bi), 0);
    assert_int_equal(fx_dmatest_cmd(f.p1, m, capdrv_dma_ref(&bi, 0), 64, CAPDRV_DMATEST_CMD_FILL,
                                    1, 0), 0); /* done at once: idle if STATUS were readable */
    spy->fail_bar_read = true;
    spy->fail_bar_read_off = CAPDRV_DMATEST_STATUS;
    unsigned resets = spy->resets;
    assert_int_equal(capdrv_cap_release(f.p1, b), 0);
    assert_int_equal(spy->resets, resets + 1);
    spy->fail_bar_read = false;
    fx_done(&f);
}

/* Control for the test above: with STATUS readable and the device idle,
 * the release needs no reset. */
static void test_idle_device_needs_no_reset(void **state)
{
    (void)state;
    struct fx f;
    struct fx_spy *spy = fx_spied(&f);
    capdrv_cap_t g = fx_open(f.p1, "dma0"), m = fx_mmio(f.p1, g, 0), pool, b;
    struct capdrv_dmabuf_info bi;
    assert_int_equal(capdrv_pool_open(f.p1, g, &pool), 0);
    assert_int_equal(capdrv_dma_alloc(f.p1, pool, 4096, &b, &bi), 0);
    assert_int_equal(fx_dmatest_cmd(f.p1, m, capdrv_dma_ref(&bi, 0), 64, CAPDRV_DMATEST_CMD_FILL,
                                    1, 0), 0);
    unsigned resets = spy->resets;
    assert_int_equal(capdrv_cap_release(f.p1, b), 0);
    assert_int_equal(spy->resets, resets);
    fx_done(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_irq_wait_rechecks_after_blocking),
        cmocka_unit_test(test_irq_fired_kept_when_other_goes_stale),
        cmocka_unit_test(test_irq_release_disables_and_forgets),
        cmocka_unit_test(test_unreadable_status_is_not_idle),
        cmocka_unit_test(test_idle_device_needs_no_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
