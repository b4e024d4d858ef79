/* Admin commands of the public API (NVMe Base 2.0 §5): Identify, the
 * active namespace list, Identify Namespace digested, Get/Set Features,
 * Get Log Page, Abort and passthru. */
#include "nvme_internal.h"

#include <stdlib.h>
#include <string.h>

void nvme_admin_cqe(const struct capdrv_nvme_cpl *cpl, struct capdrv_nvme_cqe *e);

static struct capdrv_nvme_sqe cmd(uint8_t opc, uint32_t nsid)
{
    struct capdrv_nvme_sqe e;
    memset(&e, 0, sizeof e);
    e.opc = opc;
    e.nsid = capdrv_nvme_cpu_to_le32(nsid);
    return e;
}

int capdrv_nvme_identify(struct capdrv_nvme_ctrl *c, uint8_t cns, uint32_t nsid, void *out4k)
{
    if (!c || !out4k)
        return -CAPDRV_EINVAL;
    /* §5.17: CDW10 bits 7:0 CNS, CNTID 0. */
    struct capdrv_nvme_sqe e = cmd(CAPDRV_NVME_ADMIN_IDENTIFY, nsid);
    e.cdw10 = capdrv_nvme_cpu_to_le32(cns);
    struct nvme_sync s;
    return nvme_admin_sync(c, &e, out4k, CAPDRV_NVME_IDENTIFY_BYTES, NVME_DIR_FROM_DEV, &s);
}

int capdrv_nvme_ns_list(struct capdrv_nvme_ctrl *c, uint32_t after, uint32_t *nsids,
                        unsigned max)
{
    if (!c || (!nsids && max) || after >= 0xfffffffeu)
        return -CAPDRV_EINVAL;
    uint32_t *list = malloc(CAPDRV_NVME_IDENTIFY_BYTES);
    if (!list)
        return -CAPDRV_ENOMEM;
    int rc = capdrv_nvme_identify(c, CAPDRV_NVME_CNS_NS_ACTIVE, after, list);
    unsigned n = 0;
    if (rc == 0) {
        /* §5.17.2.2: up to 1024 NSIDs greater than the one given, in
         * increasing order, zero-filled after the last. */
        uint32_t prev = after;
        for (unsigned i = 0; i < CAPDRV_NVME_IDENTIFY_BYTES / 4u && n < max; i++) {
            uint32_t id = capdrv_nvme_le32_to_cpu(list[i]);
            if (id == 0)
                break;
            if (id <= prev || id == 0xffffffffu) {
                rc = -CAPDRV_EPROTO;
                break;
            }
            nsids[n++] = prev = id;
        }
    }
    free(list);
    return rc < 0 ? rc : (int)n;
}

static void remember_ns(struct capdrv_nvme_ctrl *c, uint32_t nsid, uint32_t block)
{
    for (unsigned i = 0; i < c->n_ns; i++)
        if (c->ns[i].nsid == nsid) {
            c->ns[i].block = block;
            return;
        }
    unsigned at = c->n_ns < sizeof c->ns / sizeof c->ns[0] ? c->n_ns++ : nsid % c->n_ns;
    c->ns[at].nsid = nsid;
    c->ns[at].block = block;
}

uint32_t nvme_ns_block(const struct capdrv_nvme_ctrl *c, uint32_t nsid)
{
    for (unsigned i = 0; i < c->n_ns; i++)
        if (c->ns[i].nsid == nsid)
            return c->ns[i].block;
    return 0;
}

int capdrv_nvme_ns_info(struct capdrv_nvme_ctrl *c, uint32_t nsid,
                        struct capdrv_nvme_ns_info *out)
{
    if (!c || !out || nsid == 0 || nsid == 0xffffffffu)
        return -CAPDRV_EINVAL;
    struct capdrv_nvme_id_ns *ns = malloc(sizeof *ns);
    if (!ns)
        return -CAPDRV_ENOMEM;
    int rc = capdrv_nvme_identify(c, CAPDRV_NVME_CNS_NS, nsid, ns);
    if (rc < 0)
        goto out;
    uint64_t nsze = capdrv_nvme_le64_to_cpu(ns->nsze);
    /* NVM 1.0 §4.1.5.1: an inactive NSID returns a zero-filled structure. */
    if (nsze == 0) {
        rc = -CAPDRV_ENOENT;
        goto out;
    }
    unsigned fmt = capdrv_nvme_flbas_index(ns->flbas);
    if (fmt > ns->nlbaf || fmt >= 64u) {
        rc = -CAPDRV_EPROTO;
        goto out;
    }
    const struct capdrv_nvme_lbaf *lf = &ns->lbaf[fmt];
    /* LBADS below 9 is not supported / not valid (NVM 1.0 §4.1.5.1); above
     * 30 is not a block size the library will trust. */
    if (lf->lbads < 9 || lf->lbads > 30) {
        rc = -CAPDRV_EPROTO;
        goto out;
    }
    memset(out, 0, sizeof *out);
    out->nsid = nsid;
    out->lba_count = nsze;
    out->capacity = capdrv_nvme_le64_to_cpu(ns->ncap);
    out->utilization = capdrv_nvme_le64_to_cpu(ns->nuse);
    out->lba_shift = lf->lbads;
    out->lba_size = 1u << lf->lbads;
    out->ms = capdrv_nvme_le16_to_cpu(lf->ms);
    out->extended = (ns->flbas & CAPDRV_NVME_FLBAS_EXTENDED) != 0;
    out->format = fmt;
    out->nsfeat = ns->nsfeat;
    out->dps = ns->dps;
    remember_ns(c, nsid, out->lba_size + (out->extended ? out->ms : 0u));
out:
    free(ns);
    return rc;
}

int capdrv_nvme_get_features(struct capdrv_nvme_ctrl *c, uint32_t fid, uint32_t nsid,
                             uint32_t cdw11, void *buf, size_t len, uint32_t *dw0)
{
    if (!c || (len && !buf))
        return -CAPDRV_EINVAL;
    struct capdrv_nvme_sqe e = cmd(CAPDRV_NVME_ADMIN_GET_FEATURES, nsid);
    e.cdw10 = capdrv_nvme_cpu_to_le32(fid);
    e.cdw11 = capdrv_nvme_cpu_to_le32(cdw11);
    struct nvme_sync s;
    int rc = nvme_admin_sync(c, &e, buf, len, NVME_DIR_FROM_DEV, &s);
    if (dw0 && s.done)
        *dw0 = s.cpl.dw0;
    return rc;
}

int capdrv_nvme_set_features(struct capdrv_nvme_ctrl *c, uint32_t fid, uint32_t nsid,
                             uint32_t cdw11, const void *buf, size_t len, uint32_t *dw0)
{
    if (!c || (len && !buf))
        return -CAPDRV_EINVAL;
    /* The library sized its queues from Number of Queues (§5.27.1.5). */
    if ((fid & 0xffu) == CAPDRV_NVME_FEAT_NUM_QUEUES)
        return -CAPDRV_EINVAL;
    struct capdrv_nvme_sqe e = cmd(CAPDRV_NVME_ADMIN_SET_FEATURES, nsid);
    e.cdw10 = capdrv_nvme_cpu_to_le32(fid);
    e.cdw11 = capdrv_nvme_cpu_to_le32(cdw11);
    struct nvme_sync s;
    int rc = nvme_admin_sync(c, &e, (void *)(uintptr_t)buf, len, NVME_DIR_TO_DEV, &s);
    if (dw0 && s.done)
        *dw0 = s.cpl.dw0;
    return rc;
}

/* §5.27.1.6 Interrupt Coalescing (FID 08h), CDW11 and Get Features DW0:
 * bits 7:0 Aggregation Threshold (THR, 0's based), bits 15:8 Aggregation
 * Time (TIME, 100 us units), bits 31:16 reserved. */
#define IRQ_COALESCE_THR_MASK 0xffu
#define IRQ_COALESCE_TIME_SHIFT 8

int capdrv_nvme_set_irq_coalescing(struct capdrv_nvme_ctrl *c, unsigned threshold,
                                   unsigned time_100us)
{
    if (!c || threshold > IRQ_COALESCE_THR_MASK || time_100us > IRQ_COALESCE_THR_MASK)
        return -CAPDRV_EINVAL;
    uint32_t cdw11 = (uint32_t)threshold | (uint32_t)time_100us << IRQ_COALESCE_TIME_SHIFT;
    return capdrv_nvme_set_features(c, CAPDRV_NVME_FEAT_IRQ_COALESCE, 0, cdw11, NULL, 0, NULL);
}

int capdrv_nvme_get_irq_coalescing(struct capdrv_nvme_ctrl *c, unsigned *threshold,
                                   unsigned *time_100us)
{
    if (!c || !threshold || !time_100us)
        return -CAPDRV_EINVAL;
    uint32_t dw0 = 0;
    /* SEL 000b: the current value (§5.15). */
    int rc = capdrv_nvme_get_features(c, CAPDRV_NVME_FEAT_IRQ_COALESCE, 0, 0, NULL, 0, &dw0);
    if (rc < 0)
        return rc;
    *threshold = dw0 & IRQ_COALESCE_THR_MASK;
    *time_100us = (dw0 >> IRQ_COALESCE_TIME_SHIFT) & IRQ_COALESCE_THR_MASK;
    return 0;
}

int capdrv_nvme_get_log_page(struct capdrv_nvme_ctrl *c, uint8_t lid, uint32_t nsid,
                             uint64_t offset, void *buf, size_t len)
{
    if (!c || !buf || len == 0 || len % 4u || offset % 4u || len > CAPDRV_NVME_ADMIN_XFER_MAX)
        return -CAPDRV_EINVAL;
    /* §5.16: NUMD (0's based dwords) split over CDW10 31:16 (NUMDL) and
     * CDW11 15:0 (NUMDU); LPOL/LPOU the byte offset; RAE (CDW10 bit 15)
     * clear so that reading the page re-enables its event (§5.2). */
    uint32_t numd = (uint32_t)(len / 4u) - 1u;
    struct capdrv_nvme_sqe e = cmd(CAPDRV_NVME_ADMIN_GET_LOG_PAGE, nsid);
    e.cdw10 = capdrv_nvme_cpu_to_le32((uint32_t)lid | (numd & 0xffffu) << 16);
    e.cdw11 = capdrv_nvme_cpu_to_le32(numd >> 16);
    e.cdw12 = capdrv_nvme_cpu_to_le32((uint32_t)offset);
    e.cdw13 = capdrv_nvme_cpu_to_le32((uint32_t)(offset >> 32));
    struct nvme_sync s;
    return nvme_admin_sync(c, &e, buf, len, NVME_DIR_FROM_DEV, &s);
}

int capdrv_nvme_abort(struct capdrv_nvme_ctrl *c, uint16_t sqid, uint16_t cid, uint32_t *dw0)
{
    if (!c)
        return -CAPDRV_EINVAL;
    /* §5.1: CDW10 SQID 15:0, CID 31:16. */
    struct capdrv_nvme_sqe e = cmd(CAPDRV_NVME_ADMIN_ABORT, 0);
    e.cdw10 = capdrv_nvme_cpu_to_le32((uint32_t)sqid | (uint32_t)cid << 16);
    return nvme_admin_simple(c, &e, dw0);
}

int capdrv_nvme_admin_passthru(struct capdrv_nvme_ctrl *c, const struct capdrv_nvme_sqe *sqe,
                               void *buf, size_t len, struct capdrv_nvme_cqe *cqe)
{
    if (!c || !sqe || (len && !buf))
        return -CAPDRV_EINVAL;
    switch (sqe->opc) {
    case CAPDRV_NVME_ADMIN_DELETE_SQ:
    case CAPDRV_NVME_ADMIN_CREATE_SQ:
    case CAPDRV_NVME_ADMIN_DELETE_CQ:
    case CAPDRV_NVME_ADMIN_CREATE_CQ:
    case CAPDRV_NVME_ADMIN_ASYNC_EVENT:
    case CAPDRV_NVME_ADMIN_DBBUF_CONFIG:
        return -CAPDRV_EPERM;
    default:
        break;
    }
    if (sqe->opc == CAPDRV_NVME_ADMIN_SET_FEATURES &&
        (capdrv_nvme_le32_to_cpu(sqe->cdw10) & 0xffu) == CAPDRV_NVME_FEAT_NUM_QUEUES)
        return -CAPDRV_EPERM;
    /* §5, "Opcodes for Admin Commands": bits 1:0 give the data transfer
     * direction (01b host to controller, 10b controller to host). */
    int dir = sqe->opc & 3u;
    struct capdrv_nvme_sqe e = *sqe;
    e.flags = (uint8_t)(e.flags & CAPDRV_NVME_SQE_FUSE_MASK);
    memset(&e.dptr, 0, sizeof e.dptr); /* only the library's buffer is ever referenced */
    e.mptr = 0;
    struct nvme_sync s;
    int rc = nvme_admin_sync(c, &e, len ? buf : NULL, len, len ? (dir ? dir : NVME_DIR_BOTH) : 0,
                             &s);
    if (cqe && s.done)
        nvme_admin_cqe(&s.cpl, cqe);
    return rc;
}
