/* The qtest platform against a real QEMU: lifecycle and failures (missing,
 * exiting, hanging, killed QEMU), enumeration and BAR assignment, config
 * rules, DMA memory, and FLR on a function that has it (QEMU's nvme).
 * Skips (77) when qemu-system-x86_64 is not installed. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "qt_test.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PCI_COMMAND 0x04
#define CMD_MEM 0x2u
#define CMD_MASTER 0x4u

static struct capdrv_qtest *start(const char *const *args, char *why, size_t len)
{
    struct capdrv_qtest_config cfg = {.device_args = args};
    struct capdrv_qtest *q = NULL;
    int rc = capdrv_qtest_create(&cfg, &q, why, len);
    if (rc < 0)
        print_message("create: %d %s\n", rc, why);
    assert_int_equal(rc, 0);
    return q;
}

static void bare_machine(void **state)
{
    (void)state;
    char why[256];
    struct capdrv_qtest *q = start(NULL, why, sizeof why);
    struct capdrv_hw hw = capdrv_qtest_hw(q);
    assert_int_equal(hw.ops->caps(hw.ctx), 0); /* no IOMMU */
    int n = hw.ops->function_count(hw.ctx);
    assert_true(n >= 1);
    /* q35's ICH9 SMBus controller is a type-0 function at 00:1f.3; the
     * MCH (00:00.0) and the LPC bridge (00:1f.0) are bridges: not reported. */
    unsigned fn;
    struct capdrv_pci_addr smbus = {0, 0, 0x1f, 3}, mch = {0, 0, 0, 0}, lpc = {0, 0, 0x1f, 0};
    assert_int_equal(capdrv_qtest_find(q, &smbus, &fn), 0);
    assert_int_equal(capdrv_qtest_find(q, &mch, &fn), -CAPDRV_ENOENT);
    assert_int_equal(capdrv_qtest_find(q, &lpc, &fn), -CAPDRV_ENOENT);
    struct capdrv_hw_function info;
    assert_int_equal(hw.ops->function_info(hw.ctx, (unsigned)n, &info), -CAPDRV_ENOENT);
    assert_int_equal(capdrv_qtest_status(q, why, sizeof why), 0);
    capdrv_qtest_destroy(q);
    capdrv_qtest_destroy(NULL);
}

static void bad_config(void **state)
{
    (void)state;
    char why[256];
    struct capdrv_qtest *q = (void *)1;
    struct capdrv_qtest_config cfg = {.ram_bytes = 3u << 20};
    assert_int_equal(capdrv_qtest_create(&cfg, &q, why, sizeof why), -CAPDRV_EINVAL);
    assert_null(q);
    cfg.ram_bytes = (256u << 20) + 4096;
    assert_int_equal(capdrv_qtest_create(&cfg, &q, why, sizeof why), -CAPDRV_EINVAL);
    const char *const empty[] = {"", NULL};
    cfg = (struct capdrv_qtest_config){.device_args = empty};
    assert_int_equal(capdrv_qtest_create(&cfg, &q, why, sizeof why), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_qtest_create(NULL, NULL, why, sizeof why), -CAPDRV_EINVAL);
    struct capdrv_hw hw = capdrv_qtest_hw(NULL);
    assert_null(hw.ops);
}

static void qemu_missing(void **state)
{
    (void)state;
    char why[256];
    struct capdrv_qtest *q = (void *)1;
    struct capdrv_qtest_config cfg = {.qemu = "/nonexistent/capdrv/qemu-system-x86_64"};
    assert_int_equal(capdrv_qtest_create(&cfg, &q, why, sizeof why), -CAPDRV_ENOENT);
    assert_null(q);
    assert_non_null(strstr(why, "cannot execute"));
}

static void qemu_rejects_argument(void **state)
{
    (void)state;
    char why[512];
    struct capdrv_qtest *q = (void *)1;
    const char *const args[] = {"-device", "capdrv-no-such-device", NULL};
    struct capdrv_qtest_config cfg = {.device_args = args};
    assert_int_equal(capdrv_qtest_create(&cfg, &q, why, sizeof why), -CAPDRV_EIO);
    assert_null(q);
    /* QEMU's own complaint reaches the caller. */
    assert_non_null(strstr(why, "capdrv-no-such-device"));
    assert_non_null(strstr(why, "exited with status 1"));
}

static void qemu_hangs(void **state)
{
    (void)state;
    /* A "QEMU" that never answers: create gives up after timeout_ms and
     * kills it (the test's own timeout bounds everything else). */
    char script[256], why[256];
    assert_int_equal(qt_test_script(script, sizeof script, "#!/bin/sh\nexec sleep 60\n"), 0);
    struct capdrv_qtest *q = (void *)1;
    struct capdrv_qtest_config cfg = {.qemu = script, .timeout_ms = 200};
    int rc = capdrv_qtest_create(&cfg, &q, why, sizeof why);
    unlink(script);
    assert_int_equal(rc, -CAPDRV_ETIMEDOUT);
    assert_null(q);
    assert_non_null(strstr(why, "did not answer"));
}

static void qemu_killed(void **state)
{
    (void)state;
    /* exec keeps the pid: the wrapper tells us QEMU's pid. */
    char script[256], pidfile[256], body[1024], why[512];
    snprintf(pidfile, sizeof pidfile, "%s/capdrv-qt-pid-%d", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
             (int)getpid());
    snprintf(body, sizeof body, "#!/bin/sh\necho $$ > %s\nexec %s \"$@\"\n", pidfile,
             CAPDRV_QTEST_DEFAULT_QEMU);
    assert_int_equal(qt_test_script(script, sizeof script, body), 0);
    struct capdrv_qtest_config cfg = {.qemu = script};
    struct capdrv_qtest *q = NULL;
    int rc = capdrv_qtest_create(&cfg, &q, why, sizeof why);
    unlink(script);
    assert_int_equal(rc, 0);
    FILE *f = fopen(pidfile, "r");
    assert_non_null(f);
    int pid = 0;
    assert_int_equal(fscanf(f, "%d", &pid), 1);
    fclose(f);
    unlink(pidfile);
    assert_true(pid > 1);
    assert_int_equal(kill(pid, SIGKILL), 0);
    struct capdrv_hw hw = capdrv_qtest_hw(q);
    struct capdrv_pci_addr smbus = {0, 0, 0x1f, 3};
    unsigned fn;
    assert_int_equal(capdrv_qtest_find(q, &smbus, &fn), 0);
    uint32_t v;
    /* The first access notices (EOF), later ones fail fast. */
    assert_int_equal(hw.ops->cfg_read(hw.ctx, fn, 0, 4, &v), -CAPDRV_EIO);
    assert_int_equal(hw.ops->cfg_read(hw.ctx, fn, 0, 4, &v), -CAPDRV_EIO);
    assert_int_equal(capdrv_qtest_status(q, why, sizeof why), -CAPDRV_EIO);
    assert_non_null(strstr(why, "signal 9"));
    struct capdrv_hw_irq src = {.fn = fn, .vector = 0};
    uint64_t ready;
    /* SMBus has no MSI-X: vector 0 does not exist. */
    assert_int_equal(hw.ops->irq_wait(hw.ctx, &src, 1, -1, &ready), -CAPDRV_ENOENT);
    capdrv_qtest_destroy(q);
}

static void virtio_function(void **state)
{
    (void)state;
    char disk[256], drive[320], why[256];
    assert_int_equal(qt_test_disk(disk, sizeof disk, 1 << 20), 0);
    snprintf(drive, sizeof drive, "if=none,id=d0,file=%s,format=raw", disk);
    const char *const args[] = {"-drive", drive, "-device",
                                "virtio-blk-pci,drive=d0,disable-legacy=on,addr=06.0", NULL};
    struct capdrv_qtest *q = start(args, why, sizeof why);
    unlink(disk);
    struct capdrv_hw hw = capdrv_qtest_hw(q);
    unsigned fn;
    struct capdrv_pci_addr a = {0, 0, 6, 0};
    assert_int_equal(capdrv_qtest_find(q, &a, &fn), 0);
    struct capdrv_hw_function info;
    assert_int_equal(hw.ops->function_info(hw.ctx, fn, &info), 0);
    assert_int_equal(info.id.vendor, 0x1af4);
    assert_int_equal(info.id.device, 0x1042);
    assert_int_equal(info.id.class_code, 0x010000);
    /* BAR1: MSI-X, 32-bit; BAR4: virtio structures, 64-bit prefetchable. */
    assert_true(info.bar_flags[1] & CAPDRV_HW_BAR_MEM);
    assert_true(info.bar_size[1] >= 4096);
    assert_int_equal(info.bar_flags[4],
                     CAPDRV_HW_BAR_MEM | CAPDRV_HW_BAR_64 | CAPDRV_HW_BAR_PREFETCH);
    assert_int_equal(info.bar_size[4], 0x4000);
    assert_int_equal(info.bar_size[0], 0); /* disable-legacy: no I/O BAR */
    /* The BARs were assigned from the window and decode. */
    uint32_t lo, hi, cmd;
    assert_int_equal(hw.ops->cfg_read(hw.ctx, fn, 0x10 + 4 * 4, 4, &lo), 0);
    assert_int_equal(hw.ops->cfg_read(hw.ctx, fn, 0x10 + 5 * 4, 4, &hi), 0);
    assert_true((lo & ~0xfu) >= CAPDRV_QTEST_BAR_BASE && hi == 0);
    assert_int_equal((lo & ~0xfu) % 0x4000, 0);
    assert_int_equal(hw.ops->cfg_read(hw.ctx, fn, PCI_COMMAND, 2, &cmd), 0);
    assert_true(cmd & CMD_MEM);
    assert_false(cmd & CMD_MASTER); /* the driver's decision */
    /* Common configuration: num_queues (offset 0x12) reads through BAR4. */
    uint64_t nq = 0;
    assert_int_equal(hw.ops->bar_read(hw.ctx, fn, 4, 0x12, 2, &nq), 0);
    assert_int_equal(nq, 1);
    /* Refusals before anything reaches QEMU. */
    uint64_t v;
    assert_int_equal(hw.ops->bar_read(hw.ctx, fn, 4, 0x4000, 1, &v), -CAPDRV_EFAULT);
    assert_int_equal(hw.ops->bar_read(hw.ctx, fn, 4, 0x3ffc, 8, &v), -CAPDRV_EFAULT);
    assert_int_equal(hw.ops->bar_read(hw.ctx, fn, 4, 2, 4, &v), -CAPDRV_EFAULT);
    assert_int_equal(hw.ops->bar_read(hw.ctx, fn, 0, 0, 4, &v), -CAPDRV_EFAULT);
    assert_int_equal(hw.ops->bar_write(hw.ctx, fn, 6, 0, 4, 0), -CAPDRV_EFAULT);
    assert_int_equal(hw.ops->cfg_write(hw.ctx, fn, 0x20, 4, 0), -CAPDRV_EPERM); /* BAR4 */
    assert_int_equal(hw.ops->cfg_write(hw.ctx, fn, 0x30, 4, 0), -CAPDRV_EPERM); /* ROM */
    assert_int_equal(hw.ops->cfg_read(hw.ctx, fn, 4096, 1, &lo), -CAPDRV_EINVAL);
    assert_int_equal(hw.ops->cfg_read(hw.ctx, fn, 2, 4, &lo), -CAPDRV_EINVAL);
    assert_int_equal(hw.ops->cfg_read(hw.ctx, fn, 0, 3, &lo), -CAPDRV_EINVAL);
    assert_int_equal(hw.ops->cfg_read(hw.ctx, 999, 0, 4, &lo), -CAPDRV_ENOENT);
    /* No PCIe capability on the root bus, so no FLR: the virtio fallback. */
    assert_int_equal(capdrv_qtest_reset_method(q, fn), CAPDRV_QTEST_RESET_VIRTIO);
    assert_int_equal(capdrv_qtest_status(q, why, sizeof why), 0);
    capdrv_qtest_destroy(q);
}

static void dma_memory(void **state)
{
    (void)state;
    char why[256];
    struct capdrv_qtest *q = start(NULL, why, sizeof why);
    struct capdrv_hw hw = capdrv_qtest_hw(q);
    struct capdrv_hw_dma a, b, c;
    assert_int_equal(hw.ops->dma_alloc(hw.ctx, 4096, &a), 0);
    assert_int_equal(hw.ops->dma_alloc(hw.ctx, 3 * 4096, &b), 0);
    assert_int_equal(a.phys, CAPDRV_QTEST_DMA_BASE);
    assert_int_equal(b.phys, a.phys + a.size + 4096); /* one unused page between */
    assert_int_equal(b.phys % 4096, 0);
    assert_int_equal(hw.ops->dma_alloc(hw.ctx, 100, &c), -CAPDRV_EINVAL);
    assert_int_equal(hw.ops->dma_alloc(hw.ctx, 0, &c), -CAPDRV_EINVAL);
    assert_int_equal(hw.ops->dma_alloc(hw.ctx, (size_t)512 << 20, &c), -CAPDRV_EINVAL);
    /* The CPU pointer and guest RAM are the same bytes. */
    memset(b.cpu, 0x5c, b.size);
    uint8_t byte = 0;
    assert_int_equal(capdrv_qtest_ram_read(q, b.phys + b.size - 1, &byte, 1), 0);
    assert_int_equal(byte, 0x5c);
    assert_int_equal(capdrv_qtest_ram_read(q, (uint64_t)256 << 20, &byte, 1), -CAPDRV_EFAULT);
    assert_int_equal(capdrv_qtest_ram_read(q, UINT64_MAX, &byte, 1), -CAPDRV_EFAULT);
    /* No IOMMU: the device address is the guest physical one, whatever IOVA. */
    struct capdrv_pci_addr smbus = {0, 0, 0x1f, 3};
    unsigned fn;
    uint64_t dev = 0;
    assert_int_equal(capdrv_qtest_find(q, &smbus, &fn), 0);
    assert_int_equal(hw.ops->dma_map(hw.ctx, fn, &b, 0x7000000, &dev), 0);
    assert_int_equal(dev, b.phys);
    assert_int_equal(hw.ops->dma_map(hw.ctx, fn, &b, 0, &dev), -CAPDRV_EEXIST);
    struct capdrv_hw_dma forged = b;
    forged.cookie ^= 1;
    assert_int_equal(hw.ops->dma_map(hw.ctx, fn, &forged, 0, &dev), -CAPDRV_EINVAL);
    struct capdrv_qtest_dma_stats st;
    assert_int_equal(capdrv_qtest_dma_stats(q, &st), 0);
    assert_int_equal(st.regions, 2);
    assert_int_equal(st.bytes, 4 * 4096);
    assert_int_equal(st.mappings, 1);
    /* Freeing a and reusing the hole: first fit. */
    hw.ops->dma_free(hw.ctx, &a);
    hw.ops->dma_free(hw.ctx, &a); /* stale: ignored */
    assert_int_equal(hw.ops->dma_alloc(hw.ctx, 4096, &c), 0);
    assert_int_equal(c.phys, CAPDRV_QTEST_DMA_BASE);
    assert_int_equal(hw.ops->dma_unmap(hw.ctx, fn, &b, dev), 0);
    assert_int_equal(hw.ops->dma_unmap(hw.ctx, fn, &b, dev), -CAPDRV_ENOENT);
    assert_int_equal(hw.ops->dma_map(hw.ctx, fn, &b, 0, &dev), 0);
    hw.ops->dma_free(hw.ctx, &b); /* unmaps first (hw.h) */
    hw.ops->dma_free(hw.ctx, &c);
    assert_int_equal(capdrv_qtest_dma_stats(q, &st), 0);
    assert_int_equal(st.regions + st.bytes + st.mappings, 0);
    capdrv_qtest_destroy(q);
}

/* The platform's substitute for a DMA oracle: guard pages and freed
 * regions hold a canary; a write there (as a device would make, here
 * through the shared RAM) is counted once, at a check or when the
 * allocator hands the range out again. */
static void dma_canaries(void **state)
{
    (void)state;
    char why[256];
    struct capdrv_qtest *q = start(NULL, why, sizeof why);
    struct capdrv_hw hw = capdrv_qtest_hw(q);
    struct capdrv_qtest_canary k;
    assert_int_equal(capdrv_qtest_canary_check(NULL, &k), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_qtest_canary_check(q, NULL), -CAPDRV_EINVAL);
    struct capdrv_hw_dma a, b, c, d;
    assert_int_equal(hw.ops->dma_alloc(hw.ctx, 4096, &a), 0);
    assert_int_equal(hw.ops->dma_alloc(hw.ctx, 4096, &b), 0);
    memset(a.cpu, 0x11, a.size); /* the owner writes its own memory: fine */
    assert_int_equal(capdrv_qtest_canary_check(q, &k), 0);
    assert_int_equal(k.changed, 0);
    assert_int_equal(k.ranges, 2); /* the guard pages */
    assert_int_equal(k.bytes, 2 * 4096);
    /* One byte past a. */
    uint8_t x = 0x77;
    assert_int_equal(capdrv_qtest_ram_write(q, a.phys + a.size, &x, 1), 0);
    assert_int_equal(capdrv_qtest_canary_check(q, &k), 0);
    assert_int_equal(k.changed, 1);
    assert_int_equal(k.last_gpa, a.phys + a.size);
    assert_int_equal(capdrv_qtest_canary_check(q, &k), 0);
    assert_int_equal(k.changed, 1); /* counted once */
    /* Into a after it was freed. */
    hw.ops->dma_free(hw.ctx, &a);
    assert_int_equal(capdrv_qtest_canary_check(q, &k), 0);
    assert_int_equal(k.changed, 1);
    assert_int_equal(k.ranges, 3);
    assert_int_equal(capdrv_qtest_ram_write(q, a.phys + 100, &x, 1), 0);
    assert_int_equal(capdrv_qtest_canary_check(q, &k), 0);
    assert_int_equal(k.changed, 2);
    assert_int_equal(k.last_gpa, a.phys + 100);
    /* Written again, then handed out again (first fit): seen at the
     * allocation, before the fresh owner's fill hides it. */
    assert_int_equal(capdrv_qtest_ram_write(q, a.phys + 4000, &x, 1), 0);
    assert_int_equal(hw.ops->dma_alloc(hw.ctx, 4096, &c), 0);
    assert_int_equal(c.phys, a.phys);
    assert_int_equal(capdrv_qtest_canary_check(q, &k), 0);
    assert_int_equal(k.changed, 3);
    assert_int_equal(k.last_gpa, a.phys + 4000);
    assert_int_equal(k.ranges, 2);
    /* A clean cycle changes nothing. */
    assert_int_equal(hw.ops->dma_alloc(hw.ctx, 3 * 4096, &d), 0);
    memset(d.cpu, 0x22, d.size);
    hw.ops->dma_free(hw.ctx, &d);
    hw.ops->dma_free(hw.ctx, &b);
    hw.ops->dma_free(hw.ctx, &c);
    assert_int_equal(capdrv_qtest_canary_check(q, &k), 0);
    assert_int_equal(k.changed, 3);
    capdrv_qtest_destroy(q);
}

/* QEMU's nvme is a PCIe endpoint advertising FLR (Device Capabilities bit
 * 28): function_reset() uses it and puts the BARs back. */
static void flr(void **state)
{
    (void)state;
    char disk[256], drive[320], why[256];
    assert_int_equal(qt_test_disk(disk, sizeof disk, 1 << 20), 0);
    snprintf(drive, sizeof drive, "if=none,id=n0,file=%s,format=raw", disk);
    const char *const args[] = {"-drive", drive, "-device", "nvme,serial=capdrv,drive=n0,addr=04.0",
                                NULL};
    struct capdrv_qtest *q = start(args, why, sizeof why);
    unlink(disk);
    struct capdrv_hw hw = capdrv_qtest_hw(q);
    unsigned fn;
    struct capdrv_pci_addr a = {0, 0, 4, 0};
    assert_int_equal(capdrv_qtest_find(q, &a, &fn), 0);
    assert_int_equal(capdrv_qtest_reset_method(q, fn), CAPDRV_QTEST_RESET_FLR);
    uint64_t vs = 0, cap0 = 0, cap1 = 0;
    assert_int_equal(hw.ops->bar_read(hw.ctx, fn, 0, 0x0, 8, &cap0), 0); /* NVMe CAP */
    assert_int_equal(hw.ops->bar_read(hw.ctx, fn, 0, 0x8, 4, &vs), 0);   /* NVMe VS */
    assert_true(vs >= 0x10000);
    uint32_t cmd, lo_before, lo_after;
    assert_int_equal(hw.ops->cfg_read(hw.ctx, fn, PCI_COMMAND, 2, &cmd), 0);
    assert_int_equal(hw.ops->cfg_write(hw.ctx, fn, PCI_COMMAND, 2, cmd | CMD_MASTER), 0);
    assert_int_equal(hw.ops->irq_enable(hw.ctx, fn, 0), 0);
    assert_int_equal(hw.ops->cfg_read(hw.ctx, fn, 0x10, 4, &lo_before), 0);
    assert_int_equal(hw.ops->function_reset(hw.ctx, fn), 0);
    assert_int_equal(capdrv_qtest_reset_count(q, fn), 1);
    assert_int_equal(hw.ops->cfg_read(hw.ctx, fn, 0x10, 4, &lo_after), 0);
    assert_int_equal(lo_after, lo_before); /* BAR0 programmed again */
    assert_int_equal(hw.ops->cfg_read(hw.ctx, fn, PCI_COMMAND, 2, &cmd), 0);
    assert_true(cmd & CMD_MEM);
    assert_false(cmd & CMD_MASTER); /* power-on: no bus mastering */
    assert_int_equal(hw.ops->bar_read(hw.ctx, fn, 0, 0x0, 8, &cap1), 0);
    assert_true(cap1 == cap0); /* registers decode again */
    /* MSI-X Enable is off after the FLR. */
    uint32_t id, next, ptr = 0;
    assert_int_equal(hw.ops->cfg_read(hw.ctx, fn, 0x34, 1, &ptr), 0);
    bool found = false;
    for (int i = 0; i < 48 && ptr; i++) {
        assert_int_equal(hw.ops->cfg_read(hw.ctx, fn, ptr, 1, &id), 0);
        assert_int_equal(hw.ops->cfg_read(hw.ctx, fn, ptr + 1, 1, &next), 0);
        if (id == 0x11) {
            uint32_t ctrl;
            assert_int_equal(hw.ops->cfg_read(hw.ctx, fn, ptr + 2, 2, &ctrl), 0);
            assert_false(ctrl & 0x8000u);
            found = true;
        }
        ptr = next & 0xfc;
    }
    assert_true(found);
    capdrv_qtest_destroy(q);
}

int main(void)
{
    if (!qt_test_have_qemu()) {
        printf("SKIP: %s not found in PATH\n", CAPDRV_QTEST_DEFAULT_QEMU);
        return QT_SKIP;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bare_machine),        cmocka_unit_test(bad_config),
        cmocka_unit_test(qemu_missing),        cmocka_unit_test(qemu_rejects_argument),
        cmocka_unit_test(qemu_hangs),          cmocka_unit_test(qemu_killed),
        cmocka_unit_test(virtio_function),     cmocka_unit_test(dma_memory),
        cmocka_unit_test(dma_canaries),        cmocka_unit_test(flr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
