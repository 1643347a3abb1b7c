/*
 * test-journal.c - the journal (src/journal.h) on real temporary files:
 * dirty sets merged, taken by a cut and marked by truncation; invariant E
 * (a capture through journal_cut_read equals the file at the cut) with
 * random writes, truncations and extensions interleaved with the reads,
 * 200 seeds; the same with a writer thread and a capture thread racing
 * many cuts; two cuts in flight on one file; pre-images spilled past a
 * tiny memory cap; nothing saved with no cut; and a cut that cannot save
 * its pre-images reporting itself not exact.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "banned.h"
#include "journal.h"
#include "tap.h"

#define KIB		1024u
#define MIB		(1024u * KIB)
#define FSIZE		(4u * MIB)
#define STEP		(64u * KIB)
#define KEY		42u

static char dir[] = "/tmp/test-journal.XXXXXX";
static int dirfd_ = -1;

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	rng_state = x;
	return x;
}

static uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static void fill_random(uint8_t *p, size_t len)
{
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t x = rnd();

		memcpy(p + i, &x, 8);
	}
	for (; i < len; i++)
		p[i] = (uint8_t)(rnd() >> 24);
}

static void must(int cond, const char *what)
{
	if (!cond) {
		perror(what);
		exit(2);
	}
}

/*
 * A new file (unlinked first: truncating one that has dirty pages would
 * make ext4 flush it at close, auto_da_alloc, and the test crawl).
 */
static int open_file(const char *name)
{
	int fd;

	(void)unlinkat(dirfd_, name, 0);
	fd = openat(dirfd_, name, O_RDWR | O_CREAT | O_EXCL, 0600);

	must(fd >= 0, name);
	return fd;
}

static void pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	must(pwrite(fd, buf, len, (off_t)off) == (ssize_t)len, "pwrite");
}

/* What the FUSE layer does for a write. */
static void do_write(struct journal *j, int fd, const void *buf, size_t len,
		     uint64_t off)
{
	journal_pre_write(j, KEY, fd, off, len);
	pwrite_all(fd, buf, len, off);
	journal_wrote(j, KEY, off, len);
}

/* And for a truncate (either way). */
static void do_truncate(struct journal *j, int fd, uint64_t size)
{
	journal_pre_write(j, KEY, fd, size, UINT64_MAX - size);
	must(ftruncate(fd, (off_t)size) == 0, "ftruncate");
	journal_truncated(j, KEY, size);
}

/* --- 1. dirty sets ------------------------------------------------------ */

static int ranges_are(struct journal_cut *c, const uint64_t *want, size_t nw)
{
	size_t n;
	const struct capture_range *r = journal_cut_ranges(c, &n);

	if (n != nw)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (r[i].off != want[2 * i] || r[i].len != want[2 * i + 1])
			return 0;
	return 1;
}

static void test_dirty(void)
{
	struct journal *j = journal_new(dirfd_, MIB);
	struct journal_cut *c;
	static const uint64_t w1[] = { 0, 15, 100, 200 };
	static const uint64_t w2[] = { 300, 500 };

	journal_wrote(j, KEY, 100, 50);
	journal_wrote(j, KEY, 0, 10);
	journal_wrote(j, KEY, 10, 5);		/* adjacent: merges */
	journal_wrote(j, KEY, 200, 100);
	journal_wrote(j, KEY, 120, 100);	/* bridges two */
	journal_wrote(j, KEY + 1, 5000, 10);	/* another file */
	c = journal_cut(j, KEY, 1, 1000, -1);
	ok(c && ranges_are(c, w1, 2) && journal_cut_flags(c) == 0,
	   "writes sorted and merged into the cut");
	journal_cut_done(j, c);

	c = journal_cut(j, KEY, 2, 1000, -1);
	ok(c && ranges_are(c, NULL, 0), "the cut took the dirty set");
	journal_cut_done(j, c);

	journal_wrote(j, KEY, 900, 200);
	journal_truncated(j, KEY, 500);
	c = journal_cut(j, KEY, 3, 500, -1);
	ok(c && ranges_are(c, NULL, 0) &&
	   journal_cut_flags(c) == (JOURNAL_CUT_TRUNCATED | JOURNAL_CUT_CLAMPED),
	   "truncation: tail clamped away at the cut, flags say so");
	journal_cut_done(j, c);

	journal_truncated(j, KEY, 300);
	journal_wrote(j, KEY, 700, 10);
	c = journal_cut(j, KEY, 4, 800, -1);
	ok(c && ranges_are(c, w2, 1) &&
	   (journal_cut_flags(c) & JOURNAL_CUT_TRUNCATED),
	   "truncate then extend: [300, size) dirty");
	journal_cut_done(j, c);

	c = journal_cut(j, KEY + 1, 5, 1 << 20, -1);
	ok(c && journal_cut_ranges(c, &(size_t){ 0 }) &&
	   journal_cut_ranges(c, &(size_t){ 0 })->off == 5000,
	   "files are kept apart");
	journal_cut_done(j, c);
	journal_free(j);
}

/* --- 2. exactness, one thread ------------------------------------------ */

/* One random write, truncation or extension near or anywhere. */
static void random_change(struct journal *j, int fd, uint64_t pos,
			  uint64_t *size, uint8_t *scratch)
{
	uint64_t k = below(40), off, len;

	if (k == 0 && below(3) == 0) {
		uint64_t ns = below(*size + 1);

		do_truncate(j, fd, ns);
		*size = ns;
		return;
	}
	if (k == 1) {
		uint64_t ns = *size + below(MIB);

		do_truncate(j, fd, ns);
		*size = ns;
		return;
	}
	len = 1 + below(k < 30 ? 16 * KIB : 160 * KIB);
	if (k & 1)	/* straddles the read position */
		off = pos > len / 2 ? pos - len / 2 : 0;
	else
		off = below(*size + 256 * KIB);
	fill_random(scratch, (size_t)len);
	do_write(j, fd, scratch, (size_t)len, off);
	if (off + len > *size)
		*size = off + len;
}

/*
 * A cut of a FSIZE file of random bytes, then reads in STEP steps with
 * random changes between; 1 if the capture equals the original and the
 * cut is exact.
 */
static int scenario(uint64_t seed, size_t mem_cap, int ascending,
		    struct journal_stats *st)
{
	static uint8_t orig[FSIZE], cap[FSIZE], scratch[160 * KIB];
	struct journal *j = journal_new(dirfd_, mem_cap);
	struct journal_cut *c;
	uint64_t size = FSIZE;
	int fd = open_file("scenario"), good = 1;

	rng_state = seed * 0x9e3779b97f4a7c15ULL + 1;
	fill_random(orig, FSIZE);
	pwrite_all(fd, orig, FSIZE, 0);
	journal_wrote(j, KEY, 0, FSIZE);
	c = journal_cut(j, KEY, seed, FSIZE, fd);
	must(c != NULL, "journal_cut");
	for (uint64_t pos = 0; pos < FSIZE; pos += STEP) {
		int n = (int)below(4);

		for (int i = 0; i < n; i++)
			random_change(j, fd, pos, &size, scratch);
		if ((ascending ? journal_cut_read_ascending :
		     journal_cut_read)(c, pos, STEP, cap + pos) != 0)
			good = 0;
	}
	if (memcmp(cap, orig, FSIZE) != 0 || !journal_cut_exact(c))
		good = 0;
	journal_get_stats(j, st);
	journal_cut_done(j, c);
	{
		struct journal_stats s2;

		journal_get_stats(j, &s2);
		if (s2.mem_bytes != 0 || s2.active_cuts != 0)
			good = 0;
	}
	journal_free(j);
	close(fd);
	return good;
}

static void test_exact_single(void)
{
	struct journal_stats st;
	int bad = 0;
	uint64_t saved = 0;

	for (uint64_t seed = 1; seed <= 200; seed++) {
		if (!scenario(seed, 64 * MIB, (int)(seed & 1), &st))
			bad++;
		saved += st.preimage_bytes;
	}
	ok(bad == 0, "200 seeds: capture == file at the cut (%d bad, "
	   "%llu pre-image bytes)", bad, (unsigned long long)saved);
}

/* --- 3. exactness, concurrent ------------------------------------------ */

#define BLK		4096u
#define NBLK		(FSIZE / BLK)
#define MIN_CUTS	50
#define MIN_WRITES	20000
#define MAX_LOG		(1u << 22)
#define MAX_INFLIGHT	4

static void pattern(uint8_t *p, uint32_t seq, uint32_t blk)
{
	uint64_t *w = (uint64_t *)(void *)p;

	for (size_t i = 0; i < BLK / 8; i++)
		w[i] = ((uint64_t)seq << 32) ^ ((uint64_t)blk << 12) ^ i;
}

struct job {
	struct job *next;
	struct journal_cut *c;
	uint32_t snap[NBLK];
};

struct race {
	struct journal *j;
	int fd;
	pthread_mutex_t cut_lock;	/* writer: pre_write..wrote; cut */
	uint32_t seq;			/* writes done */
	uint32_t *log;			/* log[seq] = block */
	int stop;

	pthread_mutex_t qlock;
	pthread_cond_t qcond;
	struct job *head, **tail;
	int qdone;
	int inflight;			/* cuts queued or being captured */
	int bad, checked, inexact;
};

static void *writer(void *arg)
{
	struct race *r = arg;
	uint8_t blk[BLK] __attribute__((aligned(8)));
	uint64_t s = 12345;

	for (;;) {
		uint32_t b;

		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		b = (uint32_t)(s % NBLK);
		pthread_mutex_lock(&r->cut_lock);
		if (r->stop || r->seq + 1 >= MAX_LOG) {
			pthread_mutex_unlock(&r->cut_lock);
			break;
		}
		pattern(blk, r->seq + 1, b);
		journal_pre_write(r->j, KEY, r->fd, (uint64_t)b * BLK, BLK);
		pwrite_all(r->fd, blk, BLK, (uint64_t)b * BLK);
		journal_wrote(r->j, KEY, (uint64_t)b * BLK, BLK);
		r->seq++;
		r->log[r->seq] = b;
		pthread_mutex_unlock(&r->cut_lock);
	}
	return NULL;
}

static void *capturer(void *arg)
{
	struct race *r = arg;
	static uint8_t buf[FSIZE] __attribute__((aligned(8)));
	uint8_t want[BLK] __attribute__((aligned(8)));

	for (;;) {
		struct job *jb;
		int good = 1;

		pthread_mutex_lock(&r->qlock);
		while (!r->head && !r->qdone)
			pthread_cond_wait(&r->qcond, &r->qlock);
		jb = r->head;
		if (jb) {
			r->head = jb->next;
			if (!r->head)
				r->tail = &r->head;
		}
		pthread_mutex_unlock(&r->qlock);
		if (!jb)
			break;
		for (uint64_t pos = 0; pos < FSIZE; pos += STEP) {
			/* Let the writer in between reads (capture is slower). */
			if ((pos / STEP) % 8 == 7)
				sched_yield();
			if (journal_cut_read_ascending(jb->c, pos, STEP,
						       buf + pos) != 0)
				good = 0;
		}
		for (uint32_t b = 0; good && b < NBLK; b++) {
			pattern(want, jb->snap[b], b);
			if (memcmp(want, buf + (size_t)b * BLK, BLK) != 0)
				good = 0;
		}
		if (!journal_cut_exact(jb->c))
			r->inexact++;
		journal_cut_done(r->j, jb->c);
		free(jb);
		r->checked++;
		if (!good)
			r->bad++;
		pthread_mutex_lock(&r->qlock);
		r->inflight--;
		pthread_cond_broadcast(&r->qcond);
		pthread_mutex_unlock(&r->qlock);
	}
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_exact_concurrent(void)
{
	static uint8_t init[FSIZE] __attribute__((aligned(8)));
	struct race r = { 0 };
	uint32_t cur[NBLK] = { 0 };
	uint32_t applied = 0, writes;
	pthread_t tw, tc;
	struct journal_stats st;
	int cuts = 0;
	double t0 = now_s();

	r.j = journal_new(dirfd_, 16 * MIB);
	r.fd = open_file("race");
	r.log = calloc(MAX_LOG, sizeof(*r.log));
	must(r.j && r.log, "alloc");
	for (uint32_t b = 0; b < NBLK; b++)
		pattern(init + (size_t)b * BLK, 0, b);
	pwrite_all(r.fd, init, FSIZE, 0);
	pthread_mutex_init(&r.cut_lock, NULL);
	pthread_mutex_init(&r.qlock, NULL);
	pthread_cond_init(&r.qcond, NULL);
	r.tail = &r.head;
	must(pthread_create(&tw, NULL, writer, &r) == 0, "pthread_create");
	must(pthread_create(&tc, NULL, capturer, &r) == 0, "pthread_create");

	for (;;) {
		struct job *jb = malloc(sizeof(*jb));
		struct timespec ms = { 0, 1000000 + (long)below(2000000) };

		must(jb != NULL, "malloc");
		nanosleep(&ms, NULL);
		/* Several cuts in flight, but a bounded backlog. */
		pthread_mutex_lock(&r.qlock);
		while (r.inflight >= MAX_INFLIGHT)
			pthread_cond_wait(&r.qcond, &r.qlock);
		pthread_mutex_unlock(&r.qlock);
		pthread_mutex_lock(&r.cut_lock);
		writes = r.seq;
		while (applied < writes) {
			applied++;
			cur[r.log[applied]] = applied;
		}
		jb->c = journal_cut(r.j, KEY, (uint64_t)cuts, FSIZE, r.fd);
		if ((cuts + 1 >= MIN_CUTS && writes >= MIN_WRITES) ||
		    now_s() - t0 > 10)
			r.stop = 1;
		pthread_mutex_unlock(&r.cut_lock);
		must(jb->c != NULL, "journal_cut");
		memcpy(jb->snap, cur, sizeof(cur));
		jb->next = NULL;
		pthread_mutex_lock(&r.qlock);
		*r.tail = jb;
		r.tail = &jb->next;
		r.inflight++;
		pthread_cond_broadcast(&r.qcond);
		pthread_mutex_unlock(&r.qlock);
		cuts++;
		if (r.stop)
			break;
	}
	pthread_join(tw, NULL);
	pthread_mutex_lock(&r.qlock);
	r.qdone = 1;
	pthread_cond_broadcast(&r.qcond);
	pthread_mutex_unlock(&r.qlock);
	pthread_join(tc, NULL);
	journal_get_stats(r.j, &st);
	ok(r.checked == cuts && r.bad == 0 && r.inexact == 0 &&
	   cuts >= MIN_CUTS && r.seq >= MIN_WRITES,
	   "concurrent: %d cuts, %u writes, %d bad, %d inexact; %llu pre-image "
	   "bytes (%llu spilled) in %.2f s", cuts, r.seq, r.bad, r.inexact,
	   (unsigned long long)st.preimage_bytes,
	   (unsigned long long)st.spilled_bytes, now_s() - t0);
	ok(st.active_cuts == 0 && st.mem_bytes == 0,
	   "concurrent: every cut done, no pre-image left in memory");
	journal_free(r.j);
	close(r.fd);
	free(r.log);
	pthread_mutex_destroy(&r.cut_lock);
	pthread_mutex_destroy(&r.qlock);
	pthread_cond_destroy(&r.qcond);
}

/* --- 4. two cuts in flight ---------------------------------------------- */

static void test_two_cuts(void)
{
	static uint8_t a[FSIZE], b[FSIZE], ca[FSIZE], cb[FSIZE],
		scratch[160 * KIB];
	struct journal *j = journal_new(dirfd_, 64 * MIB);
	struct journal_cut *c1, *c2;
	int fd = open_file("two"), good = 1;
	uint64_t size = FSIZE, p1 = 0, p2 = 0;

	rng_state = 777;
	fill_random(a, FSIZE);
	pwrite_all(fd, a, FSIZE, 0);
	c1 = journal_cut(j, KEY, 1, FSIZE, fd);
	for (int i = 0; i < 40; i++)
		random_change(j, fd, below(FSIZE), &size, scratch);
	/* The state at cut 2, the first FSIZE bytes of it. */
	do_truncate(j, fd, FSIZE);
	size = FSIZE;
	must(pread(fd, b, FSIZE, 0) == FSIZE, "pread");
	c2 = journal_cut(j, KEY, 2, FSIZE, fd);
	while (p1 < FSIZE || p2 < FSIZE) {
		int n = (int)below(4);

		for (int i = 0; i < n; i++)
			random_change(j, fd, below(2) ? p1 : p2, &size, scratch);
		if (p1 < FSIZE && below(2)) {
			good &= journal_cut_read(c1, p1, STEP, ca + p1) == 0;
			p1 += STEP;
		} else if (p2 < FSIZE) {
			good &= journal_cut_read(c2, p2, STEP, cb + p2) == 0;
			p2 += STEP;
		}
	}
	ok(good && memcmp(ca, a, FSIZE) == 0 && journal_cut_exact(c1),
	   "two cuts: the first captures its instant");
	ok(good && memcmp(cb, b, FSIZE) == 0 && journal_cut_exact(c2),
	   "two cuts: the second captures its instant");
	journal_cut_done(j, c2);
	journal_cut_done(j, c1);
	journal_free(j);
	close(fd);
}

/* --- 5. spill ------------------------------------------------------------ */

static void test_spill(void)
{
	struct journal_stats st;
	int bad = 0;
	uint64_t spilled = 0, saved = 0;

	for (uint64_t seed = 1000; seed < 1010; seed++) {
		if (!scenario(seed, 64 * KIB, (int)(seed & 1), &st))
			bad++;
		spilled += st.spilled_bytes;
		saved += st.preimage_bytes;
	}
	ok(bad == 0 && spilled > 0 && spilled < saved,
	   "spill (mem_cap 64 KiB): exact, %llu of %llu pre-image bytes "
	   "spilled", (unsigned long long)spilled, (unsigned long long)saved);
}

/* --- 6. no cut, 7. failure ---------------------------------------------- */

static void test_no_cut(void)
{
	static uint8_t buf[64 * KIB];
	struct journal *j = journal_new(dirfd_, MIB);
	struct journal_stats st;
	int fd = open_file("nocut");

	for (int i = 0; i < 16; i++)
		do_write(j, fd, buf, sizeof(buf), (uint64_t)i * 1000);
	do_truncate(j, fd, 100);
	journal_pre_write(j, KEY + 7, fd, 0, 100);	/* unknown file */
	journal_get_stats(j, &st);
	ok(st.preimage_bytes == 0 && st.mem_bytes == 0 &&
	   st.active_cuts == 0 && st.failures == 0,
	   "no active cut: nothing saved");
	journal_free(j);
	close(fd);
}

static void test_failure(void)
{
	static uint8_t buf[STEP], got[STEP];
	struct journal *j = journal_new(-1, 0);
	struct journal_cut *c;
	struct journal_stats st;
	int fd = open_file("fail");

	memset(buf, 'a', sizeof(buf));
	pwrite_all(fd, buf, sizeof(buf), 0);
	c = journal_cut(j, KEY, 1, sizeof(buf), fd);
	ok(c && journal_cut_exact(c), "a fresh cut is exact");
	memset(buf, 'b', sizeof(buf));
	do_write(j, fd, buf, 100, 10);
	journal_get_stats(j, &st);
	ok(!journal_cut_exact(c) && st.failures > 0,
	   "mem_cap 0 and no spill dir: the cut is not exact");
	ok(journal_cut_read(c, 0, sizeof(got), got) == 0 && got[0] == 'a' &&
	   got[10] == 'b', "and reads still work (the live bytes)");
	ok(journal_cut_read(c, sizeof(buf) - 1, 2, got) == -EINVAL,
	   "a read past the size at the cut is -EINVAL");
	journal_cut_done(j, c);
	journal_free(j);
	close(fd);
}

static void cleanup(void)
{
	static const char *const names[] = { "scenario", "race", "two",
					     "nocut", "fail", NULL };

	for (const char *const *n = names; *n; n++)
		(void)unlinkat(dirfd_, *n, 0);
	close(dirfd_);
	rmdir(dir);
}

int main(void)
{
	must(mkdtemp(dir) != NULL, "mkdtemp");
	dirfd_ = open(dir, O_RDONLY | O_DIRECTORY);
	must(dirfd_ >= 0, dir);

	test_dirty();
	test_exact_single();
	test_exact_concurrent();
	test_two_cuts();
	test_spill();
	test_no_cut();
	test_failure();
	cleanup();
	return tap_done();
}
