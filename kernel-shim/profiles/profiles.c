/* The table of device profiles the shim knows. Order matters only when two
 * profiles match one function: the first wins. */
#include "profile.h"

#include <stddef.h>

static const struct shim_profile *const profiles[] = {
    &shim_profile_dmatest,
    &shim_profile_virtio_pci,
    &shim_profile_nvme,
};

const struct shim_profile *shim_profile_find(const struct capdrv_pci_id *id)
{
    for (size_t i = 0; i < sizeof profiles / sizeof profiles[0]; i++)
        if (profiles[i]->match(id))
            return profiles[i];
    return NULL;
}
