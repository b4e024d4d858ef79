/* Replay driver: runs a fuzz harness over saved inputs without libFuzzer,
 * so the corpus and the regressions run with the project's own compiler
 * (ctest -L fuzz-regress).
 *
 *   fuzz_<harness>_replay PATH...
 *
 * A PATH that is a file is one input; a directory contributes every regular
 * file in it (sorted by name, not recursive), except names starting with
 * "." or "README". Each input is printed before it runs, so a crash names
 * its input. Exit status: 0 when every input ran, 1 when a path cannot be
 * read or when no input was found at all (an empty replay is not a pass);
 * a harness that finds a broken invariant aborts. */
#define _DEFAULT_SOURCE /* scandir, alphasort, DT_* */
#include "fuzz_common.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

static int read_whole(const char *path, uint8_t **out, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return -1;
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, fp);
        n += got;
        if (n < cap)
            break;
        uint8_t *bigger = realloc(buf, cap * 2);
        if (!bigger) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = bigger;
        cap *= 2;
    }
    int err = ferror(fp);
    fclose(fp);
    if (!buf || err) {
        free(buf);
        return -1;
    }
    *out = buf;
    *len = n;
    return 0;
}

static int run_file(const char *path)
{
    uint8_t *data;
    size_t len;
    if (read_whole(path, &data, &len) < 0) {
        fprintf(stderr, "replay: cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    printf("replay: %s (%zu bytes)\n", path, len);
    fflush(stdout);
    /* An exact-size heap copy, as libFuzzer passes it: ASan builds see any
     * read past the end. */
    uint8_t *exact = malloc(len ? len : 1);
    if (!exact) {
        free(data);
        return -1;
    }
    if (len)
        memcpy(exact, data, len);
    free(data);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    return 0;
}

static int skip_name(const char *name)
{
    return name[0] == '.' || strncmp(name, "README", 6) == 0;
}

static int run_dir(const char *dir, unsigned *count)
{
    struct dirent **ents;
    int n = scandir(dir, &ents, NULL, alphasort);
    if (n < 0) {
        fprintf(stderr, "replay: cannot list %s: %s\n", dir, strerror(errno));
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        if (rc == 0 && !skip_name(ents[i]->d_name)) {
            size_t need = strlen(dir) + strlen(ents[i]->d_name) + 2;
            char *path = malloc(need);
            struct stat st;
            if (!path) {
                rc = -1;
            } else {
                snprintf(path, need, "%s/%s", dir, ents[i]->d_name);
                if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                    rc = run_file(path);
                    if (rc == 0)
                        (*count)++;
                }
                free(path);
            }
        }
        free(ents[i]);
    }
    free(ents);
    return rc;
}

int main(int argc, char **argv)
{
    unsigned count = 0;
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE-OR-DIR...\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) < 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            return 1;
        }
        int rc;
        if (S_ISDIR(st.st_mode)) {
            rc = run_dir(argv[i], &count);
        } else {
            rc = run_file(argv[i]);
            if (rc == 0)
                count++;
        }
        if (rc < 0)
            return 1;
    }
    if (count == 0) {
        fprintf(stderr, "replay: no inputs found\n");
        return 1;
    }
    printf("replay: %u inputs, all passed\n", count);
    return 0;
}
