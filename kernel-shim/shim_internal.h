/* Private data model of the kernel shim. Everything here is per instance;
 * the shim has no global mutable state. Every entry point takes the
 * instance lock (capdrv_env_lock) for its whole duration, except the
 * blocking part of irq_wait. */
#ifndef CAPDRV_SHIM_INTERNAL_H
#define CAPDRV_SHIM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <capdrv/hw.h>
#include <capdrv/shim.h>
#include <capdrv/sys.h>
#include <capdrv_shim/env.h>

#include "manifest.h"
#include "profiles/profile.h"

#define SHIM_PAGE_SIZE 4096u
#define SHIM_MAX_BUFFER_SIZE (1ull << 30) /* one DMA buffer: 1 GiB */
#define SHIM_MAX_PROVIDERS 256

/* ---- capability table (captable.c) ---------------------------------- */

/* Handle layout: [63:56] type, [55:32] generation (24 bits), [31:0] slot+1.
 * A slot whose generation would wrap is retired, never reused, so a stale
 * handle can never become valid again. */
#define SHIM_CAP_GEN_BITS 24u
#define SHIM_CAP_GEN_MASK ((1u << SHIM_CAP_GEN_BITS) - 1u)
#define SHIM_CAP_NO_PARENT UINT32_MAX

struct shim_cap_slot {
    uint32_t gen;     /* current generation; handles must match it */
    uint8_t type;     /* enum capdrv_cap_type when live, 0 when free */
    bool retired;     /* generation exhausted: never reused */
    uint32_t parent;  /* slot index of the parent capability, or NO_PARENT */
    uint32_t object;  /* grant index, window index, vector or ledger index */
    uint32_t grant;   /* grant index this capability derives from */
};

struct shim_captable {
    struct shim_cap_slot *slots;
    uint32_t n_slots; /* allocated */
    uint32_t n_live;
};

struct shim_provider;
int shim_cap_alloc(struct capdrv_shim *shim, struct shim_provider *p, enum capdrv_cap_type type,
                   uint32_t parent, uint32_t grant, uint32_t object, capdrv_cap_t *out);
/* Look a handle up: -CAPDRV_EBADF for a malformed handle or wrong type,
 * -CAPDRV_ESTALE for a released/revoked one. @type 0 accepts any type. */
int shim_cap_lookup(struct shim_provider *p, capdrv_cap_t cap, unsigned type, uint32_t *slot);
void shim_cap_free_slot(struct shim_provider *p, uint32_t slot);
capdrv_cap_t shim_cap_handle(const struct shim_provider *p, uint32_t slot);
void shim_captable_destroy(struct capdrv_shim *shim, struct shim_captable *t);

/* ---- DMA ledger (ledger.c) --------------------------------------------- */

/* Brokered-lane tokens: [63:60] tag 0xA, [59:48] ledger generation (12
 * bits), [47:32] ledger index, [31:0] byte offset. Ledger slots retire when
 * their generation would wrap, like cap slots. */
#define SHIM_TOKEN_TAG 0xAull
#define SHIM_TOKEN_GEN_BITS 12u
#define SHIM_TOKEN_GEN_MASK ((1u << SHIM_TOKEN_GEN_BITS) - 1u)
#define SHIM_LEDGER_MAX 65536u
#define SHIM_IOVA_BASE 0x100000000ull /* direct-lane IOVAs start at 4 GiB */
/* Each grant gets its own 64 GiB of IOVA space, so an IOVA names its grant
 * and one grant's addresses never alias another's. */
#define SHIM_IOVA_GRANT_SPAN (1ull << 36)

struct shim_ledger_entry {
    bool live;
    bool retired;
    uint16_t gen;
    uint32_t grant;             /* grant whose pool owns it */
    struct shim_provider *owner;
    struct capdrv_hw_dma mem;   /* platform memory */
    uint64_t devaddr;           /* what the device uses (phys or IOVA) */
    uint64_t ref_base;          /* what the provider uses (token or IOVA) */
    uint64_t inflight;          /* doorbells that published it, not yet retired */
    bool shim_owned;            /* a profile's shadow memory: no reference resolves to it */
    bool quarantined;           /* retired with its memory still mapped: devaddr stays taken */
};

/* Live ledger entries mapped at an IOVA the shim chose (behind an IOMMU),
 * sorted by that IOVA: the direct lane's reference lookup is a binary
 * search, whatever a (possibly hostile) provider publishes and however
 * many buffers are live. IOVA windows are per grant, so IOVAs are unique. */
struct shim_iova_index {
    uint64_t *iova;
    uint32_t *entry;
    uint32_t n, cap;
};

struct shim_ledger {
    struct shim_ledger_entry *e;
    uint32_t n; /* allocated */
    uint32_t live;
    uint64_t live_bytes;
    struct shim_iova_index by_iova;
};

/* ---- grants (grant.c) ---------------------------------------------------- */

struct shim_msix {
    bool present;
    unsigned table_size;   /* vectors */
    unsigned table_bar, pba_bar;
    uint64_t table_off, pba_off;
};

struct shim_grant {
    const struct shim_manifest_grant *m;
    unsigned hw_fn;
    struct capdrv_hw_function fn;
    const struct shim_profile *profile; /* NULL: no DMA profile */
    enum capdrv_lane lane;
    struct shim_msix msix;
    uint32_t n_irqs;                    /* min(manifest, MSI-X table size) */

    /* claim state; all cleared by shim_grant_clear_claim() */
    struct shim_provider *holder;
    uint32_t holder_slot;
    uint32_t window_slot[SHIM_MAX_WINDOWS]; /* NO_PARENT when not open */
    uint32_t pool_slot;
    uint64_t pool_bytes;                /* in use */
    uint32_t pool_buffers;
    uint32_t irq_slot[SHIM_MAX_IRQS];
    uint64_t irq_pending;               /* bit per vector (n_irqs <= 64) */
    uint64_t irq_masked;                /* bit per vector the provider masked
                                           (capdrv_irq_mask), kept across a
                                           quiesce reset's re-routing */
    uint64_t iova_base;                 /* this grant's IOVA window */
    uint64_t next_iova;                 /* direct lane bump allocator */
    uint64_t inflight;                  /* doorbells not yet known complete */
    bool dma_unsafe;                    /* a reset failed: DMA may continue; quarantine */
    uint64_t profile_state[SHIM_PROFILE_STATE_MAX / 8]; /* shadow registers */
    void *profile_priv;                 /* profile bind() state; lives as long as the shim */
};

/* ---- providers ------------------------------------------------------------ */

struct shim_provider {
    bool live;
    char name[CAPDRV_NAME_MAX];
    struct shim_captable caps;
    void *transport; /* the hosted transport's connection object */
};

struct capdrv_shim {
    struct capdrv_env *env;
    struct capdrv_hw hw;
    unsigned hw_caps;
    struct shim_manifest manifest;
    struct shim_grant *grants;  /* manifest.n_grants entries */
    struct shim_ledger ledger;
    struct shim_provider *providers[SHIM_MAX_PROVIDERS];
    uint64_t scrubbed_bytes;
    uint64_t refused_notify;
};

/* Lock helpers. */
static inline void shim_lock(struct capdrv_shim *s) { capdrv_env_lock(s->env); }
static inline void shim_unlock(struct capdrv_shim *s) { capdrv_env_unlock(s->env); }

/* grant.c */
void shim_grant_clear_claim(struct shim_grant *g);
/* Resolve an open grant capability to its grant (checks holder). */
int shim_grant_from_cap(struct capdrv_shim *shim, struct shim_provider *p, capdrv_cap_t cap,
                        struct shim_grant **g, uint32_t *gi);

/* ledger.c */
int shim_ledger_add(struct capdrv_shim *shim, uint32_t grant, struct shim_provider *owner,
                    size_t size, uint32_t *index);
void shim_ledger_remove(struct capdrv_shim *shim, uint32_t index); /* unmap, scrub, free */
int shim_ledger_resolve(struct capdrv_shim *shim, uint32_t grant, uint64_t ref, uint64_t len,
                        uint64_t *devaddr, uint32_t *index);
void shim_ledger_destroy(struct capdrv_shim *shim);

/* iova.c: direct-lane IOVAs in a grant's window (one guard page after each
 * buffer). */
struct shim_iova_range {
    uint64_t start, end; /* [start, end), guard page included */
};
int shim_iova_alloc(struct capdrv_shim *shim, uint32_t grant, uint64_t size, uint64_t *iova);
/* First fit of @p size bytes plus a guard page in [base, base+span) avoiding
 * @p occ (sorted in place). -CAPDRV_ENOSPC when nothing fits. */
int shim_iova_fit(struct shim_iova_range *occ, uint32_t n, uint64_t base, uint64_t span,
                  uint64_t size, uint64_t *iova);
/* Restart the grant's cursor just above what is still occupied. */
void shim_iova_rewind(struct capdrv_shim *shim, uint32_t grant);
/* The IOVA index (struct shim_iova_index): insert may fail with
 * -CAPDRV_ENOMEM; remove and find do not allocate. find returns the ledger
 * index of the entry with the greatest IOVA <= @p iova, or UINT32_MAX. */
int shim_iova_index_insert(struct capdrv_shim *shim, uint64_t iova, uint32_t entry);
void shim_iova_index_remove(struct capdrv_shim *shim, uint64_t iova);
uint32_t shim_iova_index_find(const struct capdrv_shim *shim, uint64_t iova);
void shim_iova_index_free(struct capdrv_shim *shim);

/* teardown.c: retire every capability below and including @slot. */
void shim_release_slot(struct capdrv_shim *shim, struct shim_provider *p, uint32_t slot);
/* Stop the function's DMA: profile quiesce, else function reset. */
void shim_quiesce(struct capdrv_shim *shim, uint32_t gi, bool force_reset);
void shim_provider_teardown(struct capdrv_shim *shim, struct shim_provider *p);

/* pci_caps.c: walk the capability list (hostile config space). */
int shim_pci_find_msix(struct capdrv_shim *shim, struct shim_grant *g, char *why, size_t why_len);

#endif
