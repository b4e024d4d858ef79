/* Private model of the simulated NVMe controller (NVM Express Base 2.0,
 * PCIe transport; NVM Command Set 1.0). Public behaviour: capdrv/sim.h.
 *
 * Files, one concern each:
 *   dev_nvme_regs.c   controller registers, CC/CSTS state machine (enable,
 *                     reset, shutdown), doorbells, events, the ops table
 *   dev_nvme_queue.c  SQ fetch and dispatch, CQE posting (phase, full CQ),
 *                     interrupts, the wait pool, faults, async events
 *   dev_nvme_admin.c  admin commands (queues, features, abort, AER, logs)
 *   dev_nvme_ident.c  Identify data structures and log page contents
 *   dev_nvme_io.c     NVM commands over the namespace media (blk_store)
 *   dev_nvme_dptr.c   PRP / SGL decoding and data movement via the oracle
 *   dev_nvme_api.c    the public entry points
 *
 * Everything runs with sim->lock held and reaches memory only through
 * sim_dma_access(), interrupts only through sim_irq_raise(). Every value
 * the driver supplies (registers, doorbells, SQ entries, PRP lists, SGL
 * segments) is untrusted and bounds-checked before use. */
#ifndef CAPDRV_SIM_DEV_NVME_H
#define CAPDRV_SIM_DEV_NVME_H

#include "sim_internal.h"

#include <capdrv/nvme/types.h>

struct blk_store;

/* Registers (Base 2.0 §3.1.3, Figure "Property Definition"). */
#define NVME_REG_CAP 0x00u
#define NVME_REG_VS 0x08u
#define NVME_REG_INTMS 0x0cu
#define NVME_REG_INTMC 0x10u
#define NVME_REG_CC 0x14u
#define NVME_REG_CSTS 0x1cu
#define NVME_REG_NSSR 0x20u
#define NVME_REG_AQA 0x24u
#define NVME_REG_ASQ 0x28u
#define NVME_REG_ACQ 0x30u
#define NVME_REG_END 0x40u /* the image the model decodes; the rest reads 0 */
#define NVME_DB_BASE 0x1000u
#define NVME_VS_2_0 0x00020000u

/* CC fields (§3.1.3.5). */
#define NVME_CC_EN 0x1u
#define NVME_CC_CSS(cc) (((cc) >> 4) & 0x7u)
#define NVME_CC_MPS(cc) (((cc) >> 7) & 0xfu)
#define NVME_CC_AMS(cc) (((cc) >> 11) & 0x7u)
#define NVME_CC_SHN(cc) (((cc) >> 14) & 0x3u)
#define NVME_CC_IOSQES(cc) (((cc) >> 16) & 0xfu)
#define NVME_CC_IOCQES(cc) (((cc) >> 20) & 0xfu)
#define NVME_CC_WMASK 0x00fffff1u /* EN, CSS, MPS, AMS, SHN, IOSQES, IOCQES */
/* CSTS fields (§3.1.3.6). */
#define NVME_CSTS_RDY 0x1u
#define NVME_CSTS_CFS 0x2u
#define NVME_CSTS_SHST_SHIFT 2
#define NVME_SHST_NORMAL 0u
#define NVME_SHST_OCCURRING 1u
#define NVME_SHST_COMPLETE 2u

#define NVME_MPSMAX 4u
#define NVME_MAX_QUEUES (CAPDRV_SIM_NVME_MAX_IOQ + 1u) /* admin + I/O */
#define NVME_AERL 3u       /* Identify AERL: 4 outstanding requests */
#define NVME_ACL 3u        /* Identify ACL */
#define NVME_ELOG_N 16u    /* error log entries (ELPE + 1) */
#define NVME_EVENTS_MAX 8u /* unreported asynchronous events */
#define NVME_POOL 256u     /* held commands + completions waiting for CQ room */
#define NVME_MAX_SEGS 1024u /* data segments of one transfer (PRP pages / SGL data blocks) */
#define NVME_BOUNCE ((size_t)128 << 10)
#define NVME_IDENT_SIZE 4096u

/* Status values: DNR (bit 15) | SCT << 8 | SC (Base 2.0 §3.3.3.2.1). */
#define NVME_DNR 0x8000u
#define NVME_SC(sct, sc) ((uint16_t)(((sct) << 8) | (sc)))
#define NVME_OK 0u
/* Generic Command Status (SCT 0h), §3.3.3.2.1. */
#define NVME_S_INVALID_OPCODE (NVME_DNR | NVME_SC(0, 0x01))
#define NVME_S_INVALID_FIELD (NVME_DNR | NVME_SC(0, 0x02))
#define NVME_S_DATA_XFER NVME_SC(0, 0x04)
#define NVME_S_INTERNAL NVME_SC(0, 0x06)
#define NVME_S_ABORT_REQ NVME_SC(0, 0x07)
#define NVME_S_ABORT_SQ_DEL NVME_SC(0, 0x08)
#define NVME_S_INVALID_NS (NVME_DNR | NVME_SC(0, 0x0b))
#define NVME_S_CMD_SEQ (NVME_DNR | NVME_SC(0, 0x0c))
#define NVME_S_SGL_SEG (NVME_DNR | NVME_SC(0, 0x0d))
#define NVME_S_SGL_COUNT (NVME_DNR | NVME_SC(0, 0x0e))
#define NVME_S_SGL_DATA_LEN (NVME_DNR | NVME_SC(0, 0x0f))
#define NVME_S_SGL_TYPE (NVME_DNR | NVME_SC(0, 0x11))
#define NVME_S_PRP_OFFSET (NVME_DNR | NVME_SC(0, 0x13))
#define NVME_S_LBA_RANGE (NVME_DNR | NVME_SC(0, 0x80))
/* Command Specific Status (SCT 1h), §3.3.3.2.1. */
#define NVME_S_CQ_INVALID (NVME_DNR | NVME_SC(1, 0x00))
#define NVME_S_QID_INVALID (NVME_DNR | NVME_SC(1, 0x01))
#define NVME_S_QSIZE_INVALID (NVME_DNR | NVME_SC(1, 0x02))
#define NVME_S_AER_LIMIT (NVME_DNR | NVME_SC(1, 0x05))
#define NVME_S_INVALID_VECTOR (NVME_DNR | NVME_SC(1, 0x08))
#define NVME_S_INVALID_LOG (NVME_DNR | NVME_SC(1, 0x09))
#define NVME_S_QUEUE_DELETION (NVME_DNR | NVME_SC(1, 0x0c))
#define NVME_S_NOT_SAVEABLE (NVME_DNR | NVME_SC(1, 0x0d))
/* Media and Data Integrity Errors (SCT 2h), §3.3.3.2.1. */
#define NVME_S_WRITE_FAULT NVME_SC(2, 0x80)
#define NVME_S_READ_ERROR NVME_SC(2, 0x81)

/* Asynchronous events (§5.2, Figure "Asynchronous Event Information"). */
#define NVME_AE_ERROR 0u
#define NVME_AE_SMART 1u
#define NVME_AE_INFO_BAD_DB 0x00u
#define NVME_AE_INFO_BAD_DB_VALUE 0x01u
#define NVME_AE_INFO_TRANSIENT 0x04u
#define NVME_AE_INFO_TEMP 0x01u
#define NVME_LOG_ERROR 0x01u
#define NVME_LOG_SMART 0x02u
#define NVME_LOG_FW 0x03u

struct nvme_ns {
    struct blk_store *store;
    uint64_t nlba;
    unsigned lbads; /* log2 of the LBA data size */
};

struct nvme_sq {
    bool valid;
    uint64_t base;
    uint16_t size, head, tail, cqid;
};

struct nvme_cq {
    bool valid, ien, phase;
    uint64_t base;
    uint16_t size, head, tail, iv;
    unsigned stalled; /* completions waiting for room (pool entries) */
    unsigned users;   /* SQs bound to it */
};

/* A completion as produced by a command, before it is written. */
struct nvme_cpl {
    uint32_t dw0;
    uint32_t nsid;              /* for the error log */
    uint16_t sqid, cid, status; /* status: NVME_DNR | SCT << 8 | SC */
    uint8_t fault;              /* enum capdrv_sim_nvme_fault_kind for the CQE */
};

enum nvme_wait_state { W_FREE = 0, W_SLOW, W_AER, W_STALLED };

/* A command held inside the controller, or a completion waiting for CQ room. */
struct nvme_wait {
    enum nvme_wait_state state;
    uint64_t seq; /* posting order of stalled completions */
    uint64_t due; /* W_SLOW */
    uint16_t sqid, cqid;
    struct capdrv_nvme_sqe sqe; /* W_SLOW: executed at due */
    struct nvme_cpl cpl;        /* W_STALLED */
};

/* A command still in an SQ that an Abort named: completed with Command
 * Abort Requested when fetched instead of being executed. */
struct nvme_abort_mark {
    bool used;
    uint16_t sqid, cid;
};

struct nvme_event {
    uint8_t type, info, log;
};

/* One segment of a decoded data pointer. */
struct nvme_seg {
    uint64_t addr;
    uint64_t len;
};

struct nvme_features {
    uint32_t nq;       /* FID 07h granted: NCQA << 16 | NSQA (0's based) */
    uint32_t coalesce; /* FID 08h */
    uint32_t aec;      /* FID 0Bh */
    uint16_t temp_over, temp_under; /* FID 04h, composite sensor */
    bool wce;          /* FID 06h */
};

struct nvme_dev {
    struct capdrv_sim_nvme_config cfg; /* normalised */
    struct nvme_ns ns[CAPDRV_SIM_NVME_MAX_NS];
    unsigned nns;

    /* Registers. */
    uint32_t cc, aqa;
    uint64_t asq, acq;
    bool rdy, cfs;
    unsigned shst;
    bool rdy_target;
    uint64_t rdy_due;   /* RDY transition in progress, or SIM_NEVER */
    uint64_t shst_due;  /* SHST transition in progress, or SIM_NEVER */
    unsigned shst_target;
    bool in_run;        /* nvme_run_queues() is on the stack */
    uint8_t cur_fault;  /* fault kind of the command being executed */

    struct nvme_sq sq[NVME_MAX_QUEUES];
    struct nvme_cq cq[NVME_MAX_QUEUES];
    unsigned n_ioq; /* I/O queues (SQ + CQ) that exist */
    struct nvme_features feat;

    struct nvme_wait pool[NVME_POOL];
    unsigned pool_used, aer_outstanding;
    uint64_t seq;
    struct nvme_abort_mark marks[NVME_ACL + 1u];
    struct nvme_event events[NVME_EVENTS_MAX];
    unsigned n_events;

    /* Logs. */
    uint8_t elog[NVME_ELOG_N][64]; /* newest first */
    uint64_t error_count;
    uint64_t units_read, units_written; /* in 512-byte units */
    uint64_t host_reads, host_writes;
    bool smart_temp_warn;

    struct capdrv_sim_nvme_fault fault; /* test knob, survives resets */
    struct capdrv_sim_nvme_stats stats;

    struct nvme_seg *segs; /* NVME_MAX_SEGS scratch */
    uint8_t *bounce;       /* NVME_BOUNCE */
};

static inline struct nvme_dev *nvme_of(const struct sim_fn *f)
{
    return f->dev_state;
}

/* dev_nvme_regs.c */
uint64_t nvme_page_size(const struct nvme_dev *d);
/* Fatal controller error: CSTS.CFS = 1, nothing is processed until reset. */
void nvme_fatal(struct nvme_dev *d);
bool nvme_running(const struct nvme_dev *d);
/* The number of I/O SQs / CQs granted (Number of Queues). */
unsigned nvme_nsq(const struct nvme_dev *d);
unsigned nvme_ncq(const struct nvme_dev *d);

/* dev_nvme_queue.c */
/* Fetch and execute what the SQs hold, post what the CQs can take. */
void nvme_run_queues(struct capdrv_sim *sim, struct sim_fn *f);
/* Entries published by tail doorbells and not fetched yet, all SQs. */
uint64_t nvme_sq_backlog(const struct nvme_dev *d);
/* Deliver one completion: counts, error log, faults, then post or stall. */
void nvme_complete(struct capdrv_sim *sim, struct sim_fn *f, struct nvme_cpl c);
/* Post waiting completions of CQ @cqid while it has room. */
void nvme_drain_cq(struct capdrv_sim *sim, struct sim_fn *f, uint16_t cqid);
/* Queue an asynchronous event; completes an outstanding AER if any. */
void nvme_event(struct capdrv_sim *sim, struct sim_fn *f, uint8_t type, uint8_t info,
                uint8_t log);
/* The earliest SLOW completion, or SIM_NEVER; run the due ones. */
uint64_t nvme_pool_next(const struct nvme_dev *d);
void nvme_pool_run(struct capdrv_sim *sim, struct sim_fn *f);
/* Is (sqid, cid) marked for abort? Clears the mark. */
bool nvme_abort_marked(struct nvme_dev *d, uint16_t sqid, uint16_t cid);
/* Forget every held command and waiting completion (reset). */
void nvme_pool_clear(struct nvme_dev *d);
struct nvme_wait *nvme_pool_get(struct nvme_dev *d);
void nvme_pool_put(struct nvme_dev *d, struct nvme_wait *w);
/* Execute one command now (admin or I/O by @sqid); returns its completion,
 * or false when it completes later (an AER). */
bool nvme_execute(struct capdrv_sim *sim, struct sim_fn *f, uint16_t sqid,
                  const struct capdrv_nvme_sqe *sqe, struct nvme_cpl *out);

/* dev_nvme_admin.c */
/* Returns false if the command completes later (AER held). */
bool nvme_admin(struct capdrv_sim *sim, struct sim_fn *f, const struct capdrv_nvme_sqe *sqe,
                struct nvme_cpl *c);
void nvme_features_default(struct nvme_dev *d);
/* Is the composite temperature beyond a threshold (SMART bit 1)? */
bool nvme_temp_alarm(const struct nvme_dev *d);

/* dev_nvme_ident.c: fill @buf (NVME_IDENT_SIZE, zeroed by the caller). */
void nvme_ident_ctrl(const struct nvme_dev *d, uint8_t *buf);
void nvme_ident_ns(const struct nvme_dev *d, uint32_t nsid, uint8_t *buf);
void nvme_ident_nslist(const struct nvme_dev *d, uint32_t after, uint8_t *buf);
void nvme_ident_nsdesc(uint8_t *buf);
/* Log page @lid into @buf (NVME_IDENT_SIZE, zeroed); its size, or 0 if unknown. */
size_t nvme_log_page(const struct nvme_dev *d, uint8_t lid, uint8_t *buf);
/* Record a failed command in the error information log. */
void nvme_elog_add(struct nvme_dev *d, const struct nvme_cpl *c, uint32_t nsid);

/* dev_nvme_io.c */
uint16_t nvme_io(struct capdrv_sim *sim, struct sim_fn *f, const struct capdrv_nvme_sqe *sqe);

/* dev_nvme_dptr.c */
/* Largest transfer in bytes (MDTS). */
uint64_t nvme_max_xfer(const struct nvme_dev *d);
/* Decode the data pointer of @sqe for @len bytes into d->segs; *n gets the
 * count. @sgl_ok: PSDT 01b allowed. Returns NVME_OK or a status. */
uint16_t nvme_dptr_decode(struct capdrv_sim *sim, struct sim_fn *f,
                          const struct capdrv_nvme_sqe *sqe, uint64_t len, bool sgl_ok,
                          unsigned *n);
/* Move @len bytes between @buf and the decoded data stream at @off.
 * @to_host: device writes host memory. NVME_OK or NVME_S_DATA_XFER. */
uint16_t nvme_dptr_xfer(struct capdrv_sim *sim, struct sim_fn *f, unsigned n, uint64_t off,
                        void *buf, size_t len, bool to_host);
/* Decode and move a whole small buffer (admin data, DSM ranges). */
uint16_t nvme_dptr_copy(struct capdrv_sim *sim, struct sim_fn *f,
                        const struct capdrv_nvme_sqe *sqe, void *buf, size_t len, bool to_host,
                        bool sgl_ok);

#endif /* CAPDRV_SIM_DEV_NVME_H */
