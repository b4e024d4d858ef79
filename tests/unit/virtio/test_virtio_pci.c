/* The virtio PCI modern transport (src/virtio/pci.c, device.c) against a
 * fake function (fake_vdev.h): device ids (modern, transitional with and
 * without the modern interface), capability walk over hostile lists, window
 * coverage, the status machine, feature negotiation, configuration reads,
 * queue setup and the lane rule for doorbells (VIRTIO 1.2 §4.1, §3.1.1). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <capdrv/virtio.h>

#include "fake_vdev.h"

#define V1 (1ull << 32)
#define AP (1ull << 33)

static struct fv *new_fv(int lane)
{
    struct fv *f = malloc(sizeof *f);
    assert_non_null(f);
    fv_init(f, 0, lane);
    return f;
}

static void free_fv(struct fv *f)
{
    fv_fini(f);
    free(f);
}

static int open_vp(struct fv *f, struct capdrv_virtio_pci *vp, char *why)
{
    return capdrv_virtio_pci_open(fv_sys(f), FV_GRANT, vp, why, 256);
}

static void t_open_default(void **state)
{
    (void)state;
    struct fv *f = new_fv(CAPDRV_LANE_DIRECT);
    struct capdrv_virtio_pci vp;
    char why[256];
    assert_int_equal(open_vp(f, &vp, why), 0);
    assert_true(vp.common.present && vp.notify.present && vp.isr.present && vp.device.present);
    assert_int_equal(vp.notify.offset, FV_NOTIFY);
    assert_int_equal(vp.notify_mult, FV_NOTIFY_MULT);
    assert_int_equal(capdrv_virtio_config_len(&vp), FV_DEVCFG_LEN);
    assert_int_equal(capdrv_virtio_device_id(&vp), 2);
    assert_int_equal(capdrv_virtio_num_queues(&vp), FV_MAX_QUEUES);
    /* §3.1.1 steps 1-3: reset, ACKNOWLEDGE, then ACKNOWLEDGE|DRIVER. */
    assert_int_equal(f->status_writes, 3);
    assert_int_equal(f->status_log[0], 0);
    assert_int_equal(f->status_log[1], 1);
    assert_int_equal(f->status_log[2], 3);
    assert_int_equal(f->command & 0x6, 0x6); /* memory space + bus master */
    assert_true(f->mmio_open[0]);
    capdrv_virtio_pci_close(&vp);
    assert_false(f->mmio_open[0]);
    assert_int_equal(f->status_log[3], 0); /* close resets */
    capdrv_virtio_pci_close(&vp);          /* idempotent */
    assert_int_equal(f->bad_accesses, 0);
    free_fv(f);
}

static void expect_open(struct fv *f, int rc, const char *msg)
{
    struct capdrv_virtio_pci vp;
    char why[256] = "";
    assert_int_equal(open_vp(f, &vp, why), rc);
    if (msg && !strstr(why, msg))
        fail_msg("reason \"%s\" lacks \"%s\"", why, msg);
    if (rc == 0)
        capdrv_virtio_pci_close(&vp);
    else
        for (unsigned w = 0; w < FV_MAX_WINDOWS; w++)
            assert_false(f->mmio_open[w]); /* nothing left open */
}

static void set_id(struct fv *f, uint16_t device)
{
    f->cfg[2] = (uint8_t)device;
    f->cfg[3] = (uint8_t)(device >> 8);
}

static void t_ids(void **state)
{
    (void)state;
    struct fv *f = new_fv(CAPDRV_LANE_DIRECT);
    /* Transitional ids the §4.1.2.1 table does not list name no device. */
    set_id(f, 0x1006);
    expect_open(f, -CAPDRV_ENODEV, "names no virtio device type");
    set_id(f, 0x103f); /* last transitional id */
    expect_open(f, -CAPDRV_ENODEV, "names no virtio device type");
    set_id(f, 0x0fff); /* just below the virtio range */
    expect_open(f, -CAPDRV_ENODEV, "not a virtio device");
    f->cfg[2] = 0x80, f->cfg[3] = 0x10; /* 0x1080: outside the virtio range */
    expect_open(f, -CAPDRV_ENODEV, "not a virtio device");
    f->cfg[2] = 0x42;
    f->cfg[0] = 0x86, f->cfg[1] = 0x80; /* 8086:1042 */
    expect_open(f, -CAPDRV_ENODEV, "not a virtio device");
    f->cfg[0] = 0xf4, f->cfg[1] = 0x1a;
    expect_open(f, 0, NULL);
    free_fv(f);
}

/* Transitional devices (§4.1.2): the §4.1.2.1 table gives the virtio id,
 * and with the modern capabilities present the device is driven through
 * them like a modern one (§4.1.2.2: drivers MUST match these ids). */
static void t_transitional(void **state)
{
    (void)state;
    static const struct {
        uint16_t pci, virtio;
    } table[] = {{0x1000, 1}, {0x1001, 2}, {0x1002, 5}, {0x1003, 3},
                 {0x1004, 8}, {0x1005, 4}, {0x1009, 9}};
    struct fv *f = new_fv(CAPDRV_LANE_DIRECT);
    for (unsigned i = 0; i < sizeof table / sizeof table[0]; i++) {
        set_id(f, table[i].pci);
        struct capdrv_virtio_pci vp;
        char why[256];
        assert_int_equal(open_vp(f, &vp, why), 0);
        assert_int_equal(capdrv_virtio_device_id(&vp), table[i].virtio);
        assert_true(vp.common.present && vp.notify.present);
        capdrv_virtio_pci_close(&vp);
    }
    /* The block one all the way: features, a queue, DRIVER_OK. */
    set_id(f, 0x1001);
    struct capdrv_virtio_pci vp;
    char why[256];
    assert_int_equal(open_vp(f, &vp, why), 0);
    assert_int_equal(capdrv_virtio_negotiate(&vp, 0, NULL), 0);
    assert_int_equal(f->status, 1 | 2 | 8);
    assert_int_equal(capdrv_virtio_driver_ok(&vp), 0);
    capdrv_virtio_pci_close(&vp);
    assert_int_equal(f->bad_accesses, 0);
    free_fv(f);
}

/* A transitional id without the modern interface is a legacy-only device:
 * refused, and the reason says which. */
static void t_transitional_legacy_only(void **state)
{
    (void)state;
    struct fv *f = new_fv(CAPDRV_LANE_DIRECT);
    set_id(f, 0x1000);
    /* No capability list at all (a legacy device has only its I/O BAR). */
    f->cfg[6] = 0;
    expect_open(f, -CAPDRV_ENODEV, "transitional virtio device 1af4:1000 without the modern");
    expect_open(f, -CAPDRV_ENODEV, "legacy-only");
    assert_int_equal(f->status_writes, 0); /* never touched */
    f->cfg[6] = 0x10;
    /* A capability list without virtio vendor capabilities. */
    const struct fv_cap none[] = {{9, 0, 0, 4}};
    fv_set_caps(f, none, 1);
    f->cfg[0x40] = 0x05; /* MSI, not vendor-specific */
    set_id(f, 0x1001);
    expect_open(f, -CAPDRV_ENODEV, "transitional virtio device 1af4:1001 without the modern");
    /* Vendor capabilities, but no common configuration. */
    const struct fv_cap no_common[] = {{2, 0, FV_NOTIFY, 0x100}, {3, 0, FV_ISR, 1}};
    fv_set_caps(f, no_common, 2);
    expect_open(f, -CAPDRV_ENODEV, "legacy-only");
    assert_int_equal(f->status_writes, 0);
    free_fv(f);
}

static void t_legacy_layouts(void **state)
{
    (void)state;
    struct fv *f = new_fv(CAPDRV_LANE_DIRECT);
    /* No capability list at all. */
    f->cfg[6] = 0;
    expect_open(f, -CAPDRV_ENODEV, "legacy");
    f->cfg[6] = 0x10;
    /* Capabilities, but no common configuration. */
    const struct fv_cap no_common[] = {{2, 0, FV_NOTIFY, 0x100}, {3, 0, FV_ISR, 1}};
    fv_set_caps(f, no_common, 2);
    expect_open(f, -CAPDRV_ENODEV, "legacy");
    /* Common but no notify. */
    const struct fv_cap no_notify[] = {{1, 0, FV_COMMON, 0x40}, {4, 0, FV_DEVCFG, 0x40}};
    fv_set_caps(f, no_notify, 2);
    expect_open(f, -CAPDRV_EPROTO, "notification");
    free_fv(f);
}

static void t_hostile_lists(void **state)
{
    (void)state;
    struct fv *f = new_fv(CAPDRV_LANE_DIRECT);
    /* A loop: the last capability points back to the first. */
    f->cfg[0x40 + 20 * 3 + 1] = 0x40;
    expect_open(f, -CAPDRV_EPROTO, "loops");
    /* A pointer into the standard header. */
    f->cfg[0x40 + 20 * 3 + 1] = 0x10;
    expect_open(f, -CAPDRV_EPROTO, "header");
    /* Reserved low bits of pointers are ignored (§6.7): 0x43 is 0x40 ->
     * loop detected, not an unaligned read. */
    f->cfg[0x40 + 20 * 3 + 1] = 0x43;
    expect_open(f, -CAPDRV_EPROTO, "loops");
    f->cfg[0x40 + 20 * 3 + 1] = 0;
    expect_open(f, 0, NULL);
    /* A capability that runs past the 256-byte header is ignored. */
    const struct fv_cap one[] = {{1, 0, FV_COMMON, 0x40}, {2, 0, FV_NOTIFY, 0x100}};
    fv_set_caps(f, one, 2);
    f->cfg[0x34] = 0xf8; /* a vendor cap at 0xf8 whose len crosses 0x100 */
    f->cfg[0xf8] = 0x09, f->cfg[0xf9] = 0x40, f->cfg[0xfa] = 16, f->cfg[0xfb] = 1;
    f->cfg[0xfc] = 0;
    expect_open(f, 0, NULL);
    free_fv(f);
}

static void t_skip_unusable(void **state)
{
    (void)state;
    struct fv *f = new_fv(CAPDRV_LANE_DIRECT);
    /* Reserved BAR 6, a too-short common structure, and a notify
     * capability with an odd multiplier come first; usable ones follow
     * (§4.1.4: the first usable structure of each type). */
    const struct fv_cap caps[] = {{1, 6, FV_COMMON, 0x40},  {1, 0, FV_COMMON, 0x20},
                                  {2, 0, 0x3800, 0x100},    {1, 0, FV_COMMON, 0x40},
                                  {2, 0, FV_NOTIFY, 0x100}, {9, 0, 0, 4}};
    fv_set_caps(f, caps, 6);
    f->cfg[0x40 + 20 * 2 + 16] = 3; /* multiplier 3: not a power of two */
    struct capdrv_virtio_pci vp;
    char why[256];
    assert_int_equal(open_vp(f, &vp, why), 0);
    assert_int_equal(vp.common.offset, FV_COMMON);
    assert_int_equal(vp.common.length, 0x40);
    assert_int_equal(vp.notify.offset, FV_NOTIFY);
    assert_false(vp.device.present);
    assert_int_equal(capdrv_virtio_config_read(&vp, 0, why, 4), -CAPDRV_ENOENT);
    uint8_t isr;
    assert_int_equal(capdrv_virtio_isr(&vp, &isr), -CAPDRV_ENOENT);
    capdrv_virtio_pci_close(&vp);
    /* A capability shorter than struct virtio_pci_cap is ignored. */
    fv_set_caps(f, caps + 3, 2);
    f->cfg[0x40 + 2] = 12;
    expect_open(f, -CAPDRV_ENODEV, "common");
    free_fv(f);
}

static void t_windows(void **state)
{
    (void)state;
    struct fv *f = new_fv(CAPDRV_LANE_DIRECT);
    /* The window stops short of the notify structure. */
    f->win[0].length = 0x3000;
    expect_open(f, -CAPDRV_EFAULT, "notification structure (BAR 0, offset 0x3000");
    /* Notify needs write access, common needs read/write. */
    f->win[0].length = FV_BAR0_LEN;
    f->win[0].flags = CAPDRV_WINDOW_READ;
    expect_open(f, -CAPDRV_EFAULT, "common configuration");
    /* The structures spread over two windows of the BAR, at offsets
     * relative to each window. */
    f->win[0] = (struct capdrv_window_info){.name = "common", .bar = 0, .offset = 0,
                                            .length = 0x1000, .flags = 3};
    f->win[1] = (struct capdrv_window_info){.name = "rest", .bar = 0, .offset = 0x2000,
                                            .length = 0x2000, .flags = 3};
    f->n_win = 2;
    struct capdrv_virtio_pci vp;
    char why[256];
    assert_int_equal(open_vp(f, &vp, why), 0);
    assert_int_equal(vp.common.window, 0);
    assert_int_equal(vp.notify.window, 1);
    assert_int_equal(vp.notify.offset, 0x1000);
    assert_int_equal(vp.device.window, 1);
    assert_int_equal(vp.device.offset, 0);
    assert_false(vp.isr.present); /* ISR at 0x1000 is in no window: optional */
    uint8_t cap[8];
    assert_int_equal(capdrv_virtio_config_read(&vp, 0, cap, 8), 0);
    assert_int_equal(cap[0] | cap[1] << 8, FV_DISK_SECTORS);
    capdrv_virtio_pci_close(&vp);
    assert_false(f->mmio_open[0] || f->mmio_open[1]);
    /* A window on another BAR does not count. */
    f->win[1].bar = 2;
    expect_open(f, -CAPDRV_EFAULT, "notification");
    assert_int_equal(f->bad_accesses, 0);
    free_fv(f);
}

static void t_reset_bounded(void **state)
{
    (void)state;
    struct fv *f = new_fv(CAPDRV_LANE_DIRECT);
    f->reset_stuck = true;
    expect_open(f, -CAPDRV_ETIMEDOUT, "reset");
    free_fv(f);
}

static void t_negotiate(void **state)
{
    (void)state;
    struct fv *f = new_fv(CAPDRV_LANE_DIRECT);
    f->dev_features |= (1ull << 28) | (1ull << 29) | (1ull << 34) | (1ull << 9);
    struct capdrv_virtio_pci vp;
    char why[256];
    assert_int_equal(open_vp(f, &vp, why), 0);
    uint64_t dev, acc;
    assert_int_equal(capdrv_virtio_device_features(&vp, &dev), 0);
    assert_int_equal(dev, f->dev_features);
    /* Wanted: EVENT_IDX, PACKED, bit 40 (not offered). ACCESS_PLATFORM is
     * taken although not asked for (§6.1); PACKED never; 40 not offered. */
    assert_int_equal(capdrv_virtio_negotiate(&vp, (1ull << 29) | (1ull << 34) | (1ull << 40), &acc),
                     0);
    assert_int_equal(acc, V1 | AP | (1ull << 29));
    assert_int_equal(f->drv_features, acc);
    assert_int_equal(capdrv_virtio_features(&vp), acc);
    assert_true(capdrv_virtio_has(&vp, 29));
    assert_false(capdrv_virtio_has(&vp, 28));
    assert_false(capdrv_virtio_has(&vp, 64));
    assert_int_equal(f->status, 1 | 2 | 8);
    assert_int_equal(capdrv_virtio_driver_ok(&vp), 0);
    assert_int_equal(f->status, 1 | 2 | 4 | 8);
    assert_int_equal(capdrv_virtio_check(&vp), 0);
    f->needs_reset = true;
    assert_int_equal(capdrv_virtio_check(&vp), -CAPDRV_EIO);
    capdrv_virtio_pci_close(&vp);
    free_fv(f);
}

static void t_negotiate_failures(void **state)
{
    (void)state;
    struct fv *f = new_fv(CAPDRV_LANE_DIRECT);
    struct capdrv_virtio_pci vp;
    char why[256];
    /* The device keeps FEATURES_OK clear: refused subset (§3.1.1 step 6). */
    f->refuse_features_ok = true;
    assert_int_equal(open_vp(f, &vp, why), 0);
    assert_int_equal(capdrv_virtio_negotiate(&vp, 0, NULL), -CAPDRV_ENOTSUP);
    assert_int_equal(f->status & 0x80, 0x80); /* FAILED */
    assert_int_equal(capdrv_virtio_features(&vp), 0);
    capdrv_virtio_pci_close(&vp);
    /* No VERSION_1: a legacy device. */
    f->refuse_features_ok = false;
    f->dev_features = AP;
    assert_int_equal(open_vp(f, &vp, why), 0);
    assert_int_equal(capdrv_virtio_negotiate(&vp, ~0ull, NULL), -CAPDRV_ENODEV);
    assert_int_equal(f->status & 0x80, 0x80);
    assert_int_equal(f->status & 8, 0);
    capdrv_virtio_pci_close(&vp);
    /* DEVICE_NEEDS_RESET during setup makes DRIVER_OK fail. */
    f->dev_features = V1;
    assert_int_equal(open_vp(f, &vp, why), 0);
    assert_int_equal(capdrv_virtio_negotiate(&vp, 0, NULL), 0);
    f->needs_reset = true;
    assert_int_equal(capdrv_virtio_driver_ok(&vp), -CAPDRV_EIO);
    assert_int_equal(f->status & 0x80, 0x80);
    capdrv_virtio_pci_close(&vp);
    free_fv(f);
}

static void t_config_read(void **state)
{
    (void)state;
    struct fv *f = new_fv(CAPDRV_LANE_DIRECT);
    struct capdrv_virtio_pci vp;
    char why[256];
    for (unsigned i = 0; i < FV_DEVCFG_LEN; i++)
        f->devcfg[i] = (uint8_t)(i * 3 + 1);
    assert_int_equal(open_vp(f, &vp, why), 0);
    /* Any offset and length: split into aligned accesses <= 4 bytes. */
    for (unsigned off = 0; off < 8; off++)
        for (unsigned len = 0; len <= 13; len++) {
            uint8_t buf[16];
            memset(buf, 0xee, sizeof buf);
            assert_int_equal(capdrv_virtio_config_read(&vp, off, buf, len), 0);
            assert_memory_equal(buf, f->devcfg + off, len);
            assert_int_equal(buf[len], 0xee);
        }
    assert_int_equal(f->bad_accesses, 0);
    uint8_t b[8];
    assert_int_equal(capdrv_virtio_config_read(&vp, FV_DEVCFG_LEN - 4, b, 4), 0);
    assert_int_equal(capdrv_virtio_config_read(&vp, FV_DEVCFG_LEN - 4, b, 5), -CAPDRV_ERANGE);
    assert_int_equal(capdrv_virtio_config_read(&vp, UINT32_MAX, b, 1), -CAPDRV_ERANGE);
    /* §4.1.4.3.1: generation changes force a re-read; a device that never
     * settles is reported, not looped on. */
    f->gen_flaps = 5;
    assert_int_equal(capdrv_virtio_config_read(&vp, 0, b, 8), 0);
    assert_int_equal(f->gen_flaps, 0);
    f->gen_flaps = 100000;
    assert_int_equal(capdrv_virtio_config_read(&vp, 0, b, 8), -CAPDRV_EIO);
    assert_true(f->gen_flaps > 100000 - 4 * CAPDRV_VIRTIO_CONFIG_RETRIES);
    capdrv_virtio_pci_close(&vp);
    free_fv(f);
}

/* A queue in fake DMA memory. */
struct tq {
    struct capdrv_virtq vq;
    capdrv_cap_t buf;
    struct capdrv_dmabuf_info bi;
    void *state;
};

static void tq_init(struct fv *f, struct tq *t, unsigned size, unsigned flags)
{
    struct capdrv_virtq_layout lay;
    assert_int_equal(capdrv_virtq_layout(size, flags, &lay), 0);
    assert_int_equal(capdrv_dma_alloc(fv_sys(f), FV_POOL, lay.total_len, &t->buf, &t->bi), 0);
    t->state = malloc(capdrv_virtq_state_size(size));
    struct capdrv_virtq_config c = {.size = size, .flags = flags, .ring = t->bi.cpu,
                                    .ring_ref = t->bi.ref_base, .ring_len = lay.total_len,
                                    .state = t->state, .state_len = capdrv_virtq_state_size(size)};
    assert_int_equal(capdrv_virtq_init(&t->vq, &c), 0);
}

static void t_queue_setup(void **state)
{
    (void)state;
    struct fv *f = new_fv(CAPDRV_LANE_DIRECT);
    struct capdrv_virtio_pci vp;
    struct capdrv_virtio_pci_queue q;
    char why[256];
    assert_int_equal(open_vp(f, &vp, why), 0);
    assert_int_equal(capdrv_virtio_negotiate(&vp, 0, NULL), 0);
    unsigned max;
    assert_int_equal(capdrv_virtio_queue_max(&vp, 1, &max), 0);
    assert_int_equal(max, 64);
    assert_int_equal(capdrv_virtio_queue_max(&vp, FV_MAX_QUEUES, &max), -CAPDRV_ENOENT);
    f->q[2].max_size = f->q[2].size = 0; /* unavailable (§4.1.4.3) */
    assert_int_equal(capdrv_virtio_queue_max(&vp, 2, &max), -CAPDRV_ENOENT);
    f->q[2].size = 48; /* not a power of two: a split ring cannot have it */
    assert_int_equal(capdrv_virtio_queue_max(&vp, 2, &max), -CAPDRV_EPROTO);
    struct tq t, big;
    tq_init(f, &t, 16, 0);
    tq_init(f, &big, 128, 0);
    assert_int_equal(capdrv_virtio_queue_setup(&vp, 1, &big.vq, 3, &q), -CAPDRV_ERANGE);
    assert_int_equal(capdrv_virtio_queue_setup(&vp, 1, &t.vq, 3, &q), 0);
    uint64_t d, dr, dv;
    capdrv_virtq_area_refs(&t.vq, &d, &dr, &dv);
    assert_int_equal(f->q[1].desc, d);
    assert_int_equal(f->q[1].driver, dr);
    assert_int_equal(f->q[1].device, dv);
    assert_int_equal(f->q[1].size, 16);
    assert_int_equal(f->q[1].vector, 3);
    assert_int_equal(f->q[1].enable, 1);
    assert_int_equal(q.index, 1);
    assert_int_equal(q.notify_off, 1 * FV_NOTIFY_MULT);
    assert_int_equal(capdrv_virtio_notify(&vp, &q), 0);
    assert_int_equal(f->q[1].notifies, 1);
    assert_int_equal(capdrv_virtio_config_vector(&vp, 0), 0);
    assert_int_equal(f->config_vector, 0);
    /* §4.1.5.1.2: NO_VECTOR read back = the device refused the vector. */
    f->refuse_vectors = true;
    assert_int_equal(capdrv_virtio_config_vector(&vp, 0), -CAPDRV_EIO);
    assert_int_equal(capdrv_virtio_queue_setup(&vp, 0, &t.vq, 1, &q), -CAPDRV_EIO);
    assert_int_equal(f->q[0].enable, 0);
    /* NO_VECTOR itself is fine (polling). */
    assert_int_equal(capdrv_virtio_queue_setup(&vp, 0, &t.vq, CAPDRV_VIRTIO_MSI_NO_VECTOR, &q), 0);
    /* A doorbell outside the notify structure is refused before enable. */
    f->refuse_vectors = false;
    f->q[3].notify_off = 0x40; /* 0x40 * 4 = 0x100 = the structure's end */
    assert_int_equal(capdrv_virtio_queue_setup(&vp, 3, &t.vq, 1, &q), -CAPDRV_EPROTO);
    assert_int_equal(f->q[3].enable, 0);
    f->q[3].notify_off = 0xffff;
    assert_int_equal(capdrv_virtio_queue_setup(&vp, 3, &t.vq, 1, &q), -CAPDRV_EPROTO);
    assert_int_equal(f->bad_accesses, 0);
    capdrv_virtio_pci_close(&vp);
    free(t.state);
    free(big.state);
    free_fv(f);
}

/* Brokered: a doorbell after every publish, whatever the device asks;
 * direct: only when capdrv_virtq_needs_notify() says so. */
static void kick_rule(int lane)
{
    struct fv *f = new_fv(lane);
    f->manual = true; /* the device consumes nothing: suppression stays */
    struct capdrv_virtio_pci vp;
    struct capdrv_virtio_pci_queue q;
    char why[256];
    assert_int_equal(open_vp(f, &vp, why), 0);
    assert_int_equal(capdrv_virtio_negotiate(&vp, 0, NULL), 0);
    struct tq t;
    tq_init(f, &t, 16, 0);
    assert_int_equal(capdrv_virtio_queue_setup(&vp, 0, &t.vq, 1, &q), 0);
    assert_int_equal(capdrv_virtio_driver_ok(&vp), 0);
    /* The device says "no notifications" (§2.7.10: used->flags). */
    uint8_t *used_flags = fv_ref(f, f->q[0].device, 2); /* le16, as a device writes it */
    assert_non_null(used_flags);
    used_flags[0] = CAPDRV_VRING_USED_F_NO_NOTIFY;
    for (unsigned i = 0; i < 3; i++) {
        struct capdrv_virtq_seg s = {t.bi.ref_base, 16};
        assert_int_equal(capdrv_virtq_add(&t.vq, &s, 1, 0, (void *)(uintptr_t)(i + 1)), 0);
        assert_int_equal(capdrv_virtq_publish(&t.vq), 1);
        int rc = capdrv_virtio_pci_kick(&vp, &q, &t.vq);
        assert_int_equal(rc, lane == CAPDRV_LANE_BROKERED ? 1 : 0);
    }
    assert_int_equal(f->q[0].notifies, lane == CAPDRV_LANE_BROKERED ? 3 : 0);
    used_flags[0] = 0;
    struct capdrv_virtq_seg s = {t.bi.ref_base, 16};
    assert_int_equal(capdrv_virtq_add(&t.vq, &s, 1, 0, (void *)4), 0);
    assert_int_equal(capdrv_virtq_publish(&t.vq), 1);
    assert_int_equal(capdrv_virtio_pci_kick(&vp, &q, &t.vq), 1);
    assert_int_equal(f->q[0].notifies, lane == CAPDRV_LANE_BROKERED ? 4 : 1);
    capdrv_virtio_pci_close(&vp);
    free(t.state);
    free_fv(f);
}

static void t_kick_brokered(void **state)
{
    (void)state;
    kick_rule(CAPDRV_LANE_BROKERED);
}

static void t_kick_direct(void **state)
{
    (void)state;
    kick_rule(CAPDRV_LANE_DIRECT);
}

static void t_bad_args(void **state)
{
    (void)state;
    struct fv *f = new_fv(CAPDRV_LANE_DIRECT);
    struct capdrv_virtio_pci vp;
    char why[256];
    assert_int_equal(capdrv_virtio_pci_open(fv_sys(f), FV_GRANT, NULL, why, sizeof why),
                     -CAPDRV_EINVAL);
    assert_int_equal(capdrv_virtio_pci_open(NULL, FV_GRANT, &vp, NULL, 0), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_virtio_pci_open(fv_sys(f), 0x0100000000000099ull, &vp, why, sizeof why),
                     -CAPDRV_EBADF);
    assert_int_equal(capdrv_virtio_reset(NULL), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_virtio_negotiate(NULL, 0, NULL), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_virtio_config_read(NULL, 0, why, 1), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_virtio_notify(NULL, NULL), -CAPDRV_EINVAL);
    capdrv_virtio_pci_close(NULL);
    free_fv(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_open_default),  cmocka_unit_test(t_ids),
        cmocka_unit_test(t_transitional),  cmocka_unit_test(t_transitional_legacy_only),
        cmocka_unit_test(t_legacy_layouts), cmocka_unit_test(t_hostile_lists),
        cmocka_unit_test(t_skip_unusable), cmocka_unit_test(t_windows),
        cmocka_unit_test(t_reset_bounded), cmocka_unit_test(t_negotiate),
        cmocka_unit_test(t_negotiate_failures), cmocka_unit_test(t_config_read),
        cmocka_unit_test(t_queue_setup),   cmocka_unit_test(t_kick_brokered),
        cmocka_unit_test(t_kick_direct),   cmocka_unit_test(t_bad_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
