/* The sim platform's NVMe controller (capdrv_sim_add_nvme()): registers,
 * the enable / reset / shutdown state machine, admin commands, driven by
 * hand through the platform operations (test_sim_nvme_drv.c).
 *
 * Covered: identity and register layout; enable / disable with RDY, with
 * and without a ready delay; shutdown; CFS for every bad enable-time
 * configuration; FLR; Identify controller / namespace / NSID list /
 * descriptors and their error statuses; I/O queue creation and deletion
 * with every error status; Number of Queues; features; log pages; the
 * asynchronous event request (events from bad doorbells and a temperature
 * threshold, the limit); interrupts per CQ. */
#include "test_sim_nvme_drv.h"

#include <string.h>

static void test_identity_and_registers(void **state)
{
    (void)state;
    struct nt t;
    struct capdrv_sim_nvme_config cfg = {.max_io_queues = 6, .mqes = 256, .dstrd = 1,
                                         .cap_to = 7};
    nt_open(&t, &cfg);
    struct capdrv_hw_function info;
    assert_int_equal(t.hw.ops->function_info(t.hw.ctx, t.fn, &info), 0);
    assert_int_equal(info.id.vendor, 0x1b36);
    assert_int_equal(info.id.device, 0x0010);
    assert_int_equal(info.id.subsys_vendor, 0x1af4);
    assert_int_equal(info.id.subsys_device, 0x1100);
    assert_int_equal(info.id.class_code, 0x010802);
    assert_int_equal(info.bar_size[0], 0x4000);
    assert_int_equal(info.bar_size[2], 0x1000);
    uint32_t ctrl;
    assert_int_equal(t.hw.ops->cfg_read(t.hw.ctx, t.fn, 0x82, 2, &ctrl), 0);
    assert_int_equal((ctrl & 0x7ff) + 1, 7); /* max_io_queues + 1 vectors */

    uint64_t cap = nt_rd(&t, R_CAP, 8);
    assert_int_equal(cap & 0xffff, 255);        /* MQES */
    assert_int_equal((cap >> 16) & 1, 1);       /* CQR */
    assert_int_equal((cap >> 17) & 3, 0);       /* AMS */
    assert_int_equal((cap >> 24) & 0xff, 7);    /* TO */
    assert_int_equal((cap >> 32) & 0xf, 1);     /* DSTRD */
    assert_int_equal((cap >> 36) & 1, 0);       /* NSSRS */
    assert_int_equal((cap >> 37) & 0xff, 1);    /* CSS: NVM */
    assert_int_equal((cap >> 48) & 0xf, 0);     /* MPSMIN */
    assert_int_equal((cap >> 52) & 0xf, 4);     /* MPSMAX */
    assert_int_equal(nt_rd(&t, R_CAP, 4), cap & 0xffffffffu);
    assert_int_equal(nt_rd(&t, R_CAP + 4, 4), cap >> 32);
    assert_int_equal(nt_rd(&t, R_VS, 4), 0x00020000);
    assert_int_equal(nt_rd(&t, R_CC, 4), 0);
    assert_int_equal(nt_csts(&t), 0);
    assert_int_equal(nt_rd(&t, 0x20, 4), 0);  /* NSSR absent */
    assert_int_equal(nt_rd(&t, 0x38, 4), 0);  /* CMBLOC */
    assert_int_equal(nt_rd(&t, 0x3c, 4), 0);  /* CMBSZ */
    assert_int_equal(nt_rd(&t, 0xe00, 4), 0); /* PMR etc. */
    /* Read-only registers ignore writes; reserved bits of ASQ read 0. */
    nt_wr(&t, R_CAP, 4, 0);
    nt_wr(&t, R_VS, 4, 0);
    nt_wr(&t, R_CSTS, 4, 0xffffffff);
    assert_int_equal(nt_rd(&t, R_VS, 4), 0x00020000);
    assert_int_equal(nt_csts(&t), 0);
    nt_wr(&t, R_ASQ, 8, 0x123456789abcdefull);
    assert_int_equal(nt_rd(&t, R_ASQ, 8), 0x123456789abc000ull);
    nt_wr(&t, R_ACQ, 4, 0x11112fff);
    nt_wr(&t, R_ACQ + 4, 4, 0x2);
    assert_int_equal(nt_rd(&t, R_ACQ, 8), 0x211112000ull);
    nt_wr(&t, R_AQA, 4, 0xffffffff);
    assert_int_equal(nt_rd(&t, R_AQA, 4), 0x0fff0fff);
    /* Wrong widths are dropped. */
    nt_wr(&t, R_CC, 2, 1);
    assert_int_equal(nt_rd(&t, R_CC, 4), 0);
    /* INTMS/INTMC are reserved with MSI-X. */
    nt_wr(&t, R_INTMS, 4, 0xffffffff);
    assert_int_equal(nt_rd(&t, R_INTMS, 4), 0);
    /* The doorbell stride: with DSTRD 1, SQ1 tail is at 0x1010. */
    t.dstrd = 1;
    nt_enable(&t);
    nt_io_pair(&t, 1, 8);
    struct ncmd fl = {.opc = 0x00, .nsid = 1};
    assert_int_equal(nt_cmd(&t, 1, &fl).st, 0);
    struct capdrv_sim_nvme_stats s;
    assert_int_equal(capdrv_sim_nvme_stats(t.sim, t.fn, &s), 0);
    assert_int_equal(s.admin_cmds, 2);
    assert_int_equal(s.io_cmds, 1);
    assert_int_equal(s.doorbells, 6); /* 3 tail + 3 head doorbells */
    /* Not an NVMe function / unknown function. */
    assert_int_equal(capdrv_sim_nvme_stats(t.sim, t.fn + 1, &s), -CAPDRV_ENOENT);
    assert_int_equal(capdrv_sim_nvme_stats(NULL, t.fn, &s), -CAPDRV_EINVAL);
    nt_close(&t, 0);
}

static void test_add_config_errors(void **state)
{
    (void)state;
    struct capdrv_sim *sim;
    assert_int_equal(capdrv_sim_create(NULL, &sim), 0);
    struct capdrv_pci_addr a = {0, 0, 8, 0};
    const struct capdrv_sim_nvme_config bad[] = {
        {.n_namespaces = 5},
        {.max_io_queues = 17},
        {.mqes = 1},
        {.mqes = 4097},
        {.dstrd = 3},
        {.mdts = 9},
        {.cap_to = 256},
        {.ns = {{.lba_shift = 10}}},
        {.ns = {{.lba_count = UINT64_MAX}}},
        {.n_namespaces = 2, .ns = {{0}, {.lba_shift = 13}}},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(capdrv_sim_add_nvme(sim, &a, &bad[i], NULL), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_sim_add_nvme(NULL, &a, NULL, NULL), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_sim_add_nvme(sim, NULL, NULL, NULL), -CAPDRV_EINVAL);
    unsigned fn, dt;
    assert_int_equal(capdrv_sim_add_nvme(sim, &a, NULL, &fn), 0);
    assert_int_equal(capdrv_sim_add_nvme(sim, &a, NULL, NULL), -CAPDRV_EEXIST);
    struct capdrv_pci_addr b = {0, 0, 9, 0};
    assert_int_equal(capdrv_sim_add_dmatest(sim, &b, &dt), 0);
    uint8_t x[8] = {1, 2, 3, 4, 5, 6, 7, 8}, y[8] = {0};
    struct capdrv_sim_nvme_stats s;
    struct capdrv_sim_nvme_fault f = {.kind = CAPDRV_SIM_NVME_FAULT_DROP, .qid = -1, .opcode = -1};
    assert_int_equal(capdrv_sim_nvme_data(sim, dt, 1, 0, x, 8, false), -CAPDRV_ENODEV);
    assert_int_equal(capdrv_sim_nvme_stats(sim, dt, &s), -CAPDRV_ENODEV);
    assert_int_equal(capdrv_sim_nvme_set_fault(sim, dt, &f), -CAPDRV_ENODEV);
    assert_int_equal(capdrv_sim_nvme_set_fault(sim, 99, &f), -CAPDRV_ENOENT);
    /* Bad faults. */
    struct capdrv_sim_nvme_fault bf[] = {
        {.kind = (enum capdrv_sim_nvme_fault_kind)99, .qid = -1, .opcode = -1},
        {.kind = CAPDRV_SIM_NVME_FAULT_DROP, .qid = -2, .opcode = -1},
        {.kind = CAPDRV_SIM_NVME_FAULT_DROP, .qid = 17, .opcode = -1},
        {.kind = CAPDRV_SIM_NVME_FAULT_DROP, .qid = -1, .opcode = 256},
        {.kind = CAPDRV_SIM_NVME_FAULT_STATUS, .qid = -1, .opcode = -1, .status = 0x802},
    };
    for (size_t i = 0; i < sizeof bf / sizeof bf[0]; i++)
        assert_int_equal(capdrv_sim_nvme_set_fault(sim, fn, &bf[i]), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_sim_nvme_set_fault(sim, fn, NULL), 0);
    /* Direct medium access: namespace and range checks. */
    assert_int_equal(capdrv_sim_nvme_data(sim, fn, 0, 0, x, 8, true), -CAPDRV_ENOENT);
    assert_int_equal(capdrv_sim_nvme_data(sim, fn, 2, 0, x, 8, true), -CAPDRV_ENOENT);
    assert_int_equal(capdrv_sim_nvme_data(sim, fn, 1, 2048 * 512 - 4, x, 8, true),
                     -CAPDRV_ERANGE);
    assert_int_equal(capdrv_sim_nvme_data(sim, fn, 1, 2048 * 512 - 8, x, 8, true), 0);
    assert_int_equal(capdrv_sim_nvme_data(sim, fn, 1, 2048 * 512 - 8, y, 8, false), 0);
    assert_memory_equal(x, y, 8);
    assert_int_equal(capdrv_sim_nvme_data(sim, fn, 1, 0, NULL, 8, false), -CAPDRV_EINVAL);
    capdrv_sim_destroy(sim);
}

static void test_enable_disable(void **state)
{
    (void)state;
    struct nt t;
    nt_open(&t, NULL);
    nt_enable(&t);
    /* Frozen while enabled: AQA, ASQ, CC fields other than EN/SHN. */
    nt_wr(&t, R_AQA, 4, 0x00010001);
    assert_int_equal(nt_rd(&t, R_AQA, 4), 0x000f000f);
    nt_wr(&t, R_ASQ, 8, 0);
    assert_int_equal(nt_rd(&t, R_ASQ, 8), nt_dev(&t, NT_ASQ));
    nt_wr(&t, R_CC, 4, CC_READY_VALUE | (2u << 7));
    assert_int_equal(nt_rd(&t, R_CC, 4), CC_READY_VALUE);
    struct ncmd ka = {.opc = 0x18};
    assert_int_equal(nt_cmd(&t, 0, &ka).st, 0);
    nt_disable(&t);
    assert_int_equal(nt_rd(&t, R_AQA, 4), 0x000f000f); /* kept by a reset */
    /* Doorbells while disabled are dropped. */
    struct capdrv_sim_nvme_stats s0, s1;
    assert_int_equal(capdrv_sim_nvme_stats(t.sim, t.fn, &s0), 0);
    nt_wr(&t, nt_sq_db(&t, 0), 4, 1);
    assert_int_equal(capdrv_sim_nvme_stats(t.sim, t.fn, &s1), 0);
    assert_int_equal(s1.doorbells, s0.doorbells);
    /* Enable again: the admin queue starts from slot 0. */
    nt_enable(&t);
    assert_int_equal(nt_cmd(&t, 0, &ka).st, 0);
    /* Shutdown without a delay completes at once and stops fetching. */
    nt_wr(&t, R_CC, 4, CC_READY_VALUE | (1u << 14));
    assert_int_equal((nt_csts(&t) >> 2) & 3, 2);
    nt_put(&t, 0, &ka);
    nt_ring(&t, 0);
    struct ncqe e;
    assert_false(nt_peek(&t, 0, &e));
    nt_disable(&t);
    assert_int_equal((nt_csts(&t) >> 2) & 3, 0);
    nt_close(&t, 0);
}

static void test_ready_delay(void **state)
{
    (void)state;
    struct nt t;
    struct capdrv_sim_nvme_config cfg = {.ready_delay_ns = 5000};
    nt_open(&t, &cfg);
    nt_enable_cc(&t, NT_ADMIN_ENTRIES, CC_READY_VALUE);
    assert_int_equal(nt_csts(&t) & 1, 0);
    capdrv_sim_advance(t.sim, 4999);
    assert_int_equal(nt_csts(&t) & 1, 0);
    capdrv_sim_advance(t.sim, 1);
    assert_int_equal(nt_csts(&t) & 1, 1);
    /* Shutdown: SHST 01b, then 10b after the delay. */
    nt_wr(&t, R_CC, 4, CC_READY_VALUE | (1u << 14));
    assert_int_equal((nt_csts(&t) >> 2) & 3, 1);
    capdrv_sim_advance(t.sim, 5000);
    assert_int_equal((nt_csts(&t) >> 2) & 3, 2);
    /* Reset: RDY follows after the delay, SHST clears at once. */
    nt_wr(&t, R_CC, 4, 0);
    assert_int_equal(nt_csts(&t) & 0xd, 1);
    capdrv_sim_advance(t.sim, 5000);
    assert_int_equal(nt_csts(&t), 0);
    assert_int_equal(capdrv_sim_now(t.sim), 15000);
    nt_close(&t, 0);
}

static void test_cfs_on_bad_config(void **state)
{
    (void)state;
    struct nt t;
    nt_open(&t, NULL);
    const struct {
        uint16_t entries;
        uint32_t cc;
    } bad[] = {
        {16, CC_READY_VALUE | (1u << 4)},  /* CSS 001b */
        {16, CC_READY_VALUE | (5u << 7)},  /* MPS beyond MPSMAX */
        {16, CC_READY_VALUE | (1u << 11)}, /* AMS */
        {16, 1u | (7u << 16) | (4u << 20)}, /* IOSQES */
        {16, 1u | (6u << 16) | (5u << 20)}, /* IOCQES */
        {1, CC_READY_VALUE},               /* one-entry admin queues */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nt_enable_cc(&t, bad[i].entries, bad[i].cc);
        assert_int_equal(nt_csts(&t) & 3, 2); /* CFS, never RDY */
        nt_wr(&t, R_CC, 4, 0);
        assert_int_equal(nt_csts(&t), 0);     /* a reset clears CFS */
    }
    /* IOSQES/IOCQES 0 is accepted (admin only); I/O queues then fail. */
    nt_enable_cc(&t, 16, 1u);
    assert_int_equal(nt_csts(&t) & 3, 1);
    assert_int_equal(nt_create_cq(&t, 1, 8, false, 0), ST(0, 0x02));
    nt_close(&t, 0);
}

static void test_flr(void **state)
{
    (void)state;
    struct nt t;
    nt_open(&t, NULL);
    nt_enable(&t);
    nt_io_pair(&t, 1, 8);
    assert_int_equal(t.hw.ops->function_reset(t.hw.ctx, t.fn), 0);
    assert_int_equal(nt_rd(&t, R_CC, 4), 0);
    assert_int_equal(nt_rd(&t, R_AQA, 4), 0);
    assert_int_equal(nt_rd(&t, R_ASQ, 8), 0);
    assert_int_equal(nt_rd(&t, R_ACQ, 8), 0);
    assert_int_equal(nt_csts(&t), 0);
    /* MSI-X was reset: route the admin vector again. */
    assert_int_equal(t.hw.ops->irq_enable(t.hw.ctx, t.fn, 0), 0);
    nt_enable(&t);
    /* The I/O queues are gone: creating queue 1 again succeeds. */
    nt_io_pair(&t, 1, 8);
    nt_close(&t, 0);
}

static void test_identify(void **state)
{
    (void)state;
    struct nt t;
    struct capdrv_sim_nvme_config cfg = {
        .n_namespaces = 3,
        .ns = {{.lba_count = 100}, {.lba_count = 50, .lba_shift = 12}, {0}},
        .mdts = 3,
        .sgl = true,
        .no_dsm = true,
    };
    nt_open(&t, &cfg);
    nt_enable(&t);
    const uint8_t *b = nt_cpu(&t, NT_DATA);
    assert_int_equal(nt_identify(&t, 1, 0), 0);
    assert_int_equal(nt_get_le(b, 2), 0x1b36);
    assert_int_equal(nt_get_le(b + 2, 2), 0x1af4);
    char sn[21] = {0}, mn[41] = {0}, fr[9] = {0};
    memcpy(sn, b + 4, 20);
    memcpy(mn, b + 24, 40);
    memcpy(fr, b + 64, 8);
    assert_string_equal(sn, "capdrv-sim-nvme     ");
    assert_string_equal(mn, "capdrv simulated NVMe controller        ");
    assert_string_equal(fr, "capdrv01");
    assert_int_equal(b[77], 3);                    /* MDTS */
    assert_int_equal(nt_get_le(b + 78, 2), 1);     /* CNTLID */
    assert_int_equal(nt_get_le(b + 80, 4), 0x00020000);
    assert_int_equal(nt_get_le(b + 256, 2) & 0x100, 0); /* OACS.DBBC */
    assert_int_equal(b[258], 3);                   /* ACL */
    assert_int_equal(b[259], 3);                   /* AERL */
    assert_int_equal(b[512], 0x66);
    assert_int_equal(b[513], 0x44);
    assert_int_equal(nt_get_le(b + 516, 4), 3);    /* NN */
    assert_int_equal(nt_get_le(b + 520, 2), 0x08); /* ONCS: WZ, no DSM */
    assert_int_equal(nt_get_le(b + 536, 4) & 3, 1); /* SGLS */
    assert_int_equal(b[4095], 0);                  /* whole 4 KiB written */
    /* Namespaces. */
    assert_int_equal(nt_identify(&t, 0, 1), 0);
    assert_int_equal(nt_get_le(b, 8), 100);
    assert_int_equal(nt_get_le(b + 8, 8), 100);
    assert_int_equal(nt_get_le(b + 16, 8), 100);
    assert_int_equal(b[25], 0);
    assert_int_equal(b[26], 0);
    assert_int_equal(b[130], 9);
    assert_int_equal(nt_identify(&t, 0, 2), 0);
    assert_int_equal(nt_get_le(b, 8), 50);
    assert_int_equal(b[130], 12);
    assert_int_equal(nt_identify(&t, 0, 3), 0);
    assert_int_equal(nt_get_le(b, 8), 2048);
    assert_int_equal(nt_identify(&t, 0, 4), ST(0, 0x0b));
    assert_int_equal(nt_identify(&t, 0, 0), ST(0, 0x0b));
    assert_int_equal(nt_identify(&t, 0, 0xffffffff), ST(0, 0x0b));
    /* Active NSID list. */
    assert_int_equal(nt_identify(&t, 2, 0), 0);
    assert_int_equal(nt_get_le(b, 4), 1);
    assert_int_equal(nt_get_le(b + 4, 4), 2);
    assert_int_equal(nt_get_le(b + 8, 4), 3);
    assert_int_equal(nt_get_le(b + 12, 4), 0);
    assert_int_equal(nt_identify(&t, 2, 2), 0);
    assert_int_equal(nt_get_le(b, 4), 3);
    assert_int_equal(nt_get_le(b + 4, 4), 0);
    assert_int_equal(nt_identify(&t, 2, 0xfffffffe), ST(0, 0x0b));
    /* Namespace identification descriptors: CSI = NVM. */
    assert_int_equal(nt_identify(&t, 3, 1), 0);
    assert_int_equal(b[0], 4);
    assert_int_equal(b[1], 1);
    assert_int_equal(b[4], 0);
    assert_int_equal(b[5], 0);
    /* Unknown CNS. */
    assert_int_equal(nt_identify(&t, 0x10, 0), ST(0, 0x02));
    /* PRP1 with an offset: the 4 KiB cross into PRP2's page. */
    struct ncmd c = {.opc = 0x06, .prp1 = nt_dev(&t, NT_DATA + 0x2800),
                     .prp2 = nt_dev(&t, NT_DATA + 0x5000), .cdw10 = 1};
    memset(nt_cpu(&t, NT_DATA + 0x2000), 0, 0x4000);
    assert_int_equal(nt_cmd(&t, 0, &c).st, 0);
    assert_int_equal(nt_get_le(nt_cpu(&t, NT_DATA + 0x2800), 2), 0x1b36);
    assert_int_equal(nt_get_le(nt_cpu(&t, NT_DATA + 0x2800 + 516), 4), 3); /* NN */
    /* Bytes 0x800.. went to PRP2's page: PSD0 MP at 2048. */
    assert_int_equal(nt_get_le(nt_cpu(&t, NT_DATA + 0x5000), 2), 2500);
    assert_int_equal(nt_cpu(&t, NT_DATA + 0x5800)[0], 0);
    /* Admin commands must use PRPs; fused admin commands are refused. */
    c.flags = 0x40;
    assert_int_equal(nt_cmd(&t, 0, &c).st, ST(0, 0x02));
    c.flags = 0x01;
    assert_int_equal(nt_cmd(&t, 0, &c).st, ST(0, 0x02));
    /* Unknown admin opcodes (Format NVM, Doorbell Buffer Config). */
    struct ncmd fmt = {.opc = 0x80};
    struct ncqe e = nt_cmd(&t, 0, &fmt);
    assert_int_equal(e.st, ST(0, 0x01));
    assert_true(e.dnr);
    fmt.opc = 0x7c;
    assert_int_equal(nt_cmd(&t, 0, &fmt).st, ST(0, 0x01));
    nt_close(&t, 0);
}

static void test_queue_management(void **state)
{
    (void)state;
    struct nt t;
    struct capdrv_sim_nvme_config cfg = {.max_io_queues = 4, .mqes = 64};
    nt_open(&t, &cfg);
    nt_enable(&t);
    /* Number of Queues: granted at most max_io_queues each. */
    struct ncmd nq = {.opc = 0x09, .cdw10 = 0x07, .cdw11 = (5u << 16) | 1u};
    struct ncqe e = nt_cmd(&t, 0, &nq);
    assert_int_equal(e.st, 0);
    assert_int_equal(e.dw0, (3u << 16) | 1u); /* NCQA 4, NSQA 2 (0's based) */
    nq.cdw11 = 0xffff;
    assert_int_equal(nt_cmd(&t, 0, &nq).st, ST(0, 0x02));
    struct ncmd gq = {.opc = 0x0a, .cdw10 = 0x07};
    assert_int_equal(nt_cmd(&t, 0, &gq).dw0, (3u << 16) | 1u);
    /* Create I/O CQ errors. */
    assert_int_equal(nt_create_cq(&t, 0, 8, false, 0), ST(1, 0x01));
    assert_int_equal(nt_create_cq(&t, 5, 8, false, 0), ST(1, 0x01)); /* beyond granted */
    assert_int_equal(nt_create_cq(&t, 1, 1, false, 0), ST(1, 0x02));
    assert_int_equal(nt_create_cq(&t, 1, 65, false, 0), ST(1, 0x02));
    assert_int_equal(nt_create_cq(&t, 1, 8, true, 5), ST(1, 0x08)); /* vectors 0..4 */
    struct ncmd cc = {.opc = 0x05, .prp1 = nt_dev(&t, nt_cq_off(1)), .cdw10 = (7u << 16) | 1u,
                      .cdw11 = 0}; /* PC = 0 */
    assert_int_equal(nt_cmd(&t, 0, &cc).st, ST(0, 0x02));
    cc.cdw11 = 1;
    cc.prp1 += 0x100;
    assert_int_equal(nt_cmd(&t, 0, &cc).st, ST(0, 0x13));
    assert_int_equal(nt_create_cq(&t, 1, 64, true, 4), 0);
    assert_int_equal(nt_create_cq(&t, 1, 8, false, 0), ST(1, 0x01)); /* exists */
    /* Create I/O SQ errors. */
    assert_int_equal(nt_create_sq(&t, 1, 8, 2), ST(1, 0x00)); /* no such CQ */
    assert_int_equal(nt_create_sq(&t, 1, 8, 0), ST(1, 0x00)); /* admin CQ */
    assert_int_equal(nt_create_sq(&t, 3, 8, 1), ST(1, 0x01)); /* beyond granted SQs */
    assert_int_equal(nt_create_sq(&t, 1, 65, 1), ST(1, 0x02));
    struct ncmd cs = {.opc = 0x01, .prp1 = nt_dev(&t, nt_sq_off(1)), .cdw10 = (7u << 16) | 1u,
                      .cdw11 = 1u << 16}; /* PC = 0 */
    assert_int_equal(nt_cmd(&t, 0, &cs).st, ST(0, 0x02));
    assert_int_equal(nt_create_sq(&t, 1, 8, 1), 0);
    assert_int_equal(nt_create_sq(&t, 2, 8, 1), 0); /* two SQs share CQ 1 */
    assert_int_equal(nt_create_sq(&t, 2, 8, 1), ST(1, 0x01));
    /* Number of Queues after queues exist: Command Sequence Error. */
    nq.cdw11 = 0;
    assert_int_equal(nt_cmd(&t, 0, &nq).st, ST(0, 0x0c));
    /* Deletion rules. */
    struct ncmd dcq = {.opc = 0x04, .cdw10 = 1}, dsq = {.opc = 0x00, .cdw10 = 1};
    assert_int_equal(nt_cmd(&t, 0, &dcq).st, ST(1, 0x0c)); /* SQs still use it */
    assert_int_equal(nt_cmd(&t, 0, &dsq).st, 0);
    assert_int_equal(nt_cmd(&t, 0, &dsq).st, ST(1, 0x01));
    assert_int_equal(nt_cmd(&t, 0, &dcq).st, ST(1, 0x0c));
    dsq.cdw10 = 2;
    assert_int_equal(nt_cmd(&t, 0, &dsq).st, 0);
    assert_int_equal(nt_cmd(&t, 0, &dcq).st, 0);
    assert_int_equal(nt_cmd(&t, 0, &dcq).st, ST(1, 0x01));
    dcq.cdw10 = 0;
    assert_int_equal(nt_cmd(&t, 0, &dcq).st, ST(1, 0x01));
    dsq.cdw10 = 0;
    assert_int_equal(nt_cmd(&t, 0, &dsq).st, ST(1, 0x01));
    dsq.cdw10 = 0xffff;
    assert_int_equal(nt_cmd(&t, 0, &dsq).st, ST(1, 0x01));
    /* Now Number of Queues may change again. */
    assert_int_equal(nt_cmd(&t, 0, &nq).st, 0);
    /* A reset deletes I/O queues and resets Number of Queues. */
    nt_io_pair(&t, 1, 8);
    nt_disable(&t);
    nt_enable(&t);
    assert_int_equal(nt_cmd(&t, 0, &gq).dw0, (3u << 16) | 3u);
    nt_io_pair(&t, 1, 8);
    nt_io_pair(&t, 4, 8);
    nt_close(&t, 0);
}

static void test_features(void **state)
{
    (void)state;
    struct nt t;
    nt_open(&t, NULL);
    nt_enable(&t);
    struct ncmd sf = {.opc = 0x09}, gf = {.opc = 0x0a};
    /* Interrupt Coalescing: stored. */
    sf.cdw10 = 0x08;
    sf.cdw11 = 0x0a05;
    assert_int_equal(nt_cmd(&t, 0, &sf).st, 0);
    gf.cdw10 = 0x08;
    assert_int_equal(nt_cmd(&t, 0, &gf).dw0, 0x0a05);
    gf.cdw10 = 0x08 | (1u << 8); /* default */
    assert_int_equal(nt_cmd(&t, 0, &gf).dw0, 0);
    gf.cdw10 = 0x08 | (3u << 8); /* supported capabilities: changeable */
    assert_int_equal(nt_cmd(&t, 0, &gf).dw0, 4);
    gf.cdw10 = 0x08 | (4u << 8);
    assert_int_equal(nt_cmd(&t, 0, &gf).st, ST(0, 0x02));
    /* Async Event Configuration. */
    sf.cdw10 = 0x0b;
    sf.cdw11 = 0xff;
    assert_int_equal(nt_cmd(&t, 0, &sf).st, 0);
    gf.cdw10 = 0x0b;
    assert_int_equal(nt_cmd(&t, 0, &gf).dw0, 0xff);
    /* Volatile Write Cache. */
    gf.cdw10 = 0x06;
    assert_int_equal(nt_cmd(&t, 0, &gf).dw0, 1);
    sf.cdw10 = 0x06;
    sf.cdw11 = 0;
    assert_int_equal(nt_cmd(&t, 0, &sf).st, 0);
    assert_int_equal(nt_cmd(&t, 0, &gf).dw0, 0);
    /* Temperature threshold (composite sensor). */
    gf.cdw10 = 0x04;
    gf.cdw11 = 0;
    assert_int_equal(nt_cmd(&t, 0, &gf).dw0, 0x157);
    gf.cdw11 = 1u << 16; /* sensor 1: not there */
    assert_int_equal(nt_cmd(&t, 0, &gf).st, ST(0, 0x02));
    /* Saving is not supported; unknown features. */
    sf.cdw10 = 0x08 | (1u << 31);
    assert_int_equal(nt_cmd(&t, 0, &sf).st, ST(1, 0x0d));
    sf.cdw10 = 0x0c; /* APST */
    assert_int_equal(nt_cmd(&t, 0, &sf).st, ST(0, 0x02));
    gf.cdw10 = 0x02;
    assert_int_equal(nt_cmd(&t, 0, &gf).st, ST(0, 0x02));
    nt_close(&t, 0);
}

static void test_log_pages(void **state)
{
    (void)state;
    struct nt t;
    nt_open(&t, NULL);
    nt_enable(&t);
    nt_io_pair(&t, 1, 8);
    const uint8_t *b = nt_cpu(&t, NT_DATA);
    struct ncmd gl = {.opc = 0x02, .nsid = 0xffffffff, .prp1 = nt_dev(&t, NT_DATA)};
    /* Firmware slot. */
    gl.cdw10 = 0x03 | (127u << 16);
    assert_int_equal(nt_cmd(&t, 0, &gl).st, 0);
    assert_int_equal(b[0], 1);
    assert_memory_equal(b + 8, "capdrv01", 8);
    /* Two reads of 8 blocks and a failing command. */
    assert_int_equal(nt_rw(&t, 1, false, 1, 0, 8, nt_dev(&t, NT_DATA + 0x10000), 0), 0);
    assert_int_equal(nt_rw(&t, 1, true, 1, 0, 8, nt_dev(&t, NT_DATA + 0x10000), 0), 0);
    assert_int_equal(nt_rw(&t, 1, false, 1, 2048, 1, nt_dev(&t, NT_DATA + 0x10000), 0),
                     ST(0, 0x80));
    /* SMART / health. */
    memset(nt_cpu(&t, NT_DATA), 0xee, 4096);
    gl.cdw10 = 0x02 | (127u << 16);
    assert_int_equal(nt_cmd(&t, 0, &gl).st, 0);
    assert_int_equal(b[0], 0);
    assert_int_equal(nt_get_le(b + 1, 2), CAPDRV_SIM_NVME_TEMP_K);
    assert_int_equal(b[3], 100);
    assert_int_equal(nt_get_le(b + 32, 8), 1); /* 8 units read: rounds up to 1 */
    assert_int_equal(nt_get_le(b + 48, 8), 1);
    assert_int_equal(nt_get_le(b + 64, 8), 1);
    assert_int_equal(nt_get_le(b + 80, 8), 1);
    assert_int_equal(nt_get_le(b + 176, 8), 1);
    assert_int_equal(b[511], 0);
    assert_int_equal(b[512], 0xee); /* exactly 512 bytes */
    /* Error information: the LBA Out of Range read, newest first. */
    gl.cdw10 = 0x01 | (31u << 16); /* two entries */
    assert_int_equal(nt_cmd(&t, 0, &gl).st, 0);
    assert_int_equal(nt_get_le(b, 8), 1);          /* error count */
    assert_int_equal(nt_get_le(b + 8, 2), 1);      /* SQID */
    assert_int_equal((nt_get_le(b + 12, 2) >> 1) & 0xff, 0x80);
    assert_int_equal(nt_get_le(b + 24, 4), 1);     /* NSID */
    assert_int_equal(nt_get_le(b + 64, 8), 0);     /* no older entry */
    /* Offsets: dword aligned, inside the log. */
    gl.cdw10 = 0x02 | (0u << 16);
    gl.cdw12 = 1;
    assert_int_equal(nt_cmd(&t, 0, &gl).st, ST(0, 0x02));
    gl.cdw12 = 512;
    assert_int_equal(nt_cmd(&t, 0, &gl).st, ST(0, 0x02));
    gl.cdw12 = 4;
    memset(nt_cpu(&t, NT_DATA), 0xee, 8);
    assert_int_equal(nt_cmd(&t, 0, &gl).st, 0);
    assert_int_equal(b[0], 10); /* byte 4: Available Spare Threshold */
    assert_int_equal(b[4], 0xee);
    gl.cdw12 = 0;
    /* Unknown log page; NUMDU extends the length (beyond MDTS here). */
    gl.cdw10 = 0x7f;
    assert_int_equal(nt_cmd(&t, 0, &gl).st, ST(1, 0x09));
    gl.cdw10 = 0x02;
    gl.cdw11 = 1; /* NUMD = 65536 dwords = 256 KiB > 128 KiB */
    assert_int_equal(nt_cmd(&t, 0, &gl).st, ST(0, 0x02));
    nt_close(&t, 0);
}

/* Outstanding AERs, completed by events. */
static void test_async_events(void **state)
{
    (void)state;
    struct nt t;
    nt_open(&t, NULL);
    nt_enable(&t);
    nt_io_pair(&t, 1, 8);
    struct ncmd aer = {.opc = 0x0c};
    uint16_t ids[4];
    for (unsigned i = 0; i < 4; i++)
        ids[i] = nt_put(&t, 0, &aer);
    nt_ring(&t, 0);
    struct ncqe e;
    assert_false(nt_peek(&t, 0, &e)); /* all four held */
    /* A fifth exceeds AERL. */
    e = nt_cmd(&t, 0, &aer);
    assert_int_equal(e.st, ST(1, 0x05));
    /* SQ tail beyond the queue: Invalid Doorbell Write Value. */
    nt_wr(&t, nt_sq_db(&t, 1), 4, 8);
    assert_true(nt_take(&t, 0, &e));
    assert_int_equal(e.cid, ids[0]);
    assert_int_equal(e.st, 0);
    assert_int_equal(e.dw0, 0x010100); /* log 01h, info 01h, type 0 */
    /* A doorbell of a queue that does not exist. */
    nt_wr(&t, nt_sq_db(&t, 3), 4, 1);
    assert_true(nt_take(&t, 0, &e));
    assert_int_equal(e.cid, ids[1]);
    assert_int_equal(e.dw0, 0x010000);
    /* CQ head passing posted entries. */
    nt_wr(&t, nt_cq_db(&t, 1), 4, 3);
    assert_true(nt_take(&t, 0, &e));
    assert_int_equal(e.cid, ids[2]);
    assert_int_equal(e.dw0, 0x010100);
    /* CQ head beyond the queue. */
    nt_wr(&t, nt_cq_db(&t, 1), 4, 100);
    assert_true(nt_take(&t, 0, &e));
    assert_int_equal(e.cid, ids[3]);
    assert_int_equal(e.dw0, 0x010100);
    nt_release(&t, 0);
    /* An event with no request waits for the next one. */
    nt_wr(&t, nt_sq_db(&t, 5), 4, 1);
    e = nt_cmd(&t, 0, &aer);
    assert_int_equal(e.dw0, 0x010000);
    /* The I/O queue still works after the ignored doorbells. */
    assert_int_equal(nt_rw(&t, 1, false, 1, 0, 1, nt_dev(&t, NT_DATA), 0), 0);
    /* Temperature: enable SMART temperature events, lower the threshold
     * below the composite temperature: a SMART event and critical warning. */
    uint16_t id = nt_put(&t, 0, &aer);
    nt_ring(&t, 0);
    struct ncmd sf = {.opc = 0x09, .cdw10 = 0x0b, .cdw11 = 0x2};
    uint16_t sfid = nt_put(&t, 0, &sf);
    nt_ring(&t, 0);
    assert_true(nt_take(&t, 0, &e));
    assert_int_equal(e.cid, sfid);
    sf.cdw10 = 0x04;
    sf.cdw11 = CAPDRV_SIM_NVME_TEMP_K - 1;
    sfid = nt_put(&t, 0, &sf);
    nt_ring(&t, 0);
    assert_true(nt_take(&t, 0, &e)); /* the AER completes first, from inside Set Features */
    assert_int_equal(e.cid, id);
    assert_int_equal(e.dw0, 0x020101); /* log 02h, info 01h, type SMART */
    assert_true(nt_take(&t, 0, &e));
    assert_int_equal(e.cid, sfid);
    nt_release(&t, 0);
    struct ncmd gl = {.opc = 0x02, .prp1 = nt_dev(&t, NT_DATA), .cdw10 = 0x02 | (127u << 16)};
    assert_int_equal(nt_cmd(&t, 0, &gl).st, 0);
    assert_int_equal(nt_cpu(&t, NT_DATA)[0], 0x02);
    /* A reset drops outstanding requests. */
    nt_put(&t, 0, &aer);
    nt_ring(&t, 0);
    nt_disable(&t);
    nt_enable(&t);
    nt_wr(&t, nt_sq_db(&t, 1), 4, 1); /* queue 1 is gone: an event waits */
    e = nt_cmd(&t, 0, &aer);
    assert_int_equal(e.dw0, 0x010000);
    nt_close(&t, 0);
}

static void test_interrupts(void **state)
{
    (void)state;
    struct nt t;
    nt_open(&t, NULL);
    nt_enable(&t);
    (void)nt_fired(&t, 0);
    struct ncmd ka = {.opc = 0x18};
    nt_cmd(&t, 0, &ka);
    assert_int_equal(nt_fired(&t, 0), 1); /* the admin CQ uses vector 0 */
    assert_int_equal(nt_create_cq(&t, 1, 8, true, 3), 0);
    assert_int_equal(nt_create_sq(&t, 1, 8, 1), 0);
    assert_int_equal(nt_create_cq(&t, 2, 8, false, 3), 0);
    assert_int_equal(nt_create_sq(&t, 2, 8, 2), 0);
    (void)nt_fired(&t, 0);
    struct ncmd fl = {.opc = 0x00, .nsid = 1};
    nt_cmd(&t, 1, &fl);
    assert_int_equal(nt_fired(&t, 3), 1);
    assert_int_equal(nt_fired(&t, 0), 0);
    nt_cmd(&t, 2, &fl); /* IEN = 0: no interrupt */
    assert_int_equal(nt_fired(&t, 3), 0);
    assert_int_equal(nt_fired(&t, 0), 0);
    nt_close(&t, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity_and_registers),
        cmocka_unit_test(test_add_config_errors),
        cmocka_unit_test(test_enable_disable),
        cmocka_unit_test(test_ready_delay),
        cmocka_unit_test(test_cfs_on_bad_config),
        cmocka_unit_test(test_flr),
        cmocka_unit_test(test_identify),
        cmocka_unit_test(test_queue_management),
        cmocka_unit_test(test_features),
        cmocka_unit_test(test_log_pages),
        cmocka_unit_test(test_async_events),
        cmocka_unit_test(test_interrupts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
