/* The sim platform's virtio-net function (capdrv_sim_add_virtio_net()),
 * driven by hand through the platform operations (vio_test.h): rings built
 * byte by byte, independent of the library's virtq code.
 *
 * Covered: identity and configuration (VIRTIO 1.2 §5.1.4), a connected
 * pair in both directions, the harness end of the wire (inject/take), the
 * checksum offload both ways (§5.1.6.2, §5.1.6.4) on a real IPv4/UDP
 * frame, refused transmit headers, merged receive buffers, a receive
 * buffer too small without them, the wire queue bound, link changes
 * (configuration interrupt, generation), EVENT_IDX and NO_INTERRUPT on the
 * receiveq, each fault knob, malformed rings (-> DEVICE_NEEDS_RESET) and
 * the DMA oracle catching device accesses to unmapped memory. */
#include "vio_test.h"

#include <string.h>

#define RXQ CAPDRV_VNET_Q_RX
#define TXQ CAPDRV_VNET_Q_TX
#define HDR CAPDRV_VNET_HDR_SIZE
#define SLOT 0x800u   /* bytes per buffer */
#define RX_OFF 0x0u   /* receive buffer h at RX_OFF + h * SLOT (h < 16) */
#define TX_OFF 0x8000u /* transmit request h at TX_OFF + h * SLOT (h < 16) */
#define V_CFG 0u
#define V_RX 1u
#define V_TX 2u
#define MAXF 1514u    /* default mtu + 14 */

static const uint64_t NET_DEFAULT =
    BIT(CAPDRV_VPCI_F_VERSION_1) | BIT(CAPDRV_VPCI_F_ACCESS_PLATFORM) |
    BIT(CAPDRV_VPCI_F_INDIRECT_DESC) | BIT(CAPDRV_VPCI_F_EVENT_IDX) | BIT(CAPDRV_VNET_F_CSUM) |
    BIT(CAPDRV_VNET_F_GUEST_CSUM) | BIT(CAPDRV_VNET_F_MTU) | BIT(CAPDRV_VNET_F_MAC) |
    BIT(CAPDRV_VNET_F_MRG_RXBUF) | BIT(CAPDRV_VNET_F_STATUS);
/* No offloads, no merged buffers, no EVENT_IDX: every completion interrupts. */
static const uint64_t PLAIN = BIT(CAPDRV_VPCI_F_VERSION_1) | BIT(CAPDRV_VNET_F_MTU) |
                              BIT(CAPDRV_VNET_F_MAC) | BIT(CAPDRV_VNET_F_STATUS);

/* ---- set-up ------------------------------------------------------------------ */

static struct capdrv_sim *mk(bool iommu)
{
    struct capdrv_sim *sim;
    struct capdrv_sim_config sc = {.iommu = iommu};
    assert_int_equal(capdrv_sim_create(&sc, &sim), 0);
    return sim;
}

static unsigned add_net(struct capdrv_sim *sim, uint8_t dev,
                        const struct capdrv_sim_virtio_net_config *c)
{
    struct capdrv_pci_addr a = {0, 0, dev, 0};
    unsigned fn = 99;
    assert_int_equal(capdrv_sim_add_virtio_net(sim, &a, c, &fn), 0);
    return fn;
}

static void net_open(struct vt *t, const struct capdrv_sim_virtio_net_config *c)
{
    struct capdrv_sim *sim = mk(false);
    vt_attach(t, sim, add_net(sim, 6, c));
}

/* §3.1.1 up to step 7: features, config vector 0, receiveq on vector 1,
 * transmitq on vector 2, all routed; no DRIVER_OK yet. */
static void net_setup(struct vt *t, uint64_t accept)
{
    for (unsigned v = 0; v < 3; v++)
        assert_int_equal(t->hw.ops->irq_enable(t->hw.ctx, t->fn, v), 0);
    assert_int_equal(negotiate(t, accept), S_ACK | S_DRV | S_FOK);
    cw(t, CAPDRV_VPCI_COMMON_MSIX, 2, V_CFG);
    setup_queue(t, RXQ, V_RX);
    setup_queue(t, TXQ, V_TX);
}

static void net_go(struct vt *t)
{
    cw(t, CAPDRV_VPCI_COMMON_STATUS, 1, S_ACK | S_DRV | S_FOK | S_DOK);
    assert_int_equal(status(t), S_ACK | S_DRV | S_FOK | S_DOK);
}

static void net_start(struct vt *t, uint64_t accept)
{
    net_setup(t, accept);
    net_go(t);
}

static struct capdrv_sim_virtio_net_stats stats(struct vt *t)
{
    struct capdrv_sim_virtio_net_stats s;
    assert_int_equal(capdrv_sim_virtio_net_stats(t->sim, t->fn, &s), 0);
    return s;
}

/* ---- frames and buffers -------------------------------------------------------- */

static void frame(uint8_t *p, uint32_t len, uint8_t seed)
{
    static const uint8_t head[14] = {0x52, 0x54, 0, 0x12, 0x34, 0x57, 0x52, 0x54,
                                     0,    0x12, 0x34, 0x56, 0x88, 0xb5};
    for (uint32_t i = 0; i < len; i++)
        p[i] = i < sizeof head ? head[i] : (uint8_t)(seed + i * 7u);
    if (len > 0)
        p[0] = seed; /* tells frames apart even when short */
}

static uint8_t *rx_buf(struct vt *t, unsigned h)
{
    return t->b + RX_OFF + h * SLOT;
}

/* Receive buffer h: @len device-writable bytes, made available. */
static void rx_post(struct vt *t, unsigned h, uint32_t len)
{
    memset(rx_buf(t, h), 0xee, SLOT);
    desc(t, RXQ, h, t->buf_dev + RX_OFF + h * SLOT, len, CAPDRV_VPCI_DESC_F_WRITE, 0);
    post(t, RXQ, (uint16_t)h);
}

static void hdr_fill(uint8_t *h, uint8_t flags, uint8_t gso, uint16_t cs, uint16_t co)
{
    memset(h, 0, HDR);
    h[CAPDRV_VNET_HDR_FLAGS] = flags;
    h[CAPDRV_VNET_HDR_GSO_TYPE] = gso;
    put(h + CAPDRV_VNET_HDR_CSUM_START, 2, cs);
    put(h + CAPDRV_VNET_HDR_CSUM_OFFSET, 2, co);
}

/* Transmit request h (< 8): @hlen header bytes in descriptor 2h, then the
 * frame in descriptor 2h + 1 (none when @len is 0). Posted, not kicked. */
static void tx_raw(struct vt *t, unsigned h, const uint8_t *hdr, uint32_t hlen,
                   const uint8_t *f, uint32_t len)
{
    uint8_t *p = t->b + TX_OFF + h * SLOT;
    uint64_t d = t->buf_dev + TX_OFF + h * SLOT;
    memcpy(p, hdr, hlen);
    memcpy(p + hlen, f, len);
    uint16_t i = (uint16_t)(2u * h);
    desc(t, TXQ, i, d, hlen, len ? CAPDRV_VPCI_DESC_F_NEXT : 0, (uint16_t)(i + 1u));
    if (len)
        desc(t, TXQ, i + 1u, d + hlen, len, 0, 0);
    post(t, TXQ, i);
}

/* Transmit one frame with the given header fields and wait for nothing:
 * the transmitq is processed inside the doorbell write. */
static void tx(struct vt *t, unsigned h, uint8_t flags, uint16_t cs, uint16_t co,
               const uint8_t *f, uint32_t len)
{
    uint8_t hdr[HDR];
    hdr_fill(hdr, flags, CAPDRV_VNET_HDR_GSO_NONE, cs, co);
    tx_raw(t, h, hdr, HDR, f, len);
    kick(t, TXQ);
}

/* Transmit request h (< 16) as one descriptor: header + frame. */
static void tx1(struct vt *t, unsigned h, const uint8_t *f, uint32_t len)
{
    uint8_t *p = t->b + TX_OFF + h * SLOT;
    hdr_fill(p, 0, 0, 0, 0);
    memcpy(p + HDR, f, len);
    desc(t, TXQ, h, t->buf_dev + TX_OFF + h * SLOT, HDR + len, 0, 0);
    post(t, TXQ, (uint16_t)h);
}

/* The receive header in buffer h is "no offload, @nb buffers". */
static void expect_plain_hdr(struct vt *t, unsigned h, uint16_t nb)
{
    uint8_t want[HDR];
    hdr_fill(want, 0, 0, 0, 0);
    put(want + CAPDRV_VNET_HDR_NUM_BUFFERS, 2, nb);
    assert_memory_equal(rx_buf(t, h), want, HDR);
}

static void expect_used(struct vt *t, unsigned q, uint16_t k, uint32_t id, uint32_t len)
{
    uint32_t i, l;
    used_elem(t, q, k, &i, &l);
    assert_int_equal(i, id);
    assert_int_equal(l, len);
}

static void inject(struct vt *t, const uint8_t *f, uint32_t len)
{
    assert_int_equal(capdrv_sim_virtio_net_inject(t->sim, t->fn, f, len), 0);
}

/* ---- tests ------------------------------------------------------------------ */

static void test_identity_and_config(void **state)
{
    (void)state;
    struct vt t;
    net_open(&t, NULL);
    assert_int_equal(cfg(&t, 0x00, 2), CAPDRV_VPCI_VENDOR);
    assert_int_equal(cfg(&t, 0x02, 2), 0x1041);
    assert_int_equal(cfg(&t, 0x08, 4), 0x02000001); /* class 02/00/00, revision 1 */
    assert_int_equal(cfg(&t, 0x2c, 2), CAPDRV_VPCI_VENDOR);
    assert_int_equal(cfg(&t, 0x2e, 2), 0x1100);
    assert_int_equal(cfg(&t, 0x80, 1), 0x11);          /* MSI-X ... */
    assert_int_equal(cfg(&t, 0x82, 2) & 0x7ff, 3 - 1); /* ... with 3 vectors */
    for (unsigned type = 1; type <= 5; type++)
        assert_int_equal(t.cap[type].bar, 0);
    assert_int_equal(t.cap[CAPDRV_VPCI_CAP_COMMON_CFG].off, CAPDRV_SIM_VIRTIO_COMMON_OFF);
    assert_int_equal(t.cap[CAPDRV_VPCI_CAP_ISR_CFG].off, CAPDRV_SIM_VIRTIO_ISR_OFF);
    assert_int_equal(t.cap[CAPDRV_VPCI_CAP_DEVICE_CFG].off, CAPDRV_SIM_VIRTIO_DEVICE_OFF);
    assert_int_equal(t.cap[CAPDRV_VPCI_CAP_NOTIFY_CFG].off, CAPDRV_SIM_VIRTIO_NOTIFY_OFF);
    assert_int_equal(t.mult, 4);
    assert_int_equal(cr(&t, CAPDRV_VPCI_COMMON_NUMQ, 2), 2);
    for (unsigned q = 0; q < 3; q++) {
        cw(&t, CAPDRV_VPCI_COMMON_Q_SELECT, 2, q);
        assert_int_equal(cr(&t, CAPDRV_VPCI_COMMON_Q_SIZE, 2), q < 2 ? 256 : 0);
    }
    assert_int_equal(offered(&t), NET_DEFAULT);
    /* §5.1.4: default MAC of function 0, link up, MTU 1500. */
    const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
    for (unsigned i = 0; i < 6; i++)
        assert_int_equal(devcfg(&t, CAPDRV_VNET_CFG_MAC + i, 1), mac[i]);
    assert_int_equal(devcfg(&t, CAPDRV_VNET_CFG_STATUS, 2), CAPDRV_VNET_S_LINK_UP);
    assert_int_equal(devcfg(&t, CAPDRV_VNET_CFG_MTU, 2), 1500);
    assert_int_equal(devcfg(&t, CAPDRV_VNET_CFG_MAX_VQ_PAIRS, 2), 0);
    /* Fault knobs: IOERR means nothing to a net device. */
    assert_int_equal(capdrv_sim_virtio_set_fault(t.sim, t.fn, CAPDRV_SIM_VIRTIO_FAULT_IOERR),
                     -CAPDRV_ENOTSUP);
    assert_int_equal(capdrv_sim_virtio_set_fault(t.sim, t.fn, CAPDRV_SIM_VIRTIO_FAULT_DOUBLE), 0);
    assert_int_equal(capdrv_sim_virtio_set_fault(t.sim, t.fn, CAPDRV_SIM_VIRTIO_FAULT_NONE), 0);
    /* A second function gets the next default MAC; a given one is kept. */
    const struct capdrv_sim_virtio_net_config c = {
        .mac = {0x02, 0x11, 0x22, 0x33, 0x44, 0x55},
        .queue_size_max = 64,
        .mtu = 9000,
        .features_clear = BIT(CAPDRV_VNET_F_STATUS) | BIT(CAPDRV_VNET_F_MRG_RXBUF)};
    struct vt u, w;
    vt_attach(&u, t.sim, add_net(t.sim, 7, NULL));
    assert_int_equal(devcfg(&u, CAPDRV_VNET_CFG_MAC + 5, 1), 0x56 + u.fn);
    vt_attach(&w, t.sim, add_net(t.sim, 8, &c));
    for (unsigned i = 0; i < 6; i++)
        assert_int_equal(devcfg(&w, CAPDRV_VNET_CFG_MAC + i, 1), c.mac[i]);
    assert_int_equal(devcfg(&w, CAPDRV_VNET_CFG_MTU, 2), 9000);
    assert_int_equal(devcfg(&w, CAPDRV_VNET_CFG_STATUS, 2), 0); /* no STATUS: no field */
    assert_int_equal(offered(&w), NET_DEFAULT & ~c.features_clear);
    cw(&w, CAPDRV_VPCI_COMMON_Q_SELECT, 2, 1);
    assert_int_equal(cr(&w, CAPDRV_VPCI_COMMON_Q_SIZE, 2), 64);
    /* Features not offered are refused. */
    assert_int_equal(negotiate(&w, PLAIN), S_ACK | S_DRV);
    /* Without MTU/MAC offered those fields read 0. */
    const struct capdrv_sim_virtio_net_config c2 = {
        .mac = {1, 2, 3, 4, 5, 6},
        .features_clear = BIT(CAPDRV_VNET_F_MTU) | BIT(CAPDRV_VNET_F_MAC)};
    struct vt x;
    vt_attach(&x, t.sim, add_net(t.sim, 9, &c2));
    assert_int_equal(devcfg(&x, CAPDRV_VNET_CFG_MAC, 4), 0);
    assert_int_equal(devcfg(&x, CAPDRV_VNET_CFG_MTU, 2), 0);
    assert_int_equal(devcfg(&x, CAPDRV_VNET_CFG_STATUS, 2), CAPDRV_VNET_S_LINK_UP);
    vt_detach(&x);
    vt_detach(&w);
    vt_detach(&u);
    vt_close(&t, 0);
}

static void test_add_and_api_errors(void **state)
{
    (void)state;
    struct capdrv_sim *sim = mk(false);
    struct capdrv_pci_addr a = {0, 0, 6, 0};
    const struct capdrv_sim_virtio_net_config bad[] = {
        {.queue_size_max = 2048}, {.queue_size_max = 100}, {.mtu = 67}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(capdrv_sim_add_virtio_net(sim, &a, &bad[i], NULL), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_sim_add_virtio_net(NULL, &a, NULL, NULL), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_sim_add_virtio_net(sim, NULL, NULL, NULL), -CAPDRV_EINVAL);
    unsigned n0 = add_net(sim, 6, NULL);
    assert_int_equal(capdrv_sim_add_virtio_net(sim, &a, NULL, NULL), -CAPDRV_EEXIST);
    struct capdrv_pci_addr d = {0, 0, 7, 0};
    unsigned dt;
    assert_int_equal(capdrv_sim_add_dmatest(sim, &d, &dt), 0);
    uint8_t f[64];
    size_t len = 0;
    struct capdrv_sim_virtio_net_stats st;
    frame(f, sizeof f, 1);
    assert_int_equal(capdrv_sim_virtio_net_connect(sim, n0, dt), -CAPDRV_ENODEV);
    assert_int_equal(capdrv_sim_virtio_net_connect(sim, n0, 42), -CAPDRV_ENOENT);
    assert_int_equal(capdrv_sim_virtio_net_connect(sim, n0, n0), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_sim_virtio_net_inject(sim, dt, f, 64), -CAPDRV_ENODEV);
    assert_int_equal(capdrv_sim_virtio_net_inject(sim, 42, f, 64), -CAPDRV_ENOENT);
    assert_int_equal(capdrv_sim_virtio_net_inject(sim, n0, NULL, 64), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_sim_virtio_net_inject(sim, n0, f, 0), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_sim_virtio_net_take(sim, dt, f, 64, &len), -CAPDRV_ENODEV);
    assert_int_equal(capdrv_sim_virtio_net_take(sim, n0, f, 64, NULL), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_sim_virtio_net_take(sim, n0, NULL, 64, &len), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_sim_virtio_net_take(sim, n0, f, 64, &len), -CAPDRV_ENOENT);
    assert_int_equal(capdrv_sim_virtio_net_set_link(sim, dt, false), -CAPDRV_ENODEV);
    assert_int_equal(capdrv_sim_virtio_net_set_link(NULL, n0, false), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_sim_virtio_net_stats(sim, dt, &st), -CAPDRV_ENODEV);
    assert_int_equal(capdrv_sim_virtio_net_stats(sim, n0, NULL), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_sim_virtio_net_stats(sim, n0, &st), 0);
    assert_int_equal(st.tx_frames + st.rx_frames + st.rx_dropped + st.tx_errors, 0);
    /* Wiring rules: once connected, the harness has no end to inject at. */
    unsigned n1 = add_net(sim, 8, NULL), n2 = add_net(sim, 9, NULL);
    assert_int_equal(capdrv_sim_virtio_net_connect(sim, n0, n1), 0);
    assert_int_equal(capdrv_sim_virtio_net_connect(sim, n1, n0), 0);
    assert_int_equal(capdrv_sim_virtio_net_connect(sim, n0, n2), -CAPDRV_EBUSY);
    assert_int_equal(capdrv_sim_virtio_net_connect(sim, n2, n1), -CAPDRV_EBUSY);
    assert_int_equal(capdrv_sim_virtio_net_inject(sim, n0, f, 64), -CAPDRV_EBUSY);
    assert_int_equal(capdrv_sim_virtio_net_inject(sim, n2, f, 64), 0);
    vt_finish(sim, 0);
}

/* Two connected functions, frames both ways, byte for byte. */
static void test_pair_both_directions(void **state)
{
    (void)state;
    for (int iommu = 0; iommu <= 1; iommu++) {
        struct capdrv_sim *sim = mk(iommu);
        struct vt a, b;
        vt_attach(&a, sim, add_net(sim, 6, NULL));
        vt_attach(&b, sim, add_net(sim, 7, NULL));
        assert_int_equal(capdrv_sim_virtio_net_connect(sim, a.fn, b.fn), 0);
        net_start(&a, PLAIN);
        net_start(&b, PLAIN);
        for (unsigned h = 0; h < 4; h++) {
            rx_post(&a, h, SLOT);
            rx_post(&b, h, SLOT);
        }
        kick(&a, RXQ);
        kick(&b, RXQ);
        assert_int_equal(used_idx(&a, RXQ) + used_idx(&b, RXQ), 0);
        uint8_t f1[60], f2[MAXF], f3[100];
        frame(f1, sizeof f1, 1);
        frame(f2, sizeof f2, 2);
        frame(f3, sizeof f3, 3);
        tx(&a, 0, 0, 0, 0, f1, sizeof f1);
        assert_int_equal(used_idx(&a, TXQ), 1);
        expect_used(&a, TXQ, 0, 0, 0); /* nothing written into a transmit buffer */
        assert_int_equal(fired(&a, V_TX), 1);
        assert_int_equal(used_idx(&b, RXQ), 1);
        expect_used(&b, RXQ, 0, 0, HDR + sizeof f1);
        expect_plain_hdr(&b, 0, 1);
        assert_memory_equal(rx_buf(&b, 0) + HDR, f1, sizeof f1);
        assert_int_equal(rx_buf(&b, 0)[HDR + sizeof f1], 0xee); /* nothing past it */
        assert_int_equal(fired(&b, V_RX), 1);
        assert_int_equal(fired(&b, V_TX), 0);
        assert_int_equal(isr(&b), CAPDRV_VPCI_ISR_QUEUE);
        /* A full-size frame. */
        tx(&a, 1, 0, 0, 0, f2, sizeof f2);
        expect_used(&b, RXQ, 1, 1, HDR + MAXF);
        assert_memory_equal(rx_buf(&b, 1) + HDR, f2, sizeof f2);
        /* The other way. */
        tx(&b, 0, 0, 0, 0, f3, sizeof f3);
        assert_int_equal(used_idx(&a, RXQ), 1);
        expect_used(&a, RXQ, 0, 0, HDR + sizeof f3);
        expect_plain_hdr(&a, 0, 1);
        assert_memory_equal(rx_buf(&a, 0) + HDR, f3, sizeof f3);
        assert_int_equal(fired(&a, V_RX), 1);
        struct capdrv_sim_virtio_net_stats sa = stats(&a), sb = stats(&b);
        assert_int_equal(sa.tx_frames, 2);
        assert_int_equal(sa.rx_frames, 1);
        assert_int_equal(sb.tx_frames, 1);
        assert_int_equal(sb.rx_frames, 2);
        assert_int_equal(sa.rx_dropped + sb.rx_dropped + sa.tx_errors + sb.tx_errors, 0);
        /* A connected function sends nothing to the harness. */
        size_t len;
        assert_int_equal(capdrv_sim_virtio_net_take(sim, a.fn, f2, sizeof f2, &len),
                         -CAPDRV_ENOENT);
        vt_detach(&a);
        vt_detach(&b);
        vt_finish(sim, 0);
    }
}

static void test_inject_and_take(void **state)
{
    (void)state;
    struct vt t;
    net_open(&t, NULL);
    uint8_t f[MAXF + 1], g[MAXF];
    size_t len = 0;
    /* Before DRIVER_OK: buffers posted, notify dropped, the frame waits
     * and is delivered when the device goes live. */
    net_setup(&t, PLAIN);
    rx_post(&t, 0, SLOT);
    kick(&t, RXQ);
    frame(f, 80, 9);
    inject(&t, f, 80);
    assert_int_equal(used_idx(&t, RXQ), 0);
    net_go(&t);
    assert_int_equal(used_idx(&t, RXQ), 1);
    expect_used(&t, RXQ, 0, 0, HDR + 80);
    expect_plain_hdr(&t, 0, 1);
    assert_memory_equal(rx_buf(&t, 0) + HDR, f, 80);
    assert_int_equal(fired(&t, V_RX), 1);
    /* No buffer: waits until one is posted and notified. */
    frame(f, MAXF, 10);
    inject(&t, f, MAXF);
    assert_int_equal(used_idx(&t, RXQ), 1);
    rx_post(&t, 1, SLOT);
    assert_int_equal(used_idx(&t, RXQ), 1);
    kick(&t, RXQ);
    expect_used(&t, RXQ, 1, 1, HDR + MAXF);
    assert_memory_equal(rx_buf(&t, 1) + HDR, f, MAXF);
    /* Lengths: 1 .. mtu + 14. */
    assert_int_equal(capdrv_sim_virtio_net_inject(t.sim, t.fn, f, MAXF + 1), -CAPDRV_EINVAL);
    inject(&t, f, 1);
    /* The wire keeps waiting frames across a device reset. */
    cw(&t, CAPDRV_VPCI_COMMON_STATUS, 1, 0);
    assert_int_equal(t.hw.ops->function_reset(t.hw.ctx, t.fn), 0);
    net_start(&t, PLAIN);
    rx_post(&t, 0, SLOT);
    kick(&t, RXQ);
    expect_used(&t, RXQ, 0, 0, HDR + 1);
    assert_int_equal(rx_buf(&t, 0)[HDR], 10);
    /* Transmit to the harness, take with a short and a fitting buffer. */
    frame(f, 200, 11);
    tx(&t, 0, 0, 0, 0, f, 200);
    assert_int_equal(capdrv_sim_virtio_net_take(t.sim, t.fn, g, 199, &len), -CAPDRV_ERANGE);
    assert_int_equal(len, 200);
    len = 0;
    assert_int_equal(capdrv_sim_virtio_net_take(t.sim, t.fn, g, sizeof g, &len), 0);
    assert_int_equal(len, 200);
    assert_memory_equal(g, f, 200);
    assert_int_equal(capdrv_sim_virtio_net_take(t.sim, t.fn, g, sizeof g, &len), -CAPDRV_ENOENT);
    /* Any framing: header and frame split at odd places, indirect. */
    uint8_t *p = t.b + TX_OFF + 5 * SLOT;
    hdr_fill(p, 0, 0, 0, 0);
    frame(p + HDR, 300, 12);
    cw(&t, CAPDRV_VPCI_COMMON_STATUS, 1, 0);
    net_start(&t, PLAIN | BIT(CAPDRV_VPCI_F_INDIRECT_DESC));
    uint8_t *tab = ring_cpu(&t, TXQ, INDIRECT_OFF);
    uint64_t d = t.buf_dev + TX_OFF + 5 * SLOT;
    desc_at(tab, 0, d, 5, CAPDRV_VPCI_DESC_F_NEXT, 1);
    desc_at(tab, 1, d + 5, 100, CAPDRV_VPCI_DESC_F_NEXT, 2);
    desc_at(tab, 2, d + 105, HDR + 300 - 105, 0, 0);
    desc(&t, TXQ, 3, ring_dev(&t, TXQ, INDIRECT_OFF), 48, CAPDRV_VPCI_DESC_F_INDIRECT, 0);
    post(&t, TXQ, 3);
    kick(&t, TXQ);
    expect_used(&t, TXQ, 0, 3, 0);
    assert_int_equal(capdrv_sim_virtio_net_take(t.sim, t.fn, g, sizeof g, &len), 0);
    assert_int_equal(len, 300);
    assert_memory_equal(g, p + HDR, 300);
    struct capdrv_sim_virtio_net_stats s = stats(&t);
    assert_int_equal(s.rx_frames, 3);
    assert_int_equal(s.tx_frames, 2);
    assert_int_equal(s.rx_dropped + s.tx_errors, 0);
    vt_close(&t, 0);
}

/* ---- checksum offload ----------------------------------------------------------- */

#define UDP_PAYLOAD 13u /* odd: the last byte is padded */
#define UDP_FRAME (14u + 20u + 8u + UDP_PAYLOAD)
#define CSUM_START 34u  /* UDP header */
#define CSUM_OFFSET 6u  /* its checksum field */

static uint32_t sum16(const uint8_t *p, size_t len, uint32_t sum)
{
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)p[i] << 8 | p[i + 1];
    if (len & 1)
        sum += (uint32_t)p[len - 1] << 8;
    return sum;
}

static uint16_t fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffffu) + (sum >> 16);
    return (uint16_t)sum;
}

/* The IPv4 pseudo-header sum (RFC 768) of the frame's UDP datagram. */
static uint32_t pseudo(const uint8_t *f)
{
    uint32_t s = sum16(f + 26, 8, 0); /* source and destination address */
    return s + 17u + (8u + UDP_PAYLOAD);
}

/* An Ethernet/IPv4/UDP frame whose UDP checksum field holds the folded
 * pseudo-header sum, as a stack that offloads the checksum leaves it. */
static void udp_frame(uint8_t *f)
{
    frame(f, 14, 0x52);
    f[12] = 0x08;
    f[13] = 0x00;
    uint8_t *ip = f + 14, *udp = f + 34;
    memset(ip, 0, 20);
    ip[0] = 0x45;
    ip[2] = 0;
    ip[3] = (uint8_t)(20u + 8u + UDP_PAYLOAD);
    ip[8] = 64;
    ip[9] = 17;
    const uint8_t addr[8] = {10, 0, 0, 1, 10, 0, 0, 2};
    memcpy(ip + 12, addr, 8);
    uint16_t ipc = (uint16_t)~fold(sum16(ip, 20, 0));
    ip[10] = (uint8_t)(ipc >> 8);
    ip[11] = (uint8_t)ipc;
    udp[0] = 0x04, udp[1] = 0xd2; /* 1234 */
    udp[2] = 0x16, udp[3] = 0x2e; /* 5678 */
    udp[4] = 0;
    udp[5] = (uint8_t)(8u + UDP_PAYLOAD);
    for (unsigned i = 0; i < UDP_PAYLOAD; i++)
        udp[8 + i] = (uint8_t)(0xa0 + 3 * i);
    uint16_t ph = fold(pseudo(f));
    udp[6] = (uint8_t)(ph >> 8);
    udp[7] = (uint8_t)ph;
}

/* The UDP checksum of the frame computed from scratch (field taken as 0). */
static uint16_t udp_csum(const uint8_t *f)
{
    uint8_t u[8 + UDP_PAYLOAD];
    memcpy(u, f + 34, sizeof u);
    u[6] = u[7] = 0;
    return (uint16_t)~fold(sum16(u, sizeof u, pseudo(f)));
}

/* @got is @sent with a finished, valid UDP checksum and nothing else changed. */
static void expect_finished(const uint8_t *got, const uint8_t *sent)
{
    uint16_t c = (uint16_t)(got[40] << 8 | got[41]);
    assert_int_equal(c, udp_csum(sent));
    assert_int_not_equal(c, (uint16_t)(sent[40] << 8 | sent[41]));
    /* Receiver's check (RFC 768): everything including the checksum sums to all ones. */
    assert_int_equal(fold(sum16(got + 34, 8 + UDP_PAYLOAD, pseudo(got))), 0xffff);
    assert_memory_equal(got, sent, 40);
    assert_memory_equal(got + 42, sent + 42, UDP_FRAME - 42);
}

static void test_checksum_offload(void **state)
{
    (void)state;
    struct capdrv_sim *sim = mk(false);
    struct vt a, b, c;
    vt_attach(&a, sim, add_net(sim, 6, NULL));
    vt_attach(&b, sim, add_net(sim, 7, NULL));
    vt_attach(&c, sim, add_net(sim, 8, NULL));
    assert_int_equal(capdrv_sim_virtio_net_connect(sim, a.fn, b.fn), 0);
    uint8_t f[UDP_FRAME];
    udp_frame(f);
    net_start(&a, PLAIN | BIT(CAPDRV_VNET_F_CSUM));
    /* A receiver that takes partial checksums gets it as sent (§5.1.6.4). */
    net_start(&b, PLAIN | BIT(CAPDRV_VNET_F_GUEST_CSUM));
    rx_post(&b, 0, SLOT);
    tx(&a, 0, CAPDRV_VNET_HDR_F_NEEDS_CSUM, CSUM_START, CSUM_OFFSET, f, UDP_FRAME);
    expect_used(&b, RXQ, 0, 0, HDR + UDP_FRAME);
    uint8_t want[HDR];
    hdr_fill(want, CAPDRV_VNET_HDR_F_NEEDS_CSUM, 0, CSUM_START, CSUM_OFFSET);
    put(want + CAPDRV_VNET_HDR_NUM_BUFFERS, 2, 1);
    assert_memory_equal(rx_buf(&b, 0), want, HDR);
    assert_memory_equal(rx_buf(&b, 0) + HDR, f, UDP_FRAME);
    /* A frame without NEEDS_CSUM reaches it with flags 0. */
    rx_post(&b, 1, SLOT);
    tx(&a, 1, 0, 0, 0, f, UDP_FRAME);
    expect_plain_hdr(&b, 1, 1);
    /* A receiver without GUEST_CSUM gets the finished checksum. */
    cw(&b, CAPDRV_VPCI_COMMON_STATUS, 1, 0);
    net_start(&b, PLAIN);
    rx_post(&b, 0, SLOT);
    tx(&a, 2, CAPDRV_VNET_HDR_F_NEEDS_CSUM, CSUM_START, CSUM_OFFSET, f, UDP_FRAME);
    expect_used(&b, RXQ, 0, 0, HDR + UDP_FRAME);
    expect_plain_hdr(&b, 0, 1);
    expect_finished(rx_buf(&b, 0) + HDR, f);
    /* So does the harness. */
    net_start(&c, PLAIN | BIT(CAPDRV_VNET_F_CSUM));
    tx(&c, 0, CAPDRV_VNET_HDR_F_NEEDS_CSUM, CSUM_START, CSUM_OFFSET, f, UDP_FRAME);
    uint8_t g[UDP_FRAME];
    size_t len;
    assert_int_equal(capdrv_sim_virtio_net_take(sim, c.fn, g, sizeof g, &len), 0);
    assert_int_equal(len, UDP_FRAME);
    expect_finished(g, f);
    assert_int_equal(stats(&a).tx_frames, 3);
    assert_int_equal(stats(&a).tx_errors, 0);
    vt_detach(&a);
    vt_detach(&b);
    vt_detach(&c);
    vt_finish(sim, 0);
}

/* Transmit request @h is completed (used len 0), counted as an error and
 * nothing reaches the wire. */
static void expect_tx_refused(struct vt *t, uint16_t k, unsigned h, uint64_t errors)
{
    uint8_t g[MAXF];
    size_t len;
    assert_int_equal(used_idx(t, TXQ), k + 1u);
    expect_used(t, TXQ, k, 2 * h, 0);
    assert_int_equal(stats(t).tx_errors, errors);
    assert_int_equal(stats(t).tx_frames, 0);
    assert_int_equal(capdrv_sim_virtio_net_take(t->sim, t->fn, g, sizeof g, &len),
                     -CAPDRV_ENOENT);
    assert_int_equal(status(t) & S_NR, 0);
}

static void test_tx_refused(void **state)
{
    (void)state;
    struct vt t;
    net_open(&t, NULL);
    net_start(&t, PLAIN | BIT(CAPDRV_VNET_F_CSUM));
    uint8_t f[MAXF + 1], hdr[HDR];
    frame(f, sizeof f, 5);
    const uint32_t L = 100;
    /* Untrusted checksum fields: the field must lie inside the frame. */
    const uint16_t bad_csum[][2] = {{L - 1, 0}, {L - 2, 1}, {0, L - 1}, {50, 49},
                                    {0xffff, 0xffff}, {L, 0}, {0xfffe, 2}};
    uint16_t k = 0;
    for (size_t i = 0; i < sizeof bad_csum / sizeof bad_csum[0]; i++, k++) {
        tx(&t, k % 8, CAPDRV_VNET_HDR_F_NEEDS_CSUM, bad_csum[i][0], bad_csum[i][1], f, L);
        expect_tx_refused(&t, k, k % 8, k + 1u);
    }
    /* GSO (not offered), receive-only flags. */
    hdr_fill(hdr, 0, CAPDRV_VNET_HDR_GSO_TCPV4, 0, 0);
    tx_raw(&t, k % 8, hdr, HDR, f, L);
    kick(&t, TXQ);
    expect_tx_refused(&t, k, k % 8, k + 1u);
    k++;
    hdr_fill(hdr, 0, CAPDRV_VNET_HDR_GSO_ECN, 0, 0);
    tx_raw(&t, k % 8, hdr, HDR, f, L);
    kick(&t, TXQ);
    expect_tx_refused(&t, k, k % 8, k + 1u);
    k++;
    tx(&t, k % 8, CAPDRV_VNET_HDR_F_DATA_VALID, 0, 0, f, L);
    expect_tx_refused(&t, k, k % 8, k + 1u);
    k++;
    /* No frame, a short header, a frame past the MTU. */
    hdr_fill(hdr, 0, 0, 0, 0);
    tx_raw(&t, k % 8, hdr, HDR, f, 0);
    kick(&t, TXQ);
    expect_tx_refused(&t, k, k % 8, k + 1u);
    k++;
    tx_raw(&t, k % 8, hdr, 8, f, 0);
    kick(&t, TXQ);
    expect_tx_refused(&t, k, k % 8, k + 1u);
    k++;
    tx(&t, k % 8, 0, 0, 0, f, MAXF + 1);
    expect_tx_refused(&t, k, k % 8, k + 1u);
    k++;
    /* The boundary case is fine: the field's last byte is the frame's. */
    tx(&t, 0, CAPDRV_VNET_HDR_F_NEEDS_CSUM, L - 6, 4, f, L);
    assert_int_equal(stats(&t).tx_frames, 1);
    uint8_t g[MAXF];
    size_t len;
    assert_int_equal(capdrv_sim_virtio_net_take(t.sim, t.fn, g, sizeof g, &len), 0);
    assert_int_equal(len, L);
    assert_memory_equal(g, f, L - 2);
    /* NEEDS_CSUM without VIRTIO_NET_F_CSUM negotiated. */
    cw(&t, CAPDRV_VPCI_COMMON_STATUS, 1, 0);
    net_start(&t, PLAIN);
    tx(&t, 0, CAPDRV_VNET_HDR_F_NEEDS_CSUM, 14, 6, f, L);
    assert_int_equal(used_idx(&t, TXQ), 1);
    assert_int_equal(stats(&t).tx_errors, k + 1u);
    assert_int_equal(stats(&t).tx_frames, 1);
    vt_close(&t, 0);
}

/* ---- receive buffers ------------------------------------------------------------- */

static void test_mrg_rxbuf(void **state)
{
    (void)state;
    struct vt t;
    net_open(&t, NULL);
    net_start(&t, PLAIN | BIT(CAPDRV_VNET_F_MRG_RXBUF));
    uint8_t f[100];
    frame(f, sizeof f, 21);
    /* Three small chains: 12 + 40, 52, 8 bytes used (§5.1.6.4). */
    for (unsigned h = 0; h < 3; h++)
        rx_post(&t, h, HDR + 40);
    kick(&t, RXQ);
    inject(&t, f, sizeof f);
    assert_int_equal(used_idx(&t, RXQ), 3);
    expect_used(&t, RXQ, 0, 0, HDR + 40);
    expect_used(&t, RXQ, 1, 1, HDR + 40);
    expect_used(&t, RXQ, 2, 2, 8);
    expect_plain_hdr(&t, 0, 3);
    assert_memory_equal(rx_buf(&t, 0) + HDR, f, 40);
    assert_memory_equal(rx_buf(&t, 1), f + 40, 52);
    assert_memory_equal(rx_buf(&t, 2), f + 92, 8);
    assert_int_equal(rx_buf(&t, 2)[8], 0xee);
    assert_int_equal(fired(&t, V_RX), 1);
    assert_int_equal(stats(&t).rx_frames, 1);
    /* Too few chains: the frame waits, whole, for a third. */
    rx_post(&t, 3, HDR + 40);
    rx_post(&t, 4, HDR + 40);
    kick(&t, RXQ);
    frame(f, sizeof f, 22);
    inject(&t, f, sizeof f);
    assert_int_equal(used_idx(&t, RXQ), 3);
    assert_int_equal(fired(&t, V_RX), 0);
    rx_post(&t, 5, SLOT);
    kick(&t, RXQ);
    assert_int_equal(used_idx(&t, RXQ), 6);
    expect_used(&t, RXQ, 5, 5, 8);
    expect_plain_hdr(&t, 3, 3);
    assert_memory_equal(rx_buf(&t, 5), f + 92, 8);
    /* A frame that fits one chain uses one. */
    rx_post(&t, 6, SLOT);
    kick(&t, RXQ);
    inject(&t, f, 30);
    expect_used(&t, RXQ, 6, 6, HDR + 30);
    expect_plain_hdr(&t, 6, 1);
    assert_int_equal(stats(&t).rx_dropped, 0);
    vt_close(&t, 0);
}

static void test_small_buffer_without_mrg(void **state)
{
    (void)state;
    struct vt t;
    net_open(&t, NULL);
    net_start(&t, PLAIN);
    uint8_t f[100];
    frame(f, sizeof f, 31);
    rx_post(&t, 0, HDR + 50);
    kick(&t, RXQ);
    /* §5.1.6.3.1: without merged buffers a frame needs one whole chain. */
    inject(&t, f, 51);
    assert_int_equal(used_idx(&t, RXQ), 0);
    assert_int_equal(stats(&t).rx_dropped, 1);
    assert_int_equal(fired(&t, V_RX), 0);
    /* The buffer stayed available: the next frame that fits uses it. */
    inject(&t, f, 50);
    assert_int_equal(used_idx(&t, RXQ), 1);
    expect_used(&t, RXQ, 0, 0, HDR + 50);
    expect_plain_hdr(&t, 0, 1);
    assert_memory_equal(rx_buf(&t, 0) + HDR, f, 50);
    assert_int_equal(stats(&t).rx_frames, 1);
    assert_int_equal(stats(&t).rx_dropped, 1);
    vt_close(&t, 0);
}

static void test_wire_queue_bound(void **state)
{
    (void)state;
    struct vt t;
    net_open(&t, NULL);
    net_start(&t, PLAIN);
    uint8_t f[60];
    /* Receive side: 64 frames wait, the 65th is dropped. */
    for (unsigned i = 0; i <= CAPDRV_SIM_VIRTIO_NET_WIRE_FRAMES; i++) {
        frame(f, sizeof f, (uint8_t)i);
        inject(&t, f, sizeof f);
    }
    assert_int_equal(stats(&t).rx_dropped, 1);
    for (unsigned round = 0; round < 4; round++) {
        for (unsigned h = 0; h < Q; h++)
            rx_post(&t, h, SLOT);
        kick(&t, RXQ);
        assert_int_equal(used_idx(&t, RXQ), (round + 1) * Q);
        for (unsigned h = 0; h < Q; h++) {
            expect_used(&t, RXQ, (uint16_t)(round * Q + h), h, HDR + sizeof f);
            assert_int_equal(rx_buf(&t, h)[HDR], round * Q + h); /* in order */
        }
    }
    rx_post(&t, 0, SLOT);
    kick(&t, RXQ);
    assert_int_equal(used_idx(&t, RXQ), 4 * Q); /* the 65th never came */
    assert_int_equal(stats(&t).rx_frames, 64);
    /* Harness side: 64 transmitted frames are kept, the 65th is lost. */
    unsigned sent = 0;
    while (sent <= CAPDRV_SIM_VIRTIO_NET_WIRE_FRAMES) {
        for (unsigned h = 0; h < Q && sent <= CAPDRV_SIM_VIRTIO_NET_WIRE_FRAMES; h++, sent++) {
            frame(f, sizeof f, (uint8_t)(100 + sent));
            tx1(&t, h, f, sizeof f);
        }
        kick(&t, TXQ);
    }
    assert_int_equal(used_idx(&t, TXQ), 65);
    assert_int_equal(stats(&t).tx_frames, 65);
    uint8_t g[MAXF];
    size_t len;
    for (unsigned i = 0; i < CAPDRV_SIM_VIRTIO_NET_WIRE_FRAMES; i++) {
        assert_int_equal(capdrv_sim_virtio_net_take(t.sim, t.fn, g, sizeof g, &len), 0);
        assert_int_equal(g[0], (uint8_t)(100 + i));
    }
    assert_int_equal(capdrv_sim_virtio_net_take(t.sim, t.fn, g, sizeof g, &len), -CAPDRV_ENOENT);
    vt_close(&t, 0);
}

/* A frame arriving at a peer whose MTU is smaller is dropped there. */
static void test_peer_mtu(void **state)
{
    (void)state;
    struct capdrv_sim *sim = mk(false);
    const struct capdrv_sim_virtio_net_config big = {.mtu = 1600};
    struct vt a, b;
    vt_attach(&a, sim, add_net(sim, 6, &big));
    vt_attach(&b, sim, add_net(sim, 7, NULL));
    assert_int_equal(capdrv_sim_virtio_net_connect(sim, a.fn, b.fn), 0);
    net_start(&a, PLAIN);
    net_start(&b, PLAIN);
    rx_post(&b, 0, SLOT);
    uint8_t f[MAXF + 1];
    frame(f, sizeof f, 41);
    tx(&a, 0, 0, 0, 0, f, MAXF + 1);
    assert_int_equal(stats(&a).tx_frames, 1);
    assert_int_equal(stats(&b).rx_dropped, 1);
    assert_int_equal(used_idx(&b, RXQ), 0);
    tx(&a, 1, 0, 0, 0, f, MAXF);
    expect_used(&b, RXQ, 0, 0, HDR + MAXF);
    vt_detach(&a);
    vt_detach(&b);
    vt_finish(sim, 0);
}

/* ---- configuration changes and notifications ------------------------------------- */

static uint8_t generation(struct vt *t)
{
    return (uint8_t)cr(t, CAPDRV_VPCI_COMMON_CFGGENERATION, 1);
}

static void test_link_change(void **state)
{
    (void)state;
    struct vt t;
    net_open(&t, NULL);
    net_start(&t, PLAIN);
    uint8_t g0 = generation(&t);
    assert_int_equal(capdrv_sim_virtio_net_set_link(t.sim, t.fn, false), 0);
    assert_int_equal(devcfg(&t, CAPDRV_VNET_CFG_STATUS, 2), 0);
    assert_int_equal(generation(&t), (uint8_t)(g0 + 1));
    assert_int_equal(fired(&t, V_CFG), 1);
    assert_int_equal(fired(&t, V_RX) + fired(&t, V_TX), 0);
    assert_int_equal(isr(&t), CAPDRV_VPCI_ISR_CONFIG);
    /* No change, no notification. */
    assert_int_equal(capdrv_sim_virtio_net_set_link(t.sim, t.fn, false), 0);
    assert_int_equal(generation(&t), (uint8_t)(g0 + 1));
    assert_int_equal(fired(&t, V_CFG), 0);
    assert_int_equal(isr(&t), 0);
    assert_int_equal(capdrv_sim_virtio_net_set_link(t.sim, t.fn, true), 0);
    assert_int_equal(devcfg(&t, CAPDRV_VNET_CFG_STATUS, 2), CAPDRV_VNET_S_LINK_UP);
    assert_int_equal(generation(&t), (uint8_t)(g0 + 2));
    assert_int_equal(fired(&t, V_CFG), 1);
    assert_int_equal(isr(&t), CAPDRV_VPCI_ISR_CONFIG);
    /* Before DRIVER_OK: the configuration changes, nobody is told. */
    cw(&t, CAPDRV_VPCI_COMMON_STATUS, 1, 0);
    net_setup(&t, PLAIN);
    assert_int_equal(capdrv_sim_virtio_net_set_link(t.sim, t.fn, false), 0);
    assert_int_equal(generation(&t), (uint8_t)(g0 + 3));
    assert_int_equal(devcfg(&t, CAPDRV_VNET_CFG_STATUS, 2), 0);
    assert_int_equal(fired(&t, V_CFG), 0);
    assert_int_equal(isr(&t), 0);
    /* The link is reported only: traffic flows regardless. */
    net_go(&t);
    rx_post(&t, 0, SLOT);
    kick(&t, RXQ);
    uint8_t f[60];
    frame(f, sizeof f, 51);
    inject(&t, f, sizeof f);
    assert_int_equal(used_idx(&t, RXQ), 1);
    vt_close(&t, 0);
    /* Without VIRTIO_NET_F_STATUS there is no status field to change. */
    const struct capdrv_sim_virtio_net_config c = {.features_clear = BIT(CAPDRV_VNET_F_STATUS)};
    net_open(&t, &c);
    net_start(&t, PLAIN & ~BIT(CAPDRV_VNET_F_STATUS));
    g0 = generation(&t);
    assert_int_equal(capdrv_sim_virtio_net_set_link(t.sim, t.fn, false), 0);
    assert_int_equal(generation(&t), g0);
    assert_int_equal(devcfg(&t, CAPDRV_VNET_CFG_STATUS, 2), 0);
    assert_int_equal(fired(&t, V_CFG), 0);
    vt_close(&t, 0);
}

static void test_rx_notification_suppression(void **state)
{
    (void)state;
    struct vt t;
    net_open(&t, NULL);
    net_start(&t, PLAIN | BIT(CAPDRV_VPCI_F_EVENT_IDX));
    for (unsigned h = 0; h < 4; h++)
        rx_post(&t, h, SLOT);
    kick(&t, RXQ);
    uint8_t f[60];
    frame(f, sizeof f, 61);
    inject(&t, f, sizeof f);
    assert_int_equal(fired(&t, V_RX), 1);
    /* §2.7.10.2: avail_event asks for a notify at the next new entry. */
    assert_int_equal(get(ring_cpu(&t, RXQ, AVAIL_EVENT_OFF), 2), 4); /* all it saw */
    /* used_event = 2: no interrupt for used 1 -> 2, one for 2 -> 3 (§2.7.7.2). */
    put(ring_cpu(&t, RXQ, USED_EVENT_OFF), 2, 2);
    inject(&t, f, sizeof f);
    assert_int_equal(used_idx(&t, RXQ), 2);
    assert_int_equal(fired(&t, V_RX), 0);
    inject(&t, f, sizeof f);
    assert_int_equal(used_idx(&t, RXQ), 3);
    assert_int_equal(fired(&t, V_RX), 1);
    assert_int_equal(get(ring_cpu(&t, RXQ, AVAIL_EVENT_OFF), 2), 4);
    /* A frame waiting for more chains than are available: avail_event is
     * the index the device saw, so that adding one more buffer notifies. */
    cw(&t, CAPDRV_VPCI_COMMON_STATUS, 1, 0);
    net_start(&t, PLAIN | BIT(CAPDRV_VPCI_F_EVENT_IDX) | BIT(CAPDRV_VNET_F_MRG_RXBUF));
    rx_post(&t, 0, HDR + 40);
    rx_post(&t, 1, HDR + 40);
    uint8_t big[100];
    frame(big, sizeof big, 62);
    inject(&t, big, sizeof big);
    assert_int_equal(used_idx(&t, RXQ), 0);
    assert_int_equal(get(ring_cpu(&t, RXQ, AVAIL_EVENT_OFF), 2), 2);
    rx_post(&t, 2, HDR + 40);
    kick(&t, RXQ);
    assert_int_equal(used_idx(&t, RXQ), 3);
    assert_int_equal(get(ring_cpu(&t, RXQ, AVAIL_EVENT_OFF), 2), 3);
    /* Without EVENT_IDX: VRING_AVAIL_F_NO_INTERRUPT (§2.7.7). */
    cw(&t, CAPDRV_VPCI_COMMON_STATUS, 1, 0);
    net_start(&t, PLAIN);
    for (unsigned h = 0; h < 2; h++)
        rx_post(&t, h, SLOT);
    put(ring_cpu(&t, RXQ, AVAIL_OFF), 2, CAPDRV_VPCI_AVAIL_F_NO_INTERRUPT);
    inject(&t, f, sizeof f);
    assert_int_equal(used_idx(&t, RXQ), 1);
    assert_int_equal(fired(&t, V_RX), 0);
    put(ring_cpu(&t, RXQ, AVAIL_OFF), 2, 0);
    inject(&t, f, sizeof f);
    assert_int_equal(used_idx(&t, RXQ), 2);
    assert_int_equal(fired(&t, V_RX), 1);
    vt_close(&t, 0);
}

/* ---- faults ----------------------------------------------------------------------- */

static void set_fault(struct vt *t, enum capdrv_sim_virtio_fault f)
{
    assert_int_equal(capdrv_sim_virtio_set_fault(t->sim, t->fn, f), 0);
}

static void test_fault_delay(void **state)
{
    (void)state;
    struct vt t;
    net_open(&t, NULL);
    net_start(&t, PLAIN);
    set_fault(&t, CAPDRV_SIM_VIRTIO_FAULT_DELAY);
    uint8_t f[60], g[MAXF];
    size_t len;
    frame(f, sizeof f, 71);
    rx_post(&t, 0, SLOT);
    kick(&t, RXQ);
    inject(&t, f, sizeof f);
    assert_int_equal(used_idx(&t, RXQ), 0);
    capdrv_sim_advance(t.sim, CAPDRV_SIM_VIRTIO_DELAY_NS - 1);
    assert_int_equal(used_idx(&t, RXQ), 0);
    assert_int_equal(fired(&t, V_RX), 0);
    capdrv_sim_advance(t.sim, 1);
    assert_int_equal(used_idx(&t, RXQ), 1);
    assert_memory_equal(rx_buf(&t, 0) + HDR, f, sizeof f);
    assert_int_equal(fired(&t, V_RX), 1);
    /* Transmit too; irq_wait runs simulated time to it. */
    tx(&t, 0, 0, 0, 0, f, sizeof f);
    assert_int_equal(used_idx(&t, TXQ), 0);
    assert_int_equal(capdrv_sim_virtio_net_take(t.sim, t.fn, g, sizeof g, &len), -CAPDRV_ENOENT);
    struct capdrv_hw_irq src = {t.fn, V_TX};
    uint64_t ready = 0;
    assert_int_equal(t.hw.ops->irq_wait(t.hw.ctx, &src, 1, -1, &ready), 1);
    assert_int_equal(used_idx(&t, TXQ), 1);
    assert_int_equal(capdrv_sim_virtio_net_take(t.sim, t.fn, g, sizeof g, &len), 0);
    vt_close(&t, 0);
}

static void test_fault_completion_corruption(void **state)
{
    (void)state;
    struct vt t;
    net_open(&t, NULL);
    net_start(&t, PLAIN);
    uint8_t f[60];
    frame(f, sizeof f, 81);
    uint32_t id, len;
    /* REORDER: three waiting frames delivered in one batch, reversed. */
    set_fault(&t, CAPDRV_SIM_VIRTIO_FAULT_REORDER);
    for (unsigned i = 0; i < 3; i++)
        inject(&t, f, sizeof f);
    for (unsigned h = 0; h < 3; h++)
        rx_post(&t, h, SLOT);
    kick(&t, RXQ);
    assert_int_equal(used_idx(&t, RXQ), 3);
    for (unsigned k = 0; k < 3; k++)
        expect_used(&t, RXQ, (uint16_t)k, 2 - k, HDR + sizeof f);
    /* ... and on the transmitq. */
    tx1(&t, 0, f, sizeof f);
    tx1(&t, 1, f, sizeof f);
    kick(&t, TXQ);
    expect_used(&t, TXQ, 0, 1, 0);
    expect_used(&t, TXQ, 1, 0, 0);
    /* USED_ID_RANGE. */
    set_fault(&t, CAPDRV_SIM_VIRTIO_FAULT_USED_ID_RANGE);
    rx_post(&t, 3, SLOT);
    inject(&t, f, sizeof f);
    used_elem(&t, RXQ, 3, &id, &len);
    assert_true(id >= Q);
    /* USED_LEN: more than the chain offered. */
    set_fault(&t, CAPDRV_SIM_VIRTIO_FAULT_USED_LEN);
    rx_post(&t, 4, 200);
    inject(&t, f, sizeof f);
    expect_used(&t, RXQ, 4, 4, 201);
    /* DOUBLE: the same chain twice. */
    set_fault(&t, CAPDRV_SIM_VIRTIO_FAULT_DOUBLE);
    rx_post(&t, 5, SLOT);
    inject(&t, f, sizeof f);
    assert_int_equal(used_idx(&t, RXQ), 7);
    expect_used(&t, RXQ, 5, 5, HDR + sizeof f);
    expect_used(&t, RXQ, 6, 5, HDR + sizeof f);
    /* NONE: well-behaved again. */
    set_fault(&t, CAPDRV_SIM_VIRTIO_FAULT_NONE);
    rx_post(&t, 6, SLOT);
    inject(&t, f, sizeof f);
    assert_int_equal(used_idx(&t, RXQ), 8);
    expect_used(&t, RXQ, 7, 6, HDR + sizeof f);
    assert_int_equal(status(&t) & S_NR, 0);
    vt_close(&t, 0);
}

/* The device broke: NEEDS_RESET, configuration interrupt, ISR bit 1. */
static void expect_needs_reset(struct vt *t)
{
    assert_true(status(t) & S_NR);
    assert_int_equal(fired(t, V_CFG), 1);
    assert_int_equal(isr(t), CAPDRV_VPCI_ISR_CONFIG);
}

static void test_fault_needs_reset(void **state)
{
    (void)state;
    struct vt t;
    net_open(&t, NULL);
    net_start(&t, PLAIN);
    set_fault(&t, CAPDRV_SIM_VIRTIO_FAULT_NEEDS_RESET);
    uint8_t f[60];
    frame(f, sizeof f, 91);
    rx_post(&t, 0, SLOT);
    inject(&t, f, sizeof f);
    assert_int_equal(used_idx(&t, RXQ), 0);
    expect_needs_reset(&t);
    assert_int_equal(rx_buf(&t, 0)[0], 0xee);
    /* The frame is still on the wire: delivered once the device works. */
    set_fault(&t, CAPDRV_SIM_VIRTIO_FAULT_NONE);
    cw(&t, CAPDRV_VPCI_COMMON_STATUS, 1, 0);
    net_start(&t, PLAIN);
    rx_post(&t, 0, SLOT);
    kick(&t, RXQ);
    expect_used(&t, RXQ, 0, 0, HDR + sizeof f);
    assert_memory_equal(rx_buf(&t, 0) + HDR, f, sizeof f);
    assert_int_equal(isr(&t), CAPDRV_VPCI_ISR_QUEUE);
    /* The transmitq trips it too. */
    set_fault(&t, CAPDRV_SIM_VIRTIO_FAULT_NEEDS_RESET);
    tx(&t, 0, 0, 0, 0, f, sizeof f);
    assert_int_equal(used_idx(&t, TXQ), 0);
    expect_needs_reset(&t);
    vt_close(&t, 0);
}

enum malformed {
    M_RX_READABLE,
    M_RX_LOOP,
    M_RX_HEAD_RANGE,
    M_RX_AVAIL_JUMP,
    M_RX_MRG_TINY,
    M_RX_MRG_LOOP_LATER,
    M_TX_LOOP,
    M_TX_READ_AFTER_WRITE,
    M_TX_NEXT_RANGE,
    M_COUNT
};

/* Build case @m and trigger it: a transmitq notify, or for the receive
 * cases a frame from the wire. */
static void run_malformed(struct vt *t, enum malformed m)
{
    const uint16_t N = CAPDRV_VPCI_DESC_F_NEXT, W = CAPDRV_VPCI_DESC_F_WRITE;
    uint64_t d = t->buf_dev + RX_OFF;
    uint8_t f[100];
    frame(f, sizeof f, 99);
    switch (m) {
    case M_RX_READABLE:
        desc(t, RXQ, 1, d, SLOT, 0, 0);
        post(t, RXQ, 1);
        break;
    case M_RX_LOOP:
        desc(t, RXQ, 1, d, 4, W | N, 2);
        desc(t, RXQ, 2, d, 4, W | N, 1);
        post(t, RXQ, 1);
        break;
    case M_RX_HEAD_RANGE:
        post(t, RXQ, Q + 1);
        break;
    case M_RX_AVAIL_JUMP:
        put(ring_cpu(t, RXQ, AVAIL_OFF + 2u), 2, Q + 2);
        break;
    case M_RX_MRG_TINY:
        desc(t, RXQ, 1, d, HDR - 1, W, 0);
        post(t, RXQ, 1);
        break;
    case M_RX_MRG_LOOP_LATER:
        /* A fine first chain, a broken second one the frame needs. */
        desc(t, RXQ, 1, d, HDR + 40, W, 0);
        desc(t, RXQ, 2, d + SLOT, 16, W | N, 2);
        post(t, RXQ, 1);
        post(t, RXQ, 2);
        break;
    case M_TX_LOOP:
        desc(t, TXQ, 1, t->buf_dev + TX_OFF, HDR, N, 2);
        desc(t, TXQ, 2, t->buf_dev + TX_OFF, 60, N, 1);
        post(t, TXQ, 1);
        kick(t, TXQ);
        return;
    case M_TX_READ_AFTER_WRITE:
        desc(t, TXQ, 1, t->buf_dev + TX_OFF, HDR, W | N, 2);
        desc(t, TXQ, 2, t->buf_dev + TX_OFF, 60, 0, 0);
        post(t, TXQ, 1);
        kick(t, TXQ);
        return;
    case M_TX_NEXT_RANGE:
        desc(t, TXQ, 1, t->buf_dev + TX_OFF, HDR, N, Q);
        post(t, TXQ, 1);
        kick(t, TXQ);
        return;
    case M_COUNT:
        return;
    }
    inject(t, f, sizeof f);
}

static void test_malformed_chains(void **state)
{
    (void)state;
    struct vt t;
    net_open(&t, NULL);
    uint8_t f[60];
    frame(f, sizeof f, 98);
    for (int m = 0; m < M_COUNT; m++) {
        bool mrg = m == M_RX_MRG_TINY || m == M_RX_MRG_LOOP_LATER;
        net_start(&t, PLAIN | (mrg ? BIT(CAPDRV_VNET_F_MRG_RXBUF) : 0));
        /* The device works first. */
        rx_post(&t, 0, SLOT);
        inject(&t, f, sizeof f);
        tx(&t, 0, 0, 0, 0, f, sizeof f);
        assert_int_equal(used_idx(&t, RXQ) + used_idx(&t, TXQ), 2);
        assert_int_equal(fired(&t, V_RX) + fired(&t, V_TX), 2);
        assert_int_equal(isr(&t), CAPDRV_VPCI_ISR_QUEUE);
        run_malformed(&t, (enum malformed)m);
        if (!(status(&t) & S_NR))
            fail_msg("malformed case %d accepted", m);
        expect_needs_reset(&t);
        assert_int_equal(used_idx(&t, RXQ) + used_idx(&t, TXQ), 2);
        cw(&t, CAPDRV_VPCI_COMMON_STATUS, 1, 0);
        /* Drop what the broken case left on the wire. */
        net_start(&t, PLAIN | BIT(CAPDRV_VNET_F_MRG_RXBUF));
        for (unsigned h = 0; h < 4; h++)
            rx_post(&t, h, SLOT);
        kick(&t, RXQ);
        cw(&t, CAPDRV_VPCI_COMMON_STATUS, 1, 0);
        size_t len;
        uint8_t g[MAXF];
        while (capdrv_sim_virtio_net_take(t.sim, t.fn, g, sizeof g, &len) == 0)
            ;
    }
    vt_close(&t, 0);
}

static void test_dma_outside_mappings(void **state)
{
    (void)state;
    struct vt t;
    net_open(&t, NULL);
    net_start(&t, PLAIN);
    struct capdrv_hw_dma other;
    assert_int_equal(t.hw.ops->dma_alloc(t.hw.ctx, 4096, &other), 0);
    memset(other.cpu, 0x11, 4096);
    uint8_t f[100];
    frame(f, sizeof f, 7);
    /* A receive buffer never mapped for the function: refused write, frame
     * dropped, the buffer handed back empty. */
    desc(&t, RXQ, 0, other.phys, SLOT, CAPDRV_VPCI_DESC_F_WRITE, 0);
    post(&t, RXQ, 0);
    inject(&t, f, sizeof f);
    assert_int_equal(capdrv_sim_oracle_violations(t.sim), 1);
    struct capdrv_sim_violation v;
    assert_int_equal(capdrv_sim_oracle_last(t.sim, &v), 0);
    assert_int_equal(v.fn, t.fn);
    assert_int_equal(v.devaddr, other.phys);
    assert_true(v.is_write);
    expect_used(&t, RXQ, 0, 0, 0);
    assert_int_equal(((uint8_t *)other.cpu)[0], 0x11);
    assert_int_equal(stats(&t).rx_dropped, 1);
    assert_int_equal(stats(&t).rx_frames, 0);
    /* A transmit frame in it: refused read, tx_errors, nothing sent. */
    uint8_t hdr[HDR];
    hdr_fill(hdr, 0, 0, 0, 0);
    memcpy(t.b + TX_OFF, hdr, HDR);
    desc(&t, TXQ, 0, t.buf_dev + TX_OFF, HDR, CAPDRV_VPCI_DESC_F_NEXT, 1);
    desc(&t, TXQ, 1, other.phys + 64, 60, 0, 0);
    post(&t, TXQ, 0);
    kick(&t, TXQ);
    assert_int_equal(capdrv_sim_oracle_violations(t.sim), 2);
    assert_int_equal(capdrv_sim_oracle_last(t.sim, &v), 0);
    assert_false(v.is_write);
    assert_int_equal(v.devaddr, other.phys + 64);
    expect_used(&t, TXQ, 0, 0, 0);
    assert_int_equal(stats(&t).tx_errors, 1);
    uint8_t g[MAXF];
    size_t len;
    assert_int_equal(capdrv_sim_virtio_net_take(t.sim, t.fn, g, sizeof g, &len), -CAPDRV_ENOENT);
    /* Merged buffers, the second chain unmapped: both chains come back empty. */
    cw(&t, CAPDRV_VPCI_COMMON_STATUS, 1, 0);
    net_start(&t, PLAIN | BIT(CAPDRV_VNET_F_MRG_RXBUF));
    rx_post(&t, 0, HDR + 40);
    desc(&t, RXQ, 1, other.phys + 128, SLOT, CAPDRV_VPCI_DESC_F_WRITE, 0);
    post(&t, RXQ, 1);
    inject(&t, f, sizeof f);
    assert_int_equal(capdrv_sim_oracle_violations(t.sim), 3);
    assert_int_equal(used_idx(&t, RXQ), 2);
    expect_used(&t, RXQ, 0, 0, 0);
    expect_used(&t, RXQ, 1, 1, 0);
    assert_int_equal(stats(&t).rx_dropped, 2);
    assert_int_equal(status(&t) & S_NR, 0);
    /* A receive ring in unmapped memory: the device needs a reset. */
    cw(&t, CAPDRV_VPCI_COMMON_STATUS, 1, 0);
    assert_int_equal(negotiate(&t, PLAIN), S_ACK | S_DRV | S_FOK);
    cw(&t, CAPDRV_VPCI_COMMON_MSIX, 2, V_CFG);
    cw(&t, CAPDRV_VPCI_COMMON_Q_SELECT, 2, RXQ);
    cw(&t, CAPDRV_VPCI_COMMON_Q_SIZE, 2, Q);
    cw(&t, CAPDRV_VPCI_COMMON_Q_DESCLO, 8, other.phys);
    cw(&t, CAPDRV_VPCI_COMMON_Q_AVAILLO, 8, other.phys + 0x400);
    cw(&t, CAPDRV_VPCI_COMMON_Q_USEDLO, 8, other.phys + 0x800);
    cw(&t, CAPDRV_VPCI_COMMON_Q_ENABLE, 2, 1);
    cw(&t, CAPDRV_VPCI_COMMON_STATUS, 1, S_ACK | S_DRV | S_FOK | S_DOK);
    inject(&t, f, sizeof f);
    assert_int_equal(capdrv_sim_oracle_violations(t.sim), 4);
    expect_needs_reset(&t);
    t.hw.ops->dma_free(t.hw.ctx, &other);
    vt_close(&t, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity_and_config),
        cmocka_unit_test(test_add_and_api_errors),
        cmocka_unit_test(test_pair_both_directions),
        cmocka_unit_test(test_inject_and_take),
        cmocka_unit_test(test_checksum_offload),
        cmocka_unit_test(test_tx_refused),
        cmocka_unit_test(test_mrg_rxbuf),
        cmocka_unit_test(test_small_buffer_without_mrg),
        cmocka_unit_test(test_wire_queue_bound),
        cmocka_unit_test(test_peer_mtu),
        cmocka_unit_test(test_link_change),
        cmocka_unit_test(test_rx_notification_suppression),
        cmocka_unit_test(test_fault_delay),
        cmocka_unit_test(test_fault_completion_corruption),
        cmocka_unit_test(test_fault_needs_reset),
        cmocka_unit_test(test_malformed_chains),
        cmocka_unit_test(test_dma_outside_mappings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
