/* DMA lane cases: data integrity, ledger enforcement at the doorbell,
 * materialisation at notify time, address hiding, interrupts and polling.
 * The device is the platform's DMA engine (engine.h): dmatest on the sim,
 * the NVMe controller on QEMU and VFIO machines. */
#include "engine.h"
#include "nvme_raw.h"

#include <capdrv/dev/dmatest.h>

#include <string.h>

/* Writes of every size class at odd offsets land exactly where asked. */
static void fill_integrity_in(struct conf_ctx *c, struct conf_engine *e)
{
    if (!conf_engine_open(c, e, 0))
        return;
    capdrv_cap_t b;
    struct capdrv_dmabuf_info bi;
    CONF_EQ(c, capdrv_dma_alloc(c->conf, e->pool, 32768, &b, &bi), 0);
    static const struct { uint32_t off, len; } shapes[] = {
        {0, 1}, {1, 3}, {7, 512}, {4095, 2}, {4096, 4096}, {100, 4097}, {511, 12000}, {0, 32768},
    };
    uint8_t *mem = bi.cpu;
    unsigned done = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        uint32_t pat = 0x01020304u * (uint32_t)(s + 1);
        memset(mem, 0, bi.size);
        int rc = conf_engine_fill(e, capdrv_dma_ref(&bi, shapes[s].off), shapes[s].len, pat);
        if (rc == -CAPDRV_ENOTSUP)
            continue; /* a range this engine cannot express (NVMe without SGLs) */
        CONF_EQ(c, rc, 0);
        for (uint32_t i = 0; i < bi.size; i++) {
            bool inside = i >= shapes[s].off && i < shapes[s].off + shapes[s].len;
            uint8_t want = inside ? (uint8_t)(pat >> (8 * ((i - shapes[s].off) & 3))) : 0;
            if (mem[i] != want) {
                conf_fail(c, __FILE__, __LINE__, "shape %zu: byte %u = %#x, want %#x", s, i, mem[i], want);
                return;
            }
        }
        /* Read it back through the device. */
        uint32_t sum = 0, result = 0;
        for (uint32_t i = 0; i < shapes[s].len; i++)
            sum += mem[shapes[s].off + i];
        CONF_EQ(c, conf_engine_sum(e, capdrv_dma_ref(&bi, shapes[s].off), shapes[s].len, &result), 0);
        CONF_EQ(c, result, sum);
        done++;
    }
    if (done < 3) /* at least the block-sized, aligned shapes */
        conf_fail(c, __FILE__, __LINE__, "only %u of the shapes could be expressed", done);
}

static void out_of_ledger_refused_in(struct conf_ctx *c, struct conf_engine *e)
{
    if (!conf_engine_open(c, e, 0))
        return;
    capdrv_cap_t b, freed;
    struct capdrv_dmabuf_info bi, fi, other = {0};
    CONF_EQ(c, capdrv_dma_alloc(c->conf, e->pool, 8192, &b, &bi), 0);
    CONF_EQ(c, capdrv_dma_alloc(c->conf, e->pool, 4096, &freed, &fi), 0);
    CONF_EQ(c, capdrv_cap_release(c->conf, freed), 0);
    /* Memory of another provider, where the machine has a second DMA device. */
    bool peer = !c->plat->grants;
    for (const char *const *g = c->plat->grants; g && *g; g++)
        peer |= !strcmp(*g, "peer");
    if (peer) {
        capdrv_cap_t pg = conf_open(c, c->other, "peer"), ppool, pb;
        CONF_EQ(c, capdrv_pool_open(c->other, pg, &ppool), 0);
        CONF_EQ(c, capdrv_dma_alloc(c->other, ppool, 4096, &pb, &other), 0);
        memset(other.cpu, 0xc3, 4096);
    }
    const struct { uint64_t ref; uint32_t len; } bad[] = {
        {capdrv_dma_ref(&bi, 8192 - 8), 16}, {capdrv_dma_ref(&bi, 8192), 1},
        {capdrv_dma_ref(&fi, 0), 16},        {0, 16},
        {UINT64_MAX - 7, 16},                {capdrv_dma_ref(&other, 0), 16}, /* peer only */
    };
    size_t n_bad = sizeof bad / sizeof bad[0] - (peer ? 0 : 1);
    bool dmatest_reg = e->kind == CONF_ENGINE_DMATEST && c->plat->device_reg;
    unsigned tried = 0;
    for (size_t i = 0; i < n_bad; i++) {
        uint64_t st0 = 0, st1 = 0;
        if (dmatest_reg)
            c->plat->device_reg(c, e->grant, CAPDRV_DMATEST_ADDR, 8, &st0);
        int rc = conf_engine_fill(e, bad[i].ref, bad[i].len, 0);
        if (rc == -CAPDRV_ENOTSUP)
            continue; /* not expressible on this engine (NVMe without SGLs) */
        if (rc != -CAPDRV_EFAULT) {
            conf_fail(c, __FILE__, __LINE__, "bad reference %zu: %s, want -CAPDRV_EFAULT", i,
                      capdrv_strerror(rc));
            return;
        }
        tried++;
        if (dmatest_reg) { /* the device was never given the address */
            c->plat->device_reg(c, e->grant, CAPDRV_DMATEST_ADDR, 8, &st1);
            CONF_EQ(c, st1, st0);
        }
    }
    CONF_CHECK(c, tried > 0);
    for (size_t i = 0; peer && i < 4096; i++)
        CONF_EQ(c, ((uint8_t *)other.cpu)[i], 0xc3);
    if (c->plat->oracle_violations)
        CONF_EQ(c, c->plat->oracle_violations(c), 0);
    /* Refusals leave the device usable: a valid fill still lands. */
    memset(bi.cpu, 0, 8192);
    CONF_EQ(c, conf_engine_fill(e, capdrv_dma_ref(&bi, 0), 4096, 0x69696969u), 0);
    CONF_EQ(c, ((uint8_t *)bi.cpu)[4095], 0x69);
    CONF_EQ(c, ((uint8_t *)bi.cpu)[4096], 0);
}

#define REWRITE_LBA 64u

/* NVMe: a Read is published while the controller cannot fetch it
 * (nraw_hold()), then its PRP1 is rewritten in the provider's SQ, then the
 * controller goes on. Brokered lane: the device reads the shim's shadow
 * SQ, filled at the doorbell, so the data lands in A and never in B.
 * Direct lane: the device reads the provider's SQ; the rule there is the
 * IOMMU's (a rewrite to memory outside the ledger reaches nothing): PRP1
 * becomes a released buffer's IOVA; no memory may change and the
 * platform's observer must see the refusal. */
static void nvme_rewrite(struct conf_ctx *c, struct conf_engine *e)
{
    struct nraw n;
    if (!nraw_up(&n, c, e, 4, 2))
        return;
    uint32_t nlb = 4096u / n.lba_bytes;
    capdrv_cap_t a, b, gone;
    struct capdrv_dmabuf_info ai, bi, gi;
    CONF_EQ(c, capdrv_dma_alloc(c->conf, e->pool, 4096, &a, &ai), 0);
    CONF_EQ(c, capdrv_dma_alloc(c->conf, e->pool, 4096, &b, &bi), 0);
    CONF_EQ(c, capdrv_dma_alloc(c->conf, e->pool, 4096, &gone, &gi), 0);
    CONF_EQ(c, capdrv_cap_release(c->conf, gone), 0); /* its IOVA is no longer mapped */
    uint8_t s[CAPDRV_NVME_SQE_SIZE];
    /* What the Read will return. */
    memset(ai.cpu, 0x3c, 4096);
    nraw_sqe(&n, s, 0x01, 1);
    nraw_put_le(s + 24, 8, capdrv_dma_ref(&ai, 0));
    nraw_put_le(s + 40, 4, REWRITE_LBA);
    nraw_put_le(s + 48, 4, nlb - 1u);
    CONF_EQ(c, nraw_cmd(&n, 1, s), 0);
    memset(ai.cpu, 0xee, 4096);
    memset(bi.cpu, 0xee, 4096);
    if (!nraw_hold(&n))
        return;
    uint16_t rcid = nraw_sqe(&n, s, 0x02, 1);
    nraw_put_le(s + 24, 8, capdrv_dma_ref(&ai, 0));
    nraw_put_le(s + 40, 4, REWRITE_LBA);
    nraw_put_le(s + 48, 4, nlb - 1u);
    uint8_t *slot = nraw_put(&n, 1, s);
    CONF_EQ(c, nraw_ring(&n, 1), 0);
    c->plat->advance(c, 20000000); /* a controller that could run it would have */
    if (!nraw_all_bytes(ai.cpu, 4096, 0xee)) {
        /* It ran already: the rewrite below could not matter either way. */
        conf_skip(c, "the controller executed the Read before the rewrite: nothing shown");
        return;
    }
    bool brokered = c->lane == CAPDRV_LANE_BROKERED;
    nraw_put_le(slot + 24, 8, brokered ? capdrv_dma_ref(&bi, 0) : capdrv_dma_ref(&gi, 0));
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    int rst = nraw_finish(&n, rcid);
    nraw_down(&n);
    CONF_CHECK(c, rst >= 0);
    CONF_CHECK(c, nraw_all_bytes(bi.cpu, 4096, 0xee)); /* B: never named at a doorbell */
    if (brokered) {
        if (c->plat->oracle_violations)
            CONF_EQ(c, c->plat->oracle_violations(c), 0);
        CONF_EQ(c, rst, 0);
        CONF_CHECK(c, nraw_all_bytes(ai.cpu, 4096, 0x3c)); /* what the doorbell saw */
        return;
    }
    /* The IOMMU refused the rewritten address: the data reached neither A
     * nor anything else, and an observer saw the refusal (it is the point
     * here). The command's status is the controller's business: QEMU's
     * reports success for a Read whose data write the IOMMU refused. */
    long seen = c->plat->oracle_violations ? c->plat->oracle_violations(c) : -1L;
    /* A write that reached memory is no refusal (the runner fails it). */
    long escaped = c->plat->dma_escaped ? c->plat->dma_escaped(c) : 0;
    c->refusals_expected = seen > 0 ? seen : 0;
    if (!nraw_all_bytes(ai.cpu, 4096, 0xee) || seen == 0 || escaped != 0)
        conf_fail(c, __FILE__, __LINE__,
                  "the Read to a released IOVA ended with status 0x%x; A %s; accesses seen "
                  "outside the ledger: %ld, of which reached memory: %ld",
                  rst,
                  nraw_all_bytes(ai.cpu, 4096, 0xee)   ? "untouched"
                  : nraw_all_bytes(ai.cpu, 4096, 0x3c) ? "holds the data"
                                                       : "changed",
                  seen, escaped);
}

static void rewrite_after_notify_in(struct conf_ctx *c, struct conf_engine *e)
{
    if (!c->plat->advance) {
        conf_skip(c, "platform %s cannot delay device completion", c->plat->name);
        return;
    }
    if (!conf_engine_open(c, e, CONF_ENGINE_REGS))
        return;
    if (e->kind != CONF_ENGINE_DMATEST) {
        nvme_rewrite(c, e);
        return;
    }
    capdrv_cap_t a, b;
    struct capdrv_dmabuf_info ai, bi;
    CONF_EQ(c, capdrv_dma_alloc(c->conf, e->pool, 4096, &a, &ai), 0);
    CONF_EQ(c, capdrv_dma_alloc(c->conf, e->pool, 4096, &b, &bi), 0);
    CONF_EQ(c, conf_engine_start(e, capdrv_dma_ref(&ai, 0), 4096, 0x3c3c3c3cu, 10000), 0);
    CONF_EQ(c, capdrv_mmio_write(c->conf, e->m, CAPDRV_DMATEST_ADDR, 8, capdrv_dma_ref(&bi, 0)), 0);
    CONF_EQ(c, capdrv_mmio_write(c->conf, e->m, CAPDRV_DMATEST_LEN, 4, 16), 0);
    CONF_EQ(c, conf_engine_wait(e), 0);
    CONF_EQ(c, ((uint8_t *)ai.cpu)[4095], 0x3c);
    CONF_EQ(c, ((uint8_t *)bi.cpu)[0], 0);
}

/* Brokered lane: nothing the provider can read equals an address the
 * device used (dmatest: the buffer address it was given; NVMe: the admin
 * submission queue's address in ASQ, which the provider wrote as a token). */
static void no_device_address_in(struct conf_ctx *c, struct conf_engine *e)
{
    if (!c->plat->device_reg) {
        conf_skip(c, "platform %s cannot read device registers directly", c->plat->name);
        return;
    }
    if (!conf_engine_open(c, e, 0))
        return;
    struct conf_engine_regs r;
    CONF_EQ(c, conf_engine_regs(e, &r), 0);
    capdrv_cap_t b;
    struct capdrv_dmabuf_info bi;
    CONF_EQ(c, capdrv_dma_alloc(c->conf, e->pool, 4096, &b, &bi), 0);
    CONF_EQ(c, conf_engine_fill(e, capdrv_dma_ref(&bi, 0), 64, 9), 0);
    CONF_EQ(c, conf_engine_park(e), 0);
    uint64_t devaddr, readback;
    CONF_EQ(c, c->plat->device_reg(c, e->grant, r.addr, 8, &devaddr), 0);
    CONF_EQ(c, capdrv_mmio_read(c->conf, e->m, r.addr, 8, &readback), 0);
    CONF_CHECK(c, devaddr != 0);
    CONF_CHECK(c, devaddr != bi.ref_base);
    CONF_CHECK(c, readback != devaddr);
    CONF_CHECK(c, (uintptr_t)bi.cpu != devaddr);
    /* Config space: BAR address bits are hidden. */
    for (uint32_t off = 0x10; off < 0x28; off += 4) {
        uint32_t v;
        CONF_EQ(c, capdrv_cfg_read(c->conf, e->g, off, 4, &v), 0);
        CONF_EQ(c, v & ~0xfu, 0);
    }
    /* No register the provider can read carries the address. */
    for (unsigned i = 0; i < r.n_scan; i++) {
        uint64_t v;
        if (capdrv_mmio_read(c->conf, e->m, r.scan[i].off, r.scan[i].width, &v) == 0)
            CONF_CHECK(c, v != devaddr && v != (devaddr & 0xffffffffu));
    }
}

/* Direct lane: the device is given exactly the provider's IOVA. */
static void direct_iova_in(struct conf_ctx *c, struct conf_engine *e)
{
    if (!c->plat->device_reg) {
        conf_skip(c, "platform %s cannot read device registers directly", c->plat->name);
        return;
    }
    if (!conf_engine_open(c, e, 0))
        return;
    struct conf_engine_regs r;
    CONF_EQ(c, conf_engine_regs(e, &r), 0);
    capdrv_cap_t b;
    struct capdrv_dmabuf_info bi;
    CONF_EQ(c, capdrv_dma_alloc(c->conf, e->pool, 4096, &b, &bi), 0);
    uint64_t devaddr, want;
    if (e->kind == CONF_ENGINE_DMATEST) {
        CONF_EQ(c, conf_engine_start(e, capdrv_dma_ref(&bi, 512), 64, 9, 0), 0);
        want = bi.ref_base + 512;
    } else { /* what the library wrote into ASQ: its admin queue's IOVA */
        CONF_EQ(c, conf_engine_fill(e, capdrv_dma_ref(&bi, 512), 64, 9), 0);
        CONF_EQ(c, conf_engine_park(e), 0);
        CONF_EQ(c, capdrv_mmio_read(c->conf, e->m, r.addr, 8, &want), 0);
        CONF_CHECK(c, want != 0);
    }
    CONF_EQ(c, c->plat->device_reg(c, e->grant, r.addr, 8, &devaddr), 0);
    CONF_EQ(c, devaddr, want);
}

static void completion_interrupt_in(struct conf_ctx *c, struct conf_engine *e)
{
    if (!conf_engine_open(c, e, CONF_ENGINE_IRQ))
        return;
    capdrv_cap_t b;
    struct capdrv_dmabuf_info bi;
    CONF_EQ(c, capdrv_dma_alloc(c->conf, e->pool, 4096, &b, &bi), 0);
    uint64_t ready = 0;
    CONF_EQ(c, capdrv_irq_wait(c->conf, &e->irq, 1, 0, &ready), -CAPDRV_ETIMEDOUT);
    CONF_EQ(c, conf_engine_start(e, capdrv_dma_ref(&bi, 0), 4096, 0xabababab, 20000), 0);
    CONF_EQ(c, conf_engine_kick(e), 0);
    CONF_EQ(c, capdrv_irq_wait(c->conf, &e->irq, 1, 1000000000, &ready), 1);
    CONF_EQ(c, ready, 1);
    CONF_EQ(c, ((uint8_t *)bi.cpu)[4095], 0xab);
    CONF_EQ(c, capdrv_irq_ack(c->conf, e->irq), 0);
    CONF_EQ(c, capdrv_irq_wait(c->conf, &e->irq, 1, 0, &ready), -CAPDRV_ETIMEDOUT);
}

static void completion_polling_in(struct conf_ctx *c, struct conf_engine *e)
{
    if (!conf_engine_open(c, e, 0))
        return;
    capdrv_cap_t b;
    struct capdrv_dmabuf_info bi;
    CONF_EQ(c, capdrv_dma_alloc(c->conf, e->pool, 4096, &b, &bi), 0);
    CONF_EQ(c, conf_engine_start(e, capdrv_dma_ref(&bi, 0), 4096, 0x12121212, 20000), 0);
    CONF_EQ(c, conf_engine_wait(e), 0);
    CONF_EQ(c, ((uint8_t *)bi.cpu)[0], 0x12);
    CONF_EQ(c, ((uint8_t *)bi.cpu)[4095], 0x12);
}

/* Each case body runs with an engine that is shut down afterwards,
 * however the body ended. */
#define WITH_ENGINE(name)                \
    static void name(struct conf_ctx *c) \
    {                                    \
        struct conf_engine e = {0};      \
        name##_in(c, &e);                \
        conf_engine_close(&e);           \
    }
WITH_ENGINE(fill_integrity)
WITH_ENGINE(out_of_ledger_refused)
WITH_ENGINE(rewrite_after_notify)
WITH_ENGINE(no_device_address)
WITH_ENGINE(direct_iova)
WITH_ENGINE(completion_interrupt)
WITH_ENGINE(completion_polling)

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
