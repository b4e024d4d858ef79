/* DMA lane cases: data integrity, ledger enforcement at the doorbell,
 * materialisation at notify time, address hiding, interrupts and polling. */
#include "../conf.h"

#include <capdrv/dev/dmatest.h>

#include <string.h>

struct dev {
    capdrv_cap_t g, m, pool;
};

static bool open_dev(struct conf_ctx *c, struct dev *d)
{
    d->g = conf_open(c, c->conf, "dev");
    if (d->g == CAPDRV_CAP_INVALID)
        return false;
    if (capdrv_mmio_open(c->conf, d->g, 0, &d->m) < 0 || capdrv_pool_open(c->conf, d->g, &d->pool) < 0)
        return conf_fail(c, __FILE__, __LINE__, "cannot open window or pool of \"dev\"");
    return true;
}

static bool wait_done(struct conf_ctx *c, struct dev *d)
{
    for (int i = 0; i < 1000; i++) {
        uint64_t st;
        if (capdrv_mmio_read(c->conf, d->m, CAPDRV_DMATEST_STATUS, 4, &st) < 0)
            return conf_fail(c, __FILE__, __LINE__, "STATUS read failed");
        if (!(st & CAPDRV_DMATEST_STATUS_BUSY))
            return (st & CAPDRV_DMATEST_STATUS_ERROR)
                       ? conf_fail(c, __FILE__, __LINE__, "device reported an error")
                       : true;
        if (c->plat->advance)
            c->plat->advance(c, 1000);
    }
    return conf_fail(c, __FILE__, __LINE__, "command never completed");
}

/* Writes of every size class at odd offsets land exactly where asked. */
static void fill_integrity(struct conf_ctx *c)
{
    struct dev d;
    if (!open_dev(c, &d))
        return;
    capdrv_cap_t b;
    struct capdrv_dmabuf_info bi;
    CONF_EQ(c, capdrv_dma_alloc(c->conf, d.pool, 32768, &b, &bi), 0);
    static const struct { uint32_t off, len; } shapes[] = {
        {0, 1}, {1, 3}, {7, 512}, {4095, 2}, {4096, 4096}, {100, 4097}, {511, 12000}, {0, 32768},
    };
    uint8_t *mem = bi.cpu;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        uint32_t pat = 0x01020304u * (uint32_t)(s + 1);
        memset(mem, 0, bi.size);
        CONF_EQ(c, conf_dmatest(c->conf, d.m, capdrv_dma_ref(&bi, shapes[s].off), shapes[s].len,
                                CAPDRV_DMATEST_CMD_FILL, pat, 0), 0);
        if (!wait_done(c, &d))
            return;
        for (uint32_t i = 0; i < bi.size; i++) {
            bool inside = i >= shapes[s].off && i < shapes[s].off + shapes[s].len;
            uint8_t want = inside ? (uint8_t)(pat >> (8 * ((i - shapes[s].off) & 3))) : 0;
            if (mem[i] != want) {
                conf_fail(c, __FILE__, __LINE__, "shape %zu: byte %u = %#x, want %#x", s, i, mem[i], want);
                return;
            }
        }
        /* Read it back through the device. */
        uint32_t sum = 0;
        for (uint32_t i = 0; i < shapes[s].len; i++)
            sum += mem[shapes[s].off + i];
        CONF_EQ(c, conf_dmatest(c->conf, d.m, capdrv_dma_ref(&bi, shapes[s].off), shapes[s].len,
                                CAPDRV_DMATEST_CMD_SUM, 0, 0), 0);
        if (!wait_done(c, &d))
            return;
        uint64_t result;
        CONF_EQ(c, capdrv_mmio_read(c->conf, d.m, CAPDRV_DMATEST_RESULT, 4, &result), 0);
        CONF_EQ(c, result, sum);
    }
}

static void out_of_ledger_refused(struct conf_ctx *c)
{
    struct dev d;
    if (!open_dev(c, &d))
        return;
    capdrv_cap_t b, freed, pg, ppool, pb;
    struct capdrv_dmabuf_info bi, fi, other;
    CONF_EQ(c, capdrv_dma_alloc(c->conf, d.pool, 8192, &b, &bi), 0);
    CONF_EQ(c, capdrv_dma_alloc(c->conf, d.pool, 4096, &freed, &fi), 0);
    CONF_EQ(c, capdrv_cap_release(c->conf, freed), 0);
    pg = conf_open(c, c->other, "peer");
    CONF_EQ(c, capdrv_pool_open(c->other, pg, &ppool), 0);
    CONF_EQ(c, capdrv_dma_alloc(c->other, ppool, 4096, &pb, &other), 0);
    memset(other.cpu, 0xc3, 4096);
    const struct { uint64_t ref; uint32_t len; } bad[] = {
        {capdrv_dma_ref(&bi, 8192 - 8), 16}, {capdrv_dma_ref(&bi, 8192), 1},
        {capdrv_dma_ref(&fi, 0), 16},        {capdrv_dma_ref(&other, 0), 16},
        {0, 16},                             {UINT64_MAX - 7, 16},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t st0 = 0, st1 = 0;
        if (c->plat->device_reg)
            c->plat->device_reg(c, "dev", CAPDRV_DMATEST_ADDR, 8, &st0);
        CONF_EQ(c, conf_dmatest(c->conf, d.m, bad[i].ref, bad[i].len, CAPDRV_DMATEST_CMD_FILL, 0, 0),
                -CAPDRV_EFAULT);
        if (c->plat->device_reg) { /* the device was never given the address */
            c->plat->device_reg(c, "dev", CAPDRV_DMATEST_ADDR, 8, &st1);
            CONF_EQ(c, st1, st0);
        }
    }
    for (size_t i = 0; i < 4096; i++)
        CONF_EQ(c, ((uint8_t *)other.cpu)[i], 0xc3);
    if (c->plat->oracle_violations)
        CONF_EQ(c, c->plat->oracle_violations(c), 0);
}

static void rewrite_after_notify(struct conf_ctx *c)
{
    if (!c->plat->advance) {
        conf_skip(c, "platform %s cannot delay device completion", c->plat->name);
        return;
    }
    struct dev d;
    if (!open_dev(c, &d))
        return;
    capdrv_cap_t a, b;
    struct capdrv_dmabuf_info ai, bi;
    CONF_EQ(c, capdrv_dma_alloc(c->conf, d.pool, 4096, &a, &ai), 0);
    CONF_EQ(c, capdrv_dma_alloc(c->conf, d.pool, 4096, &b, &bi), 0);
    CONF_EQ(c, conf_dmatest(c->conf, d.m, capdrv_dma_ref(&ai, 0), 4096, CAPDRV_DMATEST_CMD_FILL,
                            0x3c3c3c3cu, 10000), 0);
    CONF_EQ(c, capdrv_mmio_write(c->conf, d.m, CAPDRV_DMATEST_ADDR, 8, capdrv_dma_ref(&bi, 0)), 0);
    CONF_EQ(c, capdrv_mmio_write(c->conf, d.m, CAPDRV_DMATEST_LEN, 4, 16), 0);
    if (!wait_done(c, &d))
        return;
    CONF_EQ(c, ((uint8_t *)ai.cpu)[4095], 0x3c);
    CONF_EQ(c, ((uint8_t *)bi.cpu)[0], 0);
}

/* Brokered lane: nothing the provider can read equals an address the
 * device used. */
static void no_device_address(struct conf_ctx *c)
{
    if (!c->plat->device_reg) {
        conf_skip(c, "platform %s cannot read device registers directly", c->plat->name);
        return;
    }
    struct dev d;
    if (!open_dev(c, &d))
        return;
    capdrv_cap_t b;
    struct capdrv_dmabuf_info bi;
    CONF_EQ(c, capdrv_dma_alloc(c->conf, d.pool, 4096, &b, &bi), 0);
    CONF_EQ(c, conf_dmatest(c->conf, d.m, capdrv_dma_ref(&bi, 0), 64, CAPDRV_DMATEST_CMD_FILL, 9, 0), 0);
    uint64_t devaddr, readback;
    CONF_EQ(c, c->plat->device_reg(c, "dev", CAPDRV_DMATEST_ADDR, 8, &devaddr), 0);
    CONF_EQ(c, capdrv_mmio_read(c->conf, d.m, CAPDRV_DMATEST_ADDR, 8, &readback), 0);
    CONF_CHECK(c, devaddr != bi.ref_base);
    CONF_CHECK(c, readback != devaddr);
    CONF_CHECK(c, (uintptr_t)bi.cpu != devaddr);
    /* Config space: BAR address bits are hidden. */
    for (uint32_t off = 0x10; off < 0x28; off += 4) {
        uint32_t v;
        CONF_EQ(c, capdrv_cfg_read(c->conf, d.g, off, 4, &v), 0);
        CONF_EQ(c, v & ~0xfu, 0);
    }
    /* No word of the buffer's own info or registers carries the address. */
    for (uint64_t reg = 0; reg <= CAPDRV_DMATEST_DELAY_NS; reg += 4) {
        uint64_t v;
        if (capdrv_mmio_read(c->conf, d.m, reg, reg == CAPDRV_DMATEST_ADDR ? 8 : 4, &v) == 0)
            CONF_CHECK(c, v != devaddr && v != (devaddr & 0xffffffffu));
    }
}

/* Direct lane: the device is given exactly the provider's IOVA. */
static void direct_iova(struct conf_ctx *c)
{
    if (!c->plat->device_reg) {
        conf_skip(c, "platform %s cannot read device registers directly", c->plat->name);
        return;
    }
    struct dev d;
    if (!open_dev(c, &d))
        return;
    capdrv_cap_t b;
    struct capdrv_dmabuf_info bi;
    CONF_EQ(c, capdrv_dma_alloc(c->conf, d.pool, 4096, &b, &bi), 0);
    CONF_EQ(c, conf_dmatest(c->conf, d.m, capdrv_dma_ref(&bi, 512), 64, CAPDRV_DMATEST_CMD_FILL, 9, 0), 0);
    uint64_t devaddr;
    CONF_EQ(c, c->plat->device_reg(c, "dev", CAPDRV_DMATEST_ADDR, 8, &devaddr), 0);
    CONF_EQ(c, devaddr, bi.ref_base + 512);
}

static void completion_interrupt(struct conf_ctx *c)
{
    struct dev d;
    if (!open_dev(c, &d))
        return;
    capdrv_cap_t b, irq;
    struct capdrv_dmabuf_info bi;
    CONF_EQ(c, capdrv_dma_alloc(c->conf, d.pool, 4096, &b, &bi), 0);
    CONF_EQ(c, capdrv_irq_open(c->conf, d.g, 0, &irq), 0);
    CONF_EQ(c, conf_dmatest(c->conf, d.m, capdrv_dma_ref(&bi, 0), 4096, CAPDRV_DMATEST_CMD_FILL,
                            0xabababab, 20000), 0);
    uint64_t ready = 0;
    CONF_EQ(c, capdrv_irq_wait(c->conf, &irq, 1, 1000000000, &ready), 1);
    CONF_EQ(c, ready, 1);
    CONF_EQ(c, ((uint8_t *)bi.cpu)[4095], 0xab);
    CONF_EQ(c, capdrv_irq_ack(c->conf, irq), 0);
    CONF_EQ(c, capdrv_irq_wait(c->conf, &irq, 1, 0, &ready), -CAPDRV_ETIMEDOUT);
}

static void completion_polling(struct conf_ctx *c)
{
    struct dev d;
    if (!open_dev(c, &d))
        return;
    capdrv_cap_t b;
    struct capdrv_dmabuf_info bi;
    CONF_EQ(c, capdrv_dma_alloc(c->conf, d.pool, 4096, &b, &bi), 0);
    CONF_EQ(c, conf_dmatest(c->conf, d.m, capdrv_dma_ref(&bi, 0), 4096, CAPDRV_DMATEST_CMD_FILL,
                            0x12121212, 20000), 0);
    if (!wait_done(c, &d))
        return;
    CONF_EQ(c, ((uint8_t *)bi.cpu)[0], 0x12);
}

const struct conf_case conf_cases_dma[] = {
    {"dma.fill-integrity", "data lands exactly where referenced, every size class and odd offsets",
     CONF_BOTH_LANES, fill_integrity},
    {"dma.out-of-ledger-refused", "DESIGN: a reference outside the ledger is refused at notify",
     CONF_BOTH_LANES, out_of_ledger_refused},
    {"dma.rewrite-after-notify", "DESIGN: a rewrite after notify changes nothing the device sees",
     CONF_BOTH_LANES, rewrite_after_notify},
    {"dma.brokered-hides-addresses", "seed: brokered lane - no host-physical value reaches the provider",
     CONF_LANE_BIT(CAPDRV_LANE_BROKERED), no_device_address},
    {"dma.direct-validated-iova", "seed: Model B - provider IOVAs validated, then used as is",
     CONF_LANE_BIT(CAPDRV_LANE_DIRECT), direct_iova},
    {"irq.completion-interrupt", "seed: Interrupt cap delivers the device's MSI-X completion",
     CONF_BOTH_LANES, completion_interrupt},
    {"irq.completion-polling", "completion observable by polling without interrupts",
     CONF_BOTH_LANES, completion_polling},
};
const size_t conf_cases_dma_n = sizeof conf_cases_dma / sizeof conf_cases_dma[0];
