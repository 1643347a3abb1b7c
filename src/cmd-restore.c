/*
 * cmd-restore.c - "backupfs restore [--at TIME | --snapshot NAME]
 * [--state DIR] [--password-file F] [--overwrite] [--no-progress] PATH
 * DEST": the file or tree PATH as it was at TIME, written to DEST.
 *
 * The state is found from PATH as "cat" finds it (reader_locate: in a
 * mount, in a registered SOURCE mounted or not, or --state), and the tree
 * at T is read from meta.db inside one read transaction: the names
 * (meta_readdir at T), each object's version at T (attributes, symlink
 * target, xattrs blob, manifest) and the content through one reader, a
 * decoded chunk at a time (reader_chunk, from the reader's chunk cache).
 * Without --at the latest state is restored: the live names and each
 * object's newest version (the read transaction makes it one consistent
 * view even while a daemon writes); a PATH that is gone now is refused
 * with the time it went, so the user picks the --at to restore.  The
 * password is asked only once PATH, its version and DEST are known good.
 *
 * Writing DEST.  Nothing is followed: DEST's parent is the user's
 * directory (opened as given), everything below it is created by us with
 * mkdirat/openat/symlinkat/mknodat/linkat relative to directory fds we
 * opened with O_NOFOLLOW, and attributes are set through those fds, so a
 * restored symlink (or one planted meanwhile) is never written through.
 * A name from the database that could escape ("..", "/", NUL) is refused.
 * Our directories stay 0700 while we fill them; each gets its owner, then
 * xattrs, then mode (chown clears setuid/setgid and capabilities, so it
 * comes first), then mtime, after its children, so their creation does
 * not move it.  Hard links inside the restored tree (one meta inode under
 * several names at T) are written once and linked.  A chunk of zeros is
 * not written: the file is extended with ftruncate at the end, so sparse
 * files stay sparse.
 *
 * Two threads.  Decoding (reading a blob, authenticating, decompressing)
 * and writing (the page-cache copy and block allocation) cost about the
 * same per byte, so a writer thread takes the decoded chunks of regular
 * files (copied: the reader's cache recycles its buffers) and finishes
 * each file (ftruncate, attributes, close) while this thread decodes the
 * next.  It owns a file from the moment its last chunk is queued; this
 * thread keeps everything that touches a directory (creating, linking,
 * renaming, the directory's own attributes), which a file's content,
 * size and attributes do not change.  A hard link or an --overwrite
 * rename waits for the writer to be idle first.  The queue holds at most
 * WQ_BYTES of chunks and WQ_FILES files (each with two fds).
 *
 * --overwrite restores over an existing DEST: directories are merged
 * (names that are not in the backup are kept), anything else at a restored
 * name is replaced; a regular file is written under a temporary name and
 * renamed over the old one, so a failed read leaves the old file.
 *
 * Failures.  The restore stops at the first error that loses data (a
 * corrupt pack, a write that fails, SIGINT/SIGTERM), removes the partial
 * file and says so in one line; what was restored before it stays.  What
 * only loses attributes (an owner or xattr a non-root user may not set)
 * is counted and reported in one warning line each at the end; an object
 * that could not be created at all (a device node without root, a version
 * missing from the database) makes the exit status 1 after the rest is
 * restored.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "banned.h"
#include "cmd.h"
#include "crypto.h"
#include "fdio.h"
#include "meta.h"
#include "mountinfo.h"
#include "reader.h"
#include "util.h"

static const char restore_usage[] =
	"usage: backupfs restore [--at TIME | --snapshot NAME] [--state DIR]\n"
	"                        [--password-file FILE] [--overwrite]\n"
	"                        [--no-progress] PATH DEST\n"
	"\n"
	"Restores the file or directory tree PATH as it was at TIME (default:\n"
	"its latest saved state) to DEST, a new path: content, directories,\n"
	"symbolic links, device files and fifos, hard links, modes, owners,\n"
	"mtimes and extended attributes.  Sparse files stay sparse.\n"
	"\n"
	"  --at TIME             2026-11-23T10:17:33Z, 2026-11-23T18:17:33.25+08:00,\n"
	"                        2026-11-23 (local midnight; no zone: local time),\n"
	"                        or @NANOSECONDS since the epoch\n"
	"  --snapshot NAME       the instant of snapshot NAME\n"
	"  --state DIR           state directory (default: found from PATH)\n"
	"  --password-file FILE  read the password from FILE's first line\n"
	"                        (else $BACKUPFS_PASSWORD, else a prompt)\n"
	"  --overwrite           DEST may exist: restore over it (directories\n"
	"                        are merged, other names replaced)\n"
	"  --no-progress         no progress line on a terminal\n"
	"  -h, --help            show this help\n";

/* An entry of a directory at T. */
struct ent {
	char *name;
	uint64_t inode;
};

struct ents {
	struct ent *v;
	size_t n, cap;
	int bad;			/* names refused (could escape) */
};

/* A problem that loses an attribute or an object: counted, the first kept
 * for the warning at the end. */
struct tally {
	uint64_t n;
	int err;
	char first[PATH_MAX];
	char what[READER_XATTR_NAME_MAX + 1];
};

/* One set per thread, added up at the end. */
struct tallies {
	struct tally owner, mode, xattr, times, skipped;
};

/* The attributes of a version that outlive the next meta_version_at. */
struct attrs {
	uint32_t mode, uid, gid;
	int64_t mtime_ns;
	void *xattrs;			/* owned when copied (attrs_copy) */
	size_t xattrs_len;
};

/* A regular file being written: the main thread's until its last chunk
 * is queued, then the writer's. */
struct wfile {
	int fd, dirfd;			/* dirfd: a dup of its directory's */
	char *target;			/* its name there (temporary with
					 * --overwrite) */
	char *where;			/* DEST/..., for messages */
	uint64_t size;
	struct attrs a;
};

/* A chunk to write, or (len 0, last) the end of a file: finish it. */
struct wjob {
	struct wjob *next;
	struct wfile *f;
	uint64_t off;
	size_t len;
	int last;
	uint8_t data[];
};

#define WQ_BYTES	(64u << 20)
#define WQ_FILES	128

struct writer {
	pthread_t th;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t work, room;	/* room: also "went idle" */
	struct wjob *head, *tail;
	size_t bytes, files;		/* queued */
	int busy, stop;
	int failed;			/* msg says why; later jobs dropped */
	char msg[2 * PATH_MAX];
	struct tallies t;
};

/* Hard links: the first restored name of an inode, relative to DEST. */
struct link_slot {
	uint64_t inode;			/* 0: empty */
	char *rel;
};

struct restore {
	struct reader *r;
	struct meta *m;
	uint64_t T;
	const char *path, *dest;
	int overwrite, is_root;
	int root_fd;			/* DEST when it is a directory, else -1 */
	unsigned tmp_seq;

	/* Where we are, relative to DEST ("" for DEST itself). */
	char *rel;
	size_t rel_len, rel_cap;

	struct link_slot *links;
	size_t nlinks, cap_links;	/* cap: a power of two */

	/* progress and summary */
	int tty, shown;			/* shown: a progress line is up */
	uint64_t files, dirs, bytes, done_files, done_bytes;
	uint64_t total_files, total_bytes;
	struct timespec start, last;

	struct tallies t;
	struct writer w;
};

/* SIGINT/SIGTERM: stop between chunks, remove the partial file. */
static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static double since(const struct timespec *a)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - a->tv_sec) +
	       (double)(now.tv_nsec - a->tv_nsec) / 1e9;
}

/* The progress line, as init's: files, MiB, rate, ETA. */
static void progress(struct restore *rs, int final)
{
	double t, rate;

	if (!rs->tty || (!final && since(&rs->last) < 0.25))
		return;
	clock_gettime(CLOCK_MONOTONIC, &rs->last);
	if (final) {
		if (rs->shown)	/* the summary replaces it */
			fputs("\r\033[K", stderr);
		rs->shown = 0;
		return;
	}
	rs->shown = 1;
	t = since(&rs->start);
	rate = t > 0 ? (double)rs->done_bytes / t : 0;
	fprintf(stderr, "\rrestoring: %llu/%llu files, %.1f/%.1f MiB, "
		"%.1f MiB/s", (unsigned long long)rs->done_files,
		(unsigned long long)rs->total_files,
		(double)rs->done_bytes / 1048576.0,
		(double)rs->total_bytes / 1048576.0, rate / 1048576.0);
	if (rate > 0 && rs->total_bytes > rs->done_bytes)
		fprintf(stderr, ", ETA %.0f s  ",
			(double)(rs->total_bytes - rs->done_bytes) / rate);
	else
		fputs("            ", stderr);
}

/* One line for the user, on a line of its own even under the progress
 * line. */
static void say(struct restore *rs, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void say(struct restore *rs, const char *fmt, ...)
{
	va_list ap;

	if (rs->shown) {
		fputs("\r\033[K", stderr);
		rs->shown = 0;
	}
	fputs("backupfs: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* --- paths for messages --------------------------------------------------- */

static int rel_push(struct restore *rs, const char *name)
{
	size_t n = strlen(name), need = rs->rel_len + 1 + n + 1;

	if (need > rs->rel_cap) {
		char *nb = realloc(rs->rel, need * 2);

		if (!nb)
			return -ENOMEM;
		rs->rel = nb;
		rs->rel_cap = need * 2;
	}
	if (rs->rel_len)
		rs->rel[rs->rel_len++] = '/';
	memcpy(rs->rel + rs->rel_len, name, n + 1);
	rs->rel_len += n;
	return 0;
}

static void rel_pop(struct restore *rs, size_t len)
{
	rs->rel_len = len;
	rs->rel[len] = '\0';
}

/* "DEST/rel" (or DEST) into buf, for messages. */
static const char *dest_path(const struct restore *rs, char *buf, size_t len)
{
	if (rs->rel_len)
		snprintf(buf, len, "%s/%s", rs->dest, rs->rel);
	else
		snprintf(buf, len, "%s", rs->dest);
	return buf;
}

static const char *src_path(const struct restore *rs, char *buf, size_t len)
{
	if (rs->rel_len)
		snprintf(buf, len, "%s/%s", rs->path, rs->rel);
	else
		snprintf(buf, len, "%s", rs->path);
	return buf;
}

static void tally(struct tally *t, const char *where, int err,
		  const char *what)
{
	if (t->n++ == 0) {
		t->err = err;
		snprintf(t->first, sizeof(t->first), "%s", where);
		snprintf(t->what, sizeof(t->what), "%s", what ? what : "");
	}
}

/* The same for the main thread, at the current place. */
static void tally_here(struct restore *rs, struct tally *t, int err,
		       const char *what)
{
	char where[PATH_MAX];

	tally(t, dest_path(rs, where, sizeof(where)), err, what);
}

/* --- hard links ----------------------------------------------------------- */

static size_t link_hash(uint64_t inode, size_t cap)
{
	inode *= 0x9e3779b97f4a7c15ull;
	return (size_t)(inode >> 32) & (cap - 1);
}

static struct link_slot *link_find(struct restore *rs, uint64_t inode)
{
	size_t i;

	if (!rs->cap_links)
		return NULL;
	for (i = link_hash(inode, rs->cap_links); rs->links[i].inode;
	     i = (i + 1) & (rs->cap_links - 1))
		if (rs->links[i].inode == inode)
			return &rs->links[i];
	return NULL;
}

static int link_add(struct restore *rs, uint64_t inode, const char *rel)
{
	size_t i;

	if (2 * (rs->nlinks + 1) > rs->cap_links) {
		size_t ncap = rs->cap_links ? 2 * rs->cap_links : 64;
		struct link_slot *nt = calloc(ncap, sizeof(*nt));

		if (!nt)
			return -ENOMEM;
		for (size_t k = 0; k < rs->cap_links; k++) {
			if (!rs->links[k].inode)
				continue;
			for (i = link_hash(rs->links[k].inode, ncap); nt[i].inode;
			     i = (i + 1) & (ncap - 1))
				;
			nt[i] = rs->links[k];
		}
		free(rs->links);
		rs->links = nt;
		rs->cap_links = ncap;
	}
	for (i = link_hash(inode, rs->cap_links); rs->links[i].inode;
	     i = (i + 1) & (rs->cap_links - 1))
		;
	rs->links[i].rel = strdup(rel);
	if (!rs->links[i].rel)
		return -ENOMEM;
	rs->links[i].inode = inode;
	rs->nlinks++;
	return 0;
}

/*
 * The directory holding rel (relative to DEST), opened component by
 * component with O_NOFOLLOW, and rel's last name.  -errno.
 */
static int open_parent(struct restore *rs, const char *rel, const char **last)
{
	int fd = dup(rs->root_fd);
	const char *p = rel, *slash;

	if (fd < 0)
		return -errno;
	while ((slash = strchr(p, '/'))) {
		char comp[NAME_MAX + 1];
		size_t k = (size_t)(slash - p);
		int nfd;

		if (k > NAME_MAX) {
			close(fd);
			return -ENAMETOOLONG;
		}
		memcpy(comp, p, k);
		comp[k] = '\0';
		nfd = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW |
			     O_CLOEXEC);
		close(fd);
		if (nfd < 0)
			return -errno;
		fd = nfd;
		p = slash + 1;
	}
	*last = p;
	return fd;
}

/* --- reading the tree at T ------------------------------------------------ */

/* A name that can only mean an entry of its directory. */
static int name_ok(const void *name, size_t len)
{
	const char *s = name;

	if (len == 0 || len > NAME_MAX || memchr(s, '/', len) ||
	    memchr(s, '\0', len))
		return 0;
	return !(len == 1 && s[0] == '.') &&
	       !(len == 2 && s[0] == '.' && s[1] == '.');
}

static int collect(void *arg, const void *name, size_t namelen,
		   uint64_t inode, uint32_t kind)
{
	struct ents *es = arg;
	struct ent *e;

	(void)kind;	/* the version's mode says what to create */
	if (!name_ok(name, namelen)) {
		es->bad++;
		return 0;
	}
	es->v = array_grow(es->v, &es->cap, es->n + 1, sizeof(*es->v));
	if (!es->v)
		return -ENOMEM;
	e = &es->v[es->n];
	e->name = malloc(namelen + 1);
	if (!e->name)
		return -ENOMEM;
	memcpy(e->name, name, namelen);
	e->name[namelen] = '\0';
	e->inode = inode;
	es->n++;
	return 0;
}

static void ents_free(struct ents *es)
{
	for (size_t i = 0; i < es->n; i++)
		free(es->v[i].name);
	free(es->v);
}

static int list_dir(struct restore *rs, uint64_t inode, struct ents *es)
{
	char where[PATH_MAX];
	int ret;

	memset(es, 0, sizeof(*es));
	ret = meta_readdir(rs->m, inode, rs->T, collect, es);
	if (ret) {
		say(rs, "cannot list '%s' in '%s/meta.db': %s",
		    src_path(rs, where, sizeof(where)), reader_state(rs->r),
		    strerror(-ret));
		ents_free(es);
		return ret;
	}
	return 0;
}

/* Files and bytes below a directory, for the ETA (terminal only). */
static int count_tree(struct restore *rs, uint64_t inode)
{
	struct meta_version v;
	struct ents es = { 0 };
	int ret = 0;

	if (meta_readdir(rs->m, inode, rs->T, collect, &es)) {
		ents_free(&es);
		return 0;	/* the restore will say what is wrong */
	}
	for (size_t i = 0; i < es.n && !ret; i++) {
		if (meta_version_at(rs->m, es.v[i].inode, rs->T, &v))
			continue;
		if (S_ISDIR(v.mode)) {
			ret = count_tree(rs, es.v[i].inode);
		} else {
			rs->total_files++;
			if (S_ISREG(v.mode))
				rs->total_bytes += v.size;
		}
	}
	ents_free(&es);
	return ret;
}

/* --- writing -------------------------------------------------------------- */

static int attrs_copy(struct attrs *a, const struct meta_version *v)
{
	a->mode = v->mode;
	a->uid = v->uid;
	a->gid = v->gid;
	a->mtime_ns = v->mtime_ns;
	a->xattrs = NULL;
	a->xattrs_len = 0;
	if (v->xattrs && v->xattrs_len) {
		a->xattrs = malloc(v->xattrs_len);
		if (!a->xattrs)
			return -ENOMEM;
		memcpy(a->xattrs, v->xattrs, v->xattrs_len);
		a->xattrs_len = v->xattrs_len;
	}
	return 0;
}

static void attrs_of(struct attrs *a, const struct meta_version *v)
{
	a->mode = v->mode;
	a->uid = v->uid;
	a->gid = v->gid;
	a->mtime_ns = v->mtime_ns;
	a->xattrs = (void *)v->xattrs;
	a->xattrs_len = v->xattrs ? v->xattrs_len : 0;
}

/*
 * Owner, xattrs, mode, mtime of the object: through fd if it has one
 * (files, directories), else by name in dirfd without following.  In this
 * order: chown clears setuid/setgid and file capabilities, and the mtime
 * must be the last change.  Failures are counted in t (where names the
 * object), not fatal.
 */
static void set_attrs(struct tallies *t, const char *where, int fd, int dirfd,
		      const char *name, const struct attrs *a)
{
	struct timespec ts[2];
	char proc[64 + NAME_MAX], xname[READER_XATTR_NAME_MAX + 1];
	const void *val;
	size_t pos = 0, vlen;
	int ret, lnk = S_ISLNK(a->mode);

	ret = fd >= 0 ? fchown(fd, a->uid, a->gid) :
	      fchownat(dirfd, name, a->uid, a->gid, AT_SYMLINK_NOFOLLOW);
	if (ret < 0)
		tally(&t->owner, where, errno, NULL);

	/* No lsetxattrat: the object by name in our directory's fd. */
	if (fd < 0)
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d/%s", dirfd, name);
	while ((ret = reader_xattr_next(a->xattrs, a->xattrs_len, &pos, xname,
					&val, &vlen)) > 0) {
		if ((fd >= 0 ? fsetxattr(fd, xname, val, vlen, 0) :
		     lsetxattr(proc, xname, val, vlen, 0)) < 0)
			tally(&t->xattr, where, errno, xname);
	}
	if (ret < 0)
		tally(&t->xattr, where, EBADMSG, "(malformed in the database)");

	/* A symlink's mode is always 0777 on Linux. */
	if (!lnk && (fd >= 0 ? fchmod(fd, a->mode & 07777) :
		     fchmodat(dirfd, name, a->mode & 07777, 0)) < 0)
		tally(&t->mode, where, errno, NULL);

	ts[0].tv_sec = 0;
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1].tv_sec = (time_t)(a->mtime_ns / 1000000000);
	ts[1].tv_nsec = (long)(a->mtime_ns % 1000000000);
	if (ts[1].tv_nsec < 0) {	/* before 1970 */
		ts[1].tv_nsec += 1000000000;
		ts[1].tv_sec--;
	}
	if ((fd >= 0 ? futimens(fd, ts) :
	     utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW)) < 0)
		tally(&t->times, where, errno, NULL);
}

/* The same for the main thread, at the current place. */
static void set_attrs_here(struct restore *rs, int fd, int dirfd,
			   const char *name, const struct attrs *a)
{
	char where[PATH_MAX];

	set_attrs(&rs->t, dest_path(rs, where, sizeof(where)), fd, dirfd, name,
		  a);
}

/* --- the writer thread ---------------------------------------------------- */

static void wfile_free(struct wfile *f)
{
	if (!f)
		return;
	if (f->fd >= 0)
		close(f->fd);
	if (f->dirfd >= 0)
		close(f->dirfd);
	free(f->target);
	free(f->where);
	free(f->a.xattrs);
	free(f);
}

/* The writer failed on f: remove it (it is partial), say so once. */
static void w_fail(struct writer *w, struct wfile *f, const char *what,
		   int err)
{
	int gone;

	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	gone = unlinkat(f->dirfd, f->target, 0) == 0 || errno == ENOENT;
	pthread_mutex_lock(&w->mu);
	if (!w->failed)
		snprintf(w->msg, sizeof(w->msg), "cannot %s '%s': %s; %s", what,
			 f->where, strerror(err), gone ?
			 "removed the partial file" :
			 "could not remove the partial file");
	w->failed = 1;
	pthread_mutex_unlock(&w->mu);
}

static void w_run(struct writer *w, struct wjob *j)
{
	struct wfile *f = j->f;
	int err, failed;

	pthread_mutex_lock(&w->mu);
	failed = w->failed;
	pthread_mutex_unlock(&w->mu);
	if (!j->last) {
		if (failed || f->fd < 0)
			return;
		err = fd_pwrite_all(f->fd, j->data, j->len, j->off);
		if (err)
			w_fail(w, f, "write", -err);
		return;
	}
	/* The end of the file: it is complete, unless something failed (then
	 * it is removed: nothing half done is left). */
	if (failed && f->fd >= 0) {
		close(f->fd);
		f->fd = -1;
		unlinkat(f->dirfd, f->target, 0);
	}
	if (f->fd >= 0) {
		if (ftruncate(f->fd, (off_t)f->size) < 0) {
			w_fail(w, f, "write", errno);
		} else {
			set_attrs(&w->t, f->where, f->fd, f->dirfd, f->target,
				  &f->a);
			err = close(f->fd) < 0 ? errno : 0;
			f->fd = -1;
			if (err)
				w_fail(w, f, "write", err);
		}
	}
	wfile_free(f);
}

static void *w_main(void *arg)
{
	struct writer *w = arg;
	struct wjob *j;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->head && !w->stop)
			pthread_cond_wait(&w->work, &w->mu);
		if (!w->head)
			break;
		j = w->head;
		w->head = j->next;
		if (!w->head)
			w->tail = NULL;
		w->busy = 1;
		pthread_mutex_unlock(&w->mu);

		w_run(w, j);

		pthread_mutex_lock(&w->mu);
		w->busy = 0;
		w->bytes -= j->len;
		w->files -= j->last;
		pthread_cond_broadcast(&w->room);
		free(j);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static int w_start(struct writer *w)
{
	int ret;

	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->work, NULL);
	pthread_cond_init(&w->room, NULL);
	ret = pthread_create(&w->th, NULL, w_main, w);
	if (ret)
		return -ret;
	w->started = 1;
	return 0;
}

/* Queues a job; waits while the queue is full.  -EIO once the writer has
 * failed (its message is in w->msg). */
static int w_queue(struct writer *w, struct wfile *f, uint64_t off,
		   const void *data, size_t len, int last)
{
	struct wjob *j = malloc(sizeof(*j) + len);
	int failed;

	if (!j)
		return -ENOMEM;
	j->next = NULL;
	j->f = f;
	j->off = off;
	j->len = len;
	j->last = last;
	if (len)
		memcpy(j->data, data, len);
	pthread_mutex_lock(&w->mu);
	while (!w->failed && (w->bytes + len > WQ_BYTES ||
			      (last && w->files >= WQ_FILES)) &&
	       (w->head || w->busy))
		pthread_cond_wait(&w->room, &w->mu);
	failed = w->failed;
	if (!failed) {
		if (w->tail)
			w->tail->next = j;
		else
			w->head = j;
		w->tail = j;
		w->bytes += len;
		w->files += last;
		pthread_cond_signal(&w->work);
	}
	pthread_mutex_unlock(&w->mu);
	if (failed) {
		free(j);
		return -EIO;
	}
	return 0;
}

/* Waits until the writer has done everything queued; -EIO if it failed. */
static int w_drain(struct writer *w)
{
	int failed;

	if (!w->started)
		return 0;
	pthread_mutex_lock(&w->mu);
	while (w->head || w->busy)
		pthread_cond_wait(&w->room, &w->mu);
	failed = w->failed;
	pthread_mutex_unlock(&w->mu);
	return failed ? -EIO : 0;
}

static void w_stop(struct writer *w)
{
	if (!w->started)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = 1;
	pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->th, NULL);
	w->started = 0;
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->work);
	pthread_cond_destroy(&w->room);
}

/* Removes the tree at name in dirfd (for --overwrite), never following. */
static int remove_tree(int dirfd, const char *name)
{
	struct dirent *de;
	DIR *d;
	int fd, ret = 0;

	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		ret = -errno;
		close(fd);
		return ret;
	}
	while (!ret && (errno = 0, de = readdir(d))) {
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			ret = -errno;
		else if (S_ISDIR(st.st_mode))
			ret = remove_tree(fd, de->d_name);
		else if (unlinkat(fd, de->d_name, 0) < 0)
			ret = -errno;
	}
	if (!ret && errno)
		ret = -errno;
	closedir(d);
	if (!ret && unlinkat(dirfd, name, AT_REMOVEDIR) < 0)
		ret = -errno;
	return ret;
}

enum existing { NOTHING, MERGE_DIR, REPLACE_FILE };

/*
 * With --overwrite, makes room for an object of kind mode at name: a
 * directory there is merged into (want_dir) or removed; a regular file is
 * replaced by rename later; anything else is removed now.  Without it
 * there is nothing there (DEST was new, names in a directory at T are
 * unique).
 */
static int make_room(struct restore *rs, int dirfd, const char *name,
		     uint32_t mode, enum existing *what)
{
	char where[PATH_MAX];
	struct stat st;
	int ret = 0;

	*what = NOTHING;
	if (!rs->overwrite)
		return 0;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		ret = -errno;
	} else if (S_ISDIR(st.st_mode)) {
		if (S_ISDIR(mode)) {
			*what = MERGE_DIR;
			return 0;
		}
		ret = remove_tree(dirfd, name);
	} else if (S_ISREG(mode) && S_ISREG(st.st_mode)) {
		*what = REPLACE_FILE;
		return 0;
	} else if (unlinkat(dirfd, name, 0) < 0) {
		ret = -errno;
	}
	if (ret) {
		say(rs, "cannot replace '%s' (--overwrite): %s",
		    dest_path(rs, where, sizeof(where)), strerror(-ret));
		return ret;
	}
	return 0;
}

static int all_zero(const uint8_t *p, size_t n)
{
	return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/* The writer failed: its message, on a line of its own. */
static int writer_failed(struct restore *rs)
{
	say(rs, "%s", rs->w.msg);
	return -EIO;
}

/*
 * A regular file: created here, its chunks decoded here and queued for the
 * writer, which finishes it.  A chunk of zeros is a hole: the file is new,
 * so skipped bytes read as zeros once the writer extends it to its size.
 */
static int restore_file(struct restore *rs, int dirfd, const char *name,
			const struct meta_version *v)
{
	char from[PATH_MAX], when[READER_TIME_LEN], tmp[64];
	const char *target = name, *why = NULL;
	struct wfile *f;
	enum existing ex;
	uint64_t size, off = 0;
	int ret, gone, wfailed;

	ret = make_room(rs, dirfd, name, v->mode, &ex);
	if (ret)
		return ret;
	ret = reader_size(rs->r, v, &size);
	if (ret) {
		say(rs, "cannot restore '%s': %s",
		    src_path(rs, from, sizeof(from)), reader_errmsg(rs->r)[0] ?
		    reader_errmsg(rs->r) : strerror(-ret));
		return ret;
	}
	if (ex == REPLACE_FILE) {
		snprintf(tmp, sizeof(tmp), ".backupfs-restore.%ld.%u",
			 (long)getpid(), rs->tmp_seq++);
		target = tmp;
	}
	f = calloc(1, sizeof(*f));
	if (f)
		f->fd = f->dirfd = -1;
	if (!f || !(f->where = malloc(PATH_MAX)) ||
	    !(f->target = strdup(target)) || attrs_copy(&f->a, v) < 0) {
		wfile_free(f);
		say(rs, "out of memory");
		return -ENOMEM;
	}
	dest_path(rs, f->where, PATH_MAX);
	f->size = size;
	f->dirfd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
	if (f->dirfd >= 0)
		f->fd = openat(dirfd, target, O_WRONLY | O_CREAT | O_EXCL |
			       O_NOFOLLOW | O_CLOEXEC, 0600);
	if (f->fd < 0) {
		ret = -errno;
		say(rs, "cannot create '%s': %s", f->where, strerror(-ret));
		wfile_free(f);
		return ret;
	}
	while (off < size) {
		const void *data;
		size_t len;

		if (interrupted) {
			why = "interrupted";
			ret = -EINTR;
			break;
		}
		ret = reader_chunk(rs->r, v, off, &data, &len);
		if (!ret && len == 0)
			ret = -EUCLEAN;	/* the manifest ends before size */
		if (ret) {
			why = reader_errmsg(rs->r)[0] ? reader_errmsg(rs->r) :
			      strerror(-ret);
			break;
		}
		if (!all_zero(data, len)) {
			ret = w_queue(&rs->w, f, off, data, len, 0);
			if (ret)
				break;
		}
		off += len;
		rs->done_bytes += len;
		progress(rs, 0);
	}
	if (!ret)
		ret = w_queue(&rs->w, f, 0, NULL, 0, 1);
	if (ret) {
		/* The file is still ours: once the writer is done with its
		 * chunks, remove what was written. */
		wfailed = w_drain(&rs->w) == -EIO;
		if (f->fd >= 0)
			close(f->fd);
		f->fd = -1;
		gone = unlinkat(dirfd, target, 0) == 0 || errno == ENOENT;
		if (why) {
			reader_format_time(v->t, when, sizeof(when));
			say(rs, "cannot restore '%s' (version of %s): %s; %s "
			    "'%s'", src_path(rs, from, sizeof(from)), when, why,
			    gone ? "removed the partial file" :
			    "could not remove the partial file", f->where);
		} else if (wfailed) {
			ret = writer_failed(rs);
		} else {
			say(rs, "cannot restore '%s': %s; %s", f->where,
			    strerror(-ret), gone ? "removed the partial file" :
			    "could not remove the partial file");
		}
		wfile_free(f);
		return ret;
	}
	/* f is the writer's now.  A rename touches the directory: done here,
	 * once the file is complete. */
	if (target != name) {
		if (w_drain(&rs->w) == -EIO)
			return writer_failed(rs);
		if (renameat(dirfd, target, dirfd, name) < 0) {
			ret = -errno;
			say(rs, "cannot rename '%s' over '%s/%s': %s", target,
			    rs->dest, rs->rel, strerror(-ret));
			unlinkat(dirfd, target, 0);
			return ret;
		}
	}
	rs->bytes += size;
	return 0;
}

static int restore_dir(struct restore *rs, int fd, uint64_t inode);


/* A directory and what is below it; its attributes after its entries. */
static int restore_tree(struct restore *rs, int dirfd, const char *name,
			uint64_t inode, const struct meta_version *v)
{
	char where[PATH_MAX];
	enum existing ex;
	struct attrs a;
	int ret, fd;

	ret = make_room(rs, dirfd, name, v->mode, &ex);
	if (ret)
		return ret;
	if (ex != MERGE_DIR && mkdirat(dirfd, name, 0700) < 0) {
		ret = -errno;
		say(rs, "cannot create directory '%s': %s",
		    dest_path(rs, where, sizeof(where)), strerror(-ret));
		return ret;
	}
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		say(rs, "cannot open directory '%s': %s",
		    dest_path(rs, where, sizeof(where)), strerror(-ret));
		return ret;
	}
	if (attrs_copy(&a, v) < 0) {
		close(fd);
		say(rs, "out of memory");
		return -ENOMEM;
	}
	if (rs->rel_len == 0)
		rs->root_fd = fd;	/* DEST: hard links start here */
	ret = restore_dir(rs, fd, inode);
	if (!ret) {
		set_attrs_here(rs, fd, dirfd, name, &a);
		rs->dirs++;
	}
	free(a.xattrs);
	if (fd != rs->root_fd)
		close(fd);
	return ret;
}

/* Another name of an object restored already (ln): a hard link. */
static int restore_link(struct restore *rs, int dirfd, const char *name,
			const struct meta_version *v,
			const struct link_slot *ln)
{
	char where[PATH_MAX];
	const char *last = NULL;
	enum existing ex;
	int ret, pfd;

	/* The first name is complete before it gets another. */
	if (w_drain(&rs->w) == -EIO)
		return writer_failed(rs);
	/* S_IFLNK: whatever is there is removed, never renamed over. */
	ret = make_room(rs, dirfd, name, S_IFLNK, &ex);
	if (ret)
		return ret;
	pfd = open_parent(rs, ln->rel, &last);
	ret = pfd < 0 ? pfd :
	      linkat(pfd, last, dirfd, name, 0) < 0 ? -errno : 0;
	if (pfd >= 0)
		close(pfd);
	if (ret) {
		say(rs, "cannot link '%s' to '%s/%s': %s",
		    dest_path(rs, where, sizeof(where)), rs->dest, ln->rel,
		    strerror(-ret));
		return ret;
	}
	rs->files++;
	rs->done_files++;
	if (S_ISREG(v->mode))
		rs->done_bytes += v->size;
	return 0;
}

/* A symlink, fifo, socket or device node, and its attributes.  0, 1 if it
 * was skipped (counted for the warning), or -errno once a line says why. */
static int restore_special(struct restore *rs, int dirfd, const char *name,
			   const struct meta_version *v)
{
	char where[PATH_MAX];
	enum existing ex;
	struct attrs a;
	int ret;

	ret = make_room(rs, dirfd, name, v->mode, &ex);
	if (ret)
		return ret;
	if (S_ISLNK(v->mode)) {
		if (!v->symlink) {
			tally_here(rs, &rs->t.skipped, EUCLEAN, "a symbolic "
				   "link without a target in the database");
			return 1;
		}
		ret = symlinkat(v->symlink, dirfd, name) < 0 ? -errno : 0;
	} else {
		ret = mknodat(dirfd, name, (v->mode & S_IFMT) | 0600,
			      (dev_t)v->rdev) < 0 ? -errno : 0;
		if (ret == -EPERM) {
			/* Device nodes need CAP_MKNOD. */
			tally_here(rs, &rs->t.skipped, EPERM,
				   "device files need root");
			return 1;
		}
	}
	if (ret) {
		say(rs, "cannot create '%s': %s",
		    dest_path(rs, where, sizeof(where)), strerror(-ret));
		return ret;
	}
	attrs_of(&a, v);
	set_attrs_here(rs, -1, dirfd, name, &a);
	return 0;
}

/*
 * One object (and, for a directory, what is below it) at name in dirfd.
 * 0, or -errno once a line says what failed.
 */
static int restore_entry(struct restore *rs, int dirfd, const char *name,
			 uint64_t inode, const struct meta_version *v)
{
	struct link_slot *ln = NULL;
	int ret, many = 0;

	if (S_ISDIR(v->mode))
		return restore_tree(rs, dirfd, name, inode, v);

	if (rs->root_fd >= 0 && meta_inode_links(rs->m, inode, rs->T) > 1) {
		many = 1;
		ln = link_find(rs, inode);
		if (ln)
			return restore_link(rs, dirfd, name, v, ln);
	}
	if (S_ISREG(v->mode)) {
		ret = restore_file(rs, dirfd, name, v);
	} else if (S_ISLNK(v->mode) || S_ISFIFO(v->mode) || S_ISCHR(v->mode) ||
		   S_ISBLK(v->mode) || S_ISSOCK(v->mode)) {
		ret = restore_special(rs, dirfd, name, v);
	} else {
		tally_here(rs, &rs->t.skipped, EUCLEAN, "an unknown file type");
		return 0;
	}
	if (ret)
		return ret > 0 ? 0 : ret;	/* > 0: skipped, counted */
	rs->files++;
	rs->done_files++;
	progress(rs, 0);
	if (many && link_add(rs, inode, rs->rel) < 0) {
		say(rs, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

static int restore_dir(struct restore *rs, int fd, uint64_t inode)
{
	struct meta_version v;
	struct ents es;
	size_t len = rs->rel_len;
	int ret;

	ret = list_dir(rs, inode, &es);
	if (ret)
		return ret;
	for (int i = 0; i < es.bad; i++)
		tally_here(rs, &rs->t.skipped, EUCLEAN,
			   "names in the database that are not file names");
	for (size_t i = 0; i < es.n && !ret; i++) {
		if (interrupted) {
			say(rs, "interrupted: '%s' is incomplete", rs->dest);
			ret = -EINTR;
			break;
		}
		if (rel_push(rs, es.v[i].name) < 0) {
			say(rs, "out of memory");
			ret = -ENOMEM;
			break;
		}
		ret = meta_version_at(rs->m, es.v[i].inode, rs->T, &v);
		if (ret == -ENOENT) {
			tally_here(rs, &rs->t.skipped, ENOENT,
				   "no saved version in the database");
			ret = 0;
		} else if (ret) {
			char from[PATH_MAX];

			say(rs, "cannot read the version of '%s' from "
			    "'%s/meta.db': %s", src_path(rs, from, sizeof(from)),
			    reader_state(rs->r), strerror(-ret));
		} else {
			ret = restore_entry(rs, fd, es.v[i].name, es.v[i].inode,
					    &v);
		}
		rel_pop(rs, len);
	}
	ents_free(&es);
	return ret;
}

/* --- the verb ------------------------------------------------------------- */

/*
 * PATH's inode at T.  Like reader_resolve, but "now" is the live tree
 * only: a name that is gone says since when, and the user picks --at.
 */
static int resolve(struct restore *rs, const char *rel, const char *state,
		   uint64_t *inode)
{
	char when[READER_TIME_LEN];
	uint64_t cur = META_ROOT_INODE, x, from, to;
	const char *p = rel;
	int ret;

	while (*p) {
		const char *e;
		size_t k;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		e = strchr(p, '/');
		k = e ? (size_t)(e - p) : strlen(p);
		ret = meta_lookup(rs->m, cur, p, k, rs->T, &cur);
		if (ret == -ENOENT && rs->T != META_T_LIVE) {
			reader_format_time(rs->T, when, sizeof(when));
			fprintf(stderr, "backupfs: no '%s' at %s (see 'backupfs "
				"log %s' for when it existed)\n", rs->path,
				when, rs->path);
			return ret;
		}
		if (ret == -ENOENT) {
			ret = meta_lookup_latest(rs->m, cur, p, k, &x, &from,
						 &to);
			if (ret == -ENOENT) {
				fprintf(stderr, "backupfs: no history for '%s': "
					"'%s' never existed in the protected "
					"tree (state '%s')\n", rs->path, rel,
					state);
				return -ENOENT;
			}
			if (!ret) {
				reader_format_time(to, when, sizeof(when));
				fprintf(stderr, "backupfs: '%s' does not exist "
					"now: '%.*s' is gone since %s (removed or "
					"renamed); give --at a time before that "
					"(see 'backupfs log %s')\n", rs->path,
					(int)(p + k - rel), rel, when, rs->path);
				return -ENOENT;
			}
		}
		if (ret) {
			fprintf(stderr, "backupfs: cannot look up '%s' in "
				"'%s/meta.db': %s\n", rs->path, state,
				strerror(-ret));
			return ret;
		}
		p += k;
	}
	*inode = cur;
	return 0;
}

/* DEST's parent (opened) and last name; DEST must name a new entry. */
static int open_dest_parent(const char *dest, char *base, size_t blen,
			    int *pfd)
{
	char dir[PATH_MAX];
	size_t n = strlen(dest), b;

	while (n > 1 && dest[n - 1] == '/')
		n--;
	b = n;
	while (b > 0 && dest[b - 1] != '/')
		b--;
	if (n >= sizeof(dir) || n - b >= blen || n == b ||
	    (n - b == 1 && dest[b] == '.') ||
	    (n - b == 2 && dest[b] == '.' && dest[b + 1] == '.')) {
		fprintf(stderr, "backupfs: DEST '%s' does not name a new file or "
			"directory: give a path like DIR/NAME\n", dest);
		return -EINVAL;
	}
	memcpy(base, dest + b, n - b);
	base[n - b] = '\0';
	if (b == 0) {
		memcpy(dir, ".", 2);
	} else {
		while (b > 1 && dest[b - 1] == '/')
			b--;
		memcpy(dir, dest, b);
		dir[b] = '\0';
	}
	*pfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*pfd < 0) {
		int ret = -errno;

		fprintf(stderr, "backupfs: cannot restore to '%s': its directory "
			"'%s' %s\n", dest, dir, ret == -ENOENT ?
			"does not exist (create it first)" : strerror(-ret));
		return ret;
	}
	return 0;
}

static int same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	if (stat(a, &sa) == 0 && stat(b, &sb) == 0)
		return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
	return strcmp(a, b) == 0;
}

/* 1 if DEST is PATH itself or lies inside it (in the same protected tree). */
static int dest_in_path(const char *dest, const char *state, const char *rel)
{
	char st2[PATH_MAX], rel2[PATH_MAX], err[PATH_MAX + 600];

	if (reader_locate(dest, NULL, st2, sizeof(st2), rel2, sizeof(rel2),
			  err, sizeof(err)) < 0)
		return 0;	/* not in any protected tree */
	return same_file(st2, state) && path_within(rel2, rel);
}

/* One line per kind of problem: how many, the first, why. */
static void warn(const struct tally *t, const char *what, const char *one,
		 const char *many, const char *hint)
{
	if (!t->n)
		return;
	fprintf(stderr, "backupfs: warning: could not %s %llu %s (the first: "
		"'%s'%s%s: %s)%s\n", what, (unsigned long long)t->n,
		t->n == 1 ? one : many, t->first, t->what[0] ? ", " : "",
		t->what, strerror(t->err), hint);
}

static void tally_add(struct tally *to, const struct tally *from)
{
	if (!from->n)
		return;
	if (!to->n) {
		to->err = from->err;
		memcpy(to->first, from->first, sizeof(to->first));
		memcpy(to->what, from->what, sizeof(to->what));
	}
	to->n += from->n;
}

static void tallies_add(struct tallies *to, const struct tallies *from)
{
	tally_add(&to->owner, &from->owner);
	tally_add(&to->mode, &from->mode);
	tally_add(&to->xattr, &from->xattr);
	tally_add(&to->times, &from->times);
	tally_add(&to->skipped, &from->skipped);
}

/* No fixed fd limit for deep trees: one fd per level is held. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int cmd_restore(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "at", required_argument, NULL, 'a' },
		{ "snapshot", required_argument, NULL, 'S' },
		{ "state", required_argument, NULL, 's' },
		{ "password-file", required_argument, NULL, 'p' },
		{ "overwrite", no_argument, NULL, 'o' },
		{ "no-progress", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *state_arg = NULL, *pwfile = NULL, *at = NULL, *snap = NULL;
	char state[PATH_MAX], rel[PATH_MAX], err[PATH_MAX + 600];
	char when[READER_TIME_LEN], first[READER_TIME_LEN], base[NAME_MAX + 1];
	struct restore rs = { .root_fd = -1 };
	struct meta_snapshot sn;
	struct meta_version v;
	struct sigaction sa = { 0 };
	struct stat st;
	uint64_t inode, start;
	int c, ret = 1, e, pfd = -1, no_progress = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'a': at = optarg; break;
		case 'S': snap = optarg; break;
		case 's': state_arg = optarg; break;
		case 'p': pwfile = optarg; break;
		case 'o': rs.overwrite = 1; break;
		case 'n': no_progress = 1; break;
		case 'h': fputs(restore_usage, stdout); return 0;
		default: fputs(restore_usage, stderr); return 2;
		}
	}
	if (argc - optind != 2) {
		fputs(restore_usage, stderr);
		return 2;
	}
	if (at && snap) {
		fprintf(stderr, "backupfs: give --at or --snapshot, not both\n");
		return 2;
	}
	rs.path = argv[optind];
	rs.dest = argv[optind + 1];
	rs.T = META_T_LIVE;
	rs.is_root = geteuid() == 0;
	if (at && (e = reader_parse_time(at, &rs.T)) < 0) {
		fprintf(stderr, "backupfs: --at '%s' is %s: give a time like "
			"2026-11-23T10:17:33Z or 2026-11-23T18:17:33+08:00, or "
			"@NANOSECONDS since the epoch\n", at, e == -ERANGE ?
			"out of range (1970 to 2262)" : "not a time");
		return 2;
	}
	if (crypto_init() < 0) {
		fprintf(stderr, "backupfs: cannot initialise libsodium\n");
		return 1;
	}
	if (reader_locate(rs.path, state_arg, state, sizeof(state), rel,
			  sizeof(rel), err, sizeof(err)) < 0 ||
	    reader_open(state, 0, NULL, &rs.r, err, sizeof(err)) < 0) {
		fprintf(stderr, "backupfs: %s\n", err);
		return 1;
	}
	rs.m = reader_meta(rs.r);
	/* One view of the database for the whole restore. */
	e = meta_begin_read(rs.m);
	if (e) {
		fprintf(stderr, "backupfs: cannot read '%s/meta.db': %s\n", state,
			strerror(-e));
		goto out;
	}
	if (snap) {
		e = meta_snapshot_find(rs.m, snap, &sn);
		if (e == -ENOENT) {
			fprintf(stderr, "backupfs: no snapshot named '%s' for "
				"'%s' (state '%s'): 'backupfs snapshots %s' lists "
				"them\n", snap, rs.path, state, rs.path);
			goto out;
		}
		if (e) {
			fprintf(stderr, "backupfs: cannot read snapshot '%s' from "
				"'%s/meta.db': %s\n", snap, state, strerror(-e));
			goto out;
		}
		rs.T = sn.t;
	}
	reader_format_time(rs.T, when, sizeof(when));
	if (at) {
		e = reader_history_start(rs.r, &start);
		if (!e && rs.T < start) {
			reader_format_time(start, first, sizeof(first));
			fprintf(stderr, "backupfs: %s is before the history of "
				"'%s': it starts at %s (the first backup)\n",
				when, rs.path, first);
			goto out;
		}
	}
	if (resolve(&rs, rel, state, &inode))
		goto out;
	e = meta_version_at(rs.m, inode, rs.T, &v);
	if (e) {
		fprintf(stderr, "backupfs: %s '%s' at or before %s (see "
			"'backupfs log %s')\n", e == -ENOENT ?
			"no saved version of" : "cannot read the version of",
			rs.path, rs.T == META_T_LIVE ? "now" : when, rs.path);
		goto out;
	}

	/* DEST: new, in an existing directory, not inside what it restores. */
	if (!S_ISDIR(v.mode) && rs.dest[0] &&
	    rs.dest[strlen(rs.dest) - 1] == '/') {
		fprintf(stderr, "backupfs: DEST '%s' ends in '/' but '%s' is not "
			"a directory: give the new file's path\n", rs.dest,
			rs.path);
		goto out;
	}
	if (open_dest_parent(rs.dest, base, sizeof(base), &pfd))
		goto out;
	if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (!rs.overwrite) {
			fprintf(stderr, "backupfs: '%s' exists: restore writes a "
				"new path (give --overwrite to restore over "
				"it)\n", rs.dest);
			goto out;
		}
		if (S_ISDIR(st.st_mode) && !S_ISDIR(v.mode)) {
			fprintf(stderr, "backupfs: '%s' is a directory and '%s' "
				"is not: --overwrite does not replace a directory "
				"with a file (give DEST/NAME)\n", rs.dest,
				rs.path);
			goto out;
		}
	} else if (errno != ENOENT) {
		fprintf(stderr, "backupfs: cannot check '%s': %s\n", rs.dest,
			strerror(errno));
		goto out;
	}
	if (dest_in_path(rs.dest, state, rel)) {
		fprintf(stderr, "backupfs: cannot restore '%s' to '%s': DEST is "
			"PATH itself or inside it; choose a DEST outside '%s'\n",
			rs.path, rs.dest, rs.path);
		goto out;
	}

	rs.tty = !no_progress && isatty(STDERR_FILENO);
	if (rs.tty) {
		if (S_ISDIR(v.mode)) {
			count_tree(&rs, inode);
		} else {
			rs.total_files = 1;
			rs.total_bytes = S_ISREG(v.mode) ? v.size : 0;
		}
		/* count_tree moved meta's version buffer. */
		e = meta_version_at(rs.m, inode, rs.T, &v);
		if (e) {
			fprintf(stderr, "backupfs: cannot read the version of "
				"'%s': %s\n", rs.path, strerror(-e));
			goto out;
		}
	}
	if (reader_unlock(rs.r, pwfile, err, sizeof(err)) < 0) {
		fprintf(stderr, "backupfs: %s\n", err);
		goto out;
	}
	raise_fd_limit();
	clock_gettime(CLOCK_MONOTONIC, &rs.start);
	if (rel_push(&rs, "") < 0) {
		fprintf(stderr, "backupfs: out of memory\n");
		goto out;
	}
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	e = w_start(&rs.w);
	if (e) {
		fprintf(stderr, "backupfs: cannot start the writer thread: %s\n",
			strerror(-e));
		goto out;
	}
	if (restore_entry(&rs, pfd, base, inode, &v))
		goto out;
	if (w_drain(&rs.w) == -EIO) {
		writer_failed(&rs);
		goto out;
	}
	w_stop(&rs.w);
	tallies_add(&rs.t, &rs.w.t);
	progress(&rs, 1);
	if (at || snap)
		snprintf(first, sizeof(first), "%s", when);
	else
		snprintf(first, sizeof(first), "its latest state");
	fprintf(stderr, "%llu file%s, %llu director%s, %llu bytes (%.1f MiB) "
		"restored to '%s' ('%s' at %s)\n",
		(unsigned long long)rs.files, rs.files == 1 ? "" : "s",
		(unsigned long long)rs.dirs, rs.dirs == 1 ? "y" : "ies",
		(unsigned long long)rs.bytes, (double)rs.bytes / 1048576.0,
		rs.dest, rs.path, first);
	warn(&rs.t.owner, "set the owner of", "entry", "entries", rs.is_root ?
	     "" : "; only root can give files to other users");
	warn(&rs.t.xattr, "set", "extended attribute", "extended attributes",
	     "");
	warn(&rs.t.mode, "set the mode of", "entry", "entries", "");
	warn(&rs.t.times, "set the mtime of", "entry", "entries", "");
	warn(&rs.t.skipped, "restore", "entry", "entries",
	     "; the restore is incomplete");
	ret = rs.t.skipped.n ? 1 : 0;
out:
	w_stop(&rs.w);
	if (rs.root_fd >= 0)
		close(rs.root_fd);
	if (pfd >= 0)
		close(pfd);
	for (size_t i = 0; i < rs.cap_links; i++)
		free(rs.links[i].rel);
	free(rs.links);
	free(rs.rel);
	reader_close(rs.r);
	return ret;
}
