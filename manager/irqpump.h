/* Interrupts by descriptor (docs/MANAGER.md, "Interrupts"): for platforms
 * whose irq_wait() blocks in real time (QEMU, VFIO), a thread per provider
 * waits on that provider's interrupt capabilities in the shim and signals
 * each capability's own descriptor, which the provider received with
 * IRQ_OPEN and waits on locally. The manager's loop never waits for a
 * provider's interrupt.
 *
 * The descriptor is the reading end of a stream socketpair, one byte per
 * event (wire.h CDW_IRQ_EVENT_*), end-of-file when the capability became
 * stale. Not an eventfd: its O_NONBLOCK flag would be shared with the
 * provider, who could make the manager's writes block; a send with
 * MSG_DONTWAIT never does.
 *
 * Each capability is "armed" while the pump waits for it. When it fires,
 * the pump sends a byte and disarms it: the shim keeps it pending until
 * the provider acknowledges (IRQ_ACK, having emptied its end first),
 * which re-arms it (mgr_irqpump_acked()). A poll (timeout 0) stays a
 * message: it asks the device now, which a byte sent asynchronously cannot
 * answer. A capability that became stale (released with its grant,
 * revoked) is dropped and its end closed. A failing platform sends
 * CDW_IRQ_EVENT_ERROR. The pump never takes the server's lock; the server
 * stops it (mgr_irqpump_free(), at most one slice) before it detaches the
 * provider. */
#ifndef CAPDRV_MGR_IRQPUMP_H
#define CAPDRV_MGR_IRQPUMP_H

#include <capdrv/sys.h>

struct capdrv_shim;
struct shim_provider;
struct mgr_irqpump;

/* A pump for provider @p of @shim (its thread starts with the first
 * capability). 0, -CAPDRV_ENOMEM. */
int mgr_irqpump_new(struct capdrv_shim *shim, struct shim_provider *p, struct mgr_irqpump **out);
/* Track Interrupt capability @irq; *provider_fd receives the provider's
 * descriptor (the caller sends and closes it). 0; -CAPDRV_ENOSPC
 * (CDW_IRQ_MAX tracked), -CAPDRV_ENOMEM, -CAPDRV_EIO (no thread). */
int mgr_irqpump_add(struct mgr_irqpump *pp, capdrv_cap_t irq, int *provider_fd);
/* The provider acknowledged @irq (call after the shim's ack, with the
 * server's lock): signalled again at once if the device has it pending
 * already, else the pump waits for it again. */
void mgr_irqpump_acked(struct mgr_irqpump *pp, capdrv_cap_t irq);
/* @cap is being released, or turned out stale: stop tracking it (its
 * descriptor reads end-of-file); no effect if untracked. */
void mgr_irqpump_forget(struct mgr_irqpump *pp, capdrv_cap_t cap);
/* Capabilities tracked (for status); 0 for NULL. */
unsigned mgr_irqpump_count(struct mgr_irqpump *pp);
/* Stop the thread (within one CDW_IRQ_WAIT_SLICE_NS) and free. NULL: no-op. */
void mgr_irqpump_free(struct mgr_irqpump *pp);

#endif
