/* Consumer of an installed libcapdrv: headers, library and link flags. */
#include <capdrv/error.h>

#include <stdio.h>
#include <string.h>

int main(void)
{
    const char *msg = capdrv_strerror(-CAPDRV_ESTALE);

    if (msg == NULL || strcmp(msg, "unknown error") == 0) {
        fprintf(stderr, "capdrv_strerror(-CAPDRV_ESTALE) gave %s\n",
                msg ? msg : "NULL");
        return 1;
    }
    printf("capdrv_strerror(-CAPDRV_ESTALE) = \"%s\"\n", msg);
    return 0;
}
