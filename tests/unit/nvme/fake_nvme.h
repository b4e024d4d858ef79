/* Test support for the NVMe library tests: a fake capdrv_sys backend
 * (capdrv/sys_backend.h) holding one NVMe controller over PCIe, written
 * from NVMe Base 2.0 / NVM Command Set 1.0 independently of the library.
 * It needs neither the shim nor the sim, so every register and every
 * completion can misbehave on request.
 *
 * - BAR0: registers (CAP, VS, CC, CSTS, AQA, ASQ, ACQ) and doorbells from
 *   0x1000 with the stride CAP.DSTRD gives; one grant window over it.
 * - DMA buffers with token references (REF_BASE | offset), never pointers.
 * - Commands are processed synchronously at the SQ tail doorbell; with
 *   Doorbell Buffer Config active, also from the shadow buffer whenever
 *   the host waits (fn_serve() does the same by hand).
 * - Admin: Delete/Create I/O SQ/CQ, Get Log Page (01h/02h/03h), Identify
 *   (CNS 00h/01h/02h), Abort, Set/Get Features, AER, Keep Alive, DBBC.
 *   NVM: Flush, Write, Read (PRP or SGL), Write Zeroes, DSM.
 * - Time: only what the host waits through irq_wait() timeouts passes
 *   (fn.now_ns), exactly as the library measures it.
 *
 * Knobs (struct fn) let a test hold commands, fail them with a status,
 * corrupt completions (every hostile case), never become ready, raise
 * CFS, vanish (all ones), ignore aborts, or offer DBBC. */
#ifndef CAPDRV_TEST_FAKE_NVME_H
#define CAPDRV_TEST_FAKE_NVME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <capdrv/sys.h>
#include <capdrv/sys_backend.h>

#define FN_MAX_Q 81u       /* admin + 80 I/O queue pairs (more than the library has vectors for) */
#define FN_MAX_BUFS 256u
#define FN_MAX_VECTORS 9u
#define FN_MAX_NS 2u
#define FN_MAX_HELD 64u
#define FN_BAR0_LEN 0x4000u
#define FN_NS_BLOCKS 2048u  /* per namespace */
#define FN_GRANT 0x0100000000000001ull
#define FN_POOL 0x0300000000000001ull

enum fn_hostile {
    FN_OK = 0,
    FN_BAD_CID,     /* CQE.CID ^= 0x8000 */
    FN_CID_VALUE,   /* CQE.CID = fn.hostile_cid */
    FN_DUP,         /* the CQE is posted twice */
    FN_SQHD,        /* CQE.SQHD = SQ size + 1 */
    FN_SQHD_AHEAD,  /* CQE.SQHD = tail + 1 (inside the ring, beyond what was submitted) */
    FN_PHASE,       /* the CQE is written with the wrong phase tag */
    FN_SQID,        /* CQE.SQID = fn.hostile_sqid */
    FN_EXTRA,       /* after the real CQE, one more with CID fn.hostile_cid */
    FN_PHASE_AHEAD, /* the CQE goes one slot past the tail; the tail slot is skipped (keeps
                       whatever it held), so a new-phase entry precedes an older slot */
    FN_PHASE_FLIP   /* the controller inverts its phase tag early, as if it had wrapped
                       (stays inverted until the CQ is created again) */
};

struct fn_sq {
    bool live;
    uint64_t base;
    uint32_t size, head, tail;
    uint16_t cqid;
};

struct fn_cq {
    bool live;
    uint64_t base;
    uint32_t size, tail, head;
    uint16_t phase, iv;
    bool ien;
};

struct fn_held {
    bool used;
    uint16_t sqid, cid;
    uint8_t opc;
};

struct fn_buf {
    void *cpu;
    size_t size;
    uint64_t ref;
    bool live;
    bool test; /* fn_alloc(): the test's own */
};

struct fn {
    struct capdrv_sys sys; /* first: the connection the library sees */
    int lane;
    struct capdrv_window_info win;
    unsigned n_vectors;    /* MSI-X vectors the grant offers (default 9) */
    /* Registers. */
    uint64_t cap;
    uint32_t vs, cc, csts, aqa;
    uint64_t asq, acq;
    uint64_t en_time;      /* now_ns when CC.EN went 0 -> 1 */
    uint16_t command;      /* PCI COMMAND (config offset 0x04): bit 1 memory, bit 2 bus master */
    /* Queues, namespaces, features. */
    struct fn_sq sq[FN_MAX_Q];
    struct fn_cq cq[FN_MAX_Q];
    uint8_t id_ctrl[4096];
    const uint8_t *id_ns_raw;   /* non-NULL: every Identify Namespace returns these 4096 bytes */
    const uint8_t *ns_list_raw; /* non-NULL: the active NSID list returns these 4096 bytes */
    unsigned nn;           /* active namespaces 1..nn (default 1) */
    unsigned lba_shift;    /* 9 (default) or 12 */
    uint8_t *disk[FN_MAX_NS];
    unsigned max_ioq;      /* what Number of Queues grants (default 8) */
    unsigned nq_granted;
    uint32_t feat[256];
    /* AERs. */
    uint16_t aer_cid[8];
    unsigned n_aer;
    uint32_t ev_pending[8];
    unsigned n_ev;
    uint8_t ev_masked;     /* event types reported and not yet cleared by a log read */
    /* Held commands (hold knob, dropped; released by Abort/deletion/reset). */
    struct fn_held held[FN_MAX_HELD];
    /* Doorbell Buffer Config. */
    bool dbbuf;
    uint64_t db_shadow, db_event;
    bool dbbuf_lazy;       /* set EventIdx far ahead: the host rarely needs MMIO */
    /* Knobs. */
    uint64_t ready_delay_ns;  /* RDY follows CC.EN this much (waited) time later */
    bool never_ready;         /* CC.EN 0 -> 1 never sets RDY */
    bool stuck_ready;         /* CC.EN 1 -> 0 never clears RDY */
    bool cfs_on_enable;       /* CFS instead of RDY */
    unsigned cfs_at_doorbell; /* N > 0: CFS at the Nth SQ doorbell from now (then stop) */
    unsigned remove_at_doorbell; /* N > 0: vanish at the Nth SQ doorbell */
    bool removed;             /* every read all ones, writes dropped */
    bool shutdown_stuck;      /* CC.SHN never completes */
    enum fn_hostile hostile;
    int hostile_qid;          /* -1: any queue */
    unsigned hostile_count;   /* completions to corrupt (0: every one) */
    unsigned hostile_skip;    /* matching completions left intact first */
    uint16_t hostile_cid, hostile_sqid;
    int hold_qid, hold_opc;   /* commands matching are held (-1 any; hold_qid -2: off) */
    unsigned hold_count;      /* 0: every matching one */
    int fail_qid, fail_opc;   /* commands matching complete with fail_status (qid -2: off) */
    uint16_t fail_status;     /* (SCT << 8) | SC */
    unsigned fail_count;
    bool abort_ignored;       /* Abort answers "not aborted" and leaves the command held */
    bool abort_dropped;       /* Abort itself is held */
    bool no_irq;              /* never raise interrupts */
    int refuse_opc;           /* >= 0: the kernel refuses an admin SQ tail doorbell that
                                 publishes this opcode with refuse_rc (device untouched),
                                 as the shim does with Doorbell Buffer Config; -1: off */
    int refuse_rc;
    unsigned refused;         /* doorbells so refused */
    /* Observations. */
    unsigned sq_doorbells, cq_doorbells, admin_cmds, io_cmds, aborts_honoured;
    unsigned disables, shutdowns, enables, cq_overflows, bad_dma, bad_accesses;
    unsigned bad_release;  /* queue memory released while the enabled controller has the queue */
    uint8_t last_admin_opc;
    uint32_t last_cdw10, last_cdw11;
    uint8_t last_io_psdt;
    uint64_t now_ns;
    unsigned irq_waits;
    /* Capabilities handed out. */
    bool mmio_open;
    bool irq_open[FN_MAX_VECTORS];
    uint64_t irq_pending;
    struct fn_buf buf[FN_MAX_BUFS];
    unsigned n_buf;
};

/* A controller: CAP MQES 1023, CQR, TO 2, DSTRD 0, CSS NVM, MPSMIN 0,
 * MPSMAX 4; VS 2.0; Identify with MDTS 5, AERL 3, ACL 3, SQES 0x66, CQES
 * 0x44, ONCS WZ|DSM, SGLS 0, one 2048-block namespace of 512 bytes. */
void fn_init(struct fn *f, int lane);
/* Re-derive Identify fields after a test changed knobs (nn, lba_shift). */
void fn_identity(struct fn *f);
capdrv_sys *fn_sys(struct fn *f);
void fn_fini(struct fn *f);
/* CPU pointer for a DMA reference range, or NULL if outside every buffer. */
void *fn_ref(struct fn *f, uint64_t ref, size_t len);
/* Process every SQ from its doorbell or shadow tail. */
void fn_serve(struct fn *f);
/* Post an asynchronous event (DW0) through an outstanding AER, or keep it. */
void fn_event(struct fn *f, uint32_t dw0);
/* Post a completion into CQ @cqid as the controller would (at its tail,
 * with its phase; interrupt raised). Returns false when the CQ is absent or
 * full. */
bool fn_post_cqe(struct fn *f, unsigned cqid, uint16_t sqid, uint16_t cid, uint16_t sqhd,
                 uint16_t status);
/* Write a raw completion entry at @slot of CQ @cqid (tail unchanged). */
void fn_cqe_at(struct fn *f, unsigned cqid, unsigned slot, uint16_t sqid, uint16_t cid,
               uint16_t sqhd, uint16_t status, uint16_t phase);
/* Complete every held command with @status ((SCT << 8) | SC). */
void fn_release_held(struct fn *f, uint16_t status);
unsigned fn_held_count(const struct fn *f);
/* Identify Controller field helpers. */
void fn_id_set(struct fn *f, unsigned off, unsigned width, uint64_t v);
/* Namespace medium. */
uint8_t *fn_disk(struct fn *f, uint32_t nsid);
/* A test DMA buffer from the same pool the library uses. */
int fn_alloc(struct fn *f, size_t size, struct capdrv_dmabuf_info *bi);


/* ---- Test scaffolding (library side) ----------------------------------- */
#include <capdrv/nvme.h>

/* What a completion callback saw. */
struct fn_done {
    int calls;
    int status;
    uint8_t sct, sc;
    uint16_t cid;
    uint32_t dw0;
};
void fn_done_cb(void *arg, const struct capdrv_nvme_cpl *cpl);
/* A heap-allocated fake (it is large), initialised. */
struct fn *fn_new(int lane);
void fn_free(struct fn *f);
/* capdrv_nvme_ctrl_open() on the fake; @o NULL: defaults with the fake's pool. */
int fn_open(struct fn *f, const struct capdrv_nvme_ctrl_opts *o, struct capdrv_nvme_ctrl **c,
            char *why, size_t why_len);
/* Number of the library's DMA buffers still live (fn_alloc() ones excluded). */
unsigned fn_live_bufs(const struct fn *f);

#endif
