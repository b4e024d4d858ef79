/* virtio-net receive (VIRTIO 1.2 §5.1.6.3, §5.1.6.4): the driver posts its
 * own buffers, reaps the receive queue, checks each packet's header,
 * assembles frames that span several buffers (MRG_RXBUF), lends them to the
 * caller and reposts their buffers when they come back. */
#include "net_internal.h"

#include <stdlib.h>
#include <string.h>

static uint16_t le16_at(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static int has(const struct capdrv_virtio_net *n, unsigned bit)
{
    return (n->info.features >> bit) & 1u;
}

static uint8_t *buf_mem(struct capdrv_virtio_net *n, unsigned index)
{
    return (uint8_t *)n->rx_bi.cpu + (size_t)index * n->rx_stride;
}

int vnet_rx_init(struct capdrv_virtio_net *n)
{
    unsigned nb = n->info.rx_bufs;
    n->rx = calloc(nb, sizeof *n->rx);
    n->rx_idle = calloc(nb, sizeof *n->rx_idle);
    n->cq = calloc(nb, sizeof *n->cq);
    if (!n->rx || !n->rx_idle || !n->cq)
        return -CAPDRV_ENOMEM;
    for (unsigned i = 0; i < nb; i++) {
        n->rx[i] = (struct vnet_rxbuf){.index = (uint16_t)i, .next = VNET_NONE,
                                       .state = VNET_RX_IDLE};
        n->rx_idle[i] = (uint16_t)(nb - 1u - i);
    }
    n->n_idle = nb;
    return 0;
}

static void set_fault(struct capdrv_virtio_net *n, int fault)
{
    if (!n->rx_fault)
        n->rx_fault = fault;
}

int vnet_rx_refill(struct capdrv_virtio_net *n)
{
    /* After capdrv_virtio_net_cancel() the device is reset: nothing may be
     * made available again (§3.1.1: only after DRIVER_OK). */
    if (n->cancelled)
        return -CAPDRV_ECANCELED;
    if (n->rx_fault)
        return -CAPDRV_EPROTO;
    unsigned added = 0;
    while (n->n_idle) {
        struct vnet_rxbuf *b = &n->rx[n->rx_idle[n->n_idle - 1u]];
        /* One device-writable descriptor per buffer (§5.1.6.3); with
         * MRG_RXBUF each is at least a header long (§5.1.6.3.1). */
        struct capdrv_virtq_seg seg = {capdrv_dma_ref(&n->rx_bi, (size_t)b->index * n->rx_stride),
                                       n->info.rx_buf_len};
        int rc = capdrv_virtq_add(&n->rxq.vq, &seg, 0, 1, b);
        if (rc == -CAPDRV_ENOSPC)
            break;
        if (rc < 0) {
            set_fault(n, capdrv_virtq_error(&n->rxq.vq));
            return rc;
        }
        n->n_idle--;
        b->state = VNET_RX_POSTED;
        n->n_posted++;
        added++;
    }
    if (!added)
        return 0;
    /* One publish and one doorbell for the whole refill (§2.7.13). */
    int rc = capdrv_virtq_publish(&n->rxq.vq);
    if (rc < 0) {
        set_fault(n, capdrv_virtq_error(&n->rxq.vq));
        return rc;
    }
    rc = vnet_kick(n, &n->rxq);
    return rc < 0 ? rc : 0;
}

/* Move completions from the used ring into the FIFO (never more than the
 * buffers posted: the FIFO has room for every buffer). */
static int fill_cq(struct capdrv_virtio_net *n)
{
    enum { CHUNK = 32 };
    struct capdrv_virtq_completion c[CHUNK];
    unsigned cap = n->info.rx_bufs;
    for (;;) {
        unsigned room = cap - n->cq_count;
        unsigned want = room < CHUNK ? room : CHUNK;
        if (want == 0)
            return 0;
        int got = capdrv_virtq_reap(&n->rxq.vq, c, want);
        if (got < 0) {
            set_fault(n, capdrv_virtq_error(&n->rxq.vq));
            return got;
        }
        for (int i = 0; i < got; i++) {
            /* The cookie comes from the virtq's private state, never from
             * device memory: it is one of our records, posted. */
            struct vnet_rxbuf *b = c[i].cookie;
            b->state = VNET_RX_HELD;
            n->n_posted--;
            n->n_held++;
            n->cq[(n->cq_head + n->cq_count) % cap] = (struct vnet_cqe){b->index, c[i].len};
            n->cq_count++;
        }
        /* Audit the available ring once per Queue Size completions
         * (queue.h). A rewrite found is a ring fault like the others: the
         * caller breaks the receive side (the buffers just taken go back
         * to the driver; frames lent before stay lent). */
        if (got > 0 && vio_queue_audit(&n->rxq, (unsigned)got) < 0) {
            set_fault(n, capdrv_virtq_error(&n->rxq.vq));
            return -CAPDRV_EPROTO;
        }
        if ((unsigned)got < want)
            return 0;
    }
}

/* Every buffer waiting in the FIFO goes back to the driver, idle. */
static void drain_cq(struct capdrv_virtio_net *n)
{
    unsigned cap = n->info.rx_bufs;
    while (n->cq_count) {
        struct vnet_rxbuf *b = &n->rx[n->cq[n->cq_head].index];
        b->state = VNET_RX_IDLE;
        n->rx_idle[n->n_idle++] = b->index;
        n->n_held--;
        n->cq_head = (n->cq_head + 1u) % cap;
        n->cq_count--;
    }
}

/* A violation: the receive side is broken and every buffer waiting in the
 * FIFO goes back to the driver (idle, never reposted). Lent frames stay
 * lent until released. */
static int break_rx(struct capdrv_virtio_net *n, int fault)
{
    set_fault(n, fault);
    drain_cq(n);
    return -CAPDRV_EPROTO;
}

void vnet_rx_reclaim(struct capdrv_virtio_net *n)
{
    /* The caller reset the device (§2.4): it no longer writes into any
     * buffer it was given, so the posted ones are the driver's again.
     * Which buffers were posted is the driver's own record (the virtq's
     * private state), never the device's rings: this works on a broken
     * queue too, and each buffer comes back once (detach frees what it
     * returns). */
    enum { CHUNK = 32 };
    struct capdrv_virtq_completion c[CHUNK];
    for (;;) {
        int k = capdrv_virtq_detach(&n->rxq.vq, c, CHUNK);
        if (k <= 0)
            break;
        for (int i = 0; i < k; i++) {
            struct vnet_rxbuf *b = c[i].cookie;
            b->state = VNET_RX_IDLE;
            n->rx_idle[n->n_idle++] = b->index;
            n->n_posted--;
        }
        if (k < CHUNK)
            break;
    }
    drain_cq(n);
}

/* Drop the @nb buffers of the packet at the FIFO head: a packet whose
 * contents are wrong but whose extent is known (the device kept the ring
 * consistent). Its buffers go back to the driver and are reposted; the
 * drop is counted (like Linux virtio_net's rx_length_errors / rx_drops)
 * instead of taking the whole receive side down for one bad frame. */
static void drop_frame(struct capdrv_virtio_net *n, unsigned nb, int why)
{
    unsigned cap = n->info.rx_bufs;
    for (unsigned k = 0; k < nb; k++) {
        struct vnet_rxbuf *b = &n->rx[n->cq[n->cq_head].index];
        b->state = VNET_RX_IDLE;
        n->rx_idle[n->n_idle++] = b->index;
        n->n_held--;
        n->cq_head = (n->cq_head + 1u) % cap;
        n->cq_count--;
    }
    n->st.rx_dropped++;
    n->st.rx_last_drop = why;
}

/* Assemble the frame at the FIFO head into @rx, or find why it cannot be.
 * Returns 0, a fault that breaks the receive side (the packet's extent is
 * unknown: the ring and the driver no longer agree where packets start),
 * or -1 for a ring fault already recorded. A packet that is wrong but
 * whose buffers are known sets *@drop to its buffer count and returns its
 * fault; the caller drops it and goes on. */
static int take_frame(struct capdrv_virtio_net *n, struct capdrv_virtio_net_rx *rx, unsigned *drop)
{
    unsigned cap = n->info.rx_bufs;
    struct vnet_cqe first = n->cq[n->cq_head];
    *drop = 0;
    /* §5.1.6.4: every packet starts with the header in its first buffer.
     * Without MRG_RXBUF a packet is one buffer, so a short one is dropped;
     * with it, num_buffers is unreadable and the packet's extent unknown. */
    if (first.len < CAPDRV_VIRTIO_NET_HDR_LEN) {
        if (!has(n, CAPDRV_VIRTIO_NET_F_MRG_RXBUF))
            *drop = 1;
        return CAPDRV_VIRTIO_NET_FAULT_SHORT;
    }
    /* Read the header once into private memory: the buffer is device
     * memory and must not be consulted twice. */
    uint8_t hdr[CAPDRV_VIRTIO_NET_HDR_LEN];
    memcpy(hdr, buf_mem(n, first.index), sizeof hdr);
    unsigned nb = 1;
    if (has(n, CAPDRV_VIRTIO_NET_F_MRG_RXBUF)) {
        /* §5.1.6.4: num_buffers counts the buffers of this packet, at least
         * one; the driver bounds it by the largest frame it accepts and by
         * what the used ring holds (the device uses a packet's buffers
         * together, so all must be visible once the first is). Without
         * MRG_RXBUF the field is 1 by rule and not needed. */
        nb = le16_at(hdr + VNET_HDR_NUM_BUFFERS);
        if (nb == 0 || nb > n->info.max_rx_bufs_per_frame)
            return CAPDRV_VIRTIO_NET_FAULT_NUM_BUFFERS;
        if (n->cq_count < nb) {
            int rc = fill_cq(n);
            if (rc < 0)
                return -1; /* ring fault already recorded */
            if (n->cq_count < nb)
                return CAPDRV_VIRTIO_NET_FAULT_NUM_BUFFERS;
        }
    }
    uint64_t total = 0;
    for (unsigned k = 0; k < nb; k++)
        total += n->cq[(n->cq_head + k) % cap].len; /* each <= rx_buf_len (virtq) */
    total -= CAPDRV_VIRTIO_NET_HDR_LEN;
    /* From here on the packet's nb buffers are known and all visible. */
    *drop = nb;
    if (total > n->info.max_frame)
        return CAPDRV_VIRTIO_NET_FAULT_FRAME_LEN;
    /* §5.1.6.4.1: no GSO type was negotiated, so gso_type is NONE; flags
     * are zero unless GUEST_CSUM was negotiated; a partial checksum names a
     * field inside the frame. */
    uint8_t flags = hdr[VNET_HDR_FLAGS];
    uint8_t allowed = has(n, CAPDRV_VIRTIO_NET_F_GUEST_CSUM)
                          ? (uint8_t)(CAPDRV_VIRTIO_NET_HDR_F_NEEDS_CSUM |
                                      CAPDRV_VIRTIO_NET_HDR_F_DATA_VALID)
                          : 0;
    uint16_t cs = le16_at(hdr + VNET_HDR_CSUM_START), co = le16_at(hdr + VNET_HDR_CSUM_OFFSET);
    if (hdr[VNET_HDR_GSO_TYPE] != CAPDRV_VIRTIO_NET_HDR_GSO_NONE || (flags & ~allowed))
        return CAPDRV_VIRTIO_NET_FAULT_HDR;
    if ((flags & CAPDRV_VIRTIO_NET_HDR_F_NEEDS_CSUM) && (uint32_t)cs + co + 2u > total)
        return CAPDRV_VIRTIO_NET_FAULT_HDR;

    *drop = 0;
    memset(rx, 0, sizeof *rx);
    rx->len = (uint32_t)total;
    rx->n_frags = nb;
    rx->flags = flags;
    if (flags & CAPDRV_VIRTIO_NET_HDR_F_NEEDS_CSUM) {
        rx->csum_start = cs;
        rx->csum_offset = co;
    }
    struct vnet_rxbuf *prev = NULL, *head = &n->rx[first.index];
    for (unsigned k = 0; k < nb; k++) {
        struct vnet_cqe e = n->cq[n->cq_head];
        struct vnet_rxbuf *b = &n->rx[e.index];
        size_t skip = k == 0 ? CAPDRV_VIRTIO_NET_HDR_LEN : 0;
        rx->frags[k].data = buf_mem(n, e.index) + skip;
        rx->frags[k].len = e.len - (uint32_t)skip;
        b->state = VNET_RX_LENT;
        b->head = 0;
        b->next = VNET_NONE;
        if (prev)
            prev->next = b->index;
        prev = b;
        n->cq_head = (n->cq_head + 1u) % cap;
        n->cq_count--;
        n->n_held--;
        n->n_lent++;
    }
    head->head = 1;
    head->gen++;
    rx->handle = (uint32_t)head->gen << 16 | head->index;
    n->st.rx_frames++;
    n->st.rx_bytes += total;
    return 0;
}

int capdrv_virtio_net_recv(struct capdrv_virtio_net *net, struct capdrv_virtio_net_rx *out,
                           unsigned max)
{
    if (!net || (max && !out))
        return -CAPDRV_EINVAL;
    if (net->cancelled)
        return -CAPDRV_ECANCELED;
    if (net->rx_fault)
        return -CAPDRV_EPROTO;
    if (net->n_idle) {
        int rc = vnet_rx_refill(net);
        if (rc < 0)
            return rc;
    }
    unsigned got = 0;
    while (got < max) {
        if (net->cq_count == 0) {
            int rc = fill_cq(net);
            if (rc < 0) {
                (void)break_rx(net, capdrv_virtq_error(&net->rxq.vq));
                return got ? (int)got : rc; /* the next call reports the fault */
            }
            if (net->cq_count == 0)
                break;
        }
        unsigned drop;
        int fault = take_frame(net, &out[got], &drop);
        if (fault != 0 && drop) {
            drop_frame(net, drop, fault);
            continue;
        }
        if (fault != 0) {
            (void)break_rx(net, fault > 0 ? fault : capdrv_virtq_error(&net->rxq.vq));
            return got ? (int)got : -CAPDRV_EPROTO;
        }
        got++;
    }
    return (int)got;
}

int capdrv_virtio_net_rx_release(struct capdrv_virtio_net *net, const uint32_t *handles,
                                 unsigned n)
{
    if (!net || (n && !handles))
        return -CAPDRV_EINVAL;
    /* Check every handle first (marking each head, so a handle given twice
     * in one batch is refused too); nothing changes on a refusal. */
    int rc = 0;
    unsigned k;
    for (k = 0; k < n; k++) {
        uint32_t idx = handles[k] & 0xffffu, gen = handles[k] >> 16;
        if (idx >= net->info.rx_bufs) {
            rc = -CAPDRV_EINVAL;
            break;
        }
        struct vnet_rxbuf *b = &net->rx[idx];
        if (b->state != VNET_RX_LENT || b->head != 1 || b->gen != gen) {
            rc = -CAPDRV_ESTALE;
            break;
        }
        b->head = 2;
    }
    for (unsigned j = 0; j < k; j++)
        net->rx[handles[j] & 0xffffu].head = 1;
    if (rc < 0)
        return rc;
    for (k = 0; k < n; k++) {
        uint16_t i = (uint16_t)(handles[k] & 0xffffu);
        for (unsigned hops = 0; i != VNET_NONE && hops < net->info.rx_bufs; hops++) {
            struct vnet_rxbuf *b = &net->rx[i];
            i = b->next;
            b->state = VNET_RX_IDLE;
            b->head = 0;
            b->next = VNET_NONE;
            net->rx_idle[net->n_idle++] = b->index;
            net->n_lent--;
        }
    }
    return vnet_rx_refill(net);
}

size_t capdrv_virtio_net_rx_copy(const struct capdrv_virtio_net_rx *rx, void *dst, size_t cap)
{
    if (!rx || !dst)
        return 0;
    size_t done = 0;
    for (unsigned k = 0; k < rx->n_frags && k < CAPDRV_VIRTIO_NET_RX_MAX_FRAGS && done < cap; k++) {
        size_t len = rx->frags[k].len;
        if (len > cap - done)
            len = cap - done;
        memcpy((uint8_t *)dst + done, rx->frags[k].data, len);
        done += len;
    }
    return done;
}
