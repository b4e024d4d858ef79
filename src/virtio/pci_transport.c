/* The PCI modern transport's register hooks (VIRTIO 1.2 §4.1.4.3 common
 * configuration, §4.1.4.4 notifications) and the public verbs of
 * capdrv/virtio.h that run the transport-neutral logic of device.c over
 * them. Discovery, bind and release: pci.c. */
#include "pci_internal.h"

#include <string.h>

/* Offset and width of each abstract register in struct
 * virtio_pci_common_cfg (§4.1.4.3); 64-bit addresses as 32-bit halves
 * (§4.1.3.1). */
static const struct {
    uint8_t off, width;
} pci_regs[VT_REG_COUNT] = {
    [VT_DEV_FEATURE_SEL] = {VP_DEVICE_FEATURE_SELECT, 4},
    [VT_DEV_FEATURE] = {VP_DEVICE_FEATURE, 4},
    [VT_DRV_FEATURE_SEL] = {VP_DRIVER_FEATURE_SELECT, 4},
    [VT_DRV_FEATURE] = {VP_DRIVER_FEATURE, 4},
    [VT_STATUS] = {VP_DEVICE_STATUS, 1},
    [VT_CONFIG_GEN] = {VP_CONFIG_GENERATION, 1},
    [VT_QUEUE_SEL] = {VP_QUEUE_SELECT, 2},
    /* §4.1.4.3: queue_size reads the maximum until the driver writes it. */
    [VT_QUEUE_MAX] = {VP_QUEUE_SIZE, 2},
    [VT_QUEUE_SIZE] = {VP_QUEUE_SIZE, 2},
    [VT_QUEUE_ENABLE] = {VP_QUEUE_ENABLE, 2},
    [VT_QUEUE_DESC_LO] = {VP_QUEUE_DESC, 4},
    [VT_QUEUE_DESC_HI] = {VP_QUEUE_DESC + 4, 4},
    [VT_QUEUE_DRIVER_LO] = {VP_QUEUE_DRIVER, 4},
    [VT_QUEUE_DRIVER_HI] = {VP_QUEUE_DRIVER + 4, 4},
    [VT_QUEUE_DEVICE_LO] = {VP_QUEUE_DEVICE, 4},
    [VT_QUEUE_DEVICE_HI] = {VP_QUEUE_DEVICE + 4, 4},
    [VT_QUEUE_VECTOR] = {VP_QUEUE_MSIX_VECTOR, 2},
    [VT_CONFIG_VECTOR] = {VP_CONFIG_MSIX_VECTOR, 2},
};

static int pci_read(void *t, enum vt_reg reg, uint64_t *val)
{
    struct capdrv_virtio_pci *vp = t;
    if ((unsigned)reg >= VT_REG_COUNT)
        return -CAPDRV_ENOTSUP;
    return vp_region_read(vp, &vp->common, pci_regs[reg].off, pci_regs[reg].width, val);
}

static int pci_write(void *t, enum vt_reg reg, uint64_t val)
{
    struct capdrv_virtio_pci *vp = t;
    if ((unsigned)reg >= VT_REG_COUNT)
        return -CAPDRV_ENOTSUP;
    return vp_region_write(vp, &vp->common, pci_regs[reg].off, pci_regs[reg].width, val);
}

static int pci_config_read(void *t, uint64_t off, unsigned width, uint64_t *val)
{
    struct capdrv_virtio_pci *vp = t;
    return vp_region_read(vp, &vp->device, off, width, val);
}

static int pci_doorbell(void *t, unsigned index, uint64_t *notify_off)
{
    struct capdrv_virtio_pci *vp = t;
    (void)index; /* the selected queue's queue_notify_off names it */
    uint64_t noff;
    int rc = vp_region_read(vp, &vp->common, VP_QUEUE_NOTIFY_OFF, 2, &noff);
    if (rc < 0)
        return rc;
    /* §4.1.4.4: the doorbell is at cap.offset + queue_notify_off *
     * notify_off_multiplier, and must lie inside the notify structure (a
     * device-chosen value: check, never trust). 16 x 32 bits: no overflow
     * in 64. */
    uint64_t off = (noff & 0xffffu) * (uint64_t)vp->notify_mult;
    if (off > vp->notify.length || vp->notify.length - off < 2)
        return -CAPDRV_EPROTO;
    *notify_off = off;
    return 0;
}

static int pci_notify(void *t, uint16_t index, uint64_t notify_off)
{
    struct capdrv_virtio_pci *vp = t;
    /* §4.1.4.4 / §4.1.5.2: a 16-bit write of the queue index (no
     * VIRTIO_F_NOTIFICATION_DATA) at the queue's notify address; queue
     * setup checked the address lies inside the structure. */
    return vp_region_write(vp, &vp->notify, notify_off, 2, index);
}

static const struct vt_ops pci_ops = {
    .read = pci_read,
    .write = pci_write,
    .config_read = pci_config_read,
    .doorbell = pci_doorbell,
    .notify = pci_notify,
    .has_vectors = 1,
    .check_unused = 0,
};

void vp_transport(struct capdrv_virtio_pci *vp, struct vt *v)
{
    v->ops = &pci_ops;
    v->t = vp;
    v->status = &vp->status;
    v->features = &vp->features;
    v->config_len = capdrv_virtio_config_len(vp);
    v->num_queues = vp->num_queues;
}

/* ---- Public verbs (capdrv/virtio.h) ------------------------------------ */

int capdrv_virtio_reset(struct capdrv_virtio_pci *vp)
{
    if (!vp || !vp->sys)
        return -CAPDRV_EINVAL;
    struct vt v;
    vp_transport(vp, &v);
    return vt_reset(&v);
}

int capdrv_virtio_get_status(struct capdrv_virtio_pci *vp, uint8_t *status)
{
    if (!vp || !status)
        return -CAPDRV_EINVAL;
    struct vt v;
    vp_transport(vp, &v);
    return vt_get_status(&v, status);
}

int capdrv_virtio_check(struct capdrv_virtio_pci *vp)
{
    if (!vp)
        return -CAPDRV_EINVAL;
    struct vt v;
    vp_transport(vp, &v);
    return vt_check(&v);
}

int capdrv_virtio_fail(struct capdrv_virtio_pci *vp)
{
    if (!vp || !vp->sys)
        return -CAPDRV_EINVAL;
    struct vt v;
    vp_transport(vp, &v);
    return vt_fail(&v);
}

int capdrv_virtio_device_features(struct capdrv_virtio_pci *vp, uint64_t *features)
{
    if (!vp || !features)
        return -CAPDRV_EINVAL;
    struct vt v;
    vp_transport(vp, &v);
    return vt_device_features(&v, features);
}

int capdrv_virtio_negotiate(struct capdrv_virtio_pci *vp, uint64_t wanted, uint64_t *accepted)
{
    if (!vp || !vp->sys)
        return -CAPDRV_EINVAL;
    struct vt v;
    vp_transport(vp, &v);
    return vt_negotiate(&v, wanted, accepted);
}

int capdrv_virtio_driver_ok(struct capdrv_virtio_pci *vp)
{
    if (!vp || !vp->sys)
        return -CAPDRV_EINVAL;
    struct vt v;
    vp_transport(vp, &v);
    return vt_driver_ok(&v);
}

int capdrv_virtio_config_read(struct capdrv_virtio_pci *vp, uint32_t offset, void *buf,
                              size_t len)
{
    if (!vp || !vp->sys || (!buf && len))
        return -CAPDRV_EINVAL;
    struct vt v;
    vp_transport(vp, &v);
    return vt_config_read(&v, offset, buf, len);
}

int capdrv_virtio_queue_max(struct capdrv_virtio_pci *vp, unsigned index, unsigned *max)
{
    if (!vp || !vp->sys || !max)
        return -CAPDRV_EINVAL;
    struct vt v;
    vp_transport(vp, &v);
    return vt_queue_max(&v, index, max);
}

int capdrv_virtio_config_vector(struct capdrv_virtio_pci *vp, uint16_t vector)
{
    if (!vp || !vp->sys)
        return -CAPDRV_EINVAL;
    struct vt v;
    vp_transport(vp, &v);
    return vt_config_vector(&v, vector);
}

int capdrv_virtio_queue_setup(struct capdrv_virtio_pci *vp, unsigned index,
                              const struct capdrv_virtq *vq, uint16_t vector,
                              struct capdrv_virtio_pci_queue *q)
{
    if (!vp || !vp->sys || !vq || !q)
        return -CAPDRV_EINVAL;
    struct vt v;
    vp_transport(vp, &v);
    uint64_t off = 0;
    int rc = vt_queue_setup(&v, index, vq, vector, &off);
    if (rc < 0)
        return rc;
    memset(q, 0, sizeof *q);
    q->notify_off = off;
    q->index = (uint16_t)index;
    q->vector = vector;
    q->lane = vp->lane;
    return 0;
}

int capdrv_virtio_notify(struct capdrv_virtio_pci *vp, const struct capdrv_virtio_pci_queue *q)
{
    if (!vp || !q)
        return -CAPDRV_EINVAL;
    return pci_notify(vp, q->index, q->notify_off);
}

int capdrv_virtio_pci_kick(struct capdrv_virtio_pci *vp, const struct capdrv_virtio_pci_queue *q,
                           struct capdrv_virtq *vq)
{
    if (!vp || !q || !vq)
        return -CAPDRV_EINVAL;
    struct vt v;
    vp_transport(vp, &v);
    return vt_kick(&v, q->lane, q->index, q->notify_off, vq);
}
