/* PCI capability-list walk over an untrusted configuration space: find the
 * MSI-X capability (PCI Local Bus 3.0 §6.7 list, §6.8.2 MSI-X layout). */
#include "shim_internal.h"

#include "util.h"

#define PCI_STATUS 0x06
#define PCI_STATUS_CAP_LIST 0x10
#define PCI_CAP_PTR 0x34
#define PCI_CAP_ID_MSIX 0x11
#define PCI_CAP_FIRST 0x40 /* capabilities live after the 64-byte header */
#define PCI_CAP_END 0x100
/* At most (256 - 64) / 4 capabilities fit: a longer walk is a loop. */
#define PCI_CAP_MAX_WALK ((PCI_CAP_END - PCI_CAP_FIRST) / 4)

static int cfg8(struct capdrv_shim *shim, unsigned fn, uint32_t off, uint32_t *v)
{
    return shim->hw.ops->cfg_read(shim->hw.ctx, fn, off, 1, v);
}

static void why_msix(char *why, size_t n, const struct shim_grant *g, const char *msg)
{
    shim_str_set(why, n, "grant ", g->m->name);
    shim_str_append(why, n, ": malformed config space: ");
    shim_str_append(why, n, msg);
}

int shim_pci_find_msix(struct capdrv_shim *shim, struct shim_grant *g, char *why, size_t why_len)
{
    unsigned fn = g->hw_fn;
    uint32_t status, ptr;
    g->msix.present = false;
    g->msix.table_size = 0;
    if (shim->hw.ops->cfg_read(shim->hw.ctx, fn, PCI_STATUS, 2, &status) < 0)
        return -CAPDRV_EIO;
    if (!(status & PCI_STATUS_CAP_LIST))
        return 0; /* no capabilities: no MSI-X, no interrupts */
    if (cfg8(shim, fn, PCI_CAP_PTR, &ptr) < 0)
        return -CAPDRV_EIO;
    for (unsigned walked = 0; ptr != 0; walked++) {
        ptr &= 0xfc; /* the bottom two bits are reserved (§6.7) */
        if (ptr < PCI_CAP_FIRST || walked >= PCI_CAP_MAX_WALK) {
            why_msix(why, why_len, g, walked >= PCI_CAP_MAX_WALK ? "capability list loops"
                                                                  : "capability pointer into the header");
            return -CAPDRV_EPROTO;
        }
        uint32_t id, next;
        if (cfg8(shim, fn, ptr, &id) < 0 || cfg8(shim, fn, ptr + 1, &next) < 0)
            return -CAPDRV_EIO;
        if (id == PCI_CAP_ID_MSIX) {
            uint32_t ctrl, table, pba;
            if (ptr + 12 > PCI_CAP_END)
                break; /* truncated capability: treated as malformed below */
            if (shim->hw.ops->cfg_read(shim->hw.ctx, fn, ptr + 2, 2, &ctrl) < 0 ||
                shim->hw.ops->cfg_read(shim->hw.ctx, fn, ptr + 4, 4, &table) < 0 ||
                shim->hw.ops->cfg_read(shim->hw.ctx, fn, ptr + 8, 4, &pba) < 0)
                return -CAPDRV_EIO;
            struct shim_msix x = {
                .present = true,
                .table_size = (ctrl & 0x7ffu) + 1u, /* encoded as N-1 */
                .table_bar = table & 7u,
                .table_off = table & ~7u,
                .pba_bar = pba & 7u,
                .pba_off = pba & ~7u,
            };
            if (x.table_bar >= CAPDRV_HW_NUM_BARS || x.pba_bar >= CAPDRV_HW_NUM_BARS ||
                !(g->fn.bar_flags[x.table_bar] & CAPDRV_HW_BAR_MEM) ||
                !(g->fn.bar_flags[x.pba_bar] & CAPDRV_HW_BAR_MEM) ||
                !shim_range_within(x.table_off, (uint64_t)x.table_size * 16u, g->fn.bar_size[x.table_bar]) ||
                !shim_range_within(x.pba_off, ((x.table_size + 63u) / 64u) * 8u, g->fn.bar_size[x.pba_bar])) {
                why_msix(why, why_len, g, "MSI-X table or PBA outside a memory BAR");
                return -CAPDRV_EPROTO;
            }
            g->msix = x;
            return 0;
        }
        ptr = next;
    }
    if (ptr != 0) {
        why_msix(why, why_len, g, "truncated MSI-X capability");
        return -CAPDRV_EPROTO;
    }
    return 0;
}
