/* The template syscall backend: capdrv/sys.h for a kernel that has not
 * been ported yet. Every operation returns -CAPDRV_ENOSYS.
 *
 * A port copies this file and replaces each body with the kernel's system
 * call (or a message to the kernel's driver-authority service): marshal
 * the arguments, trap through tpl_conn(sys)->endpoint, copy the results
 * out. docs/PORTING.md walks through it.
 *
 * The comment above each operation says what the *kernel* must do before
 * it answers - the rules the kernel shim (kernel-shim/) enforces today -
 * and which conformance cases (conformance/cases/) fail when it does not.
 * A kernel that embeds the shim gets all of that by calling the
 * capdrv_shim_sys_* entry point named there (kernel-shim/include/
 * capdrv_shim/core.h) from its syscall handler, with the struct
 * shim_provider of the calling process; this half then only marshals.
 *
 * Rules for every operation:
 * - The kernel identifies the provider (the calling process), never
 *   anything in the message. Handles resolve only in the caller's own
 *   table: -CAPDRV_EBADF for a handle never issued, of the wrong type or
 *   with a generation its slot never had; -CAPDRV_ESTALE for one that was
 *   released, revoked or torn down, even after its slot is reused
 *   (kernel-shim/captable.c, shim_cap_lookup()).
 * - Nothing crosses by pointer: the kernel copies arguments in and results
 *   out. The public wrappers (src/core/sys.c) have refused NULL pointers
 *   already; outputs are defined only on success (capdrv/sys.h).
 * - Return exactly the codes capdrv/sys.h documents; the cases compare
 *   them (-CAPDRV_ESTALE is not -CAPDRV_EBADF is not -CAPDRV_EFAULT).
 * - Copy in and check every argument before acting on it: a request the
 *   kernel cannot make sense of is refused, never half performed. Through
 *   capdrv-managerd, where a socket message stands for the system call,
 *   remote.malformed-messages checks the same for the manager's decoder.
 *
 * Grants of devices that are not PCI functions. A manifest grant may name
 * an MMIO device found in a device tree (`match-mmio`, docs/MANIFEST.md),
 * which the platform reports as hw.h CAPDRV_HW_FN_MMIO with mmio_base,
 * mmio_size and its interrupt lines (irq_line[], n_irq_lines). Such a
 * grant has no PCI address, identity or configuration space: cfg_read and
 * cfg_write answer -CAPDRV_ENOTSUP. Its register region is BAR 0 for
 * windows, and its interrupt line 0 is vector 0. The conformance grants
 * "vmblk" and "vmnet" are such devices (virtio-mmio version 2); the calls
 * below say where the virtio-mmio cases depend on these rules.
 *
 * Case names below are the ids of `capdrv-conformance --list`; a pattern
 * such as nvme.* means every case whose id starts with "nvme." (what
 * --filter matches). The four remote.* cases (remote.death-kill9,
 * remote.revoke-under-load, remote.malformed-messages,
 * remote.two-providers) need provider processes apart from the process
 * that hosts the shim: they run with --platform remote:<inner>, over
 * capdrv-managerd's socket (capdrv/remote.h, docs/MANAGER.md), and skip on
 * other platforms, this one included. They are named at the calls whose
 * rules they check across that process boundary, which is the boundary a
 * kernel port has between every provider and the kernel.
 *
 * Unchanged, `capdrv-conformance --platform template` runs every case
 * against this file and none crashes the runner (ctest test
 * port.template-conformance, label port). A case either fails at the
 * first call it makes, the lookup of its first grant (grant_count: "grant
 * <name>: not implemented by this backend"), or skips before any call:
 * when it needs an observer hook the template platform lacks (device DMA,
 * a direct register read, delayed completion, a network wire end), or a
 * manager in another process (remote.*). docs/PORTING.md, step 7, shows
 * the output. */
#include "template_sys.h"

#include <stddef.h>

static struct capdrv_template_conn *tpl_conn(capdrv_sys *sys)
{
    return (struct capdrv_template_conn *)(void *)sys;
}

/* capdrv_grant_count(). Kernel: count the manifest grants whose
 * `provider` property names the caller (docs/MANIFEST.md); grant_info and
 * grant_open use the same numbering. Another provider's grants are not
 * refused, they are absent.
 * Shim: capdrv_shim_sys_grant_count().
 * Checked by: authority.provider-isolation (provider "other" does not see
 * "dev": capdrv_grant_find() gives -CAPDRV_ENOENT); every case reaches its
 * grants through capdrv_grant_find(), which walks grant_count and
 * grant_info (conf_open() in conformance/cases/common.c). */
static int tpl_grant_count(capdrv_sys *sys)
{
    (void)sys;
    return -CAPDRV_ENOSYS;
}

/* capdrv_grant_info(). Kernel: describe the caller's grant @index: name,
 * class, the lane chosen at boot, the function's address and identity as
 * read from its config space, window count, vectors that may be opened
 * (the manifest's count clamped to the MSI-X table), pool quotas, and
 * whether anyone holds it. -CAPDRV_ENOENT past the caller's last grant.
 * For an MMIO device (hw.h CAPDRV_HW_FN_MMIO) addr and id carry nothing
 * (hw.h: PCI only), and its vectors are its interrupt lines: n_irqs is at
 * most 1 (line 0 = vector 0), 0 when the platform reports no line.
 * Shim: capdrv_shim_sys_grant_info().
 * Checked by: authority.wrong-grant-class ("plain" is ANY_FUNCTION),
 * authority.pool-quota (pool_quota_bytes bounds what can be allocated),
 * nvme.identify-sanity (id.vendor and id.subsys_vendor equal Identify's
 * VID and SSVID), authority.provider-death on machines without "peer"
 * (id.vendor of "bystander" equals its config-space vendor id), and every
 * case through capdrv_grant_find() (name). */
static int tpl_grant_info(capdrv_sys *sys, unsigned index, struct capdrv_grant_info *out)
{
    (void)sys, (void)index, (void)out;
    return -CAPDRV_ENOSYS;
}

/* capdrv_grant_open(). Kernel: claim the grant for the caller and issue a
 * GRANT handle, the parent of everything derived from it. One holder at a
 * time, system-wide (-CAPDRV_EBUSY); claimable again once released,
 * revoked, or its holder is dead. -CAPDRV_ENOENT for an index the caller
 * cannot see.
 * Shim: capdrv_shim_sys_grant_open().
 * Checked by: every case (conf_open()); authority.release-teardown and
 * authority.provider-death (claimable again after release, after death);
 * remote.death-kill9, remote.revoke-under-load and
 * remote.malformed-messages (claimable again by a new connection once the
 * provider process was killed, exited after a revoke, or was torn down for
 * a protocol violation).
 * Exclusivity has no conformance case yet: tests/unit/shim/test_shim_caps.c
 * test_grant_open_is_exclusive. */
static int tpl_grant_open(capdrv_sys *sys, unsigned index, capdrv_cap_t *grant)
{
    (void)sys, (void)index, (void)grant;
    return -CAPDRV_ENOSYS;
}

/* capdrv_grant_lane(). Kernel: the DMA lane chosen for the grant at boot -
 * probe (IOMMU or not), fail-closed select, manifest override
 * (`dma-backend`): DIRECT only where an IOMMU translates for the function,
 * otherwise BROKERED. It never changes while the kernel runs, not even
 * across grant_reset.
 * Shim: capdrv_shim_sys_grant_lane() (chosen in capdrv_shim_create()).
 * Checked by: authority.function-reset (the lane after a reset is the lane
 * the case runs in). The virtio and NVMe libraries read it when they open
 * a device (src/virtio/pci.c, src/virtio/mmio.c, src/nvme/ctrl.c), so
 * virtio-blk.*, virtio-blk-mmio.*, virtio-mmio-blk.*, virtio-net.*,
 * virtio-mmio-net.* and nvme.* depend on it. */
static int tpl_grant_lane(capdrv_sys *sys, capdrv_cap_t grant)
{
    (void)sys, (void)grant;
    return -CAPDRV_ENOSYS;
}

/* capdrv_grant_reset(). Kernel: function-level reset of the granted
 * function first (hw.h function_reset; PCIe Base 4.0 §6.6.2: afterwards
 * the function has no DMA in flight), then revoke every capability derived
 * from the grant - windows, pool, buffers, vectors turn stale - and unmap
 * and scrub the pool's buffers. The grant handle stays valid. A failed
 * reset returns -CAPDRV_EIO, revokes regardless, and the grant's memory
 * never goes back to the allocator (DMA may still run: quarantine).
 * Shim: capdrv_shim_sys_grant_reset().
 * Checked by: authority.function-reset (one more reset, the window handle
 * stale, the lane kept, no DMA afterwards). */
static int tpl_grant_reset(capdrv_sys *sys, capdrv_cap_t grant)
{
    (void)sys, (void)grant;
    return -CAPDRV_ENOSYS;
}

/* capdrv_window_info(). Kernel: window @window of an open grant as the
 * manifest defines it - BAR index, offset inside the BAR, length, access -
 * plus CAPDRV_WINDOW_REGMAP when a device profile restricts the window to
 * its registers. -CAPDRV_ENOENT past the last window. Offsets only: never
 * a host physical address. An MMIO device (hw.h CAPDRV_HW_FN_MMIO) has no
 * BARs: its register region (mmio_base, mmio_size) is reported as BAR 0,
 * so its windows say bar 0 and their offsets count from mmio_base, which
 * the provider never learns.
 * Shim: capdrv_shim_sys_window_info().
 * Checked by: virtio-blk.*, virtio-net.* and nvme.* (the libraries find
 * their registers with it: src/virtio/pci.c, src/nvme/ctrl.c);
 * virtio-mmio-blk.*, virtio-blk-mmio.* and virtio-mmio-net.* (the
 * virtio-mmio transport checks that its window covers the control
 * registers and may be read and written: src/virtio/mmio.c); the values:
 * tests/unit/shim/test_shim_mmio.c test_read_only_window. */
static int tpl_window_info(capdrv_sys *sys, capdrv_cap_t grant, unsigned window,
                           struct capdrv_window_info *out)
{
    (void)sys, (void)grant, (void)window, (void)out;
    return -CAPDRV_ENOSYS;
}

/* capdrv_mmio_open(). Kernel: a DeviceMmio handle for one window of an
 * open grant, its parent the grant (releasing or resetting the grant makes
 * it stale); one handle per window at a time (-CAPDRV_EBUSY). A released
 * window may be opened again and the new handle may reuse the slot, with
 * a new generation: the old handle stays stale.
 * Shim: capdrv_shim_sys_mmio_open().
 * Checked by: authority.stale-handle (re-open after release),
 * authority.out-of-window-mmio, authority.function-reset (a fresh window
 * opens after the reset and works), and every case that touches a device:
 * on an MMIO device window 0 is the whole register block
 * (virtio-mmio-blk.*, virtio-blk-mmio.*, virtio-mmio-net.*). */
static int tpl_mmio_open(capdrv_sys *sys, capdrv_cap_t grant, unsigned window, capdrv_cap_t *mmio)
{
    (void)sys, (void)grant, (void)window, (void)mmio;
    return -CAPDRV_ENOSYS;
}

/* capdrv_mmio_read(). Kernel, in this order: resolve the handle (MMIO,
 * current generation); width 1, 2, 4 or 8 and naturally aligned
 * (-CAPDRV_EINVAL); offset + width inside the window (-CAPDRV_EFAULT); the
 * window's read right (-CAPDRV_EPERM); on a window under a device
 * profile's register map, a register of exactly that width
 * (-CAPDRV_EFAULT) that may be read (-CAPDRV_EPERM). Only then read the
 * BAR (hw.h bar_read; a platform error is -CAPDRV_EIO). Registers the
 * profile keeps for itself (virtio queue addresses, NVMe ASQ/ACQ) read
 * back the provider's reference, never the device address written.
 * Shim: capdrv_shim_sys_mmio_read() (kernel-shim/mmio.c, profiles/).
 * Checked by: authority.stale-handle (-CAPDRV_ESTALE after release and
 * after the slot is reused, -CAPDRV_EBADF for CAPDRV_CAP_INVALID),
 * authority.out-of-window-mmio (-CAPDRV_EFAULT past the window,
 * -CAPDRV_EINVAL misaligned, -CAPDRV_EFAULT off the dmatest register
 * map), authority.provider-isolation (another provider's handle fails),
 * authority.release-teardown and authority.function-reset (stale after
 * the grant's release or reset), dma.brokered-hides-addresses (no
 * register reads back the device address); virtio-blk.reset-recovery,
 * virtio-blk-mmio.reset-recovery and virtio-mmio-blk.reset-recovery (the
 * device status reads back 0 after the reset before the driver starts
 * again); virtio-mmio-blk.irq-completion and
 * virtio-blk-mmio.irq-completion (InterruptStatus is read from the device
 * to learn why the line fired, VIRTIO 1.2 §4.2.3.4). */
static int tpl_mmio_read(capdrv_sys *sys, capdrv_cap_t mmio, uint64_t offset, unsigned width,
                         uint64_t *val)
{
    (void)sys, (void)mmio, (void)offset, (void)width, (void)val;
    return -CAPDRV_ENOSYS;
}

/* capdrv_mmio_write(). Kernel: the checks of mmio_read with the write
 * right, and a value wider than the access is -CAPDRV_EINVAL. Then, by
 * what the device profile says of the register:
 * - a plain register: write the BAR (hw.h bar_write);
 * - a register that holds a DMA address (a queue base, dmatest ADDR):
 *   keep the provider's reference; it reaches the device at the doorbell;
 * - a doorbell ("notify"): before the device register is written, resolve
 *   every DMA reference the doorbell publishes (descriptor chains, PRP
 *   entries and lists, SGLs, queue bases) against the ledger of *this
 *   grant*. Brokered lane: a token of a live buffer of this grant, the
 *   range inside the buffer; the device-visible addresses are written into
 *   shadow memory the provider cannot write. Direct lane: the IOVA range
 *   inside one live buffer of this grant. One bad reference refuses the
 *   whole doorbell with -CAPDRV_EFAULT and the device is not touched.
 *   Doorbells: virtio PCI notify, virtio-mmio QueueNotify (VIRTIO 1.2
 *   §4.2.3.3), NVMe SQ tail doorbells, dmatest CMD;
 * - a reset the profile must see: a virtio device status of 0 (PCI
 *   device_status, virtio-mmio Status) or NVMe CC.EN = 0 retires the
 *   device's queues and their shadows once the device reads back reset;
 * Shim: capdrv_shim_sys_mmio_write() (kernel-shim/mmio.c, ledger.c,
 * profiles/).
 * Checked by: authority.out-of-window-mmio (-CAPDRV_EPERM for a read-only
 * window and a read-only register), authority.stale-handle,
 * dma.fill-integrity, dma.out-of-ledger-refused (past the buffer, a
 * released buffer, another provider's buffer, 0, wrap-around: each
 * -CAPDRV_EFAULT with the device's ADDR register unchanged),
 * dma.rewrite-after-notify, dma.brokered-hides-addresses,
 * dma.direct-validated-iova, irq.completion-polling;
 * virtio-blk.out-of-ledger-refused, virtio-blk-mmio.out-of-ledger and
 * virtio-mmio-blk.out-of-ledger (a descriptor outside the ledger refused
 * at the doorbell, the device untouched); virtio-blk.data-integrity,
 * virtio-blk-mmio.data-integrity, virtio-mmio-blk.data-integrity,
 * virtio-net.tx-to-wire, virtio-net.rx-from-wire,
 * virtio-mmio-net.tx-to-wire and virtio-mmio-net.rx-from-wire (every chain
 * published at a doorbell reaches the device as the provider built it, in
 * both lanes); virtio-blk.reset-recovery, virtio-blk-mmio.reset-recovery
 * and virtio-mmio-blk.reset-recovery (status 0, then a new set of
 * queues); nvme.foreign-token-refused, nvme.freed-buffer-refused,
 * nvme.out-of-ledger-iova-refused (refused at the SQ doorbell);
 * nvme.data-prp and nvme.data-sgl (PRP entries, PRP lists and SGL
 * segments validated, or rewritten into shadow lists, at the doorbell);
 * nvme.io-queue-lifecycle (Create and Delete I/O Queue commands through
 * the admin doorbell); nvme.reset-completes-outstanding (CC.EN = 0);
 * remote.revoke-under-load (a reference to the revoked buffer, published
 * by the provider process before it learns of the revoke, is refused). */
static int tpl_mmio_write(capdrv_sys *sys, capdrv_cap_t mmio, uint64_t offset, unsigned width,
                          uint64_t val)
{
    (void)sys, (void)mmio, (void)offset, (void)width, (void)val;
    return -CAPDRV_ENOSYS;
}

/* capdrv_cfg_read(). Kernel: the granted function's configuration space,
 * offset + width within 4096 (-CAPDRV_EFAULT), width 1, 2 or 4, naturally
 * aligned (-CAPDRV_EINVAL), with the BAR and expansion ROM address bits
 * cleared: they are host physical addresses (PCI Local Bus 3.0 §6.2.5.1;
 * only the flag bits are shown). A grant that is not a PCI function (an
 * MMIO device from a device tree, hw.h CAPDRV_HW_FN_MMIO) has no
 * configuration space: -CAPDRV_ENOTSUP, whatever the offset and width,
 * once the handle has resolved (kernel-shim/grant.c); the platform's
 * cfg_read is not called.
 * Shim: capdrv_shim_sys_cfg_read().
 * Checked by: dma.brokered-hides-addresses (BAR0..5 read as flag bits
 * only); virtio-mmio.no-config-space (-CAPDRV_ENOTSUP on "vmblk");
 * authority.provider-death on machines without "peer" ("bystander" still
 * answers its vendor id). The virtio transport walks the capability list
 * with it (src/virtio/pci.c): virtio-blk.* and virtio-net.*. The virtio-blk
 * and virtio-net drivers pick their transport by it: -CAPDRV_ENOTSUP from
 * a read of offset 0 means virtio-mmio (src/virtio/blk.c,
 * src/virtio/net.c), so virtio-blk-mmio.* and virtio-mmio-net.* need
 * exactly that code. The NVMe library reads COMMAND (src/nvme/ctrl.c):
 * nvme.*. */
static int tpl_cfg_read(capdrv_sys *sys, capdrv_cap_t grant, uint32_t offset, unsigned width,
                        uint32_t *val)
{
    (void)sys, (void)grant, (void)offset, (void)width, (void)val;
    return -CAPDRV_ENOSYS;
}

/* capdrv_cfg_write(). Kernel: COMMAND only (offset 0x04, width 2), and of
 * it only Memory Space, Bus Master and INTx Disable may change (PCI Local
 * Bus 3.0 §6.2.2); every other bit must equal its current value; anything
 * else -CAPDRV_EPERM. Bus Master only for a function with a DMA profile:
 * without a ledger behind the device's addresses no provider may enable
 * DMA. A grant that is not a PCI function (hw.h CAPDRV_HW_FN_MMIO):
 * -CAPDRV_ENOTSUP once the handle has resolved, before the checks above.
 * Shim: capdrv_shim_sys_cfg_write().
 * Checked by: virtio-mmio.no-config-space (-CAPDRV_ENOTSUP for a COMMAND
 * write on "vmblk"); virtio-blk.*, virtio-net.* and nvme.* (the libraries
 * set Memory Space and Bus Master: src/virtio/pci.c, src/nvme/ctrl.c). The
 * refusals of PCI writes have no conformance case yet:
 * tests/unit/shim/test_shim_mmio.c test_config_space_rules. */
static int tpl_cfg_write(capdrv_sys *sys, capdrv_cap_t grant, uint32_t offset, unsigned width,
                         uint32_t val)
{
    (void)sys, (void)grant, (void)offset, (void)width, (void)val;
    return -CAPDRV_ENOSYS;
}

/* capdrv_pool_open(). Kernel: the grant's one DMAPool (-CAPDRV_EBUSY while
 * open), only for the classes dma-capable and nvme-controller with a
 * non-zero quota (-CAPDRV_EACCES: the seed's ProdGrantClass), its parent
 * the grant.
 * Shim: capdrv_shim_sys_pool_open().
 * Checked by: authority.wrong-grant-class (-CAPDRV_EACCES for "plain"),
 * authority.pool-quota; needed by every case that makes DMA happen: the
 * other authority.* cases, dma.*, irq.*, virtio-blk.*, virtio-blk-mmio.*,
 * virtio-mmio-blk.*, virtio-net.*, virtio-mmio-net.*, nvme.*, and the
 * provider processes of remote.*. */
static int tpl_pool_open(capdrv_sys *sys, capdrv_cap_t grant, capdrv_cap_t *pool)
{
    (void)sys, (void)grant, (void)pool;
    return -CAPDRV_ENOSYS;
}

/* capdrv_dma_alloc(). Kernel: size 1 byte .. 1 GiB (-CAPDRV_EINVAL),
 * rounded up to 4096; within the pool's byte and buffer quotas
 * (-CAPDRV_ENOSPC). Allocate DMA memory (hw.h dma_alloc), map it for this
 * grant's function only (hw.h dma_map; in the direct lane at an IOVA the
 * kernel picks, with an unmapped guard page after each buffer), zero it,
 * enter it in the ledger (owner grant and provider), and issue a DMABUF
 * handle whose parent is the pool. In @info: a CPU pointer valid in the
 * *caller's* address space (the kernel maps the pages into the provider;
 * the pointer hw.h returns is the kernel's own mapping), the rounded size,
 * and ref_base: an opaque token in the brokered lane - never an address
 * the device uses - and the IOVA in the direct lane.
 * Shim: capdrv_shim_sys_dma_alloc() (it returns the kernel's CPU pointer:
 * the syscall layer replaces it with the provider's mapping).
 * Checked by: authority.pool-quota (-CAPDRV_ENOSPC beyond the byte quota
 * and once it is used up), dma.fill-integrity (device writes land where
 * the reference says), dma.brokered-hides-addresses (neither ref_base nor
 * the CPU pointer is the device address), dma.direct-validated-iova (the
 * device is given ref_base + offset exactly); virtio-blk.data-integrity,
 * virtio-blk-mmio.data-integrity, virtio-mmio-blk.data-integrity,
 * nvme.data-prp and nvme.data-sgl (reads return what was written, the
 * bytes around the buffer's range untouched); remote.two-providers (a
 * released buffer's bytes never reach the next allocation: it is zeroed;
 * a buffer of one provider is not another's); every other virtio and
 * nvme case allocates its rings and queues with it. */
static int tpl_dma_alloc(capdrv_sys *sys, capdrv_cap_t pool, size_t size, capdrv_cap_t *buf,
                         struct capdrv_dmabuf_info *info)
{
    (void)sys, (void)pool, (void)size, (void)buf, (void)info;
    return -CAPDRV_ENOSYS;
}

/* capdrv_dmabuf_info(). Kernel: what dma_alloc returned, for a live
 * buffer; -CAPDRV_ESTALE once the buffer is released or revoked, its pool
 * or grant released, the grant reset, or the provider dead.
 * Shim: capdrv_shim_sys_dmabuf_info().
 * Checked by: authority.revoke-then-no-dma (stale after a revoke),
 * authority.release-teardown (stale after the grant's release),
 * authority.function-reset (stale after a reset); remote.revoke-under-load
 * (the provider process's next call on the revoked buffer is
 * -CAPDRV_ESTALE); remote.two-providers (a buffer handle of one provider
 * is -CAPDRV_ESTALE or -CAPDRV_EBADF in another's table). */
static int tpl_dmabuf_info(capdrv_sys *sys, capdrv_cap_t buf, struct capdrv_dmabuf_info *info)
{
    (void)sys, (void)buf, (void)info;
    return -CAPDRV_ENOSYS;
}

/* capdrv_irq_open(). Kernel: route MSI-X vector @vector of the granted
 * function to a source only this handle waits on (hw.h irq_enable), the
 * vector unmasked with nothing pending. Vectors 0..n_irqs-1
 * (-CAPDRV_ENOENT), one handle per vector (-CAPDRV_EBUSY), the platform's
 * refusal -CAPDRV_EIO. The provider never writes the MSI-X table: the
 * kernel keeps the table and PBA out of every window. An MMIO device
 * (hw.h CAPDRV_HW_FN_MMIO) has no MSI-X: vector 0 is its interrupt line 0
 * (irq_line[0], e.g. a GIC SPI or a PLIC source) and is the only vector;
 * the line is shared by all of the device's causes, which the provider
 * reads and acknowledges in the device (virtio-mmio InterruptStatus and
 * InterruptACK, VIRTIO 1.2 §4.2.3.4). A level-triggered line fires again
 * while the device holds it asserted (hw.h irq_enable).
 * Shim: capdrv_shim_sys_irq_open().
 * Checked by: irq.completion-interrupt, virtio-blk.irq-completion,
 * virtio-blk-mmio.irq-completion and virtio-mmio-blk.irq-completion
 * (vector 0 = the device's line), authority.release-teardown (stale after
 * the grant's release); nvme.io-queue-lifecycle and the other nvme.* cases
 * (the NVMe library opens a vector per queue it creates: src/nvme/ctrl.c,
 * src/nvme/qpair.c). */
static int tpl_irq_open(capdrv_sys *sys, capdrv_cap_t grant, unsigned vector, capdrv_cap_t *irq)
{
    (void)sys, (void)grant, (void)vector, (void)irq;
    return -CAPDRV_ENOSYS;
}

/* capdrv_irq_wait(). Kernel: n of 1..64 (-CAPDRV_EINVAL); resolve every
 * handle first (a bad one returns its error and nothing is waited). If
 * none is pending, block the calling thread - not the kernel, not other
 * providers - until one fires or the timeout passes (0 polls, negative
 * waits without bound; hw.h irq_wait). An interrupt that fired while
 * nobody waited stays pending per vector. After waking, resolve the
 * handles again: a revoke during the wait gives -CAPDRV_ESTALE. Return
 * how many are pending and set bit i of *ready for irqs[i];
 * -CAPDRV_ETIMEDOUT when none. Waiting does not consume: a vector stays
 * pending until irq_ack.
 * Shim: capdrv_shim_sys_irq_wait() (blocks in hw.h irq_wait without the
 * shim's lock).
 * Checked by: irq.completion-interrupt (1 pending, mask 1; after the ack
 * a poll gives -CAPDRV_ETIMEDOUT), authority.release-teardown
 * (-CAPDRV_ESTALE), virtio-blk.irq-completion,
 * virtio-blk-mmio.irq-completion and virtio-mmio-blk.irq-completion (an
 * MMIO device's line as vector 0). The NVMe library measures time in
 * irq_wait timeouts (docs/ARCHITECTURE.md, "NVMe library"), so nvme.*
 * needs timeouts honoured: nvme.reset-completes-outstanding waits out
 * commands that never complete. */
static int tpl_irq_wait(capdrv_sys *sys, const capdrv_cap_t *irqs, unsigned n, int64_t timeout_ns,
                        uint64_t *ready)
{
    (void)sys, (void)irqs, (void)n, (void)timeout_ns, (void)ready;
    return -CAPDRV_ENOSYS;
}

/* capdrv_irq_ack(). Kernel: clear the vector's pending state.
 * Shim: capdrv_shim_sys_irq_ack().
 * Checked by: irq.completion-interrupt (after the ack a poll times out);
 * virtio-blk.irq-completion, virtio-blk-mmio.irq-completion and
 * virtio-mmio-blk.irq-completion (the virtio libraries ack every vector
 * they wait on, after acknowledging the cause in the device on an MMIO
 * line); the NVMe library does the same (nvme.*). */
static int tpl_irq_ack(capdrv_sys *sys, capdrv_cap_t irq)
{
    (void)sys, (void)irq;
    return -CAPDRV_ENOSYS;
}

/* capdrv_irq_mask(). Kernel: mask or unmask the vector (hw.h irq_mask): a
 * masked vector latches in the PBA and fires at unmask. The mask survives
 * a reset the kernel performs on its own (quiesce on release or revoke):
 * the vector is routed again in the state the provider left it.
 * Shim: capdrv_shim_sys_irq_mask().
 * Checked by: no conformance case yet; tests/unit/shim/
 * test_shim_teardown.c test_masked_interrupt_stays_masked_across_quiesce. */
static int tpl_irq_mask(capdrv_sys *sys, capdrv_cap_t irq, bool masked)
{
    (void)sys, (void)irq, (void)masked;
    return -CAPDRV_ENOSYS;
}

/* capdrv_cap_release(). Kernel: release the capability and everything
 * derived from it, children first. A grant: quiesce the function
 * (function reset), release its windows, vectors (hw.h irq_disable), pool
 * and buffers, then drop the claim. A pool: its buffers. A buffer the
 * device may still use (published at a doorbell, the device not idle):
 * reset the function first. Every buffer leaves in this order: unmap from
 * the device (hw.h dma_unmap), scrub, free (hw.h dma_free, which is where
 * a port also removes the provider's mapping: docs/PORTING.md, step 4),
 * or quarantine when the unmap or a reset failed. Every released slot's
 * generation moves on, so old handles are stale, not forged.
 * Shim: capdrv_shim_sys_cap_release() (kernel-shim/teardown.c).
 * Checked by: authority.stale-handle, authority.release-teardown (one
 * release of the grant makes window, buffer and vector stale, the grant
 * claimable again, no DMA afterwards), dma.out-of-ledger-refused and
 * nvme.freed-buffer-refused (a released buffer's reference is refused at
 * the doorbell), remote.two-providers (a released buffer is scrubbed
 * before its memory is handed out again). */
static int tpl_cap_release(capdrv_sys *sys, capdrv_cap_t cap)
{
    (void)sys, (void)cap;
    return -CAPDRV_ENOSYS;
}

/* capdrv_sys_close(): provider death. Kernel: exactly what it does when
 * the provider's process dies - which it must do without any call:
 * release every grant the provider holds with everything derived, as
 * cap_release does, with device work possibly in flight; other providers
 * are unaffected. Then close the connection.
 * Shim: capdrv_shim_provider_detach().
 * Checked by: authority.provider-death (a command in flight at death, no
 * DMA afterwards, no buffer left, the other provider's window still works,
 * the grant claimable by a new connection); remote.death-kill9 (the same
 * for a provider process killed with SIGKILL, which never calls close:
 * the device quiesced by a reset, the ledger released and scrubbed);
 * remote.malformed-messages (a provider that breaks the protocol is torn
 * down the same way, its grant released).
 * The template has nothing to tear down; it marks the connection closed
 * (the caller owns the storage). */
static void tpl_close(capdrv_sys *sys)
{
    tpl_conn(sys)->endpoint = 0;
}

static const struct capdrv_sys_ops template_ops = {
    .grant_count = tpl_grant_count, .grant_info = tpl_grant_info, .grant_open = tpl_grant_open,
    .grant_lane = tpl_grant_lane, .grant_reset = tpl_grant_reset, .window_info = tpl_window_info,
    .mmio_open = tpl_mmio_open, .mmio_read = tpl_mmio_read, .mmio_write = tpl_mmio_write,
    .cfg_read = tpl_cfg_read, .cfg_write = tpl_cfg_write, .pool_open = tpl_pool_open,
    .dma_alloc = tpl_dma_alloc, .dmabuf_info = tpl_dmabuf_info, .irq_open = tpl_irq_open,
    .irq_wait = tpl_irq_wait, .irq_ack = tpl_irq_ack, .irq_mask = tpl_irq_mask,
    .cap_release = tpl_cap_release, .close = tpl_close,
};

/* Kernel: open the caller's channel to the capability interface and bind
 * it to the provider identity the kernel holds for the calling process;
 * the grants it sees are those whose `provider` property names that
 * identity (-CAPDRV_ENOENT when none does). The name argument exists
 * because the conformance runner plays two providers ("conf" and "other")
 * from one process; a kernel with per-process identities checks that the
 * caller may act as @provider.
 * Shim: capdrv_shim_provider_attach().
 * Checked by: every case (platform setup connects both providers);
 * authority.provider-isolation; remote.two-providers (through
 * capdrv-managerd: one live connection per provider name, a second one
 * -CAPDRV_EBUSY, an unknown name -CAPDRV_ENOENT); authority.provider-death
 * and remote.death-kill9 (a restarted provider connects again). */
int capdrv_template_connect(struct capdrv_template_conn *conn, const char *provider,
                            capdrv_sys **sys)
{
    if (!conn || !provider || !sys)
        return -CAPDRV_EINVAL;
    size_t len = 0;
    while (len < CAPDRV_NAME_MAX && provider[len])
        len++;
    if (len == 0 || len >= CAPDRV_NAME_MAX)
        return -CAPDRV_EINVAL;
    conn->sys.ops = &template_ops;
    conn->endpoint = 0; /* a port stores its endpoint here */
    *sys = &conn->sys;
    return 0;
}
