/* Simulated NVMe controller: admin commands (NVM Express Base 2.0 §5):
 * queue management, Identify, Get Log Page, Set/Get Features, Abort,
 * Asynchronous Event Request, Keep Alive. Admin commands use PRPs only
 * (§4.1: for NVMe over PCIe admin commands PSDT shall be 00b). */
#include "dev_nvme.h"

#include <string.h>

#define OPC_DELETE_SQ 0x00u
#define OPC_CREATE_SQ 0x01u
#define OPC_GET_LOG 0x02u
#define OPC_DELETE_CQ 0x04u
#define OPC_CREATE_CQ 0x05u
#define OPC_IDENTIFY 0x06u
#define OPC_ABORT 0x08u
#define OPC_SET_FEATURES 0x09u
#define OPC_GET_FEATURES 0x0au
#define OPC_AER 0x0cu
#define OPC_KEEP_ALIVE 0x18u

#define FID_TEMP 0x04u
#define FID_VWC 0x06u
#define FID_NQ 0x07u
#define FID_COALESCE 0x08u
#define FID_AEC 0x0bu
#define WCTEMP_K 0x157u /* 343 K: Identify WCTEMP and the default over-threshold */
#define AEC_MASK 0x000003ffu /* SMART warnings 7:0, namespace attribute 8, firmware 9 */

static void defaults(const struct nvme_dev *d, struct nvme_features *ft)
{
    unsigned n = d->cfg.max_io_queues - 1u; /* 0's based */
    ft->nq = n << 16 | n;
    ft->coalesce = 0;
    ft->aec = 0;
    ft->temp_over = WCTEMP_K;
    ft->temp_under = 0;
    ft->wce = true;
}

void nvme_features_default(struct nvme_dev *d)
{
    defaults(d, &d->feat);
}

bool nvme_temp_alarm(const struct nvme_dev *d)
{
    return CAPDRV_SIM_NVME_TEMP_K > d->feat.temp_over ||
           CAPDRV_SIM_NVME_TEMP_K < d->feat.temp_under;
}

/* ---- queue management (§5.4, §5.5, §5.6, §5.7) -------------------------- */

static uint16_t create_cq(struct nvme_dev *d, const struct capdrv_nvme_sqe *s)
{
    uint16_t qid = (uint16_t)s->cdw10, qsize = (uint16_t)(s->cdw10 >> 16);
    bool pc = s->cdw11 & 1u, ien = s->cdw11 & 2u;
    uint16_t iv = (uint16_t)(s->cdw11 >> 16);
    if (NVME_CC_IOCQES(d->cc) != 4)
        return NVME_S_INVALID_FIELD; /* CC.IOCQES must be set first (§3.1.3.5) */
    if (qid == 0 || qid > nvme_ncq(d) || qid >= NVME_MAX_QUEUES || d->cq[qid].valid)
        return NVME_S_QID_INVALID;
    if (qsize == 0 || qsize > d->cfg.mqes - 1u)
        return NVME_S_QSIZE_INVALID;
    if (!pc)
        return NVME_S_INVALID_FIELD; /* CAP.CQR = 1: contiguous queues only */
    if (s->dptr.prp.prp1 & (nvme_page_size(d) - 1u))
        return NVME_S_PRP_OFFSET; /* the base is memory page aligned */
    if (ien && iv >= d->cfg.max_io_queues + 1u)
        return NVME_S_INVALID_VECTOR;
    d->cq[qid] = (struct nvme_cq){.valid = true,
                                  .ien = ien,
                                  .phase = true,
                                  .base = s->dptr.prp.prp1,
                                  .size = (uint16_t)(qsize + 1u),
                                  .iv = iv};
    d->n_ioq++;
    return NVME_OK;
}

static uint16_t create_sq(struct nvme_dev *d, const struct capdrv_nvme_sqe *s)
{
    uint16_t qid = (uint16_t)s->cdw10, qsize = (uint16_t)(s->cdw10 >> 16);
    bool pc = s->cdw11 & 1u;
    uint16_t cqid = (uint16_t)(s->cdw11 >> 16);
    if (NVME_CC_IOSQES(d->cc) != 6)
        return NVME_S_INVALID_FIELD;
    if (qid == 0 || qid > nvme_nsq(d) || qid >= NVME_MAX_QUEUES || d->sq[qid].valid)
        return NVME_S_QID_INVALID;
    if (qsize == 0 || qsize > d->cfg.mqes - 1u)
        return NVME_S_QSIZE_INVALID;
    if (!pc)
        return NVME_S_INVALID_FIELD;
    if (cqid == 0 || cqid >= NVME_MAX_QUEUES || !d->cq[cqid].valid)
        return NVME_S_CQ_INVALID; /* the admin CQ cannot take I/O completions */
    if (s->dptr.prp.prp1 & (nvme_page_size(d) - 1u))
        return NVME_S_PRP_OFFSET;
    d->sq[qid] = (struct nvme_sq){.valid = true,
                                  .base = s->dptr.prp.prp1,
                                  .size = (uint16_t)(qsize + 1u),
                                  .cqid = cqid};
    d->cq[cqid].users++;
    d->n_ioq++;
    return NVME_OK;
}

static uint16_t delete_sq(struct capdrv_sim *sim, struct sim_fn *f, uint16_t qid)
{
    struct nvme_dev *d = nvme_of(f);
    if (qid == 0 || qid >= NVME_MAX_QUEUES || !d->sq[qid].valid)
        return NVME_S_QID_INVALID;
    /* §5.7 (Delete I/O SQ): commands still held for the SQ complete with Command Aborted
     * due to SQ Deletion before the queue goes. */
    for (unsigned i = 0; i < NVME_POOL; i++) {
        struct nvme_wait *w = &d->pool[i];
        if (w->state != W_SLOW || w->sqid != qid)
            continue;
        struct nvme_cpl c = {.sqid = qid, .cid = w->sqe.cid, .nsid = w->sqe.nsid,
                             .status = NVME_S_ABORT_SQ_DEL};
        nvme_pool_put(d, w);
        nvme_complete(sim, f, c);
    }
    for (unsigned i = 0; i <= NVME_ACL; i++)
        if (d->marks[i].sqid == qid)
            d->marks[i].used = false;
    d->cq[d->sq[qid].cqid].users--;
    memset(&d->sq[qid], 0, sizeof d->sq[qid]);
    d->n_ioq--;
    return NVME_OK;
}

static uint16_t delete_cq(struct nvme_dev *d, uint16_t qid)
{
    if (qid == 0 || qid >= NVME_MAX_QUEUES || !d->cq[qid].valid)
        return NVME_S_QID_INVALID;
    if (d->cq[qid].users > 0)
        return NVME_S_QUEUE_DELETION; /* §5.6 (Delete I/O CQ): delete its SQs first */
    for (unsigned i = 0; i < NVME_POOL; i++)
        if (d->pool[i].state == W_STALLED && d->pool[i].cqid == qid)
            nvme_pool_put(d, &d->pool[i]);
    memset(&d->cq[qid], 0, sizeof d->cq[qid]);
    d->n_ioq--;
    return NVME_OK;
}

/* ---- Identify (§5.17) and Get Log Page (§5.16) ---------------------------- */

static uint16_t identify(struct capdrv_sim *sim, struct sim_fn *f, const struct capdrv_nvme_sqe *s)
{
    const struct nvme_dev *d = nvme_of(f);
    uint8_t buf[NVME_IDENT_SIZE];
    memset(buf, 0, sizeof buf);
    uint8_t cns = (uint8_t)s->cdw10;
    bool active = s->nsid >= 1 && s->nsid <= d->nns;
    switch (cns) {
    case 0x00: /* namespace; FFFFFFFFh needs namespace management */
        if (!active)
            return NVME_S_INVALID_NS;
        nvme_ident_ns(d, s->nsid, buf);
        break;
    case 0x01:
        nvme_ident_ctrl(d, buf);
        break;
    case 0x02: /* active NSIDs greater than NSID */
        if (s->nsid >= 0xfffffffeu)
            return NVME_S_INVALID_NS;
        nvme_ident_nslist(d, s->nsid, buf);
        break;
    case 0x03:
        if (!active)
            return NVME_S_INVALID_NS;
        nvme_ident_nsdesc(buf);
        break;
    default:
        return NVME_S_INVALID_FIELD;
    }
    return nvme_dptr_copy(sim, f, s, buf, sizeof buf, true, false);
}

static uint16_t get_log(struct capdrv_sim *sim, struct sim_fn *f, const struct capdrv_nvme_sqe *s)
{
    struct nvme_dev *d = nvme_of(f);
    uint8_t lid = (uint8_t)s->cdw10;
    uint64_t numd = ((uint64_t)(s->cdw11 & 0xffffu) << 16 | (s->cdw10 >> 16)) + 1u;
    uint64_t len = numd * 4u, off = (uint64_t)s->cdw13 << 32 | s->cdw12;
    uint8_t buf[NVME_IDENT_SIZE];
    memset(buf, 0, sizeof buf);
    size_t size = nvme_log_page(d, lid, buf);
    if (size == 0)
        return NVME_S_INVALID_LOG;
    if (s->nsid != 0 && s->nsid != 0xffffffffu && !(s->nsid <= d->nns))
        return NVME_S_INVALID_NS;
    /* §5.16: the offset is dword aligned and inside the log; bytes past
     * its end read 0 (buf is zero beyond size). */
    if ((off & 3u) || off >= size || len > nvme_max_xfer(d))
        return NVME_S_INVALID_FIELD;
    uint8_t out[NVME_IDENT_SIZE];
    size_t n = len < sizeof out ? (size_t)len : sizeof out;
    memset(out, 0, sizeof out);
    memcpy(out, buf + off, size - (size_t)off < n ? size - (size_t)off : n);
    if (len <= sizeof out)
        return nvme_dptr_copy(sim, f, s, out, (size_t)len, true, false);
    /* Longer than any log: the rest is zero, moved a page at a time. */
    unsigned nseg;
    uint16_t st = nvme_dptr_decode(sim, f, s, len, false, &nseg);
    if (st != NVME_OK)
        return st;
    for (uint64_t done = 0; done < len && st == NVME_OK; done += sizeof out) {
        size_t k = len - done < sizeof out ? (size_t)(len - done) : sizeof out;
        st = nvme_dptr_xfer(sim, f, nseg, done, out, k, true);
        memset(out, 0, sizeof out);
    }
    return st;
}

/* ---- features (§5.27, §5.15) ----------------------------------------------- */

static uint16_t set_temp(struct capdrv_sim *sim, struct sim_fn *f, uint32_t v)
{
    struct nvme_dev *d = nvme_of(f);
    unsigned tmpsel = (v >> 16) & 0xfu, thsel = (v >> 20) & 0x3u;
    if (tmpsel != 0 || thsel > 1) /* composite sensor; over / under */
        return NVME_S_INVALID_FIELD;
    if (thsel == 0)
        d->feat.temp_over = (uint16_t)v;
    else
        d->feat.temp_under = (uint16_t)v;
    bool alarm = nvme_temp_alarm(d);
    if (alarm && !d->smart_temp_warn && (d->feat.aec & 0x2u))
        nvme_event(sim, f, NVME_AE_SMART, NVME_AE_INFO_TEMP, NVME_LOG_SMART);
    d->smart_temp_warn = alarm;
    return NVME_OK;
}

static uint16_t set_features(struct capdrv_sim *sim, struct sim_fn *f,
                             const struct capdrv_nvme_sqe *s, uint32_t *dw0)
{
    struct nvme_dev *d = nvme_of(f);
    uint8_t fid = (uint8_t)s->cdw10;
    uint32_t v = s->cdw11;
    if (s->cdw10 & (1u << 31))
        return NVME_S_NOT_SAVEABLE; /* SV: nothing is saveable */
    switch (fid) {
    case FID_TEMP:
        return set_temp(sim, f, v);
    case FID_VWC:
        d->feat.wce = v & 1u;
        return NVME_OK;
    case FID_NQ: {
        uint32_t nsqr = v & 0xffffu, ncqr = v >> 16;
        if (nsqr == 0xffffu || ncqr == 0xffffu)
            return NVME_S_INVALID_FIELD;
        if (d->n_ioq > 0)
            return NVME_S_CMD_SEQ; /* §5.27.1.7: only before I/O queues exist */
        uint32_t max = d->cfg.max_io_queues - 1u;
        nsqr = nsqr < max ? nsqr : max;
        ncqr = ncqr < max ? ncqr : max;
        d->feat.nq = ncqr << 16 | nsqr;
        *dw0 = d->feat.nq;
        return NVME_OK;
    }
    case FID_COALESCE:
        d->feat.coalesce = v & 0xffffu; /* stored; completions are not delayed */
        return NVME_OK;
    case FID_AEC:
        d->feat.aec = v & AEC_MASK;
        return NVME_OK;
    default:
        return NVME_S_INVALID_FIELD;
    }
}

static uint16_t get_features(struct nvme_dev *d, const struct capdrv_nvme_sqe *s, uint32_t *dw0)
{
    uint8_t fid = (uint8_t)s->cdw10;
    unsigned sel = (s->cdw10 >> 8) & 0x7u;
    if (sel > 3)
        return NVME_S_INVALID_FIELD;
    struct nvme_features def;
    defaults(d, &def);
    /* SEL 001b default; 010b saved = default (nothing is saveable). */
    const struct nvme_features *ft = sel == 0 ? &d->feat : &def;
    switch (fid) {
    case FID_TEMP: {
        unsigned tmpsel = (s->cdw11 >> 16) & 0xfu, thsel = (s->cdw11 >> 20) & 0x3u;
        if (tmpsel != 0 || thsel > 1)
            return NVME_S_INVALID_FIELD;
        *dw0 = thsel == 0 ? ft->temp_over : ft->temp_under;
        break;
    }
    case FID_VWC:
        *dw0 = ft->wce ? 1u : 0u;
        break;
    case FID_NQ:
        *dw0 = ft->nq;
        break;
    case FID_COALESCE:
        *dw0 = ft->coalesce;
        break;
    case FID_AEC:
        *dw0 = ft->aec;
        break;
    default:
        return NVME_S_INVALID_FIELD;
    }
    if (sel == 3) /* supported capabilities: changeable, not saveable or per namespace */
        *dw0 = 0x4u;
    return NVME_OK;
}

/* ---- Abort (§5.1) and Asynchronous Event Request (§5.2) ----------------- */

static uint32_t abort_cmd(struct capdrv_sim *sim, struct sim_fn *f, const struct capdrv_nvme_sqe *s)
{
    struct nvme_dev *d = nvme_of(f);
    uint16_t sqid = (uint16_t)s->cdw10, cid = (uint16_t)(s->cdw10 >> 16);
    for (unsigned i = 0; i < NVME_POOL; i++) {
        struct nvme_wait *w = &d->pool[i];
        bool hit = (w->state == W_SLOW && w->sqid == sqid && w->sqe.cid == cid) ||
                   (w->state == W_AER && sqid == 0 && w->cpl.cid == cid);
        if (!hit)
            continue;
        struct nvme_cpl c = {.sqid = w->state == W_SLOW ? w->sqid : 0,
                             .cid = cid,
                             .nsid = w->state == W_SLOW ? w->sqe.nsid : 0,
                             .status = NVME_S_ABORT_REQ,
                             .fault = w->cpl.fault};
        nvme_pool_put(d, w);
        d->stats.aborted++;
        nvme_complete(sim, f, c);
        return 0; /* DW0 bit 0 = 0: the command was aborted */
    }
    /* Still in the SQ, not fetched yet (its CQ is full): mark it, so it
     * completes with Command Abort Requested when fetched. */
    if (sqid >= NVME_MAX_QUEUES || !d->sq[sqid].valid)
        return 1;
    const struct nvme_sq *q = &d->sq[sqid];
    for (uint16_t h = q->head; h != q->tail; h = (uint16_t)((h + 1u) % q->size)) {
        uint8_t raw[2];
        uint64_t at = q->base + (uint64_t)h * CAPDRV_NVME_SQE_SIZE + 2u; /* CDW0 CID */
        if (sim_dma_access(sim, f, at, raw, sizeof raw, false) < 0)
            return 1;
        if (sim_le_get(raw, 2) != cid)
            continue;
        for (unsigned i = 0; i <= NVME_ACL; i++) {
            if (!d->marks[i].used) {
                d->marks[i] = (struct nvme_abort_mark){.used = true, .sqid = sqid, .cid = cid};
                d->stats.aborted++;
                return 0;
            }
        }
        return 1; /* ACL + 1 marks outstanding: not aborted */
    }
    return 1; /* not found: completed already, or never held */
}

static bool aer(struct capdrv_sim *sim, struct sim_fn *f, const struct capdrv_nvme_sqe *s,
                struct nvme_cpl *c)
{
    struct nvme_dev *d = nvme_of(f);
    (void)sim;
    if (d->aer_outstanding >= NVME_AERL + 1u) {
        c->status = NVME_S_AER_LIMIT;
        return true;
    }
    if (d->n_events > 0) { /* report the oldest waiting event now */
        const struct nvme_event *e = &d->events[0];
        c->dw0 = (uint32_t)e->type | (uint32_t)e->info << 8 | (uint32_t)e->log << 16;
        memmove(&d->events[0], &d->events[1], (d->n_events - 1u) * sizeof d->events[0]);
        d->n_events--;
        return true;
    }
    struct nvme_wait *w = nvme_pool_get(d);
    if (!w) {
        c->status = NVME_S_AER_LIMIT;
        return true;
    }
    w->state = W_AER;
    w->sqid = 0;
    w->cpl = *c;
    w->cpl.cid = s->cid;
    d->aer_outstanding++;
    return false;
}

bool nvme_admin(struct capdrv_sim *sim, struct sim_fn *f, const struct capdrv_nvme_sqe *s,
                struct nvme_cpl *c)
{
    struct nvme_dev *d = nvme_of(f);
    if (capdrv_nvme_sqe_psdt(s) != CAPDRV_NVME_PSDT_PRP || (s->flags & CAPDRV_NVME_SQE_FUSE_MASK)) {
        c->status = NVME_S_INVALID_FIELD;
        return true;
    }
    switch (s->opc) {
    case OPC_DELETE_SQ:
        c->status = delete_sq(sim, f, (uint16_t)s->cdw10);
        return true;
    case OPC_CREATE_SQ:
        c->status = create_sq(d, s);
        return true;
    case OPC_GET_LOG:
        c->status = get_log(sim, f, s);
        return true;
    case OPC_DELETE_CQ:
        c->status = delete_cq(d, (uint16_t)s->cdw10);
        return true;
    case OPC_CREATE_CQ:
        c->status = create_cq(d, s);
        return true;
    case OPC_IDENTIFY:
        c->status = identify(sim, f, s);
        return true;
    case OPC_ABORT:
        c->dw0 = abort_cmd(sim, f, s);
        return true;
    case OPC_SET_FEATURES:
        c->status = set_features(sim, f, s, &c->dw0);
        return true;
    case OPC_GET_FEATURES:
        c->status = get_features(d, s, &c->dw0);
        return true;
    case OPC_AER:
        return aer(sim, f, s, c);
    case OPC_KEEP_ALIVE:
        return true; /* KAS = 0: no timer to restart */
    default:
        c->status = NVME_S_INVALID_OPCODE;
        return true;
    }
}
