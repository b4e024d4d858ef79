/* capdrv-blk: a virtio-blk provider. It hosts the shim in-process over the
 * sim platform with one virtio-blk function, then - using capdrv/sys.h and
 * the library's virtio-blk driver only - writes a pattern over a range of
 * the disk, reads it back, verifies every byte and reports throughput.
 *
 *   capdrv-blk [--lane brokered|direct] [--size BYTES] [--offset BYTES]
 *              [--bs BYTES] [--qd N] [--queues N] [--poll|--irq] [--delay]
 *              [--verify] [--file PATH] [--manifest FILE.dtb] [--mmio]
 *              [--platform sim|vfio:SLOT]
 *
 * --mmio builds the sim's virtio-blk behind virtio-mmio (VIRTIO 1.2 §4.2)
 * instead of PCI, with the manifest blk-demo-mmio.dtb: the provider is
 * unchanged, capdrv_virtio_blk_open() picks the transport from the grant.
 *
 * --platform vfio:SLOT drives a real virtio-blk function bound to vfio-pci
 * (e.g. vfio:0000:01:00.0, docs/VFIO.md) instead of the sim; --lane,
 * --file and --delay are the sim's, and --verify's backing-store check
 * needs the sim (on vfio it checks the read-back only).
 *
 * --verify also compares the sim's backing store with the pattern (an
 * independent check of the write path). --delay makes the device complete
 * each batch 10 us of simulated time after its doorbell, so simulated
 * throughput means something. --file backs the disk with the file PATH
 * (created if missing, extended to the disk size if shorter; the sim does
 * its I/O with io_uring) instead of memory; with --verify the file is
 * also read back with pread(). Exit status: 0 success, 1 failure or any
 * mismatch, 2 usage, 77 --file when io_uring is unavailable on this host. */
#define _GNU_SOURCE
#include "example_platform.h"

#include <capdrv/shim.h>
#include <capdrv/sim.h>
#include <capdrv/sys.h>
#include <capdrv/virtio_blk.h>

#include <fcntl.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096u

struct opts {
    const char *lane, *manifest, *file, *platform;
    size_t size, offset, bs;
    unsigned qd, queues;
    int irq, delay, verify, mmio;
};

/* The platform side the provider may not touch; the example owns both. */
struct machine {
    struct capdrv_sim *sim;
    unsigned fn;
    int delay;
};

#define TRY(what, expr)                                                           \
    do {                                                                          \
        int rc_ = (expr);                                                         \
        if (rc_ < 0) {                                                            \
            fprintf(stderr, "capdrv-blk: %s: %s\n", what, capdrv_strerror(rc_)); \
            return 1;                                                             \
        }                                                                         \
    } while (0)

static uint8_t pattern(uint64_t disk_off)
{
    return (uint8_t)(disk_off * 131u + (disk_off >> 9) * 7u + 0x5a);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct io {
    capdrv_sys *sys;
    struct capdrv_virtio_blk *blk;
    struct capdrv_virtio_blk_info info;
    struct machine *m;
    const struct opts *o;
    unsigned long ops;
};

/* Move [offset, offset+size) between the disk and @buf in requests of bs
 * bytes (one 4 KiB segment per page), up to qd in flight per queue. */
static int transfer(struct io *io, uint32_t type, const struct capdrv_dmabuf_info *buf)
{
    const struct opts *o = io->o;
    size_t nreq = (o->size + o->bs - 1) / o->bs;
    unsigned nq = io->info.num_queues;
    unsigned segs_per = (unsigned)((o->bs + PAGE - 1) / PAGE);
    struct capdrv_virtio_blk_req *reqs = calloc(o->qd, sizeof *reqs);
    struct capdrv_virtq_seg *segs = calloc((size_t)o->qd * segs_per, sizeof *segs);
    struct capdrv_virtio_blk_done *done = calloc(o->qd, sizeof *done);
    unsigned *inflight = calloc(nq, sizeof *inflight);
    size_t next = 0, completed = 0;
    unsigned long idle = 0;
    int rc = 0;
    if (!reqs || !segs || !done || !inflight) {
        fprintf(stderr, "capdrv-blk: out of memory\n");
        rc = -1;
    }
    for (unsigned q = 0; rc == 0 && completed < nreq; q = (q + 1) % nq) {
        /* Fill queue q up to qd with the next requests (round robin). */
        unsigned n = 0;
        while (next + n < nreq && inflight[q] + n < o->qd) {
            size_t i = next + n, off = i * o->bs;
            size_t len = o->size - off < o->bs ? o->size - off : o->bs;
            struct capdrv_virtq_seg *s = segs + (size_t)n * segs_per;
            unsigned k = 0;
            for (size_t p = 0; p < len; p += PAGE, k++)
                s[k] = (struct capdrv_virtq_seg){capdrv_dma_ref(buf, off + p),
                                                 (uint32_t)(len - p < PAGE ? len - p : PAGE)};
            reqs[n] = (struct capdrv_virtio_blk_req){
                .type = type, .sector = (o->offset + off) / CAPDRV_VIRTIO_BLK_SECTOR_SIZE,
                .segs = s, .n_segs = k, .cookie = (void *)(uintptr_t)(i + 1)};
            n++;
        }
        if (n) {
            int sub = capdrv_virtio_blk_submit(io->blk, q, reqs, n);
            if (sub < 0) {
                fprintf(stderr, "capdrv-blk: submit: %s\n", capdrv_strerror(sub));
                rc = -1;
                break;
            }
            next += (size_t)sub;
            inflight[q] += (unsigned)sub;
        }
        if (inflight[q] == 0)
            continue;
        int got = capdrv_virtio_blk_reap(io->blk, q, done, o->qd);
        if (got == 0 && o->irq) {
            int w = capdrv_virtio_blk_wait(io->blk, q, 1000000000);
            if (w < 0) {
                fprintf(stderr, "capdrv-blk: wait on queue %u: %s\n", q, capdrv_strerror(w));
                rc = -1;
                break;
            }
            got = capdrv_virtio_blk_reap(io->blk, q, done, o->qd);
        } else if (got == 0 && io->m->delay) {
            /* A polling provider spins; let simulated time pass meanwhile. */
            capdrv_sim_advance(io->m->sim, 1000);
        }
        if (got < 0) {
            fprintf(stderr, "capdrv-blk: reap queue %u: %s\n", q, capdrv_strerror(got));
            rc = -1;
            break;
        }
        for (int i = 0; i < got; i++) {
            if (done[i].status < 0) {
                fprintf(stderr, "capdrv-blk: request %zu: %s\n",
                        (size_t)(uintptr_t)done[i].cookie - 1, capdrv_strerror(done[i].status));
                rc = -1;
            }
        }
        /* A device that stops completing must not hang the example. */
        idle = got ? 0 : idle + 1;
        if (idle > 10000000ul) {
            fprintf(stderr, "capdrv-blk: no completion on any queue\n");
            rc = -1;
            break;
        }
        inflight[q] -= (unsigned)got;
        completed += (size_t)got;
        io->ops += (unsigned long)got;
    }
    free(reqs);
    free(segs);
    free(done);
    free(inflight);
    return rc;
}

static int timed(struct io *io, const char *name, uint32_t type, const struct capdrv_dmabuf_info *buf)
{
    unsigned long ops0 = io->ops;
    uint64_t sim0 = capdrv_sim_now(io->m->sim);
    double t0 = now_s();
    if (transfer(io, type, buf) < 0)
        return -1;
    double wall = now_s() - t0;
    double sim = (double)(capdrv_sim_now(io->m->sim) - sim0) / 1e9;
    double mib = (double)io->o->size / 1048576.0, ops = (double)(io->ops - ops0);
    printf("%-5s %zu bytes in %.0f requests: wall %.1f MiB/s, %.0f ops/s", name, io->o->size, ops,
           wall > 0 ? mib / wall : 0.0, wall > 0 ? ops / wall : 0.0);
    if (!io->m->sim)
        printf("\n"); /* a real device: wall time is the only time */
    else if (sim > 0)
        printf("; simulated %.1f MiB/s, %.0f ops/s\n", mib / sim, ops / sim);
    else
        printf("; simulated time 0 (the device completes inside the doorbell; try --delay)\n");
    return 0;
}

/* Submit one request on queue 0 and wait for it (bounded). */
static int one(struct io *io, struct capdrv_virtio_blk_req *r)
{
    int rc = capdrv_virtio_blk_submit(io->blk, 0, r, 1);
    if (rc == 0)
        rc = -CAPDRV_ENOSPC;
    struct capdrv_virtio_blk_done d;
    for (unsigned long spin = 0; rc >= 0; spin++) {
        rc = capdrv_virtio_blk_reap(io->blk, 0, &d, 1);
        if (rc > 0)
            return d.status;
        if (rc == 0 && spin > 10000000ul)
            rc = -CAPDRV_ETIMEDOUT;
        else if (rc == 0 && io->o->irq)
            rc = capdrv_virtio_blk_wait(io->blk, 0, 1000000000);
        else if (rc == 0)
            capdrv_sim_advance(io->m->sim, 1000);
    }
    return rc;
}

/* --file --verify: the file itself, read with plain pread(), holds the
 * pattern (independent of the sim's io_uring path). */
static int verify_file(const struct opts *o, const uint8_t *want)
{
    int fd = open(o->file, O_RDONLY | O_CLOEXEC);
    uint8_t *got = malloc(o->size);
    ssize_t n = fd >= 0 && got ? pread(fd, got, o->size, (off_t)o->offset) : -1;
    int rc = n == (ssize_t)o->size && memcmp(got, want, o->size) == 0 ? 0 : -1;
    if (rc < 0)
        fprintf(stderr, "capdrv-blk: %s does not hold the pattern\n", o->file);
    free(got);
    if (fd >= 0)
        close(fd);
    return rc;
}

static int provider(capdrv_sys *sys, struct machine *m, const struct opts *o)
{
    capdrv_cap_t grant, pool, wbuf, rbuf, idbuf;
    struct capdrv_dmabuf_info wi, ri, ii;
    int idx = capdrv_grant_find(sys, "blk0");
    TRY("find grant", idx);
    TRY("open grant", capdrv_grant_open(sys, (unsigned)idx, &grant));
    TRY("open pool", capdrv_pool_open(sys, grant, &pool));
    struct capdrv_virtio_blk_opts bo = {.pool = pool, .num_queues = o->queues, .irq = o->irq};
    struct io io = {.sys = sys, .m = m, .o = o};
    char why[256];
    int rc = capdrv_virtio_blk_open(sys, grant, &bo, &io.blk, why, sizeof why);
    if (rc < 0) {
        fprintf(stderr, "capdrv-blk: open virtio-blk: %s (%s)\n", why, capdrv_strerror(rc));
        return 1;
    }
    TRY("info", capdrv_virtio_blk_info(io.blk, &io.info));
    printf("lane: %s; %s; %u queue(s) of %u, %s; capacity %llu sectors; features %#llx\n",
           io.info.lane == CAPDRV_LANE_DIRECT ? "direct" : "brokered",
           o->mmio ? "virtio-mmio" : "virtio-pci", io.info.num_queues,
           io.info.queue_size, o->irq ? "interrupts" : "polling",
           (unsigned long long)io.info.capacity, (unsigned long long)io.info.features);
    if (o->bs / PAGE > io.info.seg_max) {
        fprintf(stderr, "capdrv-blk: --bs needs %zu segments, the device takes %u\n", o->bs / PAGE,
                io.info.seg_max);
        return 1;
    }
    TRY("allocate write buffer", capdrv_dma_alloc(sys, pool, o->size, &wbuf, &wi));
    TRY("allocate read buffer", capdrv_dma_alloc(sys, pool, o->size, &rbuf, &ri));
    TRY("allocate id buffer", capdrv_dma_alloc(sys, pool, PAGE, &idbuf, &ii));

    struct capdrv_virtq_seg s = {capdrv_dma_ref(&ii, 0), CAPDRV_VIRTIO_BLK_ID_BYTES};
    struct capdrv_virtio_blk_req r = {.type = CAPDRV_VIRTIO_BLK_T_GET_ID, .segs = &s, .n_segs = 1};
    TRY("GET_ID", one(&io, &r));
    printf("device id: \"%.20s\"\n", (const char *)ii.cpu);

    uint8_t *w = wi.cpu;
    for (size_t i = 0; i < o->size; i++)
        w[i] = pattern(o->offset + i);
    int fail = timed(&io, "write", CAPDRV_VIRTIO_BLK_T_OUT, &wi) < 0;
    if (!fail && (io.info.features >> CAPDRV_VIRTIO_BLK_F_FLUSH) & 1u) {
        r = (struct capdrv_virtio_blk_req){.type = CAPDRV_VIRTIO_BLK_T_FLUSH};
        TRY("FLUSH", one(&io, &r));
    }
    fail = fail || timed(&io, "read", CAPDRV_VIRTIO_BLK_T_IN, &ri) < 0;
    if (!fail) {
        const uint8_t *rd = ri.cpu;
        for (size_t i = 0; i < o->size; i++)
            if (rd[i] != w[i]) {
                fprintf(stderr, "capdrv-blk: read-back byte %zu (disk %zu) is %#x, wrote %#x\n", i,
                        o->offset + i, rd[i], w[i]);
                fail = 1;
                break;
            }
    }
    if (!fail && o->verify && m->sim) {
        /* Platform-side check: the backing store holds the pattern. */
        uint8_t *store = malloc(o->size);
        if (!store || capdrv_sim_virtio_blk_data(m->sim, m->fn, o->offset, store, o->size, false) < 0 ||
            memcmp(store, w, o->size) != 0) {
            fprintf(stderr, "capdrv-blk: backing store differs from the pattern\n");
            fail = 1;
        }
        free(store);
    }
    if (!fail && o->verify && o->file && verify_file(o, w) < 0)
        fail = 1;
    if (!fail)
        printf("verified %zu bytes at offset %zu%s\n", o->size, o->offset,
               o->verify && m->sim ? " (read back and backing store)" : " (read back)");
    capdrv_virtio_blk_close(io.blk);
    TRY("release", capdrv_cap_release(sys, grant));
    return fail;
}

static void *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    char *buf = NULL;
    long n = (fseek(fp, 0, SEEK_END) == 0) ? ftell(fp) : -1;
    if (n > 0 && fseek(fp, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n)) &&
        fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(fp);
    *len = n > 0 ? (size_t)n : 0;
    return buf;
}

static int usage(void)
{
    fprintf(stderr, "usage: capdrv-blk [--lane brokered|direct] [--size BYTES] [--offset BYTES]\n"
                    "                  [--bs BYTES] [--qd N] [--queues N] [--poll|--irq] [--delay]\n"
                    "                  [--verify] [--file PATH] [--manifest FILE.dtb] [--mmio]\n"
                    "                  [--platform sim|vfio:SLOT]\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct opts o = {.manifest = CAPDRV_EXAMPLE_MANIFEST, .size = 4u << 20, .bs = 65536,
                     .qd = 16, .queues = 1, .irq = 1};
    static const struct option lo[] = {
        {"lane", required_argument, NULL, 'l'},   {"size", required_argument, NULL, 's'},
        {"offset", required_argument, NULL, 'o'}, {"bs", required_argument, NULL, 'b'},
        {"qd", required_argument, NULL, 'q'},     {"queues", required_argument, NULL, 'Q'},
        {"poll", no_argument, NULL, 'p'},         {"irq", no_argument, NULL, 'i'},
        {"delay", no_argument, NULL, 'd'},        {"verify", no_argument, NULL, 'v'},
        {"manifest", required_argument, NULL, 'm'}, {"file", required_argument, NULL, 'f'},
        {"platform", required_argument, NULL, 'P'}, {"mmio", no_argument, NULL, 'M'},
        {NULL, 0, NULL, 0}};
    const char *manifest = NULL;
    for (int ch; (ch = getopt_long(argc, argv, "l:s:o:b:q:Q:pidvm:f:", lo, NULL)) != -1;) {
        switch (ch) {
        case 'l': o.lane = optarg; break;
        case 's': o.size = strtoull(optarg, NULL, 0); break;
        case 'o': o.offset = strtoull(optarg, NULL, 0); break;
        case 'b': o.bs = strtoull(optarg, NULL, 0); break;
        case 'q': o.qd = (unsigned)strtoul(optarg, NULL, 0); break;
        case 'Q': o.queues = (unsigned)strtoul(optarg, NULL, 0); break;
        case 'p': o.irq = 0; break;
        case 'i': o.irq = 1; break;
        case 'd': o.delay = 1; break;
        case 'v': o.verify = 1; break;
        case 'm': manifest = optarg; break;
        case 'f': o.file = optarg; break;
        case 'P': o.platform = optarg; break;
        case 'M': o.mmio = 1; break;
        default: return usage();
        }
    }
    if (manifest)
        o.manifest = manifest;
    else if (o.mmio)
        o.manifest = CAPDRV_EXAMPLE_MANIFEST_MMIO;
    if (o.lane && strcmp(o.lane, "brokered") != 0 && strcmp(o.lane, "direct") != 0)
        return usage();
    if (o.size == 0 || o.size % CAPDRV_VIRTIO_BLK_SECTOR_SIZE || o.size > (256u << 20) ||
        o.offset % CAPDRV_VIRTIO_BLK_SECTOR_SIZE || o.offset > (1ull << 40)) {
        fprintf(stderr, "capdrv-blk: --size (<= 256 MiB) and --offset must be multiples of 512\n");
        return 2;
    }
    if (o.bs == 0 || o.bs % CAPDRV_VIRTIO_BLK_SECTOR_SIZE || o.bs > (1u << 20) || o.qd == 0 ||
        o.qd > 256 || o.queues == 0 || o.queues > CAPDRV_SIM_VIRTIO_MAX_QUEUES) {
        fprintf(stderr, "capdrv-blk: --bs 512..1 MiB in sectors, --qd 1..256, --queues 1..%u\n",
                CAPDRV_SIM_VIRTIO_MAX_QUEUES);
        return 2;
    }
    /* Platform side: a sim machine, with an IOMMU unless brokered is asked
     * for (brokered is also what a no-IOMMU machine probes to), and a disk
     * just large enough for the range (at least 1 MiB). */
    struct capdrv_vfio *vfio = NULL;
    struct capdrv_hw hw = {0};
    int plat = example_platform_open("capdrv-blk", o.platform, &vfio, &hw);
    if (plat < 0)
        return 1;
    if (plat > 0 && (o.lane || o.file || o.delay || o.mmio)) {
        fprintf(stderr, "capdrv-blk: --lane, --file, --delay and --mmio are for the sim platform\n");
        capdrv_vfio_destroy(vfio);
        return 2;
    }
    struct capdrv_sim_config cfg = {.iommu = !o.lane || strcmp(o.lane, "brokered") != 0};
    struct machine m = {.delay = o.delay};
    struct capdrv_pci_addr addr = {0, 0, 4, 0};
    uint64_t end = o.offset + o.size;
    struct capdrv_sim_virtio_blk_config bc = {
        .capacity_sectors = (end < (1u << 20) ? (1u << 20) : end) / CAPDRV_VIRTIO_BLK_SECTOR_SIZE,
        .num_queues = o.queues, .backing_file = o.file};
    if (plat == 0 && o.file) {
        /* The sim takes an existing file; make one if needed. */
        int fd = open(o.file, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) {
            perror(o.file);
            return 1;
        }
        close(fd);
    }
    if (plat == 0) {
        TRY("sim", capdrv_sim_create(&cfg, &m.sim));
        /* --mmio: the base blk-demo-mmio.dts matches. */
        int rc_dev = o.mmio ? capdrv_sim_add_virtio_mmio_blk(m.sim, 0x0a000000, &bc, &m.fn)
                            : capdrv_sim_add_virtio_blk(m.sim, &addr, &bc, &m.fn);
        if (rc_dev == -CAPDRV_ENOTSUP && o.file) {
            printf("capdrv-blk: SKIP: io_uring is unavailable here, no file-backed disk\n");
            capdrv_sim_destroy(m.sim);
            return 77;
        }
        TRY("sim device", rc_dev);
        if (o.delay)
            TRY("sim delay", capdrv_sim_virtio_set_fault(m.sim, m.fn, CAPDRV_SIM_VIRTIO_FAULT_DELAY));
        hw = capdrv_sim_hw(m.sim);
    }
    size_t len;
    void *blob = slurp(o.manifest, &len);
    if (!blob) {
        fprintf(stderr, "capdrv-blk: cannot read manifest %s\n", o.manifest);
        return 1;
    }
    struct capdrv_env *env = capdrv_env_hosted_new(NULL);
    struct capdrv_shim_config sc = {.env = env, .hw = hw, .manifest = blob, .manifest_len = len};
    struct capdrv_shim *shim;
    char why[256];
    int rc = capdrv_shim_create(&sc, &shim, why, sizeof why);
    free(blob);
    if (rc < 0) {
        fprintf(stderr, "capdrv-blk: manifest refused: %s (%s)\n", why, capdrv_strerror(rc));
        return 1;
    }
    capdrv_sys *sys;
    TRY("connect", capdrv_shim_connect(shim, "blk-demo", &sys));
    rc = provider(sys, &m, &o);
    capdrv_sys_close(sys);
    unsigned long violations = capdrv_sim_oracle_violations(m.sim);
    capdrv_shim_destroy(shim);
    capdrv_sim_destroy(m.sim);
    capdrv_vfio_destroy(vfio);
    capdrv_env_hosted_free(env);
    if (violations) {
        fprintf(stderr, "capdrv-blk: DMA oracle saw %lu accesses outside the ledger\n", violations);
        return 1;
    }
    return rc;
}
