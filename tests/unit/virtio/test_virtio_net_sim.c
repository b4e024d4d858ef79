/* The virtio-net driver end to end: the library's transport and driver over
 * the in-process shim (with its virtio profile) and the sim's virtio-net
 * pair, in both DMA lanes and both directions, with and without mergeable
 * receive buffers, polling and with interrupts; checksum offload passed
 * through or completed by the device; the harness end of an unconnected
 * wire (inject/take); link changes; more frames than the receive ring holds
 * (refill across ring wraps); the same over virtio-mmio version 2 (one
 * interrupt line per device); cancel with transmissions the device holds
 * and after a hostile used entry broke a queue. Every case ends with the DMA oracle clean,
 * the sim's counters showing no drop or refused request, and every
 * allocation of the hosted environment returned. VIRTIO 1.2 §5.1. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_slurp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <capdrv/shim.h>
#include <capdrv/sim.h>
#include <capdrv/virtio_net.h>

#if !defined(VNET_MANIFEST) || !defined(VNET_MMIO_MANIFEST)
#error "VNET_MANIFEST and VNET_MMIO_MANIFEST must name the compiled test manifests"
#endif
#define MMIO_BASE 0x0a000000u

#define F(b) (1ull << (b))
#define SLOT 2048u
#define SLOTS 32u
#define ETHERTYPE 0x88b5u /* IEEE local experimental */

struct pair {
    struct capdrv_env *env;
    struct capdrv_sim *sim;
    struct capdrv_shim *shim;
    capdrv_sys *sys;
    unsigned fn[2];
    capdrv_cap_t grant[2], pool[2], data[2];
    struct capdrv_dmabuf_info di[2];
    struct capdrv_virtio_net *net[2];
    struct capdrv_virtio_net_info info[2];
    int irq;
    int broken[2]; /* a case broke this function's queues on purpose */
    char why[256];
};

struct setup {
    int iommu, connect, irq, mmio;
    unsigned queue_size;
    uint64_t features[2]; /* 0: defaults */
    uint32_t rx_buf_len;
};

static void up(struct pair *p, const struct setup *s)
{
    memset(p, 0, sizeof *p);
    struct capdrv_sim_config sc = {.iommu = s->iommu};
    assert_int_equal(capdrv_sim_create(&sc, &p->sim), 0);
    for (unsigned i = 0; i < 2; i++) {
        struct capdrv_pci_addr a = {0, 0, (uint8_t)(4 + i), 0};
        if (s->mmio)
            assert_int_equal(capdrv_sim_add_virtio_mmio_net(
                                 p->sim, MMIO_BASE + i * CAPDRV_SIM_VIRTIO_MMIO_SIZE, NULL, &p->fn[i]),
                             0);
        else
            assert_int_equal(capdrv_sim_add_virtio_net(p->sim, &a, NULL, &p->fn[i]), 0);
    }
    if (s->connect)
        assert_int_equal(capdrv_sim_virtio_net_connect(p->sim, p->fn[0], p->fn[1]), 0);
    p->env = capdrv_env_hosted_new(NULL);
    assert_non_null(p->env);
    size_t len;
    void *blob = test_slurp(s->mmio ? VNET_MMIO_MANIFEST : VNET_MANIFEST, &len);
    struct capdrv_shim_config c = {.env = p->env, .hw = capdrv_sim_hw(p->sim), .manifest = blob,
                                   .manifest_len = len};
    int rc = capdrv_shim_create(&c, &p->shim, p->why, sizeof p->why);
    free(blob);
    if (rc < 0)
        fail_msg("shim: %s (%s)", p->why, capdrv_strerror(rc));
    assert_int_equal(capdrv_shim_connect(p->shim, "net", &p->sys), 0);
    p->irq = s->irq;
    for (unsigned i = 0; i < 2; i++) {
        char name[8];
        snprintf(name, sizeof name, "vnet%u", i);
        int idx = capdrv_grant_find(p->sys, name);
        assert_true(idx >= 0);
        assert_int_equal(capdrv_grant_open(p->sys, (unsigned)idx, &p->grant[i]), 0);
        assert_int_equal(capdrv_pool_open(p->sys, p->grant[i], &p->pool[i]), 0);
        struct capdrv_virtio_net_opts o = {.pool = p->pool[i], .queue_size = s->queue_size,
                                           .irq = s->irq, .features = s->features[i],
                                           .rx_buf_len = s->rx_buf_len};
        rc = capdrv_virtio_net_open(p->sys, p->grant[i], &o, &p->net[i], p->why, sizeof p->why);
        if (rc < 0)
            fail_msg("open %s: %s (%s)", name, p->why, capdrv_strerror(rc));
        assert_int_equal(capdrv_virtio_net_info(p->net[i], &p->info[i]), 0);
        assert_int_equal(capdrv_dma_alloc(p->sys, p->pool[i], SLOT * SLOTS, &p->data[i], &p->di[i]), 0);
    }
}

static void down(struct pair *p)
{
    for (unsigned i = 0; i < 2; i++) {
        struct capdrv_sim_virtio_net_stats st;
        assert_int_equal(capdrv_sim_virtio_net_stats(p->sim, p->fn[i], &st), 0);
        assert_int_equal(st.rx_dropped, 0);
        assert_int_equal(st.tx_errors, 0);
        struct capdrv_virtio_net_stats ns;
        assert_int_equal(capdrv_virtio_net_stats(p->net[i], &ns), 0);
        if (!p->broken[i]) {
            assert_int_equal(ns.rx_fault, 0);
            assert_int_equal(ns.tx_fault, 0);
        }
        assert_int_equal(ns.rx_posted + ns.rx_held + ns.rx_lent + ns.rx_idle, p->info[i].rx_bufs);
        capdrv_virtio_net_close(p->net[i]);
        assert_int_equal(capdrv_cap_release(p->sys, p->grant[i]), 0);
    }
    capdrv_sys_close(p->sys);
    assert_int_equal(capdrv_sim_oracle_violations(p->sim), 0);
    capdrv_shim_destroy(p->shim);
    assert_int_equal(capdrv_env_hosted_live_allocs(p->env), 0);
    capdrv_env_hosted_free(p->env);
    struct capdrv_sim_dma_stats st;
    assert_int_equal(capdrv_sim_dma_stats(p->sim, &st), 0);
    assert_int_equal(st.regions, 0);
    capdrv_sim_destroy(p->sim);
}

/* Frame @seq of direction @dir: Ethernet header, le32 sequence number,
 * then a pattern of both. */
static uint8_t fbyte(uint32_t seq, unsigned dir, uint32_t i)
{
    return (uint8_t)(seq * 31u + i * 7u + dir * 101u + (i >> 8));
}

static void build(uint8_t *f, uint32_t len, const uint8_t *dst, const uint8_t *src, uint32_t seq,
                  unsigned dir)
{
    memcpy(f, dst, 6);
    memcpy(f + 6, src, 6);
    f[12] = ETHERTYPE >> 8;
    f[13] = ETHERTYPE & 0xff;
    for (unsigned i = 0; i < 4; i++)
        f[14 + i] = (uint8_t)(seq >> (8 * i));
    for (uint32_t i = 18; i < len; i++)
        f[i] = fbyte(seq, dir, i);
}

static uint32_t len_of(uint32_t seq)
{
    return 60u + (seq * 211u) % 1455u; /* 60 .. 1514 */
}

/* RFC 1071 sum of @p[0 .. len), words big-endian, not complemented. */
static uint16_t ones_sum(const uint8_t *p, size_t len)
{
    uint32_t s = 0;
    for (size_t i = 0; i + 1 < len; i += 2)
        s += (uint32_t)p[i] << 8 | p[i + 1];
    if (len & 1)
        s += (uint32_t)p[len - 1] << 8;
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)s;
}

/* Receive @n frames on @to and check each against @expect(k) (@len(k)
 * bytes), in order; each frame is released as soon as it is checked, so
 * frames that wait on the wire for buffers come in. Waits on the interrupt
 * or lets simulated time pass (polling), bounded. */
typedef const uint8_t *(*expect_fn)(void *ctx, unsigned k, uint32_t *len);

static void recv_check(struct pair *p, unsigned to, unsigned n, expect_fn expect, void *ctx)
{
    struct capdrv_virtio_net_rx rx[8];
    uint8_t flat[1514];
    unsigned got = 0;
    for (unsigned spin = 0; got < n; spin++) {
        if (spin == 9999) {
            struct capdrv_virtio_net_stats ns;
            struct capdrv_sim_virtio_net_stats ss;
            capdrv_virtio_net_stats(p->net[to], &ns);
            capdrv_sim_virtio_net_stats(p->sim, p->fn[to], &ss);
            fprintf(stderr, "got %u/%u posted %u held %u lent %u idle %u fault %d; sim rx %llu drop %llu\n",
                    got, n, ns.rx_posted, ns.rx_held, ns.rx_lent, ns.rx_idle, ns.rx_fault,
                    (unsigned long long)ss.rx_frames, (unsigned long long)ss.rx_dropped);
        }
        assert_true(spin < 10000);
        unsigned want = n - got < 8 ? n - got : 8;
        int rc = capdrv_virtio_net_recv(p->net[to], rx, want);
        assert_true(rc >= 0);
        uint32_t h[8];
        for (int i = 0; i < rc; i++) {
            uint32_t len;
            const uint8_t *want_bytes = expect(ctx, got + (unsigned)i, &len);
            assert_int_equal(rx[i].len, len);
            assert_int_equal(rx[i].flags, 0);
            assert_int_equal(capdrv_virtio_net_rx_copy(&rx[i], flat, sizeof flat), len);
            assert_memory_equal(flat, want_bytes, len);
            h[i] = rx[i].handle;
        }
        if (rc > 0)
            assert_int_equal(capdrv_virtio_net_rx_release(p->net[to], h, (unsigned)rc), 0);
        got += (unsigned)rc;
        if (rc == 0 && got < n) {
            if (p->irq) {
                rc = capdrv_virtio_net_wait(p->net[to], CAPDRV_VIRTIO_NET_EV_RX, 1000000000);
                assert_true(rc > 0);
            } else {
                capdrv_sim_advance(p->sim, 1000);
            }
        }
    }
}

/* One frame, polling or waiting, not released (the caller checks flags). */
static void recv_one(struct pair *p, unsigned to, struct capdrv_virtio_net_rx *rx)
{
    for (unsigned spin = 0;; spin++) {
        assert_true(spin < 10000);
        int rc = capdrv_virtio_net_recv(p->net[to], rx, 1);
        assert_true(rc >= 0);
        if (rc == 1)
            return;
        if (p->irq)
            assert_true(capdrv_virtio_net_wait(p->net[to], CAPDRV_VIRTIO_NET_EV_RX, 1000000000) > 0);
        else
            capdrv_sim_advance(p->sim, 1000);
    }
}

static void reap_n(struct pair *p, unsigned from, void **cookies, unsigned n)
{
    struct capdrv_virtio_net_tx_done d[SLOTS];
    unsigned got = 0;
    for (unsigned spin = 0; got < n; spin++) {
        assert_true(spin < 10000);
        int rc = capdrv_virtio_net_tx_reap(p->net[from], d, n - got);
        assert_true(rc >= 0);
        for (int i = 0; i < rc; i++) {
            assert_int_equal(d[i].status, 0);
            assert_ptr_equal(d[i].cookie, cookies[got + (unsigned)i]); /* in order here */
        }
        got += (unsigned)rc;
        if (rc == 0 && got < n) {
            if (p->irq)
                assert_true(capdrv_virtio_net_wait(p->net[from], CAPDRV_VIRTIO_NET_EV_TX, 1000000000) > 0);
            else
                capdrv_sim_advance(p->sim, 1000);
        }
    }
}

struct sent {
    const uint8_t *mem;
    uint32_t seq0;
};

static const uint8_t *sent_frame(void *ctx, unsigned k, uint32_t *len)
{
    struct sent *x = ctx;
    *len = len_of(x->seq0 + k);
    return x->mem + k * SLOT;
}

/* Send @total frames from @from to the other function in batches of
 * @batch (one doorbell each), receive and verify each byte for byte and in
 * order, then reap the transmissions. */
static void flow(struct pair *p, unsigned from, unsigned total, unsigned batch)
{
    unsigned to = 1u - from;
    uint8_t *mem = p->di[from].cpu;
    struct capdrv_virtq_seg seg[SLOTS][2];
    struct capdrv_virtio_net_tx tx[SLOTS];
    void *cookies[SLOTS];
    assert_true(batch <= SLOTS);
    for (uint32_t seq = 0; seq < total; seq += batch) {
        unsigned n = total - seq < batch ? total - seq : batch;
        for (unsigned k = 0; k < n; k++) {
            uint32_t len = len_of(seq + k);
            build(mem + k * SLOT, len, p->info[to].mac, p->info[from].mac, seq + k, from);
            /* Two segments: the Ethernet header, then the rest. */
            seg[k][0] = (struct capdrv_virtq_seg){capdrv_dma_ref(&p->di[from], k * SLOT), 14};
            seg[k][1] = (struct capdrv_virtq_seg){capdrv_dma_ref(&p->di[from], k * SLOT + 14),
                                                  len - 14};
            tx[k] = (struct capdrv_virtio_net_tx){.segs = seg[k], .n_segs = 2, .cookie = &tx[k]};
            cookies[k] = &tx[k];
        }
        /* Without indirect tables (brokered lane) a frame takes three
         * descriptors, so a batch may go in parts. */
        for (unsigned done = 0; done < n;) {
            int m = capdrv_virtio_net_send(p->net[from], tx + done, n - done);
            assert_true(m > 0);
            struct sent x = {mem + done * SLOT, seq + done};
            recv_check(p, to, (unsigned)m, sent_frame, &x);
            reap_n(p, from, cookies + done, (unsigned)m);
            done += (unsigned)m;
        }
    }
}

static void pair_case_on(int iommu, int mrg, int irq, int mmio)
{
    struct pair p;
    uint64_t f = mrg ? 0 : CAPDRV_VIRTIO_NET_DEFAULT_FEATURES & ~F(CAPDRV_VIRTIO_NET_F_MRG_RXBUF);
    struct setup s = {.iommu = iommu, .connect = 1, .irq = irq, .queue_size = 64,
                      .features = {f, f}, .rx_buf_len = mrg ? 512 : 0, .mmio = mmio};
    up(&p, &s);
    for (unsigned i = 0; i < 2; i++) {
        assert_int_equal(p.info[i].lane, iommu ? CAPDRV_LANE_DIRECT : CAPDRV_LANE_BROKERED);
        /* The shim hides EVENT_IDX and INDIRECT in the brokered lane. */
        assert_int_equal(!!(p.info[i].features & F(CAPDRV_VIRTIO_F_EVENT_IDX)), iommu);
        assert_int_equal(!!(p.info[i].features & F(CAPDRV_VIRTIO_F_INDIRECT_DESC)), iommu);
        assert_int_equal(!!(p.info[i].features & F(CAPDRV_VIRTIO_NET_F_MRG_RXBUF)), mrg);
        assert_true(p.info[i].has_mac);
        assert_int_equal(p.info[i].link_up, 1);
        assert_int_equal(p.info[i].mtu, 1500);
        assert_int_equal(p.info[i].max_rx_bufs_per_frame, mrg ? 3 : 1); /* 1526 / 512 */
    }
    assert_memory_not_equal(p.info[0].mac, p.info[1].mac, 6);
    /* 200 frames each way: the 64-entry receive ring wraps three times. */
    flow(&p, 0, 200, 16);
    flow(&p, 1, 200, 32);
    flow(&p, 0, 7, 1);
    struct capdrv_virtio_net_stats st;
    assert_int_equal(capdrv_virtio_net_stats(p.net[1], &st), 0);
    assert_int_equal(st.rx_frames, 207);
    assert_int_equal(st.tx_frames, 200);
    assert_int_equal(st.rx_posted, 64);
    struct capdrv_sim_virtio_net_stats ss;
    assert_int_equal(capdrv_sim_virtio_net_stats(p.sim, p.fn[1], &ss), 0);
    assert_int_equal(ss.rx_frames, 207);
    down(&p);
}

static void pair_case(int iommu, int mrg, int irq)
{
    pair_case_on(iommu, mrg, irq, 0);
}

static void t_brokered_mrg_poll(void **s) { (void)s; pair_case(0, 1, 0); }
static void t_direct_mrg_poll(void **s) { (void)s; pair_case(1, 1, 0); }
static void t_brokered_nomrg_irq(void **s) { (void)s; pair_case(0, 0, 1); }
static void t_direct_nomrg_irq(void **s) { (void)s; pair_case(1, 0, 1); }
static void t_brokered_mrg_irq(void **s) { (void)s; pair_case(0, 1, 1); }
static void t_direct_nomrg_poll(void **s) { (void)s; pair_case(1, 0, 0); }

/* Checksum offload: to a peer with GUEST_CSUM the request passes through
 * (NEEDS_CSUM and the fields, bytes untouched, §5.1.6.4); to a peer
 * without it the device completes the sum (RFC 1071) and flags are 0. */
static void csum_case(int iommu)
{
    struct pair p;
    struct setup s = {.iommu = iommu, .connect = 1, .queue_size = 64,
                      .features = {0, CAPDRV_VIRTIO_NET_DEFAULT_FEATURES &
                                          ~F(CAPDRV_VIRTIO_NET_F_GUEST_CSUM)}};
    up(&p, &s);
    assert_true(p.info[0].features & F(CAPDRV_VIRTIO_NET_F_CSUM));
    assert_true(p.info[0].features & F(CAPDRV_VIRTIO_NET_F_GUEST_CSUM));
    for (unsigned from = 0; from < 2; from++) {
        unsigned to = 1u - from;
        uint8_t *f = p.di[from].cpu;
        const uint32_t len = 301, start = 34, off = 16;
        build(f, len, p.info[to].mac, p.info[from].mac, 9, from);
        f[start + off] = f[start + off + 1] = 0; /* the driver's seed (pseudo-header sum) */
        struct capdrv_virtq_seg seg = {capdrv_dma_ref(&p.di[from], 0), len};
        struct capdrv_virtio_net_tx tx = {.segs = &seg, .n_segs = 1,
                                          .flags = CAPDRV_VIRTIO_NET_TX_F_CSUM,
                                          .csum_start = start, .csum_offset = off, .cookie = &tx};
        assert_int_equal(capdrv_virtio_net_send(p.net[from], &tx, 1), 1);
        struct capdrv_virtio_net_rx rx;
        recv_one(&p, to, &rx);
        uint8_t flat[1514];
        assert_int_equal(capdrv_virtio_net_rx_copy(&rx, flat, sizeof flat), len);
        if (to == 0) {
            /* Receiver negotiated GUEST_CSUM: passed through. */
            assert_int_equal(rx.flags, CAPDRV_VIRTIO_NET_HDR_F_NEEDS_CSUM);
            assert_int_equal(rx.csum_start, start);
            assert_int_equal(rx.csum_offset, off);
            assert_memory_equal(flat, f, len);
        } else {
            /* Completed by the device: the sum over the range is now 0xffff. */
            assert_int_equal(rx.flags, 0);
            assert_int_equal(ones_sum(flat + start, len - start), 0xffff);
            assert_false(flat[start + off] == 0 && flat[start + off + 1] == 0);
            assert_memory_equal(flat, f, start + off);
            assert_memory_equal(flat + start + off + 2, f + start + off + 2, len - start - off - 2);
        }
        assert_int_equal(capdrv_virtio_net_rx_release(p.net[to], &rx.handle, 1), 0);
        void *ck = &tx;
        reap_n(&p, from, &ck, 1);
    }
    /* Without CSUM negotiated, the request is refused before the ring. */
    down(&p);
    s.features[0] = CAPDRV_VIRTIO_NET_DEFAULT_FEATURES & ~F(CAPDRV_VIRTIO_NET_F_CSUM);
    up(&p, &s);
    struct capdrv_virtq_seg seg = {capdrv_dma_ref(&p.di[0], 0), 100};
    struct capdrv_virtio_net_tx tx = {.segs = &seg, .n_segs = 1,
                                      .flags = CAPDRV_VIRTIO_NET_TX_F_CSUM, .csum_start = 14};
    assert_int_equal(capdrv_virtio_net_send(p.net[0], &tx, 1), -CAPDRV_ENOTSUP);
    down(&p);
}

static void t_csum_brokered(void **s) { (void)s; csum_case(0); }
static void t_csum_direct(void **s) { (void)s; csum_case(1); }

/* The harness end of an unconnected wire: frames injected are received
 * (more than the ring holds), frames sent are taken. */
static void harness_case_on(int iommu, int mrg, int mmio)
{
    struct pair p;
    uint64_t f = mrg ? 0 : CAPDRV_VIRTIO_NET_DEFAULT_FEATURES & ~F(CAPDRV_VIRTIO_NET_F_MRG_RXBUF);
    struct setup s = {.iommu = iommu, .queue_size = 32, .features = {f, f}, .rx_buf_len = 256,
                      .mmio = mmio};
    up(&p, &s);
    uint8_t flat[1514];
    static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    uint8_t *inj = malloc(16 * SLOT);
    assert_non_null(inj);
    for (uint32_t seq = 0; seq < 160; seq += 16) {
        for (unsigned k = 0; k < 16; k++) {
            build(inj + k * SLOT, len_of(seq + k), p.info[0].mac, bcast, seq + k, 2);
            assert_int_equal(
                capdrv_sim_virtio_net_inject(p.sim, p.fn[0], inj + k * SLOT, len_of(seq + k)), 0);
        }
        struct sent x = {inj, seq};
        recv_check(&p, 0, 16, sent_frame, &x);
    }
    free(inj);
    /* Transmit: the harness takes exactly the bytes sent, no header. */
    uint8_t *mem = p.di[0].cpu;
    struct capdrv_virtq_seg seg[8];
    struct capdrv_virtio_net_tx tx[8];
    void *ck[8];
    for (unsigned k = 0; k < 8; k++) {
        build(mem + k * SLOT, len_of(k), bcast, p.info[0].mac, k, 3);
        seg[k] = (struct capdrv_virtq_seg){capdrv_dma_ref(&p.di[0], k * SLOT), len_of(k)};
        tx[k] = (struct capdrv_virtio_net_tx){.segs = &seg[k], .n_segs = 1, .cookie = &tx[k]};
        ck[k] = &tx[k];
    }
    assert_int_equal(capdrv_virtio_net_send(p.net[0], tx, 8), 8);
    reap_n(&p, 0, ck, 8);
    for (unsigned k = 0; k < 8; k++) {
        size_t len = 0;
        assert_int_equal(capdrv_sim_virtio_net_take(p.sim, p.fn[0], flat, sizeof flat, &len), 0);
        assert_int_equal(len, len_of(k));
        assert_memory_equal(flat, mem + k * SLOT, len);
    }
    size_t len;
    assert_int_equal(capdrv_sim_virtio_net_take(p.sim, p.fn[0], flat, sizeof flat, &len),
                     -CAPDRV_ENOENT);
    down(&p);
}

static void harness_case(int iommu, int mrg)
{
    harness_case_on(iommu, mrg, 0);
}

static void t_harness_brokered_mrg(void **s) { (void)s; harness_case(0, 1); }
static void t_harness_direct_nomrg(void **s) { (void)s; harness_case(1, 0); }

/* Link changes reach the driver through the configuration vector
 * (§5.1.4, §4.1.4.5) and through a direct read. */
static void link_case_on(int iommu, int mmio)
{
    struct pair p;
    struct setup s = {.iommu = iommu, .irq = 1, .queue_size = 32, .mmio = mmio};
    up(&p, &s);
    assert_int_equal(p.info[0].link_up, 1);
    assert_int_equal(capdrv_virtio_net_wait(p.net[0], CAPDRV_VIRTIO_NET_EV_RX, 0), -CAPDRV_ETIMEDOUT);
    assert_int_equal(capdrv_sim_virtio_net_set_link(p.sim, p.fn[0], false), 0);
    assert_int_equal(capdrv_virtio_net_wait(p.net[0], CAPDRV_VIRTIO_NET_EV_RX, 1000000000),
                     CAPDRV_VIRTIO_NET_EV_CONFIG);
    struct capdrv_virtio_net_info in;
    assert_int_equal(capdrv_virtio_net_info(p.net[0], &in), 0);
    assert_int_equal(in.link_up, 0);
    int upv = -1;
    assert_int_equal(capdrv_virtio_net_link(p.net[0], &upv), 0);
    assert_int_equal(upv, 0);
    /* The other function saw nothing. */
    assert_int_equal(capdrv_virtio_net_link(p.net[1], &upv), 0);
    assert_int_equal(upv, 1);
    assert_int_equal(capdrv_virtio_net_wait(p.net[1], CAPDRV_VIRTIO_NET_EV_RX, 0), -CAPDRV_ETIMEDOUT);
    assert_int_equal(capdrv_sim_virtio_net_set_link(p.sim, p.fn[0], true), 0);
    assert_int_equal(capdrv_virtio_net_wait(p.net[0], CAPDRV_VIRTIO_NET_EV_TX, 1000000000),
                     CAPDRV_VIRTIO_NET_EV_CONFIG);
    assert_int_equal(capdrv_virtio_net_info(p.net[0], &in), 0);
    assert_int_equal(in.link_up, 1);
    down(&p);
}

static void link_case(int iommu)
{
    link_case_on(iommu, 0);
}

static void t_link_brokered(void **s) { (void)s; link_case(0); }
static void t_link_direct(void **s) { (void)s; link_case(1); }

/* Drain capdrv_virtio_net_cancel() of function @i in small batches:
 * every cookie of @tx[0 .. n) once, status -CAPDRV_ECANCELED, then 0. */
static void cancel_all(struct pair *p, unsigned i, struct capdrv_virtio_net_tx *tx, unsigned n)
{
    unsigned seen[SLOTS] = {0}, total = 0;
    struct capdrv_virtio_net_tx_done d[3];
    int got;
    assert_true(n <= SLOTS);
    while ((got = capdrv_virtio_net_cancel(p->net[i], d, 3)) > 0) {
        for (int k = 0; k < got; k++) {
            assert_int_equal(d[k].status, -CAPDRV_ECANCELED);
            struct capdrv_virtio_net_tx *c = d[k].cookie;
            assert_true(c >= tx && c < tx + n);
            seen[c - tx]++;
        }
        total += (unsigned)got;
    }
    assert_int_equal(got, 0);
    assert_int_equal(total, n);
    for (unsigned k = 0; k < n; k++)
        assert_int_equal(seen[k], 1);
    assert_int_equal(capdrv_virtio_net_cancel(p->net[i], d, 3), 0);
    struct capdrv_virtio_net_stats st;
    assert_int_equal(capdrv_virtio_net_stats(p->net[i], &st), 0);
    assert_int_equal(st.tx_inflight, 0);
    assert_int_equal(st.rx_posted, 0);
    assert_int_equal(st.rx_held, 0);
    assert_int_equal(st.rx_idle + st.rx_lent, p->info[i].rx_bufs);
    assert_int_equal(capdrv_virtio_net_send(p->net[i], tx, 1), -CAPDRV_ECANCELED);
    assert_int_equal(capdrv_virtio_net_tx_reap(p->net[i], d, 1), -CAPDRV_ECANCELED);
}

/* @n frames of function @from's data buffer, one segment each. */
static void make_tx(struct pair *p, unsigned from, struct capdrv_virtio_net_tx *tx,
                    struct capdrv_virtq_seg *seg, unsigned n)
{
    unsigned to = 1u - from;
    for (unsigned k = 0; k < n; k++) {
        build((uint8_t *)p->di[from].cpu + k * SLOT, len_of(k), p->info[to].mac,
              p->info[from].mac, k, from);
        seg[k] = (struct capdrv_virtq_seg){capdrv_dma_ref(&p->di[from], k * SLOT), len_of(k)};
        tx[k] = (struct capdrv_virtio_net_tx){.segs = &seg[k], .n_segs = 1, .cookie = &tx[k]};
    }
}

/* Transmissions the device holds (its work deferred) come back from
 * cancel; the reset (§2.4) means the deferred work never touches them: no
 * frame reaches the wire, the oracle stays clean, and the shim no longer
 * counts the caller's buffer in flight, so releasing it needs no function
 * reset. */
static void cancel_case_on(int iommu, int mmio)
{
    struct pair p;
    struct setup s = {.iommu = iommu, .connect = 1, .queue_size = 64, .mmio = mmio};
    up(&p, &s);
    assert_int_equal(capdrv_sim_virtio_set_fault(p.sim, p.fn[0], CAPDRV_SIM_VIRTIO_FAULT_DELAY), 0);
    struct capdrv_virtq_seg seg[8];
    struct capdrv_virtio_net_tx tx[8];
    make_tx(&p, 0, tx, seg, 8);
    assert_int_equal(capdrv_virtio_net_send(p.net[0], tx, 8), 8);
    struct capdrv_virtio_net_tx_done d;
    assert_int_equal(capdrv_virtio_net_tx_reap(p.net[0], &d, 1), 0);
    unsigned resets = capdrv_sim_reset_count(p.sim, p.fn[0]);
    cancel_all(&p, 0, tx, 8);
    capdrv_sim_advance(p.sim, 10000000); /* the deferred work is due */
    struct capdrv_sim_virtio_net_stats ss;
    assert_int_equal(capdrv_sim_virtio_net_stats(p.sim, p.fn[0], &ss), 0);
    assert_int_equal(ss.tx_frames, 0);
    struct capdrv_virtio_net_rx rx;
    assert_int_equal(capdrv_virtio_net_recv(p.net[1], &rx, 1), 0);
    assert_int_equal(capdrv_cap_release(p.sys, p.data[0]), 0);
    p.data[0] = CAPDRV_CAP_INVALID;
    assert_int_equal(capdrv_sim_reset_count(p.sim, p.fn[0]), resets);
    assert_int_equal(capdrv_sim_oracle_violations(p.sim), 0);
    /* The other function is untouched: it still transmits (the frame
     * waits on the wire of the reset one). */
    make_tx(&p, 1, tx, seg, 1);
    assert_int_equal(capdrv_virtio_net_send(p.net[1], tx, 1), 1);
    void *ck = &tx[0];
    reap_n(&p, 1, &ck, 1);
    assert_int_equal(capdrv_sim_virtio_set_fault(p.sim, p.fn[0], CAPDRV_SIM_VIRTIO_FAULT_NONE), 0);
    down(&p);
}

/* A hostile used entry breaks the transmit queue (id out of range) or the
 * receive queue (len above what was posted); cancel still returns each
 * transmission once and takes every receive buffer back. */
static void cancel_broken_case(int iommu)
{
    struct pair p;
    struct setup s = {.iommu = iommu, .connect = 1, .queue_size = 64};
    up(&p, &s);
    assert_int_equal(
        capdrv_sim_virtio_set_fault(p.sim, p.fn[0], CAPDRV_SIM_VIRTIO_FAULT_USED_ID_RANGE), 0);
    struct capdrv_virtq_seg seg[4];
    struct capdrv_virtio_net_tx tx[4];
    make_tx(&p, 0, tx, seg, 4);
    assert_int_equal(capdrv_virtio_net_send(p.net[0], tx, 4), 4);
    struct capdrv_virtio_net_tx_done d;
    assert_int_equal(capdrv_virtio_net_tx_reap(p.net[0], &d, 1), -CAPDRV_EPROTO);
    struct capdrv_virtio_net_stats st;
    assert_int_equal(capdrv_virtio_net_stats(p.net[0], &st), 0);
    assert_int_equal(st.tx_fault, CAPDRV_VIRTQ_FAULT_USED_ID_RANGE);
    p.broken[0] = 1;
    cancel_all(&p, 0, tx, 4);
    assert_int_equal(capdrv_sim_virtio_set_fault(p.sim, p.fn[0], CAPDRV_SIM_VIRTIO_FAULT_NONE), 0);
    down(&p);

    up(&p, &s);
    assert_int_equal(capdrv_sim_virtio_set_fault(p.sim, p.fn[1], CAPDRV_SIM_VIRTIO_FAULT_USED_LEN),
                     0);
    make_tx(&p, 0, tx, seg, 2);
    assert_int_equal(capdrv_virtio_net_send(p.net[0], tx, 2), 2);
    void *ck[2] = {&tx[0], &tx[1]};
    reap_n(&p, 0, ck, 2);
    struct capdrv_virtio_net_rx rx;
    assert_int_equal(capdrv_virtio_net_recv(p.net[1], &rx, 1), -CAPDRV_EPROTO);
    assert_int_equal(capdrv_virtio_net_stats(p.net[1], &st), 0);
    assert_int_equal(st.rx_fault, CAPDRV_VIRTQ_FAULT_USED_LEN);
    assert_true(st.rx_posted > 0);
    p.broken[1] = 1;
    cancel_all(&p, 1, tx, 0);
    assert_int_equal(capdrv_virtio_net_stats(p.net[1], &st), 0);
    assert_int_equal(st.rx_idle, p.info[1].rx_bufs);
    assert_int_equal(capdrv_sim_virtio_set_fault(p.sim, p.fn[1], CAPDRV_SIM_VIRTIO_FAULT_NONE), 0);
    down(&p);
}

static void t_cancel_brokered(void **s) { (void)s; cancel_case_on(0, 0); }
static void t_cancel_direct(void **s) { (void)s; cancel_case_on(1, 0); }
static void t_cancel_mmio_direct(void **s) { (void)s; cancel_case_on(1, 1); }
static void t_cancel_broken_brokered(void **s) { (void)s; cancel_broken_case(0); }
static void t_cancel_broken_direct(void **s) { (void)s; cancel_broken_case(1); }

/* virtio-mmio version 2 (§4.2): the same driver, the same device behind
 * the MMIO register block, one interrupt line (InterruptStatus read and
 * acknowledged by capdrv_virtio_net_wait()). */
static void t_mmio_brokered_mrg_irq(void **s) { (void)s; pair_case_on(0, 1, 1, 1); }
static void t_mmio_direct_nomrg_poll(void **s) { (void)s; pair_case_on(1, 0, 0, 1); }
static void t_mmio_direct_mrg_irq(void **s) { (void)s; pair_case_on(1, 1, 1, 1); }
static void t_mmio_harness_brokered(void **s) { (void)s; harness_case_on(0, 1, 1); }
static void t_mmio_link_brokered(void **s) { (void)s; link_case_on(0, 1); }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_brokered_mrg_poll),    cmocka_unit_test(t_direct_mrg_poll),
        cmocka_unit_test(t_brokered_nomrg_irq),   cmocka_unit_test(t_direct_nomrg_irq),
        cmocka_unit_test(t_brokered_mrg_irq),     cmocka_unit_test(t_direct_nomrg_poll),
        cmocka_unit_test(t_csum_brokered),        cmocka_unit_test(t_csum_direct),
        cmocka_unit_test(t_harness_brokered_mrg), cmocka_unit_test(t_harness_direct_nomrg),
        cmocka_unit_test(t_link_brokered),        cmocka_unit_test(t_link_direct),
        cmocka_unit_test(t_mmio_brokered_mrg_irq), cmocka_unit_test(t_mmio_direct_nomrg_poll),
        cmocka_unit_test(t_mmio_direct_mrg_irq),   cmocka_unit_test(t_mmio_harness_brokered),
        cmocka_unit_test(t_mmio_link_brokered),
        cmocka_unit_test(t_cancel_brokered),       cmocka_unit_test(t_cancel_direct),
        cmocka_unit_test(t_cancel_mmio_direct),    cmocka_unit_test(t_cancel_broken_brokered),
        cmocka_unit_test(t_cancel_broken_direct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
