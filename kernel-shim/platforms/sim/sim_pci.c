/* Configuration space of a simulated function: a 4 KiB image with per-bit
 * write semantics (read-only, read-write, write-1-to-clear), built once at
 * creation and reset to power-on values by FLR.
 *
 * Layout (documented in capdrv/sim.h):
 *   0x00..0x3f  type-0 header, PCI Local Bus 3.0 §6.1-§6.2
 *   0x40..0x7b  PCI Express capability v2, PCIe Base 4.0 §7.5.3
 *               (Root Complex Integrated Endpoint, Function Level Reset)
 *   0x80..0x8b  MSI-X capability, PCI Local Bus 3.0 §6.8.2
 *   0x8c..0xff  capabilities a device model appends (sim_pci_add_cap(),
 *               e.g. the virtio vendor capabilities), chained after MSI-X
 *   0x100..     extended space: empty (a zero header ends the list) */
#include "sim_internal.h"

#include <string.h>

/* Type-0 header offsets (PCI Local Bus 3.0 §6.1). */
#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_STATUS 0x06
#define PCI_REVISION 0x08
#define PCI_CLASS_PROG 0x09
#define PCI_CACHE_LINE 0x0c
#define PCI_HEADER_TYPE 0x0e
#define PCI_BAR0 0x10
#define PCI_SUBSYS_VENDOR 0x2c
#define PCI_SUBSYS_ID 0x2e
#define PCI_CAP_PTR 0x34
#define PCI_INT_LINE 0x3c

/* Command bits software may set (§6.2.2): I/O space, memory space, bus
 * master, parity error response, SERR# enable, interrupt disable. */
#define PCI_COMMAND_WMASK 0x0547u
/* Status bits that are RW1C (§6.2.3): the error bits 8 and 11..15. */
#define PCI_STATUS_W1C 0xf900u
#define PCI_STATUS_CAP_LIST 0x0010u

/* PCI Express capability (PCIe Base 4.0 §7.5.3). */
#define PCIE_CAP_ID 0x10
#define PCIE_FLAGS 0x02   /* PCI Express Capabilities register */
#define PCIE_DEVCAP 0x04  /* Device Capabilities */
#define PCIE_DEVCTL 0x08  /* Device Control */
#define PCIE_DEVSTA 0x0a  /* Device Status */
#define PCIE_CAP_LEN 0x3c /* v2 structure */
/* Version 2, Device/Port Type 1001b = Root Complex Integrated Endpoint
 * (its Link registers are reserved, §7.5.3.2), so no link to model. */
#define PCIE_FLAGS_VALUE 0x0092u
#define PCIE_DEVCAP_RBER (1u << 15)
#define PCIE_DEVCAP_FLR (1u << 28) /* §7.5.3.3: Function Level Reset Capability */
/* Device Control power-on value: Max_Read_Request_Size 512 B (010b),
 * Enable Relaxed Ordering and Enable No Snoop set (§7.5.3.4). */
#define PCIE_DEVCTL_INIT 0x2810u
#define PCIE_DEVCTL_WMASK 0x7fffu
#define PCIE_DEVCTL_FLR 0x8000u /* Initiate FLR: write-only, reads 0 */
#define PCIE_DEVSTA_W1C 0x000fu /* error detected bits */

/* MSI-X capability (PCI Local Bus 3.0 §6.8.2). */
#define MSIX_CAP_ID 0x11
#define MSIX_CTRL 0x02
#define MSIX_TABLE 0x04
#define MSIX_PBA 0x08
#define MSIX_CTRL_WMASK 0xc000u /* MSI-X Enable (15), Function Mask (14) */

/* Where the "firmware" placed the BARs. The addresses are cosmetic (BAR
 * access goes by number, and the shim virtualises BAR registers) but make
 * the image look like an enumerated function. */
#define SIM_MMIO_BASE 0xe0000000u
#define SIM_MMIO_PER_FN 0x10000u

static void put(struct sim_fn *f, uint32_t off, unsigned width, uint32_t v)
{
    sim_le_put(&f->cfg[off], width, v);
}

/* Mark bits writable (wm) or write-1-to-clear (w1c) in a field. */
static void field(struct sim_fn *f, uint32_t off, unsigned width, uint32_t wm, uint32_t w1c)
{
    sim_le_put(&f->wmask[off], width, wm);
    sim_le_put(&f->w1c[off], width, w1c);
}

static void init_bar(struct sim_fn *f, unsigned bar)
{
    uint64_t size = f->info.bar_size[bar];
    if (size == 0)
        return; /* unimplemented: reads 0, writes ignored (§6.2.5.1) */
    /* Only 32-bit memory BARs are modelled: bits 3:0 are 0 (memory, 32-bit
     * decoder, not prefetchable); the address bits below the size are
     * hard-wired to 0, which is how software sizes a BAR. BAR n sits at
     * n * (largest BAR of the function), so every BAR is naturally aligned
     * and none overlap (4 KiB functions: n * 4 KiB, as always). */
    uint64_t stride = SIM_BAR_SIZE;
    for (unsigned b = 0; b < CAPDRV_HW_NUM_BARS; b++)
        if (f->info.bar_size[b] > stride)
            stride = f->info.bar_size[b];
    uint32_t addr = SIM_MMIO_BASE + f->index * SIM_MMIO_PER_FN + bar * (uint32_t)stride;
    uint32_t off = PCI_BAR0 + 4u * bar;
    put(f, off, 4, addr);
    field(f, off, 4, (uint32_t)~(size - 1u) & ~0xfu, 0);
}

void sim_pci_init(struct sim_fn *f, const struct sim_pci_ident *id)
{
    memset(f->cfg, 0, sizeof f->cfg);
    memset(f->wmask, 0, sizeof f->wmask);
    memset(f->w1c, 0, sizeof f->w1c);

    put(f, PCI_VENDOR_ID, 2, id->vendor);
    put(f, PCI_DEVICE_ID, 2, id->device);
    field(f, PCI_COMMAND, 2, PCI_COMMAND_WMASK, 0);
    put(f, PCI_STATUS, 2, PCI_STATUS_CAP_LIST);
    field(f, PCI_STATUS, 2, 0, PCI_STATUS_W1C);
    put(f, PCI_REVISION, 1, id->revision);
    put(f, PCI_CLASS_PROG, 1, id->class_code & 0xffu);
    put(f, PCI_CLASS_PROG + 1, 2, (id->class_code >> 8) & 0xffffu);
    /* Cache Line Size is read-write for compatibility and has no effect on
     * PCI Express (PCIe Base 4.0 §7.5.1.1.7); Latency Timer is 0. */
    field(f, PCI_CACHE_LINE, 1, 0xff, 0);
    put(f, PCI_HEADER_TYPE, 1, 0x00); /* type 0, single function */
    for (unsigned b = 0; b < CAPDRV_HW_NUM_BARS; b++)
        init_bar(f, b);
    put(f, PCI_SUBSYS_VENDOR, 2, id->subsys_vendor);
    put(f, PCI_SUBSYS_ID, 2, id->subsys_device);
    put(f, PCI_CAP_PTR, 1, SIM_CAP_PCIE);
    /* Interrupt Line is a scratch byte for software; Interrupt Pin is 0:
     * the function signals MSI-X only. */
    field(f, PCI_INT_LINE, 1, 0xff, 0);

    put(f, SIM_CAP_PCIE, 1, PCIE_CAP_ID);
    put(f, SIM_CAP_PCIE + 1, 1, SIM_CAP_MSIX);
    put(f, SIM_CAP_PCIE + PCIE_FLAGS, 2, PCIE_FLAGS_VALUE);
    put(f, SIM_CAP_PCIE + PCIE_DEVCAP, 4, PCIE_DEVCAP_RBER | PCIE_DEVCAP_FLR);
    put(f, SIM_CAP_PCIE + PCIE_DEVCTL, 2, PCIE_DEVCTL_INIT);
    field(f, SIM_CAP_PCIE + PCIE_DEVCTL, 2, PCIE_DEVCTL_WMASK, 0);
    field(f, SIM_CAP_PCIE + PCIE_DEVSTA, 2, 0, PCIE_DEVSTA_W1C);

    put(f, SIM_CAP_MSIX, 1, MSIX_CAP_ID);
    put(f, SIM_CAP_MSIX + 1, 1, 0x00); /* end of list */
    /* Table Size is encoded as N-1 (§6.8.2.3); the BIR is the low 3 bits
     * of the Table/PBA offset registers (§6.8.2.4, §6.8.2.5). */
    put(f, SIM_CAP_MSIX + MSIX_CTRL, 2, (f->n_vectors - 1u) & 0x7ffu);
    field(f, SIM_CAP_MSIX + MSIX_CTRL, 2, MSIX_CTRL_WMASK, 0);
    put(f, SIM_CAP_MSIX + MSIX_TABLE, 4, 0x0u | SIM_MSIX_BAR);
    put(f, SIM_CAP_MSIX + MSIX_PBA, 4, CAPDRV_SIM_MSIX_PBA_OFFSET | SIM_MSIX_BAR);
    f->cap_last = SIM_CAP_MSIX;
    f->cap_free = SIM_CAP_MSIX + 12u; /* MSI-X capability is 12 bytes */

    memcpy(f->init, f->cfg, sizeof f->init);
}

uint32_t sim_pci_add_cap(struct sim_fn *f, const uint8_t *cap, unsigned len,
                         const uint8_t *wmask)
{
    /* Capabilities are dword aligned and live in the PCI-compatible space
     * (PCI Local Bus 3.0 §6.7). */
    uint32_t at = (f->cap_free + 3u) & ~3u;
    if (len < 2 || at + len > SIM_CFG_COMPAT)
        return 0;
    memcpy(&f->cfg[at], cap, len);
    f->cfg[at + 1] = 0x00; /* new end of the list */
    if (wmask)
        memcpy(&f->wmask[at], wmask, len);
    f->wmask[at] = f->wmask[at + 1] = 0; /* ID and next pointer are read-only */
    f->cfg[f->cap_last + 1] = (uint8_t)at;
    memcpy(&f->init[at], &f->cfg[at], len);
    f->init[f->cap_last + 1] = (uint8_t)at;
    f->cap_last = at;
    f->cap_free = at + len;
    return at;
}

static int check_access(uint32_t offset, unsigned width)
{
    if (width != 1 && width != 2 && width != 4)
        return -CAPDRV_EINVAL;
    if (offset & (width - 1u))
        return -CAPDRV_EINVAL;
    if (offset >= SIM_CFG_SIZE) /* aligned, so offset + width <= 4096 too */
        return -CAPDRV_EFAULT;
    return 0;
}

int sim_pci_cfg_read(struct sim_fn *f, uint32_t offset, unsigned width, uint32_t *val)
{
    int rc = check_access(offset, width);
    if (rc < 0)
        return rc;
    *val = (uint32_t)sim_le_get(&f->cfg[offset], width);
    return 0;
}

static bool touches(uint32_t offset, unsigned width, uint32_t at)
{
    return at >= offset && at < offset + width;
}

int sim_pci_cfg_write(struct capdrv_sim *sim, struct sim_fn *f, uint32_t offset, unsigned width,
                      uint32_t val)
{
    int rc = check_access(offset, width);
    if (rc < 0)
        return rc;
    if (offset >= SIM_CFG_COMPAT)
        return 0; /* extended space: all read-only, writes are dropped */
    for (unsigned i = 0; i < width; i++) {
        uint32_t at = offset + i;
        uint8_t b = (uint8_t)(val >> (8 * i));
        uint8_t v = (uint8_t)((f->cfg[at] & ~f->wmask[at]) | (b & f->wmask[at]));
        f->cfg[at] = (uint8_t)(v & ~(b & f->w1c[at]));
    }
    /* Side effects. MSI-X Enable / Function Mask may have unmasked pending
     * vectors, which must now be delivered (PCI Local Bus 3.0 §6.8.3.5). */
    if (touches(offset, width, SIM_CAP_MSIX + MSIX_CTRL + 1))
        sim_irq_update(f);
    /* Initiate Function Level Reset (PCIe Base 4.0 §7.5.3.4, bit 15). */
    uint32_t flr_byte = SIM_CAP_PCIE + PCIE_DEVCTL + 1;
    if (touches(offset, width, flr_byte) &&
        ((val >> (8 * (flr_byte - offset))) & (PCIE_DEVCTL_FLR >> 8)))
        sim_function_reset(sim, f);
    return 0;
}

int sim_pci_cfg_poke(struct sim_fn *f, uint32_t offset, unsigned width, uint32_t val)
{
    int rc = check_access(offset, width);
    if (rc < 0)
        return rc;
    sim_le_put(&f->cfg[offset], width, val);
    return 0;
}

void sim_pci_reset(struct sim_fn *f)
{
    /* FLR returns software-visible state to power-on values (PCIe Base 4.0
     * §6.6.2). Hardware-fixed (read-only) bytes keep whatever they hold, so
     * a test's capdrv_sim_cfg_poke() of a read-only field survives, as a
     * property of the hardware would. BAR addresses go back to the values
     * firmware assigned at enumeration: the sim plays the role of the host's
     * config save/restore around the reset. */
    for (uint32_t i = 0; i < SIM_CFG_COMPAT; i++) {
        uint8_t m = (uint8_t)(f->wmask[i] | f->w1c[i]);
        f->cfg[i] = (uint8_t)((f->cfg[i] & ~m) | (f->init[i] & m));
    }
}

uint16_t sim_pci_read16(const struct sim_fn *f, uint32_t offset)
{
    return (uint16_t)sim_le_get(&f->cfg[offset], 2);
}

void sim_pci_write16_raw(struct sim_fn *f, uint32_t offset, uint16_t v)
{
    sim_le_put(&f->cfg[offset], 2, v);
}

void sim_pci_identity(const struct sim_fn *f, struct capdrv_pci_id *id)
{
    /* What a real platform reports is what config space says, so a test
     * that pokes an identity register sees the poked value here too. */
    id->vendor = (uint16_t)sim_le_get(&f->cfg[PCI_VENDOR_ID], 2);
    id->device = (uint16_t)sim_le_get(&f->cfg[PCI_DEVICE_ID], 2);
    id->subsys_vendor = (uint16_t)sim_le_get(&f->cfg[PCI_SUBSYS_VENDOR], 2);
    id->subsys_device = (uint16_t)sim_le_get(&f->cfg[PCI_SUBSYS_ID], 2);
    id->class_code = (uint32_t)sim_le_get(&f->cfg[PCI_CLASS_PROG], 3);
    id->revision = f->cfg[PCI_REVISION];
}
