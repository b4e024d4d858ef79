/* Direct-lane IOVA allocation (kernel-shim/iova.c): first fit with a guard
 * page once the bump cursor reaches the end of the grant's window, so a
 * provider that allocates and frees forever never runs out of addresses. */
#include "fixture.h"

#include <string.h>

#include "shim_internal.h"

#define PG SHIM_PAGE_SIZE
#define BASE 0x100000000ull
#define SPAN (64ull * PG)

static uint64_t fit(struct shim_iova_range *r, uint32_t n, uint64_t size)
{
    uint64_t iova = 0;
    int rc = shim_iova_fit(r, n, BASE, SPAN, size, &iova);
    return rc < 0 ? (uint64_t)rc : iova;
}

static void test_fit_rules(void **state)
{
    (void)state;
    assert_int_equal(fit(NULL, 0, PG), BASE);
    assert_int_equal(fit(NULL, 0, SPAN), BASE);                 /* the end needs no guard */
    assert_int_equal(fit(NULL, 0, SPAN + 1), (uint64_t)-CAPDRV_EINVAL);
    assert_int_equal(fit(NULL, 0, 0), (uint64_t)-CAPDRV_EINVAL);
    /* Unsorted input; a hole of exactly size + guard at BASE+2PG. */
    struct shim_iova_range r[] = {
        {BASE + 4 * PG, BASE + 6 * PG},
        {BASE, BASE + 2 * PG},
        {BASE + 10 * PG, BASE + 12 * PG},
    };
    assert_int_equal(fit(r, 3, PG), BASE + 2 * PG);
    /* Two pages need 3 with the guard: the 2..4 hole is too small, 6..10 fits. */
    struct shim_iova_range r2[] = {r[0], r[1], r[2]};
    assert_int_equal(fit(r2, 3, 2 * PG), BASE + 6 * PG);
    /* Four pages (5 with guard) fit nowhere below 12: after the last range. */
    struct shim_iova_range r3[] = {r[0], r[1], r[2]};
    assert_int_equal(fit(r3, 3, 4 * PG), BASE + 12 * PG);
    /* Overlapping and nested ranges (a quarantined range inside a bigger
     * one cannot happen, but the walk must not go backwards). */
    struct shim_iova_range r4[] = {{BASE, BASE + 8 * PG}, {BASE + 2 * PG, BASE + 3 * PG},
                                   {BASE + 7 * PG, BASE + 9 * PG}};
    assert_int_equal(fit(r4, 3, PG), BASE + 9 * PG);
    /* Full window; and the last free bytes at the window's end. */
    struct shim_iova_range full[] = {{BASE, BASE + SPAN}};
    assert_int_equal(fit(full, 1, PG), (uint64_t)-CAPDRV_ENOSPC);
    struct shim_iova_range almost[] = {{BASE, BASE + SPAN - 2 * PG}};
    assert_int_equal(fit(almost, 1, 2 * PG), BASE + SPAN - 2 * PG);
    assert_int_equal(fit(almost, 1, 3 * PG), (uint64_t)-CAPDRV_ENOSPC);
}

/* A larger shuffled set: the result never overlaps an occupied range (with
 * its guard) and is the lowest address that fits. */
static void test_fit_is_first_fit(void **state)
{
    (void)state;
    uint32_t seed = 12345;
    for (unsigned round = 0; round < 200; round++) {
        struct shim_iova_range r[16];
        uint32_t n = 0;
        bool used[64] = {false};
        for (unsigned i = 0; i < 16; i++) {
            seed = seed * 1103515245u + 12345u;
            unsigned at = (seed >> 16) % 60u, len = 1u + (seed >> 8) % 3u;
            bool clash = false;
            for (unsigned p = at; p < at + len + 1u && p < 64u; p++)
                clash |= used[p];
            if (clash)
                continue;
            for (unsigned p = at; p < at + len + 1u && p < 64u; p++)
                used[p] = true; /* buffer pages + guard */
            r[n].start = BASE + at * PG;
            r[n].end = BASE + (at + len + 1u) * PG;
            n++;
        }
        seed = seed * 1103515245u + 12345u;
        unsigned want = 1u + (seed >> 16) % 4u;
        /* Reference: lowest page p with want + 1 free pages (or want free
         * pages ending exactly at the window's end). */
        uint64_t expect = (uint64_t)-CAPDRV_ENOSPC;
        for (unsigned p = 0; p + want <= 64u; p++) {
            unsigned need = p + want == 64u ? want : want + 1u;
            bool free_run = true;
            for (unsigned q = p; q < p + need; q++)
                free_run &= !used[q];
            if (free_run) {
                expect = BASE + p * PG;
                break;
            }
        }
        assert_int_equal(fit(r, n, want * PG), expect);
    }
}

static struct shim_grant *direct_grant(struct fx *f)
{
    for (uint32_t i = 0; i < f->shim->manifest.n_grants; i++)
        if (f->shim->grants[i].holder && f->shim->grants[i].lane == CAPDRV_LANE_DIRECT)
            return &f->shim->grants[i];
    fail_msg("no claimed direct-lane grant");
    return NULL;
}

/* Through the public calls: once the cursor is at the window's end, freed
 * addresses are reused and live ones never handed out twice. */
static void test_reuse_after_exhaustion(void **state)
{
    (void)state;
    struct fx f;
    fx_basic(&f, true);
    capdrv_cap_t g = fx_open(f.p1, "dma0"), pool, b[3];
    assert_int_equal(capdrv_pool_open(f.p1, g, &pool), 0);
    struct capdrv_dmabuf_info bi[3];
    for (unsigned i = 0; i < 3; i++)
        assert_int_equal(capdrv_dma_alloc(f.p1, pool, 2 * PG, &b[i], &bi[i]), 0);
    struct shim_grant *sg = direct_grant(&f);
    assert_int_equal(bi[0].ref_base, sg->iova_base);
    /* Pretend a long life of allocations moved the cursor to the end. */
    sg->next_iova = sg->iova_base + SHIM_IOVA_GRANT_SPAN;
    assert_int_equal(capdrv_cap_release(f.p1, b[1]), 0);
    capdrv_cap_t x;
    struct capdrv_dmabuf_info xi;
    /* b[1]'s hole (2 pages + guard) takes the same size again... */
    assert_int_equal(capdrv_dma_alloc(f.p1, pool, 2 * PG, &x, &xi), 0);
    assert_int_equal(xi.ref_base, bi[1].ref_base);
    /* ...but not a bigger one: that goes above b[2] and its guard. */
    capdrv_cap_t y;
    struct capdrv_dmabuf_info yi;
    assert_int_equal(capdrv_dma_alloc(f.p1, pool, 3 * PG, &y, &yi), 0);
    assert_int_equal(yi.ref_base, bi[2].ref_base + 3 * PG);
    /* A thousand alloc/free cycles in the exhausted state (4 buffers is
     * the pool's quota) keep working, take the lowest hole, never touch a
     * live buffer or its guard, and the device can use what they return. */
    assert_int_equal(capdrv_cap_release(f.p1, x), 0);
    capdrv_cap_t m = fx_mmio(f.p1, g, 0);
    for (unsigned i = 0; i < 1000; i++) {
        capdrv_cap_t t;
        struct capdrv_dmabuf_info ti;
        assert_int_equal(capdrv_dma_alloc(f.p1, pool, PG, &t, &ti), 0);
        assert_int_equal(ti.ref_base, bi[1].ref_base);
        if (i % 250 == 0)
            assert_int_equal(fx_dmatest_cmd(f.p1, m, ti.ref_base, 16, CAPDRV_DMATEST_CMD_FILL,
                                            (uint32_t)i, 0), 0);
        assert_int_equal(capdrv_cap_release(f.p1, t), 0);
    }
    fx_done(&f);
}

/* An IOVA whose unmap failed stays taken: neither first fit nor a rewound
 * cursor (the next claim, a grant reset) hands it out again. */
static void test_quarantined_iova_stays_taken(void **state)
{
    (void)state;
    struct fx f;
    fx_machine(&f, true);
    struct fx_spy *spy = fx_spy_install(&f);
    assert_int_equal(fx_shim(&f, "basic"), 0);
    assert_int_equal(capdrv_shim_connect(f.shim, "p1", &f.p1), 0);
    capdrv_cap_t g = fx_open(f.p1, "dma0"), pool, b, c;
    struct capdrv_dmabuf_info bi, ci;
    assert_int_equal(capdrv_pool_open(f.p1, g, &pool), 0);
    assert_int_equal(capdrv_dma_alloc(f.p1, pool, PG, &b, &bi), 0);
    struct shim_grant *sg = direct_grant(&f);
    assert_int_equal(bi.ref_base, sg->iova_base);
    spy->fail_unmap = true;
    assert_int_equal(capdrv_cap_release(f.p1, b), 0);
    spy->fail_unmap = false;
    /* A grant reset rewinds the cursor, but only to above the quarantine. */
    assert_int_equal(capdrv_grant_reset(f.p1, g), 0);
    assert_int_equal(capdrv_pool_open(f.p1, g, &pool), 0);
    assert_int_equal(capdrv_dma_alloc(f.p1, pool, PG, &c, &ci), 0);
    assert_true(ci.ref_base >= bi.ref_base + 2 * PG);
    assert_int_equal(capdrv_cap_release(f.p1, c), 0);
    /* First fit skips it too. */
    sg->next_iova = sg->iova_base + SHIM_IOVA_GRANT_SPAN;
    assert_int_equal(capdrv_dma_alloc(f.p1, pool, PG, &c, &ci), 0);
    assert_int_equal(ci.ref_base, bi.ref_base + 2 * PG);
    assert_int_equal(capdrv_cap_release(f.p1, c), 0);
    /* So does the next provider's claim. */
    assert_int_equal(capdrv_cap_release(f.p1, g), 0);
    g = fx_open(f.p1, "dma0");
    assert_int_equal(capdrv_pool_open(f.p1, g, &pool), 0);
    assert_int_equal(capdrv_dma_alloc(f.p1, pool, PG, &c, &ci), 0);
    assert_int_equal(ci.ref_base, bi.ref_base + 2 * PG);
    fx_done(&f);
}

/* The first-fit path allocates its scratch list from the environment:
 * with that allocation failing the buffer allocation fails cleanly with
 * -CAPDRV_ENOMEM and nothing is left behind; then it succeeds. */
static void test_first_fit_alloc_failure(void **state)
{
    (void)state;
    struct fx f;
    fx_basic(&f, true);
    capdrv_cap_t g = fx_open(f.p1, "dma0"), pool, b, c;
    struct capdrv_dmabuf_info bi, ci;
    assert_int_equal(capdrv_pool_open(f.p1, g, &pool), 0);
    assert_int_equal(capdrv_dma_alloc(f.p1, pool, PG, &b, &bi), 0);
    struct shim_grant *sg = direct_grant(&f);
    sg->next_iova = sg->iova_base + SHIM_IOVA_GRANT_SPAN;
    struct capdrv_shim_stats before, after;
    assert_int_equal(capdrv_shim_stats(f.shim, &before), 0);
    bool failed = false;
    for (unsigned long n = 1; n < 100; n++) {
        capdrv_env_hosted_fail_alloc(f.env, n);
        int rc = capdrv_dma_alloc(f.p1, pool, PG, &c, &ci);
        capdrv_env_hosted_fail_alloc(f.env, 0);
        if (rc == 0)
            break;
        assert_int_equal(rc, -CAPDRV_ENOMEM);
        assert_int_equal(capdrv_shim_stats(f.shim, &after), 0);
        assert_int_equal(after.dma_buffers, before.dma_buffers);
        assert_int_equal(after.dma_bytes, before.dma_bytes);
        failed = true;
    }
    assert_true(failed); /* the first-fit path does allocate */
    assert_int_equal(ci.ref_base, bi.ref_base + 2 * PG);
    fx_done(&f);
}

/* The IOVA index behind the direct lane's lookup: kept sorted whatever
 * the insertion order, find() gives the entry at the greatest IOVA <= the
 * address (UINT32_MAX below the first), removal of an absent IOVA is a
 * no-op, and growing it can fail cleanly. Checked against a brute-force
 * reference over a random sequence. */
static void test_iova_index(void **state)
{
    (void)state;
    struct capdrv_env *env = capdrv_env_hosted_new(NULL);
    struct capdrv_shim shim;
    memset(&shim, 0, sizeof shim);
    shim.env = env;
    enum { N = 300 };
    static bool in[N];
    memset(in, 0, sizeof in);
    uint32_t seed = 777;
    for (unsigned step = 0; step < 4000; step++) {
        seed = seed * 1103515245u + 12345u;
        unsigned k = (seed >> 8) % N;
        uint64_t iova = BASE + (uint64_t)k * 2u * PG; /* entry k at BASE + 2k pages */
        if (in[k]) {
            shim_iova_index_remove(&shim, iova);
            in[k] = false;
        } else {
            assert_int_equal(shim_iova_index_insert(&shim, iova, k), 0);
            in[k] = true;
        }
        if (step % 7 == 0)
            shim_iova_index_remove(&shim, iova + 1); /* not present: no-op */
        /* Probe an address in every slot, and below the first. */
        uint64_t probe = BASE + ((seed >> 4) % (2u * N)) * PG + 5;
        uint32_t want = UINT32_MAX;
        for (unsigned j = 0; j < N; j++)
            if (in[j] && BASE + (uint64_t)j * 2u * PG <= probe)
                want = j;
        assert_int_equal(shim_iova_index_find(&shim, probe), want);
        assert_int_equal(shim_iova_index_find(&shim, BASE - 1), UINT32_MAX);
    }
    for (uint32_t i = 1; i < shim.ledger.by_iova.n; i++)
        assert_true(shim.ledger.by_iova.iova[i - 1] < shim.ledger.by_iova.iova[i]);
    /* Growth failing: -ENOMEM and the index unchanged. */
    uint32_t n = shim.ledger.by_iova.n;
    while (shim.ledger.by_iova.n < shim.ledger.by_iova.cap)
        assert_int_equal(shim_iova_index_insert(&shim, BASE + 4096ull * 1000000 +
                                                          shim.ledger.by_iova.n * PG, 0), 0);
    n = shim.ledger.by_iova.n;
    capdrv_env_hosted_fail_alloc(env, 1);
    assert_int_equal(shim_iova_index_insert(&shim, BASE - PG, 1), -CAPDRV_ENOMEM);
    capdrv_env_hosted_fail_alloc(env, 0);
    assert_int_equal(shim.ledger.by_iova.n, n);
    assert_int_equal(shim_iova_index_find(&shim, BASE - PG), UINT32_MAX);
    shim_iova_index_free(&shim);
    capdrv_env_hosted_free(env);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fit_rules),
        cmocka_unit_test(test_fit_is_first_fit),
        cmocka_unit_test(test_reuse_after_exhaustion),
        cmocka_unit_test(test_quarantined_iova_stays_taken),
        cmocka_unit_test(test_first_fit_alloc_failure),
        cmocka_unit_test(test_iova_index),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
