/* capdrv-bench-nvme: the machine (one sim holding an NVMe controller at
 * 00:04.0 and a virtio-blk at 00:05.0, both granted to provider
 * "nvme-bench"), the timed platform wrapper, and the two targets. */
#define _GNU_SOURCE
#include "nvme_perf.h"

#include <capdrv/nvme.h>
#include <capdrv/shim.h>
#include <capdrv/sys.h>
#include <capdrv/vfio.h>
#include <capdrv/virtio_blk.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t perf_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t perf_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void perf_template(uint8_t *page)
{
    for (unsigned k = 0; k < IO_BYTES; k++)
        page[k] = (uint8_t)(k * 131u + 0x5au);
}

void perf_stamp(uint8_t *page, uint64_t p)
{
    uint64_t inv = ~p;
    memcpy(page, &p, sizeof p);
    memcpy(page + IO_BYTES - sizeof inv, &inv, sizeof inv);
}

/* ---- timed platform ------------------------------------------------------ */

#define INNER(ctx) (&((struct timed_hw *)(ctx))->inner)

static unsigned t_caps(void *ctx) { return INNER(ctx)->ops->caps(INNER(ctx)->ctx); }
static int t_fcount(void *ctx) { return INNER(ctx)->ops->function_count(INNER(ctx)->ctx); }
static int t_finfo(void *ctx, unsigned fn, struct capdrv_hw_function *out)
{
    return INNER(ctx)->ops->function_info(INNER(ctx)->ctx, fn, out);
}
static int t_cfg_read(void *ctx, unsigned fn, uint32_t off, unsigned w, uint32_t *v)
{
    return INNER(ctx)->ops->cfg_read(INNER(ctx)->ctx, fn, off, w, v);
}
static int t_cfg_write(void *ctx, unsigned fn, uint32_t off, unsigned w, uint32_t v)
{
    return INNER(ctx)->ops->cfg_write(INNER(ctx)->ctx, fn, off, w, v);
}
static int t_bar_read(void *ctx, unsigned fn, unsigned bar, uint64_t off, unsigned w, uint64_t *v)
{
    return INNER(ctx)->ops->bar_read(INNER(ctx)->ctx, fn, bar, off, w, v);
}
static int t_bar_write(void *ctx, unsigned fn, unsigned bar, uint64_t off, unsigned w, uint64_t v)
{
    struct timed_hw *t = ctx;
    uint64_t t0 = perf_cpu_ns();
    int rc = t->inner.ops->bar_write(t->inner.ctx, fn, bar, off, w, v);
    t->bar_write_ns += perf_cpu_ns() - t0;
    t->bar_writes++;
    return rc;
}
static int t_dma_alloc(void *ctx, size_t size, struct capdrv_hw_dma *out)
{
    return INNER(ctx)->ops->dma_alloc(INNER(ctx)->ctx, size, out);
}
static void t_dma_free(void *ctx, struct capdrv_hw_dma *mem)
{
    INNER(ctx)->ops->dma_free(INNER(ctx)->ctx, mem);
}
static int t_dma_map(void *ctx, unsigned fn, const struct capdrv_hw_dma *mem, uint64_t iova,
                     uint64_t *devaddr)
{
    return INNER(ctx)->ops->dma_map(INNER(ctx)->ctx, fn, mem, iova, devaddr);
}
static int t_dma_unmap(void *ctx, unsigned fn, const struct capdrv_hw_dma *mem, uint64_t devaddr)
{
    return INNER(ctx)->ops->dma_unmap(INNER(ctx)->ctx, fn, mem, devaddr);
}
static int t_irq_enable(void *ctx, unsigned fn, unsigned v)
{
    return INNER(ctx)->ops->irq_enable(INNER(ctx)->ctx, fn, v);
}
static int t_irq_disable(void *ctx, unsigned fn, unsigned v)
{
    return INNER(ctx)->ops->irq_disable(INNER(ctx)->ctx, fn, v);
}
static int t_irq_mask(void *ctx, unsigned fn, unsigned v, bool masked)
{
    return INNER(ctx)->ops->irq_mask(INNER(ctx)->ctx, fn, v, masked);
}
static int t_irq_wait(void *ctx, const struct capdrv_hw_irq *set, unsigned n, int64_t timeout_ns,
                      uint64_t *ready)
{
    return INNER(ctx)->ops->irq_wait(INNER(ctx)->ctx, set, n, timeout_ns, ready);
}
static int t_reset(void *ctx, unsigned fn) { return INNER(ctx)->ops->function_reset(INNER(ctx)->ctx, fn); }

struct capdrv_hw perf_timed_hw(struct timed_hw *t, struct capdrv_hw inner)
{
    t->inner = inner;
    t->ops = (struct capdrv_hw_ops){t_caps,      t_fcount,     t_finfo,      t_cfg_read,
                                    t_cfg_write, t_bar_read,   t_bar_write,  t_dma_alloc,
                                    t_dma_free,  t_dma_map,    t_dma_unmap,  t_irq_enable,
                                    t_irq_disable, t_irq_mask, t_irq_wait,   t_reset,
                                    NULL /* dma_fd: the benchmark shares nothing */};
    t->bar_write_ns = t->bar_writes = 0;
    return (struct capdrv_hw){.ops = &t->ops, .ctx = t};
}

/* ---- NVMe target ---------------------------------------------------------- */

struct nvme_t {
    struct capdrv_nvme_ctrl *ctrl;
    struct capdrv_nvme_qpair *qp[MAX_QUEUES];
    struct capdrv_dmabuf_info buf[MAX_QUEUES];
    uint32_t lba_per_io;
};

static void nvme_cb(void *arg, const struct capdrv_nvme_cpl *cpl)
{
    perf_complete(arg, cpl->status);
}

static int nvme_queue(void *t, struct slot *s)
{
    struct nvme_t *n = t;
    struct capdrv_dma_seg seg = {capdrv_dma_ref(&n->buf[s->q], (size_t)s->idx * IO_BYTES), IO_BYTES};
    uint64_t slba = s->page * n->lba_per_io;
    return (s->read ? capdrv_nvme_read : capdrv_nvme_write)(n->qp[s->q], 1, slba, n->lba_per_io,
                                                           &seg, 1, nvme_cb, s);
}

static int nvme_ring(void *t, unsigned q)
{
    int rc = capdrv_nvme_qpair_ring(((struct nvme_t *)t)->qp[q]);
    return rc < 0 ? rc : 0;
}

static int nvme_poll(void *t, unsigned q)
{
    return capdrv_nvme_qpair_poll(((struct nvme_t *)t)->qp[q], 0);
}

static uint8_t *nvme_buf(void *t, unsigned q, unsigned idx)
{
    return (uint8_t *)((struct nvme_t *)t)->buf[q].cpu + (size_t)idx * IO_BYTES;
}

static const struct target_ops nvme_ops = {"nvme", nvme_queue, nvme_ring, nvme_poll, nvme_buf};

/* ---- virtio-blk target (the peer) ----------------------------------------- */

struct blk_t {
    struct capdrv_virtio_blk *blk;
    struct capdrv_dmabuf_info buf[MAX_QUEUES];
    /* Requests queued since the last ring, per queue: virtio-blk submits a
     * batch with one doorbell, which is what ring() does. */
    struct capdrv_virtio_blk_req pend[MAX_QUEUES][MAX_QD];
    struct capdrv_virtq_seg segs[MAX_QUEUES][MAX_QD];
    unsigned npend[MAX_QUEUES];
    struct capdrv_virtio_blk_done done[MAX_QD];
};

static int blk_queue(void *t, struct slot *s)
{
    struct blk_t *b = t;
    unsigned k = b->npend[s->q];
    if (k >= MAX_QD)
        return -CAPDRV_EBUSY;
    b->segs[s->q][k] = (struct capdrv_virtq_seg){
        capdrv_dma_ref(&b->buf[s->q], (size_t)s->idx * IO_BYTES), IO_BYTES};
    b->pend[s->q][k] = (struct capdrv_virtio_blk_req){
        .type = s->read ? CAPDRV_VIRTIO_BLK_T_IN : CAPDRV_VIRTIO_BLK_T_OUT,
        .sector = s->page * (IO_BYTES / CAPDRV_VIRTIO_BLK_SECTOR_SIZE),
        .n_segs = 1, .segs = &b->segs[s->q][k], .cookie = s};
    b->npend[s->q] = k + 1;
    return 0;
}

static int blk_ring(void *t, unsigned q)
{
    struct blk_t *b = t;
    unsigned n = b->npend[q];
    if (n == 0)
        return 0;
    int rc = capdrv_virtio_blk_submit(b->blk, q, b->pend[q], n);
    b->npend[q] = 0;
    return rc < 0 ? rc : rc == (int)n ? 0 : -CAPDRV_ENOSPC;
}

static int blk_poll(void *t, unsigned q)
{
    struct blk_t *b = t;
    int got = capdrv_virtio_blk_reap(b->blk, q, b->done, MAX_QD);
    for (int i = 0; i < got; i++) {
        struct slot *s = b->done[i].cookie;
        int st = b->done[i].status;
        if (st == 0 && s->read && b->done[i].len != IO_BYTES)
            st = -CAPDRV_EPROTO;
        perf_complete(s, st);
    }
    return got;
}

static uint8_t *blk_buf(void *t, unsigned q, unsigned idx)
{
    return (uint8_t *)((struct blk_t *)t)->buf[q].cpu + (size_t)idx * IO_BYTES;
}

static const struct target_ops blk_ops = {"virtio-blk", blk_queue, blk_ring, blk_poll, blk_buf};

/* ---- the machine ------------------------------------------------------------ */

struct machine {
    struct capdrv_sim *sim;
    struct capdrv_vfio *vfio;
    unsigned fn_nvme, fn_blk;
    struct timed_hw timer;
    struct capdrv_env *env;
    struct capdrv_shim *shim;
    capdrv_sys *sys;
    capdrv_cap_t g_nvme, g_blk;
    struct nvme_t nvme;
    struct blk_t *blk;
};

static void *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    char *buf = NULL;
    long n = fseek(fp, 0, SEEK_END) == 0 ? ftell(fp) : -1;
    if (n > 0 && fseek(fp, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n)) &&
        fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(fp);
    *len = n > 0 ? (size_t)n : 0;
    return buf;
}

#define M_TRY(what, expr)                                                                \
    do {                                                                                 \
        int rc_ = (expr);                                                                \
        if (rc_ < 0) {                                                                   \
            fprintf(stderr, "capdrv-bench-nvme: %s: %s\n", what, capdrv_strerror(rc_)); \
            return rc_;                                                                  \
        }                                                                                \
    } while (0)

/* Both disks hold perf_template() stamped with the page number (no DMA). */
static int fill(struct machine *m, bool peer)
{
    uint8_t page[IO_BYTES];
    perf_template(page);
    for (uint64_t p = 0; p < DISK_PAGES; p++) {
        perf_stamp(page, p);
        M_TRY("fill NVMe namespace",
              capdrv_sim_nvme_data(m->sim, m->fn_nvme, 1, p * IO_BYTES, page, IO_BYTES, true));
        if (peer)
            M_TRY("fill virtio-blk disk",
                  capdrv_sim_virtio_blk_data(m->sim, m->fn_blk, p * IO_BYTES, page, IO_BYTES, true));
    }
    return 0;
}

static int open_targets(struct machine *m, const struct machine_cfg *cfg)
{
    int idx = capdrv_grant_find(m->sys, "nvme0");
    M_TRY("find grant nvme0", idx);
    M_TRY("open grant nvme0", capdrv_grant_open(m->sys, (unsigned)idx, &m->g_nvme));
    if (capdrv_grant_lane(m->sys, m->g_nvme) != (cfg->direct ? CAPDRV_LANE_DIRECT : CAPDRV_LANE_BROKERED)) {
        fprintf(stderr, "capdrv-bench-nvme: the grant got the other lane\n");
        return -CAPDRV_EPROTO;
    }
    capdrv_cap_t pool, b;
    M_TRY("open NVMe pool", capdrv_pool_open(m->sys, m->g_nvme, &pool));
    struct capdrv_nvme_ctrl_opts co = {.pool = pool, .io_queues = cfg->nq, .polling = true};
    /* A real controller (VFIO), in CI a TCG guest under a loaded host: the
     * library's admin deadline counts wait slices that a spurious wake-up
     * also charges, and one CI run in eight saw the 5 s default pass
     * during bring-up (docs/PERFORMANCE.md). Bring-up time is not what
     * this tool measures. */
    if (cfg->vfio)
        co.admin_timeout_ns = 30000000000ull;
    char why[256] = "";
    int rc = capdrv_nvme_ctrl_open(m->sys, m->g_nvme, &co, &m->nvme.ctrl, why, sizeof why);
    if (rc < 0) {
        fprintf(stderr, "capdrv-bench-nvme: open controller: %s (%s)\n", why, capdrv_strerror(rc));
        return rc;
    }
    struct capdrv_nvme_ns_info ns;
    M_TRY("namespace 1", capdrv_nvme_ns_info(m->nvme.ctrl, 1, &ns));
    m->nvme.lba_per_io = IO_BYTES / ns.lba_size;
    /* depth - 1 commands may be outstanding (Base 2.0 §3.3.1.5); every
     * command is one page, so no PRP list pages are needed. */
    struct capdrv_nvme_qpair_opts qo = {.depth = cfg->qd + 1, .polling = true, .sgl = cfg->sgl,
                                        .max_xfer = IO_BYTES, .max_segs = 1};
    for (unsigned q = 0; q < cfg->nq; q++) {
        M_TRY("create queue pair", capdrv_nvme_qpair_create(m->nvme.ctrl, &qo, &m->nvme.qp[q]));
        M_TRY("allocate NVMe buffers",
              capdrv_dma_alloc(m->sys, pool, (size_t)cfg->qd * IO_BYTES, &b, &m->nvme.buf[q]));
    }
    if (cfg->sgl) {
        struct capdrv_nvme_qpair_info qi;
        M_TRY("queue pair info", capdrv_nvme_qpair_info(m->nvme.qp[0], &qi));
        if (!qi.sgl) {
            fprintf(stderr, "capdrv-bench-nvme: --sgl: no SGLs offered\n");
            return -CAPDRV_ENOTSUP;
        }
    }
    if (!cfg->peer)
        return 0;
    idx = capdrv_grant_find(m->sys, "blk0");
    M_TRY("find grant blk0", idx);
    M_TRY("open grant blk0", capdrv_grant_open(m->sys, (unsigned)idx, &m->g_blk));
    M_TRY("open virtio-blk pool", capdrv_pool_open(m->sys, m->g_blk, &pool));
    m->blk = calloc(1, sizeof *m->blk);
    if (!m->blk)
        return -CAPDRV_ENOMEM;
    /* The brokered lane gets no indirect descriptors: 3 per request. */
    struct capdrv_virtio_blk_opts bo = {.pool = pool, .num_queues = cfg->nq,
                                        .queue_size = cfg->qd * 3 > 256 ? 1024 : 256};
    rc = capdrv_virtio_blk_open(m->sys, m->g_blk, &bo, &m->blk->blk, why, sizeof why);
    if (rc < 0) {
        fprintf(stderr, "capdrv-bench-nvme: open virtio-blk: %s (%s)\n", why, capdrv_strerror(rc));
        return rc;
    }
    struct capdrv_virtio_blk_info bi;
    M_TRY("virtio-blk info", capdrv_virtio_blk_info(m->blk->blk, &bi));
    if (bi.num_queues < cfg->nq) {
        fprintf(stderr, "capdrv-bench-nvme: virtio-blk offers %u queues\n", bi.num_queues);
        return -CAPDRV_ENOTSUP;
    }
    for (unsigned q = 0; q < cfg->nq; q++)
        M_TRY("allocate virtio-blk buffers",
              capdrv_dma_alloc(m->sys, pool, (size_t)cfg->qd * IO_BYTES, &b, &m->blk->buf[q]));
    return 0;
}

static void fill_cb(void *arg, const struct capdrv_nvme_cpl *cpl)
{
    int *st = arg;
    *st = cpl->status == 0 ? 1 : -(int)cpl->status - 1;
}

/* A real controller has no side door: write every page through queue pair
 * 0, qd pages per doorbell, each batch bounded by 10 s. */
static int fill_nvme(struct machine *m, unsigned qd)
{
    uint8_t *base = m->nvme.buf[0].cpu, tmpl[IO_BYTES];
    perf_template(tmpl);
    for (uint64_t p0 = 0; p0 < DISK_PAGES; p0 += qd) {
        unsigned n = DISK_PAGES - p0 < qd ? (unsigned)(DISK_PAGES - p0) : qd;
        int st[MAX_QD] = {0};
        for (unsigned i = 0; i < n; i++) {
            uint8_t *page = base + (size_t)i * IO_BYTES;
            memcpy(page, tmpl, IO_BYTES);
            perf_stamp(page, p0 + i);
            struct capdrv_dma_seg seg = {capdrv_dma_ref(&m->nvme.buf[0], (size_t)i * IO_BYTES),
                                         IO_BYTES};
            M_TRY("fill: write", capdrv_nvme_write(m->nvme.qp[0], 1, (p0 + i) * m->nvme.lba_per_io,
                                                   m->nvme.lba_per_io, &seg, 1, fill_cb, &st[i]));
        }
        M_TRY("fill: doorbell", capdrv_nvme_qpair_ring(m->nvme.qp[0]));
        uint64_t deadline = perf_now_ns() + 10000000000ull;
        for (unsigned done = 0; done < n;) {
            M_TRY("fill: reap", capdrv_nvme_qpair_poll(m->nvme.qp[0], 0));
            done = 0;
            for (unsigned i = 0; i < n; i++)
                done += st[i] != 0;
            if (done < n && perf_now_ns() > deadline)
                M_TRY("fill: completions", -CAPDRV_ETIMEDOUT);
        }
        for (unsigned i = 0; i < n; i++)
            if (st[i] != 1) {
                fprintf(stderr, "capdrv-bench-nvme: fill: write of page %" PRIu64 " failed\n",
                        p0 + i);
                return -CAPDRV_EIO;
            }
    }
    return 0;
}

/* The vfio machine: one real NVMe controller, both lanes possible (the
 * manifest picks the lane; VFIO always has an IOMMU). */
static int open_vfio(struct machine *m, const struct machine_cfg *cfg)
{
    const struct capdrv_vfio_select sel = {.slot = cfg->vfio};
    struct capdrv_vfio_config vc = {.select = &sel, .n_select = 1};
    char why[1024] = "";
    int rc = capdrv_vfio_create(&vc, &m->vfio, why, sizeof why);
    if (rc < 0) {
        fprintf(stderr, "capdrv-bench-nvme: %s (%s)\n", why, capdrv_strerror(rc));
        return rc;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/nvme-bench-vfio-%s.dtb", CAPDRV_BENCH_VFIO_MANIFEST_DIR,
             cfg->direct ? "direct" : "brokered");
    size_t len;
    void *blob = slurp(path, &len);
    if (!blob) {
        fprintf(stderr, "capdrv-bench-nvme: cannot read manifest %s\n", path);
        return -CAPDRV_ENOENT;
    }
    struct capdrv_env_hosted_opts eo = {.log_level = -1};
    m->env = capdrv_env_hosted_new(&eo);
    struct capdrv_shim_config shc = {.env = m->env, .hw = capdrv_vfio_hw(m->vfio),
                                     .manifest = blob, .manifest_len = len};
    rc = m->env ? capdrv_shim_create(&shc, &m->shim, why, sizeof why) : -CAPDRV_ENOMEM;
    free(blob);
    if (rc < 0) {
        fprintf(stderr, "capdrv-bench-nvme: shim: %s (%s)\n", why, capdrv_strerror(rc));
        return rc;
    }
    M_TRY("connect", capdrv_shim_connect(m->shim, "nvme-bench", &m->sys));
    M_TRY("open", open_targets(m, cfg));
    return fill_nvme(m, cfg->qd);
}

int perf_machine_open(const struct machine_cfg *cfg, struct machine **out)
{
    struct machine *m = calloc(1, sizeof *m);
    *out = m;
    if (!m)
        return -CAPDRV_ENOMEM;
    if (cfg->vfio)
        return open_vfio(m, cfg);
    struct capdrv_sim_config sc = {.iommu = cfg->direct};
    struct capdrv_pci_addr a_nvme = {0, 0, 4, 0}, a_blk = {0, 0, 5, 0};
    struct capdrv_sim_nvme_config nc = {.n_namespaces = 1, .sgl = true, .max_io_queues = 16,
                                        .ns = {{.lba_count = (uint64_t)DISK_PAGES * 8, .lba_shift = 9}}};
    struct capdrv_sim_virtio_blk_config bc = {
        .capacity_sectors = (uint64_t)DISK_PAGES * (IO_BYTES / CAPDRV_VIRTIO_BLK_SECTOR_SIZE),
        .num_queues = cfg->nq, .queue_size_max = 1024};
    M_TRY("sim", capdrv_sim_create(&sc, &m->sim));
    M_TRY("sim NVMe controller", capdrv_sim_add_nvme(m->sim, &a_nvme, &nc, &m->fn_nvme));
    M_TRY("sim virtio-blk", capdrv_sim_add_virtio_blk(m->sim, &a_blk, &bc, &m->fn_blk));
    int rc = fill(m, cfg->peer);
    if (rc < 0)
        return rc;
    size_t len;
    void *blob = slurp(CAPDRV_BENCH_MANIFEST, &len);
    if (!blob) {
        fprintf(stderr, "capdrv-bench-nvme: cannot read manifest %s\n", CAPDRV_BENCH_MANIFEST);
        return -CAPDRV_ENOENT;
    }
    struct capdrv_env_hosted_opts eo = {.log_level = -1};
    m->env = capdrv_env_hosted_new(&eo);
    struct capdrv_hw hw = capdrv_sim_hw(m->sim);
    if (cfg->split)
        hw = perf_timed_hw(&m->timer, hw);
    struct capdrv_shim_config shc = {.env = m->env, .hw = hw, .manifest = blob,
                                     .manifest_len = len};
    char why[256] = "";
    rc = m->env ? capdrv_shim_create(&shc, &m->shim, why, sizeof why) : -CAPDRV_ENOMEM;
    free(blob);
    if (rc < 0) {
        fprintf(stderr, "capdrv-bench-nvme: shim: %s (%s)\n", why, capdrv_strerror(rc));
        return rc;
    }
    M_TRY("connect", capdrv_shim_connect(m->shim, "nvme-bench", &m->sys));
    return open_targets(m, cfg);
}

void perf_machine_close(struct machine *m)
{
    if (!m)
        return;
    if (m->blk)
        capdrv_virtio_blk_close(m->blk->blk);
    free(m->blk);
    capdrv_nvme_ctrl_close(m->nvme.ctrl); /* destroys the queue pairs */
    capdrv_sys_close(m->sys);             /* releases grants, pools and buffers */
    if (m->shim)
        capdrv_shim_destroy(m->shim);
    if (m->env)
        capdrv_env_hosted_free(m->env);
    capdrv_sim_destroy(m->sim);
    capdrv_vfio_destroy(m->vfio);
    free(m);
}

const struct target_ops *perf_target(struct machine *m, int which, void **t)
{
    if (which == 0 && m->nvme.ctrl) {
        *t = &m->nvme;
        return &nvme_ops;
    }
    if (which == 1 && m->blk && m->blk->blk) {
        *t = m->blk;
        return &blk_ops;
    }
    return NULL;
}

struct timed_hw *perf_machine_timer(struct machine *m)
{
    return &m->timer;
}

unsigned long perf_machine_violations(struct machine *m)
{
    return capdrv_sim_oracle_violations(m->sim);
}
