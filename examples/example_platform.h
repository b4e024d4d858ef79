/* --platform for the examples: "sim" (the default, the simulated machine
 * each example builds) or "vfio:SLOT", a real PCI function of this Linux
 * machine bound to vfio-pci, selected in lspci's -s syntax (docs/VFIO.md). */
#ifndef CAPDRV_EXAMPLE_PLATFORM_H
#define CAPDRV_EXAMPLE_PLATFORM_H

#include <capdrv/hw.h>
#include <capdrv/vfio.h>

/* NULL or "sim": returns 0 and leaves *vfio NULL (the caller builds its sim).
 * "vfio:SLOT[,SLOT...]": opens exactly the functions the slots select (at
 * most 4 slots), sets *vfio and *hw, returns 1. Anything else, or a failure: prints why (prefixed with @prog)
 * and returns -1. */
int example_platform_open(const char *prog, const char *spec, struct capdrv_vfio **vfio,
                          struct capdrv_hw *hw);

#endif
