/**
 * @file capdrv/shim.h
 * @brief Hosting the kernel shim: the authority side of the capability ABI.
 *
 * The shim owns the cap tables, the grants read from a manifest, the DMA
 * ledger and the DMA lanes, over one platform (capdrv/hw.h). A kernel embeds
 * it; on Linux a manager process (or a test) hosts it with the hosted
 * environment below and connects providers in-process with
 * capdrv_shim_connect(), which returns the same `capdrv_sys` a remote
 * provider would get.
 *
 * Example (host a shim over a platform and connect one provider):
 * @code
 * #include <stdio.h>
 *
 * static int host(struct capdrv_hw hw, const void *dtb, size_t dtb_len)
 * {
 *     struct capdrv_env *env = capdrv_env_hosted_new(NULL);
 *     struct capdrv_shim_config cfg = {.env = env, .hw = hw,
 *                                      .manifest = dtb, .manifest_len = dtb_len};
 *     struct capdrv_shim *shim;
 *     char why[128];
 *     int rc = capdrv_shim_create(&cfg, &shim, why, sizeof why);
 *     if (rc < 0) {
 *         fprintf(stderr, "shim: %s\n", why);
 *         capdrv_env_hosted_free(env);
 *         return rc;
 *     }
 *     capdrv_sys *sys;
 *     if ((rc = capdrv_shim_connect(shim, "blk-provider", &sys)) == 0) {
 *         // ... provider code using capdrv/sys.h ...
 *         capdrv_sys_close(sys);  // provider death: full teardown
 *     }
 *     capdrv_shim_destroy(shim);
 *     capdrv_env_hosted_free(env);
 *     return rc;
 * }
 * @endcode
 */
#ifndef CAPDRV_SHIM_H
#define CAPDRV_SHIM_H

#include <stddef.h>
#include <stdint.h>

#include <capdrv/hw.h>
#include <capdrv/sys.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The environment the shim runs in: allocator, lock, log (opaque; hosted:
 *  capdrv_env_hosted_new()). */
struct capdrv_env;
/** A shim instance (opaque). */
struct capdrv_shim;

/** DMA backends (seed: cloud-dma-backend-selection). */
enum capdrv_dma_backend {
    CAPDRV_DMA_BACKEND_AUTO = 0,     /**< follow the boot probe */
    CAPDRV_DMA_BACKEND_BROKERED = 1, /**< bounce/brokered: no device address reaches a provider */
    CAPDRV_DMA_BACKEND_DIRECT = 2    /**< IOMMU direct remapping, validated at the doorbell */
};

/** Shim creation parameters. */
struct capdrv_shim_config {
    struct capdrv_env *env;   /**< environment (capdrv_env_hosted_new() when hosted) */
    struct capdrv_hw hw;      /**< the platform */
    const void *manifest;     /**< grant manifest: a flattened device tree blob */
    size_t manifest_len;      /**< its length in bytes */
};

/**
 * @brief Create a shim: parse the manifest, probe the platform, bind every
 *        grant to a function, and select each grant's DMA backend.
 *
 * Backend selection is fail-closed: a manifest override naming a backend
 * the platform cannot provide (direct without an IOMMU) fails creation.
 *
 * @param cfg parameters (copied).
 * @param out receives the instance.
 * @param why receives a one-line reason on failure (may be NULL).
 * @param why_len size of @p why.
 * @return 0; -CAPDRV_EINVAL (malformed manifest), -CAPDRV_ENODEV (a grant
 *         matches no function), -CAPDRV_EACCES (grant class does not fit the
 *         function), -CAPDRV_EFAULT (a window outside its BAR or over the
 *         MSI-X table), -CAPDRV_EPROTO (malformed configuration space: a
 *         looping capability list, an MSI-X table outside a memory BAR),
 *         -CAPDRV_EIO (the platform failed a config read),
 *         -CAPDRV_ENOTSUP (backend unavailable), -CAPDRV_ENOMEM.
 */
int capdrv_shim_create(const struct capdrv_shim_config *cfg, struct capdrv_shim **out, char *why,
                       size_t why_len);

/**
 * @brief Tear down every provider, reset every claimed function and free
 *        the shim.
 * @param shim instance, or NULL.
 */
void capdrv_shim_destroy(struct capdrv_shim *shim);

/**
 * @brief Connect a provider in-process.
 *
 * The provider sees the grants whose `provider` property equals @p provider.
 * capdrv_sys_close() on the result is provider death: everything it held is
 * torn down.
 *
 * @param shim instance.
 * @param provider provider identity as named in the manifest.
 * @param sys receives the connection.
 * @return 0; -CAPDRV_ENOENT (no grant names this provider), -CAPDRV_ENOMEM.
 */
int capdrv_shim_connect(struct capdrv_shim *shim, const char *provider, capdrv_sys **sys);

/**
 * @brief Revoke a capability held by a connected provider (manager action).
 *
 * Afterwards the provider's handle is stale. Revoking a DMA buffer with
 * device work in flight first quiesces the function, so no DMA reaches the
 * memory once this returns; revoking a grant tears down all it granted.
 *
 * @param shim instance.
 * @param sys the provider's connection (from capdrv_shim_connect()).
 * @param cap the provider's handle.
 * @return 0; -CAPDRV_ESTALE, -CAPDRV_EBADF, -CAPDRV_EINVAL (not a
 *         connection of this shim).
 */
int capdrv_shim_revoke(struct capdrv_shim *shim, capdrv_sys *sys, capdrv_cap_t cap);

/** Ledger and grant usage (capdrv_shim_stats()). */
struct capdrv_shim_stats {
    unsigned providers;       /**< connected providers */
    unsigned grants;          /**< grants in the manifest */
    unsigned grants_claimed;  /**< grants currently open */
    unsigned dma_buffers;     /**< live ledger entries */
    uint64_t dma_bytes;       /**< bytes in live ledger entries */
    uint64_t dma_inflight;    /**< ledger entries with device work in flight */
    uint64_t scrubbed_bytes;  /**< bytes scrubbed since creation */
    uint64_t refused_notify;  /**< doorbells refused by lane validation */
};

/**
 * @brief Snapshot the shim's counters.
 * @param shim instance.
 * @param out filled.
 * @return 0, or -CAPDRV_EINVAL for NULL arguments.
 */
int capdrv_shim_stats(struct capdrv_shim *shim, struct capdrv_shim_stats *out);

/** Options of the hosted (libc) environment. */
struct capdrv_env_hosted_opts {
    /** Receives each log line (NULL: lines at or below @ref log_level go to stderr). */
    void (*log)(void *arg, int level, const char *line);
    void *log_arg;  /**< passed to @ref log */
    int log_level;  /**< highest level printed: 0 errors (default), 1 also warnings,
                         2 also lifecycle events, 3 everything */
};

/**
 * @brief A hosted environment: calloc/free, a pthread mutex, and logging.
 * @param opts options, or NULL for defaults.
 * @return the environment, or NULL when out of memory.
 */
struct capdrv_env *capdrv_env_hosted_new(const struct capdrv_env_hosted_opts *opts);

/**
 * @brief Make the environment's allocator fail (fault injection for tests).
 *
 * After this call the @p nth following allocation (1 = the next) fails and
 * all others succeed; 0 disables injection.
 *
 * @param env hosted environment.
 * @param nth which allocation fails.
 */
void capdrv_env_hosted_fail_alloc(struct capdrv_env *env, unsigned long nth);

/**
 * @brief Number of live allocations made through the environment.
 * @param env hosted environment.
 * @return allocations not yet freed.
 */
unsigned long capdrv_env_hosted_live_allocs(const struct capdrv_env *env);

/**
 * @brief Free a hosted environment.
 * @param env environment, or NULL.
 */
void capdrv_env_hosted_free(struct capdrv_env *env);

#ifdef __cplusplus
}
#endif
#endif /* CAPDRV_SHIM_H */
