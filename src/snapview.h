/*
 * snapview.h - the read-only .snapshots view of the past (doc/snapshots.md).
 *
 * Every directory D of the mount has a hidden entry ".snapshots": its
 * entries are the snapshots (by name) in which D existed, and any
 * "@TIME" (ISO 8601, reader_parse_time) looked up by name; each shows D's
 * subtree as it was at that instant, from meta.db and the packs.
 *
 * Nodes of the view are not struct fs_inode: their FUSE node ids are
 * pointers with the low bit set (snapview_is_node), so fs-ops.c sends
 * every request on them here, and refuses every mutation with EROFS.
 * Nodes live until the kernel forgets them.
 *
 * Threads: every call may come from any FUSE thread.  Metadata and
 * content are read through a pool of struct reader (one per thread at a
 * time), opened on first use (after the daemon's fork).
 */
#ifndef BACKUPFS_SNAPVIEW_H
#define BACKUPFS_SNAPVIEW_H

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 312
#endif
#include <fuse_lowlevel.h>
#include <stdint.h>

#define SNAPVIEW_NAME ".snapshots"

struct snapview;
struct repository;

/* repo is borrowed (the engine's unlocked repository). */
struct snapview *snapview_new(const char *state, struct repository *repo,
			      uint64_t root_dev, uint64_t root_ino,
			      double attr_timeout);
void snapview_free(struct snapview *v);

static inline int snapview_is_node(fuse_ino_t ino)
{
	return (ino & 1) && ino != FUSE_ROOT_ID;
}

/* ".snapshots" looked up in the real directory (dev, ino). */
void snapview_lookup_root(struct snapview *v, fuse_req_t req, uint64_t dev,
			  uint64_t ino);
void snapview_lookup(struct snapview *v, fuse_req_t req, fuse_ino_t parent,
		     const char *name);
void snapview_forget(struct snapview *v, fuse_ino_t ino, uint64_t nlookup);
void snapview_getattr(struct snapview *v, fuse_req_t req, fuse_ino_t ino);
void snapview_opendir(struct snapview *v, fuse_req_t req, fuse_ino_t ino,
		      struct fuse_file_info *fi);
void snapview_readdir(struct snapview *v, fuse_req_t req, fuse_ino_t ino,
		      size_t size, off_t off, struct fuse_file_info *fi,
		      int plus);
void snapview_releasedir(struct snapview *v, fuse_req_t req,
			 struct fuse_file_info *fi);
void snapview_open(struct snapview *v, fuse_req_t req, fuse_ino_t ino,
		   struct fuse_file_info *fi);
void snapview_read(struct snapview *v, fuse_req_t req, size_t size,
		   off_t off, struct fuse_file_info *fi);
void snapview_release(struct snapview *v, fuse_req_t req,
		      struct fuse_file_info *fi);
void snapview_readlink(struct snapview *v, fuse_req_t req, fuse_ino_t ino);
void snapview_lseek(struct snapview *v, fuse_req_t req, off_t off, int whence,
		    struct fuse_file_info *fi);
void snapview_getxattr(struct snapview *v, fuse_req_t req, fuse_ino_t ino,
		       const char *name, size_t size);
void snapview_listxattr(struct snapview *v, fuse_req_t req, fuse_ino_t ino,
			size_t size);

#endif
