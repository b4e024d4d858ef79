/* Transport-neutral device logic: status machine (VIRTIO 1.2 §3.1.1),
 * feature negotiation (§2.2), device configuration reads (§2.5.1) and
 * queue setup (PCI §4.1.5.1.3, MMIO §4.2.3.2), reached through the
 * register hooks of transport.h. The public wrappers live in
 * pci_transport.c and mmio.c. */
#include "transport.h"

#include <capdrv/error.h>
#include <capdrv/sys.h>
#include <capdrv/virtio.h>

static int rd(struct vt *v, enum vt_reg r, uint64_t *val)
{
    return v->ops->read(v->t, r, val);
}

static int wr(struct vt *v, enum vt_reg r, uint64_t val)
{
    return v->ops->write(v->t, r, val);
}

/* §4.1.3.1 / §4.2.2.2: 64-bit fields are two 32-bit accesses, low half
 * first. */
static int wr64(struct vt *v, enum vt_reg lo, uint64_t val)
{
    int rc = wr(v, lo, val & 0xffffffffu);
    return rc < 0 ? rc : wr(v, (enum vt_reg)(lo + 1), val >> 32);
}

int vt_reset(struct vt *v)
{
    int rc = wr(v, VT_STATUS, 0);
    if (rc < 0)
        return rc;
    *v->status = 0;
    *v->features = 0;
    /* §4.1.4.3.2 (PCI), §2.4 (any transport, MMIO included): after
     * writing 0 the driver waits for a read of the status to return 0
     * before reinitialising.
     * Bounded: a device that never completes its reset is reported, not
     * waited on forever. */
    for (unsigned i = 0; i < CAPDRV_VIRTIO_RESET_POLLS; i++) {
        uint64_t st;
        if ((rc = rd(v, VT_STATUS, &st)) < 0)
            return rc;
        if ((st & 0xffu) == 0)
            return 0;
    }
    return -CAPDRV_ETIMEDOUT;
}

int vt_get_status(struct vt *v, uint8_t *status)
{
    uint64_t st;
    int rc = rd(v, VT_STATUS, &st);
    if (rc == 0)
        *status = (uint8_t)st;
    return rc;
}

int vt_check(struct vt *v)
{
    uint8_t st;
    int rc = vt_get_status(v, &st);
    if (rc < 0)
        return rc;
    /* §2.1.1: DEVICE_NEEDS_RESET - nothing in flight may be assumed to
     * complete; the driver must reset the device. */
    return (st & CAPDRV_VIRTIO_STATUS_DEVICE_NEEDS_RESET) ? -CAPDRV_EIO : 0;
}

int vt_fail(struct vt *v)
{
    /* §3.1.1: on a failure the driver sets FAILED; it stays until reset. */
    *v->status |= CAPDRV_VIRTIO_STATUS_FAILED;
    return wr(v, VT_STATUS, *v->status);
}

int vt_set_status(struct vt *v, uint8_t bits)
{
    *v->status |= bits;
    return wr(v, VT_STATUS, *v->status);
}

int vt_device_features(struct vt *v, uint64_t *features)
{
    uint64_t f = 0;
    /* §4.1.4.3 / §4.2.2: the feature register shows the 32 bits its
     * select register chooses (0: bits 0-31, 1: bits 32-63). */
    for (unsigned sel = 0; sel < 2; sel++) {
        uint64_t val;
        int rc = wr(v, VT_DEV_FEATURE_SEL, sel);
        if (rc == 0)
            rc = rd(v, VT_DEV_FEATURE, &val);
        if (rc < 0)
            return rc;
        f |= (val & 0xffffffffu) << (32 * sel);
    }
    *features = f;
    return 0;
}

static int set_status_readback(struct vt *v, uint8_t bit, uint64_t *readback)
{
    int rc = vt_set_status(v, bit);
    return rc < 0 ? rc : rd(v, VT_STATUS, readback);
}

int vt_negotiate(struct vt *v, uint64_t wanted, uint64_t *accepted)
{
    uint64_t offered;
    int rc = vt_device_features(v, &offered);
    if (rc < 0)
        goto fail;
    /* §6.1: a device without VERSION_1 is a legacy device. */
    if (!(offered & CAPDRV_VIRTIO_BIT(CAPDRV_VIRTIO_F_VERSION_1))) {
        rc = -CAPDRV_ENODEV;
        goto fail;
    }
    /* §2.2.1: accept only what was offered. §6.1: ACCESS_PLATFORM must be
     * accepted when offered (refusing it lets the device fail or bypass the
     * platform's translation). Only split rings are implemented. */
    uint64_t acc = offered & (wanted | CAPDRV_VIRTIO_BIT(CAPDRV_VIRTIO_F_VERSION_1) |
                              CAPDRV_VIRTIO_BIT(CAPDRV_VIRTIO_F_ACCESS_PLATFORM));
    acc &= ~CAPDRV_VIRTIO_BIT(CAPDRV_VIRTIO_F_RING_PACKED);
    for (unsigned sel = 0; sel < 2 && rc == 0; sel++) {
        rc = wr(v, VT_DRV_FEATURE_SEL, sel);
        if (rc == 0)
            rc = wr(v, VT_DRV_FEATURE, (acc >> (32 * sel)) & 0xffffffffu);
    }
    if (rc < 0)
        goto fail;
    /* §3.1.1 steps 5-6: set FEATURES_OK, then re-read it: a device that
     * does not support the subset leaves it clear. */
    uint64_t st;
    if ((rc = set_status_readback(v, CAPDRV_VIRTIO_STATUS_FEATURES_OK, &st)) < 0)
        goto fail;
    if (!(st & CAPDRV_VIRTIO_STATUS_FEATURES_OK)) {
        rc = -CAPDRV_ENOTSUP;
        goto fail;
    }
    *v->features = acc;
    if (accepted)
        *accepted = acc;
    return 0;
fail:
    (void)vt_fail(v);
    return rc;
}

int vt_driver_ok(struct vt *v)
{
    uint64_t st;
    int rc = set_status_readback(v, CAPDRV_VIRTIO_STATUS_DRIVER_OK, &st);
    if (rc < 0)
        return rc;
    /* The device may have hit an error during setup (§2.1.1), or dropped
     * bits it should keep (then it is not following §3.1.1). */
    const uint8_t want = CAPDRV_VIRTIO_STATUS_ACKNOWLEDGE | CAPDRV_VIRTIO_STATUS_DRIVER |
                         CAPDRV_VIRTIO_STATUS_FEATURES_OK | CAPDRV_VIRTIO_STATUS_DRIVER_OK;
    if ((st & CAPDRV_VIRTIO_STATUS_DEVICE_NEEDS_RESET) || (st & want) != want) {
        (void)vt_fail(v);
        return -CAPDRV_EIO;
    }
    return 0;
}

/* One pass over [offset, offset+len) with naturally aligned accesses of at
 * most 4 bytes (§4.1.3.1; §4.2.2.2: 8-bit fields by bytes, 16-bit fields
 * by aligned halves, 32- and 64-bit fields by aligned words). */
static int config_pass(struct vt *v, uint32_t offset, uint8_t *out, size_t len)
{
    size_t done = 0;
    while (done < len) {
        uint64_t pos = (uint64_t)offset + done;
        unsigned width = 4;
        while (width > 1 && ((pos & (width - 1u)) != 0 || width > len - done))
            width /= 2;
        uint64_t val;
        int rc = v->ops->config_read(v->t, pos, width, &val);
        if (rc < 0)
            return rc;
        for (unsigned b = 0; b < width; b++)
            out[done + b] = (uint8_t)(val >> (8 * b)); /* device config is little-endian */
        done += width;
    }
    return 0;
}

int vt_config_read(struct vt *v, uint32_t offset, void *buf, size_t len)
{
    if (v->config_len == 0)
        return -CAPDRV_ENOENT;
    if (offset > v->config_len || len > v->config_len - offset)
        return -CAPDRV_ERANGE;
    /* §2.5.1 (§4.1.4.3.1, §4.2.2): read the generation before and after; a
     * change means the device updated the configuration mid-read. Bounded:
     * a device that keeps changing it is reported. */
    for (unsigned attempt = 0; attempt < CAPDRV_VIRTIO_CONFIG_RETRIES; attempt++) {
        uint64_t g0, g1;
        int rc = rd(v, VT_CONFIG_GEN, &g0);
        if (rc == 0)
            rc = config_pass(v, offset, buf, len);
        if (rc == 0)
            rc = rd(v, VT_CONFIG_GEN, &g1);
        if (rc < 0)
            return rc;
        if (g0 == g1)
            return 0;
    }
    return -CAPDRV_EIO;
}

static int select_queue(struct vt *v, unsigned index)
{
    if (index >= v->num_queues)
        return -CAPDRV_ENOENT;
    return wr(v, VT_QUEUE_SEL, index);
}

int vt_queue_max(struct vt *v, unsigned index, unsigned *max)
{
    uint64_t size;
    int rc = select_queue(v, index);
    if (rc == 0)
        rc = rd(v, VT_QUEUE_MAX, &size);
    if (rc < 0)
        return rc;
    /* §4.1.4.3 / §4.2.3.2: 0 means the queue is unavailable. §2.7: a split
     * queue's size is a power of two, at most 32768. */
    if (size == 0)
        return -CAPDRV_ENOENT;
    if ((size & (size - 1u)) != 0 || size > CAPDRV_VIRTQ_MAX_SIZE)
        return -CAPDRV_EPROTO;
    *max = (unsigned)size;
    return 0;
}

static int set_vector(struct vt *v, enum vt_reg reg, uint16_t vector)
{
    uint64_t back;
    int rc = wr(v, reg, vector);
    if (rc == 0)
        rc = rd(v, reg, &back);
    if (rc < 0)
        return rc;
    /* §4.1.5.1.2: the device answers NO_VECTOR when it could not allocate
     * the vector; anything else than what was written is refused too. */
    return back == vector ? 0 : -CAPDRV_EIO;
}

int vt_config_vector(struct vt *v, uint16_t vector)
{
    if (!v->ops->has_vectors)
        return -CAPDRV_ENOTSUP;
    return set_vector(v, VT_CONFIG_VECTOR, vector);
}

int vt_queue_setup(struct vt *v, unsigned index, const struct capdrv_virtq *vq, uint16_t vector,
                   uint64_t *notify_off)
{
    unsigned max;
    int rc = vt_queue_max(v, index, &max); /* also selects the queue */
    if (rc < 0)
        return rc;
    unsigned size = capdrv_virtq_size(vq);
    if (size == 0 || size > max)
        return -CAPDRV_ERANGE;
    uint64_t desc, driver, device, en;
    if (v->ops->check_unused) {
        /* §4.2.3.2 step 2: the queue must not be in use already. */
        if ((rc = rd(v, VT_QUEUE_ENABLE, &en)) < 0)
            return rc;
        if (en != 0)
            return -CAPDRV_EBUSY;
    }
    capdrv_virtq_area_refs(vq, &desc, &driver, &device);
    /* §4.1.5.1.3 / §4.2.3.2: size (the driver may shrink it), the three
     * areas, the vector (PCI), then enable last. */
    if ((rc = wr(v, VT_QUEUE_SIZE, size)) < 0 || (rc = wr64(v, VT_QUEUE_DESC_LO, desc)) < 0 ||
        (rc = wr64(v, VT_QUEUE_DRIVER_LO, driver)) < 0 ||
        (rc = wr64(v, VT_QUEUE_DEVICE_LO, device)) < 0)
        return rc;
    if (v->ops->has_vectors && (rc = set_vector(v, VT_QUEUE_VECTOR, vector)) < 0)
        return rc;
    if ((rc = v->ops->doorbell(v->t, index, notify_off)) < 0)
        return rc;
    if ((rc = wr(v, VT_QUEUE_ENABLE, 1)) < 0 || (rc = rd(v, VT_QUEUE_ENABLE, &en)) < 0)
        return rc;
    return en == 1 ? 0 : -CAPDRV_EIO;
}

int vt_kick(struct vt *v, int lane, uint16_t index, uint64_t notify_off, struct capdrv_virtq *vq)
{
    /* Always ask, so the queue's notification bookkeeping moves on and a
     * broken queue is reported in both lanes. */
    int need = capdrv_virtq_needs_notify(vq);
    if (need < 0)
        return need;
    /* Brokered lane: the kernel materialises the descriptor table and the
     * available ring only at a doorbell, so suppression (§2.7.10) must not
     * skip one. */
    if (lane != CAPDRV_LANE_BROKERED && need == 0)
        return 0;
    int rc = v->ops->notify(v->t, index, notify_off);
    return rc < 0 ? rc : 1;
}
