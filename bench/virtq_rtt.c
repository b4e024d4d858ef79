/* capdrv-bench-virtq: split virtqueue round trips per second.
 *
 * A request is one device-writable descriptor; the "device" is a minimal
 * spec-following device model in this file (VIRTIO 1.2 §2.7: read
 * avail->idx with acquire, read the head and its descriptor, write the used
 * element, publish used->idx with release). Two modes:
 *   1thread: driver and device alternate on one thread (add a batch, publish
 *            once, device runs, reap the batch): the library's CPU cost;
 *   2thread: the device polls on its own thread, the driver keeps the ring
 *            full: cache-line transfer cost included.
 * The peer measured in the same run is a textbook split-ring driver without
 * hostile-device checks or private state (free list kept in the shared
 * descriptor table, used ids trusted), so the ratio is the cost of the
 * hardening. No DMA happens: references are fake addresses.
 *
 * Usage: capdrv-bench-virtq [--size N] [--batch B] [--requests R] [--quick] */
#define _GNU_SOURCE
#include <capdrv/virtq.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- ring pointers shared by both drivers and the device model --------- */

struct ring {
    unsigned size;
    struct capdrv_vring_desc *desc;
    struct capdrv_vring_avail *avail;
    uint16_t *avail_ring;
    struct capdrv_vring_used *used;
    struct capdrv_vring_used_elem *used_ring;
    void *mem;
    size_t len;
};

static int ring_alloc(struct ring *r, unsigned size)
{
    struct capdrv_virtq_layout lay;
    if (capdrv_virtq_layout(size, 0, &lay) < 0)
        return -1;
    r->len = (lay.total_len + 4095) & ~(size_t)4095;
    r->mem = aligned_alloc(4096, r->len);
    if (!r->mem)
        return -1;
    memset(r->mem, 0, r->len);
    uint8_t *b = r->mem;
    r->size = size;
    r->desc = (void *)(b + lay.desc_off);
    r->avail = (void *)(b + lay.avail_off);
    r->avail_ring = (void *)(b + lay.avail_off + CAPDRV_VRING_AVAIL_RING_OFF);
    r->used = (void *)(b + lay.used_off);
    r->used_ring = (void *)(b + lay.used_off + CAPDRV_VRING_USED_RING_OFF);
    return 0;
}

/* ---- the device model (little-endian host assumed, as x86/arm64) ------- */

struct device {
    struct ring *r;
    uint16_t last_avail, used_idx;
};

/* Complete everything available; returns how many. */
static unsigned device_run(struct device *d)
{
    struct ring *r = d->r;
    uint16_t avail = __atomic_load_n(&r->avail->idx, __ATOMIC_ACQUIRE);
    unsigned n = 0;
    while (d->last_avail != avail) {
        uint16_t head = r->avail_ring[d->last_avail & (r->size - 1)];
        uint32_t len = r->desc[head & (r->size - 1)].len;
        struct capdrv_vring_used_elem *u = &r->used_ring[d->used_idx & (r->size - 1)];
        u->id = head;
        u->len = len;
        d->last_avail++;
        d->used_idx++;
        n++;
    }
    if (n)
        __atomic_store_n(&r->used->idx, d->used_idx, __ATOMIC_RELEASE);
    return n;
}

/* ---- the peer: a textbook driver without checks ------------------------ */

struct naive {
    struct ring *r;
    uint16_t free_head, num_free, avail_idx, last_used;
    void **cookie;
};

static void naive_init(struct naive *q, struct ring *r, void **cookies)
{
    q->r = r;
    q->cookie = cookies;
    for (unsigned i = 0; i < r->size; i++)
        r->desc[i].next = (uint16_t)(i + 1);
    q->free_head = 0;
    q->num_free = (uint16_t)(r->size > 65535 ? 65535 : r->size);
    q->avail_idx = 0;
    q->last_used = 0;
}

static int naive_add(struct naive *q, uint64_t addr, uint32_t len, void *cookie)
{
    if (!q->num_free)
        return -1;
    uint16_t h = q->free_head;
    struct capdrv_vring_desc *d = &q->r->desc[h];
    q->free_head = d->next; /* trusts shared memory */
    q->num_free--;
    d->addr = addr;
    d->len = len;
    d->flags = CAPDRV_VRING_DESC_F_WRITE;
    q->cookie[h] = cookie;
    q->r->avail_ring[q->avail_idx++ & (q->r->size - 1)] = h;
    return 0;
}

static void naive_publish(struct naive *q)
{
    __atomic_store_n(&q->r->avail->idx, q->avail_idx, __ATOMIC_RELEASE);
}

static unsigned naive_reap(struct naive *q, void **out, unsigned max)
{
    uint16_t used = __atomic_load_n(&q->r->used->idx, __ATOMIC_ACQUIRE);
    unsigned n = 0;
    while (q->last_used != used && n < max) {
        uint32_t id = q->r->used_ring[q->last_used++ & (q->r->size - 1)].id; /* trusted */
        out[n++] = q->cookie[id];
        q->r->desc[id].next = q->free_head;
        q->free_head = (uint16_t)id;
        q->num_free++;
    }
    return n;
}

/* ---- runs ---------------------------------------------------------------- */

struct opts {
    unsigned size, batch;
    uint64_t requests;
};

struct lib {
    struct capdrv_virtq vq;
    void *state;
};

static int lib_init(struct lib *l, struct ring *r)
{
    size_t sl = capdrv_virtq_state_size(r->size);
    l->state = aligned_alloc(CAPDRV_VIRTQ_STATE_ALIGN, (sl + 7) & ~(size_t)7);
    if (!l->state)
        return -1;
    struct capdrv_virtq_config c = {
        .size = r->size, .ring = r->mem, .ring_ref = 0x10000000, .ring_len = r->len,
        .state = l->state, .state_len = sl,
    };
    return capdrv_virtq_init(&l->vq, &c);
}

/* One thread: batches of o->batch, device in between. Returns seconds. */
static double run_lib_1t(const struct opts *o)
{
    struct ring r;
    struct lib l;
    if (ring_alloc(&r, o->size) < 0 || lib_init(&l, &r) < 0)
        return -1;
    struct device d = {.r = &r};
    struct capdrv_virtq_completion c[256];
    struct capdrv_virtq_seg seg = {.ref = 0x20000000, .len = 64};
    uint64_t done = 0;
    double t0 = now_s();
    while (done < o->requests) {
        for (unsigned i = 0; i < o->batch; i++)
            if (capdrv_virtq_add(&l.vq, &seg, 0, 1, (void *)(uintptr_t)(i + 1)) < 0)
                return -1;
        capdrv_virtq_publish(&l.vq);
        (void)capdrv_virtq_needs_notify(&l.vq);
        device_run(&d);
        unsigned got = 0;
        while (got < o->batch) {
            int n = capdrv_virtq_reap(&l.vq, c, 256);
            if (n < 0)
                return -1;
            got += (unsigned)n;
        }
        done += got;
    }
    double dt = now_s() - t0;
    free(l.state);
    free(r.mem);
    return dt;
}

static double run_naive_1t(const struct opts *o)
{
    struct ring r;
    if (ring_alloc(&r, o->size) < 0)
        return -1;
    void **cookies = calloc(o->size, sizeof *cookies), *out[256];
    struct naive q;
    naive_init(&q, &r, cookies);
    struct device d = {.r = &r};
    uint64_t done = 0;
    double t0 = now_s();
    while (done < o->requests) {
        for (unsigned i = 0; i < o->batch; i++)
            if (naive_add(&q, 0x20000000, 64, (void *)(uintptr_t)(i + 1)) < 0)
                return -1;
        naive_publish(&q);
        device_run(&d);
        unsigned got = 0;
        while (got < o->batch)
            got += naive_reap(&q, out, 256);
        done += got;
    }
    double dt = now_s() - t0;
    free(cookies);
    free(r.mem);
    return dt;
}

struct dev_thread {
    struct device d;
    atomic_bool stop;
};

static void *device_main(void *arg)
{
    struct dev_thread *t = arg;
    while (!atomic_load_explicit(&t->stop, memory_order_relaxed))
        device_run(&t->d);
    return NULL;
}

/* Two threads: keep up to the queue size in flight. */
static double run_2t(const struct opts *o, bool naive)
{
    struct ring r;
    struct lib l;
    struct naive q;
    void **cookies = NULL, *out[256];
    if (ring_alloc(&r, o->size) < 0)
        return -1;
    if (naive) {
        cookies = calloc(o->size, sizeof *cookies);
        naive_init(&q, &r, cookies);
    } else if (lib_init(&l, &r) < 0) {
        return -1;
    }
    struct dev_thread t = {.d = {.r = &r}};
    atomic_init(&t.stop, false);
    pthread_t th;
    if (pthread_create(&th, NULL, device_main, &t) != 0)
        return -1;
    struct capdrv_virtq_completion c[256];
    struct capdrv_virtq_seg seg = {.ref = 0x20000000, .len = 64};
    uint64_t sent = 0, done = 0;
    double t0 = now_s();
    while (done < o->requests) {
        unsigned added = 0;
        while (sent < o->requests && added < o->batch) {
            int rc = naive ? naive_add(&q, 0x20000000, 64, (void *)1)
                           : capdrv_virtq_add(&l.vq, &seg, 0, 1, (void *)1);
            if (rc < 0)
                break;
            added++;
            sent++;
        }
        if (added) {
            if (naive) {
                naive_publish(&q);
            } else {
                capdrv_virtq_publish(&l.vq);
                (void)capdrv_virtq_needs_notify(&l.vq);
            }
        }
        int n = naive ? (int)naive_reap(&q, out, 256) : capdrv_virtq_reap(&l.vq, c, 256);
        if (n < 0)
            break;
        done += (uint64_t)n;
    }
    double dt = now_s() - t0;
    atomic_store(&t.stop, true);
    pthread_join(th, NULL);
    if (naive)
        free(cookies);
    else
        free(l.state);
    free(r.mem);
    return done == o->requests ? dt : -1;
}

int main(int argc, char **argv)
{
    struct opts o = {.size = 256, .batch = 32, .requests = 20000000};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--size") && i + 1 < argc)
            o.size = (unsigned)strtoul(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
            o.batch = (unsigned)strtoul(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--requests") && i + 1 < argc)
            o.requests = strtoull(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--quick"))
            o.requests = 200000;
        else {
            fprintf(stderr, "usage: %s [--size N] [--batch B] [--requests R] [--quick]\n", argv[0]);
            return 2;
        }
    }
    if (o.batch == 0 || o.batch > 256 || o.batch > o.size || o.requests % o.batch) {
        fprintf(stderr, "batch must be 1..min(256, size) and divide requests\n");
        return 2;
    }
    printf("capdrv-bench-virtq: size %u, batch %u, %llu requests per run\n", o.size, o.batch,
           (unsigned long long)o.requests);
    printf("%-8s %14s %14s %8s\n", "mode", "libcapdrv/s", "naive peer/s", "ratio");
    double l1 = run_lib_1t(&o), n1 = run_naive_1t(&o);
    double l2 = run_2t(&o, false), n2 = run_2t(&o, true);
    if (l1 <= 0 || n1 <= 0 || l2 <= 0 || n2 <= 0) {
        fprintf(stderr, "a run failed\n");
        return 1;
    }
    double rq = (double)o.requests;
    printf("%-8s %14.0f %14.0f %8.2f\n", "1thread", rq / l1, rq / n1, n1 / l1);
    printf("%-8s %14.0f %14.0f %8.2f\n", "2thread", rq / l2, rq / n2, n2 / l2);
    printf("(ratio = libcapdrv rate / peer rate)\n");
    return 0;
}
