/**
 * @file capdrv/remote.h
 * @brief The socket transport: capdrv/sys.h in a provider process, served
 *        by capdrv-managerd.
 *
 * The manager owns the kernel shim and the device; a provider connects to
 * its Unix socket, names itself, and gets a `capdrv_sys` that behaves as
 * the in-process one does: the same calls, arguments and return codes.
 * DMA buffers are shared memory the manager hands over (the CPU pointer in
 * struct capdrv_dmabuf_info is a mapping in the provider's address space),
 * register accesses are messages. The manager identifies the provider by
 * its socket credentials (SO_PEERCRED) as well as the name it claims; see
 * docs/MANAGER.md for the rule and the protocol.
 *
 * Closing the connection (capdrv_sys_close()) or dying has the same
 * effect: the manager tears down everything the provider held.
 *
 * Example (connect as "blk-provider" and list grants):
 * @code
 * #include <capdrv/remote.h>
 * #include <stdio.h>
 *
 * static int list(const char *sock)
 * {
 *     capdrv_sys *sys;
 *     int rc = capdrv_remote_connect(sock, "blk-provider", &sys);
 *     if (rc < 0)
 *         return rc;
 *     for (int i = 0; i < capdrv_grant_count(sys); i++) {
 *         struct capdrv_grant_info gi;
 *         if (capdrv_grant_info(sys, (unsigned)i, &gi) == 0)
 *             printf("%s\n", gi.name);
 *     }
 *     capdrv_sys_close(sys);
 *     return 0;
 * }
 * @endcode
 */
#ifndef CAPDRV_REMOTE_H
#define CAPDRV_REMOTE_H

#include <stddef.h>

#include <capdrv/sys.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief Connect to a manager as provider @p provider.
 *
 * Performs the versioned handshake. The manager accepts the name only if
 * the manifest grants something to it and its credentials rule admits the
 * caller's uid.
 *
 * @param path the manager's socket path.
 * @param provider provider name as in the manifest (shorter than
 *        CAPDRV_NAME_MAX).
 * @param sys receives the connection.
 * @return 0; -CAPDRV_EINVAL (NULL argument or name too long),
 *         -CAPDRV_ENOENT (no manager at @p path, or no grant names this
 *         provider), -CAPDRV_EACCES (the credentials rule refuses the
 *         caller), -CAPDRV_EBUSY (that provider is already connected),
 *         -CAPDRV_EPROTO (protocol version or message mismatch),
 *         -CAPDRV_EIO (transport failure), -CAPDRV_ENOMEM.
 */
int capdrv_remote_connect(const char *path, const char *provider, capdrv_sys **sys);

/**
 * @brief Ask a manager for its status (providers, grants, ledger usage).
 *
 * The answer is text, one `key=value ...` line per item. Control
 * connections are admitted for the manager's own uid and root only.
 *
 * @param path the manager's socket path.
 * @param buf receives the NUL-terminated text (truncated to fit).
 * @param len size of @p buf (> 0).
 * @return length of the full text (excluding the NUL); -CAPDRV_EINVAL,
 *         -CAPDRV_ENOENT, -CAPDRV_EACCES, -CAPDRV_EPROTO, -CAPDRV_EIO.
 */
int capdrv_remote_status(const char *path, char *buf, size_t len);

/**
 * @brief Revoke a capability of a connected provider (manager action).
 *
 * As capdrv_shim_revoke() in-process: afterwards the provider's handle is
 * stale, and revoking a DMA buffer with device work in flight quiesces the
 * function first, so no DMA reaches the memory once this returns. The
 * handle is the provider's own (as it would log it). Control connections
 * are admitted for the manager's own uid and root only.
 *
 * @param path the manager's socket path.
 * @param provider name of the connected provider.
 * @param cap its handle.
 * @return 0; -CAPDRV_ENOENT (no such provider connected, or no manager),
 *         -CAPDRV_ESTALE, -CAPDRV_EBADF (not a live handle of that
 *         provider), -CAPDRV_EINVAL, -CAPDRV_EACCES, -CAPDRV_EPROTO,
 *         -CAPDRV_EIO.
 */
int capdrv_remote_revoke(const char *path, const char *provider, capdrv_cap_t cap);

#ifdef __cplusplus
}
#endif
#endif /* CAPDRV_REMOTE_H */
