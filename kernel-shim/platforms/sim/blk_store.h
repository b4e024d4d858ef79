/* Backing store of the simulated virtio-blk (dev_virtio_blk.c): the medium
 * behind the device, either zeroed memory or a regular file reached through
 * io_uring (liburing). The device model never touches the medium directly;
 * data moves between the store and guest memory through a bounce buffer
 * and the DMA oracle (sim_vreq_xfer()).
 *
 * Everything is synchronous: each operation submits its io_uring requests
 * and waits for their completions before returning, so the simulator stays
 * deterministic. Callers check ranges against the store's size first; the
 * store rechecks nothing but its own invariants. Every call runs with
 * sim->lock held. */
#ifndef CAPDRV_SIM_BLK_STORE_H
#define CAPDRV_SIM_BLK_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct blk_store;

/* A zeroed memory disk of @bytes (<= SIZE_MAX). 0 or -CAPDRV_ENOMEM. */
int sim_blk_store_open_mem(uint64_t bytes, struct blk_store **out);

/* A disk backed by the existing regular file @path, opened read-write.
 * *@sectors in: the capacity wanted in 512-byte sectors, 0 for the file's
 * size / 512 (rounded down); out: the capacity. A file shorter than the
 * capacity is extended with ftruncate() - only after io_uring is set up,
 * so a failure before that leaves the file untouched. Returns 0,
 * -CAPDRV_ENOTSUP if io_uring cannot be set up (disabled in the kernel or
 * refused by a sandbox), -CAPDRV_ENOENT (no such file), -CAPDRV_EACCES (not
 * writable), -CAPDRV_EINVAL (not a regular file, capacity 0 or beyond
 * INT64_MAX bytes), -CAPDRV_ENOMEM, -CAPDRV_EIO (anything else). */
int sim_blk_store_open_file(const char *path, uint64_t *sectors, struct blk_store **out);

/* Release the store: for a file, the io_uring instance and the fd. NULL is
 * ignored. Does not sync: data already written stays in the page cache. */
void sim_blk_store_close(struct blk_store *s);

/* Copy [@off, @off + @len) of the disk to @buf / from @buf. 0 or
 * -CAPDRV_EIO (a failed or zero-progress transfer). */
int sim_blk_store_read(struct blk_store *s, uint64_t off, void *buf, size_t len);
int sim_blk_store_write(struct blk_store *s, uint64_t off, const void *buf, size_t len);

/* Make completed writes stable (fsync for a file). 0 or -CAPDRV_EIO. */
int sim_blk_store_flush(struct blk_store *s);

/* Make [@off, @off + @len) read back as zeroes. @unmap: the range may be
 * deallocated (a hole is punched), else it stays allocated. Falls back to
 * writing zeroes when the file system cannot. 0 or -CAPDRV_EIO. */
int sim_blk_store_zero(struct blk_store *s, uint64_t off, uint64_t len, bool unmap);

#endif /* CAPDRV_SIM_BLK_STORE_H */
