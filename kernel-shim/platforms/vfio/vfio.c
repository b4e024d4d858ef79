/* The vfio platform: discovery with libpci, the checks that make errors
 * useful (binding, IOMMU group, /dev/vfio), one type1 container per group,
 * opening each device and reading its regions, and teardown.
 *
 * libpci reports fatal errors through a callback that must not return
 * (pci.h: "Write error message and quit"). The callback here jumps back to
 * the libpci call that failed through a jump buffer that lives on that
 * call's stack and is reached through a thread-local pointer set only for
 * the duration of the call; nothing of the instance is global. The paths
 * libpci will open are checked first, so the jump is the exception (a
 * device that vanished during the scan). */
#define _GNU_SOURCE
#include "vfio_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/vfio.h>
#include <pci/pci.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define RING_ENTRIES 256u /* 64 polls + their cancels, with room */
#define MAX_BAR_BYTES (1ull << 40)

struct pci_jump {
    jmp_buf env;
    char msg[256];
};

static _Thread_local struct pci_jump *pci_jump_active;

static void pci_error_jump(char *msg, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void pci_error_jump(char *msg, ...)
{
    struct pci_jump *j = pci_jump_active;
    va_list ap;
    va_start(ap, msg);
    if (j)
        vsnprintf(j->msg, sizeof j->msg, msg, ap);
    va_end(ap);
    if (j)
        longjmp(j->env, 1);
    abort(); /* only reachable if libpci failed outside a guarded call */
}

static void pci_quiet(char *msg, ...) __attribute__((format(printf, 1, 2)));
static void pci_quiet(char *msg, ...)
{
    (void)msg; /* warnings (e.g. a missing pci.ids) are not errors here */
}

static void say(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *why, size_t len, const char *fmt, ...)
{
    if (!why || len == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, len, fmt, ap);
    va_end(ap);
}

/* pci_filter_parse_* write into their argument: parse a copy. */
static int parse_select(struct pci_filter *flt, const struct capdrv_vfio_select *sel, char *why,
                        size_t why_len)
{
    char buf[128];
    pci_filter_init(NULL, flt);
    if (!sel->slot && !sel->id) {
        say(why, why_len, "vfio: a selection needs a slot or an id filter");
        return -CAPDRV_EINVAL;
    }
    if (sel->slot) {
        if (strlen(sel->slot) >= sizeof buf) {
            say(why, why_len, "vfio: slot filter too long");
            return -CAPDRV_EINVAL;
        }
        strcpy(buf, sel->slot);
        char *err = pci_filter_parse_slot(flt, buf);
        if (err) {
            say(why, why_len, "vfio: slot filter \"%s\": %s", sel->slot, err);
            return -CAPDRV_EINVAL;
        }
    }
    if (sel->id) {
        if (strlen(sel->id) >= sizeof buf) {
            say(why, why_len, "vfio: id filter too long");
            return -CAPDRV_EINVAL;
        }
        strcpy(buf, sel->id);
        char *err = pci_filter_parse_id(flt, buf);
        if (err) {
            say(why, why_len, "vfio: id filter \"%s\": %s", sel->id, err);
            return -CAPDRV_EINVAL;
        }
    }
    return 0;
}

int capdrv_vfio_check_select(const struct capdrv_vfio_select *sel, char *why, size_t why_len)
{
    struct pci_filter flt;
    if (!sel) {
        say(why, why_len, "vfio: no selection");
        return -CAPDRV_EINVAL;
    }
    return parse_select(&flt, sel, why, why_len);
}

/* The last path component of symlink @dir/@bdf/@link, or -1 when the link
 * does not exist (errno says why). */
static int link_name(const char *dev_dir, const char *bdf, const char *link, char *out, size_t len)
{
    char path[512], target[512];
    snprintf(path, sizeof path, "%s/%s/%s", dev_dir, bdf, link);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n < 0)
        return -1;
    target[n] = '\0';
    const char *base = strrchr(target, '/');
    base = base ? base + 1 : target;
    size_t n_base = strlen(base);
    if (n_base >= len) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(out, base, n_base + 1);
    return 0;
}

static int bind_error(const char *root, const char *bdf, const char *driver, char *why,
                      size_t why_len)
{
    char unbind[160] = "";
    if (driver)
        snprintf(unbind, sizeof unbind, "  echo %s > %s/bus/pci/devices/%s/driver/unbind\n", bdf,
                 root, bdf);
    say(why, why_len,
        "vfio: %s is %s%s, not to vfio-pci; as root:\n"
        "  modprobe vfio-pci\n"
        "  echo vfio-pci > %s/bus/pci/devices/%s/driver_override\n"
        "%s"
        "  echo %s > %s/bus/pci/drivers_probe",
        bdf, driver ? "bound to " : "not bound to any driver", driver ? driver : "", root, bdf,
        unbind, bdf, root);
    return -CAPDRV_EBUSY;
}

/* Errors of open() on a VFIO node, mapped to the documented codes. */
static int open_error(int err, const char *path, char *why, size_t why_len)
{
    switch (err) {
    case ENOENT:
    case ENODEV:
        say(why, why_len,
            "vfio: no %s: VFIO is not loaded or the group has no vfio-pci function "
            "(modprobe vfio-pci)",
            path);
        return -CAPDRV_ENOTSUP;
    case EACCES:
    case EPERM:
        say(why, why_len,
            "vfio: %s: permission denied (docs/VFIO.md: give the user the group's node)", path);
        return -CAPDRV_EACCES;
    case EBUSY:
        say(why, why_len, "vfio: %s is open in another process", path);
        return -CAPDRV_EBUSY;
    default:
        say(why, why_len, "vfio: %s: %s", path, strerror(err));
        return -CAPDRV_EIO;
    }
}

static int open_group(struct capdrv_vfio *v, const char *vfio_dir, int id, struct vf_group **out,
                      char *why, size_t why_len)
{
    for (unsigned i = 0; i < v->n_groups; i++)
        if (v->groups[i].id == id) {
            say(why, why_len,
                "vfio: two selected functions share IOMMU group %d: the IOMMU cannot keep them "
                "apart, select one of them",
                id);
            return -CAPDRV_EBUSY;
        }
    if (v->n_groups == VF_MAX_GROUPS)
        return -CAPDRV_ENOSPC;
    struct vf_group *g = &v->groups[v->n_groups];
    char path[512];
    g->id = id;
    g->container_fd = -1;
    snprintf(path, sizeof path, "%s/%d", vfio_dir, id);
    if ((g->group_fd = open(path, O_RDWR | O_CLOEXEC)) < 0)
        return open_error(errno, path, why, why_len);
    v->n_groups++; /* from here on destroy closes it */
    struct vfio_group_status st = {.argsz = sizeof st};
    if (ioctl(g->group_fd, VFIO_GROUP_GET_STATUS, &st) < 0) {
        say(why, why_len, "vfio: VFIO_GROUP_GET_STATUS on %s: %s", path, strerror(errno));
        return -CAPDRV_EIO;
    }
    if (!(st.flags & VFIO_GROUP_FLAGS_VIABLE)) {
        say(why, why_len,
            "vfio: IOMMU group %d is not viable: every function listed in "
            "/sys/kernel/iommu_groups/%d/devices must be bound to vfio-pci or to no driver",
            id, id);
        return -CAPDRV_EPERM;
    }
    snprintf(path, sizeof path, "%s/vfio", vfio_dir);
    if ((g->container_fd = open(path, O_RDWR | O_CLOEXEC)) < 0)
        return open_error(errno, path, why, why_len);
    if (ioctl(g->container_fd, VFIO_GET_API_VERSION) != VFIO_API_VERSION) {
        say(why, why_len, "vfio: unknown VFIO API version");
        return -CAPDRV_ENOTSUP;
    }
    if (ioctl(g->container_fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) <= 0) {
        say(why, why_len, "vfio: the kernel has no type1v2 IOMMU (modprobe vfio_iommu_type1)");
        return -CAPDRV_ENOTSUP;
    }
    if (ioctl(g->group_fd, VFIO_GROUP_SET_CONTAINER, &g->container_fd) < 0 ||
        ioctl(g->container_fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) < 0) {
        say(why, why_len, "vfio: attaching group %d to a type1v2 container: %s", id,
            strerror(errno));
        return -CAPDRV_EIO;
    }
    *out = g;
    return 0;
}

static int region_info(int fd, unsigned index, struct vfio_region_info *ri)
{
    *ri = (struct vfio_region_info){.argsz = sizeof *ri, .index = index};
    return ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, ri) < 0 ? -CAPDRV_EIO : 0;
}

/* Regions, BAR flags (from the BAR registers, which VFIO virtualises but
 * keeps the low flag bits of) and the MSI-X vector count. */
static int open_regions(struct vf_fn *f, char *why, size_t why_len)
{
    struct vfio_device_info di = {.argsz = sizeof di};
    if (ioctl(f->dev_fd, VFIO_DEVICE_GET_INFO, &di) < 0 || !(di.flags & VFIO_DEVICE_FLAGS_PCI) ||
        di.num_regions <= VFIO_PCI_CONFIG_REGION_INDEX) {
        say(why, why_len, "vfio: %s is not a VFIO PCI device", f->bdf);
        return -CAPDRV_EIO;
    }
    f->can_reset = (di.flags & VFIO_DEVICE_FLAGS_RESET) != 0;
    struct vfio_region_info ri;
    if (region_info(f->dev_fd, VFIO_PCI_CONFIG_REGION_INDEX, &ri) < 0 || ri.size < 64) {
        say(why, why_len, "vfio: %s has no usable config region", f->bdf);
        return -CAPDRV_EIO;
    }
    f->cfg_off = ri.offset;
    f->cfg_size = ri.size < VF_CFG_MAX ? ri.size : VF_CFG_MAX;
    uint32_t id = 0, cls = 0, sub = 0;
    int rc;
    if ((rc = vf_cfg_read(f, 0x00, 4, &id)) < 0 || (rc = vf_cfg_read(f, 0x08, 4, &cls)) < 0 ||
        (rc = vf_cfg_read(f, 0x2c, 4, &sub)) < 0) {
        say(why, why_len, "vfio: %s: config space cannot be read", f->bdf);
        return rc;
    }
    f->info.id = (struct capdrv_pci_id){.vendor = (uint16_t)id, .device = (uint16_t)(id >> 16),
                                        .subsys_vendor = (uint16_t)sub,
                                        .subsys_device = (uint16_t)(sub >> 16),
                                        .class_code = cls >> 8, .revision = (uint8_t)cls};
    for (unsigned i = 0; i < CAPDRV_HW_NUM_BARS && i < di.num_regions; i++) {
        if (region_info(f->dev_fd, VFIO_PCI_BAR0_REGION_INDEX + i, &ri) < 0 || ri.size == 0)
            continue;
        uint32_t reg = 0;
        if ((rc = vf_cfg_read(f, 0x10 + 4 * i, 4, &reg)) < 0)
            return rc;
        if (ri.size > MAX_BAR_BYTES)
            continue; /* not something the shim can window: leave it out */
        f->info.bar_size[i] = ri.size;
        if (reg & 1u)
            continue; /* I/O BAR: reported, never accessed (hw.h) */
        bool is64 = ((reg >> 1) & 3u) == 2u;
        f->info.bar_flags[i] = CAPDRV_HW_BAR_MEM | (is64 ? CAPDRV_HW_BAR_64 : 0u) |
                               ((reg & 8u) ? CAPDRV_HW_BAR_PREFETCH : 0u);
        f->bars[i].region_off = ri.offset;
        f->bars[i].size = ri.size;
        if ((ri.flags & VFIO_REGION_INFO_FLAG_MMAP) && ri.size % VF_PAGE == 0) {
            void *m = mmap(NULL, ri.size, PROT_READ | PROT_WRITE, MAP_SHARED, f->dev_fd,
                           (off_t)ri.offset);
            f->bars[i].map = m == MAP_FAILED ? NULL : m; /* else pread/pwrite */
        }
        if (is64)
            i++; /* the upper half's slot is part of this BAR */
    }
    struct vfio_irq_info ii = {.argsz = sizeof ii, .index = VFIO_PCI_MSIX_IRQ_INDEX};
    if (di.num_irqs > VFIO_PCI_MSIX_IRQ_INDEX && ioctl(f->dev_fd, VFIO_DEVICE_GET_IRQ_INFO, &ii) == 0 &&
        (ii.flags & VFIO_IRQ_INFO_EVENTFD))
        f->msix_n = ii.count < CAPDRV_VFIO_MAX_VECTORS ? ii.count : CAPDRV_VFIO_MAX_VECTORS;
    /* Memory decoding on, so BAR accesses reach the device; Bus Master is
     * the driver's to set (as on the other platforms). */
    uint32_t cmd = 0;
    if ((rc = vf_cfg_read(f, 0x04, 2, &cmd)) < 0 || (rc = vf_cfg_write_raw(f, 0x04, 2, cmd | 0x2u)) < 0)
        return rc;
    return 0;
}

static int open_function(struct capdrv_vfio *v, const char *root, const char *dev_dir,
                         const char *vfio_dir, struct pci_dev *d, char *why, size_t why_len)
{
    if (v->n_fns == CAPDRV_VFIO_MAX_FUNCTIONS) {
        say(why, why_len, "vfio: more than %u functions selected", CAPDRV_VFIO_MAX_FUNCTIONS);
        return -CAPDRV_ENOSPC;
    }
    struct vf_fn *f = &v->fns[v->n_fns];
    memset(f, 0, sizeof *f);
    f->dev_fd = -1;
    for (unsigned k = 0; k < CAPDRV_VFIO_MAX_VECTORS; k++)
        f->efd[k] = -1;
    f->info.addr = (struct capdrv_pci_addr){.domain = (uint16_t)d->domain, .bus = d->bus,
                                            .dev = d->dev, .fn = d->func};
    snprintf(f->bdf, sizeof f->bdf, "%04x:%02x:%02x.%x", (unsigned)d->domain & 0xffffu, d->bus,
             d->dev, d->func);
    char driver[128], group[32];
    if (link_name(dev_dir, f->bdf, "driver", driver, sizeof driver) < 0)
        return bind_error(root, f->bdf, NULL, why, why_len);
    if (strcmp(driver, "vfio-pci") != 0)
        return bind_error(root, f->bdf, driver, why, why_len);
    if (link_name(dev_dir, f->bdf, "iommu_group", group, sizeof group) < 0) {
        say(why, why_len,
            "vfio: %s has no IOMMU group: the IOMMU is off or absent (boot with intel_iommu=on "
            "or amd_iommu=on; docs/VFIO.md)",
            f->bdf);
        return -CAPDRV_ENOTSUP;
    }
    char *end;
    long gid = strtol(group, &end, 10);
    if (end == group || *end || gid < 0 || gid > 1000000) {
        say(why, why_len, "vfio: %s: unreadable IOMMU group \"%s\"", f->bdf, group);
        return -CAPDRV_EIO;
    }
    v->n_fns++; /* from here on destroy cleans it up */
    int rc = open_group(v, vfio_dir, (int)gid, &f->group, why, why_len);
    if (rc < 0)
        return rc;
    if ((f->dev_fd = ioctl(f->group->group_fd, VFIO_GROUP_GET_DEVICE_FD, f->bdf)) < 0) {
        say(why, why_len, "vfio: VFIO_GROUP_GET_DEVICE_FD %s: %s", f->bdf, strerror(errno));
        return -CAPDRV_EIO;
    }
    return open_regions(f, why, why_len);
}

static int addr_cmp(const void *a, const void *b)
{
    const struct pci_dev *x = *(struct pci_dev *const *)a, *y = *(struct pci_dev *const *)b;
    uint64_t kx = (uint64_t)(unsigned)x->domain << 16 | (unsigned)x->bus << 8 |
                  (unsigned)x->dev << 3 | x->func;
    uint64_t ky = (uint64_t)(unsigned)y->domain << 16 | (unsigned)y->bus << 8 |
                  (unsigned)y->dev << 3 | y->func;
    return kx < ky ? -1 : kx > ky;
}

/* Scan with libpci and pick the selected devices, in address order. */
static int discover(struct capdrv_vfio *v, const struct capdrv_vfio_config *cfg,
                    const char *root, const char *dev_dir, struct pci_dev **picked,
                    unsigned *n_picked, char *why, size_t why_len)
{
    struct pci_filter flt[16];
    if (cfg->n_select > sizeof flt / sizeof flt[0]) {
        say(why, why_len, "vfio: at most %zu selections", sizeof flt / sizeof flt[0]);
        return -CAPDRV_EINVAL;
    }
    for (size_t i = 0; i < cfg->n_select; i++) {
        int rc = parse_select(&flt[i], &cfg->select[i], why, why_len);
        if (rc < 0)
            return rc;
    }
    DIR *dir = opendir(dev_dir);
    if (!dir) {
        say(why, why_len, "vfio: cannot read %s: %s", dev_dir, strerror(errno));
        return -CAPDRV_ENODEV;
    }
    closedir(dir);
    char sysfs_pci[512];
    snprintf(sysfs_pci, sizeof sysfs_pci, "%s/bus/pci", root);
    if (!(v->pacc = pci_alloc()))
        return -CAPDRV_ENOMEM;
    v->pacc->method = PCI_ACCESS_SYS_BUS_PCI;
    v->pacc->error = pci_error_jump;
    v->pacc->warning = pci_quiet;
    v->pacc->debug = pci_quiet;
    struct pci_jump jump;
    jump.msg[0] = '\0';
    pci_jump_active = &jump;
    if (setjmp(jump.env)) {
        pci_jump_active = NULL;
        say(why, why_len, "vfio: libpci: %s", jump.msg);
        return -CAPDRV_ENODEV;
    }
    pci_set_param(v->pacc, "sysfs.path", sysfs_pci);
    pci_init(v->pacc);
    pci_scan_bus(v->pacc);
    size_t hits[16] = {0};
    unsigned n = 0;
    int rc = 0;
    for (struct pci_dev *d = v->pacc->devices; d; d = d->next) {
        bool take = false;
        for (size_t i = 0; i < cfg->n_select; i++)
            if (pci_filter_match(&flt[i], d)) {
                hits[i]++;
                take = true;
            }
        if (!take)
            continue;
        if (n == CAPDRV_VFIO_MAX_FUNCTIONS) {
            say(why, why_len, "vfio: more than %u functions selected", CAPDRV_VFIO_MAX_FUNCTIONS);
            rc = -CAPDRV_ENOSPC;
            break;
        }
        picked[n++] = d;
    }
    pci_jump_active = NULL;
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < cfg->n_select; i++)
        if (!hits[i]) {
            const struct capdrv_vfio_select *s = &cfg->select[i];
            say(why, why_len, "vfio: no PCI function in %s matches%s%s%s%s", dev_dir,
                s->slot ? " slot " : "", s->slot ? s->slot : "", s->id ? " id " : "",
                s->id ? s->id : "");
            return -CAPDRV_ENODEV;
        }
    qsort(picked, n, sizeof picked[0], addr_cmp);
    *n_picked = n;
    return 0;
}

static int ring_init(struct capdrv_vfio *v)
{
    struct io_uring *r = calloc(1, sizeof *r);
    if (!r)
        return -CAPDRV_ENOMEM;
    if (io_uring_queue_init(RING_ENTRIES, r, 0) < 0) {
        free(r);
        return 0; /* irq_wait() makes a ring per call then, or fails then */
    }
    v->ring = r;
    return 0;
}

int capdrv_vfio_create(const struct capdrv_vfio_config *cfg, struct capdrv_vfio **out, char *why,
                       size_t why_len)
{
    say(why, why_len, "vfio: ok");
    if (!cfg || !out || !cfg->select || cfg->n_select == 0) {
        say(why, why_len, "vfio: no configuration or no selection");
        return -CAPDRV_EINVAL;
    }
    *out = NULL;
    const char *root = cfg->sysfs_root ? cfg->sysfs_root : "/sys";
    const char *vfio_dir = cfg->vfio_dir ? cfg->vfio_dir : "/dev/vfio";
    if (strlen(root) > 256 || strlen(vfio_dir) > 256) {
        say(why, why_len, "vfio: path too long");
        return -CAPDRV_EINVAL;
    }
    struct capdrv_vfio *v = calloc(1, sizeof *v);
    if (!v)
        return -CAPDRV_ENOMEM;
    pthread_mutex_init(&v->lock, NULL);
    pthread_mutex_init(&v->ring_lock, NULL);
    v->next_id = 1;
    char dev_dir[512];
    snprintf(dev_dir, sizeof dev_dir, "%s/bus/pci/devices", root);
    struct pci_dev *picked[CAPDRV_VFIO_MAX_FUNCTIONS];
    unsigned n = 0;
    int rc = discover(v, cfg, root, dev_dir, picked, &n, why, why_len);
    for (unsigned i = 0; rc == 0 && i < n; i++)
        rc = open_function(v, root, dev_dir, vfio_dir, picked[i], why, why_len);
    if (rc == 0)
        rc = ring_init(v);
    if (rc < 0) {
        capdrv_vfio_destroy(v);
        return rc;
    }
    *out = v;
    return 0;
}

void capdrv_vfio_destroy(struct capdrv_vfio *v)
{
    if (!v)
        return;
    vf_dma_fini(v); /* unmaps every mapping before the containers go */
    for (unsigned i = 0; i < v->n_fns; i++) {
        struct vf_fn *f = &v->fns[i];
        vf_fn_close_irqs(f);
        for (unsigned b = 0; b < CAPDRV_HW_NUM_BARS; b++)
            if (f->bars[b].map)
                munmap(f->bars[b].map, f->bars[b].size);
        if (f->dev_fd >= 0)
            close(f->dev_fd);
    }
    for (unsigned i = 0; i < v->n_groups; i++) {
        struct vf_group *g = &v->groups[i];
        if (g->group_fd >= 0 && g->container_fd >= 0)
            ioctl(g->group_fd, VFIO_GROUP_UNSET_CONTAINER);
        if (g->group_fd >= 0)
            close(g->group_fd);
        if (g->container_fd >= 0)
            close(g->container_fd);
    }
    if (v->ring) {
        io_uring_queue_exit(v->ring);
        free(v->ring);
    }
    if (v->pacc)
        pci_cleanup(v->pacc);
    pthread_mutex_destroy(&v->ring_lock);
    pthread_mutex_destroy(&v->lock);
    free(v);
}

int capdrv_vfio_find(const struct capdrv_vfio *v, const struct capdrv_pci_addr *addr, unsigned *fn)
{
    if (!v || !addr || !fn)
        return -CAPDRV_EINVAL;
    for (unsigned i = 0; i < v->n_fns; i++) {
        const struct capdrv_pci_addr *a = &v->fns[i].info.addr;
        if (a->domain == addr->domain && a->bus == addr->bus && a->dev == addr->dev &&
            a->fn == addr->fn) {
            *fn = i;
            return 0;
        }
    }
    return -CAPDRV_ENOENT;
}

int capdrv_vfio_describe(struct capdrv_vfio *v, unsigned fn, char *buf, size_t len)
{
    if (!v || !buf || len == 0)
        return -CAPDRV_EINVAL;
    pthread_mutex_lock(&v->lock);
    struct vf_fn *f = vf_fn_get(v, fn);
    if (!f) {
        pthread_mutex_unlock(&v->lock);
        return -CAPDRV_ENOENT;
    }
    char name[256] = "";
    struct pci_jump jump;
    pci_jump_active = &jump;
    if (!setjmp(jump.env)) {
        const char *s = pci_lookup_name(v->pacc, name, sizeof name,
                                        PCI_LOOKUP_VENDOR | PCI_LOOKUP_DEVICE,
                                        (int)f->info.id.vendor, (int)f->info.id.device);
        if (s && s != name)
            snprintf(name, sizeof name, "%s", s);
    } else {
        snprintf(name, sizeof name, "%04x:%04x", f->info.id.vendor, f->info.id.device);
    }
    pci_jump_active = NULL;
    snprintf(buf, len, "%s [%04x:%04x] %s (group %d)", f->bdf, f->info.id.vendor,
             f->info.id.device, name, f->group ? f->group->id : -1);
    pthread_mutex_unlock(&v->lock);
    return 0;
}

unsigned capdrv_vfio_reset_count(struct capdrv_vfio *v, unsigned fn)
{
    if (!v)
        return 0;
    pthread_mutex_lock(&v->lock);
    struct vf_fn *f = vf_fn_get(v, fn);
    unsigned n = f ? f->reset_count : 0;
    pthread_mutex_unlock(&v->lock);
    return n;
}
