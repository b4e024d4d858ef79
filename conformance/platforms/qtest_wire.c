/* The harness's end of a QEMU socket netdev (qtest_wire.h). */
#define _GNU_SOURCE
#include "qtest_wire.h"

#include <capdrv/error.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* A UDP socket bound to 127.0.0.1 on a port the kernel picks; *port gets it. */
static int udp_bound(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) < 0 || alen != sizeof a) {
        close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

int conf_wire_open(int *fd, uint16_t *p1, uint16_t *p2)
{
    *fd = udp_bound(p1);
    int probe = udp_bound(p2);
    if (*fd < 0 || probe < 0) {
        if (probe >= 0)
            close(probe);
        return -CAPDRV_EIO;
    }
    close(probe);
    /* Connecting makes the kernel drop any datagram not from QEMU's socket. */
    struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons(*p2),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    return connect(*fd, (struct sockaddr *)&peer, sizeof peer) == 0 ? 0 : -CAPDRV_EIO;
}

void conf_wire_close(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

int conf_wire_inject(int fd, const void *frame, size_t len)
{
    if (!frame || len == 0 || len > 65507) /* largest UDP payload over IPv4 */
        return -CAPDRV_EINVAL;
    ssize_t n;
    while ((n = send(fd, frame, len, 0)) < 0 && errno == EINTR) {
    }
    return n == (ssize_t)len ? 0 : -CAPDRV_EIO;
}

int conf_wire_take(int fd, void *buf, size_t cap, size_t *len)
{
    if (!len || (!buf && cap > 0))
        return -CAPDRV_EINVAL;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    struct timespec ts = {.tv_sec = 0, .tv_nsec = CONF_WIRE_POLL_NS};
    int r = ppoll(&pfd, 1, &ts, NULL);
    if (r == 0 || (r < 0 && errno == EINTR))
        return -CAPDRV_ENOENT;
    if (r < 0)
        return -CAPDRV_EIO;
    /* MSG_TRUNC makes recv() return the datagram's real length. */
    uint8_t probe;
    ssize_t n = recv(fd, &probe, 1, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -CAPDRV_ENOENT
                                                                          : -CAPDRV_EIO;
    *len = (size_t)n;
    if ((size_t)n > cap)
        return -CAPDRV_ERANGE;
    n = recv(fd, buf, cap, MSG_DONTWAIT);
    if (n < 0)
        return -CAPDRV_EIO;
    *len = (size_t)n;
    return 0;
}
