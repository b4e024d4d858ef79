/* A minimal QMP client for the qtest platform (include/capdrv/qtest.h,
 * capdrv_qtest_qmp()): QEMU's monitor on a second socketpair
 * (`-chardev socket,fd=N -mon chardev=...,mode=control`).
 *
 * QMP (QEMU's docs/interop/qmp-spec) is one JSON object per line in each
 * direction. The server speaks first with a greeting ({"QMP": ...}); the
 * client must send qmp_capabilities before any other command; each command
 * gets exactly one reply, {"return": ...} or {"error": ...}; asynchronous
 * {"event": ...} messages may arrive at any time and are skipped here.
 * The greeting is read lazily, at the first command, so an instance that
 * never uses QMP pays nothing but a socket.
 *
 * Bounds: every exchange waits at most timeout_ms in total. A timeout, an
 * EOF or a malformed message leaves the stream out of step, so the monitor
 * is then closed for good (later calls fail fast with -CAPDRV_EIO); QEMU
 * itself is left alone (the qtest stream decides whether it is dead).
 * Replies are untrusted input: only the top-level keys of the object are
 * looked at, by a scanner that never reads past the line. */
#define _GNU_SOURCE
#include "qtest_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The monitor is out of step or gone: close it, remember why. */
static void qmp_break(struct capdrv_qtest *q, const char *why)
{
    if (q->qmp_sock >= 0)
        close(q->qmp_sock);
    q->qmp_sock = -1;
    snprintf(q->qmp_why, sizeof q->qmp_why, "%s", why);
}

/* Index just past the closing quote of top-level key @key in the JSON
 * object @s (@n bytes), or 0 when the object has no such key. */
static size_t top_key(const char *s, size_t n, const char *key)
{
    size_t klen = strlen(key);
    int depth = 0;
    bool want_key = false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '"') {
            size_t start = ++i;
            while (i < n && s[i] != '"')
                i += s[i] == '\\' ? 2 : 1;
            if (i >= n)
                return 0; /* unterminated string */
            if (depth == 1 && want_key && i - start == klen && memcmp(s + start, key, klen) == 0)
                return i + 1;
            want_key = false;
        } else if (ch == '{' || ch == '[') {
            depth++;
            want_key = ch == '{' && depth == 1;
        } else if (ch == '}' || ch == ']') {
            depth--;
        } else if (ch == ',' && depth == 1) {
            want_key = true;
        }
    }
    return 0;
}

/* The string value of top-level key @key, unescaped into @out (truncated
 * to fit, NUL-terminated). \uXXXX outside ASCII becomes '?'. */
static int top_string(const char *s, size_t n, const char *key, char *out, size_t out_len)
{
    size_t i = top_key(s, n, key);
    if (i == 0)
        return -CAPDRV_EPROTO;
    while (i < n && (s[i] == ' ' || s[i] == ':'))
        i++;
    if (i >= n || s[i] != '"')
        return -CAPDRV_EPROTO;
    size_t o = 0;
    for (i++; i < n && s[i] != '"'; i++) {
        char ch = s[i];
        if (ch == '\\') {
            if (++i >= n)
                return -CAPDRV_EPROTO;
            switch (s[i]) {
            case 'n': ch = '\n'; break;
            case 'r': ch = '\r'; break;
            case 't': ch = '\t'; break;
            case 'b': ch = '\b'; break;
            case 'f': ch = '\f'; break;
            case 'u': {
                unsigned v = 0;
                for (unsigned k = 0; k < 4; k++) {
                    char h = ++i < n ? s[i] : 0;
                    unsigned d = h >= '0' && h <= '9'   ? (unsigned)(h - '0')
                                 : h >= 'a' && h <= 'f' ? (unsigned)(h - 'a' + 10)
                                 : h >= 'A' && h <= 'F' ? (unsigned)(h - 'A' + 10)
                                                        : 16u;
                    if (d == 16u)
                        return -CAPDRV_EPROTO;
                    v = v << 4 | d;
                }
                ch = v > 0 && v < 0x80 ? (char)v : '?';
                break;
            }
            default: ch = s[i]; break; /* \" \\ \/ */
            }
        }
        if (out && o + 1 < out_len)
            out[o++] = ch;
    }
    if (i >= n)
        return -CAPDRV_EPROTO;
    if (out && out_len)
        out[o] = '\0';
    return 0;
}

static int send_all(struct capdrv_qtest *q, const char *buf, size_t len, int64_t deadline)
{
    while (len > 0) {
        ssize_t n = send(q->qmp_sock, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            qmp_break(q, "QEMU closed the QMP stream");
            return -CAPDRV_EIO;
        }
        int64_t left = deadline - now_ms();
        struct pollfd p = {.fd = q->qmp_sock, .events = POLLOUT};
        if (left <= 0 || (poll(&p, 1, (int)left) < 0 && errno != EINTR)) {
            qmp_break(q, "QEMU did not accept a QMP command in time");
            return -CAPDRV_ETIMEDOUT;
        }
    }
    return 0;
}

/* The next message line (without "\r\n") at q->qmp_buf[0..*len); the
 * caller consumes it with qmp_consume(). */
static int recv_line(struct capdrv_qtest *q, size_t *len, int64_t deadline)
{
    for (;;) {
        char *nl = memchr(q->qmp_buf, '\n', q->qmp_len);
        if (nl) {
            size_t n = (size_t)(nl - q->qmp_buf);
            *len = n > 0 && q->qmp_buf[n - 1] == '\r' ? n - 1 : n;
            return 0;
        }
        if (q->qmp_len == QT_QMP_LINE_MAX) {
            qmp_break(q, "QMP message longer than the client accepts");
            return -CAPDRV_EPROTO;
        }
        ssize_t n = recv(q->qmp_sock, q->qmp_buf + q->qmp_len, QT_QMP_LINE_MAX - q->qmp_len,
                         MSG_DONTWAIT);
        if (n > 0) {
            q->qmp_len += (size_t)n;
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            qmp_break(q, "QEMU closed the QMP stream");
            return -CAPDRV_EIO;
        }
        int64_t left = deadline - now_ms();
        struct pollfd p = {.fd = q->qmp_sock, .events = POLLIN};
        if (left <= 0) {
            qmp_break(q, "QEMU did not answer a QMP command in time (busy or hung?)");
            return -CAPDRV_ETIMEDOUT;
        }
        if (poll(&p, 1, (int)left) < 0 && errno != EINTR) {
            qmp_break(q, "poll on the QMP stream failed");
            return -CAPDRV_EIO;
        }
    }
}

static void qmp_consume(struct capdrv_qtest *q)
{
    char *nl = memchr(q->qmp_buf, '\n', q->qmp_len);
    size_t n = nl ? (size_t)(nl - q->qmp_buf) + 1 : q->qmp_len;
    memmove(q->qmp_buf, q->qmp_buf + n, q->qmp_len - n);
    q->qmp_len -= n;
}

/* Send @cmd and wait for its reply, skipping events (and, when @greeting,
 * the server's greeting). Returns 0 for "return", -CAPDRV_EIO for "error";
 * the reply line is copied to @reply. */
static int exchange(struct capdrv_qtest *q, const char *cmd, bool greeting, char *reply,
                    size_t reply_len, int64_t deadline)
{
    int rc = send_all(q, cmd, strlen(cmd), deadline);
    if (rc == 0)
        rc = send_all(q, "\n", 1, deadline);
    while (rc == 0) {
        size_t n = 0;
        if ((rc = recv_line(q, &n, deadline)) < 0)
            return rc;
        const char *l = q->qmp_buf;
        bool ret = top_key(l, n, "return") != 0, err = top_key(l, n, "error") != 0;
        if (ret || err) {
            if (reply && reply_len) {
                size_t k = n < reply_len - 1 ? n : reply_len - 1;
                memcpy(reply, l, k);
                reply[k] = '\0';
            }
            qmp_consume(q);
            return ret ? 0 : -CAPDRV_EIO;
        }
        if (!top_key(l, n, "event") && !(greeting && top_key(l, n, "QMP"))) {
            qmp_break(q, "QEMU sent a QMP message that is neither a reply nor an event");
            return -CAPDRV_EPROTO;
        }
        qmp_consume(q);
    }
    return rc;
}

int capdrv_qtest_qmp(struct capdrv_qtest *q, const char *command, char *reply, size_t reply_len)
{
    if (reply && reply_len)
        reply[0] = '\0';
    if (!q || !command || !command[0] || strpbrk(command, "\r\n"))
        return -CAPDRV_EINVAL;
    pthread_mutex_lock(&q->qmp_lock);
    int rc = 0;
    int64_t deadline = now_ms() + q->timeout_ms;
    if (q->qmp_sock < 0) {
        rc = -CAPDRV_EIO;
        if (reply && reply_len)
            snprintf(reply, reply_len, "%s", q->qmp_why[0] ? q->qmp_why : "no QMP monitor");
    } else if (!q->qmp_ready) {
        if (!q->qmp_buf && !(q->qmp_buf = malloc(QT_QMP_LINE_MAX)))
            rc = -CAPDRV_ENOMEM;
        /* Capabilities negotiation mode accepts only this command (the
         * greeting is skipped while waiting for its reply). */
        if (rc == 0)
            rc = exchange(q, "{\"execute\":\"qmp_capabilities\"}", true, NULL, 0, deadline);
        if (rc == -CAPDRV_EIO && q->qmp_sock >= 0)
            qmp_break(q, "QEMU refused qmp_capabilities");
        q->qmp_ready = rc == 0;
    }
    if (rc == 0)
        rc = exchange(q, command, false, reply, reply_len, deadline);
    pthread_mutex_unlock(&q->qmp_lock);
    return rc;
}

int capdrv_qtest_hmp(struct capdrv_qtest *q, const char *command_line, char *out, size_t out_len)
{
    if (out && out_len)
        out[0] = '\0';
    if (!q || !command_line || !command_line[0])
        return -CAPDRV_EINVAL;
    /* JSON string escaping (RFC 8259 §7): quote, backslash, controls. */
    static const char head[] = "{\"execute\":\"human-monitor-command\",\"arguments\":"
                               "{\"command-line\":\"";
    size_t cap = sizeof head + strlen(command_line) * 6 + 8, o = sizeof head - 1;
    char *cmd = malloc(cap);
    if (!cmd)
        return -CAPDRV_ENOMEM;
    memcpy(cmd, head, o);
    for (const char *s = command_line; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            cmd[o++] = '\\';
            cmd[o++] = (char)ch;
        } else if (ch < 0x20) {
            o += (size_t)snprintf(cmd + o, cap - o, "\\u%04x", ch);
        } else {
            cmd[o++] = (char)ch;
        }
    }
    memcpy(cmd + o, "\"}}", 4);
    char *reply = malloc(QT_QMP_LINE_MAX);
    int rc = reply ? capdrv_qtest_qmp(q, cmd, reply, QT_QMP_LINE_MAX) : -CAPDRV_ENOMEM;
    if (rc == 0)
        rc = top_string(reply, strlen(reply), "return", out, out_len);
    else if (rc == -CAPDRV_EIO && reply && reply[0] && out && out_len)
        snprintf(out, out_len, "%s", reply); /* the error object, as QEMU sent it */
    free(reply);
    free(cmd);
    return rc;
}
