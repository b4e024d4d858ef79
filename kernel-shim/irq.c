/* Interrupt capabilities: open (route an MSI-X vector), multiplexed wait,
 * acknowledge, mask. Pending state is kept per grant, one bit per vector,
 * so an interrupt that fires while nobody waits is not lost. */
#include "shim_internal.h"

#include <capdrv_shim/core.h>

int capdrv_shim_sys_irq_open(struct capdrv_shim *shim, struct shim_provider *p, capdrv_cap_t cap,
                             unsigned vector, capdrv_cap_t *irq)
{
    shim_lock(shim);
    struct shim_grant *g;
    uint32_t gi;
    int rc = shim_grant_from_cap(shim, p, cap, &g, &gi);
    if (rc == 0 && vector >= g->n_irqs)
        rc = -CAPDRV_ENOENT;
    if (rc == 0 && g->irq_slot[vector] != SHIM_CAP_NO_PARENT)
        rc = -CAPDRV_EBUSY;
    if (rc == 0)
        rc = shim->hw.ops->irq_enable(shim->hw.ctx, g->hw_fn, vector) < 0 ? -CAPDRV_EIO : 0;
    if (rc == 0) {
        rc = shim_cap_alloc(shim, p, CAPDRV_CAP_IRQ, g->holder_slot, gi, vector, irq);
        if (rc < 0) {
            shim->hw.ops->irq_disable(shim->hw.ctx, g->hw_fn, vector);
        } else {
            g->irq_slot[vector] = (uint32_t)rc;
            g->irq_pending &= ~(1ull << vector);
            g->irq_masked &= ~(1ull << vector); /* irq_enable leaves it unmasked */
            rc = 0;
        }
    }
    shim_unlock(shim);
    return rc;
}

#define IRQ_WAIT_MAX 64u

/* Resolve every handle; fills @set and the grant of each. */
static int resolve_set(struct capdrv_shim *shim, struct shim_provider *p, const capdrv_cap_t *irqs,
                       unsigned n, struct capdrv_hw_irq *set, uint32_t *gis)
{
    for (unsigned i = 0; i < n; i++) {
        uint32_t slot;
        int rc = shim_cap_lookup(p, irqs[i], CAPDRV_CAP_IRQ, &slot);
        if (rc < 0)
            return rc;
        gis[i] = p->caps.slots[slot].grant;
        set[i].fn = shim->grants[gis[i]].hw_fn;
        set[i].vector = p->caps.slots[slot].object;
    }
    return 0;
}

static uint64_t pending_mask(struct capdrv_shim *shim, const struct capdrv_hw_irq *set,
                             const uint32_t *gis, unsigned n)
{
    uint64_t ready = 0;
    for (unsigned i = 0; i < n; i++)
        if (shim->grants[gis[i]].irq_pending & (1ull << set[i].vector))
            ready |= 1ull << i;
    return ready;
}

int capdrv_shim_sys_irq_wait(struct capdrv_shim *shim, struct shim_provider *p,
                             const capdrv_cap_t *irqs, unsigned n, int64_t timeout_ns,
                             uint64_t *ready)
{
    struct capdrv_hw_irq set[IRQ_WAIT_MAX];
    uint32_t gis[IRQ_WAIT_MAX];
    if (n == 0 || n > IRQ_WAIT_MAX)
        return -CAPDRV_EINVAL;
    shim_lock(shim);
    int rc = resolve_set(shim, p, irqs, n, set, gis);
    uint64_t mask = rc == 0 ? pending_mask(shim, set, gis, n) : 0;
    shim_unlock(shim);
    if (rc < 0)
        return rc;
    if (!mask) {
        /* Block without the lock: other providers keep running. */
        uint64_t fired = 0;
        int w = shim->hw.ops->irq_wait(shim->hw.ctx, set, n, timeout_ns, &fired);
        if (w < 0 && w != -CAPDRV_ETIMEDOUT)
            return -CAPDRV_EIO;
        shim_lock(shim);
        /* Handles may have been revoked while we slept: re-resolve, one by
         * one, so that a firing the platform consumed for a handle that is
         * still valid is recorded even when another one went stale (it
         * would be lost otherwise: the platform's latch is empty now). */
        for (unsigned i = 0; i < n; i++) {
            struct capdrv_hw_irq one;
            uint32_t gi;
            if ((fired & (1ull << i)) && resolve_set(shim, p, &irqs[i], 1, &one, &gi) == 0)
                shim->grants[gi].irq_pending |= 1ull << one.vector;
        }
        rc = resolve_set(shim, p, irqs, n, set, gis);
        if (rc == 0)
            mask = pending_mask(shim, set, gis, n);
        shim_unlock(shim);
        if (rc < 0)
            return rc;
    }
    if (!mask)
        return -CAPDRV_ETIMEDOUT;
    *ready = mask;
    int count = 0;
    for (uint64_t m = mask; m; m &= m - 1u)
        count++;
    return count;
}

static int irq_lookup(struct capdrv_shim *shim, struct shim_provider *p, capdrv_cap_t cap,
                      struct shim_grant **g, unsigned *vector)
{
    uint32_t slot;
    int rc = shim_cap_lookup(p, cap, CAPDRV_CAP_IRQ, &slot);
    if (rc == 0) {
        *g = &shim->grants[p->caps.slots[slot].grant];
        *vector = p->caps.slots[slot].object;
    }
    return rc;
}

int capdrv_shim_sys_irq_ack(struct capdrv_shim *shim, struct shim_provider *p, capdrv_cap_t cap)
{
    shim_lock(shim);
    struct shim_grant *g;
    unsigned v;
    int rc = irq_lookup(shim, p, cap, &g, &v);
    if (rc == 0)
        g->irq_pending &= ~(1ull << v);
    shim_unlock(shim);
    return rc;
}

int capdrv_shim_sys_irq_mask(struct capdrv_shim *shim, struct shim_provider *p, capdrv_cap_t cap,
                             bool masked)
{
    shim_lock(shim);
    struct shim_grant *g;
    unsigned v;
    int rc = irq_lookup(shim, p, cap, &g, &v);
    if (rc == 0)
        rc = shim->hw.ops->irq_mask(shim->hw.ctx, g->hw_fn, v, masked) < 0 ? -CAPDRV_EIO : 0;
    if (rc == 0) {
        if (masked)
            g->irq_masked |= 1ull << v;
        else
            g->irq_masked &= ~(1ull << v);
    }
    shim_unlock(shim);
    return rc;
}
