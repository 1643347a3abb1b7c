/*
 * runtime.h - the daemon's runtime files: one pid file per mount, so that
 * "backupfs umount" can wait for the daemon to finish.  They live in
 * /run/backupfs for root, $XDG_RUNTIME_DIR/backupfs (or /tmp/backupfs-UID)
 * otherwise, never under a mount of ours.
 */
#ifndef BACKUPFS_RUNTIME_H
#define BACKUPFS_RUNTIME_H

#include <stddef.h>
#include <sys/types.h>

/* The pid file path for a canonical mountpoint; creates the directory. */
int runtime_pidfile(const char *mountpoint, char *buf, size_t len);

/* The file's name part, "srv-data-1a2b3c4d": readable and collision-free. */
void runtime_name(const char *mountpoint, char *buf, size_t len);

int runtime_write_pid(const char *file, pid_t pid, const char *mountpoint);
/* The pid recorded for mountpoint, or -1. */
pid_t runtime_read_pid(const char *file);

#endif
