/**
 * @file capdrv/sys_backend.h
 * @brief How a backend implements the capability ABI of capdrv/sys.h.
 *
 * Providers never include this header. A backend (the in-process shim, the
 * manager's socket transport, a port to another kernel) defines a
 * `struct capdrv_sys_ops` table and embeds `struct capdrv_sys` as the first
 * member of its own connection object. Each public call in capdrv/sys.h
 * checks its pointer arguments and forwards to the matching operation, so an
 * operation receives non-NULL output pointers. Every operation returns what
 * the public call documents.
 *
 * Example (a connection over a socket; one operation shown):
 * @code
 * #include <stdlib.h>
 *
 * struct my_conn {
 *     struct capdrv_sys sys;  // first member: a capdrv_sys * points at a my_conn
 *     int fd;
 * };
 *
 * static int my_grant_count(capdrv_sys *sys)
 * {
 *     const struct my_conn *c = (const struct my_conn *)sys;
 *     return c->fd >= 0 ? 0 : -CAPDRV_EIO;  // ... ask the kernel over c->fd
 * }
 *
 * static void my_close(capdrv_sys *sys)
 * {
 *     free((struct my_conn *)sys);
 * }
 *
 * static const struct capdrv_sys_ops my_ops = {
 *     .grant_count = my_grant_count,
 *     .close = my_close,
 *     // ... one operation per call of capdrv/sys.h
 * };
 *
 * static capdrv_sys *my_connect(int fd)
 * {
 *     struct my_conn *c = calloc(1, sizeof *c);
 *     if (c == NULL)
 *         return NULL;
 *     c->sys.ops = &my_ops;
 *     c->fd = fd;
 *     return &c->sys;  // usable with every capdrv/sys.h call
 * }
 * @endcode
 */
#ifndef CAPDRV_SYS_BACKEND_H
#define CAPDRV_SYS_BACKEND_H

#include <capdrv/sys.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The operations behind capdrv/sys.h; one per public call. */
struct capdrv_sys_ops {
    /** capdrv_grant_count() */
    int (*grant_count)(capdrv_sys *sys);
    /** capdrv_grant_info() */
    int (*grant_info)(capdrv_sys *sys, unsigned index, struct capdrv_grant_info *out);
    /** capdrv_grant_open() */
    int (*grant_open)(capdrv_sys *sys, unsigned index, capdrv_cap_t *grant);
    /** capdrv_grant_lane() */
    int (*grant_lane)(capdrv_sys *sys, capdrv_cap_t grant);
    /** capdrv_grant_reset() */
    int (*grant_reset)(capdrv_sys *sys, capdrv_cap_t grant);
    /** capdrv_window_info() */
    int (*window_info)(capdrv_sys *sys, capdrv_cap_t grant, unsigned window,
                       struct capdrv_window_info *out);
    /** capdrv_mmio_open() */
    int (*mmio_open)(capdrv_sys *sys, capdrv_cap_t grant, unsigned window, capdrv_cap_t *mmio);
    /** capdrv_mmio_read() */
    int (*mmio_read)(capdrv_sys *sys, capdrv_cap_t mmio, uint64_t offset, unsigned width,
                     uint64_t *val);
    /** capdrv_mmio_write() */
    int (*mmio_write)(capdrv_sys *sys, capdrv_cap_t mmio, uint64_t offset, unsigned width,
                      uint64_t val);
    /** capdrv_cfg_read() */
    int (*cfg_read)(capdrv_sys *sys, capdrv_cap_t grant, uint32_t offset, unsigned width,
                    uint32_t *val);
    /** capdrv_cfg_write() */
    int (*cfg_write)(capdrv_sys *sys, capdrv_cap_t grant, uint32_t offset, unsigned width,
                     uint32_t val);
    /** capdrv_pool_open() */
    int (*pool_open)(capdrv_sys *sys, capdrv_cap_t grant, capdrv_cap_t *pool);
    /** capdrv_dma_alloc() */
    int (*dma_alloc)(capdrv_sys *sys, capdrv_cap_t pool, size_t size, capdrv_cap_t *buf,
                     struct capdrv_dmabuf_info *info);
    /** capdrv_dmabuf_info() */
    int (*dmabuf_info)(capdrv_sys *sys, capdrv_cap_t buf, struct capdrv_dmabuf_info *info);
    /** capdrv_irq_open() */
    int (*irq_open)(capdrv_sys *sys, capdrv_cap_t grant, unsigned vector, capdrv_cap_t *irq);
    /** capdrv_irq_wait() */
    int (*irq_wait)(capdrv_sys *sys, const capdrv_cap_t *irqs, unsigned n, int64_t timeout_ns,
                    uint64_t *ready);
    /** capdrv_irq_ack() */
    int (*irq_ack)(capdrv_sys *sys, capdrv_cap_t irq);
    /** capdrv_irq_mask() */
    int (*irq_mask)(capdrv_sys *sys, capdrv_cap_t irq, bool masked);
    /** capdrv_cap_release() */
    int (*cap_release)(capdrv_sys *sys, capdrv_cap_t cap);
    /** capdrv_sys_close(): tear down and free the connection. */
    void (*close)(capdrv_sys *sys);
};

/** The header every connection object starts with. */
struct capdrv_sys {
    const struct capdrv_sys_ops *ops; /**< the backend's operations */
};

#ifdef __cplusplus
}
#endif
#endif /* CAPDRV_SYS_BACKEND_H */
