/* The sim platform's DMA memory, mappings (with and without an IOMMU) and
 * the DMA oracle: a device may touch only memory inside one region that is
 * mapped for that very function, and every other access is refused,
 * counted and recorded. */
#include "sim_test.h"

#include <string.h>

static void test_alloc_free(void **state)
{
    (void)state;
    struct st t;
    st_init(&t, false);
    struct capdrv_hw_dma a, b;
    assert_int_equal(t.hw.ops->dma_alloc(t.hw.ctx, 4096, &a), 0);
    assert_int_equal(t.hw.ops->dma_alloc(t.hw.ctx, 3 * 4096, &b), 0);
    const struct capdrv_hw_dma *m[2] = {&a, &b};
    for (int i = 0; i < 2; i++) {
        assert_non_null(m[i]->cpu);
        assert_int_equal((uintptr_t)m[i]->cpu % 4096, 0);
        assert_int_equal(m[i]->phys % 4096, 0);
        assert_true(m[i]->phys >= CAPDRV_SIM_DMA_PHYS_BASE);
        assert_true(m[i]->phys != (uint64_t)(uintptr_t)m[i]->cpu);
        memset(m[i]->cpu, i + 1, m[i]->size); /* the whole region is usable */
    }
    assert_int_equal(a.size, 4096);
    assert_int_equal(b.size, 3 * 4096);
    /* Regions never overlap and are not adjacent (a guard page between). */
    assert_true(b.phys >= a.phys + a.size + 4096 || a.phys >= b.phys + b.size + 4096);
    struct capdrv_sim_dma_stats ds;
    assert_int_equal(capdrv_sim_dma_stats(t.sim, &ds), 0);
    assert_int_equal(ds.regions, 2);
    assert_int_equal(ds.bytes, 4 * 4096);
    uint64_t a_phys = a.phys;
    t.hw.ops->dma_free(t.hw.ctx, &a);
    t.hw.ops->dma_free(t.hw.ctx, &a); /* double free: ignored */
    struct capdrv_hw_dma forged = b;
    forged.cookie ^= 1;
    t.hw.ops->dma_free(t.hw.ctx, &forged); /* not a live region: ignored */
    t.hw.ops->dma_free(t.hw.ctx, NULL);
    assert_int_equal(capdrv_sim_dma_stats(t.sim, &ds), 0);
    assert_int_equal(ds.regions, 1);
    assert_int_equal(ds.bytes, 3 * 4096);
    /* Physical addresses are never handed out twice. */
    struct capdrv_hw_dma c;
    assert_int_equal(t.hw.ops->dma_alloc(t.hw.ctx, 4096, &c), 0);
    assert_true(c.phys != a_phys && c.phys > b.phys);
    t.hw.ops->dma_free(t.hw.ctx, &b);
    t.hw.ops->dma_free(t.hw.ctx, &c);
    /* Sizes must be whole pages. */
    const size_t bad[] = {0, 1, 100, 4095, 4097, 8191};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(t.hw.ops->dma_alloc(t.hw.ctx, bad[i], &c), -CAPDRV_EINVAL);
    assert_int_equal(t.hw.ops->dma_alloc(t.hw.ctx, 4096, NULL), -CAPDRV_EINVAL);
    st_done(&t, 0);
}

static void test_alloc_limit(void **state)
{
    (void)state;
    struct capdrv_sim *sim;
    struct capdrv_sim_config cfg = {.dma_limit = 2 * 4096};
    assert_int_equal(capdrv_sim_create(&cfg, &sim), 0);
    struct capdrv_hw hw = capdrv_sim_hw(sim);
    struct capdrv_hw_dma a, b;
    assert_int_equal(hw.ops->dma_alloc(hw.ctx, 3 * 4096, &a), -CAPDRV_ENOMEM);
    assert_int_equal(hw.ops->dma_alloc(hw.ctx, 2 * 4096, &a), 0);
    assert_int_equal(hw.ops->dma_alloc(hw.ctx, 4096, &b), -CAPDRV_ENOMEM);
    hw.ops->dma_free(hw.ctx, &a);
    assert_int_equal(hw.ops->dma_alloc(hw.ctx, 4096, &b), 0);
    hw.ops->dma_free(hw.ctx, &b);
    capdrv_sim_destroy(sim);
}

static void test_map_without_iommu(void **state)
{
    (void)state;
    struct st t;
    st_init(&t, false);
    struct capdrv_hw_dma a;
    assert_int_equal(t.hw.ops->dma_alloc(t.hw.ctx, 8192, &a), 0);
    uint64_t d0 = 0, d1 = 0, x;
    /* The IOVA is ignored: the device address is the physical address. */
    assert_int_equal(t.hw.ops->dma_map(t.hw.ctx, t.dma0, &a, 0x123000, &d0), 0);
    assert_int_equal(d0, a.phys);
    assert_int_equal(t.hw.ops->dma_map(t.hw.ctx, t.dma0, &a, 0, &x), -CAPDRV_EEXIST);
    assert_int_equal(t.hw.ops->dma_map(t.hw.ctx, t.dma1, &a, 0, &d1), 0);
    assert_int_equal(d1, a.phys);
    struct capdrv_sim_dma_stats ds;
    assert_int_equal(capdrv_sim_dma_stats(t.sim, &ds), 0);
    assert_int_equal(ds.mappings, 2);
    /* Bad arguments. */
    struct capdrv_hw_dma forged = a;
    forged.phys += 4096;
    assert_int_equal(t.hw.ops->dma_map(t.hw.ctx, t.raw, &forged, 0, &x), -CAPDRV_EINVAL);
    forged = a;
    forged.size = 4096;
    assert_int_equal(t.hw.ops->dma_map(t.hw.ctx, t.raw, &forged, 0, &x), -CAPDRV_EINVAL);
    assert_int_equal(t.hw.ops->dma_map(t.hw.ctx, t.raw, NULL, 0, &x), -CAPDRV_EINVAL);
    assert_int_equal(t.hw.ops->dma_map(t.hw.ctx, t.raw, &a, 0, NULL), -CAPDRV_EINVAL);
    assert_int_equal(t.hw.ops->dma_map(t.hw.ctx, 3, &a, 0, &x), -CAPDRV_ENOENT);
    assert_int_equal(t.hw.ops->dma_unmap(t.hw.ctx, t.dma0, &a, d0 + 4096), -CAPDRV_ENOENT);
    assert_int_equal(t.hw.ops->dma_unmap(t.hw.ctx, t.raw, &a, d0), -CAPDRV_ENOENT);
    assert_int_equal(t.hw.ops->dma_unmap(t.hw.ctx, 3, &a, d0), -CAPDRV_ENOENT);
    assert_int_equal(t.hw.ops->dma_unmap(t.hw.ctx, t.dma0, NULL, d0), -CAPDRV_EINVAL);
    /* Unmap is per function. */
    assert_int_equal(t.hw.ops->dma_unmap(t.hw.ctx, t.dma0, &a, d0), 0);
    assert_int_equal(t.hw.ops->dma_unmap(t.hw.ctx, t.dma0, &a, d0), -CAPDRV_ENOENT);
    uint8_t byte = 0x5a;
    assert_int_equal(capdrv_sim_device_dma(t.sim, t.dma1, d1, &byte, 1, true), 0);
    assert_int_equal(capdrv_sim_device_dma(t.sim, t.dma0, d0, &byte, 1, true), -CAPDRV_EFAULT);
    /* Mapping again after an unmap is allowed. */
    assert_int_equal(t.hw.ops->dma_map(t.hw.ctx, t.dma0, &a, 0, &d0), 0);
    st_unmap_free(&t, t.dma0, &a, d0);
    assert_int_equal(capdrv_sim_dma_stats(t.sim, &ds), 0);
    assert_int_equal(ds.mappings, 0); /* dma_free dropped dma1's mapping */
    st_done(&t, 1);
}

static void test_map_with_iommu(void **state)
{
    (void)state;
    struct st t;
    st_init(&t, true);
    struct capdrv_hw_dma a, b, c;
    assert_int_equal(t.hw.ops->dma_alloc(t.hw.ctx, 8192, &a), 0);
    assert_int_equal(t.hw.ops->dma_alloc(t.hw.ctx, 4096, &b), 0);
    assert_int_equal(t.hw.ops->dma_alloc(t.hw.ctx, 4096, &c), 0);
    uint64_t d = 0;
    assert_int_equal(t.hw.ops->dma_map(t.hw.ctx, t.dma0, &a, 0x100000, &d), 0);
    assert_int_equal(d, 0x100000);
    const struct {
        const char *what;
        const struct capdrv_hw_dma *mem;
        unsigned fn;
        uint64_t iova;
        int rc;
    } cases[] = {
        {"double map", &a, t.dma0, 0x200000, -CAPDRV_EEXIST},
        {"unaligned", &b, t.dma0, 0x200010, -CAPDRV_EINVAL},
        {"overlaps start", &b, t.dma0, 0x100000, -CAPDRV_EINVAL},
        {"overlaps end", &b, t.dma0, 0x101000, -CAPDRV_EINVAL},
        {"wraps", &b, t.dma0, UINT64_MAX - 4095, -CAPDRV_EINVAL},
        {"adjacent below", &b, t.dma0, 0xff000, 0},
        {"adjacent above", &c, t.dma0, 0x102000, 0},
        {"same iova, other function", &a, t.dma1, 0x100000, 0},
        {"iova 0", &b, t.dma1, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t got = 0;
        int rc = t.hw.ops->dma_map(t.hw.ctx, cases[i].fn, cases[i].mem, cases[i].iova, &got);
        if (rc != cases[i].rc)
            fail_msg("%s: got %d, want %d", cases[i].what, rc, cases[i].rc);
        if (rc == 0)
            assert_int_equal(got, cases[i].iova);
    }
    /* Each function translates through its own map. */
    uint8_t v = 0x11;
    assert_int_equal(capdrv_sim_device_dma(t.sim, t.dma0, 0x100000 + 5, &v, 1, true), 0);
    v = 0x22;
    assert_int_equal(capdrv_sim_device_dma(t.sim, t.dma0, 0xff000 + 5, &v, 1, true), 0);
    v = 0x33;
    assert_int_equal(capdrv_sim_device_dma(t.sim, t.dma1, 0x0 + 6, &v, 1, true), 0);
    assert_int_equal(((uint8_t *)a.cpu)[5], 0x11);
    assert_int_equal(((uint8_t *)b.cpu)[5], 0x22);
    assert_int_equal(((uint8_t *)b.cpu)[6], 0x33);
    /* With an IOMMU the physical address means nothing to the device. */
    assert_int_equal(capdrv_sim_device_dma(t.sim, t.dma0, a.phys, &v, 1, true), -CAPDRV_EFAULT);
    assert_int_equal(t.hw.ops->dma_unmap(t.hw.ctx, t.dma0, &a, 0x100000), 0);
    assert_int_equal(t.hw.ops->dma_unmap(t.hw.ctx, t.dma0, &b, 0xff000), 0);
    assert_int_equal(t.hw.ops->dma_unmap(t.hw.ctx, t.dma0, &c, 0x102000), 0);
    assert_int_equal(t.hw.ops->dma_unmap(t.hw.ctx, t.dma1, &a, 0x100000), 0);
    assert_int_equal(t.hw.ops->dma_unmap(t.hw.ctx, t.dma1, &b, 0), 0);
    t.hw.ops->dma_free(t.hw.ctx, &a);
    t.hw.ops->dma_free(t.hw.ctx, &b);
    t.hw.ops->dma_free(t.hw.ctx, &c);
    st_done(&t, 1);
}

/* The oracle, table-driven, in both modes. dma0 has A (2 pages) and D (1
 * page, directly below A in IOVA space with an IOMMU) mapped; B is
 * allocated and mapped nowhere; C is mapped for dma1 only. */
static void test_oracle(void **state)
{
    (void)state;
    for (int iommu = 0; iommu <= 1; iommu++) {
        struct st t;
        st_init(&t, iommu);
        struct capdrv_hw_dma a, b, c, dd;
        uint64_t da = st_alloc_map(&t, t.dma0, 8192, 0x40000, &a);
        uint64_t dd_addr = st_alloc_map(&t, t.dma0, 4096, 0x3f000, &dd);
        assert_int_equal(t.hw.ops->dma_alloc(t.hw.ctx, 4096, &b), 0);
        uint64_t dc = st_alloc_map(&t, t.dma1, 4096, 0x80000, &c);
        memset(a.cpu, 0, a.size);
        memset(b.cpu, 0, b.size);
        memset(c.cpu, 0, c.size);
        const struct {
            const char *what;
            uint64_t addr;
            size_t len;
            bool ok;
        } cases[] = {
            {"whole region", da, 8192, true},
            {"middle", da + 100, 200, true},
            {"last byte", da + 8191, 1, true},
            {"zero length anywhere", 0, 0, true},
            {"one byte before", da - 1, 2, false},
            {"straddles the end", da + 8000, 400, false},
            {"one past the end", da + 8192, 1, false},
            {"spans two mappings", da - 96, 192, false},
            {"allocated, never mapped", b.phys, 16, false},
            {"another function's mapping", dc, 16, false},
            {"address 0", 0, 8, false},
            {"wraps the address space", UINT64_MAX - 3, 8, false},
        };
        unsigned long want = 0;
        uint8_t buf[8192];
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            for (int w = 0; w <= 1; w++) {
                memset(buf, 0xee, sizeof buf);
                int rc = capdrv_sim_device_dma(t.sim, t.dma0, cases[i].addr, buf, cases[i].len, w);
                if (rc != (cases[i].ok ? 0 : -CAPDRV_EFAULT))
                    fail_msg("iommu=%d %s (%s): rc %d", iommu, cases[i].what, w ? "write" : "read", rc);
                if (!cases[i].ok) {
                    want++;
                    struct capdrv_sim_violation v;
                    assert_int_equal(capdrv_sim_oracle_last(t.sim, &v), 0);
                    assert_int_equal(v.fn, t.dma0);
                    assert_int_equal(v.devaddr, cases[i].addr);
                    assert_int_equal(v.len, cases[i].len);
                    assert_int_equal(v.is_write, w);
                    assert_int_equal(v.now_ns, capdrv_sim_now(t.sim));
                }
                assert_int_equal(capdrv_sim_oracle_violations(t.sim), want);
            }
        }
        /* Refused writes changed nothing; allowed ones landed. */
        for (size_t i = 0; i < 4096; i++)
            assert_int_equal(((uint8_t *)b.cpu)[i] | ((uint8_t *)c.cpu)[i], 0);
        assert_int_equal(((uint8_t *)a.cpu)[8191], 0xee);
        assert_int_equal(((uint8_t *)dd.cpu)[4095], 0xa5); /* refused span: still junk */
        /* Reads return what the CPU wrote. */
        ((uint8_t *)a.cpu)[4000] = 0x77;
        uint8_t r = 0;
        assert_int_equal(capdrv_sim_device_dma(t.sim, t.dma0, da + 4000, &r, 1, false), 0);
        assert_int_equal(r, 0x77);
        /* After unmap, and after free, the device can no longer reach it. */
        assert_int_equal(t.hw.ops->dma_unmap(t.hw.ctx, t.dma0, &dd, dd_addr), 0);
        assert_int_equal(capdrv_sim_device_dma(t.sim, t.dma0, dd_addr, &r, 1, false), -CAPDRV_EFAULT);
        t.hw.ops->dma_free(t.hw.ctx, &dd);
        t.hw.ops->dma_free(t.hw.ctx, &a); /* freed while mapped: unmapped first */
        assert_int_equal(capdrv_sim_device_dma(t.sim, t.dma0, da, &r, 1, false), -CAPDRV_EFAULT);
        want += 2;
        st_unmap_free(&t, t.dma1, &c, dc);
        t.hw.ops->dma_free(t.hw.ctx, &b);
        assert_int_equal(capdrv_sim_device_dma(t.sim, 7, 0, &r, 1, false), -CAPDRV_ENOENT);
        assert_int_equal(capdrv_sim_device_dma(t.sim, t.dma0, 0, NULL, 1, false), -CAPDRV_EINVAL);
        st_done(&t, want);
    }
}

static void test_oracle_record_and_reset(void **state)
{
    (void)state;
    struct st t;
    st_init(&t, false);
    struct capdrv_sim_violation v;
    assert_int_equal(capdrv_sim_oracle_last(t.sim, &v), -CAPDRV_ENOENT);
    assert_int_equal(capdrv_sim_oracle_last(t.sim, NULL), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_sim_oracle_last(NULL, &v), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_sim_oracle_violations(NULL), 0);
    capdrv_sim_advance(t.sim, 1234);
    uint8_t b[4] = {0};
    assert_int_equal(capdrv_sim_device_dma(t.sim, t.raw, 0x1000, b, 4, true), -CAPDRV_EFAULT);
    assert_int_equal(capdrv_sim_device_dma(t.sim, t.dma1, 0x2000, b, 2, false), -CAPDRV_EFAULT);
    assert_int_equal(capdrv_sim_oracle_violations(t.sim), 2);
    assert_int_equal(capdrv_sim_oracle_last(t.sim, &v), 0);
    assert_int_equal(v.fn, t.dma1);
    assert_int_equal(v.devaddr, 0x2000);
    assert_int_equal(v.len, 2);
    assert_false(v.is_write);
    assert_int_equal(v.now_ns, 1234);
    capdrv_sim_oracle_reset(t.sim);
    assert_int_equal(capdrv_sim_oracle_violations(t.sim), 0);
    assert_int_equal(capdrv_sim_oracle_last(t.sim, &v), -CAPDRV_ENOENT);
    capdrv_sim_oracle_reset(NULL);
    st_done(&t, 0);
}

static void test_destroy_frees_leftovers(void **state)
{
    (void)state;
    /* A machine destroyed with memory still allocated and mapped must not
     * leak (ASan's leak checker runs this under the sanitizer build). */
    struct st t;
    st_init(&t, true);
    struct capdrv_hw_dma a;
    st_alloc_map(&t, t.dma0, 4096, 0, &a);
    capdrv_sim_destroy(t.sim);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_free),
        cmocka_unit_test(test_alloc_limit),
        cmocka_unit_test(test_map_without_iommu),
        cmocka_unit_test(test_map_with_iommu),
        cmocka_unit_test(test_oracle),
        cmocka_unit_test(test_oracle_record_and_reset),
        cmocka_unit_test(test_destroy_frees_leftovers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
