/* A tiny hand-made NVMe driver for the sim NVMe controller tests
 * (test_sim_nvme*.c). It reaches the function only through the platform
 * operations, as a driver on real hardware would: registers in BAR0
 * (NVM Express Base 2.0 §3.1.4), queues and data in DMA memory it
 * allocates and maps, entries built byte by byte (§4.2, §4.6), independent
 * of the library's NVMe code.
 *
 * Memory: one mapped region of NT_MEM bytes. ASQ at 0, ACQ at 0x1000;
 * I/O SQ q at q * 0x10000, its CQ at q * 0x10000 + 0x8000 (q = 1..8); data
 * from NT_DATA. */
#ifndef CAPDRV_TEST_SIM_NVME_DRV_H
#define CAPDRV_TEST_SIM_NVME_DRV_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <cmocka.h>

#include <capdrv/hw.h>
#include <capdrv/sim.h>

#define NT_MEM 0x400000u
#define NT_ASQ 0x0u
#define NT_ACQ 0x1000u
#define NT_DATA 0x100000u
#define NT_NQ 9u
#define NT_ADMIN_ENTRIES 16u

/* Status values as the model's fault knob takes them: SCT << 8 | SC. */
#define ST(sct, sc) ((uint16_t)(((sct) << 8) | (sc)))

/* BAR0 registers (§3.1.4). */
#define R_CAP 0x00u
#define R_VS 0x08u
#define R_INTMS 0x0cu
#define R_CC 0x14u
#define R_CSTS 0x1cu
#define R_AQA 0x24u
#define R_ASQ 0x28u
#define R_ACQ 0x30u
#define CC_READY_VALUE (1u | (6u << 16) | (4u << 20)) /* EN, IOSQES 6, IOCQES 4 */

struct nt {
    struct capdrv_sim *sim;
    struct capdrv_hw hw;
    unsigned fn;
    struct capdrv_hw_dma mem;
    uint64_t dev; /* device address of the region */
    uint8_t *cpu;
    unsigned dstrd;
    uint16_t sq_tail[NT_NQ], sq_size[NT_NQ];
    uint16_t cq_head[NT_NQ], cq_size[NT_NQ];
    bool phase[NT_NQ];
    uint16_t cid;
};

/* A completion read back (host order). */
struct ncqe {
    uint32_t dw0;
    uint16_t sqhd, sqid, cid;
    uint16_t st;  /* SCT << 8 | SC */
    bool dnr, p;
};

/* A command being built (host order; written little-endian). */
struct ncmd {
    uint8_t opc, flags;
    uint16_t cid; /* 0: the driver picks a fresh one */
    uint32_t nsid;
    uint64_t prp1, prp2;
    uint32_t cdw10, cdw11, cdw12, cdw13, cdw14, cdw15;
};

/* Create a machine with one NVMe controller at 00:08.0 (@cfg may be NULL),
 * map NT_MEM bytes, route MSI-X vectors. */
void nt_open(struct nt *t, const struct capdrv_sim_nvme_config *cfg);
/* Unmap, free, check DMA memory is gone and @violations oracle violations
 * happened, destroy. */
void nt_close(struct nt *t, unsigned long violations);

uint64_t nt_rd(struct nt *t, uint64_t off, unsigned w);
void nt_wr(struct nt *t, uint64_t off, unsigned w, uint64_t v);
uint32_t nt_csts(struct nt *t);
/* Doorbells (§3.1.4.13-14). */
uint64_t nt_sq_db(struct nt *t, unsigned q);
uint64_t nt_cq_db(struct nt *t, unsigned q);

/* Program AQA/ASQ/ACQ for @entries-entry admin queues and write CC (with
 * @cc, e.g. CC_READY_VALUE). Resets the driver's admin queue state. */
void nt_enable_cc(struct nt *t, uint16_t entries, uint32_t cc);
/* nt_enable_cc(NT_ADMIN_ENTRIES, CC_READY_VALUE) and check RDY = 1. */
void nt_enable(struct nt *t);
/* CC.EN = 0 and wait for RDY = 0 (no delay configured: at once). */
void nt_disable(struct nt *t);

/* Device address / CPU pointer of region offset @off. */
uint64_t nt_dev(struct nt *t, uint64_t off);
uint8_t *nt_cpu(struct nt *t, uint64_t off);
uint64_t nt_sq_off(unsigned q);
uint64_t nt_cq_off(unsigned q);

/* Put @c in SQ @q at the driver's tail (no doorbell); returns its CID. */
uint16_t nt_put(struct nt *t, unsigned q, const struct ncmd *c);
/* Ring SQ @q's tail doorbell with the driver's tail. */
void nt_ring(struct nt *t, unsigned q);
/* Take the next CQE of CQ @q if its phase says it is new (no doorbell). */
bool nt_peek(struct nt *t, unsigned q, struct ncqe *e);
bool nt_take(struct nt *t, unsigned q, struct ncqe *e);
/* Write CQ @q's head doorbell with the driver's head. */
void nt_release(struct nt *t, unsigned q);
/* Submit @c on @q, expect exactly one CQE (matching CID), release it. */
struct ncqe nt_cmd(struct nt *t, unsigned q, const struct ncmd *c);
/* Admin helpers returning the status (SCT << 8 | SC). */
uint16_t nt_create_cq(struct nt *t, unsigned q, uint16_t entries, bool ien, uint16_t iv);
uint16_t nt_create_sq(struct nt *t, unsigned q, uint16_t entries, uint16_t cqid);
/* Create CQ q (IEN, vector q) and SQ q of @entries each; asserts success. */
void nt_io_pair(struct nt *t, unsigned q, uint16_t entries);
/* Identify CNS @cns for @nsid into NT_DATA; returns status. */
uint16_t nt_identify(struct nt *t, uint8_t cns, uint32_t nsid);
/* Read / Write @nlb blocks at @slba of @nsid on SQ @q with PRP1/PRP2. */
uint16_t nt_rw(struct nt *t, unsigned q, bool write, uint32_t nsid, uint64_t slba, uint32_t nlb,
               uint64_t prp1, uint64_t prp2);
/* Did MSI-X vector @v fire (polled, consumes it)? */
int nt_fired(struct nt *t, unsigned v);

void nt_put_le(uint8_t *p, unsigned w, uint64_t v);
uint64_t nt_get_le(const uint8_t *p, unsigned w);

#endif /* CAPDRV_TEST_SIM_NVME_DRV_H */
