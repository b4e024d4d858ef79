/* The vfio platform's struct capdrv_hw_ops: config and BAR accesses, DMA
 * memory and IOMMU mappings, MSI-X on eventfds waited on with io_uring, and
 * function reset. The shim checks accesses before they get here; these
 * checks are the second line and refuse with an error, never abort. */
#define _GNU_SOURCE
#include "vfio_internal.h"

#include <errno.h>
#include <liburing.h>
#include <linux/vfio.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PCI_COMMAND 0x04
#define PCI_COMMAND_MASTER 0x0004u
#define PCI_BAR0 0x10
#define PCI_ROM 0x30

/* ---- config space ---------------------------------------------------- */

static bool cfg_ok(const struct vf_fn *f, uint32_t off, unsigned width)
{
    return (width == 1 || width == 2 || width == 4) && (off & (width - 1u)) == 0 &&
           off < f->cfg_size && width <= f->cfg_size - off;
}

int vf_cfg_read(struct vf_fn *f, uint32_t off, unsigned width, uint32_t *val)
{
    if (!val || !cfg_ok(f, off, width))
        return -CAPDRV_EINVAL;
    uint32_t x = 0; /* little-endian host (x86_64, aarch64): config space is LE */
    if (pread(f->dev_fd, &x, width, (off_t)(f->cfg_off + off)) != (ssize_t)width)
        return -CAPDRV_EIO;
    *val = x;
    return 0;
}

int vf_cfg_write_raw(struct vf_fn *f, uint32_t off, unsigned width, uint32_t val)
{
    if (!cfg_ok(f, off, width))
        return -CAPDRV_EINVAL;
    return pwrite(f->dev_fd, &val, width, (off_t)(f->cfg_off + off)) == (ssize_t)width
               ? 0
               : -CAPDRV_EIO;
}

static bool overlaps(uint32_t off, unsigned width, uint32_t lo, uint32_t hi)
{
    return off < hi && off + width > lo;
}

static int cfg_write(struct vf_fn *f, uint32_t off, unsigned width, uint32_t val)
{
    if (!cfg_ok(f, off, width))
        return -CAPDRV_EINVAL;
    /* The address map belongs to the host kernel, as the BARs to the
     * platform on qtest: refused here too, so the platforms agree. */
    if (overlaps(off, width, PCI_BAR0, PCI_BAR0 + 24) || overlaps(off, width, PCI_ROM, PCI_ROM + 4))
        return -CAPDRV_EPERM;
    return vf_cfg_write_raw(f, off, width, val);
}

/* ---- BARs -------------------------------------------------------------- */

static bool bar_ok(const struct vf_fn *f, unsigned bar, uint64_t off, unsigned width)
{
    if (bar >= CAPDRV_HW_NUM_BARS || !(f->info.bar_flags[bar] & CAPDRV_HW_BAR_MEM))
        return false;
    if (width != 1 && width != 2 && width != 4 && width != 8)
        return false;
    uint64_t size = f->bars[bar].size;
    return (off & (width - 1u)) == 0 && off < size && width <= size - off;
}

static int bar_read(struct vf_fn *f, unsigned bar, uint64_t off, unsigned width, uint64_t *val)
{
    const struct vf_bar *b = &f->bars[bar];
    if (b->map) {
        const volatile uint8_t *p = b->map + off;
        switch (width) {
        case 1: *val = *p; break;
        case 2: *val = *(const volatile uint16_t *)(const volatile void *)p; break;
        case 4: *val = *(const volatile uint32_t *)(const volatile void *)p; break;
        default: *val = *(const volatile uint64_t *)(const volatile void *)p; break;
        }
        return 0;
    }
    uint64_t x = 0;
    if (pread(f->dev_fd, &x, width, (off_t)(b->region_off + off)) != (ssize_t)width)
        return -CAPDRV_EIO;
    *val = x;
    return 0;
}

static int bar_write(struct vf_fn *f, unsigned bar, uint64_t off, unsigned width, uint64_t val)
{
    const struct vf_bar *b = &f->bars[bar];
    if (b->map) {
        volatile uint8_t *p = b->map + off;
        switch (width) {
        case 1: *p = (uint8_t)val; break;
        case 2: *(volatile uint16_t *)(volatile void *)p = (uint16_t)val; break;
        case 4: *(volatile uint32_t *)(volatile void *)p = (uint32_t)val; break;
        default: *(volatile uint64_t *)(volatile void *)p = val; break;
        }
        return 0;
    }
    return pwrite(f->dev_fd, &val, width, (off_t)(b->region_off + off)) == (ssize_t)width
               ? 0
               : -CAPDRV_EIO;
}

/* ---- DMA ------------------------------------------------------------------ */

static struct vf_region *region_of(struct capdrv_vfio *v, const struct capdrv_hw_dma *mem)
{
    if (!mem)
        return NULL;
    for (size_t i = 0; i < v->n_regions; i++) {
        struct vf_region *r = &v->regions[i];
        if (r->id == (uint64_t)mem->cookie)
            return r->cpu == mem->cpu && r->size == mem->size ? r : NULL;
    }
    return NULL;
}

static int dma_alloc(struct capdrv_vfio *v, size_t size, struct capdrv_hw_dma *out)
{
    if (!out || size == 0 || size % VF_PAGE != 0 || size > ((size_t)1 << 34))
        return -CAPDRV_EINVAL;
    if (v->n_regions == v->cap_regions) {
        size_t cap = v->cap_regions ? v->cap_regions * 2 : 16;
        struct vf_region *r = realloc(v->regions, cap * sizeof *r);
        if (!r)
            return -CAPDRV_ENOMEM;
        v->regions = r;
        v->cap_regions = cap;
    }
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -CAPDRV_ENOMEM;
    /* Fresh DMA memory holds junk on real machines; do not make it zero. */
    memset(p, 0xa5, size);
    struct vf_region *r = &v->regions[v->n_regions++];
    *r = (struct vf_region){.cpu = p, .size = size, .id = v->next_id++};
    v->live_bytes += size;
    *out = (struct capdrv_hw_dma){.cpu = p, .phys = 0, .size = size, .cookie = (uintptr_t)r->id};
    return 0;
}

static int iommu_unmap(struct capdrv_vfio *v, const struct vf_map *m)
{
    struct vfio_iommu_type1_dma_unmap um = {.argsz = sizeof um, .iova = m->iova, .size = m->size};
    int fd = v->fns[m->fn].group->container_fd;
    if (ioctl(fd, VFIO_IOMMU_UNMAP_DMA, &um) < 0 || um.size != m->size)
        return -CAPDRV_EIO;
    return 0;
}

static void map_remove(struct capdrv_vfio *v, size_t i)
{
    memmove(&v->maps[i], &v->maps[i + 1], (v->n_maps - i - 1) * sizeof v->maps[0]);
    v->n_maps--;
}

static void dma_free(struct capdrv_vfio *v, const struct capdrv_hw_dma *mem)
{
    struct vf_region *r = region_of(v, mem);
    if (!r)
        return; /* not ours or already freed: never crash */
    bool still_mapped = false;
    for (size_t i = v->n_maps; i-- > 0;) /* hw.h: unmapped from every function first */
        if (v->maps[i].region_id == r->id) {
            if (iommu_unmap(v, &v->maps[i]) < 0)
                still_mapped = true;
            map_remove(v, i);
        }
    /* A device that may still reach the pages must not see them reused:
     * leak them rather than hand them out again. */
    if (!still_mapped)
        munmap(r->cpu, r->size);
    v->live_bytes -= r->size;
    size_t i = (size_t)(r - v->regions);
    memmove(&v->regions[i], &v->regions[i + 1], (v->n_regions - i - 1) * sizeof v->regions[0]);
    v->n_regions--;
}

static int dma_map(struct capdrv_vfio *v, unsigned fn, const struct capdrv_hw_dma *mem,
                   uint64_t iova, uint64_t *devaddr)
{
    struct vf_region *r = region_of(v, mem);
    if (!r || !devaddr || iova % VF_PAGE != 0 || iova + r->size < iova)
        return -CAPDRV_EINVAL;
    for (size_t i = 0; i < v->n_maps; i++)
        if (v->maps[i].fn == fn && v->maps[i].region_id == r->id)
            return -CAPDRV_EEXIST;
    if (v->n_maps == v->cap_maps) {
        size_t cap = v->cap_maps ? v->cap_maps * 2 : 16;
        struct vf_map *m = realloc(v->maps, cap * sizeof *m);
        if (!m)
            return -CAPDRV_ENOMEM;
        v->maps = m;
        v->cap_maps = cap;
    }
    struct vfio_iommu_type1_dma_map dm = {.argsz = sizeof dm,
                                          .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
                                          .vaddr = (uintptr_t)r->cpu, .iova = iova, .size = r->size};
    if (ioctl(v->fns[fn].group->container_fd, VFIO_IOMMU_MAP_DMA, &dm) < 0) {
        /* ENOMEM: pinning would pass RLIMIT_MEMLOCK (docs/VFIO.md);
         * EEXIST: the IOVA is taken in this group's address space. */
        return errno == ENOMEM ? -CAPDRV_ENOMEM : errno == EEXIST ? -CAPDRV_EEXIST : -CAPDRV_EIO;
    }
    v->maps[v->n_maps++] = (struct vf_map){.fn = fn, .region_id = r->id, .iova = iova,
                                           .size = r->size};
    *devaddr = iova;
    return 0;
}

static int dma_unmap(struct capdrv_vfio *v, unsigned fn, const struct capdrv_hw_dma *mem,
                     uint64_t devaddr)
{
    struct vf_region *r = region_of(v, mem);
    if (!r)
        return -CAPDRV_EINVAL;
    for (size_t i = 0; i < v->n_maps; i++) {
        if (v->maps[i].fn == fn && v->maps[i].region_id == r->id && v->maps[i].iova == devaddr) {
            int rc = iommu_unmap(v, &v->maps[i]);
            if (rc < 0)
                return rc; /* still mapped: the shim quarantines it */
            map_remove(v, i);
            return 0;
        }
    }
    return -CAPDRV_ENOENT;
}

void vf_dma_fini(struct capdrv_vfio *v)
{
    for (size_t i = 0; i < v->n_maps; i++)
        iommu_unmap(v, &v->maps[i]);
    v->n_maps = 0;
    for (size_t i = 0; i < v->n_regions; i++)
        munmap(v->regions[i].cpu, v->regions[i].size);
    free(v->maps);
    free(v->regions);
    v->maps = NULL;
    v->regions = NULL;
    v->n_regions = v->cap_regions = v->cap_maps = 0;
    v->live_bytes = 0;
}

int capdrv_vfio_dma_stats(struct capdrv_vfio *v, struct capdrv_vfio_dma_stats *out)
{
    if (!v || !out)
        return -CAPDRV_EINVAL;
    pthread_mutex_lock(&v->lock);
    *out = (struct capdrv_vfio_dma_stats){.regions = v->n_regions, .bytes = v->live_bytes,
                                          .mappings = v->n_maps};
    pthread_mutex_unlock(&v->lock);
    return 0;
}

/* ---- MSI-X ---------------------------------------------------------------- */

/* VFIO_DEVICE_SET_IRQS for vectors [start, start+count) with @fds (-1 =
 * no trigger). */
static int set_irqs(struct vf_fn *f, unsigned start, unsigned count, const int *fds)
{
    size_t sz = sizeof(struct vfio_irq_set) + sizeof(int32_t) * count;
    struct vfio_irq_set *s = calloc(1, sz);
    if (!s)
        return -CAPDRV_ENOMEM;
    s->argsz = (uint32_t)sz;
    s->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
    s->index = VFIO_PCI_MSIX_IRQ_INDEX;
    s->start = start;
    s->count = count;
    memcpy(s->data, fds, sizeof(int32_t) * count);
    int rc = ioctl(f->dev_fd, VFIO_DEVICE_SET_IRQS, s) < 0 ? -CAPDRV_EIO : 0;
    free(s);
    return rc;
}

/* MSI-X off in VFIO (all vectors freed). */
static int msix_off(struct vf_fn *f)
{
    struct vfio_irq_set s = {.argsz = sizeof s,
                             .flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
                             .index = VFIO_PCI_MSIX_IRQ_INDEX, .start = 0, .count = 0};
    if (!f->msix_on)
        return 0;
    f->msix_on = false;
    return ioctl(f->dev_fd, VFIO_DEVICE_SET_IRQS, &s) < 0 ? -CAPDRV_EIO : 0;
}

static void drain(int fd)
{
    uint64_t n;
    while (fd >= 0 && read(fd, &n, sizeof n) == (ssize_t)sizeof n) {
    }
}

static int irq_enable(struct vf_fn *f, unsigned vec)
{
    if (vec >= f->msix_n)
        return -CAPDRV_ENOENT;
    if (f->efd[vec] < 0 && (f->efd[vec] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
        f->efd[vec] = -1;
        return -CAPDRV_ENOMEM;
    }
    drain(f->efd[vec]);
    int rc;
    if (!f->msix_on) {
        /* Kernels before 6.5 size the MSI-X allocation at the first
         * SET_IRQS and refuse vectors past it later: allocate every vector
         * served now, untriggered (-1) unless enabled. */
        int fds[CAPDRV_VFIO_MAX_VECTORS];
        for (unsigned k = 0; k < f->msix_n; k++)
            fds[k] = (k == vec || (f->enabled >> k & 1u)) ? f->efd[k] : -1;
        if ((rc = set_irqs(f, 0, f->msix_n, fds)) < 0)
            return rc;
        f->msix_on = true;
    } else if ((rc = set_irqs(f, vec, 1, &f->efd[vec])) < 0) {
        return rc;
    }
    f->enabled |= 1ull << vec;
    f->masked &= ~(1ull << vec);
    return 0;
}

static int irq_disable(struct vf_fn *f, unsigned vec)
{
    if (vec >= f->msix_n)
        return -CAPDRV_ENOENT;
    int none = -1, rc = 0;
    if (f->msix_on && (f->enabled >> vec & 1u))
        rc = set_irqs(f, vec, 1, &none);
    f->enabled &= ~(1ull << vec);
    f->masked &= ~(1ull << vec);
    drain(f->efd[vec]); /* hw.h: pending state is dropped */
    return rc;
}

/* VFIO has no MSI-X masking for PCI functions (its MASK/UNMASK actions are
 * for INTx): a masked vector keeps counting in its eventfd, which
 * irq_wait() leaves alone until the vector is unmasked - the latch. */
static int irq_mask(struct vf_fn *f, unsigned vec, bool masked)
{
    if (vec >= f->msix_n)
        return -CAPDRV_ENOENT;
    if (masked)
        f->masked |= 1ull << vec;
    else
        f->masked &= ~(1ull << vec);
    return 0;
}

void vf_fn_close_irqs(struct vf_fn *f)
{
    if (f->dev_fd >= 0)
        msix_off(f);
    for (unsigned k = 0; k < CAPDRV_VFIO_MAX_VECTORS; k++)
        if (f->efd[k] >= 0) {
            close(f->efd[k]);
            f->efd[k] = -1;
        }
    f->enabled = f->masked = 0;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Consume every ready eventfd of the set; a source listed twice is reported
 * in both positions. */
static uint64_t collect(const int *fds, unsigned n)
{
    uint64_t ready = 0;
    for (unsigned i = 0; i < n; i++) {
        if (fds[i] < 0)
            continue;
        bool fired = false;
        for (unsigned j = 0; j < i; j++)
            if (fds[j] == fds[i] && (ready >> j & 1u))
                fired = true;
        uint64_t cnt;
        if (!fired && read(fds[i], &cnt, sizeof cnt) == (ssize_t)sizeof cnt)
            fired = true;
        if (fired)
            ready |= 1ull << i;
    }
    return ready;
}

/* One io_uring round: a poll on each fd, one wait bounded by @timeout_ns
 * (< 0: no bound), then every poll still in flight is cancelled and reaped
 * so the ring is empty again. Returns 0 or a negative liburing error. */
static int uring_wait(struct io_uring *ring, const int *fds, unsigned n, int64_t timeout_ns)
{
    unsigned inflight = 0;
    for (unsigned i = 0; i < n; i++) {
        if (fds[i] < 0)
            continue;
        struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
        if (!sqe)
            break;
        io_uring_prep_poll_add(sqe, fds[i], POLLIN);
        io_uring_sqe_set_data64(sqe, i + 1u);
        inflight++;
    }
    int rc = io_uring_submit(ring);
    if (rc < 0)
        return rc;
    struct io_uring_cqe *cqe;
    if (timeout_ns < 0) {
        rc = io_uring_wait_cqe(ring, &cqe);
    } else {
        struct __kernel_timespec ts = {.tv_sec = timeout_ns / 1000000000,
                                       .tv_nsec = timeout_ns % 1000000000};
        rc = io_uring_wait_cqe_timeout(ring, &cqe, &ts);
    }
    if (rc < 0 && rc != -ETIME && rc != -EINTR)
        return rc;
    /* Reap what completed, cancel the rest, reap the cancellations. */
    unsigned head, seen = 0;
    io_uring_for_each_cqe(ring, head, cqe)
    {
        if (io_uring_cqe_get_data64(cqe) != 0)
            inflight--;
        seen++;
    }
    io_uring_cq_advance(ring, seen);
    if (inflight) {
        for (unsigned i = 0; i < n; i++) {
            if (fds[i] < 0)
                continue;
            struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
            if (!sqe)
                break;
            io_uring_prep_poll_remove(sqe, (uint64_t)(i + 1u));
            io_uring_sqe_set_data64(sqe, 0);
        }
        io_uring_submit(ring);
        int64_t until = now_ns() + 1000000000; /* cancellation is prompt; bound it anyway */
        while (inflight && now_ns() < until) {
            struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = 10000000};
            if (io_uring_wait_cqe_timeout(ring, &cqe, &ts) < 0)
                continue;
            if (io_uring_cqe_get_data64(cqe) != 0)
                inflight--;
            io_uring_cqe_seen(ring, cqe);
        }
        /* Leftover cancel completions (data 0) are harmless. */
        while (io_uring_peek_cqe(ring, &cqe) == 0)
            io_uring_cqe_seen(ring, cqe);
    }
    return 0;
}

static int irq_wait(struct capdrv_vfio *v, const struct capdrv_hw_irq *set, unsigned n,
                    int64_t timeout_ns, uint64_t *ready)
{
    if (!set || !ready || n == 0 || n > 64)
        return -CAPDRV_EINVAL;
    int fds[64];
    pthread_mutex_lock(&v->lock);
    for (unsigned i = 0; i < n; i++) {
        struct vf_fn *f = vf_fn_get(v, set[i].fn);
        if (!f || set[i].vector >= f->msix_n) {
            pthread_mutex_unlock(&v->lock);
            return -CAPDRV_ENOENT;
        }
        unsigned k = set[i].vector;
        /* Disabled or masked vectors are not waited for (a masked one keeps
         * its count for after unmask). */
        fds[i] = ((f->enabled & ~f->masked) >> k & 1u) ? f->efd[k] : -1;
    }
    pthread_mutex_unlock(&v->lock);
    int64_t deadline = timeout_ns < 0 ? INT64_MAX : now_ns() + timeout_ns;
    for (;;) {
        uint64_t got = collect(fds, n);
        if (got) {
            *ready = got;
            return __builtin_popcountll(got);
        }
        int64_t left = timeout_ns < 0 ? -1 : deadline - now_ns();
        if (timeout_ns >= 0 && left <= 0)
            return -CAPDRV_ETIMEDOUT;
        /* Another thread waiting holds the shared ring: use a private one. */
        struct io_uring own, *ring = NULL;
        bool shared = v->ring && pthread_mutex_trylock(&v->ring_lock) == 0;
        if (shared)
            ring = v->ring;
        else if (io_uring_queue_init(128, &own, 0) == 0)
            ring = &own;
        int rc = ring ? uring_wait(ring, fds, n, left) : -ENOMEM;
        if (shared)
            pthread_mutex_unlock(&v->ring_lock);
        else if (ring)
            io_uring_queue_exit(&own);
        if (rc < 0)
            return rc == -ENOMEM ? -CAPDRV_ENOMEM : -CAPDRV_EIO;
    }
}

/* ---- reset ---------------------------------------------------------------- */

static int function_reset(struct vf_fn *f)
{
    if (!f->can_reset)
        return -CAPDRV_ENOTSUP;
    uint32_t cmd = 0;
    int rc;
    /* Stop DMA first, then free the vectors (hw.h: MSI-X disabled after a
     * reset), then reset. The kernel saves and restores config space around
     * the reset (COMMAND included), so Bus Master is cleared again after. */
    if ((rc = vf_cfg_read(f, PCI_COMMAND, 2, &cmd)) < 0 ||
        (rc = vf_cfg_write_raw(f, PCI_COMMAND, 2, cmd & ~PCI_COMMAND_MASTER)) < 0)
        return rc;
    if ((rc = msix_off(f)) < 0)
        return rc;
    f->enabled = f->masked = 0;
    for (unsigned k = 0; k < CAPDRV_VFIO_MAX_VECTORS; k++)
        drain(f->efd[k]);
    if (ioctl(f->dev_fd, VFIO_DEVICE_RESET) < 0)
        return -CAPDRV_EIO;
    if ((rc = vf_cfg_read(f, PCI_COMMAND, 2, &cmd)) < 0 ||
        (rc = vf_cfg_write_raw(f, PCI_COMMAND, 2, (cmd | 0x2u) & ~PCI_COMMAND_MASTER)) < 0)
        return rc;
    if (f->reset_count < UINT32_MAX)
        f->reset_count++;
    return 0;
}

/* ---- the table -------------------------------------------------------- */

static struct capdrv_vfio *lock(void *ctx)
{
    struct capdrv_vfio *v = ctx;
    if (v)
        pthread_mutex_lock(&v->lock);
    return v;
}

static int unlock(struct capdrv_vfio *v, int rc)
{
    pthread_mutex_unlock(&v->lock);
    return rc;
}

static unsigned op_caps(void *ctx)
{
    (void)ctx;
    return CAPDRV_HW_IOMMU; /* every group sits behind the IOMMU (type1) */
}

static int op_function_count(void *ctx)
{
    struct capdrv_vfio *v = lock(ctx);
    return v ? unlock(v, (int)v->n_fns) : -CAPDRV_EINVAL;
}

static int op_function_info(void *ctx, unsigned fn, struct capdrv_hw_function *out)
{
    struct capdrv_vfio *v = lock(ctx);
    if (!v)
        return -CAPDRV_EINVAL;
    const struct vf_fn *f = vf_fn_get(v, fn);
    if (!f)
        return unlock(v, -CAPDRV_ENOENT);
    if (!out)
        return unlock(v, -CAPDRV_EINVAL);
    *out = f->info;
    return unlock(v, 0);
}

static int op_cfg_read(void *ctx, unsigned fn, uint32_t offset, unsigned width, uint32_t *val)
{
    struct capdrv_vfio *v = lock(ctx);
    if (!v)
        return -CAPDRV_EINVAL;
    struct vf_fn *f = vf_fn_get(v, fn);
    return unlock(v, f ? vf_cfg_read(f, offset, width, val) : -CAPDRV_ENOENT);
}

static int op_cfg_write(void *ctx, unsigned fn, uint32_t offset, unsigned width, uint32_t val)
{
    struct capdrv_vfio *v = lock(ctx);
    if (!v)
        return -CAPDRV_EINVAL;
    struct vf_fn *f = vf_fn_get(v, fn);
    return unlock(v, f ? cfg_write(f, offset, width, val) : -CAPDRV_ENOENT);
}

static int op_bar_read(void *ctx, unsigned fn, unsigned bar, uint64_t offset, unsigned width,
                       uint64_t *val)
{
    struct capdrv_vfio *v = lock(ctx);
    if (!v)
        return -CAPDRV_EINVAL;
    struct vf_fn *f = vf_fn_get(v, fn);
    if (!f)
        return unlock(v, -CAPDRV_ENOENT);
    if (!val)
        return unlock(v, -CAPDRV_EINVAL);
    if (!bar_ok(f, bar, offset, width))
        return unlock(v, -CAPDRV_EFAULT);
    return unlock(v, bar_read(f, bar, offset, width, val));
}

static int op_bar_write(void *ctx, unsigned fn, unsigned bar, uint64_t offset, unsigned width,
                        uint64_t val)
{
    struct capdrv_vfio *v = lock(ctx);
    if (!v)
        return -CAPDRV_EINVAL;
    struct vf_fn *f = vf_fn_get(v, fn);
    if (!f)
        return unlock(v, -CAPDRV_ENOENT);
    if (!bar_ok(f, bar, offset, width))
        return unlock(v, -CAPDRV_EFAULT);
    return unlock(v, bar_write(f, bar, offset, width, val));
}

static int op_dma_alloc(void *ctx, size_t size, struct capdrv_hw_dma *out)
{
    struct capdrv_vfio *v = lock(ctx);
    return v ? unlock(v, dma_alloc(v, size, out)) : -CAPDRV_EINVAL;
}

static void op_dma_free(void *ctx, struct capdrv_hw_dma *mem)
{
    struct capdrv_vfio *v = lock(ctx);
    if (!v)
        return;
    dma_free(v, mem);
    unlock(v, 0);
}

static int op_dma_map(void *ctx, unsigned fn, const struct capdrv_hw_dma *mem, uint64_t iova,
                      uint64_t *devaddr)
{
    struct capdrv_vfio *v = lock(ctx);
    if (!v)
        return -CAPDRV_EINVAL;
    if (!vf_fn_get(v, fn))
        return unlock(v, -CAPDRV_ENOENT);
    return unlock(v, dma_map(v, fn, mem, iova, devaddr));
}

static int op_dma_unmap(void *ctx, unsigned fn, const struct capdrv_hw_dma *mem, uint64_t devaddr)
{
    struct capdrv_vfio *v = lock(ctx);
    if (!v)
        return -CAPDRV_EINVAL;
    if (!vf_fn_get(v, fn))
        return unlock(v, -CAPDRV_ENOENT);
    return unlock(v, dma_unmap(v, fn, mem, devaddr));
}

static int op_irq_enable(void *ctx, unsigned fn, unsigned vector)
{
    struct capdrv_vfio *v = lock(ctx);
    if (!v)
        return -CAPDRV_EINVAL;
    struct vf_fn *f = vf_fn_get(v, fn);
    return unlock(v, f ? irq_enable(f, vector) : -CAPDRV_ENOENT);
}

static int op_irq_disable(void *ctx, unsigned fn, unsigned vector)
{
    struct capdrv_vfio *v = lock(ctx);
    if (!v)
        return -CAPDRV_EINVAL;
    struct vf_fn *f = vf_fn_get(v, fn);
    return unlock(v, f ? irq_disable(f, vector) : -CAPDRV_ENOENT);
}

static int op_irq_mask(void *ctx, unsigned fn, unsigned vector, bool masked)
{
    struct capdrv_vfio *v = lock(ctx);
    if (!v)
        return -CAPDRV_EINVAL;
    struct vf_fn *f = vf_fn_get(v, fn);
    return unlock(v, f ? irq_mask(f, vector, masked) : -CAPDRV_ENOENT);
}

static int op_irq_wait(void *ctx, const struct capdrv_hw_irq *set, unsigned n, int64_t timeout_ns,
                       uint64_t *ready)
{
    struct capdrv_vfio *v = ctx;
    /* Waits without the instance lock so other threads keep working. */
    return v ? irq_wait(v, set, n, timeout_ns, ready) : -CAPDRV_EINVAL;
}

static int op_function_reset(void *ctx, unsigned fn)
{
    struct capdrv_vfio *v = lock(ctx);
    if (!v)
        return -CAPDRV_EINVAL;
    struct vf_fn *f = vf_fn_get(v, fn);
    return unlock(v, f ? function_reset(f) : -CAPDRV_ENOENT);
}

static const struct capdrv_hw_ops vfio_hw_ops = {
    .caps = op_caps,
    .function_count = op_function_count,
    .function_info = op_function_info,
    .cfg_read = op_cfg_read,
    .cfg_write = op_cfg_write,
    .bar_read = op_bar_read,
    .bar_write = op_bar_write,
    .dma_alloc = op_dma_alloc,
    .dma_free = op_dma_free,
    .dma_map = op_dma_map,
    .dma_unmap = op_dma_unmap,
    .irq_enable = op_irq_enable,
    .irq_disable = op_irq_disable,
    .irq_mask = op_irq_mask,
    .irq_wait = op_irq_wait,
    .function_reset = op_function_reset,
};

struct capdrv_hw capdrv_vfio_hw(struct capdrv_vfio *v)
{
    struct capdrv_hw hw = {.ops = v ? &vfio_hw_ops : NULL, .ctx = v};
    return hw;
}
