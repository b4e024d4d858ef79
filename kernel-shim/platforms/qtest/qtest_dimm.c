/* DMA regions as files of their own (capdrv_qtest_config::dma_fds), so a
 * manager can hand exactly one region to a provider process (hw.h dma_fd).
 *
 * Each region is a sealed memfd that QEMU maps as hot-plugged guest
 * memory: over QMP, `object-add memory-backend-file` (mem-path
 * /proc/<this pid>/fd/<fd>, share=on) and `device_add pc-dimm` (QEMU picks
 * the slot and the address, in the device memory area above 4 GiB), then
 * `qom-get` of both. This process maps the same memfd, so what the driver
 * writes the device reads, as with guest RAM. The memfd holds one page
 * more than the region: a guard page filled with the canary, checked by
 * capdrv_qtest_canary_check() and at free.
 *
 * Freeing ejects the DIMM, which takes the guest's cooperation on real
 * hardware (ACPI _EJ0); here the platform plays the guest: `device_del`,
 * then through QEMU's ACPI memory hotplug registers (I/O 0xa00, QEMU
 * docs/specs/acpi_mem_hotplug.rst) select the slot, clear its remove
 * event and request the eject, then `object-del` the backend. From then
 * on the region's guest addresses are backed by nothing: a late device
 * write reaches no memory (no canary needed). The memfd is closed and
 * never reused; a provider that kept its mapping keeps an orphan. */
#define _GNU_SOURCE
#include "qtest_internal.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MHP_BASE 0x0a00u   /* ICH9 ACPI_MEMORY_HOTPLUG_BASE */
#define MHP_SELECT 0x00u   /* write: slot selector */
#define MHP_CONTROL 0x14u  /* write: bit 2 clears the remove event, bit 3 ejects */
#define MHP_CLEAR_REMOVE 0x04u
#define MHP_EJECT 0x08u

static int qmp(struct capdrv_qtest *q, const char *cmd)
{
    char reply[512];
    int rc = capdrv_qtest_qmp(q, cmd, reply, sizeof reply);
    return rc < 0 ? rc : strstr(reply, "\"return\"") ? 0 : -CAPDRV_EIO;
}

/* A number property of a device ("return": N). */
static int qom_u64(struct capdrv_qtest *q, uint64_t id, const char *prop, uint64_t *val)
{
    char cmd[256], reply[256];
    snprintf(cmd, sizeof cmd,
             "{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"/machine/peripheral/"
             "capdrv-dimm%" PRIu64 "\",\"property\":\"%s\"}}",
             id, prop);
    int rc = capdrv_qtest_qmp(q, cmd, reply, sizeof reply);
    if (rc < 0)
        return rc;
    const char *p = strstr(reply, "\"return\": ");
    if (!p)
        return -CAPDRV_EIO;
    char *end;
    *val = strtoull(p + 10, &end, 10);
    return end == p + 10 ? -CAPDRV_EIO : 0;
}

static void drop_backend(struct capdrv_qtest *q, uint64_t id)
{
    char cmd[160];
    snprintf(cmd, sizeof cmd,
             "{\"execute\":\"object-del\",\"arguments\":{\"id\":\"capdrv-mem%" PRIu64 "\"}}", id);
    (void)qmp(q, cmd);
}

/* The DIMM of region @id in @slot leaves the guest (see the top). */
static int eject(struct capdrv_qtest *q, uint64_t id, uint64_t slot)
{
    char cmd[160];
    snprintf(cmd, sizeof cmd,
             "{\"execute\":\"device_del\",\"arguments\":{\"id\":\"capdrv-dimm%" PRIu64 "\"}}", id);
    int rc = qmp(q, cmd);
    if (rc == 0)
        rc = qt_io_write(q, MHP_BASE + MHP_SELECT, 4, (uint32_t)slot);
    if (rc == 0)
        rc = qt_io_write(q, MHP_BASE + MHP_CONTROL, 1, MHP_CLEAR_REMOVE);
    if (rc == 0)
        rc = qt_io_write(q, MHP_BASE + MHP_CONTROL, 1, MHP_EJECT);
    if (rc == 0)
        drop_backend(q, id);
    return rc;
}

int qt_dimm_alloc(struct capdrv_qtest *q, size_t size, struct qt_region *r)
{
    int fd = memfd_create("capdrv-qtest-dma", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return -CAPDRV_ENOMEM;
    size_t bytes = size + QT_PAGE; /* and the guard page */
    uint8_t *cpu = MAP_FAILED;
    if (ftruncate(fd, (off_t)bytes) < 0 ||
        fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0 ||
        (cpu = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
        close(fd);
        return -CAPDRV_ENOMEM;
    }
    memset(cpu + size, QT_CANARY, QT_PAGE);
    uint64_t id = q->next_id++; /* never reused, even after a failure: QOM ids stay unique */
    char cmd[320];
    snprintf(cmd, sizeof cmd,
             "{\"execute\":\"object-add\",\"arguments\":{\"qom-type\":\"memory-backend-file\","
             "\"id\":\"capdrv-mem%" PRIu64 "\",\"mem-path\":\"/proc/%ld/fd/%d\",\"size\":%zu,"
             "\"share\":true}}",
             id, (long)getpid(), fd, bytes);
    int rc = qmp(q, cmd);
    if (rc == 0) {
        snprintf(cmd, sizeof cmd,
                 "{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"pc-dimm\",\"id\":"
                 "\"capdrv-dimm%" PRIu64 "\",\"memdev\":\"capdrv-mem%" PRIu64 "\"}}",
                 id, id);
        if ((rc = qmp(q, cmd)) < 0)
            drop_backend(q, id); /* e.g. every slot taken */
    } else if (rc == -CAPDRV_EIO) {
        rc = -CAPDRV_ENOMEM;
    }
    uint64_t gpa = 0, slot = 0;
    if (rc == 0 && (rc = qom_u64(q, id, "slot", &slot)) < 0) {
        /* Plugged, but its slot unknown: ejecting a guessed slot could
         * take another region's DIMM. It stays, unused. */
    } else if (rc == 0 && ((rc = qom_u64(q, id, "addr", &gpa)) < 0 || gpa % QT_PAGE != 0)) {
        (void)eject(q, id, slot);
        rc = rc < 0 ? rc : -CAPDRV_EIO;
    }
    if (rc < 0) {
        munmap(cpu, bytes);
        close(fd);
        return rc == -CAPDRV_EIO && !q->dead ? -CAPDRV_ENOSPC : rc;
    }
    *r = (struct qt_region){.gpa = gpa, .size = size, .id = id, .cpu = cpu, .fd = fd,
                            .slot = (unsigned)slot};
    return 0;
}

/* Whether the guard page of @r still holds the canary (counted once). */
void qt_dimm_guard_check(struct capdrv_qtest *q, const struct qt_region *r)
{
    uint8_t *g = r->cpu + r->size;
    for (size_t i = 0; i < QT_PAGE; i++) {
        if (g[i] != QT_CANARY) {
            q->canary_bad++;
            q->canary_last = r->gpa + r->size + i;
            memset(g, QT_CANARY, QT_PAGE);
            return;
        }
    }
}

void qt_dimm_free(struct capdrv_qtest *q, struct qt_region *r)
{
    qt_dimm_guard_check(q, r);
    /* Should the eject fail (QEMU gone), the region's pages stay QEMU's:
     * they are still unmapped here and never handed out again. */
    (void)eject(q, r->id, r->slot);
    munmap(r->cpu, r->size + QT_PAGE);
    close(r->fd);
}
