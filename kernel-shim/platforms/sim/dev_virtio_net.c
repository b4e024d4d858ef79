/* The virtio-net device model (VIRTIO 1.2 §5.1): one receiveq/transmitq
 * pair on the virtio PCI modern transport, with a simulated wire.
 *
 * The transmitq is a request queue: the transport's request engine
 * (dev_virtio_ring.c) hands each chain to tx_handle(), which checks the
 * virtio_net_hdr (§5.1.6.2) and puts the frame on the wire. The receiveq is
 * different: the device consumes its buffers only when a frame is there to
 * deliver, so this file runs it itself (the process hook) with the ring
 * primitives. Frames travel in bounded wire queues: each function's receive
 * queue (fed by a connected peer or by the harness) and, for an unconnected
 * function, the harness's queue of transmitted frames. The wire queues
 * belong to the wire, so device resets keep them.
 *
 * Everything from the driver is untrusted: header fields are bounded
 * against the frame before use, and memory is reached only through the
 * DMA oracle (sim_vreq_xfer()). */
#include "sim_virtio.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_QSIZE 256u
#define NET_NQ 2u      /* receiveq1, transmitq1 (§5.1.2) */
#define MIN_MTU 68u    /* RFC 791: every IPv4 host handles 68-byte datagrams */
#define NO_PEER UINT_MAX
#define HDR CAPDRV_VNET_HDR_SIZE
#define RXQ CAPDRV_VNET_Q_RX
#define TXQ CAPDRV_VNET_Q_TX
#define WIRE CAPDRV_SIM_VIRTIO_NET_WIRE_FRAMES

/* A frame on the wire, with the checksum work its sender left undone. */
struct wframe {
    uint32_t len;
    bool partial; /* NEEDS_CSUM: checksum from csum_start still to store */
    uint16_t csum_start, csum_offset;
    uint8_t *data;
};

/* A bounded FIFO of frames; slot i's bytes are store + i * slot. */
struct wqueue {
    struct wframe f[WIRE];
    unsigned head, n;
    uint32_t slot;
    uint8_t *store;
};

struct vnet {
    struct sim_virtio vio; /* first: the transport finds it at f->dev_state */
    uint32_t max_frame;    /* mtu + Ethernet header */
    bool link_up;
    unsigned peer;        /* connected function, or NO_PEER: the harness's wire */
    struct wqueue rx;     /* frames waiting for receive buffers */
    struct wqueue out;    /* frames sent to the harness (capdrv_sim_virtio_net_take()) */
    uint8_t *frame;       /* transmit scratch, max_frame bytes */
    struct capdrv_sim_virtio_net_stats st;
};

static struct vnet *net(const struct sim_fn *f)
{
    return f->dev_state;
}

/* ---- wire queues ----------------------------------------------------------- */

static int wq_init(struct wqueue *q, uint32_t slot)
{
    q->head = q->n = 0;
    q->slot = slot;
    q->store = calloc(WIRE, slot);
    return q->store ? 0 : -CAPDRV_ENOMEM;
}

/* Append a copy of @w; false (nothing stored) when full or too long. */
static bool wq_push(struct wqueue *q, const struct wframe *w)
{
    if (q->n == WIRE || w->len > q->slot)
        return false;
    unsigned i = (q->head + q->n) % WIRE;
    struct wframe *s = &q->f[i];
    *s = *w;
    s->data = q->store + (size_t)i * q->slot;
    memcpy(s->data, w->data, w->len);
    q->n++;
    return true;
}

static struct wframe *wq_head(struct wqueue *q)
{
    return q->n ? &q->f[q->head] : NULL;
}

static void wq_pop(struct wqueue *q)
{
    q->head = (q->head + 1u) % WIRE;
    q->n--;
}

/* ---- checksum offload --------------------------------------------------------- */

/* Finish a partial checksum (§5.1.6.2): the 16-bit ones'-complement sum
 * (RFC 1071) of the bytes from csum_start to the end, which include the
 * pseudo-header sum the sender left in the checksum field, complemented
 * and stored big-endian at csum_start + csum_offset. The fields were
 * bounded against the frame when it was transmitted. */
static void csum_complete(struct wframe *w)
{
    const uint8_t *p = w->data;
    uint32_t sum = 0, i = w->csum_start;
    for (; i + 1u < w->len; i += 2u)
        sum += (uint32_t)p[i] << 8 | p[i + 1u];
    if (i < w->len)
        sum += (uint32_t)p[i] << 8; /* odd length: pad with a zero byte */
    while (sum >> 16)
        sum = (sum & 0xffffu) + (sum >> 16);
    uint16_t c = (uint16_t)~sum;
    uint32_t at = (uint32_t)w->csum_start + w->csum_offset;
    w->data[at] = (uint8_t)(c >> 8);
    w->data[at + 1u] = (uint8_t)c;
    w->partial = false;
}

/* ---- receive (§5.1.6.3, §5.1.6.4) ------------------------------------------------- */

enum rx_result { RX_DELIVERED, RX_DROPPED, RX_NO_ROOM };

/* The header for @w at this receiver; finishes the checksum when the
 * driver cannot take a partial one (no GUEST_CSUM). */
static void rx_header(const struct sim_virtio *vd, struct wframe *w, uint8_t *hdr)
{
    memset(hdr, 0, HDR); /* gso_type NONE, hdr_len and gso_size 0 */
    if (w->partial && sim_vio_has(vd, CAPDRV_VNET_F_GUEST_CSUM)) {
        hdr[CAPDRV_VNET_HDR_FLAGS] = CAPDRV_VNET_HDR_F_NEEDS_CSUM;
        sim_le_put(hdr + CAPDRV_VNET_HDR_CSUM_START, 2, w->csum_start);
        sim_le_put(hdr + CAPDRV_VNET_HDR_CSUM_OFFSET, 2, w->csum_offset);
    } else if (w->partial) {
        csum_complete(w);
    }
}

/* Without MRG_RXBUF: header + whole frame in the next chain (§5.1.6.3.1). */
static int rx_single(struct capdrv_sim *sim, struct sim_fn *f, struct wframe *w, uint8_t *hdr,
                     uint16_t avail, unsigned nd, uint16_t *took)
{
    struct vnet *n = net(f);
    struct sim_virtio *vd = &n->vio;
    if (avail == 0)
        return RX_NO_ROOM;
    struct sim_vreq r;
    int rc = sim_vq_chain(sim, f, RXQ, 0, &r);
    if (rc < 0)
        return rc;
    if (r.rlen > 0)
        return -CAPDRV_EPROTO; /* receive buffers are device-writable (§5.1.6.3) */
    if (r.wlen < (uint64_t)HDR + w->len) {
        n->st.rx_dropped++; /* does not fit: frame lost, the buffer stays */
        wq_pop(&n->rx);
        return RX_DROPPED;
    }
    sim_le_put(hdr + CAPDRV_VNET_HDR_NUM_BUFFERS, 2, 1);
    bool ok = sim_vreq_xfer(sim, f, &r, true, 0, hdr, HDR) == 0 &&
              sim_vreq_xfer(sim, f, &r, true, HDR, w->data, w->len) == 0;
    vd->done[nd] = (struct sim_vdone){.id = r.head, .len = ok ? HDR + w->len : 0, .posted = r.wlen};
    vd->q[RXQ].last_avail++;
    *took = 1;
    if (ok)
        n->st.rx_frames++;
    else
        n->st.rx_dropped++; /* the oracle refused: buffer handed back empty */
    wq_pop(&n->rx);
    return ok ? RX_DELIVERED : RX_DROPPED;
}

/* With MRG_RXBUF: as many chains as the frame needs, one used element
 * each, num_buffers in the first header (§5.1.6.4). The frame waits, whole,
 * while too few chains are available; writing into available buffers
 * before that is harmless, they are the device's until used. */
static int rx_merged(struct capdrv_sim *sim, struct sim_fn *f, struct wframe *w, uint8_t *hdr,
                     uint16_t avail, unsigned nd, uint16_t *took)
{
    struct vnet *n = net(f);
    struct sim_virtio *vd = &n->vio;
    /* The first chain's header bytes, kept to write num_buffers last: the
     * segment scratch is reused by every chain walked. */
    struct sim_vseg hseg[HDR];
    struct sim_vreq hreq = {.seg = hseg};
    uint32_t off = 0;
    uint16_t k = 0;
    bool ok = true;
    while (off < w->len) {
        if (k >= avail)
            return RX_NO_ROOM;
        struct sim_vreq r;
        int rc = sim_vq_chain(sim, f, RXQ, k, &r);
        if (rc < 0)
            return rc;
        /* §5.1.6.3.1: each buffer holds at least the header. */
        if (r.rlen > 0 || r.wlen < HDR)
            return -CAPDRV_EPROTO;
        uint64_t at = 0;
        if (k == 0) {
            for (unsigned i = 0; i < r.n && hreq.rlen < HDR; i++) {
                hseg[hreq.n++] = r.seg[i];
                hreq.rlen += r.seg[i].len;
            }
            at = HDR;
        }
        uint32_t chunk = (uint32_t)(r.wlen - at < w->len - off ? r.wlen - at : w->len - off);
        if (chunk > 0 && sim_vreq_xfer(sim, f, &r, true, at, w->data + off, chunk) < 0)
            ok = false;
        vd->done[nd + k] = (struct sim_vdone){.id = r.head, .len = (uint32_t)at + chunk,
                                              .posted = r.wlen};
        off += chunk;
        k++;
        if (!ok)
            break;
    }
    hreq.wlen = hreq.rlen; /* the kept segments are all device-writable */
    hreq.rlen = 0;
    sim_le_put(hdr + CAPDRV_VNET_HDR_NUM_BUFFERS, 2, k);
    if (ok && sim_vreq_xfer(sim, f, &hreq, true, 0, hdr, HDR) < 0)
        ok = false;
    if (!ok) {
        /* The oracle refused: every chain begun goes back empty. */
        for (uint16_t j = 0; j < k; j++)
            vd->done[nd + j].len = 0;
    }
    vd->q[RXQ].last_avail = (uint16_t)(vd->q[RXQ].last_avail + k);
    *took = k;
    if (ok)
        n->st.rx_frames++;
    else
        n->st.rx_dropped++;
    wq_pop(&n->rx);
    return ok ? RX_DELIVERED : RX_DROPPED;
}

/* Deliver waiting frames, in order, while buffers last; one used-ring
 * batch and one notification check for all of them. */
static void rx_drain(struct capdrv_sim *sim, struct sim_fn *f)
{
    struct vnet *n = net(f);
    struct sim_virtio *vd = &n->vio;
    if (!sim_vq_begin(f, RXQ))
        return;
    if (n->rx.n == 0)
        return;
    uint16_t before = vd->q[RXQ].used_idx, avail = 0;
    unsigned nd = 0;
    /* Available entries are counted once: the batch then never holds more
     * completions than the queue (and the done scratch) has room for. */
    int rc = sim_vq_avail(sim, f, RXQ, &avail);
    bool mrg = sim_vio_has(vd, CAPDRV_VNET_F_MRG_RXBUF);
    while (rc >= 0 && n->rx.n > 0) {
        struct wframe *w = wq_head(&n->rx);
        uint8_t hdr[HDR];
        uint16_t took = 0;
        rx_header(vd, w, hdr);
        rc = mrg ? rx_merged(sim, f, w, hdr, avail, nd, &took)
                 : rx_single(sim, f, w, hdr, avail, nd, &took);
        if (rc == RX_NO_ROOM)
            break;
        nd += took;
        avail = (uint16_t)(avail - took);
    }
    if (rc >= 0)
        rc = sim_vq_publish(sim, f, RXQ, nd); /* also asks for the next notify (EVENT_IDX) */
    if (rc < 0) {
        sim_virtio_needs_reset(f);
        return;
    }
    sim_vq_signal(sim, f, RXQ, before);
}

/* A frame arrives from the wire at @f. */
static void net_receive(struct capdrv_sim *sim, struct sim_fn *f, const struct wframe *w)
{
    struct vnet *n = net(f);
    if (!wq_push(&n->rx, w)) {
        n->st.rx_dropped++; /* queue full, or longer than this receiver's MTU allows */
        return;
    }
    sim_virtio_kick(sim, f, RXQ);
}

/* ---- transmit (§5.1.6.2) -------------------------------------------------------- */

/* Check a transmit request and read its frame into n->frame. */
static int tx_parse(struct capdrv_sim *sim, struct sim_fn *f, const struct sim_vreq *r,
                    struct wframe *w)
{
    struct vnet *n = net(f);
    uint8_t hdr[HDR];
    if (r->rlen <= HDR || r->rlen - HDR > n->max_frame)
        return -CAPDRV_EINVAL; /* no header, no frame, or beyond the MTU */
    if (sim_vreq_xfer(sim, f, r, false, 0, hdr, HDR) < 0)
        return -CAPDRV_EFAULT;
    uint8_t flags = hdr[CAPDRV_VNET_HDR_FLAGS];
    w->len = (uint32_t)(r->rlen - HDR);
    w->csum_start = (uint16_t)sim_le_get(hdr + CAPDRV_VNET_HDR_CSUM_START, 2);
    w->csum_offset = (uint16_t)sim_le_get(hdr + CAPDRV_VNET_HDR_CSUM_OFFSET, 2);
    w->partial = (flags & CAPDRV_VNET_HDR_F_NEEDS_CSUM) != 0;
    /* No GSO feature is offered, so gso_type must be NONE; DATA_VALID and
     * RSC_INFO are receive-only flags (§5.1.6.2.1). */
    if (hdr[CAPDRV_VNET_HDR_GSO_TYPE] != CAPDRV_VNET_HDR_GSO_NONE ||
        (flags & ~CAPDRV_VNET_HDR_F_NEEDS_CSUM))
        return -CAPDRV_EINVAL;
    /* NEEDS_CSUM only with VIRTIO_NET_F_CSUM, and the checksum field must
     * lie inside the frame: the device writes there. */
    if (w->partial && (!sim_vio_has(&n->vio, CAPDRV_VNET_F_CSUM) ||
                       (uint32_t)w->csum_start + w->csum_offset + 2u > w->len))
        return -CAPDRV_EINVAL;
    if (sim_vreq_xfer(sim, f, r, false, HDR, n->frame, w->len) < 0)
        return -CAPDRV_EFAULT;
    w->data = n->frame;
    return 0;
}

static int tx_handle(struct capdrv_sim *sim, struct sim_fn *f, const struct sim_vreq *r,
                     uint32_t *used_len)
{
    struct vnet *n = net(f);
    struct wframe w;
    *used_len = 0; /* the device writes nothing into a transmit buffer */
    if (tx_parse(sim, f, r, &w) < 0) {
        n->st.tx_errors++; /* refused, but the buffer is still completed */
        return 0;
    }
    n->st.tx_frames++;
    struct sim_fn *peer = n->peer == NO_PEER ? NULL : sim_fn_get(sim, n->peer);
    if (peer) {
        net_receive(sim, peer, &w);
        return 0;
    }
    /* The harness's end takes finished frames; beyond the bound the wire
     * loses them. */
    if (wq_push(&n->out, &w)) {
        struct wframe *s = &n->out.f[(n->out.head + n->out.n - 1u) % WIRE];
        if (s->partial)
            csum_complete(s);
    }
    return 0;
}

static void net_process(struct capdrv_sim *sim, struct sim_fn *f, unsigned qi)
{
    if (qi == RXQ)
        rx_drain(sim, f);
    else
        sim_vq_process(sim, f, qi);
}

static void net_live(struct capdrv_sim *sim, struct sim_fn *f)
{
    /* Frames that arrived before DRIVER_OK may now find buffers posted
     * during initialisation. */
    if (net(f)->rx.n > 0)
        sim_virtio_kick(sim, f, RXQ);
}

/* Every knob but IOERR, which has no meaning without a status byte. */
static const struct sim_virtio_ops net_ops = {
    .handle = tx_handle,
    .process = net_process,
    .live = net_live,
    .faults = (1u << CAPDRV_SIM_VIRTIO_FAULT_NONE) | (1u << CAPDRV_SIM_VIRTIO_FAULT_DELAY) |
              (1u << CAPDRV_SIM_VIRTIO_FAULT_REORDER) |
              (1u << CAPDRV_SIM_VIRTIO_FAULT_USED_ID_RANGE) |
              (1u << CAPDRV_SIM_VIRTIO_FAULT_USED_LEN) | (1u << CAPDRV_SIM_VIRTIO_FAULT_DOUBLE) |
              (1u << CAPDRV_SIM_VIRTIO_FAULT_NEEDS_RESET),
};

/* ---- device life cycle ------------------------------------------------------- */

static uint64_t offered_features(const struct capdrv_sim_virtio_net_config *c)
{
    uint64_t f = (1ull << CAPDRV_VPCI_F_VERSION_1) | (1ull << CAPDRV_VPCI_F_ACCESS_PLATFORM) |
                 (1ull << CAPDRV_VPCI_F_INDIRECT_DESC) | (1ull << CAPDRV_VPCI_F_EVENT_IDX) |
                 (1ull << CAPDRV_VNET_F_CSUM) | (1ull << CAPDRV_VNET_F_GUEST_CSUM) |
                 (1ull << CAPDRV_VNET_F_MTU) | (1ull << CAPDRV_VNET_F_MAC) |
                 (1ull << CAPDRV_VNET_F_MRG_RXBUF) | (1ull << CAPDRV_VNET_F_STATUS);
    return f & ~c->features_clear;
}

static bool offers(const struct vnet *n, unsigned bit)
{
    return (n->vio.offered >> bit) & 1u;
}

static void put_status(struct vnet *n)
{
    if (offers(n, CAPDRV_VNET_F_STATUS))
        sim_le_put(n->vio.config + CAPDRV_VNET_CFG_STATUS, 2,
                   n->link_up ? CAPDRV_VNET_S_LINK_UP : 0);
}

/* §5.1.4: a field exists only with its feature; absent ones read 0. */
static void build_config(struct vnet *n, const struct capdrv_sim_virtio_net_config *c,
                         unsigned fn)
{
    uint8_t *cfg = n->vio.config;
    static const uint8_t zero[CAPDRV_VNET_MAC_LEN];
    if (offers(n, CAPDRV_VNET_F_MAC)) {
        memcpy(cfg + CAPDRV_VNET_CFG_MAC, c->mac, CAPDRV_VNET_MAC_LEN);
        if (memcmp(c->mac, zero, sizeof zero) == 0) {
            /* QEMU's locally administered default, one per function. */
            const uint8_t def[CAPDRV_VNET_MAC_LEN] = {0x52, 0x54, 0x00, 0x12, 0x34,
                                                      (uint8_t)(0x56u + fn)};
            memcpy(cfg + CAPDRV_VNET_CFG_MAC, def, sizeof def);
        }
    }
    put_status(n);
    if (offers(n, CAPDRV_VNET_F_MTU))
        sim_le_put(cfg + CAPDRV_VNET_CFG_MTU, 2, c->mtu);
}

static void net_destroy(struct sim_fn *f)
{
    struct vnet *n = net(f);
    if (!n)
        return;
    sim_virtio_fini(&n->vio);
    free(n->rx.store);
    free(n->out.store);
    free(n->frame);
    free(n);
    f->dev_state = NULL;
}

static int net_init(struct sim_fn *f)
{
    const struct capdrv_sim_virtio_net_config *c = f->init_arg; /* normalised by the caller */
    struct vnet *n = calloc(1, sizeof *n);
    if (!n)
        return -CAPDRV_ENOMEM;
    f->dev_state = n;
    n->max_frame = (uint32_t)c->mtu + CAPDRV_SIM_VIRTIO_NET_ETH_HLEN;
    n->link_up = true;
    n->peer = NO_PEER;
    n->frame = malloc(n->max_frame);
    int rc = sim_virtio_init(&n->vio, &net_ops, CAPDRV_VPCI_ID_NET, offered_features(c), NET_NQ,
                             c->queue_size_max);
    if (rc == 0 && !n->frame)
        rc = -CAPDRV_ENOMEM;
    if (rc == 0)
        rc = wq_init(&n->rx, n->max_frame);
    if (rc == 0)
        rc = wq_init(&n->out, n->max_frame);
    if (rc == 0 && f->info.kind == CAPDRV_HW_FN_MMIO) {
        n->vio.mmio = true; /* virtio-mmio register block (dev_virtio_mmio.c) */
        sim_virtio_reset(&n->vio);
    } else if (rc == 0) {
        rc = sim_virtio_add_caps(f);
    }
    if (rc < 0) {
        net_destroy(f);
        return rc;
    }
    build_config(n, c, f->index);
    return 0;
}

static void net_reset(struct sim_fn *f)
{
    /* FLR: the device returns to its reset state (§2.4); configuration,
     * link, counters and the wire are not device state and stay. */
    sim_virtio_reset(&net(f)->vio);
}

const struct sim_dev_ops sim_dev_virtio_net = {
    .name = "virtio-net",
    .init = net_init,
    .bar0_read = sim_virtio_bar0_read,
    .bar0_write = sim_virtio_bar0_write,
    .reset = net_reset,
    .next_event = sim_virtio_next_event,
    .run_event = sim_virtio_run_event,
    .destroy = net_destroy,
};

/* ---- public test interface ------------------------------------------------ */

static int add_net(struct capdrv_sim *sim, const struct capdrv_pci_addr *addr, uint64_t mmio_base,
                   bool mmio, const struct capdrv_sim_virtio_net_config *cfg, unsigned *fn_out)
{
    struct capdrv_sim_virtio_net_config c;
    memset(&c, 0, sizeof c);
    if (cfg)
        c = *cfg;
    if (c.queue_size_max == 0)
        c.queue_size_max = DEFAULT_QSIZE;
    if (c.mtu == 0)
        c.mtu = CAPDRV_SIM_VIRTIO_NET_DEFAULT_MTU;
    if (c.queue_size_max > SIM_VIRTIO_QSIZE_MAX || (c.queue_size_max & (c.queue_size_max - 1u)) ||
        c.mtu < MIN_MTU)
        return -CAPDRV_EINVAL;
    /* §4.1.2: modern device id 0x1040 + 1; network controller, Ethernet. */
    const struct sim_pci_ident id = {
        .vendor = CAPDRV_VPCI_VENDOR,
        .device = CAPDRV_VPCI_DEVICE_MODERN_BASE + CAPDRV_VPCI_ID_NET,
        .subsys_vendor = CAPDRV_VPCI_VENDOR,
        .subsys_device = 0x1100,
        .class_code = 0x020000,
        .revision = 0x01,
    };
    /* A vector per queue plus one for configuration changes; virtio-mmio:
     * one interrupt line (§4.2.3.4) in a 512-byte region. */
    struct sim_fn_layout layout = {.bar0_size = CAPDRV_SIM_VIRTIO_BAR0_SIZE,
                                   .n_vectors = NET_NQ + 1u};
    if (mmio) {
        layout.n_vectors = 1;
        layout.mmio_base = mmio_base;
        layout.mmio_size = SIM_VIRTIO_MMIO_SIZE;
    }
    pthread_mutex_lock(&sim->lock);
    int rc = sim_add_function(sim, addr, &sim_dev_virtio_net, &id, &layout, &c, fn_out);
    pthread_mutex_unlock(&sim->lock);
    return rc;
}

int capdrv_sim_add_virtio_net(struct capdrv_sim *sim, const struct capdrv_pci_addr *addr,
                              const struct capdrv_sim_virtio_net_config *cfg, unsigned *fn_out)
{
    if (!sim || !addr)
        return -CAPDRV_EINVAL;
    return add_net(sim, addr, 0, false, cfg, fn_out);
}

int capdrv_sim_add_virtio_mmio_net(struct capdrv_sim *sim, uint64_t base,
                                   const struct capdrv_sim_virtio_net_config *cfg,
                                   unsigned *fn_out)
{
    if (!sim || (base & (SIM_VIRTIO_MMIO_SIZE - 1u)))
        return -CAPDRV_EINVAL;
    const struct capdrv_pci_addr none = {0};
    return add_net(sim, &none, base, true, cfg, fn_out);
}

/* Function @fn as a virtio-net (lock held). */
static int net_fn(const struct capdrv_sim *sim, unsigned fn, struct sim_fn **out)
{
    struct sim_fn *f = sim_fn_get(sim, fn);
    *out = f;
    return !f ? -CAPDRV_ENOENT : f->dev != &sim_dev_virtio_net ? -CAPDRV_ENODEV : 0;
}

int capdrv_sim_virtio_net_connect(struct capdrv_sim *sim, unsigned fn_a, unsigned fn_b)
{
    if (!sim || fn_a == fn_b)
        return -CAPDRV_EINVAL;
    pthread_mutex_lock(&sim->lock);
    struct sim_fn *a, *b;
    int rc = net_fn(sim, fn_a, &a);
    if (rc == 0)
        rc = net_fn(sim, fn_b, &b);
    if (rc == 0) {
        struct vnet *na = net(a), *nb = net(b);
        if (na->peer == fn_b && nb->peer == fn_a)
            rc = 0;
        else if (na->peer != NO_PEER || nb->peer != NO_PEER)
            rc = -CAPDRV_EBUSY;
        else {
            na->peer = fn_b;
            nb->peer = fn_a;
        }
    }
    pthread_mutex_unlock(&sim->lock);
    return rc;
}

int capdrv_sim_virtio_net_inject(struct capdrv_sim *sim, unsigned fn, const void *frame,
                                 size_t len)
{
    if (!sim || !frame || len == 0)
        return -CAPDRV_EINVAL;
    pthread_mutex_lock(&sim->lock);
    struct sim_fn *f;
    int rc = net_fn(sim, fn, &f);
    if (rc == 0 && net(f)->peer != NO_PEER)
        rc = -CAPDRV_EBUSY;
    else if (rc == 0 && len > net(f)->max_frame)
        rc = -CAPDRV_EINVAL;
    if (rc == 0) {
        /* The queue copies the bytes; the cast only fits the shared type. */
        struct wframe w = {.len = (uint32_t)len, .data = (uint8_t *)(uintptr_t)frame};
        net_receive(sim, f, &w);
    }
    pthread_mutex_unlock(&sim->lock);
    return rc;
}

int capdrv_sim_virtio_net_take(struct capdrv_sim *sim, unsigned fn, void *buf, size_t cap,
                               size_t *len)
{
    if (!sim || !len || (!buf && cap > 0))
        return -CAPDRV_EINVAL;
    pthread_mutex_lock(&sim->lock);
    struct sim_fn *f;
    int rc = net_fn(sim, fn, &f);
    const struct wframe *w = rc == 0 ? wq_head(&net(f)->out) : NULL;
    if (rc == 0 && !w)
        rc = -CAPDRV_ENOENT;
    if (w) {
        *len = w->len;
        if (w->len > cap) {
            rc = -CAPDRV_ERANGE;
        } else {
            memcpy(buf, w->data, w->len);
            wq_pop(&net(f)->out);
        }
    }
    pthread_mutex_unlock(&sim->lock);
    return rc;
}

int capdrv_sim_virtio_net_set_link(struct capdrv_sim *sim, unsigned fn, bool up)
{
    if (!sim)
        return -CAPDRV_EINVAL;
    pthread_mutex_lock(&sim->lock);
    struct sim_fn *f;
    int rc = net_fn(sim, fn, &f);
    struct vnet *n = rc == 0 ? net(f) : NULL;
    if (n && n->link_up != up) {
        n->link_up = up;
        if (offers(n, CAPDRV_VNET_F_STATUS)) {
            put_status(n);
            /* §4.1.4.3: the generation changes with the configuration;
             * §4.1.4.5: tell a live driver. */
            n->vio.generation++;
            if (n->vio.status & CAPDRV_VPCI_S_DRIVER_OK)
                sim_virtio_config_irq(f);
        }
    }
    pthread_mutex_unlock(&sim->lock);
    return rc;
}

int capdrv_sim_virtio_net_stats(const struct capdrv_sim *sim, unsigned fn,
                                struct capdrv_sim_virtio_net_stats *out)
{
    if (!sim || !out)
        return -CAPDRV_EINVAL;
    /* The lock is not part of the machine's observable state. */
    pthread_mutex_t *lock = (pthread_mutex_t *)(uintptr_t)&sim->lock;
    pthread_mutex_lock(lock);
    struct sim_fn *f;
    int rc = net_fn(sim, fn, &f);
    if (rc == 0)
        *out = net(f)->st;
    pthread_mutex_unlock(lock);
    return rc;
}
