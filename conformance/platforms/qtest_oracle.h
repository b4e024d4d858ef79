/* The DMA observer of both qtest platforms (qtest.c, qtest_virt.c): the
 * platform's guest-RAM canaries (capdrv_qtest_canary_check()). Without an
 * IOMMU QEMU's devices reach all guest RAM, so this sees device writes
 * into memory the shim gave back (after revoke, reset, release, death) and
 * past the end of a buffer; it does not see reads. With the IOMMU (the
 * direct lane on q35) such accesses are refused instead, reads too, and
 * the IOMMU's fault records count (capdrv_qtest_iommu_faults()). */
#ifndef CAPDRV_CONF_QTEST_ORACLE_H
#define CAPDRV_CONF_QTEST_ORACLE_H

#include <stdio.h>

#include <capdrv/qtest.h>

/* Device writes that reached guest RAM nobody owns (the canaries). */
static inline long conf_qtest_escaped(struct capdrv_qtest *q)
{
    struct capdrv_qtest_canary k;
    if (capdrv_qtest_canary_check(q, &k) < 0)
        return -1;
    if (k.changed)
        fprintf(stderr, "qtest: %lu freed or guard range(s) of guest RAM changed, last at 0x%llx\n",
                k.changed, (unsigned long long)k.last_gpa);
    return (long)k.changed;
}

/* Every device access outside the ledger: those that reached memory and
 * those the IOMMU refused. */
static inline long conf_qtest_violations(struct capdrv_qtest *q)
{
    long n = conf_qtest_escaped(q);
    if (n < 0)
        return -1;
    struct capdrv_qtest_iommu_faults f;
    int rc = capdrv_qtest_iommu_faults(q, &f);
    if (rc == -CAPDRV_ENOTSUP)
        return n; /* no IOMMU on this machine */
    if (rc < 0)
        return -1;
    if (f.faults)
        fprintf(stderr,
                "qtest: the IOMMU refused %lu access(es), last to 0x%llx from %02x:%02x.%x "
                "(reason %u)\n",
                f.faults, (unsigned long long)f.last_addr, f.last_source >> 8,
                (f.last_source >> 3) & 0x1fu, f.last_source & 7u, f.last_reason);
    return n + (long)f.faults;
}

#endif
