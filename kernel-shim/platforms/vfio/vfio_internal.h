/* Private state of the vfio platform (include/capdrv/vfio.h). */
#ifndef CAPDRV_VFIO_INTERNAL_H
#define CAPDRV_VFIO_INTERNAL_H

#include <capdrv/vfio.h>

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VF_PAGE 4096u
#define VF_CFG_MAX 4096u                /* PCIe extended config space */
#define VF_MAX_GROUPS CAPDRV_VFIO_MAX_FUNCTIONS

/* One IOMMU group and its own type1 container. */
struct vf_group {
    int id;        /* /dev/vfio/<id> */
    int group_fd;
    int container_fd;
};

struct vf_bar {
    uint64_t region_off; /* offset of the region in the device fd */
    uint64_t size;       /* bytes (what VFIO reports, bounded) */
    uint8_t *map;        /* mmap of the whole BAR, or NULL: pread/pwrite */
};

struct vf_fn {
    struct capdrv_hw_function info;
    char bdf[16];              /* "dddd:bb:dd.f" */
    struct vf_group *group;
    int dev_fd;
    uint64_t cfg_off, cfg_size; /* config region */
    struct vf_bar bars[CAPDRV_HW_NUM_BARS];
    bool can_reset;            /* VFIO_DEVICE_FLAGS_RESET */
    unsigned msix_n;           /* vectors served: min(VFIO's count, 64) */
    bool msix_on;              /* VFIO has MSI-X enabled for the function */
    int efd[CAPDRV_VFIO_MAX_VECTORS];  /* eventfd per vector, -1 = none */
    uint64_t enabled, masked;  /* vector bitmaps */
    unsigned reset_count;
};

struct vf_region {
    uint8_t *cpu;
    size_t size;
    uint64_t id;
};

struct vf_map {
    unsigned fn;
    uint64_t region_id;
    uint64_t iova;
    size_t size;
};

struct capdrv_vfio {
    pthread_mutex_t lock;
    struct vf_fn fns[CAPDRV_VFIO_MAX_FUNCTIONS];
    unsigned n_fns;
    struct vf_group groups[VF_MAX_GROUPS];
    unsigned n_groups;
    struct vf_region *regions;
    size_t n_regions, cap_regions;
    struct vf_map *maps;
    size_t n_maps, cap_maps;
    uint64_t next_id;
    size_t live_bytes;
    struct pci_access *pacc; /* kept for pci.ids names (capdrv_vfio_describe) */
    pthread_mutex_t ring_lock; /* the shared io_uring of irq_wait() */
    void *ring;                /* struct io_uring *, NULL when io_uring failed */
};

/* vfio_ops.c */
int vf_cfg_read(struct vf_fn *f, uint32_t off, unsigned width, uint32_t *val);
int vf_cfg_write_raw(struct vf_fn *f, uint32_t off, unsigned width, uint32_t val);
void vf_fn_close_irqs(struct vf_fn *f);
void vf_dma_fini(struct capdrv_vfio *v);

static inline struct vf_fn *vf_fn_get(struct capdrv_vfio *v, unsigned fn)
{
    return fn < v->n_fns ? &v->fns[fn] : NULL;
}

#endif
