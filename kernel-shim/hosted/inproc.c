/* The in-process transport: a capdrv_sys whose operations call the shim's
 * entry points directly. capdrv_sys_close() is provider death. */
#include <capdrv/shim.h>
#include <capdrv/sys_backend.h>
#include <capdrv_shim/core.h>
#include <capdrv_shim/env.h>

#include "../shim_internal.h"

struct inproc_conn {
    struct capdrv_sys sys; /* first: the public object */
    struct capdrv_shim *shim;
    struct shim_provider *p;
};

static struct inproc_conn *conn(capdrv_sys *sys)
{
    return (struct inproc_conn *)(void *)sys;
}

#define C(sys) conn(sys)->shim, conn(sys)->p

static int op_grant_count(capdrv_sys *s) { return capdrv_shim_sys_grant_count(C(s)); }
static int op_grant_info(capdrv_sys *s, unsigned i, struct capdrv_grant_info *o)
{ return capdrv_shim_sys_grant_info(C(s), i, o); }
static int op_grant_open(capdrv_sys *s, unsigned i, capdrv_cap_t *g)
{ return capdrv_shim_sys_grant_open(C(s), i, g); }
static int op_grant_lane(capdrv_sys *s, capdrv_cap_t g) { return capdrv_shim_sys_grant_lane(C(s), g); }
static int op_grant_reset(capdrv_sys *s, capdrv_cap_t g) { return capdrv_shim_sys_grant_reset(C(s), g); }
static int op_window_info(capdrv_sys *s, capdrv_cap_t g, unsigned w, struct capdrv_window_info *o)
{ return capdrv_shim_sys_window_info(C(s), g, w, o); }
static int op_mmio_open(capdrv_sys *s, capdrv_cap_t g, unsigned w, capdrv_cap_t *m)
{ return capdrv_shim_sys_mmio_open(C(s), g, w, m); }
static int op_mmio_read(capdrv_sys *s, capdrv_cap_t m, uint64_t off, unsigned w, uint64_t *v)
{ return capdrv_shim_sys_mmio_read(C(s), m, off, w, v); }
static int op_mmio_write(capdrv_sys *s, capdrv_cap_t m, uint64_t off, unsigned w, uint64_t v)
{ return capdrv_shim_sys_mmio_write(C(s), m, off, w, v); }
static int op_cfg_read(capdrv_sys *s, capdrv_cap_t g, uint32_t off, unsigned w, uint32_t *v)
{ return capdrv_shim_sys_cfg_read(C(s), g, off, w, v); }
static int op_cfg_write(capdrv_sys *s, capdrv_cap_t g, uint32_t off, unsigned w, uint32_t v)
{ return capdrv_shim_sys_cfg_write(C(s), g, off, w, v); }
static int op_pool_open(capdrv_sys *s, capdrv_cap_t g, capdrv_cap_t *p)
{ return capdrv_shim_sys_pool_open(C(s), g, p); }
static int op_dma_alloc(capdrv_sys *s, capdrv_cap_t p, size_t n, capdrv_cap_t *b, struct capdrv_dmabuf_info *i)
{ return capdrv_shim_sys_dma_alloc(C(s), p, n, b, i); }
static int op_dmabuf_info(capdrv_sys *s, capdrv_cap_t b, struct capdrv_dmabuf_info *i)
{ return capdrv_shim_sys_dmabuf_info(C(s), b, i); }
static int op_irq_open(capdrv_sys *s, capdrv_cap_t g, unsigned v, capdrv_cap_t *i)
{ return capdrv_shim_sys_irq_open(C(s), g, v, i); }
static int op_irq_wait(capdrv_sys *s, const capdrv_cap_t *i, unsigned n, int64_t t, uint64_t *r)
{ return capdrv_shim_sys_irq_wait(C(s), i, n, t, r); }
static int op_irq_ack(capdrv_sys *s, capdrv_cap_t i) { return capdrv_shim_sys_irq_ack(C(s), i); }
static int op_irq_mask(capdrv_sys *s, capdrv_cap_t i, bool m) { return capdrv_shim_sys_irq_mask(C(s), i, m); }
static int op_cap_release(capdrv_sys *s, capdrv_cap_t c) { return capdrv_shim_sys_cap_release(C(s), c); }

static void op_close(capdrv_sys *s)
{
    struct inproc_conn *c = conn(s);
    struct capdrv_env *env = c->shim->env;
    capdrv_shim_provider_detach(c->shim, c->p);
    capdrv_env_free(env, c);
}

static const struct capdrv_sys_ops inproc_ops = {
    .grant_count = op_grant_count, .grant_info = op_grant_info, .grant_open = op_grant_open,
    .grant_lane = op_grant_lane, .grant_reset = op_grant_reset, .window_info = op_window_info,
    .mmio_open = op_mmio_open, .mmio_read = op_mmio_read, .mmio_write = op_mmio_write,
    .cfg_read = op_cfg_read, .cfg_write = op_cfg_write, .pool_open = op_pool_open,
    .dma_alloc = op_dma_alloc, .dmabuf_info = op_dmabuf_info, .irq_open = op_irq_open,
    .irq_wait = op_irq_wait, .irq_ack = op_irq_ack, .irq_mask = op_irq_mask,
    .cap_release = op_cap_release, .close = op_close,
};

int capdrv_shim_connect(struct capdrv_shim *shim, const char *provider, capdrv_sys **sys)
{
    if (!shim || !provider || !sys)
        return -CAPDRV_EINVAL;
    struct inproc_conn *c = capdrv_env_alloc(shim->env, sizeof *c);
    if (!c)
        return -CAPDRV_ENOMEM;
    c->sys.ops = &inproc_ops;
    c->shim = shim;
    int rc = capdrv_shim_provider_attach(shim, provider, c, &c->p);
    if (rc < 0) {
        capdrv_env_free(shim->env, c);
        return rc;
    }
    *sys = &c->sys;
    return 0;
}

int capdrv_shim_revoke(struct capdrv_shim *shim, capdrv_sys *sys, capdrv_cap_t cap)
{
    if (!shim || !sys || sys->ops != &inproc_ops || conn(sys)->shim != shim)
        return -CAPDRV_EINVAL;
    return capdrv_shim_provider_revoke(shim, conn(sys)->p, cap);
}
