/**
 * @file capdrv/dev/virtio_pci.h
 * @brief Wire constants of the VIRTIO 1.2 PCI modern transport (§4.1), of
 *        the virtio block device (§5.2) and of the network device (§5.1):
 *        register offsets, capability layout, status and feature bits,
 *        request types and statuses, the virtio-net header.
 *
 * Pure constants, no code and no dependencies, for anything that speaks the
 * protocol from either side: the simulator's device models, tests that
 * drive a device by hand, and drivers. Offsets are byte offsets inside the
 * structure named; every multi-byte field is little-endian (§4.1.3).
 *
 * The prefixes keep these apart from the driver API of capdrv/virtio.h:
 * CAPDRV_VPCI_ (transport, §4.1 and the reserved features of §6),
 * CAPDRV_VBLK_ (block device, §5.2), CAPDRV_VNET_ (network device, §5.1).
 *
 * Example (finding the common configuration of a granted function through
 * its capability list; the bound keeps a looping list finite):
 * @code
 * #include <capdrv/sys.h>
 *
 * static int find_common_cfg(capdrv_sys *sys, capdrv_cap_t grant, uint32_t *bar,
 *                            uint32_t *offset)
 * {
 *     uint32_t ptr, vndr, type;
 *     int rc = capdrv_cfg_read(sys, grant, 0x34, 1, &ptr);  // Capabilities Pointer
 *     for (unsigned n = 0; rc == 0 && (ptr &= 0xfcu) != 0 && n < 48; n++) {
 *         if ((rc = capdrv_cfg_read(sys, grant, ptr + CAPDRV_VPCI_CAP_VNDR, 1, &vndr)) < 0 ||
 *             (rc = capdrv_cfg_read(sys, grant, ptr + CAPDRV_VPCI_CAP_CFG_TYPE, 1, &type)) < 0)
 *             return rc;
 *         if (vndr == CAPDRV_VPCI_CAP_ID_VNDR && type == CAPDRV_VPCI_CAP_COMMON_CFG) {
 *             if ((rc = capdrv_cfg_read(sys, grant, ptr + CAPDRV_VPCI_CAP_BAR, 1, bar)) < 0)
 *                 return rc;
 *             return capdrv_cfg_read(sys, grant, ptr + CAPDRV_VPCI_CAP_OFFSET, 4, offset);
 *         }
 *         rc = capdrv_cfg_read(sys, grant, ptr + CAPDRV_VPCI_CAP_NEXT, 1, &ptr);
 *     }
 *     return rc < 0 ? rc : -CAPDRV_ENOENT;
 * }
 * @endcode
 */
#ifndef CAPDRV_DEV_VIRTIO_PCI_H
#define CAPDRV_DEV_VIRTIO_PCI_H

#ifdef __cplusplus
extern "C" {
#endif

/* ---- PCI identity (§4.1.2) -------------------------------------------- */

/** PCI vendor id of every virtio device. */
#define CAPDRV_VPCI_VENDOR 0x1af4u
/** Modern (non-transitional) PCI device id = this + virtio device id. */
#define CAPDRV_VPCI_DEVICE_MODERN_BASE 0x1040u
/** Virtio device id of a network device (§5.1.1). */
#define CAPDRV_VPCI_ID_NET 1u
/** Virtio device id of a block device (§5.2.1). */
#define CAPDRV_VPCI_ID_BLOCK 2u

/* ---- Vendor capabilities (§4.1.4) ------------------------------------- */

/** PCI capability ID of a vendor-specific capability (cap_vndr). */
#define CAPDRV_VPCI_CAP_ID_VNDR 0x09u

/* struct virtio_pci_cap field offsets (§4.1.4). */
#define CAPDRV_VPCI_CAP_VNDR 0x00     /**< u8 cap_vndr: CAPDRV_VPCI_CAP_ID_VNDR */
#define CAPDRV_VPCI_CAP_NEXT 0x01     /**< u8 cap_next */
#define CAPDRV_VPCI_CAP_LEN 0x02      /**< u8 cap_len: bytes of this capability */
#define CAPDRV_VPCI_CAP_CFG_TYPE 0x03 /**< u8 cfg_type: CAPDRV_VPCI_CAP_*_CFG */
#define CAPDRV_VPCI_CAP_BAR 0x04      /**< u8 bar: 0..5 */
#define CAPDRV_VPCI_CAP_ID 0x05       /**< u8 id: distinguishes capabilities of one type */
#define CAPDRV_VPCI_CAP_OFFSET 0x08   /**< le32 offset of the structure in the BAR */
#define CAPDRV_VPCI_CAP_LENGTH 0x0c   /**< le32 length of the structure */
/** Size of struct virtio_pci_cap. */
#define CAPDRV_VPCI_CAP_SIZE 16u
/** struct virtio_pci_notify_cap: le32 notify_off_multiplier (§4.1.4.4). */
#define CAPDRV_VPCI_NOTIFY_CAP_MULT 0x10
/** Size of struct virtio_pci_notify_cap. */
#define CAPDRV_VPCI_NOTIFY_CAP_SIZE 20u
/** struct virtio_pci_cfg_cap: u8 pci_cfg_data[4] (§4.1.4.9). */
#define CAPDRV_VPCI_CFG_CAP_DATA 0x10
/** Size of struct virtio_pci_cfg_cap. */
#define CAPDRV_VPCI_CFG_CAP_SIZE 20u

/* cfg_type values (§4.1.4). */
#define CAPDRV_VPCI_CAP_COMMON_CFG 1u /**< common configuration (§4.1.4.3) */
#define CAPDRV_VPCI_CAP_NOTIFY_CFG 2u /**< notifications (§4.1.4.4) */
#define CAPDRV_VPCI_CAP_ISR_CFG 3u    /**< ISR status (§4.1.4.5) */
#define CAPDRV_VPCI_CAP_DEVICE_CFG 4u /**< device-specific configuration (§4.1.4.6) */
#define CAPDRV_VPCI_CAP_PCI_CFG 5u    /**< PCI configuration access (§4.1.4.9) */

/* ---- Common configuration (§4.1.4.3, struct virtio_pci_common_cfg) ----
 * Access each field with its own width; 64-bit fields may also be accessed
 * as two 32-bit halves, low half first (§4.1.3.1). */
#define CAPDRV_VPCI_COMMON_DFSELECT 0x00     /**< le32 RW device_feature_select */
#define CAPDRV_VPCI_COMMON_DF 0x04           /**< le32 RO device_feature (selected 32 bits) */
#define CAPDRV_VPCI_COMMON_GFSELECT 0x08     /**< le32 RW driver_feature_select */
#define CAPDRV_VPCI_COMMON_GF 0x0c           /**< le32 RW driver_feature */
#define CAPDRV_VPCI_COMMON_MSIX 0x10         /**< le16 RW config_msix_vector */
#define CAPDRV_VPCI_COMMON_NUMQ 0x12         /**< le16 RO num_queues */
#define CAPDRV_VPCI_COMMON_STATUS 0x14       /**< u8 RW device_status */
#define CAPDRV_VPCI_COMMON_CFGGENERATION 0x15 /**< u8 RO config_generation */
#define CAPDRV_VPCI_COMMON_Q_SELECT 0x16     /**< le16 RW queue_select */
#define CAPDRV_VPCI_COMMON_Q_SIZE 0x18       /**< le16 RW queue_size (0: queue unavailable) */
#define CAPDRV_VPCI_COMMON_Q_MSIX 0x1a       /**< le16 RW queue_msix_vector */
#define CAPDRV_VPCI_COMMON_Q_ENABLE 0x1c     /**< le16 RW queue_enable */
#define CAPDRV_VPCI_COMMON_Q_NOFF 0x1e       /**< le16 RO queue_notify_off */
#define CAPDRV_VPCI_COMMON_Q_DESCLO 0x20     /**< le64 RW queue_desc (descriptor area) */
#define CAPDRV_VPCI_COMMON_Q_DESCHI 0x24     /**< high half of queue_desc */
#define CAPDRV_VPCI_COMMON_Q_AVAILLO 0x28    /**< le64 RW queue_driver (driver area) */
#define CAPDRV_VPCI_COMMON_Q_AVAILHI 0x2c    /**< high half of queue_driver */
#define CAPDRV_VPCI_COMMON_Q_USEDLO 0x30     /**< le64 RW queue_device (device area) */
#define CAPDRV_VPCI_COMMON_Q_USEDHI 0x34     /**< high half of queue_device */
#define CAPDRV_VPCI_COMMON_Q_NDATA 0x38      /**< le16 RO queue_notify_data */
#define CAPDRV_VPCI_COMMON_Q_RESET 0x3a      /**< le16 RW queue_reset (VIRTIO_F_RING_RESET) */
/** Bytes of struct virtio_pci_common_cfg up to queue_reset. */
#define CAPDRV_VPCI_COMMON_SIZE 0x3cu

/** MSI-X "no vector" (§4.1.5.1.2): no interrupt for this source. */
#define CAPDRV_VPCI_MSI_NO_VECTOR 0xffffu

/* ISR status bits (§4.1.4.5); reading the ISR byte clears it. */
#define CAPDRV_VPCI_ISR_QUEUE 0x1u  /**< a used-buffer notification */
#define CAPDRV_VPCI_ISR_CONFIG 0x2u /**< a configuration change notification */

/* ---- Device status (§2.1) ---------------------------------------------- */
#define CAPDRV_VPCI_S_ACKNOWLEDGE 0x01u        /**< the guest found the device */
#define CAPDRV_VPCI_S_DRIVER 0x02u             /**< the guest knows how to drive it */
#define CAPDRV_VPCI_S_DRIVER_OK 0x04u          /**< the driver is ready */
#define CAPDRV_VPCI_S_FEATURES_OK 0x08u        /**< feature negotiation complete */
#define CAPDRV_VPCI_S_DEVICE_NEEDS_RESET 0x40u /**< the device hit an unrecoverable error */
#define CAPDRV_VPCI_S_FAILED 0x80u             /**< the driver gave up */

/* ---- Reserved feature bits (§6), as bit numbers ------------------------- */
#define CAPDRV_VPCI_F_INDIRECT_DESC 28    /**< VIRTIO_F_INDIRECT_DESC (§2.7.5.3) */
#define CAPDRV_VPCI_F_EVENT_IDX 29        /**< VIRTIO_F_EVENT_IDX (§2.7.7, §2.7.10) */
#define CAPDRV_VPCI_F_VERSION_1 32        /**< VIRTIO_F_VERSION_1: not a legacy device */
#define CAPDRV_VPCI_F_ACCESS_PLATFORM 33  /**< VIRTIO_F_ACCESS_PLATFORM (IOMMU) */
#define CAPDRV_VPCI_F_RING_PACKED 34      /**< VIRTIO_F_RING_PACKED (§2.8) */
#define CAPDRV_VPCI_F_IN_ORDER 35         /**< VIRTIO_F_IN_ORDER */
#define CAPDRV_VPCI_F_ORDER_PLATFORM 36   /**< VIRTIO_F_ORDER_PLATFORM */
#define CAPDRV_VPCI_F_SR_IOV 37           /**< VIRTIO_F_SR_IOV */
#define CAPDRV_VPCI_F_NOTIFICATION_DATA 38 /**< VIRTIO_F_NOTIFICATION_DATA */
#define CAPDRV_VPCI_F_NOTIF_CONFIG_DATA 39 /**< VIRTIO_F_NOTIF_CONFIG_DATA */
#define CAPDRV_VPCI_F_RING_RESET 40       /**< VIRTIO_F_RING_RESET */

/* ---- Split virtqueue layout (§2.7), what a device reads and writes ------ */
/** Size of struct virtq_desc: le64 addr, le32 len, le16 flags, le16 next. */
#define CAPDRV_VPCI_DESC_SIZE 16u
#define CAPDRV_VPCI_DESC_F_NEXT 1u     /**< the chain continues at next */
#define CAPDRV_VPCI_DESC_F_WRITE 2u    /**< device-writable buffer */
#define CAPDRV_VPCI_DESC_F_INDIRECT 4u /**< buffer is an indirect descriptor table */
#define CAPDRV_VPCI_AVAIL_F_NO_INTERRUPT 1u /**< avail flags: no used-buffer notification */
#define CAPDRV_VPCI_USED_F_NO_NOTIFY 1u     /**< used flags: no available-buffer notification */
#define CAPDRV_VPCI_USED_ELEM_SIZE 8u  /**< struct virtq_used_elem: le32 id, le32 len */

/* ---- Block device (§5.2) ------------------------------------------------ */

/* Feature bits (§5.2.3), as bit numbers. */
#define CAPDRV_VBLK_F_SIZE_MAX 1      /**< size_max is valid */
#define CAPDRV_VBLK_F_SEG_MAX 2       /**< seg_max is valid */
#define CAPDRV_VBLK_F_GEOMETRY 4      /**< geometry is valid */
#define CAPDRV_VBLK_F_RO 5            /**< read-only device */
#define CAPDRV_VBLK_F_BLK_SIZE 6      /**< blk_size is valid */
#define CAPDRV_VBLK_F_FLUSH 9         /**< VIRTIO_BLK_T_FLUSH supported */
#define CAPDRV_VBLK_F_TOPOLOGY 10     /**< topology is valid */
#define CAPDRV_VBLK_F_CONFIG_WCE 11   /**< writeback is writable */
#define CAPDRV_VBLK_F_MQ 12           /**< num_queues is valid (several request queues) */
#define CAPDRV_VBLK_F_DISCARD 13      /**< VIRTIO_BLK_T_DISCARD supported */
#define CAPDRV_VBLK_F_WRITE_ZEROES 14 /**< VIRTIO_BLK_T_WRITE_ZEROES supported */
#define CAPDRV_VBLK_F_LIFETIME 15     /**< VIRTIO_BLK_T_GET_LIFETIME supported */
#define CAPDRV_VBLK_F_SECURE_ERASE 16 /**< VIRTIO_BLK_T_SECURE_ERASE supported */

/* struct virtio_blk_config field offsets (§5.2.4). */
#define CAPDRV_VBLK_CFG_CAPACITY 0x00              /**< le64 capacity in 512-byte sectors */
#define CAPDRV_VBLK_CFG_SIZE_MAX 0x08              /**< le32 size_max */
#define CAPDRV_VBLK_CFG_SEG_MAX 0x0c               /**< le32 seg_max */
#define CAPDRV_VBLK_CFG_GEOMETRY 0x10              /**< le16 cylinders, u8 heads, u8 sectors */
#define CAPDRV_VBLK_CFG_BLK_SIZE 0x14              /**< le32 blk_size */
#define CAPDRV_VBLK_CFG_TOPOLOGY 0x18              /**< struct virtio_blk_topology (8 bytes) */
#define CAPDRV_VBLK_CFG_WRITEBACK 0x20             /**< u8 writeback */
#define CAPDRV_VBLK_CFG_NUM_QUEUES 0x22            /**< le16 num_queues */
#define CAPDRV_VBLK_CFG_MAX_DISCARD_SECTORS 0x24   /**< le32 max_discard_sectors */
#define CAPDRV_VBLK_CFG_MAX_DISCARD_SEG 0x28       /**< le32 max_discard_seg */
#define CAPDRV_VBLK_CFG_DISCARD_ALIGN 0x2c         /**< le32 discard_sector_alignment */
#define CAPDRV_VBLK_CFG_MAX_WRITE_ZEROES_SECTORS 0x30 /**< le32 max_write_zeroes_sectors */
#define CAPDRV_VBLK_CFG_MAX_WRITE_ZEROES_SEG 0x34  /**< le32 max_write_zeroes_seg */
#define CAPDRV_VBLK_CFG_WRITE_ZEROES_MAY_UNMAP 0x38 /**< u8 write_zeroes_may_unmap */
#define CAPDRV_VBLK_CFG_MAX_SECURE_ERASE_SECTORS 0x3c /**< le32 max_secure_erase_sectors */
#define CAPDRV_VBLK_CFG_MAX_SECURE_ERASE_SEG 0x40  /**< le32 max_secure_erase_seg */
#define CAPDRV_VBLK_CFG_SECURE_ERASE_ALIGN 0x44    /**< le32 secure_erase_sector_alignment */
/** Bytes of struct virtio_blk_config up to and including the zoned block. */
#define CAPDRV_VBLK_CFG_SIZE 0x60u

/** Bytes in a sector: the protocol's unit whatever blk_size says (§5.2.5). */
#define CAPDRV_VBLK_SECTOR_SIZE 512u

/* struct virtio_blk_req header (§5.2.6): le32 type, le32 reserved, le64 sector. */
#define CAPDRV_VBLK_REQ_TYPE 0x00     /**< le32 type: CAPDRV_VBLK_T_* */
#define CAPDRV_VBLK_REQ_RESERVED 0x04 /**< le32 reserved (was ioprio) */
#define CAPDRV_VBLK_REQ_SECTOR 0x08   /**< le64 sector */
/** Size of the request header; data follows, then the u8 status. */
#define CAPDRV_VBLK_REQ_HDR_SIZE 16u

/* Request types (§5.2.6). */
#define CAPDRV_VBLK_T_IN 0u            /**< read sectors into data */
#define CAPDRV_VBLK_T_OUT 1u           /**< write data to sectors */
#define CAPDRV_VBLK_T_FLUSH 4u         /**< make completed writes stable */
#define CAPDRV_VBLK_T_GET_ID 8u        /**< device ID string into data (20 bytes) */
#define CAPDRV_VBLK_T_GET_LIFETIME 10u /**< struct virtio_blk_lifetime into data */
#define CAPDRV_VBLK_T_DISCARD 11u      /**< discard the ranges in data */
#define CAPDRV_VBLK_T_WRITE_ZEROES 13u /**< zero the ranges in data */
#define CAPDRV_VBLK_T_SECURE_ERASE 14u /**< securely erase the ranges in data */

/* Request status byte (§5.2.6). */
#define CAPDRV_VBLK_S_OK 0u     /**< success */
#define CAPDRV_VBLK_S_IOERR 1u  /**< device or driver error */
#define CAPDRV_VBLK_S_UNSUPP 2u /**< request not supported */

/** Length of the GET_ID string: NUL padded, no terminator at 20 (§5.2.6). */
#define CAPDRV_VBLK_ID_BYTES 20u

/* struct virtio_blk_discard_write_zeroes (§5.2.6): one range of a
 * DISCARD or WRITE_ZEROES request. */
#define CAPDRV_VBLK_DWZ_SECTOR 0x00      /**< le64 first sector */
#define CAPDRV_VBLK_DWZ_NUM_SECTORS 0x08 /**< le32 number of sectors */
#define CAPDRV_VBLK_DWZ_FLAGS 0x0c       /**< le32 flags: CAPDRV_VBLK_DWZ_F_UNMAP, rest reserved */
/** Size of one range. */
#define CAPDRV_VBLK_DWZ_SIZE 16u
/** flags bit 0: the device may deallocate (WRITE_ZEROES only; must be 0 for DISCARD). */
#define CAPDRV_VBLK_DWZ_F_UNMAP 0x1u

/* ---- Network device (§5.1) ---------------------------------------------- */

/* Virtqueues without VIRTIO_NET_F_MQ (§5.1.2); controlq (2) needs CTRL_VQ. */
#define CAPDRV_VNET_Q_RX 0u   /**< receiveq1: device-writable buffers for incoming frames */
#define CAPDRV_VNET_Q_TX 1u   /**< transmitq1: device-readable outgoing frames */
#define CAPDRV_VNET_Q_CTRL 2u /**< controlq (VIRTIO_NET_F_CTRL_VQ, no MQ) */

/* Feature bits (§5.1.3), as bit numbers. */
#define CAPDRV_VNET_F_CSUM 0                /**< device handles packets with partial checksum */
#define CAPDRV_VNET_F_GUEST_CSUM 1          /**< driver handles packets with partial checksum */
#define CAPDRV_VNET_F_CTRL_GUEST_OFFLOADS 2 /**< control channel offloads reconfiguration */
#define CAPDRV_VNET_F_MTU 3                 /**< mtu in the configuration is valid */
#define CAPDRV_VNET_F_MAC 5                 /**< mac in the configuration is valid */
#define CAPDRV_VNET_F_GUEST_TSO4 7          /**< driver can receive TSOv4 */
#define CAPDRV_VNET_F_GUEST_TSO6 8          /**< driver can receive TSOv6 */
#define CAPDRV_VNET_F_GUEST_ECN 9           /**< driver can receive TSO with ECN */
#define CAPDRV_VNET_F_GUEST_UFO 10          /**< driver can receive UFO */
#define CAPDRV_VNET_F_HOST_TSO4 11          /**< device can receive TSOv4 */
#define CAPDRV_VNET_F_HOST_TSO6 12          /**< device can receive TSOv6 */
#define CAPDRV_VNET_F_HOST_ECN 13           /**< device can receive TSO with ECN */
#define CAPDRV_VNET_F_HOST_UFO 14           /**< device can receive UFO */
#define CAPDRV_VNET_F_MRG_RXBUF 15          /**< driver can merge receive buffers */
#define CAPDRV_VNET_F_STATUS 16             /**< status in the configuration is valid */
#define CAPDRV_VNET_F_CTRL_VQ 17            /**< control channel available */
#define CAPDRV_VNET_F_CTRL_RX 18            /**< control channel RX mode support */
#define CAPDRV_VNET_F_CTRL_VLAN 19          /**< control channel VLAN filtering */
#define CAPDRV_VNET_F_GUEST_ANNOUNCE 21     /**< driver can send gratuitous packets */
#define CAPDRV_VNET_F_MQ 22                 /**< multiqueue with automatic steering */
#define CAPDRV_VNET_F_CTRL_MAC_ADDR 23      /**< set MAC address through the control channel */
#define CAPDRV_VNET_F_HOST_USO 56           /**< device can receive USO */
#define CAPDRV_VNET_F_HASH_REPORT 57        /**< device can report packet hashes */
#define CAPDRV_VNET_F_GUEST_HDRLEN 59       /**< driver can provide the exact hdr_len */
#define CAPDRV_VNET_F_RSS 60                /**< RSS receive steering */
#define CAPDRV_VNET_F_RSC_EXT 61            /**< extended coalescing info */
#define CAPDRV_VNET_F_STANDBY 62            /**< standby for a primary device */
#define CAPDRV_VNET_F_SPEED_DUPLEX 63       /**< speed and duplex are valid */

/* struct virtio_net_config field offsets (§5.1.4). */
#define CAPDRV_VNET_CFG_MAC 0x00                 /**< u8 mac[6] (VIRTIO_NET_F_MAC) */
#define CAPDRV_VNET_CFG_STATUS 0x06              /**< le16 status (VIRTIO_NET_F_STATUS) */
#define CAPDRV_VNET_CFG_MAX_VQ_PAIRS 0x08        /**< le16 max_virtqueue_pairs (VIRTIO_NET_F_MQ) */
#define CAPDRV_VNET_CFG_MTU 0x0a                 /**< le16 mtu (VIRTIO_NET_F_MTU) */
#define CAPDRV_VNET_CFG_SPEED 0x0c               /**< le32 speed in Mbit/s (SPEED_DUPLEX) */
#define CAPDRV_VNET_CFG_DUPLEX 0x10              /**< u8 duplex (SPEED_DUPLEX) */
#define CAPDRV_VNET_CFG_RSS_MAX_KEY_SIZE 0x11    /**< u8 rss_max_key_size */
#define CAPDRV_VNET_CFG_RSS_MAX_INDIR_LEN 0x12   /**< le16 rss_max_indirection_table_length */
#define CAPDRV_VNET_CFG_SUPPORTED_HASH_TYPES 0x14 /**< le32 supported_hash_types */
/** Bytes of struct virtio_net_config. */
#define CAPDRV_VNET_CFG_SIZE 0x18u
/** Bytes of the MAC address. */
#define CAPDRV_VNET_MAC_LEN 6u

/* status bits (§5.1.4). */
#define CAPDRV_VNET_S_LINK_UP 0x1u  /**< the link is up */
#define CAPDRV_VNET_S_ANNOUNCE 0x2u /**< the driver should announce itself */

/* struct virtio_net_hdr field offsets (§5.1.6): every packet, in both
 * directions, starts with it. 12 bytes with VIRTIO_F_VERSION_1 (num_buffers
 * always present), more only with HASH_REPORT. */
#define CAPDRV_VNET_HDR_FLAGS 0x00       /**< u8 flags: CAPDRV_VNET_HDR_F_* */
#define CAPDRV_VNET_HDR_GSO_TYPE 0x01    /**< u8 gso_type: CAPDRV_VNET_HDR_GSO_* */
#define CAPDRV_VNET_HDR_HDR_LEN 0x02     /**< le16 hdr_len */
#define CAPDRV_VNET_HDR_GSO_SIZE 0x04    /**< le16 gso_size */
#define CAPDRV_VNET_HDR_CSUM_START 0x06  /**< le16 csum_start: checksum from this frame offset */
#define CAPDRV_VNET_HDR_CSUM_OFFSET 0x08 /**< le16 csum_offset: store at csum_start + this */
#define CAPDRV_VNET_HDR_NUM_BUFFERS 0x0a /**< le16 num_buffers: receive buffers of this packet */
/** Size of struct virtio_net_hdr (VERSION_1, no hash report). */
#define CAPDRV_VNET_HDR_SIZE 12u

/* flags (§5.1.6). */
#define CAPDRV_VNET_HDR_F_NEEDS_CSUM 0x1u /**< checksum from csum_start still to be computed */
#define CAPDRV_VNET_HDR_F_DATA_VALID 0x2u /**< receive: checksum already validated */
#define CAPDRV_VNET_HDR_F_RSC_INFO 0x4u   /**< receive: coalescing info in csum fields */

/* gso_type (§5.1.6). */
#define CAPDRV_VNET_HDR_GSO_NONE 0x00u   /**< not a GSO frame */
#define CAPDRV_VNET_HDR_GSO_TCPV4 0x01u  /**< TCPv4 segmentation */
#define CAPDRV_VNET_HDR_GSO_UDP 0x03u    /**< UDP fragmentation (UFO) */
#define CAPDRV_VNET_HDR_GSO_TCPV6 0x04u  /**< TCPv6 segmentation */
#define CAPDRV_VNET_HDR_GSO_UDP_L4 0x05u /**< UDP segmentation (USO) */
#define CAPDRV_VNET_HDR_GSO_ECN 0x80u    /**< flag: TCP with ECN CWR */

#ifdef __cplusplus
}
#endif
#endif /* CAPDRV_DEV_VIRTIO_PCI_H */
