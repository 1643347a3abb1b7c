/*
 * reader.h - read access to a protected tree's history: which file a path
 * meant at an instant, and that file's bytes at one of its versions.
 *
 * Used by "backupfs log" and "backupfs cat" (cmd-log.c), later by restore
 * and the .snapshots view.  A reader owns one struct meta on the state's
 * meta.db (WAL mode: it reads while a daemon writes) and, once unlocked,
 * the repository's master key for content.  It never writes a row.
 *
 * Where content comes from.  A version's manifest (capture.h) lists its
 * chunks; each chunk's pack comes from meta (meta_chunk_find,
 * meta_pack_name), and the pack is read, in this order, from
 * STATE/staging/<64 hex> (sealed, maybe not uploaded yet), STATE/cache/<64
 * hex> (an uploaded pack kept locally), else the repository object
 * data/<2 hex>/<64 hex> by range: only the blob's bytes are fetched, never
 * the pack's index, so restoring one file from an archive tier touches one
 * range per chunk.  Each blob is opened with pack_open_blob(): it
 * authenticates under the chunk id and must decompress to exactly the
 * length the manifest gives, so a flipped bit anywhere, a blob moved to
 * another offset, or a database naming the wrong chunk fails, and nothing
 * that did not authenticate reaches the caller's buffer.  The local copy of
 * a pack is trusted no more than the repository's: a corrupt local copy is
 * an error naming that file (no silent fallback: the user must learn that
 * the disk is damaging data).
 *
 * Decoded chunks are kept in a small LRU cache (READER_CACHE_* below), and
 * the last version's decoded manifest too, so sequential reads of small
 * pieces (FUSE reads of 128 KiB) open each blob once.
 *
 * Errors: 0 or -errno.  Every failure that concerns an object leaves one
 * line for the user in reader_errmsg(), naming the object (the pack file or
 * the repository object and the chunk), e.g. "pack file '/var/lib/backupfs/
 * x/staging/ab...' is corrupt: the blob of chunk 1f2e3d4c5b6a7988 at offset
 * 1234 (5678 bytes) does not authenticate".  -EBADMSG corrupt or forged
 * data, -EUCLEAN a database that contradicts itself (a chunk or pack row
 * missing), -ENOKEY content asked of a reader that is not unlocked,
 * -ENOENT no such name or version.
 *
 * Threads.  A struct reader is used by one thread at a time (its struct
 * meta, compressor and caches are not locked).  Threads that read
 * concurrently each open their own reader; with reader_open_shared() they
 * share one unlocked repository (repo.h backends are thread-safe and the
 * master key is only read), so only one password and one Argon2 run are
 * needed.  reader_locate(), reader_parse_time() and reader_format_time()
 * are reentrant.
 */
#ifndef BACKUPFS_READER_H
#define BACKUPFS_READER_H

#include <stddef.h>
#include <stdint.h>

#include "meta.h"

struct reader;
struct repository;

/* The chunk cache: at most this many decoded chunks and this many bytes
 * (one chunk is always kept, whatever its size). */
#define READER_CACHE_CHUNKS	16
#define READER_CACHE_BYTES	(32u << 20)

/* Room for reader_format_time()'s output, NUL included. */
#define READER_TIME_LEN		32

/*
 * Finds the state directory for a user's PATH and PATH's place in the
 * protected tree.  PATH (absolute or relative to the working directory)
 * need not exist any more: the longest existing prefix is canonicalised
 * with realpath and the rest appended (".", ".." and "//" in it folded
 * lexically).  The last component is not followed if it is a symbolic
 * link: "log link" is the link's history.
 *
 * PATH may lie in a backupfs mount (over SOURCE or elsewhere: the mount's
 * fsname in /proc/self/mountinfo is its SOURCE) or in a registered SOURCE
 * that is not mounted (state.h's registry).  With state_opt, that state is
 * used; PATH is then taken relative to the SOURCE registered for it or the
 * mount of that SOURCE if it lies in one, else as a path inside the
 * protected tree ("/docs/a" is SOURCE/docs/a), for a state whose SOURCE is
 * gone.
 *
 * Out: state (the state directory) and rel, PATH relative to SOURCE ("/"
 * for SOURCE itself, "/a/b" below it).  On failure -errno and one line for
 * the user in err.
 */
int reader_locate(const char *path, const char *state_opt, char *state,
		  size_t slen, char *rel, size_t rlen, char *err,
		  size_t errlen);

/*
 * Opens the state directory's meta.db (meta_open without create: a missing
 * database is an error saying to run init).  With with_key, also unlocks
 * the repository named in STATE/repo with the password from password_get()
 * (password_file, else $BACKUPFS_PASSWORD, else a prompt), as
 * reader_unlock() does.  On failure -errno and one line for the user in err
 * (a wrong password names the repository).
 */
int reader_open(const char *state, int with_key, const char *password_file,
		struct reader **out, char *err, size_t errlen);

/*
 * The same with a repository the caller already unlocked (the daemon, or
 * several readers in several threads); repo stays the caller's and must
 * outlive the reader.  repo may be NULL: not unlocked.
 */
int reader_open_shared(const char *state, struct repository *repo,
		       struct reader **out, char *err, size_t errlen);

/* Unlocks a reader opened without a key (see reader_open); 0 if it already
 * is. */
int reader_unlock(struct reader *r, const char *password_file, char *err,
		  size_t errlen);

void reader_close(struct reader *r);

/* The reader's database, for the queries of meta.h (versions, path_at,
 * readdir); the same one-thread rule applies. */
struct meta *reader_meta(struct reader *r);
/* The state directory and the repository URL (from STATE/repo, "" if it
 * could not be read). */
const char *reader_state(const struct reader *r);
const char *reader_repo_url(const struct reader *r);
/* One line describing the last failure that concerned an object ("" if
 * none): valid until the next call on r. */
const char *reader_errmsg(const struct reader *r);

/*
 * The inode that rel ("/a/b"; "/" is the root) named at T, walking each
 * name with meta_lookup.  With T == META_T_LIVE, a name that is not live
 * falls back to its latest dentry (meta_lookup_latest), so a deleted file
 * (or one in a deleted directory) is still found.  -ENOENT if a name did not
 * exist then, -EINVAL for a ".." component.
 */
int reader_resolve(struct reader *r, const char *rel, uint64_t T,
		   uint64_t *inode);

/* When the history starts: the first version of the root (the import).
 * -ENOENT for an empty database. */
int reader_history_start(struct reader *r, uint64_t *t);

/*
 * A version's content size: the end of its manifest (a version with a NULL
 * manifest shares the previous content version's, which meta resolves;
 * 0 for what is not a regular file).  v is as meta_version_at() or
 * meta_versions() filled it.  -EUCLEAN for a regular file without a
 * manifest, -EBADMSG for a malformed one.
 */
int reader_size(struct reader *r, const struct meta_version *v,
		uint64_t *size);

/*
 * Reads up to len bytes of v's content at off into buf; *got < len only at
 * the end of the content.  Needs an unlocked reader (-ENOKEY).  On failure
 * *got says how many leading bytes of buf are valid (all authenticated),
 * nothing past them was written with unauthenticated data, and
 * reader_errmsg() names the object.
 */
int reader_read(struct reader *r, const struct meta_version *v, uint64_t off,
		void *buf, size_t len, size_t *got);

/*
 * Times for users.  reader_parse_time() accepts ISO 8601
 * "2026-11-23T10:17:33Z": a date, optionally 'T' (or a space) and
 * HH:MM[:SS[.fraction up to 9 digits]], optionally a zone: "Z", "+08:00",
 * "-0500", "+08"; without a zone the time is local; a date alone is its
 * midnight.  "@<integer>" is nanoseconds since the epoch.  -EINVAL for
 * anything malformed (out-of-range fields included), -ERANGE for a time
 * before 1970 or past 2262 (where nanoseconds leave int64).
 * reader_format_time() writes "2026-11-23T10:17:33.250000000Z" (UTC, all
 * nine digits: times in meta.db are distinct nanoseconds).
 */
int reader_parse_time(const char *s, uint64_t *ns);
void reader_format_time(uint64_t ns, char *buf, size_t len);

/* --- for restore (appended) --------------------------------------------- */

/*
 * Content one chunk at a time, without a copy (restore looks at each
 * chunk whole: a chunk of zeros is a hole): *data points to v's bytes from
 * off to the end of the chunk holding off, *len of them (0 at or past the
 * end).  They live in the reader's chunk cache and stay valid until the
 * next call on r.  Errors and messages as reader_read().
 */
int reader_chunk(struct reader *r, const struct meta_version *v, uint64_t off,
		 const void **data, size_t *len);

/* Longest xattr name (Linux's XATTR_NAME_MAX); the NUL is extra. */
#define READER_XATTR_NAME_MAX	255

/*
 * Walks a version's xattrs blob (doc/versioning.md §9: entries of u16 name
 * length, name, u32 value length, value, little endian).  *pos starts at
 * 0.  Each call gives the next entry: its name, NUL-terminated, in name
 * (room for READER_XATTR_NAME_MAX + 1) and its value as a pointer into
 * blob.  1 for an entry, 0 at the end, -EBADMSG for a malformed blob (an
 * entry past the end, an empty name, a NUL in it, or one too long): the
 * blob comes from the database and is not trusted.
 */
int reader_xattr_next(const void *blob, size_t len, size_t *pos, char *name,
		      const void **value, size_t *vlen);

#endif
