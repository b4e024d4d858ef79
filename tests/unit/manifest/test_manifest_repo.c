/* Every manifest the project ships (examples, conformance, shim unit
 * tests; paths given on the command line by CMake) passes the parser: the
 * parser's strictness must not refuse a manifest the rest of the tree
 * relies on. Refusals those manifests exist to provoke (no matching
 * function, wrong class, window outside its BAR, unavailable backend)
 * belong to the shim's binding step, not to the parser. */
#include "mtest.h"

#include <stdlib.h>

static int g_argc;
static char **g_argv;

static void test_repo_manifests(void **state)
{
    struct mt *t = *state;
    if (g_argc < 2)
        skip();
    for (int i = 1; i < g_argc; i++) {
        size_t len;
        void *blob = mt_load_path(g_argv[i], &len);
        struct shim_manifest m;
        char why[256];
        int rc = mt_parse(t, blob, len, &m, why, sizeof why);
        if (rc != 0)
            fail_msg("%s refused (%d): %s", g_argv[i], rc, why);
        print_message("%s: %u grant(s)\n", g_argv[i], m.n_grants);
        mt_free(t, &m);
        free(blob);
    }
}

int main(int argc, char **argv)
{
    g_argc = argc;
    g_argv = argv;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_repo_manifests, mt_setup, mt_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
