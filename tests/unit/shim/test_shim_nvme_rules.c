/* The NVMe profile's per-command rules (opcode allowlist, NSIDs, lengths,
 * MPTR, fused, queue creation), SGLs in both lanes, refused admin batches
 * rolled back, and the controller state machine: reset and shutdown stop
 * submissions, a stopped controller retires in-flight buffers, releasing
 * an in-flight buffer resets the function (NVMe Base 2.0 §3.6, §4.1.2, §5;
 * NVM 1.0 §3). */
#include "test_shim_nvme_drv.h"

#include <string.h>

static struct capdrv_nvme_sqe rw_sqe(struct nt *t, uint8_t opc, uint32_t nsid, uint64_t slba,
                                     unsigned nlb, uint64_t prp1)
{
    struct capdrv_nvme_sqe s = nt_sqe(t, opc, nsid);
    s.dptr.prp.prp1 = prp1;
    s.cdw10 = (uint32_t)slba;
    s.cdw12 = nlb - 1u;
    return s;
}

static void refused(struct nt *t, unsigned qid, struct capdrv_nvme_sqe s, int want)
{
    assert_int_equal(nt_submit(t, qid, &s, 1), want);
}

static void t_command_rules(void **state)
{
    (void)state;
    struct nt t;
    nt_up(&t, false, NULL);
    struct capdrv_sim_nvme_stats before, after;
    assert_int_equal(capdrv_sim_nvme_stats(t.f.sim, t.fn, &before), 0);
    uint64_t data = capdrv_dma_ref(&t.d, 0);
    /* Admin opcodes off the allowlist: Format NVM, Sanitize, Firmware
     * Commit/Download, Namespace Management/Attachment, Security
     * Send/Receive, Device Self-test, Doorbell Buffer Config, vendor. */
    static const uint8_t bad_admin[] = {0x80, 0x84, 0x10, 0x11, 0x0d, 0x15, 0x81, 0x82, 0x14, 0x7c, 0xc0};
    for (unsigned i = 0; i < sizeof bad_admin; i++)
        refused(&t, 0, nt_sqe(&t, bad_admin[i], 0), -CAPDRV_EPERM);
    struct capdrv_nvme_sqe s = nt_sqe(&t, 0x09, 0); /* Set Features */
    s.cdw10 = 0x0c;                                   /* APST: carries data */
    refused(&t, 0, s, -CAPDRV_EPERM);
    s.cdw10 = 0x80000007u; /* Number of Queues, saved */
    refused(&t, 0, s, -CAPDRV_EPERM);
    s = nt_sqe(&t, 0x0a, 0);
    s.cdw10 = 0x07;
    s.dptr.prp.prp1 = data; /* no data for this feature */
    refused(&t, 0, s, -CAPDRV_EINVAL);
    s = nt_sqe(&t, 0x06, 7); /* Identify of an NSID the probe did not see */
    s.dptr.prp.prp1 = data;
    refused(&t, 0, s, -CAPDRV_EINVAL);
    s = nt_sqe(&t, 0x02, 0xffffffffu); /* Get Log Page beyond MDTS */
    s.dptr.prp.prp1 = data;
    s.cdw10 = 0xffffu << 16 | 0x02;
    s.cdw11 = 0x1;
    refused(&t, 0, s, -CAPDRV_EINVAL);
    s = nt_sqe(&t, 0x18, 0);
    s.dptr.prp.prp2 = data;
    refused(&t, 0, s, -CAPDRV_EINVAL);
    s = nt_sqe(&t, 0x06, 0);
    s.dptr.prp.prp1 = data;
    s.flags = 1u << 6; /* admin commands use PRPs */
    s.cdw10 = 1;
    refused(&t, 0, s, -CAPDRV_EINVAL);
    /* Queue creation rules. */
    s = nt_sqe(&t, 0x05, 0);
    s.dptr.prp.prp1 = capdrv_dma_ref(&t.q, QB_IDENT);
    s.cdw10 = 3u << 16 | 2u;
    s.cdw11 = 0; /* PC = 0 */
    refused(&t, 0, s, -CAPDRV_EINVAL);
    s.cdw11 = 1;
    s.cdw10 = 1u << 16 | 1u; /* CQ 1 exists */
    refused(&t, 0, s, -CAPDRV_EINVAL);
    s.cdw10 = 0xffffu << 16 | 2u; /* larger than the shadow bound / MQES */
    refused(&t, 0, s, -CAPDRV_EINVAL);
    s.cdw10 = 3u << 16 | 2u;
    s.dptr.prp.prp1 = capdrv_dma_ref(&t.q, QB_IDENT + 64); /* not page aligned */
    refused(&t, 0, s, -CAPDRV_EINVAL);
    s = nt_sqe(&t, 0x01, 0);
    s.dptr.prp.prp1 = capdrv_dma_ref(&t.q, QB_IDENT);
    s.cdw10 = 3u << 16 | 2u;
    s.cdw11 = 9u << 16 | 1u; /* CQ 9 does not exist */
    refused(&t, 0, s, -CAPDRV_EINVAL);
    s = nt_sqe(&t, 0x04, 0); /* Delete CQ 1 while SQ 1 uses it */
    s.cdw10 = 1;
    refused(&t, 0, s, -CAPDRV_EBUSY);
    /* I/O rules. */
    refused(&t, 1, nt_sqe(&t, 0x7f, 1), -CAPDRV_EPERM);
    refused(&t, 1, nt_sqe(&t, 0x04, 1), -CAPDRV_EPERM); /* Write Uncorrectable */
    refused(&t, 1, nt_sqe(&t, 0x0d, 1), -CAPDRV_EPERM); /* Reservation Register */
    refused(&t, 1, rw_sqe(&t, 0x02, 2, 0, 1, data), -CAPDRV_EINVAL);
    refused(&t, 1, rw_sqe(&t, 0x02, 0, 0, 1, data), -CAPDRV_EINVAL);
    refused(&t, 1, rw_sqe(&t, 0x02, 0xffffffffu, 0, 1, data), -CAPDRV_EINVAL);
    s = rw_sqe(&t, 0x02, 1, 0, 1, data);
    s.mptr = data;
    refused(&t, 1, s, -CAPDRV_EINVAL);
    s = rw_sqe(&t, 0x02, 1, 0, 1, data);
    s.flags = 1; /* fused, first command */
    refused(&t, 1, s, -CAPDRV_EPERM);
    s = rw_sqe(&t, 0x02, 1, 0, 1, data);
    s.flags = 1u << 6; /* SGL, but the controller has none */
    refused(&t, 1, s, -CAPDRV_EINVAL);
    s.flags = 2u << 6; /* MPTR holds an SGL */
    refused(&t, 1, s, -CAPDRV_EINVAL);
    s = rw_sqe(&t, 0x02, 1, 0, 257, data); /* 128.5 KiB > MDTS 128 KiB */
    refused(&t, 1, s, -CAPDRV_EINVAL);
    s = rw_sqe(&t, 0x01, 1, 0, 1, data + 2); /* PRP1 not dword aligned */
    refused(&t, 1, s, -CAPDRV_EINVAL);
    s = rw_sqe(&t, 0x01, 1, 0, 16, data); /* 8 KiB: PRP2 data page with an offset */
    s.dptr.prp.prp2 = data + 4096 + 8;
    refused(&t, 1, s, -CAPDRV_EINVAL);
    s = nt_sqe(&t, 0x08, 1); /* Write Zeroes with a data pointer */
    s.dptr.prp.prp1 = data;
    refused(&t, 1, s, -CAPDRV_EINVAL);
    assert_int_equal(capdrv_sim_nvme_stats(t.f.sim, t.fn, &after), 0);
    assert_int_equal(after.doorbells, before.doorbells);
    assert_int_equal(after.admin_cmds, before.admin_cmds);
    assert_int_equal(after.io_cmds, before.io_cmds);
    /* What is allowed works. */
    s = nt_sqe(&t, 0x00, 0xffffffffu); /* Flush all */
    assert_int_equal(nt_cmd(&t, 1, &s), 0);
    s = nt_sqe(&t, 0x0a, 0); /* Get Features, Number of Queues */
    s.cdw10 = 0x07;
    assert_int_equal(nt_cmd(&t, 0, &s), 0);
    s = nt_sqe(&t, 0x02, 0xffffffffu); /* SMART log, 512 bytes */
    s.dptr.prp.prp1 = capdrv_dma_ref(&t.q, QB_IDENT);
    s.cdw10 = 127u << 16 | 0x02;
    assert_int_equal(nt_cmd(&t, 0, &s), 0);
    s = nt_sqe(&t, 0x09, 1); /* DSM: one range, deallocate */
    nt_put_le(t.d.cpu, 4, 0);
    nt_put_le((uint8_t *)t.d.cpu + 4, 4, 8);
    nt_put_le((uint8_t *)t.d.cpu + 8, 8, 0);
    s.dptr.prp.prp1 = data;
    s.cdw11 = 1u << 2;
    assert_int_equal(nt_cmd(&t, 1, &s), 0);
    nt_done(&t);
}

/* A refused admin doorbell forgets the queues its earlier entries created
 * and frees their shadows. */
static void t_admin_batch_rollback(void **state)
{
    (void)state;
    struct nt t;
    nt_up(&t, false, NULL);
    struct capdrv_shim_stats sb, sa;
    assert_int_equal(capdrv_shim_stats(t.f.shim, &sb), 0);
    struct capdrv_nvme_sqe s[3];
    s[0] = nt_sqe(&t, 0x05, 0);
    s[0].dptr.prp.prp1 = capdrv_dma_ref(&t.q, QB_IDENT);
    s[0].cdw10 = 3u << 16 | 2u;
    s[0].cdw11 = 1;
    s[1] = nt_sqe(&t, 0x01, 0);
    s[1].dptr.prp.prp1 = capdrv_dma_ref(&t.q, QB_IDENT + 4096);
    s[1].cdw10 = 3u << 16 | 2u;
    s[1].cdw11 = 2u << 16 | 1u;
    s[2] = nt_sqe(&t, 0x80, 1); /* Format NVM */
    assert_int_equal(nt_submit(&t, 0, s, 3), -CAPDRV_EPERM);
    assert_int_equal(capdrv_shim_stats(t.f.shim, &sa), 0);
    assert_int_equal(sa.dma_buffers, sb.dma_buffers); /* SQ 2's shadow went again */
    assert_int_equal(nt_wr(&t, R_DB + 5 * t.stride, 4, 0), -CAPDRV_EINVAL); /* CQ 2 head */
    assert_int_equal(nt_wr(&t, R_DB + 4 * t.stride, 4, 1), -CAPDRV_EINVAL); /* SQ 2 tail */
    /* Without the bad entry both are created. */
    assert_int_equal(nt_submit(&t, 0, s, 2), 0);
    struct capdrv_nvme_cqe c;
    assert_true(nt_reap(&t, 0, &c));
    assert_int_equal(c.status >> 1, 0);
    assert_true(nt_reap(&t, 0, &c));
    assert_int_equal(c.status >> 1, 0);
    assert_int_equal(capdrv_shim_stats(t.f.shim, &sa), 0);
    assert_int_equal(sa.dma_buffers, sb.dma_buffers + 1);
    nt_done(&t);
}

static void sgl_desc(uint8_t *p, uint64_t addr, uint32_t len, unsigned type)
{
    nt_put_le(p, 8, addr);
    nt_put_le(p + 8, 4, len);
    memset(p + 12, 0, 3);
    p[15] = (uint8_t)(type << 4);
}

static void sgl_run(bool iommu)
{
    struct nt t;
    struct capdrv_sim_nvme_config cfg = {.sgl = true};
    nt_up(&t, iommu, &cfg);
    uint8_t *d = t.d.cpu, *l = t.l.cpu;
    nt_pattern(d, 16384, 3);
    /* One data block. */
    struct capdrv_nvme_sqe s = nt_sqe(&t, 0x01, 1);
    s.flags = 1u << 6;
    s.cdw10 = 300;
    s.cdw12 = 15; /* 8 KiB */
    sgl_desc((uint8_t *)&s.dptr, capdrv_dma_ref(&t.d, 0), 8192, 0x0);
    assert_int_equal(nt_cmd(&t, 1, &s), 0);
    /* Segment -> Last Segment: 4 KiB + 2 KiB + 2 KiB from three places. */
    sgl_desc(l, capdrv_dma_ref(&t.d, 8192), 4096, 0x0);
    sgl_desc(l + 16, capdrv_dma_ref(&t.l, 4096), 32, 0x3);
    sgl_desc(l + 4096, capdrv_dma_ref(&t.d, 12288), 2048, 0x0);
    sgl_desc(l + 4096 + 16, capdrv_dma_ref(&t.d, 14336 + 1024), 2048, 0x0);
    s = nt_sqe(&t, 0x01, 1);
    s.flags = 1u << 6;
    s.cdw10 = 316;
    s.cdw12 = 15;
    sgl_desc((uint8_t *)&s.dptr, capdrv_dma_ref(&t.l, 0), 32, 0x2);
    assert_int_equal(nt_cmd(&t, 1, &s), 0);
    uint8_t medium[16384], want[16384];
    memcpy(want, d, 8192);
    memcpy(want + 8192, d + 8192, 6144);
    memcpy(want + 14336, d + 15360, 2048);
    assert_int_equal(capdrv_sim_nvme_data(t.f.sim, t.fn, 1, 300 * 512, medium, sizeof medium, false), 0);
    assert_memory_equal(medium, want, sizeof medium);
    /* Read it all back through a Last Segment in the SQE. */
    memset(d + 32768, 0, 16384);
    sgl_desc(l + 8192, capdrv_dma_ref(&t.d, 32768), 8192, 0x0);
    sgl_desc(l + 8192 + 16, capdrv_dma_ref(&t.d, 40960), 8192, 0x0);
    s = nt_sqe(&t, 0x02, 1);
    s.flags = 1u << 6;
    s.cdw10 = 300;
    s.cdw12 = 31;
    sgl_desc((uint8_t *)&s.dptr, capdrv_dma_ref(&t.l, 8192), 32, 0x3);
    assert_int_equal(nt_cmd(&t, 1, &s), 0);
    assert_memory_equal(d + 32768, want, sizeof want);
    /* Refused: a bit bucket, a length that is not the transfer's, a data
     * block outside the ledger, a segment that leads nowhere. */
    sgl_desc(l + 8192 + 16, capdrv_dma_ref(&t.d, 40960), 8192, 0x1);
    refused(&t, 1, s, -CAPDRV_EINVAL);
    sgl_desc(l + 8192 + 16, capdrv_dma_ref(&t.d, 40960), 4096, 0x0);
    refused(&t, 1, s, -CAPDRV_EINVAL);
    sgl_desc(l + 8192 + 16, capdrv_dma_ref(&t.d, 0) + (iommu ? DB_SIZE : 0) +
                                (iommu ? 0 : 1ull << 48), 8192, 0x0);
    refused(&t, 1, s, -CAPDRV_EFAULT);
    sgl_desc(l + 8192 + 16, capdrv_dma_ref(&t.d, 40960), 8192, 0x0);
    s.dptr.sgl1.id = 0x2 << 4; /* a Segment whose last entry is a data block */
    refused(&t, 1, s, -CAPDRV_EINVAL);
    /* Brokered: the rebuilt segments, the data and everything else the
     * provider can read hold no device address (phys_scan.h). */
    if (!iommu)
        nt_assert_no_leak(&t);
    nt_done(&t);
}

static void t_sgl_brokered(void **state)
{
    (void)state;
    sgl_run(false);
}

static void t_sgl_direct(void **state)
{
    (void)state;
    sgl_run(true);
}

/* Queue memory is the controller's: queues never overlap one another, and
 * no PRP list or SGL segment lies in a CQ ring, where completions posted
 * meanwhile would change entries the shim checked (direct lane). */
static void overlap_run(bool iommu)
{
    struct nt t;
    struct capdrv_sim_nvme_config cfg = {.sgl = true};
    nt_up(&t, iommu, &cfg);
    const uint64_t cq_bytes = QDEPTH * 16u; /* CQ 1 at QB_IOCQ */
    struct capdrv_nvme_sqe s = nt_sqe(&t, 0x05, 0); /* CQ 2 ... */
    s.cdw10 = 3u << 16 | 2u;
    s.cdw11 = 1;
    s.dptr.prp.prp1 = capdrv_dma_ref(&t.q, QB_IOSQ); /* ... over SQ 1 */
    refused(&t, 0, s, -CAPDRV_EINVAL);
    s.dptr.prp.prp1 = capdrv_dma_ref(&t.q, QB_ACQ); /* ... over the admin CQ */
    refused(&t, 0, s, -CAPDRV_EINVAL);
    s = nt_sqe(&t, 0x01, 0); /* SQ 2 on CQ 1, over CQ 1 */
    s.cdw10 = 3u << 16 | 2u;
    s.cdw11 = 1u << 16 | 1u;
    s.dptr.prp.prp1 = capdrv_dma_ref(&t.q, QB_IOCQ);
    refused(&t, 0, s, -CAPDRV_EINVAL);
    /* A 12 KiB write: PRP1 plus a list of two entries. */
    uint8_t *q = t.q.cpu;
    for (unsigned at = 0; at < 4096; at += 16) {
        nt_put_le(q + QB_IOCQ + at, 8, capdrv_dma_ref(&t.d, 4096));
        nt_put_le(q + QB_IOCQ + at + 8, 8, capdrv_dma_ref(&t.d, 8192));
    }
    s = rw_sqe(&t, 0x01, 1, 0, 24, capdrv_dma_ref(&t.d, 0));
    s.dptr.prp.prp2 = capdrv_dma_ref(&t.q, QB_IOCQ + cq_bytes - 8); /* last CQE's qword */
    refused(&t, 1, s, -CAPDRV_EINVAL);
    s.dptr.prp.prp2 = capdrv_dma_ref(&t.q, QB_IOCQ + cq_bytes); /* just past the ring */
    assert_int_equal(nt_cmd(&t, 1, &s), 0);
    /* An SGL Last Segment in the admin CQ. */
    s = nt_sqe(&t, 0x01, 1);
    s.flags = 1u << 6;
    s.cdw12 = 7; /* 4 KiB */
    sgl_desc(q + QB_ACQ + 64, capdrv_dma_ref(&t.d, 0), 4096, 0x0);
    sgl_desc((uint8_t *)&s.dptr, capdrv_dma_ref(&t.q, QB_ACQ + 64), 16, 0x3);
    refused(&t, 1, s, -CAPDRV_EINVAL);
    /* ASQ and ACQ in the same page: the enable is refused. */
    nt_w32(&t, R_CC, 0);
    for (unsigned n = 0; (nt_r32(&t, R_CSTS) & 1u) && n < 100; n++)
        capdrv_sim_advance(t.f.sim, 1000000);
    assert_int_equal(nt_wr(&t, R_ACQ, 8, capdrv_dma_ref(&t.q, QB_ASQ + 512)), 0);
    assert_int_equal(nt_wr(&t, R_CC, 4, CC_ON), -CAPDRV_EINVAL);
    assert_int_equal(nt_r32(&t, R_CSTS) & 1u, 0u);
    nt_done(&t);
}

static void t_overlap_brokered(void **state)
{
    (void)state;
    overlap_run(false);
}

static void t_overlap_direct(void **state)
{
    (void)state;
    overlap_run(true);
}

static void write_one(struct nt *t, uint64_t slba)
{
    nt_pattern(t->d.cpu, 4096, (unsigned)slba);
    assert_int_equal(nt_rw(t, 0x01, slba, 8, capdrv_dma_ref(&t->d, 0), 0), 0);
}

/* CC.EN 1->0: doorbells refused at once; once CSTS.RDY reads 0 the shadows
 * are freed and nothing is in flight; the controller comes up again. */
static void t_reset_retires(void **state)
{
    (void)state;
    struct nt t;
    struct capdrv_sim_nvme_config cfg = {.ready_delay_ns = 5000000};
    nt_up(&t, false, &cfg);
    write_one(&t, 1);
    struct capdrv_shim_stats st;
    assert_int_equal(capdrv_shim_stats(t.f.shim, &st), 0);
    assert_true(st.dma_inflight > 0);
    assert_int_equal(st.dma_buffers, 5);
    nt_w32(&t, R_CC, CC_ON & ~1u);
    assert_int_equal(nt_wr(&t, R_DB + 2 * t.stride, 4, 1), -CAPDRV_EINVAL);
    assert_int_equal(nt_wr(&t, R_CC, 4, CC_ON), -CAPDRV_EBUSY); /* RDY still 1 */
    assert_int_equal(capdrv_shim_stats(t.f.shim, &st), 0);
    assert_true(st.dma_inflight > 0); /* not yet: the controller still runs */
    capdrv_sim_advance(t.f.sim, 10000000);
    assert_int_equal(nt_r32(&t, R_CSTS) & 1u, 0);
    assert_int_equal(capdrv_shim_stats(t.f.shim, &st), 0);
    assert_int_equal(st.dma_inflight, 0);
    assert_int_equal(st.dma_buffers, 3);
    /* Released now, an idle buffer goes without a reset. */
    unsigned resets = capdrv_sim_reset_count(t.f.sim, t.fn);
    assert_int_equal(capdrv_cap_release(t.f.p1, t.lb), 0);
    assert_int_equal(capdrv_sim_reset_count(t.f.sim, t.fn), resets);
    nt_enable(&t);
    nt_create_io(&t);
    write_one(&t, 2);
    nt_done(&t);
}

static void t_release_inflight_resets(void **state)
{
    (void)state;
    struct nt t;
    nt_up(&t, false, NULL);
    write_one(&t, 3);
    unsigned resets = capdrv_sim_reset_count(t.f.sim, t.fn);
    /* The controller is enabled and may still use the buffer. */
    assert_int_equal(capdrv_cap_release(t.f.p1, t.db), 0);
    assert_int_equal(capdrv_sim_reset_count(t.f.sim, t.fn), resets + 1);
    struct capdrv_shim_stats st;
    assert_int_equal(capdrv_shim_stats(t.f.shim, &st), 0);
    assert_int_equal(st.dma_buffers, 2); /* q and l; the shadows went with the reset */
    assert_int_equal(st.dma_inflight, 0);
    assert_int_equal(nt_wr(&t, R_DB + 2 * t.stride, 4, 1), -CAPDRV_EINVAL);
    nt_done(&t);
}

/* CC.SHN: no submissions afterwards; completions may still be reaped. */
static void t_shutdown_stops_submissions(void **state)
{
    (void)state;
    struct nt t;
    nt_up(&t, false, NULL);
    nt_w32(&t, R_CC, CC_ON | 1u << 14);
    assert_int_equal(nt_r32(&t, R_CSTS) >> 2 & 3u, 2u); /* SHST complete */
    assert_int_equal(nt_wr(&t, R_DB, 4, 1), -CAPDRV_EINVAL);
    assert_int_equal(nt_wr(&t, R_DB + 2 * t.stride, 4, 1), -CAPDRV_EINVAL);
    assert_int_equal(nt_wr(&t, R_DB + 3 * t.stride, 4, 0), 0); /* CQ 1 head */
    nt_done(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_command_rules),
        cmocka_unit_test(t_admin_batch_rollback),
        cmocka_unit_test(t_sgl_brokered),
        cmocka_unit_test(t_sgl_direct),
        cmocka_unit_test(t_overlap_brokered),
        cmocka_unit_test(t_overlap_direct),
        cmocka_unit_test(t_reset_retires),
        cmocka_unit_test(t_release_inflight_resets),
        cmocka_unit_test(t_shutdown_stops_submissions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
