/* The virtio-mmio transport of the simulator, version 2 (VIRTIO 1.2 §4.2).
 *
 * The register block (§4.2.2) in front of the same device back ends as the
 * PCI transport (struct sim_virtio: status machine, features, queues, the
 * ring engine of dev_virtio_ring.c, the block device of
 * dev_virtio_blk.c). Differences from PCI, all from §4.2:
 * - control registers are 32 bits wide; other widths or misaligned
 *   accesses read 0 and are dropped, as a hardware decoder would;
 * - QueueSel/QueueNum/QueueNotify/InterruptACK and the queue addresses
 *   are write-only, the identification registers read-only;
 * - InterruptStatus (bit 0 used buffer, bit 1 configuration change) is
 *   not cleared by reading; the driver writes the bits it handled to
 *   InterruptACK (§4.2.3.4). The interrupt line is vector 0 of the
 *   function: it fires each time the device sets a bit.
 * Everything runs with sim->lock held. */
#include "sim_virtio.h"

#include <capdrv/virtio_mmio.h>

#define VMM_VENDOR 0x554d4551u /* "QEMU": what QEMU's devices report */

static struct sim_vq *selected(struct sim_virtio *vd)
{
    return vd->qselect < vd->nq ? &vd->q[vd->qselect] : NULL;
}

/* The three queue areas as 32-bit halves: QueueDescLow 0x080 ... */
static uint64_t *queue_area(struct sim_vq *q, uint64_t off, unsigned *shift)
{
    if (off < CAPDRV_VIRTIO_MMIO_QUEUE_DESC_LOW || off > CAPDRV_VIRTIO_MMIO_QUEUE_DEVICE_HIGH ||
        (off & 0xfu) >= 8u)
        return NULL;
    *shift = (off & 4u) ? 32u : 0u;
    switch ((off - CAPDRV_VIRTIO_MMIO_QUEUE_DESC_LOW) / 0x10u) {
    case 0:
        return &q->desc;
    case 1:
        return &q->driver;
    default:
        return &q->device;
    }
}

uint64_t sim_virtio_mmio_read(struct capdrv_sim *sim, struct sim_fn *f, uint64_t off,
                              unsigned width)
{
    (void)sim;
    struct sim_virtio *vd = sim_vio(f);
    if (off >= CAPDRV_VIRTIO_MMIO_CONFIG) {
        /* §4.2.2: device-specific configuration from 0x100. */
        uint64_t rel = off - CAPDRV_VIRTIO_MMIO_CONFIG, v = 0;
        for (unsigned i = 0; i < width; i++)
            if (rel + i < SIM_VIRTIO_CONFIG_MAX)
                v |= (uint64_t)vd->config[rel + i] << (8 * i);
        return v;
    }
    if (width != 4 || (off & 3u))
        return 0; /* §4.2.2.2: control registers are 32-bit only */
    struct sim_vq *q = selected(vd);
    switch (off) {
    case CAPDRV_VIRTIO_MMIO_MAGIC_VALUE:
        return CAPDRV_VIRTIO_MMIO_MAGIC;
    case CAPDRV_VIRTIO_MMIO_VERSION_REG:
        return CAPDRV_VIRTIO_MMIO_VERSION;
    case CAPDRV_VIRTIO_MMIO_DEVICE_ID:
        return vd->device_id;
    case CAPDRV_VIRTIO_MMIO_VENDOR_ID:
        return VMM_VENDOR;
    case CAPDRV_VIRTIO_MMIO_DEVICE_FEATURES:
        return vd->dfselect < 2 ? (uint32_t)(vd->offered >> (32 * vd->dfselect)) : 0;
    case CAPDRV_VIRTIO_MMIO_QUEUE_NUM_MAX:
        /* 0: the queue is not available (§4.2.2). */
        return q ? q->size_max : 0;
    case CAPDRV_VIRTIO_MMIO_QUEUE_READY:
        return q ? q->enabled : 0;
    case CAPDRV_VIRTIO_MMIO_INTERRUPT_STATUS:
        return vd->isr;
    case CAPDRV_VIRTIO_MMIO_STATUS:
        return vd->status;
    case CAPDRV_VIRTIO_MMIO_CONFIG_GENERATION:
        return vd->generation;
    default:
        return 0; /* write-only registers and reserved space */
    }
}

void sim_virtio_mmio_write(struct capdrv_sim *sim, struct sim_fn *f, uint64_t off, unsigned width,
                           uint64_t val)
{
    struct sim_virtio *vd = sim_vio(f);
    if (off >= CAPDRV_VIRTIO_MMIO_CONFIG || width != 4 || (off & 3u))
        return; /* configuration is read-only here (no CONFIG_WCE) */
    struct sim_vq *q = selected(vd);
    unsigned shift;
    uint64_t *area = q && !q->enabled ? queue_area(q, off, &shift) : NULL;
    if (area) {
        /* §4.2.3.2: the driver programs a queue before QueueReady; the
         * device uses what it saw then. */
        *area = (*area & ~(0xffffffffull << shift)) | ((val & 0xffffffffull) << shift);
        return;
    }
    switch (off) {
    case CAPDRV_VIRTIO_MMIO_DEVICE_FEATURES_SEL:
        vd->dfselect = (uint32_t)val;
        break;
    case CAPDRV_VIRTIO_MMIO_DRIVER_FEATURES_SEL:
        vd->gfselect = (uint32_t)val;
        break;
    case CAPDRV_VIRTIO_MMIO_DRIVER_FEATURES:
        /* Frozen once FEATURES_OK was accepted (§3.1.1 step 5). */
        if (vd->gfselect < 2 && !vd->features_ok) {
            unsigned s = 32 * vd->gfselect;
            vd->accepted = (vd->accepted & ~(0xffffffffull << s)) | ((val & 0xffffffffull) << s);
        }
        break;
    case CAPDRV_VIRTIO_MMIO_QUEUE_SEL:
        vd->qselect = (uint16_t)(val > 0xffffu ? 0xffffu : val);
        break;
    case CAPDRV_VIRTIO_MMIO_QUEUE_NUM:
        /* Split rings: a power of two, at most QueueNumMax (§2.7, §4.2.2). */
        if (q && !q->enabled && val != 0 && (val & (val - 1u)) == 0 && val <= q->size_max)
            q->size = (uint16_t)val;
        break;
    case CAPDRV_VIRTIO_MMIO_QUEUE_READY:
        if (q && val == 1 && !q->enabled && !(vd->status & CAPDRV_VPCI_S_DRIVER_OK))
            sim_virtio_queue_enable(q);
        else if (q && val == 0)
            q->enabled = false; /* §4.2.2: the driver may stop using the queue */
        break;
    case CAPDRV_VIRTIO_MMIO_QUEUE_NOTIFY:
        /* The value is the queue index (no NOTIFICATION_DATA); untrusted. */
        if (val < vd->nq)
            sim_virtio_kick(sim, f, (unsigned)val);
        break;
    case CAPDRV_VIRTIO_MMIO_INTERRUPT_ACK:
        vd->isr &= (uint8_t)~val; /* §4.2.3.4 */
        break;
    case CAPDRV_VIRTIO_MMIO_STATUS:
        sim_virtio_status_write(sim, f, (uint8_t)val); /* 0 resets (§4.2.2.1) */
        break;
    default:
        break; /* read-only or not implemented (shared memory, QueueReset) */
    }
}
