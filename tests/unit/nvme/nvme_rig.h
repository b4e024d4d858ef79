/* A small rig for the NVMe library's end-to-end tests: a sim machine with
 * one NVMe controller, the kernel shim over it (optionally over a wrapped
 * platform), the capdrv-nvme example's manifest, provider "nvme-demo"
 * connected in-process, grant nvme0 and its pool open, the controller
 * opened through capdrv/nvme.h. Teardown closes the controller, releases
 * the buffers allocated through the rig, and checks the DMA oracle and
 * that every allocation of the hosted environment came back. */
#ifndef CAPDRV_TEST_NVME_RIG_H
#define CAPDRV_TEST_NVME_RIG_H

#include <stdbool.h>
#include <stddef.h>

#include <capdrv/nvme.h>
#include <capdrv/shim.h>
#include <capdrv/sim.h>

#define NVME_RIG_MAX_BUFS 16

struct nvme_rig_opts {
    bool iommu;                               /* direct lane */
    const struct capdrv_sim_nvme_config *nc;  /* NULL: the sim's defaults */
    struct capdrv_nvme_ctrl_opts ctrl;        /* pool is filled in */
    /* Optional: give the shim this platform instead of the sim's own
     * (called with the sim's; e.g. to inject interrupt storms). */
    struct capdrv_hw (*wrap_hw)(struct capdrv_hw sim_hw, struct capdrv_sim *sim, void *arg);
    void *wrap_arg;
};

struct nvme_rig {
    struct capdrv_env *env;
    struct capdrv_sim *sim;
    struct capdrv_shim *shim;
    capdrv_sys *sys;
    unsigned fn;
    capdrv_cap_t grant, pool;
    struct capdrv_nvme_ctrl *c;
    capdrv_cap_t bufs[NVME_RIG_MAX_BUFS];
    unsigned n_bufs;
    char why[256];
};

/* Bring everything up (cmocka assertions on every step). */
void nvme_rig_up(struct nvme_rig *r, const char *manifest, const struct nvme_rig_opts *o);
/* A DMA buffer of the pool, released by nvme_rig_down() after the
 * controller is closed (memory a live controller used counts as in flight:
 * releasing it earlier makes the kernel reset the function). */
capdrv_cap_t nvme_rig_alloc(struct nvme_rig *r, size_t len, struct capdrv_dmabuf_info *info);
void nvme_rig_down(struct nvme_rig *r);

#endif
