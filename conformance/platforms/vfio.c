/* Conformance platform "vfio": real PCI functions of the Linux machine the
 * runner runs on, through VFIO (include/capdrv/vfio.h). Made for the QEMU
 * guest of conformance/vfio-guest, whose functions sit where the manifest
 * (manifests/vfio-machine.dtsi) expects them: virtio-blk 01:00.0,
 * virtio-net 02:00.0, NVMe 03:00.0 (each behind a PCIe root port) and the
 * SMBus bystander 00:1f.3, all bound to vfio-pci. Both lanes run: VFIO always has an IOMMU.
 * There is no dmatest: the authority, dma and irq cases use "nvme" as their
 * DMA engine (cases/engine.h) and "bystander" (provider "other") as their
 * any-function grant.
 *
 * Each case opens the functions afresh and resets the three DMA functions
 * (VFIO_DEVICE_RESET) before the shim starts, so no case inherits device
 * state; reset_count reports the resets since then. A machine without VFIO
 * or without those functions bound makes setup return -CAPDRV_ENOTSUP:
 * every case SKIPs with the platform's reason. The DMA observer is the
 * IOMMU itself: it refuses what is not mapped and the kernel logs each
 * fault, so "oracle_violations" counts the fault records that appeared in
 * /dev/kmsg since setup (Intel "DMAR: [DMA Read|Write ...] ... fault addr",
 * AMD "IO_PAGE_FAULT", Arm SMMU "Unhandled context fault"). The kernel
 * rate-limits those messages (10 per 5 s on Intel), so a count can be low,
 * never made up; reading /dev/kmsg needs CAP_SYSLOG or
 * kernel.dmesg_restrict=0 (without it the hook returns -1 and says why).
 * "advance" sleeps: device time is real time.
 *
 * nvme_stall, where the machine is a QEMU guest that can reach its own
 * QMP monitor: CAPDRV_VFIO_QMP names the character device QEMU connects to its
 * monitor (vfio-guest: a virtio-serial port) and CAPDRV_VFIO_NVME_DRIVE the drive
 * of the "nvme" controller (vfio-guest: d1). Stalling is the qtest
 * platform's I/O throttle (platforms/qtest.c explains it): the block layer
 * of the QEMU the guest runs in holds every Read the controller takes,
 * and the controller reset's drain lets them go. Without those variables
 * there is no hold, and nvme.reset-completes-outstanding checks only
 * commands never rung.
 *
 * The wire of "vnet": the guest's virtio-net-pci at 02:00.0 is joined
 * through a QEMU hub to a second NIC that the guest kernel drives; its
 * interface name is in the environment variable CAPDRV_VFIO_WIRE (e.g.
 * "eth0"). The harness owns that interface through an AF_PACKET socket:
 * net_inject sends a frame on it (it arrives on the device's receive side),
 * net_take receives what the device transmitted, waiting at most
 * WIRE_POLL_NS. The interface must be up and quiet (no addresses, IPv6
 * off), or the kernel's own frames would reach the device. */
#define _GNU_SOURCE
#include "../conf.h"

#include "qmp_line.h"

#include <capdrv/vfio.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define VBLK_BAR 4u
#define VNET_BAR 4u
#define NVME_BAR 0u
#define WIRE_POLL_NS 200000000L /* TCG guests are slow: 200 ms per take */

struct vfio_plat {
    struct capdrv_env *env;
    struct capdrv_vfio *v;
    unsigned fn_vblk, fn_vnet, fn_nvme;
    unsigned base_vblk, base_vnet, base_nvme; /* reset counts after setup */
    int wire; /* AF_PACKET socket on CAPDRV_VFIO_WIRE, -1 when none */
    int kmsg;  /* /dev/kmsg from the end at setup, -1 when it cannot be read */
    int kmsg_errno;
    long faults; /* IOMMU fault records seen */
    struct conf_qmp_line qmp; /* fd -1 until nvme_stall opens it */
    bool stalled;             /* a throttle is on: teardown lifts it */
};

static const char *const vfio_grants[] = {"vblk", "vnet", "nvme", "bystander", NULL};

static int wire_open(struct vfio_plat *p, char *why, size_t why_len)
{
    const char *ifname = getenv("CAPDRV_VFIO_WIRE");
    if (!ifname || !*ifname)
        return 0; /* net cases then fail with "no wire" */
    unsigned idx = if_nametoindex(ifname);
    if (idx == 0) {
        snprintf(why, why_len, "CAPDRV_VFIO_WIRE=%s: no such interface", ifname);
        return -CAPDRV_EINVAL;
    }
    p->wire = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
    if (p->wire < 0) {
        snprintf(why, why_len, "AF_PACKET socket: %s", strerror(errno));
        return -CAPDRV_EIO;
    }
    int one = 1;
    struct sockaddr_ll a = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
                            .sll_ifindex = (int)idx};
    if (setsockopt(p->wire, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) < 0 ||
        bind(p->wire, (struct sockaddr *)&a, sizeof a) < 0) {
        snprintf(why, why_len, "AF_PACKET on %s: %s", ifname, strerror(errno));
        return -CAPDRV_EIO;
    }
    /* Frames left over from the previous case are not this case's. */
    char junk[2048];
    while (recv(p->wire, junk, sizeof junk, MSG_DONTWAIT) >= 0) {
    }
    return 0;
}

static int vfio_setup(struct conf_ctx *c, enum capdrv_lane lane, char *why, size_t why_len)
{
    struct vfio_plat *p = calloc(1, sizeof *p);
    if (!p)
        return -CAPDRV_ENOMEM;
    p->wire = -1;
    p->qmp.fd = -1;
    c->pdata = p;
    /* Only faults from now on are this case's. */
    p->kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (p->kmsg < 0 || lseek(p->kmsg, 0, SEEK_END) < 0)
        p->kmsg_errno = errno;
    struct capdrv_env_hosted_opts eo = {.log_level = -1};
    if (!(p->env = capdrv_env_hosted_new(&eo)))
        return -CAPDRV_ENOMEM;
    const struct capdrv_vfio_select sel[] = {
        {.slot = "0000:01:00.0"}, {.slot = "0000:02:00.0"}, {.slot = "0000:03:00.0"},
        {.slot = "0000:00:1f.3"}};
    struct capdrv_vfio_config vc = {.select = sel, .n_select = sizeof sel / sizeof sel[0]};
    int rc = capdrv_vfio_create(&vc, &p->v, why, why_len);
    if (rc == -CAPDRV_ENODEV || rc == -CAPDRV_EBUSY || rc == -CAPDRV_ENOTSUP)
        return -CAPDRV_ENOTSUP; /* not this machine, or not set up: SKIP with why */
    if (rc < 0)
        return rc;
    const struct capdrv_pci_addr a6 = {0, 1, 0, 0}, a7 = {0, 2, 0, 0}, a8 = {0, 3, 0, 0};
    if ((rc = capdrv_vfio_find(p->v, &a6, &p->fn_vblk)) < 0 ||
        (rc = capdrv_vfio_find(p->v, &a7, &p->fn_vnet)) < 0 ||
        (rc = capdrv_vfio_find(p->v, &a8, &p->fn_nvme)) < 0) {
        snprintf(why, why_len, "vfio: a selected function was not opened");
        return rc;
    }
    struct capdrv_hw hw = capdrv_vfio_hw(p->v);
    const unsigned fresh[] = {p->fn_vblk, p->fn_vnet, p->fn_nvme};
    for (size_t i = 0; i < sizeof fresh / sizeof fresh[0]; i++)
        if ((rc = hw.ops->function_reset(hw.ctx, fresh[i])) < 0) {
            snprintf(why, why_len, "vfio: resetting function %u before the case: %s", fresh[i],
                     capdrv_strerror(rc));
            return rc == -CAPDRV_ENOTSUP ? -CAPDRV_EIO : rc; /* a FAIL, not a SKIP */
        }
    p->base_vblk = capdrv_vfio_reset_count(p->v, p->fn_vblk);
    p->base_vnet = capdrv_vfio_reset_count(p->v, p->fn_vnet);
    p->base_nvme = capdrv_vfio_reset_count(p->v, p->fn_nvme);
    if ((rc = wire_open(p, why, why_len)) < 0)
        return rc;
    return conf_shim_start(c, p->env, hw,
                           lane == CAPDRV_LANE_DIRECT ? "vfio-direct" : "vfio-brokered", why,
                           why_len);
}

static int vfio_nvme_stall(struct conf_ctx *c, const char *grant, unsigned qid, bool on);

static void vfio_teardown(struct conf_ctx *c)
{
    struct vfio_plat *p = c->pdata;
    /* The machine outlives the case: a throttle a failed case left on
     * would hold the next case's commands. */
    if (p && p->stalled)
        (void)vfio_nvme_stall(c, "nvme", 0, false);
    conf_shim_stop(c);
    if (p) {
        conf_qmp_line_close(&p->qmp);
        capdrv_vfio_destroy(p->v);
        if (p->wire >= 0)
            close(p->wire);
        if (p->kmsg >= 0)
            close(p->kmsg);
        capdrv_env_hosted_free(p->env);
        free(p);
    }
    c->pdata = NULL;
}

/* One /dev/kmsg record ("prio,seq,usec,flags;text\n..."): an IOMMU fault? */
static bool iommu_fault_record(const char *r)
{
    static const char *const marks[] = {"DMAR: [DMA ", "IO_PAGE_FAULT", "Unhandled context fault"};
    for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++)
        if (strstr(r, marks[i]))
            return true;
    return false;
}

static long vfio_violations(struct conf_ctx *c)
{
    struct vfio_plat *p = c->pdata;
    if (p->kmsg < 0) {
        fprintf(stderr, "vfio: cannot read the kernel log for IOMMU faults (/dev/kmsg: %s)\n",
                strerror(p->kmsg_errno));
        return -1;
    }
    char rec[8192];
    for (;;) {
        ssize_t n = read(p->kmsg, rec, sizeof rec - 1);
        if (n < 0 && (errno == EINTR || errno == EPIPE))
            continue; /* EPIPE: records overwritten meanwhile; go on with the next */
        if (n <= 0)
            break; /* EAGAIN: nothing more */
        rec[n] = '\0';
        if (iommu_fault_record(rec)) {
            p->faults++;
            fprintf(stderr, "vfio: IOMMU fault: %s", strchr(rec, ';') ? strchr(rec, ';') + 1 : rec);
        }
    }
    return p->faults;
}

static int fn_of(const struct vfio_plat *p, const char *grant)
{
    return !strcmp(grant, "vblk")   ? (int)p->fn_vblk
           : !strcmp(grant, "vnet") ? (int)p->fn_vnet
           : !strcmp(grant, "nvme") ? (int)p->fn_nvme
                                    : -1;
}

static int vfio_device_reg(struct conf_ctx *c, const char *grant, uint64_t off, unsigned width,
                           uint64_t *val)
{
    struct vfio_plat *p = c->pdata;
    int fn = fn_of(p, grant);
    if (fn < 0)
        return -CAPDRV_ENOENT;
    struct capdrv_hw hw = capdrv_vfio_hw(p->v);
    unsigned bar = fn == (int)p->fn_vblk ? VBLK_BAR : fn == (int)p->fn_nvme ? NVME_BAR : VNET_BAR;
    return hw.ops->bar_read(hw.ctx, (unsigned)fn, bar, off, width, val);
}

static unsigned vfio_reset_count(struct conf_ctx *c, const char *grant)
{
    struct vfio_plat *p = c->pdata;
    int fn = fn_of(p, grant);
    if (fn < 0)
        return 0;
    unsigned base = fn == (int)p->fn_vblk ? p->base_vblk
                    : fn == (int)p->fn_nvme ? p->base_nvme : p->base_vnet;
    return capdrv_vfio_reset_count(p->v, (unsigned)fn) - base;
}

static int vfio_net_inject(struct conf_ctx *c, const char *grant, const void *frame, size_t len)
{
    struct vfio_plat *p = c->pdata;
    if (strcmp(grant, "vnet") != 0)
        return -CAPDRV_ENOENT;
    if (p->wire < 0)
        return -CAPDRV_ENOTSUP; /* CAPDRV_VFIO_WIRE not set */
    if (!frame || len < ETH_HLEN || len > 65535)
        return -CAPDRV_EINVAL;
    ssize_t n;
    while ((n = send(p->wire, frame, len, 0)) < 0 && errno == EINTR) {
    }
    return n == (ssize_t)len ? 0 : -CAPDRV_EIO;
}

static int vfio_net_take(struct conf_ctx *c, const char *grant, void *buf, size_t cap, size_t *len)
{
    struct vfio_plat *p = c->pdata;
    if (strcmp(grant, "vnet") != 0)
        return -CAPDRV_ENOENT;
    if (p->wire < 0)
        return -CAPDRV_ENOTSUP;
    if (!len || (!buf && cap > 0))
        return -CAPDRV_EINVAL;
    struct pollfd pfd = {.fd = p->wire, .events = POLLIN};
    struct timespec ts = {.tv_sec = 0, .tv_nsec = WIRE_POLL_NS};
    int r = ppoll(&pfd, 1, &ts, NULL);
    if (r == 0 || (r < 0 && errno == EINTR))
        return -CAPDRV_ENOENT;
    if (r < 0)
        return -CAPDRV_EIO;
    uint8_t probe;
    ssize_t n = recv(p->wire, &probe, 1, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -CAPDRV_ENOENT
                                                                          : -CAPDRV_EIO;
    *len = (size_t)n;
    if ((size_t)n > cap)
        return -CAPDRV_ERANGE;
    n = recv(p->wire, buf, cap, MSG_DONTWAIT);
    if (n < 0)
        return -CAPDRV_EIO;
    *len = (size_t)n;
    return 0;
}

#define STALL_BPS 1u    /* as platforms/qtest.c: one byte per second */
#define STALL_FILL "1M" /* the read that fills the bucket: ~2^20 s of hold */
#define QMP_TIMEOUT_MS 20000 /* a TCG guest's serial line is slow */

static int vfio_nvme_stall(struct conf_ctx *c, const char *grant, unsigned qid, bool on)
{
    struct vfio_plat *p = c->pdata;
    (void)qid; /* per drive, as on qtest */
    const char *line = getenv("CAPDRV_VFIO_QMP"), *drive = getenv("CAPDRV_VFIO_NVME_DRIVE");
    if (strcmp(grant, "nvme") != 0)
        return -CAPDRV_ENOENT;
    if (!line || !*line || !drive || !*drive || strpbrk(drive, "\"\\ "))
        return -CAPDRV_ENOTSUP; /* not a guest that reaches its QEMU */
    char why[512], args[512];
    if (p->qmp.fd < 0) {
        int rc = conf_qmp_line_open(&p->qmp, line, why, sizeof why);
        if (rc < 0) {
            fprintf(stderr, "vfio: nvme_stall: %s\n", why);
            return rc;
        }
    }
    snprintf(args, sizeof args,
             "{\"device\":\"%s\",\"bps\":%u,\"bps_rd\":0,\"bps_wr\":0,\"iops\":0,"
             "\"iops_rd\":0,\"iops_wr\":0}",
             drive, on ? STALL_BPS : 0u);
    int rc = conf_qmp_line_cmd(&p->qmp, "block_set_io_throttle", args, why, sizeof why,
                               QMP_TIMEOUT_MS);
    if (rc == 0)
        p->stalled = on; /* the throttle is on even if the fill below fails */
    if (rc == 0 && on) {
        snprintf(args, sizeof args,
                 "{\"command-line\":\"qemu-io %s \\\"read 0 " STALL_FILL "\\\"\"}", drive);
        rc = conf_qmp_line_cmd(&p->qmp, "human-monitor-command", args, why, sizeof why,
                               QMP_TIMEOUT_MS);
    }
    if (rc < 0)
        fprintf(stderr, "vfio: nvme_stall(%s): %s\n", on ? "on" : "off", why);
    else
        p->stalled = on;
    return rc;
}

const struct conf_platform conf_platform_vfio = {
    .name = "vfio",
    .setup = vfio_setup,
    .teardown = vfio_teardown,
    .oracle_violations = vfio_violations, /* IOMMU faults in the kernel log */
    .advance = conf_advance_realtime, /* QEMU/hardware run in real time */
    .device_reg = vfio_device_reg,
    .reset_count = vfio_reset_count,
    .net_inject = vfio_net_inject,
    .net_take = vfio_net_take,
    .nvme_stall = vfio_nvme_stall,
    .nvme_stall_may_finish = true, /* the reset's drain lifts the throttle */
    .grants = vfio_grants,
};
