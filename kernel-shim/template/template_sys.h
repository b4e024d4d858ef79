/**
 * @file template_sys.h
 * @brief The template syscall backend: the provider half of a port of
 *        capdrv/sys.h to another capability kernel, every operation
 *        returning -CAPDRV_ENOSYS.
 *
 * Not installed and not part of libcapdrv: a porter copies
 * kernel-shim/template/ into the port and replaces each operation in
 * template_sys.c with the kernel's system call. docs/PORTING.md walks
 * through it; `capdrv-conformance --platform template` runs every
 * conformance case against the unchanged template (each fails or skips,
 * none crashes).
 *
 * The connection lives in storage the caller provides, so the template
 * needs no allocator (it includes no libc header and builds with
 * -ffreestanding).
 *
 * Example:
 * @code
 * struct capdrv_template_conn conn;
 * capdrv_sys *sys;
 * if (capdrv_template_connect(&conn, "conf", &sys) == 0) {
 *     int n = capdrv_grant_count(sys);   // -CAPDRV_ENOSYS until ported
 *     capdrv_sys_close(sys);
 * }
 * @endcode
 */
#ifndef CAPDRV_TEMPLATE_SYS_H
#define CAPDRV_TEMPLATE_SYS_H

#include <stdint.h>

#include <capdrv/sys_backend.h>

#ifdef __cplusplus
extern "C" {
#endif

/** One provider's connection to the kernel (caller-owned storage). */
struct capdrv_template_conn {
    struct capdrv_sys sys; /**< first: what the capdrv_sys pointer points at */
    /** The port's kernel object for this connection: an endpoint
     *  capability, a channel handle, a file descriptor. 0 when closed. */
    uint64_t endpoint;
};

/**
 * @brief Connect as provider @p provider through the template backend.
 *
 * The template only fills the operation table; a port opens its kernel
 * channel here (see the comment on the definition for what the kernel
 * must do). Every operation of the result returns -CAPDRV_ENOSYS;
 * capdrv_sys_close() on it marks @p conn closed.
 *
 * @param conn storage for the connection; must outlive its use.
 * @param provider provider name as the manifest's `provider` property
 *        spells it, 1..CAPDRV_NAME_MAX-1 characters.
 * @param sys receives the connection (points into @p conn).
 * @return 0; -CAPDRV_EINVAL for a NULL argument or a name of bad length.
 */
int capdrv_template_connect(struct capdrv_template_conn *conn, const char *provider,
                            capdrv_sys **sys);

#ifdef __cplusplus
}
#endif
#endif /* CAPDRV_TEMPLATE_SYS_H */
