/* The qtest platform's QMP client (capdrv_qtest_qmp(), capdrv_qtest_hmp())
 * against a real QEMU: negotiation, replies and errors, events skipped,
 * HMP escaping, a QEMU that quits, a QEMU whose main loop hangs (bounded),
 * and the I/O hold the conformance platform builds on (an I/O throttle with
 * a filled bucket holds a request until the throttle is removed).
 * Skips (77) when qemu-system-x86_64 is not installed. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "qt_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define REPLY 65536

static struct capdrv_qtest *start(const char *const *args, int64_t timeout_ms)
{
    struct capdrv_qtest_config cfg = {.device_args = args, .timeout_ms = timeout_ms};
    struct capdrv_qtest *q = NULL;
    char why[256];
    int rc = capdrv_qtest_create(&cfg, &q, why, sizeof why);
    if (rc < 0)
        print_message("create: %d %s\n", rc, why);
    assert_int_equal(rc, 0);
    return q;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void replies_and_errors(void **state)
{
    (void)state;
    struct capdrv_qtest *q = start(NULL, 0);
    char *r = malloc(REPLY);
    assert_non_null(r);
    /* The first command negotiates (greeting, qmp_capabilities) first. */
    assert_int_equal(capdrv_qtest_qmp(q, "{\"execute\":\"query-status\"}", r, REPLY), 0);
    assert_non_null(strstr(r, "\"return\""));
    assert_non_null(strstr(r, "\"running\""));
    /* An error reply: -CAPDRV_EIO with QEMU's error object. */
    assert_int_equal(capdrv_qtest_qmp(q, "{\"execute\":\"no-such-command\"}", r, REPLY),
                     -CAPDRV_EIO);
    assert_non_null(strstr(r, "CommandNotFound"));
    /* The stream is still in step after an error. */
    assert_int_equal(capdrv_qtest_qmp(q, "{\"execute\":\"query-status\"}", NULL, 0), 0);
    /* A reply longer than the buffer is truncated, still NUL-terminated. */
    char small[8];
    assert_int_equal(capdrv_qtest_qmp(q, "{\"execute\":\"query-status\"}", small, sizeof small), 0);
    assert_int_equal(strlen(small), sizeof small - 1);
    /* Arguments. */
    assert_int_equal(capdrv_qtest_qmp(NULL, "{}", r, REPLY), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_qtest_qmp(q, NULL, r, REPLY), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_qtest_qmp(q, "", r, REPLY), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_qtest_qmp(q, "{\"execute\":\n\"stop\"}", r, REPLY), -CAPDRV_EINVAL);
    assert_int_equal(capdrv_qtest_hmp(q, "", r, REPLY), -CAPDRV_EINVAL);
    /* The qtest stream is unaffected. */
    assert_int_equal(capdrv_qtest_status(q, NULL, 0), 0);
    free(r);
    capdrv_qtest_destroy(q);
}

static void events_skipped(void **state)
{
    (void)state;
    struct capdrv_qtest *q = start(NULL, 0);
    char *r = malloc(REPLY);
    assert_non_null(r);
    /* stop and cont each emit an event (STOP, RESUME) that may arrive
     * before the next reply: the client must skip it, not take it as one. */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(capdrv_qtest_qmp(q, "{\"execute\":\"stop\"}", r, REPLY), 0);
        assert_int_equal(capdrv_qtest_qmp(q, "{\"execute\":\"query-status\"}", r, REPLY), 0);
        assert_non_null(strstr(r, "\"paused\""));
        assert_int_equal(capdrv_qtest_hmp(q, "info status", r, REPLY), 0);
        assert_string_equal(r, "VM status: paused\r\n");
        assert_int_equal(capdrv_qtest_qmp(q, "{\"execute\":\"cont\"}", r, REPLY), 0);
        assert_int_equal(capdrv_qtest_hmp(q, "info status", r, REPLY), 0);
        assert_string_equal(r, "VM status: running\r\n");
    }
    free(r);
    capdrv_qtest_destroy(q);
}

static void hmp_escaping(void **state)
{
    (void)state;
    char disk[256], drive[320];
    assert_int_equal(qt_test_disk(disk, sizeof disk, 1 << 20), 0);
    snprintf(drive, sizeof drive, "if=none,id=d0,file=%s,format=raw", disk);
    const char *const args[] = {"-drive", drive, NULL};
    struct capdrv_qtest *q = start(args, 0);
    unlink(disk);
    char *r = malloc(REPLY);
    assert_non_null(r);
    /* Quotes inside the command line must reach HMP as quotes: a broken
     * escape would be a JSON error (-CAPDRV_EIO) instead. qemu-io prints
     * to QEMU's stdout, so the output here is empty. */
    assert_int_equal(capdrv_qtest_hmp(q, "qemu-io d0 \"read -P 0 0 512\"", r, REPLY), 0);
    assert_string_equal(r, "");
    /* HMP reports an unknown device in its output, not as a QMP error. */
    assert_int_equal(capdrv_qtest_hmp(q, "qemu-io nodrive \"read 0 512\"", r, REPLY), 0);
    assert_non_null(strstr(r, "nodrive"));
    /* Control characters and a backslash are escaped too: HMP sees one
     * unknown command and says so (the reply is still one JSON line). */
    assert_int_equal(capdrv_qtest_hmp(q, "x\\y\tz", r, REPLY), 0);
    assert_non_null(strstr(r, "unknown command"));
    free(r);
    capdrv_qtest_destroy(q);
}

/* The drive's completed reads, from `info blockstats` (qemu-io's aio_read
 * is accounted there once it completes). */
static long rd_operations(struct capdrv_qtest *q)
{
    char *r = malloc(REPLY);
    assert_non_null(r);
    assert_int_equal(capdrv_qtest_hmp(q, "info blockstats", r, REPLY), 0);
    const char *p = strstr(r, "rd_operations=");
    long n = p ? strtol(p + strlen("rd_operations="), NULL, 10) : -1;
    free(r);
    return n;
}

static void throttle_holds_io(void **state)
{
    (void)state;
    char disk[256], drive[320];
    assert_int_equal(qt_test_disk(disk, sizeof disk, 2 << 20), 0);
    snprintf(drive, sizeof drive, "if=none,id=d0,file=%s,format=raw", disk);
    const char *const args[] = {"-drive", drive, NULL};
    struct capdrv_qtest *q = start(args, 0);
    unlink(disk);
    static const char on[] =
        "{\"execute\":\"block_set_io_throttle\",\"arguments\":{\"device\":\"d0\",\"bps\":1,"
        "\"bps_rd\":0,\"bps_wr\":0,\"iops\":0,\"iops_rd\":0,\"iops_wr\":0}}";
    static const char off[] =
        "{\"execute\":\"block_set_io_throttle\",\"arguments\":{\"device\":\"d0\",\"bps\":0,"
        "\"bps_rd\":0,\"bps_wr\":0,\"iops\":0,\"iops_rd\":0,\"iops_wr\":0}}";
    char *r = malloc(REPLY);
    assert_non_null(r);
    assert_int_equal(capdrv_qtest_qmp(q, on, r, REPLY), 0);
    /* A long reply comes back whole: query-block shows the limit. */
    assert_int_equal(capdrv_qtest_qmp(q, "{\"execute\":\"query-block\"}", r, REPLY), 0);
    assert_non_null(strstr(r, "\"bps\": 1,"));
    /* Fill the bucket (an empty bucket lets the first request through). */
    assert_int_equal(capdrv_qtest_hmp(q, "qemu-io d0 \"read 0 1M\"", r, REPLY), 0);
    assert_int_equal(rd_operations(q), 0);
    assert_int_equal(capdrv_qtest_hmp(q, "qemu-io d0 \"aio_read 0 4096\"", r, REPLY), 0);
    sleep_ms(500);
    assert_int_equal(rd_operations(q), 0); /* held */
    /* Removing the throttle releases it. */
    assert_int_equal(capdrv_qtest_qmp(q, off, r, REPLY), 0);
    long n = -1;
    for (int i = 0; i < 100 && n != 1; i++) {
        n = rd_operations(q);
        if (n != 1)
            sleep_ms(10);
    }
    assert_int_equal(n, 1);
    free(r);
    capdrv_qtest_destroy(q);
}

static void qemu_quits(void **state)
{
    (void)state;
    struct capdrv_qtest *q = start(NULL, 0);
    char r[256];
    /* QEMU answers quit and then exits, but its monitor may be torn down
     * before the reply is flushed (more likely on a loaded machine): both
     * the reply and a closed stream are a correct outcome of quit. */
    int qrc = capdrv_qtest_qmp(q, "{\"execute\":\"quit\"}", r, sizeof r);
    assert_true(qrc == 0 || qrc == -CAPDRV_EIO);
    /* QEMU closes the monitor as it exits: the next command fails fast. */
    int64_t t0 = now_ms();
    int rc = capdrv_qtest_qmp(q, "{\"execute\":\"query-status\"}", r, sizeof r);
    assert_int_equal(rc, -CAPDRV_EIO);
    assert_true(now_ms() - t0 < 2000);
    assert_int_equal(capdrv_qtest_qmp(q, "{\"execute\":\"query-status\"}", r, sizeof r),
                     -CAPDRV_EIO);
    assert_true(r[0] != '\0'); /* the reason */
    capdrv_qtest_destroy(q);
}

static void main_loop_hangs(void **state)
{
    (void)state;
    /* A blkdebug breakpoint suspends a request until `resume`; a drain
     * (qemu-io aio_flush) then waits for it inside QEMU's main loop, which
     * serves no monitor command meanwhile. The client gives up after
     * timeout_ms and closes the monitor. (This is why the conformance
     * platform holds NVMe commands with a throttle, which a drain lifts,
     * and not with blkdebug: QEMU's NVMe reset drains its namespaces.) */
    char disk[256], drive[320];
    assert_int_equal(qt_test_disk(disk, sizeof disk, 1 << 20), 0);
    snprintf(drive, sizeof drive, "if=none,id=d0,file=blkdebug::%s,format=raw", disk);
    const char *const args[] = {"-drive", drive, NULL};
    struct capdrv_qtest *q = start(args, 500);
    unlink(disk);
    char *r = malloc(REPLY);
    assert_non_null(r);
    assert_int_equal(capdrv_qtest_hmp(q, "qemu-io d0 \"break read_aio held\"", r, REPLY), 0);
    assert_int_equal(capdrv_qtest_hmp(q, "qemu-io d0 \"aio_read 0 512\"", r, REPLY), 0);
    int64_t t0 = now_ms();
    assert_int_equal(capdrv_qtest_hmp(q, "qemu-io d0 \"aio_flush\"", r, REPLY),
                     -CAPDRV_ETIMEDOUT);
    int64_t took = now_ms() - t0;
    assert_true(took >= 400 && took < 3000);
    assert_int_equal(capdrv_qtest_qmp(q, "{\"execute\":\"query-status\"}", r, REPLY),
                     -CAPDRV_EIO);
    free(r);
    capdrv_qtest_destroy(q); /* SIGTERM is not served either: SIGKILL */
}

int main(void)
{
    if (!qt_test_have_qemu()) {
        printf("SKIP: %s not found in PATH\n", CAPDRV_QTEST_DEFAULT_QEMU);
        return QT_SKIP;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(replies_and_errors), cmocka_unit_test(events_skipped),
        cmocka_unit_test(hmp_escaping),       cmocka_unit_test(throttle_holds_io),
        cmocka_unit_test(qemu_quits),         cmocka_unit_test(main_loop_hangs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
