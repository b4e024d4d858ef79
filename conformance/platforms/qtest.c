/* Conformance platform "qtest": QEMU's real virtio-blk-pci, virtio-net-pci
 * and nvme on q35, driven over qtest (include/capdrv/qtest.h). A fresh QEMU
 * (and fresh 4 MiB raw disk images, unlinked as soon as QEMU has them open)
 * per case.
 *
 * Grants "vblk", "vnet" and "nvme" exist for the cases (the NVMe
 * controller's registers are in BAR0, so device_reg reads BAR0 for it).
 * There is no dmatest: the authority, dma and irq cases use "nvme" as their
 * DMA engine (cases/engine.h). Provider "other" holds "bystander", the
 * any-function grant of the authority cases (qtest-machine.dtsi). Both
 * lanes: the brokered lane on a plain q35; the direct lane on a q35 with
 * intel-iommu, which the qtest platform programs (capdrv_qtest_config::
 * iommu), with iommu_platform=on on the virtio devices so that their DMA
 * goes through it (QEMU's nvme always does).
 * Observer hooks: "dma_escaped" counts device writes into guest RAM
 * nobody owns - freed DMA regions and guard pages - through the platform's
 * canaries (qtest_oracle.h; without the IOMMU QEMU's devices reach all
 * guest RAM, so this stands in for the sim's oracle, writes only);
 * "oracle_violations" adds the accesses the IOMMU refused (direct lane,
 * capdrv_qtest_iommu_faults()); "advance" sleeps, because
 * device time on QEMU is real time; device_reg reads BAR4, where this machine's virtio registers
 * live (the sim has them in BAR0); reset_count counts function_reset().
 *
 * The wire of "vnet": QEMU's socket netdev in UDP mode
 * (`-netdev socket,udp=127.0.0.1:P1,localaddr=127.0.0.1:P2`), loopback only.
 * The harness binds P1 before QEMU starts and connects that socket to P2,
 * so it hears only QEMU. One datagram carries one Ethernet frame, without
 * the virtio-net header (the socket backend has no vnet header; QEMU adds
 * and strips it, VIRTIO 1.2 §5.1.6). net_inject sends a datagram; net_take
 * waits at most CONF_WIRE_POLL_NS for one (qtest_wire.h). The socket netdev neither pads nor
 * drops short frames, so frames travel exactly as the cases build them.
 * Frames wait in the kernel's socket buffers while the device has no
 * receive buffer (QEMU stops reading the socket then). virtio-net moves
 * packets only while the VM runs, which the platform's halt-loop firmware
 * provides. P2 is found by binding port 0 and closing the socket again;
 * should another process take it in between, QEMU fails to bind and setup
 * retries with fresh ports.
 *
 * nvme_stall: QEMU's block layer holds the commands. QEMU's NVMe
 * controller (hw/nvme/ctrl.c) fetches every rung command from its SQ and
 * hands the read or write to the namespace's drive ("d1") as asynchronous
 * I/O; the CQE is posted only when that I/O completes. Stalling puts an
 * I/O throttle on that drive over QMP (`block_set_io_throttle device=d1
 * bps=1`, one byte per second for reads and writes together) and then
 * fills the throttle's bucket with one 1 MiB read of the drive's own
 * (HMP `qemu-io d1 "read 0 1M"`; the device sees nothing of it). A
 * throttle lets the first request in an empty bucket through, which is why
 * the bucket is filled first. From then on every request the controller
 * submits waits in QEMU's throttle queue for about 2^20 seconds (12 days):
 * the controller has taken the command and holds it, incomplete. QEMU's
 * controller reset (CC.EN 1 -> 0, NVMe Base 2.0 §3.7.2) drains the
 * namespace's drive first; a drain lifts the throttle
 * (blk_root_drained_begin restarts throttled requests), so the held I/O
 * finishes inside QEMU during the reset, and its completion is dropped
 * with the queues the reset deletes: nothing reaches the host's CQ, and
 * the driver must complete those commands itself. Unstalling removes the
 * throttle (all limits 0), which releases anything still held.
 * The stall is per drive, not per queue: @qid is not used. That is
 * equivalent for the case that uses it: it stalls the one I/O queue pair
 * it submits on, and admin commands never touch the drive.
 * blkdebug breakpoints (`qemu-io d1 "break read_aio tag"`) would hold
 * requests too, but a suspended blkdebug request is not released by a
 * drain: the CC.EN=0 write would block QEMU's main loop forever (no qtest
 * or QMP command is served during a drain, so nothing could resume it). */
#define _GNU_SOURCE
#include "../conf.h"
#include "qtest_oracle.h"
#include "qtest_wire.h"

#include <capdrv/qtest.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DISK_BYTES (4 << 20)
#define VBLK_BAR 4u
#define VNET_BAR 4u                /* QEMU's virtio-pci modern puts the structures in BAR4 */
#define NVME_BAR 0u                /* QEMU's nvme: registers and doorbells in BAR0 */
#define VNET_MAC "52:54:00:ca:fe:07"
#define SETUP_TRIES 3              /* fresh ports when QEMU lost the race for P2 */

struct qtest_plat {
    struct capdrv_env *env;
    struct capdrv_qtest *q;
    unsigned fn_vblk, fn_vnet, fn_nvme;
    int wire; /* UDP socket bound to P1, connected to QEMU's P2; -1 when none */
};

static const char *const qtest_grants[] = {"vblk", "vnet", "nvme", "bystander", NULL};

/* QMP names of the NVMe namespace's drive and the stall's parameters. */
#define NVME_DRIVE "d1"
#define STALL_BPS 1u          /* throttle while stalled: bytes per second */
#define STALL_FILL "1M"       /* the read that fills the bucket: ~2^20 s of hold */

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

/* One attempt at starting QEMU with a fresh disk and a fresh wire. */
static int start_qemu(struct qtest_plat *p, bool iommu, bool dma_fds, char *why, size_t why_len)
{
    uint16_t p1 = 0, p2 = 0;
    int rc = conf_wire_open(&p->wire, &p1, &p2);
    if (rc < 0) {
        snprintf(why, why_len, "cannot open a UDP socket on loopback: %s", strerror(errno));
        return rc;
    }
    char disk[256], drive[320], ndisk[256], ndrive[320], netdev[128];
    if ((rc = make_disk(disk, sizeof disk)) < 0) {
        snprintf(why, why_len, "cannot create a disk image: %s", strerror(errno));
        return rc;
    }
    if ((rc = make_disk(ndisk, sizeof ndisk)) < 0) {
        unlink(disk);
        snprintf(why, why_len, "cannot create a disk image: %s", strerror(errno));
        return rc;
    }
    snprintf(drive, sizeof drive, "if=none,id=d0,file=%s,format=raw", disk);
    snprintf(ndrive, sizeof ndrive, "if=none,id=" NVME_DRIVE ",file=%s,format=raw", ndisk);
    snprintf(netdev, sizeof netdev, "socket,id=n0,udp=127.0.0.1:%u,localaddr=127.0.0.1:%u",
             (unsigned)p1, (unsigned)p2);
    /* romfile= (empty): no option ROM, which QEMU would otherwise load from
     * a file that need not be installed (and which nothing here runs). */
    const char *const args[] = {
        "-drive", drive, "-device", iommu ? "virtio-blk-pci,drive=d0,disable-legacy=on,addr=06.0,iommu_platform=on" : "virtio-blk-pci,drive=d0,disable-legacy=on,addr=06.0",
        "-netdev", netdev, "-device",
        iommu ? "virtio-net-pci,netdev=n0,disable-legacy=on,addr=07.0,romfile=,iommu_platform=on,mac=" VNET_MAC
              : "virtio-net-pci,netdev=n0,disable-legacy=on,addr=07.0,romfile=,mac=" VNET_MAC,
        /* QEMU's NVMe controller: namespace 1 is the 4 MiB image, 512-byte LBAs. */
        "-drive", ndrive, "-device", "nvme,serial=capdrv-qtest,drive=" NVME_DRIVE ",addr=08.0",
        NULL};
    struct capdrv_qtest_config qc = {.device_args = args, .iommu = iommu, .dma_fds = dma_fds};
    rc = capdrv_qtest_create(&qc, &p->q, why, why_len);
    unlink(disk); /* QEMU holds them open from here on */
    unlink(ndisk);
    return rc;
}

static int qtest_setup(struct conf_ctx *c, enum capdrv_lane lane, char *why, size_t why_len)
{
    struct qtest_plat *p = calloc(1, sizeof *p);
    if (!p)
        return -CAPDRV_ENOMEM;
    p->wire = -1;
    c->pdata = p;
    struct capdrv_env_hosted_opts eo = {.log_level = -1};
    if (!(p->env = capdrv_env_hosted_new(&eo)))
        return -CAPDRV_ENOMEM;
    int rc = -CAPDRV_EIO;
    for (int t = 0; t < SETUP_TRIES; t++) {
        /* remote:qtest: the manager hands regions to provider processes,
         * which needs each region to be a file of its own. */
        rc = start_qemu(p, lane == CAPDRV_LANE_DIRECT, c->socket_path != NULL, why, why_len);
        /* Only a lost race for P2 is worth another try. */
        if (rc != -CAPDRV_EIO || !strstr(why, "in use"))
            break;
        conf_wire_close(&p->wire);
    }
    if (rc == -CAPDRV_ENOENT)
        return -CAPDRV_ENOTSUP; /* no QEMU on this machine: SKIP, with why */
    if (rc < 0)
        return rc;
    struct capdrv_pci_addr a6 = {0, 0, 6, 0};
    if ((rc = capdrv_qtest_find(p->q, &a6, &p->fn_vblk)) < 0) {
        snprintf(why, why_len, "QEMU shows no function at 00:06.0");
        return rc;
    }
    struct capdrv_pci_addr a7 = {0, 0, 7, 0};
    if ((rc = capdrv_qtest_find(p->q, &a7, &p->fn_vnet)) < 0) {
        snprintf(why, why_len, "QEMU shows no function at 00:07.0");
        return rc;
    }
    struct capdrv_pci_addr a8 = {0, 0, 8, 0};
    if ((rc = capdrv_qtest_find(p->q, &a8, &p->fn_nvme)) < 0) {
        snprintf(why, why_len, "QEMU shows no function at 00:08.0");
        return rc;
    }
    return conf_shim_start(c, p->env, capdrv_qtest_hw(p->q),
                           lane == CAPDRV_LANE_DIRECT ? "qtest-direct" : "qtest-brokered", why,
                           why_len);
}

static void qtest_teardown(struct conf_ctx *c)
{
    struct qtest_plat *p = c->pdata;
    conf_shim_stop(c);
    if (p) {
        capdrv_qtest_destroy(p->q);
        conf_wire_close(&p->wire);
        capdrv_env_hosted_free(p->env);
        free(p);
    }
    c->pdata = NULL;
}

/* Platform function of a grant, or -1 for a grant this machine lacks. */
static int fn_of(const struct qtest_plat *p, const char *grant)
{
    return !strcmp(grant, "vblk")   ? (int)p->fn_vblk
           : !strcmp(grant, "vnet") ? (int)p->fn_vnet
           : !strcmp(grant, "nvme") ? (int)p->fn_nvme
                                    : -1;
}

static int qtest_device_reg(struct conf_ctx *c, const char *grant, uint64_t off, unsigned width,
                            uint64_t *val)
{
    struct qtest_plat *p = c->pdata;
    int fn = fn_of(p, grant);
    if (fn < 0)
        return -CAPDRV_ENOENT;
    struct capdrv_hw hw = capdrv_qtest_hw(p->q);
    unsigned bar = fn == (int)p->fn_vblk ? VBLK_BAR : fn == (int)p->fn_nvme ? NVME_BAR : VNET_BAR;
    return hw.ops->bar_read(hw.ctx, (unsigned)fn, bar, off, width, val);
}

static long qtest_violations(struct conf_ctx *c)
{
    struct qtest_plat *p = c->pdata;
    return conf_qtest_violations(p->q);
}

static long qtest_escaped(struct conf_ctx *c)
{
    struct qtest_plat *p = c->pdata;
    return conf_qtest_escaped(p->q);
}

static unsigned qtest_reset_count(struct conf_ctx *c, const char *grant)
{
    struct qtest_plat *p = c->pdata;
    int fn = fn_of(p, grant);
    return fn < 0 ? 0 : capdrv_qtest_reset_count(p->q, (unsigned)fn);
}

/* The wire of "vnet" (qtest_wire.h). */
static int qtest_net_inject(struct conf_ctx *c, const char *grant, const void *frame, size_t len)
{
    struct qtest_plat *p = c->pdata;
    return strcmp(grant, "vnet") ? -CAPDRV_ENOENT : conf_wire_inject(p->wire, frame, len);
}

static int qtest_net_take(struct conf_ctx *c, const char *grant, void *buf, size_t cap, size_t *len)
{
    struct qtest_plat *p = c->pdata;
    return strcmp(grant, "vnet") ? -CAPDRV_ENOENT : conf_wire_take(p->wire, buf, cap, len);
}

static int qtest_nvme_stall(struct conf_ctx *c, const char *grant, unsigned qid, bool on)
{
    struct qtest_plat *p = c->pdata;
    (void)qid; /* per drive: see the top of this file */
    if (strcmp(grant, "nvme") != 0)
        return -CAPDRV_ENOENT;
    char cmd[256], reply[512];
    snprintf(cmd, sizeof cmd,
             "{\"execute\":\"block_set_io_throttle\",\"arguments\":{\"device\":\"" NVME_DRIVE
             "\",\"bps\":%u,\"bps_rd\":0,\"bps_wr\":0,\"iops\":0,\"iops_rd\":0,\"iops_wr\":0}}",
             on ? STALL_BPS : 0u);
    int rc = capdrv_qtest_qmp(p->q, cmd, reply, sizeof reply);
    if (rc < 0 || !on) {
        if (rc < 0)
            fprintf(stderr, "qtest: block_set_io_throttle: %s\n", reply);
        return rc;
    }
    /* Fill the bucket; qemu-io prints to QEMU's stdout, not the reply, so
     * the case's own check (nothing completes while stalled) is what
     * proves the hold. */
    rc = capdrv_qtest_hmp(p->q, "qemu-io " NVME_DRIVE " \"read 0 " STALL_FILL "\"", reply,
                          sizeof reply);
    if (rc < 0)
        fprintf(stderr, "qtest: qemu-io: %s\n", reply);
    return rc;
}

const struct conf_platform conf_platform_qtest = {
    .name = "qtest",
    .setup = qtest_setup,
    .teardown = qtest_teardown,
    .oracle_violations = qtest_violations, /* canaries, and IOMMU faults */
    .dma_escaped = qtest_escaped,         /* canaries */
    .advance = conf_advance_realtime, /* QEMU/hardware run in real time */
    .device_reg = qtest_device_reg,
    .reset_count = qtest_reset_count,
    .net_inject = qtest_net_inject,
    .net_take = qtest_net_take,
    .nvme_stall = qtest_nvme_stall,
    .nvme_stall_may_finish = true, /* the reset's drain lifts the throttle */
    .grants = qtest_grants,
};
