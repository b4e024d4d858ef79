/* Shared helpers for the fuzz harnesses (tests/fuzz/README.md).
 *
 * Every harness defines LLVMFuzzerTestOneInput() and is built twice: with
 * clang's libFuzzer (tools/fuzz, ctest -L fuzz) and with the project's
 * compiler against replay_main.c (ctest -L fuzz-regress). A broken
 * invariant is a crash in both: FUZZ_CHECK prints where and aborts, which
 * libFuzzer records as a crash input and replay reports as a failed test.
 * No assert(): it would vanish under NDEBUG. */
#ifndef CAPDRV_FUZZ_COMMON_H
#define CAPDRV_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* The libFuzzer entry point; replay_main.c calls it for each file. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                      \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                          \
        }                                                                                     \
    } while (0)

/* Like FUZZ_CHECK, with one number that explains the failure. */
#define FUZZ_CHECK_MSG(cond, what, val)                                                       \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            fprintf(stderr, "%s:%d: fuzz invariant failed: %s (%s = %lld)\n", __FILE__,       \
                    __LINE__, #cond, (what), (long long)(val));                               \
            abort();                                                                          \
        }                                                                                     \
    } while (0)

/* A copy of an input for code that reads it as hostile bytes.
 *
 * The copy starts 8-byte aligned (libfdt and the parsers require it). In the
 * replay build (FUZZ_GUARD_PAGES) it is placed so that it ends at most 7
 * bytes before an inaccessible page: a read past the input faults even
 * without AddressSanitizer. Under libFuzzer (ASan) a malloc'd copy of
 * exactly @size bytes is checked byte-precisely instead. */
struct fuzz_buf {
    void *data;     /* the copy */
    void *map;      /* mapping to release (guard-page variant) */
    size_t map_len;
};

/* Nonzero when CAPDRV_FUZZ_VERBOSE is set: harnesses then print each
 * input's result (return code and reason) to stderr, for triage. */
int fuzz_verbose(void);

void *fuzz_buf_copy(struct fuzz_buf *b, const uint8_t *src, size_t size);
void fuzz_buf_free(struct fuzz_buf *b);

/* An input read as a stream of little-endian fields: past its end every
 * read gives 0, so a short input is a valid (zero-padded) one. */
struct fuzz_rd {
    const uint8_t *p;
    size_t n; /* bytes left */
};

static inline uint8_t fuzz_rd8(struct fuzz_rd *r)
{
    if (r->n == 0)
        return 0;
    r->n--;
    return *r->p++;
}

/* @bytes (<= 8) little-endian bytes. */
static inline uint64_t fuzz_rdn(struct fuzz_rd *r, unsigned bytes)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < bytes; i++)
        v |= (uint64_t)fuzz_rd8(r) << (8 * i);
    return v;
}

/* Little-endian stores and loads of @n (<= 8) bytes, whatever the host. */
static inline void fuzz_put_le(uint8_t *p, unsigned n, uint64_t v)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t fuzz_get_le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

#endif
