/* DeviceMmio: window capabilities and checked register access, including
 * doorbells (notify) that run the DMA lane checks of the device profile. */
#include "shim_internal.h"

#include <capdrv_shim/core.h>

#include "util.h"

int capdrv_shim_sys_mmio_open(struct capdrv_shim *shim, struct shim_provider *p,
                              capdrv_cap_t cap, unsigned window, capdrv_cap_t *mmio)
{
    shim_lock(shim);
    struct shim_grant *g;
    uint32_t gi;
    int rc = shim_grant_from_cap(shim, p, cap, &g, &gi);
    if (rc == 0 && window >= g->m->n_windows)
        rc = -CAPDRV_ENOENT;
    if (rc == 0 && g->window_slot[window] != SHIM_CAP_NO_PARENT)
        rc = -CAPDRV_EBUSY;
    if (rc == 0) {
        rc = shim_cap_alloc(shim, p, CAPDRV_CAP_MMIO, g->holder_slot, gi, window, mmio);
        if (rc >= 0) {
            g->window_slot[window] = (uint32_t)rc;
            rc = 0;
        }
    }
    shim_unlock(shim);
    return rc;
}

static bool width_ok(unsigned width)
{
    return width == 1 || width == 2 || width == 4 || width == 8;
}

static const struct shim_reg *find_reg(const struct shim_profile *pr, uint64_t bar_off)
{
    for (unsigned i = 0; i < pr->n_regs; i++)
        if (pr->regs[i].offset == bar_off)
            return &pr->regs[i];
    return NULL;
}

/* Common checks; on success *gp, *gi, *winp, *regp (NULL: raw access) and
 * the BAR offset are set. */
static int mmio_check(struct capdrv_shim *shim, struct shim_provider *p, capdrv_cap_t cap,
                      uint64_t offset, unsigned width, bool write, struct shim_grant **gp,
                      uint32_t *gi, const struct shim_manifest_window **winp,
                      const struct shim_reg **regp, uint64_t *bar_off)
{
    uint32_t slot;
    int rc = shim_cap_lookup(p, cap, CAPDRV_CAP_MMIO, &slot);
    if (rc < 0)
        return rc;
    *gi = p->caps.slots[slot].grant;
    struct shim_grant *g = &shim->grants[*gi];
    const struct shim_manifest_window *win = &g->m->windows[p->caps.slots[slot].object];
    if (!width_ok(width) || (offset & (width - 1u)))
        return -CAPDRV_EINVAL;
    if (!shim_range_within(offset, width, win->length))
        return -CAPDRV_EFAULT;
    if (!(win->flags & (write ? CAPDRV_WINDOW_WRITE : CAPDRV_WINDOW_READ)))
        return -CAPDRV_EPERM;
    *bar_off = win->offset + offset;
    *regp = NULL;
    if (g->profile && !g->profile->access && g->profile->regmap_bar == (int)win->bar) {
        const struct shim_reg *r = find_reg(g->profile, *bar_off);
        if (!r || r->width != width)
            return -CAPDRV_EFAULT; /* not a register of this device */
        if (!(r->access & (write ? SHIM_REG_W : SHIM_REG_R)))
            return -CAPDRV_EPERM; /* read-only (or write-only) register */
        *regp = r;
    }
    *gp = g;
    *winp = win;
    return 0;
}

/* A profile with an access() hook sees every access first: 0 handled,
 * SHIM_PROFILE_PASS forward it raw, < 0 refused. Without a hook: 1. */
static int profile_access(struct capdrv_shim *shim, struct shim_grant *g, uint32_t gi,
                          const struct shim_manifest_window *win, uint64_t bar_off,
                          unsigned width, bool write, uint64_t *val)
{
    if (!g->profile || !g->profile->access)
        return SHIM_PROFILE_PASS;
    struct shim_profile_ctx ctx = {.shim = shim, .g = g, .gi = gi};
    int rc = g->profile->access(&ctx, win->bar, bar_off, width, write, val);
    if (rc == -CAPDRV_EFAULT && write) {
        shim->refused_notify++;
        capdrv_env_log(shim->env, CAPDRV_LOG_WARN, "notify-refused", gi, bar_off);
    }
    return rc;
}

int capdrv_shim_sys_mmio_read(struct capdrv_shim *shim, struct shim_provider *p, capdrv_cap_t cap,
                              uint64_t offset, unsigned width, uint64_t *val)
{
    shim_lock(shim);
    struct shim_grant *g;
    uint32_t gi;
    const struct shim_manifest_window *win;
    const struct shim_reg *reg;
    uint64_t bar_off, v = 0;
    int rc = mmio_check(shim, p, cap, offset, width, false, &g, &gi, &win, &reg, &bar_off);
    if (rc == 0)
        rc = profile_access(shim, g, gi, win, bar_off, width, false, &v);
    if (rc == SHIM_PROFILE_PASS && reg && reg->kind == SHIM_REG_SHADOW) {
        v = g->profile_state[reg->shadow];
        rc = 0;
    } else if (rc == SHIM_PROFILE_PASS) {
        rc = shim->hw.ops->bar_read(shim->hw.ctx, g->hw_fn, win->bar, bar_off, width, &v) < 0
                 ? -CAPDRV_EIO : 0;
    }
    if (rc == 0)
        *val = width == 8 ? v : v & ((1ull << (8 * width)) - 1u);
    shim_unlock(shim);
    return rc;
}

int capdrv_shim_sys_mmio_write(struct capdrv_shim *shim, struct shim_provider *p,
                               capdrv_cap_t cap, uint64_t offset, unsigned width, uint64_t val)
{
    shim_lock(shim);
    struct shim_grant *g;
    uint32_t gi;
    const struct shim_manifest_window *win;
    const struct shim_reg *reg;
    uint64_t bar_off;
    int rc = mmio_check(shim, p, cap, offset, width, true, &g, &gi, &win, &reg, &bar_off);
    if (rc == 0 && width < 8 && (val >> (8 * width)) != 0)
        rc = -CAPDRV_EINVAL; /* value wider than the access */
    if (rc == 0)
        rc = profile_access(shim, g, gi, win, bar_off, width, true, &val);
    if (rc == SHIM_PROFILE_PASS && reg && reg->kind == SHIM_REG_SHADOW) {
        g->profile_state[reg->shadow] = val;
        rc = 0;
    } else if (rc == SHIM_PROFILE_PASS && reg && reg->kind == SHIM_REG_DOORBELL) {
        struct shim_profile_ctx ctx = {.shim = shim, .g = g, .gi = gi};
        rc = g->profile->doorbell(&ctx, reg, val);
        if (rc == -CAPDRV_EFAULT) {
            shim->refused_notify++;
            capdrv_env_log(shim->env, CAPDRV_LOG_WARN, "notify-refused", gi, bar_off);
        }
    } else if (rc == SHIM_PROFILE_PASS) {
        rc = shim->hw.ops->bar_write(shim->hw.ctx, g->hw_fn, win->bar, bar_off, width, val) < 0
                 ? -CAPDRV_EIO : 0;
    }
    shim_unlock(shim);
    return rc;
}

/* ---- services for profiles (called with the lock held) ---------------- */

uint64_t *shim_profile_shadows(struct shim_profile_ctx *ctx)
{
    return ctx->g->profile_state;
}

int shim_profile_bar_read(struct shim_profile_ctx *ctx, uint64_t offset, unsigned width,
                          uint64_t *val)
{
    const struct capdrv_hw *hw = &ctx->shim->hw;
    return hw->ops->bar_read(hw->ctx, ctx->g->hw_fn, (unsigned)ctx->g->profile->regmap_bar, offset,
                             width, val);
}

int shim_profile_bar_write(struct shim_profile_ctx *ctx, uint64_t offset, unsigned width,
                           uint64_t val)
{
    const struct capdrv_hw *hw = &ctx->shim->hw;
    return hw->ops->bar_write(hw->ctx, ctx->g->hw_fn, (unsigned)ctx->g->profile->regmap_bar, offset,
                              width, val);
}

int shim_profile_dma_publish(struct shim_profile_ctx *ctx, uint64_t ref, uint64_t len,
                             uint64_t *devaddr)
{
    uint32_t index;
    int rc = shim_ledger_resolve(ctx->shim, ctx->gi, ref, len, devaddr, &index);
    if (rc < 0)
        return rc;
    ctx->shim->ledger.e[index].inflight++;
    ctx->g->inflight++;
    return 0;
}

int shim_profile_dma_publish_cpu(struct shim_profile_ctx *ctx, uint64_t ref, uint64_t len,
                                 uint64_t *devaddr, void **cpu)
{
    uint32_t index;
    int rc = shim_ledger_resolve(ctx->shim, ctx->gi, ref, len, devaddr, &index);
    if (rc < 0)
        return rc;
    struct shim_ledger_entry *e = &ctx->shim->ledger.e[index];
    /* resolve() proved [devaddr, devaddr+len) lies inside the buffer */
    *cpu = (uint8_t *)e->mem.cpu + (*devaddr - e->devaddr);
    e->inflight++;
    ctx->g->inflight++;
    return 0;
}

int shim_profile_raw_read(struct shim_profile_ctx *ctx, unsigned bar, uint64_t offset,
                          unsigned width, uint64_t *val)
{
    const struct capdrv_hw *hw = &ctx->shim->hw;
    return hw->ops->bar_read(hw->ctx, ctx->g->hw_fn, bar, offset, width, val);
}

int shim_profile_raw_write(struct shim_profile_ctx *ctx, unsigned bar, uint64_t offset,
                           unsigned width, uint64_t val)
{
    const struct capdrv_hw *hw = &ctx->shim->hw;
    return hw->ops->bar_write(hw->ctx, ctx->g->hw_fn, bar, offset, width, val);
}

int shim_profile_cfg_read(struct shim_profile_ctx *ctx, uint32_t offset, unsigned width,
                          uint32_t *val)
{
    const struct capdrv_hw *hw = &ctx->shim->hw;
    return hw->ops->cfg_read(hw->ctx, ctx->g->hw_fn, offset, width, val);
}

int shim_profile_cfg_write(struct shim_profile_ctx *ctx, uint32_t offset, unsigned width,
                           uint32_t val)
{
    const struct capdrv_hw *hw = &ctx->shim->hw;
    return hw->ops->cfg_write(hw->ctx, ctx->g->hw_fn, offset, width, val);
}

void shim_profile_nap(struct shim_profile_ctx *ctx, uint64_t timeout_ns)
{
    const struct capdrv_hw *hw = &ctx->shim->hw;
    struct capdrv_hw_irq src = {.fn = ctx->g->hw_fn, .vector = 0};
    uint64_t ready = 0;
    if (timeout_ns > INT64_MAX)
        timeout_ns = INT64_MAX;
    /* A function without MSI-X refuses the wait: then no time passes and
     * the caller's bounded poll simply runs out. */
    (void)hw->ops->irq_wait(hw->ctx, &src, 1, (int64_t)timeout_ns, &ready);
}

int shim_profile_function_reset(struct shim_profile_ctx *ctx)
{
    const struct capdrv_hw *hw = &ctx->shim->hw;
    int rc = hw->ops->function_reset(hw->ctx, ctx->g->hw_fn);
    if (rc < 0)
        ctx->g->dma_unsafe = true; /* see shim_quiesce() */
    capdrv_env_log(ctx->shim->env, rc < 0 ? CAPDRV_LOG_ERROR : CAPDRV_LOG_INFO,
                   "profile-reset", ctx->gi, (uint64_t)-rc);
    return rc;
}

int shim_profile_shadow_alloc(struct shim_profile_ctx *ctx, size_t size, uint32_t *index,
                              void **cpu, uint64_t *devaddr)
{
    int rc = shim_ledger_add(ctx->shim, ctx->gi, NULL, size, index);
    if (rc < 0)
        return rc;
    struct shim_ledger_entry *e = &ctx->shim->ledger.e[*index];
    *cpu = e->mem.cpu;
    *devaddr = e->devaddr;
    return 0;
}

void shim_profile_shadow_free(struct shim_profile_ctx *ctx, uint32_t index)
{
    struct shim_ledger_entry *e = &ctx->shim->ledger.e[index];
    if (e->live && e->shim_owned && e->grant == ctx->gi)
        shim_ledger_remove(ctx->shim, index);
}

void shim_profile_retire_all(struct shim_profile_ctx *ctx)
{
    ctx->g->inflight = 0;
    for (uint32_t i = 0; i < ctx->shim->ledger.n; i++)
        if (ctx->shim->ledger.e[i].live && ctx->shim->ledger.e[i].grant == ctx->gi)
            ctx->shim->ledger.e[i].inflight = 0;
}

void *shim_profile_alloc(struct shim_profile_ctx *ctx, size_t size)
{
    uint8_t *p = capdrv_env_alloc(ctx->shim->env, size);
    for (size_t i = 0; p && i < size; i++)
        p[i] = 0;
    return p;
}

void shim_profile_free(struct shim_profile_ctx *ctx, void *p)
{
    capdrv_env_free(ctx->shim->env, p);
}

void shim_profile_forget(struct capdrv_shim *shim, uint32_t gi)
{
    struct shim_grant *g = &shim->grants[gi];
    for (unsigned i = 0; i < SHIM_PROFILE_STATE_MAX / 8; i++)
        g->profile_state[i] = 0;
    if (g->profile && g->profile->forget) {
        struct shim_profile_ctx ctx = {.shim = shim, .g = g, .gi = gi};
        g->profile->forget(&ctx);
    }
}
