/* A tiny test-side NVMe driver for the shim's NVMe profile tests: it writes
 * SQEs with DMA references (tokens or IOVAs) by hand, so the tests depend
 * only on the shim and the sim's controller (not on src/nvme). Also a
 * platform wrapper that makes the controller's CAP or Identify data
 * hostile, for the bind-time probe. */
#ifndef CAPDRV_TEST_SHIM_NVME_DRV_H
#define CAPDRV_TEST_SHIM_NVME_DRV_H

#include "fixture.h"
#include "phys_scan.h"

#include <capdrv/nvme/types.h>

/* Base 2.0 §3.1.4 registers. */
#define R_CAP 0x00u
#define R_VS 0x08u
#define R_INTMS 0x0cu
#define R_CC 0x14u
#define R_CSTS 0x1cu
#define R_NSSR 0x20u
#define R_AQA 0x24u
#define R_ASQ 0x28u
#define R_ACQ 0x30u
#define R_CMBLOC 0x38u
#define R_DB 0x1000u
#define CC_ON (1u | 6u << 16 | 4u << 20)

/* Provider memory: the queue buffer's pages, the data and list buffers. */
#define QB_ASQ 0u
#define QB_ACQ 4096u
#define QB_IOSQ 8192u
#define QB_IOCQ 12288u
#define QB_IDENT 16384u
#define QB_SIZE 32768u
#define DB_SIZE 65536u
#define LB_SIZE 16384u
#define QDEPTH 16u

struct nt {
    struct fx f;
    unsigned fn;
    capdrv_cap_t grant, mmio, pool, qb, db, lb;
    struct capdrv_dmabuf_info q, d, l;
    unsigned stride;
    uint16_t sq_tail[2], cq_head[2];
    uint8_t phase[2];
    uint16_t cid;
    uint64_t seen[512]; /* every MMIO value the provider read */
    unsigned n_seen;
    /* Leak scanning (phys_scan.h): every device range the platform handed
     * out, and p1's connection, recorded (installed by nt_machine and
     * nt_claim). */
    struct ps_hw rec;
    struct ps_conn conn;
};

/* A platform wrapper for hostile-controller probes. */
struct nt_hostile {
    struct capdrv_hw inner;
    struct capdrv_hw_ops ops;
    unsigned fn;
    uint64_t cap_set, cap_clear; /* applied to CAP reads of BAR0 */
    int patch_cns;               /* Identify CNS whose data gets patched; -1 none */
    unsigned patch_off, patch_len;
    uint64_t patch_val;
    uint64_t asq;                /* ASQ as the shim programmed it */
    struct { uint64_t phys; void *cpu; size_t size; } r[64];
    unsigned n;
};

/* The machine with an NVMe controller at 00:08.0 (@cfg may be NULL); with
 * @h, the platform is wrapped first. Returns fx_shim()'s rc. */
int nt_machine(struct nt *t, bool iommu, const struct capdrv_sim_nvme_config *cfg,
               struct nt_hostile *h);
/* nt_machine + claim + buffers; no controller setup. */
void nt_claim(struct nt *t, bool iommu, const struct capdrv_sim_nvme_config *cfg);
/* nt_claim + enable + I/O queue pair 1. */
void nt_up(struct nt *t, bool iommu, const struct capdrv_sim_nvme_config *cfg);
void nt_done(struct nt *t);

int nt_rd(struct nt *t, uint64_t off, unsigned width, uint64_t *v);
uint32_t nt_r32(struct nt *t, uint64_t off);
void nt_w32(struct nt *t, uint64_t off, uint32_t v);
int nt_wr(struct nt *t, uint64_t off, unsigned width, uint64_t v);

/* AQA/ASQ/ACQ and CC.EN, then wait for RDY. */
void nt_enable(struct nt *t);
/* A zeroed SQE with a fresh CID. */
struct capdrv_nvme_sqe nt_sqe(struct nt *t, uint8_t opc, uint32_t nsid);
/* Put @n SQEs in queue @qid's slots and ring its doorbell once; the tail
 * moves only when the doorbell is accepted. Returns the doorbell's rc. */
int nt_submit(struct nt *t, unsigned qid, const struct capdrv_nvme_sqe *sqe, unsigned n);
/* Take the next completion of CQ @qid if its phase says so; rings the head. */
bool nt_reap(struct nt *t, unsigned qid, struct capdrv_nvme_cqe *out);
/* Submit one command, reap it; returns the status field (SCT<<8 | SC). */
unsigned nt_cmd(struct nt *t, unsigned qid, struct capdrv_nvme_sqe *sqe);
/* Create CQ 1 and SQ 1 (QDEPTH entries) at QB_IOCQ / QB_IOSQ. */
void nt_create_io(struct nt *t);
/* Read/Write with a PRP pair; returns nt_cmd()'s status. */
unsigned nt_rw(struct nt *t, uint8_t opc, uint64_t slba, unsigned nlb, uint64_t prp1,
               uint64_t prp2);

void nt_put_le(void *p, unsigned n, uint64_t v);
uint64_t nt_get_le(const void *p, unsigned n);
/* Fill @n bytes with a pattern no 4- or 8-byte window of which is a sim
 * address or the low half of one (ps_fill()). */
void nt_pattern(void *p, size_t n, unsigned seed);
/* Scan everything p1 can read (ps_scan_provider()) into @r. */
void nt_scan(struct nt *t, struct ps_report *r);
/* nt_scan() found nothing, and saw p1's three buffers, its window and its
 * configuration space. */
void nt_assert_no_leak(struct nt *t);

/* Wrap f->hw (between fx_machine and fx_shim). */
void nt_hostile_install(struct nt *t, struct nt_hostile *h);

#endif
