/* Split virtqueue data path against the reference device (vq_test.c):
 * wrap-around of the 16-bit indices at every Queue Size, chains of mixed
 * readable/writable segments, indirect tables, running out of descriptors,
 * and detach after a partial completion. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "vq_test.h"

#define MAX_SHAPE_SEGS 5u

/* ------------------------------------------------------------------ */
/* Deterministic request shapes, recoverable from the request number. */

struct shape {
    unsigned n_out, n_in;
    struct capdrv_virtq_seg seg[MAX_SHAPE_SEGS];
    uint64_t wbytes;
    uint32_t done_len; /* what the device reports */
};

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static uint64_t seg_ref(uint64_t reqno, unsigned i)
{
    return VQ_DATA_REF + (reqno << 8) + 16u * i;
}

static void shape_of(uint64_t reqno, unsigned size, struct shape *s)
{
    uint64_t h = mix(reqno + 1u);
    unsigned maxseg = size < MAX_SHAPE_SEGS ? size : MAX_SHAPE_SEGS;
    unsigned nseg = 1u + (unsigned)(h % maxseg);
    h = mix(h);
    s->n_out = (unsigned)(h % (nseg + 1u));
    s->n_in = nseg - s->n_out;
    s->wbytes = 0;
    for (unsigned i = 0; i < nseg; i++) {
        h = mix(h + i);
        s->seg[i].ref = seg_ref(reqno, i);
        s->seg[i].len = 1u + (uint32_t)(h % 4096u);
        if (i >= s->n_out)
            s->wbytes += s->seg[i].len;
    }
    s->done_len = (uint32_t)(mix(h) % (s->wbytes + 1u));
}

static unsigned descs_needed(const struct capdrv_virtq *vq, unsigned nseg, unsigned imax)
{
    return vq->indirect != NULL && nseg >= 2 && nseg <= imax ? 1u : nseg;
}

/* The device saw exactly the request's segments, in order, with the right
 * direction. Returns the request number. */
static uint64_t check_req(const struct vq_dev_req *r, unsigned size)
{
    assert_true(r->nseg >= 1);
    uint64_t reqno = (r->seg[0].addr - VQ_DATA_REF) >> 8;
    struct shape s;
    shape_of(reqno, size, &s);
    assert_int_equal(r->nseg, s.n_out + s.n_in);
    for (unsigned i = 0; i < r->nseg; i++) {
        assert_int_equal(r->seg[i].addr, s.seg[i].ref);
        assert_int_equal(r->seg[i].len, s.seg[i].len);
        assert_int_equal(r->seg[i].write, i >= s.n_out);
    }
    assert_int_equal(r->wbytes, s.wbytes);
    return reqno;
}

/* ------------------------------------------------------------------ */
/* Wrap-around at every Queue Size.                                    */

struct held {
    uint16_t head;
    uint32_t reqno;
};

static void run_wrap(unsigned size, unsigned flags, unsigned imax, uint64_t seed)
{
    struct vq_fix f;
    vq_fix_init(&f, size, flags, imax);
    struct capdrv_virtq *vq = &f.vq;
    struct vq_dev *dev = &f.dev;
    const int event_idx = (flags & CAPDRV_VIRTQ_F_EVENT_IDX) != 0;

    /* More than 65536 + size requests: both 16-bit indices wrap, and every
     * avail/used ring slot is reused many times. */
    const uint32_t total = 65536u + size + 7u;
    unsigned char *count = calloc(total, 1);
    struct held *held = calloc(size, sizeof *held);
    struct capdrv_virtq_completion comp[64];
    assert_non_null(count);
    assert_non_null(held);

    uint64_t rng = seed;
    uint32_t next_req = 0, completed = 0;
    unsigned nheld = 0;
    int sleeping = 0;      /* driver armed notifications and waits */
    int polling = 0;       /* driver disabled notifications */
    uint32_t since_disable = 0;
    unsigned maxbatch = size < 128u ? size : 128u;

    while (completed < total) {
        /* Driver: add a batch, publish once, ask once. */
        unsigned batch = 1u + (unsigned)(vq_rand(&rng) % maxbatch);
        unsigned added = 0;
        while (added < batch && next_req < total) {
            struct shape s;
            shape_of(next_req, size, &s);
            unsigned need = descs_needed(vq, s.n_out + s.n_in, imax);
            unsigned before = capdrv_virtq_num_free(vq);
            int rc = capdrv_virtq_add(vq, s.seg, s.n_out, s.n_in, VQ_COOKIE(next_req));
            if (rc == -CAPDRV_ENOSPC) {
                assert_true(need > before);
                assert_int_equal(capdrv_virtq_num_free(vq), before);
                break;
            }
            assert_int_equal(rc, 0);
            assert_int_equal(capdrv_virtq_num_free(vq), before - need);
            next_req++;
            added++;
        }
        uint16_t old_idx = vq_dev_avail_idx(dev);
        int caught_up = dev->last_avail == old_idx;
        if (!event_idx)
            vq_dev_set_used_flags(dev, caught_up ? 0 : CAPDRV_VRING_USED_F_NO_NOTIFY);
        assert_int_equal(capdrv_virtq_publish(vq), (int)added);
        assert_int_equal(vq_dev_avail_idx(dev), (uint16_t)(old_idx + added));
        /* A device that consumed everything (avail_event == old idx, or
         * flags 0) must be notified; one still busy must not be. */
        int nn = capdrv_virtq_needs_notify(vq);
        assert_int_equal(nn, added > 0 && caught_up);

        /* Device: usually consume everything, sometimes nothing; always
         * once the driver has added the last request. */
        if (next_req == total || vq_rand(&rng) % 8u != 0) {
            struct vq_dev_req r;
            while (vq_dev_pop(dev, &r)) {
                uint64_t reqno = check_req(&r, size);
                assert_true(nheld < size);
                held[nheld].head = r.head;
                held[nheld].reqno = (uint32_t)reqno;
                nheld++;
            }
        }
        /* Complete a random subset, in random order. */
        unsigned k = nheld == 0 ? 0 : (unsigned)(vq_rand(&rng) % (nheld + 1u));
        if (next_req == total)
            k = nheld;
        for (unsigned j = 0; j < k; j++) {
            unsigned pick = (unsigned)(vq_rand(&rng) % nheld);
            struct shape s;
            shape_of(held[pick].reqno, size, &s);
            vq_dev_complete(dev, held[pick].head, s.done_len);
            held[pick] = held[--nheld];
        }
        int notified = vq_dev_flush(dev);
        if (k > 0 && sleeping)
            assert_true(notified); /* no lost wake-up after enable_cb() == 0 */
        if (k > 0 && polling && since_disable + size < 65535u)
            assert_false(notified); /* disable_cb() is honoured */
        if (sleeping && !notified)
            continue;

        /* Driver: reap everything, in random-sized gulps. */
        sleeping = 0;
        for (;;) {
            unsigned max = 1u + (unsigned)(vq_rand(&rng) % 64u);
            int n = capdrv_virtq_reap(vq, comp, max);
            assert_true(n >= 0 && (unsigned)n <= max);
            for (int j = 0; j < n; j++) {
                uint64_t reqno = VQ_COOKIE_NUM(comp[j].cookie);
                assert_true(reqno < next_req);
                assert_int_equal(count[reqno], 0); /* each cookie exactly once */
                count[reqno] = 1;
                struct shape s;
                shape_of(reqno, size, &s);
                assert_int_equal(comp[j].len, s.done_len);
            }
            completed += (unsigned)n;
            since_disable += (unsigned)n;
            if ((unsigned)n < max) {
                /* Ring empty: wait for an interrupt or keep polling. */
                if (vq_rand(&rng) % 4u == 0) {
                    if (!polling) {
                        assert_int_equal(capdrv_virtq_disable_cb(vq), 0);
                        polling = 1;
                        since_disable = 0;
                    }
                    break;
                }
                polling = 0;
                int e = capdrv_virtq_enable_cb(vq);
                assert_true(e == 0 || e == 1);
                if (e == 0) {
                    sleeping = 1;
                    break;
                }
            }
        }
        if (vq_rand(&rng) % 64u == 0)
            assert_int_equal(capdrv_virtq_verify(vq), 0);
    }

    assert_int_equal(next_req, total);
    for (uint32_t i = 0; i < total; i++)
        assert_int_equal(count[i], 1);
    assert_int_equal(capdrv_virtq_num_free(vq), size);
    assert_int_equal(vq->in_flight, 0);
    assert_int_equal(nheld, 0);
    for (unsigned i = 0; i < size; i++)
        assert_int_equal(dev->busy[i], 0);
    /* Both indices wrapped past 65535 and agree. */
    assert_int_equal(vq_dev_avail_idx(dev), (uint16_t)total);
    assert_int_equal(vq_dev_ring_used_idx(dev), (uint16_t)total);
    assert_int_equal(capdrv_virtq_verify(vq), 0);
    assert_int_equal(capdrv_virtq_error(vq), CAPDRV_VIRTQ_OK);
    struct capdrv_virtq_completion c;
    assert_int_equal(capdrv_virtq_detach(vq, &c, 1), 0);

    free(count);
    free(held);
    vq_fix_free(&f);
}

static void test_wrap_every_size(void **state)
{
    (void)state;
    unsigned k = 0;
    for (unsigned size = 1; size <= CAPDRV_VIRTQ_MAX_SIZE; size <<= 1, k++) {
        /* Each size gets one of the four option sets, each set covers
         * four sizes, small and large. */
        unsigned flags = (k & 1u) ? CAPDRV_VIRTQ_F_EVENT_IDX : 0u;
        unsigned imax = (k & 2u) ? (size < 4u ? size : 4u) : 0u;
        run_wrap(size, flags, imax, 0x9E3779B97F4A7C15ull + k);
    }
}

/* ------------------------------------------------------------------ */
/* Chains                                                             */

static void add_publish_pop(struct vq_fix *f, const struct capdrv_virtq_seg *segs, unsigned n_out,
                            unsigned n_in, void *cookie, struct vq_dev_req *r)
{
    assert_int_equal(capdrv_virtq_add(&f->vq, segs, n_out, n_in, cookie), 0);
    assert_int_equal(capdrv_virtq_publish(&f->vq), 1);
    assert_int_equal(vq_dev_pop(&f->dev, r), 1);
    assert_int_equal(r->nseg, n_out + n_in);
    for (unsigned i = 0; i < n_out + n_in; i++) {
        assert_int_equal(r->seg[i].addr, segs[i].ref);
        assert_int_equal(r->seg[i].len, segs[i].len);
        assert_int_equal(r->seg[i].write, i >= n_out);
    }
}

static void test_chains_mixed(void **state)
{
    (void)state;
    static const struct {
        unsigned out, in;
    } t[] = {{1, 0}, {0, 1}, {1, 1}, {3, 2}, {2, 3}, {5, 0}, {0, 5}, {8, 8}, {16, 0}, {0, 16}, {15, 1}};
    struct vq_fix f;
    vq_fix_init(&f, 16, 0, 0);
    struct capdrv_virtq_seg segs[16];
    for (size_t c = 0; c < sizeof t / sizeof t[0]; c++) {
        unsigned n = t[c].out + t[c].in;
        uint64_t wbytes = 0;
        for (unsigned i = 0; i < n; i++) {
            segs[i].ref = VQ_DATA_REF + 0x1000u * c + 0x40u * i;
            segs[i].len = 100u + 7u * i;
            if (i >= t[c].out)
                wbytes += segs[i].len;
        }
        struct vq_dev_req r;
        add_publish_pop(&f, segs, t[c].out, t[c].in, VQ_COOKIE(c), &r);
        assert_false(r.indirect);
        assert_int_equal(capdrv_virtq_num_free(&f.vq), 16u - n);
        assert_int_equal(r.wbytes, wbytes);
        /* Descriptor-level view: F_NEXT on all but the last, next links
         * as walked, F_WRITE exactly on the writable tail. */
        for (unsigned i = 0; i < n; i++) {
            const unsigned char *e = (const unsigned char *)f.ring + 16u * r.desc[i];
            uint16_t fl = vq_rd16(e + 12);
            assert_int_equal((fl & CAPDRV_VRING_DESC_F_NEXT) != 0, i + 1 < n);
            assert_int_equal((fl & CAPDRV_VRING_DESC_F_WRITE) != 0, i >= t[c].out);
            if (i + 1 < n)
                assert_int_equal(vq_rd16(e + 14), r.desc[i + 1]);
        }
        vq_dev_complete(&f.dev, r.head, (uint32_t)wbytes);
        vq_dev_flush(&f.dev);
        struct capdrv_virtq_completion comp[2];
        assert_int_equal(capdrv_virtq_reap(&f.vq, comp, 2), 1);
        assert_ptr_equal(comp[0].cookie, VQ_COOKIE(c));
        assert_int_equal(comp[0].len, wbytes);
        assert_int_equal(capdrv_virtq_num_free(&f.vq), 16);
    }
    vq_fix_free(&f);
}

/* A chain as long as the Queue Size is allowed; one more is not. */
static void test_chain_queue_size(void **state)
{
    (void)state;
    enum { N = 128 };
    struct vq_fix f;
    vq_fix_init(&f, N, 0, 0);
    struct capdrv_virtq_seg segs[N + 1];
    for (unsigned i = 0; i <= N; i++) {
        segs[i].ref = VQ_DATA_REF + 0x100u * i;
        segs[i].len = 512;
    }
    assert_int_equal(capdrv_virtq_add(&f.vq, segs, N / 2, N / 2 + 1, NULL), -CAPDRV_EINVAL);
    struct vq_dev_req r;
    add_publish_pop(&f, segs, N / 2, N / 2, VQ_COOKIE(7), &r);
    assert_int_equal(capdrv_virtq_num_free(&f.vq), 0);
    vq_dev_complete(&f.dev, r.head, 512u * (N / 2));
    vq_dev_flush(&f.dev);
    struct capdrv_virtq_completion c;
    assert_int_equal(capdrv_virtq_reap(&f.vq, &c, 1), 1);
    assert_int_equal(c.len, 512u * (N / 2));
    assert_int_equal(capdrv_virtq_num_free(&f.vq), N);
    vq_fix_free(&f);
}

/* ------------------------------------------------------------------ */
/* Indirect                                                           */

static void check_indirect(unsigned size, unsigned imax)
{
    struct vq_fix f;
    vq_fix_init(&f, size, 0, imax);
    struct capdrv_virtq_seg segs[8];
    for (unsigned i = 0; i < 8; i++) {
        segs[i].ref = VQ_DATA_REF + 0x200u * i;
        segs[i].len = 64u * (i + 1u);
    }
    for (unsigned nseg = 1; nseg <= size && nseg <= 8; nseg++) {
        for (unsigned out = 0; out <= nseg; out++) {
            struct vq_dev_req r;
            add_publish_pop(&f, segs, out, nseg - out, VQ_COOKIE(nseg), &r);
            int want_ind = nseg >= 2 && nseg <= imax;
            assert_int_equal(r.indirect, want_ind);
            assert_int_equal(capdrv_virtq_num_free(&f.vq), size - (want_ind ? 1u : nseg));
            const unsigned char *hd = (const unsigned char *)f.ring + 16u * r.head;
            if (want_ind) {
                /* The ring descriptor names the head's own table, sized
                 * to the request, with F_INDIRECT alone. */
                assert_int_equal(vq_rd64(hd), VQ_IND_REF + (uint64_t)r.head * imax * 16u);
                assert_int_equal(vq_rd32(hd + 8), 16u * nseg);
                assert_int_equal(vq_rd16(hd + 12), CAPDRV_VRING_DESC_F_INDIRECT);
            } else {
                assert_int_equal(vq_rd16(hd + 12) & CAPDRV_VRING_DESC_F_INDIRECT, 0);
            }
            vq_dev_complete(&f.dev, r.head, (uint32_t)r.wbytes);
            vq_dev_flush(&f.dev);
            struct capdrv_virtq_completion c;
            assert_int_equal(capdrv_virtq_reap(&f.vq, &c, 1), 1);
            assert_ptr_equal(c.cookie, VQ_COOKIE(nseg));
            assert_int_equal(c.len, r.wbytes);
            assert_int_equal(capdrv_virtq_num_free(&f.vq), size);
        }
    }
    vq_fix_free(&f);
}

static void test_indirect(void **state)
{
    (void)state;
    check_indirect(8, 4); /* 1 direct, 2..4 indirect, 5..8 direct chains */
    check_indirect(8, 1); /* a one-entry table is never used */
    check_indirect(4, 4); /* indirect_max == Queue Size */
    check_indirect(2, 2);
    check_indirect(1, 1);
}

/* Indirect requests raise capacity: as many 4-segment requests as
 * descriptors, each in its own table. */
static void test_indirect_fill(void **state)
{
    (void)state;
    enum { N = 16, M = 4 };
    struct vq_fix f;
    vq_fix_init(&f, N, CAPDRV_VIRTQ_F_EVENT_IDX, M);
    struct capdrv_virtq_seg segs[M];
    for (unsigned q = 0; q < N; q++) {
        for (unsigned i = 0; i < M; i++) {
            segs[i].ref = VQ_DATA_REF + 0x10000u * q + 0x100u * i;
            segs[i].len = 32;
        }
        assert_int_equal(capdrv_virtq_add(&f.vq, segs, 2, 2, VQ_COOKIE(q)), 0);
    }
    assert_int_equal(capdrv_virtq_num_free(&f.vq), 0);
    assert_int_equal(capdrv_virtq_add(&f.vq, segs, 2, 2, NULL), -CAPDRV_ENOSPC);
    assert_int_equal(capdrv_virtq_publish(&f.vq), N);
    struct vq_dev_req r;
    unsigned seen = 0;
    while (vq_dev_pop(&f.dev, &r)) {
        assert_true(r.indirect);
        assert_int_equal(r.nseg, M);
        assert_int_equal(r.seg[0].addr, VQ_DATA_REF + 0x10000u * seen);
        vq_dev_complete(&f.dev, r.head, 64);
        seen++;
    }
    assert_int_equal(seen, N);
    vq_dev_flush(&f.dev);
    struct capdrv_virtq_completion c[N];
    assert_int_equal(capdrv_virtq_reap(&f.vq, c, N), N);
    for (unsigned q = 0; q < N; q++) {
        assert_ptr_equal(c[q].cookie, VQ_COOKIE(q));
        assert_int_equal(c[q].len, 64);
    }
    assert_int_equal(capdrv_virtq_num_free(&f.vq), N);
    vq_fix_free(&f);
}

/* ------------------------------------------------------------------ */
/* Running out of descriptors                                         */

static void test_enospc_then_reap(void **state)
{
    (void)state;
    enum { N = 8 };
    struct vq_fix f;
    vq_fix_init(&f, N, 0, 0);
    struct capdrv_virtq_seg s[3] = {{VQ_DATA_REF, 16}, {VQ_DATA_REF + 0x100, 16}, {VQ_DATA_REF + 0x200, 16}};
    for (unsigned i = 0; i < N; i++)
        assert_int_equal(capdrv_virtq_add(&f.vq, s, 1, 0, VQ_COOKIE(i)), 0);
    assert_int_equal(capdrv_virtq_num_free(&f.vq), 0);
    unsigned char before[512];
    size_t rl = f.lay.total_len < sizeof before ? f.lay.total_len : sizeof before;
    memcpy(before, f.ring, rl);
    assert_int_equal(capdrv_virtq_add(&f.vq, s, 1, 0, NULL), -CAPDRV_ENOSPC);
    assert_int_equal(capdrv_virtq_add(&f.vq, s, 0, 3, NULL), -CAPDRV_ENOSPC);
    assert_memory_equal(before, f.ring, rl); /* a refused add writes nothing */
    assert_int_equal(capdrv_virtq_publish(&f.vq), N);

    /* The device completes two; after reaping, a 2-segment request fits
     * but a 3-segment one does not. */
    struct vq_dev_req r;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(vq_dev_pop(&f.dev, &r), 1);
        vq_dev_complete(&f.dev, r.head, 0);
    }
    vq_dev_flush(&f.dev);
    assert_int_equal(capdrv_virtq_add(&f.vq, s, 1, 1, NULL), -CAPDRV_ENOSPC);
    struct capdrv_virtq_completion c[4];
    assert_int_equal(capdrv_virtq_reap(&f.vq, c, 4), 2);
    assert_ptr_equal(c[0].cookie, VQ_COOKIE(0));
    assert_ptr_equal(c[1].cookie, VQ_COOKIE(1));
    assert_int_equal(capdrv_virtq_num_free(&f.vq), 2);
    assert_int_equal(capdrv_virtq_add(&f.vq, s, 0, 3, NULL), -CAPDRV_ENOSPC);
    assert_int_equal(capdrv_virtq_add(&f.vq, s, 1, 1, VQ_COOKIE(100)), 0);
    assert_int_equal(capdrv_virtq_num_free(&f.vq), 0);
    assert_int_equal(capdrv_virtq_publish(&f.vq), 1);
    while (vq_dev_pop(&f.dev, &r))
        ;
    assert_int_equal(capdrv_virtq_error(&f.vq), CAPDRV_VIRTQ_OK);
    vq_fix_free(&f);
}

/* ------------------------------------------------------------------ */
/* Detach                                                             */

static void test_detach_after_partial(void **state)
{
    (void)state;
    enum { N = 16 };
    struct vq_fix f;
    vq_fix_init(&f, N, CAPDRV_VIRTQ_F_EVENT_IDX, 4);
    struct capdrv_virtq_seg s[3] = {{VQ_DATA_REF, 16}, {VQ_DATA_REF + 0x100, 16}, {VQ_DATA_REF + 0x200, 16}};
    /* 6 published (mixed direct/indirect), 2 more added but unpublished. */
    for (unsigned i = 0; i < 6; i++)
        assert_int_equal(capdrv_virtq_add(&f.vq, s, 1, 1 + (i % 2), VQ_COOKIE(i)), 0);
    assert_int_equal(capdrv_virtq_publish(&f.vq), 6);
    assert_int_equal(capdrv_virtq_add(&f.vq, s, 1, 0, VQ_COOKIE(6)), 0);
    assert_int_equal(capdrv_virtq_add(&f.vq, s, 3, 0, VQ_COOKIE(7)), 0);

    /* The device takes 4, completes the 2nd and 4th. */
    struct vq_dev_req r[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(vq_dev_pop(&f.dev, &r[i]), 1);
    vq_dev_complete(&f.dev, r[1].head, 16);
    vq_dev_complete(&f.dev, r[3].head, 32);
    vq_dev_flush(&f.dev);
    struct capdrv_virtq_completion c[8];
    assert_int_equal(capdrv_virtq_reap(&f.vq, c, 8), 2);
    unsigned seen[8] = {0};
    for (int i = 0; i < 2; i++)
        seen[VQ_COOKIE_NUM(c[i].cookie)]++;
    assert_int_equal(seen[1], 1);
    assert_int_equal(seen[3], 1);

    /* Reset happened: take back the rest, one at a time. */
    int n;
    unsigned got = 0;
    while ((n = capdrv_virtq_detach(&f.vq, c, 1)) > 0) {
        assert_int_equal(n, 1);
        assert_int_equal(c[0].len, 0);
        seen[VQ_COOKIE_NUM(c[0].cookie)]++;
        got++;
    }
    assert_int_equal(n, 0);
    assert_int_equal(got, 6);
    for (int i = 0; i < 8; i++)
        assert_int_equal(seen[i], 1);
    assert_int_equal(capdrv_virtq_num_free(&f.vq), N);
    assert_int_equal(capdrv_virtq_detach(&f.vq, c, 8), 0);
    assert_int_equal(capdrv_virtq_detach(&f.vq, NULL, 0), 0);
    /* The unpublished requests are gone too: nothing left to publish. */
    uint16_t idx = vq_dev_avail_idx(&f.dev);
    assert_int_equal(capdrv_virtq_publish(&f.vq), 0);
    assert_int_equal(vq_dev_avail_idx(&f.dev), idx);

    /* Re-initialised, the memory works again. */
    assert_int_equal(capdrv_virtq_init(&f.vq, &f.cfg), 0);
    f.dev.last_avail = 0;
    f.dev.used_idx = 0;
    memset(f.dev.busy, 0, N);
    memset(f.dev.hd_n, 0, N * sizeof *f.dev.hd_n);
    struct vq_dev_req rr;
    add_publish_pop(&f, s, 2, 1, VQ_COOKIE(9), &rr);
    vq_dev_complete(&f.dev, rr.head, 16);
    vq_dev_flush(&f.dev);
    assert_int_equal(capdrv_virtq_reap(&f.vq, c, 8), 1);
    assert_ptr_equal(c[0].cookie, VQ_COOKIE(9));
    vq_fix_free(&f);
}

/* Detach in big gulps on a full large queue returns every cookie once. */
static void test_detach_full(void **state)
{
    (void)state;
    enum { N = 1024 };
    struct vq_fix f;
    vq_fix_init(&f, N, 0, 0);
    struct capdrv_virtq_seg s = {VQ_DATA_REF, 8};
    for (unsigned i = 0; i < N; i++) {
        assert_int_equal(capdrv_virtq_add(&f.vq, &s, 0, 1, VQ_COOKIE(i)), 0);
        if (i % 3 == 0)
            assert_true(capdrv_virtq_publish(&f.vq) >= 0);
    }
    unsigned char *seen = calloc(N, 1);
    struct capdrv_virtq_completion c[100];
    int n;
    unsigned got = 0;
    while ((n = capdrv_virtq_detach(&f.vq, c, 100)) > 0) {
        for (int i = 0; i < n; i++) {
            uint64_t k = VQ_COOKIE_NUM(c[i].cookie);
            assert_true(k < N);
            assert_int_equal(seen[k], 0);
            seen[k] = 1;
        }
        got += (unsigned)n;
    }
    assert_int_equal(got, N);
    assert_int_equal(capdrv_virtq_num_free(&f.vq), N);
    free(seen);
    vq_fix_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wrap_every_size),
        cmocka_unit_test(test_chains_mixed),
        cmocka_unit_test(test_chain_queue_size),
        cmocka_unit_test(test_indirect),
        cmocka_unit_test(test_indirect_fill),
        cmocka_unit_test(test_enospc_then_reap),
        cmocka_unit_test(test_detach_after_partial),
        cmocka_unit_test(test_detach_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
