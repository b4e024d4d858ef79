/**
 * @file capdrv/virtio_net.h
 * @brief virtio-net provider driver (VIRTIO 1.2 §5.1) over the PCI modern
 *        transport (capdrv/virtio.h) or virtio-mmio version 2
 *        (capdrv/virtio_mmio.h) and split virtqueues (capdrv/virtq.h).
 *
 * **Transport.** As for virtio-blk (capdrv/virtio_blk.h): a grant without
 * PCI configuration space (capdrv_cfg_read() answers -CAPDRV_ENOTSUP) is a
 * virtio-mmio device reached through window
 * capdrv_virtio_net_opts::mmio_window; any other grant is a PCI function.
 * Everything below works the same over both, except interrupts: PCI has a
 * vector per queue, virtio-mmio one line per device (§4.2.3.4), which
 * capdrv_virtio_net_wait() reads and acknowledges (InterruptStatus,
 * InterruptACK); that line does not say which queue, so a wake-up over
 * virtio-mmio reports every event asked for.
 *
 * capdrv_virtio_net_open() brings a granted virtio-net function up
 * (§5.1.5, §3.1.1) with one receive queue (queue 0, receiveq1) and one
 * transmit queue (queue 1, transmitq1). It negotiates CSUM, GUEST_CSUM,
 * MTU, MAC, MRG_RXBUF, STATUS, INDIRECT_DESC and RING_EVENT_IDX whenever
 * the device offers them (VERSION_1 and ACCESS_PLATFORM as
 * capdrv_virtio_negotiate() does); no GSO, no control queue, no
 * multiqueue. The brokered lane hides INDIRECT_DESC and EVENT_IDX, so there
 * they are simply not negotiated.
 *
 * **Ownership (sDDF style).** The driver owns both directions:
 * - **RX**: it allocates the receive buffers from the caller's DMA pool,
 *   posts them, reaps the receive queue's used ring and refills it. A
 *   received frame is *lent* to the caller (capdrv_virtio_net_recv()): its
 *   bytes (one fragment, or several with MRG_RXBUF), length, the header's
 *   checksum information, and a handle. The caller gives the frame back
 *   with capdrv_virtio_net_rx_release(); only then does the driver post
 *   its buffers again. A frame not released keeps its buffers out of the
 *   ring (the receive ring drains).
 * - **TX**: the caller passes its own DMA segments (capdrv_dma_ref()
 *   references into its buffers) and a cookie; the driver puts the 12-byte
 *   struct virtio_net_hdr (§5.1.6) in a per-slot header area it owns in
 *   front of them. The segments belong to the device until the cookie comes
 *   back from capdrv_virtio_net_tx_reap().
 *
 * **Hostile device.** Every header field, used length and num_buffers
 * value is untrusted. A packet that is wrong but whose buffers are known -
 * a frame longer than the MTU allows, a gso_type or flags value that was
 * not negotiated, a checksum field outside the frame, or (without
 * MRG_RXBUF) a used length shorter than the header - is dropped: its
 * buffers are reposted and capdrv_virtio_net_stats::rx_dropped counts it.
 * A violation that leaves packet boundaries unknown or the ring
 * inconsistent - num_buffers 0 or larger than the buffers posted, visible
 * in the used ring, or needed for the largest frame; a first buffer
 * shorter than the header with MRG_RXBUF; a used length longer than
 * posted; a used id that is not a posted buffer - makes the call return
 * -CAPDRV_EPROTO and marks the queue broken: later calls on it return
 * -CAPDRV_EPROTO too. So does an available ring the device rewrote: the
 * driver audits each queue's available ring with capdrv_virtq_verify()
 * once per Queue Size completions reaped on it (a tripwire: an entry the
 * driver overwrites before the audit is not seen, capdrv/virtq.h). No
 * buffer is lost or handed out twice: frames lent before the violation can
 * still be released. capdrv_virtio_net_cancel()
 * then resets the device and hands back every transmission still in
 * flight; close and reopen the device to recover.
 *
 * **Completion** by polling (capdrv_virtio_net_recv(),
 * capdrv_virtio_net_tx_reap()) or by interrupt (capdrv_virtio_net_wait(),
 * opened with irq set: vector 0 configuration change, 1 RX, 2 TX). A
 * configuration change re-reads the link status (§5.1.4, with the
 * config_generation retry of §2.5.1).
 *
 * A handle is not locked: serialise all calls on one handle.
 *
 * Example (send one frame, receive one, polling; error handling shortened):
 * @code
 * // frame: a DMA buffer of the caller's holding a 60-byte Ethernet frame.
 * static int ping(capdrv_sys *sys, capdrv_cap_t grant, capdrv_cap_t pool,
 *                 const struct capdrv_dmabuf_info *frame,
 *                 void (*consume)(const uint8_t *bytes, uint32_t len))
 * {
 *     struct capdrv_virtio_net_opts o = {.pool = pool};
 *     struct capdrv_virtio_net *net;
 *     char why[128];
 *     int rc = capdrv_virtio_net_open(sys, grant, &o, &net, why, sizeof why);
 *     if (rc < 0)
 *         return rc;
 *     struct capdrv_virtq_seg seg = {capdrv_dma_ref(frame, 0), 60};
 *     struct capdrv_virtio_net_tx t = {.segs = &seg, .n_segs = 1, .cookie = &t};
 *     struct capdrv_virtio_net_tx_done d;
 *     rc = capdrv_virtio_net_send(net, &t, 1);
 *     while (rc >= 0 && (rc = capdrv_virtio_net_tx_reap(net, &d, 1)) == 0)
 *         ;  // then d.cookie == &t: the frame buffer is the caller's again
 *     struct capdrv_virtio_net_rx rx;
 *     if (rc >= 0 && (rc = capdrv_virtio_net_recv(net, &rx, 1)) == 1) {
 *         for (unsigned i = 0; i < rx.n_frags; i++)
 *             consume(rx.frags[i].data, rx.frags[i].len);
 *         rc = capdrv_virtio_net_rx_release(net, &rx.handle, 1);  // lent, give back
 *     }
 *     capdrv_virtio_net_close(net);
 *     return rc;
 * }
 * @endcode
 */
#ifndef CAPDRV_VIRTIO_NET_H
#define CAPDRV_VIRTIO_NET_H

#include <stddef.h>
#include <stdint.h>

#include <capdrv/sys.h>
#include <capdrv/virtio.h>
#include <capdrv/virtq.h>

#ifdef __cplusplus
extern "C" {
#endif

/** virtio device id of a network device (§5). */
#define CAPDRV_VIRTIO_ID_NET 1u

/** virtio-net feature bits the driver knows (§5.1.3). */
enum capdrv_virtio_net_feature_bit {
    CAPDRV_VIRTIO_NET_F_CSUM = 0,       /**< device takes packets with partial checksum */
    CAPDRV_VIRTIO_NET_F_GUEST_CSUM = 1, /**< driver takes packets with partial checksum */
    CAPDRV_VIRTIO_NET_F_MTU = 3,        /**< mtu in the configuration is valid */
    CAPDRV_VIRTIO_NET_F_MAC = 5,        /**< mac in the configuration is valid */
    CAPDRV_VIRTIO_NET_F_MRG_RXBUF = 15, /**< driver can merge receive buffers */
    CAPDRV_VIRTIO_NET_F_STATUS = 16     /**< status in the configuration is valid */
};

/** Driver features capdrv_virtio_net_open() asks for by default. */
#define CAPDRV_VIRTIO_NET_DEFAULT_FEATURES                                                        \
    (CAPDRV_VIRTIO_BIT(CAPDRV_VIRTIO_NET_F_CSUM) |                                                \
     CAPDRV_VIRTIO_BIT(CAPDRV_VIRTIO_NET_F_GUEST_CSUM) |                                          \
     CAPDRV_VIRTIO_BIT(CAPDRV_VIRTIO_NET_F_MTU) | CAPDRV_VIRTIO_BIT(CAPDRV_VIRTIO_NET_F_MAC) |    \
     CAPDRV_VIRTIO_BIT(CAPDRV_VIRTIO_NET_F_MRG_RXBUF) |                                           \
     CAPDRV_VIRTIO_BIT(CAPDRV_VIRTIO_NET_F_STATUS) |                                              \
     CAPDRV_VIRTIO_BIT(CAPDRV_VIRTIO_F_INDIRECT_DESC) | CAPDRV_VIRTIO_BIT(CAPDRV_VIRTIO_F_EVENT_IDX))

/** Bytes of struct virtio_net_hdr in VIRTIO 1.x, num_buffers included (§5.1.6). */
#define CAPDRV_VIRTIO_NET_HDR_LEN 12u
/** Ethernet header bytes counted on top of the MTU (§5.1.4). */
#define CAPDRV_VIRTIO_NET_ETH_HLEN 14u
/** MTU assumed without VIRTIO_NET_F_MTU (1514-byte frames, §5.1.6.3.1). */
#define CAPDRV_VIRTIO_NET_DEFAULT_MTU 1500u
/** Smallest MTU a device may report (§5.1.4.1). */
#define CAPDRV_VIRTIO_NET_MIN_MTU 68u
/** Largest MTU the driver accepts; a larger one is not negotiated. */
#define CAPDRV_VIRTIO_NET_MAX_MTU 9216u
/** Smallest frame the driver sends: an Ethernet header. */
#define CAPDRV_VIRTIO_NET_MIN_FRAME 14u
/** Most caller segments of one transmitted frame. */
#define CAPDRV_VIRTIO_NET_TX_MAX_SEGS 16u
/** Most buffers (fragments) of one received frame. */
#define CAPDRV_VIRTIO_NET_RX_MAX_FRAGS 16u
/** Default and largest Queue Size the driver asks for. */
#define CAPDRV_VIRTIO_NET_DEFAULT_QUEUE_SIZE 256u
/** Default receive buffer bytes with MRG_RXBUF (header included). */
#define CAPDRV_VIRTIO_NET_DEFAULT_MRG_BUF 2048u
/** Smallest receive buffer accepted in rx_buf_len (§5.1.6.3.1 asks at least the header). */
#define CAPDRV_VIRTIO_NET_MIN_MRG_BUF 64u
/** Largest receive buffer accepted in rx_buf_len. */
#define CAPDRV_VIRTIO_NET_MAX_MRG_BUF 65536u

/** struct virtio_net_hdr flags (§5.1.6). */
enum capdrv_virtio_net_hdr_flags {
    CAPDRV_VIRTIO_NET_HDR_F_NEEDS_CSUM = 1u, /**< checksum at csum_start+csum_offset is partial */
    CAPDRV_VIRTIO_NET_HDR_F_DATA_VALID = 2u  /**< the device validated the checksum (RX) */
};

/** struct virtio_net_hdr gso_type NONE (§5.1.6); the only type used here. */
#define CAPDRV_VIRTIO_NET_HDR_GSO_NONE 0u

/** Events of capdrv_virtio_net_wait(). */
enum capdrv_virtio_net_event {
    CAPDRV_VIRTIO_NET_EV_RX = 1u,     /**< receive queue has completions */
    CAPDRV_VIRTIO_NET_EV_TX = 2u,     /**< transmit queue has completions */
    CAPDRV_VIRTIO_NET_EV_CONFIG = 4u  /**< configuration changed; link status re-read */
};

/** A network device handle (opaque). */
struct capdrv_virtio_net;

/** Options of capdrv_virtio_net_open(); zero means the default. */
struct capdrv_virtio_net_opts {
    capdrv_cap_t pool;    /**< the caller's open DMA pool (required) */
    unsigned queue_size;  /**< power of two (default 256), both queues; capped by the device */
    int irq;              /**< non-zero: MSI-X vectors 0 (configuration), 1 (RX), 2 (TX),
                               or over virtio-mmio the device's one line (vector 0);
                               zero: polling only */
    uint64_t features;    /**< driver features to ask for (default
                               CAPDRV_VIRTIO_NET_DEFAULT_FEATURES); others are not asked */
    uint32_t rx_buf_len;  /**< with MRG_RXBUF: bytes per receive buffer, header included,
                               a multiple of 16, CAPDRV_VIRTIO_NET_MIN_MRG_BUF ..
                               CAPDRV_VIRTIO_NET_MAX_MRG_BUF (default
                               2048; raised when the MTU would need more than
                               CAPDRV_VIRTIO_NET_RX_MAX_FRAGS). Ignored without MRG_RXBUF,
                               where each buffer holds header + MTU + 14 (§5.1.6.3.1). */
    unsigned mmio_window; /**< virtio-mmio only: the grant's window over the register
                               block (default 0); ignored for a PCI function */
};

/** What the device is and what was negotiated. */
struct capdrv_virtio_net_info {
    uint8_t mac[6];       /**< from the configuration with VIRTIO_NET_F_MAC, else zero */
    int has_mac;          /**< non-zero when mac is the device's */
    int link_up;          /**< link status as last read (always 1 without F_STATUS) */
    uint32_t mtu;         /**< MTU in use (device's with F_MTU, else 1500) */
    uint32_t max_frame;   /**< largest frame either way: mtu + 14 */
    uint32_t rx_buf_len;  /**< bytes of each receive buffer (header included) */
    unsigned rx_bufs;     /**< receive buffers the driver owns (= RX Queue Size) */
    unsigned queue_size;  /**< Queue Size of each queue */
    unsigned max_rx_bufs_per_frame; /**< buffers the largest frame may span (1 without MRG) */
    uint64_t features;    /**< negotiated feature bits */
    int lane;             /**< enum capdrv_lane of the grant */
    int irq;              /**< non-zero when interrupts are routed */
};

/** Transmit flags (capdrv_virtio_net_tx::flags). */
enum capdrv_virtio_net_tx_flags {
    /** Ask the device to complete the checksum: the 16-bit ones-complement
     *  sum from csum_start to the end is stored at csum_start + csum_offset
     *  (§5.1.6.2; needs VIRTIO_NET_F_CSUM). */
    CAPDRV_VIRTIO_NET_TX_F_CSUM = 1u
};

/** One frame for capdrv_virtio_net_send(). */
struct capdrv_virtio_net_tx {
    const struct capdrv_virtq_seg *segs; /**< the frame (Ethernet header first) in the caller's
                                              DMA buffers; device-owned until completion */
    unsigned n_segs;      /**< 1 .. CAPDRV_VIRTIO_NET_TX_MAX_SEGS */
    uint32_t flags;       /**< enum capdrv_virtio_net_tx_flags */
    uint16_t csum_start;  /**< with TX_F_CSUM: where summing starts (frame offset) */
    uint16_t csum_offset; /**< with TX_F_CSUM: where the sum goes, from csum_start */
    void *cookie;         /**< returned with the completion */
};

/** One completed transmission. */
struct capdrv_virtio_net_tx_done {
    void *cookie; /**< as given */
    int status;   /**< 0 (the device consumed the frame) */
};

/** One received fragment: bytes in the driver's DMA memory, lent. */
struct capdrv_virtio_net_frag {
    const uint8_t *data; /**< first byte (valid until the frame is released) */
    uint32_t len;        /**< bytes */
};

/** One received frame, lent to the caller until capdrv_virtio_net_rx_release(). */
struct capdrv_virtio_net_rx {
    uint32_t handle;      /**< give back with capdrv_virtio_net_rx_release() */
    uint32_t len;         /**< frame bytes, header excluded (sum of the fragments) */
    unsigned n_frags;     /**< fragments (buffers) the frame spans, >= 1 */
    uint8_t flags;        /**< header flags: CAPDRV_VIRTIO_NET_HDR_F_NEEDS_CSUM / DATA_VALID */
    uint16_t csum_start;  /**< with NEEDS_CSUM: frame offset where summing starts */
    uint16_t csum_offset; /**< with NEEDS_CSUM: where the sum goes, from csum_start */
    struct capdrv_virtio_net_frag frags[CAPDRV_VIRTIO_NET_RX_MAX_FRAGS]; /**< the bytes */
};

/** Counters and buffer accounting (capdrv_virtio_net_stats()). */
struct capdrv_virtio_net_stats {
    /* (Each group shares its comment between both fields.) */
    /**@{*/ uint64_t tx_frames, tx_bytes; /**< transmissions completed, and their bytes */ /**@}*/
    /**@{*/ uint64_t rx_frames, rx_bytes; /**< frames lent to the caller, and their bytes */ /**@}*/
    unsigned rx_posted;  /**< receive buffers in the ring (device-owned) */
    unsigned rx_held;    /**< reaped, not yet lent (a frame being assembled) */
    unsigned rx_lent;    /**< buffers of frames lent to the caller */
    unsigned rx_idle;    /**< driver-owned, waiting to be posted */
    unsigned tx_inflight; /**< transmissions not yet reaped */
    uint64_t rx_dropped; /**< packets dropped: a header or length the driver refuses
                              (FAULT_HDR, FAULT_FRAME_LEN, FAULT_SHORT without
                              MRG_RXBUF) in a packet whose buffers are known;
                              the buffers are reposted and reception goes on */
    int rx_last_drop;    /**< enum capdrv_virtio_net_fault of the last drop, or 0 */
    int rx_fault;        /**< 0, or why the receive side is broken: an enum
                              capdrv_virtq_fault (ring) or enum capdrv_virtio_net_fault */
    int tx_fault;        /**< 0, or enum capdrv_virtq_fault of the transmit queue */
};

/** Receive-side violations found in headers and lengths (beyond the ring
 *  faults of enum capdrv_virtq_fault, which they do not overlap). */
enum capdrv_virtio_net_fault {
    CAPDRV_VIRTIO_NET_FAULT_NUM_BUFFERS = 64, /**< num_buffers 0, above the frame bound, or more
                                                   than the used ring holds */
    CAPDRV_VIRTIO_NET_FAULT_FRAME_LEN,        /**< frame longer than mtu + 14 */
    CAPDRV_VIRTIO_NET_FAULT_SHORT,            /**< first buffer shorter than the header */
    CAPDRV_VIRTIO_NET_FAULT_HDR               /**< gso_type or flags not negotiated, or a
                                                   checksum field outside the frame */
};

/**
 * @brief Describe a fault code of capdrv_virtio_net_stats::rx_fault or
 *        tx_fault.
 * @param fault enum capdrv_virtio_net_fault or enum capdrv_virtq_fault.
 * @return a static, never-NULL string.
 */
const char *capdrv_virtio_net_strfault(int fault);

/**
 * @brief Bring up a virtio-net function (§5.1.5, §3.1.1).
 *
 * Binds the transport, negotiates features (an MTU below 68 or above
 * CAPDRV_VIRTIO_NET_MAX_MTU is not negotiated), reads MAC, status and MTU
 * (§5.1.4), sets up the receive and transmit queues with memory from
 * @p opts->pool, posts every receive buffer, opens the interrupt vectors
 * when @p opts->irq is set, then sets DRIVER_OK and publishes the receive
 * buffers (§5.1.5: receive buffers may be added right after DRIVER_OK).
 *
 * @param sys connection.
 * @param grant open grant of a virtio-net function (class DMA_CAPABLE).
 * @param opts options; pool required.
 * @param out receives the handle.
 * @param why receives a one-line reason on failure (may be NULL).
 * @param why_len size of @p why.
 * @return 0; -CAPDRV_EINVAL (bad argument or option); -CAPDRV_ENODEV (not
 *         a virtio-net device with the modern interface, modern or
 *         transitional PCI id); -CAPDRV_ENOTSUP (features refused,
 *         queues missing or too small for one frame); -CAPDRV_EPROTO
 *         (malformed configuration); -CAPDRV_ENOMEM; errors of
 *         capdrv_virtio_pci_open() and capdrv/sys.h (e.g. -CAPDRV_ENOSPC
 *         when the pool quota is too small).
 */
int capdrv_virtio_net_open(capdrv_sys *sys, capdrv_cap_t grant,
                           const struct capdrv_virtio_net_opts *opts,
                           struct capdrv_virtio_net **out, char *why, size_t why_len);

/**
 * @brief Reset the device and free everything the handle holds (rings,
 *        receive buffers, header areas, interrupt and window capabilities).
 *
 * Frames still lent become invalid (their memory is released): release or
 * copy them first. Transmissions in flight are dropped without completion
 * (call capdrv_virtio_net_cancel() first to get their cookies back); the
 * reset guarantees the device no longer reads the caller's segments.
 * The grant and the pool stay open.
 *
 * @param net handle, or NULL.
 */
void capdrv_virtio_net_close(struct capdrv_virtio_net *net);

/**
 * @brief Describe the device.
 * @param net handle.
 * @param out filled.
 * @return 0; -CAPDRV_EINVAL for NULL arguments.
 */
int capdrv_virtio_net_info(const struct capdrv_virtio_net *net, struct capdrv_virtio_net_info *out);

/**
 * @brief Counters and where every receive buffer is.
 *
 * rx_posted + rx_held + rx_lent + rx_idle always equals info.rx_bufs.
 *
 * @param net handle.
 * @param out filled.
 * @return 0; -CAPDRV_EINVAL for NULL arguments.
 */
int capdrv_virtio_net_stats(const struct capdrv_virtio_net *net,
                            struct capdrv_virtio_net_stats *out);

/**
 * @brief Queue a batch of frames for transmission and ring one doorbell.
 *
 * Every frame is checked first; if any is malformed nothing is sent. Then
 * frames are added in order until the ring is full, made visible with one
 * publish (§2.7.13) and the device is notified once
 * (capdrv_virtio_pci_kick()).
 *
 * @param net handle.
 * @param pkts frames.
 * @param n number of frames.
 * @return frames queued (0..n; fewer when the ring filled: reap, then send
 *         the rest); -CAPDRV_EINVAL (NULL, no or too many segments, a
 *         zero-length segment, a frame shorter than 14 bytes, a checksum
 *         request whose field lies outside the frame, unknown flags);
 *         -CAPDRV_ERANGE (frame longer than mtu + 14, §5.1.6.2);
 *         -CAPDRV_ENOTSUP (TX_F_CSUM without VIRTIO_NET_F_CSUM);
 *         -CAPDRV_EPROTO (transmit queue broken, or an earlier doorbell
 *         refused: the queue takes nothing until a reset); -CAPDRV_EFAULT (the
 *         kernel refused a DMA reference at the doorbell); -CAPDRV_ECANCELED
 *         (after capdrv_virtio_net_cancel()).
 */
int capdrv_virtio_net_send(struct capdrv_virtio_net *net, const struct capdrv_virtio_net_tx *pkts,
                           unsigned n);

/**
 * @brief Collect up to @p max completed transmissions (polling).
 * @param net handle.
 * @param out room for @p max completions.
 * @param max most completions.
 * @return completions (>= 0); -CAPDRV_EPROTO (transmit queue broken);
 *         -CAPDRV_EINVAL; -CAPDRV_ECANCELED (after capdrv_virtio_net_cancel(),
 *         which returns what was still in flight).
 */
int capdrv_virtio_net_tx_reap(struct capdrv_virtio_net *net, struct capdrv_virtio_net_tx_done *out,
                              unsigned max);

/**
 * @brief Take back every transmission still in flight and every receive
 *        buffer the device holds, after a fault or a timeout: reset the
 *        device, then return the transmissions with status
 *        -CAPDRV_ECANCELED.
 *
 * Mirrors capdrv_virtio_blk_cancel(). The first call resets the device
 * (§2.4, §3.3.1: after a reset the device uses no buffer it was given), so
 * the caller may reuse or free a transmission's segments once its cookie
 * comes back. Transmissions are returned in batches of at most @p max;
 * call until it returns 0. Each transmission queued and not reaped is
 * returned exactly once, with its cookie and status -CAPDRV_ECANCELED
 * (never counted in tx_frames); none is lost, even on a transmit queue the
 * device broke or after a refused doorbell.
 *
 * Receive buffers are the driver's own memory, so they have no cookie to
 * return: the first call takes every posted buffer, and every buffer
 * reaped but not yet lent, back to the driver (capdrv_virtio_net_stats()
 * then shows rx_posted and rx_held 0, and rx_idle + rx_lent = rx_bufs),
 * even on a receive side the device broke. Frames already lent stay valid
 * until capdrv_virtio_net_rx_release() (which then takes them back without
 * posting anything and returns -CAPDRV_ECANCELED) or
 * capdrv_virtio_net_close().
 *
 * Afterwards the handle accepts further cancel calls (returning 0),
 * capdrv_virtio_net_rx_release(), info, stats and
 * capdrv_virtio_net_close(): send, tx_reap, recv and wait return
 * -CAPDRV_ECANCELED.
 *
 * @param net handle.
 * @param out room for @p max transmissions.
 * @param max most transmissions to return.
 * @return transmissions returned (>= 0; 0 when none is left);
 *         -CAPDRV_EINVAL. The transmissions come back even if the reset
 *         fails (device_status never reads 0): their buffers then stay in
 *         flight in the kernel shim (it resets the function before anyone
 *         else can reuse them), so the caller must not hand them to the
 *         device again.
 */
int capdrv_virtio_net_cancel(struct capdrv_virtio_net *net, struct capdrv_virtio_net_tx_done *out,
                             unsigned max);

/**
 * @brief Receive up to @p max frames (polling): reap the receive queue,
 *        assemble frames, lend them.
 *
 * Each frame's header (§5.1.6) is read once and checked: num_buffers (with
 * MRG_RXBUF) must be 1 .. the buffers the largest frame may span, and that
 * many buffers must be in the used ring (§5.1.6.4: the device uses a
 * packet's buffers together); the frame must fit mtu + 14; gso_type must be
 * NONE and flags only what GUEST_CSUM allows (§5.1.6.4.1). A packet failing
 * the last two checks is dropped and counted, not returned. Buffers the
 * driver holds idle are posted again first.
 *
 * @param net handle.
 * @param out room for @p max frames.
 * @param max most frames.
 * @return frames lent (>= 0); -CAPDRV_EPROTO (the device broke the
 *         protocol, now or before: the receive side is broken; frames
 *         returned by earlier calls stay valid); -CAPDRV_EINVAL;
 *         -CAPDRV_ECANCELED (after capdrv_virtio_net_cancel()).
 */
int capdrv_virtio_net_recv(struct capdrv_virtio_net *net, struct capdrv_virtio_net_rx *out,
                           unsigned max);

/**
 * @brief Give lent frames back; their buffers are posted again with one
 *        publish and one doorbell.
 *
 * Every handle is checked first; if any is unknown or already released
 * nothing is released.
 *
 * @param net handle.
 * @param handles capdrv_virtio_net_rx::handle values.
 * @param n number of handles.
 * @return 0 (the frames are the driver's again); -CAPDRV_EINVAL (NULL, or
 *         a handle never issued); -CAPDRV_ESTALE (a handle already
 *         released); -CAPDRV_EPROTO (released, but the receive side is
 *         broken so nothing was posted); -CAPDRV_ECANCELED (released, but
 *         the device was reset by capdrv_virtio_net_cancel(): nothing was
 *         posted); -CAPDRV_EFAULT (released, the kernel refused the
 *         doorbell).
 */
int capdrv_virtio_net_rx_release(struct capdrv_virtio_net *net, const uint32_t *handles,
                                 unsigned n);

/**
 * @brief Copy a lent frame's fragments into contiguous memory.
 * @param rx a frame from capdrv_virtio_net_recv(), not yet released.
 * @param dst destination.
 * @param cap bytes available at @p dst.
 * @return bytes copied (min(rx->len, cap)); 0 for NULL arguments.
 */
size_t capdrv_virtio_net_rx_copy(const struct capdrv_virtio_net_rx *rx, void *dst, size_t cap);

/**
 * @brief Wait for an interrupt of the device (opened with irq set).
 *
 * Re-arms used-buffer notifications of the queues in @p events
 * (capdrv_virtq_enable_cb(), §2.7.14); when completions are already pending
 * returns at once, else waits on those queues' vectors and the
 * configuration vector and acknowledges what fired. A configuration
 * interrupt re-reads the link status (info.link_up) and checks
 * DEVICE_NEEDS_RESET.
 *
 * @param net handle.
 * @param events CAPDRV_VIRTIO_NET_EV_RX and/or EV_TX (EV_CONFIG is always
 *        waited for).
 * @param timeout_ns as capdrv_irq_wait(): negative waits without bound.
 * @return a mask of enum capdrv_virtio_net_event (> 0); -CAPDRV_ETIMEDOUT;
 *         -CAPDRV_EIO (the device needs a reset); -CAPDRV_ENOTSUP (opened
 *         without irq); -CAPDRV_EPROTO (a queue is broken); -CAPDRV_EINVAL;
 *         -CAPDRV_ECANCELED (after capdrv_virtio_net_cancel()); errors of
 *         capdrv_irq_wait().
 */
int capdrv_virtio_net_wait(struct capdrv_virtio_net *net, unsigned events, int64_t timeout_ns);

/**
 * @brief Read the link status now (§5.1.4: status & VIRTIO_NET_S_LINK_UP,
 *        consistent under config_generation, §2.5.1).
 * @param net handle.
 * @param up receives 1 (up) or 0; always 1 without VIRTIO_NET_F_STATUS
 *        (§5.1.4.2).
 * @return 0; -CAPDRV_EINVAL; errors of capdrv_virtio_config_read().
 */
int capdrv_virtio_net_link(struct capdrv_virtio_net *net, int *up);

/**
 * @brief Check the device status for DEVICE_NEEDS_RESET (§2.1.1).
 * @param net handle.
 * @return 0 healthy; -CAPDRV_EIO when the device needs a reset; errors of
 *         capdrv/sys.h.
 */
int capdrv_virtio_net_check(struct capdrv_virtio_net *net);

#ifdef __cplusplus
}
#endif
#endif /* CAPDRV_VIRTIO_NET_H */
