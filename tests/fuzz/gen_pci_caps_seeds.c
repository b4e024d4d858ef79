/* Writes the seed corpus of fuzz_pci_caps (input layout: fuzz_pci_caps.c)
 * from the sim's real configuration space, plus hand-made hostile variants:
 *
 *   fuzz_gen_pci_caps_seeds tests/fuzz/corpus/pci_caps
 *
 * Built on demand only (cmake --build <dir> --target fuzz_gen_pci_caps_seeds);
 * rerun it when the sim's config layout changes. */
#include "fuzz_common.h"

#include <string.h>

#include <capdrv/sim.h>

#define IN_LEN 196u

static uint8_t real[IN_LEN];

static void put(const char *dir, const char *name, const uint8_t *in, size_t len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "wb");
    FUZZ_CHECK(fp != NULL);
    FUZZ_CHECK(fwrite(in, 1, len, fp) == len);
    FUZZ_CHECK(fclose(fp) == 0);
    printf("%s (%zu bytes)\n", path, len);
}

/* in[] index of config offset @off (0x40..0xff). */
static size_t at(unsigned off)
{
    return 4u + (off - 0x40u);
}

static void le32(uint8_t *p, uint32_t v)
{
    for (unsigned i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    struct capdrv_sim *sim;
    FUZZ_CHECK(capdrv_sim_create(NULL, &sim) == 0);
    struct capdrv_pci_addr a3 = {0, 0, 3, 0};
    unsigned fn;
    FUZZ_CHECK(capdrv_sim_add_dmatest(sim, &a3, &fn) == 0);
    struct capdrv_hw hw = capdrv_sim_hw(sim);
    uint32_t v;
    FUZZ_CHECK(hw.ops->cfg_read(hw.ctx, fn, 0x06, 2, &v) == 0);
    real[1] = (uint8_t)v;
    real[2] = (uint8_t)(v >> 8);
    FUZZ_CHECK(hw.ops->cfg_read(hw.ctx, fn, 0x34, 1, &v) == 0);
    real[3] = (uint8_t)v;
    for (unsigned off = 0x40; off < 0x100; off++) {
        FUZZ_CHECK(hw.ops->cfg_read(hw.ctx, fn, off, 1, &v) == 0);
        real[at(off)] = (uint8_t)v;
    }
    capdrv_sim_destroy(sim);

    uint8_t in[IN_LEN];
    put(dir, "real", real, sizeof real);
    memcpy(in, real, sizeof in);
    in[0] = 1;
    put(dir, "real_iommu", in, sizeof in);
    memcpy(in, real, sizeof in);
    in[1] &= (uint8_t)~0x10u; /* Status: no capability list */
    put(dir, "no_cap_list", in, 4);
    memcpy(in, real, sizeof in);
    in[3] = 0x20; /* pointer into the header */
    put(dir, "ptr_into_header", in, 4);
    memcpy(in, real, sizeof in);
    in[at(0x41)] = 0x40; /* PCIe capability points at itself */
    put(dir, "loop_self", in, sizeof in);
    memcpy(in, real, sizeof in);
    in[at(0x81)] = 0x40; /* MSI-X points back at PCIe: a two-entry loop */
    in[at(0x80)] = 0x09;  /* and is no longer MSI-X (vendor-specific) */
    put(dir, "loop_two", in, sizeof in);
    memcpy(in, real, sizeof in);
    le32(&in[at(0x84)], 0x400u | 2u); /* MSI-X table over the BAR2 window */
    put(dir, "msix_table_over_window", in, sizeof in);
    memcpy(in, real, sizeof in);
    le32(&in[at(0x84)], 0x0u | 7u); /* BIR 7 does not exist */
    put(dir, "msix_bad_bir", in, sizeof in);
    memcpy(in, real, sizeof in);
    in[at(0x82)] = 0xff; /* Table Size 2048: beyond a 4 KiB BAR */
    in[at(0x83)] = 0x07;
    put(dir, "msix_table_huge", in, sizeof in);
    memcpy(in, real, sizeof in);
    in[at(0x82)] = 0x07; /* Table Size 8: more vectors than the sim routes */
    in[at(0x83)] = 0x00;
    put(dir, "msix_table_8", in, sizeof in);
    memcpy(in, real, sizeof in);
    in[at(0x41)] = 0xf8; /* MSI-X moved to 0xf8: its 12 bytes cross 0x100 */
    memcpy(&in[at(0xf8)], &real[at(0x80)], 8);
    put(dir, "msix_truncated", in, sizeof in);
    memcpy(in, real, sizeof in);
    le32(&in[at(0x88)], 0xff8u | 2u); /* PBA at the very end of BAR2 */
    put(dir, "msix_pba_edge", in, sizeof in);
    put(dir, "empty", in, 0);
    return 0;
}
