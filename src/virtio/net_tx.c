/* virtio-net transmit (VIRTIO 1.2 §5.1.6.2): checking frames, the
 * driver-owned header in front of the caller's segments, batched
 * submission, completion. */
#include "net_internal.h"

#include <string.h>

static void put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static int check_tx(const struct capdrv_virtio_net *n, const struct capdrv_virtio_net_tx *t)
{
    if (!t->segs || t->n_segs == 0 || t->n_segs > CAPDRV_VIRTIO_NET_TX_MAX_SEGS)
        return -CAPDRV_EINVAL;
    /* Header + segments must fit one chain: an indirect table, or the ring. */
    unsigned descs = t->n_segs + 1u;
    if (descs > (n->tx_indirect ? n->tx_indirect : n->txq.size))
        return -CAPDRV_EINVAL;
    uint64_t bytes = 0;
    for (unsigned i = 0; i < t->n_segs; i++) {
        if (t->segs[i].len == 0)
            return -CAPDRV_EINVAL;
        bytes += t->segs[i].len;
    }
    if (t->flags & ~(uint32_t)CAPDRV_VIRTIO_NET_TX_F_CSUM)
        return -CAPDRV_EINVAL;
    if (bytes < CAPDRV_VIRTIO_NET_MIN_FRAME)
        return -CAPDRV_EINVAL;
    /* §5.1.6.2 (with §5.1.4.2): no packet longer than mtu + the Ethernet
     * header; without GSO that is the limit for every frame. */
    if (bytes > n->info.max_frame)
        return -CAPDRV_ERANGE;
    if (t->flags & CAPDRV_VIRTIO_NET_TX_F_CSUM) {
        /* §5.1.6.2: NEEDS_CSUM only when VIRTIO_NET_F_CSUM was negotiated;
         * the 16-bit result must land inside the frame. */
        if (!((n->info.features >> CAPDRV_VIRTIO_NET_F_CSUM) & 1u))
            return -CAPDRV_ENOTSUP;
        if ((uint64_t)t->csum_start + t->csum_offset + 2u > bytes)
            return -CAPDRV_EINVAL;
    }
    return 0;
}

static int add_tx(struct capdrv_virtio_net *n, const struct capdrv_virtio_net_tx *t)
{
    if (n->tx_n_free == 0)
        return -CAPDRV_ENOSPC;
    struct vnet_txslot *s = &n->tx[n->tx_free[n->tx_n_free - 1u]];
    size_t off = n->tx_hdr_off + (size_t)s->index * VNET_TX_HDR_STRIDE;
    uint8_t *h = (uint8_t *)n->txq.bi.cpu + off;
    /* struct virtio_net_hdr (§5.1.6.2): gso_type NONE, hdr_len and gso_size
     * 0 without GSO, num_buffers 0 on transmit. */
    int csum = (t->flags & CAPDRV_VIRTIO_NET_TX_F_CSUM) != 0;
    h[VNET_HDR_FLAGS] = csum ? CAPDRV_VIRTIO_NET_HDR_F_NEEDS_CSUM : 0;
    h[VNET_HDR_GSO_TYPE] = CAPDRV_VIRTIO_NET_HDR_GSO_NONE;
    put_le16(h + VNET_HDR_HDR_LEN, 0);
    put_le16(h + VNET_HDR_GSO_SIZE, 0);
    put_le16(h + VNET_HDR_CSUM_START, csum ? t->csum_start : 0);
    put_le16(h + VNET_HDR_CSUM_OFFSET, csum ? t->csum_offset : 0);
    put_le16(h + VNET_HDR_NUM_BUFFERS, 0);

    struct capdrv_virtq_seg segs[CAPDRV_VIRTIO_NET_TX_MAX_SEGS + 1u];
    uint32_t bytes = 0;
    segs[0] = (struct capdrv_virtq_seg){capdrv_dma_ref(&n->txq.bi, off), CAPDRV_VIRTIO_NET_HDR_LEN};
    for (unsigned i = 0; i < t->n_segs; i++) {
        segs[i + 1u] = t->segs[i];
        bytes += t->segs[i].len;
    }
    /* Everything is device-readable (§5.1.6.2, §2.7.4.2). */
    int rc = capdrv_virtq_add(&n->txq.vq, segs, t->n_segs + 1u, 0, s);
    if (rc < 0)
        return rc;
    s->cookie = t->cookie;
    s->bytes = bytes;
    n->tx_n_free--;
    n->tx_inflight++;
    return 0;
}

int capdrv_virtio_net_send(struct capdrv_virtio_net *net, const struct capdrv_virtio_net_tx *pkts,
                           unsigned n)
{
    if (!net || (n && !pkts))
        return -CAPDRV_EINVAL;
    if (net->cancelled)
        return -CAPDRV_ECANCELED;
    if (capdrv_virtq_error(&net->txq.vq) || net->txq.doorbell_rc < 0)
        return -CAPDRV_EPROTO;
    for (unsigned i = 0; i < n; i++) {
        int rc = check_tx(net, &pkts[i]);
        if (rc < 0)
            return rc;
    }
    unsigned done = 0;
    while (done < n) {
        int rc = add_tx(net, &pkts[done]);
        if (rc == -CAPDRV_ENOSPC)
            break;
        if (rc < 0)
            return rc; /* -CAPDRV_EPROTO: the queue is broken */
        done++;
    }
    if (done == 0)
        return 0;
    /* One release store of avail->idx for the batch (§2.7.13.3), then one
     * doorbell (§2.7.13.4; always in the brokered lane). */
    int rc = capdrv_virtq_publish(&net->txq.vq);
    if (rc >= 0)
        rc = vnet_kick(net, &net->txq);
    if (rc < 0) {
        /* Frames in the ring, doorbell refused (a reference outside the
         * ledger): every later doorbell re-checks them, so the queue is
         * unusable until a reset; later sends say so. */
        net->txq.doorbell_rc = rc;
        return rc;
    }
    return (int)done;
}

int capdrv_virtio_net_tx_reap(struct capdrv_virtio_net *net, struct capdrv_virtio_net_tx_done *out,
                              unsigned max)
{
    if (!net || (max && !out))
        return -CAPDRV_EINVAL;
    if (net->cancelled)
        return -CAPDRV_ECANCELED;
    enum { CHUNK = 32 };
    struct capdrv_virtq_completion c[CHUNK];
    unsigned got = 0;
    while (got < max) {
        unsigned want = max - got < CHUNK ? max - got : CHUNK;
        int k = capdrv_virtq_reap(&net->txq.vq, c, want);
        if (k < 0)
            return got ? (int)got : k; /* the next call reports the fault */
        for (int i = 0; i < k; i++) {
            /* The slot pointer comes from the virtq's private state. The
             * chain has no device-writable part, so the virtq has already
             * refused any used len but 0 (§2.7.8). */
            struct vnet_txslot *s = c[i].cookie;
            out[got].cookie = s->cookie;
            out[got].status = 0;
            got++;
            net->st.tx_frames++;
            net->st.tx_bytes += s->bytes;
            net->tx_free[net->tx_n_free++] = s->index;
            net->tx_inflight--;
        }
        /* Audit the available ring once per Queue Size completions
         * (queue.h); a rewrite found breaks the queue: what was taken is
         * returned, the next call reports the fault. */
        if (k > 0 && vio_queue_audit(&net->txq, (unsigned)k) < 0)
            break;
        if ((unsigned)k < want)
            break;
    }
    return (int)got;
}

int capdrv_virtio_net_cancel(struct capdrv_virtio_net *net, struct capdrv_virtio_net_tx_done *out,
                             unsigned max)
{
    if (!net || (max && !out))
        return -CAPDRV_EINVAL;
    if (!net->cancelled) {
        /* §2.4 / §3.3.1 (§4.1.4.3.2, §4.2.2 Status): once device_status
         * reads back 0 the device no longer uses the rings or any buffer
         * they name - the caller's transmit segments and the driver's
         * receive buffers alike. */
        struct vt v;
        vnet_transport(net, &v);
        net->cancel_rc = vt_reset(&v);
        net->cancelled = true;
        vnet_rx_reclaim(net);
    }
    enum { CHUNK = 32 };
    struct capdrv_virtq_completion c[CHUNK];
    unsigned got = 0;
    while (got < max && !net->cancel_tx_done) {
        unsigned want = max - got < CHUNK ? max - got : CHUNK;
        /* The driver's record of what is outstanding (queued or in
         * flight), never the device's rings; works on a broken queue and
         * after a refused doorbell, and resumes where the last call
         * stopped. */
        int k = capdrv_virtq_detach(&net->txq.vq, c, want);
        if (k < 0)
            return k;
        for (int i = 0; i < k; i++) {
            struct vnet_txslot *s = c[i].cookie;
            out[got++] = (struct capdrv_virtio_net_tx_done){.cookie = s->cookie,
                                                            .status = -CAPDRV_ECANCELED};
            net->tx_free[net->tx_n_free++] = s->index;
            net->tx_inflight--;
        }
        if ((unsigned)k < want)
            net->cancel_tx_done = true;
    }
    return (int)got;
}
