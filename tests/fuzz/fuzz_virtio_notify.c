/* Fuzz target: the kernel shim's virtio PCI profile at a notify
 * (kernel-shim/profiles/virtio_ring.c, virtio_pci.c) against a hostile
 * PROVIDER. A sim machine with one virtio-blk function is granted to
 * provider "fz"; the harness brings queue 0 up through the shim like a
 * minimal driver (status machine, Queue Size 8, rings in one DMA buffer)
 * and then runs the input as a script of provider operations:
 *
 *   descriptors (address among: references into the I/O or ring buffer
 *   with an offset, a released buffer's stale reference, an address past
 *   a buffer's end, a raw 64-bit value; any length, flags and next),
 *   indirect tables inside the I/O buffer, available ring entries and
 *   index (in step, jumps, raw), notifies (right or raw value and
 *   address), queue re-enable, release and re-allocation of the I/O
 *   buffer, function reset through the grant, simulated time, raw bytes
 *   into either buffer after a notify.
 *
 * Contract checked (docs/SECURITY.md, "virtio notify"):
 * - every provider call returns 0 or a negative CAPDRV_E code and nothing
 *   crashes (ASan/UBSan in the libFuzzer build);
 * - after every operation capdrv_sim_oracle_violations() == 0: the device
 *   never touched memory outside the live ledger entries of its grant. In
 *   the brokered lane it works from the shim's shadow ring, even when the
 *   device model holds the work (FAULT_DELAY) while the provider rewrites
 *   its own ring; in the direct lane the sim consumes each notify inside
 *   the doorbell write, right after the shim's check, so there is nothing
 *   an IOMMU would have to contain;
 * - after provider death and shim destroy: no ledger entry, no DMA region
 *   or mapping left, no environment allocation left.
 *
 * Input (reads past the end give zeros):
 *   byte 0  mode: bit 0 IOMMU (direct lane, with INDIRECT_DESC and
 *           EVENT_IDX offered), bit 1 FAULT_DELAY (brokered lane only)
 *   then operations, one op byte each (low 4 bits select, see enum op). */
#include "fuzz_common.h"

#include <string.h>

#include <libfdt.h>

#include <capdrv/error.h>
#include <capdrv/shim.h>
#include <capdrv/sim.h>
#include <capdrv/sys.h>

/* VIRTIO 1.2 §4.1.4.3 common configuration offsets. */
#define C_DRV_FEAT_SEL 0x08u
#define C_DRV_FEAT 0x0cu
#define C_STATUS 0x14u
#define C_Q_SELECT 0x16u
#define C_Q_SIZE 0x18u
#define C_Q_ENABLE 0x1cu
#define C_Q_NOTIFY_OFF 0x1eu
#define C_Q_DESC 0x20u
#define C_Q_DRIVER 0x28u
#define C_Q_DEVICE 0x30u

#define COMMON CAPDRV_SIM_VIRTIO_COMMON_OFF
#define NOTIFY CAPDRV_SIM_VIRTIO_NOTIFY_OFF
#define QSIZE 8u
#define R_DESC 0u
#define R_AVAIL 128u /* 16 * QSIZE */
#define R_USED 256u  /* avail: 6 + 2 * QSIZE, rounded up to 4 */
#define RING_LEN 4096u
#define IO_LEN 8192u
#define MAX_OPS 256u
#define MAX_ALLOCS 4u
#define MAX_RESETS 2u

#define F_INDIRECT (1ull << 28)
#define F_EVENT_IDX (1ull << 29)
#define F_VERSION_1 (1ull << 32)

enum op {
    OP_DESC = 0,   /* descriptor i := (addr, len, flags, next) */
    OP_CHAIN,      /* a well-formed 3-descriptor blk request at i..i+2 */
    OP_INDIRECT,   /* an indirect table entry inside the I/O buffer */
    OP_AVAIL,      /* avail ring slot := head */
    OP_IDX,        /* avail idx += k, or raw */
    OP_NOTIFY,     /* doorbell */
    OP_PUBLISH,    /* avail entry + idx + notify, the driver's way */
    OP_SCRIBBLE,   /* raw bytes into the ring or I/O buffer */
    OP_RELEASE,    /* release the I/O buffer */
    OP_ALLOC,      /* allocate it again */
    OP_RESET,      /* capdrv_grant_reset */
    OP_REENABLE,   /* status 0, then the bring-up again */
    OP_TIME,       /* simulated time */
    OP_N
};

struct drv {
    struct capdrv_sim *sim;
    capdrv_sys *sys;
    unsigned fn;
    bool direct, delay;
    capdrv_cap_t grant, mmio, pool, ring, io;
    struct capdrv_dmabuf_info ri, ii;
    uint64_t stale_ref;  /* a released buffer's reference, or 0 */
    uint16_t notify_off;
    unsigned allocs, resets;
};

/* ---- the fixed manifest, built once ------------------------------------- */

static uint64_t manifest_blob[256];
static size_t manifest_len;

#define FDT_OK(call) FUZZ_CHECK((call) == 0)

static void build_manifest(void)
{
    void *fdt = manifest_blob;
    FDT_OK(fdt_create(fdt, (int)sizeof manifest_blob));
    FDT_OK(fdt_finish_reservemap(fdt));
    FDT_OK(fdt_begin_node(fdt, ""));
    FDT_OK(fdt_property_string(fdt, "compatible", "capdrv,manifest-v1"));
    FDT_OK(fdt_begin_node(fdt, "grants"));
    FDT_OK(fdt_begin_node(fdt, "vblk"));
    FDT_OK(fdt_property_string(fdt, "provider", "fz"));
    FDT_OK(fdt_property_string(fdt, "class", "dma-capable"));
    fdt32_t id[2] = {cpu_to_fdt32(0x1af4), cpu_to_fdt32(0x1042)};
    FDT_OK(fdt_property(fdt, "match-id", id, sizeof id));
    FDT_OK(fdt_property_u64(fdt, "pool-quota", 0x40000));
    FDT_OK(fdt_property_u32(fdt, "pool-buffers", 8));
    FDT_OK(fdt_property_u32(fdt, "interrupts", 2));
    FDT_OK(fdt_begin_node(fdt, "window-bar0"));
    FDT_OK(fdt_property_u32(fdt, "bar", 0));
    FDT_OK(fdt_property_u64(fdt, "offset", 0));
    FDT_OK(fdt_property_u64(fdt, "length", CAPDRV_SIM_VIRTIO_BAR0_SIZE));
    FDT_OK(fdt_end_node(fdt));
    FDT_OK(fdt_end_node(fdt)); /* vblk */
    FDT_OK(fdt_end_node(fdt)); /* grants */
    FDT_OK(fdt_end_node(fdt)); /* / */
    FDT_OK(fdt_finish(fdt));
    manifest_len = fdt_totalsize(fdt);
}

/* ---- checks -------------------------------------------------------------- */

static void check_oracle(struct drv *d)
{
    unsigned long v = capdrv_sim_oracle_violations(d->sim);
    if (v) {
        struct capdrv_sim_violation last;
        if (capdrv_sim_oracle_last(d->sim, &last) == 0)
            fprintf(stderr, "fuzz_virtio_notify: device access outside the ledger at %#llx (+%llu)\n",
                    (unsigned long long)last.devaddr, (unsigned long long)last.len);
    }
    FUZZ_CHECK_MSG(v == 0, "oracle violations", v);
}

/* A provider call: 0 or a negative CAPDRV_E code, nothing else. */
static int called(int rc)
{
    FUZZ_CHECK_MSG(rc <= 0 && rc > -200, "provider call rc", rc);
    return rc;
}

/* ---- the driver ---------------------------------------------------------- */

static int w(struct drv *d, uint64_t off, unsigned width, uint64_t v)
{
    return called(capdrv_mmio_write(d->sys, d->mmio, off, width, v));
}

static uint64_t r(struct drv *d, uint64_t off, unsigned width)
{
    uint64_t v = 0;
    (void)called(capdrv_mmio_read(d->sys, d->mmio, off, width, &v));
    return v;
}

static void ring_clear(struct drv *d)
{
    if (d->ring)
        memset(d->ri.cpu, 0, RING_LEN);
}

/* §3.1.1 status machine and queue 0 (§4.1.5.1.3); false if the shim or
 * device refused a step (e.g. the I/O buffer is gone: nothing to check). */
static bool bring_up(struct drv *d)
{
    if (!d->ring)
        return false;
    ring_clear(d);
    uint64_t feat = F_VERSION_1 | (d->direct ? F_INDIRECT | F_EVENT_IDX : 0);
    if (w(d, COMMON + C_STATUS, 1, 0) < 0)
        return false;
    (void)r(d, COMMON + C_STATUS, 1);
    (void)w(d, COMMON + C_STATUS, 1, 1);
    (void)w(d, COMMON + C_STATUS, 1, 1 | 2);
    (void)w(d, COMMON + C_DRV_FEAT_SEL, 4, 0);
    (void)w(d, COMMON + C_DRV_FEAT, 4, feat & 0xffffffffu);
    (void)w(d, COMMON + C_DRV_FEAT_SEL, 4, 1);
    (void)w(d, COMMON + C_DRV_FEAT, 4, feat >> 32);
    (void)w(d, COMMON + C_STATUS, 1, 1 | 2 | 8);
    if (!(r(d, COMMON + C_STATUS, 1) & 8))
        return false;
    (void)w(d, COMMON + C_Q_SELECT, 2, 0);
    (void)w(d, COMMON + C_Q_SIZE, 2, QSIZE);
    d->notify_off = (uint16_t)r(d, COMMON + C_Q_NOTIFY_OFF, 2);
    (void)w(d, COMMON + C_Q_DESC, 8, capdrv_dma_ref(&d->ri, R_DESC));
    (void)w(d, COMMON + C_Q_DRIVER, 8, capdrv_dma_ref(&d->ri, R_AVAIL));
    (void)w(d, COMMON + C_Q_DEVICE, 8, capdrv_dma_ref(&d->ri, R_USED));
    if (w(d, COMMON + C_Q_ENABLE, 2, 1) < 0)
        return false;
    return w(d, COMMON + C_STATUS, 1, 1 | 2 | 4 | 8) == 0;
}

static bool alloc_io(struct drv *d)
{
    if (d->io || d->allocs >= MAX_ALLOCS)
        return false;
    d->allocs++;
    if (called(capdrv_dma_alloc(d->sys, d->pool, IO_LEN, &d->io, &d->ii)) < 0) {
        d->io = 0;
        return false;
    }
    memset(d->ii.cpu, 0, IO_LEN);
    return true;
}

/* An address for a descriptor, chosen by @sel among what a hostile
 * provider could write. */
static uint64_t pick_addr(struct drv *d, struct fuzz_rd *in)
{
    uint8_t sel = fuzz_rd8(in);
    uint32_t off = (uint32_t)fuzz_rdn(in, 2);
    switch (sel % 6u) {
    case 0: return d->io ? capdrv_dma_ref(&d->ii, off % IO_LEN) : off;
    case 1: return capdrv_dma_ref(&d->ri, off % RING_LEN);
    case 2: return d->stale_ref ? d->stale_ref + off % IO_LEN : off;
    case 3: return d->io ? capdrv_dma_ref(&d->ii, 0) + IO_LEN + off % 64u : off; /* past the end */
    case 4: return d->io ? capdrv_dma_ref(&d->ii, 0) ^ ((uint64_t)1 << (off % 64u)) : off;
    default: return fuzz_rdn(in, 8);
    }
}

static void put_desc(uint8_t *t, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
                     uint16_t next)
{
    uint8_t *p = t + 16u * i;
    fuzz_put_le(p, 8, addr);
    fuzz_put_le(p + 8, 4, len);
    fuzz_put_le(p + 12, 2, flags);
    fuzz_put_le(p + 14, 2, next);
}

static int notify(struct drv *d, uint16_t value)
{
    return called(
        capdrv_mmio_write(d->sys, d->mmio, NOTIFY + d->notify_off * CAPDRV_SIM_VIRTIO_NOTIFY_MULT,
                          2, value));
}

/* A grant reset releases everything derived from the grant (windows, pool,
 * buffers): open them again, as a driver would. */
static bool reacquire(struct drv *d)
{
    d->mmio = d->pool = d->ring = d->io = 0;
    d->stale_ref = 0;
    if (called(capdrv_mmio_open(d->sys, d->grant, 0, &d->mmio)) < 0 ||
        called(capdrv_cfg_write(d->sys, d->grant, 0x04, 2, 0x0006)) < 0 ||
        called(capdrv_pool_open(d->sys, d->grant, &d->pool)) < 0 ||
        called(capdrv_dma_alloc(d->sys, d->pool, RING_LEN, &d->ring, &d->ri)) < 0) {
        d->ring = 0;
        return false;
    }
    (void)alloc_io(d);
    return bring_up(d);
}

static void run(struct drv *d, struct fuzz_rd *in)
{
    for (unsigned n = 0; n < MAX_OPS && in->n; n++) {
        uint8_t *ring = d->ri.cpu;
        uint8_t op = fuzz_rd8(in) & 0x0fu;
        switch (op % OP_N) {
        case OP_DESC: {
            unsigned i = fuzz_rd8(in) % QSIZE;
            uint64_t addr = pick_addr(d, in);
            uint32_t len = (uint32_t)fuzz_rdn(in, 2);
            if (fuzz_rd8(in) & 1u)
                len = (uint32_t)fuzz_rdn(in, 4);
            uint16_t flags = (uint16_t)fuzz_rdn(in, 2);
            uint16_t next = (uint16_t)fuzz_rdn(in, 2);
            if (!(next & 0x8000u))
                next %= QSIZE; /* mostly in range, sometimes not */
            put_desc(ring + R_DESC, i, addr, len, flags, next);
            break;
        }
        case OP_CHAIN: {
            /* §5.2.6: header (OUT), data (IN or OUT), status (IN). */
            unsigned i = fuzz_rd8(in) % QSIZE;
            uint8_t kind = fuzz_rd8(in);
            if (!d->io)
                break;
            uint8_t *io = d->ii.cpu;
            fuzz_put_le(io, 4, kind & 1u); /* type: IN 0 / OUT 1 */
            fuzz_put_le(io + 8, 8, fuzz_rd8(in) % 64u);
            put_desc(ring + R_DESC, i, capdrv_dma_ref(&d->ii, 0), 16, 1, (uint16_t)((i + 1) % QSIZE));
            put_desc(ring + R_DESC, (i + 1) % QSIZE, capdrv_dma_ref(&d->ii, 4096), 512,
                     (uint16_t)(1u | ((kind & 1u) ? 0u : 2u)), (uint16_t)((i + 2) % QSIZE));
            put_desc(ring + R_DESC, (i + 2) % QSIZE, capdrv_dma_ref(&d->ii, 64), 1, 2, 0);
            break;
        }
        case OP_INDIRECT: {
            if (!d->io)
                break;
            unsigned i = fuzz_rd8(in) % 8u;
            uint64_t addr = pick_addr(d, in);
            uint32_t len = (uint32_t)fuzz_rdn(in, 2);
            uint16_t flags = (uint16_t)fuzz_rdn(in, 2);
            uint16_t next = (uint16_t)(fuzz_rd8(in) % 10u);
            put_desc((uint8_t *)d->ii.cpu + 1024u, i, addr, len, flags, next);
            break;
        }
        case OP_AVAIL: {
            unsigned slot = fuzz_rd8(in) % QSIZE;
            fuzz_put_le(ring + R_AVAIL + 4 + 2 * slot, 2, fuzz_rdn(in, 2));
            break;
        }
        case OP_IDX: {
            uint8_t k = fuzz_rd8(in);
            uint16_t idx = (uint16_t)fuzz_get_le(ring + R_AVAIL + 2, 2);
            idx = (k & 0x80u) ? (uint16_t)fuzz_rdn(in, 2) : (uint16_t)(idx + (k & 0x0fu));
            fuzz_put_le(ring + R_AVAIL + 2, 2, idx);
            break;
        }
        case OP_NOTIFY: {
            uint8_t how = fuzz_rd8(in);
            if (how & 1u)
                (void)called(capdrv_mmio_write(d->sys, d->mmio, NOTIFY + (fuzz_rdn(in, 2) & 0xfffu),
                                               1u << (fuzz_rd8(in) % 4u), fuzz_rdn(in, 2)));
            else
                (void)notify(d, (how & 2u) ? (uint16_t)fuzz_rdn(in, 2) : 0);
            break;
        }
        case OP_PUBLISH: {
            uint16_t head = (uint16_t)(fuzz_rd8(in) % QSIZE);
            uint16_t idx = (uint16_t)fuzz_get_le(ring + R_AVAIL + 2, 2);
            fuzz_put_le(ring + R_AVAIL + 4 + 2 * (idx % QSIZE), 2, head);
            __atomic_thread_fence(__ATOMIC_RELEASE);
            fuzz_put_le(ring + R_AVAIL + 2, 2, (uint16_t)(idx + 1));
            (void)notify(d, 0);
            break;
        }
        case OP_SCRIBBLE: {
            bool io = (fuzz_rd8(in) & 1u) && d->io;
            uint32_t off = (uint32_t)fuzz_rdn(in, 2) % (io ? IO_LEN : RING_LEN);
            uint8_t len = fuzz_rd8(in) % 16u;
            uint8_t *base = io ? (uint8_t *)d->ii.cpu : ring;
            for (unsigned k = 0; k < len && off + k < (io ? IO_LEN : RING_LEN); k++)
                base[off + k] = fuzz_rd8(in);
            break;
        }
        case OP_RELEASE:
            if (d->io) {
                d->stale_ref = capdrv_dma_ref(&d->ii, 0);
                (void)called(capdrv_cap_release(d->sys, d->io));
                d->io = 0;
            }
            break;
        case OP_ALLOC:
            (void)alloc_io(d);
            break;
        case OP_RESET:
            if (d->resets < MAX_RESETS) {
                d->resets++;
                (void)called(capdrv_grant_reset(d->sys, d->grant));
                if (!reacquire(d)) { /* derived capabilities are gone either way */
                    check_oracle(d);
                    return; /* nothing left to drive */
                }
            }
            break;
        case OP_REENABLE:
            (void)bring_up(d);
            break;
        case OP_TIME:
            capdrv_sim_advance(d->sim, (uint64_t)(fuzz_rd8(in) + 1u) * 1000u);
            break;
        default:
            break;
        }
        check_oracle(d);
    }
}

static void setup(struct drv *d)
{
    d->grant = 0;
    int idx = capdrv_grant_find(d->sys, "vblk");
    FUZZ_CHECK(idx >= 0);
    FUZZ_CHECK(capdrv_grant_open(d->sys, (unsigned)idx, &d->grant) == 0);
    FUZZ_CHECK(capdrv_mmio_open(d->sys, d->grant, 0, &d->mmio) == 0);
    FUZZ_CHECK(capdrv_cfg_write(d->sys, d->grant, 0x04, 2, 0x0006) == 0); /* MEM | MASTER */
    FUZZ_CHECK(capdrv_pool_open(d->sys, d->grant, &d->pool) == 0);
    FUZZ_CHECK(capdrv_dma_alloc(d->sys, d->pool, RING_LEN, &d->ring, &d->ri) == 0);
    FUZZ_CHECK(alloc_io(d));
    FUZZ_CHECK(bring_up(d));
    if (d->delay)
        FUZZ_CHECK(capdrv_sim_virtio_set_fault(d->sim, d->fn, CAPDRV_SIM_VIRTIO_FAULT_DELAY) == 0);
    check_oracle(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (manifest_len == 0)
        build_manifest();
    struct fuzz_rd in = {data, size};
    uint8_t mode = fuzz_rd8(&in);

    struct capdrv_env_hosted_opts eo = {.log_level = -1};
    struct capdrv_env *env = capdrv_env_hosted_new(&eo);
    FUZZ_CHECK(env != NULL);
    struct drv *d = calloc(1, sizeof *d);
    FUZZ_CHECK(d != NULL);
    d->direct = (mode & 1u) != 0;
    d->delay = !d->direct && (mode & 2u);
    struct capdrv_sim_config sc = {.iommu = d->direct};
    FUZZ_CHECK(capdrv_sim_create(&sc, &d->sim) == 0);
    struct capdrv_pci_addr a6 = {0, 0, 6, 0};
    struct capdrv_sim_virtio_blk_config bc = {.capacity_sectors = 64, .queue_size_max = 64};
    FUZZ_CHECK(capdrv_sim_add_virtio_blk(d->sim, &a6, &bc, &d->fn) == 0);

    struct capdrv_shim_config cfg = {.env = env, .hw = capdrv_sim_hw(d->sim),
                                     .manifest = manifest_blob, .manifest_len = manifest_len};
    struct capdrv_shim *shim = NULL;
    char why[256] = "";
    int rc = capdrv_shim_create(&cfg, &shim, why, sizeof why);
    if (rc != 0)
        fprintf(stderr, "fuzz_virtio_notify: shim create rc=%d: %s\n", rc, why);
    FUZZ_CHECK_MSG(rc == 0, "capdrv_shim_create rc", rc);
    FUZZ_CHECK(capdrv_shim_connect(shim, "fz", &d->sys) == 0);
    setup(d);
    run(d, &in);
    if (fuzz_verbose()) {
        struct capdrv_shim_stats st;
        FUZZ_CHECK(capdrv_shim_stats(shim, &st) == 0);
        fprintf(stderr, "fuzz_virtio_notify: refused notifies %llu\n",
                (unsigned long long)st.refused_notify);
    }

    capdrv_sys_close(d->sys); /* provider death: quiesce, release everything */
    check_oracle(d);
    struct capdrv_shim_stats st;
    FUZZ_CHECK(capdrv_shim_stats(shim, &st) == 0);
    FUZZ_CHECK_MSG(st.dma_buffers == 0, "ledger entries after death", st.dma_buffers);
    FUZZ_CHECK(st.grants_claimed == 0 && st.providers == 0);
    capdrv_shim_destroy(shim);
    FUZZ_CHECK_MSG(capdrv_env_hosted_live_allocs(env) == 0, "live allocs",
                   capdrv_env_hosted_live_allocs(env));
    struct capdrv_sim_dma_stats ds;
    FUZZ_CHECK(capdrv_sim_dma_stats(d->sim, &ds) == 0);
    FUZZ_CHECK(ds.regions == 0 && ds.mappings == 0);
    check_oracle(d);
    capdrv_sim_destroy(d->sim);
    free(d);
    capdrv_env_hosted_free(env);
    return 0;
}
