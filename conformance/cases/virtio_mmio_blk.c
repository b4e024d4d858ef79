/* virtio-blk over the virtio-mmio transport (VIRTIO 1.2 §4.2): the
 * library's transport (capdrv/virtio_mmio.h) and split virtqueue
 * (capdrv/virtq.h) drive the platform's virtio-mmio virtio-blk "vmblk"
 * through the shim's virtio-mmio profile, on both lanes. The block
 * protocol (§5.2.6: header, data, status byte) is written here, so the
 * cases prove the transport, the profile and the lanes, not a second copy
 * of the PCI provider. */
#include "../conf.h"

#include <capdrv/virtio_blk.h>
#include <capdrv/virtio_mmio.h>
#include <capdrv/virtq.h>

#include <string.h>

#define MAX_BYTES (128u * 1024u)
#define QSIZE 64u
#define HDR_OFF 0u      /* struct virtio_blk_req header, 16 bytes */
#define STATUS_OFF 64u  /* status byte, its own segment */
#define CFG_CAPACITY 0x00u /* §5.2.4 struct virtio_blk_config */
#define CFG_SEG_MAX 0x0cu

struct mb {
    capdrv_cap_t g, pool, ring, hdr, wbuf, rbuf, irq;
    struct capdrv_dmabuf_info ringi, hdri, wi, ri;
    struct capdrv_virtio_mmio vm;
    struct capdrv_virtio_mmio_queue q;
    struct capdrv_virtq vq;
    uint64_t state[(CAPDRV_VIRTQ_STATE_SIZE(QSIZE) + 7) / 8];
    uint64_t capacity;
    uint32_t seg_max;
    bool open;
};

static bool mb_fail(struct conf_ctx *c, int line, const char *what, int rc, const char *why)
{
    return conf_fail(c, __FILE__, line, "%s: %s%s%s", what, capdrv_strerror(rc), why ? " " : "",
                     why ? why : "");
}

/* §4.2.3.1 / §3.1.1: bind, negotiate, one queue, DRIVER_OK. */
static bool mb_start(struct conf_ctx *c, struct mb *m)
{
    char why[256] = "";
    int rc = capdrv_virtio_mmio_open(c->conf, m->g, 0, &m->vm, why, sizeof why);
    if (rc < 0)
        return mb_fail(c, __LINE__, "virtio-mmio open", rc, why);
    m->open = true;
    if (capdrv_virtio_mmio_device_id(&m->vm) != CAPDRV_VIRTIO_ID_BLOCK)
        return conf_fail(c, __FILE__, __LINE__, "DeviceID %u, want 2",
                         capdrv_virtio_mmio_device_id(&m->vm));
    if ((rc = capdrv_virtio_mmio_negotiate(&m->vm, 1ull << CAPDRV_VIRTIO_BLK_F_SEG_MAX, NULL)) < 0)
        return mb_fail(c, __LINE__, "negotiate", rc, NULL);
    uint8_t raw[8];
    if ((rc = capdrv_virtio_mmio_config_read(&m->vm, CFG_CAPACITY, raw, 8)) < 0)
        return mb_fail(c, __LINE__, "config capacity", rc, NULL);
    m->capacity = 0;
    for (unsigned i = 0; i < 8; i++)
        m->capacity |= (uint64_t)raw[i] << (8 * i);
    m->seg_max = 1;
    if (capdrv_virtio_mmio_has(&m->vm, CAPDRV_VIRTIO_BLK_F_SEG_MAX)) {
        if ((rc = capdrv_virtio_mmio_config_read(&m->vm, CFG_SEG_MAX, raw, 4)) < 0)
            return mb_fail(c, __LINE__, "config seg_max", rc, NULL);
        m->seg_max = (uint32_t)raw[0] | (uint32_t)raw[1] << 8 | (uint32_t)raw[2] << 16 |
                     (uint32_t)raw[3] << 24;
    }
    unsigned max = 0;
    if ((rc = capdrv_virtio_mmio_queue_max(&m->vm, 0, &max)) < 0 || max < QSIZE)
        return mb_fail(c, __LINE__, "queue 0 too small or absent", rc < 0 ? rc : -CAPDRV_ENOTSUP,
                       NULL);
    struct capdrv_virtq_config qc = {.size = QSIZE, .ring = m->ringi.cpu,
                                     .ring_ref = capdrv_dma_ref(&m->ringi, 0),
                                     .ring_len = m->ringi.size, .state = m->state,
                                     .state_len = sizeof m->state};
    if ((rc = capdrv_virtq_init(&m->vq, &qc)) < 0)
        return mb_fail(c, __LINE__, "virtq init", rc, NULL);
    if ((rc = capdrv_virtio_mmio_queue_setup(&m->vm, 0, &m->vq, &m->q)) < 0)
        return mb_fail(c, __LINE__, "queue setup", rc, NULL);
    if ((rc = capdrv_virtio_mmio_driver_ok(&m->vm)) < 0)
        return mb_fail(c, __LINE__, "DRIVER_OK", rc, NULL);
    return true;
}

static bool mb_open(struct conf_ctx *c, struct mb *m, bool irq)
{
    memset(m, 0, sizeof *m);
    m->g = conf_open(c, c->conf, "vmblk");
    if (m->g == CAPDRV_CAP_INVALID)
        return false;
    int rc;
    if ((rc = capdrv_pool_open(c->conf, m->g, &m->pool)) < 0 ||
        (rc = capdrv_dma_alloc(c->conf, m->pool, 4096, &m->ring, &m->ringi)) < 0 ||
        (rc = capdrv_dma_alloc(c->conf, m->pool, 4096, &m->hdr, &m->hdri)) < 0 ||
        (rc = capdrv_dma_alloc(c->conf, m->pool, MAX_BYTES, &m->wbuf, &m->wi)) < 0 ||
        (rc = capdrv_dma_alloc(c->conf, m->pool, MAX_BYTES, &m->rbuf, &m->ri)) < 0)
        return mb_fail(c, __LINE__, "pool and buffers of \"vmblk\"", rc, NULL);
    if (irq && (rc = capdrv_irq_open(c->conf, m->g, 0, &m->irq)) < 0)
        return mb_fail(c, __LINE__, "interrupt line (vector 0)", rc, NULL);
    return mb_start(c, m);
}

static void mb_close(struct conf_ctx *c, struct mb *m)
{
    if (m->open)
        capdrv_virtio_mmio_close(&m->vm); /* resets the device first */
    m->open = false;
    if (m->irq)
        (void)capdrv_cap_release(c->conf, m->irq);
    m->irq = 0;
}

/* Wait for the line, then read and acknowledge the cause (§4.2.3.4). */
static int mb_wait_irq(struct conf_ctx *c, struct mb *m)
{
    uint64_t ready = 0;
    int rc = capdrv_irq_wait(c->conf, &m->irq, 1, 1000000000, &ready);
    if (rc < 0)
        return rc;
    uint32_t cause = 0;
    if ((rc = capdrv_virtio_mmio_irq_status(&m->vm, &cause)) < 0)
        return rc;
    if (!(cause & CAPDRV_VIRTIO_MMIO_INT_VRING))
        return -CAPDRV_EPROTO; /* the line fired without a used buffer */
    if ((rc = capdrv_virtio_mmio_irq_ack(&m->vm, cause & (CAPDRV_VIRTIO_MMIO_INT_VRING |
                                                          CAPDRV_VIRTIO_MMIO_INT_CONFIG))) < 0)
        return rc;
    return capdrv_irq_ack(c->conf, m->irq);
}

/* One request: header, @n data segments, status byte. Returns the status
 * byte (0 = OK) or a negative error. */
static int mb_do(struct conf_ctx *c, struct mb *m, uint32_t type, uint64_t sector,
                 const struct capdrv_virtq_seg *data, unsigned n, bool irq)
{
    uint8_t *h = m->hdri.cpu;
    memset(h, 0, 16);
    for (unsigned i = 0; i < 4; i++)
        h[HDR_OFF + i] = (uint8_t)(type >> (8 * i));
    for (unsigned i = 0; i < 8; i++)
        h[HDR_OFF + 8 + i] = (uint8_t)(sector >> (8 * i));
    h[STATUS_OFF] = 0xff;
    struct capdrv_virtq_seg segs[34];
    if (n > 32)
        return -CAPDRV_EINVAL;
    segs[0] = (struct capdrv_virtq_seg){capdrv_dma_ref(&m->hdri, HDR_OFF), 16};
    for (unsigned k = 0; k < n; k++)
        segs[1 + k] = data[k];
    segs[1 + n] = (struct capdrv_virtq_seg){capdrv_dma_ref(&m->hdri, STATUS_OFF), 1};
    /* §5.2.6: device-readable header (and data for OUT) first. */
    unsigned n_out = type == CAPDRV_VIRTIO_BLK_T_OUT ? 1 + n : 1;
    int rc = capdrv_virtq_add(&m->vq, segs, n_out, n + 2 - n_out, m);
    if (rc < 0)
        return rc;
    if ((rc = capdrv_virtq_publish(&m->vq)) < 0)
        return rc;
    if ((rc = capdrv_virtio_mmio_kick(&m->vm, &m->q, &m->vq)) < 0)
        return rc;
    struct capdrv_virtq_completion done;
    for (int spin = 0; spin < 100000; spin++) {
        if (irq && (rc = mb_wait_irq(c, m)) < 0)
            return rc;
        rc = capdrv_virtq_reap(&m->vq, &done, 1);
        if (rc < 0)
            return rc;
        if (rc == 1)
            return done.cookie == m ? h[STATUS_OFF] : -CAPDRV_EPROTO;
        if (!irq && c->plat->advance)
            c->plat->advance(c, 1000);
    }
    return -CAPDRV_ETIMEDOUT;
}

/* Reads return what was written: 1 sector to 128 KiB at odd sectors,
 * segments at odd offsets of their buffers, up to 32 segments. */
static void data_integrity(struct conf_ctx *c)
{
    struct mb m;
    if (!mb_open(c, &m, false)) {
        mb_close(c, &m);
        return;
    }
    static const struct { uint64_t sector; uint32_t bytes, off; unsigned segs; } shapes[] = {
        {0, 512, 0, 1},     {1, 512, 512, 1},   {7, 4096, 0, 1},       {33, 4608, 1024, 1},
        {101, 12288, 0, 3}, {255, 65536, 0, 1}, {517, 65536, 512, 16}, {1000, 131072, 0, 32},
    };
    uint8_t *w = m.wi.cpu, *r = m.ri.cpu;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        uint32_t bytes = shapes[s].bytes, off = shapes[s].off;
        unsigned n = shapes[s].segs;
        if (off + bytes > MAX_BYTES || shapes[s].sector + bytes / 512 > m.capacity ||
            n > m.seg_max) {
            conf_fail(c, __FILE__, __LINE__, "shape %zu does not fit the device", s);
            break;
        }
        for (uint32_t i = 0; i < bytes; i++)
            w[off + i] = (uint8_t)(i * 29 + s * 11 + (i >> 9));
        memset(r, 0xee, MAX_BYTES);
        struct capdrv_virtq_seg ws[32], rs[32];
        uint32_t per = bytes / n;
        for (unsigned k = 0; k < n; k++) {
            ws[k] = (struct capdrv_virtq_seg){capdrv_dma_ref(&m.wi, off + k * per), per};
            rs[k] = (struct capdrv_virtq_seg){capdrv_dma_ref(&m.ri, off + k * per), per};
        }
        int rc = mb_do(c, &m, CAPDRV_VIRTIO_BLK_T_OUT, shapes[s].sector, ws, n, false);
        if (rc != 0) {
            conf_fail(c, __FILE__, __LINE__, "write %zu: %d (%s)", s, rc, capdrv_strerror(rc));
            break;
        }
        rc = mb_do(c, &m, CAPDRV_VIRTIO_BLK_T_IN, shapes[s].sector, rs, n, false);
        if (rc != 0) {
            conf_fail(c, __FILE__, __LINE__, "read %zu: %d (%s)", s, rc, capdrv_strerror(rc));
            break;
        }
        if (memcmp(w + off, r + off, bytes) != 0 || (off && r[off - 1] != 0xee) ||
            (off + bytes < MAX_BYTES && r[off + bytes] != 0xee)) {
            conf_fail(c, __FILE__, __LINE__, "shape %zu read back differs", s);
            break;
        }
    }
    if (c->result != CONF_FAIL && c->plat->oracle_violations)
        CONF_EQ(c, c->plat->oracle_violations(c), 0);
    mb_close(c, &m);
}

/* Completion signalled on the interrupt line, cause in InterruptStatus. */
static void irq_completion(struct conf_ctx *c)
{
    struct mb m;
    if (mb_open(c, &m, true)) {
        memset(m.wi.cpu, 0x3c, 4096);
        struct capdrv_virtq_seg s = {capdrv_dma_ref(&m.wi, 0), 4096};
        int rc = mb_do(c, &m, CAPDRV_VIRTIO_BLK_T_OUT, 8, &s, 1, true);
        if (rc != 0)
            conf_fail(c, __FILE__, __LINE__, "write by interrupt: %d (%s)", rc,
                      capdrv_strerror(rc));
    }
    mb_close(c, &m);
}

/* A data reference outside the ledger is refused at QueueNotify and the
 * device touches nothing. */
static void out_of_ledger(struct conf_ctx *c)
{
    struct mb m;
    if (!mb_open(c, &m, false)) {
        mb_close(c, &m);
        return;
    }
    long before = c->plat->oracle_violations ? c->plat->oracle_violations(c) : 0;
    uint64_t bad = c->lane == CAPDRV_LANE_BROKERED ? capdrv_dma_ref(&m.wi, 0) ^ (1ull << 48)
                                                   : capdrv_dma_ref(&m.wi, 0) + MAX_BYTES;
    struct capdrv_virtq_seg s = {bad, 4096};
    ((uint8_t *)m.hdri.cpu)[STATUS_OFF] = 0xff;
    int rc = mb_do(c, &m, CAPDRV_VIRTIO_BLK_T_IN, 0, &s, 1, false);
    if (rc != -CAPDRV_EFAULT)
        conf_fail(c, __FILE__, __LINE__, "out-of-ledger request: %d, want -EFAULT", rc);
    else if (((uint8_t *)m.hdri.cpu)[STATUS_OFF] != 0xff)
        conf_fail(c, __FILE__, __LINE__, "the device wrote the status of a refused request");
    else if (c->plat->oracle_violations && c->plat->oracle_violations(c) != before)
        conf_fail(c, __FILE__, __LINE__, "the device touched memory outside the ledger");
    mb_close(c, &m);
}

/* Reset (Status 0, §4.2.2.1), re-initialise, data intact (§2.1.2). */
static void reset_and_recover(struct conf_ctx *c)
{
    struct mb m;
    if (!mb_open(c, &m, false)) {
        mb_close(c, &m);
        return;
    }
    memset(m.wi.cpu, 0x77, 4096);
    struct capdrv_virtq_seg ws = {capdrv_dma_ref(&m.wi, 0), 4096};
    int rc = mb_do(c, &m, CAPDRV_VIRTIO_BLK_T_OUT, 64, &ws, 1, false);
    if (rc != 0) {
        conf_fail(c, __FILE__, __LINE__, "write: %d", rc);
        mb_close(c, &m);
        return;
    }
    capdrv_virtio_mmio_close(&m.vm);
    m.open = false;
    if (!mb_start(c, &m)) {
        mb_close(c, &m);
        return;
    }
    memset(m.ri.cpu, 0, 4096);
    struct capdrv_virtq_seg rs = {capdrv_dma_ref(&m.ri, 0), 4096};
    rc = mb_do(c, &m, CAPDRV_VIRTIO_BLK_T_IN, 64, &rs, 1, false);
    if (rc != 0)
        conf_fail(c, __FILE__, __LINE__, "read after reset: %d", rc);
    else if (((uint8_t *)m.ri.cpu)[4095] != 0x77)
        conf_fail(c, __FILE__, __LINE__, "data lost across the reset");
    mb_close(c, &m);
}

/* An MMIO device has no PCI configuration space; the shim says so. */
static void no_config_space(struct conf_ctx *c)
{
    capdrv_cap_t g = conf_open(c, c->conf, "vmblk");
    if (g == CAPDRV_CAP_INVALID)
        return;
    uint32_t v = 0;
    CONF_EQ(c, capdrv_cfg_read(c->conf, g, 0, 4, &v), -CAPDRV_ENOTSUP);
    CONF_EQ(c, capdrv_cfg_write(c->conf, g, 4, 2, 6), -CAPDRV_ENOTSUP);
    (void)capdrv_cap_release(c->conf, g);
}

const struct conf_case conf_cases_virtio_mmio_blk[] = {
    {"virtio-mmio-blk.data-integrity",
     "VIRTIO 1.2 §4.2, §5.2.6: over virtio-mmio, reads return what was written, 1 sector to "
     "128 KiB, odd offsets, multi-segment",
     CONF_BOTH_LANES, data_integrity},
    {"virtio-mmio-blk.irq-completion",
     "VIRTIO 1.2 §4.2.3.4: used buffers raise the interrupt line with InterruptStatus bit 0",
     CONF_BOTH_LANES, irq_completion},
    {"virtio-mmio-blk.out-of-ledger",
     "DESIGN: a descriptor outside the ledger is refused at QueueNotify (§4.2.3.3)",
     CONF_BOTH_LANES, out_of_ledger},
    {"virtio-mmio-blk.reset-recovery",
     "VIRTIO 1.2 §4.2.2.1, §2.1.2: Status 0 resets, re-initialise, data intact",
     CONF_BOTH_LANES, reset_and_recover},
    {"virtio-mmio.no-config-space",
     "hw.h: an MMIO device has no configuration space (cfg access -ENOTSUP)",
     CONF_BOTH_LANES, no_config_space},
};
const size_t conf_cases_virtio_mmio_blk_n =
    sizeof conf_cases_virtio_mmio_blk / sizeof conf_cases_virtio_mmio_blk[0];
