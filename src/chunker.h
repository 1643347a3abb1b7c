/*
 * chunker.h - content-defined chunking (FastCDC with normalized chunking).
 *
 * What it is.  The chunker decides where a file's bytes are cut into chunks,
 * the unit of deduplication, compression and encryption (DESIGN.md §6).  A
 * cut point is chosen by the content around it, not by its offset, so an
 * insertion or deletion moves only the cut points near it: the chunks before
 * an edit are untouched and the ones after it are the same bytes at a shifted
 * offset, which dedup already has.
 *
 * The algorithm is FastCDC (Xia et al., USENIX ATC 2016; IEEE TPDS 2020): a
 * gear hash, fp = (fp << 1) + gear[byte], is rolled over the bytes of the
 * current chunk and a cut is made after a byte where (fp & mask) == 0.
 * Because of the shift, fp depends only on the last 64 bytes; the masks take
 * the top bits of fp, so every tested bit depends on the last 40 bytes or
 * more.  Normalized chunking, "NC level 2": with avg = 2^b, a harder mask
 * MaskS of b+2 bits is used while the chunk is shorter than avg and an easier
 * mask MaskL of b-2 bits after it.  That squeezes chunk sizes towards avg
 * (fewer tiny and fewer huge chunks) without losing the resynchronization.
 * The first min bytes of a chunk are skipped without hashing (the cut-point
 * skipping that makes FastCDC fast) and a chunk is cut at max regardless.
 *
 * Parameters.  min/avg/max are repository parameters stored, authenticated,
 * in the repository config (DESIGN.md §7): defaults 64 KiB / 256 KiB / 1 MiB.
 * The gear table is derived from a 32-byte seed that comes from the
 * repository's key material (the crypto layer derives it from the master key,
 * e.g. a crypto_kdf subkey with context "chunker"), so two repositories cut
 * the same file at different places and chunk sizes do not fingerprint known
 * content across repositories.  This is obfuscation, not cryptography: the
 * gear hash is not a PRF, and enough chosen plaintext could recover the
 * table.  The derivation is part of the repository format and is spelled out
 * in chunker.c; changing it, the seed or min/avg/max never corrupts a backup,
 * it only stops new chunks from deduplicating against old ones.
 *
 * How capture uses it.  A capture does not re-chunk a whole file: it starts
 * at the last chunk boundary of the previous version at or before the first
 * dirty byte and runs the chunker from there.  After the end of the dirty
 * range, as soon as a new cut point coincides with an old boundary (at the
 * same offset, or shifted by the size change when bytes were inserted or
 * removed), the chunkings are synchronized again: a cut depends only on the
 * bytes since the chunk start, so every later old chunk would be produced
 * again unchanged, and capture reuses them and jumps to the next dirty
 * range.  Typically that costs one to three chunks per dirty range.
 *
 * How often.  Every captured byte goes through the chunker exactly once (the
 * skipped min bytes are not even hashed), so it is on the capture hot path;
 * it runs at 1-2 GB/s on one core (bench/chunker.c), faster than the
 * BLAKE2b, zstd and encryption after it.  It allocates nothing, takes no
 * locks and keeps no global state: params are immutable after
 * chunker_params_init and may be shared by any number of threads; a
 * struct chunker belongs to one thread.
 *
 * Invariants.
 *  (1) Every chunk but a file's last has min < len <= max; the last has
 *      0 < len <= max.
 *  (2) Cut points are a pure function of (params, bytes since the chunk
 *      start): the same input gives the same chunks on every platform,
 *      whatever the buffer sizes the bytes were fed in.
 *  (3) chunker_cut and struct chunker cut at the same places.
 *  (4) No cut point lies more than 64 bytes into a run of one repeated
 *      byte value, and a chunk that starts inside such a run is not cut
 *      before the run ends (the table derivation rejects gear values that
 *      would), so zero-filled regions become max-size chunks that dedup to
 *      one chunk.
 */
#ifndef BACKUPFS_CHUNKER_H
#define BACKUPFS_CHUNKER_H

#include <stddef.h>
#include <stdint.h>

#define CHUNKER_SEED_SIZE	32
#define CHUNKER_DEFAULT_MIN	(64u << 10)
#define CHUNKER_DEFAULT_AVG	(256u << 10)
#define CHUNKER_DEFAULT_MAX	(1u << 20)
/* Limits chunker_params_init enforces. */
#define CHUNKER_MIN_MIN		64u		/* a full hash window */
#define CHUNKER_MIN_AVG		256u		/* MaskL keeps >= 6 bits */
#define CHUNKER_MAX_MAX		(16u << 20)	/* a chunk fits a pack */

struct chunker_params {
	size_t min, avg, max;
	uint64_t mask_s;	/* b+2 top bits, before avg */
	uint64_t mask_l;	/* b-2 top bits, from avg on */
	uint64_t gear[256];
};

/*
 * Validates min/avg/max (avg a power of two, CHUNKER_MIN_MIN <= min < avg <
 * max <= CHUNKER_MAX_MAX, avg >= CHUNKER_MIN_AVG) and derives the masks and
 * the gear table from seed.  Returns 0 or -EINVAL; *p is untouched on error.
 */
int chunker_params_init(struct chunker_params *p, size_t min, size_t avg,
			size_t max, const uint8_t seed[CHUNKER_SEED_SIZE]);

/*
 * Returns the length of the first chunk of buf[0..len), which starts a
 * chunk: the first cut point, or max if there is none before it.  If len <
 * max and buf holds no cut point, returns len: at EOF that is the last
 * chunk, otherwise the caller must supply more bytes (from the same chunk
 * start) and ask again.  A caller that keeps at least max bytes from the
 * chunk start in its buffer (or all that is left before EOF) therefore gets
 * a final answer from every call.  Never returns more than max; returns 0
 * only for len == 0.  Pure, so thread-safe.
 */
size_t chunker_cut(const struct chunker_params *p, const uint8_t *buf,
		   size_t len);

/*
 * Streaming form, for a caller that reads a file in buffers of any size and
 * does not want to keep max bytes contiguous: the hash state carries over
 * between calls, so no byte is hashed twice.
 *
 *	struct chunker c;
 *	chunker_init(&c, p);
 *	while ((len = read(...)) > 0)
 *		for (off = 0; off < len; off += n) {
 *			n = chunker_feed(&c, buf + off, len - off, &cut);
 *			append buf[off .. off+n) to the current chunk;
 *			if (cut)
 *				emit the current chunk, start a new one;
 *		}
 *	if (chunker_pending(&c) > 0)
 *		emit the current chunk (the file's last);
 */
struct chunker {
	const struct chunker_params *p;
	uint64_t fp;		/* gear hash of the current chunk so far */
	size_t pos;		/* bytes of the current chunk fed so far */
};

void chunker_init(struct chunker *c, const struct chunker_params *p);
/* Forgets the current chunk: the next byte fed starts a new one. */
void chunker_reset(struct chunker *c);

/*
 * Consumes the bytes of buf[0..len) that belong to the current chunk and
 * returns how many.  If the chunk ends within them, sets *cut to 1 and
 * resets c for the next chunk (the caller feeds the rest again); otherwise
 * all len bytes were consumed and *cut is 0.
 */
size_t chunker_feed(struct chunker *c, const uint8_t *buf, size_t len,
		    int *cut);

/* Bytes of the current, unfinished chunk fed so far. */
static inline size_t chunker_pending(const struct chunker *c)
{
	return c->pos;
}

/*
 * Splits a whole in-memory buffer, calling cb(arg, off, len) for each chunk
 * in order (the last one too).  Stops at the first nonzero return of cb and
 * returns it; returns 0 when every chunk was delivered.
 */
int chunker_split(const struct chunker_params *p, const uint8_t *buf,
		  size_t len, int (*cb)(void *arg, size_t off, size_t len),
		  void *arg);

#endif
