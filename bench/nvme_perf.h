/* capdrv-bench-nvme: shared pieces of the benchmark (nvme_perf.c drives the
 * workload and reports; nvme_perf_targets.c builds the machine and drives
 * the two targets: NVMe through capdrv/nvme.h and, as the peer, virtio-blk
 * through capdrv/virtio_blk.h, both hosted by the kernel shim on one sim). */
#ifndef CAPDRV_BENCH_NVME_PERF_H
#define CAPDRV_BENCH_NVME_PERF_H

#include <capdrv/hw.h>
#include <capdrv/sim.h>

#include <stdbool.h>
#include <stdint.h>

#define IO_BYTES 4096u          /* every I/O is one 4 KiB page */
#define DISK_PAGES 16384u       /* 64 MiB per device */
#define MAX_QD 256u
#define MAX_QUEUES 8u           /* the sim virtio-blk's limit; NVMe offers 16 */

/* Contents of disk page p: a fixed template whose first and last 8 bytes
 * are replaced by p and ~p. A write stores exactly the page's own
 * contents, so reads and writes may target any page in any order and the
 * disk always holds the expected data. */
void perf_template(uint8_t *page);
void perf_stamp(uint8_t *page, uint64_t p);

/* Host wall-clock nanoseconds (CLOCK_MONOTONIC). */
uint64_t perf_now_ns(void);
/* CPU time of the calling thread, nanoseconds (CLOCK_THREAD_CPUTIME_ID):
 * the bench is single-threaded and the sim runs inside its calls, so this
 * is the process's CPU time without the time it was preempted. */
uint64_t perf_cpu_ns(void);

/* A platform wrapper that times every BAR write in thread CPU time, i.e.
 * every doorbell and therefore - the sim processing requests inside the
 * doorbell write - the device model's work (minus the shim's, which runs
 * before it). */
struct timed_hw {
    struct capdrv_hw inner;
    struct capdrv_hw_ops ops;
    uint64_t bar_write_ns, bar_writes;
};
struct capdrv_hw perf_timed_hw(struct timed_hw *t, struct capdrv_hw inner);

/* One I/O slot: a 4 KiB part of its queue's buffer. */
struct slot {
    struct run *run;
    unsigned q, idx;
    bool read;
    uint64_t page, t_submit;
    uint8_t *buf;
};

/* A target's operations; a target queues commands, rings once per queue,
 * and reports completions with perf_complete(). */
struct target_ops {
    const char *name;
    int (*queue)(void *t, struct slot *s);      /* queue one (no doorbell) */
    int (*ring)(void *t, unsigned q);            /* publish what was queued on q */
    int (*poll)(void *t, unsigned q);            /* reap completions of q */
    uint8_t *(*buf)(void *t, unsigned q, unsigned idx);
};

/* Called by a target for each completion (status 0 or a negative error). */
void perf_complete(struct slot *s, int status);

/* The two targets on one machine, opened by perf_machine_open(). */
struct machine;
struct machine_cfg {
    bool direct;         /* IOMMU: the direct lane */
    unsigned nq, qd;     /* queue pairs, depth per queue */
    bool sgl;            /* NVMe: SGL data pointers */
    bool peer;           /* also open the virtio-blk peer */
    bool split;          /* time the BAR writes (the sim's share) */
    const char *vfio;    /* NULL: the sim; else the lspci -s slot of a real
                          * NVMe controller bound to vfio-pci (docs/VFIO.md) */
};
int perf_machine_open(const struct machine_cfg *cfg, struct machine **out);
void perf_machine_close(struct machine *m);
/* Target 0: NVMe; 1: virtio-blk. NULL ops when not opened. */
const struct target_ops *perf_target(struct machine *m, int which, void **t);
struct timed_hw *perf_machine_timer(struct machine *m);
unsigned long perf_machine_violations(struct machine *m);

#endif
