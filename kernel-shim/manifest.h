/* The grant manifest: a flattened device tree, parsed as hostile input.
 *
 * Format (docs/MANIFEST.md has the full reference):
 *
 *   /dts-v1/;
 *   / {
 *       compatible = "capdrv,manifest-v1";
 *       dma-backend = "auto";            // optional: auto | brokered | direct
 *       grants {
 *           blk0 {                        // node name = grant name (< 32 chars)
 *               provider = "blk-provider";// who may open it (< 32 chars)
 *               class = "dma-capable";    // any-function | dma-capable | nvme-controller
 *               match-id = <0x1af4 0x1042>;        // vendor device, and/or
 *               match-class = <0x010802 0xffffff>; // class code, mask, and/or
 *               match-address = "0000:00:04.0";    // domain:bus:dev.fn
 *               // or, for an MMIO device (virtio-mmio), instead of the three:
 *               // match-mmio = <0x0 0x0a003e00>;    // exact 64-bit base
 *               pool-quota = <0x0 0x400000>;       // optional: 64-bit bytes
 *               pool-buffers = <64>;               // optional: buffer count
 *               interrupts = <2>;                  // optional: vectors 0..n-1
 *               dma-backend = "brokered";          // optional per-grant override
 *               window-regs {                      // node name after "window-"
 *                   bar = <0>;
 *                   offset = <0x0 0x0>;             // 64-bit
 *                   length = <0x0 0x1000>;          // 64-bit
 *                   access = "rw";                  // optional: r | w | rw
 *               };
 *           };
 *       };
 *   };
 *
 * Every grant needs at least one match-* property; all present must match.
 * match-mmio excludes the PCI match-* properties. 
 */
#ifndef CAPDRV_SHIM_MANIFEST_H
#define CAPDRV_SHIM_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <capdrv/shim.h>
#include <capdrv/sys.h>

struct capdrv_env;

#define SHIM_MAX_GRANTS 64
#define SHIM_MAX_WINDOWS 8
#define SHIM_MAX_IRQS 64

enum shim_match_flags {
    SHIM_MATCH_ID = 1u << 0,
    SHIM_MATCH_CLASS = 1u << 1,
    SHIM_MATCH_ADDR = 1u << 2,
    SHIM_MATCH_MMIO = 1u << 3 /* an MMIO device by its base; never with the PCI ones */
};
#define SHIM_MATCH_PCI (SHIM_MATCH_ID | SHIM_MATCH_CLASS | SHIM_MATCH_ADDR)

struct shim_manifest_window {
    char name[CAPDRV_NAME_MAX]; /* without the "window-" prefix; non-empty */
    unsigned bar;               /* 0..5 */
    uint64_t offset;
    uint64_t length;            /* > 0; offset + length does not overflow */
    uint32_t flags;             /* CAPDRV_WINDOW_READ / CAPDRV_WINDOW_WRITE */
};

struct shim_manifest_grant {
    char name[CAPDRV_NAME_MAX];
    char provider[CAPDRV_NAME_MAX];
    enum capdrv_grant_class cls;
    uint32_t match_flags;        /* enum shim_match_flags; never 0 */
    uint16_t vendor, device;     /* SHIM_MATCH_ID */
    uint32_t class_code, class_mask; /* SHIM_MATCH_CLASS (24 bits each) */
    struct capdrv_pci_addr addr; /* SHIM_MATCH_ADDR */
    uint64_t mmio_base;          /* SHIM_MATCH_MMIO: exact base of the device's region */
    uint64_t pool_bytes;         /* 0: no DMA pool */
    uint32_t pool_buffers;       /* 0 iff pool_bytes == 0; 1024 if pool-buffers is absent */
    uint32_t n_irqs;             /* <= SHIM_MAX_IRQS */
    enum capdrv_dma_backend backend; /* per-grant override; AUTO = none */
    struct shim_manifest_window windows[SHIM_MAX_WINDOWS];
    unsigned n_windows;
};

struct shim_manifest {
    enum capdrv_dma_backend backend; /* global override; AUTO = none */
    struct shim_manifest_grant *grants; /* from capdrv_env_alloc() */
    unsigned n_grants;                  /* 1..SHIM_MAX_GRANTS */
};

/* Parse @blob (@len bytes, 8-byte aligned as libfdt requires; the blob's
 * own totalsize must not exceed @len). On success fills @out (free with
 * shim_manifest_free()); @out never points into @blob. On failure returns
 * -CAPDRV_EINVAL (or -CAPDRV_ENOMEM), leaves @out zeroed, writes one reason
 * naming the offending node/property into @why (may be NULL), and logs
 * "manifest-refused" at CAPDRV_LOG_WARN. Grant names are unique, and so are
 * window names within a grant. */
int shim_manifest_parse(struct capdrv_env *env, const void *blob, size_t len,
                        struct shim_manifest *out, char *why, size_t why_len);

void shim_manifest_free(struct capdrv_env *env, struct shim_manifest *m);

#endif
