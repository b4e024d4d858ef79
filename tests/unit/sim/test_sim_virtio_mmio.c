/* The sim's virtio-mmio transport (kernel-shim/platforms/sim/
 * dev_virtio_mmio.c, VIRTIO 1.2 §4.2) driven directly through the platform
 * operations, without the shim: what the host sees of an MMIO function,
 * the register block's rules, the interrupt line, reset, and the DMA
 * oracle watching a device that is pointed at memory nobody mapped. */
#include "sim_test.h"

#include <capdrv/virtio_mmio.h>

#include <string.h>

#define BASE 0x0a003e00ull
#define F_VERSION_1_HI 1u /* bit 32: word 1, bit 0 */

struct mt {
    struct st s;
    unsigned fn;
};

static void setup(struct mt *t)
{
    st_init(&t->s, false);
    assert_int_equal(capdrv_sim_add_virtio_mmio_blk(t->s.sim, BASE, NULL, &t->fn), 0);
}

static uint64_t rd(struct mt *t, uint64_t off, unsigned w)
{
    uint64_t v = 0xdead;
    assert_int_equal(t->s.hw.ops->bar_read(t->s.hw.ctx, t->fn, 0, off, w, &v), 0);
    return v;
}

static void wr(struct mt *t, uint64_t off, uint64_t v)
{
    assert_int_equal(t->s.hw.ops->bar_write(t->s.hw.ctx, t->fn, 0, off, 4, v), 0);
}

static void features_ok(struct mt *t)
{
    wr(t, CAPDRV_VIRTIO_MMIO_STATUS, 0);
    wr(t, CAPDRV_VIRTIO_MMIO_STATUS, 1 | 2);
    wr(t, CAPDRV_VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    wr(t, CAPDRV_VIRTIO_MMIO_DRIVER_FEATURES, F_VERSION_1_HI);
    wr(t, CAPDRV_VIRTIO_MMIO_STATUS, 1 | 2 | 8);
    assert_int_equal(rd(t, CAPDRV_VIRTIO_MMIO_STATUS, 4), 1 | 2 | 8);
}

/* An MMIO function: region = BAR 0 (512 bytes), no BAR 2, no config
 * space, one line; PCI functions beside it are unaffected. */
static void t_shape(void **state)
{
    (void)state;
    struct mt t;
    setup(&t);
    const struct capdrv_hw_ops *o = t.s.hw.ops;
    struct capdrv_hw_function info;
    assert_int_equal(o->function_info(t.s.hw.ctx, t.fn, &info), 0);
    assert_int_equal(info.kind, CAPDRV_HW_FN_MMIO);
    assert_true(info.mmio_base == BASE);
    assert_int_equal(info.mmio_size, CAPDRV_SIM_VIRTIO_MMIO_SIZE);
    assert_int_equal(info.bar_size[0], CAPDRV_SIM_VIRTIO_MMIO_SIZE);
    assert_int_equal(info.bar_size[2], 0);
    assert_int_equal(info.id.vendor, 0);
    assert_int_equal(info.n_irq_lines, 1);
    assert_int_equal(o->function_info(t.s.hw.ctx, t.s.dma0, &info), 0);
    assert_int_equal(info.kind, CAPDRV_HW_FN_PCI);
    uint32_t c = 0;
    assert_int_equal(o->cfg_read(t.s.hw.ctx, t.fn, 0, 4, &c), -CAPDRV_ENOTSUP);
    assert_int_equal(o->cfg_write(t.s.hw.ctx, t.fn, 4, 2, 6), -CAPDRV_ENOTSUP);
    uint64_t v;
    assert_int_equal(o->bar_read(t.s.hw.ctx, t.fn, 0, 0x200, 4, &v), -CAPDRV_EFAULT);
    assert_int_equal(o->bar_read(t.s.hw.ctx, t.fn, 2, 0, 4, &v), -CAPDRV_EFAULT);
    assert_int_equal(o->irq_enable(t.s.hw.ctx, t.fn, 1), -CAPDRV_ENOENT);
    st_done(&t.s, 0);
}

/* §4.2.2: identification, 32-bit control registers, config from 0x100. */
static void t_registers(void **state)
{
    (void)state;
    struct mt t;
    setup(&t);
    assert_int_equal(rd(&t, CAPDRV_VIRTIO_MMIO_MAGIC_VALUE, 4), CAPDRV_VIRTIO_MMIO_MAGIC);
    assert_int_equal(rd(&t, CAPDRV_VIRTIO_MMIO_VERSION_REG, 4), 2);
    assert_int_equal(rd(&t, CAPDRV_VIRTIO_MMIO_DEVICE_ID, 4), 2);
    assert_int_equal(rd(&t, CAPDRV_VIRTIO_MMIO_MAGIC_VALUE, 1), 0); /* §4.2.2.2: 32-bit only */
    wr(&t, CAPDRV_VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    assert_int_equal(rd(&t, CAPDRV_VIRTIO_MMIO_DEVICE_FEATURES, 4) & 1, 1); /* VERSION_1 */
    wr(&t, CAPDRV_VIRTIO_MMIO_QUEUE_SEL, 0);
    assert_true(rd(&t, CAPDRV_VIRTIO_MMIO_QUEUE_NUM_MAX, 4) >= 64);
    wr(&t, CAPDRV_VIRTIO_MMIO_QUEUE_SEL, 1); /* one request queue by default */
    assert_int_equal(rd(&t, CAPDRV_VIRTIO_MMIO_QUEUE_NUM_MAX, 4), 0);
    /* capacity 2048 sectors, readable byte by byte and as a word */
    assert_int_equal(rd(&t, CAPDRV_VIRTIO_MMIO_CONFIG, 4), 2048);
    assert_int_equal(rd(&t, CAPDRV_VIRTIO_MMIO_CONFIG + 1, 1), 2048 >> 8);
    /* FEATURES_OK is refused without VERSION_1 (§6.1), kept with it */
    wr(&t, CAPDRV_VIRTIO_MMIO_STATUS, 1 | 2 | 8);
    assert_int_equal(rd(&t, CAPDRV_VIRTIO_MMIO_STATUS, 4) & 8, 0);
    features_ok(&t);
    /* frozen after FEATURES_OK (§3.1.1) */
    wr(&t, CAPDRV_VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    wr(&t, CAPDRV_VIRTIO_MMIO_DRIVER_FEATURES, 0);
    assert_int_equal(rd(&t, CAPDRV_VIRTIO_MMIO_STATUS, 4) & 8, 8);
    /* Status 0 resets (§4.2.2.1) */
    wr(&t, CAPDRV_VIRTIO_MMIO_STATUS, 0);
    assert_int_equal(rd(&t, CAPDRV_VIRTIO_MMIO_STATUS, 4), 0);
    st_done(&t.s, 0);
}

static void put_le(uint8_t *p, unsigned n, uint64_t x)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(x >> (8 * i));
}

/* A request completes; the line fires; InterruptStatus is not cleared by
 * reading, only by InterruptACK (§4.2.3.4); a ring in memory the function
 * may not reach is caught by the oracle and the device needs a reset,
 * announced with a configuration change on the same line (§2.1.2). */
static void t_request_irq_oracle(void **state)
{
    (void)state;
    struct mt t;
    setup(&t);
    const struct capdrv_hw_ops *o = t.s.hw.ops;
    void *ctx = t.s.hw.ctx;
    struct capdrv_hw_dma m;
    uint64_t base;
    assert_int_equal(o->dma_alloc(ctx, 8192, &m), 0);
    assert_int_equal(o->dma_map(ctx, t.fn, &m, 0, &base), 0);
    memset(m.cpu, 0, 8192);
    features_ok(&t);
    wr(&t, CAPDRV_VIRTIO_MMIO_QUEUE_SEL, 0);
    wr(&t, CAPDRV_VIRTIO_MMIO_QUEUE_NUM, 4);
    wr(&t, CAPDRV_VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)base);
    wr(&t, CAPDRV_VIRTIO_MMIO_QUEUE_DESC_HIGH, base >> 32);
    wr(&t, CAPDRV_VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)(base + 64));
    wr(&t, CAPDRV_VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (base + 64) >> 32);
    wr(&t, CAPDRV_VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)(base + 128));
    wr(&t, CAPDRV_VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (base + 128) >> 32);
    wr(&t, CAPDRV_VIRTIO_MMIO_QUEUE_READY, 1);
    assert_int_equal(rd(&t, CAPDRV_VIRTIO_MMIO_QUEUE_READY, 4), 1);
    /* a ready queue's addresses are fixed: this write is ignored */
    wr(&t, CAPDRV_VIRTIO_MMIO_QUEUE_DESC_LOW, 0x1000);
    wr(&t, CAPDRV_VIRTIO_MMIO_STATUS, 1 | 2 | 4 | 8);
    assert_int_equal(o->irq_enable(ctx, t.fn, 0), 0);
    uint8_t *p = m.cpu;
    uint64_t r = base + 4096;
    put_le(p + 4096, 4, 1); /* OUT */
    put_le(p + 4096 + 8, 8, 3);
    memset(p + 4096 + 16, 0x5c, 512);
    p[4096 + 16 + 512] = 0xee;
    put_le(p + 0, 8, r);
    put_le(p + 8, 4, 16);
    put_le(p + 12, 2, 1);
    put_le(p + 14, 2, 1);
    put_le(p + 16, 8, r + 16);
    put_le(p + 24, 4, 512);
    put_le(p + 28, 2, 1);
    put_le(p + 30, 2, 2);
    put_le(p + 32, 8, r + 16 + 512);
    put_le(p + 40, 4, 1);
    put_le(p + 44, 2, 2);
    put_le(p + 64 + 4, 2, 0);
    put_le(p + 64 + 2, 2, 1);
    wr(&t, CAPDRV_VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    assert_int_equal(p[4096 + 16 + 512], 0);
    assert_int_equal(p[128 + 2], 1);
    uint8_t disk[512];
    assert_int_equal(capdrv_sim_virtio_blk_data(t.s.sim, t.fn, 3 * 512, disk, 512, false), 0);
    assert_int_equal(disk[0], 0x5c);
    struct capdrv_hw_irq src = {.fn = t.fn, .vector = 0};
    uint64_t ready = 0;
    assert_int_equal(o->irq_wait(ctx, &src, 1, 0, &ready), 1);
    assert_int_equal(rd(&t, CAPDRV_VIRTIO_MMIO_INTERRUPT_STATUS, 4), 1);
    assert_int_equal(rd(&t, CAPDRV_VIRTIO_MMIO_INTERRUPT_STATUS, 4), 1); /* not clear-on-read */
    wr(&t, CAPDRV_VIRTIO_MMIO_INTERRUPT_ACK, 1);
    assert_int_equal(rd(&t, CAPDRV_VIRTIO_MMIO_INTERRUPT_STATUS, 4), 0);
    /* the next request's data points at memory nobody mapped for it: the
     * oracle refuses the access, the request fails with IOERR (§5.2.6) */
    put_le(p + 16, 8, 0x7000000000ull);
    p[4096 + 16 + 512] = 0xee;
    put_le(p + 64 + 4 + 2, 2, 0);
    put_le(p + 64 + 2, 2, 2);
    wr(&t, CAPDRV_VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    assert_int_equal(p[128 + 2], 2);
    assert_int_equal(p[4096 + 16 + 512], 1); /* VIRTIO_BLK_S_IOERR */
    assert_int_equal(capdrv_sim_oracle_violations(t.s.sim), 1);
    wr(&t, CAPDRV_VIRTIO_MMIO_INTERRUPT_ACK, 1);
    /* a device that needs a reset says so on the line: configuration change */
    assert_int_equal(capdrv_sim_virtio_set_fault(t.s.sim, t.fn, CAPDRV_SIM_VIRTIO_FAULT_NEEDS_RESET), 0);
    put_le(p + 16, 8, r + 16);
    put_le(p + 64 + 4 + 4, 2, 0);
    put_le(p + 64 + 2, 2, 3);
    wr(&t, CAPDRV_VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    assert_int_equal(rd(&t, CAPDRV_VIRTIO_MMIO_STATUS, 4) & 64, 64); /* DEVICE_NEEDS_RESET */
    assert_int_equal(rd(&t, CAPDRV_VIRTIO_MMIO_INTERRUPT_STATUS, 4) & 2, 2); /* config change */
    assert_int_equal(o->irq_wait(ctx, &src, 1, 0, &ready), 1);
    /* a function reset: back to power-on state, the line disabled */
    assert_int_equal(o->function_reset(ctx, t.fn), 0);
    assert_int_equal(rd(&t, CAPDRV_VIRTIO_MMIO_STATUS, 4), 0);
    assert_int_equal(rd(&t, CAPDRV_VIRTIO_MMIO_INTERRUPT_STATUS, 4), 0);
    assert_int_equal(o->dma_unmap(ctx, t.fn, &m, base), 0);
    o->dma_free(ctx, &m);
    st_done(&t.s, 1);
}

/* Placement rules of capdrv_sim_add_virtio_mmio_blk(). */
static void t_add_rules(void **state)
{
    (void)state;
    struct mt t;
    setup(&t);
    assert_int_equal(capdrv_sim_add_virtio_mmio_blk(t.s.sim, BASE + 4, NULL, NULL), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_sim_add_virtio_mmio_blk(t.s.sim, BASE, NULL, NULL), -CAPDRV_EEXIST);
    struct capdrv_sim_virtio_blk_config bad = {.queue_size_max = 3};
    assert_int_equal(capdrv_sim_add_virtio_mmio_blk(t.s.sim, BASE + 0x200, &bad, NULL),
                     -CAPDRV_EINVAL);
    unsigned fn2;
    assert_int_equal(capdrv_sim_add_virtio_mmio_blk(t.s.sim, BASE + 0x200, NULL, &fn2), 0);
    assert_int_not_equal(fn2, t.fn);
    assert_int_equal(capdrv_sim_add_virtio_mmio_blk(NULL, BASE, NULL, NULL), -CAPDRV_EINVAL);
    st_done(&t.s, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_shape),
        cmocka_unit_test(t_registers),
        cmocka_unit_test(t_request_irq_oracle),
        cmocka_unit_test(t_add_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
