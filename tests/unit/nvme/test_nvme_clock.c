/* The NVMe library's wait clock (include/capdrv/nvme.h "Time") under an
 * interrupt storm: a platform whose interrupt waits keep returning "fired"
 * while the controller has completed nothing. The library charges such a
 * wake-up the host time it took (at least 1 us): a storm can neither stop
 * the clock (a dropped command still times out) nor eat a deadline far
 * faster than the time that really passed (a slow command still
 * completes). The storm is made
 * by wrapping the sim's platform operations under the shim: each wait lets
 * STORM_GAP_NS of simulated time pass and reports its first source fired. */
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

#define STORM_GAP_NS 100000ull /* simulated time between two spurious wake-ups */
#define FID_NUM_QUEUES 0x07u   /* Base 2.0 §5.27.1.7 */
#define OPC_GET_FEATURES 0x0a

struct storm {
    struct capdrv_hw inner;
    struct capdrv_hw_ops ops;
    struct capdrv_sim *sim;
    bool on;
    uint64_t wakeups;
};

struct st {
    struct nvme_rig r;
    struct storm storm;
    struct capdrv_nvme_ctrl *c;
    struct capdrv_sim *sim;
    unsigned fn;
};

static int storm_irq_wait(void *ctx, const struct capdrv_hw_irq *set, unsigned n,
                          int64_t timeout_ns, uint64_t *ready)
{
    struct storm *s = ctx;
    if (!s->on || n == 0)
        return s->inner.ops->irq_wait(s->inner.ctx, set, n, timeout_ns, ready);
    /* Real completions first: what the sim has pending is delivered. */
    int rc = s->inner.ops->irq_wait(s->inner.ctx, set, n, 0, ready);
    if (rc > 0)
        return rc;
    capdrv_sim_advance(s->sim, STORM_GAP_NS);
    s->wakeups++;
    *ready = 1; /* the first source "fired": nothing was completed */
    return 1;
}

/* Every other operation goes to the sim, with the sim as context. */
#define FWD(name, ret, params, args)                                                            \
    static ret fwd_##name params                                                               \
    {                                                                                          \
        struct storm *s = ctx;                                                                 \
        return s->inner.ops->name args;                                                        \
    }
FWD(caps, unsigned, (void *ctx), (s->inner.ctx))
FWD(function_count, int, (void *ctx), (s->inner.ctx))
FWD(function_info, int, (void *ctx, unsigned fn, struct capdrv_hw_function *out),
    (s->inner.ctx, fn, out))
FWD(cfg_read, int, (void *ctx, unsigned fn, uint32_t o, unsigned w, uint32_t *v),
    (s->inner.ctx, fn, o, w, v))
FWD(cfg_write, int, (void *ctx, unsigned fn, uint32_t o, unsigned w, uint32_t v),
    (s->inner.ctx, fn, o, w, v))
FWD(bar_read, int, (void *ctx, unsigned fn, unsigned b, uint64_t o, unsigned w, uint64_t *v),
    (s->inner.ctx, fn, b, o, w, v))
FWD(bar_write, int, (void *ctx, unsigned fn, unsigned b, uint64_t o, unsigned w, uint64_t v),
    (s->inner.ctx, fn, b, o, w, v))
FWD(dma_alloc, int, (void *ctx, size_t size, struct capdrv_hw_dma *out), (s->inner.ctx, size, out))
FWD(dma_map, int, (void *ctx, unsigned fn, const struct capdrv_hw_dma *m, uint64_t iova,
                   uint64_t *dev),
    (s->inner.ctx, fn, m, iova, dev))
FWD(dma_unmap, int, (void *ctx, unsigned fn, const struct capdrv_hw_dma *m, uint64_t dev),
    (s->inner.ctx, fn, m, dev))
FWD(irq_enable, int, (void *ctx, unsigned fn, unsigned v), (s->inner.ctx, fn, v))
FWD(irq_disable, int, (void *ctx, unsigned fn, unsigned v), (s->inner.ctx, fn, v))
FWD(irq_mask, int, (void *ctx, unsigned fn, unsigned v, bool m), (s->inner.ctx, fn, v, m))
FWD(function_reset, int, (void *ctx, unsigned fn), (s->inner.ctx, fn))

static void fwd_dma_free(void *ctx, struct capdrv_hw_dma *mem)
{
    struct storm *s = ctx;
    s->inner.ops->dma_free(s->inner.ctx, mem);
}

/* nvme_rig_opts::wrap_hw: every operation to the sim, waits through the storm. */
static struct capdrv_hw wrap_storm(struct capdrv_hw sim_hw, struct capdrv_sim *sim, void *arg)
{
    struct storm *s = arg;
    s->inner = sim_hw;
    s->sim = sim;
    s->ops = *sim_hw.ops;
    s->ops.caps = fwd_caps;
    s->ops.function_count = fwd_function_count;
    s->ops.function_info = fwd_function_info;
    s->ops.cfg_read = fwd_cfg_read;
    s->ops.cfg_write = fwd_cfg_write;
    s->ops.bar_read = fwd_bar_read;
    s->ops.bar_write = fwd_bar_write;
    s->ops.dma_alloc = fwd_dma_alloc;
    s->ops.dma_free = fwd_dma_free;
    s->ops.dma_map = fwd_dma_map;
    s->ops.dma_unmap = fwd_dma_unmap;
    s->ops.irq_enable = fwd_irq_enable;
    s->ops.irq_disable = fwd_irq_disable;
    s->ops.irq_mask = fwd_irq_mask;
    s->ops.irq_wait = storm_irq_wait;
    s->ops.function_reset = fwd_function_reset;
    s->ops.dma_fd = NULL; /* optional; the in-process shim does not use it */
    return (struct capdrv_hw){.ops = &s->ops, .ctx = s};
}

static void st_up(struct st *t, uint64_t admin_timeout_ns)
{
    memset(t, 0, sizeof *t);
    struct nvme_rig_opts o = {.ctrl = {.admin_timeout_ns = admin_timeout_ns},
                              .wrap_hw = wrap_storm,
                              .wrap_arg = &t->storm};
    nvme_rig_up(&t->r, NVME_MANIFEST, &o);
    t->c = t->r.c;
    t->sim = t->r.sim;
    t->fn = t->r.fn;
}

static void st_down(struct st *t)
{
    t->storm.on = false;
    nvme_rig_down(&t->r);
}

/* A Get Features the controller completes 1 s later (simulated), while
 * every wait wakes up every 100 us with nothing done: 10,000 spurious
 * wake-ups, each taking a few microseconds of host time. At a whole 1 ms
 * slice each (an earlier charge) they used up the default 5 s deadline
 * after half a second; at their host time they cost a few tens of ms. */
static void t_storm_slow_command_completes(void **state)
{
    (void)state;
    struct st t;
    st_up(&t, 0);
    struct capdrv_sim_nvme_fault f = {.kind = CAPDRV_SIM_NVME_FAULT_SLOW,
                                      .qid = 0,
                                      .opcode = OPC_GET_FEATURES,
                                      .delay_ns = 1000000000ull,
                                      .count = 1};
    assert_int_equal(capdrv_sim_nvme_set_fault(t.sim, t.fn, &f), 0);
    struct capdrv_nvme_ctrl_info before, after;
    assert_int_equal(capdrv_nvme_ctrl_info(t.c, &before), 0);
    uint64_t t0 = capdrv_sim_now(t.sim);
    t.storm.on = true;
    uint32_t dw0 = 0;
    assert_int_equal(capdrv_nvme_get_features(t.c, FID_NUM_QUEUES, 0, 0, NULL, 0, &dw0), 0);
    t.storm.on = false;
    assert_true(capdrv_sim_now(t.sim) - t0 >= 1000000000ull);
    assert_true(t.storm.wakeups >= 9000);
    assert_int_equal(capdrv_nvme_ctrl_info(t.c, &after), 0);
    assert_int_equal(after.resets, before.resets);
    st_down(&t);
}

/* A dropped Get Features under the same storm still times out: every
 * wake-up advances the clock by at least 1 us, so a 50 ms deadline passes
 * after at most 50,000 wake-ups (fewer, as each takes longer than 1 us of
 * host time). */
static void t_storm_cannot_stop_the_clock(void **state)
{
    (void)state;
    struct st t;
    st_up(&t, 50000000ull);
    struct capdrv_sim_nvme_fault f = {
        .kind = CAPDRV_SIM_NVME_FAULT_DROP, .qid = 0, .opcode = OPC_GET_FEATURES, .count = 1};
    assert_int_equal(capdrv_sim_nvme_set_fault(t.sim, t.fn, &f), 0);
    t.storm.on = true;
    uint32_t dw0 = 0;
    assert_int_equal(capdrv_nvme_get_features(t.c, FID_NUM_QUEUES, 0, 0, NULL, 0, &dw0),
                     -CAPDRV_ETIMEDOUT);
    uint64_t w = t.storm.wakeups;
    t.storm.on = false;
    /* At most 50,000 wake-ups for the command, and the reset that follows
     * a timed-out admin command waits a little under the storm too. */
    assert_true(w > 0);
    assert_true(w <= 100000);
    /* The controller was reset and answers again. */
    assert_int_equal(capdrv_nvme_get_features(t.c, FID_NUM_QUEUES, 0, 0, NULL, 0, &dw0), 0);
    st_down(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_storm_slow_command_completes),
        cmocka_unit_test(t_storm_cannot_stop_the_clock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
