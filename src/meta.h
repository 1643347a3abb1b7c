/*
 * meta.h - the metadata database (meta.db): the protected tree through time.
 *
 * What it is.  One SQLite database per protected SOURCE, in its state
 * directory (doc/versioning.md §1, §3).  It records which names existed
 * when (dentry rows valid in [t_from, t_to)), which file each name meant
 * (inode rows: identity across renames, shared by hard links), what each
 * file looked like at each saved instant (version rows), where the bytes are
 * (chunk and pack rows), what remains to upload (upload rows) and which
 * inodes have unsaved writes (dirty rows).  "The tree at T" is a query.
 *
 * How it is used.  The daemon's writer thread owns one struct meta opened
 * read-write and applies the overlay's events to it, grouping many in one
 * meta_begin()/meta_commit().  Readers (log, restore, .snapshots) open their
 * own struct meta: WAL mode lets them read while the writer writes.  A
 * struct meta is used by one thread at a time.
 *
 * Times are uint64_t nanoseconds since the epoch, issued by meta_now() and
 * strictly increasing for the life of the database.  Every write function
 * takes such a time t; every query takes an instant T and sees the state
 * "just after everything stamped <= T".  T = META_T_LIVE asks for the
 * present.
 *
 * Errors: 0 or -errno.  -ENOENT "no such name/inode/row", -EEXIST "already
 * there" (a unique constraint), -EINVAL a malformed argument or a broken
 * CHECK constraint, -EBUSY another writer holds the database past the busy
 * timeout, -EUCLEAN a corrupt database.  meta_errmsg() gives SQLite's text
 * for the log.
 */
#ifndef BACKUPFS_META_H
#define BACKUPFS_META_H

#include <stddef.h>
#include <stdint.h>

struct meta;

/* The schema this code writes; meta_open refuses a newer one. */
#define META_SCHEMA_VERSION 1

/* The root directory of the protected tree: created by meta_open(create)
 * as a directory born at t = 0 with no (dev, ino) (the mount binds them
 * with meta_inode_set_devino). */
#define META_ROOT_INODE 1

/* t_to of a live dentry; as a query instant T, "now" (the live tree). */
#define META_T_MAX ((uint64_t)INT64_MAX)
#define META_T_LIVE META_T_MAX

/* rename flags: the values of Linux's RENAME_NOREPLACE / RENAME_EXCHANGE. */
#define META_RENAME_NOREPLACE (1u << 0)
#define META_RENAME_EXCHANGE  (1u << 1)

/* Why a version was recorded (version.reason). */
enum meta_reason {
	META_REASON_CLOSE = 1,		/* close after writes */
	META_REASON_FSYNC,
	META_REASON_INTERVAL,		/* version_interval elapsed */
	META_REASON_SCAN,		/* found changed at mount, not exact */
	META_REASON_SNAPSHOT,
	META_REASON_META,		/* attributes only (chmod, chown, xattr) */
	META_REASON_SYNC,		/* backupfs sync / umount */
	META_REASON_CREATE,		/* a new object (empty file, dir, link) */
};

/* pack.state */
enum meta_pack_state {
	META_PACK_STAGED = 1,		/* sealed, fsynced in staging/ */
	META_PACK_UPLOADED,		/* every upload row done */
};

/*
 * One version of an inode.  kind is in the S_IFMT bits of mode.
 * manifest: packed (offset u64, chunk id [32], length u32) entries.  On
 * meta_version_add, manifest == NULL means "content unchanged since the
 * previous version" (stored as NULL and resolved on read, so a chmod of a
 * large file does not copy its manifest); an empty file passes a non-NULL
 * pointer with manifest_len 0.  On read, the pointers stay valid until the
 * callback returns (meta_versions) or until the next meta_version_at call
 * on the same struct meta.
 */
struct meta_version {
	uint64_t inode, t, size;
	uint32_t mode, uid, gid;
	int64_t mtime_ns;
	uint64_t rdev;
	int reason;			/* enum meta_reason */
	int exact;			/* bytes equal the file at t (invariant E) */
	const void *manifest;
	size_t manifest_len;
	const void *xattrs;
	size_t xattrs_len;
	const char *symlink;		/* NUL-terminated target, or NULL */
};

/*
 * Opens the database at path; with create, creates it (schema, root inode)
 * if it does not exist.  Refuses a database of a newer schema version or
 * one that is not a backupfs database.  On failure returns -errno and
 * writes one line for the user into err.
 */
int meta_open(const char *path, int create, struct meta **out, char *err,
	      size_t errlen);
/* Rolls back an open transaction, persists the clock, closes. */
void meta_close(struct meta *m);
/* SQLite's message for the last failure on m (for the log). */
const char *meta_errmsg(struct meta *m);

/* max(CLOCK_REALTIME, last issued + 1); persisted by the next commit (or
 * meta_close), so it stays monotonic across restarts. */
uint64_t meta_now(struct meta *m);

/*
 * Write transactions (BEGIN IMMEDIATE); not nested.  Write functions called
 * outside one run in a transaction of their own.  Commits are durable
 * (WAL, synchronous=FULL: one fsync per commit), so batch many events in
 * one transaction.
 * meta_begin_read opens a read transaction: a consistent view for several
 * queries, never blocking the writer; end it with meta_rollback.
 */
int meta_begin(struct meta *m);
int meta_begin_read(struct meta *m);
int meta_commit(struct meta *m);
int meta_rollback(struct meta *m);

/* --- inodes --------------------------------------------------------- */

/* kind: the S_IFMT bits.  -EEXIST if a live inode has (dev, ino). */
int meta_inode_new(struct meta *m, uint32_t kind, uint64_t dev, uint64_t ino,
		   uint64_t t, uint64_t *id);
/* The live (not died) inode with (dev, ino); -ENOENT if none. */
int meta_inode_find_live(struct meta *m, uint64_t dev, uint64_t ino,
			 uint64_t *id);
/* Re-binds a live inode to a real (dev, ino) (root at mount, rescans). */
int meta_inode_set_devino(struct meta *m, uint64_t id, uint64_t dev,
			  uint64_t ino);
/* The inode stops existing at t (last link gone and closed); -ENOENT if it
 * is not live. */
int meta_inode_die(struct meta *m, uint64_t id, uint64_t t);

/* --- names ---------------------------------------------------------- */

/* Opens the dentry (parent, name) -> inode, valid from t.  -EEXIST if the
 * name is live, -ENOENT if parent or inode does not exist, -EINVAL for an
 * empty name or one with '/' or NUL, -ENAMETOOLONG past 255 bytes. */
int meta_link(struct meta *m, uint64_t parent, const void *name,
	      size_t namelen, uint64_t inode, uint64_t t);
/* Closes the live dentry (parent, name) at t; -ENOENT if none. */
int meta_unlink(struct meta *m, uint64_t parent, const void *name,
		size_t namelen, uint64_t t);
/*
 * rename(2) at t.  Plain: closes the source's dentry and a replaced
 * target's, opens the target name -> source inode.  META_RENAME_NOREPLACE:
 * -EEXIST if the target is live.  META_RENAME_EXCHANGE: both must be live
 * (-ENOENT); two rows closed, two opened.  Renaming a directory touches two
 * rows whatever its subtree.  Renaming a name onto itself or onto another
 * link of the same inode changes nothing (as rename(2) does).
 */
int meta_rename(struct meta *m, uint64_t parent, const void *name,
		size_t namelen, uint64_t newparent, const void *newname,
		size_t newnamelen, uint64_t t, unsigned flags);

/* --- queries at an instant T ---------------------------------------- */

/* The inode that (parent, name) meant at T; -ENOENT if none. */
int meta_lookup(struct meta *m, uint64_t parent, const void *name,
		size_t namelen, uint64_t T, uint64_t *inode);
/* Calls cb for each name live in parent at T, in byte order of the names;
 * stops at and returns a non-zero return of cb.  kind: S_IFMT bits. */
int meta_readdir(struct meta *m, uint64_t parent, uint64_t T,
		 int (*cb)(void *arg, const void *name, size_t namelen,
			   uint64_t inode, uint32_t kind),
		 void *arg);
/* The path of inode at T ("/a/b/c.txt", "/" for the root), by walking
 * dentries up to META_ROOT_INODE; with several links, the oldest name.
 * -ENOENT if unreachable at T, -ENAMETOOLONG if it does not fit in len. */
int meta_path_at(struct meta *m, uint64_t inode, uint64_t T, char *buf,
		 size_t len);

/* --- versions ------------------------------------------------------- */

int meta_version_add(struct meta *m, const struct meta_version *v);
struct stat;
/* size (regular files and symlinks), mode, uid, gid, mtime_ns, rdev from
 * st; the rest of v is left alone. */
void meta_version_set_attrs(struct meta_version *v, const struct stat *st);
/* Every version of inode in order of t; stops at a non-zero return of cb. */
int meta_versions(struct meta *m, uint64_t inode,
		  int (*cb)(void *arg, const struct meta_version *v),
		  void *arg);
/* The latest version with t <= T; -ENOENT if none. */
int meta_version_at(struct meta *m, uint64_t inode, uint64_t T,
		    struct meta_version *out);

/* --- chunks, packs, uploads ----------------------------------------- */

int meta_chunk_find(struct meta *m, const uint8_t id[32], uint64_t *pack,
		    uint64_t *offset, uint32_t *length);
/* -EEXIST if the chunk is known (dedup should have found it). */
int meta_chunk_add(struct meta *m, const uint8_t id[32], uint64_t pack,
		   uint64_t offset, uint32_t length, uint32_t raw_length);
/* name: the pack's 32-byte id; class: storage class or NULL.  The pack
 * starts META_PACK_STAGED. */
int meta_pack_add(struct meta *m, const uint8_t name[32], uint64_t size,
		  const char *storage_class, uint64_t *pack_id);
/* The 32-byte name of pack pack_id; -ENOENT if there is none. */
int meta_pack_name(struct meta *m, uint64_t pack_id, uint8_t name[32]);
int meta_upload_enqueue(struct meta *m, uint64_t pack_id, uint64_t repo_id);
/* The oldest pending upload due at now; -ENOENT if none. */
int meta_upload_next(struct meta *m, uint64_t now, uint64_t *pack_id);
/* A failed attempt: tries + 1, not before next_try. */
int meta_upload_retry(struct meta *m, uint64_t pack_id, uint64_t next_try);
/* Marks the pack's upload rows done and the pack META_PACK_UPLOADED. */
int meta_upload_done(struct meta *m, uint64_t pack_id);

/* --- dirty inodes --------------------------------------------------- */

/* Records that inode has unsaved writes since `since` (an existing row
 * keeps its older time). */
int meta_dirty_set(struct meta *m, uint64_t inode, uint64_t since);
int meta_dirty_clear(struct meta *m, uint64_t inode);
int meta_dirty_each(struct meta *m,
		    int (*cb)(void *arg, uint64_t inode, uint64_t since),
		    void *arg);

/* --- daemon and readers --------------------------------------------- */

/* The most recent dentry (parent, name), live or not: its inode and
 * interval (t_to = META_T_MAX while live).  -ENOENT if the name never
 * existed. */
int meta_lookup_latest(struct meta *m, uint64_t parent, const void *name,
		       size_t namelen, uint64_t *inode, uint64_t *t_from,
		       uint64_t *t_to);
/* How many names inode has at T (>= 0), or -errno. */
int meta_inode_links(struct meta *m, uint64_t inode, uint64_t T);
/* kind (S_IFMT), born, died (META_T_MAX while live); NULLs allowed. */
int meta_inode_info(struct meta *m, uint64_t inode, uint32_t *kind,
		    uint64_t *born, uint64_t *died);
/* The dirty row of inode now says `since` (an existing row is replaced:
 * the first write after a cut). */
int meta_dirty_reset(struct meta *m, uint64_t inode, uint64_t since);
/* Deletes inode's dirty row if it is not newer than t (the cut that was
 * just committed): a write after the cut keeps it. */
int meta_dirty_clear_upto(struct meta *m, uint64_t inode, uint64_t t);

struct meta_stats {
	uint64_t versions, chunks, packs, live_files, dirty;
	uint64_t chunk_raw_bytes;	/* unique data, before compression */
	uint64_t chunk_stored_bytes;	/* sealed */
	uint64_t pack_bytes;		/* all packs */
	uint64_t uploaded_bytes;	/* packs in the repository */
	uint64_t upload_packs, upload_bytes;	/* waiting for upload */
	uint64_t logical_bytes;		/* sum of content versions' sizes */
	uint64_t oldest_dirty;		/* since of the oldest dirty row, or 0 */
};
int meta_get_stats(struct meta *m, struct meta_stats *st);
/* The state (enum meta_pack_state) of the pack named name; -ENOENT. */
int meta_pack_state(struct meta *m, const uint8_t name[32], int *state);
/* The highest pack row id (0 if none). */
int meta_pack_max(struct meta *m, uint64_t *pack_id);
/* How many uploads of packs with id <= upto are not done. */
int meta_upload_pending(struct meta *m, uint64_t upto, uint64_t *count);
/* The (dev, ino) an inode was last bound to (0, 0 for none). */
int meta_inode_devino(struct meta *m, uint64_t inode, uint64_t *dev,
		      uint64_t *ino);

/* --- snapshots: named instants (doc/snapshots.md) ------------------- */

#define META_SNAPSHOT_NAME_MAX 64
enum meta_snapshot_kind { META_SNAP_SCHEDULED = 1, META_SNAP_MANUAL = 2 };

struct meta_snapshot {
	char name[META_SNAPSHOT_NAME_MAX + 1];
	uint64_t t;
	int kind, pinned;
};

/* -EEXIST if the name is taken. */
int meta_snapshot_add(struct meta *m, const char *name, uint64_t t, int kind,
		      int pinned);
/* -ENOENT if there is none by that name. */
int meta_snapshot_find(struct meta *m, const char *name,
		       struct meta_snapshot *out);
/* Regular files alive at T and the sum of their sizes. */
int meta_tree_size_at(struct meta *m, uint64_t T, uint64_t *files,
		      uint64_t *bytes);
/* Every snapshot in order of time; stops at a non-zero return of cb. */
int meta_snapshots(struct meta *m,
		   int (*cb)(void *arg, const struct meta_snapshot *sn),
		   void *arg);

#endif
