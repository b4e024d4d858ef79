/* Backing store of the simulated virtio-blk: memory or a file through
 * io_uring; see blk_store.h. */
#define _GNU_SOURCE /* FALLOC_FL_*, O_CLOEXEC, liburing */
#include "blk_store.h"

#include <capdrv/error.h>

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECTOR 512u
/* Submission queue entries: one request is in flight at a time, a few
 * spare entries cost nothing. */
#define RING_ENTRIES 4u
/* Largest single read/write handed to the kernel (the sqe length is 32 bits). */
#define MAX_IO ((size_t)1 << 30)
/* Zero-filled chunk for the zeroing fallback. */
#define ZERO_CHUNK ((size_t)64 << 10)
/* Transient completions (-EINTR, -EAGAIN) tolerated per operation before
 * giving up: keeps every operation bounded. */
#define MAX_RETRIES 16u

struct blk_store {
    uint64_t bytes;
    uint8_t *mem; /* memory disk; NULL for a file */
    /* File disk. */
    int fd;
    struct io_uring ring;
    uint8_t *zeros;     /* ZERO_CHUNK zero bytes */
    bool broken;        /* a submission failed: the ring's state is unknown */
    bool no_punch;      /* fallocate(PUNCH_HOLE) is not supported here */
    bool no_zero_range; /* fallocate(ZERO_RANGE) is not supported here */
};

int sim_blk_store_open_mem(uint64_t bytes, struct blk_store **out)
{
    *out = NULL;
    if (bytes > SIZE_MAX)
        return -CAPDRV_ENOMEM;
    struct blk_store *s = calloc(1, sizeof *s);
    if (!s)
        return -CAPDRV_ENOMEM;
    s->fd = -1;
    s->bytes = bytes;
    /* calloc(0) may return NULL: keep one byte so mem marks a memory disk. */
    s->mem = calloc(bytes ? (size_t)bytes : 1u, 1);
    if (!s->mem) {
        free(s);
        return -CAPDRV_ENOMEM;
    }
    *out = s;
    return 0;
}

static int errno_to_capdrv(int e)
{
    switch (e) {
    case ENOENT:
        return -CAPDRV_ENOENT;
    case EACCES:
    case EPERM:
    case EROFS:
        return -CAPDRV_EACCES;
    case ENOMEM:
        return -CAPDRV_ENOMEM;
    case EISDIR:
        return -CAPDRV_EINVAL; /* only regular files hold a disk */
    default:
        return -CAPDRV_EIO;
    }
}

int sim_blk_store_open_file(const char *path, uint64_t *sectors, struct blk_store **out)
{
    *out = NULL;
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return errno_to_capdrv(errno);
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int rc = errno_to_capdrv(errno);
        close(fd);
        return rc;
    }
    uint64_t want = *sectors ? *sectors : (uint64_t)st.st_size / SECTOR;
    /* The disk must be addressable as an off_t. */
    if (!S_ISREG(st.st_mode) || want == 0 || want > (uint64_t)INT64_MAX / SECTOR) {
        close(fd);
        return -CAPDRV_EINVAL;
    }
    struct blk_store *s = calloc(1, sizeof *s);
    uint8_t *zeros = calloc(ZERO_CHUNK, 1);
    if (!s || !zeros) {
        free(s);
        free(zeros);
        close(fd);
        return -CAPDRV_ENOMEM;
    }
    s->fd = fd;
    s->zeros = zeros;
    s->bytes = want * SECTOR;
    /* io_uring first: if the kernel or a seccomp/container policy refuses
     * it (-ENOSYS, -EPERM, io_uring_disabled), nothing has been written. */
    int rc = io_uring_queue_init(RING_ENTRIES, &s->ring, 0);
    if (rc < 0) {
        free(zeros);
        free(s);
        close(fd);
        return rc == -ENOMEM ? -CAPDRV_ENOMEM : -CAPDRV_ENOTSUP;
    }
    if (s->bytes > (uint64_t)st.st_size && ftruncate(fd, (off_t)s->bytes) < 0) {
        rc = errno_to_capdrv(errno);
        sim_blk_store_close(s);
        return rc == -CAPDRV_ENOENT ? -CAPDRV_EIO : rc;
    }
    *sectors = want;
    *out = s;
    return 0;
}

void sim_blk_store_close(struct blk_store *s)
{
    if (!s)
        return;
    if (s->mem) {
        free(s->mem);
    } else {
        io_uring_queue_exit(&s->ring);
        close(s->fd);
        free(s->zeros);
    }
    free(s);
}

/* Submit the one prepared sqe and wait for its completion. 0 with *res =
 * cqe->res, or -CAPDRV_EIO when the ring itself failed (then the store is
 * broken: an sqe may still sit in the queue, and must never be submitted
 * later with a stale buffer). */
static int run(struct blk_store *s, int *res)
{
    int rc;
    unsigned tries = 0;
    do
        rc = io_uring_submit_and_wait(&s->ring, 1);
    while (rc == -EINTR && ++tries < MAX_RETRIES);
    if (rc != 1) {
        s->broken = true;
        return -CAPDRV_EIO;
    }
    struct io_uring_cqe *cqe = NULL;
    tries = 0;
    do
        rc = io_uring_wait_cqe(&s->ring, &cqe);
    while (rc == -EINTR && ++tries < MAX_RETRIES);
    if (rc < 0 || !cqe) {
        s->broken = true;
        return -CAPDRV_EIO;
    }
    *res = cqe->res;
    io_uring_cqe_seen(&s->ring, cqe);
    return 0;
}

static struct io_uring_sqe *sqe_get(struct blk_store *s)
{
    if (s->broken)
        return NULL;
    struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);
    if (!sqe)
        s->broken = true; /* cannot happen with one request at a time */
    return sqe;
}

/* Read or write [off, off + len) of the file, continuing after short
 * transfers. Every pass either moves at least one byte or uses up one of
 * MAX_RETRIES transient failures, so the loop is bounded. */
static int file_rw(struct blk_store *s, bool write, uint64_t off, uint8_t *p, size_t len)
{
    unsigned retries = 0;
    while (len > 0) {
        unsigned n = (unsigned)(len < MAX_IO ? len : MAX_IO);
        struct io_uring_sqe *sqe = sqe_get(s);
        if (!sqe)
            return -CAPDRV_EIO;
        if (write)
            io_uring_prep_write(sqe, s->fd, p, n, off);
        else
            io_uring_prep_read(sqe, s->fd, p, n, off);
        int res;
        if (run(s, &res) < 0)
            return -CAPDRV_EIO;
        if (res == -EINTR || res == -EAGAIN) {
            if (++retries > MAX_RETRIES)
                return -CAPDRV_EIO;
            continue;
        }
        /* res 0: end of file inside the disk (the file was truncated
         * behind the simulator's back) or a write that makes no progress. */
        if (res <= 0 || (unsigned)res > n)
            return -CAPDRV_EIO;
        off += (unsigned)res;
        p += (unsigned)res;
        len -= (unsigned)res;
    }
    return 0;
}

int sim_blk_store_read(struct blk_store *s, uint64_t off, void *buf, size_t len)
{
    if (s->mem) {
        memcpy(buf, s->mem + off, len);
        return 0;
    }
    return file_rw(s, false, off, buf, len);
}

int sim_blk_store_write(struct blk_store *s, uint64_t off, const void *buf, size_t len)
{
    if (s->mem) {
        memcpy(s->mem + off, buf, len);
        return 0;
    }
    /* io_uring_prep_write() takes a const buffer; file_rw() does not
     * write through p when @write is set. */
    return file_rw(s, true, off, (uint8_t *)(uintptr_t)buf, len);
}

int sim_blk_store_flush(struct blk_store *s)
{
    if (s->mem)
        return 0; /* memory: every completed write is already "stable" */
    struct io_uring_sqe *sqe = sqe_get(s);
    if (!sqe)
        return -CAPDRV_EIO;
    io_uring_prep_fsync(sqe, s->fd, 0);
    int res;
    if (run(s, &res) < 0 || res < 0)
        return -CAPDRV_EIO;
    return 0;
}

/* fallocate(@mode) through io_uring. 1 done, 0 not supported by the file
 * system (the caller falls back), -CAPDRV_EIO. */
static int file_fallocate(struct blk_store *s, int mode, uint64_t off, uint64_t len)
{
    struct io_uring_sqe *sqe = sqe_get(s);
    if (!sqe)
        return -CAPDRV_EIO;
    io_uring_prep_fallocate(sqe, s->fd, mode, (off_t)off, (off_t)len);
    int res;
    if (run(s, &res) < 0)
        return -CAPDRV_EIO;
    if (res == -EOPNOTSUPP || res == -ENOSYS || res == -EINVAL)
        return 0;
    return res < 0 ? -CAPDRV_EIO : 1;
}

int sim_blk_store_zero(struct blk_store *s, uint64_t off, uint64_t len, bool unmap)
{
    if (s->mem) {
        memset(s->mem + off, 0, (size_t)len);
        return 0;
    }
    if (len == 0)
        return 0;
    /* KEEP_SIZE: the ranges lie inside the disk, the file never grows.
     * A punched hole reads back as zeroes; ZERO_RANGE keeps the blocks
     * allocated, as WRITE_ZEROES without UNMAP expects (VIRTIO 1.2 §5.2.6). */
    bool *unsupported = unmap ? &s->no_punch : &s->no_zero_range;
    if (!*unsupported) {
        int mode = FALLOC_FL_KEEP_SIZE | (unmap ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE);
        int rc = file_fallocate(s, mode, off, len);
        if (rc != 0)
            return rc < 0 ? rc : 0;
        *unsupported = true; /* remember: do not ask again */
    }
    while (len > 0) {
        size_t n = len < ZERO_CHUNK ? (size_t)len : ZERO_CHUNK;
        int rc = file_rw(s, true, off, s->zeros, n);
        if (rc < 0)
            return rc;
        off += n;
        len -= n;
    }
    return 0;
}
