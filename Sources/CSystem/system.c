#define _GNU_SOURCE
#include "csystem.h"
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <fcntl.h>

_Static_assert(BMLUA_RENAME_NOREPLACE == RENAME_NOREPLACE, "renameat2's flag");

int bmlua_syncfs(int fd) { return syncfs(fd); }

int bmlua_start_writeback(int fd, off_t offset, off_t count) {
    return sync_file_range(fd, offset, count, SYNC_FILE_RANGE_WRITE);
}

int bmlua_mkostemp(char *template_, int flags) { return mkostemp(template_, flags); }

int bmlua_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags) {
    return renameat2(olddirfd, oldpath, newdirfd, newpath, flags);
}

int bmlua_open_unnamed(int dirfd, const char *folder, mode_t mode) {
    return openat(dirfd, folder, O_TMPFILE | O_WRONLY | O_CLOEXEC, mode);
}
