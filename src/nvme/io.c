/* NVM command set submissions on an I/O queue pair (NVM Command Set 1.0
 * §3): Read, Write, Flush, Write Zeroes, Dataset Management and raw
 * commands. Data pointers are built with the PRP/SGL builders
 * (capdrv/prp.h) into the slot's preallocated list pages: nothing is
 * allocated here. */
#include "nvme_internal.h"

#include <string.h>

static int build_dptr(struct capdrv_nvme_qpair *qp, struct nvme_cmd *m,
                      struct capdrv_nvme_sqe *e, const struct capdrv_dma_seg *segs,
                      unsigned nsegs)
{
    struct nvme_queue *q = &qp->q;
    struct capdrv_dma_page pages[NVME_SLOT_LISTS_MAX];
    unsigned n = q->list_per_slot < NVME_SLOT_LISTS_MAX ? q->list_per_slot : NVME_SLOT_LISTS_MAX;
    int rc;
    if (qp->sgl) {
        /* §4.1.2 / §3.3.3.1: PSDT 01b, SGL Entry 1 in DPTR. */
        if (nsegs == 1) {
            rc = capdrv_sgl_build_one(&qp->sglc, segs[0].ref, segs[0].len, &e->dptr, NULL);
        } else {
            for (unsigned i = 0; i < n; i++)
                pages[i] = nvme_queue_list(q, m, i);
            rc = capdrv_sgl_build(&qp->sglc, segs, nsegs, pages, n, &e->dptr, NULL);
        }
        capdrv_nvme_sqe_set_psdt(e, CAPDRV_NVME_PSDT_SGL_MPTR_CONTIG);
    } else {
        /* §4.1.1: PRP1/PRP2, lists in the slot's pages. */
        for (unsigned i = 0; i < n; i++)
            pages[i] = nvme_queue_list(q, m, i);
        if (nsegs == 1)
            rc = capdrv_prp_build_one(&qp->prp, segs[0].ref, segs[0].len, pages, n, &e->dptr,
                                      NULL);
        else
            rc = capdrv_prp_build(&qp->prp, segs, nsegs, pages, n, &e->dptr, NULL);
        capdrv_nvme_sqe_set_psdt(e, CAPDRV_NVME_PSDT_PRP);
    }
    return rc < 0 ? rc : 0;
}

/* Queue one command from @p t (wire order). @p expect: data bytes the
 * command moves (0: not checked). */
static int submit(struct capdrv_nvme_qpair *qp, const struct capdrv_nvme_sqe *t,
                  const struct capdrv_dma_seg *segs, unsigned nsegs, uint64_t expect,
                  capdrv_nvme_cb cb, void *arg)
{
    if (!cb || (nsegs && !segs))
        return -CAPDRV_EINVAL;
    int rc = nvme_qpair_current(qp);
    if (rc < 0)
        return rc;
    if (nsegs > qp->o.max_segs)
        return -CAPDRV_ERANGE;
    uint64_t total = 0;
    for (unsigned i = 0; i < nsegs; i++)
        total += segs[i].len; /* at most 256 x (2^32 - 1): no overflow */
    if (expect && total != expect)
        return -CAPDRV_EINVAL;
    if (total > qp->o.max_xfer)
        return -CAPDRV_ERANGE;
    struct nvme_queue *q = &qp->q;
    struct capdrv_nvme_sqe *e;
    struct nvme_cmd *m;
    rc = nvme_queue_get(q, &e, &m);
    if (rc < 0)
        return rc;
    *e = *t;
    e->flags = (uint8_t)(e->flags & CAPDRV_NVME_SQE_FUSE_MASK);
    memset(&e->dptr, 0, sizeof e->dptr);
    if (nsegs && (rc = build_dptr(qp, m, e, segs, nsegs)) < 0) {
        nvme_queue_unget(q, m);
        return rc;
    }
    nvme_queue_commit(q, m, q->c->o.io_timeout_ns, cb, arg);
    if (qp->o.auto_ring && (rc = nvme_queue_ring(q)) == NVME_E_OUTDATED)
        return 0; /* a reset took the queue: it completes, cancelled, at the next poll or wait */
    if (rc < 0)
        return rc; /* queued: completes (with the queue's error) at the next reset */
    return 0;
}

static struct capdrv_nvme_sqe rw(uint8_t opc, uint32_t nsid, uint64_t slba, uint32_t nlb)
{
    struct capdrv_nvme_sqe e;
    memset(&e, 0, sizeof e);
    e.opc = opc;
    e.nsid = capdrv_nvme_cpu_to_le32(nsid);
    /* NVM §3.2.4: SLBA in CDW10/11, NLB 0's based in CDW12 15:0. */
    e.cdw10 = capdrv_nvme_cpu_to_le32((uint32_t)slba);
    e.cdw11 = capdrv_nvme_cpu_to_le32((uint32_t)(slba >> 32));
    e.cdw12 = capdrv_nvme_cpu_to_le32(nlb - 1u);
    return e;
}

static int data_cmd(struct capdrv_nvme_qpair *qp, uint8_t opc, uint32_t nsid, uint64_t slba,
                    uint32_t nlb, const struct capdrv_dma_seg *segs, unsigned nsegs,
                    capdrv_nvme_cb cb, void *arg)
{
    if (!qp || nlb == 0 || nlb > 65536u || nsegs == 0)
        return -CAPDRV_EINVAL;
    uint32_t block = nvme_ns_block(qp->q.c, nsid);
    if (!block)
        return -CAPDRV_ENOENT;
    struct capdrv_nvme_sqe e = rw(opc, nsid, slba, nlb);
    return submit(qp, &e, segs, nsegs, (uint64_t)nlb * block, cb, arg);
}

int capdrv_nvme_read(struct capdrv_nvme_qpair *qp, uint32_t nsid, uint64_t slba, uint32_t nlb,
                     const struct capdrv_dma_seg *segs, unsigned nsegs, capdrv_nvme_cb cb,
                     void *arg)
{
    return data_cmd(qp, CAPDRV_NVME_CMD_READ, nsid, slba, nlb, segs, nsegs, cb, arg);
}

int capdrv_nvme_write(struct capdrv_nvme_qpair *qp, uint32_t nsid, uint64_t slba, uint32_t nlb,
                      const struct capdrv_dma_seg *segs, unsigned nsegs, capdrv_nvme_cb cb,
                      void *arg)
{
    return data_cmd(qp, CAPDRV_NVME_CMD_WRITE, nsid, slba, nlb, segs, nsegs, cb, arg);
}

int capdrv_nvme_flush(struct capdrv_nvme_qpair *qp, uint32_t nsid, capdrv_nvme_cb cb, void *arg)
{
    if (!qp)
        return -CAPDRV_EINVAL;
    struct capdrv_nvme_sqe e;
    memset(&e, 0, sizeof e);
    e.opc = CAPDRV_NVME_CMD_FLUSH;
    e.nsid = capdrv_nvme_cpu_to_le32(nsid);
    return submit(qp, &e, NULL, 0, 0, cb, arg);
}

int capdrv_nvme_write_zeroes(struct capdrv_nvme_qpair *qp, uint32_t nsid, uint64_t slba,
                             uint32_t nlb, uint32_t flags, capdrv_nvme_cb cb, void *arg)
{
    if (!qp || nlb == 0 || nlb > 65536u || (flags & ~CAPDRV_NVME_WZ_DEAC))
        return -CAPDRV_EINVAL;
    if (!(qp->oncs & CAPDRV_NVME_ONCS_WRITE_ZEROES))
        return -CAPDRV_ENOTSUP;
    /* NVM §3.2.8: no data; DEAC in CDW12 bit 25. */
    struct capdrv_nvme_sqe e = rw(CAPDRV_NVME_CMD_WRITE_ZEROES, nsid, slba, nlb);
    e.cdw12 = capdrv_nvme_cpu_to_le32((nlb - 1u) | flags);
    return submit(qp, &e, NULL, 0, 0, cb, arg);
}

int capdrv_nvme_dsm(struct capdrv_nvme_qpair *qp, uint32_t nsid,
                    const struct capdrv_nvme_dsm_range *ranges, unsigned n, uint32_t attrs,
                    capdrv_nvme_cb cb, void *arg)
{
    if (!qp || !ranges || !cb || n == 0 || n > CAPDRV_NVME_DSM_MAX_RANGES)
        return -CAPDRV_EINVAL;
    if (!(qp->oncs & CAPDRV_NVME_ONCS_DSM))
        return -CAPDRV_ENOTSUP;
    struct nvme_queue *q = &qp->q;
    struct capdrv_nvme_sqe *e;
    struct nvme_cmd *m;
    int rc = nvme_qpair_current(qp);
    if (rc < 0 || (rc = nvme_queue_get(q, &e, &m)) < 0)
        return rc;
    /* NVM §3.2.3: the range list (16 bytes each) is the command's data; it
     * goes into the slot's first list page (one memory page, so PRP1 alone
     * describes it). */
    struct capdrv_dma_page pg = nvme_queue_list(q, m, 0);
    struct capdrv_nvme_dsm_range *r = pg.cpu;
    for (unsigned i = 0; i < n; i++) {
        r[i].cattr = capdrv_nvme_cpu_to_le32(ranges[i].cattr);
        r[i].nlb = capdrv_nvme_cpu_to_le32(ranges[i].nlb);
        r[i].slba = capdrv_nvme_cpu_to_le64(ranges[i].slba);
    }
    e->opc = CAPDRV_NVME_CMD_DSM;
    e->nsid = capdrv_nvme_cpu_to_le32(nsid);
    e->dptr.prp.prp1 = capdrv_nvme_cpu_to_le64(pg.ref);
    capdrv_nvme_sqe_set_psdt(e, CAPDRV_NVME_PSDT_PRP);
    e->cdw10 = capdrv_nvme_cpu_to_le32(n - 1u); /* NR, 0's based */
    e->cdw11 = capdrv_nvme_cpu_to_le32(attrs);
    nvme_queue_commit(q, m, q->c->o.io_timeout_ns, cb, arg);
    if (qp->o.auto_ring && (rc = nvme_queue_ring(q)) == NVME_E_OUTDATED)
        return 0; /* as in submit() */
    return rc < 0 ? rc : 0;
}

int capdrv_nvme_qpair_submit_raw(struct capdrv_nvme_qpair *qp, const struct capdrv_nvme_sqe *sqe,
                                 const struct capdrv_dma_seg *segs, unsigned nsegs,
                                 capdrv_nvme_cb cb, void *arg)
{
    if (!qp || !sqe)
        return -CAPDRV_EINVAL;
    return submit(qp, sqe, segs, nsegs, 0, cb, arg);
}
