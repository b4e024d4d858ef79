/* Fuzz target: a hostile PCI configuration space under shim creation
 * (kernel-shim/pci_caps.c shim_pci_find_msix(), then the window/MSI-X
 * overlap check and interrupt-count clamp in kernel-shim/shim.c), and a
 * provider using the grant bound to that function.
 *
 * Input layout (every field optional; a short input leaves the rest of the
 * sim's real config space in place):
 *
 *   byte 0       mode: bit 0 = machine with an IOMMU; other bits ignored
 *   bytes 1..2   Status register (0x06), little-endian; bit 4 = capability list
 *   byte 3       Capabilities Pointer (0x34)
 *   bytes 4..195 config space 0x40..0xff (the whole capability area)
 *
 * The machine has one dmatest function at 00:03.0; the manifest (built with
 * libfdt's sequential-write API, no file needed) grants it as dma-capable
 * with 8 interrupts, a register window on BAR0 and a read-only window on
 * BAR2 between the sim's MSI-X table (0x0) and PBA (0x800), so a hostile
 * MSI-X table placed over that window must be refused.
 *
 * Contract: capdrv_shim_create() returns 0 or a clean negative error, never
 * crashes; on success the grant offers at most min(8, MSI-X table size)
 * vectors and every provider call returns 0 or a negative error; after
 * teardown nothing is leaked, no DMA memory is left, and the DMA oracle saw
 * no violation. */
#include "fuzz_common.h"

#include <string.h>

#include <libfdt.h>

#include <capdrv/error.h>
#include <capdrv/shim.h>
#include <capdrv/sim.h>
#include <capdrv/sys.h>

#define MANIFEST_IRQS 8u
#define IN_MODE 0
#define IN_STATUS 1
#define IN_CAPPTR 3
#define IN_CAPS 4
#define CFG_CAPS_FIRST 0x40u
#define CFG_CAPS_END 0x100u
#define IN_LEN (IN_CAPS + (CFG_CAPS_END - CFG_CAPS_FIRST))

/* The fixed manifest, built once. uint64_t storage: libfdt wants 8-byte
 * alignment. */
static uint64_t manifest_blob[512];
static size_t manifest_len;

#define FDT_OK(call) FUZZ_CHECK((call) == 0)

static void window(void *fdt, const char *name, uint32_t bar, uint64_t off, uint64_t len,
                   const char *access)
{
    FDT_OK(fdt_begin_node(fdt, name));
    FDT_OK(fdt_property_u32(fdt, "bar", bar));
    FDT_OK(fdt_property_u64(fdt, "offset", off));
    FDT_OK(fdt_property_u64(fdt, "length", len));
    if (access)
        FDT_OK(fdt_property_string(fdt, "access", access));
    FDT_OK(fdt_end_node(fdt));
}

static void build_manifest(void)
{
    void *fdt = manifest_blob;
    FDT_OK(fdt_create(fdt, (int)sizeof manifest_blob));
    FDT_OK(fdt_finish_reservemap(fdt));
    FDT_OK(fdt_begin_node(fdt, ""));
    FDT_OK(fdt_property_string(fdt, "compatible", "capdrv,manifest-v1"));
    FDT_OK(fdt_begin_node(fdt, "grants"));
    FDT_OK(fdt_begin_node(fdt, "dma0"));
    FDT_OK(fdt_property_string(fdt, "provider", "fz"));
    FDT_OK(fdt_property_string(fdt, "class", "dma-capable"));
    FDT_OK(fdt_property_string(fdt, "match-address", "0000:00:03.0"));
    FDT_OK(fdt_property_u64(fdt, "pool-quota", 0x10000));
    FDT_OK(fdt_property_u32(fdt, "pool-buffers", 4));
    FDT_OK(fdt_property_u32(fdt, "interrupts", MANIFEST_IRQS));
    window(fdt, "window-regs", 0, 0, 0x1000, NULL);
    window(fdt, "window-gap", 2, 0x400, 0x100, "r");
    FDT_OK(fdt_end_node(fdt)); /* dma0 */
    FDT_OK(fdt_end_node(fdt)); /* grants */
    FDT_OK(fdt_end_node(fdt)); /* / */
    FDT_OK(fdt_finish(fdt));
    manifest_len = fdt_totalsize(fdt);
}

/* Apply the input to function @fn's config space. */
static void poke_config(struct capdrv_sim *sim, unsigned fn, const uint8_t *data, size_t size)
{
    if (size >= IN_STATUS + 2)
        FUZZ_CHECK(capdrv_sim_cfg_poke(sim, fn, 0x06, 2,
                                       (uint32_t)data[IN_STATUS] |
                                           (uint32_t)data[IN_STATUS + 1] << 8) == 0);
    if (size > IN_CAPPTR)
        FUZZ_CHECK(capdrv_sim_cfg_poke(sim, fn, 0x34, 1, data[IN_CAPPTR]) == 0);
    for (size_t i = IN_CAPS; i < size && i < IN_LEN; i++)
        FUZZ_CHECK(capdrv_sim_cfg_poke(sim, fn, CFG_CAPS_FIRST + (uint32_t)(i - IN_CAPS), 1,
                                       data[i]) == 0);
}

static int is_err(int rc)
{
    return rc < 0 && rc >= -CAPDRV_ECANCELED;
}

/* Use the grant the way a provider would; everything must fail cleanly or
 * succeed, whatever the config space says. */
static void use_grant(struct capdrv_shim *shim)
{
    capdrv_sys *sys = NULL;
    FUZZ_CHECK(capdrv_shim_connect(shim, "fz", &sys) == 0);
    int idx = capdrv_grant_find(sys, "dma0");
    FUZZ_CHECK(idx >= 0);
    struct capdrv_grant_info gi;
    FUZZ_CHECK(capdrv_grant_info(sys, (unsigned)idx, &gi) == 0);
    FUZZ_CHECK_MSG(gi.n_irqs <= MANIFEST_IRQS, "n_irqs", gi.n_irqs);
    if (fuzz_verbose())
        fprintf(stderr, "fuzz_pci_caps: grant n_irqs=%u\n", gi.n_irqs);
    capdrv_cap_t grant = 0;
    int rc = capdrv_grant_open(sys, (unsigned)idx, &grant);
    FUZZ_CHECK_MSG(rc == 0, "grant_open rc", rc);

    capdrv_cap_t irqs[MANIFEST_IRQS];
    unsigned n_open = 0;
    for (unsigned v = 0; v < gi.n_irqs; v++) {
        capdrv_cap_t irq = 0;
        rc = capdrv_irq_open(sys, grant, v, &irq);
        FUZZ_CHECK_MSG(rc == 0 || is_err(rc), "irq_open rc", rc);
        if (rc == 0)
            irqs[n_open++] = irq;
    }
    capdrv_cap_t none = 0;
    rc = capdrv_irq_open(sys, grant, gi.n_irqs, &none); /* one past the clamp */
    FUZZ_CHECK_MSG(rc == -CAPDRV_ENOENT, "irq_open past n_irqs rc", rc);
    if (n_open) {
        uint64_t ready = 0;
        rc = capdrv_irq_wait(sys, irqs, n_open, 0, &ready);
        FUZZ_CHECK_MSG(rc > 0 || rc == -CAPDRV_ETIMEDOUT, "irq_wait rc", rc);
    }
    for (uint32_t off = 0; off < CFG_CAPS_END; off += 4) {
        uint32_t v;
        rc = capdrv_cfg_read(sys, grant, off, 4, &v);
        FUZZ_CHECK_MSG(rc == 0, "cfg_read rc", rc);
    }
    for (unsigned w = 0; w < gi.n_windows; w++) {
        capdrv_cap_t mmio = 0;
        rc = capdrv_mmio_open(sys, grant, w, &mmio);
        FUZZ_CHECK_MSG(rc == 0, "mmio_open rc", rc);
    }
    rc = capdrv_grant_reset(sys, grant); /* FLR; read-only pokes survive it */
    FUZZ_CHECK_MSG(rc == 0 || rc == -CAPDRV_EIO, "grant_reset rc", rc);
    capdrv_sys_close(sys); /* provider death: full teardown */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (manifest_len == 0)
        build_manifest();

    struct capdrv_env_hosted_opts eo = {.log_level = -1};
    struct capdrv_env *env = capdrv_env_hosted_new(&eo);
    FUZZ_CHECK(env != NULL);
    struct capdrv_sim_config sc = {.iommu = size > IN_MODE && (data[IN_MODE] & 1u)};
    struct capdrv_sim *sim;
    FUZZ_CHECK(capdrv_sim_create(&sc, &sim) == 0);
    struct capdrv_pci_addr a3 = {0, 0, 3, 0};
    unsigned fn;
    FUZZ_CHECK(capdrv_sim_add_dmatest(sim, &a3, &fn) == 0);
    poke_config(sim, fn, data, size);

    struct capdrv_shim_config cfg = {.env = env, .hw = capdrv_sim_hw(sim),
                                     .manifest = manifest_blob, .manifest_len = manifest_len};
    struct capdrv_shim *shim = NULL;
    char why[256];
    memset(why, 'x', sizeof why);
    int rc = capdrv_shim_create(&cfg, &shim, why, sizeof why);
    FUZZ_CHECK(memchr(why, '\0', sizeof why) != NULL);
    if (fuzz_verbose())
        fprintf(stderr, "fuzz_pci_caps: create rc=%d%s%s\n", rc, rc ? " why=" : "", rc ? why : "");
    if (rc == 0) {
        FUZZ_CHECK(shim != NULL);
        use_grant(shim);
        struct capdrv_shim_stats st;
        FUZZ_CHECK(capdrv_shim_stats(shim, &st) == 0);
        FUZZ_CHECK(st.dma_buffers == 0 && st.grants_claimed == 0 && st.providers == 0);
        capdrv_shim_destroy(shim);
    } else {
        /* What a hostile config space may cause: a malformed capability
         * list (-EPROTO), an MSI-X table or PBA over a granted window
         * (-EFAULT), or a platform read error (-EIO). */
        FUZZ_CHECK_MSG(rc == -CAPDRV_EPROTO || rc == -CAPDRV_EFAULT || rc == -CAPDRV_EIO,
                       "capdrv_shim_create rc", rc);
        FUZZ_CHECK(shim == NULL);
        FUZZ_CHECK(why[0] != '\0');
    }
    FUZZ_CHECK_MSG(capdrv_env_hosted_live_allocs(env) == 0, "live allocs",
                   capdrv_env_hosted_live_allocs(env));
    struct capdrv_sim_dma_stats ds;
    FUZZ_CHECK(capdrv_sim_dma_stats(sim, &ds) == 0);
    FUZZ_CHECK(ds.regions == 0 && ds.mappings == 0);
    FUZZ_CHECK_MSG(capdrv_sim_oracle_violations(sim) == 0, "oracle violations",
                   capdrv_sim_oracle_violations(sim));
    capdrv_sim_destroy(sim);
    capdrv_env_hosted_free(env);
    return 0;
}
