/* Private to src/virtio: the virtio-mmio transport's view for the device
 * drivers (blk.c) that run over either transport through transport.h. */
#ifndef CAPDRV_VIRTIO_MMIO_INTERNAL_H
#define CAPDRV_VIRTIO_MMIO_INTERNAL_H

#include <capdrv/virtio_mmio.h>

#include "transport.h"

/* Bind a transport view (transport.h) to a virtio-mmio handle. */
void vm_transport(struct capdrv_virtio_mmio *vm, struct vt *v);

#endif
