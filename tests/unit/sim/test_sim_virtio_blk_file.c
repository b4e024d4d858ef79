/* The sim platform's virtio-blk backed by a file (capdrv_sim_virtio_blk_config
 * ::backing_file; I/O through io_uring). Requests are built by hand as in
 * test_sim_virtio_blk.c (split ring, §2.7; block requests, §5.2.6), and the
 * file is checked independently with pread()/pwrite()/fstat().
 *
 * Covered: write through the device then pread the file; pre-fill the file
 * and read through the device; transfers larger than the device's bounce
 * buffer; capdrv_sim_virtio_blk_data() on a file; FLUSH; DISCARD and
 * WRITE_ZEROES (with and without UNMAP) read back as zeroes; capacity taken
 * from the file size or the file extended to the capacity; out-of-range
 * requests -> IOERR with the file untouched; the DMA oracle still checks
 * file-backed transfers; bad backing files refused; io_uring refused (by a
 * seccomp filter in a child) -> -CAPDRV_ENOTSUP with the file untouched.
 *
 * When io_uring is unavailable on the host the whole program SKIPs (exit
 * 77, ctest SKIP_RETURN_CODE) instead of passing. */
#define _GNU_SOURCE
#include "vio_test.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__linux__) && (defined(__x86_64__) || defined(__aarch64__))
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#define HAVE_SECCOMP_TEST 1
#endif

#define SECTOR CAPDRV_VBLK_SECTOR_SIZE

static const uint64_t BASIC =
    BIT(CAPDRV_VPCI_F_VERSION_1) | BIT(CAPDRV_VPCI_F_ACCESS_PLATFORM) |
    BIT(CAPDRV_VPCI_F_INDIRECT_DESC) | BIT(CAPDRV_VBLK_F_SEG_MAX) | BIT(CAPDRV_VBLK_F_BLK_SIZE) |
    BIT(CAPDRV_VBLK_F_FLUSH) | BIT(CAPDRV_VBLK_F_DISCARD) | BIT(CAPDRV_VBLK_F_WRITE_ZEROES);

/* A scratch file in the working directory (the test's build directory). */
struct tfile {
    char path[64];
    int fd;
};

static void tfile_make(struct tfile *tf, off_t size)
{
    snprintf(tf->path, sizeof tf->path, "capdrv-blkfile-XXXXXX");
    tf->fd = mkstemp(tf->path);
    assert_true(tf->fd >= 0);
    assert_int_equal(ftruncate(tf->fd, size), 0);
}

static void tfile_drop(struct tfile *tf)
{
    close(tf->fd);
    unlink(tf->path);
}

static off_t fsize(const struct tfile *tf)
{
    struct stat st;
    assert_int_equal(fstat(tf->fd, &st), 0);
    return st.st_size;
}

static void file_read(const struct tfile *tf, off_t off, void *buf, size_t len)
{
    assert_int_equal(pread(tf->fd, buf, len, off), (ssize_t)len);
}

static void file_write(const struct tfile *tf, off_t off, const void *buf, size_t len)
{
    assert_int_equal(pwrite(tf->fd, buf, len, off), (ssize_t)len);
}

static uint8_t pat(uint64_t off, uint8_t seed)
{
    return (uint8_t)(off * 37u + (off >> 9) * 11u + seed);
}

/* Machine with one file-backed virtio-blk at 00:06.0; returns the add rc. */
static int open_dev(struct capdrv_sim **sim, const char *path, uint64_t sectors, unsigned *fn)
{
    struct capdrv_sim_config sc = {.iommu = false};
    struct capdrv_pci_addr a = {0, 0, 6, 0};
    struct capdrv_sim_virtio_blk_config bc = {.capacity_sectors = sectors, .backing_file = path};
    assert_int_equal(capdrv_sim_create(&sc, sim), 0);
    return capdrv_sim_add_virtio_blk(*sim, &a, &bc, fn);
}

static void vt_open_file(struct vt *t, const struct tfile *tf, uint64_t sectors)
{
    struct capdrv_sim *sim;
    unsigned fn;
    assert_int_equal(open_dev(&sim, tf->path, sectors, &fn), 0);
    vt_attach(t, sim, fn);
    start(t, BASIC, 1, CAPDRV_VPCI_MSI_NO_VECTOR);
}

/* Request at head 0: header at buf+0, status byte at buf+16, data split
 * into descriptors of at most @seg bytes starting at device address
 * @data (device-writable if @dwrite). Completed inside the notify;
 * returns the status byte, *ulen the used length. */
static uint8_t submit_at(struct vt *t, uint32_t type, uint64_t sector, uint64_t data,
                         uint32_t dlen, uint32_t seg, bool dwrite, uint32_t *ulen)
{
    put(t->b, 4, type);
    put(t->b + 4, 4, 0);
    put(t->b + 8, 8, sector);
    t->b[16] = 0xee;
    const uint16_t nx = CAPDRV_VPCI_DESC_F_NEXT;
    unsigned i = 0;
    desc(t, 0, i, t->buf_dev, 16, nx, (uint16_t)(i + 1));
    i++;
    for (uint32_t done = 0; done < dlen; done += seg, i++) {
        uint32_t n = dlen - done < seg ? dlen - done : seg;
        assert_true(i < Q - 1);
        desc(t, 0, i, data + done, n, nx | (dwrite ? CAPDRV_VPCI_DESC_F_WRITE : 0),
             (uint16_t)(i + 1));
    }
    desc(t, 0, i, t->buf_dev + 16, 1, CAPDRV_VPCI_DESC_F_WRITE, 0);
    uint16_t before = used_idx(t, 0);
    post(t, 0, 0);
    kick(t, 0);
    assert_int_equal(used_idx(t, 0), (uint16_t)(before + 1));
    uint32_t id, len;
    used_elem(t, 0, before, &id, &len);
    assert_int_equal(id, 0);
    if (ulen)
        *ulen = len;
    return t->b[16];
}

static uint8_t submit(struct vt *t, uint32_t type, uint64_t sector, uint32_t dlen, bool dwrite,
                      uint32_t *ulen)
{
    return submit_at(t, type, sector, t->buf_dev + DATA_OFF, dlen, 0x4000, dwrite, ulen);
}

/* One DISCARD / WRITE_ZEROES range (struct virtio_blk_discard_write_zeroes). */
static uint8_t dwz(struct vt *t, uint32_t type, uint64_t sector, uint32_t n, uint32_t flags)
{
    uint8_t *r = t->b + DATA_OFF;
    put(r, 8, sector);
    put(r + 8, 4, n);
    put(r + 12, 4, flags);
    return submit(t, type, 0, 16, false, NULL);
}

static bool all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != v)
            return false;
    return true;
}

/* ---- tests ------------------------------------------------------------------ */

static void test_write_then_pread(void **state)
{
    (void)state;
    struct tfile tf;
    tfile_make(&tf, 64 * SECTOR);
    struct vt t;
    vt_open_file(&t, &tf, 0);
    uint8_t *d = t.b + DATA_OFF;
    for (uint32_t i = 0; i < 8 * SECTOR; i++)
        d[i] = pat(i, 1);
    uint32_t ulen;
    assert_int_equal(submit(&t, CAPDRV_VBLK_T_OUT, 5, 8 * SECTOR, false, &ulen), CAPDRV_VBLK_S_OK);
    assert_int_equal(ulen, 1);
    uint8_t got[8 * SECTOR];
    file_read(&tf, 5 * SECTOR, got, sizeof got);
    assert_memory_equal(got, d, sizeof got);
    /* Neighbouring sectors untouched (the file was all zero). */
    file_read(&tf, 4 * SECTOR, got, SECTOR);
    assert_true(all_bytes(got, SECTOR, 0));
    file_read(&tf, 13 * SECTOR, got, SECTOR);
    assert_true(all_bytes(got, SECTOR, 0));
    /* The test interface sees the same bytes. */
    memset(got, 0, sizeof got);
    assert_int_equal(capdrv_sim_virtio_blk_data(t.sim, t.fn, 5 * SECTOR, got, sizeof got, false),
                     0);
    assert_memory_equal(got, d, sizeof got);
    vt_close(&t, 0);
    assert_int_equal(fsize(&tf), 64 * SECTOR);
    tfile_drop(&tf);
}

static void test_prefilled_read(void **state)
{
    (void)state;
    struct tfile tf;
    tfile_make(&tf, 0);
    uint8_t src[32 * SECTOR];
    for (size_t i = 0; i < sizeof src; i++)
        src[i] = pat(i, 7);
    file_write(&tf, 0, src, sizeof src);
    struct vt t;
    vt_open_file(&t, &tf, 0);
    uint32_t ulen;
    /* Three descriptors of 0x1000, 0x1000 and 0x800 bytes. */
    assert_int_equal(submit_at(&t, CAPDRV_VBLK_T_IN, 3, t.buf_dev + DATA_OFF, 20 * SECTOR, 0x1000,
                               true, &ulen),
                     CAPDRV_VBLK_S_OK);
    assert_int_equal(ulen, 20 * SECTOR + 1);
    assert_memory_equal(t.b + DATA_OFF, src + 3 * SECTOR, 20 * SECTOR);
    /* capdrv_sim_virtio_blk_data() writes reach the file. */
    uint8_t w[700];
    memset(w, 0xa5, sizeof w);
    assert_int_equal(capdrv_sim_virtio_blk_data(t.sim, t.fn, 1000, w, sizeof w, true), 0);
    uint8_t back[sizeof w];
    file_read(&tf, 1000, back, sizeof back);
    assert_memory_equal(back, w, sizeof w);
    assert_int_equal(capdrv_sim_virtio_blk_data(t.sim, t.fn, 32 * SECTOR - 1, w, 2, false),
                     -CAPDRV_ERANGE);
    vt_close(&t, 0);
    tfile_drop(&tf);
}

/* Data beyond the device's 128 KiB bounce buffer, in many descriptors, in
 * a separately mapped region. */
static void test_large_transfer(void **state)
{
    (void)state;
    const uint32_t big = 300u << 10; /* 600 sectors */
    struct tfile tf;
    tfile_make(&tf, 1024 * SECTOR);
    struct vt t;
    vt_open_file(&t, &tf, 0);
    struct capdrv_hw_dma mem;
    uint64_t dev;
    assert_int_equal(t.hw.ops->dma_alloc(t.hw.ctx, big, &mem), 0);
    assert_int_equal(t.hw.ops->dma_map(t.hw.ctx, t.fn, &mem, 0x400000, &dev), 0);
    uint8_t *p = mem.cpu;
    for (uint32_t i = 0; i < big; i++)
        p[i] = pat(i, 3);
    assert_int_equal(submit_at(&t, CAPDRV_VBLK_T_OUT, 100, dev, big, 0x6000, false, NULL),
                     CAPDRV_VBLK_S_OK);
    uint8_t *chk = malloc(big);
    assert_non_null(chk);
    file_read(&tf, 100 * SECTOR, chk, big);
    assert_memory_equal(chk, p, big);
    /* Read it back through the device over a different sector offset of
     * the buffer: first overwrite the file region with something else. */
    for (uint32_t i = 0; i < big; i++)
        chk[i] = pat(i, 9);
    file_write(&tf, 100 * SECTOR, chk, big);
    memset(p, 0, big);
    uint32_t ulen;
    assert_int_equal(submit_at(&t, CAPDRV_VBLK_T_IN, 100, dev, big, 0x6000, true, &ulen),
                     CAPDRV_VBLK_S_OK);
    assert_int_equal(ulen, big + 1);
    assert_memory_equal(p, chk, big);
    free(chk);
    assert_int_equal(t.hw.ops->dma_unmap(t.hw.ctx, t.fn, &mem, dev), 0);
    t.hw.ops->dma_free(t.hw.ctx, &mem);
    vt_close(&t, 0);
    tfile_drop(&tf);
}

static void test_flush(void **state)
{
    (void)state;
    struct tfile tf;
    tfile_make(&tf, 16 * SECTOR);
    struct vt t;
    vt_open_file(&t, &tf, 0);
    memset(t.b + DATA_OFF, 0x5c, SECTOR);
    assert_int_equal(submit(&t, CAPDRV_VBLK_T_OUT, 2, SECTOR, false, NULL), CAPDRV_VBLK_S_OK);
    uint32_t ulen;
    assert_int_equal(submit(&t, CAPDRV_VBLK_T_FLUSH, 0, 0, false, &ulen), CAPDRV_VBLK_S_OK);
    assert_int_equal(ulen, 1);
    uint8_t got[SECTOR];
    file_read(&tf, 2 * SECTOR, got, sizeof got);
    assert_true(all_bytes(got, sizeof got, 0x5c));
    vt_close(&t, 0);
    tfile_drop(&tf);
}

static void test_discard_and_write_zeroes(void **state)
{
    (void)state;
    struct tfile tf;
    tfile_make(&tf, 0);
    uint8_t *ff = malloc(512 * SECTOR);
    assert_non_null(ff);
    memset(ff, 0xff, 512 * SECTOR);
    file_write(&tf, 0, ff, 512 * SECTOR);
    struct vt t;
    vt_open_file(&t, &tf, 0);
    /* Ranges of 4 KiB-aligned and unaligned sectors: a punched hole or a
     * zeroed range must cover exactly the range, on any file system. */
    assert_int_equal(dwz(&t, CAPDRV_VBLK_T_DISCARD, 8, 16, 0), CAPDRV_VBLK_S_OK);
    assert_int_equal(dwz(&t, CAPDRV_VBLK_T_DISCARD, 101, 3, 0), CAPDRV_VBLK_S_OK);
    assert_int_equal(dwz(&t, CAPDRV_VBLK_T_WRITE_ZEROES, 200, 9, 0), CAPDRV_VBLK_S_OK);
    assert_int_equal(dwz(&t, CAPDRV_VBLK_T_WRITE_ZEROES, 300, 200, CAPDRV_VBLK_DWZ_F_UNMAP),
                     CAPDRV_VBLK_S_OK);
    /* Out of range: nothing zeroed. */
    assert_int_equal(dwz(&t, CAPDRV_VBLK_T_DISCARD, 511, 2, 0), CAPDRV_VBLK_S_IOERR);
    assert_int_equal(dwz(&t, CAPDRV_VBLK_T_WRITE_ZEROES, 512, 1, 0), CAPDRV_VBLK_S_IOERR);
    uint8_t *got = malloc(512 * SECTOR);
    assert_non_null(got);
    file_read(&tf, 0, got, 512 * SECTOR);
    for (unsigned s = 0; s < 512; s++) {
        bool zero = (s >= 8 && s < 24) || (s >= 101 && s < 104) || (s >= 200 && s < 209) ||
                    (s >= 300 && s < 500);
        if (!all_bytes(got + (size_t)s * SECTOR, SECTOR, zero ? 0 : 0xff))
            fail_msg("sector %u should be %s", s, zero ? "zero" : "0xff");
    }
    /* Through the device too. */
    memset(t.b + DATA_OFF, 0x11, 4 * SECTOR);
    assert_int_equal(submit(&t, CAPDRV_VBLK_T_IN, 100, 4 * SECTOR, true, NULL), CAPDRV_VBLK_S_OK);
    assert_true(all_bytes(t.b + DATA_OFF, SECTOR, 0xff));
    assert_true(all_bytes(t.b + DATA_OFF + SECTOR, 3 * SECTOR, 0));
    vt_close(&t, 0);
    assert_int_equal(fsize(&tf), 512 * SECTOR); /* KEEP_SIZE */
    free(got);
    free(ff);
    tfile_drop(&tf);
}

static void test_capacity_from_file(void **state)
{
    (void)state;
    struct tfile tf;
    /* Not a whole number of sectors: the tail is not part of the disk. */
    tfile_make(&tf, 100 * SECTOR + 300);
    struct vt t;
    vt_open_file(&t, &tf, 0);
    assert_int_equal(devcfg(&t, CAPDRV_VBLK_CFG_CAPACITY, 8), 100);
    vt_close(&t, 0);
    assert_int_equal(fsize(&tf), 100 * SECTOR + 300);
    /* Smaller than the file: the file keeps its size. */
    vt_open_file(&t, &tf, 10);
    assert_int_equal(devcfg(&t, CAPDRV_VBLK_CFG_CAPACITY, 8), 10);
    assert_int_equal(capdrv_sim_virtio_blk_data(t.sim, t.fn, 10 * SECTOR, t.b, 1, false),
                     -CAPDRV_ERANGE);
    vt_close(&t, 0);
    assert_int_equal(fsize(&tf), 100 * SECTOR + 300);
    /* Larger: extended, old contents kept, new sectors read as zeroes. */
    uint8_t mark[SECTOR];
    memset(mark, 0x77, sizeof mark);
    file_write(&tf, 99 * SECTOR, mark, sizeof mark);
    vt_open_file(&t, &tf, 4096);
    assert_int_equal(devcfg(&t, CAPDRV_VBLK_CFG_CAPACITY, 8), 4096);
    assert_int_equal(fsize(&tf), 4096 * SECTOR);
    memset(t.b + DATA_OFF, 0x11, 2 * SECTOR);
    assert_int_equal(submit(&t, CAPDRV_VBLK_T_IN, 4094, 2 * SECTOR, true, NULL), CAPDRV_VBLK_S_OK);
    assert_true(all_bytes(t.b + DATA_OFF, 2 * SECTOR, 0));
    assert_int_equal(submit(&t, CAPDRV_VBLK_T_IN, 99, SECTOR, true, NULL), CAPDRV_VBLK_S_OK);
    assert_true(all_bytes(t.b + DATA_OFF, SECTOR, 0x77));
    vt_close(&t, 0);
    tfile_drop(&tf);
}

static void test_out_of_range_ioerr(void **state)
{
    (void)state;
    struct tfile tf;
    tfile_make(&tf, 64 * SECTOR);
    struct vt t;
    vt_open_file(&t, &tf, 0);
    memset(t.b + DATA_OFF, 0x33, 2 * SECTOR);
    uint32_t ulen;
    const struct {
        uint32_t type;
        uint64_t sector;
        uint32_t len;
        uint8_t status;
    } cases[] = {
        {CAPDRV_VBLK_T_IN, 63, 1024, CAPDRV_VBLK_S_IOERR},
        {CAPDRV_VBLK_T_IN, 64, 512, CAPDRV_VBLK_S_IOERR},
        {CAPDRV_VBLK_T_IN, UINT64_MAX, 512, CAPDRV_VBLK_S_IOERR},
        {CAPDRV_VBLK_T_OUT, 63, 1024, CAPDRV_VBLK_S_IOERR},
        {CAPDRV_VBLK_T_OUT, 1ull << 60, 512, CAPDRV_VBLK_S_IOERR},
        {CAPDRV_VBLK_T_OUT, 0, 511, CAPDRV_VBLK_S_IOERR},
        {CAPDRV_VBLK_T_OUT, 63, 512, CAPDRV_VBLK_S_OK},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool in = cases[i].type == CAPDRV_VBLK_T_IN;
        uint8_t st = submit(&t, cases[i].type, cases[i].sector, cases[i].len, in, &ulen);
        if (in)
            memset(t.b + DATA_OFF, 0x33, 2 * SECTOR);
        if (st != cases[i].status || ulen != 1)
            fail_msg("case %zu: status %u len %u", i, st, ulen);
    }
    /* Only the last (valid) write reached the file, which did not grow. */
    assert_int_equal(fsize(&tf), 64 * SECTOR);
    uint8_t *got = malloc(64 * SECTOR);
    assert_non_null(got);
    file_read(&tf, 0, got, 64 * SECTOR);
    assert_true(all_bytes(got, 63 * SECTOR, 0));
    assert_true(all_bytes(got + 63 * SECTOR, SECTOR, 0x33));
    free(got);
    vt_close(&t, 0);
    tfile_drop(&tf);
}

/* The file path still goes through the oracle: a read into memory not
 * mapped for the function is refused (IOERR) and counted. */
static void test_oracle_checks_file_io(void **state)
{
    (void)state;
    struct tfile tf;
    tfile_make(&tf, 64 * SECTOR);
    struct vt t;
    vt_open_file(&t, &tf, 0);
    uint64_t unmapped = t.buf_dev + BUF_SIZE + 0x100000;
    assert_int_equal(submit_at(&t, CAPDRV_VBLK_T_IN, 0, unmapped, SECTOR, SECTOR, true, NULL),
                     CAPDRV_VBLK_S_IOERR);
    assert_int_equal(capdrv_sim_oracle_violations(t.sim), 1);
    vt_close(&t, 1);
    tfile_drop(&tf);
}

static void test_bad_backing_files(void **state)
{
    (void)state;
    struct capdrv_sim *sim;
    unsigned fn;
    assert_int_equal(open_dev(&sim, "capdrv-blkfile-does-not-exist", 0, &fn), -CAPDRV_ENOENT);
    capdrv_sim_destroy(sim);
    assert_int_equal(open_dev(&sim, ".", 0, &fn), -CAPDRV_EINVAL); /* a directory */
    capdrv_sim_destroy(sim);
    struct tfile tf;
    tfile_make(&tf, SECTOR - 1); /* capacity 0 from its size */
    assert_int_equal(open_dev(&sim, tf.path, 0, &fn), -CAPDRV_EINVAL);
    capdrv_sim_destroy(sim);
    assert_int_equal(open_dev(&sim, tf.path, UINT64_MAX / SECTOR, &fn), -CAPDRV_EINVAL);
    capdrv_sim_destroy(sim);
    assert_int_equal(fsize(&tf), SECTOR - 1);
    /* The function number is not used up by the failures. */
    assert_int_equal(open_dev(&sim, tf.path, 1, &fn), 0);
    assert_int_equal(fn, 0);
    capdrv_sim_destroy(sim);
    assert_int_equal(fsize(&tf), SECTOR);
    tfile_drop(&tf);
}

#ifdef HAVE_SECCOMP_TEST
/* In a child: make io_uring_setup fail with @err (as a container or a
 * disabled kernel does) and add a file-backed disk bigger than the file.
 * Exit 0 iff the add returned -CAPDRV_ENOTSUP and the file kept its size. */
static int child_refused(const char *path, int err)
{
#if defined(__x86_64__)
    const uint32_t arch = AUDIT_ARCH_X86_64;
#else
    const uint32_t arch = AUDIT_ARCH_AARCH64;
#endif
    struct sock_filter prog[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arch, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((uint32_t)err & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog fp = {.len = (unsigned short)(sizeof prog / sizeof prog[0]), .filter = prog};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fp) != 0)
        return 3;
    struct capdrv_sim *sim;
    struct capdrv_sim_config sc = {.iommu = false};
    struct capdrv_pci_addr a = {0, 0, 6, 0};
    struct capdrv_sim_virtio_blk_config bc = {.capacity_sectors = 64, .backing_file = path};
    if (capdrv_sim_create(&sc, &sim) != 0)
        return 4;
    int rc = capdrv_sim_add_virtio_blk(sim, &a, &bc, NULL);
    capdrv_sim_destroy(sim);
    struct stat st;
    if (stat(path, &st) != 0 || st.st_size != SECTOR)
        return 5;
    return rc == -CAPDRV_ENOTSUP ? 0 : 6;
}
#endif

static void test_io_uring_refused(void **state)
{
    (void)state;
#ifdef HAVE_SECCOMP_TEST
    struct tfile tf;
    tfile_make(&tf, SECTOR);
    const int errs[] = {ENOSYS, EPERM};
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            _exit(child_refused(tf.path, errs[i]));
        int ws;
        assert_int_equal(waitpid(pid, &ws, 0), pid);
        assert_true(WIFEXITED(ws));
        if (WEXITSTATUS(ws) != 0)
            fail_msg("errno %d: child exit %d", errs[i], WEXITSTATUS(ws));
    }
    tfile_drop(&tf);
#else
    skip();
#endif
}

/* Is io_uring usable here? A file-backed disk is the probe. */
static int io_uring_available(void)
{
    char path[] = "capdrv-blkfile-probe-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || ftruncate(fd, SECTOR) != 0) {
        fprintf(stderr, "cannot create a scratch file in the working directory: %s\n",
                strerror(errno));
        return -1;
    }
    struct capdrv_sim *sim = NULL;
    struct capdrv_pci_addr a = {0, 0, 6, 0};
    struct capdrv_sim_virtio_blk_config bc = {.backing_file = path};
    int rc = capdrv_sim_create(NULL, &sim);
    if (rc == 0)
        rc = capdrv_sim_add_virtio_blk(sim, &a, &bc, NULL);
    capdrv_sim_destroy(sim);
    close(fd);
    unlink(path);
    return rc == -CAPDRV_ENOTSUP ? 0 : 1;
}

int main(void)
{
    int avail = io_uring_available();
    if (avail < 0)
        return 1;
    if (avail == 0) {
        printf("SKIP: io_uring is unavailable here (capdrv_sim_add_virtio_blk with a backing "
               "file returned -CAPDRV_ENOTSUP); file-backed virtio-blk not tested\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_then_pread),
        cmocka_unit_test(test_prefilled_read),
        cmocka_unit_test(test_large_transfer),
        cmocka_unit_test(test_flush),
        cmocka_unit_test(test_discard_and_write_zeroes),
        cmocka_unit_test(test_capacity_from_file),
        cmocka_unit_test(test_out_of_range_ioerr),
        cmocka_unit_test(test_oracle_checks_file_io),
        cmocka_unit_test(test_bad_backing_files),
        cmocka_unit_test(test_io_uring_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
