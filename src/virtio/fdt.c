/* Discovery of virtio-mmio devices in a flattened device tree (Linux
 * binding virtio/mmio.yaml: compatible "virtio,mmio", reg, interrupts;
 * Devicetree Specification v0.4 §2.3 standard properties, §2.4 interrupts).
 * The blob is hostile input: it is validated as a whole with
 * fdt_check_full() before any node is read, and every property's length is
 * checked before its cells are decoded. One pass over the structure block
 * keeps the ancestors of the current node, so parents, inherited
 * interrupt-parent and paths cost no re-walk of the tree. */
#include <capdrv/virtio_mmio.h>

#include <libfdt.h>

#include <capdrv_shim/fdt_guard.h>

#include <string.h>

/* Devicetree Specification v0.4 §2.3.5: defaults when the parent does not
 * say. */
#define DEFAULT_ADDRESS_CELLS 2u
#define DEFAULT_SIZE_CELLS 1u
/* Deepest node whose ancestry is kept; a matching node deeper than this
 * is refused. Real trees are a handful of levels deep. */
#define MAX_DEPTH 32
/* Oldest blob layout accepted (see capdrv_virtio_mmio_scan()). */
#define MIN_VERSION 17u

struct walk {
    const void *fdt;
    int stack[MAX_DEPTH]; /* stack[d]: the current ancestor at depth d */
    int depth;            /* depth of the current node */
    /* The last interrupt controller looked up by phandle: most trees have
     * one, so each node does not search the blob again. */
    uint32_t cached_phandle, cached_cells;
    int cached_rc;
};

static uint32_t be32_at(const void *p, unsigned i)
{
    const uint8_t *b = (const uint8_t *)p + 4u * i;
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* A one-cell property of @node: 0 found, 1 absent, -CAPDRV_EPROTO when it
 * is not exactly one cell. */
static int u32_prop(const void *fdt, int node, const char *name, uint32_t *val)
{
    int len;
    const void *p = fdt_getprop(fdt, node, name, &len);
    if (!p)
        return len == -FDT_ERR_NOTFOUND ? 1 : -CAPDRV_EPROTO;
    if (len != 4)
        return -CAPDRV_EPROTO;
    *val = be32_at(p, 0);
    return 0;
}

/* #address-cells / #size-cells of @parent: 1 or 2 (a 64-bit address needs
 * no more; 0 size cells would give a zero-length register block). */
static int cells(const void *fdt, int parent, const char *name, uint32_t def, uint32_t *out)
{
    uint32_t v = def;
    int rc = u32_prop(fdt, parent, name, &v);
    if (rc < 0)
        return rc;
    if (v != 1 && v != 2)
        return -CAPDRV_EPROTO;
    *out = v;
    return 0;
}

static uint64_t read_cells(const void *p, unsigned first, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v = v << 32 | be32_at(p, first + i);
    return v;
}

/* First entry of `reg` (§2.3.6), decoded with the parent's cell counts. */
static int decode_reg(const struct walk *w, int node, struct capdrv_virtio_mmio_node *out)
{
    if (w->depth < 1)
        return -CAPDRV_EPROTO; /* the root cannot be a device */
    int parent = w->stack[w->depth - 1];
    uint32_t ac, sc;
    int rc;
    if ((rc = cells(w->fdt, parent, "#address-cells", DEFAULT_ADDRESS_CELLS, &ac)) < 0 ||
        (rc = cells(w->fdt, parent, "#size-cells", DEFAULT_SIZE_CELLS, &sc)) < 0)
        return rc;
    int len;
    const void *reg = fdt_getprop(w->fdt, node, "reg", &len);
    size_t entry = 4u * (ac + sc);
    /* Missing, empty, or not a whole number of (address, size) entries. */
    if (!reg || len <= 0 || (size_t)len % entry != 0)
        return -CAPDRV_EPROTO;
    out->base = read_cells(reg, 0, ac);
    out->size = read_cells(reg, ac, sc);
    if (out->size == 0)
        return -CAPDRV_EPROTO;
    if (out->base > UINT64_MAX - (out->size - 1u))
        return -CAPDRV_ERANGE;
    return 0;
}

/* The interrupt parent (§2.4.1): `interrupt-parent` of the node or of its
 * nearest ancestor that has one. 0: none. */
static int find_irq_parent(const struct walk *w, uint32_t *phandle)
{
    *phandle = 0;
    for (int d = w->depth; d >= 0; d--) {
        int rc = u32_prop(w->fdt, w->stack[d], "interrupt-parent", phandle);
        if (rc <= 0)
            return rc; /* found, or malformed */
    }
    return 0;
}

/* #interrupt-cells of the controller with @phandle: 0 when no node has
 * that phandle or the node does not say. */
static int irq_cells_of(struct walk *w, uint32_t phandle, uint32_t *ncells)
{
    if (w->cached_phandle == phandle) {
        *ncells = w->cached_cells;
        return w->cached_rc;
    }
    int rc = 0;
    uint32_t n = 0;
    int ctl = fdt_node_offset_by_phandle(w->fdt, phandle);
    if (ctl < 0 && ctl != -FDT_ERR_NOTFOUND) {
        rc = -CAPDRV_EPROTO; /* phandle 0xffffffff, or a broken blob */
    } else if (ctl >= 0) {
        rc = u32_prop(w->fdt, ctl, "#interrupt-cells", &n);
        if (rc == 0 && n == 0)
            rc = -CAPDRV_EPROTO; /* a controller whose specifiers are empty */
        if (rc > 0)
            rc = 0; /* absent: treat as unknown */
    }
    w->cached_phandle = phandle;
    w->cached_cells = n;
    w->cached_rc = rc;
    *ncells = n;
    return rc;
}

/* First specifier of `interrupts` (§2.4.1.1), sized by the interrupt
 * parent's #interrupt-cells. */
static int decode_irq(struct walk *w, int node, struct capdrv_virtio_mmio_node *out)
{
    int len;
    const void *p = fdt_getprop(w->fdt, node, "interrupts", &len);
    if (!p) {
        if (len != -FDT_ERR_NOTFOUND)
            return -CAPDRV_EPROTO;
        return 0; /* no interrupt: polling only */
    }
    if (len <= 0 || len % 4 != 0)
        return -CAPDRV_EPROTO;
    unsigned total = (unsigned)len / 4u;
    int rc = find_irq_parent(w, &out->irq_parent);
    if (rc < 0)
        return rc;
    uint32_t ncells = 0;
    if (out->irq_parent != 0 && (rc = irq_cells_of(w, out->irq_parent, &ncells)) < 0)
        return rc;
    if (ncells == 0) {
        /* Controller unknown: take the property as one specifier, if it is
         * small enough to be one. */
        if (total > CAPDRV_VIRTIO_MMIO_IRQ_CELLS)
            return -CAPDRV_EPROTO;
        ncells = total;
    }
    if (ncells > CAPDRV_VIRTIO_MMIO_IRQ_CELLS || total < ncells || total % ncells != 0)
        return -CAPDRV_EPROTO;
    out->irq_cells = ncells;
    for (unsigned i = 0; i < ncells; i++)
        out->irq[i] = be32_at(p, i);
    return 0;
}

/* The node's full path from the names of its ancestors. */
static int build_path(const struct walk *w, char *path, size_t cap)
{
    size_t at = 0;
    if (w->depth == 0)
        path[at++] = '/';
    for (int d = 1; d <= w->depth; d++) {
        int nlen;
        const char *name = fdt_get_name(w->fdt, w->stack[d], &nlen);
        if (!name || nlen < 0)
            return -CAPDRV_EPROTO;
        if ((size_t)nlen + 1u >= cap - at)
            return -CAPDRV_ERANGE; /* '/', the name and the final NUL */
        path[at++] = '/';
        memcpy(path + at, name, (size_t)nlen);
        at += (size_t)nlen;
    }
    path[at] = '\0';
    return 0;
}

/* `status` (§2.3.4): only "disabled" hides a node here; a malformed
 * property is not "disabled". */
static int is_disabled(const void *fdt, int node)
{
    int len;
    const char *s = fdt_getprop(fdt, node, "status", &len);
    static const char disabled[] = "disabled";
    return s && len == (int)sizeof disabled && memcmp(s, disabled, sizeof disabled) == 0;
}

static int describe(struct walk *w, int node, struct capdrv_virtio_mmio_node *out)
{
    struct capdrv_virtio_mmio_node d;
    memset(&d, 0, sizeof d);
    d.offset = node;
    int rc;
    if ((rc = build_path(w, d.path, sizeof d.path)) < 0 || (rc = decode_reg(w, node, &d)) < 0 ||
        (rc = decode_irq(w, node, &d)) < 0)
        return rc;
    if (out)
        *out = d;
    return 0;
}

/* 1: a `virtio,mmio` node; 0: another node; negative: broken property. */
static int matches(const void *fdt, int node)
{
    int rc = fdt_node_check_compatible(fdt, node, "virtio,mmio");
    if (rc == 0)
        return 1;
    if (rc == 1 || rc == -FDT_ERR_NOTFOUND)
        return 0;
    return -CAPDRV_EPROTO;
}

int capdrv_virtio_mmio_scan(const void *dtb, size_t len, struct capdrv_virtio_mmio_node *out,
                            unsigned max, unsigned *n)
{
    if (!dtb || !n || (!out && max > 0))
        return -CAPDRV_EINVAL;
    *n = 0;
    if (((uintptr_t)dtb & 7u) != 0)
        return -CAPDRV_EINVAL; /* libfdt reads the blob in place */
    /* fdt_check_full() reads the header before it knows the blob's size:
     * make sure the whole header is there first. */
    if (len < sizeof(struct fdt_header) || len > INT32_MAX)
        return -CAPDRV_EPROTO;
    /* Devicetree Specification v0.4 §5.2: version 17 is what dtc and QEMU
     * emit. Older layouts are refused before libfdt walks them: libfdt
     * 1.6.1's fdt_check_full() dereferences NULL on some pre-16 blobs
     * (tests/fuzz/regressions/virtio_fdt/version-7-check-full-null). */
    if (fdt_magic(dtb) != FDT_MAGIC || fdt_version(dtb) < MIN_VERSION ||
        fdt_totalsize(dtb) > len || fdt_totalsize(dtb) < sizeof(struct fdt_header))
        return -CAPDRV_EPROTO;
    if (!capdrv_fdt_struct_bounded(dtb, fdt_totalsize(dtb)) || fdt_check_full(dtb, len) != 0)
        return -CAPDRV_EPROTO;
    struct walk w = {.fdt = dtb};
    unsigned count = 0;
    int depth = -1; /* fdt_next_node() counts the root as one level down */
    int node = fdt_next_node(dtb, -1, &depth);
    /* fdt_next_node() reports the root's end with a negative depth. */
    for (; node >= 0 && depth >= 0; node = fdt_next_node(dtb, node, &depth)) {
        if (depth < MAX_DEPTH)
            w.stack[depth] = node;
        int m = matches(dtb, node);
        if (m < 0) {
            *n = count;
            return m;
        }
        if (m == 0 || is_disabled(dtb, node))
            continue;
        if (depth >= MAX_DEPTH) {
            *n = count;
            return -CAPDRV_EPROTO;
        }
        w.depth = depth;
        int rc = describe(&w, node, count < max ? &out[count] : NULL);
        if (rc < 0) {
            *n = count;
            return rc;
        }
        count++;
    }
    if (node < 0 && node != -FDT_ERR_NOTFOUND)
        return -CAPDRV_EPROTO;
    *n = count;
    return count > max ? -CAPDRV_ENOSPC : 0;
}
