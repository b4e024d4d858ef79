/* The virtio-blk driver (src/virtio/blk.c, blk_io.c) over the virtio-mmio
 * transport (VIRTIO 1.2 §4.2), against the fake device of fake_vdev.h in
 * its virtio-mmio mode: transport detection from the grant, bring-up over
 * the register block, multiqueue with one QueueNotify register, every
 * request type, the one interrupt line (InterruptStatus / InterruptACK,
 * §4.2.3.4), cancel and reset, and the hostile-device cases of
 * test_virtio_blk.c that apply to MMIO. End to end over the shim and the
 * sim: the virtio-blk-mmio.* conformance cases. */
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

static struct fv *new_fv(uint64_t features, int lane)
{
    struct fv *f = malloc(sizeof *f);
    assert_non_null(f);
    fv_init_mmio(f, features, lane);
    return f;
}

static int bt_open(struct bt *t, uint64_t dev_features, int lane, const struct capdrv_virtio_blk_opts *o)
{
    memset(t, 0, sizeof *t);
    t->f = new_fv(dev_features, lane);
    struct capdrv_virtio_blk_opts def = {.pool = FV_POOL};
    int rc = capdrv_virtio_blk_open(fv_sys(t->f), FV_GRANT, o ? o : &def, &t->blk, t->why,
                                    sizeof t->why);
    if (rc == 0)
        assert_int_equal(capdrv_dma_alloc(fv_sys(t->f), FV_POOL, 65536, &t->data, &t->di), 0);
    return rc;
}

/* Everything the driver took went back and the device was reset. */
static void assert_released(struct fv *f, size_t kept)
{
    assert_int_equal(f->pool_used, kept);
    assert_int_equal(f->status, 0);
    for (unsigned w = 0; w < FV_MAX_WINDOWS; w++)
        assert_false(f->mmio_open[w]);
    for (unsigned v = 0; v < 8; v++)
        assert_false(f->irq_open[v]);
    /* §4.2.2.2: no control register was touched other than 32 bits wide,
     * no write-only register read, no read-only register written. */
    assert_int_equal(f->bad_accesses, 0);
}

static void bt_close(struct bt *t)
{
    capdrv_virtio_blk_close(t->blk);
    assert_released(t->f, t->data ? t->di.size : 0);
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
    /* A grant without configuration space is driven as virtio-mmio. */
    assert_int_equal(bt_open(&t, BLK_ALL, CAPDRV_LANE_DIRECT, NULL), 0);
    struct capdrv_virtio_blk_info in;
    assert_int_equal(capdrv_virtio_blk_info(t.blk, &in), 0);
    /* §5.2.4 read from the register block's configuration at 0x100. */
    assert_int_equal(in.capacity, FV_DISK_SECTORS);
    assert_int_equal(in.blk_size, 4096);
    assert_int_equal(in.seg_max, 16);
    assert_int_equal(in.max_discard_sectors, 256);
    assert_int_equal(in.max_write_zeroes_sectors, 512);
    assert_int_equal(in.num_queues, 1);
    assert_int_equal(in.queue_size, 64);
    assert_int_equal(in.features, BLK_ALL | (1ull << 32) | (1ull << 33));
    assert_int_equal(in.lane, CAPDRV_LANE_DIRECT);
    assert_int_equal(in.irq, 0);
    assert_int_equal(t.f->status, 0xf); /* DRIVER_OK */
    assert_int_equal(t.f->q[0].enable, 1);
    assert_int_equal(t.f->q[0].size, 64); /* QueueNum */
    assert_non_null(fv_ref(t.f, t.f->q[0].desc, 16 * 64));
    assert_int_equal(t.f->q[1].enable, 0);
    assert_int_equal(capdrv_virtio_blk_check(t.blk), 0);
    /* A write lands on the disk through QueueNotify = 0. */
    memset(t.di.cpu, 0x5e, 4096);
    struct capdrv_virtq_seg s = seg(&t, 0, 4096);
    struct capdrv_virtio_blk_req w = {.type = CAPDRV_VIRTIO_BLK_T_OUT, .sector = 3, .segs = &s,
                                      .n_segs = 1, .cookie = &w};
    assert_int_equal(one(&t, 0, &w, NULL), 0);
    assert_int_equal(t.f->last_notify, 0);
    assert_int_equal(t.f->disk[3 * 512], 0x5e);
    assert_int_equal(t.f->disk[11 * 512 - 1], 0x5e);
    assert_int_equal(t.f->disk[11 * 512], 0);
    bt_close(&t);
}

/* Two queues, one QueueNotify register: the value written names the
 * queue (§4.2.3.3); a batch rings it once. */
static void t_multiqueue_batch(void **state)
{
    (void)state;
    struct bt t;
    struct capdrv_virtio_blk_opts o = {.pool = FV_POOL, .num_queues = 8, .queue_size = 16};
    assert_int_equal(bt_open(&t, BLK_ALL, CAPDRV_LANE_BROKERED, &o), 0);
    struct capdrv_virtio_blk_info in;
    assert_int_equal(capdrv_virtio_blk_info(t.blk, &in), 0);
    assert_int_equal(in.num_queues, 2); /* config num_queues */
    assert_int_equal(in.queue_size, 16);
    assert_int_equal(t.f->q[1].enable, 1);
    assert_int_equal(t.f->q[2].enable, 0);
    uint8_t *p = t.di.cpu;
    for (unsigned i = 0; i < 32768; i++)
        p[i] = (uint8_t)(i * 13 + i / 512);
    struct capdrv_virtq_seg s[8];
    struct capdrv_virtio_blk_req r[8];
    for (unsigned i = 0; i < 8; i++) {
        s[i] = seg(&t, 4096 * i, 4096);
        r[i] = (struct capdrv_virtio_blk_req){.type = CAPDRV_VIRTIO_BLK_T_OUT, .sector = 100 + 8 * i,
                                              .segs = &s[i], .n_segs = 1, .cookie = &r[i]};
    }
    unsigned before0 = t.f->q[0].notifies, before1 = t.f->q[1].notifies;
    assert_int_equal(capdrv_virtio_blk_submit(t.blk, 1, r, 8), 8);
    assert_int_equal(t.f->q[1].notifies, before1 + 1);
    assert_int_equal(t.f->q[0].notifies, before0);
    assert_int_equal(t.f->last_notify, 1);
    struct capdrv_virtio_blk_done d[16];
    assert_int_equal(capdrv_virtio_blk_reap(t.blk, 1, d, 16), 8);
    for (unsigned i = 0; i < 8; i++) {
        assert_ptr_equal(d[i].cookie, &r[i]);
        assert_int_equal(d[i].status, 0);
    }
    assert_memory_equal(t.f->disk + 100 * 512, p, 32768);
    /* Read back on queue 0 through indirect tables (4 segments each). */
    struct capdrv_virtq_seg rs[2][4];
    for (unsigned i = 0; i < 2; i++) {
        for (unsigned k = 0; k < 4; k++)
            rs[i][k] = seg(&t, 32768 + 16384 * i + 4096 * k, 4096);
        r[i] = (struct capdrv_virtio_blk_req){.type = CAPDRV_VIRTIO_BLK_T_IN, .sector = 100 + 32 * i,
                                              .segs = rs[i], .n_segs = 4, .cookie = &r[i]};
    }
    assert_int_equal(capdrv_virtio_blk_submit(t.blk, 0, r, 2), 2);
    assert_int_equal(t.f->last_notify, 0);
    assert_int_equal(capdrv_virtio_blk_reap(t.blk, 0, d, 16), 2);
    assert_int_equal(d[0].status, 0);
    assert_int_equal(d[1].len, 16384);
    assert_memory_equal(p + 32768, p, 32768);
    bt_close(&t);
}

static void t_other_commands(void **state)
{
    (void)state;
    struct bt t;
    assert_int_equal(bt_open(&t, BLK_ALL, CAPDRV_LANE_DIRECT, NULL), 0);
    memset(t.f->disk, 0xaa, 64 * 512);
    struct capdrv_virtq_seg s = seg(&t, 0, 20);
    struct capdrv_virtio_blk_req r = {.type = CAPDRV_VIRTIO_BLK_T_GET_ID, .segs = &s, .n_segs = 1,
                                      .cookie = &r};
    uint32_t len;
    assert_int_equal(one(&t, 0, &r, &len), 0);
    assert_int_equal(len, 20);
    assert_memory_equal(t.di.cpu, "fake-virtio-blk-0001", 20);
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
    assert_int_equal(t.f->last_type, CAPDRV_VIRTIO_BLK_T_FLUSH);
    /* Polling handle: no line to wait on. */
    assert_int_equal(capdrv_virtio_blk_wait(t.blk, 0, 0), -CAPDRV_ENOTSUP);
    bt_close(&t);
}

/* Hostile completions (§2.7.8, §5.2.6), as over PCI. */
static void t_hostile_completions(void **state)
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
    t.f->status_override = 7;
    assert_int_equal(one(&t, 0, &r, NULL), -CAPDRV_EPROTO);
    t.f->status_override = -1;
    t.f->len_override = 512; /* does not cover the status byte */
    assert_int_equal(one(&t, 0, &r, NULL), -CAPDRV_EPROTO);
    t.f->len_override = 0;
    assert_int_equal(one(&t, 0, &r, NULL), -CAPDRV_EPROTO);
    t.f->len_override = -1;
    assert_int_equal(one(&t, 0, &r, NULL), 0);
    /* A used id out of range breaks the queue for good. */
    t.f->corrupt_used_id = true;
    assert_int_equal(capdrv_virtio_blk_submit(t.blk, 0, &r, 1), 1);
    struct capdrv_virtio_blk_done d;
    assert_int_equal(capdrv_virtio_blk_reap(t.blk, 0, &d, 1), -CAPDRV_EPROTO);
    assert_int_equal(capdrv_virtio_blk_reap(t.blk, 0, &d, 1), -CAPDRV_EPROTO);
    assert_int_equal(capdrv_virtio_blk_submit(t.blk, 0, &r, 1), -CAPDRV_EPROTO);
    bt_close(&t);
}

/* One line for every queue (§4.2.3.4): the driver opens vector 0 only,
 * reads InterruptStatus and acknowledges the causes it read. */
static void t_interrupt_line(void **state)
{
    (void)state;
    struct bt t;
    struct capdrv_virtio_blk_opts o = {.pool = FV_POOL, .num_queues = 2, .irq = 1};
    assert_int_equal(bt_open(&t, BLK_ALL, CAPDRV_LANE_DIRECT, &o), 0);
    struct capdrv_virtio_blk_info in;
    assert_int_equal(capdrv_virtio_blk_info(t.blk, &in), 0);
    assert_int_equal(in.num_queues, 2);
    assert_int_equal(in.irq, 1);
    assert_true(t.f->irq_open[0]);
    for (unsigned v = 1; v < 8; v++)
        assert_false(t.f->irq_open[v]);
    t.f->manual = true;
    struct capdrv_virtq_seg s = seg(&t, 0, 4096);
    struct capdrv_virtio_blk_req r = {.type = CAPDRV_VIRTIO_BLK_T_OUT, .segs = &s, .n_segs = 1,
                                      .cookie = &r};
    assert_int_equal(capdrv_virtio_blk_submit(t.blk, 1, &r, 1), 1);
    /* Nothing done: the line stays low and the wait times out. */
    assert_int_equal(capdrv_virtio_blk_wait(t.blk, 1, 1000), -CAPDRV_ETIMEDOUT);
    assert_int_equal(t.f->int_acks, 0);
    fv_serve(t.f);
    assert_int_equal(t.f->int_status, 1);
    /* Completions pending: the re-check after arming (§2.7.14) returns
     * without reading the line. */
    assert_int_equal(capdrv_virtio_blk_wait(t.blk, 1, -1), 1);
    struct capdrv_virtio_blk_done d;
    assert_int_equal(capdrv_virtio_blk_reap(t.blk, 1, &d, 1), 1);
    assert_int_equal(d.status, 0);
    /* Armed, nothing to reap: the wait takes the line, reads
     * InterruptStatus and writes it back to InterruptACK. */
    assert_int_equal(capdrv_virtio_blk_wait(t.blk, 1, -1), 1);
    assert_int_equal(t.f->int_acks, 1);
    assert_int_equal(t.f->int_acked, 1);
    assert_int_equal(t.f->int_status, 0);
    assert_int_equal(capdrv_virtio_blk_wait(t.blk, 1, 0), -CAPDRV_ETIMEDOUT);
    /* A completion on queue 1 wakes a waiter of queue 0 (one line); that
     * waiter reaps nothing, queue 1's owner reaps the request. */
    assert_int_equal(capdrv_virtio_blk_submit(t.blk, 1, &r, 1), 1);
    fv_serve(t.f);
    assert_int_equal(capdrv_virtio_blk_wait(t.blk, 0, -1), 1);
    assert_int_equal(t.f->int_status, 0);
    assert_int_equal(capdrv_virtio_blk_reap(t.blk, 0, &d, 1), 0);
    assert_int_equal(capdrv_virtio_blk_reap(t.blk, 1, &d, 1), 1);
    /* A configuration change (InterruptStatus bit 1) with
     * DEVICE_NEEDS_RESET (§2.1.2): acknowledged, then reported. */
    t.f->needs_reset = true;
    t.f->int_status = 2;
    assert_int_equal(capdrv_virtio_blk_wait(t.blk, 0, -1), -CAPDRV_EIO);
    assert_int_equal(t.f->int_acked, 3);
    assert_int_equal(t.f->int_status, 0);
    assert_int_equal(capdrv_virtio_blk_check(t.blk), -CAPDRV_EIO);
    t.f->needs_reset = false;
    /* A configuration change without it is only acknowledged. */
    t.f->int_status = 2;
    assert_int_equal(capdrv_virtio_blk_wait(t.blk, 0, -1), 1);
    assert_int_equal(t.f->int_status, 0);
    bt_close(&t);
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
    unsigned writes = t.f->status_writes;
    unsigned seen[5] = {0}, total = 0;
    struct capdrv_virtio_blk_done d[2];
    int got;
    while ((got = capdrv_virtio_blk_cancel(t.blk, d, 2)) > 0) {
        /* §4.2.2 Status: the device was reset before anything came back. */
        assert_int_equal(t.f->status, 0);
        for (int i = 0; i < got; i++) {
            assert_int_equal(d[i].status, -CAPDRV_ECANCELED);
            struct capdrv_virtio_blk_req *q = d[i].cookie;
            assert_true(q >= r && q < r + 5);
            seen[q - r]++;
        }
        total += (unsigned)got;
    }
    assert_int_equal(got, 0);
    assert_int_equal(total, 5);
    for (unsigned i = 0; i < 5; i++)
        assert_int_equal(seen[i], 1);
    assert_true(t.f->status_writes > writes);
    assert_int_equal(capdrv_virtio_blk_submit(t.blk, 0, r, 1), -CAPDRV_ECANCELED);
    assert_int_equal(capdrv_virtio_blk_wait(t.blk, 0, 0), -CAPDRV_ECANCELED);
    bt_close(&t);
}

/* After close (reset) a new instance sees what the previous one wrote. */
static void t_reopen(void **state)
{
    (void)state;
    struct bt t;
    assert_int_equal(bt_open(&t, BLK_ALL, CAPDRV_LANE_DIRECT, NULL), 0);
    memset(t.di.cpu, 0x77, 4096);
    struct capdrv_virtq_seg s = seg(&t, 0, 4096);
    struct capdrv_virtio_blk_req w = {.type = CAPDRV_VIRTIO_BLK_T_OUT, .sector = 64, .segs = &s,
                                      .n_segs = 1, .cookie = &w};
    assert_int_equal(one(&t, 0, &w, NULL), 0);
    capdrv_virtio_blk_close(t.blk);
    assert_released(t.f, t.di.size);
    struct capdrv_virtio_blk_opts o = {.pool = FV_POOL, .irq = 1};
    assert_int_equal(capdrv_virtio_blk_open(fv_sys(t.f), FV_GRANT, &o, &t.blk, t.why, sizeof t.why), 0);
    memset(t.di.cpu, 0, 4096);
    struct capdrv_virtio_blk_req rd = {.type = CAPDRV_VIRTIO_BLK_T_IN, .sector = 64, .segs = &s,
                                       .n_segs = 1, .cookie = &rd};
    assert_int_equal(capdrv_virtio_blk_submit(t.blk, 0, &rd, 1), 1);
    struct capdrv_virtio_blk_done d;
    assert_int_equal(capdrv_virtio_blk_wait(t.blk, 0, -1), 1);
    assert_int_equal(capdrv_virtio_blk_reap(t.blk, 0, &d, 1), 1);
    assert_int_equal(d.status, 0);
    assert_int_equal(((uint8_t *)t.di.cpu)[4095], 0x77);
    bt_close(&t);
}

/* Open refusals: each leaves nothing behind (windows, vectors, memory). */
static int try_open(struct fv *f, const struct capdrv_virtio_blk_opts *o, char *why, size_t len)
{
    struct capdrv_virtio_blk *blk = (void *)1;
    int rc = capdrv_virtio_blk_open(fv_sys(f), FV_GRANT, o, &blk, why, len);
    assert_true(rc < 0);
    assert_null(blk);
    assert_released(f, 0);
    return rc;
}

static void t_open_failures(void **state)
{
    (void)state;
    char why[256];
    struct capdrv_virtio_blk_opts o = {.pool = FV_POOL};
    struct fv *f = new_fv(BLK_ALL, CAPDRV_LANE_DIRECT);
    /* Not a block device (virtio-net id). */
    f->mmio_device_id = 1;
    assert_int_equal(try_open(f, &o, why, sizeof why), -CAPDRV_ENODEV);
    assert_non_null(strstr(why, "not a block device"));
    /* Legacy (Version 1, §4.2.4) and placeholder (DeviceID 0) devices. */
    f->mmio_device_id = 2;
    f->mmio_version = 1;
    assert_int_equal(try_open(f, &o, why, sizeof why), -CAPDRV_ENODEV);
    assert_non_null(strstr(why, "legacy"));
    f->mmio_version = 2;
    f->mmio_device_id = 0;
    assert_int_equal(try_open(f, &o, why, sizeof why), -CAPDRV_ENODEV);
    f->mmio_device_id = 2;
    f->mmio_magic = 0x12345678u;
    assert_int_equal(try_open(f, &o, why, sizeof why), -CAPDRV_ENODEV);
    f->mmio_magic = 0x74726976u;
    /* A window shorter than the control registers; a missing window. */
    f->win[0].length = 0x80;
    assert_int_equal(try_open(f, &o, why, sizeof why), -CAPDRV_EFAULT);
    f->win[0].length = FV_MMIO_LEN;
    o.mmio_window = 1;
    assert_int_equal(try_open(f, &o, why, sizeof why), -CAPDRV_ENOENT);
    o.mmio_window = 0;
    /* A window too short for the configuration fields a feature needs. */
    f->win[0].length = 0x100 + 0x10;
    assert_int_equal(try_open(f, &o, why, sizeof why), -CAPDRV_EPROTO);
    f->win[0].length = FV_MMIO_LEN;
    /* Pool too small: FAILED, then the reset in close (§3.1.1). */
    f->status_writes = 0;
    f->pool_limit = 4096;
    assert_int_equal(try_open(f, &o, why, sizeof why), -CAPDRV_ENOSPC);
    assert_int_equal(f->status_log[f->status_writes - 2] & 0x80, 0x80);
    f->pool_limit = 0;
    /* FEATURES_OK refused. */
    f->refuse_features_ok = true;
    assert_int_equal(try_open(f, &o, why, sizeof why), -CAPDRV_ENOTSUP);
    f->refuse_features_ok = false;
    /* seg_max 0 with F_SEG_MAX: malformed configuration. */
    f->devcfg[0x0c] = 0;
    assert_int_equal(try_open(f, &o, why, sizeof why), -CAPDRV_EPROTO);
    f->devcfg[0x0c] = 16;
    /* The configuration never stable (§2.5.1 / §4.2.2 ConfigGeneration). */
    f->gen_flaps = 1000;
    assert_int_equal(try_open(f, &o, why, sizeof why), -CAPDRV_EIO);
    f->gen_flaps = 0;
    /* num_queues names a queue the device lacks (QueueNumMax 0). */
    f->devcfg[0x22] = 6;
    o.num_queues = 6;
    assert_int_equal(try_open(f, &o, why, sizeof why), -CAPDRV_ENOENT);
    assert_non_null(strstr(why, "queue 4"));
    f->devcfg[0x22] = 2;
    o.num_queues = 0;
    /* A reset that never completes (Status never reads 0, §4.2.2). */
    f->reset_stuck = true;
    assert_int_equal(try_open(f, &o, why, sizeof why), -CAPDRV_ETIMEDOUT);
    f->reset_stuck = false;
    /* Then a good open on the same device, through window 1 this time. */
    f->win[1] = f->win[0];
    f->n_win = 2;
    o.mmio_window = 1;
    struct capdrv_virtio_blk *blk = NULL;
    assert_int_equal(capdrv_virtio_blk_open(fv_sys(f), FV_GRANT, &o, &blk, why, sizeof why), 0);
    assert_true(f->mmio_open[1]);
    assert_false(f->mmio_open[0]);
    capdrv_virtio_blk_close(blk);
    assert_released(f, 0);
    fv_fini(f);
    free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_open_info),         cmocka_unit_test(t_multiqueue_batch),
        cmocka_unit_test(t_other_commands),    cmocka_unit_test(t_hostile_completions),
        cmocka_unit_test(t_interrupt_line),    cmocka_unit_test(t_cancel),
        cmocka_unit_test(t_reopen),            cmocka_unit_test(t_open_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
