/*
 * fuzz-pack-index.c - libFuzzer target for the pack index parser
 * (pack_index_parse_plain) and the sealed index reader around it
 * (pack_read_index), which restore and `recover` run on index/<pack>
 * objects fetched from untrusted storage.
 *
 * The input is an index plaintext (format in src/pack.h).  Random bytes
 * never authenticate, so the plaintext parser is fuzzed directly, and the
 * input is also sealed under a fixed test key so pack_read_index's success
 * path is reached with the same bytes.  Checked on every input:
 *  (1) the raw input, taken as a sealed index, is rejected with -EBADMSG
 *      (it was not sealed under the key) and leaves the index empty;
 *  (2) the parser returns 0, -EBADMSG or -ENOMEM, nothing else, and an
 *      empty index on failure;
 *  (3) an accepted index is sorted by id with no id twice, every blob lies
 *      inside the body, the blobs tile the body exactly, and
 *      pack_index_find() finds every entry;
 *  (4) an accepted index rebuilds to the very input bytes (the parser
 *      accepts exactly what the writer writes, pack.h invariant 1), parses
 *      again with its own body length and not with another;
 *  (5) sealed under the test key and pack id, the input reads back through
 *      pack_read_index() with the parser's result, and fails under another
 *      pack id.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "banned.h"
#include "crypto.h"
#include "pack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int by_offset(const void *a, const void *b)
{
	const struct pack_entry *x = a, *y = b;

	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static void check_index(const struct pack_index *ix)
{
	struct pack_entry *e;
	uint64_t at = PACK_HEADER_BYTES;

	for (size_t i = 0; i < ix->n; i++) {
		if (i && memcmp(ix->entries[i - 1].id, ix->entries[i].id,
				CRYPTO_ID_BYTES) >= 0)
			abort();
		if (pack_index_find(ix, ix->entries[i].id) != &ix->entries[i])
			abort();
	}
	e = malloc((ix->n ? ix->n : 1) * sizeof(*e));
	if (!e)
		abort();
	memcpy(e, ix->entries, ix->n * sizeof(*e));
	qsort(e, ix->n, sizeof(*e), by_offset);
	for (size_t i = 0; i < ix->n; i++) {
		if (e[i].offset != at || e[i].sealed_len > ix->body_len ||
		    e[i].raw_len > PACK_CHUNK_MAX)
			abort();
		at += e[i].sealed_len;
	}
	if (at != PACK_HEADER_BYTES + ix->body_len)
		abort();
	free(e);
}

static void check_rebuild(const struct pack_index *ix, const uint8_t *data,
			  size_t size)
{
	struct pack_entry *e;
	struct pack_index again;
	uint8_t *p;
	size_t len;

	e = malloc((ix->n ? ix->n : 1) * sizeof(*e));
	if (!e)
		abort();
	memcpy(e, ix->entries, ix->n * sizeof(*e));
	qsort(e, ix->n, sizeof(*e), by_offset);
	if (pack_index_build_plain(e, ix->n, ix->body_len, &p, &len) != 0)
		abort();
	if (len != size || memcmp(p, data, size) != 0)
		abort();
	free(p);
	free(e);
	if (pack_index_parse_plain(data, size, ix->body_len, &again) != 0)
		abort();
	pack_index_release(&again);
	if (pack_index_parse_plain(data, size, ix->body_len + 1, &again) !=
	    -EBADMSG || again.entries)
		abort();
}

static void check_sealed(const struct master_key *mk,
			 const struct pack_index *ix, const uint8_t *data,
			 size_t size)
{
	static const uint8_t pack_id[PACK_ID_BYTES] = { 'f', 'u', 'z', 'z' };
	uint8_t ad[sizeof(PACK_AD_INDEX) + PACK_ID_BYTES], other[PACK_ID_BYTES];
	struct pack_index got;
	uint8_t *sealed;
	size_t slen;

	sealed = malloc(size + CRYPTO_SEAL_OVERHEAD);
	if (!sealed)
		abort();
	memcpy(ad, PACK_AD_INDEX, sizeof(PACK_AD_INDEX));
	memcpy(ad + sizeof(PACK_AD_INDEX), pack_id, PACK_ID_BYTES);
	if (crypto_seal(mk, ad, sizeof(ad), data, size, sealed,
			size + CRYPTO_SEAL_OVERHEAD, &slen) != 0)
		abort();
	if (pack_read_index(mk, pack_id, sealed, slen, &got) != 0 ||
	    got.n != ix->n || got.body_len != ix->body_len ||
	    memcmp(got.entries, ix->entries, ix->n * sizeof(*ix->entries)))
		abort();
	pack_index_release(&got);
	memcpy(other, pack_id, sizeof(other));
	other[31] ^= 1;
	if (pack_read_index(mk, other, sealed, slen, &got) != -EBADMSG ||
	    got.entries)
		abort();
	free(sealed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t pack_id[PACK_ID_BYTES] = { 'r', 'a', 'w' };
	static struct master_key mk;
	static int ready;
	struct pack_index ix;
	int err;

	if (!ready) {
		uint8_t master[CRYPTO_KEY_BYTES];

		if (crypto_init() < 0)
			abort();
		memset(master, 0x42, sizeof(master));
		crypto_master_key_load(&mk, master);
		ready = 1;
	}

	err = pack_read_index(&mk, pack_id, data, size, &ix);
	if (err != -EBADMSG || ix.entries || ix.n)
		abort();

	err = pack_index_parse_plain(data, size, PACK_BODY_UNKNOWN, &ix);
	if (err == -ENOMEM)
		return 0;
	if (err != 0) {
		if (err != -EBADMSG || ix.entries || ix.n)
			abort();
		return 0;
	}
	check_index(&ix);
	check_rebuild(&ix, data, size);
	check_sealed(&mk, &ix, data, size);
	pack_index_release(&ix);
	return 0;
}
