/* virtio-mmio transport, version 2 (VIRTIO 1.2 §4.2): bind a register
 * block reached through one grant window, map the abstract registers of
 * transport.h onto it, and expose the verbs of capdrv/virtio_mmio.h over
 * the transport-neutral logic of device.c. */
#include "mmio_internal.h"

#include <string.h>

/* §4.2.2, "MMIO Device Register Layout"; 0xff: the transport has no such
 * register (MSI-X vectors exist only on PCI). */
#define NO_REG 0xffu
static const uint8_t mmio_regs[VT_REG_COUNT] = {
    [VT_DEV_FEATURE_SEL] = CAPDRV_VIRTIO_MMIO_DEVICE_FEATURES_SEL,
    [VT_DEV_FEATURE] = CAPDRV_VIRTIO_MMIO_DEVICE_FEATURES,
    [VT_DRV_FEATURE_SEL] = CAPDRV_VIRTIO_MMIO_DRIVER_FEATURES_SEL,
    [VT_DRV_FEATURE] = CAPDRV_VIRTIO_MMIO_DRIVER_FEATURES,
    [VT_STATUS] = CAPDRV_VIRTIO_MMIO_STATUS,
    [VT_CONFIG_GEN] = CAPDRV_VIRTIO_MMIO_CONFIG_GENERATION,
    [VT_QUEUE_SEL] = CAPDRV_VIRTIO_MMIO_QUEUE_SEL,
    [VT_QUEUE_MAX] = CAPDRV_VIRTIO_MMIO_QUEUE_NUM_MAX,
    [VT_QUEUE_SIZE] = CAPDRV_VIRTIO_MMIO_QUEUE_NUM,
    [VT_QUEUE_ENABLE] = CAPDRV_VIRTIO_MMIO_QUEUE_READY,
    [VT_QUEUE_DESC_LO] = CAPDRV_VIRTIO_MMIO_QUEUE_DESC_LOW,
    [VT_QUEUE_DESC_HI] = CAPDRV_VIRTIO_MMIO_QUEUE_DESC_HIGH,
    [VT_QUEUE_DRIVER_LO] = CAPDRV_VIRTIO_MMIO_QUEUE_DRIVER_LOW,
    [VT_QUEUE_DRIVER_HI] = CAPDRV_VIRTIO_MMIO_QUEUE_DRIVER_HIGH,
    [VT_QUEUE_DEVICE_LO] = CAPDRV_VIRTIO_MMIO_QUEUE_DEVICE_LOW,
    [VT_QUEUE_DEVICE_HI] = CAPDRV_VIRTIO_MMIO_QUEUE_DEVICE_HIGH,
    [VT_QUEUE_VECTOR] = NO_REG,
    [VT_CONFIG_VECTOR] = NO_REG,
};

/* §4.2.2.2: the driver MUST use only 32-bit wide, aligned accesses to the
 * control registers. */
static int reg_read(struct capdrv_virtio_mmio *vm, uint32_t off, uint64_t *val)
{
    if (!vm->mmio)
        return -CAPDRV_ENOENT;
    int rc = capdrv_mmio_read(vm->sys, vm->mmio, off, 4, val);
    if (rc == 0)
        *val &= 0xffffffffu;
    return rc;
}

static int reg_write(struct capdrv_virtio_mmio *vm, uint32_t off, uint64_t val)
{
    if (!vm->mmio)
        return -CAPDRV_ENOENT;
    return capdrv_mmio_write(vm->sys, vm->mmio, off, 4, val & 0xffffffffu);
}

static int mmio_read(void *t, enum vt_reg reg, uint64_t *val)
{
    if ((unsigned)reg >= VT_REG_COUNT || mmio_regs[reg] == NO_REG)
        return -CAPDRV_ENOTSUP;
    return reg_read(t, mmio_regs[reg], val);
}

static int mmio_write(void *t, enum vt_reg reg, uint64_t val)
{
    if ((unsigned)reg >= VT_REG_COUNT || mmio_regs[reg] == NO_REG)
        return -CAPDRV_ENOTSUP;
    return reg_write(t, mmio_regs[reg], val);
}

static int mmio_config_read(void *t, uint64_t off, unsigned width, uint64_t *val)
{
    struct capdrv_virtio_mmio *vm = t;
    /* device.c bounds [off, off+width) by config_len, which open derived
     * from the window length: the access stays inside the window. */
    if (!vm->mmio)
        return -CAPDRV_ENOENT;
    return capdrv_mmio_read(vm->sys, vm->mmio, CAPDRV_VIRTIO_MMIO_CONFIG + off, width, val);
}

static int mmio_doorbell(void *t, unsigned index, uint64_t *notify_off)
{
    (void)t;
    (void)index;
    /* §4.2.2: one QueueNotify register for every queue. */
    *notify_off = 0;
    return 0;
}

static int mmio_notify(void *t, uint16_t index, uint64_t notify_off)
{
    (void)notify_off;
    /* §4.2.2 / §4.2.3.3: without VIRTIO_F_NOTIFICATION_DATA the value
     * written is the queue index. */
    return reg_write(t, CAPDRV_VIRTIO_MMIO_QUEUE_NOTIFY, index);
}

static const struct vt_ops mmio_ops = {
    .read = mmio_read,
    .write = mmio_write,
    .config_read = mmio_config_read,
    .doorbell = mmio_doorbell,
    .notify = mmio_notify,
    .has_vectors = 0,
    .check_unused = 1, /* §4.2.3.2 step 2 */
};

void vm_transport(struct capdrv_virtio_mmio *vm, struct vt *v)
{
    v->ops = &mmio_ops;
    v->t = vm;
    v->status = &vm->status;
    v->features = &vm->features;
    v->config_len = vm->config_len;
    v->num_queues = CAPDRV_VIRTIO_MMIO_MAX_QUEUES;
}

/* ---- Bind and release ------------------------------------------------- */

static int open_window(struct capdrv_virtio_mmio *vm, unsigned window, char *why, size_t why_len)
{
    struct capdrv_window_info wi;
    int rc = capdrv_window_info(vm->sys, vm->grant, window, &wi);
    if (rc < 0) {
        vp_say(why, why_len, "window %u: %s", window, capdrv_strerror(rc));
        return rc;
    }
    if (wi.length < CAPDRV_VIRTIO_MMIO_CONFIG) {
        vp_say(why, why_len,
               "window %u (%s) is %#llx bytes: the virtio-mmio control registers need %#x", window,
               wi.name, (unsigned long long)wi.length, CAPDRV_VIRTIO_MMIO_CONFIG);
        return -CAPDRV_EFAULT;
    }
    const uint32_t rw = CAPDRV_WINDOW_READ | CAPDRV_WINDOW_WRITE;
    if ((wi.flags & rw) != rw) {
        vp_say(why, why_len, "window %u (%s) is not readable and writable", window, wi.name);
        return -CAPDRV_EPERM;
    }
    if ((rc = capdrv_mmio_open(vm->sys, vm->grant, window, &vm->mmio)) < 0) {
        vm->mmio = CAPDRV_CAP_INVALID;
        vp_say(why, why_len, "open window %u (%s): %s", window, wi.name, capdrv_strerror(rc));
        return rc;
    }
    vm->window = window;
    vm->config_len = wi.length - CAPDRV_VIRTIO_MMIO_CONFIG;
    return 0;
}

/* §4.2.3.1: check MagicValue and Version, then DeviceID; when any is not
 * what a version-2 driver expects, touch no other register. */
static int identify(struct capdrv_virtio_mmio *vm, char *why, size_t why_len)
{
    uint64_t magic, version, id, vendor;
    int rc;
    if ((rc = reg_read(vm, CAPDRV_VIRTIO_MMIO_MAGIC_VALUE, &magic)) < 0 ||
        (rc = reg_read(vm, CAPDRV_VIRTIO_MMIO_VERSION_REG, &version)) < 0) {
        vp_say(why, why_len, "read magic/version: %s", capdrv_strerror(rc));
        return rc;
    }
    if (magic != CAPDRV_VIRTIO_MMIO_MAGIC) {
        vp_say(why, why_len, "magic value %#llx is not \"virt\" (%#x): not a virtio-mmio device",
               (unsigned long long)magic, CAPDRV_VIRTIO_MMIO_MAGIC);
        return -CAPDRV_ENODEV;
    }
    if (version == 1) {
        vp_say(why, why_len,
               "virtio-mmio version 1 is the legacy interface (VIRTIO 1.2 §4.2.4): only version 2 "
               "is supported");
        return -CAPDRV_ENODEV;
    }
    if (version != CAPDRV_VIRTIO_MMIO_VERSION) {
        vp_say(why, why_len, "unknown virtio-mmio version %llu: only version 2 is supported",
               (unsigned long long)version);
        return -CAPDRV_ENODEV;
    }
    if ((rc = reg_read(vm, CAPDRV_VIRTIO_MMIO_DEVICE_ID, &id)) < 0) {
        vp_say(why, why_len, "read device id: %s", capdrv_strerror(rc));
        return rc;
    }
    if (id == 0) {
        vp_say(why, why_len,
               "device id 0: a placeholder slot with no device behind it (VIRTIO 1.2 §4.2.3.1)");
        return -CAPDRV_ENODEV;
    }
    if ((rc = reg_read(vm, CAPDRV_VIRTIO_MMIO_VENDOR_ID, &vendor)) < 0) {
        vp_say(why, why_len, "read vendor id: %s", capdrv_strerror(rc));
        return rc;
    }
    vm->device_id = (uint32_t)id;
    vm->vendor_id = (uint32_t)vendor;
    return 0;
}

int capdrv_virtio_mmio_open(capdrv_sys *sys, capdrv_cap_t grant, unsigned window,
                            struct capdrv_virtio_mmio *vm, char *why, size_t why_len)
{
    if (!vm)
        return -CAPDRV_EINVAL;
    memset(vm, 0, sizeof *vm);
    if (!sys) {
        vp_say(why, why_len, "no connection");
        return -CAPDRV_EINVAL;
    }
    vp_say(why, why_len, "ok");
    vm->sys = sys;
    vm->grant = grant;
    int rc = open_window(vm, window, why, why_len);
    if (rc == 0)
        rc = identify(vm, why, why_len);
    if (rc == 0 && (rc = capdrv_grant_lane(sys, grant)) < 0)
        vp_say(why, why_len, "grant lane: %s", capdrv_strerror(rc));
    if (rc >= 0) {
        vm->lane = rc;
        rc = 0;
    }
    struct vt v;
    vm_transport(vm, &v);
    /* §4.2.3.1 / §3.1.1 steps 1-3: reset, ACKNOWLEDGE, DRIVER. */
    if (rc == 0 && (rc = vt_reset(&v)) < 0)
        vp_say(why, why_len, "device reset: %s", capdrv_strerror(rc));
    if (rc == 0 && ((rc = vt_set_status(&v, CAPDRV_VIRTIO_STATUS_ACKNOWLEDGE)) < 0 ||
                    (rc = vt_set_status(&v, CAPDRV_VIRTIO_STATUS_DRIVER)) < 0))
        vp_say(why, why_len, "write device status: %s", capdrv_strerror(rc));
    if (rc < 0) {
        if (vm->mmio)
            (void)capdrv_cap_release(sys, vm->mmio);
        memset(vm, 0, sizeof *vm);
        return rc;
    }
    return 0;
}

void capdrv_virtio_mmio_close(struct capdrv_virtio_mmio *vm)
{
    if (!vm || !vm->sys)
        return;
    /* §2.4: a reset makes the device stop using the queues before the
     * caller frees their memory. Best effort: releasing the grant
     * quiesces the device regardless. */
    if (vm->mmio) {
        (void)capdrv_virtio_mmio_reset(vm);
        (void)capdrv_cap_release(vm->sys, vm->mmio);
    }
    memset(vm, 0, sizeof *vm);
}

/* ---- Verbs over device.c ------------------------------------------------ */

int capdrv_virtio_mmio_reset(struct capdrv_virtio_mmio *vm)
{
    if (!vm || !vm->sys)
        return -CAPDRV_EINVAL;
    struct vt v;
    vm_transport(vm, &v);
    return vt_reset(&v);
}

int capdrv_virtio_mmio_get_status(struct capdrv_virtio_mmio *vm, uint8_t *status)
{
    if (!vm || !vm->sys || !status)
        return -CAPDRV_EINVAL;
    struct vt v;
    vm_transport(vm, &v);
    return vt_get_status(&v, status);
}

int capdrv_virtio_mmio_check(struct capdrv_virtio_mmio *vm)
{
    if (!vm || !vm->sys)
        return -CAPDRV_EINVAL;
    struct vt v;
    vm_transport(vm, &v);
    return vt_check(&v);
}

int capdrv_virtio_mmio_fail(struct capdrv_virtio_mmio *vm)
{
    if (!vm || !vm->sys)
        return -CAPDRV_EINVAL;
    struct vt v;
    vm_transport(vm, &v);
    return vt_fail(&v);
}

int capdrv_virtio_mmio_device_features(struct capdrv_virtio_mmio *vm, uint64_t *features)
{
    if (!vm || !vm->sys || !features)
        return -CAPDRV_EINVAL;
    struct vt v;
    vm_transport(vm, &v);
    return vt_device_features(&v, features);
}

int capdrv_virtio_mmio_negotiate(struct capdrv_virtio_mmio *vm, uint64_t wanted,
                                 uint64_t *accepted)
{
    if (!vm || !vm->sys)
        return -CAPDRV_EINVAL;
    struct vt v;
    vm_transport(vm, &v);
    return vt_negotiate(&v, wanted, accepted);
}

int capdrv_virtio_mmio_driver_ok(struct capdrv_virtio_mmio *vm)
{
    if (!vm || !vm->sys)
        return -CAPDRV_EINVAL;
    struct vt v;
    vm_transport(vm, &v);
    return vt_driver_ok(&v);
}

int capdrv_virtio_mmio_config_read(struct capdrv_virtio_mmio *vm, uint32_t offset, void *buf,
                                   size_t len)
{
    if (!vm || !vm->sys || (!buf && len))
        return -CAPDRV_EINVAL;
    struct vt v;
    vm_transport(vm, &v);
    return vt_config_read(&v, offset, buf, len);
}

int capdrv_virtio_mmio_queue_max(struct capdrv_virtio_mmio *vm, unsigned index, unsigned *max)
{
    if (!vm || !vm->sys || !max)
        return -CAPDRV_EINVAL;
    struct vt v;
    vm_transport(vm, &v);
    return vt_queue_max(&v, index, max);
}

int capdrv_virtio_mmio_queue_setup(struct capdrv_virtio_mmio *vm, unsigned index,
                                   const struct capdrv_virtq *vq,
                                   struct capdrv_virtio_mmio_queue *q)
{
    if (!vm || !vm->sys || !vq || !q)
        return -CAPDRV_EINVAL;
    struct vt v;
    vm_transport(vm, &v);
    uint64_t off;
    int rc = vt_queue_setup(&v, index, vq, CAPDRV_VIRTIO_MSI_NO_VECTOR, &off);
    if (rc < 0)
        return rc;
    memset(q, 0, sizeof *q);
    q->index = (uint16_t)index;
    q->lane = vm->lane;
    return 0;
}

int capdrv_virtio_mmio_notify(struct capdrv_virtio_mmio *vm,
                              const struct capdrv_virtio_mmio_queue *q)
{
    if (!vm || !vm->sys || !q)
        return -CAPDRV_EINVAL;
    return mmio_notify(vm, q->index, 0);
}

int capdrv_virtio_mmio_kick(struct capdrv_virtio_mmio *vm, const struct capdrv_virtio_mmio_queue *q,
                            struct capdrv_virtq *vq)
{
    if (!vm || !vm->sys || !q || !vq)
        return -CAPDRV_EINVAL;
    struct vt v;
    vm_transport(vm, &v);
    return vt_kick(&v, q->lane, q->index, 0, vq);
}

int capdrv_virtio_mmio_irq_status(struct capdrv_virtio_mmio *vm, uint32_t *bits)
{
    if (!vm || !vm->sys || !bits)
        return -CAPDRV_EINVAL;
    uint64_t val;
    int rc = reg_read(vm, CAPDRV_VIRTIO_MMIO_INTERRUPT_STATUS, &val);
    if (rc == 0)
        *bits = (uint32_t)val;
    return rc;
}

int capdrv_virtio_mmio_irq_ack(struct capdrv_virtio_mmio *vm, uint32_t bits)
{
    const uint32_t defined = CAPDRV_VIRTIO_MMIO_INT_VRING | CAPDRV_VIRTIO_MMIO_INT_CONFIG;
    if (!vm || !vm->sys || bits == 0 || (bits & ~defined))
        return -CAPDRV_EINVAL;
    /* §4.2.3.4: the driver acknowledges the causes it handled by writing
     * the corresponding InterruptStatus bits to InterruptACK. */
    return reg_write(vm, CAPDRV_VIRTIO_MMIO_INTERRUPT_ACK, bits);
}
