/* The brokered lane's leak scanner (see phys_scan.h). */
#include "phys_scan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- what counts as a leak ------------------------------------------------
 *
 * 64-bit rule: any 8 consecutive bytes (little-endian, at ANY byte offset,
 * not only 8-byte aligned) whose value lies inside a range the platform
 * handed out, [base, base + size), for any region or mapping the recorder
 * saw - the shim's own (probe pages, shadow SQs, PRP/SGL list pages) and
 * every provider buffer, live or freed. An address inside a buffer (a PRP
 * entry with an offset, a shadow slot) is as much a leak as its base.
 *
 * 32-bit rule: any 4 consecutive bytes, at any byte offset, whose value v
 * lies inside the low-32-bit image of such a range, i.e.
 * (uint32_t)(v - (uint32_t)base) < size, when v >= PS_MIN_ADDR (64 KiB). A
 * provider that received only half an address (a 4-byte register read of
 * ASQ, a truncated PRP entry, a CQE dword) has learned the page-frame bits
 * that matter. The floor is what keeps the rule from flagging ordinary
 * numbers: below 64 KiB live the lengths, counts, queue sizes, CIDs,
 * status and register fields a provider sees everywhere, and the low half
 * of a brokered token, which is the byte offset inside its buffer; a value
 * that small carries page-offset bits and a few page-number bits, and
 * names no particular memory. Everything at or above it is distinctive on
 * the sim: every address is >= CAPDRV_SIM_DMA_PHYS_BASE (0x135a7c0000),
 * whose low half 0x5a7c0000 is above the largest buffer a provider may
 * allocate (1 GiB), so no token offset can equal one, and neither can
 * test data made by ps_fill() (every 4-byte window of it is >= 0x81818181,
 * above 0x5a7c0000 plus the few MiB of address space a test uses). The high
 * half (0x13 on the sim) is a small number naming a 4 GiB span, not a
 * buffer, so it is not checked on its own; 16-bit and smaller pieces are
 * not either (they identify nothing).
 *
 * The same floor applies to 64-bit values, so the scanner stays usable on
 * a platform whose device addresses (IOVAs) start near 0. */

static int cmp_lo(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* Append [lo, hi) to @t (3 uint64_t per entry: lo, hi, base). */
static void put(uint64_t (*t)[3], unsigned *n, uint64_t lo, uint64_t hi, uint64_t base)
{
    t[*n][0] = lo;
    t[*n][1] = hi;
    t[*n][2] = base;
    (*n)++;
}

static unsigned merge(uint64_t (*t)[3], unsigned n)
{
    qsort(t, n, sizeof t[0], cmp_lo);
    unsigned m = 0;
    for (unsigned i = 0; i < n; i++) {
        if (m > 0 && t[i][0] <= t[m - 1][1]) {
            if (t[i][1] > t[m - 1][1])
                t[m - 1][1] = t[i][1];
            continue;
        }
        memmove(t[m], t[i], sizeof t[0]);
        m++;
    }
    return m;
}

static void build(struct ps_hw *h)
{
    if (h->built == h->n && (h->n64 || !h->n))
        return;
    static uint64_t t64[PS_MAX_RANGES][3], t32[2 * PS_MAX_RANGES][3];
    unsigned n64 = 0, n32 = 0;
    for (unsigned i = 0; i < h->n; i++) {
        const struct ps_range *r = &h->r[i];
        uint64_t hi = r->base + r->size < r->base ? UINT64_MAX : r->base + r->size;
        put(t64, &n64, r->base, hi, r->base);
        uint64_t lo32 = r->base & 0xffffffffu;
        uint64_t sz = r->size > 0xffffffffu ? 0x100000000ull : r->size;
        if (lo32 + sz <= 0x100000000ull) {
            put(t32, &n32, lo32, lo32 + sz, r->base);
        } else { /* the low half wraps inside the range */
            put(t32, &n32, lo32, 0x100000000ull, r->base);
            put(t32, &n32, 0, lo32 + sz - 0x100000000ull, r->base);
        }
    }
    n64 = merge(t64, n64);
    n32 = merge(t32, n32);
    for (unsigned i = 0; i < n64; i++) {
        h->s64[i].lo = t64[i][0];
        h->s64[i].hi = t64[i][1];
        h->s64[i].base = t64[i][2];
    }
    for (unsigned i = 0; i < n32; i++) {
        h->s32[i].lo = t32[i][0];
        h->s32[i].hi = t32[i][1];
        h->s32[i].base = t32[i][2];
    }
    h->n64 = n64;
    h->n32 = n32;
    h->built = h->n;
}

/* Base of the range holding @v in @t (sorted, disjoint), or 0. */
static uint64_t lookup(const struct ps_span *t, unsigned n, uint64_t v)
{
    unsigned lo = 0, hi = n;
    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;
        if (t[mid].hi <= v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && t[lo].lo <= v && v < t[lo].hi ? t[lo].base : 0;
}

/* Base of the device range that @v is an address of (64-bit rule), or 0. */
static uint64_t ps_match64(struct ps_hw *h, uint64_t v)
{
    if (v < PS_MIN_ADDR)
        return 0;
    build(h);
    return lookup(h->s64, h->n64, v);
}

/* Base of the device range whose low half @v is (32-bit rule), or 0. */
static uint64_t ps_match32(struct ps_hw *h, uint32_t v)
{
    if (v < PS_MIN_ADDR)
        return 0;
    build(h);
    return lookup(h->s32, h->n32, v);
}

const struct ps_range *ps_hw_find(struct ps_hw *h, uint64_t v)
{
    uint64_t base = ps_match64(h, v);
    for (unsigned i = 0; base && i < h->n; i++)
        if (v >= h->r[i].base && v - h->r[i].base < h->r[i].size)
            return &h->r[i];
    return NULL;
}

const struct ps_range *ps_hw_range(const struct ps_hw *h, unsigned i)
{
    return i < h->n ? &h->r[i] : NULL;
}

/* ---- reports ------------------------------------------------------------- */

void ps_report_init(struct ps_report *r)
{
    memset(r, 0, sizeof *r);
}

static void incomplete(struct ps_report *r, const char *why)
{
    if (!r->incomplete)
        snprintf(r->why, sizeof r->why, "%s", why);
    r->incomplete = true;
}

static void found(struct ps_report *r, const char *where, uint64_t off, unsigned bits,
                  uint64_t value, uint64_t base)
{
    if (r->n < PS_MAX_FINDINGS) {
        struct ps_finding *f = &r->f[r->n];
        snprintf(f->where, sizeof f->where, "%s", where);
        f->off = off;
        f->bits = bits;
        f->value = value;
        f->base = base;
    }
    r->n++;
    if (bits == 64)
        r->n64++;
    else
        r->n32++;
}

static void merge_report(struct ps_report *dst, const struct ps_report *src)
{
    unsigned long c64 = 0, c32 = 0;
    for (unsigned long i = 0; i < src->n && i < PS_MAX_FINDINGS; i++) {
        found(dst, src->f[i].where, src->f[i].off, src->f[i].bits, src->f[i].value,
              src->f[i].base);
        if (src->f[i].bits == 64)
            c64++;
        else
            c32++;
    }
    /* Findings past the first PS_MAX_FINDINGS: counted, not kept. */
    dst->n += src->n - (c64 + c32);
    dst->n64 += src->n64 - c64;
    dst->n32 += src->n32 - c32;
    if (src->incomplete)
        incomplete(dst, src->why);
}

const char *ps_report_str(const struct ps_report *r, char *buf, size_t len)
{
    size_t at = 0;
    int k = snprintf(buf, len,
                     "%lu finding(s) (%lu x 64-bit, %lu x 32-bit); scanned %lu buffers (%lu bytes), "
                     "%lu windows, %lu register reads, %lu config reads%s%s",
                     r->n, r->n64, r->n32, r->bufs, r->buf_bytes, r->windows, r->mmio_ok,
                     r->cfg_ok, r->incomplete ? "; INCOMPLETE: " : "",
                     r->incomplete ? r->why : "");
    at = k > 0 ? (size_t)k : 0;
    for (unsigned long i = 0; i < r->n && i < PS_MAX_FINDINGS && at < len; i++) {
        const struct ps_finding *f = &r->f[i];
        k = snprintf(buf + at, len - at, "\n  %s +0x%llx: %u-bit 0x%llx (range at 0x%llx)",
                     f->where, (unsigned long long)f->off, f->bits,
                     (unsigned long long)f->value, (unsigned long long)f->base);
        at += k > 0 ? (size_t)k : 0;
    }
    return buf;
}

bool ps_report_has(const struct ps_report *r, const char *where_prefix, uint64_t off,
                   unsigned bits)
{
    for (unsigned long i = 0; i < r->n && i < PS_MAX_FINDINGS; i++) {
        const struct ps_finding *f = &r->f[i];
        if (strncmp(f->where, where_prefix, strlen(where_prefix)) == 0 && f->off == off &&
            (bits == 0 || f->bits == bits))
            return true;
    }
    return false;
}

static uint64_t le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static bool all_valid(const uint8_t *valid, size_t i, unsigned n)
{
    if (!valid)
        return true;
    for (unsigned k = 0; k < n; k++)
        if (!valid[i + k])
            return false;
    return true;
}

/* Windows starting in [from, to) of p[0, n). */
static void scan_range(struct ps_hw *h, struct ps_report *r, const char *where, const uint8_t *p,
                       const uint8_t *valid, size_t n, uint64_t off0, size_t from, size_t to)
{
    if (h->overflow)
        incomplete(r, "more device ranges than the recorder holds");
    for (size_t i = from; i < to && i + 4 <= n; i++) {
        uint64_t base;
        if (i + 8 <= n && all_valid(valid, i, 8)) {
            uint64_t v = le(p + i, 8);
            if ((base = ps_match64(h, v)) != 0) {
                found(r, where, off0 + i, 64, v, base);
                continue; /* its low half is the same leak */
            }
        }
        if (all_valid(valid, i, 4)) {
            uint32_t v = (uint32_t)le(p + i, 4);
            if ((base = ps_match32(h, v)) != 0)
                found(r, where, off0 + i, 32, v, base);
        }
    }
}

void ps_scan_bytes(struct ps_hw *h, struct ps_report *r, const char *where, const uint8_t *p,
                   const uint8_t *valid, size_t n, uint64_t off0)
{
    scan_range(h, r, where, p, valid, n, off0, 0, n);
}

/* An image changed at [off, off + w): rescan the windows touching it. */
static void scan_around(struct ps_hw *h, struct ps_report *r, const char *where,
                        const uint8_t *img, const uint8_t *valid, size_t n, size_t off, size_t w)
{
    size_t from = off >= 7 ? off - 7 : 0;
    scan_range(h, r, where, img, valid, n, 0, from, off + w);
}

/* Test data that is never an address: every byte odd and >= 0x81. No 4
 * bytes of it read below 0x81818181, far above the low halves the sim
 * hands out (0x5a7c0000 plus the few MiB of address space a test
 * allocates), and no 8 bytes have the zero top bytes of a sim address. */
void ps_fill(void *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        ((uint8_t *)p)[i] = (uint8_t)(0x81u | ((i * 13u + seed * 7u + (i >> 9)) & 0x7eu));
}

/* ---- the platform recorder ----------------------------------------------- */

static struct ps_hw *PH(void *ctx)
{
    return ctx;
}

static void record(struct ps_hw *h, uint64_t base, uint64_t size, uint64_t phys, unsigned fn,
                   bool is_map)
{
    if (h->n == PS_MAX_RANGES) {
        h->overflow = true;
        return;
    }
    h->r[h->n++] = (struct ps_range){
        .base = base, .size = size, .phys = phys, .fn = fn, .is_map = is_map, .live = true};
}

static int ph_dma_alloc(void *ctx, size_t n, struct capdrv_hw_dma *o)
{
    struct ps_hw *h = PH(ctx);
    int rc = h->inner.ops->dma_alloc(h->inner.ctx, n, o);
    if (rc == 0)
        record(h, o->phys, o->size, o->phys, 0, false);
    return rc;
}

static void ph_dma_free(void *ctx, struct capdrv_hw_dma *m)
{
    struct ps_hw *h = PH(ctx);
    /* The platform unmaps it from every function first (hw.h). */
    for (unsigned i = 0; i < h->n; i++)
        if (h->r[i].live && h->r[i].phys == m->phys && h->r[i].size == m->size)
            h->r[i].live = false;
    h->inner.ops->dma_free(h->inner.ctx, m);
}

static int ph_dma_map(void *ctx, unsigned fn, const struct capdrv_hw_dma *m, uint64_t iova,
                      uint64_t *d)
{
    struct ps_hw *h = PH(ctx);
    int rc = h->inner.ops->dma_map(h->inner.ctx, fn, m, iova, d);
    if (rc == 0)
        record(h, *d, m->size, m->phys, fn, true);
    return rc;
}

static int ph_dma_unmap(void *ctx, unsigned fn, const struct capdrv_hw_dma *m, uint64_t d)
{
    struct ps_hw *h = PH(ctx);
    int rc = h->inner.ops->dma_unmap(h->inner.ctx, fn, m, d);
    if (rc == 0)
        for (unsigned i = 0; i < h->n; i++)
            if (h->r[i].live && h->r[i].is_map && h->r[i].fn == fn && h->r[i].base == d &&
                h->r[i].phys == m->phys) {
                h->r[i].live = false;
                break;
            }
    return rc;
}

static int ph_bar_read(void *ctx, unsigned fn, unsigned b, uint64_t o, unsigned w, uint64_t *v)
{
    struct ps_hw *h = PH(ctx);
    int rc = h->inner.ops->bar_read(h->inner.ctx, fn, b, o, w, v);
    if (rc == 0 && h->tamper_bar_read)
        h->tamper_bar_read(h->tamper_arg, fn, b, o, w, v);
    return rc;
}

static int ph_dma_fd(void *ctx, const struct capdrv_hw_dma *m, int *fd)
{
    struct ps_hw *h = PH(ctx);
    return h->inner.ops->dma_fd(h->inner.ctx, m, fd);
}

#define PH_FWD(name, ret, params, args) \
    static ret ph_##name params { struct ps_hw *h = PH(ctx); return h->inner.ops->name args; }
PH_FWD(caps, unsigned, (void *ctx), (h->inner.ctx))
PH_FWD(function_count, int, (void *ctx), (h->inner.ctx))
PH_FWD(function_info, int, (void *ctx, unsigned fn, struct capdrv_hw_function *o), (h->inner.ctx, fn, o))
PH_FWD(cfg_read, int, (void *ctx, unsigned fn, uint32_t o, unsigned w, uint32_t *v), (h->inner.ctx, fn, o, w, v))
PH_FWD(cfg_write, int, (void *ctx, unsigned fn, uint32_t o, unsigned w, uint32_t v), (h->inner.ctx, fn, o, w, v))
PH_FWD(bar_write, int, (void *ctx, unsigned fn, unsigned b, uint64_t o, unsigned w, uint64_t v), (h->inner.ctx, fn, b, o, w, v))
PH_FWD(irq_enable, int, (void *ctx, unsigned fn, unsigned v), (h->inner.ctx, fn, v))
PH_FWD(irq_disable, int, (void *ctx, unsigned fn, unsigned v), (h->inner.ctx, fn, v))
PH_FWD(irq_mask, int, (void *ctx, unsigned fn, unsigned v, bool m), (h->inner.ctx, fn, v, m))
PH_FWD(irq_wait, int, (void *ctx, const struct capdrv_hw_irq *s, unsigned n, int64_t t, uint64_t *r), (h->inner.ctx, s, n, t, r))
PH_FWD(function_reset, int, (void *ctx, unsigned fn), (h->inner.ctx, fn))

void ps_hw_install(struct ps_hw *h, struct capdrv_hw *hw, struct capdrv_sim *sim)
{
    memset(h, 0, sizeof *h);
    h->inner = *hw;
    h->sim = sim;
    h->ops = (struct capdrv_hw_ops){
        .caps = ph_caps, .function_count = ph_function_count, .function_info = ph_function_info,
        .cfg_read = ph_cfg_read, .cfg_write = ph_cfg_write, .bar_read = ph_bar_read,
        .bar_write = ph_bar_write, .dma_alloc = ph_dma_alloc, .dma_free = ph_dma_free,
        .dma_map = ph_dma_map, .dma_unmap = ph_dma_unmap, .irq_enable = ph_irq_enable,
        .irq_disable = ph_irq_disable, .irq_mask = ph_irq_mask, .irq_wait = ph_irq_wait,
        .function_reset = ph_function_reset,
        .dma_fd = hw->ops->dma_fd ? ph_dma_fd : NULL};
    *hw = (struct capdrv_hw){.ops = &h->ops, .ctx = h};
}

/* The recorder saw every region and mapping the platform holds now. */
static void cross_check(struct ps_hw *h, struct ps_report *r)
{
    if (!h->sim)
        return;
    struct capdrv_sim_dma_stats st;
    if (capdrv_sim_dma_stats(h->sim, &st) < 0) {
        incomplete(r, "capdrv_sim_dma_stats failed");
        return;
    }
    size_t regions = 0, maps = 0;
    for (unsigned i = 0; i < h->n; i++) {
        if (!h->r[i].live)
            continue;
        if (h->r[i].is_map)
            maps++;
        else
            regions++;
    }
    if (regions != st.regions || maps != st.mappings) {
        char why[128];
        snprintf(why, sizeof why, "recorder: %zu regions %zu mappings live, sim: %zu / %zu",
                 regions, maps, st.regions, st.mappings);
        incomplete(r, why);
    }
}

/* ---- the recording connection --------------------------------------------- */

static struct ps_conn *PC(capdrv_sys *s)
{
    return (struct ps_conn *)(void *)s;
}

static void put_le(uint8_t *p, unsigned n, uint64_t v)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void check_value(struct ps_conn *c, const char *where, uint64_t v)
{
    uint8_t b[8];
    put_le(b, 8, v);
    ps_scan_bytes(c->hw, &c->live, where, b, NULL, 8, 0);
}

static void check_info(struct ps_conn *c, const char *where, const struct capdrv_dmabuf_info *bi)
{
    /* The CPU pointer is the provider's own mapping, not a device address. */
    check_value(c, where, bi->ref_base);
    check_value(c, where, bi->size);
}

static int pc_grant_open(capdrv_sys *s, unsigned i, capdrv_cap_t *g)
{
    struct ps_conn *c = PC(s);
    int rc = c->inner->ops->grant_open(c->inner, i, g);
    if (rc == 0) {
        unsigned k = 0;
        while (k < PS_MAX_GRANTS && c->grants[k].cap)
            k++;
        if (k == PS_MAX_GRANTS) {
            c->overflow = true;
        } else {
            c->grants[k].cap = *g;
            memset(c->grants[k].valid, 0, sizeof c->grants[k].valid);
        }
    }
    return rc;
}

static int pc_grant_info(capdrv_sys *s, unsigned i, struct capdrv_grant_info *o)
{
    struct ps_conn *c = PC(s);
    int rc = c->inner->ops->grant_info(c->inner, i, o);
    if (rc == 0)
        ps_scan_bytes(c->hw, &c->live, "grant_info", (const uint8_t *)o, NULL, sizeof *o, 0);
    return rc;
}

static int pc_window_info(capdrv_sys *s, capdrv_cap_t g, unsigned w, struct capdrv_window_info *o)
{
    struct ps_conn *c = PC(s);
    int rc = c->inner->ops->window_info(c->inner, g, w, o);
    if (rc == 0)
        ps_scan_bytes(c->hw, &c->live, "window_info", (const uint8_t *)o, NULL, sizeof *o, 0);
    return rc;
}

static int pc_mmio_open(capdrv_sys *s, capdrv_cap_t g, unsigned w, capdrv_cap_t *m)
{
    struct ps_conn *c = PC(s);
    int rc = c->inner->ops->mmio_open(c->inner, g, w, m);
    if (rc < 0)
        return rc;
    unsigned k = 0;
    while (k < PS_MAX_MMIO && c->mmio[k].cap)
        k++;
    struct capdrv_window_info wi;
    if (k == PS_MAX_MMIO || c->inner->ops->window_info(c->inner, g, w, &wi) < 0 ||
        wi.length > (1u << 20)) {
        c->overflow = true;
        return rc;
    }
    struct ps_mmio_rec *mr = &c->mmio[k];
    mr->img = calloc(1, (size_t)wi.length);
    mr->valid = calloc(1, (size_t)wi.length);
    if (!mr->img || !mr->valid) {
        free(mr->img);
        free(mr->valid);
        mr->img = mr->valid = NULL;
        c->overflow = true;
        return rc;
    }
    mr->cap = *m;
    mr->grant = g;
    mr->window = w;
    mr->len = wi.length;
    return rc;
}

static int pc_mmio_read(capdrv_sys *s, capdrv_cap_t m, uint64_t o, unsigned w, uint64_t *v)
{
    struct ps_conn *c = PC(s);
    int rc = c->inner->ops->mmio_read(c->inner, m, o, w, v);
    if (rc < 0)
        return rc;
    for (unsigned k = 0; k < PS_MAX_MMIO; k++) {
        struct ps_mmio_rec *mr = &c->mmio[k];
        if (mr->cap != m || !mr->img || o >= mr->len || w > mr->len - o)
            continue;
        put_le(mr->img + o, w, *v);
        memset(mr->valid + o, 1, w);
        char where[40];
        snprintf(where, sizeof where, "read mmio %u", mr->window);
        scan_around(c->hw, &c->live, where, mr->img, mr->valid, (size_t)mr->len, (size_t)o, w);
        return rc;
    }
    check_value(c, "read mmio ?", *v); /* a window opened before the wrap */
    return rc;
}

static int pc_cfg_read(capdrv_sys *s, capdrv_cap_t g, uint32_t o, unsigned w, uint32_t *v)
{
    struct ps_conn *c = PC(s);
    int rc = c->inner->ops->cfg_read(c->inner, g, o, w, v);
    if (rc < 0)
        return rc;
    for (unsigned k = 0; k < PS_MAX_GRANTS; k++) {
        if (c->grants[k].cap != g || o >= 4096 || w > 4096 - o)
            continue;
        put_le(c->grants[k].img + o, w, *v);
        memset(c->grants[k].valid + o, 1, w);
        scan_around(c->hw, &c->live, "read cfg", c->grants[k].img, c->grants[k].valid, 4096, o, w);
        return rc;
    }
    check_value(c, "read cfg ?", *v);
    return rc;
}

static int pc_dma_alloc(capdrv_sys *s, capdrv_cap_t pool, size_t size, capdrv_cap_t *buf,
                        struct capdrv_dmabuf_info *info)
{
    struct ps_conn *c = PC(s);
    int rc = c->inner->ops->dma_alloc(c->inner, pool, size, buf, info);
    if (rc < 0)
        return rc;
    check_info(c, "dma_alloc info", info);
    for (unsigned k = 0; k < PS_MAX_BUFS; k++)
        if (!c->bufs[k]) {
            c->bufs[k] = *buf;
            return rc;
        }
    c->overflow = true;
    return rc;
}

static int pc_dmabuf_info(capdrv_sys *s, capdrv_cap_t b, struct capdrv_dmabuf_info *i)
{
    struct ps_conn *c = PC(s);
    int rc = c->inner->ops->dmabuf_info(c->inner, b, i);
    if (rc == 0)
        check_info(c, "dmabuf_info", i);
    return rc;
}

static int pc_irq_wait(capdrv_sys *s, const capdrv_cap_t *i, unsigned n, int64_t t, uint64_t *r)
{
    struct ps_conn *c = PC(s);
    int rc = c->inner->ops->irq_wait(c->inner, i, n, t, r);
    if (rc > 0)
        check_value(c, "irq_wait ready", *r);
    return rc;
}

static int pc_cap_release(capdrv_sys *s, capdrv_cap_t cap)
{
    struct ps_conn *c = PC(s);
    int rc = c->inner->ops->cap_release(c->inner, cap);
    if (rc < 0)
        return rc;
    /* Derived handles go stale with it; the scan re-validates each. */
    for (unsigned k = 0; k < PS_MAX_BUFS; k++)
        if (c->bufs[k] == cap)
            c->bufs[k] = 0;
    for (unsigned k = 0; k < PS_MAX_MMIO; k++)
        if (c->mmio[k].cap == cap)
            c->mmio[k].cap = 0; /* its image stays with it until close */
    for (unsigned k = 0; k < PS_MAX_GRANTS; k++)
        if (c->grants[k].cap == cap)
            c->grants[k].cap = 0;
    return rc;
}

static void pc_close(capdrv_sys *s)
{
    struct ps_conn *c = PC(s);
    if (c->closed)
        return;
    capdrv_sys_close(c->inner);
    for (unsigned k = 0; k < PS_MAX_MMIO; k++) {
        free(c->mmio[k].img);
        free(c->mmio[k].valid);
        c->mmio[k].img = c->mmio[k].valid = NULL;
        c->mmio[k].cap = 0;
    }
    c->closed = true;
}

#define PC_PASS(name, proto, args) \
    static int pc_##name proto { return PC(s)->inner->ops->name args; }
PC_PASS(grant_count, (capdrv_sys *s), (PC(s)->inner))
PC_PASS(grant_lane, (capdrv_sys *s, capdrv_cap_t g), (PC(s)->inner, g))
PC_PASS(grant_reset, (capdrv_sys *s, capdrv_cap_t g), (PC(s)->inner, g))
PC_PASS(mmio_write, (capdrv_sys *s, capdrv_cap_t m, uint64_t o, unsigned w, uint64_t v),
        (PC(s)->inner, m, o, w, v))
PC_PASS(cfg_write, (capdrv_sys *s, capdrv_cap_t g, uint32_t o, unsigned w, uint32_t v),
        (PC(s)->inner, g, o, w, v))
PC_PASS(pool_open, (capdrv_sys *s, capdrv_cap_t g, capdrv_cap_t *p), (PC(s)->inner, g, p))
PC_PASS(irq_open, (capdrv_sys *s, capdrv_cap_t g, unsigned v, capdrv_cap_t *i),
        (PC(s)->inner, g, v, i))
PC_PASS(irq_ack, (capdrv_sys *s, capdrv_cap_t i), (PC(s)->inner, i))
PC_PASS(irq_mask, (capdrv_sys *s, capdrv_cap_t i, bool m), (PC(s)->inner, i, m))

static const struct capdrv_sys_ops pc_ops = {
    .grant_count = pc_grant_count, .grant_info = pc_grant_info, .grant_open = pc_grant_open,
    .grant_lane = pc_grant_lane, .grant_reset = pc_grant_reset, .window_info = pc_window_info,
    .mmio_open = pc_mmio_open, .mmio_read = pc_mmio_read, .mmio_write = pc_mmio_write,
    .cfg_read = pc_cfg_read, .cfg_write = pc_cfg_write, .pool_open = pc_pool_open,
    .dma_alloc = pc_dma_alloc, .dmabuf_info = pc_dmabuf_info, .irq_open = pc_irq_open,
    .irq_wait = pc_irq_wait, .irq_ack = pc_irq_ack, .irq_mask = pc_irq_mask,
    .cap_release = pc_cap_release, .close = pc_close,
};

capdrv_sys *ps_conn_wrap(struct ps_conn *c, capdrv_sys *inner, struct ps_hw *hw)
{
    memset(c, 0, sizeof *c);
    c->sys.ops = &pc_ops;
    c->inner = inner;
    c->hw = hw;
    return &c->sys;
}

/* ---- the sweep ------------------------------------------------------------- */

static void sweep_window(struct ps_conn *c, struct ps_report *r, capdrv_cap_t mmio,
                         unsigned window, uint64_t len)
{
    if (len > (1u << 20)) {
        incomplete(r, "window too large to sweep");
        return;
    }
    uint8_t *img = malloc((size_t)len), *valid = malloc((size_t)len);
    if (!img || !valid) {
        free(img);
        free(valid);
        incomplete(r, "out of memory");
        return;
    }
    r->windows++;
    static const unsigned widths[] = {1, 2, 4, 8};
    for (unsigned wi = 0; wi < 4; wi++) {
        unsigned w = widths[wi];
        memset(img, 0, (size_t)len);
        memset(valid, 0, (size_t)len);
        for (uint64_t o = 0; o + w <= len; o += w) {
            uint64_t v = 0;
            if (c->inner->ops->mmio_read(c->inner, mmio, o, w, &v) < 0)
                continue; /* refused: the provider cannot read it either */
            r->mmio_ok++;
            put_le(img + o, w, v);
            memset(valid + o, 1, w);
        }
        char where[40];
        snprintf(where, sizeof where, "mmio %u w%u", window, w);
        ps_scan_bytes(c->hw, r, where, img, valid, (size_t)len, 0);
    }
    free(img);
    free(valid);
}

static void sweep_cfg(struct ps_conn *c, struct ps_report *r, capdrv_cap_t grant)
{
    static uint8_t img[4096], valid[4096];
    static const unsigned widths[] = {1, 2, 4};
    for (unsigned wi = 0; wi < 3; wi++) {
        unsigned w = widths[wi];
        memset(img, 0, sizeof img);
        memset(valid, 0, sizeof valid);
        for (uint32_t o = 0; o + w <= 4096; o += w) {
            uint32_t v = 0;
            if (c->inner->ops->cfg_read(c->inner, grant, o, w, &v) < 0)
                continue;
            r->cfg_ok++;
            put_le(img + o, w, v);
            memset(valid + o, 1, w);
        }
        char where[40];
        snprintf(where, sizeof where, "cfg w%u", w);
        ps_scan_bytes(c->hw, r, where, img, valid, sizeof img, 0);
    }
}

void ps_scan_provider(struct ps_conn *c, struct ps_report *r)
{
    if (c->closed) {
        incomplete(r, "connection closed");
        return;
    }
    if (c->overflow)
        incomplete(r, "more handles than the recorder holds");
    if (c->hw->overflow)
        incomplete(r, "more device ranges than the recorder holds");
    cross_check(c->hw, r);
    merge_report(r, &c->live);
    /* Every DMA buffer the provider holds, every byte. */
    for (unsigned k = 0; k < PS_MAX_BUFS; k++) {
        struct capdrv_dmabuf_info bi;
        if (!c->bufs[k] || c->inner->ops->dmabuf_info(c->inner, c->bufs[k], &bi) < 0)
            continue; /* released or torn down: no longer mapped for it */
        char where[40];
        snprintf(where, sizeof where, "dmabuf %u", k);
        ps_scan_bytes(c->hw, r, where, bi.cpu, NULL, bi.size, 0);
        r->bufs++;
        r->buf_bytes += (unsigned long)bi.size;
    }
    /* Every live grant: configuration space and every window. */
    for (unsigned k = 0; k < PS_MAX_GRANTS; k++) {
        capdrv_cap_t g = c->grants[k].cap;
        if (!g || c->inner->ops->grant_lane(c->inner, g) < 0)
            continue;
        sweep_cfg(c, r, g);
        for (unsigned w = 0;; w++) {
            struct capdrv_window_info wi;
            if (c->inner->ops->window_info(c->inner, g, w, &wi) < 0)
                break;
            capdrv_cap_t m = 0;
            bool opened = c->inner->ops->mmio_open(c->inner, g, w, &m) == 0;
            if (!opened) { /* the provider holds it */
                for (unsigned i = 0; i < PS_MAX_MMIO; i++)
                    if (c->mmio[i].cap && c->mmio[i].grant == g && c->mmio[i].window == w)
                        m = c->mmio[i].cap;
                if (!m) {
                    incomplete(r, "a window that is neither free nor recorded");
                    continue;
                }
            }
            sweep_window(c, r, m, w, wi.length);
            if (opened)
                c->inner->ops->cap_release(c->inner, m);
        }
    }
}
