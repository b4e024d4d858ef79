/* Authority cases: the seed's lifecycle rules, provable on any backend. */
#include "../conf.h"

#include <capdrv/dev/dmatest.h>

static void stale_handle(struct conf_ctx *c)
{
    capdrv_cap_t g = conf_open(c, c->conf, "dev"), m;
    CONF_CHECK(c, g != CAPDRV_CAP_INVALID);
    CONF_EQ(c, capdrv_mmio_open(c->conf, g, 0, &m), 0);
    uint64_t v;
    CONF_EQ(c, capdrv_cap_release(c->conf, m), 0);
    CONF_EQ(c, capdrv_mmio_read(c->conf, m, CAPDRV_DMATEST_ID, 4, &v), -CAPDRV_ESTALE);
    CONF_EQ(c, capdrv_mmio_write(c->conf, m, CAPDRV_DMATEST_PATTERN, 4, 1), -CAPDRV_ESTALE);
    capdrv_cap_t m2;
    CONF_EQ(c, capdrv_mmio_open(c->conf, g, 0, &m2), 0); /* may reuse the slot */
    CONF_EQ(c, capdrv_mmio_read(c->conf, m, CAPDRV_DMATEST_ID, 4, &v), -CAPDRV_ESTALE);
    CONF_EQ(c, capdrv_mmio_read(c->conf, m2, CAPDRV_DMATEST_ID, 4, &v), 0);
    CONF_EQ(c, v, CAPDRV_DMATEST_ID_VALUE);
    CONF_EQ(c, capdrv_mmio_read(c->conf, CAPDRV_CAP_INVALID, 0, 4, &v), -CAPDRV_EBADF);
}

static void wrong_grant_class(struct conf_ctx *c)
{
    capdrv_cap_t g = conf_open(c, c->conf, "plain"), pool;
    CONF_CHECK(c, g != CAPDRV_CAP_INVALID);
    CONF_EQ(c, capdrv_pool_open(c->conf, g, &pool), -CAPDRV_EACCES);
    struct capdrv_grant_info gi;
    CONF_EQ(c, capdrv_grant_info(c->conf, (unsigned)capdrv_grant_find(c->conf, "plain"), &gi), 0);
    CONF_EQ(c, gi.cls, CAPDRV_GRANT_ANY_FUNCTION);
}

static void out_of_window(struct conf_ctx *c)
{
    capdrv_cap_t g = conf_open(c, c->conf, "plain"), all, ro;
    CONF_CHECK(c, g != CAPDRV_CAP_INVALID);
    CONF_EQ(c, capdrv_mmio_open(c->conf, g, 0, &all), 0);
    CONF_EQ(c, capdrv_mmio_open(c->conf, g, 1, &ro), 0);
    uint64_t v;
    CONF_EQ(c, capdrv_mmio_read(c->conf, all, 0x1000, 4, &v), -CAPDRV_EFAULT);
    CONF_EQ(c, capdrv_mmio_read(c->conf, all, 0xffe, 4, &v), -CAPDRV_EINVAL);
    CONF_EQ(c, capdrv_mmio_read(c->conf, ro, 0x100, 1, &v), -CAPDRV_EFAULT);
    CONF_EQ(c, capdrv_mmio_write(c->conf, ro, 0x0, 4, 1), -CAPDRV_EPERM);
    capdrv_cap_t d = conf_open(c, c->conf, "dev"), dm;
    CONF_EQ(c, capdrv_mmio_open(c->conf, d, 0, &dm), 0);
    CONF_EQ(c, capdrv_mmio_write(c->conf, dm, CAPDRV_DMATEST_ID, 4, 0), -CAPDRV_EPERM);
    CONF_EQ(c, capdrv_mmio_read(c->conf, dm, 0x200, 4, &v), -CAPDRV_EFAULT);
}

static void quota(struct conf_ctx *c)
{
    capdrv_cap_t g = conf_open(c, c->conf, "dev"), pool, b;
    CONF_EQ(c, capdrv_pool_open(c->conf, g, &pool), 0);
    struct capdrv_grant_info gi;
    CONF_EQ(c, capdrv_grant_info(c->conf, (unsigned)capdrv_grant_find(c->conf, "dev"), &gi), 0);
    struct capdrv_dmabuf_info bi;
    CONF_EQ(c, capdrv_dma_alloc(c->conf, pool, gi.pool_quota_bytes + 1, &b, &bi), -CAPDRV_ENOSPC);
    uint64_t used = 0;
    while (used + 4096 <= gi.pool_quota_bytes)
        if (capdrv_dma_alloc(c->conf, pool, 4096, &b, &bi) == 0)
            used += 4096;
        else
            break;
    CONF_CHECK(c, used > 0);
    CONF_EQ(c, capdrv_dma_alloc(c->conf, pool, 4096, &b, &bi), -CAPDRV_ENOSPC);
}

/* Start a slow FILL on "dev"; fills *buf, *mmio, *grant. */
static bool start_slow_fill(struct conf_ctx *c, capdrv_cap_t *grant, capdrv_cap_t *mmio,
                            capdrv_cap_t *buf, struct capdrv_dmabuf_info *bi)
{
    capdrv_cap_t pool;
    *grant = conf_open(c, c->conf, "dev");
    if (*grant == CAPDRV_CAP_INVALID || capdrv_mmio_open(c->conf, *grant, 0, mmio) < 0 ||
        capdrv_pool_open(c->conf, *grant, &pool) < 0 ||
        capdrv_dma_alloc(c->conf, pool, 4096, buf, bi) < 0)
        return conf_fail(c, __FILE__, __LINE__, "setup of the slow command failed");
    int rc = conf_dmatest(c->conf, *mmio, capdrv_dma_ref(bi, 0), 4096, CAPDRV_DMATEST_CMD_FILL,
                          0x5a5a5a5au, 50000);
    if (rc < 0)
        return conf_fail(c, __FILE__, __LINE__, "doorbell: %s", capdrv_strerror(rc));
    return true;
}

static bool need_observer(struct conf_ctx *c)
{
    if (!c->plat->oracle_violations || !c->plat->advance) {
        conf_skip(c, "platform %s cannot observe device DMA", c->plat->name);
        return false;
    }
    return true;
}

static void revoke_then_no_dma(struct conf_ctx *c)
{
    if (!need_observer(c))
        return;
    capdrv_cap_t g, m, b;
    struct capdrv_dmabuf_info bi;
    if (!start_slow_fill(c, &g, &m, &b, &bi))
        return;
    CONF_EQ(c, conf_revoke(c, c->conf, b), 0);
    struct capdrv_dmabuf_info again;
    CONF_EQ(c, capdrv_dmabuf_info(c->conf, b, &again), -CAPDRV_ESTALE);
    c->plat->advance(c, 1000000);
    CONF_EQ(c, c->plat->oracle_violations(c), 0);
    struct capdrv_shim_stats st;
    CONF_EQ(c, capdrv_shim_stats(c->shim, &st), 0);
    CONF_EQ(c, st.dma_buffers, 0);
}

static void release_teardown(struct conf_ctx *c)
{
    capdrv_cap_t g, m, b, irq;
    struct capdrv_dmabuf_info bi;
    if (!start_slow_fill(c, &g, &m, &b, &bi))
        return;
    CONF_EQ(c, capdrv_irq_open(c->conf, g, 0, &irq), 0);
    CONF_EQ(c, capdrv_cap_release(c->conf, g), 0);
    uint64_t v, ready;
    CONF_EQ(c, capdrv_mmio_read(c->conf, m, 0, 4, &v), -CAPDRV_ESTALE);
    CONF_EQ(c, capdrv_dmabuf_info(c->conf, b, &bi), -CAPDRV_ESTALE);
    CONF_EQ(c, capdrv_irq_wait(c->conf, &irq, 1, 0, &ready), -CAPDRV_ESTALE);
    if (c->plat->advance)
        c->plat->advance(c, 1000000);
    if (c->plat->oracle_violations)
        CONF_EQ(c, c->plat->oracle_violations(c), 0);
    capdrv_cap_t again = conf_open(c, c->conf, "dev"); /* claimable again */
    CONF_CHECK(c, again != CAPDRV_CAP_INVALID);
}

static void function_reset(struct conf_ctx *c)
{
    capdrv_cap_t g, m, b;
    struct capdrv_dmabuf_info bi;
    if (!start_slow_fill(c, &g, &m, &b, &bi))
        return;
    unsigned before = c->plat->reset_count ? c->plat->reset_count(c, "dev") : 0;
    CONF_EQ(c, capdrv_grant_reset(c->conf, g), 0);
    if (c->plat->reset_count)
        CONF_EQ(c, c->plat->reset_count(c, "dev"), before + 1);
    uint64_t v;
    CONF_EQ(c, capdrv_mmio_read(c->conf, m, 0, 4, &v), -CAPDRV_ESTALE);
    CONF_EQ(c, capdrv_grant_lane(c->conf, g), c->lane);
    if (c->plat->advance)
        c->plat->advance(c, 1000000);
    if (c->plat->oracle_violations)
        CONF_EQ(c, c->plat->oracle_violations(c), 0);
}

static void provider_death(struct conf_ctx *c)
{
    capdrv_cap_t g, m, b;
    struct capdrv_dmabuf_info bi;
    if (!start_slow_fill(c, &g, &m, &b, &bi))
        return;
    capdrv_cap_t peer = conf_open(c, c->other, "peer"), pm;
    CONF_EQ(c, capdrv_mmio_open(c->other, peer, 0, &pm), 0);
    capdrv_sys_close(c->conf); /* death with a command in flight */
    c->conf = NULL;
    if (c->plat->advance)
        c->plat->advance(c, 1000000);
    if (c->plat->oracle_violations)
        CONF_EQ(c, c->plat->oracle_violations(c), 0);
    struct capdrv_shim_stats st;
    CONF_EQ(c, capdrv_shim_stats(c->shim, &st), 0);
    CONF_EQ(c, st.dma_buffers, 0);
    CONF_EQ(c, st.grants_claimed, 1); /* only the other provider's */
    uint64_t v; /* the other provider is unaffected */
    CONF_EQ(c, capdrv_mmio_read(c->other, pm, CAPDRV_DMATEST_ID, 4, &v), 0);
    CONF_EQ(c, conf_connect(c, "conf", &c->conf), 0);
    CONF_CHECK(c, conf_open(c, c->conf, "dev") != CAPDRV_CAP_INVALID);
}

static void isolation(struct conf_ctx *c)
{
    CONF_EQ(c, capdrv_grant_find(c->other, "dev"), -CAPDRV_ENOENT);
    capdrv_cap_t g = conf_open(c, c->conf, "dev"), m;
    CONF_EQ(c, capdrv_mmio_open(c->conf, g, 0, &m), 0);
    uint64_t v; /* a handle means nothing in another provider's table */
    CONF_CHECK(c, capdrv_mmio_read(c->other, m, CAPDRV_DMATEST_ID, 4, &v) < 0);
}

const struct conf_case conf_cases_authority[] = {
    {"authority.stale-handle", "seed: stale-authority rejection (generation-checked handles)",
     CONF_BOTH_LANES, stale_handle},
    {"authority.wrong-grant-class", "seed: ProdGrantClass - AnyFunction holds no DMAPool",
     CONF_BOTH_LANES, wrong_grant_class},
    {"authority.out-of-window-mmio", "seed: DeviceMmio window bounds, widths, read-only registers",
     CONF_BOTH_LANES, out_of_window},
    {"authority.pool-quota", "seed: DMAPool quota", CONF_BOTH_LANES, quota},
    {"authority.revoke-then-no-dma", "seed: revoke is complete - no DMA into revoked memory",
     CONF_BOTH_LANES, revoke_then_no_dma},
    {"authority.release-teardown", "seed: release tears down everything derived from a grant",
     CONF_BOTH_LANES, release_teardown},
    {"authority.function-reset", "seed: function reset revokes derived caps and stops DMA",
     CONF_BOTH_LANES, function_reset},
    {"authority.provider-death", "seed: driver-death teardown; other providers unaffected",
     CONF_BOTH_LANES, provider_death},
    {"authority.provider-isolation", "seed: manifest-granted authority is per provider",
     CONF_BOTH_LANES, isolation},
};
const size_t conf_cases_authority_n = sizeof conf_cases_authority / sizeof conf_cases_authority[0];
