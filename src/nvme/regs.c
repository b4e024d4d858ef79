/* NVMe controller registers, doorbell addresses, the ready/shutdown waits
 * and the library's clock (time waited through capdrv_irq_wait(); see
 * capdrv/nvme.h "Time"). */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */

#include "nvme_internal.h"

#include <stdio.h>
#include <time.h>

void nvme_say(char *why, size_t why_len, const char *fmt, ...)
{
    if (!why || why_len == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
}

int nvme_reg_read32(struct capdrv_nvme_ctrl *c, uint32_t off, uint32_t *v)
{
    uint64_t x = 0;
    int rc = capdrv_mmio_read(c->sys, c->mmio, off, 4, &x);
    *v = (uint32_t)x;
    return rc;
}

int nvme_reg_write32(struct capdrv_nvme_ctrl *c, uint32_t off, uint32_t v)
{
    return capdrv_mmio_write(c->sys, c->mmio, off, 4, v);
}

/* CAP, ASQ and ACQ are 64-bit properties (§3.1.3): accessed as one 8-byte
 * access so that the kernel sees a whole DMA reference in ASQ/ACQ. */
int nvme_reg_read64(struct capdrv_nvme_ctrl *c, uint32_t off, uint64_t *v)
{
    return capdrv_mmio_read(c->sys, c->mmio, off, 8, v);
}

int nvme_reg_write64(struct capdrv_nvme_ctrl *c, uint32_t off, uint64_t v)
{
    return capdrv_mmio_write(c->sys, c->mmio, off, 8, v);
}

/* Doorbell properties (PCIe Transport 1.0 §3.1.2): SQ y Tail Doorbell at 1000h + (2y) * (4 <<
 * CAP.DSTRD), CQ y Head Doorbell at 1000h + (2y + 1) * (4 << CAP.DSTRD). */
uint64_t nvme_doorbell(const struct capdrv_nvme_ctrl *c, uint16_t qid, bool cq)
{
    uint64_t stride = 4ull << NVME_CAP_DSTRD(c->cap);
    return NVME_DOORBELL_BASE + (2ull * qid + (cq ? 1u : 0u)) * stride;
}

/* Read CSTS and classify it. All ones is what a PCIe read of a function
 * that is no longer there returns (surprise removal); CFS is Controller
 * Fatal Status (§3.1.3.6, §9.5). */
int nvme_csts(struct capdrv_nvme_ctrl *c, uint32_t *csts)
{
    uint32_t v = 0;
    int rc = nvme_reg_read32(c, NVME_REG_CSTS, &v);
    if (rc < 0)
        return rc;
    *csts = v;
    if (v == NVME_CSTS_GONE)
        return nvme_gone(c);
    return 0;
}

static uint64_t host_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* One slice of waiting. The slice counts as elapsed (added to *@clock)
 * when capdrv_irq_wait() times out, and also when there is nothing to wait
 * on (no vector): then the loop around it polls once per slice without
 * sleeping. A wake-up by an interrupt sets *@woke to what it is worth if it
 * brought no progress, and the caller adds that only then: the host time
 * the wait took (CLOCK_MONOTONIC), at least NVME_WAKE_MIN_NS and at most
 * the slice. So a storm of wake-ups cannot stop the clock (each costs at
 * least its real time), nor eat a deadline faster than real time passes;
 * the simulated platform's timeouts stay in simulated time. Before, a
 * fixed charge per wake-up was either too large (1 ms: a burst of early
 * wake-ups on a shared vector used up a 5 s deadline in a fraction of
 * that) or too small (10 us: wake-ups every millisecond would stretch it
 * a hundredfold). */
int nvme_sleep(struct capdrv_nvme_ctrl *c, uint64_t *clock, capdrv_cap_t irq, uint64_t ns,
               uint64_t *woke)
{
    *woke = 0;
    if (ns == 0)
        return 0;
    if (!irq)
        irq = c->timer;
    if (!irq) {
        *clock += ns;
        return 0;
    }
    uint64_t ready = 0, t0 = host_ns();
    int rc = capdrv_irq_wait(c->sys, &irq, 1, (int64_t)ns, &ready);
    if (rc == -CAPDRV_ETIMEDOUT) {
        *clock += ns;
        return 0;
    }
    if (rc < 0)
        return rc;
    uint64_t took = host_ns() - t0;
    *woke = took < NVME_WAKE_MIN_NS ? NVME_WAKE_MIN_NS : took > ns ? ns : took;
    (void)capdrv_irq_ack(c->sys, irq);
    return 0;
}

/* CAP.TO is the worst-case time to wait for CSTS.RDY to follow CC.EN, in
 * 500 ms units (§3.1.3.1); 0 is treated as one unit. */
static uint64_t cap_to_ns(const struct capdrv_nvme_ctrl *c)
{
    unsigned to = NVME_CAP_TO(c->cap);
    return (uint64_t)(to ? to : 1u) * 500000000ull;
}

/* §3.5.1 steps 1 and 6: wait for CSTS.RDY to become @p rdy within CAP.TO.
 * While enabling, CFS set means the controller failed (§9.5); while
 * disabling it is expected to be possibly set and is ignored. */
int nvme_wait_ready(struct capdrv_nvme_ctrl *c, bool rdy)
{
    uint64_t start = c->clock_ns, limit = cap_to_ns(c);
    for (;;) {
        uint32_t csts = 0;
        int rc = nvme_csts(c, &csts);
        if (rc < 0)
            return rc;
        if (rdy && (csts & NVME_CSTS_CFS)) {
            c->fatal = true;
            return -CAPDRV_EIO;
        }
        if (((csts & NVME_CSTS_RDY) != 0) == rdy)
            return 0;
        if (c->clock_ns - start >= limit)
            return -CAPDRV_ETIMEDOUT;
        uint64_t woke;
        rc = nvme_sleep(c, &c->clock_ns, c->timer, CAPDRV_NVME_WAIT_SLICE_NS, &woke);
        if (rc < 0)
            return rc;
        c->clock_ns += woke; /* nothing to wait for but time: a wake-up counts as it took */
    }
}

/* §3.6.1: after CC.SHN = 01b, CSTS.SHST reads 10b when shutdown processing
 * is complete; the host waits at most CAP.TO (RTD3E is advisory). */
int nvme_wait_shutdown(struct capdrv_nvme_ctrl *c)
{
    uint64_t start = c->clock_ns, limit = cap_to_ns(c);
    for (;;) {
        uint32_t csts = 0;
        int rc = nvme_csts(c, &csts);
        if (rc < 0)
            return rc;
        if ((csts & NVME_CSTS_SHST_MASK) == NVME_CSTS_SHST_DONE)
            return 0;
        if (csts & NVME_CSTS_CFS)
            return -CAPDRV_EIO;
        if (c->clock_ns - start >= limit)
            return -CAPDRV_ETIMEDOUT;
        uint64_t woke;
        rc = nvme_sleep(c, &c->clock_ns, c->timer, CAPDRV_NVME_WAIT_SLICE_NS, &woke);
        if (rc < 0)
            return rc;
        c->clock_ns += woke;
    }
}
