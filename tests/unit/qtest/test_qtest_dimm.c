/* The qtest platform with a file per DMA region (capdrv_qtest_config::
 * dma_fds): each region is a memfd hot-plugged as a DIMM; dma_fd() hands
 * out that very file (a second mapping sees what the device writes), a
 * freed region is ejected (its guest addresses then reach nothing), and
 * the guard page inside each DIMM is watched. The device is QEMU's nvme
 * driven by hand (qt_nvme.h). Skips (77) without qemu-system-x86_64. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "qt_nvme.h"
#include "qt_test.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void up(struct qt_nvme *n)
{
    qt_nvme_up(n, (struct capdrv_qtest_config){.dma_fds = true}, 0, 0);
}

static void shared_and_ejected(void **state)
{
    (void)state;
    struct qt_nvme r;
    up(&r);
    const struct capdrv_hw_ops *o = r.hw.ops;
    void *x = r.hw.ctx;
    /* Hot-plugged memory lives above 4 GiB on q35; no IOMMU: the device
     * address is the guest one. */
    assert_true(r.data.phys >= (1ull << 32));
    assert_int_equal(r.sq_dev, r.sq.phys);
    assert_true(r.data.phys != r.sq.phys && r.data.phys != r.cq.phys);
    uint64_t dev = 0;
    assert_int_equal(o->dma_map(x, r.fn, &r.data, 0, &dev), 0);
    assert_int_equal(dev, r.data.phys);
    /* The region's own file, mapped a second time, is the same memory the
     * device writes. */
    int fd = -1;
    assert_int_equal(o->dma_fd(x, &r.data, &fd), 0);
    uint8_t *alias = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    assert_true(alias != MAP_FAILED);
    memset(r.data.cpu, 0xa5, 4096);
    assert_int_equal(alias[4095], 0xa5);
    assert_int_equal(qt_nvme_identify(&r, r.data.phys), 0);
    assert_int_equal(qt_le32(r.data.cpu) & 0xffffu, QT_NVME_VID);
    assert_int_equal(qt_le32(alias) & 0xffffu, QT_NVME_VID);
    struct capdrv_qtest_canary k;
    assert_int_equal(capdrv_qtest_canary_check(r.q, &k), 0);
    assert_int_equal(k.changed, 0);
    /* Freed: ejected. The device's next write to those addresses reaches
     * nothing, not even the file a provider may have kept. */
    uint64_t gone = r.data.phys;
    o->dma_free(x, &r.data);
    memset(&r.data, 0, sizeof r.data);
    memset(alias, 0x3c, 4096);
    (void)qt_nvme_identify(&r, gone); /* the status is the controller's business */
    assert_true(qt_all_bytes(alias, 4096, 0x3c));
    assert_int_equal(capdrv_qtest_canary_check(r.q, &k), 0);
    assert_int_equal(k.changed, 0);
    munmap(alias, 4096);
    close(fd);
    /* The slot is free again: a new region works (QEMU may reuse the
     * address range, never the file). */
    struct capdrv_hw_dma b;
    assert_int_equal(o->dma_alloc(x, 8192, &b), 0);
    assert_int_equal(o->dma_map(x, r.fn, &b, 0, &dev), 0);
    memset(b.cpu, 0, 8192);
    assert_int_equal(qt_nvme_identify(&r, b.phys + 4096), 0);
    assert_int_equal(qt_le32((uint8_t *)b.cpu + 4096) & 0xffffu, QT_NVME_VID);
    o->dma_free(x, &b);
    assert_int_equal(capdrv_qtest_status(r.q, NULL, 0), 0);
    qt_nvme_down(&r);
}

/* A device write past a region's end lands in the guard page inside its
 * DIMM, which the canary check sees (once). */
static void guard_page(void **state)
{
    (void)state;
    struct qt_nvme r;
    up(&r);
    const struct capdrv_hw_ops *o = r.hw.ops;
    void *x = r.hw.ctx;
    uint64_t dev = 0;
    assert_int_equal(o->dma_map(x, r.fn, &r.data, 0, &dev), 0);
    struct capdrv_qtest_canary k;
    (void)qt_nvme_identify(&r, r.data.phys + 4096); /* 4 KiB from the end: all guard */
    assert_int_equal(capdrv_qtest_canary_check(r.q, &k), 0);
    assert_int_equal(k.changed, 1);
    assert_int_equal(k.last_gpa, r.data.phys + 4096);
    assert_int_equal(capdrv_qtest_canary_check(r.q, &k), 0);
    assert_int_equal(k.changed, 1); /* counted once, filled again */
    qt_nvme_down(&r);
}

static void refusals(void **state)
{
    (void)state;
    struct capdrv_qtest_config cfg = {.dma_fds = true, .machine = "virt"};
    struct capdrv_qtest *q = NULL;
    char why[256];
    assert_int_equal(capdrv_qtest_create(&cfg, &q, why, sizeof why), -CAPDRV_EINVAL);
    assert_non_null(strstr(why, "q35"));
    /* Without dma_fds a region is a slice of guest RAM: no file to give. */
    cfg = (struct capdrv_qtest_config){0};
    assert_int_equal(capdrv_qtest_create(&cfg, &q, why, sizeof why), 0);
    struct capdrv_hw hw = capdrv_qtest_hw(q);
    struct capdrv_hw_dma a;
    int fd = -1;
    assert_int_equal(hw.ops->dma_alloc(hw.ctx, 4096, &a), 0);
    assert_int_equal(hw.ops->dma_fd(hw.ctx, &a, &fd), -CAPDRV_ENOTSUP);
    struct capdrv_hw_dma forged = a;
    forged.cookie ^= 1;
    assert_int_equal(hw.ops->dma_fd(hw.ctx, &forged, &fd), -CAPDRV_EINVAL);
    hw.ops->dma_free(hw.ctx, &a);
    assert_int_equal(hw.ops->dma_fd(hw.ctx, &a, &fd), -CAPDRV_EINVAL); /* stale */
    capdrv_qtest_destroy(q);
}

int main(void)
{
    if (!qt_test_have_qemu()) {
        fprintf(stderr, "qemu-system-x86_64 not found: skipping\n");
        return QT_SKIP;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(shared_and_ejected),
        cmocka_unit_test(guard_page),
        cmocka_unit_test(refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
