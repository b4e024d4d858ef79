/* virtio-blk bring-up and teardown (VIRTIO 1.2 §5.2.5 over §3.1.1):
 * features, configuration, queues, interrupts, over the PCI modern
 * transport (§4.1) or virtio-mmio version 2 (§4.2) through transport.h.
 * Requests: blk_io.c. */
#include "blk_internal.h"
#include "mmio_internal.h"
#include "pci_internal.h"

#include <stdlib.h>
#include <string.h>

static uint32_t le32_at(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void vblk_transport(struct capdrv_virtio_blk *b, struct vt *v)
{
    if (b->mmio)
        vm_transport(&b->vm, v);
    else
        vp_transport(&b->vp, v);
}

/* A negotiated feature (valid after FEATURES_OK). */
static int has(const struct capdrv_virtio_blk *b, unsigned bit)
{
    return (int)((b->info.features >> bit) & 1u);
}

static int cfg_read(struct capdrv_virtio_blk *b, uint32_t off, void *buf, size_t len)
{
    struct vt v;
    vblk_transport(b, &v);
    return vt_config_read(&v, off, buf, len);
}

static int cfg32(struct capdrv_virtio_blk *b, uint32_t off, uint32_t *v)
{
    uint8_t raw[4] = {0};
    int rc = cfg_read(b, off, raw, sizeof raw);
    if (rc == 0)
        *v = le32_at(raw);
    return rc;
}

/* §5.2.4: fields are valid only when their feature was negotiated; the
 * device-supplied values are checked before the driver relies on them. */
static int read_config(struct capdrv_virtio_blk *b, char *why, size_t why_len)
{
    struct capdrv_virtio_blk_info *in = &b->info;
    uint8_t raw[8];
    uint32_t v = 0;
    int rc = cfg_read(b, VBLK_CFG_CAPACITY, raw, sizeof raw);
    if (rc < 0)
        goto bad;
    in->capacity = (uint64_t)le32_at(raw) | (uint64_t)le32_at(raw + 4) << 32;
    in->blk_size = CAPDRV_VIRTIO_BLK_SECTOR_SIZE;
    b->seg_limit = CAPDRV_VIRTIO_BLK_MAX_SEGS;
    if (has(b, CAPDRV_VIRTIO_BLK_F_SEG_MAX)) {
        if ((rc = cfg32(b, VBLK_CFG_SEG_MAX, &v)) < 0)
            goto bad;
        if (v == 0) {
            vp_say(why, why_len, "device offers SEG_MAX with seg_max 0");
            return -CAPDRV_EPROTO;
        }
        if (v < b->seg_limit)
            b->seg_limit = v;
    }
    if (has(b, CAPDRV_VIRTIO_BLK_F_BLK_SIZE)) {
        if ((rc = cfg32(b, VBLK_CFG_BLK_SIZE, &v)) < 0)
            goto bad;
        /* Advisory (§5.2.5): keep 512 unless it is a sane power of two. */
        if (v >= CAPDRV_VIRTIO_BLK_SECTOR_SIZE && (v & (v - 1u)) == 0)
            in->blk_size = v;
    }
    if (has(b, CAPDRV_VIRTIO_BLK_F_DISCARD) &&
        (rc = cfg32(b, VBLK_CFG_MAX_DISCARD_SECTORS, &in->max_discard_sectors)) < 0)
        goto bad;
    if (has(b, CAPDRV_VIRTIO_BLK_F_WRITE_ZEROES) &&
        (rc = cfg32(b, VBLK_CFG_MAX_WRITE_ZEROES_SECTORS, &in->max_write_zeroes_sectors)) < 0)
        goto bad;
    return 0;
bad:
    vp_say(why, why_len, "read device configuration: %s", capdrv_strerror(rc));
    return rc == -CAPDRV_ERANGE ? -CAPDRV_EPROTO : rc;
}

/* Queues to use: what the caller asks, what the device has (§5.2.4
 * num_queues with F_MQ, else 1), what the transport offers. */
static int queue_count(struct capdrv_virtio_blk *b, unsigned wanted, unsigned *n, char *why,
                       size_t why_len)
{
    unsigned dev = 1;
    if (has(b, CAPDRV_VIRTIO_BLK_F_MQ)) {
        uint8_t raw[2];
        int rc = cfg_read(b, VBLK_CFG_NUM_QUEUES, raw, sizeof raw);
        if (rc < 0) {
            vp_say(why, why_len, "read num_queues: %s", capdrv_strerror(rc));
            return rc == -CAPDRV_ERANGE ? -CAPDRV_EPROTO : rc;
        }
        dev = (unsigned)raw[0] | (unsigned)raw[1] << 8;
    }
    unsigned m = wanted ? wanted : 1;
    if (m > dev)
        m = dev;
    /* PCI: the common configuration's num_queues; MMIO has no count
     * (§4.2.2): a queue the device lacks reads QueueNumMax 0 and
     * setup_queue() refuses it. */
    struct vt v;
    vblk_transport(b, &v);
    if (m > v.num_queues)
        m = v.num_queues;
    if (m > CAPDRV_VIRTIO_BLK_MAX_QUEUES)
        m = CAPDRV_VIRTIO_BLK_MAX_QUEUES;
    if (m == 0) {
        vp_say(why, why_len, "device offers no request queue");
        return -CAPDRV_EPROTO;
    }
    *n = m;
    return 0;
}

static int setup_queue(struct capdrv_virtio_blk *b, unsigned i, unsigned want_size, int irq,
                       char *why, size_t why_len)
{
    struct vblk_queue *q = &b->q[i];
    unsigned max, size = want_size;
    struct vt v;
    vblk_transport(b, &v);
    int rc = vt_queue_max(&v, i, &max);
    if (rc < 0) {
        vp_say(why, why_len, "queue %u size: %s", i, capdrv_strerror(rc));
        return rc;
    }
    if (size > max)
        size = max;
    /* A DISCARD takes header, range and status: three descriptors when the
     * device gives no indirect tables. */
    if (size < 4) {
        vp_say(why, why_len, "queue %u holds only %u descriptors", i, size);
        return -CAPDRV_ENOTSUP;
    }
    unsigned ind_max = 0;
    if (has(b, CAPDRV_VIRTIO_F_INDIRECT_DESC))
        ind_max = size < CAPDRV_VIRTIO_BLK_INDIRECT_MAX ? size : CAPDRV_VIRTIO_BLK_INDIRECT_MAX;
    q->slots = calloc(size, sizeof *q->slots);
    q->free_stack = calloc(size, sizeof *q->free_stack);
    if (!q->slots || !q->free_stack) {
        vp_say(why, why_len, "out of memory");
        return -CAPDRV_ENOMEM;
    }
    for (unsigned s = 0; s < size; s++) {
        q->slots[s].index = s;
        q->free_stack[s] = size - 1u - s;
    }
    q->n_free = size;
    /* The request slots (header, range, status) live after the ring.
     * PCI: queue i signals MSI-X vector i + 1. MMIO: every queue shares
     * the device's one line (§4.2.3.4), opened once by bring_up(). */
    const struct vio_queue_params p = {
        .sys = b->sys, .grant = b->grant, .pool = b->pool, .vt = &v,
        .lane = b->mmio ? b->vm.lane : b->vp.lane, .index = i,
        .size = size, .ind_max = ind_max, .extra = (size_t)size * VBLK_SLOT_BYTES,
        .vector = irq && !b->mmio ? (uint16_t)(i + 1u) : CAPDRV_VIRTIO_MSI_NO_VECTOR,
        .shared_line = irq && b->mmio,
    };
    if ((rc = vio_queue_setup(&q->io, &p, &q->slot_off, why, why_len)) < 0)
        return rc;
    b->info.queue_size = size;
    return 0;
}

static void free_queues(struct capdrv_virtio_blk *b)
{
    for (unsigned i = 0; i < CAPDRV_VIRTIO_BLK_MAX_QUEUES; i++) {
        struct vblk_queue *q = &b->q[i];
        vio_queue_free(b->sys, &q->io);
        free(q->slots);
        free(q->free_stack);
        memset(q, 0, sizeof *q);
    }
    if (b->cfg_irq)
        (void)capdrv_cap_release(b->sys, b->cfg_irq);
    b->cfg_irq = CAPDRV_CAP_INVALID;
}

/* Bind the transport (§4.1.5.1 / §4.2.3.1): reset, ACKNOWLEDGE, DRIVER.
 * The grant says which: a virtio-mmio device has no PCI configuration
 * space, and capdrv_cfg_read() answers -CAPDRV_ENOTSUP on it (hw.h,
 * kernel-shim/grant.c); any other answer means a PCI function, whose
 * errors capdrv_virtio_pci_open() reports. */
static int open_transport(struct capdrv_virtio_blk *b, const struct capdrv_virtio_blk_opts *o,
                          char *why, size_t why_len)
{
    uint32_t vendor = 0;
    b->mmio = capdrv_cfg_read(b->sys, b->grant, 0, 2, &vendor) == -CAPDRV_ENOTSUP;
    if (!b->mmio)
        return capdrv_virtio_pci_open(b->sys, b->grant, &b->vp, why, why_len);
    return capdrv_virtio_mmio_open(b->sys, b->grant, o->mmio_window, &b->vm, why, why_len);
}

static int bring_up(struct capdrv_virtio_blk *b, const struct capdrv_virtio_blk_opts *o,
                    char *why, size_t why_len)
{
    int rc = open_transport(b, o, why, why_len);
    if (rc < 0)
        return rc;
    unsigned id = b->mmio ? capdrv_virtio_mmio_device_id(&b->vm) : capdrv_virtio_device_id(&b->vp);
    if (id != CAPDRV_VIRTIO_ID_BLOCK) {
        vp_say(why, why_len, "virtio device id %u is not a block device (2)", id);
        return -CAPDRV_ENODEV;
    }
    struct vt v;
    vblk_transport(b, &v);
    uint64_t want = o->features ? o->features : CAPDRV_VIRTIO_BLK_DEFAULT_FEATURES;
    want &= CAPDRV_VIRTIO_BLK_DEFAULT_FEATURES; /* nothing the driver cannot honour */
    if ((rc = vt_negotiate(&v, want, &b->info.features)) < 0) {
        vp_say(why, why_len, "feature negotiation: %s",
               rc == -CAPDRV_ENODEV    ? "VERSION_1 not offered (legacy device)"
               : rc == -CAPDRV_ENOTSUP ? "device did not accept FEATURES_OK"
                                       : capdrv_strerror(rc));
        return rc;
    }
    if ((rc = read_config(b, why, why_len)) < 0)
        return rc;
    b->info.seg_max = b->seg_limit;
    unsigned nq;
    if ((rc = queue_count(b, o->num_queues, &nq, why, why_len)) < 0)
        return rc;
    unsigned qs = o->queue_size ? o->queue_size : CAPDRV_VIRTIO_BLK_DEFAULT_QUEUE_SIZE;
    for (unsigned i = 0; i < nq; i++)
        if ((rc = setup_queue(b, i, qs, o->irq, why, why_len)) < 0)
            return rc;
    b->info.num_queues = nq;
    if (o->irq && b->mmio) {
        /* §4.2.3.4: one line for the used buffers of every queue and for
         * configuration changes; the grant's vector 0. */
        if ((rc = capdrv_irq_open(b->sys, b->grant, 0, &b->cfg_irq)) < 0) {
            b->cfg_irq = CAPDRV_CAP_INVALID;
            vp_say(why, why_len, "interrupt line (vector 0): %s", capdrv_strerror(rc));
            return rc;
        }
    } else if (o->irq) {
        if ((rc = capdrv_irq_open(b->sys, b->grant, 0, &b->cfg_irq)) < 0 ||
            (rc = vt_config_vector(&v, 0)) < 0) {
            vp_say(why, why_len, "configuration interrupt (vector 0): %s", capdrv_strerror(rc));
            return rc;
        }
    }
    /* The request slots' headers must not reach the device before the
     * device is live (§3.1.1 step 8). */
    if ((rc = vt_driver_ok(&v)) < 0) {
        vp_say(why, why_len, "DRIVER_OK: %s", capdrv_strerror(rc));
        return rc;
    }
    b->info.lane = b->mmio ? b->vm.lane : b->vp.lane;
    b->info.irq = o->irq != 0;
    return 0;
}

int capdrv_virtio_blk_open(capdrv_sys *sys, capdrv_cap_t grant,
                           const struct capdrv_virtio_blk_opts *opts,
                           struct capdrv_virtio_blk **out, char *why, size_t why_len)
{
    if (out)
        *out = NULL;
    if (!sys || !opts || !out || !opts->pool) {
        vp_say(why, why_len, "missing connection, options, output or pool");
        return -CAPDRV_EINVAL;
    }
    unsigned qs = opts->queue_size;
    if (qs && ((qs & (qs - 1u)) != 0 || qs > CAPDRV_VIRTQ_MAX_SIZE)) {
        vp_say(why, why_len, "queue_size %u is not a power of two up to 32768", qs);
        return -CAPDRV_EINVAL;
    }
    struct capdrv_virtio_blk *b = calloc(1, sizeof *b);
    if (!b) {
        vp_say(why, why_len, "out of memory");
        return -CAPDRV_ENOMEM;
    }
    b->sys = sys;
    b->grant = grant;
    b->pool = opts->pool;
    int rc = bring_up(b, opts, why, why_len);
    if (rc < 0) {
        /* §3.1.1: FAILED tells the device the driver gave up; the reset in
         * close then stops it before its memory is released. */
        if (b->vp.sys || b->vm.sys) {
            struct vt v;
            vblk_transport(b, &v);
            (void)vt_fail(&v);
        }
        capdrv_virtio_blk_close(b);
        return rc;
    }
    *out = b;
    return 0;
}

void capdrv_virtio_blk_close(struct capdrv_virtio_blk *blk)
{
    if (!blk)
        return;
    /* Reset first (§2.4): afterwards the device touches no ring, header or
     * data buffer, so releasing them is safe. */
    if (blk->mmio)
        capdrv_virtio_mmio_close(&blk->vm);
    else
        capdrv_virtio_pci_close(&blk->vp);
    free_queues(blk);
    free(blk);
}

int capdrv_virtio_blk_info(const struct capdrv_virtio_blk *blk, struct capdrv_virtio_blk_info *out)
{
    if (!blk || !out)
        return -CAPDRV_EINVAL;
    *out = blk->info;
    return 0;
}

unsigned capdrv_virtio_blk_inflight(const struct capdrv_virtio_blk *blk, unsigned q)
{
    if (!blk || q >= blk->info.num_queues)
        return 0;
    return blk->q[q].inflight;
}

int capdrv_virtio_blk_check(struct capdrv_virtio_blk *blk)
{
    if (!blk)
        return -CAPDRV_EINVAL;
    struct vt v;
    vblk_transport(blk, &v);
    return vt_check(&v);
}
