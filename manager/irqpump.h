/* Interrupts as eventfds (docs/MANAGER.md, "Interrupts"): for platforms
 * whose irq_wait() blocks in real time (QEMU, VFIO), a thread per provider
 * waits on that provider's interrupt capabilities in the shim and signals
 * one eventfd per capability, which the provider received with IRQ_OPEN
 * and waits on locally. The manager's loop never waits for a provider's
 * interrupt.
 *
 * Each capability is "armed" while the pump waits for it. When it fires,
 * the pump writes 1 to its eventfd and disarms it: the shim keeps it
 * pending until the provider acknowledges (IRQ_ACK), which re-arms it
 * (mgr_irqpump_acked()). A poll (timeout 0) stays a message: it asks the
 * device now, which an eventfd filled asynchronously cannot answer. A capability that became stale (released with
 * its grant, revoked) gets CDW_IRQ_EVENT_STALE written instead and is
 * dropped. The pump never takes the server's lock; the server stops it
 * (mgr_irqpump_free(), at most one slice) before it detaches the provider. */
#ifndef CAPDRV_MGR_IRQPUMP_H
#define CAPDRV_MGR_IRQPUMP_H

#include <capdrv/sys.h>

struct capdrv_shim;
struct shim_provider;
struct mgr_irqpump;

/* A pump for provider @p of @shim (its thread starts with the first
 * capability). 0, -CAPDRV_ENOMEM. */
int mgr_irqpump_new(struct capdrv_shim *shim, struct shim_provider *p, struct mgr_irqpump **out);
/* Track Interrupt capability @irq; *provider_fd receives a new eventfd
 * for the provider (the caller sends and closes it). 0; -CAPDRV_ENOSPC
 * (CDW_IRQ_MAX tracked), -CAPDRV_ENOMEM, -CAPDRV_EIO (no thread). */
int mgr_irqpump_add(struct mgr_irqpump *pp, capdrv_cap_t irq, int *provider_fd);
/* The provider acknowledged @irq: its eventfd is reset, then set again at
 * once if the device has it pending already, else the pump waits for it
 * again. Call with the server's lock, after the shim's ack. */
void mgr_irqpump_acked(struct mgr_irqpump *pp, capdrv_cap_t irq);
/* @cap is being released: stop tracking it (no effect if untracked). */
void mgr_irqpump_forget(struct mgr_irqpump *pp, capdrv_cap_t cap);
/* Capabilities tracked (for status); 0 for NULL. */
unsigned mgr_irqpump_count(struct mgr_irqpump *pp);
/* Stop the thread (within one CDW_IRQ_WAIT_SLICE_NS) and free. NULL: no-op. */
void mgr_irqpump_free(struct mgr_irqpump *pp);

#endif
