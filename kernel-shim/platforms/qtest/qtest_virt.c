/* The aarch64 `virt` machine: virtio-mmio devices found in QEMU's own
 * device tree, their interrupt line, their reset.
 *
 * Discovery: qtest.c runs QEMU once with `-machine virt,dumpdtb=FILE` and
 * the caller's devices; capdrv_virtio_mmio_scan() lists the `virtio,mmio`
 * nodes (reg, interrupts). QEMU creates all 32 transports whether or not a
 * device is plugged; a transport without one reads DeviceID 0 (VIRTIO 1.2
 * §4.2.3.1.1) and is not reported. Every value read from the tree or the
 * device is untrusted: the region must be inside the 32-bit device space
 * below RAM and large enough for the control registers.
 *
 * Interrupts: the GIC decides where a line goes, and nothing in it can be
 * pointed into guest RAM the way an MSI-X table entry can (qtest_irq.c).
 * qtest's irq_intercept_in would report line changes asynchronously but
 * needs the GIC's QOM path and an asynchronous reader; instead the line is
 * sampled at its source. A virtio-mmio device drives its line high exactly
 * while InterruptStatus is non-zero (§4.2.2: "the device ... notifies the
 * driver"; §4.2.3.4: the driver clears it through InterruptACK; QEMU:
 * virtio_mmio_update_irq), so reading InterruptStatus is reading the line
 * level. irq_wait() polls it like the MSI-X cookies: a level-triggered
 * line that fires again until the driver acknowledges the cause. */
#define _GNU_SOURCE
#include "qtest_internal.h"

#include <capdrv/virtio_mmio.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_NODES 64u
#define GIC_SPI 0u /* first cell of an arm,gic interrupt specifier */

static void say(char *why, size_t len, const char *msg, int rc)
{
    if (why && len)
        snprintf(why, len, "qtest virt: %s (%s)", msg, capdrv_strerror(rc));
}

int qt_virt_enumerate(struct capdrv_qtest *q, const void *dtb, size_t len, char *why,
                      size_t why_len)
{
    struct capdrv_virtio_mmio_node *nodes = calloc(MAX_NODES, sizeof *nodes);
    if (!nodes)
        return -CAPDRV_ENOMEM;
    unsigned n = 0;
    int rc = capdrv_virtio_mmio_scan(dtb, len, nodes, MAX_NODES, &n);
    if (rc < 0) {
        say(why, why_len, "QEMU's device tree has no usable virtio,mmio nodes", rc);
        free(nodes);
        return rc;
    }
    for (unsigned i = 0; i < n && rc == 0; i++) {
        const struct capdrv_virtio_mmio_node *d = &nodes[i];
        /* Device space below RAM; at least the control registers. */
        if (d->size < CAPDRV_VIRTIO_MMIO_CONFIG || d->size > 0x10000u || d->base & 3u ||
            d->base >= q->ram_gpa || d->size > q->ram_gpa - d->base)
            continue;
        uint64_t magic = 0, version = 0, id = 0;
        if ((rc = qt_mem_read(q, d->base + CAPDRV_VIRTIO_MMIO_MAGIC_VALUE, 4, &magic)) < 0 ||
            (rc = qt_mem_read(q, d->base + CAPDRV_VIRTIO_MMIO_VERSION_REG, 4, &version)) < 0 ||
            (rc = qt_mem_read(q, d->base + CAPDRV_VIRTIO_MMIO_DEVICE_ID, 4, &id)) < 0)
            break;
        if (magic != CAPDRV_VIRTIO_MMIO_MAGIC || id == 0)
            continue; /* an empty transport */
        if (q->n_fns == CAPDRV_QTEST_MAX_FUNCTIONS) {
            say(why, why_len, "too many virtio-mmio devices", -CAPDRV_ENOSPC);
            rc = -CAPDRV_ENOSPC;
            break;
        }
        struct qt_fn *f = &q->fns[q->n_fns++];
        memset(f, 0, sizeof *f);
        f->info.kind = CAPDRV_HW_FN_MMIO;
        f->info.mmio_base = d->base;
        f->info.mmio_size = d->size;
        f->info.bar_size[0] = d->size;
        f->info.bar_flags[0] = CAPDRV_HW_BAR_MEM;
        f->bar_addr[0] = d->base;
        /* GIC specifier: <type number flags>; only SPIs are device lines. */
        if (d->irq_cells == 3 && d->irq[0] == GIC_SPI) {
            f->info.n_irq_lines = 1;
            f->info.irq_line[0] = d->irq[1];
        }
    }
    free(nodes);
    if (rc < 0 && why && why_len && !why[0])
        say(why, why_len, "cannot read a virtio-mmio register", rc);
    return rc;
}

int qt_mmio_irq_pending(struct capdrv_qtest *q, const struct qt_fn *f, bool *pending)
{
    uint64_t st = 0;
    int rc = qt_mem_read(q, f->bar_addr[0] + CAPDRV_VIRTIO_MMIO_INTERRUPT_STATUS, 4, &st);
    *pending = rc == 0 && (st & 0xffffffffu) != 0;
    return rc;
}

/* §4.2.2.1: writing 0 to Status resets the device; wait until it reads 0. */
int qt_mmio_reset(struct capdrv_qtest *q, struct qt_fn *f)
{
    uint64_t at = f->bar_addr[0] + CAPDRV_VIRTIO_MMIO_STATUS, s = 0xff;
    int rc = qt_mem_write(q, at, 4, 0);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (rc == 0 && (rc = qt_mem_read(q, at, 4, &s)) == 0 && (s & 0xffu) != 0) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        int64_t ms = (int64_t)(t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
        if (ms > q->timeout_ms)
            return -CAPDRV_ETIMEDOUT;
    }
    if (rc == 0) {
        f->routed = 0; /* hw.h: the line is disabled by a reset */
        f->mmio_masked = false;
        if (f->reset_count < UINT32_MAX)
            f->reset_count++;
    }
    return rc;
}
