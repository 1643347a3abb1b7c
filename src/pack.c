/*
 * pack.c - writing packs to a staging file and reading them back (format
 * and invariants in pack.h).
 *
 * The writer appends with pwrite() at its own running offset instead of
 * write(): a failed append (ENOSPC halfway through a blob) leaves the
 * logical pack unchanged, the next append overwrites the partial bytes, and
 * finish cuts the file at the trailer's end (pack.h invariant 3).  Each
 * writer keeps one compressor and two growing buffers (compressed, sealed),
 * so a worker that fills a 16 MiB pack with 64 chunks allocates a handful
 * of times, not 64.
 *
 * The reader's only parser of untrusted bytes is pack_index_parse_plain();
 * it runs on authenticated plaintext, but is written (and fuzzed) as if it
 * did not: every count and offset is bounded before it is used.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "banned.h"
#include "chunker.h"
#include "fdio.h"
#include "pack.h"
#include "util.h"
#include "le.h"

_Static_assert(PACK_CHUNK_MAX == CHUNKER_MAX_MAX,
	       "a pack must hold the chunker's largest chunk");
_Static_assert(PACK_INDEX_MAX <= UINT32_MAX,
	       "the trailer stores the sealed index length in 32 bits");

#define AD_CHUNK_BYTES	(sizeof(PACK_AD_CHUNK) + CRYPTO_ID_BYTES)
#define AD_INDEX_BYTES	(sizeof(PACK_AD_INDEX) + PACK_ID_BYTES)

static void chunk_ad(uint8_t ad[AD_CHUNK_BYTES],
		     const uint8_t id[CRYPTO_ID_BYTES])
{
	memcpy(ad, PACK_AD_CHUNK, sizeof(PACK_AD_CHUNK));
	memcpy(ad + sizeof(PACK_AD_CHUNK), id, CRYPTO_ID_BYTES);
}

static void index_ad(uint8_t ad[AD_INDEX_BYTES],
		     const uint8_t pack_id[PACK_ID_BYTES])
{
	memcpy(ad, PACK_AD_INDEX, sizeof(PACK_AD_INDEX));
	memcpy(ad + sizeof(PACK_AD_INDEX), pack_id, PACK_ID_BYTES);
}

static int cmp_id(const void *a, const void *b)
{
	return memcmp(((const struct pack_entry *)a)->id,
		      ((const struct pack_entry *)b)->id, CRYPTO_ID_BYTES);
}

/* Grows *buf to at least need bytes; contents are not kept. */
static int reserve(uint8_t **buf, size_t *cap, size_t need)
{
	uint8_t *p;

	if (*cap >= need)
		return 0;
	p = malloc(need);
	if (!p)
		return -ENOMEM;
	if (*buf) {
		sodium_memzero(*buf, *cap);	/* chunk plaintext, compressed */
		free(*buf);
	}
	*buf = p;
	*cap = need;
	return 0;
}

/* --- writer ------------------------------------------------------------ */

int pack_writer_open(struct pack_writer *w, const struct master_key *mk,
		     int fd)
{
	uint8_t hdr[PACK_HEADER_BYTES] = { 0 };
	int err;

	memset(w, 0, sizeof(*w));
	if (!mk || fd < 0)
		return -EINVAL;
	err = compressor_init(&w->z, 0);
	if (err)
		return err;
	memcpy(hdr, PACK_MAGIC, PACK_MAGIC_BYTES);
	put_le32(hdr + 8, PACK_VERSION);
	err = fd_pwrite_all(fd, hdr, sizeof(hdr), 0);
	if (err) {
		compressor_release(&w->z);
		return err;
	}
	w->mk = mk;
	w->fd = fd;
	w->size = PACK_HEADER_BYTES;
	w->target = PACK_TARGET_DEFAULT;
	randombytes_buf(w->pack_id, sizeof(w->pack_id));
	w->open = 1;
	return 0;
}

int pack_writer_add(struct pack_writer *w, const uint8_t id[CRYPTO_ID_BYTES],
		    const void *data, size_t len)
{
	uint8_t ad[AD_CHUNK_BYTES];
	size_t clen, slen;
	int err;

	if (!w->open)
		return -EINVAL;
	if (len > PACK_CHUNK_MAX || w->n >= PACK_INDEX_MAX_ENTRIES)
		return -EFBIG;
	if (w->n == w->cap) {
		struct pack_entry *e = array_grow(w->entries, &w->cap, w->n + 1,
						  sizeof(*e));

		if (!e)
			return -ENOMEM;
		w->entries = e;
	}
	err = reserve(&w->cbuf, &w->ccap, compress_bound(len));
	if (!err)
		err = reserve(&w->sbuf, &w->scap,
			      len + 1 + CRYPTO_SEAL_OVERHEAD);
	if (!err)
		err = compressor_compress(&w->z, data, len, w->cbuf, w->ccap,
					  &clen);
	if (err)
		return err;
	chunk_ad(ad, id);
	err = crypto_seal(w->mk, ad, sizeof(ad), w->cbuf, clen, w->sbuf,
			  w->scap, &slen);
	if (err)
		return err;
	err = fd_pwrite_all(w->fd, w->sbuf, slen, w->size);
	if (err)
		return err;

	memcpy(w->entries[w->n].id, id, CRYPTO_ID_BYTES);
	w->entries[w->n].offset = w->size;
	w->entries[w->n].sealed_len = (uint32_t)slen;
	w->entries[w->n].raw_len = (uint32_t)len;
	w->n++;
	w->size += slen;
	return 0;
}

uint64_t pack_writer_size(const struct pack_writer *w)
{
	return w->size;
}

int pack_writer_full(const struct pack_writer *w)
{
	return w->size >= w->target;
}

size_t pack_writer_count(const struct pack_writer *w)
{
	return w->n;
}

/* Invariant 2: ids the reader would reject as duplicates are refused. */
static int check_unique(const struct pack_entry *e, size_t n)
{
	struct pack_entry *s;
	int err = 0;

	if (n < 2)
		return 0;
	s = malloc(n * sizeof(*s));
	if (!s)
		return -ENOMEM;
	memcpy(s, e, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_id);
	for (size_t i = 1; i < n && !err; i++)
		if (memcmp(s[i - 1].id, s[i].id, CRYPTO_ID_BYTES) == 0)
			err = -EINVAL;
	free(s);
	return err;
}

int pack_index_build_plain(const struct pack_entry *entries, size_t n,
			   uint64_t body_len, uint8_t **out, size_t *outlen)
{
	size_t len;
	uint8_t *p;

	*out = NULL;
	*outlen = 0;
	if (n > PACK_INDEX_MAX_ENTRIES)
		return -EFBIG;
	len = PACK_INDEX_HEAD_BYTES + n * PACK_ENTRY_BYTES;
	len = (len + PACK_INDEX_PAD - 1) / PACK_INDEX_PAD * PACK_INDEX_PAD;
	p = calloc(1, len);
	if (!p)
		return -ENOMEM;
	put_le32(p, PACK_VERSION);
	put_le32(p + 4, (uint32_t)n);
	put_le64(p + 8, body_len);
	for (size_t i = 0; i < n; i++) {
		uint8_t *q = p + PACK_INDEX_HEAD_BYTES + i * PACK_ENTRY_BYTES;

		memcpy(q, entries[i].id, CRYPTO_ID_BYTES);
		put_le64(q + 32, entries[i].offset);
		put_le32(q + 40, entries[i].sealed_len);
		put_le32(q + 44, entries[i].raw_len);
	}
	*out = p;
	*outlen = len;
	return 0;
}

int pack_writer_finish(struct pack_writer *w, uint8_t pack_id_out[PACK_ID_BYTES],
		       void **index_out, size_t *index_len)
{
	uint8_t ad[AD_INDEX_BYTES], tail[PACK_TRAILER_BYTES];
	uint8_t *plain = NULL, *sealed = NULL;
	size_t plen, slen;
	uint64_t end;
	int err;

	*index_out = NULL;
	*index_len = 0;
	if (!w->open)
		return -EINVAL;
	err = check_unique(w->entries, w->n);
	if (err)
		return err;
	err = pack_index_build_plain(w->entries, w->n,
				     w->size - PACK_HEADER_BYTES, &plain,
				     &plen);
	if (err)
		return err;
	sealed = malloc(plen + CRYPTO_SEAL_OVERHEAD);
	if (!sealed) {
		err = -ENOMEM;
		goto out;
	}
	index_ad(ad, w->pack_id);
	err = crypto_seal(w->mk, ad, sizeof(ad), plain, plen, sealed,
			  plen + CRYPTO_SEAL_OVERHEAD, &slen);
	if (err)
		goto out;
	put_le32(tail, (uint32_t)slen);
	memcpy(tail + 4, PACK_MAGIC, PACK_MAGIC_BYTES);
	err = fd_pwrite_all(w->fd, sealed, slen, w->size);
	if (!err)
		err = fd_pwrite_all(w->fd, tail, sizeof(tail), w->size + slen);
	if (err)
		goto out;
	end = w->size + slen + sizeof(tail);
	if (ftruncate(w->fd, (off_t)end) < 0 || fsync(w->fd) < 0) {
		err = -errno;
		goto out;
	}
	memcpy(pack_id_out, w->pack_id, PACK_ID_BYTES);
	*index_out = sealed;
	*index_len = slen;
	sealed = NULL;
	pack_writer_abort(w);
out:
	free(sealed);
	if (plain) {
		sodium_memzero(plain, plen);
		free(plain);
	}
	return err;
}

void pack_writer_abort(struct pack_writer *w)
{
	if (!w->open)
		return;
	compressor_release(&w->z);
	if (w->cbuf)
		sodium_memzero(w->cbuf, w->ccap);
	free(w->cbuf);
	free(w->sbuf);
	if (w->entries)
		sodium_memzero(w->entries, w->cap * sizeof(*w->entries));
	free(w->entries);
	memset(w, 0, sizeof(*w));
	w->fd = -1;
}

/* --- reader ------------------------------------------------------------ */

void pack_index_release(struct pack_index *ix)
{
	free(ix->entries);
	memset(ix, 0, sizeof(*ix));
}

int pack_index_parse_plain(const void *plain, size_t len, uint64_t body_len,
			   struct pack_index *out)
{
	const uint8_t *p = plain, *q;
	uint64_t b, expect;
	size_t n, need, padded;
	struct pack_entry *e;

	memset(out, 0, sizeof(*out));
	if (len < PACK_INDEX_HEAD_BYTES || len > PACK_INDEX_MAX_PLAIN ||
	    len % PACK_INDEX_PAD)
		return -EBADMSG;
	if (get_le32(p) != PACK_VERSION)
		return -EBADMSG;
	n = get_le32(p + 4);
	b = get_le64(p + 8);
	/* Bound n by what len can hold before believing it. */
	if (n > PACK_INDEX_MAX_ENTRIES ||
	    n > (len - PACK_INDEX_HEAD_BYTES) / PACK_ENTRY_BYTES)
		return -EBADMSG;
	need = PACK_INDEX_HEAD_BYTES + n * PACK_ENTRY_BYTES;
	padded = (need + PACK_INDEX_PAD - 1) / PACK_INDEX_PAD * PACK_INDEX_PAD;
	if (padded != len)
		return -EBADMSG;
	for (size_t i = need; i < len; i++)
		if (p[i])
			return -EBADMSG;
	if (body_len != PACK_BODY_UNKNOWN && b != body_len)
		return -EBADMSG;
	if (b > UINT64_MAX - PACK_HEADER_BYTES)
		return -EBADMSG;

	e = malloc((n ? n : 1) * sizeof(*e));
	if (!e)
		return -ENOMEM;
	expect = PACK_HEADER_BYTES;
	q = p + PACK_INDEX_HEAD_BYTES;
	for (size_t i = 0; i < n; i++, q += PACK_ENTRY_BYTES) {
		memcpy(e[i].id, q, CRYPTO_ID_BYTES);
		e[i].offset = get_le64(q + 32);
		e[i].sealed_len = get_le32(q + 40);
		e[i].raw_len = get_le32(q + 44);
		/*
		 * Contiguous: each blob starts where the previous ended, so
		 * sorted and non-overlapping; and it must end inside the
		 * body (checked without overflow: expect <= 16 + B here).
		 */
		if (e[i].offset != expect ||
		    e[i].raw_len > PACK_CHUNK_MAX ||
		    e[i].sealed_len < CRYPTO_SEAL_OVERHEAD + 1 ||
		    e[i].sealed_len > (uint64_t)e[i].raw_len + 1 +
				      CRYPTO_SEAL_OVERHEAD ||
		    e[i].sealed_len > PACK_HEADER_BYTES + b - expect)
			goto bad;
		expect += e[i].sealed_len;
	}
	if (expect != PACK_HEADER_BYTES + b)
		goto bad;
	qsort(e, n, sizeof(*e), cmp_id);
	for (size_t i = 1; i < n; i++)
		if (memcmp(e[i - 1].id, e[i].id, CRYPTO_ID_BYTES) == 0)
			goto bad;
	out->entries = e;
	out->n = n;
	out->body_len = b;
	return 0;
bad:
	free(e);
	return -EBADMSG;
}

static int read_index(const struct master_key *mk,
		      const uint8_t pack_id[PACK_ID_BYTES],
		      const void *sealed, size_t len, uint64_t body_len,
		      struct pack_index *out)
{
	uint8_t ad[AD_INDEX_BYTES], *plain;
	size_t plen;
	int err;

	memset(out, 0, sizeof(*out));
	if (len < CRYPTO_SEAL_OVERHEAD + PACK_INDEX_HEAD_BYTES ||
	    len > PACK_INDEX_MAX)
		return -EBADMSG;
	plain = malloc(len - CRYPTO_SEAL_OVERHEAD);
	if (!plain)
		return -ENOMEM;
	index_ad(ad, pack_id);
	err = crypto_open(mk, ad, sizeof(ad), sealed, len, plain,
			  len - CRYPTO_SEAL_OVERHEAD, &plen);
	if (err == 0)
		err = pack_index_parse_plain(plain, plen, body_len, out);
	else if (err != -ENOMEM)
		err = -EBADMSG;
	free(plain);
	return err;
}

int pack_read_index(const struct master_key *mk,
		    const uint8_t pack_id[PACK_ID_BYTES],
		    const void *sealed_index, size_t len,
		    struct pack_index *out)
{
	return read_index(mk, pack_id, sealed_index, len, PACK_BODY_UNKNOWN,
			  out);
}

int pack_read_trailer(const struct master_key *mk,
		      const uint8_t pack_id[PACK_ID_BYTES], uint64_t pack_size,
		      pack_read_at_fn *read_at, void *arg,
		      struct pack_index *out,
		      void **sealed_out, size_t *sealed_len)
{
	uint8_t tail[PACK_TRAILER_BYTES], *sealed;
	uint64_t room;
	uint32_t len;
	int err;

	memset(out, 0, sizeof(*out));
	if (sealed_out) {
		*sealed_out = NULL;
		*sealed_len = 0;
	}
	if (pack_size < PACK_HEADER_BYTES + PACK_TRAILER_BYTES)
		return -EBADMSG;
	err = read_at(arg, pack_size - PACK_TRAILER_BYTES, sizeof(tail), tail);
	if (err)
		return err;
	if (memcmp(tail + 4, PACK_MAGIC, PACK_MAGIC_BYTES) != 0)
		return -EBADMSG;
	len = get_le32(tail);
	room = pack_size - PACK_HEADER_BYTES - PACK_TRAILER_BYTES;
	if (len > room || len > PACK_INDEX_MAX ||
	    len < CRYPTO_SEAL_OVERHEAD + PACK_INDEX_HEAD_BYTES)
		return -EBADMSG;
	sealed = malloc(len);
	if (!sealed)
		return -ENOMEM;
	err = read_at(arg, pack_size - PACK_TRAILER_BYTES - len, len, sealed);
	if (!err)
		err = read_index(mk, pack_id, sealed, len, room - len, out);
	if (!err && sealed_out) {
		*sealed_out = sealed;
		*sealed_len = len;
		sealed = NULL;
	}
	free(sealed);
	return err;
}

int pack_check_header(const void *buf, size_t len)
{
	const uint8_t *p = buf;

	if (len < PACK_HEADER_BYTES ||
	    memcmp(p, PACK_MAGIC, PACK_MAGIC_BYTES) != 0 ||
	    get_le32(p + 8) != PACK_VERSION || get_le32(p + 12) != 0)
		return -EBADMSG;
	return 0;
}

const struct pack_entry *pack_index_find(const struct pack_index *ix,
					 const uint8_t id[CRYPTO_ID_BYTES])
{
	size_t lo = 0, hi = ix->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(id, ix->entries[mid].id, CRYPTO_ID_BYTES);

		if (c == 0)
			return &ix->entries[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

int pack_open_blob(const struct master_key *mk, struct compressor *z,
		   const uint8_t id[CRYPTO_ID_BYTES], uint32_t raw_len,
		   const void *sealed, size_t sealed_len,
		   void *out, size_t outcap, size_t *outlen)
{
	uint8_t ad[AD_CHUNK_BYTES], *comp;
	size_t clen, got = 0;
	int err;

	*outlen = 0;
	if (outcap < raw_len)
		return -ENOBUFS;
	/* The same bounds the index parser applies to an entry. */
	if (raw_len > PACK_CHUNK_MAX ||
	    sealed_len < CRYPTO_SEAL_OVERHEAD + 1 ||
	    sealed_len > (size_t)raw_len + 1 + CRYPTO_SEAL_OVERHEAD) {
		memset(out, 0, raw_len);
		return -EBADMSG;
	}
	comp = malloc(sealed_len - CRYPTO_SEAL_OVERHEAD);
	if (!comp)
		return -ENOMEM;
	chunk_ad(ad, id);
	err = crypto_open(mk, ad, sizeof(ad), sealed, sealed_len, comp,
			  sealed_len - CRYPTO_SEAL_OVERHEAD, &clen);
	if (err == 0) {
		/*
		 * Room for exactly raw_len: a blob declaring more is corrupt
		 * (compress.h: -ENOBUFS against a trusted size is corruption).
		 */
		if (z)
			err = compressor_decompress(z, comp, clen, out,
						    raw_len, &got);
		else
			err = decompress_blob(comp, clen, out, raw_len, &got);
		if (err == 0 && got != raw_len)
			err = -EBADMSG;
		sodium_memzero(comp, clen);
	}
	free(comp);
	if (err) {
		memset(out, 0, raw_len);
		return err == -ENOMEM ? err : -EBADMSG;
	}
	*outlen = got;
	return 0;
}
