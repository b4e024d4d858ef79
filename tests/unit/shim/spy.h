/* A platform wrapper for shim tests: forwards every hw operation to the
 * real (sim) platform, counts what the shim asked for, and can make chosen
 * operations fail or run a hook in the middle of a blocking wait. */
#ifndef CAPDRV_TEST_SHIM_SPY_H
#define CAPDRV_TEST_SHIM_SPY_H

#include <stdbool.h>
#include <stdint.h>

#include <capdrv/hw.h>

struct fx;

struct fx_spy {
    struct capdrv_hw inner;
    struct capdrv_hw_ops ops;
    /* counters */
    unsigned frees, dirty_frees, unmaps, free_while_mapped, irq_disables, resets;
    /* failure knobs */
    bool fail_unmap, fail_reset;
    bool fail_bar_read;        /* bar_read of BAR0 at fail_bar_read_off fails */
    uint64_t fail_bar_read_off;
    /* run once inside irq_wait (where the shim lock is not held); the wait
     * then reports the first entry of its set as fired instead of waiting */
    void (*during_wait)(void *arg);
    void *during_wait_arg;
    uintptr_t mapped[16]; /* cookies currently mapped */
};

/* Wrap f->hw (call between fx_machine() and fx_shim()); fx_done frees it. */
struct fx_spy *fx_spy_install(struct fx *f);

#endif
