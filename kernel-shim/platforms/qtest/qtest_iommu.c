/* DMA remapping on q35: the platform drives QEMU's intel-iommu itself
 * (capdrv_qtest_config::iommu), so dma_map() honours the shim's IOVAs and
 * the direct lane runs against QEMU's devices (Intel VT-d Architecture
 * Specification rev. 3, "VT-d" below).
 *
 * Layout, all in guest RAM the DMA allocator never hands out
 * [QT_IOMMU_POOL_LO, QT_IOMMU_POOL_HI): the root table (VT-d §9.1, legacy
 * mode), one context table for bus 0 (§9.3), and per function a 4-level
 * second-level page table (§9.8, 48-bit, AW = 2) of its own domain (domain
 * id = function number + 1). Table pages come from the pool; a leaf table
 * whose last entry an unmap clears goes back to it (the shim's IOVAs move
 * on through its window, so leaf tables would otherwise pile up). The pool
 * holds 128 pages: a domain needs 3 for its upper levels, plus one leaf
 * table per 2 MiB of IOVA space in use.
 *
 * MSI-X: the platform routes vectors into cookie slots in guest RAM (see
 * qtest_irq.c), and with remapping on a device's message write is a DMA
 * write like any other, so every domain maps the cookie area 1:1.
 *
 * Invalidation is register based (VT-d §10.4.7 CCMD, §10.4.8 IOTLB): the
 * platform never enables queued invalidation, and invalidates the whole
 * IOTLB after each map or unmap, waiting (bounded) for the hardware to
 * clear the busy bit. Entries are written with the present bit last.
 *
 * Faults: a device access the tables do not allow is refused by the IOMMU
 * and recorded in a fault recording register (VT-d §7.2.1, §10.4.14; QEMU
 * has one). capdrv_qtest_iommu_faults() reads and clears them. The fault
 * event interrupt stays masked (FECTL.IM, set at reset): nothing here
 * listens for it, and its message address is not programmed. */
#include "qtest_internal.h"

#include <stdio.h>
#include <string.h>

#define DMAR_BASE 0xfed90000ull /* q35: QEMU's Q35_HOST_BRIDGE_IOMMU_ADDR */
#define R_CAP 0x08u
#define R_ECAP 0x10u
#define R_GCMD 0x18u
#define R_GSTS 0x1cu
#define R_RTADDR 0x20u
#define R_CCMD 0x28u
#define R_FSTS 0x34u
#define FSTS_PFO 1u              /* primary fault overflow, RW1C */
#define FRCD_F (1ull << 63)      /* in the high quadword: fault, RW1C */
#define GCMD_TE (1u << 31)
#define GCMD_SRTP (1u << 30)
#define CCMD_ICC (1ull << 63)
#define CCMD_GLOBAL (1ull << 61)
#define IOTLB_IVT (1ull << 63)
#define IOTLB_GLOBAL (1ull << 60)
#define IOTLB_DRAIN (3ull << 48) /* DR, DW */
#define CAP_SAGAW_48 (1ull << 10) /* SAGAW bit 2: 4-level, 48-bit */
#define PTE_RW 3ull               /* Read, Write (§9.8) */
#define PTE_ADDR 0x000ffffffffff000ull
#define BUSY_POLLS 1000

static void put64(struct capdrv_qtest *q, uint64_t gpa, uint64_t v)
{
    uint8_t *p = qt_ram_at(q, gpa);
    for (unsigned i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get64(const struct capdrv_qtest *q, uint64_t gpa)
{
    const uint8_t *p = qt_ram_at(q, gpa);
    uint64_t v = 0;
    for (unsigned i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* A zeroed table page from the pool, or 0. */
static uint64_t table_page(struct capdrv_qtest *q)
{
    uint64_t p;
    if (q->iommu_n_free) {
        p = q->iommu_free[--q->iommu_n_free];
    } else if (q->iommu_next + QT_PAGE > QT_IOMMU_POOL_HI) {
        return 0;
    } else {
        p = q->iommu_next;
        q->iommu_next += QT_PAGE;
    }
    memset(qt_ram_at(q, p), 0, QT_PAGE);
    return p;
}

/* Write @reg, then wait (bounded) until @bit reads back as @want in @sreg. */
static int wait_bit(struct capdrv_qtest *q, uint64_t sreg, unsigned width, uint64_t bit,
                    bool want)
{
    for (int i = 0; i < BUSY_POLLS; i++) {
        uint64_t v = 0;
        int rc = qt_mem_read(q, DMAR_BASE + sreg, width, &v);
        if (rc < 0)
            return rc;
        if (((v & bit) != 0) == want)
            return 0;
    }
    return -CAPDRV_ETIMEDOUT;
}

/* VT-d §6.5.1: global IOTLB invalidation, register based. */
static int flush_iotlb(struct capdrv_qtest *q)
{
    uint64_t reg = q->iommu_iotlb;
    int rc = qt_mem_write(q, DMAR_BASE + reg, 8, IOTLB_IVT | IOTLB_GLOBAL | IOTLB_DRAIN);
    return rc < 0 ? rc : wait_bit(q, reg, 8, IOTLB_IVT, false);
}

/* The leaf entry of @iova in @f's tables (creating tables when @make), or 0. */
static uint64_t leaf_of(struct capdrv_qtest *q, const struct qt_fn *f, uint64_t iova, bool make)
{
    uint64_t table = f->pml4;
    for (int level = 3; level > 0; level--) {
        uint64_t at = table + ((iova >> (12 + 9 * level)) & 511u) * 8u;
        uint64_t e = get64(q, at);
        if (!(e & PTE_RW)) {
            uint64_t next = make ? table_page(q) : 0;
            if (!next)
                return 0;
            put64(q, at, next | PTE_RW);
            e = next | PTE_RW;
        }
        table = e & PTE_ADDR;
    }
    return table + ((iova >> 12) & 511u) * 8u;
}

int qt_iommu_map(struct capdrv_qtest *q, struct qt_fn *f, uint64_t iova, uint64_t gpa,
                 size_t size)
{
    for (size_t off = 0; off < size; off += QT_PAGE) {
        uint64_t leaf = leaf_of(q, f, iova + off, true);
        if (!leaf) {
            (void)qt_iommu_unmap(q, f, iova, off); /* what was mapped so far */
            return -CAPDRV_ENOMEM;
        }
        put64(q, leaf, ((gpa + off) & PTE_ADDR) | PTE_RW);
    }
    return flush_iotlb(q);
}

/* The level-2 entry that points at @iova's leaf table, or 0. */
static uint64_t pde_of(const struct capdrv_qtest *q, const struct qt_fn *f, uint64_t iova)
{
    uint64_t table = f->pml4;
    for (int level = 3; level > 1; level--) {
        uint64_t e = get64(q, table + ((iova >> (12 + 9 * level)) & 511u) * 8u);
        if (!(e & PTE_RW))
            return 0;
        table = e & PTE_ADDR;
    }
    return table + ((iova >> 21) & 511u) * 8u;
}

/* @iova's leaf table back to the pool if nothing in it maps any more. */
static void leaf_table_reclaim(struct capdrv_qtest *q, const struct qt_fn *f, uint64_t iova)
{
    uint64_t pde = pde_of(q, f, iova);
    uint64_t e = pde ? get64(q, pde) : 0;
    if (!(e & PTE_RW))
        return;
    uint64_t table = e & PTE_ADDR;
    for (unsigned i = 0; i < 512; i++)
        if (get64(q, table + 8u * i))
            return;
    put64(q, pde, 0); /* the IOTLB flush that follows drops cached walks too */
    if (q->iommu_n_free < QT_IOMMU_POOL_PAGES)
        q->iommu_free[q->iommu_n_free++] = table;
}

int qt_iommu_unmap(struct capdrv_qtest *q, struct qt_fn *f, uint64_t iova, size_t size)
{
    for (size_t off = 0; off < size; off += QT_PAGE) {
        uint64_t leaf = leaf_of(q, f, iova + off, false);
        if (leaf)
            put64(q, leaf, 0);
        /* at the end of each 2 MiB leaf table's span, and at the end */
        if (((iova + off + QT_PAGE) & 0x1fffffu) == 0 || off + QT_PAGE >= size)
            leaf_table_reclaim(q, f, iova + off);
    }
    /* After this returns the device can no longer reach the pages (hw.h). */
    return flush_iotlb(q);
}

int qt_iommu_init(struct capdrv_qtest *q, char *why, size_t why_len)
{
    uint64_t cap = 0, ecap = 0;
    int rc = qt_mem_read(q, DMAR_BASE + R_CAP, 8, &cap);
    if (rc == 0)
        rc = qt_mem_read(q, DMAR_BASE + R_ECAP, 8, &ecap);
    if (rc < 0 || !(cap & CAP_SAGAW_48)) {
        snprintf(why, why_len, "qtest: intel-iommu without 4-level (48-bit) tables (CAP %#llx)",
                 (unsigned long long)cap);
        return rc < 0 ? rc : -CAPDRV_ENOTSUP;
    }
    /* ECAP.IRO: the IOTLB registers' offset in 16-byte units; IOTLB_REG is
     * the second quadword (VT-d §10.4.3, §10.4.8.1). */
    q->iommu_iotlb = ((ecap >> 8) & 0x3ffu) * 16u + 8u;
    q->iommu_next = QT_IOMMU_POOL_LO;
    uint64_t root = table_page(q), ctx = table_page(q);
    if (!root || !ctx)
        return -CAPDRV_ENOMEM;
    for (unsigned i = 0; i < q->n_fns; i++) {
        struct qt_fn *f = &q->fns[i];
        if (f->info.kind != CAPDRV_HW_FN_PCI || f->info.addr.bus != 0)
            continue;
        if (!(f->pml4 = table_page(q)))
            return -CAPDRV_ENOMEM;
        /* §9.3 legacy context entry: hi = domain id 23:8, AW 2:0 = 010b
         * (48-bit, 4-level); lo = table pointer, TT 00b (untranslated
         * requests only), present. */
        uint64_t at = ctx + (uint64_t)(f->info.addr.dev << 3 | f->info.addr.fn) * 16u;
        put64(q, at + 8, (uint64_t)(i + 1u) << 8 | 2u);
        put64(q, at, f->pml4 | 1u);
        uint64_t cookies = CAPDRV_QTEST_DMA_BASE - CAPDRV_QTEST_COOKIE_BASE;
        for (uint64_t off = 0; off < cookies; off += QT_PAGE) {
            uint64_t leaf = leaf_of(q, f, q->ram_gpa + CAPDRV_QTEST_COOKIE_BASE + off, true);
            if (!leaf)
                return -CAPDRV_ENOMEM;
            put64(q, leaf, (q->ram_gpa + CAPDRV_QTEST_COOKIE_BASE + off) | PTE_RW);
        }
    }
    put64(q, root, ctx | 1u); /* §9.1: bus 0's context table, present */
    /* §10.4.5: SRTP latches RTADDR (legacy mode: RTT 0); then global
     * context-cache and IOTLB invalidation; then translation on. */
    if ((rc = qt_mem_write(q, DMAR_BASE + R_RTADDR, 8, root)) < 0 ||
        (rc = qt_mem_write(q, DMAR_BASE + R_GCMD, 4, GCMD_SRTP)) < 0 ||
        (rc = wait_bit(q, R_GSTS, 4, GCMD_SRTP, true)) < 0 ||
        (rc = qt_mem_write(q, DMAR_BASE + R_CCMD, 8, CCMD_ICC | CCMD_GLOBAL)) < 0 ||
        (rc = wait_bit(q, R_CCMD, 8, CCMD_ICC, false)) < 0 || (rc = flush_iotlb(q)) < 0 ||
        (rc = qt_mem_write(q, DMAR_BASE + R_GCMD, 4, GCMD_TE)) < 0 ||
        (rc = wait_bit(q, R_GSTS, 4, GCMD_TE, true)) < 0) {
        snprintf(why, why_len, "qtest: enabling intel-iommu translation failed: %s",
                 capdrv_strerror(rc));
        return rc;
    }
    return 0;
}

/* VT-d §10.4.14: each fault recording register that holds a fault is
 * counted, remembered and cleared; an overflow (§7.2.1: faults dropped
 * while every register was full) counts one more. Faults of a requester
 * that already has one recorded may be collapsed into it (§7.2.1; QEMU
 * does), so the count is a lower bound on the accesses refused. Lock
 * held. */
static int poll_faults(struct capdrv_qtest *q)
{
    uint64_t cap = 0;
    int rc = qt_mem_read(q, DMAR_BASE + R_CAP, 8, &cap);
    if (rc < 0)
        return rc;
    uint64_t fro = ((cap >> 24) & 0x3ffu) * 16u; /* CAP.FRO, 16-byte units */
    unsigned nfr = (unsigned)((cap >> 40) & 0xffu) + 1u; /* CAP.NFR, 0-based */
    for (unsigned i = 0; i < nfr; i++) {
        uint64_t at = DMAR_BASE + fro + 16u * i, hi = 0, lo = 0;
        if ((rc = qt_mem_read(q, at + 8, 8, &hi)) < 0)
            return rc;
        if (!(hi & FRCD_F))
            continue;
        if ((rc = qt_mem_read(q, at, 8, &lo)) < 0 ||
            (rc = qt_mem_write(q, at + 8, 8, FRCD_F)) < 0)
            return rc;
        q->iommu_faults++;
        q->iommu_fault_addr = lo & PTE_ADDR;  /* FI: the page refused */
        q->iommu_fault_sid = (uint16_t)hi;    /* SID: bus, device, function */
        q->iommu_fault_reason = (uint8_t)(hi >> 32);
    }
    uint64_t fsts = 0;
    if ((rc = qt_mem_read(q, DMAR_BASE + R_FSTS, 4, &fsts)) < 0)
        return rc;
    if (fsts & FSTS_PFO) {
        q->iommu_faults++;
        rc = qt_mem_write(q, DMAR_BASE + R_FSTS, 4, FSTS_PFO);
    }
    return rc < 0 ? rc : 0;
}

int capdrv_qtest_iommu_faults(struct capdrv_qtest *q, struct capdrv_qtest_iommu_faults *out)
{
    if (!q || !out)
        return -CAPDRV_EINVAL;
    pthread_mutex_lock(&q->lock);
    int rc = 0;
    if (!q->iommu)
        rc = -CAPDRV_ENOTSUP;
    else if (q->dead)
        rc = -CAPDRV_EIO;
    else
        rc = poll_faults(q);
    *out = (struct capdrv_qtest_iommu_faults){.faults = q->iommu_faults,
                                              .last_addr = q->iommu_fault_addr,
                                              .last_source = q->iommu_fault_sid,
                                              .last_reason = q->iommu_fault_reason};
    pthread_mutex_unlock(&q->lock);
    return rc;
}
