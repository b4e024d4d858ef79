/* Refusals dtc cannot (or will not) produce, built or damaged with libfdt
 * and by hand: truncation at every length, corrupted header fields,
 * strings without NUL, wrong cell counts, duplicated nodes and
 * properties, misplaced properties, extra roots, nesting bombs. */
#include "mtest.h"

#include <libfdt.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* fdt_header field offsets (Devicetree Specification v0.4, 5.2). */
enum {
    H_MAGIC = 0,
    H_TOTALSIZE = 4,
    H_OFF_STRUCT = 8,
    H_OFF_STRINGS = 12,
    H_OFF_RSVMAP = 16,
    H_VERSION = 20,
    H_LAST_COMP = 24,
    H_SIZE_STRINGS = 32,
    H_SIZE_STRUCT = 36
};

/* Every prefix of a good blob is refused, without reading past it. */
static void test_truncated(void **state)
{
    struct mt *t = *state;
    size_t full;
    void *good = mt_load("good_full", &full);
    for (size_t n = 0; n < full; n++) {
        char want[128];
        if (n < 40)
            snprintf(want, sizeof want,
                     "manifest: blob of %zu bytes is shorter than a device-tree header", n);
        else
            snprintf(want, sizeof want,
                     "manifest: header totalsize %zu exceeds the blob length %zu", full, n);
        void *blob = mt_copy(good, n); /* exact size: ASan sees our reads */
        mt_expect_refused(t, blob, n, want);
        free(blob);
        struct mt_guard g; /* guard page: catches libfdt's reads too */
        blob = mt_guarded(&g, good, n);
        mt_expect_refused(t, blob, n, want);
        mt_guarded_free(&g);
    }
    free(good);
}

/* Prefixes whose header claims exactly the bytes present. */
static void test_truncated_consistent(void **state)
{
    struct mt *t = *state;
    size_t full;
    void *good = mt_load("good_full", &full);
    for (size_t n = 40; n < full; n++) {
        struct mt_guard g;
        void *blob = mt_guarded(&g, good, n);
        mt_be32_set(blob, H_TOTALSIZE, (uint32_t)n);
        mt_expect_refused_prefix(t, blob, n, "manifest: bad device-tree header: ");
        mt_guarded_free(&g);
    }
    free(good);
}

/* Reasons from libfdt end in its error name (FDT_ERR_TRUNCATED, ...),
 * which may differ between libfdt versions; these tests pin the stage that
 * refused (header check or full structure check) by prefix. */
#define HDR "manifest: bad device-tree header: "
#define MALFORMED "manifest: malformed device tree: "

static void expect_reason(struct mt *t, const void *blob, size_t len, const char *reason)
{
    if (reason && (strcmp(reason, HDR) == 0 || strcmp(reason, MALFORMED) == 0))
        mt_expect_refused_prefix(t, blob, len, reason);
    else
        mt_expect_refused(t, blob, len, reason);
}

static const char TOTALSIZE[] = "(totalsize exceeds the blob)";

static void expect_header(struct mt *t, unsigned field, uint32_t value, int rel_len,
                          const char *reason)
{
    size_t len;
    void *good = mt_load("good_minimal", &len);
    void *blob = mt_copy(good, len);
    uint32_t v = value;
    if (rel_len)
        v = (uint32_t)((int64_t)len + rel_len);
    mt_be32_set(blob, field, v);
    print_message("header field %u = %#x\n", field, v);
    if (reason == TOTALSIZE) {
        char want[160];
        snprintf(want, sizeof want, "manifest: header totalsize %zu exceeds the blob length %zu",
                 (size_t)v, len);
        mt_expect_refused(t, blob, len, want);
    } else {
        expect_reason(t, blob, len, reason);
    }
    free(blob);
    free(good);
}


static void test_header_fields(void **state)
{
    struct mt *t = *state;
    expect_header(t, H_MAGIC, 0xdeadbeef, 0, HDR);
    expect_header(t, H_MAGIC, 0x2ff20112, 0, HDR); /* sequential-write magic */
    expect_header(t, H_LAST_COMP, 0x99, 0, HDR);
    expect_header(t, H_VERSION, 1, 0, HDR);
    expect_header(t, H_VERSION, 16, 0, "manifest: device-tree version 16 is older than 17");
    expect_header(t, H_TOTALSIZE, 0, 1, TOTALSIZE);
    expect_header(t, H_TOTALSIZE, 0, 4096, TOTALSIZE);
    expect_header(t, H_TOTALSIZE, 0xffffffff, 0, HDR);
    expect_header(t, H_TOTALSIZE, 0x80000000, 0, HDR);
    expect_header(t, H_TOTALSIZE, 10, 0, HDR);
    expect_header(t, H_OFF_STRUCT, 0, 100, HDR);
    expect_header(t, H_OFF_STRUCT, 0, 0, HDR);
    expect_header(t, H_OFF_STRUCT, 0xfffffffc, 0, HDR);
    expect_header(t, H_OFF_STRINGS, 0, -1, HDR);
    expect_header(t, H_OFF_STRINGS, 0xffffffff, 0, HDR);
    expect_header(t, H_SIZE_STRUCT, 0, 0, MALFORMED);
    expect_header(t, H_SIZE_STRUCT, 4, 0, MALFORMED);
    expect_header(t, H_SIZE_STRUCT, 0xfffffff0, 0, HDR);
    expect_header(t, H_SIZE_STRINGS, 0xfffffff0, 0, HDR);
    expect_header(t, H_SIZE_STRINGS, 0, 0, MALFORMED);
    expect_header(t, H_OFF_RSVMAP, 0, 8, HDR);
    expect_header(t, H_OFF_RSVMAP, 0, 0, HDR);
    /* shifted blocks: names read from the wrong place, tags misaligned */
    for (uint32_t d = 1; d < 16; d++) {
        size_t len;
        void *blob = mt_load("good_minimal", &len);
        mt_be32_set(blob, H_OFF_STRINGS, mt_be32_get(blob, H_OFF_STRINGS) + d);
        mt_expect_refused(t, blob, len, NULL);
        mt_be32_set(blob, H_OFF_STRINGS, mt_be32_get(blob, H_OFF_STRINGS) - d);
        mt_be32_set(blob, H_OFF_STRUCT, mt_be32_get(blob, H_OFF_STRUCT) + d);
        mt_expect_refused(t, blob, len, NULL);
        free(blob);
    }
}

/* libfdt requires 8-byte alignment; an unaligned blob is refused, not read
 * with misaligned loads. */
static void test_unaligned(void **state)
{
    struct mt *t = *state;
    size_t len;
    void *good = mt_load("good_minimal", &len);
    unsigned char *buf = malloc(len + 4);
    assert_non_null(buf);
    memcpy(buf + 4, good, len);
    mt_expect_refused(t, buf + 4, len, "manifest: blob is not 8-byte aligned");
    free(buf);
    free(good);
}

static void test_null_args(void **state)
{
    struct mt *t = *state;
    size_t len;
    void *good = mt_load("good_minimal", &len);
    mt_expect_refused(t, NULL, len, "manifest: no blob");
    struct shim_manifest m;
    char why[128];
    assert_int_equal(shim_manifest_parse(t->env, good, len, NULL, why, sizeof why),
                     -CAPDRV_EINVAL);
    assert_string_equal(why, "manifest: no output");
    memset(&m, 0x5a, sizeof m);
    assert_int_equal(shim_manifest_parse(NULL, good, len, &m, why, sizeof why), -CAPDRV_EINVAL);
    assert_string_equal(why, "manifest: no environment");
    assert_int_equal(capdrv_env_hosted_live_allocs(t->env), t->base_allocs);
    free(good);
}

/* ---- blobs built with libfdt's sequential-write API ---- */

typedef void (*build_fn)(struct fb *b);

static void expect_built(struct mt *t, build_fn fn, const char *reason)
{
    struct fb b;
    fn(&b);
    size_t len;
    void *blob = fb_finish(&b, &len);
    expect_reason(t, blob, len, reason);
    free(blob);
}

static void expect_built_ok(struct mt *t, build_fn fn, unsigned n_grants)
{
    struct fb b;
    fn(&b);
    size_t len;
    void *blob = fb_finish(&b, &len);
    struct shim_manifest m;
    char why[256];
    int rc = mt_parse(t, blob, len, &m, why, sizeof why);
    if (rc != 0)
        fail_msg("refused (%d): %s", rc, why);
    assert_int_equal(m.n_grants, n_grants);
    mt_free(t, &m);
    free(blob);
}

/* root { compatible; grants { g0 { provider class match-id <then fn> */
static void open_g0(struct fb *b)
{
    fb_root(b);
    fb_node(b, "grants");
    fb_grant_open(b, "g0");
}

static void close2(struct fb *b)
{
    fb_end(b);
    fb_end(b);
    fb_end(b);
}

/* A grant whose properties are given raw (no defaults). */
static void grant_raw(struct fb *b, const char *prop, const void *data, int len)
{
    fb_root(b);
    fb_node(b, "grants");
    fb_node(b, "g0");
    if (strcmp(prop, "provider") != 0)
        fb_str(b, "provider", "p1");
    if (strcmp(prop, "class") != 0)
        fb_str(b, "class", "dma-capable");
    if (strcmp(prop, "match-id") != 0)
        fb_cells(b, "match-id", 2, 0x1af4u, 0x1042u);
    fb_raw(b, prop, data, len);
    close2(b);
}

static const char *g_prop;
static const void *g_data;
static int g_len;

static void build_grant_raw(struct fb *b)
{
    grant_raw(b, g_prop, g_data, g_len);
}

static void expect_grant_prop(struct mt *t, const char *prop, const void *data, int len,
                              const char *reason)
{
    g_prop = prop;
    g_data = data;
    g_len = len;
    print_message("grant property %s (%d bytes)\n", prop, len);
    expect_built(t, build_grant_raw, reason);
}

static void window_raw(struct fb *b)
{
    open_g0(b);
    fb_node(b, "window-a");
    if (strcmp(g_prop, "bar") != 0)
        fb_cells(b, "bar", 1, 0u);
    if (strcmp(g_prop, "offset") != 0)
        fb_cells(b, "offset", 2, 0u, 0u);
    if (strcmp(g_prop, "length") != 0)
        fb_cells(b, "length", 2, 0u, 0x100u);
    fb_raw(b, g_prop, g_data, g_len);
    fb_end(b);
    close2(b);
}

static void expect_window_prop(struct mt *t, const char *prop, const void *data, int len,
                               const char *reason)
{
    g_prop = prop;
    g_data = data;
    g_len = len;
    print_message("window property %s (%d bytes)\n", prop, len);
    expect_built(t, window_raw, reason);
}

#define GR "grants/g0: "
#define WI "grants/g0/window-a: "

static void test_strings(void **state)
{
    struct mt *t = *state;
    expect_grant_prop(t, "class", "dma-capable", 11, GR "property \"class\" must be a NUL-terminated string");
    expect_grant_prop(t, "provider", "p1", 2, GR "property \"provider\" must be a NUL-terminated string");
    expect_grant_prop(t, "provider", "p1\0p2", 6,
                      GR "property \"provider\" must be exactly one string (found an embedded NUL)");
    expect_grant_prop(t, "provider", "\0p1", 4,
                      GR "property \"provider\" must be exactly one string (found an embedded NUL)");
    expect_grant_prop(t, "provider", "p\x7f", 3,
                      GR "property \"provider\" value \"p?\" has a space or a character that is not printable ASCII");
    expect_grant_prop(t, "provider", "\t", 2,
                      GR "property \"provider\" value \"?\" has a space or a character that is not printable ASCII");
    expect_grant_prop(t, "match-address", "0000:00:04.0", 12,
                      GR "property \"match-address\" must be a NUL-terminated string");
    expect_grant_prop(t, "match-address", "0000:00:04.0\0", 14,
                      GR "property \"match-address\" must be exactly one string (found an embedded NUL)");
    expect_grant_prop(t, "match-address", " 000:00:04.0", 13,
                      GR "property \"match-address\" must look like DDDD:BB:DD.F (hex), got \" 000:00:04.0\"");
    expect_grant_prop(t, "match-address", "0000:00:04.00", 14,
                      GR "property \"match-address\" must look like DDDD:BB:DD.F (hex), got \"0000:00:04.00\"");
    expect_grant_prop(t, "match-address", "0000-00:04.0", 13,
                      GR "property \"match-address\" must look like DDDD:BB:DD.F (hex), got \"0000-00:04.0\"");
    expect_grant_prop(t, "dma-backend", "direct", 6, GR "property \"dma-backend\" must be a NUL-terminated string");
    expect_grant_prop(t, "dma-backend", "direc", 6,
                      GR "property \"dma-backend\" has unknown value \"direc\" (expected auto | brokered | direct)");
    expect_grant_prop(t, "dma-backend", "directx", 8,
                      GR "property \"dma-backend\" has unknown value \"directx\" (expected auto | brokered | direct)");
    expect_grant_prop(t, "name", "g0\0x", 5,
                      GR "property \"name\" must be exactly one string (found an embedded NUL)");
    expect_window_prop(t, "access", "r", 1, WI "property \"access\" must be a NUL-terminated string");
    expect_window_prop(t, "access", "", 0, WI "property \"access\" must be a string, got an empty property");
    expect_window_prop(t, "access", "R", 2,
                       WI "property \"access\" has unknown value \"R\" (expected r | w | rw)");
    expect_window_prop(t, "access", "wr", 3,
                       WI "property \"access\" has unknown value \"wr\" (expected r | w | rw)");
    expect_window_prop(t, "name", "a", 1, WI "property \"name\" must be a NUL-terminated string");
}

static void test_cells(void **state)
{
    struct mt *t = *state;
    static const unsigned char z[32];
    static const unsigned char ff[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    expect_grant_prop(t, "match-id", z, 6, GR "property \"match-id\" must be 2 cells, got 6 bytes");
    expect_grant_prop(t, "match-id", z, 0, GR "property \"match-id\" must be 2 cells, got 0 bytes");
    expect_grant_prop(t, "match-id", ff, 8, GR "property \"match-id\" has a value wider than 16 bits: 0xffffffff");
    expect_grant_prop(t, "match-class", z, 9, GR "property \"match-class\" must be 2 cells, got 9 bytes");
    expect_grant_prop(t, "match-class", ff, 8,
                      GR "property \"match-class\" has a value wider than 24 bits: 0xffffffff");
    expect_grant_prop(t, "pool-quota", z, 7, GR "property \"pool-quota\" must be 2 cells, got 7 bytes");
    expect_grant_prop(t, "pool-quota", z, 0, GR "property \"pool-quota\" must be 2 cells, got 0 bytes");
    expect_grant_prop(t, "pool-quota", z, 16, GR "property \"pool-quota\" must be 2 cells, got 16 bytes");
    expect_grant_prop(t, "pool-buffers", z, 3, GR "property \"pool-buffers\" must be 1 cell, got 3 bytes");
    expect_grant_prop(t, "interrupts", z, 1, GR "property \"interrupts\" must be 1 cell, got 1 byte");
    expect_grant_prop(t, "interrupts", ff, 4, GR "property \"interrupts\" is 4294967295, most is 64");
    expect_grant_prop(t, "phandle", z, 8, GR "property \"phandle\" must be 1 cell, got 8 bytes");
    expect_window_prop(t, "bar", z, 0, WI "property \"bar\" must be 1 cell, got 0 bytes");
    expect_window_prop(t, "bar", ff, 4, WI "property \"bar\" is 4294967295, BARs are 0..5");
    expect_window_prop(t, "offset", z, 16, WI "property \"offset\" must be 2 cells, got 16 bytes");
    expect_window_prop(t, "length", z, 4, WI "property \"length\" must be 2 cells, got 4 bytes");
    expect_window_prop(t, "phandle", z, 2, WI "property \"phandle\" must be 1 cell, got 2 bytes");
}

static void overflow_by_one(struct fb *b)
{
    open_g0(b);
    fb_node(b, "window-a");
    fb_cells(b, "bar", 1, 0u);
    fb_cells(b, "offset", 2, 0u, 1u);
    fb_cells(b, "length", 2, 0xffffffffu, 0xffffffffu);
    fb_end(b);
    close2(b);
}

static void quota_zero_buffers(struct fb *b)
{
    open_g0(b);
    fb_cells(b, "pool-quota", 2, 0u, 0u);
    fb_cells(b, "pool-buffers", 1, 5u);
    close2(b);
}

static void dup_grant(struct fb *b)
{
    fb_root(b);
    fb_node(b, "grants");
    fb_grant(b, "g0");
    fb_grant(b, "g1");
    fb_grant(b, "g0");
    fb_end(b);
    fb_end(b);
}

static void dup_window(struct fb *b)
{
    open_g0(b);
    for (int i = 0; i < 2; i++) {
        fb_node(b, "window-a");
        fb_cells(b, "bar", 1, 0u);
        fb_cells(b, "offset", 2, 0u, 0u);
        fb_cells(b, "length", 2, 0u, 0x100u);
        fb_end(b);
    }
    close2(b);
}

static void dup_grants_node(struct fb *b)
{
    fb_root(b);
    fb_node(b, "grants");
    fb_grant(b, "g0");
    fb_end(b);
    fb_node(b, "grants");
    fb_grant(b, "g1");
    fb_end(b);
    fb_end(b);
}

static void dup_prop(struct fb *b)
{
    open_g0(b);
    fb_str(b, "class", "any-function");
    close2(b);
}

static void dup_compatible(struct fb *b)
{
    fb_root(b);
    fb_str(b, "compatible", "capdrv,manifest-v1");
    fb_node(b, "grants");
    fb_grant(b, "g0");
    fb_end(b);
    fb_end(b);
}

/* libfdt's property iterator stops at the first subnode: without the
 * structure check this pool-buffers would be silently dropped. */
static void prop_after_window(struct fb *b)
{
    open_g0(b);
    fb_cells(b, "pool-quota", 2, 0u, 0x10000u);
    fb_node(b, "window-a");
    fb_cells(b, "bar", 1, 0u);
    fb_cells(b, "offset", 2, 0u, 0u);
    fb_cells(b, "length", 2, 0u, 0x100u);
    fb_end(b);
    fb_cells(b, "pool-buffers", 1, 1u);
    close2(b);
}

static void prop_after_grants(struct fb *b)
{
    fb_start(b);
    fb_node(b, "");
    fb_node(b, "grants");
    fb_grant(b, "g0");
    fb_end(b);
    fb_str(b, "compatible", "capdrv,manifest-v1");
    fb_end(b);
}

static void prop_after_root(struct fb *b)
{
    fb_root(b);
    fb_node(b, "grants");
    fb_grant(b, "g0");
    fb_end(b);
    fb_end(b);
    fb_str(b, "dma-backend", "direct");
}

static void two_roots(struct fb *b)
{
    fb_root(b);
    fb_node(b, "grants");
    fb_grant(b, "g0");
    fb_end(b);
    fb_end(b);
    fb_node(b, "");
    fb_end(b);
}

static void no_root(struct fb *b)
{
    fb_start(b);
}

static void named_root(struct fb *b)
{
    fb_start(b);
    fb_node(b, "root");
    fb_str(b, "compatible", "capdrv,manifest-v1");
    fb_node(b, "grants");
    fb_grant(b, "g0");
    fb_end(b);
    fb_end(b);
}

static void nest_window_bomb(struct fb *b)
{
    open_g0(b);
    fb_node(b, "window-a");
    fb_cells(b, "bar", 1, 0u);
    fb_cells(b, "offset", 2, 0u, 0u);
    fb_cells(b, "length", 2, 0u, 0x100u);
    for (int i = 0; i < 20000; i++)
        fb_node(b, "x");
    for (int i = 0; i < 20000; i++)
        fb_end(b);
    fb_end(b);
    close2(b);
}

static void nest_root(struct fb *b)
{
    fb_root(b);
    fb_node(b, "grants");
    fb_grant(b, "g0");
    fb_end(b);
    fb_node(b, "a");
    fb_node(b, "b");
    fb_node(b, "c");
    fb_node(b, "d");
    fb_end(b);
    fb_end(b);
    fb_end(b);
    fb_end(b);
    fb_end(b);
}

static unsigned g_count;

static void many_grants(struct fb *b)
{
    fb_root(b);
    fb_node(b, "grants");
    for (unsigned i = 0; i < g_count; i++) {
        char name[16];
        snprintf(name, sizeof name, "g%u", i);
        fb_grant(b, name);
    }
    fb_end(b);
    fb_end(b);
}

static const char *g_name;

static void named_grant(struct fb *b)
{
    fb_root(b);
    fb_node(b, "grants");
    fb_grant(b, g_name);
    fb_end(b);
    fb_end(b);
}

static void grant_child(struct fb *b)
{
    open_g0(b);
    fb_node(b, g_name);
    fb_end(b);
    close2(b);
}

static void odd_prop_name(struct fb *b)
{
    open_g0(b);
    fb_cells(b, g_name, 1, 0u);
    close2(b);
}

static void compat(struct fb *b)
{
    fb_start(b);
    fb_node(b, "");
    fb_raw(b, "compatible", g_data, g_len);
    fb_node(b, "grants");
    fb_grant(b, "g0");
    fb_end(b);
    fb_end(b);
}

static void all_standard(struct fb *b)
{
    fb_root(b);
    fb_cells(b, "phandle", 1, 1u);
    fb_node(b, "grants");
    fb_cells(b, "phandle", 1, 2u);
    fb_str(b, "name", "grants");
    fb_grant_open(b, "g0");
    fb_cells(b, "phandle", 1, 3u);
    fb_str(b, "name", "g0");
    fb_node(b, "window-a");
    fb_cells(b, "bar", 1, 0u);
    fb_cells(b, "offset", 2, 0u, 0u);
    fb_cells(b, "length", 2, 0u, 0x100u);
    fb_cells(b, "phandle", 1, 4u);
    fb_str(b, "name", "window-a");
    fb_end(b);
    close2(b);
}

static void expect_compat(struct mt *t, const char *data, int len, const char *reason)
{
    g_data = data;
    g_len = len;
    if (reason)
        expect_built(t, compat, reason);
    else
        expect_built_ok(t, compat, 1);
}

static void test_structure(void **state)
{
    struct mt *t = *state;
    expect_built(t, overflow_by_one, WI "property \"length\" makes offset + length overflow 64 bits");
    expect_built(t, quota_zero_buffers, GR "property \"pool-buffers\" is set but pool-quota is absent or 0");
    expect_built(t, dup_grant, GR "grant name appears twice");
    expect_built(t, dup_window, WI "window name appears twice in this grant");
    expect_built(t, dup_grants_node, "/: node \"grants\" appears twice");
    expect_built(t, dup_prop, GR "property \"class\" appears twice");
    expect_built(t, dup_compatible, "/: property \"compatible\" appears twice");
    expect_built(t, prop_after_window, GR "property after a subnode (properties must come first)");
    expect_built(t, prop_after_grants, "/: property after a subnode (properties must come first)");
    expect_built(t, prop_after_root, MALFORMED);
    expect_built(t, two_roots, MALFORMED);
    expect_built(t, no_root, "manifest: the structure block must begin with the root node");
    expect_built(t, named_root, MALFORMED);
    expect_built(t, nest_window_bomb,
                 WI "has a subnode; nothing nests deeper than /grants/<grant>/window-<name>");
    expect_built(t, nest_root, "a/b/c: has a subnode; nothing nests deeper than "
                               "/grants/<grant>/window-<name>");
    expect_built_ok(t, all_standard, 1);

    g_count = SHIM_MAX_GRANTS;
    expect_built_ok(t, many_grants, SHIM_MAX_GRANTS);
    g_count = SHIM_MAX_GRANTS + 1;
    expect_built(t, many_grants, "grants: more than 64 grants");
    g_count = 3000;
    expect_built(t, many_grants, "grants: more than 64 grants");
}

static void test_names(void **state)
{
    struct mt *t = *state;
    g_name = "g\x01";
    expect_built(t, named_grant, "grants/g?: grant name \"g?\" has a character outside [A-Za-z0-9,._+-]");
    g_name = "";
    expect_built(t, named_grant, "grants/: grant name \"\" is empty");
    g_name = "g\xc3\xa9";
    expect_built(t, named_grant, "grants/g??: grant name \"g??\" has a character outside [A-Za-z0-9,._+-]");
    char long_name[201];
    memset(long_name, 'a', 200);
    long_name[200] = '\0';
    g_name = long_name;
    expect_built(t, named_grant,
                 "grants/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...: grant name "
                 "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\" is too long (200 bytes, longest "
                 "allowed is 31)");
    g_name = "window";
    expect_built(t, grant_child, GR "subnode \"window\" is not allowed (grant subnodes are window-<name>)");
    g_name = "windo-a";
    expect_built(t, grant_child, GR "subnode \"windo-a\" is not allowed (grant subnodes are window-<name>)");
    g_name = "Window-a";
    expect_built(t, grant_child, GR "subnode \"Window-a\" is not allowed (grant subnodes are window-<name>)");
    g_name = "window-a\x7f";
    expect_built(t, grant_child,
                 "grants/g0/window-a?: window name \"a?\" has a character outside [A-Za-z0-9,._+-]");
    g_name = "x\x1b[31mred";
    expect_built(t, odd_prop_name, GR "property \"x?[31mred\" is not allowed here (unknown properties are refused)");
    memset(long_name, 'q', 200);
    g_name = long_name;
    expect_built(t, odd_prop_name,
                 GR "property \"qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq...\" is not allowed here "
                    "(unknown properties are refused)");
    g_name = "Provider";
    expect_built(t, odd_prop_name, GR "property \"Provider\" is not allowed here (unknown properties are refused)");

    expect_compat(t, "\0capdrv,manifest-v1", 20, NULL);
    expect_compat(t, "a\0\0capdrv,manifest-v1\0b", 24, NULL);
    expect_compat(t, "capdrv,manifest-v1x", 20, "/: property \"compatible\" does not contain \"capdrv,manifest-v1\"");
    expect_compat(t, "capdrv,manifest-v", 18, "/: property \"compatible\" does not contain \"capdrv,manifest-v1\"");
    expect_compat(t, "xcapdrv,manifest-v1", 20, "/: property \"compatible\" does not contain \"capdrv,manifest-v1\"");
    expect_compat(t, "capdrv,manifest-v1", 18, "/: property \"compatible\" must be a NUL-terminated string list");
    expect_compat(t, "", 0, "/: property \"compatible\" must be a NUL-terminated string list");
    expect_compat(t, "", 1, "/: property \"compatible\" does not contain \"capdrv,manifest-v1\"");
}

/* ---- surgery on a finished blob ---- */

/* Offset of the first property of @path in the structure block. */
static int prop_off(const void *blob, const char *path)
{
    int node = fdt_path_offset(blob, path);
    assert_true(node >= 0);
    int off = fdt_first_property_offset(blob, node);
    assert_true(off >= 0);
    return off;
}

static void test_surgery(void **state)
{
    struct mt *t = *state;
    size_t len;
    void *good = fb_good(&len);
    uint32_t st = mt_be32_get(good, H_OFF_STRUCT);
    int off = prop_off(good, "/grants/g0");

    static const struct {
        unsigned rel;
        uint32_t v;
        const char *reason;
    } cases[] = {
        {8, 0x7fffffff, MALFORMED},     /* nameoff outside strings */
        {8, 0xfffffff0, MALFORMED},     /* negative nameoff */
        {4, 0x7ffffff0, MALFORMED},     /* value longer than the block */
        {4, 0xfffffffc, MALFORMED},     /* "negative" length */
        {0, 0x10, MALFORMED},        /* unknown tag */
        {0, FDT_END, MALFORMED},     /* early end inside a node */
        {0, FDT_END_NODE, NULL},                            /* early end of node */
        {0, FDT_BEGIN_NODE, NULL},                          /* property header as a name */
        {0, FDT_NOP, NULL},                                 /* property body as tags */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        void *blob = mt_copy(good, len);
        mt_be32_set(blob, st + (uint32_t)off + cases[i].rel, cases[i].v);
        print_message("surgery %zu\n", i);
        expect_reason(t, blob, len, cases[i].reason);
        free(blob);
    }

    /* A NOP before the root node: fdt_check_full accepts it, the parser
     * (which addresses the root as offset 0) must not. */
    unsigned char *nop = malloc(len + 4);
    assert_non_null(nop);
    memcpy(nop, good, st);
    mt_be32_set(nop, st, FDT_NOP);
    memcpy(nop + st + 4, (unsigned char *)good + st, len - st);
    mt_be32_set(nop, H_TOTALSIZE, (uint32_t)len + 4);
    mt_be32_set(nop, H_SIZE_STRUCT, mt_be32_get(good, H_SIZE_STRUCT) + 4);
    assert_true(mt_be32_get(good, H_OFF_STRINGS) > st);
    mt_be32_set(nop, H_OFF_STRINGS, mt_be32_get(good, H_OFF_STRINGS) + 4);
    assert_int_equal(fdt_check_full(nop, len + 4), 0);
    mt_expect_refused(t, nop, len + 4, "manifest: the structure block must begin with the root node");
    free(nop);

    /* NOPs elsewhere (fdt_nop_property) are fine: the property is gone. */
    void *blob = mt_copy(good, len);
    int node = fdt_path_offset(blob, "/grants/g0/window-a");
    assert_true(node >= 0);
    assert_int_equal(fdt_nop_property(blob, node, "bar"), 0);
    mt_expect_refused(t, blob, len, WI "property \"bar\" is missing");
    free(blob);
    free(good);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_truncated, mt_setup, mt_teardown),
        cmocka_unit_test_setup_teardown(test_truncated_consistent, mt_setup, mt_teardown),
        cmocka_unit_test_setup_teardown(test_header_fields, mt_setup, mt_teardown),
        cmocka_unit_test_setup_teardown(test_unaligned, mt_setup, mt_teardown),
        cmocka_unit_test_setup_teardown(test_null_args, mt_setup, mt_teardown),
        cmocka_unit_test_setup_teardown(test_strings, mt_setup, mt_teardown),
        cmocka_unit_test_setup_teardown(test_cells, mt_setup, mt_teardown),
        cmocka_unit_test_setup_teardown(test_structure, mt_setup, mt_teardown),
        cmocka_unit_test_setup_teardown(test_names, mt_setup, mt_teardown),
        cmocka_unit_test_setup_teardown(test_surgery, mt_setup, mt_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
