/* fuzz_qtest_reply: the qtest platform's wire protocol against a hostile
 * (or broken) QEMU.
 *
 * Input: byte 0 = number of operations k (mod 32); bytes 1..k = operations
 * (low 3 bits: readb/readw/readl/readq/writel/inb/inl/outw; the rest is the
 * address); the remaining bytes are everything "QEMU" ever sends, written
 * into a socketpair whose other end is then shut down, so the platform's
 * real send/receive/parse path (kernel-shim/platforms/qtest/qtest_proto.c)
 * runs without QEMU and without waiting: running out of stream is EOF.
 *
 * A reference model written here splits the stream into lines, skips
 * asynchronous "IRQ " lines, and predicts each operation's result: a bare
 * OK / FAIL for writes, OK 0x<1..16 hex digits> masked to the width for
 * reads, -EPROTO (and a dead stream) for anything else or a line of
 * QT_LINE_MAX bytes or more, -EIO at EOF and for every operation once the
 * stream is dead. The platform must agree exactly, value included. */
#include "fuzz_common.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../kernel-shim/platforms/qtest/qtest_internal.h"

#define MAX_OPS 31u
#define MAX_STREAM 8192u

struct model {
    const uint8_t *s;
    size_t len, pos;
    bool dead;
};

static int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The next non-IRQ line: 0 with [*line, *line + *n), or -EIO at EOF
 * (a last line without its newline is never complete), -EPROTO when over
 * long. The platform's receive buffer is 2 * QT_LINE_MAX bytes: an IRQ
 * line that does not fit in it is a protocol error as well. */
static int next_line(struct model *m, const uint8_t **line, size_t *n)
{
    for (;;) {
        const uint8_t *start = m->s + m->pos;
        size_t left = m->len - m->pos;
        const uint8_t *nl = memchr(start, '\n', left);
        size_t ln = nl ? (size_t)(nl - start) : left;
        bool irq = ln >= 4 && memcmp(start, "IRQ ", 4) == 0;
        if (ln + 1u > 2u * QT_LINE_MAX)
            return -CAPDRV_EPROTO; /* never fits the receive buffer */
        if (!nl)
            return -CAPDRV_EIO;
        m->pos += ln + 1u;
        if (irq)
            continue;
        if (ln >= QT_LINE_MAX)
            return -CAPDRV_EPROTO;
        *line = start;
        *n = ln;
        return 0;
    }
}

static int model_op(struct model *m, bool want_value, unsigned width, uint64_t *value)
{
    if (m->dead)
        return -CAPDRV_EIO;
    const uint8_t *l;
    size_t n;
    int rc = next_line(m, &l, &n);
    if (rc < 0) {
        m->dead = true;
        return rc;
    }
    if (n >= 4 && memcmp(l, "FAIL", 4) == 0 && (n == 4 || l[4] == ' '))
        return -CAPDRV_EIO;
    rc = -CAPDRV_EPROTO;
    if (n >= 2 && memcmp(l, "OK", 2) == 0) {
        if (!want_value) {
            rc = n == 2 ? 0 : -CAPDRV_EPROTO;
        } else if (n >= 6 && n <= 21 && memcmp(l + 2, " 0x", 3) == 0) {
            uint64_t v = 0;
            rc = 0;
            for (size_t i = 5; i < n && rc == 0; i++) {
                int d = hexval(l[i]);
                if (d < 0)
                    rc = -CAPDRV_EPROTO;
                v = v << 4 | (uint64_t)(d < 0 ? 0 : d);
            }
            if (rc == 0)
                *value = width == 8 ? v : v & ((1ull << (8 * width)) - 1u);
        }
    }
    if (rc == -CAPDRV_EPROTO)
        m->dead = true;
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned k = data[0] % (MAX_OPS + 1u);
    if (size < 1u + k)
        return 0;
    const uint8_t *ops = data + 1;
    const uint8_t *stream = data + 1 + k;
    size_t slen = size - 1 - k;
    if (slen > MAX_STREAM)
        return 0; /* must fit in the socket buffer before anyone reads */

    int sv[2];
    FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    int buf = 65536;
    (void)setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
    (void)setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    for (size_t off = 0; off < slen;) {
        ssize_t w = write(sv[1], stream + off, slen - off);
        FUZZ_CHECK(w > 0);
        off += (size_t)w;
    }
    /* The commands the platform sends are read by nobody: make sure they
     * cannot block it (31 short lines fit any socket buffer). */
    FUZZ_CHECK(shutdown(sv[1], SHUT_WR) == 0);

    struct capdrv_qtest *q = calloc(1, sizeof *q);
    FUZZ_CHECK(q != NULL);
    pthread_mutex_init(&q->lock, NULL);
    q->timeout_ms = 1000; /* never reached: EOF comes first */
    q->pid = 0;
    q->sock = sv[0];
    q->ram_fd = q->fw_fd = q->err_fd = -1;

    struct model m = {.s = stream, .len = slen};
    for (unsigned i = 0; i < k; i++) {
        uint8_t op = ops[i];
        uint64_t addr = 0xfe000000ull + ((uint64_t)(op >> 3) << 2);
        static const unsigned width[8] = {1, 2, 4, 8, 4, 1, 4, 2};
        unsigned w = width[op & 7u];
        bool is_read = (op & 7u) <= 3u || (op & 7u) == 5u || (op & 7u) == 6u;
        uint64_t want = 0, got = 0x5a5a5a5a5a5a5a5aull;
        int want_rc = model_op(&m, is_read, w, &want);
        int rc;
        uint32_t v32 = 0x5a5a5a5au;
        switch (op & 7u) {
        case 4: rc = qt_mem_write(q, addr, 4, 0x12345678u); break;
        case 5: rc = qt_io_read(q, (uint16_t)addr, 1, &v32); got = v32; break;
        case 6: rc = qt_io_read(q, (uint16_t)addr, 4, &v32); got = v32; break;
        case 7: rc = qt_io_write(q, (uint16_t)addr, 2, 0xbeef); break;
        default: rc = qt_mem_read(q, addr, w, &got); break;
        }
        if (fuzz_verbose())
            fprintf(stderr, "op %u (%u, width %u): rc %d (model %d)\n", i, op & 7u, w, rc,
                    want_rc);
        FUZZ_CHECK_MSG(rc == want_rc, "rc", rc);
        if (rc == 0 && is_read)
            FUZZ_CHECK_MSG(got == want, "value", (long long)got);
        /* Dead is for good, and every dead stream says why. */
        FUZZ_CHECK(q->dead == m.dead);
        if (q->dead) {
            FUZZ_CHECK(q->sock == -1);
            FUZZ_CHECK(q->dead_why[0] != '\0');
        }
    }
    if (q->sock >= 0)
        close(q->sock);
    close(sv[1]);
    pthread_mutex_destroy(&q->lock);
    free(q);
    return 0;
}
