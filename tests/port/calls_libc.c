/* Negative test for tools/port-check (ctest port.reject-libc-call): shim-like
 * code that calls a libc function. It declares strlen itself, so it compiles
 * without any hosted header; only the undefined-symbol comparison can catch
 * it, and the test passes only if that comparison rejects strlen. */
#include <stddef.h>

size_t strlen(const char *s);
size_t capdrv_port_check_calls_libc(const char *name);

size_t capdrv_port_check_calls_libc(const char *name)
{
    return strlen(name);
}
