/* Grants: enumeration, claim, window description, function reset, and
 * bounded configuration-space access. */
#include "shim_internal.h"

#include <capdrv_shim/core.h>

#include "util.h"

#define PCI_COMMAND 0x04
/* PCI Local Bus 3.0 §6.2.2: the only COMMAND bits a provider may change. */
#define PCI_COMMAND_PROVIDER_BITS (0x0002u /* memory space */ | 0x0004u /* bus master */ | \
                                   0x0400u /* INTx disable */)
#define PCI_COMMAND_MASTER 0x0004u
#define PCI_BAR0 0x10
#define PCI_ROM 0x30

void shim_grant_clear_claim(struct shim_grant *g)
{
    g->holder = NULL;
    g->holder_slot = SHIM_CAP_NO_PARENT;
    for (unsigned w = 0; w < SHIM_MAX_WINDOWS; w++)
        g->window_slot[w] = SHIM_CAP_NO_PARENT;
    g->pool_slot = SHIM_CAP_NO_PARENT;
    g->pool_bytes = 0;
    g->pool_buffers = 0;
    for (unsigned v = 0; v < SHIM_MAX_IRQS; v++)
        g->irq_slot[v] = SHIM_CAP_NO_PARENT;
    g->irq_pending = 0;
    g->inflight = 0;
    for (unsigned i = 0; i < SHIM_PROFILE_STATE_MAX / 8; i++)
        g->profile_state[i] = 0;
}

/* The provider's grant @index (its own numbering) -> manifest grant index. */
static int visible_grant(struct capdrv_shim *shim, struct shim_provider *p, unsigned index,
                         uint32_t *gi)
{
    unsigned seen = 0;
    for (uint32_t i = 0; i < shim->manifest.n_grants; i++) {
        if (!shim_str_eq(shim->grants[i].m->provider, p->name))
            continue;
        if (seen++ == index) {
            *gi = i;
            return 0;
        }
    }
    return -CAPDRV_ENOENT;
}

int shim_grant_from_cap(struct capdrv_shim *shim, struct shim_provider *p, capdrv_cap_t cap,
                        struct shim_grant **g, uint32_t *gi)
{
    uint32_t slot;
    int rc = shim_cap_lookup(p, cap, CAPDRV_CAP_GRANT, &slot);
    if (rc < 0)
        return rc;
    *gi = p->caps.slots[slot].grant;
    *g = &shim->grants[*gi];
    return 0;
}

int capdrv_shim_sys_grant_count(struct capdrv_shim *shim, struct shim_provider *p)
{
    shim_lock(shim);
    int n = 0;
    for (uint32_t i = 0; i < shim->manifest.n_grants; i++)
        n += shim_str_eq(shim->grants[i].m->provider, p->name);
    shim_unlock(shim);
    return n;
}

int capdrv_shim_sys_grant_info(struct capdrv_shim *shim, struct shim_provider *p, unsigned index,
                               struct capdrv_grant_info *out)
{
    shim_lock(shim);
    uint32_t gi;
    int rc = visible_grant(shim, p, index, &gi);
    if (rc == 0) {
        const struct shim_grant *g = &shim->grants[gi];
        struct capdrv_grant_info info = {0};
        shim_str_set(info.name, sizeof info.name, g->m->name, NULL);
        info.cls = g->m->cls;
        info.lane = g->lane;
        info.addr = g->fn.addr;
        info.id = g->fn.id;
        info.n_windows = g->m->n_windows;
        info.n_irqs = g->n_irqs;
        info.pool_quota_bytes = g->m->pool_bytes;
        info.pool_quota_buffers = g->m->pool_buffers;
        info.claimed = g->holder != NULL;
        *out = info;
    }
    shim_unlock(shim);
    return rc;
}

int capdrv_shim_sys_grant_open(struct capdrv_shim *shim, struct shim_provider *p, unsigned index,
                               capdrv_cap_t *grant)
{
    shim_lock(shim);
    uint32_t gi;
    int rc = visible_grant(shim, p, index, &gi);
    struct shim_grant *g = rc == 0 ? &shim->grants[gi] : NULL;
    if (rc == 0 && g->holder)
        rc = -CAPDRV_EBUSY;
    if (rc == 0) {
        rc = shim_cap_alloc(shim, p, CAPDRV_CAP_GRANT, SHIM_CAP_NO_PARENT, gi, gi, grant);
        if (rc >= 0) {
            shim_grant_clear_claim(g);
            shim_iova_rewind(shim, gi); /* each claim starts low (quarantine kept) */
            g->holder = p;
            g->holder_slot = (uint32_t)rc;
            rc = 0;
            capdrv_env_log(shim->env, CAPDRV_LOG_INFO, "grant-open", gi, g->lane);
        }
    }
    shim_unlock(shim);
    return rc;
}

int capdrv_shim_sys_grant_lane(struct capdrv_shim *shim, struct shim_provider *p, capdrv_cap_t cap)
{
    shim_lock(shim);
    struct shim_grant *g;
    uint32_t gi;
    int rc = shim_grant_from_cap(shim, p, cap, &g, &gi);
    if (rc == 0)
        rc = (int)g->lane;
    shim_unlock(shim);
    return rc;
}

int capdrv_shim_sys_window_info(struct capdrv_shim *shim, struct shim_provider *p,
                                capdrv_cap_t cap, unsigned window, struct capdrv_window_info *out)
{
    shim_lock(shim);
    struct shim_grant *g;
    uint32_t gi;
    int rc = shim_grant_from_cap(shim, p, cap, &g, &gi);
    if (rc == 0 && window >= g->m->n_windows)
        rc = -CAPDRV_ENOENT;
    if (rc == 0) {
        const struct shim_manifest_window *w = &g->m->windows[window];
        struct capdrv_window_info info = {0};
        shim_str_set(info.name, sizeof info.name, w->name, NULL);
        info.bar = w->bar;
        info.offset = w->offset;
        info.length = w->length;
        info.flags = w->flags;
        if (g->profile && g->profile->regmap_bar == (int)w->bar)
            info.flags |= CAPDRV_WINDOW_REGMAP;
        *out = info;
    }
    shim_unlock(shim);
    return rc;
}

/* Revoke every capability derived from the grant (not the grant itself). */
static void release_children(struct capdrv_shim *shim, struct shim_provider *p, struct shim_grant *g)
{
    for (unsigned w = 0; w < SHIM_MAX_WINDOWS; w++)
        if (g->window_slot[w] != SHIM_CAP_NO_PARENT)
            shim_release_slot(shim, p, g->window_slot[w]);
    for (unsigned v = 0; v < SHIM_MAX_IRQS; v++)
        if (g->irq_slot[v] != SHIM_CAP_NO_PARENT)
            shim_release_slot(shim, p, g->irq_slot[v]);
    if (g->pool_slot != SHIM_CAP_NO_PARENT)
        shim_release_slot(shim, p, g->pool_slot);
}

int capdrv_shim_sys_grant_reset(struct capdrv_shim *shim, struct shim_provider *p, capdrv_cap_t cap)
{
    shim_lock(shim);
    struct shim_grant *g;
    uint32_t gi;
    int rc = shim_grant_from_cap(shim, p, cap, &g, &gi);
    if (rc == 0) {
        /* Reset first so no DMA is in flight when the buffers are unmapped
         * and scrubbed below (PCIe Base 4.0 §6.6.2: FLR stops all DMA). */
        rc = shim->hw.ops->function_reset(shim->hw.ctx, g->hw_fn);
        g->dma_unsafe = rc < 0; /* see shim_quiesce() */
        g->inflight = 0;
        for (uint32_t i = 0; i < shim->ledger.n; i++)
            if (shim->ledger.e[i].live && shim->ledger.e[i].grant == gi)
                shim->ledger.e[i].inflight = 0;
        shim_profile_forget(shim, gi);
        release_children(shim, p, g);
        shim_iova_rewind(shim, gi);
        capdrv_env_log(shim->env, CAPDRV_LOG_INFO, "grant-reset", gi, (uint64_t)-rc);
        if (rc < 0)
            rc = -CAPDRV_EIO;
    }
    shim_unlock(shim);
    return rc;
}

/* Bits of config dword @dword that a provider must not see: BAR address
 * bits (PCI 3.0 §6.2.5.1: low 4 flag bits of a memory BAR, 2 of an I/O BAR;
 * the upper dword of a 64-bit BAR is all address) and ROM address bits. */
static uint32_t cfg_hidden_bits(const struct shim_grant *g, uint32_t dword)
{
    if (dword >= PCI_BAR0 && dword < PCI_BAR0 + 4 * CAPDRV_HW_NUM_BARS) {
        unsigned i = (dword - PCI_BAR0) / 4;
        if (i > 0 && (g->fn.bar_flags[i - 1] & CAPDRV_HW_BAR_64))
            return 0xffffffffu;
        return (g->fn.bar_flags[i] & CAPDRV_HW_BAR_MEM) || !g->fn.bar_size[i] ? 0xfffffff0u
                                                                               : 0xfffffffcu;
    }
    if (dword == PCI_ROM)
        return 0xfffff800u;
    return 0;
}

static bool cfg_access_ok(uint32_t offset, unsigned width)
{
    return (width == 1 || width == 2 || width == 4) && (offset & (width - 1u)) == 0;
}

int capdrv_shim_sys_cfg_read(struct capdrv_shim *shim, struct shim_provider *p, capdrv_cap_t cap,
                             uint32_t offset, unsigned width, uint32_t *val)
{
    shim_lock(shim);
    struct shim_grant *g;
    uint32_t gi;
    int rc = shim_grant_from_cap(shim, p, cap, &g, &gi);
    if (rc == 0 && g->fn.kind != CAPDRV_HW_FN_PCI)
        rc = -CAPDRV_ENOTSUP; /* an MMIO device has no configuration space */
    if (rc == 0 && !cfg_access_ok(offset, width))
        rc = -CAPDRV_EINVAL;
    if (rc == 0 && !shim_range_within(offset, width, 4096))
        rc = -CAPDRV_EFAULT;
    uint32_t v = 0;
    if (rc == 0)
        rc = shim->hw.ops->cfg_read(shim->hw.ctx, g->hw_fn, offset, width, &v) < 0 ? -CAPDRV_EIO : 0;
    if (rc == 0) {
        /* BARs and the expansion ROM hold host-physical MMIO addresses:
         * virtualise them (only the flag bits are shown), as VFIO does. */
        for (uint32_t b = 0; b < width; b++) {
            uint32_t hide = cfg_hidden_bits(g, (offset + b) & ~3u);
            uint32_t hide_byte = (hide >> (8 * ((offset + b) & 3u))) & 0xffu;
            v &= ~(hide_byte << (8 * b));
        }
        *val = v;
    }
    shim_unlock(shim);
    return rc;
}

int capdrv_shim_sys_cfg_write(struct capdrv_shim *shim, struct shim_provider *p, capdrv_cap_t cap,
                              uint32_t offset, unsigned width, uint32_t val)
{
    shim_lock(shim);
    struct shim_grant *g;
    uint32_t gi;
    int rc = shim_grant_from_cap(shim, p, cap, &g, &gi);
    if (rc == 0 && g->fn.kind != CAPDRV_HW_FN_PCI)
        rc = -CAPDRV_ENOTSUP; /* an MMIO device has no configuration space */
    if (rc == 0 && !cfg_access_ok(offset, width))
        rc = -CAPDRV_EINVAL;
    if (rc == 0 && (offset != PCI_COMMAND || width != 2))
        rc = -CAPDRV_EPERM;
    uint32_t cur = 0;
    if (rc == 0)
        rc = shim->hw.ops->cfg_read(shim->hw.ctx, g->hw_fn, PCI_COMMAND, 2, &cur) < 0 ? -CAPDRV_EIO : 0;
    if (rc == 0 && ((cur ^ val) & ~PCI_COMMAND_PROVIDER_BITS & 0xffffu))
        rc = -CAPDRV_EPERM;
    /* Bus mastering is DMA. Without a DMA profile no ledger stands behind
     * the device's addresses, so such grants may not enable it. */
    if (rc == 0 && (!g->profile || !g->profile->dma) && (val & ~cur & PCI_COMMAND_MASTER))
        rc = -CAPDRV_EPERM;
    if (rc == 0)
        rc = shim->hw.ops->cfg_write(shim->hw.ctx, g->hw_fn, PCI_COMMAND, 2, val) < 0 ? -CAPDRV_EIO : 0;
    shim_unlock(shim);
    return rc;
}
