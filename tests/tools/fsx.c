/*
 * fsx.c - random file-operation exerciser for backupfs (after the classic fsx).
 *
 * Applies one pseudo-random sequence of operations to two files at once:
 * TESTFILE (on the backupfs mount) and REFFILE (on a plain local filesystem),
 * and after every step checks that both have the same size and the same
 * bytes.  The reference file is the oracle, so no in-memory model is needed.
 *
 *   fsx [-N numops] [-S seed] [-l maxlen] [-o maxoplen] TESTFILE REFFILE
 *
 * Operations: pwrite, pread+compare, ftruncate (grow/shrink), fallocate
 * (mode 0, KEEP_SIZE, PUNCH_HOLE|KEEP_SIZE), mmap write (MAP_SHARED + msync),
 * mmap read+compare, close+reopen, fsync/fdatasync, O_APPEND write through a
 * second descriptor.  Written data is random, except that the first 4 bytes
 * of every 16-byte-aligned block of the file carry the number of the op that
 * wrote them, so a mismatch report can say which op's data is where.
 *
 * A fallocate mode that either file reports EOPNOTSUPP for is skipped for
 * both files from then on.  An op that fails on one file but not the other
 * (or with a different errno) is a mismatch.
 *
 * Exit: 0 all ops matched, 1 mismatch or unexpected error (one line saying
 * what/where, then the last 20 ops), 2 usage.  The seed is printed at start;
 * rerun with -S to reproduce.  Build with -DFSX_SELFTEST_BUG to corrupt one
 * byte of TESTFILE at op 500 (proves the checker fires).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#ifndef FALLOC_FL_PUNCH_HOLE
#include <linux/falloc.h>
#endif

#define CMP_CHUNK (1u << 20) /* full-file compare buffer */
#define LOG_SIZE 20
#define LOG_LINE 200

enum op_type {
	OP_WRITE,
	OP_READ,
	OP_TRUNCATE,
	OP_FALLOC,
	OP_FALLOC_KEEP,
	OP_PUNCH,
	OP_MAPWRITE,
	OP_MAPREAD,
	OP_REOPEN,
	OP_FSYNC,
	OP_APPEND,
	OP_NTYPES
};

static const struct {
	const char *name;
	unsigned weight;
} optab[OP_NTYPES] = {
	[OP_WRITE] = { "pwrite", 20 },
	[OP_READ] = { "pread", 10 },
	[OP_TRUNCATE] = { "ftruncate", 8 },
	[OP_FALLOC] = { "fallocate", 4 },
	[OP_FALLOC_KEEP] = { "fallocate-keep", 4 },
	[OP_PUNCH] = { "punch-hole", 6 },
	[OP_MAPWRITE] = { "mapwrite", 8 },
	[OP_MAPREAD] = { "mapread", 6 },
	[OP_REOPEN] = { "reopen", 3 },
	[OP_FSYNC] = { "fsync", 3 },
	[OP_APPEND] = { "append", 6 },
};

static const char *test_path, *ref_path;
static int tfd = -1, rfd = -1;
static uint64_t maxlen = 8u << 20, maxoplen = 256u << 10;
static unsigned long long seed;
static unsigned long numops = 10000, opnum;
static int disabled[OP_NTYPES];
static size_t pagesize;
static uint64_t cur_size; /* size of both files after the last check */

static unsigned char *cmp_t, *cmp_r; /* CMP_CHUNK each */
static unsigned char *data, *rd_t, *rd_r; /* maxoplen each */

static char oplog[LOG_SIZE][LOG_LINE];
static unsigned long nlogged;

/* ---- PRNG: splitmix64-seeded xorshift64* ---- */

static uint64_t rng;

static void rng_seed(uint64_t s)
{
	uint64_t z = s + 0x9E3779B97F4A7C15ull;
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	z ^= z >> 31;
	rng = z ? z : 0x2545F4914F6CDD1Dull;
}

static uint64_t rnd64(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545F4914F6CDD1Dull;
}

static uint64_t rnd_below(uint64_t n)
{
	return n ? rnd64() % n : 0;
}

/* ---- reporting ---- */

static void print_log(void)
{
	unsigned long n = nlogged < LOG_SIZE ? nlogged : LOG_SIZE;
	fprintf(stderr, "fsx: last %lu operations (seed %llu):\n", n, seed);
	for (unsigned long i = nlogged - n; i < nlogged; i++)
		fprintf(stderr, "  %s\n", oplog[i % LOG_SIZE]);
}

__attribute__((format(printf, 1, 2), noreturn))
static void fail(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "fsx: op %lu: ", opnum);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	print_log();
	exit(1);
}

__attribute__((format(printf, 1, 2)))
static void log_op(const char *fmt, ...)
{
	char *line = oplog[nlogged % LOG_SIZE];
	int n = snprintf(line, LOG_LINE, "op %lu: ", opnum);
	va_list ap;
	va_start(ap, fmt);
	if (n > 0 && n < LOG_LINE)
		vsnprintf(line + n, LOG_LINE - (size_t)n, fmt, ap);
	va_end(ap);
	nlogged++;
}

static const char *errstr(long long ret, int err)
{
	return ret < 0 ? strerror(err) : "success";
}

/*
 * Compare the outcome of one syscall on both files.  Equal failures are
 * still fatal: none of our ops is expected to fail on a healthy filesystem.
 */
static void check_rets(const char *what, long long rt, int et, long long rr, int er)
{
	if (rt < 0 && rr < 0 && et == er)
		fail("%s failed on both files: %s", what, strerror(et));
	if (rt < 0 || rr < 0) {
		char bt[128], br[128];
		snprintf(bt, sizeof(bt), "%s", errstr(rt, et));
		snprintf(br, sizeof(br), "%s", errstr(rr, er));
		fail("%s: result differs (%s: %s vs %s: %s)", what, test_path, bt, ref_path, br);
	}
	if (rt != rr)
		fail("%s: return value differs (%s: %lld vs %s: %lld)", what, test_path, rt, ref_path, rr);
}

/* ---- helpers ---- */

static ssize_t pread_full(int fd, void *buf, size_t len, off_t off)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, off + (off_t)done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

static ssize_t write_full(int fd, const void *buf, size_t len, off_t off, int use_pwrite)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = use_pwrite ? pwrite(fd, (const char *)buf + done, len - done, off + (off_t)done)
				       : write(fd, (const char *)buf + done, len - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/* The op tag stored in the 16-byte block containing @off (0 = hole/zeros). */
static uint32_t block_tag(int fd, uint64_t off)
{
	unsigned char b[4] = { 0, 0, 0, 0 };
	if (pread(fd, b, 4, (off_t)(off & ~(uint64_t)15)) < 4)
		return 0;
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* Report the first difference between t and r (len bytes at file offset base). */
__attribute__((noreturn))
static void report_diff(const char *what, const unsigned char *t, const unsigned char *r,
			size_t len, uint64_t base)
{
	size_t i = 0, j;
	while (i < len && t[i] == r[i])
		i++;
	for (j = i; j < len && t[j] != r[j]; j++)
		;
	fail("%s: content differs at offset %llu (0x%llx): %s has 0x%02x, %s has 0x%02x; "
	     "%zu bytes differ from there; 16-byte block tagged op %" PRIu32 " in test, op %" PRIu32
	     " in ref (0 = zeros/hole)",
	     what, (unsigned long long)(base + i), (unsigned long long)(base + i),
	     test_path, t[i], ref_path, r[i], j - i,
	     block_tag(tfd, base + i), block_tag(rfd, base + i));
}

/* Fill @len bytes destined for file offset @off, tagged with the current op. */
static void gen_data(unsigned char *buf, uint64_t off, size_t len)
{
	uint64_t word = 0;
	unsigned left = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned k = (unsigned)((off + i) & 15);
		if (k < 4) {
			buf[i] = (unsigned char)(opnum >> (8 * k));
		} else {
			if (!left) {
				word = rnd64();
				left = 8;
			}
			buf[i] = (unsigned char)word;
			word >>= 8;
			left--;
		}
	}
}

static uint64_t page_align(uint64_t x)
{
	return x & ~(uint64_t)(pagesize - 1);
}

/*
 * A size/offset limit: near the current end of file, or below one of a few
 * scales (16 KiB .. maxlen) so small files and page edges get their share.
 */
static uint64_t pick_limit(void)
{
	uint64_t lim;
	switch (rnd64() % 5) {
	case 0: lim = cur_size + maxoplen; break;
	case 1: lim = 16u << 10; break;
	case 2: lim = 256u << 10; break;
	case 3: lim = 2u << 20; break;
	default: lim = maxlen;
	}
	return lim < maxlen ? lim : maxlen;
}

static uint64_t pick_off(void)
{
	uint64_t off = rnd_below(pick_limit());
	if ((rnd64() & 3) == 0)
		off = page_align(off);
	return off;
}

static uint64_t pick_len(uint64_t off, uint64_t limit)
{
	uint64_t len = 1 + rnd_below(maxoplen);
	if ((rnd64() & 3) == 0)
		len = page_align(len + pagesize - 1);
	if (len > maxoplen)
		len = maxoplen;
	if (off >= limit)
		return 0;
	if (off + len > limit)
		len = limit - off;
	return len;
}

static void open_files(int flags)
{
	tfd = open(test_path, O_RDWR | flags, 0644);
	if (tfd < 0)
		fail("open %s: %s", test_path, strerror(errno));
	rfd = open(ref_path, O_RDWR | flags, 0644);
	if (rfd < 0)
		fail("open %s: %s", ref_path, strerror(errno));
}

/* ---- full check after every op ---- */

static void check_all(const char *what)
{
	struct stat st, sr;
	if (fstat(tfd, &st) < 0)
		fail("fstat %s: %s", test_path, strerror(errno));
	if (fstat(rfd, &sr) < 0)
		fail("fstat %s: %s", ref_path, strerror(errno));
	if (st.st_size != sr.st_size)
		fail("after %s: file size differs (%s: %lld vs %s: %lld)", what, test_path,
		     (long long)st.st_size, ref_path, (long long)sr.st_size);
	cur_size = (uint64_t)sr.st_size;
	if (cur_size == 0)
		return;
	/* The reference is read through a mapping (no copy); the test file with pread. */
	const unsigned char *ref = mmap(NULL, (size_t)cur_size, PROT_READ, MAP_SHARED, rfd, 0);
	if (ref == MAP_FAILED)
		fail("after %s: mmap %s: %s", what, ref_path, strerror(errno));
	for (uint64_t off = 0; off < cur_size; off += CMP_CHUNK) {
		size_t n = cur_size - off < CMP_CHUNK ? (size_t)(cur_size - off) : CMP_CHUNK;
		ssize_t a = pread_full(tfd, cmp_t, n, (off_t)off);
		if (a < 0)
			fail("after %s: pread %s at %llu: %s", what, test_path, (unsigned long long)off, strerror(errno));
		if ((size_t)a != n)
			fail("after %s: short read from %s at offset %llu (%zd of %zu bytes) although size is %llu",
			     what, test_path, (unsigned long long)off, a, n, (unsigned long long)cur_size);
		if (memcmp(cmp_t, ref + off, n) != 0) {
			char w[64];
			memcpy(cmp_r, ref + off, n);
			munmap((void *)ref, (size_t)cur_size);
			snprintf(w, sizeof(w), "after %s", what);
			report_diff(w, cmp_t, cmp_r, n, off);
		}
	}
	munmap((void *)ref, (size_t)cur_size);
}

/* ---- operations ---- */

static void op_write(void)
{
	uint64_t off = pick_off(), len = pick_len(off, maxlen);
	log_op("pwrite off=%llu len=%llu (size %llu)", (unsigned long long)off,
	       (unsigned long long)len, (unsigned long long)cur_size);
	gen_data(data, off, len);
	ssize_t a = write_full(tfd, data, len, (off_t)off, 1);
	int ea = errno;
	ssize_t b = write_full(rfd, data, len, (off_t)off, 1);
	check_rets("pwrite", a, ea, b, errno);
}

static void op_read(void)
{
	uint64_t off = pick_off(), len = pick_len(off, maxlen);
	log_op("pread off=%llu len=%llu (size %llu)", (unsigned long long)off,
	       (unsigned long long)len, (unsigned long long)cur_size);
	ssize_t a = pread_full(tfd, rd_t, len, (off_t)off);
	int ea = errno;
	ssize_t b = pread_full(rfd, rd_r, len, (off_t)off);
	check_rets("pread", a, ea, b, errno);
	if (memcmp(rd_t, rd_r, (size_t)a) != 0)
		report_diff("pread", rd_t, rd_r, (size_t)a, off);
}

static void op_truncate(void)
{
	uint64_t sz;
	switch (rnd64() % 3) {
	case 0: /* near current size */
		sz = cur_size + rnd_below(2 * maxoplen + 1);
		sz = sz > maxoplen ? sz - maxoplen : 0;
		break;
	case 1:
		sz = page_align(rnd_below(pick_limit() + 1));
		break;
	default:
		sz = rnd_below(pick_limit() + 1);
	}
	if (sz > maxlen)
		sz = maxlen;
	log_op("ftruncate %llu -> %llu", (unsigned long long)cur_size, (unsigned long long)sz);
	int a = ftruncate(tfd, (off_t)sz);
	int ea = errno;
	int b = ftruncate(rfd, (off_t)sz);
	check_rets("ftruncate", a, ea, b, errno);
}

static const char *falloc_name(int mode)
{
	if (mode == 0)
		return "fallocate(0)";
	if (mode == FALLOC_FL_KEEP_SIZE)
		return "fallocate(KEEP_SIZE)";
	return "fallocate(PUNCH_HOLE|KEEP_SIZE)";
}

static void disable_falloc(enum op_type t, int mode, const char *path, int err)
{
	disabled[t] = 1;
	printf("fsx: note: %s on %s: %s; skipping that op for both files\n",
	       falloc_name(mode), path, strerror(err));
}

static void do_falloc(enum op_type t, int mode)
{
	uint64_t off = pick_off(), len = pick_len(off, maxlen);
	log_op("%s off=%llu len=%llu (size %llu)", falloc_name(mode), (unsigned long long)off,
	       (unsigned long long)len, (unsigned long long)cur_size);
	/* Test file first, so an EOPNOTSUPP there leaves both files untouched. */
	int a = fallocate(tfd, mode, (off_t)off, (off_t)len);
	int ea = errno;
	if (a < 0 && ea == EOPNOTSUPP) {
		disable_falloc(t, mode, test_path, ea);
		return;
	}
	int b = fallocate(rfd, mode, (off_t)off, (off_t)len);
	check_rets(falloc_name(mode), a, ea, b, errno);
}

static void do_mmap(int writing)
{
	const char *name = writing ? "mapwrite" : "mapread";
	if (cur_size == 0) {
		log_op("%s skipped (empty file)", name);
		return;
	}
	uint64_t off = rnd_below(cur_size), len = pick_len(off, cur_size);
	uint64_t moff = page_align(off);
	size_t mlen = (size_t)(off + len - moff);
	int prot = writing ? PROT_READ | PROT_WRITE : PROT_READ;
	log_op("%s off=%llu len=%llu (size %llu)", name, (unsigned long long)off,
	       (unsigned long long)len, (unsigned long long)cur_size);

	unsigned char *pt = mmap(NULL, mlen, prot, MAP_SHARED, tfd, (off_t)moff);
	int et = errno;
	unsigned char *pr = mmap(NULL, mlen, prot, MAP_SHARED, rfd, (off_t)moff);
	int er = errno;
	if (pt == MAP_FAILED || pr == MAP_FAILED) {
		char what[32];
		snprintf(what, sizeof(what), "%s: mmap", name);
		check_rets(what, pt == MAP_FAILED ? -1 : 0, et, pr == MAP_FAILED ? -1 : 0, er);
	}
	unsigned char *t = pt + (off - moff), *r = pr + (off - moff);
	if (writing) {
		gen_data(data, off, len);
		memcpy(t, data, len);
		memcpy(r, data, len);
		int a = msync(pt, mlen, MS_SYNC);
		int ea = errno;
		int b = msync(pr, mlen, MS_SYNC);
		check_rets("mapwrite: msync", a, ea, b, errno);
	} else if (memcmp(t, r, len) != 0) {
		/* copy out so the mappings can go before we exit */
		memcpy(rd_t, t, len);
		memcpy(rd_r, r, len);
		munmap(pt, mlen);
		munmap(pr, mlen);
		report_diff("mapread", rd_t, rd_r, len, off);
	}
	if (munmap(pt, mlen) < 0 || munmap(pr, mlen) < 0)
		fail("%s: munmap: %s", name, strerror(errno));
}

static void op_reopen(void)
{
	log_op("close+reopen");
	if (close(tfd) < 0)
		fail("close %s: %s", test_path, strerror(errno));
	if (close(rfd) < 0)
		fail("close %s: %s", ref_path, strerror(errno));
	open_files(0);
}

static void op_fsync(void)
{
	int data_only = (int)(rnd64() & 1);
	log_op("%s", data_only ? "fdatasync" : "fsync");
	int a = data_only ? fdatasync(tfd) : fsync(tfd);
	int ea = errno;
	int b = data_only ? fdatasync(rfd) : fsync(rfd);
	check_rets(data_only ? "fdatasync" : "fsync", a, ea, b, errno);
}

static void op_append(void)
{
	uint64_t len = pick_len(cur_size, maxlen);
	if (len == 0) {
		log_op("append skipped (file at maxlen)");
		return;
	}
	log_op("append len=%llu (size %llu)", (unsigned long long)len, (unsigned long long)cur_size);
	gen_data(data, cur_size, len);
	int fa = open(test_path, O_WRONLY | O_APPEND);
	int ea = errno;
	int fb = open(ref_path, O_WRONLY | O_APPEND);
	check_rets("append: open", fa < 0 ? -1 : 0, ea, fb < 0 ? -1 : 0, errno);
	ssize_t a = write_full(fa, data, len, 0, 0);
	ea = errno;
	ssize_t b = write_full(fb, data, len, 0, 0);
	check_rets("append: write", a, ea, b, errno);
	int ca = close(fa);
	ea = errno;
	int cb = close(fb);
	check_rets("append: close", ca, ea, cb, errno);
	struct stat st;
	if (fstat(tfd, &st) == 0 && (uint64_t)st.st_size != cur_size + len)
		fail("append: %s size %lld, expected %llu", test_path, (long long)st.st_size,
		     (unsigned long long)(cur_size + len));
}

/* Try each fallocate mode once on the empty files; disable unsupported ones. */
static void probe_falloc(void)
{
	static const struct {
		enum op_type t;
		int mode;
	} modes[] = {
		{ OP_FALLOC, 0 },
		{ OP_FALLOC_KEEP, FALLOC_FL_KEEP_SIZE },
		{ OP_PUNCH, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE },
	};
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		int a = fallocate(tfd, modes[i].mode, 0, (off_t)pagesize);
		int ea = errno;
		int b = fallocate(rfd, modes[i].mode, 0, (off_t)pagesize);
		int eb = errno;
		if (a < 0 && ea == EOPNOTSUPP)
			disable_falloc(modes[i].t, modes[i].mode, test_path, ea);
		else if (b < 0 && eb == EOPNOTSUPP)
			disable_falloc(modes[i].t, modes[i].mode, ref_path, eb);
		else
			check_rets(falloc_name(modes[i].mode), a, ea, b, eb);
	}
	if (ftruncate(tfd, 0) < 0 || ftruncate(rfd, 0) < 0)
		fail("ftruncate to 0: %s", strerror(errno));
}

#ifdef FSX_SELFTEST_BUG
/* Deliberately corrupt one byte of the test file (never in normal builds). */
static void selftest_bug(void)
{
	static int done;
	struct stat st;
	unsigned char c;
	if (done || opnum < 500 || fstat(tfd, &st) < 0 || st.st_size == 0)
		return;
	off_t off = st.st_size / 2;
	if (pread(tfd, &c, 1, off) == 1) {
		c ^= 0x5a;
		if (pwrite(tfd, &c, 1, off) == 1)
			done = 1;
	}
	printf("fsx: SELFTEST: corrupted byte %lld of %s at op %lu\n", (long long)off, test_path, opnum);
}
#endif

static enum op_type pick_op(void)
{
	unsigned total = 0;
	for (int i = 0; i < OP_NTYPES; i++)
		if (!disabled[i])
			total += optab[i].weight;
	unsigned x = (unsigned)rnd_below(total);
	for (int i = 0; i < OP_NTYPES; i++) {
		if (disabled[i])
			continue;
		if (x < optab[i].weight)
			return (enum op_type)i;
		x -= optab[i].weight;
	}
	return OP_WRITE;
}

static void usage(void)
{
	fprintf(stderr, "usage: fsx [-N numops] [-S seed] [-l maxlen] [-o maxoplen] TESTFILE REFFILE\n");
	exit(2);
}

static unsigned long long parse_num(const char *s, unsigned long long min)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || end == s || *end || *s == '-' || v < min)
		usage();
	return v;
}

int main(int argc, char **argv)
{
	int c, have_seed = 0;
	while ((c = getopt(argc, argv, "N:S:l:o:")) != -1) {
		switch (c) {
		case 'N': numops = (unsigned long)parse_num(optarg, 0); break;
		case 'S': seed = parse_num(optarg, 0); have_seed = 1; break;
		case 'l': maxlen = parse_num(optarg, 1); break;
		case 'o': maxoplen = parse_num(optarg, 1); break;
		default: usage();
		}
	}
	if (argc - optind != 2)
		usage();
	if (maxlen > (1ull << 40) || maxoplen > (1ull << 30))
		usage();
	if (maxoplen > maxlen)
		maxoplen = maxlen;
	test_path = argv[optind];
	ref_path = argv[optind + 1];
	if (!have_seed) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		seed = (unsigned long long)ts.tv_sec * 1000003u ^ (unsigned long long)ts.tv_nsec ^
		       (unsigned long long)getpid() << 32;
	}
	rng_seed(seed);
	pagesize = (size_t)sysconf(_SC_PAGESIZE);

	cmp_t = malloc(CMP_CHUNK);
	cmp_r = malloc(CMP_CHUNK);
	data = malloc(maxoplen);
	rd_t = malloc(maxoplen);
	rd_r = malloc(maxoplen);
	if (!cmp_t || !cmp_r || !data || !rd_t || !rd_r) {
		fprintf(stderr, "fsx: out of memory\n");
		return 1;
	}

	printf("fsx: seed %llu, %lu ops, maxlen %llu, maxoplen %llu\n", seed, numops,
	       (unsigned long long)maxlen, (unsigned long long)maxoplen);
	fflush(stdout);
	open_files(O_CREAT | O_TRUNC);
	probe_falloc();
	fflush(stdout);

	for (opnum = 1; opnum <= numops; opnum++) {
		enum op_type t = pick_op();
		switch (t) {
		case OP_WRITE: op_write(); break;
		case OP_READ: op_read(); break;
		case OP_TRUNCATE: op_truncate(); break;
		case OP_FALLOC: do_falloc(t, 0); break;
		case OP_FALLOC_KEEP: do_falloc(t, FALLOC_FL_KEEP_SIZE); break;
		case OP_PUNCH: do_falloc(t, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE); break;
		case OP_MAPWRITE: do_mmap(1); break;
		case OP_MAPREAD: do_mmap(0); break;
		case OP_REOPEN: op_reopen(); break;
		case OP_FSYNC: op_fsync(); break;
		case OP_APPEND: op_append(); break;
		case OP_NTYPES: break;
		}
#ifdef FSX_SELFTEST_BUG
		selftest_bug();
#endif
		check_all(optab[t].name);
	}
	opnum = numops;
	close(tfd);
	close(rfd);
	free(cmp_t);
	free(cmp_r);
	free(data);
	free(rd_t);
	free(rd_r);
	printf("fsx: %lu operations OK (seed %llu)\n", numops, seed);
	return 0;
}
