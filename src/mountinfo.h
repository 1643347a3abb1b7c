/*
 * mountinfo.h - questions about the mount table and the paths we are given:
 * is a directory a mount point and of what type, is it a stale FUSE mount,
 * is one path inside another.  Reads /proc/self/mountinfo.
 */
#ifndef BACKUPFS_MOUNTINFO_H
#define BACKUPFS_MOUNTINFO_H

#include <stddef.h>

#define BACKUPFS_FSTYPE "fuse.backupfs"

/*
 * Looks up the topmost mount at path (an absolute, canonical path).
 * Returns 1 and fills fstype (and source, if not NULL) when path is a mount
 * point, 0 when it is not, -errno when the table cannot be read.
 */
int mountinfo_find(const char *path, char *fstype, size_t fstype_len,
		   char *source, size_t source_len);

/*
 * The "major:minor" device number of the topmost mount at path, read from
 * the table (the mount itself is not touched).  0, or -ENOENT.
 */
int mountinfo_devno(const char *path, char *buf, size_t len);

/* Decodes the octal escapes (\040 etc.) of a mountinfo field in place. */
void mountinfo_unescape(char *s);

/* 1 if path equals dir or lies below it (both canonical). */
int path_within(const char *path, const char *dir);

#endif
