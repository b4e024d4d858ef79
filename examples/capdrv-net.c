/* capdrv-net: a virtio-net provider. It hosts the shim in-process over the
 * sim platform with two virtio-net functions connected by a wire, both
 * granted to this provider (two grants), then - using capdrv/sys.h and the
 * library's virtio-net driver only - sends numbered, patterned frames from
 * A to B and from B to A, checks every received frame byte for byte and in
 * order, and reports throughput.
 *
 *   capdrv-net [--lane brokered|direct] [--frames N] [--size S]
 *              [--mrg on|off] [--rxbuf BYTES] [--csum] [--irq|--poll]
 *              [--manifest FILE.dtb] [--platform sim|vfio:SLOT_A,SLOT_B] [--mmio]
 *
 * --mmio builds the sim's two virtio-net devices behind virtio-mmio
 * (VIRTIO 1.2 §4.2) instead of PCI, with the manifest net-demo-mmio.dtb:
 * the provider is unchanged, the library picks the transport from the
 * grant (one interrupt line per device instead of three vectors).
 *
 * --platform vfio:A,B drives two real virtio-net functions bound to
 * vfio-pci whose wires are joined (e.g. in the guest of
 * conformance/vfio-guest: vfio:0000:04:00.0,0000:05:00.0 with
 * --manifest net-demo-qemu.dtb; docs/VFIO.md); --lane is the sim's.
 *
 * --size is the frame length, 60..1514 (Ethernet header included).
 * --mrg off refuses VIRTIO_NET_F_MRG_RXBUF (one buffer per frame); with it
 * on, --rxbuf sets the receive buffer size (a frame may span several).
 * --csum asks the device to complete a checksum in every frame
 * (VIRTIO_NET_F_CSUM); the receiver negotiated GUEST_CSUM, so the request
 * must arrive as NEEDS_CSUM with the same fields (§5.1.6.4).
 * Exit status: 0 success, 1 any mismatch, loss or failure, 2 usage. */
#define _GNU_SOURCE
#include "example_platform.h"

#include <capdrv/shim.h>
#include <capdrv/sim.h>
#include <capdrv/sys.h>
#include <capdrv/virtio_net.h>

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SLOT 2048u  /* transmit slot bytes */
#define SLOTS 64u   /* transmit slots per direction */
#define BATCH 32u   /* frames per send call */
#define ETHERTYPE 0x88b5u /* IEEE local experimental */
#define CSUM_START 18u    /* right after the sequence number */
#define CSUM_OFFSET 0u

struct opts {
    const char *lane, *manifest, *platform;
    unsigned long frames;
    unsigned size;
    uint32_t rxbuf;
    int mrg, csum, irq, mmio;
};

#define TRY(what, expr)                                                           \
    do {                                                                          \
        int rc_ = (expr);                                                         \
        if (rc_ < 0) {                                                            \
            fprintf(stderr, "capdrv-net: %s: %s\n", what, capdrv_strerror(rc_)); \
            return 1;                                                             \
        }                                                                         \
    } while (0)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One end: a device, its transmit memory, and both directions' counters. */
struct end {
    const char *name;
    struct capdrv_virtio_net *net;
    struct capdrv_virtio_net_info info;
    capdrv_cap_t pool, txbuf;
    struct capdrv_dmabuf_info tx;
    unsigned long next_tx;  /* next sequence number to send */
    unsigned long next_rx;  /* next sequence number expected */
    unsigned tx_inflight;
    uint8_t busy[SLOTS];    /* slot seq % SLOTS is the device's until its completion */
};

struct run {
    const struct opts *o;
    struct capdrv_sim *sim;
    struct end e[2];
    unsigned long errors;
};

static uint8_t pat(unsigned long seq, unsigned dir, uint32_t i)
{
    return (uint8_t)(seq * 131u + i * 7u + dir * 59u + (i >> 8));
}

/* Frame @seq from end @dir: dst, src, ethertype, le32 seq, pattern (the
 * checksum field, when asked, is zeroed: the sum is seeded with 0). */
static void build(uint8_t *f, unsigned len, const struct end *to, const struct end *from,
                  unsigned long seq, unsigned dir, int csum)
{
    memcpy(f, to->info.mac, 6);
    memcpy(f + 6, from->info.mac, 6);
    f[12] = ETHERTYPE >> 8;
    f[13] = ETHERTYPE & 0xff;
    for (unsigned i = 0; i < 4; i++)
        f[14 + i] = (uint8_t)(seq >> (8 * i));
    for (uint32_t i = 18; i < len; i++)
        f[i] = pat(seq, dir, i);
    if (csum)
        f[CSUM_START + CSUM_OFFSET] = f[CSUM_START + CSUM_OFFSET + 1] = 0;
}

/* Send up to BATCH frames from end @d (as many as free slots allow). */
static int send_some(struct run *r, unsigned d)
{
    struct end *s = &r->e[d], *t = &r->e[1 - d];
    const struct opts *o = r->o;
    struct capdrv_virtq_seg seg[BATCH][2];
    struct capdrv_virtio_net_tx tx[BATCH];
    unsigned n = 0;
    while (n < BATCH && s->next_tx + n < o->frames && !s->busy[(s->next_tx + n) % SLOTS]) {
        unsigned slot = (unsigned)((s->next_tx + n) % SLOTS);
        uint8_t *f = (uint8_t *)s->tx.cpu + (size_t)slot * SLOT;
        build(f, o->size, t, s, s->next_tx + n, d, o->csum);
        /* Ethernet header and payload as two segments (a scatter list). */
        seg[n][0] = (struct capdrv_virtq_seg){capdrv_dma_ref(&s->tx, (size_t)slot * SLOT), 14};
        seg[n][1] = (struct capdrv_virtq_seg){capdrv_dma_ref(&s->tx, (size_t)slot * SLOT + 14),
                                              o->size - 14};
        tx[n] = (struct capdrv_virtio_net_tx){
            .segs = seg[n], .n_segs = 2, .cookie = (void *)(uintptr_t)(s->next_tx + n + 1),
            .flags = o->csum ? CAPDRV_VIRTIO_NET_TX_F_CSUM : 0,
            .csum_start = CSUM_START, .csum_offset = CSUM_OFFSET};
        n++;
    }
    if (n == 0)
        return 0;
    int m = capdrv_virtio_net_send(s->net, tx, n);
    if (m < 0) {
        fprintf(stderr, "capdrv-net: %s send: %s\n", s->name, capdrv_strerror(m));
        return m;
    }
    for (int i = 0; i < m; i++)
        s->busy[(s->next_tx + (unsigned)i) % SLOTS] = 1;
    s->next_tx += (unsigned)m;
    s->tx_inflight += (unsigned)m;
    return m;
}

static int reap_tx(struct run *r, unsigned d)
{
    struct end *s = &r->e[d];
    struct capdrv_virtio_net_tx_done done[SLOTS];
    int n = capdrv_virtio_net_tx_reap(s->net, done, SLOTS);
    if (n < 0) {
        fprintf(stderr, "capdrv-net: %s transmit completions: %s\n", s->name, capdrv_strerror(n));
        return n;
    }
    for (int i = 0; i < n; i++) {
        /* The cookie names the frame, so its slot is free again; a device
         * may complete out of order (§2.7.8). */
        unsigned long seq = (unsigned long)(uintptr_t)done[i].cookie - 1;
        if (seq >= s->next_tx || !s->busy[seq % SLOTS]) {
            fprintf(stderr, "capdrv-net: %s: completion of transmit %lu not in flight\n",
                    s->name, seq);
            r->errors++;
            continue;
        }
        s->busy[seq % SLOTS] = 0;
        s->tx_inflight--;
    }
    return n;
}

/* Receive on end @d what its peer sent; check each frame. */
static int recv_some(struct run *r, unsigned d)
{
    struct end *s = &r->e[d], *peer = &r->e[1 - d];
    const struct opts *o = r->o;
    struct capdrv_virtio_net_rx rx[BATCH];
    uint32_t handles[BATCH];
    uint8_t want[1514], got[1514];
    int n = capdrv_virtio_net_recv(s->net, rx, BATCH);
    if (n < 0) {
        fprintf(stderr, "capdrv-net: %s receive: %s\n", s->name, capdrv_strerror(n));
        return n;
    }
    for (int i = 0; i < n; i++) {
        unsigned long seq = s->next_rx++;
        build(want, o->size, s, peer, seq, 1 - d, o->csum);
        size_t len = capdrv_virtio_net_rx_copy(&rx[i], got, sizeof got);
        unsigned long got_seq = len >= 18 ? (unsigned long)got[14] | (unsigned long)got[15] << 8 |
                                                (unsigned long)got[16] << 16 |
                                                (unsigned long)got[17] << 24
                                          : 0;
        if (rx[i].len != o->size || len != o->size) {
            fprintf(stderr, "capdrv-net: %s: frame %lu is %u bytes, sent %u\n", s->name, seq,
                    rx[i].len, o->size);
            r->errors++;
        } else if (got_seq != (seq & 0xffffffffu)) {
            fprintf(stderr, "capdrv-net: %s: expected frame %lu, got %lu (loss or reorder)\n",
                    s->name, seq, got_seq);
            r->errors++;
        } else if (memcmp(got, want, len) != 0) {
            size_t k = 0;
            while (got[k] == want[k])
                k++;
            fprintf(stderr, "capdrv-net: %s: frame %lu byte %zu is %#x, sent %#x\n", s->name, seq,
                    k, got[k], want[k]);
            r->errors++;
        } else if (o->csum ? (rx[i].flags != CAPDRV_VIRTIO_NET_HDR_F_NEEDS_CSUM ||
                              rx[i].csum_start != CSUM_START || rx[i].csum_offset != CSUM_OFFSET)
                           : rx[i].flags != 0) {
            fprintf(stderr, "capdrv-net: %s: frame %lu header flags %#x csum %u/%u\n", s->name,
                    seq, rx[i].flags, rx[i].csum_start, rx[i].csum_offset);
            r->errors++;
        }
        handles[i] = rx[i].handle;
    }
    /* Give the buffers back at once: the driver reposts them (one kick). */
    if (n > 0) {
        int rc = capdrv_virtio_net_rx_release(s->net, handles, (unsigned)n);
        if (rc < 0) {
            fprintf(stderr, "capdrv-net: %s release: %s\n", s->name, capdrv_strerror(rc));
            return rc;
        }
    }
    return n;
}

/* Both directions at once until every frame is sent, received, checked and
 * its transmission completed. */
static int traffic(struct run *r)
{
    const struct opts *o = r->o;
    unsigned long idle = 0;
    for (;;) {
        int progress = 0, rc;
        for (unsigned d = 0; d < 2; d++) {
            if ((rc = send_some(r, d)) < 0)
                return rc;
            progress |= rc > 0;
        }
        for (unsigned d = 0; d < 2; d++) {
            if ((rc = recv_some(r, d)) < 0 || reap_tx(r, d) < 0)
                return -1;
            progress |= rc > 0;
        }
        if (r->e[0].next_rx == o->frames && r->e[1].next_rx == o->frames &&
            r->e[0].tx_inflight == 0 && r->e[1].tx_inflight == 0)
            return 0;
        if (progress) {
            idle = 0;
            continue;
        }
        /* Nothing moved: wait for the receiving side's interrupt, or let
         * simulated time pass. A frame that never comes is a loss. */
        if (++idle > 100000ul) {
            fprintf(stderr, "capdrv-net: no progress: A got %lu, B got %lu of %lu (loss)\n",
                    r->e[0].next_rx, r->e[1].next_rx, o->frames);
            return -1;
        }
        if (o->irq) {
            unsigned d = r->e[0].next_rx < o->frames ? 0 : 1;
            rc = capdrv_virtio_net_wait(r->e[d].net,
                                        CAPDRV_VIRTIO_NET_EV_RX | CAPDRV_VIRTIO_NET_EV_TX,
                                        100000000);
            if (rc == -CAPDRV_ETIMEDOUT) {
                fprintf(stderr, "capdrv-net: %s: no interrupt within 100 ms (loss)\n",
                        r->e[d].name);
                return -1;
            }
            if (rc < 0) {
                fprintf(stderr, "capdrv-net: %s wait: %s\n", r->e[d].name, capdrv_strerror(rc));
                return rc;
            }
        } else {
            capdrv_sim_advance(r->sim, 1000);
        }
    }
}

/* After a failure: reset end @e's device and take back every transmission
 * still in flight (capdrv_virtio_net_cancel()), so each transmit slot is
 * the program's again before the memory goes; say how many there were. */
static void cancel_end(struct end *e)
{
    struct capdrv_virtio_net_tx_done done[SLOTS];
    unsigned n = 0;
    int got;
    while ((got = capdrv_virtio_net_cancel(e->net, done, SLOTS)) > 0) {
        for (int i = 0; i < got; i++) {
            unsigned long seq = (unsigned long)(uintptr_t)done[i].cookie - 1;
            if (seq < e->next_tx && e->busy[seq % SLOTS]) {
                e->busy[seq % SLOTS] = 0;
                e->tx_inflight--;
            }
        }
        n += (unsigned)got;
    }
    if (got < 0)
        fprintf(stderr, "capdrv-net: %s cancel: %s\n", e->name, capdrv_strerror(got));
    else if (n)
        fprintf(stderr, "capdrv-net: %s: %u transmissions in flight cancelled\n", e->name, n);
}

static int open_end(capdrv_sys *sys, struct run *r, unsigned i, const char *grant_name)
{
    struct end *e = &r->e[i];
    const struct opts *o = r->o;
    capdrv_cap_t grant;
    int idx = capdrv_grant_find(sys, grant_name);
    TRY("find grant", idx);
    TRY("open grant", capdrv_grant_open(sys, (unsigned)idx, &grant));
    TRY("open pool", capdrv_pool_open(sys, grant, &e->pool));
    struct capdrv_virtio_net_opts no = {
        .pool = e->pool, .irq = o->irq, .rx_buf_len = o->rxbuf,
        .features = o->mrg ? 0
                           : CAPDRV_VIRTIO_NET_DEFAULT_FEATURES &
                                 ~CAPDRV_VIRTIO_BIT(CAPDRV_VIRTIO_NET_F_MRG_RXBUF)};
    char why[256];
    int rc = capdrv_virtio_net_open(sys, grant, &no, &e->net, why, sizeof why);
    if (rc < 0) {
        fprintf(stderr, "capdrv-net: open %s: %s (%s)\n", grant_name, why, capdrv_strerror(rc));
        return 1;
    }
    TRY("info", capdrv_virtio_net_info(e->net, &e->info));
    TRY("allocate transmit buffer", capdrv_dma_alloc(sys, e->pool, SLOT * SLOTS, &e->txbuf, &e->tx));
    const uint8_t *m = e->info.mac;
    printf("%s: %02x:%02x:%02x:%02x:%02x:%02x link %s mtu %u; lane %s; queues of %u; "
           "rx buffers %u bytes%s; features %#llx\n",
           e->name, m[0], m[1], m[2], m[3], m[4], m[5], e->info.link_up ? "up" : "down",
           e->info.mtu, e->info.lane == CAPDRV_LANE_DIRECT ? "direct" : "brokered",
           e->info.queue_size, e->info.rx_buf_len,
           (e->info.features >> CAPDRV_VIRTIO_NET_F_MRG_RXBUF) & 1u ? " (mergeable)" : "",
           (unsigned long long)e->info.features);
    if (o->csum && !((e->info.features >> CAPDRV_VIRTIO_NET_F_CSUM) & 1u)) {
        fprintf(stderr, "capdrv-net: --csum: the device did not offer VIRTIO_NET_F_CSUM\n");
        return 1;
    }
    return 0;
}

static int provider(capdrv_sys *sys, struct capdrv_sim *sim, const struct opts *o)
{
    struct run r = {.o = o, .sim = sim};
    r.e[0].name = "A";
    r.e[1].name = "B";
    int fail = open_end(sys, &r, 0, "net0") || open_end(sys, &r, 1, "net1");
    if (!fail) {
        double t0 = now_s();
        fail = traffic(&r) < 0 || r.errors > 0;
        double wall = now_s() - t0;
        double frames = 2.0 * (double)o->frames, bits = frames * o->size * 8.0;
        if (!fail)
            printf("%lu frames of %u bytes each way (%s, %s%s): %.0f frames/s, %.1f Mbit/s; "
                   "all verified in order\n",
                   o->frames, o->size, o->irq ? "interrupts" : "polling",
                   o->mrg ? "mergeable rx" : "one buffer per frame", o->csum ? ", checksum" : "",
                   wall > 0 ? frames / wall : 0.0, wall > 0 ? bits / wall / 1e6 : 0.0);
        else if (r.errors)
            fprintf(stderr, "capdrv-net: %lu bad frames\n", r.errors);
    }
    for (unsigned i = 0; i < 2; i++) {
        if (fail && r.e[i].net)
            cancel_end(&r.e[i]);
        capdrv_virtio_net_close(r.e[i].net);
    }
    return fail;
}

static void *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    char *buf = NULL;
    long n = (fseek(fp, 0, SEEK_END) == 0) ? ftell(fp) : -1;
    if (n > 0 && fseek(fp, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n)) &&
        fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(fp);
    *len = n > 0 ? (size_t)n : 0;
    return buf;
}

static int usage(void)
{
    fprintf(stderr, "usage: capdrv-net [--lane brokered|direct] [--frames N] [--size 60..1514]\n"
                    "                  [--mrg on|off] [--rxbuf BYTES] [--csum] [--irq|--poll]\n"
                    "                  [--manifest FILE.dtb] [--platform sim|vfio:A,B] [--mmio]\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct opts o = {.manifest = CAPDRV_EXAMPLE_MANIFEST, .frames = 20000, .size = 1514,
                     .mrg = 1, .irq = 1};
    static const struct option lo[] = {
        {"lane", required_argument, NULL, 'l'},  {"frames", required_argument, NULL, 'n'},
        {"size", required_argument, NULL, 's'},  {"mrg", required_argument, NULL, 'M'},
        {"rxbuf", required_argument, NULL, 'b'}, {"csum", no_argument, NULL, 'c'},
        {"poll", no_argument, NULL, 'p'},        {"irq", no_argument, NULL, 'i'},
        {"manifest", required_argument, NULL, 'm'}, {"platform", required_argument, NULL, 'P'},
        {"mmio", no_argument, NULL, 'I'},        {NULL, 0, NULL, 0}};
    const char *manifest = NULL;
    for (int ch; (ch = getopt_long(argc, argv, "l:n:s:M:b:cpim:", lo, NULL)) != -1;) {
        switch (ch) {
        case 'l': o.lane = optarg; break;
        case 'n': o.frames = strtoul(optarg, NULL, 0); break;
        case 's': o.size = (unsigned)strtoul(optarg, NULL, 0); break;
        case 'M':
            if (strcmp(optarg, "on") != 0 && strcmp(optarg, "off") != 0)
                return usage();
            o.mrg = strcmp(optarg, "on") == 0;
            break;
        case 'b': o.rxbuf = (uint32_t)strtoul(optarg, NULL, 0); break;
        case 'c': o.csum = 1; break;
        case 'p': o.irq = 0; break;
        case 'i': o.irq = 1; break;
        case 'm': manifest = optarg; break;
        case 'P': o.platform = optarg; break;
        case 'I': o.mmio = 1; break;
        default: return usage();
        }
    }
    if (optind != argc || (o.lane && strcmp(o.lane, "brokered") != 0 && strcmp(o.lane, "direct") != 0))
        return usage();
    if (manifest)
        o.manifest = manifest;
    else if (o.mmio)
        o.manifest = CAPDRV_EXAMPLE_MANIFEST_MMIO;
    if (o.size < 60 || o.size > 1514 || o.frames == 0 || o.frames > 100000000ul) {
        fprintf(stderr, "capdrv-net: --size 60..1514, --frames 1..100000000\n");
        return 2;
    }
    /* Platform side: a sim machine, with an IOMMU unless brokered is asked
     * for, and two virtio-net functions joined by a wire. */
    struct capdrv_vfio *vfio = NULL;
    struct capdrv_hw hw = {0};
    int plat = example_platform_open("capdrv-net", o.platform, &vfio, &hw);
    if (plat < 0)
        return 1;
    if (plat > 0 && (o.lane || o.mmio)) {
        fprintf(stderr, "capdrv-net: --lane and --mmio are for the sim platform\n");
        capdrv_vfio_destroy(vfio);
        return 2;
    }
    struct capdrv_sim_config cfg = {.iommu = !o.lane || strcmp(o.lane, "brokered") != 0};
    struct capdrv_sim *sim = NULL;
    unsigned fn[2] = {0, 0};
    if (plat == 0) {
        TRY("sim", capdrv_sim_create(&cfg, &sim));
        for (unsigned i = 0; i < 2; i++) {
            struct capdrv_pci_addr addr = {0, 0, (uint8_t)(4 + i), 0};
            TRY("sim device",
                o.mmio ? capdrv_sim_add_virtio_mmio_net(sim, 0x0a000000u + i * CAPDRV_SIM_VIRTIO_MMIO_SIZE,
                                                        NULL, &fn[i])
                       : capdrv_sim_add_virtio_net(sim, &addr, NULL, &fn[i]));
        }
        TRY("sim wire", capdrv_sim_virtio_net_connect(sim, fn[0], fn[1]));
        hw = capdrv_sim_hw(sim);
    }
    size_t len;
    void *blob = slurp(o.manifest, &len);
    if (!blob) {
        fprintf(stderr, "capdrv-net: cannot read manifest %s\n", o.manifest);
        return 1;
    }
    struct capdrv_env *env = capdrv_env_hosted_new(NULL);
    struct capdrv_shim_config sc = {.env = env, .hw = hw, .manifest = blob, .manifest_len = len};
    struct capdrv_shim *shim;
    char why[256];
    int rc = capdrv_shim_create(&sc, &shim, why, sizeof why);
    free(blob);
    if (rc < 0) {
        fprintf(stderr, "capdrv-net: manifest refused: %s (%s)\n", why, capdrv_strerror(rc));
        return 1;
    }
    capdrv_sys *sys;
    TRY("connect", capdrv_shim_connect(shim, "net-demo", &sys));
    rc = provider(sys, sim, &o);
    capdrv_sys_close(sys);
    /* The wire's own view: nothing dropped, nothing refused. */
    for (unsigned i = 0; sim && i < 2; i++) {
        struct capdrv_sim_virtio_net_stats st;
        if (capdrv_sim_virtio_net_stats(sim, fn[i], &st) == 0 && (st.rx_dropped || st.tx_errors)) {
            fprintf(stderr, "capdrv-net: device %c dropped %llu frames, refused %llu\n", 'A' + i,
                    (unsigned long long)st.rx_dropped, (unsigned long long)st.tx_errors);
            rc = 1;
        }
    }
    unsigned long violations = capdrv_sim_oracle_violations(sim);
    capdrv_shim_destroy(shim);
    capdrv_sim_destroy(sim);
    capdrv_vfio_destroy(vfio);
    capdrv_env_hosted_free(env);
    if (violations) {
        fprintf(stderr, "capdrv-net: DMA oracle saw %lu accesses outside the ledger\n", violations);
        return 1;
    }
    return rc;
}
