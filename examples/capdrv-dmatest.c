/* capdrv-dmatest: a minimal provider. It hosts the shim in-process over the
 * sim platform, then - using nothing but capdrv/sys.h - claims its grant,
 * allocates a DMA buffer, has the device fill it through the doorbell,
 * waits for the completion interrupt, and verifies every byte.
 *
 *   capdrv-dmatest [--lane brokered|direct] [--size BYTES] [--iterations N]
 *                  [--manifest FILE.dtb]
 */
#define _GNU_SOURCE
#include <capdrv/dev/dmatest.h>
#include <capdrv/shim.h>
#include <capdrv/sim.h>
#include <capdrv/sys.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    char *buf = NULL;
    long n = (fseek(fp, 0, SEEK_END) == 0) ? ftell(fp) : -1;
    if (n > 0 && fseek(fp, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n)) &&
        fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(fp);
    *len = n > 0 ? (size_t)n : 0;
    return buf;
}

#define TRY(what, expr)                                                              \
    do {                                                                             \
        int rc_ = (expr);                                                            \
        if (rc_ < 0) {                                                               \
            fprintf(stderr, "capdrv-dmatest: %s: %s\n", what, capdrv_strerror(rc_)); \
            return 1;                                                                \
        }                                                                            \
    } while (0)

/* The provider proper: only capdrv/sys.h calls. */
static int provider(capdrv_sys *sys, size_t size, unsigned iterations)
{
    capdrv_cap_t grant, mmio, pool, buf, irq;
    struct capdrv_dmabuf_info bi;
    int idx = capdrv_grant_find(sys, "dmatest0");
    TRY("find grant", idx);
    TRY("open grant", capdrv_grant_open(sys, (unsigned)idx, &grant));
    TRY("open window", capdrv_mmio_open(sys, grant, 0, &mmio));
    TRY("open pool", capdrv_pool_open(sys, grant, &pool));
    TRY("open interrupt", capdrv_irq_open(sys, grant, 0, &irq));
    TRY("allocate buffer", capdrv_dma_alloc(sys, pool, size, &buf, &bi));
    int lane = capdrv_grant_lane(sys, grant);
    printf("lane: %s; buffer %zu bytes, DMA reference %#llx (%s)\n",
           lane == CAPDRV_LANE_DIRECT ? "direct" : "brokered", bi.size,
           (unsigned long long)bi.ref_base,
           lane == CAPDRV_LANE_DIRECT ? "an IOVA the shim validates" : "a token, not an address");

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (unsigned it = 0; it < iterations; it++) {
        uint32_t pattern = 0x9e3779b9u * (it + 1);
        TRY("ADDR", capdrv_mmio_write(sys, mmio, CAPDRV_DMATEST_ADDR, 8, capdrv_dma_ref(&bi, 0)));
        TRY("LEN", capdrv_mmio_write(sys, mmio, CAPDRV_DMATEST_LEN, 4, size));
        TRY("PATTERN", capdrv_mmio_write(sys, mmio, CAPDRV_DMATEST_PATTERN, 4, pattern));
        TRY("DELAY", capdrv_mmio_write(sys, mmio, CAPDRV_DMATEST_DELAY_NS, 4, 1000));
        TRY("doorbell", capdrv_mmio_write(sys, mmio, CAPDRV_DMATEST_CMD, 4, CAPDRV_DMATEST_CMD_FILL));
        uint64_t ready;
        TRY("wait", capdrv_irq_wait(sys, &irq, 1, 1000000000, &ready));
        TRY("ack", capdrv_irq_ack(sys, irq));
        uint64_t status;
        TRY("STATUS", capdrv_mmio_read(sys, mmio, CAPDRV_DMATEST_STATUS, 4, &status));
        if (status & CAPDRV_DMATEST_STATUS_ERROR) {
            fprintf(stderr, "capdrv-dmatest: device reported an error\n");
            return 1;
        }
        const uint8_t *p = bi.cpu;
        for (size_t i = 0; i < size; i++)
            if (p[i] != (uint8_t)(pattern >> (8 * (i & 3)))) {
                fprintf(stderr, "capdrv-dmatest: byte %zu differs in iteration %u\n", i, it);
                return 1;
            }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("verified %u fills of %zu bytes: %.1f MiB/s (sim device, host CPU bound)\n", iterations,
           size, s > 0 ? (double)size * iterations / s / 1048576.0 : 0.0);
    TRY("release", capdrv_cap_release(sys, grant));
    return 0;
}

int main(int argc, char **argv)
{
    const char *lane = NULL, *manifest = CAPDRV_EXAMPLE_MANIFEST;
    size_t size = 65536;
    unsigned iterations = 16;
    static const struct option opts[] = {
        {"lane", required_argument, NULL, 'l'}, {"size", required_argument, NULL, 's'},
        {"iterations", required_argument, NULL, 'n'}, {"manifest", required_argument, NULL, 'm'},
        {NULL, 0, NULL, 0}};
    for (int ch; (ch = getopt_long(argc, argv, "l:s:n:m:", opts, NULL)) != -1;) {
        switch (ch) {
        case 'l': lane = optarg; break;
        case 's': size = strtoul(optarg, NULL, 0); break;
        case 'n': iterations = (unsigned)strtoul(optarg, NULL, 0); break;
        case 'm': manifest = optarg; break;
        default:
            fprintf(stderr, "usage: capdrv-dmatest [--lane brokered|direct] [--size N] "
                            "[--iterations N] [--manifest FILE]\n");
            return 2;
        }
    }
    if (size == 0 || size > CAPDRV_DMATEST_MAX_LEN) {
        fprintf(stderr, "capdrv-dmatest: --size must be 1..%u\n", CAPDRV_DMATEST_MAX_LEN);
        return 2;
    }
    /* Platform side: a sim machine, with an IOMMU unless brokered is asked
     * for (brokered is also what a no-IOMMU machine probes to). */
    struct capdrv_sim_config cfg = {.iommu = !lane || strcmp(lane, "brokered") != 0};
    struct capdrv_sim *sim;
    struct capdrv_pci_addr addr = {0, 0, 3, 0};
    unsigned fn;
    TRY("sim", capdrv_sim_create(&cfg, &sim));
    TRY("sim device", capdrv_sim_add_dmatest(sim, &addr, &fn));
    size_t len;
    void *blob = slurp(manifest, &len);
    if (!blob) {
        fprintf(stderr, "capdrv-dmatest: cannot read manifest %s\n", manifest);
        return 1;
    }
    struct capdrv_env *env = capdrv_env_hosted_new(NULL);
    struct capdrv_shim_config sc = {.env = env, .hw = capdrv_sim_hw(sim), .manifest = blob, .manifest_len = len};
    struct capdrv_shim *shim;
    char why[256];
    int rc = capdrv_shim_create(&sc, &shim, why, sizeof why);
    free(blob);
    if (rc < 0) {
        fprintf(stderr, "capdrv-dmatest: manifest refused: %s (%s)\n", why, capdrv_strerror(rc));
        return 1;
    }
    capdrv_sys *sys;
    TRY("connect", capdrv_shim_connect(shim, "demo", &sys));
    rc = provider(sys, size, iterations);
    capdrv_sys_close(sys);
    unsigned long violations = capdrv_sim_oracle_violations(sim);
    capdrv_shim_destroy(shim);
    capdrv_sim_destroy(sim);
    capdrv_env_hosted_free(env);
    if (violations) {
        fprintf(stderr, "capdrv-dmatest: DMA oracle saw %lu accesses outside the ledger\n", violations);
        return 1;
    }
    return rc;
}
