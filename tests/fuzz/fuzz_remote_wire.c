/* fuzz_remote_wire: capdrv-managerd's server against a hostile provider
 * process (manager/server.c, src/remote/wire.c).
 *
 * One manager (sim machine, shim, memfd DMA memory, the liburing server on
 * a thread) lives for the whole run, as capdrv-managerd does; each input is
 * one provider connection. Byte 0: bit 0 send a valid HELLO for "conf"
 * first (so the request handlers are reached), bit 1 leave without BYE.
 * Then packets, each introduced by a control byte c:
 *   c % 4 == 0: raw - a length byte n, then n bytes sent as one packet;
 *   otherwise:  framed - a valid header (magic, version) with type
 *               (next byte % 24), the exact payload size for that type,
 *               and the payload from the input (zero-padded), so hostile
 *               handles, offsets, widths and sizes reach the handlers.
 *
 * Checked: every reply passes the client's own checks (cdw_check with
 * from_manager), answers the request just sent (same sequence number and
 * type), and comes before the next request; a malformed packet ends the
 * connection; after the connection ends, the provider is gone, no grant is
 * claimed, no DMA buffer is live, the DMA oracle saw no violation, and the
 * manager still serves the next connection. The memfd of each DMA reply is
 * closed. */
#define _GNU_SOURCE
#include "fuzz_common.h"

#include <capdrv/shim.h>
#include <capdrv/sim.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "hwmem.h"
#include "remote/wire.h"
#include "server.h"

struct mgr {
    struct capdrv_env *env;
    struct capdrv_sim *sim;
    struct mgr_hwmem *mem;
    struct capdrv_shim *shim;
    struct mgr_server *srv;
    pthread_t thr;
    char path[108];
};

static void *serve(void *arg)
{
    mgr_server_run(arg);
    return NULL;
}

static void quiet(void *arg, const char *line)
{
    (void)arg;
    if (fuzz_verbose())
        fprintf(stderr, "manager %s\n", line);
}

/* The manager of the whole run (a fuzzer process is one long-lived peer of
 * it; tearing one down per input would test start-up, not the protocol). */
static struct mgr *manager(void)
{
    static struct mgr *m;
    if (m)
        return m;
    m = calloc(1, sizeof *m);
    FUZZ_CHECK(m != NULL);
    FILE *fp = fopen(CAPDRV_FUZZ_MGR_MANIFEST, "rb");
    FUZZ_CHECK(fp != NULL);
    static char blob[65536];
    size_t len = fread(blob, 1, sizeof blob, fp);
    fclose(fp);
    struct capdrv_env_hosted_opts eo = {.log_level = -1};
    m->env = capdrv_env_hosted_new(&eo);
    struct capdrv_sim_config cfg = {.iommu = false};
    FUZZ_CHECK(capdrv_sim_create(&cfg, &m->sim) == 0);
    struct capdrv_pci_addr a[6] = {{0, 0, 3, 0}, {0, 0, 4, 0}, {0, 0, 5, 0},
                                   {0, 0, 6, 0}, {0, 0, 7, 0}, {0, 0, 8, 0}};
    struct capdrv_sim_nvme_config nvme = {.max_io_queues = 4, .sgl = true};
    unsigned fn;
    FUZZ_CHECK(capdrv_sim_add_dmatest(m->sim, &a[0], &fn) == 0);
    FUZZ_CHECK(capdrv_sim_add_scratch(m->sim, &a[1], 0x1234, 0x5678, 0x058000, &fn) == 0);
    FUZZ_CHECK(capdrv_sim_add_dmatest(m->sim, &a[2], &fn) == 0);
    FUZZ_CHECK(capdrv_sim_add_virtio_blk(m->sim, &a[3], NULL, &fn) == 0);
    FUZZ_CHECK(capdrv_sim_add_virtio_net(m->sim, &a[4], NULL, &fn) == 0);
    FUZZ_CHECK(capdrv_sim_add_nvme(m->sim, &a[5], &nvme, &fn) == 0);
    struct capdrv_hw hw;
    FUZZ_CHECK(mgr_hwmem_wrap(capdrv_sim_hw(m->sim), &m->mem, &hw) == 0);
    struct capdrv_shim_config sc = {.env = m->env, .hw = hw, .manifest = blob, .manifest_len = len};
    char why[256];
    FUZZ_CHECK(capdrv_shim_create(&sc, &m->shim, why, sizeof why) == 0);
    snprintf(m->path, sizeof m->path, "/tmp/capdrv-fuzz-mgr-%d.sock", (int)getpid());
    struct mgr_server_config mc = {.shim = m->shim, .mem = m->mem, .socket_path = m->path,
                                   .hello_timeout_ms = 1000, .log = quiet};
    FUZZ_CHECK(mgr_server_create(&mc, &m->srv, why, sizeof why) == 0);
    FUZZ_CHECK(pthread_create(&m->thr, NULL, serve, m->srv) == 0);
    return m;
}

static int connect_to(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    FUZZ_CHECK(fd >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    FUZZ_CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    struct timeval tv = {.tv_sec = 5};
    FUZZ_CHECK(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0);
    return fd;
}

/* Receive one reply; close any descriptor riding along. Returns its
 * length, 0 when the manager closed the connection. */
static ssize_t recv_reply(int fd, uint8_t *buf, size_t cap)
{
    union {
        struct cmsghdr align;
        char buf[64]; /* >= CMSG_SPACE(4 * sizeof(int)) */
    } ctl;
    struct iovec io = {buf, cap};
    struct msghdr mh = {.msg_iov = &io, .msg_iovlen = 1, .msg_control = ctl.buf,
                        .msg_controllen = sizeof ctl.buf};
    ssize_t n;
    do
        n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno == ECONNRESET)
        return 0; /* dropped with our request unread: also a hang-up */
    FUZZ_CHECK_MSG(n >= 0, "recvmsg errno (a reply never came)", errno);
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
            for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
                int d;
                memcpy(&d, CMSG_DATA(c) + i * sizeof d, sizeof d);
                close(d);
            }
    FUZZ_CHECK(!(mh.msg_flags & MSG_TRUNC));
    return n;
}

/* Send @len bytes as one request; false once the manager has hung up.
 * A valid request must get exactly its reply; after an invalid one the
 * manager may close the connection (and must not answer anything else). */
static bool exchange(int fd, const uint8_t *pkt, size_t len)
{
    ssize_t s;
    do
        s = send(fd, pkt, len, MSG_NOSIGNAL);
    while (s < 0 && errno == EINTR);
    if (s < 0)
        return false; /* EPIPE / ECONNRESET: the manager dropped us before */
    static uint8_t buf[CDW_MSG_MAX + 64];
    ssize_t n = recv_reply(fd, buf, sizeof buf);
    if (n == 0)
        return false;
    struct cdw_hdr req, rsp;
    bool valid = cdw_check(pkt, len, 0, &req) == 0;
    FUZZ_CHECK_MSG(cdw_check(buf, (size_t)n, 1, &rsp) == 0, "malformed reply type", rsp.type);
    FUZZ_CHECK(valid); /* an invalid request is never answered */
    FUZZ_CHECK(rsp.seq == req.seq && rsp.type == (req.type | CDW_RESPONSE));
    if (fuzz_verbose()) {
        int32_t rc;
        memcpy(&rc, buf + sizeof rsp, sizeof rc);
        fprintf(stderr, "fuzz_remote_wire: type %u -> rc %d\n", req.type, rc);
    }
    return true;
}

static void wait_gone(struct mgr *m)
{
    for (int i = 0; i < 5000 && mgr_server_has_provider(m->srv, "conf"); i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    FUZZ_CHECK(!mgr_server_has_provider(m->srv, "conf"));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mgr *m = manager();
    struct fuzz_rd r = {data, size};
    unsigned flags = fuzz_rd8(&r);
    int fd = connect_to(m->path);
    uint32_t seq = 1;
    bool up = true;
    static uint8_t pkt[sizeof(struct cdw_hdr) + 1024];
    if (flags & 1u) {
        struct cdw_hello h = {0};
        snprintf(h.name, sizeof h.name, "conf");
        cdw_hdr_init((struct cdw_hdr *)pkt, CDW_HELLO, sizeof h, seq++);
        memcpy(pkt + sizeof(struct cdw_hdr), &h, sizeof h);
        up = exchange(fd, pkt, sizeof(struct cdw_hdr) + sizeof h);
    }
    for (unsigned k = 0; up && r.n > 0 && k < 64; k++) {
        unsigned c = fuzz_rd8(&r);
        size_t len;
        if (c % 4u == 0) {
            len = fuzz_rd8(&r);
            for (size_t i = 0; i < len; i++)
                pkt[i] = (uint8_t)fuzz_rd8(&r);
            if (len == 0)
                continue; /* a zero-length packet is an EOF to SOCK_SEQPACKET */
        } else {
            uint16_t type = (uint16_t)(fuzz_rd8(&r) % 24u);
            size_t pay = cdw_payload_size(type);
            if (pay > 1024)
                pay = 1024;
            cdw_hdr_init((struct cdw_hdr *)pkt, type, (uint32_t)pay, seq++);
            for (size_t i = 0; i < pay; i++)
                pkt[sizeof(struct cdw_hdr) + i] = (uint8_t)fuzz_rd8(&r);
            len = sizeof(struct cdw_hdr) + pay;
        }
        up = exchange(fd, pkt, len);
    }
    if (up && !(flags & 2u)) {
        cdw_hdr_init((struct cdw_hdr *)pkt, CDW_BYE, 0, seq++);
        (void)exchange(fd, pkt, sizeof(struct cdw_hdr));
    }
    close(fd);
    wait_gone(m);
    struct capdrv_shim_stats st;
    FUZZ_CHECK(capdrv_shim_stats(m->shim, &st) == 0);
    FUZZ_CHECK_MSG(st.grants_claimed == 0, "grants still claimed", st.grants_claimed);
    FUZZ_CHECK_MSG(st.dma_buffers == 0, "DMA buffers still live", st.dma_buffers);
    FUZZ_CHECK(capdrv_sim_oracle_violations(m->sim) == 0);
    return 0;
}
