/*
 * capture.c - the capture engine: files into chunks, packs and manifests.
 *
 * The walk (capture_file_cb).  Positions go from 0 to the file size.  At a
 * position that is an old chunk boundary, the old chunk is copied into the
 * new manifest without reading it when it is "clean": it ends at or before
 * the new size, no dirty range touches it, and its end was a real cut (not
 * just the old end of file, unless the size did not change).  Otherwise the
 * chunker cuts one chunk from the position, reading up to max bytes, and
 * the walk continues at the cut.  A cut that lands on an old boundary
 * whose chunk is clean therefore resynchronizes: the chunker would cut the
 * same chunks again (chunker.h invariant 2), so they are copied.  With no
 * old manifest every byte is chunked.  Truncation needs nothing special
 * (old chunks past the new end are not clean); an append makes the old
 * last chunk unclean, so the chunker restarts at its start.
 *
 * Pending state.  Chunks added to packs but not yet in meta are kept in
 * c->chunks, with a hash set over their ids for dedup, and their sealed
 * packs in c->packs; capture_commit() moves them to meta in one
 * transaction.  An open pack's chunks are the tail of c->chunks (pack ==
 * SIZE_MAX), since a pack is sealed before the next one is opened.
 *
 * Invariants (capture.h has the contract's):
 *  (1) A pack file is renamed from <hex>.tmp to <hex> only after
 *      pack_writer_finish() fsynced it and its <hex>.index was written,
 *      fsynced and renamed; the directory is fsynced before the pack is
 *      counted as sealed, so a commit never names a pack that can vanish.
 *  (2) The read buffer holds at most chunker max + CAPTURE_READ_SIZE bytes;
 *      the chunker is always given min(max, bytes to end of file) bytes, so
 *      every chunker_cut answer is final (chunker.h).
 *  (3) Every set slot holds an index + 1 into c->chunks, never stale: the
 *      set is rebuilt whenever c->chunks shrinks.
 *  (4) A failed commit leaves the pending state as it was (retryable); a
 *      failed seal drops the open pack's chunks (its file is unlinked), so
 *      a manifest that names them must be captured again.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "banned.h"
#include "capture.h"
#include "fdio.h"
#include "util.h"
#include "le.h"
#include "meta.h"

#define HEX_NAME	(2 * PACK_ID_BYTES)	/* 64 */
#define NAME_MAX_OURS	(HEX_NAME + 16)

/* --- little endian and names ------------------------------------------- */

static void hex_name(const uint8_t id[PACK_ID_BYTES], char out[HEX_NAME + 1])
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < PACK_ID_BYTES; i++) {
		out[2 * i] = digits[id[i] >> 4];
		out[2 * i + 1] = digits[id[i] & 15];
	}
	out[HEX_NAME] = '\0';
}

/* Parses exactly 64 lowercase hex digits (the first 64 bytes of s). */
static int parse_hex_name(const char *s, uint8_t id[PACK_ID_BYTES])
{
	for (size_t i = 0; i < HEX_NAME; i++) {
		int d;

		if (s[i] >= '0' && s[i] <= '9')
			d = s[i] - '0';
		else if (s[i] >= 'a' && s[i] <= 'f')
			d = s[i] - 'a' + 10;
		else
			return -EINVAL;
		if (i % 2 == 0)
			id[i / 2] = (uint8_t)(d << 4);
		else
			id[i / 2] |= (uint8_t)d;
	}
	return 0;
}

static int has_suffix(const char *s, size_t len, const char *suf)
{
	size_t n = strlen(suf);

	return len >= n && memcmp(s + len - n, suf, n) == 0;
}

/* --- manifests ---------------------------------------------------------- */

void manifest_release(struct manifest *m)
{
	free(m->e);
	m->e = NULL;
	m->n = m->cap = 0;
}

uint64_t manifest_size(const struct manifest *m)
{
	if (!m || m->n == 0)
		return 0;
	return m->e[m->n - 1].offset + m->e[m->n - 1].length;
}

static int manifest_reserve(struct manifest *m, size_t n)
{
	struct manifest_entry *e;
	e = array_grow(m->e, &m->cap, n, sizeof(*e));
	if (!e)
		return -ENOMEM;
	m->e = e;
	return 0;
}

int manifest_append(struct manifest *m, uint64_t offset,
		    const uint8_t id[CRYPTO_ID_BYTES], uint32_t length)
{
	int err;

	if (length == 0 || length > CHUNKER_MAX_MAX ||
	    offset != manifest_size(m))
		return -EINVAL;
	if (m->n == SIZE_MAX)
		return -ENOMEM;
	err = manifest_reserve(m, m->n + 1);
	if (err)
		return err;
	m->e[m->n].offset = offset;
	memcpy(m->e[m->n].id, id, CRYPTO_ID_BYTES);
	m->e[m->n].length = length;
	m->n++;
	return 0;
}

int manifest_encode(const struct manifest *m, uint8_t **out, size_t *len)
{
	uint8_t *p;

	*out = NULL;
	*len = 0;
	if (m->n > SIZE_MAX / MANIFEST_ENTRY_BYTES)
		return -ENOMEM;
	p = malloc(m->n ? m->n * MANIFEST_ENTRY_BYTES : 1);
	if (!p)
		return -ENOMEM;
	for (size_t i = 0; i < m->n; i++) {
		uint8_t *q = p + i * MANIFEST_ENTRY_BYTES;

		put_le64(q, m->e[i].offset);
		memcpy(q + 8, m->e[i].id, CRYPTO_ID_BYTES);
		put_le32(q + 40, m->e[i].length);
	}
	*out = p;
	*len = m->n * MANIFEST_ENTRY_BYTES;
	return 0;
}

int manifest_decode(const void *blob, size_t len, struct manifest *out)
{
	const uint8_t *p = blob;
	struct manifest m = { 0 };
	uint64_t next = 0;
	size_t n;
	int err;

	manifest_release(out);
	if (len % MANIFEST_ENTRY_BYTES || (len && !blob))
		return -EBADMSG;
	n = len / MANIFEST_ENTRY_BYTES;
	if (n == 0)
		return 0;
	err = manifest_reserve(&m, n);
	if (err)
		return err;
	for (size_t i = 0; i < n; i++, p += MANIFEST_ENTRY_BYTES) {
		uint64_t off = get_le64(p);
		uint32_t l = get_le32(p + 40);

		if (off != next || l == 0 || l > CHUNKER_MAX_MAX ||
		    off > (uint64_t)INT64_MAX - l) {
			manifest_release(&m);
			return -EBADMSG;
		}
		m.e[i].offset = off;
		memcpy(m.e[i].id, p + 8, CRYPTO_ID_BYTES);
		m.e[i].length = l;
		next = off + l;
	}
	m.n = n;
	*out = m;
	return 0;
}

/* Whether m is what manifest_decode would accept. */
static int manifest_valid(const struct manifest *m)
{
	uint64_t next = 0;

	for (size_t i = 0; i < m->n; i++) {
		if (m->e[i].offset != next || m->e[i].length == 0 ||
		    m->e[i].length > CHUNKER_MAX_MAX)
			return 0;
		next += m->e[i].length;
	}
	return 1;
}

/* --- pending chunks: the dedup set --------------------------------------- */

static size_t id_hash(const uint8_t id[CRYPTO_ID_BYTES])
{
	return (size_t)get_le64(id);	/* keyed BLAKE2b: uniform */
}

static int set_has(const struct capture *c, const uint8_t id[CRYPTO_ID_BYTES])
{
	size_t mask = c->set_cap - 1;

	if (!c->set_cap)
		return 0;
	for (size_t i = id_hash(id) & mask; c->set[i]; i = (i + 1) & mask)
		if (!memcmp(c->chunks[c->set[i] - 1].id, id, CRYPTO_ID_BYTES))
			return 1;
	return 0;
}

static void set_put(struct capture *c, size_t idx)
{
	size_t mask = c->set_cap - 1, i;

	for (i = id_hash(c->chunks[idx].id) & mask; c->set[i];
	     i = (i + 1) & mask)
		;
	c->set[i] = idx + 1;
}

/* Rebuilds the set for c->chunks[0..nchunks) with room for want entries. */
static int set_rebuild(struct capture *c, size_t want)
{
	size_t cap = 64;
	size_t *s;

	while (cap < 2 * want) {
		if (cap > SIZE_MAX / 4 / sizeof(*s))
			return -ENOMEM;
		cap *= 2;
	}
	if (cap != c->set_cap) {
		s = calloc(cap, sizeof(*s));
		if (!s)
			return -ENOMEM;
		free(c->set);
		c->set = s;
		c->set_cap = cap;
	} else {
		memset(c->set, 0, cap * sizeof(*c->set));
	}
	for (size_t i = 0; i < c->nchunks; i++)
		set_put(c, i);
	return 0;
}

/* Appends a pending chunk and puts it in the set. */
static int pending_add(struct capture *c, const struct pack_entry *pe)
{
	struct capture_chunk *ch;
	int err;

	ch = array_grow(c->chunks, &c->chunks_cap, c->nchunks + 1, sizeof(*ch));
	if (!ch)
		return -ENOMEM;
	c->chunks = ch;
	if (2 * (c->nchunks + 1) > c->set_cap) {
		err = set_rebuild(c, 2 * (c->nchunks + 1));
		if (err)
			return err;
	}
	ch = &c->chunks[c->nchunks];
	memcpy(ch->id, pe->id, CRYPTO_ID_BYTES);
	ch->offset = pe->offset;
	ch->sealed_len = pe->sealed_len;
	ch->raw_len = pe->raw_len;
	ch->pack = SIZE_MAX;
	set_put(c, c->nchunks++);
	return 0;
}

/* Forgets the open pack's chunks (the tail of c->chunks). */
static void pending_drop_open(struct capture *c)
{
	size_t n = c->nchunks;

	while (n && c->chunks[n - 1].pack == SIZE_MAX)
		n--;
	if (n == c->nchunks)
		return;
	c->nchunks = n;
	if (c->set_cap)
		set_rebuild(c, c->set_cap / 2);	/* same size: cannot fail */
}

/* --- packs in staging ---------------------------------------------------- */

static int write_file_at(int dirfd, const char *tmp, const char *name,
			 const void *data, size_t len)
{
	const uint8_t *p = data;
	int fd, err = 0;

	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
		    O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	while (len && !err) {
		ssize_t r = write(fd, p, len);

		if (r < 0 && errno != EINTR)
			err = -errno;
		else if (r == 0)
			err = -EIO;
		else if (r > 0) {
			p += r;
			len -= (size_t)r;
		}
	}
	if (!err && fsync(fd) < 0)
		err = -errno;
	if (close(fd) < 0 && !err)
		err = -errno;
	if (!err && renameat(dirfd, tmp, dirfd, name) < 0)
		err = -errno;
	if (err)
		unlinkat(dirfd, tmp, 0);
	return err;
}

/* Opens a new pack as <hex>.tmp (created under a random name first: the
 * pack id is only drawn by pack_writer_open). */
static int pack_start(struct capture *c)
{
	char tmp[64], name[NAME_MAX_OURS];
	uint8_t rnd[8];
	int fd, err;

	randombytes_buf(rnd, sizeof(rnd));
	snprintf(tmp, sizeof(tmp), ".new-%02x%02x%02x%02x%02x%02x%02x%02x.tmp",
		 rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	fd = openat(c->dirfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC |
		    O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	err = pack_writer_open(&c->w, c->mk, fd);
	if (!err) {
		c->w.target = c->pack_target ? c->pack_target :
			PACK_TARGET_DEFAULT;
		/* The repository's level (config); the writer opens with
		 * the default. */
		if (c->zstd_level && c->zstd_level != COMPRESS_LEVEL_DEFAULT) {
			compressor_release(&c->w.z);
			err = compressor_init(&c->w.z, c->zstd_level);
			if (err)
				pack_writer_abort(&c->w);
		}
	}
	if (!err) {
		char hex[HEX_NAME + 1];

		hex_name(c->w.pack_id, hex);
		snprintf(name, sizeof(name), "%s.tmp", hex);
		if (renameat(c->dirfd, tmp, c->dirfd, name) < 0) {
			err = -errno;
			pack_writer_abort(&c->w);
		}
	}
	if (err) {
		unlinkat(c->dirfd, tmp, 0);
		close(fd);
		return err;
	}
	c->wfd = fd;
	return 0;
}

/* Throws the open pack away: file unlinked, its chunks forgotten. */
static void pack_discard(struct capture *c)
{
	char hex[HEX_NAME + 1], name[NAME_MAX_OURS];

	if (c->wfd < 0)
		return;
	hex_name(c->w.pack_id, hex);
	snprintf(name, sizeof(name), "%s.tmp", hex);
	pack_writer_abort(&c->w);
	unlinkat(c->dirfd, name, 0);
	close(c->wfd);
	c->wfd = -1;
	pending_drop_open(c);
}

/* Seals the open pack (invariant 1) and makes it a pending sealed pack. */
static int pack_seal(struct capture *c)
{
	char hex[HEX_NAME + 1], tmp[NAME_MAX_OURS], name[NAME_MAX_OURS];
	uint8_t pid[PACK_ID_BYTES];
	struct capture_pack *p;
	void *ix = NULL;
	size_t ixlen, slot;
	struct stat st;
	int err;

	p = array_grow(c->packs, &c->packs_cap, c->npacks + 1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	c->packs = p;
	hex_name(c->w.pack_id, hex);
	err = pack_writer_finish(&c->w, pid, &ix, &ixlen);
	if (err)
		goto fail;
	if (fstat(c->wfd, &st) < 0) {
		err = -errno;
		goto fail;
	}
	snprintf(tmp, sizeof(tmp), "%s.index.tmp", hex);
	snprintf(name, sizeof(name), "%s.index", hex);
	err = write_file_at(c->dirfd, tmp, name, ix, ixlen);
	if (err)
		goto fail;
	snprintf(tmp, sizeof(tmp), "%s.tmp", hex);
	if (renameat(c->dirfd, tmp, c->dirfd, hex) < 0) {
		err = -errno;
		unlinkat(c->dirfd, name, 0);
		goto fail;
	}
	if (fsync(c->dirfd) < 0) {
		/* Unsure what is on disk: keep it out of every commit. */
		err = -errno;
		unlinkat(c->dirfd, hex, 0);
		unlinkat(c->dirfd, name, 0);
		goto fail_sealed;
	}
	free(ix);
	close(c->wfd);
	c->wfd = -1;
	slot = c->npacks++;
	memcpy(c->packs[slot].name, pid, PACK_ID_BYTES);
	c->packs[slot].size = (uint64_t)st.st_size;
	for (size_t i = c->nchunks; i && c->chunks[i - 1].pack == SIZE_MAX; i--)
		c->chunks[i - 1].pack = slot;
	c->st.packs_sealed++;
	return 0;

fail:
	/* The writer is released after a successful finish; abort is safe. */
	if (c->w.open) {
		free(ix);
		pack_discard(c);
		return err;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", hex);
	unlinkat(c->dirfd, tmp, 0);
fail_sealed:
	free(ix);
	close(c->wfd);
	c->wfd = -1;
	pending_drop_open(c);
	return err;
}

/* --- capture ------------------------------------------------------------ */

int capture_init(struct capture *c, struct meta *m, const struct master_key *mk,
		 int staging_dirfd)
{
	int err;

	memset(c, 0, sizeof(*c));
	c->wfd = -1;
	c->w.fd = -1;
	if (!m || !mk || staging_dirfd < 0)
		return -EINVAL;
	err = chunker_params_init(&c->cp, CHUNKER_DEFAULT_MIN,
				  CHUNKER_DEFAULT_AVG, CHUNKER_DEFAULT_MAX,
				  mk->chunker);
	if (err)
		return err;
	err = compressor_init(&c->z, 0);
	if (err)
		return err;
	c->bufcap = c->cp.max + CAPTURE_READ_SIZE;
	c->buf = malloc(c->bufcap);
	if (!c->buf) {
		compressor_release(&c->z);
		return -ENOMEM;
	}
	c->m = m;
	c->mk = mk;
	c->dirfd = staging_dirfd;
	return 0;
}

void capture_release(struct capture *c)
{
	pack_discard(c);
	compressor_release(&c->z);
	if (c->buf) {
		sodium_memzero(c->buf, c->bufcap);	/* file plaintext */
		free(c->buf);
	}
	free(c->packs);
	free(c->chunks);
	free(c->set);
	free(c->known);
	if (c->rix_valid)
		pack_index_release(&c->rix);
	memset(c, 0, sizeof(*c));
	c->wfd = -1;
}

/* One new chunk at file offset off: dedup or pack, then the manifest. */
static int take_chunk(struct capture *c, const uint8_t *data, size_t len,
		      uint64_t off, struct manifest *out)
{
	uint8_t id[CRYPTO_ID_BYTES];
	uint64_t pack, poff;
	uint32_t plen;
	int err;

	crypto_chunk_id(c->mk, data, len, id);
	if (set_has(c, id)) {
		c->st.chunks_dedup++;
	} else if (!(err = meta_chunk_find(c->m, id, &pack, &poff, &plen))) {
		c->st.chunks_dedup++;
	} else if (err != -ENOENT) {
		return err;
	} else {
		if (c->wfd < 0 && (err = pack_start(c)))
			return err;
		err = pack_writer_add(&c->w, id, data, len);
		if (err)
			return err;
		err = pending_add(c, &c->w.entries[c->w.n - 1]);
		if (err) {
			/* The pack has a chunk we cannot account for. */
			pack_discard(c);
			return err;
		}
		c->st.chunks_new++;
		c->st.bytes_new += len;
		c->st.bytes_stored += c->w.entries[c->w.n - 1].sealed_len;
		if (pack_writer_full(&c->w) && (err = pack_seal(c)))
			return err;
	}
	return manifest_append(out, off, id, (uint32_t)len);
}

static int cmp_range(const void *a, const void *b)
{
	const struct capture_range *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

/* Sorted, merged copy of the non-empty dirty ranges, with len meaning end. */
static int normalize(const struct capture_range *in, size_t n,
		     struct capture_range **out, size_t *nout)
{
	struct capture_range *r;
	size_t k = 0;

	*out = NULL;
	*nout = 0;
	if (n == 0)
		return 0;
	if (n > SIZE_MAX / sizeof(*r))
		return -ENOMEM;
	r = malloc(n * sizeof(*r));
	if (!r)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (in[i].len) {
			r[k].off = in[i].off;
			r[k].len = in[i].off > UINT64_MAX - in[i].len ?
				UINT64_MAX : in[i].off + in[i].len;
			k++;
		}
	qsort(r, k, sizeof(*r), cmp_range);
	if (k) {
		size_t w = 0;

		for (size_t i = 1; i < k; i++) {
			if (r[i].off <= r[w].len) {
				if (r[i].len > r[w].len)
					r[w].len = r[i].len;
			} else {
				r[++w] = r[i];
			}
		}
		k = w + 1;
	}
	*out = r;
	*nout = k;
	return 0;
}

struct walk {
	const struct manifest *old;
	uint64_t size, old_size;
	const struct capture_range *d;	/* [off, len=end) sorted, merged */
	size_t nd, di;
};

/* Whether old chunk i may be copied unread (queries in increasing i). */
static int clean(struct walk *k, size_t i)
{
	const struct manifest_entry *e = &k->old->e[i];
	uint64_t end = e->offset + e->length;

	if (end > k->size || (end == k->old_size && k->size != k->old_size))
		return 0;
	while (k->di < k->nd && k->d[k->di].len <= e->offset)
		k->di++;
	return !(k->di < k->nd && k->d[k->di].off < end);
}

int capture_file_cb(struct capture *c, capture_read_fn *read_at, void *arg,
		    uint64_t file_size, const struct manifest *old,
		    const struct capture_range *dirty, size_t ndirty,
		    struct manifest *out)
{
	struct manifest nm = { 0 };
	struct capture_range *d = NULL;
	struct walk k = { 0 };
	uint64_t pos = 0, bstart = 0;
	size_t blen = 0, i = 0;
	int err;

	if (file_size > (uint64_t)INT64_MAX)
		return -EFBIG;
	if (old && !manifest_valid(old))
		return -EINVAL;
	err = normalize(dirty, ndirty, &d, &k.nd);
	if (err)
		return err;
	k.old = old;
	k.size = file_size;
	k.old_size = manifest_size(old);
	k.d = d;

	while (pos < file_size) {
		uint64_t need, have_end;
		size_t len;

		if (old && i < old->n && old->e[i].offset == pos &&
		    clean(&k, i)) {
			err = manifest_append(&nm, pos, old->e[i].id,
					      old->e[i].length);
			if (err)
				goto out;
			pos += old->e[i].length;
			i++;
			c->st.chunks_kept++;
			continue;
		}
		/* Chunk from pos: have min(max, rest) bytes (invariant 2). */
		need = file_size - pos < c->cp.max ? file_size - pos : c->cp.max;
		if (pos < bstart || pos > bstart + blen) {
			bstart = pos;
			blen = 0;
		} else if (pos - bstart + need > c->bufcap) {
			size_t keep = (size_t)(bstart + blen - pos);

			memmove(c->buf, c->buf + (pos - bstart), keep);
			bstart = pos;
			blen = keep;
		}
		have_end = bstart + blen;
		if (have_end < pos + need) {
			size_t room = c->bufcap - blen;
			uint64_t want = pos + need - have_end, rd;

			rd = want > CAPTURE_READ_SIZE ? want : CAPTURE_READ_SIZE;
			if (rd > room)
				rd = room;
			if (rd > file_size - have_end)
				rd = file_size - have_end;
			err = read_at(arg, have_end, (size_t)rd, c->buf + blen);
			if (err)
				goto out;
			blen += (size_t)rd;
			c->st.bytes_read += rd;
		}
		len = chunker_cut(&c->cp, c->buf + (pos - bstart), (size_t)need);
		err = take_chunk(c, c->buf + (pos - bstart), len, pos, &nm);
		if (err)
			goto out;
		pos += len;
		while (old && i < old->n && old->e[i].offset < pos)
			i++;
	}
out:
	free(d);
	if (err) {
		manifest_release(&nm);
		manifest_release(out);
		return err;
	}
	manifest_release(out);
	*out = nm;
	return 0;
}

static int fd_read_at(void *arg, uint64_t off, size_t len, void *buf)
{
	ssize_t n = fd_pread_upto(*(int *)arg, buf, len, off);

	if (n < 0)
		return (int)n;
	return (size_t)n == len ? 0 : -EIO;	/* shorter than its size: changed */
}

int capture_file(struct capture *c, int fd, const struct manifest *old,
		 const struct capture_range *dirty, size_t ndirty,
		 struct manifest *out)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	return capture_file_cb(c, fd_read_at, &fd, (uint64_t)st.st_size, old,
			       dirty, ndirty, out);
}

/* --- commit ------------------------------------------------------------- */

int capture_commit(struct capture *c,
		   int (*add_versions)(void *arg, struct meta *m), void *arg)
{
	uint64_t *ids = NULL;
	size_t nk;
	int err;

	if (c->wfd >= 0) {
		if (pack_writer_count(&c->w) == 0)
			pack_discard(c);
		else if ((err = pack_seal(c)))
			return err;
	}
	if (c->npacks) {
		ids = calloc(c->npacks, sizeof(*ids));
		if (!ids)
			return -ENOMEM;
	}
	nk = c->nknown + c->npacks;
	if (nk > c->known_cap) {
		struct capture_known *kn;

		if (nk > SIZE_MAX / 2 / sizeof(*kn)) {
			free(ids);
			return -ENOMEM;
		}
		kn = realloc(c->known, 2 * nk * sizeof(*kn));
		if (!kn) {
			free(ids);
			return -ENOMEM;
		}
		c->known = kn;
		c->known_cap = 2 * nk;
	}
	err = meta_begin(c->m);
	if (err) {
		free(ids);
		return err;
	}
	for (size_t p = 0; p < c->npacks && !err; p++) {
		err = meta_pack_add(c->m, c->packs[p].name, c->packs[p].size,
				    NULL, &ids[p]);
		if (!err)
			err = meta_upload_enqueue(c->m, ids[p], 0);
	}
	for (size_t i = 0; i < c->nchunks && !err; i++) {
		const struct capture_chunk *ch = &c->chunks[i];

		err = meta_chunk_add(c->m, ch->id, ids[ch->pack], ch->offset,
				     ch->sealed_len, ch->raw_len);
		if (err == -EEXIST)
			err = 0;	/* another capture stored it meanwhile */
	}
	if (!err && add_versions)
		err = add_versions(arg, c->m);
	if (!err)
		err = meta_commit(c->m);
	else
		meta_rollback(c->m);
	if (err) {
		free(ids);
		return err;
	}
	for (size_t p = 0; p < c->npacks; p++) {
		c->known[c->nknown].pack_id = ids[p];
		memcpy(c->known[c->nknown].name, c->packs[p].name,
		       PACK_ID_BYTES);
		c->nknown++;
	}
	free(ids);
	c->npacks = 0;
	c->nchunks = 0;
	if (c->set_cap)
		memset(c->set, 0, c->set_cap * sizeof(*c->set));
	return 0;
}

/* --- recovery ------------------------------------------------------------ */

/*
 * Whether meta has a pack row named name.  meta.h has no lookup by name, so
 * this tries to add one inside the caller's probe transaction: -EEXIST
 * (the unique index pack_name) means known.  A row added for an unknown
 * name is rolled back right away, so every probe sees only committed rows.
 */
static int pack_known(struct meta *m, const uint8_t name[PACK_ID_BYTES])
{
	uint64_t id;
	int err = meta_pack_add(m, name, 0, NULL, &id);

	if (err == -EEXIST)
		return 1;
	if (err)
		return err;
	err = meta_rollback(m);
	if (!err)
		err = meta_begin(m);
	return err ? err : 0;
}

static int remove_name(int dirfd, const char *name, int *count)
{
	if (unlinkat(dirfd, name, 0) == 0) {
		(*count)++;
		return 0;
	}
	return errno == ENOENT ? 0 : -errno;
}

int capture_recover(int staging_dirfd, struct meta *m)
{
	struct dirent *de;
	int count = 0, err, fd;
	DIR *dir;

	fd = openat(staging_dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	dir = fdopendir(fd);
	if (!dir) {
		err = -errno;
		close(fd);
		return err;
	}
	err = meta_begin(m);
	if (err) {
		closedir(dir);
		return err;
	}
	while (!err && (errno = 0, de = readdir(dir))) {
		const char *n = de->d_name;
		size_t len = strlen(n);
		uint8_t name[PACK_ID_BYTES];
		char idx[NAME_MAX_OURS];
		int known;

		if (has_suffix(n, len, ".tmp")) {
			err = remove_name(staging_dirfd, n, &count);
			continue;
		}
		if (!((len == HEX_NAME ||
		       (len == HEX_NAME + 6 && has_suffix(n, len, ".index"))) &&
		      parse_hex_name(n, name) == 0))
			continue;	/* not ours: leave it */
		if (len != HEX_NAME) {
			/* An index: its pack decides, if the pack is there. */
			char pk[HEX_NAME + 1];

			memcpy(pk, n, HEX_NAME);
			pk[HEX_NAME] = '\0';
			if (faccessat(staging_dirfd, pk, F_OK,
				      AT_SYMLINK_NOFOLLOW) == 0)
				continue;
		}
		known = pack_known(m, name);
		if (known < 0) {
			err = known;
			break;
		}
		if (known)
			continue;
		err = remove_name(staging_dirfd, n, &count);
		if (!err && len == HEX_NAME) {
			snprintf(idx, sizeof(idx), "%.64s.index", n);
			err = remove_name(staging_dirfd, idx, &count);
		}
	}
	if (!err && errno)
		err = -errno;
	meta_rollback(m);
	if (!err && count && fsync(staging_dirfd) < 0)
		err = -errno;
	closedir(dir);
	return err ? err : count;
}

/* --- reading back -------------------------------------------------------- */

/* Makes c->rix the trailer index of staged pack name. */
static int load_index(struct capture *c, const uint8_t name[PACK_ID_BYTES])
{
	char hex[HEX_NAME + 1];
	struct stat st;
	int fd, err;

	if (c->rix_valid && !memcmp(c->rix_name, name, PACK_ID_BYTES))
		return 0;
	if (c->rix_valid) {
		pack_index_release(&c->rix);
		c->rix_valid = 0;
	}
	hex_name(name, hex);
	fd = openat(c->dirfd, hex, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		err = -errno;
	else
		err = pack_read_trailer(c->mk, name, (uint64_t)st.st_size,
					fd_read_at, &fd, &c->rix, NULL, NULL);
	close(fd);
	if (err)
		return err;
	memcpy(c->rix_name, name, PACK_ID_BYTES);
	c->rix_valid = 1;
	return 0;
}

/* Finds the staged pack holding id at off when this capture did not
 * commit it (another process did): scans staging's trailers. */
static int find_pack(struct capture *c, const uint8_t id[CRYPTO_ID_BYTES],
		     uint64_t off, uint8_t name[PACK_ID_BYTES])
{
	struct dirent *de;
	int err = -ENOENT, fd;
	DIR *dir;

	fd = openat(c->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	dir = fdopendir(fd);
	if (!dir) {
		err = -errno;
		close(fd);
		return err;
	}
	while (err == -ENOENT && (de = readdir(dir))) {
		const struct pack_entry *e;

		if (strlen(de->d_name) != HEX_NAME ||
		    parse_hex_name(de->d_name, name) ||
		    load_index(c, name))
			continue;
		e = pack_index_find(&c->rix, id);
		if (e && e->offset == off)
			err = 0;
	}
	closedir(dir);
	return err;
}

int capture_read_chunk(struct capture *c, const uint8_t id[CRYPTO_ID_BYTES],
		       void *buf, size_t cap, size_t *len)
{
	const struct pack_entry *e;
	uint8_t name[PACK_ID_BYTES], *sealed;
	char hex[HEX_NAME + 1];
	uint64_t pack, off;
	uint32_t slen;
	size_t k;
	int err, fd;

	*len = 0;
	err = meta_chunk_find(c->m, id, &pack, &off, &slen);
	if (err)
		return err;
	for (k = c->nknown; k > 0; k--)
		if (c->known[k - 1].pack_id == pack)
			break;
	if (k) {
		memcpy(name, c->known[k - 1].name, PACK_ID_BYTES);
		err = load_index(c, name);
	} else {
		err = find_pack(c, id, off, name);
	}
	if (err)
		return err;
	e = pack_index_find(&c->rix, id);
	if (!e || e->offset != off || e->sealed_len != slen)
		return -EBADMSG;	/* meta and the pack disagree */
	sealed = malloc(slen);
	if (!sealed)
		return -ENOMEM;
	hex_name(name, hex);
	fd = openat(c->dirfd, hex, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		err = -errno;
	} else {
		err = fd_read_at(&fd, off, slen, sealed);
		close(fd);
	}
	if (!err)
		err = pack_open_blob(c->mk, &c->z, id, e->raw_len, sealed,
				     slen, buf, cap, len);
	free(sealed);
	return err;
}
