/* Find the virtio PCI modern structures through the vendor-specific
 * capabilities of an untrusted configuration space (VIRTIO 1.2 §4.1.4).
 * A function without a common configuration or notify capability is a
 * legacy-only device and is refused: the shim cannot enforce the lanes over
 * the legacy I/O interface. */
#include "virtio_pci.h"

#include "../util.h"

#define PCI_STATUS 0x06
#define PCI_STATUS_CAP_LIST 0x10
#define PCI_CAP_PTR 0x34
#define PCI_CAP_ID_VNDR 0x09
#define PCI_CAP_FIRST 0x40
#define PCI_CAP_END 0x100
#define PCI_CAP_MAX_WALK ((PCI_CAP_END - PCI_CAP_FIRST) / 4)

/* §4.1.4 struct virtio_pci_cap field offsets. */
enum { CAP_LEN = 2, CAP_CFG_TYPE = 3, CAP_BAR = 4, CAP_OFFSET = 8, CAP_LENGTH = 12,
       CAP_SIZE = 16, NOTIFY_MULT = 16, NOTIFY_CAP_SIZE = 20 };

static void why_vio(char *why, unsigned long n, const struct shim_grant *g, const char *msg)
{
    shim_str_set(why, n, "grant ", g->m->name);
    shim_str_append(why, n, ": virtio: ");
    shim_str_append(why, n, msg);
}

static int rd(struct shim_profile_ctx *ctx, uint32_t off, unsigned w, uint32_t *v)
{
    return shim_profile_cfg_read(ctx, off, w, v) < 0 ? -CAPDRV_EIO : 0;
}

/* Smallest length a usable structure of @type has. */
static uint32_t min_length(uint32_t type)
{
    return type == VIO_CAP_COMMON ? VIO_COMMON_MIN_LEN : type == VIO_CAP_NOTIFY ? 2u : 1u;
}

/* Access the provider needs to a structure of @type through its window. */
static uint32_t needed_access(uint32_t type)
{
    return type == VIO_CAP_COMMON   ? CAPDRV_WINDOW_READ | CAPDRV_WINDOW_WRITE
           : type == VIO_CAP_NOTIFY ? CAPDRV_WINDOW_WRITE
                                    : CAPDRV_WINDOW_READ;
}

/* A window of the grant wholly covering BAR @bar bytes [off, off+len) with
 * the access @type needs: a structure the provider cannot reach is one its
 * driver cannot use. */
static bool in_a_window(const struct shim_grant *g, uint32_t type, uint32_t bar, uint64_t off,
                        uint64_t len)
{
    uint32_t need = needed_access(type);
    for (unsigned i = 0; i < g->m->n_windows; i++) {
        const struct shim_manifest_window *w = &g->m->windows[i];
        if (w->bar == bar && (w->flags & need) == need && off >= w->offset &&
            off - w->offset <= w->length && len <= w->length - (off - w->offset))
            return true;
    }
    return false;
}

/* Record one structure if it is the first usable one of its type
 * (§4.1.4.1: the driver uses the first instance it can support; a later
 * one is ignored). A structure is skipped, not refused, when a driver could
 * not use it: reserved BAR, capability too short for its type, length below
 * what the type needs, a notify multiplier that is not 0 or an even power
 * of two (§4.1.4.4), outside a memory BAR, or outside every window of the
 * grant with the access the structure needs. This is the rule the library
 * applies (src/virtio/pci.c vendor_cap()), so both pick the same structure
 * and the doorbells the library rings are the ones the shim checks. */
static int take_cap(struct shim_profile_ctx *ctx, struct vio_state *st, uint32_t ptr,
                    uint32_t cap_len)
{
    const struct shim_grant *g = ctx->g;
    uint32_t type, bar, off, len, mult = 0;
    int rc;
    if (cap_len < CAP_SIZE || ptr + cap_len > PCI_CAP_END)
        return 0; /* does not hold a struct virtio_pci_cap inside the header */
    if ((rc = rd(ctx, ptr + CAP_CFG_TYPE, 1, &type)) < 0 || (rc = rd(ctx, ptr + CAP_BAR, 1, &bar)) < 0)
        return rc;
    if (type >= VIO_CAP_TYPES || type == VIO_CAP_PCI || st->cap[type].present)
        return 0; /* not needed, or a later instance */
    if (bar >= CAPDRV_HW_NUM_BARS)
        return 0; /* §4.1.4: reserved BAR values: the driver ignores the capability */
    if (type == VIO_CAP_NOTIFY && cap_len < NOTIFY_CAP_SIZE)
        return 0; /* no room for notify_off_multiplier */
    if ((rc = rd(ctx, ptr + CAP_OFFSET, 4, &off)) < 0 || (rc = rd(ctx, ptr + CAP_LENGTH, 4, &len)) < 0)
        return rc;
    if (type == VIO_CAP_NOTIFY) {
        if ((rc = rd(ctx, ptr + NOTIFY_MULT, 4, &mult)) < 0)
            return rc;
        if (mult != 0 && ((mult & (mult - 1u)) != 0 || mult == 1))
            return 0;
    }
    if (len < min_length(type) || !(g->fn.bar_flags[bar] & CAPDRV_HW_BAR_MEM) ||
        !shim_range_within(off, len, g->fn.bar_size[bar]) || !in_a_window(g, type, bar, off, len))
        return 0;
    st->cap[type] = (struct vio_region){.present = true, .bar = bar, .offset = off, .length = len};
    if (type == VIO_CAP_NOTIFY)
        st->notify_mult = mult;
    return 0;
}

int vio_find_caps(struct shim_profile_ctx *ctx, struct vio_state *st, char *why,
                  unsigned long why_len)
{
    uint32_t status, ptr;
    int rc;
    if ((rc = rd(ctx, PCI_STATUS, 2, &status)) < 0)
        return rc;
    ptr = 0;
    if ((status & PCI_STATUS_CAP_LIST) && (rc = rd(ctx, PCI_CAP_PTR, 1, &ptr)) < 0)
        return rc;
    /* PCI Local Bus 3.0 §6.7: the two low bits of a capability pointer are
     * reserved and ignored, so a pointer of 1..3 ends the list, as it
     * does for the library's walk (src/virtio/pci.c). */
    for (unsigned walked = 0; (ptr &= 0xfcu) != 0; walked++) {
        if (ptr < PCI_CAP_FIRST || walked >= PCI_CAP_MAX_WALK) {
            why_vio(why, why_len, ctx->g, "malformed capability list");
            return -CAPDRV_EPROTO;
        }
        uint32_t id, next, cap_len;
        if ((rc = rd(ctx, ptr, 1, &id)) < 0 || (rc = rd(ctx, ptr + 1, 1, &next)) < 0)
            return rc;
        if (id == PCI_CAP_ID_VNDR) {
            if ((rc = rd(ctx, ptr + CAP_LEN, 1, &cap_len)) < 0 ||
                (rc = take_cap(ctx, st, ptr, cap_len)) < 0)
                return rc;
        }
        ptr = next;
    }
    if (!st->cap[VIO_CAP_COMMON].present || !st->cap[VIO_CAP_NOTIFY].present) {
        why_vio(why, why_len, ctx->g,
                "no usable modern common/notify capability (legacy-only devices are not "
                "supported)");
        return -CAPDRV_ENODEV;
    }
    return 0;
}
