/* The split virtqueue, device side (VIRTIO 1.2 §2.7).
 *
 * Everything in the rings is written by the driver and is untrusted: each
 * value is read once through the DMA oracle into a local, checked, then
 * used. Loops are bounded by the Queue Size. A ring that cannot be read or
 * makes no sense (more entries than the queue holds, a head or next index
 * out of range, a chain longer than the queue, a nested or malformed
 * indirect table, readable after writable buffers) makes the device set
 * DEVICE_NEEDS_RESET (§2.1.2) and stop; it never guesses.
 *
 * Layout (§2.7): available ring = le16 flags, le16 idx, le16 ring[size],
 * le16 used_event; used ring = le16 flags, le16 idx, {le32 id, le32 len}
 * ring[size], le16 avail_event. */
#include "sim_virtio.h"

#include <string.h>

#define AVAIL_IDX 2u
#define AVAIL_RING 4u
#define USED_IDX 2u
#define USED_RING 4u
/* Passes over the available ring per notify: the driver cannot add
 * entries while the device holds the machine lock, so the second pass
 * (after avail_event was written) normally finds nothing. */
#define MAX_PASSES 4

static int rd(struct capdrv_sim *sim, struct sim_fn *f, uint64_t a, void *buf, size_t len)
{
    return sim_dma_access(sim, f, a, buf, len, false);
}

static int rd16(struct capdrv_sim *sim, struct sim_fn *f, uint64_t a, uint16_t *v)
{
    uint8_t b[2];
    int rc = rd(sim, f, a, b, 2);
    *v = (uint16_t)sim_le_get(b, 2);
    return rc;
}

static int wr16(struct capdrv_sim *sim, struct sim_fn *f, uint64_t a, uint16_t v)
{
    uint8_t b[2];
    sim_le_put(b, 2, v);
    return sim_dma_access(sim, f, a, b, 2, true);
}

/* The three areas of @q must not wrap the address space: a device address
 * counter would wrap onto memory the driver never named. */
static bool areas_ok(const struct sim_vq *q)
{
    uint64_t s = q->size;
    return q->desc <= UINT64_MAX - CAPDRV_VPCI_DESC_SIZE * s &&
           q->driver <= UINT64_MAX - (AVAIL_RING + 2u * s + 2u) &&
           q->device <= UINT64_MAX - (USED_RING + CAPDRV_VPCI_USED_ELEM_SIZE * s + 2u);
}

struct desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags, next;
};

static int read_desc(struct capdrv_sim *sim, struct sim_fn *f, uint64_t table, uint32_t i,
                     struct desc *d)
{
    uint8_t b[CAPDRV_VPCI_DESC_SIZE];
    int rc = rd(sim, f, table + (uint64_t)i * CAPDRV_VPCI_DESC_SIZE, b, sizeof b);
    if (rc < 0)
        return rc;
    d->addr = sim_le_get(b, 8);
    d->len = (uint32_t)sim_le_get(b + 8, 4);
    d->flags = (uint16_t)sim_le_get(b + 12, 2);
    d->next = (uint16_t)sim_le_get(b + 14, 2);
    return 0;
}

/* Gather the chain at @head into @r. 0, or -CAPDRV_EPROTO (malformed) /
 * -CAPDRV_EFAULT (a descriptor read refused). */
static int walk(struct capdrv_sim *sim, struct sim_fn *f, const struct sim_virtio *vd,
                const struct sim_vq *q, uint16_t head, struct sim_vreq *r)
{
    r->head = head;
    r->n = 0;
    r->rlen = r->wlen = 0;
    if (head >= q->size)
        return -CAPDRV_EPROTO; /* §2.7.6: ring entries are descriptor indices */
    uint64_t table = q->desc;
    uint32_t tsize = q->size, i = head;
    bool indirect = false;
    /* Every descriptor visited costs one; a loop runs out (§2.7.5.3.1: a
     * chain is at most Queue Size long, plus the indirect descriptor). */
    for (unsigned budget = (unsigned)q->size + 1u; budget > 0; budget--) {
        struct desc d;
        int rc = read_desc(sim, f, table, i, &d);
        if (rc < 0)
            return rc;
        if (d.flags & CAPDRV_VPCI_DESC_F_INDIRECT) {
            /* §2.7.5.3.1: only with the feature, not inside an indirect
             * table, not together with NEXT; the table is whole
             * descriptors and no longer than the queue. */
            if (indirect || !sim_vio_has(vd, CAPDRV_VPCI_F_INDIRECT_DESC) ||
                (d.flags & CAPDRV_VPCI_DESC_F_NEXT) || d.len == 0 ||
                d.len % CAPDRV_VPCI_DESC_SIZE != 0 || d.len / CAPDRV_VPCI_DESC_SIZE > q->size ||
                d.addr > UINT64_MAX - d.len)
                return -CAPDRV_EPROTO;
            indirect = true;
            table = d.addr;
            tsize = d.len / CAPDRV_VPCI_DESC_SIZE;
            i = 0;
            continue;
        }
        bool w = (d.flags & CAPDRV_VPCI_DESC_F_WRITE) != 0;
        /* §2.7.4.2: device-writable buffers come after device-readable. */
        if (!w && r->wlen > 0)
            return -CAPDRV_EPROTO;
        if (d.len > 0 && d.addr > UINT64_MAX - d.len)
            return -CAPDRV_EPROTO; /* a buffer that wraps the address space */
        if (d.len > 0) {
            r->seg[r->n++] = (struct sim_vseg){.addr = d.addr, .len = d.len, .write = w};
            if (w)
                r->wlen += d.len;
            else
                r->rlen += d.len;
        }
        if (!(d.flags & CAPDRV_VPCI_DESC_F_NEXT))
            return 0;
        if (d.next >= tsize)
            return -CAPDRV_EPROTO;
        i = d.next;
    }
    return -CAPDRV_EPROTO; /* longer than the queue: a loop */
}

int sim_vreq_xfer(struct capdrv_sim *sim, struct sim_fn *f, const struct sim_vreq *req,
                  bool writable, uint64_t off, void *buf, uint64_t len)
{
    uint8_t *p = buf;
    for (unsigned i = 0; i < req->n && len > 0; i++) {
        const struct sim_vseg *s = &req->seg[i];
        if (s->write != writable)
            continue;
        if (off >= s->len) {
            off -= s->len;
            continue;
        }
        uint64_t chunk = s->len - off < len ? s->len - off : len;
        /* writable stream: the device writes memory. */
        if (sim_dma_access(sim, f, s->addr + off, p, (size_t)chunk, writable) < 0)
            return -CAPDRV_EFAULT;
        p += chunk;
        len -= chunk;
        off = 0;
    }
    return len ? -CAPDRV_ERANGE : 0;
}

/* Write @nd completions to the used ring, then used->idx once (§2.7.8:
 * elements before the index), applying the completion fault knobs. */
static int publish(struct capdrv_sim *sim, struct sim_fn *f, struct sim_virtio *vd,
                   struct sim_vq *q, unsigned nd)
{
    if (nd == 0)
        return 0;
    if (nd > SIM_VIRTIO_QSIZE_MAX)
        return -CAPDRV_EPROTO; /* more than the scratch holds: a caller bug */
    enum capdrv_sim_virtio_fault fault = vd->fault;
    for (unsigned k = 0; k < nd; k++) {
        unsigned j = fault == CAPDRV_SIM_VIRTIO_FAULT_REORDER ? nd - 1u - k : k;
        const struct sim_vdone *d = &vd->done[j];
        uint32_t id = d->id, len = d->len;
        if (fault == CAPDRV_SIM_VIRTIO_FAULT_USED_ID_RANGE)
            id += q->size; /* >= Queue Size: no such descriptor */
        if (fault == CAPDRV_SIM_VIRTIO_FAULT_USED_LEN)
            len = d->posted >= UINT32_MAX ? UINT32_MAX : (uint32_t)d->posted + 1u;
        unsigned reps = fault == CAPDRV_SIM_VIRTIO_FAULT_DOUBLE ? 2u : 1u;
        for (unsigned rep = 0; rep < reps; rep++) {
            uint8_t e[CAPDRV_VPCI_USED_ELEM_SIZE];
            sim_le_put(e, 4, id);
            sim_le_put(e + 4, 4, len);
            uint64_t at = q->device + USED_RING +
                          (uint64_t)(q->used_idx & (q->size - 1u)) * CAPDRV_VPCI_USED_ELEM_SIZE;
            if (sim_dma_access(sim, f, at, e, sizeof e, true) < 0)
                return -CAPDRV_EFAULT;
            q->used_idx++;
        }
    }
    return wr16(sim, f, q->device + USED_IDX, q->used_idx);
}

/* vring_need_event (§2.7.7.2): did moving from @old to @new pass @event? */
static bool need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
    return (uint16_t)(new_idx - event - 1u) < (uint16_t)(new_idx - old_idx);
}

/* Used-buffer notification after a batch (§2.7.7.2), if the driver wants
 * one. An unreadable suppression field errs towards notifying. */
void sim_vq_signal(struct capdrv_sim *sim, struct sim_fn *f, unsigned qi, uint16_t before)
{
    struct sim_virtio *vd = sim_vio(f);
    struct sim_vq *q = &vd->q[qi];
    if (q->used_idx == before)
        return;
    bool need;
    if (sim_vio_has(vd, CAPDRV_VPCI_F_EVENT_IDX)) {
        uint16_t ev = 0;
        bool ok = rd16(sim, f, q->driver + AVAIL_RING + 2u * (uint64_t)q->size, &ev) == 0;
        bool valid = q->signalled_valid;
        uint16_t old = q->signalled;
        q->signalled = q->used_idx;
        q->signalled_valid = true;
        need = !ok || !valid || need_event(ev, q->used_idx, old);
    } else {
        uint16_t flags = 0;
        bool ok = rd16(sim, f, q->driver, &flags) == 0;
        need = !ok || !(flags & CAPDRV_VPCI_AVAIL_F_NO_INTERRUPT);
    }
    if (!need)
        return;
    vd->isr |= CAPDRV_VPCI_ISR_QUEUE; /* §4.1.4.5 */
    if (q->msix != CAPDRV_VPCI_MSI_NO_VECTOR)
        sim_irq_raise(f, q->msix);
}

int sim_vq_avail(struct capdrv_sim *sim, struct sim_fn *f, unsigned qi, uint16_t *n)
{
    struct sim_vq *q = &sim_vio(f)->q[qi];
    uint16_t avail_idx;
    *n = 0;
    if (rd16(sim, f, q->driver + AVAIL_IDX, &avail_idx) < 0)
        return -CAPDRV_EFAULT;
    uint16_t k = (uint16_t)(avail_idx - q->last_avail);
    if (k > q->size)
        return -CAPDRV_EPROTO; /* more available than the queue holds */
    *n = k;
    q->avail_seen = avail_idx;
    return 0;
}

int sim_vq_chain(struct capdrv_sim *sim, struct sim_fn *f, unsigned qi, uint16_t k,
                 struct sim_vreq *r)
{
    struct sim_virtio *vd = sim_vio(f);
    struct sim_vq *q = &vd->q[qi];
    uint16_t head;
    uint64_t slot = (uint64_t)((uint16_t)(q->last_avail + k) & (q->size - 1u));
    if (rd16(sim, f, q->driver + AVAIL_RING + 2u * slot, &head) < 0)
        return -CAPDRV_EFAULT;
    r->seg = vd->segs;
    return walk(sim, f, vd, q, head, r);
}

int sim_vq_publish(struct capdrv_sim *sim, struct sim_fn *f, unsigned qi, unsigned nd)
{
    struct sim_virtio *vd = sim_vio(f);
    struct sim_vq *q = &vd->q[qi];
    int rc = publish(sim, f, vd, q, nd);
    if (rc < 0)
        return rc;
    /* §2.7.10.2: with EVENT_IDX, ask for a notification as soon as the
     * driver makes any further entry available: avail_event is the index
     * the device has seen, not the entries it took. A device that leaves
     * entries available (a receiveq short of buffers for a frame) would
     * otherwise name an index the driver already passed, and never hear of
     * the buffers it adds next. */
    if (sim_vio_has(vd, CAPDRV_VPCI_F_EVENT_IDX))
        return wr16(sim, f, q->device + USED_RING + CAPDRV_VPCI_USED_ELEM_SIZE * (uint64_t)q->size,
                    q->avail_seen);
    return 0;
}

bool sim_vq_begin(struct sim_fn *f, unsigned qi)
{
    struct sim_virtio *vd = sim_vio(f);
    if (vd->fault == CAPDRV_SIM_VIRTIO_FAULT_NEEDS_RESET || !areas_ok(&vd->q[qi])) {
        sim_virtio_needs_reset(f);
        return false;
    }
    return true;
}

/* One pass: take every entry published so far and execute it as a
 * request. 0 or negative (broken). */
static int pass(struct capdrv_sim *sim, struct sim_fn *f, unsigned qi, bool *any)
{
    struct sim_virtio *vd = sim_vio(f);
    uint16_t n;
    int rc = sim_vq_avail(sim, f, qi, &n);
    *any = n != 0;
    if (rc < 0 || n == 0)
        return rc;
    for (uint16_t k = 0; k < n; k++) {
        struct sim_vreq r;
        rc = sim_vq_chain(sim, f, qi, k, &r);
        if (rc < 0)
            return rc;
        uint32_t used = 0;
        rc = vd->ops->handle(sim, f, &r, &used);
        if (rc < 0)
            return rc;
        vd->done[k] = (struct sim_vdone){.id = r.head, .len = used, .posted = r.wlen};
    }
    vd->q[qi].last_avail = (uint16_t)(vd->q[qi].last_avail + n);
    return sim_vq_publish(sim, f, qi, n);
}

void sim_vq_process(struct capdrv_sim *sim, struct sim_fn *f, unsigned qi)
{
    if (!sim_vq_begin(f, qi))
        return;
    uint16_t before = sim_vio(f)->q[qi].used_idx;
    for (int p = 0; p < MAX_PASSES; p++) {
        bool any = false;
        if (pass(sim, f, qi, &any) < 0) {
            sim_virtio_needs_reset(f);
            return;
        }
        if (!any)
            break;
    }
    sim_vq_signal(sim, f, qi, before);
}
