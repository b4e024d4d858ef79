#define _DEFAULT_SOURCE /* mmap, MAP_ANONYMOUS */
#include "mtest.h"

#include <libfdt.h>
#include <sys/mman.h>
#include <unistd.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void capture_log(void *arg, int level, const char *line)
{
    struct mt *t = arg;
    if (level <= CAPDRV_LOG_WARN) {
        snprintf(t->last_warn, sizeof t->last_warn, "%s", line);
        t->n_warn++;
    }
}

int mt_setup(void **state)
{
    struct mt *t = calloc(1, sizeof *t);
    if (!t)
        return -1;
    struct capdrv_env_hosted_opts o = {.log = capture_log, .log_arg = t,
                                       .log_level = CAPDRV_LOG_DEBUG};
    t->env = capdrv_env_hosted_new(&o);
    if (!t->env) {
        free(t);
        return -1;
    }
    t->base_allocs = capdrv_env_hosted_live_allocs(t->env);
    *state = t;
    return 0;
}

int mt_teardown(void **state)
{
    struct mt *t = *state;
    int leaked = capdrv_env_hosted_live_allocs(t->env) != t->base_allocs;
    capdrv_env_hosted_free(t->env);
    free(t);
    return leaked ? -1 : 0;
}

void *mt_load_path(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    void *buf = malloc(n ? (size_t)n : 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

void *mt_load(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s.dtb", MANIFEST_DTB_DIR, name);
    return mt_load_path(path, len);
}

void *mt_copy(const void *src, size_t len)
{
    void *p = malloc(len ? len : 1);
    assert_non_null(p);
    if (len)
        memcpy(p, src, len);
    return p;
}

static int all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return 0;
    return 1;
}

static void check_name(const char *s, int printable)
{
    const char *end = memchr(s, '\0', CAPDRV_NAME_MAX);
    assert_non_null(end);
    size_t n = (size_t)(end - s);
    assert_true(n > 0 && n < CAPDRV_NAME_MAX);
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (printable)
            assert_true(c > 0x20 && c < 0x7f);
        else
            assert_true((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || strchr(",._+-", c));
    }
}

void mt_check_valid(const struct shim_manifest *m)
{
    assert_true(m->backend <= CAPDRV_DMA_BACKEND_DIRECT);
    assert_true(m->n_grants >= 1 && m->n_grants <= SHIM_MAX_GRANTS);
    assert_non_null(m->grants);
    for (unsigned i = 0; i < m->n_grants; i++) {
        const struct shim_manifest_grant *g = &m->grants[i];
        check_name(g->name, 0);
        check_name(g->provider, 1);
        for (unsigned j = 0; j < i; j++)
            assert_string_not_equal(g->name, m->grants[j].name);
        assert_true(g->cls >= CAPDRV_GRANT_ANY_FUNCTION && g->cls <= CAPDRV_GRANT_NVME_CONTROLLER);
        assert_true(g->match_flags != 0);
        assert_int_equal(g->match_flags & ~15u, 0);
        /* match-mmio stands alone; its base is 32-bit aligned. */
        if (g->match_flags & SHIM_MATCH_MMIO)
            assert_int_equal(g->match_flags, SHIM_MATCH_MMIO);
        assert_int_equal(g->mmio_base & 3u, 0);
        if (!(g->match_flags & SHIM_MATCH_MMIO))
            assert_true(g->mmio_base == 0);
        if (!(g->match_flags & SHIM_MATCH_ID))
            assert_true(g->vendor == 0 && g->device == 0);
        if (g->match_flags & SHIM_MATCH_CLASS) {
            assert_true(g->class_mask != 0 && g->class_mask <= 0xffffff);
            assert_int_equal(g->class_code & ~g->class_mask, 0);
        } else {
            assert_true(g->class_code == 0 && g->class_mask == 0);
        }
        assert_true(g->addr.dev <= 0x1f && g->addr.fn <= 7);
        assert_true((g->pool_bytes == 0) == (g->pool_buffers == 0));
        assert_true(g->n_irqs <= SHIM_MAX_IRQS);
        assert_true(g->backend <= CAPDRV_DMA_BACKEND_DIRECT);
        assert_true(g->n_windows <= SHIM_MAX_WINDOWS);
        for (unsigned w = 0; w < g->n_windows; w++) {
            const struct shim_manifest_window *win = &g->windows[w];
            check_name(win->name, 0);
            for (unsigned v = 0; v < w; v++)
                assert_string_not_equal(win->name, g->windows[v].name);
            assert_true(win->bar <= 5);
            assert_true(win->length > 0);
            assert_true(win->offset <= UINT64_MAX - win->length);
            assert_true(win->flags >= 1 && win->flags <= 3);
        }
        for (unsigned w = g->n_windows; w < SHIM_MAX_WINDOWS; w++)
            assert_true(all_zero(&g->windows[w], sizeof g->windows[w]));
    }
}

int mt_parse(struct mt *t, const void *blob, size_t len, struct shim_manifest *m, char *why,
             size_t why_len)
{
    memset(m, 0xa5, sizeof *m); /* the parser must zero it */
    unsigned warns = t->n_warn;
    if (why && why_len)
        memset(why, 'x', why_len);
    int rc = shim_manifest_parse(t->env, blob, len, m, why, why_len);
    if (why && why_len)
        assert_non_null(memchr(why, '\0', why_len));
    if (rc == 0) {
        if (why && why_len)
            assert_string_equal(why, "");
        assert_int_equal(t->n_warn, warns);
        mt_check_valid(m);
        return 0;
    }
    if (rc != -CAPDRV_EINVAL && rc != -CAPDRV_ENOMEM)
        fail_msg("unexpected rc %d", rc);
    assert_true(all_zero(m, sizeof *m));
    assert_int_equal(capdrv_env_hosted_live_allocs(t->env), t->base_allocs);
    if (why && why_len > 1)
        assert_true(why[0] != '\0');
    assert_int_equal(t->n_warn, warns + 1);
    char want[64];
    snprintf(want, sizeof want, "event=manifest-refused a=%d ", -rc);
    if (!strstr(t->last_warn, want))
        fail_msg("log line \"%s\" lacks \"%s\"", t->last_warn, want);
    return rc;
}

void mt_expect_refused(struct mt *t, const void *blob, size_t len, const char *reason)
{
    struct shim_manifest m;
    char why[256];
    int rc = mt_parse(t, blob, len, &m, why, sizeof why);
    if (rc == 0)
        shim_manifest_free(t->env, &m);
    if (rc != -CAPDRV_EINVAL)
        fail_msg("expected -EINVAL (%s), got %d", reason ? reason : "any reason", rc);
    if (reason && strcmp(why, reason) != 0)
        fail_msg("reason\n  got:  %s\n  want: %s", why, reason);
}

void mt_expect_refused_prefix(struct mt *t, const void *blob, size_t len, const char *prefix)
{
    struct shim_manifest m;
    char why[256];
    int rc = mt_parse(t, blob, len, &m, why, sizeof why);
    if (rc == 0)
        shim_manifest_free(t->env, &m);
    if (rc != -CAPDRV_EINVAL)
        fail_msg("expected -EINVAL (%s), got %d", prefix, rc);
    if (strncmp(why, prefix, strlen(prefix)) != 0)
        fail_msg("reason\n  got:  %s\n  want: %s...", why, prefix);
}

void mt_free(struct mt *t, struct shim_manifest *m)
{
    shim_manifest_free(t->env, m);
    assert_true(all_zero(m, sizeof *m));
    assert_int_equal(capdrv_env_hosted_live_allocs(t->env), t->base_allocs);
}

uint32_t mt_be32_get(const void *blob, size_t off)
{
    const unsigned char *b = (const unsigned char *)blob + off;
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

void mt_be32_set(void *blob, size_t off, uint32_t v)
{
    unsigned char *b = (unsigned char *)blob + off;
    b[0] = (unsigned char)(v >> 24);
    b[1] = (unsigned char)(v >> 16);
    b[2] = (unsigned char)(v >> 8);
    b[3] = (unsigned char)v;
}

#define FB_SIZE (1u << 20)

static void fb_check(struct fb *b, int err)
{
    if (err && !b->err)
        b->err = err;
}

void fb_start(struct fb *b)
{
    b->buf = malloc(FB_SIZE);
    assert_non_null(b->buf);
    b->err = 0;
    fb_check(b, fdt_create(b->buf, FB_SIZE));
    fb_check(b, fdt_finish_reservemap(b->buf));
}

void fb_root(struct fb *b)
{
    fb_start(b);
    fb_node(b, "");
    fb_str(b, "compatible", "capdrv,manifest-v1");
}

void fb_node(struct fb *b, const char *name)
{
    fb_check(b, fdt_begin_node(b->buf, name));
}

void fb_end(struct fb *b)
{
    fb_check(b, fdt_end_node(b->buf));
}

void fb_str(struct fb *b, const char *name, const char *s)
{
    fb_check(b, fdt_property(b->buf, name, s, (int)strlen(s) + 1));
}

void fb_raw(struct fb *b, const char *name, const void *data, int len)
{
    fb_check(b, fdt_property(b->buf, name, data, len));
}

void fb_cells(struct fb *b, const char *name, unsigned n, ...)
{
    unsigned char data[64];
    assert_true(n * 4 <= sizeof data);
    va_list ap;
    va_start(ap, n);
    for (unsigned i = 0; i < n; i++)
        mt_be32_set(data, 4 * i, va_arg(ap, uint32_t));
    va_end(ap);
    fb_raw(b, name, data, (int)(4 * n));
}

void fb_grant_open(struct fb *b, const char *name)
{
    fb_node(b, name);
    fb_str(b, "provider", "p1");
    fb_str(b, "class", "dma-capable");
    fb_cells(b, "match-id", 2, 0x1af4u, 0x1042u);
}

void fb_grant(struct fb *b, const char *name)
{
    fb_grant_open(b, name);
    fb_node(b, "window-a");
    fb_cells(b, "bar", 1, 0u);
    fb_cells(b, "offset", 2, 0u, 0u);
    fb_cells(b, "length", 2, 0u, 0x1000u);
    fb_end(b);
    fb_end(b);
}

void *fb_finish(struct fb *b, size_t *len)
{
    fb_check(b, fdt_finish(b->buf));
    if (b->err)
        fail_msg("building a blob: %s", fdt_strerror(b->err));
    *len = fdt_totalsize(b->buf);
    void *out = mt_copy(b->buf, *len);
    free(b->buf);
    b->buf = NULL;
    return out;
}

void *fb_good(size_t *len)
{
    struct fb b;
    fb_root(&b);
    fb_node(&b, "grants");
    fb_grant(&b, "g0");
    fb_end(&b);
    fb_end(&b);
    return fb_finish(&b, len);
}

void *mt_guarded(struct mt_guard *g, const void *src, size_t len)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t room = (len + 7u) & ~(size_t)7u; /* keep the blob 8-byte aligned */
    size_t data_pages = (room + page - 1) / page;
    if (data_pages == 0)
        data_pages = 1;
    g->map_len = (data_pages + 1) * page;
    g->map = mmap(NULL, g->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(g->map != MAP_FAILED);
    unsigned char *guard = (unsigned char *)g->map + data_pages * page;
    assert_int_equal(mprotect(guard, page, PROT_NONE), 0);
    unsigned char *blob = guard - room;
    if (len)
        memcpy(blob, src, len);
    return blob;
}

void mt_guarded_free(struct mt_guard *g)
{
    munmap(g->map, g->map_len);
    g->map = NULL;
}
