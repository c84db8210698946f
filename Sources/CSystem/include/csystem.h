/*
 * csystem.h — the Linux calls Swift's Glibc module leaves out (they need
 * _GNU_SOURCE, or live in headers it does not import), declared here so the
 * compiler checks every call against the C prototype.
 */
#ifndef CSYSTEM_H
#define CSYSTEM_H

#include <sys/types.h>
#include <sys/xattr.h>

/* syncfs(2): commits the file system that holds `fd`. */
int bmlua_syncfs(int fd);
/* renameat2(2); `flags` as RENAME_NOREPLACE. */
int bmlua_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags);
/* openat(dirfd, folder, O_TMPFILE | O_WRONLY | O_CLOEXEC, mode): a file with no
   name yet, in folder's file system (O_TMPFILE is a macro Swift does not import). */
int bmlua_open_unnamed(int dirfd, const char *folder, mode_t mode);
/* sync_file_range(fd, offset, count, SYNC_FILE_RANGE_WRITE): starts writing
   those bytes back to disk, without waiting for it. */
int bmlua_start_writeback(int fd, off_t offset, off_t count);
/* mkostemp(3): mkstemp with open flags, as O_CLOEXEC. */
int bmlua_mkostemp(char *template_, int flags);
/* The flag renameat2 takes to refuse a name already there. */
enum { BMLUA_RENAME_NOREPLACE = 1 };

#endif
