/* Queue pairs on different threads at once (capdrv/nvme.h "Threads",
 * capdrv_nvme_ctrl_opts::qpair_threads), over the in-process shim and the
 * sim's NVMe controller. Four threads each own a queue pair and run
 * write / read-back / verify rounds on their own blocks, while the main
 * thread issues admin commands and resets the controller. Checked: every
 * command completes exactly once (a per-command flag), with success or
 * -CAPDRV_ECANCELED (a reset caught it), data read back after a
 * successful write is that write's, every pair keeps working after each
 * reset, and nothing leaks (the shim's allocation count, the DMA oracle).
 * CI runs it under ASan/UBSan and, in its own build, under ThreadSanitizer
 * (tools/test, build-tsan/). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "nvme_rig.h"

#ifndef NVME_MANIFEST
#error "NVME_MANIFEST must name the compiled manifest"
#endif

#define THREADS 4u
#define ROUNDS 300u
#define BLOCKS_PER_THREAD 8u
#define BLOCK 512u
#define FID_NUM_QUEUES 0x07u

struct cmd {
    int done; /* completions seen: must end at exactly 1 */
    int status;
};

struct worker {
    unsigned id;
    struct capdrv_nvme_qpair *qp;
    capdrv_cap_t buf;
    struct capdrv_dmabuf_info bi;
    atomic_int *stop;
    /* results, checked by the main thread */
    unsigned ok_rounds, cancelled, bad_status, double_completion, mismatches, lost;
    int last_err;
};

static void on_done(void *arg, const struct capdrv_nvme_cpl *cpl)
{
    struct cmd *m = arg;
    m->done++;
    m->status = cpl->status;
}

/* Wait until @m completed; false if the pair reported an error first. */
static bool wait_for(struct worker *w, struct cmd *m)
{
    for (unsigned spins = 0; m->done == 0; spins++) {
        int rc = capdrv_nvme_qpair_wait(w->qp, 100000000);
        if (rc < 0 && rc != -CAPDRV_EBUSY && rc != -CAPDRV_ETIMEDOUT) {
            w->last_err = rc;
            return m->done != 0;
        }
        if (spins > 100000) {
            w->lost++;
            return false;
        }
    }
    return true;
}

/* Submit through @fn, retrying while a reset elsewhere makes the pair
 * refuse work for a moment (-CAPDRV_EBUSY). */
static int submit(struct worker *w, bool write, uint64_t slba, struct capdrv_dma_seg *seg,
                  struct cmd *m)
{
    for (unsigned tries = 0;; tries++) {
        int rc = write ? capdrv_nvme_write(w->qp, 1, slba, BLOCKS_PER_THREAD, seg, 1, on_done, m)
                       : capdrv_nvme_read(w->qp, 1, slba, BLOCKS_PER_THREAD, seg, 1, on_done, m);
        if (rc != -CAPDRV_EBUSY || tries > 100000)
            return rc;
        (void)capdrv_nvme_qpair_poll(w->qp, 0);
    }
}

static void check_once(struct worker *w, const struct cmd *m)
{
    if (m->done > 1)
        w->double_completion++;
    if (m->done == 1 && m->status != 0 && m->status != -CAPDRV_ECANCELED)
        w->bad_status++;
    if (m->done == 1 && m->status == -CAPDRV_ECANCELED)
        w->cancelled++;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    const size_t len = BLOCKS_PER_THREAD * BLOCK;
    uint8_t *out = (uint8_t *)w->bi.cpu, *in = out + len;
    struct capdrv_dma_seg wseg = {capdrv_dma_ref(&w->bi, 0), (uint32_t)len};
    struct capdrv_dma_seg rseg = {capdrv_dma_ref(&w->bi, len), (uint32_t)len};
    uint64_t slba = (uint64_t)w->id * BLOCKS_PER_THREAD;
    for (unsigned r = 0; r < ROUNDS && !atomic_load(w->stop); r++) {
        memset(out, (int)(w->id * 61u + r), len);
        memset(in, 0, len);
        struct cmd wr = {0}, rd = {0};
        bool read_sent = false;
        int rc = submit(w, true, slba, &wseg, &wr);
        if (rc < 0) {
            w->last_err = rc;
            break;
        }
        bool ok = wait_for(w, &wr);
        if (ok && wr.status == 0) {
            if ((rc = submit(w, false, slba, &rseg, &rd)) < 0) {
                w->last_err = rc;
                break;
            }
            read_sent = true;
            ok = wait_for(w, &rd);
            if (ok && rd.status == 0) {
                if (memcmp(in, out, len) != 0)
                    w->mismatches++;
                else
                    w->ok_rounds++;
            }
        }
        /* A late second completion of either would show here. */
        (void)capdrv_nvme_qpair_poll(w->qp, 0);
        check_once(w, &wr);
        if (read_sent)
            check_once(w, &rd);
        if (!ok || wr.done > 1 || rd.done > 1)
            break;
    }
    return NULL;
}

static void run(bool resets)
{
    struct nvme_rig t;
    struct capdrv_sim_nvme_config nc = {.max_io_queues = THREADS};
    struct nvme_rig_opts o = {.nc = &nc, .ctrl = {.io_queues = THREADS, .qpair_threads = true}};
    nvme_rig_up(&t, NVME_MANIFEST, &o);

    atomic_int stop = 0;
    struct worker w[THREADS];
    pthread_t th[THREADS];
    memset(w, 0, sizeof w);
    for (unsigned i = 0; i < THREADS; i++) {
        w[i].id = i;
        w[i].stop = &stop;
        struct capdrv_nvme_qpair_opts qo = {.depth = 8};
        assert_int_equal(capdrv_nvme_qpair_create(t.c, &qo, &w[i].qp), 0);
        w[i].buf = nvme_rig_alloc(&t, 2 * BLOCKS_PER_THREAD * BLOCK, &w[i].bi);
    }
    for (unsigned i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    /* The main thread: admin commands throughout, and resets. */
    unsigned resets_done = 0;
    for (unsigned k = 0; k < 200; k++) {
        uint32_t dw0 = 0;
        int arc = capdrv_nvme_get_features(t.c, FID_NUM_QUEUES, 0, 0, NULL, 0, &dw0);
        assert_true(arc == 0 || arc == -CAPDRV_ECANCELED || arc == -CAPDRV_EBUSY);
        if (resets && k % 50 == 25) {
            assert_int_equal(capdrv_nvme_ctrl_reset(t.c), 0);
            resets_done++;
        }
    }
    for (unsigned i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    (void)stop;
    struct capdrv_nvme_ctrl_info info;
    assert_int_equal(capdrv_nvme_ctrl_info(t.c, &info), 0);
    assert_int_equal(info.resets, resets_done);
    for (unsigned i = 0; i < THREADS; i++) {
        if (w[i].last_err)
            fail_msg("thread %u: %s", i, capdrv_strerror(w[i].last_err));
        assert_int_equal(w[i].double_completion, 0);
        assert_int_equal(w[i].bad_status, 0);
        assert_int_equal(w[i].mismatches, 0);
        assert_int_equal(w[i].lost, 0);
        assert_true(w[i].ok_rounds + w[i].cancelled >= ROUNDS);
        if (!resets)
            assert_int_equal(w[i].cancelled, 0);
        /* The pair works after everything. */
        struct capdrv_nvme_qpair_info qi;
        assert_int_equal(capdrv_nvme_qpair_info(w[i].qp, &qi), 0);
        assert_false(qi.broken);
        assert_int_equal(capdrv_nvme_qpair_destroy(w[i].qp), 0);
    }
    nvme_rig_down(&t); /* closes the controller, then releases the buffers */
}

static void t_threads(void **state)
{
    (void)state;
    run(false);
}

static void t_threads_with_resets(void **state)
{
    (void)state;
    run(true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_threads),
        cmocka_unit_test(t_threads_with_resets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
