/* The virtio-mmio transport (src/virtio/mmio.c over the shared device.c)
 * against a fake version-2 register block (fake_mmio.h): identification
 * (§4.2.3.1), window checks, the status machine and feature negotiation
 * (§3.1.1), configuration reads with ConfigGeneration (§2.5.1, §4.2.2),
 * queue setup (§4.2.3.2), notifications and the lane rule (§4.2.3.3), and
 * interrupt status/acknowledge (§4.2.3.4). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <capdrv/virtio_mmio.h>

#include "fake_mmio.h"

#define V1 (1ull << 32)
#define AP (1ull << 33)

static struct fm *new_fm(int lane)
{
    struct fm *f = malloc(sizeof *f);
    assert_non_null(f);
    fm_init(f, 0, lane);
    return f;
}

static int open_vm(struct fm *f, struct capdrv_virtio_mmio *vm, char *why)
{
    return capdrv_virtio_mmio_open(fm_sys(f), FM_GRANT, 0, vm, why, 256);
}

static void expect_open(struct fm *f, int rc, const char *msg)
{
    struct capdrv_virtio_mmio vm;
    char why[256] = "";
    assert_int_equal(open_vm(f, &vm, why), rc);
    if (msg && !strstr(why, msg))
        fail_msg("reason \"%s\" lacks \"%s\"", why, msg);
    if (rc == 0) {
        capdrv_virtio_mmio_close(&vm);
    } else {
        for (unsigned w = 0; w < FM_MAX_WINDOWS; w++)
            assert_false(f->mmio_open[w]); /* nothing left open */
        assert_int_equal(vm.mmio, 0);
    }
}

static void t_open_default(void **state)
{
    (void)state;
    struct fm *f = new_fm(CAPDRV_LANE_DIRECT);
    struct capdrv_virtio_mmio vm;
    char why[256];
    assert_int_equal(open_vm(f, &vm, why), 0);
    assert_int_equal(capdrv_virtio_mmio_device_id(&vm), 2);
    assert_int_equal(vm.vendor_id, 0x554d4551u);
    assert_int_equal(capdrv_virtio_mmio_config_len(&vm), FM_CONFIG_LEN);
    assert_int_equal(vm.lane, CAPDRV_LANE_DIRECT);
    /* §3.1.1 steps 1-3: reset, ACKNOWLEDGE, then ACKNOWLEDGE|DRIVER. */
    assert_int_equal(f->status_writes, 3);
    assert_int_equal(f->status_log[0], 0);
    assert_int_equal(f->status_log[1], 1);
    assert_int_equal(f->status_log[2], 3);
    uint8_t st;
    assert_int_equal(capdrv_virtio_mmio_get_status(&vm, &st), 0);
    assert_int_equal(st, 3);
    assert_true(f->mmio_open[0]);
    capdrv_virtio_mmio_close(&vm);
    assert_false(f->mmio_open[0]);
    assert_int_equal(f->status_log[3], 0); /* close resets */
    capdrv_virtio_mmio_close(&vm);         /* idempotent */
    assert_int_equal(f->status_writes, 4);
    /* §4.2.2.2: every control access was 32 bits wide, none refused. */
    assert_int_equal(f->bad_accesses, 0);
    free(f);
}

static void t_identify(void **state)
{
    (void)state;
    struct fm *f = new_fm(CAPDRV_LANE_DIRECT);
    /* Not "virt". */
    f->magic = 0x74726977u;
    expect_open(f, -CAPDRV_ENODEV, "not a virtio-mmio device");
    assert_int_equal(f->status_writes, 0);
    f->magic = 0x76697274u; /* "virt" big-endian: still wrong */
    expect_open(f, -CAPDRV_ENODEV, "magic");
    f->magic = 0x74726976u;
    /* Version 1: legacy, refused with a reason; nothing written. */
    f->version = 1;
    expect_open(f, -CAPDRV_ENODEV, "legacy");
    assert_int_equal(f->status_writes, 0);
    f->version = 3;
    expect_open(f, -CAPDRV_ENODEV, "unknown virtio-mmio version 3");
    f->version = 0;
    expect_open(f, -CAPDRV_ENODEV, "version 0");
    f->version = 2;
    /* DeviceID 0: a placeholder; §4.2.3.1: no other register touched. */
    f->device_id = 0;
    f->max_offset = 0;
    expect_open(f, -CAPDRV_ENODEV, "placeholder");
    assert_int_equal(f->status_writes, 0);
    assert_int_equal(f->max_offset, 0x008);
    f->device_id = 1;
    expect_open(f, 0, NULL);
    assert_int_equal(f->bad_accesses, 0);
    free(f);
}

static void t_windows(void **state)
{
    (void)state;
    struct fm *f = new_fm(CAPDRV_LANE_DIRECT);
    /* Shorter than the control registers. */
    f->win[0].length = 0xfc;
    expect_open(f, -CAPDRV_EFAULT, "control registers");
    /* Read-only. */
    f->win[0].length = FM_BLOCK_LEN;
    f->win[0].flags = CAPDRV_WINDOW_READ;
    expect_open(f, -CAPDRV_EPERM, "readable and writable");
    f->win[0].flags = CAPDRV_WINDOW_READ | CAPDRV_WINDOW_WRITE;
    /* No such window. */
    struct capdrv_virtio_mmio vm;
    char why[256];
    assert_int_equal(capdrv_virtio_mmio_open(fm_sys(f), FM_GRANT, 1, &vm, why, sizeof why),
                     -CAPDRV_ENOENT);
    /* Exactly the control registers: no device configuration. */
    f->win[0].length = 0x100;
    assert_int_equal(open_vm(f, &vm, why), 0);
    assert_int_equal(capdrv_virtio_mmio_config_len(&vm), 0);
    uint8_t b[4];
    assert_int_equal(capdrv_virtio_mmio_config_read(&vm, 0, b, 1), -CAPDRV_ENOENT);
    capdrv_virtio_mmio_close(&vm);
    /* Window already taken by someone. */
    f->win[0].length = FM_BLOCK_LEN;
    f->mmio_open[0] = true;
    assert_int_equal(open_vm(f, &vm, why), -CAPDRV_EBUSY);
    assert_non_null(strstr(why, "open window 0"));
    f->mmio_open[0] = false;
    assert_int_equal(f->bad_accesses, 0);
    free(f);
}

static void t_reset_bounded(void **state)
{
    (void)state;
    struct fm *f = new_fm(CAPDRV_LANE_DIRECT);
    f->reset_stuck = true;
    expect_open(f, -CAPDRV_ETIMEDOUT, "reset");
    free(f);
}

static void t_negotiate(void **state)
{
    (void)state;
    struct fm *f = new_fm(CAPDRV_LANE_DIRECT);
    f->dev_features |= AP | (1ull << 28) | (1ull << 29) | (1ull << 34) | (1ull << 5);
    struct capdrv_virtio_mmio vm;
    char why[256];
    assert_int_equal(open_vm(f, &vm, why), 0);
    uint64_t dev, acc;
    assert_int_equal(capdrv_virtio_mmio_device_features(&vm, &dev), 0);
    assert_int_equal(dev, f->dev_features);
    /* ACCESS_PLATFORM taken unasked (§6.1), PACKED never, 40 not offered. */
    assert_int_equal(
        capdrv_virtio_mmio_negotiate(&vm, (1ull << 29) | (1ull << 34) | (1ull << 40) | (1ull << 5),
                                     &acc),
        0);
    assert_int_equal(acc, V1 | AP | (1ull << 29) | (1ull << 5));
    assert_int_equal(f->drv_features, acc);
    assert_int_equal(capdrv_virtio_mmio_features(&vm), acc);
    assert_true(capdrv_virtio_mmio_has(&vm, 5));
    assert_false(capdrv_virtio_mmio_has(&vm, 28));
    assert_false(capdrv_virtio_mmio_has(&vm, 64));
    /* FEATURES_OK written, then read back (§3.1.1 step 6). */
    assert_int_equal(f->status, 1 | 2 | 8);
    assert_int_equal(capdrv_virtio_mmio_driver_ok(&vm), 0);
    assert_int_equal(f->status, 1 | 2 | 4 | 8);
    assert_int_equal(capdrv_virtio_mmio_check(&vm), 0);
    assert_int_equal(f->bad_accesses, 0);
    capdrv_virtio_mmio_close(&vm);
    /* The reset on close forgets the features. */
    assert_int_equal(f->drv_features, 0);
    free(f);
}

static void t_negotiate_failures(void **state)
{
    (void)state;
    struct fm *f = new_fm(CAPDRV_LANE_DIRECT);
    struct capdrv_virtio_mmio vm;
    char why[256];
    /* The device drops FEATURES_OK: subset refused. */
    f->refuse_features_ok = true;
    assert_int_equal(open_vm(f, &vm, why), 0);
    assert_int_equal(capdrv_virtio_mmio_negotiate(&vm, 0, NULL), -CAPDRV_ENOTSUP);
    assert_int_equal(f->status & 0x80, 0x80); /* FAILED */
    assert_int_equal(f->status & 8, 0);
    assert_int_equal(capdrv_virtio_mmio_features(&vm), 0);
    capdrv_virtio_mmio_close(&vm);
    /* No VERSION_1: legacy feature set. */
    f->refuse_features_ok = false;
    f->dev_features = AP;
    assert_int_equal(open_vm(f, &vm, why), 0);
    assert_int_equal(capdrv_virtio_mmio_negotiate(&vm, ~0ull, NULL), -CAPDRV_ENODEV);
    assert_int_equal(f->status & 0x80, 0x80);
    capdrv_virtio_mmio_close(&vm);
    free(f);
}

static void t_needs_reset(void **state)
{
    (void)state;
    struct fm *f = new_fm(CAPDRV_LANE_DIRECT);
    struct capdrv_virtio_mmio vm;
    char why[256];
    assert_int_equal(open_vm(f, &vm, why), 0);
    assert_int_equal(capdrv_virtio_mmio_negotiate(&vm, 0, NULL), 0);
    /* §2.1.1: DEVICE_NEEDS_RESET during setup: DRIVER_OK fails and FAILED
     * is set; check() reports it. */
    f->needs_reset = true;
    assert_int_equal(capdrv_virtio_mmio_check(&vm), -CAPDRV_EIO);
    assert_int_equal(capdrv_virtio_mmio_driver_ok(&vm), -CAPDRV_EIO);
    assert_int_equal(f->status & 0x80, 0x80);
    /* A reset recovers (the fake clears the flag when the driver resets). */
    f->needs_reset = false;
    assert_int_equal(capdrv_virtio_mmio_reset(&vm), 0);
    assert_int_equal(f->status, 0);
    assert_int_equal(capdrv_virtio_mmio_check(&vm), 0);
    capdrv_virtio_mmio_close(&vm);
    free(f);
}

static void t_config_read(void **state)
{
    (void)state;
    struct fm *f = new_fm(CAPDRV_LANE_DIRECT);
    struct capdrv_virtio_mmio vm;
    char why[256];
    assert_int_equal(open_vm(f, &vm, why), 0);
    /* Any offset and length: aligned accesses of 1, 2 or 4 bytes
     * (§4.2.2.2); the fake refuses 8-byte ones. */
    for (unsigned off = 0; off < 8; off++)
        for (unsigned len = 0; len <= 13; len++) {
            uint8_t buf[16];
            memset(buf, 0xee, sizeof buf);
            assert_int_equal(capdrv_virtio_mmio_config_read(&vm, off, buf, len), 0);
            assert_memory_equal(buf, f->config + off, len);
            assert_int_equal(buf[len], 0xee);
        }
    assert_int_equal(f->bad_accesses, 0);
    uint8_t b[8];
    assert_int_equal(capdrv_virtio_mmio_config_read(&vm, FM_CONFIG_LEN - 4, b, 4), 0);
    assert_int_equal(capdrv_virtio_mmio_config_read(&vm, FM_CONFIG_LEN - 4, b, 5), -CAPDRV_ERANGE);
    assert_int_equal(capdrv_virtio_mmio_config_read(&vm, UINT32_MAX, b, 1), -CAPDRV_ERANGE);
    /* ConfigGeneration moves: re-read; never settles: reported. */
    f->gen_flaps = 5;
    assert_int_equal(capdrv_virtio_mmio_config_read(&vm, 0, b, 8), 0);
    assert_int_equal(f->gen_flaps, 0);
    assert_memory_equal(b, f->config, 8);
    f->gen_flaps = 100000;
    assert_int_equal(capdrv_virtio_mmio_config_read(&vm, 0, b, 8), -CAPDRV_EIO);
    assert_true(f->gen_flaps >= 100000 - 2 * CAPDRV_VIRTIO_CONFIG_RETRIES);
    assert_int_equal(f->bad_accesses, 0);
    capdrv_virtio_mmio_close(&vm);
    free(f);
}

/* A queue in ordinary memory with made-up references. */
struct tq {
    struct capdrv_virtq vq;
    void *ring, *state;
};

#define TQ_REF 0x00c0000000001000ull

static void tq_init(struct tq *t, unsigned size)
{
    struct capdrv_virtq_layout lay;
    assert_int_equal(capdrv_virtq_layout(size, 0, &lay), 0);
    size_t rl = (lay.total_len + 4095u) & ~(size_t)4095u;
    t->ring = aligned_alloc(4096, rl);
    assert_non_null(t->ring);
    memset(t->ring, 0, rl);
    t->state = aligned_alloc(64, (capdrv_virtq_state_size(size) + 63u) & ~(size_t)63u);
    assert_non_null(t->state);
    struct capdrv_virtq_config c = {.size = size, .ring = t->ring, .ring_ref = TQ_REF,
                                    .ring_len = lay.total_len, .state = t->state,
                                    .state_len = capdrv_virtq_state_size(size)};
    assert_int_equal(capdrv_virtq_init(&t->vq, &c), 0);
}

static void tq_fini(struct tq *t)
{
    free(t->ring);
    free(t->state);
}

static void t_queue_setup(void **state)
{
    (void)state;
    struct fm *f = new_fm(CAPDRV_LANE_DIRECT);
    struct capdrv_virtio_mmio vm;
    struct capdrv_virtio_mmio_queue q;
    char why[256];
    assert_int_equal(open_vm(f, &vm, why), 0);
    assert_int_equal(capdrv_virtio_mmio_negotiate(&vm, 0, NULL), 0);
    unsigned max;
    assert_int_equal(capdrv_virtio_mmio_queue_max(&vm, 1, &max), 0);
    assert_int_equal(max, 64);
    assert_int_equal(f->queue_sel, 1);
    /* §4.2.3.2: QueueNumMax 0 = the queue is not available. */
    assert_int_equal(capdrv_virtio_mmio_queue_max(&vm, FM_MAX_QUEUES, &max), -CAPDRV_ENOENT);
    f->q[2].num_max = 0;
    assert_int_equal(capdrv_virtio_mmio_queue_max(&vm, 2, &max), -CAPDRV_ENOENT);
    f->q[2].num_max = 48; /* not a power of two: no split ring has it */
    assert_int_equal(capdrv_virtio_mmio_queue_max(&vm, 2, &max), -CAPDRV_EPROTO);
    f->q[2].num_max = 65536;
    assert_int_equal(capdrv_virtio_mmio_queue_max(&vm, 2, &max), -CAPDRV_EPROTO);
    assert_int_equal(capdrv_virtio_mmio_queue_max(&vm, CAPDRV_VIRTIO_MMIO_MAX_QUEUES, &max),
                     -CAPDRV_ENOENT);
    struct tq t, big;
    tq_init(&t, 16);
    tq_init(&big, 128);
    assert_int_equal(capdrv_virtio_mmio_queue_setup(&vm, 1, &big.vq, &q), -CAPDRV_ERANGE);
    assert_int_equal(f->q[1].ready, 0);
    assert_int_equal(capdrv_virtio_mmio_queue_setup(&vm, 1, &t.vq, &q), 0);
    uint64_t d, dr, dv;
    capdrv_virtq_area_refs(&t.vq, &d, &dr, &dv);
    assert_int_equal(f->q[1].desc, d);
    assert_int_equal(f->q[1].driver, dr);
    assert_int_equal(f->q[1].device, dv);
    assert_true(f->q[1].device > 0xffffffffu); /* the high halves were written */
    assert_int_equal(f->q[1].num, 16);
    assert_int_equal(f->q[1].ready, 1);
    assert_int_equal(q.index, 1);
    assert_int_equal(q.lane, CAPDRV_LANE_DIRECT);
    /* §4.2.3.2 step 2: a queue in use is not reprogrammed. */
    assert_int_equal(capdrv_virtio_mmio_queue_setup(&vm, 1, &t.vq, &q), -CAPDRV_EBUSY);
    /* QueueReady that does not stick. */
    f->ready_sticks_not = true;
    assert_int_equal(capdrv_virtio_mmio_queue_setup(&vm, 0, &t.vq, &q), -CAPDRV_EIO);
    f->ready_sticks_not = false;
    /* Notify: the queue index to QueueNotify (§4.2.3.3). */
    assert_int_equal(capdrv_virtio_mmio_notify(&vm, &q), 0);
    assert_int_equal(f->q[1].notifies, 1);
    assert_int_equal(f->last_notify, 1);
    assert_int_equal(f->bad_accesses, 0);
    capdrv_virtio_mmio_close(&vm);
    assert_int_equal(f->q[1].ready, 0);
    tq_fini(&t);
    tq_fini(&big);
    free(f);
}

/* Brokered: ring after every publish; direct: only when the device wants
 * one (§2.7.10). */
static void kick_rule(int lane)
{
    struct fm *f = new_fm(lane);
    struct capdrv_virtio_mmio vm;
    struct capdrv_virtio_mmio_queue q;
    char why[256];
    assert_int_equal(open_vm(f, &vm, why), 0);
    assert_int_equal(capdrv_virtio_mmio_negotiate(&vm, 0, NULL), 0);
    struct tq t;
    tq_init(&t, 16);
    assert_int_equal(capdrv_virtio_mmio_queue_setup(&vm, 0, &t.vq, &q), 0);
    assert_int_equal(capdrv_virtio_mmio_driver_ok(&vm), 0);
    /* used->flags = NO_NOTIFY, as the device would write it. */
    struct capdrv_virtq_layout lay;
    assert_int_equal(capdrv_virtq_layout(16, 0, &lay), 0);
    uint8_t *used_flags = (uint8_t *)t.ring + lay.used_off;
    used_flags[0] = CAPDRV_VRING_USED_F_NO_NOTIFY;
    for (unsigned i = 0; i < 3; i++) {
        struct capdrv_virtq_seg s = {TQ_REF, 16};
        assert_int_equal(capdrv_virtq_add(&t.vq, &s, 1, 0, (void *)(uintptr_t)(i + 1)), 0);
        assert_int_equal(capdrv_virtq_publish(&t.vq), 1);
        assert_int_equal(capdrv_virtio_mmio_kick(&vm, &q, &t.vq),
                         lane == CAPDRV_LANE_BROKERED ? 1 : 0);
    }
    assert_int_equal(f->q[0].notifies, lane == CAPDRV_LANE_BROKERED ? 3 : 0);
    used_flags[0] = 0;
    struct capdrv_virtq_seg s = {TQ_REF, 16};
    assert_int_equal(capdrv_virtq_add(&t.vq, &s, 1, 0, (void *)4), 0);
    assert_int_equal(capdrv_virtq_publish(&t.vq), 1);
    assert_int_equal(capdrv_virtio_mmio_kick(&vm, &q, &t.vq), 1);
    assert_int_equal(f->q[0].notifies, lane == CAPDRV_LANE_BROKERED ? 4 : 1);
    capdrv_virtio_mmio_close(&vm);
    tq_fini(&t);
    free(f);
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

static void t_interrupts(void **state)
{
    (void)state;
    struct fm *f = new_fm(CAPDRV_LANE_DIRECT);
    struct capdrv_virtio_mmio vm;
    struct capdrv_virtio_mmio_queue q;
    char why[256];
    assert_int_equal(open_vm(f, &vm, why), 0);
    assert_int_equal(capdrv_virtio_mmio_negotiate(&vm, 0, NULL), 0);
    struct tq t;
    tq_init(&t, 8);
    assert_int_equal(capdrv_virtio_mmio_queue_setup(&vm, 0, &t.vq, &q), 0);
    assert_int_equal(capdrv_virtio_mmio_driver_ok(&vm), 0);
    capdrv_cap_t irq;
    assert_int_equal(capdrv_irq_open(fm_sys(f), FM_GRANT, 0, &irq), 0);
    uint64_t ready;
    uint32_t bits;
    assert_int_equal(capdrv_irq_wait(fm_sys(f), &irq, 1, 0, &ready), -CAPDRV_ETIMEDOUT);
    assert_int_equal(capdrv_virtio_mmio_irq_status(&vm, &bits), 0);
    assert_int_equal(bits, 0);
    /* The fake uses a buffer at the doorbell and raises the line. */
    assert_int_equal(capdrv_virtio_mmio_notify(&vm, &q), 0);
    assert_int_equal(capdrv_irq_wait(fm_sys(f), &irq, 1, 0, &ready), 1);
    assert_int_equal(capdrv_virtio_mmio_irq_status(&vm, &bits), 0);
    assert_int_equal(bits, CAPDRV_VIRTIO_MMIO_INT_VRING);
    /* A configuration change on top. */
    f->int_status |= CAPDRV_VIRTIO_MMIO_INT_CONFIG;
    assert_int_equal(capdrv_virtio_mmio_irq_status(&vm, &bits), 0);
    assert_int_equal(bits, CAPDRV_VIRTIO_MMIO_INT_VRING | CAPDRV_VIRTIO_MMIO_INT_CONFIG);
    /* Acknowledge one cause: the line stays up for the other (§4.2.3.4). */
    assert_int_equal(capdrv_virtio_mmio_irq_ack(&vm, CAPDRV_VIRTIO_MMIO_INT_VRING), 0);
    assert_int_equal(f->int_status, CAPDRV_VIRTIO_MMIO_INT_CONFIG);
    assert_int_equal(capdrv_irq_wait(fm_sys(f), &irq, 1, 0, &ready), 1);
    assert_int_equal(capdrv_virtio_mmio_irq_ack(&vm, CAPDRV_VIRTIO_MMIO_INT_CONFIG), 0);
    assert_int_equal(f->int_status, 0);
    assert_int_equal(f->acked, 3);
    assert_int_equal(capdrv_irq_wait(fm_sys(f), &irq, 1, 0, &ready), -CAPDRV_ETIMEDOUT);
    /* Nothing, or undefined bits, is not an acknowledgement. */
    assert_int_equal(capdrv_virtio_mmio_irq_ack(&vm, 0), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_virtio_mmio_irq_ack(&vm, 4), -CAPDRV_EINVAL);
    assert_int_equal(f->acked, 3);
    assert_int_equal(capdrv_cap_release(fm_sys(f), irq), 0);
    assert_int_equal(f->bad_accesses, 0);
    capdrv_virtio_mmio_close(&vm);
    tq_fini(&t);
    free(f);
}

static void t_bad_args(void **state)
{
    (void)state;
    struct fm *f = new_fm(CAPDRV_LANE_DIRECT);
    struct capdrv_virtio_mmio vm;
    char why[256];
    uint8_t st;
    uint32_t bits;
    unsigned max;
    assert_int_equal(capdrv_virtio_mmio_open(fm_sys(f), FM_GRANT, 0, NULL, why, sizeof why),
                     -CAPDRV_EINVAL);
    assert_int_equal(capdrv_virtio_mmio_open(NULL, FM_GRANT, 0, &vm, NULL, 0), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_virtio_mmio_open(fm_sys(f), 0x0100000000000099ull, 0, &vm, why,
                                             sizeof why),
                     -CAPDRV_EBADF);
    assert_int_equal(capdrv_virtio_mmio_reset(NULL), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_virtio_mmio_get_status(NULL, &st), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_virtio_mmio_check(NULL), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_virtio_mmio_negotiate(NULL, 0, NULL), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_virtio_mmio_config_read(NULL, 0, why, 1), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_virtio_mmio_queue_max(NULL, 0, &max), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_virtio_mmio_notify(NULL, NULL), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_virtio_mmio_irq_status(NULL, &bits), -CAPDRV_EINVAL);
    /* A handle whose open failed is zeroed: every verb refuses it. */
    memset(&vm, 0, sizeof vm);
    assert_int_equal(capdrv_virtio_mmio_reset(&vm), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_virtio_mmio_driver_ok(&vm), -CAPDRV_EINVAL);
    capdrv_virtio_mmio_close(&vm);
    capdrv_virtio_mmio_close(NULL);
    assert_int_equal(f->mmio_accesses, 0);
    free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_open_default),  cmocka_unit_test(t_identify),
        cmocka_unit_test(t_windows),       cmocka_unit_test(t_reset_bounded),
        cmocka_unit_test(t_negotiate),     cmocka_unit_test(t_negotiate_failures),
        cmocka_unit_test(t_needs_reset),   cmocka_unit_test(t_config_read),
        cmocka_unit_test(t_queue_setup),   cmocka_unit_test(t_kick_brokered),
        cmocka_unit_test(t_kick_direct),   cmocka_unit_test(t_interrupts),
        cmocka_unit_test(t_bad_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
