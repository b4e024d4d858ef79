/* Memfd-backed DMA regions for the manager (hwmem.h). */
#define _GNU_SOURCE
#include "hwmem.h"

#include <capdrv/error.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096u

struct region {
    void *cpu;
    size_t size;
    int fd;
};

struct mgr_hwmem {
    struct capdrv_hw inner;
    struct capdrv_hw_ops ops; /* inner's, with dma_alloc/dma_free replaced */
    pthread_mutex_t lock;     /* the shim may allocate from several threads */
    struct region *r;
    size_t n, cap;
};

static struct mgr_hwmem *M(void *ctx)
{
    return ctx;
}

/* Forwarders: every operation except the two DMA memory ones. */
static unsigned w_caps(void *x) { return M(x)->inner.ops->caps(M(x)->inner.ctx); }
static int w_function_count(void *x) { return M(x)->inner.ops->function_count(M(x)->inner.ctx); }
static int w_function_info(void *x, unsigned fn, struct capdrv_hw_function *o)
{ return M(x)->inner.ops->function_info(M(x)->inner.ctx, fn, o); }
static int w_cfg_read(void *x, unsigned fn, uint32_t off, unsigned w, uint32_t *v)
{ return M(x)->inner.ops->cfg_read(M(x)->inner.ctx, fn, off, w, v); }
static int w_cfg_write(void *x, unsigned fn, uint32_t off, unsigned w, uint32_t v)
{ return M(x)->inner.ops->cfg_write(M(x)->inner.ctx, fn, off, w, v); }
static int w_bar_read(void *x, unsigned fn, unsigned bar, uint64_t off, unsigned w, uint64_t *v)
{ return M(x)->inner.ops->bar_read(M(x)->inner.ctx, fn, bar, off, w, v); }
static int w_bar_write(void *x, unsigned fn, unsigned bar, uint64_t off, unsigned w, uint64_t v)
{ return M(x)->inner.ops->bar_write(M(x)->inner.ctx, fn, bar, off, w, v); }
static int w_dma_map(void *x, unsigned fn, const struct capdrv_hw_dma *mem, uint64_t iova,
                     uint64_t *devaddr)
{ return M(x)->inner.ops->dma_map(M(x)->inner.ctx, fn, mem, iova, devaddr); }
static int w_dma_unmap(void *x, unsigned fn, const struct capdrv_hw_dma *mem, uint64_t devaddr)
{ return M(x)->inner.ops->dma_unmap(M(x)->inner.ctx, fn, mem, devaddr); }
static int w_irq_enable(void *x, unsigned fn, unsigned v)
{ return M(x)->inner.ops->irq_enable(M(x)->inner.ctx, fn, v); }
static int w_irq_disable(void *x, unsigned fn, unsigned v)
{ return M(x)->inner.ops->irq_disable(M(x)->inner.ctx, fn, v); }
static int w_irq_mask(void *x, unsigned fn, unsigned v, bool m)
{ return M(x)->inner.ops->irq_mask(M(x)->inner.ctx, fn, v, m); }
static int w_irq_wait(void *x, const struct capdrv_hw_irq *set, unsigned n, int64_t t, uint64_t *r)
{ return M(x)->inner.ops->irq_wait(M(x)->inner.ctx, set, n, t, r); }
static int w_function_reset(void *x, unsigned fn)
{ return M(x)->inner.ops->function_reset(M(x)->inner.ctx, fn); }

/* Put a memfd under [cpu, cpu+size) keeping the bytes. Returns the fd. */
static int share_region(void *cpu, size_t size)
{
    int fd = memfd_create("capdrv-dma", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return -1;
    void *tmp = MAP_FAILED;
    if (ftruncate(fd, (off_t)size) < 0 ||
        fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0 ||
        (tmp = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
        close(fd);
        return -1;
    }
    memcpy(tmp, cpu, size);
    munmap(tmp, size);
    if (mmap(cpu, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) != cpu) {
        /* MAP_FIXED failing leaves the old pages in place (no partial
         * replacement for a single mapping call on Linux). */
        close(fd);
        return -1;
    }
    return fd;
}

static int w_dma_alloc(void *x, size_t size, struct capdrv_hw_dma *out)
{
    struct mgr_hwmem *m = M(x);
    int rc = m->inner.ops->dma_alloc(m->inner.ctx, size, out);
    if (rc < 0)
        return rc;
    if (((uintptr_t)out->cpu % PAGE) != 0 || out->size == 0 || out->size % PAGE != 0) {
        /* cannot be shared page-exactly: refuse rather than leak a
         * neighbour's bytes to a provider */
        m->inner.ops->dma_free(m->inner.ctx, out);
        return -CAPDRV_ENOTSUP;
    }
    pthread_mutex_lock(&m->lock);
    if (m->n == m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 32;
        struct region *r = realloc(m->r, nc * sizeof *r);
        if (!r) {
            pthread_mutex_unlock(&m->lock);
            m->inner.ops->dma_free(m->inner.ctx, out);
            return -CAPDRV_ENOMEM;
        }
        m->r = r;
        m->cap = nc;
    }
    /* A platform whose regions are files of their own hands one out (its
     * device sees those very pages: qtest's hot-added guest memory);
     * otherwise the memfd goes under the process memory here. */
    int fd = -1, frc = 0;
    if (m->inner.ops->dma_fd)
        frc = m->inner.ops->dma_fd(m->inner.ctx, out, &fd);
    else
        frc = (fd = share_region(out->cpu, out->size)) < 0 ? -CAPDRV_ENOMEM : 0;
    if (frc < 0) {
        pthread_mutex_unlock(&m->lock);
        m->inner.ops->dma_free(m->inner.ctx, out);
        return frc == -CAPDRV_ENOTSUP ? frc : -CAPDRV_ENOMEM;
    }
    m->r[m->n++] = (struct region){.cpu = out->cpu, .size = out->size, .fd = fd};
    pthread_mutex_unlock(&m->lock);
    return 0;
}

static void w_dma_free(void *x, struct capdrv_hw_dma *mem)
{
    struct mgr_hwmem *m = M(x);
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->n; i++) {
        if (m->r[i].cpu != mem->cpu)
            continue;
        /* Detach from the memfd before the platform reuses the memory
         * (a platform's own file is never reused: hw.h dma_fd). */
        if (!m->inner.ops->dma_fd && mmap(m->r[i].cpu, m->r[i].size, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != m->r[i].cpu) {
            /* Giving shared pages back to the heap would let a provider
             * write into the manager: fail closed. */
            fputs("capdrv-managerd: cannot detach DMA memory from its memfd\n", stderr);
            abort();
        }
        close(m->r[i].fd);
        m->r[i] = m->r[--m->n];
        break;
    }
    pthread_mutex_unlock(&m->lock);
    m->inner.ops->dma_free(m->inner.ctx, mem);
}

int mgr_hwmem_wrap(struct capdrv_hw inner, struct mgr_hwmem **out, struct capdrv_hw *wrapped)
{
    if (!inner.ops || !out || !wrapped)
        return -CAPDRV_EINVAL;
    struct mgr_hwmem *m = calloc(1, sizeof *m);
    if (!m)
        return -CAPDRV_ENOMEM;
    m->inner = inner;
    m->ops = (struct capdrv_hw_ops){
        .caps = w_caps, .function_count = w_function_count, .function_info = w_function_info,
        .cfg_read = w_cfg_read, .cfg_write = w_cfg_write, .bar_read = w_bar_read,
        .bar_write = w_bar_write, .dma_alloc = w_dma_alloc, .dma_free = w_dma_free,
        .dma_map = w_dma_map, .dma_unmap = w_dma_unmap, .irq_enable = w_irq_enable,
        .irq_disable = w_irq_disable, .irq_mask = w_irq_mask, .irq_wait = w_irq_wait,
        .function_reset = w_function_reset,
    };
    pthread_mutex_init(&m->lock, NULL);
    *out = m;
    *wrapped = (struct capdrv_hw){.ops = &m->ops, .ctx = m};
    return 0;
}

void mgr_hwmem_free(struct mgr_hwmem *m)
{
    if (!m)
        return;
    /* The shim frees every region at destroy; anything left is the
     * platform's to free, but its memfd is ours. */
    for (size_t i = 0; i < m->n; i++)
        close(m->r[i].fd);
    free(m->r);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

int mgr_hwmem_lookup(struct mgr_hwmem *m, const void *cpu, int *fd, size_t *size)
{
    int rc = -CAPDRV_ENOENT;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->n; i++)
        if (m->r[i].cpu == cpu) {
            *fd = fcntl(m->r[i].fd, F_DUPFD_CLOEXEC, 0);
            *size = m->r[i].size;
            rc = *fd >= 0 ? 0 : -CAPDRV_ENOMEM;
            break;
        }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

size_t mgr_hwmem_regions(struct mgr_hwmem *m)
{
    pthread_mutex_lock(&m->lock);
    size_t n = m->n;
    pthread_mutex_unlock(&m->lock);
    return n;
}
