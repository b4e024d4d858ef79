/* The grant manifest parser (format: manifest.h, docs/MANIFEST.md).
 *
 * The blob is hostile input. The parser validates the whole flattened tree
 * with libfdt before reading it, walks it without recursion and with fixed
 * bounds on depth and counts, reads every property as bytes of a known
 * length (no strlen/strcmp on property data), and fails closed: an unknown
 * property, node or value is refused rather than ignored, because a typo
 * must never silently drop a restriction.
 *
 * On failure nothing stays allocated, *out is zeroed, one reason naming
 * the node and property goes to @why, and the refusal is logged as
 * "manifest-refused" (a = error number, b = structure offset of the node). */
#include "manifest.h"

#include <libfdt.h>

#include <capdrv_shim/fdt_guard.h>

#include <capdrv/error.h>
#include <capdrv_shim/env.h>

#include "util.h"

#define MANIFEST_COMPATIBLE "capdrv,manifest-v1"
#define MANIFEST_MIN_VERSION 17u    /* v17 headers bound the structure block */
#define MANIFEST_MAX_DEPTH 4        /* / grants <grant> window-<name> */
#define WINDOW_PREFIX "window-"
#define WINDOW_PREFIX_LEN 7
#define DEFAULT_POOL_BUFFERS 1024u
#define REASON_NAME_MAX 40          /* longest name quoted in a reason */

/* Where the parser is, for reasons: level 0 = the blob itself, 1 = root,
 * 2 = /grants, 3 = a grant, 4 = a window. names[l] is the node at level l. */
struct mp {
    struct capdrv_env *env;
    const void *fdt;
    char *why;
    size_t why_len;
    int node;  /* structure offset of the node being read (logged) */
    int level;
    const char *names[MANIFEST_MAX_DEPTH + 1];
    int name_lens[MANIFEST_MAX_DEPTH + 1];
};

/* One property as found in the blob. */
struct prop {
    const uint8_t *data;
    int len;
    bool present;
};

/* ------------------------------------------------------------------ */
/* Reasons                                                            */

static void put(struct mp *p, const char *s)
{
    shim_str_append(p->why, p->why_len, s);
}

static void put_u64(struct mp *p, uint64_t v, bool hex)
{
    shim_str_append_u64(p->why, p->why_len, v, hex);
}

/* Quote untrusted bytes: printable ASCII only, bounded. */
static void put_name(struct mp *p, const char *s, int len)
{
    char buf[REASON_NAME_MAX + 4];
    int n = 0;
    for (int i = 0; i < len && n < REASON_NAME_MAX; i++) {
        char c = s[i];
        buf[n++] = (c >= 0x20 && c <= 0x7e) ? c : '?';
    }
    if (len > REASON_NAME_MAX) {
        buf[n++] = '.';
        buf[n++] = '.';
        buf[n++] = '.';
    }
    buf[n] = '\0';
    put(p, buf);
}

/* A NUL-terminated name from the blob (libfdt checked the terminator). */
static void put_cname(struct mp *p, const char *s)
{
    int len = 0;
    while (len <= REASON_NAME_MAX && s[len])
        len++;
    put_name(p, s, len);
}

/* "<where>: " */
static void begin(struct mp *p)
{
    shim_str_set(p->why, p->why_len, NULL, NULL);
    if (p->level <= 0) {
        put(p, "manifest");
    } else if (p->level == 1) {
        put(p, "/");
    } else {
        for (int l = 2; l <= p->level; l++) {
            if (l > 2)
                put(p, "/");
            put_name(p, p->names[l], p->name_lens[l]);
        }
    }
    put(p, ": ");
}

static int refuse(struct mp *p, const char *msg)
{
    begin(p);
    put(p, msg);
    return -CAPDRV_EINVAL;
}

/* "<where>: property "<prop>" " — the caller appends the rest. */
static void begin_prop(struct mp *p, const char *prop)
{
    begin(p);
    put(p, "property \"");
    put_cname(p, prop);
    put(p, "\" ");
}

static int refuse_prop(struct mp *p, const char *prop, const char *msg)
{
    begin_prop(p, prop);
    put(p, msg);
    return -CAPDRV_EINVAL;
}

static int refuse_prop_val(struct mp *p, const char *prop, const char *msg, uint64_t v,
                           bool hex, const char *tail)
{
    begin_prop(p, prop);
    put(p, msg);
    put_u64(p, v, hex);
    put(p, tail);
    return -CAPDRV_EINVAL;
}

static int refuse_fdt(struct mp *p, const char *msg, int err)
{
    begin(p);
    put(p, msg);
    put(p, ": ");
    put(p, fdt_strerror(err));
    return -CAPDRV_EINVAL;
}

static void enter(struct mp *p, int level, int node, const char *name, int len)
{
    p->level = level;
    p->node = node;
    p->names[level] = name;
    p->name_lens[level] = len;
}

/* ------------------------------------------------------------------ */
/* Property values                                                    */

static uint32_t be32(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* Exactly one non-empty NUL-terminated string filling the property. */
static int get_string(struct mp *p, const char *name, const struct prop *pr, const char **s,
                      int *slen)
{
    if (pr->len == 0)
        return refuse_prop(p, name, "must be a string, got an empty property");
    if (pr->data[pr->len - 1] != '\0')
        return refuse_prop(p, name, "must be a NUL-terminated string");
    for (int i = 0; i < pr->len - 1; i++)
        if (pr->data[i] == '\0')
            return refuse_prop(p, name, "must be exactly one string (found an embedded NUL)");
    if (pr->len == 1)
        return refuse_prop(p, name, "must not be empty");
    *s = (const char *)pr->data;
    *slen = pr->len - 1;
    return 0;
}

static bool bytes_eq(const char *s, int len, const char *lit)
{
    int i = 0;
    for (; i < len; i++)
        if (lit[i] == '\0' || lit[i] != s[i])
            return false;
    return lit[i] == '\0';
}

struct enum_val {
    const char *name;
    int value;
};

static int get_enum(struct mp *p, const char *name, const struct prop *pr,
                    const struct enum_val *vals, unsigned n, const char *expected, int *out)
{
    const char *s;
    int len;
    int rc = get_string(p, name, pr, &s, &len);
    if (rc < 0)
        return rc;
    for (unsigned i = 0; i < n; i++) {
        if (bytes_eq(s, len, vals[i].name)) {
            *out = vals[i].value;
            return 0;
        }
    }
    begin_prop(p, name);
    put(p, "has unknown value \"");
    put_name(p, s, len);
    put(p, "\" (expected ");
    put(p, expected);
    put(p, ")");
    return -CAPDRV_EINVAL;
}

/* Exactly @n big-endian 32-bit cells. */
static int get_cells(struct mp *p, const char *name, const struct prop *pr, unsigned n,
                     uint32_t *cells)
{
    if ((unsigned)pr->len != 4u * n) {
        begin_prop(p, name);
        put(p, n == 1 ? "must be 1 cell, got " : "must be 2 cells, got ");
        put_u64(p, (uint64_t)pr->len, false);
        put(p, pr->len == 1 ? " byte" : " bytes");
        return -CAPDRV_EINVAL;
    }
    for (unsigned i = 0; i < n; i++)
        cells[i] = be32(pr->data + 4u * i);
    return 0;
}

static int get_u32(struct mp *p, const char *name, const struct prop *pr, uint32_t *v)
{
    return get_cells(p, name, pr, 1, v);
}

/* Two cells: high word first. */
static int get_u64(struct mp *p, const char *name, const struct prop *pr, uint64_t *v)
{
    uint32_t c[2] = {0, 0}; /* set by get_cells() on success; gcc -O3 cannot tell */
    int rc = get_cells(p, name, pr, 2, c);
    if (rc == 0)
        *v = (uint64_t)c[0] << 32 | c[1];
    return rc;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* "DDDD:BB:DD.F", hex, dev <= 0x1f, fn <= 7. */
static int get_pci_addr(struct mp *p, const char *name, const struct prop *pr,
                        struct capdrv_pci_addr *a)
{
    static const char shape[] = "HHHH:HH:HH.H";
    const char *s;
    int len;
    int rc = get_string(p, name, pr, &s, &len);
    if (rc < 0)
        return rc;
    uint32_t field[4] = {0, 0, 0, 0};
    unsigned f = 0;
    bool ok = len == (int)sizeof shape - 1;
    for (int i = 0; ok && i < len; i++) {
        if (shape[i] == 'H') {
            int v = hexval(s[i]);
            ok = v >= 0;
            field[f] = field[f] << 4 | (uint32_t)(v & 0xf);
        } else {
            ok = s[i] == shape[i];
            f++;
        }
    }
    if (!ok) {
        begin_prop(p, name);
        put(p, "must look like DDDD:BB:DD.F (hex), got \"");
        put_name(p, s, len);
        put(p, "\"");
        return -CAPDRV_EINVAL;
    }
    if (field[2] > 0x1f)
        return refuse_prop_val(p, name, "has device number ", field[2], true, ", most is 0x1f");
    if (field[3] > 7)
        return refuse_prop_val(p, name, "has function number ", field[3], true, ", most is 0x7");
    a->domain = (uint16_t)field[0];
    a->bus = (uint8_t)field[1];
    a->dev = (uint8_t)field[2];
    a->fn = (uint8_t)field[3];
    return 0;
}

/* Walk the properties of @node. Each must be one of @names (its index
 * selects the slot in @out); unknown and repeated properties are refused. */
static int collect_props(struct mp *p, int node, const char *const *names, unsigned n,
                         struct prop *out)
{
    int off;
    fdt_for_each_property_offset(off, p->fdt, node)
    {
        const char *name = NULL;
        int len = 0;
        const void *data = fdt_getprop_by_offset(p->fdt, off, &name, &len);
        if (!data || !name)
            return refuse_fdt(p, "unreadable property", data ? -FDT_ERR_BADSTRUCTURE : len);
        if (len < 0)
            return refuse(p, "property with a negative length");
        unsigned i = 0;
        while (i < n && !shim_str_eq(name, names[i]))
            i++;
        if (i == n)
            return refuse_prop(p, name, "is not allowed here (unknown properties are refused)");
        if (out[i].present)
            return refuse_prop(p, name, "appears twice");
        out[i].data = data;
        out[i].len = len;
        out[i].present = true;
    }
    if (off != -FDT_ERR_NOTFOUND)
        return refuse_fdt(p, "cannot walk properties", off);
    return 0;
}

/* phandle and name are standard and grant nothing; check their shape. */
static int check_standard(struct mp *p, const struct prop *phandle, const struct prop *name)
{
    uint32_t v;
    const char *s;
    int len;
    if (phandle->present) {
        int rc = get_u32(p, "phandle", phandle, &v);
        if (rc < 0)
            return rc;
    }
    if (name->present)
        return get_string(p, "name", name, &s, &len);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Names                                                              */

/* Device-tree node-name characters without the unit-address '@'. */
static bool node_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == ',' || c == '.' || c == '_' || c == '+' || c == '-';
}

/* @what is e.g. "grant name"; @printable selects the provider rule
 * (printable ASCII without spaces) instead of node-name characters. */
static int check_name(struct mp *p, const char *what, const char *s, int len, bool printable)
{
    const char *bad = NULL;
    if (len == 0)
        bad = "\" is empty";
    else if (len >= CAPDRV_NAME_MAX)
        bad = "\" is too long";
    for (int i = 0; !bad && i < len; i++) {
        bool ok = printable ? (s[i] > 0x20 && s[i] < 0x7f) : node_char_ok(s[i]);
        if (!ok)
            bad = printable ? "\" has a space or a character that is not printable ASCII"
                            : "\" has a character outside [A-Za-z0-9,._+-]";
    }
    if (!bad)
        return 0;
    begin(p);
    put(p, what);
    put(p, " \"");
    put_name(p, s, len);
    put(p, bad);
    if (len >= CAPDRV_NAME_MAX) {
        put(p, " (");
        put_u64(p, (uint64_t)len, false);
        put(p, " bytes, longest allowed is ");
        put_u64(p, CAPDRV_NAME_MAX - 1, false);
        put(p, ")");
    }
    return -CAPDRV_EINVAL;
}

static bool prefix_eq(const char *s, int len, const char *prefix, int plen)
{
    if (len < plen)
        return false;
    for (int i = 0; i < plen; i++)
        if (s[i] != prefix[i])
            return false;
    return true;
}

/* ------------------------------------------------------------------ */
/* Structure                                                          */

/* One linear pass over every tag (no recursion): the root is the first
 * tag, nesting is at most MANIFEST_MAX_DEPTH, and no property follows a
 * subnode in the same node (libfdt's property iterator stops at the first
 * subnode, so such a property would be silently ignored). */
static int check_structure(struct mp *p)
{
    bool child_seen[MANIFEST_MAX_DEPTH + 1] = {false};
    int depth = 0;
    int off = 0, next = 0;
    uint32_t steps = fdt_size_dt_struct(p->fdt) / 4u + 1u;
    for (uint32_t step = 0; step <= steps; step++, off = next) {
        uint32_t tag = fdt_next_tag(p->fdt, off, &next);
        if (next < 0)
            return refuse_fdt(p, "bad structure block", next);
        if (off == 0 && tag != FDT_BEGIN_NODE)
            return refuse(p, "the structure block must begin with the root node");
        switch (tag) {
        case FDT_BEGIN_NODE: {
            if (depth >= MANIFEST_MAX_DEPTH) {
                p->level = MANIFEST_MAX_DEPTH;
                return refuse(p, "has a subnode; nothing nests deeper than "
                                 "/grants/<grant>/window-<name>");
            }
            int len = 0;
            const char *name = fdt_get_name(p->fdt, off, &len);
            if (!name)
                return refuse_fdt(p, "unreadable node name", len);
            child_seen[depth] = true;
            depth++;
            child_seen[depth] = false;
            enter(p, depth, off, name, len);
            break;
        }
        case FDT_END_NODE:
            if (depth == 0)
                return refuse(p, "unbalanced end of node");
            depth--;
            p->level = depth;
            break;
        case FDT_PROP:
            if (depth == 0)
                return refuse(p, "property outside any node");
            if (child_seen[depth])
                return refuse(p, "property after a subnode (properties must come first)");
            break;
        case FDT_NOP:
            break;
        case FDT_END:
            if (depth != 0)
                return refuse(p, "structure ends inside a node");
            p->level = 0;
            p->node = 0;
            return 0;
        default:
            return refuse(p, "unknown structure tag");
        }
    }
    return refuse(p, "structure block does not end");
}

/* ------------------------------------------------------------------ */
/* Nodes                                                              */

static const struct enum_val backend_vals[] = {
    {"auto", CAPDRV_DMA_BACKEND_AUTO},
    {"brokered", CAPDRV_DMA_BACKEND_BROKERED},
    {"direct", CAPDRV_DMA_BACKEND_DIRECT},
};
#define BACKEND_EXPECTED "auto | brokered | direct"

static const struct enum_val class_vals[] = {
    {"any-function", CAPDRV_GRANT_ANY_FUNCTION},
    {"dma-capable", CAPDRV_GRANT_DMA_CAPABLE},
    {"nvme-controller", CAPDRV_GRANT_NVME_CONTROLLER},
};

static const struct enum_val access_vals[] = {
    {"r", CAPDRV_WINDOW_READ},
    {"w", CAPDRV_WINDOW_WRITE},
    {"rw", CAPDRV_WINDOW_READ | CAPDRV_WINDOW_WRITE},
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

enum { WP_BAR, WP_OFFSET, WP_LENGTH, WP_ACCESS, WP_PHANDLE, WP_NAME, WP_N };
static const char *const window_props[WP_N] = {"bar", "offset", "length", "access", "phandle", "name"};

static int parse_window(struct mp *p, int node, struct shim_manifest_window *w)
{
    struct prop pr[WP_N] = {{0}};
    int rc = collect_props(p, node, window_props, WP_N, pr);
    if (rc == 0)
        rc = check_standard(p, &pr[WP_PHANDLE], &pr[WP_NAME]);
    if (rc < 0)
        return rc;
    for (unsigned i = WP_BAR; i <= WP_LENGTH; i++)
        if (!pr[i].present)
            return refuse_prop(p, window_props[i], "is missing");
    uint32_t bar = 0; /* set by get_u32() on success */
    if ((rc = get_u32(p, "bar", &pr[WP_BAR], &bar)) < 0 ||
        (rc = get_u64(p, "offset", &pr[WP_OFFSET], &w->offset)) < 0 ||
        (rc = get_u64(p, "length", &pr[WP_LENGTH], &w->length)) < 0)
        return rc;
    if (bar > 5)
        return refuse_prop_val(p, "bar", "is ", bar, false, ", BARs are 0..5");
    w->bar = bar;
    if (w->length == 0)
        return refuse_prop(p, "length", "must not be 0");
    if (w->length > UINT64_MAX - w->offset)
        return refuse_prop(p, "length", "makes offset + length overflow 64 bits");
    int flags = CAPDRV_WINDOW_READ | CAPDRV_WINDOW_WRITE;
    if (pr[WP_ACCESS].present &&
        (rc = get_enum(p, "access", &pr[WP_ACCESS], access_vals, N_OF(access_vals),
                       "r | w | rw", &flags)) < 0)
        return rc;
    w->flags = (uint32_t)flags;
    return 0;
}

enum {
    GP_PROVIDER,
    GP_CLASS,
    GP_MATCH_ID,
    GP_MATCH_CLASS,
    GP_MATCH_ADDRESS,
    GP_MATCH_MMIO,
    GP_POOL_QUOTA,
    GP_POOL_BUFFERS,
    GP_INTERRUPTS,
    GP_DMA_BACKEND,
    GP_PHANDLE,
    GP_NAME,
    GP_N
};
static const char *const grant_props[GP_N] = {
    "provider",   "class",        "match-id",   "match-class", "match-address", "match-mmio",
    "pool-quota", "pool-buffers", "interrupts", "dma-backend", "phandle",      "name"};

static int parse_grant_props(struct mp *p, int node, struct shim_manifest_grant *g)
{
    struct prop pr[GP_N] = {{0}};
    int rc = collect_props(p, node, grant_props, GP_N, pr);
    if (rc == 0)
        rc = check_standard(p, &pr[GP_PHANDLE], &pr[GP_NAME]);
    if (rc < 0)
        return rc;

    if (!pr[GP_PROVIDER].present)
        return refuse_prop(p, "provider", "is missing");
    const char *s;
    int len;
    if ((rc = get_string(p, "provider", &pr[GP_PROVIDER], &s, &len)) < 0)
        return rc;
    if ((rc = check_name(p, "property \"provider\" value", s, len, true)) < 0)
        return rc;
    shim_str_copy(g->provider, sizeof g->provider, s, (size_t)len);

    if (!pr[GP_CLASS].present)
        return refuse_prop(p, "class", "is missing");
    int v;
    if ((rc = get_enum(p, "class", &pr[GP_CLASS], class_vals, N_OF(class_vals),
                       "any-function | dma-capable | nvme-controller", &v)) < 0)
        return rc;
    g->cls = (enum capdrv_grant_class)v;

    uint32_t c[2] = {0, 0}; /* set by get_cells() on success; gcc -O3 cannot tell */
    if (pr[GP_MATCH_ID].present) {
        if ((rc = get_cells(p, "match-id", &pr[GP_MATCH_ID], 2, c)) < 0)
            return rc;
        if (c[0] > 0xffff || c[1] > 0xffff)
            return refuse_prop_val(p, "match-id", "has a value wider than 16 bits: ",
                                   c[0] > 0xffff ? c[0] : c[1], true, "");
        g->vendor = (uint16_t)c[0];
        g->device = (uint16_t)c[1];
        g->match_flags |= SHIM_MATCH_ID;
    }
    if (pr[GP_MATCH_CLASS].present) {
        if ((rc = get_cells(p, "match-class", &pr[GP_MATCH_CLASS], 2, c)) < 0)
            return rc;
        if (c[0] > 0xffffff || c[1] > 0xffffff)
            return refuse_prop_val(p, "match-class", "has a value wider than 24 bits: ",
                                   c[0] > 0xffffff ? c[0] : c[1], true, "");
        if (c[1] == 0)
            return refuse_prop(p, "match-class", "has mask 0, which matches every function");
        if (c[0] & ~c[1])
            return refuse_prop_val(p, "match-class", "has class bits outside its mask: ",
                                   c[0] & ~c[1], true, "");
        g->class_code = c[0];
        g->class_mask = c[1];
        g->match_flags |= SHIM_MATCH_CLASS;
    }
    if (pr[GP_MATCH_ADDRESS].present) {
        if ((rc = get_pci_addr(p, "match-address", &pr[GP_MATCH_ADDRESS], &g->addr)) < 0)
            return rc;
        g->match_flags |= SHIM_MATCH_ADDR;
    }
    if (pr[GP_MATCH_MMIO].present) {
        /* An MMIO device has no PCI identity or address: mixing the two
         * kinds of match could never match anything. */
        if (g->match_flags != 0)
            return refuse_prop(p, "match-mmio",
                               "cannot be combined with match-id, match-class or match-address");
        if ((rc = get_u64(p, "match-mmio", &pr[GP_MATCH_MMIO], &g->mmio_base)) < 0)
            return rc;
        /* Register blocks of MMIO devices are at least 32-bit aligned
         * (virtio-mmio: 32-bit registers, VIRTIO 1.2 §4.2.2). */
        if (g->mmio_base & 3u)
            return refuse_prop_val(p, "match-mmio", "is not 4-byte aligned: ", g->mmio_base,
                                   true, "");
        g->match_flags |= SHIM_MATCH_MMIO;
    }
    if (g->match_flags == 0)
        return refuse(p, "grant has no match-id, match-class, match-address or match-mmio");

    if (pr[GP_POOL_QUOTA].present &&
        (rc = get_u64(p, "pool-quota", &pr[GP_POOL_QUOTA], &g->pool_bytes)) < 0)
        return rc;
    if (pr[GP_POOL_BUFFERS].present) {
        if ((rc = get_u32(p, "pool-buffers", &pr[GP_POOL_BUFFERS], &g->pool_buffers)) < 0)
            return rc;
        if (g->pool_buffers > 0 && g->pool_bytes == 0)
            return refuse_prop(p, "pool-buffers", "is set but pool-quota is absent or 0");
        if (g->pool_buffers == 0 && g->pool_bytes > 0)
            return refuse_prop(p, "pool-buffers",
                               "is 0 with a non-zero pool-quota (omit it for the default)");
    } else if (g->pool_bytes > 0) {
        g->pool_buffers = DEFAULT_POOL_BUFFERS;
    }

    if (pr[GP_INTERRUPTS].present) {
        if ((rc = get_u32(p, "interrupts", &pr[GP_INTERRUPTS], &g->n_irqs)) < 0)
            return rc;
        if (g->n_irqs > SHIM_MAX_IRQS)
            return refuse_prop_val(p, "interrupts", "is ", g->n_irqs, false, ", most is 64");
    }

    g->backend = CAPDRV_DMA_BACKEND_AUTO;
    if (pr[GP_DMA_BACKEND].present) {
        if ((rc = get_enum(p, "dma-backend", &pr[GP_DMA_BACKEND], backend_vals,
                           N_OF(backend_vals), BACKEND_EXPECTED, &v)) < 0)
            return rc;
        g->backend = (enum capdrv_dma_backend)v;
    }
    return 0;
}

static int parse_grant(struct mp *p, int node, struct shim_manifest_grant *g)
{
    int len = 0;
    const char *name = fdt_get_name(p->fdt, node, &len);
    if (!name)
        return refuse_fdt(p, "unreadable grant node name", len);
    enter(p, 3, node, name, len);
    int rc = check_name(p, "grant name", name, len, false);
    if (rc < 0)
        return rc;
    shim_str_copy(g->name, sizeof g->name, name, (size_t)len);
    if ((rc = parse_grant_props(p, node, g)) < 0)
        return rc;

    int w;
    fdt_for_each_subnode(w, p->fdt, node)
    {
        p->level = 3;
        p->node = node;
        const char *wn = fdt_get_name(p->fdt, w, &len);
        if (!wn)
            return refuse_fdt(p, "unreadable window node name", len);
        if (!prefix_eq(wn, len, WINDOW_PREFIX, WINDOW_PREFIX_LEN)) {
            begin(p);
            put(p, "subnode \"");
            put_name(p, wn, len);
            put(p, "\" is not allowed (grant subnodes are window-<name>)");
            return -CAPDRV_EINVAL;
        }
        enter(p, 4, w, wn, len);
        const char *wname = wn + WINDOW_PREFIX_LEN;
        int wlen = len - WINDOW_PREFIX_LEN;
        if ((rc = check_name(p, "window name", wname, wlen, false)) < 0)
            return rc;
        if (g->n_windows == SHIM_MAX_WINDOWS)
            return refuse(p, "grant has more than 8 windows");
        struct shim_manifest_window *win = &g->windows[g->n_windows];
        shim_str_copy(win->name, sizeof win->name, wname, (size_t)wlen);
        for (unsigned i = 0; i < g->n_windows; i++)
            if (shim_str_eq(g->windows[i].name, win->name))
                return refuse(p, "window name appears twice in this grant");
        if ((rc = parse_window(p, w, win)) < 0)
            return rc;
        g->n_windows++;
    }
    p->level = 3;
    p->node = node;
    if (w != -FDT_ERR_NOTFOUND)
        return refuse_fdt(p, "cannot walk windows", w);
    return 0;
}

enum { RP_COMPATIBLE, RP_DMA_BACKEND, RP_ADDR_CELLS, RP_SIZE_CELLS, RP_MODEL, RP_PHANDLE, RP_NAME, RP_N };
static const char *const root_props[RP_N] = {"compatible", "dma-backend", "#address-cells",
                                             "#size-cells", "model",      "phandle", "name"};
enum { NP_PHANDLE, NP_NAME, NP_N };
static const char *const grants_props[NP_N] = {"phandle", "name"};

static int parse_root(struct mp *p, struct shim_manifest *m)
{
    enter(p, 1, 0, "", 0);
    struct prop pr[RP_N] = {{0}};
    int rc = collect_props(p, 0, root_props, RP_N, pr);
    if (rc == 0)
        rc = check_standard(p, &pr[RP_PHANDLE], &pr[RP_NAME]);
    if (rc < 0)
        return rc;

    /* compatible: a string list; every entry terminated; ours among them. */
    const struct prop *c = &pr[RP_COMPATIBLE];
    if (!c->present)
        return refuse_prop(p, "compatible", "is missing");
    if (c->len == 0 || c->data[c->len - 1] != '\0')
        return refuse_prop(p, "compatible", "must be a NUL-terminated string list");
    bool found = false;
    for (int i = 0; i < c->len;) {
        int j = i;
        while (c->data[j] != '\0')
            j++; /* stops at the final NUL at the latest */
        found |= bytes_eq((const char *)c->data + i, j - i, MANIFEST_COMPATIBLE);
        i = j + 1;
    }
    if (!found)
        return refuse_prop(p, "compatible", "does not contain \"" MANIFEST_COMPATIBLE "\"");

    int v = CAPDRV_DMA_BACKEND_AUTO;
    if (pr[RP_DMA_BACKEND].present &&
        (rc = get_enum(p, "dma-backend", &pr[RP_DMA_BACKEND], backend_vals, N_OF(backend_vals),
                       BACKEND_EXPECTED, &v)) < 0)
        return rc;
    m->backend = (enum capdrv_dma_backend)v;

    uint32_t cell;
    const char *s;
    int len;
    if ((pr[RP_ADDR_CELLS].present &&
         (rc = get_u32(p, "#address-cells", &pr[RP_ADDR_CELLS], &cell)) < 0) ||
        (pr[RP_SIZE_CELLS].present &&
         (rc = get_u32(p, "#size-cells", &pr[RP_SIZE_CELLS], &cell)) < 0) ||
        (pr[RP_MODEL].present && (rc = get_string(p, "model", &pr[RP_MODEL], &s, &len)) < 0))
        return rc;
    return 0;
}

/* The offset of /grants (the only root subnode allowed), or an error. */
static int find_grants(struct mp *p, int *grants)
{
    int node;
    *grants = -1;
    fdt_for_each_subnode(node, p->fdt, 0)
    {
        int len = 0;
        const char *name = fdt_get_name(p->fdt, node, &len);
        if (!name)
            return refuse_fdt(p, "unreadable node name", len);
        if (!bytes_eq(name, len, "grants")) {
            begin(p);
            put(p, "subnode \"");
            put_name(p, name, len);
            put(p, "\" is not allowed (only \"grants\")");
            return -CAPDRV_EINVAL;
        }
        if (*grants >= 0)
            return refuse(p, "node \"grants\" appears twice");
        *grants = node;
    }
    if (node != -FDT_ERR_NOTFOUND)
        return refuse_fdt(p, "cannot walk root subnodes", node);
    if (*grants < 0)
        return refuse(p, "node \"grants\" is missing");
    return 0;
}

static int parse(struct mp *p, const void *blob, size_t len, struct shim_manifest *m)
{
    p->level = 0;
    if (!blob)
        return refuse(p, "no blob");
    if (len < sizeof(struct fdt_header)) {
        begin(p);
        put(p, "blob of ");
        put_u64(p, len, false);
        put(p, " bytes is shorter than a device-tree header");
        return -CAPDRV_EINVAL;
    }
    if ((uintptr_t)blob & 7u) /* libfdt's requirement; refuse before it reads */
        return refuse(p, "blob is not 8-byte aligned");
    int err = fdt_check_header(blob);
    if (err != 0)
        return refuse_fdt(p, "bad device-tree header", err);
    if (fdt_totalsize(blob) > len) {
        begin(p);
        put(p, "header totalsize ");
        put_u64(p, fdt_totalsize(blob), false);
        put(p, " exceeds the blob length ");
        put_u64(p, len, false);
        return -CAPDRV_EINVAL;
    }
    if (fdt_version(blob) < MANIFEST_MIN_VERSION) {
        begin(p);
        put(p, "device-tree version ");
        put_u64(p, fdt_version(blob), false);
        put(p, " is older than 17");
        return -CAPDRV_EINVAL;
    }
    /* libfdt's own check can loop forever on a hostile property length
     * (capdrv_shim/fdt_guard.h): walk the tags bounded first. */
    if (!capdrv_fdt_struct_bounded(blob, len))
        return refuse(p, "malformed device tree: structure block tags run backwards or past its end");
    if ((err = fdt_check_full(blob, len)) != 0)
        return refuse_fdt(p, "malformed device tree", err);
    p->fdt = blob;
    int rc = check_structure(p);
    if (rc == 0)
        rc = parse_root(p, m);
    int grants = -1;
    if (rc == 0)
        rc = find_grants(p, &grants);
    if (rc < 0)
        return rc;

    enter(p, 2, grants, "grants", 6);
    struct prop pr[NP_N] = {{0}};
    if ((rc = collect_props(p, grants, grants_props, NP_N, pr)) < 0 ||
        (rc = check_standard(p, &pr[NP_PHANDLE], &pr[NP_NAME])) < 0)
        return rc;
    unsigned n = 0;
    int g;
    fdt_for_each_subnode(g, blob, grants)
    {
        if (++n > SHIM_MAX_GRANTS)
            return refuse(p, "more than 64 grants");
    }
    if (g != -FDT_ERR_NOTFOUND)
        return refuse_fdt(p, "cannot walk grants", g);
    if (n == 0)
        return refuse(p, "no grants");

    m->grants = capdrv_env_alloc(p->env, n * sizeof *m->grants);
    if (!m->grants) {
        p->level = 0;
        refuse(p, "out of memory for the grant table");
        return -CAPDRV_ENOMEM;
    }
    fdt_for_each_subnode(g, blob, grants)
    {
        if (m->n_grants == n) /* cannot happen: the tree is unchanged */
            return refuse(p, "grant count changed");
        struct shim_manifest_grant *gr = &m->grants[m->n_grants];
        *gr = (struct shim_manifest_grant){0};
        if ((rc = parse_grant(p, g, gr)) < 0)
            return rc;
        p->level = 3;
        for (unsigned i = 0; i < m->n_grants; i++)
            if (shim_str_eq(m->grants[i].name, gr->name))
                return refuse(p, "grant name appears twice");
        m->n_grants++;
    }
    if (g != -FDT_ERR_NOTFOUND || m->n_grants != n) {
        p->level = 2;
        return refuse_fdt(p, "cannot walk grants", g);
    }
    return 0;
}

int shim_manifest_parse(struct capdrv_env *env, const void *blob, size_t len,
                        struct shim_manifest *out, char *why, size_t why_len)
{
    struct mp p = {.env = env, .why = why, .why_len = why_len};
    if (why && why_len)
        why[0] = '\0';
    if (!out || !env)
        return refuse(&p, out ? "no environment" : "no output");
    *out = (struct shim_manifest){0};
    struct shim_manifest m = {0};
    int rc = parse(&p, blob, len, &m);
    if (rc < 0) {
        capdrv_env_free(env, m.grants);
        capdrv_env_log(env, CAPDRV_LOG_WARN, "manifest-refused", (uint64_t)-rc,
                       (uint64_t)(p.node > 0 ? p.node : 0));
        return rc;
    }
    capdrv_env_log(env, CAPDRV_LOG_DEBUG, "manifest-parsed", m.n_grants, m.backend);
    *out = m;
    return 0;
}

void shim_manifest_free(struct capdrv_env *env, struct shim_manifest *m)
{
    if (!m)
        return;
    capdrv_env_free(env, m->grants);
    *m = (struct shim_manifest){0};
}
