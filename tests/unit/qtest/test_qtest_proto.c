/* qtest reply parsing: QEMU's replies are untrusted input
 * (capdrv_qtest_parse_reply()). No QEMU needed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <capdrv/qtest.h>

#include <string.h>

static int parse(const char *s, int want, uint64_t *v)
{
    return capdrv_qtest_parse_reply(s, strlen(s), want != 0, v);
}

static void ok_replies(void **state)
{
    (void)state;
    uint64_t v = 0;
    assert_int_equal(parse("OK", 0, NULL), 0);
    assert_int_equal(parse("OK 0x0000000012345678", 1, &v), 0);
    assert_int_equal(v, 0x12345678u);
    assert_int_equal(parse("OK 0xFFFFFFFFFFFFFFFF", 1, &v), 0);
    assert_true(v == UINT64_MAX);
    assert_int_equal(parse("OK 0xa", 1, &v), 0);
    assert_int_equal(v, 10);
}

static void fail_reply(void **state)
{
    (void)state;
    uint64_t v = 0;
    assert_int_equal(parse("FAIL Unknown command 'x'", 0, NULL), -CAPDRV_EIO);
    assert_int_equal(parse("FAIL", 1, &v), -CAPDRV_EIO);
}

static void malformed(void **state)
{
    (void)state;
    uint64_t v = 77;
    static const char *const bad_value[] = {
        "OK", "OK ", "OK 0x", "OK 12", "OK 0x12 ", "OK  0x12", "OK 0x1g",
        "OK 0x00000000000000001", /* 17 digits */
        "ok 0x1", "IRQ raise 3", "", "FAILED", "OK0x1",
    };
    for (size_t i = 0; i < sizeof bad_value / sizeof bad_value[0]; i++)
        assert_int_equal(parse(bad_value[i], 1, &v), -CAPDRV_EPROTO);
    assert_int_equal(v, 77); /* untouched on refusal */
    assert_int_equal(parse("OK 0x1", 0, NULL), -CAPDRV_EPROTO); /* value where none is due */
    assert_int_equal(parse("OKAY", 0, NULL), -CAPDRV_EPROTO);
    /* Length is honoured: bytes past it are not read. */
    assert_int_equal(capdrv_qtest_parse_reply("OK 0x12junk", 6, true, &v), 0);
    assert_int_equal(v, 0x1);
    assert_int_equal(capdrv_qtest_parse_reply(NULL, 0, false, NULL), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_qtest_parse_reply("OK 0x1", 6, true, NULL), -CAPDRV_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ok_replies),
        cmocka_unit_test(fail_reply),
        cmocka_unit_test(malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
