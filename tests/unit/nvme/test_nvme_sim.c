/* The NVMe library end to end: include/capdrv/nvme.h over the in-process
 * shim (with its NVMe profile) and the sim's NVMe controller, in both DMA
 * lanes, with PRPs and SGLs, polling and interrupts, plus the sim's fault
 * knobs for recovery and hostile completions. Every case ends with the
 * DMA oracle clean and every allocation returned. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_slurp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <capdrv/nvme.h>
#include <capdrv/shim.h>
#include <capdrv/sim.h>
#include <capdrv/sys_backend.h>

#include "shim/phys_scan.h"

#ifndef NVME_MANIFEST
#error "NVME_MANIFEST must name the compiled manifest"
#endif

#define DATA_LEN (256u * 1024u)

struct st {
    struct capdrv_env *env;
    struct capdrv_sim *sim;
    struct capdrv_shim *shim;
    capdrv_sys *sys;
    unsigned fn;
    capdrv_cap_t grant, pool, data;
    capdrv_cap_t held0;        /* vector 0, opened before the library when asked */
    struct relay *rl;          /* non-NULL: the provider's connection goes through it */
    struct ps_hw *rec;         /* non-NULL: the shim's platform is recorded (phys_scan.h) */
    struct ps_conn *pc;        /* non-NULL: the provider's connection is recorded */
    struct capdrv_dmabuf_info di;
    struct capdrv_nvme_ctrl *c;
    char why[256];
};

static capdrv_sys *relay_wrap(capdrv_sys *inner, struct relay **out);

/* @relay: the provider's connection goes through struct relay (below).
 * @scan: the platform and the provider's connection are recorded for the
 * device-address scanner (tests/unit/shim/phys_scan.h). */
static void st_up_core(struct st *t, bool iommu, const struct capdrv_sim_nvme_config *nc,
                       const struct capdrv_nvme_ctrl_opts *o_in, bool hold_vector0, bool relay,
                       bool scan)
{
    memset(t, 0, sizeof *t);
    struct capdrv_sim_config sc = {.iommu = iommu};
    assert_int_equal(capdrv_sim_create(&sc, &t->sim), 0);
    struct capdrv_pci_addr a = {0, 0, 5, 0};
    assert_int_equal(capdrv_sim_add_nvme(t->sim, &a, nc, &t->fn), 0);
    t->env = capdrv_env_hosted_new(NULL);
    assert_non_null(t->env);
    size_t len;
    void *blob = test_slurp(NVME_MANIFEST, &len);
    struct capdrv_hw hw = capdrv_sim_hw(t->sim);
    if (scan) {
        t->rec = calloc(1, sizeof *t->rec);
        assert_non_null(t->rec);
        ps_hw_install(t->rec, &hw, t->sim);
    }
    struct capdrv_shim_config c = {.env = t->env, .hw = hw, .manifest = blob,
                                   .manifest_len = len};
    int rc = capdrv_shim_create(&c, &t->shim, t->why, sizeof t->why);
    free(blob);
    if (rc < 0)
        fail_msg("shim: %s (%s)", t->why, capdrv_strerror(rc));
    assert_int_equal(capdrv_shim_connect(t->shim, "nvme-demo", &t->sys), 0);
    if (scan) {
        t->pc = calloc(1, sizeof *t->pc);
        assert_non_null(t->pc);
        t->sys = ps_conn_wrap(t->pc, t->sys, t->rec);
    }
    if (relay)
        t->sys = relay_wrap(t->sys, &t->rl);
    int idx = capdrv_grant_find(t->sys, "nvme0");
    assert_true(idx >= 0);
    assert_int_equal(capdrv_grant_open(t->sys, (unsigned)idx, &t->grant), 0);
    assert_int_equal(capdrv_grant_lane(t->sys, t->grant),
                     iommu ? CAPDRV_LANE_DIRECT : CAPDRV_LANE_BROKERED);
    assert_int_equal(capdrv_pool_open(t->sys, t->grant, &t->pool), 0);
    assert_int_equal(capdrv_dma_alloc(t->sys, t->pool, DATA_LEN, &t->data, &t->di), 0);
    if (hold_vector0)
        assert_int_equal(capdrv_irq_open(t->sys, t->grant, 0, &t->held0), 0);
    struct capdrv_nvme_ctrl_opts o = o_in ? *o_in : (struct capdrv_nvme_ctrl_opts){0};
    o.pool = t->pool;
    rc = capdrv_nvme_ctrl_open(t->sys, t->grant, &o, &t->c, t->why, sizeof t->why);
    if (rc < 0)
        fail_msg("open: %s (%s)", t->why, capdrv_strerror(rc));
    struct capdrv_nvme_ns_info ns;
    assert_int_equal(capdrv_nvme_ns_info(t->c, 1, &ns), 0);
}

/* ---- A relay between the library and the shim --------------------------
 * The sim's controller offers no optional admin command (Identify OACS 0)
 * and its knobs live in the kernel shim's platform. To drive the library's
 * Doorbell Buffer Config path through the real shim, this capdrv_sys
 * backend passes every call to the shim's connection and, once the admin
 * SQ doorbell that carried an Identify Controller (CNS 01h) has returned
 * (the sim runs commands inside the doorbell write), sets OACS bit 8 in
 * the data the controller wrote: the controller advertises DBBC (Base 2.0
 * §5.17.2.1, OACS). It also records what the shim answered to each admin
 * doorbell that carried a Doorbell Buffer Config (Base 2.0 §5.11). */
#define RL_BUFS 64u
#define RL_ASQ 0x28u
#define RL_CC 0x14u
#define RL_SQ0_TAIL 0x1000u /* DSTRD 0 */

struct relay {
    struct capdrv_sys sys; /* first: the connection the library sees */
    capdrv_sys *inner;
    struct { capdrv_cap_t cap; struct capdrv_dmabuf_info bi; } buf[RL_BUFS];
    uint64_t asq;
    uint32_t tail;         /* admin SQ tail the shim accepted last */
    unsigned aqsize;       /* from AQA */
    unsigned dbbc_doorbells, identify_patched;
    int dbbc_rc;           /* what the last doorbell with a DBBC returned */
};

static struct relay *RL(capdrv_sys *s)
{
    return (struct relay *)(void *)s;
}

static uint8_t *rl_cpu(struct relay *r, uint64_t ref, size_t len)
{
    for (unsigned i = 0; i < RL_BUFS; i++) {
        const struct capdrv_dmabuf_info *bi = &r->buf[i].bi;
        if (r->buf[i].cap && ref >= bi->ref_base && ref - bi->ref_base <= bi->size &&
            len <= bi->size - (ref - bi->ref_base))
            return (uint8_t *)bi->cpu + (ref - bi->ref_base);
    }
    return NULL;
}

static uint64_t rl_le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static int rl_mmio_write(capdrv_sys *s, capdrv_cap_t mmio, uint64_t off, unsigned width,
                         uint64_t val)
{
    struct relay *r = RL(s);
    if (off == RL_ASQ && width == 8)
        r->asq = val;
    else if (off == RL_ASQ && width == 4)
        r->asq = (r->asq & ~0xffffffffull) | val;
    else if (off == RL_ASQ + 4u && width == 4)
        r->asq = (r->asq & 0xffffffffull) | val << 32;
    else if (off == 0x24u && width == 4)
        r->aqsize = (unsigned)(val & 0xfffu) + 1u;
    if (off != RL_SQ0_TAIL || !r->aqsize) {
        int rc = r->inner->ops->mmio_write(r->inner, mmio, off, width, val);
        if (off == RL_CC && !(val & 1u))
            r->tail = 0; /* CC.EN 0: the admin queue starts again at entry 0 */
        return rc;
    }
    uint8_t *sq = rl_cpu(r, r->asq, (size_t)r->aqsize * 64u);
    assert_non_null(sq);
    bool dbbc = false;
    for (uint32_t i = r->tail; i != val; i = (i + 1u) % r->aqsize)
        dbbc |= sq[64u * i] == CAPDRV_NVME_ADMIN_DBBUF_CONFIG;
    int rc = r->inner->ops->mmio_write(r->inner, mmio, off, width, val);
    if (dbbc) {
        r->dbbc_doorbells++;
        r->dbbc_rc = rc;
    }
    if (rc < 0)
        return rc;
    for (uint32_t i = r->tail; i != val; i = (i + 1u) % r->aqsize) {
        const uint8_t *e = sq + 64u * i;
        if (e[0] != CAPDRV_NVME_ADMIN_IDENTIFY || (rl_le(e + 40, 4) & 0xffu) != 0x01u)
            continue;
        uint8_t *id = rl_cpu(r, rl_le(e + 24, 8), CAPDRV_NVME_IDENTIFY_BYTES);
        assert_non_null(id);
        id[257] |= (uint8_t)(CAPDRV_NVME_OACS_DBBC >> 8); /* OACS: bytes 257:256 */
        r->identify_patched++;
    }
    r->tail = (uint32_t)val;
    return rc;
}

static int rl_dma_alloc(capdrv_sys *s, capdrv_cap_t pool, size_t size, capdrv_cap_t *buf,
                        struct capdrv_dmabuf_info *info)
{
    struct relay *r = RL(s);
    int rc = r->inner->ops->dma_alloc(r->inner, pool, size, buf, info);
    for (unsigned i = 0; rc == 0 && i < RL_BUFS; i++)
        if (!r->buf[i].cap) {
            r->buf[i].cap = *buf;
            r->buf[i].bi = *info;
            break;
        }
    return rc;
}

static int rl_release(capdrv_sys *s, capdrv_cap_t cap)
{
    struct relay *r = RL(s);
    for (unsigned i = 0; i < RL_BUFS; i++)
        if (r->buf[i].cap == cap)
            r->buf[i].cap = 0;
    return r->inner->ops->cap_release(r->inner, cap);
}

static void rl_close(capdrv_sys *s)
{
    struct relay *r = RL(s);
    capdrv_sys_close(r->inner);
    free(r);
}

/* The rest passes straight through. */
#define RL_PASS(name, proto, args)                                  \
    static int rl_##name proto                                      \
    {                                                               \
        return RL(s)->inner->ops->name args;                        \
    }
RL_PASS(grant_count, (capdrv_sys *s), (RL(s)->inner))
RL_PASS(grant_info, (capdrv_sys *s, unsigned i, struct capdrv_grant_info *o), (RL(s)->inner, i, o))
RL_PASS(grant_open, (capdrv_sys *s, unsigned i, capdrv_cap_t *g), (RL(s)->inner, i, g))
RL_PASS(grant_lane, (capdrv_sys *s, capdrv_cap_t g), (RL(s)->inner, g))
RL_PASS(grant_reset, (capdrv_sys *s, capdrv_cap_t g), (RL(s)->inner, g))
RL_PASS(window_info, (capdrv_sys *s, capdrv_cap_t g, unsigned w, struct capdrv_window_info *o),
        (RL(s)->inner, g, w, o))
RL_PASS(mmio_open, (capdrv_sys *s, capdrv_cap_t g, unsigned w, capdrv_cap_t *m),
        (RL(s)->inner, g, w, m))
RL_PASS(mmio_read, (capdrv_sys *s, capdrv_cap_t m, uint64_t o, unsigned w, uint64_t *v),
        (RL(s)->inner, m, o, w, v))
RL_PASS(cfg_read, (capdrv_sys *s, capdrv_cap_t g, uint32_t o, unsigned w, uint32_t *v),
        (RL(s)->inner, g, o, w, v))
RL_PASS(cfg_write, (capdrv_sys *s, capdrv_cap_t g, uint32_t o, unsigned w, uint32_t v),
        (RL(s)->inner, g, o, w, v))
RL_PASS(pool_open, (capdrv_sys *s, capdrv_cap_t g, capdrv_cap_t *p), (RL(s)->inner, g, p))
RL_PASS(dmabuf_info, (capdrv_sys *s, capdrv_cap_t b, struct capdrv_dmabuf_info *i),
        (RL(s)->inner, b, i))
RL_PASS(irq_open, (capdrv_sys *s, capdrv_cap_t g, unsigned v, capdrv_cap_t *i),
        (RL(s)->inner, g, v, i))
RL_PASS(irq_wait, (capdrv_sys *s, const capdrv_cap_t *i, unsigned n, int64_t t, uint64_t *r),
        (RL(s)->inner, i, n, t, r))
RL_PASS(irq_ack, (capdrv_sys *s, capdrv_cap_t i), (RL(s)->inner, i))
RL_PASS(irq_mask, (capdrv_sys *s, capdrv_cap_t i, bool m), (RL(s)->inner, i, m))

static const struct capdrv_sys_ops rl_ops = {
    .grant_count = rl_grant_count, .grant_info = rl_grant_info, .grant_open = rl_grant_open,
    .grant_lane = rl_grant_lane, .grant_reset = rl_grant_reset, .window_info = rl_window_info,
    .mmio_open = rl_mmio_open, .mmio_read = rl_mmio_read, .mmio_write = rl_mmio_write,
    .cfg_read = rl_cfg_read, .cfg_write = rl_cfg_write, .pool_open = rl_pool_open,
    .dma_alloc = rl_dma_alloc, .dmabuf_info = rl_dmabuf_info, .irq_open = rl_irq_open,
    .irq_wait = rl_irq_wait, .irq_ack = rl_irq_ack, .irq_mask = rl_irq_mask,
    .cap_release = rl_release, .close = rl_close,
};

static capdrv_sys *relay_wrap(capdrv_sys *inner, struct relay **out)
{
    struct relay *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->sys.ops = &rl_ops;
    r->inner = inner;
    *out = r;
    return &r->sys;
}

static void st_up_ex2(struct st *t, bool iommu, const struct capdrv_sim_nvme_config *nc,
                      const struct capdrv_nvme_ctrl_opts *o_in, bool hold_vector0, bool relay)
{
    st_up_core(t, iommu, nc, o_in, hold_vector0, relay, false);
}

static void st_up_ex(struct st *t, bool iommu, const struct capdrv_sim_nvme_config *nc,
                     const struct capdrv_nvme_ctrl_opts *o_in, bool hold_vector0)
{
    st_up_ex2(t, iommu, nc, o_in, hold_vector0, false);
}

static void st_up(struct st *t, bool iommu, const struct capdrv_sim_nvme_config *nc,
                  const struct capdrv_nvme_ctrl_opts *o_in)
{
    st_up_ex(t, iommu, nc, o_in, false);
}

static void st_down(struct st *t)
{
    capdrv_nvme_ctrl_close(t->c);
    assert_int_equal(capdrv_cap_release(t->sys, t->grant), 0);
    capdrv_sys_close(t->sys);
    free(t->pc);
    assert_int_equal(capdrv_sim_oracle_violations(t->sim), 0);
    capdrv_shim_destroy(t->shim);
    free(t->rec);
    assert_int_equal(capdrv_env_hosted_live_allocs(t->env), 0);
    capdrv_env_hosted_free(t->env);
    capdrv_sim_destroy(t->sim);
}

static void done_cb(void *arg, const struct capdrv_nvme_cpl *cpl)
{
    int *p = arg;
    p[0]++;
    p[1] = cpl->status;
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 13u + seed + (i >> 9));
}

static void roundtrip(bool iommu, bool sgl, bool polling, unsigned queues)
{
    struct st t;
    struct capdrv_sim_nvme_config nc = {.sgl = sgl, .max_io_queues = 4};
    struct capdrv_nvme_ctrl_opts o = {.io_queues = queues, .polling = polling};
    st_up(&t, iommu, &nc, &o);
    struct capdrv_nvme_qpair *qp[4];
    for (unsigned q = 0; q < queues; q++) {
        struct capdrv_nvme_qpair_opts qo = {.depth = 32, .sgl = sgl};
        assert_int_equal(capdrv_nvme_qpair_create(t.c, &qo, &qp[q]), 0);
        struct capdrv_nvme_qpair_info qi;
        capdrv_nvme_qpair_info(qp[q], &qi);
        assert_int_equal(qi.sgl, sgl);
    }
    uint8_t *buf = t.di.cpu;
    fill(buf, DATA_LEN, 7);
    /* Per queue: one 64 KiB write in three segments at odd places. */
    for (unsigned q = 0; q < queues; q++) {
        uint64_t r = t.di.ref_base + 65536u * q;
        struct capdrv_dma_seg segs[3] = {{r + 3584, 512}, {r + 4096, 32768}, {r + 36864, 32256}};
        int d[2] = {0, 1};
        assert_int_equal(capdrv_nvme_write(qp[q], 1, 128u * q, 128, segs, 3, done_cb, d), 0);
        assert_int_equal(capdrv_nvme_qpair_wait(qp[q], 1000000000), 1);
        assert_int_equal(d[0], 1);
        assert_int_equal(d[1], 0);
        uint8_t *back = malloc(65536);
        assert_int_equal(capdrv_sim_nvme_data(t.sim, t.fn, 1, 128u * 512u * q, back, 65536, false),
                         0);
        assert_memory_equal(back, buf + 65536u * q + 3584, 512);
        assert_memory_equal(back + 512, buf + 65536u * q + 4096, 65024);
        free(back);
    }
    /* Read everything back into zeroed memory, batched on queue 0. */
    memset(buf, 0, DATA_LEN);
    int d[2] = {0, 1};
    for (unsigned q = 0; q < queues; q++) {
        struct capdrv_dma_seg seg = {t.di.ref_base + 65536u * q, 65536};
        assert_int_equal(capdrv_nvme_read(qp[0], 1, 128u * q, 128, &seg, 1, done_cb, d), 0);
    }
    unsigned got = 0;
    while (got < queues) {
        int rc = capdrv_nvme_qpair_wait(qp[0], 1000000000);
        assert_true(rc > 0);
        got += (unsigned)rc;
    }
    assert_int_equal(d[1], 0);
    uint8_t *ref = malloc(DATA_LEN);
    fill(ref, DATA_LEN, 7);
    for (unsigned q = 0; q < queues; q++) {
        assert_memory_equal(buf + 65536u * q, ref + 65536u * q + 3584, 512);
        assert_memory_equal(buf + 65536u * q + 512, ref + 65536u * q + 4096, 65024);
    }
    free(ref);
    for (unsigned q = 0; q < queues; q++)
        assert_int_equal(capdrv_nvme_qpair_destroy(qp[q]), 0);
    st_down(&t);
}

static void t_brokered_prp(void **state)
{
    (void)state;
    roundtrip(false, false, true, 1);
    roundtrip(false, false, false, 3);
}

static void t_direct_prp(void **state)
{
    (void)state;
    roundtrip(true, false, true, 2);
    roundtrip(true, false, false, 1);
}

static void t_sgl_both(void **state)
{
    (void)state;
    roundtrip(false, true, false, 2);
    roundtrip(true, true, true, 1);
}

static void t_admin_sim(void **state)
{
    (void)state;
    for (int lane = 0; lane < 2; lane++) {
        struct st t;
        struct capdrv_sim_nvme_config nc = {.n_namespaces = 2};
        st_up(&t, lane == 1, &nc, NULL);
        struct capdrv_nvme_ctrl_info in;
        capdrv_nvme_ctrl_info(t.c, &in);
        assert_string_equal(in.sn, CAPDRV_SIM_NVME_SERIAL);
        assert_string_equal(in.mn, CAPDRV_SIM_NVME_MODEL);
        assert_int_equal(in.vid, 0x1b36);
        uint32_t ids[4];
        assert_int_equal(capdrv_nvme_ns_list(t.c, 0, ids, 4), 2);
        struct capdrv_nvme_smart_log smart;
        assert_int_equal(capdrv_nvme_get_log_page(t.c, CAPDRV_NVME_LOG_SMART, 0xffffffffu, 0,
                                                  &smart, sizeof smart),
                         0);
        uint32_t dw0 = 0;
        assert_int_equal(capdrv_nvme_get_features(t.c, CAPDRV_NVME_FEAT_NUM_QUEUES, 0, 0, NULL, 0,
                                                  &dw0),
                         0);
        /* Interrupt Coalescing through the shim's feature allowlist: the
         * sim stores it (it does not delay interrupts). */
        unsigned thr = 0, time = 0;
        assert_int_equal(capdrv_nvme_set_irq_coalescing(t.c, 3, 20), 0);
        assert_int_equal(capdrv_nvme_get_irq_coalescing(t.c, &thr, &time), 0);
        assert_int_equal(thr, 3);
        assert_int_equal(time, 20);
        st_down(&t);
    }
}

static void t_faults_sim(void **state)
{
    (void)state;
    for (int lane = 0; lane < 2; lane++) {
        struct st t;
        struct capdrv_nvme_ctrl_opts o = {.io_timeout_ns = 100000000ull,
                                          .admin_timeout_ns = 50000000ull};
        st_up(&t, lane == 1, NULL, &o);
        struct capdrv_nvme_qpair *qp;
        assert_int_equal(capdrv_nvme_qpair_create(t.c, NULL, &qp), 0);
        struct capdrv_dma_seg seg = {t.di.ref_base, 512};
        int d[2] = {0, 1};
        /* A slow command past its deadline: Abort honoured. */
        struct capdrv_sim_nvme_fault f = {.kind = CAPDRV_SIM_NVME_FAULT_SLOW, .qid = 1,
                                          .opcode = 2, .delay_ns = 10000000000ull, .count = 1};
        assert_int_equal(capdrv_sim_nvme_set_fault(t.sim, t.fn, &f), 0);
        assert_int_equal(capdrv_nvme_read(qp, 1, 0, 1, &seg, 1, done_cb, d), 0);
        assert_int_equal(capdrv_nvme_qpair_wait(qp, -1), 1);
        assert_int_equal(d[0], 1);
        assert_int_equal(d[1], -CAPDRV_ETIMEDOUT);
        /* A dropped command: the Abort cannot help, the reset does. */
        f = (struct capdrv_sim_nvme_fault){.kind = CAPDRV_SIM_NVME_FAULT_DROP, .qid = 1,
                                           .opcode = 2, .count = 1};
        assert_int_equal(capdrv_sim_nvme_set_fault(t.sim, t.fn, &f), 0);
        assert_int_equal(capdrv_nvme_read(qp, 1, 0, 1, &seg, 1, done_cb, d), 0);
        assert_int_equal(capdrv_nvme_qpair_wait(qp, -1), 1);
        assert_int_equal(d[0], 2);
        assert_int_equal(d[1], -CAPDRV_ETIMEDOUT);
        struct capdrv_nvme_ctrl_info in;
        capdrv_nvme_ctrl_info(t.c, &in);
        assert_int_equal(in.resets, 1);
        /* A hostile completion breaks the queue; a reset recovers. */
        f = (struct capdrv_sim_nvme_fault){.kind = CAPDRV_SIM_NVME_FAULT_BAD_CID, .qid = 1,
                                           .opcode = -1, .count = 1};
        assert_int_equal(capdrv_sim_nvme_set_fault(t.sim, t.fn, &f), 0);
        assert_int_equal(capdrv_nvme_read(qp, 1, 0, 1, &seg, 1, done_cb, d), 0);
        assert_int_equal(capdrv_nvme_qpair_wait(qp, -1), -CAPDRV_EPROTO);
        assert_int_equal(capdrv_nvme_ctrl_reset(t.c), 0);
        assert_int_equal(d[0], 3);
        assert_int_equal(d[1], -CAPDRV_EPROTO);
        assert_int_equal(capdrv_nvme_read(qp, 1, 0, 1, &seg, 1, done_cb, d), 0);
        assert_int_equal(capdrv_nvme_qpair_wait(qp, -1), 1);
        assert_int_equal(d[1], 0);
        /* An error status: -CAPDRV_EIO with the code. */
        f = (struct capdrv_sim_nvme_fault){.kind = CAPDRV_SIM_NVME_FAULT_STATUS, .qid = 1,
                                           .opcode = 2, .status = 0x0281, .count = 1};
        assert_int_equal(capdrv_sim_nvme_set_fault(t.sim, t.fn, &f), 0);
        assert_int_equal(capdrv_nvme_read(qp, 1, 0, 1, &seg, 1, done_cb, d), 0);
        assert_int_equal(capdrv_nvme_qpair_wait(qp, -1), 1);
        assert_int_equal(d[1], -CAPDRV_EIO);
        /* Surprise removal. */
        f = (struct capdrv_sim_nvme_fault){.kind = CAPDRV_SIM_NVME_FAULT_DROP, .qid = 1,
                                           .opcode = -1};
        assert_int_equal(capdrv_sim_nvme_set_fault(t.sim, t.fn, &f), 0);
        assert_int_equal(capdrv_nvme_read(qp, 1, 0, 1, &seg, 1, done_cb, d), 0);
        assert_int_equal(capdrv_nvme_qpair_ring(qp), 1);
        f = (struct capdrv_sim_nvme_fault){.kind = CAPDRV_SIM_NVME_FAULT_REMOVED};
        assert_int_equal(capdrv_sim_nvme_set_fault(t.sim, t.fn, &f), 0);
        assert_int_equal(capdrv_nvme_qpair_wait(qp, -1), 1);
        assert_int_equal(d[1], -CAPDRV_ENODEV);
        assert_int_equal(capdrv_nvme_ctrl_check(t.c), -CAPDRV_ENODEV);
        st_down(&t);
    }
}

/* ---- No device address reaches a provider (brokered lane) ----------------
 * The library end to end in the brokered lane - Identify (controller,
 * namespace, NSID list), a log page, queue pairs with PRPs (lists and a
 * chained list) and with SGLs, a controller reset that re-creates the
 * pairs - then the scanner (tests/unit/shim/phys_scan.h) reads everything
 * the provider can read: every byte of every DMA buffer it holds (the
 * library's queues, list pages and bounce pages, and the data buffer),
 * every register of its window at every width, its configuration space,
 * and every value the shim returned while it ran. Not one 64-bit device
 * address of a shim or provider buffer, and not one distinctive low half,
 * may be there. Data comes from ps_fill(), which never reads as one. */
static void scan_io(struct st *t, struct capdrv_nvme_qpair *qp, uint64_t slba, unsigned seed)
{
    uint8_t *buf = t->di.cpu;
    ps_fill(buf, DATA_LEN, seed);
    uint64_t r = t->di.ref_base;
    int d[2] = {0, 1};
    /* 64 KiB in three segments at odd places, then 128 KiB in one (a PRP
     * list of 31 entries, or one SGL data block). */
    struct capdrv_dma_seg segs[3] = {{r + 3584, 512}, {r + 4096, 32768}, {r + 36864, 32256}};
    assert_int_equal(capdrv_nvme_write(qp, 1, slba, 128, segs, 3, done_cb, d), 0);
    assert_int_equal(capdrv_nvme_qpair_wait(qp, 1000000000), 1);
    assert_int_equal(d[1], 0);
    struct capdrv_dma_seg big = {r + 65536, 131072};
    assert_int_equal(capdrv_nvme_write(qp, 1, slba + 128, 256, &big, 1, done_cb, d), 0);
    assert_int_equal(capdrv_nvme_qpair_wait(qp, 1000000000), 1);
    assert_int_equal(d[1], 0);
    uint8_t *want = malloc(DATA_LEN);
    assert_non_null(want);
    memcpy(want, buf, DATA_LEN);
    /* Read both back, two segments each, into zeroed memory (batched). */
    memset(buf, 0, DATA_LEN);
    struct capdrv_dma_seg b1[2] = {{r + 4096, 8192}, {r + 12288, 57344}};
    struct capdrv_dma_seg b2[2] = {{r + 69632, 65536}, {r + 135168, 65536}};
    assert_int_equal(capdrv_nvme_read(qp, 1, slba, 128, b1, 2, done_cb, d), 0);
    assert_int_equal(capdrv_nvme_read(qp, 1, slba + 128, 256, b2, 2, done_cb, d), 0);
    for (int got = 0; got < 2;) {
        int rc = capdrv_nvme_qpair_wait(qp, 1000000000);
        assert_true(rc > 0);
        got += rc;
    }
    assert_int_equal(d[1], 0);
    assert_memory_equal(buf + 4096, want + 3584, 512);
    assert_memory_equal(buf + 4096 + 512, want + 4096, 65024);
    assert_memory_equal(buf + 69632, want + 65536, 131072);
    /* Leave the data buffer holding test data, not zeroes. */
    ps_fill(buf, 4096, seed + 1u);
    free(want);
}

static void t_brokered_no_device_address(void **state)
{
    (void)state;
    struct st t;
    struct capdrv_sim_nvme_config nc = {.sgl = true, .max_io_queues = 4,
                                        .ns[0] = {.lba_count = 8192}};
    struct capdrv_nvme_ctrl_opts o = {.io_queues = 2};
    st_up_core(&t, false, &nc, &o, false, false, true);
    uint8_t *id = malloc(CAPDRV_NVME_IDENTIFY_BYTES);
    assert_non_null(id);
    assert_int_equal(capdrv_nvme_identify(t.c, 0x01, 0, id), 0); /* controller */
    assert_int_equal(capdrv_nvme_identify(t.c, 0x00, 1, id), 0); /* namespace 1 */
    assert_int_equal(capdrv_nvme_identify(t.c, 0x02, 0, id), 0); /* active NSIDs */
    free(id);
    struct capdrv_nvme_smart_log smart;
    assert_int_equal(capdrv_nvme_get_log_page(t.c, CAPDRV_NVME_LOG_SMART, 0xffffffffu, 0, &smart,
                                              sizeof smart),
                     0);
    struct capdrv_nvme_qpair *qp[2];
    for (unsigned q = 0; q < 2; q++) {
        struct capdrv_nvme_qpair_opts qo = {.depth = 32, .sgl = q == 1};
        assert_int_equal(capdrv_nvme_qpair_create(t.c, &qo, &qp[q]), 0);
        struct capdrv_nvme_qpair_info qi;
        capdrv_nvme_qpair_info(qp[q], &qi);
        assert_int_equal(qi.sgl, q == 1); /* the sim offers SGLs: pair 1 uses them */
    }
    scan_io(&t, qp[0], 0, 11);
    scan_io(&t, qp[1], 1024, 12);
    /* A reset: admin queue and both pairs created again (fresh shadows). */
    assert_int_equal(capdrv_nvme_ctrl_reset(t.c), 0);
    scan_io(&t, qp[0], 2048, 13);
    scan_io(&t, qp[1], 3072, 14);
    struct ps_report r;
    char msg[2048];
    ps_report_init(&r);
    ps_scan_provider(t.pc, &r);
    ps_report_str(&r, msg, sizeof msg);
    print_message("scan: %s\n", msg);
    if (r.n != 0 || r.incomplete)
        fail_msg("device-address scan: %s", msg);
    /* The scan saw the library's buffers (admin queues, two pairs' queues
     * and list pages) besides the data buffer, the window and config space. */
    assert_true(r.bufs >= 6);
    assert_true(r.windows >= 1 && r.mmio_ok > 0 && r.cfg_ok > 0);
    for (unsigned q = 0; q < 2; q++)
        assert_int_equal(capdrv_nvme_qpair_destroy(qp[q]), 0);
    st_down(&t);
}

/* With vector 0 held elsewhere (the provider's own use), the library's
 * waits still sleep - on another vector - so a deadline passes in the
 * platform's time: here simulated time moves by at least the timeout. */
static void t_deadline_without_vector0(void **state)
{
    (void)state;
    struct st t;
    struct capdrv_nvme_ctrl_opts o = {.io_timeout_ns = 100000000ull,
                                      .admin_timeout_ns = 50000000ull};
    st_up_ex(&t, false, NULL, &o, true);
    struct capdrv_nvme_ctrl_info in;
    assert_int_equal(capdrv_nvme_ctrl_info(t.c, &in), 0);
    assert_true(in.n_vectors >= 1); /* its timer */
    struct capdrv_nvme_qpair *qp;
    assert_int_equal(capdrv_nvme_qpair_create(t.c, NULL, &qp), 0);
    struct capdrv_sim_nvme_fault f = {.kind = CAPDRV_SIM_NVME_FAULT_DROP, .qid = 1, .opcode = 2,
                                      .count = 1};
    assert_int_equal(capdrv_sim_nvme_set_fault(t.sim, t.fn, &f), 0);
    struct capdrv_dma_seg seg = {t.di.ref_base, 512};
    int d[2] = {0, 1};
    uint64_t t0 = capdrv_sim_now(t.sim);
    assert_int_equal(capdrv_nvme_read(qp, 1, 0, 1, &seg, 1, done_cb, d), 0);
    assert_int_equal(capdrv_nvme_qpair_wait(qp, -1), 1);
    assert_int_equal(d[1], -CAPDRV_ETIMEDOUT);
    /* The I/O deadline, then the Abort's admin deadline, really waited. */
    assert_true(capdrv_sim_now(t.sim) - t0 >= o.io_timeout_ns + o.admin_timeout_ns);
    assert_int_equal(capdrv_cap_release(t.sys, t.held0), 0);
    st_down(&t);
}

/* The grant is released under the library (its capabilities, queues and
 * buffers gone): abandon frees the handle and every queue pair without a
 * call on the connection, and the outstanding command completes once.
 * (ASan's leak check in CI sees anything left behind.) */
static void t_abandon_after_release(void **state)
{
    (void)state;
    struct st t;
    st_up(&t, false, NULL, NULL);
    struct capdrv_nvme_qpair *qp;
    assert_int_equal(capdrv_nvme_qpair_create(t.c, NULL, &qp), 0);
    struct capdrv_sim_nvme_fault f = {.kind = CAPDRV_SIM_NVME_FAULT_DROP, .qid = 1, .opcode = 2,
                                      .count = 1};
    assert_int_equal(capdrv_sim_nvme_set_fault(t.sim, t.fn, &f), 0);
    struct capdrv_dma_seg seg = {t.di.ref_base, 512};
    int d[2] = {0, 1};
    assert_int_equal(capdrv_nvme_read(qp, 1, 0, 1, &seg, 1, done_cb, d), 0);
    assert_int_equal(capdrv_nvme_qpair_ring(qp), 1);
    assert_int_equal(capdrv_cap_release(t.sys, t.grant), 0);
    capdrv_sys_close(t.sys); /* the connection is gone too */
    capdrv_nvme_ctrl_abandon(t.c);
    assert_int_equal(d[0], 1);
    assert_int_equal(d[1], -CAPDRV_ECANCELED);
    capdrv_nvme_ctrl_abandon(NULL);
    assert_int_equal(capdrv_sim_oracle_violations(t.sim), 0);
    capdrv_shim_destroy(t.shim);
    assert_int_equal(capdrv_env_hosted_live_allocs(t.env), 0);
    capdrv_env_hosted_free(t.env);
    capdrv_sim_destroy(t.sim);
}

/* Shadow doorbells asked for and advertised (OACS bit 8, through the
 * relay), but the shim refuses Doorbell Buffer Config at the admin SQ
 * doorbell (-CAPDRV_EPERM: the device would read tails the shim never
 * validated). The library takes the command back, runs with plain
 * doorbells and says why (capdrv_nvme_ctrl_info); a reset does not ask
 * again. Both lanes. */
static void t_dbbc_refused_by_shim(void **state)
{
    (void)state;
    for (int lane = 0; lane < 2; lane++) {
        struct st t;
        struct capdrv_nvme_ctrl_opts o = {.shadow_doorbells = true};
        st_up_ex2(&t, lane == 1, NULL, &o, false, true);
        struct capdrv_nvme_ctrl_info in;
        assert_int_equal(capdrv_nvme_ctrl_info(t.c, &in), 0);
        assert_int_equal(t.rl->identify_patched, 1);
        assert_true(in.oacs & CAPDRV_NVME_OACS_DBBC);
        assert_int_equal(t.rl->dbbc_doorbells, 1);
        assert_int_equal(t.rl->dbbc_rc, -CAPDRV_EPERM);
        assert_false(in.shadow_doorbells);
        assert_int_equal(in.shadow_doorbells_err, -CAPDRV_EPERM);
        /* The admin queue is healthy, and the controller never saw the
         * command: the next admin commands and I/O work. */
        uint32_t dw0 = 0;
        assert_int_equal(capdrv_nvme_get_features(t.c, CAPDRV_NVME_FEAT_NUM_QUEUES, 0, 0, NULL,
                                                  0, &dw0),
                         0);
        struct capdrv_nvme_qpair *qp;
        assert_int_equal(capdrv_nvme_qpair_create(t.c, NULL, &qp), 0);
        struct capdrv_dma_seg seg = {t.di.ref_base, 4096};
        int d[2] = {0, 1};
        memset(t.di.cpu, 0x3c, 4096);
        assert_int_equal(capdrv_nvme_write(qp, 1, 8, 8, &seg, 1, done_cb, d), 0);
        assert_int_equal(capdrv_nvme_qpair_wait(qp, -1), 1);
        assert_int_equal(d[1], 0);
        memset(t.di.cpu, 0, 4096);
        assert_int_equal(capdrv_nvme_read(qp, 1, 8, 8, &seg, 1, done_cb, d), 0);
        assert_int_equal(capdrv_nvme_qpair_wait(qp, -1), 1);
        assert_int_equal(d[0], 2);
        assert_int_equal(d[1], 0);
        assert_int_equal(((uint8_t *)t.di.cpu)[4095], 0x3c);
        /* A reset brings the controller up again without asking. */
        assert_int_equal(capdrv_nvme_ctrl_reset(t.c), 0);
        assert_int_equal(t.rl->identify_patched, 2);
        assert_int_equal(t.rl->dbbc_doorbells, 1);
        assert_int_equal(capdrv_nvme_ctrl_info(t.c, &in), 0);
        assert_false(in.shadow_doorbells);
        assert_int_equal(in.shadow_doorbells_err, -CAPDRV_EPERM);
        assert_int_equal(capdrv_nvme_read(qp, 1, 8, 8, &seg, 1, done_cb, d), 0);
        assert_int_equal(capdrv_nvme_qpair_wait(qp, -1), 1);
        assert_int_equal(d[1], 0);
        assert_int_equal(capdrv_nvme_qpair_destroy(qp), 0);
        st_down(&t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_brokered_prp), cmocka_unit_test(t_direct_prp),
        cmocka_unit_test(t_sgl_both),     cmocka_unit_test(t_admin_sim),
        cmocka_unit_test(t_faults_sim),   cmocka_unit_test(t_deadline_without_vector0),
        cmocka_unit_test(t_abandon_after_release), cmocka_unit_test(t_dbbc_refused_by_shim),
        cmocka_unit_test(t_brokered_no_device_address),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
