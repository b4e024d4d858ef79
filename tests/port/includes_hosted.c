/* Negative test for tools/port-check (ctest port.reject-hosted-header): a
 * source that includes a hosted header. The freestanding include path
 * (-nostdinc, the compiler's own headers, the project's) has no <stdio.h>,
 * so the compile must fail with "No such file or directory". */
#include <stdio.h>

int capdrv_port_check_includes_hosted(void);

int capdrv_port_check_includes_hosted(void)
{
    return EOF;
}
