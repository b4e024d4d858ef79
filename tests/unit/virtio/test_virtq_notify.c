/* Notification suppression (VIRTIO 1.2 §2.7.7, §2.7.10): the
 * vring_need_event() arithmetic, needs_notify() with and without
 * VIRTIO_F_EVENT_IDX, enable_cb()/disable_cb() and the enable race. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "vq_test.h"

/* Reference: does moving an index from old to new (modulo 2^16, forward
 * by new - old steps) write the entry at event_idx? Enumerated, not the
 * library's closed form. */
static int ref_need_event(uint16_t ev, uint16_t new_idx, uint16_t old_idx)
{
    uint16_t steps = (uint16_t)(new_idx - old_idx);
    for (uint32_t k = 0; k < steps; k++)
        if ((uint16_t)(old_idx + k) == ev)
            return 1;
    return 0;
}

static void test_need_event_edges(void **state)
{
    (void)state;
    static const uint16_t edge[] = {0, 1, 2, 3, 0x7ffe, 0x7fff, 0x8000, 0x8001, 0xfffd, 0xfffe, 0xffff};
    static const uint16_t step[] = {0, 1, 2, 3, 17, 255, 256, 0x7fff, 0x8000, 0xffff};
    static const int16_t ev_off[] = {-3, -2, -1, 0, 1, 2, 3};
    unsigned checked = 0;
    for (size_t a = 0; a < sizeof edge / sizeof edge[0]; a++) {
        for (size_t b = 0; b < sizeof step / sizeof step[0]; b++) {
            uint16_t old_idx = edge[a];
            uint16_t new_idx = (uint16_t)(old_idx + step[b]);
            /* event_idx around old, around new, and at every edge. */
            for (size_t c = 0; c < sizeof ev_off / sizeof ev_off[0]; c++) {
                uint16_t e1 = (uint16_t)(old_idx + ev_off[c]);
                uint16_t e2 = (uint16_t)(new_idx + ev_off[c]);
                assert_int_equal(capdrv_vring_need_event(e1, new_idx, old_idx),
                                 ref_need_event(e1, new_idx, old_idx));
                assert_int_equal(capdrv_vring_need_event(e2, new_idx, old_idx),
                                 ref_need_event(e2, new_idx, old_idx));
                checked += 2;
            }
            for (size_t c = 0; c < sizeof edge / sizeof edge[0]; c++) {
                assert_int_equal(capdrv_vring_need_event(edge[c], new_idx, old_idx),
                                 ref_need_event(edge[c], new_idx, old_idx));
                checked++;
            }
        }
    }
    assert_true(checked > 1000);

    /* Written-out cases, including the wrap 65535 -> 0. */
    assert_int_equal(capdrv_vring_need_event(0xffff, 0x0000, 0xffff), 1);
    assert_int_equal(capdrv_vring_need_event(0x0000, 0x0000, 0xffff), 0);
    assert_int_equal(capdrv_vring_need_event(0x0000, 0x0001, 0xffff), 1);
    assert_int_equal(capdrv_vring_need_event(0xfffe, 0x0001, 0xffff), 0);
    assert_int_equal(capdrv_vring_need_event(0xfffe, 0x0002, 0xfffe), 1);
    assert_int_equal(capdrv_vring_need_event(5, 5, 5), 0);    /* nothing moved */
    assert_int_equal(capdrv_vring_need_event(5, 6, 5), 1);
    assert_int_equal(capdrv_vring_need_event(6, 6, 5), 0);    /* not yet written */
    assert_int_equal(capdrv_vring_need_event(4, 6, 5), 0);    /* already behind */
}

/* Every event index for a dense set of (old, new) pairs around the wrap. */
static void test_need_event_exhaustive_window(void **state)
{
    (void)state;
    static const uint16_t olds[] = {0, 0x7fff, 0xfff0, 0xffff};
    for (size_t a = 0; a < sizeof olds / sizeof olds[0]; a++) {
        for (unsigned d = 0; d <= 20; d++) {
            uint16_t old_idx = olds[a];
            uint16_t new_idx = (uint16_t)(old_idx + d);
            for (uint32_t ev = 0; ev <= 0xffff; ev++) {
                /* Closed form of the reference: ev - old < new - old. */
                int want = (uint16_t)(ev - old_idx) < (uint16_t)(new_idx - old_idx);
                assert_int_equal(capdrv_vring_need_event((uint16_t)ev, new_idx, old_idx), want);
            }
        }
    }
}

static void add_one(struct vq_fix *f, unsigned tag)
{
    struct capdrv_virtq_seg s = {VQ_DATA_REF + 0x100u * tag, 64};
    assert_int_equal(capdrv_virtq_add(&f->vq, &s, 0, 1, VQ_COOKIE(tag)), 0);
}

/* Device consumes and completes all available; driver reaps all. */
static unsigned cycle(struct vq_fix *f)
{
    struct vq_dev_req r;
    unsigned n = 0;
    while (vq_dev_pop(&f->dev, &r)) {
        vq_dev_complete(&f->dev, r.head, 0);
        n++;
    }
    vq_dev_flush(&f->dev);
    struct capdrv_virtq_completion c[64];
    unsigned got = 0;
    int k;
    while ((k = capdrv_virtq_reap(&f->vq, c, 64)) > 0)
        got += (unsigned)k;
    assert_int_equal(k, 0);
    assert_int_equal(got, n);
    return n;
}

static void test_needs_notify_flags(void **state)
{
    (void)state;
    struct vq_fix f;
    vq_fix_init(&f, 8, 0, 0);
    /* Nothing published: no notification. */
    assert_int_equal(capdrv_virtq_needs_notify(&f.vq), 0);
    add_one(&f, 0);
    /* Added but not published: still nothing. */
    assert_int_equal(capdrv_virtq_needs_notify(&f.vq), 0);
    assert_int_equal(capdrv_virtq_publish(&f.vq), 1);
    assert_int_equal(capdrv_virtq_needs_notify(&f.vq), 1); /* flags 0: MUST notify */
    assert_int_equal(capdrv_virtq_needs_notify(&f.vq), 0); /* already answered */
    static const struct {
        uint16_t flags;
        int want;
    } t[] = {{0, 1}, {1, 0}, {2, 1}, {3, 0}, {0xffff, 0}, {0xfffe, 1}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        cycle(&f);
        vq_dev_set_used_flags(&f.dev, t[i].flags);
        /* avail_event is ignored without EVENT_IDX. */
        vq_dev_set_avail_event(&f.dev, (uint16_t)(vq_dev_avail_idx(&f.dev) + 100));
        add_one(&f, 1);
        add_one(&f, 2);
        assert_int_equal(capdrv_virtq_publish(&f.vq), 2);
        assert_int_equal(capdrv_virtq_needs_notify(&f.vq), t[i].want);
    }
    vq_fix_free(&f);
}

static void test_needs_notify_event_idx(void **state)
{
    (void)state;
    struct vq_fix f;
    vq_fix_init(&f, 16, CAPDRV_VIRTQ_F_EVENT_IDX, 0);
    f.dev.auto_avail_event = 0;
    /* used->flags is ignored with EVENT_IDX (§2.7.10.1). */
    vq_dev_set_used_flags(&f.dev, CAPDRV_VRING_USED_F_NO_NOTIFY);
    /* avail_event 0, publish 0..2: entry 0 written -> notify. */
    add_one(&f, 0);
    add_one(&f, 1);
    add_one(&f, 2);
    assert_int_equal(capdrv_virtq_publish(&f.vq), 3);
    assert_int_equal(capdrv_virtq_needs_notify(&f.vq), 1);
    /* avail_event 5: entries 3, 4 -> no; 5 -> yes; 6 -> no. */
    vq_dev_set_avail_event(&f.dev, 5);
    static const int want[] = {0, 0, 1, 0};
    for (unsigned i = 0; i < 4; i++) {
        add_one(&f, 3 + i);
        assert_int_equal(capdrv_virtq_publish(&f.vq), 1);
        assert_int_equal(capdrv_virtq_needs_notify(&f.vq), want[i]);
    }
    /* A batch of 3 (7, 8, 9) crossing avail_event 8 -> one yes. */
    vq_dev_set_avail_event(&f.dev, 8);
    for (unsigned i = 0; i < 3; i++)
        add_one(&f, 7 + i);
    assert_int_equal(capdrv_virtq_publish(&f.vq), 3);
    assert_int_equal(capdrv_virtq_needs_notify(&f.vq), 1);
    /* Two publishes, one question: the range covers both (10, 11). */
    vq_dev_set_avail_event(&f.dev, 10);
    add_one(&f, 10);
    assert_int_equal(capdrv_virtq_publish(&f.vq), 1);
    add_one(&f, 11);
    assert_int_equal(capdrv_virtq_publish(&f.vq), 1);
    assert_int_equal(capdrv_virtq_needs_notify(&f.vq), 1);
    vq_fix_free(&f);
}

/* Around the 16-bit wrap of avail->idx, with EVENT_IDX. */
static void test_needs_notify_event_idx_wrap(void **state)
{
    (void)state;
    struct vq_fix f;
    vq_fix_init(&f, 1, CAPDRV_VIRTQ_F_EVENT_IDX, 0);
    f.dev.auto_avail_event = 0;
    vq_dev_set_avail_event(&f.dev, 0x1234); /* far away: no notifications */
    /* Bring avail->idx to 65533 one request at a time. */
    for (uint32_t i = 0; i < 65533u; i++) {
        add_one(&f, 0);
        assert_int_equal(capdrv_virtq_publish(&f.vq), 1);
        assert_int_equal(capdrv_virtq_needs_notify(&f.vq), i == 0x1234);
        assert_int_equal(cycle(&f), 1);
    }
    assert_int_equal(vq_dev_avail_idx(&f.dev), 65533u);
    /* Entries 65533, 65534, 65535, 0, 1 with avail_event at 65535, 0, 1. */
    static const struct {
        uint16_t ev;
        int want;
    } t[] = {{0xffff, 0}, {0xffff, 0}, {0xffff, 1}, {0x0000, 1}, {0xffff, 0}, {0x0002, 1}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        vq_dev_set_avail_event(&f.dev, t[i].ev);
        add_one(&f, 0);
        assert_int_equal(capdrv_virtq_publish(&f.vq), 1);
        assert_int_equal(capdrv_virtq_needs_notify(&f.vq), t[i].want);
        cycle(&f);
    }
    assert_int_equal(vq_dev_avail_idx(&f.dev), 3u);
    assert_int_equal(capdrv_virtq_error(&f.vq), CAPDRV_VIRTQ_OK);
    vq_fix_free(&f);
}

/* 65536 or more published between two questions: the 16-bit window
 * cannot tell, so the answer is "notify". */
static void test_needs_notify_overflow(void **state)
{
    (void)state;
    struct vq_fix f;
    vq_fix_init(&f, 4096, CAPDRV_VIRTQ_F_EVENT_IDX, 0);
    f.dev.auto_avail_event = 0;
    /* Exactly 65536: new == old, so need_event alone would say 0 for any
     * event index. avail_event = old - 1 (behind) as well. */
    vq_dev_set_avail_event(&f.dev, 0xffff);
    for (unsigned i = 0; i < 16; i++) {
        for (unsigned j = 0; j < 4096; j++)
            add_one(&f, 0);
        assert_int_equal(capdrv_virtq_publish(&f.vq), 4096);
        cycle(&f);
    }
    assert_int_equal(vq_dev_avail_idx(&f.dev), 0);
    assert_int_equal(capdrv_virtq_needs_notify(&f.vq), 1);
    /* 65535 published: the window is exact again; 0xffff is behind. */
    for (unsigned i = 0; i < 16; i++) {
        unsigned n = i == 15 ? 4095 : 4096;
        for (unsigned j = 0; j < n; j++)
            add_one(&f, 0);
        assert_int_equal(capdrv_virtq_publish(&f.vq), (int)n);
        cycle(&f);
    }
    vq_dev_set_avail_event(&f.dev, 0xffff); /* the one index not written */
    assert_int_equal(capdrv_virtq_needs_notify(&f.vq), 0);
    vq_fix_free(&f);
}

/* enable_cb(): arms, re-checks, reports a completion that raced. */
static void enable_race(unsigned flags)
{
    struct vq_fix f;
    vq_fix_init(&f, 8, flags, 0);
    const int ev = (flags & CAPDRV_VIRTQ_F_EVENT_IDX) != 0;
    for (unsigned i = 0; i < 3; i++)
        add_one(&f, i);
    assert_int_equal(capdrv_virtq_publish(&f.vq), 3);
    struct vq_dev_req r[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(vq_dev_pop(&f.dev, &r[i]), 1);

    /* Nothing pending: armed, 0. */
    assert_int_equal(capdrv_virtq_enable_cb(&f.vq), 0);
    if (ev) {
        assert_int_equal(vq_dev_used_event(&f.dev), 0); /* next entry to consume */
        assert_int_equal(vq_dev_avail_flags(&f.dev), 0);
    } else {
        assert_int_equal(vq_dev_avail_flags(&f.dev), 0);
    }

    /* The driver turns notifications off while it works ... */
    assert_int_equal(capdrv_virtq_disable_cb(&f.vq), 0);
    if (ev) {
        assert_int_equal(vq_dev_avail_flags(&f.dev), 0); /* MUST stay 0 with EVENT_IDX */
        assert_int_equal(vq_dev_used_event(&f.dev), 0xffff);
    } else {
        assert_int_equal(vq_dev_avail_flags(&f.dev), CAPDRV_VRING_AVAIL_F_NO_INTERRUPT);
    }
    /* ... the device completes one meanwhile and, as told, does not
     * notify ... */
    vq_dev_complete(&f.dev, r[0].head, 64);
    assert_int_equal(vq_dev_flush(&f.dev), 0);
    /* ... so re-enabling must report it (the race of §2.7.14). */
    assert_int_equal(capdrv_virtq_enable_cb(&f.vq), 1);
    if (ev)
        assert_int_equal(vq_dev_used_event(&f.dev), 0);
    else
        assert_int_equal(vq_dev_avail_flags(&f.dev), 0);
    struct capdrv_virtq_completion c[4];
    assert_int_equal(capdrv_virtq_reap(&f.vq, c, 4), 1);
    assert_ptr_equal(c[0].cookie, VQ_COOKIE(0));

    /* Now nothing pending: armed for the entry at 1, and the device's next
     * completion notifies. */
    assert_int_equal(capdrv_virtq_enable_cb(&f.vq), 0);
    if (ev)
        assert_int_equal(vq_dev_used_event(&f.dev), 1);
    vq_dev_complete(&f.dev, r[1].head, 0);
    assert_int_equal(vq_dev_flush(&f.dev), 1);
    /* With EVENT_IDX the request is one-shot: a further completion
     * without re-arming does not notify. */
    vq_dev_complete(&f.dev, r[2].head, 0);
    assert_int_equal(vq_dev_flush(&f.dev), ev ? 0 : 1);
    assert_int_equal(capdrv_virtq_enable_cb(&f.vq), 1);
    assert_int_equal(capdrv_virtq_reap(&f.vq, c, 4), 2);
    assert_int_equal(capdrv_virtq_enable_cb(&f.vq), 0);
    /* Repeated enable/disable keep the audit happy. */
    assert_int_equal(capdrv_virtq_disable_cb(&f.vq), 0);
    assert_int_equal(capdrv_virtq_disable_cb(&f.vq), 0);
    assert_int_equal(capdrv_virtq_verify(&f.vq), 0);
    assert_int_equal(capdrv_virtq_enable_cb(&f.vq), 0);
    assert_int_equal(capdrv_virtq_verify(&f.vq), 0);
    add_one(&f, 5);
    assert_int_equal(capdrv_virtq_publish(&f.vq), 1);
    vq_fix_free(&f);
}

static void test_enable_cb_race(void **state)
{
    (void)state;
    enable_race(0);
    enable_race(CAPDRV_VIRTQ_F_EVENT_IDX);
}

/* Without EVENT_IDX, used_event is never written. */
static void test_no_event_idx_leaves_used_event(void **state)
{
    (void)state;
    struct vq_fix f;
    vq_fix_init(&f, 4, 0, 0);
    add_one(&f, 0);
    assert_int_equal(capdrv_virtq_publish(&f.vq), 1);
    assert_int_equal(capdrv_virtq_disable_cb(&f.vq), 0);
    cycle(&f);
    assert_int_equal(capdrv_virtq_enable_cb(&f.vq), 0);
    assert_int_equal(vq_dev_used_event(&f.dev), 0);
    vq_fix_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_need_event_edges),
        cmocka_unit_test(test_need_event_exhaustive_window),
        cmocka_unit_test(test_needs_notify_flags),
        cmocka_unit_test(test_needs_notify_event_idx),
        cmocka_unit_test(test_needs_notify_event_idx_wrap),
        cmocka_unit_test(test_needs_notify_overflow),
        cmocka_unit_test(test_enable_cb_race),
        cmocka_unit_test(test_no_event_idx_leaves_used_event),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
