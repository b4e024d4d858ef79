/* Accepted manifests (tests/data/manifests/good_*.dts, compiled by dtc at
 * build time): every parsed field checked exactly. */
#include "mtest.h"

#include <libfdt.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void parse_file(struct mt *t, const char *name, struct shim_manifest *m)
{
    size_t len;
    void *blob = mt_load(name, &len);
    char why[256];
    int rc = mt_parse(t, blob, len, m, why, sizeof why);
    if (rc != 0)
        fail_msg("%s refused (%d): %s", name, rc, why);
    free(blob); /* the parsed manifest must not point into the blob */
}

static void check_window(const struct shim_manifest_window *w, const char *name, unsigned bar,
                         uint64_t offset, uint64_t length, uint32_t flags)
{
    assert_string_equal(w->name, name);
    assert_int_equal(w->bar, bar);
    assert_int_equal(w->offset, offset);
    assert_int_equal(w->length, length);
    assert_int_equal(w->flags, flags);
}

#define RW (CAPDRV_WINDOW_READ | CAPDRV_WINDOW_WRITE)

static void test_full(void **state)
{
    struct mt *t = *state;
    struct shim_manifest m;
    parse_file(t, "good_full", &m);
    assert_int_equal(m.backend, CAPDRV_DMA_BACKEND_BROKERED);
    assert_int_equal(m.n_grants, 3);

    const struct shim_manifest_grant *g = &m.grants[0];
    assert_string_equal(g->name, "blk0");
    assert_string_equal(g->provider, "blk-provider");
    assert_int_equal(g->cls, CAPDRV_GRANT_DMA_CAPABLE);
    assert_int_equal(g->match_flags, SHIM_MATCH_ID | SHIM_MATCH_CLASS | SHIM_MATCH_ADDR);
    assert_int_equal(g->vendor, 0x1af4);
    assert_int_equal(g->device, 0x1042);
    assert_int_equal(g->class_code, 0x010000);
    assert_int_equal(g->class_mask, 0xff0000);
    assert_int_equal(g->addr.domain, 0);
    assert_int_equal(g->addr.bus, 0);
    assert_int_equal(g->addr.dev, 4);
    assert_int_equal(g->addr.fn, 0);
    assert_int_equal(g->pool_bytes, 0x100400000ull);
    assert_int_equal(g->pool_buffers, 64);
    assert_int_equal(g->n_irqs, 2);
    assert_int_equal(g->backend, CAPDRV_DMA_BACKEND_DIRECT);
    assert_int_equal(g->n_windows, 3);
    check_window(&g->windows[0], "regs", 0, 0, 0x1000, RW);
    check_window(&g->windows[1], "notify", 4, 0x3000, 0x1000, CAPDRV_WINDOW_WRITE);
    check_window(&g->windows[2], "isr", 4, 0x200001000ull, 0x100000020ull, CAPDRV_WINDOW_READ);

    g = &m.grants[1];
    assert_string_equal(g->name, "nvme0");
    assert_string_equal(g->provider, "nvme-provider");
    assert_int_equal(g->cls, CAPDRV_GRANT_NVME_CONTROLLER);
    assert_int_equal(g->match_flags, SHIM_MATCH_CLASS);
    assert_int_equal(g->vendor, 0);
    assert_int_equal(g->device, 0);
    assert_int_equal(g->class_code, 0x010802);
    assert_int_equal(g->class_mask, 0xffffff);
    assert_int_equal(g->pool_bytes, 0x100000);
    assert_int_equal(g->pool_buffers, 1024); /* the default */
    assert_int_equal(g->n_irqs, 0);
    assert_int_equal(g->backend, CAPDRV_DMA_BACKEND_AUTO);
    assert_int_equal(g->n_windows, 1);
    check_window(&g->windows[0], "ctrl", 0, 0, 0x2000, RW);

    g = &m.grants[2];
    assert_string_equal(g->name, "raw-fn_1.x+y,z");
    assert_string_equal(g->provider, "raw");
    assert_int_equal(g->cls, CAPDRV_GRANT_ANY_FUNCTION);
    assert_int_equal(g->match_flags, SHIM_MATCH_ADDR);
    assert_int_equal(g->addr.domain, 0xabcd);
    assert_int_equal(g->addr.bus, 0xef);
    assert_int_equal(g->addr.dev, 0x1f);
    assert_int_equal(g->addr.fn, 7);
    assert_int_equal(g->pool_bytes, 0);
    assert_int_equal(g->pool_buffers, 0);
    assert_int_equal(g->n_irqs, 0);
    assert_int_equal(g->backend, CAPDRV_DMA_BACKEND_AUTO);
    assert_int_equal(g->n_windows, 0);
    mt_free(t, &m);
}

static void test_minimal(void **state)
{
    struct mt *t = *state;
    struct shim_manifest m;
    parse_file(t, "good_minimal", &m);
    assert_int_equal(m.backend, CAPDRV_DMA_BACKEND_AUTO);
    assert_int_equal(m.n_grants, 1);
    const struct shim_manifest_grant *g = &m.grants[0];
    assert_string_equal(g->name, "g");
    assert_string_equal(g->provider, "p");
    assert_int_equal(g->cls, CAPDRV_GRANT_ANY_FUNCTION);
    assert_int_equal(g->match_flags, SHIM_MATCH_ADDR);
    assert_int_equal(g->addr.domain, 0);
    assert_int_equal(g->addr.bus, 0);
    assert_int_equal(g->addr.dev, 0);
    assert_int_equal(g->addr.fn, 0);
    assert_int_equal(g->pool_bytes, 0);
    assert_int_equal(g->pool_buffers, 0);
    assert_int_equal(g->n_irqs, 0);
    assert_int_equal(g->backend, CAPDRV_DMA_BACKEND_AUTO);
    assert_int_equal(g->n_windows, 0);
    mt_free(t, &m);
}

/* MMIO devices: match-mmio alone, a 64-bit base, windows on "BAR 0". */
static void test_mmio(void **state)
{
    struct mt *t = *state;
    struct shim_manifest m;
    parse_file(t, "good_mmio", &m);
    assert_int_equal(m.n_grants, 2);
    const struct shim_manifest_grant *g = &m.grants[0];
    assert_string_equal(g->name, "vblk");
    assert_int_equal(g->cls, CAPDRV_GRANT_DMA_CAPABLE);
    assert_int_equal(g->match_flags, SHIM_MATCH_MMIO);
    assert_int_equal(g->mmio_base, 0x0a003e00u);
    assert_int_equal(g->pool_bytes, 0x100000u);
    assert_int_equal(g->pool_buffers, 1024);
    assert_int_equal(g->n_irqs, 1);
    assert_int_equal(g->n_windows, 1);
    check_window(&g->windows[0], "regs", 0, 0, 0x200, RW);
    g = &m.grants[1];
    assert_string_equal(g->name, "high");
    assert_int_equal(g->match_flags, SHIM_MATCH_MMIO);
    assert_true(g->mmio_base == 0x100000004ull);
    assert_int_equal(g->n_windows, 0);
    mt_free(t, &m);
}

static void test_compat_list(void **state)
{
    struct mt *t = *state;
    struct shim_manifest m;
    parse_file(t, "good_compat_list", &m);
    assert_int_equal(m.backend, CAPDRV_DMA_BACKEND_DIRECT);
    assert_int_equal(m.n_grants, 2);
    const struct shim_manifest_grant *g = &m.grants[0];
    assert_string_equal(g->name, "a");
    assert_string_equal(g->provider, "p1");
    assert_int_equal(g->cls, CAPDRV_GRANT_DMA_CAPABLE);
    assert_int_equal(g->match_flags, SHIM_MATCH_ID);
    assert_int_equal(g->vendor, 0x1b36);
    assert_int_equal(g->device, 0x00f0);
    assert_int_equal(g->pool_bytes, 0x10000);
    assert_int_equal(g->pool_buffers, 1);
    assert_int_equal(g->n_windows, 1);
    check_window(&g->windows[0], "regs", 2, 0x800, 0x100, RW);
    g = &m.grants[1];
    assert_string_equal(g->name, "b");
    assert_string_equal(g->provider, "p2");
    assert_int_equal(g->cls, CAPDRV_GRANT_ANY_FUNCTION);
    assert_int_equal(g->match_flags, SHIM_MATCH_ID);
    assert_int_equal(g->vendor, 0x1234);
    assert_int_equal(g->device, 0x5678);
    assert_int_equal(g->n_irqs, 1);
    assert_int_equal(g->pool_bytes, 0);
    assert_int_equal(g->pool_buffers, 0);
    assert_int_equal(g->n_windows, 0);
    mt_free(t, &m);
}

static void test_limits(void **state)
{
    struct mt *t = *state;
    struct shim_manifest m;
    parse_file(t, "good_limits", &m);
    assert_int_equal(m.backend, CAPDRV_DMA_BACKEND_AUTO);
    assert_int_equal(m.n_grants, SHIM_MAX_GRANTS);
    const struct shim_manifest_grant *g = &m.grants[0];
    assert_string_equal(g->name, "Gaaaaaaaaaaaaaaaaaaaaaaaaaaaaa9");
    assert_int_equal(strlen(g->name), CAPDRV_NAME_MAX - 1);
    assert_string_equal(g->provider, "~PPPPPPPPPPPPPPPPPPPPPPPPPPPPP!");
    assert_int_equal(g->cls, CAPDRV_GRANT_NVME_CONTROLLER);
    assert_int_equal(g->match_flags, SHIM_MATCH_ID | SHIM_MATCH_CLASS | SHIM_MATCH_ADDR);
    assert_int_equal(g->vendor, 0xffff);
    assert_int_equal(g->device, 0xffff);
    assert_int_equal(g->class_code, 0xffffff);
    assert_int_equal(g->class_mask, 0xffffff);
    assert_int_equal(g->addr.domain, 0xffff);
    assert_int_equal(g->addr.bus, 0xff);
    assert_int_equal(g->addr.dev, 0x1f);
    assert_int_equal(g->addr.fn, 7);
    assert_int_equal(g->pool_bytes, UINT64_MAX);
    assert_int_equal(g->pool_buffers, UINT32_MAX);
    assert_int_equal(g->n_irqs, SHIM_MAX_IRQS);
    assert_int_equal(g->backend, CAPDRV_DMA_BACKEND_DIRECT);
    assert_int_equal(g->n_windows, SHIM_MAX_WINDOWS);
    static const uint32_t flags[3] = {CAPDRV_WINDOW_READ, CAPDRV_WINDOW_WRITE, RW};
    for (unsigned i = 0; i < 7; i++) {
        char name[8];
        snprintf(name, sizeof name, "w%u", i);
        check_window(&g->windows[i], name, i % 6, i * 0x1000u, 0x1000, flags[i % 3]);
    }
    check_window(&g->windows[7], "Zzzzzzzzzzzzzzzzzzzzzzzzzzzzzz_", 5, UINT64_MAX - 1, 1, RW);
    for (unsigned i = 1; i < SHIM_MAX_GRANTS; i++) {
        char name[8];
        snprintf(name, sizeof name, "g%u", i);
        g = &m.grants[i];
        assert_string_equal(g->name, name);
        assert_string_equal(g->provider, "p");
        assert_int_equal(g->cls, CAPDRV_GRANT_ANY_FUNCTION);
        assert_int_equal(g->match_flags, SHIM_MATCH_ID);
        assert_int_equal(g->vendor, 0x1234);
        assert_int_equal(g->device, i);
        assert_int_equal(g->n_windows, 0);
    }
    mt_free(t, &m);
}

/* The reason buffer is optional and may be tiny; success leaves it empty. */
static void test_why_optional(void **state)
{
    struct mt *t = *state;
    size_t len;
    void *blob = mt_load("good_minimal", &len);
    struct shim_manifest m;
    assert_int_equal(mt_parse(t, blob, len, &m, NULL, 0), 0);
    mt_free(t, &m);
    char why[4] = "abc";
    assert_int_equal(mt_parse(t, blob, len, &m, why, sizeof why), 0);
    assert_string_equal(why, "");
    mt_free(t, &m);
    shim_manifest_free(t->env, &m); /* double free of a freed manifest is a no-op */
    shim_manifest_free(t->env, NULL);
    free(blob);
}

/* Memory reservations mean nothing to a manifest and are ignored. */
static void test_memreserve_ignored(void **state)
{
    struct mt *t = *state;
    struct fb b;
    b.buf = malloc(1u << 16);
    assert_non_null(b.buf);
    assert_int_equal(fdt_create(b.buf, 1 << 16), 0);
    assert_int_equal(fdt_add_reservemap_entry(b.buf, 0x1000, 0x1000), 0);
    assert_int_equal(fdt_finish_reservemap(b.buf), 0);
    b.err = 0;
    fb_node(&b, "");
    fb_str(&b, "compatible", "capdrv,manifest-v1");
    fb_node(&b, "grants");
    fb_grant(&b, "g0");
    fb_end(&b);
    fb_end(&b);
    size_t len;
    void *blob = fb_finish(&b, &len);
    struct shim_manifest m;
    assert_int_equal(mt_parse(t, blob, len, &m, NULL, 0), 0);
    assert_int_equal(m.n_grants, 1);
    mt_free(t, &m);
    free(blob);
}

/* A blob inside a larger buffer: only totalsize bytes are read. */
static void test_trailing_bytes(void **state)
{
    struct mt *t = *state;
    size_t len;
    void *blob = mt_load("good_full", &len);
    unsigned char *big = calloc(1, len + 4096);
    assert_non_null(big);
    memcpy(big, blob, len);
    memset(big + len, 0xff, 4096);
    struct shim_manifest m;
    assert_int_equal(mt_parse(t, big, len + 4096, &m, NULL, 0), 0);
    assert_int_equal(m.n_grants, 3);
    mt_free(t, &m);
    free(big);
    free(blob);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_full, mt_setup, mt_teardown),
        cmocka_unit_test_setup_teardown(test_minimal, mt_setup, mt_teardown),
        cmocka_unit_test_setup_teardown(test_mmio, mt_setup, mt_teardown),
        cmocka_unit_test_setup_teardown(test_compat_list, mt_setup, mt_teardown),
        cmocka_unit_test_setup_teardown(test_limits, mt_setup, mt_teardown),
        cmocka_unit_test_setup_teardown(test_why_optional, mt_setup, mt_teardown),
        cmocka_unit_test_setup_teardown(test_memreserve_ignored, mt_setup, mt_teardown),
        cmocka_unit_test_setup_teardown(test_trailing_bytes, mt_setup, mt_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
