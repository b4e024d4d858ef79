/* See nvme_rig.h. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nvme_rig.h"
#include "test_slurp.h"

void nvme_rig_up(struct nvme_rig *r, const char *manifest, const struct nvme_rig_opts *o)
{
    static const struct nvme_rig_opts none;
    if (!o)
        o = &none;
    memset(r, 0, sizeof *r);
    struct capdrv_sim_config sc = {.iommu = o->iommu};
    assert_int_equal(capdrv_sim_create(&sc, &r->sim), 0);
    struct capdrv_pci_addr a = {0, 0, 5, 0};
    assert_int_equal(capdrv_sim_add_nvme(r->sim, &a, o->nc, &r->fn), 0);
    r->env = capdrv_env_hosted_new(NULL);
    assert_non_null(r->env);
    size_t len;
    void *blob = test_slurp(manifest, &len);
    struct capdrv_hw hw = capdrv_sim_hw(r->sim);
    if (o->wrap_hw)
        hw = o->wrap_hw(hw, r->sim, o->wrap_arg);
    struct capdrv_shim_config c = {.env = r->env, .hw = hw, .manifest = blob,
                                   .manifest_len = len};
    int rc = capdrv_shim_create(&c, &r->shim, r->why, sizeof r->why);
    free(blob);
    if (rc < 0)
        fail_msg("shim: %s (%s)", r->why, capdrv_strerror(rc));
    assert_int_equal(capdrv_shim_connect(r->shim, "nvme-demo", &r->sys), 0);
    int idx = capdrv_grant_find(r->sys, "nvme0");
    assert_true(idx >= 0);
    assert_int_equal(capdrv_grant_open(r->sys, (unsigned)idx, &r->grant), 0);
    assert_int_equal(capdrv_pool_open(r->sys, r->grant, &r->pool), 0);
    struct capdrv_nvme_ctrl_opts co = o->ctrl;
    co.pool = r->pool;
    rc = capdrv_nvme_ctrl_open(r->sys, r->grant, &co, &r->c, r->why, sizeof r->why);
    if (rc < 0)
        fail_msg("open: %s (%s)", r->why, capdrv_strerror(rc));
    struct capdrv_nvme_ns_info ns;
    assert_int_equal(capdrv_nvme_ns_info(r->c, 1, &ns), 0);
}

capdrv_cap_t nvme_rig_alloc(struct nvme_rig *r, size_t len, struct capdrv_dmabuf_info *info)
{
    assert_true(r->n_bufs < NVME_RIG_MAX_BUFS);
    capdrv_cap_t b = 0;
    assert_int_equal(capdrv_dma_alloc(r->sys, r->pool, len, &b, info), 0);
    r->bufs[r->n_bufs++] = b;
    return b;
}

void nvme_rig_down(struct nvme_rig *r)
{
    capdrv_nvme_ctrl_close(r->c);
    for (unsigned i = 0; i < r->n_bufs; i++)
        assert_int_equal(capdrv_cap_release(r->sys, r->bufs[i]), 0);
    assert_int_equal(capdrv_cap_release(r->sys, r->grant), 0);
    capdrv_sys_close(r->sys);
    assert_int_equal(capdrv_sim_oracle_violations(r->sim), 0);
    capdrv_shim_destroy(r->shim);
    assert_int_equal(capdrv_env_hosted_live_allocs(r->env), 0);
    capdrv_env_hosted_free(r->env);
    capdrv_sim_destroy(r->sim);
}
