/* virtio-net bring-up and teardown (VIRTIO 1.2 §5.1.5 over §3.1.1):
 * features, configuration (MAC, status, MTU), the two queues, receive
 * buffer sizing, interrupts and link status, over the PCI modern transport
 * (§4.1) or virtio-mmio version 2 (§4.2) through transport.h. Receive:
 * net_rx.c; transmit: net_tx.c. */
#include "mmio_internal.h"
#include "net_internal.h"
#include "pci_internal.h"

#include <stdlib.h>
#include <string.h>

static size_t round_up(size_t v, size_t a)
{
    return (v + a - 1u) / a * a;
}

void vnet_transport(struct capdrv_virtio_net *n, struct vt *v)
{
    if (n->mmio)
        vm_transport(&n->vm, v);
    else
        vp_transport(&n->vp, v);
}

int vnet_kick(struct capdrv_virtio_net *n, struct vio_queue *q)
{
    struct vt v;
    vnet_transport(n, &v);
    return vt_kick(&v, q->pq.lane, q->pq.index, q->pq.notify_off, &q->vq);
}

static int config_read(struct capdrv_virtio_net *n, uint32_t off, void *buf, size_t len)
{
    struct vt v;
    vnet_transport(n, &v);
    return vt_config_read(&v, off, buf, len);
}

static int has(const struct capdrv_virtio_net *n, unsigned bit)
{
    return (n->info.features >> bit) & 1u;
}

/* Device-configuration errors other than transport failures mean the
 * structure is too short for the field the feature promised. */
static int cfg_read(struct capdrv_virtio_net *n, uint32_t off, void *buf, size_t len, char *why,
                    size_t why_len, const char *what)
{
    int rc = config_read(n, off, buf, len);
    if (rc < 0) {
        vp_say(why, why_len, "read %s: %s", what, capdrv_strerror(rc));
        return rc == -CAPDRV_ERANGE || rc == -CAPDRV_ENOENT ? -CAPDRV_EPROTO : rc;
    }
    return 0;
}

int vnet_read_link(struct capdrv_virtio_net *n)
{
    /* §5.1.4.2: without VIRTIO_NET_F_STATUS the driver assumes the link is
     * up. The read retries while config_generation moves (§2.5.1). */
    if (!has(n, CAPDRV_VIRTIO_NET_F_STATUS)) {
        n->info.link_up = 1;
        return 0;
    }
    uint8_t raw[2];
    int rc = config_read(n, VNET_CFG_STATUS, raw, sizeof raw);
    if (rc < 0)
        return rc;
    n->info.link_up = (raw[0] & VNET_S_LINK_UP) != 0;
    return 0;
}

/* The MTU the device offers, read before negotiation so that a value the
 * driver cannot honour is simply not accepted (§5.1.4.1: the device MUST
 * NOT offer one below 68; §5.1.6.3.1: the driver must then post buffers
 * for mtu + 14, which it bounds by CAPDRV_VIRTIO_NET_MAX_MTU). */
static uint64_t screen_mtu(struct capdrv_virtio_net *n, uint64_t want)
{
    uint64_t offered = 0;
    struct vt v;
    vnet_transport(n, &v);
    if (!(want & CAPDRV_VIRTIO_BIT(CAPDRV_VIRTIO_NET_F_MTU)) ||
        vt_device_features(&v, &offered) < 0 ||
        !(offered & CAPDRV_VIRTIO_BIT(CAPDRV_VIRTIO_NET_F_MTU)))
        return want;
    uint8_t raw[2];
    if (config_read(n, VNET_CFG_MTU, raw, sizeof raw) == 0) {
        unsigned mtu = (unsigned)raw[0] | (unsigned)raw[1] << 8;
        if (mtu >= CAPDRV_VIRTIO_NET_MIN_MTU && mtu <= CAPDRV_VIRTIO_NET_MAX_MTU)
            return want;
    }
    return want & ~CAPDRV_VIRTIO_BIT(CAPDRV_VIRTIO_NET_F_MTU);
}

static int read_config(struct capdrv_virtio_net *n, char *why, size_t why_len)
{
    struct capdrv_virtio_net_info *in = &n->info;
    int rc;
    if (has(n, CAPDRV_VIRTIO_NET_F_MAC)) {
        if ((rc = cfg_read(n, VNET_CFG_MAC, in->mac, sizeof in->mac, why, why_len, "mac")) < 0)
            return rc;
        in->has_mac = 1;
    }
    in->mtu = CAPDRV_VIRTIO_NET_DEFAULT_MTU;
    if (has(n, CAPDRV_VIRTIO_NET_F_MTU)) {
        uint8_t raw[2];
        if ((rc = cfg_read(n, VNET_CFG_MTU, raw, sizeof raw, why, why_len, "mtu")) < 0)
            return rc;
        unsigned mtu = (unsigned)raw[0] | (unsigned)raw[1] << 8;
        /* Checked at negotiation; a device that changed it since is wrong. */
        if (mtu < CAPDRV_VIRTIO_NET_MIN_MTU || mtu > CAPDRV_VIRTIO_NET_MAX_MTU) {
            vp_say(why, why_len, "device mtu %u outside %u..%u", mtu, CAPDRV_VIRTIO_NET_MIN_MTU,
                   CAPDRV_VIRTIO_NET_MAX_MTU);
            return -CAPDRV_EPROTO;
        }
        in->mtu = mtu;
    }
    in->max_frame = in->mtu + CAPDRV_VIRTIO_NET_ETH_HLEN;
    if ((rc = vnet_read_link(n)) < 0) {
        vp_say(why, why_len, "read status: %s", capdrv_strerror(rc));
        return rc == -CAPDRV_ERANGE ? -CAPDRV_EPROTO : rc;
    }
    return 0;
}

/* Receive buffer size (§5.1.6.3.1): without MRG_RXBUF each buffer holds a
 * whole packet, header + mtu + 14; with it any size of at least the header,
 * and a packet spans num_buffers of them, which the driver bounds. */
static int size_rx(struct capdrv_virtio_net *n, uint32_t want, char *why, size_t why_len)
{
    struct capdrv_virtio_net_info *in = &n->info;
    uint32_t whole = CAPDRV_VIRTIO_NET_HDR_LEN + in->max_frame;
    if (!has(n, CAPDRV_VIRTIO_NET_F_MRG_RXBUF)) {
        in->rx_buf_len = whole;
        in->max_rx_bufs_per_frame = 1;
        return 0;
    }
    uint32_t len = want ? want : CAPDRV_VIRTIO_NET_DEFAULT_MRG_BUF;
    if (len < CAPDRV_VIRTIO_NET_MIN_MRG_BUF || len % 16u || len > CAPDRV_VIRTIO_NET_MAX_MRG_BUF) {
        vp_say(why, why_len, "rx_buf_len %u: a multiple of 16, %u .. %u", len,
               CAPDRV_VIRTIO_NET_MIN_MRG_BUF, CAPDRV_VIRTIO_NET_MAX_MRG_BUF);
        return -CAPDRV_EINVAL;
    }
    uint32_t floor = (uint32_t)round_up((whole + CAPDRV_VIRTIO_NET_RX_MAX_FRAGS - 1u) /
                                            CAPDRV_VIRTIO_NET_RX_MAX_FRAGS, 16);
    if (len < floor)
        len = floor;
    in->rx_buf_len = len;
    in->max_rx_bufs_per_frame = (whole + len - 1u) / len;
    return 0;
}

/* One queue: the shared setup (queue.c) with @extra bytes after the ring
 * and tables (the transmit headers). PCI: its own MSI-X vector; MMIO:
 * the device's one line (§4.2.3.4), which bring_up() opens. */
static int setup_queue(struct capdrv_virtio_net *n, struct vio_queue *q, unsigned index,
                       unsigned size, unsigned ind_max, size_t extra, size_t *extra_off,
                       int irq, char *why, size_t why_len)
{
    struct vt v;
    vnet_transport(n, &v);
    const struct vio_queue_params p = {
        .sys = n->sys, .grant = n->grant, .pool = n->pool, .vt = &v,
        .lane = n->mmio ? n->vm.lane : n->vp.lane, .index = index,
        .size = size, .ind_max = ind_max, .extra = extra,
        /* receiveq1 on vector 1, transmitq1 on vector 2 */
        .vector = irq && !n->mmio ? (uint16_t)(index + 1u) : CAPDRV_VIRTIO_MSI_NO_VECTOR,
        .shared_line = irq && n->mmio,
    };
    return vio_queue_setup(q, &p, extra_off, why, why_len);
}

/* Queue sizes: what the caller asks, capped by each queue's maximum. */
static int queue_sizes(struct capdrv_virtio_net *n, unsigned want, unsigned *size, char *why,
                       size_t why_len)
{
    /* PCI: the common configuration's num_queues; MMIO has no count
     * (§4.2.2): a missing queue reads QueueNumMax 0 below. */
    struct vt v;
    vnet_transport(n, &v);
    if (v.num_queues < 2) {
        vp_say(why, why_len, "device offers %u queue(s); receiveq1 and transmitq1 needed",
               v.num_queues);
        return -CAPDRV_ENOTSUP;
    }
    unsigned s = want ? want : CAPDRV_VIRTIO_NET_DEFAULT_QUEUE_SIZE;
    for (unsigned i = VNET_RXQ; i <= VNET_TXQ; i++) {
        unsigned max;
        int rc = vt_queue_max(&v, i, &max);
        if (rc < 0) {
            vp_say(why, why_len, "queue %u size: %s", i, capdrv_strerror(rc));
            return rc == -CAPDRV_ENOENT ? -CAPDRV_ENOTSUP : rc;
        }
        if (s > max)
            s = max;
    }
    /* The largest frame must fit the receive ring, and a transmitted frame
     * takes header + one segment at least (two descriptors without
     * indirect tables). */
    if (s < 2 || s < n->info.max_rx_bufs_per_frame) {
        vp_say(why, why_len, "queues of %u entries are too small for one frame", s);
        return -CAPDRV_ENOTSUP;
    }
    *size = s;
    return 0;
}

/* Bind the transport (§4.1.5.1 / §4.2.3.1): reset, ACKNOWLEDGE, DRIVER.
 * A virtio-mmio device has no PCI configuration space: capdrv_cfg_read()
 * answers -CAPDRV_ENOTSUP on it (hw.h); any other answer means a PCI
 * function, whose errors capdrv_virtio_pci_open() reports. */
static int open_transport(struct capdrv_virtio_net *n, const struct capdrv_virtio_net_opts *o,
                          char *why, size_t why_len)
{
    uint32_t vendor = 0;
    n->mmio = capdrv_cfg_read(n->sys, n->grant, 0, 2, &vendor) == -CAPDRV_ENOTSUP;
    int rc = n->mmio ? capdrv_virtio_mmio_open(n->sys, n->grant, o->mmio_window, &n->vm, why,
                                               why_len)
                     : capdrv_virtio_pci_open(n->sys, n->grant, &n->vp, why, why_len);
    n->opened = rc == 0;
    return rc;
}

static int bring_up(struct capdrv_virtio_net *n, const struct capdrv_virtio_net_opts *o, char *why,
                    size_t why_len)
{
    int rc = open_transport(n, o, why, why_len);
    if (rc < 0)
        return rc;
    unsigned id = n->mmio ? capdrv_virtio_mmio_device_id(&n->vm) : capdrv_virtio_device_id(&n->vp);
    if (id != CAPDRV_VIRTIO_ID_NET) {
        vp_say(why, why_len, "virtio device id %u is not a network device (1)", id);
        return -CAPDRV_ENODEV;
    }
    struct vt v;
    vnet_transport(n, &v);
    uint64_t want = o->features ? o->features : CAPDRV_VIRTIO_NET_DEFAULT_FEATURES;
    want &= CAPDRV_VIRTIO_NET_DEFAULT_FEATURES; /* nothing the driver cannot honour */
    want = screen_mtu(n, want);
    if ((rc = vt_negotiate(&v, want, &n->info.features)) < 0) {
        vp_say(why, why_len, "feature negotiation: %s",
               rc == -CAPDRV_ENODEV    ? "VERSION_1 not offered (legacy device)"
               : rc == -CAPDRV_ENOTSUP ? "device did not accept FEATURES_OK"
                                       : capdrv_strerror(rc));
        return rc;
    }
    if ((rc = read_config(n, why, why_len)) < 0 ||
        (rc = size_rx(n, o->rx_buf_len, why, why_len)) < 0)
        return rc;
    unsigned size;
    if ((rc = queue_sizes(n, o->queue_size, &size, why, why_len)) < 0)
        return rc;
    n->info.queue_size = size;
    n->info.rx_bufs = size;
    /* Receive buffers are single segments: no indirect tables there. */
    if ((rc = setup_queue(n, &n->rxq, VNET_RXQ, size, 0, 0, NULL, o->irq, why, why_len)) < 0)
        return rc;
    unsigned ind = 0;
    if (has(n, CAPDRV_VIRTIO_F_INDIRECT_DESC))
        ind = size < CAPDRV_VIRTIO_NET_TX_MAX_SEGS + 1u ? size : CAPDRV_VIRTIO_NET_TX_MAX_SEGS + 1u;
    n->tx_indirect = ind;
    if ((rc = setup_queue(n, &n->txq, VNET_TXQ, size, ind, (size_t)size * VNET_TX_HDR_STRIDE,
                          &n->tx_hdr_off, o->irq, why, why_len)) < 0)
        return rc;
    n->tx = calloc(size, sizeof *n->tx);
    n->tx_free = calloc(size, sizeof *n->tx_free);
    if (!n->tx || !n->tx_free) {
        vp_say(why, why_len, "out of memory");
        return -CAPDRV_ENOMEM;
    }
    for (unsigned s = 0; s < size; s++) {
        n->tx[s].index = s;
        n->tx_free[s] = size - 1u - s;
    }
    n->tx_n_free = size;
    n->rx_stride = round_up(n->info.rx_buf_len, 64);
    size_t rx_total = n->rx_stride * size;
    if ((rc = capdrv_dma_alloc(n->sys, n->pool, rx_total, &n->rx_buf, &n->rx_bi)) < 0) {
        n->rx_buf = CAPDRV_CAP_INVALID;
        vp_say(why, why_len, "allocate %zu bytes of receive buffers: %s", rx_total,
               capdrv_strerror(rc));
        return rc;
    }
    if ((rc = vnet_rx_init(n)) < 0) {
        vp_say(why, why_len, "out of memory");
        return rc;
    }
    if (o->irq) {
        /* PCI: vector 0 for configuration changes; MMIO: vector 0 is the
         * one line for everything (§4.2.3.4), with no vector to program. */
        if ((rc = capdrv_irq_open(n->sys, n->grant, 0, &n->cfg_irq)) < 0 ||
            (!n->mmio && (rc = vt_config_vector(&v, 0)) < 0)) {
            vp_say(why, why_len, "%s (vector 0): %s",
                   n->mmio ? "interrupt line" : "configuration interrupt", capdrv_strerror(rc));
            return rc;
        }
    }
    if ((rc = vt_driver_ok(&v)) < 0) {
        vp_say(why, why_len, "DRIVER_OK: %s", capdrv_strerror(rc));
        return rc;
    }
    n->info.lane = n->mmio ? n->vm.lane : n->vp.lane;
    n->info.irq = o->irq != 0;
    /* §3.1.1: no available-buffer notification before DRIVER_OK, so the
     * receive ring is filled (and kicked) only now. */
    if ((rc = vnet_rx_refill(n)) < 0) {
        vp_say(why, why_len, "post receive buffers: %s", capdrv_strerror(rc));
        return rc;
    }
    return 0;
}

int capdrv_virtio_net_open(capdrv_sys *sys, capdrv_cap_t grant,
                           const struct capdrv_virtio_net_opts *opts,
                           struct capdrv_virtio_net **out, char *why, size_t why_len)
{
    if (out)
        *out = NULL;
    if (!sys || !opts || !out || !opts->pool) {
        vp_say(why, why_len, "missing connection, options, output or pool");
        return -CAPDRV_EINVAL;
    }
    unsigned qs = opts->queue_size;
    if (qs && ((qs & (qs - 1u)) != 0 || qs > CAPDRV_VIRTQ_MAX_SIZE)) {
        vp_say(why, why_len, "queue_size %u is not a power of two up to 32768", qs);
        return -CAPDRV_EINVAL;
    }
    struct capdrv_virtio_net *n = calloc(1, sizeof *n);
    if (!n) {
        vp_say(why, why_len, "out of memory");
        return -CAPDRV_ENOMEM;
    }
    n->sys = sys;
    n->grant = grant;
    n->pool = opts->pool;
    int rc = bring_up(n, opts, why, why_len);
    if (rc < 0) {
        /* §3.1.1: FAILED tells the device the driver gave up; the reset in
         * close stops it before its memory is released. */
        if (n->opened) {
            struct vt v;
            vnet_transport(n, &v);
            (void)vt_fail(&v);
        }
        capdrv_virtio_net_close(n);
        return rc;
    }
    *out = n;
    return 0;
}

void capdrv_virtio_net_close(struct capdrv_virtio_net *net)
{
    if (!net)
        return;
    /* Reset first (§2.4): afterwards the device touches no ring, receive
     * buffer, header or caller segment, so releasing them is safe. */
    if (net->mmio)
        capdrv_virtio_mmio_close(&net->vm);
    else
        capdrv_virtio_pci_close(&net->vp);
    vio_queue_free(net->sys, &net->rxq);
    vio_queue_free(net->sys, &net->txq);
    if (net->rx_buf)
        (void)capdrv_cap_release(net->sys, net->rx_buf);
    if (net->cfg_irq)
        (void)capdrv_cap_release(net->sys, net->cfg_irq);
    free(net->rx);
    free(net->rx_idle);
    free(net->cq);
    free(net->tx);
    free(net->tx_free);
    free(net);
}

int capdrv_virtio_net_info(const struct capdrv_virtio_net *net, struct capdrv_virtio_net_info *out)
{
    if (!net || !out)
        return -CAPDRV_EINVAL;
    *out = net->info;
    return 0;
}

int capdrv_virtio_net_stats(const struct capdrv_virtio_net *net,
                            struct capdrv_virtio_net_stats *out)
{
    if (!net || !out)
        return -CAPDRV_EINVAL;
    *out = net->st;
    out->rx_posted = net->n_posted;
    out->rx_held = net->n_held;
    out->rx_lent = net->n_lent;
    out->rx_idle = net->n_idle;
    out->tx_inflight = net->tx_inflight;
    out->rx_fault = net->rx_fault;
    out->tx_fault = capdrv_virtq_error(&net->txq.vq);
    return 0;
}

const char *capdrv_virtio_net_strfault(int fault)
{
    switch (fault) {
    case CAPDRV_VIRTIO_NET_FAULT_NUM_BUFFERS:
        return "num_buffers zero, above the largest frame, or beyond the used ring";
    case CAPDRV_VIRTIO_NET_FAULT_FRAME_LEN: return "received frame longer than mtu + 14";
    case CAPDRV_VIRTIO_NET_FAULT_SHORT: return "receive buffer shorter than the virtio-net header";
    case CAPDRV_VIRTIO_NET_FAULT_HDR:
        return "header gso_type, flags or checksum fields not allowed by the negotiated features";
    default: return capdrv_virtq_strfault(fault);
    }
}

int capdrv_virtio_net_link(struct capdrv_virtio_net *net, int *up)
{
    if (!net || !up)
        return -CAPDRV_EINVAL;
    int rc = vnet_read_link(net);
    if (rc == 0)
        *up = net->info.link_up;
    return rc;
}

int capdrv_virtio_net_check(struct capdrv_virtio_net *net)
{
    if (!net)
        return -CAPDRV_EINVAL;
    struct vt v;
    vnet_transport(net, &v);
    return vt_check(&v);
}

/* virtio-mmio: one line for both queues and configuration changes
 * (§4.2.3.4). Read InterruptStatus, acknowledge it through InterruptACK
 * (the device then drops the line), then the kernel's capability. The line
 * does not say which queue: a used-buffer cause reports every event asked
 * for, and the caller finds what there is to reap. */
static int wait_line(struct capdrv_virtio_net *net, unsigned events, int64_t timeout_ns)
{
    uint64_t ready = 0;
    int rc = capdrv_irq_wait(net->sys, &net->cfg_irq, 1, timeout_ns, &ready);
    if (rc < 0)
        return rc;
    uint32_t cause = 0;
    if ((rc = capdrv_virtio_mmio_irq_status(&net->vm, &cause)) < 0)
        return rc;
    cause &= CAPDRV_VIRTIO_MMIO_INT_VRING | CAPDRV_VIRTIO_MMIO_INT_CONFIG;
    if (cause && (rc = capdrv_virtio_mmio_irq_ack(&net->vm, cause)) < 0)
        return rc;
    if ((rc = capdrv_irq_ack(net->sys, net->cfg_irq)) < 0)
        return rc;
    unsigned mask = 0;
    if (cause & CAPDRV_VIRTIO_MMIO_INT_VRING)
        mask |= events;
    if (cause & CAPDRV_VIRTIO_MMIO_INT_CONFIG) {
        /* A link change (§5.1.4) or DEVICE_NEEDS_RESET (§2.1.2). */
        if ((rc = capdrv_virtio_mmio_check(&net->vm)) < 0 || (rc = vnet_read_link(net)) < 0)
            return rc;
        mask |= CAPDRV_VIRTIO_NET_EV_CONFIG;
    }
    return mask ? (int)mask : -CAPDRV_ETIMEDOUT;
}

int capdrv_virtio_net_wait(struct capdrv_virtio_net *net, unsigned events, int64_t timeout_ns)
{
    if (!net || (events & ~(CAPDRV_VIRTIO_NET_EV_RX | CAPDRV_VIRTIO_NET_EV_TX)))
        return -CAPDRV_EINVAL;
    if (net->cancelled)
        return -CAPDRV_ECANCELED;
    if (!net->cfg_irq)
        return -CAPDRV_ENOTSUP;
    /* §2.7.14: arm, then re-check, so a completion that raced with the
     * arming is not slept through. A frame waiting in the completion FIFO
     * counts as pending too. */
    unsigned ready_now = 0;
    if (events & CAPDRV_VIRTIO_NET_EV_RX) {
        if (net->rx_fault)
            return -CAPDRV_EPROTO;
        int rc = capdrv_virtq_enable_cb(&net->rxq.vq);
        if (rc < 0)
            return rc;
        if (rc > 0 || net->cq_count)
            ready_now |= CAPDRV_VIRTIO_NET_EV_RX;
    }
    if (events & CAPDRV_VIRTIO_NET_EV_TX) {
        int rc = capdrv_virtq_enable_cb(&net->txq.vq);
        if (rc < 0)
            return rc;
        if (rc > 0)
            ready_now |= CAPDRV_VIRTIO_NET_EV_TX;
    }
    if (ready_now)
        return (int)ready_now;
    if (net->mmio)
        return wait_line(net, events, timeout_ns);
    capdrv_cap_t irqs[3];
    unsigned bits[3], k = 0;
    irqs[k] = net->cfg_irq;
    bits[k++] = CAPDRV_VIRTIO_NET_EV_CONFIG;
    if (events & CAPDRV_VIRTIO_NET_EV_RX) {
        irqs[k] = net->rxq.irq;
        bits[k++] = CAPDRV_VIRTIO_NET_EV_RX;
    }
    if (events & CAPDRV_VIRTIO_NET_EV_TX) {
        irqs[k] = net->txq.irq;
        bits[k++] = CAPDRV_VIRTIO_NET_EV_TX;
    }
    uint64_t ready = 0;
    int rc = capdrv_irq_wait(net->sys, irqs, k, timeout_ns, &ready);
    if (rc < 0)
        return rc;
    unsigned mask = 0;
    for (unsigned i = 0; i < k; i++)
        if (ready & (1ull << i)) {
            (void)capdrv_irq_ack(net->sys, irqs[i]);
            mask |= bits[i];
        }
    if (mask & CAPDRV_VIRTIO_NET_EV_CONFIG) {
        /* A configuration change is a link change (§5.1.4) or
         * DEVICE_NEEDS_RESET (§2.1.2). */
        if ((rc = capdrv_virtio_net_check(net)) < 0)
            return rc;
        if ((rc = vnet_read_link(net)) < 0)
            return rc;
    }
    return mask ? (int)mask : -CAPDRV_ETIMEDOUT;
}
