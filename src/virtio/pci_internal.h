/* Private to src/virtio: register layout of the PCI modern transport and
 * the accessors pci.c, pci_transport.c and blk.c share. The
 * transport-neutral device logic is behind transport.h. */
#ifndef CAPDRV_VIRTIO_PCI_INTERNAL_H
#define CAPDRV_VIRTIO_PCI_INTERNAL_H

#include <capdrv/virtio.h>

#include "transport.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* struct virtio_pci_common_cfg (VIRTIO 1.2 §4.1.4.3), byte offsets. */
#define VP_DEVICE_FEATURE_SELECT 0x00u /* le32 */
#define VP_DEVICE_FEATURE 0x04u        /* le32, read-only */
#define VP_DRIVER_FEATURE_SELECT 0x08u /* le32 */
#define VP_DRIVER_FEATURE 0x0cu        /* le32 */
#define VP_CONFIG_MSIX_VECTOR 0x10u    /* le16 */
#define VP_NUM_QUEUES 0x12u            /* le16, read-only */
#define VP_DEVICE_STATUS 0x14u         /* u8 */
#define VP_CONFIG_GENERATION 0x15u     /* u8, read-only */
#define VP_QUEUE_SELECT 0x16u          /* le16 */
#define VP_QUEUE_SIZE 0x18u            /* le16 */
#define VP_QUEUE_MSIX_VECTOR 0x1au     /* le16 */
#define VP_QUEUE_ENABLE 0x1cu          /* le16 */
#define VP_QUEUE_NOTIFY_OFF 0x1eu      /* le16, read-only */
#define VP_QUEUE_DESC 0x20u            /* le64 */
#define VP_QUEUE_DRIVER 0x28u          /* le64 */
#define VP_QUEUE_DEVICE 0x30u          /* le64 */
/* The VIRTIO 1.0 structure ends here; 1.2 adds queue_notify_data and
 * queue_reset, which this driver does not use. */
#define VP_COMMON_MIN_LEN 0x38u

/* Read @width bytes at @off inside @r (bounds-checked against the region
 * the device described). */
int vp_region_read(struct capdrv_virtio_pci *vp, const struct capdrv_virtio_pci_region *r,
                   uint64_t off, unsigned width, uint64_t *val);
/* Write @width bytes at @off inside @r. */
int vp_region_write(struct capdrv_virtio_pci *vp, const struct capdrv_virtio_pci_region *r,
                    uint64_t off, unsigned width, uint64_t val);

/* Bind a transport view (transport.h) to a PCI handle. */
void vp_transport(struct capdrv_virtio_pci *vp, struct vt *v);


#endif
