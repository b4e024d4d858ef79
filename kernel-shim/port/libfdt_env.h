/* libfdt_env.h for the freestanding shim build (tools/port-check).
 *
 * libfdt.h includes <libfdt_env.h> for its types and byte order helpers.
 * The copy Debian installs (/usr/include/libfdt_env.h) also includes
 * <stdlib.h>, <string.h> and <limits.h>, hosted headers a kernel does not
 * have; the port check puts this directory first on the include path so the
 * shim compiles against libfdt.h with nothing but <stdbool.h>, <stddef.h>
 * and <stdint.h>.
 *
 * It provides only what libfdt.h itself uses: fdt16_t/fdt32_t/fdt64_t and
 * the conversions to and from CPU order. It deliberately declares no string
 * functions, so shim code cannot call strlen() and friends through it. A
 * port that compiles libfdt's .c files (fdt.c, fdt_ro.c, ...) needs its own
 * libfdt_env.h that also declares the string functions those files use.
 *
 * Device tree values are big-endian (Devicetree Specification v0.4, 5.1).
 * The conversions assemble bytes in memory order, so they are correct on
 * either host byte order and need no __builtin_bswap (which some targets,
 * e.g. riscv64 without Zbb, lower to a libgcc call).
 */
#ifndef LIBFDT_ENV_H
#define LIBFDT_ENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Sparse annotations in upstream libfdt; empty here. */
#define FDT_FORCE
#define FDT_BITWISE

typedef uint16_t fdt16_t;
typedef uint32_t fdt32_t;
typedef uint64_t fdt64_t;

/* Big-endian <-> CPU order; each conversion is its own inverse. */
static inline uint16_t fdt16_to_cpu(fdt16_t x)
{
    const uint8_t *b = (const uint8_t *)&x;
    return (uint16_t)((uint16_t)b[0] << 8 | b[1]);
}

static inline uint32_t fdt32_to_cpu(fdt32_t x)
{
    const uint8_t *b = (const uint8_t *)&x;
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static inline uint64_t fdt64_to_cpu(fdt64_t x)
{
    const uint8_t *b = (const uint8_t *)&x;
    return (uint64_t)b[0] << 56 | (uint64_t)b[1] << 48 | (uint64_t)b[2] << 40 |
           (uint64_t)b[3] << 32 | (uint64_t)b[4] << 24 | (uint64_t)b[5] << 16 |
           (uint64_t)b[6] << 8 | b[7];
}

static inline fdt16_t cpu_to_fdt16(uint16_t x) { return fdt16_to_cpu(x); }
static inline fdt32_t cpu_to_fdt32(uint32_t x) { return fdt32_to_cpu(x); }
static inline fdt64_t cpu_to_fdt64(uint64_t x) { return fdt64_to_cpu(x); }

#endif /* LIBFDT_ENV_H */
