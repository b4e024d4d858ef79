/* Conformance platform "qtest-virt": QEMU's aarch64 `virt` machine over
 * qtest (capdrv/qtest.h, machine "virt"), with a virtio-blk-device behind
 * virtio-mmio version 2 (VIRTIO 1.2 §4.2), discovered by the platform from
 * QEMU's own device tree. A fresh QEMU and a fresh 4 MiB raw image per case.
 *
 * Grant "vmblk" is that disk (the first -device lands on the highest of
 * the 32 transports, 0x0a003e00, GIC SPI 47); provider "other" holds
 * "bystander", a virtio-rng-device at the next transport (0x0a003c00), so
 * that it exists as a provider. Every other grant SKIPs. Brokered lane
 * only (no IOMMU). Observer hooks: guest-RAM canaries as the DMA observer
 * (qtest_oracle.h: device writes into freed memory and guard pages);
 * "advance" sleeps (device time is real time); device_reg reads the register region; reset_count
 * counts function_reset(). The interrupt line is sampled through
 * InterruptStatus (see capdrv/qtest.h for why). */
#define _GNU_SOURCE
#include "../conf.h"
#include "qtest_oracle.h"
#include "qtest_wire.h"

#include <capdrv/qtest.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DISK_BYTES (4 << 20)
#define VMBLK_BASE 0x0a003e00ull
#define RNG_BASE 0x0a003c00ull
#define VMNET_BASE 0x0a003a00ull
#define VMNET_MAC "52:54:00:ca:fe:0a"
#define SETUP_TRIES 3 /* fresh ports when QEMU lost the race for P2 */

struct qv_plat {
    struct capdrv_env *env;
    struct capdrv_qtest *q;
    unsigned fn_vmblk, fn_rng, fn_vmnet;
    int wire; /* the harness's end of vmnet's netdev, -1 when none */
};

static const char *const qv_grants[] = {"vmblk", "vmnet", NULL};

/* One attempt: a fresh disk, a fresh wire, QEMU. The first -device lands
 * on the highest virtio-mmio transport, the next ones below it. */
static int start_qemu(struct qv_plat *p, char *why, size_t why_len)
{
    uint16_t p1 = 0, p2 = 0;
    if (conf_wire_open(&p->wire, &p1, &p2) < 0) {
        snprintf(why, why_len, "cannot open a UDP socket on loopback: %s", strerror(errno));
        return -CAPDRV_EIO;
    }
    const char *dir = getenv("TMPDIR");
    char disk[256], drive[320], netdev[128];
    snprintf(disk, sizeof disk, "%s/capdrv-qtest-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(disk);
    if (fd < 0 || ftruncate(fd, DISK_BYTES) != 0) {
        if (fd >= 0) {
            close(fd);
            unlink(disk);
        }
        snprintf(why, why_len, "cannot create a disk image: %s", strerror(errno));
        return -CAPDRV_EIO;
    }
    close(fd);
    snprintf(drive, sizeof drive, "if=none,id=d0,file=%s,format=raw", disk);
    snprintf(netdev, sizeof netdev, "socket,id=n0,udp=127.0.0.1:%u,localaddr=127.0.0.1:%u",
             (unsigned)p1, (unsigned)p2);
    const char *const args[] = {"-drive", drive, "-device", "virtio-blk-device,drive=d0",
                                "-device", "virtio-rng-device", "-netdev", netdev, "-device",
                                "virtio-net-device,netdev=n0,mac=" VMNET_MAC, NULL};
    struct capdrv_qtest_config qc = {.device_args = args, .machine = "virt"};
    int rc = capdrv_qtest_create(&qc, &p->q, why, why_len);
    unlink(disk); /* QEMU holds it open from here on */
    return rc;
}

static int qv_setup(struct conf_ctx *c, enum capdrv_lane lane, char *why, size_t why_len)
{
    if (lane == CAPDRV_LANE_DIRECT) {
        snprintf(why, why_len, "QEMU puts no IOMMU in front of virtio-mmio devices (smmuv3 and virtio-iommu-pci on virt translate PCI requesters only): the direct lane cannot run");
        return -CAPDRV_ENOTSUP;
    }
    struct qv_plat *p = calloc(1, sizeof *p);
    if (!p)
        return -CAPDRV_ENOMEM;
    p->wire = -1;
    c->pdata = p;
    struct capdrv_env_hosted_opts eo = {.log_level = -1};
    if (!(p->env = capdrv_env_hosted_new(&eo)))
        return -CAPDRV_ENOMEM;
    int rc = -CAPDRV_EIO;
    for (int t = 0; t < SETUP_TRIES; t++) {
        rc = start_qemu(p, why, why_len);
        /* Only a lost race for P2 is worth another try (qtest_wire.h). */
        if (rc != -CAPDRV_EIO || !strstr(why, "in use"))
            break;
        conf_wire_close(&p->wire);
    }
    if (rc == -CAPDRV_ENOENT)
        return -CAPDRV_ENOTSUP; /* no qemu-system-aarch64 here: SKIP, with why */
    if (rc < 0)
        return rc;
    if ((rc = capdrv_qtest_find_mmio(p->q, VMBLK_BASE, &p->fn_vmblk)) < 0 ||
        (rc = capdrv_qtest_find_mmio(p->q, RNG_BASE, &p->fn_rng)) < 0 ||
        (rc = capdrv_qtest_find_mmio(p->q, VMNET_BASE, &p->fn_vmnet)) < 0) {
        snprintf(why, why_len,
                 "QEMU's device tree shows no virtio-mmio device at %#llx/%#llx/%#llx",
                 (unsigned long long)VMBLK_BASE, (unsigned long long)RNG_BASE,
                 (unsigned long long)VMNET_BASE);
        return rc;
    }
    return conf_shim_start(c, p->env, capdrv_qtest_hw(p->q), "qtest-virt-brokered", why,
                           why_len);
}

static void qv_teardown(struct conf_ctx *c)
{
    struct qv_plat *p = c->pdata;
    conf_shim_stop(c);
    if (p) {
        capdrv_qtest_destroy(p->q);
        conf_wire_close(&p->wire);
        capdrv_env_hosted_free(p->env);
        free(p);
    }
    c->pdata = NULL;
}

static int qv_device_reg(struct conf_ctx *c, const char *grant, uint64_t off, unsigned width,
                         uint64_t *val)
{
    struct qv_plat *p = c->pdata;
    if (strcmp(grant, "vmblk") != 0)
        return -CAPDRV_ENOENT;
    struct capdrv_hw hw = capdrv_qtest_hw(p->q);
    return hw.ops->bar_read(hw.ctx, p->fn_vmblk, 0, off, width, val);
}

static long qv_violations(struct conf_ctx *c)
{
    struct qv_plat *p = c->pdata;
    return conf_qtest_violations(p->q);
}

static long qv_escaped(struct conf_ctx *c)
{
    struct qv_plat *p = c->pdata;
    return conf_qtest_escaped(p->q);
}

static unsigned qv_reset_count(struct conf_ctx *c, const char *grant)
{
    struct qv_plat *p = c->pdata;
    return !strcmp(grant, "vmblk")   ? capdrv_qtest_reset_count(p->q, p->fn_vmblk)
           : !strcmp(grant, "vmnet") ? capdrv_qtest_reset_count(p->q, p->fn_vmnet)
                                     : 0;
}

/* The wire of "vmnet" (qtest_wire.h). */
static int qv_net_inject(struct conf_ctx *c, const char *grant, const void *frame, size_t len)
{
    struct qv_plat *p = c->pdata;
    return strcmp(grant, "vmnet") ? -CAPDRV_ENOENT : conf_wire_inject(p->wire, frame, len);
}

static int qv_net_take(struct conf_ctx *c, const char *grant, void *buf, size_t cap, size_t *len)
{
    struct qv_plat *p = c->pdata;
    return strcmp(grant, "vmnet") ? -CAPDRV_ENOENT : conf_wire_take(p->wire, buf, cap, len);
}

const struct conf_platform conf_platform_qtest_virt = {
    .name = "qtest-virt",
    .setup = qv_setup,
    .teardown = qv_teardown,
    .oracle_violations = qv_violations, /* canaries: no IOMMU on virt */
    .dma_escaped = qv_escaped,         /* canaries */
    .advance = conf_advance_realtime, /* QEMU/hardware run in real time */
    .device_reg = qv_device_reg,
    .reset_count = qv_reset_count,
    .net_inject = qv_net_inject,
    .net_take = qv_net_take,
    .grants = qv_grants,
};
