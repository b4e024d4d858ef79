/* The simulated machine: lifecycle, functions, the simulated clock and the
 * public test interface of capdrv/sim.h. The platform operations are in
 * sim_ops.c; each concern (config space, DMA, MSI-X, device models) has its
 * own file.
 *
 * Time: the machine never looks at the host clock. Device models report
 * their next event; sim_run_until() performs events in time order (ties
 * broken by function number) and moves now_ns forward. That is the whole
 * scheduler, and why runs are reproducible. */
#include "sim_internal.h"

#include <capdrv/dev/dmatest.h>

#include <stdlib.h>
#include <string.h>

/* Lock for entry points that take a const machine: the lock is not part of
 * the machine's observable state. */
static void lock_const(const struct capdrv_sim *sim)
{
    pthread_mutex_lock((pthread_mutex_t *)&sim->lock);
}

static void unlock_const(const struct capdrv_sim *sim)
{
    pthread_mutex_unlock((pthread_mutex_t *)&sim->lock);
}

int capdrv_sim_create(const struct capdrv_sim_config *cfg, struct capdrv_sim **out)
{
    if (!out)
        return -CAPDRV_EINVAL;
    *out = NULL;
    struct capdrv_sim *sim = calloc(1, sizeof *sim);
    if (!sim)
        return -CAPDRV_ENOMEM;
    if (pthread_mutex_init(&sim->lock, NULL) != 0) {
        free(sim);
        return -CAPDRV_ENOMEM;
    }
    sim->iommu = cfg ? cfg->iommu : false;
    size_t limit = cfg && cfg->dma_limit ? cfg->dma_limit : CAPDRV_SIM_DEFAULT_DMA_LIMIT;
    sim_dma_init(&sim->dma, limit);
    *out = sim;
    return 0;
}

void capdrv_sim_destroy(struct capdrv_sim *sim)
{
    if (!sim)
        return;
    for (unsigned i = 0; i < sim->n_fns; i++) {
        struct sim_fn *f = sim->fns[i];
        f->dev->destroy(f);
        sim_maps_free(&f->maps);
        free(f);
    }
    free(sim->fns);
    sim_dma_fini(sim);
    pthread_mutex_destroy(&sim->lock);
    free(sim);
}

struct capdrv_hw capdrv_sim_hw(struct capdrv_sim *sim)
{
    struct capdrv_hw hw = {.ops = NULL, .ctx = NULL};
    if (sim) {
        hw.ops = &sim_hw_ops;
        hw.ctx = sim;
    }
    return hw;
}

struct sim_fn *sim_fn_get(const struct capdrv_sim *sim, unsigned fn)
{
    return fn < sim->n_fns ? sim->fns[fn] : NULL;
}

/* ---- functions ------------------------------------------------------------ */

int sim_add_function(struct capdrv_sim *sim, const struct capdrv_pci_addr *addr,
                     const struct sim_dev_ops *dev, const struct sim_pci_ident *id,
                     const struct sim_fn_layout *layout, const void *init_arg,
                     unsigned *fn_out)
{
    bool mmio = layout->mmio_size != 0;
    if (!mmio && (addr->dev > 31 || addr->fn > 7))
        return -CAPDRV_EINVAL;
    if (mmio && (layout->mmio_size > layout->bar0_size || (layout->mmio_base & 3u) ||
                 layout->mmio_base > UINT64_MAX - layout->mmio_size))
        return -CAPDRV_EINVAL;
    if (layout->n_vectors == 0 || layout->n_vectors > SIM_MSIX_MAX_VECTORS ||
        layout->bar0_size < SIM_BAR_SIZE || (layout->bar0_size & (layout->bar0_size - 1u)) ||
        layout->bar0_size > SIM_BAR0_MAX)
        return -CAPDRV_EINVAL;
    for (unsigned i = 0; i < sim->n_fns; i++) {
        const struct capdrv_hw_function *oi = &sim->fns[i]->info;
        if (mmio || oi->kind == CAPDRV_HW_FN_MMIO) {
            /* Two MMIO devices may not overlap (PCI functions have no base). */
            if (mmio && oi->kind == CAPDRV_HW_FN_MMIO &&
                layout->mmio_base < oi->mmio_base + oi->mmio_size &&
                oi->mmio_base < layout->mmio_base + layout->mmio_size)
                return -CAPDRV_EEXIST;
            continue;
        }
        const struct capdrv_pci_addr *o = &oi->addr;
        if (o->domain == addr->domain && o->bus == addr->bus && o->dev == addr->dev &&
            o->fn == addr->fn)
            return -CAPDRV_EEXIST;
    }
    if (sim->n_fns >= CAPDRV_SIM_MAX_FUNCTIONS)
        return -CAPDRV_ENOSPC;
    if (sim->n_fns == sim->cap_fns) {
        unsigned cap = sim->cap_fns ? sim->cap_fns * 2 : 8;
        struct sim_fn **fns = realloc(sim->fns, cap * sizeof *fns);
        if (!fns)
            return -CAPDRV_ENOMEM;
        sim->fns = fns;
        sim->cap_fns = cap;
    }
    struct sim_fn *f = calloc(1, sizeof *f);
    if (!f)
        return -CAPDRV_ENOMEM;
    f->index = sim->n_fns;
    f->dev = dev;
    f->info.addr = mmio ? (struct capdrv_pci_addr){0} : *addr;
    /* Both BARs are 32-bit, non-prefetchable memory BARs; BAR2 (MSI-X) is
     * always 4 KiB, BAR0 as the model needs. */
    f->info.bar_size[0] = layout->bar0_size;
    f->info.bar_flags[0] = CAPDRV_HW_BAR_MEM;
    f->info.bar_size[SIM_MSIX_BAR] = SIM_BAR_SIZE;
    f->info.bar_flags[SIM_MSIX_BAR] = CAPDRV_HW_BAR_MEM;
    if (mmio) {
        /* The host sees one register region and one interrupt line; the
         * model keeps its MSI-X state internally for vector 0. */
        f->info.kind = CAPDRV_HW_FN_MMIO;
        f->info.mmio_base = layout->mmio_base;
        f->info.mmio_size = layout->mmio_size;
        f->info.bar_size[0] = layout->mmio_size;
        f->info.bar_size[SIM_MSIX_BAR] = 0;
        f->info.bar_flags[SIM_MSIX_BAR] = 0;
        f->info.n_irq_lines = 1;
        f->info.irq_line[0] = SIM_MMIO_IRQ_LINE_BASE + sim->n_fns;
    }
    sim_irq_init(f, layout->n_vectors);
    sim_pci_init(f, id);
    f->init_arg = init_arg;
    int rc = dev->init(f);
    f->init_arg = NULL; /* the caller's storage: not valid after this call */
    if (rc < 0) {
        free(f);
        return rc;
    }
    sim->fns[sim->n_fns++] = f;
    if (fn_out)
        *fn_out = f->index;
    return 0;
}

/* dmatest and scratch functions: 4 KiB BAR0, two MSI-X vectors. */
static const struct sim_fn_layout basic_layout = {.bar0_size = SIM_BAR_SIZE,
                                                  .n_vectors = SIM_MSIX_VECTORS};

int capdrv_sim_add_dmatest(struct capdrv_sim *sim, const struct capdrv_pci_addr *addr,
                           unsigned *fn_out)
{
    if (!sim || !addr)
        return -CAPDRV_EINVAL;
    const struct sim_pci_ident id = {
        .vendor = CAPDRV_DMATEST_VENDOR,
        .device = CAPDRV_DMATEST_DEVICE,
        .subsys_vendor = CAPDRV_DMATEST_VENDOR,
        .subsys_device = 0x0001,
        .class_code = CAPDRV_DMATEST_CLASS,
        .revision = 0x01,
    };
    pthread_mutex_lock(&sim->lock);
    int rc = sim_add_function(sim, addr, &sim_dev_dmatest, &id, &basic_layout, NULL, fn_out);
    pthread_mutex_unlock(&sim->lock);
    return rc;
}

int capdrv_sim_add_scratch(struct capdrv_sim *sim, const struct capdrv_pci_addr *addr,
                           uint16_t vendor, uint16_t device, uint32_t class_code,
                           unsigned *fn_out)
{
    if (!sim || !addr || class_code > 0xffffffu)
        return -CAPDRV_EINVAL;
    const struct sim_pci_ident id = {
        .vendor = vendor,
        .device = device,
        .subsys_vendor = vendor,
        .subsys_device = device,
        .class_code = class_code,
        .revision = 0x00,
    };
    pthread_mutex_lock(&sim->lock);
    int rc = sim_add_function(sim, addr, &sim_dev_scratch, &id, &basic_layout, NULL, fn_out);
    pthread_mutex_unlock(&sim->lock);
    return rc;
}

void sim_function_reset(struct capdrv_sim *sim, struct sim_fn *f)
{
    (void)sim;
    /* PCIe Base 4.0 §6.6.2: the function stops all outstanding work (so it
     * never DMAs for a command issued before the reset), its registers and
     * config space return to power-on values, MSI-X is disabled with all
     * vectors masked and nothing pending. DMA mappings belong to the host
     * (the shim) and stay. */
    f->dev->reset(f);
    sim_pci_reset(f);
    sim_irq_reset(f);
    if (f->reset_count < UINT32_MAX)
        f->reset_count++;
}

int capdrv_sim_cfg_poke(struct capdrv_sim *sim, unsigned fn, uint32_t offset, unsigned width,
                        uint32_t value)
{
    if (!sim)
        return -CAPDRV_EINVAL;
    pthread_mutex_lock(&sim->lock);
    struct sim_fn *f = sim_fn_get(sim, fn);
    int rc = f ? sim_pci_cfg_poke(f, offset, width, value) : -CAPDRV_ENOENT;
    pthread_mutex_unlock(&sim->lock);
    return rc;
}

int capdrv_sim_dmatest_set_fault(struct capdrv_sim *sim, unsigned fn,
                                 enum capdrv_sim_dmatest_fault fault)
{
    if (!sim)
        return -CAPDRV_EINVAL;
    pthread_mutex_lock(&sim->lock);
    struct sim_fn *f = sim_fn_get(sim, fn);
    int rc = !f ? -CAPDRV_ENOENT
             : f->dev != &sim_dev_dmatest ? -CAPDRV_ENODEV
                                          : sim_dmatest_set_fault(f, fault);
    pthread_mutex_unlock(&sim->lock);
    return rc;
}

unsigned capdrv_sim_reset_count(const struct capdrv_sim *sim, unsigned fn)
{
    if (!sim)
        return 0;
    lock_const(sim);
    const struct sim_fn *f = sim_fn_get(sim, fn);
    unsigned n = f ? f->reset_count : 0;
    unlock_const(sim);
    return n;
}

int capdrv_sim_device_dma(struct capdrv_sim *sim, unsigned fn, uint64_t devaddr, void *buf,
                          size_t len, bool is_write)
{
    if (!sim || (!buf && len > 0))
        return -CAPDRV_EINVAL;
    pthread_mutex_lock(&sim->lock);
    struct sim_fn *f = sim_fn_get(sim, fn);
    int rc = f ? sim_dma_access(sim, f, devaddr, buf, len, is_write) : -CAPDRV_ENOENT;
    pthread_mutex_unlock(&sim->lock);
    return rc;
}

int capdrv_sim_irq_raise(struct capdrv_sim *sim, unsigned fn, unsigned vector)
{
    if (!sim)
        return -CAPDRV_EINVAL;
    pthread_mutex_lock(&sim->lock);
    struct sim_fn *f = sim_fn_get(sim, fn);
    int rc = !f || vector >= f->n_vectors ? -CAPDRV_ENOENT : 0;
    if (rc == 0)
        sim_irq_raise(f, vector);
    pthread_mutex_unlock(&sim->lock);
    return rc;
}

int capdrv_sim_dma_stats(const struct capdrv_sim *sim, struct capdrv_sim_dma_stats *out)
{
    if (!sim || !out)
        return -CAPDRV_EINVAL;
    lock_const(sim);
    out->regions = sim->dma.n;
    out->bytes = sim->dma.live_bytes;
    out->mappings = 0;
    for (unsigned i = 0; i < sim->n_fns; i++)
        out->mappings += sim->fns[i]->maps.n;
    unlock_const(sim);
    return 0;
}

/* ---- DMA oracle ------------------------------------------------------------ */

unsigned long capdrv_sim_oracle_violations(const struct capdrv_sim *sim)
{
    if (!sim)
        return 0;
    lock_const(sim);
    unsigned long n = sim->violations;
    unlock_const(sim);
    return n;
}

int capdrv_sim_oracle_last(const struct capdrv_sim *sim, struct capdrv_sim_violation *out)
{
    if (!sim || !out)
        return -CAPDRV_EINVAL;
    lock_const(sim);
    int rc = sim->have_last ? 0 : -CAPDRV_ENOENT;
    if (rc == 0)
        *out = sim->last;
    unlock_const(sim);
    return rc;
}

void capdrv_sim_oracle_reset(struct capdrv_sim *sim)
{
    if (!sim)
        return;
    pthread_mutex_lock(&sim->lock);
    sim->violations = 0;
    sim->have_last = false;
    memset(&sim->last, 0, sizeof sim->last);
    pthread_mutex_unlock(&sim->lock);
}

/* ---- simulated time -------------------------------------------------------- */

/* Earliest event and its function (lowest number wins a tie). */
static uint64_t earliest(const struct capdrv_sim *sim, struct sim_fn **who)
{
    uint64_t best = SIM_NEVER;
    *who = NULL;
    for (unsigned i = 0; i < sim->n_fns; i++) {
        uint64_t t = sim->fns[i]->dev->next_event(sim->fns[i]);
        if (t < best) {
            best = t;
            *who = sim->fns[i];
        }
    }
    return best;
}

uint64_t sim_next_event(const struct capdrv_sim *sim)
{
    struct sim_fn *who;
    return earliest(sim, &who);
}

void sim_run_until(struct capdrv_sim *sim, uint64_t target)
{
    for (;;) {
        struct sim_fn *who;
        uint64_t t = earliest(sim, &who);
        if (!who || t > target)
            break;
        if (t > sim->now_ns)
            sim->now_ns = t; /* never backwards, even for an overdue event */
        who->dev->run_event(sim, who);
    }
    if (target > sim->now_ns)
        sim->now_ns = target;
}

void capdrv_sim_advance(struct capdrv_sim *sim, uint64_t ns)
{
    if (!sim)
        return;
    pthread_mutex_lock(&sim->lock);
    sim_run_until(sim, sim_sat_add(sim->now_ns, ns));
    pthread_mutex_unlock(&sim->lock);
}

uint64_t capdrv_sim_now(const struct capdrv_sim *sim)
{
    if (!sim)
        return 0;
    lock_const(sim);
    uint64_t t = sim->now_ns;
    unlock_const(sim);
    return t;
}
