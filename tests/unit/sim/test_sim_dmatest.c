/* The dmatest device model (capdrv/dev/dmatest.h) on the sim platform:
 * registers, commands with and without simulated latency, invalid and
 * overlapping commands, fault injection (rogue DMA, lost interrupt, stuck,
 * dead), function-level reset, and BAR access checking. Also the scratch
 * function's register file. */
#include "sim_test.h"

#include <stdlib.h>
#include <string.h>

static void test_registers(void **state)
{
    (void)state;
    struct st t;
    st_init(&t, false);
    unsigned fn = t.dma0;
    assert_int_equal(st_rd(&t, fn, CAPDRV_DMATEST_ID, 4), CAPDRV_DMATEST_ID_VALUE);
    assert_int_equal(st_status(&t, fn), 0);
    st_wr(&t, fn, CAPDRV_DMATEST_ADDR, 8, 0x0123456789abcdefull);
    st_wr(&t, fn, CAPDRV_DMATEST_LEN, 4, 0x1000);
    st_wr(&t, fn, CAPDRV_DMATEST_PATTERN, 4, 0xcafef00d);
    st_wr(&t, fn, CAPDRV_DMATEST_DELAY_NS, 4, 777);
    assert_int_equal(st_rd(&t, fn, CAPDRV_DMATEST_ADDR, 8), 0x0123456789abcdefull);
    assert_int_equal(st_rd(&t, fn, CAPDRV_DMATEST_LEN, 4), 0x1000);
    assert_int_equal(st_rd(&t, fn, CAPDRV_DMATEST_PATTERN, 4), 0xcafef00d);
    assert_int_equal(st_rd(&t, fn, CAPDRV_DMATEST_DELAY_NS, 4), 777);
    /* Read-only registers ignore writes; CMD is write-only. */
    st_wr(&t, fn, CAPDRV_DMATEST_ID, 4, 0);
    st_wr(&t, fn, CAPDRV_DMATEST_STATUS, 4, 0xffffffff);
    st_wr(&t, fn, CAPDRV_DMATEST_RESULT, 4, 0x1234);
    assert_int_equal(st_rd(&t, fn, CAPDRV_DMATEST_ID, 4), CAPDRV_DMATEST_ID_VALUE);
    assert_int_equal(st_status(&t, fn), 0);
    assert_int_equal(st_rd(&t, fn, CAPDRV_DMATEST_RESULT, 4), 0);
    assert_int_equal(st_rd(&t, fn, CAPDRV_DMATEST_CMD, 4), 0);
    /* Wrong width or offset: the device does not decode it. Reads are 0,
     * writes change nothing (and start nothing). */
    const struct {
        uint64_t off;
        unsigned width;
    } odd[] = {
        {CAPDRV_DMATEST_ID, 1}, {CAPDRV_DMATEST_ID, 2}, {CAPDRV_DMATEST_ID, 8},
        {CAPDRV_DMATEST_ADDR, 4}, {CAPDRV_DMATEST_ADDR + 4, 4}, {CAPDRV_DMATEST_LEN, 8},
        {CAPDRV_DMATEST_LEN, 2}, {CAPDRV_DMATEST_PATTERN + 1, 1}, {CAPDRV_DMATEST_CMD, 8},
        {CAPDRV_DMATEST_CMD, 2}, {0x24, 4}, {0x100, 4}, {0xff8, 8},
    };
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        if (st_rd(&t, fn, odd[i].off, odd[i].width) != 0)
            fail_msg("read 0x%x/%u decoded", (unsigned)odd[i].off, odd[i].width);
        st_wr(&t, fn, odd[i].off, odd[i].width, CAPDRV_DMATEST_CMD_FILL);
    }
    assert_int_equal(st_rd(&t, fn, CAPDRV_DMATEST_ADDR, 8), 0x0123456789abcdefull);
    assert_int_equal(st_rd(&t, fn, CAPDRV_DMATEST_LEN, 4), 0x1000);
    assert_int_equal(st_rd(&t, fn, CAPDRV_DMATEST_PATTERN, 4), 0xcafef00d);
    assert_int_equal(st_status(&t, fn), 0); /* no command started */
    /* Registers are per function. */
    assert_int_equal(st_rd(&t, t.dma1, CAPDRV_DMATEST_LEN, 4), 0);
    st_done(&t, 0);
}

static void test_bar_bounds(void **state)
{
    (void)state;
    struct st t;
    st_init(&t, false);
    const struct {
        unsigned fn, bar;
        uint64_t off;
        unsigned width;
        int rc;
    } cases[] = {
        {0, 0, 0x000, 4, 0},
        {0, 0, 0xff8, 8, 0},
        {0, 0, 0xfff, 1, 0},
        {0, 2, 0x808, 8, 0},
        {0, 0, 0x1000, 1, -CAPDRV_EFAULT},
        {0, 0, 0xffc, 8, -CAPDRV_EFAULT},
        {0, 0, 0x002, 4, -CAPDRV_EFAULT},
        {0, 0, 0x004, 8, -CAPDRV_EFAULT},
        {0, 0, 0x001, 2, -CAPDRV_EFAULT},
        {0, 0, 0x000, 0, -CAPDRV_EFAULT},
        {0, 0, 0x000, 3, -CAPDRV_EFAULT},
        {0, 0, 0x000, 16, -CAPDRV_EFAULT},
        {0, 0, UINT64_MAX - 3, 4, -CAPDRV_EFAULT},
        {0, 1, 0x000, 4, -CAPDRV_EFAULT},
        {0, 5, 0x000, 4, -CAPDRV_EFAULT},
        {0, 6, 0x000, 4, -CAPDRV_EFAULT},
        {0, 2, 0x1000, 4, -CAPDRV_EFAULT},
        {1, 0, 0x1000, 8, -CAPDRV_EFAULT},
        {3, 0, 0x000, 4, -CAPDRV_ENOENT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t v = 0;
        int r = t.hw.ops->bar_read(t.hw.ctx, cases[i].fn, cases[i].bar, cases[i].off,
                                   cases[i].width, &v);
        int w = t.hw.ops->bar_write(t.hw.ctx, cases[i].fn, cases[i].bar, cases[i].off,
                                    cases[i].width, 0);
        if (r != cases[i].rc || w != cases[i].rc)
            fail_msg("case %zu: read %d write %d, want %d", i, r, w, cases[i].rc);
    }
    assert_int_equal(t.hw.ops->bar_read(t.hw.ctx, 0, 0, 0, 4, NULL), -CAPDRV_EINVAL);
    st_done(&t, 0);
}

static uint32_t byte_sum(const uint8_t *p, size_t n)
{
    uint32_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += p[i];
    return s;
}

static void test_fill_and_sum_immediate(void **state)
{
    (void)state;
    for (int iommu = 0; iommu <= 1; iommu++) {
        struct st t;
        st_init(&t, iommu);
        struct capdrv_hw_dma mem;
        uint64_t dev = st_alloc_map(&t, t.dma0, CAPDRV_DMATEST_MAX_LEN, 0x200000, &mem);
        assert_int_equal(t.hw.ops->irq_enable(t.hw.ctx, t.dma0, 0), 0);
        struct capdrv_hw_irq src = {t.dma0, 0};
        uint64_t ready = 0;
        uint8_t *p = mem.cpu;
        memset(p, 0, mem.size);
        const struct {
            uint64_t off;
            uint32_t len, pattern;
        } fills[] = {
            {0, 4, 0x11223344},
            {16, 7, 0xa1b2c3d4}, /* the last copy of the pattern is partial */
            {4096, 4096, 0xdeadbeef},
            {0, CAPDRV_DMATEST_MAX_LEN, 0x01020304},
            {CAPDRV_DMATEST_MAX_LEN - 1, 1, 0xffffff99},
        };
        uint64_t t0 = capdrv_sim_now(t.sim);
        for (size_t i = 0; i < sizeof fills / sizeof fills[0]; i++) {
            st_cmd(&t, t.dma0, dev + fills[i].off, fills[i].len, CAPDRV_DMATEST_CMD_FILL,
                   fills[i].pattern, 0);
            /* DELAY_NS 0: complete inside the CMD write. */
            assert_int_equal(st_status(&t, t.dma0), CAPDRV_DMATEST_STATUS_DONE);
            for (uint32_t j = 0; j < fills[i].len; j++)
                if (p[fills[i].off + j] != (uint8_t)(fills[i].pattern >> (8 * (j % 4))))
                    fail_msg("fill %zu byte %u: 0x%x", i, j, p[fills[i].off + j]);
            assert_int_equal(t.hw.ops->irq_wait(t.hw.ctx, &src, 1, 0, &ready), 1);
            assert_int_equal(ready, 1);
            /* Consumed. */
            assert_int_equal(t.hw.ops->irq_wait(t.hw.ctx, &src, 1, 0, &ready), -CAPDRV_ETIMEDOUT);
        }
        for (size_t i = 0; i < mem.size; i++)
            p[i] = (uint8_t)(i * 7 + 3);
        const struct {
            uint64_t off;
            uint32_t len;
        } sums[] = {{0, 1}, {5, 100}, {0, CAPDRV_DMATEST_MAX_LEN}, {4095, 2}};
        for (size_t i = 0; i < sizeof sums / sizeof sums[0]; i++) {
            st_cmd(&t, t.dma0, dev + sums[i].off, sums[i].len, CAPDRV_DMATEST_CMD_SUM, 0, 0);
            assert_int_equal(st_status(&t, t.dma0), CAPDRV_DMATEST_STATUS_DONE);
            assert_int_equal(st_rd(&t, t.dma0, CAPDRV_DMATEST_RESULT, 4),
                             byte_sum(p + sums[i].off, sums[i].len));
            assert_int_equal(t.hw.ops->irq_wait(t.hw.ctx, &src, 1, 0, &ready), 1);
        }
        assert_int_equal(capdrv_sim_now(t.sim), t0); /* no simulated time passed */
        assert_int_equal(t.hw.ops->irq_disable(t.hw.ctx, t.dma0, 0), 0);
        st_unmap_free(&t, t.dma0, &mem, dev);
        st_done(&t, 0);
    }
}

static void test_delayed_completion(void **state)
{
    (void)state;
    for (int iommu = 0; iommu <= 1; iommu++) {
        struct st t;
        st_init(&t, iommu);
        struct capdrv_hw_dma a, b;
        uint64_t da = st_alloc_map(&t, t.dma0, 4096, 0x10000, &a);
        uint64_t db = st_alloc_map(&t, t.dma0, 4096, 0x20000, &b);
        memset(a.cpu, 0, 4096);
        memset(b.cpu, 0, 4096);
        assert_int_equal(t.hw.ops->irq_enable(t.hw.ctx, t.dma0, 0), 0);
        st_cmd(&t, t.dma0, da, 64, CAPDRV_DMATEST_CMD_FILL, 0x5a5a5a5a, 5000);
        /* Latched at CMD: later register writes do not affect it. */
        st_wr(&t, t.dma0, CAPDRV_DMATEST_ADDR, 8, db);
        st_wr(&t, t.dma0, CAPDRV_DMATEST_LEN, 4, 128);
        st_wr(&t, t.dma0, CAPDRV_DMATEST_PATTERN, 4, 0x01010101);
        assert_int_equal(st_status(&t, t.dma0), CAPDRV_DMATEST_STATUS_BUSY);
        capdrv_sim_advance(t.sim, 4999);
        assert_int_equal(st_status(&t, t.dma0), CAPDRV_DMATEST_STATUS_BUSY);
        assert_int_equal(((uint8_t *)a.cpu)[0], 0);
        capdrv_sim_advance(t.sim, 1);
        assert_int_equal(capdrv_sim_now(t.sim), 5000);
        assert_int_equal(st_status(&t, t.dma0), CAPDRV_DMATEST_STATUS_DONE);
        assert_int_equal(((uint8_t *)a.cpu)[63], 0x5a);
        assert_int_equal(((uint8_t *)a.cpu)[64], 0);
        assert_int_equal(((uint8_t *)b.cpu)[0], 0);
        struct capdrv_hw_irq src = {t.dma0, 0};
        uint64_t ready;
        assert_int_equal(t.hw.ops->irq_wait(t.hw.ctx, &src, 1, 0, &ready), 1);
        /* irq_wait runs simulated time to the completion instead of
         * sleeping: an unbounded wait, then a bounded one. */
        st_cmd(&t, t.dma0, db, 10, CAPDRV_DMATEST_CMD_SUM, 0, 7000);
        assert_int_equal(t.hw.ops->irq_wait(t.hw.ctx, &src, 1, -1, &ready), 1);
        assert_int_equal(capdrv_sim_now(t.sim), 12000);
        assert_int_equal(st_status(&t, t.dma0), CAPDRV_DMATEST_STATUS_DONE);
        assert_int_equal(st_rd(&t, t.dma0, CAPDRV_DMATEST_RESULT, 4), 0);
        st_cmd(&t, t.dma0, db, 10, CAPDRV_DMATEST_CMD_FILL, 0x02020202, 3000);
        assert_int_equal(t.hw.ops->irq_wait(t.hw.ctx, &src, 1, 2999, &ready), -CAPDRV_ETIMEDOUT);
        assert_int_equal(capdrv_sim_now(t.sim), 14999); /* the timeout elapsed */
        assert_int_equal(st_status(&t, t.dma0), CAPDRV_DMATEST_STATUS_BUSY);
        assert_int_equal(t.hw.ops->irq_wait(t.hw.ctx, &src, 1, 1, &ready), 1);
        assert_int_equal(capdrv_sim_now(t.sim), 15000);
        assert_int_equal(((uint8_t *)b.cpu)[9], 0x02);
        st_unmap_free(&t, t.dma0, &a, da);
        st_unmap_free(&t, t.dma0, &b, db);
        st_done(&t, 0);
    }
}

static void test_invalid_commands(void **state)
{
    (void)state;
    struct st t;
    st_init(&t, false);
    struct capdrv_hw_dma mem;
    uint64_t dev = st_alloc_map(&t, t.dma0, 4096, 0, &mem);
    memset(mem.cpu, 0, 4096);
    assert_int_equal(t.hw.ops->irq_enable(t.hw.ctx, t.dma0, 0), 0);
    struct capdrv_hw_irq src = {t.dma0, 0};
    const struct {
        const char *what;
        uint32_t len, cmd;
    } cases[] = {
        {"LEN 0", 0, CAPDRV_DMATEST_CMD_FILL},
        {"LEN above MAX_LEN", CAPDRV_DMATEST_MAX_LEN + 1, CAPDRV_DMATEST_CMD_FILL},
        {"LEN 0xffffffff", 0xffffffffu, CAPDRV_DMATEST_CMD_SUM},
        {"unknown command", 16, 7},
        {"command 0", 16, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (uint32_t delay = 0; delay <= 100; delay += 100) {
            st_cmd(&t, t.dma0, dev, cases[i].len, cases[i].cmd, 0xffffffff, delay);
            uint64_t ready = 0;
            /* It still completes (with an interrupt), as ERROR without DONE. */
            assert_int_equal(t.hw.ops->irq_wait(t.hw.ctx, &src, 1, -1, &ready), 1);
            if (st_status(&t, t.dma0) != CAPDRV_DMATEST_STATUS_ERROR)
                fail_msg("%s (delay %u): status 0x%x", cases[i].what, delay, st_status(&t, t.dma0));
        }
    }
    for (size_t i = 0; i < 4096; i++)
        assert_int_equal(((uint8_t *)mem.cpu)[i], 0);
    /* A valid command afterwards clears ERROR. */
    st_cmd(&t, t.dma0, dev, 4, CAPDRV_DMATEST_CMD_FILL, 0x09090909, 0);
    assert_int_equal(st_status(&t, t.dma0), CAPDRV_DMATEST_STATUS_DONE);
    st_unmap_free(&t, t.dma0, &mem, dev);
    st_done(&t, 0);
}

static void test_cmd_while_busy(void **state)
{
    (void)state;
    struct st t;
    st_init(&t, false);
    struct capdrv_hw_dma mem;
    uint64_t dev = st_alloc_map(&t, t.dma0, 4096, 0, &mem);
    memset(mem.cpu, 0, 4096);
    st_cmd(&t, t.dma0, dev, 8, CAPDRV_DMATEST_CMD_FILL, 0x11111111, 1000);
    st_cmd(&t, t.dma0, dev, 16, CAPDRV_DMATEST_CMD_FILL, 0x22222222, 0);
    assert_int_equal(st_status(&t, t.dma0), CAPDRV_DMATEST_STATUS_BUSY | CAPDRV_DMATEST_STATUS_ERROR);
    capdrv_sim_advance(t.sim, 1000);
    /* The first command ran, the second never did; ERROR stays until the
     * next accepted command. */
    assert_int_equal(st_status(&t, t.dma0), CAPDRV_DMATEST_STATUS_DONE | CAPDRV_DMATEST_STATUS_ERROR);
    assert_int_equal(((uint8_t *)mem.cpu)[7], 0x11);
    assert_int_equal(((uint8_t *)mem.cpu)[8], 0);
    capdrv_sim_advance(t.sim, 100000);
    assert_int_equal(((uint8_t *)mem.cpu)[8], 0);
    st_cmd(&t, t.dma0, dev, 16, CAPDRV_DMATEST_CMD_FILL, 0x33333333, 0);
    assert_int_equal(st_status(&t, t.dma0), CAPDRV_DMATEST_STATUS_DONE);
    assert_int_equal(((uint8_t *)mem.cpu)[15], 0x33);
    st_unmap_free(&t, t.dma0, &mem, dev);
    st_done(&t, 0);
}

static void test_fault_rogue_dma(void **state)
{
    (void)state;
    for (int iommu = 0; iommu <= 1; iommu++) {
        struct st t;
        st_init(&t, iommu);
        struct capdrv_hw_dma mem;
        uint64_t dev = st_alloc_map(&t, t.dma0, 4096, 0x100000, &mem);
        memset(mem.cpu, 0, 4096);
        assert_int_equal(capdrv_sim_dmatest_set_fault(t.sim, t.dma0, CAPDRV_SIM_DMATEST_FAULT_ROGUE_DMA), 0);
        assert_int_equal(t.hw.ops->irq_enable(t.hw.ctx, t.dma0, 0), 0);
        const uint32_t cmds[2] = {CAPDRV_DMATEST_CMD_FILL, CAPDRV_DMATEST_CMD_SUM};
        for (int i = 0; i < 2; i++) {
            st_cmd(&t, t.dma0, dev, 4096, cmds[i], 0x77777777, 10);
            capdrv_sim_advance(t.sim, 10);
            /* The oracle refused it: the device saw a fault. */
            assert_int_equal(st_status(&t, t.dma0), CAPDRV_DMATEST_STATUS_ERROR);
            struct capdrv_sim_violation v;
            assert_int_equal(capdrv_sim_oracle_last(t.sim, &v), 0);
            assert_int_equal(v.fn, t.dma0);
            assert_int_equal(v.devaddr, dev + (1u << 20));
            assert_int_equal(v.len, 4096);
            assert_int_equal(v.is_write, cmds[i] == CAPDRV_DMATEST_CMD_FILL);
            assert_int_equal(capdrv_sim_oracle_violations(t.sim), (unsigned long)i + 1);
        }
        for (size_t i = 0; i < 4096; i++)
            assert_int_equal(((uint8_t *)mem.cpu)[i], 0);
        /* Healed, it behaves again. */
        assert_int_equal(capdrv_sim_dmatest_set_fault(t.sim, t.dma0, CAPDRV_SIM_DMATEST_FAULT_NONE), 0);
        st_cmd(&t, t.dma0, dev, 4096, CAPDRV_DMATEST_CMD_FILL, 0x77777777, 0);
        assert_int_equal(st_status(&t, t.dma0), CAPDRV_DMATEST_STATUS_DONE);
        assert_int_equal(capdrv_sim_oracle_violations(t.sim), 2);
        st_unmap_free(&t, t.dma0, &mem, dev);
        st_done(&t, 2);
    }
}

static void test_fault_arguments(void **state)
{
    (void)state;
    struct st t;
    st_init(&t, false);
    assert_int_equal(capdrv_sim_dmatest_set_fault(t.sim, 3, CAPDRV_SIM_DMATEST_FAULT_NONE), -CAPDRV_ENOENT);
    assert_int_equal(capdrv_sim_dmatest_set_fault(t.sim, t.raw, CAPDRV_SIM_DMATEST_FAULT_NONE), -CAPDRV_ENODEV);
    assert_int_equal(capdrv_sim_dmatest_set_fault(t.sim, t.dma0, (enum capdrv_sim_dmatest_fault)99),
                     -CAPDRV_EINVAL);
    assert_int_equal(capdrv_sim_dmatest_set_fault(NULL, 0, CAPDRV_SIM_DMATEST_FAULT_NONE), -CAPDRV_EINVAL);
    st_done(&t, 0);
}

static void test_fault_no_irq(void **state)
{
    (void)state;
    struct st t;
    st_init(&t, false);
    struct capdrv_hw_dma mem;
    uint64_t dev = st_alloc_map(&t, t.dma0, 4096, 0, &mem);
    assert_int_equal(capdrv_sim_dmatest_set_fault(t.sim, t.dma0, CAPDRV_SIM_DMATEST_FAULT_NO_IRQ), 0);
    assert_int_equal(t.hw.ops->irq_enable(t.hw.ctx, t.dma0, 0), 0);
    struct capdrv_hw_irq src = {t.dma0, 0};
    uint64_t ready = 0;
    st_cmd(&t, t.dma0, dev, 4, CAPDRV_DMATEST_CMD_FILL, 0x12345678, 500);
    /* The wait runs time past the completion, then finds nothing left to
     * happen: it times out instead of hanging. */
    assert_int_equal(t.hw.ops->irq_wait(t.hw.ctx, &src, 1, -1, &ready), -CAPDRV_ETIMEDOUT);
    assert_int_equal(capdrv_sim_now(t.sim), 500);
    assert_int_equal(st_status(&t, t.dma0), CAPDRV_DMATEST_STATUS_DONE);
    assert_int_equal(((uint8_t *)mem.cpu)[0], 0x78);
    assert_int_equal(t.hw.ops->irq_wait(t.hw.ctx, &src, 1, 0, &ready), -CAPDRV_ETIMEDOUT);
    st_unmap_free(&t, t.dma0, &mem, dev);
    st_done(&t, 0);
}

static void test_fault_stuck_and_dead(void **state)
{
    (void)state;
    struct st t;
    st_init(&t, false);
    struct capdrv_hw_dma mem;
    uint64_t dev = st_alloc_map(&t, t.dma0, 4096, 0, &mem);
    memset(mem.cpu, 0, 4096);
    assert_int_equal(t.hw.ops->irq_enable(t.hw.ctx, t.dma0, 0), 0);
    assert_int_equal(capdrv_sim_dmatest_set_fault(t.sim, t.dma0, CAPDRV_SIM_DMATEST_FAULT_STUCK), 0);
    st_cmd(&t, t.dma0, dev, 4, CAPDRV_DMATEST_CMD_FILL, 0x12345678, 0);
    capdrv_sim_advance(t.sim, 1000000000ull);
    assert_int_equal(st_status(&t, t.dma0), CAPDRV_DMATEST_STATUS_BUSY);
    struct capdrv_hw_irq src = {t.dma0, 0};
    uint64_t ready;
    assert_int_equal(t.hw.ops->irq_wait(t.hw.ctx, &src, 1, -1, &ready), -CAPDRV_ETIMEDOUT);
    assert_int_equal(t.hw.ops->function_reset(t.hw.ctx, t.dma0), 0);
    assert_int_equal(st_status(&t, t.dma0), 0);
    assert_int_equal(((uint8_t *)mem.cpu)[0], 0);
    /* A dead device reads all-ones at every width. */
    assert_int_equal(capdrv_sim_dmatest_set_fault(t.sim, t.dma0, CAPDRV_SIM_DMATEST_FAULT_DEAD), 0);
    assert_int_equal(st_rd(&t, t.dma0, CAPDRV_DMATEST_STATUS, 4), 0xffffffffu);
    assert_int_equal(st_rd(&t, t.dma0, CAPDRV_DMATEST_ID, 2), 0xffffu);
    assert_int_equal(st_rd(&t, t.dma0, 0x3, 1), 0xffu);
    assert_int_equal(st_rd(&t, t.dma0, CAPDRV_DMATEST_ADDR, 8), UINT64_MAX);
    assert_int_equal(capdrv_sim_dmatest_set_fault(t.sim, t.dma0, CAPDRV_SIM_DMATEST_FAULT_NONE), 0);
    assert_int_equal(st_rd(&t, t.dma0, CAPDRV_DMATEST_ID, 4), CAPDRV_DMATEST_ID_VALUE);
    st_unmap_free(&t, t.dma0, &mem, dev);
    st_done(&t, 0);
}

static void test_reset_cancels_inflight(void **state)
{
    (void)state;
    for (int iommu = 0; iommu <= 1; iommu++) {
        struct st t;
        st_init(&t, iommu);
        struct capdrv_hw_dma mem;
        uint64_t dev = st_alloc_map(&t, t.dma0, 4096, 0x30000, &mem);
        memset(mem.cpu, 0, 4096);
        assert_int_equal(t.hw.ops->irq_enable(t.hw.ctx, t.dma0, 0), 0);
        assert_int_equal(t.hw.ops->cfg_write(t.hw.ctx, t.dma0, 0x04, 2, 0x0006), 0);
        st_cmd(&t, t.dma0, dev, 4096, CAPDRV_DMATEST_CMD_FILL, 0x44444444, 10000);
        capdrv_sim_advance(t.sim, 5000);
        assert_int_equal(st_status(&t, t.dma0), CAPDRV_DMATEST_STATUS_BUSY);
        assert_int_equal(t.hw.ops->function_reset(t.hw.ctx, t.dma0), 0);
        assert_int_equal(capdrv_sim_reset_count(t.sim, t.dma0), 1);
        /* Power-on register values, COMMAND cleared, MSI-X disabled. */
        assert_int_equal(st_status(&t, t.dma0), 0);
        assert_int_equal(st_rd(&t, t.dma0, CAPDRV_DMATEST_ADDR, 8), 0);
        assert_int_equal(st_rd(&t, t.dma0, CAPDRV_DMATEST_LEN, 4), 0);
        assert_int_equal(st_rd(&t, t.dma0, CAPDRV_DMATEST_PATTERN, 4), 0);
        assert_int_equal(st_rd(&t, t.dma0, CAPDRV_DMATEST_DELAY_NS, 4), 0);
        assert_int_equal(st_cfg(&t, t.dma0, 0x04, 2), 0);
        assert_int_equal(st_cfg(&t, t.dma0, 0x82, 2) & 0x8000, 0);
        /* Mappings are the host's: still there. The cancelled command
         * never DMAs, not even once time passes and the memory is gone. */
        struct capdrv_sim_dma_stats ds;
        assert_int_equal(capdrv_sim_dma_stats(t.sim, &ds), 0);
        assert_int_equal(ds.mappings, 1);
        capdrv_sim_advance(t.sim, 1000000);
        for (size_t i = 0; i < 4096; i++)
            assert_int_equal(((uint8_t *)mem.cpu)[i], 0);
        struct capdrv_hw_irq src = {t.dma0, 0};
        uint64_t ready;
        assert_int_equal(t.hw.ops->irq_wait(t.hw.ctx, &src, 1, -1, &ready), -CAPDRV_ETIMEDOUT);
        st_unmap_free(&t, t.dma0, &mem, dev);
        capdrv_sim_advance(t.sim, 1000000);
        /* The other function was not touched, and the reset one works. */
        assert_int_equal(capdrv_sim_reset_count(t.sim, t.dma1), 0);
        dev = st_alloc_map(&t, t.dma0, 4096, 0x30000, &mem);
        st_cmd(&t, t.dma0, dev, 4, CAPDRV_DMATEST_CMD_FILL, 0x55555555, 0);
        assert_int_equal(st_status(&t, t.dma0), CAPDRV_DMATEST_STATUS_DONE);
        st_unmap_free(&t, t.dma0, &mem, dev);
        st_done(&t, 0);
    }
}

static void test_two_devices(void **state)
{
    (void)state;
    struct st t;
    st_init(&t, true);
    struct capdrv_hw_dma a, b;
    uint64_t da = st_alloc_map(&t, t.dma0, 4096, 0x1000, &a);
    uint64_t db = st_alloc_map(&t, t.dma1, 4096, 0x1000, &b); /* same IOVA */
    assert_int_equal(t.hw.ops->irq_enable(t.hw.ctx, t.dma0, 0), 0);
    assert_int_equal(t.hw.ops->irq_enable(t.hw.ctx, t.dma1, 0), 0);
    struct capdrv_hw_irq set[2] = {{t.dma0, 0}, {t.dma1, 0}};
    uint64_t ready = 0;
    st_cmd(&t, t.dma0, da, 4, CAPDRV_DMATEST_CMD_FILL, 0xaaaaaaaa, 3000);
    st_cmd(&t, t.dma1, db, 4, CAPDRV_DMATEST_CMD_FILL, 0xbbbbbbbb, 1000);
    /* Events run in time order. */
    assert_int_equal(t.hw.ops->irq_wait(t.hw.ctx, set, 2, -1, &ready), 1);
    assert_int_equal(ready, 2);
    assert_int_equal(capdrv_sim_now(t.sim), 1000);
    assert_int_equal(t.hw.ops->irq_wait(t.hw.ctx, set, 2, -1, &ready), 1);
    assert_int_equal(ready, 1);
    assert_int_equal(capdrv_sim_now(t.sim), 3000);
    assert_int_equal(((uint8_t *)a.cpu)[0], 0xaa);
    assert_int_equal(((uint8_t *)b.cpu)[0], 0xbb);
    /* Simultaneous completions are reported together. */
    st_cmd(&t, t.dma0, da, 4, CAPDRV_DMATEST_CMD_SUM, 0, 500);
    st_cmd(&t, t.dma1, db, 4, CAPDRV_DMATEST_CMD_SUM, 0, 500);
    assert_int_equal(t.hw.ops->irq_wait(t.hw.ctx, set, 2, 10000, &ready), 2);
    assert_int_equal(ready, 3);
    assert_int_equal(st_rd(&t, t.dma0, CAPDRV_DMATEST_RESULT, 4), 4 * 0xaa);
    assert_int_equal(st_rd(&t, t.dma1, CAPDRV_DMATEST_RESULT, 4), 4 * 0xbb);
    st_unmap_free(&t, t.dma0, &a, da);
    st_unmap_free(&t, t.dma1, &b, db);
    st_done(&t, 0);
}

static void test_scratch_register_file(void **state)
{
    (void)state;
    struct st t;
    st_init(&t, false);
    unsigned fn = t.raw;
    for (uint64_t off = 0; off < 0x1000; off += 8)
        assert_int_equal(st_rd(&t, fn, off, 8), 0);
    st_wr(&t, fn, 0x00, 8, 0x8877665544332211ull);
    assert_int_equal(st_rd(&t, fn, 0x00, 1), 0x11);
    assert_int_equal(st_rd(&t, fn, 0x01, 1), 0x22);
    assert_int_equal(st_rd(&t, fn, 0x02, 2), 0x4433);
    assert_int_equal(st_rd(&t, fn, 0x04, 4), 0x88776655);
    st_wr(&t, fn, 0x03, 1, 0xee);
    st_wr(&t, fn, 0x06, 2, 0xdddd);
    assert_int_equal(st_rd(&t, fn, 0x00, 8), 0xdddd6655ee332211ull);
    st_wr(&t, fn, 0xffc, 4, 0xcafebabe);
    assert_int_equal(st_rd(&t, fn, 0xff8, 8), 0xcafebabe00000000ull);
    /* Narrow writes put only their bytes on the bus. */
    st_wr(&t, fn, 0x10, 2, 0xffffffffffff1234ull);
    assert_int_equal(st_rd(&t, fn, 0x10, 8), 0x1234);
    assert_int_equal(t.hw.ops->function_reset(t.hw.ctx, fn), 0);
    assert_int_equal(st_rd(&t, fn, 0x00, 8), 0);
    assert_int_equal(st_rd(&t, fn, 0xff8, 8), 0);
    st_done(&t, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registers),
        cmocka_unit_test(test_bar_bounds),
        cmocka_unit_test(test_fill_and_sum_immediate),
        cmocka_unit_test(test_delayed_completion),
        cmocka_unit_test(test_invalid_commands),
        cmocka_unit_test(test_cmd_while_busy),
        cmocka_unit_test(test_fault_rogue_dma),
        cmocka_unit_test(test_fault_arguments),
        cmocka_unit_test(test_fault_no_irq),
        cmocka_unit_test(test_fault_stuck_and_dead),
        cmocka_unit_test(test_reset_cancels_inflight),
        cmocka_unit_test(test_two_devices),
        cmocka_unit_test(test_scratch_register_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
