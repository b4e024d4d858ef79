/* QEMU's nvme driven by hand through its admin queue (NVMe Base 2.0
 * §3.5.1 initialisation, §5.17 Identify), for the qtest platform tests
 * that need a device to make DMA: every Identify writes 4 KiB where its
 * PRP1 points. Uses cmocka asserts. */
#ifndef CAPDRV_QT_NVME_H
#define CAPDRV_QT_NVME_H

#include <capdrv/hw.h>
#include <capdrv/qtest.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QT_NVME_VID 0x1b36 /* Identify Controller bytes 1:0 (PCI vendor) */

struct qt_nvme {
    struct capdrv_qtest *q;
    struct capdrv_hw hw;
    unsigned fn;
    struct capdrv_hw_dma sq, cq, data; /* admin queues; a 4 KiB buffer */
    uint64_t sq_dev, cq_dev;           /* their device addresses */
    unsigned tail, head, phase;
    uint16_t cid;
};

/* QEMU with nvme at 00:08.0 (and @cfg's other settings); the admin queues
 * and the data buffer allocated, the queues mapped at @sq_iova / @cq_iova
 * (what the platform returns is used), the controller enabled. */
void qt_nvme_up(struct qt_nvme *n, struct capdrv_qtest_config cfg, uint64_t sq_iova,
                uint64_t cq_iova);
/* Identify Controller into @prp1; the completion's status, or -1 when none
 * came within two seconds. */
int qt_nvme_identify(struct qt_nvme *n, uint64_t prp1);
/* Frees what is left and stops QEMU. */
void qt_nvme_down(struct qt_nvme *n);
/* Little-endian 32-bit read. */
uint32_t qt_le32(const volatile void *p);
bool qt_all_bytes(const void *p, size_t n, uint8_t v);

#endif
