#define _GNU_SOURCE
#include "fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef SHIM_MANIFEST_DIR
#error "SHIM_MANIFEST_DIR must name the directory of the compiled manifests"
#endif

static void *read_file(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    void *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(fp);
    *len = (size_t)n;
    return buf;
}

void fx_machine(struct fx *f, bool iommu)
{
    memset(f, 0, sizeof *f);
    struct capdrv_env_hosted_opts eo = {.log_level = -1}; /* quiet */
    f->env = capdrv_env_hosted_new(&eo);
    assert_non_null(f->env);
    struct capdrv_sim_config cfg = {.iommu = iommu};
    assert_int_equal(capdrv_sim_create(&cfg, &f->sim), 0);
    struct capdrv_pci_addr a3 = {0, 0, 3, 0}, a4 = {0, 0, 4, 0}, a5 = {0, 0, 5, 0};
    assert_int_equal(capdrv_sim_add_dmatest(f->sim, &a3, &f->fn_dma0), 0);
    assert_int_equal(capdrv_sim_add_scratch(f->sim, &a4, FX_SCRATCH_VENDOR, FX_SCRATCH_DEVICE,
                                            0x058000, &f->fn_raw0), 0);
    assert_int_equal(capdrv_sim_add_dmatest(f->sim, &a5, &f->fn_dma1), 0);
    f->hw = capdrv_sim_hw(f->sim);
}

int fx_shim(struct fx *f, const char *manifest)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s.dtb", SHIM_MANIFEST_DIR, manifest);
    size_t len = 0;
    void *blob = read_file(path, &len);
    assert_non_null(blob);
    struct capdrv_shim_config cfg = {.env = f->env, .hw = f->hw, .manifest = blob, .manifest_len = len};
    f->create_rc = capdrv_shim_create(&cfg, &f->shim, f->why, sizeof f->why);
    free(blob); /* the shim must not keep pointers into the blob */
    return f->create_rc;
}

void fx_basic(struct fx *f, bool iommu)
{
    fx_machine(f, iommu);
    assert_int_equal(fx_shim(f, "basic"), 0);
    assert_int_equal(capdrv_shim_connect(f->shim, "p1", &f->p1), 0);
    assert_int_equal(capdrv_shim_connect(f->shim, "p2", &f->p2), 0);
}

struct fx_spy *fx_spied(struct fx *f)
{
    fx_machine(f, false);
    struct fx_spy *spy = fx_spy_install(f);
    assert_int_equal(fx_shim(f, "basic"), 0);
    assert_int_equal(capdrv_shim_connect(f->shim, "p1", &f->p1), 0);
    return spy;
}

void fx_done(struct fx *f)
{
    capdrv_sys_close(f->p1);
    capdrv_sys_close(f->p2);
    if (f->shim) {
        struct capdrv_shim_stats st;
        assert_int_equal(capdrv_shim_stats(f->shim, &st), 0);
        assert_int_equal(st.dma_buffers, 0); /* teardown emptied the ledger */
        assert_int_equal(st.grants_claimed, 0);
    }
    capdrv_shim_destroy(f->shim);
    assert_int_equal(capdrv_sim_oracle_violations(f->sim), f->expect_violations);
    capdrv_sim_destroy(f->sim);
    free(f->spy);
    f->spy = NULL;
    assert_int_equal(capdrv_env_hosted_live_allocs(f->env), 0);
    capdrv_env_hosted_free(f->env);
}

capdrv_cap_t fx_open(capdrv_sys *sys, const char *name)
{
    int idx = capdrv_grant_find(sys, name);
    assert_true(idx >= 0);
    capdrv_cap_t g = 0;
    assert_int_equal(capdrv_grant_open(sys, (unsigned)idx, &g), 0);
    return g;
}

capdrv_cap_t fx_mmio(capdrv_sys *sys, capdrv_cap_t grant, unsigned w)
{
    capdrv_cap_t m = 0;
    assert_int_equal(capdrv_mmio_open(sys, grant, w, &m), 0);
    return m;
}

int fx_dmatest_cmd(capdrv_sys *sys, capdrv_cap_t mmio, uint64_t ref, uint32_t len, uint32_t cmd,
                   uint32_t pattern, uint32_t delay_ns)
{
    assert_int_equal(capdrv_mmio_write(sys, mmio, CAPDRV_DMATEST_ADDR, 8, ref), 0);
    assert_int_equal(capdrv_mmio_write(sys, mmio, CAPDRV_DMATEST_LEN, 4, len), 0);
    assert_int_equal(capdrv_mmio_write(sys, mmio, CAPDRV_DMATEST_PATTERN, 4, pattern), 0);
    assert_int_equal(capdrv_mmio_write(sys, mmio, CAPDRV_DMATEST_DELAY_NS, 4, delay_ns), 0);
    return capdrv_mmio_write(sys, mmio, CAPDRV_DMATEST_CMD, 4, cmd);
}
