/* The virtio-blk device model (VIRTIO 1.2 §5.2) over a memory- or
 * file-backed disk (blk_store.h).
 *
 * The transport (dev_virtio_pci.c) and the ring engine (dev_virtio_ring.c)
 * hand each request over as two byte streams: device-readable (header, then
 * OUT data or DISCARD/WRITE_ZEROES ranges) and device-writable (IN data or
 * the GET_ID string, then the status byte as the very last byte). No
 * particular split into descriptors is assumed (§2.6.4). Data moves
 * between the store and the driver's buffers through a bounce buffer and
 * the DMA oracle, BOUNCE_BYTES at a time; a refused data access or a
 * failed store operation fails the request with IOERR. */
#include "blk_store.h"
#include "sim_virtio.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_CAPACITY 2048u
#define DEFAULT_QSIZE 256u
#define DEFAULT_SEG_MAX 126u
/* DISCARD / WRITE_ZEROES limits advertised in the configuration (§5.2.4)
 * and enforced (a request beyond them gets IOERR). */
#define DWZ_MAX_SECTORS 65536u
#define DWZ_MAX_SEG 16u
/* Bytes moved per store operation: bounds the bounce buffer, not requests. */
#define BOUNCE_BYTES ((size_t)128 << 10)

struct vblk {
    struct sim_virtio vio; /* first: the transport finds it at f->dev_state */
    struct blk_store *store;
    uint64_t sectors;
    uint32_t seg_max; /* advertised and enforced (§5.2.4) */
    uint8_t *bounce; /* BOUNCE_BYTES */
};

static struct vblk *blk(const struct sim_fn *f)
{
    return f->dev_state;
}

/* Sectors [sector, sector + n) lie on the disk. */
static bool in_range(const struct vblk *b, uint64_t sector, uint64_t n)
{
    return sector <= b->sectors && n <= b->sectors - sector;
}

static uint8_t do_read(struct capdrv_sim *sim, struct sim_fn *f, const struct sim_vreq *r,
                       uint64_t sector, uint32_t *written)
{
    struct vblk *b = blk(f);
    uint64_t len = r->wlen - 1u; /* the status byte is the last writable byte */
    /* §5.2.6: data is a multiple of 512 bytes and must lie on the disk. */
    if (len % CAPDRV_VBLK_SECTOR_SIZE != 0 || len >= UINT32_MAX ||
        !in_range(b, sector, len / CAPDRV_VBLK_SECTOR_SIZE))
        return CAPDRV_VBLK_S_IOERR;
    uint64_t base = sector * CAPDRV_VBLK_SECTOR_SIZE;
    for (uint64_t done = 0; done < len;) {
        size_t n = len - done < BOUNCE_BYTES ? (size_t)(len - done) : BOUNCE_BYTES;
        if (sim_blk_store_read(b->store, base + done, b->bounce, n) < 0 ||
            sim_vreq_xfer(sim, f, r, true, done, b->bounce, n) < 0)
            return CAPDRV_VBLK_S_IOERR;
        done += n;
    }
    *written = (uint32_t)len;
    return CAPDRV_VBLK_S_OK;
}

static uint8_t do_write(struct capdrv_sim *sim, struct sim_fn *f, const struct sim_vreq *r,
                        uint64_t sector)
{
    struct vblk *b = blk(f);
    uint64_t len = r->rlen - CAPDRV_VBLK_REQ_HDR_SIZE;
    if (len % CAPDRV_VBLK_SECTOR_SIZE != 0 || !in_range(b, sector, len / CAPDRV_VBLK_SECTOR_SIZE))
        return CAPDRV_VBLK_S_IOERR;
    /* A refused access or store failure leaves the sectors partly written:
     * §5.2.6 makes the contents after a failed write undefined. */
    uint64_t base = sector * CAPDRV_VBLK_SECTOR_SIZE;
    for (uint64_t done = 0; done < len;) {
        size_t n = len - done < BOUNCE_BYTES ? (size_t)(len - done) : BOUNCE_BYTES;
        if (sim_vreq_xfer(sim, f, r, false, CAPDRV_VBLK_REQ_HDR_SIZE + done, b->bounce, n) < 0 ||
            sim_blk_store_write(b->store, base + done, b->bounce, n) < 0)
            return CAPDRV_VBLK_S_IOERR;
        done += n;
    }
    return CAPDRV_VBLK_S_OK;
}

static uint8_t do_get_id(struct capdrv_sim *sim, struct sim_fn *f, const struct sim_vreq *r,
                         uint32_t *written)
{
    /* §5.2.6: NUL-padded ASCII, up to 20 bytes; a shorter buffer gets
     * what fits. */
    char id[CAPDRV_VBLK_ID_BYTES] = {0};
    memcpy(id, CAPDRV_SIM_VIRTIO_BLK_SERIAL, sizeof CAPDRV_SIM_VIRTIO_BLK_SERIAL - 1u);
    uint64_t n = r->wlen - 1u < sizeof id ? r->wlen - 1u : sizeof id;
    if (sim_vreq_xfer(sim, f, r, true, 0, id, n) < 0)
        return CAPDRV_VBLK_S_IOERR;
    *written = (uint32_t)n;
    return CAPDRV_VBLK_S_OK;
}

/* DISCARD and WRITE_ZEROES (§5.2.6): ranges of struct
 * virtio_blk_discard_write_zeroes after the header. All ranges are checked
 * before any is executed. */
static uint8_t do_dwz(struct capdrv_sim *sim, struct sim_fn *f, const struct sim_vreq *r,
                      bool discard)
{
    struct vblk *b = blk(f);
    uint64_t len = r->rlen - CAPDRV_VBLK_REQ_HDR_SIZE;
    if (len == 0 || len % CAPDRV_VBLK_DWZ_SIZE != 0 || len / CAPDRV_VBLK_DWZ_SIZE > DWZ_MAX_SEG)
        return CAPDRV_VBLK_S_IOERR;
    unsigned n = (unsigned)(len / CAPDRV_VBLK_DWZ_SIZE);
    uint8_t raw[DWZ_MAX_SEG * CAPDRV_VBLK_DWZ_SIZE];
    if (sim_vreq_xfer(sim, f, r, false, CAPDRV_VBLK_REQ_HDR_SIZE, raw, len) < 0)
        return CAPDRV_VBLK_S_IOERR;
    for (unsigned i = 0; i < n; i++) {
        const uint8_t *s = &raw[i * CAPDRV_VBLK_DWZ_SIZE];
        uint32_t flags = (uint32_t)sim_le_get(s + CAPDRV_VBLK_DWZ_FLAGS, 4);
        /* Device requirement of §5.2.6: unknown flags, or UNMAP on a
         * discard, are UNSUPP. */
        if ((flags & ~CAPDRV_VBLK_DWZ_F_UNMAP) || (discard && (flags & CAPDRV_VBLK_DWZ_F_UNMAP)))
            return CAPDRV_VBLK_S_UNSUPP;
    }
    for (unsigned i = 0; i < n; i++) {
        const uint8_t *s = &raw[i * CAPDRV_VBLK_DWZ_SIZE];
        uint64_t sector = sim_le_get(s + CAPDRV_VBLK_DWZ_SECTOR, 8);
        uint32_t num = (uint32_t)sim_le_get(s + CAPDRV_VBLK_DWZ_NUM_SECTORS, 4);
        if (num > DWZ_MAX_SECTORS || !in_range(b, sector, num))
            return CAPDRV_VBLK_S_IOERR;
    }
    /* WRITE_ZEROES must read back zeroes; a discarded range may read
     * anything (§5.2.6), and zero is the deterministic choice. The medium
     * may deallocate on DISCARD and on WRITE_ZEROES with UNMAP (§5.2.6). */
    for (unsigned i = 0; i < n; i++) {
        const uint8_t *s = &raw[i * CAPDRV_VBLK_DWZ_SIZE];
        uint64_t sector = sim_le_get(s + CAPDRV_VBLK_DWZ_SECTOR, 8);
        uint32_t num = (uint32_t)sim_le_get(s + CAPDRV_VBLK_DWZ_NUM_SECTORS, 4);
        uint32_t flags = (uint32_t)sim_le_get(s + CAPDRV_VBLK_DWZ_FLAGS, 4);
        bool unmap = discard || (flags & CAPDRV_VBLK_DWZ_F_UNMAP);
        if (sim_blk_store_zero(b->store, sector * CAPDRV_VBLK_SECTOR_SIZE,
                               (uint64_t)num * CAPDRV_VBLK_SECTOR_SIZE, unmap) < 0)
            return CAPDRV_VBLK_S_IOERR;
    }
    return CAPDRV_VBLK_S_OK;
}

static uint8_t execute(struct capdrv_sim *sim, struct sim_fn *f, const struct sim_vreq *r,
                       const uint8_t *hdr, uint32_t *written)
{
    struct vblk *b = blk(f);
    const struct sim_virtio *vd = &b->vio;
    uint32_t type = (uint32_t)sim_le_get(hdr + CAPDRV_VBLK_REQ_TYPE, 4);
    uint64_t sector = sim_le_get(hdr + CAPDRV_VBLK_REQ_SECTOR, 8);
    /* §5.2.4: seg_max is the most data segments a request may have; the
     * header and the status byte are the other two descriptors (a driver
     * may merge them with data, never need more). Real devices fail or
     * misbehave beyond it, so the model refuses: a driver that ignores
     * seg_max is caught here. */
    if (sim_vio_has(vd, CAPDRV_VBLK_F_SEG_MAX) && r->n > (uint64_t)b->seg_max + 2u &&
        (type == CAPDRV_VBLK_T_IN || type == CAPDRV_VBLK_T_OUT))
        return CAPDRV_VBLK_S_IOERR;
    switch (type) {
    case CAPDRV_VBLK_T_IN:
        return do_read(sim, f, r, sector, written);
    case CAPDRV_VBLK_T_OUT:
        return do_write(sim, f, r, sector);
    case CAPDRV_VBLK_T_FLUSH:
        /* §5.2.6: completed writes become stable (fsync of a file; memory
         * needs nothing). */
        if (!sim_vio_has(vd, CAPDRV_VBLK_F_FLUSH))
            return CAPDRV_VBLK_S_UNSUPP;
        return sim_blk_store_flush(b->store) < 0 ? CAPDRV_VBLK_S_IOERR : CAPDRV_VBLK_S_OK;
    case CAPDRV_VBLK_T_GET_ID:
        return do_get_id(sim, f, r, written);
    case CAPDRV_VBLK_T_DISCARD:
        return sim_vio_has(vd, CAPDRV_VBLK_F_DISCARD) ? do_dwz(sim, f, r, true)
                                                       : CAPDRV_VBLK_S_UNSUPP;
    case CAPDRV_VBLK_T_WRITE_ZEROES:
        return sim_vio_has(vd, CAPDRV_VBLK_F_WRITE_ZEROES) ? do_dwz(sim, f, r, false)
                                                            : CAPDRV_VBLK_S_UNSUPP;
    default:
        return CAPDRV_VBLK_S_UNSUPP;
    }
}

static int blk_handle(struct capdrv_sim *sim, struct sim_fn *f, const struct sim_vreq *r,
                      uint32_t *used_len)
{
    *used_len = 0;
    /* §5.2.6: a request is at least the 16-byte header and the status
     * byte; without them there is nothing to answer: a broken driver. */
    if (r->rlen < CAPDRV_VBLK_REQ_HDR_SIZE || r->wlen < 1)
        return -CAPDRV_EPROTO;
    uint8_t hdr[CAPDRV_VBLK_REQ_HDR_SIZE];
    uint32_t written = 0;
    uint8_t status;
    if (sim_vreq_xfer(sim, f, r, false, 0, hdr, sizeof hdr) < 0)
        status = CAPDRV_VBLK_S_IOERR;
    else if (blk(f)->vio.fault == CAPDRV_SIM_VIRTIO_FAULT_IOERR)
        status = CAPDRV_VBLK_S_IOERR;
    else
        status = execute(sim, f, r, hdr, &written); /* written stays 0 unless OK */
    int rc = sim_vreq_xfer(sim, f, r, true, r->wlen - 1u, &status, 1);
    if (rc < 0)
        return rc; /* cannot even report: DEVICE_NEEDS_RESET */
    *used_len = written + 1u;
    return 0;
}

/* Every fault knob applies to the block device. */
static const struct sim_virtio_ops blk_ops = {
    .handle = blk_handle,
    .faults = (1u << CAPDRV_SIM_VIRTIO_FAULT_NONE) | (1u << CAPDRV_SIM_VIRTIO_FAULT_IOERR) |
              (1u << CAPDRV_SIM_VIRTIO_FAULT_DELAY) | (1u << CAPDRV_SIM_VIRTIO_FAULT_REORDER) |
              (1u << CAPDRV_SIM_VIRTIO_FAULT_USED_ID_RANGE) |
              (1u << CAPDRV_SIM_VIRTIO_FAULT_USED_LEN) | (1u << CAPDRV_SIM_VIRTIO_FAULT_DOUBLE) |
              (1u << CAPDRV_SIM_VIRTIO_FAULT_NEEDS_RESET),
};

static void build_config(struct vblk *b, const struct capdrv_sim_virtio_blk_config *c)
{
    uint8_t *cfg = b->vio.config; /* zeroed: unused fields and padding are 0 (§5.2.5) */
    sim_le_put(cfg + CAPDRV_VBLK_CFG_CAPACITY, 8, b->sectors);
    sim_le_put(cfg + CAPDRV_VBLK_CFG_SEG_MAX, 4, c->seg_max);
    sim_le_put(cfg + CAPDRV_VBLK_CFG_BLK_SIZE, 4, CAPDRV_VBLK_SECTOR_SIZE);
    sim_le_put(cfg + CAPDRV_VBLK_CFG_NUM_QUEUES, 2, c->num_queues);
    sim_le_put(cfg + CAPDRV_VBLK_CFG_MAX_DISCARD_SECTORS, 4, DWZ_MAX_SECTORS);
    sim_le_put(cfg + CAPDRV_VBLK_CFG_MAX_DISCARD_SEG, 4, DWZ_MAX_SEG);
    sim_le_put(cfg + CAPDRV_VBLK_CFG_DISCARD_ALIGN, 4, 1);
    sim_le_put(cfg + CAPDRV_VBLK_CFG_MAX_WRITE_ZEROES_SECTORS, 4, DWZ_MAX_SECTORS);
    sim_le_put(cfg + CAPDRV_VBLK_CFG_MAX_WRITE_ZEROES_SEG, 4, DWZ_MAX_SEG);
    cfg[CAPDRV_VBLK_CFG_WRITE_ZEROES_MAY_UNMAP] = 1;
}

static uint64_t offered_features(const struct capdrv_sim_virtio_blk_config *c)
{
    uint64_t f = (1ull << CAPDRV_VPCI_F_VERSION_1) | (1ull << CAPDRV_VPCI_F_ACCESS_PLATFORM) |
                 (1ull << CAPDRV_VPCI_F_INDIRECT_DESC) | (1ull << CAPDRV_VPCI_F_EVENT_IDX) |
                 (1ull << CAPDRV_VBLK_F_SEG_MAX) | (1ull << CAPDRV_VBLK_F_BLK_SIZE) |
                 (1ull << CAPDRV_VBLK_F_FLUSH) | (1ull << CAPDRV_VBLK_F_DISCARD) |
                 (1ull << CAPDRV_VBLK_F_WRITE_ZEROES);
    if (c->num_queues > 1)
        f |= 1ull << CAPDRV_VBLK_F_MQ;
    return f & ~c->features_clear;
}

static void blk_destroy(struct sim_fn *f)
{
    struct vblk *b = blk(f);
    if (!b)
        return;
    sim_virtio_fini(&b->vio);
    sim_blk_store_close(b->store);
    free(b->bounce);
    free(b);
    f->dev_state = NULL;
}

static int blk_init(struct sim_fn *f)
{
    const struct capdrv_sim_virtio_blk_config *c = f->init_arg; /* normalised by the caller */
    struct vblk *b = calloc(1, sizeof *b);
    if (!b)
        return -CAPDRV_ENOMEM;
    f->dev_state = b;
    b->sectors = c->capacity_sectors;
    b->seg_max = c->seg_max;
    int rc = c->backing_file
                 ? sim_blk_store_open_file(c->backing_file, &b->sectors, &b->store)
                 : sim_blk_store_open_mem(b->sectors * CAPDRV_VBLK_SECTOR_SIZE, &b->store);
    if (rc == 0 && !(b->bounce = malloc(BOUNCE_BYTES)))
        rc = -CAPDRV_ENOMEM;
    if (rc == 0)
        rc = sim_virtio_init(&b->vio, &blk_ops, CAPDRV_VPCI_ID_BLOCK, offered_features(c),
                             c->num_queues, c->queue_size_max);
    if (rc == 0 && f->info.kind == CAPDRV_HW_FN_MMIO) {
        b->vio.mmio = true; /* virtio-mmio register block (dev_virtio_mmio.c) */
        sim_virtio_reset(&b->vio);
    } else if (rc == 0) {
        rc = sim_virtio_add_caps(f);
    }
    if (rc < 0) {
        blk_destroy(f);
        return rc;
    }
    build_config(b, c);
    return 0;
}

static void blk_reset(struct sim_fn *f)
{
    /* FLR: the whole device returns to its reset state (§2.4); the disk
     * contents are the medium, not state, and stay. */
    sim_virtio_reset(&blk(f)->vio);
}

const struct sim_dev_ops sim_dev_virtio_blk = {
    .name = "virtio-blk",
    .init = blk_init,
    .bar0_read = sim_virtio_bar0_read,
    .bar0_write = sim_virtio_bar0_write,
    .reset = blk_reset,
    .next_event = sim_virtio_next_event,
    .run_event = sim_virtio_run_event,
    .destroy = blk_destroy,
};

/* ---- public test interface ----------------------------------------------- */

static int add_blk(struct capdrv_sim *sim, const struct capdrv_pci_addr *addr, uint64_t mmio_base,
                   bool mmio, const struct capdrv_sim_virtio_blk_config *cfg, unsigned *fn_out)
{
    struct capdrv_sim_virtio_blk_config c = {0};
    if (cfg)
        c = *cfg;
    /* A file-backed disk with capacity 0 takes the file's size (blk_store.h). */
    if (c.capacity_sectors == 0 && !c.backing_file)
        c.capacity_sectors = DEFAULT_CAPACITY;
    if (c.num_queues == 0)
        c.num_queues = 1;
    if (c.queue_size_max == 0)
        c.queue_size_max = DEFAULT_QSIZE;
    if (c.seg_max == 0)
        c.seg_max = DEFAULT_SEG_MAX;
    if (c.num_queues > CAPDRV_SIM_VIRTIO_MAX_QUEUES || c.queue_size_max > SIM_VIRTIO_QSIZE_MAX ||
        (c.queue_size_max & (c.queue_size_max - 1u)) != 0 ||
        (!c.backing_file && c.capacity_sectors > SIZE_MAX / CAPDRV_VBLK_SECTOR_SIZE) ||
        c.capacity_sectors > (uint64_t)INT64_MAX / CAPDRV_VBLK_SECTOR_SIZE)
        return -CAPDRV_EINVAL;
    /* §4.1.2: modern device id 0x1040 + 2; mass storage, SCSI-less
     * "other" subclass 0x00 as QEMU reports it. */
    const struct sim_pci_ident id = {
        .vendor = CAPDRV_VPCI_VENDOR,
        .device = CAPDRV_VPCI_DEVICE_MODERN_BASE + CAPDRV_VPCI_ID_BLOCK,
        .subsys_vendor = CAPDRV_VPCI_VENDOR,
        .subsys_device = 0x1100,
        .class_code = 0x010000,
        .revision = 0x01,
    };
    /* One vector per request queue plus one for configuration changes;
     * virtio-mmio: one interrupt line (§4.2.3.4) in a 512-byte region. */
    struct sim_fn_layout layout = {.bar0_size = CAPDRV_SIM_VIRTIO_BAR0_SIZE,
                                   .n_vectors = c.num_queues + 1u};
    if (mmio) {
        layout.n_vectors = 1;
        layout.mmio_base = mmio_base;
        layout.mmio_size = SIM_VIRTIO_MMIO_SIZE;
    }
    pthread_mutex_lock(&sim->lock);
    int rc = sim_add_function(sim, addr, &sim_dev_virtio_blk, &id, &layout, &c, fn_out);
    pthread_mutex_unlock(&sim->lock);
    return rc;
}

int capdrv_sim_add_virtio_blk(struct capdrv_sim *sim, const struct capdrv_pci_addr *addr,
                              const struct capdrv_sim_virtio_blk_config *cfg, unsigned *fn_out)
{
    if (!sim || !addr)
        return -CAPDRV_EINVAL;
    return add_blk(sim, addr, 0, false, cfg, fn_out);
}

int capdrv_sim_add_virtio_mmio_blk(struct capdrv_sim *sim, uint64_t base,
                                   const struct capdrv_sim_virtio_blk_config *cfg,
                                   unsigned *fn_out)
{
    if (!sim || (base & (SIM_VIRTIO_MMIO_SIZE - 1u)))
        return -CAPDRV_EINVAL;
    const struct capdrv_pci_addr none = {0};
    return add_blk(sim, &none, base, true, cfg, fn_out);
}

int capdrv_sim_virtio_blk_data(struct capdrv_sim *sim, unsigned fn, uint64_t offset, void *buf,
                               size_t len, bool write)
{
    if (!sim || (!buf && len > 0))
        return -CAPDRV_EINVAL;
    pthread_mutex_lock(&sim->lock);
    struct sim_fn *f = sim_fn_get(sim, fn);
    int rc = !f ? -CAPDRV_ENOENT : f->dev != &sim_dev_virtio_blk ? -CAPDRV_ENODEV : 0;
    if (rc == 0) {
        struct vblk *b = blk(f);
        uint64_t size = b->sectors * CAPDRV_VBLK_SECTOR_SIZE;
        if (offset > size || len > size - offset)
            rc = -CAPDRV_ERANGE;
        else if (len > 0 && write)
            rc = sim_blk_store_write(b->store, offset, buf, len);
        else if (len > 0)
            rc = sim_blk_store_read(b->store, offset, buf, len);
    }
    pthread_mutex_unlock(&sim->lock);
    return rc;
}
