/* Fuzz target: the grant-manifest parser (kernel-shim/manifest.c,
 * docs/MANIFEST.md) over arbitrary bytes, and then shim creation (grant
 * binding: class, window and MSI-X checks, backend selection) for every
 * manifest the parser accepts.
 *
 * Contract checked on every input:
 * - shim_manifest_parse() returns 0, -CAPDRV_EINVAL or -CAPDRV_ENOMEM;
 * - on failure the output is all zero, a reason was written (NUL-terminated
 *   inside the buffer) and no allocation of the environment is live;
 * - on success every invariant of struct shim_manifest holds (1..64 grants,
 *   names NUL-terminated, non-empty, of the allowed characters and unique,
 *   windows bounded and not wrapping, counts and enums in range), and
 *   shim_manifest_free() leaves no allocation behind;
 * - capdrv_shim_create() over a small sim machine returns 0 or one of its
 *   documented errors, and after destroy nothing is leaked, no DMA memory
 *   is left with the platform and the DMA oracle saw no violation.
 *
 * The input is copied to an 8-byte-aligned buffer (fuzz_common.h) with no
 * readable byte after it in replay builds. */
#include "fuzz_common.h"

#include <string.h>

#include <capdrv/error.h>
#include <capdrv/shim.h>
#include <capdrv/sim.h>
#include <capdrv/sys.h>

#include "manifest.h"

#define WHY_LEN 256

static struct capdrv_env *new_env(void)
{
    struct capdrv_env_hosted_opts eo = {.log_level = -1}; /* quiet: refusals are expected */
    struct capdrv_env *env = capdrv_env_hosted_new(&eo);
    FUZZ_CHECK(env != NULL);
    return env;
}

static int all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return 0;
    return 1;
}

static int name_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == ',' || c == '.' || c == '_' || c == '+' || c == '-';
}

/* A name field: NUL inside the array, 1..CAPDRV_NAME_MAX-1 bytes, allowed
 * characters (node-name set, or printable without space for providers). */
static void check_name(const char *s, int provider)
{
    const char *end = memchr(s, '\0', CAPDRV_NAME_MAX);
    FUZZ_CHECK(end != NULL);
    size_t n = (size_t)(end - s);
    FUZZ_CHECK(n > 0 && n < CAPDRV_NAME_MAX);
    for (size_t i = 0; i < n; i++) {
        if (provider)
            FUZZ_CHECK(s[i] > 0x20 && s[i] < 0x7f);
        else
            FUZZ_CHECK(name_char_ok(s[i]));
    }
}

static void check_manifest(const struct shim_manifest *m)
{
    FUZZ_CHECK(m->backend <= CAPDRV_DMA_BACKEND_DIRECT);
    FUZZ_CHECK_MSG(m->n_grants >= 1 && m->n_grants <= SHIM_MAX_GRANTS, "n_grants", m->n_grants);
    FUZZ_CHECK(m->grants != NULL);
    for (unsigned i = 0; i < m->n_grants; i++) {
        const struct shim_manifest_grant *g = &m->grants[i];
        check_name(g->name, 0);
        check_name(g->provider, 1);
        for (unsigned j = 0; j < i; j++)
            FUZZ_CHECK(strcmp(g->name, m->grants[j].name) != 0);
        FUZZ_CHECK(g->cls >= CAPDRV_GRANT_ANY_FUNCTION && g->cls <= CAPDRV_GRANT_NVME_CONTROLLER);
        FUZZ_CHECK(g->match_flags != 0 && (g->match_flags & ~7u) == 0);
        if (g->match_flags & SHIM_MATCH_CLASS) {
            FUZZ_CHECK(g->class_mask != 0 && g->class_mask <= 0xffffffu);
            FUZZ_CHECK((g->class_code & ~g->class_mask) == 0);
        }
        if (g->match_flags & SHIM_MATCH_ADDR)
            FUZZ_CHECK(g->addr.dev <= 0x1f && g->addr.fn <= 7);
        FUZZ_CHECK((g->pool_bytes == 0) == (g->pool_buffers == 0));
        FUZZ_CHECK_MSG(g->n_irqs <= SHIM_MAX_IRQS, "n_irqs", g->n_irqs);
        FUZZ_CHECK(g->backend <= CAPDRV_DMA_BACKEND_DIRECT);
        FUZZ_CHECK_MSG(g->n_windows <= SHIM_MAX_WINDOWS, "n_windows", g->n_windows);
        for (unsigned w = 0; w < g->n_windows; w++) {
            const struct shim_manifest_window *win = &g->windows[w];
            check_name(win->name, 0);
            for (unsigned v = 0; v < w; v++)
                FUZZ_CHECK(strcmp(win->name, g->windows[v].name) != 0);
            FUZZ_CHECK_MSG(win->bar < CAPDRV_HW_NUM_BARS, "bar", win->bar);
            FUZZ_CHECK(win->length > 0);
            FUZZ_CHECK(win->offset <= UINT64_MAX - win->length);
            FUZZ_CHECK(win->flags >= CAPDRV_WINDOW_READ &&
                       win->flags <= (CAPDRV_WINDOW_READ | CAPDRV_WINDOW_WRITE));
        }
        for (unsigned w = g->n_windows; w < SHIM_MAX_WINDOWS; w++)
            FUZZ_CHECK(all_zero(&g->windows[w], sizeof g->windows[w]));
    }
}

/* Stage 2: bind an accepted manifest to a machine shaped like the unit
 * tests' (dmatest at 00:03.0 and 00:05.0, scratch 1234:5678 at 00:04.0). */
static void create_shim(const void *blob, size_t len)
{
    struct capdrv_env *env = new_env();
    struct capdrv_sim *sim;
    FUZZ_CHECK(capdrv_sim_create(NULL, &sim) == 0);
    struct capdrv_pci_addr a3 = {0, 0, 3, 0}, a4 = {0, 0, 4, 0}, a5 = {0, 0, 5, 0};
    FUZZ_CHECK(capdrv_sim_add_dmatest(sim, &a3, NULL) == 0);
    FUZZ_CHECK(capdrv_sim_add_scratch(sim, &a4, 0x1234, 0x5678, 0x058000, NULL) == 0);
    FUZZ_CHECK(capdrv_sim_add_dmatest(sim, &a5, NULL) == 0);

    struct capdrv_shim_config cfg = {
        .env = env, .hw = capdrv_sim_hw(sim), .manifest = blob, .manifest_len = len};
    struct capdrv_shim *shim = NULL;
    char why[WHY_LEN];
    int rc = capdrv_shim_create(&cfg, &shim, why, sizeof why);
    FUZZ_CHECK(memchr(why, '\0', sizeof why) != NULL);
    if (fuzz_verbose())
        fprintf(stderr, "fuzz_manifest: create rc=%d%s%s\n", rc, rc ? " why=" : "", rc ? why : "");
    if (rc == 0) {
        FUZZ_CHECK(shim != NULL);
        struct capdrv_shim_stats st;
        FUZZ_CHECK(capdrv_shim_stats(shim, &st) == 0);
        FUZZ_CHECK(st.grants >= 1 && st.grants <= 3); /* each grant holds its own function */
        capdrv_shim_destroy(shim);
    } else {
        FUZZ_CHECK_MSG(rc == -CAPDRV_ENODEV || rc == -CAPDRV_EACCES || rc == -CAPDRV_EFAULT ||
                           rc == -CAPDRV_ENOTSUP || rc == -CAPDRV_ENOMEM,
                       "capdrv_shim_create rc", rc);
        FUZZ_CHECK(shim == NULL);
        FUZZ_CHECK(why[0] != '\0');
    }
    FUZZ_CHECK_MSG(capdrv_env_hosted_live_allocs(env) == 0, "live allocs",
                   capdrv_env_hosted_live_allocs(env));
    struct capdrv_sim_dma_stats ds;
    FUZZ_CHECK(capdrv_sim_dma_stats(sim, &ds) == 0);
    FUZZ_CHECK(ds.regions == 0 && ds.mappings == 0);
    FUZZ_CHECK(capdrv_sim_oracle_violations(sim) == 0);
    capdrv_sim_destroy(sim);
    capdrv_env_hosted_free(env);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_buf buf;
    const void *blob = fuzz_buf_copy(&buf, data, size);
    struct capdrv_env *env = new_env();

    struct shim_manifest m;
    char why[WHY_LEN];
    memset(&m, 0xa5, sizeof m); /* the parser must zero it on failure */
    memset(why, 'x', sizeof why);
    int rc = shim_manifest_parse(env, blob, size, &m, why, sizeof why);
    FUZZ_CHECK(memchr(why, '\0', sizeof why) != NULL);
    if (fuzz_verbose())
        fprintf(stderr, "fuzz_manifest: parse rc=%d%s%s\n", rc, rc ? " why=" : "", rc ? why : "");
    if (rc == 0) {
        FUZZ_CHECK(why[0] == '\0');
        check_manifest(&m);
        shim_manifest_free(env, &m);
    } else {
        FUZZ_CHECK_MSG(rc == -CAPDRV_EINVAL || rc == -CAPDRV_ENOMEM, "parse rc", rc);
        FUZZ_CHECK(all_zero(&m, sizeof m));
        FUZZ_CHECK(why[0] != '\0');
    }
    FUZZ_CHECK_MSG(capdrv_env_hosted_live_allocs(env) == 0, "live allocs",
                   capdrv_env_hosted_live_allocs(env));
    capdrv_env_hosted_free(env);

    if (rc == 0)
        create_shim(blob, size);
    fuzz_buf_free(&buf);
    return 0;
}
