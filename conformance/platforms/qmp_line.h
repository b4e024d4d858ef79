/* A QMP client over a byte stream: the guest side of a serial port that
 * QEMU connects to its own QMP monitor (conformance/vfio-guest: ttyS2).
 * Commands carry an "id", and only the reply with that id counts: the
 * line may hold a greeting or events from before the client opened it,
 * and bytes a booting kernel's UART probe ate. Every wait is bounded. */
#ifndef CAPDRV_CONF_QMP_LINE_H
#define CAPDRV_CONF_QMP_LINE_H

#include <stddef.h>

struct conf_qmp_line {
    int fd;
    unsigned next_id;
    char buf[4096];
    size_t len; /* bytes of buf holding an unfinished line */
};

/* Open @path (a tty is put in raw mode), leave capability negotiation
 * (a second session finds it done: also fine). 0, or a negative
 * CAPDRV error with a reason in @why. */
int conf_qmp_line_open(struct conf_qmp_line *q, const char *path, char *why, size_t why_len);

/* Run @execute with @arguments (a JSON object, or NULL); 0 when QEMU
 * returned, -CAPDRV_EIO with QEMU's error in @reply, -CAPDRV_ETIMEDOUT
 * when no reply came within @timeout_ms. */
int conf_qmp_line_cmd(struct conf_qmp_line *q, const char *execute, const char *arguments,
                      char *reply, size_t reply_len, int timeout_ms);

void conf_qmp_line_close(struct conf_qmp_line *q);

#endif
