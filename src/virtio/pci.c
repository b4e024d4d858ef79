/* virtio PCI modern transport (VIRTIO 1.2 §4.1): find the virtio
 * structures through the vendor capabilities, map each onto a window of the
 * grant, bind and release the device. Register hooks and the public verbs
 * over device.c: pci_transport.c. */
#include "pci_internal.h"

#include <stdio.h>
#include <string.h>

/* PCI Local Bus 3.0 §6.1, §6.7. */
#define PCI_VENDOR_ID 0x00u
#define PCI_DEVICE_ID 0x02u
#define PCI_COMMAND 0x04u
#define PCI_STATUS 0x06u
#define PCI_CAP_PTR 0x34u
#define PCI_COMMAND_MEMORY 0x0002u
#define PCI_COMMAND_MASTER 0x0004u
#define PCI_STATUS_CAP_LIST 0x0010u
#define PCI_CAP_ID_VNDR 0x09u
/* Capabilities live after the 64-byte header, inside the 256-byte PCI
 * configuration space (PCI Local Bus 3.0 §6.7). */
#define PCI_CAP_MIN 0x40u
#define PCI_CFG_LEN 0x100u

/* struct virtio_pci_cap (§4.1.4). */
#define VCAP_LEN 2u      /* u8 cap_len */
#define VCAP_TYPE 3u     /* u8 cfg_type */
#define VCAP_BAR 4u      /* u8 bar */
#define VCAP_OFFSET 8u   /* le32 offset */
#define VCAP_LENGTH 12u  /* le32 length */
#define VCAP_SIZE 16u    /* sizeof(struct virtio_pci_cap) */
#define VCAP_NOTIFY_MULT 16u /* le32 notify_off_multiplier (§4.1.4.4) */
#define VCAP_NOTIFY_SIZE 20u /* sizeof(struct virtio_pci_notify_cap) */

void vp_say(char *why, size_t why_len, const char *fmt, ...)
{
    if (!why || why_len == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
}

static int region_check(const struct capdrv_virtio_pci *vp,
                        const struct capdrv_virtio_pci_region *r, uint64_t off, unsigned width)
{
    if (!r->present || r->window >= CAPDRV_VIRTIO_PCI_MAX_WINDOWS || !vp->mmio[r->window])
        return -CAPDRV_ENOENT;
    if (off > r->length || width > r->length - off)
        return -CAPDRV_ERANGE;
    return 0;
}

int vp_region_read(struct capdrv_virtio_pci *vp, const struct capdrv_virtio_pci_region *r,
                   uint64_t off, unsigned width, uint64_t *val)
{
    int rc = region_check(vp, r, off, width);
    if (rc < 0)
        return rc;
    return capdrv_mmio_read(vp->sys, vp->mmio[r->window], r->offset + off, width, val);
}

int vp_region_write(struct capdrv_virtio_pci *vp, const struct capdrv_virtio_pci_region *r,
                    uint64_t off, unsigned width, uint64_t val)
{
    int rc = region_check(vp, r, off, width);
    if (rc < 0)
        return rc;
    return capdrv_mmio_write(vp->sys, vp->mmio[r->window], r->offset + off, width, val);
}

/* ---- Capability walk --------------------------------------------------- */

struct walk {
    capdrv_sys *sys;
    capdrv_cap_t grant;
    struct capdrv_window_info win[CAPDRV_VIRTIO_PCI_MAX_WINDOWS];
    unsigned n_win;
    /* Per cfg_type 1..4: a structure no window covered (first one seen). */
    struct { uint32_t bar, off, len, valid; } missed[5];
    char *why;
    size_t why_len;
};

static int cfg(struct walk *w, uint32_t off, unsigned width, uint32_t *val)
{
    int rc = capdrv_cfg_read(w->sys, w->grant, off, width, val);
    if (rc < 0)
        vp_say(w->why, w->why_len, "config read at %#x failed: %s", off, capdrv_strerror(rc));
    return rc;
}

static const char *type_name(unsigned type)
{
    switch (type) {
    case CAPDRV_VIRTIO_PCI_CAP_COMMON_CFG: return "common configuration";
    case CAPDRV_VIRTIO_PCI_CAP_NOTIFY_CFG: return "notification";
    case CAPDRV_VIRTIO_PCI_CAP_ISR_CFG: return "ISR status";
    default: return "device configuration";
    }
}

/* Access a structure needs from its window. */
static uint32_t needed_access(unsigned type)
{
    switch (type) {
    case CAPDRV_VIRTIO_PCI_CAP_COMMON_CFG: return CAPDRV_WINDOW_READ | CAPDRV_WINDOW_WRITE;
    case CAPDRV_VIRTIO_PCI_CAP_NOTIFY_CFG: return CAPDRV_WINDOW_WRITE;
    default: return CAPDRV_WINDOW_READ;
    }
}

/* Smallest length a usable structure of @type has. */
static uint64_t min_length(unsigned type)
{
    switch (type) {
    case CAPDRV_VIRTIO_PCI_CAP_COMMON_CFG: return VP_COMMON_MIN_LEN;
    case CAPDRV_VIRTIO_PCI_CAP_NOTIFY_CFG: return 2; /* one le16 doorbell (§4.1.4.4) */
    default: return 1;
    }
}

/* Find a window wholly covering BAR @bar bytes [off, off+len) with the
 * access @type needs. */
static int locate(const struct walk *w, unsigned type, unsigned bar, uint64_t off, uint64_t len,
                  struct capdrv_virtio_pci_region *r)
{
    uint32_t need = needed_access(type);
    for (unsigned i = 0; i < w->n_win; i++) {
        const struct capdrv_window_info *wi = &w->win[i];
        if (wi->bar != bar || (wi->flags & need) != need || off < wi->offset)
            continue;
        uint64_t rel = off - wi->offset;
        if (rel > wi->length || len > wi->length - rel)
            continue;
        r->present = 1;
        r->window = i;
        r->offset = rel;
        r->length = len;
        return 0;
    }
    return -CAPDRV_EFAULT;
}

/* One virtio vendor capability at @ptr. Ignores what the driver cannot use
 * (§4.1.4: reserved BAR values and unknown types are ignored; the first
 * usable structure of each type wins). Remembers a structure no window
 * covers, for the error message. The kernel shim picks by the same rule
 * (kernel-shim/profiles/virtio_caps.c take_cap()), so the doorbell this
 * driver rings is the one the shim checks. */
static int vendor_cap(struct walk *w, struct capdrv_virtio_pci *vp, uint32_t ptr)
{
    uint32_t len, type, bar, off, length, mult = 0;
    int rc;
    if ((rc = cfg(w, ptr + VCAP_LEN, 1, &len)) < 0 || (rc = cfg(w, ptr + VCAP_TYPE, 1, &type)) < 0)
        return rc;
    /* The structure must fit the capability and the config header. */
    if (len < VCAP_SIZE || ptr + len > PCI_CFG_LEN)
        return 0;
    if (type < CAPDRV_VIRTIO_PCI_CAP_COMMON_CFG || type > CAPDRV_VIRTIO_PCI_CAP_DEVICE_CFG)
        return 0;
    struct capdrv_virtio_pci_region *slot =
        type == CAPDRV_VIRTIO_PCI_CAP_COMMON_CFG   ? &vp->common
        : type == CAPDRV_VIRTIO_PCI_CAP_NOTIFY_CFG ? &vp->notify
        : type == CAPDRV_VIRTIO_PCI_CAP_ISR_CFG    ? &vp->isr
                                                   : &vp->device;
    if (slot->present)
        return 0;
    if ((rc = cfg(w, ptr + VCAP_BAR, 1, &bar)) < 0 || (rc = cfg(w, ptr + VCAP_OFFSET, 4, &off)) < 0 ||
        (rc = cfg(w, ptr + VCAP_LENGTH, 4, &length)) < 0)
        return rc;
    if (bar > 5 || length < min_length(type)) /* §4.1.4: bar 0x0..0x5 only */
        return 0;
    if (type == CAPDRV_VIRTIO_PCI_CAP_NOTIFY_CFG) {
        if (len < VCAP_NOTIFY_SIZE)
            return 0;
        if ((rc = cfg(w, ptr + VCAP_NOTIFY_MULT, 4, &mult)) < 0)
            return rc;
        /* §4.1.4.4: the multiplier is 0 or an even power of two. */
        if (mult != 0 && ((mult & (mult - 1u)) != 0 || mult == 1))
            return 0;
    }
    /* offset + length are two le32: their sum fits in 64 bits. */
    if (locate(w, type, bar, off, length, slot) < 0) {
        if (!w->missed[type].valid) {
            w->missed[type].bar = bar;
            w->missed[type].off = off;
            w->missed[type].len = length;
            w->missed[type].valid = 1;
        }
        return 0;
    }
    if (type == CAPDRV_VIRTIO_PCI_CAP_NOTIFY_CFG)
        vp->notify_mult = mult;
    return 0;
}

/* VIRTIO 1.2 §4.1.2.1: the Transitional PCI Device IDs and the virtio
 * device each one names. No other id in 0x1000..0x103f names a device. */
static const struct {
    uint16_t pci, virtio;
} transitional_ids[] = {
    {0x1000u, 1u}, /* network card */
    {0x1001u, 2u}, /* block device */
    {0x1002u, 5u}, /* memory ballooning (traditional) */
    {0x1003u, 3u}, /* console */
    {0x1004u, 8u}, /* SCSI host */
    {0x1005u, 4u}, /* entropy source */
    {0x1009u, 9u}, /* 9P transport */
};

/* §4.1.2: 0x1af4:0x1000..0x107f is a virtio device. Modern ids are 0x1040
 * + the virtio device id; a transitional device (0x1000..0x103f, table of
 * §4.1.2.1) offers the modern interface as well as the legacy one, and
 * §4.1.2.2 says drivers MUST match it. Whether it really offers the modern
 * interface is known only after the capability walk: a legacy-only device
 * has no virtio vendor capabilities (check_required()). The Subsystem
 * Device ID, which §4.1.2.3 asks transitional devices to set to the
 * virtio id, is informational for drivers (§4.1.2.2 MAY match any): the
 * table decides. */
static int check_id(struct walk *w, struct capdrv_virtio_pci *vp)
{
    uint32_t vendor, device;
    int rc;
    if ((rc = cfg(w, PCI_VENDOR_ID, 2, &vendor)) < 0 || (rc = cfg(w, PCI_DEVICE_ID, 2, &device)) < 0)
        return rc;
    if (vendor != CAPDRV_VIRTIO_PCI_VENDOR || device < CAPDRV_VIRTIO_PCI_TRANSITIONAL_BASE ||
        device > CAPDRV_VIRTIO_PCI_DEVICE_MAX) {
        vp_say(w->why, w->why_len, "PCI id %04x:%04x is not a virtio device", vendor, device);
        return -CAPDRV_ENODEV;
    }
    vp->pci_device = (uint16_t)device;
    if (device >= CAPDRV_VIRTIO_PCI_MODERN_BASE) {
        vp->virtio_id = (uint16_t)(device - CAPDRV_VIRTIO_PCI_MODERN_BASE);
        return 0;
    }
    for (size_t i = 0; i < sizeof transitional_ids / sizeof transitional_ids[0]; i++)
        if (transitional_ids[i].pci == device) {
            vp->virtio_id = transitional_ids[i].virtio;
            return 0;
        }
    vp_say(w->why, w->why_len,
           "transitional PCI device id %#x names no virtio device type (VIRTIO 1.2 §4.1.2.1)",
           device);
    return -CAPDRV_ENODEV;
}

/* Why a device without the modern interface is refused, with its kind. */
static int legacy_only(struct walk *w, const struct capdrv_virtio_pci *vp, const char *what)
{
    if (vp->pci_device < CAPDRV_VIRTIO_PCI_MODERN_BASE)
        vp_say(w->why, w->why_len,
               "transitional virtio device 1af4:%04x without the modern interface (%s): "
               "a legacy-only device, which is not supported",
               vp->pci_device, what);
    else
        vp_say(w->why, w->why_len, "%s: a legacy-only virtio device", what);
    return -CAPDRV_ENODEV;
}

/* Common configuration and notifications are required (§4.1.4); ISR and
 * device configuration are optional here: a device type may have no
 * configuration, and with MSI-X the ISR is never read. */
static int check_required(struct walk *w, const struct capdrv_virtio_pci *vp)
{
    static const unsigned types[] = {CAPDRV_VIRTIO_PCI_CAP_COMMON_CFG,
                                     CAPDRV_VIRTIO_PCI_CAP_NOTIFY_CFG};
    for (unsigned i = 0; i < 2; i++) {
        unsigned t = types[i];
        const struct capdrv_virtio_pci_region *r =
            t == CAPDRV_VIRTIO_PCI_CAP_COMMON_CFG ? &vp->common : &vp->notify;
        if (r->present)
            continue;
        if (w->missed[t].valid) {
            uint32_t need = needed_access(t);
            vp_say(w->why, w->why_len,
                   "virtio %s structure (BAR %u, offset %#x, length %#x) lies outside every "
                   "window of the grant with %s access",
                   type_name(t), w->missed[t].bar, w->missed[t].off, w->missed[t].len,
                   (need & CAPDRV_WINDOW_READ) ? "read/write" : "write");
            return -CAPDRV_EFAULT;
        }
        /* §4.1.4: the common configuration structure is what makes the
         * modern interface; without it only the legacy one is left. */
        if (t == CAPDRV_VIRTIO_PCI_CAP_COMMON_CFG)
            return legacy_only(w, vp, "no usable virtio common configuration capability");
        vp_say(w->why, w->why_len, "no usable virtio notification capability");
        return -CAPDRV_EPROTO;
    }
    return 0;
}

static int walk_caps(struct walk *w, struct capdrv_virtio_pci *vp)
{
    uint32_t status, ptr;
    int rc;
    if ((rc = cfg(w, PCI_STATUS, 2, &status)) < 0)
        return rc;
    if (!(status & PCI_STATUS_CAP_LIST))
        return legacy_only(w, vp, "no PCI capability list");
    if ((rc = cfg(w, PCI_CAP_PTR, 1, &ptr)) < 0)
        return rc;
    uint64_t seen[PCI_CFG_LEN / 4 / 64] = {0};
    ptr &= 0xfcu; /* the two low bits are reserved (§6.7) */
    for (unsigned n = 0; ptr != 0; n++) {
        if (n >= CAPDRV_VIRTIO_PCI_MAX_CAPS) {
            vp_say(w->why, w->why_len, "capability list longer than %u entries",
                   CAPDRV_VIRTIO_PCI_MAX_CAPS);
            return -CAPDRV_EPROTO;
        }
        if (ptr < PCI_CAP_MIN) {
            vp_say(w->why, w->why_len, "capability pointer %#x points into the header (entry %u)",
                   ptr, n);
            return -CAPDRV_EPROTO;
        }
        unsigned slot = ptr / 4;
        if (seen[slot / 64] & (1ull << (slot % 64))) {
            vp_say(w->why, w->why_len, "capability list loops back to %#x", ptr);
            return -CAPDRV_EPROTO;
        }
        seen[slot / 64] |= 1ull << (slot % 64);
        uint32_t id, next;
        if ((rc = cfg(w, ptr, 1, &id)) < 0 || (rc = cfg(w, ptr + 1, 1, &next)) < 0)
            return rc;
        if (id == PCI_CAP_ID_VNDR && (rc = vendor_cap(w, vp, ptr)) < 0)
            return rc;
        ptr = next & 0xfcu;
    }
    return 0;
}

static int load_windows(struct walk *w)
{
    for (w->n_win = 0; w->n_win < CAPDRV_VIRTIO_PCI_MAX_WINDOWS; w->n_win++) {
        int rc = capdrv_window_info(w->sys, w->grant, w->n_win, &w->win[w->n_win]);
        if (rc == -CAPDRV_ENOENT)
            break;
        if (rc < 0) {
            vp_say(w->why, w->why_len, "window %u: %s", w->n_win, capdrv_strerror(rc));
            return rc;
        }
    }
    return 0;
}

static int open_window(struct capdrv_virtio_pci *vp, struct walk *w,
                       const struct capdrv_virtio_pci_region *r)
{
    if (!r->present || vp->mmio[r->window])
        return 0;
    int rc = capdrv_mmio_open(vp->sys, vp->grant, r->window, &vp->mmio[r->window]);
    if (rc < 0) {
        vp->mmio[r->window] = CAPDRV_CAP_INVALID;
        vp_say(w->why, w->why_len, "open window %u (%s): %s", r->window, w->win[r->window].name,
               capdrv_strerror(rc));
    }
    return rc;
}

/* Memory Space for the registers, Bus Master for the rings (PCI Local Bus
 * 3.0 §6.2.2); the kernel refuses Bus Master without a DMA profile. */
static int enable_function(struct walk *w)
{
    uint32_t cmd;
    int rc = cfg(w, PCI_COMMAND, 2, &cmd);
    if (rc < 0)
        return rc;
    uint32_t want = cmd | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
    if (want != cmd && (rc = capdrv_cfg_write(w->sys, w->grant, PCI_COMMAND, 2, want)) < 0)
        vp_say(w->why, w->why_len, "enable memory space and bus mastering: %s",
               capdrv_strerror(rc));
    return rc;
}

int capdrv_virtio_pci_open(capdrv_sys *sys, capdrv_cap_t grant, struct capdrv_virtio_pci *vp,
                           char *why, size_t why_len)
{
    if (!vp)
        return -CAPDRV_EINVAL;
    memset(vp, 0, sizeof *vp);
    if (!sys) {
        vp_say(why, why_len, "no connection");
        return -CAPDRV_EINVAL;
    }
    vp_say(why, why_len, "ok");
    struct walk w = {.sys = sys, .grant = grant, .why = why, .why_len = why_len};
    vp->sys = sys;
    vp->grant = grant;
    int rc = check_id(&w, vp);
    if (rc == 0)
        rc = load_windows(&w);
    if (rc == 0)
        rc = walk_caps(&w, vp);
    if (rc == 0)
        rc = check_required(&w, vp);
    const struct capdrv_virtio_pci_region *regs[] = {&vp->common, &vp->notify, &vp->isr,
                                                     &vp->device};
    for (unsigned i = 0; rc == 0 && i < 4; i++)
        rc = open_window(vp, &w, regs[i]);
    if (rc == 0 && (rc = capdrv_grant_lane(sys, grant)) < 0)
        vp_say(why, why_len, "grant lane: %s", capdrv_strerror(rc));
    if (rc >= 0) {
        vp->lane = rc;
        rc = enable_function(&w);
    }
    uint64_t nq = 0;
    if (rc == 0 && (rc = vp_region_read(vp, &vp->common, VP_NUM_QUEUES, 2, &nq)) < 0)
        vp_say(why, why_len, "read num_queues: %s", capdrv_strerror(rc));
    vp->num_queues = (uint16_t)nq;
    /* §3.1.1 steps 1-3: reset, ACKNOWLEDGE, DRIVER. */
    if (rc == 0 && (rc = capdrv_virtio_reset(vp)) < 0)
        vp_say(why, why_len, "device reset: %s", capdrv_strerror(rc));
    struct vt v;
    vp_transport(vp, &v);
    if (rc == 0)
        rc = vt_set_status(&v, CAPDRV_VIRTIO_STATUS_ACKNOWLEDGE);
    if (rc == 0)
        rc = vt_set_status(&v, CAPDRV_VIRTIO_STATUS_DRIVER);
    if (rc < 0 && vp->status)
        vp_say(why, why_len, "write device status: %s", capdrv_strerror(rc));
    if (rc < 0) {
        for (unsigned i = 0; i < CAPDRV_VIRTIO_PCI_MAX_WINDOWS; i++)
            if (vp->mmio[i])
                (void)capdrv_cap_release(sys, vp->mmio[i]);
        memset(vp, 0, sizeof *vp);
        return rc;
    }
    return 0;
}

void capdrv_virtio_pci_close(struct capdrv_virtio_pci *vp)
{
    if (!vp || !vp->sys)
        return;
    /* §3.3.1 / §2.4: a reset makes the device stop using the queues before
     * the caller frees their memory. Best effort: the grant's release
     * quiesces the function regardless. */
    if (vp->common.present)
        (void)capdrv_virtio_reset(vp);
    for (unsigned i = 0; i < CAPDRV_VIRTIO_PCI_MAX_WINDOWS; i++)
        if (vp->mmio[i])
            (void)capdrv_cap_release(vp->sys, vp->mmio[i]);
    memset(vp, 0, sizeof *vp);
}

int capdrv_virtio_isr(struct capdrv_virtio_pci *vp, uint8_t *isr)
{
    if (!vp || !isr)
        return -CAPDRV_EINVAL;
    uint64_t v;
    int rc = vp_region_read(vp, &vp->isr, 0, 1, &v);
    if (rc == 0)
        *isr = (uint8_t)v;
    return rc;
}
