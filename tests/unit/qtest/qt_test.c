/* Helpers shared by the qtest platform tests. */
#define _GNU_SOURCE
#include "qt_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int qt_test_have_qemu(void)
{
    const char *path = getenv("PATH");
    if (!path)
        return 0;
    char *dup = strdup(path), *save = NULL;
    int found = 0;
    for (char *d = strtok_r(dup, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
        char full[4096];
        snprintf(full, sizeof full, "%s/%s", d, CAPDRV_QTEST_DEFAULT_QEMU);
        found = access(full, X_OK) == 0;
    }
    free(dup);
    return found;
}

static const char *tmpdir(void)
{
    const char *d = getenv("TMPDIR");
    return d && *d ? d : "/tmp";
}

int qt_test_disk(char *path, size_t len, size_t bytes)
{
    snprintf(path, len, "%s/capdrv-qt-disk-XXXXXX", tmpdir());
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    int rc = ftruncate(fd, (off_t)bytes);
    close(fd);
    return rc;
}

int qt_test_script(char *path, size_t len, const char *body)
{
    snprintf(path, len, "%s/capdrv-qt-sh-XXXXXX", tmpdir());
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    size_t n = strlen(body);
    int rc = write(fd, body, n) == (ssize_t)n ? 0 : -1;
    close(fd);
    return rc == 0 ? chmod(path, 0700) : rc;
}
