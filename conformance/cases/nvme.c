/* NVMe cases: the provider library (capdrv/nvme.h) against the platform's
 * NVMe controller "nvme", on both lanes. A platform without that grant
 * skips them all (conf_open()). They need namespace 1 to hold at least
 * 1 MiB and the controller to grant at least one I/O queue pair. */
#include "../conf.h"

#include <capdrv/nvme.h>

#include <stdio.h>
#include <string.h>

#define BUF_BYTES (512u * 1024u)
#define DEPTH 16u
#define POISON 0xeeu

struct nv {
    capdrv_cap_t g, pool, wbuf, rbuf;
    struct capdrv_dmabuf_info wi, ri;
    struct capdrv_nvme_ctrl *ctrl;
    struct capdrv_nvme_ctrl_info info;
    struct capdrv_nvme_ns_info ns;
};

/* Open the controller, namespace 1 and two I/O buffers. */
static bool nv_open(struct conf_ctx *c, struct nv *v)
{
    memset(v, 0, sizeof *v);
    v->g = conf_open(c, c->conf, "nvme");
    if (v->g == CAPDRV_CAP_INVALID)
        return false;
    if (capdrv_pool_open(c->conf, v->g, &v->pool) < 0)
        return conf_fail(c, __FILE__, __LINE__, "cannot open the pool of \"nvme\"");
    struct capdrv_nvme_ctrl_opts o = {.pool = v->pool, .io_queues = 4};
    char why[256] = "";
    int rc = capdrv_nvme_ctrl_open(c->conf, v->g, &o, &v->ctrl, why, sizeof why);
    if (rc < 0)
        return conf_fail(c, __FILE__, __LINE__, "controller open: %s (%s)", capdrv_strerror(rc), why);
    if ((rc = capdrv_nvme_ctrl_info(v->ctrl, &v->info)) < 0 ||
        (rc = capdrv_nvme_ns_info(v->ctrl, 1, &v->ns)) < 0)
        return conf_fail(c, __FILE__, __LINE__, "controller/namespace 1 info: %s",
                         capdrv_strerror(rc));
    if (v->ns.lba_count * v->ns.lba_size < (1u << 20) || v->info.io_queues < 1)
        return conf_fail(c, __FILE__, __LINE__, "namespace 1 below 1 MiB or no I/O queue granted");
    if (capdrv_dma_alloc(c->conf, v->pool, BUF_BYTES, &v->wbuf, &v->wi) < 0 ||
        capdrv_dma_alloc(c->conf, v->pool, BUF_BYTES, &v->rbuf, &v->ri) < 0)
        return conf_fail(c, __FILE__, __LINE__, "cannot allocate I/O buffers");
    return true;
}

static void nv_close(struct nv *v)
{
    capdrv_nvme_ctrl_close(v->ctrl); /* destroys the queue pairs left */
    v->ctrl = NULL;
}

static struct capdrv_nvme_qpair *nv_qpair(struct conf_ctx *c, struct nv *v, bool sgl)
{
    struct capdrv_nvme_qpair_opts o = {.depth = DEPTH, .sgl = sgl};
    struct capdrv_nvme_qpair *qp = NULL;
    int rc = capdrv_nvme_qpair_create(v->ctrl, &o, &qp);
    if (rc < 0)
        conf_fail(c, __FILE__, __LINE__, "queue pair create: %s", capdrv_strerror(rc));
    return qp;
}

/* Completions are counted: a command must complete exactly once. */
struct done {
    unsigned calls;
    struct capdrv_nvme_cpl cpl;
};

static void on_done(void *arg, const struct capdrv_nvme_cpl *cpl)
{
    struct done *d = arg;
    d->calls++;
    d->cpl = *cpl;
}

/* Queue one Read or Write of @bytes at @slba described by @segs, ring,
 * and wait (bounded by the library's command deadlines) for it. */
static int nv_io(struct nv *v, struct capdrv_nvme_qpair *qp, bool write, uint64_t slba,
                 const struct capdrv_dma_seg *segs, unsigned n)
{
    uint32_t bytes = 0;
    for (unsigned k = 0; k < n; k++)
        bytes += segs[k].len;
    struct done d = {0};
    int rc = (write ? capdrv_nvme_write : capdrv_nvme_read)(qp, v->ns.nsid, slba,
                                                           bytes / v->ns.lba_size, segs, n,
                                                           on_done, &d);
    if (rc < 0)
        return rc;
    if ((rc = capdrv_nvme_qpair_ring(qp)) < 0)
        return rc;
    for (int i = 0; i < 1000 && d.calls == 0; i++)
        if ((rc = capdrv_nvme_qpair_wait(qp, 1000000000)) < 0 && rc != -CAPDRV_ETIMEDOUT)
            return rc;
    return d.calls == 1 ? d.cpl.status : -CAPDRV_ETIMEDOUT;
}

/* Bring-up and Identify: what the controller reports is within the bounds
 * Base 2.0 sets, and consistent with its registers and PCI identity. */
static void identify_sanity(struct conf_ctx *c)
{
    struct nv v;
    if (!nv_open(c, &v))
        return;
    uint8_t id[CAPDRV_NVME_IDENTIFY_BYTES];
    struct capdrv_grant_info gi;
    CONF_EQ(c, capdrv_nvme_ctrl_check(v.ctrl), 0); /* CSTS.RDY, no CFS (§3.1.4.6) */
    CONF_EQ(c, capdrv_grant_info(c->conf, (unsigned)capdrv_grant_find(c->conf, "nvme"), &gi), 0);
    CONF_EQ(c, capdrv_nvme_identify(v.ctrl, CAPDRV_NVME_CNS_CTRL, 0, id), 0);
    /* §5.17.2.1: VID and SSVID are the PCI vendor and subsystem vendor ids. */
    CONF_EQ(c, id[0] | id[1] << 8, gi.id.vendor);
    CONF_EQ(c, id[2] | id[3] << 8, gi.id.subsys_vendor);
    /* SN, MN, FR are ASCII strings (§1.5: printable, space padded). */
    for (unsigned i = 4; i < 72; i++)
        if (id[i] < 0x20 || id[i] > 0x7e) {
            conf_fail(c, __FILE__, __LINE__, "Identify byte %u (SN/MN/FR) is %#x, not ASCII", i, id[i]);
            goto out;
        }
    /* VER, when reported, equals the VS register (§5.17.2.1). */
    uint32_t ver = (uint32_t)id[80] | (uint32_t)id[81] << 8 | (uint32_t)id[82] << 16 |
                   (uint32_t)id[83] << 24;
    CONF_CHECK(c, ver == 0 || ver == v.info.vs);
    CONF_CHECK(c, (v.info.vs >> 16) >= 1);
    /* SQES/CQES: required sizes 2^6 and 2^4 for the NVM command set. */
    CONF_EQ(c, id[512] & 0xf, 6);
    CONF_CHECK(c, (id[512] >> 4) >= 6);
    CONF_EQ(c, id[513] & 0xf, 4);
    CONF_CHECK(c, (id[513] >> 4) >= 4);
    /* CAP (§3.1.4.1): MQES >= 1 (queues of >= 2 entries), TO non-zero. */
    CONF_CHECK(c, v.info.mqes >= 2 && v.info.to_ms > 0);
    CONF_CHECK(c, v.info.mdts_bytes == 0 || v.info.mdts_bytes >= v.info.page_size);
    CONF_CHECK(c, v.info.nn >= 1 && v.info.nn < 0xffffffffu);
    /* Active namespaces (§5.17.2.2): increasing, within NN; each
     * namespace's sizes are ordered NUSE <= NCAP <= NSZE (NVM 1.0 §4.1.5.1). */
    uint32_t nsids[1024];
    int n = capdrv_nvme_ns_list(v.ctrl, 0, nsids, 1024);
    CONF_CHECK(c, n >= 1);
    for (int i = 0; i < n && i < 8; i++) {
        struct capdrv_nvme_ns_info ns;
        CONF_CHECK(c, nsids[i] >= 1 && nsids[i] <= v.info.nn);
        CONF_EQ(c, capdrv_nvme_ns_info(v.ctrl, nsids[i], &ns), 0);
        CONF_CHECK(c, ns.lba_count >= 1 && ns.capacity <= ns.lba_count &&
                          ns.utilization <= ns.capacity);
        CONF_CHECK(c, ns.lba_size >= 512 && (ns.lba_size & (ns.lba_size - 1)) == 0);
    }
out:
    nv_close(&v);
}

/* I/O queue pairs (§5.4-5.7): every granted pair can be created with a
 * distinct identifier and used, one more is refused, deleting them frees
 * the identifiers for re-creation. */
static void queue_lifecycle(struct conf_ctx *c)
{
    struct nv v;
    if (!nv_open(c, &v))
        return;
    struct capdrv_nvme_qpair *qp[4] = {NULL};
    unsigned n = v.info.io_queues < 4 ? v.info.io_queues : 4;
    for (int round = 0; round < 2; round++) {
        unsigned seen = 0;
        for (unsigned i = 0; i < n; i++) {
            struct capdrv_nvme_qpair_info qi;
            if (!(qp[i] = nv_qpair(c, &v, false)))
                goto out;
            CONF_EQ(c, capdrv_nvme_qpair_info(qp[i], &qi), 0);
            CONF_CHECK(c, qi.qid >= 1 && qi.qid <= v.info.io_queues && !(seen & (1u << qi.qid)));
            seen |= 1u << qi.qid;
            memset(v.wi.cpu, (int)(0x30 + i + round), 4096);
            struct capdrv_dma_seg ws = {capdrv_dma_ref(&v.wi, 0), 4096};
            struct capdrv_dma_seg rs = {capdrv_dma_ref(&v.ri, 0), 4096};
            CONF_EQ(c, nv_io(&v, qp[i], true, 64 + 8 * i, &ws, 1), 0);
            memset(v.ri.cpu, 0, 4096);
            CONF_EQ(c, nv_io(&v, qp[i], false, 64 + 8 * i, &rs, 1), 0);
            CONF_EQ(c, ((uint8_t *)v.ri.cpu)[4095], 0x30 + i + round);
        }
        if (n == v.info.io_queues) {
            struct capdrv_nvme_qpair *extra = NULL;
            CONF_EQ(c, capdrv_nvme_qpair_create(v.ctrl, NULL, &extra), -CAPDRV_ENOSPC);
        }
        for (unsigned i = n; i-- > 0;) {
            struct capdrv_nvme_qpair_info qi;
            CONF_EQ(c, capdrv_nvme_qpair_info(qp[i], &qi), 0);
            int rc = capdrv_nvme_qpair_destroy(qp[i]);
            qp[i] = NULL;
            if (rc != 0) {
                conf_fail(c, __FILE__, __LINE__, "round %d: destroy queue pair %u: %s", round,
                          qi.qid, capdrv_strerror(rc));
                goto out;
            }
        }
    }
out:
    for (unsigned i = 0; i < 4; i++)
        capdrv_nvme_qpair_destroy(qp[i]);
    nv_close(&v);
}

/* Transfer shapes: up to 3 segments of the buffers (offset, length). */
struct shape {
    uint64_t slba;
    unsigned n;
    struct {
        uint32_t off, len;
    } s[3];
    bool sgl_only; /* segment boundaries PRPs cannot express (§4.1.1) */
};

static const struct shape shapes[] = {
    {0, 1, {{0, 512}}, false},                                 /* one block */
    {1, 1, {{0, 4096}}, false},                                /* one page: PRP1 */
    {9, 1, {{512, 4096}}, false},                              /* PRP1 offset + PRP2 page */
    {33, 1, {{2048, 8192}}, false},                            /* 3 pages: PRP list */
    {100, 1, {{0, 65536}}, false},                             /* 16 pages: PRP list */
    {300, 3, {{4096, 4096}, {16384, 4096}, {32768, 4096}}, false}, /* page-aligned pieces */
    {400, 3, {{1024, 3072}, {8192, 8192}, {20480, 1024}}, false},  /* ends/starts on pages */
    {700, 1, {{0, 0}}, false},                                 /* the largest transfer */
    {900, 3, {{1028, 1536}, {5000, 1024}, {9000, 1536}}, true}, /* unaligned pieces: SGL */
};

/* Every shape writes a distinct pattern and reads it back exactly, with
 * the bytes around the read untouched. */
static void data_shapes(struct conf_ctx *c, bool sgl)
{
    struct nv v;
    if (!nv_open(c, &v))
        return;
    if (sgl && !v.info.sgl) {
        conf_skip(c, "the controller offers no SGLs for NVM commands (SGLS %#x)", v.info.sgls);
        nv_close(&v);
        return;
    }
    struct capdrv_nvme_qpair *qp = nv_qpair(c, &v, sgl);
    struct capdrv_nvme_qpair_info qi;
    if (!qp)
        goto out;
    CONF_EQ(c, capdrv_nvme_qpair_info(qp, &qi), 0);
    CONF_EQ(c, qi.sgl, sgl);
    uint8_t *w = v.wi.cpu, *r = v.ri.cpu;
    uint32_t bs = v.ns.lba_size;
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        struct shape sh = shapes[k];
        if (sh.s[0].len == 0) /* the largest transfer the queue pair takes, up to 256 KiB */
            sh.s[0].len = qi.max_xfer < 262144 ? qi.max_xfer : 262144;
        uint32_t bytes = 0;
        struct capdrv_dma_seg ws[3], rs[3];
        for (unsigned i = 0; i < sh.n; i++) {
            bytes += sh.s[i].len;
            ws[i] = (struct capdrv_dma_seg){capdrv_dma_ref(&v.wi, sh.s[i].off), sh.s[i].len};
            rs[i] = (struct capdrv_dma_seg){capdrv_dma_ref(&v.ri, sh.s[i].off), sh.s[i].len};
        }
        if (bytes % bs)
            continue; /* a shape below this namespace's block size */
        if (sh.slba + bytes / bs > v.ns.lba_count) {
            conf_fail(c, __FILE__, __LINE__, "shape %zu does not fit namespace 1", k);
            goto out;
        }
        if (sh.sgl_only && !sgl) {
            /* PRPs cannot describe it: refused before anything is queued. */
            struct done d = {0};
            CONF_EQ(c, capdrv_nvme_write(qp, v.ns.nsid, sh.slba, bytes / bs, ws, sh.n, on_done, &d),
                    -CAPDRV_EINVAL);
            continue;
        }
        for (unsigned i = 0; i < sh.n; i++)
            for (uint32_t b = 0; b < sh.s[i].len; b++)
                w[sh.s[i].off + b] = (uint8_t)(b * 29u + k * 53u + i * 7u + (b >> 9));
        memset(r, POISON, BUF_BYTES);
        int rc = nv_io(&v, qp, true, sh.slba, ws, sh.n);
        if (rc == 0)
            rc = nv_io(&v, qp, false, sh.slba, rs, sh.n);
        if (rc != 0) {
            conf_fail(c, __FILE__, __LINE__, "shape %zu (%u bytes in %u segments): %s (%s)", k, bytes,
                      sh.n, capdrv_strerror(rc), capdrv_nvme_qpair_why(qp));
            goto out;
        }
        /* Inside a segment: the data; anywhere else: untouched poison. */
        for (uint32_t i = 0; i < BUF_BYTES; i++) {
            bool in = false;
            for (unsigned j = 0; j < sh.n; j++)
                in |= i >= sh.s[j].off && i - sh.s[j].off < sh.s[j].len;
            if (in ? r[i] != w[i] : r[i] != POISON) {
                conf_fail(c, __FILE__, __LINE__, "shape %zu: byte %u of the read buffer is %#x, want %#x",
                          k, i, r[i], in ? w[i] : POISON);
                goto out;
            }
        }
    }
    if (c->plat->oracle_violations)
        CONF_EQ(c, c->plat->oracle_violations(c), 0);
out:
    capdrv_nvme_qpair_destroy(qp);
    nv_close(&v);
}

static void data_prp(struct conf_ctx *c) { data_shapes(c, false); }
static void data_sgl(struct conf_ctx *c) { data_shapes(c, true); }

/* A reference the shim must refuse (@bad), placed first in a Write
 * (PRP1 / the first SGL descriptor) and then inside a PRP list (the second
 * page of a three-page Read): each time the doorbell is refused with
 * -CAPDRV_EFAULT, the device sees nothing (no DMA oracle violation, the
 * medium keeps its data, @victim keeps its poison), the command completes
 * exactly once at the reset that recovers the queue, and the queue works
 * again afterwards. @victim: CPU view of the memory @bad names, or NULL. */
static void refused_at_doorbell(struct conf_ctx *c, struct nv *v, uint64_t bad, uint8_t *victim)
{
    struct capdrv_nvme_qpair *qp = nv_qpair(c, v, false);
    if (!qp)
        return;
    long viol = c->plat->oracle_violations ? c->plat->oracle_violations(c) : 0;
    uint8_t *w = v->wi.cpu, *r = v->ri.cpu;
    uint32_t bs = v->ns.lba_size, nlb = 12288 / bs;
    /* Known contents at LBA 128.. (three pages). */
    memset(w, 0xa5, 12288);
    struct capdrv_dma_seg good = {capdrv_dma_ref(&v->wi, 0), 12288};
    CONF_EQ(c, nv_io(v, qp, true, 128, &good, 1), 0);
    for (int attempt = 0; attempt < 2; attempt++) {
        struct done d = {0};
        int rc;
        if (victim)
            memset(victim, POISON, 4096);
        if (attempt == 0) {
            struct capdrv_dma_seg s = {bad, 4096};
            rc = capdrv_nvme_write(qp, v->ns.nsid, 128, 4096 / bs, &s, 1, on_done, &d);
        } else {
            struct capdrv_dma_seg s[3] = {{capdrv_dma_ref(&v->ri, 0), 4096}, {bad, 4096},
                                          {capdrv_dma_ref(&v->ri, 8192), 4096}};
            rc = capdrv_nvme_read(qp, v->ns.nsid, 128, nlb, s, 3, on_done, &d);
        }
        CONF_EQ(c, rc, 0); /* the library cannot know; the shim decides */
        CONF_EQ(c, capdrv_nvme_qpair_ring(qp), -CAPDRV_EFAULT);
        struct capdrv_nvme_qpair_info qi;
        CONF_EQ(c, capdrv_nvme_qpair_info(qp, &qi), 0);
        CONF_CHECK(c, qi.broken);
        CONF_EQ(c, d.calls, 0);
        if (c->plat->oracle_violations)
            CONF_EQ(c, c->plat->oracle_violations(c), viol);
        if (victim)
            for (unsigned i = 0; i < 4096; i++)
                CONF_EQ(c, victim[i], POISON);
        CONF_EQ(c, capdrv_nvme_ctrl_reset(v->ctrl), 0);
        CONF_EQ(c, d.calls, 1);
        CONF_CHECK(c, d.cpl.status < 0);
        /* The queue works again and the medium was never written. */
        memset(r, 0, 12288);
        struct capdrv_dma_seg rs = {capdrv_dma_ref(&v->ri, 0), 12288};
        CONF_EQ(c, nv_io(v, qp, false, 128, &rs, 1), 0);
        for (unsigned i = 0; i < 12288; i++)
            CONF_EQ(c, r[i], 0xa5);
    }
    capdrv_nvme_qpair_destroy(qp);
}

/* Brokered: a token of another grant's pool (the virtio-blk function's
 * "vblk") names memory this controller may not reach. */
static void foreign_token(struct conf_ctx *c)
{
    struct nv v;
    if (!nv_open(c, &v))
        return;
    capdrv_cap_t g = conf_open(c, c->conf, "vblk"), pool, buf;
    struct capdrv_dmabuf_info bi;
    if (g != CAPDRV_CAP_INVALID) {
        if (capdrv_pool_open(c->conf, g, &pool) < 0 ||
            capdrv_dma_alloc(c->conf, pool, 4096, &buf, &bi) < 0)
            conf_fail(c, __FILE__, __LINE__, "cannot allocate from the pool of \"vblk\"");
        else
            refused_at_doorbell(c, &v, capdrv_dma_ref(&bi, 0), bi.cpu);
    }
    nv_close(&v);
}

/* A buffer released before the doorbell: its reference is dead (a token
 * of a freed ledger entry, an IOVA no longer mapped). */
static void freed_buffer(struct conf_ctx *c)
{
    struct nv v;
    if (!nv_open(c, &v))
        return;
    capdrv_cap_t buf;
    struct capdrv_dmabuf_info bi;
    if (capdrv_dma_alloc(c->conf, v.pool, 4096, &buf, &bi) < 0 ||
        capdrv_cap_release(c->conf, buf) < 0)
        conf_fail(c, __FILE__, __LINE__, "cannot allocate and release a buffer");
    else
        refused_at_doorbell(c, &v, capdrv_dma_ref(&bi, 0), NULL);
    nv_close(&v);
}

/* Direct: an IOVA just past a live buffer (outside every ledger range). */
static void out_of_ledger_iova(struct conf_ctx *c)
{
    struct nv v;
    if (!nv_open(c, &v))
        return;
    refused_at_doorbell(c, &v, capdrv_dma_ref(&v.wi, 0) + BUF_BYTES, NULL);
    nv_close(&v);
}

/* Reset (§3.7.2) completes every outstanding command exactly once: ones
 * queued but never rung (with an error), and - where the platform can make
 * the controller hold commands - ones the controller took and had not
 * completed (with an error, or with the controller's own completion if it
 * finished them while stopping); none ever again afterwards. */
static void reset_outstanding(struct conf_ctx *c)
{
    struct nv v;
    if (!nv_open(c, &v))
        return;
    struct capdrv_nvme_qpair *qp = nv_qpair(c, &v, false);
    struct capdrv_nvme_qpair_info qi;
    if (!qp)
        goto out;
    CONF_EQ(c, capdrv_nvme_qpair_info(qp, &qi), 0);
    uint32_t nlb = 4096 / v.ns.lba_size;
    struct done held[3] = {{0}}, unrung[2] = {{0}};
    struct capdrv_dma_seg s[5];
    for (unsigned i = 0; i < 5; i++)
        s[i] = (struct capdrv_dma_seg){capdrv_dma_ref(&v.ri, 4096 * i), 4096};
    bool stall = c->plat->nvme_stall && c->plat->nvme_stall(c, "nvme", qi.qid, true) == 0;
    if (stall) {
        for (unsigned i = 0; i < 3; i++)
            CONF_EQ(c, capdrv_nvme_read(qp, v.ns.nsid, 8 * i, nlb, &s[i], 1, on_done, &held[i]), 0);
        CONF_EQ(c, capdrv_nvme_qpair_ring(qp), 3);
        /* Give the device time to act (real time on QEMU), or an empty
         * poll would prove nothing: it still holds them. */
        if (c->plat->advance)
            c->plat->advance(c, 200000000ull);
        CONF_EQ(c, capdrv_nvme_qpair_poll(qp, 0), 0); /* the controller holds them */
    }
    for (unsigned i = 0; i < 2; i++)
        CONF_EQ(c, capdrv_nvme_read(qp, v.ns.nsid, 8 * i, nlb, &s[3 + i], 1, on_done, &unrung[i]), 0);
    CONF_EQ(c, capdrv_nvme_ctrl_reset(v.ctrl), 0);
    if (stall)
        CONF_EQ(c, c->plat->nvme_stall(c, "nvme", qi.qid, false), 0);
    /* §3.7.2: a command the controller held either completes before the
     * controller stops, and the library delivers that real completion, or
     * is aborted with the queues, and the driver completes it with an
     * error. Exactly once either way. Where the platform's hold cannot
     * outlast the reset (QEMU drains the drive while resetting: see
     * nvme_stall_may_finish), a success is legitimate; elsewhere (the sim
     * holds them for good) it would be a made-up completion. */
    for (unsigned i = 0; i < 3 && stall; i++) {
        CONF_EQ(c, held[i].calls, 1);
        if (!c->plat->nvme_stall_may_finish)
            CONF_CHECK(c, held[i].cpl.status < 0);
    }
    for (unsigned i = 0; i < 2; i++) {
        CONF_EQ(c, unrung[i].calls, 1);
        CONF_CHECK(c, unrung[i].cpl.status < 0);
    }
    /* Nothing completes a second time, even with time passing. */
    if (c->plat->advance)
        c->plat->advance(c, 2000000000ull);
    CONF_EQ(c, capdrv_nvme_qpair_poll(qp, 0), 0);
    for (unsigned i = 0; i < 3; i++)
        CONF_EQ(c, held[i].calls, stall ? 1 : 0);
    /* The re-created queue pair works. */
    memset(v.wi.cpu, 0x5c, 4096);
    CONF_EQ(c, nv_io(&v, qp, true, 16, &s[0], 1), 0);
    struct capdrv_nvme_ctrl_info ci;
    CONF_EQ(c, capdrv_nvme_ctrl_info(v.ctrl, &ci), 0);
    CONF_EQ(c, ci.resets, 1);
    if (!stall)
        conf_skip(c, "platform %s cannot make the controller hold commands; checked only commands "
                     "never rung", c->plat->name);
out:
    capdrv_nvme_qpair_destroy(qp);
    nv_close(&v);
}

const struct conf_case conf_cases_nvme[] = {
    {"nvme.identify-sanity",
     "NVMe Base 2.0 §3.5.1, §5.17.2: bring-up; Identify fields bounded and consistent with VS, CAP, PCI ids",
     CONF_BOTH_LANES, identify_sanity},
    {"nvme.io-queue-lifecycle",
     "NVMe Base 2.0 §5.4-5.7: every granted I/O queue pair created, used, refused beyond, deleted, re-created",
     CONF_BOTH_LANES, queue_lifecycle},
    {"nvme.data-prp",
     "NVMe Base 2.0 §4.1.1, NVM 1.0 §3.3: reads return what was written, PRP1 offsets, PRP lists, multi-segment, MDTS",
     CONF_BOTH_LANES, data_prp},
    {"nvme.data-sgl",
     "NVMe Base 2.0 §4.1.2: the same with SGL data blocks and segments, unaligned pieces (skips without SGLS)",
     CONF_BOTH_LANES, data_sgl},
    {"nvme.foreign-token-refused",
     "DESIGN: a reference from another grant's pool (PRP1, PRP list) is refused at the SQ doorbell; nothing reaches the device",
     CONF_BOTH_LANES, foreign_token},
    {"nvme.freed-buffer-refused",
     "DESIGN: a reference to a released buffer is refused at the SQ doorbell; nothing reaches the device",
     CONF_BOTH_LANES, freed_buffer},
    {"nvme.out-of-ledger-iova-refused",
     "DESIGN: validated direct - an IOVA outside the ledger is refused at the SQ doorbell",
     CONF_LANE_BIT(CAPDRV_LANE_DIRECT), out_of_ledger_iova},
    {"nvme.reset-completes-outstanding",
     "NVMe Base 2.0 §3.7.2: reset completes every outstanding command once, with an error; queues work after",
     CONF_BOTH_LANES, reset_outstanding},
};
const size_t conf_cases_nvme_n = sizeof conf_cases_nvme / sizeof conf_cases_nvme[0];
