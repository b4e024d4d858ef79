/* Per-provider capability tables with generation-checked handles. */
#include "shim_internal.h"

#define CAP_TABLE_GROW 32u
#define CAP_TABLE_MAX (1u << 20)

static capdrv_cap_t make_handle(uint8_t type, uint32_t gen, uint32_t slot)
{
    return ((capdrv_cap_t)type << CAPDRV_CAP_TYPE_SHIFT) |
           ((capdrv_cap_t)(gen & SHIM_CAP_GEN_MASK) << 32) | (capdrv_cap_t)(slot + 1u);
}

capdrv_cap_t shim_cap_handle(const struct shim_provider *p, uint32_t slot)
{
    const struct shim_cap_slot *s = &p->caps.slots[slot];
    return make_handle(s->type, s->gen, slot);
}

static int grow(struct capdrv_shim *shim, struct shim_captable *t)
{
    if (t->n_slots >= CAP_TABLE_MAX)
        return -CAPDRV_ENOSPC;
    uint32_t n = t->n_slots + CAP_TABLE_GROW;
    struct shim_cap_slot *s = capdrv_env_alloc(shim->env, (size_t)n * sizeof *s);
    if (!s)
        return -CAPDRV_ENOMEM;
    for (uint32_t i = 0; i < t->n_slots; i++)
        s[i] = t->slots[i];
    for (uint32_t i = t->n_slots; i < n; i++)
        s[i].gen = 1; /* generation 0 is never issued */
    capdrv_env_free(shim->env, t->slots);
    t->slots = s;
    t->n_slots = n;
    return 0;
}

int shim_cap_alloc(struct capdrv_shim *shim, struct shim_provider *p, enum capdrv_cap_type type,
                   uint32_t parent, uint32_t grant, uint32_t object, capdrv_cap_t *out)
{
    struct shim_captable *t = &p->caps;
    uint32_t slot = UINT32_MAX;
    for (uint32_t i = 0; i < t->n_slots; i++) {
        if (t->slots[i].type == 0 && !t->slots[i].retired) {
            slot = i;
            break;
        }
    }
    if (slot == UINT32_MAX) {
        slot = t->n_slots;
        int rc = grow(shim, t);
        if (rc < 0)
            return rc;
    }
    struct shim_cap_slot *s = &t->slots[slot];
    s->type = (uint8_t)type;
    s->parent = parent;
    s->grant = grant;
    s->object = object;
    t->n_live++;
    *out = make_handle(s->type, s->gen, slot);
    return (int)slot;
}

int shim_cap_lookup(struct shim_provider *p, capdrv_cap_t cap, unsigned type, uint32_t *slot)
{
    unsigned ctype = (unsigned)(cap >> CAPDRV_CAP_TYPE_SHIFT);
    uint32_t idx = (uint32_t)(cap & 0xffffffffu);
    uint32_t gen = (uint32_t)(cap >> 32) & SHIM_CAP_GEN_MASK;
    if (cap == CAPDRV_CAP_INVALID || idx == 0 || ctype < CAPDRV_CAP_GRANT ||
        ctype > CAPDRV_CAP_IRQ || (type && ctype != type))
        return -CAPDRV_EBADF;
    idx--;
    if (idx >= p->caps.n_slots)
        return -CAPDRV_EBADF; /* never issued by this table */
    const struct shim_cap_slot *s = &p->caps.slots[idx];
    if (gen == 0 || gen > s->gen)
        return -CAPDRV_EBADF; /* a generation this slot never had: forged */
    if (s->gen != gen || s->type == 0)
        return -CAPDRV_ESTALE; /* released, revoked or torn down */
    if (s->type != ctype)
        return -CAPDRV_EBADF; /* live slot, but the handle claims another type */
    *slot = idx;
    return 0;
}

void shim_cap_free_slot(struct shim_provider *p, uint32_t slot)
{
    struct shim_cap_slot *s = &p->caps.slots[slot];
    if (s->type == 0)
        return;
    s->type = 0;
    s->parent = SHIM_CAP_NO_PARENT;
    p->caps.n_live--;
    /* Bump the generation so every outstanding handle turns stale; a slot
     * whose generation space is spent is retired for good. */
    if (s->gen == SHIM_CAP_GEN_MASK)
        s->retired = true;
    else
        s->gen++;
}

void shim_captable_destroy(struct capdrv_shim *shim, struct shim_captable *t)
{
    capdrv_env_free(shim->env, t->slots);
    t->slots = NULL;
    t->n_slots = 0;
    t->n_live = 0;
}
