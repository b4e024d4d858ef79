/* qtest platform lifecycle: start QEMU, watch it, stop it.
 *
 * QEMU runs as a direct child with everything it needs passed as inherited
 * file descriptors, so nothing is left on disk:
 * - guest RAM: a memfd, `memory-backend-file,mem-path=/proc/self/fd/N,
 *   share=on`; on q35 the file offset is the guest physical address (below
 *   4 GiB, which is why RAM is limited to 2 GiB);
 * - firmware: a 64 KiB memfd holding `cli; hlt; jmp .-2` at the reset
 *   vector 0xfffffff0, so the vCPU idles instead of running a BIOS that
 *   would program the PCI devices behind our back;
 * - qtest: one end of a socketpair as `-chardev socket,fd=N`;
 * - QMP: one end of a second socketpair as `-chardev socket,fd=M
 *   -mon mode=control` (qtest_qmp.c speaks it);
 * - stderr: a memfd, read back to explain a failure.
 * Exec failure is reported through a close-on-exec pipe (the child writes
 * errno when execvp returns). */
#define _GNU_SOURCE
#include "qtest_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FW_SIZE 0x10000u       /* 64 KiB BIOS image, mapped below 4 GiB */
#define FW_RESET_OFF 0xfff0u   /* reset vector 0xfffffff0 (Intel SDM Vol. 3 §9.1.4) */
#define RAM_MIN ((size_t)16 << 20)
#define RAM_MAX ((size_t)2 << 30)
#define KILL_GRACE_MS 2000
#define DIE_GRACE_MS 100 /* after a broken stream, before SIGKILL */
#define MAX_ARGS 256u

static void say(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *why, size_t len, const char *fmt, ...)
{
    if (!why || len == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, len, fmt, ap);
    va_end(ap);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

void qt_stderr_tail(struct capdrv_qtest *q, char *buf, size_t len)
{
    if (!buf || len == 0)
        return;
    buf[0] = '\0';
    if (q->err_fd < 0)
        return;
    off_t end = lseek(q->err_fd, 0, SEEK_END);
    if (end <= 0)
        return;
    off_t from = end > (off_t)(len - 1) ? end - (off_t)(len - 1) : 0;
    ssize_t n = pread(q->err_fd, buf, len - 1, from);
    if (n <= 0)
        return;
    buf[n] = '\0';
    /* One line for a log message: newlines become "; ". */
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] == '\n' || buf[i] == '\r')
            buf[i] = i == n - 1 ? '\0' : ' ';
}

/* Describe how a reaped QEMU ended. */
static void describe_exit(struct capdrv_qtest *q, int status, char *out, size_t len)
{
    char err[256];
    qt_stderr_tail(q, err, sizeof err);
    if (WIFEXITED(status))
        snprintf(out, len, "QEMU exited with status %d%s%s", WEXITSTATUS(status),
                 err[0] ? ": " : "", err);
    else if (WIFSIGNALED(status))
        snprintf(out, len, "QEMU killed by signal %d%s%s", WTERMSIG(status), err[0] ? ": " : "",
                 err);
    else
        snprintf(out, len, "QEMU stopped");
}

bool qt_alive(struct capdrv_qtest *q)
{
    if (q->dead || q->pid <= 0)
        return false;
    int status = 0;
    pid_t r = waitpid(q->pid, &status, WNOHANG);
    if (r == 0)
        return true;
    if (r == q->pid) {
        q->pid = 0;
        q->dead = true;
        describe_exit(q, status, q->dead_why, sizeof q->dead_why);
    }
    return false;
}

/* Signal (unless @sig is 0), wait up to @grace_ms, then SIGKILL and reap.
 * Returns true if the SIGKILL was needed. */
static bool stop_qemu(struct capdrv_qtest *q, int sig, long grace_ms, int *status_out)
{
    bool killed = false;
    int status = 0;
    if (q->pid <= 0)
        return false;
    if (sig)
        kill(q->pid, sig);
    for (long waited = 0;; waited++) {
        pid_t r = waitpid(q->pid, &status, WNOHANG);
        if (r == q->pid || (r < 0 && errno != EINTR))
            break;
        if (waited >= grace_ms) {
            kill(q->pid, SIGKILL);
            killed = true;
            while (waitpid(q->pid, &status, 0) < 0 && errno == EINTR) {
            }
            break;
        }
        sleep_ms(1);
    }
    q->pid = 0;
    if (status_out)
        *status_out = status;
    return killed;
}

void qt_die(struct capdrv_qtest *q, const char *fmt, ...)
{
    if (q->dead)
        return;
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    /* The stream is out of step: no later reply could be trusted. */
    if (q->sock >= 0) {
        close(q->sock);
        q->sock = -1;
    }
    /* A QEMU that closed the stream is usually exiting: give it a moment
     * to say why before killing it. */
    int status = 0;
    if (stop_qemu(q, 0, DIE_GRACE_MS, &status)) {
        snprintf(q->dead_why, sizeof q->dead_why, "%s; QEMU killed by the platform", what);
    } else {
        char how[200];
        describe_exit(q, status, how, sizeof how);
        snprintf(q->dead_why, sizeof q->dead_why, "%s; %s", what, how);
    }
    q->dead = true;
}

/* Argument strings live in one arena; argv points into it. */
struct argv_build {
    const char *argv[MAX_ARGS + 1];
    unsigned n;
    char arena[2048];
    size_t used;
    bool overflow;
};

static void arg(struct argv_build *b, const char *s)
{
    if (b->n < MAX_ARGS)
        b->argv[b->n++] = s;
    else
        b->overflow = true;
}

static void argf(struct argv_build *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void argf(struct argv_build *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = sizeof b->arena - b->used;
    int n = vsnprintf(b->arena + b->used, room, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= room) {
        b->overflow = true;
        return;
    }
    arg(b, b->arena + b->used);
    b->used += (size_t)n + 1;
}

static int make_firmware(int fd, bool virt)
{
    static const uint8_t halt_loop[] = {0xfa, 0xf4, 0xeb, 0xfd}; /* cli; hlt; jmp .-3 */
    /* aarch64: wfi (0xd503207f); b .-4 (0x17ffffff), little-endian, at the
     * reset address 0 where virt maps the flash holding -bios. */
    static const uint8_t wfi_loop[] = {0x7f, 0x20, 0x03, 0xd5, 0xff, 0xff, 0xff, 0x17};
    uint8_t *img = calloc(1, FW_SIZE);
    if (!img)
        return -CAPDRV_ENOMEM;
    if (virt)
        memcpy(img, wfi_loop, sizeof wfi_loop);
    else
        memcpy(img + FW_RESET_OFF, halt_loop, sizeof halt_loop);
    ssize_t n = pwrite(fd, img, FW_SIZE, 0);
    free(img);
    return n == (ssize_t)FW_SIZE ? 0 : -CAPDRV_EIO;
}

static void child(const struct argv_build *b, int sock, int qmp, const struct capdrv_qtest *q,
                  int exec_w, int devnull, pid_t parent)
{
    /* Only async-signal-safe calls between fork and exec. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
        _exit(126);
    int keep[] = {sock, qmp, q->ram_fd, q->fw_fd};
    for (unsigned i = 0; i < sizeof keep / sizeof keep[0]; i++)
        if (keep[i] >= 0 && fcntl(keep[i], F_SETFD, 0) < 0)
            _exit(126);
    if (dup2(devnull, 0) < 0 || dup2(q->err_fd, 1) < 0 || dup2(q->err_fd, 2) < 0)
        _exit(126);
    execvp(b->argv[0], (char *const *)b->argv);
    int e = errno;
    ssize_t w = write(exec_w, &e, sizeof e);
    (void)w;
    _exit(127);
}

/* The QEMU command line: the machine, RAM, firmware, the caller's devices,
 * and either the qtest chardev on @qtest_fd and the QMP monitor on @qmp_fd
 * or (@dump) a device-tree dump to the file @dump, after which QEMU exits. */
static void build_args(struct argv_build *b, const struct capdrv_qtest *q,
                       const struct capdrv_qtest_config *cfg, int qtest_fd, int qmp_fd,
                       const char *dump)
{
    size_t mib = q->ram_bytes >> 20;
    const char *qemu = q->virt ? CAPDRV_QTEST_DEFAULT_QEMU_AARCH64 : CAPDRV_QTEST_DEFAULT_QEMU;
    arg(b, cfg && cfg->qemu ? cfg->qemu : qemu);
    arg(b, "-nodefaults");
    arg(b, "-display");
    arg(b, "none");
    arg(b, "-accel");
    arg(b, "tcg");
    arg(b, "-smp");
    arg(b, "1");
    arg(b, "-machine");
    if (!q->virt)
        arg(b, "q35,memory-backend=capdrv-ram");
    else if (!dump)
        arg(b, "virt,memory-backend=capdrv-ram");
    else
        argf(b, "virt,memory-backend=capdrv-ram,dumpdtb=%s", dump);
    if (q->virt) {
        arg(b, "-cpu");
        arg(b, "cortex-a57");
        /* virtio-mmio version 2 (VIRTIO 1.2 §4.2); QEMU defaults to legacy. */
        arg(b, "-global");
        arg(b, "virtio-mmio.force-legacy=false");
    }
    arg(b, "-m");
    if (q->dma_fds) /* room for the DMA regions' DIMMs (qtest_dimm.c) */
        argf(b, "%zuM,slots=%u,maxmem=%zuM", mib, QT_DIMM_SLOTS, mib + QT_DIMM_MIB);
    else
        argf(b, "%zuM", mib);
    arg(b, "-object");
    argf(b, "memory-backend-file,id=capdrv-ram,size=%zuM,mem-path=/proc/self/fd/%d,share=on", mib,
         q->ram_fd);
    arg(b, "-bios");
    argf(b, "/proc/self/fd/%d", q->fw_fd);
    if (!dump) {
        arg(b, "-chardev");
        argf(b, "socket,id=capdrv-qtest,fd=%d", qtest_fd);
        arg(b, "-object");
        arg(b, "qtest,id=capdrv-qt,chardev=capdrv-qtest,log=/dev/null");
        arg(b, "-chardev");
        argf(b, "socket,id=capdrv-qmp,fd=%d", qmp_fd);
        arg(b, "-mon");
        arg(b, "chardev=capdrv-qmp,mode=control");
    }
    if (q->iommu) {
        /* Before any PCI device, as QEMU requires; no interrupt remapping
         * (MSI-X writes go to cookie slots in RAM, see qtest_iommu.c). */
        arg(b, "-device");
        arg(b, "intel-iommu,aw-bits=48,intremap=off");
    }
    for (unsigned i = 0; cfg && cfg->device_args && cfg->device_args[i]; i++)
        arg(b, cfg->device_args[i]);
}

/* aarch64 virt: run QEMU once with -machine virt,dumpdtb=FILE (it exits
 * after writing the tree), bounded by timeout_ms, and read the blob into
 * @blob (malloc'ed, 8-byte aligned). QEMU writes the file itself (with a
 * rename), so it goes to a private temporary directory, removed after. */
static int dump_dtb(struct capdrv_qtest *q, const struct capdrv_qtest_config *cfg, void **blob,
                    size_t *len, char *why, size_t why_len)
{
    const char *tmp = getenv("TMPDIR");
    char dir[256], path[280];
    snprintf(dir, sizeof dir, "%s/capdrv-qtest-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        say(why, why_len, "qtest: cannot create a directory for the DTB: %s", strerror(errno));
        return -CAPDRV_EIO;
    }
    snprintf(path, sizeof path, "%s/virt.dtb", dir);
    int rc = 0, devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    struct argv_build *b = calloc(1, sizeof *b);
    if (!b || devnull < 0) {
        rc = -CAPDRV_ENOMEM;
        goto out;
    }
    build_args(b, q, cfg, -1, -1, path);
    if (b->overflow) {
        say(why, why_len, "qtest: too many or too long QEMU arguments");
        rc = -CAPDRV_EINVAL;
        goto out;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        say(why, why_len, "qtest: fork: %s", strerror(errno));
        rc = -CAPDRV_EIO;
        goto out;
    }
    if (pid == 0)
        child(b, -1, -1, q, -1, devnull, parent);
    int status = 0;
    bool done = false;
    for (int64_t waited = 0; waited <= q->timeout_ms && !done; waited++) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid || (r < 0 && errno != EINTR))
            done = true;
        else
            sleep_ms(1);
    }
    if (!done) {
        kill(pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        say(why, why_len, "qtest: QEMU did not dump its device tree within %" PRId64 " ms",
            q->timeout_ms);
        rc = -CAPDRV_ETIMEDOUT;
        goto out;
    }
    if (!WIFEXITED(status) || (WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != 1)) {
        char err[256];
        qt_stderr_tail(q, err, sizeof err);
        say(why, why_len, "qtest: cannot dump the virt device tree (%s%s%s)",
            WIFEXITED(status) && WEXITSTATUS(status) >= 126 ? "cannot execute QEMU"
                                                            : "QEMU failed",
            err[0] ? ": " : "", err);
        rc = WIFEXITED(status) && WEXITSTATUS(status) >= 126 ? -CAPDRV_ENOENT : -CAPDRV_EIO;
        goto out;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    off_t size = fd >= 0 ? lseek(fd, 0, SEEK_END) : -1;
    /* QEMU pads the blob to 1 MiB; anything larger is not its tree. */
    if (size <= 0 || size > (off_t)(4 << 20)) {
        if (fd >= 0)
            close(fd);
        say(why, why_len, "qtest: QEMU wrote no usable device tree");
        rc = -CAPDRV_EIO;
        goto out;
    }
    void *buf = aligned_alloc(8, ((size_t)size + 7u) & ~(size_t)7u);
    ssize_t n = buf ? pread(fd, buf, (size_t)size, 0) : -1;
    close(fd);
    if (n != (ssize_t)size) {
        free(buf);
        say(why, why_len, "qtest: cannot read the device tree");
        rc = -CAPDRV_EIO;
        goto out;
    }
    *blob = buf;
    *len = (size_t)size;
out:
    unlink(path);
    rmdir(dir);
    if (devnull >= 0)
        close(devnull);
    free(b);
    return rc;
}

static int spawn(struct capdrv_qtest *q, const struct capdrv_qtest_config *cfg, char *why,
                 size_t why_len)
{
    int sv[2] = {-1, -1}, mv[2] = {-1, -1}, ep[2] = {-1, -1}, devnull = -1, rc = 0;
    struct argv_build *b = calloc(1, sizeof *b);
    if (!b)
        return -CAPDRV_ENOMEM;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, mv) < 0 || pipe2(ep, O_CLOEXEC) < 0 ||
        (devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0) {
        say(why, why_len, "qtest: cannot create sockets or pipes: %s", strerror(errno));
        rc = -CAPDRV_EIO;
        goto out;
    }
    build_args(b, q, cfg, sv[1], mv[1], NULL);
    if (b->overflow) {
        say(why, why_len, "qtest: too many or too long QEMU arguments");
        rc = -CAPDRV_EINVAL;
        goto out;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        say(why, why_len, "qtest: fork: %s", strerror(errno));
        rc = -CAPDRV_EIO;
        goto out;
    }
    if (pid == 0)
        child(b, sv[1], mv[1], q, ep[1], devnull, parent);
    q->pid = pid;
    q->sock = sv[0];
    sv[0] = -1;
    q->qmp_sock = mv[0];
    mv[0] = -1;
    close(ep[1]);
    ep[1] = -1;
    /* The pipe closes at exec (success) or carries errno (failure). */
    struct pollfd p = {.fd = ep[0], .events = POLLIN};
    int e = 0;
    if (poll(&p, 1, (int)q->timeout_ms) <= 0) {
        say(why, why_len, "qtest: QEMU did not start within %" PRId64 " ms", q->timeout_ms);
        rc = -CAPDRV_ETIMEDOUT;
    } else if (read(ep[0], &e, sizeof e) == (ssize_t)sizeof e) {
        say(why, why_len, "qtest: cannot execute %s: %s", b->argv[0], strerror(e));
        rc = -CAPDRV_ENOENT;
    }
out:
    for (int i = 0; i < 2; i++) {
        if (sv[i] >= 0)
            close(sv[i]);
        if (mv[i] >= 0)
            close(mv[i]);
        if (ep[i] >= 0)
            close(ep[i]);
    }
    if (devnull >= 0)
        close(devnull);
    free(b);
    return rc;
}

static int check_config(const struct capdrv_qtest_config *cfg, size_t *ram, int64_t *timeout,
                        char *why, size_t why_len)
{
    *ram = cfg && cfg->ram_bytes ? cfg->ram_bytes : CAPDRV_QTEST_DEFAULT_RAM;
    *timeout = cfg && cfg->timeout_ms > 0 ? cfg->timeout_ms : CAPDRV_QTEST_DEFAULT_TIMEOUT_MS;
    if (*ram < RAM_MIN || *ram > RAM_MAX || *ram % ((size_t)1 << 20) != 0) {
        say(why, why_len, "qtest: ram_bytes must be a multiple of 1 MiB in 16 MiB..2 GiB");
        return -CAPDRV_EINVAL;
    }
    if (cfg && cfg->machine && strcmp(cfg->machine, "q35") != 0 &&
        strcmp(cfg->machine, "virt") != 0) {
        say(why, why_len, "qtest: machine must be \"q35\" or \"virt\"");
        return -CAPDRV_EINVAL;
    }
    if (cfg && cfg->iommu && cfg->machine && strcmp(cfg->machine, "virt") == 0) {
        say(why, why_len, "qtest: iommu is for q35 (intel-iommu)");
        return -CAPDRV_EINVAL;
    }
    if (cfg && cfg->dma_fds && cfg->machine && strcmp(cfg->machine, "virt") == 0) {
        say(why, why_len, "qtest: dma_fds is for q35 (ACPI memory hotplug)");
        return -CAPDRV_EINVAL;
    }
    if (*timeout > INT32_MAX) {
        say(why, why_len, "qtest: timeout_ms too large");
        return -CAPDRV_EINVAL;
    }
    for (unsigned i = 0; cfg && cfg->device_args && cfg->device_args[i]; i++) {
        /* QEMU parses the string itself; an empty one is a usage error
         * that would only surface as an exit. */
        if (!cfg->device_args[i][0]) {
            say(why, why_len, "qtest: device_args[%u] is empty", i);
            return -CAPDRV_EINVAL;
        }
    }
    return 0;
}

static void release(struct capdrv_qtest *q)
{
    if (q->sock >= 0)
        close(q->sock);
    q->sock = -1;
    if (q->qmp_sock >= 0)
        close(q->qmp_sock);
    q->qmp_sock = -1;
    free(q->qmp_buf);
    /* SIGTERM lets QEMU flush its disk images. */
    stop_qemu(q, SIGTERM, q->timeout_ms < KILL_GRACE_MS ? (long)q->timeout_ms : KILL_GRACE_MS,
              NULL);
    qt_dma_fini(q);
    for (unsigned i = 0; i < q->n_fns; i++)
        free(q->fns[i].maps);
    if (q->ram && q->ram != MAP_FAILED)
        munmap(q->ram, q->ram_bytes);
    int fds[] = {q->ram_fd, q->fw_fd, q->err_fd};
    for (unsigned i = 0; i < 3; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    pthread_mutex_destroy(&q->lock);
    pthread_mutex_destroy(&q->qmp_lock);
    free(q);
}

int capdrv_qtest_create(const struct capdrv_qtest_config *cfg, struct capdrv_qtest **out,
                        char *why, size_t why_len)
{
    say(why, why_len, "%s", "");
    if (!out) {
        say(why, why_len, "qtest: out is NULL");
        return -CAPDRV_EINVAL;
    }
    *out = NULL;
    size_t ram;
    int64_t timeout;
    int rc = check_config(cfg, &ram, &timeout, why, why_len);
    if (rc < 0)
        return rc;
    struct capdrv_qtest *q = calloc(1, sizeof *q);
    if (!q)
        return -CAPDRV_ENOMEM;
    q->sock = q->qmp_sock = q->ram_fd = q->fw_fd = q->err_fd = -1;
    q->ram_bytes = ram;
    q->timeout_ms = timeout;
    q->next_bar = CAPDRV_QTEST_BAR_BASE;
    q->next_id = 1;
    q->virt = cfg && cfg->machine && strcmp(cfg->machine, "virt") == 0;
    q->iommu = cfg && cfg->iommu;
    q->dma_fds = cfg && cfg->dma_fds;
    q->ram_gpa = q->virt ? CAPDRV_QTEST_VIRT_RAM_BASE : 0;
    if (pthread_mutex_init(&q->lock, NULL) != 0) {
        free(q);
        return -CAPDRV_ENOMEM;
    }
    if (pthread_mutex_init(&q->qmp_lock, NULL) != 0) {
        pthread_mutex_destroy(&q->lock);
        free(q);
        return -CAPDRV_ENOMEM;
    }
    q->ram_fd = memfd_create("capdrv-qtest-ram", MFD_CLOEXEC);
    q->fw_fd = memfd_create("capdrv-qtest-fw", MFD_CLOEXEC);
    q->err_fd = memfd_create("capdrv-qtest-stderr", MFD_CLOEXEC);
    if (q->ram_fd < 0 || q->fw_fd < 0 || q->err_fd < 0 || ftruncate(q->ram_fd, (off_t)ram) < 0 ||
        make_firmware(q->fw_fd, q->virt) < 0) {
        say(why, why_len, "qtest: cannot create guest memory: %s", strerror(errno));
        release(q);
        return -CAPDRV_ENOMEM;
    }
    q->ram = mmap(NULL, ram, PROT_READ | PROT_WRITE, MAP_SHARED, q->ram_fd, 0);
    if (q->ram == MAP_FAILED) {
        q->ram = NULL;
        say(why, why_len, "qtest: cannot map guest memory: %s", strerror(errno));
        release(q);
        return -CAPDRV_ENOMEM;
    }
    void *dtb = NULL;
    size_t dtb_len = 0;
    rc = q->virt ? dump_dtb(q, cfg, &dtb, &dtb_len, why, why_len) : 0;
    if (rc == 0)
        rc = spawn(q, cfg, why, why_len);
    if (rc == 0) {
        pthread_mutex_lock(&q->lock);
        rc = q->virt ? qt_virt_enumerate(q, dtb, dtb_len, why, why_len)
                     : qt_pci_enumerate(q, why, why_len);
        if (rc == 0 && q->iommu)
            rc = qt_iommu_init(q, why, why_len);
        if (rc < 0 && q->dead)
            say(why, why_len, "qtest: %s", q->dead_why);
        pthread_mutex_unlock(&q->lock);
    }
    free(dtb);
    if (rc < 0) {
        release(q);
        return rc;
    }
    *out = q;
    return 0;
}

void capdrv_qtest_destroy(struct capdrv_qtest *q)
{
    if (q)
        release(q);
}

int capdrv_qtest_status(struct capdrv_qtest *q, char *why, size_t why_len)
{
    if (!q)
        return -CAPDRV_EINVAL;
    pthread_mutex_lock(&q->lock);
    bool alive = qt_alive(q);
    if (!alive)
        say(why, why_len, "%s", q->dead_why[0] ? q->dead_why : "QEMU is not running");
    pthread_mutex_unlock(&q->lock);
    return alive ? 0 : -CAPDRV_EIO;
}

int capdrv_qtest_find_mmio(const struct capdrv_qtest *q, uint64_t base, unsigned *fn)
{
    if (!q || !fn)
        return -CAPDRV_EINVAL;
    for (unsigned i = 0; i < q->n_fns; i++) {
        if (q->fns[i].info.kind == CAPDRV_HW_FN_MMIO && q->fns[i].info.mmio_base == base) {
            *fn = i;
            return 0;
        }
    }
    return -CAPDRV_ENOENT;
}

int capdrv_qtest_find(const struct capdrv_qtest *q, const struct capdrv_pci_addr *addr,
                      unsigned *fn)
{
    if (!q || !addr || !fn)
        return -CAPDRV_EINVAL;
    for (unsigned i = 0; i < q->n_fns; i++) {
        if (q->fns[i].info.kind != CAPDRV_HW_FN_PCI)
            continue;
        const struct capdrv_pci_addr *a = &q->fns[i].info.addr;
        if (a->domain == addr->domain && a->bus == addr->bus && a->dev == addr->dev &&
            a->fn == addr->fn) {
            *fn = i;
            return 0;
        }
    }
    return -CAPDRV_ENOENT;
}

static bool ram_range(const struct capdrv_qtest *q, uint64_t gpa, size_t len)
{
    return gpa >= q->ram_gpa && gpa - q->ram_gpa <= q->ram_bytes &&
           len <= q->ram_bytes - (gpa - q->ram_gpa);
}

int capdrv_qtest_ram_read(const struct capdrv_qtest *q, uint64_t gpa, void *buf, size_t len)
{
    if (!q || (!buf && len))
        return -CAPDRV_EINVAL;
    if (!ram_range(q, gpa, len))
        return -CAPDRV_EFAULT;
    if (len)
        memcpy(buf, qt_ram_at(q, gpa), len);
    return 0;
}

int capdrv_qtest_ram_write(struct capdrv_qtest *q, uint64_t gpa, const void *buf, size_t len)
{
    if (!q || (!buf && len))
        return -CAPDRV_EINVAL;
    if (!ram_range(q, gpa, len))
        return -CAPDRV_EFAULT;
    if (len)
        memcpy(qt_ram_at(q, gpa), buf, len);
    return 0;
}

unsigned capdrv_qtest_reset_count(struct capdrv_qtest *q, unsigned fn)
{
    if (!q)
        return 0;
    pthread_mutex_lock(&q->lock);
    const struct qt_fn *f = qt_fn_get(q, fn);
    unsigned n = f ? f->reset_count : 0;
    pthread_mutex_unlock(&q->lock);
    return n;
}

enum capdrv_qtest_reset capdrv_qtest_reset_method(struct capdrv_qtest *q, unsigned fn)
{
    if (!q)
        return CAPDRV_QTEST_RESET_NONE;
    const struct qt_fn *f = qt_fn_get(q, fn);
    return f ? qt_reset_method(f) : CAPDRV_QTEST_RESET_NONE;
}
