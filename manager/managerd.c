/* capdrv-managerd: owns the kernel shim over one platform, reads the grant
 * manifest, and serves providers on a Unix socket (docs/MANAGER.md).
 *
 *   capdrv-managerd --socket PATH --manifest FILE.dtb [--machine sim|qtest|vfio:SLOT[,SLOT]...]
 *                   [--qemu-arg ARG]... [--iommu] [--allow NAME:UID]... [--foreground]
 *   capdrv-managerd --socket PATH --status
 *   capdrv-managerd --socket PATH --revoke NAME:HANDLE
 *
 * Machines: "sim" builds a simulated machine (manifest: manager/sim.dts)
 * with dmatest at 00:03.0 and 00:05.0, scratch at 00:04.0, virtio-blk 00:06.0,
 * virtio-net 00:07.0 and NVMe 00:08.0. "qtest" starts QEMU's q35 over qtest
 * (include/capdrv/qtest.h) with the devices --qemu-arg names (e.g.
 * --qemu-arg -device --qemu-arg nvme,...), every DMA region a memfd DIMM
 * of its own (dma_fds, so it can be shared), and intel-iommu with --iommu.
 * "vfio:SLOT,..." opens those PCI functions through VFIO (lspci -s syntax,
 * include/capdrv/vfio.h). On both, interrupts reach providers as eventfds
 * (manager/irqpump.h), and the daemon detaches before it builds the
 * machine: QEMU dies with the process that started it, and VFIO's pinned
 * DMA pages belong to the process that mapped them.
 * Exit: 0 after a clean shutdown (SIGTERM/SIGINT), 1 on a runtime error,
 * 2 on a usage or setup error. */
#define _GNU_SOURCE
#include "hwmem.h"
#include "server.h"

#include <capdrv/qtest.h>
#include <capdrv/remote.h>
#include <capdrv/shim.h>
#include <capdrv/sim.h>
#include <capdrv/vfio.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *to)
{
    fprintf(to, "usage: capdrv-managerd --socket PATH --manifest FILE.dtb\n"
                "                       [--machine sim|qtest|vfio:SLOT[,SLOT]...] [--qemu-arg ARG]...\n"
                "                       [--iommu] [--allow NAME:UID]... [--foreground] [--log-level N]\n"
                "       capdrv-managerd --socket PATH --status\n"
                "       capdrv-managerd --socket PATH --revoke NAME:HANDLE\n");
}

static void *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    char *buf = NULL;
    if (fseek(fp, 0, SEEK_END) == 0) {
        long n = ftell(fp);
        if (n > 0 && n < (64l << 20) && fseek(fp, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n)) &&
            fread(buf, 1, (size_t)n, fp) != (size_t)n) {
            free(buf);
            buf = NULL;
        }
        *len = n > 0 ? (size_t)n : 0;
    }
    fclose(fp);
    return buf;
}

static int build_sim(bool iommu, struct capdrv_sim **out)
{
    struct capdrv_sim_config cfg = {.iommu = iommu};
    struct capdrv_pci_addr a3 = {0, 0, 3, 0}, a4 = {0, 0, 4, 0}, a5 = {0, 0, 5, 0},
                           a6 = {0, 0, 6, 0}, a7 = {0, 0, 7, 0}, a8 = {0, 0, 8, 0};
    struct capdrv_sim_nvme_config nvme = {.max_io_queues = 4, .sgl = true};
    unsigned fn;
    int rc = capdrv_sim_create(&cfg, out);
    if (rc < 0)
        return rc;
    if ((rc = capdrv_sim_add_dmatest(*out, &a3, &fn)) < 0 ||
        (rc = capdrv_sim_add_scratch(*out, &a4, 0x1234, 0x5678, 0x058000, &fn)) < 0 ||
        (rc = capdrv_sim_add_dmatest(*out, &a5, &fn)) < 0 ||
        (rc = capdrv_sim_add_virtio_blk(*out, &a6, NULL, &fn)) < 0 ||
        (rc = capdrv_sim_add_virtio_net(*out, &a7, NULL, &fn)) < 0 ||
        (rc = capdrv_sim_add_nvme(*out, &a8, &nvme, &fn)) < 0) {
        capdrv_sim_destroy(*out);
        *out = NULL;
    }
    return rc;
}

/* The machine the shim runs on: exactly one of the three is set. */
struct machine {
    struct capdrv_sim *sim;
    struct capdrv_qtest *qtest;
    struct capdrv_vfio *vfio;
};

#define MAX_QEMU_ARGS 64
#define MAX_SLOTS 16

static int build_machine(const char *name, bool iommu, const char *const *qemu_args,
                         struct machine *m, struct capdrv_hw *hw, char *why, size_t why_len)
{
    if (!strcmp(name, "sim")) {
        int rc = build_sim(iommu, &m->sim);
        if (rc == 0)
            *hw = capdrv_sim_hw(m->sim);
        return rc;
    }
    if (!strcmp(name, "qtest")) {
        struct capdrv_qtest_config qc = {.device_args = qemu_args, .iommu = iommu,
                                         .dma_fds = true};
        int rc = capdrv_qtest_create(&qc, &m->qtest, why, why_len);
        if (rc == 0)
            *hw = capdrv_qtest_hw(m->qtest);
        return rc;
    }
    if (strncmp(name, "vfio:", 5) != 0 || !name[5]) {
        snprintf(why, why_len, "unknown machine \"%s\" (sim, qtest, vfio:SLOT[,SLOT]...)", name);
        return -CAPDRV_EINVAL;
    }
    static char list[512];
    static struct capdrv_vfio_select sel[MAX_SLOTS];
    size_t n = 0;
    snprintf(list, sizeof list, "%s", name + 5);
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (n == MAX_SLOTS) {
            snprintf(why, why_len, "at most %d functions", MAX_SLOTS);
            return -CAPDRV_EINVAL;
        }
        sel[n++] = (struct capdrv_vfio_select){.slot = t};
    }
    struct capdrv_vfio_config vc = {.select = sel, .n_select = n};
    int rc = capdrv_vfio_create(&vc, &m->vfio, why, why_len);
    if (rc == 0)
        *hw = capdrv_vfio_hw(m->vfio);
    return rc;
}

static void machine_free(struct machine *m)
{
    capdrv_sim_destroy(m->sim);
    capdrv_qtest_destroy(m->qtest);
    capdrv_vfio_destroy(m->vfio);
}

static int parse_allow(const char *arg, struct mgr_allow *out)
{
    const char *colon = strrchr(arg, ':');
    if (!colon || colon == arg || (size_t)(colon - arg) >= sizeof out->name)
        return -1;
    char *end;
    errno = 0;
    unsigned long uid = strtoul(colon + 1, &end, 10);
    if (errno || *end || end == colon + 1 || uid > 0xfffffffful)
        return -1;
    memset(out, 0, sizeof *out);
    memcpy(out->name, arg, (size_t)(colon - arg));
    out->uid = (uid_t)uid;
    return 0;
}

int main(int argc, char **argv)
{
    const char *sock = NULL, *manifest = NULL, *machine = "sim";
    bool iommu = false, foreground = false, status = false;
    const char *revoke = NULL;
    int log_level = 1;
    struct mgr_allow allow[32];
    size_t n_allow = 0;
    const char *qemu_args[MAX_QEMU_ARGS + 1] = {NULL};
    size_t n_qemu = 0;
    static const struct option opts[] = {
        {"socket", required_argument, NULL, 's'},   {"manifest", required_argument, NULL, 'm'},
        {"machine", required_argument, NULL, 'M'},  {"iommu", no_argument, NULL, 'i'},
        {"allow", required_argument, NULL, 'a'},    {"foreground", no_argument, NULL, 'f'},
        {"status", no_argument, NULL, 'S'},         {"log-level", required_argument, NULL, 'l'},
        {"revoke", required_argument, NULL, 'r'},   {"qemu-arg", required_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    for (int ch; (ch = getopt_long(argc, argv, "s:m:M:ia:fSl:r:q:h", opts, NULL)) != -1;) {
        switch (ch) {
        case 's': sock = optarg; break;
        case 'm': manifest = optarg; break;
        case 'M': machine = optarg; break;
        case 'i': iommu = true; break;
        case 'f': foreground = true; break;
        case 'S': status = true; break;
        case 'r': revoke = optarg; break;
        case 'q':
            if (n_qemu == MAX_QEMU_ARGS) {
                fprintf(stderr, "capdrv-managerd: at most %d --qemu-arg\n", MAX_QEMU_ARGS);
                return 2;
            }
            qemu_args[n_qemu++] = optarg;
            break;
        case 'l': log_level = atoi(optarg); break;
        case 'a':
            if (n_allow == sizeof allow / sizeof allow[0] || parse_allow(optarg, &allow[n_allow]) < 0) {
                fprintf(stderr, "capdrv-managerd: --allow wants NAME:UID (at most 32)\n");
                return 2;
            }
            n_allow++;
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc || !sock || (!status && !revoke && !manifest)) {
        usage(stderr);
        return 2;
    }
    if (status) {
        static char text[16384];
        int rc = capdrv_remote_status(sock, text, sizeof text);
        if (rc < 0) {
            fprintf(stderr, "capdrv-managerd: status: %s\n", capdrv_strerror(rc));
            return 1;
        }
        fputs(text, stdout);
        return 0;
    }
    if (revoke) { /* NAME:HANDLE, the handle as the provider logs it (hex or decimal) */
        const char *colon = strrchr(revoke, ':');
        char name[CAPDRV_NAME_MAX];
        char *end;
        errno = 0;
        unsigned long long cap = colon ? strtoull(colon + 1, &end, 0) : 0;
        if (!colon || colon == revoke || (size_t)(colon - revoke) >= sizeof name || errno ||
            end == colon + 1 || *end) {
            fprintf(stderr, "capdrv-managerd: --revoke wants NAME:HANDLE\n");
            return 2;
        }
        memcpy(name, revoke, (size_t)(colon - revoke));
        name[colon - revoke] = '\0';
        int rc = capdrv_remote_revoke(sock, name, (capdrv_cap_t)cap);
        if (rc < 0) {
            fprintf(stderr, "capdrv-managerd: revoke: %s\n", capdrv_strerror(rc));
            return 1;
        }
        return 0;
    }
    bool sim = !strcmp(machine, "sim");
    if (!sim && strcmp(machine, "qtest") && strncmp(machine, "vfio:", 5)) {
        fprintf(stderr, "capdrv-managerd: unknown machine \"%s\" (sim, qtest, vfio:SLOT[,SLOT]...)\n",
                machine);
        return 2;
    }
    if (n_qemu && strcmp(machine, "qtest")) {
        fprintf(stderr, "capdrv-managerd: --qemu-arg is for --machine qtest\n");
        return 2;
    }
    size_t blob_len = 0;
    void *blob = slurp(manifest, &blob_len);
    if (!blob) {
        fprintf(stderr, "capdrv-managerd: cannot read manifest %s\n", manifest);
        return 2;
    }
    struct capdrv_env_hosted_opts eo = {.log_level = log_level};
    struct capdrv_env *env = capdrv_env_hosted_new(&eo);
    struct machine m = {0};
    struct mgr_hwmem *mem = NULL;
    struct capdrv_shim *shim = NULL;
    struct mgr_server *srv = NULL;
    struct capdrv_hw hw;
    char why[512] = "";
    int rc = env ? 0 : -CAPDRV_ENOMEM, ret = 2;
    /* QEMU and VFIO belong to the process that serves: detach first
     * (stderr stays open, so errors still show). */
    if (rc == 0 && !sim && !foreground && daemon(0, 1) < 0) {
        fprintf(stderr, "capdrv-managerd: daemon: %s\n", strerror(errno));
        goto out;
    }
    if (rc == 0)
        rc = build_machine(machine, iommu, qemu_args, &m, &hw, why, sizeof why);
    if (rc < 0) {
        fprintf(stderr, "capdrv-managerd: machine %s: %s (%s)\n", machine, capdrv_strerror(rc), why);
        goto out;
    }
    if ((rc = mgr_hwmem_wrap(hw, &mem, &hw)) < 0)
        goto out;
    struct capdrv_shim_config sc = {.env = env, .hw = hw, .manifest = blob, .manifest_len = blob_len};
    if ((rc = capdrv_shim_create(&sc, &shim, why, sizeof why)) < 0) {
        fprintf(stderr, "capdrv-managerd: manifest %s: %s (%s)\n", manifest, why, capdrv_strerror(rc));
        goto out;
    }
    /* Detach before the ring and the signalfd exist: both belong to the
     * process that serves. */
    if (sim && !foreground && daemon(0, 1) < 0) {
        fprintf(stderr, "capdrv-managerd: daemon: %s\n", strerror(errno));
        goto out;
    }
    struct mgr_server_config mc = {.shim = shim, .mem = mem, .socket_path = sock, .allow = allow,
                                   .n_allow = n_allow, .handle_signals = true,
                                   .irq_eventfds = !sim /* real time: eventfds */};
    if ((rc = mgr_server_create(&mc, &srv, why, sizeof why)) < 0) {
        fprintf(stderr, "capdrv-managerd: %s (%s)\n", why, capdrv_strerror(rc));
        goto out;
    }
    ret = mgr_server_run(srv) < 0 ? 1 : 0;
out:
    mgr_server_destroy(srv); /* tears down every provider still connected */
    capdrv_shim_destroy(shim);
    mgr_hwmem_free(mem);
    machine_free(&m);
    capdrv_env_hosted_free(env);
    free(blob);
    return ret;
}
