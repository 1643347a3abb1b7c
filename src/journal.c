/*
 * journal.c - dirty sets, cuts and pre-images (journal.h has the contract
 * and invariant E).
 *
 * Structures.  A file entry (struct jfile) lives in a chained hash table
 * keyed by the caller's key, from its first write or cut until
 * journal_forget() or journal_free() (kept across cuts so a lost dirty
 * range can be remembered as "full").  It holds the dirty set and a list
 * of active cuts.  A cut holds its dirty ranges (immutable once cut), its
 * released set, its saved extents (sorted, disjoint; each in memory or at
 * an offset of the cut's spill file) and its spill file.  Intervals are
 * half open [lo, hi) with hi <= UINT64_MAX, so "to the end" is
 * [x, UINT64_MAX).
 *
 * Invariants:
 *  (1) Every interval set (dirty, released) is sorted, disjoint and
 *      non-adjacent (adjacent intervals are merged); saved extents are
 *      sorted and disjoint, each within [0, size_at_cut) and at most
 *      JOURNAL_EXTENT_MAX long.
 *  (2) A saved extent never lies wholly inside the released set: the
 *      release that covers it frees it (journal.h invariant 3).  So the
 *      protected-and-unsaved part of a range is the range minus the
 *      released set minus the saved extents.
 *  (3) f->ncuts changes only under both the journal lock and f's lock, so
 *      pre_write may read it under the journal lock alone (its fast path);
 *      an entry with ncuts > 0 is never freed, which is what lets a cut
 *      take its file's lock without the journal lock.
 *  (4) mem_used counts the bytes of in-memory extents and never exceeds
 *      mem_cap: it is reserved (atomic add, undone if over) before the
 *      malloc.
 *
 * Lock order: journal lock -> file lock.  A thread looks an entry up and
 * locks it while holding the journal lock, then drops the journal lock;
 * since entries are only unlinked with both locks held, the pointer stays
 * good.  The pread of the real file and the spill file I/O run under the
 * file lock only (that is invariant E's point, journal.h 2).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "banned.h"
#include "fdio.h"
#include "journal.h"

#define NBUCKETS_INIT	64
#define NLOST		32

struct jiv {
	uint64_t lo, hi;
};

struct jset {
	struct jiv *r;
	size_t n, cap;
};

struct jext {
	uint64_t lo, hi;
	uint8_t *mem;			/* NULL: in the spill file */
	uint64_t spill_off;
};

struct jfile;

struct journal_cut {
	struct journal *j;
	struct jfile *f;
	struct journal_cut *next;	/* f's list */
	uint64_t key, t, size;
	int fd;
	unsigned int flags;
	struct capture_range *ranges;
	size_t nranges;

	/* Under f->lock: */
	int exact;
	struct jset rel;		/* released */
	struct jext *ext;		/* saved */
	size_t n_ext, ext_cap;
	int spill_fd;			/* -1: none yet */
	uint64_t spill_end;
};

struct jfile {
	struct jfile *hnext;
	uint64_t key;
	pthread_mutex_t lock;
	/* Under lock: */
	struct jset dirty;
	int full, truncated;
	/* Under lock and the journal lock (invariant 3): */
	size_t ncuts;
	struct journal_cut *cuts;
};

struct journal {
	pthread_mutex_t lock;
	struct jfile **b;
	size_t nb, nfiles;
	uint64_t lost[NLOST];		/* keys whose entry could not be made */
	size_t nlost;
	int lost_overflow;		/* then every new entry starts full */

	int spill_dirfd;
	uint64_t mem_cap;
	/* Atomics: */
	uint64_t mem_used, saved, spilled, active, cuts, failures;
	uint64_t spill_seq;
};

/* --- atomics ------------------------------------------------------------ */

static void add64(uint64_t *p, uint64_t v)
{
	__atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}

static void sub64(uint64_t *p, uint64_t v)
{
	__atomic_fetch_sub(p, v, __ATOMIC_RELAXED);
}

static uint64_t get64(uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* Reserves len bytes of mem_cap (invariant 4). */
static int mem_reserve(struct journal *j, uint64_t len)
{
	uint64_t now = __atomic_add_fetch(&j->mem_used, len, __ATOMIC_RELAXED);

	if (now > j->mem_cap || now < len) {
		sub64(&j->mem_used, len);
		return 0;
	}
	return 1;
}

/* --- interval sets ------------------------------------------------------ */

/* First index whose interval ends at or after x (may touch x). */
static size_t set_find(const struct jset *s, uint64_t x)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->r[mid].hi < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Adds [lo, hi), merging; returns the index of the merged interval. */
static int set_add(struct jset *s, uint64_t lo, uint64_t hi, size_t *at)
{
	size_t i, k;

	if (lo >= hi)
		return 0;
	i = set_find(s, lo);
	k = i;
	while (k < s->n && s->r[k].lo <= hi)
		k++;
	if (k > i) {
		if (s->r[i].lo < lo)
			lo = s->r[i].lo;
		if (s->r[k - 1].hi > hi)
			hi = s->r[k - 1].hi;
		s->r[i].lo = lo;
		s->r[i].hi = hi;
		memmove(s->r + i + 1, s->r + k, (s->n - k) * sizeof(*s->r));
		s->n -= k - i - 1;
	} else {
		if (s->n == s->cap) {
			size_t nc = s->cap ? 2 * s->cap : 8;
			struct jiv *nr = realloc(s->r, nc * sizeof(*nr));

			if (!nr)
				return -ENOMEM;
			s->r = nr;
			s->cap = nc;
		}
		memmove(s->r + i + 1, s->r + i, (s->n - i) * sizeof(*s->r));
		s->r[i].lo = lo;
		s->r[i].hi = hi;
		s->n++;
	}
	if (at)
		*at = i;
	return 0;
}

static void set_release(struct jset *s)
{
	free(s->r);
	s->r = NULL;
	s->n = s->cap = 0;
}

/* --- the map ------------------------------------------------------------ */

static size_t bucket(const struct journal *j, uint64_t key)
{
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdULL;
	key ^= key >> 33;
	return (size_t)(key & (j->nb - 1));
}

/* Under j->lock. */
static struct jfile *lookup(struct journal *j, uint64_t key)
{
	struct jfile *f = j->b[bucket(j, key)];

	while (f && f->key != key)
		f = f->hnext;
	return f;
}

/* Under j->lock: doubles the table when it is full; failure is harmless. */
static void maybe_grow(struct journal *j)
{
	struct jfile **nb;
	size_t old = j->nb;

	if (j->nfiles < j->nb)
		return;
	nb = calloc(2 * old, sizeof(*nb));
	if (!nb)
		return;
	struct jfile **ob = j->b;

	j->b = nb;
	j->nb = 2 * old;
	for (size_t i = 0; i < old; i++) {
		while (ob[i]) {
			struct jfile *f = ob[i];
			size_t h = bucket(j, f->key);

			ob[i] = f->hnext;
			f->hnext = nb[h];
			nb[h] = f;
		}
	}
	free(ob);
}

/* Under j->lock: finds or makes key's entry; NULL on ENOMEM (recorded). */
static struct jfile *get_file(struct journal *j, uint64_t key)
{
	struct jfile *f = lookup(j, key);
	size_t h;

	if (f)
		return f;
	f = calloc(1, sizeof(*f));
	if (!f || pthread_mutex_init(&f->lock, NULL) != 0) {
		free(f);
		add64(&j->failures, 1);
		if (j->nlost < NLOST) {
			size_t i;

			for (i = 0; i < j->nlost && j->lost[i] != key; i++)
				;
			if (i == j->nlost)
				j->lost[j->nlost++] = key;
		} else {
			j->lost_overflow = 1;
		}
		return NULL;
	}
	f->key = key;
	f->full = j->lost_overflow;
	for (size_t i = 0; i < j->nlost; i++) {
		if (j->lost[i] == key) {
			f->full = 1;
			j->lost[i] = j->lost[--j->nlost];
			break;
		}
	}
	maybe_grow(j);
	h = bucket(j, key);
	f->hnext = j->b[h];
	j->b[h] = f;
	j->nfiles++;
	return f;
}

static void free_file(struct jfile *f)
{
	set_release(&f->dirty);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

struct journal *journal_new(int spill_dirfd, size_t mem_cap)
{
	struct journal *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	j->nb = NBUCKETS_INIT;
	j->b = calloc(j->nb, sizeof(*j->b));
	if (!j->b || pthread_mutex_init(&j->lock, NULL) != 0) {
		free(j->b);
		free(j);
		return NULL;
	}
	j->spill_dirfd = spill_dirfd;
	j->mem_cap = mem_cap;
	return j;
}

void journal_free(struct journal *j)
{
	if (!j)
		return;
	for (size_t i = 0; i < j->nb; i++) {
		while (j->b[i]) {
			struct jfile *f = j->b[i];

			j->b[i] = f->hnext;
			free_file(f);
		}
	}
	free(j->b);
	pthread_mutex_destroy(&j->lock);
	free(j);
}

void journal_get_stats(struct journal *j, struct journal_stats *st)
{
	st->preimage_bytes = get64(&j->saved);
	st->spilled_bytes = get64(&j->spilled);
	st->mem_bytes = get64(&j->mem_used);
	st->active_cuts = get64(&j->active);
	st->cuts = get64(&j->cuts);
	st->failures = get64(&j->failures);
}

/* --- pre-images --------------------------------------------------------- */

/* Reads [off, off + len) of fd; past the end of file reads zeros. */

/* Reads len bytes at off; bytes past the end of file read as zeros (the
 * file was truncated: a protected tail is saved before that happens). */
static int pread_zero(int fd, void *buf, size_t len, uint64_t off)
{
	ssize_t n = fd_pread_upto(fd, buf, len, off);

	if (n < 0)
		return (int)n;
	memset((uint8_t *)buf + n, 0, len - (size_t)n);
	return 0;
}

/* An unlinked temporary file in the spill directory, or -errno. */
static int spill_open(struct journal *j)
{
	char name[64];
	int fd;

	if (j->spill_dirfd < 0)
		return -EBADF;
#ifdef O_TMPFILE
	fd = openat(j->spill_dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL &&
	    errno != ENOENT)
		return -errno;
#endif
	for (int tries = 0; tries < 16; tries++) {
		uint64_t n = __atomic_add_fetch(&j->spill_seq, 1,
						__ATOMIC_RELAXED);

		snprintf(name, sizeof(name), "journal-%ld-%llu-%p.tmp",
			 (long)getpid(), (unsigned long long)n, (void *)j);
		fd = openat(j->spill_dirfd, name,
			    O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0) {
			(void)unlinkat(j->spill_dirfd, name, 0);
			return fd;
		}
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

/* Under f->lock: inserts e at its place (extents are disjoint). */
static int ext_insert(struct journal_cut *c, const struct jext *e)
{
	size_t lo = 0, hi = c->n_ext;

	if (c->n_ext == c->ext_cap) {
		size_t nc = c->ext_cap ? 2 * c->ext_cap : 16;
		struct jext *ne = realloc(c->ext, nc * sizeof(*ne));

		if (!ne)
			return -ENOMEM;
		c->ext = ne;
		c->ext_cap = nc;
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (c->ext[mid].lo < e->lo)
			lo = mid + 1;
		else
			hi = mid;
	}
	memmove(c->ext + lo + 1, c->ext + lo, (c->n_ext - lo) * sizeof(*c->ext));
	c->ext[lo] = *e;
	c->n_ext++;
	return 0;
}

/* First extent that ends after x. */
static size_t ext_find(const struct journal_cut *c, uint64_t x)
{
	size_t lo = 0, hi = c->n_ext;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (c->ext[mid].hi <= x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void ext_free(struct journal *j, struct jext *e)
{
	if (e->mem) {
		free(e->mem);
		sub64(&j->mem_used, e->hi - e->lo);
	}
}

static void cut_fail(struct journal_cut *c)
{
	c->exact = 0;
	add64(&c->j->failures, 1);
}

/*
 * Under f->lock: saves [lo, hi) (protected, unsaved, at most
 * JOURNAL_EXTENT_MAX) of fd for c, in memory if mem_cap allows, else
 * through tmp (JOURNAL_EXTENT_MAX bytes, or NULL: not allocated yet).
 */
static void save_one(struct journal_cut *c, int fd, uint64_t lo, uint64_t hi,
		     uint8_t **tmp)
{
	struct journal *j = c->j;
	size_t len = (size_t)(hi - lo);
	struct jext e = { .lo = lo, .hi = hi };
	int err;

	if (mem_reserve(j, len)) {
		e.mem = malloc(len);
		if (!e.mem)
			sub64(&j->mem_used, len);
	}
	if (e.mem) {
		err = pread_zero(fd, e.mem, len, lo);
		if (!err)
			err = ext_insert(c, &e);
		if (err) {
			ext_free(j, &e);
			cut_fail(c);
			return;
		}
		add64(&j->saved, len);
		return;
	}
	if (c->spill_fd < 0) {
		err = spill_open(j);
		if (err < 0) {
			cut_fail(c);
			return;
		}
		c->spill_fd = err;
	}
	if (!*tmp)
		*tmp = malloc(JOURNAL_EXTENT_MAX);
	if (!*tmp) {
		cut_fail(c);
		return;
	}
	e.spill_off = c->spill_end;
	err = pread_zero(fd, *tmp, len, lo);
	if (!err)
		err = fd_pwrite_all(c->spill_fd, *tmp, len, e.spill_off);
	if (!err)
		err = ext_insert(c, &e);
	if (err) {
		cut_fail(c);
		return;
	}
	c->spill_end += len;
	add64(&j->saved, len);
	add64(&j->spilled, len);
}

/*
 * Under f->lock: saves the protected, unsaved part of [a, b) for c
 * (invariant 2: [a, b) minus released minus saved).
 */
static void save_range(struct journal_cut *c, int fd, uint64_t a, uint64_t b,
		       uint8_t **tmp)
{
	size_t ir, ie;
	uint64_t x = a;

	if (b > c->size)
		b = c->size;
	if (a >= b)
		return;
	ir = set_find(&c->rel, x);
	ie = ext_find(c, x);
	while (x < b) {
		uint64_t next = b;

		while (ir < c->rel.n && c->rel.r[ir].hi <= x)
			ir++;
		while (ie < c->n_ext && c->ext[ie].hi <= x)
			ie++;
		if (ir < c->rel.n && c->rel.r[ir].lo <= x) {
			x = c->rel.r[ir].hi;
			continue;
		}
		if (ie < c->n_ext && c->ext[ie].lo <= x) {
			x = c->ext[ie].hi;
			continue;
		}
		if (ir < c->rel.n && c->rel.r[ir].lo < next)
			next = c->rel.r[ir].lo;
		if (ie < c->n_ext && c->ext[ie].lo < next)
			next = c->ext[ie].lo;
		if (next - x > JOURNAL_EXTENT_MAX)
			next = x + JOURNAL_EXTENT_MAX;
		save_one(c, fd, x, next, tmp);
		/* ext may have grown before ie: find again. */
		ie = ext_find(c, next);
		x = next;
	}
}

void journal_pre_write(struct journal *j, uint64_t key, int fd,
		       uint64_t off, uint64_t len)
{
	struct jfile *f;
	uint8_t *tmp = NULL;
	uint64_t end = UINT64_MAX - off < len ? UINT64_MAX : off + len;

	if (len == 0)
		return;
	pthread_mutex_lock(&j->lock);
	f = lookup(j, key);
	if (!f || f->ncuts == 0) {
		pthread_mutex_unlock(&j->lock);
		return;
	}
	pthread_mutex_lock(&f->lock);
	pthread_mutex_unlock(&j->lock);
	/* The cut's own fd reads the same file and is readable; the
	 * writer's may be O_WRONLY. */
	for (struct journal_cut *c = f->cuts; c; c = c->next)
		save_range(c, c->fd >= 0 ? c->fd : fd, off, end, &tmp);
	pthread_mutex_unlock(&f->lock);
	free(tmp);
}

/* --- dirty sets --------------------------------------------------------- */

static void add_dirty(struct journal *j, uint64_t key, uint64_t lo,
		      uint64_t hi, int truncated)
{
	struct jfile *f;

	pthread_mutex_lock(&j->lock);
	f = get_file(j, key);
	if (!f) {
		pthread_mutex_unlock(&j->lock);
		return;
	}
	pthread_mutex_lock(&f->lock);
	pthread_mutex_unlock(&j->lock);
	if (truncated)
		f->truncated = 1;
	if (!f->full && set_add(&f->dirty, lo, hi, NULL) < 0) {
		/* Journal.h invariant 4: the whole file at the next cut. */
		f->full = 1;
		set_release(&f->dirty);
		add64(&j->failures, 1);
	}
	pthread_mutex_unlock(&f->lock);
}

void journal_wrote(struct journal *j, uint64_t key, uint64_t off, uint64_t len)
{
	uint64_t end = UINT64_MAX - off < len ? UINT64_MAX : off + len;

	if (len)
		add_dirty(j, key, off, end, 0);
}

void journal_truncated(struct journal *j, uint64_t key, uint64_t new_size)
{
	add_dirty(j, key, new_size, UINT64_MAX, 1);
}

void journal_forget(struct journal *j, uint64_t key)
{
	struct jfile *f, **pp;

	pthread_mutex_lock(&j->lock);
	for (pp = &j->b[bucket(j, key)]; (f = *pp) && f->key != key;
	     pp = &f->hnext)
		;
	if (f) {
		pthread_mutex_lock(&f->lock);
		if (f->ncuts == 0) {
			*pp = f->hnext;
			j->nfiles--;
			pthread_mutex_unlock(&f->lock);
			free_file(f);
		} else {
			set_release(&f->dirty);
			f->full = 0;
			f->truncated = 0;
			pthread_mutex_unlock(&f->lock);
		}
	}
	pthread_mutex_unlock(&j->lock);
}

/* --- cuts --------------------------------------------------------------- */

struct journal_cut *journal_cut(struct journal *j, uint64_t key, uint64_t t,
				uint64_t size_at_cut, int fd)
{
	struct journal_cut *c = calloc(1, sizeof(*c));
	struct capture_range *r = NULL;
	struct jfile *f;
	size_t n = 0;

	if (!c) {
		errno = ENOMEM;
		return NULL;
	}
	c->j = j;
	c->key = key;
	c->t = t;
	c->size = size_at_cut;
	c->fd = fd;
	c->exact = 1;
	c->spill_fd = -1;

	pthread_mutex_lock(&j->lock);
	f = get_file(j, key);
	if (!f) {
		pthread_mutex_unlock(&j->lock);
		free(c);
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_lock(&f->lock);
	/* The ranges (at most dirty.n, or 1 when full). */
	r = malloc((f->dirty.n ? f->dirty.n : 1) * sizeof(*r));
	if (!r) {
		pthread_mutex_unlock(&f->lock);
		pthread_mutex_unlock(&j->lock);
		free(c);
		errno = ENOMEM;
		return NULL;
	}
	if (f->full) {
		c->flags |= JOURNAL_CUT_FULL;
		if (size_at_cut) {
			r[0].off = 0;
			r[0].len = size_at_cut;
			n = 1;
		}
	} else {
		for (size_t i = 0; i < f->dirty.n; i++) {
			uint64_t lo = f->dirty.r[i].lo, hi = f->dirty.r[i].hi;

			if (hi > size_at_cut) {
				c->flags |= JOURNAL_CUT_CLAMPED;
				hi = size_at_cut;
			}
			if (lo >= hi)
				continue;
			r[n].off = lo;
			r[n].len = hi - lo;
			n++;
		}
	}
	if (f->truncated)
		c->flags |= JOURNAL_CUT_TRUNCATED;
	c->ranges = r;
	c->nranges = n;
	c->f = f;
	f->dirty.n = 0;
	f->full = 0;
	f->truncated = 0;
	c->next = f->cuts;
	f->cuts = c;
	f->ncuts++;
	pthread_mutex_unlock(&f->lock);
	pthread_mutex_unlock(&j->lock);
	add64(&j->active, 1);
	add64(&j->cuts, 1);
	return c;
}

void journal_cut_set_fd(struct journal_cut *c, int fd)
{
	pthread_mutex_lock(&c->f->lock);
	c->fd = fd;
	pthread_mutex_unlock(&c->f->lock);
}

const struct capture_range *journal_cut_ranges(const struct journal_cut *c,
					       size_t *n)
{
	*n = c->nranges;
	return c->ranges;
}

uint64_t journal_cut_size(const struct journal_cut *c)
{
	return c->size;
}

uint64_t journal_cut_time(const struct journal_cut *c)
{
	return c->t;
}

uint64_t journal_cut_key(const struct journal_cut *c)
{
	return c->key;
}

unsigned int journal_cut_flags(const struct journal_cut *c)
{
	return c->flags;
}

int journal_cut_exact(const struct journal_cut *c)
{
	int e;

	pthread_mutex_lock(&c->f->lock);
	e = c->exact;
	pthread_mutex_unlock(&c->f->lock);
	return e;
}

/*
 * Under f->lock: releases [lo, hi) and frees the extents now wholly
 * released (invariant 2).  If the release cannot be recorded (ENOMEM) the
 * bytes stay protected: more pre-images, never fewer.
 */
static void release_locked(struct journal_cut *c, uint64_t lo, uint64_t hi)
{
	size_t i, a, b;
	uint64_t L, H;

	if (hi > c->size)
		hi = c->size;
	if (lo >= hi || set_add(&c->rel, lo, hi, &i) < 0)
		return;
	L = c->rel.r[i].lo;
	H = c->rel.r[i].hi;
	a = ext_find(c, L);
	if (a < c->n_ext && c->ext[a].lo < L)
		a++;		/* straddles L: not wholly released */
	for (b = a; b < c->n_ext && c->ext[b].hi <= H; b++)
		ext_free(c->j, &c->ext[b]);
	if (b > a) {
		memmove(c->ext + a, c->ext + b,
			(c->n_ext - b) * sizeof(*c->ext));
		c->n_ext -= b - a;
	}
}

static int cut_read(struct journal_cut *c, uint64_t off, size_t len,
		    void *buf, int ascending)
{
	uint8_t *out = buf;
	uint64_t end = off + len;
	int err;

	if (end < off || end > c->size)
		return -EINVAL;
	if (len == 0)
		return 0;
	pthread_mutex_lock(&c->f->lock);
	err = pread_zero(c->fd, buf, len, off);
	for (size_t i = ext_find(c, off); !err && i < c->n_ext &&
	     c->ext[i].lo < end; i++) {
		const struct jext *e = &c->ext[i];
		uint64_t lo = e->lo > off ? e->lo : off;
		uint64_t hi = e->hi < end ? e->hi : end;

		if (e->mem)
			memcpy(out + (lo - off), e->mem + (lo - e->lo),
			       (size_t)(hi - lo));
		else
			err = pread_zero(c->spill_fd, out + (lo - off),
					 (size_t)(hi - lo),
					 e->spill_off + (lo - e->lo));
	}
	if (!err)
		release_locked(c, ascending ? 0 : off, end);
	pthread_mutex_unlock(&c->f->lock);
	return err;
}

int journal_cut_read(void *cut, uint64_t off, size_t len, void *buf)
{
	return cut_read(cut, off, len, buf, 0);
}

int journal_cut_read_ascending(void *cut, uint64_t off, size_t len, void *buf)
{
	return cut_read(cut, off, len, buf, 1);
}

void journal_cut_release(struct journal_cut *c, uint64_t off, uint64_t len)
{
	uint64_t end = UINT64_MAX - off < len ? UINT64_MAX : off + len;

	pthread_mutex_lock(&c->f->lock);
	release_locked(c, off, end);
	pthread_mutex_unlock(&c->f->lock);
}

void journal_cut_done(struct journal *j, struct journal_cut *c)
{
	struct jfile *f;

	if (!c)
		return;
	f = c->f;
	pthread_mutex_lock(&j->lock);
	pthread_mutex_lock(&f->lock);
	for (struct journal_cut **pp = &f->cuts; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	f->ncuts--;
	pthread_mutex_unlock(&f->lock);
	pthread_mutex_unlock(&j->lock);

	for (size_t i = 0; i < c->n_ext; i++)
		ext_free(j, &c->ext[i]);
	free(c->ext);
	set_release(&c->rel);
	if (c->spill_fd >= 0)
		close(c->spill_fd);
	free(c->ranges);
	free(c);
	sub64(&j->active, 1);
}
