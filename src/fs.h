/*
 * fs.h - the FUSE overlay: a multi-threaded low-level passthrough over a
 * directory held by fd.  See fs-ops.c for the operations and DESIGN 3.
 */
#ifndef BACKUPFS_FS_H
#define BACKUPFS_FS_H

#include "fs-hooks.h"

struct fs;

struct fs_config {
	double attr_timeout;	/* seconds the kernel may cache attributes */
	double entry_timeout;	/* ... names, positive and negative */
	int writeback;		/* kernel writeback cache */
	int readonly;
	int debug;
	int snapdir_visible;	/* readdir lists .snapshots */
};

/* Takes ownership of root_fd (an O_PATH directory fd of SOURCE). */
struct fs *fs_new(int root_fd, const struct fs_config *cfg,
		  const struct fs_hooks *hooks);
void fs_free(struct fs *fs);
struct snapview;
/* Serves .snapshots in every directory from v (snapview.h); before
 * fs_serve.  v stays the caller's. */
void fs_set_snapview(struct fs *fs, struct snapview *v);

/*
 * Mounts at mountpoint, detaches unless foreground, serves requests until
 * unmounted or signalled (SIGTERM, SIGINT, SIGHUP), then unmounts.
 * fuse_opts is the comma-separated option string for the kernel mount.
 * on_ready runs once the mount is live and the daemon detached (to write a
 * pid file, start the engine's threads); if it returns non-zero, the mount
 * is taken down again and fs_serve returns 1.  Returns 0 on a clean unmount, or an exit status after printing
 * the reason.
 */
int fs_serve(struct fs *fs, const char *mountpoint, const char *fuse_opts,
	     int foreground, int (*on_ready)(void *), void *arg);

#endif
