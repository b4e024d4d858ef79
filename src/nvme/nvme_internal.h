/* Private to src/nvme: the controller and queue structures shared by the
 * bring-up (ctrl.c, regs.c), the queue engine (queue.c), admin commands
 * (admin.c, admin_cmds.c), I/O queue pairs (qpair.c, io.c) and recovery
 * (recovery.c). NVMe Base 2.0 is "§x" below; NVM Command Set 1.0 "NVM §x". */
#ifndef CAPDRV_NVME_INTERNAL_H
#define CAPDRV_NVME_INTERNAL_H

#include <capdrv/nvme.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>

/* Controller registers (§3.1.3, "Controller Properties"). */
/* What a synchronous admin wait charges to the library's clock when it
 * reaps completions that are not its own (admin.c wait_sync()): an AER
 * storm cannot stop the clock. */
#define NVME_NO_PROGRESS_NS 10000ull
/* The least a wake-up without progress costs (regs.c nvme_sleep()). */
#define NVME_WAKE_MIN_NS 1000ull

#define NVME_REG_CAP 0x00u   /* 64 */
#define NVME_REG_VS 0x08u    /* 32 */
#define NVME_REG_INTMS 0x0cu /* 32 */
#define NVME_REG_CC 0x14u    /* 32 */
#define NVME_REG_CSTS 0x1cu  /* 32 */
#define NVME_REG_AQA 0x24u   /* 32 */
#define NVME_REG_ASQ 0x28u   /* 64 */
#define NVME_REG_ACQ 0x30u   /* 64 */
#define NVME_DOORBELL_BASE 0x1000u /* PCIe Transport 1.0 §3.1.2 doorbells (SQyTDBL / CQyHDBL) */

/* CAP fields (§3.1.3.1). */
#define NVME_CAP_MQES(c) ((unsigned)((c)&0xffffu))
#define NVME_CAP_CQR(c) ((unsigned)(((c) >> 16) & 1u))
#define NVME_CAP_TO(c) ((unsigned)(((c) >> 24) & 0xffu))
#define NVME_CAP_DSTRD(c) ((unsigned)(((c) >> 32) & 0xfu))
#define NVME_CAP_CSS(c) ((unsigned)(((c) >> 37) & 0xffu))
#define NVME_CAP_MPSMIN(c) ((unsigned)(((c) >> 48) & 0xfu))
#define NVME_CAP_MPSMAX(c) ((unsigned)(((c) >> 52) & 0xfu))

/* CC fields (§3.1.3.5). */
#define NVME_CC_EN 0x1u
#define NVME_CC_CSS_SHIFT 4   /* 000b: NVM command set */
#define NVME_CC_MPS_SHIFT 7
#define NVME_CC_AMS_SHIFT 11  /* 000b: round robin */
#define NVME_CC_SHN_SHIFT 14
#define NVME_CC_SHN_MASK (3u << 14)
#define NVME_CC_SHN_NORMAL (1u << 14)
#define NVME_CC_IOSQES_SHIFT 16
#define NVME_CC_IOCQES_SHIFT 20

/* CSTS fields (§3.1.3.6). */
#define NVME_CSTS_RDY 0x1u
#define NVME_CSTS_CFS 0x2u
#define NVME_CSTS_SHST_MASK 0xcu
#define NVME_CSTS_SHST_DONE 0x8u
#define NVME_CSTS_GONE 0xffffffffu /* every read of a removed PCIe function */

/* Command slot states. */
enum nvme_cmd_state {
    CMD_FREE = 0,  /* in the free FIFO */
    CMD_QUEUED,    /* SQ entry written, doorbell not yet rung */
    CMD_SENT,      /* the controller may be working on it */
    CMD_PARKED     /* failed by a reset/teardown; callback still to run */
};

struct nvme_cmd {
    capdrv_nvme_cb cb;
    void *arg;
    uint64_t deadline;       /* controller clock; UINT64_MAX: none (AER) */
    uint64_t abort_deadline; /* after an Abort was sent; UINT64_MAX: none */
    int park_status;         /* CMD_PARKED: the status to report */
    uint16_t cid;            /* index | generation << NVME_CID_GEN_SHIFT */
    uint8_t state;           /* enum nvme_cmd_state */
    uint8_t opc;
    bool timed_out;          /* deadline passed: report -CAPDRV_ETIMEDOUT */
};

/* CID = slot index (bits 11:0) | generation (bits 15:12). The generation
 * changes at each reuse of a slot, and slots are reused in FIFO order, so a
 * stale or duplicated completion is very unlikely to name an outstanding
 * command (§3.3.3.2: CID identifies the command; a duplicate is a protocol
 * error). Generation 15 is never used so that CID FFFFh (reserved, "not
 * applicable" in the Error Information log, §5.16.1.2) is never sent. */
#define NVME_CID_GEN_SHIFT 12
#define NVME_CID_IDX_MASK 0x0fffu
#define NVME_CID_GENS 15u

/* One submission/completion queue pair on the wire: the admin queue
 * (qid 0) or an I/O queue pair. SQ and CQ have the same size. */
struct nvme_queue {
    struct capdrv_nvme_ctrl *c;
    /* The clock command deadlines of this queue are measured on: the
     * controller's (admin queue, and every pair unless qpair_threads) or
     * own_clock (each pair's own waits only). */
    uint64_t *clock;
    uint64_t own_clock;
    /* The controller no longer has this queue (a reset or removal its
     * owner has not caught up with): reaping writes no head doorbell. */
    bool detached;
    /* I/O queues: the controller's reset epoch the queue belongs to. A
     * doorbell the kernel refuses after the epoch moved on is the reset's
     * doing, not the queue's fault: it is not broken for it. */
    unsigned epoch;
    bool resyncing;               /* inside nvme_qpair_resync() (its reap's callbacks) */
    uint16_t qid;
    unsigned depth;               /* entries of SQ and of CQ */
    /* Queue memory: SQ then CQ, each memory-page aligned. */
    capdrv_cap_t qbuf;
    struct capdrv_dmabuf_info qbi;
    size_t sq_off, cq_off;        /* offsets inside qbi */
    struct capdrv_nvme_sqe *sq;
    struct capdrv_nvme_cqe *cq;
    /* Per-slot PRP/SGL list pages (list_per_slot pages per slot). */
    capdrv_cap_t lbuf;
    struct capdrv_dmabuf_info lbi;
    size_t l_off;                 /* offset of slot 0's first page */
    unsigned list_per_slot;
    /* Ring state (§3.3.1): tail is the next SQ entry to fill; rung the tail
     * last written to the doorbell; head the SQ head the controller last
     * reported (CQE.SQHD). cq_head and phase: next CQE expected. */
    uint32_t sq_tail, sq_rung, sq_head;
    uint32_t cq_head;
    uint16_t phase;
    uint64_t sq_db, cq_db;        /* doorbell offsets in window 0 */
    /* Shadow doorbells (Doorbell Buffer Config), I/O queues only. */
    volatile uint32_t *sh_sq, *sh_cq, *ev_sq, *ev_cq;
    /* Commands. */
    struct nvme_cmd *cmds;        /* depth entries, index = CID bits 11:0 */
    uint16_t *free_fifo;          /* depth entries */
    uint16_t *sq_slot_map;        /* SQ entry -> slot index, for the ring */
    unsigned free_head, free_count;
    unsigned inflight;            /* QUEUED + SENT */
    unsigned unrung;              /* QUEUED */
    unsigned parked;
    uint64_t completions;         /* callbacks run (reaped or parked) */
    /* Interrupt routing. */
    int vector;                   /* -1: IEN = 0 (polling) */
    capdrv_cap_t irq;             /* 0 when polling or no vector */
    /* Health. */
    bool broken;
    int err;                      /* the error calls return once broken */
    char why[128];
    unsigned reaping;             /* > 0 while callbacks run */
};

/* An I/O queue pair handle. */
struct capdrv_nvme_qpair {
    struct nvme_queue q;
    struct capdrv_nvme_qpair_opts o; /* as resolved at create */
    bool sgl;
    struct capdrv_prp_cfg prp;
    struct capdrv_sgl_cfg sglc;
    struct capdrv_nvme_qpair *next;  /* the controller's list */
    uint32_t oncs;                   /* Identify ONCS when the queues were created (a reset
                                        may rewrite the controller's copy under other threads) */
};

/* Completion of a synchronous admin command. */
struct nvme_sync {
    bool done;
    struct capdrv_nvme_cpl cpl;
    struct capdrv_nvme_cqe cqe;
};

/* Most PRP/SGL list pages per command slot (qpair.c refuses more). */
#define NVME_SLOT_LISTS_MAX 16u

#define NVME_MAX_VECTORS CAPDRV_NVME_MAX_VECTORS

struct capdrv_nvme_ctrl {
    capdrv_sys *sys;
    /* Serialises the admin queue and everything controller-wide (queue
     * creation and deletion, resets, events, the namespace cache). A
     * queue pair's own calls never take it, except on slow paths (timeout
     * recovery, catching up with a reset). Recursive: admin paths nest. */
    pthread_mutex_t lock;
    /* Bumped by every reset and by surprise removal, under the lock. A
     * pair whose epoch differs completes its outstanding commands and
     * re-creates its queues (nvme_qpair_resync()): eagerly inside the
     * reset, or with capdrv_nvme_ctrl_opts::qpair_threads at its owner's
     * next call. */
    _Atomic unsigned epoch;
    int reset_status;                 /* what the last reset parks commands with */
    capdrv_cap_t grant, pool, mmio;
    uint64_t window_len;
    struct capdrv_nvme_ctrl_opts o;  /* defaults filled in */
    struct capdrv_nvme_ctrl_info info;
    struct capdrv_nvme_id_ctrl *id;
    uint64_t cap;
    uint32_t cc;                      /* last CC written while enabled */
    unsigned page_shift;
    struct capdrv_prp_cfg admin_prp;
    /* The admin queue and its data buffer (ADMIN_XFER_MAX + 1 list page). */
    struct nvme_queue aq;
    capdrv_cap_t abuf;
    struct capdrv_dmabuf_info abi;
    size_t a_off;                     /* page-aligned start of the data area */
    bool admin_busy;                  /* a synchronous admin command is waiting */
    /* Shadow doorbells: one DMA buffer with the shadow and EventIdx pages. */
    capdrv_cap_t dbbuf;
    struct capdrv_dmabuf_info dbi;
    size_t db_off;
    /* Asynchronous events. */
    unsigned aer_armed;
    struct capdrv_nvme_event ev[CAPDRV_NVME_EVENT_QUEUE];
    unsigned ev_head, ev_count;
    /* Interrupts: capabilities per vector (0: not open); timer: what waits
     * sleep on when no CQ interrupt applies (vector 0), or 0. */
    capdrv_cap_t irq[NVME_MAX_VECTORS];
    capdrv_cap_t timer;
    /* Time waited through capdrv_irq_wait() timeouts (see capdrv/nvme.h). */
    uint64_t clock_ns;
    /* I/O queue pairs. */
    struct capdrv_nvme_qpair *qps;
    bool *qid_used;                  /* o.io_queues + 1 entries (ids the library may ask for) */
    /* Memory of destroyed queue pairs, released once disabled. */
    capdrv_cap_t *retired;
    unsigned n_retired, cap_retired;
    /* Namespaces seen by capdrv_nvme_ns_info() (block size checks). */
    struct { uint32_t nsid; uint32_t block; } ns[16];
    unsigned n_ns;
    /* State. */
    /* Atomic: queue pairs on other threads read them. */
    _Atomic bool enabled;    /* CC.EN = 1 and RDY seen */
    _Atomic bool gone;       /* CSTS read all ones: surprise removal */
    _Atomic bool fatal;      /* CSTS.CFS seen, not yet reset */
    _Atomic bool resetting;
};

/* regs.c: registers, waits and the clock. */
int nvme_reg_read32(struct capdrv_nvme_ctrl *c, uint32_t off, uint32_t *v);
int nvme_reg_write32(struct capdrv_nvme_ctrl *c, uint32_t off, uint32_t v);
int nvme_reg_read64(struct capdrv_nvme_ctrl *c, uint32_t off, uint64_t *v);
int nvme_reg_write64(struct capdrv_nvme_ctrl *c, uint32_t off, uint64_t v);
int nvme_csts(struct capdrv_nvme_ctrl *c, uint32_t *csts);
int nvme_wait_ready(struct capdrv_nvme_ctrl *c, bool rdy);
int nvme_wait_shutdown(struct capdrv_nvme_ctrl *c);
int nvme_sleep(struct capdrv_nvme_ctrl *c, uint64_t *clock, capdrv_cap_t irq, uint64_t ns,
               uint64_t *woke);
uint64_t nvme_doorbell(const struct capdrv_nvme_ctrl *c, uint16_t qid, bool cq);
void nvme_say(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* queue.c: the ring engine. */
int nvme_queue_alloc(struct capdrv_nvme_ctrl *c, struct nvme_queue *q, uint16_t qid,
                     unsigned depth, unsigned list_per_slot);
void nvme_queue_free(struct capdrv_nvme_ctrl *c, struct nvme_queue *q);
/* The queue's heap memory only (no capability is released). */
void nvme_queue_free_heap(struct nvme_queue *q);
/* capdrv_nvme_ctrl_abandon(): every queue pair completed and freed. */
void nvme_qpairs_abandon(struct capdrv_nvme_ctrl *c);
void nvme_queue_rewind(struct nvme_queue *q);
int nvme_queue_check(const struct nvme_queue *q);
int nvme_queue_get(struct nvme_queue *q, struct capdrv_nvme_sqe **sqe, struct nvme_cmd **cmd);
void nvme_queue_commit(struct nvme_queue *q, struct nvme_cmd *cmd, uint64_t timeout_ns,
                       capdrv_nvme_cb cb, void *arg);
void nvme_queue_unget(struct nvme_queue *q, struct nvme_cmd *cmd);
struct capdrv_dma_page nvme_queue_list(const struct nvme_queue *q, const struct nvme_cmd *cmd,
                                       unsigned i);
int nvme_queue_ring(struct nvme_queue *q);
int nvme_queue_reap(struct nvme_queue *q, unsigned max);
void nvme_queue_break(struct nvme_queue *q, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void nvme_queue_park_all(struct nvme_queue *q, int status);
unsigned nvme_queue_run_parked(struct nvme_queue *q);
void nvme_queue_expire(struct nvme_queue *q, uint64_t now);

/* admin.c: synchronous admin commands, AERs. */
int nvme_admin_sync(struct capdrv_nvme_ctrl *c, struct capdrv_nvme_sqe *sqe, void *buf,
                    size_t len, int dir, struct nvme_sync *out);
int nvme_admin_simple(struct capdrv_nvme_ctrl *c, struct capdrv_nvme_sqe *sqe, uint32_t *dw0);
int nvme_aer_arm(struct capdrv_nvme_ctrl *c);
/* Data direction of nvme_admin_sync(). */
#define NVME_DIR_NONE 0
#define NVME_DIR_TO_DEV 1
#define NVME_DIR_FROM_DEV 2
#define NVME_DIR_BOTH 3

/* ctrl.c / qpair.c / recovery.c. */
int nvme_ctrl_enable(struct capdrv_nvme_ctrl *c, char *why, size_t why_len);
int nvme_ctrl_disable(struct capdrv_nvme_ctrl *c);
int nvme_ctrl_setup(struct capdrv_nvme_ctrl *c, char *why, size_t why_len);
int nvme_qpair_create_hw(struct capdrv_nvme_qpair *qp, bool *held, bool *touched);
int nvme_dbbuf_setup(struct capdrv_nvme_ctrl *c);
void nvme_dbbuf_attach(struct capdrv_nvme_ctrl *c, struct nvme_queue *q);
int nvme_gone(struct capdrv_nvme_ctrl *c);
int nvme_health(struct capdrv_nvme_ctrl *c);
int nvme_recover_timeouts(struct capdrv_nvme_ctrl *c, struct nvme_queue *q);
/* Catch @p qp up with the controller's last reset or removal (see
 * capdrv_nvme_ctrl::epoch); @p run: run the completions now (the owner's
 * call) or leave them parked for the reset to run. Returns 0 or the error
 * that left the pair broken. */
int nvme_qpair_resync(struct capdrv_nvme_qpair *qp, bool run);
/* A refusal of a doorbell write by the kernel (not by the controller): the
 * device saw nothing (capdrv/sys.h capdrv_mmio_write()). The shim answers
 * an opcode or queue outside its rules with -CAPDRV_EPERM or -CAPDRV_EINVAL
 * (kernel-shim/profiles/nvme_sqe.c), a CQ deleted before its SQs with
 * -CAPDRV_EBUSY, a reference outside the ledger with -CAPDRV_EFAULT, and
 * -CAPDRV_ENOMEM when it could not check the batch. */
static inline bool nvme_kernel_refusal(int rc)
{
    return rc == -CAPDRV_EPERM || rc == -CAPDRV_EFAULT || rc == -CAPDRV_EINVAL ||
           rc == -CAPDRV_EBUSY || rc == -CAPDRV_ENOMEM;
}
/* Take back the queued, never-rung commands of a queue broken by a refused
 * doorbell (none may have a callback) and make it usable again (queue.c). */
int nvme_queue_withdraw(struct nvme_queue *q);

/* nvme_queue_ring() of an outdated queue whose doorbell the kernel
 * refused: the queue's owner catches up (nvme_qpair_sync()) and its
 * commands complete as cancelled by the reset. */
#define NVME_E_OUTDATED (-CAPDRV_ECANCELED)
/* An I/O queue whose controller was reset or removed since it was created. */
static inline bool nvme_queue_outdated(const struct nvme_queue *q)
{
    return q->qid != 0 &&
           atomic_load_explicit(&q->c->epoch, memory_order_acquire) != q->epoch;
}
/* The owner's cheap check at the entry of _poll(), _wait() and
 * _destroy(): catch up with a reset (and run the completions) if one
 * happened. */
static inline int nvme_qpair_sync(struct capdrv_nvme_qpair *qp)
{
    unsigned e = atomic_load_explicit(&qp->q.c->epoch, memory_order_acquire);
    return e == qp->q.epoch ? 0 : nvme_qpair_resync(qp, true);
}
/* The same check at submissions and _ring(), which never run callbacks: a
 * pair that has not caught up takes no new work (-CAPDRV_EBUSY, as while a
 * reset runs) until its owner polls or waits. */
static inline int nvme_qpair_current(const struct capdrv_nvme_qpair *qp)
{
    unsigned e = atomic_load_explicit(&qp->q.c->epoch, memory_order_acquire);
    return e == qp->q.epoch ? 0 : -CAPDRV_EBUSY;
}
static inline void nvme_lock(struct capdrv_nvme_ctrl *c)
{
    (void)pthread_mutex_lock(&c->lock);
}
static inline void nvme_unlock(struct capdrv_nvme_ctrl *c)
{
    (void)pthread_mutex_unlock(&c->lock);
}
int nvme_reset(struct capdrv_nvme_ctrl *c, int timed_out_status);
void nvme_retire(struct capdrv_nvme_ctrl *c, capdrv_cap_t *buf);
void nvme_release_retired(struct capdrv_nvme_ctrl *c);
uint32_t nvme_ns_block(const struct capdrv_nvme_ctrl *c, uint32_t nsid);

/* Status conversion (§3.3.3.2.1). */
void nvme_cpl_from_cqe(const struct capdrv_nvme_cqe *cqe, struct capdrv_nvme_cpl *cpl);

#endif
