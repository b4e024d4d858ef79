/* Allocation-failure sweeps: every shim operation that allocates is run
 * with the environment's Nth allocation failing, for N = 1, 2, ... until
 * it succeeds. Each failure must be a clean -CAPDRV_ENOMEM that changes
 * nothing (ledger, claims) and leaks nothing. */
#include "fixture.h"

#include <string.h>

static void sweep_create(void **state)
{
    (void)state;
    for (unsigned long n = 1;; n++) {
        struct fx f;
        fx_machine(&f, false);
        capdrv_env_hosted_fail_alloc(f.env, n);
        int rc = fx_shim(&f, "basic");
        capdrv_env_hosted_fail_alloc(f.env, 0);
        if (rc == 0) {
            fx_done(&f);
            assert_true(n > 1); /* creation does allocate */
            return;
        }
        assert_int_equal(rc, -CAPDRV_ENOMEM);
        assert_null(f.shim);
        fx_done(&f); /* asserts no live allocations */
        assert_true(n < 1000);
    }
}

/* One provider operation, run against a fresh fixture each time. */
typedef int (*op_fn)(struct fx *f, capdrv_cap_t g);

static int op_connect(struct fx *f, capdrv_cap_t g)
{
    (void)g;
    capdrv_sys *s = NULL;
    int rc = capdrv_shim_connect(f->shim, "p1", &s);
    capdrv_sys_close(s);
    return rc;
}

static int op_grant_open(struct fx *f, capdrv_cap_t g)
{
    (void)g;
    capdrv_cap_t x;
    return capdrv_grant_open(f->p1, (unsigned)capdrv_grant_find(f->p1, "raw0"), &x);
}

static int op_mmio_open(struct fx *f, capdrv_cap_t g)
{
    capdrv_cap_t x;
    return capdrv_mmio_open(f->p1, g, 0, &x);
}

static int op_irq_open(struct fx *f, capdrv_cap_t g)
{
    capdrv_cap_t x;
    return capdrv_irq_open(f->p1, g, 0, &x);
}

static int op_dma_alloc(struct fx *f, capdrv_cap_t g)
{
    capdrv_cap_t pool, x;
    struct capdrv_dmabuf_info bi;
    int rc = capdrv_pool_open(f->p1, g, &pool);
    if (rc < 0)
        return rc;
    /* Fill the first cap-table chunk so the buffer's slot needs a new one. */
    for (int i = 0; i < 3; i++) {
        rc = capdrv_dma_alloc(f->p1, pool, 4096, &x, &bi);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* The rest of the provider ABI, each with what it derives or touches, so
 * that the sweep covers every shim entry point (capdrv_shim/core.h): most
 * allocate nothing today and pass at the first try, but a future
 * allocation in any of them is swept without a new test. */
static int op_queries(struct fx *f, capdrv_cap_t g)
{
    struct capdrv_grant_info gi;
    struct capdrv_window_info wi;
    int rc = capdrv_grant_count(f->p1);
    if (rc < 0)
        return rc;
    if ((rc = capdrv_grant_info(f->p1, 0, &gi)) < 0 || (rc = capdrv_grant_lane(f->p1, g)) < 0 ||
        (rc = capdrv_window_info(f->p1, g, 0, &wi)) < 0)
        return rc;
    return 0;
}

static int op_pool_and_buffer(struct fx *f, capdrv_cap_t g)
{
    capdrv_cap_t pool, b;
    struct capdrv_dmabuf_info bi;
    int rc = capdrv_pool_open(f->p1, g, &pool);
    if (rc < 0 || (rc = capdrv_dma_alloc(f->p1, pool, 4096, &b, &bi)) < 0 ||
        (rc = capdrv_dmabuf_info(f->p1, b, &bi)) < 0)
        return rc;
    return capdrv_cap_release(f->p1, b);
}

static int op_device_access(struct fx *f, capdrv_cap_t g)
{
    capdrv_cap_t m, pool, b;
    struct capdrv_dmabuf_info bi;
    int rc = capdrv_mmio_open(f->p1, g, 0, &m);
    if (rc < 0 || (rc = capdrv_pool_open(f->p1, g, &pool)) < 0 ||
        (rc = capdrv_dma_alloc(f->p1, pool, 4096, &b, &bi)) < 0)
        return rc;
    uint32_t v;
    if ((rc = capdrv_cfg_read(f->p1, g, 0x04, 2, &v)) < 0 ||
        (rc = capdrv_cfg_write(f->p1, g, 0x04, 2, 0x0006)) < 0)
        return rc;
    /* A doorbell: publishes the buffer to the device (ledger in-flight). */
    return fx_dmatest_cmd(f->p1, m, capdrv_dma_ref(&bi, 0), 64, CAPDRV_DMATEST_CMD_FILL, 1, 0);
}

static int op_interrupts(struct fx *f, capdrv_cap_t g)
{
    capdrv_cap_t irq;
    int rc = capdrv_irq_open(f->p1, g, 0, &irq);
    if (rc < 0 || (rc = capdrv_irq_mask(f->p1, irq, true)) < 0 ||
        (rc = capdrv_irq_mask(f->p1, irq, false)) < 0 || (rc = capdrv_irq_ack(f->p1, irq)) < 0)
        return rc;
    uint64_t ready = 0;
    rc = capdrv_irq_wait(f->p1, &irq, 1, 0, &ready);
    return rc == -CAPDRV_ETIMEDOUT ? 0 : rc;
}

static int op_reset_and_revoke(struct fx *f, capdrv_cap_t g)
{
    capdrv_cap_t pool, b;
    struct capdrv_dmabuf_info bi;
    int rc = capdrv_pool_open(f->p1, g, &pool);
    if (rc < 0 || (rc = capdrv_dma_alloc(f->p1, pool, 4096, &b, &bi)) < 0)
        return rc;
    if ((rc = capdrv_shim_revoke(f->shim, f->p1, b)) < 0)
        return rc;
    return capdrv_grant_reset(f->p1, g);
}

static void sweep_op(op_fn op, const char *name)
{
    bool failed_once = false;
    for (unsigned long n = 1;; n++) {
        struct fx f;
        fx_basic(&f, false);
        capdrv_cap_t g = fx_open(f.p1, "dma0");
        struct capdrv_shim_stats before, after;
        assert_int_equal(capdrv_shim_stats(f.shim, &before), 0);
        capdrv_env_hosted_fail_alloc(f.env, n);
        int rc = op(&f, g);
        capdrv_env_hosted_fail_alloc(f.env, 0);
        if (rc == 0) {
            fx_done(&f);
            (void)failed_once;
            return;
        }
        if (rc != -CAPDRV_ENOMEM)
            fail_msg("%s with allocation %lu failing: %d, want -ENOMEM", name, n, rc);
        failed_once = true;
        assert_int_equal(capdrv_shim_stats(f.shim, &after), 0);
        assert_int_equal(after.grants_claimed, before.grants_claimed);
        assert_int_equal(after.providers, before.providers);
        fx_done(&f);
        assert_true(n < 1000);
    }
}

static void sweep_ops(void **state)
{
    (void)state;
    sweep_op(op_connect, "connect");
    sweep_op(op_grant_open, "grant_open");
    sweep_op(op_mmio_open, "mmio_open");
    sweep_op(op_irq_open, "irq_open");
    sweep_op(op_dma_alloc, "dma_alloc");
    sweep_op(op_queries, "grant/window queries");
    sweep_op(op_pool_and_buffer, "pool_open, dmabuf_info, release");
    sweep_op(op_device_access, "mmio, cfg, doorbell");
    sweep_op(op_interrupts, "irq open/mask/ack/wait");
    sweep_op(op_reset_and_revoke, "revoke, grant_reset");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sweep_create),
        cmocka_unit_test(sweep_ops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
