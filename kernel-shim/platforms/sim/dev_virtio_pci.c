/* The virtio PCI modern transport of the simulator (VIRTIO 1.2 §4.1).
 *
 * BAR0 (16 KiB) holds the four structures at fixed offsets (capdrv/sim.h
 * CAPDRV_SIM_VIRTIO_*_OFF); the vendor capabilities in config space point
 * at them (§4.1.4). This file decodes BAR0, keeps the status state machine
 * (§2.1, §3.1.1) and per-queue registers, and routes notifies to the ring
 * engine (dev_virtio_ring.c). Registers are decoded only at their own
 * offset and natural width (§4.1.3.1); 64-bit queue addresses also as two
 * 32-bit halves. Anything else reads 0 and is dropped on write, as a
 * hardware decoder would. */
#include "sim_virtio.h"

#include <stdlib.h>
#include <string.h>

int sim_virtio_init(struct sim_virtio *vd, const struct sim_virtio_ops *ops, uint16_t device_id,
                    uint64_t offered, unsigned nq, unsigned qsize_max)
{
    memset(vd, 0, sizeof *vd);
    vd->ops = ops;
    vd->device_id = device_id;
    vd->offered = offered;
    vd->nq = nq;
    vd->fault = CAPDRV_SIM_VIRTIO_FAULT_NONE;
    vd->segs = calloc(SIM_VIRTIO_MAX_SEGS, sizeof *vd->segs);
    vd->done = calloc(SIM_VIRTIO_QSIZE_MAX, sizeof *vd->done);
    if (!vd->segs || !vd->done) {
        sim_virtio_fini(vd);
        return -CAPDRV_ENOMEM;
    }
    for (unsigned i = 0; i < nq; i++)
        vd->q[i].size_max = (uint16_t)qsize_max;
    sim_virtio_reset(vd);
    return 0;
}

void sim_virtio_fini(struct sim_virtio *vd)
{
    free(vd->segs);
    free(vd->done);
    vd->segs = NULL;
    vd->done = NULL;
}

/* One struct virtio_pci_cap (§4.1.4) into @c (@len bytes, zeroed). */
static void cap_fill(uint8_t *c, unsigned len, uint8_t type, uint32_t off, uint32_t length)
{
    memset(c, 0, len);
    c[CAPDRV_VPCI_CAP_VNDR] = CAPDRV_VPCI_CAP_ID_VNDR;
    c[CAPDRV_VPCI_CAP_LEN] = (uint8_t)len;
    c[CAPDRV_VPCI_CAP_CFG_TYPE] = type;
    c[CAPDRV_VPCI_CAP_BAR] = 0;
    sim_le_put(&c[CAPDRV_VPCI_CAP_OFFSET], 4, off);
    sim_le_put(&c[CAPDRV_VPCI_CAP_LENGTH], 4, length);
}

int sim_virtio_add_caps(struct sim_fn *f)
{
    uint8_t c[CAPDRV_VPCI_CFG_CAP_SIZE], wm[CAPDRV_VPCI_CFG_CAP_SIZE];
    uint32_t ok = 1;

    cap_fill(c, CAPDRV_VPCI_CAP_SIZE, CAPDRV_VPCI_CAP_COMMON_CFG, CAPDRV_SIM_VIRTIO_COMMON_OFF,
             CAPDRV_SIM_VIRTIO_COMMON_LEN);
    ok = ok && sim_pci_add_cap(f, c, CAPDRV_VPCI_CAP_SIZE, NULL);

    /* §4.1.4.4: queue q's doorbell is at offset + queue_notify_off *
     * notify_off_multiplier; queue_notify_off(q) = q here. */
    cap_fill(c, CAPDRV_VPCI_NOTIFY_CAP_SIZE, CAPDRV_VPCI_CAP_NOTIFY_CFG,
             CAPDRV_SIM_VIRTIO_NOTIFY_OFF, CAPDRV_SIM_VIRTIO_NOTIFY_LEN);
    sim_le_put(&c[CAPDRV_VPCI_NOTIFY_CAP_MULT], 4, CAPDRV_SIM_VIRTIO_NOTIFY_MULT);
    ok = ok && sim_pci_add_cap(f, c, CAPDRV_VPCI_NOTIFY_CAP_SIZE, NULL);

    cap_fill(c, CAPDRV_VPCI_CAP_SIZE, CAPDRV_VPCI_CAP_ISR_CFG, CAPDRV_SIM_VIRTIO_ISR_OFF,
             CAPDRV_SIM_VIRTIO_ISR_LEN);
    ok = ok && sim_pci_add_cap(f, c, CAPDRV_VPCI_CAP_SIZE, NULL);

    cap_fill(c, CAPDRV_VPCI_CAP_SIZE, CAPDRV_VPCI_CAP_DEVICE_CFG, CAPDRV_SIM_VIRTIO_DEVICE_OFF,
             CAPDRV_SIM_VIRTIO_DEVICE_LEN);
    ok = ok && sim_pci_add_cap(f, c, CAPDRV_VPCI_CAP_SIZE, NULL);

    /* §4.1.4.9: the driver writes bar/offset/length and then accesses
     * pci_cfg_data. The fields are writable; the data window is NOT wired
     * to the BAR (documented in capdrv/sim.h): it reads what was written. */
    cap_fill(c, CAPDRV_VPCI_CFG_CAP_SIZE, CAPDRV_VPCI_CAP_PCI_CFG, 0, 0);
    memset(wm, 0, sizeof wm);
    wm[CAPDRV_VPCI_CAP_BAR] = 0xff;
    memset(&wm[CAPDRV_VPCI_CAP_OFFSET], 0xff, 4);
    memset(&wm[CAPDRV_VPCI_CAP_LENGTH], 0xff, 4);
    memset(&wm[CAPDRV_VPCI_CFG_CAP_DATA], 0xff, 4);
    ok = ok && sim_pci_add_cap(f, c, CAPDRV_VPCI_CFG_CAP_SIZE, wm);
    return ok ? 0 : -CAPDRV_ENOSPC;
}

void sim_virtio_reset(struct sim_virtio *vd)
{
    /* §2.4 / §4.1.4.3.2: reset returns the device to its initial state:
     * no features, no queues, ISR clear, vectors NO_VECTOR (§4.1.5.1.2).
     * Work scheduled by FAULT_DELAY is dropped: after a reset the device
     * must not touch the old rings. The generation counter keeps counting
     * (it only has to change when the configuration does, §4.1.4.3). */
    vd->status = 0;
    vd->accepted = 0;
    vd->features_ok = false;
    vd->dfselect = vd->gfselect = 0;
    /* virtio-mmio has one interrupt line (vector 0) for everything. */
    vd->config_msix = vd->mmio ? 0 : CAPDRV_VPCI_MSI_NO_VECTOR;
    vd->qselect = 0;
    vd->isr = 0;
    vd->deadline = SIM_NEVER;
    for (unsigned i = 0; i < SIM_VIRTIO_MAX_QUEUES; i++) {
        struct sim_vq *q = &vd->q[i];
        uint16_t max = q->size_max;
        memset(q, 0, sizeof *q);
        q->size_max = max;
        q->size = max;
        q->msix = vd->mmio ? 0 : CAPDRV_VPCI_MSI_NO_VECTOR;
    }
}

int sim_virtio_set_fault(struct sim_fn *f, enum capdrv_sim_virtio_fault fault)
{
    switch (fault) {
    case CAPDRV_SIM_VIRTIO_FAULT_NONE:
    case CAPDRV_SIM_VIRTIO_FAULT_IOERR:
    case CAPDRV_SIM_VIRTIO_FAULT_DELAY:
    case CAPDRV_SIM_VIRTIO_FAULT_REORDER:
    case CAPDRV_SIM_VIRTIO_FAULT_USED_ID_RANGE:
    case CAPDRV_SIM_VIRTIO_FAULT_USED_LEN:
    case CAPDRV_SIM_VIRTIO_FAULT_DOUBLE:
    case CAPDRV_SIM_VIRTIO_FAULT_NEEDS_RESET:
        /* A knob the type has no use for (IOERR on a net device) is
         * refused rather than silently ignored. */
        if (!(sim_vio(f)->ops->faults & (1u << fault)))
            return -CAPDRV_ENOTSUP;
        sim_vio(f)->fault = fault;
        return 0;
    }
    return -CAPDRV_EINVAL;
}

void sim_virtio_config_irq(struct sim_fn *f)
{
    struct sim_virtio *vd = sim_vio(f);
    vd->isr |= CAPDRV_VPCI_ISR_CONFIG; /* §4.1.4.5 */
    if (vd->config_msix != CAPDRV_VPCI_MSI_NO_VECTOR)
        sim_irq_raise(f, vd->config_msix);
}

void sim_virtio_needs_reset(struct sim_fn *f)
{
    struct sim_virtio *vd = sim_vio(f);
    if (vd->status & CAPDRV_VPCI_S_DEVICE_NEEDS_RESET)
        return;
    vd->status |= CAPDRV_VPCI_S_DEVICE_NEEDS_RESET;
    vd->deadline = SIM_NEVER;
    for (unsigned i = 0; i < SIM_VIRTIO_MAX_QUEUES; i++)
        vd->q[i].pending = false;
    /* §2.1.2: with DRIVER_OK set, the device must send a configuration
     * change notification after setting DEVICE_NEEDS_RESET. */
    if (vd->status & CAPDRV_VPCI_S_DRIVER_OK)
        sim_virtio_config_irq(f);
}

/* The device consumes buffers only after DRIVER_OK (§3.1.1), with features
 * negotiated, and not once it asked for a reset (§2.1.2). */
static bool live(const struct sim_virtio *vd)
{
    uint8_t need = CAPDRV_VPCI_S_DRIVER_OK | CAPDRV_VPCI_S_FEATURES_OK;
    return (vd->status & need) == need && vd->features_ok &&
           !(vd->status & CAPDRV_VPCI_S_DEVICE_NEEDS_RESET);
}

static struct sim_vq *selected(struct sim_virtio *vd)
{
    return vd->qselect < vd->nq ? &vd->q[vd->qselect] : NULL;
}

/* §4.1.5.1.2.1: a vector the device cannot map reads back NO_VECTOR. */
static uint16_t vector_or_none(const struct sim_fn *f, uint64_t v)
{
    return v < f->n_vectors ? (uint16_t)v : CAPDRV_VPCI_MSI_NO_VECTOR;
}

/* A 64-bit queue address field at @base accessed at (@off, @width)? Sets
 * the bit shift of the accessed part and its mask. */
static bool addr_part(uint64_t off, unsigned width, uint64_t base, unsigned *shift,
                      uint64_t *mask)
{
    if (width == 8 && off == base) {
        *shift = 0;
        *mask = UINT64_MAX;
        return true;
    }
    if (width == 4 && (off == base || off == base + 4)) {
        *shift = off == base ? 0 : 32;
        *mask = 0xffffffffull << *shift;
        return true;
    }
    return false;
}

static uint64_t *queue_addr(struct sim_vq *q, uint64_t off, unsigned width, unsigned *shift,
                            uint64_t *mask)
{
    if (addr_part(off, width, CAPDRV_VPCI_COMMON_Q_DESCLO, shift, mask))
        return &q->desc;
    if (addr_part(off, width, CAPDRV_VPCI_COMMON_Q_AVAILLO, shift, mask))
        return &q->driver;
    if (addr_part(off, width, CAPDRV_VPCI_COMMON_Q_USEDLO, shift, mask))
        return &q->device;
    return NULL;
}

static uint64_t common_read(const struct sim_fn *f, struct sim_virtio *vd, uint64_t off,
                            unsigned width)
{
    (void)f;
    struct sim_vq *q = selected(vd);
    unsigned shift;
    uint64_t mask;
    if (q && off >= CAPDRV_VPCI_COMMON_Q_DESCLO && off < CAPDRV_VPCI_COMMON_Q_NDATA) {
        uint64_t *a = queue_addr(q, off, width, &shift, &mask);
        return a ? (*a & mask) >> shift : 0;
    }
    unsigned w = width;
    switch (off) {
    case CAPDRV_VPCI_COMMON_DFSELECT:
        return w == 4 ? vd->dfselect : 0;
    case CAPDRV_VPCI_COMMON_DF:
        /* 32 feature bits per select value; words past 1 are zero (§4.1.4.3). */
        return w == 4 && vd->dfselect < 2 ? (uint32_t)(vd->offered >> (32 * vd->dfselect)) : 0;
    case CAPDRV_VPCI_COMMON_GFSELECT:
        return w == 4 ? vd->gfselect : 0;
    case CAPDRV_VPCI_COMMON_GF:
        return w == 4 && vd->gfselect < 2 ? (uint32_t)(vd->accepted >> (32 * vd->gfselect)) : 0;
    case CAPDRV_VPCI_COMMON_MSIX:
        return w == 2 ? vd->config_msix : 0;
    case CAPDRV_VPCI_COMMON_NUMQ:
        return w == 2 ? vd->nq : 0;
    case CAPDRV_VPCI_COMMON_STATUS:
        return w == 1 ? vd->status : 0;
    case CAPDRV_VPCI_COMMON_CFGGENERATION:
        return w == 1 ? vd->generation : 0;
    case CAPDRV_VPCI_COMMON_Q_SELECT:
        return w == 2 ? vd->qselect : 0;
    case CAPDRV_VPCI_COMMON_Q_SIZE:
        /* 0: no such queue (§4.1.4.3). */
        return w == 2 && q ? q->size : 0;
    case CAPDRV_VPCI_COMMON_Q_MSIX:
        return w != 2 ? 0 : q ? q->msix : CAPDRV_VPCI_MSI_NO_VECTOR;
    case CAPDRV_VPCI_COMMON_Q_ENABLE:
        return w == 2 && q ? q->enabled : 0;
    case CAPDRV_VPCI_COMMON_Q_NOFF:
        return w == 2 && q ? vd->qselect : 0;
    default:
        return 0; /* queue_notify_data, queue_reset: features not offered */
    }
}

void sim_virtio_status_write(struct capdrv_sim *sim, struct sim_fn *f, uint8_t v)
{
    struct sim_virtio *vd = sim_vio(f);
    bool was_live = live(vd);
    if (v == 0) {
        sim_virtio_reset(vd); /* §4.1.4.3.2: reads back 0 once done: at once here */
        return;
    }
    if ((v & CAPDRV_VPCI_S_FEATURES_OK) && !vd->features_ok) {
        /* §3.1.1 step 5-6 and §6.1: the driver may accept only offered
         * features, and a non-legacy driver must accept VERSION_1; else
         * the device leaves FEATURES_OK clear. */
        bool ok = (vd->accepted & ~vd->offered) == 0 &&
                  ((vd->accepted >> CAPDRV_VPCI_F_VERSION_1) & 1u);
        if (ok)
            vd->features_ok = true;
        else
            v &= (uint8_t)~CAPDRV_VPCI_S_FEATURES_OK;
    }
    /* DEVICE_NEEDS_RESET belongs to the device (§2.1). */
    v &= (uint8_t)~CAPDRV_VPCI_S_DEVICE_NEEDS_RESET;
    vd->status = (uint8_t)(v | (vd->status & CAPDRV_VPCI_S_DEVICE_NEEDS_RESET));
    /* §3.1.1 step 8: from DRIVER_OK on the device may use the queues. */
    if (!was_live && live(vd) && vd->ops->live)
        vd->ops->live(sim, f);
}

static void common_write(struct capdrv_sim *sim, struct sim_fn *f, struct sim_virtio *vd,
                         uint64_t off, unsigned width, uint64_t v)
{
    struct sim_vq *q = selected(vd);
    unsigned shift;
    uint64_t mask;
    if (off >= CAPDRV_VPCI_COMMON_Q_DESCLO && off < CAPDRV_VPCI_COMMON_Q_NDATA) {
        /* §4.1.4.3.2: the driver configures a queue before enabling it;
         * the device uses what it saw at enable. */
        uint64_t *a = q && !q->enabled ? queue_addr(q, off, width, &shift, &mask) : NULL;
        if (a)
            *a = (*a & ~mask) | ((v << shift) & mask);
        return;
    }
    switch (off) {
    case CAPDRV_VPCI_COMMON_DFSELECT:
        if (width == 4)
            vd->dfselect = (uint32_t)v;
        break;
    case CAPDRV_VPCI_COMMON_GFSELECT:
        if (width == 4)
            vd->gfselect = (uint32_t)v;
        break;
    case CAPDRV_VPCI_COMMON_GF:
        /* Frozen once FEATURES_OK was accepted (§3.1.1 step 5). */
        if (width == 4 && vd->gfselect < 2 && !vd->features_ok) {
            unsigned s = 32 * vd->gfselect;
            vd->accepted = (vd->accepted & ~(0xffffffffull << s)) | ((v & 0xffffffffull) << s);
        }
        break;
    case CAPDRV_VPCI_COMMON_MSIX:
        if (width == 2)
            vd->config_msix = vector_or_none(f, v);
        break;
    case CAPDRV_VPCI_COMMON_STATUS:
        if (width == 1)
            sim_virtio_status_write(sim, f, (uint8_t)v);
        break;
    case CAPDRV_VPCI_COMMON_Q_SELECT:
        if (width == 2)
            vd->qselect = (uint16_t)v;
        break;
    case CAPDRV_VPCI_COMMON_Q_SIZE:
        /* Split rings: a power of two, at most the maximum (§2.7). */
        if (width == 2 && q && !q->enabled && v != 0 && (v & (v - 1u)) == 0 && v <= q->size_max)
            q->size = (uint16_t)v;
        break;
    case CAPDRV_VPCI_COMMON_Q_MSIX:
        if (width == 2 && q)
            q->msix = vector_or_none(f, v);
        break;
    case CAPDRV_VPCI_COMMON_Q_ENABLE:
        /* §4.1.4.3.2: the driver must not write 0; enabling happens before
         * DRIVER_OK. The rings start empty. */
        if (width == 2 && q && v == 1 && !(vd->status & CAPDRV_VPCI_S_DRIVER_OK) &&
            !q->enabled)
            sim_virtio_queue_enable(q);
        break;
    default:
        break; /* read-only or not implemented */
    }
}

void sim_virtio_queue_enable(struct sim_vq *q)
{
    q->enabled = true;
    q->last_avail = q->used_idx = q->avail_seen = 0;
    q->signalled_valid = false;
}

/* Execute queue @qi now: the type's own scheduler or the request engine. */
static void run_queue(struct capdrv_sim *sim, struct sim_fn *f, unsigned qi)
{
    struct sim_virtio *vd = sim_vio(f);
    if (vd->ops->process)
        vd->ops->process(sim, f, qi);
    else
        sim_vq_process(sim, f, qi);
}

void sim_virtio_kick(struct capdrv_sim *sim, struct sim_fn *f, unsigned qi)
{
    struct sim_virtio *vd = sim_vio(f);
    if (qi >= vd->nq)
        return;
    struct sim_vq *q = &vd->q[qi];
    if (!live(vd) || !q->enabled)
        return; /* §3.1.1: nothing is consumed before DRIVER_OK */
    if (vd->fault == CAPDRV_SIM_VIRTIO_FAULT_DELAY) {
        q->pending = true;
        if (vd->deadline == SIM_NEVER)
            vd->deadline = sim_sat_add(sim->now_ns, CAPDRV_SIM_VIRTIO_DELAY_NS);
        return;
    }
    run_queue(sim, f, qi);
}

uint64_t sim_virtio_bar0_read(struct capdrv_sim *sim, struct sim_fn *f, uint64_t off,
                              unsigned width)
{
    struct sim_virtio *vd = sim_vio(f);
    if (vd->mmio)
        return sim_virtio_mmio_read(sim, f, off, width);
    if (off < CAPDRV_SIM_VIRTIO_COMMON_OFF + CAPDRV_SIM_VIRTIO_COMMON_LEN)
        return common_read(f, vd, off - CAPDRV_SIM_VIRTIO_COMMON_OFF, width);
    if (off == CAPDRV_SIM_VIRTIO_ISR_OFF) {
        /* §4.1.4.5: reading the ISR status clears it. */
        uint8_t v = vd->isr;
        vd->isr = 0;
        return v;
    }
    if (off >= CAPDRV_SIM_VIRTIO_DEVICE_OFF &&
        off < CAPDRV_SIM_VIRTIO_DEVICE_OFF + CAPDRV_SIM_VIRTIO_DEVICE_LEN) {
        uint64_t rel = off - CAPDRV_SIM_VIRTIO_DEVICE_OFF, v = 0;
        for (unsigned i = 0; i < width; i++)
            if (rel + i < SIM_VIRTIO_CONFIG_MAX)
                v |= (uint64_t)vd->config[rel + i] << (8 * i);
        return v;
    }
    return 0; /* rest of ISR, notify (write-only), unused space */
}

void sim_virtio_bar0_write(struct capdrv_sim *sim, struct sim_fn *f, uint64_t off, unsigned width,
                           uint64_t val)
{
    struct sim_virtio *vd = sim_vio(f);
    if (vd->mmio) {
        sim_virtio_mmio_write(sim, f, off, width, val);
        return;
    }
    if (off < CAPDRV_SIM_VIRTIO_COMMON_OFF + CAPDRV_SIM_VIRTIO_COMMON_LEN) {
        common_write(sim, f, vd, off - CAPDRV_SIM_VIRTIO_COMMON_OFF, width, val);
        return;
    }
    if (off >= CAPDRV_SIM_VIRTIO_NOTIFY_OFF &&
        off < CAPDRV_SIM_VIRTIO_NOTIFY_OFF + CAPDRV_SIM_VIRTIO_NOTIFY_LEN) {
        /* §4.1.5.2: a 16-bit write of the queue index to the queue's
         * doorbell (32-bit accepted too). The address selects the queue,
         * as on real devices; the value is not trusted. */
        uint64_t rel = off - CAPDRV_SIM_VIRTIO_NOTIFY_OFF;
        uint64_t qi = rel / CAPDRV_SIM_VIRTIO_NOTIFY_MULT;
        if ((width == 2 || width == 4) && rel % CAPDRV_SIM_VIRTIO_NOTIFY_MULT == 0 && qi < vd->nq)
            sim_virtio_kick(sim, f, (unsigned)qi);
    }
    /* ISR and device configuration are read-only (no CONFIG_WCE). */
}

uint64_t sim_virtio_next_event(const struct sim_fn *f)
{
    return sim_vio(f)->deadline;
}

void sim_virtio_run_event(struct capdrv_sim *sim, struct sim_fn *f)
{
    struct sim_virtio *vd = sim_vio(f);
    vd->deadline = SIM_NEVER;
    for (unsigned i = 0; i < vd->nq; i++) {
        if (!vd->q[i].pending)
            continue;
        vd->q[i].pending = false;
        if (live(vd) && vd->q[i].enabled)
            run_queue(sim, f, i);
    }
}

/* ---- public test interface ----------------------------------------------- */

bool sim_is_virtio(const struct sim_fn *f)
{
    return f->dev == &sim_dev_virtio_blk || f->dev == &sim_dev_virtio_net;
}

int capdrv_sim_virtio_set_fault(struct capdrv_sim *sim, unsigned fn,
                                enum capdrv_sim_virtio_fault f)
{
    if (!sim)
        return -CAPDRV_EINVAL;
    pthread_mutex_lock(&sim->lock);
    struct sim_fn *sf = sim_fn_get(sim, fn);
    int rc = !sf                   ? -CAPDRV_ENOENT
             : !sim_is_virtio(sf) ? -CAPDRV_ENODEV
                                  : sim_virtio_set_fault(sf, f);
    pthread_mutex_unlock(&sim->lock);
    return rc;
}
