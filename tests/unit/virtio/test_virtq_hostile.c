/* A hostile device: every protocol violation breaks the queue with the
 * right fault, makes that call and every later one return -CAPDRV_EPROTO,
 * never returns a cookie twice, and detach() then returns exactly the
 * cookies not yet completed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "vq_test.h"

enum { QSIZE = 16, NREQ = 6 };

struct hfix {
    struct vq_fix f;
    struct vq_dev_req r[NREQ]; /* as the device popped them */
    unsigned seen[NREQ + 2];   /* cookies returned so far, by request */
};

/* Requests: 0..3 direct chains (1 readable + 1..2 writable of 100 bytes),
 * 4 readable-only, 5 direct 3-chain. All published and popped. */
static void hsetup(struct hfix *h, unsigned flags)
{
    memset(h, 0, sizeof *h);
    vq_fix_init(&h->f, QSIZE, flags, 0);
    struct capdrv_virtq_seg s[3] = {
        {VQ_DATA_REF, 16}, {VQ_DATA_REF + 0x100, 100}, {VQ_DATA_REF + 0x200, 100}};
    for (unsigned i = 0; i < 4; i++)
        assert_int_equal(capdrv_virtq_add(&h->f.vq, s, 1, 1 + (i & 1u), VQ_COOKIE(i)), 0);
    assert_int_equal(capdrv_virtq_add(&h->f.vq, s, 1, 0, VQ_COOKIE(4)), 0);
    assert_int_equal(capdrv_virtq_add(&h->f.vq, s, 1, 2, VQ_COOKIE(5)), 0);
    assert_int_equal(capdrv_virtq_publish(&h->f.vq), NREQ);
    for (unsigned i = 0; i < NREQ; i++)
        assert_int_equal(vq_dev_pop(&h->f.dev, &h->r[i]), 1);
}

static void note(struct hfix *h, const struct capdrv_virtq_completion *c, int n)
{
    for (int i = 0; i < n; i++) {
        uint64_t k = VQ_COOKIE_NUM(c[i].cookie);
        assert_true(k < NREQ + 2);
        assert_int_equal(h->seen[k], 0); /* never twice */
        h->seen[k]++;
    }
}

static int hreap(struct hfix *h, unsigned max)
{
    struct capdrv_virtq_completion c[QSIZE];
    int n = capdrv_virtq_reap(&h->f.vq, c, max);
    if (n > 0)
        note(h, c, n);
    return n;
}

/* The queue is broken with @fault: everything but detach refuses. Then
 * detach (after the "reset") returns every cookie not yet seen, once. */
static void expect_broken(struct hfix *h, int fault, unsigned nreq)
{
    struct capdrv_virtq *vq = &h->f.vq;
    assert_int_equal(capdrv_virtq_error(vq), fault);
    const char *msg = capdrv_virtq_strfault(fault);
    assert_non_null(msg);
    assert_string_not_equal(msg, capdrv_virtq_strfault(CAPDRV_VIRTQ_OK));
    unsigned free_before = capdrv_virtq_num_free(vq);
    struct capdrv_virtq_seg s = {VQ_DATA_REF, 8};
    struct capdrv_virtq_completion c[QSIZE];
    assert_int_equal(capdrv_virtq_add(vq, &s, 1, 0, NULL), -CAPDRV_EPROTO);
    assert_int_equal(capdrv_virtq_publish(vq), -CAPDRV_EPROTO);
    assert_int_equal(capdrv_virtq_needs_notify(vq), -CAPDRV_EPROTO);
    assert_int_equal(capdrv_virtq_reap(vq, c, QSIZE), -CAPDRV_EPROTO);
    assert_int_equal(capdrv_virtq_reap(vq, c, QSIZE), -CAPDRV_EPROTO);
    assert_int_equal(capdrv_virtq_enable_cb(vq), -CAPDRV_EPROTO);
    assert_int_equal(capdrv_virtq_disable_cb(vq), -CAPDRV_EPROTO);
    assert_int_equal(capdrv_virtq_verify(vq), -CAPDRV_EPROTO);
    assert_int_equal(capdrv_virtq_num_free(vq), free_before);
    assert_int_equal(capdrv_virtq_error(vq), fault); /* first fault sticks */

    int n;
    while ((n = capdrv_virtq_detach(vq, c, 2)) > 0) {
        for (int i = 0; i < n; i++)
            assert_int_equal(c[i].len, 0);
        note(h, c, n);
    }
    assert_int_equal(n, 0);
    for (unsigned i = 0; i < nreq; i++)
        assert_int_equal(h->seen[i], 1);
    assert_int_equal(capdrv_virtq_num_free(vq), QSIZE);
    vq_fix_free(&h->f);
}

/* ---- used id out of range ----------------------------------------- */

static void test_hostile_id_range(void **state)
{
    (void)state;
    static const uint32_t bad[] = {QSIZE, QSIZE + 1u, 0x10000u, 0x80000000u, 0xffffffffu};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct hfix h;
        hsetup(&h, 0);
        vq_dev_push_raw(&h.f.dev, bad[i], 0);
        vq_dev_flush(&h.f.dev);
        assert_int_equal(hreap(&h, QSIZE), -CAPDRV_EPROTO);
        expect_broken(&h, CAPDRV_VIRTQ_FAULT_USED_ID_RANGE, NREQ);
    }
}

/* ---- used id not in flight ----------------------------------------- */

static void test_hostile_id_free(void **state)
{
    (void)state;
    struct hfix h;
    hsetup(&h, 0);
    /* The 6 requests hold descriptors 0..13: 14 and 15 are free. */
    assert_true(capdrv_virtq_num_free(&h.f.vq) > 0);
    vq_dev_push_raw(&h.f.dev, QSIZE - 1u, 0);
    vq_dev_flush(&h.f.dev);
    assert_int_equal(hreap(&h, QSIZE), -CAPDRV_EPROTO);
    expect_broken(&h, CAPDRV_VIRTQ_FAULT_USED_ID_STATE, NREQ);
}

static void test_hostile_id_mid_chain(void **state)
{
    (void)state;
    /* Request 5 is a 3-descriptor chain; name its second and third. */
    for (unsigned k = 1; k < 3; k++) {
        struct hfix h;
        hsetup(&h, k == 1 ? CAPDRV_VIRTQ_F_EVENT_IDX : 0u);
        assert_int_equal(h.r[5].nseg, 3);
        assert_false(h.r[5].indirect);
        vq_dev_push_raw(&h.f.dev, h.r[5].desc[k], 0);
        vq_dev_flush(&h.f.dev);
        assert_int_equal(hreap(&h, QSIZE), -CAPDRV_EPROTO);
        expect_broken(&h, CAPDRV_VIRTQ_FAULT_USED_ID_STATE, NREQ);
    }
}

/* The same head twice in one batch: the first is taken, the second breaks
 * the queue; the cookie is returned once. */
static void test_hostile_double_same_batch(void **state)
{
    (void)state;
    struct hfix h;
    hsetup(&h, 0);
    vq_dev_complete(&h.f.dev, h.r[2].head, 7);
    vq_dev_push_raw(&h.f.dev, h.r[2].head, 7);
    vq_dev_flush(&h.f.dev);
    assert_int_equal(hreap(&h, QSIZE), 1); /* taken before the fault */
    assert_int_equal(h.seen[2], 1);
    assert_int_equal(capdrv_virtq_error(&h.f.vq), CAPDRV_VIRTQ_FAULT_USED_ID_STATE);
    assert_int_equal(hreap(&h, QSIZE), -CAPDRV_EPROTO);
    expect_broken(&h, CAPDRV_VIRTQ_FAULT_USED_ID_STATE, NREQ);
}

/* The same head again, in a later batch. */
static void test_hostile_double_later(void **state)
{
    (void)state;
    struct hfix h;
    hsetup(&h, CAPDRV_VIRTQ_F_EVENT_IDX);
    vq_dev_complete(&h.f.dev, h.r[0].head, 100);
    vq_dev_flush(&h.f.dev);
    assert_int_equal(hreap(&h, QSIZE), 1);
    vq_dev_push_raw(&h.f.dev, h.r[0].head, 0);
    vq_dev_flush(&h.f.dev);
    assert_int_equal(hreap(&h, QSIZE), -CAPDRV_EPROTO);
    expect_broken(&h, CAPDRV_VIRTQ_FAULT_USED_ID_STATE, NREQ);
}

/* A head added but not published yet (the device read past avail->idx). */
static void test_hostile_id_unpublished(void **state)
{
    (void)state;
    struct hfix h;
    hsetup(&h, 0);
    struct capdrv_virtq_seg s = {VQ_DATA_REF + 0x1000, 32};
    assert_int_equal(capdrv_virtq_add(&h.f.vq, &s, 0, 1, VQ_COOKIE(NREQ)), 0);
    const unsigned char *ring = (const unsigned char *)h.f.ring + h.f.lay.avail_off + 4;
    uint16_t head = vq_rd16(ring + 2u * (vq_dev_avail_idx(&h.f.dev) & (QSIZE - 1u)));
    /* Make the used idx move by no more than what is in flight. */
    vq_dev_push_raw(&h.f.dev, head, 0);
    vq_dev_flush(&h.f.dev);
    assert_int_equal(hreap(&h, QSIZE), -CAPDRV_EPROTO);
    expect_broken(&h, CAPDRV_VIRTQ_FAULT_USED_ID_STATE, NREQ + 1);
}

/* ---- used len ------------------------------------------------------- */

static void test_hostile_len(void **state)
{
    (void)state;
    /* Request 1 posted 200 writable bytes, request 4 none. */
    static const struct {
        unsigned req;
        uint32_t len;
        int ok;
    } t[] = {{1, 200, 1}, {1, 201, 0}, {1, 0xffffffffu, 0}, {4, 0, 1}, {4, 1, 0}, {0, 101, 0}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        struct hfix h;
        hsetup(&h, 0);
        vq_dev_push_raw(&h.f.dev, h.r[t[i].req].head, t[i].len);
        vq_dev_flush(&h.f.dev);
        struct capdrv_virtq_completion c;
        int n = capdrv_virtq_reap(&h.f.vq, &c, 1);
        if (t[i].ok) {
            assert_int_equal(n, 1);
            assert_int_equal(c.len, t[i].len);
            vq_fix_free(&h.f);
            continue;
        }
        assert_int_equal(n, -CAPDRV_EPROTO);
        expect_broken(&h, CAPDRV_VIRTQ_FAULT_USED_LEN, NREQ);
    }
}

/* A bad element after good ones: the good ones come back, then EPROTO. */
static void test_hostile_partial(void **state)
{
    (void)state;
    struct hfix h;
    hsetup(&h, CAPDRV_VIRTQ_F_EVENT_IDX);
    vq_dev_complete(&h.f.dev, h.r[3].head, 1);
    vq_dev_complete(&h.f.dev, h.r[0].head, 2);
    vq_dev_complete(&h.f.dev, h.r[4].head, 0);
    vq_dev_push_raw(&h.f.dev, h.r[1].head, 1000); /* too long */
    vq_dev_complete(&h.f.dev, h.r[5].head, 3);    /* never looked at */
    vq_dev_flush(&h.f.dev);
    assert_int_equal(hreap(&h, 2), 2);
    assert_int_equal(capdrv_virtq_error(&h.f.vq), CAPDRV_VIRTQ_OK);
    assert_int_equal(hreap(&h, QSIZE), 1);
    assert_int_equal(capdrv_virtq_error(&h.f.vq), CAPDRV_VIRTQ_FAULT_USED_LEN);
    assert_int_equal(h.seen[3] + h.seen[0] + h.seen[4], 3);
    assert_int_equal(h.seen[1] + h.seen[5], 0);
    assert_int_equal(hreap(&h, QSIZE), -CAPDRV_EPROTO);
    expect_broken(&h, CAPDRV_VIRTQ_FAULT_USED_LEN, NREQ);
}

/* ---- used idx ------------------------------------------------------- */

static void test_hostile_idx_too_far(void **state)
{
    (void)state;
    /* 6 in flight: used idx moving by 7 (or any more) is impossible. */
    static const uint16_t jump[] = {NREQ + 1, 100, 0x7fff, 0x8000, 0xfffe};
    for (size_t i = 0; i < sizeof jump / sizeof jump[0]; i++) {
        struct hfix h;
        hsetup(&h, 0);
        for (unsigned k = 0; k < NREQ; k++)
            vq_dev_complete(&h.f.dev, h.r[k].head, 0);
        h.f.dev.used_idx = jump[i];
        vq_dev_flush(&h.f.dev);
        assert_int_equal(hreap(&h, QSIZE), -CAPDRV_EPROTO);
        expect_broken(&h, CAPDRV_VIRTQ_FAULT_USED_IDX, NREQ);
    }
}

/* Backwards: after two completions, used idx goes back by one. */
static void test_hostile_idx_backwards(void **state)
{
    (void)state;
    struct hfix h;
    hsetup(&h, CAPDRV_VIRTQ_F_EVENT_IDX);
    vq_dev_complete(&h.f.dev, h.r[0].head, 0);
    vq_dev_complete(&h.f.dev, h.r[1].head, 0);
    vq_dev_flush(&h.f.dev);
    assert_int_equal(hreap(&h, QSIZE), 2);
    h.f.dev.used_idx = 1;
    vq_dev_flush(&h.f.dev);
    assert_int_equal(hreap(&h, QSIZE), -CAPDRV_EPROTO);
    expect_broken(&h, CAPDRV_VIRTQ_FAULT_USED_IDX, NREQ);
}

/* enable_cb() re-reads used idx and catches the same lie. */
static void test_hostile_idx_enable_cb(void **state)
{
    (void)state;
    struct hfix h;
    hsetup(&h, CAPDRV_VIRTQ_F_EVENT_IDX);
    h.f.dev.used_idx = NREQ + 1;
    vq_dev_flush(&h.f.dev);
    assert_int_equal(capdrv_virtq_enable_cb(&h.f.vq), -CAPDRV_EPROTO);
    expect_broken(&h, CAPDRV_VIRTQ_FAULT_USED_IDX, NREQ);
}

/* ---- the driver area rewritten ------------------------------------- */

static void add_more(struct hfix *h)
{
    struct capdrv_virtq_seg s = {VQ_DATA_REF + 0x1000, 32};
    assert_int_equal(capdrv_virtq_add(&h->f.vq, &s, 0, 1, VQ_COOKIE(NREQ)), 0);
}

static void test_hostile_avail_idx(void **state)
{
    (void)state;
    static const int16_t delta[] = {1, -1, 0x100};
    for (size_t i = 0; i < sizeof delta / sizeof delta[0]; i++) {
        struct hfix h;
        hsetup(&h, 0);
        add_more(&h);
        unsigned char *p = (unsigned char *)h.f.ring + h.f.lay.avail_off + 2;
        vq_wr16(p, (uint16_t)(vq_rd16(p) + delta[i]));
        assert_int_equal(capdrv_virtq_publish(&h.f.vq), -CAPDRV_EPROTO);
        expect_broken(&h, CAPDRV_VIRTQ_FAULT_AVAIL_IDX, NREQ + 1);
    }
}

/* An entry of the batch being published. */
static void test_hostile_avail_ring_new(void **state)
{
    (void)state;
    struct hfix h;
    hsetup(&h, 0);
    add_more(&h);
    unsigned char *ring = (unsigned char *)h.f.ring + h.f.lay.avail_off + 4;
    unsigned char *e = ring + 2u * (NREQ & (QSIZE - 1u));
    vq_wr16(e, (uint16_t)(vq_rd16(e) ^ 1u));
    assert_int_equal(capdrv_virtq_publish(&h.f.vq), -CAPDRV_EPROTO);
    expect_broken(&h, CAPDRV_VIRTQ_FAULT_AVAIL_RING, NREQ + 1);
}

/* An entry published earlier (or never used): verify() finds it. */
static void test_hostile_avail_ring_old(void **state)
{
    (void)state;
    static const unsigned slot[] = {0, 3, QSIZE - 1};
    for (size_t i = 0; i < sizeof slot / sizeof slot[0]; i++) {
        struct hfix h;
        hsetup(&h, CAPDRV_VIRTQ_F_EVENT_IDX);
        unsigned char *e = (unsigned char *)h.f.ring + h.f.lay.avail_off + 4 + 2u * slot[i];
        vq_wr16(e, (uint16_t)(vq_rd16(e) + 1u));
        /* publish checks only its own batch: nothing new, so it passes */
        assert_int_equal(capdrv_virtq_publish(&h.f.vq), 0);
        assert_int_equal(capdrv_virtq_verify(&h.f.vq), -CAPDRV_EPROTO);
        expect_broken(&h, CAPDRV_VIRTQ_FAULT_AVAIL_RING, NREQ);
    }
}

static void test_hostile_avail_flags(void **state)
{
    (void)state;
    /* avail->flags (both modes) and used_event (both modes). */
    for (unsigned mode = 0; mode < 4; mode++) {
        struct hfix h;
        unsigned flags = (mode & 1u) ? CAPDRV_VIRTQ_F_EVENT_IDX : 0u;
        hsetup(&h, flags);
        if (mode & 2u) {
            unsigned char *p = (unsigned char *)h.f.ring + h.f.lay.used_event_off;
            vq_wr16(p, 0x4242);
        } else {
            unsigned char *p = (unsigned char *)h.f.ring + h.f.lay.avail_off;
            vq_wr16(p, (uint16_t)(vq_rd16(p) ^ CAPDRV_VRING_AVAIL_F_NO_INTERRUPT));
        }
        add_more(&h);
        if (mode == 0) {
            assert_int_equal(capdrv_virtq_verify(&h.f.vq), -CAPDRV_EPROTO);
        } else {
            assert_int_equal(capdrv_virtq_publish(&h.f.vq), -CAPDRV_EPROTO);
        }
        expect_broken(&h, CAPDRV_VIRTQ_FAULT_AVAIL_FLAGS, NREQ + 1);
    }
}

/* The fault names are distinct and say something. */
static void test_fault_names(void **state)
{
    (void)state;
    static const int faults[] = {
        CAPDRV_VIRTQ_OK,
        CAPDRV_VIRTQ_FAULT_USED_ID_RANGE,
        CAPDRV_VIRTQ_FAULT_USED_ID_STATE,
        CAPDRV_VIRTQ_FAULT_USED_LEN,
        CAPDRV_VIRTQ_FAULT_USED_IDX,
        CAPDRV_VIRTQ_FAULT_AVAIL_IDX,
        CAPDRV_VIRTQ_FAULT_AVAIL_RING,
        CAPDRV_VIRTQ_FAULT_AVAIL_FLAGS,
    };
    const size_t n = sizeof faults / sizeof faults[0];
    for (size_t i = 0; i < n; i++) {
        const char *a = capdrv_virtq_strfault(faults[i]);
        assert_non_null(a);
        assert_true(strlen(a) > 5);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(a, capdrv_virtq_strfault(faults[j]));
    }
    assert_string_equal(capdrv_virtq_strfault(-1), "unknown fault");
    assert_string_equal(capdrv_virtq_strfault(1000), "unknown fault");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostile_id_range),
        cmocka_unit_test(test_hostile_id_free),
        cmocka_unit_test(test_hostile_id_mid_chain),
        cmocka_unit_test(test_hostile_double_same_batch),
        cmocka_unit_test(test_hostile_double_later),
        cmocka_unit_test(test_hostile_id_unpublished),
        cmocka_unit_test(test_hostile_len),
        cmocka_unit_test(test_hostile_partial),
        cmocka_unit_test(test_hostile_idx_too_far),
        cmocka_unit_test(test_hostile_idx_backwards),
        cmocka_unit_test(test_hostile_idx_enable_cb),
        cmocka_unit_test(test_hostile_avail_idx),
        cmocka_unit_test(test_hostile_avail_ring_new),
        cmocka_unit_test(test_hostile_avail_ring_old),
        cmocka_unit_test(test_hostile_avail_flags),
        cmocka_unit_test(test_fault_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
