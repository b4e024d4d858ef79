/**
 * @file capdrv_shim/core.h
 * @brief The shim's syscall entry points, for a kernel port or a transport.
 *
 * A kernel that embeds the shim calls these from its syscall handlers; the
 * in-process transport (capdrv_shim_connect()) and the manager's socket
 * transport call them on behalf of a provider. Each takes the provider
 * object from capdrv_shim_provider_attach() and behaves exactly as the
 * capdrv/sys.h call of the same name documents (same arguments after the
 * provider, same return codes). Pointer arguments must be non-NULL.
 */
#ifndef CAPDRV_SHIM_CORE_H
#define CAPDRV_SHIM_CORE_H

#include <capdrv/shim.h>
#include <capdrv/sys.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A provider known to the shim (opaque). */
struct shim_provider;

/**
 * @brief Register a provider by its manifest identity.
 * @param shim instance.
 * @param name provider name (the grants' `provider` property).
 * @param transport the caller's connection object, stored for
 *        capdrv_shim_provider_transport().
 * @param out receives the provider.
 * @return 0; -CAPDRV_ENOENT (no grant names it), -CAPDRV_ENOSPC (too many
 *         providers), -CAPDRV_EINVAL (name too long), -CAPDRV_ENOMEM.
 */
int capdrv_shim_provider_attach(struct capdrv_shim *shim, const char *name, void *transport,
                                struct shim_provider **out);

/**
 * @brief Provider death: tear down everything it holds and forget it.
 * @param shim instance.
 * @param p provider (invalid afterwards).
 */
void capdrv_shim_provider_detach(struct capdrv_shim *shim, struct shim_provider *p);

/**
 * @brief The transport object given to capdrv_shim_provider_attach().
 * @param p provider.
 * @return the pointer.
 */
void *capdrv_shim_provider_transport(struct shim_provider *p);

/**
 * @brief Revoke one of a provider's capabilities (see capdrv_shim_revoke()).
 * @param shim instance.
 * @param p provider.
 * @param cap the provider's handle.
 * @return 0; -CAPDRV_ESTALE; -CAPDRV_EBADF.
 */
int capdrv_shim_provider_revoke(struct capdrv_shim *shim, struct shim_provider *p,
                                capdrv_cap_t cap);

/** @brief capdrv_grant_count() for provider @p p. @param shim instance. @param p provider. @return as documented there. */
int capdrv_shim_sys_grant_count(struct capdrv_shim *shim, struct shim_provider *p);
/** @brief capdrv_grant_info(). @param shim instance. @param p provider. @param index grant. @param out info. @return as documented there. */
int capdrv_shim_sys_grant_info(struct capdrv_shim *shim, struct shim_provider *p, unsigned index,
                               struct capdrv_grant_info *out);
/** @brief capdrv_grant_open(). @param shim instance. @param p provider. @param index grant. @param grant handle out. @return as documented there. */
int capdrv_shim_sys_grant_open(struct capdrv_shim *shim, struct shim_provider *p, unsigned index,
                               capdrv_cap_t *grant);
/** @brief capdrv_grant_lane(). @param shim instance. @param p provider. @param grant handle. @return as documented there. */
int capdrv_shim_sys_grant_lane(struct capdrv_shim *shim, struct shim_provider *p,
                               capdrv_cap_t grant);
/** @brief capdrv_grant_reset(). @param shim instance. @param p provider. @param grant handle. @return as documented there. */
int capdrv_shim_sys_grant_reset(struct capdrv_shim *shim, struct shim_provider *p,
                                capdrv_cap_t grant);
/** @brief capdrv_window_info(). @param shim instance. @param p provider. @param grant handle. @param window index. @param out info. @return as documented there. */
int capdrv_shim_sys_window_info(struct capdrv_shim *shim, struct shim_provider *p,
                                capdrv_cap_t grant, unsigned window,
                                struct capdrv_window_info *out);
/** @brief capdrv_mmio_open(). @param shim instance. @param p provider. @param grant handle. @param window index. @param mmio handle out. @return as documented there. */
int capdrv_shim_sys_mmio_open(struct capdrv_shim *shim, struct shim_provider *p,
                              capdrv_cap_t grant, unsigned window, capdrv_cap_t *mmio);
/** @brief capdrv_mmio_read(). @param shim instance. @param p provider. @param mmio handle. @param offset in window. @param width bytes. @param val out. @return as documented there. */
int capdrv_shim_sys_mmio_read(struct capdrv_shim *shim, struct shim_provider *p, capdrv_cap_t mmio,
                              uint64_t offset, unsigned width, uint64_t *val);
/** @brief capdrv_mmio_write(). @param shim instance. @param p provider. @param mmio handle. @param offset in window. @param width bytes. @param val value. @return as documented there. */
int capdrv_shim_sys_mmio_write(struct capdrv_shim *shim, struct shim_provider *p,
                               capdrv_cap_t mmio, uint64_t offset, unsigned width, uint64_t val);
/** @brief capdrv_cfg_read(). @param shim instance. @param p provider. @param grant handle. @param offset config offset. @param width bytes. @param val out. @return as documented there. */
int capdrv_shim_sys_cfg_read(struct capdrv_shim *shim, struct shim_provider *p, capdrv_cap_t grant,
                             uint32_t offset, unsigned width, uint32_t *val);
/** @brief capdrv_cfg_write(). @param shim instance. @param p provider. @param grant handle. @param offset config offset. @param width bytes. @param val value. @return as documented there. */
int capdrv_shim_sys_cfg_write(struct capdrv_shim *shim, struct shim_provider *p,
                              capdrv_cap_t grant, uint32_t offset, unsigned width, uint32_t val);
/** @brief capdrv_pool_open(). @param shim instance. @param p provider. @param grant handle. @param pool handle out. @return as documented there. */
int capdrv_shim_sys_pool_open(struct capdrv_shim *shim, struct shim_provider *p,
                              capdrv_cap_t grant, capdrv_cap_t *pool);
/** @brief capdrv_dma_alloc(). @param shim instance. @param p provider. @param pool handle. @param size bytes. @param buf handle out. @param info out. @return as documented there. */
int capdrv_shim_sys_dma_alloc(struct capdrv_shim *shim, struct shim_provider *p, capdrv_cap_t pool,
                              size_t size, capdrv_cap_t *buf, struct capdrv_dmabuf_info *info);
/** @brief capdrv_dmabuf_info(). @param shim instance. @param p provider. @param buf handle. @param info out. @return as documented there. */
int capdrv_shim_sys_dmabuf_info(struct capdrv_shim *shim, struct shim_provider *p,
                                capdrv_cap_t buf, struct capdrv_dmabuf_info *info);
/** @brief capdrv_irq_open(). @param shim instance. @param p provider. @param grant handle. @param vector MSI-X vector. @param irq handle out. @return as documented there. */
int capdrv_shim_sys_irq_open(struct capdrv_shim *shim, struct shim_provider *p, capdrv_cap_t grant,
                             unsigned vector, capdrv_cap_t *irq);
/** @brief capdrv_irq_wait(). @param shim instance. @param p provider. @param irqs handles. @param n count. @param timeout_ns bound. @param ready mask out. @return as documented there. */
int capdrv_shim_sys_irq_wait(struct capdrv_shim *shim, struct shim_provider *p,
                             const capdrv_cap_t *irqs, unsigned n, int64_t timeout_ns,
                             uint64_t *ready);
/** @brief capdrv_irq_ack(). @param shim instance. @param p provider. @param irq handle. @return as documented there. */
int capdrv_shim_sys_irq_ack(struct capdrv_shim *shim, struct shim_provider *p, capdrv_cap_t irq);
/** @brief capdrv_irq_mask(). @param shim instance. @param p provider. @param irq handle. @param masked true to mask. @return as documented there. */
int capdrv_shim_sys_irq_mask(struct capdrv_shim *shim, struct shim_provider *p, capdrv_cap_t irq,
                             bool masked);
/** @brief capdrv_cap_release(). @param shim instance. @param p provider. @param cap handle. @return as documented there. */
int capdrv_shim_sys_cap_release(struct capdrv_shim *shim, struct shim_provider *p,
                                capdrv_cap_t cap);

#ifdef __cplusplus
}
#endif
#endif /* CAPDRV_SHIM_CORE_H */
