/*
 * capture.h - the capture engine: a file's bytes into chunks, packs and a
 * manifest (doc/versioning.md §5).
 *
 * What it does.  capture_file() reads a file (or, through a read_at
 * callback, the journal's view of it at a cut) and produces its manifest:
 * the ordered list of its chunks.  Each chunk is cut by the content-defined
 * chunker (chunker.h), named by its keyed id (crypto_chunk_id), and, unless
 * the chunk table or this capture already has it (dedup), compressed,
 * sealed and appended to the open pack in the staging directory (pack.h).
 * Given the previous version's manifest and the dirty byte ranges since
 * then, only the old chunks that hold a dirty byte are re-chunked: the
 * chunker restarts at the start of the first such chunk, and as soon as a
 * new cut point lands on an old boundary whose following chunk is clean,
 * the old entries are copied again unread (the chunker is a pure function
 * of the bytes since the chunk start, chunker.h invariant 2).
 *
 * capture_commit() makes a capture durable: it seals the open pack and, in
 * one meta transaction, records the new packs, their chunks, their upload
 * rows and the caller's version rows (through a callback).
 *
 * Staging directory, one flat directory:
 *
 *	<64 hex>.tmp       a pack being written (or a name being given)
 *	<64 hex>           a sealed, fsynced pack (the data/ object)
 *	<64 hex>.index     its sealed index (the index/<pack> object)
 *	*.tmp              anything else temporary
 *
 * Manifest blob (the version row's `manifest`), n entries of 44 bytes,
 * little endian, in file order:
 *
 *	off len
 *	  0   8  offset of the chunk in the file
 *	  8  32  chunk id
 *	 40   4  chunk length (raw)
 *
 * Numbered invariants:
 *  (1) A manifest built or decoded here is contiguous from offset 0 and
 *      every length is in [1, CHUNKER_MAX_MAX]; manifest_decode() rejects
 *      anything else with -EBADMSG (the blob comes back from the database
 *      or from a metadata backup: untrusted).
 *  (2) (versioning.md D) No row naming a chunk is committed before the
 *      chunk's pack is sealed, fsynced and renamed to its final name, and
 *      the staging directory fsynced.  capture_commit() writes the pack,
 *      chunk and upload rows and the caller's versions in one transaction.
 *  (3) (versioning.md Q) A pack file in staging either has a pack row or is
 *      removed by capture_recover() at the next start; so is every *.tmp.
 *  (4) A capture never holds a whole file in memory: one buffer of the
 *      chunker's max plus CAPTURE_READ_SIZE bytes.
 *  (5) A chunk id is added to packs at most once per capture (the pending
 *      set) and never when the chunk table has it.
 *
 * Threads: a struct capture belongs to one thread (it owns one pack
 * writer); two workers use two, each with its own struct meta or by
 * handing commits to the writer thread.  Errors: 0 or -errno.
 */
#ifndef BACKUPFS_CAPTURE_H
#define BACKUPFS_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

#include "chunker.h"
#include "compress.h"
#include "crypto.h"
#include "pack.h"

struct meta;

#define MANIFEST_ENTRY_BYTES	44
/* Bytes read per call beyond what the chunker needs. */
#define CAPTURE_READ_SIZE	(256u << 10)

struct manifest_entry {
	uint64_t offset;
	uint8_t id[CRYPTO_ID_BYTES];
	uint32_t length;
};

struct manifest {
	struct manifest_entry *e;
	size_t n, cap;
};

/* A dirty byte range [off, off + len) since the previous version. */
struct capture_range {
	uint64_t off, len;
};

struct capture_stats {
	uint64_t bytes_read;		/* through read_at */
	uint64_t chunks_new;		/* added to a pack */
	uint64_t bytes_new;		/* their raw bytes */
	uint64_t bytes_stored;		/* their sealed bytes */
	uint64_t chunks_dedup;		/* cut, but already stored */
	uint64_t chunks_kept;		/* copied unread from the old manifest */
	uint64_t packs_sealed;
};

/* A pack sealed (or being written) and not yet in meta. */
struct capture_pack {
	uint8_t name[PACK_ID_BYTES];
	uint64_t size;
};

/* A chunk added to a pack and not yet in meta. */
struct capture_chunk {
	uint8_t id[CRYPTO_ID_BYTES];
	uint64_t offset;		/* of the sealed blob in its pack */
	uint32_t sealed_len, raw_len;
	size_t pack;			/* index in capture.packs; SIZE_MAX: open */
};

/* A pack committed by this capture: meta's row id -> its name. */
struct capture_known {
	uint64_t pack_id;
	uint8_t name[PACK_ID_BYTES];
};

struct capture {
	struct meta *m;
	const struct master_key *mk;
	struct chunker_params cp;
	int dirfd;			/* staging; the caller's */
	uint64_t pack_target;		/* 0: PACK_TARGET_DEFAULT */
	int zstd_level;			/* 0: COMPRESS_LEVEL_DEFAULT */

	struct pack_writer w;
	int wfd;			/* open pack's fd, -1 if none */
	struct compressor z;		/* for reading blobs back */

	struct capture_pack *packs;	/* sealed, uncommitted */
	size_t npacks, packs_cap;
	struct capture_chunk *chunks;	/* in packs or the open one */
	size_t nchunks, chunks_cap;
	size_t *set;			/* open addressing: chunk index + 1 */
	size_t set_cap;			/* a power of two, or 0 */

	struct capture_known *known;
	size_t nknown, known_cap;
	/* The last pack index read by capture_read_chunk. */
	struct pack_index rix;
	uint8_t rix_name[PACK_ID_BYTES];
	int rix_valid;

	uint8_t *buf;			/* chunker max + CAPTURE_READ_SIZE */
	size_t bufcap;
	struct capture_stats st;
};

typedef int capture_read_fn(void *arg, uint64_t off, size_t len, void *buf);

/* --- manifests ---------------------------------------------------------- */

void manifest_release(struct manifest *m);
/* End of the last chunk: the file size the manifest describes. */
uint64_t manifest_size(const struct manifest *m);
int manifest_append(struct manifest *m, uint64_t offset,
		    const uint8_t id[CRYPTO_ID_BYTES], uint32_t length);
/* The blob for meta (malloc'd, at least 1 byte allocated even when empty). */
int manifest_encode(const struct manifest *m, uint8_t **out, size_t *len);
/* Parses a blob into out (released first); -EBADMSG, invariant 1. */
int manifest_decode(const void *blob, size_t len, struct manifest *out);

/* --- capture ------------------------------------------------------------ */

/*
 * The chunker uses the default sizes and mk->chunker as its seed.  m, mk
 * and staging_dirfd stay the caller's and must outlive c.
 */
int capture_init(struct capture *c, struct meta *m, const struct master_key *mk,
		 int staging_dirfd);
/*
 * Aborts and unlinks the open pack.  Sealed packs not committed stay in
 * staging for capture_recover() (invariant 3).
 */
void capture_release(struct capture *c);

/*
 * Captures a file of file_size bytes read through read_at (which must
 * return exactly len bytes or -errno) into *out (released first).
 * old == NULL: the whole file is chunked.  Otherwise old is the previous
 * version's manifest and dirty[0..ndirty) the ranges written since (any
 * order, may overlap, may reach past file_size); bytes outside them and
 * below min(file_size, manifest_size(old)) must be unchanged.  ndirty == 0
 * with old != NULL and an unchanged size returns a copy of old.
 * New chunks go to packs in staging; nothing is in meta until
 * capture_commit().  On failure *out is empty; chunks already added stay
 * pending (harmless: unreferenced until committed).
 */
int capture_file_cb(struct capture *c, capture_read_fn *read_at, void *arg,
		    uint64_t file_size, const struct manifest *old,
		    const struct capture_range *dirty, size_t ndirty,
		    struct manifest *out);
/* The same over fd with pread; the size is taken with fstat. */
int capture_file(struct capture *c, int fd, const struct manifest *old,
		 const struct capture_range *dirty, size_t ndirty,
		 struct manifest *out);

/*
 * Seals the open pack, writes every sealed pack's index beside it, and in
 * one meta transaction adds the packs, their chunks and upload rows (repo
 * 0), then calls add_versions(arg, m) (may be NULL) to add the caller's
 * rows.  On any failure the transaction is rolled back and the error
 * returned; the pending packs stay pending, so the call may be retried.
 */
int capture_commit(struct capture *c,
		   int (*add_versions)(void *arg, struct meta *m), void *arg);

/*
 * At start, before any capture: removes every *.tmp in staging and every
 * pack (with its .index) and stray .index that meta has no pack row for.
 * Returns how many files were removed, or -errno.  m must not be in a
 * transaction.
 */
int capture_recover(int staging_dirfd, struct meta *m);

/*
 * Reads a committed chunk back from its staged pack into buf (for tests
 * and restore from staging): meta gives the pack and offset, the pack's
 * trailer the raw length.  -ENOENT if meta or staging does not have it,
 * -EBADMSG if they disagree or the blob does not open, -ENOBUFS if cap is
 * too small.
 */
int capture_read_chunk(struct capture *c, const uint8_t id[CRYPTO_ID_BYTES],
		       void *buf, size_t cap, size_t *len);

#endif
