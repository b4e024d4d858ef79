/* Binding grants to functions: grant classes, window placement, DMA backend
 * selection and hostile configuration space, all refused fail-closed. */
#include "fixture.h"

#include <string.h>

static void create_fails(const char *manifest, bool iommu, int expect, const char *why_part)
{
    struct fx f;
    fx_machine(&f, iommu);
    assert_int_equal(fx_shim(&f, manifest), expect);
    assert_null(f.shim);
    if (why_part && !strstr(f.why, why_part))
        fail_msg("reason \"%s\" does not mention \"%s\"", f.why, why_part);
    fx_done(&f);
}

static void test_wrong_class_refused(void **state)
{
    (void)state;
    create_fails("any_with_pool", false, -CAPDRV_EACCES, "any-function");
    create_fails("dma_on_plain", false, -CAPDRV_EACCES, "dma-capable");
    create_fails("nvme_on_dmatest", false, -CAPDRV_EACCES, "nvme-controller");
}

static void test_bad_windows_refused(void **state)
{
    (void)state;
    create_fails("window_beyond_bar", false, -CAPDRV_EFAULT, "big");
    create_fails("window_missing_bar", false, -CAPDRV_EFAULT, "b1");
    create_fails("window_over_msix", false, -CAPDRV_EFAULT, "MSI-X");
}

static void test_unmatched_grant_refused(void **state)
{
    (void)state;
    create_fails("no_match", false, -CAPDRV_ENODEV, "g0");
}

static void test_backend_probe_selects_lane(void **state)
{
    (void)state;
    for (int iommu = 0; iommu <= 1; iommu++) {
        struct fx f;
        fx_basic(&f, iommu);
        capdrv_cap_t g = fx_open(f.p1, "dma0");
        assert_int_equal(capdrv_grant_lane(f.p1, g), iommu ? CAPDRV_LANE_DIRECT : CAPDRV_LANE_BROKERED);
        fx_done(&f);
    }
}

static void test_override_to_unavailable_backend_fails(void **state)
{
    (void)state;
    /* No IOMMU: "direct" must fail, never fall back to brokered. */
    create_fails("direct_global", false, -CAPDRV_ENOTSUP, "IOMMU");
    /* With an IOMMU the same manifest is fine and selects direct. */
    struct fx f;
    fx_machine(&f, true);
    assert_int_equal(fx_shim(&f, "direct_global"), 0);
    assert_int_equal(capdrv_shim_connect(f.shim, "p1", &f.p1), 0);
    assert_int_equal(capdrv_grant_lane(f.p1, fx_open(f.p1, "g0")), CAPDRV_LANE_DIRECT);
    fx_done(&f);
}

static void test_override_to_brokered_on_iommu(void **state)
{
    (void)state;
    struct fx f;
    fx_machine(&f, true);
    assert_int_equal(fx_shim(&f, "brokered_grant"), 0);
    assert_int_equal(capdrv_shim_connect(f.shim, "p1", &f.p1), 0);
    capdrv_cap_t g = fx_open(f.p1, "g0"), m = fx_mmio(f.p1, g, 0), pool, b[3];
    assert_int_equal(capdrv_grant_lane(f.p1, g), CAPDRV_LANE_BROKERED);
    /* Behind the IOMMU each buffer still gets its own device address
     * (two used to collide at IOVA 0); the provider sees tokens only. */
    assert_int_equal(capdrv_pool_open(f.p1, g, &pool), 0);
    struct capdrv_dmabuf_info bi[3];
    for (unsigned i = 0; i < 3; i++) {
        assert_int_equal(capdrv_dma_alloc(f.p1, pool, 4096, &b[i], &bi[i]), 0);
        assert_int_equal(bi[i].ref_base >> 60, 0xA);
        assert_int_equal(fx_dmatest_cmd(f.p1, m, capdrv_dma_ref(&bi[i], 0), 64,
                                        CAPDRV_DMATEST_CMD_FILL, 0x40u + i, 0), 0);
        uint64_t st;
        assert_int_equal(capdrv_mmio_read(f.p1, m, CAPDRV_DMATEST_STATUS, 4, &st), 0);
        assert_int_equal(st & (CAPDRV_DMATEST_STATUS_DONE | CAPDRV_DMATEST_STATUS_ERROR),
                         CAPDRV_DMATEST_STATUS_DONE);
    }
    for (unsigned i = 0; i < 3; i++) /* the pattern is a little-endian dword */
        assert_int_equal(((const uint8_t *)bi[i].cpu)[60], 0x40u + i);
    fx_done(&f);
}

/* Config-space layouts a hostile device could present (PCI 3.0 §6.7). */
static void test_hostile_config_space_refused(void **state)
{
    (void)state;
    struct {
        const char *what;
        int expect;
    } cases[] = {
        {"capability list loops", -CAPDRV_EPROTO},
        {"capability pointer into header", -CAPDRV_EPROTO},
        {"MSI-X table BIR 7", -CAPDRV_EPROTO},
        {"MSI-X table beyond BAR", -CAPDRV_EPROTO},
        {"MSI-X truncated at end", -CAPDRV_EPROTO},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct fx f;
        fx_machine(&f, false);
        /* Find the MSI-X capability the sim placed, then corrupt it. */
        uint32_t ptr = 0, id = 0;
        f.hw.ops->cfg_read(f.hw.ctx, f.fn_dma0, 0x34, 1, &ptr);
        for (int hops = 0; hops < 48 && ptr; hops++) {
            f.hw.ops->cfg_read(f.hw.ctx, f.fn_dma0, ptr, 1, &id);
            if (id == 0x11)
                break;
            f.hw.ops->cfg_read(f.hw.ctx, f.fn_dma0, ptr + 1, 1, &ptr);
        }
        assert_int_equal(id, 0x11);
        switch (i) {
        case 0: /* a vendor capability whose next pointer names itself */
            assert_int_equal(capdrv_sim_cfg_poke(f.sim, f.fn_dma0, 0xf0, 1, 0x09), 0);
            assert_int_equal(capdrv_sim_cfg_poke(f.sim, f.fn_dma0, 0xf1, 1, 0xf0), 0);
            assert_int_equal(capdrv_sim_cfg_poke(f.sim, f.fn_dma0, 0x34, 1, 0xf0), 0);
            break;
        case 1:
            assert_int_equal(capdrv_sim_cfg_poke(f.sim, f.fn_dma0, 0x34, 1, 0x20), 0);
            break;
        case 2:
            assert_int_equal(capdrv_sim_cfg_poke(f.sim, f.fn_dma0, ptr + 4, 4, 0x7), 0);
            break;
        case 3:
            assert_int_equal(capdrv_sim_cfg_poke(f.sim, f.fn_dma0, ptr + 4, 4, 0x2 | 0xff8), 0);
            break;
        case 4: /* MSI-X capability placed where its 12 bytes cross 0x100 */
            assert_int_equal(capdrv_sim_cfg_poke(f.sim, f.fn_dma0, 0xf8, 1, 0x11), 0);
            assert_int_equal(capdrv_sim_cfg_poke(f.sim, f.fn_dma0, 0x34, 1, 0xf8), 0);
            break;
        }
        int rc = fx_shim(&f, "basic");
        if (rc != cases[i].expect)
            fail_msg("%s: got %d (%s), want %d", cases[i].what, rc, f.why, cases[i].expect);
        assert_non_null(strstr(f.why, "config space"));
        fx_done(&f);
    }
}

static void test_irqs_limited_by_device(void **state)
{
    (void)state;
    struct fx f;
    fx_basic(&f, false);
    struct capdrv_grant_info gi;
    /* raw0 asks for 1 vector; the scratch device has 2: 1 granted. */
    assert_int_equal(capdrv_grant_info(f.p1, (unsigned)capdrv_grant_find(f.p1, "raw0"), &gi), 0);
    assert_int_equal(gi.n_irqs, 1);
    assert_int_equal(gi.cls, CAPDRV_GRANT_ANY_FUNCTION);
    assert_int_equal(gi.pool_quota_bytes, 0);
    fx_done(&f);
}

static void test_window_over_pba_refused(void **state)
{
    (void)state;
    create_fails("window_over_pba", false, -CAPDRV_EFAULT, "pba");
}

static void test_function_bound_once(void **state)
{
    (void)state;
    /* Both grants match the only scratch function: the second finds none. */
    create_fails("two_grants_one_fn", false, -CAPDRV_ENODEV, "second");
}

static void test_irqs_clamped_to_msix_table(void **state)
{
    (void)state;
    struct fx f;
    fx_machine(&f, false);
    assert_int_equal(fx_shim(&f, "many_irqs"), 0);
    assert_int_equal(capdrv_shim_connect(f.shim, "p1", &f.p1), 0);
    struct capdrv_grant_info gi;
    assert_int_equal(capdrv_grant_info(f.p1, 0, &gi), 0);
    assert_int_equal(gi.n_irqs, CAPDRV_DMATEST_NUM_VECTORS);
    capdrv_cap_t g = fx_open(f.p1, "g0"), irq;
    assert_int_equal(capdrv_irq_open(f.p1, g, CAPDRV_DMATEST_NUM_VECTORS, &irq), -CAPDRV_ENOENT);
    assert_int_equal(capdrv_irq_open(f.p1, g, CAPDRV_DMATEST_NUM_VECTORS - 1, &irq), 0);
    fx_done(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wrong_class_refused),
        cmocka_unit_test(test_bad_windows_refused),
        cmocka_unit_test(test_unmatched_grant_refused),
        cmocka_unit_test(test_backend_probe_selects_lane),
        cmocka_unit_test(test_override_to_unavailable_backend_fails),
        cmocka_unit_test(test_override_to_brokered_on_iommu),
        cmocka_unit_test(test_hostile_config_space_refused),
        cmocka_unit_test(test_irqs_limited_by_device),
        cmocka_unit_test(test_window_over_pba_refused),
        cmocka_unit_test(test_function_bound_once),
        cmocka_unit_test(test_irqs_clamped_to_msix_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
