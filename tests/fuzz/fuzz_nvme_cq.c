/* Fuzz target: the NVMe library (include/capdrv/nvme.h, src/nvme/)
 * against a hostile CONTROLLER: its completion queue entries (CID, SQ
 * identifier, SQ head, status, phase tag, duplicates, extra and held
 * entries, entries written into a full CQ) and its registers (CAP, CSTS
 * values: all ones, CFS, RDY that does not follow CC).
 *
 * The controller is a minimal fake capdrv_sys backend (capdrv/sys_backend.h)
 * written here from NVMe Base 2.0 / NVM Command Set 1.0, independent of
 * the library and of tests/unit/nvme/fake_nvme.c: one grant with one
 * window over BAR0, a DMA pool of token-referenced buffers, commands run
 * synchronously at the SQ tail doorbell. Each time it is about to post a
 * completion it takes its next action from the controller's part of the
 * input (0, or that part used up: post it as a correct controller would).
 *
 * Contract checked:
 * - no crash, no undefined behaviour, nothing touched outside the buffers
 *   (ASan/UBSan; every device access to host memory goes through the
 *   fake's reference resolver, which must succeed for every address the
 *   library gave an honest controller: queues, PRP entries, PRP lists);
 * - every callback names a command the harness submitted successfully,
 *   runs at most once, never inside the submitting call, with a status
 *   from the documented set; at the end (queue pairs destroyed,
 *   controller closed) every such command completed exactly once;
 * - every call returns 0 or a negative CAPDRV_E code;
 * - after close, every DMA buffer the library allocated is released.
 *
 * Input (each part reads zeros past its end):
 *   byte 0  mode: bit 0 CAP from the input (8 bytes follow; CAP.TO and
 *           CAP.DSTRD are clamped to 0..1 so waits and doorbells stay
 *           small), bit 1 Identify Controller patches follow (count byte,
 *           then offset le16 + value each), bit 2 the grant has one
 *           interrupt vector, bits 4:3 I/O queues asked for - 1, bits 6:5
 *           I/O queues the controller grants (0: as asked), bit 7 queue
 *           pairs of depth 2 (else 8)
 *   byte 1  A: the last A bytes of the input are the controller's
 *           (complete(): one action byte per completion, some followed by
 *           field values); the bytes between are the driver's
 *   then    the CAP / patch bytes the mode asks for, then driver
 *           operations (run(): op byte, low 4 bits select). */
#define _POSIX_C_SOURCE 200809L /* posix_memalign */
#include "fuzz_common.h"

#include <stdbool.h>
#include <string.h>

#include <capdrv/error.h>
#include <capdrv/nvme.h>
#include <capdrv/sys.h>
#include <capdrv/sys_backend.h>

#define PAGE 4096u
#define BAR0_LEN 0x2000u
#define NQ 4u             /* admin + 3 I/O queue pairs */
#define MAX_BUFS 96u
#define MAX_PENDING 64u   /* CQEs waiting inside the controller */
#define NS_BLOCKS 64u
#define LBA 512u
#define DATA_BYTES (16u * PAGE)
#define MAX_CMDS 1024u
#define MAX_OPS 256u
#define MAX_QP 3u

#define REF_TAG 0x5a00000000000000ull
#define GRANT_CAP (((uint64_t)CAPDRV_CAP_GRANT << CAPDRV_CAP_TYPE_SHIFT) | 1u)
#define MMIO_CAP (((uint64_t)CAPDRV_CAP_MMIO << CAPDRV_CAP_TYPE_SHIFT) | 1u)
#define POOL_CAP (((uint64_t)CAPDRV_CAP_POOL << CAPDRV_CAP_TYPE_SHIFT) | 1u)
#define IRQ_CAP (((uint64_t)CAPDRV_CAP_IRQ << CAPDRV_CAP_TYPE_SHIFT) | 1u)
#define BUF_CAP(i) (((uint64_t)CAPDRV_CAP_DMABUF << CAPDRV_CAP_TYPE_SHIFT) | ((uint64_t)(i) + 1u))

/* Base 2.0 §3.1.4 registers. */
enum { R_CAP = 0x00, R_VS = 0x08, R_CC = 0x14, R_CSTS = 0x1c, R_AQA = 0x24, R_ASQ = 0x28,
       R_ACQ = 0x30, R_DB = 0x1000 };

/* ---- the fake controller -------------------------------------------------- */

struct fsq {
    bool live;
    bool confirmed; /* its Create's completion reached the host intact */
    uint64_t base;
    uint32_t size, head, tail;
    uint16_t cqid;
};

struct fcq {
    bool live;
    bool confirmed;
    uint64_t base;
    uint32_t size, head, tail;
    uint8_t phase;
};

struct pending {
    uint16_t cqid;
    bool hostile; /* held on purpose (else: waiting for room in a full CQ) */
    uint8_t cqe[16];
};

struct buf {
    uint8_t *cpu;
    size_t size;
    bool live;
};

struct dev {
    struct capdrv_sys sys; /* first: the connection object */
    struct fuzz_rd *in;
    uint64_t cap;
    uint32_t cc, aqa;
    uint64_t asq, acq;
    bool rdy, removed, cfs;
    /* The controller lied: a completion it did not earn (a forged CID, an
     * entry out of nowhere) or a CSTS value that is not its state. The
     * library may then rightly believe a queue deleted, or the controller
     * gone, while the queue still lives here; the fake's honesty checks on
     * its own later accesses stop (it just drops them). In the real stack
     * the kernel quiesces the function before such memory is freed. */
    bool forged;
    uint32_t csts_override;
    unsigned csts_override_n;
    unsigned n_irqs, io_granted;
    bool irq_pending;
    struct fsq sq[NQ];
    struct fcq cq[NQ];
    struct pending pend[MAX_PENDING];
    unsigned n_pend;
    struct buf b[MAX_BUFS];
    unsigned n_b;
    uint8_t id_ctrl[PAGE], id_ns[PAGE];
    uint8_t media[NS_BLOCKS * LBA];
};

static struct dev *dev_of(capdrv_sys *s)
{
    return (struct dev *)(void *)s;
}

/* Host memory as the controller reaches it: [ref, ref+len) inside one live
 * buffer, else NULL. */
static uint8_t *resolve(struct dev *d, uint64_t ref, uint64_t len)
{
    if ((ref & 0xff00000000000000ull) != REF_TAG)
        return NULL;
    uint64_t idx = (ref >> 32) & 0xffffffu, off = ref & 0xffffffffu;
    if (idx >= d->n_b || !d->b[idx].live || off > d->b[idx].size || len > d->b[idx].size - off)
        return NULL;
    return d->b[idx].cpu + off;
}

/* An honest controller only uses addresses the library gave it: each must
 * be the library's live memory (NULL only once completions were forged). */
static uint8_t *must_resolve(struct dev *d, uint64_t ref, uint64_t len, const char *what)
{
    uint8_t *p = resolve(d, ref, len);
    if (!p && !d->forged) {
        fprintf(stderr, "fuzz_nvme_cq: %s 0x%llx+%llu is not live library memory\n", what,
                (unsigned long long)ref, (unsigned long long)len);
        FUZZ_CHECK(p != NULL);
    }
    return p;
}

/* The memory page size the host chose (§3.1.4.5 CC.MPS: 2^(12 + MPS)). */
static uint64_t mps_bytes(const struct dev *d)
{
    return (uint64_t)PAGE << ((d->cc >> 7) & 0xfu);
}

/* Move @len bytes between @mem and the PRP-described host memory
 * (Base 2.0 §4.1.1, CC.MPS pages): PRP1 with an offset, then PRP2 as the
 * second page or a list (the last entry of a full list page chains). */
static void prp_xfer(struct dev *d, uint64_t prp1, uint64_t prp2, uint8_t *mem, uint64_t len,
                     bool to_host)
{
    uint64_t pg = mps_bytes(d);
    uint64_t first = pg - (prp1 & (pg - 1u));
    if (first > len)
        first = len;
    uint8_t *p = must_resolve(d, prp1, first, "PRP1");
    if (!p)
        return;
    if (to_host)
        memcpy(p, mem, first);
    else
        memcpy(mem, p, first);
    uint64_t done = first;
    if (done == len)
        return;
    if (len - done <= pg) {
        FUZZ_CHECK((prp2 & (pg - 1u)) == 0);
        p = must_resolve(d, prp2, len - done, "PRP2");
        if (!p)
            return;
        if (to_host)
            memcpy(p, mem + done, len - done);
        else
            memcpy(mem + done, p, len - done);
        return;
    }
    uint64_t list = prp2;
    FUZZ_CHECK((list & 7u) == 0);
    while (done < len) {
        unsigned slots = (unsigned)((pg - (list & (pg - 1u))) / 8u);
        const uint8_t *l = must_resolve(d, list, (uint64_t)slots * 8u, "PRP list");
        if (!l)
            return;
        for (unsigned i = 0; i < slots && done < len; i++) {
            uint64_t e = fuzz_get_le(l + 8u * i, 8);
            if (i == slots - 1u && len - done > pg) {
                list = e; /* chain to the next list page */
                break;
            }
            FUZZ_CHECK((e & (pg - 1u)) == 0);
            uint64_t n = len - done < pg ? len - done : pg;
            p = must_resolve(d, e, n, "PRP entry");
            if (!p)
                return;
            if (to_host)
                memcpy(p, mem + done, n);
            else
                memcpy(mem + done, p, n);
            done += n;
        }
    }
}

static void cqe_fill(uint8_t *e, uint32_t dw0, uint16_t sqhd, uint16_t sqid, uint16_t cid,
                     uint16_t status_field)
{
    memset(e, 0, 16);
    fuzz_put_le(e, 4, dw0);
    fuzz_put_le(e + 8, 2, sqhd);
    fuzz_put_le(e + 10, 2, sqid);
    fuzz_put_le(e + 12, 2, cid);
    fuzz_put_le(e + 14, 2, status_field); /* bits 15:1 status, bit 0 phase (set when posted) */
}

/* Write one CQE into CQ @cqid now (phase set here unless @wrong_phase);
 * false when it is full and @force is not set. */
static bool cq_write(struct dev *d, unsigned cqid, const uint8_t *cqe, bool force, bool wrong_phase)
{
    struct fcq *q = &d->cq[cqid];
    if (!q->live)
        return true; /* nowhere to go: dropped */
    if (!force && (q->tail + 1u) % q->size == q->head)
        return false;
    uint8_t *m = must_resolve(d, q->base + 16u * q->tail, 16, "CQ entry");
    if (!m)
        return true; /* dropped */
    memcpy(m, cqe, 14);
    uint16_t sf = (uint16_t)((fuzz_get_le(cqe + 14, 2) & ~1u) | (q->phase ^ (wrong_phase ? 1u : 0u)));
    fuzz_put_le(m + 14, 2, sf);
    q->tail = (q->tail + 1u) % q->size;
    if (q->tail == 0)
        q->phase ^= 1u;
    d->irq_pending = true;
    return true;
}

static void pend_add(struct dev *d, unsigned cqid, const uint8_t *cqe, bool hostile)
{
    if (d->n_pend >= MAX_PENDING)
        return; /* lost (a controller may drop completions) */
    struct pending *p = &d->pend[d->n_pend++];
    p->cqid = (uint16_t)cqid;
    p->hostile = hostile;
    memcpy(p->cqe, cqe, 16);
}

/* Post what waits inside the controller: entries for CQs with room, in
 * order; @all also releases the ones held on purpose. */
static void pend_flush(struct dev *d, bool all)
{
    unsigned k = 0;
    for (unsigned i = 0; i < d->n_pend; i++) {
        struct pending p = d->pend[i];
        bool go = (all || !p.hostile) && d->cq[p.cqid].live && d->rdy && !d->removed;
        if (!(go && cq_write(d, p.cqid, p.cqe, false, false)))
            d->pend[k++] = p;
    }
    d->n_pend = k;
}

/* The controller completes a command: one action byte decides how.
 * Returns true when the host got the completion intact and at once. */
static bool complete(struct dev *d, unsigned cqid, uint16_t sqid, uint16_t cid, uint16_t sqhd,
                     uint16_t status, uint32_t dw0)
{
    uint8_t e[16];
    cqe_fill(e, dw0, sqhd, sqid, cid, (uint16_t)(status << 1));
    uint8_t a = fuzz_rd8(d->in);
    if (fuzz_verbose())
        fprintf(stderr, "fuzz_nvme_cq: SQ %u CID %#x status %#x: action %#x\n", sqid, cid,
                status, a);
    bool wrong_phase = false, force = (a & 0x10u) != 0;
    switch (a & 7u) {
    case 3: /* an error status of the input's choice (SCT/SC/M/DNR) */
        fuzz_put_le(e + 14, 2, fuzz_rdn(d->in, 2) & ~1ull);
        if (sqid == 0 && status == 0)
            d->forged = true; /* "failed", yet done: e.g. a queue created after all */
        break;
    case 4: /* held: posted later (or never) */
        pend_add(d, cqid, e, true);
        return false;
    case 5: { /* corrupted fields */
        uint8_t m = fuzz_rd8(d->in);
        if (m & 1u) {
            fuzz_put_le(e + 12, 2, fuzz_rdn(d->in, 2));
            d->forged = true;
        }
        if (m & 2u)
            fuzz_put_le(e + 10, 2, fuzz_rdn(d->in, 2));
        if (m & 4u)
            fuzz_put_le(e + 8, 2, fuzz_rdn(d->in, 2));
        if (m & 8u)
            wrong_phase = true;
        if (m & 16u)
            fuzz_put_le(e, 4, fuzz_rdn(d->in, 4));
        break;
    }
    case 6: /* posted twice */
        (void)cq_write(d, cqid, e, force, false);
        break;
    case 7: { /* then one more entry with fields from the input */
        d->forged = true;
        if (!cq_write(d, cqid, e, force, false))
            pend_add(d, cqid, e, false);
        cqe_fill(e, (uint32_t)fuzz_rdn(d->in, 4), (uint16_t)fuzz_rdn(d->in, 2), (uint16_t)fuzz_rdn(d->in, 2),
                 (uint16_t)fuzz_rdn(d->in, 2), (uint16_t)fuzz_rdn(d->in, 2));
        break;
    }
    default:
        break;
    }
    bool posted = cq_write(d, cqid, e, force, wrong_phase);
    if (!posted)
        pend_add(d, cqid, e, false);
    if (a & 8u)
        pend_flush(d, true);
    return posted && !wrong_phase && ((a & 7u) <= 2u || (a & 7u) == 6u);
}

static void reset_queues(struct dev *d)
{
    memset(d->sq, 0, sizeof d->sq);
    memset(d->cq, 0, sizeof d->cq);
    d->n_pend = 0;
}

enum { SC_INVALID_OPC = 0x01, SC_INVALID_FIELD = 0x02, SC_INVALID_NS = 0x0b,
       SC_LBA_RANGE = 0x80, SCT_CMD = 0x100, SC_INVALID_QID = SCT_CMD | 0x01,
       SC_INVALID_QSIZE = SCT_CMD | 0x02, SC_CQ_INVALID = SCT_CMD | 0x00,
       SC_INVALID_QDEL = SCT_CMD | 0x0c };

/* Execute one admin command; *dw0 its result. Returns the status (0 ok);
 * -1: no completion now (AER). */
static int admin(struct dev *d, const uint8_t *s, uint32_t *dw0)
{
    uint32_t nsid = (uint32_t)fuzz_get_le(s + 4, 4), cdw10 = (uint32_t)fuzz_get_le(s + 40, 4),
             cdw11 = (uint32_t)fuzz_get_le(s + 44, 4);
    uint64_t prp1 = fuzz_get_le(s + 24, 8), prp2 = fuzz_get_le(s + 32, 8);
    unsigned qid = cdw10 & 0xffffu;
    uint32_t qsize = (cdw10 >> 16) + 1u;
    switch (s[0]) {
    case 0x00: /* Delete I/O SQ */
        if (qid == 0 || qid >= NQ || !d->sq[qid].live)
            return SC_INVALID_QID;
        d->sq[qid].live = false;
        return 0;
    case 0x04: /* Delete I/O CQ */
        if (qid == 0 || qid >= NQ || !d->cq[qid].live)
            return SC_INVALID_QID;
        for (unsigned i = 1; i < NQ; i++)
            if (d->sq[i].live && d->sq[i].cqid == qid)
                return SC_INVALID_QDEL;
        d->cq[qid].live = false;
        return 0;
    case 0x05: /* Create I/O CQ (PC = 1) */
        if (qid == 0 || qid >= NQ || qid > d->io_granted || d->cq[qid].live)
            return SC_INVALID_QID;
        if (qsize < 2 || qsize > (uint32_t)(d->cap & 0xffffu) + 1u)
            return SC_INVALID_QSIZE;
        if (!(cdw11 & 1u) || (prp1 & (mps_bytes(d) - 1u)))
            return SC_INVALID_FIELD;
        if (!must_resolve(d, prp1, 16u * qsize, "new CQ"))
            return SC_INVALID_FIELD;
        d->cq[qid] = (struct fcq){.live = true, .base = prp1, .size = qsize, .phase = 1};
        return 0;
    case 0x01: { /* Create I/O SQ */
        unsigned cqid = cdw11 >> 16;
        if (qid == 0 || qid >= NQ || qid > d->io_granted || d->sq[qid].live)
            return SC_INVALID_QID;
        if (cqid == 0 || cqid >= NQ || !d->cq[cqid].live)
            return SC_CQ_INVALID;
        if (qsize < 2 || qsize > (uint32_t)(d->cap & 0xffffu) + 1u)
            return SC_INVALID_QSIZE;
        if (!(cdw11 & 1u) || (prp1 & (mps_bytes(d) - 1u)))
            return SC_INVALID_FIELD;
        if (!must_resolve(d, prp1, 64u * qsize, "new SQ"))
            return SC_INVALID_FIELD;
        d->sq[qid] = (struct fsq){.live = true, .base = prp1, .size = qsize,
                                  .cqid = (uint16_t)cqid};
        return 0;
    }
    case 0x06: { /* Identify */
        uint8_t list[PAGE];
        const uint8_t *src;
        switch (cdw10 & 0xffu) {
        case 0x00:
            if (nsid != 1)
                return SC_INVALID_NS;
            src = d->id_ns;
            break;
        case 0x01:
            src = d->id_ctrl;
            break;
        case 0x02:
            memset(list, 0, sizeof list);
            if (nsid < 1)
                fuzz_put_le(list, 4, 1);
            src = list;
            break;
        default:
            return SC_INVALID_FIELD;
        }
        prp_xfer(d, prp1, prp2, (uint8_t *)(uintptr_t)src, PAGE, true);
        return 0;
    }
    case 0x02: { /* Get Log Page: zeros */
        uint64_t numd = ((uint64_t)(cdw11 & 0xffffu) << 16 | cdw10 >> 16) + 1u;
        if (numd * 4u > 4u * PAGE)
            return SC_INVALID_FIELD;
        static const uint8_t zero[4 * PAGE];
        prp_xfer(d, prp1, prp2, (uint8_t *)(uintptr_t)zero, numd * 4u, true);
        return 0;
    }
    case 0x09: /* Set Features */
        if ((cdw10 & 0xffu) == 0x07) {
            uint32_t want = (cdw11 & 0xffffu) + 1u;
            uint32_t n = want < d->io_granted ? want : d->io_granted;
            *dw0 = (n - 1u) | (n - 1u) << 16;
        }
        return 0;
    case 0x0a: /* Get Features */
        *dw0 = (cdw10 & 0xffu) == 0x07 ? (d->io_granted - 1u) * 0x10001u : 0;
        return 0;
    case 0x08: /* Abort: not aborted */
        *dw0 = 1;
        return 0;
    case 0x0c: /* Asynchronous Event Request: outstanding */
        return -1;
    case 0x18: /* Keep Alive */
        return 0;
    default:
        return SC_INVALID_OPC;
    }
}

static int nvm(struct dev *d, const uint8_t *s)
{
    uint32_t nsid = (uint32_t)fuzz_get_le(s + 4, 4);
    uint64_t slba = fuzz_get_le(s + 40, 8);
    uint32_t nlb = ((uint32_t)fuzz_get_le(s + 48, 4) & 0xffffu) + 1u;
    switch (s[0]) {
    case 0x00:
        return nsid == 1 || nsid == 0xffffffffu ? 0 : SC_INVALID_NS;
    case 0x01:
    case 0x02:
        if (nsid != 1)
            return SC_INVALID_NS;
        if ((s[1] >> 6) != 0)
            return SC_INVALID_FIELD; /* SGLS = 0: PRPs only */
        if (slba >= NS_BLOCKS || nlb > NS_BLOCKS - slba)
            return SC_LBA_RANGE;
        prp_xfer(d, fuzz_get_le(s + 24, 8), fuzz_get_le(s + 32, 8), d->media + slba * LBA,
                 (uint64_t)nlb * LBA, s[0] == 0x02);
        return 0;
    default:
        return SC_INVALID_OPC;
    }
}

/* SQ tail doorbell: fetch and run every new entry (§3.3.1). */
static void sq_doorbell(struct dev *d, unsigned qid, uint32_t tail)
{
    struct fsq *q = &d->sq[qid];
    if (!d->rdy || d->removed || d->cfs || !q->live || tail >= q->size)
        return; /* ignored, as an invalid doorbell write is */
    q->tail = tail;
    while (q->head != q->tail) {
        const uint8_t *m = must_resolve(d, q->base + 64u * q->head, 64, "SQ entry");
        if (!m)
            return;
        uint8_t s[64];
        memcpy(s, m, 64);
        q->head = (q->head + 1u) % q->size;
        uint32_t dw0 = 0;
        int st = qid == 0 ? admin(d, s, &dw0) : nvm(d, s);
        if (st >= 0 &&
            complete(d, q->cqid, (uint16_t)qid, (uint16_t)fuzz_get_le(s + 2, 2), (uint16_t)q->head,
                     (uint16_t)st, dw0) &&
            st == 0 && qid == 0 && (s[0] == 0x01 || s[0] == 0x05)) {
            unsigned nq = (unsigned)fuzz_get_le(s + 40, 2);
            if (s[0] == 0x01)
                d->sq[nq].confirmed = true;
            else
                d->cq[nq].confirmed = true;
        }
        if (!q->live || !d->rdy)
            break; /* the queue was deleted (or the controller stopped) */
    }
}

static void cc_write(struct dev *d, uint32_t v)
{
    bool was = d->cc & 1u;
    d->cc = v;
    if (!was && (v & 1u)) {
        uint32_t asqs = (d->aqa & 0xfffu) + 1u, acqs = ((d->aqa >> 16) & 0xfffu) + 1u;
        if (asqs < 2 || acqs < 2 || !resolve(d, d->asq, 64u * asqs) ||
            !resolve(d, d->acq, 16u * acqs)) {
            d->cfs = true; /* a bad admin queue: fatal, never ready */
            return;
        }
        reset_queues(d);
        d->sq[0] = (struct fsq){.live = true, .base = d->asq, .size = asqs};
        d->cq[0] = (struct fcq){.live = true, .base = d->acq, .size = acqs, .phase = 1};
        d->rdy = true;
    } else if (was && !(v & 1u)) {
        reset_queues(d); /* §3.7.2: every queue deleted, nothing posted after */
        d->rdy = false;
        d->cfs = false;
    }
}

static uint64_t reg_read(struct dev *d, uint64_t off)
{
    switch (off) {
    case R_CAP:
        return d->cap;
    case R_VS:
        return 0x00020000u;
    case R_CC:
        return d->cc;
    case R_CSTS: {
        if (d->csts_override_n > 0) {
            d->csts_override_n--;
            return d->csts_override;
        }
        uint32_t v = (d->rdy ? 1u : 0u) | (d->cfs ? 2u : 0u);
        if (d->cc & (3u << 14))
            v |= 2u << 2; /* SHST: shutdown complete */
        return v;
    }
    case R_AQA:
        return d->aqa;
    case R_ASQ:
        return d->asq;
    case R_ACQ:
        return d->acq;
    default:
        return 0;
    }
}

/* ---- capdrv_sys operations of the fake ------------------------------------ */

static int f_grant_count(capdrv_sys *s)
{
    (void)s;
    return 1;
}

static int f_grant_info(capdrv_sys *s, unsigned i, struct capdrv_grant_info *o)
{
    struct dev *d = dev_of(s);
    if (i != 0)
        return -CAPDRV_ENOENT;
    memset(o, 0, sizeof *o);
    strcpy(o->name, "nvme");
    o->cls = CAPDRV_GRANT_NVME_CONTROLLER;
    o->lane = CAPDRV_LANE_BROKERED;
    o->n_windows = 1;
    o->n_irqs = d->n_irqs;
    o->pool_quota_bytes = 64u << 20;
    o->pool_quota_buffers = MAX_BUFS;
    return 0;
}

static int f_grant_open(capdrv_sys *s, unsigned i, capdrv_cap_t *g)
{
    (void)s;
    if (i != 0)
        return -CAPDRV_ENOENT;
    *g = GRANT_CAP;
    return 0;
}

static int f_grant_lane(capdrv_sys *s, capdrv_cap_t g)
{
    (void)s;
    return g == GRANT_CAP ? (int)CAPDRV_LANE_BROKERED : -CAPDRV_EBADF;
}

static int f_grant_reset(capdrv_sys *s, capdrv_cap_t g)
{
    (void)s;
    (void)g;
    return -CAPDRV_ENOSYS;
}

static int f_window_info(capdrv_sys *s, capdrv_cap_t g, unsigned w, struct capdrv_window_info *o)
{
    (void)s;
    if (g != GRANT_CAP)
        return -CAPDRV_EBADF;
    if (w != 0)
        return -CAPDRV_ENOENT;
    memset(o, 0, sizeof *o);
    strcpy(o->name, "bar0");
    o->length = BAR0_LEN;
    return 0;
}

static int f_mmio_open(capdrv_sys *s, capdrv_cap_t g, unsigned w, capdrv_cap_t *m)
{
    (void)s;
    if (g != GRANT_CAP)
        return -CAPDRV_EBADF;
    if (w != 0)
        return -CAPDRV_ENOENT;
    *m = MMIO_CAP;
    return 0;
}

static int f_mmio_read(capdrv_sys *s, capdrv_cap_t m, uint64_t off, unsigned w, uint64_t *v)
{
    struct dev *d = dev_of(s);
    FUZZ_CHECK(m == MMIO_CAP);
    FUZZ_CHECK((w == 4 || w == 8) && off % w == 0 && off + w <= BAR0_LEN);
    if (d->removed) {
        *v = w == 8 ? ~0ull : 0xffffffffu;
        return 0;
    }
    uint64_t base = off & ~7ull;
    uint64_t x = reg_read(d, base == R_CAP || base == R_ASQ || base == R_ACQ ? base : off);
    if (w == 4 && (base == R_CAP || base == R_ASQ || base == R_ACQ))
        x = off == base ? x & 0xffffffffu : x >> 32;
    *v = w == 8 ? x : x & 0xffffffffu;
    return 0;
}

static int f_mmio_write(capdrv_sys *s, capdrv_cap_t m, uint64_t off, unsigned w, uint64_t v)
{
    struct dev *d = dev_of(s);
    FUZZ_CHECK(m == MMIO_CAP);
    FUZZ_CHECK((w == 4 || w == 8) && off % w == 0 && off + w <= BAR0_LEN);
    if (d->removed)
        return 0;
    if (off >= R_DB) {
        FUZZ_CHECK(w == 4);
        unsigned stride = 4u << ((d->cap >> 32) & 0xfu);
        uint64_t idx = (off - R_DB) / stride;
        FUZZ_CHECK((off - R_DB) % stride == 0);
        unsigned qid = (unsigned)(idx / 2);
        if (qid >= NQ)
            return 0;
        if (idx % 2 == 0) {
            sq_doorbell(d, qid, (uint32_t)v);
        } else if (d->cq[qid].live && v < d->cq[qid].size) {
            d->cq[qid].head = (uint32_t)v;
            pend_flush(d, false); /* room for what waited */
        }
        return 0;
    }
    switch (off) {
    case R_CC:
        cc_write(d, (uint32_t)v);
        break;
    case R_AQA:
        d->aqa = (uint32_t)v;
        break;
    case R_ASQ:
    case R_ACQ: {
        uint64_t *r = off == R_ASQ ? &d->asq : &d->acq;
        *r = w == 8 ? v : (*r & ~0xffffffffull) | (v & 0xffffffffu);
        break;
    }
    case R_ASQ + 4:
    case R_ACQ + 4: {
        uint64_t *r = off == R_ASQ + 4 ? &d->asq : &d->acq;
        *r = (*r & 0xffffffffu) | v << 32;
        break;
    }
    default:
        break;
    }
    return 0;
}

static int f_cfg_read(capdrv_sys *s, capdrv_cap_t g, uint32_t o, unsigned w, uint32_t *v)
{
    (void)s;
    (void)g;
    (void)o;
    (void)w;
    *v = 0;
    return 0;
}

static int f_cfg_write(capdrv_sys *s, capdrv_cap_t g, uint32_t o, unsigned w, uint32_t v)
{
    (void)s;
    (void)g;
    (void)o;
    (void)w;
    (void)v;
    return 0;
}

static int f_pool_open(capdrv_sys *s, capdrv_cap_t g, capdrv_cap_t *p)
{
    (void)s;
    if (g != GRANT_CAP)
        return -CAPDRV_EBADF;
    *p = POOL_CAP;
    return 0;
}

static int f_dma_alloc(capdrv_sys *s, capdrv_cap_t pool, size_t size, capdrv_cap_t *b,
                       struct capdrv_dmabuf_info *info)
{
    struct dev *d = dev_of(s);
    if (pool != POOL_CAP)
        return -CAPDRV_EBADF;
    if (size == 0 || size > (8u << 20))
        return -CAPDRV_EINVAL;
    if (d->n_b >= MAX_BUFS)
        return -CAPDRV_ENOSPC;
    size = (size + PAGE - 1u) / PAGE * PAGE;
    void *p = NULL;
    if (posix_memalign(&p, PAGE, size) != 0)
        return -CAPDRV_ENOMEM;
    memset(p, 0, size);
    unsigned i = d->n_b++;
    d->b[i] = (struct buf){.cpu = p, .size = size, .live = true};
    *b = BUF_CAP(i);
    info->cpu = p;
    info->size = size;
    info->ref_base = REF_TAG | (uint64_t)i << 32;
    return 0;
}

static int f_dmabuf_info(capdrv_sys *s, capdrv_cap_t b, struct capdrv_dmabuf_info *info)
{
    struct dev *d = dev_of(s);
    uint64_t i = (b & 0xffffffffu) - 1u;
    if (capdrv_cap_type_of(b) != CAPDRV_CAP_DMABUF || i >= d->n_b || !d->b[i].live)
        return -CAPDRV_EBADF;
    info->cpu = d->b[i].cpu;
    info->size = d->b[i].size;
    info->ref_base = REF_TAG | i << 32;
    return 0;
}

static int f_irq_open(capdrv_sys *s, capdrv_cap_t g, unsigned v, capdrv_cap_t *irq)
{
    struct dev *d = dev_of(s);
    if (g != GRANT_CAP)
        return -CAPDRV_EBADF;
    if (v >= d->n_irqs)
        return -CAPDRV_ENOENT;
    *irq = IRQ_CAP;
    return 0;
}

/* Time is what the caller waits through: an interrupt latched since the
 * last wait wakes it at once, otherwise the whole timeout passes. */
static int f_irq_wait(capdrv_sys *s, const capdrv_cap_t *irqs, unsigned n, int64_t t,
                      uint64_t *ready)
{
    struct dev *d = dev_of(s);
    for (unsigned i = 0; i < n; i++)
        FUZZ_CHECK(irqs[i] == IRQ_CAP);
    FUZZ_CHECK(t >= 0 && (uint64_t)t <= CAPDRV_NVME_WAIT_SLICE_NS);
    pend_flush(d, false);
    if (d->irq_pending) {
        d->irq_pending = false;
        *ready = 1;
        return 1;
    }
    return -CAPDRV_ETIMEDOUT;
}

static int f_irq_ack(capdrv_sys *s, capdrv_cap_t irq)
{
    (void)s;
    return irq == IRQ_CAP ? 0 : -CAPDRV_EBADF;
}

static int f_irq_mask(capdrv_sys *s, capdrv_cap_t irq, bool m)
{
    (void)s;
    (void)m;
    return irq == IRQ_CAP ? 0 : -CAPDRV_EBADF;
}

static int f_cap_release(capdrv_sys *s, capdrv_cap_t cap)
{
    struct dev *d = dev_of(s);
    if (capdrv_cap_type_of(cap) == CAPDRV_CAP_DMABUF) {
        uint64_t i = (cap & 0xffffffffu) - 1u;
        FUZZ_CHECK_MSG(i < d->n_b && d->b[i].live, "release of a dead buffer", (long long)i);
        /* Memory a live queue of an honest controller uses must not go
         * away (a removed one is gone; a forging one may have lied). */
        for (unsigned q = 0; q < NQ && d->rdy && !d->removed && !d->forged; q++) {
            bool sq = d->sq[q].live && ((d->sq[q].base >> 32) & 0xffffffu) == i;
            bool cq = d->cq[q].live && ((d->cq[q].base >> 32) & 0xffffffu) == i;
            if (!sq && !cq)
                continue;
            /* Whether or not the library saw the Create complete
             * intact, it handed the controller this memory: it must keep
             * it until the queue is deleted or the controller disabled
             * (capdrv_nvme_qpair_create() resets after a failed cleanup;
             * regressions/nvme_cq/create-cq-*). */
            bool known = (sq && d->sq[q].confirmed) || (cq && d->cq[q].confirmed);
            fprintf(stderr, "fuzz_nvme_cq: released the memory of live %s %u (%s)\n",
                    sq ? "SQ" : "CQ", q, known ? "created intact" : "creation unconfirmed");
            FUZZ_CHECK(!"queue memory released while the controller uses it");
        }
        free(d->b[i].cpu);
        d->b[i].cpu = NULL;
        d->b[i].live = false;
        return 0;
    }
    return cap == IRQ_CAP || cap == MMIO_CAP || cap == POOL_CAP || cap == GRANT_CAP
               ? 0
               : -CAPDRV_EBADF;
}

static void f_close(capdrv_sys *s)
{
    (void)s;
}

static const struct capdrv_sys_ops fake_ops = {
    .grant_count = f_grant_count, .grant_info = f_grant_info, .grant_open = f_grant_open,
    .grant_lane = f_grant_lane, .grant_reset = f_grant_reset, .window_info = f_window_info,
    .mmio_open = f_mmio_open, .mmio_read = f_mmio_read, .mmio_write = f_mmio_write,
    .cfg_read = f_cfg_read, .cfg_write = f_cfg_write, .pool_open = f_pool_open,
    .dma_alloc = f_dma_alloc, .dmabuf_info = f_dmabuf_info, .irq_open = f_irq_open,
    .irq_wait = f_irq_wait, .irq_ack = f_irq_ack, .irq_mask = f_irq_mask,
    .cap_release = f_cap_release, .close = f_close};

/* ---- the driver side ------------------------------------------------------ */

struct cmdrec {
    bool submitted; /* the submission call returned 0 */
    unsigned calls;
};

struct harness {
    struct dev *d;
    struct capdrv_nvme_ctrl *c;
    struct capdrv_nvme_qpair *qp[MAX_QP];
    struct cmdrec cmd[MAX_CMDS];
    unsigned n_cmd;
    bool in_submit;
    capdrv_cap_t data_buf;
    struct capdrv_dmabuf_info data;
    struct capdrv_nvme_qpair_opts qo;
};

static struct harness *g_h; /* for the callback's range check only (one input at a time) */

static bool rc_ok(int rc)
{
    switch (-rc) {
    case 0: case CAPDRV_EPERM: case CAPDRV_ENOENT: case CAPDRV_EIO: case CAPDRV_EBADF:
    case CAPDRV_ENOMEM: case CAPDRV_EACCES: case CAPDRV_EFAULT: case CAPDRV_EBUSY:
    case CAPDRV_EEXIST: case CAPDRV_ENODEV: case CAPDRV_EINVAL: case CAPDRV_ENOSPC:
    case CAPDRV_ERANGE: case CAPDRV_ENOSYS: case CAPDRV_EPROTO: case CAPDRV_EOVERFLOW:
    case CAPDRV_ENOTSUP: case CAPDRV_ETIMEDOUT: case CAPDRV_ESTALE: case CAPDRV_ECANCELED:
        return true;
    default:
        return false;
    }
}

/* A call's result: a count (>= 0) or a negative CAPDRV_E code. */
#define CHECK_RC(call, what)                                   \
    do {                                                       \
        int rc_ = (call);                                      \
        FUZZ_CHECK_MSG(rc_ >= 0 || rc_ok(rc_), what, rc_);     \
    } while (0)

static void on_done(void *arg, const struct capdrv_nvme_cpl *cpl)
{
    struct harness *h = g_h;
    struct cmdrec *r = arg;
    FUZZ_CHECK(h != NULL);
    FUZZ_CHECK(r >= h->cmd && r < h->cmd + h->n_cmd); /* one the harness submitted */
    FUZZ_CHECK(r->submitted);                        /* ... successfully */
    FUZZ_CHECK(!h->in_submit);                       /* never from the submitting call */
    r->calls++;
    FUZZ_CHECK_MSG(r->calls == 1, "callbacks of one command", r->calls);
    int st = cpl->status;
    FUZZ_CHECK_MSG(st == 0 || st == -CAPDRV_EIO || st == -CAPDRV_ETIMEDOUT ||
                       st == -CAPDRV_ECANCELED || st == -CAPDRV_EPROTO || st == -CAPDRV_ENODEV,
                   "completion status", st);
}

static void op_submit(struct harness *h, struct fuzz_rd *r, unsigned kind)
{
    uint8_t p = fuzz_rd8(r);
    struct capdrv_nvme_qpair *qp = h->qp[p % MAX_QP];
    uint8_t nb = fuzz_rd8(r), sb = fuzz_rd8(r), ob = fuzz_rd8(r);
    if (!qp || h->n_cmd >= MAX_CMDS)
        return;
    struct cmdrec *rec = &h->cmd[h->n_cmd++];
    uint32_t nlb = 1u + nb % 32u;
    uint64_t off = (uint64_t)(ob & 0x3fu) * 4u + (uint64_t)((ob >> 6) & 3u) * PAGE;
    uint64_t len = (uint64_t)nlb * LBA;
    if (off + len > DATA_BYTES)
        off = 0;
    struct capdrv_dma_seg seg[2];
    unsigned nseg = 1;
    seg[0].ref = capdrv_dma_ref(&h->data, (size_t)off);
    seg[0].len = (uint32_t)len;
    if ((p & 0x80u) && len >= 2u * LBA) { /* two segments, split at a page */
        uint64_t first = PAGE - (off % PAGE);
        if (first < len) {
            seg[0].len = (uint32_t)first;
            seg[1].ref = capdrv_dma_ref(&h->data, (size_t)(off + first));
            seg[1].len = (uint32_t)(len - first);
            nseg = 2;
        }
    }
    h->in_submit = true;
    int rc;
    if (kind == 0)
        rc = capdrv_nvme_read(qp, 1, sb % 80u, nlb, seg, nseg, on_done, rec);
    else if (kind == 1)
        rc = capdrv_nvme_write(qp, 1, sb % 80u, nlb, seg, nseg, on_done, rec);
    else
        rc = capdrv_nvme_flush(qp, (p & 0x40u) ? 0xffffffffu : 1u, on_done, rec);
    h->in_submit = false;
    CHECK_RC(rc, "submit rc");
    rec->submitted = rc == 0;
}

static void op_qpair_create(struct harness *h, unsigned i)
{
    if (h->qp[i])
        return;
    int rc = capdrv_nvme_qpair_create(h->c, &h->qo, &h->qp[i]);
    CHECK_RC(rc, "qpair_create rc");
    if (rc < 0)
        h->qp[i] = NULL;
}

static void op_admin(struct harness *h, struct fuzz_rd *r)
{
    static uint8_t buf[PAGE];
    uint8_t k = fuzz_rd8(r);
    int rc;
    switch (k & 3u) {
    case 0:
        rc = capdrv_nvme_identify(h->c, (uint8_t)((k >> 2) % 4u), (k >> 4) & 1u, buf);
        break;
    case 1: {
        uint32_t dw0 = 0;
        rc = capdrv_nvme_get_features(h->c, (k >> 2) & 0xfu, 0, 0, NULL, 0, &dw0);
        break;
    }
    case 2:
        rc = capdrv_nvme_get_log_page(h->c, 0x02, 0xffffffffu, 0, buf, 512);
        break;
    default: {
        uint32_t dw0 = 0;
        rc = capdrv_nvme_abort(h->c, (uint16_t)fuzz_rd8(r), (uint16_t)fuzz_rdn(r, 2), &dw0);
        break;
    }
    }
    CHECK_RC(rc, "admin rc");
}

static void run(struct harness *h, struct fuzz_rd *r)
{
    struct dev *d = h->d;
    for (unsigned ops = 0; r->n > 0 && ops < MAX_OPS; ops++) {
        uint8_t op = fuzz_rd8(r);
        struct capdrv_nvme_qpair *qp = h->qp[(op >> 4) % MAX_QP];
        int rc = 0;
        switch (op & 15u) {
        case 0: case 1: case 2:
            op_submit(h, r, op & 15u);
            break;
        case 3:
            if (qp)
                rc = capdrv_nvme_qpair_ring(qp);
            break;
        case 4:
            if (qp)
                rc = capdrv_nvme_qpair_poll(qp, fuzz_rd8(r) % 16u);
            break;
        case 5:
            if (qp)
                rc = capdrv_nvme_qpair_wait(qp, (int64_t)(fuzz_rd8(r) % 8u) * 1000000);
            break;
        case 6:
            rc = (op & 0x10u) ? capdrv_nvme_ctrl_process_admin(h->c) : capdrv_nvme_ctrl_check(h->c);
            break;
        case 7:
            rc = capdrv_nvme_ctrl_reset(h->c);
            break;
        case 8: {
            unsigned i = (op >> 4) % MAX_QP;
            if (h->qp[i]) {
                rc = capdrv_nvme_qpair_destroy(h->qp[i]);
                h->qp[i] = NULL;
            }
            break;
        }
        case 9:
            op_qpair_create(h, (op >> 4) % MAX_QP);
            break;
        case 10:
            op_admin(h, r);
            break;
        case 11: { /* CSTS values of the input's choice for the next reads */
            static const uint32_t v[4] = {0xffffffffu, 3u, 0u, 1u};
            uint8_t b = fuzz_rd8(r);
            d->csts_override = (b & 4u) ? (uint32_t)fuzz_rdn(r, 4) : v[b & 3u];
            d->csts_override_n = 1u + (b >> 3) % 8u;
            /* A lie about its state (e.g. all ones: "removed") lets the
             * library give up queues the fake still runs. */
            d->forged = true;
            break;
        }
        case 12: /* the controller releases what it held */
            pend_flush(d, true);
            break;
        case 13: { /* a completion out of nowhere, on any CQ */
            uint8_t e[16];
            unsigned cq = (op >> 4) % NQ;
            cqe_fill(e, (uint32_t)fuzz_rdn(r, 4), (uint16_t)fuzz_rdn(r, 2), (uint16_t)fuzz_rdn(r, 2),
                     (uint16_t)fuzz_rdn(r, 2), (uint16_t)fuzz_rdn(r, 2));
            d->forged = true;
            (void)cq_write(d, cq, e, (op & 0x80u) != 0, false);
            break;
        }
        case 14: /* surprise removal, or fatal status */
            if (op & 0x10u)
                d->removed = true;
            else
                d->cfs = true;
            break;
        default: { /* a namespace query; a info calls */
            struct capdrv_nvme_ns_info ni;
            rc = capdrv_nvme_ns_info(h->c, 1u + ((op >> 4) & 1u), &ni);
            if (qp) {
                struct capdrv_nvme_qpair_info qi;
                FUZZ_CHECK(capdrv_nvme_qpair_info(qp, &qi) == 0);
                FUZZ_CHECK(capdrv_nvme_qpair_why(qp) != NULL);
            }
            break;
        }
        }
        CHECK_RC(rc, "op rc");
    }
}

static void setup_device(struct dev *d, struct fuzz_rd *r, uint8_t mode)
{
    d->sys.ops = &fake_ops;
    /* CAP: MQES 63, CQR, TO 1 (500 ms), DSTRD 0, CSS NVM, MPSMIN 0, MPSMAX 4. */
    d->cap = 63u | 1u << 16 | 1u << 24 | 1ull << 37 | 4ull << 52;
    if (mode & 1u) {
        uint64_t c = fuzz_rdn(r, 8);
        /* TO 0..1 and DSTRD 0..1: waits and doorbells stay in bounds of
         * the harness, the rest is the input's. */
        d->cap = (c & ~(0xffull << 24) & ~(0xfull << 32)) | (c & (1ull << 24)) |
                 (c & (1ull << 32));
    }
    uint8_t *id = d->id_ctrl;
    fuzz_put_le(id, 2, 0x1b36);
    memcpy(id + 4, "fuzz-serial         ", 20);
    memcpy(id + 24, "fuzz controller                         ", 40);
    memcpy(id + 64, "fuzz0001", 8);
    id[77] = 5;   /* MDTS: 128 KiB */
    id[259] = 3;  /* AERL */
    id[512] = 0x66;
    id[513] = 0x44;
    fuzz_put_le(id + 516, 4, 1); /* NN */
    if (mode & 2u) {
        unsigned n = fuzz_rd8(r) % 8u;
        for (unsigned i = 0; i < n; i++) {
            uint16_t off = (uint16_t)(fuzz_rdn(r, 2) % PAGE);
            id[off] = fuzz_rd8(r);
        }
    }
    fuzz_put_le(d->id_ns, 8, NS_BLOCKS);      /* NSZE */
    fuzz_put_le(d->id_ns + 8, 8, NS_BLOCKS);  /* NCAP */
    fuzz_put_le(d->id_ns + 16, 8, NS_BLOCKS); /* NUSE */
    d->id_ns[130] = 9;                   /* LBAF0.LBADS: 512 bytes */
    d->n_irqs = (mode & 4u) ? 1u : 0u;
    unsigned want = 1u + ((mode >> 3) & 3u) % 3u;
    unsigned grant = (mode >> 5) & 3u;
    d->io_granted = grant ? grant : want;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t mode = size > 0 ? data[0] : 0;
    size_t a = size > 1 ? data[1] : 0, body = size > 2 ? size - 2 : 0;
    if (a > body)
        a = body;
    struct fuzz_rd r = {data + (size > 2 ? 2 : size), body - a};
    struct fuzz_rd dr = {data + size - a, a}; /* the controller's part */
    struct harness *h = calloc(1, sizeof *h);
    struct dev *d = calloc(1, sizeof *d);
    FUZZ_CHECK(h && d);
    h->d = d;
    g_h = h;
    setup_device(d, &r, mode);
    d->in = &dr;
    capdrv_sys *sys = &d->sys;

    capdrv_cap_t grant = 0, pool = 0;
    FUZZ_CHECK(capdrv_grant_open(sys, 0, &grant) == 0);
    FUZZ_CHECK(capdrv_pool_open(sys, grant, &pool) == 0);
    FUZZ_CHECK(capdrv_dma_alloc(sys, pool, DATA_BYTES, &h->data_buf, &h->data) == 0);
    unsigned base_bufs = d->n_b;

    struct capdrv_nvme_ctrl_opts o = {
        .pool = pool,
        .admin_depth = 8,
        .io_queues = 1u + ((mode >> 3) & 3u) % 3u,
        .polling = (mode & 4u) == 0,
        .admin_timeout_ns = 4000000,
        .io_timeout_ns = 4000000,
    };
    h->qo = (struct capdrv_nvme_qpair_opts){.depth = (mode & 0x80u) ? 2u : 8u,
                                            .polling = o.polling, .max_xfer = 64u * 1024u};
    char why[160];
    memset(why, 'x', sizeof why);
    int rc = capdrv_nvme_ctrl_open(sys, grant, &o, &h->c, why, sizeof why);
    CHECK_RC(rc, "ctrl_open rc");
    if (rc < 0)
        FUZZ_CHECK(memchr(why, '\0', sizeof why) != NULL); /* a reason, terminated */
    if (fuzz_verbose())
        fprintf(stderr, "fuzz_nvme_cq: open rc=%d%s%s\n", rc, rc ? " why=" : "", rc ? why : "");
    if (rc == 0) {
        FUZZ_CHECK(h->c != NULL);
        struct capdrv_nvme_ns_info ni;
        CHECK_RC(capdrv_nvme_ns_info(h->c, 1, &ni), "ns_info rc");
        op_qpair_create(h, 0);
        run(h, &r);
        for (unsigned i = 0; i < MAX_QP; i++)
            if (h->qp[i])
                CHECK_RC(capdrv_nvme_qpair_destroy(h->qp[i]), "qpair_destroy rc");
        capdrv_nvme_ctrl_close(h->c);
        /* Exactly once: every accepted command completed. */
        for (unsigned i = 0; i < h->n_cmd; i++)
            if (h->cmd[i].submitted)
                FUZZ_CHECK_MSG(h->cmd[i].calls == 1, "callbacks of an accepted command",
                               h->cmd[i].calls);
    } else {
        FUZZ_CHECK(h->c == NULL);
    }
    for (unsigned i = 0; i < h->n_cmd; i++)
        if (!h->cmd[i].submitted)
            FUZZ_CHECK(h->cmd[i].calls == 0);
    /* Everything the library allocated is released again. */
    for (unsigned i = base_bufs; i < d->n_b; i++)
        FUZZ_CHECK_MSG(!d->b[i].live, "library buffer left", (long long)i);
    if (fuzz_verbose())
        fprintf(stderr, "fuzz_nvme_cq: %u commands, %u buffers\n", h->n_cmd, d->n_b);
    FUZZ_CHECK(capdrv_cap_release(sys, h->data_buf) == 0);
    for (unsigned i = 0; i < d->n_b; i++)
        free(d->b[i].cpu);
    g_h = NULL;
    free(d);
    free(h);
    return 0;
}
