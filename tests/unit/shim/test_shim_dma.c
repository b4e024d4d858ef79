/* DMA pools, the ledger and both DMA lanes, proven end to end through the
 * dmatest device: quotas, tokens vs IOVAs, doorbell validation, scrubbing. */
#include "fixture.h"

#include <string.h>

struct lane_fx {
    struct fx f;
    capdrv_cap_t g, m, pool;
};

static void lane_setup(struct lane_fx *l, bool iommu)
{
    fx_basic(&l->f, iommu);
    l->g = fx_open(l->f.p1, "dma0");
    l->m = fx_mmio(l->f.p1, l->g, 0);
    assert_int_equal(capdrv_pool_open(l->f.p1, l->g, &l->pool), 0);
}

static capdrv_cap_t alloc(struct lane_fx *l, size_t size, struct capdrv_dmabuf_info *bi)
{
    capdrv_cap_t b = 0;
    assert_int_equal(capdrv_dma_alloc(l->f.p1, l->pool, size, &b, bi), 0);
    return b;
}

static void test_quota(void **state)
{
    (void)state;
    struct lane_fx l;
    lane_setup(&l, false);
    struct capdrv_dmabuf_info bi;
    capdrv_cap_t b, x;
    assert_int_equal(capdrv_dma_alloc(l.f.p1, l.pool, 0, &x, &bi), -CAPDRV_EINVAL);
    /* Larger than any one buffer may be: invalid, whatever the quota. */
    assert_int_equal(capdrv_dma_alloc(l.f.p1, l.pool, (1u << 30) + 1, &x, &bi), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_dma_alloc(l.f.p1, l.pool, 0x10001, &x, &bi), -CAPDRV_ENOSPC); /* 64 KiB quota */
    b = alloc(&l, 1, &bi);
    assert_int_equal(bi.size, 4096); /* rounded to a page */
    alloc(&l, 0x8000, &bi);
    alloc(&l, 0x4000, &bi);
    assert_int_equal(capdrv_dma_alloc(l.f.p1, l.pool, 0x3000, &x, &bi), 0); /* 4th: quota full */
    assert_int_equal(capdrv_dma_alloc(l.f.p1, l.pool, 1, &x, &bi), -CAPDRV_ENOSPC); /* 5th buffer */
    assert_int_equal(capdrv_cap_release(l.f.p1, b), 0);
    assert_int_equal(capdrv_dma_alloc(l.f.p1, l.pool, 0x2000, &x, &bi), -CAPDRV_ENOSPC); /* bytes */
    assert_int_equal(capdrv_dma_alloc(l.f.p1, l.pool, 0x1000, &x, &bi), 0);
    struct capdrv_shim_stats st;
    assert_int_equal(capdrv_shim_stats(l.f.shim, &st), 0);
    assert_int_equal(st.dma_buffers, 4);
    assert_int_equal(st.dma_bytes, 0x10000);
    fx_done(&l.f);
}

static void test_any_function_has_no_pool(void **state)
{
    (void)state;
    struct fx f;
    fx_basic(&f, false);
    capdrv_cap_t g = fx_open(f.p1, "raw0"), p;
    assert_int_equal(capdrv_pool_open(f.p1, g, &p), -CAPDRV_EACCES);
    fx_done(&f);
}

/* Both lanes: the same provider code fills a buffer through the device. */
static void lane_roundtrip(bool iommu)
{
    struct lane_fx l;
    lane_setup(&l, iommu);
    struct capdrv_dmabuf_info bi;
    alloc(&l, 8192, &bi);
    for (size_t i = 0; i < bi.size; i++)
        assert_int_equal(((uint8_t *)bi.cpu)[i], 0); /* zeroed */
    assert_int_equal(fx_dmatest_cmd(l.f.p1, l.m, capdrv_dma_ref(&bi, 4096), 4096,
                                    CAPDRV_DMATEST_CMD_FILL, 0xa1b2c3d4u, 0), 0);
    uint64_t st;
    assert_int_equal(capdrv_mmio_read(l.f.p1, l.m, CAPDRV_DMATEST_STATUS, 4, &st), 0);
    assert_int_equal(st & (CAPDRV_DMATEST_STATUS_DONE | CAPDRV_DMATEST_STATUS_ERROR),
                     CAPDRV_DMATEST_STATUS_DONE);
    const uint8_t *p = bi.cpu;
    assert_int_equal(p[4095], 0);
    assert_int_equal(p[4096], 0xd4);
    assert_int_equal(p[4099], 0xa1);
    assert_int_equal(p[8191], 0xa1);
    /* SUM reads it back through the device. */
    assert_int_equal(fx_dmatest_cmd(l.f.p1, l.m, capdrv_dma_ref(&bi, 4096), 8,
                                    CAPDRV_DMATEST_CMD_SUM, 0, 0), 0);
    uint64_t sum;
    assert_int_equal(capdrv_mmio_read(l.f.p1, l.m, CAPDRV_DMATEST_RESULT, 4, &sum), 0);
    assert_int_equal(sum, 2u * (0xa1 + 0xb2 + 0xc3 + 0xd4));
    fx_done(&l.f);
}

static void test_brokered_lane_roundtrip(void **state) { (void)state; lane_roundtrip(false); }
static void test_direct_lane_roundtrip(void **state) { (void)state; lane_roundtrip(true); }

/* The buffer-count quota binds before the byte quota does. */
static void test_buffer_count_quota(void **state)
{
    (void)state;
    struct lane_fx l;
    lane_setup(&l, false);
    struct capdrv_dmabuf_info bi;
    capdrv_cap_t x;
    for (int i = 0; i < 4; i++) /* pool-buffers = 4; 16 KiB of 64 KiB used */
        alloc(&l, 4096, &bi);
    assert_int_equal(capdrv_dma_alloc(l.f.p1, l.pool, 4096, &x, &bi), -CAPDRV_ENOSPC);
    fx_done(&l.f);
}

/* A token outlives its buffer: once the ledger slot is reused, the old
 * token must not reach the new buffer (generation), and a token whose tag
 * is altered is not a token. */
static void test_stale_and_mistagged_tokens(void **state)
{
    (void)state;
    struct lane_fx l;
    lane_setup(&l, false);
    struct capdrv_dmabuf_info a, b;
    capdrv_cap_t ab = alloc(&l, 4096, &a);
    uint64_t old = capdrv_dma_ref(&a, 0);
    assert_int_equal(capdrv_cap_release(l.f.p1, ab), 0);
    alloc(&l, 4096, &b);
    assert_int_equal(old & 0xffffffff00000000ull & ~(0xfffull << 48),
                     b.ref_base & ~(0xfffull << 48)); /* same ledger slot reused */
    assert_int_not_equal(old, b.ref_base);
    assert_int_equal(fx_dmatest_cmd(l.f.p1, l.m, old, 16, CAPDRV_DMATEST_CMD_FILL, 1, 0), -CAPDRV_EFAULT);
    uint64_t mistagged = capdrv_dma_ref(&b, 0) ^ (1ull << 60);
    assert_int_equal(fx_dmatest_cmd(l.f.p1, l.m, mistagged, 16, CAPDRV_DMATEST_CMD_FILL, 1, 0), -CAPDRV_EFAULT);
    /* LEN above the device maximum never reaches the ledger check. */
    assert_int_equal(fx_dmatest_cmd(l.f.p1, l.m, capdrv_dma_ref(&b, 0), CAPDRV_DMATEST_MAX_LEN + 1,
                                    CAPDRV_DMATEST_CMD_FILL, 1, 0), -CAPDRV_EINVAL);
    assert_int_equal(((uint8_t *)b.cpu)[0], 0);
    fx_done(&l.f);
}

/* Brokered lane: the provider never learns a device address. It can read
 * its references and the shadowed ADDR register back; none is the address
 * the device used. */
static void test_brokered_hides_device_addresses(void **state)
{
    (void)state;
    struct lane_fx l;
    lane_setup(&l, false);
    struct capdrv_dmabuf_info bi;
    alloc(&l, 4096, &bi);
    uint64_t ref = capdrv_dma_ref(&bi, 0);
    assert_int_equal(fx_dmatest_cmd(l.f.p1, l.m, ref, 64, CAPDRV_DMATEST_CMD_FILL, 1, 0), 0);
    uint64_t dev_addr_seen, shadow;
    assert_int_equal(l.f.hw.ops->bar_read(l.f.hw.ctx, l.f.fn_dma0, 0, CAPDRV_DMATEST_ADDR, 8,
                                          &dev_addr_seen), 0);
    assert_int_equal(capdrv_mmio_read(l.f.p1, l.m, CAPDRV_DMATEST_ADDR, 8, &shadow), 0);
    assert_int_equal(shadow, ref);          /* the provider reads its own token back */
    assert_int_not_equal(ref, dev_addr_seen); /* the device got a different (physical) value */
    assert_int_equal(ref >> 60, 0xA);       /* tokens are tagged */
    struct capdrv_dmabuf_info again;
    capdrv_cap_t b2 = alloc(&l, 4096, &again);
    assert_int_equal(capdrv_dmabuf_info(l.f.p1, b2, &again), 0);
    assert_int_not_equal(again.ref_base, dev_addr_seen + 4096);
    fx_done(&l.f);
}

static void test_direct_lane_uses_iovas(void **state)
{
    (void)state;
    struct lane_fx l;
    lane_setup(&l, true);
    struct capdrv_dmabuf_info a, b;
    alloc(&l, 4096, &a);
    alloc(&l, 4096, &b);
    assert_int_equal(a.ref_base >> 60, 0);                 /* not a token */
    assert_true(b.ref_base >= a.ref_base + 8192);          /* guard page between buffers */
    assert_int_equal(fx_dmatest_cmd(l.f.p1, l.m, a.ref_base, 16, CAPDRV_DMATEST_CMD_FILL, 7, 0), 0);
    uint64_t dev;
    assert_int_equal(l.f.hw.ops->bar_read(l.f.hw.ctx, l.f.fn_dma0, 0, CAPDRV_DMATEST_ADDR, 8, &dev), 0);
    assert_int_equal(dev, a.ref_base); /* the device uses the IOVA itself */
    fx_done(&l.f);
}

/* References outside the ledger are refused at the doorbell, and the
 * device is never told (the oracle would count it). */
static void refused_refs(bool iommu)
{
    struct lane_fx l;
    lane_setup(&l, iommu);
    struct capdrv_dmabuf_info bi, freed;
    alloc(&l, 8192, &bi);
    capdrv_cap_t fb = alloc(&l, 4096, &freed);
    uint64_t freed_ref = capdrv_dma_ref(&freed, 0);
    assert_int_equal(capdrv_cap_release(l.f.p1, fb), 0);
    /* p2's buffer on its own grant. */
    capdrv_cap_t g2 = fx_open(l.f.p2, "dma1"), pool2, b2;
    struct capdrv_dmabuf_info other;
    assert_int_equal(capdrv_pool_open(l.f.p2, g2, &pool2), 0);
    assert_int_equal(capdrv_dma_alloc(l.f.p2, pool2, 4096, &b2, &other), 0);
    struct {
        const char *what;
        uint64_t ref;
        uint32_t len;
    } cases[] = {
        {"runs past the buffer end", capdrv_dma_ref(&bi, 8192 - 16), 32},
        {"starts past the buffer end", capdrv_dma_ref(&bi, 8192), 1},
        {"freed buffer", freed_ref, 16},
        {"another provider's buffer", capdrv_dma_ref(&other, 0), 16},
        {"address zero", 0, 16},
        {"forged reference", 0xA000ffff00000000ull, 16},
        {"wrapping range", UINT64_MAX - 7, 16},
    };
    struct capdrv_shim_stats before, after;
    assert_int_equal(capdrv_shim_stats(l.f.shim, &before), 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t st0, st1;
        assert_int_equal(capdrv_mmio_read(l.f.p1, l.m, CAPDRV_DMATEST_STATUS, 4, &st0), 0);
        int rc = fx_dmatest_cmd(l.f.p1, l.m, cases[i].ref, cases[i].len, CAPDRV_DMATEST_CMD_FILL,
                                0xffffffffu, 0);
        if (rc != -CAPDRV_EFAULT)
            fail_msg("%s lane, %s: doorbell returned %d", iommu ? "direct" : "brokered",
                     cases[i].what, rc);
        assert_int_equal(capdrv_mmio_read(l.f.p1, l.m, CAPDRV_DMATEST_STATUS, 4, &st1), 0);
        assert_int_equal(st0, st1); /* the device saw no command */
    }
    assert_int_equal(capdrv_shim_stats(l.f.shim, &after), 0);
    assert_int_equal(after.refused_notify - before.refused_notify, sizeof cases / sizeof cases[0]);
    for (size_t i = 0; i < 4096; i++)
        assert_int_equal(((uint8_t *)other.cpu)[i], 0); /* p2's memory untouched */
    /* Malformed commands never reach the device either. */
    assert_int_equal(fx_dmatest_cmd(l.f.p1, l.m, capdrv_dma_ref(&bi, 0), 0, CAPDRV_DMATEST_CMD_FILL, 0, 0),
                     -CAPDRV_EINVAL);
    assert_int_equal(fx_dmatest_cmd(l.f.p1, l.m, capdrv_dma_ref(&bi, 0), 16, 99, 0, 0), -CAPDRV_EINVAL);
    fx_done(&l.f);
}

static void test_brokered_refuses_out_of_ledger(void **state) { (void)state; refused_refs(false); }
static void test_direct_refuses_out_of_ledger(void **state) { (void)state; refused_refs(true); }

/* A provider rewriting ADDR after the doorbell changes nothing the device
 * does: the shim materialised the address at notify time. */
static void test_rewrite_after_notify_changes_nothing(void **state)
{
    (void)state;
    struct lane_fx l;
    lane_setup(&l, false);
    struct capdrv_dmabuf_info a, b;
    alloc(&l, 4096, &a);
    alloc(&l, 4096, &b);
    assert_int_equal(fx_dmatest_cmd(l.f.p1, l.m, capdrv_dma_ref(&a, 0), 4096, CAPDRV_DMATEST_CMD_FILL,
                                    0x55555555u, 1000), 0);
    assert_int_equal(capdrv_mmio_write(l.f.p1, l.m, CAPDRV_DMATEST_ADDR, 8, capdrv_dma_ref(&b, 0)), 0);
    assert_int_equal(capdrv_mmio_write(l.f.p1, l.m, CAPDRV_DMATEST_ADDR, 8, 0xdeadbeef000ull), 0);
    capdrv_sim_advance(l.f.sim, 2000);
    assert_int_equal(((uint8_t *)a.cpu)[100], 0x55);
    assert_int_equal(((uint8_t *)b.cpu)[100], 0);
    fx_done(&l.f);
}

static void test_freed_memory_is_scrubbed_first(void **state)
{
    (void)state;
    struct fx f;
    struct fx_spy *spy = fx_spied(&f);
    capdrv_cap_t g = fx_open(f.p1, "dma0"), pool, b;
    assert_int_equal(capdrv_pool_open(f.p1, g, &pool), 0);
    struct capdrv_dmabuf_info bi;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(capdrv_dma_alloc(f.p1, pool, 8192, &b, &bi), 0);
        memset(bi.cpu, 0xee, bi.size); /* secrets */
        if (i < 2)
            assert_int_equal(capdrv_cap_release(f.p1, b), 0);
    }
    capdrv_sys_close(f.p1); /* death frees the third */
    f.p1 = NULL;
    assert_int_equal(spy->frees, 3);
    assert_int_equal(spy->dirty_frees, 0);
    assert_int_equal(spy->unmaps, 3);             /* every buffer unmapped ... */
    assert_int_equal(spy->free_while_mapped, 0);  /* ... before it was freed */
    struct capdrv_shim_stats st;
    assert_int_equal(capdrv_shim_stats(f.shim, &st), 0);
    assert_int_equal(st.scrubbed_bytes, 3 * 8192);
    fx_done(&f);
}

/* If the platform cannot unmap a buffer, its memory is quarantined: never
 * freed, so nobody else can be given memory the device may still reach. */
static void test_failed_unmap_quarantines(void **state)
{
    (void)state;
    struct fx f;
    struct fx_spy *spy = fx_spied(&f);
    capdrv_cap_t g = fx_open(f.p1, "dma0"), pool, b;
    struct capdrv_dmabuf_info bi;
    assert_int_equal(capdrv_pool_open(f.p1, g, &pool), 0);
    assert_int_equal(capdrv_dma_alloc(f.p1, pool, 4096, &b, &bi), 0);
    spy->fail_unmap = true;
    assert_int_equal(capdrv_cap_release(f.p1, b), 0); /* the handle is gone either way */
    spy->fail_unmap = false;
    assert_int_equal(spy->frees, 0);
    assert_int_equal(spy->free_while_mapped, 0);
    struct capdrv_shim_stats st;
    assert_int_equal(capdrv_shim_stats(f.shim, &st), 0);
    assert_int_equal(st.dma_buffers, 0);
    /* The next buffer gets another ledger slot and other memory. */
    struct capdrv_dmabuf_info bi2;
    assert_int_equal(capdrv_dma_alloc(f.p1, pool, 4096, &b, &bi2), 0);
    assert_ptr_not_equal(bi2.cpu, bi.cpu);
    assert_int_not_equal(bi2.ref_base & ~(0xfffull << 48), bi.ref_base & ~(0xfffull << 48));
    fx_done(&f); /* the sim frees quarantined memory at destroy */
}

/* If the function cannot be reset, a buffer it was given is quarantined:
 * its DMA may still be running. */
static void test_failed_reset_quarantines(void **state)
{
    (void)state;
    struct fx f;
    struct fx_spy *spy = fx_spied(&f);
    capdrv_cap_t g = fx_open(f.p1, "dma0"), m = fx_mmio(f.p1, g, 0), pool, b;
    struct capdrv_dmabuf_info bi;
    assert_int_equal(capdrv_pool_open(f.p1, g, &pool), 0);
    assert_int_equal(capdrv_dma_alloc(f.p1, pool, 4096, &b, &bi), 0);
    assert_int_equal(fx_dmatest_cmd(f.p1, m, capdrv_dma_ref(&bi, 0), 64, CAPDRV_DMATEST_CMD_FILL,
                                    1, 10000), 0); /* in flight */
    spy->fail_reset = true;
    assert_int_equal(capdrv_cap_release(f.p1, b), 0);
    assert_int_equal(spy->frees, 0);
    spy->fail_reset = false;
    /* A successful reset (grant reset) makes the grant's memory safe again. */
    assert_int_equal(capdrv_grant_reset(f.p1, g), 0);
    assert_int_equal(capdrv_pool_open(f.p1, g, &pool), 0);
    assert_int_equal(capdrv_dma_alloc(f.p1, pool, 4096, &b, &bi), 0);
    assert_int_equal(capdrv_cap_release(f.p1, b), 0);
    assert_int_equal(spy->frees, 1);
    capdrv_sim_advance(f.sim, 100000);
    fx_done(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quota),
        cmocka_unit_test(test_buffer_count_quota),
        cmocka_unit_test(test_stale_and_mistagged_tokens),
        cmocka_unit_test(test_any_function_has_no_pool),
        cmocka_unit_test(test_brokered_lane_roundtrip),
        cmocka_unit_test(test_direct_lane_roundtrip),
        cmocka_unit_test(test_brokered_hides_device_addresses),
        cmocka_unit_test(test_direct_lane_uses_iovas),
        cmocka_unit_test(test_brokered_refuses_out_of_ledger),
        cmocka_unit_test(test_direct_refuses_out_of_ledger),
        cmocka_unit_test(test_rewrite_after_notify_changes_nothing),
        cmocka_unit_test(test_freed_memory_is_scrubbed_first),
        cmocka_unit_test(test_failed_unmap_quarantines),
        cmocka_unit_test(test_failed_reset_quarantines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
