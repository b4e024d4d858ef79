/* Release, revoke and teardown. One path retires every capability type, so
 * provider release, manager revoke, function reset and provider death all
 * obey the same rules:
 *  - a DMA buffer leaves the ledger only after the device can no longer
 *    touch it (quiesce if it was published and the device is not idle),
 *    and it is scrubbed before its memory is reused;
 *  - releasing a parent releases its children first;
 *  - a released slot's generation moves on, so old handles are stale. */
#include "shim_internal.h"

#include <capdrv_shim/core.h>

void shim_quiesce(struct capdrv_shim *shim, uint32_t gi, bool force_reset)
{
    struct shim_grant *g = &shim->grants[gi];
    if (!force_reset && g->inflight == 0)
        return;
    bool idle = false;
    if (!force_reset && g->profile && g->profile->idle) {
        struct shim_profile_ctx ctx = {.shim = shim, .g = g, .gi = gi};
        idle = g->profile->idle(&ctx);
    }
    if (!idle) {
        /* PCIe Base 4.0 §6.6.2: after a function-level reset the function
         * has no outstanding DMA. */
        int rc = shim->hw.ops->function_reset(shim->hw.ctx, g->hw_fn);
        /* A failed reset may leave DMA running: memory of this grant must
         * not go back to the platform until a reset succeeds. */
        g->dma_unsafe = rc < 0;
        capdrv_env_log(shim->env, rc < 0 ? CAPDRV_LOG_ERROR : CAPDRV_LOG_INFO, "quiesce-reset", gi,
                       (uint64_t)-rc);
        shim_profile_forget(shim, gi);
        /* A reset disables MSI-X (PCI 3.0 §6.8.2.3); vectors the provider
         * still holds must keep working, so route them again - in the state
         * the provider left them: routing unmasks, so a vector it masked is
         * masked again (its messages latch in the PBA until it unmasks). */
        for (unsigned v = 0; v < SHIM_MAX_IRQS; v++) {
            if (g->irq_slot[v] == SHIM_CAP_NO_PARENT)
                continue;
            if (shim->hw.ops->irq_enable(shim->hw.ctx, g->hw_fn, v) < 0)
                capdrv_env_log(shim->env, CAPDRV_LOG_ERROR, "irq-reenable-failed", gi, v);
            else if ((g->irq_masked >> v & 1u) &&
                     shim->hw.ops->irq_mask(shim->hw.ctx, g->hw_fn, v, true) < 0)
                capdrv_env_log(shim->env, CAPDRV_LOG_ERROR, "irq-remask-failed", gi, v);
        }
    }
    g->inflight = 0;
    for (uint32_t i = 0; i < shim->ledger.n; i++)
        if (shim->ledger.e[i].live && shim->ledger.e[i].grant == gi)
            shim->ledger.e[i].inflight = 0;
}

static void release_children_of(struct capdrv_shim *shim, struct shim_provider *p, uint32_t slot)
{
    for (uint32_t i = 0; i < p->caps.n_slots; i++)
        if (p->caps.slots[i].type && p->caps.slots[i].parent == slot)
            shim_release_slot(shim, p, i);
}

void shim_release_slot(struct capdrv_shim *shim, struct shim_provider *p, uint32_t slot)
{
    struct shim_cap_slot *s = &p->caps.slots[slot];
    uint32_t gi = s->grant;
    struct shim_grant *g = &shim->grants[gi];
    switch (s->type) {
    case CAPDRV_CAP_GRANT:
        /* Stop the device before anything it could DMA into goes away. */
        shim_quiesce(shim, gi, true);
        release_children_of(shim, p, slot);
        shim_grant_clear_claim(g);
        capdrv_env_log(shim->env, CAPDRV_LOG_INFO, "grant-release", gi, 0);
        break;
    case CAPDRV_CAP_MMIO:
        g->window_slot[s->object] = SHIM_CAP_NO_PARENT;
        break;
    case CAPDRV_CAP_POOL:
        release_children_of(shim, p, slot);
        g->pool_slot = SHIM_CAP_NO_PARENT;
        break;
    case CAPDRV_CAP_DMABUF: {
        struct shim_ledger_entry *e = &shim->ledger.e[s->object];
        if (e->inflight)
            shim_quiesce(shim, gi, false);
        g->pool_bytes -= e->mem.size;
        g->pool_buffers--;
        shim_ledger_remove(shim, s->object);
        break;
    }
    case CAPDRV_CAP_IRQ:
        shim->hw.ops->irq_disable(shim->hw.ctx, g->hw_fn, s->object);
        g->irq_slot[s->object] = SHIM_CAP_NO_PARENT;
        g->irq_pending &= ~(1ull << s->object);
        g->irq_masked &= ~(1ull << s->object);
        break;
    default:
        return;
    }
    shim_cap_free_slot(p, slot);
}

void shim_provider_teardown(struct capdrv_shim *shim, struct shim_provider *p)
{
    /* Grants first: each quiesces its function, then releases children. */
    for (uint32_t i = 0; i < p->caps.n_slots; i++)
        if (p->caps.slots[i].type == CAPDRV_CAP_GRANT)
            shim_release_slot(shim, p, i);
    for (uint32_t i = 0; i < p->caps.n_slots; i++)
        if (p->caps.slots[i].type)
            shim_release_slot(shim, p, i); /* nothing should be left */
    p->live = false;
}

int capdrv_shim_sys_cap_release(struct capdrv_shim *shim, struct shim_provider *p, capdrv_cap_t cap)
{
    shim_lock(shim);
    uint32_t slot;
    int rc = shim_cap_lookup(p, cap, 0, &slot);
    if (rc == 0)
        shim_release_slot(shim, p, slot);
    shim_unlock(shim);
    return rc;
}

int capdrv_shim_provider_revoke(struct capdrv_shim *shim, struct shim_provider *p, capdrv_cap_t cap)
{
    shim_lock(shim);
    uint32_t slot;
    int rc = shim_cap_lookup(p, cap, 0, &slot);
    if (rc == 0) {
        capdrv_env_log(shim->env, CAPDRV_LOG_INFO, "revoke", p->caps.slots[slot].grant,
                       capdrv_cap_type_of(cap));
        shim_release_slot(shim, p, slot);
    }
    shim_unlock(shim);
    return rc;
}
