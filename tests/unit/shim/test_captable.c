/* White-box tests of the capability table: generation exhaustion retires a
 * slot for good, so a handle can never become valid again. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "shim_internal.h"

static void test_spent_generation_retires_slot(void **state)
{
    (void)state;
    struct capdrv_env *env = capdrv_env_hosted_new(NULL);
    struct capdrv_shim shim;
    memset(&shim, 0, sizeof shim);
    shim.env = env;
    struct shim_provider p;
    memset(&p, 0, sizeof p);

    capdrv_cap_t h;
    assert_int_equal(shim_cap_alloc(&shim, &p, CAPDRV_CAP_MMIO, SHIM_CAP_NO_PARENT, 0, 0, &h), 0);
    /* Fast-forward slot 0 to its last generation and issue a handle there. */
    shim_cap_free_slot(&p, 0);
    p.caps.slots[0].gen = SHIM_CAP_GEN_MASK;
    assert_int_equal(shim_cap_alloc(&shim, &p, CAPDRV_CAP_MMIO, SHIM_CAP_NO_PARENT, 0, 0, &h), 0);
    uint32_t slot;
    assert_int_equal(shim_cap_lookup(&p, h, CAPDRV_CAP_MMIO, &slot), 0);
    shim_cap_free_slot(&p, 0);
    assert_true(p.caps.slots[0].retired);
    /* The next capability lands elsewhere; the old handle stays stale. */
    capdrv_cap_t h2;
    assert_int_equal(shim_cap_alloc(&shim, &p, CAPDRV_CAP_MMIO, SHIM_CAP_NO_PARENT, 0, 0, &h2), 1);
    assert_int_equal(shim_cap_lookup(&p, h, CAPDRV_CAP_MMIO, &slot), -CAPDRV_ESTALE);
    assert_int_equal(shim_cap_lookup(&p, h2, CAPDRV_CAP_MMIO, &slot), 0);
    assert_int_equal(slot, 1);
    shim_captable_destroy(&shim, &p.caps);
    assert_int_equal(capdrv_env_hosted_live_allocs(env), 0);
    capdrv_env_hosted_free(env);
}

static void test_generation_zero_never_issued(void **state)
{
    (void)state;
    struct capdrv_env *env = capdrv_env_hosted_new(NULL);
    struct capdrv_shim shim;
    memset(&shim, 0, sizeof shim);
    shim.env = env;
    struct shim_provider p;
    memset(&p, 0, sizeof p);
    capdrv_cap_t h;
    assert_int_equal(shim_cap_alloc(&shim, &p, CAPDRV_CAP_POOL, SHIM_CAP_NO_PARENT, 0, 0, &h), 0);
    uint32_t slot;
    capdrv_cap_t gen0 = h & ~((capdrv_cap_t)SHIM_CAP_GEN_MASK << 32);
    assert_int_equal(shim_cap_lookup(&p, gen0, 0, &slot), -CAPDRV_EBADF);
    shim_captable_destroy(&shim, &p.caps);
    capdrv_env_hosted_free(env);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spent_generation_retires_slot),
        cmocka_unit_test(test_generation_zero_never_issued),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
