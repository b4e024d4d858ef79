/* One driver queue over one DMA buffer (see queue.h). */
#include "queue.h"

#include <stdlib.h>
#include <string.h>

#include "pci_internal.h"

static size_t round_up64(size_t v)
{
    return (v + 63u) & ~(size_t)63u;
}

int vio_queue_setup(struct vio_queue *q, const struct vio_queue_params *p, size_t *extra_off,
                    char *why, size_t why_len)
{
    unsigned flags = 0, size = p->size;
    uint64_t features = p->vt ? *p->vt->features : capdrv_virtio_features(p->vp);
    if ((features >> CAPDRV_VIRTIO_F_EVENT_IDX) & 1u)
        flags |= CAPDRV_VIRTQ_F_EVENT_IDX;
    if (p->ind_max)
        flags |= CAPDRV_VIRTQ_F_INDIRECT;
    struct capdrv_virtq_layout lay;
    int rc = capdrv_virtq_layout(size, flags, &lay);
    if (rc < 0)
        return rc;
    /* One buffer: ring, then the indirect tables, then the extra area, each
     * on its own cache lines. */
    size_t ind_off = round_up64(lay.total_len);
    size_t ind_len = (size_t)size * p->ind_max * sizeof(struct capdrv_vring_desc);
    size_t x_off = round_up64(ind_off + ind_len);
    size_t total = x_off + p->extra;
    if ((rc = capdrv_dma_alloc(p->sys, p->pool, total, &q->buf, &q->bi)) < 0) {
        q->buf = CAPDRV_CAP_INVALID;
        vp_say(why, why_len, "queue %u: allocate %zu bytes of DMA memory: %s", p->index, total,
               capdrv_strerror(rc));
        return rc;
    }
    if (extra_off)
        *extra_off = x_off;
    q->state = calloc(1, capdrv_virtq_state_size(size));
    if (!q->state) {
        vp_say(why, why_len, "out of memory");
        return -CAPDRV_ENOMEM;
    }
    struct capdrv_virtq_config vc = {
        .size = size, .flags = flags,
        .ring = q->bi.cpu, .ring_ref = capdrv_dma_ref(&q->bi, 0), .ring_len = lay.total_len,
        .state = q->state, .state_len = capdrv_virtq_state_size(size),
    };
    if (p->ind_max) {
        vc.indirect = (uint8_t *)q->bi.cpu + ind_off;
        vc.indirect_ref = capdrv_dma_ref(&q->bi, ind_off);
        vc.indirect_len = ind_len;
        vc.indirect_max = p->ind_max;
    }
    if ((rc = capdrv_virtq_init(&q->vq, &vc)) < 0) {
        vp_say(why, why_len, "queue %u: virtq init: %s", p->index, capdrv_strerror(rc));
        return rc;
    }
    q->size = size;
    if (p->vector != CAPDRV_VIRTIO_MSI_NO_VECTOR) {
        if ((rc = capdrv_irq_open(p->sys, p->grant, p->vector, &q->irq)) < 0) {
            q->irq = CAPDRV_CAP_INVALID;
            vp_say(why, why_len, "queue %u: open interrupt vector %u: %s", p->index, p->vector,
                   capdrv_strerror(rc));
            return rc;
        }
    } else if (!p->shared_line) {
        /* Polling: tell the device interrupts are not wanted (§2.7.7). */
        (void)capdrv_virtq_disable_cb(&q->vq);
    }
    if (p->vt) {
        /* The same steps as capdrv_virtio_queue_setup(), over any transport. */
        uint64_t off = 0;
        if ((rc = vt_queue_setup(p->vt, p->index, &q->vq, p->vector, &off)) == 0)
            q->pq = (struct capdrv_virtio_pci_queue){
                .notify_off = off, .index = (uint16_t)p->index, .lane = p->lane,
                .vector = p->vt->ops->has_vectors ? p->vector : CAPDRV_VIRTIO_MSI_NO_VECTOR};
    } else {
        rc = capdrv_virtio_queue_setup(p->vp, p->index, &q->vq, p->vector, &q->pq);
    }
    if (rc < 0) {
        vp_say(why, why_len, "queue %u setup: %s%s", p->index, capdrv_strerror(rc),
               rc == -CAPDRV_EIO ? " (vector refused or queue not enabled)" : "");
        return rc;
    }
    return 0;
}

void vio_queue_free(capdrv_sys *sys, struct vio_queue *q)
{
    if (q->irq)
        (void)capdrv_cap_release(sys, q->irq);
    if (q->buf)
        (void)capdrv_cap_release(sys, q->buf);
    free(q->state);
    memset(q, 0, sizeof *q);
}
