/* MSI-X on the qtest platform with QEMU's virtio-blk-pci, driven directly
 * through the platform operations (no shim): a hand-built split virtqueue
 * (VIRTIO 1.2 §2.7) carrying GET_ID requests (§5.2.6) makes the device
 * signal its queue vector. Checks delivery, masking with a latched Pending
 * Bit (PCI Local Bus 3.0 §6.8.3.5), irq_disable dropping a latched
 * message, and the virtio fallback of function_reset.
 * Skips (77) when qemu-system-x86_64 is not installed. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "qt_test.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* VIRTIO 1.2 §4.1.4.3 common configuration offsets (BAR4 offset 0 on QEMU). */
enum { DFSEL = 0x00, DF = 0x04, GFSEL = 0x08, GF = 0x0c, CFG_MSIX = 0x10, STATUS = 0x14,
       QSEL = 0x16, QSIZE = 0x18, QMSIX = 0x1a, QENABLE = 0x1c, QNOFF = 0x1e, QDESC = 0x20,
       QDRIVER = 0x28, QDEVICE = 0x30 };
#define VBAR 4u
#define NOTIFY_OFF 0x3000u /* QEMU: notify structure at BAR4 0x3000, multiplier 4 */
#define QSZ 8u
#define SERIAL "capdrv-qt-serial"

struct vq_mem {
    uint8_t *cpu;
    uint64_t gpa;
};

struct rig {
    struct capdrv_qtest *q;
    struct capdrv_hw hw;
    unsigned fn;
    struct capdrv_hw_dma mem; /* desc 0x000, avail 0x100, used 0x200, buffers 0x400.. */
    uint16_t avail_idx;
    uint32_t notify_at;
};

static void w(struct rig *r, uint64_t off, unsigned width, uint64_t v)
{
    assert_int_equal(r->hw.ops->bar_write(r->hw.ctx, r->fn, VBAR, off, width, v), 0);
}

static uint64_t rd(struct rig *r, uint64_t off, unsigned width)
{
    uint64_t v = 0;
    assert_int_equal(r->hw.ops->bar_read(r->hw.ctx, r->fn, VBAR, off, width, &v), 0);
    return v;
}

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static uint16_t used_idx(struct rig *r)
{
    return __atomic_load_n((uint16_t *)(void *)((uint8_t *)r->mem.cpu + 0x202), __ATOMIC_ACQUIRE);
}

static void setup_rig(struct rig *r)
{
    memset(r, 0, sizeof *r);
    char disk[256], drive[320], dev[160], why[256];
    assert_int_equal(qt_test_disk(disk, sizeof disk, 1 << 20), 0);
    snprintf(drive, sizeof drive, "if=none,id=d0,file=%s,format=raw", disk);
    snprintf(dev, sizeof dev, "virtio-blk-pci,drive=d0,disable-legacy=on,addr=06.0,serial=%s",
             SERIAL);
    const char *const args[] = {"-drive", drive, "-device", dev, NULL};
    struct capdrv_qtest_config cfg = {.device_args = args};
    int rc = capdrv_qtest_create(&cfg, &r->q, why, sizeof why);
    unlink(disk);
    if (rc < 0)
        print_message("create: %s\n", why);
    assert_int_equal(rc, 0);
    r->hw = capdrv_qtest_hw(r->q);
    struct capdrv_pci_addr a = {0, 0, 6, 0};
    assert_int_equal(capdrv_qtest_find(r->q, &a, &r->fn), 0);
    /* Bus mastering: both the rings and the MSI-X messages are DMA. */
    uint32_t cmd;
    assert_int_equal(r->hw.ops->cfg_read(r->hw.ctx, r->fn, 4, 2, &cmd), 0);
    assert_int_equal(r->hw.ops->cfg_write(r->hw.ctx, r->fn, 4, 2, cmd | 0x6u), 0);
    assert_int_equal(r->hw.ops->irq_enable(r->hw.ctx, r->fn, 0), 0);
    assert_int_equal(r->hw.ops->irq_enable(r->hw.ctx, r->fn, 1), 0);
    assert_int_equal(r->hw.ops->dma_alloc(r->hw.ctx, 4096, &r->mem), 0);
    uint64_t dev_addr;
    assert_int_equal(r->hw.ops->dma_map(r->hw.ctx, r->fn, &r->mem, 0, &dev_addr), 0);
    memset(r->mem.cpu, 0, 4096);
    /* §3.1.1 driver initialisation. */
    w(r, STATUS, 1, 0);
    assert_int_equal(rd(r, STATUS, 1), 0);
    w(r, STATUS, 1, 1 | 2); /* ACKNOWLEDGE | DRIVER */
    w(r, DFSEL, 4, 1);
    assert_true(rd(r, DF, 4) & 1u); /* VERSION_1 (bit 32) */
    w(r, GFSEL, 4, 1);
    w(r, GF, 4, 1);
    w(r, GFSEL, 4, 0);
    w(r, GF, 4, 0);
    w(r, STATUS, 1, 1 | 2 | 8); /* FEATURES_OK */
    assert_true(rd(r, STATUS, 1) & 8u);
    w(r, CFG_MSIX, 2, 0);
    assert_int_equal(rd(r, CFG_MSIX, 2), 0);
    w(r, QSEL, 2, 0);
    w(r, QSIZE, 2, QSZ);
    w(r, QMSIX, 2, 1);
    assert_int_equal(rd(r, QMSIX, 2), 1); /* 0xffff would mean refused */
    r->notify_at = NOTIFY_OFF + (uint32_t)rd(r, QNOFF, 2) * 4u;
    w(r, QDESC, 8, dev_addr);
    w(r, QDRIVER, 8, dev_addr + 0x100);
    w(r, QDEVICE, 8, dev_addr + 0x200);
    w(r, QENABLE, 2, 1);
    w(r, STATUS, 1, 1 | 2 | 8 | 4); /* DRIVER_OK */
}

/* Post one GET_ID request (header, 20-byte id, status) and notify. */
static void submit(struct rig *r)
{
    uint8_t *m = r->mem.cpu;
    uint64_t g = r->mem.phys;
    memset(m + 0x400, 0, 0x100);
    put32(m + 0x400, 8); /* VIRTIO_BLK_T_GET_ID */
    m[0x480] = 0xff;     /* status, until the device writes it */
    const struct { uint64_t addr; uint32_t len; uint16_t flags; } d[3] = {
        {g + 0x400, 16, 1}, {g + 0x440, 20, 1 | 2}, {g + 0x480, 1, 2}};
    for (unsigned i = 0; i < 3; i++) {
        uint8_t *e = m + 16 * i;
        put64(e, d[i].addr);
        put32(e + 8, d[i].len);
        put16(e + 12, d[i].flags);
        put16(e + 14, (uint16_t)(i + 1));
    }
    put16(m + 0x104 + 2 * (r->avail_idx % QSZ), 0);
    r->avail_idx++;
    __atomic_store_n((uint16_t *)(void *)(m + 0x102), r->avail_idx, __ATOMIC_RELEASE);
    w(r, r->notify_at, 2, 0);
}

/* Wait (bounded) until the device has used everything posted. */
static void wait_used(struct rig *r)
{
    for (int i = 0; i < 5000 && used_idx(r) != r->avail_idx; i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(used_idx(r), r->avail_idx);
    assert_int_equal(((uint8_t *)r->mem.cpu)[0x480], 0); /* VIRTIO_BLK_S_OK */
    assert_memory_equal((uint8_t *)r->mem.cpu + 0x440, SERIAL, strlen(SERIAL));
}

/* Wait (bounded) until MSI-X vector @v's Pending Bit is set: the device
 * has signalled while the vector was masked (§6.8.3.5). The PBA location
 * comes from the MSI-X capability (§6.8.2.5). */
static void wait_pending(struct rig *r, unsigned v)
{
    uint32_t ptr = 0, id = 0, next = 0, pba = 0;
    assert_int_equal(r->hw.ops->cfg_read(r->hw.ctx, r->fn, 0x34, 1, &ptr), 0);
    for (int i = 0; i < 48 && ptr; i++, ptr = next & 0xfcu) {
        assert_int_equal(r->hw.ops->cfg_read(r->hw.ctx, r->fn, ptr, 1, &id), 0);
        assert_int_equal(r->hw.ops->cfg_read(r->hw.ctx, r->fn, ptr + 1, 1, &next), 0);
        if (id == 0x11)
            break;
    }
    assert_int_equal(id, 0x11);
    assert_int_equal(r->hw.ops->cfg_read(r->hw.ctx, r->fn, ptr + 8, 4, &pba), 0);
    uint64_t bits = 0;
    for (int i = 0; i < 5000; i++) {
        assert_int_equal(r->hw.ops->bar_read(r->hw.ctx, r->fn, pba & 7u, pba & ~7u, 4, &bits), 0);
        if (bits & (1u << v))
            break;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    assert_true(bits & (1u << v));
}

static int wait_q(struct rig *r, int64_t ns)
{
    struct capdrv_hw_irq src = {.fn = r->fn, .vector = 1};
    uint64_t ready = 0;
    int rc = r->hw.ops->irq_wait(r->hw.ctx, &src, 1, ns, &ready);
    if (rc > 0)
        assert_int_equal(ready, 1);
    return rc;
}

static void teardown_rig(struct rig *r)
{
    r->hw.ops->dma_free(r->hw.ctx, &r->mem);
    capdrv_qtest_destroy(r->q);
}

static void delivered(void **state)
{
    (void)state;
    struct rig r;
    setup_rig(&r);
    assert_int_equal(wait_q(&r, 0), -CAPDRV_ETIMEDOUT); /* nothing yet */
    submit(&r);
    assert_int_equal(wait_q(&r, 2000000000), 1);
    wait_used(&r);
    assert_int_equal(wait_q(&r, 0), -CAPDRV_ETIMEDOUT); /* consumed */
    /* A source listed twice is reported in both positions; bad sets refused. */
    submit(&r);
    wait_used(&r);
    struct capdrv_hw_irq two[2] = {{r.fn, 1}, {r.fn, 1}};
    uint64_t ready = 0;
    assert_int_equal(r.hw.ops->irq_wait(r.hw.ctx, two, 2, 2000000000, &ready), 2);
    assert_int_equal(ready, 3);
    struct capdrv_hw_irq bad = {r.fn, 2}; /* 2 vectors: 0 and 1 */
    assert_int_equal(r.hw.ops->irq_wait(r.hw.ctx, &bad, 1, 0, &ready), -CAPDRV_ENOENT);
    assert_int_equal(r.hw.ops->irq_wait(r.hw.ctx, two, 0, 0, &ready), -CAPDRV_EINVAL);
    assert_int_equal(r.hw.ops->irq_enable(r.hw.ctx, r.fn, 2), -CAPDRV_ENOENT);
    teardown_rig(&r);
}

static void masked_latches(void **state)
{
    (void)state;
    struct rig r;
    setup_rig(&r);
    assert_int_equal(r.hw.ops->irq_mask(r.hw.ctx, r.fn, 1, true), 0);
    submit(&r);
    wait_used(&r);
    /* The request completed, but the masked vector only latched. */
    wait_pending(&r, 1);
    assert_int_equal(wait_q(&r, 0), -CAPDRV_ETIMEDOUT);
    assert_int_equal(r.hw.ops->irq_mask(r.hw.ctx, r.fn, 1, false), 0);
    assert_int_equal(wait_q(&r, 2000000000), 1); /* sent at unmask */
    teardown_rig(&r);
}

static void disable_drops_pending(void **state)
{
    (void)state;
    struct rig r;
    setup_rig(&r);
    assert_int_equal(r.hw.ops->irq_mask(r.hw.ctx, r.fn, 1, true), 0);
    submit(&r);
    wait_used(&r);
    wait_pending(&r, 1);
    assert_int_equal(r.hw.ops->irq_disable(r.hw.ctx, r.fn, 1), 0);
    assert_int_equal(r.hw.ops->irq_enable(r.hw.ctx, r.fn, 1), 0);
    /* The latched message was dropped: nothing arrives after re-enable... */
    assert_int_equal(wait_q(&r, 20000000), -CAPDRV_ETIMEDOUT);
    /* ...and the vector works again. */
    submit(&r);
    assert_int_equal(wait_q(&r, 2000000000), 1);
    wait_used(&r);
    teardown_rig(&r);
}

static void reset_fallback(void **state)
{
    (void)state;
    struct rig r;
    setup_rig(&r);
    submit(&r);
    assert_int_equal(wait_q(&r, 2000000000), 1);
    wait_used(&r);
    assert_int_equal(capdrv_qtest_reset_method(r.q, r.fn), CAPDRV_QTEST_RESET_VIRTIO);
    assert_int_equal(r.hw.ops->function_reset(r.hw.ctx, r.fn), 0);
    assert_int_equal(capdrv_qtest_reset_count(r.q, r.fn), 1);
    assert_int_equal(rd(&r, STATUS, 1), 0);   /* device reset (§4.1.4.3.1) */
    assert_int_equal(rd(&r, QMSIX, 2), 0xffff); /* its vectors back to NO_VECTOR */
    uint32_t cmd;
    assert_int_equal(r.hw.ops->cfg_read(r.hw.ctx, r.fn, 4, 2, &cmd), 0);
    assert_false(cmd & 0x4u); /* no bus mastering */
    assert_true(cmd & 0x2u);  /* BARs still decode */
    /* A notify now does nothing: the queue is gone. */
    uint16_t before = used_idx(&r);
    w(&r, r.notify_at, 2, 0);
    assert_int_equal(wait_q(&r, 20000000), -CAPDRV_ETIMEDOUT);
    assert_int_equal(used_idx(&r), before);
    teardown_rig(&r);
}

int main(void)
{
    if (!qt_test_have_qemu()) {
        printf("SKIP: %s not found in PATH\n", CAPDRV_QTEST_DEFAULT_QEMU);
        return QT_SKIP;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(delivered),
        cmocka_unit_test(masked_latches),
        cmocka_unit_test(disable_drops_pending),
        cmocka_unit_test(reset_fallback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
