/* Data pointers of one command in both lanes: PRP entries and lists (NVMe
 * Base 2.0 §4.1.1), SGL descriptors and segments (§4.1.2), and the base of
 * a physically contiguous queue (§5.4, §5.5: PC = 1).
 *
 * The transfer length always comes from the shim (nvme_sqe.c), never from
 * the provider's data pointer: it decides whether PRP2 is a data page or a
 * list and how many entries a list holds.
 *
 * Brokered lane: every entry is a token; each is resolved for exactly the
 * bytes it covers, and the result is written into the shadow SQE and the
 * slot's shim-owned list page (PRP lists flattened into one page, SGL
 * segments into one Last Segment). Direct lane: every range the device
 * will touch - data, the list entries it will read, each segment - is
 * checked against the ledger; nothing is rewritten.
 *
 * Both lanes refuse a PRP list or SGL segment inside a completion queue's
 * ring: the controller posts completions there while it may still have to
 * read the list (in the direct lane it would then read, after the check,
 * whatever a completion wrote over the entries). */
#include "nvme_shim.h"

#include "../util.h"

#define SQE_PRP1 24u
#define SQE_PRP2 32u
#define SQE_SGL1 24u
#define PAGE_MASK ((uint64_t)NVME_PAGE - 1u)

/* SGL descriptor types (§4.1.2.1) and the Address sub type. */
enum { SGL_DATA = 0x0, SGL_SEGMENT = 0x2, SGL_LAST = 0x3, SGL_SUB_ADDRESS = 0x0 };

static bool brokered(const struct shim_profile_ctx *ctx)
{
    return ctx->g->lane == CAPDRV_LANE_BROKERED;
}

/* Resolve [ref, ref+len) to the device address the command may use. A
 * token's low bits are its offset in a page-aligned buffer, so the page
 * offset survives resolution; a platform that broke that would make the
 * PRP rules (offsets, page-aligned middles) mean something else. */
static int map(struct shim_profile_ctx *ctx, uint64_t ref, uint64_t len, uint64_t *dev)
{
    int rc = shim_profile_dma_publish(ctx, ref, len, dev);
    if (rc == 0 && ((*dev ^ ref) & PAGE_MASK))
        rc = -CAPDRV_EFAULT;
    return rc;
}

int nvme_queue_base(struct shim_profile_ctx *ctx, uint64_t ref, uint64_t len, uint64_t *dev)
{
    if (ref & PAGE_MASK)
        return -CAPDRV_EINVAL; /* §5.4/§5.5 PRP1 of a PC=1 queue: page aligned */
    return map(ctx, ref, len, dev);
}

/* §4.1.1: PRP2 points at a list of entries running to the end of its
 * memory page; when more entries are needed than fit, the page's last
 * entry points at the next list. Each entry names a whole page (offset 0)
 * except that the last covers what remains. */
static int prp_list(struct shim_profile_ctx *ctx, const struct nvme_state *st, uint64_t list,
                    uint64_t rem, uint8_t *out)
{
    uint64_t need = (rem + NVME_PAGE - 1u) / NVME_PAGE;
    unsigned k = 0;
    while (need > 0) {
        if (list & 7u)
            return -CAPDRV_EINVAL; /* §4.1.1: a list pointer is qword aligned */
        uint64_t slots = (NVME_PAGE - (list & PAGE_MASK)) / 8u;
        bool chain = need > slots;
        uint64_t here = chain ? slots - 1u : need;
        if (here == 0)
            return -CAPDRV_EINVAL; /* a page holding only a chain entry: no progress */
        uint64_t ldev, lbytes = (here + (chain ? 1u : 0u)) * 8u;
        void *lcpu;
        if (nvme_overlaps_queue(st, list, lbytes, true))
            return -CAPDRV_EINVAL;
        int rc = shim_profile_dma_publish_cpu(ctx, list, lbytes, &ldev, &lcpu);
        if (rc < 0)
            return rc;
        const volatile uint8_t *e = lcpu;
        for (uint64_t i = 0; i < here; i++) {
            uint64_t ref = nvme_le(e + 8u * i, 8), len = rem < NVME_PAGE ? rem : NVME_PAGE, dev;
            if (ref & PAGE_MASK)
                return -CAPDRV_EINVAL; /* §4.1.1: entries after PRP1 have offset 0 */
            if ((rc = map(ctx, ref, len, &dev)) < 0)
                return rc;
            if (out) {
                /* rem <= max transfer <= 2 MiB: at most 512 entries */
                if (k >= NVME_LIST_ENTRIES)
                    return -CAPDRV_EINVAL;
                nvme_le_put(out + 8u * k++, 8, dev);
            }
            rem -= len;
        }
        need -= here;
        if (chain)
            list = nvme_le(e + 8u * here, 8);
    }
    return 0;
}

int nvme_dptr_prp(struct shim_profile_ctx *ctx, const struct nvme_state *st, uint8_t *sqe,
                  uint64_t len, uint8_t *list_cpu, uint64_t list_dev)
{
    uint64_t prp1 = nvme_le(sqe + SQE_PRP1, 8), prp2 = nvme_le(sqe + SQE_PRP2, 8);
    if (len == 0 || (prp1 & 3u))
        return -CAPDRV_EINVAL; /* §4.1.1: PRP1's offset is dword aligned */
    uint64_t first = NVME_PAGE - (prp1 & PAGE_MASK);
    if (first > len)
        first = len;
    uint64_t d1, d2 = 0, rem = len - first;
    int rc = map(ctx, prp1, first, &d1);
    if (rc < 0)
        return rc;
    bool b = brokered(ctx);
    if (rem > 0 && rem <= NVME_PAGE) {
        if (prp2 & PAGE_MASK)
            return -CAPDRV_EINVAL; /* a second data page starts at offset 0 */
        if ((rc = map(ctx, prp2, rem, &d2)) < 0)
            return rc;
    } else if (rem > NVME_PAGE) {
        if ((rc = prp_list(ctx, st, prp2, rem, b ? list_cpu : NULL)) < 0)
            return rc;
        d2 = list_dev;
    }
    if (b) {
        nvme_le_put(sqe + SQE_PRP1, 8, d1);
        nvme_le_put(sqe + SQE_PRP2, 8, d2); /* 0 where PRP2 is reserved */
    }
    return 0;
}

/* One data block descriptor: check and, brokered, append its resolved
 * copy to @out (entry @k). */
static int sgl_data(struct shim_profile_ctx *ctx, const volatile uint8_t *d, uint64_t *total,
                    uint8_t *out, unsigned k)
{
    uint64_t addr = nvme_le(d, 8), len = nvme_le(d + 8, 4), dev;
    if (len == 0)
        return -CAPDRV_EINVAL;
    int rc = shim_profile_dma_publish(ctx, addr, len, &dev);
    if (rc < 0)
        return rc;
    *total += len;
    if (out) {
        uint8_t *o = out + 16u * k;
        nvme_le_put(o, 8, dev);
        nvme_le_put(o + 8, 4, len);
        o[12] = o[13] = o[14] = 0;
        o[15] = (uint8_t)(SGL_DATA << 4 | SGL_SUB_ADDRESS);
    }
    return 0;
}

/* §4.1.2: SGL Entry 1 is a Data Block, or a (Last) Segment descriptor
 * naming a segment of descriptors; a Segment's last descriptor names the
 * next segment, a Last Segment holds data blocks only. Bit buckets, keyed
 * and transport descriptors and non-address sub types are refused. The
 * data blocks must describe exactly the transfer. */
int nvme_dptr_sgl(struct shim_profile_ctx *ctx, const struct nvme_state *st, uint8_t *sqe,
                  uint64_t len, uint8_t *list_cpu, uint64_t list_dev)
{
    uint8_t *s1 = sqe + SQE_SGL1;
    unsigned type = s1[15] >> 4, sub = s1[15] & 0xfu;
    uint8_t *out = brokered(ctx) ? list_cpu : NULL;
    uint64_t total = 0;
    int rc;
    if (sub != SGL_SUB_ADDRESS)
        return -CAPDRV_EINVAL;
    if (type == SGL_DATA) {
        uint8_t one[16];
        if ((rc = sgl_data(ctx, s1, &total, out ? one : NULL, 0)) < 0)
            return rc;
        if (total != len)
            return -CAPDRV_EINVAL;
        if (out)
            for (unsigned i = 0; i < 16; i++)
                s1[i] = one[i];
        return 0;
    }
    if (type != SGL_SEGMENT && type != SGL_LAST)
        return -CAPDRV_EINVAL;
    uint64_t seg = nvme_le(s1, 8), seg_len = nvme_le(s1 + 8, 4);
    bool last = type == SGL_LAST;
    unsigned k = 0, walked = 0;
    for (;;) {
        if (seg_len == 0 || seg_len % 16u || (seg & 3u))
            return -CAPDRV_EINVAL;
        uint64_t n = seg_len / 16u;
        if (n > NVME_SGL_MAX_DESC - walked)
            return -CAPDRV_EINVAL; /* bounded walk; also the shadow page's size */
        walked += (unsigned)n;
        uint64_t sdev;
        void *scpu;
        if (nvme_overlaps_queue(st, seg, seg_len, true))
            return -CAPDRV_EINVAL;
        if ((rc = shim_profile_dma_publish_cpu(ctx, seg, seg_len, &sdev, &scpu)) < 0)
            return rc;
        const volatile uint8_t *d = scpu;
        bool next = false;
        for (uint64_t i = 0; i < n; i++, d += 16) {
            unsigned t = d[15] >> 4;
            if ((d[15] & 0xfu) != SGL_SUB_ADDRESS)
                return -CAPDRV_EINVAL;
            if (t == SGL_DATA) {
                if ((rc = sgl_data(ctx, d, &total, out, k++)) < 0)
                    return rc;
            } else if (!last && i == n - 1 && (t == SGL_SEGMENT || t == SGL_LAST)) {
                next = true;
                last = t == SGL_LAST;
                seg = nvme_le(d, 8);
                seg_len = nvme_le(d + 8, 4);
            } else {
                return -CAPDRV_EINVAL;
            }
        }
        if (!next)
            break;
    }
    if (!last || total != len || k == 0)
        return -CAPDRV_EINVAL; /* a Segment must lead on to a Last Segment */
    if (out) {
        /* The device sees one Last Segment: the resolved data blocks. */
        nvme_le_put(s1, 8, list_dev);
        nvme_le_put(s1 + 8, 4, 16u * k);
        s1[12] = s1[13] = s1[14] = 0;
        s1[15] = (uint8_t)(SGL_LAST << 4 | SGL_SUB_ADDRESS);
    }
    return 0;
}
