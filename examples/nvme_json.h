/* A tiny streaming JSON writer for capdrv-nvme's --json output (no
 * dependency). It writes one value at a time, indenting like nvme-cli's
 * pretty output, and tracks only whether a comma is due at each level.
 * Keys are passed by the caller and written verbatim (they are literals);
 * strings are escaped per RFC 8259 §7. */
#ifndef CAPDRV_EXAMPLES_NVME_JSON_H
#define CAPDRV_EXAMPLES_NVME_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define NJSON_MAX_DEPTH 8

struct njson {
    FILE *f;
    unsigned depth;
    bool more[NJSON_MAX_DEPTH]; /* a value was written at this level: comma due */
};

/* Start writing to @f; the first call must open an object or array with key NULL. */
void njson_init(struct njson *j, FILE *f);
/* Open an object or array, as member @key of the enclosing object (NULL
 * inside an array or at the top). Deeper than NJSON_MAX_DEPTH is ignored. */
void njson_obj(struct njson *j, const char *key);
void njson_arr(struct njson *j, const char *key);
/* Close the innermost object or array; at depth 0 end the line. */
void njson_end_obj(struct njson *j);
void njson_end_arr(struct njson *j);
void njson_u64(struct njson *j, const char *key, uint64_t v);
void njson_i64(struct njson *j, const char *key, int64_t v);
void njson_f64(struct njson *j, const char *key, double v);
/* A 128-bit little-endian counter (SMART log) as a decimal number. */
void njson_u128le(struct njson *j, const char *key, const uint8_t v[16]);
/* @len bytes of @s (stops at a NUL), trailing spaces dropped (NVMe ASCII
 * fields are space padded, Base 2.0 §1.5). */
void njson_strn(struct njson *j, const char *key, const char *s, size_t len);
void njson_str(struct njson *j, const char *key, const char *s);
void njson_bool(struct njson *j, const char *key, bool v);

/* Decimal text of a 128-bit little-endian value; @out holds >= 40 bytes. */
const char *nvme_u128le_str(const uint8_t v[16], char *out, size_t cap);

#endif
