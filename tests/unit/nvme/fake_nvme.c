/* A fake NVMe controller behind a capdrv_sys backend; see fake_nvme.h.
 * Controller-side rules from NVMe Base 2.0 (§3.1.3 registers, §3.3.1
 * queues, §4.1 PRP/SGL, §3.3.3.2 CQE, §5 admin commands) and NVM Command Set
 * 1.0 §3 (I/O commands). Written without looking at src/nvme. */
#include "fake_nvme.h"

#include <stdlib.h>
#include <string.h>

#define MMIO_HANDLE 0x0200000000000001ull
#define IRQ_HANDLE(v) (0x0500000000000001ull + (v))
#define BUF_HANDLE(i) (0x0400000000000001ull + (i))
#define REF_BASE(i) (0x00b0000000000000ull + ((uint64_t)(i) << 32))

#define ST(sct, sc) ((uint16_t)((sct) << 8 | (sc)))
#define ST_OK 0
#define ST_INVALID_OPCODE ST(0, 0x01)
#define ST_INVALID_FIELD ST(0, 0x02)
#define ST_XFER_ERROR ST(0, 0x04)
#define ST_ABORT_REQ ST(0, 0x07)
#define ST_ABORT_SQ_DEL ST(0, 0x08)
#define ST_INVALID_NS ST(0, 0x0b)
#define ST_SEQ_ERROR ST(0, 0x0c)
#define ST_PRP_OFFSET ST(0, 0x13)
#define ST_LBA_RANGE ST(0, 0x80)
#define ST_CQ_INVALID ST(1, 0x00)
#define ST_QID_INVALID ST(1, 0x01)
#define ST_QSIZE_INVALID ST(1, 0x02)
#define ST_AER_LIMIT ST(1, 0x05)
#define ST_INVALID_IV ST(1, 0x08)
#define ST_LOG_INVALID ST(1, 0x09)
#define ST_QDEL_INVALID ST(1, 0x0c)

static struct fn *F(capdrv_sys *s)
{
    return (struct fn *)(void *)s;
}

static uint64_t rd(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void wr(uint8_t *p, unsigned n, uint64_t v)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

void *fn_ref(struct fn *f, uint64_t ref, size_t len)
{
    for (unsigned i = 0; i < f->n_buf; i++) {
        struct fn_buf *b = &f->buf[i];
        if (b->live && ref >= b->ref && ref - b->ref <= b->size && len <= b->size - (ref - b->ref))
            return (uint8_t *)b->cpu + (ref - b->ref);
    }
    return NULL;
}

static unsigned page_size(const struct fn *f)
{
    return 1u << (12u + ((f->cc >> 7) & 0xfu));
}

static unsigned dstrd(const struct fn *f)
{
    return (unsigned)((f->cap >> 32) & 0xfu);
}

/* ---- Interrupts and completions (§3.3.3.2) ---------------------------- */

static void raise_irq(struct fn *f, struct fn_cq *cq)
{
    if (cq->ien && !f->no_irq && cq->iv < f->n_vectors)
        f->irq_pending |= 1ull << cq->iv;
}

static void write_cqe(struct fn *f, struct fn_cq *cq, uint32_t dw0, uint16_t sqhd, uint16_t sqid,
                      uint16_t cid, uint16_t status, bool wrong_phase)
{
    if ((cq->tail + 1u) % cq->size == cq->head) {
        f->cq_overflows++; /* §3.3.1.5: full; a real controller would stall */
        return;
    }
    uint8_t *e = fn_ref(f, cq->base + (uint64_t)cq->tail * 16u, 16);
    if (!e) {
        f->bad_dma++;
        return;
    }
    uint16_t phase = wrong_phase ? (uint16_t)!cq->phase : cq->phase;
    wr(e + 0, 4, dw0);
    wr(e + 4, 4, 0);
    wr(e + 8, 2, sqhd);
    wr(e + 10, 2, sqid);
    wr(e + 12, 2, cid);
    wr(e + 14, 2, (uint64_t)((uint16_t)(status << 1) | phase));
    if (++cq->tail == cq->size) {
        cq->tail = 0;
        cq->phase ^= 1u;
    }
}

/* Move the tail one slot on without writing it (FN_PHASE_AHEAD). */
static void skip_cqe(struct fn_cq *cq)
{
    if (++cq->tail == cq->size) {
        cq->tail = 0;
        cq->phase ^= 1u;
    }
}

bool fn_post_cqe(struct fn *f, unsigned cqid, uint16_t sqid, uint16_t cid, uint16_t sqhd,
                 uint16_t status)
{
    if (cqid >= FN_MAX_Q || !f->cq[cqid].live)
        return false;
    struct fn_cq *cq = &f->cq[cqid];
    if ((cq->tail + 1u) % cq->size == cq->head)
        return false;
    write_cqe(f, cq, 0, sqhd, sqid, cid, status, false);
    raise_irq(f, cq);
    return true;
}

void fn_cqe_at(struct fn *f, unsigned cqid, unsigned slot, uint16_t sqid, uint16_t cid,
               uint16_t sqhd, uint16_t status, uint16_t phase)
{
    if (cqid >= FN_MAX_Q || slot >= f->cq[cqid].size)
        return;
    uint8_t *e = fn_ref(f, f->cq[cqid].base + (uint64_t)slot * 16u, 16);
    if (!e) {
        f->bad_dma++;
        return;
    }
    wr(e + 0, 4, 0);
    wr(e + 4, 4, 0);
    wr(e + 8, 2, sqhd);
    wr(e + 10, 2, sqid);
    wr(e + 12, 2, cid);
    wr(e + 14, 2, (uint64_t)((uint16_t)(status << 1) | (phase & 1u)));
}

static bool hostile_applies(struct fn *f, unsigned qid)
{
    if (f->hostile == FN_OK || (f->hostile_qid >= 0 && (unsigned)f->hostile_qid != qid))
        return false;
    if (f->hostile_skip) {
        f->hostile_skip--;
        return false;
    }
    if (f->hostile_count) {
        if (--f->hostile_count == 0) {
            f->hostile = FN_OK;
            return true;
        }
    }
    return true;
}

/* Post the completion of command @cid from SQ @qid. */
static void complete(struct fn *f, unsigned qid, uint16_t cid, uint16_t status, uint32_t dw0)
{
    struct fn_sq *sq = &f->sq[qid];
    if (!sq->live || sq->cqid >= FN_MAX_Q || !f->cq[sq->cqid].live)
        return;
    struct fn_cq *cq = &f->cq[sq->cqid];
    uint16_t sqhd = (uint16_t)sq->head, sqid = (uint16_t)qid;
    enum fn_hostile h = f->hostile;
    bool bad = hostile_applies(f, qid);
    bool phase = false, dup = false, extra = false;
    if (bad) {
        switch (h) {
        case FN_BAD_CID: cid ^= 0x8000u; break;
        case FN_CID_VALUE: cid = f->hostile_cid; break;
        case FN_DUP: dup = true; break;
        case FN_SQHD: sqhd = (uint16_t)(sq->size + 1u); break;
        case FN_SQHD_AHEAD: sqhd = (uint16_t)((sq->tail + 1u) % sq->size); break;
        case FN_PHASE: phase = true; break;
        case FN_SQID: sqid = f->hostile_sqid; break;
        case FN_EXTRA: extra = true; break;
        case FN_PHASE_AHEAD:
            if ((cq->tail + 2u) % cq->size != cq->head)
                skip_cqe(cq);
            break;
        case FN_PHASE_FLIP: cq->phase ^= 1u; break;
        default: break;
        }
    }
    write_cqe(f, cq, dw0, sqhd, sqid, cid, status, phase);
    if (dup)
        write_cqe(f, cq, dw0, sqhd, sqid, cid, status, false);
    if (extra)
        write_cqe(f, cq, 0, sqhd, sqid, f->hostile_cid, 0, false);
    raise_irq(f, cq);
}

/* ---- Data pointers (§4.1.1 PRP, §4.1.2 SGL) --------------------------- */

struct xfer {
    uint8_t *p[512];
    uint32_t len[512];
    unsigned n;
};

static int add_piece(struct fn *f, struct xfer *x, uint64_t ref, uint32_t len)
{
    if (x->n == 512)
        return -1;
    uint8_t *p = fn_ref(f, ref, len);
    if (!p) {
        f->bad_dma++;
        return -1;
    }
    x->p[x->n] = p;
    x->len[x->n++] = len;
    return 0;
}

static uint16_t walk_prp(struct fn *f, uint64_t prp1, uint64_t prp2, uint64_t len, struct xfer *x)
{
    uint64_t ps = page_size(f);
    if (prp1 & 3u)
        return ST_PRP_OFFSET;
    uint64_t first = ps - (prp1 & (ps - 1u));
    if (first > len)
        first = len;
    if (add_piece(f, x, prp1, (uint32_t)first) < 0)
        return ST_XFER_ERROR;
    len -= first;
    if (!len)
        return ST_OK;
    if (len <= ps) {
        /* PRP2 is the second (last) page. */
        if (prp2 & (ps - 1u))
            return ST_PRP_OFFSET;
        return add_piece(f, x, prp2, (uint32_t)len) < 0 ? ST_XFER_ERROR : ST_OK;
    }
    /* PRP2 is a list; its last entry chains when more remain. */
    uint64_t list = prp2;
    if (list & 7u)
        return ST_PRP_OFFSET;
    unsigned per = (unsigned)(ps / 8u);
    for (unsigned guard = 0; len && guard < 4096; guard++) {
        unsigned start = (unsigned)((list & (ps - 1u)) / 8u);
        uint8_t *l = fn_ref(f, list - (list & (ps - 1u)), ps);
        if (!l) {
            f->bad_dma++;
            return ST_XFER_ERROR;
        }
        for (unsigned i = start; i < per && len; i++) {
            uint64_t e = rd(l + 8u * i, 8);
            if (i == per - 1u && len > ps) {
                list = e; /* chain */
                break;
            }
            if (e & (ps - 1u))
                return ST_PRP_OFFSET;
            uint64_t n = len < ps ? len : ps;
            if (add_piece(f, x, e, (uint32_t)n) < 0)
                return ST_XFER_ERROR;
            len -= n;
        }
    }
    return len ? ST_XFER_ERROR : ST_OK;
}

static uint16_t walk_sgl(struct fn *f, const uint8_t *d, uint64_t len, struct xfer *x)
{
    uint64_t got = 0;
    uint8_t cur[16];
    memcpy(cur, d, 16);
    const uint8_t *seg = NULL;
    unsigned seg_n = 0, seg_i = 0;
    for (unsigned guard = 0; guard < 100000; guard++) {
        unsigned type = cur[15] >> 4;
        uint64_t addr = rd(cur, 8);
        uint32_t l = (uint32_t)rd(cur + 8, 4);
        if (type == 0x0) { /* Data Block */
            if (add_piece(f, x, addr, l) < 0)
                return ST_XFER_ERROR;
            got += l;
        } else if (type == 0x2 || type == 0x3) { /* Segment / Last Segment */
            if (l == 0 || l % 16u || !(seg = fn_ref(f, addr, l))) {
                f->bad_dma++;
                return ST_XFER_ERROR;
            }
            seg_n = l / 16u;
            seg_i = 0;
        } else {
            return ST(0, 0x11); /* SGL Descriptor Type Invalid */
        }
        if (!seg || seg_i == seg_n)
            break;
        memcpy(cur, seg + 16u * seg_i++, 16);
    }
    return got == len ? ST_OK : ST(0, 0x0f); /* Data SGL Length Invalid */
}

static uint16_t map_data(struct fn *f, const uint8_t *sqe, uint64_t len, struct xfer *x)
{
    unsigned psdt = sqe[1] >> 6;
    x->n = 0;
    if (psdt == 0)
        return walk_prp(f, rd(sqe + 24, 8), rd(sqe + 32, 8), len, x);
    if (psdt == 1 && (rd(f->id_ctrl + 536, 4) & 3u))
        return walk_sgl(f, sqe + 24, len, x);
    return ST_INVALID_FIELD;
}

static void copy_out(struct xfer *x, const uint8_t *src, uint64_t len)
{
    for (unsigned i = 0; i < x->n && len; i++) {
        uint32_t n = x->len[i] < len ? x->len[i] : (uint32_t)len;
        memcpy(x->p[i], src, n);
        src += n;
        len -= n;
    }
}

static void copy_in(struct xfer *x, uint8_t *dst, uint64_t len)
{
    for (unsigned i = 0; i < x->n && len; i++) {
        uint32_t n = x->len[i] < len ? x->len[i] : (uint32_t)len;
        memcpy(dst, x->p[i], n);
        dst += n;
        len -= n;
    }
}

/* ---- Admin commands (§5) ---------------------------------------------- */

static void hold(struct fn *f, unsigned qid, uint16_t cid, uint8_t opc)
{
    for (unsigned i = 0; i < FN_MAX_HELD; i++)
        if (!f->held[i].used) {
            f->held[i] = (struct fn_held){true, (uint16_t)qid, cid, opc};
            return;
        }
}

static void post_event(struct fn *f)
{
    while (f->n_aer && f->n_ev) {
        uint32_t dw0 = f->ev_pending[0];
        memmove(f->ev_pending, f->ev_pending + 1, (f->n_ev - 1u) * sizeof f->ev_pending[0]);
        f->n_ev--;
        uint16_t cid = f->aer_cid[0];
        memmove(f->aer_cid, f->aer_cid + 1, (f->n_aer - 1u) * sizeof f->aer_cid[0]);
        f->n_aer--;
        f->ev_masked |= (uint8_t)(1u << (dw0 & 7u));
        complete(f, 0, cid, ST_OK, dw0);
    }
}

void fn_event(struct fn *f, uint32_t dw0)
{
    if (f->ev_masked & (1u << (dw0 & 7u)))
        return; /* §5.2: masked until the host reads the log page */
    if (f->n_ev < 8)
        f->ev_pending[f->n_ev++] = dw0;
    post_event(f);
}

static uint16_t xfer_to_host(struct fn *f, const uint8_t *sqe, const void *src, uint64_t len)
{
    struct xfer x;
    uint16_t st = map_data(f, sqe, len, &x);
    if (st == ST_OK)
        copy_out(&x, src, len);
    return st;
}

static uint16_t identify(struct fn *f, const uint8_t *sqe)
{
    uint8_t data[4096];
    memset(data, 0, sizeof data);
    uint32_t nsid = (uint32_t)rd(sqe + 4, 4);
    unsigned cns = (unsigned)rd(sqe + 40, 4) & 0xffu;
    switch (cns) {
    case 0x01:
        memcpy(data, f->id_ctrl, sizeof data);
        break;
    case 0x00:
        if (nsid == 0 || nsid == 0xffffffffu)
            return ST_INVALID_NS;
        if (f->id_ns_raw) {
            memcpy(data, f->id_ns_raw, sizeof data);
        } else if (nsid <= f->nn) {
            wr(data + 0, 8, FN_NS_BLOCKS);
            wr(data + 8, 8, FN_NS_BLOCKS);
            wr(data + 16, 8, FN_NS_BLOCKS);
            data[25] = 0;           /* NLBAF: one format */
            data[26] = 0;           /* FLBAS: format 0 */
            data[128 + 2] = (uint8_t)f->lba_shift;
        }
        break;
    case 0x02: {
        if (f->ns_list_raw) {
            memcpy(data, f->ns_list_raw, sizeof data);
            break;
        }
        unsigned n = 0;
        for (uint32_t id = nsid + 1u; id <= f->nn && n < 1024; id++)
            wr(data + 4u * n++, 4, id);
        break;
    }
    default:
        return ST_INVALID_FIELD;
    }
    return xfer_to_host(f, sqe, data, sizeof data);
}

static uint16_t get_log(struct fn *f, const uint8_t *sqe)
{
    uint32_t cdw10 = (uint32_t)rd(sqe + 40, 4), cdw11 = (uint32_t)rd(sqe + 44, 4);
    unsigned lid = cdw10 & 0xffu;
    bool rae = (cdw10 >> 15) & 1u;
    uint64_t numd = ((uint64_t)(cdw11 & 0xffffu) << 16 | cdw10 >> 16) + 1u;
    uint64_t off = rd(sqe + 48, 4) | rd(sqe + 52, 4) << 32;
    uint8_t page[4096];
    memset(page, 0, sizeof page);
    size_t size;
    switch (lid) {
    case 0x01:
        size = 64u * 4u;
        wr(page + 0, 8, 7);        /* error_count */
        wr(page + 8, 2, 1);        /* sqid */
        wr(page + 10, 2, 0x1234);  /* cmdid */
        break;
    case 0x02:
        size = 512;
        page[0] = 0x02;            /* critical_warning: temperature */
        wr(page + 1, 2, 310);      /* temperature, K */
        page[3] = 100;             /* avail_spare */
        page[4] = 10;
        wr(page + 128, 8, 42);     /* power_on_hours */
        break;
    case 0x03:
        size = 512;
        memcpy(page + 8, "capdrv01", 8);
        break;
    default:
        return ST_LOG_INVALID;
    }
    if (off + numd * 4u > size)
        return ST_INVALID_FIELD;
    if (!rae) {
        /* §5.2: reading the page clears the event type it belongs to. */
        if (lid == 0x01)
            f->ev_masked &= (uint8_t)~1u;
        if (lid == 0x02)
            f->ev_masked &= (uint8_t)~2u;
    }
    return xfer_to_host(f, sqe, page + off, numd * 4u);
}

static void delete_sq(struct fn *f, unsigned qid)
{
    /* §5.7: outstanding commands are aborted (SQ deletion) first. */
    for (unsigned i = 0; i < FN_MAX_HELD; i++)
        if (f->held[i].used && f->held[i].sqid == qid) {
            f->held[i].used = false;
            complete(f, qid, f->held[i].cid, ST_ABORT_SQ_DEL, 0);
        }
    f->sq[qid].live = false;
}

static uint16_t admin(struct fn *f, const uint8_t *sqe, uint32_t *dw0, bool *held)
{
    uint8_t opc = sqe[0];
    uint32_t cdw10 = (uint32_t)rd(sqe + 40, 4), cdw11 = (uint32_t)rd(sqe + 44, 4);
    unsigned qid = cdw10 & 0xffffu, qsize = (cdw10 >> 16) + 1u;
    unsigned mqes = (unsigned)(f->cap & 0xffffu) + 1u;
    f->admin_cmds++;
    f->last_admin_opc = opc;
    f->last_cdw10 = cdw10;
    f->last_cdw11 = cdw11;
    switch (opc) {
    case 0x00: /* Delete I/O SQ */
        if (qid == 0 || qid >= FN_MAX_Q || !f->sq[qid].live)
            return ST_QID_INVALID;
        delete_sq(f, qid);
        return ST_OK;
    case 0x01: { /* Create I/O SQ */
        unsigned cqid = cdw11 >> 16;
        if (qid == 0 || qid >= FN_MAX_Q || qid > f->nq_granted || f->sq[qid].live)
            return ST_QID_INVALID;
        if (qsize < 2 || qsize > mqes)
            return ST_QSIZE_INVALID;
        if (!(cdw11 & 1u))
            return ST_INVALID_FIELD; /* CAP.CQR: contiguous only */
        if (cqid == 0 || cqid >= FN_MAX_Q || !f->cq[cqid].live)
            return ST_CQ_INVALID;
        uint64_t base = rd(sqe + 24, 8);
        if ((base & (page_size(f) - 1u)) || !fn_ref(f, base, (size_t)qsize * 64u))
            return ST_INVALID_FIELD;
        f->sq[qid] = (struct fn_sq){true, base, qsize, 0, 0, (uint16_t)cqid};
        return ST_OK;
    }
    case 0x02:
        return get_log(f, sqe);
    case 0x04: /* Delete I/O CQ */
        if (qid == 0 || qid >= FN_MAX_Q || !f->cq[qid].live)
            return ST_QID_INVALID;
        for (unsigned i = 1; i < FN_MAX_Q; i++)
            if (f->sq[i].live && f->sq[i].cqid == qid)
                return ST_QDEL_INVALID;
        f->cq[qid].live = false;
        return ST_OK;
    case 0x05: { /* Create I/O CQ */
        if (qid == 0 || qid >= FN_MAX_Q || qid > f->nq_granted || f->cq[qid].live)
            return ST_QID_INVALID;
        if (qsize < 2 || qsize > mqes)
            return ST_QSIZE_INVALID;
        if (!(cdw11 & 1u))
            return ST_INVALID_FIELD;
        unsigned iv = cdw11 >> 16;
        bool ien = (cdw11 >> 1) & 1u;
        if (ien && iv >= f->n_vectors)
            return ST_INVALID_IV;
        uint64_t base = rd(sqe + 24, 8);
        if ((base & (page_size(f) - 1u)) || !fn_ref(f, base, (size_t)qsize * 16u))
            return ST_INVALID_FIELD;
        f->cq[qid] = (struct fn_cq){true, base, qsize, 0, 0, 1, (uint16_t)iv, ien};
        return ST_OK;
    }
    case 0x06:
        return identify(f, sqe);
    case 0x08: { /* Abort */
        unsigned sqid = cdw10 & 0xffffu, cid = cdw10 >> 16;
        if (f->abort_dropped) {
            *held = true;
            return ST_OK;
        }
        *dw0 = 1; /* not aborted */
        if (f->abort_ignored)
            return ST_OK;
        for (unsigned i = 0; i < FN_MAX_HELD; i++)
            if (f->held[i].used && f->held[i].sqid == sqid && f->held[i].cid == cid) {
                f->held[i].used = false;
                complete(f, sqid, (uint16_t)cid, ST_ABORT_REQ, 0);
                f->aborts_honoured++;
                *dw0 = 0;
                break;
            }
        return ST_OK;
    }
    case 0x09: { /* Set Features */
        unsigned fid = cdw10 & 0xffu;
        if (fid == 0x07) {
            if (f->nq_granted)
                return ST_SEQ_ERROR; /* only once after enable (§5.27.1.5) */
            unsigned want = (cdw11 & 0xffffu) + 1u;
            f->nq_granted = want < f->max_ioq ? want : f->max_ioq;
            *dw0 = (f->nq_granted - 1u) | (f->nq_granted - 1u) << 16;
            return ST_OK;
        }
        if (fid == 0 || fid == 0xff)
            return ST_INVALID_FIELD;
        f->feat[fid] = cdw11;
        return ST_OK;
    }
    case 0x0a: { /* Get Features */
        unsigned fid = cdw10 & 0xffu;
        if (fid == 0x07) {
            *dw0 = f->nq_granted ? (f->nq_granted - 1u) | (f->nq_granted - 1u) << 16 : 0;
            return ST_OK;
        }
        if (fid == 0 || fid == 0xff)
            return ST_INVALID_FIELD;
        *dw0 = f->feat[fid];
        return ST_OK;
    }
    case 0x0c: /* AER */
        if (f->n_aer >= (unsigned)f->id_ctrl[259] + 1u)
            return ST_AER_LIMIT;
        f->aer_cid[f->n_aer++] = (uint16_t)rd(sqe + 2, 2);
        *held = true;
        return ST_OK;
    case 0x18:
        return ST_OK;
    case 0x7c: { /* Doorbell Buffer Config */
        if (!(rd(f->id_ctrl + 256, 2) & 0x100u))
            return ST_INVALID_OPCODE;
        uint64_t a = rd(sqe + 24, 8), b = rd(sqe + 32, 8);
        unsigned ps = page_size(f);
        if ((a | b) & (ps - 1u) || !fn_ref(f, a, ps) || !fn_ref(f, b, ps))
            return ST_INVALID_FIELD;
        f->dbbuf = true;
        f->db_shadow = a;
        f->db_event = b;
        return ST_OK;
    }
    default:
        return ST_INVALID_OPCODE;
    }
}

/* ---- NVM commands (NVM 1.0 §3) ---------------------------------------- */

static uint16_t nvm(struct fn *f, const uint8_t *sqe)
{
    uint8_t opc = sqe[0];
    uint32_t nsid = (uint32_t)rd(sqe + 4, 4);
    uint64_t slba = rd(sqe + 40, 4) | rd(sqe + 44, 4) << 32;
    uint32_t cdw12 = (uint32_t)rd(sqe + 48, 4);
    uint64_t nlb = (cdw12 & 0xffffu) + 1u;
    f->io_cmds++;
    f->last_io_psdt = sqe[1] >> 6;
    if (opc == 0x00)
        return (nsid >= 1 && nsid <= f->nn) || nsid == 0xffffffffu ? ST_OK : ST_INVALID_NS;
    if (nsid == 0 || nsid > f->nn)
        return ST_INVALID_NS;
    uint8_t *disk = f->disk[nsid - 1u];
    unsigned bs = 1u << f->lba_shift;
    uint16_t oncs = (uint16_t)rd(f->id_ctrl + 520, 2);
    switch (opc) {
    case 0x01:
    case 0x02: {
        if (slba + nlb > FN_NS_BLOCKS)
            return ST_LBA_RANGE;
        uint64_t len = nlb * bs;
        /* MDTS as the library reads it (a fuzzer may set any byte there). */
        uint64_t mdts = capdrv_nvme_mdts_bytes(f->id_ctrl[77], 0);
        if (mdts && len > mdts)
            return ST_INVALID_FIELD;
        struct xfer x;
        uint16_t st = map_data(f, sqe, len, &x);
        if (st != ST_OK)
            return st;
        if (opc == 0x02)
            copy_out(&x, disk + slba * bs, len);
        else
            copy_in(&x, disk + slba * bs, len);
        return ST_OK;
    }
    case 0x08:
        if (!(oncs & 0x8u))
            return ST_INVALID_OPCODE;
        if (slba + nlb > FN_NS_BLOCKS)
            return ST_LBA_RANGE;
        memset(disk + slba * bs, 0, nlb * bs);
        return ST_OK;
    case 0x09: {
        if (!(oncs & 0x4u))
            return ST_INVALID_OPCODE;
        unsigned nr = ((unsigned)rd(sqe + 40, 4) & 0xffu) + 1u;
        uint32_t attr = (uint32_t)rd(sqe + 44, 4);
        uint8_t r[256 * 16];
        struct xfer x;
        uint16_t st = map_data(f, sqe, nr * 16u, &x);
        if (st != ST_OK)
            return st;
        copy_in(&x, r, nr * 16u);
        for (unsigned i = 0; i < nr; i++) {
            uint64_t s = rd(r + 16u * i + 8, 8), n = rd(r + 16u * i + 4, 4);
            if (s + n > FN_NS_BLOCKS)
                return ST_LBA_RANGE;
            if (attr & 4u) /* AD: deallocated blocks read as zeroes here */
                memset(disk + s * bs, 0, n * bs);
        }
        return ST_OK;
    }
    default:
        return ST_INVALID_OPCODE;
    }
}

/* ---- Queue processing -------------------------------------------------- */

static bool match(int want_q, int want_opc, unsigned qid, uint8_t opc)
{
    return want_q != -2 && (want_q == -1 || (unsigned)want_q == qid) &&
           (want_opc == -1 || want_opc == opc);
}

static bool halted(const struct fn *f)
{
    return f->removed || (f->csts & 2u) || !(f->cc & 1u) || !(f->csts & 1u);
}

static void process(struct fn *f, unsigned qid)
{
    struct fn_sq *sq = &f->sq[qid];
    for (unsigned guard = 0; sq->live && sq->head != sq->tail && guard < 65536; guard++) {
        if (halted(f))
            return;
        uint8_t *e = fn_ref(f, sq->base + (uint64_t)sq->head * 64u, 64);
        sq->head = (sq->head + 1u) % sq->size;
        if (!e) {
            f->bad_dma++;
            continue;
        }
        uint8_t sqe[64];
        memcpy(sqe, e, sizeof sqe);
        uint16_t cid = (uint16_t)rd(sqe + 2, 2);
        uint8_t opc = sqe[0];
        if (match(f->hold_qid, f->hold_opc, qid, opc) && !(qid == 0 && opc == 0x0c)) {
            if (f->hold_count && --f->hold_count == 0)
                f->hold_qid = -2;
            hold(f, qid, cid, opc);
            continue;
        }
        if (match(f->fail_qid, f->fail_opc, qid, opc) && !(qid == 0 && opc == 0x0c)) {
            if (f->fail_count && --f->fail_count == 0)
                f->fail_qid = -2;
            complete(f, qid, cid, f->fail_status, 0);
            continue;
        }
        uint32_t dw0 = 0;
        bool held = false;
        uint16_t st = qid == 0 ? admin(f, sqe, &dw0, &held) : nvm(f, sqe);
        if (held) {
            if (opc != 0x0c)
                hold(f, qid, cid, opc);
            post_event(f);
            continue;
        }
        complete(f, qid, cid, st, dw0);
    }
}

/* Shadow doorbells: take tails/heads from the shadow buffer, then ask for
 * MMIO again at once (EventIdx = value) or, lazily, much later. */
static void shadow_pull(struct fn *f)
{
    if (!f->dbbuf)
        return;
    unsigned stride = 4u << dstrd(f);
    uint8_t *sh = fn_ref(f, f->db_shadow, page_size(f));
    uint8_t *ev = fn_ref(f, f->db_event, page_size(f));
    if (!sh || !ev)
        return;
    for (unsigned q = 1; q < FN_MAX_Q; q++) {
        if ((2u * q + 2u) * stride > page_size(f))
            break;
        if (f->cq[q].live)
            f->cq[q].head = (uint32_t)rd(sh + (2u * q + 1u) * stride, 4) % f->cq[q].size;
        if (!f->sq[q].live)
            continue;
        f->sq[q].tail = (uint32_t)rd(sh + 2u * q * stride, 4) % f->sq[q].size;
        process(f, q);
        uint32_t e = f->sq[q].tail;
        if (f->dbbuf_lazy)
            e = (e + 0x8000u) & 0xffffu;
        wr(ev + 2u * q * stride, 4, e);
        wr(ev + (2u * q + 1u) * stride, 4, f->dbbuf_lazy ? 0x8000u : f->cq[q].head);
    }
}

void fn_serve(struct fn *f)
{
    shadow_pull(f);
    for (unsigned q = 0; q < FN_MAX_Q; q++)
        process(f, q);
}

void fn_release_held(struct fn *f, uint16_t status)
{
    for (unsigned i = 0; i < FN_MAX_HELD; i++)
        if (f->held[i].used) {
            f->held[i].used = false;
            complete(f, f->held[i].sqid, f->held[i].cid, status, 0);
        }
}

unsigned fn_held_count(const struct fn *f)
{
    unsigned n = 0;
    for (unsigned i = 0; i < FN_MAX_HELD; i++)
        n += f->held[i].used;
    return n;
}

/* ---- Registers (§3.1.3) ------------------------------------------------ */

static void controller_reset(struct fn *f)
{
    memset(f->sq, 0, sizeof f->sq);
    memset(f->cq, 0, sizeof f->cq);
    memset(f->held, 0, sizeof f->held);
    f->n_aer = 0;
    f->nq_granted = 0;
    f->dbbuf = false;
    f->csts &= ~(1u | 2u | 0xcu);
}

static void write_cc(struct fn *f, uint32_t v)
{
    uint32_t old = f->cc;
    f->cc = v;
    if ((old & 1u) && !(v & 1u)) {
        f->disables++;
        controller_reset(f);
        if (f->stuck_ready)
            f->csts |= 1u;
        return;
    }
    if (!(old & 1u) && (v & 1u)) {
        f->enables++;
        f->en_time = f->now_ns;
        /* Without Bus Master the controller cannot fetch a command or post a
         * completion: real controllers (QEMU's) report that as CFS. */
        if (f->cfs_on_enable || !(f->command & 0x0004u)) {
            f->csts |= 2u;
            return;
        }
        /* Admin queue from AQA/ASQ/ACQ (§3.5.1 step 3). */
        unsigned asqs = (f->aqa & 0xfffu) + 1u, acqs = ((f->aqa >> 16) & 0xfffu) + 1u;
        f->sq[0] = (struct fn_sq){true, f->asq, asqs, 0, 0, 0};
        f->cq[0] = (struct fn_cq){true, f->acq, acqs, 0, 0, 1, 0, true};
        if (!fn_ref(f, f->asq, (size_t)asqs * 64u) || !fn_ref(f, f->acq, (size_t)acqs * 16u) ||
            ((v >> 16) & 0xfu) != 6u || ((v >> 20) & 0xfu) != 4u)
            f->csts |= 2u; /* a bad setup: fatal */
        return;
    }
    if ((v & 0xc000u) && (v & 1u) && !(old & 0xc000u)) {
        f->shutdowns++;
        if (!f->shutdown_stuck)
            f->csts = (f->csts & ~0xcu) | 0x8u;
    }
}

static uint32_t read_csts(struct fn *f)
{
    if ((f->cc & 1u) && !(f->csts & 1u) && !(f->csts & 2u) && !f->never_ready &&
        f->now_ns - f->en_time >= f->ready_delay_ns)
        f->csts |= 1u;
    return f->csts;
}

static void doorbell(struct fn *f, uint64_t off, uint32_t v)
{
    unsigned stride = 4u << dstrd(f);
    if ((off - 0x1000u) % stride) {
        f->bad_accesses++;
        return;
    }
    unsigned idx = (unsigned)((off - 0x1000u) / stride), qid = idx / 2u;
    if (qid >= FN_MAX_Q) {
        f->bad_accesses++;
        return;
    }
    if (idx & 1u) {
        f->cq_doorbells++;
        if (f->cq[qid].live && v < f->cq[qid].size)
            f->cq[qid].head = v;
        else
            f->bad_accesses++;
        return;
    }
    f->sq_doorbells++;
    if (!f->sq[qid].live || v >= f->sq[qid].size) {
        f->bad_accesses++;
        return;
    }
    f->sq[qid].tail = v;
    if (f->remove_at_doorbell && --f->remove_at_doorbell == 0) {
        f->removed = true;
        return;
    }
    if (f->cfs_at_doorbell && --f->cfs_at_doorbell == 0) {
        f->csts |= 2u;
        return;
    }
    if (f->dbbuf && qid) {
        uint8_t *ev = fn_ref(f, f->db_event, page_size(f));
        uint8_t *sh = fn_ref(f, f->db_shadow, page_size(f));
        if (sh)
            wr(sh + 2u * qid * stride, 4, v);
        (void)ev;
    }
    process(f, qid);
    shadow_pull(f);
}

static int bar_read(struct fn *f, uint64_t off, unsigned width, uint64_t *v)
{
    if (f->removed) {
        *v = width == 8 ? UINT64_MAX : (1ull << (8 * width)) - 1u;
        return 0;
    }
    uint64_t r;
    switch (off & ~7ull) {
    case 0x00: r = f->cap; break;
    case 0x08: r = f->vs; break;
    case 0x10: r = (uint64_t)f->cc << 32; break;
    case 0x18: r = (uint64_t)read_csts(f) << 32; break;
    case 0x20: r = (uint64_t)f->aqa << 32; break;
    case 0x28: r = f->asq; break;
    case 0x30: r = f->acq; break;
    default:
        *v = 0;
        return off < 0x1000 ? 0 : -1; /* doorbells are write-only */
    }
    *v = (r >> (8 * (off & 7u))) & (width == 8 ? UINT64_MAX : (1ull << (8 * width)) - 1u);
    return 0;
}

static int bar_write(struct fn *f, uint64_t off, unsigned width, uint64_t v)
{
    if (f->removed)
        return 0;
    if (off >= 0x1000) {
        if (width != 4)
            return -1;
        doorbell(f, off, (uint32_t)v);
        return 0;
    }
    if (width == 8 && (off == 0x28 || off == 0x30)) {
        *(off == 0x28 ? &f->asq : &f->acq) = v;
        return 0;
    }
    if (width != 4)
        return -1;
    switch (off) {
    case 0x14: write_cc(f, (uint32_t)v); return 0;
    case 0x24: f->aqa = (uint32_t)v; return 0;
    case 0x28: f->asq = (f->asq & ~0xffffffffull) | v; return 0;
    case 0x2c: f->asq = (f->asq & 0xffffffffull) | v << 32; return 0;
    case 0x30: f->acq = (f->acq & ~0xffffffffull) | v; return 0;
    case 0x34: f->acq = (f->acq & 0xffffffffull) | v << 32; return 0;
    case 0x0c: case 0x10: case 0x20: return 0;
    default: return -1;
    }
}

/* ---- capdrv_sys operations --------------------------------------------- */

static int op_count(capdrv_sys *s)
{
    (void)s;
    return 1;
}

static int op_info(capdrv_sys *s, unsigned index, struct capdrv_grant_info *out)
{
    struct fn *f = F(s);
    if (index)
        return -CAPDRV_ENOENT;
    memset(out, 0, sizeof *out);
    strcpy(out->name, "nvme0");
    out->cls = CAPDRV_GRANT_NVME_CONTROLLER;
    out->lane = (enum capdrv_lane)f->lane;
    out->n_windows = 1;
    out->n_irqs = f->n_vectors;
    return 0;
}

static int op_open(capdrv_sys *s, unsigned index, capdrv_cap_t *grant)
{
    (void)s;
    if (index)
        return -CAPDRV_ENOENT;
    *grant = FN_GRANT;
    return 0;
}

static int op_lane(capdrv_sys *s, capdrv_cap_t grant)
{
    return grant == FN_GRANT ? F(s)->lane : -CAPDRV_EBADF;
}

static int op_reset(capdrv_sys *s, capdrv_cap_t grant)
{
    (void)s;
    (void)grant;
    return -CAPDRV_ENOSYS;
}

static int op_window(capdrv_sys *s, capdrv_cap_t grant, unsigned w, struct capdrv_window_info *out)
{
    if (grant != FN_GRANT)
        return -CAPDRV_EBADF;
    if (w)
        return -CAPDRV_ENOENT;
    *out = F(s)->win;
    return 0;
}

static int op_mmio_open(capdrv_sys *s, capdrv_cap_t grant, unsigned w, capdrv_cap_t *mmio)
{
    struct fn *f = F(s);
    if (grant != FN_GRANT)
        return -CAPDRV_EBADF;
    if (w)
        return -CAPDRV_ENOENT;
    if (f->mmio_open)
        return -CAPDRV_EBUSY;
    f->mmio_open = true;
    *mmio = MMIO_HANDLE;
    return 0;
}

static int check_access(struct fn *f, capdrv_cap_t mmio, uint64_t off, unsigned width)
{
    if (mmio != MMIO_HANDLE || !f->mmio_open)
        return -CAPDRV_EBADF;
    if ((width != 4 && width != 8) || off % width) {
        f->bad_accesses++;
        return -CAPDRV_EINVAL;
    }
    if (off + width > f->win.length) {
        f->bad_accesses++;
        return -CAPDRV_EFAULT;
    }
    return 0;
}

static int op_mmio_read(capdrv_sys *s, capdrv_cap_t mmio, uint64_t off, unsigned width, uint64_t *v)
{
    struct fn *f = F(s);
    int rc = check_access(f, mmio, off, width);
    if (rc < 0)
        return rc;
    if (bar_read(f, off, width, v) < 0) {
        f->bad_accesses++;
        return -CAPDRV_EFAULT;
    }
    return 0;
}

/* The kernel's check of an admin SQ tail doorbell (refuse_opc). */
static bool refused_by_kernel(struct fn *f, uint64_t off, uint64_t v)
{
    struct fn_sq *sq = &f->sq[0];
    if (f->refuse_opc < 0 || off != 0x1000u || !sq->live || v >= sq->size)
        return false;
    for (uint32_t i = sq->tail; i != v; i = (i + 1u) % sq->size) {
        const uint8_t *e = fn_ref(f, sq->base + (uint64_t)i * 64u, 64);
        if (e && e[0] == (uint8_t)f->refuse_opc)
            return true;
    }
    return false;
}

static int op_mmio_write(capdrv_sys *s, capdrv_cap_t mmio, uint64_t off, unsigned width, uint64_t v)
{
    struct fn *f = F(s);
    int rc = check_access(f, mmio, off, width);
    if (rc < 0)
        return rc;
    if (refused_by_kernel(f, off, v)) {
        f->refused++;
        return f->refuse_rc;
    }
    if (bar_write(f, off, width, v) < 0) {
        f->bad_accesses++;
        return -CAPDRV_EFAULT;
    }
    return 0;
}

static int op_cfg_read(capdrv_sys *s, capdrv_cap_t grant, uint32_t off, unsigned width, uint32_t *v)
{
    if (grant != FN_GRANT)
        return -CAPDRV_EBADF;
    struct fn *f = (struct fn *)s;
    /* Only PCI COMMAND is modelled (PCI Local Bus 3.0 §6.2.2). */
    *v = off == 0x04 && width == 2 ? f->command : 0;
    return 0;
}

static int op_cfg_write(capdrv_sys *s, capdrv_cap_t grant, uint32_t off, unsigned width, uint32_t v)
{
    if (grant != FN_GRANT)
        return -CAPDRV_EBADF;
    struct fn *f = (struct fn *)s;
    if (off != 0x04 || width != 2)
        return -CAPDRV_EPERM;
    f->command = (uint16_t)(v & 0x0006u);
    return 0;
}

static int op_pool_open(capdrv_sys *s, capdrv_cap_t grant, capdrv_cap_t *pool)
{
    (void)s;
    if (grant != FN_GRANT)
        return -CAPDRV_EBADF;
    *pool = FN_POOL;
    return 0;
}

static int op_dma_alloc(capdrv_sys *s, capdrv_cap_t pool, size_t size, capdrv_cap_t *buf,
                        struct capdrv_dmabuf_info *info)
{
    struct fn *f = F(s);
    if (pool != FN_POOL)
        return -CAPDRV_EBADF;
    if (size == 0)
        return -CAPDRV_EINVAL;
    size = (size + 4095u) & ~(size_t)4095u;
    if (f->n_buf == FN_MAX_BUFS)
        return -CAPDRV_ENOSPC;
    void *p = aligned_alloc(4096, size);
    if (!p)
        return -CAPDRV_ENOMEM;
    memset(p, 0, size);
    struct fn_buf *b = &f->buf[f->n_buf];
    b->cpu = p;
    b->size = size;
    b->ref = REF_BASE(f->n_buf + 1);
    b->live = true;
    *buf = BUF_HANDLE(f->n_buf);
    f->n_buf++;
    info->cpu = p;
    info->size = size;
    info->ref_base = b->ref;
    return 0;
}

static int op_dmabuf_info(capdrv_sys *s, capdrv_cap_t buf, struct capdrv_dmabuf_info *info)
{
    struct fn *f = F(s);
    uint64_t i = buf - BUF_HANDLE(0);
    if (i >= f->n_buf || !f->buf[i].live)
        return -CAPDRV_ESTALE;
    info->cpu = f->buf[i].cpu;
    info->size = f->buf[i].size;
    info->ref_base = f->buf[i].ref;
    return 0;
}

static int op_irq_open(capdrv_sys *s, capdrv_cap_t grant, unsigned v, capdrv_cap_t *irq)
{
    struct fn *f = F(s);
    if (grant != FN_GRANT)
        return -CAPDRV_EBADF;
    if (v >= f->n_vectors || v >= FN_MAX_VECTORS)
        return -CAPDRV_ENOENT;
    if (f->irq_open[v])
        return -CAPDRV_EBUSY;
    f->irq_open[v] = true;
    *irq = IRQ_HANDLE(v);
    return 0;
}

static int op_irq_wait(capdrv_sys *s, const capdrv_cap_t *irqs, unsigned n, int64_t t,
                       uint64_t *ready)
{
    struct fn *f = F(s);
    if (n == 0 || n > 64)
        return -CAPDRV_EINVAL;
    f->irq_waits++;
    /* A controller polling its shadow doorbells notices new work while the
     * host waits. */
    if (f->dbbuf && !halted(f))
        shadow_pull(f);
    uint64_t m = 0;
    int c = 0;
    for (unsigned i = 0; i < n; i++) {
        uint64_t v = irqs[i] - IRQ_HANDLE(0);
        if (v >= FN_MAX_VECTORS || !f->irq_open[v])
            return -CAPDRV_EBADF;
        if (f->irq_pending & (1ull << v)) {
            m |= 1ull << i;
            c++;
        }
    }
    *ready = m;
    if (c)
        return c;
    /* Nothing pending: the whole timeout passes (fake time). */
    if (t > 0)
        f->now_ns += (uint64_t)t;
    return -CAPDRV_ETIMEDOUT;
}

static int op_irq_ack(capdrv_sys *s, capdrv_cap_t irq)
{
    struct fn *f = F(s);
    uint64_t v = irq - IRQ_HANDLE(0);
    if (v >= FN_MAX_VECTORS || !f->irq_open[v])
        return -CAPDRV_EBADF;
    f->irq_pending &= ~(1ull << v);
    return 0;
}

static int op_irq_mask(capdrv_sys *s, capdrv_cap_t irq, bool masked)
{
    (void)s;
    (void)irq;
    (void)masked;
    return 0;
}

static int op_release(capdrv_sys *s, capdrv_cap_t cap)
{
    struct fn *f = F(s);
    uint64_t i;
    switch (capdrv_cap_type_of(cap)) {
    case CAPDRV_CAP_MMIO:
        if (cap != MMIO_HANDLE || !f->mmio_open)
            return -CAPDRV_ESTALE;
        f->mmio_open = false;
        return 0;
    case CAPDRV_CAP_IRQ:
        i = cap - IRQ_HANDLE(0);
        if (i >= FN_MAX_VECTORS || !f->irq_open[i])
            return -CAPDRV_ESTALE;
        f->irq_open[i] = false;
        return 0;
    case CAPDRV_CAP_DMABUF:
        i = cap - BUF_HANDLE(0);
        if (i >= f->n_buf || !f->buf[i].live)
            return -CAPDRV_ESTALE;
        /* Memory of a queue the enabled controller still has: the library
         * gave it away too early. */
        for (unsigned q = 0; q < FN_MAX_Q && (f->csts & 1u) && !f->removed; q++) {
            struct fn_buf *b = &f->buf[i];
            if ((f->sq[q].live && f->sq[q].base - b->ref < b->size) ||
                (f->cq[q].live && f->cq[q].base - b->ref < b->size))
                f->bad_release++;
        }
        f->buf[i].live = false;
        free(f->buf[i].cpu);
        f->buf[i].cpu = NULL;
        return 0;
    default:
        return 0;
    }
}

static void op_close(capdrv_sys *s)
{
    (void)s;
}

static const struct capdrv_sys_ops fn_ops = {
    .grant_count = op_count, .grant_info = op_info, .grant_open = op_open,
    .grant_lane = op_lane, .grant_reset = op_reset, .window_info = op_window,
    .mmio_open = op_mmio_open, .mmio_read = op_mmio_read, .mmio_write = op_mmio_write,
    .cfg_read = op_cfg_read, .cfg_write = op_cfg_write, .pool_open = op_pool_open,
    .dma_alloc = op_dma_alloc, .dmabuf_info = op_dmabuf_info, .irq_open = op_irq_open,
    .irq_wait = op_irq_wait, .irq_ack = op_irq_ack, .irq_mask = op_irq_mask,
    .cap_release = op_release, .close = op_close,
};

void fn_id_set(struct fn *f, unsigned off, unsigned width, uint64_t v)
{
    wr(f->id_ctrl + off, width, v);
}

void fn_identity(struct fn *f)
{
    uint8_t *id = f->id_ctrl;
    wr(id + 516, 4, f->nn); /* NN */
}

void fn_init(struct fn *f, int lane)
{
    memset(f, 0, sizeof *f);
    f->sys.ops = &fn_ops;
    f->lane = lane;
    f->n_vectors = FN_MAX_VECTORS;
    f->win = (struct capdrv_window_info){.name = "bar0", .bar = 0, .offset = 0,
                                         .length = FN_BAR0_LEN,
                                         .flags = CAPDRV_WINDOW_READ | CAPDRV_WINDOW_WRITE};
    /* CAP (§3.1.3.1): MQES 1023, CQR, TO 2 (1 s), DSTRD 0, CSS bit 37
     * (NVM), MPSMIN 0, MPSMAX 4. */
    f->cap = 1023u | 1u << 16 | 2u << 24 | 1ull << 37 | 4ull << 52;
    f->vs = 0x00020000u;
    f->nn = 1;
    f->lba_shift = 9;
    f->max_ioq = 8;
    f->hold_qid = f->fail_qid = -2;
    f->hostile_qid = -1;
    f->refuse_opc = -1;
    for (unsigned i = 0; i < FN_MAX_NS; i++)
        f->disk[i] = calloc(FN_NS_BLOCKS, 4096);
    uint8_t *id = f->id_ctrl;
    wr(id + 0, 2, 0x1b36);
    wr(id + 2, 2, 0x1af4);
    memset(id + 4, ' ', 20);
    memcpy(id + 4, "FAKE-0001", 9);
    memset(id + 24, ' ', 40);
    memcpy(id + 24, "capdrv fake NVMe", 16);
    memcpy(id + 64, "fake1.0 ", 8);
    id[77] = 5;         /* MDTS: 128 KiB */
    wr(id + 78, 2, 1);  /* CNTLID */
    wr(id + 80, 4, 0x00020000u);
    id[258] = 3;        /* ACL */
    id[259] = 3;        /* AERL */
    id[262] = 63;       /* ELPE */
    id[512] = 0x66;
    id[513] = 0x44;
    wr(id + 520, 2, 0x0c); /* ONCS: DSM, Write Zeroes */
    id[525] = 1;        /* VWC */
    memcpy(id + 768, "nqn.2024-01.org.capdrv:fake", 27);
    wr(id + 2048, 2, 2500); /* PSD0 MP */
    fn_identity(f);
}

capdrv_sys *fn_sys(struct fn *f)
{
    return &f->sys;
}

uint8_t *fn_disk(struct fn *f, uint32_t nsid)
{
    return nsid >= 1 && nsid <= FN_MAX_NS ? f->disk[nsid - 1u] : NULL;
}

int fn_alloc(struct fn *f, size_t size, struct capdrv_dmabuf_info *bi)
{
    capdrv_cap_t b;
    int rc = op_dma_alloc(&f->sys, FN_POOL, size, &b, bi);
    if (rc == 0)
        f->buf[f->n_buf - 1u].test = true;
    return rc;
}

void fn_fini(struct fn *f)
{
    for (unsigned i = 0; i < f->n_buf; i++) {
        free(f->buf[i].cpu);
        f->buf[i].cpu = NULL;
        f->buf[i].live = false;
    }
    for (unsigned i = 0; i < FN_MAX_NS; i++) {
        free(f->disk[i]);
        f->disk[i] = NULL;
    }
}

/* ---- Test scaffolding --------------------------------------------------- */

void fn_done_cb(void *arg, const struct capdrv_nvme_cpl *cpl)
{
    struct fn_done *d = arg;
    d->calls++;
    d->status = cpl->status;
    d->sct = cpl->sct;
    d->sc = cpl->sc;
    d->cid = cpl->cid;
    d->dw0 = cpl->dw0;
}

struct fn *fn_new(int lane)
{
    struct fn *f = malloc(sizeof *f);
    if (f)
        fn_init(f, lane);
    return f;
}

void fn_free(struct fn *f)
{
    if (!f)
        return;
    fn_fini(f);
    free(f);
}

int fn_open(struct fn *f, const struct capdrv_nvme_ctrl_opts *o, struct capdrv_nvme_ctrl **c,
            char *why, size_t why_len)
{
    struct capdrv_nvme_ctrl_opts def = {.pool = FN_POOL};
    return capdrv_nvme_ctrl_open(fn_sys(f), FN_GRANT, o ? o : &def, c, why, why_len);
}

unsigned fn_live_bufs(const struct fn *f)
{
    unsigned n = 0;
    for (unsigned i = 0; i < f->n_buf; i++)
        n += f->buf[i].live && !f->buf[i].test;
    return n;
}
