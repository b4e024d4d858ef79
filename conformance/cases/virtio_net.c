/* virtio-net cases: the provider library (capdrv/virtio_net.h) owns both
 * queues of the platform's virtio-net - "vnet" on PCI, "vmnet" behind
 * virtio-mmio version 2 (VIRTIO 1.2 §4.2) - and the harness owns the other
 * end of the wire (platform hooks net_inject / net_take). */
#include "../conf.h"

#include <capdrv/virtio_net.h>

#include <string.h>

#define FRAMES 40u
#define BUF_BYTES (64u * 1024u)

struct vn {
    capdrv_cap_t g, pool, buf;
    struct capdrv_dmabuf_info bi;
    struct capdrv_virtio_net *net;
};

static bool vn_open(struct conf_ctx *c, struct vn *v, const char *grant)
{
    memset(v, 0, sizeof *v);
    if (!c->plat->net_inject || !c->plat->net_take) {
        conf_skip(c, "platform %s does not own a wire end", c->plat->name);
        return false;
    }
    v->g = conf_open(c, c->conf, grant);
    if (v->g == CAPDRV_CAP_INVALID)
        return false;
    if (capdrv_pool_open(c->conf, v->g, &v->pool) < 0)
        return conf_fail(c, __FILE__, __LINE__, "cannot open the pool of \"%s\"", grant);
    char why[256] = "";
    struct capdrv_virtio_net_opts o = {.pool = v->pool, .queue_size = 64};
    int rc = capdrv_virtio_net_open(c->conf, v->g, &o, &v->net, why, sizeof why);
    if (rc < 0)
        return conf_fail(c, __FILE__, __LINE__, "virtio-net open: %s (%s)", capdrv_strerror(rc), why);
    if (capdrv_dma_alloc(c->conf, v->pool, BUF_BYTES, &v->buf, &v->bi) < 0)
        return conf_fail(c, __FILE__, __LINE__, "cannot allocate a TX buffer");
    return true;
}

/* Frame k: broadcast destination, a fixed source, EtherType 0x88b5 (local
 * experimental), sequence number, then a pattern; 60..1514 bytes. */
static uint32_t frame_len(unsigned k)
{
    static const uint32_t lens[] = {60, 61, 128, 512, 1000, 1499, 1514};
    return lens[k % (sizeof lens / sizeof lens[0])];
}

static void frame_fill(uint8_t *f, unsigned k)
{
    uint32_t len = frame_len(k);
    memset(f, 0xff, 6);
    memcpy(f + 6, "\x02\x00\x00\xca\xfe\x01", 6);
    f[12] = 0x88;
    f[13] = 0xb5;
    f[14] = (uint8_t)k;
    f[15] = (uint8_t)(k >> 8);
    for (uint32_t i = 16; i < len; i++)
        f[i] = (uint8_t)(i * 13 + k);
}

/* Frames the provider sends reach the wire byte for byte, in order. */
static void tx_to_wire_on(struct conf_ctx *c, const char *grant)
{
    struct vn v;
    if (!vn_open(c, &v, grant))
        return;
    uint8_t *mem = v.bi.cpu, got[1600], want[1600];
    unsigned sent = 0, seen = 0, done = 0;
    for (unsigned spin = 0; seen < FRAMES && spin < 100000; spin++) {
        if (sent < FRAMES && sent - done < 16) {
            uint8_t *f = mem + (sent % 32) * 2048;
            frame_fill(f, sent);
            struct capdrv_virtq_seg s = {capdrv_dma_ref(&v.bi, (sent % 32) * 2048), frame_len(sent)};
            struct capdrv_virtio_net_tx t = {.segs = &s, .n_segs = 1, .cookie = &v};
            int rc = capdrv_virtio_net_send(v.net, &t, 1);
            if (rc < 0) {
                conf_fail(c, __FILE__, __LINE__, "send %u: %s", sent, capdrv_strerror(rc));
                goto out;
            }
            sent += (unsigned)rc;
        }
        struct capdrv_virtio_net_tx_done d[16];
        int n = capdrv_virtio_net_tx_reap(v.net, d, 16);
        if (n < 0) {
            conf_fail(c, __FILE__, __LINE__, "tx reap: %s", capdrv_strerror(n));
            goto out;
        }
        done += (unsigned)n;
        size_t len = 0;
        int rc = c->plat->net_take(c, grant, got, sizeof got, &len);
        if (rc == 0) {
            frame_fill(want, seen);
            if (len != frame_len(seen) || memcmp(got, want, len) != 0) {
                conf_fail(c, __FILE__, __LINE__, "frame %u arrived changed (len %zu)", seen, len);
                goto out;
            }
            seen++;
        } else if (rc != -CAPDRV_ENOENT) {
            conf_fail(c, __FILE__, __LINE__, "wire: %s", capdrv_strerror(rc));
            goto out;
        } else if (c->plat->advance) {
            c->plat->advance(c, 1000);
        }
    }
    CONF_EQ(c, seen, FRAMES);
    if (c->plat->oracle_violations)
        CONF_EQ(c, c->plat->oracle_violations(c), 0);
out:
    capdrv_virtio_net_close(v.net);
}

/* Frames the harness injects reach the provider's RX ring byte for byte,
 * in order, across more frames than the ring holds (the provider refills). */
static void rx_from_wire_on(struct conf_ctx *c, const char *grant)
{
    struct vn v;
    if (!vn_open(c, &v, grant))
        return;
    uint8_t f[1600], flat[1600];
    unsigned injected = 0, got = 0;
    for (unsigned spin = 0; got < 3 * FRAMES && spin < 100000; spin++) {
        if (injected < 3 * FRAMES && injected - got < 8) {
            frame_fill(f, injected);
            int rc = c->plat->net_inject(c, grant, f, frame_len(injected));
            if (rc < 0) {
                conf_fail(c, __FILE__, __LINE__, "inject %u: %s", injected, capdrv_strerror(rc));
                goto out;
            }
            injected++;
        }
        struct capdrv_virtio_net_rx rx[8];
        int n = capdrv_virtio_net_recv(v.net, rx, 8);
        if (n < 0) {
            conf_fail(c, __FILE__, __LINE__, "recv: %s", capdrv_strerror(n));
            goto out;
        }
        for (int i = 0; i < n; i++) {
            frame_fill(f, got);
            size_t len = capdrv_virtio_net_rx_copy(&rx[i], flat, sizeof flat);
            if (rx[i].len != frame_len(got) || len != rx[i].len || memcmp(flat, f, len) != 0) {
                conf_fail(c, __FILE__, __LINE__, "frame %u received changed (len %u)", got, rx[i].len);
                goto out;
            }
            int rc = capdrv_virtio_net_rx_release(v.net, &rx[i].handle, 1);
            if (rc < 0) {
                conf_fail(c, __FILE__, __LINE__, "release: %s", capdrv_strerror(rc));
                goto out;
            }
            got++;
        }
        if (n == 0 && c->plat->advance)
            c->plat->advance(c, 1000);
    }
    CONF_EQ(c, got, 3 * FRAMES);
    if (c->plat->oracle_violations)
        CONF_EQ(c, c->plat->oracle_violations(c), 0);
out:
    capdrv_virtio_net_close(v.net);
}

static void tx_to_wire(struct conf_ctx *c)
{
    tx_to_wire_on(c, "vnet");
}

static void rx_from_wire(struct conf_ctx *c)
{
    rx_from_wire_on(c, "vnet");
}

static void mmio_tx_to_wire(struct conf_ctx *c)
{
    tx_to_wire_on(c, "vmnet");
}

static void mmio_rx_from_wire(struct conf_ctx *c)
{
    rx_from_wire_on(c, "vmnet");
}

const struct conf_case conf_cases_virtio_net[] = {
    {"virtio-net.tx-to-wire", "VIRTIO 1.2 §5.1.6.2: transmitted frames reach the wire intact, in order",
     CONF_BOTH_LANES, tx_to_wire},
    {"virtio-net.rx-from-wire",
     "VIRTIO 1.2 §5.1.6.3-4: the provider posts, reaps and refills RX; frames arrive intact, in order",
     CONF_BOTH_LANES, rx_from_wire},
    {"virtio-mmio-net.tx-to-wire",
     "VIRTIO 1.2 §5.1.6.2 over §4.2: the provider on a virtio-mmio grant; transmitted frames reach "
     "the wire intact, in order",
     CONF_BOTH_LANES, mmio_tx_to_wire},
    {"virtio-mmio-net.rx-from-wire",
     "VIRTIO 1.2 §5.1.6.3-4 over §4.2: the provider posts, reaps and refills RX on a virtio-mmio "
     "grant; frames arrive intact, in order",
     CONF_BOTH_LANES, mmio_rx_from_wire},
};
const size_t conf_cases_virtio_net_n = sizeof conf_cases_virtio_net / sizeof conf_cases_virtio_net[0];
