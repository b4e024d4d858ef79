/* Shim instances: creation (manifest -> bound grants -> DMA backend
 * selection), providers, statistics, destruction. */
#include "shim_internal.h"

#include <capdrv_shim/core.h>

#include "util.h"

#define PCI_CLASS_NVME 0x010802u /* NVMe Base 2.0 §3.1.2: class 01h/08h/02h */

static void why_set(char *why, size_t n, const char *grant, const char *msg)
{
    shim_str_set(why, n, "grant ", grant);
    shim_str_append(why, n, ": ");
    shim_str_append(why, n, msg);
}

static bool grant_matches(const struct shim_manifest_grant *m, const struct capdrv_hw_function *f)
{
    /* An MMIO device is named by its base only; PCI properties never
     * match it (its addr/id are meaningless), nor match-mmio a PCI
     * function. */
    if (f->kind == CAPDRV_HW_FN_MMIO)
        return m->match_flags == SHIM_MATCH_MMIO && f->mmio_base == m->mmio_base;
    if (f->kind != CAPDRV_HW_FN_PCI || (m->match_flags & SHIM_MATCH_MMIO))
        return false;
    if ((m->match_flags & SHIM_MATCH_ID) && (f->id.vendor != m->vendor || f->id.device != m->device))
        return false;
    if ((m->match_flags & SHIM_MATCH_CLASS) &&
        ((f->id.class_code ^ m->class_code) & m->class_mask) != 0)
        return false;
    if ((m->match_flags & SHIM_MATCH_ADDR) &&
        (f->addr.domain != m->addr.domain || f->addr.bus != m->addr.bus ||
         f->addr.dev != m->addr.dev || f->addr.fn != m->addr.fn))
        return false;
    return m->match_flags != 0;
}

/* Grant class rules (seed: ProdGrantClass). Wrong class is refused. */
static int check_class(const struct shim_grant *g, char *why, size_t n)
{
    const struct shim_manifest_grant *m = g->m;
    switch (m->cls) {
    case CAPDRV_GRANT_ANY_FUNCTION:
        if (m->pool_bytes) {
            why_set(why, n, m->name, "class any-function cannot hold a DMA pool");
            return -CAPDRV_EACCES;
        }
        return 0;
    case CAPDRV_GRANT_DMA_CAPABLE:
        if (!g->profile || !g->profile->dma) {
            why_set(why, n, m->name, "class dma-capable needs a function with a DMA profile "
                                     "(virtio, NVMe); this one has none");
            return -CAPDRV_EACCES;
        }
        return 0;
    case CAPDRV_GRANT_NVME_CONTROLLER:
        if (g->fn.kind != CAPDRV_HW_FN_PCI || g->fn.id.class_code != PCI_CLASS_NVME || !g->profile || !g->profile->nvme) {
            why_set(why, n, m->name, "class nvme-controller needs an NVMe function (class 010802)");
            return -CAPDRV_EACCES;
        }
        return 0;
    }
    why_set(why, n, m->name, "unknown grant class");
    return -CAPDRV_EINVAL;
}

/* Windows must be naturally inside an implemented memory BAR and must not
 * expose the MSI-X table or PBA (PCI 3.0 §6.8.2: whoever writes the table
 * chooses where interrupt messages - i.e. DMA writes - go). */
static int check_windows(const struct shim_grant *g, char *why, size_t n)
{
    for (unsigned w = 0; w < g->m->n_windows; w++) {
        const struct shim_manifest_window *win = &g->m->windows[w];
        uint64_t size = g->fn.bar_size[win->bar];
        if (!size || !(g->fn.bar_flags[win->bar] & CAPDRV_HW_BAR_MEM)) {
            why_set(why, n, g->m->name, "window on a BAR that is not an implemented memory BAR: ");
            shim_str_append(why, n, win->name);
            return -CAPDRV_EFAULT;
        }
        if (!shim_range_within(win->offset, win->length, size)) {
            why_set(why, n, g->m->name, "window extends beyond its BAR: ");
            shim_str_append(why, n, win->name);
            return -CAPDRV_EFAULT;
        }
        const struct shim_msix *x = &g->msix;
        uint64_t tlen = (uint64_t)x->table_size * 16u, plen = ((x->table_size + 63u) / 64u) * 8u;
        if (x->present &&
            ((win->bar == x->table_bar && shim_range_overlap(win->offset, win->length, x->table_off, tlen)) ||
             (win->bar == x->pba_bar && shim_range_overlap(win->offset, win->length, x->pba_off, plen)))) {
            why_set(why, n, g->m->name, "window overlaps the MSI-X table or PBA: ");
            shim_str_append(why, n, win->name);
            return -CAPDRV_EFAULT;
        }
    }
    return 0;
}

/* DMA backend selection (seed: cloud-dma-backend-selection): the boot probe
 * proposes, selection is fail-closed, and a manifest override to a backend
 * the platform cannot provide is an error - never a silent fallback. */
static int select_lane(struct capdrv_shim *shim, struct shim_grant *g, char *why, size_t n)
{
    enum capdrv_dma_backend want = g->m->backend != CAPDRV_DMA_BACKEND_AUTO ? g->m->backend
                                                                           : shim->manifest.backend;
    bool iommu = (shim->hw_caps & CAPDRV_HW_IOMMU) != 0;
    switch (want) {
    case CAPDRV_DMA_BACKEND_AUTO:
        g->lane = iommu ? CAPDRV_LANE_DIRECT : CAPDRV_LANE_BROKERED;
        return 0;
    case CAPDRV_DMA_BACKEND_BROKERED:
        g->lane = CAPDRV_LANE_BROKERED;
        return 0;
    case CAPDRV_DMA_BACKEND_DIRECT:
        if (!iommu) {
            why_set(why, n, g->m->name, "dma-backend \"direct\" requested but the platform has no IOMMU");
            return -CAPDRV_ENOTSUP;
        }
        g->lane = CAPDRV_LANE_DIRECT;
        return 0;
    }
    why_set(why, n, g->m->name, "unknown dma-backend");
    return -CAPDRV_EINVAL;
}

/* The profile of a bound function. A PCI function is known by its
 * identity; an MMIO device carries none outside its registers, and a
 * virtio-mmio device announces itself with MagicValue (VIRTIO 1.2
 * §4.2.2). The read has no side effect; the value is untrusted and only
 * selects the strict virtio-mmio rules, whose bind() checks the rest. */
static const struct shim_profile *find_profile(struct capdrv_shim *shim, const struct shim_grant *g)
{
    if (g->fn.kind != CAPDRV_HW_FN_MMIO)
        return shim_profile_find(&g->fn.id);
    uint64_t magic = 0;
    if (g->fn.bar_size[0] >= SHIM_VIRTIO_MMIO_MIN_SIZE &&
        (g->fn.bar_flags[0] & CAPDRV_HW_BAR_MEM) &&
        shim->hw.ops->bar_read(shim->hw.ctx, g->hw_fn, 0, 0, 4, &magic) == 0 &&
        magic == SHIM_VIRTIO_MMIO_MAGIC)
        return &shim_profile_virtio_mmio;
    return NULL;
}

/* Interrupt sources: MSI-X vectors of a PCI function (from its
 * capability), the line of an MMIO device as vector 0. */
static int find_irqs(struct capdrv_shim *shim, struct shim_grant *g, char *why, size_t n)
{
    if (g->fn.kind != CAPDRV_HW_FN_MMIO)
        return shim_pci_find_msix(shim, g, why, n);
    g->msix.present = false;
    g->msix.table_size = g->fn.n_irq_lines > 0 ? 1u : 0u;
    return 0;
}

static int bind_grants(struct capdrv_shim *shim, char *why, size_t n)
{
    int nfn = shim->hw.ops->function_count(shim->hw.ctx);
    if (nfn < 0) {
        shim_str_set(why, n, "platform: cannot enumerate functions", NULL);
        return nfn;
    }
    for (unsigned gi = 0; gi < shim->manifest.n_grants; gi++) {
        struct shim_grant *g = &shim->grants[gi];
        g->m = &shim->manifest.grants[gi];
        g->iova_base = SHIM_IOVA_BASE + (uint64_t)gi * SHIM_IOVA_GRANT_SPAN;
        g->next_iova = g->iova_base;
        bool found = false;
        for (unsigned f = 0; f < (unsigned)nfn && !found; f++) {
            struct capdrv_hw_function info;
            if (shim->hw.ops->function_info(shim->hw.ctx, f, &info) < 0 || !grant_matches(g->m, &info))
                continue;
            bool taken = false;
            for (unsigned o = 0; o < gi; o++)
                taken |= shim->grants[o].hw_fn == f;
            if (taken)
                continue; /* a function belongs to one grant at most */
            g->hw_fn = f;
            g->fn = info;
            found = true;
        }
        if (!found) {
            why_set(why, n, g->m->name, "no unbound function matches");
            return -CAPDRV_ENODEV;
        }
        g->profile = find_profile(shim, g);
        int rc = check_class(g, why, n);
        if (rc == 0)
            rc = find_irqs(shim, g, why, n);
        if (rc == 0)
            rc = check_windows(g, why, n);
        if (rc == 0)
            rc = select_lane(shim, g, why, n);
        if (rc == 0 && g->profile && g->profile->bind) {
            struct shim_profile_ctx ctx = {.shim = shim, .g = g, .gi = gi};
            rc = g->profile->bind(&ctx, why, n);
        }
        if (rc < 0)
            return rc;
        g->n_irqs = g->m->n_irqs;
        if (g->n_irqs > g->msix.table_size)
            g->n_irqs = g->msix.table_size; /* the device offers fewer vectors (lines) */
        if (g->n_irqs > 64)
            g->n_irqs = 64;
        shim_grant_clear_claim(g);
    }
    return 0;
}

/* Release what profile bind() set up (grants never bound have none). */
static void unbind_profiles(struct capdrv_shim *shim)
{
    for (uint32_t gi = 0; gi < shim->manifest.n_grants; gi++) {
        struct shim_grant *g = &shim->grants[gi];
        if (g->profile && g->profile->unbind && g->profile_priv) {
            struct shim_profile_ctx ctx = {.shim = shim, .g = g, .gi = gi};
            g->profile->unbind(&ctx);
        }
        g->profile_priv = NULL;
    }
}

int capdrv_shim_create(const struct capdrv_shim_config *cfg, struct capdrv_shim **out, char *why,
                       size_t why_len)
{
    if (why && why_len)
        why[0] = '\0';
    if (!cfg || !out || !cfg->env || !cfg->hw.ops || !cfg->manifest)
        return -CAPDRV_EINVAL;
    *out = NULL;
    struct capdrv_shim *shim = capdrv_env_alloc(cfg->env, sizeof *shim);
    if (!shim)
        return -CAPDRV_ENOMEM;
    shim->env = cfg->env;
    shim->hw = cfg->hw;
    int rc = shim_manifest_parse(shim->env, cfg->manifest, cfg->manifest_len, &shim->manifest,
                                 why, why_len);
    if (rc < 0) {
        capdrv_env_free(shim->env, shim);
        return rc;
    }
    shim->hw_caps = shim->hw.ops->caps(shim->hw.ctx);
    shim->grants = capdrv_env_alloc(shim->env, shim->manifest.n_grants * sizeof *shim->grants);
    /* The env contract does not promise zeroed memory; unbind_profiles()
     * relies on grants never bound having no profile. */
    for (size_t i = 0; shim->grants && i < shim->manifest.n_grants * sizeof *shim->grants; i++)
        ((unsigned char *)shim->grants)[i] = 0;
    rc = shim->grants ? bind_grants(shim, why, why_len) : -CAPDRV_ENOMEM;
    if (rc < 0) {
        if (shim->grants) {
            shim_ledger_destroy(shim); /* a profile's bind() may have used the ledger */
            unbind_profiles(shim);
        }
        capdrv_env_log(shim->env, CAPDRV_LOG_ERROR, "shim-create-refused", (uint64_t)-rc, 0);
        capdrv_env_free(shim->env, shim->grants);
        shim_manifest_free(shim->env, &shim->manifest);
        capdrv_env_free(shim->env, shim);
        return rc;
    }
    capdrv_env_log(shim->env, CAPDRV_LOG_INFO, "shim-created", shim->manifest.n_grants, shim->hw_caps);
    *out = shim;
    return 0;
}

void capdrv_shim_destroy(struct capdrv_shim *shim)
{
    if (!shim)
        return;
    shim_lock(shim);
    for (unsigned i = 0; i < SHIM_MAX_PROVIDERS; i++) {
        struct shim_provider *p = shim->providers[i];
        if (!p)
            continue;
        shim_provider_teardown(shim, p);
        shim_captable_destroy(shim, &p->caps);
        capdrv_env_free(shim->env, p);
        shim->providers[i] = NULL;
    }
    shim_ledger_destroy(shim);
    unbind_profiles(shim);
    shim_unlock(shim);
    capdrv_env_free(shim->env, shim->grants);
    shim_manifest_free(shim->env, &shim->manifest);
    capdrv_env_free(shim->env, shim);
}

int capdrv_shim_provider_attach(struct capdrv_shim *shim, const char *name, void *transport,
                                struct shim_provider **out)
{
    size_t len = 0;
    while (name[len] && len < CAPDRV_NAME_MAX)
        len++;
    if (len == 0 || len >= CAPDRV_NAME_MAX)
        return -CAPDRV_EINVAL;
    shim_lock(shim);
    int rc = -CAPDRV_ENOENT;
    for (unsigned gi = 0; gi < shim->manifest.n_grants; gi++)
        if (shim_str_eq(shim->grants[gi].m->provider, name))
            rc = 0;
    unsigned slot = SHIM_MAX_PROVIDERS;
    for (unsigned i = 0; rc == 0 && i < SHIM_MAX_PROVIDERS && slot == SHIM_MAX_PROVIDERS; i++)
        if (!shim->providers[i])
            slot = i;
    if (rc == 0 && slot == SHIM_MAX_PROVIDERS)
        rc = -CAPDRV_ENOSPC;
    struct shim_provider *p = NULL;
    if (rc == 0) {
        p = capdrv_env_alloc(shim->env, sizeof *p);
        if (!p)
            rc = -CAPDRV_ENOMEM;
    }
    if (rc == 0) {
        shim_str_copy(p->name, sizeof p->name, name, len);
        p->live = true;
        p->transport = transport;
        shim->providers[slot] = p;
        *out = p;
        capdrv_env_log(shim->env, CAPDRV_LOG_INFO, "provider-attach", slot, 0);
    }
    shim_unlock(shim);
    return rc;
}

void capdrv_shim_provider_detach(struct capdrv_shim *shim, struct shim_provider *p)
{
    shim_lock(shim);
    for (unsigned i = 0; i < SHIM_MAX_PROVIDERS; i++) {
        if (shim->providers[i] != p)
            continue;
        shim_provider_teardown(shim, p);
        shim_captable_destroy(shim, &p->caps);
        capdrv_env_free(shim->env, p);
        shim->providers[i] = NULL;
        capdrv_env_log(shim->env, CAPDRV_LOG_INFO, "provider-detach", i, 0);
        break; /* p is freed: compare nothing more against it */
    }
    shim_unlock(shim);
}

void *capdrv_shim_provider_transport(struct shim_provider *p)
{
    return p->transport;
}

int capdrv_shim_stats(struct capdrv_shim *shim, struct capdrv_shim_stats *out)
{
    if (!shim || !out)
        return -CAPDRV_EINVAL;
    shim_lock(shim);
    struct capdrv_shim_stats s = {0};
    for (unsigned i = 0; i < SHIM_MAX_PROVIDERS; i++)
        s.providers += shim->providers[i] != NULL;
    s.grants = shim->manifest.n_grants;
    for (unsigned gi = 0; gi < s.grants; gi++)
        s.grants_claimed += shim->grants[gi].holder != NULL;
    s.dma_buffers = shim->ledger.live;
    s.dma_bytes = shim->ledger.live_bytes;
    for (uint32_t i = 0; i < shim->ledger.n; i++)
        s.dma_inflight += shim->ledger.e[i].live && shim->ledger.e[i].inflight;
    s.scrubbed_bytes = shim->scrubbed_bytes;
    s.refused_notify = shim->refused_notify;
    shim_unlock(shim);
    *out = s;
    return 0;
}
