/**
 * @file capdrv/dev/dmatest.h
 * @brief Register interface of "dmatest", the simulator's trivial DMA device.
 *
 * dmatest exists to prove the capability plumbing (grants, windows, DMA
 * lanes, interrupts, revoke) before the virtio and NVMe models exist. It is
 * a PCI function with one 4 KiB register BAR (BAR0) and an MSI-X BAR (BAR2,
 * two vectors). A command is started by writing CMD; the device latches
 * ADDR, LEN and PATTERN at that moment, so later writes to them do not
 * affect a command in flight. After DELAY_NS of simulated time the device
 * performs the DMA, sets STATUS.DONE (or STATUS.ERROR if the DMA faulted)
 * and raises MSI-X vector 0.
 *
 * ADDR is a DMA address register: a provider writes a DMA reference
 * (capdrv_dma_ref()) there; the kernel shim checks [ADDR, ADDR+LEN) against
 * the ledger when CMD (the doorbell) is written.
 *
 * Example (fill one DMA page with a pattern; error handling shortened):
 * @code
 * #include <capdrv/sys.h>
 *
 * static int dmatest_fill(capdrv_sys *sys, capdrv_cap_t mmio,
 *                         const struct capdrv_dmabuf_info *bi)
 * {
 *     capdrv_mmio_write(sys, mmio, CAPDRV_DMATEST_ADDR, 8, capdrv_dma_ref(bi, 0));
 *     capdrv_mmio_write(sys, mmio, CAPDRV_DMATEST_LEN, 4, 4096);
 *     capdrv_mmio_write(sys, mmio, CAPDRV_DMATEST_PATTERN, 4, 0xA5A5A5A5u);
 *     // The doorbell: the kernel checks [ADDR, ADDR+LEN) against the ledger.
 *     // Completion: MSI-X vector 0, then STATUS.DONE or STATUS.ERROR.
 *     return capdrv_mmio_write(sys, mmio, CAPDRV_DMATEST_CMD, 4, CAPDRV_DMATEST_CMD_FILL);
 * }
 * @endcode
 */
#ifndef CAPDRV_DEV_DMATEST_H
#define CAPDRV_DEV_DMATEST_H

#ifdef __cplusplus
extern "C" {
#endif

/** PCI vendor id of the simulated test device (Red Hat / QEMU range, sim only). */
#define CAPDRV_DMATEST_VENDOR 0x1b36u
/** PCI device id of the simulated test device. */
#define CAPDRV_DMATEST_DEVICE 0x00f0u
/** PCI class code: "other system peripheral". */
#define CAPDRV_DMATEST_CLASS 0x088000u

/** BAR holding the registers. */
#define CAPDRV_DMATEST_REG_BAR 0
/** Size of the register BAR. */
#define CAPDRV_DMATEST_REG_BAR_SIZE 0x1000u
/** BAR holding the MSI-X table (offset 0) and PBA (offset 0x800). */
#define CAPDRV_DMATEST_MSIX_BAR 2
/** Number of MSI-X vectors. */
#define CAPDRV_DMATEST_NUM_VECTORS 2

/* Register offsets in BAR0 (access, width). */
#define CAPDRV_DMATEST_ID 0x00       /**< RO 32: CAPDRV_DMATEST_ID_VALUE */
#define CAPDRV_DMATEST_STATUS 0x04   /**< RO 32: CAPDRV_DMATEST_STATUS_* bits */
#define CAPDRV_DMATEST_ADDR 0x08     /**< RW 64: DMA address of the buffer */
#define CAPDRV_DMATEST_LEN 0x10      /**< RW 32: bytes, 1 .. 1 MiB */
#define CAPDRV_DMATEST_PATTERN 0x14  /**< RW 32: fill pattern */
#define CAPDRV_DMATEST_CMD 0x18      /**< WO 32: doorbell; CAPDRV_DMATEST_CMD_* */
#define CAPDRV_DMATEST_RESULT 0x1c   /**< RO 32: byte sum of the last SUM */
#define CAPDRV_DMATEST_DELAY_NS 0x20 /**< RW 32: simulated latency of a command */

/** Value of the ID register. */
#define CAPDRV_DMATEST_ID_VALUE 0x444d4154u /* "DMAT" */

#define CAPDRV_DMATEST_STATUS_BUSY 0x1u  /**< a command is in flight */
#define CAPDRV_DMATEST_STATUS_DONE 0x2u  /**< the last command completed */
#define CAPDRV_DMATEST_STATUS_ERROR 0x4u /**< the last command faulted (bad DMA) */

#define CAPDRV_DMATEST_CMD_FILL 1u /**< write PATTERN (little-endian, repeated) to [ADDR, ADDR+LEN) */
#define CAPDRV_DMATEST_CMD_SUM 2u  /**< RESULT = sum of the bytes of [ADDR, ADDR+LEN) mod 2^32 */

/** Largest LEN the device accepts. */
#define CAPDRV_DMATEST_MAX_LEN (1u << 20)

#ifdef __cplusplus
}
#endif
#endif /* CAPDRV_DEV_DMATEST_H */
