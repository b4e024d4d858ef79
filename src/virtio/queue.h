/* One driver queue: its DMA buffer (ring, indirect tables and a caller's
 * extra area), the split-ring state, the transport's queue and its
 * interrupt. Shared by the virtio-blk and virtio-net drivers. */
#ifndef CAPDRV_VIRTIO_QUEUE_H
#define CAPDRV_VIRTIO_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <capdrv/sys.h>
#include <capdrv/virtio.h>
#include <capdrv/virtq.h>

#include "transport.h"

struct vio_queue {
    struct capdrv_virtq vq;
    struct capdrv_virtio_pci_queue pq;
    capdrv_cap_t buf;             /* ring + indirect tables + extra */
    struct capdrv_dmabuf_info bi;
    void *state;                  /* virtq private state */
    capdrv_cap_t irq;             /* or 0 */
    unsigned size;
    int doorbell_rc;              /* < 0: a doorbell was refused; the queue is unusable */
    unsigned since_audit;         /* completions reaped since the last vio_queue_audit() */
};

/* What vio_queue_setup() needs besides the queue. */
struct vio_queue_params {
    capdrv_sys *sys;
    capdrv_cap_t grant, pool;
    struct capdrv_virtio_pci *vp; /* the PCI transport, when vt is NULL */
    struct vt *vt;     /* or any transport (transport.h); then lane names its lane */
    int lane;          /* enum capdrv_lane, with vt */
    unsigned index;    /* queue index on the device */
    unsigned size;     /* Queue Size (already capped by the device) */
    unsigned ind_max;  /* descriptors per indirect table, 0: none */
    size_t extra;      /* bytes after the ring and tables (64-byte aligned) */
    uint16_t vector;   /* MSI-X vector (opened here), or CAPDRV_VIRTIO_MSI_NO_VECTOR: polling */
    bool shared_line;  /* with NO_VECTOR: interrupts come on the transport's one line,
                          which the caller owns (virtio-mmio, VIRTIO 1.2 §4.2.3.4), so
                          used-buffer notifications stay on */
};

/* Allocate the queue's DMA buffer, initialise the ring, open its vector and
 * enable it on the device (§2.7, §4.1.5.1.3). @extra_off (may be NULL)
 * receives the offset of the extra area. On failure what was taken stays
 * recorded in @q for vio_queue_free(). */
int vio_queue_setup(struct vio_queue *q, const struct vio_queue_params *p, size_t *extra_off,
                    char *why, size_t why_len);

/* Count @reaped completions just taken from @q's used ring and, once per
 * Queue Size of them, audit the whole driver area (capdrv_virtq_verify():
 * avail flags, idx, every ring entry, used_event). The driver area is
 * "only written by the driver and read by the device" (VIRTIO 1.2
 * §2.7.6); publish checks only the header and the entries it exposes, so
 * this is where a device that rewrote an earlier entry is caught. O(Queue
 * Size) every Queue Size completions: at most one entry compared per
 * completion. Returns 0, or -CAPDRV_EPROTO with the queue marked broken
 * (CAPDRV_VIRTQ_FAULT_AVAIL_*). Allocates nothing. */
static inline int vio_queue_audit(struct vio_queue *q, unsigned reaped)
{
    q->since_audit += reaped;
    if (q->since_audit < q->size)
        return 0;
    q->since_audit = 0;
    return capdrv_virtq_verify(&q->vq);
}

/* Release what vio_queue_setup() took (after the device was reset). */
void vio_queue_free(capdrv_sys *sys, struct vio_queue *q);

#endif
