/* Reference decoder and helpers; see dptr_decode.h. */
#include "dptr_decode.h"

#include <stdlib.h>
#include <string.h>

void dec_ranges_reset(struct dec_ranges *rs)
{
    rs->n = 0;
}

void dec_ranges_free(struct dec_ranges *rs)
{
    free(rs->r);
    rs->r = NULL;
    rs->n = rs->cap = 0;
}

int dec_ranges_add(struct dec_ranges *rs, uint64_t ref, uint64_t len)
{
    if (rs->n > 0 && rs->r[rs->n - 1].ref + rs->r[rs->n - 1].len == ref &&
        rs->r[rs->n - 1].ref + rs->r[rs->n - 1].len != 0) {
        rs->r[rs->n - 1].len += len;
        return 0;
    }
    if (rs->n == rs->cap) {
        size_t cap = rs->cap ? rs->cap * 2 : 64;
        struct dec_range *r = realloc(rs->r, cap * sizeof *r);
        if (r == NULL)
            return DEC_NOMEM;
        rs->r = r;
        rs->cap = cap;
    }
    rs->r[rs->n].ref = ref;
    rs->r[rs->n].len = len;
    rs->n++;
    return 0;
}

int dec_ranges_from_segs(struct dec_ranges *rs, const struct capdrv_dma_seg *segs, unsigned n)
{
    dec_ranges_reset(rs);
    for (unsigned i = 0; i < n; i++) {
        int rc = dec_ranges_add(rs, segs[i].ref, segs[i].len);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int dec_ranges_equal(const struct dec_ranges *a, const struct dec_ranges *b)
{
    if (a->n != b->n)
        return 0;
    for (size_t i = 0; i < a->n; i++)
        if (a->r[i].ref != b->r[i].ref || a->r[i].len != b->r[i].len)
            return 0;
    return 1;
}

/* Map [ref, ref + len) to CPU memory inside one list page, or NULL. Records
 * what was read and which pages were visited. */
static const unsigned char *mem_at(struct dec_mem *m, uint64_t ref, uint64_t len,
                                   unsigned char *visited)
{
    for (unsigned i = 0; i < m->n; i++) {
        uint64_t base = m->pages[i].ref;
        if (ref < base || ref - base >= m->page_bytes)
            continue;
        uint64_t off = ref - base;
        if (len > m->page_bytes - off)
            return NULL;
        if (!visited[i]) {
            visited[i] = 1;
            m->lists++;
        }
        if (m->read_hi != NULL && off + len > m->read_hi[i])
            m->read_hi[i] = off + len;
        return (const unsigned char *)m->pages[i].cpu + off;
    }
    return NULL;
}

static uint64_t rd64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return capdrv_nvme_le64_to_cpu(v);
}

static void mem_begin(struct dec_mem *m, unsigned char **visited)
{
    m->lists = 0;
    if (m->read_hi != NULL)
        memset(m->read_hi, 0, m->n * sizeof *m->read_hi);
    *visited = calloc(m->n ? m->n : 1, 1);
}

int dec_prp(const union capdrv_nvme_dptr *dptr, uint64_t page_size, uint64_t xfer_len,
            struct dec_mem *mem, struct dec_ranges *out)
{
    const uint64_t mask = page_size - 1;
    const uint64_t prp1 = capdrv_nvme_le64_to_cpu(dptr->prp.prp1);
    const uint64_t prp2 = capdrv_nvme_le64_to_cpu(dptr->prp.prp2);
    unsigned char *visited;
    int rc = DEC_OK;

    dec_ranges_reset(out);
    mem_begin(mem, &visited);
    if (visited == NULL)
        return DEC_NOMEM;

    /* §4.1.1: PRP1 may have an offset; bits 1:0 are 00b. */
    if ((prp1 & 3u) != 0) {
        rc = DEC_PRP1_ALIGN;
        goto done;
    }
    uint64_t first = page_size - (prp1 & mask);
    uint64_t chunk = xfer_len < first ? xfer_len : first;
    if ((rc = dec_ranges_add(out, prp1, chunk)) != 0)
        goto done;
    uint64_t rem = xfer_len - chunk;
    if (rem == 0) {
        if (prp2 != 0) /* reserved: our builders write 0 */
            rc = DEC_PRP2_RESERVED;
        goto done;
    }
    if (rem <= page_size) { /* PRP2 is the second (and last) page */
        if ((prp2 & mask) != 0)
            rc = DEC_ENTRY_OFFSET;
        else
            rc = dec_ranges_add(out, prp2, rem);
        goto done;
    }
    /* PRP2 is a list pointer (qword aligned, may have an offset). */
    uint64_t cur = prp2;
    unsigned hops = 0;
    if ((cur & 7u) != 0) {
        rc = DEC_LIST_ALIGN;
        goto done;
    }
    while (rem > 0) {
        const unsigned char *p = mem_at(mem, cur, 8, visited);
        if (p == NULL) {
            rc = DEC_LIST_UNMAPPED;
            goto done;
        }
        uint64_t e = rd64(p);
        if (((cur + 8) & mask) == 0 && rem > page_size) {
            /* Last entry of a list page with more than one entry to go:
             * pointer to the next list. */
            if (++hops > mem->n) {
                rc = DEC_LOOP;
                goto done;
            }
            if ((e & 7u) != 0) {
                rc = DEC_LIST_ALIGN;
                goto done;
            }
            cur = e;
            continue;
        }
        if ((e & mask) != 0) {
            rc = DEC_ENTRY_OFFSET;
            goto done;
        }
        chunk = rem < page_size ? rem : page_size;
        if ((rc = dec_ranges_add(out, e, chunk)) != 0)
            goto done;
        rem -= chunk;
        cur += 8;
    }
done:
    free(visited);
    return rc;
}

struct sgl_d {
    uint64_t addr;
    uint32_t len;
    unsigned type;
};

static int sgl_read(const void *raw, struct sgl_d *d)
{
    struct capdrv_nvme_sgl_desc v;
    memcpy(&v, raw, sizeof v);
    if (v.rsvd[0] != 0 || v.rsvd[1] != 0 || v.rsvd[2] != 0 ||
        (v.id & 0xFu) != CAPDRV_NVME_SGL_SUB_ADDRESS)
        return DEC_SGL_TYPE;
    d->addr = capdrv_nvme_le64_to_cpu(v.addr);
    d->len = capdrv_nvme_le32_to_cpu(v.length);
    d->type = v.id >> 4;
    if (d->type != CAPDRV_NVME_SGL_DATA_BLOCK && d->type != CAPDRV_NVME_SGL_SEGMENT &&
        d->type != CAPDRV_NVME_SGL_LAST_SEGMENT)
        return DEC_SGL_TYPE;
    if (d->type == CAPDRV_NVME_SGL_DATA_BLOCK && d->len == 0)
        return DEC_SGL_ZERO;
    return DEC_OK;
}

int dec_sgl(const union capdrv_nvme_dptr *dptr, uint64_t xfer_len, struct dec_mem *mem,
            struct dec_ranges *out)
{
    unsigned char *visited;
    struct sgl_d d;
    uint64_t total = 0;
    unsigned hops = 0;
    int rc;

    dec_ranges_reset(out);
    mem_begin(mem, &visited);
    if (visited == NULL)
        return DEC_NOMEM;

    if ((rc = sgl_read(&dptr->sgl1, &d)) != 0)
        goto done;
    if (d.type == CAPDRV_NVME_SGL_DATA_BLOCK) {
        total = d.len;
        rc = dec_ranges_add(out, d.addr, d.len);
        goto done;
    }
    for (;;) { /* d is a Segment or Last Segment descriptor */
        const int in_last = d.type == CAPDRV_NVME_SGL_LAST_SEGMENT;
        if (++hops > mem->n) {
            rc = DEC_LOOP;
            goto done;
        }
        if (d.len == 0 || d.len % 16 != 0) {
            rc = DEC_SGL_SEG_LEN;
            goto done;
        }
        if ((d.addr & 7u) != 0) {
            rc = DEC_LIST_ALIGN;
            goto done;
        }
        const unsigned char *p = mem_at(mem, d.addr, d.len, visited);
        if (p == NULL) {
            rc = DEC_LIST_UNMAPPED;
            goto done;
        }
        const unsigned nd = d.len / 16;
        int chained = 0;
        for (unsigned k = 0; k < nd; k++) {
            struct sgl_d e;
            if ((rc = sgl_read(p + 16 * k, &e)) != 0)
                goto done;
            if (e.type == CAPDRV_NVME_SGL_DATA_BLOCK) {
                total += e.len;
                if ((rc = dec_ranges_add(out, e.addr, e.len)) != 0)
                    goto done;
                continue;
            }
            /* §4.1.2: a (Last) Segment descriptor only as the last descriptor
             * of a segment, and never inside the last segment. */
            if (k != nd - 1 || in_last) {
                rc = DEC_SGL_ORDER;
                goto done;
            }
            d = e;
            chained = 1;
        }
        if (!chained) {
            if (!in_last)
                rc = DEC_SGL_UNTERMINATED;
            goto done;
        }
    }
done:
    if (rc == DEC_OK && total != xfer_len)
        rc = DEC_LENGTH;
    free(visited);
    return rc;
}

void arena_init(struct arena *a, unsigned n, uint64_t page_bytes, uint64_t align, uint64_t ref0,
                uint64_t ref_stride)
{
    size_t stride = (size_t)((page_bytes + align - 1) / align * align);
    a->mem = aligned_alloc((size_t)align, stride * (n ? n : 1));
    a->pages = calloc(n ? n : 1, sizeof *a->pages);
    a->read_hi = calloc(n ? n : 1, sizeof *a->read_hi);
    a->n = n;
    a->page_bytes = page_bytes;
    if (a->mem == NULL || a->pages == NULL || a->read_hi == NULL)
        abort();
    for (unsigned i = 0; i < n; i++) {
        a->pages[i].cpu = a->mem + (size_t)i * stride;
        a->pages[i].ref = ref0 + (uint64_t)i * ref_stride;
    }
}

void arena_free(struct arena *a)
{
    free(a->mem);
    free(a->pages);
    free(a->read_hi);
    memset(a, 0, sizeof *a);
}

void arena_fill_n(struct arena *a, unsigned n)
{
    for (unsigned i = 0; i < n && i < a->n; i++)
        memset(a->pages[i].cpu, CANARY, (size_t)a->page_bytes);
}

void arena_fill(struct arena *a)
{
    arena_fill_n(a, a->n);
}

uint64_t arena_dirty_from(const struct arena *a, unsigned i, uint64_t from)
{
    const unsigned char *p = a->pages[i].cpu;
    uint64_t dirty = 0;
    for (uint64_t b = from; b < a->page_bytes; b++)
        dirty += p[b] != CANARY;
    return dirty;
}

void arena_mem(struct arena *a, struct dec_mem *m)
{
    m->pages = a->pages;
    m->n = a->n;
    m->page_bytes = a->page_bytes;
    m->read_hi = a->read_hi;
    m->lists = 0;
}

uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

uint64_t rng_below(uint64_t *s, uint64_t n)
{
    return rng_next(s) % n;
}
