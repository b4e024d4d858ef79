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

#include <string.h>

#include "nvme_rig.h"

#ifndef NVME_MANIFEST
#error "NVME_MANIFEST must name the compiled manifest"
#endif

#define OPC_FORMAT_NVM 0x80u  /* Base 2.0 §5.23: refused by the shim's allowlist */
#define FID_NUM_QUEUES 0x07u

static void done_cb(void *arg, const struct capdrv_nvme_cpl *cpl)
{
    int *p = arg;
    p[0]++;
    p[1] = cpl->status;
}

static void refused_then_usable(bool iommu)
{
    struct nvme_rig t;
    struct nvme_rig_opts o = {.iommu = iommu};
    nvme_rig_up(&t, NVME_MANIFEST, &o);
    struct capdrv_dmabuf_info di;
    (void)nvme_rig_alloc(&t, 4096, &di);
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
    struct capdrv_dma_seg seg = {capdrv_dma_ref(&di, 0), 512};
    int d[2] = {0, -1};
    assert_int_equal(capdrv_nvme_read(qp, 1, 0, 1, &seg, 1, done_cb, d), 0);
    assert_int_equal(capdrv_nvme_qpair_wait(qp, -1), 1);
    assert_int_equal(d[0], 1);
    assert_int_equal(d[1], 0);
    assert_int_equal(capdrv_nvme_qpair_destroy(qp), 0);
    nvme_rig_down(&t);
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
