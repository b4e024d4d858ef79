/* The qtest platform on QEMU's aarch64 virt machine (capdrv/qtest.h,
 * machine "virt"): discovery of virtio-mmio devices from QEMU's own device
 * tree, MMIO functions (no config space, region = BAR 0), guest RAM at
 * 0x40000000 shared with this process, the interrupt line sampled through
 * InterruptStatus, and the Status-0 reset (VIRTIO 1.2 §4.2). The device is
 * driven here by hand through hw.h, register by register.
 * Skips (77) when qemu-system-aarch64 is not installed. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "qt_test.h"

#include <capdrv/virtio_mmio.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BLK_BASE 0x0a003e00ull /* first -device: the highest of 32 transports */
#define RNG_BASE 0x0a003c00ull
#define BLK_SPI 47u            /* 16 + 31 (QEMU hw/arm/virt.c: VIRTIO_MMIO irq 16 + slot) */

static int have_aarch64(void)
{
    const char *path = getenv("PATH");
    char *dup = path ? strdup(path) : NULL, *save = NULL;
    int found = 0;
    for (char *d = dup ? strtok_r(dup, ":", &save) : NULL; d && !found;
         d = strtok_r(NULL, ":", &save)) {
        char full[4096];
        snprintf(full, sizeof full, "%s/%s", d, CAPDRV_QTEST_DEFAULT_QEMU_AARCH64);
        found = access(full, X_OK) == 0;
    }
    free(dup);
    return found;
}

struct vm {
    struct capdrv_qtest *q;
    struct capdrv_hw hw;
    unsigned fn;
    char disk[256];
};

static void start(struct vm *v)
{
    memset(v, 0, sizeof *v);
    assert_int_equal(qt_test_disk(v->disk, sizeof v->disk, 1 << 20), 0);
    char drive[320];
    snprintf(drive, sizeof drive, "if=none,id=d0,file=%s,format=raw", v->disk);
    const char *const args[] = {"-drive", drive, "-device", "virtio-blk-device,drive=d0",
                                "-device", "virtio-rng-device", NULL};
    struct capdrv_qtest_config cfg = {.device_args = args, .machine = "virt"};
    char why[256];
    int rc = capdrv_qtest_create(&cfg, &v->q, why, sizeof why);
    if (rc < 0)
        print_message("create: %d %s\n", rc, why);
    assert_int_equal(rc, 0);
    unlink(v->disk);
    v->hw = capdrv_qtest_hw(v->q);
    assert_int_equal(capdrv_qtest_find_mmio(v->q, BLK_BASE, &v->fn), 0);
}

static uint64_t rd(struct vm *v, uint64_t off)
{
    uint64_t val = 0;
    assert_int_equal(v->hw.ops->bar_read(v->hw.ctx, v->fn, 0, off, 4, &val), 0);
    return val;
}

static void wr(struct vm *v, uint64_t off, uint64_t val)
{
    assert_int_equal(v->hw.ops->bar_write(v->hw.ctx, v->fn, 0, off, 4, val), 0);
}

/* Exactly the plugged devices are reported, as MMIO functions. */
static void discovery(void **state)
{
    (void)state;
    struct vm v;
    start(&v);
    assert_int_equal(v.hw.ops->caps(v.hw.ctx), 0);
    assert_int_equal(v.hw.ops->function_count(v.hw.ctx), 2); /* of 32 transports */
    struct capdrv_hw_function info;
    assert_int_equal(v.hw.ops->function_info(v.hw.ctx, v.fn, &info), 0);
    assert_int_equal(info.kind, CAPDRV_HW_FN_MMIO);
    assert_true(info.mmio_base == BLK_BASE);
    assert_int_equal(info.mmio_size, 0x200);
    assert_int_equal(info.bar_size[0], 0x200);
    assert_int_equal(info.bar_flags[0], CAPDRV_HW_BAR_MEM);
    assert_int_equal(info.n_irq_lines, 1);
    assert_int_equal(info.irq_line[0], BLK_SPI);
    unsigned rng;
    assert_int_equal(capdrv_qtest_find_mmio(v.q, RNG_BASE, &rng), 0);
    assert_int_equal(capdrv_qtest_find_mmio(v.q, 0x0a000000, &rng), -CAPDRV_ENOENT);
    struct capdrv_pci_addr a = {0, 0, 0, 0};
    assert_int_equal(capdrv_qtest_find(v.q, &a, &rng), -CAPDRV_ENOENT);
    /* virtio-mmio version 2 (force-legacy=false), a block device (§5) */
    assert_int_equal(rd(&v, CAPDRV_VIRTIO_MMIO_MAGIC_VALUE), CAPDRV_VIRTIO_MMIO_MAGIC);
    assert_int_equal(rd(&v, CAPDRV_VIRTIO_MMIO_VERSION_REG), 2);
    assert_int_equal(rd(&v, CAPDRV_VIRTIO_MMIO_DEVICE_ID), 2);
    /* no configuration space; nothing past the region */
    uint32_t c32;
    assert_int_equal(v.hw.ops->cfg_read(v.hw.ctx, v.fn, 0, 4, &c32), -CAPDRV_ENOTSUP);
    assert_int_equal(v.hw.ops->cfg_write(v.hw.ctx, v.fn, 4, 2, 6), -CAPDRV_ENOTSUP);
    uint64_t val;
    assert_int_equal(v.hw.ops->bar_read(v.hw.ctx, v.fn, 0, 0x200, 4, &val), -CAPDRV_EFAULT);
    assert_int_equal(v.hw.ops->bar_read(v.hw.ctx, v.fn, 1, 0, 4, &val), -CAPDRV_EFAULT);
    /* one line: vector 0 */
    assert_int_equal(v.hw.ops->irq_enable(v.hw.ctx, v.fn, 1), -CAPDRV_ENOENT);
    capdrv_qtest_destroy(v.q);
}

/* DMA memory is guest RAM from 0x40000000: what the CPU writes the
 * device's address space holds at the returned physical address. */
static void ram_at_virt_base(void **state)
{
    (void)state;
    struct vm v;
    start(&v);
    struct capdrv_hw_dma m;
    assert_int_equal(v.hw.ops->dma_alloc(v.hw.ctx, 4096, &m), 0);
    assert_true(m.phys >= CAPDRV_QTEST_VIRT_RAM_BASE + CAPDRV_QTEST_DMA_BASE);
    uint64_t dev = 0;
    assert_int_equal(v.hw.ops->dma_map(v.hw.ctx, v.fn, &m, 0, &dev), 0);
    assert_true(dev == m.phys);
    memcpy(m.cpu, "virt", 4);
    uint8_t back[4];
    assert_int_equal(capdrv_qtest_ram_read(v.q, m.phys, back, 4), 0);
    assert_memory_equal(back, "virt", 4);
    assert_int_equal(capdrv_qtest_ram_read(v.q, 0x1000, back, 4), -CAPDRV_EFAULT); /* flash */
    assert_int_equal(v.hw.ops->dma_unmap(v.hw.ctx, v.fn, &m, dev), 0);
    v.hw.ops->dma_free(v.hw.ctx, &m);
    capdrv_qtest_destroy(v.q);
}

static void put_le(uint8_t *p, unsigned n, uint64_t x)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(x >> (8 * i));
}

/* One block read by hand: the device's completion raises the line, which
 * stays high until InterruptACK (level); Status 0 resets. */
static void line_and_reset(void **state)
{
    (void)state;
    struct vm v;
    start(&v);
    struct capdrv_hw_dma m;
    assert_int_equal(v.hw.ops->dma_alloc(v.hw.ctx, 8192, &m), 0);
    uint64_t base = 0;
    assert_int_equal(v.hw.ops->dma_map(v.hw.ctx, v.fn, &m, 0, &base), 0);
    memset(m.cpu, 0, 8192);
    /* §3.1.1 / §4.2.3: reset, ACK, DRIVER, VERSION_1, FEATURES_OK */
    wr(&v, CAPDRV_VIRTIO_MMIO_STATUS, 0);
    wr(&v, CAPDRV_VIRTIO_MMIO_STATUS, 1 | 2);
    wr(&v, CAPDRV_VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    wr(&v, CAPDRV_VIRTIO_MMIO_DRIVER_FEATURES, 1); /* VERSION_1 */
    wr(&v, CAPDRV_VIRTIO_MMIO_STATUS, 1 | 2 | 8);
    assert_int_equal(rd(&v, CAPDRV_VIRTIO_MMIO_STATUS) & 8, 8);
    /* queue 0, size 4: desc at 0, avail at 64, used at 128; request at 4096 */
    wr(&v, CAPDRV_VIRTIO_MMIO_QUEUE_SEL, 0);
    assert_true(rd(&v, CAPDRV_VIRTIO_MMIO_QUEUE_NUM_MAX) >= 4);
    wr(&v, CAPDRV_VIRTIO_MMIO_QUEUE_NUM, 4);
    wr(&v, CAPDRV_VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)base);
    wr(&v, CAPDRV_VIRTIO_MMIO_QUEUE_DESC_HIGH, base >> 32);
    wr(&v, CAPDRV_VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)(base + 64));
    wr(&v, CAPDRV_VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (base + 64) >> 32);
    wr(&v, CAPDRV_VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)(base + 128));
    wr(&v, CAPDRV_VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (base + 128) >> 32);
    wr(&v, CAPDRV_VIRTIO_MMIO_QUEUE_READY, 1);
    wr(&v, CAPDRV_VIRTIO_MMIO_STATUS, 1 | 2 | 4 | 8);
    assert_int_equal(v.hw.ops->irq_enable(v.hw.ctx, v.fn, 0), 0);
    struct capdrv_hw_irq src = {.fn = v.fn, .vector = 0};
    uint64_t ready = 0;
    assert_int_equal(v.hw.ops->irq_wait(v.hw.ctx, &src, 1, 0, &ready), -CAPDRV_ETIMEDOUT);
    uint8_t *p = m.cpu;
    /* header (IN, sector 0), 512 data bytes, status byte (§5.2.6) */
    put_le(p + 4096, 4, 0);
    put_le(p + 4096 + 8, 8, 0);
    p[4096 + 16 + 512] = 0xee;
    uint64_t r = base + 4096;
    put_le(p + 0, 8, r);
    put_le(p + 8, 4, 16);
    put_le(p + 12, 2, 1);
    put_le(p + 14, 2, 1);
    put_le(p + 16, 8, r + 16);
    put_le(p + 24, 4, 512);
    put_le(p + 28, 2, 1 | 2);
    put_le(p + 30, 2, 2);
    put_le(p + 32, 8, r + 16 + 512);
    put_le(p + 40, 4, 1);
    put_le(p + 44, 2, 2);
    put_le(p + 64 + 4, 2, 0);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    put_le(p + 64 + 2, 2, 1);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    wr(&v, CAPDRV_VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    assert_int_equal(v.hw.ops->irq_wait(v.hw.ctx, &src, 1, 2000000000, &ready), 1);
    assert_int_equal(ready, 1);
    assert_int_equal(p[4096 + 16 + 512], 0); /* VIRTIO_BLK_S_OK */
    assert_int_equal(p[128 + 2], 1);         /* used idx */
    /* level: still high until acknowledged */
    assert_int_equal(v.hw.ops->irq_wait(v.hw.ctx, &src, 1, 0, &ready), 1);
    assert_int_equal(v.hw.ops->irq_mask(v.hw.ctx, v.fn, 0, true), 0);
    assert_int_equal(v.hw.ops->irq_wait(v.hw.ctx, &src, 1, 0, &ready), -CAPDRV_ETIMEDOUT);
    assert_int_equal(v.hw.ops->irq_mask(v.hw.ctx, v.fn, 0, false), 0);
    assert_int_equal(rd(&v, CAPDRV_VIRTIO_MMIO_INTERRUPT_STATUS) & 1, 1);
    wr(&v, CAPDRV_VIRTIO_MMIO_INTERRUPT_ACK, 1);
    assert_int_equal(v.hw.ops->irq_wait(v.hw.ctx, &src, 1, 0, &ready), -CAPDRV_ETIMEDOUT);
    /* reset: Status 0, the line is disabled, counted */
    assert_int_equal(capdrv_qtest_reset_method(v.q, v.fn), CAPDRV_QTEST_RESET_VIRTIO);
    assert_int_equal(v.hw.ops->function_reset(v.hw.ctx, v.fn), 0);
    assert_int_equal(capdrv_qtest_reset_count(v.q, v.fn), 1);
    assert_int_equal(rd(&v, CAPDRV_VIRTIO_MMIO_STATUS), 0);
    assert_int_equal(rd(&v, CAPDRV_VIRTIO_MMIO_QUEUE_READY), 0);
    assert_int_equal(v.hw.ops->dma_unmap(v.hw.ctx, v.fn, &m, base), 0);
    v.hw.ops->dma_free(v.hw.ctx, &m);
    capdrv_qtest_destroy(v.q);
}

static void bad_machine(void **state)
{
    (void)state;
    struct capdrv_qtest_config cfg = {.machine = "pc"};
    struct capdrv_qtest *q = NULL;
    char why[256];
    assert_int_equal(capdrv_qtest_create(&cfg, &q, why, sizeof why), -CAPDRV_EINVAL);
    assert_non_null(strstr(why, "virt"));
    /* a missing binary is reported, not hung on */
    struct capdrv_qtest_config none = {.machine = "virt", .qemu = "capdrv-no-such-qemu"};
    assert_int_equal(capdrv_qtest_create(&none, &q, why, sizeof why), -CAPDRV_ENOENT);
    assert_null(q);
}

int main(void)
{
    if (!have_aarch64()) {
        printf("qemu-system-aarch64 not found: skipped\n");
        return QT_SKIP;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(discovery),
        cmocka_unit_test(ram_at_virt_base),
        cmocka_unit_test(line_and_reset),
        cmocka_unit_test(bad_machine),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
