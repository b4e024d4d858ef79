/* capdrv_strerror: every code has its own text; unknown codes are safe. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include <capdrv/error.h>

static const int codes[] = {
    CAPDRV_EPERM,  CAPDRV_ENOENT, CAPDRV_EIO,     CAPDRV_EBADF,    CAPDRV_ENOMEM,
    CAPDRV_EACCES, CAPDRV_EFAULT, CAPDRV_EBUSY,   CAPDRV_EEXIST,   CAPDRV_ENODEV,
    CAPDRV_EINVAL, CAPDRV_ENOSPC, CAPDRV_ERANGE,  CAPDRV_ENOSYS,   CAPDRV_EPROTO,
    CAPDRV_EOVERFLOW, CAPDRV_ENOTSUP, CAPDRV_ETIMEDOUT, CAPDRV_ESTALE, CAPDRV_ECANCELED,
};

static void test_every_code_distinct(void **state)
{
    (void)state;
    size_t n = sizeof codes / sizeof codes[0];
    for (size_t i = 0; i < n; i++) {
        const char *s = capdrv_strerror(-codes[i]);
        assert_non_null(s);
        assert_string_not_equal(s, "unknown error");
        assert_string_equal(s, capdrv_strerror(codes[i])); /* sign does not matter */
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(s, capdrv_strerror(-codes[j]));
    }
}

static void test_unknown_and_zero(void **state)
{
    (void)state;
    assert_string_equal(capdrv_strerror(0), "success");
    assert_string_equal(capdrv_strerror(-4242), "unknown error");
    assert_string_equal(capdrv_strerror(-2147483647 - 1), "unknown error"); /* INT_MIN */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_code_distinct),
        cmocka_unit_test(test_unknown_and_zero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
