/**
 * @file capdrv_shim/env.h
 * @brief The functions the shim's environment provides: memory, a lock, a log.
 *
 * The kernel shim is freestanding C11. The services it needs from the
 * kernel (or from libc, when hosted) are the functions declared here; a
 * port defines them. Each takes the environment context the shim was
 * created with, so a kernel can keep per-instance state and a hosted test
 * can inject failures without global state.
 *
 * They are not all the symbols a port must supply. The shim's objects may
 * also leave undefined exactly what kernel-shim/port/allowed-undefined.txt
 * lists (tools/port-check, ctest -L port, holds them to these functions
 * plus that list):
 * - memcpy, memmove, memset and memcmp, which C compilers may call even
 *   in freestanding code (GCC manual, "Standards");
 * - the libfdt functions the shim calls to read the grant manifest, a
 *   flattened device tree. A port compiles dtc's libfdt/fdt.c, fdt_ro.c,
 *   fdt_check.c and fdt_strerror.c into the kernel. Those files need, in
 *   turn, memchr, strlen, strnlen and strrchr besides memcpy, memmove
 *   and memcmp, and INT_MAX from the libfdt_env.h they are built with
 *   (the shim's kernel-shim/port/libfdt_env.h declares no string
 *   functions on purpose). docs/PORTING.md, steps 1 and 2, has the list.
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
