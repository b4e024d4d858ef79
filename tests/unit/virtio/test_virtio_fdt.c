/* capdrv_virtio_mmio_scan() (src/virtio/fdt.c) over device trees compiled
 * by dtc at build time (tests/unit/virtio/dtb/, one .dts each): a QEMU-virt-like
 * layout, 1- and 2-cell addresses, disabled and non-virtio nodes,
 * interrupt parents, malformed reg/cells/interrupts, and hostile blobs
 * (truncated, corrupted, misaligned). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libfdt.h>

#include <capdrv/virtio_mmio.h>

#ifndef DTB_DIR
#error "DTB_DIR must name the directory of the compiled test blobs"
#endif

struct blob {
    uint64_t *data; /* 8-byte aligned, as libfdt wants */
    size_t len;
};

static struct blob load(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s.dtb", DTB_DIR, name);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        fail_msg("cannot open %s", path);
    struct blob b = {NULL, 0};
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    long n = ftell(fp);
    assert_true(n > 0);
    rewind(fp);
    b.len = (size_t)n;
    b.data = calloc(1, (b.len + 7u) / 8u * 8u + 8u);
    assert_non_null(b.data);
    assert_int_equal(fread(b.data, 1, b.len, fp), b.len);
    fclose(fp);
    return b;
}

#define MAXN 40u

static void t_qemu_virt(void **state)
{
    (void)state;
    struct blob b = load("qemu_virt");
    struct capdrv_virtio_mmio_node nodes[MAXN];
    unsigned n = 0;
    assert_int_equal(capdrv_virtio_mmio_scan(b.data, b.len, nodes, MAXN, &n), 0);
    assert_int_equal(n, 32);
    int gic = fdt_path_offset(b.data, "/intc@8000000");
    assert_true(gic >= 0);
    uint32_t phandle = fdt_get_phandle(b.data, gic);
    assert_true(phandle != 0);
    /* Blob order: QEMU lists the highest transport first. */
    for (unsigned k = 0; k < 32; k++) {
        unsigned i = 31 - k;
        const struct capdrv_virtio_mmio_node *d = &nodes[k];
        char want[64];
        snprintf(want, sizeof want, "/virtio_mmio@%x", 0xa000000u + 0x200u * i);
        assert_string_equal(d->path, want);
        assert_int_equal(d->offset, fdt_path_offset(b.data, want));
        assert_int_equal(d->base, 0xa000000u + 0x200u * i);
        assert_int_equal(d->size, 0x200);
        /* GIC: type SPI (0), number 16 + i, flags edge rising (1). */
        assert_int_equal(d->irq_cells, 3);
        assert_int_equal(d->irq[0], 0);
        assert_int_equal(d->irq[1], 16 + i);
        assert_int_equal(d->irq[2], 1);
        assert_int_equal(d->irq_parent, phandle);
    }
    /* Fewer slots than nodes: the first fill, the total is reported. */
    memset(nodes, 0, sizeof nodes);
    assert_int_equal(capdrv_virtio_mmio_scan(b.data, b.len, nodes, 4, &n), -CAPDRV_ENOSPC);
    assert_int_equal(n, 32);
    assert_int_equal(nodes[3].base, 0xa000000u + 0x200u * 28);
    assert_int_equal(nodes[4].base, 0); /* not written */
    /* Count only. */
    assert_int_equal(capdrv_virtio_mmio_scan(b.data, b.len, NULL, 0, &n), -CAPDRV_ENOSPC);
    assert_int_equal(n, 32);
    free(b.data);
}

static void t_cells1(void **state)
{
    (void)state;
    struct blob b = load("cells1");
    struct capdrv_virtio_mmio_node nodes[MAXN];
    unsigned n = 0;
    assert_int_equal(capdrv_virtio_mmio_scan(b.data, b.len, nodes, MAXN, &n), 0);
    /* The disabled node and the serial port are not listed. */
    assert_int_equal(n, 2);
    uint32_t intc = fdt_get_phandle(b.data, fdt_path_offset(b.data, "/interrupt-controller@1000"));
    assert_true(intc != 0);
    assert_string_equal(nodes[0].path, "/bus@10000000/virtio@10001000");
    assert_int_equal(nodes[0].base, 0x10001000u);
    assert_int_equal(nodes[0].size, 0x1000u);
    assert_int_equal(nodes[0].irq_cells, 1);
    assert_int_equal(nodes[0].irq[0], 5);
    assert_int_equal(nodes[0].irq_parent, intc); /* inherited from the bus */
    /* status "okay", virtio,mmio second in compatible, two reg entries
     * (the first is reported), no interrupts. */
    assert_string_equal(nodes[1].path, "/bus@10000000/virtio@10003000");
    assert_int_equal(nodes[1].base, 0x10003000u);
    assert_int_equal(nodes[1].size, 0x200u);
    assert_int_equal(nodes[1].irq_cells, 0);
    free(b.data);
}

static void t_cells2(void **state)
{
    (void)state;
    struct blob b = load("cells2");
    struct capdrv_virtio_mmio_node nodes[MAXN];
    unsigned n = 0;
    assert_int_equal(capdrv_virtio_mmio_scan(b.data, b.len, nodes, MAXN, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(nodes[0].base, 0x4000000000ull);
    assert_int_equal(nodes[0].size, 0x100000000ull);
    /* No interrupt parent: the property is one 3-cell specifier. */
    assert_int_equal(nodes[0].irq_cells, 3);
    assert_int_equal(nodes[0].irq[1], 0x2a);
    assert_int_equal(nodes[0].irq[2], 4);
    assert_int_equal(nodes[0].irq_parent, 0);
    /* A parent without #address-cells/#size-cells: defaults 2 and 1. */
    assert_string_equal(nodes[1].path, "/defaults/virtio@0");
    assert_int_equal(nodes[1].base, 0x120000000ull);
    assert_int_equal(nodes[1].size, 0x200);
    free(b.data);
}

static void expect_scan(const char *name, int rc, unsigned want_n)
{
    struct blob b = load(name);
    struct capdrv_virtio_mmio_node nodes[MAXN];
    unsigned n = 99;
    int got = capdrv_virtio_mmio_scan(b.data, b.len, nodes, MAXN, &n);
    if (got != rc)
        fail_msg("%s: scan returned %d, expected %d", name, got, rc);
    assert_int_equal(n, want_n);
    free(b.data);
}

static void t_malformed_nodes(void **state)
{
    (void)state;
    expect_scan("bad_reg", -CAPDRV_EPROTO, 0);   /* reg not whole entries */
    expect_scan("bad_cells", -CAPDRV_EPROTO, 0); /* #address-cells 3 */
    expect_scan("no_reg", -CAPDRV_EPROTO, 1);    /* the good node before counts */
    expect_scan("bad_irq", -CAPDRV_EPROTO, 0);   /* 2 cells for a 3-cell GIC */
    expect_scan("zero_size", -CAPDRV_EPROTO, 0);
    expect_scan("overflow", -CAPDRV_ERANGE, 0);  /* base + size wraps */
    expect_scan("long_path", -CAPDRV_ERANGE, 0);
    expect_scan("none", 0, 0);
    expect_scan("deep", -CAPDRV_EPROTO, 0);      /* 34 levels down */
    expect_scan("root_node", -CAPDRV_EPROTO, 0); /* the root has no parent */
    /* Two usable nodes, then 5 interrupt cells with no controller. */
    expect_scan("irq_parent_missing", -CAPDRV_EPROTO, 2);
}

static void t_irq_parent_unknown(void **state)
{
    (void)state;
    struct blob b = load("irq_parent_missing");
    struct capdrv_virtio_mmio_node nodes[MAXN];
    unsigned n = 0;
    assert_int_equal(capdrv_virtio_mmio_scan(b.data, b.len, nodes, MAXN, &n), -CAPDRV_EPROTO);
    assert_int_equal(n, 2);
    /* A phandle nobody has: the property is one 2-cell specifier. */
    assert_int_equal(nodes[0].irq_parent, 0x4242);
    assert_int_equal(nodes[0].irq_cells, 2);
    assert_int_equal(nodes[0].irq[0], 7);
    assert_int_equal(nodes[0].irq[1], 8);
    /* A parent without #interrupt-cells: likewise. */
    assert_int_equal(nodes[1].irq_cells, 1);
    assert_int_equal(nodes[1].irq[0], 9);
    assert_true(nodes[1].irq_parent != 0);
    free(b.data);
}

static void t_hostile_blobs(void **state)
{
    (void)state;
    struct blob b = load("cells1");
    struct capdrv_virtio_mmio_node nodes[MAXN];
    unsigned n = 99;
    /* Arguments. */
    assert_int_equal(capdrv_virtio_mmio_scan(NULL, b.len, nodes, MAXN, &n), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_virtio_mmio_scan(b.data, b.len, nodes, MAXN, NULL), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_virtio_mmio_scan(b.data, b.len, NULL, 1, &n), -CAPDRV_EINVAL);
    /* libfdt reads in place: a misaligned blob is refused, not read. */
    uint8_t *shifted = malloc(b.len + 8);
    assert_non_null(shifted);
    memcpy(shifted + 4, b.data, b.len);
    assert_int_equal(capdrv_virtio_mmio_scan(shifted + 4, b.len, nodes, MAXN, &n), -CAPDRV_EINVAL);
    free(shifted);
    /* Truncated: every length short of the blob, including less than a
     * header. */
    for (size_t len = 0; len < b.len; len++) {
        n = 99;
        assert_int_equal(capdrv_virtio_mmio_scan(b.data, len, nodes, MAXN, &n), -CAPDRV_EPROTO);
        assert_int_equal(n, 0);
    }
    /* Not a blob. */
    uint64_t junk[16];
    memset(junk, 0x5a, sizeof junk);
    assert_int_equal(capdrv_virtio_mmio_scan(junk, sizeof junk, nodes, MAXN, &n), -CAPDRV_EPROTO);
    /* A header claiming more than is there. */
    struct blob c = load("cells1");
    struct fdt_header *h = (struct fdt_header *)(void *)c.data;
    h->totalsize = cpu_to_fdt32(fdt_totalsize(c.data) + 64);
    assert_int_equal(capdrv_virtio_mmio_scan(c.data, c.len, nodes, MAXN, &n), -CAPDRV_EPROTO);
    free(c.data);
    /* An older layout than version 17: refused before libfdt walks it. */
    c = load("cells1");
    h = (struct fdt_header *)(void *)c.data;
    h->version = cpu_to_fdt32(16);
    assert_int_equal(capdrv_virtio_mmio_scan(c.data, c.len, nodes, MAXN, &n), -CAPDRV_EPROTO);
    free(c.data);
    /* A reg property whose length says it runs past the structure block:
     * find the first "reg" property header and inflate its length. */
    c = load("cells1");
    int node = fdt_path_offset(c.data, "/bus@10000000/virtio@10001000");
    assert_true(node >= 0);
    int poff = fdt_first_property_offset(c.data, node);
    int found = 0;
    for (; poff >= 0; poff = fdt_next_property_offset(c.data, poff)) {
        int plen;
        const char *pname;
        const struct fdt_property *p = fdt_get_property_by_offset(c.data, poff, &plen);
        assert_non_null(p);
        pname = fdt_string(c.data, (int)fdt32_to_cpu(p->nameoff));
        if (pname && strcmp(pname, "reg") == 0) {
            ((struct fdt_property *)(uintptr_t)p)->len = cpu_to_fdt32(0x7ffffff0u);
            found = 1;
            break;
        }
    }
    assert_true(found);
    assert_int_equal(capdrv_virtio_mmio_scan(c.data, c.len, nodes, MAXN, &n), -CAPDRV_EPROTO);
    free(c.data);
    /* A property length of -12 makes the property its own successor for
     * libfdt 1.6.1's tag walk (fdt_check_full() would never return): the
     * scan's own bounded pre-walk refuses it. */
    c = load("cells1");
    poff = fdt_first_property_offset(c.data, fdt_path_offset(c.data, "/bus@10000000"));
    assert_true(poff >= 0);
    {
        int plen;
        const struct fdt_property *p = fdt_get_property_by_offset(c.data, poff, &plen);
        assert_non_null(p);
        ((struct fdt_property *)(uintptr_t)p)->len = cpu_to_fdt32(0xfffffff4u);
    }
    assert_int_equal(capdrv_virtio_mmio_scan(c.data, c.len, nodes, MAXN, &n), -CAPDRV_EPROTO);
    free(c.data);
    /* The good blob still scans. */
    assert_int_equal(capdrv_virtio_mmio_scan(b.data, b.len, nodes, MAXN, &n), 0);
    assert_int_equal(n, 2);
    free(b.data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_qemu_virt),       cmocka_unit_test(t_cells1),
        cmocka_unit_test(t_cells2),          cmocka_unit_test(t_malformed_nodes),
        cmocka_unit_test(t_hostile_blobs),   cmocka_unit_test(t_irq_parent_unknown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
