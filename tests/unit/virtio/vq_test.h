/* Test support for the split virtqueue tests (test_virtq_*.c):
 *
 * - a fixture that gives a queue exactly-sized heap memory (so ASan sees
 *   any access outside the ring, the indirect slab or the private state);
 * - a tiny *device* that acts on the ring memory the way a device following
 *   VIRTIO 1.2 §2.7 does: it reads avail->idx and the ring, walks direct and
 *   indirect chains (checking every driver rule it can see), writes used
 *   elements and used->idx, updates avail_event, and decides used-buffer
 *   notifications from used_event / avail->flags (§2.7.7.2). It decodes
 *   little-endian fields byte by byte, independently of the library.
 *
 * Device refs: the ring region is at VQ_RING_REF, the indirect slab at
 * VQ_IND_REF; request segments use any other value (tests encode request
 * numbers in them). */
#ifndef CAPDRV_TEST_VQ_TEST_H
#define CAPDRV_TEST_VQ_TEST_H

#include <stddef.h>
#include <stdint.h>

#include <capdrv/virtq.h>

#define VQ_RING_REF 0x0000100000000000ull
#define VQ_IND_REF 0x0000200000000000ull
#define VQ_DATA_REF 0x0000300000000000ull
#define VQ_DEV_MAX_SEGS 256u

struct vq_dev_seg {
    uint64_t addr;
    uint32_t len;
    int write;
};

/* One request as the device found it. */
struct vq_dev_req {
    uint16_t head;
    int indirect;                            /* went through an indirect table */
    unsigned nseg;
    uint16_t desc[VQ_DEV_MAX_SEGS];          /* ring descriptors of a direct chain */
    struct vq_dev_seg seg[VQ_DEV_MAX_SEGS];
    uint64_t wbytes;                         /* device-writable bytes */
};

struct vq_dev {
    unsigned size, mask;
    int event_idx;        /* VIRTIO_F_EVENT_IDX negotiated */
    int indirect;         /* VIRTIO_F_INDIRECT_DESC negotiated */
    unsigned indirect_max;
    unsigned char *ring;
    struct capdrv_virtq_layout lay;
    unsigned char *ind;   /* indirect slab (CPU) */
    size_t ind_len;
    uint16_t last_avail;  /* next available entry to consume */
    uint16_t used_idx;    /* next used entry to write (exposed by flush) */
    int auto_avail_event; /* after each pop, avail_event = last_avail */
    unsigned char *busy;  /* per descriptor: held by the device */
    uint16_t *hd_n;       /* per held head: ring descriptors of its chain */
    uint64_t *hd_wbytes;  /* per held head: device-writable bytes */
};

struct vq_fix {
    struct capdrv_virtq vq;
    struct capdrv_virtq_layout lay;
    struct capdrv_virtq_config cfg;
    void *ring, *state, *ind;
    struct vq_dev dev;
};

/* Allocate exactly-sized memory and initialise the queue (asserts success).
 * indirect_max 0 means no F_INDIRECT. */
void vq_fix_init(struct vq_fix *f, unsigned size, unsigned flags, unsigned indirect_max);
void vq_fix_free(struct vq_fix *f);

/* Little-endian accessors on ring memory at a byte offset. */
uint16_t vq_rd16(const unsigned char *p);
uint32_t vq_rd32(const unsigned char *p);
uint64_t vq_rd64(const unsigned char *p);
void vq_wr16(unsigned char *p, uint16_t v);
void vq_wr32(unsigned char *p, uint32_t v);

/* Device view of the shared fields. */
uint16_t vq_dev_avail_idx(const struct vq_dev *d);
uint16_t vq_dev_avail_flags(const struct vq_dev *d);
uint16_t vq_dev_used_event(const struct vq_dev *d);
uint16_t vq_dev_ring_used_idx(const struct vq_dev *d);
void vq_dev_set_avail_event(struct vq_dev *d, uint16_t v);
void vq_dev_set_used_flags(struct vq_dev *d, uint16_t v);

/* Available entries not yet consumed (asserts avail->idx did not move by
 * more than the Queue Size). */
unsigned vq_dev_pending(const struct vq_dev *d);
/* Consume one available entry: 1 and *r filled, or 0 if none. Fails the
 * test on any driver rule broken (chain shape, flags, order, indirect
 * table, descriptor reuse while the device holds it). */
int vq_dev_pop(struct vq_dev *d, struct vq_dev_req *r);
/* Write a used element for the held chain @head (len bytes, asserted <=
 * its writable bytes) at the next used position; the device no longer
 * holds its descriptors (re-walked through the descriptor table, which the
 * driver must not have changed meanwhile). Not visible until flush. */
void vq_dev_complete(struct vq_dev *d, uint16_t head, uint32_t len);
/* Write an arbitrary used element (hostile device). */
void vq_dev_push_raw(struct vq_dev *d, uint32_t id, uint32_t len);
/* Publish used->idx = used_idx (after a write barrier) and return 1 if a
 * device following §2.7.7.2 would now send a used-buffer notification. */
int vq_dev_flush(struct vq_dev *d);

/* Deterministic PRNG (xorshift64*). */
uint64_t vq_rand(uint64_t *s);

/* Cookie <-> request number. */
#define VQ_COOKIE(n) ((void *)(uintptr_t)((n) + 1u))
#define VQ_COOKIE_NUM(c) ((uint64_t)(uintptr_t)(c) - 1u)

#endif
