/* capdrv_strerror: one table, indexed by code. */
#include <capdrv/error.h>

#include <stddef.h>

static const struct {
    int code;
    const char *text;
} messages[] = {
    {CAPDRV_EPERM, "operation not allowed by the grant"},
    {CAPDRV_ENOENT, "no such grant, window, vector or function"},
    {CAPDRV_EIO, "device or platform I/O error"},
    {CAPDRV_EBADF, "not a capability, or a capability of the wrong type"},
    {CAPDRV_ENOMEM, "out of memory"},
    {CAPDRV_EACCES, "grant class does not allow this"},
    {CAPDRV_EFAULT, "address outside the granted window or the DMA ledger"},
    {CAPDRV_EBUSY, "resource already claimed or in use"},
    {CAPDRV_EEXIST, "already exists"},
    {CAPDRV_ENODEV, "no matching device function"},
    {CAPDRV_EINVAL, "invalid argument or malformed input"},
    {CAPDRV_ENOSPC, "quota exhausted"},
    {CAPDRV_ERANGE, "value out of range"},
    {CAPDRV_ENOSYS, "not implemented by this backend"},
    {CAPDRV_EPROTO, "malformed response from device or peer"},
    {CAPDRV_EOVERFLOW, "size or address overflow"},
    {CAPDRV_ENOTSUP, "not supported on this platform"},
    {CAPDRV_ETIMEDOUT, "timed out"},
    {CAPDRV_ESTALE, "stale capability (revoked or released)"},
    {CAPDRV_ECANCELED, "cancelled by reset or teardown"},
};

const char *capdrv_strerror(int err)
{
    if (err == 0)
        return "success";
    /* Negate in unsigned arithmetic: -INT_MIN would overflow. */
    unsigned code = err < 0 ? 0u - (unsigned)err : (unsigned)err;
    for (size_t i = 0; i < sizeof messages / sizeof messages[0]; i++)
        if ((unsigned)messages[i].code == code)
            return messages[i].text;
    return "unknown error";
}
