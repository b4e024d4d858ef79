/* Test support for the virtio-mmio transport tests: a fake capdrv_sys
 * backend (capdrv/sys_backend.h) holding one virtio-mmio version 2 register
 * block behind grant window 0, written from VIRTIO 1.2 §4.2.2
 * independently of the library. It needs neither the shim nor the sim, so
 * every register can misbehave:
 *
 * - MagicValue, Version, DeviceID, VendorID the test chooses;
 * - feature words, queue registers, Status, InterruptStatus/ACK,
 *   ConfigGeneration and 0x100 bytes of configuration;
 * - the access rule of §4.2.2.2 enforced: control registers only with
 *   32-bit aligned accesses; a read of a write-only register, a write to a
 *   read-only one, or a wider or misaligned access is refused and counted
 *   in bad_accesses;
 * - one interrupt line (grant vector 0), pending while InterruptStatus is
 *   non-zero (level-triggered, §4.2.3.4).
 *
 * There is no DMA pool: tests place rings in ordinary memory with made-up
 * references (the fake never dereferences them). */
#ifndef CAPDRV_TEST_FAKE_MMIO_H
#define CAPDRV_TEST_FAKE_MMIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <capdrv/sys.h>
#include <capdrv/sys_backend.h>

#define FM_MAX_QUEUES 4u
#define FM_MAX_WINDOWS 2u
#define FM_BLOCK_LEN 0x200u /* control registers + 0x100 bytes of config */
#define FM_CONFIG_LEN 0x100u
#define FM_GRANT 0x0100000000000007ull
#define FM_IRQ 0x0500000000000007ull

struct fm_queue {
    uint32_t num_max, num, ready;
    uint64_t desc, driver, device;
    unsigned notifies;
};

struct fm {
    struct capdrv_sys sys; /* first: the connection the library sees */
    struct capdrv_window_info win[FM_MAX_WINDOWS];
    unsigned n_win;
    int lane;
    /* Identification (§4.2.2). */
    uint32_t magic, version, device_id, vendor_id;
    /* Device state. */
    uint64_t dev_features, drv_features;
    uint32_t dfsel, drvsel, queue_sel;
    uint32_t status, generation, int_status;
    struct fm_queue q[FM_MAX_QUEUES];
    uint8_t config[FM_CONFIG_LEN];
    /* Knobs. */
    bool refuse_features_ok; /* clear FEATURES_OK when written */
    bool reset_stuck;        /* Status never reads back 0 */
    bool needs_reset;        /* report DEVICE_NEEDS_RESET */
    bool ready_sticks_not;   /* QueueReady writes are ignored */
    unsigned gen_flaps;      /* ConfigGeneration changes on each of the next N reads */
    /* Observations. */
    unsigned status_writes;
    uint32_t status_log[32]; /* values written to Status */
    unsigned bad_accesses;   /* accesses refused by the fake */
    unsigned mmio_accesses;
    uint32_t max_offset;     /* highest register offset touched */
    uint32_t last_notify;    /* last value written to QueueNotify */
    uint32_t acked;          /* OR of values written to InterruptACK */
    bool mmio_open[FM_MAX_WINDOWS];
    bool irq_open;
    unsigned releases;
};

/* A virtio-mmio version 2 block device (id 2, vendor "QEMU"), window 0
 * covering FM_BLOCK_LEN bytes read/write, 4 queues of 64 entries,
 * features VERSION_1 | @features. */
void fm_init(struct fm *f, uint64_t features, int lane);
/* The connection to hand to the library. */
capdrv_sys *fm_sys(struct fm *f);

#endif
