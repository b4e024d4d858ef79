/* capdrv-conformance: run the conformance cases against a platform, in one
 * or both DMA lanes, with progress lines, TAP or JUnit output, and a
 * summary matrix. Exit status: 0 all passed (skips allowed), 1 a failure,
 * 2 usage or setup error. */
#define _GNU_SOURCE
#include "conf.h"

#include <fnmatch.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct {
    const struct conf_case *cases;
    const size_t *n;
} tables[] = {
    {conf_cases_authority, &conf_cases_authority_n},
    {conf_cases_dma, &conf_cases_dma_n},
    {conf_cases_virtio_blk, &conf_cases_virtio_blk_n},
    {conf_cases_virtio_mmio_blk, &conf_cases_virtio_mmio_blk_n},
    {conf_cases_virtio_net, &conf_cases_virtio_net_n},
    {conf_cases_nvme, &conf_cases_nvme_n},
    {conf_cases_remote, &conf_cases_remote_n},
};

static const struct conf_platform *const platforms[] = {&conf_platform_sim, &conf_platform_qtest,
                                                        &conf_platform_qtest_virt,
                                                        &conf_platform_vfio,
                                                        &conf_platform_template};

struct outcome {
    const struct conf_case *cs;
    enum capdrv_lane lane;
    enum conf_result result;
    double seconds;
    char msg[512];
};

static const char *lane_name(enum capdrv_lane l)
{
    return l == CAPDRV_LANE_DIRECT ? "direct" : "brokered";
}

static const char *result_name(enum conf_result r)
{
    return r == CONF_PASS ? "PASS" : r == CONF_FAIL ? "FAIL" : "SKIP";
}

static void usage(FILE *to)
{
    fprintf(to,
            "usage: capdrv-conformance [--platform [remote:]sim|qtest|qtest-virt|vfio|template] [--lane brokered|direct|both]\n"
            "                          [--list] [--filter GLOB] [--tap] [--junit FILE]\n"
            "Runs every conformance case against one platform; see docs/CONFORMANCE.md.\n");
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void xml_escaped(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

static int write_junit(const char *path, const char *plat, const struct outcome *o, size_t n)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        return -1;
    }
    size_t fails = 0, skips = 0;
    for (size_t i = 0; i < n; i++) {
        fails += o[i].result == CONF_FAIL;
        skips += o[i].result == CONF_SKIP;
    }
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(f, "<testsuite name=\"capdrv-conformance.%s\" tests=\"%zu\" failures=\"%zu\" skipped=\"%zu\">\n",
            plat, n, fails, skips);
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "  <testcase classname=\"%s.%s\" name=\"%s\" time=\"%.6f\">\n", plat,
                lane_name(o[i].lane), o[i].cs->id, o[i].seconds);
        fprintf(f, "    <properties><property name=\"rule\" value=\"");
        xml_escaped(f, o[i].cs->rule);
        fprintf(f, "\"/></properties>\n");
        if (o[i].result != CONF_PASS) {
            fprintf(f, o[i].result == CONF_FAIL ? "    <failure message=\"" : "    <skipped message=\"");
            xml_escaped(f, o[i].msg);
            fprintf(f, "\"/>\n");
        }
        fprintf(f, "  </testcase>\n");
    }
    fprintf(f, "</testsuite>\n");
    return fclose(f) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    const char *plat_name = "sim", *lane_arg = "both", *filter = NULL, *junit = NULL;
    bool list = false, tap = false;
    static const struct option opts[] = {
        {"platform", required_argument, NULL, 'p'}, {"lane", required_argument, NULL, 'l'},
        {"filter", required_argument, NULL, 'f'},   {"junit", required_argument, NULL, 'j'},
        {"list", no_argument, NULL, 'L'},           {"tap", no_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    for (int ch; (ch = getopt_long(argc, argv, "p:l:f:j:Lth", opts, NULL)) != -1;) {
        switch (ch) {
        case 'p': plat_name = optarg; break;
        case 'l': lane_arg = optarg; break;
        case 'f': filter = optarg; break;
        case 'j': junit = optarg; break;
        case 'L': list = true; break;
        case 't': tap = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    const struct conf_platform *plat = NULL;
    /* remote:<inner>: <inner>'s machine behind the manager (platforms/remote.c) */
    static struct conf_platform remote;
    bool is_remote = !strncmp(plat_name, "remote:", 7);
    for (size_t i = 0; i < sizeof platforms / sizeof platforms[0]; i++)
        if (!strcmp(platforms[i]->name, plat_name + (is_remote ? 7 : 0)))
            plat = platforms[i];
    if (plat && is_remote) {
        conf_remote_platform(plat, plat_name, &remote);
        plat = &remote;
    }
    if (!plat) {
        fprintf(stderr, "capdrv-conformance: unknown platform \"%s\" (built: sim, qtest, vfio, template)\n", plat_name);
        return 2;
    }
    unsigned lanes;
    if (!strcmp(lane_arg, "both"))
        lanes = CONF_BOTH_LANES;
    else if (!strcmp(lane_arg, "brokered"))
        lanes = CONF_LANE_BIT(CAPDRV_LANE_BROKERED);
    else if (!strcmp(lane_arg, "direct"))
        lanes = CONF_LANE_BIT(CAPDRV_LANE_DIRECT);
    else {
        fprintf(stderr, "capdrv-conformance: --lane must be brokered, direct or both\n");
        return 2;
    }

    size_t cap = 0;
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
        cap += *tables[t].n * 2;
    struct outcome *out = calloc(cap ? cap : 1, sizeof *out);
    if (!out)
        return 2;
    size_t n = 0;
    for (unsigned l = CAPDRV_LANE_BROKERED; l <= CAPDRV_LANE_DIRECT; l++) {
        if (!(lanes & CONF_LANE_BIT(l)))
            continue;
        for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
            for (size_t i = 0; i < *tables[t].n; i++) {
                const struct conf_case *cs = &tables[t].cases[i];
                if (!(cs->lanes & CONF_LANE_BIT(l)) || (filter && fnmatch(filter, cs->id, 0)))
                    continue;
                out[n].cs = cs;
                out[n].lane = (enum capdrv_lane)l;
                n++;
            }
    }
    if (list) {
        for (size_t i = 0; i < n; i++)
            printf("%-34s %-8s %s\n", out[i].cs->id, lane_name(out[i].lane), out[i].cs->rule);
        free(out);
        return 0;
    }
    if (n == 0) {
        fprintf(stderr, "capdrv-conformance: no case matches\n");
        free(out);
        return 2;
    }

    if (tap)
        printf("TAP version 13\n1..%zu\n", n);
    size_t pass = 0, fail = 0, skip = 0;
    for (size_t i = 0; i < n; i++) {
        struct conf_ctx c = {.plat = plat, .lane = out[i].lane, .result = CONF_PASS};
        char why[256] = "";
        double t0 = now_s();
        int rc = plat->setup(&c, out[i].lane, why, sizeof why);
        if (rc == -CAPDRV_ENOTSUP) /* the platform cannot run this at all (no QEMU, no IOMMU) */
            conf_skip(&c, "platform %s: %s", plat->name, why);
        else if (rc < 0)
            conf_fail(&c, __FILE__, __LINE__, "platform setup: %s (%s)", capdrv_strerror(rc), why);
        else
            out[i].cs->run(&c);
        /* Any device access outside the ledger fails the case, whatever it
         * checked - beyond the refusals it provoked on purpose. */
        if (c.result == CONF_PASS && plat->oracle_violations && c.shim &&
            plat->oracle_violations(&c) != c.refusals_expected)
            conf_fail(&c, __FILE__, __LINE__,
                      "DMA oracle: %ld device accesses outside the ledger (%ld provoked)",
                      plat->oracle_violations(&c), c.refusals_expected);
        long escaped = c.shim && plat->dma_escaped ? plat->dma_escaped(&c) : 0;
        if (c.result != CONF_FAIL && escaped != 0)
            conf_fail(&c, __FILE__, __LINE__,
                      "DMA oracle: %ld device write(s) reached memory outside the ledger", escaped);
        plat->teardown(&c);
        out[i].seconds = now_s() - t0;
        out[i].result = c.result;
        snprintf(out[i].msg, sizeof out[i].msg, "%s", c.msg);
        pass += c.result == CONF_PASS;
        fail += c.result == CONF_FAIL;
        skip += c.result == CONF_SKIP;
        if (tap) {
            printf("%s %zu - %s [%s]%s%s\n", c.result == CONF_FAIL ? "not ok" : "ok", i + 1,
                   out[i].cs->id, lane_name(out[i].lane), c.result == CONF_SKIP ? " # SKIP " : "",
                   c.result == CONF_SKIP ? c.msg : "");
            if (c.result == CONF_FAIL)
                printf("  ---\n  message: \"%s\"\n  ...\n", c.msg);
        } else {
            printf("%s  %-34s %-8s %s\n", result_name(c.result), out[i].cs->id,
                   lane_name(out[i].lane), out[i].cs->rule);
            if (c.result != CONF_PASS)
                printf("      %s\n", c.msg);
        }
        fflush(stdout);
    }

    if (!tap) { /* summary matrix: cases x lanes */
        printf("\n%-34s %-9s %-9s   platform: %s\n", "case", "brokered", "direct", plat->name);
        for (size_t i = 0; i < n; i++) {
            bool seen = false;
            for (size_t j = 0; j < i; j++)
                seen |= out[j].cs == out[i].cs;
            if (seen)
                continue;
            const char *cell[3] = {"", "-", "-"};
            for (size_t j = 0; j < n; j++)
                if (out[j].cs == out[i].cs)
                    cell[out[j].lane] = result_name(out[j].result);
            printf("%-34s %-9s %-9s\n", out[i].cs->id, cell[CAPDRV_LANE_BROKERED],
                   cell[CAPDRV_LANE_DIRECT]);
        }
        printf("\nconformance: %zu passed, %zu failed, %zu skipped\n", pass, fail, skip);
    }
    if (junit && write_junit(junit, plat->name, out, n) < 0)
        fail++;
    free(out);
    return fail ? 1 : 0;
}
