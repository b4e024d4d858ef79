/* Freestanding helpers for the shim: bounded string building (the shim has
 * no printf), overflow-checked range arithmetic. Header-only. */
#ifndef CAPDRV_SHIM_UTIL_H
#define CAPDRV_SHIM_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Append @s to the NUL-terminated string in @buf (capacity @cap), truncating. */
static inline void shim_str_append(char *buf, size_t cap, const char *s)
{
    if (!buf || cap == 0)
        return;
    size_t n = 0;
    while (n < cap && buf[n])
        n++;
    if (n == cap) { /* not terminated: repair */
        buf[cap - 1] = '\0';
        return;
    }
    while (s && *s && n + 1 < cap)
        buf[n++] = *s++;
    buf[n] = '\0';
}

/* Append @v in decimal (or hex with a 0x prefix when @hex). */
static inline void shim_str_append_u64(char *buf, size_t cap, uint64_t v, bool hex)
{
    char tmp[24];
    size_t i = sizeof tmp;
    tmp[--i] = '\0';
    unsigned base = hex ? 16u : 10u;
    do {
        unsigned d = (unsigned)(v % base);
        tmp[--i] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
        v /= base;
    } while (v && i > 2);
    if (hex) {
        tmp[--i] = 'x';
        tmp[--i] = '0';
    }
    shim_str_append(buf, cap, &tmp[i]);
}

/* Start a reason string: "@a@b" (either may be NULL). */
static inline void shim_str_set(char *buf, size_t cap, const char *a, const char *b)
{
    if (!buf || cap == 0)
        return;
    buf[0] = '\0';
    shim_str_append(buf, cap, a);
    shim_str_append(buf, cap, b);
}

/* Bounded copy into a fixed field; false when @s does not fit (field left empty). */
static inline bool shim_str_copy(char *dst, size_t cap, const char *s, size_t s_len)
{
    if (s_len + 1 > cap) {
        dst[0] = '\0';
        return false;
    }
    for (size_t i = 0; i < s_len; i++)
        dst[i] = s[i];
    dst[s_len] = '\0';
    return true;
}

static inline bool shim_str_eq(const char *a, const char *b)
{
    while (*a && *a == *b) {
        a++;
        b++;
    }
    return *a == *b;
}

/* [off, off+len) lies inside [0, limit) without overflow. */
static inline bool shim_range_within(uint64_t off, uint64_t len, uint64_t limit)
{
    return len <= limit && off <= limit - len;
}

/* [a, a+alen) lies inside [b, b+blen) without overflow (alen > 0). */
static inline bool shim_range_inside(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a >= b && shim_range_within(a - b, alen, blen);
}

/* [a, a+alen) and [b, b+blen) intersect (lengths > 0, no overflow assumed checked). */
static inline bool shim_range_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

#endif
