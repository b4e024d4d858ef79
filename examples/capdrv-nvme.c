/* capdrv-nvme: an NVMe provider with an nvme-cli flavoured command line.
 * It hosts the shim in-process over the sim platform with one simulated
 * NVMe controller, then - using capdrv/sys.h and the library's NVMe driver
 * (capdrv/nvme.h) only - runs one command against it:
 *
 *   capdrv-nvme id-ctrl | id-ns | list-ns | smart-log | error-log
 *   capdrv-nvme read | write | verify
 *
 * Output follows nvme-cli: the same field names and number formats for
 * id-ctrl, id-ns, list-ns, smart-log and error-log (printed from the raw
 * Identify data and log pages, nvme_print.c), and nvme-cli's JSON keys with
 * --json (-o json). read and write move --block-count + 1 blocks (0's
 * based, like nvme-cli; or --nlb N, 1's based) from --start-block through
 * --data FILE (read without --data: a hex dump; write without --data:
 * stdin). verify writes a pattern over the range in commands of up to
 * the queue pair's largest transfer, flushes, reads it back into another
 * buffer and compares; it also checks the sim's medium directly (and the
 * backing file with pread() under --file), independent of the read path.
 *
 * Options: --lane brokered|direct (sim without / with IOMMU; default:
 * direct, as the platform probe picks), --file PATH (namespace 1 backed by
 * PATH, created if missing), --namespaces N (1..4), --lba-shift 9|12,
 * --nsid N (-n), --sgl (SGL data pointers; the sim offers them), --poll,
 * --qd N (verify: commands in flight), --manifest FILE.dtb,
 * --platform vfio:SLOT (a real controller bound to vfio-pci instead of the
 * sim, e.g. vfio:0000:03:00.0; docs/VFIO.md; verify then checks the read
 * path only, there is no medium to look at).
 * Exit status: 0 success, 1 failure, 2 usage, 77 --file without io_uring. */
#define _GNU_SOURCE
#include <capdrv/nvme.h>

#include <capdrv/shim.h>
#include <capdrv/sim.h>
#include <capdrv/sys.h>

#include "example_platform.h"
#include "nvme_json.h"
#include "nvme_print.h"

#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PAGE 4096u
#define DEVNAME "nvme0" /* the grant's name stands in for nvme-cli's device */
#define MAX_BYTES (64u << 20)

enum cmd { ID_CTRL, ID_NS, LIST_NS, READ, WRITE, SMART_LOG, ERROR_LOG, VERIFY };

static const char *const cmd_names[] = {"id-ctrl", "id-ns", "list-ns", "read",
                                        "write", "smart-log", "error-log", "verify"};

struct opts {
    enum cmd cmd;
    const char *lane, *file, *data, *manifest, *platform;
    uint32_t nsid;
    uint64_t slba, nlb;
    unsigned namespaces, lba_shift, qd, log_entries;
    int json, sgl, poll, bad_read;
};

struct machine {
    struct capdrv_sim *sim;
    unsigned fn;
};

/* The provider's view: the controller, one queue pair, a pool. */
struct dev {
    capdrv_sys *sys;
    capdrv_cap_t grant, pool;
    struct capdrv_nvme_ctrl *ctrl;
    struct capdrv_nvme_qpair *qp;
    struct capdrv_nvme_qpair_info qi;
    struct capdrv_nvme_ns_info ns;
    const struct opts *o;
    struct machine *m;
};

#define TRY(what, expr)                                                            \
    do {                                                                           \
        int rc_ = (expr);                                                          \
        if (rc_ < 0) {                                                             \
            fprintf(stderr, "capdrv-nvme: %s: %s\n", what, capdrv_strerror(rc_)); \
            return 1;                                                              \
        }                                                                          \
    } while (0)

/* ---- I/O: commands in flight and their completions ------------------------ */

struct io_slot {
    bool done;
    struct capdrv_nvme_cpl cpl;
};

static void on_done(void *arg, const struct capdrv_nvme_cpl *cpl)
{
    struct io_slot *s = arg;
    s->cpl = *cpl;
    s->done = true;
}

static void report_cpl(const char *what, uint64_t slba, const struct capdrv_nvme_cpl *c)
{
    fprintf(stderr, "capdrv-nvme: %s at LBA %" PRIu64 ": %s (SCT %#x SC %#x%s)\n", what, slba,
            capdrv_strerror(c->status), c->sct, c->sc, c->dnr ? ", DNR" : "");
}

/* Move blocks [slba, slba + nlb) between the namespace and @buf, in
 * commands of at most the queue pair's max_xfer (one segment each; its
 * pages go out as a PRP list or an SGL), up to qd in flight. */
static int transfer(struct dev *d, bool write, const struct capdrv_dmabuf_info *buf, uint64_t slba,
                    uint64_t nlb)
{
    uint32_t bs = d->ns.lba_size;
    uint64_t per = d->qi.max_xfer / bs;
    unsigned qd = d->o->qd < d->qi.depth - 1 ? d->o->qd : d->qi.depth - 1;
    if (per == 0 || qd == 0)
        return -CAPDRV_EINVAL;
    if (per > 65536)
        per = 65536; /* NLB is 16 bits, 0's based (NVM 1.0 §3.3.4) */
    uint64_t ncmd = (nlb + per - 1) / per, next = 0, completed = 0;
    struct io_slot *slots = calloc(ncmd, sizeof *slots);
    if (!slots)
        return -CAPDRV_ENOMEM;
    int rc = 0;
    unsigned inflight = 0;
    while (rc == 0 && completed < ncmd) {
        unsigned queued = 0;
        while (next < ncmd && inflight + queued < qd) {
            uint64_t first = next * per, n = nlb - first < per ? nlb - first : per;
            struct capdrv_dma_seg seg = {capdrv_dma_ref(buf, first * bs), (uint32_t)(n * bs)};
            rc = (write ? capdrv_nvme_write : capdrv_nvme_read)(d->qp, d->ns.nsid, slba + first,
                                                              (uint32_t)n, &seg, 1, on_done,
                                                              &slots[next]);
            if (rc == -CAPDRV_EBUSY) {
                rc = 0;
                break;
            }
            if (rc < 0) {
                fprintf(stderr, "capdrv-nvme: queue %s: %s\n", write ? "write" : "read",
                        capdrv_strerror(rc));
                break;
            }
            next++;
            queued++;
        }
        inflight += queued;
        if (rc == 0 && queued && (rc = capdrv_nvme_qpair_ring(d->qp)) >= 0)
            rc = 0;
        if (rc < 0) {
            fprintf(stderr, "capdrv-nvme: doorbell: %s (%s)\n", capdrv_strerror(rc),
                    capdrv_nvme_qpair_why(d->qp));
            break;
        }
        /* The library's command deadlines bound this wait. */
        int got = capdrv_nvme_qpair_wait(d->qp, -1);
        if (got < 0) {
            fprintf(stderr, "capdrv-nvme: wait: %s (%s)\n", capdrv_strerror(got),
                    capdrv_nvme_qpair_why(d->qp));
            rc = got;
            break;
        }
        unsigned now_done = 0;
        for (uint64_t i = 0; i < next; i++)
            now_done += slots[i].done;
        inflight = (unsigned)(next - now_done);
        completed = now_done;
    }
    for (uint64_t i = 0; rc == 0 && i < ncmd; i++)
        if (slots[i].cpl.status != 0) {
            report_cpl(write ? "write" : "read", slba + i * per, &slots[i].cpl);
            rc = slots[i].cpl.status;
        }
    free(slots);
    return rc;
}

static int flush(struct dev *d)
{
    struct io_slot s = {0};
    int rc = capdrv_nvme_flush(d->qp, d->ns.nsid, on_done, &s);
    if (rc == 0 && (rc = capdrv_nvme_qpair_ring(d->qp)) > 0)
        rc = 0;
    while (rc == 0 && !s.done)
        rc = capdrv_nvme_qpair_wait(d->qp, -1) < 0 ? -CAPDRV_EIO : 0;
    return rc < 0 ? rc : s.cpl.status;
}

/* ---- subcommands ------------------------------------------------------------ */

static int cmd_identify(struct dev *d)
{
    uint8_t *id = calloc(1, NVME_IDENTIFY_BYTES);
    if (!id)
        return 1;
    const struct opts *o = d->o;
    uint8_t cns = o->cmd == ID_CTRL ? CAPDRV_NVME_CNS_CTRL
                  : o->cmd == ID_NS ? CAPDRV_NVME_CNS_NS
                                    : CAPDRV_NVME_CNS_NS_ACTIVE;
    int rc = capdrv_nvme_identify(d->ctrl, cns, o->cmd == ID_NS ? o->nsid : 0, id);
    if (rc < 0) {
        fprintf(stderr, "capdrv-nvme: identify (CNS %#x): %s\n", cns, capdrv_strerror(rc));
        free(id);
        return 1;
    }
    if (o->cmd == ID_CTRL)
        nvme_print_id_ctrl(stdout, id, o->json);
    else if (o->cmd == ID_NS)
        nvme_print_id_ns(stdout, id, o->nsid, o->json);
    else
        nvme_print_ns_list(stdout, id, o->json);
    free(id);
    return 0;
}

static int cmd_logs(struct dev *d)
{
    const struct opts *o = d->o;
    if (o->cmd == SMART_LOG) {
        uint8_t log[NVME_SMART_LOG_BYTES];
        /* NSID FFFFFFFFh: the controller-wide page (Base 2.0 §5.16.1.3). */
        TRY("get log page (SMART)",
            capdrv_nvme_get_log_page(d->ctrl, CAPDRV_NVME_LOG_SMART, 0xffffffffu, 0, log, sizeof log));
        nvme_print_smart_log(stdout, log, 0xffffffffu, DEVNAME, o->json);
        return 0;
    }
    if (o->bad_read) {
        /* Give the log something to show: a Read past the namespace's end
         * fails with LBA Out of Range (NVM 1.0 §3.3.4) and is logged. */
        struct capdrv_dmabuf_info bi;
        capdrv_cap_t b;
        TRY("allocate buffer", capdrv_dma_alloc(d->sys, d->pool, PAGE, &b, &bi));
        struct capdrv_dma_seg seg = {capdrv_dma_ref(&bi, 0), d->ns.lba_size};
        struct io_slot s = {0};
        TRY("queue read", capdrv_nvme_read(d->qp, d->ns.nsid, d->ns.lba_count, 1, &seg, 1, on_done, &s));
        TRY("ring", capdrv_nvme_qpair_ring(d->qp));
        while (!s.done)
            TRY("wait", capdrv_nvme_qpair_wait(d->qp, -1));
        fprintf(stderr, "capdrv-nvme: read of LBA %" PRIu64 " (past the end): %s, SCT %#x SC %#x\n",
                d->ns.lba_count, capdrv_strerror(s.cpl.status), s.cpl.sct, s.cpl.sc);
        /* The buffer stays until the grant is released: the shim resets a
         * function whose published buffer is released while it is live. */
    }
    /* ELPE is 0's based (Base 2.0 §5.17.2.1); one admin transfer holds at
     * most CAPDRV_NVME_ADMIN_XFER_MAX / 64 entries. */
    const struct capdrv_nvme_id_ctrl *id = capdrv_nvme_ctrl_id(d->ctrl);
    unsigned max = CAPDRV_NVME_ADMIN_XFER_MAX / NVME_ERROR_LOG_ENTRY_BYTES;
    unsigned n = o->log_entries ? o->log_entries : (unsigned)((const uint8_t *)id)[262] + 1u;
    if (n > max)
        n = max;
    uint8_t *log = calloc(n, NVME_ERROR_LOG_ENTRY_BYTES);
    if (!log)
        return 1;
    int rc = capdrv_nvme_get_log_page(d->ctrl, CAPDRV_NVME_LOG_ERROR, 0xffffffffu, 0, log,
                                      (size_t)n * NVME_ERROR_LOG_ENTRY_BYTES);
    if (rc < 0)
        fprintf(stderr, "capdrv-nvme: get log page (error): %s\n", capdrv_strerror(rc));
    else
        nvme_print_error_log(stdout, log, n, DEVNAME, o->json);
    free(log);
    return rc < 0;
}

static void hexdump(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i += 16) {
        printf("%08zx:", i);
        for (size_t k = i; k < i + 16 && k < n; k++)
            printf(" %02x", p[k]);
        printf("\n");
    }
}

static int cmd_rw(struct dev *d, bool write)
{
    const struct opts *o = d->o;
    size_t bytes = (size_t)(o->nlb * d->ns.lba_size);
    capdrv_cap_t b;
    struct capdrv_dmabuf_info bi;
    TRY("allocate buffer", capdrv_dma_alloc(d->sys, d->pool, bytes, &b, &bi));
    if (write) {
        /* nvme-cli reads the data from --data or stdin; short input is
         * zero padded to the block count. */
        memset(bi.cpu, 0, bytes);
        FILE *in = o->data ? fopen(o->data, "rb") : stdin;
        if (!in) {
            perror(o->data);
            return 1;
        }
        size_t got = fread(bi.cpu, 1, bytes, in);
        if (in != stdin)
            fclose(in);
        if (got < bytes)
            fprintf(stderr, "capdrv-nvme: %zu of %zu bytes of input, rest zero\n", got, bytes);
    }
    int rc = transfer(d, write, &bi, o->slba, o->nlb);
    if (rc < 0)
        return 1;
    if (write && (rc = flush(d)) < 0)
        fprintf(stderr, "capdrv-nvme: flush: %s\n", capdrv_strerror(rc));
    if (!write && o->data) {
        FILE *out = fopen(o->data, "wb");
        if (!out || fwrite(bi.cpu, 1, bytes, out) != bytes || fclose(out) != 0) {
            perror(o->data);
            return 1;
        }
    }
    if (o->json) {
        struct njson j;
        njson_init(&j, stdout);
        njson_obj(&j, NULL);
        njson_str(&j, "command", write ? "write" : "read");
        njson_u64(&j, "nsid", d->ns.nsid);
        njson_u64(&j, "start_block", o->slba);
        njson_u64(&j, "blocks", o->nlb);
        njson_u64(&j, "bytes", bytes);
        njson_str(&j, "result", rc < 0 ? "error" : "success");
        njson_end_obj(&j);
    } else {
        if (!write && !o->data)
            hexdump(bi.cpu, bytes);
        fprintf(!write && !o->data ? stderr : stdout, "%s: %s\n", write ? "write" : "read",
                rc < 0 ? capdrv_strerror(rc) : "Success");
    }
    return rc < 0; /* the buffer goes with the grant, after the controller is shut down */
}

static uint8_t pattern(uint64_t byte)
{
    return (uint8_t)(byte * 131u + (byte >> 9) * 7u + 0x5au);
}

/* --file: the file itself, read with plain pread(), holds the pattern. */
static int verify_file(const struct opts *o, uint64_t off, const uint8_t *want, size_t n)
{
    int fd = open(o->file, O_RDONLY | O_CLOEXEC);
    uint8_t *got = malloc(n);
    ssize_t r = fd >= 0 && got ? pread(fd, got, n, (off_t)off) : -1;
    int rc = r == (ssize_t)n && memcmp(got, want, n) == 0 ? 0 : -1;
    free(got);
    if (fd >= 0)
        close(fd);
    return rc;
}

static const char *lane_name(struct dev *d)
{
    return capdrv_grant_lane(d->sys, d->grant) == CAPDRV_LANE_DIRECT ? "direct" : "brokered";
}

static int cmd_verify(struct dev *d)
{
    const struct opts *o = d->o;
    size_t bytes = (size_t)(o->nlb * d->ns.lba_size);
    uint64_t off = o->slba * d->ns.lba_size;
    capdrv_cap_t wb, rb;
    struct capdrv_dmabuf_info wi, ri;
    TRY("allocate write buffer", capdrv_dma_alloc(d->sys, d->pool, bytes, &wb, &wi));
    TRY("allocate read buffer", capdrv_dma_alloc(d->sys, d->pool, bytes, &rb, &ri));
    uint8_t *w = wi.cpu, *r = ri.cpu;
    for (size_t i = 0; i < bytes; i++)
        w[i] = pattern(off + i);
    memset(r, 0xee, bytes);
    const char *fail = NULL;
    if (transfer(d, true, &wi, o->slba, o->nlb) < 0)
        fail = "write";
    else if (flush(d) < 0)
        fail = "flush";
    else if (transfer(d, false, &ri, o->slba, o->nlb) < 0)
        fail = "read";
    else if (memcmp(r, w, bytes) != 0)
        fail = "read-back comparison";
    uint8_t *medium = fail ? NULL : malloc(bytes);
    if (!fail && d->m->sim && (!medium || capdrv_sim_nvme_data(d->m->sim, d->m->fn, d->ns.nsid, off, medium,
                                                  bytes, false) < 0 ||
                  memcmp(medium, w, bytes) != 0))
        fail = "the sim's medium";
    free(medium);
    if (!fail && o->file && d->ns.nsid == 1 && verify_file(o, off, w, bytes) < 0)
        fail = "the backing file";
    if (fail) {
        for (size_t i = 0; i < bytes && !strcmp(fail, "read-back comparison"); i++)
            if (r[i] != w[i]) {
                fprintf(stderr, "capdrv-nvme: byte %zu (LBA %" PRIu64 ") read %#x, wrote %#x\n", i,
                        o->slba + i / d->ns.lba_size, r[i], w[i]);
                break;
            }
        fprintf(stderr, "capdrv-nvme: verify failed: %s\n", fail);
    }
    if (o->json) {
        struct njson j;
        njson_init(&j, stdout);
        njson_obj(&j, NULL);
        njson_str(&j, "command", "verify");
        njson_str(&j, "lane", lane_name(d));
        njson_u64(&j, "nsid", d->ns.nsid);
        njson_u64(&j, "start_block", o->slba);
        njson_u64(&j, "blocks", o->nlb);
        njson_u64(&j, "bytes", bytes);
        njson_str(&j, "data_pointer", d->qi.sgl ? "sgl" : "prp");
        njson_str(&j, "result", fail ? "mismatch" : "success");
        njson_end_obj(&j);
    } else if (!fail) {
        printf("verify: %" PRIu64 " blocks of %u bytes from LBA %" PRIu64 " on nsid %" PRIu32
               " (%s lane, %s, commands of up to %u bytes): read back%s%s: Success\n",
               o->nlb, d->ns.lba_size, o->slba, d->ns.nsid, lane_name(d), d->qi.sgl ? "SGL" : "PRP",
               d->qi.max_xfer, d->m->sim ? ", medium" : "",
               o->file && d->ns.nsid == 1 ? " and backing file" : "");
    }
    return fail != NULL; /* buffers go with the grant, after the controller is shut down */
}

/* ---- provider --------------------------------------------------------------- */

static int run(struct dev *d)
{
    const struct opts *o = d->o;
    switch (o->cmd) {
    case ID_CTRL:
    case ID_NS:
    case LIST_NS: return cmd_identify(d);
    case SMART_LOG:
    case ERROR_LOG: return cmd_logs(d);
    case READ: return cmd_rw(d, false);
    case WRITE: return cmd_rw(d, true);
    case VERIFY: return cmd_verify(d);
    }
    return 2;
}

static int provider(capdrv_sys *sys, struct machine *m, const struct opts *o)
{
    struct dev d = {.sys = sys, .o = o, .m = m};
    int idx = capdrv_grant_find(sys, "nvme0");
    TRY("find grant", idx);
    TRY("open grant", capdrv_grant_open(sys, (unsigned)idx, &d.grant));
    TRY("open pool", capdrv_pool_open(sys, d.grant, &d.pool));
    int lane = capdrv_grant_lane(sys, d.grant);
    if (o->lane && lane != (strcmp(o->lane, "direct") ? CAPDRV_LANE_BROKERED : CAPDRV_LANE_DIRECT)) {
        fprintf(stderr, "capdrv-nvme: got the other lane than --lane %s\n", o->lane);
        return 1;
    }
    struct capdrv_nvme_ctrl_opts co = {.pool = d.pool, .io_queues = 1, .polling = o->poll};
    char why[256] = "";
    int rc = capdrv_nvme_ctrl_open(sys, d.grant, &co, &d.ctrl, why, sizeof why);
    if (rc < 0) {
        fprintf(stderr, "capdrv-nvme: open controller: %s (%s)\n", why, capdrv_strerror(rc));
        return 1;
    }
    struct capdrv_nvme_qpair_opts qo = {.polling = o->poll, .sgl = o->sgl};
    rc = 1;
    if (o->cmd == READ || o->cmd == WRITE || o->cmd == VERIFY || o->cmd == ERROR_LOG) {
        int e = capdrv_nvme_ns_info(d.ctrl, o->nsid, &d.ns);
        if (e < 0) {
            fprintf(stderr, "capdrv-nvme: namespace %" PRIu32 ": %s\n", o->nsid, capdrv_strerror(e));
            goto out;
        }
        if ((e = capdrv_nvme_qpair_create(d.ctrl, &qo, &d.qp)) < 0 ||
            (e = capdrv_nvme_qpair_info(d.qp, &d.qi)) < 0) {
            fprintf(stderr, "capdrv-nvme: I/O queue pair: %s\n", capdrv_strerror(e));
            goto out;
        }
        if (o->sgl && !d.qi.sgl) {
            fprintf(stderr, "capdrv-nvme: --sgl: the controller offers no SGLs\n");
            goto out;
        }
        uint64_t bytes = o->nlb * d.ns.lba_size;
        if (o->cmd != ERROR_LOG &&
            (o->slba >= d.ns.lba_count || o->nlb > d.ns.lba_count - o->slba || bytes > MAX_BYTES)) {
            fprintf(stderr,
                    "capdrv-nvme: blocks %" PRIu64 "..%" PRIu64 " are outside namespace %" PRIu32
                    " (%" PRIu64 " blocks) or more than %u MiB\n",
                    o->slba, o->slba + o->nlb - 1, o->nsid, d.ns.lba_count, MAX_BYTES >> 20);
            goto out;
        }
    }
    rc = run(&d);
out:
    capdrv_nvme_qpair_destroy(d.qp);
    capdrv_nvme_ctrl_close(d.ctrl);
    TRY("release", capdrv_cap_release(sys, d.grant));
    return rc;
}

/* ---- the platform side and the command line --------------------------------- */

static void *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    char *buf = NULL;
    long n = (fseek(fp, 0, SEEK_END) == 0) ? ftell(fp) : -1;
    if (n > 0 && fseek(fp, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n)) &&
        fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(fp);
    *len = n > 0 ? (size_t)n : 0;
    return buf;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: capdrv-nvme id-ctrl|id-ns|list-ns|smart-log|error-log|read|write|verify\n"
            "         [--lane brokered|direct] [--file PATH] [--namespaces N] [--lba-shift 9|12]\n"
            "         [-n|--nsid|--namespace-id N] [-s|--slba|--start-block LBA]\n"
            "         [-c|--block-count N (0's based) | --nlb N] [-d|--data FILE]\n"
            "         [-e|--log-entries N] [--bad-read] [--sgl] [--poll] [--qd N]\n"
            "         [--json|-o json] [--manifest FILE.dtb] [--platform sim|vfio:SLOT]\n");
    return 2;
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end = NULL;
    if (!s || !*s || *s == '-')
        return -1;
    *out = strtoull(s, &end, 0);
    return *end ? -1 : 0;
}

static int parse(int argc, char **argv, struct opts *o)
{
    static const struct option lo[] = {
        {"lane", required_argument, NULL, 'l'},      {"file", required_argument, NULL, 'f'},
        {"namespaces", required_argument, NULL, 'N'}, {"lba-shift", required_argument, NULL, 'L'},
        {"nsid", required_argument, NULL, 'n'},      {"namespace-id", required_argument, NULL, 'n'},
        {"slba", required_argument, NULL, 's'},      {"start-block", required_argument, NULL, 's'},
        {"block-count", required_argument, NULL, 'c'}, {"nlb", required_argument, NULL, 'B'},
        {"data", required_argument, NULL, 'd'},      {"log-entries", required_argument, NULL, 'e'},
        {"bad-read", no_argument, NULL, 'R'},        {"sgl", no_argument, NULL, 'S'},
        {"poll", no_argument, NULL, 'p'},            {"qd", required_argument, NULL, 'q'},
        {"json", no_argument, NULL, 'j'},            {"output-format", required_argument, NULL, 'o'},
        {"manifest", required_argument, NULL, 'm'},  {"platform", required_argument, NULL, 'P'},
        {NULL, 0, NULL, 0}};
    if (argc < 2)
        return -1;
    bool found = false;
    for (size_t i = 0; i < sizeof cmd_names / sizeof cmd_names[0]; i++)
        if (!strcmp(argv[1], cmd_names[i])) {
            o->cmd = (enum cmd)i;
            found = true;
        }
    if (!found)
        return -1;
    bool count_set = false;
    uint64_t v;
    optind = 2;
    for (int ch; (ch = getopt_long(argc, argv, "l:f:n:s:c:d:e:o:q:m:", lo, NULL)) != -1;) {
        if (ch == 'l') o->lane = optarg;
        else if (ch == 'f') o->file = optarg;
        else if (ch == 'd') o->data = optarg;
        else if (ch == 'm') o->manifest = optarg;
        else if (ch == 'P') o->platform = optarg;
        else if (ch == 'R') o->bad_read = 1;
        else if (ch == 'S') o->sgl = 1;
        else if (ch == 'p') o->poll = 1;
        else if (ch == 'j') o->json = 1;
        else if (ch == 'o') {
            if (strcmp(optarg, "json") && strcmp(optarg, "normal"))
                return -1;
            o->json = !strcmp(optarg, "json");
        } else if (parse_u64(optarg, &v) < 0 || !strchr("NLnscBeq", ch)) {
            return -1;
        } else if (ch == 'N') o->namespaces = v <= 4 ? (unsigned)v : 99;
        else if (ch == 'L') o->lba_shift = v <= 12 ? (unsigned)v : 99;
        else if (ch == 'n') o->nsid = v <= UINT32_MAX ? (uint32_t)v : 0;
        else if (ch == 's') o->slba = v;
        else if (ch == 'c') { o->nlb = v + 1; count_set = true; }
        else if (ch == 'B') { o->nlb = v; count_set = true; }
        else if (ch == 'e') o->log_entries = v <= 4096 ? (unsigned)v : 4096;
        else if (ch == 'q') o->qd = v <= 4096 ? (unsigned)v : 4096;
    }
    if (optind != argc)
        return -1;
    if (!count_set)
        o->nlb = o->cmd == VERIFY ? 512 : 1; /* verify: 256 KiB at 512-byte blocks */
    if (o->lane && strcmp(o->lane, "brokered") && strcmp(o->lane, "direct"))
        return -1;
    if (o->namespaces < 1 || o->namespaces > CAPDRV_SIM_NVME_MAX_NS ||
        (o->lba_shift != 9 && o->lba_shift != 12) || o->nsid == 0 || o->nlb == 0 ||
        o->nlb > 65536ull * 1024 || o->qd == 0 || o->slba > (1ull << 48)) {
        fprintf(stderr, "capdrv-nvme: --namespaces 1..4, --lba-shift 9 or 12, --nsid >= 1, "
                        "--nlb >= 1, --qd >= 1\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o = {.manifest = CAPDRV_EXAMPLE_MANIFEST, .nsid = 1, .namespaces = 1,
                     .lba_shift = 9, .qd = 16};
    if (parse(argc, argv, &o) < 0)
        return usage();
    /* Platform side: a sim machine, with an IOMMU unless brokered is asked
     * for (brokered is also what a no-IOMMU machine probes to), and one
     * NVMe controller at 00:04.0 offering SGLs. Namespace 1 is just large
     * enough for the range asked for (at least 4096 blocks), or backed by
     * --file; the others have 4096 blocks. */
    struct capdrv_vfio *vfio = NULL;
    struct capdrv_hw hw = {0};
    int plat = example_platform_open("capdrv-nvme", o.platform, &vfio, &hw);
    if (plat < 0)
        return 1;
    if (plat > 0 && (o.lane || o.file)) {
        /* A real controller: the lane follows the probe (VFIO has an
         * IOMMU) or the manifest, and its namespaces are what they are. */
        fprintf(stderr, "capdrv-nvme: --lane and --file are for the sim platform\n");
        capdrv_vfio_destroy(vfio);
        return 2;
    }
    struct capdrv_sim_config cfg = {.iommu = !o.lane || strcmp(o.lane, "brokered") != 0};
    struct machine m = {0};
    struct capdrv_pci_addr addr = {0, 0, 4, 0};
    struct capdrv_sim_nvme_config nc = {.n_namespaces = o.namespaces, .sgl = true};
    uint64_t end = o.slba + o.nlb;
    for (unsigned i = 0; i < o.namespaces; i++)
        nc.ns[i] = (struct capdrv_sim_nvme_ns_config){.lba_count = 4096, .lba_shift = o.lba_shift};
    if (o.nsid <= o.namespaces && end > 4096)
        nc.ns[o.nsid - 1].lba_count = end;
    if (plat == 0 && o.file) {
        /* The sim takes an existing file; make one if needed (it extends
         * a shorter one to the namespace size). */
        int fd = open(o.file, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) {
            perror(o.file);
            return 1;
        }
        close(fd);
        nc.ns[0].backing_file = o.file;
    }
    if (plat == 0) {
        TRY("sim", capdrv_sim_create(&cfg, &m.sim));
        int rc_dev = capdrv_sim_add_nvme(m.sim, &addr, &nc, &m.fn);
        if (rc_dev == -CAPDRV_ENOTSUP && o.file) {
            printf("capdrv-nvme: SKIP: io_uring is unavailable here, no file-backed namespace\n");
            capdrv_sim_destroy(m.sim);
            return 77;
        }
        TRY("sim NVMe controller", rc_dev);
        hw = capdrv_sim_hw(m.sim);
    }
    size_t len;
    void *blob = slurp(o.manifest, &len);
    if (!blob) {
        fprintf(stderr, "capdrv-nvme: cannot read manifest %s\n", o.manifest);
        capdrv_sim_destroy(m.sim);
        capdrv_vfio_destroy(vfio);
        return 1;
    }
    struct capdrv_env_hosted_opts eo = {.log_level = -1};
    struct capdrv_env *env = capdrv_env_hosted_new(&eo);
    struct capdrv_shim_config sc = {.env = env, .hw = hw, .manifest = blob, .manifest_len = len};
    struct capdrv_shim *shim;
    char why[256];
    int rc = capdrv_shim_create(&sc, &shim, why, sizeof why);
    free(blob);
    if (rc < 0) {
        fprintf(stderr, "capdrv-nvme: manifest refused: %s (%s)\n", why, capdrv_strerror(rc));
        capdrv_sim_destroy(m.sim);
        capdrv_vfio_destroy(vfio);
        capdrv_env_hosted_free(env);
        return 1;
    }
    capdrv_sys *sys = NULL;
    rc = capdrv_shim_connect(shim, "nvme-demo", &sys);
    if (rc < 0)
        fprintf(stderr, "capdrv-nvme: connect: %s\n", capdrv_strerror(rc));
    else
        rc = provider(sys, &m, &o);
    capdrv_sys_close(sys);
    unsigned long violations = capdrv_sim_oracle_violations(m.sim);
    capdrv_shim_destroy(shim);
    capdrv_sim_destroy(m.sim);
    capdrv_vfio_destroy(vfio);
    capdrv_env_hosted_free(env);
    if (violations) {
        fprintf(stderr, "capdrv-nvme: DMA oracle saw %lu accesses outside the ledger\n", violations);
        return 1;
    }
    return rc < 0 ? 1 : rc;
}
