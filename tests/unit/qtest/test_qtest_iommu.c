/* The qtest platform with QEMU's intel-iommu (capdrv_qtest_config::iommu):
 * dma_map() maps the IOVA it is given and nothing else, dma_unmap() and
 * dma_free() take it away again, and the IOMMU's fault records say what it
 * refused. The device is QEMU's nvme, driven here by hand through its
 * admin queue (NVMe Base 2.0 §3.5.1 initialisation, §5.17 Identify), so
 * that every DMA it makes goes through the tables the platform wrote.
 * Skips (77) when qemu-system-x86_64 is not installed. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "qt_test.h"

#include <capdrv/hw.h>

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PCI_COMMAND 0x04
#define CMD_MEM 0x2u
#define CMD_MASTER 0x4u
#define NVME_CC 0x14
#define NVME_CSTS 0x1c
#define NVME_AQA 0x24
#define NVME_ASQ 0x28
#define NVME_ACQ 0x30
#define NVME_SQ0TDBL 0x1000
#define SQ_IOVA 0x40000000ull   /* well away from guest physical addresses */
#define CQ_IOVA 0x40010000ull
#define DATA_IOVA 0x7f0000000ull
#define QEMU_NVME_VID 0x1b36    /* Identify Controller bytes 1:0 (PCI vendor) */
#define FR_WRITE 5u             /* VT-d §7.1.3: write to a page the entry does not allow */

struct rig {
    struct capdrv_qtest *q;
    struct capdrv_hw hw;
    unsigned fn;
    struct capdrv_hw_dma sq, cq, data;
    unsigned tail, head, phase;
    uint16_t cid;
};

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void put_le(uint8_t *p, unsigned n, uint64_t v)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const volatile uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int wait_rdy(struct rig *r, unsigned want)
{
    for (int i = 0; i < 500; i++) {
        uint64_t v = 0;
        assert_int_equal(r->hw.ops->bar_read(r->hw.ctx, r->fn, 0, NVME_CSTS, 4, &v), 0);
        if ((v & 1u) == want)
            return 0;
        sleep_ms(10);
    }
    return -1;
}

/* QEMU with intel-iommu and nvme at 00:08.0; admin queues at SQ_IOVA and
 * CQ_IOVA; the controller enabled. */
static void rig_up(struct rig *r)
{
    char disk[256], drive[320], why[512];
    assert_int_equal(qt_test_disk(disk, sizeof disk, 1 << 20), 0);
    snprintf(drive, sizeof drive, "if=none,id=d0,file=%s,format=raw", disk);
    const char *const args[] = {"-drive", drive, "-device",
                                "nvme,serial=capdrv-iommu,drive=d0,addr=08.0", NULL};
    struct capdrv_qtest_config cfg = {.device_args = args, .iommu = true};
    memset(r, 0, sizeof *r);
    int rc = capdrv_qtest_create(&cfg, &r->q, why, sizeof why);
    unlink(disk);
    if (rc < 0)
        print_message("create: %d %s\n", rc, why);
    assert_int_equal(rc, 0);
    r->hw = capdrv_qtest_hw(r->q);
    struct capdrv_pci_addr at = {0, 0, 8, 0};
    assert_int_equal(capdrv_qtest_find(r->q, &at, &r->fn), 0);
    const struct capdrv_hw_ops *o = r->hw.ops;
    void *x = r->hw.ctx;
    assert_int_equal(o->dma_alloc(x, 4096, &r->sq), 0);
    assert_int_equal(o->dma_alloc(x, 4096, &r->cq), 0);
    assert_int_equal(o->dma_alloc(x, 4096, &r->data), 0);
    uint64_t dev = 0;
    assert_int_equal(o->dma_map(x, r->fn, &r->sq, SQ_IOVA, &dev), 0);
    assert_int_equal(dev, SQ_IOVA); /* the IOVA asked for, not the guest address */
    assert_int_equal(o->dma_map(x, r->fn, &r->cq, CQ_IOVA, &dev), 0);
    assert_int_equal(dev, CQ_IOVA);
    memset(r->sq.cpu, 0, 4096);
    memset(r->cq.cpu, 0, 4096);
    uint32_t cmd = 0;
    assert_int_equal(o->cfg_read(x, r->fn, PCI_COMMAND, 2, &cmd), 0);
    assert_int_equal(o->cfg_write(x, r->fn, PCI_COMMAND, 2, cmd | CMD_MEM | CMD_MASTER), 0);
    assert_int_equal(o->bar_write(x, r->fn, 0, NVME_CC, 4, 0), 0);
    assert_int_equal(wait_rdy(r, 0), 0);
    /* 16-entry admin queues (AQA is 0-based), CC: 4 KiB pages, 64-byte
     * SQEs (IOSQES 6), 16-byte CQEs (IOCQES 4), enable (§3.5.1). */
    assert_int_equal(o->bar_write(x, r->fn, 0, NVME_AQA, 4, 15u << 16 | 15u), 0);
    assert_int_equal(o->bar_write(x, r->fn, 0, NVME_ASQ, 8, SQ_IOVA), 0);
    assert_int_equal(o->bar_write(x, r->fn, 0, NVME_ACQ, 8, CQ_IOVA), 0);
    assert_int_equal(o->bar_write(x, r->fn, 0, NVME_CC, 4, 4u << 20 | 6u << 16 | 1u), 0);
    assert_int_equal(wait_rdy(r, 1), 0);
    r->phase = 1;
}

/* Identify Controller into @prp1; the completion's status, or -1 when none
 * came within two seconds. */
static int identify(struct rig *r, uint64_t prp1)
{
    uint8_t *sqe = (uint8_t *)r->sq.cpu + 64u * r->tail;
    memset(sqe, 0, 64);
    sqe[0] = 0x06;
    put_le(sqe + 2, 2, ++r->cid);
    put_le(sqe + 24, 8, prp1);
    put_le(sqe + 40, 4, 1); /* CNS 1: the controller */
    r->tail = (r->tail + 1) % 16u;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    assert_int_equal(r->hw.ops->bar_write(r->hw.ctx, r->fn, 0, NVME_SQ0TDBL, 4, r->tail), 0);
    const volatile uint8_t *cqe = (const volatile uint8_t *)r->cq.cpu + 16u * r->head;
    for (int i = 0; i < 200; i++) {
        uint32_t dw3 = get_le32(cqe + 12);
        if (((dw3 >> 16) & 1u) == r->phase) {
            assert_int_equal(dw3 & 0xffffu, r->cid);
            r->head = (r->head + 1) % 16u;
            if (r->head == 0)
                r->phase ^= 1u;
            /* CQ0 head doorbell: DSTRD is 0 on QEMU's nvme. */
            assert_int_equal(
                r->hw.ops->bar_write(r->hw.ctx, r->fn, 0, NVME_SQ0TDBL + 4, 4, r->head), 0);
            return (int)(dw3 >> 17);
        }
        sleep_ms(10);
    }
    return -1;
}

static void rig_down(struct rig *r)
{
    r->hw.ops->dma_free(r->hw.ctx, &r->data);
    r->hw.ops->dma_free(r->hw.ctx, &r->cq);
    r->hw.ops->dma_free(r->hw.ctx, &r->sq);
    capdrv_qtest_destroy(r->q);
}

static bool all_bytes(const void *p, size_t n, uint8_t v)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != v)
            return false;
    return true;
}

/* What is mapped is reached at its IOVA; what is not, is refused and
 * recorded; an unmap takes effect before it returns. */
static void maps_and_refuses(void **state)
{
    (void)state;
    struct rig r;
    rig_up(&r);
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
    assert_int_equal(identify(&r, DATA_IOVA), 0);
    assert_int_equal(get_le32(r.data.cpu) & 0xffffu, QEMU_NVME_VID);
    assert_int_equal(capdrv_qtest_iommu_faults(r.q, &f), 0);
    assert_int_equal(f.faults, 0);
    /* The guest physical address is no device address any more. */
    memset(r.data.cpu, 0xa5, 4096);
    (void)identify(&r, r.data.phys); /* the status is the controller's business */
    assert_true(all_bytes(r.data.cpu, 4096, 0xa5));
    assert_int_equal(capdrv_qtest_iommu_faults(r.q, &f), 0);
    assert_int_equal(f.faults, 1);
    assert_int_equal(f.last_addr, r.data.phys);
    assert_int_equal(f.last_source, 8u << 3); /* 00:08.0 */
    assert_int_equal(f.last_reason, FR_WRITE);
    /* Unmapped: refused at once, and again (each refusal recorded). */
    assert_int_equal(o->dma_unmap(x, r.fn, &r.data, DATA_IOVA), 0);
    for (unsigned k = 0; k < 2; k++) {
        (void)identify(&r, DATA_IOVA);
        assert_true(all_bytes(r.data.cpu, 4096, 0xa5));
        assert_int_equal(capdrv_qtest_iommu_faults(r.q, &f), 0);
        assert_int_equal(f.faults, 2 + k);
        assert_int_equal(f.last_addr, DATA_IOVA);
    }
    /* Mapped again elsewhere: works there, and only there. */
    assert_int_equal(o->dma_map(x, r.fn, &r.data, DATA_IOVA + 0x200000, &dev), 0);
    assert_int_equal(identify(&r, DATA_IOVA + 0x200000), 0);
    assert_int_equal(get_le32(r.data.cpu) & 0xffffu, QEMU_NVME_VID);
    assert_int_equal(capdrv_qtest_iommu_faults(r.q, &f), 0);
    assert_int_equal(f.faults, 3);
    /* dma_free() unmaps first (hw.h). */
    o->dma_free(x, &r.data);
    memset(&r.data, 0, sizeof r.data);
    (void)identify(&r, DATA_IOVA + 0x200000);
    assert_int_equal(capdrv_qtest_iommu_faults(r.q, &f), 0);
    assert_int_equal(f.faults, 4);
    assert_int_equal(capdrv_qtest_status(r.q, NULL, 0), 0);
    rig_down(&r);
}

/* IOVAs the tables cannot hold or that collide are refused before any
 * table changes; so are bad arguments and a machine without the IOMMU. */
static void bad_requests(void **state)
{
    (void)state;
    struct rig r;
    rig_up(&r);
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
     * an unmapped IOVA is still refused. */
    assert_int_equal(o->dma_map(x, r.fn, &r.data, DATA_IOVA, &dev), 0);
    assert_int_equal(identify(&r, DATA_IOVA), 0);
    assert_int_equal(get_le32(r.data.cpu) & 0xffffu, QEMU_NVME_VID);
    struct capdrv_qtest_iommu_faults f;
    assert_int_equal(capdrv_qtest_iommu_faults(r.q, &f), 0);
    assert_int_equal(f.faults, 0);
    /* Read between refusals: the IOMMU collapses faults of one requester
     * while one is pending (VT-d §7.2.1), which a poll clears. */
    memset(r.data.cpu, 0x5a, 4096);
    (void)identify(&r, (1ull << 48) - 4096); /* mapped and unmapped above */
    assert_int_equal(capdrv_qtest_iommu_faults(r.q, &f), 0);
    assert_int_equal(f.faults, 1);
    assert_int_equal(f.last_addr, (1ull << 48) - 4096);
    (void)identify(&r, SQ_IOVA + 4096); /* the page after the admin SQ */
    assert_int_equal(capdrv_qtest_iommu_faults(r.q, &f), 0);
    assert_int_equal(f.faults, 2);
    assert_int_equal(f.last_addr, SQ_IOVA + 4096);
    assert_true(all_bytes(r.data.cpu, 4096, 0x5a));
    rig_down(&r);
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
        cmocka_unit_test(config_and_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
