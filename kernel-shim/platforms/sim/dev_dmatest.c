/* The dmatest device model (register interface: capdrv/dev/dmatest.h).
 *
 * One command at a time. Writing CMD latches ADDR, LEN and PATTERN and
 * sets BUSY; the command completes DELAY_NS of simulated time later (inside
 * the CMD write when DELAY_NS is 0). Completion performs the DMA through the
 * oracle, then STATUS = DONE, or ERROR when the command was invalid (unknown
 * code, LEN 0 or above MAX_LEN) or the DMA was refused, and MSI-X vector 0
 * is signalled. A CMD written while BUSY is ignored and sets ERROR, which
 * then stays set until the next accepted command. Registers are accessed
 * only at their own offset and width; anything else reads 0 and writes are
 * dropped, as hardware decodes. */
#include "sim_internal.h"

#include <capdrv/dev/dmatest.h>

#include <stdlib.h>
#include <string.h>

#define ROGUE_OFFSET (1ull << 20) /* FAULT_ROGUE_DMA: DMA 1 MiB past ADDR */

struct dmatest {
    /* registers */
    uint64_t addr;
    uint32_t len, pattern, delay_ns, status, result;
    /* the command in flight, latched at the CMD write */
    bool busy;
    uint32_t cmd, l_len, l_pattern;
    uint64_t l_addr, deadline; /* SIM_NEVER: nothing scheduled */
    enum capdrv_sim_dmatest_fault fault;
};

static struct dmatest *dt(const struct sim_fn *f)
{
    return f->dev_state;
}

static void power_on(struct dmatest *d)
{
    enum capdrv_sim_dmatest_fault fault = d->fault; /* a test knob, not a register */
    memset(d, 0, sizeof *d);
    d->deadline = SIM_NEVER;
    d->fault = fault;
}

static int dmatest_init(struct sim_fn *f)
{
    struct dmatest *d = calloc(1, sizeof *d);
    if (!d)
        return -CAPDRV_ENOMEM;
    power_on(d);
    f->dev_state = d;
    return 0;
}

static void dmatest_destroy(struct sim_fn *f)
{
    free(f->dev_state);
    f->dev_state = NULL;
}

int sim_dmatest_set_fault(struct sim_fn *f, enum capdrv_sim_dmatest_fault fault)
{
    switch (fault) {
    case CAPDRV_SIM_DMATEST_FAULT_NONE:
    case CAPDRV_SIM_DMATEST_FAULT_ROGUE_DMA:
    case CAPDRV_SIM_DMATEST_FAULT_NO_IRQ:
    case CAPDRV_SIM_DMATEST_FAULT_STUCK:
    case CAPDRV_SIM_DMATEST_FAULT_DEAD:
        dt(f)->fault = fault;
        return 0;
    }
    return -CAPDRV_EINVAL;
}

static uint64_t dmatest_bar0_read(struct capdrv_sim *sim, struct sim_fn *f, uint64_t off,
                                  unsigned width)
{
    (void)sim;
    const struct dmatest *d = dt(f);
    if (d->fault == CAPDRV_SIM_DMATEST_FAULT_DEAD) /* a gone device reads all-ones */
        return width == 8 ? UINT64_MAX : (1ull << (8 * width)) - 1u;
    if (width == 8)
        return off == CAPDRV_DMATEST_ADDR ? d->addr : 0;
    if (width != 4)
        return 0;
    switch (off) {
    case CAPDRV_DMATEST_ID:
        return CAPDRV_DMATEST_ID_VALUE;
    case CAPDRV_DMATEST_STATUS:
        return d->status;
    case CAPDRV_DMATEST_LEN:
        return d->len;
    case CAPDRV_DMATEST_PATTERN:
        return d->pattern;
    case CAPDRV_DMATEST_RESULT:
        return d->result;
    case CAPDRV_DMATEST_DELAY_NS:
        return d->delay_ns;
    default:
        return 0; /* CMD is write-only; the rest is not decoded */
    }
}

/* Perform the latched command's DMA; false when it faulted. */
static bool do_dma(struct capdrv_sim *sim, struct sim_fn *f, struct dmatest *d)
{
    uint64_t target = d->l_addr;
    if (d->fault == CAPDRV_SIM_DMATEST_FAULT_ROGUE_DMA)
        target += ROGUE_OFFSET; /* wraps like a real address counter would */
    uint8_t *buf = malloc(d->l_len);
    if (!buf)
        return false; /* the model cannot run: report a device error */
    bool ok;
    if (d->cmd == CAPDRV_DMATEST_CMD_FILL) {
        /* PATTERN little-endian, repeated; the last copy may be partial. */
        for (uint32_t i = 0; i < d->l_len; i++)
            buf[i] = (uint8_t)(d->l_pattern >> (8 * (i & 3u)));
        ok = sim_dma_access(sim, f, target, buf, d->l_len, true) == 0;
    } else {
        ok = sim_dma_access(sim, f, target, buf, d->l_len, false) == 0;
        if (ok) {
            uint32_t sum = 0;
            for (uint32_t i = 0; i < d->l_len; i++)
                sum += buf[i];
            d->result = sum;
        }
    }
    free(buf);
    return ok;
}

static void complete(struct capdrv_sim *sim, struct sim_fn *f, struct dmatest *d)
{
    d->busy = false;
    d->deadline = SIM_NEVER;
    bool valid = (d->cmd == CAPDRV_DMATEST_CMD_FILL || d->cmd == CAPDRV_DMATEST_CMD_SUM) &&
                 d->l_len != 0 && d->l_len <= CAPDRV_DMATEST_MAX_LEN;
    bool ok = valid && do_dma(sim, f, d);
    /* ERROR from a CMD refused while busy survives the completion. */
    d->status = (d->status & CAPDRV_DMATEST_STATUS_ERROR) |
                (ok ? CAPDRV_DMATEST_STATUS_DONE : CAPDRV_DMATEST_STATUS_ERROR);
    if (d->fault != CAPDRV_SIM_DMATEST_FAULT_NO_IRQ)
        sim_irq_raise(f, 0);
}

static void start(struct capdrv_sim *sim, struct sim_fn *f, struct dmatest *d, uint32_t cmd)
{
    if (d->busy) {
        d->status |= CAPDRV_DMATEST_STATUS_ERROR;
        return;
    }
    d->busy = true;
    d->status = CAPDRV_DMATEST_STATUS_BUSY;
    d->cmd = cmd;
    d->l_addr = d->addr;
    d->l_len = d->len;
    d->l_pattern = d->pattern;
    if (d->fault == CAPDRV_SIM_DMATEST_FAULT_STUCK) {
        d->deadline = SIM_NEVER; /* accepted, never finished: only FLR helps */
        return;
    }
    if (d->delay_ns == 0) {
        complete(sim, f, d);
        return;
    }
    d->deadline = sim_sat_add(sim->now_ns, d->delay_ns);
}

static void dmatest_bar0_write(struct capdrv_sim *sim, struct sim_fn *f, uint64_t off,
                               unsigned width, uint64_t val)
{
    struct dmatest *d = dt(f);
    if (width == 8) {
        if (off == CAPDRV_DMATEST_ADDR)
            d->addr = val;
        return;
    }
    if (width != 4)
        return;
    uint32_t v = (uint32_t)val;
    switch (off) {
    case CAPDRV_DMATEST_LEN:
        d->len = v;
        break;
    case CAPDRV_DMATEST_PATTERN:
        d->pattern = v;
        break;
    case CAPDRV_DMATEST_DELAY_NS:
        d->delay_ns = v;
        break;
    case CAPDRV_DMATEST_CMD:
        start(sim, f, d, v);
        break;
    default:
        break; /* ID, STATUS, RESULT are read-only */
    }
}

static void dmatest_reset(struct sim_fn *f)
{
    power_on(dt(f)); /* the command in flight is dropped: it never DMAs */
}

static uint64_t dmatest_next_event(const struct sim_fn *f)
{
    return dt(f)->deadline;
}

static void dmatest_run_event(struct capdrv_sim *sim, struct sim_fn *f)
{
    struct dmatest *d = dt(f);
    if (d->busy)
        complete(sim, f, d);
    else
        d->deadline = SIM_NEVER;
}

const struct sim_dev_ops sim_dev_dmatest = {
    .name = "dmatest",
    .init = dmatest_init,
    .bar0_read = dmatest_bar0_read,
    .bar0_write = dmatest_bar0_write,
    .reset = dmatest_reset,
    .next_event = dmatest_next_event,
    .run_event = dmatest_run_event,
    .destroy = dmatest_destroy,
};
