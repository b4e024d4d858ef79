/* Conformance platform "qtest": QEMU's real virtio-blk-pci on q35, driven
 * over qtest (include/capdrv/qtest.h). A fresh QEMU (and a fresh 4 MiB raw
 * disk image, unlinked as soon as QEMU has it open) per case.
 *
 * Only grant "vblk" exists for the cases; cases needing the dmatest grants
 * SKIP. Provider "other" holds a grant no case uses (qtest-brokered.dts). Brokered
 * lane only: there is no IOMMU, so --lane direct SKIPs every case.
 * Observer hooks: no DMA oracle (QEMU's devices reach all guest RAM; the
 * later substitute is a canary check of guest RAM outside the ledger via
 * capdrv_qtest_ram_read()); "advance" sleeps, because device time on QEMU is
 * real time; device_reg reads BAR4, where this machine's virtio registers
 * live (the sim has them in BAR0); reset_count counts function_reset(). */
#define _GNU_SOURCE
#include "../conf.h"

#include <capdrv/qtest.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DISK_BYTES (4 << 20)
#define VBLK_BAR 4u

struct qtest_plat {
    struct capdrv_env *env;
    struct capdrv_qtest *q;
    unsigned fn_vblk;
};

static const char *const qtest_grants[] = {"vblk", NULL};

static void *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    char *buf = NULL;
    if (fseek(fp, 0, SEEK_END) == 0) {
        long n = ftell(fp);
        if (n > 0 && fseek(fp, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n)) &&
            fread(buf, 1, (size_t)n, fp) != (size_t)n) {
            free(buf);
            buf = NULL;
        }
        *len = n > 0 ? (size_t)n : 0;
    }
    fclose(fp);
    return buf;
}

/* A sparse raw image in TMPDIR; the caller unlinks it once QEMU has it. */
static int make_disk(char *path, size_t len)
{
    const char *dir = getenv("TMPDIR");
    snprintf(path, len, "%s/capdrv-qtest-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0)
        return -CAPDRV_EIO;
    int rc = ftruncate(fd, DISK_BYTES) == 0 ? 0 : -CAPDRV_EIO;
    close(fd);
    if (rc < 0)
        unlink(path);
    return rc;
}

static int qtest_setup(struct conf_ctx *c, enum capdrv_lane lane, char *why, size_t why_len)
{
    if (lane == CAPDRV_LANE_DIRECT) {
        snprintf(why, why_len, "no IOMMU on the qtest machine: the direct lane cannot run");
        return -CAPDRV_ENOTSUP;
    }
    struct qtest_plat *p = calloc(1, sizeof *p);
    if (!p)
        return -CAPDRV_ENOMEM;
    c->pdata = p;
    struct capdrv_env_hosted_opts eo = {.log_level = -1};
    if (!(p->env = capdrv_env_hosted_new(&eo)))
        return -CAPDRV_ENOMEM;
    char disk[256], drive[320];
    int rc = make_disk(disk, sizeof disk);
    if (rc < 0) {
        snprintf(why, why_len, "cannot create a disk image: %s", strerror(errno));
        return rc;
    }
    snprintf(drive, sizeof drive, "if=none,id=d0,file=%s,format=raw", disk);
    const char *const args[] = {"-drive", drive, "-device",
                                "virtio-blk-pci,drive=d0,disable-legacy=on,addr=06.0", NULL};
    struct capdrv_qtest_config qc = {.device_args = args};
    rc = capdrv_qtest_create(&qc, &p->q, why, why_len);
    unlink(disk); /* QEMU holds it open from here on */
    if (rc == -CAPDRV_ENOENT)
        return -CAPDRV_ENOTSUP; /* no QEMU on this machine: SKIP, with why */
    if (rc < 0)
        return rc;
    struct capdrv_pci_addr a6 = {0, 0, 6, 0};
    if ((rc = capdrv_qtest_find(p->q, &a6, &p->fn_vblk)) < 0) {
        snprintf(why, why_len, "QEMU shows no function at 00:06.0");
        return rc;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/qtest-brokered.dtb", CONF_MANIFEST_DIR);
    size_t len = 0;
    void *blob = slurp(path, &len);
    if (!blob) {
        snprintf(why, why_len, "cannot read manifest %s", path);
        return -CAPDRV_ENOENT;
    }
    struct capdrv_shim_config sc = {.env = p->env, .hw = capdrv_qtest_hw(p->q), .manifest = blob,
                                    .manifest_len = len};
    rc = capdrv_shim_create(&sc, &c->shim, why, why_len);
    free(blob);
    if (rc == 0 && (rc = capdrv_shim_connect(c->shim, "conf", &c->conf)) == 0)
        rc = capdrv_shim_connect(c->shim, "other", &c->other);
    return rc;
}

static void qtest_teardown(struct conf_ctx *c)
{
    struct qtest_plat *p = c->pdata;
    capdrv_sys_close(c->conf);
    capdrv_sys_close(c->other);
    capdrv_shim_destroy(c->shim);
    c->conf = c->other = NULL;
    c->shim = NULL;
    if (p) {
        capdrv_qtest_destroy(p->q);
        capdrv_env_hosted_free(p->env);
        free(p);
    }
    c->pdata = NULL;
}

/* QEMU's devices run in real time: letting device time pass is sleeping. */
static void qtest_advance(struct conf_ctx *c, uint64_t ns)
{
    (void)c;
    struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000u), .tv_nsec = (long)(ns % 1000000000u)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

static int qtest_device_reg(struct conf_ctx *c, const char *grant, uint64_t off, unsigned width,
                            uint64_t *val)
{
    struct qtest_plat *p = c->pdata;
    if (strcmp(grant, "vblk") != 0)
        return -CAPDRV_ENOENT;
    struct capdrv_hw hw = capdrv_qtest_hw(p->q);
    return hw.ops->bar_read(hw.ctx, p->fn_vblk, VBLK_BAR, off, width, val);
}

static unsigned qtest_reset_count(struct conf_ctx *c, const char *grant)
{
    struct qtest_plat *p = c->pdata;
    return strcmp(grant, "vblk") ? 0 : capdrv_qtest_reset_count(p->q, p->fn_vblk);
}

const struct conf_platform conf_platform_qtest = {
    .name = "qtest",
    .setup = qtest_setup,
    .teardown = qtest_teardown,
    .oracle_violations = NULL,
    .advance = qtest_advance,
    .device_reg = qtest_device_reg,
    .reset_count = qtest_reset_count,
    .grants = qtest_grants,
};
