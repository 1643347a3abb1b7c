/*
 * chunker.c - see chunker.h.  The whole chunker is one loop, scan(), that
 * rolls the gear hash over the bytes of one chunk in three stretches: the
 * first min bytes are skipped, then MaskS is tested up to avg, then MaskL up
 * to max.  Both chunker_cut() and the streaming chunker_feed() are that loop
 * with the hash state held in a local or in a struct chunker.
 *
 * The gear table derivation is part of the repository format (it decides
 * every cut point), so here it is exactly:
 *
 *   w[k]  = the 8 bytes seed[8k .. 8k+8) read little-endian, k = 0..3
 *   s     = 0; for k = 0..3: s = mix64(s ^ w[k])
 *   for v = 0..255: repeat g = splitmix64(&s) while run_cuts(g, mask_l);
 *                   gear[v] = g
 *
 * with mix64() the splitmix64 finalizer and splitmix64() the standard
 * generator (Steele, Lea, Flood 2014; Vigna's reference code).  run_cuts()
 * says whether a run of the byte v, hashed from fp = 0 as at a chunk's min
 * offset, would hit MaskL (and so MaskS, whose bits include MaskL's) within
 * 64 bytes; after 64 bytes such a run's fp is the constant -g and stays
 * off-mask.  That rejection is what gives invariant (4), and it is why the
 * table depends on avg as well as on the seed.
 */
#include "config.h"

#include <errno.h>

#include "banned.h"
#include "chunker.h"
#include "le.h"

#define GOLDEN 0x9E3779B97F4A7C15ULL

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static uint64_t splitmix64(uint64_t *s)
{
	*s += GOLDEN;
	return mix64(*s);
}

static int run_cuts(uint64_t g, uint64_t mask)
{
	uint64_t fp = 0;

	for (int n = 0; n < 64; n++) {
		fp = (fp << 1) + g;
		if (!(fp & mask))
			return 1;
	}
	return 0;
}

int chunker_params_init(struct chunker_params *p, size_t min, size_t avg,
			size_t max, const uint8_t seed[CHUNKER_SEED_SIZE])
{
	unsigned int bits;
	uint64_t s = 0;

	if (!seed || (avg & (avg - 1)) || min < CHUNKER_MIN_MIN ||
	    avg < CHUNKER_MIN_AVG || min >= avg || avg >= max ||
	    max > CHUNKER_MAX_MAX)
		return -EINVAL;
	bits = (unsigned int)__builtin_ctzll(avg);	/* 8 .. 23 */

	p->min = min;
	p->avg = avg;
	p->max = max;
	/*
	 * Top bits: with the left shift, bit k of fp depends on the last k+1
	 * bytes, so the top bits see the widest window.
	 */
	p->mask_s = ~0ULL << (64 - (bits + 2));
	p->mask_l = ~0ULL << (64 - (bits - 2));
	for (int k = 0; k < 4; k++)
		s = mix64(s ^ get_le64(seed + 8 * k));
	for (int v = 0; v < 256; v++) {
		uint64_t g;

		do
			g = splitmix64(&s);
		while (run_cuts(g, p->mask_l));
		p->gear[v] = g;
	}
	return 0;
}

/*
 * Scans buf[0..len), which continues a chunk of which pos bytes came before
 * with hash *fpp.  Returns how many bytes of buf belong to that chunk and
 * sets *cut if it ends there; then *fpp is reset for the next chunk.
 */
static size_t scan(const struct chunker_params *p, uint64_t *fpp, size_t pos,
		   const uint8_t *buf, size_t len, int *cut)
{
	const uint64_t *gear = p->gear;
	uint64_t fp = *fpp;
	uint64_t mask;
	size_t i = 0, end, n;

	/* n: the bytes of buf this chunk can take before max forces a cut */
	n = p->max - pos;
	if (len < n)
		n = len;
	if (pos < p->min) {
		i = p->min - pos;
		if (i >= n) {
			i = n;
			goto out;
		}
	}
	if (pos + i < p->avg) {
		end = p->avg - pos;
		if (end > n)
			end = n;
		mask = p->mask_s;
		for (; i < end; i++) {
			fp = (fp << 1) + gear[buf[i]];
			if (!(fp & mask))
				goto found;
		}
	}
	mask = p->mask_l;
	for (; i < n; i++) {
		fp = (fp << 1) + gear[buf[i]];
		if (!(fp & mask))
			goto found;
	}
out:
	if (pos + i == p->max)
		goto forced;
	*fpp = fp;
	*cut = 0;
	return i;
found:
	i++;	/* the byte that matched ends the chunk */
forced:
	*fpp = 0;
	*cut = 1;
	return i;
}

size_t chunker_cut(const struct chunker_params *p, const uint8_t *buf,
		   size_t len)
{
	uint64_t fp = 0;
	int cut;

	return scan(p, &fp, 0, buf, len, &cut);
}

void chunker_init(struct chunker *c, const struct chunker_params *p)
{
	c->p = p;
	chunker_reset(c);
}

void chunker_reset(struct chunker *c)
{
	c->fp = 0;
	c->pos = 0;
}

size_t chunker_feed(struct chunker *c, const uint8_t *buf, size_t len,
		    int *cut)
{
	size_t n = scan(c->p, &c->fp, c->pos, buf, len, cut);

	c->pos = *cut ? 0 : c->pos + n;
	return n;
}

int chunker_split(const struct chunker_params *p, const uint8_t *buf,
		  size_t len, int (*cb)(void *arg, size_t off, size_t len),
		  void *arg)
{
	size_t off = 0;

	while (off < len) {
		size_t n = chunker_cut(p, buf + off, len - off);
		int ret = cb(arg, off, n);

		if (ret)
			return ret;
		off += n;
	}
	return 0;
}
