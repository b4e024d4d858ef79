/* Conformance platform "template": the cases against the template syscall
 * backend (kernel-shim/template/), where a port to another kernel starts.
 * Every capdrv/sys.h call returns -CAPDRV_ENOSYS, so every case fails at
 * its first call, or skips where it needs an observer hook this platform
 * lacks, and the run exits 1. ctest test port.template-conformance
 * (conformance/template-check.cmake) holds it to that: a template that
 * passes a case is lying, one that crashes the runner is broken.
 *
 * A port copies this file. Setup connects the two providers the cases
 * play ("conf" and "other", see conf.h) through the port's backend to a
 * kernel booted with the conformance grants (conformance/manifests/
 * sim-machine.dtsi and sim-nvme.dtsi say which). The shim then lives in
 * the kernel, not in this process, so c->shim stays NULL. Observer hooks
 * are whatever the kernel can show a test harness without the shim -
 * e.g. a debug call that reads a device register (device_reg) or counts
 * function resets (reset_count), a DMA fault log (oracle_violations);
 * leave NULL what it cannot show, and the cases that need it skip. */
#include "../conf.h"

#include "template_sys.h"

#include <stdlib.h>

struct template_plat {
    struct capdrv_template_conn conf, other; /* the connections' storage */
};

static int template_setup(struct conf_ctx *c, enum capdrv_lane lane, char *why, size_t why_len)
{
    (void)why, (void)why_len;
    /* The lane is the kernel's choice at boot (probe, manifest override),
     * not the harness's: a port runs --lane brokered or --lane direct to
     * match the machine, or gives setup a way to boot each. */
    (void)lane;
    struct template_plat *p = calloc(1, sizeof *p);
    if (!p)
        return -CAPDRV_ENOMEM;
    c->pdata = p;
    int rc = capdrv_template_connect(&p->conf, "conf", &c->conf);
    if (rc == 0)
        rc = capdrv_template_connect(&p->other, "other", &c->other);
    return rc;
}

static void template_teardown(struct conf_ctx *c)
{
    /* authority.provider-death closes and clears c->conf itself;
     * capdrv_sys_close(NULL) does nothing. */
    capdrv_sys_close(c->conf);
    capdrv_sys_close(c->other);
    c->conf = c->other = NULL;
    free(c->pdata);
    c->pdata = NULL;
}

const struct conf_platform conf_platform_template = {
    .name = "template",
    .setup = template_setup,
    .teardown = template_teardown,
    /* No observer hooks: the template has no device to observe. */
};
