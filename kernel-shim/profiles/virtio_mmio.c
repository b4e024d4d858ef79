/* Profile of virtio-mmio version 2 devices (VIRTIO 1.2 §4.2): the register
 * rules of the MMIO register block (§4.2.2), the function's "BAR 0".
 *
 * Rules enforced:
 * - control registers (0x000..0x0ff) only as aligned 32-bit accesses
 *   (§4.2.2.2), each only in its direction (R or W in the §4.2.2 table);
 *   offsets that are no register are refused;
 * - MagicValue, Version, DeviceID, VendorID, QueueNumMax, InterruptStatus,
 *   ConfigGeneration and QueueReady reads go to the device;
 * - DeviceFeatures hides, and DriverFeatures refuses, the transport
 *   feature bits the shim does not understand (vio_allowed_features(), the
 *   rule shared with virtio PCI); QueueReset (VIRTIO_F_RING_RESET) and the
 *   shared memory registers are refused;
 * - QueueSel is limited to the queues the profile tracks; QueueNum is
 *   kept (it is write-only, §4.2.2) and refused while the queue is ready;
 * - QueueDescLow/High, QueueDriverLow/High, QueueDeviceLow/High are
 *   shadowed per queue: the device sees nothing until QueueReady = 1, when
 *   the areas go through the DMA lanes (virtio_ring.c: ledger check, and
 *   in the brokered lane a shadow descriptor table and available ring) and
 *   the shim programs the device addresses itself; QueueReady = 0 is
 *   refused (the shim could not tell when the device stopped using the
 *   shadow ring);
 * - QueueNotify is the doorbell (§4.2.3.3): the value is the queue index
 *   (no VIRTIO_F_NOTIFICATION_DATA); the lane check of the available ring
 *   (the same as for PCI notify) runs first, then the write;
 * - InterruptACK goes to the device (§4.2.3.4: the driver acknowledges
 *   what it read from InterruptStatus);
 * - Status: writing 0 resets the device (§4.2.2.1); once it reads back 0
 *   the queues and their shadows are dropped and the buffers retired;
 * - device configuration (0x100 on, §4.2.2.2): 1, 2 and 4-byte accesses.
 * Every value read from the device is untrusted: none is used as an index
 * or a length without a bounds check. */
#include "virtio_pci.h"

#include <capdrv/hw.h>

#include "../util.h"

/* §4.2.2 register offsets. */
enum {
    VM_MAGIC = 0x000,
    VM_VERSION = 0x004,
    VM_DEVICE_ID = 0x008,
    VM_VENDOR_ID = 0x00c,
    VM_DEV_FEAT = 0x010,
    VM_DEV_FEAT_SEL = 0x014,
    VM_DRV_FEAT = 0x020,
    VM_DRV_FEAT_SEL = 0x024,
    VM_Q_SEL = 0x030,
    VM_Q_NUM_MAX = 0x034,
    VM_Q_NUM = 0x038,
    VM_Q_READY = 0x044,
    VM_Q_NOTIFY = 0x050,
    VM_INT_STATUS = 0x060,
    VM_INT_ACK = 0x064,
    VM_STATUS = 0x070,
    VM_Q_DESC_LO = 0x080,
    VM_Q_DESC_HI = 0x084,
    VM_Q_DRIVER_LO = 0x090,
    VM_Q_DRIVER_HI = 0x094,
    VM_Q_DEVICE_LO = 0x0a0,
    VM_Q_DEVICE_HI = 0x0a4,
    VM_CONFIG_GEN = 0x0fc,
    VM_CONFIG = 0x100
};

#define VM_VERSION_MODERN 2u /* §4.2.2: 1 is the legacy interface (§4.2.4) */
#define STATUS_RESET_POLLS 1000u

struct vmio_state {
    uint32_t dev_feat_sel, drv_feat_sel;
    uint32_t q_select;
    uint16_t q_num[VIO_MAX_QUEUES]; /* QueueNum as written (write-only register) */
    struct vio_queue q[VIO_MAX_QUEUES];
};

static struct vmio_state *state(struct shim_profile_ctx *ctx)
{
    return ctx->g->profile_priv;
}

static bool never_pci(const struct capdrv_pci_id *id)
{
    (void)id;
    return false; /* chosen by the shim for MMIO devices, never by PCI id */
}

static int reg_raw(struct shim_profile_ctx *ctx, uint64_t off, bool write, uint64_t *val)
{
    int rc = write ? shim_profile_raw_write(ctx, 0, off, 4, *val)
                   : shim_profile_raw_read(ctx, 0, off, 4, val);
    if (rc == 0 && !write)
        *val &= 0xffffffffu;
    return rc < 0 ? -CAPDRV_EIO : 0;
}

static int reg_write(struct shim_profile_ctx *ctx, uint64_t off, uint64_t v)
{
    return reg_raw(ctx, off, true, &v);
}

/* A read of Status 0 means the device is reset (§2.1.2, §4.2.2.1): it
 * uses nothing the profile set up any more. */
static int status_read(struct shim_profile_ctx *ctx, uint64_t *val)
{
    int rc = reg_raw(ctx, VM_STATUS, false, val);
    if (rc == 0 && (*val & 0xffu) == 0) {
        vio_ring_drop_all(ctx, state(ctx)->q, VIO_MAX_QUEUES);
        shim_profile_retire_all(ctx);
    }
    return rc;
}

static int status_reset(struct shim_profile_ctx *ctx)
{
    int rc = reg_write(ctx, VM_STATUS, 0);
    for (unsigned n = 0; rc == 0 && n < STATUS_RESET_POLLS; n++) {
        uint64_t s = 0xff;
        rc = reg_raw(ctx, VM_STATUS, false, &s);
        if (rc == 0 && (s & 0xffu) == 0) {
            vio_ring_drop_all(ctx, state(ctx)->q, VIO_MAX_QUEUES);
            shim_profile_retire_all(ctx);
            break;
        }
    }
    return rc;
}

/* The three 64-bit area addresses of the selected queue as 32-bit halves
 * (§4.2.2: QueueDescLow 0x080 ... QueueDeviceHigh 0x0a4). */
static int queue_addr(struct vmio_state *st, uint64_t off, bool write, uint64_t *val)
{
    unsigned area = (unsigned)((off - VM_Q_DESC_LO) / 0x10u);
    unsigned half = (unsigned)(off & 4u) ? 32u : 0u;
    if (st->q_select >= VIO_MAX_QUEUES)
        return -CAPDRV_EINVAL;
    struct vio_queue *q = &st->q[st->q_select];
    uint64_t *r = &q->ref[area];
    if (!write) {
        *val = (*r >> half) & 0xffffffffu;
        return 0;
    }
    if (q->enabled)
        return -CAPDRV_EBUSY; /* the device took the areas at QueueReady */
    *r = (*r & ~(0xffffffffull << half)) | ((*val & 0xffffffffu) << half);
    return 0;
}

/* QueueReady = 1 (§4.2.3.2 step 8): lane check of the areas, shadow ring
 * in the brokered lane, then the shim programs the device itself. */
static int queue_enable(struct shim_profile_ctx *ctx, struct vmio_state *st)
{
    unsigned qi = st->q_select;
    if (qi >= VIO_MAX_QUEUES)
        return -CAPDRV_EINVAL;
    struct vio_queue *q = &st->q[qi];
    if (q->enabled)
        return -CAPDRV_EBUSY;
    /* QueueNum is the provider's value (it cannot be read back); it must
     * not exceed what the device offers (§4.2.3.2 step 5). QueueNumMax is
     * untrusted and only used to refuse. */
    uint64_t max = 0, size = st->q_num[qi];
    int rc = reg_raw(ctx, VM_Q_NUM_MAX, false, &max);
    if (rc < 0)
        return rc;
    if (size == 0 || size > max)
        return -CAPDRV_EINVAL;
    uint64_t dev[VIO_AREAS];
    if ((rc = vio_ring_prepare(ctx, q, size, dev)) < 0)
        return rc;
    /* The device gets exactly the size the shim validated and sized the
     * shadow for, whatever the provider wrote since. */
    rc = reg_write(ctx, VM_Q_SEL, qi);
    if (rc == 0)
        rc = reg_write(ctx, VM_Q_NUM, size);
    for (unsigned a = 0; a < VIO_AREAS && rc == 0; a++) {
        uint64_t lo = VM_Q_DESC_LO + 0x10u * a;
        rc = reg_write(ctx, lo, dev[a] & 0xffffffffu);
        if (rc == 0)
            rc = reg_write(ctx, lo + 4, dev[a] >> 32);
    }
    if (rc == 0)
        rc = reg_write(ctx, VM_Q_READY, 1);
    if (rc < 0) {
        vio_ring_abort(ctx, q);
        return rc;
    }
    vio_ring_enabled(q, size, VM_Q_NOTIFY);
    return 0;
}

static int control_access(struct shim_profile_ctx *ctx, struct vmio_state *st, uint64_t off,
                          bool write, uint64_t *val)
{
    uint64_t allowed = vio_allowed_features(ctx->g->lane);
    if (off >= VM_Q_DESC_LO && off <= VM_Q_DEVICE_HI && (off & 0xfu) < 8u)
        return queue_addr(st, off, write, val);
    switch (off) {
    case VM_MAGIC:
    case VM_VERSION:
    case VM_DEVICE_ID:
    case VM_VENDOR_ID:
    case VM_Q_NUM_MAX:
    case VM_INT_STATUS:
    case VM_CONFIG_GEN:
        return write ? -CAPDRV_EPERM : reg_raw(ctx, off, false, val);
    case VM_DEV_FEAT: {
        if (write)
            return -CAPDRV_EPERM;
        int rc = reg_raw(ctx, off, false, val);
        if (rc == 0 && st->dev_feat_sel < 2)
            *val &= (allowed >> (32 * st->dev_feat_sel)) & 0xffffffffu;
        return rc;
    }
    case VM_DEV_FEAT_SEL:
    case VM_DRV_FEAT_SEL:
        if (!write)
            return -CAPDRV_EPERM;
        if (off == VM_DEV_FEAT_SEL)
            st->dev_feat_sel = (uint32_t)*val;
        else
            st->drv_feat_sel = (uint32_t)*val;
        return reg_raw(ctx, off, true, val);
    case VM_DRV_FEAT:
        if (!write)
            return -CAPDRV_EPERM;
        if (st->drv_feat_sel < 2 &&
            (*val & ~((allowed >> (32 * st->drv_feat_sel)) & 0xffffffffu)))
            return -CAPDRV_EPERM; /* a hidden feature */
        return reg_raw(ctx, off, true, val);
    case VM_Q_SEL:
        if (!write)
            return -CAPDRV_EPERM;
        /* Write-only (§4.2.2), so the shim cannot read back what the device
         * selected: it only lets through indices it tracks. */
        if (*val >= VIO_MAX_QUEUES)
            return -CAPDRV_EINVAL;
        st->q_select = (uint32_t)*val;
        return reg_raw(ctx, off, true, val);
    case VM_Q_NUM:
        if (!write)
            return -CAPDRV_EPERM;
        if (st->q_select >= VIO_MAX_QUEUES)
            return -CAPDRV_EINVAL;
        if (st->q[st->q_select].enabled)
            return -CAPDRV_EBUSY;
        if (*val == 0 || *val > VIO_MAX_QSIZE || (*val & (*val - 1)))
            return -CAPDRV_EINVAL; /* §2.7: a power of two up to 32768 */
        st->q_num[st->q_select] = (uint16_t)*val;
        return reg_raw(ctx, off, true, val);
    case VM_Q_READY:
        if (!write)
            return reg_raw(ctx, off, false, val);
        if (*val != 1)
            return -CAPDRV_EINVAL;
        return queue_enable(ctx, st);
    case VM_Q_NOTIFY: {
        if (!write)
            return -CAPDRV_EPERM;
        /* §4.2.2 QueueNotify: without VIRTIO_F_NOTIFICATION_DATA the value
         * is the index of the queue with new buffers. */
        if (*val >= VIO_MAX_QUEUES || !st->q[*val].enabled)
            return -CAPDRV_EINVAL;
        int rc = vio_ring_notify(ctx, &st->q[*val]);
        return rc < 0 ? rc : reg_raw(ctx, off, true, val);
    }
    case VM_INT_ACK:
        if (!write)
            return -CAPDRV_EPERM;
        return reg_raw(ctx, off, true, val);
    case VM_STATUS:
        if (!write)
            return status_read(ctx, val);
        if ((*val & 0xffu) == 0)
            return status_reset(ctx);
        return reg_raw(ctx, off, true, val);
    default:
        /* QueueReset (0x0c0, RING_RESET is hidden), shared memory
         * (0x0ac..0x0bc), reserved offsets. */
        return -CAPDRV_EFAULT;
    }
}

static int vmio_access(struct shim_profile_ctx *ctx, unsigned bar, uint64_t bar_off,
                       unsigned width, bool write, uint64_t *val)
{
    struct vmio_state *st = state(ctx);
    if (bar != 0)
        return -CAPDRV_EFAULT; /* an MMIO device has only its register region */
    if (bar_off >= VM_CONFIG)
        return width <= 4 ? SHIM_PROFILE_PASS : -CAPDRV_EINVAL; /* §4.2.2.2 */
    if (width != 4 || (bar_off & 3u))
        return -CAPDRV_EINVAL; /* §4.2.2.2: 32-bit, aligned */
    return control_access(ctx, st, bar_off, write, val);
}

/* Bind: the device must be a virtio-mmio version 2 device with a device
 * behind it (§4.2.3.1.1: DeviceID 0 is a placeholder). */
static int vmio_bind(struct shim_profile_ctx *ctx, char *why, unsigned long why_len)
{
    uint64_t magic = 0, version = 0, id = 0;
    int rc = reg_raw(ctx, VM_MAGIC, false, &magic);
    if (rc == 0)
        rc = reg_raw(ctx, VM_VERSION, false, &version);
    if (rc == 0)
        rc = reg_raw(ctx, VM_DEVICE_ID, false, &id);
    const char *msg = rc < 0                              ? "cannot read its registers"
                      : magic != SHIM_VIRTIO_MMIO_MAGIC   ? "MagicValue is not \"virt\""
                      : version != VM_VERSION_MODERN      ? "is not virtio-mmio version 2 "
                                                            "(legacy devices are refused)"
                      : id == 0                           ? "has DeviceID 0 (no device)"
                      : ctx->g->fn.bar_size[0] < VM_CONFIG ? "register region is too small"
                                                           : NULL;
    if (msg) {
        shim_str_set(why, why_len, "grant ", ctx->g->m->name);
        shim_str_append(why, why_len, ": virtio-mmio device ");
        shim_str_append(why, why_len, msg);
        return rc < 0 ? -CAPDRV_EIO : -CAPDRV_ENODEV;
    }
    struct vmio_state *st = shim_profile_alloc(ctx, sizeof *st);
    if (!st)
        return -CAPDRV_ENOMEM;
    ctx->g->profile_priv = st;
    return 0;
}

static void vmio_unbind(struct shim_profile_ctx *ctx)
{
    if (ctx->g->profile_priv)
        vio_ring_free_stages(ctx, state(ctx)->q, VIO_MAX_QUEUES);
    shim_profile_free(ctx, ctx->g->profile_priv);
    ctx->g->profile_priv = NULL;
}

static void vmio_forget(struct shim_profile_ctx *ctx)
{
    struct vmio_state *st = state(ctx);
    if (!st)
        return;
    vio_ring_drop_all(ctx, st->q, VIO_MAX_QUEUES);
    st->dev_feat_sel = st->drv_feat_sel = 0;
    st->q_select = 0;
    for (unsigned i = 0; i < VIO_MAX_QUEUES; i++)
        st->q_num[i] = 0;
}

/* A reset device (Status 0, §2.1.2) performs no DMA. */
static bool vmio_idle(struct shim_profile_ctx *ctx)
{
    uint64_t s = 0xff;
    return ctx->g->profile_priv && status_read(ctx, &s) == 0 && (s & 0xffu) == 0;
}

const struct shim_profile shim_profile_virtio_mmio = {
    .name = "virtio-mmio",
    .match = never_pci,
    .dma = true,
    .nvme = false,
    .regmap_bar = -1,
    .idle = vmio_idle,
    .bind = vmio_bind,
    .unbind = vmio_unbind,
    .access = vmio_access,
    .forget = vmio_forget,
};
