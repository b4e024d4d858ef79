/* Device profiles: what the shim knows about a device class so it can
 * enforce register-level rules and the DMA lanes.
 *
 * A profile lists the registers of one BAR as data (offset, width, access,
 * kind). When a function matches a profile, every window into that BAR
 * admits only those registers. Register kinds:
 *   PLAIN    - forwarded to the device as is;
 *   SHADOW   - kept by the shim (e.g. a DMA address register): the provider
 *              reads back what it wrote, the device sees nothing until the
 *              doorbell;
 *   DOORBELL - a notify: the profile's doorbell() validates (direct lane) or
 *              materialises (brokered lane) every DMA reference the
 *              notification publishes, then writes the device.
 *
 * A device whose register layout is only known at run time (virtio PCI:
 * found through vendor capabilities) sets access() instead of a table, and
 * keeps its layout and per-claim state behind shim_grant::profile_priv,
 * created by bind() and released by unbind().
 */
#ifndef CAPDRV_SHIM_PROFILE_H
#define CAPDRV_SHIM_PROFILE_H

#include <stdbool.h>
#include <stdint.h>

#include <capdrv/sys.h>

#define SHIM_PROFILE_STATE_MAX 64 /* bytes of per-claim profile state */

enum shim_reg_access { SHIM_REG_R = 1, SHIM_REG_W = 2, SHIM_REG_RW = 3 };
enum shim_reg_kind { SHIM_REG_PLAIN = 0, SHIM_REG_SHADOW = 1, SHIM_REG_DOORBELL = 2 };

struct shim_reg {
    uint32_t offset; /* inside the profile's BAR */
    uint8_t width;   /* exact access width */
    uint8_t access;  /* enum shim_reg_access */
    uint8_t kind;    /* enum shim_reg_kind */
    uint8_t shadow;  /* SHADOW: index into the profile's shadow array */
};

struct capdrv_shim;
struct shim_grant;

/* What a profile callback may touch. */
struct shim_profile_ctx {
    struct capdrv_shim *shim;
    struct shim_grant *g;
    uint32_t gi;
};

struct shim_profile {
    const char *name;
    bool (*match)(const struct capdrv_pci_id *id);
    bool dma;             /* may own a DMA pool (grant class DMA_CAPABLE) */
    bool nvme;            /* may back a NVME_CONTROLLER grant */
    int regmap_bar;       /* BAR the register table describes, -1: none */
    const struct shim_reg *regs;
    unsigned n_regs;
    /* Shadow registers live in the grant's profile state as uint64_t[]. */
    unsigned n_shadows;
    /* A doorbell write of @val to @reg: validate/materialise, then write. */
    int (*doorbell)(struct shim_profile_ctx *ctx, const struct shim_reg *reg, uint64_t val);
    /* Read device state: true when the function has no DMA in flight. */
    bool (*idle)(struct shim_profile_ctx *ctx);

    /* Optional hooks for run-time layouts (all called with the lock held).
     * bind: when the shim binds the grant to its function (shim create);
     *       may allocate profile_priv; a failure refuses the manifest.
     * unbind: at shim destroy; frees profile_priv.
     * access: every MMIO access of the grant, after the window checks;
     *       @bar_off is the offset inside @bar. Returns 0 (handled, *val
     *       set for reads), SHIM_PROFILE_PASS (perform it as a raw access)
     *       or a negative error.
     * forget: the function was reset (or its claim ends): drop per-claim
     *       state; the device no longer uses anything the profile set up. */
    int (*bind)(struct shim_profile_ctx *ctx, char *why, unsigned long why_len);
    void (*unbind)(struct shim_profile_ctx *ctx);
    int (*access)(struct shim_profile_ctx *ctx, unsigned bar, uint64_t bar_off, unsigned width,
                  bool write, uint64_t *val);
    void (*forget)(struct shim_profile_ctx *ctx);
};

#define SHIM_PROFILE_PASS 1

/* Zero the per-claim shadow registers and run the profile's forget(). */
void shim_profile_forget(struct capdrv_shim *shim, uint32_t gi);

/* The profile a function matches, or NULL. */
const struct shim_profile *shim_profile_find(const struct capdrv_pci_id *id);

/* Services for profiles (implemented in mmio.c and ledger.c). */
uint64_t *shim_profile_shadows(struct shim_profile_ctx *ctx);
int shim_profile_bar_read(struct shim_profile_ctx *ctx, uint64_t offset, unsigned width,
                          uint64_t *val);
int shim_profile_bar_write(struct shim_profile_ctx *ctx, uint64_t offset, unsigned width,
                           uint64_t val);
/* Check [ref, ref+len) against the ledger for this grant and return the
 * device address; records the buffer as in flight. -CAPDRV_EFAULT when the
 * range is not inside one live buffer of this grant. */
int shim_profile_dma_publish(struct shim_profile_ctx *ctx, uint64_t ref, uint64_t len,
                             uint64_t *devaddr);
/* Like shim_profile_dma_publish(), and also the CPU address of @ref, for a
 * profile that must read what the provider wrote (rings, lists). */
int shim_profile_dma_publish_cpu(struct shim_profile_ctx *ctx, uint64_t ref, uint64_t len,
                                 uint64_t *devaddr, void **cpu);
/* Raw access to any memory BAR of the function. */
int shim_profile_raw_read(struct shim_profile_ctx *ctx, unsigned bar, uint64_t offset,
                          unsigned width, uint64_t *val);
int shim_profile_raw_write(struct shim_profile_ctx *ctx, unsigned bar, uint64_t offset,
                           unsigned width, uint64_t val);
int shim_profile_cfg_read(struct shim_profile_ctx *ctx, uint32_t offset, unsigned width,
                          uint32_t *val);
int shim_profile_cfg_write(struct shim_profile_ctx *ctx, uint32_t offset, unsigned width,
                           uint32_t val);
/* Let up to @timeout_ns of platform time pass (a bounded irq_wait on
 * vector 0 of the function; on the sim, simulated time). Only for bind():
 * the wait consumes that vector's latch, so no provider may hold it. */
void shim_profile_nap(struct shim_profile_ctx *ctx, uint64_t timeout_ns);
/* Function-level reset for a profile that could not stop its own DMA; a
 * failure marks the grant DMA-unsafe (its memory is then quarantined). */
int shim_profile_function_reset(struct shim_profile_ctx *ctx);
/* Shim-owned DMA memory mapped for the function (never visible to a
 * provider, never resolvable from a reference): for shadow rings. */
int shim_profile_shadow_alloc(struct shim_profile_ctx *ctx, size_t size, uint32_t *index,
                              void **cpu, uint64_t *devaddr);
void shim_profile_shadow_free(struct shim_profile_ctx *ctx, uint32_t index);
/* Every buffer of the grant is no longer in flight (the device was reset). */
void shim_profile_retire_all(struct shim_profile_ctx *ctx);
void *shim_profile_alloc(struct shim_profile_ctx *ctx, size_t size); /* zeroed */
void shim_profile_free(struct shim_profile_ctx *ctx, void *p);

extern const struct shim_profile shim_profile_dmatest;
extern const struct shim_profile shim_profile_virtio_pci;
extern const struct shim_profile shim_profile_nvme;
/* Not in the PCI table: chosen for MMIO devices whose MagicValue reads
 * "virt" (shim.c). */
extern const struct shim_profile shim_profile_virtio_mmio;
#define SHIM_VIRTIO_MMIO_MAGIC 0x74726976u /* VIRTIO 1.2 §4.2.2: "virt" */
#define SHIM_VIRTIO_MMIO_MIN_SIZE 0x100u   /* the control registers, 0x000..0x0ff */

#endif
