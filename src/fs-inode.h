/*
 * fs-inode.h - the overlay's table of live inodes.
 *
 * Every inode the kernel knows about (it holds a lookup count on it) has one
 * struct fs_inode here, keyed by the real file's (st_dev, st_ino), so that
 * hard links map to one FUSE node and keep one inode number.  Each entry
 * holds an O_PATH fd of the real object: the daemon works through *at()
 * calls on held fds, never through paths, which is what lets it mount over
 * SOURCE itself.
 *
 * Lifetime: created by a lookup (nlookup = 1) or found and nlookup++; the
 * kernel's FORGET lowers nlookup, and at zero the entry is unhashed, its fd
 * closed and it is freed.  The kernel sends no request for a node after it
 * has forgotten it, so no reference count beyond nlookup is needed.
 *
 * Locking: one mutex guards the hash table and every nlookup.  It is a leaf
 * lock: nothing else is taken while holding it, and it is never held across
 * a system call on a file or a fuse_reply_*().
 *
 * This file knows nothing of FUSE, so the unit tests use it directly.
 */
#ifndef BACKUPFS_FS_INODE_H
#define BACKUPFS_FS_INODE_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

struct fs_inode {
	struct fs_inode *next;	/* hash chain */
	int fd;			/* O_PATH | O_NOFOLLOW fd of the real object */
	dev_t dev;
	ino_t ino;
	mode_t type;		/* S_IFMT bits; they never change */
	uint64_t nlookup;	/* kernel references; guarded by the table lock */
};

struct inode_table {
	pthread_mutex_t lock;
	struct fs_inode **buckets;
	size_t nbuckets;	/* a power of two */
	size_t count;
};

int inode_table_init(struct inode_table *t);
/* Frees every entry still in the table and closes its fd. */
void inode_table_release(struct inode_table *t);

/*
 * Finds the entry for (st->st_dev, st->st_ino) and adds one lookup, or makes
 * a new one that takes ownership of fd.  *fd_used says which: when an
 * existing entry was found the caller still owns fd and must close it.
 * Returns NULL (ENOMEM) if a new entry could not be allocated.
 */
struct fs_inode *inode_table_get(struct inode_table *t, int fd,
				 dev_t dev, ino_t ino, mode_t type,
				 int *fd_used);

/* Adds n lookups to an entry the kernel already holds (link, readdirplus). */
void inode_table_ref(struct inode_table *t, struct fs_inode *in, uint64_t n);

/*
 * Drops n lookups; at zero the entry is removed, its fd closed and freed.
 * Returns 1 if it was freed.
 */
int inode_table_forget(struct inode_table *t, struct fs_inode *in, uint64_t n);

/* Inserts a permanent entry (the root), which forget never frees. */
void inode_table_pin(struct inode_table *t, struct fs_inode *in);

size_t inode_table_count(struct inode_table *t);

#endif
