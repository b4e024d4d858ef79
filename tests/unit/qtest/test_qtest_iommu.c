/* The qtest platform with QEMU's intel-iommu (capdrv_qtest_config::iommu):
 * dma_map() maps the IOVA it is given and nothing else, dma_unmap() and
 * dma_free() take it away again, and the IOMMU's fault records say what it
 * refused. The device is QEMU's nvme, driven by hand through its admin
 * queue (qt_nvme.h), so that every DMA it makes goes through the tables
 * the platform wrote. Skips (77) when qemu-system-x86_64 is not installed. */
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

#define SQ_IOVA 0x40000000ull /* well away from guest physical addresses */
#define CQ_IOVA 0x40010000ull
#define DATA_IOVA 0x7f0000000ull
#define FR_WRITE 5u /* VT-d §7.1.3: write to a page the entry does not allow */

static void up(struct qt_nvme *n)
{
    qt_nvme_up(n, (struct capdrv_qtest_config){.iommu = true}, SQ_IOVA, CQ_IOVA);
    assert_int_equal(n->sq_dev, SQ_IOVA); /* the IOVA asked for, not the guest address */
    assert_int_equal(n->cq_dev, CQ_IOVA);
}

/* What is mapped is reached at its IOVA; what is not, is refused and
 * recorded; an unmap takes effect before it returns. */
static void maps_and_refuses(void **state)
{
    (void)state;
    struct qt_nvme r;
    up(&r);
    const struct capdrv_hw_ops *o = r.hw.ops;
    void *x = r.hw.ctx;
    assert_int_equal(o->caps(x) & CAPDRV_HW_IOMMU, CAPDRV_HW_IOMMU);
    struct capdrv_qtest_iommu_faults f;
    assert_int_equal(capdrv_qtest_iommu_faults(r.q, &f), 0);
    assert_int_equal(f.faults, 0);
    /* Mapped: the data arrives. */
    uint64_t dev = 0;
    assert_int_equal(o->dma_map(x, r.fn, &r.data, DATA_IOVA, &dev), 0);
    memset(r.data.cpu, 0xa5, 4096);
    assert_int_equal(qt_nvme_identify(&r, DATA_IOVA), 0);
    assert_int_equal(qt_le32(r.data.cpu) & 0xffffu, QT_NVME_VID);
    assert_int_equal(capdrv_qtest_iommu_faults(r.q, &f), 0);
    assert_int_equal(f.faults, 0);
    /* The guest physical address is no device address any more. */
    memset(r.data.cpu, 0xa5, 4096);
    (void)qt_nvme_identify(&r, r.data.phys); /* the status is the controller's business */
    assert_true(qt_all_bytes(r.data.cpu, 4096, 0xa5));
    assert_int_equal(capdrv_qtest_iommu_faults(r.q, &f), 0);
    assert_int_equal(f.faults, 1);
    assert_int_equal(f.last_addr, r.data.phys);
    assert_int_equal(f.last_source, 8u << 3); /* 00:08.0 */
    assert_int_equal(f.last_reason, FR_WRITE);
    /* Unmapped: refused at once, and again (each refusal recorded). */
    assert_int_equal(o->dma_unmap(x, r.fn, &r.data, DATA_IOVA), 0);
    for (unsigned k = 0; k < 2; k++) {
        (void)qt_nvme_identify(&r, DATA_IOVA);
        assert_true(qt_all_bytes(r.data.cpu, 4096, 0xa5));
        assert_int_equal(capdrv_qtest_iommu_faults(r.q, &f), 0);
        assert_int_equal(f.faults, 2 + k);
        assert_int_equal(f.last_addr, DATA_IOVA);
    }
    /* Mapped again elsewhere: works there, and only there. */
    assert_int_equal(o->dma_map(x, r.fn, &r.data, DATA_IOVA + 0x200000, &dev), 0);
    assert_int_equal(qt_nvme_identify(&r, DATA_IOVA + 0x200000), 0);
    assert_int_equal(qt_le32(r.data.cpu) & 0xffffu, QT_NVME_VID);
    assert_int_equal(capdrv_qtest_iommu_faults(r.q, &f), 0);
    assert_int_equal(f.faults, 3);
    /* dma_free() unmaps first (hw.h). */
    o->dma_free(x, &r.data);
    memset(&r.data, 0, sizeof r.data);
    (void)qt_nvme_identify(&r, DATA_IOVA + 0x200000);
    assert_int_equal(capdrv_qtest_iommu_faults(r.q, &f), 0);
    assert_int_equal(f.faults, 4);
    assert_int_equal(capdrv_qtest_status(r.q, NULL, 0), 0);
    qt_nvme_down(&r);
}

/* IOVAs the tables cannot hold or that collide are refused before any
 * table changes. */
static void bad_requests(void **state)
{
    (void)state;
    struct qt_nvme r;
    up(&r);
    const struct capdrv_hw_ops *o = r.hw.ops;
    void *x = r.hw.ctx;
    uint64_t dev = 0;
    assert_int_equal(o->dma_map(x, r.fn, &r.data, DATA_IOVA + 1, &dev), -CAPDRV_EINVAL);
    assert_int_equal(o->dma_map(x, r.fn, &r.data, 1ull << 48, &dev), -CAPDRV_EINVAL);
    assert_int_equal(o->dma_map(x, r.fn, &r.data, (1ull << 48) - 4096, &dev), 0);
    assert_int_equal(o->dma_unmap(x, r.fn, &r.data, (1ull << 48) - 4096), 0);
    assert_int_equal(o->dma_map(x, r.fn, &r.data, UINT64_MAX - 4095, &dev), -CAPDRV_EINVAL);
    /* Overlaps the admin SQ's IOVA; the same buffer twice. */
    assert_int_equal(o->dma_map(x, r.fn, &r.data, SQ_IOVA, &dev), -CAPDRV_EEXIST);
    assert_int_equal(o->dma_map(x, r.fn, &r.sq, DATA_IOVA, &dev), -CAPDRV_EEXIST);
    /* Nothing above changed the mappings: the admin queue still works and
     * unmapped IOVAs are still refused. */
    assert_int_equal(o->dma_map(x, r.fn, &r.data, DATA_IOVA, &dev), 0);
    assert_int_equal(qt_nvme_identify(&r, DATA_IOVA), 0);
    assert_int_equal(qt_le32(r.data.cpu) & 0xffffu, QT_NVME_VID);
    struct capdrv_qtest_iommu_faults f;
    assert_int_equal(capdrv_qtest_iommu_faults(r.q, &f), 0);
    assert_int_equal(f.faults, 0);
    /* Read between refusals: the IOMMU collapses faults of one requester
     * while one is pending (VT-d §7.2.1), which a poll clears. */
    memset(r.data.cpu, 0x5a, 4096);
    (void)qt_nvme_identify(&r, (1ull << 48) - 4096); /* mapped and unmapped above */
    assert_int_equal(capdrv_qtest_iommu_faults(r.q, &f), 0);
    assert_int_equal(f.faults, 1);
    assert_int_equal(f.last_addr, (1ull << 48) - 4096);
    (void)qt_nvme_identify(&r, SQ_IOVA + 4096); /* the page after the admin SQ */
    assert_int_equal(capdrv_qtest_iommu_faults(r.q, &f), 0);
    assert_int_equal(f.faults, 2);
    assert_int_equal(f.last_addr, SQ_IOVA + 4096);
    assert_true(qt_all_bytes(r.data.cpu, 4096, 0x5a));
    qt_nvme_down(&r);
}

/* The shim's IOVAs move on through its window: a buffer mapped and
 * unmapped 2 MiB further on each time needs a new leaf table each time,
 * more than the table pool holds, and works because an emptied leaf table
 * goes back to the pool. */
static void tables_reclaimed(void **state)
{
    (void)state;
    struct qt_nvme r;
    up(&r);
    const struct capdrv_hw_ops *o = r.hw.ops;
    void *x = r.hw.ctx;
    uint64_t dev = 0, iova = DATA_IOVA;
    for (unsigned i = 0; i < 300; i++, iova += 0x200000) {
        assert_int_equal(o->dma_map(x, r.fn, &r.data, iova, &dev), 0);
        assert_int_equal(o->dma_unmap(x, r.fn, &r.data, iova), 0);
    }
    assert_int_equal(o->dma_map(x, r.fn, &r.data, iova, &dev), 0);
    memset(r.data.cpu, 0, 4096);
    assert_int_equal(qt_nvme_identify(&r, iova), 0);
    assert_int_equal(qt_le32(r.data.cpu) & 0xffffu, QT_NVME_VID);
    struct capdrv_qtest_iommu_faults f;
    assert_int_equal(capdrv_qtest_iommu_faults(r.q, &f), 0);
    assert_int_equal(f.faults, 0);
    qt_nvme_down(&r);
}

static void config_and_arguments(void **state)
{
    (void)state;
    struct capdrv_qtest_config cfg = {.iommu = true, .machine = "virt"};
    struct capdrv_qtest *q = NULL;
    char why[256];
    assert_int_equal(capdrv_qtest_create(&cfg, &q, why, sizeof why), -CAPDRV_EINVAL);
    assert_non_null(strstr(why, "q35"));
    cfg = (struct capdrv_qtest_config){0};
    assert_int_equal(capdrv_qtest_create(&cfg, &q, why, sizeof why), 0);
    struct capdrv_qtest_iommu_faults f;
    assert_int_equal(capdrv_qtest_iommu_faults(q, &f), -CAPDRV_ENOTSUP);
    assert_int_equal(capdrv_qtest_iommu_faults(q, NULL), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_qtest_iommu_faults(NULL, &f), -CAPDRV_EINVAL);
    struct capdrv_hw hw = capdrv_qtest_hw(q);
    assert_int_equal(hw.ops->caps(hw.ctx) & CAPDRV_HW_IOMMU, 0);
    capdrv_qtest_destroy(q);
}

int main(void)
{
    if (!qt_test_have_qemu()) {
        fprintf(stderr, "qemu-system-x86_64 not found: skipping\n");
        return QT_SKIP;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(maps_and_refuses),
        cmocka_unit_test(bad_requests),
        cmocka_unit_test(tables_reclaimed),
        cmocka_unit_test(config_and_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
