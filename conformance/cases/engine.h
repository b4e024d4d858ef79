/* The DMA engine of the authority, dma and irq cases: one device of the
 * platform through which a case makes DMA happen, whatever the machine.
 *
 * Most rules those cases prove (stale handles, window bounds, quotas,
 * teardown on release, reset and death, refusal at notify, data landing
 * exactly where referenced) hold for any DMA device. The sim machine has
 * the dmatest device (grant "dev": FILL and SUM commands in registers); QEMU
 * and Linux VFIO machines do not, but they have an NVMe controller (grant
 * "nvme"). The engine picks "dev" when the platform offers it, else
 * "nvme", and gives the cases the same few operations on either:
 *
 *   fill   the device writes a 32-bit pattern (little-endian, repeated
 *          from the first byte) into [ref, ref + len)
 *   sum    the device reads [ref, ref + len); the engine reports the sum
 *          of those bytes as the device saw them
 *   start  a fill that the case leaves in flight (dmatest: slowed by the
 *          device's DELAY_NS; NVMe: the pattern written to the scratch
 *          range and waited for, then the Read rung and not yet reaped)
 *
 * On NVMe (capdrv/nvme.h, one polling I/O queue pair, namespace 1): a fill
 * is a Write of the pattern from the engine's staging buffer to a scratch
 * LBA range, then a Read of that range into [ref, ref + len). The
 * transfer is whole blocks, so the tail of the last block goes to a
 * separate spill buffer of the engine (a second SGL data block; Base 2.0
 * §4.1.2): the case's buffer sees exactly len bytes. A sum is a Write
 * from [ref, ref + len) (plus spill) to the scratch range and a Read back
 * into the staging buffer. Byte-granular ranges need SGLs (SGLS); without
 * them only block-sized, dword-aligned ranges are expressible
 * (-CAPDRV_ENOTSUP otherwise). A doorbell the shim refuses makes the
 * queue pair broken; the engine resets the controller (which completes
 * the refused command once, with an error) and returns the doorbell's
 * error, so the next operation works again.
 *
 * Beyond the engine: dma.rewrite-after-notify must rewrite a command after
 * its doorbell, which an NVMe command in the library's submission queue
 * does not allow; on NVMe it drives the controller with the harness's own
 * minimal driver instead (nvme_raw.h). authority.revoke-then-no-dma needs
 * a DMA observer: the sim's oracle, QEMU's guest-RAM canaries or IOMMU
 * fault records, with the Read held inside QEMU (conf_engine_hold_next():
 * qtest, and the VFIO guest through its QEMU's QMP monitor), or unfetched
 * behind a full CQ (nvme_raw.h). */
#ifndef CAPDRV_CONF_ENGINE_H
#define CAPDRV_CONF_ENGINE_H

#include "../conf.h"

struct capdrv_nvme_ctrl;
struct capdrv_nvme_qpair;

enum conf_engine_kind { CONF_ENGINE_DMATEST, CONF_ENGINE_NVME };

/* conf_engine_open() flags. */
#define CONF_ENGINE_REGS 1u /* grant, window 0 and pool only: no NVMe bring-up */
#define CONF_ENGINE_IRQ 2u  /* also open vector 0 into .irq, before the NVMe library can
                               (which then has no vector: its admin waits poll) */

struct conf_engine {
    struct conf_ctx *c;
    enum conf_engine_kind kind;
    const char *grant;         /* "dev" or "nvme" */
    capdrv_cap_t g, m, pool;   /* the grant, window 0 (see conf_engine_park()), its pool */
    capdrv_cap_t irq;          /* CONF_ENGINE_IRQ: vector 0 of the grant */
    /* NVMe only. */
    struct capdrv_nvme_ctrl *ctrl;
    struct capdrv_nvme_qpair *qp;
    uint32_t nsid, bs;         /* namespace 1 and its block size */
    bool sgl;                  /* the queue pair describes data with SGLs */
    capdrv_cap_t stage_buf, spill_buf;
    struct capdrv_dmabuf_info stage, spill;
    unsigned calls;            /* completions of the command in flight */
    int status;                /* its status */
    bool orphaned;             /* the provider is gone: the library handle is dropped */
    bool hold_next;            /* conf_engine_hold_next(): hold the next start's Read */
    bool held;                 /* the platform's nvme_stall is on */
};

/* Window-0 registers a case may name on either device. */
struct conf_engine_regs {
    uint64_t id;         /* a read-only register of known value */
    uint64_t id_value;   /* its value (NVMe: read from the device, no shim) */
    uint64_t beyond;     /* first offset past the device's registers in window 0 */
    uint64_t addr;       /* a register holding a DMA address the provider wrote (8 bytes) */
    struct {
        uint64_t off;
        unsigned width;
    } scan[16];          /* every register the provider may read */
    unsigned n_scan;
};

/* The engine's grant on this platform: "dev", else "nvme", else NULL. */
const char *conf_engine_grant(struct conf_ctx *c);
/* Open the engine's grant (SKIP when the platform has neither "dev" nor
 * "nvme"), window 0, the pool and (NVMe, unless CONF_ENGINE_REGS) the
 * controller. False when the case is over (failed or skipped). */
bool conf_engine_open(struct conf_ctx *c, struct conf_engine *e, unsigned flags);
/* Shut the engine down (NVMe: queue pair and controller); no effect once
 * orphaned or when nothing was opened. */
void conf_engine_close(struct conf_engine *e);
/* Hand window 0 to the case: dmatest always has it in .m; the NVMe
 * library holds it while the controller is up (the shim's NVMe profile
 * lets one capability hold it), so this shuts the controller down
 * (capdrv_nvme_ctrl_close(): CC.SHN, then CC.EN = 0; AQA, ASQ and ACQ keep
 * their values) and opens the window into .m. No fills afterwards. */
int conf_engine_park(struct conf_engine *e);
/* The engine's authority is gone: its provider closed (capdrv_sys_close()),
 * or its grant released or reset. The NVMe library's handle names
 * capabilities, and DMA memory (its queues), that no longer exist: the
 * memory may be unmapped (VFIO), so the handle is never used again. */
void conf_engine_orphan(struct conf_engine *e);
/* What the window-0 registers of the engine's device are. */
int conf_engine_regs(struct conf_engine *e, struct conf_engine_regs *r);

/* Device fill of [ref, ref + len) with @pattern, waited for. 0; the
 * doorbell's error (e.g. -CAPDRV_EFAULT when the shim refuses the
 * reference); -CAPDRV_ENOTSUP when the engine cannot express the range;
 * -CAPDRV_EIO when the device reported an error; -CAPDRV_ETIMEDOUT. */
int conf_engine_fill(struct conf_engine *e, uint64_t ref, uint32_t len, uint32_t pattern);
/* Device read of [ref, ref + len); *sum: the sum of the bytes it read. */
int conf_engine_sum(struct conf_engine *e, uint64_t ref, uint32_t len, uint32_t *sum);
/* Start a fill and return with it in flight (@slow_ns: dmatest's delay). */
int conf_engine_start(struct conf_engine *e, uint64_t ref, uint32_t len, uint32_t pattern,
                      uint32_t slow_ns);
/* NVMe on a platform with nvme_stall: make the next conf_engine_start()
 * leave its Read held inside the device (stall on after the staging Write,
 * before the Read's doorbell), so the device's write into the case's
 * buffer is still to come when the case acts. False (nothing changes)
 * for dmatest, whose slow_ns does this, or without the hook; a hook that
 * answers -CAPDRV_ENOTSUP at the start (this machine cannot hold) leaves
 * the Read unheld. */
bool conf_engine_hold_next(struct conf_engine *e);
/* Let a held command go (stall off); 0 when nothing is held. */
int conf_engine_unhold(struct conf_engine *e);
/* Wait for the started fill by polling only (no interrupt is used). */
int conf_engine_wait(struct conf_engine *e);
/* After conf_engine_start(): make the device raise vector 0 for it.
 * dmatest: its FILL completion does (nothing to do). NVMe: the engine's
 * I/O queue does not interrupt, so this reaps the Read by polling, then
 * issues an admin command: the Admin Completion Queue always interrupts
 * on vector 0 (NVMe Base 2.0: the Admin Completion Queue, set up through
 * AQA/ACQ, has no IEN bit and interrupts on vector 0). */
int conf_engine_kick(struct conf_engine *e);

#endif
