/* Private state of the qtest platform (include/capdrv/qtest.h). */
#ifndef CAPDRV_QTEST_INTERNAL_H
#define CAPDRV_QTEST_INTERNAL_H

#include <capdrv/qtest.h>

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define QT_PAGE 4096u
#define QT_DIMM_SLOTS 256u   /* dma_fds: live DMA regions at most (ACPI's limit) */
#define QT_DIMM_MIB 16384u   /* dma_fds: room for their memory, MiB */
#define QT_MAX_VECTORS 64u                  /* cookie slots per function */
#define QT_COOKIE_BYTES (CAPDRV_QTEST_MAX_FUNCTIONS * QT_MAX_VECTORS * 4u)
#define QT_DISCARD_GPA (CAPDRV_QTEST_COOKIE_BASE + QT_COOKIE_BYTES) /* drop slot */
#define QT_ECAM_BASE 0xb0000000ull          /* q35 MCH PCIEXBAR, 256 buses */
#define QT_BAR_LIMIT 0xfec00000ull          /* IOAPIC and up are not ours */
#define QT_LINE_MAX 256u                    /* longest reply line accepted */
#define QT_QMP_LINE_MAX 65536u              /* longest QMP message accepted */

/* One DMA region of guest RAM. */
struct qt_region {
    uint64_t gpa;
    size_t size;
    uint64_t id;
    uint8_t *cpu;  /* this process's mapping */
    int fd;        /* dma_fds: the region's memfd (qtest_dimm.c); -1 for guest RAM */
    unsigned slot; /* dma_fds: its DIMM slot */
};

/* Guest RAM nobody owns, filled with QT_CANARY and watched (qtest_dma.c). */
struct qt_watch {
    uint64_t gpa;
    size_t size;
};
#define QT_CANARY 0xc3u
#define QT_MAX_WATCH 256u

struct qt_map {
    uint64_t gpa;
    size_t size;
    uint64_t iova; /* the device address: gpa without the IOMMU */
};

/* Guest RAM of the IOMMU's tables (qtest_iommu.c), below the MSI-X cookies
 * and never handed out by the DMA allocator (q35 only: RAM at 0). */
#define QT_IOMMU_POOL_LO 0x20000ull
#define QT_IOMMU_POOL_HI 0xa0000ull
#define QT_IOMMU_POOL_PAGES ((QT_IOMMU_POOL_HI - QT_IOMMU_POOL_LO) / QT_PAGE)

struct qt_fn {
    struct capdrv_hw_function info;
    uint64_t bar_addr[CAPDRV_HW_NUM_BARS]; /* guest physical, 0 = unassigned */
    uint32_t bar_reg[CAPDRV_HW_NUM_BARS];  /* low dword as programmed (restore after FLR) */
    uint8_t pcie_cap;                      /* 0 = none */
    bool flr;                              /* Device Capabilities FLR (PCIe 4.0 §7.5.3.3) */
    uint8_t msix_cap;                      /* 0 = none */
    unsigned msix_n;                       /* table size */
    unsigned msix_table_bar, msix_pba_bar;
    uint32_t msix_table_off, msix_pba_off;
    bool vio_common;                       /* virtio common configuration found */
    unsigned vio_bar;
    uint32_t vio_off;
    uint64_t routed;                       /* vectors pointing at their cookie */
    unsigned reset_count;
    struct qt_map *maps;
    size_t n_maps, cap_maps;
    bool mmio_masked;                      /* MMIO line masked (capdrv_hw irq_mask) */
    uint64_t pml4;                         /* IOMMU: its domain's top table, 0 = none */
};

struct capdrv_qtest {
    pthread_mutex_t lock;
    int64_t timeout_ms;
    pid_t pid;      /* QEMU, 0 once reaped */
    int sock;       /* qtest stream */
    int ram_fd, fw_fd, err_fd;
    uint8_t *ram;
    size_t ram_bytes;
    uint64_t ram_gpa; /* guest physical address of RAM byte 0 (virt: 0x40000000) */
    bool virt;        /* aarch64 virt machine: virtio-mmio devices, no PCI */
    bool iommu;       /* q35 with intel-iommu, translating (qtest_iommu.c) */
    bool dma_fds;     /* each DMA region a hot-plugged memfd DIMM (qtest_dimm.c) */
    uint64_t iommu_next;  /* next free table page in the pool */
    uint64_t iommu_iotlb; /* offset of IOTLB_REG in the DMAR registers */
    uint64_t iommu_free[QT_IOMMU_POOL_PAGES]; /* table pages given back */
    unsigned iommu_n_free;
    unsigned long iommu_faults;  /* faults read off the IOMMU so far (lower bound) */
    uint64_t iommu_fault_addr;   /* page of the last one */
    uint16_t iommu_fault_sid;    /* its source id */
    uint8_t iommu_fault_reason;  /* its fault reason */
    bool dead;
    char dead_why[512];
    char rbuf[QT_LINE_MAX * 2];
    size_t rlen;
    unsigned long commands;
    struct qt_fn fns[CAPDRV_QTEST_MAX_FUNCTIONS];
    unsigned n_fns;
    uint64_t next_bar;
    struct qt_region *regions; /* sorted by gpa */
    size_t n_regions, cap_regions;
    uint64_t next_id;
    size_t live_bytes;
    struct qt_watch *watch; /* freed regions and guard pages, oldest first */
    size_t n_watch;
    unsigned long canary_bad; /* watched ranges found changed */
    uint64_t canary_last;     /* guest address of the last change found */
    /* QMP monitor (qtest_qmp.c), serialised by its own lock so a QMP
     * exchange never waits for a qtest one or the other way round. */
    pthread_mutex_t qmp_lock;
    int qmp_sock;     /* -1: none, or closed after a failure (qmp_why) */
    bool qmp_ready;   /* greeting seen, capabilities negotiated */
    char *qmp_buf;    /* QT_QMP_LINE_MAX bytes, received and not consumed */
    size_t qmp_len;
    char qmp_why[128];
};

/* qtest_proto.c: the wire protocol; the caller holds q->lock. A failed
 * exchange kills QEMU and makes the instance dead (qt_die). */
int qt_mem_read(struct capdrv_qtest *q, uint64_t addr, unsigned width, uint64_t *val);
int qt_mem_write(struct capdrv_qtest *q, uint64_t addr, unsigned width, uint64_t val);
int qt_io_read(struct capdrv_qtest *q, uint16_t port, unsigned width, uint32_t *val);
int qt_io_write(struct capdrv_qtest *q, uint16_t port, unsigned width, uint32_t val);

/* qtest.c: process lifecycle. */
void qt_die(struct capdrv_qtest *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool qt_alive(struct capdrv_qtest *q); /* reaps an exited QEMU; lock held */
void qt_stderr_tail(struct capdrv_qtest *q, char *buf, size_t len);

/* qtest_pci.c: enumeration, BARs, config space. */
int qt_pci_enumerate(struct capdrv_qtest *q, char *why, size_t why_len);
int qt_cfg_read(struct capdrv_qtest *q, const struct qt_fn *f, uint32_t off, unsigned width,
                uint32_t *val);
int qt_cfg_write(struct capdrv_qtest *q, struct qt_fn *f, uint32_t off, unsigned width,
                 uint32_t val);
int qt_bars_restore(struct capdrv_qtest *q, struct qt_fn *f);
int qt_function_reset(struct capdrv_qtest *q, struct qt_fn *f);
enum capdrv_qtest_reset qt_reset_method(const struct qt_fn *f);

/* qtest_dma.c: guest-RAM allocator and mapping bookkeeping. */
int qt_dma_alloc(struct capdrv_qtest *q, size_t size, struct capdrv_hw_dma *out);
void qt_dma_free(struct capdrv_qtest *q, const struct capdrv_hw_dma *mem);
int qt_dma_map(struct capdrv_qtest *q, struct qt_fn *f, const struct capdrv_hw_dma *mem,
               uint64_t iova, uint64_t *devaddr);
int qt_dma_unmap(struct capdrv_qtest *q, struct qt_fn *f, const struct capdrv_hw_dma *mem,
                 uint64_t devaddr);
void qt_dma_fini(struct capdrv_qtest *q);
int qt_dma_fd(struct capdrv_qtest *q, const struct capdrv_hw_dma *mem, int *fd);

/* qtest_dimm.c: DMA regions as hot-plugged memfd DIMMs; lock held. */
int qt_dimm_alloc(struct capdrv_qtest *q, size_t size, struct qt_region *r);
void qt_dimm_free(struct capdrv_qtest *q, struct qt_region *r);
void qt_dimm_guard_check(struct capdrv_qtest *q, const struct qt_region *r);

/* qtest_iommu.c: intel-iommu tables and invalidation; lock held. */
int qt_iommu_init(struct capdrv_qtest *q, char *why, size_t why_len);
int qt_iommu_map(struct capdrv_qtest *q, struct qt_fn *f, uint64_t iova, uint64_t gpa,
                 size_t size);
int qt_iommu_unmap(struct capdrv_qtest *q, struct qt_fn *f, uint64_t iova, size_t size);

/* qtest_irq.c: MSI-X through cookies in guest RAM. */
int qt_irq_enable(struct capdrv_qtest *q, struct qt_fn *f, unsigned vector);
int qt_irq_disable(struct capdrv_qtest *q, struct qt_fn *f, unsigned vector);
int qt_irq_mask(struct capdrv_qtest *q, struct qt_fn *f, unsigned vector, bool masked);
int qt_irq_off(struct capdrv_qtest *q, struct qt_fn *f); /* MSI-X disabled, all masked */
void qt_irq_forget(struct capdrv_qtest *q, struct qt_fn *f); /* after a reset: no routes */
int qt_irq_wait(struct capdrv_qtest *q, const struct capdrv_hw_irq *set, unsigned n,
                int64_t timeout_ns, uint64_t *ready);

/* CPU pointer of guest physical @gpa inside RAM (the caller checked it). */
static inline uint8_t *qt_ram_at(const struct capdrv_qtest *q, uint64_t gpa)
{
    return q->ram + (gpa - q->ram_gpa);
}

/* qtest_virt.c: the aarch64 virt machine (virtio-mmio from QEMU's DTB). */
#define QT_VIRT_RAM_GPA 0x40000000ull /* hw/arm/virt.c memmap VIRT_MEM */
/* Add the virtio-mmio functions of the device tree @dtb (@len bytes, 8-byte
 * aligned) that have a device behind them. Lock held. */
int qt_virt_enumerate(struct capdrv_qtest *q, const void *dtb, size_t len, char *why,
                      size_t why_len);
int qt_mmio_irq_pending(struct capdrv_qtest *q, const struct qt_fn *f, bool *pending);
int qt_mmio_reset(struct capdrv_qtest *q, struct qt_fn *f);

static inline struct qt_fn *qt_fn_get(struct capdrv_qtest *q, unsigned fn)
{
    return fn < q->n_fns ? &q->fns[fn] : NULL;
}

#endif
