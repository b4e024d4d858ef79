/* Private model of the simulated virtio devices (VIRTIO 1.2).
 *
 * Files: dev_virtio_pci.c is the PCI modern transport (§4.1): common
 * configuration, ISR, device configuration window, notify, the status
 * state machine and per-queue registers. dev_virtio_ring.c is the device
 * side of the split virtqueue (§2.7): taking available entries, walking
 * chains, writing used elements, notification suppression, and the fault
 * knobs that corrupt completions. dev_virtio_blk.c is the block device
 * (§5.2): request execution over a memory- or file-backed disk (blk_store.c). dev_virtio_net.c
 * is the network device (§5.1): a transmitq run by the request engine and
 * a receiveq filled from a wire queue with the ring primitives.
 *
 * A device type embeds struct sim_virtio as the FIRST member of its
 * f->dev_state, so the transport can find it. Everything here runs with
 * sim->lock held and reaches memory only through sim_dma_access(). */
#ifndef CAPDRV_SIM_VIRTIO_H
#define CAPDRV_SIM_VIRTIO_H

#include "sim_internal.h"

#include <capdrv/dev/virtio_pci.h>

#define SIM_VIRTIO_MAX_QUEUES CAPDRV_SIM_VIRTIO_MAX_QUEUES
#define SIM_VIRTIO_QSIZE_MAX CAPDRV_SIM_VIRTIO_QSIZE_MAX
/* Longest chain the device follows: Queue Size descriptors (§2.7.5.3.1:
 * the driver must not build a longer one) plus the ring descriptor that
 * points at an indirect table. */
#define SIM_VIRTIO_MAX_SEGS (SIM_VIRTIO_QSIZE_MAX + 1u)
#define SIM_VIRTIO_CONFIG_MAX 0x100u /* device configuration bytes a type may define */

struct sim_virtio;

/* One buffer of a request. */
struct sim_vseg {
    uint64_t addr;
    uint32_t len;
    bool write; /* device-writable */
};

/* One request taken from the available ring: its chain, gathered. The
 * device-readable segments come first (§2.7.4.2); each side is addressed
 * as one byte stream, so no framing is assumed (§2.6.4). */
struct sim_vreq {
    uint16_t head;
    unsigned n;
    struct sim_vseg *seg;  /* device scratch, SIM_VIRTIO_MAX_SEGS entries */
    uint64_t rlen, wlen;   /* bytes device-readable / device-writable */
};

/* A completion waiting to be written to the used ring. */
struct sim_vdone {
    uint32_t id, len;
    uint64_t posted; /* device-writable bytes of the chain (FAULT_USED_LEN) */
};

/* What a device type supplies to the transport: its hook table. */
struct sim_virtio_ops {
    /* Request queues (blk, net transmitq): execute one request; *used_len
     * receives the bytes written into the device-writable part. Returns 0,
     * or a negative error when the request cannot even be completed (no
     * status byte, refused status write): the transport then sets
     * DEVICE_NEEDS_RESET. */
    int (*handle)(struct capdrv_sim *sim, struct sim_fn *f, const struct sim_vreq *req,
                  uint32_t *used_len);
    /* Optional: run queue @qi (at its notify, or at the FAULT_DELAY event)
     * instead of the request engine sim_vq_process(). For queues the device
     * fills on its own schedule, like a net receiveq. */
    void (*process)(struct capdrv_sim *sim, struct sim_fn *f, unsigned qi);
    /* Optional: the device just became live (DRIVER_OK accepted). */
    void (*live)(struct capdrv_sim *sim, struct sim_fn *f);
    /* Fault knobs that apply to this type: bit (1u << fault). */
    uint32_t faults;
};

struct sim_vq {
    uint16_t size_max, size; /* maximum and the driver's Queue Size */
    uint16_t msix;           /* queue_msix_vector */
    bool enabled;
    uint64_t desc, driver, device; /* the three areas (§2.6) */
    uint16_t last_avail; /* next available entry the device takes */
    uint16_t avail_seen; /* avail->idx at the last sim_vq_avail() */
    uint16_t used_idx;   /* next used entry the device writes (its own copy) */
    uint16_t signalled;  /* used_idx at the last notification check (EVENT_IDX) */
    bool signalled_valid;
    bool pending; /* FAULT_DELAY: a notify is waiting for the event */
};

struct sim_virtio {
    const struct sim_virtio_ops *ops;
    uint16_t device_id; /* virtio device id (§5) */
    uint64_t offered;   /* device features */
    uint64_t accepted;  /* driver features as written */
    bool features_ok;   /* FEATURES_OK accepted; features frozen until reset */
    uint32_t dfselect, gfselect;
    uint16_t config_msix, qselect;
    uint8_t status, generation, isr;
    unsigned nq;
    struct sim_vq q[SIM_VIRTIO_MAX_QUEUES];
    uint8_t config[SIM_VIRTIO_CONFIG_MAX]; /* device configuration image */
    enum capdrv_sim_virtio_fault fault;    /* test knob, survives resets */
    uint64_t deadline;                     /* FAULT_DELAY work, or SIM_NEVER */
    struct sim_vseg *segs;                 /* SIM_VIRTIO_MAX_SEGS scratch */
    struct sim_vdone *done;                /* SIM_VIRTIO_QSIZE_MAX scratch */
    /* The virtio-mmio transport (dev_virtio_mmio.c) instead of PCI: every
     * notification goes to vector 0, the interrupt line (§4.2.3.4). */
    bool mmio;
};

static inline struct sim_virtio *sim_vio(const struct sim_fn *f)
{
    return f->dev_state;
}

static inline bool sim_vio_has(const struct sim_virtio *vd, unsigned bit)
{
    return vd->features_ok && ((vd->accepted >> bit) & 1u);
}

/* The virtio device types (blk's sim_dev_ops is in sim_internal.h). */
extern const struct sim_dev_ops sim_dev_virtio_net; /* dev_virtio_net.c */

/* dev_virtio_pci.c: the transport. */
int sim_virtio_init(struct sim_virtio *vd, const struct sim_virtio_ops *ops, uint16_t device_id,
                    uint64_t offered, unsigned nq, unsigned qsize_max);
void sim_virtio_fini(struct sim_virtio *vd);
int sim_virtio_add_caps(struct sim_fn *f);
void sim_virtio_reset(struct sim_virtio *vd);
uint64_t sim_virtio_bar0_read(struct capdrv_sim *sim, struct sim_fn *f, uint64_t off,
                              unsigned width);
void sim_virtio_bar0_write(struct capdrv_sim *sim, struct sim_fn *f, uint64_t off, unsigned width,
                           uint64_t val);
uint64_t sim_virtio_next_event(const struct sim_fn *f);
/* A write of the device status (§2.1, §3.1.1), shared by both transports. */
void sim_virtio_status_write(struct capdrv_sim *sim, struct sim_fn *f, uint8_t v);
/* Enable the selected queue @q (both transports): empty rings. */
void sim_virtio_queue_enable(struct sim_vq *q);

/* dev_virtio_mmio.c: the virtio-mmio version 2 register block (§4.2.2),
 * used instead of the PCI structures when vd->mmio. */
#define SIM_VIRTIO_MMIO_SIZE 0x200u /* as QEMU's virtio-mmio: registers + 256 config bytes */
uint64_t sim_virtio_mmio_read(struct capdrv_sim *sim, struct sim_fn *f, uint64_t off,
                              unsigned width);
void sim_virtio_mmio_write(struct capdrv_sim *sim, struct sim_fn *f, uint64_t off, unsigned width,
                           uint64_t val);
void sim_virtio_run_event(struct capdrv_sim *sim, struct sim_fn *f);
/* The device is broken: DEVICE_NEEDS_RESET and, once the driver is live, a
 * configuration change notification (§2.1.2). */
void sim_virtio_needs_reset(struct sim_fn *f);
/* Configuration change notification: ISR bit 1, config vector (§4.1.4.5). */
void sim_virtio_config_irq(struct sim_fn *f);
int sim_virtio_set_fault(struct sim_fn *f, enum capdrv_sim_virtio_fault fault);

/* Run queue @qi now, or at the FAULT_DELAY event, as a notify would (the
 * device type's process hook, else the request engine). Does nothing
 * unless the device is live and the queue enabled. */
void sim_virtio_kick(struct capdrv_sim *sim, struct sim_fn *f, unsigned qi);
/* Is @f one of the virtio device types? */
bool sim_is_virtio(const struct sim_fn *f);

/* dev_virtio_ring.c: the split virtqueue, device side. */
/* The request engine: execute every available chain with ops->handle,
 * publish, notify. Any ring error sets DEVICE_NEEDS_RESET. */
void sim_vq_process(struct capdrv_sim *sim, struct sim_fn *f, unsigned qi);
/* Primitives for device types that consume buffers on their own schedule
 * (ops->process). Start with sim_vq_begin() (false: the device now needs a
 * reset, stop); sim_vq_avail() counts chains available but not taken;
 * sim_vq_chain() gathers the k-th of them (into the shared segment
 * scratch: valid until the next call) without taking it; the caller
 * advances q->last_avail by the chains it took, fills vd->done[0..nd) and
 * calls sim_vq_publish() (after a successful sim_vq_avail(): avail_event
 * is set to the index it read), then sim_vq_signal() with used_idx from
 * before.
 * Negative returns mean a broken ring: call sim_virtio_needs_reset(). */
bool sim_vq_begin(struct sim_fn *f, unsigned qi);
int sim_vq_avail(struct capdrv_sim *sim, struct sim_fn *f, unsigned qi, uint16_t *n);
int sim_vq_chain(struct capdrv_sim *sim, struct sim_fn *f, unsigned qi, uint16_t k,
                 struct sim_vreq *r);
int sim_vq_publish(struct capdrv_sim *sim, struct sim_fn *f, unsigned qi, unsigned nd);
void sim_vq_signal(struct capdrv_sim *sim, struct sim_fn *f, unsigned qi, uint16_t before);
/* Move bytes between @buf and the device-readable (!@writable) or
 * device-writable stream of @req, starting @off bytes into it. 0,
 * -CAPDRV_ERANGE (stream too short), -CAPDRV_EFAULT (oracle refused). */
int sim_vreq_xfer(struct capdrv_sim *sim, struct sim_fn *f, const struct sim_vreq *req,
                  bool writable, uint64_t off, void *buf, uint64_t len);

#endif /* CAPDRV_SIM_VIRTIO_H */
