/* Simulated NVMe controller: the public test interface of capdrv/sim.h
 * (capdrv_sim_add_nvme(), capdrv_sim_nvme_data(), capdrv_sim_nvme_set_fault(),
 * capdrv_sim_nvme_stats()). Each entry point takes sim->lock for its whole
 * duration, like the rest of the machine. */
#include "blk_store.h"
#include "dev_nvme.h"

#include <string.h>

#define DEFAULT_LBAS 2048u
#define DEFAULT_IOQ 4u
#define DEFAULT_MQES 1024u
#define DEFAULT_MDTS 5u
#define DEFAULT_TO 2u
#define MAX_MDTS 8u /* 1 MiB: bounds the segment list (NVME_MAX_SEGS) */

static int normalise_ns(struct capdrv_sim_nvme_ns_config *n)
{
    if (n->lba_shift == 0)
        n->lba_shift = 9;
    if (n->lba_shift != 9 && n->lba_shift != 12)
        return -CAPDRV_EINVAL;
    if (n->lba_count == 0 && !n->backing_file)
        n->lba_count = DEFAULT_LBAS;
    if (n->lba_count > ((uint64_t)INT64_MAX >> n->lba_shift))
        return -CAPDRV_EINVAL;
    if (!n->backing_file && n->lba_count > ((uint64_t)SIZE_MAX >> n->lba_shift))
        return -CAPDRV_EINVAL;
    return 0;
}

static int normalise(struct capdrv_sim_nvme_config *c)
{
    if (c->n_namespaces == 0)
        c->n_namespaces = 1;
    if (c->max_io_queues == 0)
        c->max_io_queues = DEFAULT_IOQ;
    if (c->mqes == 0)
        c->mqes = DEFAULT_MQES;
    if (c->mdts == 0)
        c->mdts = DEFAULT_MDTS;
    if (c->cap_to == 0)
        c->cap_to = DEFAULT_TO;
    if (c->n_namespaces > CAPDRV_SIM_NVME_MAX_NS || c->max_io_queues > CAPDRV_SIM_NVME_MAX_IOQ ||
        c->mqes < 2 || c->mqes > 4096 || c->dstrd > 2 || c->mdts > MAX_MDTS || c->cap_to > 255)
        return -CAPDRV_EINVAL;
    for (unsigned i = 0; i < c->n_namespaces; i++) {
        int rc = normalise_ns(&c->ns[i]);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int capdrv_sim_add_nvme(struct capdrv_sim *sim, const struct capdrv_pci_addr *addr,
                        const struct capdrv_sim_nvme_config *cfg, unsigned *fn_out)
{
    if (!sim || !addr)
        return -CAPDRV_EINVAL;
    struct capdrv_sim_nvme_config c;
    memset(&c, 0, sizeof c);
    if (cfg)
        c = *cfg;
    int rc = normalise(&c);
    if (rc < 0)
        return rc;
    /* QEMU's NVMe ids (so one profile matches the sim and QEMU), mass
     * storage / NVM / NVM Express I/O controller (PCI Code and ID 1.12). */
    const struct sim_pci_ident id = {
        .vendor = 0x1b36,
        .device = 0x0010,
        .subsys_vendor = 0x1af4,
        .subsys_device = 0x1100,
        .class_code = 0x010802,
        .revision = 0x02,
    };
    /* One vector for the admin CQ and one per I/O queue. */
    const struct sim_fn_layout layout = {.bar0_size = CAPDRV_SIM_NVME_BAR0_SIZE,
                                         .n_vectors = c.max_io_queues + 1u};
    pthread_mutex_lock(&sim->lock);
    rc = sim_add_function(sim, addr, &sim_dev_nvme, &id, &layout, &c, fn_out);
    pthread_mutex_unlock(&sim->lock);
    return rc;
}

/* The NVMe controller @fn of @sim, or NULL with *rc set (lock held). */
static struct nvme_dev *find(const struct capdrv_sim *sim, unsigned fn, int *rc)
{
    const struct sim_fn *f = sim_fn_get(sim, fn);
    *rc = !f ? -CAPDRV_ENOENT : f->dev != &sim_dev_nvme ? -CAPDRV_ENODEV : 0;
    return *rc == 0 ? nvme_of(f) : NULL;
}

int capdrv_sim_nvme_data(struct capdrv_sim *sim, unsigned fn, uint32_t nsid, uint64_t offset,
                         void *buf, size_t len, bool write)
{
    if (!sim || (!buf && len > 0))
        return -CAPDRV_EINVAL;
    pthread_mutex_lock(&sim->lock);
    int rc;
    struct nvme_dev *d = find(sim, fn, &rc);
    if (d && (nsid == 0 || nsid > d->nns))
        rc = -CAPDRV_ENOENT;
    if (rc == 0) {
        const struct nvme_ns *ns = &d->ns[nsid - 1u];
        uint64_t size = ns->nlba << ns->lbads;
        if (offset > size || len > size - offset)
            rc = -CAPDRV_ERANGE;
        else if (len > 0 && write)
            rc = sim_blk_store_write(ns->store, offset, buf, len);
        else if (len > 0)
            rc = sim_blk_store_read(ns->store, offset, buf, len);
    }
    pthread_mutex_unlock(&sim->lock);
    return rc;
}

int capdrv_sim_nvme_set_fault(struct capdrv_sim *sim, unsigned fn,
                              const struct capdrv_sim_nvme_fault *f)
{
    if (!sim)
        return -CAPDRV_EINVAL;
    struct capdrv_sim_nvme_fault v = {.kind = CAPDRV_SIM_NVME_FAULT_NONE, .qid = -1, .opcode = -1};
    if (f)
        v = *f;
    if ((unsigned)v.kind > CAPDRV_SIM_NVME_FAULT_NEVER_READY || v.qid < -1 ||
        v.qid > (int)CAPDRV_SIM_NVME_MAX_IOQ || v.opcode < -1 || v.opcode > 255 ||
        (v.status >> 8) > 7)
        return -CAPDRV_EINVAL;
    pthread_mutex_lock(&sim->lock);
    int rc;
    struct nvme_dev *d = find(sim, fn, &rc);
    if (d)
        d->fault = v;
    pthread_mutex_unlock(&sim->lock);
    return rc;
}

int capdrv_sim_nvme_stats(const struct capdrv_sim *sim, unsigned fn,
                          struct capdrv_sim_nvme_stats *out)
{
    if (!sim || !out)
        return -CAPDRV_EINVAL;
    pthread_mutex_lock((pthread_mutex_t *)&sim->lock);
    int rc;
    const struct nvme_dev *d = find(sim, fn, &rc);
    if (d) {
        *out = d->stats;
        out->sq_backlog = nvme_sq_backlog(d);
    }
    pthread_mutex_unlock((pthread_mutex_t *)&sim->lock);
    return rc;
}
