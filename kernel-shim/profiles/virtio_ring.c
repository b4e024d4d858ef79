/* The DMA lanes for split virtqueues (VIRTIO 1.2 §2.7).
 *
 * Brokered lane: the device never sees the provider's descriptor table or
 * available ring. At queue_enable the shim allocates a shadow of both in
 * memory no provider can map or name; at each notify it copies the newly
 * published available entries and the descriptor chains they head,
 * replacing every buffer reference by the device address the ledger
 * resolves it to. A reference outside the ledger refuses the whole notify
 * (the device sees none of it), and what the provider writes after the
 * notify changes nothing the device sees. The used ring carries only
 * descriptor ids and lengths, so the device writes it in the provider's
 * buffer directly.
 *
 * Direct lane: the device uses the provider's rings (by IOVA). At each
 * notify the shim walks every newly published chain, indirect tables
 * included, and checks each range against the ledger before it rings the
 * doorbell. The IOMMU mapping, which holds only ledger memory, is what
 * stops a provider that rewrites a ring after the check.
 *
 * Buffers published to a queue count as in flight until the device is
 * reset: releasing one earlier makes the shim reset the function.
 *
 * The vio_ring_* functions know nothing of the transport: the PCI profile
 * (virtio_pci.c, §4.1) and the MMIO profile (virtio_mmio.c, §4.2) both
 * program what vio_ring_prepare() returns through their own registers. */
#include "virtio_pci.h"

#include "../util.h"

/* §2.7: area sizes for Queue Size n, event fields included. */
static uint64_t area_len(unsigned area, uint64_t n)
{
    return area == VIO_AREA_DESC ? 16 * n : area == VIO_AREA_DRIVER ? 6 + 2 * n : 6 + 8 * n;
}

/* §2.7 table: alignment of each area. */
static const uint64_t area_align[VIO_AREAS] = {16, 2, 4};

/* The brokered lane's staging area: a descriptor table, then the heads
 * read from the provider's avail ring, by slot. */
static uint64_t stage_len(uint64_t n)
{
    return 16 * n + 2 * n;
}

static uint64_t shadow_avail_off(uint64_t n)
{
    return 16 * n;
}

static int common_write(struct shim_profile_ctx *ctx, const struct vio_state *st, uint64_t field,
                        unsigned width, uint64_t v)
{
    const struct vio_region *c = &st->cap[VIO_CAP_COMMON];
    return shim_profile_raw_write(ctx, c->bar, c->offset + field, width, v) < 0 ? -CAPDRV_EIO : 0;
}

static int common_read(struct shim_profile_ctx *ctx, const struct vio_state *st, uint64_t field,
                       unsigned width, uint64_t *v)
{
    const struct vio_region *c = &st->cap[VIO_CAP_COMMON];
    return shim_profile_raw_read(ctx, c->bar, c->offset + field, width, v) < 0 ? -CAPDRV_EIO : 0;
}

/* Program a 64-bit queue address as two 32-bit halves (§4.1.3.1), which
 * every implementation accepts. */
static int program_area(struct shim_profile_ctx *ctx, const struct vio_state *st, unsigned area,
                        uint64_t devaddr)
{
    uint64_t field = VIO_Q_DESC + 8ull * area;
    int rc = common_write(ctx, st, field, 4, devaddr & 0xffffffffu);
    return rc < 0 ? rc : common_write(ctx, st, field + 4, 4, devaddr >> 32);
}

int vio_ring_prepare(struct shim_profile_ctx *ctx, struct vio_queue *q, uint64_t size,
                     uint64_t dev[VIO_AREAS])
{
    if (q->enabled)
        return -CAPDRV_EBUSY;
    /* A Queue Size is a power of two up to 32768 (§2.7). */
    if (size == 0 || size > VIO_MAX_QSIZE || (size & (size - 1)))
        return -CAPDRV_EPROTO;
    int rc;
    for (unsigned a = 0; a < VIO_AREAS; a++) {
        if (q->ref[a] % area_align[a])
            return -CAPDRV_EINVAL;
        void *cpu;
        rc = shim_profile_dma_publish_cpu(ctx, q->ref[a], area_len(a, size), &dev[a], &cpu);
        if (rc < 0)
            return rc;
    }
    if (ctx->g->lane == CAPDRV_LANE_BROKERED) {
        uint64_t bytes = shadow_avail_off(size) + area_len(VIO_AREA_DRIVER, size);
        bytes = (bytes + SHIM_PAGE_SIZE - 1) & ~(uint64_t)(SHIM_PAGE_SIZE - 1);
        void *cpu;
        uint64_t base;
        q->stage = shim_profile_alloc(ctx, (size_t)stage_len(size));
        if (!q->stage)
            return -CAPDRV_ENOMEM;
        rc = shim_profile_shadow_alloc(ctx, (size_t)bytes, &q->shadow_index, &cpu, &base);
        if (rc < 0) {
            shim_profile_free(ctx, q->stage);
            q->stage = NULL;
            return rc;
        }
        q->shadow_live = true;
        q->shadow = cpu; /* zeroed by the ledger: avail flags 0 = interrupts wanted */
        dev[VIO_AREA_DESC] = base;
        dev[VIO_AREA_DRIVER] = base + shadow_avail_off(size);
    }
    return 0;
}

void vio_ring_abort(struct shim_profile_ctx *ctx, struct vio_queue *q)
{
    if (q->shadow_live)
        shim_profile_shadow_free(ctx, q->shadow_index);
    shim_profile_free(ctx, q->stage);
    q->stage = NULL;
    q->shadow_live = false;
    q->shadow = NULL;
}

void vio_ring_enabled(struct vio_queue *q, uint64_t size, uint64_t notify_off)
{
    q->enabled = true;
    q->size = (uint16_t)size;
    q->notify_off = notify_off;
    q->next_avail = 0; /* §2.7.6: idx starts at 0 after enable */
}

int vio_queue_enable(struct shim_profile_ctx *ctx, struct vio_state *st, unsigned qi)
{
    struct vio_queue *q = &st->q[qi];
    if (q->enabled)
        return -CAPDRV_EBUSY;
    uint64_t size, notify_off;
    int rc = common_read(ctx, st, VIO_Q_SIZE, 2, &size);
    if (rc == 0)
        rc = common_read(ctx, st, VIO_Q_NOTIFY_OFF, 2, &notify_off);
    if (rc < 0)
        return rc;
    /* Device values are untrusted: the notify address must lie in the
     * notify structure; vio_ring_prepare() checks the Queue Size. */
    uint64_t noff = notify_off * st->notify_mult;
    if (!shim_range_within(noff, 2, st->cap[VIO_CAP_NOTIFY].length))
        return -CAPDRV_EPROTO;

    uint64_t dev[VIO_AREAS];
    if ((rc = vio_ring_prepare(ctx, q, size, dev)) < 0)
        return rc;
    for (unsigned a = 0; a < VIO_AREAS && rc == 0; a++)
        rc = program_area(ctx, st, a, dev[a]);
    if (rc == 0)
        rc = common_write(ctx, st, VIO_Q_ENABLE, 2, 1);
    if (rc < 0) {
        vio_ring_abort(ctx, q);
        return rc;
    }
    vio_ring_enabled(q, size, noff);
    return 0;
}

/* Check (and in the brokered lane copy) one indirect table (§2.7.5.3). */
static int check_indirect(struct shim_profile_ctx *ctx, uint64_t ref, uint32_t len, unsigned qsize)
{
    /* §2.7.5.3.1: a table holds whole descriptors, no more than the queue
     * size, and none of them is itself indirect. */
    if (len == 0 || len % 16 || len / 16 > qsize)
        return -CAPDRV_EPROTO;
    uint64_t dev;
    void *cpu;
    int rc = shim_profile_dma_publish_cpu(ctx, ref, len, &dev, &cpu);
    if (rc < 0)
        return rc;
    const volatile uint8_t *t = cpu;
    unsigned n = len / 16, i = 0;
    for (unsigned walked = 0;; walked++) {
        if (walked >= n || i >= n)
            return -CAPDRV_EPROTO; /* loops or leaves the table */
        const volatile uint8_t *d = t + 16u * i;
        uint64_t addr = vio_le_load(d, 8);
        uint32_t dlen = (uint32_t)vio_le_load(d + 8, 4);
        uint16_t flags = (uint16_t)vio_le_load(d + 12, 2);
        uint16_t next = (uint16_t)vio_le_load(d + 14, 2);
        if (flags & VIO_DESC_F_INDIRECT)
            return -CAPDRV_EPROTO;
        if (dlen && (rc = shim_profile_dma_publish(ctx, addr, dlen, &dev)) < 0)
            return rc;
        if (!(flags & VIO_DESC_F_NEXT))
            return 0;
        i = next;
    }
}

/* Walk the chain headed by @head in the provider's table @desc, reading
 * each descriptor once; in the brokered lane write the resolved chain into
 * the shim-private staging table @stage (same slots). */
static int walk_chain(struct shim_profile_ctx *ctx, const volatile uint8_t *desc, uint8_t *stage,
                      unsigned size, uint16_t head)
{
    unsigned i = head;
    for (unsigned walked = 0;; walked++) {
        /* §2.7.4.2 / §2.7.5.3.1: a chain is at most Queue Size long; a
         * longer walk is a loop. */
        if (walked >= size || i >= size)
            return -CAPDRV_EPROTO;
        const volatile uint8_t *d = desc + 16u * i;
        uint64_t addr = vio_le_load(d, 8);
        uint32_t len = (uint32_t)vio_le_load(d + 8, 4);
        uint16_t flags = (uint16_t)vio_le_load(d + 12, 2);
        uint16_t next = (uint16_t)vio_le_load(d + 14, 2);
        uint64_t dev = 0;
        int rc = 0;
        if (flags & VIO_DESC_F_INDIRECT) {
            if (stage || (flags & VIO_DESC_F_NEXT))
                return -CAPDRV_EPROTO; /* hidden in the brokered lane; §2.7.5.3.1 no NEXT */
            return check_indirect(ctx, addr, len, size);
        }
        if (len && (rc = shim_profile_dma_publish(ctx, addr, len, &dev)) < 0)
            return rc;
        if (stage) {
            uint8_t *s = stage + 16u * i;
            vio_le_store(s, 8, dev);
            vio_le_store(s + 8, 4, len);
            vio_le_store(s + 12, 2, flags & (VIO_DESC_F_NEXT | VIO_DESC_F_WRITE));
            vio_le_store(s + 14, 2, next);
        }
        if (!(flags & VIO_DESC_F_NEXT))
            return 0;
        i = next;
    }
}

/* Brokered lane, second pass: copy the staged chain headed by @head into
 * the device-visible shadow table. The staging table is shim memory that
 * only walk_chain() wrote, and every index in it was checked there; the
 * bounds are checked again so this loop stands on its own. */
static void commit_chain(const uint8_t *stage, volatile uint8_t *shadow, unsigned size,
                         uint16_t head)
{
    unsigned i = head;
    for (unsigned walked = 0; walked < size && i < size; walked++) {
        const uint8_t *s = stage + 16u * i;
        volatile uint8_t *d = shadow + 16u * i;
        for (unsigned b = 0; b < 16; b++)
            d[b] = s[b];
        if (!(vio_le_load(s + 12, 2) & VIO_DESC_F_NEXT))
            return;
        i = (unsigned)vio_le_load(s + 14, 2);
    }
}

int vio_queue_notify(struct shim_profile_ctx *ctx, struct vio_state *st, unsigned qi)
{
    return vio_ring_notify(ctx, &st->q[qi]);
}

int vio_ring_notify(struct shim_profile_ctx *ctx, struct vio_queue *q)
{
    unsigned size = q->size;
    uint64_t dev;
    void *desc_cpu, *avail_cpu;
    /* Re-resolve the rings each time: a released buffer makes this fail
     * instead of reading freed memory. */
    int rc = shim_profile_dma_publish_cpu(ctx, q->ref[VIO_AREA_DESC], area_len(VIO_AREA_DESC, size),
                                          &dev, &desc_cpu);
    if (rc == 0)
        rc = shim_profile_dma_publish_cpu(ctx, q->ref[VIO_AREA_DRIVER],
                                          area_len(VIO_AREA_DRIVER, size), &dev, &avail_cpu);
    if (rc < 0)
        return rc;
    const volatile uint8_t *avail = avail_cpu;
    uint16_t idx = (uint16_t)vio_le_load(avail + 2, 2);
    /* Pairs with the driver's release before its avail->idx store
     * (§2.7.13.3.1): the entries below are read after idx. */
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    uint16_t n = (uint16_t)(idx - q->next_avail);
    volatile uint8_t *shadow = q->shadow_live ? q->shadow : NULL;
    if (n > size) {
        /* Brokered: the device only sees what the shim published, so a
         * driver can never have more than a ring's worth unpublished.
         * Direct: with EVENT_IDX the driver may publish many rings' worth
         * between notifies (§2.7.10) while the device consumes them; only
         * the last Queue Size entries are still in the ring to check. */
        if (shadow)
            return -CAPDRV_EPROTO;
        q->next_avail = (uint16_t)(idx - size);
        n = (uint16_t)size;
    }
    /* Pass 1: read each new avail entry once (the provider may rewrite its
     * ring meanwhile) and check every chain it heads; in the brokered lane
     * the resolved chains go to the staging table. A refusal leaves the
     * device-visible shadow exactly as it was: a chain the device still
     * holds is never half rewritten by a notify that then fails. */
    for (uint16_t k = 0; k < n; k++) {
        unsigned slot = (uint16_t)(q->next_avail + k) & (size - 1u);
        uint16_t head = (uint16_t)vio_le_load(avail + 4 + 2u * slot, 2);
        if (head >= size)
            return -CAPDRV_EPROTO;
        rc = walk_chain(ctx, desc_cpu, shadow ? q->stage : NULL, size, head);
        if (rc < 0)
            return rc; /* nothing of this notify becomes visible */
        if (shadow)
            vio_le_store(q->stage + 16u * size + 2u * slot, 2, head);
    }
    volatile uint8_t *shadow_avail = shadow ? shadow + shadow_avail_off(size) : NULL;
    if (shadow_avail) {
        /* Pass 2: every chain passed; make them visible. */
        for (uint16_t k = 0; k < n; k++) {
            unsigned slot = (uint16_t)(q->next_avail + k) & (size - 1u);
            uint16_t head = (uint16_t)vio_le_load(q->stage + 16u * size + 2u * slot, 2);
            commit_chain(q->stage, shadow, size, head);
            vio_le_store(shadow_avail + 4 + 2u * slot, 2, head);
        }
        /* §2.7.13.3.1: descriptors and ring entries before the index. */
        __atomic_thread_fence(__ATOMIC_RELEASE);
        vio_le_store(shadow_avail + 2, 2, idx);
        __atomic_thread_fence(__ATOMIC_SEQ_CST); /* §2.7.13.4: before the notify */
    }
    q->next_avail = idx;
    return 0;
}

void vio_queues_drop(struct shim_profile_ctx *ctx, struct vio_state *st)
{
    vio_ring_drop_all(ctx, st->q, VIO_MAX_QUEUES);
}

void vio_ring_drop_all(struct shim_profile_ctx *ctx, struct vio_queue *qs, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        struct vio_queue *q = &qs[i];
        if (q->shadow_live)
            shim_profile_shadow_free(ctx, q->shadow_index);
        shim_profile_free(ctx, q->stage);
        *q = (struct vio_queue){0};
    }
}

void vio_ring_free_stages(struct shim_profile_ctx *ctx, struct vio_queue *qs, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        shim_profile_free(ctx, qs[i].stage);
        qs[i].stage = NULL;
    }
}
