/* Private to src/virtio: the virtio-blk handle, shared by blk.c (bring-up)
 * and blk_io.c (requests). */
#ifndef CAPDRV_VIRTIO_BLK_INTERNAL_H
#define CAPDRV_VIRTIO_BLK_INTERNAL_H

#include <stdbool.h>

#include <capdrv/virtio_blk.h>
#include <capdrv/virtio_mmio.h>

#include "queue.h"
#include "transport.h"

/* struct virtio_blk_config (VIRTIO 1.2 §5.2.4), byte offsets. */
#define VBLK_CFG_CAPACITY 0x00u                 /* le64 */
#define VBLK_CFG_SEG_MAX 0x0cu                  /* le32 */
#define VBLK_CFG_BLK_SIZE 0x14u                 /* le32 */
#define VBLK_CFG_NUM_QUEUES 0x22u               /* le16 */
#define VBLK_CFG_MAX_DISCARD_SECTORS 0x24u      /* le32 */
#define VBLK_CFG_MAX_WRITE_ZEROES_SECTORS 0x30u /* le32 */

/* Per-request driver memory inside the queue's DMA buffer: the header
 * (struct virtio_blk_req's leading fields), one discard/write-zeroes range
 * (struct virtio_blk_discard_write_zeroes) and the status byte, each in a
 * separate segment (§5.2.6). */
#define VBLK_SLOT_BYTES 64u
#define VBLK_SLOT_HDR 0u     /* le32 type, le32 reserved, le64 sector */
#define VBLK_HDR_BYTES 16u
#define VBLK_SLOT_RANGE 16u  /* le64 sector, le32 num_sectors, le32 flags */
#define VBLK_RANGE_BYTES 16u
#define VBLK_SLOT_STATUS 48u /* u8 status, device-writable */

/* Status value the driver stores before submitting: never a valid answer,
 * so a device that completes without writing the byte is caught. */
#define VBLK_STATUS_UNSET 0xffu

/* Private per-request state (the virtq cookie points here). */
struct vblk_slot {
    void *cookie;     /* caller's */
    uint32_t type;    /* request type */
    uint32_t in_len;  /* device-writable bytes posted, status included */
    uint32_t index;   /* slot number: header memory and free stack */
};

struct vblk_queue {
    struct vio_queue io;             /* ring, transport queue, vector (queue.c) */
    size_t slot_off;                 /* offset of slot 0 in io.bi: header/range/status */
    struct vblk_slot *slots;         /* queue-size entries */
    uint32_t *free_stack;            /* free slot numbers */
    unsigned n_free;
    unsigned inflight;
};

struct capdrv_virtio_blk {
    capdrv_sys *sys;
    capdrv_cap_t grant;
    capdrv_cap_t pool;
    capdrv_cap_t cfg_irq;            /* PCI: MSI-X vector 0 (configuration changes);
                                        MMIO: the device's one line (§4.2.3.4); or 0 */
    bool mmio;                       /* transport: virtio-mmio (vm), else PCI (vp) */
    struct capdrv_virtio_pci vp;
    struct capdrv_virtio_mmio vm;
    struct capdrv_virtio_blk_info info;
    unsigned seg_limit;              /* data segments per request */
    struct vblk_queue q[CAPDRV_VIRTIO_BLK_MAX_QUEUES];
    int cancel_rc;                   /* 0, or the reset's result once cancelled */
    unsigned cancel_q;               /* queue capdrv_virtio_blk_cancel() resumes at */
    bool cancelled;                  /* the device was reset: only cancel/close work */
};

/* The transport view (transport.h) of the handle's device, either
 * transport (blk.c). */
void vblk_transport(struct capdrv_virtio_blk *b, struct vt *v);

#endif
