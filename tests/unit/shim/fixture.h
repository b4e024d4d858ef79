/* Shared fixture for the shim's unit tests: a sim machine with two dmatest
 * functions (00:03.0, 00:05.0) and one scratch function (00:04.0), a shim
 * over it from a compiled manifest, and providers p1 and p2 connected
 * in-process. Teardown checks the DMA oracle and the allocation count. */
#ifndef CAPDRV_TEST_SHIM_FIXTURE_H
#define CAPDRV_TEST_SHIM_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <cmocka.h>

#include <capdrv/dev/dmatest.h>
#include <capdrv/shim.h>
#include <capdrv/sim.h>
#include <capdrv/sys.h>

#include "spy.h"

#define FX_SCRATCH_VENDOR 0x1234u
#define FX_SCRATCH_DEVICE 0x5678u

struct fx {
    struct capdrv_env *env;
    struct capdrv_sim *sim;
    struct capdrv_hw hw;          /* what the shim was given (tests may wrap it) */
    struct capdrv_shim *shim;
    capdrv_sys *p1, *p2;
    unsigned fn_dma0, fn_raw0, fn_dma1;
    unsigned long expect_violations; /* oracle violations the test provoked */
    char why[256];
    int create_rc;
    struct fx_spy *spy;           /* fx_spy_install(), or NULL */
};

/* Build the machine; @hook (may be NULL) runs after the functions exist and
 * before the shim is created (to poke config space or wrap f->hw). */
void fx_machine(struct fx *f, bool iommu);
/* Create the shim from tests/unit/shim/manifests/<name>.dtb; returns its rc. */
int fx_shim(struct fx *f, const char *manifest);
/* fx_machine + fx_shim("basic") + connect p1 and p2, asserting success. */
void fx_basic(struct fx *f, bool iommu);
/* fx_machine (no IOMMU) + fx_spy_install + fx_shim("basic") + connect p1. */
struct fx_spy *fx_spied(struct fx *f);
/* Close providers, destroy shim and sim; assert no leak and the oracle saw
 * exactly f->expect_violations violations. */
void fx_done(struct fx *f);

/* Convenience: open grant @name of @sys. */
capdrv_cap_t fx_open(capdrv_sys *sys, const char *name);
/* Open window @w of @grant. */
capdrv_cap_t fx_mmio(capdrv_sys *sys, capdrv_cap_t grant, unsigned w);
/* Run one dmatest command through @mmio; returns the doorbell's rc. */
int fx_dmatest_cmd(capdrv_sys *sys, capdrv_cap_t mmio, uint64_t ref, uint32_t len, uint32_t cmd,
                   uint32_t pattern, uint32_t delay_ns);

#endif
