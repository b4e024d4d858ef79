/* Fuzz target: any bytes as a device tree blob handed to
 * capdrv_virtio_mmio_scan() (src/virtio/fdt.c), the discovery of
 * virtio-mmio transports (include/capdrv/virtio_mmio.h).
 *
 * Input: the whole input is the blob (seeds: the .dts files of
 * tests/unit/virtio/dtb/ compiled by dtc; corpus/virtio_fdt/README.md).
 *
 * Contract: the scan never reads outside the input (the copy ends just
 * before a guard page in the replay build; ASan in the libFuzzer build)
 * and returns 0, -CAPDRV_ENOSPC, -CAPDRV_EPROTO or -CAPDRV_ERANGE. Every
 * node it reports has a NUL-terminated absolute path, a non-empty register
 * range that does not wrap, at most CAPDRV_VIRTIO_MMIO_IRQ_CELLS interrupt
 * cells and an offset inside the blob. A scan with fewer slots reports the
 * same count and the same first nodes (no state, no dependence on the
 * output size). */
#include "fuzz_common.h"

#include <string.h>

#include <capdrv/error.h>
#include <capdrv/virtio_mmio.h>

#define SLOTS 64u
#define FEW 3u

static void check_node(const struct capdrv_virtio_mmio_node *d, size_t size)
{
    const char *nul = memchr(d->path, '\0', sizeof d->path);
    FUZZ_CHECK(nul != NULL);
    size_t plen = (size_t)(nul - d->path);
    FUZZ_CHECK(plen >= 1 && d->path[0] == '/');
    FUZZ_CHECK_MSG(d->offset >= 0 && (size_t)d->offset < size, "offset", d->offset);
    FUZZ_CHECK(d->size > 0);
    FUZZ_CHECK(d->base <= UINT64_MAX - (d->size - 1u));
    FUZZ_CHECK_MSG(d->irq_cells <= CAPDRV_VIRTIO_MMIO_IRQ_CELLS, "irq_cells", d->irq_cells);
}

static void same_node(const struct capdrv_virtio_mmio_node *a,
                      const struct capdrv_virtio_mmio_node *b)
{
    FUZZ_CHECK(strcmp(a->path, b->path) == 0);
    FUZZ_CHECK(a->offset == b->offset && a->base == b->base && a->size == b->size);
    FUZZ_CHECK(a->irq_cells == b->irq_cells && a->irq_parent == b->irq_parent);
    FUZZ_CHECK(memcmp(a->irq, b->irq, sizeof a->irq) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_buf fb;
    void *blob = fuzz_buf_copy(&fb, data, size);
    if (!blob)
        return 0;
    static struct capdrv_virtio_mmio_node all[SLOTS];
    static struct capdrv_virtio_mmio_node few[FEW];
    unsigned n = 0, n_few = 0;
    int rc = capdrv_virtio_mmio_scan(blob, size, all, SLOTS, &n);
    if (fuzz_verbose())
        fprintf(stderr, "scan: %d (%s), %u nodes\n", rc, capdrv_strerror(rc), n);
    FUZZ_CHECK_MSG(rc == 0 || rc == -CAPDRV_ENOSPC || rc == -CAPDRV_EPROTO ||
                       rc == -CAPDRV_ERANGE,
                   "rc", rc);
    if (rc == 0)
        FUZZ_CHECK(n <= SLOTS);
    if (rc == -CAPDRV_ENOSPC)
        FUZZ_CHECK(n > SLOTS);
    unsigned filled = n < SLOTS ? n : SLOTS;
    for (unsigned i = 0; i < filled; i++)
        check_node(&all[i], size);

    /* Fewer slots: the same answer, truncated. */
    int rc2 = capdrv_virtio_mmio_scan(blob, size, few, FEW, &n_few);
    FUZZ_CHECK_MSG(n_few == n, "count with fewer slots", n_few);
    if (rc == 0 || rc == -CAPDRV_ENOSPC)
        FUZZ_CHECK_MSG(rc2 == (n > FEW ? -CAPDRV_ENOSPC : 0), "rc with fewer slots", rc2);
    else /* a malformed node is found whether or not it has a slot */
        FUZZ_CHECK_MSG(rc2 == rc, "rc with fewer slots", rc2);
    for (unsigned i = 0; i < FEW && i < filled; i++)
        same_node(&few[i], &all[i]);
    fuzz_buf_free(&fb);
    return 0;
}
