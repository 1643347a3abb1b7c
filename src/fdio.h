/*
 * fdio.h - whole positional reads and writes, retried over EINTR and short
 * transfers, for the storage modules (packs, journal spill files, capture).
 */
#ifndef BACKUPFS_FDIO_H
#define BACKUPFS_FDIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Reads until len bytes or end of file: the count read, or -errno.  What a
 * short count means (zeros, an error) is the caller's to say. */
ssize_t fd_pread_upto(int fd, void *buf, size_t len, uint64_t off);

/* Writes all len bytes at off: 0 or -errno (-EIO if nothing moves). */
int fd_pwrite_all(int fd, const void *buf, size_t len, uint64_t off);

#endif
