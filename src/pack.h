/*
 * pack.h - packs: many sealed chunks in one repository object.
 *
 * Archive storage tiers charge per object and round small objects up (S3
 * Glacier: 40 KiB of metadata and a 128 KiB minimum per object), so chunks
 * of ~256 KiB are not stored one object each but appended to a pack of
 * ~16 MiB (PACK_TARGET_DEFAULT; the caller decides when a pack is full by
 * pack_writer_full() or its own target).  Capture workers write a pack to a
 * staging file, one pack_writer per worker; restore reads one blob by range
 * after looking it up in the pack's index, which is stored twice: as the
 * pack's trailer and as the separate object index/<pack> in the standard
 * tier, so that browsing and planning a restore never touch an archived
 * pack.  Pack id: 32 random bytes, named data/<first 2 hex>/<64 hex> and
 * index/<64 hex> in the repository.
 *
 * Pack file, all integers little endian:
 *
 *	off        len
 *	  0          8  magic "BFSPACK1"
 *	  8          4  format version (PACK_VERSION = 1)
 *	 12          4  reserved, zero
 *	 16          -  body: blobs back to back, no framing between them
 *	 16+B        L  sealed index (below)
 *	 16+B+L      4  L, the sealed index length
 *	 20+B+L      8  magic "BFSPACK1" again
 *
 * A reader finds the index with two reads from the end: the last 12 bytes
 * give L, then L bytes before them.  The header is only for humans and
 * `verify` (pack_check_header()); nothing a reader believes comes from an
 * unauthenticated byte: L is bounded by the pack size and PACK_INDEX_MAX,
 * and everything else is inside a sealed blob.
 *
 * Blob (one per chunk): the crypto_seal() output (nonce[24] || ciphertext
 * || tag[16], crypto.h) of the chunk compressed by compressor_compress()
 * (a 1-byte header, then zstd or raw; compress.h), sealed with associated
 * data "chunk\0" || chunk id (6 + 32 bytes).  A blob therefore opens only
 * under the id the index names for it, and never as an index.
 *
 * Sealed index: crypto_seal() of the plaintext index below, associated data
 * "pindex\0" || pack id (7 + 32 bytes), so an index opens only for its own
 * pack and never as a chunk.  The same bytes are the index/<pack> object.
 * Plaintext index:
 *
 *	off        len
 *	  0          4  index format version (PACK_VERSION)
 *	  4          4  n, number of entries (<= PACK_INDEX_MAX_ENTRIES)
 *	  8          8  B, body length in bytes (blobs only, header excluded)
 *	 16      48 * n entries in body order:
 *	                  0  32  chunk id
 *	                 32   8  offset of the blob in the pack file
 *	                 40   4  sealed length of the blob
 *	                 44   4  raw (uncompressed) chunk length
 *	 16+48n      -  zero padding up to a multiple of PACK_INDEX_PAD bytes
 *
 * The index is not compressed: two thirds of an entry is a random-looking
 * id, and compression would undo the padding.  The padding hides the exact
 * number of chunks in a pack from whoever sees the object sizes.
 *
 * What a pack leaks to its storage: the pack's total size and the index's
 * padded size, nothing per chunk, since blobs have no visible framing.  A
 * restore that fetches one blob by range does reveal that blob's offset and
 * sealed length, hence its compressed size to within CRYPTO_SEAL_OVERHEAD +
 * 1 bytes; its raw size stays in the sealed index.  This is accepted.
 *
 * Numbered invariants:
 *  (1) The index parser (pack_index_parse_plain) accepts exactly what the
 *      writer writes: version 1, n bounded by the plaintext length before
 *      anything is allocated, blobs contiguous from offset 16 and ending at
 *      16 + B, each sealed length between CRYPTO_SEAL_OVERHEAD + 1 and raw
 *      length + 1 + CRYPTO_SEAL_OVERHEAD (compress.h never grows a blob by
 *      more than its header byte), raw length <= PACK_CHUNK_MAX, no id
 *      twice, padding exact and zero.  Anything else is -EBADMSG.
 *  (2) A pack_writer never writes an index it would not read back: ids are
 *      checked for duplicates and sizes bounded before the trailer goes out.
 *  (3) pack_writer_finish() returns only after the whole pack, trailer
 *      included, is fsynced (versioning.md invariant D), and the file holds
 *      nothing after the trailer (a failed append is overwritten or cut).
 *  (4) pack_open_blob() writes to the caller's buffer only bytes that
 *      authenticated; on any failure the buffer's first raw_len bytes (at
 *      most outcap) are zeroed.
 *
 * Errors: 0 or -errno.  -EBADMSG for anything corrupt or forged (wrong
 * key, wrong id or pack id, truncated, altered), -ENOBUFS when the caller's
 * buffer is too small, -ENOMEM, -EIO and whatever read_at or the fd
 * returned.  Nothing here logs or names an object: the caller adds the
 * object's name to the message.  A pack_writer is used by one thread;
 * everything else is reentrant.
 */
#ifndef BACKUPFS_PACK_H
#define BACKUPFS_PACK_H

#include <stddef.h>
#include <stdint.h>

#include "compress.h"
#include "crypto.h"

#define PACK_MAGIC		"BFSPACK1"	/* 8 bytes, no NUL */
#define PACK_MAGIC_BYTES	8
#define PACK_VERSION		1
#define PACK_HEADER_BYTES	16
#define PACK_TRAILER_BYTES	12		/* index length + magic */
#define PACK_ID_BYTES		32
#define PACK_ENTRY_BYTES	48
#define PACK_INDEX_HEAD_BYTES	16
#define PACK_INDEX_PAD		4096
#define PACK_TARGET_DEFAULT	(16ULL << 20)

/* Largest chunk a pack holds: the chunker's own maximum. */
#define PACK_CHUNK_MAX		(16u << 20)
/*
 * Most entries in one pack: 2^20 chunks of the chunker's smallest average
 * (256 bytes) is 256 MiB of chunks, far past any sane target size, and its
 * index 48 MiB.  A reader never allocates for more than this, nor for more
 * than the index's length can hold.
 */
#define PACK_INDEX_MAX_ENTRIES	(1u << 20)
#define PACK_INDEX_MAX_PLAIN \
	((PACK_INDEX_HEAD_BYTES + PACK_ENTRY_BYTES * PACK_INDEX_MAX_ENTRIES + \
	  PACK_INDEX_PAD - 1) / PACK_INDEX_PAD * PACK_INDEX_PAD)
#define PACK_INDEX_MAX		(PACK_INDEX_MAX_PLAIN + CRYPTO_SEAL_OVERHEAD)

/* Associated data prefixes (with their NUL). */
#define PACK_AD_CHUNK		"chunk"		/* 6 bytes, then the id */
#define PACK_AD_INDEX		"pindex"	/* 7 bytes, then the pack id */

struct pack_entry {
	uint8_t id[CRYPTO_ID_BYTES];
	uint64_t offset;	/* of the sealed blob in the pack file */
	uint32_t sealed_len;
	uint32_t raw_len;
};

struct pack_index {
	struct pack_entry *entries;	/* sorted by id */
	size_t n;
	uint64_t body_len;		/* B: the blobs' bytes */
};

struct pack_writer {
	const struct master_key *mk;
	int fd;				/* the caller's; never closed here */
	uint8_t pack_id[PACK_ID_BYTES];	/* drawn at open */
	uint64_t size;			/* header + blobs written so far */
	uint64_t target;		/* pack_writer_full() threshold */
	struct compressor z;
	struct pack_entry *entries;	/* in body order */
	size_t n, cap;
	uint8_t *cbuf, *sbuf;		/* compressed, sealed: reused */
	size_t ccap, scap;
	int open;
};

/*
 * Starts a pack in fd, a new empty staging file the caller created (and
 * will name, rename or unlink; it stays open).  Writes the header with
 * pwrite(), so fd's position does not matter.  target is set to
 * PACK_TARGET_DEFAULT; the caller may change w->target.
 */
int pack_writer_open(struct pack_writer *w, const struct master_key *mk,
		     int fd);

/*
 * Compresses, seals and appends one chunk.  The caller dedups: an id added
 * twice makes finish fail with -EINVAL.  -EFBIG if len > PACK_CHUNK_MAX or
 * the pack already has PACK_INDEX_MAX_ENTRIES chunks; -EINVAL if the writer
 * is not open.  On failure the pack is as before the call.
 */
int pack_writer_add(struct pack_writer *w, const uint8_t id[CRYPTO_ID_BYTES],
		    const void *data, size_t len);

/* Bytes written so far (header and blobs, not the trailer to come). */
uint64_t pack_writer_size(const struct pack_writer *w);
/* Whether size has reached w->target: time to finish. */
int pack_writer_full(const struct pack_writer *w);
/* Chunks added so far. */
size_t pack_writer_count(const struct pack_writer *w);

/*
 * Seals the index, appends the trailer, truncates the file to its end and
 * fsyncs it.  On success the pack id goes to pack_id_out, the sealed index
 * (the index/<pack> object, malloc'd, the caller frees it) to *index_out
 * and *index_len, and the writer is released.  On failure nothing is
 * returned and the writer stays open: the caller calls pack_writer_abort()
 * and discards the staging file.
 */
int pack_writer_finish(struct pack_writer *w, uint8_t pack_id_out[PACK_ID_BYTES],
		       void **index_out, size_t *index_len);

/*
 * Releases the writer without finishing; the file is the caller's to
 * unlink.  Safe after finish and on a zeroed writer.
 */
void pack_writer_abort(struct pack_writer *w);

/*
 * Opens and parses a sealed index (the index/<pack> object or a pack's
 * trailer) of the pack pack_id into out, sorted by id.  The caller
 * releases out with pack_index_release() on success; on failure out is
 * empty.
 */
int pack_read_index(const struct master_key *mk,
		    const uint8_t pack_id[PACK_ID_BYTES],
		    const void *sealed_index, size_t len,
		    struct pack_index *out);

/*
 * Reads exactly len bytes at off into buf: 0, or -errno (-EIO for a short
 * read).  Over a local file (pread) or a repository's get_range.
 */
typedef int pack_read_at_fn(void *arg, uint64_t off, size_t len, void *buf);

/*
 * Finds, opens and parses the index at the end of a pack of pack_size bytes
 * with two read_at calls.  If sealed_out is not NULL the sealed index bytes
 * are returned there too (malloc'd), e.g. to put a lost index/<pack> back.
 * The parsed index must also agree with pack_size: its body must end where
 * the trailer starts.
 */
int pack_read_trailer(const struct master_key *mk,
		      const uint8_t pack_id[PACK_ID_BYTES], uint64_t pack_size,
		      pack_read_at_fn *read_at, void *arg,
		      struct pack_index *out,
		      void **sealed_out, size_t *sealed_len);

/* Checks a pack's first PACK_HEADER_BYTES: -EBADMSG if they are not ours. */
int pack_check_header(const void *buf, size_t len);

/* The entry for id, or NULL.  O(log n). */
const struct pack_entry *pack_index_find(const struct pack_index *ix,
					 const uint8_t id[CRYPTO_ID_BYTES]);

void pack_index_release(struct pack_index *ix);

/*
 * Opens one blob: authenticates sealed under "chunk\0" || id, decompresses
 * into out and checks the result is raw_len bytes (from the index entry or
 * the chunk table).  -ENOBUFS if outcap < raw_len; -EBADMSG for a blob that
 * does not authenticate or does not decompress to exactly raw_len bytes.
 * z is a compressor to reuse, or NULL for a context made for this call.
 */
int pack_open_blob(const struct master_key *mk, struct compressor *z,
		   const uint8_t id[CRYPTO_ID_BYTES], uint32_t raw_len,
		   const void *sealed, size_t sealed_len,
		   void *out, size_t outcap, size_t *outlen);

/*
 * Internal, exposed for the fuzzer and tests: parses an index plaintext.
 * body_len is the body length the caller knows from the pack's size, or
 * PACK_BODY_UNKNOWN when the index was read on its own; the index's own B
 * must equal it when known.
 */
#define PACK_BODY_UNKNOWN	UINT64_MAX
int pack_index_parse_plain(const void *plain, size_t len, uint64_t body_len,
			   struct pack_index *out);

/*
 * Internal, exposed for the fuzz corpus generator and tests: the plaintext
 * of an index for entries[0..n) in body order (padded; malloc'd).
 */
int pack_index_build_plain(const struct pack_entry *entries, size_t n,
			   uint64_t body_len, uint8_t **out, size_t *outlen);

#endif
