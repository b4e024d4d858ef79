/* Fuzz target: the split virtqueue (include/capdrv/virtq.h,
 * src/virtio/virtq*.c) driven by a hostile device. The input is a script
 * of driver calls interleaved with arbitrary device writes to the used ring
 * (elements, used->idx, flags, avail_event) and to the driver area (which a
 * device must never write). A model of what the driver added checks every
 * answer:
 *
 * - a completion names a request that was published and not completed
 *   before (each cookie exactly once), with len <= the writable bytes it
 *   posted;
 * - descriptors are conserved: num_free + descriptors held by live
 *   requests == Queue Size, at every step;
 * - once a call returns -CAPDRV_EPROTO the queue reports a fault and every
 *   later call (but detach) returns -CAPDRV_EPROTO;
 * - what the device reads from a published chain (head in range, the chain
 *   inside the table or the head's indirect table) is what was added;
 * - at the end, detach returns each request neither completed nor detached
 *   before, exactly once, and every descriptor is free again.
 *
 * All memory is heap blocks of exactly the sizes the library is told, so
 * ASan sees any access outside them.
 *
 * Input (reads past the end give zeros):
 *   byte 0   bits 2:0 log2 Queue Size (0..5, capped), bit 6 EVENT_IDX,
 *            bit 7 INDIRECT (then byte 1: indirect_max = 1 + b % size)
 *   ops      one byte each, low 3 bits select, the rest parameters:
 *     0 add      then nseg byte, n_out byte, one length byte per segment
 *     1 publish  then needs_notify
 *     2 used element: id mode/len mode in the op byte, values follow
 *     3 used->idx: += (b >> 3) % 4, or a raw le16 when bit 7 is set
 *     4 device pops every available entry and walks its chain
 *     5 reap, max = (b >> 3)
 *     6 enable_cb or disable_cb (bit 3), or verify (bit 4)
 *     7 scribble: a raw le16 at one of avail flags/idx/ring/used_event,
 *       used flags, avail_event (selector byte, value le16) */
#define _POSIX_C_SOURCE 200809L /* posix_memalign */
#include "fuzz_common.h"

#include <string.h>

#include <capdrv/virtq.h>

#define MAX_LOG2 5u
#define MAX_REQ 512u
#define MAX_SEGS 6u
#define MAX_OPS 2048u
#define DATA_REF 0x0000300000000000ull
#define RING_REF 0x0000100000000000ull
#define IND_REF 0x0000200000000000ull

/* Request model. */
enum { R_ADDED = 1, R_PUBLISHED, R_DONE, R_DETACHED };
struct req {
    int state;
    unsigned ndesc;
    uint64_t wbytes;
    unsigned nseg;
};

struct ctx {
    struct capdrv_virtq vq;
    struct capdrv_virtq_layout lay;
    unsigned size, imax;
    unsigned char *ring, *ind;
    void *state;
    struct req req[MAX_REQ];
    unsigned nreq;
    int broken;
    uint16_t dev_avail, dev_used; /* device cursors */
    uint16_t popped[64];          /* heads the device has seen, for plausible ids */
    unsigned npopped;
};

static uint16_t get16(const unsigned char *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)get16(p) | ((uint32_t)get16(p + 2) << 16);
}

static uint64_t get64(const unsigned char *p)
{
    return (uint64_t)get32(p) | ((uint64_t)get32(p + 4) << 32);
}

static void put16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, uint32_t v)
{
    put16(p, (uint16_t)v);
    put16(p + 2, (uint16_t)(v >> 16));
}

/* Descriptors held by requests the driver still owns. */
static unsigned held_descs(const struct ctx *c)
{
    unsigned n = 0;
    for (unsigned i = 0; i < c->nreq; i++)
        if (c->req[i].state == R_ADDED || c->req[i].state == R_PUBLISHED)
            n += c->req[i].ndesc;
    return n;
}

static void check_conserved(const struct ctx *c)
{
    FUZZ_CHECK(capdrv_virtq_num_free(&c->vq) + held_descs(c) == c->size);
}

/* A call returned rc: once broken, always -EPROTO. Only reap may return
 * a count with the fault already set (completions taken before the bad
 * element); the next call then refuses. */
static void note_rc(struct ctx *c, int rc, int is_reap)
{
    if (rc == -CAPDRV_EPROTO) {
        FUZZ_CHECK(capdrv_virtq_error(&c->vq) != CAPDRV_VIRTQ_OK);
        c->broken = 1;
        return;
    }
    FUZZ_CHECK_MSG(rc >= 0, "rc", rc);
    FUZZ_CHECK(!c->broken);
    if (capdrv_virtq_error(&c->vq) != CAPDRV_VIRTQ_OK) {
        FUZZ_CHECK(is_reap && rc > 0);
        c->broken = 1;
    }
}

static void take(struct ctx *c, const struct capdrv_virtq_completion *comp, int n, int detached)
{
    for (int i = 0; i < n; i++) {
        uintptr_t k = (uintptr_t)comp[i].cookie;
        FUZZ_CHECK_MSG(k >= 1 && k <= c->nreq, "cookie", k);
        struct req *q = &c->req[k - 1];
        if (detached) {
            FUZZ_CHECK_MSG(q->state == R_ADDED || q->state == R_PUBLISHED, "detach state", q->state);
            FUZZ_CHECK(comp[i].len == 0);
            q->state = R_DETACHED;
        } else {
            /* Published, not completed before, len within what was posted. */
            FUZZ_CHECK_MSG(q->state == R_PUBLISHED, "reap state", q->state);
            FUZZ_CHECK(comp[i].len <= q->wbytes);
            q->state = R_DONE;
        }
    }
}

static void op_add(struct ctx *c, struct fuzz_rd *r)
{
    unsigned nseg = 1u + fuzz_rd8(r) % MAX_SEGS;
    unsigned n_out = fuzz_rd8(r) % (nseg + 1u);
    struct capdrv_virtq_seg segs[MAX_SEGS];
    uint64_t w = 0;
    for (unsigned i = 0; i < nseg; i++) {
        uint8_t b = fuzz_rd8(r);
        /* mostly small; 255 means "huge" to reach the 2^32 total limit */
        segs[i].len = b == 255 ? 0xffffffffu : (uint32_t)b * 16u + 1u;
        segs[i].ref = DATA_REF + ((uint64_t)c->nreq << 8) + 16u * i;
        if (i >= n_out)
            w += segs[i].len;
    }
    if (c->nreq >= MAX_REQ)
        return;
    uint64_t total = 0;
    for (unsigned i = 0; i < nseg; i++)
        total += segs[i].len;
    unsigned need = c->imax && nseg >= 2 && nseg <= c->imax ? 1u : nseg;
    unsigned before = capdrv_virtq_num_free(&c->vq);
    int rc = capdrv_virtq_add(&c->vq, segs, n_out, nseg - n_out,
                              (void *)(uintptr_t)(c->nreq + 1u));
    if (c->broken) {
        FUZZ_CHECK(rc == -CAPDRV_EPROTO);
        return;
    }
    if (nseg > c->size) {
        FUZZ_CHECK(rc == -CAPDRV_EINVAL);
        return;
    }
    if (total > ((uint64_t)1 << 32)) {
        FUZZ_CHECK(rc == -CAPDRV_EOVERFLOW);
        return;
    }
    if (need > before) {
        FUZZ_CHECK(rc == -CAPDRV_ENOSPC);
        FUZZ_CHECK(capdrv_virtq_num_free(&c->vq) == before);
        return;
    }
    FUZZ_CHECK_MSG(rc == 0, "add", rc);
    struct req *q = &c->req[c->nreq++];
    q->state = R_ADDED;
    q->ndesc = need;
    q->wbytes = w;
    q->nseg = nseg;
}

static void op_publish(struct ctx *c)
{
    int rc = capdrv_virtq_publish(&c->vq);
    note_rc(c, rc, 0);
    if (rc >= 0) {
        int n = 0;
        for (unsigned i = 0; i < c->nreq; i++)
            if (c->req[i].state == R_ADDED) {
                c->req[i].state = R_PUBLISHED;
                n++;
            }
        FUZZ_CHECK(rc == n);
    }
    rc = capdrv_virtq_needs_notify(&c->vq);
    note_rc(c, rc, 0);
    FUZZ_CHECK(rc == -CAPDRV_EPROTO || rc == 0 || rc == 1);
}

/* The device consumes every available entry and checks the chain of each
 * request that is still live. An entry may be stale (a hostile device
 * completed the request before consuming it, so its descriptors were
 * reused) or scribbled; those are the device's own problem and are only
 * consumed, not walked. */
static void op_pop(struct ctx *c)
{
    uint16_t avail_idx = get16(c->ring + c->lay.avail_off + 2);
    unsigned budget = c->size;
    while (c->dev_avail != avail_idx && budget-- > 0) {
        uint16_t head = get16(c->ring + c->lay.avail_off + 4 + 2u * (c->dev_avail & (c->size - 1u)));
        c->dev_avail++;
        if (head >= c->size)
            continue;
        if (c->npopped < 64)
            c->popped[c->npopped++] = head;
        const unsigned char *d = c->ring + c->lay.desc_off + 16u * head;
        uint16_t fl = get16(d + 12);
        const unsigned char *t = NULL;
        uint64_t first = get64(d);
        if (fl & CAPDRV_VRING_DESC_F_INDIRECT) {
            FUZZ_CHECK(c->ind != NULL);
            t = c->ind + (size_t)head * c->imax * 16u;
            first = get64(t);
        }
        /* Live: the first segment is segment 0 of a published request. */
        uint64_t k = (first - DATA_REF) >> 8;
        if (first < DATA_REF || ((first - DATA_REF) & 0xffu) != 0 || k >= c->nreq ||
            c->req[k].state != R_PUBLISHED)
            continue;

        unsigned nseg = 0;
        uint64_t w = 0;
        if (t != NULL) {
            /* F_INDIRECT alone, the head's own table, sized to the request,
             * chained in order, no nested F_INDIRECT (§2.7.5.3.1). */
            FUZZ_CHECK(fl == CAPDRV_VRING_DESC_F_INDIRECT);
            FUZZ_CHECK(get64(d) == IND_REF + (uint64_t)head * c->imax * 16u);
            uint32_t len = get32(d + 8);
            FUZZ_CHECK(len % 16u == 0 && len >= 32u && len / 16u <= c->imax);
            for (unsigned i = 0;; i++) {
                FUZZ_CHECK(i < len / 16u);
                uint16_t f2 = get16(t + 16u * i + 12);
                FUZZ_CHECK((f2 & CAPDRV_VRING_DESC_F_INDIRECT) == 0);
                nseg++;
                if (f2 & CAPDRV_VRING_DESC_F_WRITE)
                    w += get32(t + 16u * i + 8);
                if (!(f2 & CAPDRV_VRING_DESC_F_NEXT)) {
                    FUZZ_CHECK(nseg == len / 16u);
                    break;
                }
                FUZZ_CHECK(get16(t + 16u * i + 14) == i + 1u);
            }
        } else {
            uint16_t i = head;
            for (;;) {
                FUZZ_CHECK(nseg < c->size); /* no loop, at most Queue Size */
                const unsigned char *e = c->ring + c->lay.desc_off + 16u * i;
                uint16_t f2 = get16(e + 12);
                FUZZ_CHECK((f2 & CAPDRV_VRING_DESC_F_INDIRECT) == 0);
                FUZZ_CHECK(get64(e) == first + 16u * nseg); /* this request's segments, in order */
                nseg++;
                if (f2 & CAPDRV_VRING_DESC_F_WRITE)
                    w += get32(e + 8);
                if (!(f2 & CAPDRV_VRING_DESC_F_NEXT))
                    break;
                i = get16(e + 14);
                FUZZ_CHECK(i < c->size);
            }
        }
        FUZZ_CHECK(c->req[k].nseg == nseg && c->req[k].wbytes == w);
    }
}

static void op_used_elem(struct ctx *c, struct fuzz_rd *r, uint8_t b)
{
    uint32_t id, len;
    switch ((b >> 3) & 3u) {
    case 0: id = fuzz_rdn(r, 4); break;
    case 1: id = c->npopped ? c->popped[fuzz_rd8(r) % c->npopped] : 0; break;
    case 2: id = fuzz_rd8(r) % (c->size + 2u); break;
    default: id = c->size + fuzz_rd8(r); break;
    }
    switch ((b >> 5) & 3u) {
    case 0: len = fuzz_rdn(r, 4); break;
    case 1: len = 0; break;
    case 2: len = fuzz_rd8(r); break;
    default: len = fuzz_rdn(r, 2); break;
    }
    unsigned char *e = c->ring + c->lay.used_off + 4u + 8u * (c->dev_used & (c->size - 1u));
    put32(e, id);
    put32(e + 4, len);
    c->dev_used++;
}

static void op_used_idx(struct ctx *c, struct fuzz_rd *r, uint8_t b)
{
    uint16_t v;
    if (b & 0x80u)
        v = (uint16_t)fuzz_rdn(r, 2);
    else
        v = (uint16_t)(get16(c->ring + c->lay.used_off + 2) + ((b >> 3) % 4u));
    put16(c->ring + c->lay.used_off + 2, v);
}

static void op_reap(struct ctx *c, uint8_t b)
{
    struct capdrv_virtq_completion comp[32];
    unsigned max = (b >> 3) % 33u;
    int rc = capdrv_virtq_reap(&c->vq, comp, max);
    note_rc(c, rc, 1);
    if (rc > 0) {
        FUZZ_CHECK((unsigned)rc <= max);
        take(c, comp, rc, 0);
    }
}

static void op_cb(struct ctx *c, uint8_t b)
{
    int rc;
    if (b & 0x10u)
        rc = capdrv_virtq_verify(&c->vq);
    else if (b & 0x08u)
        rc = capdrv_virtq_disable_cb(&c->vq);
    else
        rc = capdrv_virtq_enable_cb(&c->vq);
    note_rc(c, rc, 0);
    FUZZ_CHECK(rc == -CAPDRV_EPROTO || rc == 0 || rc == 1);
}

static void op_scribble(struct ctx *c, struct fuzz_rd *r)
{
    uint8_t sel = fuzz_rd8(r);
    uint16_t v = (uint16_t)fuzz_rdn(r, 2);
    size_t off;
    switch (sel % 6u) {
    case 0: off = c->lay.avail_off; break;
    case 1: off = c->lay.avail_off + 2; break;
    case 2: off = c->lay.avail_off + 4 + 2u * ((sel >> 3) % c->size); break;
    case 3: off = c->lay.used_event_off; break;
    case 4: off = c->lay.used_off; break;
    default: off = c->lay.avail_event_off; break;
    }
    put16(c->ring + off, v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_rd r = {data, size};
    struct ctx cx;
    struct ctx *c = &cx;
    memset(c, 0, sizeof *c);

    uint8_t cfgb = fuzz_rd8(&r);
    unsigned log2 = cfgb & 7u;
    if (log2 > MAX_LOG2)
        log2 = MAX_LOG2;
    c->size = 1u << log2;
    unsigned flags = 0;
    if (cfgb & 0x40u)
        flags |= CAPDRV_VIRTQ_F_EVENT_IDX;
    if (cfgb & 0x80u) {
        flags |= CAPDRV_VIRTQ_F_INDIRECT;
        c->imax = 1u + fuzz_rd8(&r) % c->size;
    }
    FUZZ_CHECK(capdrv_virtq_layout(c->size, flags, &c->lay) == 0);
    void *p;
    FUZZ_CHECK(posix_memalign(&p, 16, c->lay.total_len) == 0);
    c->ring = p;
    size_t slen = capdrv_virtq_state_size(c->size);
    FUZZ_CHECK(posix_memalign(&c->state, 8, slen) == 0);
    size_t ilen = 0;
    if (c->imax) {
        ilen = (size_t)c->size * c->imax * 16u;
        FUZZ_CHECK(posix_memalign(&p, 16, ilen) == 0);
        c->ind = p;
    }
    struct capdrv_virtq_config cfg = {
        .size = c->size, .flags = flags,
        .ring = c->ring, .ring_ref = RING_REF, .ring_len = c->lay.total_len,
        .indirect = c->ind, .indirect_ref = c->ind ? IND_REF : 0, .indirect_len = ilen,
        .indirect_max = c->imax,
        .state = c->state, .state_len = slen,
    };
    FUZZ_CHECK(capdrv_virtq_init(&c->vq, &cfg) == 0);

    for (unsigned ops = 0; ops < MAX_OPS && r.n > 0; ops++) {
        uint8_t b = fuzz_rd8(&r);
        switch (b & 7u) {
        case 0: op_add(c, &r); break;
        case 1: op_publish(c); break;
        case 2: op_used_elem(c, &r, b); break;
        case 3: op_used_idx(c, &r, b); break;
        case 4: op_pop(c); break;
        case 5: op_reap(c, b); break;
        case 6: op_cb(c, b); break;
        default: op_scribble(c, &r); break;
        }
        check_conserved(c);
        if (c->broken) {
            struct capdrv_virtq_completion one;
            FUZZ_CHECK(capdrv_virtq_reap(&c->vq, &one, 1) == -CAPDRV_EPROTO);
            FUZZ_CHECK(capdrv_virtq_publish(&c->vq) == -CAPDRV_EPROTO);
        }
    }

    /* Reset: take everything back, each once. */
    struct capdrv_virtq_completion comp[3];
    int n;
    while ((n = capdrv_virtq_detach(&c->vq, comp, 3)) > 0)
        take(c, comp, n, 1);
    FUZZ_CHECK(n == 0);
    for (unsigned i = 0; i < c->nreq; i++)
        FUZZ_CHECK_MSG(c->req[i].state == R_DONE || c->req[i].state == R_DETACHED, "lost", i);
    FUZZ_CHECK(capdrv_virtq_num_free(&c->vq) == c->size);
    if (fuzz_verbose())
        fprintf(stderr, "virtq: size %u flags %#x reqs %u fault %d (%s)\n", c->size, flags,
                c->nreq, capdrv_virtq_error(&c->vq),
                capdrv_virtq_strfault(capdrv_virtq_error(&c->vq)));

    free(c->ring);
    free(c->state);
    free(c->ind);
    return 0;
}
