/* The qtest wire protocol: one command line out, one reply line back.
 *
 * Rules that keep QEMU alive and us bounded:
 * - commands are built with exactly one space between fields and hex
 *   values with a 0x prefix (QEMU aborts on a malformed argument);
 * - one command is in flight at a time (QEMU stops reading when its reply
 *   stream backs up, and then ignores SIGTERM);
 * - every send and receive waits at most timeout_ms; a timeout, EOF or a
 *   malformed reply desynchronises the stream for good, so QEMU is killed
 *   and the instance is dead (qt_die);
 * - asynchronous "IRQ raise/lower" lines may arrive between replies (only
 *   after irq_intercept_in, which this platform never sends) and are
 *   skipped. */
#define _GNU_SOURCE
#include "qtest_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for @events on the socket until @deadline; 0, or -CAPDRV_ETIMEDOUT. */
static int wait_sock(struct capdrv_qtest *q, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return -CAPDRV_ETIMEDOUT;
        struct pollfd p = {.fd = q->sock, .events = events};
        int n = poll(&p, 1, left > 1000 ? 1000 : (int)left);
        if (n > 0)
            return 0; /* readable, writable, or hung up: the I/O call tells */
        if (n < 0 && errno != EINTR)
            return -CAPDRV_EIO;
        /* A QEMU that exited without closing the stream would be noticed
         * here at least once a second. */
        if (n == 0 && !qt_alive(q))
            return -CAPDRV_EIO;
    }
}

static int send_all(struct capdrv_qtest *q, const char *buf, size_t len, int64_t deadline)
{
    while (len > 0) {
        ssize_t n = send(q->sock, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            qt_die(q, "QEMU closed the qtest stream (send: %s)", strerror(errno));
            return -CAPDRV_EIO;
        }
        int rc = wait_sock(q, POLLOUT, deadline);
        if (rc < 0) {
            if (rc == -CAPDRV_ETIMEDOUT)
                qt_die(q, "QEMU did not accept a command within %" PRId64 " ms (hung?)",
                       q->timeout_ms);
            else
                qt_die(q, "QEMU exited");
            return rc;
        }
    }
    return 0;
}

/* Receive one line (without '\n') into @line; skips IRQ lines. */
static int recv_line(struct capdrv_qtest *q, char *line, size_t cap, size_t *len, int64_t deadline)
{
    for (;;) {
        char *nl = memchr(q->rbuf, '\n', q->rlen);
        if (nl) {
            size_t n = (size_t)(nl - q->rbuf);
            bool irq = n >= 4 && memcmp(q->rbuf, "IRQ ", 4) == 0;
            if (!irq && n >= cap) {
                qt_die(q, "qtest reply too long");
                return -CAPDRV_EPROTO;
            }
            if (!irq) {
                memcpy(line, q->rbuf, n);
                *len = n;
            }
            memmove(q->rbuf, nl + 1, q->rlen - n - 1);
            q->rlen -= n + 1;
            if (!irq)
                return 0;
            continue;
        }
        if (q->rlen == sizeof q->rbuf) {
            qt_die(q, "qtest reply line longer than %zu bytes", sizeof q->rbuf);
            return -CAPDRV_EPROTO;
        }
        ssize_t n = recv(q->sock, q->rbuf + q->rlen, sizeof q->rbuf - q->rlen, MSG_DONTWAIT);
        if (n > 0) {
            q->rlen += (size_t)n;
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            qt_die(q, "QEMU closed the qtest stream");
            return -CAPDRV_EIO;
        }
        int rc = wait_sock(q, POLLIN, deadline);
        if (rc < 0) {
            if (rc == -CAPDRV_ETIMEDOUT)
                qt_die(q, "QEMU did not answer within %" PRId64 " ms (hung?)", q->timeout_ms);
            else
                qt_die(q, "QEMU exited");
            return rc;
        }
    }
}

int capdrv_qtest_parse_reply(const char *line, size_t len, bool want_value, uint64_t *value)
{
    if (!line || (want_value && !value))
        return -CAPDRV_EINVAL;
    if (len >= 4 && memcmp(line, "FAIL", 4) == 0 && (len == 4 || line[4] == ' '))
        return -CAPDRV_EIO;
    if (len < 2 || memcmp(line, "OK", 2) != 0)
        return -CAPDRV_EPROTO;
    if (!want_value)
        return len == 2 ? 0 : -CAPDRV_EPROTO;
    /* "OK 0x" then 1..16 hex digits, nothing after. */
    if (len < 6 || len > 5 + 16 || memcmp(line + 2, " 0x", 3) != 0)
        return -CAPDRV_EPROTO;
    uint64_t v = 0;
    for (size_t i = 5; i < len; i++) {
        char ch = line[i];
        unsigned d;
        if (ch >= '0' && ch <= '9')
            d = (unsigned)(ch - '0');
        else if (ch >= 'a' && ch <= 'f')
            d = (unsigned)(ch - 'a' + 10);
        else if (ch >= 'A' && ch <= 'F')
            d = (unsigned)(ch - 'A' + 10);
        else
            return -CAPDRV_EPROTO;
        v = v << 4 | d;
    }
    *value = v;
    return 0;
}

/* One exchange. @val NULL: the reply is a bare OK. */
static int exchange(struct capdrv_qtest *q, const char *cmd, size_t cmd_len, uint64_t *val)
{
    if (q->dead)
        return -CAPDRV_EIO;
    int64_t deadline = now_ms() + q->timeout_ms;
    int rc = send_all(q, cmd, cmd_len, deadline);
    char line[QT_LINE_MAX];
    size_t len = 0;
    if (rc == 0)
        rc = recv_line(q, line, sizeof line, &len, deadline);
    if (rc < 0)
        return rc;
    q->commands++;
    rc = capdrv_qtest_parse_reply(line, len, val != NULL, val);
    if (rc == -CAPDRV_EPROTO) {
        qt_die(q, "malformed qtest reply to \"%.*s\": \"%.*s\"", (int)(cmd_len - 1), cmd,
               (int)(len > 80 ? 80 : len), line);
        return rc;
    }
    return rc; /* FAIL: the command was refused, the stream is still in step */
}

static const char *width_suffix(unsigned width)
{
    switch (width) {
    case 1: return "b";
    case 2: return "w";
    case 4: return "l";
    case 8: return "q";
    default: return NULL;
    }
}

int qt_mem_read(struct capdrv_qtest *q, uint64_t addr, unsigned width, uint64_t *val)
{
    const char *s = width_suffix(width);
    if (!s || !val)
        return -CAPDRV_EINVAL;
    char cmd[64];
    int n = snprintf(cmd, sizeof cmd, "read%s 0x%" PRIx64 "\n", s, addr);
    uint64_t v = 0;
    int rc = exchange(q, cmd, (size_t)n, &v);
    if (rc == 0)
        *val = width == 8 ? v : v & ((1ull << (8 * width)) - 1u);
    return rc;
}

int qt_mem_write(struct capdrv_qtest *q, uint64_t addr, unsigned width, uint64_t val)
{
    const char *s = width_suffix(width);
    if (!s)
        return -CAPDRV_EINVAL;
    if (width < 8)
        val &= (1ull << (8 * width)) - 1u;
    char cmd[80];
    int n = snprintf(cmd, sizeof cmd, "write%s 0x%" PRIx64 " 0x%" PRIx64 "\n", s, addr, val);
    return exchange(q, cmd, (size_t)n, NULL);
}

int qt_io_read(struct capdrv_qtest *q, uint16_t port, unsigned width, uint32_t *val)
{
    const char *s = width_suffix(width);
    if (!s || width == 8 || !val)
        return -CAPDRV_EINVAL;
    char cmd[32];
    int n = snprintf(cmd, sizeof cmd, "in%s 0x%x\n", s, (unsigned)port);
    uint64_t v = 0;
    int rc = exchange(q, cmd, (size_t)n, &v);
    if (rc == 0)
        *val = (uint32_t)(v & ((1ull << (8 * width)) - 1u));
    return rc;
}

int qt_io_write(struct capdrv_qtest *q, uint16_t port, unsigned width, uint32_t val)
{
    const char *s = width_suffix(width);
    if (!s || width == 8)
        return -CAPDRV_EINVAL;
    if (width < 4)
        val &= (1u << (8 * width)) - 1u;
    char cmd[48];
    int n = snprintf(cmd, sizeof cmd, "out%s 0x%x 0x%x\n", s, (unsigned)port, (unsigned)val);
    return exchange(q, cmd, (size_t)n, NULL);
}
