/* Private to src/virtio: the seam between the transport-neutral device
 * logic (device.c: status machine §3.1.1, feature negotiation §2.2,
 * configuration reads §2.5, queue setup §4.1.5.1.3 / §4.2.3.2) and the
 * transports that reach the registers (pci_transport.c over the PCI common
 * configuration structure §4.1.4.3, mmio.c over the virtio-mmio register
 * block §4.2.2).
 *
 * A transport maps abstract registers onto its own layout. device.c never
 * knows an offset; the transports never know the order of the steps. */
#ifndef CAPDRV_VIRTIO_TRANSPORT_H
#define CAPDRV_VIRTIO_TRANSPORT_H

#include <capdrv/virtq.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* The registers device.c uses. Both transports have 32-bit feature words
 * behind a select register, a status byte (MMIO: low byte of a 32-bit
 * register), a queue selected by index, and 64-bit ring addresses split
 * into two 32-bit halves (§4.1.3.1, §4.2.2.2). */
enum vt_reg {
    VT_DEV_FEATURE_SEL, /* PCI device_feature_select, MMIO DeviceFeaturesSel */
    VT_DEV_FEATURE,     /* PCI device_feature, MMIO DeviceFeatures (read-only) */
    VT_DRV_FEATURE_SEL, /* PCI driver_feature_select, MMIO DriverFeaturesSel */
    VT_DRV_FEATURE,     /* PCI driver_feature, MMIO DriverFeatures */
    VT_STATUS,          /* PCI device_status, MMIO Status */
    VT_CONFIG_GEN,      /* PCI config_generation, MMIO ConfigGeneration */
    VT_QUEUE_SEL,       /* PCI queue_select, MMIO QueueSel */
    VT_QUEUE_MAX,       /* PCI queue_size before it is written, MMIO QueueNumMax */
    VT_QUEUE_SIZE,      /* PCI queue_size, MMIO QueueNum (write) */
    VT_QUEUE_ENABLE,    /* PCI queue_enable, MMIO QueueReady */
    VT_QUEUE_DESC_LO,   /* ring addresses, low then high halves */
    VT_QUEUE_DESC_HI,
    VT_QUEUE_DRIVER_LO,
    VT_QUEUE_DRIVER_HI,
    VT_QUEUE_DEVICE_LO,
    VT_QUEUE_DEVICE_HI,
    VT_QUEUE_VECTOR,  /* PCI queue_msix_vector; absent on MMIO */
    VT_CONFIG_VECTOR, /* PCI config_msix_vector; absent on MMIO */
    VT_REG_COUNT
};

/* One transport. @t is the transport's handle (struct capdrv_virtio_pci or
 * struct capdrv_virtio_mmio). Every hook returns 0 or a negative
 * CAPDRV_E* code. */
struct vt_ops {
    /* Read or write an abstract register (a register the transport lacks:
     * -CAPDRV_ENOTSUP). Values are zero-extended to 64 bits. */
    int (*read)(void *t, enum vt_reg reg, uint64_t *val);
    int (*write)(void *t, enum vt_reg reg, uint64_t val);
    /* One naturally aligned access of @width (1, 2 or 4) bytes at @off in
     * the device-specific configuration; device.c has bounds-checked
     * [off, off+width) against vt::config_len. */
    int (*config_read)(void *t, uint64_t off, unsigned width, uint64_t *val);
    /* Called during queue setup after the addresses are written and before
     * the queue is enabled: find the doorbell of the selected queue
     * @index and check it (PCI §4.1.4.4); MMIO has one QueueNotify
     * register (§4.2.2) and returns 0. */
    int (*doorbell)(void *t, unsigned index, uint64_t *notify_off);
    /* Ring the doorbell of queue @index (§4.1.5.2, §4.2.3.3). */
    int (*notify)(void *t, uint16_t index, uint64_t notify_off);
    /* Nonzero: the transport routes interrupts through per-queue vectors
     * (PCI MSI-X); zero: one interrupt line (MMIO, §4.2.3.4). */
    unsigned has_vectors;
    /* Nonzero: read the queue's enable register before programming it
     * and refuse a queue already in use (MMIO §4.2.3.2 step 2). */
    unsigned check_unused;
};

/* A transport-bound device as device.c sees it: built on the stack by the
 * public wrappers from the transport's handle, pointing at the handle's
 * fields that the core updates. */
struct vt {
    const struct vt_ops *ops;
    void *t;
    uint8_t *status;     /* device status as last written */
    uint64_t *features;  /* negotiated features */
    uint64_t config_len; /* bytes of device-specific configuration (0: none) */
    unsigned num_queues; /* queue indexes accepted: 0 .. num_queues-1 */
};

/* §4.1.4.3.2 / §4.2.2: write 0, wait (bounded) for status 0. */
int vt_reset(struct vt *v);
int vt_get_status(struct vt *v, uint8_t *status);
/* 0 healthy, -CAPDRV_EIO on DEVICE_NEEDS_RESET (§2.1.1). */
int vt_check(struct vt *v);
int vt_fail(struct vt *v);
/* Set status bit(s) on top of what was written before (§3.1.1). */
int vt_set_status(struct vt *v, uint8_t bits);
int vt_device_features(struct vt *v, uint64_t *features);
int vt_negotiate(struct vt *v, uint64_t wanted, uint64_t *accepted);
int vt_driver_ok(struct vt *v);
int vt_config_read(struct vt *v, uint32_t offset, void *buf, size_t len);
int vt_queue_max(struct vt *v, unsigned index, unsigned *max);
/* Program and enable queue @index; @vector is used only when the
 * transport has vectors. */
int vt_queue_setup(struct vt *v, unsigned index, const struct capdrv_virtq *vq, uint16_t vector,
                   uint64_t *notify_off);
int vt_config_vector(struct vt *v, uint16_t vector);
/* The lane rule of a doorbell after capdrv_virtq_publish(): 1 rang, 0 not
 * needed (capdrv_virtio_pci_kick() documents it). */
int vt_kick(struct vt *v, int lane, uint16_t index, uint64_t notify_off, struct capdrv_virtq *vq);

/* Format a reason into @why (NULL allowed). */
void vp_say(char *why, size_t why_len, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#endif
