/* The virtio PCI profile of the shim (kernel-shim/profiles/virtio_*.c),
 * driven by a hand-written provider over the sim's virtio-blk function:
 * register rules, hidden features, and both DMA lanes at queue enable and
 * at notify (VIRTIO 1.2 §4.1, §2.7). The ring is built by hand here so the
 * tests depend on the shim and the device model only. */
#include "fixture.h"

#include <string.h>

/* Sim virtio-blk layout (include/capdrv/sim.h): BAR0 structures. */
#define COMMON 0x0000u
#define DEVCFG 0x2000u
#define NOTIFY 0x3000u
#define NOTIFY_MULT 4u

/* §4.1.4.3 common configuration offsets. */
#define DEV_FEAT_SEL 0x00
#define DEV_FEAT 0x04
#define DRV_FEAT_SEL 0x08
#define DRV_FEAT 0x0c
#define NUM_QUEUES 0x12
#define STATUS 0x14
#define Q_SELECT 0x16
#define Q_SIZE 0x18
#define Q_ENABLE 0x1c
#define Q_NOTIFY_OFF 0x1e
#define Q_DESC 0x20
#define Q_DRIVER 0x28
#define Q_DEVICE 0x30
#define Q_RESET 0x3a

#define QSIZE 8u
#define RING_DESC 0u
#define RING_AVAIL 128u /* 16 * QSIZE */
#define RING_USED 256u
#define IO_HDR 0u
#define IO_STATUS 16u
#define IO_DATA 4096u
#define IO_DATA2 6144u

struct vt {
    struct fx f;
    unsigned fn_blk;
    capdrv_cap_t grant, mmio, pool, ring, io;
    struct capdrv_dmabuf_info ri, ii;
    uint16_t notify_off;
    uint16_t qi; /* the queue publish() notifies (§4.1.5.2: the value written) */
    capdrv_cap_t nmmio; /* the window publish() rings through (0: mmio, at NOTIFY) */
};

static void w(struct vt *t, uint64_t off, unsigned width, uint64_t v)
{
    assert_int_equal(capdrv_mmio_write(t->f.p1, t->mmio, off, width, v), 0);
}

static uint64_t r(struct vt *t, uint64_t off, unsigned width)
{
    uint64_t v = 0;
    assert_int_equal(capdrv_mmio_read(t->f.p1, t->mmio, off, width, &v), 0);
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

/* A sim machine with the virtio-blk function (shape @cfg, NULL: defaults)
 * and no shim yet (the caps tests edit its config space first). */
static void blk_machine(struct vt *t, bool iommu, const struct capdrv_sim_virtio_blk_config *cfg)
{
    memset(t, 0, sizeof *t);
    fx_machine(&t->f, iommu);
    struct capdrv_pci_addr a6 = {0, 0, 6, 0};
    assert_int_equal(capdrv_sim_add_virtio_blk(t->f.sim, &a6, cfg, &t->fn_blk), 0);
}

static void machine(struct vt *t, bool iommu, const char *manifest)
{
    blk_machine(t, iommu, NULL);
    assert_int_equal(fx_shim(&t->f, manifest), 0);
    assert_int_equal(capdrv_shim_connect(t->f.shim, "p1", &t->f.p1), 0);
}

/* Status machine up to FEATURES_OK (§3.1.1), accepting @features. */
static void negotiate(struct vt *t, uint64_t features)
{
    w(t, COMMON + STATUS, 1, 0);
    assert_int_equal(r(t, COMMON + STATUS, 1), 0);
    w(t, COMMON + STATUS, 1, 1);     /* ACKNOWLEDGE */
    w(t, COMMON + STATUS, 1, 1 | 2); /* DRIVER */
    w(t, COMMON + DRV_FEAT_SEL, 4, 0);
    w(t, COMMON + DRV_FEAT, 4, features & 0xffffffffu);
    w(t, COMMON + DRV_FEAT_SEL, 4, 1);
    w(t, COMMON + DRV_FEAT, 4, features >> 32);
    w(t, COMMON + STATUS, 1, 1 | 2 | 8); /* FEATURES_OK */
    assert_int_equal(r(t, COMMON + STATUS, 1) & 8, 8);
}

static void setup_queue(struct vt *t)
{
    w(t, COMMON + Q_SELECT, 2, 0);
    assert_true(r(t, COMMON + Q_SIZE, 2) >= QSIZE);
    w(t, COMMON + Q_SIZE, 2, QSIZE);
    t->notify_off = (uint16_t)r(t, COMMON + Q_NOTIFY_OFF, 2);
    w(t, COMMON + Q_DESC, 8, capdrv_dma_ref(&t->ri, RING_DESC));
    w(t, COMMON + Q_DRIVER, 4, capdrv_dma_ref(&t->ri, RING_AVAIL) & 0xffffffffu);
    w(t, COMMON + Q_DRIVER + 4, 4, capdrv_dma_ref(&t->ri, RING_AVAIL) >> 32);
    w(t, COMMON + Q_DEVICE, 8, capdrv_dma_ref(&t->ri, RING_USED));
    w(t, COMMON + Q_ENABLE, 2, 1);
    w(t, COMMON + STATUS, 1, 1 | 2 | 4 | 8); /* DRIVER_OK */
}

/* Claim the grant, allocate a ring and an I/O buffer, bring queue 0 up. */
/* Claim grant vblk of a connected p1 through window @w (the registers),
 * enable memory and bus mastering, allocate the ring and I/O buffers. */
static void claim(struct vt *t, unsigned w)
{
    t->grant = fx_open(t->f.p1, "vblk");
    t->mmio = fx_mmio(t->f.p1, t->grant, w);
    assert_int_equal(capdrv_cfg_write(t->f.p1, t->grant, 0x04, 2, 0x0006), 0); /* MEM|MASTER */
    assert_int_equal(capdrv_pool_open(t->f.p1, t->grant, &t->pool), 0);
    assert_int_equal(capdrv_dma_alloc(t->f.p1, t->pool, 4096, &t->ring, &t->ri), 0);
    assert_int_equal(capdrv_dma_alloc(t->f.p1, t->pool, 8192, &t->io, &t->ii), 0);
}

static void bring_up(struct vt *t, bool iommu, uint64_t features)
{
    machine(t, iommu, "virtio");
    claim(t, 0);
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

static uint16_t avail_idx(struct vt *t)
{
    return (uint16_t)get_le((uint8_t *)t->ri.cpu + RING_AVAIL + 2, 2);
}

static uint16_t used_idx(struct vt *t)
{
    return (uint16_t)get_le((uint8_t *)t->ri.cpu + RING_USED + 2, 2);
}

/* Publish head @head and notify; returns the notify's rc. */
static int publish(struct vt *t, uint16_t head)
{
    uint8_t *a = (uint8_t *)t->ri.cpu + RING_AVAIL;
    uint16_t idx = avail_idx(t);
    put_le(a + 4 + 2 * (idx % QSIZE), 2, head);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    put_le(a + 2, 2, (uint16_t)(idx + 1));
    if (t->nmmio)
        return capdrv_mmio_write(t->f.p1, t->nmmio, t->notify_off * NOTIFY_MULT, 2, t->qi);
    return capdrv_mmio_write(t->f.p1, t->mmio, NOTIFY + t->notify_off * NOTIFY_MULT, 2, t->qi);
}

/* A three-descriptor OUT/IN request at descriptors 0..2. */
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

static void done(struct vt *t)
{
    fx_done(&t->f);
}

#define F_VERSION_1 (1ull << 32)
#define F_INDIRECT (1ull << 28)
#define F_EVENT_IDX (1ull << 29)

static void t_legacy_refused(void **state)
{
    (void)state;
    struct fx f;
    fx_machine(&f, false);
    struct capdrv_pci_addr a7 = {0, 0, 7, 0};
    unsigned fn;
    assert_int_equal(capdrv_sim_add_scratch(f.sim, &a7, 0x1af4, 0x1001, 0x010000, &fn), 0);
    assert_int_equal(fx_shim(&f, "virtio_legacy"), -CAPDRV_ENODEV);
    assert_non_null(strstr(f.why, "legacy"));
    fx_done(&f);
}

static void check_features(bool iommu)
{
    struct vt t;
    machine(&t, iommu, "virtio");
    t.grant = fx_open(t.f.p1, "vblk");
    t.mmio = fx_mmio(t.f.p1, t.grant, 0);
    w(&t, COMMON + DEV_FEAT_SEL, 4, 0);
    uint64_t lo = r(&t, COMMON + DEV_FEAT, 4);
    w(&t, COMMON + DEV_FEAT_SEL, 4, 1);
    uint64_t hi = r(&t, COMMON + DEV_FEAT, 4);
    assert_true(hi & 1); /* VERSION_1 stays visible */
    /* Brokered: the shim must see every publish, so no EVENT_IDX, and no
     * indirect tables; direct: both offered. */
    assert_int_equal(!!(lo & F_EVENT_IDX), iommu);
    assert_int_equal(!!(lo & F_INDIRECT), iommu);
    w(&t, COMMON + DRV_FEAT_SEL, 4, 0);
    assert_int_equal(capdrv_mmio_write(t.f.p1, t.mmio, COMMON + DRV_FEAT, 4, F_EVENT_IDX),
                     iommu ? 0 : -CAPDRV_EPERM);
    /* RING_PACKED (34) is hidden on both lanes. */
    w(&t, COMMON + DRV_FEAT_SEL, 4, 1);
    assert_int_equal(capdrv_mmio_write(t.f.p1, t.mmio, COMMON + DRV_FEAT, 4, 1u << 2),
                     -CAPDRV_EPERM);
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

static void write_then_read(struct vt *t)
{
    uint8_t *io = t->ii.cpu;
    for (unsigned i = 0; i < 512; i++)
        io[IO_DATA + i] = (uint8_t)(i * 7 + 3);
    blk_request(t, 1 /* OUT */, 5, IO_DATA);
    assert_int_equal(publish(t, 0), 0);
    assert_int_equal(used_idx(t), 1);
    assert_int_equal(io[IO_STATUS], 0);
    uint8_t store[512];
    assert_int_equal(capdrv_sim_virtio_blk_data(t->f.sim, t->fn_blk, 5 * 512, store, 512, false), 0);
    assert_memory_equal(store, io + IO_DATA, 512);
    blk_request(t, 0 /* IN */, 5, IO_DATA2);
    assert_int_equal(publish(t, 0), 0);
    assert_int_equal(used_idx(t), 2);
    const uint8_t *u = (uint8_t *)t->ri.cpu + RING_USED + 4 + 8;
    assert_int_equal(get_le(u, 4), 0);       /* id: head 0 */
    assert_int_equal(get_le(u + 4, 4), 513); /* data + status byte */
    assert_memory_equal(io + IO_DATA2, io + IO_DATA, 512);
}

/* Write a virtio vendor capability at config offset @at (§4.1.4 layout:
 * cap_vndr, cap_next, cap_len, cfg_type, bar, id, padding, offset, length,
 * then notify_off_multiplier for a notify capability), as far as the
 * 256-byte header holds it. */
static void put_cap(struct vt *t, uint32_t at, uint8_t next, uint8_t cap_len, uint8_t type,
                    uint8_t bar, uint32_t off, uint32_t len, uint32_t mult)
{
    const uint32_t words[5] = {0x09u | (uint32_t)next << 8 | (uint32_t)cap_len << 16 |
                                   (uint32_t)type << 24,
                               bar, off, len, mult};
    for (unsigned i = 0; i < 5 && at + 4 * i < 0x100; i++)
        assert_int_equal(capdrv_sim_cfg_poke(t->f.sim, t->fn_blk, at + 4 * i, 4, words[i]), 0);
}

/* Sim virtio config space (kernel-shim/platforms/sim/sim_pci.c): MSI-X at
 * 0x80 chains to the virtio capabilities common 0x8c, notify 0x9c, ISR
 * 0xb0, device 0xc0, PCI cfg 0xd0 (ends at 0xe4). */
#define SIM_DEVICE_CAP 0xc0u

/* The shim picks, like the library (src/virtio/pci.c), the first structure
 * of each type a driver can use (§4.1.4.1) and skips the others. Three
 * notify/common capabilities a driver cannot use come first here: one
 * truncated by the end of the header, one outside every BAR, one with
 * multiplier 3 (§4.1.4.4: 0 or an even power of two). Before, the shim
 * refused such a device, or checked doorbells at the first notify
 * structure's multiplier, where the library and the device do not ring. */
static void t_caps_first_usable(void **state)
{
    (void)state;
    struct vt t;
    struct capdrv_sim_virtio_blk_config cfg = {.num_queues = 2};
    blk_machine(&t, false, &cfg);
    uint32_t first = 0;
    assert_int_equal(t.f.hw.ops->cfg_read(t.f.hw.ctx, t.fn_blk, 0x34, 1, &first), 0);
    /* The PCI cfg capability's room (0xd0..0xff) takes the three. */
    assert_int_equal(capdrv_sim_cfg_poke(t.f.sim, t.fn_blk, SIM_DEVICE_CAP + 1, 1, 0), 0);
    put_cap(&t, 0xd0, (uint8_t)first, 20, 2, 0, NOTIFY, 0x1000, 3); /* multiplier 3 */
    put_cap(&t, 0xe4, 0xd0, 20, 2, 0, 0x10000, 0x1000, 8);          /* outside BAR0 */
    put_cap(&t, 0xf8, 0xe4, 16, 1, 0, COMMON, 0x40, 0);             /* past 0x100 */
    assert_int_equal(capdrv_sim_cfg_poke(t.f.sim, t.fn_blk, 0x34, 1, 0xf8), 0);
    int rc = fx_shim(&t.f, "virtio");
    if (rc)
        print_error("shim: %s\n", t.f.why);
    assert_int_equal(rc, 0);
    assert_int_equal(capdrv_shim_connect(t.f.shim, "p1", &t.f.p1), 0);
    claim(&t, 0);
    negotiate(&t, F_VERSION_1);
    /* Queue 1 (queue_notify_off 1): its doorbell is NOTIFY + 1 * 4. */
    w(&t, COMMON + Q_SELECT, 2, 1);
    assert_int_equal(r(&t, COMMON + Q_NOTIFY_OFF, 2), 1);
    w(&t, COMMON + Q_SIZE, 2, QSIZE);
    w(&t, COMMON + Q_DESC, 8, capdrv_dma_ref(&t.ri, RING_DESC));
    w(&t, COMMON + Q_DRIVER, 8, capdrv_dma_ref(&t.ri, RING_AVAIL));
    w(&t, COMMON + Q_DEVICE, 8, capdrv_dma_ref(&t.ri, RING_USED));
    w(&t, COMMON + Q_ENABLE, 2, 1);
    w(&t, COMMON + STATUS, 1, 1 | 2 | 4 | 8);
    t.notify_off = 1;
    t.qi = 1;
    write_then_read(&t);
    /* The first notify structure's multiplier would put it at NOTIFY + 3. */
    assert_true(capdrv_mmio_write(t.f.p1, t.mmio, NOTIFY + 3, 2, 1) < 0);
    done(&t);
}

/* The first notify structure lies in the device configuration range, which
 * this grant only exposes read-only (manifests/virtio_split.dts): a driver
 * cannot ring it, so the library takes the next one, and so must the shim
 * (§4.1.4.1 "the first instance it can support"). */
/* A next pointer of 1..3 ends the capability list (PCI Local Bus 3.0 §6.7:
 * its two low bits are reserved), for the shim as for the library. */
static void t_caps_next_pointer_low_bits(void **state)
{
    (void)state;
    struct vt t;
    blk_machine(&t, false, NULL);
    /* The PCI cfg capability at 0xd0 is the list's last: its next := 2. */
    assert_int_equal(capdrv_sim_cfg_poke(t.f.sim, t.fn_blk, 0xd1, 1, 2), 0);
    int rc = fx_shim(&t.f, "virtio");
    if (rc)
        print_error("shim: %s\n", t.f.why);
    assert_int_equal(rc, 0);
    done(&t);
}

static void t_caps_outside_windows(void **state)
{
    (void)state;
    struct vt t;
    blk_machine(&t, false, NULL);
    uint32_t first = 0;
    assert_int_equal(t.f.hw.ops->cfg_read(t.f.hw.ctx, t.fn_blk, 0x34, 1, &first), 0);
    assert_int_equal(capdrv_sim_cfg_poke(t.f.sim, t.fn_blk, SIM_DEVICE_CAP + 1, 1, 0), 0);
    put_cap(&t, 0xd0, (uint8_t)first, 20, 2, 0, DEVCFG, 0x1000, NOTIFY_MULT);
    assert_int_equal(capdrv_sim_cfg_poke(t.f.sim, t.fn_blk, 0x34, 1, 0xd0), 0);
    assert_int_equal(fx_shim(&t.f, "virtio_split"), 0);
    assert_int_equal(capdrv_shim_connect(t.f.shim, "p1", &t.f.p1), 0);
    claim(&t, 0);                          /* window-common, at BAR0 offset 0 */
    t.nmmio = fx_mmio(t.f.p1, t.grant, 3); /* window-notify, at BAR0 offset NOTIFY */
    negotiate(&t, F_VERSION_1);
    setup_queue(&t);
    write_then_read(&t);
    done(&t);
}

static void t_brokered_roundtrip(void **state)
{
    (void)state;
    struct vt t;
    bring_up(&t, false, F_VERSION_1);
    write_then_read(&t);
    /* No host-physical value reaches the provider: the queue registers
     * read back the provider's own tokens, not the shadow's addresses. */
    w(&t, COMMON + Q_SELECT, 2, 0);
    assert_int_equal(r(&t, COMMON + Q_DESC, 8), capdrv_dma_ref(&t.ri, RING_DESC));
    assert_int_equal(r(&t, COMMON + Q_DRIVER, 8), capdrv_dma_ref(&t.ri, RING_AVAIL));
    assert_int_equal(r(&t, COMMON + Q_DEVICE, 8), capdrv_dma_ref(&t.ri, RING_USED));
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

static void refused_out_of_ledger(bool iommu)
{
    struct vt t;
    bring_up(&t, iommu, F_VERSION_1);
    struct capdrv_shim_stats before, after;
    assert_int_equal(capdrv_shim_stats(t.f.shim, &before), 0);
    blk_request(&t, 1, 1, IO_DATA);
    /* brokered: a token of the wrong generation; direct: an IOVA past the
     * end of the buffer (into the guard page). */
    uint64_t bad = iommu ? capdrv_dma_ref(&t.ii, 0) + 8192 : capdrv_dma_ref(&t.ii, IO_DATA) ^ (1ull << 48);
    desc(&t, 1, bad, 512, 1, 2);
    assert_int_equal(publish(&t, 0), -CAPDRV_EFAULT);
    assert_int_equal(used_idx(&t), 0); /* the device saw nothing */
    assert_int_equal(((uint8_t *)t.ii.cpu)[IO_STATUS], 0xee);
    assert_int_equal(capdrv_shim_stats(t.f.shim, &after), 0);
    assert_int_equal(after.refused_notify, before.refused_notify + 1);
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
    /* After the notify the provider points the data descriptor elsewhere;
     * the device works from the shim's copy. */
    desc(&t, 1, capdrv_dma_ref(&t.ii, IO_DATA2), 512, 1, 2);
    capdrv_sim_advance(t.f.sim, 1000000000ull);
    assert_int_equal(used_idx(&t), 1);
    uint8_t store[512];
    assert_int_equal(capdrv_sim_virtio_blk_data(t.f.sim, t.fn_blk, 3 * 512, store, 512, false), 0);
    assert_int_equal(store[0], 0x11);
    assert_int_equal(store[511], 0x11);
    done(&t);
}

/* A refused notify changes nothing the device sees (§2.7.13: the shim
 * publishes all of a notify or none of it), even when it re-publishes a
 * head whose chain the device still holds: the shim stages every chain and
 * copies to its shadow only after the last one passed. */
static void t_brokered_refused_notify_keeps_inflight(void **state)
{
    (void)state;
    struct vt t;
    bring_up(&t, false, F_VERSION_1);
    assert_int_equal(capdrv_sim_virtio_set_fault(t.f.sim, t.fn_blk, CAPDRV_SIM_VIRTIO_FAULT_DELAY), 0);
    uint8_t *io = t.ii.cpu;
    memset(io + IO_DATA, 0x11, 512);
    memset(io + IO_DATA2, 0x22, 512);
    blk_request(&t, 1, 3, IO_DATA);
    assert_int_equal(publish(&t, 0), 0); /* the device holds head 0 (delayed) */
    /* One notify publishes head 0 again, pointed at other data, and head
     * 3, whose buffer is outside the ledger. */
    desc(&t, 1, capdrv_dma_ref(&t.ii, IO_DATA2), 512, 1, 2);
    desc(&t, 3, capdrv_dma_ref(&t.ii, IO_DATA) ^ (1ull << 48), 512, 0, 0);
    uint8_t *a = (uint8_t *)t.ri.cpu + RING_AVAIL;
    uint16_t idx = avail_idx(&t);
    put_le(a + 4 + 2 * (idx % QSIZE), 2, 0);
    put_le(a + 4 + 2 * ((idx + 1) % QSIZE), 2, 3);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    put_le(a + 2, 2, (uint16_t)(idx + 2));
    assert_int_equal(capdrv_mmio_write(t.f.p1, t.mmio, NOTIFY + t.notify_off * NOTIFY_MULT, 2, 0),
                     -CAPDRV_EFAULT);
    capdrv_sim_advance(t.f.sim, 1000000000ull);
    assert_int_equal(used_idx(&t), 1); /* only the first publish */
    uint8_t store[512];
    assert_int_equal(capdrv_sim_virtio_blk_data(t.f.sim, t.fn_blk, 3 * 512, store, 512, false), 0);
    assert_int_equal(store[0], 0x11); /* the held chain still names IO_DATA */
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
    blk_request(&t, 1, 9, IO_DATA); /* fills descriptors 0..2 */
    /* Move them into an indirect table at io+1024 (§2.7.5.3). */
    memcpy(io + 1024, (uint8_t *)t.ri.cpu + RING_DESC, 48);
    desc(&t, 0, capdrv_dma_ref(&t.ii, 1024), 48, 4 /* INDIRECT */, 0);
    assert_int_equal(publish(&t, 0), 0);
    assert_int_equal(used_idx(&t), 1);
    uint8_t store[512];
    assert_int_equal(capdrv_sim_virtio_blk_data(t.f.sim, t.fn_blk, 9 * 512, store, 512, false), 0);
    assert_int_equal(store[100], 0x5a);
    /* An out-of-ledger range inside an indirect table is refused too. */
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
    assert_int_equal(capdrv_mmio_write(t.f.p1, t.mmio, NOTIFY, 2, 0), -CAPDRV_EPROTO);
    /* an avail index that jumps by more than the queue size */
    put_le((uint8_t *)t.ri.cpu + RING_AVAIL + 2, 2, 100);
    assert_int_equal(capdrv_mmio_write(t.f.p1, t.mmio, NOTIFY, 2, 0), -CAPDRV_EPROTO);
    /* a head out of range */
    put_le((uint8_t *)t.ri.cpu + RING_AVAIL + 2, 2, 1);
    put_le((uint8_t *)t.ri.cpu + RING_AVAIL + 4, 2, QSIZE + 3);
    assert_int_equal(capdrv_mmio_write(t.f.p1, t.mmio, NOTIFY, 2, 0), -CAPDRV_EPROTO);
    assert_int_equal(used_idx(&t), 0);
    done(&t);
}

static void t_register_rules(void **state)
{
    (void)state;
    struct vt t;
    bring_up(&t, false, F_VERSION_1);
    capdrv_sys *p = t.f.p1;
    uint64_t v;
    assert_int_equal(capdrv_mmio_read(p, t.mmio, NOTIFY, 2, &v), -CAPDRV_EPERM);
    assert_int_equal(capdrv_mmio_write(p, t.mmio, NOTIFY, 4, 0), -CAPDRV_EINVAL); /* width */
    assert_int_equal(capdrv_mmio_write(p, t.mmio, NOTIFY, 2, 1), -CAPDRV_EINVAL); /* queue 1 off */
    assert_int_equal(capdrv_mmio_write(p, t.mmio, COMMON + NUM_QUEUES, 2, 4), -CAPDRV_EPERM);
    assert_int_equal(capdrv_mmio_write(p, t.mmio, COMMON + STATUS, 2, 0), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_mmio_write(p, t.mmio, COMMON + Q_ENABLE, 2, 0), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_mmio_write(p, t.mmio, COMMON + Q_RESET, 2, 1), -CAPDRV_EPERM);
    assert_int_equal(capdrv_mmio_write(p, t.mmio, COMMON + Q_DESC, 8, 0), -CAPDRV_EBUSY);
    assert_int_equal(capdrv_mmio_write(p, t.mmio, COMMON + Q_SIZE, 2, 4), -CAPDRV_EBUSY);
    /* a queue the profile does not track cannot be selected */
    assert_int_equal(capdrv_mmio_write(p, t.mmio, COMMON + Q_SELECT, 2, 64), -CAPDRV_EINVAL);
    assert_int_equal(r(&t, COMMON + Q_SELECT, 2), 0);
    assert_int_equal(capdrv_mmio_write(p, t.mmio, COMMON + Q_SIZE, 2, 4), -CAPDRV_EBUSY);
    assert_int_equal(capdrv_mmio_read(p, t.mmio, COMMON + 0x3e, 2, &v), -CAPDRV_EFAULT);
    assert_int_equal(capdrv_mmio_read(p, t.mmio, 0x1800, 4, &v), -CAPDRV_EFAULT);
    assert_int_equal(capdrv_mmio_read(p, t.mmio, DEVCFG, 8, &v), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_mmio_read(p, t.mmio, DEVCFG, 4, &v), 0); /* capacity, low half */
    assert_int_equal(capdrv_mmio_write(p, t.mmio, 0x1000, 1, 0), -CAPDRV_EPERM); /* ISR */
    done(&t);
}

static void t_reset_drops_shadow(void **state)
{
    (void)state;
    struct vt t;
    bring_up(&t, false, F_VERSION_1);
    struct capdrv_shim_stats st;
    assert_int_equal(capdrv_shim_stats(t.f.shim, &st), 0);
    assert_int_equal(st.dma_buffers, 3); /* ring, io, and the shim's shadow ring */
    w(&t, COMMON + STATUS, 1, 0);
    assert_int_equal(capdrv_shim_stats(t.f.shim, &st), 0);
    assert_int_equal(st.dma_buffers, 2);
    assert_int_equal(st.dma_inflight, 0);
    /* After the reset the queue can be set up again from scratch. */
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
    /* The device still uses the ring: releasing it must stop the device. */
    assert_int_equal(capdrv_cap_release(t.f.p1, t.ring), 0);
    assert_int_equal(capdrv_sim_reset_count(t.f.sim, t.fn_blk), resets + 1);
    struct capdrv_shim_stats st;
    assert_int_equal(capdrv_shim_stats(t.f.shim, &st), 0);
    assert_int_equal(st.dma_buffers, 1); /* io only: the shadow went with the reset */
    done(&t);
}

/* Shim creation with the virtio manifest (the profile's state, its
 * capability walk): each environment allocation failing in turn gives
 * -CAPDRV_ENOMEM, no shim and no leak (fx_done checks). */
static void t_bind_alloc_sweep(void **state)
{
    (void)state;
    for (unsigned long n = 1;; n++) {
        struct vt t;
        memset(&t, 0, sizeof t);
        fx_machine(&t.f, false);
        struct capdrv_pci_addr a6 = {0, 0, 6, 0};
        assert_int_equal(capdrv_sim_add_virtio_blk(t.f.sim, &a6, NULL, &t.fn_blk), 0);
        capdrv_env_hosted_fail_alloc(t.f.env, n);
        int rc = fx_shim(&t.f, "virtio");
        capdrv_env_hosted_fail_alloc(t.f.env, 0);
        if (rc == 0) {
            fx_done(&t.f);
            assert_true(n > 1);
            return;
        }
        assert_int_equal(rc, -CAPDRV_ENOMEM);
        assert_null(t.f.shim);
        fx_done(&t.f);
        assert_true(n < 1000);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_legacy_refused),
        cmocka_unit_test(t_features_brokered),
        cmocka_unit_test(t_features_direct),
        cmocka_unit_test(t_brokered_roundtrip),
        cmocka_unit_test(t_direct_roundtrip),
        cmocka_unit_test(t_brokered_out_of_ledger),
        cmocka_unit_test(t_direct_out_of_ledger),
        cmocka_unit_test(t_brokered_rewrite_after_notify),
        cmocka_unit_test(t_direct_indirect),
        cmocka_unit_test(t_malformed_rings),
        cmocka_unit_test(t_register_rules),
        cmocka_unit_test(t_brokered_refused_notify_keeps_inflight),
        cmocka_unit_test(t_caps_first_usable),
        cmocka_unit_test(t_caps_outside_windows),
        cmocka_unit_test(t_caps_next_pointer_low_bits),
        cmocka_unit_test(t_reset_drops_shadow),
        cmocka_unit_test(t_release_live_ring_resets),
        cmocka_unit_test(t_bind_alloc_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
