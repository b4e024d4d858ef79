/* The conformance harness: cases, checks and the platform seam.
 *
 * A case talks to the device only through capdrv/sys.h, exactly like a
 * provider. What a provider cannot see (did the device touch memory outside
 * the ledger? what address did the device actually get?) comes from the
 * platform's observer hooks; a platform that cannot observe something makes
 * the cases that need it SKIP, never silently pass. */
#ifndef CAPDRV_CONF_H
#define CAPDRV_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <capdrv/hw.h>
#include <capdrv/shim.h>
#include <capdrv/sys.h>

enum conf_result { CONF_PASS = 0, CONF_FAIL = 1, CONF_SKIP = 2 };

/* Lanes a case runs in. */
#define CONF_LANE_BIT(l) (1u << (l))
#define CONF_BOTH_LANES (CONF_LANE_BIT(CAPDRV_LANE_BROKERED) | CONF_LANE_BIT(CAPDRV_LANE_DIRECT))

struct conf_ctx;

/* What the platform provides to cases. Every machine offers:
 *   provider "conf":  grant "dev"   (dmatest-class DMA device, 2 vectors,
 *                                     64 KiB pool in 16 buffers, window 0 = registers)
 *                     grant "plain" (any-function, window 0 = 4 KiB rw,
 *                                     window 1 = read-only 256 B at 0x800)
 *                     grant "vblk"  (virtio-blk, PCI modern, 2 vectors, 1 MiB pool
 *                                     in 32 buffers, window 0 = BAR0 0..16 KiB)
 *                     grant "vnet"  (virtio-net, PCI modern, 3 vectors, 1 MiB pool
 *                                     in 32 buffers, window 0 = BAR0 0..16 KiB;
 *                                     the harness owns the other wire end)
 *                     grant "vmblk" (virtio-blk behind virtio-mmio version 2: an MMIO
 *                                     device, no config space, 1 interrupt line = vector 0,
 *                                     1 MiB pool in 32 buffers, window 0 = the 512-byte
 *                                     register region)
 *                     grant "nvme"  (NVMe controller, nvme-controller class, 5 vectors,
 *                                     4 MiB pool in 128 buffers, window 0 = BAR0 0..8 KiB;
 *                                     namespace 1 of at least 1 MiB, SGLs optional)
 *   provider "other": grant "peer"  (a second DMA device)
 * QEMU and VFIO machines have no dmatest ("dev", "plain", "peer"): the
 * authority, dma and irq cases then drive "nvme" (cases/engine.h), and
 * provider "other" holds "bystander" (any-function, no windows). */
struct conf_platform {
    const char *name;
    /* Build a fresh machine and shim for @lane; connect "conf" and "other". */
    int (*setup)(struct conf_ctx *c, enum capdrv_lane lane, char *why, size_t why_len);
    void (*teardown)(struct conf_ctx *c);
    /* Observer hooks (NULL: not observable on this platform). */
    long (*oracle_violations)(struct conf_ctx *c);           /* DMA outside the ledger */
    /* Of those, the device writes that reached memory (not refused by an
     * IOMMU or oracle): no case may cause one, not even on purpose. */
    long (*dma_escaped)(struct conf_ctx *c);
    void (*advance)(struct conf_ctx *c, uint64_t ns);         /* let device time pass */
    int (*device_reg)(struct conf_ctx *c, const char *grant, uint64_t off, unsigned width,
                      uint64_t *val);                         /* raw BAR0 read, no shim */
    unsigned (*reset_count)(struct conf_ctx *c, const char *grant);
    /* The wire end of net grant @grant that the harness owns: deliver a
     * frame to the device's receive side; take the oldest frame the device
     * transmitted (-CAPDRV_ENOENT when none). */
    int (*net_inject)(struct conf_ctx *c, const char *grant, const void *frame, size_t len);
    int (*net_take)(struct conf_ctx *c, const char *grant, void *buf, size_t cap, size_t *len);
    /* NVMe grant @grant: make the controller take the commands of I/O
     * submission queue @qid and never complete them (@on), or behave again. */
    int (*nvme_stall)(struct conf_ctx *c, const char *grant, unsigned qid, bool on);
    /* true when a command held by nvme_stall may still complete, with its
     * real status, while the controller resets (QEMU drains the drive). */
    bool nvme_stall_may_finish;
    /* Grants this machine offers, NULL-terminated; NULL: all of the above.
     * A case that opens a grant missing from this list SKIPs (conf_open). */
    const char *const *grants;
    /* remote:<inner> only (platforms/remote.c): the platform whose machine
     * the manager serves; its observer hooks are this platform's. */
    const struct conf_platform *inner;
};

struct conf_ctx {
    const struct conf_platform *plat;
    void *pdata;              /* platform state */
    struct capdrv_shim *shim;
    capdrv_sys *conf, *other; /* the two providers */
    enum capdrv_lane lane;
    char msg[512];            /* first failure or skip reason */
    enum conf_result result;
    bool absent;              /* a needed grant is not on this platform: the SKIP stands */
    long refusals_expected;   /* observer count the case provoked on purpose (and checked) */
    void *rdata;              /* remote:<inner>: the manager's state (platforms/remote.c) */
    const char *socket_path;  /* remote:<inner>: the manager's socket, else NULL */
};

struct conf_case {
    const char *id;       /* e.g. "authority.stale-handle" */
    const char *rule;     /* what it proves, with its source */
    unsigned lanes;       /* CONF_LANE_BIT mask */
    void (*run)(struct conf_ctx *c);
};

/* Record a failure (first one wins) and return false. */
bool conf_fail(struct conf_ctx *c, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Mark the case skipped with a reason. */
void conf_skip(struct conf_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define CONF_CHECK(c, cond) \
    do { if (!(cond)) { conf_fail((c), __FILE__, __LINE__, "check failed: %s", #cond); return; } } while (0)
#define CONF_EQ(c, got, want) \
    do { long long g_ = (long long)(got), w_ = (long long)(want); \
         if (g_ != w_) { conf_fail((c), __FILE__, __LINE__, "%s = %lld, want %lld", #got, g_, w_); return; } } while (0)

/* Helpers shared by the cases (cases/common.c). */
capdrv_cap_t conf_open(struct conf_ctx *c, capdrv_sys *sys, const char *grant);
/* Whether the platform offers @grant; if not, the case is SKIPped (and
 * cannot fail afterwards), as by conf_open(). For cases whose grant is
 * opened by another process. */
bool conf_need_grant(struct conf_ctx *c, const char *grant);
int conf_dmatest(capdrv_sys *sys, capdrv_cap_t mmio, uint64_t ref, uint32_t len, uint32_t cmd,
                 uint32_t pattern, uint32_t delay_ns);

/* Case tables, one per concern. */
extern const struct conf_case conf_cases_authority[];
extern const size_t conf_cases_authority_n;
extern const struct conf_case conf_cases_dma[];
extern const size_t conf_cases_dma_n;
extern const struct conf_case conf_cases_virtio_blk[];
extern const size_t conf_cases_virtio_blk_n;
extern const struct conf_case conf_cases_virtio_mmio_blk[];
extern const size_t conf_cases_virtio_mmio_blk_n;
extern const struct conf_case conf_cases_virtio_net[];
extern const size_t conf_cases_virtio_net_n;
extern const struct conf_case conf_cases_nvme[];
extern const size_t conf_cases_nvme_n;

/* Shared by platforms (platforms/common.c): create the shim from
 * CONF_MANIFEST_DIR/<manifest>.dtb over @hw and connect "conf" and "other";
 * close both and destroy the shim. */
int conf_shim_start(struct conf_ctx *c, struct capdrv_env *env, struct capdrv_hw hw,
                    const char *manifest, char *why, size_t why_len);
void conf_shim_stop(struct conf_ctx *c);

/* Manager actions a case needs, on whichever side holds the shim: revoke a
 * capability of @sys (c->conf or c->other), connect a provider again. */
/* advance() of a platform whose devices run in real time (QEMU, real
 * hardware): letting device time pass is sleeping. */
void conf_advance_realtime(struct conf_ctx *c, uint64_t ns);

int conf_revoke(struct conf_ctx *c, capdrv_sys *sys, capdrv_cap_t cap);
int conf_connect(struct conf_ctx *c, const char *provider, capdrv_sys **sys);

/* remote:<inner> (platforms/remote.c), called by conf_shim_start/stop:
 * wrap the platform's DMA memory, serve the shim and connect the two
 * providers over the socket; stop serving; drop the wrapper. */
int conf_remote_wrap(struct conf_ctx *c, struct capdrv_hw *hw);
int conf_remote_serve(struct conf_ctx *c, char *why, size_t why_len);
int conf_remote_revoke(struct conf_ctx *c, capdrv_sys *sys, capdrv_cap_t cap);
void conf_remote_halt(struct conf_ctx *c);
void conf_remote_unwrap(struct conf_ctx *c);
/* Make @out the platform "remote:<inner->name>" (@name must outlive it). */
void conf_remote_platform(const struct conf_platform *inner, const char *name,
                          struct conf_platform *out);
extern const struct conf_case conf_cases_remote[];
extern const size_t conf_cases_remote_n;

/* Platforms. */
extern const struct conf_platform conf_platform_sim;
extern const struct conf_platform conf_platform_qtest;
extern const struct conf_platform conf_platform_qtest_virt; /* aarch64 virt, virtio-mmio */
extern const struct conf_platform conf_platform_vfio;  /* Linux VFIO (the QEMU guest) */
extern const struct conf_platform conf_platform_template; /* kernel-shim/template/ */

#endif
