/* Profile of the simulator's dmatest device (include/capdrv/dev/dmatest.h).
 * ADDR and LEN are shadowed: the device sees them only when CMD (the
 * doorbell) is written, after [ADDR, ADDR+LEN) has been resolved against the
 * ledger - a token in the brokered lane, an IOVA in the direct lane. */
#include "../shim_internal.h"

#include <capdrv/dev/dmatest.h>

enum { SH_ADDR = 0, SH_LEN = 1 };

static const struct shim_reg dmatest_regs[] = {
    {CAPDRV_DMATEST_ID, 4, SHIM_REG_R, SHIM_REG_PLAIN, 0},
    {CAPDRV_DMATEST_STATUS, 4, SHIM_REG_R, SHIM_REG_PLAIN, 0},
    {CAPDRV_DMATEST_ADDR, 8, SHIM_REG_RW, SHIM_REG_SHADOW, SH_ADDR},
    {CAPDRV_DMATEST_LEN, 4, SHIM_REG_RW, SHIM_REG_SHADOW, SH_LEN},
    {CAPDRV_DMATEST_PATTERN, 4, SHIM_REG_RW, SHIM_REG_PLAIN, 0},
    {CAPDRV_DMATEST_CMD, 4, SHIM_REG_W, SHIM_REG_DOORBELL, 0},
    {CAPDRV_DMATEST_RESULT, 4, SHIM_REG_R, SHIM_REG_PLAIN, 0},
    {CAPDRV_DMATEST_DELAY_NS, 4, SHIM_REG_RW, SHIM_REG_PLAIN, 0},
};

static bool dmatest_match(const struct capdrv_pci_id *id)
{
    return id->vendor == CAPDRV_DMATEST_VENDOR && id->device == CAPDRV_DMATEST_DEVICE;
}

static int dmatest_doorbell(struct shim_profile_ctx *ctx, const struct shim_reg *reg, uint64_t val)
{
    uint64_t *sh = shim_profile_shadows(ctx);
    uint64_t len = sh[SH_LEN], devaddr;
    if (val != CAPDRV_DMATEST_CMD_FILL && val != CAPDRV_DMATEST_CMD_SUM)
        return -CAPDRV_EINVAL; /* unknown commands never reach the device */
    if (len == 0 || len > CAPDRV_DMATEST_MAX_LEN)
        return -CAPDRV_EINVAL;
    int rc = shim_profile_dma_publish(ctx, sh[SH_ADDR], len, &devaddr);
    if (rc < 0)
        return rc;
    if (shim_profile_bar_write(ctx, CAPDRV_DMATEST_ADDR, 8, devaddr) < 0 ||
        shim_profile_bar_write(ctx, CAPDRV_DMATEST_LEN, 4, len) < 0 ||
        shim_profile_bar_write(ctx, reg->offset, 4, val) < 0)
        return -CAPDRV_EIO;
    return 0;
}

static bool dmatest_idle(struct shim_profile_ctx *ctx)
{
    uint64_t status = 0;
    if (shim_profile_bar_read(ctx, CAPDRV_DMATEST_STATUS, 4, &status) < 0)
        return false; /* cannot tell: assume busy (a reset follows) */
    /* An all-ones read means the device is gone or hostile: not idle. */
    return status != 0xffffffffu && !(status & CAPDRV_DMATEST_STATUS_BUSY);
}

const struct shim_profile shim_profile_dmatest = {
    .name = "dmatest",
    .match = dmatest_match,
    .dma = true,
    .nvme = false,
    .regmap_bar = CAPDRV_DMATEST_REG_BAR,
    .regs = dmatest_regs,
    .n_regs = sizeof dmatest_regs / sizeof dmatest_regs[0],
    .n_shadows = 2,
    .doorbell = dmatest_doorbell,
    .idle = dmatest_idle,
};
