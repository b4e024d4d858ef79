/* One helper for the unit tests that load a compiled manifest: the whole
 * file at @path in malloc'd memory (*@len bytes); any failure fails the
 * test. Include after <cmocka.h>. */
#ifndef CAPDRV_TEST_SLURP_H
#define CAPDRV_TEST_SLURP_H

#include <stdio.h>
#include <stdlib.h>

static inline void *test_slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    long n = ftell(fp);
    assert_true(n > 0);
    rewind(fp);
    void *buf = malloc((size_t)n);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *len = (size_t)n;
    return buf;
}

#endif
