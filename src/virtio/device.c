/* Device status machine (VIRTIO 1.2 §3.1.1), feature negotiation (§2.2,
 * §4.1.4.3), device configuration reads (§4.1.4.3.1) and queue setup
 * (§4.1.5.1.3) over the PCI common configuration structure. */
#include "pci_internal.h"

#include <string.h>

static int common_read(struct capdrv_virtio_pci *vp, uint32_t off, unsigned width, uint64_t *val)
{
    return vp_region_read(vp, &vp->common, off, width, val);
}

static int common_write(struct capdrv_virtio_pci *vp, uint32_t off, unsigned width, uint64_t val)
{
    return vp_region_write(vp, &vp->common, off, width, val);
}

/* §4.1.3.1: 64-bit fields are written as two 32-bit accesses, low half
 * first. */
static int common_write64(struct capdrv_virtio_pci *vp, uint32_t off, uint64_t val)
{
    int rc = common_write(vp, off, 4, val & 0xffffffffu);
    return rc < 0 ? rc : common_write(vp, off + 4, 4, val >> 32);
}

int capdrv_virtio_reset(struct capdrv_virtio_pci *vp)
{
    if (!vp || !vp->sys)
        return -CAPDRV_EINVAL;
    int rc = common_write(vp, VP_DEVICE_STATUS, 1, 0);
    if (rc < 0)
        return rc;
    vp->status = 0;
    vp->features = 0;
    /* §4.1.4.3.2: after writing 0 the driver MUST wait for a read of
     * device_status to return 0 before reinitialising. Bounded: a device
     * that never completes its reset is reported, not waited on forever. */
    for (unsigned i = 0; i < CAPDRV_VIRTIO_RESET_POLLS; i++) {
        uint64_t st;
        if ((rc = common_read(vp, VP_DEVICE_STATUS, 1, &st)) < 0)
            return rc;
        if (st == 0)
            return 0;
    }
    return -CAPDRV_ETIMEDOUT;
}

int capdrv_virtio_get_status(struct capdrv_virtio_pci *vp, uint8_t *status)
{
    if (!vp || !status)
        return -CAPDRV_EINVAL;
    uint64_t st;
    int rc = common_read(vp, VP_DEVICE_STATUS, 1, &st);
    if (rc == 0)
        *status = (uint8_t)st;
    return rc;
}

int capdrv_virtio_check(struct capdrv_virtio_pci *vp)
{
    uint8_t st;
    int rc = capdrv_virtio_get_status(vp, &st);
    if (rc < 0)
        return rc;
    /* §2.1.1: DEVICE_NEEDS_RESET - nothing in flight may be assumed to
     * complete; the driver must reset the device. */
    return (st & CAPDRV_VIRTIO_STATUS_DEVICE_NEEDS_RESET) ? -CAPDRV_EIO : 0;
}

int capdrv_virtio_fail(struct capdrv_virtio_pci *vp)
{
    if (!vp || !vp->sys)
        return -CAPDRV_EINVAL;
    /* §3.1.1: on a failure the driver sets FAILED; it stays until reset. */
    vp->status |= CAPDRV_VIRTIO_STATUS_FAILED;
    return common_write(vp, VP_DEVICE_STATUS, 1, vp->status);
}

int capdrv_virtio_device_features(struct capdrv_virtio_pci *vp, uint64_t *features)
{
    if (!vp || !features)
        return -CAPDRV_EINVAL;
    uint64_t f = 0;
    /* §4.1.4.3: device_feature shows the 32 bits device_feature_select
     * chooses (0: bits 0-31, 1: bits 32-63). */
    for (unsigned sel = 0; sel < 2; sel++) {
        uint64_t v;
        int rc = common_write(vp, VP_DEVICE_FEATURE_SELECT, 4, sel);
        if (rc == 0)
            rc = common_read(vp, VP_DEVICE_FEATURE, 4, &v);
        if (rc < 0)
            return rc;
        f |= (v & 0xffffffffu) << (32 * sel);
    }
    *features = f;
    return 0;
}

static int set_status(struct capdrv_virtio_pci *vp, uint8_t bit, uint64_t *readback)
{
    vp->status |= bit;
    int rc = common_write(vp, VP_DEVICE_STATUS, 1, vp->status);
    return rc < 0 ? rc : common_read(vp, VP_DEVICE_STATUS, 1, readback);
}

int capdrv_virtio_negotiate(struct capdrv_virtio_pci *vp, uint64_t wanted, uint64_t *accepted)
{
    if (!vp || !vp->sys)
        return -CAPDRV_EINVAL;
    uint64_t offered;
    int rc = capdrv_virtio_device_features(vp, &offered);
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
        rc = common_write(vp, VP_DRIVER_FEATURE_SELECT, 4, sel);
        if (rc == 0)
            rc = common_write(vp, VP_DRIVER_FEATURE, 4, (acc >> (32 * sel)) & 0xffffffffu);
    }
    if (rc < 0)
        goto fail;
    /* §3.1.1 steps 5-6: set FEATURES_OK, then re-read it: a device that
     * does not support the subset leaves it clear. */
    uint64_t st;
    if ((rc = set_status(vp, CAPDRV_VIRTIO_STATUS_FEATURES_OK, &st)) < 0)
        goto fail;
    if (!(st & CAPDRV_VIRTIO_STATUS_FEATURES_OK)) {
        rc = -CAPDRV_ENOTSUP;
        goto fail;
    }
    vp->features = acc;
    if (accepted)
        *accepted = acc;
    return 0;
fail:
    (void)capdrv_virtio_fail(vp);
    return rc;
}

int capdrv_virtio_driver_ok(struct capdrv_virtio_pci *vp)
{
    if (!vp || !vp->sys)
        return -CAPDRV_EINVAL;
    uint64_t st;
    int rc = set_status(vp, CAPDRV_VIRTIO_STATUS_DRIVER_OK, &st);
    if (rc < 0)
        return rc;
    /* The device may have hit an error during setup (§2.1.1), or dropped
     * bits it should keep (then it is not following §3.1.1). */
    const uint8_t want = CAPDRV_VIRTIO_STATUS_ACKNOWLEDGE | CAPDRV_VIRTIO_STATUS_DRIVER |
                         CAPDRV_VIRTIO_STATUS_FEATURES_OK | CAPDRV_VIRTIO_STATUS_DRIVER_OK;
    if ((st & CAPDRV_VIRTIO_STATUS_DEVICE_NEEDS_RESET) || (st & want) != want) {
        (void)capdrv_virtio_fail(vp);
        return -CAPDRV_EIO;
    }
    return 0;
}

/* One pass over [offset, offset+len) with naturally aligned accesses of at
 * most 4 bytes (§4.1.3.1). */
static int config_pass(struct capdrv_virtio_pci *vp, uint32_t offset, uint8_t *out, size_t len)
{
    size_t done = 0;
    while (done < len) {
        uint64_t pos = (uint64_t)offset + done;
        unsigned width = 4;
        while (width > 1 && ((pos & (width - 1u)) != 0 || width > len - done))
            width /= 2;
        uint64_t v;
        int rc = vp_region_read(vp, &vp->device, pos, width, &v);
        if (rc < 0)
            return rc;
        for (unsigned b = 0; b < width; b++)
            out[done + b] = (uint8_t)(v >> (8 * b)); /* device config is little-endian */
        done += width;
    }
    return 0;
}

int capdrv_virtio_config_read(struct capdrv_virtio_pci *vp, uint32_t offset, void *buf,
                              size_t len)
{
    if (!vp || !vp->sys || (!buf && len))
        return -CAPDRV_EINVAL;
    if (!vp->device.present)
        return -CAPDRV_ENOENT;
    if (offset > vp->device.length || len > vp->device.length - offset)
        return -CAPDRV_ERANGE;
    /* §4.1.4.3.1 / §2.5.1: read config_generation before and after; a
     * change means the device updated the configuration mid-read. Bounded:
     * a device that keeps changing it is reported. */
    for (unsigned attempt = 0; attempt < CAPDRV_VIRTIO_CONFIG_RETRIES; attempt++) {
        uint64_t g0, g1;
        int rc = common_read(vp, VP_CONFIG_GENERATION, 1, &g0);
        if (rc == 0)
            rc = config_pass(vp, offset, buf, len);
        if (rc == 0)
            rc = common_read(vp, VP_CONFIG_GENERATION, 1, &g1);
        if (rc < 0)
            return rc;
        if (g0 == g1)
            return 0;
    }
    return -CAPDRV_EIO;
}

static int select_queue(struct capdrv_virtio_pci *vp, unsigned index)
{
    if (index >= vp->num_queues)
        return -CAPDRV_ENOENT;
    return common_write(vp, VP_QUEUE_SELECT, 2, index);
}

int capdrv_virtio_queue_max(struct capdrv_virtio_pci *vp, unsigned index, unsigned *max)
{
    if (!vp || !vp->sys || !max)
        return -CAPDRV_EINVAL;
    uint64_t size;
    int rc = select_queue(vp, index);
    if (rc == 0)
        rc = common_read(vp, VP_QUEUE_SIZE, 2, &size);
    if (rc < 0)
        return rc;
    /* §4.1.4.3: 0 means the queue is unavailable. §2.7: a split queue's
     * size is a power of two, at most 32768. */
    if (size == 0)
        return -CAPDRV_ENOENT;
    if ((size & (size - 1u)) != 0 || size > CAPDRV_VIRTQ_MAX_SIZE)
        return -CAPDRV_EPROTO;
    *max = (unsigned)size;
    return 0;
}

static int set_vector(struct capdrv_virtio_pci *vp, uint32_t reg, uint16_t vector)
{
    uint64_t back;
    int rc = common_write(vp, reg, 2, vector);
    if (rc == 0)
        rc = common_read(vp, reg, 2, &back);
    if (rc < 0)
        return rc;
    /* §4.1.5.1.2: the device answers NO_VECTOR when it could not allocate
     * the vector; anything else than what was written is refused too. */
    return back == vector ? 0 : -CAPDRV_EIO;
}

int capdrv_virtio_config_vector(struct capdrv_virtio_pci *vp, uint16_t vector)
{
    if (!vp || !vp->sys)
        return -CAPDRV_EINVAL;
    return set_vector(vp, VP_CONFIG_MSIX_VECTOR, vector);
}

int capdrv_virtio_queue_setup(struct capdrv_virtio_pci *vp, unsigned index,
                              const struct capdrv_virtq *vq, uint16_t vector,
                              struct capdrv_virtio_pci_queue *q)
{
    if (!vp || !vp->sys || !vq || !q)
        return -CAPDRV_EINVAL;
    unsigned max;
    int rc = capdrv_virtio_queue_max(vp, index, &max); /* also selects the queue */
    if (rc < 0)
        return rc;
    unsigned size = capdrv_virtq_size(vq);
    if (size == 0 || size > max)
        return -CAPDRV_ERANGE;
    uint64_t desc, driver, device, noff, en;
    capdrv_virtq_area_refs(vq, &desc, &driver, &device);
    /* §4.1.5.1.3: size (the driver may shrink it), the three areas, the
     * vector, then queue_enable last. */
    if ((rc = common_write(vp, VP_QUEUE_SIZE, 2, size)) < 0 ||
        (rc = common_write64(vp, VP_QUEUE_DESC, desc)) < 0 ||
        (rc = common_write64(vp, VP_QUEUE_DRIVER, driver)) < 0 ||
        (rc = common_write64(vp, VP_QUEUE_DEVICE, device)) < 0 ||
        (rc = set_vector(vp, VP_QUEUE_MSIX_VECTOR, vector)) < 0 ||
        (rc = common_read(vp, VP_QUEUE_NOTIFY_OFF, 2, &noff)) < 0)
        return rc;
    /* §4.1.4.4: the doorbell is at cap.offset + queue_notify_off *
     * notify_off_multiplier, and must lie inside the notify structure
     * (a device-chosen value: check, never trust). 16 x 32 bits: no
     * overflow in 64. */
    uint64_t off = (noff & 0xffffu) * (uint64_t)vp->notify_mult;
    if (off > vp->notify.length || vp->notify.length - off < 2)
        return -CAPDRV_EPROTO;
    if ((rc = common_write(vp, VP_QUEUE_ENABLE, 2, 1)) < 0 ||
        (rc = common_read(vp, VP_QUEUE_ENABLE, 2, &en)) < 0)
        return rc;
    if (en != 1)
        return -CAPDRV_EIO;
    memset(q, 0, sizeof *q);
    q->notify_off = off;
    q->index = (uint16_t)index;
    q->vector = vector;
    q->lane = vp->lane;
    return 0;
}
