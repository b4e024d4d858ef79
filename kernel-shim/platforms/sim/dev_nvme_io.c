/* Simulated NVMe controller: NVM command set I/O commands (NVM Command
 * Set 1.0 §3): Flush, Write, Read, Write Zeroes, Dataset Management, over
 * the namespace media (blk_store.c: zeroed memory or a file via io_uring).
 *
 * Data moves between the medium and host memory through the bounce buffer
 * (NVME_BOUNCE bytes at a time) and the DMA oracle. All checks happen
 * before any data moves; a refused access or a failed store operation in
 * the middle leaves the blocks partly transferred, as a real failure
 * would (the command reports the error). */
#include "blk_store.h"
#include "dev_nvme.h"

#include <string.h>

#define OPC_FLUSH 0x00u
#define OPC_WRITE 0x01u
#define OPC_READ 0x02u
#define OPC_WRITE_ZEROES 0x08u
#define OPC_DSM 0x09u
#define NSID_ALL 0xffffffffu
#define DSM_RANGE 16u      /* NVM 1.0 §3.2.3: Context Attributes, Length, SLBA */
#define DSM_MAX_RANGES 256u
#define WZ_DEAC (1u << 25) /* NVM 1.0 §3.2.8: Deallocate */
#define DSM_AD (1u << 2)   /* NVM 1.0 §3.2.3: Attribute - Deallocate */

static struct nvme_ns *ns_of(struct nvme_dev *d, uint32_t nsid)
{
    return nsid >= 1 && nsid <= d->nns ? &d->ns[nsid - 1u] : NULL;
}

/* Blocks [slba, slba + nlb) lie in the namespace. */
static bool in_range(const struct nvme_ns *ns, uint64_t slba, uint64_t nlb)
{
    return slba <= ns->nlba && nlb <= ns->nlba - slba;
}

static uint16_t rw(struct capdrv_sim *sim, struct sim_fn *f, const struct capdrv_nvme_sqe *sqe,
                   struct nvme_ns *ns, bool write)
{
    struct nvme_dev *d = nvme_of(f);
    uint64_t slba = (uint64_t)sqe->cdw11 << 32 | sqe->cdw10;
    uint64_t nlb = (uint64_t)(sqe->cdw12 & 0xffffu) + 1u; /* 0's based */
    uint64_t len = nlb << ns->lbads;
    if (len > nvme_max_xfer(d))
        return NVME_S_INVALID_FIELD; /* beyond MDTS (Base 2.0 §5.17.2.1) */
    if (!in_range(ns, slba, nlb))
        return NVME_S_LBA_RANGE;
    unsigned n;
    uint16_t st = nvme_dptr_decode(sim, f, sqe, len, d->cfg.sgl, &n);
    if (st != NVME_OK)
        return st;
    uint64_t base = slba << ns->lbads;
    for (uint64_t done = 0; done < len;) {
        size_t k = len - done < NVME_BOUNCE ? (size_t)(len - done) : NVME_BOUNCE;
        if (write) {
            st = nvme_dptr_xfer(sim, f, n, done, d->bounce, k, false);
            if (st != NVME_OK)
                return st;
            if (sim_blk_store_write(ns->store, base + done, d->bounce, k) < 0)
                return NVME_S_WRITE_FAULT;
        } else {
            if (sim_blk_store_read(ns->store, base + done, d->bounce, k) < 0)
                return NVME_S_READ_ERROR;
            st = nvme_dptr_xfer(sim, f, n, done, d->bounce, k, true);
            if (st != NVME_OK)
                return st;
        }
        done += k;
    }
    /* SMART Data Units Read/Written count 512-byte units (Base 2.0 §5.16.1.3). */
    if (write) {
        d->units_written += len >> 9;
        d->host_writes++;
    } else {
        d->units_read += len >> 9;
        d->host_reads++;
    }
    return NVME_OK;
}

static uint16_t write_zeroes(const struct capdrv_nvme_sqe *sqe, struct nvme_ns *ns)
{
    uint64_t slba = (uint64_t)sqe->cdw11 << 32 | sqe->cdw10;
    uint64_t nlb = (uint64_t)(sqe->cdw12 & 0xffffu) + 1u;
    if (!in_range(ns, slba, nlb))
        return NVME_S_LBA_RANGE;
    /* Reads return zeroes afterwards either way; DEAC lets the medium
     * deallocate (DLFEAT reports deallocated blocks read as zero). */
    if (sim_blk_store_zero(ns->store, slba << ns->lbads, nlb << ns->lbads,
                           (sqe->cdw12 & WZ_DEAC) != 0) < 0)
        return NVME_S_WRITE_FAULT;
    return NVME_OK;
}

static uint16_t dsm(struct capdrv_sim *sim, struct sim_fn *f, const struct capdrv_nvme_sqe *sqe,
                    struct nvme_ns *ns)
{
    struct nvme_dev *d = nvme_of(f);
    unsigned nr = (sqe->cdw10 & 0xffu) + 1u; /* 0's based Number of Ranges */
    uint8_t raw[DSM_MAX_RANGES * DSM_RANGE];
    size_t len = (size_t)nr * DSM_RANGE;
    uint16_t st = nvme_dptr_copy(sim, f, sqe, raw, len, false, d->cfg.sgl);
    if (st != NVME_OK)
        return st;
    if (!(sqe->cdw11 & DSM_AD))
        return NVME_OK; /* IDR / IDW are hints: nothing to do */
    for (unsigned i = 0; i < nr; i++) { /* check every range first */
        uint64_t nlb = sim_le_get(raw + i * DSM_RANGE + 4, 4);
        uint64_t slba = sim_le_get(raw + i * DSM_RANGE + 8, 8);
        if (!in_range(ns, slba, nlb))
            return NVME_S_LBA_RANGE;
    }
    for (unsigned i = 0; i < nr; i++) {
        uint64_t nlb = sim_le_get(raw + i * DSM_RANGE + 4, 4);
        uint64_t slba = sim_le_get(raw + i * DSM_RANGE + 8, 8);
        if (nlb > 0 &&
            sim_blk_store_zero(ns->store, slba << ns->lbads, nlb << ns->lbads, true) < 0)
            return NVME_S_WRITE_FAULT;
    }
    return NVME_OK;
}

static uint16_t flush(struct nvme_dev *d, uint32_t nsid)
{
    for (unsigned i = 0; i < d->nns; i++)
        if ((nsid == NSID_ALL || nsid == i + 1u) && sim_blk_store_flush(d->ns[i].store) < 0)
            return NVME_S_WRITE_FAULT;
    return NVME_OK;
}

uint16_t nvme_io(struct capdrv_sim *sim, struct sim_fn *f, const struct capdrv_nvme_sqe *sqe)
{
    struct nvme_dev *d = nvme_of(f);
    bool known = sqe->opc == OPC_FLUSH || sqe->opc == OPC_WRITE || sqe->opc == OPC_READ ||
                 (sqe->opc == OPC_WRITE_ZEROES && !d->cfg.no_write_zeroes) ||
                 (sqe->opc == OPC_DSM && !d->cfg.no_dsm);
    if (!known)
        return NVME_S_INVALID_OPCODE;
    /* Fused operations (Base 2.0 §3.4.2) are not supported (FUSES = 0). */
    if (sqe->flags & CAPDRV_NVME_SQE_FUSE_MASK)
        return NVME_S_INVALID_FIELD;
    /* Base 2.0 §7.1: Flush with NSID FFFFFFFFh applies to every namespace
     * (Identify VWC.FB = 11b). */
    if (sqe->opc == OPC_FLUSH && sqe->nsid == NSID_ALL)
        return flush(d, NSID_ALL);
    struct nvme_ns *ns = ns_of(d, sqe->nsid);
    if (!ns)
        return NVME_S_INVALID_NS;
    switch (sqe->opc) {
    case OPC_FLUSH:
        return flush(d, sqe->nsid);
    case OPC_WRITE:
        return rw(sim, f, sqe, ns, true);
    case OPC_READ:
        return rw(sim, f, sqe, ns, false);
    case OPC_WRITE_ZEROES:
        return write_zeroes(sqe, ns);
    default:
        return dsm(sim, f, sqe, ns);
    }
}
