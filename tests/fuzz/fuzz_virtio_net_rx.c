/* fuzz_virtio_net_rx: the virtio-net receive path against a hostile device
 * (VIRTIO 1.2 §5.1.6.3-§5.1.6.4): the net header it writes (flags,
 * gso_type, csum fields, num_buffers), how many buffers it uses per
 * packet, the used lengths and ids it reports, and the configuration the
 * driver reads at open (MTU, status). The device is played by this harness
 * over the unit tests' fake virtio PCI function in manual mode
 * (tests/unit/virtio/fake_vdev.c), turned into a virtio-net (1af4:1041).
 *
 * Input: byte 0 flags (bit 0 direct lane, bit 1 MRG_RXBUF, bit 2
 * GUEST_CSUM, bit 3 MTU offered, bit 4 STATUS offered), bytes 1-2 the MTU,
 * then a script (see enum op).
 *
 * Checked after every step: every receive buffer is in exactly one place
 * (posted + held + lent + idle = rx_bufs); capdrv_virtio_net_recv()
 * returns frames or -CAPDRV_EPROTO, and once broken it stays broken; each
 * lent frame has 1..max_rx_bufs_per_frame fragments inside live DMA
 * memory, a length equal to their sum and at most max_frame, only the
 * header flags GUEST_CSUM allows, and a handle no other lent frame has;
 * releasing lent frames works (or reports the broken side); at close every
 * byte, window and vector is given back and the fake refused no access. */
#include "fuzz_common.h"

#include <string.h>

#include <capdrv/virtio_net.h>

#include "../unit/virtio/fake_vdev.h"

#define QSIZE 16u
#define MAX_LENT 64u

enum op {
    OP_PACKET = 0,   /* [k] [12 header bytes] [k x 2-byte used len]: a packet over 1 + k%4 buffers */
    OP_RAW_USED = 1, /* [2-byte id] [4-byte len]: one used element as given */
    OP_RECV = 2,     /* receive up to 4 frames, check, release them */
    OP_RECV_KEEP = 3 /* receive up to 2 frames, check, keep them lent */
};

struct h {
    struct fv *f;
    struct capdrv_virtio_net *net;
    struct capdrv_virtio_net_info info;
    uint32_t lent[MAX_LENT];
    unsigned n_lent;
    bool broken;
};

/* ---- the device ------------------------------------------------------- */

static uint8_t *avail_ring(struct fv *f)
{
    return fv_ref(f, f->q[0].driver, 6u + 2u * f->q[0].size);
}

static uint8_t *used_ring(struct fv *f)
{
    return fv_ref(f, f->q[0].device, 6u + 8u * f->q[0].size);
}

/* Take the next posted receive buffer: its head and memory, or false. */
static bool take(struct fv *f, uint16_t *head, uint8_t **p, uint32_t *len)
{
    struct fv_queue *q = &f->q[0];
    uint8_t *avail = avail_ring(f);
    FUZZ_CHECK(avail != NULL);
    if (q->last_avail == (uint16_t)fuzz_get_le(avail + 2, 2))
        return false;
    *head = (uint16_t)fuzz_get_le(avail + 4 + 2u * (q->last_avail % q->size), 2);
    q->last_avail++;
    FUZZ_CHECK(*head < q->size); /* the driver is trusted here */
    const uint8_t *d = fv_ref(f, q->desc + 16u * *head, 16);
    FUZZ_CHECK(d != NULL);
    *len = (uint32_t)fuzz_get_le(d + 8, 4);
    *p = fv_ref(f, fuzz_get_le(d, 8), *len);
    FUZZ_CHECK(*p != NULL);
    return true;
}

static void used(struct fv *f, uint32_t id, uint32_t len)
{
    struct fv_queue *q = &f->q[0];
    uint8_t *e = used_ring(f) + 4 + 8u * (q->used_idx % q->size);
    fuzz_put_le(e, 4, id);
    fuzz_put_le(e + 4, 4, len);
    q->used_idx++;
}

static void flush(struct fv *f)
{
    __atomic_thread_fence(__ATOMIC_RELEASE);
    fuzz_put_le(used_ring(f) + 2, 2, f->q[0].used_idx);
}

static void dev_packet(struct h *h, struct fuzz_rd *r)
{
    unsigned k = 1u + fuzz_rd8(r) % 4u;
    uint8_t hdr[12];
    for (unsigned i = 0; i < 12; i++)
        hdr[i] = (uint8_t)fuzz_rd8(r);
    for (unsigned i = 0; i < k; i++) {
        uint16_t head;
        uint8_t *p;
        uint32_t blen;
        uint32_t ulen = (uint32_t)fuzz_rdn(r, 2);
        if (!take(h->f, &head, &p, &blen))
            break;
        for (uint32_t b = 0; b < blen; b++)
            p[b] = (uint8_t)(b * 7u + i);
        if (i == 0)
            memcpy(p, hdr, blen < sizeof hdr ? blen : sizeof hdr);
        used(h->f, head, ulen);
    }
    flush(h->f);
}

/* ---- the driver's side, checked ----------------------------------------- */

static void accounted(struct h *h)
{
    struct capdrv_virtio_net_stats st;
    FUZZ_CHECK(capdrv_virtio_net_stats(h->net, &st) == 0);
    FUZZ_CHECK(st.rx_posted + st.rx_held + st.rx_lent + st.rx_idle == h->info.rx_bufs);
    FUZZ_CHECK(st.rx_lent >= h->n_lent);
}

/* [p, p + len) inside one live DMA buffer of the fake. */
static bool in_dma(const struct fv *f, const uint8_t *p, uint32_t len)
{
    for (unsigned i = 0; i < f->n_buf; i++) {
        const struct fv_buf *b = &f->buf[i];
        const uint8_t *base = b->cpu;
        if (b->live && p >= base && (size_t)(p - base) <= b->size && len <= b->size - (size_t)(p - base))
            return true;
    }
    return false;
}

static void check_frame(struct h *h, const struct capdrv_virtio_net_rx *rx)
{
    FUZZ_CHECK(rx->n_frags >= 1 && rx->n_frags <= CAPDRV_VIRTIO_NET_RX_MAX_FRAGS);
    FUZZ_CHECK(rx->n_frags <= h->info.max_rx_bufs_per_frame);
    uint64_t sum = 0;
    for (unsigned i = 0; i < rx->n_frags; i++) {
        FUZZ_CHECK(in_dma(h->f, rx->frags[i].data, rx->frags[i].len));
        sum += rx->frags[i].len;
    }
    FUZZ_CHECK(sum == rx->len);
    FUZZ_CHECK(rx->len <= h->info.max_frame);
    bool guest_csum = (h->info.features >> CAPDRV_VIRTIO_NET_F_GUEST_CSUM) & 1u;
    uint8_t allowed = guest_csum ? (CAPDRV_VIRTIO_NET_HDR_F_NEEDS_CSUM |
                                    CAPDRV_VIRTIO_NET_HDR_F_DATA_VALID)
                                 : 0u;
    FUZZ_CHECK((rx->flags & ~allowed) == 0);
    for (unsigned i = 0; i < h->n_lent; i++)
        FUZZ_CHECK(h->lent[i] != rx->handle);
    uint8_t copy[64];
    size_t n = capdrv_virtio_net_rx_copy(rx, copy, sizeof copy);
    FUZZ_CHECK(n == (rx->len < sizeof copy ? rx->len : sizeof copy));
}

static void do_recv(struct h *h, unsigned max, bool keep)
{
    struct capdrv_virtio_net_rx rx[4];
    int n = capdrv_virtio_net_recv(h->net, rx, max);
    if (fuzz_verbose())
        fprintf(stderr, "fuzz_virtio_net_rx: recv(%u) = %d\n", max, n);
    FUZZ_CHECK_MSG(n >= 0 || n == -CAPDRV_EPROTO, "recv rc", n);
    if (h->broken)
        FUZZ_CHECK(n == -CAPDRV_EPROTO); /* broken stays broken */
    if (n < 0) {
        h->broken = true;
        return;
    }
    FUZZ_CHECK((unsigned)n <= max);
    uint32_t handles[4];
    for (int i = 0; i < n; i++) {
        check_frame(h, &rx[i]);
        handles[i] = rx[i].handle;
        if (keep && h->n_lent < MAX_LENT)
            h->lent[h->n_lent++] = rx[i].handle;
    }
    if (!keep && n > 0) {
        int rc = capdrv_virtio_net_rx_release(h->net, handles, (unsigned)n);
        FUZZ_CHECK_MSG(rc == 0 || rc == -CAPDRV_EPROTO, "release rc", rc);
        /* Released twice: refused, nothing changes. */
        FUZZ_CHECK(capdrv_virtio_net_rx_release(h->net, handles, 1) == -CAPDRV_ESTALE);
    } else if (keep && (unsigned)n > 0 && h->n_lent == MAX_LENT) {
        int rc = capdrv_virtio_net_rx_release(h->net, h->lent, h->n_lent);
        FUZZ_CHECK(rc == 0 || rc == -CAPDRV_EPROTO);
        h->n_lent = 0;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_rd r = {data, size};
    unsigned flags = fuzz_rd8(&r);
    unsigned mtu = (unsigned)fuzz_rdn(&r, 2);
    uint64_t feat = (1ull << CAPDRV_VIRTIO_NET_F_MAC) | (1ull << CAPDRV_VIRTIO_NET_F_CSUM);
    if (flags & 2u)
        feat |= 1ull << CAPDRV_VIRTIO_NET_F_MRG_RXBUF;
    if (flags & 4u)
        feat |= 1ull << CAPDRV_VIRTIO_NET_F_GUEST_CSUM;
    if (flags & 8u)
        feat |= 1ull << CAPDRV_VIRTIO_NET_F_MTU;
    if (flags & 16u)
        feat |= 1ull << CAPDRV_VIRTIO_NET_F_STATUS;

    struct h h;
    memset(&h, 0, sizeof h);
    h.f = calloc(1, sizeof *h.f);
    FUZZ_CHECK(h.f != NULL);
    fv_init(h.f, feat, (flags & 1u) ? CAPDRV_LANE_DIRECT : CAPDRV_LANE_BROKERED);
    fuzz_put_le(h.f->cfg + 0x02, 2, 0x1041);
    h.f->num_queues = 2;
    h.f->manual = true;
    memset(h.f->devcfg, 0, sizeof h.f->devcfg);
    static const uint8_t mac[6] = {0x52, 0x54, 0x00, 0xab, 0xcd, 0xef};
    memcpy(h.f->devcfg, mac, 6);
    fuzz_put_le(h.f->devcfg + 6, 2, (flags >> 5) & 3u); /* status: LINK_UP, ANNOUNCE, as given */
    fuzz_put_le(h.f->devcfg + 8, 2, 1);
    fuzz_put_le(h.f->devcfg + 10, 2, mtu);

    struct capdrv_virtio_net_opts o = {.pool = FV_POOL, .queue_size = QSIZE};
    char why[256] = "";
    int rc = capdrv_virtio_net_open(fv_sys(h.f), FV_GRANT, &o, &h.net, why, sizeof why);
    if (fuzz_verbose())
        fprintf(stderr, "fuzz_virtio_net_rx: open rc=%d %s\n", rc, why);
    FUZZ_CHECK_MSG(rc == 0 || rc == -CAPDRV_EPROTO || rc == -CAPDRV_ENOTSUP ||
                       rc == -CAPDRV_EINVAL || rc == -CAPDRV_ENOSPC,
                   "open rc", rc);
    if (rc < 0) {
        FUZZ_CHECK(h.net == NULL && why[0] != '\0');
    } else {
        FUZZ_CHECK(capdrv_virtio_net_info(h.net, &h.info) == 0);
        FUZZ_CHECK(memcmp(h.info.mac, mac, 6) == 0 && h.info.has_mac);
        FUZZ_CHECK(h.info.max_frame == h.info.mtu + 14u);
        FUZZ_CHECK(h.info.mtu >= 68u && h.info.mtu <= 65535u);
        if (!(feat & (1ull << CAPDRV_VIRTIO_NET_F_MTU)))
            FUZZ_CHECK(h.info.mtu == 1500u);
        for (unsigned steps = 0; r.n > 0 && steps < 64; steps++) {
            switch (fuzz_rd8(&r) % 4u) {
            case OP_PACKET: dev_packet(&h, &r); break;
            case OP_RAW_USED: {
                uint32_t id = (uint32_t)fuzz_rdn(&r, 2), len = (uint32_t)fuzz_rdn(&r, 4);
                used(h.f, id, len);
                flush(h.f);
                break;
            }
            case OP_RECV: do_recv(&h, 4, false); break;
            case OP_RECV_KEEP: do_recv(&h, 2, true); break;
            }
            accounted(&h);
        }
        if (h.n_lent) {
            rc = capdrv_virtio_net_rx_release(h.net, h.lent, h.n_lent);
            FUZZ_CHECK(rc == 0 || rc == -CAPDRV_EPROTO);
            h.n_lent = 0;
        }
        accounted(&h);
        capdrv_virtio_net_close(h.net);
        FUZZ_CHECK(h.f->status == 0);
    }
    FUZZ_CHECK(h.f->pool_used == 0);
    for (unsigned w = 0; w < FV_MAX_WINDOWS; w++)
        FUZZ_CHECK(!h.f->mmio_open[w]);
    for (unsigned v = 0; v < 8; v++)
        FUZZ_CHECK(!h.f->irq_open[v]);
    FUZZ_CHECK_MSG(h.f->bad_accesses == 0, "accesses the fake refused", h.f->bad_accesses);
    fv_fini(h.f);
    free(h.f);
    return 0;
}
