/* The manager's provider server (server.h, docs/MANAGER.md).
 *
 * One thread, one io_uring (and, with cfg.irq_eventfds, one interrupt
 * pump thread per provider that opened a vector: irqpump.h; the pumps
 * never take the server lock). Submissions in flight at any time: one accept
 * on the listening socket, one recvmsg per connection, one read of the
 * wake-up eventfd, one read of the signalfd (capdrv-managerd), and one
 * periodic timeout that enforces the hello deadline. A completion is
 * handled entirely under the server lock, so other threads (the
 * conformance runner) may call mgr_server_revoke()/status() at any time.
 *
 * Providers are strictly request/response: a request is answered before
 * the next recvmsg is armed. A reply that does not fit the socket buffer
 * means the peer is not reading its replies; it is disconnected rather
 * than letting it stall the loop (sends never block).
 *
 * Provider death is a hang-up: the recvmsg completes with 0 (or an error)
 * and the provider is detached from the shim, which tears down everything
 * it held (quiesce, release ledger entries, scrub, free its grants). */
#define _GNU_SOURCE
#include "server.h"

#include "hwmem.h"
#include "irqpump.h"
#include "remote/wire.h"

#include <capdrv_shim/core.h>

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MGR_MAX_CONNS 64
#define MGR_RING_ENTRIES 128
/* Largest request + 1: a longer packet arrives truncated to this size and
 * matches no request's exact length. */
#define MGR_RECV_MAX (sizeof(struct cdw_hdr) + sizeof(struct cdw_irq_wait) + 1)

enum op_kind { OP_ACCEPT = 1, OP_RECV, OP_WAKE, OP_SIGNAL, OP_TIMER };
struct op {
    enum op_kind kind;
};

enum conn_state { C_HELLO, C_PROVIDER, C_CONTROL, C_CLOSING };

struct conn {
    struct op op; /* OP_RECV; first, so a CQE's user_data is the conn */
    int fd;
    enum conn_state state;
    bool recv_armed;
    pid_t pid;
    uid_t uid;
    gid_t gid;
    uint64_t id;
    uint64_t hello_deadline_ns;
    char name[CAPDRV_NAME_MAX];
    struct shim_provider *p;
    struct mgr_irqpump *pump; /* cfg.irq_eventfds: made at the first IRQ_OPEN */
    struct iovec iov;
    struct msghdr mh;
    unsigned char in[MGR_RECV_MAX];
    /* Last: clang sees CMSG_SPACE() as a variable-sized type. */
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * 8)];
    } ctl;
};

struct mgr_server {
    struct mgr_server_config cfg;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    pthread_mutex_t lock;
    struct io_uring ring;
    bool ring_ok;
    int lfd, wake_fd, sig_fd;
    bool bound; /* we created the socket file: unlink it at destroy */
    _Atomic int stopping; /* set by mgr_server_stop() from any thread */
    struct op op_accept, op_wake, op_signal, op_timer;
    uint64_t wake_val;
    struct signalfd_siginfo siginfo;
    struct __kernel_timespec tick;
    struct conn *conns[MGR_MAX_CONNS];
    uint64_t next_id;
    uid_t my_uid;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

__attribute__((format(printf, 2, 3))) static void logf_(struct mgr_server *s, const char *fmt, ...)
{
    char line[512];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int k = snprintf(line, sizeof line, "ts=%lld.%03ld ", (long long)ts.tv_sec,
                     ts.tv_nsec / 1000000);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + k, sizeof line - (size_t)k, fmt, ap);
    va_end(ap);
    if (s->cfg.log)
        s->cfg.log(s->cfg.log_arg, line);
    else
        fprintf(stderr, "capdrv-managerd %s\n", line);
}

/* ---- submissions ---- */

static struct io_uring_sqe *sqe_get(struct mgr_server *s)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);
    if (!sqe) { /* full: flush and retry once */
        io_uring_submit(&s->ring);
        sqe = io_uring_get_sqe(&s->ring);
    }
    return sqe;
}

static int arm_accept(struct mgr_server *s)
{
    struct io_uring_sqe *sqe = sqe_get(s);
    if (!sqe)
        return -CAPDRV_ENOMEM;
    io_uring_prep_accept(sqe, s->lfd, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data(sqe, &s->op_accept);
    return 0;
}

static int arm_recv(struct mgr_server *s, struct conn *c)
{
    struct io_uring_sqe *sqe = sqe_get(s);
    if (!sqe)
        return -CAPDRV_ENOMEM;
    c->iov = (struct iovec){.iov_base = c->in, .iov_len = sizeof c->in};
    c->mh = (struct msghdr){.msg_iov = &c->iov, .msg_iovlen = 1, .msg_control = c->ctl.buf,
                            .msg_controllen = sizeof c->ctl.buf};
    io_uring_prep_recvmsg(sqe, c->fd, &c->mh, MSG_CMSG_CLOEXEC);
    io_uring_sqe_set_data(sqe, c);
    c->recv_armed = true;
    return 0;
}

static int arm_read(struct mgr_server *s, int fd, void *buf, unsigned len, struct op *op)
{
    struct io_uring_sqe *sqe = sqe_get(s);
    if (!sqe)
        return -CAPDRV_ENOMEM;
    io_uring_prep_read(sqe, fd, buf, len, 0);
    io_uring_sqe_set_data(sqe, op);
    return 0;
}

static int arm_timer(struct mgr_server *s)
{
    struct io_uring_sqe *sqe = sqe_get(s);
    if (!sqe)
        return -CAPDRV_ENOMEM;
    s->tick = (struct __kernel_timespec){.tv_sec = 0, .tv_nsec = 250000000};
    io_uring_prep_timeout(sqe, &s->tick, 0, 0);
    io_uring_sqe_set_data(sqe, &s->op_timer);
    return 0;
}

/* ---- connections ---- */

static void conn_free(struct mgr_server *s, struct conn *c)
{
    for (size_t i = 0; i < MGR_MAX_CONNS; i++)
        if (s->conns[i] == c)
            s->conns[i] = NULL;
    if (c->fd >= 0)
        close(c->fd);
    free(c);
}

/* Provider death or disconnect: tear down now; the memory goes when the
 * pending recvmsg completes (shutdown() makes it complete). */
static void conn_kill(struct mgr_server *s, struct conn *c, const char *why)
{
    if (c->state == C_CLOSING)
        return;
    mgr_irqpump_free(c->pump); /* it calls into the shim for c->p: first */
    c->pump = NULL;
    if (c->p) {
        capdrv_shim_provider_detach(s->cfg.shim, c->p);
        c->p = NULL;
        logf_(s, "event=teardown conn=%llu provider=%s pid=%d uid=%u reason=%s",
              (unsigned long long)c->id, c->name, (int)c->pid, (unsigned)c->uid, why);
    } else {
        logf_(s, "event=disconnect conn=%llu pid=%d uid=%u reason=%s", (unsigned long long)c->id,
              (int)c->pid, (unsigned)c->uid, why);
    }
    c->state = C_CLOSING;
    shutdown(c->fd, SHUT_RDWR);
}

static int reply(struct conn *c, uint16_t type, uint32_t seq, const void *pl, size_t len,
                 int pass_fd)
{
    unsigned char out[sizeof(struct cdw_hdr) + sizeof(struct cdw_r_status)];
    struct cdw_hdr h;
    cdw_hdr_init(&h, type | CDW_RESPONSE, (uint32_t)len, seq);
    memcpy(out, &h, sizeof h);
    memcpy(out + sizeof h, pl, len);
    struct iovec iov = {.iov_base = out, .iov_len = sizeof h + len};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (pass_fd >= 0) {
        memset(&ctl, 0, sizeof ctl);
        mh.msg_control = ctl.buf;
        mh.msg_controllen = sizeof ctl.buf;
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &pass_fd, sizeof pass_fd);
    }
    ssize_t n = sendmsg(c->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
    return n == (ssize_t)iov.iov_len ? 0 : -CAPDRV_EIO;
}

static const struct mgr_allow *allow_rule(const struct mgr_server *s, const char *name, uid_t uid,
                                          bool *named)
{
    *named = false;
    for (size_t i = 0; i < s->cfg.n_allow; i++)
        if (!strcmp(s->cfg.allow[i].name, name)) {
            *named = true;
            if (s->cfg.allow[i].uid == uid)
                return &s->cfg.allow[i];
        }
    return NULL;
}

static struct conn *conn_by_name(struct mgr_server *s, const char *name)
{
    for (size_t i = 0; i < MGR_MAX_CONNS; i++) {
        struct conn *c = s->conns[i];
        if (c && c->state == C_PROVIDER && !strcmp(c->name, name))
            return c;
    }
    return NULL;
}

/* The credentials rule (docs/MANAGER.md): the claimed name must have
 * grants in the manifest (the shim checks at attach), be free, and the
 * peer's SO_PEERCRED uid must be admitted for it. */
static int hello(struct mgr_server *s, struct conn *c, const struct cdw_hello *m)
{
    if (m->flags & CDW_HELLO_CONTROL) {
        if (c->uid != s->my_uid && c->uid != 0)
            return -CAPDRV_EACCES;
        c->state = C_CONTROL;
        logf_(s, "event=control conn=%llu pid=%d uid=%u", (unsigned long long)c->id, (int)c->pid,
              (unsigned)c->uid);
        return 0;
    }
    if (m->name[0] == '\0')
        return -CAPDRV_EINVAL;
    bool named;
    if (!allow_rule(s, m->name, c->uid, &named) && (named || c->uid != s->my_uid))
        return -CAPDRV_EACCES;
    if (conn_by_name(s, m->name))
        return -CAPDRV_EBUSY;
    int rc = capdrv_shim_provider_attach(s->cfg.shim, m->name, c, &c->p);
    if (rc < 0)
        return rc;
    memcpy(c->name, m->name, sizeof c->name);
    c->state = C_PROVIDER;
    logf_(s, "event=attach conn=%llu provider=%s pid=%d uid=%u", (unsigned long long)c->id,
          c->name, (int)c->pid, (unsigned)c->uid);
    return 0;
}

/* Answer a DMA_ALLOC or DMABUF_INFO with the buffer's memfd. */
static int reply_buf(struct mgr_server *s, struct conn *c, const struct cdw_hdr *h, int rc,
                     capdrv_cap_t cap, const struct capdrv_dmabuf_info *bi)
{
    struct cdw_r_buf r = {.rc = rc, .cap = cap};
    int fd = -1;
    if (rc == 0) {
        size_t size;
        if (mgr_hwmem_lookup(s->cfg.mem, bi->cpu, &fd, &size) < 0) {
            /* not shareable: the provider must not get a buffer it
             * cannot reach */
            if (h->type == CDW_DMA_ALLOC)
                capdrv_shim_sys_cap_release(s->cfg.shim, c->p, cap);
            r = (struct cdw_r_buf){.rc = -CAPDRV_EIO};
        } else {
            r.size = bi->size;
            r.ref_base = bi->ref_base;
            r.map_size = size;
        }
    }
    int sent = reply(c, h->type, h->seq, &r, sizeof r, fd);
    if (fd >= 0)
        close(fd);
    return sent;
}

static void fill_grant_info(struct cdw_r_grant_info *r, const struct capdrv_grant_info *g)
{
    memcpy(r->name, g->name, sizeof r->name);
    r->name[sizeof r->name - 1] = '\0';
    r->cls = (uint32_t)g->cls;
    r->lane = (uint32_t)g->lane;
    r->domain = g->addr.domain;
    r->bus = g->addr.bus;
    r->dev = g->addr.dev;
    r->fn = g->addr.fn;
    r->vendor = g->id.vendor;
    r->device = g->id.device;
    r->subsys_vendor = g->id.subsys_vendor;
    r->subsys_device = g->id.subsys_device;
    r->class_code = g->id.class_code;
    r->revision = g->id.revision;
    r->n_windows = g->n_windows;
    r->n_irqs = g->n_irqs;
    r->pool_quota_bytes = g->pool_quota_bytes;
    r->pool_quota_buffers = g->pool_quota_buffers;
    r->claimed = g->claimed ? 1u : 0u;
}

/* Serve one validated request of a provider. Returns 0, or < 0 when the
 * reply could not be sent (the caller disconnects). */
static int serve(struct mgr_server *s, struct conn *c, const struct cdw_hdr *h, const void *pl)
{
    struct capdrv_shim *sh = s->cfg.shim;
    struct shim_provider *p = c->p;
    union {
        struct cdw_index idx;
        struct cdw_cap cap;
        struct cdw_cap_idx ci;
        struct cdw_mmio_rd rd;
        struct cdw_mmio_wr wr;
        struct cdw_cfg cfg;
        struct cdw_alloc al;
        struct cdw_irq_wait iw;
        struct cdw_irq_mask im;
    } q;
    memcpy(&q, pl, h->length); /* exact size checked by cdw_check() */
    struct cdw_r_rc rr = {0};
    struct cdw_r_cap rc_ = {0};
    struct cdw_r_val rv = {0};
    switch (h->type) {
    case CDW_GRANT_COUNT:
        rr.rc = capdrv_shim_sys_grant_count(sh, p);
        break;
    case CDW_GRANT_INFO: {
        struct capdrv_grant_info gi;
        struct cdw_r_grant_info r = {0};
        r.rc = capdrv_shim_sys_grant_info(sh, p, q.idx.index, &gi);
        if (r.rc == 0)
            fill_grant_info(&r, &gi);
        return reply(c, h->type, h->seq, &r, sizeof r, -1);
    }
    case CDW_GRANT_OPEN:
        rc_.rc = capdrv_shim_sys_grant_open(sh, p, q.idx.index, &rc_.cap);
        return reply(c, h->type, h->seq, &rc_, sizeof rc_, -1);
    case CDW_GRANT_LANE:
        rr.rc = capdrv_shim_sys_grant_lane(sh, p, q.cap.cap);
        break;
    case CDW_GRANT_RESET:
        rr.rc = capdrv_shim_sys_grant_reset(sh, p, q.cap.cap);
        break;
    case CDW_WINDOW_INFO: {
        struct capdrv_window_info wi;
        struct cdw_r_window_info r = {0};
        r.rc = capdrv_shim_sys_window_info(sh, p, q.ci.cap, q.ci.index, &wi);
        if (r.rc == 0) {
            memcpy(r.name, wi.name, sizeof r.name);
            r.name[sizeof r.name - 1] = '\0';
            r.bar = wi.bar;
            r.offset = wi.offset;
            r.length = wi.length;
            r.flags = wi.flags;
        }
        return reply(c, h->type, h->seq, &r, sizeof r, -1);
    }
    case CDW_MMIO_OPEN:
        rc_.rc = capdrv_shim_sys_mmio_open(sh, p, q.ci.cap, q.ci.index, &rc_.cap);
        return reply(c, h->type, h->seq, &rc_, sizeof rc_, -1);
    case CDW_MMIO_READ:
        rv.rc = capdrv_shim_sys_mmio_read(sh, p, q.rd.cap, q.rd.offset, q.rd.width, &rv.val);
        return reply(c, h->type, h->seq, &rv, sizeof rv, -1);
    case CDW_MMIO_WRITE:
        rr.rc = capdrv_shim_sys_mmio_write(sh, p, q.wr.cap, q.wr.offset, q.wr.width, q.wr.val);
        break;
    case CDW_CFG_READ: {
        uint32_t v = 0;
        rv.rc = capdrv_shim_sys_cfg_read(sh, p, q.cfg.cap, q.cfg.offset, q.cfg.width, &v);
        rv.val = v;
        return reply(c, h->type, h->seq, &rv, sizeof rv, -1);
    }
    case CDW_CFG_WRITE:
        rr.rc = capdrv_shim_sys_cfg_write(sh, p, q.cfg.cap, q.cfg.offset, q.cfg.width, q.cfg.val);
        break;
    case CDW_POOL_OPEN:
        rc_.rc = capdrv_shim_sys_pool_open(sh, p, q.cap.cap, &rc_.cap);
        return reply(c, h->type, h->seq, &rc_, sizeof rc_, -1);
    case CDW_DMA_ALLOC: {
        capdrv_cap_t b = CAPDRV_CAP_INVALID;
        struct capdrv_dmabuf_info bi = {0};
        int rc = q.al.size > SIZE_MAX ? -CAPDRV_EINVAL
                                      : capdrv_shim_sys_dma_alloc(sh, p, q.al.pool,
                                                                  (size_t)q.al.size, &b, &bi);
        return reply_buf(s, c, h, rc, b, &bi);
    }
    case CDW_DMABUF_INFO: {
        struct capdrv_dmabuf_info bi = {0};
        int rc = capdrv_shim_sys_dmabuf_info(sh, p, q.cap.cap, &bi);
        return reply_buf(s, c, h, rc, q.cap.cap, &bi);
    }
    case CDW_IRQ_OPEN: {
        rc_.rc = capdrv_shim_sys_irq_open(sh, p, q.ci.cap, q.ci.index, &rc_.cap);
        /* Interrupts by descriptor where waits take real time (irqpump.h);
         * without one (none left) the provider waits by message. */
        int efd = -1;
        if (rc_.rc == 0 && s->cfg.irq_eventfds &&
            (c->pump || mgr_irqpump_new(sh, p, &c->pump) == 0) &&
            mgr_irqpump_add(c->pump, rc_.cap, &efd) < 0)
            efd = -1;
        int r = reply(c, h->type, h->seq, &rc_, sizeof rc_, efd);
        if (efd >= 0)
            close(efd);
        return r;
    }
    case CDW_IRQ_WAIT:
        /* n is the caller's count: bound it by the array that was sent */
        if (q.iw.n == 0 || q.iw.n > CDW_IRQ_MAX)
            rv.rc = -CAPDRV_EINVAL;
        else /* at most one slice: the loop serves everyone (wire.h) */
            rv.rc = capdrv_shim_sys_irq_wait(
                sh, p, q.iw.irqs, q.iw.n,
                q.iw.timeout_ns < 0 || q.iw.timeout_ns > CDW_IRQ_WAIT_SLICE_NS ? CDW_IRQ_WAIT_SLICE_NS
                                                                               : q.iw.timeout_ns,
                &rv.val);
        return reply(c, h->type, h->seq, &rv, sizeof rv, -1);
    case CDW_IRQ_ACK:
        rr.rc = capdrv_shim_sys_irq_ack(sh, p, q.cap.cap);
        if (rr.rc == 0 && c->pump)
            mgr_irqpump_acked(c->pump, q.cap.cap);
        else if ((rr.rc == -CAPDRV_ESTALE || rr.rc == -CAPDRV_EBADF) && c->pump)
            mgr_irqpump_forget(c->pump, q.cap.cap); /* revoked after it fired */
        break;
    case CDW_IRQ_MASK:
        rr.rc = capdrv_shim_sys_irq_mask(sh, p, q.im.cap, q.im.masked != 0);
        break;
    case CDW_CAP_RELEASE:
        if (c->pump)
            mgr_irqpump_forget(c->pump, q.cap.cap);
        rr.rc = capdrv_shim_sys_cap_release(sh, p, q.cap.cap);
        break;
    default:
        return -CAPDRV_EPROTO; /* HELLO twice, STATUS from a provider */
    }
    return reply(c, h->type, h->seq, &rr, sizeof rr, -1);
}

size_t mgr_server_status(struct mgr_server *s, char *buf, size_t len)
{
    size_t k = 0;
#define PUT(...)                                                                            \
    do {                                                                                    \
        int n_ = snprintf(buf + (k < len ? k : len), k < len ? len - k : 0, __VA_ARGS__); \
        if (n_ > 0)                                                                         \
            k += (size_t)n_;                                                                \
    } while (0)
    pthread_mutex_lock(&s->lock);
    struct capdrv_shim_stats st = {0};
    capdrv_shim_stats(s->cfg.shim, &st);
    unsigned np = 0;
    for (size_t i = 0; i < MGR_MAX_CONNS; i++)
        np += s->conns[i] && s->conns[i]->state == C_PROVIDER;
    PUT("manager pid=%d socket=%s providers=%u\n", (int)getpid(), s->path, np);
    for (size_t i = 0; i < MGR_MAX_CONNS; i++) {
        struct conn *c = s->conns[i];
        if (!c || c->state != C_PROVIDER)
            continue;
        PUT("provider name=%s pid=%d uid=%u conn=%llu irq_eventfds=%u\n", c->name, (int)c->pid,
            (unsigned)c->uid, (unsigned long long)c->id, mgr_irqpump_count(c->pump));
        int n = capdrv_shim_sys_grant_count(s->cfg.shim, c->p);
        for (int g = 0; g < n; g++) {
            struct capdrv_grant_info gi;
            if (capdrv_shim_sys_grant_info(s->cfg.shim, c->p, (unsigned)g, &gi) == 0)
                PUT("grant provider=%s name=%.*s claimed=%d lane=%s pool_quota_bytes=%llu\n",
                    c->name, CAPDRV_NAME_MAX, gi.name, gi.claimed ? 1 : 0,
                    gi.lane == CAPDRV_LANE_DIRECT ? "direct" : "brokered",
                    (unsigned long long)gi.pool_quota_bytes);
        }
    }
    PUT("ledger grants=%u grants_claimed=%u dma_buffers=%u dma_bytes=%llu dma_inflight=%llu "
        "scrubbed_bytes=%llu refused_notify=%llu\n",
        st.grants, st.grants_claimed, st.dma_buffers, (unsigned long long)st.dma_bytes,
        (unsigned long long)st.dma_inflight, (unsigned long long)st.scrubbed_bytes,
        (unsigned long long)st.refused_notify);
    pthread_mutex_unlock(&s->lock);
#undef PUT
    if (len)
        buf[k < len ? k : len - 1] = '\0';
    return k;
}

/* A packet arrived (or the peer hung up) on @c. Lock held. */
static void on_recv(struct mgr_server *s, struct conn *c, int res)
{
    c->recv_armed = false;
    if (c->state == C_CLOSING) {
        conn_free(s, c);
        return;
    }
    if (res <= 0) {
        conn_kill(s, c, res == 0 ? "hangup" : "recv_error");
        conn_free(s, c);
        return;
    }
    bool fds = false;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&c->mh); cm; cm = CMSG_NXTHDR(&c->mh, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; i++) {
            int f;
            memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof f);
            close(f);
        }
        fds = true;
    }
    struct cdw_hdr h;
    const char *bad = fds                                          ? "fd_passed"
                      : (c->mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ? "truncated"
                      : cdw_check(c->in, (size_t)res, 0, &h) < 0    ? "malformed"
                                                                    : NULL;
    if (!bad) {
        const unsigned char *pl = c->in + sizeof h;
        int rc;
        if (c->state == C_HELLO) {
            if (h.type != CDW_HELLO) {
                bad = "no_hello";
            } else {
                struct cdw_hello m;
                memcpy(&m, pl, sizeof m);
                struct cdw_r_hello r = {.rc = hello(s, c, &m), .version = CDW_VERSION};
                if (r.rc < 0)
                    logf_(s, "event=refused conn=%llu pid=%d uid=%u name=%s rc=%d",
                          (unsigned long long)c->id, (int)c->pid, (unsigned)c->uid, m.name, r.rc);
                if (reply(c, h.type, h.seq, &r, sizeof r, -1) < 0 || r.rc < 0)
                    bad = r.rc < 0 ? "refused" : "send_failed";
            }
        } else if (h.type == CDW_BYE) {
            mgr_irqpump_free(c->pump);
            c->pump = NULL;
            if (c->p) {
                capdrv_shim_provider_detach(s->cfg.shim, c->p);
                c->p = NULL;
                logf_(s, "event=teardown conn=%llu provider=%s pid=%d uid=%u reason=bye",
                      (unsigned long long)c->id, c->name, (int)c->pid, (unsigned)c->uid);
            }
            struct cdw_r_rc r = {0};
            reply(c, h.type, h.seq, &r, sizeof r, -1);
            bad = "bye";
        } else if (c->state == C_CONTROL) {
            if (h.type == CDW_REVOKE) {
                struct cdw_revoke m;
                memcpy(&m, pl, sizeof m);
                struct conn *t = conn_by_name(s, m.name);
                struct cdw_r_rc r = {
                    .rc = t ? capdrv_shim_provider_revoke(s->cfg.shim, t->p, m.cap) : -CAPDRV_ENOENT};
                logf_(s, "event=revoke conn=%llu provider=%s cap=0x%llx rc=%d",
                      (unsigned long long)c->id, m.name, (unsigned long long)m.cap, r.rc);
                if (reply(c, h.type, h.seq, &r, sizeof r, -1) < 0)
                    bad = "send_failed";
            } else if (h.type != CDW_STATUS) {
                bad = "control_misuse";
            } else {
                static const size_t head = offsetof(struct cdw_r_status, text);
                struct cdw_r_status *r = malloc(sizeof *r);
                if (!r) {
                    bad = "enomem";
                } else {
                    pthread_mutex_unlock(&s->lock); /* status takes the lock itself */
                    size_t n = mgr_server_status(s, r->text, sizeof r->text);
                    pthread_mutex_lock(&s->lock);
                    r->rc = 0;
                    r->text_len = (uint32_t)(n < sizeof r->text ? n + 1 : sizeof r->text);
                    if (reply(c, h.type, h.seq, r, head + r->text_len, -1) < 0)
                        bad = "send_failed";
                    free(r);
                }
            }
        } else if ((rc = serve(s, c, &h, pl)) < 0) {
            bad = rc == -CAPDRV_EPROTO ? "bad_request" : "send_failed";
        }
    }
    if (bad) {
        if (strcmp(bad, "bye") && strcmp(bad, "refused"))
            logf_(s, "event=protocol_violation conn=%llu pid=%d uid=%u provider=%s what=%s",
                  (unsigned long long)c->id, (int)c->pid, (unsigned)c->uid,
                  c->name[0] ? c->name : "-", bad);
        conn_kill(s, c, bad);
        conn_free(s, c); /* no recv is pending: free now */
        return;
    }
    if (arm_recv(s, c) < 0) {
        conn_kill(s, c, "ring_full");
        conn_free(s, c);
    }
}

static void on_accept(struct mgr_server *s, int fd)
{
    struct ucred cr;
    socklen_t cl = sizeof cr;
    size_t slot = MGR_MAX_CONNS;
    for (size_t i = 0; i < MGR_MAX_CONNS && slot == MGR_MAX_CONNS; i++)
        if (!s->conns[i])
            slot = i;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) < 0 || slot == MGR_MAX_CONNS) {
        logf_(s, "event=reject reason=%s", slot == MGR_MAX_CONNS ? "too_many" : "no_creds");
        close(fd);
        return;
    }
    struct conn *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return;
    }
    c->op.kind = OP_RECV;
    c->fd = fd;
    c->pid = cr.pid;
    c->uid = cr.uid;
    c->gid = cr.gid;
    c->id = ++s->next_id;
    c->hello_deadline_ns =
        now_ns() + (uint64_t)(s->cfg.hello_timeout_ms ? s->cfg.hello_timeout_ms : 5000) * 1000000ull;
    s->conns[slot] = c;
    logf_(s, "event=accept conn=%llu pid=%d uid=%u gid=%u", (unsigned long long)c->id, (int)c->pid,
          (unsigned)c->uid, (unsigned)c->gid);
    if (arm_recv(s, c) < 0) {
        conn_kill(s, c, "ring_full");
        conn_free(s, c);
    }
}

static void on_timer(struct mgr_server *s)
{
    uint64_t t = now_ns();
    for (size_t i = 0; i < MGR_MAX_CONNS; i++) {
        struct conn *c = s->conns[i];
        if (c && c->state == C_HELLO && t > c->hello_deadline_ns)
            conn_kill(s, c, "hello_timeout"); /* freed when its recv completes */
    }
}

int mgr_server_create(const struct mgr_server_config *cfg, struct mgr_server **out, char *why,
                      size_t why_len)
{
    if (!cfg || !cfg->shim || !cfg->mem || !cfg->socket_path || !out)
        return -CAPDRV_EINVAL;
    struct mgr_server *s = calloc(1, sizeof *s);
    if (!s)
        return -CAPDRV_ENOMEM;
    s->cfg = *cfg;
    s->lfd = s->wake_fd = s->sig_fd = -1;
    s->my_uid = geteuid();
    s->op_accept.kind = OP_ACCEPT;
    s->op_wake.kind = OP_WAKE;
    s->op_signal.kind = OP_SIGNAL;
    s->op_timer.kind = OP_TIMER;
    pthread_mutex_init(&s->lock, NULL);
    int rc = -CAPDRV_EIO;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t plen = strlen(cfg->socket_path);
    if (plen == 0 || plen >= sizeof sa.sun_path) {
        snprintf(why, why_len, "socket path empty or longer than %zu bytes", sizeof sa.sun_path - 1);
        rc = -CAPDRV_EINVAL;
        goto fail;
    }
    memcpy(sa.sun_path, cfg->socket_path, plen);
    memcpy(s->path, cfg->socket_path, plen + 1);
    struct stat stt;
    if (lstat(s->path, &stt) == 0) {
        if (!S_ISSOCK(stt.st_mode)) { /* never delete someone's file */
            snprintf(why, why_len, "%s exists and is not a socket", s->path);
            rc = -CAPDRV_EEXIST;
            goto fail;
        }
        unlink(s->path);
    }
    s->lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        !(s->bound = true) || listen(s->lfd, 64) < 0) {
        snprintf(why, why_len, "socket %s: %s", s->path, strerror(errno));
        goto fail;
    }
    s->wake_fd = eventfd(0, EFD_CLOEXEC);
    if (s->wake_fd < 0) {
        snprintf(why, why_len, "eventfd: %s", strerror(errno));
        goto fail;
    }
    if (cfg->handle_signals) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
        s->sig_fd = signalfd(-1, &set, SFD_CLOEXEC);
        if (s->sig_fd < 0) {
            snprintf(why, why_len, "signalfd: %s", strerror(errno));
            goto fail;
        }
    }
    int e = io_uring_queue_init(MGR_RING_ENTRIES, &s->ring, 0);
    if (e < 0) {
        snprintf(why, why_len, "io_uring_queue_init: %s", strerror(-e));
        rc = e == -ENOSYS || e == -EPERM ? -CAPDRV_ENOTSUP : -CAPDRV_EIO;
        goto fail;
    }
    s->ring_ok = true;
    if (arm_accept(s) < 0 ||
        arm_read(s, s->wake_fd, &s->wake_val, sizeof s->wake_val, &s->op_wake) < 0 ||
        (s->sig_fd >= 0 &&
         arm_read(s, s->sig_fd, &s->siginfo, sizeof s->siginfo, &s->op_signal) < 0) ||
        arm_timer(s) < 0) {
        snprintf(why, why_len, "io_uring: no submission entries");
        goto fail;
    }
    logf_(s, "event=listen socket=%s pid=%d", s->path, (int)getpid());
    *out = s;
    return 0;
fail:
    mgr_server_destroy(s);
    return rc;
}

int mgr_server_run(struct mgr_server *s)
{
    int result = 0;
    while (!s->stopping) {
        struct io_uring_cqe *cqe;
        int e = io_uring_submit_and_wait(&s->ring, 1);
        if (e < 0 && e != -EINTR) {
            logf_(s, "event=ring_error errno=%d", -e);
            result = -CAPDRV_EIO;
            break;
        }
        unsigned head, seen = 0;
        pthread_mutex_lock(&s->lock);
        io_uring_for_each_cqe(&s->ring, head, cqe)
        {
            seen++;
            struct op *op = io_uring_cqe_get_data(cqe);
            int res = cqe->res;
            if (!op)
                continue;
            switch (op->kind) {
            case OP_ACCEPT:
                if (res >= 0)
                    on_accept(s, res);
                else
                    logf_(s, "event=accept_error errno=%d", -res);
                if (!s->stopping && arm_accept(s) < 0)
                    result = -CAPDRV_EIO;
                break;
            case OP_RECV:
                on_recv(s, (struct conn *)(void *)op, res); /* op is its first member */
                break;
            case OP_WAKE:
                s->stopping = 1;
                break;
            case OP_SIGNAL:
                logf_(s, "event=signal signo=%u",
                      res == (int)sizeof s->siginfo ? s->siginfo.ssi_signo : 0);
                s->stopping = 1;
                break;
            case OP_TIMER:
                on_timer(s);
                if (!s->stopping && arm_timer(s) < 0)
                    result = -CAPDRV_EIO;
                break;
            }
        }
        io_uring_cq_advance(&s->ring, seen);
        pthread_mutex_unlock(&s->lock);
        if (result < 0)
            break;
    }
    logf_(s, "event=stop");
    return result;
}

void mgr_server_stop(struct mgr_server *s)
{
    uint64_t one = 1;
    s->stopping = 1;
    if (write(s->wake_fd, &one, sizeof one) < 0) {
        /* the counter cannot overflow from these writes; nothing to do */
    }
}

void mgr_server_destroy(struct mgr_server *s)
{
    if (!s)
        return;
    if (s->ring_ok)
        io_uring_queue_exit(&s->ring); /* cancels every pending submission */
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < MGR_MAX_CONNS; i++) {
        struct conn *c = s->conns[i];
        if (!c)
            continue;
        if (c->state != C_CLOSING)
            conn_kill(s, c, "shutdown");
        conn_free(s, c);
    }
    pthread_mutex_unlock(&s->lock);
    if (s->lfd >= 0)
        close(s->lfd);
    if (s->bound)
        unlink(s->path);
    if (s->wake_fd >= 0)
        close(s->wake_fd);
    if (s->sig_fd >= 0)
        close(s->sig_fd);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

int mgr_server_revoke(struct mgr_server *s, const char *name, capdrv_cap_t cap)
{
    pthread_mutex_lock(&s->lock);
    struct conn *c = conn_by_name(s, name);
    int rc = c ? capdrv_shim_provider_revoke(s->cfg.shim, c->p, cap) : -CAPDRV_ENOENT;
    if (c)
        logf_(s, "event=revoke provider=%s cap=0x%llx rc=%d", name, (unsigned long long)cap, rc);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

bool mgr_server_has_provider(struct mgr_server *s, const char *name)
{
    pthread_mutex_lock(&s->lock);
    bool yes = conn_by_name(s, name) != NULL;
    pthread_mutex_unlock(&s->lock);
    return yes;
}
