/* The virtio-mmio profile of the shim (kernel-shim/profiles/virtio_mmio.c)
 * and MMIO functions in general (hw.h CAPDRV_HW_FN_MMIO), driven by a
 * hand-written provider over the sim's virtio-mmio virtio-blk: binding by
 * match-mmio, no configuration space, the interrupt line as vector 0, the
 * register rules of VIRTIO 1.2 §4.2.2, and both DMA lanes at QueueReady
 * and at QueueNotify (§2.7). The ring is built by hand so the tests depend
 * on the shim and the device model only. Every test ends with the DMA
 * oracle's verdict (fx_done: no unexpected violation). */
#include "fixture.h"

#include <string.h>

#include <capdrv/virtio_mmio.h>

#define BASE 0x0a003e00ull

/* §4.2.2 registers (capdrv/virtio_mmio.h) */
#define MAGIC CAPDRV_VIRTIO_MMIO_MAGIC_VALUE
#define VERSION CAPDRV_VIRTIO_MMIO_VERSION_REG
#define DEVICE_ID CAPDRV_VIRTIO_MMIO_DEVICE_ID
#define DEV_FEAT CAPDRV_VIRTIO_MMIO_DEVICE_FEATURES
#define DEV_FEAT_SEL CAPDRV_VIRTIO_MMIO_DEVICE_FEATURES_SEL
#define DRV_FEAT CAPDRV_VIRTIO_MMIO_DRIVER_FEATURES
#define DRV_FEAT_SEL CAPDRV_VIRTIO_MMIO_DRIVER_FEATURES_SEL
#define Q_SEL CAPDRV_VIRTIO_MMIO_QUEUE_SEL
#define Q_NUM_MAX CAPDRV_VIRTIO_MMIO_QUEUE_NUM_MAX
#define Q_NUM CAPDRV_VIRTIO_MMIO_QUEUE_NUM
#define Q_READY CAPDRV_VIRTIO_MMIO_QUEUE_READY
#define Q_NOTIFY CAPDRV_VIRTIO_MMIO_QUEUE_NOTIFY
#define INT_STATUS CAPDRV_VIRTIO_MMIO_INTERRUPT_STATUS
#define INT_ACK CAPDRV_VIRTIO_MMIO_INTERRUPT_ACK
#define STATUS CAPDRV_VIRTIO_MMIO_STATUS
#define Q_DESC_LO CAPDRV_VIRTIO_MMIO_QUEUE_DESC_LOW
#define Q_DRIVER_LO CAPDRV_VIRTIO_MMIO_QUEUE_DRIVER_LOW
#define Q_DEVICE_LO CAPDRV_VIRTIO_MMIO_QUEUE_DEVICE_LOW
#define CONFIG CAPDRV_VIRTIO_MMIO_CONFIG
#define Q_RESET 0x0c0u /* §4.2.2 QueueReset (VIRTIO_F_RING_RESET) */
#define SHM_SEL 0x0acu /* §4.2.2 SHMSel */

#define QSIZE 8u
#define RING_DESC 0u
#define RING_AVAIL 128u /* 16 * QSIZE */
#define RING_USED 256u
#define IO_HDR 0u
#define IO_STATUS 16u
#define IO_DATA 4096u
#define IO_DATA2 6144u

#define F_VERSION_1 (1ull << 32)
#define F_INDIRECT (1ull << 28)
#define F_EVENT_IDX (1ull << 29)

struct vt {
    struct fx f;
    unsigned fn_blk;
    capdrv_cap_t grant, mmio, pool, ring, io, irq;
    struct capdrv_dmabuf_info ri, ii;
};

static void w(struct vt *t, uint64_t off, uint64_t v)
{
    assert_int_equal(capdrv_mmio_write(t->f.p1, t->mmio, off, 4, v), 0);
}

static uint64_t r(struct vt *t, uint64_t off)
{
    uint64_t v = 0;
    assert_int_equal(capdrv_mmio_read(t->f.p1, t->mmio, off, 4, &v), 0);
    return v;
}

static void put_le(uint8_t *p, unsigned n, uint64_t v)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void machine_only(struct vt *t, bool iommu)
{
    memset(t, 0, sizeof *t);
    fx_machine(&t->f, iommu);
    assert_int_equal(capdrv_sim_add_virtio_mmio_blk(t->f.sim, BASE, NULL, &t->fn_blk), 0);
}

static void machine(struct vt *t, bool iommu, const char *manifest)
{
    machine_only(t, iommu);
    assert_int_equal(fx_shim(&t->f, manifest), 0);
    assert_int_equal(capdrv_shim_connect(t->f.shim, "p1", &t->f.p1), 0);
}

/* §3.1.1 up to FEATURES_OK, accepting @features. */
static void negotiate(struct vt *t, uint64_t features)
{
    w(t, STATUS, 0);
    assert_int_equal(r(t, STATUS), 0);
    w(t, STATUS, 1);
    w(t, STATUS, 1 | 2);
    w(t, DRV_FEAT_SEL, 0);
    w(t, DRV_FEAT, features & 0xffffffffu);
    w(t, DRV_FEAT_SEL, 1);
    w(t, DRV_FEAT, features >> 32);
    w(t, STATUS, 1 | 2 | 8);
    assert_int_equal(r(t, STATUS) & 8, 8);
}

/* §4.2.3.2: select, size, the three areas as 32-bit halves, ready. */
static void setup_queue(struct vt *t)
{
    w(t, Q_SEL, 0);
    assert_true(r(t, Q_NUM_MAX) >= QSIZE);
    w(t, Q_NUM, QSIZE);
    static const unsigned reg[3] = {Q_DESC_LO, Q_DRIVER_LO, Q_DEVICE_LO};
    static const unsigned off[3] = {RING_DESC, RING_AVAIL, RING_USED};
    for (unsigned a = 0; a < 3; a++) {
        uint64_t ref = capdrv_dma_ref(&t->ri, off[a]);
        w(t, reg[a], ref & 0xffffffffu);
        w(t, reg[a] + 4, ref >> 32);
    }
    w(t, Q_READY, 1);
    assert_int_equal(r(t, Q_READY), 1);
    w(t, STATUS, 1 | 2 | 4 | 8);
}

static void bring_up(struct vt *t, bool iommu, uint64_t features)
{
    machine(t, iommu, "virtio_mmio");
    t->grant = fx_open(t->f.p1, "vblk");
    t->mmio = fx_mmio(t->f.p1, t->grant, 0);
    assert_int_equal(capdrv_pool_open(t->f.p1, t->grant, &t->pool), 0);
    assert_int_equal(capdrv_dma_alloc(t->f.p1, t->pool, 4096, &t->ring, &t->ri), 0);
    assert_int_equal(capdrv_dma_alloc(t->f.p1, t->pool, 8192, &t->io, &t->ii), 0);
    assert_int_equal(capdrv_irq_open(t->f.p1, t->grant, 0, &t->irq), 0);
    negotiate(t, features);
    setup_queue(t);
}

static void desc(struct vt *t, unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
    uint8_t *d = (uint8_t *)t->ri.cpu + RING_DESC + 16 * i;
    put_le(d, 8, addr);
    put_le(d + 8, 4, len);
    put_le(d + 12, 2, flags);
    put_le(d + 14, 2, next);
}

static uint16_t used_idx(struct vt *t)
{
    return (uint16_t)get_le((uint8_t *)t->ri.cpu + RING_USED + 2, 2);
}

static int publish(struct vt *t, uint16_t head)
{
    uint8_t *a = (uint8_t *)t->ri.cpu + RING_AVAIL;
    uint16_t idx = (uint16_t)get_le(a + 2, 2);
    put_le(a + 4 + 2 * (idx % QSIZE), 2, head);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    put_le(a + 2, 2, (uint16_t)(idx + 1));
    return capdrv_mmio_write(t->f.p1, t->mmio, Q_NOTIFY, 4, 0);
}

static void blk_request(struct vt *t, uint32_t type, uint64_t sector, uint64_t data_off)
{
    uint8_t *io = t->ii.cpu;
    put_le(io + IO_HDR, 4, type);
    put_le(io + IO_HDR + 4, 4, 0);
    put_le(io + IO_HDR + 8, 8, sector);
    io[IO_STATUS] = 0xee;
    desc(t, 0, capdrv_dma_ref(&t->ii, IO_HDR), 16, 1, 1);
    desc(t, 1, capdrv_dma_ref(&t->ii, data_off), 512, type == 0 ? 1 | 2 : 1, 2);
    desc(t, 2, capdrv_dma_ref(&t->ii, IO_STATUS), 1, 2, 0);
}

/* One used buffer: the line fired (vector 0), InterruptStatus bit 0 is
 * set until the driver acknowledges it (§4.2.3.4). */
static void expect_irq(struct vt *t)
{
    uint64_t ready = 0;
    assert_int_equal(capdrv_irq_wait(t->f.p1, &t->irq, 1, 0, &ready), 1);
    assert_int_equal(ready, 1);
    assert_int_equal(r(t, INT_STATUS) & 1, 1);
    w(t, INT_ACK, 1);
    assert_int_equal(r(t, INT_STATUS) & 1, 0);
    assert_int_equal(capdrv_irq_ack(t->f.p1, t->irq), 0);
}

static void write_then_read(struct vt *t)
{
    uint8_t *io = t->ii.cpu;
    for (unsigned i = 0; i < 512; i++)
        io[IO_DATA + i] = (uint8_t)(i * 5 + 1);
    uint16_t u0 = used_idx(t);
    blk_request(t, 1 /* OUT */, 7, IO_DATA);
    assert_int_equal(publish(t, 0), 0);
    assert_int_equal(used_idx(t), (uint16_t)(u0 + 1));
    assert_int_equal(io[IO_STATUS], 0);
    expect_irq(t);
    uint8_t store[512];
    assert_int_equal(capdrv_sim_virtio_blk_data(t->f.sim, t->fn_blk, 7 * 512, store, 512, false), 0);
    assert_memory_equal(store, io + IO_DATA, 512);
    blk_request(t, 0 /* IN */, 7, IO_DATA2);
    assert_int_equal(publish(t, 0), 0);
    assert_int_equal(used_idx(t), (uint16_t)(u0 + 2));
    expect_irq(t);
    assert_memory_equal(io + IO_DATA2, io + IO_DATA, 512);
}

static void done(struct vt *t)
{
    fx_done(&t->f);
}

/* ---- binding --------------------------------------------------------------- */

static void t_bind_and_info(void **state)
{
    (void)state;
    struct vt t;
    machine(&t, false, "virtio_mmio");
    int gi = capdrv_grant_find(t.f.p1, "vblk");
    assert_true(gi >= 0);
    struct capdrv_grant_info info;
    assert_int_equal(capdrv_grant_info(t.f.p1, (unsigned)gi, &info), 0);
    assert_int_equal(info.cls, CAPDRV_GRANT_DMA_CAPABLE);
    assert_int_equal(info.lane, CAPDRV_LANE_BROKERED);
    assert_int_equal(info.n_irqs, 1); /* the one line */
    assert_int_equal(info.n_windows, 1);
    t.grant = fx_open(t.f.p1, "vblk");
    t.mmio = fx_mmio(t.f.p1, t.grant, 0);
    assert_int_equal(r(&t, MAGIC), CAPDRV_VIRTIO_MMIO_MAGIC);
    assert_int_equal(r(&t, VERSION), 2);
    assert_int_equal(r(&t, DEVICE_ID), 2); /* block (§5) */
    /* No configuration space behind an MMIO device. */
    uint32_t v32;
    assert_int_equal(capdrv_cfg_read(t.f.p1, t.grant, 0, 4, &v32), -CAPDRV_ENOTSUP);
    assert_int_equal(capdrv_cfg_write(t.f.p1, t.grant, 4, 2, 6), -CAPDRV_ENOTSUP);
    /* One line: vector 0 only. */
    capdrv_cap_t irq;
    assert_int_equal(capdrv_irq_open(t.f.p1, t.grant, 1, &irq), -CAPDRV_ENOENT);
    /* The window is the 512-byte region, nothing beyond. */
    uint64_t v;
    assert_int_equal(capdrv_mmio_read(t.f.p1, t.mmio, 0x200, 4, &v), -CAPDRV_EFAULT);
    done(&t);
}

static void refused(const char *manifest, int rc, const char *why)
{
    struct vt t;
    machine_only(&t, false);
    assert_int_equal(fx_shim(&t.f, manifest), rc);
    if (!strstr(t.f.why, why))
        fail_msg("%s: reason \"%s\" lacks \"%s\"", manifest, t.f.why, why);
    done(&t);
}

static void t_bind_refusals(void **state)
{
    (void)state;
    refused("virtio_mmio_unknown", -CAPDRV_ENODEV, "no unbound function matches");
    refused("virtio_mmio_by_id", -CAPDRV_ENODEV, "no unbound function matches");
    refused("virtio_mmio_nvme", -CAPDRV_EACCES, "nvme-controller");
    refused("virtio_mmio_window", -CAPDRV_EFAULT, "beyond its BAR");
}

/* The sim refuses a misaligned or overlapping MMIO device. */
static void t_sim_add_rules(void **state)
{
    (void)state;
    struct vt t;
    machine_only(&t, false);
    assert_int_equal(capdrv_sim_add_virtio_mmio_blk(t.f.sim, BASE + 0x100, NULL, NULL),
                     -CAPDRV_EINVAL);
    assert_int_equal(capdrv_sim_add_virtio_mmio_blk(t.f.sim, BASE, NULL, NULL), -CAPDRV_EEXIST);
    assert_int_equal(capdrv_sim_add_virtio_mmio_blk(t.f.sim, BASE - 0x200, NULL, NULL), 0);
    done(&t);
}

/* any-function: registers and the line, but no DMA pool. */
static void t_any_function(void **state)
{
    (void)state;
    struct vt t;
    machine(&t, false, "virtio_mmio_any");
    t.grant = fx_open(t.f.p1, "vblk");
    t.mmio = fx_mmio(t.f.p1, t.grant, 0);
    assert_int_equal(r(&t, MAGIC), CAPDRV_VIRTIO_MMIO_MAGIC);
    capdrv_cap_t pool;
    assert_int_not_equal(capdrv_pool_open(t.f.p1, t.grant, &pool), 0);
    done(&t);
}

/* ---- register rules ---------------------------------------------------------- */

static void check_features(bool iommu)
{
    struct vt t;
    machine(&t, iommu, "virtio_mmio");
    t.grant = fx_open(t.f.p1, "vblk");
    t.mmio = fx_mmio(t.f.p1, t.grant, 0);
    w(&t, DEV_FEAT_SEL, 0);
    uint64_t lo = r(&t, DEV_FEAT);
    w(&t, DEV_FEAT_SEL, 1);
    uint64_t hi = r(&t, DEV_FEAT);
    assert_true(hi & 1); /* VERSION_1 */
    assert_int_equal(!!(lo & F_EVENT_IDX), iommu);
    assert_int_equal(!!(lo & F_INDIRECT), iommu);
    w(&t, DRV_FEAT_SEL, 0);
    assert_int_equal(capdrv_mmio_write(t.f.p1, t.mmio, DRV_FEAT, 4, F_EVENT_IDX),
                     iommu ? 0 : -CAPDRV_EPERM);
    w(&t, DRV_FEAT_SEL, 1);
    assert_int_equal(capdrv_mmio_write(t.f.p1, t.mmio, DRV_FEAT, 4, 1u << 2), -CAPDRV_EPERM);
    done(&t);
}

static void t_features_brokered(void **state)
{
    (void)state;
    check_features(false);
}

static void t_features_direct(void **state)
{
    (void)state;
    check_features(true);
}

static void t_register_rules(void **state)
{
    (void)state;
    struct vt t;
    bring_up(&t, false, F_VERSION_1);
    capdrv_sys *p = t.f.p1;
    uint64_t v;
    /* §4.2.2.2: control registers are 32-bit, aligned */
    assert_int_equal(capdrv_mmio_read(p, t.mmio, STATUS, 1, &v), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_mmio_write(p, t.mmio, Q_NOTIFY, 2, 0), -CAPDRV_EINVAL);
    /* direction of each register (§4.2.2 table) */
    assert_int_equal(capdrv_mmio_write(p, t.mmio, MAGIC, 4, 0), -CAPDRV_EPERM);
    assert_int_equal(capdrv_mmio_write(p, t.mmio, INT_STATUS, 4, 1), -CAPDRV_EPERM);
    assert_int_equal(capdrv_mmio_read(p, t.mmio, Q_NOTIFY, 4, &v), -CAPDRV_EPERM);
    assert_int_equal(capdrv_mmio_read(p, t.mmio, Q_SEL, 4, &v), -CAPDRV_EPERM);
    assert_int_equal(capdrv_mmio_read(p, t.mmio, INT_ACK, 4, &v), -CAPDRV_EPERM);
    /* notify of a queue that is not ready; QueueReady 0; ring reset; SHM */
    assert_int_equal(capdrv_mmio_write(p, t.mmio, Q_NOTIFY, 4, 1), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_mmio_write(p, t.mmio, Q_NOTIFY, 4, 64), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_mmio_write(p, t.mmio, Q_READY, 4, 0), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_mmio_write(p, t.mmio, Q_RESET, 4, 1), -CAPDRV_EFAULT);
    assert_int_equal(capdrv_mmio_read(p, t.mmio, SHM_SEL, 4, &v), -CAPDRV_EFAULT);
    /* a ready queue's size and areas are frozen */
    assert_int_equal(capdrv_mmio_write(p, t.mmio, Q_DESC_LO, 4, 0), -CAPDRV_EBUSY);
    assert_int_equal(capdrv_mmio_write(p, t.mmio, Q_NUM, 4, 4), -CAPDRV_EBUSY);
    /* queues the profile does not track; sizes that are not a power of two */
    assert_int_equal(capdrv_mmio_write(p, t.mmio, Q_SEL, 4, 64), -CAPDRV_EINVAL);
    w(&t, Q_SEL, 1);
    assert_int_equal(capdrv_mmio_write(p, t.mmio, Q_NUM, 4, 6), -CAPDRV_EINVAL);
    /* queue 1 does not exist on this device: QueueNumMax 0 refuses ready */
    assert_int_equal(r(&t, Q_NUM_MAX), 0);
    assert_int_equal(capdrv_mmio_write(p, t.mmio, Q_READY, 4, 1), -CAPDRV_EINVAL);
    /* device configuration: 1, 2, 4 bytes; capacity low word = 2048 */
    assert_int_equal(capdrv_mmio_read(p, t.mmio, CONFIG, 8, &v), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_mmio_read(p, t.mmio, CONFIG, 4, &v), 0);
    assert_int_equal(v, 2048);
    assert_int_equal(capdrv_mmio_read(p, t.mmio, CONFIG + 1, 1, &v), 0);
    assert_int_equal(v, 2048 >> 8);
    done(&t);
}

/* ---- both lanes ------------------------------------------------------------------ */

static void t_brokered_roundtrip(void **state)
{
    (void)state;
    struct vt t;
    bring_up(&t, false, F_VERSION_1);
    write_then_read(&t);
    /* The queue registers read back the provider's tokens, never the
     * device addresses of the shadow ring. */
    w(&t, Q_SEL, 0);
    uint64_t desc_ref = capdrv_dma_ref(&t.ri, RING_DESC);
    assert_int_equal(r(&t, Q_DESC_LO), desc_ref & 0xffffffffu);
    assert_int_equal(r(&t, Q_DESC_LO + 4), desc_ref >> 32);
    uint64_t used_ref = capdrv_dma_ref(&t.ri, RING_USED);
    assert_int_equal(r(&t, Q_DEVICE_LO + 4), used_ref >> 32);
    done(&t);
}

static void t_direct_roundtrip(void **state)
{
    (void)state;
    struct vt t;
    bring_up(&t, true, F_VERSION_1);
    write_then_read(&t);
    done(&t);
}

/* Polling without the line: InterruptStatus alone tells completion. */
static void t_polling(void **state)
{
    (void)state;
    struct vt t;
    bring_up(&t, false, F_VERSION_1);
    assert_int_equal(capdrv_cap_release(t.f.p1, t.irq), 0);
    blk_request(&t, 1, 2, IO_DATA);
    assert_int_equal(publish(&t, 0), 0);
    assert_int_equal(r(&t, INT_STATUS) & 1, 1);
    assert_int_equal(used_idx(&t), 1);
    w(&t, INT_ACK, 1);
    assert_int_equal(r(&t, INT_STATUS), 0);
    done(&t);
}

static void refused_out_of_ledger(bool iommu)
{
    struct vt t;
    bring_up(&t, iommu, F_VERSION_1);
    struct capdrv_shim_stats before, after;
    assert_int_equal(capdrv_shim_stats(t.f.shim, &before), 0);
    blk_request(&t, 1, 1, IO_DATA);
    uint64_t bad = iommu ? capdrv_dma_ref(&t.ii, 0) + 8192
                         : capdrv_dma_ref(&t.ii, IO_DATA) ^ (1ull << 48);
    desc(&t, 1, bad, 512, 1, 2);
    assert_int_equal(publish(&t, 0), -CAPDRV_EFAULT);
    assert_int_equal(used_idx(&t), 0); /* the device saw nothing */
    assert_int_equal(((uint8_t *)t.ii.cpu)[IO_STATUS], 0xee);
    assert_int_equal(capdrv_shim_stats(t.f.shim, &after), 0);
    assert_int_equal(after.refused_notify, before.refused_notify + 1);
    uint64_t ready = 0;
    assert_int_equal(capdrv_irq_wait(t.f.p1, &t.irq, 1, 0, &ready), -CAPDRV_ETIMEDOUT);
    done(&t);
}

static void t_brokered_out_of_ledger(void **state)
{
    (void)state;
    refused_out_of_ledger(false);
}

static void t_direct_out_of_ledger(void **state)
{
    (void)state;
    refused_out_of_ledger(true);
}

/* Ring areas outside the ledger are refused at QueueReady. */
static void t_ready_out_of_ledger(void **state)
{
    (void)state;
    for (int iommu = 0; iommu < 2; iommu++) {
        struct vt t;
        machine(&t, iommu, "virtio_mmio");
        t.grant = fx_open(t.f.p1, "vblk");
        t.mmio = fx_mmio(t.f.p1, t.grant, 0);
        assert_int_equal(capdrv_pool_open(t.f.p1, t.grant, &t.pool), 0);
        assert_int_equal(capdrv_dma_alloc(t.f.p1, t.pool, 4096, &t.ring, &t.ri), 0);
        negotiate(&t, F_VERSION_1);
        w(&t, Q_SEL, 0);
        w(&t, Q_NUM, QSIZE);
        uint64_t ref = capdrv_dma_ref(&t.ri, 0);
        w(&t, Q_DESC_LO, ref & 0xffffffffu);
        w(&t, Q_DESC_LO + 4, ref >> 32);
        /* the used ring runs past the end of the buffer */
        uint64_t bad = capdrv_dma_ref(&t.ri, 4096 - 8);
        w(&t, Q_DRIVER_LO, ref & 0xffffffffu);
        w(&t, Q_DRIVER_LO + 4, ref >> 32);
        w(&t, Q_DEVICE_LO, bad & 0xffffffffu);
        w(&t, Q_DEVICE_LO + 4, bad >> 32);
        assert_int_equal(capdrv_mmio_write(t.f.p1, t.mmio, Q_READY, 4, 1), -CAPDRV_EFAULT);
        assert_int_equal(r(&t, Q_READY), 0); /* the device was never told */
        done(&t);
    }
}

static void t_brokered_rewrite_after_notify(void **state)
{
    (void)state;
    struct vt t;
    bring_up(&t, false, F_VERSION_1);
    assert_int_equal(capdrv_sim_virtio_set_fault(t.f.sim, t.fn_blk, CAPDRV_SIM_VIRTIO_FAULT_DELAY), 0);
    uint8_t *io = t.ii.cpu;
    memset(io + IO_DATA, 0x11, 512);
    memset(io + IO_DATA2, 0x22, 512);
    blk_request(&t, 1, 3, IO_DATA);
    assert_int_equal(publish(&t, 0), 0);
    desc(&t, 1, capdrv_dma_ref(&t.ii, IO_DATA2), 512, 1, 2);
    capdrv_sim_advance(t.f.sim, 1000000000ull);
    assert_int_equal(used_idx(&t), 1);
    uint8_t store[512];
    assert_int_equal(capdrv_sim_virtio_blk_data(t.f.sim, t.fn_blk, 3 * 512, store, 512, false), 0);
    assert_int_equal(store[0], 0x11);
    assert_int_equal(store[511], 0x11);
    done(&t);
}

static void t_direct_indirect(void **state)
{
    (void)state;
    struct vt t;
    bring_up(&t, true, F_VERSION_1 | F_INDIRECT);
    uint8_t *io = t.ii.cpu;
    memset(io + IO_DATA, 0x5a, 512);
    blk_request(&t, 1, 9, IO_DATA);
    memcpy(io + 1024, (uint8_t *)t.ri.cpu + RING_DESC, 48);
    desc(&t, 0, capdrv_dma_ref(&t.ii, 1024), 48, 4 /* INDIRECT */, 0);
    assert_int_equal(publish(&t, 0), 0);
    assert_int_equal(used_idx(&t), 1);
    uint8_t store[512];
    assert_int_equal(capdrv_sim_virtio_blk_data(t.f.sim, t.fn_blk, 9 * 512, store, 512, false), 0);
    assert_int_equal(store[100], 0x5a);
    put_le(io + 1024 + 16, 8, capdrv_dma_ref(&t.ii, 0) + (1ull << 30));
    assert_int_equal(publish(&t, 0), -CAPDRV_EFAULT);
    assert_int_equal(used_idx(&t), 1);
    done(&t);
}

static void t_malformed_rings(void **state)
{
    (void)state;
    struct vt t;
    bring_up(&t, false, F_VERSION_1);
    blk_request(&t, 1, 1, IO_DATA);
    desc(&t, 2, capdrv_dma_ref(&t.ii, IO_STATUS), 1, 2 | 1, 0); /* loops back to 0 */
    assert_int_equal(publish(&t, 0), -CAPDRV_EPROTO);
    desc(&t, 2, capdrv_dma_ref(&t.ii, IO_STATUS), 1, 2 | 1, QSIZE); /* next out of range */
    assert_int_equal(capdrv_mmio_write(t.f.p1, t.mmio, Q_NOTIFY, 4, 0), -CAPDRV_EPROTO);
    put_le((uint8_t *)t.ri.cpu + RING_AVAIL + 2, 2, 100); /* idx jumps past a ring */
    assert_int_equal(capdrv_mmio_write(t.f.p1, t.mmio, Q_NOTIFY, 4, 0), -CAPDRV_EPROTO);
    put_le((uint8_t *)t.ri.cpu + RING_AVAIL + 2, 2, 1);
    put_le((uint8_t *)t.ri.cpu + RING_AVAIL + 4, 2, QSIZE + 3); /* head out of range */
    assert_int_equal(capdrv_mmio_write(t.f.p1, t.mmio, Q_NOTIFY, 4, 0), -CAPDRV_EPROTO);
    assert_int_equal(used_idx(&t), 0);
    done(&t);
}

/* ---- reset ---------------------------------------------------------------------- */

static void t_reset_drops_shadow(void **state)
{
    (void)state;
    struct vt t;
    bring_up(&t, false, F_VERSION_1);
    struct capdrv_shim_stats st;
    assert_int_equal(capdrv_shim_stats(t.f.shim, &st), 0);
    assert_int_equal(st.dma_buffers, 3); /* ring, io, and the shim's shadow ring */
    w(&t, STATUS, 0); /* §4.2.2.1: reset */
    assert_int_equal(capdrv_shim_stats(t.f.shim, &st), 0);
    assert_int_equal(st.dma_buffers, 2);
    assert_int_equal(st.dma_inflight, 0);
    assert_int_equal(r(&t, Q_READY), 0);
    memset((uint8_t *)t.ri.cpu, 0, 4096); /* a fresh ring */
    negotiate(&t, F_VERSION_1);
    setup_queue(&t);
    write_then_read(&t);
    done(&t);
}

static void t_release_live_ring_resets(void **state)
{
    (void)state;
    struct vt t;
    bring_up(&t, false, F_VERSION_1);
    unsigned resets = capdrv_sim_reset_count(t.f.sim, t.fn_blk);
    assert_int_equal(capdrv_cap_release(t.f.p1, t.ring), 0);
    assert_int_equal(capdrv_sim_reset_count(t.f.sim, t.fn_blk), resets + 1);
    assert_int_equal(r(&t, STATUS), 0);
    struct capdrv_shim_stats st;
    assert_int_equal(capdrv_shim_stats(t.f.shim, &st), 0);
    assert_int_equal(st.dma_buffers, 1); /* io only: the shadow went with the reset */
    done(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_bind_and_info),
        cmocka_unit_test(t_bind_refusals),
        cmocka_unit_test(t_sim_add_rules),
        cmocka_unit_test(t_any_function),
        cmocka_unit_test(t_features_brokered),
        cmocka_unit_test(t_features_direct),
        cmocka_unit_test(t_register_rules),
        cmocka_unit_test(t_brokered_roundtrip),
        cmocka_unit_test(t_direct_roundtrip),
        cmocka_unit_test(t_polling),
        cmocka_unit_test(t_brokered_out_of_ledger),
        cmocka_unit_test(t_direct_out_of_ledger),
        cmocka_unit_test(t_ready_out_of_ledger),
        cmocka_unit_test(t_brokered_rewrite_after_notify),
        cmocka_unit_test(t_direct_indirect),
        cmocka_unit_test(t_malformed_rings),
        cmocka_unit_test(t_reset_drops_shadow),
        cmocka_unit_test(t_release_live_ring_resets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
