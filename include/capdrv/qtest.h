/**
 * @file capdrv/qtest.h
 * @brief The "qtest" platform: QEMU's real PCI devices, driven over the
 *        qtest protocol, implementing include/capdrv/hw.h.
 *
 * capdrv_qtest_create() starts `qemu-system-x86_64 -machine q35` as a child
 * process with the caller's extra `-device`/`-drive` arguments, a tiny
 * halt-loop firmware (generated in memory, never a file) and guest RAM in a
 * memfd that this process maps too. The platform then acts as the machine's
 * firmware and host: it enumerates bus 0, assigns memory BARs, and serves
 * every capdrv_hw_ops call:
 *
 * - **Config space** through ECAM (enabled in the MCH, PCIEXBAR at
 *   0xb0000000), 4 KiB per function. Writes to BAR and expansion-ROM
 *   registers are refused (-CAPDRV_EPERM): the platform owns the address map.
 * - **BARs**: memory BARs are placed from 0xe0000000 upwards (below 4 GiB,
 *   each aligned to its size and at least 4 KiB); COMMAND.MEM is set,
 *   COMMAND.MASTER is left to the driver. I/O BARs are reported without
 *   CAPDRV_HW_BAR_MEM and not assigned.
 * - **DMA memory** is guest RAM: dma_alloc() hands out page-aligned ranges
 *   from CAPDRV_QTEST_DMA_BASE up, with one unused page between ranges, and
 *   the CPU pointer is this process's view of the same bytes. There is no
 *   IOMMU (caps() is 0): dma_map() returns the guest physical address and
 *   ignores the IOVA; a device can reach all of guest RAM.
 * - **MSI-X**: irq_enable() points the vector's table entry at a 4-byte
 *   cookie slot in guest RAM (below CAPDRV_QTEST_DMA_BASE) with a non-zero
 *   cookie as data, unmasks it and sets MSI-X Enable. The device's message
 *   write lands in the shared RAM; irq_wait() polls the slots (sleeping
 *   between polls, backing off to 1 ms). irq_mask() sets the entry's Mask
 *   bit, so the device latches the Pending Bit and sends the message at
 *   unmask (PCI Local Bus 3.0 §6.8.3.5). irq_disable() masks the entry and
 *   drops a latched message by letting it fire into a discard slot.
 *   Vectors 0..63 only.
 * - **function_reset**: PCIe Function Level Reset when the function
 *   advertises it (Device Capabilities bit 28, PCIe Base 4.0 §7.5.3.3), then
 *   the BARs are programmed again (FLR clears them). Without FLR, a virtio
 *   PCI modern function is reset through its transport (device_status 0,
 *   waited for, VIRTIO 1.2 §4.1.4.3.1), MSI-X is disabled with every entry
 *   masked and pending messages dropped, and COMMAND.MASTER is cleared.
 *   That stops the device's DMA but is not a full power-on reset: other
 *   config registers keep their values (see capdrv_qtest_reset_method()).
 *   Any other function without FLR: -CAPDRV_ENOTSUP.
 *
 * **Bounded waits.** Every exchange with QEMU waits at most
 * capdrv_qtest_config::timeout_ms; a QEMU that does not answer is killed and
 * the instance becomes dead: every later call fails fast with -CAPDRV_EIO
 * and capdrv_qtest_status() says why (QEMU's own stderr when it exited). An
 * irq_wait() with a negative (unbounded) timeout is bounded by timeout_ms
 * too, and returns -CAPDRV_ETIMEDOUT then: nothing waits forever on QEMU.
 * QEMU gets SIGKILL when the thread that called capdrv_qtest_create() exits
 * (Linux PR_SET_PDEATHSIG), so it never outlives its owner; create from a
 * thread that lives as long as the instance.
 *
 * **aarch64 `virt`** (capdrv_qtest_config::machine = "virt"):
 * `qemu-system-aarch64 -machine virt -cpu cortex-a57` with a `wfi; b .-4`
 * firmware and `-global virtio-mmio.force-legacy=false` (virtio-mmio
 * version 2, VIRTIO 1.2 §4.2). RAM starts at guest physical 0x40000000
 * (CAPDRV_QTEST_VIRT_RAM_BASE; CAPDRV_QTEST_DMA_BASE is then an offset
 * into RAM). There is no PCI enumeration: the platform first runs QEMU
 * with the same arguments and `-machine virt,dumpdtb=FILE`, lists the
 * `virtio,mmio` nodes of that device tree (capdrv_virtio_mmio_scan()), and
 * reports each node whose DeviceID reads non-zero as an MMIO function
 * (hw.h CAPDRV_HW_FN_MMIO; irq_line[0] = the node's GIC SPI number). Its
 * interrupt line is vector 0: the GIC cannot be pointed at RAM like an
 * MSI-X table, so irq_wait() samples the line's source, the device's
 * InterruptStatus register (the virtio-mmio line is asserted exactly while
 * InterruptStatus is non-zero, §4.2.2, §4.2.3.4), polling with the same
 * back-off as for MSI-X cookies: a level-triggered line, it fires again
 * until the driver writes InterruptACK. function_reset() writes Status 0
 * and waits for it to read back 0 (§4.2.2.1). capdrv_qtest_find() finds
 * PCI functions only; use capdrv_qtest_find_mmio().
 *
 * **QMP.** Each machine also has a QMP monitor on a private socketpair
 * (`-mon mode=control`): capdrv_qtest_qmp() sends one command and returns
 * its reply, capdrv_qtest_hmp() runs one human-monitor command through it
 * (e.g. `block_set_io_throttle`, `qemu-io`, `info status`). It has its own
 * lock and the same bound (timeout_ms per command). Note that QEMU's main
 * loop serves both streams: a device stuck inside a register write (e.g.
 * draining its disk) answers neither until it returns.
 *
 * Limits: q35 and aarch64 virt; bus 0 only (functions behind bridges or root ports
 * are not enumerated; bridges themselves are not reported); guest RAM 16 MiB
 * to 2 GiB. Without capdrv_qtest_config::iommu there is no IOMMU and so no
 * DMA oracle (a device can write anywhere in guest RAM):
 * capdrv_qtest_canary_check() watches guard pages and freed regions
 * instead. With it (q35 only) the platform drives QEMU's intel-iommu: each
 * bus-0 function gets its own domain, dma_map() maps the IOVA it is given
 * and dma_unmap() removes it again (IOTLB invalidated before it returns),
 * and capdrv_qtest_iommu_faults() reports the accesses it refused. The
 * MSI-X cookie area stays mapped 1:1 in every domain (interrupt remapping
 * is off).
 * Operations are serialised by an internal lock; irq_wait() polls without it.
 *
 * Example (QEMU with one virtio-blk disk; error handling shortened):
 * @code
 * #include <stdio.h>
 *
 * // drive: e.g. "if=none,id=d0,file=disk.raw,format=raw"
 * static int with_qemu(const char *drive, struct capdrv_qtest **out, unsigned *fn)
 * {
 *     const char *const args[] = {
 *         "-drive", drive,
 *         "-device", "virtio-blk-pci,drive=d0,disable-legacy=on,addr=06.0", NULL};
 *     struct capdrv_qtest_config cfg = {.device_args = args};
 *     char why[256];
 *     int rc = capdrv_qtest_create(&cfg, out, why, sizeof why);
 *     if (rc < 0) {
 *         fprintf(stderr, "qtest: %s\n", why);
 *         return rc;
 *     }
 *     struct capdrv_pci_addr at = {.domain = 0, .bus = 0, .dev = 6, .fn = 0};
 *     // The disk's platform function number; capdrv_qtest_hw(*out) is the
 *     // struct capdrv_hw to give to the shim (capdrv/shim.h), and
 *     // capdrv_qtest_destroy(*out) stops QEMU.
 *     return capdrv_qtest_find(*out, &at, fn);
 * }
 * @endcode
 */
#ifndef CAPDRV_QTEST_H
#define CAPDRV_QTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <capdrv/error.h>
#include <capdrv/hw.h>
#include <capdrv/sys.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A running QEMU machine (opaque). */
struct capdrv_qtest;

/** Default capdrv_qtest_config::qemu (looked up in PATH). */
#define CAPDRV_QTEST_DEFAULT_QEMU "qemu-system-x86_64"
/** Default capdrv_qtest_config::ram_bytes: 256 MiB. */
#define CAPDRV_QTEST_DEFAULT_RAM ((size_t)256 << 20)
/** Default capdrv_qtest_config::timeout_ms. */
#define CAPDRV_QTEST_DEFAULT_TIMEOUT_MS 5000
/** Guest physical address of the MSI-X cookie slots (1 MiB). */
#define CAPDRV_QTEST_COOKIE_BASE 0x100000ull
/** First guest physical address dma_alloc() hands out (1 MiB + 128 KiB). */
#define CAPDRV_QTEST_DMA_BASE 0x120000ull
/** First address of the BAR window the platform assigns from. */
#define CAPDRV_QTEST_BAR_BASE 0xe0000000ull
/** Guest physical address of RAM byte 0 on the aarch64 virt machine. */
#define CAPDRV_QTEST_VIRT_RAM_BASE 0x40000000ull
/** Default capdrv_qtest_config::qemu for machine "virt". */
#define CAPDRV_QTEST_DEFAULT_QEMU_AARCH64 "qemu-system-aarch64"
/** Most functions the platform reports. */
#define CAPDRV_QTEST_MAX_FUNCTIONS 64u

/** Machine configuration (capdrv_qtest_create()). Zero-initialise it. */
struct capdrv_qtest_config {
    const char *qemu;               /**< QEMU binary; NULL = CAPDRV_QTEST_DEFAULT_QEMU */
    const char *const *device_args; /**< extra -device/-drive/-netdev arguments, NULL-terminated; may be NULL */
    size_t ram_bytes;               /**< guest RAM, a multiple of 1 MiB, 16 MiB..2 GiB; 0 = 256 MiB */
    int64_t timeout_ms;             /**< bound of every wait on QEMU; <= 0 = 5000 */
    const char *machine;            /**< NULL or "q35" (x86), or "virt" (aarch64, virtio-mmio);
                                         qemu then defaults to CAPDRV_QTEST_DEFAULT_QEMU_AARCH64 */
    bool iommu;                     /**< q35 only: add QEMU's intel-iommu and drive it (DMA
                                         remapping per function, 48-bit IOVAs): caps() then
                                         reports CAPDRV_HW_IOMMU and dma_map() maps the
                                         IOVA it is given. virtio devices need
                                         `iommu_platform=on` to go through it. */
    bool dma_fds;                   /**< q35 only: every DMA region is a memfd of its own,
                                         hot-plugged into the guest as a pc-dimm above 4 GiB,
                                         and ejected again at dma_free() (its addresses
                                         then reach nothing); hw.h dma_fd() returns it,
                                         so a manager can share regions with provider
                                         processes. At most 256 live regions. */
};

/**
 * @brief Find the MMIO function (aarch64 virt) whose register region
 *        starts at @p base.
 * @param q instance.
 * @param base guest physical base, e.g. 0x0a003e00.
 * @param fn receives the platform function number.
 * @return 0; -CAPDRV_ENOENT; -CAPDRV_EINVAL.
 */
int capdrv_qtest_find_mmio(const struct capdrv_qtest *q, uint64_t base, unsigned *fn);

/** How function_reset() reset a function (capdrv_qtest_reset_method()). */
enum capdrv_qtest_reset {
    CAPDRV_QTEST_RESET_NONE = 0,  /**< never reset */
    CAPDRV_QTEST_RESET_FLR = 1,   /**< PCIe Function Level Reset, BARs restored */
    CAPDRV_QTEST_RESET_VIRTIO = 2 /**< virtio device_status 0 + MSI-X off + MASTER cleared */
};

/** DMA bookkeeping of the platform (capdrv_qtest_dma_stats()). */
struct capdrv_qtest_dma_stats {
    size_t regions;  /**< live dma_alloc() regions */
    size_t bytes;    /**< their total size */
    size_t mappings; /**< live dma_map() mappings, all functions */
};

/** What the platform's canaries saw (capdrv_qtest_canary_check()). */
struct capdrv_qtest_canary {
    unsigned long changed; /**< watched ranges found changed so far (each counted once) */
    uint64_t last_gpa;     /**< guest address of the last changed byte found */
    size_t ranges;         /**< ranges watched now */
    size_t bytes;          /**< their total size */
};

/**
 * @brief Check the canaries in guest RAM nobody owns: the page after each
 *        DMA region, and regions given back with dma_free().
 *
 * Without the IOMMU (capdrv_qtest_config::iommu) this is the platform's
 * substitute for a DMA oracle: a device that writes memory after the shim
 * freed it (DMA after revoke, reset, release or death) or past the end of
 * a buffer changes a canary (with it, such writes are refused and only a
 * mapping the platform got wrong lets one through). Device reads are not seen, nor a write that stores the
 * canary byte itself. Up to 256 ranges are watched (the oldest is checked
 * and dropped when more are freed); a range is also checked when the
 * allocator hands it out again. A changed range is counted once and filled
 * again.
 * @param q the machine.
 * @param out receives the counts.
 * @return 0; -CAPDRV_EINVAL for NULL arguments.
 */
int capdrv_qtest_canary_check(struct capdrv_qtest *q, struct capdrv_qtest_canary *out);

/** What the IOMMU refused (capdrv_qtest_iommu_faults()). */
struct capdrv_qtest_iommu_faults {
    unsigned long faults; /**< refused accesses seen so far; a lower bound: while a
                               fault is recorded and not yet read, the IOMMU collapses
                               further faults of the same requester and drops others
                               once its recording registers are full */
    uint64_t last_addr;   /**< device address (page) of the last one */
    uint16_t last_source; /**< its requester: bus << 8 | device << 3 | function */
    uint8_t last_reason;  /**< its fault reason (VT-d §7.1.3, e.g. 5 = write not allowed,
                               6 = read not allowed) */
};

/**
 * @brief Read and clear the IOMMU's fault records (machines created with
 *        capdrv_qtest_config::iommu).
 *
 * The DMA oracle of the direct lane: a device access to an IOVA no mapping
 * allows (a buffer unmapped after revoke or release, an address a provider
 * wrote past the shim's check) is refused by QEMU's intel-iommu and
 * recorded in its fault recording registers (VT-d §7.2.1, §10.4.14). Each
 * call reads every record, adds it to the running count and clears it.
 * @param q the machine.
 * @param out receives the running count and the last fault (filled on
 *        every return but -CAPDRV_EINVAL).
 * @return 0; -CAPDRV_EINVAL for NULL arguments; -CAPDRV_ENOTSUP on a machine
 *         without the IOMMU; -CAPDRV_EIO if QEMU has died.
 */
int capdrv_qtest_iommu_faults(struct capdrv_qtest *q, struct capdrv_qtest_iommu_faults *out);

/**
 * @brief Start QEMU and enumerate its PCI functions.
 *
 * Blocks until QEMU answers its first command and bus 0 is enumerated
 * (typically 100-200 ms), each exchange bounded by @p cfg->timeout_ms.
 * @param cfg configuration, or NULL for the defaults (no extra devices).
 * @param out receives the machine.
 * @param why receives a reason on failure (QEMU's stderr when it exited);
 *        may be NULL.
 * @param why_len bytes of @p why.
 * @return 0; -CAPDRV_EINVAL for a bad argument or configuration;
 *         -CAPDRV_ENOENT if the QEMU binary cannot be executed;
 *         -CAPDRV_EIO if QEMU exited (e.g. rejected an argument) or the
 *         machine is not a q35; -CAPDRV_ETIMEDOUT if it did not answer;
 *         -CAPDRV_ENOSPC if the BARs do not fit the window;
 *         -CAPDRV_ENOMEM.
 */
int capdrv_qtest_create(const struct capdrv_qtest_config *cfg, struct capdrv_qtest **out,
                        char *why, size_t why_len);

/**
 * @brief Stop QEMU and free everything. QEMU gets SIGTERM, then SIGKILL
 *        after a grace period (at most 2 s), and is reaped.
 * @param q the machine, or NULL (nothing happens).
 */
void capdrv_qtest_destroy(struct capdrv_qtest *q);

/**
 * @brief The platform interface of a machine, to hand to the kernel shim.
 * @param q the machine.
 * @return the operations (every member implemented) and @p q as context;
 *         both members are NULL when @p q is NULL.
 */
struct capdrv_hw capdrv_qtest_hw(struct capdrv_qtest *q);

/**
 * @brief Is QEMU still serving the machine?
 * @param q the machine.
 * @param why receives the reason when it is not (may be NULL).
 * @param why_len bytes of @p why.
 * @return 0 while alive; -CAPDRV_EIO once QEMU exited, was killed after a
 *         timeout, or broke the protocol; -CAPDRV_EINVAL for NULL @p q.
 */
int capdrv_qtest_status(struct capdrv_qtest *q, char *why, size_t why_len);

/**
 * @brief Find the platform function number of a bus address.
 * @param q the machine.
 * @param addr bus address (domain 0, bus 0).
 * @param fn receives the function number.
 * @return 0, -CAPDRV_ENOENT if no such function was enumerated,
 *         -CAPDRV_EINVAL for NULL arguments.
 */
int capdrv_qtest_find(const struct capdrv_qtest *q, const struct capdrv_pci_addr *addr,
                      unsigned *fn);

/**
 * @brief Read guest RAM directly (an observer: e.g. canaries outside the
 *        DMA ledger), bypassing QEMU.
 * @param q the machine.
 * @param gpa guest physical address.
 * @param buf receives @p len bytes.
 * @param len bytes.
 * @return 0, -CAPDRV_EFAULT if the range is not inside guest RAM,
 *         -CAPDRV_EINVAL for NULL arguments.
 */
int capdrv_qtest_ram_read(const struct capdrv_qtest *q, uint64_t gpa, void *buf, size_t len);

/**
 * @brief Write guest RAM directly (e.g. to plant canaries), bypassing QEMU.
 * @param q the machine.
 * @param gpa guest physical address.
 * @param buf @p len bytes to store.
 * @param len bytes.
 * @return as capdrv_qtest_ram_read().
 */
int capdrv_qtest_ram_write(struct capdrv_qtest *q, uint64_t gpa, const void *buf, size_t len);

/**
 * @brief How many times function_reset() reset function @p fn.
 * @param q the machine.
 * @param fn platform function number.
 * @return the count (0 for an unknown function or NULL @p q).
 */
unsigned capdrv_qtest_reset_count(struct capdrv_qtest *q, unsigned fn);

/**
 * @brief The method function_reset() uses (or used) for function @p fn.
 * @param q the machine.
 * @param fn platform function number.
 * @return CAPDRV_QTEST_RESET_FLR or CAPDRV_QTEST_RESET_VIRTIO when the
 *         function supports one of them, else CAPDRV_QTEST_RESET_NONE.
 */
enum capdrv_qtest_reset capdrv_qtest_reset_method(struct capdrv_qtest *q, unsigned fn);

/**
 * @brief DMA bookkeeping, e.g. to check that a shim freed everything.
 * @param q the machine.
 * @param out receives the counts.
 * @return 0 or -CAPDRV_EINVAL for NULL arguments.
 */
int capdrv_qtest_dma_stats(struct capdrv_qtest *q, struct capdrv_qtest_dma_stats *out);

/**
 * @brief Check one line QEMU sent in answer to a qtest command (exposed for
 *        tests and fuzzing: the reply is untrusted input).
 *
 * Accepted: `OK` when @p want_value is false; `OK 0x<1..16 hex digits>`
 * when it is true. Anything else (FAIL, trailing bytes, a missing or
 * over-long value) is refused.
 * @param line the line without its newline (need not be NUL-terminated).
 * @param len its length.
 * @param want_value whether a value must follow `OK`.
 * @param value receives the value (may be NULL when @p want_value is false).
 * @return 0, -CAPDRV_EIO for a FAIL reply, -CAPDRV_EPROTO for anything
 *         malformed, -CAPDRV_EINVAL for NULL @p line or @p value when needed.
 */
int capdrv_qtest_parse_reply(const char *line, size_t len, bool want_value, uint64_t *value);

/**
 * @brief Send one QMP command to the machine's monitor and wait for its
 *        reply (QEMU docs/interop/qmp-spec).
 *
 * The first call reads QEMU's greeting and negotiates capabilities
 * (`qmp_capabilities`). Asynchronous events that arrive before the reply
 * are skipped. The whole exchange waits at most
 * capdrv_qtest_config::timeout_ms. A timeout, EOF or malformed message
 * closes the monitor for good: later calls return -CAPDRV_EIO at once,
 * with the reason in @p reply. QEMU itself is not stopped (see
 * capdrv_qtest_status() for the qtest stream). A command that ends QEMU
 * (`quit`) may see either its reply or -CAPDRV_EIO: QEMU can close the
 * monitor before the reply is flushed.
 * @param q the machine.
 * @param command one JSON object on one line, without a newline, e.g.
 *        `{"execute":"query-status"}`; it is not checked beyond that.
 * @param reply receives the reply line (the JSON object as QEMU sent it,
 *        truncated to fit, NUL-terminated); may be NULL.
 * @param reply_len bytes of @p reply.
 * @return 0 for a `return` reply; -CAPDRV_EIO for an `error` reply (the
 *         error object is in @p reply) or a closed monitor;
 *         -CAPDRV_ETIMEDOUT; -CAPDRV_EPROTO for a message that is neither
 *         a reply nor an event; -CAPDRV_EINVAL for NULL or empty arguments
 *         or a @p command containing a line break; -CAPDRV_ENOMEM.
 */
int capdrv_qtest_qmp(struct capdrv_qtest *q, const char *command, char *reply, size_t reply_len);

/**
 * @brief Run one human-monitor (HMP) command through QMP
 *        (`human-monitor-command`) and return its output.
 *
 * @p command_line is escaped as a JSON string (quotes, backslashes,
 * control characters), so it is passed to HMP exactly. Some commands print
 * to QEMU's stdout instead of the monitor (`qemu-io` does): their output
 * is then empty here.
 * @param q the machine.
 * @param command_line e.g. `info status`.
 * @param out receives the command's output, unescaped (characters outside
 *        ASCII become '?'), truncated to fit, NUL-terminated; on an `error`
 *        reply the error object as QEMU sent it. May be NULL.
 * @param out_len bytes of @p out.
 * @return as capdrv_qtest_qmp(); -CAPDRV_EPROTO also when the reply holds
 *         no string.
 */
int capdrv_qtest_hmp(struct capdrv_qtest *q, const char *command_line, char *out, size_t out_len);

#ifdef __cplusplus
}
#endif
#endif /* CAPDRV_QTEST_H */
