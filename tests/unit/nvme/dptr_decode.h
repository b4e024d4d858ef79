/*
 * Reference decoder for the PRP/SGL builder tests: reads a data pointer the
 * way a controller would (NVMe Base 2.0 §4.1.1, §4.1.2), following list
 * pointers through a DMA-reference -> CPU map the test controls, and
 * reconstructs the byte ranges the device would transfer. It is strict:
 * anything a controller could reject or misread is an error here, so the
 * builders are held to the letter of the spec.
 *
 * Plus shared test helpers: canary-filled list pages, range lists, a
 * deterministic PRNG.
 */
#ifndef CAPDRV_TEST_DPTR_DECODE_H
#define CAPDRV_TEST_DPTR_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include <capdrv/nvme/types.h>
#include <capdrv/prp.h>

/* Decoder verdicts. */
enum dec_err {
    DEC_OK = 0,
    DEC_PRP1_ALIGN,      /* PRP1 offset not dword aligned */
    DEC_PRP2_RESERVED,   /* PRP2 not 0 although the transfer fits in PRP1's page */
    DEC_ENTRY_OFFSET,    /* PRP2 data pointer or list entry with a page offset */
    DEC_LIST_ALIGN,      /* list pointer / SGL segment not qword aligned */
    DEC_LIST_UNMAPPED,   /* list pointer outside every mapped list page */
    DEC_LOOP,            /* more list hops than mapped pages */
    DEC_SGL_TYPE,        /* unknown type, non-Address sub type or reserved bits set */
    DEC_SGL_SEG_LEN,     /* (Last) Segment length 0 or not a multiple of 16 */
    DEC_SGL_ORDER,       /* (Last) Segment descriptor not last, or inside the last segment */
    DEC_SGL_UNTERMINATED,/* a segment reached by a Segment descriptor ends without a pointer */
    DEC_SGL_ZERO,        /* Data Block of length 0 */
    DEC_LENGTH,          /* descriptors cover a length other than the transfer's */
    DEC_NOMEM
};

/* A contiguous byte range in DMA-reference space. */
struct dec_range {
    uint64_t ref;
    uint64_t len;
};

/* An ordered range list; contiguous neighbours are merged on append. */
struct dec_ranges {
    struct dec_range *r;
    size_t n, cap;
};

/* The list memory the device can reach: refs -> CPU, each page_bytes long. */
struct dec_mem {
    const struct capdrv_dma_page *pages;
    unsigned n;
    uint64_t page_bytes;
    uint64_t *read_hi;  /* out, n entries: bytes of each page the decoder read (max end) */
    unsigned lists;     /* out: distinct pages visited */
};

void dec_ranges_reset(struct dec_ranges *rs);
void dec_ranges_free(struct dec_ranges *rs);
int dec_ranges_add(struct dec_ranges *rs, uint64_t ref, uint64_t len);
/* The ranges an input segment list describes (merged the same way). */
int dec_ranges_from_segs(struct dec_ranges *rs, const struct capdrv_dma_seg *segs, unsigned n);
int dec_ranges_equal(const struct dec_ranges *a, const struct dec_ranges *b);

/* Decode PRP1/PRP2 (+ lists) for a transfer of xfer_len bytes. */
int dec_prp(const union capdrv_nvme_dptr *dptr, uint64_t page_size, uint64_t xfer_len,
            struct dec_mem *mem, struct dec_ranges *out);
/* Decode SGL1 (+ segments) for a transfer of xfer_len bytes. */
int dec_sgl(const union capdrv_nvme_dptr *dptr, uint64_t xfer_len, struct dec_mem *mem,
            struct dec_ranges *out);

/* ---- list-page arena ---- */

#define CANARY 0xA5u

struct arena {
    unsigned char *mem;
    struct capdrv_dma_page *pages;
    uint64_t *read_hi;
    unsigned n;
    uint64_t page_bytes;
};

/* n pages of page_bytes each, aligned to align, refs ref0 + i * ref_stride. */
void arena_init(struct arena *a, unsigned n, uint64_t page_bytes, uint64_t align, uint64_t ref0,
                uint64_t ref_stride);
void arena_free(struct arena *a);
void arena_fill(struct arena *a);            /* canary everywhere */
void arena_fill_n(struct arena *a, unsigned n); /* canary in the first n pages */
/* Bytes of page i at or after byte offset 'from' that are not the canary. */
uint64_t arena_dirty_from(const struct arena *a, unsigned i, uint64_t from);
void arena_mem(struct arena *a, struct dec_mem *m);

/* ---- PRNG (xorshift64*), fixed seeds ---- */
uint64_t rng_next(uint64_t *s);
uint64_t rng_below(uint64_t *s, uint64_t n); /* 0 .. n-1, n >= 1 */

#endif
