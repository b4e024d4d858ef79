/* Fuzz target: the kernel shim's NVMe profile (kernel-shim/profiles/nvme_*.c)
 * against a hostile PROVIDER. A sim machine with one NVMe controller (small
 * queues, one or two 64-block namespaces) and one dmatest function is
 * granted to provider "fz" (the controller as nvme-controller, the dmatest
 * as dma-capable: the source of "another grant's" references). The harness
 * is a minimal driver of its own: it brings the controller up through the
 * shim (AQA/ASQ/ACQ, CC.EN, Create I/O CQ 1 + SQ 1), then runs the input
 * as a script of provider operations:
 *
 *   raw 64-byte SQEs in the admin or an I/O SQ, whose data pointers are
 *   chosen among valid references of live buffers (with offsets), stale
 *   references of released buffers, the other grant's references, PRP
 *   list / SGL segment references and raw 64-bit values; PRP list entries
 *   and SGL descriptors; SQ tail and CQ head doorbells with the driver's
 *   value or a raw one; register writes and reads (CC, AQA, ASQ, ACQ,
 *   INTMS/INTMC, NSSR, CAP, raw offsets and widths); buffer release and
 *   re-allocation; controller disable / re-enable; function reset;
 *   simulated time; scribbles on provider memory after a doorbell.
 *
 * Contract checked (docs/SECURITY.md "NVMe SQEs at a tail doorbell"):
 * - every provider call returns 0 or a negative CAPDRV_E code (doorbells,
 *   register accesses, release, reset) and nothing crashes (ASan/UBSan in
 *   the libFuzzer build);
 * - after every operation, capdrv_sim_oracle_violations() == 0: whatever
 *   the shim let through, the device never touched memory outside the live
 *   ledger entries of its grant - the property that matters. One case is
 *   contained instead (direct lane only, docs/SECURITY.md): bytes the shim
 *   checked at a doorbell changed before the device read them - the
 *   driver wrote memory while published entries were still unfetched (the
 *   sim holds them while their CQ is full), or a command's data landed
 *   while later entries were unfetched (capdrv_sim_nvme_stats()
 *   writes_ahead). The IOMMU refuses what follows, as the sim's oracle
 *   does; such refusals are counted, not failed, until the backlog drains.
 *   Anything refused without such a change is a validator gap and fails;
 * - after provider death and shim destroy: no ledger entry, no DMA region
 *   or mapping left with the platform, no environment allocation left.
 *
 * Input (reads past the end give zeros):
 *   byte 0  mode: bit 0 IOMMU (direct lane; else brokered), bit 1 second
 *           namespace, bit 2 LBA size 4 KiB, 16 blocks (else 512 bytes,
 *           64 blocks), bit 3 SGLs
 *           supported, bit 4 skip the I/O queue pair at bring-up, bit 5
 *           ready delay (CSTS.RDY follows CC 1 ms later, simulated), bits
 *           6-7 doorbell stride (CAP.DSTRD 0..2)
 *   then operations, one op byte each (low 4 bits select, see enum op)
 *   with the parameters described at each op_* function. */
#include "fuzz_common.h"

#include <string.h>

#include <libfdt.h>

#include <capdrv/error.h>
#include <capdrv/shim.h>
#include <capdrv/sim.h>
#include <capdrv/sys.h>

/* Base 2.0 §3.1.4 registers. */
#define R_CAP 0x00u
#define R_VS 0x08u
#define R_INTMS 0x0cu
#define R_INTMC 0x10u
#define R_CC 0x14u
#define R_CSTS 0x1cu
#define R_NSSR 0x20u
#define R_AQA 0x24u
#define R_ASQ 0x28u
#define R_ACQ 0x30u
#define R_DB 0x1000u
#define WINDOW_LEN 0x2000u
/* CC: EN, IOSQES 6 (64 bytes), IOCQES 4 (16 bytes), MPS 0, CSS 000b. */
#define CC_ON (1u | 6u << 16 | 4u << 20)
#define CC_SHN_NORMAL (1u << 14)

#define PAGE 4096u
#define QD 4u          /* entries of every queue the driver creates (small: wraps) */
#define MAX_OPS 512u   /* bounds one execution (< 5 ms) */
#define POLLS 8u       /* CSTS polls per wait, 1 ms of simulated time apart */
/* Allocations and function resets cost the most (the shim zeroes and
 * scrubs every byte); a few per input reach every state they lead to. */
#define MAX_ALLOCS 4u
#define MAX_RESETS 2u

/* Driver memory. Buffer 0 holds the queues: SQ q at q * 2 pages, CQ q at
 * q * 2 + 1 pages (q = 0 admin, 1..2 I/O). The other grant's buffer is
 * slot B_OTHER (its pool, same provider). */
enum { B_QUEUES, B_DATA, B_LIST, B_SMALL, B_OTHER, N_BUF };
static const size_t buf_size[N_BUF] = {6 * PAGE, 8 * PAGE, 2 * PAGE, PAGE, PAGE};
#define N_QUEUES 3u
#define MAX_STALE 8u

/* Operations (low 4 bits of the op byte). */
enum op {
    OP_SQE = 0,      /* raw SQE into an SQ slot */
    OP_GOOD_CMD,     /* a well-formed command (identify, read/write with PRP list, ...) */
    OP_LIST,         /* PRP list entries / SGL descriptors into the list buffer */
    OP_SQ_DB,        /* SQ tail doorbell */
    OP_CQ_DB,        /* reap completions, CQ head doorbell */
    OP_REG_W,        /* register write */
    OP_REG_R,        /* register read */
    OP_RELEASE,      /* release a buffer */
    OP_ALLOC,        /* allocate a released buffer slot again */
    OP_DISABLE,      /* CC.EN 1->0 (or shutdown), poll CSTS */
    OP_ENABLE,       /* the driver's bring-up again */
    OP_CREATE_IO,    /* Create I/O CQ + SQ (well-formed) */
    OP_RESET,        /* capdrv_grant_reset (FLR) */
    OP_TIME,         /* simulated time */
    OP_SCRIBBLE,     /* raw bytes into a live buffer */
    OP_RELEASE_GRANT /* release the NVMe grant (and everything derived) */
};

struct queue {
    bool live;        /* the driver believes the controller has it */
    uint16_t tail;    /* SQ tail the shim accepted */
    uint16_t pending; /* SQEs written after it */
    uint16_t head;    /* CQ head */
    uint8_t phase;
};

struct drv {
    struct capdrv_sim *sim;
    unsigned fn;
    capdrv_sys *sys;
    capdrv_cap_t grant, mmio, pool, other_grant, other_pool;
    bool grant_live;
    capdrv_cap_t buf[N_BUF];
    struct capdrv_dmabuf_info info[N_BUF];
    bool live[N_BUF];
    uint64_t stale[MAX_STALE]; /* references of released buffers */
    unsigned n_stale;
    unsigned stride;
    uint16_t cid;
    struct queue q[N_QUEUES];
    unsigned allocs, resets; /* budget used (MAX_ALLOCS, MAX_RESETS) */
    bool direct;             /* IOMMU: the direct lane */
    bool changed_after_check; /* see the file comment; cleared at backlog 0 */
    unsigned long contained;  /* refusals after such a change */
};

/* ---- the fixed manifest, built once ------------------------------------- */

static uint64_t manifest_blob[512];
static size_t manifest_len;

#define FDT_OK(call) FUZZ_CHECK((call) == 0)

static void build_manifest(void)
{
    void *fdt = manifest_blob;
    FDT_OK(fdt_create(fdt, (int)sizeof manifest_blob));
    FDT_OK(fdt_finish_reservemap(fdt));
    FDT_OK(fdt_begin_node(fdt, ""));
    FDT_OK(fdt_property_string(fdt, "compatible", "capdrv,manifest-v1"));
    FDT_OK(fdt_begin_node(fdt, "grants"));

    FDT_OK(fdt_begin_node(fdt, "nvme"));
    FDT_OK(fdt_property_string(fdt, "provider", "fz"));
    FDT_OK(fdt_property_string(fdt, "class", "nvme-controller"));
    fdt32_t id[2] = {cpu_to_fdt32(0x1b36), cpu_to_fdt32(0x0010)};
    FDT_OK(fdt_property(fdt, "match-id", id, sizeof id));
    FDT_OK(fdt_property_u64(fdt, "pool-quota", 0x40000));
    FDT_OK(fdt_property_u32(fdt, "pool-buffers", 8));
    FDT_OK(fdt_property_u32(fdt, "interrupts", 2));
    FDT_OK(fdt_begin_node(fdt, "window-bar0"));
    FDT_OK(fdt_property_u32(fdt, "bar", 0));
    FDT_OK(fdt_property_u64(fdt, "offset", 0));
    FDT_OK(fdt_property_u64(fdt, "length", WINDOW_LEN));
    FDT_OK(fdt_end_node(fdt));
    FDT_OK(fdt_end_node(fdt)); /* nvme */

    FDT_OK(fdt_begin_node(fdt, "other"));
    FDT_OK(fdt_property_string(fdt, "provider", "fz"));
    FDT_OK(fdt_property_string(fdt, "class", "dma-capable"));
    FDT_OK(fdt_property_string(fdt, "match-address", "0000:00:03.0"));
    FDT_OK(fdt_property_u64(fdt, "pool-quota", 0x4000));
    FDT_OK(fdt_property_u32(fdt, "pool-buffers", 2));
    FDT_OK(fdt_property_u32(fdt, "interrupts", 1));
    FDT_OK(fdt_end_node(fdt)); /* other */

    FDT_OK(fdt_end_node(fdt)); /* grants */
    FDT_OK(fdt_end_node(fdt)); /* / */
    FDT_OK(fdt_finish(fdt));
    manifest_len = fdt_totalsize(fdt);
}

/* ---- checks --------------------------------------------------------------- */

/* A negative CAPDRV_E code (include/capdrv/error.h), nothing else. */
static bool is_err(int rc)
{
    switch (-rc) {
    case CAPDRV_EPERM: case CAPDRV_ENOENT: case CAPDRV_EIO: case CAPDRV_EBADF:
    case CAPDRV_ENOMEM: case CAPDRV_EACCES: case CAPDRV_EFAULT: case CAPDRV_EBUSY:
    case CAPDRV_EEXIST: case CAPDRV_ENODEV: case CAPDRV_EINVAL: case CAPDRV_ENOSPC:
    case CAPDRV_ERANGE: case CAPDRV_ENOSYS: case CAPDRV_EPROTO: case CAPDRV_EOVERFLOW:
    case CAPDRV_ENOTSUP: case CAPDRV_ETIMEDOUT: case CAPDRV_ESTALE: case CAPDRV_ECANCELED:
        return true;
    default:
        return false;
    }
}

#define CHECK_RC(rc, what) FUZZ_CHECK_MSG((rc) == 0 || is_err(rc), what, rc)

static void check_oracle(struct drv *d)
{
    unsigned long v = capdrv_sim_oracle_violations(d->sim);
    if (v != 0 && d->direct && d->changed_after_check) {
        if (fuzz_verbose())
            fprintf(stderr, "fuzz_nvme_sqe: %lu refused after a post-check change\n", v);
        d->contained += v;
        capdrv_sim_oracle_reset(d->sim);
        return;
    }
    if (v != 0) {
        struct capdrv_sim_violation last;
        if (capdrv_sim_oracle_last(d->sim, &last) == 0)
            fprintf(stderr, "fuzz_nvme_sqe: device %s 0x%llx+%llu outside the ledger\n",
                    last.is_write ? "wrote" : "read", (unsigned long long)last.devaddr,
                    (unsigned long long)last.len);
    }
    FUZZ_CHECK_MSG(v == 0, "oracle violations", v);
}

/* ---- provider helpers ----------------------------------------------------- */

static int reg_wr(struct drv *d, uint64_t off, unsigned width, uint64_t v)
{
    int rc = capdrv_mmio_write(d->sys, d->mmio, off, width, v);
    CHECK_RC(rc, "mmio_write rc");
    if (rc != 0 && fuzz_verbose())
        fprintf(stderr, "fuzz_nvme_sqe: write 0x%llx/%u = 0x%llx: rc %d\n",
                (unsigned long long)off, width, (unsigned long long)v, rc);
    return rc;
}

static int reg_rd(struct drv *d, uint64_t off, unsigned width, uint64_t *v)
{
    *v = 0;
    int rc = capdrv_mmio_read(d->sys, d->mmio, off, width, v);
    CHECK_RC(rc, "mmio_read rc");
    return rc;
}

static uint32_t csts(struct drv *d)
{
    uint64_t v = 0;
    return reg_rd(d, R_CSTS, 4, &v) == 0 ? (uint32_t)v : 0xffffffffu;
}

static uint64_t sq_off(unsigned q)
{
    return (uint64_t)q * 2u * PAGE;
}

static uint64_t cq_off(unsigned q)
{
    return sq_off(q) + PAGE;
}

static uint8_t *qmem(struct drv *d, uint64_t off)
{
    return d->live[B_QUEUES] ? (uint8_t *)d->info[B_QUEUES].cpu + off : NULL;
}

static uint64_t ref(const struct drv *d, unsigned b, uint64_t off)
{
    return capdrv_dma_ref(&d->info[b], (size_t)off);
}

static void release_buf(struct drv *d, unsigned b)
{
    if (!d->live[b])
        return;
    if (d->n_stale < MAX_STALE)
        d->stale[d->n_stale++] = d->info[b].ref_base;
    int rc = capdrv_cap_release(d->sys, d->buf[b]);
    /* A buffer derived from a released grant is already gone: stale. */
    FUZZ_CHECK_MSG(rc == 0 || rc == -CAPDRV_ESTALE, "release rc", rc);
    d->live[b] = false;
}

static int alloc_buf(struct drv *d, unsigned b)
{
    capdrv_cap_t pool = b == B_OTHER ? d->other_pool : d->pool;
    int rc = capdrv_dma_alloc(d->sys, pool, buf_size[b], &d->buf[b], &d->info[b]);
    CHECK_RC(rc, "dma_alloc rc");
    d->live[b] = rc == 0;
    return rc;
}

/* Wait (bounded) for CSTS.RDY == @rdy; simulated time moves between polls. */
static bool wait_rdy(struct drv *d, uint32_t rdy)
{
    for (unsigned n = 0; n < POLLS; n++) {
        uint32_t s = csts(d);
        if (s != 0xffffffffu && (s & 1u) == rdy)
            return true;
        capdrv_sim_advance(d->sim, 1000000);
    }
    return false;
}

/* Put @sqe (64 bytes) in the next free slot of SQ @q (not rung). */
static bool sq_put(struct drv *d, unsigned q, const uint8_t *sqe)
{
    uint8_t *sq = qmem(d, sq_off(q));
    if (!sq)
        return false;
    struct queue *Q = &d->q[q];
    unsigned slot = (Q->tail + Q->pending) % QD;
    memcpy(sq + 64u * slot, sqe, 64);
    if (Q->pending < QD - 1u)
        Q->pending++;
    return true;
}

static int sq_ring(struct drv *d, unsigned q)
{
    struct queue *Q = &d->q[q];
    uint16_t tail = (uint16_t)((Q->tail + Q->pending) % QD);
    int rc = reg_wr(d, R_DB + 2u * q * d->stride, 4, tail);
    if (rc == 0)
        Q->tail = tail;
    Q->pending = 0;
    return rc;
}

/* Reap every completion of CQ @q the phase tag shows; ring the head. Returns
 * the status of the last CQE taken (-1: none). */
static int cq_reap(struct drv *d, unsigned q)
{
    struct queue *Q = &d->q[q];
    const uint8_t *cq = qmem(d, cq_off(q));
    int status = -1;
    unsigned n = 0;
    while (cq && n < QD) {
        const uint8_t *e = cq + 16u * Q->head;
        uint16_t sf = (uint16_t)fuzz_get_le(e + 14, 2);
        if ((sf & 1u) != Q->phase)
            break;
        status = (sf >> 1) & 0x7ff;
        if (fuzz_verbose())
            fprintf(stderr, "fuzz_nvme_sqe: CQ %u: CID %u status 0x%x\n", q,
                    (unsigned)fuzz_get_le(e + 12, 2), (unsigned)status);
        Q->head = (uint16_t)((Q->head + 1u) % QD);
        if (Q->head == 0)
            Q->phase ^= 1u;
        n++;
    }
    if (n)
        (void)reg_wr(d, R_DB + (2u * q + 1u) * d->stride, 4, Q->head);
    return status;
}

static void sqe_base(struct drv *d, uint8_t *s, uint8_t opc, uint32_t nsid)
{
    memset(s, 0, 64);
    s[0] = opc;
    fuzz_put_le(s + 2, 2, ++d->cid);
    fuzz_put_le(s + 4, 4, nsid);
}

/* Submit one admin/IO command and reap; status or -1 (no completion) or
 * -2 (doorbell refused). */
static int cmd(struct drv *d, unsigned q, const uint8_t *sqe)
{
    if (!sq_put(d, q, sqe))
        return -2;
    if (sq_ring(d, q) < 0)
        return -2;
    return cq_reap(d, q);
}

/* The driver's bring-up: CC.EN 0 and RDY 0, the admin queue, CC.EN 1.
 * Returns true once the controller is ready. */
static bool drv_enable(struct drv *d)
{
    if (reg_wr(d, R_CC, 4, 0) < 0 || !wait_rdy(d, 0))
        return false;
    memset(d->q, 0, sizeof d->q);
    if (!d->live[B_QUEUES])
        return false;
    memset(d->info[B_QUEUES].cpu, 0, d->info[B_QUEUES].size);
    if (reg_wr(d, R_AQA, 4, (QD - 1u) << 16 | (QD - 1u)) < 0 ||
        reg_wr(d, R_ASQ, 8, ref(d, B_QUEUES, sq_off(0))) < 0 ||
        reg_wr(d, R_ACQ, 4, (uint32_t)ref(d, B_QUEUES, cq_off(0))) < 0 ||
        reg_wr(d, R_ACQ + 4, 4, ref(d, B_QUEUES, cq_off(0)) >> 32) < 0 ||
        reg_wr(d, R_CC, 4, CC_ON) < 0 || !wait_rdy(d, 1))
        return false;
    for (unsigned q = 0; q < N_QUEUES; q++)
        d->q[q].phase = 1;
    d->q[0].live = true;
    return true;
}

/* Create I/O CQ and SQ @q (1..2), QD entries, PC = 1, no interrupts. */
static bool drv_create_io(struct drv *d, unsigned q)
{
    if (!d->live[B_QUEUES])
        return false;
    uint8_t s[64];
    memset(qmem(d, cq_off(q)), 0, PAGE);
    d->q[q] = (struct queue){.phase = 1};
    sqe_base(d, s, 0x05, 0);
    fuzz_put_le(s + 24, 8, ref(d, B_QUEUES, cq_off(q)));
    fuzz_put_le(s + 40, 4, (QD - 1u) << 16 | q);
    fuzz_put_le(s + 44, 4, 1u);
    if (cmd(d, 0, s) != 0)
        return false;
    sqe_base(d, s, 0x01, 0);
    fuzz_put_le(s + 24, 8, ref(d, B_QUEUES, sq_off(q)));
    fuzz_put_le(s + 40, 4, (QD - 1u) << 16 | q);
    fuzz_put_le(s + 44, 4, (uint32_t)q << 16 | 1u);
    if (cmd(d, 0, s) != 0)
        return false;
    d->q[q].live = true;
    return true;
}

/* ---- operand choices ------------------------------------------------------ */

static unsigned any_buf(uint8_t b)
{
    return b % N_BUF;
}

/* A data pointer / reference chosen by one selector byte (bits 7:5 kind,
 * bits 2:0 buffer), with further bytes for offsets or raw values. */
static uint64_t pick_ref(struct drv *d, struct fuzz_rd *r)
{
    uint8_t s = fuzz_rd8(r);
    unsigned b = any_buf(s & 7u);
    switch (s >> 5) {
    case 0:
        return 0;
    case 1: /* valid (if live) reference, dword offset */
        return ref(d, b, (uint64_t)fuzz_rd8(r) * 4u);
    case 2: /* page-aligned reference inside (or just past) the buffer */
        return ref(d, b, (uint64_t)(fuzz_rd8(r) % 17u) * PAGE);
    case 3: /* stale: a released buffer */
        return d->n_stale ? d->stale[s % d->n_stale] + (uint64_t)fuzz_rd8(r) * 64u
                          : ref(d, b, 0);
    case 4: /* the other grant's buffer */
        return ref(d, B_OTHER, (uint64_t)fuzz_rd8(r) * 16u);
    case 5: /* raw 64-bit value */
        return fuzz_rdn(r, 8);
    case 6: /* the list buffer, qword offset */
        return ref(d, B_LIST, (uint64_t)fuzz_rdn(r, 2) * 8u % (2u * PAGE + 64u));
    default: /* any offset, possibly past the end or unaligned */
        return ref(d, b, fuzz_rdn(r, 4));
    }
}

static uint32_t pick_nsid(struct fuzz_rd *r)
{
    static const uint32_t v[8] = {0, 1, 2, 3, 0xffffffffu, 0xfffffffeu, 0x80000001u, 1};
    uint8_t b = fuzz_rd8(r);
    return b & 0x80 ? (uint32_t)fuzz_rdn(r, 4) : v[b & 7u];
}

/* ---- operations ----------------------------------------------------------- */

/* OP_SQE: queue byte (bits 1:0 SQ id, bit 2 MPTR picked, bit 3 CDW13-15 raw),
 * opcode, flags (FUSE/PSDT), NSID, PRP1/SGL addr, PRP2/SGL len+type (pick,
 * or raw when the flags say SGL), CDW10, CDW11, CDW12. */
static void op_sqe(struct drv *d, struct fuzz_rd *r)
{
    uint8_t qb = fuzz_rd8(r);
    unsigned q = (qb & 3u) % N_QUEUES;
    uint8_t s[64];
    sqe_base(d, s, fuzz_rd8(r), 0);
    s[1] = fuzz_rd8(r);
    fuzz_put_le(s + 4, 4, pick_nsid(r));
    if (qb & 4u)
        fuzz_put_le(s + 16, 8, pick_ref(d, r));
    fuzz_put_le(s + 24, 8, pick_ref(d, r));
    if ((s[1] >> 6) == 1u) {
        fuzz_put_le(s + 32, 4, fuzz_rdn(r, 4) & 0xffffu); /* SGL length */
        s[39] = fuzz_rd8(r);                          /* SGL type / sub type */
    } else {
        fuzz_put_le(s + 32, 8, pick_ref(d, r));
    }
    fuzz_put_le(s + 40, 4, fuzz_rdn(r, 4));
    fuzz_put_le(s + 44, 4, fuzz_rdn(r, 4));
    fuzz_put_le(s + 48, 4, fuzz_rdn(r, 2)); /* NLB and friends: low half */
    if (qb & 8u)
        for (unsigned i = 52; i < 64; i++)
            s[i] = fuzz_rd8(r);
    (void)sq_put(d, q, s);
}

/* OP_GOOD_CMD: kind byte, then parameters; a correct command a real driver
 * would send, so the fuzzer reaches deep states (queues full of work,
 * lists in use) before the hostile parts. */
static void op_good(struct drv *d, struct fuzz_rd *r)
{
    uint8_t k = fuzz_rd8(r);
    uint8_t s[64];
    if (!d->live[B_DATA])
        return;
    switch (k & 7u) {
    case 0: /* Identify, CNS 0/1/2 */
        sqe_base(d, s, 0x06, (k >> 3) & 1u);
        fuzz_put_le(s + 24, 8, ref(d, B_DATA, (uint64_t)(fuzz_rd8(r) & 7u) * PAGE));
        fuzz_put_le(s + 40, 4, (k >> 4) % 3u);
        (void)sq_put(d, 0, s);
        return;
    case 1: /* Get Log Page: SMART, 512 bytes */
        sqe_base(d, s, 0x02, 0xffffffffu);
        fuzz_put_le(s + 24, 8, ref(d, B_DATA, (uint64_t)(fuzz_rd8(r) & 63u) * 64u));
        fuzz_put_le(s + 40, 4, 127u << 16 | 0x02u);
        (void)sq_put(d, 0, s);
        return;
    case 2: /* Flush */
        sqe_base(d, s, 0x00, 1);
        (void)sq_put(d, 1u + ((k >> 3) & 1u), s);
        return;
    default: { /* Read/Write, 1..32 blocks at a dword offset, PRP2 or a list */
        uint8_t nb = fuzz_rd8(r), ob = fuzz_rd8(r);
        unsigned lba = (k & 0x80u) ? 4096u : 512u; /* the driver's guess */
        unsigned nlb = 1u + nb % 32u;
        uint64_t off = (uint64_t)(ob & 0x3fu) * 4u + (uint64_t)((ob >> 6) & 1u) * PAGE;
        uint64_t len = (uint64_t)nlb * lba;
        if (off + len > buf_size[B_DATA])
            len = buf_size[B_DATA] - off, nlb = (unsigned)(len / lba);
        if (nlb == 0)
            return;
        len = (uint64_t)nlb * lba;
        sqe_base(d, s, (k & 8u) ? 0x01 : 0x02, 1u + ((k >> 4) & 1u));
        fuzz_put_le(s + 24, 8, ref(d, B_DATA, off));
        uint64_t first = PAGE - (off % PAGE), rem = len > first ? len - first : 0;
        if (rem > 0 && rem <= PAGE) {
            fuzz_put_le(s + 32, 8, ref(d, B_DATA, off + first));
        } else if (rem > PAGE && d->live[B_LIST]) {
            uint8_t *l = d->info[B_LIST].cpu;
            unsigned n = (unsigned)((rem + PAGE - 1u) / PAGE);
            for (unsigned i = 0; i < n && i < 512u; i++)
                fuzz_put_le(l + 8u * i, 8, ref(d, B_DATA, off + first + (uint64_t)i * PAGE));
            fuzz_put_le(s + 32, 8, ref(d, B_LIST, 0));
        }
        fuzz_put_le(s + 40, 4, (uint32_t)(fuzz_rd8(r) % 64u)); /* SLBA (some beyond the namespace) */
        fuzz_put_le(s + 48, 4, nlb - 1u);
        (void)sq_put(d, 1u + ((k >> 5) & 1u), s);
        return;
    }
    }
}

/* OP_LIST: kind byte (bit 0: SGL descriptor, else PRP entries; bits 7:1
 * start index), count, then per entry a reference (+ SGL length and type). */
static void op_list(struct drv *d, struct fuzz_rd *r)
{
    uint8_t k = fuzz_rd8(r);
    unsigned n = 1u + fuzz_rd8(r) % 8u;
    if (!d->live[B_LIST])
        return;
    uint8_t *l = d->info[B_LIST].cpu;
    size_t cap = d->info[B_LIST].size;
    if (k & 1u) {
        size_t i = (size_t)(k >> 1) * 16u;
        for (unsigned j = 0; j < n && i + 16u <= cap; j++, i += 16u) {
            fuzz_put_le(l + i, 8, pick_ref(d, r));
            uint8_t lb = fuzz_rd8(r);
            fuzz_put_le(l + i + 8, 4, lb & 0x80u ? fuzz_rdn(r, 4) : (uint64_t)lb * 512u);
            fuzz_put_le(l + i + 12, 3, 0);
            l[i + 15] = fuzz_rd8(r);
        }
    } else {
        /* Indices reach both pages: the last entry of page 0 is a chain. */
        size_t i = (size_t)(k >> 1) * 8u + ((k & 0x80u) ? PAGE - 64u : 0u);
        for (unsigned j = 0; j < n && i + 8u <= cap; j++, i += 8u)
            fuzz_put_le(l + i, 8, pick_ref(d, r));
    }
}

/* OP_SQ_DB: queue byte (bits 1:0 qid 0..3; bit 7: raw 4-byte value; bit 6:
 * a doorbell index anywhere in the window). */
static void op_sq_db(struct drv *d, struct fuzz_rd *r)
{
    uint8_t qb = fuzz_rd8(r);
    unsigned q = qb & 3u;
    if (qb & 0x40u) {
        uint64_t off = R_DB + (uint64_t)fuzz_rd8(r) * 4u;
        (void)reg_wr(d, off, 4, fuzz_rdn(r, 4));
        return;
    }
    if ((qb & 0x80u) || q >= N_QUEUES) {
        (void)reg_wr(d, R_DB + 2u * q * d->stride, 4, fuzz_rdn(r, 4));
        return;
    }
    (void)sq_ring(d, q);
}

/* OP_CQ_DB: queue byte (bits 1:0; bit 7: raw head value instead). */
static void op_cq_db(struct drv *d, struct fuzz_rd *r)
{
    uint8_t qb = fuzz_rd8(r);
    unsigned q = (qb & 3u) % N_QUEUES;
    if (qb & 0x80u) {
        (void)reg_wr(d, R_DB + (2u * q + 1u) * d->stride, 4, fuzz_rdn(r, 4));
        return;
    }
    (void)cq_reap(d, q);
}

/* OP_REG_W: register selector, then value bytes. */
static void op_reg_w(struct drv *d, struct fuzz_rd *r)
{
    static const uint32_t ccv[8] = {0, CC_ON, CC_ON | CC_SHN_NORMAL, CC_ON & ~1u,
                                    CC_ON | 1u << 7, CC_ON | 1u << 4, 1u, CC_ON | 2u << 14};
    uint8_t sel = fuzz_rd8(r);
    switch (sel & 15u) {
    case 0:
        (void)reg_wr(d, R_CC, 4, (sel & 0x80u) ? (uint32_t)fuzz_rdn(r, 4) : ccv[(sel >> 4) & 7u]);
        return;
    case 1:
        (void)reg_wr(d, R_AQA, 4, (sel & 0x80u) ? fuzz_rdn(r, 4) : (uint64_t)(fuzz_rd8(r) % 16u) * 0x10001u);
        return;
    case 2:
        (void)reg_wr(d, R_ASQ, 8, pick_ref(d, r));
        return;
    case 3:
        (void)reg_wr(d, R_ASQ + ((sel >> 4) & 1u) * 4u, 4, pick_ref(d, r) >> (32u * ((sel >> 5) & 1u)));
        return;
    case 4:
        (void)reg_wr(d, R_ACQ, 8, pick_ref(d, r));
        return;
    case 5:
        (void)reg_wr(d, R_ACQ + ((sel >> 4) & 1u) * 4u, 4, pick_ref(d, r) >> (32u * ((sel >> 5) & 1u)));
        return;
    case 6:
        (void)reg_wr(d, (sel & 0x10u) ? R_INTMC : R_INTMS, 4, fuzz_rdn(r, 4));
        return;
    case 7:
        (void)reg_wr(d, R_NSSR, 4, 0x4e564d65u); /* "NVMe": a subsystem reset */
        return;
    case 8:
        (void)reg_wr(d, (sel & 0x10u) ? R_CAP : R_CSTS, 4, fuzz_rdn(r, 4));
        return;
    default: { /* raw offset (anywhere in the window and a bit past), width, value */
        uint64_t off = fuzz_rdn(r, 2) % (WINDOW_LEN + 64u);
        (void)reg_wr(d, off, 1u << (sel >> 6), fuzz_rdn(r, 8));
        return;
    }
    }
}

/* OP_REG_R: offset selector: a known register, or raw offset and width. */
static void op_reg_r(struct drv *d, struct fuzz_rd *r)
{
    static const uint32_t regs[8] = {R_CAP, R_CAP + 4, R_VS, R_CC, R_CSTS, R_AQA, R_ASQ, R_ACQ};
    uint8_t sel = fuzz_rd8(r);
    uint64_t v;
    if (sel & 0x80u)
        (void)reg_rd(d, fuzz_rdn(r, 2) % (WINDOW_LEN + 64u), 1u << ((sel >> 4) & 3u), &v);
    else
        (void)reg_rd(d, regs[sel & 7u], (sel & 8u) && (sel & 7u) == 0 ? 8u : 4u, &v);
}

static void op_disable(struct drv *d, struct fuzz_rd *r)
{
    uint8_t k = fuzz_rd8(r);
    uint32_t cc = (k & 1u) ? (CC_ON | CC_SHN_NORMAL) : (CC_ON & ~1u);
    (void)reg_wr(d, R_CC, 4, cc);
    if (k & 2u)
        (void)wait_rdy(d, (k & 1u) ? 1u : 0u);
    for (unsigned q = 1; q < N_QUEUES; q++)
        d->q[q].live = false;
}

static void op_scribble(struct drv *d, struct fuzz_rd *r)
{
    unsigned b = any_buf(fuzz_rd8(r));
    uint64_t off = fuzz_rdn(r, 2);
    unsigned n = 1u + fuzz_rd8(r) % 16u;
    if (!d->live[b])
        return;
    uint8_t *p = d->info[b].cpu;
    for (unsigned i = 0; i < n; i++)
        p[(off + i) % d->info[b].size] = fuzz_rd8(r);
}

/* OP_RESET: a function reset makes every capability derived from the
 * grant stale (capdrv/sys.h); start again as a driver would: window,
 * pool, buffers (the old references stay around as stale ones). */
static void op_reset(struct drv *d)
{
    if (d->resets++ >= MAX_RESETS)
        return;
    int rc = capdrv_grant_reset(d->sys, d->grant);
    CHECK_RC(rc, "grant_reset rc");
    memset(d->q, 0, sizeof d->q);
    if (!d->grant_live)
        return;
    for (unsigned b = 0; b < B_OTHER; b++) {
        if (d->live[b] && d->n_stale < MAX_STALE)
            d->stale[d->n_stale++] = d->info[b].ref_base;
        d->live[b] = false;
    }
    FUZZ_CHECK(capdrv_mmio_open(d->sys, d->grant, 0, &d->mmio) == 0);
    FUZZ_CHECK(capdrv_pool_open(d->sys, d->grant, &d->pool) == 0);
    for (unsigned b = 0; b < B_OTHER; b++)
        (void)alloc_buf(d, b);
}

/* Operations in which the driver writes memory the device may read. */
static bool op_writes_memory(uint8_t op)
{
    switch (op & 15u) {
    case OP_SQE: case OP_GOOD_CMD: case OP_LIST: case OP_SCRIBBLE: case OP_ENABLE:
    case OP_CREATE_IO:
        return true;
    default:
        return false;
    }
}

static struct capdrv_sim_nvme_stats nvme_stats(const struct drv *d)
{
    struct capdrv_sim_nvme_stats s;
    FUZZ_CHECK(capdrv_sim_nvme_stats(d->sim, d->fn, &s) == 0);
    return s;
}

static void run(struct drv *d, struct fuzz_rd *r)
{
    for (unsigned ops = 0; r->n > 0 && ops < MAX_OPS; ops++) {
        uint8_t op = fuzz_rd8(r);
        struct capdrv_sim_nvme_stats s0 = nvme_stats(d);
        switch (op & 15u) {
        case OP_SQE:
            op_sqe(d, r);
            break;
        case OP_GOOD_CMD:
            op_good(d, r);
            break;
        case OP_LIST:
            op_list(d, r);
            break;
        case OP_SQ_DB:
            op_sq_db(d, r);
            break;
        case OP_CQ_DB:
            op_cq_db(d, r);
            break;
        case OP_REG_W:
            op_reg_w(d, r);
            break;
        case OP_REG_R:
            op_reg_r(d, r);
            break;
        case OP_RELEASE:
            release_buf(d, any_buf(op >> 4));
            break;
        case OP_ALLOC: {
            unsigned b = any_buf(op >> 4);
            if (!d->live[b] && d->allocs++ < MAX_ALLOCS)
                (void)alloc_buf(d, b);
            break;
        }
        case OP_DISABLE:
            op_disable(d, r);
            break;
        case OP_ENABLE:
            if (drv_enable(d) && !(op & 0x10u))
                (void)drv_create_io(d, 1);
            break;
        case OP_CREATE_IO:
            (void)drv_create_io(d, 1u + ((op >> 4) & 1u));
            break;
        case OP_RESET:
            op_reset(d);
            break;
        case OP_TIME:
            capdrv_sim_advance(d->sim, (uint64_t)(op >> 4) * 250000u);
            break;
        case OP_SCRIBBLE:
            op_scribble(d, r);
            break;
        case OP_RELEASE_GRANT:
            if ((op >> 4) == 0xf && d->grant_live) { /* rare: ends most of the script */
                FUZZ_CHECK(capdrv_cap_release(d->sys, d->grant) == 0);
                d->grant_live = false;
                for (unsigned b = 0; b < B_OTHER; b++)
                    d->live[b] = false;
            }
            break;
        }
        struct capdrv_sim_nvme_stats s1 = nvme_stats(d);
        if ((s0.sq_backlog > 0 && op_writes_memory(op)) || s1.writes_ahead != s0.writes_ahead)
            d->changed_after_check = true;
        check_oracle(d);
        if (s1.sq_backlog == 0)
            d->changed_after_check = false;
    }
}

/* Claim both grants, allocate the buffers (and one released at once, for
 * a stale reference), bring the controller up. */
static void setup(struct drv *d, uint8_t mode)
{
    int idx = capdrv_grant_find(d->sys, "nvme");
    FUZZ_CHECK(idx >= 0);
    FUZZ_CHECK(capdrv_grant_open(d->sys, (unsigned)idx, &d->grant) == 0);
    d->grant_live = true;
    FUZZ_CHECK(capdrv_mmio_open(d->sys, d->grant, 0, &d->mmio) == 0);
    FUZZ_CHECK(capdrv_cfg_write(d->sys, d->grant, 0x04, 2, 0x0006) == 0); /* MEM | MASTER */
    FUZZ_CHECK(capdrv_pool_open(d->sys, d->grant, &d->pool) == 0);
    idx = capdrv_grant_find(d->sys, "other");
    FUZZ_CHECK(idx >= 0);
    FUZZ_CHECK(capdrv_grant_open(d->sys, (unsigned)idx, &d->other_grant) == 0);
    FUZZ_CHECK(capdrv_pool_open(d->sys, d->other_grant, &d->other_pool) == 0);
    for (unsigned b = 0; b < N_BUF; b++)
        FUZZ_CHECK(alloc_buf(d, b) == 0);
    /* One stale reference from the start: allocate, release. */
    capdrv_cap_t gone;
    struct capdrv_dmabuf_info gi;
    FUZZ_CHECK(capdrv_dma_alloc(d->sys, d->pool, PAGE, &gone, &gi) == 0);
    FUZZ_CHECK(capdrv_cap_release(d->sys, gone) == 0);
    d->stale[d->n_stale++] = gi.ref_base;
    uint64_t cap = 0;
    FUZZ_CHECK(reg_rd(d, R_CAP, 8, &cap) == 0);
    d->stride = 4u << ((cap >> 32) & 0xfu);
    FUZZ_CHECK(drv_enable(d));
    if (!(mode & 0x10u))
        FUZZ_CHECK(drv_create_io(d, 1));
    check_oracle(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (manifest_len == 0)
        build_manifest();
    struct fuzz_rd r = {data, size};
    uint8_t mode = fuzz_rd8(&r);

    struct capdrv_env_hosted_opts eo = {.log_level = -1};
    struct capdrv_env *env = capdrv_env_hosted_new(&eo);
    FUZZ_CHECK(env != NULL);
    struct capdrv_sim_config sc = {.iommu = (mode & 1u) != 0};
    struct drv *d = calloc(1, sizeof *d);
    FUZZ_CHECK(d != NULL);
    d->direct = sc.iommu;
    FUZZ_CHECK(capdrv_sim_create(&sc, &d->sim) == 0);
    struct capdrv_pci_addr a3 = {0, 0, 3, 0}, a8 = {0, 0, 8, 0};
    unsigned fn_other;
    FUZZ_CHECK(capdrv_sim_add_dmatest(d->sim, &a3, &fn_other) == 0);
    struct capdrv_sim_nvme_config nc = {
        .n_namespaces = (mode & 2u) ? 2u : 1u,
        .max_io_queues = 2,
        .mqes = 16,
        .dstrd = (mode >> 6) % 3u,
        .mdts = 4, /* 64 KiB */
        .ready_delay_ns = (mode & 0x20u) ? 1000000u : 0u,
        .sgl = (mode & 8u) != 0,
    };
    for (unsigned i = 0; i < nc.n_namespaces; i++)
        nc.ns[i] = (struct capdrv_sim_nvme_ns_config){.lba_count = (mode & 4u) ? 16u : 64u,
                                                      .lba_shift = (mode & 4u) ? 12u : 9u};
    FUZZ_CHECK(capdrv_sim_add_nvme(d->sim, &a8, &nc, &d->fn) == 0);

    struct capdrv_shim_config cfg = {.env = env, .hw = capdrv_sim_hw(d->sim),
                                     .manifest = manifest_blob, .manifest_len = manifest_len};
    struct capdrv_shim *shim = NULL;
    char why[256] = "";
    int rc = capdrv_shim_create(&cfg, &shim, why, sizeof why);
    if (rc != 0)
        fprintf(stderr, "fuzz_nvme_sqe: shim create rc=%d: %s\n", rc, why);
    FUZZ_CHECK_MSG(rc == 0, "capdrv_shim_create rc", rc);
    FUZZ_CHECK(capdrv_shim_connect(shim, "fz", &d->sys) == 0);
    setup(d, mode);
    run(d, &r);
    if (fuzz_verbose()) {
        struct capdrv_sim_nvme_stats ns;
        FUZZ_CHECK(capdrv_sim_nvme_stats(d->sim, d->fn, &ns) == 0);
        fprintf(stderr, "fuzz_nvme_sqe: admin %llu io %llu doorbells %llu contained %lu\n",
                (unsigned long long)ns.admin_cmds, (unsigned long long)ns.io_cmds,
                (unsigned long long)ns.doorbells, d->contained);
    }

    capdrv_sys_close(d->sys); /* provider death: quiesce, release everything */
    check_oracle(d);
    struct capdrv_shim_stats st;
    FUZZ_CHECK(capdrv_shim_stats(shim, &st) == 0);
    FUZZ_CHECK_MSG(st.dma_buffers == 0, "ledger entries after death", st.dma_buffers);
    FUZZ_CHECK(st.grants_claimed == 0 && st.providers == 0);
    capdrv_shim_destroy(shim);
    FUZZ_CHECK_MSG(capdrv_env_hosted_live_allocs(env) == 0, "live allocs",
                   capdrv_env_hosted_live_allocs(env));
    struct capdrv_sim_dma_stats ds;
    FUZZ_CHECK(capdrv_sim_dma_stats(d->sim, &ds) == 0);
    FUZZ_CHECK(ds.regions == 0 && ds.mappings == 0);
    check_oracle(d);
    capdrv_sim_destroy(d->sim);
    free(d);
    capdrv_env_hosted_free(env);
    return 0;
}
