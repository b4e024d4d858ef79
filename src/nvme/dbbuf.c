/* Shadow doorbells: Doorbell Buffer Config (admin opcode 7Ch, NVMe Base
 * 2.0 §5.8; OACS bit 8, §5.17.2.1). The host writes each new doorbell
 * value into the Shadow Doorbell buffer and writes the MMIO doorbell only
 * when the controller's EventIdx asks for it (queue.c). Used for I/O
 * queues only, as Linux does; the admin queue keeps plain MMIO doorbells.
 * Opt-in. The kernel shim refuses the command at the admin SQ doorbell
 * (-CAPDRV_EPERM: the device would read SQ tails from memory the shim
 * never validated); the controller then runs with plain doorbells and
 * capdrv_nvme_ctrl_info::shadow_doorbells_err says why. */
#include "nvme_internal.h"

#include <string.h>


int nvme_dbbuf_setup(struct capdrv_nvme_ctrl *c)
{
    c->info.shadow_doorbells = false;
    if (!c->o.shadow_doorbells)
        return 0;
    if (c->o.qpair_threads) {
        /* A reset rewrites the shadow pages while pairs on other threads
         * may still use them: not with pairs on threads. */
        c->info.shadow_doorbells_err = -CAPDRV_ENOTSUP;
        return 0;
    }
    if (!(c->info.oacs & CAPDRV_NVME_OACS_DBBC)) {
        c->info.shadow_doorbells_err = -CAPDRV_ENOTSUP;
        return 0;
    }
    /* The kernel refused it before (at open or an earlier reset): its
     * rules do not change, so do not ask again. */
    if (nvme_kernel_refusal(c->info.shadow_doorbells_err))
        return 0;
    c->info.shadow_doorbells_err = 0;
    size_t page = (size_t)1 << c->page_shift;
    if (!c->dbbuf) {
        size_t slack = page > 4096u ? page - 4096u : 0;
        int rc = capdrv_dma_alloc(c->sys, c->pool, 2u * page + slack, &c->dbbuf, &c->dbi);
        if (rc < 0)
            return rc;
        c->db_off = (size_t)((page - (c->dbi.ref_base & (page - 1u))) & (page - 1u));
    }
    /* Both buffers start at 0: every queue is empty after creation. */
    memset((uint8_t *)c->dbi.cpu + c->db_off, 0, 2u * page);
    struct capdrv_nvme_sqe e;
    memset(&e, 0, sizeof e);
    e.opc = CAPDRV_NVME_ADMIN_DBBUF_CONFIG;
    /* §5.8: PRP1 the Shadow Doorbell buffer, PRP2 the EventIdx buffer, each
     * one memory page, page aligned. */
    e.dptr.prp.prp1 = capdrv_nvme_cpu_to_le64(capdrv_dma_ref(&c->dbi, c->db_off));
    e.dptr.prp.prp2 = capdrv_nvme_cpu_to_le64(capdrv_dma_ref(&c->dbi, c->db_off + page));
    int rc = nvme_admin_simple(c, &e, NULL);
    if (rc == -CAPDRV_EIO) {
        c->info.shadow_doorbells_err = rc; /* refused with a status: plain doorbells */
        return 0;
    }
    if (nvme_kernel_refusal(rc) && !c->aq.broken) {
        /* Refused at the doorbell: the controller never saw the command,
         * and the admin path took it back (admin.c). Release the buffer it
         * named (never published, so not in flight for the kernel). */
        c->info.shadow_doorbells_err = rc;
        (void)capdrv_cap_release(c->sys, c->dbbuf);
        c->dbbuf = CAPDRV_CAP_INVALID;
        return 0;
    }
    if (rc < 0)
        return rc;
    c->info.shadow_doorbells = true;
    return 0;
}

void nvme_dbbuf_attach(struct capdrv_nvme_ctrl *c, struct nvme_queue *q)
{
    q->sh_sq = q->sh_cq = q->ev_sq = q->ev_cq = NULL;
    if (!c->info.shadow_doorbells || q->qid == 0)
        return;
    size_t page = (size_t)1 << c->page_shift;
    /* Same layout as the doorbell registers: SQ y at (2y) * (4 << DSTRD),
     * CQ y at (2y + 1) * (4 << DSTRD) from the start of each buffer. */
    size_t stride = (size_t)4 << c->info.dstrd;
    size_t sq = 2u * q->qid * stride, cq = sq + stride;
    if (cq + 4u > page)
        return;
    uint8_t *base = (uint8_t *)c->dbi.cpu + c->db_off;
    q->sh_sq = (volatile uint32_t *)(void *)(base + sq);
    q->sh_cq = (volatile uint32_t *)(void *)(base + cq);
    q->ev_sq = (volatile uint32_t *)(void *)(base + page + sq);
    q->ev_cq = (volatile uint32_t *)(void *)(base + page + cq);
    *q->sh_sq = 0;
    *q->sh_cq = 0;
}
