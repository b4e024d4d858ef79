/**
 * @file capdrv/sim.h
 * @brief The "sim" platform: an in-process, deterministic simulated PCI
 *        machine implementing include/capdrv/hw.h, with a DMA oracle.
 *
 * A simulator instance is a small PCI machine: functions you add to it
 * (dmatest devices, virtio-blk and virtio-net devices, plain "scratch"
 * functions),
 * DMA-able memory with simulated physical addresses, an optional IOMMU,
 * MSI-X interrupts and a simulated clock. capdrv_sim_hw() returns the
 * `struct capdrv_hw` to give to the kernel shim; the other calls here are
 * for tests: build hostile config
 * spaces, inject device faults, move simulated time, and ask the DMA oracle
 * whether any device touched memory it was not mapped to reach.
 *
 * Properties tests can rely on:
 * - **Deterministic.** Nothing depends on the host clock or on scheduling.
 *   Simulated time (ns, starting at 0) moves only in capdrv_sim_advance()
 *   and in the platform's irq_wait(), which runs device events in time order
 *   (ties in function order) instead of sleeping.
 * - **DMA oracle.** Every device-initiated memory access goes through one
 *   check: it must lie entirely inside ONE region currently mapped (dma_map)
 *   for THAT function; with an IOMMU the address is an IOVA of that
 *   function's map, without one it is a simulated physical address. Any
 *   other access is refused (the device sees a fault), counted and recorded
 *   (capdrv_sim_oracle_violations(), capdrv_sim_oracle_last()).
 * - **Addresses are not pointers.** Simulated physical addresses start at
 *   CAPDRV_SIM_DMA_PHYS_BASE (above 4 GiB), are never reused, and leave an
 *   unmapped page between regions, so a stale or off-by-one device address
 *   always faults.
 * - **No global state.** Instances are independent. Every call on one
 *   instance is serialised by an internal lock, so the platform operations
 *   may be called from several threads (the shim waits without its lock).
 *
 * Each function has a 4 KiB configuration space with a type-0 header
 * (PCI Local Bus 3.0 §6.1), a capability list at 0x40: PCI Express
 * capability (PCIe Base 4.0 §7.5.3, advertising FLR) followed by MSI-X
 * (PCI Local Bus 3.0 §6.8.2: table at BAR2 offset 0, PBA at BAR2 offset
 * 0x800, 2 vectors), and two 32-bit memory BARs: BAR0 (4 KiB, device
 * registers) and BAR2 (4 KiB, MSI-X table and PBA). A virtio function
 * differs: 16 KiB BAR0, num_queues + 1 vectors, and virtio vendor
 * capabilities after MSI-X (capdrv_sim_add_virtio_blk()).
 *
 * Example (a test driving a dmatest device directly through the platform;
 * error handling shortened):
 * @code
 * #include <capdrv/dev/dmatest.h>
 *
 * static unsigned long fill_once(void)
 * {
 *     struct capdrv_sim *sim;
 *     struct capdrv_sim_config cfg = {.iommu = false};
 *     struct capdrv_pci_addr a = {.domain = 0, .bus = 0, .dev = 3, .fn = 0};
 *     unsigned fn;
 *     if (capdrv_sim_create(&cfg, &sim) < 0)
 *         return 1;
 *     capdrv_sim_add_dmatest(sim, &a, &fn);
 *     struct capdrv_hw hw = capdrv_sim_hw(sim);  // or give this to the shim
 *
 *     struct capdrv_hw_dma mem;
 *     uint64_t dev;
 *     hw.ops->dma_alloc(hw.ctx, 4096, &mem);
 *     hw.ops->dma_map(hw.ctx, fn, &mem, 0, &dev);
 *     hw.ops->irq_enable(hw.ctx, fn, 0);
 *     hw.ops->bar_write(hw.ctx, fn, 0, CAPDRV_DMATEST_ADDR, 8, dev);
 *     hw.ops->bar_write(hw.ctx, fn, 0, CAPDRV_DMATEST_LEN, 4, 4096);
 *     hw.ops->bar_write(hw.ctx, fn, 0, CAPDRV_DMATEST_DELAY_NS, 4, 1000);
 *     hw.ops->bar_write(hw.ctx, fn, 0, CAPDRV_DMATEST_CMD, 4, CAPDRV_DMATEST_CMD_FILL);
 *     struct capdrv_hw_irq src = {.fn = fn, .vector = 0};
 *     uint64_t ready;
 *     hw.ops->irq_wait(hw.ctx, &src, 1, -1, &ready);  // runs time to 1000 ns
 *     unsigned long bad = capdrv_sim_oracle_violations(sim);  // 0: DMA stayed mapped
 *     hw.ops->dma_unmap(hw.ctx, fn, &mem, dev);
 *     hw.ops->dma_free(hw.ctx, &mem);
 *     capdrv_sim_destroy(sim);
 *     return bad;
 * }
 * @endcode
 */
#ifndef CAPDRV_SIM_H
#define CAPDRV_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <capdrv/error.h>
#include <capdrv/hw.h>
#include <capdrv/sys.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A simulated machine (opaque). */
struct capdrv_sim;

/** Default capdrv_sim_config::dma_limit: 256 MiB. */
#define CAPDRV_SIM_DEFAULT_DMA_LIMIT ((size_t)256 << 20)

/** Most functions one machine may hold. */
#define CAPDRV_SIM_MAX_FUNCTIONS 256u

/** First simulated physical address handed out by dma_alloc(). Above 4 GiB
 *  and with non-zero low 32 bits, so neither the address nor a truncated
 *  copy of it looks like a small number or a zero register. */
#define CAPDRV_SIM_DMA_PHYS_BASE 0x000000135a7c0000ull

/** Offset of BAR2 at which dmatest and scratch functions place the PBA. */
#define CAPDRV_SIM_MSIX_PBA_OFFSET 0x800u

/** Machine configuration (capdrv_sim_create()). Zero-initialise it. */
struct capdrv_sim_config {
    bool iommu;       /**< report CAPDRV_HW_IOMMU; dma_map() honours IOVAs per function */
    size_t dma_limit; /**< bytes of live DMA memory allowed; 0 = CAPDRV_SIM_DEFAULT_DMA_LIMIT */
};

/** One refused device access (capdrv_sim_oracle_last()). */
struct capdrv_sim_violation {
    unsigned fn;      /**< platform function number of the device */
    uint64_t devaddr; /**< device address it used (IOVA or simulated physical) */
    uint64_t len;     /**< bytes of the access */
    bool is_write;    /**< true: device wrote memory; false: device read it */
    uint64_t now_ns;  /**< simulated time of the access */
};

/** Injectable misbehaviour of a dmatest function (capdrv_sim_dmatest_set_fault()). */
enum capdrv_sim_dmatest_fault {
    CAPDRV_SIM_DMATEST_FAULT_NONE = 0,      /**< behave per include/capdrv/dev/dmatest.h */
    CAPDRV_SIM_DMATEST_FAULT_ROGUE_DMA = 1, /**< DMA to ADDR + 1 MiB instead of ADDR */
    CAPDRV_SIM_DMATEST_FAULT_NO_IRQ = 2,    /**< complete, but raise no interrupt */
    CAPDRV_SIM_DMATEST_FAULT_STUCK = 3,     /**< accept a command, never complete it (BUSY until reset) */
    CAPDRV_SIM_DMATEST_FAULT_DEAD = 4       /**< BAR0 reads return all-ones (surprise removal) */
};

/** DMA bookkeeping of the platform (capdrv_sim_dma_stats()). */
struct capdrv_sim_dma_stats {
    size_t regions;  /**< live dma_alloc() regions */
    size_t bytes;    /**< their total size */
    size_t mappings; /**< live dma_map() mappings, all functions */
};

/**
 * @brief Create a simulated machine with no functions.
 * @param cfg configuration, or NULL for the defaults (no IOMMU, 256 MiB).
 * @param out receives the machine.
 * @return 0, -CAPDRV_EINVAL if @p out is NULL, or -CAPDRV_ENOMEM.
 */
int capdrv_sim_create(const struct capdrv_sim_config *cfg, struct capdrv_sim **out);

/**
 * @brief Destroy a machine, freeing all DMA memory still allocated.
 * @param sim the machine, or NULL (nothing happens).
 */
void capdrv_sim_destroy(struct capdrv_sim *sim);

/**
 * @brief The platform interface of a machine, to hand to the kernel shim.
 * @param sim the machine.
 * @return the operations (every member implemented) and @p sim as context;
 *         both members are NULL when @p sim is NULL.
 */
struct capdrv_hw capdrv_sim_hw(struct capdrv_sim *sim);

/**
 * @brief Add a dmatest function (include/capdrv/dev/dmatest.h).
 * @param sim the machine.
 * @param addr its bus address (dev 0..31, fn 0..7), unique in the machine.
 * @param fn_out receives the platform function number (may be NULL).
 * @return 0, -CAPDRV_EINVAL for a bad argument, -CAPDRV_EEXIST if @p addr
 *         is taken, -CAPDRV_ENOSPC past CAPDRV_SIM_MAX_FUNCTIONS, -CAPDRV_ENOMEM.
 */
int capdrv_sim_add_dmatest(struct capdrv_sim *sim, const struct capdrv_pci_addr *addr,
                           unsigned *fn_out);

/**
 * @brief Add a plain function: BAR0 is a 4 KiB register file (a read
 *        returns what was last written, widths 1/2/4/8), BAR2 holds MSI-X
 *        (2 vectors). It never DMAs or interrupts on its own; see
 *        capdrv_sim_device_dma() and capdrv_sim_irq_raise().
 * @param sim the machine.
 * @param addr its bus address, unique in the machine.
 * @param vendor PCI vendor id.
 * @param device PCI device id.
 * @param class_code 24-bit class code (base class, subclass, prog-if).
 * @param fn_out receives the platform function number (may be NULL).
 * @return as capdrv_sim_add_dmatest(); -CAPDRV_EINVAL if @p class_code has
 *         more than 24 bits.
 */
int capdrv_sim_add_scratch(struct capdrv_sim *sim, const struct capdrv_pci_addr *addr,
                           uint16_t vendor, uint16_t device, uint32_t class_code,
                           unsigned *fn_out);

/**
 * @brief Overwrite raw configuration-space bytes, ignoring read-only-ness
 *        and side effects (to build hostile config spaces). Read-only bytes
 *        keep the poked value across function resets; writable ones return
 *        to their power-on value.
 * @param sim the machine.
 * @param fn platform function number.
 * @param offset byte offset, aligned to @p width.
 * @param width 1, 2 or 4.
 * @param value little-endian value to store.
 * @return 0, -CAPDRV_ENOENT for an unknown function, -CAPDRV_EINVAL for a
 *         bad width or alignment, -CAPDRV_EFAULT past 4096.
 */
int capdrv_sim_cfg_poke(struct capdrv_sim *sim, unsigned fn, uint32_t offset, unsigned width,
                        uint32_t value);

/**
 * @brief Make a dmatest function misbehave. The fault stays until set back
 *        to NONE; function resets do not clear it.
 * @param sim the machine.
 * @param fn platform function number of a dmatest function.
 * @param fault the misbehaviour.
 * @return 0, -CAPDRV_ENOENT for an unknown function, -CAPDRV_ENODEV if it
 *         is not a dmatest, -CAPDRV_EINVAL for an unknown fault.
 */
int capdrv_sim_dmatest_set_fault(struct capdrv_sim *sim, unsigned fn,
                                 enum capdrv_sim_dmatest_fault fault);

/* ---- virtio-blk (VIRTIO 1.2 §4.1 PCI modern transport, §5.2 block) ------ */

/* Where the virtio-blk function places its structures in BAR0 (16 KiB).
 * Drivers find them through the vendor capabilities (§4.1.4), not here. */
#define CAPDRV_SIM_VIRTIO_BAR0_SIZE 0x4000u   /**< BAR0 size of a virtio function */
#define CAPDRV_SIM_VIRTIO_COMMON_OFF 0x0000u  /**< common configuration (length 0x40) */
#define CAPDRV_SIM_VIRTIO_COMMON_LEN 0x40u    /**< its capability length */
#define CAPDRV_SIM_VIRTIO_ISR_OFF 0x1000u     /**< ISR status (length 4) */
#define CAPDRV_SIM_VIRTIO_ISR_LEN 4u          /**< its capability length */
#define CAPDRV_SIM_VIRTIO_DEVICE_OFF 0x2000u  /**< device configuration (length 0x1000) */
#define CAPDRV_SIM_VIRTIO_DEVICE_LEN 0x1000u  /**< its capability length */
#define CAPDRV_SIM_VIRTIO_NOTIFY_OFF 0x3000u  /**< notifications (length 0x1000) */
#define CAPDRV_SIM_VIRTIO_NOTIFY_LEN 0x1000u  /**< its capability length */
/** notify_off_multiplier; queue q's queue_notify_off is q (doorbell at NOTIFY_OFF + 4q). */
#define CAPDRV_SIM_VIRTIO_NOTIFY_MULT 4u
/** Most request queues of a simulated virtio-blk. */
#define CAPDRV_SIM_VIRTIO_MAX_QUEUES 8u
/** Largest queue_size_max of a simulated virtio-blk. */
#define CAPDRV_SIM_VIRTIO_QSIZE_MAX 1024u
/** Simulated latency of CAPDRV_SIM_VIRTIO_FAULT_DELAY, in ns. */
#define CAPDRV_SIM_VIRTIO_DELAY_NS 10000u
/** GET_ID string of a simulated virtio-blk (NUL padded to 20 bytes). */
#define CAPDRV_SIM_VIRTIO_BLK_SERIAL "capdrv-sim-blk"

/** Shape of a simulated virtio-blk (capdrv_sim_add_virtio_blk()); zero fields take defaults. */
struct capdrv_sim_virtio_blk_config {
    /** 512-byte sectors. Memory-backed (zeroed): 0 -> 2048. File-backed:
     *  0 -> the file's size / 512 (rounded down; must be >= 1); otherwise
     *  the file is extended with ftruncate() if shorter, never shrunk. */
    uint64_t capacity_sectors;
    unsigned num_queues;       /**< request queues 1..8; > 1 offers VIRTIO_BLK_F_MQ; 0 -> 1 */
    unsigned queue_size_max;   /**< power of two <= 1024; 0 -> 256 */
    uint32_t seg_max;          /**< seg_max, advertised and enforced: with SEG_MAX negotiated
                                    an IN/OUT request of more than seg_max + 2 descriptors
                                    (header and status included) fails with IOERR; 0 -> 126 */
    uint64_t features_clear;   /**< feature bits NOT to offer (test knob) */
    /** NULL: a memory disk. Otherwise the path of an existing regular
     *  file, opened read-write, that holds the disk from offset 0; all
     *  its I/O goes through io_uring (liburing). Only read during
     *  capdrv_sim_add_virtio_blk(). */
    const char *backing_file;
};

/**
 * Injectable misbehaviour of a virtio function (capdrv_sim_virtio_set_fault()).
 * Faults act when a request queue is processed (at a notify, or at the
 * delayed event for DELAY), on every request while set. On a virtio-net
 * they act on both queues: the receiveq is processed whenever the device
 * delivers frames (its notify, a frame from the wire, DRIVER_OK with
 * frames waiting), so DELAY also defers reception and the completion
 * faults also corrupt receive completions. IOERR is blk-only.
 */
enum capdrv_sim_virtio_fault {
    /** Behave per the spec. */
    CAPDRV_SIM_VIRTIO_FAULT_NONE = 0,
    /** Complete every request with VIRTIO_BLK_S_IOERR; no data moves (virtio-blk only). */
    CAPDRV_SIM_VIRTIO_FAULT_IOERR = 1,
    /** A notify schedules the work CAPDRV_SIM_VIRTIO_DELAY_NS later (a
     *  device event run by capdrv_sim_advance() or irq_wait()) instead of
     *  doing it inside the doorbell write. */
    CAPDRV_SIM_VIRTIO_FAULT_DELAY = 2,
    /** Write the used elements of each batch in reverse order. */
    CAPDRV_SIM_VIRTIO_FAULT_REORDER = 3,
    /** Used id = head + Queue Size (out of range). */
    CAPDRV_SIM_VIRTIO_FAULT_USED_ID_RANGE = 4,
    /** Used len = device-writable bytes posted + 1. */
    CAPDRV_SIM_VIRTIO_FAULT_USED_LEN = 5,
    /** Write every used element twice (double completion). */
    CAPDRV_SIM_VIRTIO_FAULT_DOUBLE = 6,
    /** At the next notify, complete nothing, set DEVICE_NEEDS_RESET and
     *  send a configuration change notification. */
    CAPDRV_SIM_VIRTIO_FAULT_NEEDS_RESET = 7
};

/**
 * @brief Add a virtio-blk function: VIRTIO 1.2 PCI modern transport (§4.1)
 *        and block device (§5.2), backed by zeroed memory or by a file.
 *
 * Identity: vendor 0x1af4, device 0x1042, revision 1, subsystem
 * 0x1af4/0x1100, class 0x010000. BAR0 (16 KiB) holds the common
 * configuration, ISR, device configuration and notify structures at the
 * CAPDRV_SIM_VIRTIO_*_OFF offsets; BAR2 holds MSI-X with num_queues + 1
 * vectors. Vendor capabilities (ID 0x09, §4.1.4) for COMMON, NOTIFY, ISR,
 * DEVICE and PCI_CFG are chained after the MSI-X capability. The PCI_CFG
 * capability (§4.1.4.9) is present with writable bar/offset/length/data
 * fields, but accesses through pci_cfg_data do not reach the BAR (not
 * implemented: data reads what was written).
 *
 * Offered features: VERSION_1, ACCESS_PLATFORM, INDIRECT_DESC, EVENT_IDX,
 * BLK_SEG_MAX, BLK_BLK_SIZE (512), BLK_FLUSH, BLK_MQ (num_queues > 1),
 * BLK_DISCARD, BLK_WRITE_ZEROES, minus @p cfg->features_clear.
 *
 * Behaviour (the rules a driver can rely on and be tested against):
 * - Registers are decoded only at their own offset and width (§4.1.3.1;
 *   64-bit queue addresses also as two 32-bit halves); anything else reads
 *   0 and writes are dropped.
 * - device_status: writing 0 resets the device (features, queues, ISR,
 *   vectors to NO_VECTOR) and reads back 0 at once. Setting FEATURES_OK
 *   with driver features that were not offered or lack VERSION_1 leaves it
 *   clear (§3.1.1 step 6). DEVICE_NEEDS_RESET is the device's: writes do
 *   not change it. Requests are processed only while DRIVER_OK and
 *   FEATURES_OK are set; notifies before that are dropped (§3.1.1).
 * - queue_size accepts powers of two up to the maximum; queue_enable
 *   accepts only 1, before DRIVER_OK; queue fields are frozen once the
 *   queue is enabled. MSI-X vectors beyond the table read back NO_VECTOR.
 * - A 16- or 32-bit write at notify + 4*q processes queue q synchronously:
 *   every new available entry, chains walked with bounds (direct and
 *   indirect; at most Queue Size + 1 descriptors; device-readable before
 *   device-writable). A malformed ring or chain, or a ring access the DMA
 *   oracle refuses, sets DEVICE_NEEDS_RESET (plus a configuration change
 *   notification) and stops the device until reset; it never crashes.
 * - Requests (§5.2.6): IN, OUT (whole sectors, inside the capacity, else
 *   IOERR), FLUSH, GET_ID, DISCARD and WRITE_ZEROES (at most 16 ranges of
 *   at most 65536 sectors; unknown flags or UNMAP on DISCARD -> UNSUPP;
 *   both zero the ranges); types not offered or negotiated -> UNSUPP. A
 *   data access the oracle refuses -> IOERR. Used len = data bytes the
 *   device wrote + 1 (the status byte).
 * - File-backed disks (cfg->backing_file): the requests are executed
 *   synchronously inside request processing with io_uring: IN/OUT as
 *   file reads/writes (short transfers continued; a failure or no
 *   progress -> IOERR), FLUSH as fsync, DISCARD and WRITE_ZEROES with
 *   UNMAP as fallocate(PUNCH_HOLE|KEEP_SIZE), WRITE_ZEROES without UNMAP
 *   as fallocate(ZERO_RANGE|KEEP_SIZE), falling back to writing zeroes
 *   where the file system has neither. Data still moves between the file
 *   and guest memory through the DMA oracle (via a bounce buffer). The
 *   io_uring instance and the file are closed by capdrv_sim_destroy(); the
 *   file is not synced then (FLUSH does that).
 * - Used-buffer notifications honour EVENT_IDX (used_event) or
 *   VRING_AVAIL_F_NO_INTERRUPT; with EVENT_IDX the device writes
 *   avail_event = its next available index. A notification sets ISR bit 0
 *   and signals queue_msix_vector; configuration changes set ISR bit 1 and
 *   signal config_msix_vector.
 *
 * @param sim the machine.
 * @param addr its bus address, unique in the machine.
 * @param cfg shape, or NULL for the defaults.
 * @param fn_out receives the platform function number (may be NULL).
 * @return as capdrv_sim_add_dmatest(); -CAPDRV_EINVAL also for num_queues
 *         > 8, a queue_size_max that is not a power of two <= 1024, or a
 *         capacity whose byte size overflows (memory: size_t; file: beyond
 *         INT64_MAX bytes); -CAPDRV_ENOMEM when the backing memory cannot
 *         be allocated. With a backing file also: -CAPDRV_ENOTSUP if
 *         io_uring is unavailable (disabled in the kernel, refused by a
 *         container or seccomp policy; the file is then left untouched),
 *         -CAPDRV_ENOENT if it does not exist, -CAPDRV_EACCES if it cannot
 *         be opened read-write, -CAPDRV_EINVAL if it is not a regular file
 *         or capacity 0 finds it shorter than one sector, -CAPDRV_EIO if
 *         it cannot be extended or another host error occurs.
 */
int capdrv_sim_add_virtio_blk(struct capdrv_sim *sim, const struct capdrv_pci_addr *addr,
                              const struct capdrv_sim_virtio_blk_config *cfg, unsigned *fn_out);

/** Bytes of a simulated virtio-mmio register region (as QEMU's). */
#define CAPDRV_SIM_VIRTIO_MMIO_SIZE 0x200u

/**
 * @brief Add a virtio-blk behind the virtio-mmio version 2 transport
 *        (VIRTIO 1.2 §4.2) instead of PCI: an MMIO device (hw.h
 *        CAPDRV_HW_FN_MMIO) whose 512-byte register region at @p base is
 *        its "BAR 0", with no configuration space and one interrupt line
 *        (vector 0), fired each time the device sets an InterruptStatus
 *        bit. The block device behind it is the one of
 *        capdrv_sim_add_virtio_blk(): same configuration, fault knobs
 *        (capdrv_sim_virtio_set_fault()), backing data
 *        (capdrv_sim_virtio_blk_data()) and DMA oracle. A shim grant
 *        names it with `match-mmio = <base-hi base-lo>`.
 * @param sim simulator.
 * @param base physical base of the register region; a multiple of
 *        CAPDRV_SIM_VIRTIO_MMIO_SIZE; must not overlap another MMIO device.
 * @param cfg shape (NULL: defaults), as for capdrv_sim_add_virtio_blk().
 * @param fn_out receives the function number (may be NULL).
 * @return 0; -CAPDRV_EINVAL (bad argument, misaligned base, or a @p cfg
 *         capdrv_sim_add_virtio_blk() refuses); -CAPDRV_EEXIST (overlaps
 *         another MMIO device); -CAPDRV_ENOSPC; -CAPDRV_ENOMEM.
 *
 * Example:
 * @code
 *     unsigned fn;
 *     capdrv_sim_add_virtio_mmio_blk(sim, 0x0a003e00, NULL, &fn);
 * @endcode
 */
int capdrv_sim_add_virtio_mmio_blk(struct capdrv_sim *sim, uint64_t base,
                                   const struct capdrv_sim_virtio_blk_config *cfg,
                                   unsigned *fn_out);

/**
 * @brief Make a virtio function misbehave. The fault stays until set back
 *        to NONE; device and function resets do not clear it.
 * @param sim the machine.
 * @param fn platform function number of a virtio function.
 * @param f the misbehaviour.
 * @return 0, -CAPDRV_ENOENT for an unknown function, -CAPDRV_ENODEV if it
 *         is not a virtio function, -CAPDRV_EINVAL for an unknown fault or
 *         NULL @p sim, -CAPDRV_ENOTSUP for a fault the device type has no
 *         use for (IOERR on a virtio-net).
 */
int capdrv_sim_virtio_set_fault(struct capdrv_sim *sim, unsigned fn,
                                enum capdrv_sim_virtio_fault f);

/**
 * @brief Read or write a virtio-blk's backing store directly (no DMA, no
 *        oracle, no device state change), to prepare or check disk contents.
 *        A file-backed disk is read or written through its io_uring.
 * @param sim the machine.
 * @param fn platform function number of a virtio-blk function.
 * @param offset byte offset in the disk.
 * @param buf source (@p write) or destination of @p len bytes.
 * @param len bytes; 0 does nothing.
 * @param write true: disk <- @p buf; false: @p buf <- disk.
 * @return 0, -CAPDRV_ENOENT for an unknown function, -CAPDRV_ENODEV if it
 *         is not a virtio-blk, -CAPDRV_ERANGE if [offset, offset+len) is
 *         not inside the disk, -CAPDRV_EINVAL for NULL @p sim or NULL
 *         @p buf with @p len > 0, -CAPDRV_EIO if the backing file's I/O
 *         failed.
 */
int capdrv_sim_virtio_blk_data(struct capdrv_sim *sim, unsigned fn, uint64_t offset, void *buf,
                               size_t len, bool write);

/* ---- virtio-net (VIRTIO 1.2 §4.1 PCI modern transport, §5.1 network) ---- */

/** Frames each wire queue of a simulated virtio-net holds (receive and harness). */
#define CAPDRV_SIM_VIRTIO_NET_WIRE_FRAMES 64u
/** Ethernet header bytes a frame may carry beyond the MTU (max frame = mtu + 14). */
#define CAPDRV_SIM_VIRTIO_NET_ETH_HLEN 14u
/** Default MTU of a simulated virtio-net. */
#define CAPDRV_SIM_VIRTIO_NET_DEFAULT_MTU 1500u

/** Shape of a simulated virtio-net (capdrv_sim_add_virtio_net()); zero fields take defaults. */
struct capdrv_sim_virtio_net_config {
    uint8_t mac[6];          /**< MAC address; all zero -> 52:54:00:12:34:(0x56 + fn) */
    unsigned queue_size_max; /**< power of two <= 1024; 0 -> 256 */
    uint16_t mtu;            /**< 0 -> 1500 (>= 68 otherwise); offered with VIRTIO_NET_F_MTU */
    uint64_t features_clear; /**< feature bits NOT to offer (test knob) */
};

/** Traffic counters of a simulated virtio-net (capdrv_sim_virtio_net_stats()). */
struct capdrv_sim_virtio_net_stats {
    uint64_t tx_frames;  /**< frames transmitted onto the wire (well-formed transmit requests) */
    uint64_t rx_frames;  /**< frames written into receive buffers */
    uint64_t rx_dropped; /**< frames lost at this receiver (wire queue full, too long, no fit) */
    uint64_t tx_errors;  /**< transmit requests refused (bad header, length or checksum fields) */
};

/**
 * @brief Add a virtio-net function: VIRTIO 1.2 PCI modern transport (§4.1)
 *        and network device (§5.1), one receiveq/transmitq pair.
 *
 * Identity: vendor 0x1af4, device 0x1041, revision 1, subsystem
 * 0x1af4/0x1100, class 0x020000 (Ethernet). BAR0 and the vendor
 * capabilities are laid out exactly as for capdrv_sim_add_virtio_blk(), and
 * the transport (registers, status machine, queue rules, notification
 * suppression, malformed rings -> DEVICE_NEEDS_RESET, DMA oracle) behaves
 * identically. MSI-X has 3 vectors (configuration + 2 queues). Queue 0 is
 * receiveq1, queue 1 transmitq1 (§5.1.2); no controlq, no multiqueue.
 *
 * Offered features: VERSION_1, ACCESS_PLATFORM, INDIRECT_DESC, EVENT_IDX,
 * NET_CSUM, NET_GUEST_CSUM, NET_MTU, NET_MAC, NET_MRG_RXBUF, NET_STATUS,
 * minus @p cfg->features_clear. Configuration (§5.1.4): mac (with MAC),
 * status = LINK_UP (with STATUS; the link starts up), mtu (with MTU); the
 * rest reads 0. A field whose feature is not offered reads 0.
 *
 * Every packet starts with the 12-byte struct virtio_net_hdr (§5.1.6) in
 * the same chain, followed by the frame (at most mtu + 14 bytes). Any
 * framing into descriptors is accepted (§2.6.4).
 *
 * Transmit (§5.1.6.2), at a transmitq notify: the device-readable part of
 * each chain is header + frame. A request is refused (tx_errors, frame not
 * sent, buffer completed with used len 0) when: it is shorter than the
 * header or carries no frame byte; the frame exceeds mtu + 14; gso_type is
 * not NONE (no GSO is offered); flags has any bit but NEEDS_CSUM;
 * NEEDS_CSUM is set without VIRTIO_NET_F_CSUM negotiated, or
 * csum_start + csum_offset + 2 exceeds the frame; or the DMA oracle
 * refuses a read. Otherwise tx_frames counts it and the frame goes onto
 * the wire; used len is 0. Device-writable descriptors are ignored.
 *
 * The wire: a function connected to a peer (capdrv_sim_virtio_net_connect())
 * delivers into the peer's receive side; an unconnected function's wire end
 * belongs to the harness (capdrv_sim_virtio_net_inject(),
 * capdrv_sim_virtio_net_take()). A frame with NEEDS_CSUM stays partial
 * on the way to a peer that negotiated GUEST_CSUM (header flags
 * NEEDS_CSUM with the same csum_start/csum_offset, like a VM-to-VM virtio
 * link, §5.1.6.4); for anyone else the 16-bit ones'-complement checksum of
 * the bytes from csum_start to the end is stored big-endian at
 * csum_start + csum_offset first (RFC 1071; the driver leaves the
 * pseudo-header sum in that field, as Linux does) and flags are 0.
 *
 * Receive (§5.1.6.3, §5.1.6.4): frames arriving for a function wait in its
 * receive wire queue (CAPDRV_SIM_VIRTIO_NET_WIRE_FRAMES; beyond that, or
 * longer than its mtu + 14, they are dropped and counted in rx_dropped)
 * and are delivered in order when receive buffers are available: at a
 * receiveq notify, when a frame arrives, and when DRIVER_OK is set with
 * frames waiting. The wire queues belong to the wire: device and function
 * resets keep them. A receiveq chain must be device-writable only, and with
 * MRG_RXBUF each chain must hold at least the header (§5.1.6.3.1);
 * otherwise the ring is malformed (DEVICE_NEEDS_RESET). Without MRG_RXBUF a
 * frame goes into one chain, header + frame; a chain too small for it
 * drops the frame (rx_dropped) and stays available; num_buffers = 1. With
 * MRG_RXBUF a frame fills as many chains as it needs, one used element per
 * chain (len = bytes written in it), num_buffers in the first header = the
 * number of chains; when the available chains are not enough the frame
 * waits, complete. Written header: flags as above, gso_type NONE, hdr_len
 * and gso_size 0, csum fields 0 unless NEEDS_CSUM. A buffer write the DMA
 * oracle refuses drops the frame (rx_dropped) and completes the chains it
 * had started with used len 0. Receive completions interrupt on the
 * receiveq's vector as suppression allows (§2.7.7).
 *
 * @param sim the machine.
 * @param addr its bus address, unique in the machine.
 * @param cfg shape, or NULL for the defaults.
 * @param fn_out receives the platform function number (may be NULL).
 * @return as capdrv_sim_add_dmatest(); -CAPDRV_EINVAL also for a
 *         queue_size_max that is not a power of two <= 1024 or an mtu
 *         below 68 (RFC 791 minimum) other than 0; -CAPDRV_ENOMEM.
 */
int capdrv_sim_add_virtio_net(struct capdrv_sim *sim, const struct capdrv_pci_addr *addr,
                              const struct capdrv_sim_virtio_net_config *cfg, unsigned *fn_out);

/**
 * @brief Add a virtio-net behind the virtio-mmio version 2 transport
 *        (VIRTIO 1.2 §4.2) instead of PCI, as capdrv_sim_add_virtio_mmio_blk()
 *        does for a disk: an MMIO device whose 512-byte register region at
 *        @p base is its "BAR 0", no configuration space, one interrupt line
 *        (vector 0) for both queues and configuration changes. The network
 *        device, its wire (capdrv_sim_virtio_net_connect(), _inject(),
 *        _take()), counters and DMA oracle are those of
 *        capdrv_sim_add_virtio_net().
 * @param sim simulator.
 * @param base physical base of the register region; a multiple of
 *        CAPDRV_SIM_VIRTIO_MMIO_SIZE; must not overlap another MMIO device.
 * @param cfg shape (NULL: defaults), as for capdrv_sim_add_virtio_net().
 * @param fn_out receives the function number (may be NULL).
 * @return 0; -CAPDRV_EINVAL (bad argument, misaligned base, or a @p cfg
 *         capdrv_sim_add_virtio_net() refuses); -CAPDRV_EEXIST (overlaps
 *         another MMIO device); -CAPDRV_ENOSPC; -CAPDRV_ENOMEM.
 */
int capdrv_sim_add_virtio_mmio_net(struct capdrv_sim *sim, uint64_t base,
                                   const struct capdrv_sim_virtio_net_config *cfg,
                                   unsigned *fn_out);

/**
 * @brief Connect two virtio-net functions with a wire: a frame one
 *        transmits is received by the other. There is no disconnect.
 * @param sim the machine.
 * @param fn_a platform function number of a virtio-net.
 * @param fn_b another one.
 * @return 0 (also when already connected to each other), -CAPDRV_ENOENT for
 *         an unknown function, -CAPDRV_ENODEV if one is not a virtio-net,
 *         -CAPDRV_EINVAL if @p fn_a == @p fn_b or @p sim is NULL,
 *         -CAPDRV_EBUSY if one is already connected elsewhere.
 */
int capdrv_sim_virtio_net_connect(struct capdrv_sim *sim, unsigned fn_a, unsigned fn_b);

/**
 * @brief Deliver a frame to an unconnected virtio-net's receive side, as
 *        if from the wire (header flags 0: no checksum information). It
 *        waits in the receive wire queue when no buffer is available or
 *        before DRIVER_OK; a full queue drops it (rx_dropped), still
 *        returning 0 like a wire would.
 * @param sim the machine.
 * @param fn platform function number of a virtio-net.
 * @param frame the frame bytes (no virtio header).
 * @param len 1 .. mtu + 14 bytes.
 * @return 0, -CAPDRV_EINVAL for a bad length, NULL @p sim or @p frame,
 *         -CAPDRV_ENOENT / -CAPDRV_ENODEV as for connect, -CAPDRV_EBUSY if
 *         @p fn is connected to a peer (its wire is not the harness's).
 */
int capdrv_sim_virtio_net_inject(struct capdrv_sim *sim, unsigned fn, const void *frame,
                                 size_t len);

/**
 * @brief Take the oldest frame a virtio-net transmitted while unconnected
 *        (the harness end of its wire; CAPDRV_SIM_VIRTIO_NET_WIRE_FRAMES are
 *        kept, later ones are lost, still counted in tx_frames). The frame
 *        bytes only, no virtio header; a NEEDS_CSUM checksum is completed.
 * @param sim the machine.
 * @param fn platform function number of a virtio-net.
 * @param buf receives the frame.
 * @param cap bytes @p buf holds.
 * @param len receives the frame length (also when @p cap is too small).
 * @return 0, -CAPDRV_ENOENT when no frame is waiting (or unknown function),
 *         -CAPDRV_ERANGE if the frame is longer than @p cap (it stays),
 *         -CAPDRV_ENODEV if not a virtio-net, -CAPDRV_EINVAL for NULL
 *         @p sim, @p len, or @p buf with @p cap > 0.
 */
int capdrv_sim_virtio_net_take(struct capdrv_sim *sim, unsigned fn, void *buf, size_t cap,
                               size_t *len);

/**
 * @brief Change a virtio-net's link state. With VIRTIO_NET_F_STATUS offered
 *        and a real change, status.LINK_UP changes, config_generation
 *        increments and, once DRIVER_OK is set, a configuration change
 *        notification is sent (ISR bit 1, config_msix_vector; §4.1.4.5).
 *        The link is reported only: traffic flows regardless.
 * @param sim the machine.
 * @param fn platform function number of a virtio-net.
 * @param up the new state.
 * @return 0, -CAPDRV_ENOENT, -CAPDRV_ENODEV, -CAPDRV_EINVAL for NULL @p sim.
 */
int capdrv_sim_virtio_net_set_link(struct capdrv_sim *sim, unsigned fn, bool up);

/**
 * @brief Read a virtio-net's traffic counters (since creation; resets keep them).
 * @param sim the machine.
 * @param fn platform function number of a virtio-net.
 * @param out receives them.
 * @return 0, -CAPDRV_ENOENT, -CAPDRV_ENODEV, -CAPDRV_EINVAL for NULL arguments.
 */
int capdrv_sim_virtio_net_stats(const struct capdrv_sim *sim, unsigned fn,
                                struct capdrv_sim_virtio_net_stats *out);

/**
 * @brief Number of device accesses the DMA oracle refused since creation
 *        or the last capdrv_sim_oracle_reset().
 * @param sim the machine.
 * @return the count (0 when @p sim is NULL).
 */
unsigned long capdrv_sim_oracle_violations(const struct capdrv_sim *sim);

/**
 * @brief The most recent refused access.
 * @param sim the machine.
 * @param out receives it.
 * @return 0, -CAPDRV_ENOENT if there was none, -CAPDRV_EINVAL for NULL arguments.
 */
int capdrv_sim_oracle_last(const struct capdrv_sim *sim, struct capdrv_sim_violation *out);

/**
 * @brief Forget all recorded violations (count back to 0).
 * @param sim the machine.
 */
void capdrv_sim_oracle_reset(struct capdrv_sim *sim);

/**
 * @brief Let function @p fn perform a DMA access, as a device model would:
 *        it goes through the oracle (and counts as a violation if refused).
 *        For tests of functions that have no DMA engine of their own.
 * @param sim the machine.
 * @param fn platform function number.
 * @param devaddr device address (IOVA with an IOMMU, else simulated physical).
 * @param buf source (@p is_write) or destination of @p len bytes.
 * @param len bytes; 0 accesses nothing and succeeds.
 * @param is_write true: write memory from @p buf; false: read into @p buf.
 * @return 0, -CAPDRV_EFAULT if the oracle refused, -CAPDRV_ENOENT for an
 *         unknown function, -CAPDRV_EINVAL for NULL @p buf with @p len > 0.
 */
int capdrv_sim_device_dma(struct capdrv_sim *sim, unsigned fn, uint64_t devaddr, void *buf,
                          size_t len, bool is_write);

/**
 * @brief Make function @p fn signal MSI-X @p vector, as its device model
 *        would (delivered, latched as pending, or dropped per the vector's
 *        state; PCI Local Bus 3.0 §6.8.3).
 * @param sim the machine.
 * @param fn platform function number.
 * @param vector MSI-X vector.
 * @return 0, -CAPDRV_ENOENT for an unknown function or vector.
 */
int capdrv_sim_irq_raise(struct capdrv_sim *sim, unsigned fn, unsigned vector);

/**
 * @brief Run simulated time forward by @p ns, performing every device
 *        event due in between in time order.
 * @param sim the machine.
 * @param ns nanoseconds (saturates at UINT64_MAX).
 */
void capdrv_sim_advance(struct capdrv_sim *sim, uint64_t ns);

/**
 * @brief Current simulated time.
 * @param sim the machine.
 * @return nanoseconds since creation (0 when @p sim is NULL).
 */
uint64_t capdrv_sim_now(const struct capdrv_sim *sim);

/**
 * @brief How many function-level resets function @p fn has had (through
 *        function_reset() or Initiate FLR in its Device Control register).
 * @param sim the machine.
 * @param fn platform function number.
 * @return the count (0 for an unknown function).
 */
unsigned capdrv_sim_reset_count(const struct capdrv_sim *sim, unsigned fn);

/**
 * @brief DMA bookkeeping, e.g. to check that a shim freed everything.
 * @param sim the machine.
 * @param out receives the counts.
 * @return 0 or -CAPDRV_EINVAL for NULL arguments.
 */
int capdrv_sim_dma_stats(const struct capdrv_sim *sim, struct capdrv_sim_dma_stats *out);

/* ---- NVMe (NVM Express Base 2.0, NVM Command Set 1.0) -------------------- */

/** Most namespaces of a simulated NVMe controller. */
#define CAPDRV_SIM_NVME_MAX_NS 4u
/** Most I/O submission/completion queue pairs of a simulated NVMe controller. */
#define CAPDRV_SIM_NVME_MAX_IOQ 16u
/** Identify Controller SN of a simulated NVMe controller (space padded to 20 bytes). */
#define CAPDRV_SIM_NVME_SERIAL "capdrv-sim-nvme"
/** Identify Controller MN of a simulated NVMe controller (space padded to 40 bytes). */
#define CAPDRV_SIM_NVME_MODEL "capdrv simulated NVMe controller"
/** Identify Controller FR of a simulated NVMe controller (8 bytes). */
#define CAPDRV_SIM_NVME_FIRMWARE "capdrv01"
/** BAR0 size of a simulated NVMe controller (registers, doorbells from 0x1000). */
#define CAPDRV_SIM_NVME_BAR0_SIZE 0x4000u
/** Composite temperature the simulated controller reports, in kelvins. */
#define CAPDRV_SIM_NVME_TEMP_K 313u

/** One namespace of a simulated NVMe controller; zero fields take defaults. */
struct capdrv_sim_nvme_ns_config {
    /** Logical blocks. Memory: 0 -> 2048. File: 0 -> the file's size >>
     *  lba_shift (rounded down, must be >= 1); otherwise the file is
     *  extended with ftruncate() if shorter, never shrunk. */
    uint64_t lba_count;
    unsigned lba_shift;       /**< LBA data size 2^lba_shift: 9 or 12; 0 -> 9 */
    /** NULL: zeroed memory. Otherwise an existing regular file, opened
     *  read-write, reached through io_uring (as the virtio-blk backing
     *  file). Only read during capdrv_sim_add_nvme(). */
    const char *backing_file;
};

/** Shape of a simulated NVMe controller (capdrv_sim_add_nvme()); zero fields take defaults. */
struct capdrv_sim_nvme_config {
    unsigned n_namespaces; /**< 1..4, NSIDs 1..n, all active; 0 -> 1 */
    struct capdrv_sim_nvme_ns_config ns[CAPDRV_SIM_NVME_MAX_NS]; /**< namespace i has NSID i + 1 */
    /** I/O SQ/CQ pairs the controller grants (Set Features Number of
     *  Queues; also the default before it is issued): 1..16; 0 -> 4. */
    unsigned max_io_queues;
    unsigned mqes;          /**< largest queue in entries, 2..4096 (CAP.MQES = mqes - 1); 0 -> 1024 */
    unsigned dstrd;         /**< CAP.DSTRD, doorbell stride 4 << dstrd bytes: 0..2 */
    unsigned mdts;          /**< Identify MDTS: largest transfer 2^mdts * 4 KiB, 1..8; 0 -> 5 (128 KiB) */
    unsigned cap_to;        /**< CAP.TO in 500 ms units, 1..255; 0 -> 2 */
    /** Simulated time CSTS.RDY and CSTS.SHST take to follow CC (a device
     *  event); 0: they follow inside the CC write. */
    uint64_t ready_delay_ns;
    bool sgl;               /**< Identify SGLS = 01b: SGLs accepted for NVM commands (PSDT 01b) */
    bool no_write_zeroes;   /**< ONCS bit 3 clear: Write Zeroes is an invalid opcode */
    bool no_dsm;            /**< ONCS bit 2 clear: Dataset Management is an invalid opcode */
};

/**
 * @brief Add a simulated NVMe controller (NVM Express Base 2.0, PCIe
 *        transport; NVM Command Set 1.0) with 1..4 namespaces backed by
 *        zeroed memory or by files.
 *
 * Identity: vendor 0x1b36, device 0x0010 (QEMU's NVMe ids), revision 2,
 * subsystem 0x1af4/0x1100, class 0x010802. BAR0 (16 KiB) holds the
 * controller registers (Base 2.0 §3.1.4): CAP 0x00, VS 0x08 (0x00020000),
 * INTMS 0x0C, INTMC 0x10, CC 0x14, CSTS 0x1C, NSSR 0x20 (absent), AQA 0x24,
 * ASQ 0x28, ACQ 0x30; no CMB, PMR or boot partitions (they read 0). The
 * doorbell of SQ y tail is at 0x1000 + 2y * (4 << DSTRD), of CQ y head at
 * 0x1000 + (2y + 1) * (4 << DSTRD). BAR2 holds MSI-X with max_io_queues + 1
 * vectors. CAP: MQES = mqes - 1, CQR = 1, AMS = 0, TO = cap_to, DSTRD,
 * NSSRS = 0, CSS bit 0 (NVM command set), MPSMIN = 0 (4 KiB), MPSMAX = 4
 * (64 KiB).
 *
 * Behaviour (the rules a driver can rely on and be tested against):
 * - Registers: reads of any width inside 0x00..0x3F return the register
 *   image, other offsets read 0. Writes are taken as 32-bit writes at
 *   CC, AQA, INTMS/INTMC and the doorbells, and as 32- or 64-bit writes at
 *   ASQ/ACQ (bits 11:0 are reserved and read 0); other writes are dropped.
 *   INTMS/INTMC are reserved under MSI-X (the only interrupt mode) and
 *   ignored. AQA, ASQ, ACQ and CC fields other than EN and SHN are frozen
 *   while CC.EN = 1.
 * - Enable (CC.EN 0->1, Base 2.0 §3.5.1): the configuration is checked:
 *   CC.CSS = 000b, CC.MPS <= 4, CC.AMS = 000b, CC.IOSQES 0 or 6, CC.IOCQES
 *   0 or 4, AQA.ASQS and AQA.ACQS >= 1 (queues of >= 2 entries). A bad one
 *   sets CSTS.CFS (and never RDY). Otherwise CSTS.RDY becomes 1
 *   ready_delay_ns later. Commands are fetched only while RDY = 1, CFS = 0
 *   and no shutdown was requested; doorbell writes at other times are
 *   dropped.
 * - Reset (CC.EN 1->0, Base 2.0 §3.7.2): every I/O queue is deleted,
 *   outstanding commands (SLOW, Asynchronous Event Requests) are dropped
 *   without touching memory again, features return to their defaults,
 *   CFS and SHST clear at once and RDY becomes 0 after ready_delay_ns.
 *   AQA/ASQ/ACQ keep their values. A function-level reset does the same
 *   and returns every register to its power-on value. The media, the
 *   error log and the SMART counters are kept.
 * - Shutdown (CC.SHN != 00b, Base 2.0 §3.6): CSTS.SHST becomes 01b and,
 *   ready_delay_ns later, 10b (complete); no command is fetched after the
 *   request until the next reset.
 * - Processing is synchronous: an SQ tail doorbell write fetches and
 *   executes every new entry before it returns, unless a completion is
 *   delayed (FAULT_SLOW). SQ entries are fetched in order, admin queue
 *   first, then I/O SQs by id. CQEs carry the Phase Tag, inverted on every
 *   wrap of the CQ (Base 2.0 §4.6); SQHD = the SQ head after the command
 *   was consumed (at posting time for delayed completions); SQID and CID
 *   of the command. A CQ is full when its tail is one entry behind its
 *   head (Base 2.0 §3.3.1, Full Queue): while it is full,
 *   completions wait inside the controller and the SQs bound to it are
 *   not fetched; a CQ head doorbell write that frees room posts them.
 *   Each posted CQE raises the CQ's interrupt vector (admin CQ: vector 0;
 *   I/O CQ: IV, only if IEN). Interrupt Coalescing is stored, not applied.
 * - Doorbells (Base 2.0 §3.1.4.13-14): a write to the doorbell of a queue
 *   that does not exist, a tail value >= the SQ size, or a head value that
 *   is >= the CQ size or passes entries not yet posted, is ignored and
 *   recorded as an Error asynchronous event (info 00h Write to Invalid
 *   Doorbell Register, 01h Invalid Doorbell Write Value, log page 01h),
 *   completing an outstanding Asynchronous Event Request. A refused SQ
 *   entry fetch or CQE write (DMA oracle) is fatal: CSTS.CFS = 1.
 * - Admin commands (Base 2.0 §5): Delete I/O SQ 00h, Create I/O SQ 01h,
 *   Get Log Page 02h (01h error information, 16 entries; 02h SMART /
 *   health; 03h firmware slot; dword-aligned offsets), Delete I/O CQ 04h,
 *   Create I/O CQ 05h, Identify 06h (CNS 00h namespace, 01h controller,
 *   02h active NSID list, 03h namespace identification descriptors: CSI),
 *   Abort 08h, Set/Get Features 09h/0Ah (04h Temperature Threshold of the
 *   composite sensor, 06h Volatile Write Cache, 07h Number of Queues, 08h
 *   Interrupt Coalescing, 0Bh Asynchronous Event Configuration; SEL 000b
 *   to 011b; SV -> Feature Identifier Not Saveable), Asynchronous Event
 *   Request 0Ch (at most 4 outstanding, AERL = 3), Keep Alive 18h. Every
 *   other opcode: Invalid Command Opcode. Admin commands must use PRPs.
 * - Queue creation: PC = 1 only (CAP.CQR, else Invalid Field); base page
 *   aligned (else PRP Offset Invalid); QID 1..granted and unused (else
 *   Invalid Queue Identifier); 2..mqes entries (else Invalid Queue Size);
 *   an SQ's CQ must exist (else Completion Queue Invalid); IEN with IV
 *   beyond the MSI-X table -> Invalid Interrupt Vector; CC.IOSQES/IOCQES
 *   must be 6/4 (else Invalid Field). Deleting a CQ that an SQ still uses
 *   -> Invalid Queue Deletion; deleting an SQ first completes its delayed
 *   commands with Command Aborted due to SQ Deletion. Number of Queues can
 *   be set only while no I/O queue exists (else Command Sequence Error).
 * - Abort: a command still held inside the controller (FAULT_SLOW, an
 *   Asynchronous Event Request) is completed with Command Abort Requested
 *   at once; a command still waiting in its SQ (between head and tail,
 *   e.g. behind a full CQ; at most 4 such marks) is completed with Command
 *   Abort Requested instead of being executed when it is fetched. Then
 *   Abort's DW0 bit 0 is 0; otherwise it is 1 (not aborted).
 * - NVM commands (NVM 1.0 §3): Flush 00h (NSID FFFFFFFFh: all), Write 01h,
 *   Read 02h, Write Zeroes 08h (unless no_write_zeroes; DEAC deallocates),
 *   Dataset Management 09h (unless no_dsm; Attribute Deallocate zeroes the
 *   ranges, other attributes are hints). Checks: an inactive NSID ->
 *   Invalid Namespace or Format; FUSE != 0 or a reserved PSDT -> Invalid
 *   Field; a transfer beyond MDTS -> Invalid Field; blocks beyond the
 *   namespace -> LBA Out of Range; media failures of a file -> Write Fault
 *   / Unrecovered Read Error (SCT 2h).
 * - Data pointers: PRPs (Base 2.0 §4.1.1) with the CC.MPS page size: PRP1
 *   may carry a dword-aligned offset; PRP2 is a data page when the rest
 *   fits one page, else a (qword-aligned) PRP list pointer whose last
 *   entry in each page chains to the next list page; other entries need
 *   offset 0 (else PRP Offset Invalid). SGLs when cfg->sgl (Base 2.0
 *   §4.1.2, PSDT 01b): Data Block, Segment and Last Segment descriptors
 *   with the Address sub type; other types -> SGL Descriptor Type Invalid;
 *   a malformed segment -> Invalid SGL Segment Descriptor; more than 1024
 *   descriptors -> Invalid Number of SGL Descriptors; data blocks summing
 *   to anything but the transfer length -> Data SGL Length Invalid. Every
 *   byte moves through the DMA oracle; a refused access -> Data Transfer
 *   Error (and an oracle violation).
 * - Any failing command is recorded in the error information log; a
 *   command failed by FAULT_STATUS also raises an Error asynchronous event
 *   (info 04h Transient Internal Error, log page 01h). A Temperature
 *   Threshold set so that the composite temperature (CAPDRV_SIM_NVME_TEMP_K)
 *   is over it (or under an under-threshold) sets SMART critical warning
 *   bit 1 and, if enabled in the Asynchronous Event Configuration, raises
 *   a SMART / Health asynchronous event (info 01h, log page 02h).
 * - Events not yet reported wait (up to 8; more are dropped) for the next
 *   Asynchronous Event Request.
 *
 * @param sim the machine.
 * @param addr its bus address, unique in the machine.
 * @param cfg shape, or NULL for the defaults.
 * @param fn_out receives the platform function number (may be NULL).
 * @return as capdrv_sim_add_dmatest(); -CAPDRV_EINVAL also for a value out
 *         of the documented ranges or a capacity whose byte size overflows;
 *         with a backing file the errors of capdrv_sim_add_virtio_blk()
 *         (-CAPDRV_ENOTSUP without io_uring, -CAPDRV_ENOENT, -CAPDRV_EACCES,
 *         -CAPDRV_EINVAL, -CAPDRV_EIO).
 */
int capdrv_sim_add_nvme(struct capdrv_sim *sim, const struct capdrv_pci_addr *addr,
                        const struct capdrv_sim_nvme_config *cfg, unsigned *fn_out);

/**
 * @brief Read or write a namespace's medium directly (no DMA, no oracle,
 *        no controller state change), to prepare or check its contents.
 * @param sim the machine.
 * @param fn platform function number of an NVMe controller.
 * @param nsid namespace (1..n_namespaces).
 * @param offset byte offset in the namespace.
 * @param buf source (@p write) or destination of @p len bytes.
 * @param len bytes; 0 does nothing.
 * @param write true: medium <- @p buf; false: @p buf <- medium.
 * @return 0, -CAPDRV_ENOENT for an unknown function or namespace,
 *         -CAPDRV_ENODEV if it is not an NVMe controller, -CAPDRV_ERANGE
 *         outside the namespace, -CAPDRV_EINVAL for NULL @p sim or NULL
 *         @p buf with @p len > 0, -CAPDRV_EIO if a backing file failed.
 */
int capdrv_sim_nvme_data(struct capdrv_sim *sim, unsigned fn, uint32_t nsid, uint64_t offset,
                         void *buf, size_t len, bool write);

/** Injectable misbehaviour of a simulated NVMe controller (capdrv_sim_nvme_set_fault()). */
enum capdrv_sim_nvme_fault_kind {
    CAPDRV_SIM_NVME_FAULT_NONE = 0,   /**< behave per the spec */
    /** Complete matching commands with capdrv_sim_nvme_fault::status
     *  ((SCT << 8) | SC); no data moves, nothing else happens. */
    CAPDRV_SIM_NVME_FAULT_STATUS,
    /** Consume matching commands and post no completion (counted in dropped). */
    CAPDRV_SIM_NVME_FAULT_DROP,
    /** Execute and complete matching commands delay_ns later (a sim event);
     *  until then they can be aborted. */
    CAPDRV_SIM_NVME_FAULT_SLOW,
    /** At the next doorbell write: CSTS.CFS = 1 and nothing is processed
     *  until CC.EN 1->0. */
    CAPDRV_SIM_NVME_FAULT_CFS,
    /** CQE.CID = the command's CID ^ 0x8000. */
    CAPDRV_SIM_NVME_FAULT_BAD_CID,
    /** Post every matching CQE twice (two CQ entries). */
    CAPDRV_SIM_NVME_FAULT_DUP_CID,
    /** CQE.SQHD = SQ size + 1 (beyond any tail). */
    CAPDRV_SIM_NVME_FAULT_SQHD,
    /** Write the CQE with the wrong phase tag (the host sees nothing new). */
    CAPDRV_SIM_NVME_FAULT_PHASE,
    /** CQE.SQID = max_io_queues + 1 (an SQ id that does not exist). */
    CAPDRV_SIM_NVME_FAULT_SQID,
    /** Surprise removal: every BAR0 read returns all ones, writes are dropped. */
    CAPDRV_SIM_NVME_FAULT_REMOVED,
    /** CC.EN 0->1 never sets CSTS.RDY. */
    CAPDRV_SIM_NVME_FAULT_NEVER_READY
};

/** A fault of a simulated NVMe controller (capdrv_sim_nvme_set_fault()). */
struct capdrv_sim_nvme_fault {
    enum capdrv_sim_nvme_fault_kind kind; /**< the misbehaviour */
    int qid;           /**< commands of: -1 any queue; 0 the admin SQ; n I/O SQ n */
    int opcode;        /**< commands with this opcode (0..255), -1 any */
    uint16_t status;   /**< FAULT_STATUS: (SCT << 8) | SC, SCT 0..7 */
    uint64_t delay_ns; /**< FAULT_SLOW: simulated delay of each completion */
    /** Commands (CFS: doorbell writes) to affect before the fault clears
     *  itself to NONE; 0: until set back to NONE. REMOVED and NEVER_READY
     *  ignore it. */
    unsigned count;
};

/**
 * @brief Make a simulated NVMe controller misbehave. The fault replaces the
 *        previous one and stays (see capdrv_sim_nvme_fault::count) across
 *        controller and function resets. Command faults are decided when a
 *        command is fetched; qid and opcode select the commands.
 * @param sim the machine.
 * @param fn platform function number of an NVMe controller.
 * @param f the fault; kind NONE (or NULL @p f) clears it.
 * @return 0, -CAPDRV_ENOENT for an unknown function, -CAPDRV_ENODEV if it
 *         is not an NVMe controller, -CAPDRV_EINVAL for an unknown kind,
 *         qid < -1 or > 16, opcode < -1 or > 255, SCT > 7 or NULL @p sim.
 */
int capdrv_sim_nvme_set_fault(struct capdrv_sim *sim, unsigned fn,
                              const struct capdrv_sim_nvme_fault *f);

/** Counters of a simulated NVMe controller (capdrv_sim_nvme_stats()); they
 *  survive resets. sq_backlog is the one gauge (the state at the call). */
struct capdrv_sim_nvme_stats {
    uint64_t admin_cmds; /**< admin commands completed (a completion was produced) */
    uint64_t io_cmds;    /**< I/O commands completed */
    uint64_t doorbells;  /**< doorbell writes that reached an existing queue */
    uint64_t aborted;    /**< commands completed with Command Abort Requested by an Abort */
    uint64_t dropped;    /**< commands consumed without a completion (FAULT_DROP) */
    /** Data transfers into host memory made while entries that tail
     *  doorbells had published were still unfetched in some SQ. Such a
     *  write may land on one of those entries or on a list they name, i.e.
     *  change what a direct-lane shim checked before the device reads it
     *  (the IOMMU contains the result; tests use this to tell that case
     *  from a validator gap). */
    uint64_t writes_ahead;
    /** Gauge: SQ entries published by tail doorbells and not fetched yet,
     *  over all live SQs (held back while their CQ is full). */
    uint64_t sq_backlog;
};

/**
 * @brief Read the counters of a simulated NVMe controller.
 * @param sim the machine.
 * @param fn platform function number of an NVMe controller.
 * @param out receives the counters.
 * @return 0, -CAPDRV_EINVAL for NULL arguments, -CAPDRV_ENOENT for an
 *         unknown function, -CAPDRV_ENODEV if it is not an NVMe controller.
 */
int capdrv_sim_nvme_stats(const struct capdrv_sim *sim, unsigned fn,
                          struct capdrv_sim_nvme_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* CAPDRV_SIM_H */
