/* Conformance platform "sim": the in-process simulated machine. Every
 * observer hook is available, so nothing is skipped here. */
#define _GNU_SOURCE
#include "../conf.h"

#include <capdrv/sim.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sim_plat {
    struct capdrv_env *env;
    struct capdrv_sim *sim;
    unsigned fn_dev, fn_plain, fn_peer, fn_vblk, fn_vnet, fn_nvme, fn_vmblk, fn_vmnet;
};

static int sim_setup(struct conf_ctx *c, enum capdrv_lane lane, char *why, size_t why_len)
{
    struct sim_plat *p = calloc(1, sizeof *p);
    if (!p)
        return -CAPDRV_ENOMEM;
    c->pdata = p;
    struct capdrv_env_hosted_opts eo = {.log_level = -1};
    p->env = capdrv_env_hosted_new(&eo);
    /* The direct lane needs an IOMMU; the brokered lane runs without one
     * (the GCP shape it exists for). Brokered behind an IOMMU is covered
     * by tests/unit/shim/test_shim_grants.c
     * (test_override_to_brokered_on_iommu). */
    struct capdrv_sim_config cfg = {.iommu = lane == CAPDRV_LANE_DIRECT};
    struct capdrv_pci_addr a3 = {0, 0, 3, 0}, a4 = {0, 0, 4, 0}, a5 = {0, 0, 5, 0},
                           a6 = {0, 0, 6, 0}, a7 = {0, 0, 7, 0}, a8 = {0, 0, 8, 0};
    /* NVMe at 00:08.0: 4 I/O queue pairs, one 1 MiB namespace, SGLs offered. */
    struct capdrv_sim_nvme_config nvme = {.max_io_queues = 4, .sgl = true};
    int rc = 0;
    if (!p->env || (rc = capdrv_sim_create(&cfg, &p->sim)) < 0 ||
        (rc = capdrv_sim_add_dmatest(p->sim, &a3, &p->fn_dev)) < 0 ||
        (rc = capdrv_sim_add_scratch(p->sim, &a4, 0x1234, 0x5678, 0x058000, &p->fn_plain)) < 0 ||
        (rc = capdrv_sim_add_dmatest(p->sim, &a5, &p->fn_peer)) < 0 ||
        (rc = capdrv_sim_add_virtio_blk(p->sim, &a6, NULL, &p->fn_vblk)) < 0 ||
        (rc = capdrv_sim_add_virtio_net(p->sim, &a7, NULL, &p->fn_vnet)) < 0 ||
        (rc = capdrv_sim_add_nvme(p->sim, &a8, &nvme, &p->fn_nvme)) < 0 ||
        /* virtio-mmio virtio-blk where QEMU's aarch64 virt has its last slot */
        (rc = capdrv_sim_add_virtio_mmio_blk(p->sim, 0x0a003e00, NULL, &p->fn_vmblk)) < 0 ||
        /* and a virtio-mmio virtio-net in the slot below, as qtest-virt has */
        (rc = capdrv_sim_add_virtio_mmio_net(p->sim, 0x0a003a00, NULL, &p->fn_vmnet)) < 0) {
        snprintf(why, why_len, "sim machine could not be built");
        return p->env ? rc : -CAPDRV_ENOMEM;
    }
    return conf_shim_start(c, p->env, capdrv_sim_hw(p->sim),
                           lane == CAPDRV_LANE_DIRECT ? "sim-direct" : "sim-brokered", why,
                           why_len);
}

static void sim_teardown(struct conf_ctx *c)
{
    struct sim_plat *p = c->pdata;
    conf_shim_stop(c);
    if (p) {
        capdrv_sim_destroy(p->sim);
        capdrv_env_hosted_free(p->env);
        free(p);
    }
    c->pdata = NULL;
}

static long sim_violations(struct conf_ctx *c)
{
    struct sim_plat *p = c->pdata;
    return (long)capdrv_sim_oracle_violations(p->sim);
}

static void sim_advance(struct conf_ctx *c, uint64_t ns)
{
    struct sim_plat *p = c->pdata;
    capdrv_sim_advance(p->sim, ns);
}

static unsigned fn_of(struct sim_plat *p, const char *grant)
{
    return !strcmp(grant, "dev")    ? p->fn_dev
           : !strcmp(grant, "peer") ? p->fn_peer
           : !strcmp(grant, "vblk") ? p->fn_vblk
           : !strcmp(grant, "vnet") ? p->fn_vnet
           : !strcmp(grant, "nvme") ? p->fn_nvme
           : !strcmp(grant, "vmblk") ? p->fn_vmblk
           : !strcmp(grant, "vmnet") ? p->fn_vmnet
                                    : p->fn_plain;
}

static int sim_device_reg(struct conf_ctx *c, const char *grant, uint64_t off, unsigned width,
                          uint64_t *val)
{
    struct sim_plat *p = c->pdata;
    struct capdrv_hw hw = capdrv_sim_hw(p->sim);
    return hw.ops->bar_read(hw.ctx, fn_of(p, grant), 0, off, width, val);
}

static unsigned sim_reset_count(struct conf_ctx *c, const char *grant)
{
    struct sim_plat *p = c->pdata;
    return capdrv_sim_reset_count(p->sim, fn_of(p, grant));
}

static int sim_net_inject(struct conf_ctx *c, const char *grant, const void *frame, size_t len)
{
    struct sim_plat *p = c->pdata;
    return capdrv_sim_virtio_net_inject(p->sim, fn_of(p, grant), frame, len);
}

static int sim_net_take(struct conf_ctx *c, const char *grant, void *buf, size_t cap, size_t *len)
{
    struct sim_plat *p = c->pdata;
    return capdrv_sim_virtio_net_take(p->sim, fn_of(p, grant), buf, cap, len);
}

static int sim_nvme_stall(struct conf_ctx *c, const char *grant, unsigned qid, bool on)
{
    struct sim_plat *p = c->pdata;
    struct capdrv_sim_nvme_fault f = {.kind = on ? CAPDRV_SIM_NVME_FAULT_DROP : CAPDRV_SIM_NVME_FAULT_NONE,
                                      .qid = (int)qid, .opcode = -1};
    return capdrv_sim_nvme_set_fault(p->sim, fn_of(p, grant), &f);
}

const struct conf_platform conf_platform_sim = {
    .name = "sim",
    .setup = sim_setup,
    .teardown = sim_teardown,
    .oracle_violations = sim_violations,
    .advance = sim_advance,
    .device_reg = sim_device_reg,
    .reset_count = sim_reset_count,
    .net_inject = sim_net_inject,
    .net_take = sim_net_take,
    .nvme_stall = sim_nvme_stall,
};
