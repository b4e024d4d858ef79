/* Shared helpers for the sim platform's unit tests: a machine with two
 * dmatest functions and one scratch function, driven through the platform
 * operations exactly as the shim drives them. */
#ifndef CAPDRV_TEST_SIM_H
#define CAPDRV_TEST_SIM_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <cmocka.h>

#include <capdrv/dev/dmatest.h>
#include <capdrv/hw.h>
#include <capdrv/sim.h>

#define ST_SCRATCH_VENDOR 0x1234u
#define ST_SCRATCH_DEVICE 0x5678u
#define ST_SCRATCH_CLASS 0x058000u

struct st {
    struct capdrv_sim *sim;
    struct capdrv_hw hw;
    unsigned dma0, raw, dma1; /* 00:03.0, 00:04.0, 00:05.0 */
};

static inline void st_init(struct st *t, bool iommu)
{
    struct capdrv_sim_config cfg = {.iommu = iommu};
    struct capdrv_pci_addr a3 = {0, 0, 3, 0}, a4 = {0, 0, 4, 0}, a5 = {0, 0, 5, 0};
    assert_int_equal(capdrv_sim_create(&cfg, &t->sim), 0);
    assert_int_equal(capdrv_sim_add_dmatest(t->sim, &a3, &t->dma0), 0);
    assert_int_equal(capdrv_sim_add_scratch(t->sim, &a4, ST_SCRATCH_VENDOR, ST_SCRATCH_DEVICE,
                                            ST_SCRATCH_CLASS, &t->raw), 0);
    assert_int_equal(capdrv_sim_add_dmatest(t->sim, &a5, &t->dma1), 0);
    t->hw = capdrv_sim_hw(t->sim);
    assert_non_null(t->hw.ops);
}

/* Destroy; every test must have freed its DMA memory and caused exactly
 * @violations oracle violations. */
static inline void st_done(struct st *t, unsigned long violations)
{
    struct capdrv_sim_dma_stats ds;
    assert_int_equal(capdrv_sim_dma_stats(t->sim, &ds), 0);
    assert_int_equal(ds.regions, 0);
    assert_int_equal(ds.mappings, 0);
    assert_int_equal(capdrv_sim_oracle_violations(t->sim), violations);
    capdrv_sim_destroy(t->sim);
}

static inline uint32_t st_cfg(struct st *t, unsigned fn, uint32_t off, unsigned width)
{
    uint32_t v = 0xdeadbeef;
    assert_int_equal(t->hw.ops->cfg_read(t->hw.ctx, fn, off, width, &v), 0);
    return v;
}

static inline uint64_t st_rd(struct st *t, unsigned fn, uint64_t off, unsigned width)
{
    uint64_t v = 0xdeadbeef;
    assert_int_equal(t->hw.ops->bar_read(t->hw.ctx, fn, 0, off, width, &v), 0);
    return v;
}

static inline void st_wr(struct st *t, unsigned fn, uint64_t off, unsigned width, uint64_t v)
{
    assert_int_equal(t->hw.ops->bar_write(t->hw.ctx, fn, 0, off, width, v), 0);
}

/* Allocate @size bytes and map them for @fn (at @iova with an IOMMU). */
static inline uint64_t st_alloc_map(struct st *t, unsigned fn, size_t size, uint64_t iova,
                                    struct capdrv_hw_dma *mem)
{
    uint64_t dev = 0;
    assert_int_equal(t->hw.ops->dma_alloc(t->hw.ctx, size, mem), 0);
    assert_int_equal(t->hw.ops->dma_map(t->hw.ctx, fn, mem, iova, &dev), 0);
    return dev;
}

static inline void st_unmap_free(struct st *t, unsigned fn, struct capdrv_hw_dma *mem,
                                 uint64_t dev)
{
    assert_int_equal(t->hw.ops->dma_unmap(t->hw.ctx, fn, mem, dev), 0);
    t->hw.ops->dma_free(t->hw.ctx, mem);
}

/* Program and start a dmatest command; returns nothing (hardware never
 * refuses a register write). */
static inline void st_cmd(struct st *t, unsigned fn, uint64_t addr, uint32_t len, uint32_t cmd,
                          uint32_t pattern, uint32_t delay_ns)
{
    st_wr(t, fn, CAPDRV_DMATEST_ADDR, 8, addr);
    st_wr(t, fn, CAPDRV_DMATEST_LEN, 4, len);
    st_wr(t, fn, CAPDRV_DMATEST_PATTERN, 4, pattern);
    st_wr(t, fn, CAPDRV_DMATEST_DELAY_NS, 4, delay_ns);
    st_wr(t, fn, CAPDRV_DMATEST_CMD, 4, cmd);
}

static inline uint32_t st_status(struct st *t, unsigned fn)
{
    return (uint32_t)st_rd(t, fn, CAPDRV_DMATEST_STATUS, 4);
}

#endif
