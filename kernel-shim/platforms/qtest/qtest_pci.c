/* PCI on the q35 machine: the platform plays firmware.
 *
 * - Configuration space: the MCH's PCIEXBAR (q35 MCH config 0x60, enable
 *   bit 0, length field 0 = 256 buses) is programmed to QT_ECAM_BASE through
 *   the legacy 0xcf8/0xcfc mechanism (PCI Local Bus 3.0 §3.2.2.3.2); after
 *   that every access is one ECAM read or write (PCIe Base 4.0 §7.2.2) and
 *   reaches the whole 4 KiB.
 * - Enumeration: bus 0, devices 0..31, functions 1..7 only for
 *   multi-function devices (header type bit 7). Bridges (class 0x06) are
 *   not reported: nothing behind them is reachable here.
 * - BARs are sized with decoding off (PCI Local Bus 3.0 §6.2.5.1) and
 *   memory BARs placed from CAPDRV_QTEST_BAR_BASE, aligned to their size.
 *   COMMAND gets Memory Space; Bus Master is the driver's choice.
 * Every value read from a device is checked before use (sizes, capability
 * pointers, table offsets): QEMU's devices are real code, not trusted. */
#define _GNU_SOURCE
#include "qtest_internal.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define PCI_VENDOR 0x00
#define PCI_COMMAND 0x04
#define PCI_COMMAND_MEM 0x0002u
#define PCI_COMMAND_IO 0x0001u
#define PCI_COMMAND_MASTER 0x0004u
#define PCI_STATUS 0x06
#define PCI_STATUS_CAP_LIST 0x10u
#define PCI_REVISION 0x08
#define PCI_HEADER 0x0e
#define PCI_BAR0 0x10
#define PCI_SUBSYS 0x2c
#define PCI_ROM 0x30
#define PCI_CAP_PTR 0x34
#define CAP_PCIE 0x10
#define CAP_MSIX 0x11
#define CAP_VNDR 0x09
#define PCIE_DEVCAP 4
#define PCIE_DEVCAP_FLR (1u << 28)     /* PCIe Base 4.0 §7.5.3.3 */
#define PCIE_DEVCTL 8
#define PCIE_DEVCTL_FLR 0x8000u        /* Initiate Function Level Reset, §7.5.3.4 */
#define MCH_PCIEXBAR 0x60
#define Q35_MCH_ID 0x29c08086u         /* Intel 82G33 DRAM controller, vendor|device<<16 */
#define VIRTIO_VENDOR 0x1af4
#define VIO_CFG_COMMON 1               /* VIRTIO 1.2 §4.1.4 cfg_type */
#define VIO_STATUS 0x14                /* device_status in the common configuration */
#define VIO_COMMON_MIN 0x38u
#define MAX_BAR_SIZE (256ull << 20)

static uint32_t cf8_addr(unsigned dev, unsigned fn, uint32_t off)
{
    return 0x80000000u | (uint32_t)dev << 11 | (uint32_t)fn << 8 | (off & 0xfcu);
}

static int cf8_read(struct capdrv_qtest *q, unsigned dev, unsigned fn, uint32_t off, uint32_t *v)
{
    int rc = qt_io_write(q, 0xcf8, 4, cf8_addr(dev, fn, off));
    return rc < 0 ? rc : qt_io_read(q, 0xcfc, 4, v);
}

static int cf8_write(struct capdrv_qtest *q, unsigned dev, unsigned fn, uint32_t off, uint32_t v)
{
    int rc = qt_io_write(q, 0xcf8, 4, cf8_addr(dev, fn, off));
    return rc < 0 ? rc : qt_io_write(q, 0xcfc, 4, v);
}

static uint64_t ecam(unsigned dev, unsigned fn, uint32_t off)
{
    return QT_ECAM_BASE + ((uint64_t)dev << 15) + ((uint64_t)fn << 12) + off;
}

static uint64_t ecam_of(const struct qt_fn *f, uint32_t off)
{
    return ecam(f->info.addr.dev, f->info.addr.fn, off);
}

static int rd(struct capdrv_qtest *q, const struct qt_fn *f, uint32_t off, unsigned w, uint32_t *v)
{
    uint64_t x = 0;
    int rc = qt_mem_read(q, ecam_of(f, off), w, &x);
    *v = (uint32_t)x;
    return rc;
}

static int wr(struct capdrv_qtest *q, const struct qt_fn *f, uint32_t off, unsigned w, uint32_t v)
{
    return qt_mem_write(q, ecam_of(f, off), w, v);
}

static bool cfg_ok(uint32_t off, unsigned width)
{
    return (width == 1 || width == 2 || width == 4) && (off & (width - 1u)) == 0 &&
           off <= 4096u - width;
}

int qt_cfg_read(struct capdrv_qtest *q, const struct qt_fn *f, uint32_t off, unsigned width,
                uint32_t *val)
{
    if (!val || !cfg_ok(off, width))
        return -CAPDRV_EINVAL;
    return rd(q, f, off, width, val);
}

static bool overlaps(uint32_t off, unsigned width, uint32_t lo, uint32_t hi)
{
    return off < hi && off + width > lo;
}

int qt_cfg_write(struct capdrv_qtest *q, struct qt_fn *f, uint32_t off, unsigned width,
                 uint32_t val)
{
    if (!cfg_ok(off, width))
        return -CAPDRV_EINVAL;
    /* The address map is the platform's: bar_read/bar_write use the
     * addresses it assigned. */
    if (overlaps(off, width, PCI_BAR0, PCI_BAR0 + 24) || overlaps(off, width, PCI_ROM, PCI_ROM + 4))
        return -CAPDRV_EPERM;
    int rc = wr(q, f, off, width, val);
    if (rc < 0)
        return rc;
    /* An FLR started through Device Control clears the BARs (PCIe Base 4.0
     * §6.6.2) and MSI-X: put the address map back, forget the routes. */
    uint32_t flr_byte = f->pcie_cap + PCIE_DEVCTL + 1u;
    if (f->pcie_cap && off <= flr_byte && flr_byte < off + width &&
        ((val >> (8 * (flr_byte - off))) & (PCIE_DEVCTL_FLR >> 8))) {
        qt_irq_forget(q, f);
        if (f->reset_count < UINT32_MAX)
            f->reset_count++;
        return qt_bars_restore(q, f);
    }
    return 0;
}

/* Size BAR @i (decoding is off); advances *i past the upper half of a
 * 64-bit BAR. */
static int size_bar(struct capdrv_qtest *q, struct qt_fn *f, unsigned *i)
{
    uint32_t reg = PCI_BAR0 + 4 * *i, orig, lo, hi = 0xffffffffu, orig_hi = 0;
    int rc;
    if ((rc = rd(q, f, reg, 4, &orig)) < 0 || (rc = wr(q, f, reg, 4, 0xffffffffu)) < 0 ||
        (rc = rd(q, f, reg, 4, &lo)) < 0 || (rc = wr(q, f, reg, 4, orig)) < 0)
        return rc;
    if (orig & 1u) { /* I/O BAR: reported, never assigned (hw.h) */
        uint32_t mask = lo & ~3u & 0xffffu;
        f->info.bar_size[*i] = mask ? (uint64_t)((~mask & 0xffffu) + 1u) : 0;
        return 0;
    }
    bool is64 = ((orig >> 1) & 3u) == 2u;
    if (is64) {
        if (*i + 1 >= CAPDRV_HW_NUM_BARS)
            return 0; /* a 64-bit BAR in the last slot is malformed: ignore it */
        if ((rc = rd(q, f, reg + 4, 4, &orig_hi)) < 0 || (rc = wr(q, f, reg + 4, 4, 0xffffffffu)) < 0 ||
            (rc = rd(q, f, reg + 4, 4, &hi)) < 0 || (rc = wr(q, f, reg + 4, 4, orig_hi)) < 0)
            return rc;
    }
    uint64_t mask = (uint64_t)(is64 ? hi : 0xffffffffu) << 32 | (lo & ~0xfu);
    unsigned at = *i;
    if (is64)
        (*i)++;
    if ((lo & ~0xfu) == 0 && (!is64 || hi == 0))
        return 0; /* not implemented */
    uint64_t size = ~mask + 1u;
    if (size & (size - 1u) || size < 16) /* the mask must be contiguous */
        return 0;
    f->info.bar_size[at] = size;
    f->info.bar_flags[at] = CAPDRV_HW_BAR_MEM | (is64 ? CAPDRV_HW_BAR_64 : 0u) |
                            ((orig & 8u) ? CAPDRV_HW_BAR_PREFETCH : 0u);
    f->bar_reg[at] = orig & 0xfu;
    return 0;
}

static int assign_bars(struct capdrv_qtest *q, struct qt_fn *f, char *why, size_t why_len)
{
    for (unsigned i = 0; i < CAPDRV_HW_NUM_BARS; i++) {
        uint64_t size = f->info.bar_size[i];
        if (!(f->info.bar_flags[i] & CAPDRV_HW_BAR_MEM))
            continue;
        uint64_t align = size < QT_PAGE ? QT_PAGE : size;
        uint64_t base = (q->next_bar + align - 1u) & ~(align - 1u);
        if (size > MAX_BAR_SIZE || base > QT_BAR_LIMIT || align > QT_BAR_LIMIT - base) {
            snprintf(why, why_len, "qtest: BAR%u of %02x.%x (%llu bytes) does not fit below 0x%llx",
                     i, f->info.addr.dev, f->info.addr.fn, (unsigned long long)size,
                     (unsigned long long)QT_BAR_LIMIT);
            return -CAPDRV_ENOSPC;
        }
        f->bar_addr[i] = base;
        f->bar_reg[i] = (uint32_t)base | (f->bar_reg[i] & 0xfu);
        q->next_bar = base + align;
    }
    return qt_bars_restore(q, f);
}

int qt_bars_restore(struct capdrv_qtest *q, struct qt_fn *f)
{
    int rc;
    for (unsigned i = 0; i < CAPDRV_HW_NUM_BARS; i++) {
        if (!f->bar_addr[i])
            continue;
        uint32_t reg = PCI_BAR0 + 4 * i;
        if ((rc = wr(q, f, reg, 4, f->bar_reg[i])) < 0)
            return rc;
        if ((f->info.bar_flags[i] & CAPDRV_HW_BAR_64) && (rc = wr(q, f, reg + 4, 4, 0)) < 0)
            return rc;
    }
    uint32_t cmd;
    if ((rc = rd(q, f, PCI_COMMAND, 2, &cmd)) < 0)
        return rc;
    return wr(q, f, PCI_COMMAND, 2, (cmd | PCI_COMMAND_MEM) & ~PCI_COMMAND_IO);
}

static bool in_mem_bar(const struct qt_fn *f, unsigned bar, uint64_t off, uint64_t len)
{
    return bar < CAPDRV_HW_NUM_BARS && (f->info.bar_flags[bar] & CAPDRV_HW_BAR_MEM) &&
           off <= f->info.bar_size[bar] && len <= f->info.bar_size[bar] - off;
}

static int cap_msix(struct capdrv_qtest *q, struct qt_fn *f, uint32_t ptr)
{
    uint32_t ctrl, table, pba;
    int rc;
    if ((rc = rd(q, f, ptr + 2, 2, &ctrl)) < 0 || (rc = rd(q, f, ptr + 4, 4, &table)) < 0 ||
        (rc = rd(q, f, ptr + 8, 4, &pba)) < 0)
        return rc;
    unsigned n = (ctrl & 0x7ffu) + 1u; /* PCI Local Bus 3.0 §6.8.2.3: N-1 encoded */
    unsigned tb = table & 7u, pb = pba & 7u;
    if (!in_mem_bar(f, tb, table & ~7u, (uint64_t)n * 16u) ||
        !in_mem_bar(f, pb, pba & ~7u, ((n + 63u) / 64u) * 8u))
        return 0; /* unusable: the function simply has no interrupts here */
    f->msix_cap = (uint8_t)ptr;
    f->msix_n = n;
    f->msix_table_bar = tb;
    f->msix_table_off = table & ~7u;
    f->msix_pba_bar = pb;
    f->msix_pba_off = pba & ~7u;
    return 0;
}

static int cap_virtio(struct capdrv_qtest *q, struct qt_fn *f, uint32_t ptr)
{
    uint32_t type, bar, off, len;
    int rc;
    if (f->info.id.vendor != VIRTIO_VENDOR || f->vio_common || ptr + 16 > 0x100)
        return 0;
    if ((rc = rd(q, f, ptr + 3, 1, &type)) < 0 || (rc = rd(q, f, ptr + 4, 1, &bar)) < 0 ||
        (rc = rd(q, f, ptr + 8, 4, &off)) < 0 || (rc = rd(q, f, ptr + 12, 4, &len)) < 0)
        return rc;
    if (type != VIO_CFG_COMMON || len < VIO_COMMON_MIN || !in_mem_bar(f, bar, off, len))
        return 0;
    f->vio_common = true;
    f->vio_bar = bar;
    f->vio_off = off;
    return 0;
}

/* PCI Local Bus 3.0 §6.7: the capability list, bounded against loops. */
static int walk_caps(struct capdrv_qtest *q, struct qt_fn *f)
{
    uint32_t status, ptr;
    int rc;
    if ((rc = rd(q, f, PCI_STATUS, 2, &status)) < 0)
        return rc;
    if (!(status & PCI_STATUS_CAP_LIST))
        return 0;
    if ((rc = rd(q, f, PCI_CAP_PTR, 1, &ptr)) < 0)
        return rc;
    for (unsigned walked = 0; (ptr &= 0xfcu) >= 0x40u && walked < 48; walked++) {
        uint32_t id, next;
        if ((rc = rd(q, f, ptr, 1, &id)) < 0 || (rc = rd(q, f, ptr + 1, 1, &next)) < 0)
            return rc;
        if (id == CAP_PCIE && !f->pcie_cap) {
            uint32_t devcap;
            if ((rc = rd(q, f, ptr + PCIE_DEVCAP, 4, &devcap)) < 0)
                return rc;
            f->pcie_cap = (uint8_t)ptr;
            f->flr = (devcap & PCIE_DEVCAP_FLR) != 0;
        } else if (id == CAP_MSIX && !f->msix_cap && ptr <= 0x100 - 12) {
            if ((rc = cap_msix(q, f, ptr)) < 0)
                return rc;
        } else if (id == CAP_VNDR && (rc = cap_virtio(q, f, ptr)) < 0) {
            return rc;
        }
        ptr = next;
    }
    return 0;
}

static int add_function(struct capdrv_qtest *q, unsigned dev, unsigned fn, uint32_t id,
                        char *why, size_t why_len)
{
    if (q->n_fns == CAPDRV_QTEST_MAX_FUNCTIONS) {
        snprintf(why, why_len, "qtest: more than %u PCI functions", CAPDRV_QTEST_MAX_FUNCTIONS);
        return -CAPDRV_ENOSPC;
    }
    struct qt_fn *f = &q->fns[q->n_fns];
    memset(f, 0, sizeof *f);
    f->info.addr = (struct capdrv_pci_addr){.domain = 0, .bus = 0, .dev = (uint8_t)dev,
                                            .fn = (uint8_t)fn};
    uint32_t rev, subsys, cmd;
    int rc;
    if ((rc = rd(q, f, PCI_REVISION, 4, &rev)) < 0 || (rc = rd(q, f, PCI_SUBSYS, 4, &subsys)) < 0 ||
        (rc = rd(q, f, PCI_COMMAND, 2, &cmd)) < 0)
        return rc;
    f->info.id = (struct capdrv_pci_id){.vendor = (uint16_t)id, .device = (uint16_t)(id >> 16),
                                        .subsys_vendor = (uint16_t)subsys,
                                        .subsys_device = (uint16_t)(subsys >> 16),
                                        .class_code = rev >> 8, .revision = (uint8_t)rev};
    if ((rc = wr(q, f, PCI_COMMAND, 2, cmd & ~(PCI_COMMAND_MEM | PCI_COMMAND_IO))) < 0)
        return rc;
    for (unsigned i = 0; i < CAPDRV_HW_NUM_BARS; i++)
        if ((rc = size_bar(q, f, &i)) < 0)
            return rc;
    if ((rc = assign_bars(q, f, why, why_len)) < 0 || (rc = walk_caps(q, f)) < 0)
        return rc;
    q->n_fns++;
    return 0;
}

int qt_pci_enumerate(struct capdrv_qtest *q, char *why, size_t why_len)
{
    uint32_t mch = 0, check = 0;
    int rc = cf8_read(q, 0, 0, PCI_VENDOR, &mch);
    if (rc < 0)
        return rc;
    if (mch != Q35_MCH_ID) {
        snprintf(why, why_len, "qtest: host bridge 0x%08x is not a q35 MCH", mch);
        return -CAPDRV_EIO;
    }
    if ((rc = cf8_write(q, 0, 0, MCH_PCIEXBAR + 4, 0)) < 0 ||
        (rc = cf8_write(q, 0, 0, MCH_PCIEXBAR, (uint32_t)QT_ECAM_BASE | 1u)) < 0)
        return rc;
    uint64_t v = 0;
    if ((rc = qt_mem_read(q, ecam(0, 0, PCI_VENDOR), 4, &v)) < 0)
        return rc;
    check = (uint32_t)v;
    if (check != mch) {
        snprintf(why, why_len, "qtest: ECAM did not come up (read 0x%08x)", check);
        return -CAPDRV_EIO;
    }
    for (unsigned dev = 0; dev < 32; dev++) {
        for (unsigned fn = 0; fn < 8; fn++) {
            uint64_t idv = 0, hdr = 0, cls = 0;
            if ((rc = qt_mem_read(q, ecam(dev, fn, PCI_VENDOR), 4, &idv)) < 0)
                return rc;
            uint32_t id = (uint32_t)idv;
            if (id == 0xffffffffu || id == 0 || (id & 0xffffu) == 0xffffu) {
                if (fn == 0)
                    break; /* no device: functions 1..7 cannot exist (§6.2.1) */
                continue;
            }
            if ((rc = qt_mem_read(q, ecam(dev, fn, PCI_HEADER), 1, &hdr)) < 0 ||
                (rc = qt_mem_read(q, ecam(dev, fn, PCI_REVISION), 4, &cls)) < 0)
                return rc;
            bool bridge = (hdr & 0x7fu) != 0 || (cls >> 24) == 0x06;
            if (!bridge && (rc = add_function(q, dev, fn, id, why, why_len)) < 0)
                return rc;
            if (fn == 0 && !(hdr & 0x80u))
                break; /* single-function device */
        }
    }
    return 0;
}

enum capdrv_qtest_reset qt_reset_method(const struct qt_fn *f)
{
    if (f->info.kind == CAPDRV_HW_FN_MMIO)
        return CAPDRV_QTEST_RESET_VIRTIO; /* Status 0 (qtest_virt.c) */
    return f->flr ? CAPDRV_QTEST_RESET_FLR
                  : f->vio_common ? CAPDRV_QTEST_RESET_VIRTIO : CAPDRV_QTEST_RESET_NONE;
}

/* VIRTIO 1.2 §4.1.4.3.1: write 0 to device_status, then wait until it reads
 * back 0 (the reset is complete). */
static int virtio_reset(struct capdrv_qtest *q, struct qt_fn *f)
{
    uint64_t at = f->bar_addr[f->vio_bar] + f->vio_off + VIO_STATUS, s = 0xff;
    int rc = qt_mem_write(q, at, 1, 0);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (rc == 0 && (rc = qt_mem_read(q, at, 1, &s)) == 0 && s != 0) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        int64_t ms = (int64_t)(t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
        if (ms > q->timeout_ms)
            return -CAPDRV_ETIMEDOUT;
    }
    return rc;
}

int qt_function_reset(struct capdrv_qtest *q, struct qt_fn *f)
{
    int rc;
    uint32_t v;
    switch (qt_reset_method(f)) {
    case CAPDRV_QTEST_RESET_FLR:
        /* PCIe Base 4.0 §6.6.2. QEMU completes the FLR inside the config
         * write, so the 100 ms a real function may take is not waited for. */
        if ((rc = rd(q, f, f->pcie_cap + PCIE_DEVCTL, 2, &v)) < 0 ||
            (rc = wr(q, f, f->pcie_cap + PCIE_DEVCTL, 2, v | PCIE_DEVCTL_FLR)) < 0 ||
            (rc = qt_bars_restore(q, f)) < 0)
            return rc;
        qt_irq_forget(q, f);
        break;
    case CAPDRV_QTEST_RESET_VIRTIO:
        /* No FLR: stop the device through its transport (which completes
         * or cancels its requests), turn MSI-X off, and take Bus Master
         * away so it cannot reach memory even if it tried. */
        if ((rc = virtio_reset(q, f)) < 0 || (rc = qt_irq_off(q, f)) < 0 ||
            (rc = rd(q, f, PCI_COMMAND, 2, &v)) < 0 ||
            (rc = wr(q, f, PCI_COMMAND, 2, v & ~PCI_COMMAND_MASTER)) < 0)
            return rc;
        break;
    default:
        return -CAPDRV_ENOTSUP;
    }
    if (f->reset_count < UINT32_MAX)
        f->reset_count++;
    return 0;
}
