#include "spy.h"

#include "fixture.h"

#include <stdlib.h>

static void track(struct fx_spy *s, uintptr_t cookie, bool add)
{
    for (unsigned i = 0; i < 16; i++)
        if (add ? s->mapped[i] == 0 : s->mapped[i] == cookie) {
            s->mapped[i] = add ? cookie : 0;
            return;
        }
}

static void spy_dma_free(void *ctx, struct capdrv_hw_dma *mem)
{
    struct fx_spy *s = ctx;
    s->frees++;
    for (unsigned i = 0; i < 16; i++)
        if (s->mapped[i] == mem->cookie)
            s->free_while_mapped++; /* the device could still reach it */
    for (size_t i = 0; i < mem->size; i++)
        if (((uint8_t *)mem->cpu)[i]) {
            s->dirty_frees++;
            break;
        }
    s->inner.ops->dma_free(s->inner.ctx, mem);
}

#define SPY_FWD(name, ret, params, args) \
    static ret spy_##name params { struct fx_spy *s = ctx; return s->inner.ops->name args; }
SPY_FWD(caps, unsigned, (void *ctx), (s->inner.ctx))
SPY_FWD(function_count, int, (void *ctx), (s->inner.ctx))
SPY_FWD(function_info, int, (void *ctx, unsigned fn, struct capdrv_hw_function *o), (s->inner.ctx, fn, o))
SPY_FWD(cfg_read, int, (void *ctx, unsigned fn, uint32_t o, unsigned w, uint32_t *v), (s->inner.ctx, fn, o, w, v))
SPY_FWD(cfg_write, int, (void *ctx, unsigned fn, uint32_t o, unsigned w, uint32_t v), (s->inner.ctx, fn, o, w, v))
SPY_FWD(bar_write, int, (void *ctx, unsigned fn, unsigned b, uint64_t o, unsigned w, uint64_t v), (s->inner.ctx, fn, b, o, w, v))
SPY_FWD(dma_alloc, int, (void *ctx, size_t n, struct capdrv_hw_dma *o), (s->inner.ctx, n, o))
SPY_FWD(irq_enable, int, (void *ctx, unsigned fn, unsigned v), (s->inner.ctx, fn, v))
SPY_FWD(irq_mask, int, (void *ctx, unsigned fn, unsigned v, bool m), (s->inner.ctx, fn, v, m))

static int spy_bar_read(void *ctx, unsigned fn, unsigned b, uint64_t o, unsigned w, uint64_t *v)
{
    struct fx_spy *s = ctx;
    if (s->fail_bar_read && b == 0 && o == s->fail_bar_read_off)
        return -CAPDRV_EIO; /* e.g. the function stopped decoding */
    return s->inner.ops->bar_read(s->inner.ctx, fn, b, o, w, v);
}

static int spy_dma_map(void *ctx, unsigned fn, const struct capdrv_hw_dma *m, uint64_t i, uint64_t *d)
{
    struct fx_spy *s = ctx;
    int rc = s->inner.ops->dma_map(s->inner.ctx, fn, m, i, d);
    if (rc == 0)
        track(s, m->cookie, true);
    return rc;
}

static int spy_dma_unmap(void *ctx, unsigned fn, const struct capdrv_hw_dma *m, uint64_t d)
{
    struct fx_spy *s = ctx;
    s->unmaps++;
    if (s->fail_unmap)
        return -CAPDRV_EIO; /* e.g. an IOMMU that refused: still mapped */
    track(s, m->cookie, false);
    return s->inner.ops->dma_unmap(s->inner.ctx, fn, m, d);
}

static int spy_irq_disable(void *ctx, unsigned fn, unsigned v)
{
    struct fx_spy *s = ctx;
    s->irq_disables++;
    return s->inner.ops->irq_disable(s->inner.ctx, fn, v);
}

static int spy_irq_wait(void *ctx, const struct capdrv_hw_irq *set, unsigned n, int64_t t, uint64_t *r)
{
    struct fx_spy *s = ctx;
    if (s->during_wait && n > 0) {
        void (*hook)(void *) = s->during_wait;
        s->during_wait = NULL; /* once */
        hook(s->during_wait_arg);
        *r = 1; /* the first entry of the set "fired" while we were away */
        return 1;
    }
    return s->inner.ops->irq_wait(s->inner.ctx, set, n, t, r);
}

static int spy_function_reset(void *ctx, unsigned fn)
{
    struct fx_spy *s = ctx;
    s->resets++;
    if (s->fail_reset)
        return -CAPDRV_EIO; /* the device did not come out of FLR */
    return s->inner.ops->function_reset(s->inner.ctx, fn);
}

struct fx_spy *fx_spy_install(struct fx *f)
{
    struct fx_spy *s = calloc(1, sizeof *s);
    assert_non_null(s);
    s->inner = f->hw;
    s->ops = (struct capdrv_hw_ops){
        .caps = spy_caps, .function_count = spy_function_count, .function_info = spy_function_info,
        .cfg_read = spy_cfg_read, .cfg_write = spy_cfg_write, .bar_read = spy_bar_read,
        .bar_write = spy_bar_write, .dma_alloc = spy_dma_alloc, .dma_free = spy_dma_free,
        .dma_map = spy_dma_map, .dma_unmap = spy_dma_unmap, .irq_enable = spy_irq_enable,
        .irq_disable = spy_irq_disable, .irq_mask = spy_irq_mask, .irq_wait = spy_irq_wait,
        .function_reset = spy_function_reset};
    f->hw = (struct capdrv_hw){.ops = &s->ops, .ctx = s};
    f->spy = s;
    return s;
}
