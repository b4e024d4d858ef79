/* capdrv-bench-kernel-nvme: the kernel baseline of capdrv-bench-nvme. The
 * same workload - random 4 KiB I/O over the first 64 MiB (DISK_PAGES
 * pages), a read/write mix, one queue depth, a duration or an I/O count,
 * one thread, polling for completions - driven through the kernel's own
 * NVMe driver: O_DIRECT on a block device (e.g. /dev/nvme0n1) with
 * io_uring, one submit per batch, completions reaped from the CQ ring
 * without sleeping. Reports IOPS, MiB/s and latency percentiles in the
 * same columns as capdrv-bench-nvme, so the two can be set side by side
 * (docs/PERFORMANCE.md).
 *
 *   capdrv-bench-kernel-nvme [-w randread|randwrite|randrw] [-M READ_PCT]
 *                            [-q QD] [-t SECONDS | -N IOS] [--fill] DEVICE
 *
 * --fill first writes every page with its stamp (the contents
 * capdrv-bench-nvme's disks hold: nvme_perf.h), and then every read is
 * checked as there (the page number in its first and last 8 bytes). Without
 * --fill reads are not checked. DEVICE is written to by --fill and by any
 * write mix: never point it at a disk that holds data.
 * Exit status: 0, 1 an I/O error or wrong data, 2 usage. */
#define _GNU_SOURCE
#include "nvme_perf.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <liburing.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define SUB_BITS 6u
#define SUBS (1u << SUB_BITS)
#define BUCKETS (SUBS + (64u - SUB_BITS) * SUBS)

/* The same log-linear histogram as capdrv-bench-nvme. */
static uint64_t hist[BUCKETS], hist_n;

static unsigned bucket_of(uint64_t v)
{
    if (v < SUBS)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v);
    return SUBS + (e - SUB_BITS) * SUBS + (unsigned)((v >> (e - SUB_BITS)) & (SUBS - 1));
}

static double bucket_mid(unsigned b)
{
    if (b < SUBS)
        return b;
    unsigned e = (b - SUBS) / SUBS + SUB_BITS, sub = (b - SUBS) % SUBS;
    double lo = (double)(1ull << e) + (double)sub * (double)(1ull << (e - SUB_BITS));
    return lo + (double)(1ull << (e - SUB_BITS)) / 2.0;
}

static double percentile(double p)
{
    uint64_t want = (uint64_t)((double)hist_n * p / 100.0), seen = 0;
    for (unsigned b = 0; b < BUCKETS; b++) {
        seen += hist[b];
        if (seen > want)
            return bucket_mid(b);
    }
    return 0;
}

/* Same definitions as nvme_perf_targets.c (the disk contents must match). */
uint64_t perf_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
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

static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct io {
    uint64_t page, t_submit;
    bool read;
};

static int usage(void)
{
    fprintf(stderr, "usage: capdrv-bench-kernel-nvme [-w randread|randwrite|randrw] [-M READ_PCT]\n"
                    "                                [-q QD] [-t SECONDS | -N IOS] [--fill] DEVICE\n");
    return 2;
}

static int fill(int fd)
{
    uint8_t *page = aligned_alloc(IO_BYTES, IO_BYTES);
    if (!page)
        return -1;
    perf_template(page);
    for (uint64_t p = 0; p < DISK_PAGES; p++) {
        perf_stamp(page, p);
        if (pwrite(fd, page, IO_BYTES, (off_t)(p * IO_BYTES)) != IO_BYTES) {
            perror("capdrv-bench-kernel-nvme: fill");
            free(page);
            return -1;
        }
    }
    free(page);
    return fdatasync(fd);
}

int main(int argc, char **argv)
{
    const char *workload = "randread";
    unsigned mix = 101, qd = 32;
    double seconds = 5;
    uint64_t ios = 0;
    bool do_fill = false;
    static const struct option lo[] = {
        {"workload", required_argument, NULL, 'w'}, {"mix", required_argument, NULL, 'M'},
        {"qd", required_argument, NULL, 'q'},       {"time", required_argument, NULL, 't'},
        {"ios", required_argument, NULL, 'N'},      {"fill", no_argument, NULL, 'F'},
        {NULL, 0, NULL, 0}};
    for (int ch; (ch = getopt_long(argc, argv, "w:M:q:t:N:", lo, NULL)) != -1;) {
        char *end = NULL;
        switch (ch) {
        case 'w': workload = optarg; break;
        case 'M': mix = (unsigned)strtoul(optarg, &end, 0); break;
        case 'q': qd = (unsigned)strtoul(optarg, &end, 0); break;
        case 't': seconds = strtod(optarg, &end); break;
        case 'N': ios = strtoull(optarg, &end, 0); break;
        case 'F': do_fill = true; break;
        default: return usage();
        }
        if (end && *end)
            return usage();
    }
    if (optind != argc - 1)
        return usage();
    const char *dev = argv[optind];
    if (!strcmp(workload, "randread"))
        mix = 100;
    else if (!strcmp(workload, "randwrite"))
        mix = 0;
    else if (!strcmp(workload, "randrw"))
        mix = mix > 100 ? 50 : mix;
    else
        return usage();
    if (qd == 0 || qd > 128 || (!ios && !(seconds > 0 && seconds < 3600)))
        return usage();
    int fd = open(dev, O_RDWR | O_DIRECT | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "capdrv-bench-kernel-nvme: %s: %s\n", dev, strerror(errno));
        return 1;
    }
    if (do_fill && fill(fd) < 0)
        return 1;
    struct io_uring ring;
    int rc = io_uring_queue_init(qd * 2, &ring, 0);
    if (rc < 0) {
        fprintf(stderr, "capdrv-bench-kernel-nvme: io_uring: %s\n", strerror(-rc));
        return 1;
    }
    uint8_t *bufs = mmap(NULL, (size_t)qd * IO_BYTES, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    struct io *slot = calloc(qd, sizeof *slot);
    unsigned *free_idx = calloc(qd, sizeof *free_idx), nfree = qd;
    if (bufs == MAP_FAILED || !slot || !free_idx)
        return 1;
    for (unsigned i = 0; i < qd; i++)
        free_idx[i] = i;
    uint8_t tmpl[IO_BYTES];
    perf_template(tmpl);
    printf("capdrv-bench-kernel-nvme: %s (%u%% reads) 4 KiB, qd %u, %s, O_DIRECT + io_uring, "
           "polled completion ring%s\n",
           workload, mix, qd, dev, do_fill ? ", reads checked" : "");
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    uint64_t completed = 0, inflight = 0, errors = 0, bad = 0;
    uint64_t warm = ios ? ios / 10 + 1 : 0;
    uint64_t t0 = perf_now_ns(), c0 = cpu_ns();
    uint64_t warm_deadline = t0 + (uint64_t)(seconds / 10 * 1e9);
    bool warming = true, stop = false;
    uint64_t deadline = 0, measured0 = 0;
    for (;;) {
        uint64_t now = perf_now_ns();
        if (warming && (ios ? completed >= warm : now >= warm_deadline)) {
            /* The measured phase starts here, as in capdrv-bench-nvme. */
            warming = false;
            memset(hist, 0, sizeof hist);
            hist_n = 0;
            measured0 = completed;
            t0 = now;
            c0 = cpu_ns();
            deadline = now + (uint64_t)(seconds * 1e9);
        }
        if (!warming && !stop &&
            (ios ? completed - measured0 + inflight >= ios : now >= deadline))
            stop = true;
        unsigned queued = 0;
        while (!stop && nfree) {
            unsigned idx = free_idx[--nfree];
            struct io *s = &slot[idx];
            rng ^= rng >> 12, rng ^= rng << 25, rng ^= rng >> 27;
            uint64_t r1 = rng * 2685821657736338717ull;
            rng ^= rng >> 12, rng ^= rng << 25, rng ^= rng >> 27;
            uint64_t r2 = rng * 2685821657736338717ull;
            s->read = r1 % 100u < mix;
            s->page = r2 % DISK_PAGES;
            s->t_submit = now;
            uint8_t *b = bufs + (size_t)idx * IO_BYTES;
            struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
            if (s->read) {
                memset(b, 0xee, 8);
                io_uring_prep_read(sqe, fd, b, IO_BYTES, s->page * IO_BYTES);
            } else {
                memcpy(b, tmpl, IO_BYTES);
                perf_stamp(b, s->page);
                io_uring_prep_write(sqe, fd, b, IO_BYTES, s->page * IO_BYTES);
            }
            io_uring_sqe_set_data64(sqe, idx);
            queued++;
        }
        if (queued) {
            rc = io_uring_submit(&ring);
            if (rc < 0) {
                fprintf(stderr, "capdrv-bench-kernel-nvme: submit: %s\n", strerror(-rc));
                return 1;
            }
            inflight += queued;
        }
        if (!inflight && stop)
            break;
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        uint64_t t = perf_now_ns();
        io_uring_for_each_cqe(&ring, head, cqe)
        {
            unsigned idx = (unsigned)io_uring_cqe_get_data64(cqe);
            struct io *s = &slot[idx];
            uint8_t *b = bufs + (size_t)idx * IO_BYTES;
            if (cqe->res != (int)IO_BYTES) {
                if (errors++ == 0)
                    fprintf(stderr, "capdrv-bench-kernel-nvme: %s of page %" PRIu64 ": %s\n",
                            s->read ? "read" : "write", s->page,
                            cqe->res < 0 ? strerror(-cqe->res) : "short");
            } else if (s->read && do_fill) {
                uint64_t h, tl;
                memcpy(&h, b, sizeof h);
                memcpy(&tl, b + IO_BYTES - sizeof tl, sizeof tl);
                if ((h != s->page || tl != ~s->page) && bad++ == 0)
                    fprintf(stderr, "capdrv-bench-kernel-nvme: read of page %" PRIu64
                                    " returned wrong data\n", s->page);
            }
            hist[bucket_of(t - s->t_submit)]++;
            hist_n++;
            completed++;
            free_idx[nfree++] = idx;
            seen++;
        }
        io_uring_cq_advance(&ring, seen);
        inflight -= seen;
    }
    double wall = (double)(perf_now_ns() - t0) / 1e9;
    double cpu = (double)(cpu_ns() - c0);
    uint64_t n = completed - measured0;
    printf("%-10s %-8s %10s %8s %8s %8s %8s %9s\n", "target", "lane", "IOPS", "MiB/s", "p50 ns",
           "p99 ns", "p99.9 ns", "cpu ns/IO");
    printf("%-10s %-8s %10.0f %8.1f %8.0f %8.0f %8.0f %9.1f\n", "kernel", "-", (double)n / wall,
           (double)n * IO_BYTES / 1048576.0 / wall, percentile(50), percentile(99),
           percentile(99.9), n ? cpu / (double)n : 0.0);
    io_uring_queue_exit(&ring);
    close(fd);
    if (errors || bad) {
        fprintf(stderr, "capdrv-bench-kernel-nvme: %" PRIu64 " errors, %" PRIu64 " wrong reads\n",
                errors, bad);
        return 1;
    }
    return 0;
}
