/* Shared helpers of the sim virtio device tests (test_sim_virtio_blk.c,
 * test_sim_virtio_net.c): a hand-made driver side that reaches a virtio
 * PCI function only through the platform operations, as a driver on real
 * hardware would. The capability list is walked to find the structures
 * (VIRTIO 1.2 §4.1.4), features are negotiated through the common
 * configuration (§3.1.1) and split rings (§2.7) are built byte by byte,
 * independent of the library's virtq code.
 *
 * Memory of one attached function: a ring region with RING_SIZE bytes per
 * queue (two queues) and a BUF_SIZE buffer region, both mapped for it. */
#ifndef CAPDRV_TEST_VIO_H
#define CAPDRV_TEST_VIO_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <cmocka.h>

#include <capdrv/dev/virtio_pci.h>
#include <capdrv/hw.h>
#include <capdrv/sim.h>

#define Q 16u                /* Queue Size the tests use */
#define RING_SIZE 0x4000u    /* per queue: desc 0, avail 0x1000, used 0x2000, indirect 0x3000 */
#define AVAIL_OFF 0x1000u
#define USED_OFF 0x2000u
#define INDIRECT_OFF 0x3000u
#define BUF_SIZE 0x10000u
#define DATA_OFF 0x1000u     /* data buffers start here in the buffer region */
#define AVAIL_EVENT_OFF (USED_OFF + 4u + 8u * Q)
#define USED_EVENT_OFF (AVAIL_OFF + 4u + 2u * Q)
#define BIT(b) (1ull << (b))

#define S_ACK CAPDRV_VPCI_S_ACKNOWLEDGE
#define S_DRV CAPDRV_VPCI_S_DRIVER
#define S_FOK CAPDRV_VPCI_S_FEATURES_OK
#define S_DOK CAPDRV_VPCI_S_DRIVER_OK
#define S_NR CAPDRV_VPCI_S_DEVICE_NEEDS_RESET

struct vcap {
    bool found;
    uint32_t at; /* config-space offset of the capability */
    uint8_t bar, len;
    uint32_t off, length;
};

struct vt {
    struct capdrv_sim *sim;
    struct capdrv_hw hw;
    unsigned fn;
    struct vcap cap[6]; /* by cfg_type */
    uint32_t mult;
    struct capdrv_hw_dma ring, buf;
    uint64_t ring_dev, buf_dev;
    uint8_t *r, *b;
    uint16_t avail[2]; /* driver's avail idx per queue */
};

/* Attach to virtio function @fn of @sim: walk its capabilities, allocate
 * and map the ring (IOVA 0x100000) and buffer (0x200000) regions. */
void vt_attach(struct vt *t, struct capdrv_sim *sim, unsigned fn);
/* Unmap and free what vt_attach() set up. */
void vt_detach(struct vt *t);
/* Check that all DMA memory is gone and exactly @violations oracle
 * violations happened, then destroy @sim. */
void vt_finish(struct capdrv_sim *sim, unsigned long violations);
/* vt_detach() then vt_finish() for a machine with one attached function. */
void vt_close(struct vt *t, unsigned long violations);

/* Little-endian access to the test's own DMA memory. */
void put(uint8_t *p, unsigned w, uint64_t v);
uint64_t get(const uint8_t *p, unsigned w);

/* Platform access: config space, BAR0, common configuration (cr/cw),
 * device status, ISR (read clears), device configuration, doorbells, and
 * whether MSI-X vector @v fired (polled, no simulated time passes). */
uint32_t cfg(struct vt *t, uint32_t off, unsigned w);
uint64_t bar_rd(struct vt *t, uint64_t off, unsigned w);
void bar_wr(struct vt *t, uint64_t off, unsigned w, uint64_t v);
uint64_t cr(struct vt *t, uint32_t field, unsigned w);
void cw(struct vt *t, uint32_t field, unsigned w, uint64_t v);
uint8_t status(struct vt *t);
uint8_t isr(struct vt *t);
uint64_t devcfg(struct vt *t, uint32_t off, unsigned w);
void kick(struct vt *t, unsigned q);
int fired(struct vt *t, unsigned v);

/* Find the virtio capabilities, bounded (PCI Local Bus 3.0 §6.7). */
void walk_caps(struct vt *t);

/* The 64 offered feature bits; §3.1.1 steps 1-6 (returns device_status). */
uint64_t offered(struct vt *t);
uint8_t negotiate(struct vt *t, uint64_t accept);

/* Queue @q's ring memory: device address and CPU pointer of @off. */
uint64_t ring_dev(struct vt *t, unsigned q, uint32_t off);
uint8_t *ring_cpu(struct vt *t, unsigned q, uint32_t off);

/* Program queue @q (zeroed rings) and enable it; full bring-up with
 * queues 0..nq-1 on @vector. */
void setup_queue(struct vt *t, unsigned q, uint16_t vector);
void start(struct vt *t, uint64_t accept, unsigned nq, uint16_t vector);

/* Descriptors, available entries, used ring. */
void desc_at(uint8_t *table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
             uint16_t next);
void desc(struct vt *t, unsigned q, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
          uint16_t next);
void post(struct vt *t, unsigned q, uint16_t head);
uint16_t used_idx(struct vt *t, unsigned q);
void used_elem(struct vt *t, unsigned q, uint16_t k, uint32_t *id, uint32_t *len);

#endif /* CAPDRV_TEST_VIO_H */
