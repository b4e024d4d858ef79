/* The harness's end of a QEMU socket netdev in UDP mode, shared by both
 * qtest platforms (qtest.c, qtest_virt.c): QEMU runs
 * `-netdev socket,udp=127.0.0.1:P1,localaddr=127.0.0.1:P2`, the harness
 * binds P1 before QEMU starts and connects that socket to P2, so it hears
 * only QEMU. One datagram carries one Ethernet frame, without the
 * virtio-net header (the socket backend has none; QEMU adds and strips it,
 * VIRTIO 1.2 §5.1.6). P2 is found by binding port 0 and closing the socket
 * again; should another process take it in between, QEMU fails to bind
 * ("in use") and the platform retries with fresh ports. */
#ifndef CAPDRV_CONF_QTEST_WIRE_H
#define CAPDRV_CONF_QTEST_WIRE_H

#include <stddef.h>
#include <stdint.h>

/* net_take waits at most this long for a frame. */
#define CONF_WIRE_POLL_NS 200000L

/* Bind P1 (kept in *fd) and pick P2 for QEMU. 0 or -CAPDRV_EIO (errno set). */
int conf_wire_open(int *fd, uint16_t *p1, uint16_t *p2);
/* Close the socket (no effect on -1); *fd becomes -1. */
void conf_wire_close(int *fd);
/* One frame to QEMU: it arrives on the device's receive side. */
int conf_wire_inject(int fd, const void *frame, size_t len);
/* The oldest frame QEMU transmitted, waiting at most CONF_WIRE_POLL_NS; a
 * frame longer than @cap stays queued (-CAPDRV_ERANGE, *len its length);
 * -CAPDRV_ENOENT when none came. */
int conf_wire_take(int fd, void *buf, size_t cap, size_t *len);

#endif
