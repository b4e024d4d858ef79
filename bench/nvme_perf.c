/* capdrv-bench-nvme: random 4 KiB I/O through the library's NVMe driver on
 * the sim platform, in the spirit of SPDK's `perf` and fio: a queue depth
 * per queue pair, a read/write mix, a duration or an I/O count, IOPS, MiB/s
 * and latency percentiles, per DMA lane.
 *
 * One thread drives every queue pair round robin: it keeps each queue's
 * depth full (queue commands, one doorbell), then reaps. Latency is host
 * wall-clock (CLOCK_MONOTONIC) from the moment the bench hands a command
 * to the driver to the moment the reap that returned it ends; the library
 * itself has no clock. The sim executes a command inside the SQ doorbell
 * write, so latency here is queueing in the host loop (about queue depth x
 * the CPU cost of one I/O), not device time: compare CPU per I/O.
 *
 * CPU per I/O is the process CPU time (CLOCK_PROCESS_CPUTIME_ID) of the
 * measured phase over the I/Os completed. The sim's share is separated by
 * timing every platform BAR write in thread CPU time (the doorbells,
 * inside which the device model runs; the shim's work at the doorbell
 * happens before it and is not included); the two clock reads this costs
 * per doorbell are measured and shown. The rest is the library, the shim
 * and the bench loop. CPU time, unlike wall time, does not count the time
 * the process was preempted, so these figures hold on a busy machine too;
 * IOPS and latency do not.
 *
 * The peer, in the same run and on the same sim machine, is a virtio-blk
 * function driven through the library's virtio-blk driver (capdrv/virtio_blk.h)
 * with the same workload: the same I/Os, queue depth, queues and polling.
 *
 * Every read is checked (the page's stamp in its first and last 8 bytes;
 * the whole page for one read in 256); every write stores the page's own
 * contents; any error status, wrong data or device access the DMA oracle
 * refused exits 1.
 *
 *   capdrv-bench-nvme [-w randread|randwrite|randrw] [-M READ_PCT] [-q QD]
 *                     [-n QUEUE_PAIRS] [-t SECONDS | -N IOS]
 *                     [--lane brokered|direct|both] [--sgl] [--no-peer] [--no-split]
 *                     [--quick]
 * --no-split leaves the BAR writes untimed (no sim/lib columns): the CPU
 * per I/O and the IOPS without the timer's cost. */
#define _GNU_SOURCE
#include "nvme_perf.h"

#include <capdrv/error.h>

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FULL_CHECK_EVERY 256u
#define IDLE_LIMIT 1000000ul /* reaps in a row with nothing to show: the device is stuck */

struct opts {
    const char *workload, *lane;
    unsigned mix, qd, nq;
    double seconds;
    uint64_t ios;
    bool sgl, peer, split;
    const char *platform;
};

/* ---- latency histogram: log-linear, 64 sub-buckets per power of two ------ */

#define SUB_BITS 6u
#define SUBS (1u << SUB_BITS)
#define BUCKETS (SUBS + (64u - SUB_BITS) * SUBS)

struct hist {
    uint64_t n, count[BUCKETS];
};

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

static double percentile(const struct hist *h, double p)
{
    uint64_t want = (uint64_t)((double)h->n * p / 100.0), seen = 0;
    for (unsigned b = 0; b < BUCKETS; b++) {
        seen += h->count[b];
        if (seen > want)
            return bucket_mid(b);
    }
    return 0;
}

/* ---- one run: one target, one lane ---------------------------------------- */

struct run {
    const struct target_ops *ops;
    void *t;
    const struct opts *o;
    struct slot *slots;
    unsigned *free_idx[MAX_QUEUES], nfree[MAX_QUEUES];
    struct slot **reaped; /* completions of the current reap */
    unsigned nreaped;
    int *status;
    uint64_t completed, reads, errors, bad_data;
    uint64_t rng;
    uint8_t tmpl[IO_BYTES];
    struct hist *h;
};

struct result {
    double wall_s, cpu_ns, sim_ns, timer_ns, iops, mib_s, p50, p99, p999;
    uint64_t ios;
};

/* xorshift64*: deterministic, cheap. */
static uint64_t rnd(struct run *r)
{
    r->rng ^= r->rng >> 12;
    r->rng ^= r->rng << 25;
    r->rng ^= r->rng >> 27;
    return r->rng * 2685821657736338717ull;
}

void perf_complete(struct slot *s, int status)
{
    struct run *r = s->run;
    r->status[s - r->slots] = status;
    r->reaped[r->nreaped++] = s;
}

/* After a reap: latencies, data checks, slots back to their free lists. */
static void settle(struct run *r)
{
    uint64_t now = perf_now_ns();
    for (unsigned i = 0; i < r->nreaped; i++) {
        struct slot *s = r->reaped[i];
        int st = r->status[s - r->slots];
        uint64_t lat = now - s->t_submit;
        r->h->count[bucket_of(lat)]++;
        r->h->n++;
        r->completed++;
        if (st != 0) {
            if (r->errors++ == 0)
                fprintf(stderr, "capdrv-bench-nvme: %s: %s of page %" PRIu64 ": %s\n",
                        r->ops->name, s->read ? "read" : "write", s->page, capdrv_strerror(st));
        } else if (s->read) {
            uint64_t head, tail;
            memcpy(&head, s->buf, sizeof head);
            memcpy(&tail, s->buf + IO_BYTES - sizeof tail, sizeof tail);
            bool bad = head != s->page || tail != ~s->page;
            if (!bad && r->reads++ % FULL_CHECK_EVERY == 0)
                bad = memcmp(s->buf + 8, r->tmpl + 8, IO_BYTES - 16) != 0;
            if (bad && r->bad_data++ == 0)
                fprintf(stderr, "capdrv-bench-nvme: %s: read of page %" PRIu64 " returned wrong data\n",
                        r->ops->name, s->page);
        }
        r->free_idx[s->q][r->nfree[s->q]++] = s->idx;
    }
    r->nreaped = 0;
}

static int run_loop(struct run *r, uint64_t ios, uint64_t deadline_ns)
{
    const struct opts *o = r->o;
    uint64_t submitted = 0, inflight = 0;
    unsigned long idle = 0;
    bool stop = false;
    for (unsigned long it = 0; !stop || inflight; it++) {
        if (!stop && ((ios && submitted >= ios) ||
                      (!ios && (it & 15u) == 0 && perf_now_ns() >= deadline_ns)))
            stop = true;
        unsigned got_any = 0;
        for (unsigned q = 0; q < o->nq; q++) {
            unsigned queued = 0;
            uint64_t t = perf_now_ns();
            while (!stop && r->nfree[q] && (!ios || submitted < ios)) {
                unsigned idx = r->free_idx[q][--r->nfree[q]];
                struct slot *s = &r->slots[q * o->qd + idx];
                s->read = rnd(r) % 100u < o->mix;
                s->page = rnd(r) % DISK_PAGES;
                if (s->read)
                    memset(s->buf, 0xee, 8); /* a read that moves nothing fails the stamp */
                else
                    perf_stamp(s->buf, s->page);
                s->t_submit = t;
                int rc = r->ops->queue(r->t, s);
                if (rc == -CAPDRV_EBUSY) {
                    r->nfree[q]++;
                    break;
                }
                if (rc < 0) {
                    fprintf(stderr, "capdrv-bench-nvme: %s: queue: %s\n", r->ops->name,
                            capdrv_strerror(rc));
                    return -1;
                }
                queued++;
            }
            if (queued) {
                int rc = r->ops->ring(r->t, q);
                if (rc < 0) {
                    fprintf(stderr, "capdrv-bench-nvme: %s: doorbell: %s\n", r->ops->name,
                            capdrv_strerror(rc));
                    return -1;
                }
                submitted += queued;
                inflight += queued;
            }
            int got = r->ops->poll(r->t, q);
            if (got < 0) {
                fprintf(stderr, "capdrv-bench-nvme: %s: reap: %s\n", r->ops->name,
                        capdrv_strerror(got));
                return -1;
            }
            inflight -= r->nreaped;
            got_any += r->nreaped;
            settle(r);
        }
        idle = got_any ? 0 : idle + 1;
        if (idle > IDLE_LIMIT) {
            fprintf(stderr, "capdrv-bench-nvme: %s: no completions\n", r->ops->name);
            return -1;
        }
    }
    return 0;
}

static double cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* The CPU cost of one perf_cpu_ns(), to take the timer's own cost off. */
static double clock_cost_ns(void)
{
    uint64_t t0 = perf_cpu_ns(), x = 0;
    for (unsigned i = 0; i < 200000u; i++)
        x += perf_cpu_ns();
    uint64_t t1 = perf_cpu_ns();
    return x ? (double)(t1 - t0) / 2e5 : 0.0;
}

static int measure(struct machine *m, int which, const struct opts *o, double clk,
                   struct result *res)
{
    struct run r = {.o = o, .rng = 0x9e3779b97f4a7c15ull};
    r.ops = perf_target(m, which, &r.t);
    if (!r.ops)
        return -1;
    size_t n = (size_t)o->nq * o->qd;
    r.slots = calloc(n, sizeof *r.slots);
    r.reaped = calloc(n, sizeof *r.reaped);
    r.status = calloc(n, sizeof *r.status);
    r.h = calloc(1, sizeof *r.h);
    int rc = r.slots && r.reaped && r.status && r.h ? 0 : -1;
    for (unsigned q = 0; rc == 0 && q < o->nq; q++) {
        r.free_idx[q] = calloc(o->qd, sizeof *r.free_idx[q]);
        if (!r.free_idx[q]) {
            rc = -1;
            break;
        }
        for (unsigned i = 0; i < o->qd; i++) {
            struct slot *s = &r.slots[q * o->qd + i];
            *s = (struct slot){.run = &r, .q = q, .idx = i, .buf = r.ops->buf(r.t, q, i)};
            perf_template(s->buf);
            r.free_idx[q][r.nfree[q]++] = o->qd - 1 - i;
        }
    }
    perf_template(r.tmpl);
    /* Warm-up: a tenth of the I/Os (or of a second), not counted. */
    if (rc == 0)
        rc = run_loop(&r, o->ios ? o->ios / 10 + 1 : 0,
                      perf_now_ns() + (uint64_t)(o->seconds * 1e8));
    struct timed_hw *tm = perf_machine_timer(m);
    if (rc == 0) {
        memset(r.h, 0, sizeof *r.h);
        r.completed = 0;
        uint64_t bw0 = tm->bar_write_ns, bn0 = tm->bar_writes;
        double c0 = cpu_ns();
        uint64_t w0 = perf_now_ns();
        rc = run_loop(&r, o->ios, w0 + (uint64_t)(o->seconds * 1e9));
        double wall = (double)(perf_now_ns() - w0), cpu = cpu_ns() - c0;
        double writes = (double)(tm->bar_writes - bn0);
        double ios = (double)r.completed;
        *res = (struct result){
            .ios = r.completed, .wall_s = wall / 1e9, .cpu_ns = cpu / ios,
            .sim_ns = ((double)(tm->bar_write_ns - bw0) - writes * clk) / ios,
            .timer_ns = writes * 2.0 * clk / ios, .iops = ios / (wall / 1e9),
            .mib_s = ios * IO_BYTES / 1048576.0 / (wall / 1e9), .p50 = percentile(r.h, 50),
            .p99 = percentile(r.h, 99), .p999 = percentile(r.h, 99.9)};
    }
    if (r.errors || r.bad_data) {
        fprintf(stderr, "capdrv-bench-nvme: %s: %" PRIu64 " errors, %" PRIu64 " wrong reads\n",
                r.ops->name, r.errors, r.bad_data);
        rc = -1;
    }
    for (unsigned q = 0; q < o->nq; q++)
        free(r.free_idx[q]);
    free(r.slots);
    free(r.reaped);
    free(r.status);
    free(r.h);
    return rc;
}

static void print_row(const char *target, const char *lane, const struct result *r, bool split)
{
    printf("%-10s %-8s %10.0f %8.1f %8.0f %8.0f %8.0f %9.1f", target, lane, r->iops, r->mib_s,
           r->p50, r->p99, r->p999, r->cpu_ns);
    if (split)
        printf(" %9.1f %9.1f %6.1f\n", r->sim_ns, r->cpu_ns - r->sim_ns - r->timer_ns, r->timer_ns);
    else
        printf(" %9s %9s %6s\n", "-", "-", "-");
}

static double lib_ns(const struct result *r)
{
    return r->cpu_ns - r->sim_ns - r->timer_ns;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: capdrv-bench-nvme [-w randread|randwrite|randrw] [-M READ_PCT] [-q QD]\n"
            "                         [-n QUEUE_PAIRS] [-t SECONDS | -N IOS]\n"
            "                         [--lane brokered|direct|both] [--sgl] [--no-peer] [--no-split]\n"
            "                         [--quick] [--platform sim|vfio:SLOT]\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct opts o = {.workload = "randread", .lane = "both", .mix = 101, .qd = 32, .nq = 1,
                     .seconds = 5, .peer = true, .split = true};
    static const struct option lo[] = {
        {"workload", required_argument, NULL, 'w'}, {"mix", required_argument, NULL, 'M'},
        {"qd", required_argument, NULL, 'q'},       {"queues", required_argument, NULL, 'n'},
        {"time", required_argument, NULL, 't'},     {"ios", required_argument, NULL, 'N'},
        {"lane", required_argument, NULL, 'l'},     {"sgl", no_argument, NULL, 'S'},
        {"no-peer", no_argument, NULL, 'P'},        {"quick", no_argument, NULL, 'Q'},
        {"no-split", no_argument, NULL, 'X'},       {"platform", required_argument, NULL, 'p'},
        {NULL, 0, NULL, 0}};
    for (int ch; (ch = getopt_long(argc, argv, "w:M:q:n:t:N:", lo, NULL)) != -1;) {
        char *end = NULL;
        switch (ch) {
        case 'w': o.workload = optarg; break;
        case 'M': o.mix = (unsigned)strtoul(optarg, &end, 0); break;
        case 'q': o.qd = (unsigned)strtoul(optarg, &end, 0); break;
        case 'n': o.nq = (unsigned)strtoul(optarg, &end, 0); break;
        case 't': o.seconds = strtod(optarg, &end); break;
        case 'N': o.ios = strtoull(optarg, &end, 0); break;
        case 'l': o.lane = optarg; break;
        case 'S': o.sgl = true; break;
        case 'P': o.peer = false; break;
        case 'X': o.split = false; break;
        case 'p': o.platform = optarg; break;
        case 'Q':
            o.ios = 20000;
            o.qd = 16;
            o.workload = "randrw";
            o.mix = 70;
            break;
        default: return usage();
        }
        if (end && *end)
            return usage();
    }
    if (optind != argc)
        return usage();
    const char *vfio = NULL;
    if (o.platform && strcmp(o.platform, "sim") != 0) {
        if (strncmp(o.platform, "vfio:", 5) != 0 || !o.platform[5])
            return usage();
        /* A real controller: no sim peer, and the time inside BAR writes is
         * the device's (or a hypervisor trap), not a model's share. */
        vfio = o.platform + 5;
        o.peer = false;
        o.split = false;
    }
    if (!strcmp(o.workload, "randread"))
        o.mix = 100;
    else if (!strcmp(o.workload, "randwrite"))
        o.mix = 0;
    else if (!strcmp(o.workload, "randrw"))
        o.mix = o.mix > 100 ? 50 : o.mix;
    else
        return usage();
    bool lanes[2] = {!strcmp(o.lane, "brokered") || !strcmp(o.lane, "both"),
                     !strcmp(o.lane, "direct") || !strcmp(o.lane, "both")};
    if ((!lanes[0] && !lanes[1]) || o.qd == 0 || o.qd > 128 || o.nq == 0 || o.nq > MAX_QUEUES ||
        o.mix > 100 || (!o.ios && !(o.seconds > 0 && o.seconds < 3600))) {
        fprintf(stderr, "capdrv-bench-nvme: -q 1..128, -n 1..%u, -M 0..100, -t 0..3600 s\n",
                MAX_QUEUES);
        return 2;
    }
    double clk = o.split ? clock_cost_ns() : 0.0;
    printf("capdrv-bench-nvme: %s (%u%% reads) 4 KiB, qd %u x %u queue pair(s), %s, polling, "
           "%s platform%s\n",
           o.workload, o.mix, o.qd, o.nq, o.sgl ? "SGL" : "PRP", vfio ? "vfio" : "sim",
           o.peer ? "; peer: virtio-blk on the same sim" : "");
    if (o.ios)
        printf("%" PRIu64 " I/Os per run after %" PRIu64 " warm-up; CPU clock read %.1f ns\n",
               o.ios, o.ios / 10 + 1, clk);
    else
        printf("%.1f s per run after %.1f s warm-up; CPU clock read %.1f ns\n", o.seconds,
               o.seconds / 10, clk);
    printf("%-10s %-8s %10s %8s %8s %8s %8s %9s %9s %9s %6s\n", "target", "lane", "IOPS", "MiB/s",
           "p50 ns", "p99 ns", "p99.9 ns", "cpu ns/IO", "sim ns/IO", "lib ns/IO", "timer");
    struct result res[2][2];
    bool have[2][2] = {{false, false}, {false, false}};
    int rc = 0;
    for (int l = 0; l < 2 && rc == 0; l++) {
        if (!lanes[l])
            continue;
        struct machine_cfg mc = {.direct = l == 1, .nq = o.nq, .qd = o.qd, .sgl = o.sgl,
                                 .peer = o.peer, .split = o.split, .vfio = vfio};
        struct machine *m = NULL;
        rc = perf_machine_open(&mc, &m) < 0 ? -1 : 0;
        for (int t = 0; t < (o.peer ? 2 : 1) && rc == 0; t++) {
            rc = measure(m, t, &o, clk, &res[t][l]);
            if (rc == 0) {
                have[t][l] = true;
                print_row(t ? "virtio-blk" : "nvme", l ? "direct" : "brokered", &res[t][l],
                          o.split);
            }
        }
        if (m && perf_machine_violations(m)) {
            fprintf(stderr, "capdrv-bench-nvme: DMA oracle refused %lu device accesses\n",
                    perf_machine_violations(m));
            rc = -1;
        }
        perf_machine_close(m);
    }
    if (rc < 0) {
        fprintf(stderr, "capdrv-bench-nvme: FAILED\n");
        return 1;
    }
    printf("(latency: host wall clock from handing the I/O to the driver to the end of the reap "
           "that returned it;\n cpu = process CPU time / I/Os; sim = CPU time inside the platform's "
           "BAR writes (the device model);\n lib = cpu - sim - timer: library + shim + bench loop; "
           "timer = the two clock reads per doorbell)\n");
    for (int t = 0; t < 2; t++)
        if (have[t][0] && have[t][1]) {
            printf("ratio brokered/direct, %s: cpu ns/IO %.3f", t ? "virtio-blk" : "nvme",
                   res[t][0].cpu_ns / res[t][1].cpu_ns);
            if (o.split)
                printf(", lib ns/IO %.3f", lib_ns(&res[t][0]) / lib_ns(&res[t][1]));
            printf("\n");
        }
    for (int l = 0; l < 2; l++)
        if (have[0][l] && have[1][l]) {
            printf("ratio nvme/virtio-blk, %s: cpu ns/IO %.3f", l ? "direct" : "brokered",
                   res[0][l].cpu_ns / res[1][l].cpu_ns);
            if (o.split)
                printf(", sim ns/IO %.3f, lib ns/IO %.3f", res[0][l].sim_ns / res[1][l].sim_ns,
                       lib_ns(&res[0][l]) / lib_ns(&res[1][l]));
            printf("\n");
        }
    return 0;
}
