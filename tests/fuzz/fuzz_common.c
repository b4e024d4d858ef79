/* Input copies for the fuzz harnesses (fuzz_common.h). */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include "fuzz_common.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int fuzz_verbose(void)
{
    static int verbose = -1;
    if (verbose < 0)
        verbose = getenv("CAPDRV_FUZZ_VERBOSE") != NULL;
    return verbose;
}

void *fuzz_buf_copy(struct fuzz_buf *b, const uint8_t *src, size_t size)
{
    memset(b, 0, sizeof *b);
#if defined(FUZZ_GUARD_PAGES) && FUZZ_GUARD_PAGES
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t rounded = (size + 7u) & ~(size_t)7u;
    size_t data_pages = (rounded + page - 1) / page;
    if (data_pages == 0)
        data_pages = 1;
    b->map_len = (data_pages + 1) * page;
    b->map = mmap(NULL, b->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    FUZZ_CHECK(b->map != MAP_FAILED);
    unsigned char *guard = (unsigned char *)b->map + data_pages * page;
    FUZZ_CHECK(mprotect(guard, page, PROT_NONE) == 0);
    b->data = guard - rounded;
#else
    b->data = malloc(size ? size : 1); /* malloc: aligned for any type */
    FUZZ_CHECK(b->data != NULL);
#endif
    if (size)
        memcpy(b->data, src, size);
    return b->data;
}

void fuzz_buf_free(struct fuzz_buf *b)
{
#if defined(FUZZ_GUARD_PAGES) && FUZZ_GUARD_PAGES
    if (b->map)
        munmap(b->map, b->map_len);
#else
    free(b->data);
#endif
    memset(b, 0, sizeof *b);
}
