/* Helpers shared by conformance cases. */
#include "../conf.h"

#include <capdrv/dev/dmatest.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

bool conf_fail(struct conf_ctx *c, const char *file, int line, const char *fmt, ...)
{
    if (c->result == CONF_FAIL || c->absent)
        return false; /* first failure wins; nothing can fail without its grant */
    c->result = CONF_FAIL;
    int n = snprintf(c->msg, sizeof c->msg, "%s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof c->msg)
        vsnprintf(c->msg + n, sizeof c->msg - (size_t)n, fmt, ap);
    va_end(ap);
    return false;
}

void conf_skip(struct conf_ctx *c, const char *fmt, ...)
{
    c->result = CONF_SKIP;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->msg, sizeof c->msg, fmt, ap);
    va_end(ap);
}

/* Does the platform offer @grant? Platforms without a list offer all. */
static bool offered(const struct conf_platform *p, const char *grant)
{
    if (!p->grants)
        return true;
    for (const char *const *g = p->grants; *g; g++)
        if (!strcmp(*g, grant))
            return true;
    return false;
}

bool conf_need_grant(struct conf_ctx *c, const char *grant)
{
    if (offered(c->plat, grant))
        return true;
    /* Not a failure of the code under test: this machine has no such
     * device. Later checks of the case cannot fail it either. */
    conf_skip(c, "platform %s has no grant \"%s\"", c->plat->name, grant);
    c->absent = true;
    return false;
}

capdrv_cap_t conf_open(struct conf_ctx *c, capdrv_sys *sys, const char *grant)
{
    capdrv_cap_t g = CAPDRV_CAP_INVALID;
    if (!conf_need_grant(c, grant))
        return g;
    int idx = capdrv_grant_find(sys, grant);
    if (idx < 0) {
        conf_fail(c, __FILE__, __LINE__, "grant %s: %s", grant, capdrv_strerror(idx));
        return g;
    }
    int rc = capdrv_grant_open(sys, (unsigned)idx, &g);
    if (rc < 0)
        conf_fail(c, __FILE__, __LINE__, "open %s: %s", grant, capdrv_strerror(rc));
    return g;
}

int conf_dmatest(capdrv_sys *sys, capdrv_cap_t mmio, uint64_t ref, uint32_t len, uint32_t cmd,
                 uint32_t pattern, uint32_t delay_ns)
{
    int rc;
    if ((rc = capdrv_mmio_write(sys, mmio, CAPDRV_DMATEST_ADDR, 8, ref)) < 0 ||
        (rc = capdrv_mmio_write(sys, mmio, CAPDRV_DMATEST_LEN, 4, len)) < 0 ||
        (rc = capdrv_mmio_write(sys, mmio, CAPDRV_DMATEST_PATTERN, 4, pattern)) < 0 ||
        (rc = capdrv_mmio_write(sys, mmio, CAPDRV_DMATEST_DELAY_NS, 4, delay_ns)) < 0)
        return rc;
    return capdrv_mmio_write(sys, mmio, CAPDRV_DMATEST_CMD, 4, cmd);
}
