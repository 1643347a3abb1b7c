/*
 * test-chunker.c - FastCDC content-defined chunking (chunker.c): parameter
 * checks, chunk-size bounds and average, determinism, streaming equals
 * one-shot, seeds, resynchronization after an edit, runs of one byte, and
 * golden values that pin the repository format.  Test data comes from a
 * seeded splitmix64, so every run sees the same bytes.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "banned.h"
#include "chunker.h"
#include "tap.h"

#define MiB (1u << 20)

struct cuts {
	size_t *off, *len;
	size_t n, cap;
};

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static void fill_random(uint8_t *buf, size_t len, uint64_t seed)
{
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		uint64_t v = rng_next(&seed);

		memcpy(buf + i, &v, 8);
	}
	for (; i < len; i++)
		buf[i] = (uint8_t)rng_next(&seed);
}

static int collect(void *arg, size_t off, size_t len)
{
	struct cuts *c = arg;

	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 256;
		size_t *o = realloc(c->off, cap * sizeof(*o));

		if (!o)
			return -ENOMEM;
		c->off = o;
		o = realloc(c->len, cap * sizeof(*o));
		if (!o)
			return -ENOMEM;
		c->len = o;
		c->cap = cap;
	}
	c->off[c->n] = off;
	c->len[c->n] = len;
	c->n++;
	return 0;
}

static void cuts_free(struct cuts *c)
{
	free(c->off);
	free(c->len);
	memset(c, 0, sizeof(*c));
}

static int split(const struct chunker_params *p, const uint8_t *buf,
		 size_t len, struct cuts *c)
{
	c->n = 0;
	return chunker_split(p, buf, len, collect, c);
}

static int cuts_equal(const struct cuts *a, const struct cuts *b)
{
	return a->n == b->n &&
	       !memcmp(a->off, b->off, a->n * sizeof(*a->off)) &&
	       !memcmp(a->len, b->len, a->n * sizeof(*a->len));
}

/* Does c hold the chunk (off, len)?  Offsets are sorted. */
static int has_chunk(const struct cuts *c, size_t off, size_t len)
{
	size_t lo = 0, hi = c->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (c->off[mid] < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < c->n && c->off[lo] == off && c->len[lo] == len;
}

/* Every chunk but the last within (min, max], the last within (0, max]. */
static int bounds_ok(const struct chunker_params *p, const struct cuts *c,
		     size_t total)
{
	size_t off = 0;

	for (size_t i = 0; i < c->n; i++) {
		if (c->off[i] != off || c->len[i] == 0 || c->len[i] > p->max)
			return 0;
		if (i + 1 < c->n && c->len[i] <= p->min)
			return 0;
		off += c->len[i];
	}
	return off == total;
}

/* Streams buf through struct chunker in pieces of pseudo-random sizes. */
static int stream(const struct chunker_params *p, const uint8_t *buf,
		  size_t len, size_t maxpiece, uint64_t seed, struct cuts *c)
{
	struct chunker ch;
	size_t off = 0, start = 0;
	int cut, ret;

	c->n = 0;
	chunker_init(&ch, p);
	while (off < len) {
		size_t piece = 1 + rng_next(&seed) % maxpiece;

		if (piece > len - off)
			piece = len - off;
		for (size_t done = 0; done < piece;) {
			size_t n = chunker_feed(&ch, buf + off + done,
						piece - done, &cut);

			done += n;
			if (cut) {
				ret = collect(c, start, off + done - start);
				if (ret)
					return ret;
				start = off + done;
			}
		}
		off += piece;
	}
	if (chunker_pending(&ch) > 0) {
		if (chunker_pending(&ch) != len - start)
			return -EIO;
		return collect(c, start, len - start);
	}
	return 0;
}

/*
 * Replaces buf[at .. at+del) with ins bytes of new data, chunks both
 * versions and counts the new version's chunks that the old one has
 * (at the same offset before the edit, shifted by ins - del after it).
 * *before_ok says whether every old chunk that ends before the edit is
 * still there.
 */
static int edit_shared(const struct chunker_params *p, const uint8_t *buf,
		       size_t len, size_t at, size_t del, size_t ins,
		       size_t *shared, size_t *total, int *before_ok)
{
	struct cuts a = { 0 }, b = { 0 };
	size_t nlen = len - del + ins;
	uint8_t *nbuf = malloc(nlen);
	int ret = -ENOMEM;

	if (!nbuf)
		return ret;
	memcpy(nbuf, buf, at);
	fill_random(nbuf + at, ins, 777);
	memcpy(nbuf + at + ins, buf + at + del, len - at - del);
	if ((ret = split(p, buf, len, &a)) || (ret = split(p, nbuf, nlen, &b)))
		goto out;
	*shared = 0;
	*total = b.n;
	for (size_t i = 0; i < b.n; i++) {
		size_t o = b.off[i], l = b.len[i];

		if (o + l <= at)
			*shared += has_chunk(&a, o, l);
		else if (o >= at + ins)
			*shared += has_chunk(&a, o - ins + del, l) &&
				   !memcmp(nbuf + o, buf + o - ins + del, l);
	}
	*before_ok = 1;
	for (size_t i = 0; i < a.n && a.off[i] + a.len[i] <= at; i++)
		*before_ok &= has_chunk(&b, a.off[i], a.len[i]);
out:
	cuts_free(&a);
	cuts_free(&b);
	free(nbuf);
	return ret;
}

static void test_params(const uint8_t *seed)
{
	struct chunker_params p, q;

	ok(chunker_params_init(&p, CHUNKER_DEFAULT_MIN, CHUNKER_DEFAULT_AVG,
			       CHUNKER_DEFAULT_MAX, seed) == 0 &&
	   p.min == 64 << 10 && p.avg == 256 << 10 && p.max == 1 << 20,
	   "the defaults 64 KiB / 256 KiB / 1 MiB are valid");
	ok(__builtin_popcountll(p.mask_s) == 20 &&
	   __builtin_popcountll(p.mask_l) == 16 && (p.mask_s & p.mask_l) ==
	   p.mask_l, "NC level 2: MaskS has 18+2 bits, MaskL 18-2 within it");
	q = p;
	ok(chunker_params_init(&p, 64 << 10, 300000, 1 << 20, seed) == -EINVAL,
	   "avg not a power of two is refused");
	ok(chunker_params_init(&p, 256 << 10, 256 << 10, 1 << 20, seed) ==
	   -EINVAL, "min == avg is refused");
	ok(chunker_params_init(&p, 64 << 10, 1 << 20, 1 << 20, seed) ==
	   -EINVAL, "avg == max is refused");
	ok(chunker_params_init(&p, 64 << 10, 512 << 10, 256 << 10, seed) ==
	   -EINVAL, "avg > max is refused");
	ok(chunker_params_init(&p, 1 << 20, 8 << 20, (16 << 20) + 1, seed) ==
	   -EINVAL, "max above 16 MiB is refused");
	ok(chunker_params_init(&p, 32, 4096, 65536, seed) == -EINVAL,
	   "min below 64 bytes is refused");
	ok(chunker_params_init(&p, 64, 128, 65536, seed) == -EINVAL,
	   "avg below 256 bytes is refused");
	ok(chunker_params_init(&p, 64 << 10, 256 << 10, 1 << 20, NULL) ==
	   -EINVAL, "a missing seed is refused");
	ok(!memcmp(&p, &q, sizeof(p)), "a refused init leaves params alone");
	ok(chunker_params_init(&p, 1 << 20, 8 << 20, 16 << 20, seed) == 0 &&
	   chunker_params_init(&p, 64, 256, 257, seed) == 0,
	   "the extremes 1M/8M/16M and 64/256/257 are accepted");
}

static void test_golden(void)
{
	static const uint8_t seed0[CHUNKER_SEED_SIZE];
	struct chunker_params p;
	struct cuts c = { 0 };
	uint8_t *buf = malloc(8 * MiB);
	uint64_t h = 0;

	if (!buf)
		abort();
	chunker_params_init(&p, CHUNKER_DEFAULT_MIN, CHUNKER_DEFAULT_AVG,
			    CHUNKER_DEFAULT_MAX, seed0);
	fill_random(buf, 8 * MiB, 1);
	split(&p, buf, 8 * MiB, &c);
	for (size_t i = 0; i < c.n; i++)
		h = h * 1000003 + c.len[i];
	/*
	 * These pin the table derivation and the cut rule, which are part of
	 * the repository format: if they change, existing repositories stop
	 * deduplicating against new captures.  Change them only with a new
	 * repository format version.  gear[0] here is the first output of
	 * the reference splitmix64 seeded with 0.
	 */
	ok(p.gear[0] == 0xe220a8397b1dcdafULL &&
	   p.gear[255] == 0x5a5832bb47bcf19eULL,
	   "gear table for the all-zero seed is as pinned");
	ok(c.n == 29 && h == 0x23f49ac890553fb4ULL,
	   "cut points of a pinned input are as pinned (%zu chunks)", c.n);
	cuts_free(&c);
	free(buf);
}

static void test_runs(const uint8_t *seed)
{
	struct chunker_params p;
	uint8_t run[4096], mixed[1000 + 8192];
	struct cuts c = { 0 };
	int all_max = 1, mid_ok = 1;

	/* Small parameters make every byte value under many seeds cheap. */
	for (int s = 0; s < 16; s++) {
		uint8_t sd[CHUNKER_SEED_SIZE];

		memcpy(sd, seed, sizeof(sd));
		sd[0] ^= (uint8_t)s;
		chunker_params_init(&p, 64, 256, 4096, sd);
		for (int v = 0; v < 256; v++) {
			memset(run, v, sizeof(run));
			all_max &= chunker_cut(&p, run, sizeof(run)) == 4096;
			fill_random(mixed, 1000, (uint64_t)(s * 256 + v));
			memset(mixed + 1000, v, 8192);
			split(&p, mixed, sizeof(mixed), &c);
			for (size_t i = 0; i < c.n; i++) {
				size_t end = c.off[i] + c.len[i];

				if (end > 1000 + 63 && end < sizeof(mixed) &&
				    c.len[i] != 4096)
					mid_ok = 0;
			}
		}
	}
	ok(all_max, "a run of any byte value is one max-size chunk (16 seeds)");
	ok(mid_ok, "no cut more than 64 bytes into a run but forced ones");
	cuts_free(&c);
}

int main(void)
{
	static const size_t size = 64 * MiB, half = 32 * MiB;
	uint8_t seed[CHUNKER_SEED_SIZE], seed2[CHUNKER_SEED_SIZE];
	struct chunker_params p, p2;
	struct cuts a = { 0 }, b = { 0 };
	uint8_t *buf, *zeros;
	size_t shared, total, same;
	int before_ok, bounds;
	double mean;

	fill_random(seed, sizeof(seed), 42);
	fill_random(seed2, sizeof(seed2), 43);
	test_params(seed);
	test_golden();
	test_runs(seed);

	buf = malloc(size);
	zeros = calloc(1, 8 * MiB);
	if (!buf || !zeros)
		return 99;
	fill_random(buf, size, 12345);
	chunker_params_init(&p, CHUNKER_DEFAULT_MIN, CHUNKER_DEFAULT_AVG,
			    CHUNKER_DEFAULT_MAX, seed);
	chunker_params_init(&p2, CHUNKER_DEFAULT_MIN, CHUNKER_DEFAULT_AVG,
			    CHUNKER_DEFAULT_MAX, seed2);

	ok(split(&p, buf, size, &a) == 0, "64 MiB of random data splits");
	ok(bounds_ok(&p, &a, size),
	   "chunks tile the input, all in (min, max] but the last");
	mean = (double)size / (double)a.n;
	ok(mean >= 0.7 * (double)p.avg && mean <= 1.5 * (double)p.avg,
	   "average chunk %.0f bytes is within 0.7..1.5 x avg (%zu chunks)",
	   mean, a.n);
	split(&p, buf, size, &b);
	ok(cuts_equal(&a, &b), "the same input gives the same cuts");

	ok(stream(&p, buf, size, 3 * MiB, 1, &b) == 0 && cuts_equal(&a, &b),
	   "streaming in pieces of up to 3 MiB cuts at the same places");
	split(&p, buf, 4 * MiB, &a);
	ok(stream(&p, buf, 4 * MiB, 1, 2, &b) == 0 && cuts_equal(&a, &b),
	   "streaming byte by byte cuts at the same places");
	ok(stream(&p, buf, 4 * MiB, 300, 3, &b) == 0 && cuts_equal(&a, &b),
	   "streaming in pieces of up to 300 bytes cuts at the same places");

	split(&p, buf, half, &a);
	split(&p2, buf, half, &b);
	same = 0;
	for (size_t i = 0; i + 1 < b.n; i++)
		same += has_chunk(&a, b.off[i], b.len[i]);
	ok(!cuts_equal(&a, &b) && same * 10 < b.n,
	   "another seed cuts elsewhere (%zu of %zu chunks in common)",
	   same, b.n);

	ok(edit_shared(&p, buf, half, half / 2 + 12345, 0, 100, &shared,
		       &total, &before_ok) == 0 && before_ok,
	   "after inserting 100 bytes mid-file the chunks before it remain");
	ok(shared * 10 >= total * 9,
	   "and the chunking resynchronizes: %zu of %zu chunks shared",
	   shared, total);
	ok(edit_shared(&p, buf, half, half / 2 + 999, 100, 0, &shared,
		       &total, &before_ok) == 0 && before_ok &&
	   shared * 10 >= total * 9,
	   "deleting 100 bytes: %zu of %zu chunks shared", shared, total);
	ok(edit_shared(&p, buf, half, half / 3, 4096, 4096, &shared,
		       &total, &before_ok) == 0 && before_ok &&
	   shared * 10 >= total * 9,
	   "overwriting 4 KiB: %zu of %zu chunks shared", shared, total);

	ok(split(&p, zeros, 8 * MiB, &a) == 0 && a.n == 8 &&
	   a.len[0] == p.max && a.len[7] == p.max,
	   "8 MiB of zeros are 8 max-size chunks");
	split(&p, zeros, 8 * MiB - 5, &a);
	ok(a.n == 8 && a.len[6] == p.max && a.len[7] == p.max - 5,
	   "and a shorter tail is the last chunk");

	split(&p, buf, size, &a);
	ok(chunker_cut(&p, buf, 0) == 0 && chunker_cut(&p, buf, 1) == 1 &&
	   chunker_cut(&p, buf, p.min) == p.min &&
	   chunker_cut(&p, buf, p.min + 1) <= p.min + 1,
	   "short buffers return their length");
	ok(a.len[0] > p.min + 1 && chunker_cut(&p, buf, a.len[0] - 1) ==
	   a.len[0] - 1 && chunker_cut(&p, buf, a.len[0]) == a.len[0],
	   "a buffer that ends before the first cut point returns len");
	ok(chunker_cut(&p, zeros, 3 * p.max) == p.max &&
	   chunker_cut(&p, zeros, p.max - 1) == p.max - 1,
	   "never more than max, even from a longer buffer");
	bounds = 1;
	for (size_t i = 0; i < a.n; i++) {
		size_t n = size - a.off[i] < p.max ? size - a.off[i] : p.max;

		bounds &= chunker_cut(&p, buf + a.off[i], n) == a.len[i];
	}
	ok(bounds, "a window of max bytes from each chunk start is enough");

	cuts_free(&a);
	cuts_free(&b);
	free(zeros);
	free(buf);
	return tap_done();
}
