/* The vfio platform on the host side: libpci filter checks and the errors
 * of capdrv_vfio_create() that come before any VFIO ioctl - nothing
 * selected, sysfs unreadable, the function unbound or bound to another
 * driver (with the exact commands to bind it), no IOMMU group, no VFIO
 * node. The sysfs tree is a fake one in a temporary directory, with the
 * attribute files libpci's sysfs backend reads (vendor, device, class). */
#define _GNU_SOURCE
#include <capdrv/vfio.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define BDF "0000:00:03.0"

struct fake {
    char root[PATH_MAX];
    char dev[PATH_MAX + 64];
};

static void put(const char *dir, const char *name, const char *text)
{
    char path[PATH_MAX + 128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void mkdirs(const char *path)
{
    char buf[PATH_MAX + 128];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(buf, 0755);
            *p = '/';
        }
    assert_true(mkdir(buf, 0755) == 0 || errno == EEXIST);
}

/* A sysfs tree with one NVMe-like function at BDF (1b36:0010, class 010802). */
static int fake_setup(void **state)
{
    struct fake *fk = calloc(1, sizeof *fk);
    assert_non_null(fk);
    const char *tmp = getenv("TMPDIR");
    snprintf(fk->root, sizeof fk->root, "%s/capdrv-vfio-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(fk->root));
    snprintf(fk->dev, sizeof fk->dev, "%s/bus/pci/devices/" BDF, fk->root);
    mkdirs(fk->dev);
    put(fk->dev, "vendor", "0x1b36\n");
    put(fk->dev, "device", "0x0010\n");
    put(fk->dev, "class", "0x010802\n");
    *state = fk;
    return 0;
}

static int fake_teardown(void **state)
{
    struct fake *fk = *state;
    char cmd[PATH_MAX + 32];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fk->root);
    assert_int_equal(system(cmd), 0);
    free(fk);
    return 0;
}

static void link_to(const struct fake *fk, const char *name, const char *target)
{
    char path[PATH_MAX + 128];
    snprintf(path, sizeof path, "%s/%s", fk->dev, name);
    unlink(path);
    assert_int_equal(symlink(target, path), 0);
}

static int create(const struct fake *fk, const struct capdrv_vfio_select *sel,
                  const char *vfio_dir, char *why, size_t len)
{
    struct capdrv_vfio_config cfg = {.select = sel, .n_select = 1, .sysfs_root = fk->root,
                                     .vfio_dir = vfio_dir};
    struct capdrv_vfio *v = (struct capdrv_vfio *)(uintptr_t)1;
    int rc = capdrv_vfio_create(&cfg, &v, why, len);
    if (rc < 0)
        assert_null(v); /* no half-made instance leaks out */
    else
        capdrv_vfio_destroy(v);
    return rc;
}

static void test_check_select(void **state)
{
    (void)state;
    char why[256];
    const struct capdrv_vfio_select good[] = {
        {.slot = BDF}, {.slot = "03.0"}, {.slot = "00:03"}, {.id = "1b36:0010"},
        {.id = "::0108"}, {.id = "8086:"}, {.slot = "03.0", .id = "1b36:0010"}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_int_equal(capdrv_vfio_check_select(&good[i], why, sizeof why), 0);
    const struct capdrv_vfio_select bad[] = {
        {.slot = "zz:03.0"}, {.slot = "00:40.0"}, {.slot = "03.9"}, {.id = "1b36:xyz"},
        {.id = "12345:0010"}, {0}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = '\0';
        assert_int_equal(capdrv_vfio_check_select(&bad[i], why, sizeof why), -CAPDRV_EINVAL);
        assert_true(strlen(why) > 0);
    }
    assert_int_equal(capdrv_vfio_check_select(NULL, NULL, 0), -CAPDRV_EINVAL);
}

static void test_bad_config(void **state)
{
    (void)state;
    struct capdrv_vfio *v = NULL;
    struct capdrv_vfio_config none = {0};
    assert_int_equal(capdrv_vfio_create(NULL, &v, NULL, 0), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_vfio_create(&none, &v, NULL, 0), -CAPDRV_EINVAL);
    const struct capdrv_vfio_select sel = {.slot = "not a slot"};
    struct capdrv_vfio_config cfg = {.select = &sel, .n_select = 1};
    char why[256];
    assert_int_equal(capdrv_vfio_create(&cfg, &v, why, sizeof why), -CAPDRV_EINVAL);
    assert_non_null(strstr(why, "not a slot"));
    /* NULL instance: the documented no-ops and errors. */
    capdrv_vfio_destroy(NULL);
    struct capdrv_hw hw = capdrv_vfio_hw(NULL);
    assert_null(hw.ops);
    assert_int_equal(capdrv_vfio_reset_count(NULL, 0), 0);
    char buf[8];
    assert_int_equal(capdrv_vfio_describe(NULL, 0, buf, sizeof buf), -CAPDRV_EINVAL);
}

static void test_no_sysfs(void **state)
{
    (void)state;
    struct fake fk = {.root = "/nonexistent/capdrv-sysfs"};
    const struct capdrv_vfio_select sel = {.slot = BDF};
    char why[512];
    assert_int_equal(create(&fk, &sel, NULL, why, sizeof why), -CAPDRV_ENODEV);
    assert_non_null(strstr(why, "/nonexistent/capdrv-sysfs/bus/pci/devices"));
}

static void test_no_match(void **state)
{
    struct fake *fk = *state;
    char why[512];
    const struct capdrv_vfio_select slot = {.slot = "00:1f.0"};
    assert_int_equal(create(fk, &slot, NULL, why, sizeof why), -CAPDRV_ENODEV);
    assert_non_null(strstr(why, "matches slot 00:1f.0"));
    const struct capdrv_vfio_select cls = {.id = "::0200"}; /* no network controller */
    assert_int_equal(create(fk, &cls, NULL, why, sizeof why), -CAPDRV_ENODEV);
    const struct capdrv_vfio_select wrong_id = {.slot = BDF, .id = "1af4:"};
    assert_int_equal(create(fk, &wrong_id, NULL, why, sizeof why), -CAPDRV_ENODEV);
}

static void test_unbound(void **state)
{
    struct fake *fk = *state;
    char why[1024], want[PATH_MAX + 256];
    /* Found by class (every NVMe controller), then refused: no driver. */
    const struct capdrv_vfio_select sel = {.id = "::0108"};
    assert_int_equal(create(fk, &sel, NULL, why, sizeof why), -CAPDRV_EBUSY);
    snprintf(want, sizeof want, "echo vfio-pci > %s/bus/pci/devices/" BDF "/driver_override",
             fk->root);
    assert_non_null(strstr(why, want));
    snprintf(want, sizeof want, "echo " BDF " > %s/bus/pci/drivers_probe", fk->root);
    assert_non_null(strstr(why, want));
    assert_null(strstr(why, "unbind")); /* nothing to unbind */
    assert_non_null(strstr(why, "not bound to any driver"));
}

static void test_other_driver(void **state)
{
    struct fake *fk = *state;
    link_to(fk, "driver", "../../../../bus/pci/drivers/nvme");
    char why[1024], want[PATH_MAX + 256];
    const struct capdrv_vfio_select sel = {.slot = BDF};
    assert_int_equal(create(fk, &sel, NULL, why, sizeof why), -CAPDRV_EBUSY);
    assert_non_null(strstr(why, "bound to nvme"));
    snprintf(want, sizeof want, "echo " BDF " > %s/bus/pci/devices/" BDF "/driver/unbind",
             fk->root);
    assert_non_null(strstr(why, want));
    /* The unbind comes after driver_override and before drivers_probe. */
    char *ov = strstr(why, "driver_override"), *ub = strstr(why, "unbind"),
         *pr = strstr(why, "drivers_probe");
    assert_true(ov && ub && pr && ov < ub && ub < pr);
}

static void test_no_iommu_group(void **state)
{
    struct fake *fk = *state;
    link_to(fk, "driver", "../../../../bus/pci/drivers/vfio-pci");
    char why[1024];
    const struct capdrv_vfio_select sel = {.slot = BDF};
    assert_int_equal(create(fk, &sel, NULL, why, sizeof why), -CAPDRV_ENOTSUP);
    assert_non_null(strstr(why, "no IOMMU group"));
}

static void test_no_vfio_node(void **state)
{
    struct fake *fk = *state;
    link_to(fk, "driver", "../../../../bus/pci/drivers/vfio-pci");
    link_to(fk, "iommu_group", "../../../../kernel/iommu_groups/7");
    char why[1024], dir[PATH_MAX + 32], want[PATH_MAX + 64];
    snprintf(dir, sizeof dir, "%s/dev-vfio", fk->root); /* does not exist */
    const struct capdrv_vfio_select sel = {.slot = BDF};
    assert_int_equal(create(fk, &sel, dir, why, sizeof why), -CAPDRV_ENOTSUP);
    snprintf(want, sizeof want, "no %s/7", dir);
    assert_non_null(strstr(why, want));
    assert_non_null(strstr(why, "modprobe vfio-pci"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_select),
        cmocka_unit_test(test_bad_config),
        cmocka_unit_test(test_no_sysfs),
        cmocka_unit_test_setup_teardown(test_no_match, fake_setup, fake_teardown),
        cmocka_unit_test_setup_teardown(test_unbound, fake_setup, fake_teardown),
        cmocka_unit_test_setup_teardown(test_other_driver, fake_setup, fake_teardown),
        cmocka_unit_test_setup_teardown(test_no_iommu_group, fake_setup, fake_teardown),
        cmocka_unit_test_setup_teardown(test_no_vfio_node, fake_setup, fake_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
