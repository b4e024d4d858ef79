/* The NVMe profile of the shim (kernel-shim/profiles/nvme_*.c): the
 * bind-time probe, the BAR0 register rules and both DMA lanes, driven by a
 * hand-written provider (test_shim_nvme_drv.c) over the sim's NVMe
 * controller (NVMe Base 2.0 §3.1.4, §4.1; NVM 1.0 §3.3). */
#include "test_shim_nvme_drv.h"

#include <string.h>

/* ---- the probe ------------------------------------------------------------- */

static void t_probe_ok(void **state)
{
    (void)state;
    struct nt t;
    nt_claim(&t, false, NULL);
    struct capdrv_sim_nvme_stats s;
    assert_int_equal(capdrv_sim_nvme_stats(t.f.sim, t.fn, &s), 0);
    assert_true(s.admin_cmds >= 3); /* Identify controller, NSID list, namespace 1 */
    /* The probe left the controller disabled. */
    assert_int_equal(nt_r32(&t, R_CC) & 1u, 0);
    assert_int_equal(nt_r32(&t, R_CSTS) & 1u, 0);
    /* The shim's probe memory is gone: only the provider's three buffers. */
    struct capdrv_shim_stats st;
    assert_int_equal(capdrv_shim_stats(t.f.shim, &st), 0);
    assert_int_equal(st.dma_buffers, 3);
    nt_done(&t);
}

/* More probe commands than its admin queue has entries, with a doorbell
 * stride of 8 bytes: the probe must wrap both queues (phase flip) and ring
 * the CQ head doorbell at 0x1000 + stride, or it stalls on a full CQ. */
static void t_probe_wraps_its_queue(void **state)
{
    (void)state;
    struct nt t;
    struct capdrv_sim_nvme_config cfg = {.n_namespaces = 4, .dstrd = 1};
    nt_claim(&t, false, &cfg);
    struct capdrv_sim_nvme_stats s;
    assert_int_equal(capdrv_sim_nvme_stats(t.f.sim, t.fn, &s), 0);
    assert_int_equal(s.admin_cmds, 6); /* controller, NSID list, four namespaces */
    assert_int_equal(nt_r32(&t, R_CC) & 1u, 0);
    nt_done(&t);
}

static void probe_refused(const struct capdrv_sim_nvme_fault *fault, struct nt_hostile *h,
                          int want_rc, const char *want_why)
{
    struct nt t;
    memset(&t, 0, sizeof t);
    fx_machine(&t.f, false);
    struct capdrv_pci_addr a8 = {0, 0, 8, 0};
    assert_int_equal(capdrv_sim_add_nvme(t.f.sim, &a8, NULL, &t.fn), 0);
    if (fault)
        assert_int_equal(capdrv_sim_nvme_set_fault(t.f.sim, t.fn, fault), 0);
    if (h)
        nt_hostile_install(&t, h);
    assert_int_equal(fx_shim(&t.f, "nvme"), want_rc);
    if (!strstr(t.f.why, want_why))
        fail_msg("why: \"%s\", expected \"%s\"", t.f.why, want_why);
    assert_null(t.f.shim);
    nt_done(&t);
}

static void t_probe_never_ready(void **state)
{
    (void)state;
    struct capdrv_sim_nvme_fault f = {.kind = CAPDRV_SIM_NVME_FAULT_NEVER_READY, .qid = -1, .opcode = -1};
    probe_refused(&f, NULL, -CAPDRV_ETIMEDOUT, "did not become ready");
}

static void t_probe_removed(void **state)
{
    (void)state;
    struct capdrv_sim_nvme_fault f = {.kind = CAPDRV_SIM_NVME_FAULT_REMOVED, .qid = -1, .opcode = -1};
    probe_refused(&f, NULL, -CAPDRV_EIO, "all ones");
}

static void t_probe_identify_fails(void **state)
{
    (void)state;
    struct capdrv_sim_nvme_fault f = {.kind = CAPDRV_SIM_NVME_FAULT_STATUS, .qid = 0, .opcode = 0x06,
                                      .status = 0x0006 /* internal error */};
    probe_refused(&f, NULL, -CAPDRV_EIO, "Identify Controller failed");
    struct capdrv_sim_nvme_fault d = {.kind = CAPDRV_SIM_NVME_FAULT_DROP, .qid = 0, .opcode = 0x06};
    probe_refused(&d, NULL, -CAPDRV_ETIMEDOUT, "Identify Controller failed");
    struct capdrv_sim_nvme_fault c = {.kind = CAPDRV_SIM_NVME_FAULT_BAD_CID, .qid = 0, .opcode = -1};
    probe_refused(&c, NULL, -CAPDRV_EPROTO, "Identify Controller failed");
}

static void t_probe_hostile_cap(void **state)
{
    (void)state;
    struct nt_hostile h;
    memset(&h, 0, sizeof h);
    h.patch_cns = -1;
    h.cap_set = 1ull << 48; /* MPSMIN 8 KiB */
    probe_refused(NULL, &h, -CAPDRV_ENOTSUP, "MPSMIN");
    memset(&h, 0, sizeof h);
    h.patch_cns = -1;
    h.cap_clear = 0xffff; /* MQES 0 */
    probe_refused(NULL, &h, -CAPDRV_EPROTO, "MQES");
    memset(&h, 0, sizeof h);
    h.patch_cns = -1;
    h.cap_clear = 1ull << 37; /* no NVM command set */
    probe_refused(NULL, &h, -CAPDRV_ENOTSUP, "CSS");
    memset(&h, 0, sizeof h);
    h.patch_cns = -1;
    h.cap_set = 0xfull << 32; /* DSTRD 15: doorbells far outside BAR0 */
    probe_refused(NULL, &h, -CAPDRV_EPROTO, "DSTRD");
}

static void t_probe_hostile_identify(void **state)
{
    (void)state;
    struct nt_hostile h;
    /* An active NSID list that is not increasing. */
    memset(&h, 0, sizeof h);
    h.patch_cns = 0x02;
    h.patch_off = 4;
    h.patch_len = 4;
    h.patch_val = 1; /* 1, 1 */
    probe_refused(NULL, &h, -CAPDRV_EPROTO, "namespace list");
    /* An NSID beyond NN. */
    h.patch_val = 0x1000;
    probe_refused(NULL, &h, -CAPDRV_EPROTO, "namespace list");
    /* SQES without 64-byte entries. */
    memset(&h, 0, sizeof h);
    h.patch_cns = 0x01;
    h.patch_off = 512;
    h.patch_len = 1;
    h.patch_val = 0x77;
    probe_refused(NULL, &h, -CAPDRV_ENOTSUP, "64-byte SQEs");
}

/* A namespace whose LBA data size is out of range is left out: the shim
 * then refuses its NSID. */
static void t_probe_bad_lbads_refuses_ns(void **state)
{
    (void)state;
    struct nt t;
    struct nt_hostile h;
    memset(&h, 0, sizeof h);
    h.patch_cns = 0x00;
    h.patch_off = 128 + 2; /* LBAF0.LBADS */
    h.patch_len = 1;
    h.patch_val = 40;
    assert_int_equal(nt_machine(&t, false, NULL, &h), 0);
    assert_int_equal(capdrv_shim_connect(t.f.shim, "p1", &t.f.p1), 0);
    t.grant = fx_open(t.f.p1, "nvme");
    t.mmio = fx_mmio(t.f.p1, t.grant, 0);
    assert_int_equal(capdrv_pool_open(t.f.p1, t.grant, &t.pool), 0);
    assert_int_equal(capdrv_dma_alloc(t.f.p1, t.pool, QB_SIZE, &t.qb, &t.q), 0);
    assert_int_equal(capdrv_dma_alloc(t.f.p1, t.pool, DB_SIZE, &t.db, &t.d), 0);
    t.stride = 4;
    h.patch_cns = -1; /* the provider's own Identify is not patched */
    nt_enable(&t);
    nt_create_io(&t);
    struct capdrv_nvme_sqe s = nt_sqe(&t, 0x02, 1);
    s.dptr.prp.prp1 = capdrv_dma_ref(&t.d, 0);
    assert_int_equal(nt_submit(&t, 1, &s, 1), -CAPDRV_EINVAL);
    nt_done(&t);
}

/* ---- register rules ------------------------------------------------------- */

static void t_register_rules(void **state)
{
    (void)state;
    struct nt t;
    nt_claim(&t, false, NULL);
    uint64_t v;
    /* CAP: read as 8 or 4+4, never written; NSSRS/CMBS/PMRS/BPS hidden. */
    assert_int_equal(nt_rd(&t, R_CAP, 8, &v), 0);
    assert_int_equal(v & ((1ull << 36) | (1ull << 45) | (3ull << 56)), 0);
    uint64_t lo = 0, hi = 0;
    assert_int_equal(nt_rd(&t, R_CAP, 4, &lo), 0);
    assert_int_equal(nt_rd(&t, R_CAP + 4, 4, &hi), 0);
    assert_int_equal(lo | hi << 32, v);
    assert_int_equal(nt_wr(&t, R_CAP, 4, 0), -CAPDRV_EPERM);
    assert_int_equal(nt_rd(&t, R_CAP + 4, 8, &v), -CAPDRV_EINVAL);
    assert_int_equal(nt_r32(&t, R_VS), 0x00020000u);
    assert_int_equal(nt_wr(&t, R_VS, 4, 0), -CAPDRV_EPERM);
    assert_int_equal(nt_rd(&t, R_VS, 2, &v), -CAPDRV_EINVAL);
    /* NSSR: a subsystem reset reaches beyond the grant. */
    assert_int_equal(nt_wr(&t, R_NSSR, 4, 0x4e564d65u), -CAPDRV_EPERM);
    /* CMB / PMR / boot partitions, reserved offsets. */
    assert_int_equal(nt_rd(&t, R_CMBLOC, 4, &v), -CAPDRV_EPERM);
    assert_int_equal(nt_wr(&t, 0x48, 8, 0x1000), -CAPDRV_EPERM); /* BPMBL: a DMA address */
    assert_int_equal(nt_rd(&t, 0xe00, 4, &v), -CAPDRV_EPERM);
    assert_int_equal(nt_rd(&t, 0x18, 4, &v), -CAPDRV_EFAULT);
    assert_int_equal(nt_rd(&t, 0x800, 4, &v), -CAPDRV_EFAULT);
    /* CC: 4 bytes; reserved bits, page sizes and entry sizes refused. */
    assert_int_equal(nt_wr(&t, R_CC, 8, 0), -CAPDRV_EINVAL);
    assert_int_equal(nt_wr(&t, R_CC, 4, 1u << 28), -CAPDRV_EINVAL);
    assert_int_equal(nt_wr(&t, R_CC, 4, 1u << 24), -CAPDRV_EINVAL); /* CRIME */
    assert_int_equal(nt_wr(&t, R_CC, 4, 7u << 16), -CAPDRV_EINVAL);
    nt_w32(&t, R_AQA, 0x000f000f);
    assert_int_equal(nt_wr(&t, R_ASQ, 8, capdrv_dma_ref(&t.q, QB_ASQ)), 0);
    assert_int_equal(nt_wr(&t, R_ACQ, 8, capdrv_dma_ref(&t.q, QB_ACQ)), 0);
    assert_int_equal(nt_wr(&t, R_CC, 4, CC_ON | 1u << 7), -CAPDRV_EINVAL); /* MPS 8 KiB */
    /* AQA: reserved bits. ASQ/ACQ read back the provider's references. */
    assert_int_equal(nt_wr(&t, R_AQA, 4, 0xf000), -CAPDRV_EINVAL);
    assert_int_equal(nt_rd(&t, R_ASQ, 8, &v), 0);
    assert_int_equal(v, capdrv_dma_ref(&t.q, QB_ASQ));
    assert_int_equal(nt_rd(&t, R_ACQ + 4, 4, &v), 0);
    assert_int_equal(v, capdrv_dma_ref(&t.q, QB_ACQ) >> 32);
    assert_int_equal(nt_rd(&t, R_ASQ, 2, &v), -CAPDRV_EINVAL);
    /* Doorbells: nothing is enabled yet. */
    assert_int_equal(nt_wr(&t, R_DB, 4, 1), -CAPDRV_EINVAL);
    nt_enable(&t);
    /* Enabled: the admin registers are frozen, CC only changes SHN. */
    assert_int_equal(nt_wr(&t, R_ASQ, 8, 0), -CAPDRV_EBUSY);
    assert_int_equal(nt_wr(&t, R_AQA, 4, 0x00030003), -CAPDRV_EBUSY);
    assert_int_equal(nt_wr(&t, R_CC, 4, CC_ON & ~(6u << 16)), -CAPDRV_EINVAL);
    /* Doorbells: write-only, 4 bytes, known queues, values below the size. */
    assert_int_equal(nt_rd(&t, R_DB, 4, &v), -CAPDRV_EPERM);
    assert_int_equal(nt_wr(&t, R_DB, 2, 0), -CAPDRV_EINVAL);
    assert_int_equal(nt_wr(&t, R_DB, 4, QDEPTH), -CAPDRV_EINVAL);
    assert_int_equal(nt_wr(&t, R_DB + 4, 4, QDEPTH), -CAPDRV_EINVAL);
    assert_int_equal(nt_wr(&t, R_DB + 8, 4, 0), -CAPDRV_EINVAL);  /* SQ 1: not created */
    assert_int_equal(nt_wr(&t, R_DB + 2, 2, 0), -CAPDRV_EFAULT);  /* between doorbells */
    assert_int_equal(nt_wr(&t, R_DB + 8 * 40, 4, 0), -CAPDRV_EFAULT); /* qid 40: untracked */
    nt_done(&t);
}

/* ---- both lanes: identify, queues, read/write with PRP lists -------------- */

/* Write [doff, doff+len) of the data buffer to LBA @slba (512-byte LBAs),
 * read it back into @roff, compare; PRPs built by hand from @list pages. */
static void prp_rw(struct nt *t, uint64_t slba, uint64_t doff, uint64_t roff, unsigned len,
                   uint64_t list_off)
{
    uint8_t *d = t->d.cpu, *l = t->l.cpu;
    nt_pattern(d + doff, len, (unsigned)slba + 1u);
    memset(d + roff, 0, len);
    for (int pass = 0; pass < 2; pass++) {
        uint64_t off = pass == 0 ? doff : roff;
        uint64_t first = 4096u - (off & 4095u);
        uint64_t prp2 = 0;
        if (len > first + 4096u) {
            /* A list at @list_off; if it does not fit before the end of
             * its page the last slot chains to the next list page. */
            uint64_t slot = list_off, at = off + first;
            for (uint64_t rest = len - first; rest > 0;) {
                bool chain = (slot % 4096u) == 4088u && rest > 4096u;
                if (chain) {
                    uint64_t next = (slot / 4096u + 1u) * 4096u;
                    nt_put_le(l + slot, 8, capdrv_dma_ref(&t->l, next));
                    slot = next;
                    continue;
                }
                nt_put_le(l + slot, 8, capdrv_dma_ref(&t->d, at));
                slot += 8;
                at += 4096;
                rest = rest > 4096u ? rest - 4096u : 0;
            }
            prp2 = capdrv_dma_ref(&t->l, list_off);
        } else if (len > first) {
            prp2 = capdrv_dma_ref(&t->d, off + first);
        }
        unsigned st = nt_rw(t, pass == 0 ? 0x01 : 0x02, slba, len / 512u,
                            capdrv_dma_ref(&t->d, off), prp2);
        assert_int_equal(st, 0);
    }
    uint8_t medium[32768];
    assert_true(len <= sizeof medium);
    assert_int_equal(capdrv_sim_nvme_data(t->f.sim, t->fn, 1, slba * 512u, medium, len, false), 0);
    assert_memory_equal(medium, d + doff, len);
    assert_memory_equal(d + roff, d + doff, len);
}

static void io_run(struct nt *t)
{
    /* Identify Controller into provider memory. */
    struct capdrv_nvme_sqe s = nt_sqe(t, 0x06, 0);
    s.dptr.prp.prp1 = capdrv_dma_ref(&t->q, QB_IDENT);
    s.cdw10 = 0x01;
    assert_int_equal(nt_cmd(t, 0, &s), 0);
    const uint8_t *id = (const uint8_t *)t->q.cpu + QB_IDENT;
    assert_int_equal(nt_get_le(id, 2), 0x1b36);
    assert_memory_equal(id + 4, CAPDRV_SIM_NVME_SERIAL, strlen(CAPDRV_SIM_NVME_SERIAL));
    prp_rw(t, 0, 0, 32768, 512, 0);              /* PRP1 only */
    prp_rw(t, 8, 512, 32768 + 512, 4096, 0);     /* PRP1 + PRP2 data page (offset start) */
    prp_rw(t, 16, 4096, 32768, 8192, 0);         /* two whole pages */
    prp_rw(t, 40, 1024, 33792, 16384, 0);        /* a PRP list */
    prp_rw(t, 80, 0, 32768, 20480, 4096 - 16);   /* a list chained to the next list page */
}

static void t_brokered_io(void **state)
{
    (void)state;
    struct nt t;
    nt_up(&t, false, NULL);
    io_run(&t);
    uint64_t v;
    assert_int_equal(nt_rd(&t, R_ASQ, 8, &v), 0);
    assert_int_equal(nt_rd(&t, R_ACQ, 8, &v), 0);
    assert_int_equal(nt_rd(&t, R_ASQ, 4, &v), 0);
    assert_int_equal(nt_rd(&t, R_ACQ + 4, 4, &v), 0);
    /* No device address ever reached the provider, whole or as a low
     * half, at any byte offset: not in any of its buffers (queues, CQEs,
     * Identify data, PRP lists, data), not in any register of its window
     * or its configuration space, not in any value the shim returned to
     * it while it ran (phys_scan.h). */
    nt_assert_no_leak(&t);
    /* The device used shim-owned SQs: two shadows are live. */
    struct capdrv_shim_stats st;
    assert_int_equal(capdrv_shim_stats(t.f.shim, &st), 0);
    assert_int_equal(st.dma_buffers, 5);
    nt_done(&t);
}

static void t_direct_io(void **state)
{
    (void)state;
    struct nt t;
    nt_up(&t, true, NULL);
    assert_int_equal(capdrv_grant_lane(t.f.p1, t.grant), CAPDRV_LANE_DIRECT);
    io_run(&t);
    struct capdrv_shim_stats st;
    assert_int_equal(capdrv_shim_stats(t.f.shim, &st), 0);
    assert_int_equal(st.dma_buffers, 3); /* no shadows in the direct lane */
    nt_done(&t);
}

/* ---- the scanner can fail ---------------------------------------------------
 * After a clean brokered run, plant device addresses where the provider can
 * read them and require the scanner to report each: a whole 64-bit address
 * of a shim-owned buffer at an odd offset of a data buffer, the low half of
 * an address inside a provider buffer at an offset that is 3 mod 4 of the
 * list buffer, a low half in a register (a device that echoes it in VS,
 * which the shim passes through), a low half and a whole address in
 * configuration space (extended space, poked into the sim), and the
 * register value the provider reads while running. Then remove every plant
 * and the scan is clean again. */
static uint64_t echo_vs;

static void tamper_vs(void *arg, unsigned fn, unsigned bar, uint64_t off, unsigned width,
                      uint64_t *val)
{
    const unsigned *nvme_fn = arg;
    if (echo_vs && fn == *nvme_fn && bar == 0 && off == R_VS && width == 4)
        *val = echo_vs & 0xffffffffu;
}

static void t_scanner_finds_plants(void **state)
{
    (void)state;
    struct nt t;
    nt_up(&t, false, NULL);
    io_run(&t);
    nt_assert_no_leak(&t);
    /* Device addresses the platform handed out: the shim's (the last
     * regions, e.g. the I/O SQ's shadow) and the provider's buffers. */
    const struct ps_range *last = ps_hw_range(&t.rec, t.rec.n - 1);
    assert_non_null(last);
    const struct ps_range *mine = NULL;
    for (unsigned i = 0; i < t.rec.n; i++) {
        const struct ps_range *r = ps_hw_range(&t.rec, i);
        if (!r->is_map && r->live && r->size == DB_SIZE)
            mine = r; /* the provider's data buffer */
    }
    assert_non_null(mine);
    uint64_t shadow = last->base + 0x40u, data = mine->base + 0x1200u;
    assert_true((uint32_t)data >= PS_MIN_ADDR); /* a distinctive low half */
    uint8_t *d = t.d.cpu, *l = t.l.cpu;
    nt_put_le(d + 4097, 8, shadow);
    nt_put_le(l + 4099, 4, (uint32_t)data);
    assert_int_equal(capdrv_sim_cfg_poke(t.f.sim, t.fn, 0x200, 4, (uint32_t)data), 0);
    assert_int_equal(capdrv_sim_cfg_poke(t.f.sim, t.fn, 0x300, 4, (uint32_t)shadow), 0);
    assert_int_equal(capdrv_sim_cfg_poke(t.f.sim, t.fn, 0x304, 4, (uint32_t)(shadow >> 32)), 0);
    t.rec.tamper_bar_read = tamper_vs;
    t.rec.tamper_arg = &t.fn;
    echo_vs = shadow;
    uint64_t vs = 0;
    assert_int_equal(nt_rd(&t, R_VS, 4, &vs), 0); /* the provider reads it while running */
    assert_int_equal(vs, (uint32_t)shadow);
    struct ps_report r;
    char msg[2048];
    nt_scan(&t, &r);
    ps_report_str(&r, msg, sizeof msg);
    print_message("planted: %s\n", msg);
    assert_false(r.incomplete);
    /* Which buffer is which in the report: the order p1 allocated them. */
    assert_true(ps_report_has(&r, "dmabuf 1", 4097, 64));
    assert_true(ps_report_has(&r, "dmabuf 2", 4099, 32));
    assert_true(ps_report_has(&r, "read mmio 0", R_VS, 32));
    assert_true(ps_report_has(&r, "mmio 0 w4", R_VS, 32));
    assert_true(ps_report_has(&r, "cfg w4", 0x200, 32));
    assert_true(ps_report_has(&r, "cfg w1", 0x200, 32));
    assert_true(ps_report_has(&r, "cfg w4", 0x300, 64));
    assert_true(r.n64 >= 2 && r.n32 >= 4);
    /* Not a plant, not a finding: a brokered token (its low half is an
     * offset) and a small number that happens to equal a page offset. */
    nt_put_le(d + 4097, 8, capdrv_dma_ref(&t.d, 0x1200));
    nt_put_le(l + 4099, 4, (uint32_t)(data & 0xfffu));
    echo_vs = 0;
    assert_int_equal(capdrv_sim_cfg_poke(t.f.sim, t.fn, 0x200, 4, 0), 0);
    assert_int_equal(capdrv_sim_cfg_poke(t.f.sim, t.fn, 0x300, 4, 0), 0);
    assert_int_equal(capdrv_sim_cfg_poke(t.f.sim, t.fn, 0x304, 4, 0), 0);
    assert_int_equal(nt_rd(&t, R_VS, 4, &vs), 0); /* the provider's last VS read is clean */
    ps_report_init(&t.conn.live); /* forget what it read while the echo was on */
    nt_scan(&t, &r);
    assert_int_equal(r.n, 0);
    assert_false(r.incomplete);
    t.rec.tamper_bar_read = NULL;
    nt_done(&t);
}

/* ---- refusals at the doorbell: nothing reaches the device ------------------- */

static void out_of_ledger(bool iommu)
{
    struct nt t;
    nt_up(&t, iommu, NULL);
    struct capdrv_sim_nvme_stats before, after;
    struct capdrv_shim_stats sb, sa;
    assert_int_equal(capdrv_sim_nvme_stats(t.f.sim, t.fn, &before), 0);
    assert_int_equal(capdrv_shim_stats(t.f.shim, &sb), 0);
    /* brokered: a token of the wrong generation; direct: an IOVA in the
     * guard page after the data buffer. */
    uint64_t bad = iommu ? capdrv_dma_ref(&t.d, 0) + DB_SIZE
                         : capdrv_dma_ref(&t.d, 0) ^ (1ull << 48);
    struct capdrv_nvme_sqe s[2];
    s[0] = nt_sqe(&t, 0x01, 1);
    s[0].dptr.prp.prp1 = capdrv_dma_ref(&t.d, 0);
    s[1] = nt_sqe(&t, 0x02, 1);
    s[1].dptr.prp.prp1 = bad;
    assert_int_equal(nt_submit(&t, 1, s, 2), -CAPDRV_EFAULT); /* the good one is held back too */
    /* A bad entry inside a PRP list. */
    uint8_t *l = t.l.cpu;
    nt_put_le(l, 8, capdrv_dma_ref(&t.d, 4096));
    nt_put_le(l + 8, 8, bad & ~4095ull);
    s[0] = nt_sqe(&t, 0x01, 1);
    s[0].dptr.prp.prp1 = capdrv_dma_ref(&t.d, 0);
    s[0].dptr.prp.prp2 = capdrv_dma_ref(&t.l, 0);
    s[0].cdw12 = 23; /* 12 KiB: PRP1 + a two-entry list */
    assert_int_equal(nt_submit(&t, 1, s, 1), -CAPDRV_EFAULT);
    /* A list page outside the ledger. */
    s[0].dptr.prp.prp2 = iommu ? capdrv_dma_ref(&t.l, 0) + LB_SIZE
                               : capdrv_dma_ref(&t.l, 0) ^ (1ull << 48);
    assert_int_equal(nt_submit(&t, 1, s, 1), -CAPDRV_EFAULT);
    assert_int_equal(capdrv_sim_nvme_stats(t.f.sim, t.fn, &after), 0);
    assert_int_equal(after.doorbells, before.doorbells);
    assert_int_equal(after.io_cmds, before.io_cmds);
    assert_int_equal(capdrv_shim_stats(t.f.shim, &sa), 0);
    assert_int_equal(sa.refused_notify, sb.refused_notify + 3);
    /* The slots are fixed and the same tail is rung again: accepted. */
    nt_put_le(l + 8, 8, capdrv_dma_ref(&t.d, 8192));
    s[0].dptr.prp.prp2 = capdrv_dma_ref(&t.l, 0);
    assert_int_equal(nt_cmd(&t, 1, &s[0]), 0);
    nt_done(&t);
}

static void t_brokered_out_of_ledger(void **state)
{
    (void)state;
    out_of_ledger(false);
}

static void t_direct_out_of_ledger(void **state)
{
    (void)state;
    out_of_ledger(true);
}

/* After the doorbell the provider rewrites its SQE and its PRP list; the
 * (delayed) command still moves the data the doorbell published. */
static void t_brokered_rewrite_after_doorbell(void **state)
{
    (void)state;
    struct nt t;
    nt_up(&t, false, NULL);
    struct capdrv_sim_nvme_fault f = {.kind = CAPDRV_SIM_NVME_FAULT_SLOW, .qid = 1, .opcode = 0x01,
                                      .delay_ns = 1000000};
    assert_int_equal(capdrv_sim_nvme_set_fault(t.f.sim, t.fn, &f), 0);
    uint8_t *d = t.d.cpu, *l = t.l.cpu;
    memset(d, 0x11, 12288);
    memset(d + 16384, 0x22, 12288);
    nt_put_le(l, 8, capdrv_dma_ref(&t.d, 4096));
    nt_put_le(l + 8, 8, capdrv_dma_ref(&t.d, 8192));
    struct capdrv_nvme_sqe s = nt_sqe(&t, 0x01, 1);
    s.dptr.prp.prp1 = capdrv_dma_ref(&t.d, 0);
    s.dptr.prp.prp2 = capdrv_dma_ref(&t.l, 0);
    s.cdw10 = 200;
    s.cdw12 = 23;
    assert_int_equal(nt_submit(&t, 1, &s, 1), 0);
    /* Point everything at the 0x22 region. */
    uint8_t *sq = (uint8_t *)t.q.cpu + QB_IOSQ;
    nt_put_le(sq + 24, 8, capdrv_dma_ref(&t.d, 16384));
    nt_put_le(l, 8, capdrv_dma_ref(&t.d, 16384 + 4096));
    nt_put_le(l + 8, 8, capdrv_dma_ref(&t.d, 16384 + 8192));
    capdrv_sim_advance(t.f.sim, 10000000);
    struct capdrv_nvme_cqe c;
    assert_true(nt_reap(&t, 1, &c));
    assert_int_equal(c.status >> 1, 0);
    uint8_t medium[12288];
    assert_int_equal(capdrv_sim_nvme_data(t.f.sim, t.fn, 1, 200 * 512, medium, sizeof medium, false), 0);
    for (unsigned i = 0; i < sizeof medium; i++)
        if (medium[i] != 0x11)
            fail_msg("byte %u of the medium is 0x%02x", i, medium[i]);
    nt_done(&t);
}

/* Allocation-failure sweep over the profile's allocations at a doorbell
 * (issue #8: every shim operation): a Create I/O CQ needs the batch
 * snapshot (and a ledger slot for the brokered shadow). With the
 * environment's Nth allocation failing, the doorbell fails with
 * -CAPDRV_ENOMEM and nothing reaches the device or the ledger; the same
 * command then succeeds. Enabling the controller allocates nothing from
 * the environment (its state is allocated at bind: sweep_bind). */
static void sweep_create_queue(bool iommu)
{
    for (unsigned long n = 1;; n++) {
        struct nt t;
        memset(&t, 0, sizeof t);
        nt_claim(&t, iommu, NULL);
        nt_enable(&t);
        struct capdrv_nvme_sqe s = nt_sqe(&t, 0x05, 0); /* Create I/O CQ */
        s.dptr.prp.prp1 = capdrv_dma_ref(&t.q, QB_IOCQ);
        s.cdw10 = (QDEPTH - 1u) << 16 | 1u;
        s.cdw11 = 1u;
        struct capdrv_shim_stats before, after;
        struct capdrv_sim_nvme_stats sb, sa;
        assert_int_equal(capdrv_shim_stats(t.f.shim, &before), 0);
        assert_int_equal(capdrv_sim_nvme_stats(t.f.sim, t.fn, &sb), 0);
        capdrv_env_hosted_fail_alloc(t.f.env, n);
        int rc = nt_submit(&t, 0, &s, 1);
        capdrv_env_hosted_fail_alloc(t.f.env, 0);
        if (rc == 0) {
            struct capdrv_nvme_cqe c;
            capdrv_sim_advance(t.f.sim, 1000000);
            assert_true(nt_reap(&t, 0, &c));
            assert_int_equal((c.status >> 1) & 0x7ffu, 0);
            nt_done(&t);
            assert_true(n > 1); /* creating a queue does allocate */
            return;
        }
        assert_int_equal(rc, -CAPDRV_ENOMEM);
        assert_int_equal(capdrv_shim_stats(t.f.shim, &after), 0);
        assert_int_equal(capdrv_sim_nvme_stats(t.f.sim, t.fn, &sa), 0);
        assert_int_equal(after.dma_buffers, before.dma_buffers);
        assert_int_equal(sa.doorbells, sb.doorbells); /* nothing reached the device */
        assert_int_equal(nt_cmd(&t, 0, &s), 0);      /* the same command then works */
        nt_done(&t);
        assert_true(n < 100);
    }
}

/* Shim creation with the NVMe manifest: the profile's state and its
 * bind-time probe, each allocation failing in turn: -CAPDRV_ENOMEM, no
 * shim, nothing leaked, no DMA left mapped (fx_done checks). */
static void sweep_bind(void)
{
    for (unsigned long n = 1;; n++) {
        struct nt t;
        memset(&t, 0, sizeof t);
        fx_machine(&t.f, false);
        struct capdrv_pci_addr a8 = {0, 0, 8, 0};
        assert_int_equal(capdrv_sim_add_nvme(t.f.sim, &a8, NULL, &t.fn), 0);
        capdrv_env_hosted_fail_alloc(t.f.env, n);
        int rc = fx_shim(&t.f, "nvme");
        capdrv_env_hosted_fail_alloc(t.f.env, 0);
        if (rc == 0) {
            nt_done(&t);
            assert_true(n > 1);
            return;
        }
        assert_int_equal(rc, -CAPDRV_ENOMEM);
        assert_null(t.f.shim);
        nt_done(&t);
        assert_true(n < 1000);
    }
}

static void t_alloc_sweeps(void **state)
{
    (void)state;
    sweep_bind();
    sweep_create_queue(false);
    sweep_create_queue(true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_probe_ok),
        cmocka_unit_test(t_probe_wraps_its_queue),
        cmocka_unit_test(t_probe_never_ready),
        cmocka_unit_test(t_probe_removed),
        cmocka_unit_test(t_probe_identify_fails),
        cmocka_unit_test(t_probe_hostile_cap),
        cmocka_unit_test(t_probe_hostile_identify),
        cmocka_unit_test(t_probe_bad_lbads_refuses_ns),
        cmocka_unit_test(t_register_rules),
        cmocka_unit_test(t_brokered_io),
        cmocka_unit_test(t_scanner_finds_plants),
        cmocka_unit_test(t_direct_io),
        cmocka_unit_test(t_brokered_out_of_ledger),
        cmocka_unit_test(t_direct_out_of_ledger),
        cmocka_unit_test(t_brokered_rewrite_after_doorbell),
        cmocka_unit_test(t_alloc_sweeps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
