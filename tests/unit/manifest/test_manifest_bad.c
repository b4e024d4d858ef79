/* Refused manifests written as DTS (tests/data/manifests/bad_*.dts, one per
 * refusal class dtc can express): each must fail with -CAPDRV_EINVAL and
 * exactly the reason below, which names the node and the property. Every
 * bad_*.dtb in the build directory must have an entry here. */
#include "mtest.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define G "grants/blk0: "
#define W "grants/blk0/window-regs: "
#define UNKNOWN "is not allowed here (unknown properties are refused)"

static const struct {
    const char *file;
    const char *reason;
} cases[] = {
    {"no_compatible", "/: property \"compatible\" is missing"},
    {"wrong_compatible", "/: property \"compatible\" does not contain \"capdrv,manifest-v1\""},
    {"compatible_bytes", "/: property \"compatible\" must be a NUL-terminated string list"},
    {"no_grants", "/: node \"grants\" is missing"},
    {"zero_grants", "grants: no grants"},
    {"too_many_grants", "grants: more than 64 grants"},
    {"grant_name_too_long",
     "grants/gggggggggggggggggggggggggggggggg: grant name \"gggggggggggggggggggggggggggggggg\" is too "
     "long (32 bytes, longest allowed is 31)"},
    {"grant_name_char",
     "grants/blk0@1: grant name \"blk0@1\" has a character outside [A-Za-z0-9,._+-]"},
    {"window_name_too_long",
     "grants/blk0/window-wwwwwwwwwwwwwwwwwwwwwwwwwwwwwwww: window name "
     "\"wwwwwwwwwwwwwwwwwwwwwwwwwwwwwwww\" is too long (32 bytes, longest allowed is 31)"},
    {"window_name_empty", "grants/blk0/window-: window name \"\" is empty"},
    {"window_name_char",
     "grants/blk0/window-regs@0: window name \"regs@0\" has a character outside [A-Za-z0-9,._+-]"},
    {"provider_too_long",
     G "property \"provider\" value \"pppppppppppppppppppppppppppppppp\" is too long (32 bytes, "
       "longest allowed is 31)"},
    {"provider_space",
     G "property \"provider\" value \"blk provider\" has a space or a character that is not "
       "printable ASCII"},
    {"no_provider", G "property \"provider\" is missing"},
    {"no_class", G "property \"class\" is missing"},
    {"unknown_class",
     G "property \"class\" has unknown value \"dma_capable\" (expected any-function | dma-capable "
       "| nvme-controller)"},
    {"class_list", G "property \"class\" must be exactly one string (found an embedded NUL)"},
    {"class_bytes", G "property \"class\" must be a NUL-terminated string"},
    {"class_empty_prop", G "property \"class\" must be a string, got an empty property"},
    {"class_empty_string", G "property \"class\" must not be empty"},
    {"unknown_backend",
     G "property \"dma-backend\" has unknown value \"iommu\" (expected auto | brokered | direct)"},
    {"unknown_root_backend",
     "/: property \"dma-backend\" has unknown value \"bounce\" (expected auto | brokered | direct)"},
    {"unknown_access", W "property \"access\" has unknown value \"rx\" (expected r | w | rw)"},
    {"match_id_1cell", G "property \"match-id\" must be 2 cells, got 4 bytes"},
    {"match_id_3cells", G "property \"match-id\" must be 2 cells, got 12 bytes"},
    {"match_id_wide", G "property \"match-id\" has a value wider than 16 bits: 0x11042"},
    {"match_class_1cell", G "property \"match-class\" must be 2 cells, got 4 bytes"},
    {"match_class_wide", G "property \"match-class\" has a value wider than 24 bits: 0x1010802"},
    {"match_class_zero_mask", G "property \"match-class\" has mask 0, which matches every function"},
    {"match_class_outside_mask", G "property \"match-class\" has class bits outside its mask: 0x2"},
    {"match_address_format",
     G "property \"match-address\" must look like DDDD:BB:DD.F (hex), got \"0000:00:04\""},
    {"match_address_hex",
     G "property \"match-address\" must look like DDDD:BB:DD.F (hex), got \"0000:0g:04.0\""},
    {"match_address_dev", G "property \"match-address\" has device number 0x20, most is 0x1f"},
    {"match_address_fn", G "property \"match-address\" has function number 0x8, most is 0x7"},
    {"no_match", G "grant has no match-id, match-class, match-address or match-mmio"},
    {"match_mmio_and_id",
     G "property \"match-mmio\" cannot be combined with match-id, match-class or match-address"},
    {"match_mmio_and_address",
     G "property \"match-mmio\" cannot be combined with match-id, match-class or match-address"},
    {"match_mmio_1cell", G "property \"match-mmio\" must be 2 cells, got 4 bytes"},
    {"match_mmio_unaligned", G "property \"match-mmio\" is not 4-byte aligned: 0xa003e02"},
    {"pool_quota_1cell", G "property \"pool-quota\" must be 2 cells, got 4 bytes"},
    {"pool_buffers_2cells", G "property \"pool-buffers\" must be 1 cell, got 8 bytes"},
    {"pool_buffers_no_quota", G "property \"pool-buffers\" is set but pool-quota is absent or 0"},
    {"pool_buffers_zero",
     G "property \"pool-buffers\" is 0 with a non-zero pool-quota (omit it for the default)"},
    {"interrupts_2cells", G "property \"interrupts\" must be 1 cell, got 8 bytes"},
    {"interrupts_65", G "property \"interrupts\" is 65, most is 64"},
    {"bar_2cells", W "property \"bar\" must be 1 cell, got 8 bytes"},
    {"bar_bytes", W "property \"bar\" must be 1 cell, got 1 byte"},
    {"bar_6", W "property \"bar\" is 6, BARs are 0..5"},
    {"offset_1cell", W "property \"offset\" must be 2 cells, got 4 bytes"},
    {"length_3cells", W "property \"length\" must be 2 cells, got 12 bytes"},
    {"length_zero", W "property \"length\" must not be 0"},
    {"window_overflow", W "property \"length\" makes offset + length overflow 64 bits"},
    {"too_many_windows", "grants/blk0/window-w8: grant has more than 8 windows"},
    {"window_no_bar", W "property \"bar\" is missing"},
    {"window_no_offset", W "property \"offset\" is missing"},
    {"window_no_length", W "property \"length\" is missing"},
    {"unknown_grant_prop", G "property \"pool-qouta\" " UNKNOWN},
    {"unknown_window_prop", W "property \"acess\" " UNKNOWN},
    {"unknown_root_prop", "/: property \"interrupt-parent\" " UNKNOWN},
    {"unknown_root_node", "/: subnode \"chosen\" is not allowed (only \"grants\")"},
    {"grants_prop", "grants: property \"#address-cells\" " UNKNOWN},
    {"grant_subnode",
     G "subnode \"regs\" is not allowed (grant subnodes are window-<name>)"},
    {"window_subnode",
     W "has a subnode; nothing nests deeper than /grants/<grant>/window-<name>"},
    {"model_bytes", "/: property \"model\" must be a NUL-terminated string"},
    {"address_cells", "/: property \"#address-cells\" must be 1 cell, got 8 bytes"},
};

#define N_CASES (sizeof cases / sizeof cases[0])

static void test_each(void **state)
{
    struct mt *t = *state;
    for (size_t i = 0; i < N_CASES; i++) {
        char name[96];
        snprintf(name, sizeof name, "bad_%s", cases[i].file);
        size_t len;
        void *blob = mt_load(name, &len);
        print_message("%s\n", name);
        mt_expect_refused(t, blob, len, cases[i].reason);
        free(blob);
    }
}

static const char *reason_of(const char *file)
{
    for (size_t i = 0; i < N_CASES; i++)
        if (strcmp(cases[i].file, file) == 0)
            return cases[i].reason;
    fail_msg("no case %s", file);
    return NULL;
}

/* The reason is cut, never overrun, by a short buffer; NULL is fine. */
static void test_short_why(void **state)
{
    struct mt *t = *state;
    const char *full = reason_of("bar_2cells");
    size_t len;
    void *blob = mt_load("bad_bar_2cells", &len);
    struct shim_manifest m;
    for (size_t n = 1; n < 80; n++) {
        char *why = malloc(n); /* exact size: ASan catches an overrun */
        assert_non_null(why);
        assert_int_equal(mt_parse(t, blob, len, &m, why, n), -CAPDRV_EINVAL);
        assert_int_equal(strlen(why), n - 1 < strlen(full) ? n - 1 : strlen(full));
        assert_memory_equal(why, full, strlen(why));
        free(why);
    }
    assert_int_equal(mt_parse(t, blob, len, &m, NULL, 0), -CAPDRV_EINVAL);
    char one = 'x';
    assert_int_equal(mt_parse(t, blob, len, &m, &one, 0), -CAPDRV_EINVAL);
    assert_int_equal(one, 'x'); /* why_len 0: nothing written */
    free(blob);
}

/* Every compiled bad_*.dtb is covered by the table (a new DTS without an
 * expected reason fails here) and every table entry has its file. */
static void test_table_complete(void **state)
{
    (void)state;
    DIR *d = opendir(MANIFEST_DTB_DIR);
    assert_non_null(d);
    size_t seen = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (strncmp(e->d_name, "bad_", 4) != 0 || n < 8 || strcmp(e->d_name + n - 4, ".dtb") != 0)
            continue;
        bool found = false;
        for (size_t i = 0; i < N_CASES && !found; i++)
            found = strlen(cases[i].file) == n - 8 && strncmp(e->d_name + 4, cases[i].file, n - 8) == 0;
        if (!found)
            fail_msg("%s has no expected reason in test_manifest_bad.c", e->d_name);
        seen++;
    }
    closedir(d);
    assert_int_equal(seen, N_CASES);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_each, mt_setup, mt_teardown),
        cmocka_unit_test_setup_teardown(test_short_why, mt_setup, mt_teardown),
        cmocka_unit_test(test_table_complete),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
