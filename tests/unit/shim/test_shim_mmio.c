/* DeviceMmio windows and configuration space: bounds, widths, access
 * rights, register maps, and the COMMAND-only write rule. */
#include "fixture.h"

static void test_window_bounds_and_widths(void **state)
{
    (void)state;
    struct fx f;
    fx_basic(&f, false);
    capdrv_cap_t g = fx_open(f.p1, "raw0");
    capdrv_cap_t all = fx_mmio(f.p1, g, 0); /* 0x000..0xfff, rw, no register map */
    uint64_t v;
    struct {
        uint64_t off;
        unsigned width;
        int expect;
    } cases[] = {
        {0x0, 4, 0},          {0xff8, 8, 0},        {0xfff, 1, 0},       {0x1000, 1, -CAPDRV_EFAULT},
        {0xffc, 8, -CAPDRV_EINVAL} /* misaligned */, {0x1000, 4, -CAPDRV_EFAULT},
        {UINT64_MAX - 3, 4, -CAPDRV_EFAULT},        {0x2, 4, -CAPDRV_EINVAL}, {0x0, 3, -CAPDRV_EINVAL},
        {0x0, 16, -CAPDRV_EINVAL},                  {0x0, 0, -CAPDRV_EINVAL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = capdrv_mmio_read(f.p1, all, cases[i].off, cases[i].width, &v);
        if (rc != cases[i].expect)
            fail_msg("read off=%#llx width=%u: %d, want %d", (unsigned long long)cases[i].off,
                     cases[i].width, rc, cases[i].expect);
        rc = capdrv_mmio_write(f.p1, all, cases[i].off, cases[i].width, 0);
        if (rc != cases[i].expect)
            fail_msg("write off=%#llx width=%u: %d, want %d", (unsigned long long)cases[i].off,
                     cases[i].width, rc, cases[i].expect);
    }
    /* Raw windows reach the device: the scratch register file echoes. */
    assert_int_equal(capdrv_mmio_write(f.p1, all, 0x100, 8, 0x1122334455667788ull), 0);
    assert_int_equal(capdrv_mmio_read(f.p1, all, 0x100, 8, &v), 0);
    assert_int_equal(v, 0x1122334455667788ull);
    assert_int_equal(capdrv_mmio_read(f.p1, all, 0x104, 2, &v), 0);
    assert_int_equal(v, 0x3344);
    /* A value wider than the access is refused, not truncated. */
    assert_int_equal(capdrv_mmio_write(f.p1, all, 0x100, 1, 0x100), -CAPDRV_EINVAL);
    fx_done(&f);
}

static void test_read_only_window(void **state)
{
    (void)state;
    struct fx f;
    fx_basic(&f, false);
    capdrv_cap_t g = fx_open(f.p1, "raw0");
    capdrv_cap_t all = fx_mmio(f.p1, g, 0), ro = fx_mmio(f.p1, g, 1); /* ro: BAR 0x800..0x8ff */
    uint64_t v;
    assert_int_equal(capdrv_mmio_write(f.p1, all, 0x810, 4, 0xabcd), 0);
    assert_int_equal(capdrv_mmio_read(f.p1, ro, 0x10, 4, &v), 0); /* window-relative */
    assert_int_equal(v, 0xabcd);
    assert_int_equal(capdrv_mmio_write(f.p1, ro, 0x10, 4, 1), -CAPDRV_EPERM);
    assert_int_equal(capdrv_mmio_read(f.p1, ro, 0x100, 4, &v), -CAPDRV_EFAULT);
    assert_int_equal(capdrv_mmio_read(f.p1, all, 0x810, 4, &v), 0);
    assert_int_equal(v, 0xabcd); /* the refused write changed nothing */
    struct capdrv_window_info wi;
    assert_int_equal(capdrv_window_info(f.p1, g, 1, &wi), 0);
    assert_string_equal(wi.name, "ro");
    assert_int_equal(wi.offset, 0x800);
    assert_int_equal(wi.length, 0x100);
    assert_int_equal(wi.flags, CAPDRV_WINDOW_READ);
    assert_int_equal(capdrv_window_info(f.p1, g, 2, &wi), -CAPDRV_ENOENT);
    fx_done(&f);
}

static void test_register_map_enforced(void **state)
{
    (void)state;
    struct fx f;
    fx_basic(&f, false);
    capdrv_cap_t g = fx_open(f.p1, "dma0");
    capdrv_cap_t m = fx_mmio(f.p1, g, 0);
    struct capdrv_window_info wi;
    assert_int_equal(capdrv_window_info(f.p1, g, 0, &wi), 0);
    assert_true(wi.flags & CAPDRV_WINDOW_REGMAP);
    uint64_t v;
    struct {
        uint64_t off;
        unsigned width;
        bool write;
        int expect;
    } cases[] = {
        {CAPDRV_DMATEST_ID, 4, false, 0},
        {CAPDRV_DMATEST_ID, 4, true, -CAPDRV_EPERM},       /* read-only register */
        {CAPDRV_DMATEST_STATUS, 4, true, -CAPDRV_EPERM},
        {CAPDRV_DMATEST_RESULT, 4, true, -CAPDRV_EPERM},
        {CAPDRV_DMATEST_CMD, 4, false, -CAPDRV_EPERM},     /* write-only register */
        {CAPDRV_DMATEST_ID, 2, false, -CAPDRV_EFAULT},     /* wrong width */
        {CAPDRV_DMATEST_ADDR, 4, true, -CAPDRV_EFAULT},    /* half a 64-bit register */
        {CAPDRV_DMATEST_ADDR + 4, 4, true, -CAPDRV_EFAULT},
        {0x100, 4, false, -CAPDRV_EFAULT},                 /* not a register */
        {CAPDRV_DMATEST_PATTERN, 4, true, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = cases[i].write ? capdrv_mmio_write(f.p1, m, cases[i].off, cases[i].width, 0)
                                : capdrv_mmio_read(f.p1, m, cases[i].off, cases[i].width, &v);
        if (rc != cases[i].expect)
            fail_msg("case %zu off=%#llx: %d, want %d", i, (unsigned long long)cases[i].off, rc,
                     cases[i].expect);
    }
    /* Window "low" (0x0..0xf, read-only) on the same BAR. */
    capdrv_cap_t low = fx_mmio(f.p1, g, 1);
    assert_int_equal(capdrv_mmio_read(f.p1, low, CAPDRV_DMATEST_ID, 4, &v), 0);
    assert_int_equal(v, CAPDRV_DMATEST_ID_VALUE);
    assert_int_equal(capdrv_mmio_write(f.p1, low, CAPDRV_DMATEST_ADDR, 8, 0), -CAPDRV_EPERM);
    assert_int_equal(capdrv_mmio_read(f.p1, low, CAPDRV_DMATEST_LEN, 4, &v), -CAPDRV_EFAULT);
    fx_done(&f);
}

static void test_config_space_rules(void **state)
{
    (void)state;
    struct fx f;
    fx_basic(&f, false);
    capdrv_cap_t g = fx_open(f.p1, "dma0");
    uint32_t v;
    assert_int_equal(capdrv_cfg_read(f.p1, g, 0x00, 4, &v), 0);
    assert_int_equal(v, CAPDRV_DMATEST_VENDOR | (CAPDRV_DMATEST_DEVICE << 16));
    /* BARs hold host-physical MMIO addresses: only flag bits are visible. */
    uint32_t raw;
    assert_int_equal(f.hw.ops->cfg_read(f.hw.ctx, f.fn_dma0, 0x10, 4, &raw), 0);
    assert_int_not_equal(raw & ~0xfu, 0); /* the sim did assign an address */
    assert_int_equal(capdrv_cfg_read(f.p1, g, 0x10, 4, &v), 0);
    assert_int_equal(v, raw & 0xfu);
    assert_int_equal(capdrv_cfg_read(f.p1, g, 0x11, 1, &v), 0);
    assert_int_equal(v, 0);
    /* Bounds and widths. */
    assert_int_equal(capdrv_cfg_read(f.p1, g, 0xffc, 4, &v), 0);
    assert_int_equal(capdrv_cfg_read(f.p1, g, 0x1000, 4, &v), -CAPDRV_EFAULT);
    assert_int_equal(capdrv_cfg_read(f.p1, g, 0x2, 4, &v), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_cfg_read(f.p1, g, 0x0, 8, &v), -CAPDRV_EINVAL);
    /* Writes: COMMAND's memory/bus-master/INTx-disable bits only. */
    uint32_t cmd;
    assert_int_equal(capdrv_cfg_read(f.p1, g, 0x04, 2, &cmd), 0);
    assert_int_equal(capdrv_cfg_write(f.p1, g, 0x04, 2, cmd | 0x6), 0);
    assert_int_equal(capdrv_cfg_read(f.p1, g, 0x04, 2, &v), 0);
    assert_int_equal(v & 0x6, 0x6);
    assert_int_equal(capdrv_cfg_write(f.p1, g, 0x04, 2, v | 0x100), -CAPDRV_EPERM); /* SERR# */
    assert_int_equal(capdrv_cfg_write(f.p1, g, 0x10, 4, 0), -CAPDRV_EPERM);  /* a BAR */
    assert_int_equal(capdrv_cfg_write(f.p1, g, 0x04, 4, v), -CAPDRV_EPERM);  /* COMMAND+STATUS */
    assert_int_equal(capdrv_cfg_write(f.p1, g, 0x3c, 1, 0), -CAPDRV_EPERM);  /* interrupt line */
    assert_int_equal(f.hw.ops->cfg_read(f.hw.ctx, f.fn_dma0, 0x10, 4, &v), 0);
    assert_int_equal(v, raw); /* unchanged */
    /* A grant without a DMA profile may not turn on bus mastering. */
    capdrv_cap_t r = fx_open(f.p1, "raw0");
    assert_int_equal(capdrv_cfg_read(f.p1, r, 0x04, 2, &cmd), 0);
    assert_int_equal(capdrv_cfg_write(f.p1, r, 0x04, 2, (cmd | 0x4) & ~0x2u), -CAPDRV_EPERM);
    assert_int_equal(capdrv_cfg_write(f.p1, r, 0x04, 2, cmd | 0x2), 0); /* memory space is fine */
    fx_done(&f);
}

static void test_rom_address_hidden(void **state)
{
    (void)state;
    struct fx f;
    fx_basic(&f, false);
    capdrv_cap_t g = fx_open(f.p1, "dma0");
    assert_int_equal(capdrv_sim_cfg_poke(f.sim, f.fn_dma0, 0x30, 4, 0xfeed0801u), 0);
    uint32_t v;
    assert_int_equal(capdrv_cfg_read(f.p1, g, 0x30, 4, &v), 0);
    assert_int_equal(v, 0x00000001u); /* enable bit only; address bits 31:11 hidden */
    assert_int_equal(capdrv_cfg_read(f.p1, g, 0x32, 2, &v), 0);
    assert_int_equal(v, 0);
    fx_done(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window_bounds_and_widths),
        cmocka_unit_test(test_read_only_window),
        cmocka_unit_test(test_register_map_enforced),
        cmocka_unit_test(test_config_space_rules),
        cmocka_unit_test(test_rom_address_hidden),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
