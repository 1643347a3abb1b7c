/*
 * test-pack.c - packs (src/pack.h): a round trip of ~200 chunks through a
 * staging file, then every way a stored pack or index can be damaged,
 * truncated, swapped or forged, each of which must read as -EBADMSG.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"
#include "pack.h"
#include "tap.h"

#define NCHUNKS	200
#define MARKER	"MARKER-backupfs-plaintext-must-not-leak"

struct chunk {
	uint8_t id[CRYPTO_ID_BYTES];
	uint8_t *data;
	size_t len;
};

struct mem {
	const uint8_t *buf;
	uint64_t len;
	int reads;
};


static int mem_read_at(void *arg, uint64_t off, size_t len, void *buf)
{
	struct mem *m = arg;

	m->reads++;
	if (off > m->len || len > m->len - off)
		return -EIO;
	memcpy(buf, m->buf + off, len);
	return 0;
}

static int fd_read_at(void *arg, uint64_t off, size_t len, void *buf)
{
	int fd = *(int *)arg;
	ssize_t r = pread(fd, buf, len, (off_t)off);

	return r < 0 ? -errno : (size_t)r != len ? -EIO : 0;
}

static void make_chunks(const struct master_key *mk, struct chunk *c, size_t n)
{
	static const char *const words[] = { "alpha ", "beta ", "gamma\n",
					     MARKER " ", "delta ", "epsilon " };

	for (size_t i = 0; i < n; i++) {
		size_t len;

		switch (i % 5) {
		case 0: len = (size_t)(test_rand() % 64); break;
		case 1: len = (size_t)(test_rand() % 4096); break;
		case 2: len = (size_t)(test_rand() % (256 << 10)); break;
		default: len = 1 + (size_t)(test_rand() % (64 << 10)); break;
		}
		if (i == 8)
			len = 0;
		else if (len < 16)
			len = 16;
		c[i].len = len;
		c[i].data = malloc(len ? len : 1);
		if (i % 2) {	/* text, with the marker many times */
			size_t o = 0;

			snprintf((char *)c[i].data, len, "%zu ", i);
			o = strlen((char *)c[i].data);
			while (o < len) {
				const char *w = words[test_rand() % 6];
				size_t wl = strlen(w);

				if (wl > len - o)
					wl = len - o;
				memcpy(c[i].data + o, w, wl);
				o += wl;
			}
		} else {
			for (size_t j = 0; j < len; j++)
				c[i].data[j] = (uint8_t)test_rand();
			if (len > 16)
				memcpy(c[i].data, &i, sizeof(i));
		}
		crypto_chunk_id(mk, c[i].data, len, c[i].id);
	}
}

static uint8_t *slurp(int fd, uint64_t *len)
{
	struct stat st;
	uint8_t *buf;

	if (fstat(fd, &st) < 0)
		return NULL;
	buf = malloc((size_t)st.st_size + 1);
	if (pread(fd, buf, (size_t)st.st_size, 0) != st.st_size) {
		free(buf);
		return NULL;
	}
	*len = (uint64_t)st.st_size;
	return buf;
}

static int contains(const uint8_t *hay, size_t hlen, const void *needle,
		    size_t nlen)
{
	return memmem(hay, hlen, needle, nlen) != NULL;
}

/* Writes a pack of c[0..n) to a new temp file; returns its fd. */
static int write_pack(const struct master_key *mk, struct chunk *c, size_t n,
		      uint8_t pack_id[PACK_ID_BYTES], void **index,
		      size_t *index_len, uint64_t *body_end)
{
	char path[] = "/tmp/test-pack.XXXXXX";
	struct pack_writer w;
	int fd = mkstemp(path), err = 0;

	if (fd < 0)
		return -errno;
	unlink(path);
	err = pack_writer_open(&w, mk, fd);
	for (size_t i = 0; i < n && !err; i++)
		err = pack_writer_add(&w, c[i].id, c[i].data, c[i].len);
	if (body_end)
		*body_end = pack_writer_size(&w);
	if (!err)
		err = pack_writer_finish(&w, pack_id, index, index_len);
	pack_writer_abort(&w);
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

/* Reads every chunk from the pack in m; returns how many failed, which. */
static int read_all(const struct master_key *mk, struct compressor *z,
		    const struct pack_index *ix, const uint8_t *pack,
		    struct chunk *c, size_t n, size_t *bad)
{
	uint8_t *out = malloc(PACK_CHUNK_MAX);
	int fails = 0;

	for (size_t i = 0; i < n; i++) {
		const struct pack_entry *e = pack_index_find(ix, c[i].id);
		size_t got;
		int err;

		if (!e) {
			fails++;
			*bad = i;
			continue;
		}
		err = pack_open_blob(mk, i % 3 ? z : NULL, e->id, e->raw_len,
				     pack + e->offset, e->sealed_len, out,
				     PACK_CHUNK_MAX, &got);
		if (err || got != c[i].len || e->raw_len != c[i].len ||
		    (got && memcmp(out, c[i].data, got))) {
			if (err != -EBADMSG)
				fails += 1000;	/* only -EBADMSG is expected */
			fails++;
			*bad = i;
		}
	}
	free(out);
	return fails;
}

static int seal_index(const struct master_key *mk, const uint8_t *pack_id,
		      const uint8_t *plain, size_t plen, uint8_t **out,
		      size_t *outlen)
{
	uint8_t ad[sizeof(PACK_AD_INDEX) + PACK_ID_BYTES];

	memcpy(ad, PACK_AD_INDEX, sizeof(PACK_AD_INDEX));
	memcpy(ad + sizeof(PACK_AD_INDEX), pack_id, PACK_ID_BYTES);
	*out = malloc(plen + CRYPTO_SEAL_OVERHEAD);
	return crypto_seal(mk, ad, sizeof(ad), plain, plen, *out,
			   plen + CRYPTO_SEAL_OVERHEAD, outlen);
}

static void test_parser(void)
{
	struct pack_entry e[3];
	struct pack_index ix;
	uint8_t *p;
	size_t plen;
	uint64_t b;

	for (int i = 0; i < 3; i++) {
		memset(e[i].id, 'a' + i, CRYPTO_ID_BYTES);
		e[i].raw_len = 1000;
		e[i].sealed_len = 100;
		e[i].offset = PACK_HEADER_BYTES + 100u * (unsigned)i;
	}
	b = 300;
#define TRY(what, mutate, want) do { \
		struct pack_entry t[3]; \
		memcpy(t, e, sizeof(t)); \
		uint64_t tb = b; \
		mutate; \
		pack_index_build_plain(t, 3, tb, &p, &plen); \
		int r_ = pack_index_parse_plain(p, plen, tb, &ix); \
		ok(r_ == (want), "parser: %s -> %d", what, r_); \
		pack_index_release(&ix); \
		free(p); \
	} while (0)
	TRY("valid", (void)0, 0);
	TRY("gap between blobs", (t[1].offset++, t[2].offset++, tb++), -EBADMSG);
	TRY("overlap", (t[1].offset--, t[1].sealed_len++), -EBADMSG);
	TRY("out of order", (t[0].offset = 116, t[1].offset = 16), -EBADMSG);
	TRY("past body", (t[2].sealed_len = 101), -EBADMSG);
	TRY("short body", (t[2].sealed_len = 99), -EBADMSG);
	TRY("sealed too short",
	    (t[0].sealed_len = CRYPTO_SEAL_OVERHEAD, tb = 240,
	     t[1].offset = 16 + CRYPTO_SEAL_OVERHEAD,
	     t[2].offset = 116 + CRYPTO_SEAL_OVERHEAD), -EBADMSG);
	TRY("sealed > raw + 1 + overhead", (t[0].raw_len = 58), -EBADMSG);
	TRY("sealed = raw + 1 + overhead", (t[0].raw_len = 59), 0);
	TRY("raw too large", (t[0].raw_len = PACK_CHUNK_MAX + 1), -EBADMSG);
	TRY("duplicate id", (memset(t[2].id, 'a', CRYPTO_ID_BYTES)), -EBADMSG);
	TRY("offset wraps", (t[1].offset = UINT64_MAX - 50), -EBADMSG);
#undef TRY
	pack_index_build_plain(e, 3, b, &p, &plen);
	ok(plen == PACK_INDEX_PAD, "index padded to %d bytes", PACK_INDEX_PAD);
	ok(pack_index_parse_plain(p, plen, PACK_BODY_UNKNOWN, &ix) == 0 &&
	   ix.n == 3 && pack_index_find(&ix, e[1].id) == &ix.entries[1],
	   "parses with unknown body length; find works");
	pack_index_release(&ix);
	ok(pack_index_parse_plain(p, plen, b - 1, &ix) == -EBADMSG &&
	   pack_index_parse_plain(p, plen, b + 1, &ix) == -EBADMSG,
	   "body length other than the pack's: -EBADMSG");
	p[plen - 1] = 1;
	ok(pack_index_parse_plain(p, plen, b, &ix) == -EBADMSG,
	   "nonzero padding rejected");
	p[plen - 1] = 0;
	ok(pack_index_parse_plain(p, plen - 1, b, &ix) == -EBADMSG &&
	   pack_index_parse_plain(p, 15, b, &ix) == -EBADMSG &&
	   pack_index_parse_plain(p, 0, b, &ix) == -EBADMSG,
	   "lengths off the padding rejected");
	p[0] = 2;
	ok(pack_index_parse_plain(p, plen, b, &ix) == -EBADMSG,
	   "unknown version rejected");
	p[0] = 1;
	/* Counts the length cannot hold, up to 2^32 - 1. */
	p[4] = 86;	/* (4096 - 16) / 48 = 85 entries fit */
	ok(pack_index_parse_plain(p, plen, b, &ix) == -EBADMSG,
	   "count one past what the length holds rejected");
	memset(p + 4, 0xff, 4);
	ok(pack_index_parse_plain(p, plen, b, &ix) == -EBADMSG,
	   "count 2^32-1 rejected (no huge allocation under ASan)");
	free(p);
}

int main(void)
{
	static struct chunk c[NCHUNKS];
	struct master_key mk, other;
	struct compressor z;
	struct pack_index ix, ix2;
	struct mem m;
	uint8_t pid[PACK_ID_BYTES], pid2[PACK_ID_BYTES], *pack, *pack2, *copy;
	void *index, *index2, *tidx;
	size_t ilen, ilen2, tilen, bad = 0;
	uint64_t plen, plen2, body_end;
	int fd, fd2, err, fails;

	if (crypto_init() < 0)
		return 99;
	crypto_master_key_generate(&mk);
	crypto_master_key_generate(&other);
	compressor_init(&z, 0);
	make_chunks(&mk, c, NCHUNKS);

	fd = write_pack(&mk, c, NCHUNKS, pid, &index, &ilen, &body_end);
	ok(fd >= 0, "wrote a pack of %d chunks", NCHUNKS);
	if (fd < 0)
		return tap_done();
	pack = slurp(fd, &plen);
	ok(pack && plen == body_end + ilen + PACK_TRAILER_BYTES,
	   "pack is header + blobs + index + trailer (%llu bytes)",
	   (unsigned long long)plen);
	ok(pack_check_header(pack, plen) == 0, "header checks");
	ok(ilen % PACK_INDEX_PAD == CRYPTO_SEAL_OVERHEAD,
	   "sealed index is padded (%zu bytes)", ilen);

	err = pack_read_trailer(&mk, pid, plen, fd_read_at, &fd, &ix, &tidx,
				&tilen);
	ok(err == 0 && ix.n == NCHUNKS, "trailer read from the file: %d", err);
	ok(tilen == ilen && memcmp(tidx, index, ilen) == 0,
	   "trailer holds the same bytes as the index object");
	free(tidx);
	m = (struct mem){ pack, plen, 0 };
	err = pack_read_trailer(&mk, pid, plen, mem_read_at, &m, &ix2, NULL,
				NULL);
	ok(err == 0 && m.reads == 2, "trailer found with two reads");
	pack_index_release(&ix2);
	fails = read_all(&mk, &z, &ix, pack, c, NCHUNKS, &bad);
	ok(fails == 0, "every chunk reads back identical (%d failed)", fails);

	err = pack_read_index(&mk, pid, index, ilen, &ix2);
	ok(err == 0 && ix2.n == ix.n && ix2.body_len == ix.body_len &&
	   memcmp(ix2.entries, ix.entries, ix.n * sizeof(*ix.entries)) == 0,
	   "separate index parses identically");
	pack_index_release(&ix2);
	ok(pack_read_index(&other, pid, index, ilen, &ix2) == -EBADMSG,
	   "index under another key: -EBADMSG");

	/* Leaks: no marker, no chunk id, in the stored bytes. */
	{
		int leak = contains(pack, plen, MARKER, strlen(MARKER)) ||
			   contains(pack, plen, "gamma\nalpha", 11);

		for (size_t i = 0; i < NCHUNKS; i++)
			leak |= contains(pack, plen, c[i].id, 16);
		ok(!leak, "no plaintext marker and no chunk id in the pack");
	}

	/* A flipped byte in a blob fails that blob only. */
	copy = malloc(plen);
	{
		int good = 1;

		for (size_t k = 0; k < NCHUNKS; k += 13) {
			const struct pack_entry *e = pack_index_find(&ix,
								     c[k].id);
			uint64_t at = e->offset + test_rand() % e->sealed_len;

			memcpy(copy, pack, plen);
			copy[at] ^= (uint8_t)(1 + test_rand() % 255);
			fails = read_all(&mk, &z, &ix, copy, c, NCHUNKS, &bad);
			good &= fails == 1 && bad == k;
		}
		ok(good, "a flipped byte fails its blob with -EBADMSG, others read");
	}

	/* A flipped byte in the index or trailer. */
	{
		int good = 1;
		uint64_t start = plen - ilen - PACK_TRAILER_BYTES;

		for (uint64_t at = start; at < plen; at++) {
			if (at - start > 64 && plen - at > 64 && at % 31)
				continue;
			memcpy(copy, pack, plen);
			copy[at] ^= 0x20;
			m = (struct mem){ copy, plen, 0 };
			err = pack_read_trailer(&mk, pid, plen, mem_read_at,
						&m, &ix2, NULL, NULL);
			good &= err == -EBADMSG && ix2.entries == NULL;
		}
		ok(good, "a flipped byte in the trailer: -EBADMSG");
		memcpy(copy, index, ilen);
		copy[ilen / 2] ^= 1;
		ok(pack_read_index(&mk, pid, copy, ilen, &ix2) == -EBADMSG,
		   "a flipped byte in the index object: -EBADMSG");
	}

	/* Truncation. */
	{
		uint64_t cut[] = { plen - 1, plen - 12, plen - ilen, plen / 2,
				   28, 27, 16, 0 };
		int good = 1;

		for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
			m = (struct mem){ pack, cut[i], 0 };
			err = pack_read_trailer(&mk, pid, cut[i], mem_read_at,
						&m, &ix2, NULL, NULL);
			good &= err == -EBADMSG;
		}
		ok(good, "truncated pack: -EBADMSG");
		ok(pack_read_index(&mk, pid, index, ilen - 1, &ix2) == -EBADMSG &&
		   pack_read_index(&mk, pid, index, 0, &ix2) == -EBADMSG,
		   "truncated index: -EBADMSG");
		/* A pack claiming a longer file: body does not end at trailer. */
		memcpy(copy, pack, plen);
	}

	/* Another pack: its index does not stand in for ours. */
	fd2 = write_pack(&mk, c, NCHUNKS / 2, pid2, &index2, &ilen2, NULL);
	pack2 = slurp(fd2, &plen2);
	ok(pack_read_index(&mk, pid, index2, ilen2, &ix2) == -EBADMSG &&
	   pack_read_index(&mk, pid2, index, ilen, &ix2) == -EBADMSG,
	   "indexes swapped between packs: -EBADMSG");
	ok(pack_read_index(&mk, pid2, index2, ilen2, &ix2) == 0 &&
	   ix2.n == NCHUNKS / 2, "the other pack's index under its own id");
	pack_index_release(&ix2);
	{
		/* Our blobs with the other pack's trailer, under either id. */
		uint64_t len = body_end + (plen2 - (plen2 - ilen2 - 12));
		uint8_t *mix = malloc(len);

		memcpy(mix, pack, body_end);
		memcpy(mix + body_end, pack2 + plen2 - ilen2 - 12, ilen2 + 12);
		m = (struct mem){ mix, len, 0 };
		err = pack_read_trailer(&mk, pid, len, mem_read_at, &m, &ix2,
					NULL, NULL);
		ok(err == -EBADMSG, "another pack's trailer: -EBADMSG");
		err = pack_read_trailer(&mk, pid2, len, mem_read_at, &m, &ix2,
					NULL, NULL);
		ok(err == -EBADMSG,
		   "another pack's trailer under its id, wrong body: -EBADMSG");
		free(mix);
	}

	/* A blob opened under another chunk's id (swapped bodies). */
	{
		const struct pack_entry *a = pack_index_find(&ix, c[2].id);
		const struct pack_entry *b = pack_index_find(&ix, c[4].id);
		uint8_t *out = malloc(PACK_CHUNK_MAX);
		size_t got = 1;

		err = pack_open_blob(&mk, &z, b->id, a->raw_len,
				     pack + a->offset, a->sealed_len, out,
				     PACK_CHUNK_MAX, &got);
		ok(err == -EBADMSG && got == 0,
		   "blob under another id: -EBADMSG");
		err = pack_open_blob(&other, &z, a->id, a->raw_len,
				     pack + a->offset, a->sealed_len, out,
				     PACK_CHUNK_MAX, &got);
		ok(err == -EBADMSG, "blob under another key: -EBADMSG");
		err = pack_open_blob(&mk, &z, a->id, a->raw_len - 1,
				     pack + a->offset, a->sealed_len, out,
				     PACK_CHUNK_MAX, &got);
		ok(err == -EBADMSG, "raw length one short: -EBADMSG");
		err = pack_open_blob(&mk, &z, a->id, a->raw_len + 1,
				     pack + a->offset, a->sealed_len, out,
				     PACK_CHUNK_MAX, &got);
		ok(err == -EBADMSG, "raw length one long: -EBADMSG");
		err = pack_open_blob(&mk, &z, a->id, a->raw_len,
				     pack + a->offset, a->sealed_len, out,
				     a->raw_len - 1, &got);
		ok(err == -ENOBUFS, "caller buffer too small: -ENOBUFS");
		err = pack_open_blob(&mk, &z, a->id, a->raw_len,
				     pack + a->offset, a->sealed_len - 1, out,
				     PACK_CHUNK_MAX, &got);
		ok(err == -EBADMSG, "blob one byte short: -EBADMSG");
		/* A pack file with the two blobs' bodies swapped. */
		{
			const struct pack_entry *x = pack_index_find(&ix, c[0].id);
			const struct pack_entry *y = NULL;

			for (size_t i = 5; i < NCHUNKS && !y; i += 5) {
				const struct pack_entry *t =
					pack_index_find(&ix, c[i].id);

				if (t->sealed_len == x->sealed_len)
					y = t;
			}
			if (!y) {	/* no equal length: swap prefixes */
				y = pack_index_find(&ix, c[1].id);
			}
			memcpy(copy, pack, plen);
			{
				uint32_t l = x->sealed_len < y->sealed_len ?
					     x->sealed_len : y->sealed_len;

				memcpy(copy + x->offset, pack + y->offset, l);
				memcpy(copy + y->offset, pack + x->offset, l);
			}
			fails = read_all(&mk, &z, &ix, copy, c, NCHUNKS, &bad);
			ok(fails == 2, "swapped blob bodies: both -EBADMSG");
		}
		free(out);
	}

	/* A forged-but-sealed index with an absurd count. */
	{
		uint8_t plain[PACK_INDEX_PAD] = { 1, 0, 0, 0, 0xff, 0xff, 0xff,
						  0xff };
		uint8_t *sealed;
		size_t slen;

		seal_index(&mk, pid, plain, sizeof(plain), &sealed, &slen);
		ok(pack_read_index(&mk, pid, sealed, slen, &ix2) == -EBADMSG,
		   "sealed index with count 2^32-1: -EBADMSG, no allocation");
		free(sealed);
		plain[4] = plain[5] = plain[6] = plain[7] = 0;
		seal_index(&mk, pid, plain, sizeof(plain), &sealed, &slen);
		ok(pack_read_index(&mk, pid, sealed, slen, &ix2) == 0 &&
		   ix2.n == 0, "sealed empty index by the helper reads");
		pack_index_release(&ix2);
		free(sealed);
	}

	/* Writer refusals and an empty pack. */
	{
		char path[] = "/tmp/test-pack.XXXXXX";
		struct pack_writer w;
		uint8_t id[CRYPTO_ID_BYTES] = { 1 }, p3[PACK_ID_BYTES];
		void *i3;
		size_t l3;
		int f = mkstemp(path);
		uint8_t *big = calloc(1, PACK_CHUNK_MAX + 1);

		unlink(path);
		pack_writer_open(&w, &mk, f);
		ok(pack_writer_add(&w, id, big, PACK_CHUNK_MAX + 1) == -EFBIG,
		   "chunk over PACK_CHUNK_MAX: -EFBIG");
		ok(pack_writer_add(&w, id, big, PACK_CHUNK_MAX) == 0,
		   "chunk of PACK_CHUNK_MAX fits");
		ok(pack_writer_add(&w, id, "x", 1) == 0 &&
		   pack_writer_finish(&w, p3, &i3, &l3) == -EINVAL,
		   "an id added twice: finish says -EINVAL");
		pack_writer_abort(&w);
		ok(ftruncate(f, 0) == 0 && pack_writer_open(&w, &mk, f) == 0 &&
		   pack_writer_finish(&w, p3, &i3, &l3) == 0, "empty pack");
		pack_writer_abort(&w);
		{
			struct stat st;

			fstat(f, &st);
			err = pack_read_trailer(&mk, p3, (uint64_t)st.st_size,
						fd_read_at, &f, &ix2, NULL,
						NULL);
			ok(err == 0 && ix2.n == 0 &&
			   st.st_size == PACK_HEADER_BYTES + (off_t)l3 +
					 PACK_TRAILER_BYTES,
			   "empty pack reads back with no entries");
		}
		pack_index_release(&ix2);
		free(i3);
		free(big);
		close(f);
	}

	test_parser();

	pack_index_release(&ix);
	for (size_t i = 0; i < NCHUNKS; i++)
		free(c[i].data);
	free(copy);
	free(pack);
	free(pack2);
	free(index);
	free(index2);
	close(fd);
	close(fd2);
	compressor_release(&z);
	return tap_done();
}
