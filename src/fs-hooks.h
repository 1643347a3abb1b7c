/*
 * fs-hooks.h - where the journal plugs into the overlay.
 *
 * Every mutating FUSE operation reports to the hooks at exactly one place in
 * fs-ops.c (the function fs_note() and its pre-write twin fs_pre_write()):
 *
 *   pre_write   before bytes of a real file are overwritten or discarded
 *               (write, truncate, O_TRUNC, fallocate punch/zero, copy_file_range
 *               target).  The journal saves pre-images here (DESIGN 5).  It
 *               runs in the request thread, before the change, and must be
 *               quick: it may read the old bytes from fd but never waits on
 *               the network.
 *   changed     after the real operation succeeded, before the reply.
 *   write_end   after every operation that called pre_write, whether it
 *               succeeded or not (after its changed): the journal holds a
 *               per-file lock from pre_write to write_end, so that a cut
 *               never falls between a write's pre-image and its dirty range.
 *               pre_write is called for every data change, with len 0 when
 *               no old byte is lost (a plain fallocate).
 *
 * Neither returns an error: the live tree comes first (DESIGN 2.1), so a
 * failing journal records its failure and the application's operation goes
 * on.  With no journal attached (struct fs_hooks all NULL) the overlay is a
 * plain passthrough.  This header does not include FUSE, so the journal and
 * its tests do not depend on libfuse.
 */
#ifndef BACKUPFS_FS_HOOKS_H
#define BACKUPFS_FS_HOOKS_H

#include <sys/types.h>

struct fs_inode;

enum fs_change_kind {
	FS_CH_WRITE,		/* data written: off, len */
	FS_CH_TRUNCATE,		/* size set: off = new size */
	FS_CH_FALLOCATE,	/* off, len, flags = fallocate mode */
	FS_CH_SETATTR,		/* flags = FUSE_SET_ATTR_* bits */
	FS_CH_XATTR,		/* name = attribute name */
	FS_CH_CREATE,		/* parent/name -> inode (files, nodes, dirs,
				 * symlinks: newname = the target) */
	FS_CH_LINK,		/* new name parent/name for inode */
	FS_CH_UNLINK,		/* parent/name removed (file or directory) */
	FS_CH_RENAME,		/* parent/name -> newparent/newname, flags = RENAME_* */
	FS_CH_CUT,		/* a version boundary: flags = enum fs_cut_reason */
};

enum fs_cut_reason {
	FS_CUT_CLOSE,		/* last close of a file handle that wrote */
	FS_CUT_FSYNC,		/* fsync / fdatasync */
};

struct fs_change {
	enum fs_change_kind kind;
	struct fs_inode *inode;		/* the object changed, if known */
	struct fs_inode *parent;	/* namespace changes */
	const char *name;
	struct fs_inode *newparent;	/* rename */
	const char *newname;
	unsigned int flags;
	off_t off, len;
};

struct fs_hooks {
	void *ctx;
	void (*pre_write)(void *ctx, struct fs_inode *in, int fd,
			  off_t off, off_t len);
	void (*changed)(void *ctx, const struct fs_change *ch);
	void (*write_end)(void *ctx, struct fs_inode *in);
};

#endif
