/* Admin commands the kernel refuses at the doorbell, over the in-process
 * shim and the sim's NVMe controller. The shim's NVMe profile answers an
 * opcode outside its allowlist with -CAPDRV_EPERM before the controller
 * sees anything (kernel-shim/profiles/nvme_sqe.c). The library takes the
 * command back and the admin queue stays usable: the caller gets the
 * refusal, nothing is reset, later admin commands and I/O work. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <capdrv/nvme.h>
#include <capdrv/shim.h>
#include <capdrv/sim.h>

#ifndef NVME_MANIFEST
#error "NVME_MANIFEST must name the compiled manifest"
#endif

#define OPC_FORMAT_NVM 0x80u  /* Base 2.0 §5.23: refused by the shim's allowlist */
#define FID_NUM_QUEUES 0x07u

struct st {
    struct capdrv_env *env;
    struct capdrv_sim *sim;
    struct capdrv_shim *shim;
    capdrv_sys *sys;
    unsigned fn;
    capdrv_cap_t grant, pool, data;
    struct capdrv_dmabuf_info di;
    struct capdrv_nvme_ctrl *c;
    char why[256];
};

static void *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    long n = ftell(fp);
    assert_true(n > 0);
    rewind(fp);
    void *buf = malloc((size_t)n);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *len = (size_t)n;
    return buf;
}

static void st_up(struct st *t, bool iommu)
{
    memset(t, 0, sizeof *t);
    struct capdrv_sim_config sc = {.iommu = iommu};
    assert_int_equal(capdrv_sim_create(&sc, &t->sim), 0);
    struct capdrv_pci_addr a = {0, 0, 5, 0};
    assert_int_equal(capdrv_sim_add_nvme(t->sim, &a, NULL, &t->fn), 0);
    t->env = capdrv_env_hosted_new(NULL);
    assert_non_null(t->env);
    size_t len;
    void *blob = slurp(NVME_MANIFEST, &len);
    struct capdrv_shim_config c = {.env = t->env, .hw = capdrv_sim_hw(t->sim), .manifest = blob,
                                   .manifest_len = len};
    int rc = capdrv_shim_create(&c, &t->shim, t->why, sizeof t->why);
    free(blob);
    if (rc < 0)
        fail_msg("shim: %s (%s)", t->why, capdrv_strerror(rc));
    assert_int_equal(capdrv_shim_connect(t->shim, "nvme-demo", &t->sys), 0);
    int idx = capdrv_grant_find(t->sys, "nvme0");
    assert_true(idx >= 0);
    assert_int_equal(capdrv_grant_open(t->sys, (unsigned)idx, &t->grant), 0);
    assert_int_equal(capdrv_pool_open(t->sys, t->grant, &t->pool), 0);
    assert_int_equal(capdrv_dma_alloc(t->sys, t->pool, 4096, &t->data, &t->di), 0);
    struct capdrv_nvme_ctrl_opts o = {.pool = t->pool};
    rc = capdrv_nvme_ctrl_open(t->sys, t->grant, &o, &t->c, t->why, sizeof t->why);
    if (rc < 0)
        fail_msg("open: %s (%s)", t->why, capdrv_strerror(rc));
    struct capdrv_nvme_ns_info ns;
    assert_int_equal(capdrv_nvme_ns_info(t->c, 1, &ns), 0);
}

static void st_down(struct st *t)
{
    capdrv_nvme_ctrl_close(t->c);
    assert_int_equal(capdrv_cap_release(t->sys, t->data), 0);
    assert_int_equal(capdrv_cap_release(t->sys, t->grant), 0);
    capdrv_sys_close(t->sys);
    assert_int_equal(capdrv_sim_oracle_violations(t->sim), 0);
    capdrv_shim_destroy(t->shim);
    assert_int_equal(capdrv_env_hosted_live_allocs(t->env), 0);
    capdrv_env_hosted_free(t->env);
    capdrv_sim_destroy(t->sim);
}

static void done_cb(void *arg, const struct capdrv_nvme_cpl *cpl)
{
    int *p = arg;
    p[0]++;
    p[1] = cpl->status;
}

static void refused_then_usable(bool iommu)
{
    struct st t;
    st_up(&t, iommu);
    struct capdrv_sim_nvme_stats before, after;
    assert_int_equal(capdrv_sim_nvme_stats(t.sim, t.fn, &before), 0);
    struct capdrv_nvme_sqe sqe;
    memset(&sqe, 0, sizeof sqe);
    sqe.opc = OPC_FORMAT_NVM;
    sqe.nsid = capdrv_nvme_cpu_to_le32(1);
    struct capdrv_nvme_cqe cqe;
    for (unsigned i = 0; i < 3; i++) /* more than once: nothing accumulates */
        assert_int_equal(capdrv_nvme_admin_passthru(t.c, &sqe, NULL, 0, &cqe), -CAPDRV_EPERM);
    assert_int_equal(capdrv_sim_nvme_stats(t.sim, t.fn, &after), 0);
    assert_int_equal(after.admin_cmds, before.admin_cmds); /* the controller saw none */
    /* The admin queue works on, without a reset. */
    uint32_t dw0 = 0;
    assert_int_equal(capdrv_nvme_get_features(t.c, FID_NUM_QUEUES, 0, 0, NULL, 0, &dw0), 0);
    struct capdrv_nvme_ctrl_info info;
    assert_int_equal(capdrv_nvme_ctrl_info(t.c, &info), 0);
    assert_int_equal(info.resets, 0);
    /* And so does I/O through a queue pair created afterwards. */
    struct capdrv_nvme_qpair *qp;
    assert_int_equal(capdrv_nvme_qpair_create(t.c, NULL, &qp), 0);
    struct capdrv_dma_seg seg = {capdrv_dma_ref(&t.di, 0), 512};
    int d[2] = {0, -1};
    assert_int_equal(capdrv_nvme_read(qp, 1, 0, 1, &seg, 1, done_cb, d), 0);
    assert_int_equal(capdrv_nvme_qpair_wait(qp, -1), 1);
    assert_int_equal(d[0], 1);
    assert_int_equal(d[1], 0);
    assert_int_equal(capdrv_nvme_qpair_destroy(qp), 0);
    st_down(&t);
}

static void t_refused_brokered(void **state)
{
    (void)state;
    refused_then_usable(false);
}

static void t_refused_direct(void **state)
{
    (void)state;
    refused_then_usable(true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_refused_brokered),
        cmocka_unit_test(t_refused_direct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
