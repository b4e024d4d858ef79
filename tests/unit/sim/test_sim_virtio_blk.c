/* The sim platform's virtio-blk function (capdrv_sim_add_virtio_blk()),
 * driven by hand through the platform operations exactly as a driver on
 * real hardware would: the capability list is walked to find the virtio
 * structures (VIRTIO 1.2 §4.1.4), features are negotiated through the
 * common configuration (§3.1.1), and requests are placed in a split ring
 * built here byte by byte (§2.7), independent of the library's virtq code.
 *
 * Covered: identity and capability chain, feature negotiation (including a
 * refused FEATURES_OK), device reset and FLR, queue register rules, every
 * request type (§5.2.6) and its error statuses, indirect descriptors,
 * EVENT_IDX and NO_INTERRUPT suppression, MSI-X delivery and the ISR, each
 * fault knob, malformed rings (-> DEVICE_NEEDS_RESET, never a crash) and
 * the DMA oracle catching a device access to unmapped memory. */
#include "vio_test.h"

#include <string.h>

static const uint64_t DEFAULT_FEATURES =
    BIT(CAPDRV_VPCI_F_VERSION_1) | BIT(CAPDRV_VPCI_F_ACCESS_PLATFORM) |
    BIT(CAPDRV_VPCI_F_INDIRECT_DESC) | BIT(CAPDRV_VPCI_F_EVENT_IDX) | BIT(CAPDRV_VBLK_F_SEG_MAX) |
    BIT(CAPDRV_VBLK_F_BLK_SIZE) | BIT(CAPDRV_VBLK_F_FLUSH) | BIT(CAPDRV_VBLK_F_DISCARD) |
    BIT(CAPDRV_VBLK_F_WRITE_ZEROES);
/* What most tests accept: everything but EVENT_IDX, so that every
 * completion interrupts unless a test asks otherwise. */
static const uint64_t BASIC = DEFAULT_FEATURES & ~BIT(CAPDRV_VPCI_F_EVENT_IDX);

static void vt_open(struct vt *t, const struct capdrv_sim_virtio_blk_config *bc, bool iommu)
{
    struct capdrv_sim *sim;
    struct capdrv_sim_config sc = {.iommu = iommu};
    struct capdrv_pci_addr a = {0, 0, 6, 0};
    unsigned fn;
    assert_int_equal(capdrv_sim_create(&sc, &sim), 0);
    assert_int_equal(capdrv_sim_add_virtio_blk(sim, &a, bc, &fn), 0);
    vt_attach(t, sim, fn);
}

/* Header of request @h at buf + h*0x20, its status byte 16 bytes later. */
static uint64_t hdr_dev(struct vt *t, unsigned h)
{
    return t->buf_dev + 0x20u * h;
}

static uint8_t *status_cpu(struct vt *t, unsigned h)
{
    return t->b + 0x20u * h + 16u;
}

/* Build a blk request with head @h (descriptors h, h+1, h+2) on queue @q:
 * header, optional data (device-writable if @dwrite), status byte. */
static void req(struct vt *t, unsigned q, unsigned h, uint32_t type, uint64_t sector,
                uint64_t data_dev, uint32_t dlen, bool dwrite)
{
    uint8_t *hdr = t->b + 0x20u * h;
    put(hdr, 4, type);
    put(hdr + 4, 4, 0);
    put(hdr + 8, 8, sector);
    *status_cpu(t, h) = 0xee;
    uint16_t f = CAPDRV_VPCI_DESC_F_NEXT;
    desc(t, q, h, hdr_dev(t, h), 16, f, (uint16_t)(h + 1));
    unsigned s = h + 1;
    if (dlen) {
        desc(t, q, h + 1, data_dev, dlen, f | (dwrite ? CAPDRV_VPCI_DESC_F_WRITE : 0),
             (uint16_t)(h + 2));
        s = h + 2;
    }
    desc(t, q, s, hdr_dev(t, h) + 16, 1, CAPDRV_VPCI_DESC_F_WRITE, 0);
}

/* One request on queue 0 with head 0, completed inside the notify.
 * Returns the status byte; *ulen gets the used length. */
static uint8_t submit(struct vt *t, uint32_t type, uint64_t sector, uint32_t data_off,
                      uint32_t dlen, bool dwrite, uint32_t *ulen)
{
    req(t, 0, 0, type, sector, t->buf_dev + data_off, dlen, dwrite);
    uint16_t before = used_idx(t, 0);
    post(t, 0, 0);
    kick(t, 0);
    assert_int_equal(used_idx(t, 0), (uint16_t)(before + 1));
    uint32_t id, len;
    used_elem(t, 0, before, &id, &len);
    assert_int_equal(id, 0);
    if (ulen)
        *ulen = len;
    return *status_cpu(t, 0);
}

/* ---- tests ------------------------------------------------------------------ */

static void test_identity_and_caps(void **state)
{
    (void)state;
    struct vt t;
    struct capdrv_sim_virtio_blk_config bc = {.num_queues = 3};
    vt_open(&t, &bc, false);
    struct capdrv_hw_function info;
    assert_int_equal(t.hw.ops->function_info(t.hw.ctx, t.fn, &info), 0);
    assert_int_equal(info.id.vendor, 0x1af4);
    assert_int_equal(info.id.device, 0x1042);
    assert_int_equal(info.id.subsys_vendor, 0x1af4);
    assert_int_equal(info.id.subsys_device, 0x1100);
    assert_int_equal(info.id.class_code, 0x010000);
    assert_int_equal(info.id.revision, 0x01);
    assert_int_equal(info.bar_size[0], CAPDRV_SIM_VIRTIO_BAR0_SIZE);
    assert_int_equal(info.bar_size[2], 0x1000);
    /* BAR registers: 32-bit memory, naturally aligned, not overlapping. */
    uint32_t bar0 = cfg(&t, 0x10, 4), bar2 = cfg(&t, 0x18, 4);
    assert_int_equal(bar0 & 0x3fff, 0);
    assert_int_equal(bar2 & 0xfff, 0);
    assert_true(bar2 >= bar0 + 0x4000 || bar0 >= bar2 + 0x1000);
    /* The contract layout (§4.1.4). */
    const struct {
        unsigned type;
        uint8_t len;
        uint32_t off, length;
    } want[] = {
        {CAPDRV_VPCI_CAP_COMMON_CFG, 16, 0x0000, 0x40},
        {CAPDRV_VPCI_CAP_NOTIFY_CFG, 20, 0x3000, 0x1000},
        {CAPDRV_VPCI_CAP_ISR_CFG, 16, 0x1000, 4},
        {CAPDRV_VPCI_CAP_DEVICE_CFG, 16, 0x2000, 0x1000},
        {CAPDRV_VPCI_CAP_PCI_CFG, 20, 0, 0},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const struct vcap *c = &t.cap[want[i].type];
        if (c->bar != 0 || c->len != want[i].len || c->off != want[i].off ||
            c->length != want[i].length)
            fail_msg("cap type %u: bar %u len %u off 0x%x length 0x%x", want[i].type, c->bar,
                     c->len, c->off, c->length);
        assert_true(c->at >= 0x8c && c->at % 4 == 0);
    }
    assert_int_equal(t.mult, 4);
    /* The existing capabilities are still there: PCIe at 0x40, MSI-X at
     * 0x80 with num_queues + 1 = 4 vectors, and the virtio ones follow. */
    assert_int_equal(cfg(&t, 0x34, 1), 0x40);
    assert_int_equal(cfg(&t, 0x40, 1), 0x10);
    assert_int_equal(cfg(&t, 0x80, 1), 0x11);
    assert_int_equal(cfg(&t, 0x82, 2) & 0x7ff, 3);
    assert_int_equal(cfg(&t, 0x81, 1), t.cap[CAPDRV_VPCI_CAP_COMMON_CFG].at);
    /* PCI_CFG: bar/offset/length/data writable; the rest read-only. */
    uint32_t pc = t.cap[CAPDRV_VPCI_CAP_PCI_CFG].at;
    assert_int_equal(t.hw.ops->cfg_write(t.hw.ctx, t.fn, pc + CAPDRV_VPCI_CAP_OFFSET, 4, 0x14), 0);
    assert_int_equal(t.hw.ops->cfg_write(t.hw.ctx, t.fn, pc, 4, 0), 0);
    assert_int_equal(cfg(&t, pc + CAPDRV_VPCI_CAP_OFFSET, 4), 0x14);
    assert_int_equal(cfg(&t, pc, 1), CAPDRV_VPCI_CAP_ID_VNDR);
    assert_int_equal(cfg(&t, pc + CAPDRV_VPCI_CAP_CFG_TYPE, 1), CAPDRV_VPCI_CAP_PCI_CFG);
    /* FLR restores the writable field; the chain is unchanged. */
    assert_int_equal(t.hw.ops->function_reset(t.hw.ctx, t.fn), 0);
    assert_int_equal(cfg(&t, pc + CAPDRV_VPCI_CAP_OFFSET, 4), 0);
    walk_caps(&t);
    /* Device configuration (§5.2.4). */
    assert_int_equal(devcfg(&t, CAPDRV_VBLK_CFG_CAPACITY, 4), 2048);
    assert_int_equal(devcfg(&t, CAPDRV_VBLK_CFG_CAPACITY + 4, 4), 0);
    assert_int_equal(devcfg(&t, CAPDRV_VBLK_CFG_SEG_MAX, 4), 126);
    assert_int_equal(devcfg(&t, CAPDRV_VBLK_CFG_BLK_SIZE, 4), 512);
    assert_int_equal(devcfg(&t, CAPDRV_VBLK_CFG_NUM_QUEUES, 2), 3);
    assert_int_equal(devcfg(&t, CAPDRV_VBLK_CFG_MAX_DISCARD_SEG, 4), 16);
    assert_int_equal(devcfg(&t, CAPDRV_VBLK_CFG_WRITE_ZEROES_MAY_UNMAP, 1), 1);
    assert_int_equal(devcfg(&t, CAPDRV_VBLK_CFG_WRITEBACK, 1), 0);
    assert_int_equal(devcfg(&t, 0xffc, 4), 0);
    /* Common configuration at power-on. */
    assert_int_equal(cr(&t, CAPDRV_VPCI_COMMON_NUMQ, 2), 3);
    assert_int_equal(status(&t), 0);
    assert_int_equal(cr(&t, CAPDRV_VPCI_COMMON_MSIX, 2), CAPDRV_VPCI_MSI_NO_VECTOR);
    for (unsigned q = 0; q < 4; q++) {
        cw(&t, CAPDRV_VPCI_COMMON_Q_SELECT, 2, q);
        assert_int_equal(cr(&t, CAPDRV_VPCI_COMMON_Q_SIZE, 2), q < 3 ? 256 : 0);
        assert_int_equal(cr(&t, CAPDRV_VPCI_COMMON_Q_NOFF, 2), q < 3 ? q : 0);
    }
    /* Other devices are not virtio. */
    assert_int_equal(capdrv_sim_virtio_set_fault(t.sim, t.fn + 1, 0), -CAPDRV_ENOENT);
    assert_int_equal(capdrv_sim_virtio_set_fault(t.sim, t.fn, (enum capdrv_sim_virtio_fault)99),
                     -CAPDRV_EINVAL);
    vt_close(&t, 0);
}

static void test_add_config_errors(void **state)
{
    (void)state;
    struct capdrv_sim *sim;
    assert_int_equal(capdrv_sim_create(NULL, &sim), 0);
    struct capdrv_pci_addr a = {0, 0, 6, 0};
    const struct capdrv_sim_virtio_blk_config bad[] = {
        {.num_queues = 9},
        {.queue_size_max = 2048},
        {.queue_size_max = 100},
        {.capacity_sectors = UINT64_MAX},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(capdrv_sim_add_virtio_blk(sim, &a, &bad[i], NULL), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_sim_add_virtio_blk(NULL, &a, NULL, NULL), -CAPDRV_EINVAL);
    unsigned fn;
    assert_int_equal(capdrv_sim_add_virtio_blk(sim, &a, NULL, &fn), 0);
    assert_int_equal(capdrv_sim_add_virtio_blk(sim, &a, NULL, NULL), -CAPDRV_EEXIST);
    struct capdrv_pci_addr d = {0, 0, 7, 0};
    unsigned dt;
    assert_int_equal(capdrv_sim_add_dmatest(sim, &d, &dt), 0);
    uint8_t x[4] = {0};
    assert_int_equal(capdrv_sim_virtio_blk_data(sim, dt, 0, x, 4, false), -CAPDRV_ENODEV);
    assert_int_equal(capdrv_sim_virtio_set_fault(sim, dt, 0), -CAPDRV_ENODEV);
    assert_int_equal(capdrv_sim_virtio_blk_data(sim, fn, 2048 * 512 - 2, x, 4, false),
                     -CAPDRV_ERANGE);
    assert_int_equal(capdrv_sim_virtio_blk_data(sim, fn, 2048 * 512 - 4, x, 4, false), 0);
    assert_int_equal(capdrv_sim_virtio_blk_data(sim, fn, 0, NULL, 4, false), -CAPDRV_EINVAL);
    capdrv_sim_destroy(sim);
}

static void test_feature_negotiation(void **state)
{
    (void)state;
    struct vt t;
    vt_open(&t, NULL, false);
    assert_int_equal(offered(&t), DEFAULT_FEATURES);
    cw(&t, CAPDRV_VPCI_COMMON_DFSELECT, 4, 2);
    assert_int_equal(cr(&t, CAPDRV_VPCI_COMMON_DF, 4), 0);
    /* A feature not offered (MQ with one queue): FEATURES_OK refused. */
    assert_int_equal(negotiate(&t, BASIC | BIT(CAPDRV_VBLK_F_MQ)), S_ACK | S_DRV);
    /* No VERSION_1: refused (§6.1). */
    assert_int_equal(negotiate(&t, BASIC & ~BIT(CAPDRV_VPCI_F_VERSION_1)), S_ACK | S_DRV);
    /* A bit in the high word nobody offers. */
    assert_int_equal(negotiate(&t, BASIC | BIT(40)), S_ACK | S_DRV);
    /* A proper subset sticks, reads back, and freezes the features. */
    uint64_t want = BIT(CAPDRV_VPCI_F_VERSION_1) | BIT(CAPDRV_VBLK_F_FLUSH);
    assert_int_equal(negotiate(&t, want), S_ACK | S_DRV | S_FOK);
    cw(&t, CAPDRV_VPCI_COMMON_GFSELECT, 4, 0);
    cw(&t, CAPDRV_VPCI_COMMON_GF, 4, 0xffffffffu);
    assert_int_equal(cr(&t, CAPDRV_VPCI_COMMON_GF, 4), (uint32_t)want);
    cw(&t, CAPDRV_VPCI_COMMON_GFSELECT, 4, 1);
    assert_int_equal(cr(&t, CAPDRV_VPCI_COMMON_GF, 4), 1);
    /* The device cannot be told it needs a reset. */
    cw(&t, CAPDRV_VPCI_COMMON_STATUS, 1, S_ACK | S_DRV | S_FOK | S_NR);
    assert_int_equal(status(&t), S_ACK | S_DRV | S_FOK);
    /* Wrong widths are not decoded. */
    assert_int_equal(cr(&t, CAPDRV_VPCI_COMMON_STATUS, 2), 0);
    assert_int_equal(cr(&t, CAPDRV_VPCI_COMMON_DF, 2), 0);
    vt_close(&t, 0);

    /* Multi-queue offers MQ; features_clear removes bits. */
    struct capdrv_sim_virtio_blk_config bc = {
        .num_queues = 2,
        .features_clear = BIT(CAPDRV_VPCI_F_EVENT_IDX) | BIT(CAPDRV_VBLK_F_DISCARD)};
    vt_open(&t, &bc, false);
    assert_int_equal(offered(&t), (DEFAULT_FEATURES | BIT(CAPDRV_VBLK_F_MQ)) &
                                      ~(BIT(CAPDRV_VPCI_F_EVENT_IDX) | BIT(CAPDRV_VBLK_F_DISCARD)));
    assert_int_equal(negotiate(&t, BASIC), S_ACK | S_DRV); /* DISCARD no longer offered */
    vt_close(&t, 0);
}

static void test_queue_registers_and_reset(void **state)
{
    (void)state;
    struct vt t;
    struct capdrv_sim_virtio_blk_config bc = {.queue_size_max = 64};
    vt_open(&t, &bc, false);
    assert_int_equal(negotiate(&t, BASIC), S_ACK | S_DRV | S_FOK);
    cw(&t, CAPDRV_VPCI_COMMON_Q_SELECT, 2, 0);
    assert_int_equal(cr(&t, CAPDRV_VPCI_COMMON_Q_SIZE, 2), 64);
    /* Powers of two up to the maximum only (§2.7). */
    const uint16_t sizes[] = {0, 3, 48, 128, 0xffff};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        cw(&t, CAPDRV_VPCI_COMMON_Q_SIZE, 2, sizes[i]);
        assert_int_equal(cr(&t, CAPDRV_VPCI_COMMON_Q_SIZE, 2), 64);
    }
    cw(&t, CAPDRV_VPCI_COMMON_Q_SIZE, 2, 1);
    assert_int_equal(cr(&t, CAPDRV_VPCI_COMMON_Q_SIZE, 2), 1);
    /* Vectors beyond the table (2 vectors) read back NO_VECTOR. */
    cw(&t, CAPDRV_VPCI_COMMON_Q_MSIX, 2, 2);
    assert_int_equal(cr(&t, CAPDRV_VPCI_COMMON_Q_MSIX, 2), CAPDRV_VPCI_MSI_NO_VECTOR);
    cw(&t, CAPDRV_VPCI_COMMON_MSIX, 2, 1);
    assert_int_equal(cr(&t, CAPDRV_VPCI_COMMON_MSIX, 2), 1);
    cw(&t, CAPDRV_VPCI_COMMON_MSIX, 2, 7);
    assert_int_equal(cr(&t, CAPDRV_VPCI_COMMON_MSIX, 2), CAPDRV_VPCI_MSI_NO_VECTOR);
    /* queue_enable: 0 is ignored; addresses freeze once enabled. */
    cw(&t, CAPDRV_VPCI_COMMON_Q_DESCLO, 8, 0x1122334455667788ull);
    assert_int_equal(cr(&t, CAPDRV_VPCI_COMMON_Q_DESCLO, 4), 0x55667788u);
    assert_int_equal(cr(&t, CAPDRV_VPCI_COMMON_Q_DESCHI, 4), 0x11223344u);
    cw(&t, CAPDRV_VPCI_COMMON_Q_ENABLE, 2, 0);
    assert_int_equal(cr(&t, CAPDRV_VPCI_COMMON_Q_ENABLE, 2), 0);
    cw(&t, CAPDRV_VPCI_COMMON_Q_ENABLE, 2, 1);
    assert_int_equal(cr(&t, CAPDRV_VPCI_COMMON_Q_ENABLE, 2), 1);
    cw(&t, CAPDRV_VPCI_COMMON_Q_DESCLO, 8, 0);
    cw(&t, CAPDRV_VPCI_COMMON_Q_SIZE, 2, 2);
    assert_int_equal(cr(&t, CAPDRV_VPCI_COMMON_Q_DESCLO, 8), 0x1122334455667788ull);
    assert_int_equal(cr(&t, CAPDRV_VPCI_COMMON_Q_SIZE, 2), 1);
    /* Reset: everything back to its initial state, reads back 0. */
    cw(&t, CAPDRV_VPCI_COMMON_STATUS, 1, 0);
    assert_int_equal(status(&t), 0);
    assert_int_equal(cr(&t, CAPDRV_VPCI_COMMON_Q_ENABLE, 2), 0);
    assert_int_equal(cr(&t, CAPDRV_VPCI_COMMON_Q_SIZE, 2), 64);
    assert_int_equal(cr(&t, CAPDRV_VPCI_COMMON_Q_DESCLO, 8), 0);
    assert_int_equal(cr(&t, CAPDRV_VPCI_COMMON_Q_MSIX, 2), CAPDRV_VPCI_MSI_NO_VECTOR);
    assert_int_equal(cr(&t, CAPDRV_VPCI_COMMON_MSIX, 2), CAPDRV_VPCI_MSI_NO_VECTOR);
    cw(&t, CAPDRV_VPCI_COMMON_GFSELECT, 4, 0);
    assert_int_equal(cr(&t, CAPDRV_VPCI_COMMON_GF, 4), 0);

    /* A live queue, then reset: the device stops using the old ring. */
    start(&t, BASIC, 1, CAPDRV_VPCI_MSI_NO_VECTOR);
    assert_int_equal(submit(&t, CAPDRV_VBLK_T_FLUSH, 0, 0, 0, false, NULL), CAPDRV_VBLK_S_OK);
    /* queue_enable after DRIVER_OK is ignored (queue 0 already on; any
     * late enable must not restart its indices). */
    cw(&t, CAPDRV_VPCI_COMMON_Q_ENABLE, 2, 1);
    cw(&t, CAPDRV_VPCI_COMMON_STATUS, 1, 0);
    assert_int_equal(status(&t), 0);
    req(&t, 0, 0, CAPDRV_VBLK_T_FLUSH, 0, 0, 0, false);
    post(&t, 0, 0);
    kick(&t, 0);
    assert_int_equal(used_idx(&t, 0), 1); /* unchanged */
    /* Notifies before DRIVER_OK are dropped (§3.1.1). */
    assert_int_equal(negotiate(&t, BASIC), S_ACK | S_DRV | S_FOK);
    setup_queue(&t, 0, CAPDRV_VPCI_MSI_NO_VECTOR);
    req(&t, 0, 0, CAPDRV_VBLK_T_FLUSH, 0, 0, 0, false);
    post(&t, 0, 0);
    kick(&t, 0);
    assert_int_equal(used_idx(&t, 0), 0);
    cw(&t, CAPDRV_VPCI_COMMON_STATUS, 1, S_ACK | S_DRV | S_FOK | S_DOK);
    kick(&t, 0);
    assert_int_equal(used_idx(&t, 0), 1);
    assert_int_equal(*status_cpu(&t, 0), CAPDRV_VBLK_S_OK);
    /* FLR resets the virtio device too, and the disk keeps its data. */
    uint8_t pat[512];
    memset(pat, 0x5c, sizeof pat);
    assert_int_equal(capdrv_sim_virtio_blk_data(t.sim, t.fn, 512, pat, sizeof pat, true), 0);
    assert_int_equal(t.hw.ops->function_reset(t.hw.ctx, t.fn), 0);
    assert_int_equal(status(&t), 0);
    assert_int_equal(cr(&t, CAPDRV_VPCI_COMMON_Q_ENABLE, 2), 0);
    memset(pat, 0, sizeof pat);
    assert_int_equal(capdrv_sim_virtio_blk_data(t.sim, t.fn, 512, pat, sizeof pat, false), 0);
    assert_int_equal(pat[0], 0x5c);
    assert_int_equal(pat[511], 0x5c);
    vt_close(&t, 0);
}

static void test_write_then_read(void **state)
{
    (void)state;
    for (int iommu = 0; iommu <= 1; iommu++) {
        struct vt t;
        vt_open(&t, NULL, iommu);
        start(&t, BASIC, 1, CAPDRV_VPCI_MSI_NO_VECTOR);
        uint8_t *src = t.b + DATA_OFF, *dst = t.b + DATA_OFF + 0x2000;
        for (unsigned i = 0; i < 4096; i++)
            src[i] = (uint8_t)(i * 13 + 7);
        uint32_t ulen = 0;
        assert_int_equal(submit(&t, CAPDRV_VBLK_T_OUT, 10, DATA_OFF, 4096, false, &ulen),
                         CAPDRV_VBLK_S_OK);
        assert_int_equal(ulen, 1); /* only the status byte was written */
        uint8_t disk[4096];
        assert_int_equal(capdrv_sim_virtio_blk_data(t.sim, t.fn, 10 * 512, disk, 4096, false), 0);
        assert_memory_equal(disk, src, 4096);
        assert_int_equal(capdrv_sim_virtio_blk_data(t.sim, t.fn, 9 * 512, disk, 512, false), 0);
        assert_int_equal(disk[511], 0); /* the sector before is untouched */
        memset(dst, 0, 4096);
        assert_int_equal(submit(&t, CAPDRV_VBLK_T_IN, 10, DATA_OFF + 0x2000, 4096, true, &ulen),
                         CAPDRV_VBLK_S_OK);
        assert_int_equal(ulen, 4096 + 1);
        assert_memory_equal(dst, src, 4096);
        /* Any framing (§2.6.4): header, data and status in one readable
         * and one writable descriptor split at odd places. */
        uint8_t *h = t.b + 0x800;
        put(h, 4, CAPDRV_VBLK_T_IN);
        put(h + 4, 4, 0);
        put(h + 8, 8, 11);
        memset(dst, 0, 4096);
        t.b[0x2000 + DATA_OFF + 512] = 0xee;
        desc(&t, 0, 5, t.buf_dev + 0x800, 16, CAPDRV_VPCI_DESC_F_NEXT, 6);
        desc(&t, 0, 6, t.buf_dev + DATA_OFF + 0x2000, 300,
             CAPDRV_VPCI_DESC_F_WRITE | CAPDRV_VPCI_DESC_F_NEXT, 7);
        desc(&t, 0, 7, t.buf_dev + DATA_OFF + 0x2000 + 300, 213, CAPDRV_VPCI_DESC_F_WRITE, 0);
        post(&t, 0, 5);
        kick(&t, 0);
        uint32_t id, len;
        used_elem(&t, 0, (uint16_t)(used_idx(&t, 0) - 1), &id, &len);
        assert_int_equal(id, 5);
        assert_int_equal(len, 513);
        assert_memory_equal(dst, src + 512, 512);
        assert_int_equal(dst[512], CAPDRV_VBLK_S_OK);
        vt_close(&t, 0);
    }
}

static void test_flush_and_get_id(void **state)
{
    (void)state;
    struct vt t;
    vt_open(&t, NULL, false);
    start(&t, BASIC, 1, CAPDRV_VPCI_MSI_NO_VECTOR);
    uint32_t ulen;
    assert_int_equal(submit(&t, CAPDRV_VBLK_T_FLUSH, 0, 0, 0, false, &ulen), CAPDRV_VBLK_S_OK);
    assert_int_equal(ulen, 1);
    memset(t.b + DATA_OFF, 0x77, 32);
    assert_int_equal(submit(&t, CAPDRV_VBLK_T_GET_ID, 0, DATA_OFF, 20, true, &ulen),
                     CAPDRV_VBLK_S_OK);
    assert_int_equal(ulen, 21);
    char want[20] = "capdrv-sim-blk";
    assert_memory_equal(t.b + DATA_OFF, want, 20);
    assert_int_equal(t.b[DATA_OFF + 20], 0x77);
    /* A short buffer gets what fits. */
    memset(t.b + DATA_OFF, 0x77, 32);
    assert_int_equal(submit(&t, CAPDRV_VBLK_T_GET_ID, 0, DATA_OFF, 6, true, &ulen),
                     CAPDRV_VBLK_S_OK);
    assert_int_equal(ulen, 7);
    assert_memory_equal(t.b + DATA_OFF, "capdrv", 6);
    assert_int_equal(t.b[DATA_OFF + 6], 0x77);
    /* Unknown and not-offered types: UNSUPP, nothing but the status. */
    const uint32_t unsupp[] = {2, 3, 5, CAPDRV_VBLK_T_GET_LIFETIME, CAPDRV_VBLK_T_SECURE_ERASE,
                               0x80000000u, 0xffffffffu};
    for (size_t i = 0; i < sizeof unsupp / sizeof unsupp[0]; i++) {
        assert_int_equal(submit(&t, unsupp[i], 0, DATA_OFF, 512, true, &ulen),
                         CAPDRV_VBLK_S_UNSUPP);
        assert_int_equal(ulen, 1);
    }
    /* FLUSH not negotiated: UNSUPP. */
    start(&t, BIT(CAPDRV_VPCI_F_VERSION_1), 1, CAPDRV_VPCI_MSI_NO_VECTOR);
    assert_int_equal(submit(&t, CAPDRV_VBLK_T_FLUSH, 0, 0, 0, false, NULL), CAPDRV_VBLK_S_UNSUPP);
    assert_int_equal(submit(&t, CAPDRV_VBLK_T_WRITE_ZEROES, 0, 0, 0, false, NULL),
                     CAPDRV_VBLK_S_UNSUPP);
    vt_close(&t, 0);
}

static void dwz_range(uint8_t *p, uint64_t sector, uint32_t n, uint32_t flags)
{
    put(p + CAPDRV_VBLK_DWZ_SECTOR, 8, sector);
    put(p + CAPDRV_VBLK_DWZ_NUM_SECTORS, 4, n);
    put(p + CAPDRV_VBLK_DWZ_FLAGS, 4, flags);
}

static void fill_disk(struct vt *t, uint8_t v)
{
    uint8_t s[512];
    memset(s, v, sizeof s);
    for (unsigned i = 0; i < 2048; i++)
        assert_int_equal(capdrv_sim_virtio_blk_data(t->sim, t->fn, i * 512ull, s, 512, true), 0);
}

static bool sectors_are(struct vt *t, uint64_t first, unsigned n, uint8_t v)
{
    uint8_t s[512];
    for (unsigned i = 0; i < n; i++) {
        assert_int_equal(capdrv_sim_virtio_blk_data(t->sim, t->fn, (first + i) * 512, s, 512, false),
                         0);
        for (unsigned j = 0; j < 512; j++)
            if (s[j] != v)
                return false;
    }
    return true;
}

static void test_discard_and_write_zeroes(void **state)
{
    (void)state;
    struct vt t;
    vt_open(&t, NULL, false);
    start(&t, BASIC, 1, CAPDRV_VPCI_MSI_NO_VECTOR);
    fill_disk(&t, 0xff);
    uint8_t *r = t.b + DATA_OFF;
    dwz_range(r, 4, 2, 0);
    dwz_range(r + 16, 100, 3, CAPDRV_VBLK_DWZ_F_UNMAP);
    uint32_t ulen;
    assert_int_equal(submit(&t, CAPDRV_VBLK_T_WRITE_ZEROES, 0, DATA_OFF, 32, false, &ulen),
                     CAPDRV_VBLK_S_OK);
    assert_int_equal(ulen, 1);
    assert_true(sectors_are(&t, 4, 2, 0));
    assert_true(sectors_are(&t, 100, 3, 0));
    assert_true(sectors_are(&t, 3, 1, 0xff));
    assert_true(sectors_are(&t, 6, 1, 0xff));
    assert_true(sectors_are(&t, 103, 1, 0xff));
    dwz_range(r, 200, 8, 0);
    assert_int_equal(submit(&t, CAPDRV_VBLK_T_DISCARD, 0, DATA_OFF, 16, false, NULL),
                     CAPDRV_VBLK_S_OK);
    assert_true(sectors_are(&t, 200, 8, 0));
    assert_true(sectors_are(&t, 208, 1, 0xff));
    /* Statuses of §5.2.6; none of these touch the disk. */
    const struct {
        uint32_t type;
        uint64_t sector;
        uint32_t n, flags, len;
        uint8_t status;
    } bad[] = {
        {CAPDRV_VBLK_T_DISCARD, 300, 1, CAPDRV_VBLK_DWZ_F_UNMAP, 16, CAPDRV_VBLK_S_UNSUPP},
        {CAPDRV_VBLK_T_WRITE_ZEROES, 300, 1, 0x2, 16, CAPDRV_VBLK_S_UNSUPP},
        {CAPDRV_VBLK_T_DISCARD, 300, 1, 0x80000000u, 16, CAPDRV_VBLK_S_UNSUPP},
        {CAPDRV_VBLK_T_WRITE_ZEROES, 2047, 2, 0, 16, CAPDRV_VBLK_S_IOERR},
        {CAPDRV_VBLK_T_WRITE_ZEROES, UINT64_MAX, 2, 0, 16, CAPDRV_VBLK_S_IOERR},
        {CAPDRV_VBLK_T_DISCARD, 0, 65537, 0, 16, CAPDRV_VBLK_S_IOERR},
        {CAPDRV_VBLK_T_DISCARD, 300, 1, 0, 8, CAPDRV_VBLK_S_IOERR},    /* partial range */
        {CAPDRV_VBLK_T_DISCARD, 300, 1, 0, 17 * 16, CAPDRV_VBLK_S_IOERR}, /* > max_discard_seg */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        for (unsigned k = 0; k < 17; k++)
            dwz_range(r + 16 * k, bad[i].sector, bad[i].n, bad[i].flags);
        uint8_t st = submit(&t, bad[i].type, 0, DATA_OFF, bad[i].len, false, &ulen);
        if (st != bad[i].status || ulen != 1)
            fail_msg("case %zu: status %u len %u", i, st, ulen);
    }
    assert_true(sectors_are(&t, 300, 1, 0xff));
    assert_true(sectors_are(&t, 2047, 1, 0xff));
    vt_close(&t, 0);
    /* max_discard_sectors is enforced on a disk large enough to hold more. */
    struct capdrv_sim_virtio_blk_config big = {.capacity_sectors = 70000};
    vt_open(&t, &big, false);
    start(&t, BASIC, 1, CAPDRV_VPCI_MSI_NO_VECTOR);
    r = t.b + DATA_OFF;
    assert_int_equal(devcfg(&t, CAPDRV_VBLK_CFG_MAX_DISCARD_SECTORS, 4), 65536);
    dwz_range(r, 0, 65537, 0);
    assert_int_equal(submit(&t, CAPDRV_VBLK_T_DISCARD, 0, DATA_OFF, 16, false, NULL),
                     CAPDRV_VBLK_S_IOERR);
    dwz_range(r, 0, 65536, 0);
    assert_int_equal(submit(&t, CAPDRV_VBLK_T_WRITE_ZEROES, 0, DATA_OFF, 16, false, NULL),
                     CAPDRV_VBLK_S_OK);
    vt_close(&t, 0);
    /* Not offered: UNSUPP even when well formed. */
    struct capdrv_sim_virtio_blk_config bc = {.features_clear = BIT(CAPDRV_VBLK_F_DISCARD)};
    vt_open(&t, &bc, false);
    start(&t, BASIC & ~BIT(CAPDRV_VBLK_F_DISCARD), 1, CAPDRV_VPCI_MSI_NO_VECTOR);
    r = t.b + DATA_OFF; /* new machine, new buffer */
    dwz_range(r, 0, 1, 0);
    assert_int_equal(submit(&t, CAPDRV_VBLK_T_DISCARD, 0, DATA_OFF, 16, false, NULL),
                     CAPDRV_VBLK_S_UNSUPP);
    vt_close(&t, 0);
}

static void test_out_of_range_ioerr(void **state)
{
    (void)state;
    struct vt t;
    struct capdrv_sim_virtio_blk_config bc = {.capacity_sectors = 64};
    vt_open(&t, &bc, false);
    start(&t, BASIC, 1, CAPDRV_VPCI_MSI_NO_VECTOR);
    assert_int_equal(devcfg(&t, CAPDRV_VBLK_CFG_CAPACITY, 4), 64);
    memset(t.b + DATA_OFF + 0x2000, 0x33, 2048);
    uint32_t ulen;
    const struct {
        uint32_t type;
        uint64_t sector;
        uint32_t len;
        uint8_t status;
    } cases[] = {
        {CAPDRV_VBLK_T_IN, 63, 512, CAPDRV_VBLK_S_OK},
        {CAPDRV_VBLK_T_IN, 63, 1024, CAPDRV_VBLK_S_IOERR},
        {CAPDRV_VBLK_T_IN, 64, 512, CAPDRV_VBLK_S_IOERR},
        {CAPDRV_VBLK_T_IN, UINT64_MAX, 512, CAPDRV_VBLK_S_IOERR},
        {CAPDRV_VBLK_T_IN, 0, 100, CAPDRV_VBLK_S_IOERR}, /* not whole sectors */
        {CAPDRV_VBLK_T_OUT, 62, 1024, CAPDRV_VBLK_S_OK},
        {CAPDRV_VBLK_T_OUT, 63, 1024, CAPDRV_VBLK_S_IOERR},
        {CAPDRV_VBLK_T_OUT, 1ull << 60, 512, CAPDRV_VBLK_S_IOERR},
        {CAPDRV_VBLK_T_OUT, 0, 511, CAPDRV_VBLK_S_IOERR},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool in = cases[i].type == CAPDRV_VBLK_T_IN;
        uint32_t off = in ? DATA_OFF : DATA_OFF + 0x2000; /* OUT data stays 0x33 */
        uint8_t st = submit(&t, cases[i].type, cases[i].sector, off, cases[i].len, in, &ulen);
        uint32_t want_len = in && cases[i].status == CAPDRV_VBLK_S_OK ? cases[i].len + 1 : 1;
        if (st != cases[i].status || ulen != want_len)
            fail_msg("case %zu: status %u len %u", i, st, ulen);
    }
    assert_true(sectors_are(&t, 62, 2, 0x33));
    vt_close(&t, 0);
}

/* §5.2.4 seg_max is enforced: one data segment more than advertised fails
 * with IOERR (header and status are the other two descriptors). */
static void test_seg_max_enforced(void **state)
{
    (void)state;
    struct vt t;
    struct capdrv_sim_virtio_blk_config bc = {.seg_max = 2};
    vt_open(&t, &bc, false);
    start(&t, BASIC, 1, CAPDRV_VPCI_MSI_NO_VECTOR);
    assert_int_equal(devcfg(&t, CAPDRV_VBLK_CFG_SEG_MAX, 4), 2);
    for (unsigned nseg = 2; nseg <= 3; nseg++) {
        uint8_t *hdr = t.b;
        put(hdr, 4, CAPDRV_VBLK_T_IN);
        put(hdr + 4, 4, 0);
        put(hdr + 8, 8, 0);
        *status_cpu(&t, 0) = 0xee;
        uint16_t nx = CAPDRV_VPCI_DESC_F_NEXT, wr = CAPDRV_VPCI_DESC_F_WRITE;
        desc(&t, 0, 0, hdr_dev(&t, 0), 16, nx, 1);
        for (unsigned k = 0; k < nseg; k++)
            desc(&t, 0, 1 + k, t.buf_dev + DATA_OFF + 512u * k, 512, nx | wr, (uint16_t)(2 + k));
        desc(&t, 0, 1 + nseg, hdr_dev(&t, 0) + 16, 1, wr, 0);
        uint16_t before = used_idx(&t, 0);
        post(&t, 0, 0);
        kick(&t, 0);
        assert_int_equal(used_idx(&t, 0), (uint16_t)(before + 1));
        uint32_t id, len;
        used_elem(&t, 0, before, &id, &len);
        assert_int_equal(*status_cpu(&t, 0), nseg <= 2 ? CAPDRV_VBLK_S_OK : CAPDRV_VBLK_S_IOERR);
        assert_int_equal(len, nseg <= 2 ? 512u * nseg + 1u : 1u);
    }
    vt_close(&t, 0);
}

static void test_indirect(void **state)
{
    (void)state;
    struct vt t;
    vt_open(&t, NULL, false);
    start(&t, BASIC, 1, CAPDRV_VPCI_MSI_NO_VECTOR);
    uint8_t pat[1024];
    for (unsigned i = 0; i < sizeof pat; i++)
        pat[i] = (uint8_t)(i ^ 0x5a);
    assert_int_equal(capdrv_sim_virtio_blk_data(t.sim, t.fn, 7 * 512, pat, sizeof pat, true), 0);
    /* Table of 4 in the ring region: header, two data halves, status;
     * chained out of order to exercise next. */
    uint8_t *tab = ring_cpu(&t, 0, INDIRECT_OFF);
    put(t.b, 4, CAPDRV_VBLK_T_IN);
    put(t.b + 8, 8, 7);
    t.b[16] = 0xee;
    desc_at(tab, 0, hdr_dev(&t, 0), 16, CAPDRV_VPCI_DESC_F_NEXT, 2);
    desc_at(tab, 2, t.buf_dev + DATA_OFF, 512, CAPDRV_VPCI_DESC_F_NEXT | CAPDRV_VPCI_DESC_F_WRITE, 1);
    desc_at(tab, 1, t.buf_dev + DATA_OFF + 512, 512,
            CAPDRV_VPCI_DESC_F_NEXT | CAPDRV_VPCI_DESC_F_WRITE, 3);
    desc_at(tab, 3, hdr_dev(&t, 0) + 16, 1, CAPDRV_VPCI_DESC_F_WRITE, 0);
    desc(&t, 0, 9, ring_dev(&t, 0, INDIRECT_OFF), 4 * 16, CAPDRV_VPCI_DESC_F_INDIRECT, 0);
    post(&t, 0, 9);
    kick(&t, 0);
    assert_int_equal(used_idx(&t, 0), 1);
    uint32_t id, len;
    used_elem(&t, 0, 0, &id, &len);
    assert_int_equal(id, 9);
    assert_int_equal(len, 1025);
    assert_int_equal(t.b[16], CAPDRV_VBLK_S_OK);
    assert_memory_equal(t.b + DATA_OFF, pat, sizeof pat);
    assert_int_equal(status(&t) & S_NR, 0);
    /* Without VIRTIO_F_INDIRECT_DESC negotiated the same chain is
     * malformed (§2.7.5.3.1). */
    start(&t, BASIC & ~BIT(CAPDRV_VPCI_F_INDIRECT_DESC), 1, CAPDRV_VPCI_MSI_NO_VECTOR);
    desc(&t, 0, 9, ring_dev(&t, 0, INDIRECT_OFF), 4 * 16, CAPDRV_VPCI_DESC_F_INDIRECT, 0);
    post(&t, 0, 9);
    kick(&t, 0);
    assert_int_equal(used_idx(&t, 0), 0);
    assert_true(status(&t) & S_NR);
    vt_close(&t, 0);
}

static void test_event_idx_and_no_interrupt(void **state)
{
    (void)state;
    struct vt t;
    vt_open(&t, NULL, false);
    assert_int_equal(t.hw.ops->irq_enable(t.hw.ctx, t.fn, 1), 0);
    start(&t, DEFAULT_FEATURES, 1, 1);
    /* First completion always notifies; avail_event = next avail index. */
    assert_int_equal(submit(&t, CAPDRV_VBLK_T_FLUSH, 0, 0, 0, false, NULL), CAPDRV_VBLK_S_OK);
    assert_int_equal(fired(&t, 1), 1);
    assert_int_equal(isr(&t), CAPDRV_VPCI_ISR_QUEUE);
    assert_int_equal(isr(&t), 0); /* read clears */
    assert_int_equal(get(ring_cpu(&t, 0, AVAIL_EVENT_OFF), 2), 1);
    /* used_event = 2: the completion taking used idx 1 -> 2 is quiet, the
     * one taking it 2 -> 3 notifies (vring_need_event, §2.7.7.2). */
    put(ring_cpu(&t, 0, USED_EVENT_OFF), 2, 2);
    assert_int_equal(submit(&t, CAPDRV_VBLK_T_FLUSH, 0, 0, 0, false, NULL), CAPDRV_VBLK_S_OK);
    assert_int_equal(fired(&t, 1), 0);
    assert_int_equal(isr(&t), 0);
    assert_int_equal(submit(&t, CAPDRV_VBLK_T_FLUSH, 0, 0, 0, false, NULL), CAPDRV_VBLK_S_OK);
    assert_int_equal(fired(&t, 1), 1);
    assert_int_equal(get(ring_cpu(&t, 0, AVAIL_EVENT_OFF), 2), 3);
    /* A used_event behind: nothing until it wraps around. */
    put(ring_cpu(&t, 0, USED_EVENT_OFF), 2, 1);
    assert_int_equal(submit(&t, CAPDRV_VBLK_T_FLUSH, 0, 0, 0, false, NULL), CAPDRV_VBLK_S_OK);
    assert_int_equal(fired(&t, 1), 0);
    /* A batch of 3 crossing used_event notifies once. */
    put(ring_cpu(&t, 0, USED_EVENT_OFF), 2, 5);
    for (unsigned h = 0; h < 9; h += 3) {
        req(&t, 0, h, CAPDRV_VBLK_T_FLUSH, 0, 0, 0, false);
        post(&t, 0, (uint16_t)h);
    }
    kick(&t, 0);
    assert_int_equal(used_idx(&t, 0), 7);
    assert_int_equal(fired(&t, 1), 1);
    assert_int_equal(fired(&t, 1), 0);
    /* Without EVENT_IDX: VRING_AVAIL_F_NO_INTERRUPT suppresses, and the
     * device does not write avail_event. */
    start(&t, BASIC, 1, 1);
    put(ring_cpu(&t, 0, AVAIL_OFF), 2, CAPDRV_VPCI_AVAIL_F_NO_INTERRUPT);
    assert_int_equal(submit(&t, CAPDRV_VBLK_T_FLUSH, 0, 0, 0, false, NULL), CAPDRV_VBLK_S_OK);
    assert_int_equal(fired(&t, 1), 0);
    assert_int_equal(isr(&t), 0);
    put(ring_cpu(&t, 0, AVAIL_OFF), 2, 0);
    assert_int_equal(submit(&t, CAPDRV_VBLK_T_FLUSH, 0, 0, 0, false, NULL), CAPDRV_VBLK_S_OK);
    assert_int_equal(fired(&t, 1), 1);
    assert_int_equal(get(ring_cpu(&t, 0, AVAIL_EVENT_OFF), 2), 0);
    vt_close(&t, 0);
}

static void test_msix_delivery(void **state)
{
    (void)state;
    struct vt t;
    struct capdrv_sim_virtio_blk_config bc = {.num_queues = 2};
    vt_open(&t, &bc, false);
    for (unsigned v = 0; v < 3; v++)
        assert_int_equal(t.hw.ops->irq_enable(t.hw.ctx, t.fn, v), 0);
    assert_int_equal(t.hw.ops->irq_enable(t.hw.ctx, t.fn, 3), -CAPDRV_ENOENT);
    assert_int_equal(negotiate(&t, BASIC | BIT(CAPDRV_VBLK_F_MQ)), S_ACK | S_DRV | S_FOK);
    cw(&t, CAPDRV_VPCI_COMMON_MSIX, 2, 0);
    setup_queue(&t, 0, 1);
    setup_queue(&t, 1, 2);
    cw(&t, CAPDRV_VPCI_COMMON_STATUS, 1, S_ACK | S_DRV | S_FOK | S_DOK);
    /* Queue 1's doorbell is notify + 1 * multiplier. */
    req(&t, 1, 0, CAPDRV_VBLK_T_GET_ID, 0, t.buf_dev + DATA_OFF, 20, true);
    post(&t, 1, 0);
    kick(&t, 1);
    assert_int_equal(used_idx(&t, 1), 1);
    assert_int_equal(used_idx(&t, 0), 0);
    assert_int_equal(fired(&t, 2), 1);
    assert_int_equal(fired(&t, 1), 0);
    assert_int_equal(fired(&t, 0), 0);
    /* A masked vector latches and fires on unmask (PCI §6.8.3.5). */
    assert_int_equal(t.hw.ops->irq_mask(t.hw.ctx, t.fn, 1, true), 0);
    assert_int_equal(submit(&t, CAPDRV_VBLK_T_FLUSH, 0, 0, 0, false, NULL), CAPDRV_VBLK_S_OK);
    assert_int_equal(fired(&t, 1), 0);
    assert_int_equal(t.hw.ops->irq_mask(t.hw.ctx, t.fn, 1, false), 0);
    assert_int_equal(fired(&t, 1), 1);
    /* NO_VECTOR: no message, the ISR still records it. */
    assert_int_equal(isr(&t), CAPDRV_VPCI_ISR_QUEUE);
    cw(&t, CAPDRV_VPCI_COMMON_Q_SELECT, 2, 0);
    cw(&t, CAPDRV_VPCI_COMMON_Q_MSIX, 2, CAPDRV_VPCI_MSI_NO_VECTOR);
    assert_int_equal(submit(&t, CAPDRV_VBLK_T_FLUSH, 0, 0, 0, false, NULL), CAPDRV_VBLK_S_OK);
    assert_int_equal(fired(&t, 1), 0);
    assert_int_equal(isr(&t), CAPDRV_VPCI_ISR_QUEUE);
    /* A notify of a queue that does not exist, or at a non-doorbell
     * offset, does nothing. */
    req(&t, 0, 0, CAPDRV_VBLK_T_FLUSH, 0, 0, 0, false);
    post(&t, 0, 0);
    bar_wr(&t, t.cap[CAPDRV_VPCI_CAP_NOTIFY_CFG].off + 2 * t.mult, 2, 2);
    bar_wr(&t, t.cap[CAPDRV_VPCI_CAP_NOTIFY_CFG].off + 2, 2, 0);
    bar_wr(&t, t.cap[CAPDRV_VPCI_CAP_NOTIFY_CFG].off, 1, 0);
    assert_int_equal(used_idx(&t, 0), 2);
    kick(&t, 0);
    assert_int_equal(used_idx(&t, 0), 3);
    vt_close(&t, 0);
}

/* Bring up with config vector 0 and queue vector 1, both routed. */
static void start_irq(struct vt *t, uint64_t accept)
{
    assert_int_equal(t->hw.ops->irq_enable(t->hw.ctx, t->fn, 0), 0);
    assert_int_equal(t->hw.ops->irq_enable(t->hw.ctx, t->fn, 1), 0);
    assert_int_equal(negotiate(t, accept), S_ACK | S_DRV | S_FOK);
    cw(t, CAPDRV_VPCI_COMMON_MSIX, 2, 0);
    setup_queue(t, 0, 1);
    cw(t, CAPDRV_VPCI_COMMON_STATUS, 1, S_ACK | S_DRV | S_FOK | S_DOK);
}

static void test_fault_ioerr_and_delay(void **state)
{
    (void)state;
    struct vt t;
    vt_open(&t, NULL, false);
    start_irq(&t, BASIC);
    uint8_t pat[512];
    memset(pat, 0x42, sizeof pat);
    assert_int_equal(capdrv_sim_virtio_blk_data(t.sim, t.fn, 0, pat, sizeof pat, true), 0);
    assert_int_equal(capdrv_sim_virtio_set_fault(t.sim, t.fn, CAPDRV_SIM_VIRTIO_FAULT_IOERR), 0);
    memset(t.b + DATA_OFF, 0, 512);
    uint32_t ulen;
    assert_int_equal(submit(&t, CAPDRV_VBLK_T_IN, 0, DATA_OFF, 512, true, &ulen),
                     CAPDRV_VBLK_S_IOERR);
    assert_int_equal(ulen, 1);
    assert_int_equal(t.b[DATA_OFF], 0); /* no data moved */
    memset(t.b + DATA_OFF, 0x99, 512);
    assert_int_equal(submit(&t, CAPDRV_VBLK_T_OUT, 0, DATA_OFF, 512, false, NULL),
                     CAPDRV_VBLK_S_IOERR);
    assert_true(sectors_are(&t, 0, 1, 0x42));
    assert_int_equal(fired(&t, 1), 1);

    /* DELAY: nothing inside the notify; done CAPDRV_SIM_VIRTIO_DELAY_NS later. */
    assert_int_equal(capdrv_sim_virtio_set_fault(t.sim, t.fn, CAPDRV_SIM_VIRTIO_FAULT_DELAY), 0);
    uint64_t t0 = capdrv_sim_now(t.sim);
    req(&t, 0, 0, CAPDRV_VBLK_T_IN, 0, t.buf_dev + DATA_OFF, 512, true);
    post(&t, 0, 0);
    kick(&t, 0);
    assert_int_equal(used_idx(&t, 0), 2);
    assert_int_equal(*status_cpu(&t, 0), 0xee);
    capdrv_sim_advance(t.sim, CAPDRV_SIM_VIRTIO_DELAY_NS - 1);
    assert_int_equal(used_idx(&t, 0), 2);
    assert_int_equal(fired(&t, 1), 0);
    capdrv_sim_advance(t.sim, 1);
    assert_int_equal(used_idx(&t, 0), 3);
    assert_int_equal(*status_cpu(&t, 0), CAPDRV_VBLK_S_OK);
    assert_memory_equal(t.b + DATA_OFF, pat, 512);
    assert_int_equal(fired(&t, 1), 1);
    /* irq_wait runs simulated time to the completion. */
    req(&t, 0, 0, CAPDRV_VBLK_T_FLUSH, 0, 0, 0, false);
    post(&t, 0, 0);
    kick(&t, 0);
    struct capdrv_hw_irq src = {t.fn, 1};
    uint64_t ready = 0;
    assert_int_equal(t.hw.ops->irq_wait(t.hw.ctx, &src, 1, -1, &ready), 1);
    assert_int_equal(capdrv_sim_now(t.sim), t0 + 2 * CAPDRV_SIM_VIRTIO_DELAY_NS);
    assert_int_equal(used_idx(&t, 0), 4);
    /* A reset drops the scheduled work: the device never touches the old
     * ring afterwards. */
    req(&t, 0, 0, CAPDRV_VBLK_T_FLUSH, 0, 0, 0, false);
    post(&t, 0, 0);
    kick(&t, 0);
    cw(&t, CAPDRV_VPCI_COMMON_STATUS, 1, 0);
    capdrv_sim_advance(t.sim, 10 * CAPDRV_SIM_VIRTIO_DELAY_NS);
    assert_int_equal(used_idx(&t, 0), 4);
    assert_int_equal(*status_cpu(&t, 0), 0xee);
    vt_close(&t, 0);
}

static void test_fault_completion_corruption(void **state)
{
    (void)state;
    struct vt t;
    vt_open(&t, NULL, false);
    start_irq(&t, BASIC);
    uint32_t id, len;
    /* REORDER: one batch of three, used elements in reverse. */
    assert_int_equal(capdrv_sim_virtio_set_fault(t.sim, t.fn, CAPDRV_SIM_VIRTIO_FAULT_REORDER), 0);
    for (unsigned h = 0; h < 9; h += 3) {
        req(&t, 0, h, CAPDRV_VBLK_T_FLUSH, 0, 0, 0, false);
        post(&t, 0, (uint16_t)h);
    }
    kick(&t, 0);
    assert_int_equal(used_idx(&t, 0), 3);
    const uint32_t order[] = {6, 3, 0};
    for (uint16_t k = 0; k < 3; k++) {
        used_elem(&t, 0, k, &id, &len);
        assert_int_equal(id, order[k]);
        assert_int_equal(len, 1);
        assert_int_equal(*status_cpu(&t, order[k]), CAPDRV_VBLK_S_OK);
    }
    /* USED_ID_RANGE: id >= Queue Size. */
    assert_int_equal(capdrv_sim_virtio_set_fault(t.sim, t.fn, CAPDRV_SIM_VIRTIO_FAULT_USED_ID_RANGE),
                     0);
    req(&t, 0, 3, CAPDRV_VBLK_T_FLUSH, 0, 0, 0, false);
    post(&t, 0, 3);
    kick(&t, 0);
    assert_int_equal(used_idx(&t, 0), 4);
    used_elem(&t, 0, 3, &id, &len);
    assert_true(id >= Q);
    /* USED_LEN: larger than the device-writable bytes posted (512 + 1). */
    assert_int_equal(capdrv_sim_virtio_set_fault(t.sim, t.fn, CAPDRV_SIM_VIRTIO_FAULT_USED_LEN), 0);
    assert_int_equal(submit(&t, CAPDRV_VBLK_T_IN, 0, DATA_OFF, 512, true, &len), CAPDRV_VBLK_S_OK);
    assert_true(len > 513);
    /* DOUBLE: the same head twice. */
    assert_int_equal(capdrv_sim_virtio_set_fault(t.sim, t.fn, CAPDRV_SIM_VIRTIO_FAULT_DOUBLE), 0);
    req(&t, 0, 0, CAPDRV_VBLK_T_FLUSH, 0, 0, 0, false);
    post(&t, 0, 0);
    kick(&t, 0);
    assert_int_equal(used_idx(&t, 0), 7);
    used_elem(&t, 0, 5, &id, &len);
    assert_int_equal(id, 0);
    used_elem(&t, 0, 6, &id, &len);
    assert_int_equal(id, 0);
    /* Back to NONE: well-behaved again. */
    assert_int_equal(capdrv_sim_virtio_set_fault(t.sim, t.fn, CAPDRV_SIM_VIRTIO_FAULT_NONE), 0);
    assert_int_equal(submit(&t, CAPDRV_VBLK_T_IN, 0, DATA_OFF, 512, true, &len), CAPDRV_VBLK_S_OK);
    assert_int_equal(len, 513);
    assert_int_equal(used_idx(&t, 0), 8);
    assert_int_equal(status(&t) & S_NR, 0);
    vt_close(&t, 0);
}

/* The device broke: NEEDS_RESET set, configuration interrupt on vector 0
 * with ISR bit 1, nothing completed since @used, and it ignores notifies. */
static void expect_needs_reset(struct vt *t, uint16_t used)
{
    assert_true(status(t) & S_NR);
    assert_int_equal(used_idx(t, 0), used);
    assert_int_equal(fired(t, 0), 1);
    assert_int_equal(fired(t, 1), 0);
    assert_int_equal(isr(t), CAPDRV_VPCI_ISR_CONFIG);
    req(t, 0, 0, CAPDRV_VBLK_T_FLUSH, 0, 0, 0, false);
    post(t, 0, 0);
    kick(t, 0);
    assert_int_equal(used_idx(t, 0), used);
    assert_int_equal(fired(t, 0), 0);
    /* Writing status does not clear it; a reset does. */
    cw(t, CAPDRV_VPCI_COMMON_STATUS, 1, S_ACK | S_DRV | S_FOK | S_DOK);
    assert_true(status(t) & S_NR);
    cw(t, CAPDRV_VPCI_COMMON_STATUS, 1, 0);
    assert_int_equal(status(t), 0);
}

static void test_fault_needs_reset(void **state)
{
    (void)state;
    struct vt t;
    vt_open(&t, NULL, false);
    start_irq(&t, BASIC);
    assert_int_equal(capdrv_sim_virtio_set_fault(t.sim, t.fn, CAPDRV_SIM_VIRTIO_FAULT_NEEDS_RESET),
                     0);
    req(&t, 0, 0, CAPDRV_VBLK_T_FLUSH, 0, 0, 0, false);
    post(&t, 0, 0);
    kick(&t, 0);
    assert_int_equal(*status_cpu(&t, 0), 0xee);
    expect_needs_reset(&t, 0);
    /* The knob survives the reset. */
    start_irq(&t, BASIC);
    req(&t, 0, 0, CAPDRV_VBLK_T_FLUSH, 0, 0, 0, false);
    post(&t, 0, 0);
    kick(&t, 0);
    assert_true(status(&t) & S_NR);
    assert_int_equal(fired(&t, 0), 1);
    cw(&t, CAPDRV_VPCI_COMMON_STATUS, 1, 0);
    assert_int_equal(capdrv_sim_virtio_set_fault(t.sim, t.fn, CAPDRV_SIM_VIRTIO_FAULT_NONE), 0);
    start_irq(&t, BASIC);
    assert_int_equal(submit(&t, CAPDRV_VBLK_T_FLUSH, 0, 0, 0, false, NULL), CAPDRV_VBLK_S_OK);
    assert_int_equal(status(&t) & S_NR, 0);
    vt_close(&t, 0);
}

enum malformed {
    M_LOOP,
    M_NEXT_RANGE,
    M_HEAD_RANGE,
    M_AVAIL_JUMP,
    M_READ_AFTER_WRITE,
    M_NESTED_INDIRECT,
    M_INDIRECT_NEXT,
    M_INDIRECT_LEN,
    M_INDIRECT_LOOP,
    M_NO_STATUS,
    M_SHORT_HEADER,
    M_WRAPPING_BUFFER,
    M_COUNT
};

static void build_malformed(struct vt *t, enum malformed m)
{
    const uint16_t N = CAPDRV_VPCI_DESC_F_NEXT, W = CAPDRV_VPCI_DESC_F_WRITE,
                   I = CAPDRV_VPCI_DESC_F_INDIRECT;
    uint8_t *tab = ring_cpu(t, 0, INDIRECT_OFF);
    uint64_t tab_dev = ring_dev(t, 0, INDIRECT_OFF);
    req(t, 0, 0, CAPDRV_VBLK_T_FLUSH, 0, 0, 0, false); /* a valid header to point at */
    switch (m) {
    case M_LOOP:
        desc(t, 0, 0, hdr_dev(t, 0), 16, N, 1);
        desc(t, 0, 1, hdr_dev(t, 0), 16, N, 0);
        break;
    case M_NEXT_RANGE:
        /* Behind the table lies what would be a fine status descriptor: a
         * device that followed the index would complete the request. */
        desc(t, 0, 0, hdr_dev(t, 0), 16, N, Q);
        desc(t, 0, Q, hdr_dev(t, 0) + 16, 1, W, 0);
        break;
    case M_HEAD_RANGE:
        desc(t, 0, Q + 4, hdr_dev(t, 0), 16, N, 1);
        post(t, 0, Q + 4);
        return;
    case M_AVAIL_JUMP:
        /* last_avail is 1: Q + 1 more entries than the queue holds. */
        put(ring_cpu(t, 0, AVAIL_OFF + 2u), 2, Q + 2);
        return;
    case M_READ_AFTER_WRITE:
        desc(t, 0, 0, hdr_dev(t, 0) + 16, 1, W | N, 1);
        desc(t, 0, 1, hdr_dev(t, 0), 16, 0, 0);
        break;
    case M_NESTED_INDIRECT:
        /* The inner table would be a fine request. */
        desc_at(tab, 16, hdr_dev(t, 0), 16, N, 1);
        desc_at(tab + 16 * 16, 1, hdr_dev(t, 0) + 16, 1, W, 0);
        desc_at(tab, 0, tab_dev + 16 * 16, 32, I, 0);
        desc(t, 0, 0, tab_dev, 16, I, 0);
        break;
    case M_INDIRECT_NEXT:
        desc_at(tab, 0, hdr_dev(t, 0), 16, 0, 0);
        desc(t, 0, 0, tab_dev, 16, I | N, 1);
        break;
    case M_INDIRECT_LEN:
        desc(t, 0, 0, tab_dev, 24, I, 0);
        break;
    case M_INDIRECT_LOOP:
        desc_at(tab, 0, hdr_dev(t, 0), 16, N, 1);
        desc_at(tab, 1, hdr_dev(t, 0), 16, N, 0);
        desc(t, 0, 0, tab_dev, 32, I, 0);
        break;
    case M_NO_STATUS:
        desc(t, 0, 0, hdr_dev(t, 0), 16, 0, 0);
        break;
    case M_SHORT_HEADER:
        desc(t, 0, 0, hdr_dev(t, 0), 8, N, 1);
        desc(t, 0, 1, hdr_dev(t, 0) + 16, 1, W, 0);
        break;
    case M_WRAPPING_BUFFER:
        desc(t, 0, 0, UINT64_MAX - 7, 16, N, 1);
        desc(t, 0, 1, hdr_dev(t, 0) + 16, 1, W, 0);
        break;
    case M_COUNT:
        break;
    }
    post(t, 0, 0);
}

static void test_malformed_chains(void **state)
{
    (void)state;
    struct vt t;
    vt_open(&t, NULL, false);
    for (int m = 0; m < M_COUNT; m++) {
        start_irq(&t, BASIC);
        /* One good request first, so the device is known to work. */
        assert_int_equal(submit(&t, CAPDRV_VBLK_T_FLUSH, 0, 0, 0, false, NULL), CAPDRV_VBLK_S_OK);
        assert_int_equal(fired(&t, 1), 1);
        assert_int_equal(isr(&t), CAPDRV_VPCI_ISR_QUEUE);
        build_malformed(&t, (enum malformed)m);
        kick(&t, 0);
        if (!(status(&t) & S_NR))
            fail_msg("malformed case %d accepted", m);
        expect_needs_reset(&t, 1);
    }
    vt_close(&t, 0);
}

static void test_dma_outside_mappings(void **state)
{
    (void)state;
    struct vt t;
    vt_open(&t, NULL, false);
    start_irq(&t, BASIC);
    struct capdrv_hw_dma other;
    assert_int_equal(t.hw.ops->dma_alloc(t.hw.ctx, 4096, &other), 0);
    memset(other.cpu, 0x11, 4096);
    /* An IN whose data buffer is memory never mapped for the function: the
     * oracle refuses the write, the request fails with IOERR. */
    req(&t, 0, 0, CAPDRV_VBLK_T_IN, 0, other.phys, 512, true);
    post(&t, 0, 0);
    kick(&t, 0);
    assert_int_equal(used_idx(&t, 0), 1);
    uint32_t id, len;
    used_elem(&t, 0, 0, &id, &len);
    assert_int_equal(len, 1);
    assert_int_equal(*status_cpu(&t, 0), CAPDRV_VBLK_S_IOERR);
    assert_int_equal(((uint8_t *)other.cpu)[0], 0x11);
    assert_int_equal(capdrv_sim_oracle_violations(t.sim), 1);
    struct capdrv_sim_violation v;
    assert_int_equal(capdrv_sim_oracle_last(t.sim, &v), 0);
    assert_int_equal(v.fn, t.fn);
    assert_int_equal(v.devaddr, other.phys);
    assert_int_equal(v.len, 512);
    assert_true(v.is_write);
    /* An OUT from it: a refused read, IOERR, disk untouched. */
    fill_disk(&t, 0x22);
    req(&t, 0, 0, CAPDRV_VBLK_T_OUT, 1, other.phys, 512, false);
    post(&t, 0, 0);
    kick(&t, 0);
    assert_int_equal(*status_cpu(&t, 0), CAPDRV_VBLK_S_IOERR);
    assert_int_equal(capdrv_sim_oracle_violations(t.sim), 2);
    assert_int_equal(capdrv_sim_oracle_last(t.sim, &v), 0);
    assert_false(v.is_write);
    assert_true(sectors_are(&t, 1, 1, 0x22));
    assert_int_equal(fired(&t, 1), 1); /* failed requests complete normally */
    assert_int_equal(isr(&t), CAPDRV_VPCI_ISR_QUEUE);
    /* A status byte that cannot be written: nothing to complete with, the
     * device asks for a reset. */
    req(&t, 0, 0, CAPDRV_VBLK_T_FLUSH, 0, 0, 0, false);
    desc(&t, 0, 1, other.phys, 1, CAPDRV_VPCI_DESC_F_WRITE, 0);
    post(&t, 0, 0);
    kick(&t, 0);
    assert_int_equal(capdrv_sim_oracle_violations(t.sim), 3);
    expect_needs_reset(&t, 2);
    /* Rings in unmapped memory: the first ring read is refused. */
    start_irq(&t, BASIC);
    cw(&t, CAPDRV_VPCI_COMMON_STATUS, 1, 0);
    assert_int_equal(negotiate(&t, BASIC), S_ACK | S_DRV | S_FOK);
    cw(&t, CAPDRV_VPCI_COMMON_MSIX, 2, 0);
    cw(&t, CAPDRV_VPCI_COMMON_Q_SELECT, 2, 0);
    cw(&t, CAPDRV_VPCI_COMMON_Q_SIZE, 2, Q);
    cw(&t, CAPDRV_VPCI_COMMON_Q_DESCLO, 8, other.phys);
    cw(&t, CAPDRV_VPCI_COMMON_Q_AVAILLO, 8, other.phys + 0x100);
    cw(&t, CAPDRV_VPCI_COMMON_Q_USEDLO, 8, other.phys + 0x200);
    cw(&t, CAPDRV_VPCI_COMMON_Q_MSIX, 2, 1);
    cw(&t, CAPDRV_VPCI_COMMON_Q_ENABLE, 2, 1);
    cw(&t, CAPDRV_VPCI_COMMON_STATUS, 1, S_ACK | S_DRV | S_FOK | S_DOK);
    kick(&t, 0);
    assert_true(status(&t) & S_NR);
    assert_int_equal(capdrv_sim_oracle_violations(t.sim), 4);
    assert_int_equal(capdrv_sim_oracle_last(t.sim, &v), 0);
    assert_int_equal(v.devaddr, other.phys + 0x100 + 2); /* avail->idx */
    t.hw.ops->dma_free(t.hw.ctx, &other);
    vt_close(&t, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity_and_caps),
        cmocka_unit_test(test_add_config_errors),
        cmocka_unit_test(test_feature_negotiation),
        cmocka_unit_test(test_queue_registers_and_reset),
        cmocka_unit_test(test_write_then_read),
        cmocka_unit_test(test_flush_and_get_id),
        cmocka_unit_test(test_discard_and_write_zeroes),
        cmocka_unit_test(test_out_of_range_ioerr),
        cmocka_unit_test(test_indirect), cmocka_unit_test(test_seg_max_enforced),
        cmocka_unit_test(test_event_idx_and_no_interrupt),
        cmocka_unit_test(test_msix_delivery),
        cmocka_unit_test(test_fault_ioerr_and_delay),
        cmocka_unit_test(test_fault_completion_corruption),
        cmocka_unit_test(test_fault_needs_reset),
        cmocka_unit_test(test_malformed_chains),
        cmocka_unit_test(test_dma_outside_mappings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
