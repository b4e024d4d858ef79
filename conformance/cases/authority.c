/* Authority cases: the seed's lifecycle rules, provable on any backend.
 * The DMA device is the platform's engine (engine.h): dmatest on the sim,
 * the NVMe controller on QEMU and VFIO machines. */
#include "engine.h"
#include "nvme_raw.h"

#include <string.h>

static void stale_handle(struct conf_ctx *c)
{
    struct conf_engine e;
    struct conf_engine_regs r;
    if (!conf_engine_open(c, &e, CONF_ENGINE_REGS))
        return;
    if (conf_engine_regs(&e, &r) < 0) {
        conf_skip(c, "platform %s cannot read device registers directly", c->plat->name);
        return;
    }
    capdrv_cap_t g = e.g, m = e.m;
    uint64_t v;
    CONF_EQ(c, capdrv_mmio_read(c->conf, m, r.id, 4, &v), 0);
    CONF_EQ(c, v, r.id_value);
    CONF_EQ(c, capdrv_cap_release(c->conf, m), 0);
    CONF_EQ(c, capdrv_mmio_read(c->conf, m, r.id, 4, &v), -CAPDRV_ESTALE);
    CONF_EQ(c, capdrv_mmio_write(c->conf, m, r.addr, 4, 1), -CAPDRV_ESTALE);
    capdrv_cap_t m2;
    CONF_EQ(c, capdrv_mmio_open(c->conf, g, 0, &m2), 0); /* may reuse the slot */
    CONF_EQ(c, capdrv_mmio_read(c->conf, m, r.id, 4, &v), -CAPDRV_ESTALE);
    CONF_EQ(c, capdrv_mmio_read(c->conf, m2, r.id, 4, &v), 0);
    CONF_EQ(c, v, r.id_value);
    CONF_EQ(c, capdrv_mmio_read(c->conf, CAPDRV_CAP_INVALID, 0, 4, &v), -CAPDRV_EBADF);
}

/* A grant of class any-function: "plain" of provider "conf" where the
 * machine has it, else "bystander" of provider "other" (QEMU, VFIO). */
static capdrv_cap_t open_plain(struct conf_ctx *c, capdrv_sys **sys, const char **name)
{
    bool bystander = false;
    if (c->plat->grants) {
        bool plain = false;
        for (const char *const *g = c->plat->grants; *g; g++) {
            plain |= !strcmp(*g, "plain");
            bystander |= !strcmp(*g, "bystander");
        }
        bystander &= !plain;
    }
    *sys = bystander ? c->other : c->conf;
    *name = bystander ? "bystander" : "plain";
    return conf_open(c, *sys, *name);
}

static void wrong_grant_class(struct conf_ctx *c)
{
    capdrv_sys *sys;
    const char *name;
    capdrv_cap_t g = open_plain(c, &sys, &name), pool;
    CONF_CHECK(c, g != CAPDRV_CAP_INVALID);
    CONF_EQ(c, capdrv_pool_open(sys, g, &pool), -CAPDRV_EACCES);
    struct capdrv_grant_info gi;
    CONF_EQ(c, capdrv_grant_info(sys, (unsigned)capdrv_grant_find(sys, name), &gi), 0);
    CONF_EQ(c, gi.cls, CAPDRV_GRANT_ANY_FUNCTION);
}

static void out_of_window(struct conf_ctx *c)
{
    uint64_t v;
    /* The 4 KiB window and the read-only window of "plain" (sim only). */
    bool plain = !c->plat->grants;
    for (const char *const *g = c->plat->grants; g && *g; g++)
        plain |= !strcmp(*g, "plain");
    if (plain) {
        capdrv_cap_t g = conf_open(c, c->conf, "plain"), all, ro;
        CONF_CHECK(c, g != CAPDRV_CAP_INVALID);
        CONF_EQ(c, capdrv_mmio_open(c->conf, g, 0, &all), 0);
        CONF_EQ(c, capdrv_mmio_open(c->conf, g, 1, &ro), 0);
        CONF_EQ(c, capdrv_mmio_read(c->conf, all, 0x1000, 4, &v), -CAPDRV_EFAULT);
        CONF_EQ(c, capdrv_mmio_read(c->conf, all, 0xffe, 4, &v), -CAPDRV_EINVAL);
        CONF_EQ(c, capdrv_mmio_read(c->conf, ro, 0x100, 1, &v), -CAPDRV_EFAULT);
        CONF_EQ(c, capdrv_mmio_write(c->conf, ro, 0x0, 4, 1), -CAPDRV_EPERM);
    }
    /* The DMA device: its read-only identity register, offsets past its
     * registers, a misaligned access at the end. */
    struct conf_engine e;
    struct conf_engine_regs r;
    if (!conf_engine_open(c, &e, CONF_ENGINE_REGS))
        return;
    int rr = conf_engine_regs(&e, &r); /* only the offsets are needed here */
    CONF_CHECK(c, rr == 0 || rr == -CAPDRV_ENOTSUP);
    CONF_EQ(c, capdrv_mmio_write(c->conf, e.m, r.id, 4, 0), -CAPDRV_EPERM);
    CONF_EQ(c, capdrv_mmio_read(c->conf, e.m, r.beyond, 4, &v), -CAPDRV_EFAULT);
    CONF_EQ(c, capdrv_mmio_read(c->conf, e.m, r.beyond - 2, 4, &v), -CAPDRV_EINVAL);
    CONF_EQ(c, capdrv_mmio_read(c->conf, e.m, r.id, 3, &v), -CAPDRV_EINVAL);
    CONF_EQ(c, capdrv_mmio_read(c->conf, e.m, r.id, 4, &v), 0); /* the window itself works */
}

static void quota(struct conf_ctx *c)
{
    struct conf_engine e;
    if (!conf_engine_open(c, &e, CONF_ENGINE_REGS))
        return;
    capdrv_cap_t pool = e.pool, b;
    struct capdrv_grant_info gi;
    CONF_EQ(c, capdrv_grant_info(c->conf, (unsigned)capdrv_grant_find(c->conf, e.grant), &gi), 0);
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

/* Start a slow fill on the engine; the buffer gets *buf, *bi. */
static bool start_slow_fill(struct conf_ctx *c, struct conf_engine *e, unsigned flags,
                            capdrv_cap_t *buf, struct capdrv_dmabuf_info *bi)
{
    if (!conf_engine_open(c, e, flags))
        return false;
    /* NVMe on QEMU: the Read stays inside the device (its write into the
     * buffer still to come) until conf_engine_unhold(). */
    (void)conf_engine_hold_next(e);
    if (capdrv_dma_alloc(c->conf, e->pool, 4096, buf, bi) < 0)
        return conf_fail(c, __FILE__, __LINE__, "setup of the slow command failed");
    int rc = conf_engine_start(e, capdrv_dma_ref(bi, 0), 4096, 0x5a5a5a5au, 50000);
    if (rc < 0)
        return conf_fail(c, __FILE__, __LINE__, "doorbell: %s", capdrv_strerror(rc));
    return true;
}

/* Device time for the started fill to happen, if it still may. A command
 * held inside the device (NVMe on QEMU) goes now: had the shim let its
 * memory go while the device still had it, the device would write there
 * now, which the platform's observer sees. */
static void let_device_finish(struct conf_ctx *c, struct conf_engine *e)
{
    if (!c->plat->advance)
        return;
    c->plat->advance(c, 1000000);
    if (e->held) {
        CONF_EQ(c, conf_engine_unhold(e), 0);
        c->plat->advance(c, 20000000);
    }
}

static bool need_observer(struct conf_ctx *c)
{
    if (!c->plat->oracle_violations || !c->plat->advance) {
        conf_skip(c, "platform %s cannot observe device DMA", c->plat->name);
        return false;
    }
    return true;
}

/* NVMe: a Read into the buffer waits unfetched behind a full completion
 * queue (nvme_raw.h, nraw_hold()) when the buffer is revoked; then the
 * queue gets room. NVMe cannot cancel one command, so the shim must reset
 * the function before the memory goes (docs/ARCHITECTURE.md "NVMe lanes";
 * the queues go with the reset). Had it let the memory go first, the
 * controller would fetch the Read now and write there, which the
 * platform's observer sees (QEMU: a canary; VFIO: an IOMMU fault). */
static void nvme_revoke_held(struct conf_ctx *c, struct conf_engine *e)
{
    struct nraw n;
    if (!nraw_up(&n, c, e, 4, 2))
        return;
    capdrv_cap_t b;
    struct capdrv_dmabuf_info bi;
    CONF_EQ(c, capdrv_dma_alloc(c->conf, e->pool, 4096, &b, &bi), 0);
    memset(bi.cpu, 0xee, 4096);
    if (!nraw_hold(&n))
        return;
    uint8_t s[CAPDRV_NVME_SQE_SIZE];
    nraw_sqe(&n, s, 0x02, 1); /* Read, 4 KiB from LBA 0 */
    nraw_put_le(s + 24, 8, capdrv_dma_ref(&bi, 0));
    nraw_put_le(s + 48, 4, 4096u / n.lba_bytes - 1u);
    (void)nraw_put(&n, 1, s);
    CONF_EQ(c, nraw_ring(&n, 1), 0);
    c->plat->advance(c, 20000000);
    if (!nraw_all_bytes(bi.cpu, 4096, 0xee)) {
        conf_skip(c, "the controller executed the Read before the revoke: nothing shown");
        return;
    }
    struct capdrv_shim_stats st;
    CONF_EQ(c, capdrv_shim_stats(c->shim, &st), 0);
    uint64_t buffers = st.dma_buffers;
    unsigned resets = c->plat->reset_count ? c->plat->reset_count(c, e->grant) : 0;
    CONF_EQ(c, conf_revoke(c, c->conf, b), 0);
    struct capdrv_dmabuf_info again;
    CONF_EQ(c, capdrv_dmabuf_info(c->conf, b, &again), -CAPDRV_ESTALE);
    /* Room again: a controller still running would fetch the Read now (the
     * shim refuses the doorbell once it has reset the controller). */
    (void)nraw_release(&n, 1);
    c->plat->advance(c, 100000000);
    CONF_EQ(c, c->plat->oracle_violations(c), 0);
    CONF_EQ(c, capdrv_shim_stats(c->shim, &st), 0);
    CONF_CHECK(c, st.dma_buffers <= buffers - 1); /* with it, the shadow queues */
    if (c->plat->reset_count)
        CONF_EQ(c, c->plat->reset_count(c, e->grant), resets + 1);
    nraw_down(&n);
}

static void revoke_then_no_dma_in(struct conf_ctx *c, struct conf_engine *e)
{
    if (!need_observer(c) || !conf_engine_open(c, e, CONF_ENGINE_REGS))
        return;
    if (e->kind == CONF_ENGINE_NVME) {
        nvme_revoke_held(c, e);
        return;
    }
    /* dmatest: the slow fill is in flight; the shim stops the device's one
     * command (its profile) before the memory goes. */
    capdrv_cap_t b;
    struct capdrv_dmabuf_info bi;
    CONF_EQ(c, capdrv_dma_alloc(c->conf, e->pool, 4096, &b, &bi), 0);
    CONF_EQ(c, conf_engine_start(e, capdrv_dma_ref(&bi, 0), 4096, 0x5a5a5a5au, 50000), 0);
    struct capdrv_shim_stats st;
    CONF_EQ(c, capdrv_shim_stats(c->shim, &st), 0);
    uint64_t buffers = st.dma_buffers;
    CONF_EQ(c, conf_revoke(c, c->conf, b), 0);
    struct capdrv_dmabuf_info again;
    CONF_EQ(c, capdrv_dmabuf_info(c->conf, b, &again), -CAPDRV_ESTALE);
    c->plat->advance(c, 1000000);
    CONF_EQ(c, c->plat->oracle_violations(c), 0);
    CONF_EQ(c, capdrv_shim_stats(c->shim, &st), 0);
    CONF_EQ(c, st.dma_buffers, buffers - 1);
}

static void release_teardown_in(struct conf_ctx *c, struct conf_engine *e)
{
    capdrv_cap_t b;
    struct capdrv_dmabuf_info bi;
    if (!start_slow_fill(c, e, 0, &b, &bi))
        return;
    /* A vector the engine does not use (the NVMe library holds vector 0). */
    capdrv_cap_t irq;
    CONF_EQ(c, capdrv_irq_open(c->conf, e->g, e->kind == CONF_ENGINE_DMATEST ? 0 : 1, &irq), 0);
    CONF_EQ(c, capdrv_cap_release(c->conf, e->g), 0);
    conf_engine_orphan(e); /* its queues' memory went with the grant */
    uint64_t v, ready;
    capdrv_cap_t m2;
    if (e->m != CAPDRV_CAP_INVALID) /* NVMe: the library's window, checked below */
        CONF_EQ(c, capdrv_mmio_read(c->conf, e->m, 0, 4, &v), -CAPDRV_ESTALE);
    CONF_EQ(c, capdrv_mmio_open(c->conf, e->g, 0, &m2), -CAPDRV_ESTALE);
    CONF_EQ(c, capdrv_dmabuf_info(c->conf, b, &bi), -CAPDRV_ESTALE);
    CONF_EQ(c, capdrv_irq_wait(c->conf, &irq, 1, 0, &ready), -CAPDRV_ESTALE);
    let_device_finish(c, e);
    if (c->plat->oracle_violations)
        CONF_EQ(c, c->plat->oracle_violations(c), 0);
    struct capdrv_shim_stats st;
    CONF_EQ(c, capdrv_shim_stats(c->shim, &st), 0);
    CONF_EQ(c, st.dma_buffers, 0);
    capdrv_cap_t again = conf_open(c, c->conf, e->grant); /* claimable again */
    CONF_CHECK(c, again != CAPDRV_CAP_INVALID);
}

static void function_reset_in(struct conf_ctx *c, struct conf_engine *e)
{
    capdrv_cap_t b;
    struct capdrv_dmabuf_info bi;
    if (!start_slow_fill(c, e, 0, &b, &bi))
        return;
    unsigned before = c->plat->reset_count ? c->plat->reset_count(c, e->grant) : 0;
    CONF_EQ(c, capdrv_grant_reset(c->conf, e->g), 0);
    conf_engine_orphan(e); /* its queues' memory went with the reset */
    if (c->plat->reset_count)
        CONF_EQ(c, c->plat->reset_count(c, e->grant), before + 1);
    uint64_t v;
    if (e->m != CAPDRV_CAP_INVALID)
        CONF_EQ(c, capdrv_mmio_read(c->conf, e->m, 0, 4, &v), -CAPDRV_ESTALE);
    CONF_EQ(c, capdrv_dmabuf_info(c->conf, b, &bi), -CAPDRV_ESTALE);
    CONF_EQ(c, capdrv_grant_lane(c->conf, e->g), c->lane);
    let_device_finish(c, e);
    if (c->plat->oracle_violations)
        CONF_EQ(c, c->plat->oracle_violations(c), 0);
    /* The grant itself survives: a fresh window opens (on NVMe only because
     * the library's window was revoked) and works. */
    capdrv_cap_t m2;
    CONF_EQ(c, capdrv_mmio_open(c->conf, e->g, 0, &m2), 0);
    CONF_EQ(c, capdrv_mmio_read(c->conf, m2, 0, 4, &v), 0);
}

/* The other provider's grant and a check that it is still served: the
 * second DMA device "peer" (its registers), else "bystander" (its
 * configuration space: vendor id as granted). */
static bool other_served(struct conf_ctx *c, const char *name, capdrv_cap_t g, capdrv_cap_t pm)
{
    if (!strcmp(name, "peer")) {
        uint64_t v;
        return capdrv_mmio_read(c->other, pm, 0, 4, &v) == 0;
    }
    struct capdrv_grant_info gi;
    uint32_t id;
    return capdrv_grant_info(c->other, (unsigned)capdrv_grant_find(c->other, name), &gi) == 0 &&
           capdrv_cfg_read(c->other, g, 0, 2, &id) == 0 && id == gi.id.vendor;
}

static void provider_death_in(struct conf_ctx *c, struct conf_engine *e)
{
    capdrv_cap_t b;
    struct capdrv_dmabuf_info bi;
    if (!start_slow_fill(c, e, 0, &b, &bi))
        return;
    bool peer = !c->plat->grants;
    for (const char *const *g = c->plat->grants; g && *g; g++)
        peer |= !strcmp(*g, "peer");
    const char *name = peer ? "peer" : "bystander";
    capdrv_cap_t pg = conf_open(c, c->other, name), pm = CAPDRV_CAP_INVALID;
    CONF_CHECK(c, pg != CAPDRV_CAP_INVALID);
    if (peer)
        CONF_EQ(c, capdrv_mmio_open(c->other, pg, 0, &pm), 0);
    CONF_CHECK(c, other_served(c, name, pg, pm));
    capdrv_sys_close(c->conf); /* death with a command in flight */
    c->conf = NULL;
    conf_engine_orphan(e);
    let_device_finish(c, e);
    if (c->plat->oracle_violations)
        CONF_EQ(c, c->plat->oracle_violations(c), 0);
    struct capdrv_shim_stats st;
    CONF_EQ(c, capdrv_shim_stats(c->shim, &st), 0);
    CONF_EQ(c, st.dma_buffers, 0);
    CONF_EQ(c, st.grants_claimed, 1); /* only the other provider's */
    CONF_CHECK(c, other_served(c, name, pg, pm)); /* the other provider is unaffected */
    CONF_EQ(c, conf_connect(c, "conf", &c->conf), 0);
    CONF_CHECK(c, conf_open(c, c->conf, e->grant) != CAPDRV_CAP_INVALID);
}

static void isolation_in(struct conf_ctx *c, struct conf_engine *e)
{
    struct conf_engine_regs r;
    if (!conf_engine_open(c, e, CONF_ENGINE_REGS))
        return;
    CONF_EQ(c, capdrv_grant_find(c->other, e->grant), -CAPDRV_ENOENT);
    int rr = conf_engine_regs(e, &r); /* only the offsets are needed here */
    CONF_CHECK(c, rr == 0 || rr == -CAPDRV_ENOTSUP);
    uint64_t v; /* a handle means nothing in another provider's table */
    CONF_EQ(c, capdrv_mmio_read(c->conf, e->m, r.id, 4, &v), 0);
    CONF_CHECK(c, capdrv_mmio_read(c->other, e->m, r.id, 4, &v) < 0);
    CONF_CHECK(c, capdrv_pool_open(c->other, e->g, &(capdrv_cap_t){0}) < 0);
}

/* Each case body runs with an engine that is shut down afterwards,
 * however the body ended. */
#define WITH_ENGINE(name)                          \
    static void name(struct conf_ctx *c)           \
    {                                              \
        struct conf_engine e = {0};                \
        name##_in(c, &e);                          \
        conf_engine_close(&e);                     \
    }
WITH_ENGINE(revoke_then_no_dma)
WITH_ENGINE(release_teardown)
WITH_ENGINE(function_reset)
WITH_ENGINE(provider_death)
WITH_ENGINE(isolation)

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
