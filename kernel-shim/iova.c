/* Direct-lane IOVA allocation inside a grant's IOVA window.
 *
 * Each buffer takes [iova, iova + size) plus one unmapped guard page after
 * it, so an off-by-one transfer faults in the IOMMU instead of reaching the
 * neighbour. Allocation bumps a cursor while the window has room above it
 * (the common case: O(1)); once it does not, the window's free gaps are
 * searched first-fit, so a provider that allocates and frees for as long as
 * it runs never runs out of addresses while its live buffers fit.
 *
 * A range stays occupied while its buffer is live and while it is
 * quarantined (its unmap failed or its reset failed, so the device may still
 * reach it): such an address is never handed out again. */
#include "shim_internal.h"

#include "util.h"

/* Sift-down for the heap sort below (by start). */
static void sift(struct shim_iova_range *r, uint32_t root, uint32_t n)
{
    for (;;) {
        uint32_t child = 2u * root + 1u;
        if (child >= n)
            return;
        if (child + 1u < n && r[child + 1u].start > r[child].start)
            child++;
        if (r[root].start >= r[child].start)
            return;
        struct shim_iova_range t = r[root];
        r[root] = r[child];
        r[child] = t;
        root = child;
    }
}

/* In place, O(n log n), no allocation: the shim has no qsort. */
static void sort_ranges(struct shim_iova_range *r, uint32_t n)
{
    for (uint32_t i = n / 2u; i-- > 0;)
        sift(r, i, n);
    for (uint32_t end = n; end-- > 1u;) {
        struct shim_iova_range t = r[0];
        r[0] = r[end];
        r[end] = t;
        sift(r, 0, end);
    }
}

int shim_iova_fit(struct shim_iova_range *occ, uint32_t n, uint64_t base, uint64_t span,
                  uint64_t size, uint64_t *iova)
{
    if (size == 0 || size > span)
        return -CAPDRV_EINVAL;
    sort_ranges(occ, n);
    /* Our guard page must not overlap the next range either; the window's
     * end needs no guard (nothing of this grant lies above it). */
    uint64_t cursor = base, end = base + span;
    for (uint32_t i = 0; i < n; i++) {
        if (occ[i].end <= cursor)
            continue;
        if (occ[i].start > cursor && occ[i].start - cursor >= size &&
            occ[i].start - cursor - size >= SHIM_PAGE_SIZE) {
            *iova = cursor;
            return 0;
        }
        cursor = occ[i].end;
        if (cursor >= end)
            return -CAPDRV_ENOSPC;
    }
    if (end - cursor < size)
        return -CAPDRV_ENOSPC;
    *iova = cursor;
    return 0;
}

/* Occupied ranges of grant @p gi, with their guard pages. */
static bool occupies(const struct shim_ledger_entry *e, uint32_t gi)
{
    return e->grant == gi && (e->live || e->quarantined);
}

int shim_iova_alloc(struct capdrv_shim *shim, uint32_t gi, uint64_t size, uint64_t *iova)
{
    struct shim_grant *g = &shim->grants[gi];
    /* Fast path: everything occupied lies below the cursor. */
    if (g->next_iova >= g->iova_base &&
        shim_range_within(g->next_iova - g->iova_base, size, SHIM_IOVA_GRANT_SPAN)) {
        *iova = g->next_iova;
        g->next_iova += size + SHIM_PAGE_SIZE;
        return 0;
    }
    struct shim_ledger *l = &shim->ledger;
    uint32_t n = 0;
    for (uint32_t i = 0; i < l->n; i++)
        n += occupies(&l->e[i], gi);
    struct shim_iova_range *occ = NULL;
    if (n) {
        occ = capdrv_env_alloc(shim->env, (size_t)n * sizeof *occ);
        if (!occ)
            return -CAPDRV_ENOMEM;
    }
    uint32_t k = 0;
    for (uint32_t i = 0; i < l->n && k < n; i++)
        if (occupies(&l->e[i], gi)) {
            occ[k].start = l->e[i].devaddr;
            occ[k].end = l->e[i].devaddr + l->e[i].mem.size + SHIM_PAGE_SIZE;
            k++;
        }
    int rc = shim_iova_fit(occ, k, g->iova_base, SHIM_IOVA_GRANT_SPAN, size, iova);
    capdrv_env_free(shim->env, occ);
    /* The cursor stays where it is (past the window's end): the next
     * allocation searches again. */
    return rc;
}

void shim_iova_rewind(struct capdrv_shim *shim, uint32_t gi)
{
    struct shim_grant *g = &shim->grants[gi];
    uint64_t cursor = g->iova_base;
    struct shim_ledger *l = &shim->ledger;
    for (uint32_t i = 0; i < l->n; i++) {
        const struct shim_ledger_entry *e = &l->e[i];
        if (occupies(e, gi) && e->devaddr + e->mem.size + SHIM_PAGE_SIZE > cursor)
            cursor = e->devaddr + e->mem.size + SHIM_PAGE_SIZE;
    }
    g->next_iova = cursor;
}

/* ---- the IOVA index ------------------------------------------------------ */

/* First position whose IOVA is >= @p iova. */
static uint32_t lower_bound(const struct shim_iova_index *x, uint64_t iova)
{
    uint32_t lo = 0, hi = x->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2u;
        if (x->iova[mid] < iova)
            lo = mid + 1u;
        else
            hi = mid;
    }
    return lo;
}

static int grow(struct capdrv_shim *shim, struct shim_iova_index *x)
{
    uint32_t cap = x->cap ? 2u * x->cap : 64u;
    uint64_t *iova = capdrv_env_alloc(shim->env, (size_t)cap * sizeof *iova);
    uint32_t *entry = capdrv_env_alloc(shim->env, (size_t)cap * sizeof *entry);
    if (!iova || !entry) {
        capdrv_env_free(shim->env, iova);
        capdrv_env_free(shim->env, entry);
        return -CAPDRV_ENOMEM;
    }
    for (uint32_t i = 0; i < x->n; i++) {
        iova[i] = x->iova[i];
        entry[i] = x->entry[i];
    }
    capdrv_env_free(shim->env, x->iova);
    capdrv_env_free(shim->env, x->entry);
    x->iova = iova;
    x->entry = entry;
    x->cap = cap;
    return 0;
}

int shim_iova_index_insert(struct capdrv_shim *shim, uint64_t iova, uint32_t entry)
{
    struct shim_iova_index *x = &shim->ledger.by_iova;
    if (x->n == x->cap) {
        int rc = grow(shim, x);
        if (rc < 0)
            return rc;
    }
    uint32_t at = lower_bound(x, iova);
    for (uint32_t i = x->n; i > at; i--) {
        x->iova[i] = x->iova[i - 1u];
        x->entry[i] = x->entry[i - 1u];
    }
    x->iova[at] = iova;
    x->entry[at] = entry;
    x->n++;
    return 0;
}

void shim_iova_index_remove(struct capdrv_shim *shim, uint64_t iova)
{
    struct shim_iova_index *x = &shim->ledger.by_iova;
    uint32_t at = lower_bound(x, iova);
    if (at == x->n || x->iova[at] != iova)
        return;
    for (uint32_t i = at; i + 1u < x->n; i++) {
        x->iova[i] = x->iova[i + 1u];
        x->entry[i] = x->entry[i + 1u];
    }
    x->n--;
}

uint32_t shim_iova_index_find(const struct capdrv_shim *shim, uint64_t iova)
{
    const struct shim_iova_index *x = &shim->ledger.by_iova;
    /* The greatest IOVA <= @p iova: one before the first one above it. */
    uint32_t at = lower_bound(x, iova);
    if (at < x->n && x->iova[at] == iova)
        return x->entry[at];
    return at == 0 ? UINT32_MAX : x->entry[at - 1u];
}

void shim_iova_index_free(struct capdrv_shim *shim)
{
    struct shim_iova_index *x = &shim->ledger.by_iova;
    capdrv_env_free(shim->env, x->iova);
    capdrv_env_free(shim->env, x->entry);
    x->iova = NULL;
    x->entry = NULL;
    x->n = x->cap = 0;
}
