/* The virtio-blk driver (src/virtio/blk.c, blk_io.c) against the fake
 * function of fake_vdev.h: bring-up, configuration, request building for
 * every type, batching, status bytes, hostile completions, interrupts
 * (VIRTIO 1.2 §5.2). End-to-end runs over the sim device and the shim are
 * in test_virtio_blk_sim.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <capdrv/virtio_blk.h>

#include "fake_vdev.h"

#define BLK_ALL                                                                              \
    ((1ull << CAPDRV_VIRTIO_BLK_F_SEG_MAX) | (1ull << CAPDRV_VIRTIO_BLK_F_BLK_SIZE) |         \
     (1ull << CAPDRV_VIRTIO_BLK_F_FLUSH) | (1ull << CAPDRV_VIRTIO_BLK_F_MQ) |                 \
     (1ull << CAPDRV_VIRTIO_BLK_F_DISCARD) | (1ull << CAPDRV_VIRTIO_BLK_F_WRITE_ZEROES) |     \
     (1ull << CAPDRV_VIRTIO_F_INDIRECT_DESC) | (1ull << CAPDRV_VIRTIO_F_EVENT_IDX))

struct bt {
    struct fv *f;
    struct capdrv_virtio_blk *blk;
    capdrv_cap_t data;
    struct capdrv_dmabuf_info di;
    char why[256];
};

static int bt_open(struct bt *t, uint64_t dev_features, int lane, const struct capdrv_virtio_blk_opts *o)
{
    memset(t, 0, sizeof *t);
    t->f = malloc(sizeof *t->f);
    assert_non_null(t->f);
    fv_init(t->f, dev_features, lane);
    struct capdrv_virtio_blk_opts def = {.pool = FV_POOL};
    int rc = capdrv_virtio_blk_open(fv_sys(t->f), FV_GRANT, o ? o : &def, &t->blk, t->why,
                                    sizeof t->why);
    if (rc == 0)
        assert_int_equal(capdrv_dma_alloc(fv_sys(t->f), FV_POOL, 65536, &t->data, &t->di), 0);
    return rc;
}

static void bt_close(struct bt *t)
{
    capdrv_virtio_blk_close(t->blk);
    /* Everything the driver allocated went back (only the test's data
     * buffer is left), and the device was reset. */
    size_t data = t->data ? t->di.size : 0;
    assert_int_equal(t->f->pool_used, data);
    assert_int_equal(t->f->status, 0);
    for (unsigned w = 0; w < FV_MAX_WINDOWS; w++)
        assert_false(t->f->mmio_open[w]);
    for (unsigned v = 0; v < 8; v++)
        assert_false(t->f->irq_open[v]);
    assert_int_equal(t->f->bad_accesses, 0);
    fv_fini(t->f);
    free(t->f);
}

static struct capdrv_virtq_seg seg(struct bt *t, size_t off, uint32_t len)
{
    return (struct capdrv_virtq_seg){capdrv_dma_ref(&t->di, off), len};
}

/* Submit one request and reap it by polling; returns its status. */
static int one(struct bt *t, unsigned q, struct capdrv_virtio_blk_req *r, uint32_t *len)
{
    assert_int_equal(capdrv_virtio_blk_submit(t->blk, q, r, 1), 1);
    struct capdrv_virtio_blk_done d;
    assert_int_equal(capdrv_virtio_blk_reap(t->blk, q, &d, 1), 1);
    assert_ptr_equal(d.cookie, r->cookie);
    if (len)
        *len = d.len;
    return d.status;
}

static void t_open_info(void **state)
{
    (void)state;
    struct bt t;
    assert_int_equal(bt_open(&t, BLK_ALL, CAPDRV_LANE_DIRECT, NULL), 0);
    struct capdrv_virtio_blk_info in;
    assert_int_equal(capdrv_virtio_blk_info(t.blk, &in), 0);
    assert_int_equal(in.capacity, FV_DISK_SECTORS);
    assert_int_equal(in.blk_size, 4096);
    assert_int_equal(in.seg_max, 16);
    assert_int_equal(in.max_discard_sectors, 256);
    assert_int_equal(in.max_write_zeroes_sectors, 512);
    assert_int_equal(in.num_queues, 1);
    assert_int_equal(in.queue_size, 64); /* the device's maximum < 256 */
    assert_int_equal(in.features, BLK_ALL | (1ull << 32) | (1ull << 33));
    assert_int_equal(in.lane, CAPDRV_LANE_DIRECT);
    assert_int_equal(in.irq, 0);
    assert_int_equal(t.f->status, 0xf); /* DRIVER_OK */
    assert_int_equal(t.f->q[0].enable, 1);
    assert_int_equal(t.f->q[0].vector, 0xffff); /* polling: no vector */
    assert_int_equal(t.f->q[1].enable, 0);
    assert_int_equal(capdrv_virtio_blk_check(t.blk), 0);
    bt_close(&t);
}

static void t_minimal_device(void **state)
{
    (void)state;
    /* Nothing but VERSION_1 (and ACCESS_PLATFORM): defaults apply, and no
     * field of an unnegotiated feature is read (§5.2.4). */
    struct bt t;
    assert_int_equal(bt_open(&t, 0, CAPDRV_LANE_BROKERED, NULL), 0);
    struct capdrv_virtio_blk_info in;
    assert_int_equal(capdrv_virtio_blk_info(t.blk, &in), 0);
    assert_int_equal(in.blk_size, 512);
    assert_int_equal(in.seg_max, CAPDRV_VIRTIO_BLK_MAX_SEGS);
    assert_int_equal(in.max_discard_sectors, 0);
    assert_int_equal(in.features, (1ull << 32) | (1ull << 33));
    struct capdrv_virtio_blk_req r = {.type = CAPDRV_VIRTIO_BLK_T_FLUSH, .cookie = &r};
    assert_int_equal(capdrv_virtio_blk_submit(t.blk, 0, &r, 1), -CAPDRV_ENOTSUP);
    r.type = CAPDRV_VIRTIO_BLK_T_DISCARD;
    r.num_sectors = 1;
    assert_int_equal(capdrv_virtio_blk_submit(t.blk, 0, &r, 1), -CAPDRV_ENOTSUP);
    r.type = CAPDRV_VIRTIO_BLK_T_WRITE_ZEROES;
    assert_int_equal(capdrv_virtio_blk_submit(t.blk, 0, &r, 1), -CAPDRV_ENOTSUP);
    /* A write still works with direct descriptors. */
    memset(t.di.cpu, 0x3c, 1024);
    struct capdrv_virtq_seg s[2] = {seg(&t, 0, 512), seg(&t, 512, 512)};
    struct capdrv_virtio_blk_req w = {.type = CAPDRV_VIRTIO_BLK_T_OUT, .sector = 7, .segs = s,
                                      .n_segs = 2, .cookie = &w};
    assert_int_equal(one(&t, 0, &w, NULL), 0);
    assert_int_equal(t.f->disk[7 * 512], 0x3c);
    assert_int_equal(t.f->disk[9 * 512 - 1], 0x3c);
    assert_int_equal(t.f->disk[9 * 512], 0);
    bt_close(&t);
}

static void t_roundtrip_batch(void **state)
{
    (void)state;
    struct bt t;
    struct capdrv_virtio_blk_opts o = {.pool = FV_POOL, .num_queues = 8, .queue_size = 16};
    assert_int_equal(bt_open(&t, BLK_ALL, CAPDRV_LANE_DIRECT, &o), 0);
    struct capdrv_virtio_blk_info in;
    assert_int_equal(capdrv_virtio_blk_info(t.blk, &in), 0);
    assert_int_equal(in.num_queues, 2); /* device config num_queues */
    assert_int_equal(in.queue_size, 16);
    uint8_t *p = t.di.cpu;
    for (unsigned i = 0; i < 32768; i++)
        p[i] = (uint8_t)(i * 13 + i / 512);
    /* 8 writes of 4 KiB in one batch on queue 1: one doorbell. */
    struct capdrv_virtq_seg s[8];
    struct capdrv_virtio_blk_req r[8];
    for (unsigned i = 0; i < 8; i++) {
        s[i] = seg(&t, 4096 * i, 4096);
        r[i] = (struct capdrv_virtio_blk_req){.type = CAPDRV_VIRTIO_BLK_T_OUT, .sector = 100 + 8 * i,
                                              .segs = &s[i], .n_segs = 1, .cookie = &r[i]};
    }
    unsigned before = t.f->q[1].notifies;
    assert_int_equal(capdrv_virtio_blk_submit(t.blk, 1, r, 8), 8);
    assert_int_equal(t.f->q[1].notifies, before + 1);
    assert_int_equal(capdrv_virtio_blk_inflight(t.blk, 1), 8);
    struct capdrv_virtio_blk_done d[16];
    assert_int_equal(capdrv_virtio_blk_reap(t.blk, 1, d, 16), 8);
    for (unsigned i = 0; i < 8; i++) {
        assert_ptr_equal(d[i].cookie, &r[i]);
        assert_int_equal(d[i].status, 0);
    }
    assert_int_equal(capdrv_virtio_blk_inflight(t.blk, 1), 0);
    assert_memory_equal(t.f->disk + 100 * 512, p, 32768);
    /* Read back into the second half with 4 segments per request
     * (indirect tables), two requests. */
    struct capdrv_virtq_seg rs[2][4];
    for (unsigned i = 0; i < 2; i++) {
        for (unsigned k = 0; k < 4; k++)
            rs[i][k] = seg(&t, 32768 + 16384 * i + 4096 * k, 4096);
        r[i] = (struct capdrv_virtio_blk_req){.type = CAPDRV_VIRTIO_BLK_T_IN, .sector = 100 + 32 * i,
                                              .segs = rs[i], .n_segs = 4, .cookie = &r[i]};
    }
    assert_int_equal(capdrv_virtio_blk_submit(t.blk, 0, r, 2), 2);
    assert_int_equal(capdrv_virtio_blk_reap(t.blk, 0, d, 16), 2);
    assert_int_equal(d[0].status, 0);
    assert_int_equal(d[0].len, 16384);
    assert_memory_equal(p + 32768, p, 32768);
    bt_close(&t);
}

static void t_queue_full(void **state)
{
    (void)state;
    struct bt t;
    struct capdrv_virtio_blk_opts o = {.pool = FV_POOL, .queue_size = 8,
                                       .features = 1ull << CAPDRV_VIRTIO_BLK_F_FLUSH};
    assert_int_equal(bt_open(&t, BLK_ALL, CAPDRV_LANE_DIRECT, &o), 0);
    t.f->manual = true;
    /* FLUSH takes 2 descriptors without indirect: 4 fit in 8. */
    struct capdrv_virtio_blk_req r[6];
    for (unsigned i = 0; i < 6; i++)
        r[i] = (struct capdrv_virtio_blk_req){.type = CAPDRV_VIRTIO_BLK_T_FLUSH, .cookie = &r[i]};
    assert_int_equal(capdrv_virtio_blk_submit(t.blk, 0, r, 6), 4);
    assert_int_equal(capdrv_virtio_blk_submit(t.blk, 0, r + 4, 2), 0);
    struct capdrv_virtio_blk_done d[8];
    assert_int_equal(capdrv_virtio_blk_reap(t.blk, 0, d, 8), 0);
    fv_serve(t.f);
    assert_int_equal(capdrv_virtio_blk_reap(t.blk, 0, d, 3), 3);
    assert_int_equal(capdrv_virtio_blk_reap(t.blk, 0, d + 3, 8), 1);
    for (unsigned i = 0; i < 4; i++) {
        assert_ptr_equal(d[i].cookie, &r[i]);
        assert_int_equal(d[i].status, 0);
    }
    assert_int_equal(t.f->last_type, CAPDRV_VIRTIO_BLK_T_FLUSH);
    assert_int_equal(capdrv_virtio_blk_submit(t.blk, 0, r + 4, 2), 2);
    bt_close(&t);
}

static void t_other_commands(void **state)
{
    (void)state;
    struct bt t;
    assert_int_equal(bt_open(&t, BLK_ALL, CAPDRV_LANE_DIRECT, NULL), 0);
    memset(t.f->disk, 0xaa, 64 * 512);
    /* GET_ID: 20 bytes into a device-writable segment. */
    struct capdrv_virtq_seg s = seg(&t, 0, 20);
    struct capdrv_virtio_blk_req r = {.type = CAPDRV_VIRTIO_BLK_T_GET_ID, .segs = &s, .n_segs = 1,
                                      .cookie = &r};
    uint32_t len;
    assert_int_equal(one(&t, 0, &r, &len), 0);
    assert_int_equal(len, 20);
    assert_memory_equal(t.di.cpu, "fake-virtio-blk-0001", 20);
    /* WRITE_ZEROES with unmap, then DISCARD; ranges travel in the request. */
    r = (struct capdrv_virtio_blk_req){.type = CAPDRV_VIRTIO_BLK_T_WRITE_ZEROES, .sector = 4,
                                       .num_sectors = 8, .flags = CAPDRV_VIRTIO_BLK_WZ_UNMAP,
                                       .cookie = &r};
    assert_int_equal(one(&t, 0, &r, NULL), 0);
    assert_int_equal(t.f->disk[4 * 512 - 1], 0xaa);
    assert_int_equal(t.f->disk[4 * 512], 0);
    assert_int_equal(t.f->disk[12 * 512 - 1], 0);
    assert_int_equal(t.f->disk[12 * 512], 0xaa);
    r.type = CAPDRV_VIRTIO_BLK_T_DISCARD;
    r.flags = 0;
    assert_int_equal(one(&t, 0, &r, NULL), 0);
    assert_int_equal(t.f->last_type, CAPDRV_VIRTIO_BLK_T_DISCARD);
    r.type = CAPDRV_VIRTIO_BLK_T_FLUSH;
    r.sector = r.num_sectors = 0;
    assert_int_equal(one(&t, 0, &r, NULL), 0);
    bt_close(&t);
}

static void t_checks(void **state)
{
    (void)state;
    struct bt t;
    assert_int_equal(bt_open(&t, BLK_ALL, CAPDRV_LANE_DIRECT, NULL), 0);
    struct capdrv_virtq_seg s[20];
    for (unsigned i = 0; i < 20; i++)
        s[i] = seg(&t, 512 * i, 512);
    struct capdrv_virtio_blk_req ok = {.type = CAPDRV_VIRTIO_BLK_T_IN, .segs = s, .n_segs = 1};
    struct capdrv_virtio_blk_req r;
    unsigned requests = t.f->requests;
#define EXPECT(rc, ...)                                                       \
    do {                                                                      \
        r = ok;                                                               \
        __VA_ARGS__;                                                          \
        assert_int_equal(capdrv_virtio_blk_submit(t.blk, 0, &r, 1), rc);     \
    } while (0)
    EXPECT(-CAPDRV_EINVAL, s[0].len = 500);                      /* not 512-multiple */
    s[0].len = 512;
    EXPECT(-CAPDRV_EINVAL, r.n_segs = 0);                        /* no data */
    EXPECT(-CAPDRV_EINVAL, r.n_segs = 17);                       /* > seg_max 16 */
    EXPECT(-CAPDRV_EINVAL, r.segs = NULL);
    EXPECT(-CAPDRV_EINVAL, r.flags = 1);
    EXPECT(-CAPDRV_ERANGE, r.sector = FV_DISK_SECTORS);          /* past the end */
    EXPECT(-CAPDRV_ERANGE, r.sector = UINT64_MAX);               /* no wrap */
    EXPECT(-CAPDRV_EINVAL, r.type = 99);
    EXPECT(-CAPDRV_EINVAL, r.type = CAPDRV_VIRTIO_BLK_T_FLUSH);  /* data on flush */
    EXPECT(-CAPDRV_EINVAL, r.type = CAPDRV_VIRTIO_BLK_T_FLUSH; r.n_segs = 0; r.sector = 1);
    EXPECT(-CAPDRV_EINVAL, r.type = CAPDRV_VIRTIO_BLK_T_GET_ID; s[0].len = 19);
    /* header + data + status must stay under 2^32 bytes (§2.7.5.2) */
    EXPECT(-CAPDRV_EINVAL, r.type = CAPDRV_VIRTIO_BLK_T_GET_ID; s[0].len = UINT32_MAX - 20);
    s[0].len = 512;
    EXPECT(-CAPDRV_EINVAL, r.type = CAPDRV_VIRTIO_BLK_T_DISCARD; r.num_sectors = 1);
    EXPECT(-CAPDRV_EINVAL, r.type = CAPDRV_VIRTIO_BLK_T_DISCARD; r.n_segs = 0);
    EXPECT(-CAPDRV_EINVAL, r.type = CAPDRV_VIRTIO_BLK_T_DISCARD; r.n_segs = 0; r.num_sectors = 1;
           r.flags = CAPDRV_VIRTIO_BLK_WZ_UNMAP);                /* unmap only for WZ */
    EXPECT(-CAPDRV_ERANGE, r.type = CAPDRV_VIRTIO_BLK_T_DISCARD; r.n_segs = 0; r.num_sectors = 257);
    EXPECT(-CAPDRV_ERANGE, r.type = CAPDRV_VIRTIO_BLK_T_WRITE_ZEROES; r.n_segs = 0;
           r.num_sectors = 8; r.sector = FV_DISK_SECTORS - 4);
    EXPECT(-CAPDRV_EINVAL, r.type = CAPDRV_VIRTIO_BLK_T_WRITE_ZEROES; r.n_segs = 0;
           r.num_sectors = 8; r.flags = 2);
#undef EXPECT
    /* One bad request in a batch: nothing is submitted. */
    struct capdrv_virtio_blk_req b[2] = {ok, ok};
    b[1].sector = FV_DISK_SECTORS;
    assert_int_equal(capdrv_virtio_blk_submit(t.blk, 0, b, 2), -CAPDRV_ERANGE);
    assert_int_equal(capdrv_virtio_blk_inflight(t.blk, 0), 0);
    assert_int_equal(t.f->requests, requests);
    assert_int_equal(capdrv_virtio_blk_submit(t.blk, 1, &ok, 1), -CAPDRV_EINVAL); /* 1 queue */
    assert_int_equal(capdrv_virtio_blk_submit(t.blk, 0, NULL, 1), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_virtio_blk_submit(t.blk, 0, &ok, 0), 0);
    assert_int_equal(capdrv_virtio_blk_reap(t.blk, 0, NULL, 1), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_virtio_blk_wait(t.blk, 0, 0), -CAPDRV_ENOTSUP); /* polling handle */
    bt_close(&t);
}

static void t_status_bytes(void **state)
{
    (void)state;
    struct bt t;
    assert_int_equal(bt_open(&t, BLK_ALL, CAPDRV_LANE_DIRECT, NULL), 0);
    struct capdrv_virtq_seg s = seg(&t, 0, 512);
    struct capdrv_virtio_blk_req r = {.type = CAPDRV_VIRTIO_BLK_T_IN, .segs = &s, .n_segs = 1,
                                      .cookie = &r};
    t.f->status_override = CAPDRV_VIRTIO_BLK_S_IOERR;
    assert_int_equal(one(&t, 0, &r, NULL), -CAPDRV_EIO);
    t.f->status_override = CAPDRV_VIRTIO_BLK_S_UNSUPP;
    assert_int_equal(one(&t, 0, &r, NULL), -CAPDRV_ENOTSUP);
    t.f->status_override = 7; /* not a status */
    assert_int_equal(one(&t, 0, &r, NULL), -CAPDRV_EPROTO);
    t.f->status_override = -1;
    /* "Success" with a used len that does not cover the status byte, or
     * none at all: the data cannot be trusted (§2.7.8). */
    t.f->len_override = 512;
    assert_int_equal(one(&t, 0, &r, NULL), -CAPDRV_EPROTO);
    t.f->len_override = 0;
    assert_int_equal(one(&t, 0, &r, NULL), -CAPDRV_EPROTO);
    t.f->len_override = -1;
    assert_int_equal(one(&t, 0, &r, NULL), 0);
    /* The queue survives per-request errors. */
    assert_int_equal(capdrv_virtio_blk_inflight(t.blk, 0), 0);
    bt_close(&t);
}

static void t_broken_ring(void **state)
{
    (void)state;
    struct bt t;
    assert_int_equal(bt_open(&t, BLK_ALL, CAPDRV_LANE_DIRECT, NULL), 0);
    struct capdrv_virtq_seg s = seg(&t, 0, 512);
    struct capdrv_virtio_blk_req r = {.type = CAPDRV_VIRTIO_BLK_T_IN, .segs = &s, .n_segs = 1,
                                      .cookie = &r};
    t.f->corrupt_used_id = true;
    assert_int_equal(capdrv_virtio_blk_submit(t.blk, 0, &r, 1), 1);
    struct capdrv_virtio_blk_done d;
    assert_int_equal(capdrv_virtio_blk_reap(t.blk, 0, &d, 1), -CAPDRV_EPROTO);
    assert_int_equal(capdrv_virtio_blk_reap(t.blk, 0, &d, 1), -CAPDRV_EPROTO);
    assert_int_equal(capdrv_virtio_blk_submit(t.blk, 0, &r, 1), -CAPDRV_EPROTO);
    bt_close(&t); /* reset, then free: still clean */
}

/* Cancel: every request in flight comes back exactly once, over every
 * queue, after the device was reset; the handle refuses further I/O. */
static void cancel_all(struct bt *t, struct capdrv_virtio_blk_req *r, unsigned n)
{
    unsigned seen[16] = {0};
    struct capdrv_virtio_blk_done d[2];
    unsigned total = 0;
    int got;
    /* Small batches: the scan resumes where it stopped. */
    while ((got = capdrv_virtio_blk_cancel(t->blk, d, 2)) > 0) {
        for (int i = 0; i < got; i++) {
            assert_int_equal(d[i].status, -CAPDRV_ECANCELED);
            assert_int_equal(d[i].len, 0);
            struct capdrv_virtio_blk_req *q = d[i].cookie;
            assert_true(q >= r && q < r + n);
            seen[q - r]++;
        }
        total += (unsigned)got;
    }
    assert_int_equal(got, 0);
    assert_int_equal(total, n);
    for (unsigned i = 0; i < n; i++)
        assert_int_equal(seen[i], 1);
    assert_int_equal(capdrv_virtio_blk_cancel(t->blk, d, 2), 0);
    for (unsigned q = 0; q < 2; q++)
        assert_int_equal(capdrv_virtio_blk_inflight(t->blk, q), 0);
    assert_int_equal(capdrv_virtio_blk_submit(t->blk, 0, r, 1), -CAPDRV_ECANCELED);
    assert_int_equal(capdrv_virtio_blk_reap(t->blk, 0, d, 1), -CAPDRV_ECANCELED);
}

static void t_cancel(void **state)
{
    (void)state;
    struct bt t;
    struct capdrv_virtio_blk_opts o = {.pool = FV_POOL, .num_queues = 2};
    assert_int_equal(bt_open(&t, BLK_ALL, CAPDRV_LANE_DIRECT, &o), 0);
    t.f->manual = true; /* the device holds every request */
    struct capdrv_virtio_blk_req r[5];
    for (unsigned i = 0; i < 5; i++)
        r[i] = (struct capdrv_virtio_blk_req){.type = CAPDRV_VIRTIO_BLK_T_FLUSH, .cookie = &r[i]};
    assert_int_equal(capdrv_virtio_blk_submit(t.blk, 0, r, 3), 3);
    assert_int_equal(capdrv_virtio_blk_submit(t.blk, 1, r + 3, 2), 2);
    struct capdrv_virtio_blk_done d;
    assert_int_equal(capdrv_virtio_blk_reap(t.blk, 0, &d, 1), 0);
    unsigned writes = t.f->status_writes;
    assert_int_equal(capdrv_virtio_blk_cancel(NULL, &d, 1), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_virtio_blk_cancel(t.blk, NULL, 1), -CAPDRV_EINVAL);
    cancel_all(&t, r, 5);
    /* The reset came first: status written to 0 before anything returned. */
    assert_true(t.f->status_writes > writes);
    assert_int_equal(t.f->status, 0);
    bt_close(&t);

    /* A queue the device broke still gives its requests back. */
    assert_int_equal(bt_open(&t, BLK_ALL, CAPDRV_LANE_DIRECT, &o), 0);
    t.f->corrupt_used_id = true;
    assert_int_equal(capdrv_virtio_blk_submit(t.blk, 0, r, 2), 2);
    assert_int_equal(capdrv_virtio_blk_reap(t.blk, 0, &d, 1), -CAPDRV_EPROTO);
    cancel_all(&t, r, 2);
    bt_close(&t);

    /* A reset that never completes: the requests still come back. */
    assert_int_equal(bt_open(&t, BLK_ALL, CAPDRV_LANE_DIRECT, &o), 0);
    t.f->manual = true;
    assert_int_equal(capdrv_virtio_blk_submit(t.blk, 1, r, 1), 1);
    t.f->reset_stuck = true;
    cancel_all(&t, r, 1);
    t.f->reset_stuck = false;
    bt_close(&t);
}

static void t_interrupts(void **state)
{
    (void)state;
    struct bt t;
    struct capdrv_virtio_blk_opts o = {.pool = FV_POOL, .num_queues = 2, .irq = 1};
    assert_int_equal(bt_open(&t, BLK_ALL, CAPDRV_LANE_DIRECT, &o), 0);
    assert_int_equal(t.f->config_vector, 0);
    assert_int_equal(t.f->q[0].vector, 1);
    assert_int_equal(t.f->q[1].vector, 2);
    assert_true(t.f->irq_open[0] && t.f->irq_open[1] && t.f->irq_open[2]);
    t.f->manual = true;
    struct capdrv_virtq_seg s = seg(&t, 0, 4096);
    struct capdrv_virtio_blk_req r = {.type = CAPDRV_VIRTIO_BLK_T_OUT, .segs = &s, .n_segs = 1,
                                      .cookie = &r};
    assert_int_equal(capdrv_virtio_blk_submit(t.blk, 1, &r, 1), 1);
    /* Nothing done yet: the wait times out (the fake has no clock). */
    assert_int_equal(capdrv_virtio_blk_wait(t.blk, 1, 1000), -CAPDRV_ETIMEDOUT);
    fv_serve(t.f);
    assert_int_equal(t.f->irq_pending, 1ull << 2);
    /* Completions already pending: the re-check after arming (§2.7.14)
     * says so without waiting. */
    assert_int_equal(capdrv_virtio_blk_wait(t.blk, 1, -1), 1);
    struct capdrv_virtio_blk_done d;
    assert_int_equal(capdrv_virtio_blk_reap(t.blk, 1, &d, 1), 1);
    assert_int_equal(d.status, 0);
    /* Armed with nothing pending: the wait goes to the interrupt and
     * acknowledges it. */
    assert_int_equal(capdrv_virtio_blk_wait(t.blk, 1, -1), 1);
    assert_int_equal(t.f->irq_pending, 0);
    assert_int_equal(capdrv_virtio_blk_reap(t.blk, 1, &d, 1), 0);
    assert_int_equal(capdrv_virtio_blk_wait(t.blk, 1, 0), -CAPDRV_ETIMEDOUT);
    /* A configuration interrupt with DEVICE_NEEDS_RESET (§2.1.2). */
    t.f->needs_reset = true;
    t.f->irq_pending = 1;
    assert_int_equal(capdrv_virtio_blk_wait(t.blk, 0, -1), -CAPDRV_EIO);
    assert_int_equal(capdrv_virtio_blk_check(t.blk), -CAPDRV_EIO);
    t.f->needs_reset = false;
    bt_close(&t);
}

/* A device that rewrites an available ring entry it has consumed (the
 * driver area is the driver's alone, VIRTIO 1.2 §2.7.6) is caught by the
 * audit the driver runs once per Queue Size completions. */
static void t_avail_audit(void **state)
{
    (void)state;
    struct bt t;
    assert_int_equal(bt_open(&t, BLK_ALL, CAPDRV_LANE_DIRECT, NULL), 0);
    struct capdrv_virtio_blk_info in;
    assert_int_equal(capdrv_virtio_blk_info(t.blk, &in), 0);
    struct capdrv_virtio_blk_req r = {.type = CAPDRV_VIRTIO_BLK_T_FLUSH, .cookie = &r};
    /* Untouched, three times around the ring: no fault. */
    for (unsigned i = 0; i < 3 * in.queue_size; i++)
        assert_int_equal(one(&t, 0, &r, NULL), 0);
    /* After the first request of the next lap the device rewrites the
     * entry that request used (position 0); the driver reuses it only one
     * lap later, after the audit. */
    uint8_t *ring0 = fv_ref(t.f, t.f->q[0].driver + 4, 2);
    assert_non_null(ring0);
    assert_int_equal(one(&t, 0, &r, NULL), 0);
    ring0[0] ^= 1;
    for (unsigned i = 1; i < in.queue_size; i++)
        assert_int_equal(one(&t, 0, &r, NULL), 0); /* the last reap runs the audit */
    struct capdrv_virtio_blk_done d;
    assert_int_equal(capdrv_virtio_blk_submit(t.blk, 0, &r, 1), -CAPDRV_EPROTO);
    assert_int_equal(capdrv_virtio_blk_reap(t.blk, 0, &d, 1), -CAPDRV_EPROTO);
    assert_int_equal(capdrv_virtio_blk_cancel(t.blk, &d, 1), 0); /* nothing was in flight */
    bt_close(&t);
}

/* A transitional block device (1af4:1001, VIRTIO 1.2 §4.1.2.1) with the
 * modern capabilities is driven like a modern one; the transitional id of
 * a network card is not a block device. */
static void t_transitional(void **state)
{
    (void)state;
    struct bt t;
    memset(&t, 0, sizeof t);
    t.f = malloc(sizeof *t.f);
    assert_non_null(t.f);
    fv_init(t.f, BLK_ALL, CAPDRV_LANE_DIRECT);
    t.f->cfg[2] = 0x01, t.f->cfg[3] = 0x10;
    struct capdrv_virtio_blk_opts o = {.pool = FV_POOL};
    if (capdrv_virtio_blk_open(fv_sys(t.f), FV_GRANT, &o, &t.blk, t.why, sizeof t.why) < 0)
        fail_msg("open 1af4:1001: %s", t.why);
    struct capdrv_virtio_blk_info in;
    assert_int_equal(capdrv_virtio_blk_info(t.blk, &in), 0);
    assert_int_equal(in.capacity, FV_DISK_SECTORS);
    struct capdrv_virtio_blk_req r = {.type = CAPDRV_VIRTIO_BLK_T_FLUSH, .cookie = &r};
    assert_int_equal(one(&t, 0, &r, NULL), 0);
    assert_int_equal(t.f->last_type, CAPDRV_VIRTIO_BLK_T_FLUSH);
    bt_close(&t);
    t.f = malloc(sizeof *t.f);
    assert_non_null(t.f);
    fv_init(t.f, BLK_ALL, CAPDRV_LANE_DIRECT);
    t.f->cfg[2] = 0x00, t.f->cfg[3] = 0x10; /* 1af4:1000: network card */
    struct capdrv_virtio_blk *blk = (void *)1;
    assert_int_equal(capdrv_virtio_blk_open(fv_sys(t.f), FV_GRANT, &o, &blk, t.why, sizeof t.why),
                     -CAPDRV_ENODEV);
    assert_null(blk);
    assert_non_null(strstr(t.why, "not a block device"));
    fv_fini(t.f);
    free(t.f);
}

static void t_open_failures(void **state)
{
    (void)state;
    struct bt t;
    /* Not a block device (virtio-net id). */
    t.f = malloc(sizeof *t.f);
    fv_init(t.f, 0, CAPDRV_LANE_DIRECT);
    t.f->cfg[2] = 0x41;
    struct capdrv_virtio_blk_opts o = {.pool = FV_POOL};
    struct capdrv_virtio_blk *blk = (void *)1;
    char why[256];
    assert_int_equal(capdrv_virtio_blk_open(fv_sys(t.f), FV_GRANT, &o, &blk, why, sizeof why),
                     -CAPDRV_ENODEV);
    assert_null(blk);
    assert_non_null(strstr(why, "not a block device"));
    /* The pool is too small for the queue memory: refused, nothing kept. */
    t.f->cfg[2] = 0x42;
    t.f->pool_limit = 4096;
    assert_int_equal(capdrv_virtio_blk_open(fv_sys(t.f), FV_GRANT, &o, &blk, why, sizeof why),
                     -CAPDRV_ENOSPC);
    assert_int_equal(t.f->pool_used, 0);
    assert_int_equal(t.f->status & 0x80, 0); /* closed: reset after FAILED */
    assert_int_equal(t.f->status_log[t.f->status_writes - 2] & 0x80, 0x80);
    assert_false(t.f->mmio_open[0]);
    /* MSI-X vector refused. */
    t.f->pool_limit = 0;
    t.f->refuse_vectors = true;
    o.irq = 1;
    assert_int_equal(capdrv_virtio_blk_open(fv_sys(t.f), FV_GRANT, &o, &blk, why, sizeof why),
                     -CAPDRV_EIO);
    assert_non_null(strstr(why, "vector"));
    for (unsigned v = 0; v < 8; v++)
        assert_false(t.f->irq_open[v]);
    /* FEATURES_OK refused. */
    t.f->refuse_vectors = false;
    t.f->refuse_features_ok = true;
    assert_int_equal(capdrv_virtio_blk_open(fv_sys(t.f), FV_GRANT, &o, &blk, why, sizeof why),
                     -CAPDRV_ENOTSUP);
    /* Bad options. */
    o.queue_size = 100;
    assert_int_equal(capdrv_virtio_blk_open(fv_sys(t.f), FV_GRANT, &o, &blk, why, sizeof why),
                     -CAPDRV_EINVAL);
    o.queue_size = 0;
    o.pool = 0;
    assert_int_equal(capdrv_virtio_blk_open(fv_sys(t.f), FV_GRANT, &o, &blk, why, sizeof why),
                     -CAPDRV_EINVAL);
    assert_int_equal(t.f->pool_used, 0);
    capdrv_virtio_blk_close(NULL);
    fv_fini(t.f);
    free(t.f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_open_info),      cmocka_unit_test(t_minimal_device),
        cmocka_unit_test(t_roundtrip_batch), cmocka_unit_test(t_queue_full),
        cmocka_unit_test(t_other_commands), cmocka_unit_test(t_checks),
        cmocka_unit_test(t_status_bytes),   cmocka_unit_test(t_broken_ring),
        cmocka_unit_test(t_interrupts),     cmocka_unit_test(t_open_failures),
        cmocka_unit_test(t_cancel),         cmocka_unit_test(t_transitional),
        cmocka_unit_test(t_avail_audit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
