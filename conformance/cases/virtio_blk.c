/* virtio-blk cases: the provider library (capdrv/virtio_blk.h) against the
 * platform's virtio-blk function "vblk" (PCI modern, virtio-blk.*) and its
 * virtio-mmio virtio-blk "vmblk" (virtio-blk-mmio.*: the same cases, the
 * provider picking the transport from the grant), on both lanes. A
 * platform without one of the grants SKIPs its cases (conf_open). */
#include "../conf.h"

#include <capdrv/virtio_blk.h>

#include <stdio.h>
#include <string.h>

#define MAX_BYTES (128u * 1024u)

struct vb {
    capdrv_cap_t g, pool, wbuf, rbuf;
    struct capdrv_dmabuf_info wi, ri;
    struct capdrv_virtio_blk *blk;
    struct capdrv_virtio_blk_info info;
};

static bool vb_open(struct conf_ctx *c, struct vb *v, const char *grant, bool irq)
{
    memset(v, 0, sizeof *v);
    v->g = conf_open(c, c->conf, grant);
    if (v->g == CAPDRV_CAP_INVALID)
        return false;
    char why[256] = "";
    struct capdrv_virtio_blk_opts o = {.queue_size = 64, .irq = irq};
    if (capdrv_pool_open(c->conf, v->g, &v->pool) < 0)
        return conf_fail(c, __FILE__, __LINE__, "cannot open the pool of \"%s\"", grant);
    o.pool = v->pool;
    int rc = capdrv_virtio_blk_open(c->conf, v->g, &o, &v->blk, why, sizeof why);
    if (rc < 0)
        return conf_fail(c, __FILE__, __LINE__, "virtio-blk open: %s (%s)", capdrv_strerror(rc), why);
    if (capdrv_virtio_blk_info(v->blk, &v->info) < 0 ||
        capdrv_dma_alloc(c->conf, v->pool, MAX_BYTES, &v->wbuf, &v->wi) < 0 ||
        capdrv_dma_alloc(c->conf, v->pool, MAX_BYTES, &v->rbuf, &v->ri) < 0)
        return conf_fail(c, __FILE__, __LINE__, "cannot allocate I/O buffers");
    return true;
}

static void vb_close(struct vb *v)
{
    capdrv_virtio_blk_close(v->blk);
    v->blk = NULL;
}

/* Submit one request and complete it by polling (or by interrupt). */
static int vb_do(struct conf_ctx *c, struct vb *v, uint32_t type, uint64_t sector,
                 const struct capdrv_virtq_seg *segs, unsigned n, bool irq)
{
    struct capdrv_virtio_blk_req rq = {.type = type, .sector = sector, .n_segs = n, .segs = segs,
                                       .cookie = v};
    int rc = capdrv_virtio_blk_submit(v->blk, 0, &rq, 1);
    if (rc != 1)
        return rc < 0 ? rc : -CAPDRV_ENOSPC;
    struct capdrv_virtio_blk_done d;
    for (int spin = 0; spin < 100000; spin++) {
        if (irq) {
            rc = capdrv_virtio_blk_wait(v->blk, 0, 1000000000);
            if (rc < 0)
                return rc;
        }
        rc = capdrv_virtio_blk_reap(v->blk, 0, &d, 1);
        if (rc < 0)
            return rc;
        if (rc == 1)
            return d.cookie == v ? d.status : -CAPDRV_EPROTO;
        if (!irq && c->plat->advance)
            c->plat->advance(c, 1000);
    }
    return -CAPDRV_ETIMEDOUT;
}

/* Writes of sizes from one sector to 128 KiB at odd sectors read back
 * exactly, including multi-segment requests whose segments start at odd
 * offsets of their buffers. */
static void data_integrity(struct conf_ctx *c, const char *grant)
{
    struct vb v;
    if (!vb_open(c, &v, grant, false))
        return;
    static const struct { uint64_t sector; uint32_t bytes, off; unsigned segs; } shapes[] = {
        {0, 512, 0, 1},     {1, 512, 512, 1},      {7, 4096, 0, 1},        {33, 4608, 1024, 1},
        {101, 12288, 0, 3}, {255, 65536, 0, 1},    {517, 65536, 512, 16},  {1000, 131072, 0, 32},
    };
    uint8_t *w = v.wi.cpu, *r = v.ri.cpu;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        uint32_t bytes = shapes[s].bytes, off = shapes[s].off;
        if (off + bytes > MAX_BYTES || shapes[s].sector + bytes / 512 > v.info.capacity ||
            shapes[s].segs > v.info.seg_max) {
            conf_fail(c, __FILE__, __LINE__, "shape %zu does not fit the device", s);
            goto out;
        }
        for (uint32_t i = 0; i < bytes; i++)
            w[off + i] = (uint8_t)(i * 31 + s * 7 + (i >> 9));
        memset(r, 0xee, MAX_BYTES);
        struct capdrv_virtq_seg ws[32], rs[32];
        unsigned n = shapes[s].segs;
        uint32_t per = bytes / n;
        for (unsigned k = 0; k < n; k++) {
            ws[k] = (struct capdrv_virtq_seg){capdrv_dma_ref(&v.wi, off + k * per), per};
            rs[k] = (struct capdrv_virtq_seg){capdrv_dma_ref(&v.ri, off + k * per), per};
        }
        int rc = vb_do(c, &v, CAPDRV_VIRTIO_BLK_T_OUT, shapes[s].sector, ws, n, false);
        if (rc != 0) {
            conf_fail(c, __FILE__, __LINE__, "write %zu: %s", s, capdrv_strerror(rc));
            goto out;
        }
        rc = vb_do(c, &v, CAPDRV_VIRTIO_BLK_T_IN, shapes[s].sector, rs, n, false);
        if (rc != 0) {
            conf_fail(c, __FILE__, __LINE__, "read %zu: %s", s, capdrv_strerror(rc));
            goto out;
        }
        if (memcmp(w + off, r + off, bytes) != 0 || (off && r[off - 1] != 0xee) ||
            (off + bytes < MAX_BYTES && r[off + bytes] != 0xee)) {
            conf_fail(c, __FILE__, __LINE__, "shape %zu read back differs", s);
            goto out;
        }
    }
    if (c->plat->oracle_violations)
        CONF_EQ(c, c->plat->oracle_violations(c), 0);
out:
    vb_close(&v);
}

/* A request completes through the queue's MSI-X vector (PCI) or the
 * device's interrupt line (virtio-mmio). */
static void irq_completion(struct conf_ctx *c, const char *grant)
{
    struct vb v;
    if (!vb_open(c, &v, grant, true))
        return;
    memset(v.wi.cpu, 0x3c, 4096);
    struct capdrv_virtq_seg s = {capdrv_dma_ref(&v.wi, 0), 4096};
    int rc = vb_do(c, &v, CAPDRV_VIRTIO_BLK_T_OUT, 8, &s, 1, true);
    if (rc != 0)
        conf_fail(c, __FILE__, __LINE__, "write by interrupt: %s", capdrv_strerror(rc));
    vb_close(&v);
}

/* A data reference outside the ledger is refused at the doorbell and the
 * device touches nothing. */
static void out_of_ledger(struct conf_ctx *c, const char *grant)
{
    struct vb v;
    if (!vb_open(c, &v, grant, false))
        return;
    long before = c->plat->oracle_violations ? c->plat->oracle_violations(c) : 0;
    /* brokered: a token one generation off; direct: an IOVA past the buffer */
    uint64_t bad = c->lane == CAPDRV_LANE_BROKERED ? capdrv_dma_ref(&v.wi, 0) ^ (1ull << 48)
                                                   : capdrv_dma_ref(&v.wi, 0) + MAX_BYTES; /* guard page */
    struct capdrv_virtq_seg s = {bad, 4096};
    int rc = vb_do(c, &v, CAPDRV_VIRTIO_BLK_T_IN, 0, &s, 1, false);
    CONF_EQ(c, rc, -CAPDRV_EFAULT);
    /* The refused request sits in the ring: the queue says so instead of
     * queueing more behind it (only a reset recovers). */
    struct capdrv_virtq_seg good = {capdrv_dma_ref(&v.wi, 0), 4096};
    struct capdrv_virtio_blk_req rq = {.type = CAPDRV_VIRTIO_BLK_T_IN, .n_segs = 1, .segs = &good};
    CONF_EQ(c, capdrv_virtio_blk_submit(v.blk, 0, &rq, 1), -CAPDRV_EPROTO);
    if (c->plat->oracle_violations)
        CONF_EQ(c, c->plat->oracle_violations(c), before);
    vb_close(&v);
}

/* After a device reset (close) a new driver instance sees the data the
 * previous one wrote (§2.1.2: reset loses no stored data). */
static void reset_and_recover(struct conf_ctx *c, const char *grant)
{
    struct vb v;
    if (!vb_open(c, &v, grant, false))
        return;
    memset(v.wi.cpu, 0x77, 4096);
    struct capdrv_virtq_seg ws = {capdrv_dma_ref(&v.wi, 0), 4096};
    CONF_EQ(c, vb_do(c, &v, CAPDRV_VIRTIO_BLK_T_OUT, 64, &ws, 1, false), 0);
    capdrv_virtio_blk_close(v.blk);
    char why[256];
    struct capdrv_virtio_blk_opts o = {.pool = v.pool, .queue_size = 64};
    int rc = capdrv_virtio_blk_open(c->conf, v.g, &o, &v.blk, why, sizeof why);
    if (rc < 0) {
        conf_fail(c, __FILE__, __LINE__, "reopen: %s (%s)", capdrv_strerror(rc), why);
        return;
    }
    struct capdrv_virtq_seg rs = {capdrv_dma_ref(&v.ri, 0), 4096};
    memset(v.ri.cpu, 0, 4096);
    CONF_EQ(c, vb_do(c, &v, CAPDRV_VIRTIO_BLK_T_IN, 64, &rs, 1, false), 0);
    CONF_EQ(c, ((uint8_t *)v.ri.cpu)[4095], 0x77);
    vb_close(&v);
}

/* The cases on each transport. */
#define ON_GRANT(fn, grant) \
    static void fn##_##grant(struct conf_ctx *c) { fn(c, #grant); }
ON_GRANT(data_integrity, vblk)
ON_GRANT(irq_completion, vblk)
ON_GRANT(out_of_ledger, vblk)
ON_GRANT(reset_and_recover, vblk)
ON_GRANT(data_integrity, vmblk)
ON_GRANT(irq_completion, vmblk)
ON_GRANT(out_of_ledger, vmblk)
ON_GRANT(reset_and_recover, vmblk)

const struct conf_case conf_cases_virtio_blk[] = {
    {"virtio-blk.data-integrity",
     "VIRTIO 1.2 §5.2.6: reads return what was written, 1 sector to 128 KiB, odd offsets, multi-segment",
     CONF_BOTH_LANES, data_integrity_vblk},
    {"virtio-blk.irq-completion", "VIRTIO 1.2 §4.1.5.1.2: a queue's used buffers signal its MSI-X vector",
     CONF_BOTH_LANES, irq_completion_vblk},
    {"virtio-blk.out-of-ledger-refused", "DESIGN: a descriptor outside the ledger is refused at notify",
     CONF_BOTH_LANES, out_of_ledger_vblk},
    {"virtio-blk.reset-recovery", "VIRTIO 1.2 §2.1.2, §3.1.1: reset, re-initialise, data intact",
     CONF_BOTH_LANES, reset_and_recover_vblk},
    {"virtio-blk-mmio.data-integrity",
     "VIRTIO 1.2 §5.2.6 over §4.2: the provider on a virtio-mmio grant; reads return what was "
     "written, 1 sector to 128 KiB, odd offsets, multi-segment",
     CONF_BOTH_LANES, data_integrity_vmblk},
    {"virtio-blk-mmio.irq-completion",
     "VIRTIO 1.2 §4.2.3.4: used buffers raise the device's line; the provider reads "
     "InterruptStatus and acknowledges it",
     CONF_BOTH_LANES, irq_completion_vmblk},
    {"virtio-blk-mmio.out-of-ledger",
     "DESIGN: a descriptor outside the ledger is refused at QueueNotify (§4.2.3.3)",
     CONF_BOTH_LANES, out_of_ledger_vmblk},
    {"virtio-blk-mmio.reset-recovery",
     "VIRTIO 1.2 §4.2.2 Status, §2.1.2: reset, re-initialise, data intact",
     CONF_BOTH_LANES, reset_and_recover_vmblk},
};
const size_t conf_cases_virtio_blk_n = sizeof conf_cases_virtio_blk / sizeof conf_cases_virtio_blk[0];
