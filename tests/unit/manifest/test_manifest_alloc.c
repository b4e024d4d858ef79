/* Allocation failures: fail the Nth allocation for N = 1, 2, ... until the
 * parse succeeds. Every failure is -CAPDRV_ENOMEM with nothing leaked and
 * *out zeroed; the first success is the complete manifest. */
#include "mtest.h"

#include <stdlib.h>
#include <string.h>

static void sweep(struct mt *t, const char *name, unsigned n_grants)
{
    size_t len;
    void *blob = mt_load(name, &len);
    struct shim_manifest m;
    char why[256];
    unsigned long nth;
    for (nth = 1; nth < 1000; nth++) {
        capdrv_env_hosted_fail_alloc(t->env, nth);
        int rc = mt_parse(t, blob, len, &m, why, sizeof why);
        capdrv_env_hosted_fail_alloc(t->env, 0);
        if (rc == 0)
            break;
        assert_int_equal(rc, -CAPDRV_ENOMEM);
        assert_string_equal(why, "manifest: out of memory for the grant table");
        assert_int_equal(capdrv_env_hosted_live_allocs(t->env), t->base_allocs);
    }
    print_message("%s: %lu allocation(s) made\n", name, nth - 1);
    assert_true(nth > 1); /* at least one allocation was exercised */
    assert_int_equal(m.n_grants, n_grants);
    mt_free(t, &m);
    free(blob);
}

static void test_sweep_full(void **state)
{
    sweep(*state, "good_full", 3);
}

static void test_sweep_limits(void **state)
{
    sweep(*state, "good_limits", SHIM_MAX_GRANTS);
}

static void test_sweep_minimal(void **state)
{
    sweep(*state, "good_minimal", 1);
}

/* A refused manifest is refused for what it is, before any allocation
 * matters: EINVAL is reported even when allocation would fail. */
static void test_einval_wins_before_alloc(void **state)
{
    struct mt *t = *state;
    size_t len;
    void *blob = mt_load("bad_zero_grants", &len);
    struct shim_manifest m;
    capdrv_env_hosted_fail_alloc(t->env, 1);
    assert_int_equal(mt_parse(t, blob, len, &m, NULL, 0), -CAPDRV_EINVAL);
    capdrv_env_hosted_fail_alloc(t->env, 0);
    free(blob);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sweep_full, mt_setup, mt_teardown),
        cmocka_unit_test_setup_teardown(test_sweep_limits, mt_setup, mt_teardown),
        cmocka_unit_test_setup_teardown(test_sweep_minimal, mt_setup, mt_teardown),
        cmocka_unit_test_setup_teardown(test_einval_wins_before_alloc, mt_setup, mt_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
