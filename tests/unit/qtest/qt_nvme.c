/* QEMU's nvme by hand (qt_nvme.h). */
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
#define QDEPTH 16u

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

uint32_t qt_le32(const volatile void *v)
{
    const volatile uint8_t *p = v;
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

bool qt_all_bytes(const void *p, size_t n, uint8_t v)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != v)
            return false;
    return true;
}

static int wait_rdy(struct qt_nvme *n, unsigned want)
{
    for (int i = 0; i < 500; i++) {
        uint64_t v = 0;
        assert_int_equal(n->hw.ops->bar_read(n->hw.ctx, n->fn, 0, NVME_CSTS, 4, &v), 0);
        if ((v & 1u) == want)
            return 0;
        sleep_ms(10);
    }
    return -1;
}

void qt_nvme_up(struct qt_nvme *n, struct capdrv_qtest_config cfg, uint64_t sq_iova,
                uint64_t cq_iova)
{
    char disk[256], drive[320], why[512];
    assert_int_equal(qt_test_disk(disk, sizeof disk, 1 << 20), 0);
    snprintf(drive, sizeof drive, "if=none,id=d0,file=%s,format=raw", disk);
    const char *const args[] = {"-drive", drive, "-device",
                                "nvme,serial=capdrv-test,drive=d0,addr=08.0", NULL};
    cfg.device_args = args;
    memset(n, 0, sizeof *n);
    int rc = capdrv_qtest_create(&cfg, &n->q, why, sizeof why);
    unlink(disk);
    if (rc < 0)
        print_message("create: %d %s\n", rc, why);
    assert_int_equal(rc, 0);
    n->hw = capdrv_qtest_hw(n->q);
    struct capdrv_pci_addr at = {0, 0, 8, 0};
    assert_int_equal(capdrv_qtest_find(n->q, &at, &n->fn), 0);
    const struct capdrv_hw_ops *o = n->hw.ops;
    void *x = n->hw.ctx;
    assert_int_equal(o->dma_alloc(x, 4096, &n->sq), 0);
    assert_int_equal(o->dma_alloc(x, 4096, &n->cq), 0);
    assert_int_equal(o->dma_alloc(x, 4096, &n->data), 0);
    assert_int_equal(o->dma_map(x, n->fn, &n->sq, sq_iova, &n->sq_dev), 0);
    assert_int_equal(o->dma_map(x, n->fn, &n->cq, cq_iova, &n->cq_dev), 0);
    memset(n->sq.cpu, 0, 4096);
    memset(n->cq.cpu, 0, 4096);
    uint32_t cmd = 0;
    assert_int_equal(o->cfg_read(x, n->fn, PCI_COMMAND, 2, &cmd), 0);
    assert_int_equal(o->cfg_write(x, n->fn, PCI_COMMAND, 2, cmd | CMD_MEM | CMD_MASTER), 0);
    assert_int_equal(o->bar_write(x, n->fn, 0, NVME_CC, 4, 0), 0);
    assert_int_equal(wait_rdy(n, 0), 0);
    /* 16-entry admin queues (AQA is 0-based), CC: 4 KiB pages, 64-byte
     * SQEs (IOSQES 6), 16-byte CQEs (IOCQES 4), enable (§3.5.1). */
    assert_int_equal(o->bar_write(x, n->fn, 0, NVME_AQA, 4, (QDEPTH - 1) << 16 | (QDEPTH - 1)), 0);
    assert_int_equal(o->bar_write(x, n->fn, 0, NVME_ASQ, 8, n->sq_dev), 0);
    assert_int_equal(o->bar_write(x, n->fn, 0, NVME_ACQ, 8, n->cq_dev), 0);
    assert_int_equal(o->bar_write(x, n->fn, 0, NVME_CC, 4, 4u << 20 | 6u << 16 | 1u), 0);
    assert_int_equal(wait_rdy(n, 1), 0);
    n->phase = 1;
}

int qt_nvme_identify(struct qt_nvme *n, uint64_t prp1)
{
    uint8_t *sqe = (uint8_t *)n->sq.cpu + 64u * n->tail;
    memset(sqe, 0, 64);
    sqe[0] = 0x06;
    put_le(sqe + 2, 2, ++n->cid);
    put_le(sqe + 24, 8, prp1);
    put_le(sqe + 40, 4, 1); /* CNS 1: the controller */
    n->tail = (n->tail + 1) % QDEPTH;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    assert_int_equal(n->hw.ops->bar_write(n->hw.ctx, n->fn, 0, NVME_SQ0TDBL, 4, n->tail), 0);
    const volatile uint8_t *cqe = (const volatile uint8_t *)n->cq.cpu + 16u * n->head;
    for (int i = 0; i < 200; i++) {
        uint32_t dw3 = qt_le32(cqe + 12);
        if (((dw3 >> 16) & 1u) == n->phase) {
            assert_int_equal(dw3 & 0xffffu, n->cid);
            n->head = (n->head + 1) % QDEPTH;
            if (n->head == 0)
                n->phase ^= 1u;
            /* CQ0 head doorbell: DSTRD is 0 on QEMU's nvme. */
            assert_int_equal(
                n->hw.ops->bar_write(n->hw.ctx, n->fn, 0, NVME_SQ0TDBL + 4, 4, n->head), 0);
            return (int)(dw3 >> 17);
        }
        sleep_ms(10);
    }
    return -1;
}

void qt_nvme_down(struct qt_nvme *n)
{
    if (n->data.size)
        n->hw.ops->dma_free(n->hw.ctx, &n->data);
    n->hw.ops->dma_free(n->hw.ctx, &n->cq);
    n->hw.ops->dma_free(n->hw.ctx, &n->sq);
    capdrv_qtest_destroy(n->q);
}
