/* The manager wire protocol, version 1 (docs/MANAGER.md).
 *
 * Transport: a Unix SOCK_SEQPACKET socket, so one message is one packet and
 * the kernel keeps message boundaries; a packet longer than the largest
 * message is truncated by the kernel and refused here (MSG_TRUNC). Both
 * ends are on one host: fields are in host byte order, structs have
 * explicit padding and fixed sizes (checked below).
 *
 * Every message starts with struct cdw_hdr. A request carries a type from
 * enum cdw_type and a sequence number; the response carries the same
 * sequence number and type | CDW_RESPONSE, and starts with an int32 result
 * (0 or a negative CAPDRV_E* code). The first request on a connection must
 * be CDW_HELLO; until it succeeds nothing else is served.
 *
 * File descriptors travel as SCM_RIGHTS ancillary data on the responses of
 * CDW_DMA_ALLOC and CDW_DMABUF_INFO (the buffer's memfd). Providers never
 * send descriptors: the manager discards any it receives.
 *
 * The peer is hostile in both directions: cdw_check() validates magic,
 * version, direction, type and the exact length of every message, and the
 * NUL termination of every name, before anything else reads it. Internal
 * header: not installed, names are not exported from libcapdrv.so. */
#ifndef CAPDRV_REMOTE_WIRE_H
#define CAPDRV_REMOTE_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include <capdrv/sys.h>

#define CDW_MAGIC 0x4d524443u /* "CDRM" in a little-endian dump */
#define CDW_VERSION 1u
#define CDW_RESPONSE 0x8000u
/* Largest status text (CDW_STATUS response); the largest message. */
#define CDW_STATUS_TEXT_MAX 16384u
#define CDW_IRQ_MAX 64u
/* The longest the manager waits for one IRQ_WAIT: its loop serves every
 * provider, so a longer or unbounded wait is the client's loop of such
 * slices (and a hostile provider cannot stall the others for longer). */
#define CDW_IRQ_WAIT_SLICE_NS 10000000LL
/* Interrupts by descriptor (manager/irqpump.h): when the manager hands a
 * descriptor out with IRQ_OPEN (the reading end of a stream socket), each
 * event is one byte on it; end-of-file means the capability is stale. */
#define CDW_IRQ_EVENT_FIRED '!'
#define CDW_IRQ_EVENT_ERROR 'E' /* the platform failed (-CAPDRV_EIO) */

struct cdw_hdr {
    uint32_t magic;   /* CDW_MAGIC */
    uint16_t version; /* CDW_VERSION */
    uint16_t type;    /* enum cdw_type, | CDW_RESPONSE on responses */
    uint32_t length;  /* payload bytes after this header */
    uint32_t seq;     /* request sequence number, echoed by the response */
};

enum cdw_type {
    CDW_HELLO = 1,
    CDW_GRANT_COUNT = 2,
    CDW_GRANT_INFO = 3,
    CDW_GRANT_OPEN = 4,
    CDW_GRANT_LANE = 5,
    CDW_GRANT_RESET = 6,
    CDW_WINDOW_INFO = 7,
    CDW_MMIO_OPEN = 8,
    CDW_MMIO_READ = 9,
    CDW_MMIO_WRITE = 10,
    CDW_CFG_READ = 11,
    CDW_CFG_WRITE = 12,
    CDW_POOL_OPEN = 13,
    CDW_DMA_ALLOC = 14,
    CDW_DMABUF_INFO = 15,
    CDW_IRQ_OPEN = 16,
    CDW_IRQ_WAIT = 17,
    CDW_IRQ_ACK = 18,
    CDW_IRQ_MASK = 19,
    CDW_CAP_RELEASE = 20,
    CDW_BYE = 21,    /* orderly close: the reply comes after the teardown */
    CDW_STATUS = 22, /* control connections only */
    CDW_REVOKE = 23, /* control connections only */
    CDW_TYPE_END
};

/* CDW_HELLO flags. */
#define CDW_HELLO_CONTROL 1u /* a control connection (status), not a provider */

/* ---- requests ---- */
struct cdw_hello {
    uint32_t flags;
    uint32_t reserved; /* must be 0 */
    char name[CAPDRV_NAME_MAX]; /* provider name, NUL-terminated */
};
struct cdw_index { uint32_t index; uint32_t pad; };           /* GRANT_INFO, GRANT_OPEN */
/* GRANT_LANE, GRANT_RESET, POOL_OPEN, DMABUF_INFO, IRQ_ACK, CAP_RELEASE */
struct cdw_cap { uint64_t cap; };
struct cdw_cap_idx { uint64_t cap; uint32_t index; uint32_t pad; }; /* WINDOW_INFO, MMIO_OPEN, IRQ_OPEN */
struct cdw_mmio_rd { uint64_t cap; uint64_t offset; uint32_t width; uint32_t pad; };
struct cdw_mmio_wr { uint64_t cap; uint64_t offset; uint64_t val; uint32_t width; uint32_t pad; };
struct cdw_cfg { uint64_t cap; uint32_t offset; uint32_t width; uint32_t val; uint32_t pad; }; /* CFG_READ (val 0), CFG_WRITE */
struct cdw_alloc { uint64_t pool; uint64_t size; };
struct cdw_irq_wait { uint32_t n; uint32_t pad; int64_t timeout_ns; uint64_t irqs[CDW_IRQ_MAX]; };
struct cdw_irq_mask { uint64_t cap; uint32_t masked; uint32_t pad; }; /* masked: 0 or 1 */
struct cdw_revoke { char name[CAPDRV_NAME_MAX]; uint64_t cap; }; /* provider name, its handle */

/* ---- responses (all start with rc) ---- */
struct cdw_r_rc { int32_t rc; uint32_t pad; };  /* every call without results */
struct cdw_r_hello { int32_t rc; uint32_t version; };
struct cdw_r_cap { int32_t rc; uint32_t pad; uint64_t cap; };
struct cdw_r_val { int32_t rc; uint32_t pad; uint64_t val; }; /* MMIO_READ, CFG_READ, IRQ_WAIT (ready) */
struct cdw_r_grant_info {
    int32_t rc;
    uint32_t cls, lane, class_code;
    uint16_t domain;
    uint8_t bus, dev, fn, revision;
    uint16_t vendor, device, subsys_vendor, subsys_device;
    uint16_t pad;
    uint32_t n_windows, n_irqs, pool_quota_buffers, claimed; /* claimed: 0 or 1 */
    uint64_t pool_quota_bytes;
    char name[CAPDRV_NAME_MAX];
};
struct cdw_r_window_info {
    int32_t rc;
    uint32_t bar;
    uint64_t offset, length;
    uint32_t flags, pad;
    char name[CAPDRV_NAME_MAX];
};
/* DMA_ALLOC, DMABUF_INFO: on success one memfd rides along; the buffer's
 * bytes are [0, size) of it and the provider maps map_size bytes. */
struct cdw_r_buf {
    int32_t rc;
    uint32_t pad;
    uint64_t cap; /* DMA_ALLOC: the new buffer; DMABUF_INFO: the one asked about */
    uint64_t size, ref_base, map_size;
};
struct cdw_r_status { int32_t rc; uint32_t text_len; char text[CDW_STATUS_TEXT_MAX]; };

_Static_assert(sizeof(struct cdw_hdr) == 16, "wire header size");
_Static_assert(sizeof(struct cdw_hello) == 40, "hello size");
_Static_assert(sizeof(struct cdw_revoke) == 40, "revoke size");
_Static_assert(sizeof(struct cdw_irq_wait) == 16 + 8 * CDW_IRQ_MAX, "irq_wait size");
_Static_assert(sizeof(struct cdw_r_grant_info) == 56 + CAPDRV_NAME_MAX, "grant_info size");
_Static_assert(sizeof(struct cdw_r_window_info) == 32 + CAPDRV_NAME_MAX, "window_info size");

/* The largest packet either side ever sends. */
#define CDW_MSG_MAX (sizeof(struct cdw_hdr) + sizeof(struct cdw_r_status))

/* Validate one received packet of @len bytes. @from_manager selects the
 * direction: responses when true, requests when false. On success fills
 * @hdr and returns 0; otherwise -CAPDRV_EPROTO and the packet must be
 * dropped (and the peer disconnected: a confused peer is not trusted). */
int cdw_check(const void *buf, size_t len, int from_manager, struct cdw_hdr *hdr);

/* Payload size a message of @type (with or without CDW_RESPONSE) must
 * have; 0 for an unknown type. For the variable-size CDW_STATUS response
 * this is the minimum (rc and text_len). */
size_t cdw_payload_size(uint16_t type);

/* Fill a header. */
void cdw_hdr_init(struct cdw_hdr *h, uint16_t type, uint32_t length, uint32_t seq);

#endif
