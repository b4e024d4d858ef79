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
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sweep_create),
        cmocka_unit_test(sweep_ops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
