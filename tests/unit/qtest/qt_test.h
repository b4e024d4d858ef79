/* Helpers shared by the qtest platform tests. */
#ifndef CAPDRV_QT_TEST_H
#define CAPDRV_QT_TEST_H

#include <capdrv/qtest.h>

#include <stddef.h>

/* Exit code ctest reads as "skipped" (SKIP_RETURN_CODE). */
#define QT_SKIP 77

/* True when qemu-system-x86_64 is in PATH. */
int qt_test_have_qemu(void);
/* Create a sparse raw disk image of @bytes in TMPDIR; path into @path. */
int qt_test_disk(char *path, size_t len, size_t bytes);
/* Write an executable shell script @body to a temp file; path into @path. */
int qt_test_script(char *path, size_t len, const char *body);

#endif
