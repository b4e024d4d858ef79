/* Private data model of the sim platform. One struct capdrv_sim per
 * machine, no global mutable state. Every public entry point and platform
 * operation takes sim->lock for its whole duration (sim_lock/sim_unlock in
 * sim.c); everything declared here expects the lock to be held.
 *
 * Layering: sim.c (lifecycle, ops table, clock) -> sim_pci.c (config
 * space), sim_dma.c (memory, mappings, DMA oracle), sim_irq.c (MSI-X) ->
 * device models (dev_dmatest.c, dev_scratch.c, dev_virtio_*.c). Device
 * models reach memory only through sim_dma_access() and interrupts only
 * through sim_irq_raise(). */
#ifndef CAPDRV_SIM_INTERNAL_H
#define CAPDRV_SIM_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <capdrv/hw.h>
#include <capdrv/sim.h>

#define SIM_PAGE_SIZE 4096u
#define SIM_CFG_SIZE 4096u
/* Only the PCI-compatible 256 bytes have writable fields; extended config
 * space (0x100..0xfff) holds no capabilities and reads as zero (PCIe Base
 * 4.0 §7.6: a zero header at 0x100 ends the extended list). */
#define SIM_CFG_COMPAT 256u
#define SIM_NEVER UINT64_MAX /* "no event scheduled" */

/* Layout of every simulated function (documented in capdrv/sim.h). */
#define SIM_BAR_SIZE 0x1000u
#define SIM_MMIO_IRQ_LINE_BASE 32u /* MMIO line numbers: as GIC SPIs start (INTID 32) */
#define SIM_BAR0_MAX 0x4000u /* largest BAR0 a model may ask for (sim_fn_layout) */
#define SIM_MSIX_BAR 2u
#define SIM_MSIX_VECTORS 2u
#define SIM_MSIX_MAX_VECTORS 64u /* pba/routed/fired are 64-bit masks */
#define SIM_MSIX_ENTRY 16u       /* PCI Local Bus 3.0 §6.8.2.6: 16-byte table entries */
#define SIM_CAP_PCIE 0x40u       /* PCI Express capability */
#define SIM_CAP_MSIX 0x80u       /* MSI-X capability */

/* ---- DMA (sim_dma.c) ---------------------------------------------------- */

struct sim_region {
    uint64_t phys; /* simulated physical base; unique for the machine's life */
    size_t size;
    void *cpu;
    uint64_t id; /* handed out as capdrv_hw_dma::cookie */
};

/* One dma_map(): function may reach [devaddr, devaddr+size), which is
 * region (phys, cpu). Without an IOMMU devaddr == phys. */
struct sim_map {
    uint64_t devaddr;
    uint64_t size;
    uint64_t phys;
    uint8_t *cpu;
};

struct sim_maps {
    struct sim_map *m; /* sorted by devaddr, never overlapping */
    size_t n, cap;
};

struct sim_dma {
    struct sim_region *r; /* sorted by phys (phys only grows) */
    size_t n, cap;
    size_t live_bytes, limit;
    uint64_t next_phys, next_id;
};

/* ---- device models ------------------------------------------------------ */

struct capdrv_sim;
struct sim_fn;

/* A device model handles BAR0 and its own time-driven work. BAR2 (MSI-X)
 * and config space are generic (sim_irq.c, sim_pci.c). */
struct sim_dev_ops {
    const char *name;
    /* Allocate f->dev_state in its power-on state; 0 or a negative CAPDRV_E* code. */
    int (*init)(struct sim_fn *f);
    /* Accesses already validated for width, alignment and bounds. A model
     * ignores accesses it does not implement, like hardware: reads give 0. */
    uint64_t (*bar0_read)(struct capdrv_sim *sim, struct sim_fn *f, uint64_t off, unsigned width);
    void (*bar0_write)(struct capdrv_sim *sim, struct sim_fn *f, uint64_t off, unsigned width,
                       uint64_t val);
    /* Function-level reset: cancel work, power-on register values. */
    void (*reset)(struct sim_fn *f);
    /* Simulated time of the next event, or SIM_NEVER. */
    uint64_t (*next_event)(const struct sim_fn *f);
    /* Perform the event due now (sim->now_ns == next_event()). */
    void (*run_event)(struct capdrv_sim *sim, struct sim_fn *f);
    void (*destroy)(struct sim_fn *f);
};

extern const struct sim_dev_ops sim_dev_dmatest;
extern const struct sim_dev_ops sim_dev_scratch;
extern const struct sim_dev_ops sim_dev_virtio_blk; /* dev_virtio_blk.c */
extern const struct sim_dev_ops sim_dev_nvme;       /* dev_nvme_regs.c */
/* dev_dmatest.c: fault injection (capdrv_sim_dmatest_set_fault()). */
int sim_dmatest_set_fault(struct sim_fn *f, enum capdrv_sim_dmatest_fault fault);

/* ---- one PCI function --------------------------------------------------- */

struct sim_fn {
    unsigned index;
    struct capdrv_hw_function info; /* addr, BAR sizes/flags; id is read from cfg */
    const struct sim_dev_ops *dev;
    void *dev_state;
    const void *init_arg; /* model-specific creation parameters, for dev->init only */

    /* Configuration space (sim_pci.c). wmask: bits software may write;
     * w1c: bits cleared by writing 1 (PCI Local Bus 3.0 §6.2.3 status);
     * init: power-on values of the writable/w1c bits. */
    uint8_t cfg[SIM_CFG_SIZE];
    uint8_t wmask[SIM_CFG_COMPAT];
    uint8_t w1c[SIM_CFG_COMPAT];
    uint8_t init[SIM_CFG_COMPAT];
    uint32_t cap_last, cap_free; /* last capability; first free byte after it */

    /* MSI-X (sim_irq.c). The table holds the mask bits (Vector Control
     * bit 0); pba the Pending Bits; routed/fired are the host side:
     * a routed vector is connected to an interrupt source by irq_enable,
     * fired is the source's latch consumed by irq_wait. */
    unsigned n_vectors;
    uint8_t msix_table[SIM_MSIX_MAX_VECTORS * SIM_MSIX_ENTRY];
    uint64_t pba, routed, fired;

    struct sim_maps maps; /* sim_dma.c: what this function may reach */
    unsigned reset_count;
};

/* ---- the machine -------------------------------------------------------- */

struct capdrv_sim {
    pthread_mutex_t lock;
    bool iommu;
    uint64_t now_ns;
    struct sim_fn **fns;
    unsigned n_fns, cap_fns;
    struct sim_dma dma;
    unsigned long violations;
    bool have_last;
    struct capdrv_sim_violation last;
};

/* sim_ops.c: the static const platform operations table. */
extern const struct capdrv_hw_ops sim_hw_ops;

/* sim.c */
struct sim_pci_ident;
/* Per-function shape: BAR0 size (a power of two >= SIM_BAR_SIZE) and the
 * number of MSI-X vectors (1..SIM_MSIX_MAX_VECTORS). */
struct sim_fn_layout {
    uint64_t bar0_size;
    unsigned n_vectors;
    /* An MMIO device (mmio_size != 0): no PCI address (addr is ignored),
     * its register region of mmio_size bytes at mmio_base is reported as
     * BAR 0, configuration space and BAR 2 are hidden from the host, and
     * MSI-X vector 0 stands in for its interrupt line. */
    uint64_t mmio_base, mmio_size;
};
/* Add a function (lock held). @init_arg is handed to dev->init through
 * f->init_arg. */
int sim_add_function(struct capdrv_sim *sim, const struct capdrv_pci_addr *addr,
                     const struct sim_dev_ops *dev, const struct sim_pci_ident *id,
                     const struct sim_fn_layout *layout, const void *init_arg,
                     unsigned *fn_out);
struct sim_fn *sim_fn_get(const struct capdrv_sim *sim, unsigned fn);
void sim_run_until(struct capdrv_sim *sim, uint64_t target);
uint64_t sim_next_event(const struct capdrv_sim *sim);
void sim_function_reset(struct capdrv_sim *sim, struct sim_fn *f);

/* sim_pci.c */
struct sim_pci_ident {
    uint16_t vendor, device, subsys_vendor, subsys_device;
    uint32_t class_code;
    uint8_t revision;
};
void sim_pci_init(struct sim_fn *f, const struct sim_pci_ident *id);
/* Append a capability of @len bytes (@cap; its ID byte first, the next
 * pointer is filled in) to the list in the PCI-compatible space; @wmask
 * (may be NULL) marks the bits software may write, power-on values are
 * @cap's. Call from a model's init(). Returns its offset, or 0 when it does
 * not fit. */
uint32_t sim_pci_add_cap(struct sim_fn *f, const uint8_t *cap, unsigned len,
                         const uint8_t *wmask);
int sim_pci_cfg_read(struct sim_fn *f, uint32_t offset, unsigned width, uint32_t *val);
int sim_pci_cfg_write(struct capdrv_sim *sim, struct sim_fn *f, uint32_t offset, unsigned width,
                      uint32_t val);
int sim_pci_cfg_poke(struct sim_fn *f, uint32_t offset, unsigned width, uint32_t val);
void sim_pci_reset(struct sim_fn *f);
void sim_pci_identity(const struct sim_fn *f, struct capdrv_pci_id *id);
uint16_t sim_pci_read16(const struct sim_fn *f, uint32_t offset);
void sim_pci_write16_raw(struct sim_fn *f, uint32_t offset, uint16_t v);

/* sim_dma.c */
int sim_dma_init(struct sim_dma *d, size_t limit);
void sim_dma_fini(struct capdrv_sim *sim);
int sim_dma_alloc(struct capdrv_sim *sim, size_t size, struct capdrv_hw_dma *out);
void sim_dma_free(struct capdrv_sim *sim, const struct capdrv_hw_dma *mem);
int sim_dma_map(struct capdrv_sim *sim, struct sim_fn *f, const struct capdrv_hw_dma *mem,
                uint64_t iova, uint64_t *devaddr);
int sim_dma_unmap(struct capdrv_sim *sim, struct sim_fn *f, const struct capdrv_hw_dma *mem,
                  uint64_t devaddr);
void sim_maps_free(struct sim_maps *maps);
/* The DMA oracle: the only way a device model touches memory. Refused
 * accesses return -CAPDRV_EFAULT and are counted and recorded. */
int sim_dma_access(struct capdrv_sim *sim, struct sim_fn *f, uint64_t devaddr, void *buf,
                   size_t len, bool is_write);

/* sim_irq.c */
void sim_irq_init(struct sim_fn *f, unsigned n_vectors);
void sim_irq_reset(struct sim_fn *f);
void sim_irq_raise(struct sim_fn *f, unsigned vector);
/* Deliver latched pending bits that are no longer masked (called after
 * anything that can unmask: table writes, Message Control writes). */
void sim_irq_update(struct sim_fn *f);
uint64_t sim_irq_bar_read(struct sim_fn *f, uint64_t off, unsigned width);
void sim_irq_bar_write(struct sim_fn *f, uint64_t off, unsigned width, uint64_t val);
int sim_irq_enable(struct sim_fn *f, unsigned vector);
int sim_irq_disable(struct sim_fn *f, unsigned vector);
int sim_irq_mask(struct sim_fn *f, unsigned vector, bool masked);
int sim_irq_wait(struct capdrv_sim *sim, const struct capdrv_hw_irq *set, unsigned n,
                 int64_t timeout_ns, uint64_t *ready);

/* Little-endian helpers over byte arrays (registers, config space, table). */
static inline uint64_t sim_le_get(const uint8_t *p, unsigned width)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < width; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static inline void sim_le_put(uint8_t *p, unsigned width, uint64_t v)
{
    for (unsigned i = 0; i < width; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* a + b, saturating at UINT64_MAX (simulated deadlines never wrap). */
static inline uint64_t sim_sat_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

#endif /* CAPDRV_SIM_INTERNAL_H */
