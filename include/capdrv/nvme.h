/**
 * @file capdrv/nvme.h
 * @brief NVMe controller driver over PCIe: bring-up, the admin queue, I/O
 *        queue pairs, timeout recovery and hostile-controller checks
 *        (NVM Express Base Specification 2.0, "Base 2.0 §x"; NVM Command
 *        Set Specification 1.0, "NVM 1.0 §x").
 *
 * capdrv_nvme_ctrl_open() takes an open grant of an NVMe controller whose
 * MMIO window 0 covers the controller registers and the doorbells (BAR0
 * from offset 0 to past the last doorbell used) and initialises the
 * controller (Base 2.0 §3.5.1): disable, admin queue, CC, enable, Identify
 * Controller, Set Features Number of Queues, Asynchronous Event Requests.
 * Every queue, PRP list page and admin data buffer comes from the caller's
 * DMA pool (opts.pool) and is allocated at open or at queue-pair creation:
 * the I/O path allocates nothing.
 *
 * Lanes: the library writes DMA references (capdrv_dma_ref()) wherever the
 * controller expects an address (ASQ, ACQ, queue bases, PRP entries, SGL
 * descriptors). In the brokered lane these are tokens the kernel shim
 * turns into device addresses; in the direct lane IOVAs it validates. The
 * code is the same in both.
 *
 * Admin commands are blocking and take plain caller memory: data moves
 * through a library-owned DMA buffer (at most ::CAPDRV_NVME_ADMIN_XFER_MAX
 * bytes per command). I/O commands are asynchronous: data lives in the
 * caller's DMA buffers, given as (DMA reference, length) segments
 * (struct capdrv_dma_seg, capdrv/prp.h); each command carries a callback
 * that runs exactly once, from capdrv_nvme_qpair_poll(),
 * capdrv_nvme_qpair_wait(), capdrv_nvme_ctrl_reset(),
 * capdrv_nvme_qpair_destroy() or capdrv_nvme_ctrl_close() — never from the
 * submitting call. Submissions fill the submission queue; one
 * capdrv_nvme_qpair_ring() publishes them with a single doorbell write
 * (like io_uring_submit()), unless the queue pair was created with
 * auto_ring.
 *
 * Time: every deadline (CAP.TO while enabling or disabling, admin and I/O
 * command timeouts) is measured as the sum of the timeouts of the
 * capdrv_irq_wait() calls the library made while waiting (slices of at
 * most ::CAPDRV_NVME_WAIT_SLICE_NS), plus, for each wake-up that did not
 * finish what the wait is for, the host time that wait took
 * (CLOCK_MONOTONIC; at least 1 us, at most the slice), plus 10 us for each
 * completion of another command a synchronous admin wait reaps: an
 * interrupt storm can neither stop the clock nor run it faster than real
 * time. Time spent elsewhere (e.g. the caller not calling poll) does not
 * count. On the simulated platform the timeouts are simulated time, so
 * tests are deterministic unless a test makes the platform wake waits
 * early. Waits sleep
 * on vector 0 or, when another capability of the provider holds it, on the
 * first other vector the library can open. A grant without any vector the
 * library can open cannot be waited on: each wait slice is then counted as
 * elapsed after one poll of the controller, without sleeping, so deadlines
 * pass in far less than their real length.
 *
 * Timeout recovery (Base 2.0 §3.3.1.4 and §5.1 Abort): an I/O command past
 * its deadline is aborted (Abort, admin opcode 08h); if the Abort does not
 * complete it within the admin timeout, the controller is reset
 * (capdrv_nvme_ctrl_reset(): disable, enable, admin queue and every I/O
 * queue pair re-created with the same identifiers) and every command still
 * outstanding completes with an error: nothing is lost and nothing
 * completes twice. A timed-out command completes with -CAPDRV_ETIMEDOUT,
 * the others failed by a reset with -CAPDRV_ECANCELED.
 *
 * Hostile controllers: every completion queue entry is validated before it
 * is used (phase tag, SQ identifier, CID outstanding, SQ head within what
 * was submitted; Base 2.0 §3.3.3.2, §3.3.1). A violation marks the queue
 * broken: its calls return -CAPDRV_EPROTO and capdrv_nvme_qpair_why()
 * says why; its outstanding commands complete (-CAPDRV_EPROTO) once the
 * controller can no longer touch their memory, i.e. at the next
 * capdrv_nvme_ctrl_reset(), qpair destroy or close. CSTS all ones (the
 * function is gone) gives -CAPDRV_ENODEV and completes everything
 * outstanding with that status at once; CSTS.CFS (fatal status) gives
 * -CAPDRV_EIO until capdrv_nvme_ctrl_reset().
 *
 * Data buffers and the kernel shim: a buffer the controller was given
 * (any DMA reference in a submitted command) stays "in flight" in the
 * shim until the controller is reset or disabled, because the shim cannot
 * trust completions to say when the device is done with it. Releasing
 * such a buffer (capdrv_cap_release()) while the controller runs makes the
 * shim reset the whole function, failing every queue. Keep data buffers
 * for the life of the controller and release them after
 * capdrv_nvme_ctrl_close(); the library does the same with its own queue
 * memory (a destroyed queue pair's memory is kept until the next reset or
 * close).
 *
 * Threads: each queue pair belongs to one thread at a time; its
 * submissions, capdrv_nvme_qpair_ring(), _poll() and _wait() take no lock,
 * so different pairs run on different threads at once (the model of SPDK's
 * queue pairs and io_uring's rings). Everything controller-wide (admin
 * commands, events, creating and destroying pairs, resets,
 * capdrv_nvme_ctrl_info()) may come from any thread and serialises on the
 * controller's lock; a pair's calls take it only on slow paths (an Abort or
 * a reset for a command past its deadline, catching up with a reset).
 * capdrv_nvme_ctrl_close() comes last. With
 * capdrv_nvme_ctrl_opts::qpair_threads set, after a reset or surprise
 * removal a pair refuses new work (-CAPDRV_EBUSY, as while a reset runs)
 * until its owner calls capdrv_nvme_qpair_poll() or _wait(): that call
 * completes the pair's outstanding commands (those the controller
 * finished before it stopped with their status, the rest cancelled) and
 * creates its queues again; each pair's deadlines count the time its own
 * waits spent. Without it (the default) the reset
 * does that for every pair itself, on the resetting thread, so all pairs
 * must then be driven from one thread or under the caller's own lock.
 * Call capdrv_nvme_ns_info() for a namespace before other threads start
 * I/O to it (it fills the library's namespace cache).
 *
 * Example (read LBA 0 of namespace 1, polling; error handling shortened):
 * @code
 * static void on_done(void *arg, const struct capdrv_nvme_cpl *cpl)
 * {
 *     *(int *)arg = cpl->status;  // 0, or why the command failed
 * }
 *
 * // data: a DMA buffer of the caller's holding at least one logical block;
 * // release it only after capdrv_nvme_ctrl_close() (see above).
 * static int read_lba0(capdrv_sys *sys, capdrv_cap_t grant, capdrv_cap_t pool,
 *                      const struct capdrv_dmabuf_info *data)
 * {
 *     struct capdrv_nvme_ctrl_opts o = {.pool = pool, .io_queues = 1};
 *     struct capdrv_nvme_ctrl *c;
 *     char why[128];
 *     int rc = capdrv_nvme_ctrl_open(sys, grant, &o, &c, why, sizeof why);
 *     if (rc < 0)
 *         return rc;  // why: what went wrong
 *     struct capdrv_nvme_ns_info ns;
 *     struct capdrv_nvme_qpair_opts qo = {.depth = 64, .polling = true};
 *     struct capdrv_nvme_qpair *qp;
 *     int status = 1;  // until on_done runs
 *     if ((rc = capdrv_nvme_ns_info(c, 1, &ns)) == 0 &&
 *         (rc = capdrv_nvme_qpair_create(c, &qo, &qp)) == 0) {
 *         struct capdrv_dma_seg seg = {capdrv_dma_ref(data, 0), ns.lba_size};
 *         rc = capdrv_nvme_read(qp, 1, 0, 1, &seg, 1, on_done, &status);
 *         if (rc == 0)
 *             rc = capdrv_nvme_qpair_ring(qp);  // one doorbell write
 *         while (rc >= 0 && status == 1)
 *             rc = capdrv_nvme_qpair_wait(qp, -1);  // reaps: runs on_done
 *         capdrv_nvme_qpair_destroy(qp);
 *     }
 *     capdrv_nvme_ctrl_close(c);  // normal shutdown (CC.SHN)
 *     return rc < 0 ? rc : status;
 * }
 * @endcode
 */
#ifndef CAPDRV_NVME_H
#define CAPDRV_NVME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <capdrv/error.h>
#include <capdrv/nvme/types.h>
#include <capdrv/prp.h>
#include <capdrv/sys.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------- */
/* Constants                                                               */
/* ---------------------------------------------------------------------- */

/** Admin queue entries when capdrv_nvme_ctrl_opts::admin_depth is 0. */
#define CAPDRV_NVME_ADMIN_DEPTH_DEFAULT 32u
/** Largest admin queue (Base 2.0 §3.1.3.8: AQA ASQS/ACQS up to 4096). */
#define CAPDRV_NVME_ADMIN_DEPTH_MAX 4096u
/** I/O queue entries when capdrv_nvme_qpair_opts::depth is 0. */
#define CAPDRV_NVME_QPAIR_DEPTH_DEFAULT 128u
/** Largest I/O queue the library creates (entries). */
#define CAPDRV_NVME_QPAIR_DEPTH_MAX 4096u
/** Most I/O queue pairs one controller handle drives: every pair a
 *  controller can grant (Set Features Number of Queues, Base 2.0 §5.27.1.7:
 *  NSQR/NCQR are 0's based and FFFFh is invalid). The kernel may allow
 *  fewer queue ids than the controller grants (the libcapdrv shim tracks
 *  ids 1..32 per controller): creating a pair beyond that fails with the
 *  kernel's refusal and changes nothing else. */
#define CAPDRV_NVME_MAX_IO_QUEUES 65535u
/** MSI-X vectors the library uses: 0 (admin) and one per I/O queue pair up
 *  to this count minus one; later pairs share those vectors (waits are
 *  sliced and completions checked on every wake-up, so nothing is lost). */
#define CAPDRV_NVME_MAX_VECTORS 65u
/** Most data segments of one I/O command. */
#define CAPDRV_NVME_MAX_SEGS 256u
/** Per-command transfer limit when capdrv_nvme_qpair_opts::max_xfer is 0
 *  (further capped by MDTS). */
#define CAPDRV_NVME_MAX_XFER_DEFAULT (1024u * 1024u)
/** Largest data transfer of one admin command through the library buffer. */
#define CAPDRV_NVME_ADMIN_XFER_MAX 16384u
/** Admin command timeout when capdrv_nvme_ctrl_opts::admin_timeout_ns is 0. */
#define CAPDRV_NVME_ADMIN_TIMEOUT_DEFAULT_NS 5000000000ull
/** I/O command timeout when capdrv_nvme_ctrl_opts::io_timeout_ns is 0. */
#define CAPDRV_NVME_IO_TIMEOUT_DEFAULT_NS 30000000000ull
/** Longest single capdrv_irq_wait() the library makes while waiting. */
#define CAPDRV_NVME_WAIT_SLICE_NS 1000000ull
/** Most Asynchronous Event Requests kept outstanding. */
#define CAPDRV_NVME_AER_MAX 4u
/** Received asynchronous events kept until capdrv_nvme_ctrl_events(); more
 *  are counted in capdrv_nvme_ctrl_info::events_dropped. */
#define CAPDRV_NVME_EVENT_QUEUE 16u
/** Most DSM ranges of one Dataset Management command (NVM 1.0 §3.2.3). */
#define CAPDRV_NVME_DSM_MAX_RANGES 256u

/** Admin command opcodes (Base 2.0 §5, "Opcodes for Admin Commands"). */
enum capdrv_nvme_admin_opc {
    CAPDRV_NVME_ADMIN_DELETE_SQ = 0x00,      /**< Delete I/O Submission Queue */
    CAPDRV_NVME_ADMIN_CREATE_SQ = 0x01,      /**< Create I/O Submission Queue */
    CAPDRV_NVME_ADMIN_GET_LOG_PAGE = 0x02,   /**< Get Log Page */
    CAPDRV_NVME_ADMIN_DELETE_CQ = 0x04,      /**< Delete I/O Completion Queue */
    CAPDRV_NVME_ADMIN_CREATE_CQ = 0x05,      /**< Create I/O Completion Queue */
    CAPDRV_NVME_ADMIN_IDENTIFY = 0x06,       /**< Identify */
    CAPDRV_NVME_ADMIN_ABORT = 0x08,          /**< Abort */
    CAPDRV_NVME_ADMIN_SET_FEATURES = 0x09,   /**< Set Features */
    CAPDRV_NVME_ADMIN_GET_FEATURES = 0x0A,   /**< Get Features */
    CAPDRV_NVME_ADMIN_ASYNC_EVENT = 0x0C,    /**< Asynchronous Event Request */
    CAPDRV_NVME_ADMIN_KEEP_ALIVE = 0x18,     /**< Keep Alive */
    CAPDRV_NVME_ADMIN_DBBUF_CONFIG = 0x7C    /**< Doorbell Buffer Config */
};

/** NVM command set I/O opcodes (NVM 1.0 §3, "Opcodes for NVM Commands"). */
enum capdrv_nvme_io_opc {
    CAPDRV_NVME_CMD_FLUSH = 0x00,        /**< Flush */
    CAPDRV_NVME_CMD_WRITE = 0x01,        /**< Write */
    CAPDRV_NVME_CMD_READ = 0x02,         /**< Read */
    CAPDRV_NVME_CMD_WRITE_ZEROES = 0x08, /**< Write Zeroes (ONCS bit 3) */
    CAPDRV_NVME_CMD_DSM = 0x09           /**< Dataset Management (ONCS bit 2) */
};

/** Identify CNS values (Base 2.0 §5.17.1, "CNS Values"). */
enum capdrv_nvme_cns {
    CAPDRV_NVME_CNS_NS = 0x00,          /**< Identify Namespace (NVM command set) */
    CAPDRV_NVME_CNS_CTRL = 0x01,        /**< Identify Controller */
    CAPDRV_NVME_CNS_NS_ACTIVE = 0x02    /**< Active Namespace ID list (NSIDs > given) */
};

/** Feature identifiers (Base 2.0 §5.27.1, "Feature Identifiers"). */
enum capdrv_nvme_fid {
    CAPDRV_NVME_FEAT_ARBITRATION = 0x01,   /**< Arbitration */
    CAPDRV_NVME_FEAT_POWER_MGMT = 0x02,    /**< Power Management */
    CAPDRV_NVME_FEAT_TEMP_THRESH = 0x04,   /**< Temperature Threshold */
    CAPDRV_NVME_FEAT_ERR_RECOVERY = 0x05,  /**< Error Recovery */
    CAPDRV_NVME_FEAT_VOLATILE_WC = 0x06,   /**< Volatile Write Cache */
    CAPDRV_NVME_FEAT_NUM_QUEUES = 0x07,    /**< Number of Queues */
    CAPDRV_NVME_FEAT_IRQ_COALESCE = 0x08,  /**< Interrupt Coalescing (capdrv_nvme_set_irq_coalescing()) */
    CAPDRV_NVME_FEAT_IRQ_CONFIG = 0x09,    /**< Interrupt Vector Configuration */
    CAPDRV_NVME_FEAT_WRITE_ATOMIC = 0x0A,  /**< Write Atomicity Normal */
    CAPDRV_NVME_FEAT_ASYNC_EVENT = 0x0B,   /**< Asynchronous Event Configuration */
    CAPDRV_NVME_FEAT_KEEP_ALIVE = 0x0F     /**< Keep Alive Timer */
};

/** Log page identifiers (Base 2.0 §5.16.1, "Log Page Identifiers"). */
enum capdrv_nvme_lid {
    CAPDRV_NVME_LOG_ERROR = 0x01,     /**< Error Information (struct capdrv_nvme_error_log_entry[]) */
    CAPDRV_NVME_LOG_SMART = 0x02,     /**< SMART / Health Information (struct capdrv_nvme_smart_log) */
    CAPDRV_NVME_LOG_FW_SLOT = 0x03    /**< Firmware Slot Information (512 bytes) */
};

/** Status Code Type, CQE status bits 11:9 (Base 2.0 §3.3.3.2.1, "Status Code Type Values"). */
enum capdrv_nvme_sct {
    CAPDRV_NVME_SCT_GENERIC = 0x0,        /**< Generic Command Status */
    CAPDRV_NVME_SCT_COMMAND_SPECIFIC = 0x1, /**< Command Specific Status */
    CAPDRV_NVME_SCT_MEDIA = 0x2,          /**< Media and Data Integrity Errors */
    CAPDRV_NVME_SCT_PATH = 0x3,           /**< Path Related Status */
    CAPDRV_NVME_SCT_VENDOR = 0x7          /**< Vendor Specific */
};

/** Generic Command Status values (Base 2.0 §3.3.3.2.1, "Generic Command Status Values"). */
enum capdrv_nvme_sc_generic {
    CAPDRV_NVME_SC_SUCCESS = 0x00,            /**< Successful Completion */
    CAPDRV_NVME_SC_INVALID_OPCODE = 0x01,     /**< Invalid Command Opcode */
    CAPDRV_NVME_SC_INVALID_FIELD = 0x02,      /**< Invalid Field in Command */
    CAPDRV_NVME_SC_CID_CONFLICT = 0x03,       /**< Command ID Conflict */
    CAPDRV_NVME_SC_DATA_XFER_ERROR = 0x04,    /**< Data Transfer Error */
    CAPDRV_NVME_SC_POWER_LOSS = 0x05,         /**< Commands Aborted due to Power Loss */
    CAPDRV_NVME_SC_INTERNAL = 0x06,           /**< Internal Error */
    CAPDRV_NVME_SC_ABORT_REQ = 0x07,          /**< Command Abort Requested */
    CAPDRV_NVME_SC_ABORT_SQ_DELETED = 0x08,   /**< Command Aborted due to SQ Deletion */
    CAPDRV_NVME_SC_INVALID_NS = 0x0B,         /**< Invalid Namespace or Format */
    CAPDRV_NVME_SC_PRP_OFFSET = 0x13,         /**< PRP Offset Invalid */
    CAPDRV_NVME_SC_LBA_RANGE = 0x80,          /**< LBA Out of Range */
    CAPDRV_NVME_SC_CAP_EXCEEDED = 0x81,       /**< Capacity Exceeded */
    CAPDRV_NVME_SC_NS_NOT_READY = 0x82        /**< Namespace Not Ready */
};

/** Command Specific Status values used by the library (Base 2.0 §3.3.3.2.1,
 *  "Command Specific Status Values"). */
enum capdrv_nvme_sc_cmd {
    CAPDRV_NVME_SC_CQ_INVALID = 0x00,        /**< Completion Queue Invalid (Create SQ) */
    CAPDRV_NVME_SC_QID_INVALID = 0x01,       /**< Invalid Queue Identifier */
    CAPDRV_NVME_SC_QSIZE_INVALID = 0x02,     /**< Invalid Queue Size */
    CAPDRV_NVME_SC_ABORT_LIMIT = 0x03,       /**< Abort Command Limit Exceeded */
    CAPDRV_NVME_SC_AER_LIMIT = 0x05,         /**< Asynchronous Event Request Limit Exceeded */
    CAPDRV_NVME_SC_INVALID_LOG_PAGE = 0x09,  /**< Invalid Log Page */
    CAPDRV_NVME_SC_INVALID_IV = 0x08         /**< Invalid Interrupt Vector */
};

/** Asynchronous Event Type, completion DW0 bits 2:0 (Base 2.0 §5.2.1). */
enum capdrv_nvme_aer_type {
    CAPDRV_NVME_AER_ERROR = 0x0,   /**< Error status */
    CAPDRV_NVME_AER_SMART = 0x1,   /**< SMART / Health status */
    CAPDRV_NVME_AER_NOTICE = 0x2,  /**< Notice (e.g. namespace attribute changed) */
    CAPDRV_NVME_AER_IO_CMD = 0x6,  /**< I/O Command Set specific status */
    CAPDRV_NVME_AER_VENDOR = 0x7   /**< Vendor specific */
};

/* ---------------------------------------------------------------------- */
/* Controller                                                              */
/* ---------------------------------------------------------------------- */

/** A controller handle (opaque). */
struct capdrv_nvme_ctrl;
/** An I/O submission/completion queue pair (opaque). */
struct capdrv_nvme_qpair;

/** Options of capdrv_nvme_ctrl_open(); zero means the default. */
struct capdrv_nvme_ctrl_opts {
    capdrv_cap_t pool;         /**< the caller's open DMA pool (required) */
    unsigned admin_depth;      /**< admin queue entries, 2..4096 (default 32); capped by
                                    CAP.MQES + 1 */
    unsigned io_queues;        /**< I/O queue pairs asked for with Set Features Number of
                                    Queues (default 1); the controller may grant fewer */
    bool polling;              /**< true: no interrupts at all (every CQ created with IEN = 0);
                                    waits still sleep in capdrv_irq_wait() slices when the
                                    grant has a vector */
    uint64_t admin_timeout_ns; /**< per admin command (default
                                    ::CAPDRV_NVME_ADMIN_TIMEOUT_DEFAULT_NS) */
    uint64_t io_timeout_ns;    /**< per I/O command (default
                                    ::CAPDRV_NVME_IO_TIMEOUT_DEFAULT_NS) */
    unsigned aer_slots;        /**< Asynchronous Event Requests kept outstanding (default
                                    min(AERL + 1, 4)); capped the same way */
    bool shadow_doorbells;     /**< use Doorbell Buffer Config when OACS bit 8 offers it
                                    (opt-in). The kernel shim refuses the command at the
                                    doorbell; the controller then runs with plain doorbells
                                    (capdrv_nvme_ctrl_info::shadow_doorbells_err says why) */
    bool qpair_threads;        /**< queue pairs are driven from different threads at once,
                                    each pair from one thread (see "Threads" above): after a
                                    reset or removal a pair takes no new work (-CAPDRV_EBUSY)
                                    until its owner polls or waits, which completes its
                                    outstanding commands and re-creates its queues; a pair's
                                    command deadlines count only its own waits; shadow
                                    doorbells are not used (shadow_doorbells_err ENOTSUP) */
};

/** What the controller is and what was set up (capdrv_nvme_ctrl_info()). */
struct capdrv_nvme_ctrl_info {
    uint64_t cap;             /**< CAP register (Base 2.0 §3.1.3.1) */
    uint32_t vs;              /**< VS register: major 31:16, minor 15:8, tertiary 7:0 */
    unsigned mqes;            /**< largest queue the controller takes, entries (CAP.MQES + 1) */
    bool cqr;                 /**< CAP.CQR: queues must be physically contiguous */
    unsigned dstrd;           /**< CAP.DSTRD: doorbell stride is 4 << dstrd bytes */
    uint32_t to_ms;           /**< CAP.TO in milliseconds (500 ms units) */
    uint32_t mps_min;         /**< smallest memory page size, bytes (CAP.MPSMIN) */
    uint32_t mps_max;         /**< largest memory page size, bytes (CAP.MPSMAX) */
    uint32_t page_size;       /**< memory page size chosen (CC.MPS), bytes */
    uint64_t mdts_bytes;      /**< Maximum Data Transfer Size in bytes; 0: no limit */
    unsigned admin_depth;     /**< admin queue entries */
    unsigned io_queues;       /**< I/O queue pairs the controller granted (and the
                                   library may create), at most ::CAPDRV_NVME_MAX_IO_QUEUES */
    unsigned aer_slots;       /**< Asynchronous Event Requests kept outstanding */
    uint32_t sgls;            /**< Identify SGLS */
    bool sgl;                 /**< SGLs usable for NVM I/O (SGLS bits 1:0 01b or 10b) */
    uint16_t oncs;            /**< Identify ONCS (CAPDRV_NVME_ONCS_*) */
    uint16_t oacs;            /**< Identify OACS (CAPDRV_NVME_OACS_*) */
    uint32_t nn;              /**< Identify NN: largest namespace identifier */
    uint16_t vid;             /**< Identify VID */
    uint16_t ssvid;           /**< Identify SSVID */
    uint16_t cntlid;          /**< Identify CNTLID */
    uint8_t vwc;              /**< Identify VWC (bit 0: volatile write cache present) */
    char sn[21];              /**< serial number, trailing spaces trimmed, NUL-terminated */
    char mn[41];              /**< model number, trimmed */
    char fr[9];               /**< firmware revision, trimmed */
    int lane;                 /**< enum capdrv_lane of the grant */
    bool polling;             /**< opened with polling */
    bool shadow_doorbells;    /**< Doorbell Buffer Config in use */
    unsigned n_vectors;       /**< interrupt vectors the library opened */
    uint64_t resets;          /**< controller resets done since open */
    uint64_t events_dropped;  /**< async events lost because the event queue was full */
    int shadow_doorbells_err; /**< why shadow_doorbells is false although
                                   capdrv_nvme_ctrl_opts::shadow_doorbells asked for it (0
                                   otherwise): -CAPDRV_ENOTSUP (OACS bit 8 clear);
                                   -CAPDRV_EIO (the controller failed Doorbell Buffer Config
                                   with a status); or the kernel's refusal of the admin
                                   doorbell that would have submitted it (the kernel shim
                                   refuses the opcode: -CAPDRV_EPERM; -CAPDRV_EFAULT and
                                   -CAPDRV_EINVAL are taken the same way). After a refusal by
                                   the kernel, resets do not ask again */
};

/** One received asynchronous event (Base 2.0 §5.2, completion DW0). */
struct capdrv_nvme_event {
    uint8_t type;     /**< Asynchronous Event Type, enum capdrv_nvme_aer_type (DW0 2:0) */
    uint8_t info;     /**< Asynchronous Event Information (DW0 15:8) */
    uint8_t log_page; /**< Log Page Identifier to read to clear it (DW0 23:16) */
    uint32_t dw0;     /**< the raw completion DW0 */
};

/**
 * @brief Initialise a controller and its admin queue (Base 2.0 §3.5.1).
 *
 * Steps, each bounded and each checking CSTS for CFS (fatal status) and for
 * all ones (the function is gone): read CAP and VS (CAP.CSS must offer the
 * NVM command set, CAP.MPSMIN must allow 4 KiB or more); clear CC.EN and
 * wait for CSTS.RDY = 0 within CAP.TO; program AQA, ASQ and ACQ with DMA
 * references; write CC (CSS = NVM, MPS = 4 KiB clamped to
 * [CAP.MPSMIN, CAP.MPSMAX], AMS = round robin, IOSQES = 6, IOCQES = 4);
 * set CC.EN and wait for CSTS.RDY = 1 within CAP.TO; Identify Controller
 * (SQES/CQES must accept 64/16-byte entries); Set Features Number of
 * Queues; Doorbell Buffer Config when asked and offered (refused by the
 * controller or by the kernel, it leaves plain doorbells, and
 * capdrv_nvme_ctrl_info::shadow_doorbells_err says why: not an open
 * failure); then submit the Asynchronous Event Requests. Interrupts:
 * unless @p o->polling, vector 0 serves the admin queue and I/O queue pair
 * @e n gets vector @e n when the grant has it (else vectors are shared).
 *
 * @param sys connection.
 * @param grant open grant of an NVMe controller (class DMA_CAPABLE or
 *        NVME_CONTROLLER); window 0 must start at BAR0 offset 0 and cover
 *        the doorbells of every queue used.
 * @param o options; pool required.
 * @param out receives the handle.
 * @param why receives a one-line reason on failure (may be NULL).
 * @param why_len size of @p why.
 * @return 0; -CAPDRV_EINVAL (bad argument or option); -CAPDRV_ENODEV
 *         (registers read all ones: no controller); -CAPDRV_ENOTSUP (no NVM
 *         command set, page size or entry sizes the library cannot use,
 *         window too small for the doorbells); -CAPDRV_ETIMEDOUT (CSTS.RDY
 *         did not follow CC.EN within CAP.TO, or an admin command timed
 *         out); -CAPDRV_EIO (CSTS.CFS set, or an admin command failed with
 *         an NVMe status); -CAPDRV_EPROTO (malformed Identify data or a
 *         broken admin completion queue); -CAPDRV_ENOMEM; errors of
 *         capdrv/sys.h (e.g. -CAPDRV_ENOSPC when the pool quota is too
 *         small).
 */
int capdrv_nvme_ctrl_open(capdrv_sys *sys, capdrv_cap_t grant,
                          const struct capdrv_nvme_ctrl_opts *o, struct capdrv_nvme_ctrl **out,
                          char *why, size_t why_len);

/**
 * @brief Shut the controller down and free the handle.
 *
 * Destroys every I/O queue pair still open (Delete I/O SQ then CQ; their
 * outstanding commands complete with -CAPDRV_ECANCELED), requests a normal
 * shutdown (CC.SHN = 01b) and waits for CSTS.SHST = 10b within CAP.TO
 * (Base 2.0 §3.6.1), then clears CC.EN, and releases every DMA buffer,
 * interrupt and window capability it opened. If the controller does not
 * answer, it is disabled anyway; the grant and the pool stay open.
 *
 * @param c handle, or NULL (no effect).
 */
void capdrv_nvme_ctrl_close(struct capdrv_nvme_ctrl *c);

/**
 * @brief Free the handle without touching the controller or any
 *        capability: for when its authority is already gone.
 *
 * After the provider's connection was closed (capdrv_sys_close()), or the
 * grant was released or reset, the capabilities the handle names no
 * longer exist (and the connection itself may be freed), so
 * capdrv_nvme_ctrl_close() must not run. This frees the handle's own
 * memory and every queue pair's (their handles become invalid) and makes
 * no call through capdrv/sys.h. Outstanding commands complete with
 * -CAPDRV_ECANCELED; their callbacks must not call the library. What the
 * kernel held for the handle (DMA buffers, vectors, the window) went with
 * the authority.
 *
 * @param c handle, or NULL (no effect).
 */
void capdrv_nvme_ctrl_abandon(struct capdrv_nvme_ctrl *c);

/**
 * @brief Describe the controller.
 * @param c handle.
 * @param out filled.
 * @return 0; -CAPDRV_EINVAL for NULL arguments.
 */
int capdrv_nvme_ctrl_info(const struct capdrv_nvme_ctrl *c, struct capdrv_nvme_ctrl_info *out);

/**
 * @brief The Identify Controller data read at open (or at the last reset).
 * @param c handle.
 * @return a pointer valid until capdrv_nvme_ctrl_close(); NULL for NULL @p c.
 *         Controller-written data: bounds-check before use.
 */
const struct capdrv_nvme_id_ctrl *capdrv_nvme_ctrl_id(const struct capdrv_nvme_ctrl *c);

/**
 * @brief Check controller health: read CSTS (Base 2.0 §3.1.3.6).
 * @param c handle.
 * @return 0 healthy; -CAPDRV_EIO (CSTS.CFS: reset needed); -CAPDRV_ENODEV
 *         (CSTS all ones: surprise removal; every outstanding command is
 *         completed with -CAPDRV_ENODEV); -CAPDRV_EINVAL; errors of
 *         capdrv_mmio_read().
 */
int capdrv_nvme_ctrl_check(struct capdrv_nvme_ctrl *c);

/**
 * @brief Reset the controller and re-create its queues.
 *
 * Clears CC.EN and waits for CSTS.RDY = 0 (Base 2.0 §3.7.2: every queue is
 * deleted and the controller stops touching host memory); then every
 * command still outstanding completes exactly once (-CAPDRV_ETIMEDOUT for
 * a command whose deadline had passed, -CAPDRV_EPROTO for commands of a
 * broken queue, -CAPDRV_ECANCELED otherwise); then the controller is
 * initialised again as in capdrv_nvme_ctrl_open() and every I/O queue
 * pair is re-created with its identifier, depth and vector, empty and no
 * longer broken. Handles stay valid. Not for use from a completion
 * callback.
 *
 * @param c handle.
 * @return 0; -CAPDRV_ENODEV (the function is gone); -CAPDRV_ETIMEDOUT,
 *         -CAPDRV_EIO, -CAPDRV_EPROTO as capdrv_nvme_ctrl_open() (the
 *         controller is then left disabled: close it); -CAPDRV_EINVAL.
 */
int capdrv_nvme_ctrl_reset(struct capdrv_nvme_ctrl *c);

/* ---------------------------------------------------------------------- */
/* Admin commands (blocking)                                               */
/* ---------------------------------------------------------------------- */

/**
 * @name Admin commands
 *
 * Every admin call of this group (capdrv_nvme_identify() to
 * capdrv_nvme_admin_passthru()) submits one command, waits for its
 * completion for at most the admin timeout (reaping Asynchronous Event
 * Request completions met on the way) and returns: 0 on success;
 * -CAPDRV_EIO when the controller completed it with an error status (the
 * status is in *cqe for capdrv_nvme_admin_passthru()); -CAPDRV_ETIMEDOUT
 * (the controller was reset: capdrv_nvme_ctrl_reset()); -CAPDRV_EPROTO
 * (the admin queue is broken: reset); -CAPDRV_ENODEV (surprise removal);
 * -CAPDRV_EINVAL (bad argument); -CAPDRV_EBUSY (called from a completion
 * callback while another admin command is waiting).
 * @{
 */

/**
 * @brief Identify (Base 2.0 §5.17) into caller memory.
 * @param c handle.
 * @param cns Controller or Namespace Structure (enum capdrv_nvme_cns or any
 *        other CNS value, CNTID 0).
 * @param nsid namespace identifier (0 when the CNS takes none).
 * @param out4k receives ::CAPDRV_NVME_IDENTIFY_BYTES bytes.
 * @return 0 or a negative error of an admin command (see the group
 *         "Admin commands").
 */
int capdrv_nvme_identify(struct capdrv_nvme_ctrl *c, uint8_t cns, uint32_t nsid, void *out4k);

/**
 * @brief Active namespace identifiers greater than @p after (Identify
 *        CNS 02h, Base 2.0 §5.17.2.2), in increasing order.
 * @param c handle.
 * @param after list starts after this NSID (0: from the first); must be
 *        below 0xFFFFFFFE.
 * @param nsids receives up to @p max identifiers.
 * @param max room in @p nsids (at most 1024 are returned per call).
 * @return number of identifiers stored (0: none left); -CAPDRV_EPROTO when
 *         the list is not strictly increasing or holds an identifier not
 *         above @p after; other errors of an admin command
 *         (group "Admin commands").
 */
int capdrv_nvme_ns_list(struct capdrv_nvme_ctrl *c, uint32_t after, uint32_t *nsids,
                        unsigned max);

/** A namespace as the I/O calls need it (capdrv_nvme_ns_info()). */
struct capdrv_nvme_ns_info {
    uint32_t nsid;        /**< namespace identifier */
    uint64_t lba_count;   /**< NSZE: size in logical blocks */
    uint64_t capacity;    /**< NCAP: blocks that may be allocated */
    uint64_t utilization; /**< NUSE: blocks allocated */
    uint32_t lba_size;    /**< logical block data size, bytes (2^LBADS) */
    unsigned lba_shift;   /**< LBADS, 9..(30) */
    uint16_t ms;          /**< metadata bytes per block (0: none) */
    bool extended;        /**< metadata travels at the end of each block's data
                               (FLBAS bit 4); transfers are then nlb x (lba_size + ms) */
    unsigned format;      /**< LBA format index in use */
    uint8_t nsfeat;       /**< Identify Namespace NSFEAT */
    uint8_t dps;          /**< Identify Namespace DPS (protection information settings) */
};

/**
 * @brief Identify Namespace (CNS 00h; NVM 1.0 §4.1.5.1) digested.
 * @param c handle.
 * @param nsid active namespace identifier (1..NN).
 * @param out filled on success.
 * @return 0; -CAPDRV_ENOENT (inactive namespace: Identify returned zeroes);
 *         -CAPDRV_EPROTO (FLBAS selects a format beyond NLBAF, or LBADS
 *         below 9 or above 30); other errors of an admin command
 *         (group "Admin commands").
 */
int capdrv_nvme_ns_info(struct capdrv_nvme_ctrl *c, uint32_t nsid,
                        struct capdrv_nvme_ns_info *out);

/**
 * @brief Get Features (Base 2.0 §5.15).
 * @param c handle.
 * @param fid CDW10: Feature Identifier in bits 7:0 (enum capdrv_nvme_fid);
 *        Select (SEL) may be ORed into bits 10:8.
 * @param nsid namespace identifier (0 for controller features).
 * @param cdw11 command dword 11 (feature specific; often 0).
 * @param buf receives feature data of features that return a data
 *        structure, or NULL.
 * @param len bytes of @p buf (0 with NULL), at most ::CAPDRV_NVME_ADMIN_XFER_MAX.
 * @param dw0 receives completion DW0 (the feature's value), or NULL.
 * @return 0 or a negative error of an admin command (see the group
 *         "Admin commands").
 */
int capdrv_nvme_get_features(struct capdrv_nvme_ctrl *c, uint32_t fid, uint32_t nsid,
                             uint32_t cdw11, void *buf, size_t len, uint32_t *dw0);

/**
 * @brief Set Features (Base 2.0 §5.27).
 *
 * Number of Queues may not be changed through this call (the library set
 * it at open: -CAPDRV_EINVAL); Asynchronous Event Configuration, Interrupt
 * Coalescing, Temperature Threshold and the rest pass through.
 *
 * @param c handle.
 * @param fid CDW10: Feature Identifier in bits 7:0; Save (SV) may be ORed
 *        into bit 31.
 * @param nsid namespace identifier (0 for controller features).
 * @param cdw11 command dword 11 (the value for most features).
 * @param buf feature data for features that take a data structure, or NULL.
 * @param len bytes of @p buf, at most ::CAPDRV_NVME_ADMIN_XFER_MAX.
 * @param dw0 receives completion DW0, or NULL.
 * @return 0 or a negative error of an admin command (see the group
 *         "Admin commands").
 */
int capdrv_nvme_set_features(struct capdrv_nvme_ctrl *c, uint32_t fid, uint32_t nsid,
                             uint32_t cdw11, const void *buf, size_t len, uint32_t *dw0);

/**
 * @brief Set Interrupt Coalescing (Set Features, Feature Identifier 08h,
 *        Base 2.0 §5.27.1.6).
 *
 * The controller signals an I/O completion queue's interrupt once
 * @p threshold + 1 entries are waiting or an interrupt has been delayed
 * for @p time_100us x 100 microseconds, whichever comes first; either
 * value 0 means no coalescing (both are 0 after a reset). The values are
 * recommendations
 * the controller applies per vector or across vectors, never to the admin
 * completion queue, and only to vectors whose Interrupt Vector
 * Configuration (Feature 09h) leaves coalescing enabled. Sent as CDW11 =
 * THR (bits 7:0) | TIME << 8 (bits 15:8), not saved (SV clear). Only
 * latency changes for the library: waits are bounded by their deadlines
 * whatever the controller delays.
 *
 * @param c handle.
 * @param threshold Aggregation Threshold (THR), 0's based: 0..255.
 * @param time_100us Aggregation Time (TIME) in 100 microsecond units: 0..255.
 * @return 0 or a negative error of an admin command (see the group
 *         "Admin commands"); -CAPDRV_EINVAL also for a value above 255.
 */
int capdrv_nvme_set_irq_coalescing(struct capdrv_nvme_ctrl *c, unsigned threshold,
                                   unsigned time_100us);

/**
 * @brief Read the current Interrupt Coalescing setting (Get Features,
 *        Feature Identifier 08h, SEL 000b; Base 2.0 §5.27.1.6).
 * @param c handle.
 * @param threshold receives the Aggregation Threshold (THR, 0's based; DW0
 *        bits 7:0).
 * @param time_100us receives the Aggregation Time in 100 microsecond units
 *        (DW0 bits 15:8).
 * @return 0 or a negative error of an admin command (see the group
 *         "Admin commands"); on error the outputs are not written.
 */
int capdrv_nvme_get_irq_coalescing(struct capdrv_nvme_ctrl *c, unsigned *threshold,
                                   unsigned *time_100us);

/**
 * @brief Get Log Page (Base 2.0 §5.16) with Retain Asynchronous Event
 *        cleared, so reading the page named by an event re-enables that
 *        event type (§5.2).
 * @param c handle.
 * @param lid Log Page Identifier (enum capdrv_nvme_lid or any other).
 * @param nsid namespace identifier (0xFFFFFFFF: controller-wide; 0 when
 *        the page takes none).
 * @param offset byte offset into the log page (dword aligned).
 * @param buf receives @p len bytes.
 * @param len bytes to read: a non-zero multiple of 4, at most
 *        ::CAPDRV_NVME_ADMIN_XFER_MAX.
 * @return 0 or a negative error of an admin command (see the group
 *         "Admin commands").
 */
int capdrv_nvme_get_log_page(struct capdrv_nvme_ctrl *c, uint8_t lid, uint32_t nsid,
                             uint64_t offset, void *buf, size_t len);

/**
 * @brief Abort one command (Base 2.0 §5.1). Best effort: the controller may
 *        complete the command normally instead.
 * @param c handle.
 * @param sqid submission queue identifier of the command (0: admin).
 * @param cid its Command Identifier (capdrv_nvme_cpl::cid).
 * @param dw0 receives completion DW0 (bit 0 set: the command was not
 *        aborted), or NULL.
 * @return 0 or a negative error of an admin command (see the group
 *         "Admin commands") (-CAPDRV_EIO with
 *         Abort Command Limit Exceeded, etc.).
 */
int capdrv_nvme_abort(struct capdrv_nvme_ctrl *c, uint16_t sqid, uint16_t cid, uint32_t *dw0);

/**
 * @brief Send any other admin command.
 *
 * The library sets the CID, PSDT (PRPs) and the data pointer; every other
 * field of @p sqe is sent as given. The transfer direction follows the
 * opcode's bits 1:0 (Base 2.0 §5: 01b host to controller, 10b controller to
 * host, 11b both). Opcodes that would undermine the library's queue
 * management (Create/Delete I/O SQ or CQ, Asynchronous Event Request,
 * Doorbell Buffer Config) are refused.
 *
 * @param c handle.
 * @param sqe the command.
 * @param buf data (read and/or written according to the opcode), or NULL.
 * @param len bytes of @p buf, at most ::CAPDRV_NVME_ADMIN_XFER_MAX.
 * @param cqe receives the completion entry (also on -CAPDRV_EIO), or NULL.
 * @return 0 or a negative error of an admin command (see the group
 *         "Admin commands"); -CAPDRV_EPERM for a
 *         refused opcode.
 */
int capdrv_nvme_admin_passthru(struct capdrv_nvme_ctrl *c, const struct capdrv_nvme_sqe *sqe,
                               void *buf, size_t len, struct capdrv_nvme_cqe *cqe);

/** @} */

/**
 * @brief Reap admin completions without blocking: Asynchronous Event
 *        Request completions are queued as events and the request is
 *        submitted again (Base 2.0 §5.2).
 * @param c handle.
 * @return completions reaped (>= 0); -CAPDRV_EPROTO (admin queue broken);
 *         -CAPDRV_ENODEV; -CAPDRV_EINVAL.
 */
int capdrv_nvme_ctrl_process_admin(struct capdrv_nvme_ctrl *c);

/**
 * @brief Take received asynchronous events, oldest first.
 *
 * Read the log page an event names (capdrv_nvme_get_log_page()) to
 * re-enable reporting of that event type (Base 2.0 §5.2).
 *
 * @param c handle.
 * @param ev receives up to @p max events.
 * @param max room in @p ev.
 * @return events stored (>= 0); -CAPDRV_EINVAL.
 */
int capdrv_nvme_ctrl_events(struct capdrv_nvme_ctrl *c, struct capdrv_nvme_event *ev,
                            unsigned max);

/**
 * @brief Wait until an asynchronous event is queued (reaping admin
 *        completions while waiting) or @p timeout_ns passes.
 * @param c handle.
 * @param timeout_ns 0 polls once; negative waits without bound.
 * @return events queued (> 0); -CAPDRV_ETIMEDOUT; errors of
 *         capdrv_nvme_ctrl_process_admin().
 */
int capdrv_nvme_ctrl_wait_event(struct capdrv_nvme_ctrl *c, int64_t timeout_ns);

/* ---------------------------------------------------------------------- */
/* I/O queue pairs                                                         */
/* ---------------------------------------------------------------------- */

/** Options of capdrv_nvme_qpair_create(); zero means the default. */
struct capdrv_nvme_qpair_opts {
    unsigned depth;     /**< queue entries, 2..4096 (default 128), capped by CAP.MQES + 1;
                             depth - 1 commands may be outstanding (§3.3.1.5) */
    bool polling;       /**< CQ without interrupts (always so on a polling controller) */
    bool auto_ring;     /**< ring the doorbell inside every submission call */
    bool sgl;           /**< describe data with SGLs when SGLS allows (else PRPs) */
    uint32_t max_xfer;  /**< bytes per command (default ::CAPDRV_NVME_MAX_XFER_DEFAULT),
                             capped by MDTS; sizes the per-slot PRP list pages */
    unsigned max_segs;  /**< data segments per command (default and at most
                             ::CAPDRV_NVME_MAX_SEGS); sizes the SGL list pages */
};

/** One completed command, passed to its callback. */
struct capdrv_nvme_cpl {
    int status;      /**< 0; -CAPDRV_EIO (NVMe error status, see sct/sc);
                          -CAPDRV_ETIMEDOUT (deadline passed, then aborted or reset);
                          -CAPDRV_ECANCELED (failed by a reset or by destroying the queue);
                          -CAPDRV_EPROTO (the queue broke); -CAPDRV_ENODEV (removal) */
    uint8_t sct;     /**< Status Code Type (enum capdrv_nvme_sct) as reported */
    uint8_t sc;      /**< Status Code as reported */
    bool dnr;        /**< Do Not Retry */
    bool more;       /**< More: an Error Information log entry exists */
    uint16_t cid;    /**< Command Identifier used */
    uint16_t sqid;   /**< submission queue identifier */
    uint32_t dw0;    /**< completion DW0 (command specific) */
    uint32_t dw1;    /**< completion DW1 */
};

/** Completion callback; @p cpl is valid during the call only. The callback
 *  may submit new commands on the same queue pair; it must not destroy it
 *  or reset the controller. */
typedef void (*capdrv_nvme_cb)(void *arg, const struct capdrv_nvme_cpl *cpl);

/**
 * @brief Create an I/O queue pair (Base 2.0 §5.4 Create I/O Completion
 *        Queue, then §5.5 Create I/O Submission Queue, same identifier).
 *
 * Allocates the queues and, per slot, the PRP/SGL list pages the largest
 * command needs, from the controller's pool. With interrupts the CQ uses
 * vector @e qid when the grant has it, otherwise a shared one.
 *
 * @param c handle.
 * @param o options, or NULL for the defaults.
 * @param out receives the queue pair.
 * @return 0; -CAPDRV_ENOSPC (all granted queue pairs exist, or the pool
 *         quota is exhausted); -CAPDRV_EINVAL (bad option); errors of the
 *         admin commands (group "Admin commands").
 */
int capdrv_nvme_qpair_create(struct capdrv_nvme_ctrl *c, const struct capdrv_nvme_qpair_opts *o,
                             struct capdrv_nvme_qpair **out);

/**
 * @brief Delete the queue pair (SQ, then CQ) and free it.
 *
 * Outstanding commands complete with -CAPDRV_ECANCELED once the controller
 * has deleted the SQ (commands it had not finished are aborted,
 * Base 2.0 §5.7). If the deletion fails, the controller is reset (the only
 * way to be sure it no longer uses the queue). The queue's DMA memory is
 * kept until the controller is next disabled (capdrv_nvme_ctrl_reset() or
 * capdrv_nvme_ctrl_close()): the kernel may count memory a device used as
 * in flight until then. Not for use from a completion callback.
 *
 * @param qp queue pair, or NULL.
 * @return 0; errors of the admin commands (group "Admin commands"; the
 *         handle is freed anyway).
 */
int capdrv_nvme_qpair_destroy(struct capdrv_nvme_qpair *qp);

/** Per-queue-pair facts (capdrv_nvme_qpair_info()). */
struct capdrv_nvme_qpair_info {
    uint16_t qid;          /**< SQ and CQ identifier */
    unsigned depth;        /**< entries */
    int vector;            /**< MSI-X vector, -1 when polling */
    bool sgl;              /**< data described with SGLs */
    uint32_t max_xfer;     /**< bytes per command */
    unsigned max_segs;     /**< segments per command */
    unsigned inflight;     /**< commands submitted (queued or rung) and not completed */
    unsigned unrung;       /**< commands queued but not yet rung */
    bool broken;           /**< the controller broke the queue protocol */
};

/**
 * @brief Describe a queue pair.
 * @param qp queue pair.
 * @param out filled.
 * @return 0; -CAPDRV_EINVAL for NULL arguments.
 */
int capdrv_nvme_qpair_info(const struct capdrv_nvme_qpair *qp, struct capdrv_nvme_qpair_info *out);

/**
 * @brief Why the queue pair is broken.
 * @param qp queue pair.
 * @return a NUL-terminated reason ("" while healthy); never NULL.
 */
const char *capdrv_nvme_qpair_why(const struct capdrv_nvme_qpair *qp);

/**
 * @name I/O submission
 *
 * Every submission call of this group (capdrv_nvme_read() to
 * capdrv_nvme_qpair_submit_raw()) queues one command (no doorbell unless
 * auto_ring) and returns 0; its callback runs later, exactly once. Errors
 * (nothing is queued and the callback never runs, except as noted for
 * auto_ring): -CAPDRV_EBUSY (queue full: poll, then retry); -CAPDRV_EINVAL
 * (bad argument, NLB 0 or above 65536, data length not nlb x block size, a
 * segment rule of capdrv/prp.h); -CAPDRV_ERANGE (transfer above max_xfer,
 * or more segments than max_segs); -CAPDRV_ENOTSUP (command not in ONCS);
 * -CAPDRV_EPROTO (queue broken); -CAPDRV_ENODEV (controller gone). With
 * auto_ring, an error of capdrv_nvme_qpair_ring() is returned too, but then
 * the command *is* queued (the queue is broken) and its callback runs at
 * the next reset.
 *
 * The data length check needs the namespace's block size: the library
 * keeps it for each namespace it has seen through capdrv_nvme_ns_info()
 * (call it once per namespace before I/O; an unknown namespace gives
 * -CAPDRV_ENOENT).
 * @{
 */

/**
 * @brief Queue a Read (NVM 1.0 §3.2.4).
 * @param qp queue pair.
 * @param nsid namespace.
 * @param slba first logical block.
 * @param nlb number of blocks, 1..65536 (not 0's based).
 * @param segs destination, in the caller's DMA buffers.
 * @param nsegs number of segments (1..max_segs).
 * @param cb completion callback (required).
 * @param arg passed to @p cb.
 * @return 0 or a negative error of a submission (see the group
 *         "I/O submission").
 */
int capdrv_nvme_read(struct capdrv_nvme_qpair *qp, uint32_t nsid, uint64_t slba, uint32_t nlb,
                     const struct capdrv_dma_seg *segs, unsigned nsegs, capdrv_nvme_cb cb,
                     void *arg);

/**
 * @brief Queue a Write (NVM 1.0 §3.2.6).
 * @param qp queue pair.
 * @param nsid namespace.
 * @param slba first logical block.
 * @param nlb number of blocks, 1..65536.
 * @param segs source, in the caller's DMA buffers; must not change until
 *        the callback runs.
 * @param nsegs number of segments.
 * @param cb completion callback.
 * @param arg passed to @p cb.
 * @return 0 or a negative error of a submission (see the group
 *         "I/O submission").
 */
int capdrv_nvme_write(struct capdrv_nvme_qpair *qp, uint32_t nsid, uint64_t slba, uint32_t nlb,
                      const struct capdrv_dma_seg *segs, unsigned nsegs, capdrv_nvme_cb cb,
                      void *arg);

/**
 * @brief Queue a Flush (NVM 1.0 §3.2 / Base 2.0 §7.1).
 * @param qp queue pair.
 * @param nsid namespace (0xFFFFFFFF: all, when the controller allows it).
 * @param cb completion callback.
 * @param arg passed to @p cb.
 * @return 0 or a negative error of a submission (see the group
 *         "I/O submission").
 */
int capdrv_nvme_flush(struct capdrv_nvme_qpair *qp, uint32_t nsid, capdrv_nvme_cb cb, void *arg);

/** capdrv_nvme_write_zeroes() flag: Deallocate (CDW12 bit 25, NVM 1.0 §3.2.8). */
#define CAPDRV_NVME_WZ_DEAC (1u << 25)

/**
 * @brief Queue a Write Zeroes (NVM 1.0 §3.2.8; ONCS bit 3).
 * @param qp queue pair.
 * @param nsid namespace.
 * @param slba first logical block.
 * @param nlb number of blocks, 1..65536.
 * @param flags 0 or ::CAPDRV_NVME_WZ_DEAC.
 * @param cb completion callback.
 * @param arg passed to @p cb.
 * @return 0 or a negative error of a submission (see the group
 *         "I/O submission").
 */
int capdrv_nvme_write_zeroes(struct capdrv_nvme_qpair *qp, uint32_t nsid, uint64_t slba,
                             uint32_t nlb, uint32_t flags, capdrv_nvme_cb cb, void *arg);

/** capdrv_nvme_dsm() attribute: Deallocate (CDW11 bit 2, NVM 1.0 §3.2.3). */
#define CAPDRV_NVME_DSM_AD (1u << 2)

/**
 * @brief Queue a Dataset Management command (NVM 1.0 §3.2.3; ONCS bit 2).
 *
 * The ranges are copied into library DMA memory (the slot's list page), so
 * @p ranges is plain caller memory and may be reused at once.
 *
 * @param qp queue pair.
 * @param nsid namespace.
 * @param ranges ranges (host order; converted to little-endian).
 * @param n number of ranges, 1..::CAPDRV_NVME_DSM_MAX_RANGES.
 * @param attrs CDW11 attributes, e.g. ::CAPDRV_NVME_DSM_AD.
 * @param cb completion callback.
 * @param arg passed to @p cb.
 * @return 0 or a negative error of a submission (see the group
 *         "I/O submission").
 */
int capdrv_nvme_dsm(struct capdrv_nvme_qpair *qp, uint32_t nsid,
                    const struct capdrv_nvme_dsm_range *ranges, unsigned n, uint32_t attrs,
                    capdrv_nvme_cb cb, void *arg);

/**
 * @brief Queue any I/O command.
 *
 * The library sets the CID and, when @p nsegs > 0, the data pointer and
 * PSDT (PRPs or SGLs as the queue pair uses); every other field is sent as
 * given (little-endian on the wire). No length check against the
 * namespace is made.
 *
 * @param qp queue pair.
 * @param sqe the command.
 * @param segs data in the caller's DMA buffers, or NULL.
 * @param nsegs number of segments (0: no data pointer; the DPTR of @p sqe
 *        is cleared).
 * @param cb completion callback.
 * @param arg passed to @p cb.
 * @return 0 or a negative error of a submission (see the group
 *         "I/O submission").
 */
int capdrv_nvme_qpair_submit_raw(struct capdrv_nvme_qpair *qp, const struct capdrv_nvme_sqe *sqe,
                                 const struct capdrv_dma_seg *segs, unsigned nsegs,
                                 capdrv_nvme_cb cb, void *arg);

/** @} */

/**
 * @brief Publish every queued command with one SQ tail doorbell write.
 *
 * The SQ entries are made visible before the doorbell (release fence,
 * then the MMIO write; Base 2.0 §3.3.1.2). With shadow doorbells the tail
 * goes to the shadow buffer and the MMIO write happens only when the
 * controller's EventIdx asks for it (Doorbell Buffer Config, §5.8).
 *
 * @param qp queue pair.
 * @return commands published (>= 0); -CAPDRV_EPROTO (broken);
 *         -CAPDRV_ENODEV; -CAPDRV_EFAULT (the kernel refused a DMA
 *         reference at the doorbell: the queue is marked broken, see
 *         capdrv_nvme_qpair_why(); reset to recover); errors of
 *         capdrv_mmio_write().
 */
int capdrv_nvme_qpair_ring(struct capdrv_nvme_qpair *qp);

/**
 * @brief Reap up to @p max completions without blocking, running their
 *        callbacks; updates the CQ head doorbell once.
 *
 * A poll never waits, so it neither advances the library's clock nor runs
 * timeout recovery (see "Time" above): for a command the controller never
 * completes to be aborted, a provider that polls must also wait now and
 * then (capdrv_nvme_qpair_wait() with a timeout above 0: only waiting
 * advances the clock). After a reset or removal elsewhere (qpair_threads) the
 * pair catches up first, and its commands so completed count as reaped.
 *
 * @param qp queue pair.
 * @param max most completions (0: no limit).
 * @return completions reaped (>= 0); -CAPDRV_EPROTO once the queue is
 *         broken (see capdrv_nvme_qpair_why()); -CAPDRV_ENODEV; errors of
 *         capdrv_mmio_write() for the head doorbell.
 */
int capdrv_nvme_qpair_poll(struct capdrv_nvme_qpair *qp, unsigned max);

/**
 * @brief Wait for completions and reap them; enforce command deadlines.
 *
 * Rings queued commands first. Then, until something is reaped or
 * @p timeout_ns passes: polls, waits for the queue's interrupt (or, when
 * polling, sleeps) in capdrv_irq_wait() slices of at most
 * ::CAPDRV_NVME_WAIT_SLICE_NS, charges the waited time to every
 * outstanding command, and starts timeout recovery (Abort, then reset) for
 * commands past their deadline; a command so completed counts as reaped.
 *
 * @param qp queue pair.
 * @param timeout_ns 0 polls once; negative waits without bound (until a
 *        completion, which the command deadlines guarantee while commands
 *        are outstanding).
 * @return completions reaped (> 0); 0 when nothing is outstanding;
 *         -CAPDRV_ETIMEDOUT; errors of capdrv_nvme_qpair_poll();
 *         -CAPDRV_EIO (CSTS.CFS).
 */
int capdrv_nvme_qpair_wait(struct capdrv_nvme_qpair *qp, int64_t timeout_ns);

#ifdef __cplusplus
}
#endif
#endif /* CAPDRV_NVME_H */
