/* Private to src/virtio: the virtio-net handle, shared by net.c (bring-up,
 * configuration, interrupts), net_rx.c (receive) and net_tx.c (transmit). */
#ifndef CAPDRV_VIRTIO_NET_INTERNAL_H
#define CAPDRV_VIRTIO_NET_INTERNAL_H

#include <capdrv/virtio_mmio.h>
#include <capdrv/virtio_net.h>

#include "queue.h"

/* Queue indices without VIRTIO_NET_F_MQ (§5.1.2): receiveq1, transmitq1. */
#define VNET_RXQ 0u
#define VNET_TXQ 1u

/* struct virtio_net_config (§5.1.4), byte offsets. */
#define VNET_CFG_MAC 0u     /* u8[6] */
#define VNET_CFG_STATUS 6u  /* le16 */
#define VNET_CFG_MTU 10u    /* le16 */
#define VNET_S_LINK_UP 1u   /* status bit (§5.1.4) */

/* struct virtio_net_hdr (§5.1.6), byte offsets. */
#define VNET_HDR_FLAGS 0u
#define VNET_HDR_GSO_TYPE 1u
#define VNET_HDR_HDR_LEN 2u
#define VNET_HDR_GSO_SIZE 4u
#define VNET_HDR_CSUM_START 6u
#define VNET_HDR_CSUM_OFFSET 8u
#define VNET_HDR_NUM_BUFFERS 10u

/* Per transmit slot, a header area in the transmit queue's DMA buffer. */
#define VNET_TX_HDR_STRIDE 16u

/* Receive buffer states: every buffer is in exactly one. */
enum vnet_rx_state {
    VNET_RX_IDLE = 0, /* driver-owned, not in the ring */
    VNET_RX_POSTED,   /* in the ring (device-owned) */
    VNET_RX_HELD,     /* reaped, waiting in the completion FIFO */
    VNET_RX_LENT      /* part of a frame lent to the caller */
};

#define VNET_NONE 0xffffu

struct vnet_rxbuf {
    uint16_t index; /* buffer number: memory at rx_bi + index * stride */
    uint16_t gen;   /* bumped at each lend: stale handles are refused */
    uint16_t next;  /* next buffer of the same lent frame, or VNET_NONE */
    uint8_t state;  /* enum vnet_rx_state */
    uint8_t head;   /* first buffer of a lent frame */
};

/* A reaped receive completion waiting to be assembled into a frame. */
struct vnet_cqe {
    uint16_t index;
    uint32_t len;
};

struct vnet_txslot {
    void *cookie;
    uint32_t bytes;
    uint32_t index;
};


struct capdrv_virtio_net {
    capdrv_sys *sys;
    capdrv_cap_t grant;
    capdrv_cap_t pool;
    capdrv_cap_t cfg_irq;           /* PCI: configuration vector; MMIO: the one line */
    bool mmio;                      /* transport: virtio-mmio (vm), else PCI (vp) */
    bool opened;                    /* the transport was bound (close resets it) */
    struct capdrv_virtio_pci vp;
    struct capdrv_virtio_mmio vm;
    struct capdrv_virtio_net_info info;
    struct vio_queue rxq, txq;
    /* Receive side. */
    capdrv_cap_t rx_buf;            /* all receive buffers */
    struct capdrv_dmabuf_info rx_bi;
    size_t rx_stride;               /* bytes between buffers */
    struct vnet_rxbuf *rx;          /* rx_bufs entries */
    uint16_t *rx_idle;              /* stack of idle buffer numbers */
    unsigned n_idle, n_posted, n_held, n_lent;
    struct vnet_cqe *cq;            /* FIFO of reaped completions, rx_bufs entries */
    unsigned cq_head, cq_count;
    int rx_fault;
    /* Transmit side. */
    size_t tx_hdr_off;              /* header area offset in txq.bi */
    struct vnet_txslot *tx;         /* queue-size slots */
    uint32_t *tx_free;              /* free slot numbers */
    unsigned tx_n_free, tx_inflight;
    unsigned tx_indirect;           /* segments per request the ring takes at once */
    struct capdrv_virtio_net_stats st;
    /* capdrv_virtio_net_cancel() (net_tx.c). */
    bool cancelled;                 /* the device was reset: only cancel, release, close */
    bool cancel_tx_done;            /* every transmission in flight was handed back */
    int cancel_rc;                  /* the reset's result */
};

/* Post every idle receive buffer, publish and kick (net_rx.c). */
int vnet_rx_refill(struct capdrv_virtio_net *n);
/* After a device reset: every posted buffer and every buffer waiting to be
 * assembled goes back to the driver, idle (net_rx.c). Lent frames stay
 * lent. */
void vnet_rx_reclaim(struct capdrv_virtio_net *n);
/* Set up the receive buffer bookkeeping; buffers are idle (net_rx.c). */
int vnet_rx_init(struct capdrv_virtio_net *n);
/* Re-read status (§5.1.4) into info.link_up (net.c). */
int vnet_read_link(struct capdrv_virtio_net *n);
/* The device through the transport-neutral seam (transport.h). */
void vnet_transport(struct capdrv_virtio_net *n, struct vt *v);
/* Ring queue @q's doorbell after a publish (net.c). */
int vnet_kick(struct capdrv_virtio_net *n, struct vio_queue *q);

#endif
