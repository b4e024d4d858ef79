/* QMP over a serial line (qmp_line.h). */
#define _GNU_SOURCE
#include "qmp_line.h"

#include <capdrv/error.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -CAPDRV_EIO;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The next complete line into @line (without its end), waiting until
 * @deadline; a line longer than the buffer is dropped whole. */
static int next_line(struct conf_qmp_line *q, char *line, size_t cap, long long deadline)
{
    for (;;) {
        char *nl = memchr(q->buf, '\n', q->len);
        if (nl) {
            size_t n = (size_t)(nl - q->buf);
            size_t keep = n < cap ? n : cap - 1;
            memcpy(line, q->buf, keep);
            line[keep] = '\0';
            if (keep && line[keep - 1] == '\r')
                line[keep - 1] = '\0';
            q->len -= n + 1;
            memmove(q->buf, nl + 1, q->len);
            return 0;
        }
        if (q->len == sizeof q->buf)
            q->len = 0; /* no newline in 4 KiB: not QMP, drop it */
        long long left = deadline - now_ms();
        if (left <= 0)
            return -CAPDRV_ETIMEDOUT;
        struct pollfd pfd = {.fd = q->fd, .events = POLLIN};
        int r = poll(&pfd, 1, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -CAPDRV_EIO;
        if (r == 0)
            return -CAPDRV_ETIMEDOUT;
        ssize_t got = read(q->fd, q->buf + q->len, sizeof q->buf - q->len);
        if (got < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (got <= 0)
            return -CAPDRV_EIO;
        q->len += (size_t)got;
    }
}

int conf_qmp_line_cmd(struct conf_qmp_line *q, const char *execute, const char *arguments,
                      char *reply, size_t reply_len, int timeout_ms)
{
    char cmd[1024], tag[32], line[2048];
    unsigned id = ++q->next_id;
    int n = snprintf(cmd, sizeof cmd, "{\"execute\":\"%s\"%s%s,\"id\":%u}\n", execute,
                     arguments ? ",\"arguments\":" : "", arguments ? arguments : "", id);
    if (n < 0 || (size_t)n >= sizeof cmd)
        return -CAPDRV_EINVAL;
    int rc = write_all(q->fd, cmd, (size_t)n);
    if (rc < 0)
        return rc;
    /* QEMU writes the id back as given, "id": N, first or last. */
    snprintf(tag, sizeof tag, "\"id\": %u", id);
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        if ((rc = next_line(q, line, sizeof line, deadline)) < 0) {
            snprintf(reply, reply_len, "no reply to %s: %s", execute, capdrv_strerror(rc));
            return rc;
        }
        size_t tl = strlen(tag);
        const char *first = line + 1; /* the first key, after a leading id */
        if (strncmp(first, tag, tl) == 0 && (first[tl] == ',' || first[tl] == '}'))
            first += tl + (first[tl] == ',' ? 2 : 1);
        else {
            size_t ll = strlen(line);
            if (ll < tl + 1 || strncmp(line + ll - tl - 1, tag, tl) != 0 || line[ll - 1] != '}')
                continue; /* a greeting, an event, an older reply, or noise */
        }
        if (line[0] != '{')
            continue;
        snprintf(reply, reply_len, "%s", line);
        return strncmp(first, "\"return\"", 8) == 0 ? 0 : -CAPDRV_EIO;
    }
}

int conf_qmp_line_open(struct conf_qmp_line *q, const char *path, char *why, size_t why_len)
{
    memset(q, 0, sizeof *q);
    q->fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (q->fd < 0) {
        snprintf(why, why_len, "%s: %s", path, strerror(errno));
        return -CAPDRV_ENOENT;
    }
    struct termios t;
    if (tcgetattr(q->fd, &t) == 0) {
        cfmakeraw(&t);
        (void)tcsetattr(q->fd, TCSANOW, &t);
        (void)tcflush(q->fd, TCIOFLUSH);
    }
    char reply[512];
    int rc = conf_qmp_line_cmd(q, "qmp_capabilities", NULL, reply, sizeof reply, 10000);
    /* A session left in command mode answers with an error: fine. */
    if (rc == -CAPDRV_EIO && strstr(reply, "CommandNotFound"))
        rc = 0;
    if (rc < 0) {
        snprintf(why, why_len, "QMP on %s: %s", path, reply);
        conf_qmp_line_close(q);
    }
    return rc;
}

void conf_qmp_line_close(struct conf_qmp_line *q)
{
    if (q->fd >= 0)
        close(q->fd);
    q->fd = -1;
}
