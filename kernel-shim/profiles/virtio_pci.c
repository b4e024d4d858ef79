/* Profile of virtio PCI modern devices (VIRTIO 1.2 §4.1): the register
 * rules. Every access of a window that falls in a virtio structure is
 * checked here; accesses elsewhere in those BARs are refused, and BARs that
 * hold no virtio structure are forwarded raw (they cannot start DMA).
 *
 * Rules enforced:
 * - common configuration (§4.1.4.3): fields only at their own offset and
 *   width (64-bit queue addresses also as two 32-bit halves, §4.1.3.1);
 *   read-only fields not written; queue_desc/driver/device are shadowed
 *   per queue and reach the device only through the DMA lanes at
 *   queue_enable; feature bits that would change the ring format or the
 *   notify protocol are hidden from device_feature and refused in
 *   driver_feature; queue_enable 0 and queue_reset are refused;
 * - writing 0 to device_status resets the device (§4.1.4.3.1); once it
 *   reads back 0 the queues and their shadows are dropped;
 * - ISR (§4.1.4.5): one-byte reads; device configuration (§4.1.4.6): 1, 2
 *   and 4-byte accesses;
 * - notify (§4.1.4.4): a 2-byte write of an enabled queue's index at that
 *   queue's address runs the lane check first (virtio_ring.c). */
#include "virtio_pci.h"

#include <capdrv/hw.h>

#define VIRTIO_VENDOR 0x1af4
#define VIRTIO_DEV_FIRST 0x1000 /* §4.1.2: transitional 0x1000..0x103f, modern 0x1040..0x107f */
#define VIRTIO_DEV_LAST 0x107f
#define STATUS_RESET_POLLS 1000u /* bounded wait for a reset to read back 0 */

/* §6: feature bits 24..49 are reserved for the transport and ring. */
#define F_INDIRECT_DESC 28
#define F_EVENT_IDX 29
#define F_VERSION_1 32
#define F_ACCESS_PLATFORM 33
#define F_ORDER_PLATFORM 36
#define BIT(n) (1ull << (n))
#define TRANSPORT_BITS (((1ull << 50) - 1) & ~((1ull << 24) - 1))

uint64_t vio_allowed_features(enum capdrv_lane lane)
{
    uint64_t transport = BIT(F_VERSION_1) | BIT(F_ACCESS_PLATFORM) | BIT(F_ORDER_PLATFORM);
    /* The brokered lane sees the driver's ring only at notify, so the
     * driver must notify every publish (no EVENT_IDX), and indirect tables
     * would need per-request shadow tables (not provided yet). */
    if (lane == CAPDRV_LANE_DIRECT)
        transport |= BIT(F_INDIRECT_DESC) | BIT(F_EVENT_IDX);
    return ~TRANSPORT_BITS | transport;
}

static struct vio_state *state(struct shim_profile_ctx *ctx)
{
    return ctx->g->profile_priv;
}

static bool virtio_match(const struct capdrv_pci_id *id)
{
    return id->vendor == VIRTIO_VENDOR && id->device >= VIRTIO_DEV_FIRST &&
           id->device <= VIRTIO_DEV_LAST;
}

static bool in_region(const struct vio_region *r, unsigned bar, uint64_t off, unsigned width)
{
    return r->present && r->bar == bar && off >= r->offset && off - r->offset < r->length &&
           width <= r->length - (off - r->offset);
}

static int common_raw(struct shim_profile_ctx *ctx, uint64_t field, unsigned width, bool write,
                      uint64_t *val)
{
    const struct vio_region *c = &state(ctx)->cap[VIO_CAP_COMMON];
    int rc = write ? shim_profile_raw_write(ctx, c->bar, c->offset + field, width, *val)
                   : shim_profile_raw_read(ctx, c->bar, c->offset + field, width, val);
    return rc < 0 ? -CAPDRV_EIO : 0;
}

/* Read device_status; a read of 0 means the device is reset: nothing the
 * profile set up is in use any more (§2.1.2). */
static int status_read(struct shim_profile_ctx *ctx, uint64_t *val)
{
    int rc = common_raw(ctx, VIO_STATUS, 1, false, val);
    if (rc == 0 && (*val & 0xffu) == 0) {
        vio_queues_drop(ctx, state(ctx));
        shim_profile_retire_all(ctx);
    }
    return rc;
}

/* A queue address field, whole (8 bytes) or one 32-bit half (§4.1.3.1). */
static int queue_addr(struct vio_state *st, uint64_t field, unsigned width, bool write,
                      uint64_t *val)
{
    uint64_t base = field & ~7ull;
    unsigned half = (unsigned)(field - base); /* 0 or 4 */
    if (!(width == 8 && half == 0) && width != 4)
        return -CAPDRV_EINVAL;
    unsigned area = (unsigned)((base - VIO_Q_DESC) / 8);
    if (st->q_select >= VIO_MAX_QUEUES)
        return -CAPDRV_EINVAL; /* the profile tracks VIO_MAX_QUEUES queues */
    struct vio_queue *q = &st->q[st->q_select];
    uint64_t *r = &q->ref[area];
    if (!write) {
        *val = width == 8 ? *r : (*r >> (8 * half)) & 0xffffffffu;
        return 0;
    }
    if (q->enabled)
        return -CAPDRV_EBUSY; /* §4.1.4.3.2: not changed while enabled */
    if (width == 8)
        *r = *val;
    else
        *r = (*r & ~(0xffffffffull << (8 * half))) | (*val << (8 * half));
    return 0;
}

static int common_access(struct shim_profile_ctx *ctx, struct vio_state *st, uint64_t field,
                         unsigned width, bool write, uint64_t *val)
{
    static const struct {
        uint8_t off, width, writable;
    } fields[] = {
        {VIO_DEV_FEAT_SEL, 4, 1}, {VIO_DEV_FEAT, 4, 0},   {VIO_DRV_FEAT_SEL, 4, 1},
        {VIO_DRV_FEAT, 4, 1},     {VIO_CONFIG_MSIX, 2, 1}, {VIO_NUM_QUEUES, 2, 0},
        {VIO_STATUS, 1, 1},       {VIO_CONFIG_GEN, 1, 0}, {VIO_Q_SELECT, 2, 1},
        {VIO_Q_SIZE, 2, 1},       {VIO_Q_MSIX, 2, 1},     {VIO_Q_ENABLE, 2, 1},
        {VIO_Q_NOTIFY_OFF, 2, 0}, {VIO_Q_NOTIFY_DATA, 2, 0}, {VIO_Q_RESET, 2, 1},
    };
    if (field >= VIO_Q_DESC && field < VIO_Q_DEVICE + 8)
        return queue_addr(st, field, width, write, val);
    unsigned i = 0;
    while (i < sizeof fields / sizeof fields[0] && fields[i].off != field)
        i++;
    if (i == sizeof fields / sizeof fields[0])
        return -CAPDRV_EFAULT; /* not a field (padding or beyond) */
    if (fields[i].width != width)
        return -CAPDRV_EINVAL;
    if (write && !fields[i].writable)
        return -CAPDRV_EPERM;
    uint64_t allowed = vio_allowed_features(ctx->g->lane);
    switch (field) {
    case VIO_DEV_FEAT_SEL:
        if (write)
            st->dev_feat_sel = (uint32_t)*val;
        break;
    case VIO_DRV_FEAT_SEL:
        if (write)
            st->drv_feat_sel = (uint32_t)*val;
        break;
    case VIO_DEV_FEAT: {
        int rc = common_raw(ctx, field, width, false, val);
        if (rc == 0 && st->dev_feat_sel < 2)
            *val &= (allowed >> (32 * st->dev_feat_sel)) & 0xffffffffu;
        return rc;
    }
    case VIO_DRV_FEAT:
        if (write && st->drv_feat_sel < 2 &&
            (*val & ~((allowed >> (32 * st->drv_feat_sel)) & 0xffffffffu)))
            return -CAPDRV_EPERM; /* a hidden feature */
        break;
    case VIO_STATUS:
        if (!write)
            return status_read(ctx, val);
        if (*val == 0) {
            int rc = common_raw(ctx, field, width, true, val);
            for (unsigned n = 0; rc == 0 && n < STATUS_RESET_POLLS; n++) {
                uint64_t s = 0xff;
                rc = common_raw(ctx, VIO_STATUS, 1, false, &s);
                if (rc == 0 && s == 0) {
                    vio_queues_drop(ctx, st);
                    shim_profile_retire_all(ctx);
                    break;
                }
            }
            return rc;
        }
        break;
    case VIO_Q_SELECT:
        /* The profile tracks VIO_MAX_QUEUES queues; a device may ignore a
         * select it does not have (QEMU does), which would leave the shim
         * and the device disagreeing on the selected queue. */
        if (write && *val >= VIO_MAX_QUEUES)
            return -CAPDRV_EINVAL;
        if (write) {
            /* Track what the device selected, not what was asked. */
            uint64_t back = 0;
            int rc = common_raw(ctx, field, width, true, val);
            if (rc == 0)
                rc = common_raw(ctx, field, width, false, &back);
            if (rc == 0 && back != *val)
                rc = -CAPDRV_EINVAL; /* the device has no such queue */
            if (rc == 0)
                st->q_select = (uint16_t)back;
            return rc;
        }
        break;
    case VIO_Q_SIZE:
        if (write && st->q[st->q_select].enabled)
            return -CAPDRV_EBUSY;
        break;
    case VIO_Q_ENABLE:
        if (!write)
            break;
        if (*val != 1)
            return -CAPDRV_EINVAL; /* §4.1.4.3.2: the driver MUST NOT write 0 */
        if (st->q_select >= VIO_MAX_QUEUES)
            return -CAPDRV_EINVAL;
        return vio_queue_enable(ctx, st, st->q_select);
    case VIO_Q_RESET:
        if (write)
            return -CAPDRV_EPERM; /* VIRTIO_F_RING_RESET is hidden */
        break;
    default:
        break;
    }
    if (field + width > st->cap[VIO_CAP_COMMON].length)
        return -CAPDRV_EFAULT; /* an optional field this device does not have */
    return common_raw(ctx, field, width, write, val);
}

static int notify_access(struct shim_profile_ctx *ctx, struct vio_state *st, uint64_t off,
                         unsigned width, bool write, uint64_t val)
{
    if (!write)
        return -CAPDRV_EPERM;
    /* §4.1.5.2: without VIRTIO_F_NOTIFICATION_DATA the driver writes the
     * 16-bit queue index at queue_notify_off * notify_off_multiplier. */
    if (width != 2 || val >= VIO_MAX_QUEUES || !st->q[val].enabled ||
        st->q[val].notify_off != off)
        return -CAPDRV_EINVAL;
    int rc = vio_queue_notify(ctx, st, (unsigned)val);
    if (rc < 0)
        return rc;
    const struct vio_region *n = &st->cap[VIO_CAP_NOTIFY];
    return shim_profile_raw_write(ctx, n->bar, n->offset + off, 2, val) < 0 ? -CAPDRV_EIO : 0;
}

static int virtio_access(struct shim_profile_ctx *ctx, unsigned bar, uint64_t bar_off,
                         unsigned width, bool write, uint64_t *val)
{
    struct vio_state *st = state(ctx);
    const struct vio_region *c = st->cap;
    if (in_region(&c[VIO_CAP_COMMON], bar, bar_off, width))
        return common_access(ctx, st, bar_off - c[VIO_CAP_COMMON].offset, width, write, val);
    if (in_region(&c[VIO_CAP_NOTIFY], bar, bar_off, width))
        return notify_access(ctx, st, bar_off - c[VIO_CAP_NOTIFY].offset, width, write, *val);
    if (in_region(&c[VIO_CAP_ISR], bar, bar_off, width))
        return !write && width == 1 && bar_off == c[VIO_CAP_ISR].offset ? SHIM_PROFILE_PASS
                                                                       : -CAPDRV_EPERM;
    if (in_region(&c[VIO_CAP_DEVICE], bar, bar_off, width))
        return width <= 4 ? SHIM_PROFILE_PASS : -CAPDRV_EINVAL;
    for (unsigned t = 0; t < VIO_CAP_TYPES; t++)
        if (c[t].present && c[t].bar == bar)
            return -CAPDRV_EFAULT; /* between or across structures */
    return SHIM_PROFILE_PASS; /* a BAR without virtio structures */
}

static int virtio_bind(struct shim_profile_ctx *ctx, char *why, unsigned long why_len)
{
    struct vio_state *st = shim_profile_alloc(ctx, sizeof *st);
    if (!st)
        return -CAPDRV_ENOMEM;
    int rc = vio_find_caps(ctx, st, why, why_len);
    if (rc < 0) {
        shim_profile_free(ctx, st);
        return rc;
    }
    ctx->g->profile_priv = st;
    return 0;
}

static void virtio_unbind(struct shim_profile_ctx *ctx)
{
    if (ctx->g->profile_priv)
        vio_ring_free_stages(ctx, state(ctx)->q, VIO_MAX_QUEUES);
    shim_profile_free(ctx, ctx->g->profile_priv);
    ctx->g->profile_priv = NULL;
}

static void virtio_forget(struct shim_profile_ctx *ctx)
{
    struct vio_state *st = state(ctx);
    if (!st)
        return;
    vio_queues_drop(ctx, st);
    st->dev_feat_sel = st->drv_feat_sel = 0;
    st->q_select = 0;
}

/* A reset device (device_status 0, §2.1.2) performs no DMA. */
static bool virtio_idle(struct shim_profile_ctx *ctx)
{
    uint64_t s = 0xff;
    return ctx->g->profile_priv && status_read(ctx, &s) == 0 && (s & 0xffu) == 0;
}

const struct shim_profile shim_profile_virtio_pci = {
    .name = "virtio-pci",
    .match = virtio_match,
    .dma = true,
    .nvme = false,
    .regmap_bar = -1,
    .idle = virtio_idle,
    .bind = virtio_bind,
    .unbind = virtio_unbind,
    .access = virtio_access,
    .forget = virtio_forget,
};
