/* The manager wire decoder (src/remote/wire.h) against hostile packets:
 * every field cdw_check() guards is broken once, and each broken packet
 * must be refused while the intact one is accepted. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "remote/wire.h"

static unsigned char pkt[CDW_MSG_MAX + 8];

/* Build a packet: header + @len payload bytes from @pl. */
static size_t build(uint16_t type, const void *pl, size_t len, uint32_t seq)
{
    struct cdw_hdr h;
    cdw_hdr_init(&h, type, (uint32_t)len, seq);
    memcpy(pkt, &h, sizeof h);
    if (len)
        memcpy(pkt + sizeof h, pl, len);
    return sizeof h + len;
}

static void test_good_request_accepted(void **state)
{
    (void)state;
    struct cdw_mmio_rd q = {.cap = 7, .offset = 8, .width = 4};
    size_t n = build(CDW_MMIO_READ, &q, sizeof q, 42);
    struct cdw_hdr h;
    assert_int_equal(cdw_check(pkt, n, 0, &h), 0);
    assert_int_equal(h.type, CDW_MMIO_READ);
    assert_int_equal(h.seq, 42);
    n = build(CDW_GRANT_COUNT, NULL, 0, 1); /* argument-less request */
    assert_int_equal(cdw_check(pkt, n, 0, &h), 0);
}

static void test_short_and_oversize_refused(void **state)
{
    (void)state;
    struct cdw_hdr h;
    struct cdw_mmio_rd q = {0};
    size_t n = build(CDW_MMIO_READ, &q, sizeof q, 1);
    for (size_t k = 0; k < sizeof(struct cdw_hdr); k++) /* shorter than a header */
        assert_int_equal(cdw_check(pkt, k, 0, &h), -CAPDRV_EPROTO);
    assert_int_equal(cdw_check(pkt, n - 1, 0, &h), -CAPDRV_EPROTO); /* truncated */
    assert_int_equal(cdw_check(pkt, CDW_MSG_MAX + 1, 0, &h), -CAPDRV_EPROTO);
    assert_int_equal(cdw_check(NULL, n, 0, &h), -CAPDRV_EPROTO);
}

static void test_header_fields_refused(void **state)
{
    (void)state;
    struct cdw_hdr h, *ph = (struct cdw_hdr *)(void *)pkt;
    struct cdw_cap q = {1};
    size_t n = build(CDW_CAP_RELEASE, &q, sizeof q, 1);
    ph->magic ^= 1;
    assert_int_equal(cdw_check(pkt, n, 0, &h), -CAPDRV_EPROTO);
    n = build(CDW_CAP_RELEASE, &q, sizeof q, 1);
    ph->version = CDW_VERSION + 1; /* a future version is not guessed at */
    assert_int_equal(cdw_check(pkt, n, 0, &h), -CAPDRV_EPROTO);
    n = build(CDW_CAP_RELEASE, &q, sizeof q, 1);
    ph->length += 8; /* length disagrees with the packet */
    assert_int_equal(cdw_check(pkt, n, 0, &h), -CAPDRV_EPROTO);
    ph->length = UINT32_MAX;
    assert_int_equal(cdw_check(pkt, n, 0, &h), -CAPDRV_EPROTO);
}

static void test_unknown_type_and_direction_refused(void **state)
{
    (void)state;
    struct cdw_hdr h;
    size_t n = build(0, NULL, 0, 1);
    assert_int_equal(cdw_check(pkt, n, 0, &h), -CAPDRV_EPROTO);
    n = build(CDW_TYPE_END, NULL, 0, 1);
    assert_int_equal(cdw_check(pkt, n, 0, &h), -CAPDRV_EPROTO);
    n = build(0x7fff, NULL, 0, 1);
    assert_int_equal(cdw_check(pkt, n, 0, &h), -CAPDRV_EPROTO);
    /* a response sent to the manager, a request sent to a provider */
    struct cdw_r_rc r = {0};
    n = build(CDW_BYE | CDW_RESPONSE, &r, sizeof r, 1);
    assert_int_equal(cdw_check(pkt, n, 0, &h), -CAPDRV_EPROTO);
    assert_int_equal(cdw_check(pkt, n, 1, &h), 0);
    n = build(CDW_BYE, NULL, 0, 1);
    assert_int_equal(cdw_check(pkt, n, 1, &h), -CAPDRV_EPROTO);
}

static void test_every_request_size_exact(void **state)
{
    (void)state;
    struct cdw_hdr h;
    static unsigned char zero[sizeof(struct cdw_irq_wait) + 8];
    for (uint16_t t = 1; t < CDW_TYPE_END; t++) {
        size_t want = cdw_payload_size(t);
        if (t == CDW_HELLO)
            continue; /* needs a NUL in the name: below */
        assert_int_equal(cdw_check(pkt, build(t, zero, want, 1), 0, &h), 0);
        assert_int_equal(cdw_check(pkt, build(t, zero, want + 8, 1), 0, &h), -CAPDRV_EPROTO);
        if (want)
            assert_int_equal(cdw_check(pkt, build(t, zero, want - 1, 1), 0, &h), -CAPDRV_EPROTO);
    }
}

static void test_hello_fields_refused(void **state)
{
    (void)state;
    struct cdw_hdr h;
    struct cdw_hello m = {.flags = 0};
    strcpy(m.name, "conf");
    assert_int_equal(cdw_check(pkt, build(CDW_HELLO, &m, sizeof m, 1), 0, &h), 0);
    memset(m.name, 'a', sizeof m.name); /* no NUL: an unterminated name */
    assert_int_equal(cdw_check(pkt, build(CDW_HELLO, &m, sizeof m, 1), 0, &h), -CAPDRV_EPROTO);
    strcpy(m.name, "conf");
    m.flags = 2; /* unknown flag */
    assert_int_equal(cdw_check(pkt, build(CDW_HELLO, &m, sizeof m, 1), 0, &h), -CAPDRV_EPROTO);
    m.flags = 0;
    m.reserved = 1;
    assert_int_equal(cdw_check(pkt, build(CDW_HELLO, &m, sizeof m, 1), 0, &h), -CAPDRV_EPROTO);
}

static void test_revoke_name_refused(void **state)
{
    (void)state;
    struct cdw_hdr h;
    struct cdw_revoke m = {.cap = 5};
    strcpy(m.name, "conf");
    assert_int_equal(cdw_check(pkt, build(CDW_REVOKE, &m, sizeof m, 1), 0, &h), 0);
    memset(m.name, 'b', sizeof m.name);
    assert_int_equal(cdw_check(pkt, build(CDW_REVOKE, &m, sizeof m, 1), 0, &h), -CAPDRV_EPROTO);
}

static void test_bool_fields_refused(void **state)
{
    (void)state;
    struct cdw_hdr h;
    struct cdw_irq_mask m = {.cap = 1, .masked = 1};
    assert_int_equal(cdw_check(pkt, build(CDW_IRQ_MASK, &m, sizeof m, 1), 0, &h), 0);
    m.masked = 2;
    assert_int_equal(cdw_check(pkt, build(CDW_IRQ_MASK, &m, sizeof m, 1), 0, &h), -CAPDRV_EPROTO);
}

static void test_responses_refused(void **state)
{
    (void)state;
    struct cdw_hdr h;
    /* names from the manager are NUL-terminated too */
    struct cdw_r_grant_info gi = {.rc = 0};
    memset(gi.name, 'x', sizeof gi.name);
    assert_int_equal(cdw_check(pkt, build(CDW_GRANT_INFO | CDW_RESPONSE, &gi, sizeof gi, 1), 1, &h),
                     -CAPDRV_EPROTO);
    gi.name[3] = '\0';
    assert_int_equal(cdw_check(pkt, build(CDW_GRANT_INFO | CDW_RESPONSE, &gi, sizeof gi, 1), 1, &h), 0);
    gi.claimed = 5;
    assert_int_equal(cdw_check(pkt, build(CDW_GRANT_INFO | CDW_RESPONSE, &gi, sizeof gi, 1), 1, &h),
                     -CAPDRV_EPROTO);
    /* a positive result where the call returns only 0 or an error */
    struct cdw_r_rc r = {.rc = 3};
    assert_int_equal(cdw_check(pkt, build(CDW_CAP_RELEASE | CDW_RESPONSE, &r, sizeof r, 1), 1, &h),
                     -CAPDRV_EPROTO);
    assert_int_equal(cdw_check(pkt, build(CDW_GRANT_COUNT | CDW_RESPONSE, &r, sizeof r, 1), 1, &h), 0);
}

static void test_status_response_bounds(void **state)
{
    (void)state;
    struct cdw_hdr h;
    static struct cdw_r_status st;
    size_t head = offsetof(struct cdw_r_status, text);
    memcpy(st.text, "a=1\n", 5);
    st.text_len = 5;
    assert_int_equal(cdw_check(pkt, build(CDW_STATUS | CDW_RESPONSE, &st, head + 5, 1), 1, &h), 0);
    st.text_len = 6; /* claims more than was sent */
    assert_int_equal(cdw_check(pkt, build(CDW_STATUS | CDW_RESPONSE, &st, head + 5, 1), 1, &h),
                     -CAPDRV_EPROTO);
    st.text_len = 4; /* last byte sent is not the NUL */
    assert_int_equal(cdw_check(pkt, build(CDW_STATUS | CDW_RESPONSE, &st, head + 4, 1), 1, &h),
                     -CAPDRV_EPROTO);
    st.text_len = 0;
    assert_int_equal(cdw_check(pkt, build(CDW_STATUS | CDW_RESPONSE, &st, head, 1), 1, &h),
                     -CAPDRV_EPROTO);
    st.text_len = CDW_STATUS_TEXT_MAX + 1;
    assert_int_equal(cdw_check(pkt, build(CDW_STATUS | CDW_RESPONSE, &st, head + 5, 1), 1, &h),
                     -CAPDRV_EPROTO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_request_accepted),
        cmocka_unit_test(test_short_and_oversize_refused),
        cmocka_unit_test(test_header_fields_refused),
        cmocka_unit_test(test_unknown_type_and_direction_refused),
        cmocka_unit_test(test_every_request_size_exact),
        cmocka_unit_test(test_hello_fields_refused),
        cmocka_unit_test(test_revoke_name_refused),
        cmocka_unit_test(test_bool_fields_refused),
        cmocka_unit_test(test_responses_refused),
        cmocka_unit_test(test_status_response_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
