/* fuzz_virtio_config: virtio-blk bring-up against a hostile device's
 * feature bits, device configuration (VIRTIO 1.2 §5.2.4: capacity,
 * seg_max, blk_size, num_queues, discard and write-zeroes limits), queue
 * sizes and common-configuration num_queues, over the unit tests' fake
 * virtio PCI function (tests/unit/virtio/fake_vdev.c).
 *
 * Input: byte 0 flags (bit 0 direct lane, bit 1 MSI-X, bits 2-4 queues
 * wanted - 1, bits 5-7 config_generation flaps); bytes 1-8 device
 * features (little endian); 9-72 the 64-byte device configuration; 73-80
 * four queues' Queue Size maxima; 81-82 num_queues; 83-84 the Queue Size
 * asked for. Short inputs are zero-padded.
 *
 * Checked: open succeeds, or fails with a reason and gives back every DMA
 * byte, window and vector; on success the digested info obeys the device
 * and the driver's own limits (queue count, queue sizes powers of two
 * within the device's maxima, seg_max 1..128 and within the device's,
 * blk_size 512 or a power of two the device gave); a request with more
 * segments than seg_max is refused before it reaches the device, a one-
 * sector read completes exactly once; the fake refused no access (no read
 * or write outside a structure); close resets the device. */
#include "fuzz_common.h"

#include <string.h>

#include <capdrv/virtio_blk.h>

#include "../unit/virtio/fake_vdev.h"

static void check_closed(struct fv *f, size_t keep)
{
    FUZZ_CHECK_MSG(f->pool_used == keep, "pool bytes left", (long long)f->pool_used);
    for (unsigned w = 0; w < FV_MAX_WINDOWS; w++)
        FUZZ_CHECK(!f->mmio_open[w]);
    for (unsigned v = 0; v < 8; v++)
        FUZZ_CHECK(!f->irq_open[v]);
}

static void exercise(struct fv *f, struct capdrv_virtio_blk *blk, const uint8_t *in)
{
    struct capdrv_virtio_blk_info info;
    FUZZ_CHECK(capdrv_virtio_blk_info(blk, &info) == 0);
    unsigned wanted = 1u + ((in[0] >> 2) & 7u);
    FUZZ_CHECK(info.num_queues >= 1 && info.num_queues <= wanted);
    FUZZ_CHECK(info.num_queues <= f->num_queues && info.num_queues <= FV_MAX_QUEUES);
    FUZZ_CHECK(info.queue_size >= 4 && (info.queue_size & (info.queue_size - 1u)) == 0);
    for (unsigned q = 0; q < info.num_queues; q++)
        FUZZ_CHECK(f->q[q].size <= f->q[q].max_size && f->q[q].enable);
    FUZZ_CHECK(info.seg_max >= 1 && info.seg_max <= CAPDRV_VIRTIO_BLK_MAX_SEGS);
    bool has_seg_max = (info.features >> CAPDRV_VIRTIO_BLK_F_SEG_MAX) & 1u;
    if (has_seg_max)
        FUZZ_CHECK(info.seg_max <= fuzz_get_le(f->devcfg + 0x0c, 4));
    FUZZ_CHECK(info.blk_size >= 512 && (info.blk_size & (info.blk_size - 1u)) == 0);
    FUZZ_CHECK(info.features & (1ull << 32)); /* VERSION_1 */

    capdrv_cap_t data;
    struct capdrv_dmabuf_info di;
    if (capdrv_dma_alloc(fv_sys(f), FV_POOL, 65536, &data, &di) < 0)
        return;
    /* More segments than the device takes: refused, nothing published. */
    struct capdrv_virtq_seg segs[CAPDRV_VIRTIO_BLK_MAX_SEGS + 1];
    for (unsigned i = 0; i < CAPDRV_VIRTIO_BLK_MAX_SEGS + 1; i++)
        segs[i] = (struct capdrv_virtq_seg){capdrv_dma_ref(&di, 512u * (i % 64u)), 512};
    unsigned before = f->requests;
    struct capdrv_virtio_blk_req too_many = {.type = CAPDRV_VIRTIO_BLK_T_IN,
                                             .n_segs = info.seg_max + 1u,
                                             .segs = segs,
                                             .cookie = segs};
    FUZZ_CHECK(capdrv_virtio_blk_submit(blk, 0, &too_many, 1) < 0);
    FUZZ_CHECK(f->requests == before);
    /* One sector, polled: exactly one completion with our cookie. */
    struct capdrv_virtio_blk_req r = {.type = CAPDRV_VIRTIO_BLK_T_IN, .n_segs = 1,
                                      .segs = segs, .cookie = &r};
    if (capdrv_virtio_blk_submit(blk, 0, &r, 1) == 1) {
        struct capdrv_virtio_blk_done d[2];
        int n = capdrv_virtio_blk_reap(blk, 0, d, 2);
        FUZZ_CHECK(n == 1);
        FUZZ_CHECK(d[0].cookie == &r);
    }
    FUZZ_CHECK(capdrv_cap_release(fv_sys(f), data) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t in[85];
    memset(in, 0, sizeof in);
    memcpy(in, data, size < sizeof in ? size : sizeof in);

    struct fv *f = malloc(sizeof *f);
    FUZZ_CHECK(f != NULL);
    fv_init(f, 0, (in[0] & 1u) ? CAPDRV_LANE_DIRECT : CAPDRV_LANE_BROKERED);
    f->dev_features = fuzz_get_le(in + 1, 8);
    memcpy(f->devcfg, in + 9, 64);
    for (unsigned q = 0; q < FV_MAX_QUEUES; q++)
        f->q[q].max_size = (uint16_t)fuzz_get_le(in + 73 + 2 * q, 2);
    f->num_queues = (uint16_t)fuzz_get_le(in + 81, 2);
    f->gen_flaps = (in[0] >> 5) & 7u;

    struct capdrv_virtio_blk_opts o = {.pool = FV_POOL,
                                       .num_queues = 1u + ((in[0] >> 2) & 7u),
                                       .queue_size = (unsigned)fuzz_get_le(in + 83, 2),
                                       .irq = (in[0] >> 1) & 1u};
    struct capdrv_virtio_blk *blk = NULL;
    char why[256] = "";
    int rc = capdrv_virtio_blk_open(fv_sys(f), FV_GRANT, &o, &blk, why, sizeof why);
    if (fuzz_verbose())
        fprintf(stderr, "fuzz_virtio_config: open rc=%d %s\n", rc, why);
    FUZZ_CHECK_MSG(rc == 0 || rc == -CAPDRV_EINVAL || rc == -CAPDRV_ENODEV ||
                       rc == -CAPDRV_ENOTSUP || rc == -CAPDRV_EPROTO || rc == -CAPDRV_ENOSPC ||
                       rc == -CAPDRV_EIO || rc == -CAPDRV_ETIMEDOUT || rc == -CAPDRV_ENOENT,
                   "open rc", rc);
    if (rc < 0) {
        FUZZ_CHECK(blk == NULL);
        FUZZ_CHECK(why[0] != '\0');
    } else {
        exercise(f, blk, in);
        capdrv_virtio_blk_close(blk);
        FUZZ_CHECK(f->status == 0); /* reset at close */
    }
    check_closed(f, 0);
    FUZZ_CHECK_MSG(f->bad_accesses == 0, "accesses the fake refused", f->bad_accesses);
    fv_fini(f);
    free(f);
    return 0;
}
