/*
 * nsstress.c - concurrent namespace stress for backupfs.
 *
 *   nsstress [-p procs] [-n ops] [-S seed] DIR
 *
 * Creates a fixed skeleton in DIR (which must be empty or absent):
 * d0..d7, each with s0..s3.  Then forks P processes that each do N random
 * namespace ops at the same time.  Every process only touches names it owns
 * (they contain its index: p3_f17, p3_l4, p3_dir5), but puts them in the
 * SHARED skeleton directories, so the processes contend on the same
 * directories.  Each process's op sequence depends only on seed+index and its
 * own bookkeeping, so the final tree is the same whatever the interleaving:
 * run it on the mount and on plain disk with the same seed and compare the
 * two trees with `treecmp -i`.
 *
 * Ops: create file (small deterministic content), write/append/rewrite,
 * rename a file to another dir and/or a new name or over another own file,
 * rename an own directory (with its files) to another shared dir or over an
 * own empty directory (and over a non-empty one, expecting ENOTEMPTY),
 * hard link, unlink, mkdir, rmdir (emptying it first), symlink, chmod
 * (incl. suid/sgid/sticky), renameat2 RENAME_NOREPLACE (expecting EEXIST
 * when the target exists) and RENAME_EXCHANGE of two own files or dirs.
 *
 * When a process is done it checks its own names against its bookkeeping
 * (type, size, mode, nlink, symlink target, same st_ino for hard links,
 * entry count of its directories).
 *
 * Exit: 0 ok, 1 an unexpected syscall result (one line: proc, op, path,
 * error), 2 usage or DIR not empty.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

#define NTOP 8
#define NSUB 4
#define NSHARED (1 + NTOP + NTOP * NSUB) /* ".", dI, dI/sJ */
#define NAMELEN 32
#define PATHLEN 256
#define MAXCONTENT 8192

enum { T_FILE = 1, T_SYMLINK = 2 };

struct inode {
	int type;
	int nlink; /* 0 = gone */
	long long size;
	unsigned mode;
	char *target; /* symlinks */
	int seen;     /* final check: st_ino recorded */
	ino_t st_ino;
};

struct odir {
	int parent; /* shared dir index */
	int nent;   /* own entries inside */
	unsigned mode;
	int pos;    /* index in live_dirs, -1 = gone */
	char name[NAMELEN];
};

struct ent {
	int loc; /* < NSHARED: shared dir; else NSHARED + odir index */
	int ino;
	int pos; /* index in live_ents, -1 = gone */
	char name[NAMELEN];
};

static int proc;      /* this process's index */
static unsigned opno; /* current op, 1-based */
static const char *opname = "setup";
static int dfd;       /* DIR */

static struct inode *inodes;
static int ninodes;
static struct odir *dirs;
static int ndirs, *live_dirs, nlive_dirs;
static struct ent *ents;
static int nents, *live_ents, nlive_ents;
static unsigned name_ctr;

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

static unsigned rnd(unsigned n)
{
	return n ? (unsigned)(rnd64() % n) : 0;
}

/* ---- errors ---- */

__attribute__((noreturn))
static void die(const char *p1, const char *p2, const char *msg)
{
	fprintf(stderr, "nsstress: proc %d op %u (%s): %s%s%s: %s\n", proc, opno, opname, p1,
		p2 ? " -> " : "", p2 ? p2 : "", msg);
	fflush(NULL);
	_exit(1); /* no atexit/leak-check noise after the one line that matters */
}

static void check(long ret, const char *p1, const char *p2)
{
	if (ret < 0)
		die(p1, p2, strerror(errno));
}

/* An op that must fail with @want (or @want2). */
static void expect_err(long ret, int want, int want2, const char *p1, const char *p2)
{
	char msg[160];
	if (ret >= 0) {
		snprintf(msg, sizeof(msg), "succeeded, expected %s", strerror(want));
		die(p1, p2, msg);
	}
	if (errno != want && errno != want2) {
		int e = errno;
		snprintf(msg, sizeof(msg), "%s, expected ", strerror(e));
		size_t l = strlen(msg);
		snprintf(msg + l, sizeof(msg) - l, "%s", strerror(want));
		die(p1, p2, msg);
	}
}

static long rename2(const char *from, const char *to, unsigned flags)
{
	return syscall(SYS_renameat2, dfd, from, dfd, to, flags);
}

/* ---- paths ---- */

static char shared[NSHARED][8]; /* relative paths of the skeleton dirs */

static void init_shared(void)
{
	snprintf(shared[0], sizeof(shared[0]), ".");
	for (int i = 0; i < NTOP; i++) {
		snprintf(shared[1 + i], sizeof(shared[0]), "d%d", i);
		for (int j = 0; j < NSUB; j++)
			snprintf(shared[1 + NTOP + i * NSUB + j], sizeof(shared[0]), "d%d/s%d", i, j);
	}
}

static void dir_path(int d, char *buf, size_t sz)
{
	snprintf(buf, sz, "%s/%s", shared[dirs[d].parent], dirs[d].name);
}

static void join(int loc, const char *name, char *buf, size_t sz)
{
	if (loc < NSHARED) {
		snprintf(buf, sz, "%s/%s", shared[loc], name);
	} else {
		const struct odir *d = &dirs[loc - NSHARED];
		snprintf(buf, sz, "%s/%s/%s", shared[d->parent], d->name, name);
	}
}

static void ent_path(int e, char *buf, size_t sz)
{
	join(ents[e].loc, ents[e].name, buf, sz);
}

static void fresh_name(char kind, char *buf)
{
	if (kind == 'd')
		snprintf(buf, NAMELEN, "p%d_dir%u", proc, name_ctr++);
	else
		snprintf(buf, NAMELEN, "p%d_%c%u", proc, kind, name_ctr++);
}

/* ---- bookkeeping ---- */

static int random_loc(void)
{
	if (nlive_dirs && rnd(10) < 3)
		return NSHARED + live_dirs[rnd((unsigned)nlive_dirs)];
	return (int)rnd(NSHARED);
}

static void loc_count(int loc, int delta)
{
	if (loc >= NSHARED)
		dirs[loc - NSHARED].nent += delta;
}

static int new_inode(int type, long long size, unsigned mode)
{
	struct inode *in = &inodes[ninodes];
	memset(in, 0, sizeof(*in));
	in->type = type;
	in->nlink = 0;
	in->size = size;
	in->mode = mode;
	return ninodes++;
}

static int new_ent(int loc, int ino, const char *name)
{
	struct ent *e = &ents[nents];
	e->loc = loc;
	e->ino = ino;
	memcpy(e->name, name, NAMELEN);
	e->pos = nlive_ents;
	live_ents[nlive_ents++] = nents;
	inodes[ino].nlink++;
	loc_count(loc, 1);
	return nents++;
}

/* Forget a name (it was unlinked or renamed over). */
static void drop_ent(int e)
{
	int last = live_ents[--nlive_ents];
	live_ents[ents[e].pos] = last;
	ents[last].pos = ents[e].pos;
	ents[e].pos = -1;
	loc_count(ents[e].loc, -1);
	struct inode *in = &inodes[ents[e].ino];
	if (--in->nlink == 0) {
		free(in->target);
		in->target = NULL;
	}
}

static void move_ent(int e, int loc, const char *name)
{
	loc_count(ents[e].loc, -1);
	loc_count(loc, 1);
	ents[e].loc = loc;
	memmove(ents[e].name, name, NAMELEN);
}

static void drop_dir(int d)
{
	int last = live_dirs[--nlive_dirs];
	live_dirs[dirs[d].pos] = last;
	dirs[last].pos = dirs[d].pos;
	dirs[d].pos = -1;
}

static int pick_ent(void)
{
	return nlive_ents ? live_ents[rnd((unsigned)nlive_ents)] : -1;
}

static int pick_dir(void)
{
	return nlive_dirs ? live_dirs[rnd((unsigned)nlive_dirs)] : -1;
}

/* Another live entry than @e, or -1. */
static int pick_other_ent(int e)
{
	if (nlive_ents < 2)
		return -1;
	int o = live_ents[rnd((unsigned)nlive_ents - 1)];
	return o == e ? live_ents[nlive_ents - 1] : o;
}

static int pick_other_dir(int d)
{
	if (nlive_dirs < 2)
		return -1;
	int o = live_dirs[rnd((unsigned)nlive_dirs - 1)];
	return o == d ? live_dirs[nlive_dirs - 1] : o;
}

/* ---- file content ---- */

static void write_all(int fd, const unsigned char *buf, size_t len, const char *path)
{
	while (len) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die(path, NULL, n < 0 ? strerror(errno) : "short write");
		buf += n;
		len -= (size_t)n;
	}
}

static size_t gen_content(unsigned char *buf)
{
	size_t len = rnd(8) == 0 ? 0 : 1 + rnd(rnd(4) ? 512 : MAXCONTENT);
	int h = snprintf((char *)buf, MAXCONTENT, "p%d op %u\n", proc, opno);
	for (size_t i = 0; i < len; i++)
		buf[i] = i < (size_t)h ? buf[i] : (unsigned char)rnd64();
	return len;
}

/* ---- operations ---- */

static void op_create(void)
{
	char name[NAMELEN], path[PATHLEN];
	unsigned char buf[MAXCONTENT];
	int loc = random_loc();
	fresh_name('f', name);
	join(loc, name, path, sizeof(path));
	int fd = openat(dfd, path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	check(fd, path, NULL);
	size_t len = gen_content(buf);
	write_all(fd, buf, len, path);
	check(close(fd), path, NULL);
	new_ent(loc, new_inode(T_FILE, (long long)len, 0644), name);
}

static void op_mkdir(void)
{
	char path[PATHLEN];
	struct odir *d = &dirs[ndirs];
	d->parent = (int)rnd(NSHARED);
	d->nent = 0;
	d->mode = 0755;
	fresh_name('d', d->name);
	dir_path(ndirs, path, sizeof(path));
	check(mkdirat(dfd, path, 0755), path, NULL);
	d->pos = nlive_dirs;
	live_dirs[nlive_dirs++] = ndirs++;
}

static void op_write(void)
{
	char path[PATHLEN];
	unsigned char buf[MAXCONTENT];
	int e = pick_ent();
	if (e < 0 || inodes[ents[e].ino].type != T_FILE) {
		op_create();
		return;
	}
	struct inode *in = &inodes[ents[e].ino];
	ent_path(e, path, sizeof(path));
	/* make it writable for non-root and avoid suid/sgid-kill-on-write */
	if (!(in->mode & 0200) || (in->mode & (S_ISUID | S_ISGID))) {
		in->mode = (in->mode & 0777) | 0200;
		check(fchmodat(dfd, path, in->mode, 0), path, NULL);
	}
	size_t len = gen_content(buf);
	unsigned how = rnd(3);
	int fd = openat(dfd, path, O_WRONLY | O_CLOEXEC | (how == 0 ? O_APPEND : how == 1 ? O_TRUNC : 0));
	check(fd, path, NULL);
	if (how == 0) {
		write_all(fd, buf, len, path);
		in->size += (long long)len;
	} else if (how == 1) {
		write_all(fd, buf, len, path);
		in->size = (long long)len;
	} else {
		long long off = rnd((unsigned)in->size + 2048);
		check(lseek(fd, off, SEEK_SET), path, NULL);
		write_all(fd, buf, len, path);
		if (len && off + (long long)len > in->size)
			in->size = off + (long long)len;
	}
	check(close(fd), path, NULL);
}

/* Rename a file or symlink: to a new name/dir, or over another own entry. */
static void op_rename(void)
{
	char from[PATHLEN], to[PATHLEN], name[NAMELEN];
	int e = pick_ent();
	if (e < 0) {
		op_create();
		return;
	}
	ent_path(e, from, sizeof(from));
	int t = rnd(5) < 2 ? pick_other_ent(e) : -1;
	if (t >= 0) { /* replace */
		ent_path(t, to, sizeof(to));
		check(renameat(dfd, from, dfd, to), from, to);
		if (ents[t].ino == ents[e].ino)
			return; /* hard links to one inode: rename() does nothing */
		int loc = ents[t].loc;
		memcpy(name, ents[t].name, NAMELEN);
		drop_ent(t);
		move_ent(e, loc, name);
		return;
	}
	int loc = ents[e].loc;
	unsigned how = rnd(3);
	if (how != 1)
		loc = random_loc();
	if (how == 0 && loc != ents[e].loc)
		memcpy(name, ents[e].name, NAMELEN);
	else
		fresh_name('f', name);
	join(loc, name, to, sizeof(to));
	check(renameat(dfd, from, dfd, to), from, to);
	move_ent(e, loc, name);
}

/* Rename an own directory (with whatever it holds). */
static void op_rename_dir(void)
{
	char from[PATHLEN], to[PATHLEN];
	int d = pick_dir();
	if (d < 0) {
		op_mkdir();
		return;
	}
	dir_path(d, from, sizeof(from));
	int t = rnd(4) == 0 ? pick_other_dir(d) : -1;
	if (t >= 0) {
		dir_path(t, to, sizeof(to));
		if (dirs[t].nent) {
			expect_err(renameat(dfd, from, dfd, to), ENOTEMPTY, EEXIST, from, to);
			return;
		}
		check(renameat(dfd, from, dfd, to), from, to);
		dirs[d].parent = dirs[t].parent;
		memcpy(dirs[d].name, dirs[t].name, NAMELEN);
		drop_dir(t);
		return;
	}
	int parent = (int)rnd(NSHARED);
	if (parent == dirs[d].parent || rnd(2))
		fresh_name('d', dirs[d].name);
	dirs[d].parent = parent;
	dir_path(d, to, sizeof(to));
	check(renameat(dfd, from, dfd, to), from, to);
}

static void op_link(void)
{
	char from[PATHLEN], to[PATHLEN], name[NAMELEN];
	int e = pick_ent();
	if (e < 0) {
		op_create();
		return;
	}
	int loc = random_loc();
	ent_path(e, from, sizeof(from));
	fresh_name('f', name);
	join(loc, name, to, sizeof(to));
	check(linkat(dfd, from, dfd, to, 0), from, to);
	new_ent(loc, ents[e].ino, name);
}

static void op_unlink(void)
{
	char path[PATHLEN];
	int e = pick_ent();
	if (e < 0) {
		op_create();
		return;
	}
	ent_path(e, path, sizeof(path));
	check(unlinkat(dfd, path, 0), path, NULL);
	drop_ent(e);
}

static void op_rmdir(void)
{
	char path[PATHLEN];
	int d = pick_dir();
	if (d < 0) {
		op_mkdir();
		return;
	}
	for (int i = 0; i < nlive_ents && dirs[d].nent;) {
		int e = live_ents[i];
		if (ents[e].loc != NSHARED + d) {
			i++;
			continue;
		}
		ent_path(e, path, sizeof(path));
		check(unlinkat(dfd, path, 0), path, NULL);
		drop_ent(e); /* moves the last live entry into slot i */
	}
	dir_path(d, path, sizeof(path));
	check(unlinkat(dfd, path, AT_REMOVEDIR), path, NULL);
	drop_dir(d);
}

static void op_symlink(void)
{
	static const char chars[] = "abcdefghijklmnopqrstuvwxyz0123456789/._-";
	char name[NAMELEN], path[PATHLEN];
	unsigned r = rnd(20);
	size_t len = r < 14 ? 1 + rnd(40) : r < 19 ? 41 + rnd(260) : 301 + rnd(3700);
	char *target = malloc(len + 1);
	if (!target)
		die("symlink", NULL, "out of memory");
	int h = snprintf(target, len + 1, "p%d_t%u_", proc, opno);
	for (size_t i = (size_t)h; i < len; i++)
		target[i] = chars[rnd(sizeof(chars) - 1)];
	target[len] = 0;
	int loc = random_loc();
	fresh_name('l', name);
	join(loc, name, path, sizeof(path));
	check(symlinkat(target, dfd, path), path, NULL);
	int ino = new_inode(T_SYMLINK, (long long)strlen(target), 0777);
	inodes[ino].target = target;
	new_ent(loc, ino, name);
}

static void op_chmod(void)
{
	static const unsigned fmodes[] = { 0600, 0644, 0640, 0664, 0700, 0755, 0444, 0400,
					   04755, 02755, 06755, 01644, 0000 };
	static const unsigned dmodes[] = { 0755, 0700, 0775, 02755, 01777, 03775 };
	char path[PATHLEN];
	if (rnd(5) == 0 && nlive_dirs) {
		int d = pick_dir();
		unsigned m = dmodes[rnd(sizeof(dmodes) / sizeof(dmodes[0]))];
		dir_path(d, path, sizeof(path));
		check(fchmodat(dfd, path, m, 0), path, NULL);
		dirs[d].mode = m;
		return;
	}
	int e = pick_ent();
	if (e < 0 || inodes[ents[e].ino].type != T_FILE) {
		op_create();
		return;
	}
	unsigned m = fmodes[rnd(sizeof(fmodes) / sizeof(fmodes[0]))];
	ent_path(e, path, sizeof(path));
	check(fchmodat(dfd, path, m, 0), path, NULL);
	inodes[ents[e].ino].mode = m;
}

static void op_noreplace(void)
{
	char from[PATHLEN], to[PATHLEN], name[NAMELEN];
	int e = pick_ent();
	if (e < 0) {
		op_create();
		return;
	}
	ent_path(e, from, sizeof(from));
	int t = rnd(2) ? pick_other_ent(e) : -1;
	if (t >= 0) {
		ent_path(t, to, sizeof(to));
		expect_err(rename2(from, to, RENAME_NOREPLACE), EEXIST, EEXIST, from, to);
		return;
	}
	int loc = random_loc();
	fresh_name('f', name);
	join(loc, name, to, sizeof(to));
	check(rename2(from, to, RENAME_NOREPLACE), from, to);
	move_ent(e, loc, name);
}

static void op_exchange(void)
{
	char a[PATHLEN], b[PATHLEN];
	if (rnd(10) < 3 && nlive_dirs >= 2) {
		int d = pick_dir(), t = pick_other_dir(d);
		struct odir tmp;
		dir_path(d, a, sizeof(a));
		dir_path(t, b, sizeof(b));
		check(rename2(a, b, RENAME_EXCHANGE), a, b);
		tmp = dirs[d];
		dirs[d].parent = dirs[t].parent;
		memcpy(dirs[d].name, dirs[t].name, NAMELEN);
		dirs[t].parent = tmp.parent;
		memcpy(dirs[t].name, tmp.name, NAMELEN);
		return;
	}
	int e = pick_ent(), t = pick_other_ent(e);
	if (t < 0) {
		op_create();
		return;
	}
	ent_path(e, a, sizeof(a));
	ent_path(t, b, sizeof(b));
	check(rename2(a, b, RENAME_EXCHANGE), a, b);
	int ino = ents[e].ino;
	ents[e].ino = ents[t].ino;
	ents[t].ino = ino;
}

static const struct {
	const char *name;
	void (*fn)(void);
	unsigned weight;
} ops[] = {
	{ "create", op_create, 14 },
	{ "write", op_write, 12 },
	{ "rename", op_rename, 12 },
	{ "rename-dir", op_rename_dir, 6 },
	{ "link", op_link, 8 },
	{ "unlink", op_unlink, 10 },
	{ "mkdir", op_mkdir, 6 },
	{ "rmdir", op_rmdir, 3 },
	{ "symlink", op_symlink, 6 },
	{ "chmod", op_chmod, 6 },
	{ "rename-noreplace", op_noreplace, 5 },
	{ "rename-exchange", op_exchange, 5 },
};
#define NOPS (sizeof(ops) / sizeof(ops[0]))

/* ---- final self-check of this process's names ---- */

static void verify(void)
{
	char path[PATHLEN], msg[200];
	struct stat st;
	opname = "final check";
	for (int i = 0; i < nlive_ents; i++) {
		int e = live_ents[i];
		struct inode *in = &inodes[ents[e].ino];
		ent_path(e, path, sizeof(path));
		check(fstatat(dfd, path, &st, AT_SYMLINK_NOFOLLOW), path, NULL);
		int want_type = in->type == T_FILE ? S_IFREG : S_IFLNK;
		msg[0] = 0;
		if ((int)(st.st_mode & S_IFMT) != want_type)
			snprintf(msg, sizeof(msg), "wrong type (mode 0%o)", (unsigned)st.st_mode);
		else if ((long long)st.st_size != in->size)
			snprintf(msg, sizeof(msg), "size %lld, expected %lld", (long long)st.st_size, in->size);
		else if ((int)st.st_nlink != in->nlink)
			snprintf(msg, sizeof(msg), "nlink %lu, expected %d", (unsigned long)st.st_nlink, in->nlink);
		else if (in->type == T_FILE && (st.st_mode & 07777) != in->mode)
			snprintf(msg, sizeof(msg), "mode 0%o, expected 0%o", (unsigned)(st.st_mode & 07777), in->mode);
		else if (in->seen && st.st_ino != in->st_ino)
			snprintf(msg, sizeof(msg), "st_ino %lu differs from another link of it (%lu)",
				 (unsigned long)st.st_ino, (unsigned long)in->st_ino);
		if (msg[0])
			die(path, NULL, msg);
		in->seen = 1;
		in->st_ino = st.st_ino;
		if (in->type == T_SYMLINK) {
			char tgt[4200];
			ssize_t n = readlinkat(dfd, path, tgt, sizeof(tgt) - 1);
			check(n, path, NULL);
			tgt[n] = 0;
			if (strcmp(tgt, in->target) != 0)
				die(path, NULL, "symlink target differs from what was created");
		}
	}
	for (int i = 0; i < nlive_dirs; i++) {
		int d = live_dirs[i], n = 0;
		dir_path(d, path, sizeof(path));
		check(fstatat(dfd, path, &st, AT_SYMLINK_NOFOLLOW), path, NULL);
		if (!S_ISDIR(st.st_mode) || (st.st_mode & 07777) != dirs[d].mode) {
			snprintf(msg, sizeof(msg), "mode 0%o, expected directory with mode 0%o",
				 (unsigned)st.st_mode, dirs[d].mode);
			die(path, NULL, msg);
		}
		int fd = openat(dfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		check(fd, path, NULL);
		DIR *dp = fdopendir(fd);
		if (!dp)
			die(path, NULL, strerror(errno));
		struct dirent *de;
		while ((de = readdir(dp)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				n++;
		closedir(dp);
		if (n != dirs[d].nent) {
			snprintf(msg, sizeof(msg), "directory has %d entries, expected %d", n, dirs[d].nent);
			die(path, NULL, msg);
		}
	}
}

static int worker(unsigned long long seed, unsigned nops)
{
	unsigned total = 0;
	rng_seed(seed + (unsigned long long)proc);
	size_t cap = (size_t)nops + 1;
	inodes = calloc(cap, sizeof(*inodes));
	dirs = calloc(cap, sizeof(*dirs));
	ents = calloc(cap, sizeof(*ents));
	live_dirs = calloc(cap, sizeof(int));
	live_ents = calloc(cap, sizeof(int));
	if (!inodes || !dirs || !ents || !live_dirs || !live_ents)
		die("setup", NULL, "out of memory");
	for (size_t i = 0; i < NOPS; i++)
		total += ops[i].weight;
	for (opno = 1; opno <= nops; opno++) {
		unsigned x = rnd(total);
		size_t i = 0;
		while (x >= ops[i].weight)
			x -= ops[i++].weight;
		opname = ops[i].name;
		ops[i].fn();
	}
	verify();
	for (int i = 0; i < ninodes; i++)
		free(inodes[i].target);
	free(inodes);
	free(dirs);
	free(ents);
	free(live_dirs);
	free(live_ents);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: nsstress [-p procs] [-n ops] [-S seed] DIR\n");
	exit(2);
}

static unsigned long long parse_num(const char *s, unsigned long long min, unsigned long long max)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || end == s || *end || *s == '-' || v < min || v > max)
		usage();
	return v;
}

int main(int argc, char **argv)
{
	unsigned nprocs = 4, nops = 2000;
	unsigned long long seed = 0;
	int c, have_seed = 0, failed = 0;
	while ((c = getopt(argc, argv, "p:n:S:")) != -1) {
		switch (c) {
		case 'p': nprocs = (unsigned)parse_num(optarg, 1, 1000); break;
		case 'n': nops = (unsigned)parse_num(optarg, 0, 100000000); break;
		case 'S': seed = parse_num(optarg, 0, ~0ull); have_seed = 1; break;
		default: usage();
		}
	}
	if (argc - optind != 1)
		usage();
	const char *dir = argv[optind];
	if (!have_seed) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		seed = (unsigned long long)ts.tv_sec * 1000003u ^ (unsigned long long)ts.tv_nsec;
	}
	umask(022);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "nsstress: mkdir %s: %s\n", dir, strerror(errno));
		return 1;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		fprintf(stderr, "nsstress: open %s: %s\n", dir, strerror(errno));
		return 1;
	}
	{
		int fd = dup(dfd);
		DIR *dp = fd < 0 ? NULL : fdopendir(fd);
		struct dirent *de;
		if (!dp) {
			fprintf(stderr, "nsstress: %s: %s\n", dir, strerror(errno));
			return 1;
		}
		while ((de = readdir(dp)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
				fprintf(stderr, "nsstress: %s is not empty\n", dir);
				return 2;
			}
		closedir(dp);
	}
	init_shared();
	for (int i = 1; i < NSHARED; i++)
		check(mkdirat(dfd, shared[i], 0755), shared[i], NULL);
	printf("nsstress: %s: seed %llu, %u procs x %u ops\n", dir, seed, nprocs, nops);
	fflush(stdout);

	pid_t *pids = calloc(nprocs, sizeof(pid_t));
	if (!pids)
		return 1;
	for (unsigned i = 0; i < nprocs; i++) {
		pids[i] = fork();
		if (pids[i] < 0) {
			perror("nsstress: fork");
			failed = 1;
			break;
		}
		if (pids[i] == 0) {
			proc = (int)i;
			free(pids);
			exit(worker(seed, nops));
		}
	}
	for (unsigned i = 0; i < nprocs && pids[i] > 0; i++) {
		int status;
		while (waitpid(pids[i], &status, 0) < 0)
			if (errno != EINTR) {
				perror("nsstress: waitpid");
				return 1;
			}
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
			continue;
		failed = 1;
		if (WIFSIGNALED(status))
			fprintf(stderr, "nsstress: proc %u killed by signal %d\n", i, WTERMSIG(status));
		else
			fprintf(stderr, "nsstress: proc %u failed (exit %d)\n", i, WEXITSTATUS(status));
	}
	free(pids);
	close(dfd);
	if (failed)
		return 1;
	printf("nsstress: ok\n");
	return 0;
}
