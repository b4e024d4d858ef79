/* MSI-X on the sim platform (PCI Local Bus 3.0 §6.8, simplified): routing
 * with irq_enable/irq_disable, Mask and Pending bits (vector and function
 * masks, the table and PBA in BAR2), irq_wait semantics on the simulated
 * clock, reset, and concurrent use of one machine from two threads. */
#include "sim_test.h"

#include <pthread.h>

#define MSIX_CTRL 0x82 /* Message Control of the sim's MSI-X capability */
#define PBA CAPDRV_SIM_MSIX_PBA_OFFSET

static uint64_t bar2(struct st *t, unsigned fn, uint64_t off, unsigned width)
{
    uint64_t v = 0xdeadbeef;
    assert_int_equal(t->hw.ops->bar_read(t->hw.ctx, fn, 2, off, width, &v), 0);
    return v;
}

static void bar2_wr(struct st *t, unsigned fn, uint64_t off, unsigned width, uint64_t v)
{
    assert_int_equal(t->hw.ops->bar_write(t->hw.ctx, fn, 2, off, width, v), 0);
}

/* Poll one source: 1 if it fired (and consume it), 0 if not. */
static int poll1(struct st *t, unsigned fn, unsigned vector)
{
    struct capdrv_hw_irq src = {fn, vector};
    uint64_t ready = 0;
    int rc = t->hw.ops->irq_wait(t->hw.ctx, &src, 1, 0, &ready);
    if (rc == -CAPDRV_ETIMEDOUT)
        return 0;
    assert_int_equal(rc, 1);
    assert_int_equal(ready, 1);
    return 1;
}

static void test_enable(void **state)
{
    (void)state;
    struct st t;
    st_init(&t, false);
    /* Power-on: MSI-X off, every vector masked (§6.8.2.9), nothing pending. */
    assert_int_equal(st_cfg(&t, t.raw, MSIX_CTRL, 2) & 0xc000, 0);
    assert_int_equal(bar2(&t, t.raw, 12, 4), 1);
    assert_int_equal(bar2(&t, t.raw, 16 + 12, 4), 1);
    assert_int_equal(bar2(&t, t.raw, PBA, 8), 0);
    assert_int_equal(t.hw.ops->irq_enable(t.hw.ctx, t.raw, 2), -CAPDRV_ENOENT);
    assert_int_equal(t.hw.ops->irq_enable(t.hw.ctx, 3, 0), -CAPDRV_ENOENT);
    assert_int_equal(t.hw.ops->irq_disable(t.hw.ctx, t.raw, 2), -CAPDRV_ENOENT);
    assert_int_equal(t.hw.ops->irq_mask(t.hw.ctx, t.raw, 2, true), -CAPDRV_ENOENT);
    assert_int_equal(t.hw.ops->irq_disable(t.hw.ctx, 3, 0), -CAPDRV_ENOENT);
    assert_int_equal(t.hw.ops->irq_mask(t.hw.ctx, 3, 0, false), -CAPDRV_ENOENT);
    assert_int_equal(capdrv_sim_irq_raise(t.sim, t.raw, 2), -CAPDRV_ENOENT);
    assert_int_equal(capdrv_sim_irq_raise(t.sim, 3, 0), -CAPDRV_ENOENT);
    /* A message while MSI-X is disabled goes nowhere. */
    assert_int_equal(capdrv_sim_irq_raise(t.sim, t.raw, 0), 0);
    assert_int_equal(t.hw.ops->irq_enable(t.hw.ctx, t.raw, 0), 0);
    assert_int_equal(poll1(&t, t.raw, 0), 0);
    /* Enabled: MSI-X Enable set, the entry programmed and unmasked. */
    assert_int_equal(st_cfg(&t, t.raw, MSIX_CTRL, 2) & 0xc000, 0x8000);
    assert_int_not_equal(bar2(&t, t.raw, 0, 4), 0);
    assert_int_equal(bar2(&t, t.raw, 12, 4), 0);
    assert_int_equal(capdrv_sim_irq_raise(t.sim, t.raw, 0), 0);
    assert_int_equal(poll1(&t, t.raw, 0), 1);
    assert_int_equal(poll1(&t, t.raw, 0), 0); /* consumed */
    /* Vector 1 is still masked: its message latches in the PBA and is
     * sent when the vector is enabled (unmasked). */
    assert_int_equal(capdrv_sim_irq_raise(t.sim, t.raw, 1), 0);
    assert_int_equal(bar2(&t, t.raw, PBA, 8), 2);
    assert_int_equal(t.hw.ops->irq_enable(t.hw.ctx, t.raw, 1), 0);
    assert_int_equal(bar2(&t, t.raw, PBA, 8), 0);
    assert_int_equal(poll1(&t, t.raw, 1), 1);
    st_done(&t, 0);
}

static void test_mask_latches(void **state)
{
    (void)state;
    struct st t;
    st_init(&t, false);
    struct capdrv_hw_dma mem;
    uint64_t dev = st_alloc_map(&t, t.dma0, 4096, 0, &mem);
    assert_int_equal(t.hw.ops->irq_enable(t.hw.ctx, t.dma0, 0), 0);
    assert_int_equal(t.hw.ops->irq_mask(t.hw.ctx, t.dma0, 0, true), 0);
    assert_int_equal(bar2(&t, t.dma0, 12, 4), 1);
    st_cmd(&t, t.dma0, dev, 4, CAPDRV_DMATEST_CMD_FILL, 1, 2000);
    struct capdrv_hw_irq src = {t.dma0, 0};
    uint64_t ready = 0;
    /* The completion happens during the wait, but the vector is masked:
     * it latches (§6.8.3.5) and the wait times out. */
    assert_int_equal(t.hw.ops->irq_wait(t.hw.ctx, &src, 1, 5000, &ready), -CAPDRV_ETIMEDOUT);
    assert_int_equal(st_status(&t, t.dma0), CAPDRV_DMATEST_STATUS_DONE);
    assert_int_equal(bar2(&t, t.dma0, PBA, 8), 1);
    /* Masking again changes nothing; unmasking delivers it once. */
    assert_int_equal(t.hw.ops->irq_mask(t.hw.ctx, t.dma0, 0, true), 0);
    assert_int_equal(poll1(&t, t.dma0, 0), 0);
    assert_int_equal(t.hw.ops->irq_mask(t.hw.ctx, t.dma0, 0, false), 0);
    assert_int_equal(bar2(&t, t.dma0, PBA, 8), 0);
    assert_int_equal(poll1(&t, t.dma0, 0), 1);
    assert_int_equal(poll1(&t, t.dma0, 0), 0);
    /* Several messages while masked are one pending bit: one delivery. */
    assert_int_equal(t.hw.ops->irq_mask(t.hw.ctx, t.dma0, 0, true), 0);
    assert_int_equal(capdrv_sim_irq_raise(t.sim, t.dma0, 0), 0);
    assert_int_equal(capdrv_sim_irq_raise(t.sim, t.dma0, 0), 0);
    assert_int_equal(t.hw.ops->irq_mask(t.hw.ctx, t.dma0, 0, false), 0);
    assert_int_equal(poll1(&t, t.dma0, 0), 1);
    assert_int_equal(poll1(&t, t.dma0, 0), 0);
    st_unmap_free(&t, t.dma0, &mem, dev);
    st_done(&t, 0);
}

static void test_function_mask_and_table(void **state)
{
    (void)state;
    struct st t;
    st_init(&t, false);
    unsigned fn = t.raw;
    assert_int_equal(t.hw.ops->irq_enable(t.hw.ctx, fn, 0), 0);
    assert_int_equal(t.hw.ops->irq_enable(t.hw.ctx, fn, 1), 0);
    /* Function Mask (§6.8.2.3) holds every vector. */
    assert_int_equal(t.hw.ops->cfg_write(t.hw.ctx, fn, MSIX_CTRL, 2, 0xc000), 0);
    assert_int_equal(capdrv_sim_irq_raise(t.sim, fn, 0), 0);
    assert_int_equal(capdrv_sim_irq_raise(t.sim, fn, 1), 0);
    assert_int_equal(bar2(&t, fn, PBA, 8), 3);
    assert_int_equal(poll1(&t, fn, 0) + poll1(&t, fn, 1), 0);
    assert_int_equal(t.hw.ops->cfg_write(t.hw.ctx, fn, MSIX_CTRL, 2, 0x8000), 0);
    assert_int_equal(bar2(&t, fn, PBA, 8), 0);
    struct capdrv_hw_irq set[2] = {{fn, 0}, {fn, 1}};
    uint64_t ready = 0;
    assert_int_equal(t.hw.ops->irq_wait(t.hw.ctx, set, 2, 0, &ready), 2);
    assert_int_equal(ready, 3);
    /* The table in BAR2: the Mask bit is the only writable Vector Control
     * bit; address bits 1:0 are zero; the PBA is read-only. */
    bar2_wr(&t, fn, 12, 4, 0xffffffff);
    assert_int_equal(bar2(&t, fn, 12, 4), 1);
    assert_int_equal(capdrv_sim_irq_raise(t.sim, fn, 0), 0);
    assert_int_equal(bar2(&t, fn, PBA, 8), 1);
    bar2_wr(&t, fn, PBA, 8, 0);
    assert_int_equal(bar2(&t, fn, PBA, 8), 1);
    bar2_wr(&t, fn, 12, 4, 0); /* unmask through the table */
    assert_int_equal(poll1(&t, fn, 0), 1);
    bar2_wr(&t, fn, 16, 8, 0x00000001fee01003ull);
    assert_int_equal(bar2(&t, fn, 16, 8), 0x00000001fee01000ull);
    bar2_wr(&t, fn, 24, 4, 0x4321);
    assert_int_equal(bar2(&t, fn, 24, 4), 0x4321);
    /* Beyond the table and between table and PBA: reserved, reads 0. */
    bar2_wr(&t, fn, 0x40, 4, 0xffffffff);
    assert_int_equal(bar2(&t, fn, 0x40, 4), 0);
    assert_int_equal(bar2(&t, fn, 0xff8, 8), 0);
    /* MSI-X Enable clear: nothing is sent, not even a pending message whose
     * vector is unmasked; setting Enable again releases it. */
    assert_int_equal(t.hw.ops->irq_mask(t.hw.ctx, fn, 0, true), 0);
    assert_int_equal(capdrv_sim_irq_raise(t.sim, fn, 0), 0);
    assert_int_equal(t.hw.ops->cfg_write(t.hw.ctx, fn, MSIX_CTRL, 2, 0x0000), 0);
    assert_int_equal(t.hw.ops->irq_mask(t.hw.ctx, fn, 0, false), 0);
    assert_int_equal(poll1(&t, fn, 0), 0);
    assert_int_equal(bar2(&t, fn, PBA, 8), 1);
    assert_int_equal(capdrv_sim_irq_raise(t.sim, fn, 1), 0); /* disabled: lost */
    assert_int_equal(t.hw.ops->cfg_write(t.hw.ctx, fn, MSIX_CTRL, 2, 0x8000), 0);
    assert_int_equal(poll1(&t, fn, 0), 1);
    assert_int_equal(poll1(&t, fn, 1), 0);
    st_done(&t, 0);
}

static void test_disable_drops_pending(void **state)
{
    (void)state;
    struct st t;
    st_init(&t, false);
    unsigned fn = t.raw;
    assert_int_equal(t.hw.ops->irq_enable(t.hw.ctx, fn, 0), 0);
    assert_int_equal(t.hw.ops->irq_mask(t.hw.ctx, fn, 0, true), 0);
    assert_int_equal(capdrv_sim_irq_raise(t.sim, fn, 0), 0);
    assert_int_equal(t.hw.ops->irq_disable(t.hw.ctx, fn, 0), 0);
    assert_int_equal(bar2(&t, fn, PBA, 8), 0);
    assert_int_equal(t.hw.ops->irq_enable(t.hw.ctx, fn, 0), 0);
    assert_int_equal(poll1(&t, fn, 0), 0);
    /* A fired but unconsumed interrupt is dropped too. */
    assert_int_equal(capdrv_sim_irq_raise(t.sim, fn, 0), 0);
    assert_int_equal(t.hw.ops->irq_disable(t.hw.ctx, fn, 0), 0);
    assert_int_equal(t.hw.ops->irq_enable(t.hw.ctx, fn, 0), 0);
    assert_int_equal(poll1(&t, fn, 0), 0);
    /* Disabled: a message goes nowhere (the vector is masked, so it
     * latches; enabling it later delivers it, as hardware would). */
    assert_int_equal(t.hw.ops->irq_disable(t.hw.ctx, fn, 0), 0);
    assert_int_equal(capdrv_sim_irq_raise(t.sim, fn, 0), 0);
    assert_int_equal(poll1(&t, fn, 0), 0);
    assert_int_equal(bar2(&t, fn, PBA, 8), 1);
    assert_int_equal(t.hw.ops->irq_enable(t.hw.ctx, fn, 0), 0);
    assert_int_equal(poll1(&t, fn, 0), 1);
    st_done(&t, 0);
}

static void test_wait_semantics(void **state)
{
    (void)state;
    struct st t;
    st_init(&t, false);
    struct capdrv_hw_irq set[3] = {{t.raw, 1}, {t.raw, 0}, {t.raw, 1}};
    uint64_t ready = 0;
    /* Argument checks. */
    assert_int_equal(t.hw.ops->irq_wait(t.hw.ctx, set, 0, 0, &ready), -CAPDRV_EINVAL);
    assert_int_equal(t.hw.ops->irq_wait(t.hw.ctx, set, 65, 0, &ready), -CAPDRV_EINVAL);
    assert_int_equal(t.hw.ops->irq_wait(t.hw.ctx, NULL, 1, 0, &ready), -CAPDRV_EINVAL);
    assert_int_equal(t.hw.ops->irq_wait(t.hw.ctx, set, 1, 0, NULL), -CAPDRV_EINVAL);
    struct capdrv_hw_irq bad[2] = {{t.raw, 0}, {t.raw, 2}};
    assert_int_equal(t.hw.ops->irq_wait(t.hw.ctx, bad, 2, 0, &ready), -CAPDRV_ENOENT);
    bad[1].fn = 3;
    bad[1].vector = 0;
    assert_int_equal(t.hw.ops->irq_wait(t.hw.ctx, bad, 2, 0, &ready), -CAPDRV_ENOENT);
    /* Nothing scheduled: poll, bounded and unbounded waits all time out
     * at once; the bounded one uses up its simulated time. */
    assert_int_equal(t.hw.ops->irq_enable(t.hw.ctx, t.raw, 0), 0);
    assert_int_equal(t.hw.ops->irq_enable(t.hw.ctx, t.raw, 1), 0);
    assert_int_equal(t.hw.ops->irq_wait(t.hw.ctx, set, 3, 0, &ready), -CAPDRV_ETIMEDOUT);
    assert_int_equal(capdrv_sim_now(t.sim), 0);
    assert_int_equal(t.hw.ops->irq_wait(t.hw.ctx, set, 3, -1, &ready), -CAPDRV_ETIMEDOUT);
    assert_int_equal(capdrv_sim_now(t.sim), 0);
    assert_int_equal(t.hw.ops->irq_wait(t.hw.ctx, set, 3, 1000, &ready), -CAPDRV_ETIMEDOUT);
    assert_int_equal(capdrv_sim_now(t.sim), 1000);
    assert_int_equal(t.hw.ops->irq_wait(t.hw.ctx, set, 3, INT64_MAX, &ready), -CAPDRV_ETIMEDOUT);
    /* A source listed twice is reported at both positions. */
    assert_int_equal(capdrv_sim_irq_raise(t.sim, t.raw, 1), 0);
    ready = 0;
    assert_int_equal(t.hw.ops->irq_wait(t.hw.ctx, set, 3, 0, &ready), 2);
    assert_int_equal(ready, 5);
    /* Only sources in the set are consumed. */
    assert_int_equal(capdrv_sim_irq_raise(t.sim, t.raw, 0), 0);
    assert_int_equal(capdrv_sim_irq_raise(t.sim, t.raw, 1), 0);
    assert_int_equal(t.hw.ops->irq_wait(t.hw.ctx, &set[0], 1, 0, &ready), 1);
    assert_int_equal(ready, 1);
    assert_int_equal(poll1(&t, t.raw, 1), 0);
    assert_int_equal(poll1(&t, t.raw, 0), 1);
    st_done(&t, 0);
}

static void test_reset_disables_msix(void **state)
{
    (void)state;
    struct st t;
    st_init(&t, false);
    unsigned fn = t.raw;
    assert_int_equal(t.hw.ops->irq_enable(t.hw.ctx, fn, 0), 0);
    assert_int_equal(t.hw.ops->irq_mask(t.hw.ctx, fn, 0, true), 0);
    assert_int_equal(capdrv_sim_irq_raise(t.sim, fn, 0), 0);
    assert_int_equal(capdrv_sim_irq_raise(t.sim, t.dma0, 0), 0); /* not enabled: dropped */
    assert_int_equal(t.hw.ops->function_reset(t.hw.ctx, fn), 0);
    assert_int_equal(st_cfg(&t, fn, MSIX_CTRL, 2) & 0xc000, 0);
    assert_int_equal(bar2(&t, fn, PBA, 8), 0);
    assert_int_equal(bar2(&t, fn, 12, 4), 1);
    assert_int_equal(bar2(&t, fn, 0, 8), 0);
    assert_int_equal(capdrv_sim_irq_raise(t.sim, fn, 0), 0);
    assert_int_equal(poll1(&t, fn, 0), 0);
    /* The host routes it again and it works. */
    assert_int_equal(t.hw.ops->irq_enable(t.hw.ctx, fn, 0), 0);
    assert_int_equal(poll1(&t, fn, 0), 0);
    assert_int_equal(capdrv_sim_irq_raise(t.sim, fn, 0), 0);
    assert_int_equal(poll1(&t, fn, 0), 1);
    st_done(&t, 0);
}

/* Two threads, each driving its own dmatest with delayed commands and
 * waiting for its interrupt. Whichever thread's wait runs the clock, every
 * command completes and every wait sees exactly its own interrupt. */
struct worker {
    struct st *t;
    unsigned fn;
    uint64_t dev;
    int failures;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct capdrv_hw hw = w->t->hw;
    struct capdrv_hw_irq src = {w->fn, 0};
    for (uint32_t i = 0; i < 300; i++) {
        uint64_t ready = 0;
        if (hw.ops->bar_write(hw.ctx, w->fn, 0, CAPDRV_DMATEST_ADDR, 8, w->dev) < 0 ||
            hw.ops->bar_write(hw.ctx, w->fn, 0, CAPDRV_DMATEST_LEN, 4, 64) < 0 ||
            hw.ops->bar_write(hw.ctx, w->fn, 0, CAPDRV_DMATEST_PATTERN, 4, i) < 0 ||
            hw.ops->bar_write(hw.ctx, w->fn, 0, CAPDRV_DMATEST_DELAY_NS, 4, 100 + i % 7) < 0 ||
            hw.ops->bar_write(hw.ctx, w->fn, 0, CAPDRV_DMATEST_CMD, 4, CAPDRV_DMATEST_CMD_FILL) < 0 ||
            hw.ops->irq_wait(hw.ctx, &src, 1, -1, &ready) != 1 || ready != 1)
            w->failures++;
    }
    return NULL;
}

static void test_two_threads(void **state)
{
    (void)state;
    struct st t;
    st_init(&t, true);
    struct capdrv_hw_dma a, b;
    struct worker w[2] = {
        {&t, t.dma0, st_alloc_map(&t, t.dma0, 4096, 0x1000, &a), 0},
        {&t, t.dma1, st_alloc_map(&t, t.dma1, 4096, 0x1000, &b), 0},
    };
    assert_int_equal(t.hw.ops->irq_enable(t.hw.ctx, t.dma0, 0), 0);
    assert_int_equal(t.hw.ops->irq_enable(t.hw.ctx, t.dma1, 0), 0);
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    assert_int_equal(w[0].failures, 0);
    assert_int_equal(w[1].failures, 0);
    assert_int_equal(((uint8_t *)a.cpu)[0], 299 & 0xff); /* the last pattern */
    assert_int_equal(((uint8_t *)b.cpu)[0], 299 & 0xff);
    st_unmap_free(&t, t.dma0, &a, w[0].dev);
    st_unmap_free(&t, t.dma1, &b, w[1].dev);
    st_done(&t, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enable),
        cmocka_unit_test(test_mask_latches),
        cmocka_unit_test(test_function_mask_and_table),
        cmocka_unit_test(test_disable_drops_pending),
        cmocka_unit_test(test_wait_semantics),
        cmocka_unit_test(test_reset_disables_msix),
        cmocka_unit_test(test_two_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
