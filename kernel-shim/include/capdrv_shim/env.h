/**
 * @file capdrv_shim/env.h
 * @brief The shim's whole dependency on its environment.
 *
 * The kernel shim is freestanding C11. Everything it needs from the kernel
 * (or from libc, when hosted) is declared here and nowhere else; a port
 * defines these symbols. Each takes the environment context the shim was
 * created with, so a kernel can keep per-instance state and a hosted test
 * can inject failures without global state.
 *
 * Besides these, C compilers may emit calls to memcpy, memmove, memset and
 * memcmp even in freestanding code (GCC manual, "Standards"); a port must
 * provide those four as well.
 */
#ifndef CAPDRV_SHIM_ENV_H
#define CAPDRV_SHIM_ENV_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The environment's context (defined by the port). */
struct capdrv_env;

/** Log levels for capdrv_env_log(). */
enum capdrv_env_log_level {
    CAPDRV_LOG_ERROR = 0, /**< an operation failed in a way the operator must see */
    CAPDRV_LOG_WARN = 1,  /**< hostile or malformed input refused */
    CAPDRV_LOG_INFO = 2,  /**< lifecycle events: grant open, revoke, teardown */
    CAPDRV_LOG_DEBUG = 3  /**< everything else */
};

/**
 * @brief Allocate @p size bytes of zeroed memory.
 * @return the memory, or NULL (the shim then fails the operation cleanly).
 */
void *capdrv_env_alloc(struct capdrv_env *env, size_t size);

/** @brief Free memory from capdrv_env_alloc(); NULL is ignored. */
void capdrv_env_free(struct capdrv_env *env, void *ptr);

/** @brief Take the shim instance's lock (not recursive). */
void capdrv_env_lock(struct capdrv_env *env);

/** @brief Release the lock taken by capdrv_env_lock(). */
void capdrv_env_unlock(struct capdrv_env *env);

/**
 * @brief Record a structured event: a static event name and two numbers.
 *
 * No formatting happens in the shim (it has no printf); the environment
 * formats, e.g. `event=grant-open a=3 b=0`.
 */
void capdrv_env_log(struct capdrv_env *env, enum capdrv_env_log_level level, const char *event,
                    uint64_t a, uint64_t b);

#ifdef __cplusplus
}
#endif
#endif /* CAPDRV_SHIM_ENV_H */
