/* The harness's minimal NVMe driver (nvme_raw.h). Register offsets and
 * fields: NVMe Base 2.0 §3.1.4; queue entries §4.2 and §4.6. */
#include "nvme_raw.h"

#include <string.h>

#define R_CAP 0x00u
#define R_CC 0x14u
#define R_CSTS 0x1cu
#define R_AQA 0x24u
#define R_ASQ 0x28u
#define R_ACQ 0x30u
#define R_DB 0x1000u
#define CC_ON (1u | 6u << 16 | 4u << 20) /* EN, IOSQES 2^6, IOCQES 2^4, MPS 0, CSS NVM */
#define CSTS_RDY 1u
#define CSTS_CFS 2u
#define PAGE 4096u
#define ADMIN_QSIZE 4u
#define POLL_NS 1000000ull            /* 1 ms between looks */
#define CMD_WAIT_NS 10000000000ull    /* 10 s: TCG guests are slow */

/* The queue buffer's pages. */
enum { P_ASQ, P_ACQ, P_IOSQ, P_IOCQ, P_IDENT, N_PAGES };

void nraw_put_le(uint8_t *p, unsigned bytes, uint64_t v)
{
    for (unsigned i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

uint64_t nraw_get_le(const volatile uint8_t *p, unsigned bytes)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static uint8_t *page(struct nraw *n, unsigned p)
{
    return (uint8_t *)n->q.cpu + (size_t)p * PAGE;
}

static int wr32(struct nraw *n, uint64_t off, uint32_t v)
{
    return capdrv_mmio_write(n->c->conf, n->e->m, off, 4, v);
}

static uint32_t csts(struct nraw *n)
{
    uint64_t v = 0;
    return capdrv_mmio_read(n->c->conf, n->e->m, R_CSTS, 4, &v) == 0 ? (uint32_t)v : 0xffffffffu;
}

/* §3.5.1: wait at most CAP.TO for CSTS.RDY to follow CC.EN; CFS ends it. */
static bool wait_rdy(struct nraw *n, uint32_t rdy)
{
    for (uint64_t t = 0; t <= n->to_ns; t += POLL_NS) {
        uint32_t s = csts(n);
        if (s != 0xffffffffu && !(s & CSTS_CFS) && (s & CSTS_RDY) == rdy)
            return true;
        if (s == 0xffffffffu || (s & CSTS_CFS))
            return false;
        n->c->plat->advance(n->c, POLL_NS);
    }
    return false;
}

uint16_t nraw_sqe(struct nraw *n, uint8_t *sqe, uint8_t opc, uint32_t nsid)
{
    memset(sqe, 0, CAPDRV_NVME_SQE_SIZE);
    n->cid = (uint16_t)(n->cid + 1u);
    sqe[0] = opc;
    nraw_put_le(sqe + 2, 2, n->cid);
    nraw_put_le(sqe + 4, 4, nsid);
    return n->cid;
}

uint8_t *nraw_put(struct nraw *n, unsigned qid, const uint8_t *sqe)
{
    struct nraw_q *q = &n->sq[qid];
    uint8_t *slot = page(n, qid ? P_IOSQ : P_ASQ) + (size_t)q->tail * CAPDRV_NVME_SQE_SIZE;
    memcpy(slot, sqe, CAPDRV_NVME_SQE_SIZE);
    q->tail = (uint16_t)((q->tail + 1u) % q->size);
    return slot;
}

int nraw_ring(struct nraw *n, unsigned qid)
{
    /* §3.3.1.2: the entries are in memory before the tail update. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return wr32(n, R_DB + 2u * qid * n->stride, n->sq[qid].tail);
}

int nraw_release(struct nraw *n, unsigned qid)
{
    return wr32(n, R_DB + (2u * qid + 1u) * n->stride, n->cq[qid].head);
}

bool nraw_next(struct nraw *n, unsigned qid, bool release, uint16_t *cid, uint16_t *status,
               uint16_t *sqhd)
{
    struct nraw_q *q = &n->cq[qid];
    const volatile uint8_t *e = page(n, qid ? P_IOCQ : P_ACQ) + (size_t)q->head * CAPDRV_NVME_CQE_SIZE;
    for (uint64_t t = 0;; t += POLL_NS) {
        uint16_t sf = (uint16_t)nraw_get_le(e + 14, 2);
        if ((sf & 1u) == q->phase) {
            __atomic_thread_fence(__ATOMIC_ACQUIRE); /* the rest of the entry after its phase */
            *cid = (uint16_t)nraw_get_le(e + 12, 2);
            *status = (uint16_t)(sf >> 1);
            *sqhd = (uint16_t)nraw_get_le(e + 8, 2);
            q->head = (uint16_t)((q->head + 1u) % q->size);
            if (q->head == 0)
                q->phase ^= 1u;
            return !release || nraw_release(n, qid) == 0;
        }
        if (t >= CMD_WAIT_NS)
            return false;
        n->c->plat->advance(n->c, POLL_NS);
    }
}

int nraw_cmd(struct nraw *n, unsigned qid, const uint8_t *sqe)
{
    uint16_t want = (uint16_t)nraw_get_le(sqe + 2, 2), cid, status, sqhd;
    (void)nraw_put(n, qid, sqe);
    if (nraw_ring(n, qid) < 0 || !nraw_next(n, qid, true, &cid, &status, &sqhd) || cid != want)
        return -1;
    return status;
}

bool nraw_up(struct nraw *n, struct conf_ctx *c, struct conf_engine *e, uint16_t sq_size,
             uint16_t cq_size)
{
    memset(n, 0, sizeof *n);
    n->c = c;
    n->e = e;
    uint64_t cap = 0;
    if (capdrv_mmio_read(c->conf, e->m, R_CAP, 8, &cap) < 0)
        return conf_fail(c, __FILE__, __LINE__, "CAP cannot be read");
    n->stride = 4u << ((cap >> 32) & 0xfu);
    unsigned to = (unsigned)((cap >> 24) & 0xffu);
    n->to_ns = (uint64_t)(to ? to : 1u) * 500000000ull;
    if (sq_size > (cap & 0xffffu) + 1u || cq_size > (cap & 0xffffu) + 1u)
        return conf_fail(c, __FILE__, __LINE__, "CAP.MQES below the queue sizes");
    if (capdrv_dma_alloc(c->conf, e->pool, N_PAGES * PAGE, &n->qbuf, &n->q) < 0)
        return conf_fail(c, __FILE__, __LINE__, "queue memory");
    memset(n->q.cpu, 0, N_PAGES * PAGE); /* CQs start with Phase Tag 0 */
    n->sq[0] = (struct nraw_q){.size = ADMIN_QSIZE};
    n->cq[0] = (struct nraw_q){.size = ADMIN_QSIZE, .phase = 1};
    uint64_t asq = capdrv_dma_ref(&n->q, P_ASQ * PAGE), acq = capdrv_dma_ref(&n->q, P_ACQ * PAGE);
    /* PCI Local Bus 3.0 §6.2.2: Memory Space and Bus Master, other bits kept. */
    uint32_t cmd = 0;
    int rc = capdrv_cfg_read(c->conf, e->g, 0x04, 2, &cmd);
    if (rc == 0 && (cmd & 0x6u) != 0x6u)
        rc = capdrv_cfg_write(c->conf, e->g, 0x04, 2, cmd | 0x6u);
    if (rc < 0)
        return conf_fail(c, __FILE__, __LINE__, "PCI COMMAND: %s", capdrv_strerror(rc));
    if ((rc = wr32(n, R_CC, 0)) < 0 || !wait_rdy(n, 0))
        return conf_fail(c, __FILE__, __LINE__, "disable: %s, CSTS 0x%x", capdrv_strerror(rc), csts(n));
    if ((rc = wr32(n, R_AQA, (ADMIN_QSIZE - 1u) << 16 | (ADMIN_QSIZE - 1u))) < 0 ||
        (rc = wr32(n, R_ASQ, (uint32_t)asq)) < 0 || (rc = wr32(n, R_ASQ + 4, (uint32_t)(asq >> 32))) < 0 ||
        (rc = wr32(n, R_ACQ, (uint32_t)acq)) < 0 || (rc = wr32(n, R_ACQ + 4, (uint32_t)(acq >> 32))) < 0 ||
        (rc = wr32(n, R_CC, CC_ON)) < 0)
        return conf_fail(c, __FILE__, __LINE__, "admin queue registers, CC: %s", capdrv_strerror(rc));
    if (!wait_rdy(n, 1))
        return conf_fail(c, __FILE__, __LINE__, "enable: CSTS 0x%x after CAP.TO", csts(n));
    /* Identify Namespace 1 (§5.17.2.1, NVM 1.0 §4.1.5.1): the LBA size in use. */
    uint8_t s[CAPDRV_NVME_SQE_SIZE];
    nraw_sqe(n, s, 0x06, 1);
    nraw_put_le(s + 24, 8, capdrv_dma_ref(&n->q, P_IDENT * PAGE));
    if (nraw_cmd(n, 0, s) != 0)
        return conf_fail(c, __FILE__, __LINE__, "Identify Namespace 1 failed");
    const uint8_t *id = page(n, P_IDENT);
    unsigned nlbaf = id[25], fmt = (id[26] & 0xfu) | ((id[26] >> 1) & 0x30u);
    unsigned lbads = fmt <= nlbaf && fmt < 64 ? id[128 + 4 * fmt + 2] : 0;
    if (lbads < 9 || lbads > 12)
        return conf_fail(c, __FILE__, __LINE__, "namespace 1: LBA data size 2^%u", lbads);
    n->lba_bytes = 1u << lbads;
    /* §5.4, §5.5: CQ 1 (PC, no interrupts), then SQ 1 on it. */
    nraw_sqe(n, s, 0x05, 0);
    nraw_put_le(s + 24, 8, capdrv_dma_ref(&n->q, P_IOCQ * PAGE));
    nraw_put_le(s + 40, 4, (uint32_t)(cq_size - 1u) << 16 | 1u);
    nraw_put_le(s + 44, 4, 1u);
    int st = nraw_cmd(n, 0, s);
    if (st != 0)
        return conf_fail(c, __FILE__, __LINE__, "Create I/O CQ: status 0x%x", st);
    nraw_sqe(n, s, 0x01, 0);
    nraw_put_le(s + 24, 8, capdrv_dma_ref(&n->q, P_IOSQ * PAGE));
    nraw_put_le(s + 40, 4, (uint32_t)(sq_size - 1u) << 16 | 1u);
    nraw_put_le(s + 44, 4, 1u << 16 | 1u);
    if ((st = nraw_cmd(n, 0, s)) != 0)
        return conf_fail(c, __FILE__, __LINE__, "Create I/O SQ: status 0x%x", st);
    n->sq[1] = (struct nraw_q){.size = sq_size};
    n->cq[1] = (struct nraw_q){.size = cq_size, .phase = 1};
    return true;
}

bool nraw_hold(struct nraw *n)
{
    uint8_t s[CAPDRV_NVME_SQE_SIZE];
    uint16_t start = n->sq[1].tail, cid, st, sqhd;
    for (int i = 0; i < 3; i++) {
        nraw_sqe(n, s, 0x00, 1); /* Flush (NVM 1.0 §3.2.2): no data */
        (void)nraw_put(n, 1, s);
    }
    if (nraw_ring(n, 1) < 0 || !nraw_next(n, 1, false, &cid, &st, &sqhd) || st != 0)
        return conf_fail(n->c, __FILE__, __LINE__, "hold: the first Flush did not complete");
    if ((unsigned)(sqhd + n->sq[1].size - start) % n->sq[1].size == 3u) {
        for (int i = 0; i < 2; i++) {
            nraw_sqe(n, s, 0x00, 1);
            (void)nraw_put(n, 1, s);
        }
        if (nraw_ring(n, 1) < 0)
            return conf_fail(n->c, __FILE__, __LINE__, "hold: doorbell refused");
        n->c->plat->advance(n->c, 10000000); /* it takes them now */
    }
    return true;
}

int nraw_finish(struct nraw *n, uint16_t cid)
{
    if (nraw_release(n, 1) < 0)
        return -1;
    for (int i = 0; i < 8; i++) {
        uint16_t got, st, sqhd;
        if (!nraw_next(n, 1, true, &got, &st, &sqhd))
            return -1;
        if (got == cid)
            return st;
        if (st != 0)
            return -1;
    }
    return -1;
}

void nraw_down(struct nraw *n)
{
    if (wr32(n, R_CC, 0) == 0)
        (void)wait_rdy(n, 0);
}
