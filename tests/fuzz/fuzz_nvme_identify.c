/* fuzz_nvme_identify: the NVMe library against hostile Identify data.
 *
 * Input: byte 0 = flags (bit 0: direct lane; bit 1: keep the fake's own
 * SQES/CQES bytes so bring-up usually gets past the entry-size check; bits
 * 2-3: namespaces to query), then up to three 4096-byte pages, zero-padded:
 * Identify Controller, the active namespace list (CNS 02h) and Identify
 * Namespace (returned for every NSID). The controller is the unit tests'
 * fake (tests/unit/nvme/fake_nvme.c); everything else about it is honest.
 *
 * Checked: capdrv_nvme_ctrl_open() succeeds or fails with a reason and
 * frees everything; the digested controller info is bounded (strings
 * terminated inside their arrays, AER slots within CAPDRV_NVME_AER_MAX and
 * AERL + 1, MDTS a power of two of at least a page, or 0); the namespace
 * list the library returns is strictly increasing, never 0 or FFFFFFFFh,
 * and no longer than asked; ns_info() returns an LBA format index inside
 * NLBAF and a block size 2^9..2^30, or -ENOENT / -EPROTO; a one-block
 * read sized from that answer succeeds or is refused cleanly, and one that
 * does not match the block size is refused; the fake saw no DMA outside
 * the library's buffers and no queue memory released under a live queue;
 * nothing is left allocated after close. */
#include "fuzz_common.h"

#include <string.h>

#include <capdrv/nvme.h>

#include "../unit/nvme/fake_nvme.h"

#define PAGE 4096u

static bool allowed_open_rc(int rc)
{
    return rc == 0 || rc == -CAPDRV_ENOTSUP || rc == -CAPDRV_EPROTO || rc == -CAPDRV_EIO ||
           rc == -CAPDRV_EINVAL || rc == -CAPDRV_ERANGE || rc == -CAPDRV_ENOMEM;
}

static bool terminated(const char *s, size_t n)
{
    return memchr(s, '\0', n) != NULL;
}

static void done_cb(void *arg, const struct capdrv_nvme_cpl *cpl)
{
    int *calls = arg;
    (void)cpl;
    (*calls)++;
}

static void check_info(struct fn *f, struct capdrv_nvme_ctrl *c)
{
    struct capdrv_nvme_ctrl_info in;
    FUZZ_CHECK(capdrv_nvme_ctrl_info(c, &in) == 0);
    FUZZ_CHECK(terminated(in.sn, sizeof in.sn));
    FUZZ_CHECK(terminated(in.mn, sizeof in.mn));
    FUZZ_CHECK(terminated(in.fr, sizeof in.fr));
    FUZZ_CHECK(in.aer_slots <= CAPDRV_NVME_AER_MAX);
    FUZZ_CHECK(in.aer_slots <= (unsigned)f->id_ctrl[259] + 1u); /* AERL, 0's based */
    FUZZ_CHECK(f->n_aer <= in.aer_slots);
    if (in.mdts_bytes)
        FUZZ_CHECK(in.mdts_bytes >= PAGE && (in.mdts_bytes & (in.mdts_bytes - 1u)) == 0);
}

static void io_once(struct fn *f, struct capdrv_nvme_ctrl *c, uint32_t nsid,
                    const struct capdrv_nvme_ns_info *ns)
{
    struct capdrv_nvme_qpair *qp = NULL;
    struct capdrv_nvme_qpair_opts qo = {.depth = 4, .polling = true};
    int rc = capdrv_nvme_qpair_create(c, &qo, &qp);
    if (rc < 0)
        return;
    struct capdrv_dmabuf_info buf;
    FUZZ_CHECK(fn_alloc(f, 65536, &buf) == 0);
    uint64_t block = (uint64_t)ns->lba_size + (ns->extended ? ns->ms : 0u);
    int calls = 0;
    if (block <= 65536) {
        struct capdrv_dma_seg seg = {buf.ref_base, (uint32_t)block};
        rc = capdrv_nvme_read(qp, nsid, 0, 1, &seg, 1, done_cb, &calls);
        if (rc == 0) {
            for (int i = 0; i < 1000 && calls == 0; i++)
                if (capdrv_nvme_qpair_wait(qp, 1000000) < 0)
                    break;
        }
    }
    /* A transfer that does not match the block size is refused before
     * anything reaches the device. */
    unsigned before = f->io_cmds;
    struct capdrv_dma_seg odd = {buf.ref_base, block <= 65536 ? (uint32_t)block + 512u : 512u};
    int calls_odd = 0;
    rc = capdrv_nvme_read(qp, nsid, 0, 1, &odd, 1, done_cb, &calls_odd);
    FUZZ_CHECK_MSG(rc < 0, "mismatched read rc", rc);
    (void)capdrv_nvme_qpair_poll(qp, 0);
    FUZZ_CHECK(f->io_cmds == before);
    FUZZ_CHECK(calls_odd == 0);
    (void)capdrv_nvme_qpair_destroy(qp);
    FUZZ_CHECK(calls <= 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t flags = data[0];
    uint8_t pages[3][PAGE];
    memset(pages, 0, sizeof pages);
    size_t left = size - 1;
    memcpy(pages, data + 1, left < sizeof pages ? left : sizeof pages);

    struct fn *f = fn_new((flags & 1u) ? CAPDRV_LANE_DIRECT : CAPDRV_LANE_BROKERED);
    FUZZ_CHECK(f != NULL);
    uint8_t sqes = f->id_ctrl[512], cqes = f->id_ctrl[513];
    memcpy(f->id_ctrl, pages[0], PAGE);
    if (flags & 2u) {
        f->id_ctrl[512] = sqes;
        f->id_ctrl[513] = cqes;
    }
    f->ns_list_raw = pages[1];
    f->id_ns_raw = pages[2];

    struct capdrv_nvme_ctrl *c = NULL;
    char why[256] = "";
    int rc = fn_open(f, NULL, &c, why, sizeof why);
    if (fuzz_verbose())
        fprintf(stderr, "fuzz_nvme_identify: open rc=%d %s\n", rc, why);
    FUZZ_CHECK_MSG(allowed_open_rc(rc), "open rc", rc);
    if (rc < 0) {
        FUZZ_CHECK(c == NULL);
        FUZZ_CHECK(why[0] != '\0');
        FUZZ_CHECK(fn_live_bufs(f) == 0);
    } else {
        check_info(f, c);
        uint32_t ids[8];
        unsigned want = 1u + ((flags >> 2) & 3u);
        int n = capdrv_nvme_ns_list(c, 0, ids, want);
        FUZZ_CHECK_MSG(n >= 0 || n == -CAPDRV_EPROTO, "ns_list rc", n);
        for (int i = 0; i < n; i++) {
            FUZZ_CHECK(ids[i] != 0 && ids[i] != 0xffffffffu);
            if (i)
                FUZZ_CHECK(ids[i] > ids[i - 1]);
        }
        FUZZ_CHECK(n <= (int)want);
        for (int i = 0; i < n; i++) {
            struct capdrv_nvme_ns_info ns;
            rc = capdrv_nvme_ns_info(c, ids[i], &ns);
            FUZZ_CHECK_MSG(rc == 0 || rc == -CAPDRV_ENOENT || rc == -CAPDRV_EPROTO, "ns_info rc",
                           rc);
            if (rc < 0)
                continue;
            FUZZ_CHECK(ns.nsid == ids[i]);
            FUZZ_CHECK(ns.lba_shift >= 9 && ns.lba_shift <= 30);
            FUZZ_CHECK(ns.lba_size == 1u << ns.lba_shift);
            FUZZ_CHECK(ns.format <= pages[2][25] && ns.format < 64u);
            if (i == 0)
                io_once(f, c, ids[i], &ns);
        }
        capdrv_nvme_ctrl_close(c);
    }
    FUZZ_CHECK(f->bad_dma == 0);
    FUZZ_CHECK(f->bad_release == 0);
    FUZZ_CHECK(fn_live_bufs(f) == 0);
    fn_free(f);
    return 0;
}
