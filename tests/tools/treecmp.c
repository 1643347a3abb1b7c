/*
 * treecmp.c - compare two directory trees entry by entry (backupfs tests).
 *
 *   treecmp [-m] [-t] [-x] [-i] DIR1 DIR2
 *
 * Walks both trees in sorted name order (entries named ".snapshots" are
 * skipped at every level) and compares for every path: presence, file type,
 * mode bits including suid/sgid/sticky, uid, gid, size (regular files and
 * symlinks; directory sizes are filesystem-specific and ignored), content of
 * regular files, symlink targets and device numbers.
 *
 *   -m  also compare mtime, to the nanosecond, of everything but directories
 *   -t  also compare directory mtimes (implies -m)
 *   -x  also compare extended attributes (all readable namespaces; names
 *       and values)
 *   -i  also compare hard-link structure: the partition of non-directory
 *       paths into same-inode groups (st_dev/st_ino within each tree) must be
 *       the same in both trees, and st_nlink of non-directories must match
 *
 * Prints up to 20 differences to stderr, one per line:
 *   treecmp: PATH: what differs (DIR1 value vs DIR2 value)
 * with PATH relative to the roots (the roots themselves are ".").
 * Exit: 0 identical, 1 differences found, 2 usage or an error reading a tree.
 *
 * The walk uses openat/fstatat relative to directory descriptors, so path
 * length is not limited by PATH_MAX; two descriptors are held per level.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#define MAX_DIFFS 20
#define CHUNK (1u << 20)

static int opt_mtime, opt_dir_mtime, opt_xattr, opt_links;
static const char *root[2];
static int ndiffs;
static unsigned char *buf[2];

/* ---- growable path (relative to the roots, for messages) ---- */

static char *path;
static size_t path_len, path_cap;

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p) {
		fprintf(stderr, "treecmp: out of memory\n");
		exit(2);
	}
	return p;
}

static char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	return memcpy(xrealloc(NULL, n), s, n);
}

/* Append "/name" ("name" at the root, where the path is empty). */
static size_t path_push(const char *name)
{
	size_t old = path_len, n = strlen(name), sep = old ? 1 : 0;
	if (old + sep + n + 1 > path_cap) {
		path_cap = (old + sep + n + 1) * 2;
		path = xrealloc(path, path_cap);
	}
	if (sep)
		path[old] = '/';
	memcpy(path + old + sep, name, n + 1);
	path_len = old + sep + n;
	return old;
}

static void path_pop(size_t old)
{
	path_len = old;
	path[old] = 0;
}

static void path_set(const char *p)
{
	path_len = 0;
	path[0] = 0;
	path_push(p);
}

/* ---- reporting ---- */

__attribute__((format(printf, 1, 2)))
static void differ(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "treecmp: %s: ", path_len ? path : ".");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (++ndiffs >= MAX_DIFFS) {
		fprintf(stderr, "treecmp: stopping after %d differences\n", MAX_DIFFS);
		exit(1);
	}
}

__attribute__((noreturn))
static void fatal(int side, const char *what, int err)
{
	fprintf(stderr, "treecmp: %s: %s in %s: %s\n", path_len ? path : ".", what, root[side], strerror(err));
	exit(2);
}

static const char *type_name(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG: return "regular file";
	case S_IFDIR: return "directory";
	case S_IFLNK: return "symlink";
	case S_IFCHR: return "char device";
	case S_IFBLK: return "block device";
	case S_IFIFO: return "fifo";
	case S_IFSOCK: return "socket";
	default: return "unknown type";
	}
}

/* ---- directory listing ---- */

struct names {
	char **v;
	size_t n, cap;
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void read_names(int side, int dfd, struct names *out)
{
	int fd = dup(dfd);
	DIR *dp = fd < 0 ? NULL : fdopendir(fd);
	struct dirent *de;
	if (!dp)
		fatal(side, "opendir", errno);
	out->v = NULL;
	out->n = out->cap = 0;
	errno = 0;
	while ((de = readdir(dp))) {
		const char *s = de->d_name;
		if (!strcmp(s, ".") || !strcmp(s, "..") || !strcmp(s, ".snapshots"))
			continue;
		if (out->n == out->cap) {
			out->cap = out->cap ? out->cap * 2 : 64;
			out->v = xrealloc(out->v, out->cap * sizeof(char *));
		}
		out->v[out->n++] = xstrdup(s);
		errno = 0;
	}
	if (errno)
		fatal(side, "readdir", errno);
	closedir(dp);
	if (out->n > 1)
		qsort(out->v, out->n, sizeof(char *), cmp_str);
}

static void free_names(struct names *nm)
{
	for (size_t i = 0; i < nm->n; i++)
		free(nm->v[i]);
	free(nm->v);
}

/* ---- hard-link bookkeeping (-i) ---- */

struct linkrec {
	dev_t dev[2];
	ino_t ino[2];
	char *path;
};

static struct linkrec *links;
static size_t nlinks, links_cap;

static void add_link(const struct stat *s0, const struct stat *s1)
{
	if (nlinks == links_cap) {
		links_cap = links_cap ? links_cap * 2 : 1024;
		links = xrealloc(links, links_cap * sizeof(*links));
	}
	struct linkrec *r = &links[nlinks++];
	r->dev[0] = s0->st_dev;
	r->ino[0] = s0->st_ino;
	r->dev[1] = s1->st_dev;
	r->ino[1] = s1->st_ino;
	r->path = xstrdup(path_len ? path : ".");
}

static int key_side; /* which tree qsort compares on */

static int cmp_link(const void *a, const void *b)
{
	const struct linkrec *x = a, *y = b;
	int s = key_side;
	if (x->dev[s] != y->dev[s])
		return x->dev[s] < y->dev[s] ? -1 : 1;
	if (x->ino[s] != y->ino[s])
		return x->ino[s] < y->ino[s] ? -1 : 1;
	return strcmp(x->path, y->path);
}

/* Within each group of paths sharing an inode in tree @s, the other tree must agree. */
static void check_link_groups(int s)
{
	int o = !s;
	key_side = s;
	if (nlinks > 1)
		qsort(links, nlinks, sizeof(*links), cmp_link);
	for (size_t i = 0; i < nlinks;) {
		size_t j = i + 1;
		while (j < nlinks && links[j].dev[s] == links[i].dev[s] && links[j].ino[s] == links[i].ino[s])
			j++;
		for (size_t k = i + 1; k < j; k++) {
			if (links[k].dev[o] == links[i].dev[o] && links[k].ino[o] == links[i].ino[o])
				continue;
			path_set(links[k].path);
			differ("hard-linked with %s in %s but not in %s", links[i].path, root[s], root[o]);
			break;
		}
		i = j;
	}
}

/* ---- content / symlink / xattr comparison ---- */

static ssize_t read_full(int fd, unsigned char *b, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = read(fd, b + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

static void cmp_content(int dfd[2], const char *name)
{
	int fd[2];
	for (int s = 0; s < 2; s++) {
		fd[s] = openat(dfd[s], name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
		if (fd[s] < 0)
			fatal(s, "open", errno);
	}
	for (unsigned long long off = 0;; off += CHUNK) {
		ssize_t n[2];
		for (int s = 0; s < 2; s++) {
			n[s] = read_full(fd[s], buf[s], CHUNK);
			if (n[s] < 0)
				fatal(s, "read", errno);
		}
		size_t m = (size_t)(n[0] < n[1] ? n[0] : n[1]);
		if (memcmp(buf[0], buf[1], m) != 0) {
			size_t i = 0;
			while (buf[0][i] == buf[1][i])
				i++;
			differ("content differs at offset %llu (0x%02x vs 0x%02x)", off + i, buf[0][i], buf[1][i]);
			break;
		}
		if (n[0] != n[1]) {
			differ("content length differs (%llu vs %llu bytes read)", off + (unsigned long long)n[0],
			       off + (unsigned long long)n[1]);
			break;
		}
		if (n[0] < (ssize_t)CHUNK)
			break;
	}
	close(fd[0]);
	close(fd[1]);
}

static char *read_link(int side, int dfd, const char *name, size_t size_hint)
{
	size_t cap = size_hint + 2;
	for (;;) {
		char *t = xrealloc(NULL, cap);
		ssize_t n = readlinkat(dfd, name, t, cap);
		if (n < 0)
			fatal(side, "readlink", errno);
		if ((size_t)n < cap) {
			t[n] = 0;
			return t;
		}
		free(t);
		cap *= 2;
	}
}

/* xattrs are read through /proc/self/fd/N/name so symlinks need no open(). */
static void xattr_path(int dfd, const char *name, char *out, size_t sz)
{
	snprintf(out, sz, "/proc/self/fd/%d/%s", dfd, name ? name : ".");
}

/* Sorted list of xattr names; returns count, *blob owns the strings. */
static size_t list_xattrs(int side, const char *p, char **blob, char ***names)
{
	ssize_t n;
	*blob = NULL;
	*names = NULL;
	for (;;) {
		n = llistxattr(p, NULL, 0);
		if (n < 0 && (errno == ENOTSUP || errno == ENODATA))
			return 0;
		if (n < 0)
			fatal(side, "listxattr", errno);
		*blob = xrealloc(*blob, (size_t)n + 1);
		n = llistxattr(p, *blob, (size_t)n);
		if (n >= 0)
			break;
		if (errno != ERANGE)
			fatal(side, "listxattr", errno);
	}
	size_t cnt = 0;
	for (ssize_t i = 0; i < n; i += (ssize_t)strlen(*blob + i) + 1)
		cnt++;
	*names = xrealloc(NULL, (cnt ? cnt : 1) * sizeof(char *));
	cnt = 0;
	for (ssize_t i = 0; i < n; i += (ssize_t)strlen(*blob + i) + 1)
		(*names)[cnt++] = *blob + i;
	if (cnt > 1)
		qsort(*names, cnt, sizeof(char *), cmp_str);
	return cnt;
}

static ssize_t get_xattr(int side, const char *p, const char *name, char **val)
{
	for (;;) {
		ssize_t n = lgetxattr(p, name, NULL, 0);
		if (n < 0)
			fatal(side, name, errno);
		*val = xrealloc(*val, (size_t)n + 1);
		ssize_t m = lgetxattr(p, name, *val, (size_t)n);
		if (m >= 0)
			return m;
		if (errno != ERANGE)
			fatal(side, name, errno);
	}
}

/* An xattr value for a message: quoted if short and printable, else length + hex prefix. */
static void fmt_val(char *out, size_t sz, const char *v, ssize_t len)
{
	int printable = len <= 64;
	for (ssize_t i = 0; printable && i < len; i++)
		if (v[i] < 0x20 || v[i] > 0x7e)
			printable = 0;
	if (printable) {
		snprintf(out, sz, "\"%.*s\"", (int)len, v);
		return;
	}
	int n = snprintf(out, sz, "%zd bytes: ", len);
	for (ssize_t i = 0; i < len && i < 16 && n > 0 && (size_t)n + 3 < sz; i++)
		n += snprintf(out + n, sz - (size_t)n, "%02x", (unsigned char)v[i]);
	if (len > 16 && n > 0 && (size_t)n + 4 < sz)
		snprintf(out + n, sz - (size_t)n, "...");
}

static void cmp_xattrs(int dfd[2], const char *name)
{
	char p[2][64 + 256 + 8];
	char *blob[2], **nm[2];
	size_t cnt[2], i = 0, j = 0;
	char *v[2] = { NULL, NULL };
	for (int s = 0; s < 2; s++) {
		xattr_path(dfd[s], name, p[s], sizeof(p[s]));
		cnt[s] = list_xattrs(s, p[s], &blob[s], &nm[s]);
	}
	while (i < cnt[0] || j < cnt[1]) {
		int c = i == cnt[0] ? 1 : j == cnt[1] ? -1 : strcmp(nm[0][i], nm[1][j]);
		if (c < 0) {
			differ("xattr %s only in %s", nm[0][i++], root[0]);
			continue;
		}
		if (c > 0) {
			differ("xattr %s only in %s", nm[1][j++], root[1]);
			continue;
		}
		ssize_t l0 = get_xattr(0, p[0], nm[0][i], &v[0]);
		ssize_t l1 = get_xattr(1, p[1], nm[1][j], &v[1]);
		if (l0 != l1 || memcmp(v[0], v[1], (size_t)l0) != 0) {
			char a[80], b[80];
			fmt_val(a, sizeof(a), v[0], l0);
			fmt_val(b, sizeof(b), v[1], l1);
			differ("xattr %s value differs (%s vs %s)", nm[0][i], a, b);
		}
		i++;
		j++;
	}
	for (int s = 0; s < 2; s++) {
		free(v[s]);
		free(nm[s]);
		free(blob[s]);
	}
}

/* ---- per-entry comparison ---- */

static void cmp_dir(int dfd[2]);

/*
 * Compare one entry that exists in both trees.  @name is relative to @dfd,
 * or NULL for the roots themselves (then @dfd are the roots).
 */
static void cmp_entry(int dfd[2], const char *name, const struct stat st[2])
{
	mode_t t0 = st[0].st_mode & S_IFMT, t1 = st[1].st_mode & S_IFMT;
	if (t0 != t1) {
		differ("type differs (%s vs %s)", type_name(st[0].st_mode), type_name(st[1].st_mode));
		return;
	}
	if ((st[0].st_mode & 07777) != (st[1].st_mode & 07777))
		differ("mode differs (%04o vs %04o)", (unsigned)(st[0].st_mode & 07777),
		       (unsigned)(st[1].st_mode & 07777));
	if (st[0].st_uid != st[1].st_uid)
		differ("uid differs (%u vs %u)", (unsigned)st[0].st_uid, (unsigned)st[1].st_uid);
	if (st[0].st_gid != st[1].st_gid)
		differ("gid differs (%u vs %u)", (unsigned)st[0].st_gid, (unsigned)st[1].st_gid);
	if ((t0 == S_IFREG || t0 == S_IFLNK) && st[0].st_size != st[1].st_size)
		differ("size differs (%lld vs %lld)", (long long)st[0].st_size, (long long)st[1].st_size);
	else if (t0 == S_IFREG)
		cmp_content(dfd, name);
	if (t0 == S_IFLNK) {
		char *a = read_link(0, dfd[0], name, (size_t)st[0].st_size);
		char *b = read_link(1, dfd[1], name, (size_t)st[1].st_size);
		if (strcmp(a, b) != 0)
			differ("symlink target differs (%.200s vs %.200s)", a, b);
		free(a);
		free(b);
	}
	if ((t0 == S_IFCHR || t0 == S_IFBLK) && st[0].st_rdev != st[1].st_rdev)
		differ("device differs (%u:%u vs %u:%u)", major(st[0].st_rdev), minor(st[0].st_rdev),
		       major(st[1].st_rdev), minor(st[1].st_rdev));
	if ((opt_mtime && t0 != S_IFDIR) || (opt_dir_mtime && t0 == S_IFDIR)) {
		if (st[0].st_mtim.tv_sec != st[1].st_mtim.tv_sec || st[0].st_mtim.tv_nsec != st[1].st_mtim.tv_nsec)
			differ("mtime differs (%lld.%09ld vs %lld.%09ld)", (long long)st[0].st_mtim.tv_sec,
			       (long)st[0].st_mtim.tv_nsec, (long long)st[1].st_mtim.tv_sec,
			       (long)st[1].st_mtim.tv_nsec);
	}
	if (opt_links && t0 != S_IFDIR) {
		if (st[0].st_nlink != st[1].st_nlink)
			differ("nlink differs (%lu vs %lu)", (unsigned long)st[0].st_nlink,
			       (unsigned long)st[1].st_nlink);
		add_link(&st[0], &st[1]);
	}
	if (opt_xattr)
		cmp_xattrs(dfd, name);
	if (t0 == S_IFDIR && name) {
		int sub[2];
		for (int s = 0; s < 2; s++) {
			sub[s] = openat(dfd[s], name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub[s] < 0)
				fatal(s, "open directory", errno);
		}
		cmp_dir(sub);
		close(sub[0]);
		close(sub[1]);
	}
}

static void cmp_dir(int dfd[2])
{
	struct names nm[2];
	size_t i = 0, j = 0;
	read_names(0, dfd[0], &nm[0]);
	read_names(1, dfd[1], &nm[1]);
	while (i < nm[0].n || j < nm[1].n) {
		int c = i == nm[0].n ? 1 : j == nm[1].n ? -1 : strcmp(nm[0].v[i], nm[1].v[j]);
		int s = c < 0 ? 0 : 1;
		const char *name = c <= 0 ? nm[0].v[i] : nm[1].v[j];
		size_t old = path_push(name);
		if (c != 0) {
			struct stat st;
			if (fstatat(dfd[s], name, &st, AT_SYMLINK_NOFOLLOW) < 0)
				fatal(s, "stat", errno);
			differ("only in %s (%s)", root[s], type_name(st.st_mode));
			if (c < 0)
				i++;
			else
				j++;
		} else {
			struct stat st[2];
			for (int k = 0; k < 2; k++)
				if (fstatat(dfd[k], name, &st[k], AT_SYMLINK_NOFOLLOW) < 0)
					fatal(k, "stat", errno);
			cmp_entry(dfd, name, st);
			i++;
			j++;
		}
		path_pop(old);
	}
	free_names(&nm[0]);
	free_names(&nm[1]);
}

static void usage(void)
{
	fprintf(stderr, "usage: treecmp [-m] [-t] [-x] [-i] DIR1 DIR2\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int c, fd[2];
	struct stat st[2];
	struct rlimit rl;
	while ((c = getopt(argc, argv, "mtxi")) != -1) {
		switch (c) {
		case 'm': opt_mtime = 1; break;
		case 't': opt_mtime = opt_dir_mtime = 1; break;
		case 'x': opt_xattr = 1; break;
		case 'i': opt_links = 1; break;
		default: usage();
		}
	}
	if (argc - optind != 2)
		usage();
	root[0] = argv[optind];
	root[1] = argv[optind + 1];

	/* deep trees hold two descriptors per level */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	path_cap = 256;
	path = xrealloc(NULL, path_cap);
	path[0] = 0;
	path_len = 0;
	buf[0] = xrealloc(NULL, CHUNK);
	buf[1] = xrealloc(NULL, CHUNK);

	for (int s = 0; s < 2; s++) {
		fd[s] = open(root[s], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd[s] < 0 || fstat(fd[s], &st[s]) < 0)
			fatal(s, "open", errno);
	}
	cmp_entry(fd, NULL, st);
	cmp_dir(fd);
	if (opt_links) {
		check_link_groups(0);
		check_link_groups(1);
	}
	close(fd[0]);
	close(fd[1]);
	for (size_t i = 0; i < nlinks; i++)
		free(links[i].path);
	free(links);
	free(buf[0]);
	free(buf[1]);
	free(path);
	return ndiffs ? 1 : 0;
}
