/* The manager's provider server: a liburing event loop serving providers
 * on a Unix SOCK_SEQPACKET socket, on behalf of one shim (docs/MANAGER.md).
 * Used by capdrv-managerd and by the conformance platform remote:<inner>,
 * which runs it on a thread of the runner. */
#ifndef CAPDRV_MGR_SERVER_H
#define CAPDRV_MGR_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <capdrv/shim.h>

struct mgr_hwmem;
struct mgr_server;

/* Credentials rule: provider @name may be claimed by a peer whose uid is
 * @uid. A name with no rule may be claimed by the manager's own uid only. */
struct mgr_allow {
    char name[CAPDRV_NAME_MAX];
    uid_t uid;
};

struct mgr_server_config {
    struct capdrv_shim *shim;   /* served shim (not owned) */
    struct mgr_hwmem *mem;      /* its memfd-backed DMA memory (not owned) */
    const char *socket_path;    /* created (an existing socket file is replaced) */
    const struct mgr_allow *allow;
    size_t n_allow;
    bool handle_signals;        /* stop on SIGTERM/SIGINT (blocks them in the caller) */
    unsigned hello_timeout_ms;  /* a peer must say hello within this (0: 5000) */
    /* Interrupts as eventfds (irqpump.h): for platforms whose irq_wait()
     * takes real time (QEMU, VFIO). Not for the sim, whose waits advance
     * simulated time: a pump would run its clock freely. */
    bool irq_eventfds;
    /* One structured log line ("event=... key=value ..."), no newline.
     * NULL: lines go to stderr. */
    void (*log)(void *arg, const char *line);
    void *log_arg;
};

/* Create the listening socket and the ring. 0 or a negative CAPDRV_E*;
 * @why gets a reason. */
int mgr_server_create(const struct mgr_server_config *cfg, struct mgr_server **out, char *why,
                      size_t why_len);
/* Serve until mgr_server_stop() or a handled signal. 0, or a negative
 * error if the ring failed. */
int mgr_server_run(struct mgr_server *s);
/* Ask mgr_server_run() to return (any thread, async-signal-safe). */
void mgr_server_stop(struct mgr_server *s);
/* Tear down every provider still connected, close and unlink the socket,
 * free. Call after mgr_server_run() returned (or instead of it). */
void mgr_server_destroy(struct mgr_server *s);

/* Manager-side revoke of a capability of the provider connected as @name
 * (any thread). 0; -CAPDRV_ENOENT (not connected); as capdrv_shim_revoke(). */
int mgr_server_revoke(struct mgr_server *s, const char *name, capdrv_cap_t cap);
/* Is a provider connected as @name (any thread)? */
bool mgr_server_has_provider(struct mgr_server *s, const char *name);
/* Write the status text (as the CDW_STATUS request returns) into @buf;
 * returns the full length. */
size_t mgr_server_status(struct mgr_server *s, char *buf, size_t len);

#endif
