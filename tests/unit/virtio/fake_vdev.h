/* Test support for the virtio PCI transport and virtio-blk tests: a fake
 * capdrv_sys backend (capdrv/sys_backend.h) holding one virtio PCI modern
 * function, written from VIRTIO 1.2 §4.1 and §5.2 independently of the
 * library. It needs neither the shim nor the sim, so every register can be
 * made to misbehave:
 *
 * - a 256-byte configuration space the test may rewrite (hostile
 *   capability lists);
 * - grant windows the test chooses;
 * - BAR0: common configuration, ISR, device configuration and notify
 *   structures at the addresses the capabilities name (defaults: common
 *   0x0, ISR 0x1000, device 0x2000, notify 0x3000 with multiplier 4);
 * - DMA buffers with token references (no pointer is ever a reference);
 * - a block back end that serves a queue at its doorbell, synchronously,
 *   through direct and indirect chains, and raises the queue's vector.
 *
 * Knobs in struct fv let a test refuse FEATURES_OK, stall a reset, refuse
 * MSI-X vectors, flap config_generation, or corrupt completions.
 *
 * fv_init_mmio() makes the same device a virtio-mmio version 2 device
 * instead (VIRTIO 1.2 §4.2.2): no configuration space (cfg access
 * -CAPDRV_ENOTSUP, as the kernel answers for an MMIO device), window 0
 * over the FV_MMIO_LEN-byte register block with the device configuration
 * from 0x100, 32-bit control accesses only (§4.2.2.2; others are refused
 * and counted in bad_accesses), and one level-triggered interrupt line,
 * vector 0, pending while InterruptStatus is non-zero (§4.2.3.4). The
 * block back end, the DMA pool and the knobs are shared. */
#ifndef CAPDRV_TEST_FAKE_VDEV_H
#define CAPDRV_TEST_FAKE_VDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <capdrv/sys.h>
#include <capdrv/sys_backend.h>

#define FV_MAX_QUEUES 4u
#define FV_MAX_BUFS 64u
#define FV_MAX_WINDOWS 8u
#define FV_BAR0_LEN 0x4000u
#define FV_COMMON 0x0000u
#define FV_ISR 0x1000u
#define FV_DEVCFG 0x2000u
#define FV_DEVCFG_LEN 0x40u
#define FV_NOTIFY 0x3000u
#define FV_NOTIFY_MULT 4u
#define FV_DISK_SECTORS 2048u /* 1 MiB */
#define FV_MMIO_LEN 0x200u    /* virtio-mmio register block (as QEMU's) */

#define FV_GRANT 0x0100000000000001ull /* handle values the fake issues */
#define FV_POOL 0x0300000000000001ull

struct fv_queue {
    uint16_t max_size, size, vector, enable, notify_off;
    uint64_t desc, driver, device;
    uint16_t last_avail;
    uint16_t used_idx;
    unsigned notifies;
};

struct fv_buf {
    void *cpu;
    size_t size;
    uint64_t ref;
    bool live;
};

struct fv {
    struct capdrv_sys sys; /* first: the connection the library sees */
    /* Configuration space and windows. */
    uint8_t cfg[256];
    uint16_t command;
    struct capdrv_window_info win[FV_MAX_WINDOWS];
    unsigned n_win;
    int lane;
    /* Common configuration state. */
    uint64_t dev_features, drv_features;
    uint32_t dfsel, drvsel;
    uint8_t status, generation;
    uint16_t queue_select, config_vector, num_queues;
    struct fv_queue q[FV_MAX_QUEUES];
    uint8_t devcfg[FV_DEVCFG_LEN];
    uint8_t isr;
    /* Knobs. */
    bool refuse_features_ok; /* clear FEATURES_OK when written */
    bool reset_stuck;        /* status never reads back 0 */
    bool refuse_vectors;     /* MSI-X vector writes read back NO_VECTOR */
    unsigned gen_flaps;      /* config_generation changes on each of the next N reads */
    bool needs_reset;        /* report DEVICE_NEEDS_RESET */
    int status_override;     /* >= 0: status byte the device writes */
    int len_override;        /* >= 0: used len the device reports */
    bool corrupt_used_id;    /* used id out of range */
    bool manual;             /* do not serve queues at the doorbell (fv_serve()) */
    /* virtio-mmio mode (fv_init_mmio()). */
    bool mmio;
    uint32_t mmio_magic, mmio_version, mmio_device_id;
    uint32_t int_status;     /* InterruptStatus: bit 0 used buffer, bit 1 config */
    uint32_t int_acked;      /* OR of the values written to InterruptACK */
    unsigned int_acks;       /* InterruptACK writes */
    uint32_t last_notify;    /* last value written to QueueNotify */
    /* Observations. */
    unsigned status_writes;
    uint8_t status_log[32];  /* values written to device_status */
    unsigned mmio_accesses;
    unsigned bad_accesses;   /* accesses the fake refused (width, range, unknown) */
    unsigned releases;
    unsigned requests;       /* block requests served */
    uint32_t last_type;
    /* Capabilities handed out. */
    bool mmio_open[FV_MAX_WINDOWS];
    bool irq_open[8];
    uint64_t irq_pending;
    struct fv_buf buf[FV_MAX_BUFS];
    unsigned n_buf;
    size_t pool_limit;       /* bytes the pool may hand out (0: unlimited) */
    size_t pool_used;
    uint8_t disk[FV_DISK_SECTORS * 512];
};

/* A modern virtio-blk function (1af4:1042), one window over BAR0, caps at
 * 0x40.., features VERSION_1 | ACCESS_PLATFORM | the blk features given. */
void fv_init(struct fv *f, uint64_t blk_features, int lane);
/* The same block device behind virtio-mmio version 2 (see above): magic
 * "virt", Version 2, DeviceID 2, window 0 "regs" of FV_MMIO_LEN bytes. */
void fv_init_mmio(struct fv *f, uint64_t blk_features, int lane);
/* Rewrite the capability chain: @n caps of (type, bar, offset, length)
 * starting at 0x40, 20 bytes apart, notify caps carrying FV_NOTIFY_MULT. */
struct fv_cap {
    uint8_t type, bar;
    uint32_t offset, length;
};
void fv_set_caps(struct fv *f, const struct fv_cap *caps, unsigned n);
/* The connection to hand to the library. */
capdrv_sys *fv_sys(struct fv *f);
/* Serve every queue's pending requests (used with f->manual). */
void fv_serve(struct fv *f);
/* Free DMA memory. */
void fv_fini(struct fv *f);
/* CPU pointer for a DMA reference range, or NULL if outside every buffer. */
void *fv_ref(struct fv *f, uint64_t ref, size_t len);

#endif
