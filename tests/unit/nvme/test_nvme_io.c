/* NVMe I/O queue pairs (src/nvme/qpair.c, io.c, queue.c) against the fake
 * controller: Read/Write through PRPs (one page, two pages, lists, many
 * segments) and SGLs, Flush, Write Zeroes, Dataset Management, raw
 * commands, batching (one doorbell), polling and interrupt completion,
 * ring wrap-around, many queue pairs, argument checks (NVMe Base 2.0
 * §4.1, §5.4-§5.7; NVM Command Set 1.0 §3). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "fake_nvme.h"

struct it {
    struct fn *f;
    struct capdrv_nvme_ctrl *c;
    struct capdrv_nvme_qpair *qp;
    struct capdrv_dmabuf_info data; /* 256 KiB */
    char why[160];
};

static void it_open(struct it *t, int lane, bool sgl, const struct capdrv_nvme_qpair_opts *qo,
                    unsigned io_queues)
{
    memset(t, 0, sizeof *t);
    t->f = fn_new(lane);
    assert_non_null(t->f);
    if (sgl)
        fn_id_set(t->f, 536, 4, 1); /* SGLS: byte aligned */
    struct capdrv_nvme_ctrl_opts o = {.pool = FN_POOL, .io_queues = io_queues};
    assert_int_equal(fn_open(t->f, &o, &t->c, t->why, sizeof t->why), 0);
    struct capdrv_nvme_ns_info ns;
    assert_int_equal(capdrv_nvme_ns_info(t->c, 1, &ns), 0);
    if (qo)
        assert_int_equal(capdrv_nvme_qpair_create(t->c, qo, &t->qp), 0);
    assert_int_equal(fn_alloc(t->f, 256 * 1024, &t->data), 0);
}

static void it_close(struct it *t)
{
    assert_int_equal(t->f->bad_dma, 0);
    assert_int_equal(t->f->bad_accesses, 0);
    capdrv_nvme_ctrl_close(t->c);
    assert_int_equal(fn_live_bufs(t->f), 0);
    fn_free(t->f);
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 7u + seed + (i >> 9));
}

/* Write @segs (pattern @seed) to LBA @lba, then read back into other
 * memory with the same layout and compare with the medium. */
static void roundtrip(struct it *t, const struct capdrv_dma_seg *segs, unsigned n, uint64_t lba,
                      unsigned seed)
{
    uint8_t *base = t->data.cpu;
    uint32_t total = 0;
    for (unsigned i = 0; i < n; i++) {
        fill(base + (segs[i].ref - t->data.ref_base), segs[i].len, seed + i);
        total += segs[i].len;
    }
    struct fn_done d = {0};
    assert_int_equal(capdrv_nvme_write(t->qp, 1, lba, total / 512u, segs, n, fn_done_cb, &d), 0);
    assert_int_equal(capdrv_nvme_qpair_wait(t->qp, -1), 1);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.status, 0);
    /* The medium holds the segments in order. */
    uint8_t *disk = fn_disk(t->f, 1) + lba * 512u;
    for (unsigned i = 0; i < n; i++) {
        assert_memory_equal(disk, base + (segs[i].ref - t->data.ref_base), segs[i].len);
        disk += segs[i].len;
    }
    for (unsigned i = 0; i < n; i++)
        memset(base + (segs[i].ref - t->data.ref_base), 0, segs[i].len);
    d.calls = 0;
    assert_int_equal(capdrv_nvme_read(t->qp, 1, lba, total / 512u, segs, n, fn_done_cb, &d), 0);
    assert_int_equal(capdrv_nvme_qpair_wait(t->qp, -1), 1);
    assert_int_equal(d.status, 0);
    disk = fn_disk(t->f, 1) + lba * 512u;
    for (unsigned i = 0; i < n; i++) {
        assert_memory_equal(disk, base + (segs[i].ref - t->data.ref_base), segs[i].len);
        disk += segs[i].len;
    }
}

static void prp_cases(int lane)
{
    struct it t;
    struct capdrv_nvme_qpair_opts qo = {.depth = 16};
    it_open(&t, lane, false, &qo, 1);
    uint64_t r = t.data.ref_base;
    /* One page; page-crossing (PRP2 = second page); a PRP list (32 KiB);
     * the largest transfer (MDTS 128 KiB); an odd dword offset start. */
    struct capdrv_dma_seg one = {r, 4096}, two = {r + 1024, 4096}, list = {r, 32768},
                          max = {r + 4096, 128 * 1024}, odd = {r + 4092, 512};
    roundtrip(&t, &one, 1, 0, 1);
    assert_int_equal(t.f->last_io_psdt, 0);
    roundtrip(&t, &two, 1, 8, 2);
    roundtrip(&t, &list, 1, 16, 3);
    roundtrip(&t, &max, 1, 100, 4);
    roundtrip(&t, &odd, 1, 500, 5);
    /* Several segments: page-aligned middles (§4.1.1). */
    struct capdrv_dma_seg multi[4] = {
        {r + 3584, 512}, {r + 8192, 4096}, {r + 20480, 8192}, {r + 65536, 1024}};
    roundtrip(&t, multi, 4, 300, 6);
    /* Beyond MDTS: refused before the controller sees it. */
    struct capdrv_dma_seg huge = {r, 128 * 1024 + 512};
    struct fn_done d = {0};
    assert_int_equal(capdrv_nvme_read(t.qp, 1, 0, 257, &huge, 1, fn_done_cb, &d), -CAPDRV_ERANGE);
    /* A middle segment that does not start on a page: the builder's rule. */
    struct capdrv_dma_seg badmid[2] = {{r, 4096}, {r + 8192 + 512, 512}};
    assert_int_equal(capdrv_nvme_read(t.qp, 1, 0, 9, badmid, 2, fn_done_cb, &d), -CAPDRV_EINVAL);
    assert_int_equal(d.calls, 0);
    struct capdrv_nvme_qpair_info qi;
    capdrv_nvme_qpair_info(t.qp, &qi);
    assert_int_equal(qi.inflight, 0);
    assert_int_equal(qi.max_xfer, 128 * 1024);
    assert_false(qi.sgl);
    it_close(&t);
}

static void t_prp_brokered(void **state)
{
    (void)state;
    prp_cases(CAPDRV_LANE_BROKERED);
}

static void t_prp_direct(void **state)
{
    (void)state;
    prp_cases(CAPDRV_LANE_DIRECT);
}

static void t_sgl(void **state)
{
    (void)state;
    struct it t;
    struct capdrv_nvme_qpair_opts qo = {.sgl = true};
    it_open(&t, CAPDRV_LANE_DIRECT, true, &qo, 1);
    uint64_t r = t.data.ref_base;
    struct capdrv_nvme_qpair_info qi;
    capdrv_nvme_qpair_info(t.qp, &qi);
    assert_true(qi.sgl);
    /* SGLs take any byte alignment of the pieces (SGLS 01b). */
    struct capdrv_dma_seg one = {r + 3, 4096};
    roundtrip(&t, &one, 1, 0, 1);
    assert_int_equal(t.f->last_io_psdt, 1);
    struct capdrv_dma_seg multi[5] = {
        {r + 1, 100}, {r + 5000, 412}, {r + 9000, 1000}, {r + 20001, 24}, {r + 30000, 512}};
    roundtrip(&t, multi, 5, 40, 2);
    /* Many segments: a Last Segment list page. */
    struct capdrv_dma_seg many[64];
    for (unsigned i = 0; i < 64; i++)
        many[i] = (struct capdrv_dma_seg){r + 4000u * i + 7u, 512};
    roundtrip(&t, many, 64, 200, 3);
    it_close(&t);
    /* Asked for but not offered: PRPs. */
    it_open(&t, CAPDRV_LANE_DIRECT, false, &qo, 1);
    capdrv_nvme_qpair_info(t.qp, &qi);
    assert_false(qi.sgl);
    it_close(&t);
}

static void t_batch_and_wrap(void **state)
{
    (void)state;
    struct it t;
    struct capdrv_nvme_qpair_opts qo = {.depth = 4, .polling = true};
    it_open(&t, CAPDRV_LANE_BROKERED, false, &qo, 1);
    struct capdrv_nvme_qpair_info qi;
    capdrv_nvme_qpair_info(t.qp, &qi);
    assert_int_equal(qi.depth, 4);
    assert_int_equal(qi.vector, -1);
    /* Three fit (depth - 1, §3.3.1.5); the fourth is refused. */
    struct fn_done d[4] = {{0}};
    struct capdrv_dma_seg seg[4];
    for (unsigned i = 0; i < 4; i++)
        seg[i] = (struct capdrv_dma_seg){t.data.ref_base + 4096u * i, 512};
    unsigned db = t.f->sq_doorbells;
    for (unsigned i = 0; i < 3; i++)
        assert_int_equal(capdrv_nvme_read(t.qp, 1, i, 1, &seg[i], 1, fn_done_cb, &d[i]), 0);
    assert_int_equal(capdrv_nvme_read(t.qp, 1, 3, 1, &seg[3], 1, fn_done_cb, &d[3]),
                     -CAPDRV_EBUSY);
    capdrv_nvme_qpair_info(t.qp, &qi);
    assert_int_equal(qi.unrung, 3);
    assert_int_equal(t.f->sq_doorbells, db); /* nothing rung yet */
    assert_int_equal(capdrv_nvme_qpair_ring(t.qp), 3);
    assert_int_equal(t.f->sq_doorbells, db + 1); /* one doorbell for the batch */
    assert_int_equal(capdrv_nvme_qpair_ring(t.qp), 0);
    assert_int_equal(capdrv_nvme_qpair_poll(t.qp, 2), 2);
    assert_int_equal(capdrv_nvme_qpair_poll(t.qp, 0), 1);
    for (unsigned i = 0; i < 3; i++)
        assert_int_equal(d[i].calls, 1);
    /* Many passes around the ring: the phase tag flips each pass. */
    unsigned done = 0;
    struct fn_done dd = {0};
    for (unsigned round = 0; round < 50; round++) {
        unsigned n = 1u + round % 3u;
        for (unsigned i = 0; i < n; i++)
            assert_int_equal(
                capdrv_nvme_write(t.qp, 1, round, 1, &seg[0], 1, fn_done_cb, &dd), 0);
        int rc = capdrv_nvme_qpair_wait(t.qp, -1);
        assert_int_equal(rc, (int)n);
        done += n;
    }
    assert_int_equal(dd.calls, (int)done);
    assert_int_equal(dd.status, 0);
    it_close(&t);
}

/* A callback that submits the next command from inside the completion. */
struct chain {
    struct capdrv_nvme_qpair *qp;
    struct capdrv_dma_seg seg;
    int left, done;
};

static void chain_cb(void *arg, const struct capdrv_nvme_cpl *cpl)
{
    struct chain *ch = arg;
    assert_int_equal(cpl->status, 0);
    ch->done++;
    if (--ch->left > 0)
        assert_int_equal(capdrv_nvme_read(ch->qp, 1, 0, 1, &ch->seg, 1, chain_cb, ch), 0);
}

static void t_interrupts_auto_ring(void **state)
{
    (void)state;
    struct it t;
    struct capdrv_nvme_qpair_opts qo = {.auto_ring = true};
    it_open(&t, CAPDRV_LANE_DIRECT, false, &qo, 1);
    struct capdrv_nvme_qpair_info qi;
    capdrv_nvme_qpair_info(t.qp, &qi);
    assert_int_equal(qi.vector, 1);
    assert_int_equal(t.f->cq[1].iv, 1);
    assert_true(t.f->cq[1].ien);
    struct fn_done d = {0};
    struct capdrv_dma_seg seg = {t.data.ref_base, 512};
    unsigned db = t.f->sq_doorbells;
    assert_int_equal(capdrv_nvme_read(t.qp, 1, 0, 1, &seg, 1, fn_done_cb, &d), 0);
    assert_int_equal(t.f->sq_doorbells, db + 1); /* auto_ring */
    assert_true(t.f->irq_pending & 2u);
    assert_int_equal(capdrv_nvme_qpair_wait(t.qp, -1), 1);
    assert_false(t.f->irq_pending & 2u); /* acknowledged */
    assert_int_equal(d.calls, 1);
    /* Nothing outstanding: wait returns 0 at once. */
    assert_int_equal(capdrv_nvme_qpair_wait(t.qp, -1), 0);
    /* Chained submissions from callbacks. */
    struct chain ch = {t.qp, seg, 10, 0};
    assert_int_equal(capdrv_nvme_read(t.qp, 1, 0, 1, &seg, 1, chain_cb, &ch), 0);
    while (ch.left > 0)
        assert_true(capdrv_nvme_qpair_wait(t.qp, -1) > 0);
    assert_int_equal(ch.done, 10);
    it_close(&t);
}

static void t_other_commands(void **state)
{
    (void)state;
    struct it t;
    struct capdrv_nvme_qpair_opts qo = {.polling = true};
    it_open(&t, CAPDRV_LANE_BROKERED, false, &qo, 1);
    uint8_t *disk = fn_disk(t.f, 1);
    memset(disk, 0xee, 64 * 512);
    struct fn_done d = {0};
    assert_int_equal(capdrv_nvme_flush(t.qp, 1, fn_done_cb, &d), 0);
    assert_int_equal(capdrv_nvme_write_zeroes(t.qp, 1, 2, 3, 0, fn_done_cb, &d), 0);
    struct capdrv_nvme_dsm_range r[2] = {{0, 2, 10}, {0, 1, 20}};
    assert_int_equal(capdrv_nvme_dsm(t.qp, 1, r, 2, CAPDRV_NVME_DSM_AD, fn_done_cb, &d), 0);
    assert_int_equal(capdrv_nvme_qpair_wait(t.qp, -1), 3);
    assert_int_equal(d.calls, 3);
    assert_int_equal(d.status, 0);
    assert_int_equal(disk[2 * 512 - 1], 0xee);
    assert_int_equal(disk[2 * 512], 0);
    assert_int_equal(disk[5 * 512 - 1], 0);
    assert_int_equal(disk[5 * 512], 0xee);
    assert_int_equal(disk[10 * 512], 0);
    assert_int_equal(disk[12 * 512 - 1], 0);
    assert_int_equal(disk[12 * 512], 0xee);
    assert_int_equal(disk[20 * 512 + 3], 0);
    /* Raw: a Write Zeroes built by hand. */
    struct capdrv_nvme_sqe sqe = {.opc = CAPDRV_NVME_CMD_WRITE_ZEROES, .nsid = 1, .cdw10 = 30};
    assert_int_equal(capdrv_nvme_qpair_submit_raw(t.qp, &sqe, NULL, 0, fn_done_cb, &d), 0);
    assert_int_equal(capdrv_nvme_qpair_wait(t.qp, -1), 1);
    assert_int_equal(d.status, 0);
    assert_int_equal(disk[30 * 512], 0);
    /* An NVMe error status: LBA Out of Range (NVM §3). */
    struct capdrv_dma_seg seg = {t.data.ref_base, 512};
    assert_int_equal(capdrv_nvme_read(t.qp, 1, FN_NS_BLOCKS, 1, &seg, 1, fn_done_cb, &d), 0);
    assert_int_equal(capdrv_nvme_qpair_wait(t.qp, -1), 1);
    assert_int_equal(d.status, -CAPDRV_EIO);
    assert_int_equal(d.sct, 0);
    assert_int_equal(d.sc, CAPDRV_NVME_SC_LBA_RANGE);
    /* Argument checks: nothing is queued, no callback. */
    d.calls = 0;
    assert_int_equal(capdrv_nvme_read(t.qp, 1, 0, 0, &seg, 1, fn_done_cb, &d), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_nvme_read(t.qp, 1, 0, 2, &seg, 1, fn_done_cb, &d), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_nvme_read(t.qp, 2, 0, 1, &seg, 1, fn_done_cb, &d), -CAPDRV_ENOENT);
    assert_int_equal(capdrv_nvme_read(t.qp, 1, 0, 1, &seg, 1, NULL, &d), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_nvme_read(t.qp, 1, 0, 1, &seg, 0, fn_done_cb, &d), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_nvme_dsm(t.qp, 1, r, 0, 0, fn_done_cb, &d), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_nvme_dsm(t.qp, 1, r, 257, 0, fn_done_cb, &d), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_nvme_write_zeroes(t.qp, 1, 0, 1, 1u, fn_done_cb, &d), -CAPDRV_EINVAL);
    assert_int_equal(d.calls, 0);
    it_close(&t);
    /* Without ONCS WZ/DSM the commands are refused up front. */
    t.f = fn_new(CAPDRV_LANE_BROKERED);
    fn_id_set(t.f, 520, 2, 0);
    assert_int_equal(fn_open(t.f, NULL, &t.c, t.why, sizeof t.why), 0);
    assert_int_equal(capdrv_nvme_qpair_create(t.c, &qo, &t.qp), 0);
    assert_int_equal(capdrv_nvme_write_zeroes(t.qp, 1, 0, 1, 0, fn_done_cb, &d), -CAPDRV_ENOTSUP);
    assert_int_equal(capdrv_nvme_dsm(t.qp, 1, r, 1, 0, fn_done_cb, &d), -CAPDRV_ENOTSUP);
    capdrv_nvme_ctrl_close(t.c);
    fn_free(t.f);
}

/* More pairs than the library has MSI-X vectors for (capdrv/nvme.h
 * CAPDRV_NVME_MAX_VECTORS): the controller grants 80, all 80 are created
 * and each moves data; the pairs beyond vector 64 share vectors. */
static void t_more_pairs_than_vectors(void **state)
{
    (void)state;
    enum { N = 80 };
    struct it t;
    memset(&t, 0, sizeof t);
    t.f = fn_new(CAPDRV_LANE_DIRECT);
    assert_non_null(t.f);
    t.f->max_ioq = N;
    struct capdrv_nvme_ctrl_opts o = {.pool = FN_POOL, .io_queues = N};
    assert_int_equal(fn_open(t.f, &o, &t.c, t.why, sizeof t.why), 0);
    struct capdrv_nvme_ns_info ns;
    assert_int_equal(capdrv_nvme_ns_info(t.c, 1, &ns), 0);
    assert_int_equal(fn_alloc(t.f, 256 * 1024, &t.data), 0);
    struct capdrv_nvme_ctrl_info in;
    capdrv_nvme_ctrl_info(t.c, &in);
    assert_int_equal(in.io_queues, N);
    static struct capdrv_nvme_qpair *qp[N];
    for (unsigned i = 0; i < N; i++) {
        struct capdrv_nvme_qpair_opts qo = {.depth = 2};
        assert_int_equal(capdrv_nvme_qpair_create(t.c, &qo, &qp[i]), 0);
    }
    struct capdrv_nvme_qpair *extra;
    assert_int_equal(capdrv_nvme_qpair_create(t.c, NULL, &extra), -CAPDRV_ENOSPC);
    struct fn_done d[N];
    memset(d, 0, sizeof d);
    for (unsigned i = 0; i < N; i++) {
        struct capdrv_dma_seg seg = {t.data.ref_base + 512u * i, 512};
        memset((uint8_t *)t.data.cpu + 512u * i, (int)(i + 1u), 512);
        assert_int_equal(capdrv_nvme_write(qp[i], 1, i, 1, &seg, 1, fn_done_cb, &d[i]), 0);
        assert_int_equal(capdrv_nvme_qpair_ring(qp[i]), 1);
    }
    for (unsigned i = 0; i < N; i++) {
        assert_int_equal(capdrv_nvme_qpair_wait(qp[i], -1), 1);
        assert_int_equal(d[i].calls, 1);
        assert_int_equal(d[i].status, 0);
        assert_int_equal(fn_disk(t.f, 1)[i * 512u], i + 1u);
        struct capdrv_nvme_qpair_info qi;
        assert_int_equal(capdrv_nvme_qpair_info(qp[i], &qi), 0);
        assert_true(qi.vector < (int)CAPDRV_NVME_MAX_VECTORS);
    }
    it_close(&t);
}

static void t_many_qpairs(void **state)
{
    (void)state;
    struct it t;
    it_open(&t, CAPDRV_LANE_DIRECT, false, NULL, 8);
    struct capdrv_nvme_qpair *qp[8];
    for (unsigned i = 0; i < 8; i++) {
        struct capdrv_nvme_qpair_opts qo = {.depth = 8, .polling = i % 2u == 1u};
        assert_int_equal(capdrv_nvme_qpair_create(t.c, &qo, &qp[i]), 0);
    }
    struct capdrv_nvme_ctrl_info in;
    capdrv_nvme_ctrl_info(t.c, &in);
    assert_int_equal(in.io_queues, 8);
    assert_int_equal(in.n_vectors, 5); /* admin + the four interrupt-driven pairs */
    /* Interleaved writes on every queue, each its own region. */
    struct fn_done d[8] = {{0}};
    for (unsigned round = 0; round < 4; round++) {
        for (unsigned i = 0; i < 8; i++) {
            struct capdrv_dma_seg seg = {t.data.ref_base + 4096u * i, 512};
            memset((uint8_t *)t.data.cpu + 4096u * i, (int)(i * 16u + round), 512);
            assert_int_equal(capdrv_nvme_write(qp[i], 1, 64u * i + round, 1, &seg, 1,
                                               fn_done_cb, &d[i]),
                             0);
            assert_int_equal(capdrv_nvme_qpair_ring(qp[i]), 1);
        }
        for (unsigned i = 0; i < 8; i++)
            assert_int_equal(capdrv_nvme_qpair_wait(qp[i], -1), 1);
    }
    for (unsigned i = 0; i < 8; i++) {
        assert_int_equal(d[i].calls, 4);
        assert_int_equal(fn_disk(t.f, 1)[(64u * i + 3u) * 512u], i * 16u + 3u);
    }
    /* Destroy one, create again: same id is reused. */
    struct capdrv_nvme_qpair_info qi;
    capdrv_nvme_qpair_info(qp[3], &qi);
    uint16_t qid = qi.qid;
    assert_int_equal(capdrv_nvme_qpair_destroy(qp[3]), 0);
    assert_false(t.f->sq[qid].live);
    assert_false(t.f->cq[qid].live);
    /* Bad options. */
    struct capdrv_nvme_qpair *x;
    struct capdrv_nvme_qpair_opts bad = {.depth = 1};
    assert_int_equal(capdrv_nvme_qpair_create(t.c, &bad, &x), -CAPDRV_EINVAL);
    bad = (struct capdrv_nvme_qpair_opts){.max_segs = CAPDRV_NVME_MAX_SEGS + 1u};
    assert_int_equal(capdrv_nvme_qpair_create(t.c, &bad, &x), -CAPDRV_EINVAL);
    bad = (struct capdrv_nvme_qpair_opts){.max_xfer = 64u << 20}; /* capped by MDTS: fine */
    assert_int_equal(capdrv_nvme_qpair_create(t.c, &bad, &x), 0);
    assert_int_equal(capdrv_nvme_qpair_destroy(x), 0);
    assert_int_equal(capdrv_nvme_qpair_create(t.c, NULL, &qp[3]), 0);
    capdrv_nvme_qpair_info(qp[3], &qi);
    assert_int_equal(qi.qid, qid);
    it_close(&t); /* close destroys the remaining pairs */
}

static void t_destroy_outstanding(void **state)
{
    (void)state;
    struct it t;
    struct capdrv_nvme_qpair_opts qo = {.polling = true};
    it_open(&t, CAPDRV_LANE_BROKERED, false, &qo, 1);
    t.f->hold_qid = 1;
    t.f->hold_opc = -1;
    struct fn_done d = {0};
    struct capdrv_dma_seg seg = {t.data.ref_base, 512};
    for (int i = 0; i < 3; i++)
        assert_int_equal(capdrv_nvme_read(t.qp, 1, 0, 1, &seg, 1, fn_done_cb, &d), 0);
    assert_int_equal(capdrv_nvme_qpair_ring(t.qp), 3);
    /* One more queued but never rung. */
    assert_int_equal(capdrv_nvme_flush(t.qp, 1, fn_done_cb, &d), 0);
    assert_int_equal(fn_held_count(t.f), 3);
    /* §5.7: Delete SQ aborts them; every callback runs once, cancelled. */
    assert_int_equal(capdrv_nvme_qpair_destroy(t.qp), 0);
    assert_int_equal(d.calls, 4);
    assert_int_equal(d.status, -CAPDRV_ECANCELED);
    assert_int_equal(fn_held_count(t.f), 0);
    t.qp = NULL;
    it_close(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_prp_brokered),        cmocka_unit_test(t_prp_direct),
        cmocka_unit_test(t_sgl),                 cmocka_unit_test(t_batch_and_wrap),
        cmocka_unit_test(t_interrupts_auto_ring), cmocka_unit_test(t_other_commands),
        cmocka_unit_test(t_many_qpairs),         cmocka_unit_test(t_more_pairs_than_vectors),         cmocka_unit_test(t_destroy_outstanding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
