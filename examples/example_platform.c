/* --platform sim|vfio:SLOT for the examples (example_platform.h). */
#define _GNU_SOURCE /* strtok_r */
#include "example_platform.h"

#include <stdio.h>
#include <string.h>

int example_platform_open(const char *prog, const char *spec, struct capdrv_vfio **vfio,
                          struct capdrv_hw *hw)
{
    *vfio = NULL;
    if (!spec || !strcmp(spec, "sim"))
        return 0;
    if (strncmp(spec, "vfio:", 5) != 0 || !spec[5]) {
        fprintf(stderr, "%s: --platform is sim or vfio:SLOT (e.g. vfio:0000:03:00.0)\n", prog);
        return -1;
    }
    /* vfio:A[,B...]: one selection per slot, e.g. the two ends of a wire. */
    char buf[256];
    struct capdrv_vfio_select sel[4];
    size_t n = 0;
    if (strlen(spec + 5) >= sizeof buf) {
        fprintf(stderr, "%s: --platform: too long\n", prog);
        return -1;
    }
    strcpy(buf, spec + 5);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (n == sizeof sel / sizeof sel[0]) {
            fprintf(stderr, "%s: --platform: at most %zu slots\n", prog, n);
            return -1;
        }
        sel[n++] = (struct capdrv_vfio_select){.slot = tok};
    }
    struct capdrv_vfio_config cfg = {.select = sel, .n_select = n};
    char why[1024];
    int rc = capdrv_vfio_create(&cfg, vfio, why, sizeof why);
    if (rc < 0) {
        fprintf(stderr, "%s: %s (%s)\n", prog, why, capdrv_strerror(rc));
        return -1;
    }
    *hw = capdrv_vfio_hw(*vfio);
    return 1;
}
