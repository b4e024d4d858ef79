/**
 * @file capdrv/error.h
 * @brief Error codes shared by the library, the kernel shim and platforms.
 *
 * Every call that can fail returns 0 (or a non-negative count) on success
 * and a negative code from this list on failure, like a Linux system call.
 * The values equal Linux errno values so that a port can pass them through,
 * but this header does not include `<errno.h>`: the kernel shim is
 * freestanding and uses these names only.
 *
 * Example (say why the kernel refused a doorbell write):
 * @code
 * #include <stdio.h>
 * #include <capdrv/sys.h>
 *
 * static int ring(capdrv_sys *sys, capdrv_cap_t mmio)
 * {
 *     int rc = capdrv_mmio_write(sys, mmio, 0x14, 4, 1);
 *     if (rc < 0)
 *         fprintf(stderr, "doorbell: %s\n", capdrv_strerror(rc));
 *     return rc;
 * }
 * @endcode
 */
#ifndef CAPDRV_ERROR_H
#define CAPDRV_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/** Error numbers; calls return their negation. */
enum capdrv_errno {
    CAPDRV_EPERM = 1,      /**< operation not allowed by the grant */
    CAPDRV_ENOENT = 2,     /**< no such grant, window, vector or function */
    CAPDRV_EIO = 5,        /**< the device or platform reported an error */
    CAPDRV_EBADF = 9,      /**< not a capability, or of the wrong type */
    CAPDRV_ENOMEM = 12,    /**< the environment could not allocate */
    CAPDRV_EACCES = 13,    /**< the grant's class does not allow this */
    CAPDRV_EFAULT = 14,    /**< address or range outside a window or the DMA ledger */
    CAPDRV_EBUSY = 16,     /**< resource already claimed or still in use */
    CAPDRV_EEXIST = 17,    /**< already exists */
    CAPDRV_ENODEV = 19,    /**< no function matches */
    CAPDRV_EINVAL = 22,    /**< malformed argument or input */
    CAPDRV_ENOSPC = 28,    /**< quota exhausted */
    CAPDRV_ERANGE = 34,    /**< value out of the allowed range */
    CAPDRV_ENOSYS = 38,    /**< not implemented by this backend */
    CAPDRV_EPROTO = 71,    /**< malformed response from a device or peer */
    CAPDRV_EOVERFLOW = 75, /**< arithmetic overflow in a size or address */
    CAPDRV_ENOTSUP = 95,   /**< not supported on this platform (e.g. no IOMMU) */
    CAPDRV_ETIMEDOUT = 110,/**< a bounded wait expired */
    CAPDRV_ESTALE = 116,   /**< capability was revoked or released (generation mismatch) */
    CAPDRV_ECANCELED = 125 /**< request cancelled by reset or teardown */
};

/**
 * @brief Describe an error code.
 * @param err a code from enum capdrv_errno, negative (as returned) or positive.
 * @return a static, never-NULL string; unknown codes give "unknown error".
 */
const char *capdrv_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif /* CAPDRV_ERROR_H */
