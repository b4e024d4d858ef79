/* Private model of the virtio PCI modern profile (VIRTIO 1.2 §4.1).
 *
 * Files: virtio_caps.c finds the structures through the vendor
 * capabilities at bind time; virtio_pci.c enforces the register rules of
 * the common configuration, ISR, device configuration and notify
 * structures; virtio_ring.c runs the DMA lanes at queue enable and at each
 * notify (brokered: materialise a shadow descriptor table and available
 * ring; direct: validate every newly published descriptor). */
#ifndef CAPDRV_SHIM_VIRTIO_PCI_H
#define CAPDRV_SHIM_VIRTIO_PCI_H

#include "../shim_internal.h"

/* §4.1.4: cfg_type values of struct virtio_pci_cap. */
enum {
    VIO_CAP_COMMON = 1,
    VIO_CAP_NOTIFY = 2,
    VIO_CAP_ISR = 3,
    VIO_CAP_DEVICE = 4,
    VIO_CAP_PCI = 5,
    VIO_CAP_TYPES = 6
};

/* §4.1.4.3: struct virtio_pci_common_cfg field offsets. */
enum {
    VIO_DEV_FEAT_SEL = 0x00,
    VIO_DEV_FEAT = 0x04,
    VIO_DRV_FEAT_SEL = 0x08,
    VIO_DRV_FEAT = 0x0c,
    VIO_CONFIG_MSIX = 0x10,
    VIO_NUM_QUEUES = 0x12,
    VIO_STATUS = 0x14,
    VIO_CONFIG_GEN = 0x15,
    VIO_Q_SELECT = 0x16,
    VIO_Q_SIZE = 0x18,
    VIO_Q_MSIX = 0x1a,
    VIO_Q_ENABLE = 0x1c,
    VIO_Q_NOTIFY_OFF = 0x1e,
    VIO_Q_DESC = 0x20,
    VIO_Q_DRIVER = 0x28,
    VIO_Q_DEVICE = 0x30,
    VIO_Q_NOTIFY_DATA = 0x38,
    VIO_Q_RESET = 0x3a,
    VIO_COMMON_MIN_LEN = 0x38 /* up to queue_device: what every 1.x device has */
};

/* §2.7.5 descriptor flags. */
#define VIO_DESC_F_NEXT 1u
#define VIO_DESC_F_WRITE 2u
#define VIO_DESC_F_INDIRECT 4u

#define VIO_MAX_QUEUES 64u    /* queues the profile tracks per function */
#define VIO_MAX_QSIZE 32768u  /* §2.7: largest Queue Size */

/* One structure found through a capability. */
struct vio_region {
    bool present;
    unsigned bar;
    uint64_t offset, length;
};

/* The three areas of a queue (§2.6): descriptor, driver, device. */
enum { VIO_AREA_DESC = 0, VIO_AREA_DRIVER = 1, VIO_AREA_DEVICE = 2, VIO_AREAS = 3 };

struct vio_queue {
    uint64_t ref[VIO_AREAS]; /* references the provider wrote (queue_desc...) */
    bool enabled;
    uint16_t size;           /* Queue Size at enable time */
    uint64_t notify_off;     /* byte offset inside the notify structure */
    uint16_t next_avail;     /* provider avail idx already materialised/validated */
    /* brokered lane: the device-visible descriptor table + available ring */
    bool shadow_live;
    uint32_t shadow_index;   /* ledger index of the shim-owned memory */
    uint8_t *shadow;         /* CPU view */
    /* brokered lane: shim-private staging (a descriptor table and the heads
     * read, never device-visible): a notify resolves every chain here first
     * and copies to the shadow only once all of them passed. */
    uint8_t *stage;
};

struct vio_state {
    /* bind time: where the structures are */
    struct vio_region cap[VIO_CAP_TYPES];
    uint32_t notify_mult;
    /* per claim (cleared by forget) */
    uint32_t dev_feat_sel, drv_feat_sel;
    uint16_t q_select;
    struct vio_queue q[VIO_MAX_QUEUES];
};

/* virtio_caps.c */
int vio_find_caps(struct shim_profile_ctx *ctx, struct vio_state *st, char *why,
                  unsigned long why_len);

/* virtio_ring.c, transport-neutral (used by the PCI and MMIO profiles).
 * vio_ring_prepare: before a queue is enabled with Queue Size @size,
 * check its three areas against the ledger and, in the brokered lane,
 * allocate the shadow descriptor table + available ring; @dev receives
 * the device addresses to program. vio_ring_abort undoes it when the
 * transport could not enable the queue; vio_ring_enabled records success.
 * vio_ring_notify runs the lane check of a notify (§2.7.13). */
int vio_ring_prepare(struct shim_profile_ctx *ctx, struct vio_queue *q, uint64_t size,
                     uint64_t dev[VIO_AREAS]);
void vio_ring_abort(struct shim_profile_ctx *ctx, struct vio_queue *q);
void vio_ring_enabled(struct vio_queue *q, uint64_t size, uint64_t notify_off);
int vio_ring_notify(struct shim_profile_ctx *ctx, struct vio_queue *q);
void vio_ring_drop_all(struct shim_profile_ctx *ctx, struct vio_queue *qs, unsigned n);
/* At unbind (the ledger is already gone): free only the staging tables. */
void vio_ring_free_stages(struct shim_profile_ctx *ctx, struct vio_queue *qs, unsigned n);

/* virtio_ring.c, PCI */
int vio_queue_enable(struct shim_profile_ctx *ctx, struct vio_state *st, unsigned qi);
int vio_queue_notify(struct shim_profile_ctx *ctx, struct vio_state *st, unsigned qi);
/* The device was reset: free shadows, forget every queue. */
void vio_queues_drop(struct shim_profile_ctx *ctx, struct vio_state *st);

/* Transport feature bits (24..49, §6) a provider may see and negotiate:
 * the rest change the ring format or the notify protocol, which the shim
 * would then have to understand to keep its lane guarantees. */
uint64_t vio_allowed_features(enum capdrv_lane lane);

/* Little-endian loads/stores on memory another party may write (provider
 * rings): byte accesses through volatile, so each byte is read once. */
static inline uint64_t vio_le_load(const volatile uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static inline void vio_le_store(volatile uint8_t *p, unsigned n, uint64_t v)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

#endif
