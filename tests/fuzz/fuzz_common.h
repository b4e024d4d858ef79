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

#endif
