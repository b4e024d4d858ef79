/* The scratch device model: a function with no behaviour of its own, for
 * "AnyFunction" grants. BAR0 is a 4 KiB register file of plain memory: a
 * read at any offset and width returns the bytes last written there
 * (little-endian), and FLR clears it. It schedules no events; tests make it
 * DMA or interrupt with capdrv_sim_device_dma() / capdrv_sim_irq_raise(). */
#include "sim_internal.h"

#include <stdlib.h>
#include <string.h>

struct scratch {
    uint8_t regs[SIM_BAR_SIZE];
};

static int scratch_init(struct sim_fn *f)
{
    struct scratch *s = calloc(1, sizeof *s);
    if (!s)
        return -CAPDRV_ENOMEM;
    f->dev_state = s;
    return 0;
}

static void scratch_destroy(struct sim_fn *f)
{
    free(f->dev_state);
    f->dev_state = NULL;
}

static uint64_t scratch_bar0_read(struct capdrv_sim *sim, struct sim_fn *f, uint64_t off,
                                  unsigned width)
{
    (void)sim;
    const struct scratch *s = f->dev_state;
    return sim_le_get(&s->regs[off], width); /* bounds checked by the caller */
}

static void scratch_bar0_write(struct capdrv_sim *sim, struct sim_fn *f, uint64_t off,
                               unsigned width, uint64_t val)
{
    (void)sim;
    struct scratch *s = f->dev_state;
    sim_le_put(&s->regs[off], width, val);
}

static void scratch_reset(struct sim_fn *f)
{
    struct scratch *s = f->dev_state;
    memset(s->regs, 0, sizeof s->regs);
}

static uint64_t scratch_next_event(const struct sim_fn *f)
{
    (void)f;
    return SIM_NEVER;
}

static void scratch_run_event(struct capdrv_sim *sim, struct sim_fn *f)
{
    (void)sim;
    (void)f;
}

const struct sim_dev_ops sim_dev_scratch = {
    .name = "scratch",
    .init = scratch_init,
    .bar0_read = scratch_bar0_read,
    .bar0_write = scratch_bar0_write,
    .reset = scratch_reset,
    .next_event = scratch_next_event,
    .run_event = scratch_run_event,
    .destroy = scratch_destroy,
};
