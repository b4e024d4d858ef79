/*
 * CMocka checks shared by the PRP/SGL builder tests: run the reference
 * decoder on a builder's output and hold it to the documented contract
 * (exact byte ranges, list pages used, nothing written beyond them, nothing
 * written at all on failure).
 */
#ifndef CAPDRV_TEST_DPTR_CHECK_H
#define CAPDRV_TEST_DPTR_CHECK_H

#include "dptr_decode.h"

/* Data-pointer canary: what dptr holds before a call that must fail. */
void dptr_poison(union capdrv_nvme_dptr *d);
void assert_dptr_poisoned(const union capdrv_nvme_dptr *d);

/* Every byte of the first n pages of the arena is still the canary. */
void assert_arena_clean(const struct arena *a, unsigned n);
/* Every byte of page i is still the canary. */
void assert_arena_clean_page(const struct arena *a, unsigned i);

/* Successful PRP build with return value rc: decodes to exactly segs,
 * visits exactly rc list pages, and no byte of a page past what the
 * decoder read was written (the first navail pages of the arena were
 * offered; it was canary-filled before the call). */
void check_prp_ok(const struct capdrv_prp_cfg *cfg, const struct capdrv_dma_seg *segs,
                  unsigned nsegs, struct arena *a, unsigned navail,
                  const union capdrv_nvme_dptr *dptr, int rc);
/* Same for SGL. */
void check_sgl_ok(const struct capdrv_dma_seg *segs, unsigned nsegs, struct arena *a,
                  unsigned navail, const union capdrv_nvme_dptr *dptr, int rc);

/* A failed build: rc, diag, and untouched dptr and list pages. */
void check_failed(int rc, int want_rc, const struct capdrv_dptr_diag *diag,
                  enum capdrv_dptr_fault want_fault, uint32_t want_index,
                  const union capdrv_nvme_dptr *dptr, const struct arena *a, unsigned navail);

/* Total length of a segment list. */
uint64_t segs_total(const struct capdrv_dma_seg *segs, unsigned n);

#endif
