/* A leak scanner for the brokered DMA lane: proves that no device
 * (host-physical) address ever reached a provider.
 *
 * Two recorders feed it:
 * - struct ps_hw wraps the platform the shim is given (struct capdrv_hw)
 *   and records every device address range the platform handed out:
 *   each dma_alloc() region [phys, phys + size) and each dma_map()
 *   mapping [devaddr, devaddr + size), for the shim's own memory (probe
 *   pages, shadow SQs, list pages) and the providers' buffers alike, live
 *   or already freed. The sim offers no way to enumerate its regions, so
 *   this is the authoritative list; ps_scan_provider() cross-checks the
 *   recorder's live counts against capdrv_sim_dma_stats(), so memory that
 *   bypassed the recorder would make the scan fail, not pass.
 * - struct ps_conn wraps a provider's connection (capdrv_sys) and records
 *   every grant, MMIO window and DMA buffer the provider obtains, and
 *   checks every value the shim returns to it while it runs (register and
 *   configuration reads, assembled byte by byte per window, buffer infos).
 *
 * ps_scan_provider() then reads everything the provider can read: every
 * byte of every DMA buffer it holds, every register of every window of
 * its grants (capdrv_mmio_read() at every offset and width; refused reads
 * are skipped), and the whole configuration space (capdrv_cfg_read() at
 * every offset and width 1, 2 and 4). What counts as a leak is described
 * at ps_match64()/ps_match32() in phys_scan.c.
 *
 * No cmocka here: callers assert on struct ps_report. */
#ifndef CAPDRV_TEST_PHYS_SCAN_H
#define CAPDRV_TEST_PHYS_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <capdrv/hw.h>
#include <capdrv/sim.h>
#include <capdrv/sys_backend.h>

/* Smallest value (32- or 64-bit) that can count as an address; see
 * ps_match32() in phys_scan.c for why. */
#define PS_MIN_ADDR 0x10000u

#define PS_MAX_RANGES 1024u
#define PS_MAX_FINDINGS 16u
#define PS_MAX_BUFS 256u
#define PS_MAX_MMIO 8u
#define PS_MAX_GRANTS 4u

/* One device range the platform handed out. */
struct ps_range {
    uint64_t base, size;
    uint64_t phys;     /* the region's physical address (== base for a region) */
    unsigned fn;       /* mapping: function; region: unused */
    bool is_map, live;
};

struct ps_hw {
    struct capdrv_hw inner;
    struct capdrv_hw_ops ops;
    struct capdrv_sim *sim; /* for the live cross-check (may be NULL) */
    struct ps_range r[PS_MAX_RANGES];
    unsigned n;
    bool overflow;          /* more ranges than PS_MAX_RANGES: scans fail */
    /* Sorted, merged lookup tables (rebuilt when n changes). */
    struct ps_span { uint64_t lo, hi, base; } s64[PS_MAX_RANGES], s32[2 * PS_MAX_RANGES];
    unsigned n64, n32, built;
    /* Negative tests only: runs after the platform answered a BAR read
     * and may change the value (a device that echoes an address). */
    void (*tamper_bar_read)(void *arg, unsigned fn, unsigned bar, uint64_t off, unsigned width,
                            uint64_t *val);
    void *tamper_arg;
};

/* Wrap *hw (before the shim is created from it); *hw becomes the
 * recorder. @sim (may be NULL) is the machine behind it. */
void ps_hw_install(struct ps_hw *h, struct capdrv_hw *hw, struct capdrv_sim *sim);

/* The device range that contains @v (64-bit rule), or NULL. */
const struct ps_range *ps_hw_find(struct ps_hw *h, uint64_t v);
/* The n-th recorded range (in allocation order), or NULL. */
const struct ps_range *ps_hw_range(const struct ps_hw *h, unsigned i);

struct ps_finding {
    char where[40];  /* "dmabuf 2", "mmio 0 w4", "cfg w1", "read mmio 0", ... */
    uint64_t off;    /* byte offset inside it */
    unsigned bits;   /* 64 or 32 */
    uint64_t value;  /* what was there */
    uint64_t base;   /* start of the device range it names */
};

struct ps_report {
    unsigned long n, n64, n32;     /* findings */
    unsigned long bufs, buf_bytes; /* DMA buffers and bytes scanned */
    unsigned long mmio_ok, cfg_ok; /* successful register / config reads */
    unsigned long windows;         /* MMIO windows swept */
    struct ps_finding f[PS_MAX_FINDINGS];
    bool incomplete;               /* the scan could not see everything */
    char why[128];
};

void ps_report_init(struct ps_report *r);
/* A one-line summary plus the first findings, for fail_msg(). */
const char *ps_report_str(const struct ps_report *r, char *buf, size_t len);
/* A finding in a place whose name starts with @where_prefix at @off with
 * @bits (0: either). */
bool ps_report_has(const struct ps_report *r, const char *where_prefix, uint64_t off,
                   unsigned bits);

/* Scan @n bytes (every 4- and 8-byte window at every byte offset; with
 * @valid, only windows whose bytes are all valid). @off0 is added to the
 * reported offsets. */
void ps_scan_bytes(struct ps_hw *h, struct ps_report *r, const char *where, const uint8_t *p,
                   const uint8_t *valid, size_t n, uint64_t off0);

/* A recording connection (see the file comment). */
struct ps_mmio_rec {
    capdrv_cap_t cap, grant;
    unsigned window;
    uint64_t len;
    uint8_t *img, *valid; /* last value read at each byte */
};

struct ps_conn {
    struct capdrv_sys sys; /* first: what the provider uses */
    capdrv_sys *inner;
    struct ps_hw *hw;
    struct ps_report live; /* findings in values returned while running */
    capdrv_cap_t bufs[PS_MAX_BUFS];
    struct ps_mmio_rec mmio[PS_MAX_MMIO];
    struct {
        capdrv_cap_t cap;
        uint8_t img[4096], valid[4096];
    } grants[PS_MAX_GRANTS];
    bool overflow, closed;
};

/* Wrap @inner; returns the connection to give the provider. Closing it
 * closes @inner and frees what the recorder allocated (not @c itself). */
capdrv_sys *ps_conn_wrap(struct ps_conn *c, capdrv_sys *inner, struct ps_hw *hw);

/* Everything the provider behind @c can read now, plus what it read while
 * running. Uses @c's inner connection (the provider's own state is not
 * changed; a window the provider has not opened is opened and released). */
void ps_scan_provider(struct ps_conn *c, struct ps_report *r);

/* Fill @n bytes with test data that can never read as an address of the
 * sim (every byte odd and >= 0x81; see phys_scan.c). */
void ps_fill(void *p, size_t n, unsigned seed);

#endif
