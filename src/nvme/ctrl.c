/* NVMe controller bring-up and teardown (NVMe Base 2.0 §3.5.1
 * "Initialization", §3.6.1 shutdown, §3.1.3 registers): CAP/VS checks,
 * disable, admin queue, CC, enable, Identify Controller, Number of Queues,
 * Doorbell Buffer Config and AERs. Recovery: recovery.c. */
#define _XOPEN_SOURCE 700 /* PTHREAD_MUTEX_RECURSIVE */

#include "nvme_internal.h"

#include <stdlib.h>
#include <string.h>

/* Largest memory page size the library will use (CC.MPS). */
#define NVME_PAGE_SHIFT_MAX 16u

static unsigned admin_buf_bytes(const struct capdrv_nvme_ctrl *c)
{
    size_t page = (size_t)1 << c->page_shift;
    /* Data area, then one PRP list page (ADMIN_XFER_MAX spans several pages). */
    size_t data = (CAPDRV_NVME_ADMIN_XFER_MAX + page - 1u) / page * page;
    return (unsigned)(data + page);
}

static void trim(char *dst, const char *src, size_t n)
{
    size_t len = n;
    while (len && (src[len - 1] == ' ' || src[len - 1] == '\0'))
        len--;
    for (size_t i = 0; i < len; i++)
        dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '?';
    dst[len] = '\0';
}

/* §3.5.1 step 1 and §3.7.2: clear CC.EN (also CC.SHN) and wait for
 * CSTS.RDY = 0; afterwards the controller has deleted every queue and
 * touches no host memory. */
int nvme_ctrl_disable(struct capdrv_nvme_ctrl *c)
{
    c->enabled = false;
    if (c->gone)
        return -CAPDRV_ENODEV;
    int rc = nvme_reg_write32(c, NVME_REG_CC, 0);
    if (rc < 0)
        return rc;
    rc = nvme_wait_ready(c, false);
    if (rc == 0)
        c->fatal = false;
    return rc;
}

#define PCI_COMMAND 0x04u        /* PCI Local Bus 3.0 §6.2.2 */
#define PCI_COMMAND_MEMORY 0x0002u
#define PCI_COMMAND_MASTER 0x0004u

/* Memory Space for the registers and Bus Master for the queues and data
 * (PCI Local Bus 3.0 §6.2.2): without Bus Master the controller can fetch
 * no command and post no completion (QEMU reports CSTS.CFS). The kernel
 * allows Bus Master only on a grant with a DMA profile. Done before every
 * enable: a function reset (by the kernel, or ours) clears both bits. */
static int enable_function(struct capdrv_nvme_ctrl *c, char *why, size_t why_len)
{
    uint32_t cmd = 0;
    int rc = capdrv_cfg_read(c->sys, c->grant, PCI_COMMAND, 2, &cmd);
    uint32_t want = cmd | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
    if (rc == 0 && want != cmd)
        rc = capdrv_cfg_write(c->sys, c->grant, PCI_COMMAND, 2, want);
    if (rc < 0)
        nvme_say(why, why_len, "enable memory space and bus mastering: %s", capdrv_strerror(rc));
    return rc;
}

/* §3.5.1 steps 2-7: admin queue attributes and bases, CC, enable. */
int nvme_ctrl_enable(struct capdrv_nvme_ctrl *c, char *why, size_t why_len)
{
    struct nvme_queue *aq = &c->aq;
    /* §3.1.3.8 AQA: ACQS 27:16 and ASQS 11:0, 0's based. */
    uint32_t aqa = (aq->depth - 1u) | (aq->depth - 1u) << 16;
    int rc = enable_function(c, why, why_len);
    if (rc < 0)
        return rc;
    if ((rc = nvme_reg_write32(c, NVME_REG_AQA, aqa)) < 0 ||
        (rc = nvme_reg_write64(c, NVME_REG_ASQ, capdrv_dma_ref(&aq->qbi, aq->sq_off))) < 0 ||
        (rc = nvme_reg_write64(c, NVME_REG_ACQ, capdrv_dma_ref(&aq->qbi, aq->cq_off))) < 0) {
        nvme_say(why, why_len, "program the admin queue registers: %s", capdrv_strerror(rc));
        return rc;
    }
    /* §3.1.3.5 CC: CSS 000b (NVM command set), MPS, AMS 000b (round robin),
     * IOSQES 6 (64 bytes), IOCQES 4 (16 bytes); fields first, then EN. */
    uint32_t cc = (uint32_t)(c->page_shift - 12u) << NVME_CC_MPS_SHIFT |
                  6u << NVME_CC_IOSQES_SHIFT | 4u << NVME_CC_IOCQES_SHIFT;
    if ((rc = nvme_reg_write32(c, NVME_REG_CC, cc)) < 0 ||
        (rc = nvme_reg_write32(c, NVME_REG_CC, cc | NVME_CC_EN)) < 0) {
        nvme_say(why, why_len, "write CC: %s", capdrv_strerror(rc));
        return rc;
    }
    c->cc = cc | NVME_CC_EN;
    rc = nvme_wait_ready(c, true);
    if (rc < 0) {
        nvme_say(why, why_len, "enable: %s",
                 rc == -CAPDRV_ETIMEDOUT ? "CSTS.RDY did not become 1 within CAP.TO"
                 : rc == -CAPDRV_EIO     ? "controller fatal status (CSTS.CFS)"
                 : rc == -CAPDRV_ENODEV  ? "CSTS reads all ones (controller removed)"
                                         : capdrv_strerror(rc));
        return rc;
    }
    c->enabled = true;
    return 0;
}

static int identify_ctrl(struct capdrv_nvme_ctrl *c, char *why, size_t why_len)
{
    int rc = capdrv_nvme_identify(c, CAPDRV_NVME_CNS_CTRL, 0, c->id);
    if (rc < 0) {
        nvme_say(why, why_len, "Identify Controller: %s", capdrv_strerror(rc));
        return rc;
    }
    const struct capdrv_nvme_id_ctrl *id = c->id;
    /* §5.17.2.1 SQES/CQES: bits 3:0 required, 7:4 maximum (log2). The
     * library uses 64/16-byte entries (CC.IOSQES = 6, IOCQES = 4). */
    unsigned sq_req = id->sqes & 0xfu, sq_max = id->sqes >> 4;
    unsigned cq_req = id->cqes & 0xfu, cq_max = id->cqes >> 4;
    if (sq_req > 6 || sq_max < 6 || cq_req > 4 || cq_max < 4) {
        nvme_say(why, why_len, "controller needs entry sizes SQES %#x CQES %#x (library: 64/16)",
                 id->sqes, id->cqes);
        return -CAPDRV_ENOTSUP;
    }
    struct capdrv_nvme_ctrl_info *in = &c->info;
    in->mdts_bytes = capdrv_nvme_mdts_bytes(id->mdts, NVME_CAP_MPSMIN(c->cap));
    in->sgls = capdrv_nvme_le32_to_cpu(id->sgls);
    unsigned s = in->sgls & CAPDRV_NVME_SGLS_SUPPORT_MASK;
    in->sgl = s == CAPDRV_NVME_SGLS_BYTE || s == CAPDRV_NVME_SGLS_DWORD;
    in->oncs = capdrv_nvme_le16_to_cpu(id->oncs);
    in->oacs = capdrv_nvme_le16_to_cpu(id->oacs);
    in->nn = capdrv_nvme_le32_to_cpu(id->nn);
    in->vid = capdrv_nvme_le16_to_cpu(id->vid);
    in->ssvid = capdrv_nvme_le16_to_cpu(id->ssvid);
    in->cntlid = capdrv_nvme_le16_to_cpu(id->cntlid);
    in->vwc = id->vwc;
    trim(in->sn, id->sn, sizeof id->sn);
    trim(in->mn, id->mn, sizeof id->mn);
    trim(in->fr, id->fr, sizeof id->fr);
    /* AERL is 0's based (§5.17.2.1). */
    unsigned aer = (unsigned)id->aerl + 1u;
    unsigned want = c->o.aer_slots ? c->o.aer_slots : CAPDRV_NVME_AER_MAX;
    if (want > aer)
        want = aer;
    if (want > CAPDRV_NVME_AER_MAX)
        want = CAPDRV_NVME_AER_MAX;
    /* Keep room for synchronous commands in the admin queue. */
    if (want + 2u > c->aq.depth - 1u)
        want = c->aq.depth > 3u ? c->aq.depth - 3u : 0u;
    in->aer_slots = want;
    return 0;
}

/* §5.27.1.5 Number of Queues: NSQR 15:0 and NCQR 31:16, 0's based; the
 * controller answers with what it allocated (may be more or fewer). */
static int set_num_queues(struct capdrv_nvme_ctrl *c, char *why, size_t why_len)
{
    unsigned want = c->o.io_queues;
    struct capdrv_nvme_sqe e;
    memset(&e, 0, sizeof e);
    e.opc = CAPDRV_NVME_ADMIN_SET_FEATURES;
    e.cdw10 = capdrv_nvme_cpu_to_le32(CAPDRV_NVME_FEAT_NUM_QUEUES);
    e.cdw11 = capdrv_nvme_cpu_to_le32((want - 1u) | (want - 1u) << 16);
    uint32_t dw0 = 0;
    int rc = nvme_admin_simple(c, &e, &dw0);
    if (rc < 0) {
        nvme_say(why, why_len, "Set Features Number of Queues: %s", capdrv_strerror(rc));
        return rc;
    }
    unsigned nsqa = (dw0 & 0xffffu) + 1u, ncqa = (dw0 >> 16) + 1u;
    unsigned got = want;
    if (nsqa < got)
        got = nsqa;
    if (ncqa < got)
        got = ncqa;
    c->info.io_queues = got;
    return 0;
}

int nvme_ctrl_setup(struct capdrv_nvme_ctrl *c, char *why, size_t why_len)
{
    int rc = nvme_ctrl_disable(c);
    if (rc < 0) {
        nvme_say(why, why_len, "disable: %s",
                 rc == -CAPDRV_ETIMEDOUT ? "CSTS.RDY did not clear within CAP.TO"
                 : rc == -CAPDRV_ENODEV  ? "CSTS reads all ones (controller removed)"
                                         : capdrv_strerror(rc));
        return rc;
    }
    nvme_queue_rewind(&c->aq);
    if ((rc = nvme_ctrl_enable(c, why, why_len)) < 0)
        return rc;
    if ((rc = identify_ctrl(c, why, why_len)) < 0)
        return rc;
    if ((rc = set_num_queues(c, why, why_len)) < 0)
        return rc;
    if ((rc = nvme_dbbuf_setup(c)) < 0) {
        nvme_say(why, why_len, "Doorbell Buffer Config: %s", capdrv_strerror(rc));
        return rc;
    }
    return 0;
}

static int open_window(struct capdrv_nvme_ctrl *c, char *why, size_t why_len)
{
    struct capdrv_window_info wi;
    int rc = capdrv_window_info(c->sys, c->grant, 0, &wi);
    if (rc == 0)
        rc = capdrv_mmio_open(c->sys, c->grant, 0, &c->mmio);
    if (rc < 0) {
        nvme_say(why, why_len, "MMIO window 0: %s", capdrv_strerror(rc));
        return rc;
    }
    if (wi.bar != 0 || wi.offset != 0) {
        nvme_say(why, why_len, "window 0 must start at BAR0 offset 0 (is BAR%u + %#llx)", wi.bar,
                 (unsigned long long)wi.offset);
        return -CAPDRV_ENOTSUP;
    }
    c->window_len = wi.length;
    return 0;
}

/* CAP and VS sanity (§3.1.3.1, §3.1.3.2). */
static int read_cap(struct capdrv_nvme_ctrl *c, char *why, size_t why_len)
{
    int rc = nvme_reg_read64(c, NVME_REG_CAP, &c->cap);
    uint32_t vs = 0;
    if (rc == 0)
        rc = nvme_reg_read32(c, NVME_REG_VS, &vs);
    if (rc < 0) {
        nvme_say(why, why_len, "read CAP/VS: %s", capdrv_strerror(rc));
        return rc;
    }
    if (c->cap == UINT64_MAX || vs == UINT32_MAX) {
        nvme_say(why, why_len, "CAP reads all ones: no controller (removed?)");
        c->gone = true;
        return -CAPDRV_ENODEV;
    }
    if (!(NVME_CAP_CSS(c->cap) & 1u)) {
        nvme_say(why, why_len, "CAP.CSS does not offer the NVM command set");
        return -CAPDRV_ENOTSUP;
    }
    unsigned mpsmin = NVME_CAP_MPSMIN(c->cap), mpsmax = NVME_CAP_MPSMAX(c->cap);
    if (mpsmin > mpsmax) {
        nvme_say(why, why_len, "CAP.MPSMIN %u above CAP.MPSMAX %u", mpsmin, mpsmax);
        return -CAPDRV_EPROTO;
    }
    /* 4 KiB pages (the host page size) clamped to what the controller
     * supports (§3.1.3.5 CC.MPS). */
    c->page_shift = 12u + mpsmin;
    if (c->page_shift > NVME_PAGE_SHIFT_MAX) {
        nvme_say(why, why_len, "CAP.MPSMIN asks for %u KiB pages", 1u << (c->page_shift - 10u));
        return -CAPDRV_ENOTSUP;
    }
    if (NVME_CAP_MQES(c->cap) == 0) {
        nvme_say(why, why_len, "CAP.MQES is 0 (a queue needs at least 2 entries)");
        return -CAPDRV_EPROTO;
    }
    struct capdrv_nvme_ctrl_info *in = &c->info;
    in->cap = c->cap;
    in->vs = vs;
    in->mqes = NVME_CAP_MQES(c->cap) + 1u;
    in->cqr = NVME_CAP_CQR(c->cap) != 0;
    in->dstrd = NVME_CAP_DSTRD(c->cap);
    in->to_ms = NVME_CAP_TO(c->cap) * 500u;
    in->mps_min = 1u << (12u + mpsmin);
    in->mps_max = mpsmax + 12u >= 32u ? UINT32_MAX : 1u << (12u + mpsmax);
    in->page_size = 1u << c->page_shift;
    if (nvme_doorbell(c, 0, true) + 4u > c->window_len) {
        nvme_say(why, why_len, "window 0 (%#llx bytes) does not reach the admin doorbells",
                 (unsigned long long)c->window_len);
        return -CAPDRV_ENOTSUP;
    }
    return 0;
}

static int resolve_opts(struct capdrv_nvme_ctrl *c, const struct capdrv_nvme_ctrl_opts *o,
                        char *why, size_t why_len)
{
    c->o = *o;
    if (!c->o.admin_depth)
        c->o.admin_depth = CAPDRV_NVME_ADMIN_DEPTH_DEFAULT;
    if (c->o.admin_depth < 2 || c->o.admin_depth > CAPDRV_NVME_ADMIN_DEPTH_MAX) {
        nvme_say(why, why_len, "admin_depth %u outside 2..4096", c->o.admin_depth);
        return -CAPDRV_EINVAL;
    }
    if (!c->o.io_queues)
        c->o.io_queues = 1;
    if (c->o.io_queues > CAPDRV_NVME_MAX_IO_QUEUES)
        c->o.io_queues = CAPDRV_NVME_MAX_IO_QUEUES;
    c->qid_used = calloc((size_t)c->o.io_queues + 1u, sizeof *c->qid_used);
    if (!c->qid_used) {
        nvme_say(why, why_len, "out of memory");
        return -CAPDRV_ENOMEM;
    }
    if (!c->o.admin_timeout_ns)
        c->o.admin_timeout_ns = CAPDRV_NVME_ADMIN_TIMEOUT_DEFAULT_NS;
    if (!c->o.io_timeout_ns)
        c->o.io_timeout_ns = CAPDRV_NVME_IO_TIMEOUT_DEFAULT_NS;
    return 0;
}

static int bring_up(struct capdrv_nvme_ctrl *c, char *why, size_t why_len)
{
    int rc = open_window(c, why, why_len);
    if (rc < 0)
        return rc;
    if ((rc = read_cap(c, why, why_len)) < 0)
        return rc;
    int lane = capdrv_grant_lane(c->sys, c->grant);
    c->info.lane = lane > 0 ? lane : 0;
    /* Vector 0: the admin CQ's interrupt, and what waits sleep on. When
     * another capability holds it, waits sleep on the first other vector
     * the library can open (nothing needs to fire there: a wait then lasts
     * its slice), so deadlines still pass in the platform's time; without
     * any vector they cannot sleep (capdrv/nvme.h, "Time"). */
    if (capdrv_irq_open(c->sys, c->grant, 0, &c->irq[0]) == 0) {
        c->timer = c->irq[0];
        c->info.n_vectors = 1;
    }
    for (unsigned v = 1; v < NVME_MAX_VECTORS && !c->timer; v++) {
        if (capdrv_irq_open(c->sys, c->grant, v, &c->irq[v]) == 0) {
            c->timer = c->irq[v];
            c->info.n_vectors++;
        }
    }
    unsigned depth = c->o.admin_depth;
    if (depth > c->info.mqes)
        depth = c->info.mqes;
    c->info.admin_depth = depth;
    if ((rc = nvme_queue_alloc(c, &c->aq, 0, depth, 0)) < 0) {
        nvme_say(why, why_len, "admin queue memory: %s", capdrv_strerror(rc));
        return rc;
    }
    /* The admin CQ always has IEN = 1 on vector 0 (§3.5.1: MSI-X vector 0
     * serves the admin CQ); polling only means the library ignores it. */
    if (!c->o.polling) {
        c->aq.vector = 0;
        c->aq.irq = c->irq[0];
    }
    c->id = calloc(1, sizeof *c->id);
    if (!c->id)
        return -CAPDRV_ENOMEM;
    if ((rc = capdrv_dma_alloc(c->sys, c->pool, admin_buf_bytes(c) + ((size_t)1 << c->page_shift),
                               &c->abuf, &c->abi)) < 0) {
        nvme_say(why, why_len, "admin data buffer: %s", capdrv_strerror(rc));
        return rc;
    }
    size_t page = (size_t)1 << c->page_shift;
    c->a_off = (size_t)((page - (c->abi.ref_base & (page - 1u))) & (page - 1u));
    if ((rc = capdrv_prp_cfg_init(&c->admin_prp, page, CAPDRV_NVME_ADMIN_XFER_MAX)) < 0)
        return rc;
    if ((rc = nvme_ctrl_setup(c, why, why_len)) < 0)
        return rc;
    if ((rc = nvme_aer_arm(c)) < 0) {
        nvme_say(why, why_len, "Asynchronous Event Request: %s", capdrv_strerror(rc));
        return rc;
    }
    c->info.polling = c->o.polling;
    return 0;
}

int capdrv_nvme_ctrl_open(capdrv_sys *sys, capdrv_cap_t grant,
                          const struct capdrv_nvme_ctrl_opts *o, struct capdrv_nvme_ctrl **out,
                          char *why, size_t why_len)
{
    if (out)
        *out = NULL;
    if (!sys || !o || !out || !o->pool || !grant) {
        nvme_say(why, why_len, "missing connection, grant, options, output or pool");
        return -CAPDRV_EINVAL;
    }
    struct capdrv_nvme_ctrl *c = calloc(1, sizeof *c);
    if (!c) {
        nvme_say(why, why_len, "out of memory");
        return -CAPDRV_ENOMEM;
    }
    pthread_mutexattr_t ma;
    int rc = pthread_mutexattr_init(&ma) == 0 ? 0 : -CAPDRV_ENOMEM;
    if (rc == 0 && (pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE) != 0 ||
                    pthread_mutex_init(&c->lock, &ma) != 0))
        rc = -CAPDRV_ENOMEM;
    if (rc == 0)
        (void)pthread_mutexattr_destroy(&ma);
    if (rc < 0) {
        free(c);
        nvme_say(why, why_len, "cannot create the controller lock");
        return rc;
    }
    c->sys = sys;
    c->grant = grant;
    c->pool = o->pool;
    rc = resolve_opts(c, o, why, why_len);
    if (rc == 0)
        rc = bring_up(c, why, why_len);
    if (rc < 0) {
        capdrv_nvme_ctrl_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

/* §3.6.1: normal shutdown, then disable. Errors are not reported: close
 * disables the controller whatever happens. */
static void shut_down(struct capdrv_nvme_ctrl *c)
{
    if (c->gone || !c->mmio)
        return;
    if (c->enabled && !c->fatal) {
        if (nvme_reg_write32(c, NVME_REG_CC, (c->cc & ~NVME_CC_SHN_MASK) | NVME_CC_SHN_NORMAL) == 0)
            (void)nvme_wait_shutdown(c);
    }
    (void)nvme_ctrl_disable(c);
}

void capdrv_nvme_ctrl_close(struct capdrv_nvme_ctrl *c)
{
    if (!c)
        return;
    while (c->qps)
        (void)capdrv_nvme_qpair_destroy(c->qps);
    shut_down(c);
    /* The controller holds no queue any more: AERs and anything left on
     * the admin queue are completed (internally) before the memory goes. */
    if (c->aq.cmds) {
        c->resetting = true; /* no AER re-arming */
        nvme_queue_park_all(&c->aq, -CAPDRV_ECANCELED);
        (void)nvme_queue_run_parked(&c->aq);
    }
    nvme_queue_free(c, &c->aq);
    nvme_release_retired(c);
    free(c->retired);
    if (c->abuf)
        (void)capdrv_cap_release(c->sys, c->abuf);
    if (c->dbbuf)
        (void)capdrv_cap_release(c->sys, c->dbbuf);
    for (unsigned v = 0; v < NVME_MAX_VECTORS; v++)
        if (c->irq[v])
            (void)capdrv_cap_release(c->sys, c->irq[v]);
    if (c->mmio)
        (void)capdrv_cap_release(c->sys, c->mmio);
    free(c->id);
    free(c->qid_used);
    (void)pthread_mutex_destroy(&c->lock);
    free(c);
}

void capdrv_nvme_ctrl_abandon(struct capdrv_nvme_ctrl *c)
{
    if (!c)
        return;
    /* From here on nothing may reach c->sys: submissions are refused as
     * on a removed controller, and no queue is rung or released. */
    c->gone = true;
    c->resetting = true; /* no AER re-arming */
    nvme_qpairs_abandon(c);
    if (c->aq.cmds) {
        nvme_queue_park_all(&c->aq, -CAPDRV_ECANCELED);
        (void)nvme_queue_run_parked(&c->aq);
    }
    nvme_queue_free_heap(&c->aq);
    free(c->retired);
    free(c->id);
    free(c->qid_used);
    (void)pthread_mutex_destroy(&c->lock);
    free(c);
}

int capdrv_nvme_ctrl_info(const struct capdrv_nvme_ctrl *c, struct capdrv_nvme_ctrl_info *out)
{
    if (!c || !out)
        return -CAPDRV_EINVAL;
    struct capdrv_nvme_ctrl *w = (struct capdrv_nvme_ctrl *)(uintptr_t)c; /* the lock only */
    nvme_lock(w);
    *out = c->info;
    nvme_unlock(w);
    return 0;
}

const struct capdrv_nvme_id_ctrl *capdrv_nvme_ctrl_id(const struct capdrv_nvme_ctrl *c)
{
    return c ? c->id : NULL;
}

int capdrv_nvme_ctrl_check(struct capdrv_nvme_ctrl *c)
{
    if (!c)
        return -CAPDRV_EINVAL;
    return nvme_health(c);
}
