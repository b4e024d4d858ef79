/* Simulated NVMe controller: the data pointer of a command, decoded from
 * the spec (NVM Express Base 2.0 §4.1.1 PRPs, §4.1.2 SGLs) into a list of
 * (device address, length) segments, and data movement between that list
 * and the controller's buffers through the DMA oracle.
 *
 * Every pointer, list entry and descriptor comes from the driver and is
 * untrusted: offsets are checked, list walks are bounded by the transfer
 * length and NVME_MAX_SEGS, and list pages / SGL segments are read only
 * through sim_dma_access() (a refusal is a Data Transfer Error). */
#include "dev_nvme.h"

#include <string.h>

#define PRP_CHUNK 64u  /* list entries read per oracle access */
#define SGL_CHUNK 32u  /* descriptors read per oracle access */

uint64_t nvme_max_xfer(const struct nvme_dev *d)
{
    /* Identify MDTS: 2^MDTS units of CAP.MPSMIN (4 KiB). */
    return (uint64_t)4096u << d->cfg.mdts;
}

static uint16_t add_seg(struct nvme_dev *d, unsigned *n, uint64_t addr, uint64_t len,
                        uint16_t overflow)
{
    if (*n >= NVME_MAX_SEGS)
        return overflow;
    d->segs[*n] = (struct nvme_seg){.addr = addr, .len = len};
    (*n)++;
    return NVME_OK;
}

/* §4.1.1: PRP1 may start at a dword-aligned offset into a page; PRP2 is
 * the second page when the rest fits in one page, else a PRP List pointer
 * (qword aligned, possibly with an offset). Each list page holds
 * page_size / 8 entries from the pointer on; when more entries are needed
 * than remain in the page, its last entry points to the next list page.
 * Every entry after PRP1 (data or chained list) has offset 0. */
static uint16_t decode_prp(struct capdrv_sim *sim, struct sim_fn *f,
                           const struct capdrv_nvme_sqe *sqe, uint64_t len, unsigned *n)
{
    struct nvme_dev *d = nvme_of(f);
    uint64_t ps = nvme_page_size(d), mask = ps - 1u;
    uint64_t p1 = sqe->dptr.prp.prp1, p2 = sqe->dptr.prp.prp2;
    if (p1 & 3u)
        return NVME_S_PRP_OFFSET;
    uint64_t first = ps - (p1 & mask);
    if (first > len)
        first = len;
    uint16_t st = add_seg(d, n, p1, first, NVME_S_INVALID_FIELD);
    uint64_t rem = len - first;
    if (st != NVME_OK || rem == 0)
        return st; /* PRP2 is reserved when one page holds the data */
    if (rem <= ps) {
        if (p2 & mask)
            return NVME_S_PRP_OFFSET;
        return add_seg(d, n, p2, rem, NVME_S_INVALID_FIELD);
    }
    if (p2 & 7u)
        return NVME_S_PRP_OFFSET;
    uint64_t list = p2;
    while (rem > 0) {
        uint64_t in_page = (ps - (list & mask)) / 8u; /* >= 1 */
        uint64_t need = (rem + ps - 1u) / ps;
        uint64_t data_here = need > in_page ? in_page - 1u : need;
        for (uint64_t i = 0; i < data_here;) {
            uint8_t raw[PRP_CHUNK * 8u];
            uint64_t k = data_here - i < PRP_CHUNK ? data_here - i : PRP_CHUNK;
            if (sim_dma_access(sim, f, list + i * 8u, raw, (size_t)k * 8u, false) < 0)
                return NVME_S_DATA_XFER;
            for (uint64_t j = 0; j < k; j++) {
                uint64_t e = sim_le_get(raw + j * 8u, 8);
                if (e & mask)
                    return NVME_S_PRP_OFFSET;
                uint64_t l = rem < ps ? rem : ps;
                st = add_seg(d, n, e, l, NVME_S_INVALID_FIELD);
                if (st != NVME_OK)
                    return st;
                rem -= l;
            }
            i += k;
        }
        if (rem == 0)
            break;
        uint8_t raw[8];
        if (sim_dma_access(sim, f, list + (in_page - 1u) * 8u, raw, 8, false) < 0)
            return NVME_S_DATA_XFER;
        list = sim_le_get(raw, 8);
        if (list & mask) /* a chained list page starts at offset 0 */
            return NVME_S_PRP_OFFSET;
    }
    return NVME_OK;
}

struct sgl_desc {
    uint64_t addr;
    uint32_t len;
    uint8_t type, sub;
};

static struct sgl_desc sgl_parse(const uint8_t *raw)
{
    struct sgl_desc s;
    s.addr = sim_le_get(raw, 8);
    s.len = (uint32_t)sim_le_get(raw + 8, 4);
    s.type = raw[15] >> 4; /* §4.1.2: SGL Identifier, type 7:4, sub type 3:0 */
    s.sub = raw[15] & 0xfu;
    return s;
}

static uint16_t sgl_data(struct nvme_dev *d, const struct sgl_desc *s, uint64_t want,
                         uint64_t *total, unsigned *n)
{
    if (s->sub != CAPDRV_NVME_SGL_SUB_ADDRESS)
        return NVME_S_SGL_TYPE;
    if (s->len == 0)
        return NVME_OK; /* describes no data */
    *total += s->len;
    if (*total > want) /* SGLS bit 19 (longer SGLs) is not supported */
        return NVME_S_SGL_DATA_LEN;
    return add_seg(d, n, s->addr, s->len, NVME_S_SGL_COUNT);
}

/* §4.1.2: SGL1 is a Data Block, or a (Last) Segment descriptor pointing to
 * a list of descriptors. In a Segment, only the last descriptor may point
 * to the next segment; a Last Segment holds data blocks only. */
static uint16_t decode_sgl(struct capdrv_sim *sim, struct sim_fn *f,
                           const struct capdrv_nvme_sqe *sqe, uint64_t len, unsigned *n)
{
    struct nvme_dev *d = nvme_of(f);
    uint8_t raw1[16];
    sim_le_put(raw1, 8, sqe->dptr.prp.prp1);
    sim_le_put(raw1 + 8, 8, sqe->dptr.prp.prp2);
    struct sgl_desc cur = sgl_parse(raw1);
    uint64_t total = 0;
    unsigned descs = 0;
    uint16_t st;
    for (;;) {
        if (cur.type == CAPDRV_NVME_SGL_DATA_BLOCK) {
            st = sgl_data(d, &cur, len, &total, n);
            if (st != NVME_OK)
                return st;
            break;
        }
        if (cur.type != CAPDRV_NVME_SGL_SEGMENT && cur.type != CAPDRV_NVME_SGL_LAST_SEGMENT)
            return NVME_S_SGL_TYPE;
        if (cur.sub != CAPDRV_NVME_SGL_SUB_ADDRESS)
            return NVME_S_SGL_TYPE;
        if (cur.len == 0 || cur.len % 16u != 0)
            return NVME_S_SGL_SEG;
        unsigned cnt = cur.len / 16u;
        if (cnt > NVME_MAX_SEGS - descs)
            return NVME_S_SGL_COUNT;
        descs += cnt;
        bool last = cur.type == CAPDRV_NVME_SGL_LAST_SEGMENT, chained = false;
        struct sgl_desc next = {0};
        for (unsigned i = 0; i < cnt;) {
            uint8_t raw[SGL_CHUNK * 16u];
            unsigned k = cnt - i < SGL_CHUNK ? cnt - i : SGL_CHUNK;
            if (sim_dma_access(sim, f, cur.addr + (uint64_t)i * 16u, raw, k * 16u, false) < 0)
                return NVME_S_DATA_XFER;
            for (unsigned j = 0; j < k; j++) {
                struct sgl_desc e = sgl_parse(raw + j * 16u);
                if (e.type == CAPDRV_NVME_SGL_DATA_BLOCK) {
                    st = sgl_data(d, &e, len, &total, n);
                    if (st != NVME_OK)
                        return st;
                } else if (e.type == CAPDRV_NVME_SGL_SEGMENT ||
                           e.type == CAPDRV_NVME_SGL_LAST_SEGMENT) {
                    if (last || i + j != cnt - 1u)
                        return NVME_S_SGL_SEG;
                    next = e;
                    chained = true;
                } else {
                    return NVME_S_SGL_TYPE;
                }
            }
            i += k;
        }
        if (!chained)
            break;
        cur = next;
    }
    return total == len ? NVME_OK : NVME_S_SGL_DATA_LEN;
}

uint16_t nvme_dptr_decode(struct capdrv_sim *sim, struct sim_fn *f,
                          const struct capdrv_nvme_sqe *sqe, uint64_t len, bool sgl_ok,
                          unsigned *n)
{
    *n = 0;
    unsigned psdt = capdrv_nvme_sqe_psdt(sqe);
    if (psdt == CAPDRV_NVME_PSDT_SGL_MPTR_CONTIG && sgl_ok)
        return len == 0 ? NVME_OK : decode_sgl(sim, f, sqe, len, n);
    if (psdt != CAPDRV_NVME_PSDT_PRP)
        return NVME_S_INVALID_FIELD; /* SGLs not supported here, or PSDT reserved */
    return len == 0 ? NVME_OK : decode_prp(sim, f, sqe, len, n);
}

uint16_t nvme_dptr_xfer(struct capdrv_sim *sim, struct sim_fn *f, unsigned n, uint64_t off,
                        void *buf, size_t len, bool to_host)
{
    struct nvme_dev *d = nvme_of(f);
    uint8_t *p = buf;
    if (to_host && len > 0 && nvme_sq_backlog(d) > 0)
        d->stats.writes_ahead++;
    for (unsigned i = 0; i < n && len > 0; i++) {
        const struct nvme_seg *s = &d->segs[i];
        if (off >= s->len) {
            off -= s->len;
            continue;
        }
        uint64_t k = s->len - off;
        if (k > len)
            k = len;
        if (sim_dma_access(sim, f, s->addr + off, p, (size_t)k, to_host) < 0)
            return NVME_S_DATA_XFER;
        p += k;
        len -= (size_t)k;
        off = 0;
    }
    return len == 0 ? NVME_OK : NVME_S_DATA_XFER;
}

uint16_t nvme_dptr_copy(struct capdrv_sim *sim, struct sim_fn *f,
                        const struct capdrv_nvme_sqe *sqe, void *buf, size_t len, bool to_host,
                        bool sgl_ok)
{
    unsigned n;
    uint16_t st = nvme_dptr_decode(sim, f, sqe, len, sgl_ok, &n);
    return st != NVME_OK ? st : nvme_dptr_xfer(sim, f, n, 0, buf, len, to_host);
}
