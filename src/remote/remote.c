/* The socket transport (capdrv/remote.h): a capdrv_sys whose operations are
 * request/response messages to capdrv-managerd (wire.h).
 *
 * One request is outstanding at a time per connection (a mutex serialises
 * callers), so a response always answers the last request; its sequence
 * number and type are checked anyway. Any transport or protocol error
 * kills the connection: every later call fails with -CAPDRV_EIO, because
 * after a lost or garbled reply the provider no longer knows which of its
 * capabilities exist.
 *
 * DMA buffers arrive as memfds and are mapped MAP_SHARED; the connection
 * remembers each mapping with the pool it came from and the pool's grant,
 * so releasing (or resetting) a parent unmaps what it took with it. */
#define _GNU_SOURCE
#include <capdrv/remote.h>
#include <capdrv/sys_backend.h>

#include "wire.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

struct rbuf {
    capdrv_cap_t cap, pool;
    void *cpu;
    size_t map_size;
};
struct rpool {
    capdrv_cap_t pool, grant;
};

struct remote_conn {
    struct capdrv_sys sys; /* first: the public object */
    int fd;
    int dead;
    uint32_t seq;
    pthread_mutex_t lock;
    struct rbuf *bufs;
    size_t n_bufs, cap_bufs;
    struct rpool *pools;
    size_t n_pools, cap_pools;
    /* Interrupts by descriptor (wire.h CDW_IRQ_EVENT_*): the ones the
     * manager handed out with IRQ_OPEN, and whether each is pending here
     * (read from its descriptor, not yet acknowledged). */
    struct rirq {
        capdrv_cap_t cap;
        int efd;
        bool pending;
    } irqs[CDW_IRQ_MAX];
    unsigned n_irqs;
    unsigned char msg[CDW_MSG_MAX + 1]; /* receive buffer; +1 detects oversize */
};

static struct remote_conn *conn(capdrv_sys *sys)
{
    return (struct remote_conn *)(void *)sys;
}

/* Send one request and receive its response into @resp (exactly
 * @resp_len payload bytes, or the variable status). @fd_out, when
 * non-NULL, receives a descriptor that rode along (else -1); a descriptor
 * that arrives where none is expected is closed. Returns 0 or a negative
 * transport error; the call's own result is in the response. Caller holds
 * the lock. */
static int rpc_locked(struct remote_conn *c, uint16_t type, const void *req, size_t req_len,
                      void *resp, size_t resp_len, int *fd_out)
{
    if (fd_out)
        *fd_out = -1;
    if (c->dead)
        return -CAPDRV_EIO;
    unsigned char out[sizeof(struct cdw_hdr) + sizeof(struct cdw_irq_wait)];
    struct cdw_hdr h;
    cdw_hdr_init(&h, type, (uint32_t)req_len, ++c->seq);
    memcpy(out, &h, sizeof h);
    if (req_len)
        memcpy(out + sizeof h, req, req_len);
    ssize_t n;
    do
        n = send(c->fd, out, sizeof h + req_len, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)(sizeof h + req_len))
        goto dead;

    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * 4)];
    } ctl;
    struct iovec iov = {.iov_base = c->msg, .iov_len = sizeof c->msg};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                        .msg_controllen = sizeof ctl.buf};
    do
        n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    int fd = -1, extra = 0;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; i++) {
            int f;
            memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof f);
            if (fd < 0)
                fd = f;
            else {
                close(f);
                extra = 1;
            }
        }
    }
    struct cdw_hdr rh;
    if (n <= 0 || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || extra ||
        cdw_check(c->msg, (size_t)n, 1, &rh) < 0 || rh.seq != c->seq ||
        rh.type != (type | CDW_RESPONSE) ||
        (type != CDW_STATUS && rh.length != resp_len)) {
        if (fd >= 0)
            close(fd);
        goto dead;
    }
    memcpy(resp, c->msg + sizeof rh, rh.length < resp_len ? rh.length : resp_len);
    if (fd >= 0) {
        if (fd_out)
            *fd_out = fd;
        else
            close(fd);
    }
    return 0;
dead:
    c->dead = 1;
    return -CAPDRV_EIO;
}

/* A call whose response is just rc. */
static int rpc_rc(capdrv_sys *s, uint16_t type, const void *req, size_t req_len)
{
    struct remote_conn *c = conn(s);
    struct cdw_r_rc r;
    pthread_mutex_lock(&c->lock);
    int rc = rpc_locked(c, type, req, req_len, &r, sizeof r, NULL);
    pthread_mutex_unlock(&c->lock);
    return rc < 0 ? rc : r.rc;
}

/* A call that yields a new handle. */
static int rpc_cap(capdrv_sys *s, uint16_t type, const void *req, size_t req_len,
                   capdrv_cap_t *out)
{
    struct remote_conn *c = conn(s);
    struct cdw_r_cap r;
    pthread_mutex_lock(&c->lock);
    int rc = rpc_locked(c, type, req, req_len, &r, sizeof r, NULL);
    pthread_mutex_unlock(&c->lock);
    if (rc < 0)
        return rc;
    if (r.rc == 0)
        *out = r.cap;
    return r.rc;
}

/* A call whose reply is a value (MMIO_READ, CFG_READ). */
static int rpc_val(capdrv_sys *s, uint16_t type, const void *req, size_t req_len, uint64_t *out)
{
    struct remote_conn *c = conn(s);
    struct cdw_r_val r;
    pthread_mutex_lock(&c->lock);
    int rc = rpc_locked(c, type, req, req_len, &r, sizeof r, NULL);
    pthread_mutex_unlock(&c->lock);
    if (rc < 0)
        return rc;
    if (r.rc == 0)
        *out = r.val;
    return r.rc;
}

/* ---- local mapping bookkeeping (lock held) ---- */

static void buf_drop_at(struct remote_conn *c, size_t i)
{
    munmap(c->bufs[i].cpu, c->bufs[i].map_size);
    c->bufs[i] = c->bufs[--c->n_bufs];
}

static struct rbuf *buf_find(struct remote_conn *c, capdrv_cap_t cap)
{
    for (size_t i = 0; i < c->n_bufs; i++)
        if (c->bufs[i].cap == cap)
            return &c->bufs[i];
    return NULL;
}

static void drop_pool_bufs(struct remote_conn *c, capdrv_cap_t pool)
{
    for (size_t i = c->n_bufs; i-- > 0;)
        if (c->bufs[i].pool == pool)
            buf_drop_at(c, i);
}

/* Forget every mapping derived from @cap (a grant, pool or buffer that the
 * manager just released or reset). */
static void forget_derived(struct remote_conn *c, capdrv_cap_t cap)
{
    switch (capdrv_cap_type_of(cap)) {
    case CAPDRV_CAP_GRANT:
        for (size_t i = c->n_pools; i-- > 0;)
            if (c->pools[i].grant == cap) {
                drop_pool_bufs(c, c->pools[i].pool);
                c->pools[i] = c->pools[--c->n_pools];
            }
        break;
    case CAPDRV_CAP_POOL:
        drop_pool_bufs(c, cap);
        for (size_t i = c->n_pools; i-- > 0;)
            if (c->pools[i].pool == cap)
                c->pools[i] = c->pools[--c->n_pools];
        break;
    case CAPDRV_CAP_DMABUF:
        for (size_t i = c->n_bufs; i-- > 0;)
            if (c->bufs[i].cap == cap)
                buf_drop_at(c, i);
        break;
    default:
        break;
    }
}

static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, nc * elem);
    if (!p)
        return -CAPDRV_ENOMEM;
    *arr = p;
    *cap = nc;
    return 0;
}

/* Map a buffer's memfd and remember it. Consumes @fd. */
static int buf_map(struct remote_conn *c, capdrv_cap_t cap, capdrv_cap_t pool, int fd,
                   const struct cdw_r_buf *r, void **cpu)
{
    struct rbuf *have = buf_find(c, cap);
    if (have) {
        if (fd >= 0)
            close(fd);
        *cpu = have->cpu;
        return 0;
    }
    if (fd < 0 || r->map_size == 0 || r->size > r->map_size || r->map_size > SIZE_MAX / 2) {
        if (fd >= 0)
            close(fd);
        c->dead = 1; /* the manager broke its side of the protocol */
        return -CAPDRV_EPROTO;
    }
    if (grow((void **)&c->bufs, &c->cap_bufs, c->n_bufs, sizeof *c->bufs) < 0) {
        close(fd);
        return -CAPDRV_ENOMEM;
    }
    void *p = mmap(NULL, (size_t)r->map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return -CAPDRV_ENOMEM;
    c->bufs[c->n_bufs++] = (struct rbuf){.cap = cap, .pool = pool, .cpu = p,
                                         .map_size = (size_t)r->map_size};
    *cpu = p;
    return 0;
}

/* ---- operations ---- */

static int op_grant_count(capdrv_sys *s)
{
    return rpc_rc(s, CDW_GRANT_COUNT, NULL, 0);
}

static int op_grant_info(capdrv_sys *s, unsigned i, struct capdrv_grant_info *o)
{
    struct remote_conn *c = conn(s);
    struct cdw_index q = {.index = i};
    struct cdw_r_grant_info r;
    pthread_mutex_lock(&c->lock);
    int rc = rpc_locked(c, CDW_GRANT_INFO, &q, sizeof q, &r, sizeof r, NULL);
    pthread_mutex_unlock(&c->lock);
    if (rc < 0)
        return rc;
    if (r.rc == 0) {
        memset(o, 0, sizeof *o);
        memcpy(o->name, r.name, sizeof o->name);
        o->cls = (enum capdrv_grant_class)r.cls;
        o->lane = (enum capdrv_lane)r.lane;
        o->addr = (struct capdrv_pci_addr){r.domain, r.bus, r.dev, r.fn};
        o->id = (struct capdrv_pci_id){r.vendor, r.device, r.subsys_vendor, r.subsys_device,
                                       r.class_code, r.revision};
        o->n_windows = r.n_windows;
        o->n_irqs = r.n_irqs;
        o->pool_quota_bytes = r.pool_quota_bytes;
        o->pool_quota_buffers = r.pool_quota_buffers;
        o->claimed = r.claimed != 0;
    }
    return r.rc;
}

static int op_grant_open(capdrv_sys *s, unsigned i, capdrv_cap_t *g)
{
    struct cdw_index q = {.index = i};
    return rpc_cap(s, CDW_GRANT_OPEN, &q, sizeof q, g);
}

static int op_grant_lane(capdrv_sys *s, capdrv_cap_t g)
{
    struct cdw_cap q = {g};
    return rpc_rc(s, CDW_GRANT_LANE, &q, sizeof q);
}

/* A call on @p cap after which the manager has dropped everything derived
 * from it (result 0 or @p also_gone): drop the local mappings too. */
static int rpc_dropping(capdrv_sys *s, uint16_t type, capdrv_cap_t cap, int also_gone)
{
    struct remote_conn *c = conn(s);
    struct cdw_cap q = {cap};
    struct cdw_r_rc r;
    pthread_mutex_lock(&c->lock);
    int rc = rpc_locked(c, type, &q, sizeof q, &r, sizeof r, NULL);
    if (rc == 0 && (r.rc == 0 || r.rc == also_gone))
        forget_derived(c, cap);
    pthread_mutex_unlock(&c->lock);
    return rc < 0 ? rc : r.rc;
}

static int op_grant_reset(capdrv_sys *s, capdrv_cap_t g)
{
    /* sys.h: derived capabilities are revoked even when the reset fails */
    return rpc_dropping(s, CDW_GRANT_RESET, g, -CAPDRV_EIO);
}

static int op_window_info(capdrv_sys *s, capdrv_cap_t g, unsigned w, struct capdrv_window_info *o)
{
    struct remote_conn *c = conn(s);
    struct cdw_cap_idx q = {.cap = g, .index = w};
    struct cdw_r_window_info r;
    pthread_mutex_lock(&c->lock);
    int rc = rpc_locked(c, CDW_WINDOW_INFO, &q, sizeof q, &r, sizeof r, NULL);
    pthread_mutex_unlock(&c->lock);
    if (rc < 0)
        return rc;
    if (r.rc == 0) {
        memset(o, 0, sizeof *o);
        memcpy(o->name, r.name, sizeof o->name);
        o->bar = r.bar;
        o->offset = r.offset;
        o->length = r.length;
        o->flags = r.flags;
    }
    return r.rc;
}

static int op_mmio_open(capdrv_sys *s, capdrv_cap_t g, unsigned w, capdrv_cap_t *m)
{
    struct cdw_cap_idx q = {.cap = g, .index = w};
    return rpc_cap(s, CDW_MMIO_OPEN, &q, sizeof q, m);
}

static int op_mmio_read(capdrv_sys *s, capdrv_cap_t m, uint64_t off, unsigned w, uint64_t *v)
{
    struct cdw_mmio_rd q = {.cap = m, .offset = off, .width = w};
    return rpc_val(s, CDW_MMIO_READ, &q, sizeof q, v);
}

static int op_mmio_write(capdrv_sys *s, capdrv_cap_t m, uint64_t off, unsigned w, uint64_t v)
{
    struct cdw_mmio_wr q = {.cap = m, .offset = off, .val = v, .width = w};
    return rpc_rc(s, CDW_MMIO_WRITE, &q, sizeof q);
}

static int op_cfg_read(capdrv_sys *s, capdrv_cap_t g, uint32_t off, unsigned w, uint32_t *v)
{
    struct cdw_cfg q = {.cap = g, .offset = off, .width = w};
    uint64_t val = 0;
    int rc = rpc_val(s, CDW_CFG_READ, &q, sizeof q, &val);
    if (rc == 0)
        *v = (uint32_t)val;
    return rc;
}

static int op_cfg_write(capdrv_sys *s, capdrv_cap_t g, uint32_t off, unsigned w, uint32_t v)
{
    struct cdw_cfg q = {.cap = g, .offset = off, .width = w, .val = v};
    return rpc_rc(s, CDW_CFG_WRITE, &q, sizeof q);
}

static int op_pool_open(capdrv_sys *s, capdrv_cap_t g, capdrv_cap_t *p)
{
    struct remote_conn *c = conn(s);
    int rc = rpc_cap(s, CDW_POOL_OPEN, &(struct cdw_cap){g}, sizeof(struct cdw_cap), p);
    if (rc == 0) {
        pthread_mutex_lock(&c->lock);
        if (grow((void **)&c->pools, &c->cap_pools, c->n_pools, sizeof *c->pools) == 0)
            c->pools[c->n_pools++] = (struct rpool){.pool = *p, .grant = g};
        /* else: its buffers are still unmapped at release of the pool
         * itself or at close; only the grant-release shortcut is lost */
        pthread_mutex_unlock(&c->lock);
    }
    return rc;
}

static int op_dma_alloc(capdrv_sys *s, capdrv_cap_t p, size_t n, capdrv_cap_t *b,
                        struct capdrv_dmabuf_info *i)
{
    struct remote_conn *c = conn(s);
    struct cdw_alloc q = {.pool = p, .size = n};
    struct cdw_r_buf r;
    int fd;
    pthread_mutex_lock(&c->lock);
    int rc = rpc_locked(c, CDW_DMA_ALLOC, &q, sizeof q, &r, sizeof r, &fd);
    if (rc == 0 && r.rc == 0) {
        void *cpu;
        rc = buf_map(c, r.cap, p, fd, &r, &cpu);
        if (rc == 0) {
            *b = r.cap;
            *i = (struct capdrv_dmabuf_info){.cpu = cpu, .size = (size_t)r.size,
                                             .ref_base = r.ref_base};
        } else if (!c->dead) { /* cannot map it: give it back */
            struct cdw_cap rq = {r.cap};
            struct cdw_r_rc rr;
            rpc_locked(c, CDW_CAP_RELEASE, &rq, sizeof rq, &rr, sizeof rr, NULL);
        }
    } else if (fd >= 0) {
        close(fd);
    }
    pthread_mutex_unlock(&c->lock);
    return rc < 0 ? rc : r.rc;
}

static int op_dmabuf_info(capdrv_sys *s, capdrv_cap_t b, struct capdrv_dmabuf_info *i)
{
    struct remote_conn *c = conn(s);
    struct cdw_cap q = {b};
    struct cdw_r_buf r;
    int fd;
    pthread_mutex_lock(&c->lock);
    int rc = rpc_locked(c, CDW_DMABUF_INFO, &q, sizeof q, &r, sizeof r, &fd);
    if (rc == 0 && r.rc == 0) {
        struct rbuf *have = buf_find(c, b);
        void *cpu;
        rc = buf_map(c, b, have ? have->pool : CAPDRV_CAP_INVALID, fd, &r, &cpu);
        if (rc == 0)
            *i = (struct capdrv_dmabuf_info){.cpu = cpu, .size = (size_t)r.size,
                                             .ref_base = r.ref_base};
    } else {
        if (fd >= 0)
            close(fd);
        if (rc == 0 && r.rc == -CAPDRV_ESTALE) /* revoked by the manager: unmap */
            forget_derived(c, b);
    }
    pthread_mutex_unlock(&c->lock);
    return rc < 0 ? rc : r.rc;
}

/* Lock held: the eventfd entry of @cap, or NULL. */
static struct rirq *rirq_find(struct remote_conn *c, capdrv_cap_t cap)
{
    for (unsigned i = 0; i < c->n_irqs; i++)
        if (c->irqs[i].cap == cap)
            return &c->irqs[i];
    return NULL;
}

/* Lock held. */
static void rirq_drop(struct remote_conn *c, struct rirq *e)
{
    close(e->efd);
    *e = c->irqs[--c->n_irqs];
}

static int op_irq_open(capdrv_sys *s, capdrv_cap_t g, unsigned v, capdrv_cap_t *irq)
{
    struct remote_conn *c = conn(s);
    struct cdw_cap_idx q = {.cap = g, .index = v};
    struct cdw_r_cap r;
    int efd = -1;
    pthread_mutex_lock(&c->lock);
    int rc = rpc_locked(c, CDW_IRQ_OPEN, &q, sizeof q, &r, sizeof r, &efd);
    if (rc == 0 && r.rc == 0) {
        *irq = r.cap;
        if (efd >= 0 && c->n_irqs < CDW_IRQ_MAX) { /* else: waits go by message */
            c->irqs[c->n_irqs++] = (struct rirq){.cap = r.cap, .efd = efd};
            efd = -1;
        }
    }
    pthread_mutex_unlock(&c->lock);
    if (efd >= 0)
        close(efd);
    return rc < 0 ? rc : r.rc;
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Lock held: the pending mask of @irqs, all of which have eventfds. */
static uint64_t rirq_pending(struct remote_conn *c, const capdrv_cap_t *irqs, unsigned n)
{
    uint64_t mask = 0;
    for (unsigned i = 0; i < n; i++) {
        const struct rirq *e = rirq_find(c, irqs[i]);
        if (e && e->pending)
            mask |= 1ull << i;
    }
    return mask;
}

/* Lock held: read everything @fd holds. 1 fired, 0 nothing, or
 * -CAPDRV_ESTALE (end-of-file: the manager dropped it) / -CAPDRV_EIO. */
static int rirq_drain(int fd)
{
    int got = 0;
    for (;;) {
        char b[64];
        ssize_t r = recv(fd, b, sizeof b, MSG_DONTWAIT);
        if (r == 0)
            return -CAPDRV_ESTALE;
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return got; /* EAGAIN: all read */
        for (ssize_t i = 0; i < r; i++)
            if (b[i] == CDW_IRQ_EVENT_ERROR)
                return -CAPDRV_EIO;
        got = 1;
    }
}

/* The wait on descriptors (every handle of the set has one): poll them here,
 * without the connection's lock, on duplicates (another thread may
 * release a handle meanwhile). 1 and the result in *rc, or 0 when the
 * set must go by message. */
static int irq_wait_local(struct remote_conn *c, const capdrv_cap_t *irqs, unsigned n, int64_t t,
                          uint64_t *ready, int *rc)
{
    struct pollfd pf[CDW_IRQ_MAX];
    int64_t deadline = t > 0 ? mono_ns() + t : 0;
    for (;;) {
        pthread_mutex_lock(&c->lock);
        uint64_t mask = 0;
        unsigned k = 0;
        for (; k < n; k++) {
            const struct rirq *e = rirq_find(c, irqs[k]);
            if (!e)
                break;
            if ((pf[k].fd = fcntl(e->efd, F_DUPFD_CLOEXEC, 0)) < 0)
                break;
            pf[k].events = POLLIN;
        }
        if (k == n)
            mask = rirq_pending(c, irqs, n);
        pthread_mutex_unlock(&c->lock);
        if (k < n) {
            for (unsigned i = 0; i < k; i++)
                close(pf[i].fd);
            return 0;
        }
        int64_t left = t < 0 ? -1 : deadline - mono_ns();
        if (t > 0 && left < 0)
            left = 0; /* the deadline passed: one last look, never NULL (forever) */
        if (!mask && left != 0) {
            struct timespec ts = {.tv_sec = left > 0 ? left / 1000000000 : 0,
                                  .tv_nsec = left > 0 ? left % 1000000000 : 0};
            (void)ppoll(pf, n, left < 0 ? NULL : &ts, NULL);
        } else {
            struct timespec zero = {0, 0};
            (void)ppoll(pf, n, &zero, NULL); /* collect what is there */
        }
        int bad = 0;
        pthread_mutex_lock(&c->lock);
        for (unsigned i = 0; i < n; i++) {
            struct rirq *e = (pf[i].revents & (POLLIN | POLLHUP)) ? rirq_find(c, irqs[i]) : NULL;
            int d = e ? rirq_drain(pf[i].fd) : 0;
            if (d == -CAPDRV_ESTALE)
                rirq_drop(c, e); /* from now on the manager answers for it */
            else if (d > 0)
                e->pending = true;
            if (d < 0 && !bad)
                bad = d;
            close(pf[i].fd);
        }
        if (!bad)
            mask = rirq_pending(c, irqs, n);
        pthread_mutex_unlock(&c->lock);
        if (bad) {
            *rc = bad;
            return 1;
        }
        if (mask) {
            *ready = mask;
            *rc = __builtin_popcountll(mask);
            return 1;
        }
        if (t == 0 || (t > 0 && mono_ns() >= deadline)) {
            *rc = -CAPDRV_ETIMEDOUT;
            return 1;
        }
    }
}

static int op_irq_wait(capdrv_sys *s, const capdrv_cap_t *irqs, unsigned n, int64_t t,
                       uint64_t *ready)
{
    if (n == 0 || n > CDW_IRQ_MAX)
        return -CAPDRV_EINVAL;
    struct remote_conn *c = conn(s);
    int lrc;
    /* A poll asks the manager (the device, now); a wait waits here. */
    if (t != 0 && irq_wait_local(c, irqs, n, t, ready, &lrc))
        return lrc;
    struct cdw_irq_wait q = {.n = n};
    memcpy(q.irqs, irqs, n * sizeof irqs[0]);
    /* The manager waits one slice per message (wire.h); a longer wait is
     * a loop of slices, counted in the platform's time (what each slice
     * waited when nothing fired), with the connection free in between. */
    for (int64_t left = t;;) {
        q.timeout_ns = left < 0 || left > CDW_IRQ_WAIT_SLICE_NS ? CDW_IRQ_WAIT_SLICE_NS : left;
        struct cdw_r_val r;
        pthread_mutex_lock(&c->lock);
        int rc = rpc_locked(c, CDW_IRQ_WAIT, &q, sizeof q, &r, sizeof r, NULL);
        pthread_mutex_unlock(&c->lock);
        if (rc < 0)
            return rc;
        if (r.rc > 0) {
            *ready = r.val;
            pthread_mutex_lock(&c->lock); /* pending here too, until acknowledged */
            for (unsigned i = 0; i < n; i++) {
                struct rirq *e = (r.val >> i & 1u) ? rirq_find(c, irqs[i]) : NULL;
                if (e)
                    e->pending = true;
            }
            pthread_mutex_unlock(&c->lock);
        }
        if (r.rc != -CAPDRV_ETIMEDOUT || left == 0)
            return r.rc;
        if (left > 0 && (left -= q.timeout_ns) <= 0)
            return -CAPDRV_ETIMEDOUT;
    }
}

static int op_irq_ack(capdrv_sys *s, capdrv_cap_t i)
{
    struct remote_conn *c = conn(s);
    struct cdw_cap q = {i};
    /* Before the acknowledgement: no longer pending here, and what the
     * descriptor holds goes with it (the manager signals again at once if
     * the device has it pending anew). */
    pthread_mutex_lock(&c->lock);
    struct rirq *e = rirq_find(c, i);
    if (e) {
        e->pending = false;
        if (rirq_drain(e->efd) == -CAPDRV_ESTALE)
            rirq_drop(c, e);
    }
    pthread_mutex_unlock(&c->lock);
    int rc = rpc_rc(s, CDW_IRQ_ACK, &q, sizeof q);
    if (rc == -CAPDRV_ESTALE || rc == -CAPDRV_EBADF) { /* revoked after it fired */
        pthread_mutex_lock(&c->lock);
        if ((e = rirq_find(c, i)))
            rirq_drop(c, e);
        pthread_mutex_unlock(&c->lock);
    }
    return rc;
}

static int op_irq_mask(capdrv_sys *s, capdrv_cap_t i, bool m)
{
    struct cdw_irq_mask q = {.cap = i, .masked = m ? 1u : 0u};
    return rpc_rc(s, CDW_IRQ_MASK, &q, sizeof q);
}

static int op_cap_release(capdrv_sys *s, capdrv_cap_t cap)
{
    struct remote_conn *c = conn(s);
    pthread_mutex_lock(&c->lock);
    struct rirq *e = rirq_find(c, cap);
    if (e)
        rirq_drop(c, e);
    pthread_mutex_unlock(&c->lock);
    /* -ESTALE: already gone on the manager's side */
    return rpc_dropping(s, CDW_CAP_RELEASE, cap, -CAPDRV_ESTALE);
}

static void conn_free(struct remote_conn *c)
{
    while (c->n_bufs)
        buf_drop_at(c, c->n_bufs - 1);
    free(c->bufs);
    free(c->pools);
    while (c->n_irqs)
        rirq_drop(c, &c->irqs[c->n_irqs - 1]);
    if (c->fd >= 0)
        close(c->fd);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static void op_close(capdrv_sys *s)
{
    struct remote_conn *c = conn(s);
    /* An orderly goodbye makes the teardown synchronous: when this
     * returns, the manager has released everything (as sys.h promises).
     * Without it (a crash) the manager notices the hang-up instead. */
    struct cdw_r_rc r;
    pthread_mutex_lock(&c->lock);
    rpc_locked(c, CDW_BYE, NULL, 0, &r, sizeof r, NULL);
    pthread_mutex_unlock(&c->lock);
    conn_free(c);
}

static const struct capdrv_sys_ops remote_ops = {
    .grant_count = op_grant_count, .grant_info = op_grant_info, .grant_open = op_grant_open,
    .grant_lane = op_grant_lane, .grant_reset = op_grant_reset, .window_info = op_window_info,
    .mmio_open = op_mmio_open, .mmio_read = op_mmio_read, .mmio_write = op_mmio_write,
    .cfg_read = op_cfg_read, .cfg_write = op_cfg_write, .pool_open = op_pool_open,
    .dma_alloc = op_dma_alloc, .dmabuf_info = op_dmabuf_info, .irq_open = op_irq_open,
    .irq_wait = op_irq_wait, .irq_ack = op_irq_ack, .irq_mask = op_irq_mask,
    .cap_release = op_cap_release, .close = op_close,
};

/* Connect and say hello; on success *out owns the socket. */
static int dial(const char *path, const char *name, uint32_t flags, struct remote_conn **out)
{
    if (!path || !name || !out)
        return -CAPDRV_EINVAL;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t plen = strlen(path), nlen = strlen(name);
    if (plen == 0 || plen >= sizeof sa.sun_path || nlen >= CAPDRV_NAME_MAX)
        return -CAPDRV_EINVAL;
    memcpy(sa.sun_path, path, plen);
    struct remote_conn *c = calloc(1, sizeof *c);
    if (!c)
        return -CAPDRV_ENOMEM;
    c->sys.ops = &remote_ops;
    pthread_mutex_init(&c->lock, NULL);
    c->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        conn_free(c);
        return -CAPDRV_EIO;
    }
    if (connect(c->fd, (const struct sockaddr *)&sa, sizeof sa) < 0) {
        int e = errno;
        conn_free(c);
        return e == ENOENT || e == ECONNREFUSED ? -CAPDRV_ENOENT
               : e == EACCES || e == EPERM     ? -CAPDRV_EACCES
                                               : -CAPDRV_EIO;
    }
    struct cdw_hello q = {.flags = flags};
    memcpy(q.name, name, nlen + 1);
    struct cdw_r_hello r;
    int rc = rpc_locked(c, CDW_HELLO, &q, sizeof q, &r, sizeof r, NULL);
    if (rc == 0 && r.rc == 0 && r.version != CDW_VERSION)
        rc = -CAPDRV_EPROTO;
    if (rc < 0 || r.rc < 0) {
        c->dead = 1;
        conn_free(c);
        return rc < 0 ? rc : r.rc;
    }
    *out = c;
    return 0;
}

int capdrv_remote_connect(const char *path, const char *provider, capdrv_sys **sys)
{
    if (!sys)
        return -CAPDRV_EINVAL;
    struct remote_conn *c;
    int rc = dial(path, provider, 0, &c);
    if (rc == 0)
        *sys = &c->sys;
    return rc;
}

int capdrv_remote_status(const char *path, char *buf, size_t len)
{
    if (!buf || len == 0)
        return -CAPDRV_EINVAL;
    struct remote_conn *c;
    int rc = dial(path, "", CDW_HELLO_CONTROL, &c);
    if (rc < 0)
        return rc;
    struct cdw_r_status *r = malloc(sizeof *r);
    if (!r) {
        conn_free(c);
        return -CAPDRV_ENOMEM;
    }
    rc = rpc_locked(c, CDW_STATUS, NULL, 0, r, sizeof *r, NULL);
    if (rc == 0 && r->rc < 0)
        rc = r->rc;
    if (rc == 0) {
        size_t n = r->text_len - 1; /* cdw_check(): text_len >= 1, NUL last */
        size_t k = n < len - 1 ? n : len - 1;
        memcpy(buf, r->text, k);
        buf[k] = '\0';
        rc = (int)n;
    }
    free(r);
    conn_free(c);
    return rc;
}

int capdrv_remote_revoke(const char *path, const char *provider, capdrv_cap_t cap)
{
    if (!provider)
        return -CAPDRV_EINVAL;
    size_t nlen = strlen(provider);
    if (nlen == 0 || nlen >= CAPDRV_NAME_MAX)
        return -CAPDRV_EINVAL;
    struct remote_conn *c;
    int rc = dial(path, "", CDW_HELLO_CONTROL, &c);
    if (rc < 0)
        return rc;
    struct cdw_revoke q = {.cap = cap};
    memcpy(q.name, provider, nlen + 1);
    struct cdw_r_rc r;
    rc = rpc_locked(c, CDW_REVOKE, &q, sizeof q, &r, sizeof r, NULL);
    conn_free(c);
    return rc < 0 ? rc : r.rc;
}
