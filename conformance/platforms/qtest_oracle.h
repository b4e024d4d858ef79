/* The DMA observer of both qtest platforms (qtest.c, qtest_virt.c): the
 * platform's guest-RAM canaries (capdrv_qtest_canary_check()). QEMU's
 * devices reach all guest RAM, so this sees device writes into memory the
 * shim gave back (after revoke, reset, release, death) and past the end
 * of a buffer; it does not see reads. */
#ifndef CAPDRV_CONF_QTEST_ORACLE_H
#define CAPDRV_CONF_QTEST_ORACLE_H

#include <stdio.h>

#include <capdrv/qtest.h>

static inline long conf_qtest_canary_violations(struct capdrv_qtest *q)
{
    struct capdrv_qtest_canary k;
    if (capdrv_qtest_canary_check(q, &k) < 0)
        return -1;
    if (k.changed)
        fprintf(stderr, "qtest: %lu freed or guard range(s) of guest RAM changed, last at 0x%llx\n",
                k.changed, (unsigned long long)k.last_gpa);
    return (long)k.changed;
}

#endif
