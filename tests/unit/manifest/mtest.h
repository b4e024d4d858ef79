/* Helpers shared by the manifest parser tests: an environment with log
 * capture and allocation accounting, blob loading into exact-size heap
 * buffers (so AddressSanitizer sees any over-read), a parse wrapper that
 * checks the failure contract on every call, an invariant check for every
 * accepted manifest, and a libfdt sequential-write builder. */
#ifndef CAPDRV_TEST_MTEST_H
#define CAPDRV_TEST_MTEST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <capdrv/error.h>
#include <capdrv/shim.h>
#include <capdrv_shim/env.h>

#include "manifest.h"

#ifndef MANIFEST_DTB_DIR
#error "MANIFEST_DTB_DIR must name the directory of the compiled test manifests"
#endif

struct mt {
    struct capdrv_env *env;
    unsigned long base_allocs;
    char last_warn[200]; /* last WARN-or-worse log line */
    unsigned n_warn;
};

/* Create the environment (cmocka setup/teardown shape). */
int mt_setup(void **state);
int mt_teardown(void **state);

/* Read MANIFEST_DTB_DIR/<name>.dtb into an exact-size heap buffer. */
void *mt_load(const char *name, size_t *len);
/* Read any file into an exact-size heap buffer. */
void *mt_load_path(const char *path, size_t *len);
/* Exact-size heap copy of @len bytes (a 1-byte allocation for @len 0). */
void *mt_copy(const void *src, size_t len);

/* A copy that ends at most 7 bytes (alignment slack) before an
 * inaccessible page, so an over-read by anyone - libfdt included, which
 * the sanitizers do not instrument - faults. */
struct mt_guard {
    void *map;
    size_t map_len;
};
void *mt_guarded(struct mt_guard *g, const void *src, size_t len);
void mt_guarded_free(struct mt_guard *g);

/* Parse, asserting the contract: rc is 0, -EINVAL or -ENOMEM; on failure
 * *m is zeroed, a reason was written, one "manifest-refused" line was
 * logged with a = -rc, and no allocation is left; on success every
 * invariant of struct shim_manifest holds. */
int mt_parse(struct mt *t, const void *blob, size_t len, struct shim_manifest *m, char *why,
             size_t why_len);
/* Parse expecting -CAPDRV_EINVAL with exactly @reason (NULL: any). */
void mt_expect_refused(struct mt *t, const void *blob, size_t len, const char *reason);
/* Same, comparing only the first strlen(@prefix) characters of the reason. */
void mt_expect_refused_prefix(struct mt *t, const void *blob, size_t len, const char *prefix);
/* Every documented invariant of an accepted manifest. */
void mt_check_valid(const struct shim_manifest *m);
/* Free and check that the allocation count is back to its start. */
void mt_free(struct mt *t, struct shim_manifest *m);

/* Big-endian header fields of a blob (for corruption tests). */
uint32_t mt_be32_get(const void *blob, size_t off);
void mt_be32_set(void *blob, size_t off, uint32_t v);

/* A libfdt sequential-write builder over a growing-free 1 MiB buffer. */
struct fb {
    void *buf;
    int err; /* first libfdt error */
};
void fb_start(struct fb *b);           /* header, empty reserve map, no node yet */
void fb_root(struct fb *b);            /* fb_start + root node + compatible */
void fb_node(struct fb *b, const char *name);
void fb_end(struct fb *b);
void fb_str(struct fb *b, const char *name, const char *s); /* with its NUL */
void fb_raw(struct fb *b, const char *name, const void *data, int len);
void fb_cells(struct fb *b, const char *name, unsigned n, ...); /* n uint32_t cells */
void fb_grant(struct fb *b, const char *name);      /* a complete valid grant node */
void fb_grant_open(struct fb *b, const char *name); /* its properties, node left open */
void *fb_finish(struct fb *b, size_t *len); /* fdt_finish; exact-size copy; frees b */
/* fb_root + grants { fb_grant(g0) } + close; a known-good blob. */
void *fb_good(size_t *len);

#endif
