/* Revoke, release, function reset and provider death: after each, the
 * device performs no DMA into the memory that went away, handles are
 * stale, the ledger is empty, and the grant can be claimed again. Also
 * interrupt delivery, which teardown must disconnect. */
#include "fixture.h"

#include <string.h>

struct busy {
    struct fx f;
    capdrv_cap_t g, m, pool, buf;
    struct capdrv_dmabuf_info bi;
};

/* Start a FILL that completes only after 10 us of simulated time. */
static void start_busy(struct busy *b, bool iommu)
{
    fx_basic(&b->f, iommu);
    b->g = fx_open(b->f.p1, "dma0");
    b->m = fx_mmio(b->f.p1, b->g, 0);
    assert_int_equal(capdrv_pool_open(b->f.p1, b->g, &b->pool), 0);
    assert_int_equal(capdrv_dma_alloc(b->f.p1, b->pool, 4096, &b->buf, &b->bi), 0);
    assert_int_equal(fx_dmatest_cmd(b->f.p1, b->m, capdrv_dma_ref(&b->bi, 0), 4096,
                                    CAPDRV_DMATEST_CMD_FILL, 0x77777777u, 10000), 0);
    uint64_t st;
    assert_int_equal(capdrv_mmio_read(b->f.p1, b->m, CAPDRV_DMATEST_STATUS, 4, &st), 0);
    assert_true(st & CAPDRV_DMATEST_STATUS_BUSY);
}

static void test_revoke_inflight_buffer_quiesces(void **state)
{
    (void)state;
    for (int iommu = 0; iommu <= 1; iommu++) {
        struct busy b;
        start_busy(&b, iommu);
        unsigned resets = capdrv_sim_reset_count(b.f.sim, b.f.fn_dma0);
        assert_int_equal(capdrv_shim_revoke(b.f.shim, b.f.p1, b.buf), 0);
        assert_int_equal(capdrv_sim_reset_count(b.f.sim, b.f.fn_dma0), resets + 1);
        struct capdrv_dmabuf_info bi;
        assert_int_equal(capdrv_dmabuf_info(b.f.p1, b.buf, &bi), -CAPDRV_ESTALE);
        assert_int_equal(capdrv_cap_release(b.f.p1, b.buf), -CAPDRV_ESTALE);
        /* Time passes: the cancelled command must never DMA (the oracle
         * would count a write to unmapped memory). */
        capdrv_sim_advance(b.f.sim, 100000);
        struct capdrv_shim_stats st;
        assert_int_equal(capdrv_shim_stats(b.f.shim, &st), 0);
        assert_int_equal(st.dma_buffers, 0);
        fx_done(&b.f); /* asserts zero oracle violations */
    }
}

static void test_revoke_idle_buffer_needs_no_reset(void **state)
{
    (void)state;
    struct busy b;
    start_busy(&b, false);
    capdrv_sim_advance(b.f.sim, 20000); /* the command completes */
    assert_int_equal(((uint8_t *)b.bi.cpu)[0], 0x77);
    unsigned resets = capdrv_sim_reset_count(b.f.sim, b.f.fn_dma0);
    assert_int_equal(capdrv_shim_revoke(b.f.shim, b.f.p1, b.buf), 0);
    assert_int_equal(capdrv_sim_reset_count(b.f.sim, b.f.fn_dma0), resets); /* device idle */
    uint64_t v; /* the window is still usable */
    assert_int_equal(capdrv_mmio_read(b.f.p1, b.m, CAPDRV_DMATEST_ID, 4, &v), 0);
    fx_done(&b.f);
}

static void test_release_inflight_buffer_quiesces(void **state)
{
    (void)state;
    struct busy b;
    start_busy(&b, false);
    unsigned resets = capdrv_sim_reset_count(b.f.sim, b.f.fn_dma0);
    assert_int_equal(capdrv_cap_release(b.f.p1, b.buf), 0);
    assert_int_equal(capdrv_sim_reset_count(b.f.sim, b.f.fn_dma0), resets + 1);
    capdrv_sim_advance(b.f.sim, 100000);
    fx_done(&b.f);
}

static void test_revoke_grant_revokes_everything(void **state)
{
    (void)state;
    struct busy b;
    start_busy(&b, false);
    capdrv_cap_t irq;
    assert_int_equal(capdrv_irq_open(b.f.p1, b.g, 0, &irq), 0);
    assert_int_equal(capdrv_shim_revoke(b.f.shim, b.f.p1, b.g), 0);
    uint64_t v, ready;
    struct capdrv_dmabuf_info bi;
    assert_int_equal(capdrv_mmio_read(b.f.p1, b.m, 0, 4, &v), -CAPDRV_ESTALE);
    assert_int_equal(capdrv_dmabuf_info(b.f.p1, b.buf, &bi), -CAPDRV_ESTALE);
    assert_int_equal(capdrv_irq_wait(b.f.p1, &irq, 1, 0, &ready), -CAPDRV_ESTALE);
    assert_int_equal(capdrv_dma_alloc(b.f.p1, b.pool, 4096, &b.buf, &bi), -CAPDRV_ESTALE);
    capdrv_sim_advance(b.f.sim, 100000);
    /* The grant is free again. */
    capdrv_sys *other;
    assert_int_equal(capdrv_shim_connect(b.f.shim, "p1", &other), 0);
    fx_open(other, "dma0");
    capdrv_sys_close(other);
    /* Revoking through the wrong connection object is refused. */
    assert_int_equal(capdrv_shim_revoke(b.f.shim, b.f.p2, b.g), -CAPDRV_EBADF);
    fx_done(&b.f);
}

static void test_function_reset_keeps_grant(void **state)
{
    (void)state;
    struct busy b;
    start_busy(&b, true);
    unsigned resets = capdrv_sim_reset_count(b.f.sim, b.f.fn_dma0);
    assert_int_equal(capdrv_grant_reset(b.f.p1, b.g), 0);
    assert_int_equal(capdrv_sim_reset_count(b.f.sim, b.f.fn_dma0), resets + 1);
    uint64_t v;
    struct capdrv_dmabuf_info bi;
    assert_int_equal(capdrv_mmio_read(b.f.p1, b.m, 0, 4, &v), -CAPDRV_ESTALE);
    assert_int_equal(capdrv_dmabuf_info(b.f.p1, b.buf, &bi), -CAPDRV_ESTALE);
    assert_int_equal(capdrv_grant_lane(b.f.p1, b.g), CAPDRV_LANE_DIRECT); /* grant lives */
    capdrv_sim_advance(b.f.sim, 100000);
    /* Start again on the same grant. */
    capdrv_cap_t m = fx_mmio(b.f.p1, b.g, 0), pool, buf;
    assert_int_equal(capdrv_pool_open(b.f.p1, b.g, &pool), 0);
    assert_int_equal(capdrv_dma_alloc(b.f.p1, pool, 4096, &buf, &bi), 0);
    assert_int_equal(fx_dmatest_cmd(b.f.p1, m, capdrv_dma_ref(&bi, 0), 64, CAPDRV_DMATEST_CMD_FILL, 0x01010101u, 0), 0);
    assert_int_equal(((uint8_t *)bi.cpu)[63], 1);
    fx_done(&b.f);
}

static void test_provider_death_tears_down(void **state)
{
    (void)state;
    struct busy b;
    start_busy(&b, false);
    capdrv_cap_t irq;
    assert_int_equal(capdrv_irq_open(b.f.p1, b.g, 0, &irq), 0);
    /* p2 keeps working throughout. */
    capdrv_cap_t g2 = fx_open(b.f.p2, "dma1");
    capdrv_cap_t m2 = fx_mmio(b.f.p2, g2, 0), pool2, buf2;
    struct capdrv_dmabuf_info bi2;
    assert_int_equal(capdrv_pool_open(b.f.p2, g2, &pool2), 0);
    assert_int_equal(capdrv_dma_alloc(b.f.p2, pool2, 4096, &buf2, &bi2), 0);
    unsigned resets = capdrv_sim_reset_count(b.f.sim, b.f.fn_dma0);
    capdrv_sys_close(b.f.p1); /* death, with a command in flight */
    b.f.p1 = NULL;
    assert_int_equal(capdrv_sim_reset_count(b.f.sim, b.f.fn_dma0), resets + 1);
    capdrv_sim_advance(b.f.sim, 100000);
    struct capdrv_shim_stats st;
    assert_int_equal(capdrv_shim_stats(b.f.shim, &st), 0);
    assert_int_equal(st.dma_buffers, 1); /* only p2's */
    assert_int_equal(st.grants_claimed, 1);
    assert_int_equal(st.providers, 1);
    assert_int_equal(fx_dmatest_cmd(b.f.p2, m2, capdrv_dma_ref(&bi2, 0), 8, CAPDRV_DMATEST_CMD_FILL, 0x02020202u, 0), 0);
    assert_int_equal(((uint8_t *)bi2.cpu)[7], 2);
    /* A restarted p1 gets the grant back. */
    assert_int_equal(capdrv_shim_connect(b.f.shim, "p1", &b.f.p1), 0);
    capdrv_cap_t g = fx_open(b.f.p1, "dma0");
    assert_int_equal(capdrv_grant_lane(b.f.p1, g), CAPDRV_LANE_BROKERED);
    fx_done(&b.f);
}

static void test_interrupts(void **state)
{
    (void)state;
    struct busy b;
    start_busy(&b, false);
    capdrv_cap_t irq0, irq1, raw, rirq;
    assert_int_equal(capdrv_irq_open(b.f.p1, b.g, 0, &irq0), 0);
    assert_int_equal(capdrv_irq_open(b.f.p1, b.g, 1, &irq1), 0);
    raw = fx_open(b.f.p1, "raw0");
    assert_int_equal(capdrv_irq_open(b.f.p1, raw, 0, &rirq), 0);
    capdrv_cap_t set[3] = {irq1, rirq, irq0};
    uint64_t ready = 0;
    assert_int_equal(capdrv_irq_wait(b.f.p1, set, 3, 0, &ready), -CAPDRV_ETIMEDOUT); /* poll */
    /* Waiting lets simulated time run until the command completes. */
    assert_int_equal(capdrv_irq_wait(b.f.p1, set, 3, 1000000, &ready), 1);
    assert_int_equal(ready, 1u << 2);
    assert_int_equal(((uint8_t *)b.bi.cpu)[0], 0x77);
    /* Pending until acknowledged. */
    assert_int_equal(capdrv_irq_wait(b.f.p1, set, 3, 0, &ready), 1);
    assert_int_equal(capdrv_irq_ack(b.f.p1, irq0), 0);
    assert_int_equal(capdrv_irq_wait(b.f.p1, set, 3, 0, &ready), -CAPDRV_ETIMEDOUT);
    /* Masked: the completion latches and is delivered on unmask. */
    assert_int_equal(capdrv_irq_mask(b.f.p1, irq0, true), 0);
    assert_int_equal(fx_dmatest_cmd(b.f.p1, b.m, capdrv_dma_ref(&b.bi, 0), 16, CAPDRV_DMATEST_CMD_SUM, 0, 0), 0);
    assert_int_equal(capdrv_irq_wait(b.f.p1, &irq0, 1, 0, &ready), -CAPDRV_ETIMEDOUT);
    assert_int_equal(capdrv_irq_mask(b.f.p1, irq0, false), 0);
    assert_int_equal(capdrv_irq_wait(b.f.p1, &irq0, 1, 0, &ready), 1);
    /* Argument checks. */
    assert_int_equal(capdrv_irq_wait(b.f.p1, set, 0, 0, &ready), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_irq_wait(b.f.p1, set, 65, 0, &ready), -CAPDRV_EINVAL);
    capdrv_cap_t bad[2] = {irq0, b.m};
    assert_int_equal(capdrv_irq_wait(b.f.p1, bad, 2, 0, &ready), -CAPDRV_EBADF);
    assert_int_equal(capdrv_cap_release(b.f.p1, irq1), 0);
    assert_int_equal(capdrv_irq_wait(b.f.p1, set, 3, 0, &ready), -CAPDRV_ESTALE);
    assert_int_equal(capdrv_irq_ack(b.f.p1, irq1), -CAPDRV_ESTALE);
    fx_done(&b.f);
}

/* A quiesce reset (revoking one busy buffer) must not silence the
 * interrupt vectors the provider still holds. */
static void test_interrupt_survives_quiesce(void **state)
{
    (void)state;
    struct busy b;
    start_busy(&b, false);
    capdrv_cap_t irq, buf2;
    assert_int_equal(capdrv_irq_open(b.f.p1, b.g, 0, &irq), 0);
    unsigned resets = capdrv_sim_reset_count(b.f.sim, b.f.fn_dma0);
    assert_int_equal(capdrv_shim_revoke(b.f.shim, b.f.p1, b.buf), 0);
    assert_int_equal(capdrv_sim_reset_count(b.f.sim, b.f.fn_dma0), resets + 1);
    struct capdrv_dmabuf_info bi;
    assert_int_equal(capdrv_dma_alloc(b.f.p1, b.pool, 4096, &buf2, &bi), 0);
    assert_int_equal(fx_dmatest_cmd(b.f.p1, b.m, capdrv_dma_ref(&bi, 0), 4096,
                                    CAPDRV_DMATEST_CMD_FILL, 0x42424242u, 500), 0);
    uint64_t ready = 0;
    assert_int_equal(capdrv_irq_wait(b.f.p1, &irq, 1, 1000000, &ready), 1);
    assert_int_equal(((uint8_t *)bi.cpu)[4095], 0x42);
    fx_done(&b.f);
}

/* ... and a vector the provider masked stays masked across that reset:
 * its interrupt latches and arrives only when the provider unmasks. */
static void test_masked_interrupt_stays_masked_across_quiesce(void **state)
{
    (void)state;
    struct busy b;
    start_busy(&b, false);
    capdrv_cap_t irq, buf2;
    assert_int_equal(capdrv_irq_open(b.f.p1, b.g, 0, &irq), 0);
    assert_int_equal(capdrv_irq_mask(b.f.p1, irq, true), 0);
    unsigned resets = capdrv_sim_reset_count(b.f.sim, b.f.fn_dma0);
    assert_int_equal(capdrv_shim_revoke(b.f.shim, b.f.p1, b.buf), 0);
    assert_int_equal(capdrv_sim_reset_count(b.f.sim, b.f.fn_dma0), resets + 1);
    struct capdrv_dmabuf_info bi;
    assert_int_equal(capdrv_dma_alloc(b.f.p1, b.pool, 4096, &buf2, &bi), 0);
    assert_int_equal(fx_dmatest_cmd(b.f.p1, b.m, capdrv_dma_ref(&bi, 0), 4096,
                                    CAPDRV_DMATEST_CMD_FILL, 0x43434343u, 500), 0);
    uint64_t ready = 0;
    /* The command completes (time runs in the wait) but the vector is
     * still masked: nothing is delivered. */
    assert_int_equal(capdrv_irq_wait(b.f.p1, &irq, 1, 1000000, &ready), -CAPDRV_ETIMEDOUT);
    assert_int_equal(((uint8_t *)bi.cpu)[4095], 0x43);
    assert_int_equal(capdrv_irq_mask(b.f.p1, irq, false), 0);
    assert_int_equal(capdrv_irq_wait(b.f.p1, &irq, 1, 0, &ready), 1);
    fx_done(&b.f);
}

/* A device whose STATUS reads all-ones (gone, or lying) is not idle: the
 * shim must reset it before unmapping a buffer it was given. */
static void test_dead_device_is_not_idle(void **state)
{
    (void)state;
    struct busy b;
    start_busy(&b, false);
    capdrv_sim_advance(b.f.sim, 20000); /* completed, still counted in flight */
    assert_int_equal(capdrv_sim_dmatest_set_fault(b.f.sim, b.f.fn_dma0, CAPDRV_SIM_DMATEST_FAULT_DEAD), 0);
    unsigned resets = capdrv_sim_reset_count(b.f.sim, b.f.fn_dma0);
    assert_int_equal(capdrv_shim_revoke(b.f.shim, b.f.p1, b.buf), 0);
    assert_int_equal(capdrv_sim_reset_count(b.f.sim, b.f.fn_dma0), resets + 1);
    assert_int_equal(capdrv_sim_dmatest_set_fault(b.f.sim, b.f.fn_dma0, CAPDRV_SIM_DMATEST_FAULT_NONE), 0);
    fx_done(&b.f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_revoke_inflight_buffer_quiesces),
        cmocka_unit_test(test_revoke_idle_buffer_needs_no_reset),
        cmocka_unit_test(test_dead_device_is_not_idle),
        cmocka_unit_test(test_release_inflight_buffer_quiesces),
        cmocka_unit_test(test_revoke_grant_revokes_everything),
        cmocka_unit_test(test_function_reset_keeps_grant),
        cmocka_unit_test(test_provider_death_tears_down),
        cmocka_unit_test(test_interrupts),
        cmocka_unit_test(test_interrupt_survives_quiesce),
        cmocka_unit_test(test_masked_interrupt_stays_masked_across_quiesce),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
