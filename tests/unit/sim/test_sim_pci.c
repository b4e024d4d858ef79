/* The sim platform's PCI functions: configuration-space contents (type-0
 * header, PCI Express and MSI-X capabilities), access rules (width,
 * alignment, bounds, read-only and RW1C fields, BAR sizing), raw pokes,
 * function enumeration and FLR. */
#include "sim_test.h"

#include <string.h>

struct cfg_expect {
    const char *what;
    uint32_t off;
    unsigned width;
    uint32_t value;
};

static void check_table(struct st *t, unsigned fn, const struct cfg_expect *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t v = st_cfg(t, fn, e[i].off, e[i].width);
        if (v != e[i].value)
            fail_msg("fn %u %s (0x%x/%u): got 0x%x, want 0x%x", fn, e[i].what, e[i].off,
                     e[i].width, v, e[i].value);
    }
}

static void test_header_contents(void **state)
{
    (void)state;
    struct st t;
    st_init(&t, false);
    const struct cfg_expect dmatest[] = {
        {"vendor", 0x00, 2, CAPDRV_DMATEST_VENDOR},
        {"device", 0x02, 2, CAPDRV_DMATEST_DEVICE},
        {"command (power-on 0)", 0x04, 2, 0},
        {"status: capabilities list", 0x06, 2, 0x0010},
        {"revision", 0x08, 1, 0x01},
        {"prog-if", 0x09, 1, CAPDRV_DMATEST_CLASS & 0xff},
        {"subclass", 0x0a, 1, (CAPDRV_DMATEST_CLASS >> 8) & 0xff},
        {"base class", 0x0b, 1, CAPDRV_DMATEST_CLASS >> 16},
        {"header type 0", 0x0e, 1, 0x00},
        {"BAR1 unimplemented", 0x14, 4, 0},
        {"BAR3 unimplemented", 0x1c, 4, 0},
        {"BAR4 unimplemented", 0x20, 4, 0},
        {"BAR5 unimplemented", 0x24, 4, 0},
        {"subsystem vendor", 0x2c, 2, CAPDRV_DMATEST_VENDOR},
        {"subsystem id", 0x2e, 2, 0x0001},
        {"no expansion ROM", 0x30, 4, 0},
        {"capabilities pointer", 0x34, 1, 0x40},
        {"interrupt pin: MSI-X only", 0x3d, 1, 0},
        {"extended space empty", 0x100, 4, 0},
        {"last dword", 0xffc, 4, 0},
    };
    check_table(&t, t.dma0, dmatest, sizeof dmatest / sizeof dmatest[0]);
    const struct cfg_expect scratch[] = {
        {"vendor", 0x00, 2, ST_SCRATCH_VENDOR},
        {"device", 0x02, 2, ST_SCRATCH_DEVICE},
        {"class code dword", 0x08, 4, ST_SCRATCH_CLASS << 8 | 0x00},
        {"subsystem", 0x2c, 4, ST_SCRATCH_DEVICE << 16 | ST_SCRATCH_VENDOR},
        {"capabilities pointer", 0x34, 1, 0x40},
    };
    check_table(&t, t.raw, scratch, sizeof scratch / sizeof scratch[0]);
    /* BAR0 and BAR2: 32-bit non-prefetchable memory (flag bits 0), 4 KiB
     * aligned, distinct addresses per BAR and per function. */
    uint32_t seen[6];
    unsigned n = 0;
    unsigned fns[3] = {t.dma0, t.raw, t.dma1};
    for (unsigned i = 0; i < 3; i++) {
        for (unsigned bar = 0; bar <= 2; bar += 2) {
            uint32_t v = st_cfg(&t, fns[i], 0x10 + 4 * bar, 4);
            assert_int_equal(v & 0xfff, 0);
            assert_int_not_equal(v, 0);
            for (unsigned j = 0; j < n; j++)
                assert_int_not_equal(seen[j], v);
            seen[n++] = v;
        }
    }
    st_done(&t, 0);
}

static void test_capability_list(void **state)
{
    (void)state;
    struct st t;
    st_init(&t, false);
    unsigned fns[3] = {t.dma0, t.raw, t.dma1};
    for (unsigned i = 0; i < 3; i++) {
        unsigned fn = fns[i];
        /* Walk the list as the PCI spec describes it (§6.7). */
        uint32_t ptr = st_cfg(&t, fn, 0x34, 1), pcie = 0, msix = 0;
        for (int hops = 0; ptr && hops < 48; hops++) {
            uint32_t id = st_cfg(&t, fn, ptr, 1);
            if (id == 0x10)
                pcie = ptr;
            if (id == 0x11)
                msix = ptr;
            ptr = st_cfg(&t, fn, ptr + 1, 1) & 0xfc;
        }
        assert_int_equal(ptr, 0); /* the list ends */
        assert_int_not_equal(pcie, 0);
        assert_int_not_equal(msix, 0);
        assert_true(pcie >= 0x40 && msix >= 0x40 && msix + 12 <= 0x100);
        /* PCI Express capability v2, RC integrated endpoint, FLR capable. */
        assert_int_equal(st_cfg(&t, fn, pcie + 2, 2) & 0xf, 2);
        assert_int_equal((st_cfg(&t, fn, pcie + 2, 2) >> 4) & 0xf, 9);
        assert_true(st_cfg(&t, fn, pcie + 4, 4) & (1u << 28));
        /* MSI-X (PCI Local Bus 3.0 §6.8.2): 2 vectors encoded as N-1,
         * disabled and unmasked at power-on, table BAR2+0, PBA BAR2+0x800. */
        uint32_t ctrl = st_cfg(&t, fn, msix + 2, 2);
        assert_int_equal(ctrl & 0x7ff, CAPDRV_DMATEST_NUM_VECTORS - 1);
        assert_int_equal(ctrl & 0xc000, 0);
        assert_int_equal(st_cfg(&t, fn, msix + 4, 4), 0x0 | 2);
        assert_int_equal(st_cfg(&t, fn, msix + 8, 4), CAPDRV_SIM_MSIX_PBA_OFFSET | 2);
    }
    st_done(&t, 0);
}

static void test_cfg_access_errors(void **state)
{
    (void)state;
    struct st t;
    st_init(&t, false);
    const struct {
        uint32_t off;
        unsigned width;
        int rc;
    } cases[] = {
        {0x00, 0, -CAPDRV_EINVAL}, {0x00, 3, -CAPDRV_EINVAL}, {0x00, 8, -CAPDRV_EINVAL},
        {0x01, 2, -CAPDRV_EINVAL}, {0x02, 4, -CAPDRV_EINVAL}, {0x03, 4, -CAPDRV_EINVAL},
        {0x1000, 1, -CAPDRV_EFAULT}, {0x1000, 4, -CAPDRV_EFAULT}, {0xfffffffcu, 4, -CAPDRV_EFAULT},
        {0xfff, 1, 0}, {0xffe, 2, 0}, {0xffc, 4, 0}, {0x07, 1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint32_t v = 0;
        int r = t.hw.ops->cfg_read(t.hw.ctx, t.dma0, cases[i].off, cases[i].width, &v);
        int w = t.hw.ops->cfg_write(t.hw.ctx, t.dma0, cases[i].off, cases[i].width, 0);
        int p = capdrv_sim_cfg_poke(t.sim, t.dma0, cases[i].off, cases[i].width,
                                    cases[i].rc == 0 ? v : 0);
        if (r != cases[i].rc || w != cases[i].rc || p != cases[i].rc)
            fail_msg("case %zu (0x%x/%u): read %d write %d poke %d, want %d", i, cases[i].off,
                     cases[i].width, r, w, p, cases[i].rc);
    }
    uint32_t v;
    assert_int_equal(t.hw.ops->cfg_read(t.hw.ctx, 3, 0, 4, &v), -CAPDRV_ENOENT);
    assert_int_equal(t.hw.ops->cfg_write(t.hw.ctx, 99, 0, 4, 0), -CAPDRV_ENOENT);
    assert_int_equal(t.hw.ops->cfg_read(t.hw.ctx, t.dma0, 0, 4, NULL), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_sim_cfg_poke(t.sim, 3, 0, 4, 0), -CAPDRV_ENOENT);
    st_done(&t, 0);
}

static void test_cfg_write_semantics(void **state)
{
    (void)state;
    struct st t;
    st_init(&t, false);
    unsigned fn = t.dma0;
    uint8_t before[256];
    for (uint32_t o = 0; o < 256; o += 4) {
        uint32_t v = st_cfg(&t, fn, o, 4);
        memcpy(&before[o], &v, 4);
    }
    /* Read-only fields ignore writes, as hardware does. */
    const struct {
        const char *what;
        uint32_t off;
        unsigned width;
    } ro[] = {
        {"vendor/device", 0x00, 4}, {"revision/class", 0x08, 4}, {"header type", 0x0e, 1},
        {"subsystem", 0x2c, 4},     {"rom", 0x30, 4},            {"capabilities pointer", 0x34, 1},
        {"interrupt pin", 0x3d, 1}, {"pcie cap header", 0x40, 4}, {"msix cap header", 0x80, 2},
        {"msix table size", 0x82, 1}, {"msix table/BIR", 0x84, 4}, {"msix pba/BIR", 0x88, 4},
    };
    for (size_t i = 0; i < sizeof ro / sizeof ro[0]; i++) {
        uint32_t want = st_cfg(&t, fn, ro[i].off, ro[i].width);
        assert_int_equal(t.hw.ops->cfg_write(t.hw.ctx, fn, ro[i].off, ro[i].width, 0xa5a5a5a5u), 0);
        if (st_cfg(&t, fn, ro[i].off, ro[i].width) != want)
            fail_msg("%s changed by a write", ro[i].what);
    }
    /* COMMAND: only the defined control bits stick (§6.2.2). */
    assert_int_equal(t.hw.ops->cfg_write(t.hw.ctx, fn, 0x04, 2, 0xffff), 0);
    assert_int_equal(st_cfg(&t, fn, 0x04, 2), 0x0547);
    assert_int_equal(t.hw.ops->cfg_write(t.hw.ctx, fn, 0x04, 2, 0x0006), 0);
    assert_int_equal(st_cfg(&t, fn, 0x04, 2), 0x0006);
    /* STATUS error bits are RW1C: writing 0 keeps them, 1 clears. */
    assert_int_equal(capdrv_sim_cfg_poke(t.sim, fn, 0x06, 2, 0x2010), 0);
    assert_int_equal(t.hw.ops->cfg_write(t.hw.ctx, fn, 0x06, 2, 0x0000), 0);
    assert_int_equal(st_cfg(&t, fn, 0x06, 2), 0x2010);
    assert_int_equal(t.hw.ops->cfg_write(t.hw.ctx, fn, 0x06, 2, 0xffff), 0);
    assert_int_equal(st_cfg(&t, fn, 0x06, 2), 0x0010);
    /* A dword write at 0x04 touches COMMAND and STATUS correctly. */
    assert_int_equal(t.hw.ops->cfg_write(t.hw.ctx, fn, 0x04, 4, 0xffff0002u), 0);
    assert_int_equal(st_cfg(&t, fn, 0x04, 4), 0x00100002u);
    /* Plain read-write bytes. */
    assert_int_equal(t.hw.ops->cfg_write(t.hw.ctx, fn, 0x0c, 1, 0x10), 0);
    assert_int_equal(st_cfg(&t, fn, 0x0c, 1), 0x10);
    assert_int_equal(t.hw.ops->cfg_write(t.hw.ctx, fn, 0x3c, 1, 0x0b), 0);
    assert_int_equal(st_cfg(&t, fn, 0x3c, 1), 0x0b);
    /* MSI-X control: Enable and Function Mask are writable, size is not. */
    assert_int_equal(t.hw.ops->cfg_write(t.hw.ctx, fn, 0x82, 2, 0xffff), 0);
    assert_int_equal(st_cfg(&t, fn, 0x82, 2), 0xc001);
    /* Extended space is read-only. */
    assert_int_equal(t.hw.ops->cfg_write(t.hw.ctx, fn, 0x200, 4, 0x12345678), 0);
    assert_int_equal(st_cfg(&t, fn, 0x200, 4), 0);
    /* Another function is unaffected. */
    assert_int_equal(st_cfg(&t, t.dma1, 0x04, 2), 0);
    st_done(&t, 0);
}

static void test_bar_sizing(void **state)
{
    (void)state;
    struct st t;
    st_init(&t, false);
    for (unsigned bar = 0; bar < 6; bar++) {
        uint32_t off = 0x10 + 4 * bar, orig = st_cfg(&t, t.raw, off, 4);
        /* PCI Local Bus 3.0 §6.2.5.1: write all-ones, read back the mask. */
        assert_int_equal(t.hw.ops->cfg_write(t.hw.ctx, t.raw, off, 4, 0xffffffffu), 0);
        uint32_t mask = st_cfg(&t, t.raw, off, 4);
        uint32_t size = mask ? ~(mask & ~0xfu) + 1u : 0;
        assert_int_equal(size, bar == 0 || bar == 2 ? 0x1000 : 0);
        assert_int_equal(t.hw.ops->cfg_write(t.hw.ctx, t.raw, off, 4, orig), 0);
        assert_int_equal(st_cfg(&t, t.raw, off, 4), orig);
    }
    st_done(&t, 0);
}

static void test_function_info(void **state)
{
    (void)state;
    for (int iommu = 0; iommu <= 1; iommu++) {
        struct st t;
        st_init(&t, iommu);
        assert_int_equal(t.hw.ops->caps(t.hw.ctx), iommu ? CAPDRV_HW_IOMMU : 0u);
        assert_int_equal(t.hw.ops->function_count(t.hw.ctx), 3);
        const struct {
            unsigned fn;
            uint8_t dev;
            uint16_t vendor, device;
            uint32_t class_code;
        } want[] = {
            {t.dma0, 3, CAPDRV_DMATEST_VENDOR, CAPDRV_DMATEST_DEVICE, CAPDRV_DMATEST_CLASS},
            {t.raw, 4, ST_SCRATCH_VENDOR, ST_SCRATCH_DEVICE, ST_SCRATCH_CLASS},
            {t.dma1, 5, CAPDRV_DMATEST_VENDOR, CAPDRV_DMATEST_DEVICE, CAPDRV_DMATEST_CLASS},
        };
        for (size_t i = 0; i < 3; i++) {
            struct capdrv_hw_function info;
            memset(&info, 0xff, sizeof info);
            assert_int_equal(t.hw.ops->function_info(t.hw.ctx, want[i].fn, &info), 0);
            assert_int_equal(want[i].fn, i); /* numbered in creation order */
            assert_int_equal(info.addr.domain, 0);
            assert_int_equal(info.addr.bus, 0);
            assert_int_equal(info.addr.dev, want[i].dev);
            assert_int_equal(info.addr.fn, 0);
            assert_int_equal(info.id.vendor, want[i].vendor);
            assert_int_equal(info.id.device, want[i].device);
            assert_int_equal(info.id.class_code, want[i].class_code);
            for (unsigned b = 0; b < CAPDRV_HW_NUM_BARS; b++) {
                bool impl = b == CAPDRV_DMATEST_REG_BAR || b == CAPDRV_DMATEST_MSIX_BAR;
                assert_int_equal(info.bar_size[b], impl ? 0x1000 : 0);
                assert_int_equal(info.bar_flags[b], impl ? CAPDRV_HW_BAR_MEM : 0);
            }
        }
        struct capdrv_hw_function info;
        assert_int_equal(t.hw.ops->function_info(t.hw.ctx, 3, &info), -CAPDRV_ENOENT);
        assert_int_equal(t.hw.ops->function_info(t.hw.ctx, 0, NULL), -CAPDRV_EINVAL);
        st_done(&t, 0);
    }
}

static void test_poke_and_reset(void **state)
{
    (void)state;
    struct st t;
    st_init(&t, false);
    unsigned fn = t.dma0;
    /* A hostile capability list: pointer into the header, a self loop. */
    assert_int_equal(capdrv_sim_cfg_poke(t.sim, fn, 0x34, 1, 0x20), 0);
    assert_int_equal(st_cfg(&t, fn, 0x34, 1), 0x20);
    assert_int_equal(capdrv_sim_cfg_poke(t.sim, fn, 0xf0, 2, 0xf009), 0);
    assert_int_equal(st_cfg(&t, fn, 0xf0, 2), 0xf009);
    /* Pokes reach extended space and read-only identity too; the platform
     * reports identity as config space says. */
    assert_int_equal(capdrv_sim_cfg_poke(t.sim, fn, 0x100, 4, 0x00010001), 0);
    assert_int_equal(st_cfg(&t, fn, 0x100, 4), 0x00010001);
    assert_int_equal(capdrv_sim_cfg_poke(t.sim, fn, 0x00, 2, 0xabcd), 0);
    struct capdrv_hw_function info;
    assert_int_equal(t.hw.ops->function_info(t.hw.ctx, fn, &info), 0);
    assert_int_equal(info.id.vendor, 0xabcd);
    /* FLR: writable state returns to power-on, hardware-fixed bytes (the
     * pokes) stay, the count moves. */
    assert_int_equal(t.hw.ops->cfg_write(t.hw.ctx, fn, 0x04, 2, 0x0006), 0);
    assert_int_equal(t.hw.ops->cfg_write(t.hw.ctx, fn, 0x0c, 1, 0x10), 0);
    assert_int_equal(t.hw.ops->cfg_write(t.hw.ctx, fn, 0x82, 2, 0x8000), 0);
    uint32_t bar0 = st_cfg(&t, fn, 0x10, 4);
    assert_int_equal(t.hw.ops->cfg_write(t.hw.ctx, fn, 0x10, 4, 0xffffffffu), 0);
    assert_int_equal(capdrv_sim_reset_count(t.sim, fn), 0);
    assert_int_equal(t.hw.ops->function_reset(t.hw.ctx, fn), 0);
    assert_int_equal(capdrv_sim_reset_count(t.sim, fn), 1);
    assert_int_equal(capdrv_sim_reset_count(t.sim, t.dma1), 0);
    assert_int_equal(st_cfg(&t, fn, 0x04, 2), 0);
    assert_int_equal(st_cfg(&t, fn, 0x0c, 1), 0);
    assert_int_equal(st_cfg(&t, fn, 0x82, 2), 0x0001);
    assert_int_equal(st_cfg(&t, fn, 0x10, 4), bar0);
    assert_int_equal(st_cfg(&t, fn, 0x34, 1), 0x20);
    assert_int_equal(st_cfg(&t, fn, 0xf0, 2), 0xf009);
    assert_int_equal(st_cfg(&t, fn, 0x00, 2), 0xabcd);
    assert_int_equal(t.hw.ops->function_reset(t.hw.ctx, 3), -CAPDRV_ENOENT);
    assert_int_equal(capdrv_sim_reset_count(t.sim, 3), 0);
    st_done(&t, 0);
}

static void test_flr_through_device_control(void **state)
{
    (void)state;
    struct st t;
    st_init(&t, false);
    uint32_t devctl = st_cfg(&t, t.raw, 0x48, 2);
    assert_int_equal(devctl & 0x8000, 0);
    st_wr(&t, t.raw, 0x10, 4, 0x12345678);
    assert_int_equal(t.hw.ops->cfg_write(t.hw.ctx, t.raw, 0x04, 2, 0x0002), 0);
    /* PCIe Base 4.0 §7.5.3.4: Initiate FLR (bit 15) resets the function
     * and always reads 0. */
    assert_int_equal(t.hw.ops->cfg_write(t.hw.ctx, t.raw, 0x48, 2, devctl | 0x8000), 0);
    assert_int_equal(capdrv_sim_reset_count(t.sim, t.raw), 1);
    assert_int_equal(st_cfg(&t, t.raw, 0x48, 2), devctl);
    assert_int_equal(st_cfg(&t, t.raw, 0x04, 2), 0);
    assert_int_equal(st_rd(&t, t.raw, 0x10, 4), 0);
    /* Other Device Control bits are ordinary read-write. */
    assert_int_equal(t.hw.ops->cfg_write(t.hw.ctx, t.raw, 0x48, 2, devctl | 0x000f), 0);
    assert_int_equal(st_cfg(&t, t.raw, 0x48, 2), devctl | 0x000f);
    assert_int_equal(capdrv_sim_reset_count(t.sim, t.raw), 1);
    st_done(&t, 0);
}

static void test_machine_building(void **state)
{
    (void)state;
    struct capdrv_sim *sim = (struct capdrv_sim *)0x1;
    assert_int_equal(capdrv_sim_create(NULL, NULL), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_sim_create(NULL, &sim), 0); /* defaults */
    struct capdrv_hw hw = capdrv_sim_hw(sim);
    assert_int_equal(hw.ops->caps(hw.ctx), 0);
    assert_int_equal(hw.ops->function_count(hw.ctx), 0);
    struct capdrv_hw none = capdrv_sim_hw(NULL);
    assert_null(none.ops);
    assert_null(none.ctx);

    struct capdrv_pci_addr a = {0, 0, 3, 0};
    unsigned fn = 99;
    assert_int_equal(capdrv_sim_add_dmatest(sim, &a, &fn), 0);
    assert_int_equal(fn, 0);
    const struct {
        struct capdrv_pci_addr addr;
        uint32_t class_code;
        int rc;
    } cases[] = {
        {{0, 0, 3, 0}, 0, -CAPDRV_EEXIST},
        {{0, 0, 32, 0}, 0, -CAPDRV_EINVAL},
        {{0, 0, 3, 8}, 0, -CAPDRV_EINVAL},
        {{0, 0, 4, 0}, 0x1000000, -CAPDRV_EINVAL},
        {{1, 0, 3, 0}, 0, 0}, /* another domain: a different function */
        {{0, 1, 3, 0}, 0, 0},
        {{0, 0, 3, 1}, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = capdrv_sim_add_scratch(sim, &cases[i].addr, 1, 2, cases[i].class_code, NULL);
        if (rc != cases[i].rc)
            fail_msg("case %zu: got %d, want %d", i, rc, cases[i].rc);
    }
    assert_int_equal(capdrv_sim_add_dmatest(sim, &a, NULL), -CAPDRV_EEXIST);
    assert_int_equal(capdrv_sim_add_dmatest(sim, NULL, NULL), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_sim_add_dmatest(NULL, &a, NULL), -CAPDRV_EINVAL);
    assert_int_equal(hw.ops->function_count(hw.ctx), 4);
    /* Fill the machine. */
    int added = 4;
    for (unsigned i = 0; added < (int)CAPDRV_SIM_MAX_FUNCTIONS; i++) {
        struct capdrv_pci_addr b = {2, (uint8_t)(i >> 5), (uint8_t)(i & 31), 0};
        assert_int_equal(capdrv_sim_add_scratch(sim, &b, 1, 2, 0, NULL), 0);
        added++;
    }
    struct capdrv_pci_addr last = {3, 0, 0, 0};
    assert_int_equal(capdrv_sim_add_scratch(sim, &last, 1, 2, 0, NULL), -CAPDRV_ENOSPC);
    assert_int_equal(hw.ops->function_count(hw.ctx), (int)CAPDRV_SIM_MAX_FUNCTIONS);
    capdrv_sim_destroy(sim);
    capdrv_sim_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_contents),
        cmocka_unit_test(test_capability_list),
        cmocka_unit_test(test_cfg_access_errors),
        cmocka_unit_test(test_cfg_write_semantics),
        cmocka_unit_test(test_bar_sizing),
        cmocka_unit_test(test_function_info),
        cmocka_unit_test(test_poke_and_reset),
        cmocka_unit_test(test_flr_through_device_control),
        cmocka_unit_test(test_machine_building),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
