/*
 * engine.c - see engine.h and doc/versioning.md §4-§7.
 *
 * Numbered invariants (the ones the crash tests check):
 *  (1) A cut never falls between a write's pre_write and its dirty range:
 *      request threads hold their file's stripe lock shared from pre_write
 *      to write_end, a cut takes it exclusive for journal_cut() only.
 *  (2) An inode with writes that are not in a committed version has a
 *      `dirty` row, or its EV_DIRTY event is queued (and the row will exist
 *      before any version of a later cut commits, because a capture waits
 *      for the writer to have applied every event queued before its cut).
 *      The row goes only in the transaction that commits a version cut
 *      after its `since` (meta_dirty_clear_upto), so a crash anywhere
 *      leaves the row, and the next mount recaptures the file (not exact).
 *  (3) Versions of one file are captured and committed in cut order: files
 *      are sharded to workers by inode number and a worker's queue is
 *      FIFO; a worker uses its own uncommitted manifest as the base of the
 *      next cut of the same file.
 *  (4) Packs reach the repository only after the transaction that names
 *      them (capture_commit: invariant D), from the persistent upload queue
 *      (upload rows), data object first, index second, row done last
 *      (invariant R).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "banned.h"
#include "capture.h"
#include "ctl.h"
#include "engine.h"
#include "fdio.h"
#include "fs-inode.h"
#include "journal.h"
#include "log.h"
#include "meta.h"
#include "password.h"
#include "repository.h"
#include "state.h"
#include "util.h"

#define NSTRIPES	64
#define NWORKERS	2
#define FTAB_BUCKETS	4096
/* A worker commits pending versions this long after the first, unless a
 * pack fills or a sync asks earlier. */
#define COMMIT_DELAY_NS	(2ull * 1000000000ull)
#define COMMIT_MAX_VERSIONS 4096
#define JOURNAL_MEM_CAP	(64u << 20)
#define BACKOFF_MIN_NS	(1ull * 1000000000ull)
#define BACKOFF_MAX_NS	(300ull * 1000000000ull)
/* Timestamps may be coarse: jiffies (1-10 ms) before Linux 6.13, whole
 * seconds on ext4 with 128-byte inodes, 2 s on vfat.  A file whose ctime
 * is within this of its last version is read again by the mount scan
 * (once: the scan's version is far younger than its ctime). */
#define SCAN_CTIME_MARGIN_NS (2100ull * 1000000ull)

/* FUSE_SET_ATTR_* (fs-hooks.h passes them through; no FUSE here). */
#define SET_ATTR_SIZE		(1u << 3)
#define SET_ATTR_ATIME		(1u << 4)
#define SET_ATTR_ATIME_NOW	(1u << 7)

/* A file with unsaved writes or captures in flight. */
struct efile {
	struct efile *next;
	uint64_t dev, ino;
	int fd;			/* O_RDONLY while dirty, -1 otherwise */
	int dirty;
	uint64_t since;		/* first write after the last cut */
	_Atomic uint64_t meta_id;	/* set by the writer (EV_DIRTY) */
	int refs;		/* dirty state, queued events, jobs */
};

enum ev_kind { EV_DIRTY, EV_CREATE, EV_LINK, EV_UNLINK, EV_RENAME, EV_ATTR };

struct event {
	struct event *next;
	enum ev_kind kind;
	uint64_t seq, t;
	uint64_t dev, ino, pdev, pino, npdev, npino;
	char *name, *newname;
	unsigned flags;
	struct stat st;
	char *symlink;
	uint8_t *xattrs;
	size_t xattrs_len;
	int has_xattrs;
	struct efile *ef;
	/* The parent directories after a namespace change (their mtime and
	 * ctime changed): a version of each, so the past shows them. */
	struct stat pst, npst;
	int has_pst, has_npst;
};

struct job {
	struct job *next;
	uint64_t no, seq, t;
	struct efile *ef;
	struct journal_cut *cut;
	int fd, reason;
	struct stat st;
};

struct pending {
	uint64_t meta_id, t, job_no;
	int no_version;			/* only clear the dirty row */
	struct meta_version v;
	uint8_t *manifest, *xattrs;
	struct manifest man;		/* decoded, for the next cut's base */
};

struct worker {
	struct engine *e;
	pthread_t th;
	int running;
	struct meta *m;
	struct capture cap;
	int cap_ok;
	struct job *head, *tail;	/* under e->lock */
	uint64_t done_no;		/* every job <= this is committed */
	int busy;
	struct pending *pend;
	size_t npend, cap_pend;
	uint64_t first_pend;		/* monotonic ns */
	uint64_t retry_at;		/* monotonic ns, after a failed commit */
	uint64_t backoff;
};

struct engine {
	char source[PATH_MAX], mnt[PATH_MAX], state[PATH_MAX];
	char url[PATH_MAX + 16];
	char state_db[PATH_MAX + 16];
	double interval, snap_interval;
	struct repository shared_repo;	/* for readers (snapview) */
	int root_fd;			/* O_PATH of SOURCE (ours) */
	uint64_t root_dev, root_ino;
	int staging_fd, journal_fd;
	struct repo *repo;
	struct master_key *mk;
	struct repo_config rcfg;
	struct journal *j;

	pthread_rwlock_t stripes[NSTRIPES];
	pthread_mutex_t ftab_lock;
	struct efile *ftab[FTAB_BUCKETS];

	pthread_mutex_t lock;		/* queues, counters, errors */
	pthread_cond_t cond;		/* any progress */
	struct event *ev_head, *ev_tail;
	uint64_t ev_seq, ev_applied;
	uint64_t job_no, flush_target;
	struct worker w[NWORKERS];
	int stopping;
	int started;

	struct meta *wm, *um;		/* writer's, uploader's */
	pthread_t writer, uploader, timer;
	int writer_on, uploader_on, timer_on;

	_Atomic uint64_t clock_last;

	/* status */
	char last_error[512];
	uint64_t last_error_t, errors;
	char upload_error[512];
	uint64_t upload_fail_gen;
	uint64_t versions, bytes_captured;
	uint64_t bytes_uploaded;
	struct ctl_server *ctl;
};

/* --- small things -------------------------------------------------------- */

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The engine's clock: real time, strictly increasing (meta.h times). */
static uint64_t eng_now(struct engine *e)
{
	struct timespec ts;
	uint64_t t, last;

	clock_gettime(CLOCK_REALTIME, &ts);
	t = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	last = atomic_load(&e->clock_last);
	do {
		if (t <= last)
			t = last + 1;
	} while (!atomic_compare_exchange_weak(&e->clock_last, &last, t));
	return t;
}

/* snprintf for messages: truncation of a long path is fine there. */
static int sfmt(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int sfmt(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return n < 0 ? 0 : (size_t)n >= len && len ? (int)len - 1 : n;
}

static void fail(struct engine *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Records a failure for status and the log; never for the application. */
static void fail(struct engine *e, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_error("%s", msg);
	pthread_mutex_lock(&e->lock);
	memcpy(e->last_error, msg, sizeof(msg));
	e->last_error_t = eng_now(e);
	e->errors++;
	pthread_mutex_unlock(&e->lock);
}

/* Waits on e->cond (e->lock held) for at most ms milliseconds. */
static void wait_ms(struct engine *e, long ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(&e->cond, &e->lock, &ts);
}

static uint64_t file_key(uint64_t dev, uint64_t ino)
{
	return ino ^ (dev * 0x9e3779b97f4a7c15ull);
}

static pthread_rwlock_t *stripe(struct engine *e, uint64_t ino)
{
	return &e->stripes[ino % NSTRIPES];
}

static int reopen_rdonly(int opath_fd)
{
	char p[40];
	int fd;

	snprintf(p, sizeof(p), "/proc/self/fd/%d", opath_fd);
	fd = open(p, O_RDONLY | O_CLOEXEC | O_NOATIME | O_NONBLOCK);
	if (fd < 0 && errno == EPERM)
		fd = open(p, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	return fd;
}

/*
 * xattrs blob (version.xattrs): entries sorted by name, each
 *	u16 name length, name, u32 value length, value   (little endian)
 * NULL when the object has none.  Read through a path (/proc/self/fd/N
 * for O_PATH fds) or an fd.
 */
static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int xattrs_read(const char *path, int fd, uint8_t **out, size_t *outlen)
{
	char list[65536], *names[1024];
	size_t n = 0, len = 0, cap = 0;
	uint8_t *blob = NULL;
	ssize_t ll;

	*out = NULL;
	*outlen = 0;
	/* path is /proc/self/fd/N of an O_PATH fd: the following calls go
	 * through the magic link to the file (the l* ones would not). */
	ll = path ? listxattr(path, list, sizeof(list)) :
		    flistxattr(fd, list, sizeof(list));
	if (ll <= 0)
		return ll < 0 && errno != ENOTSUP && errno != EOPNOTSUPP ?
			       -errno : 0;
	for (char *p = list; p < list + ll && n < 1024; p += strlen(p) + 1)
		names[n++] = p;
	qsort(names, n, sizeof(names[0]), name_cmp);
	for (size_t i = 0; i < n; i++) {
		uint8_t val[65536];
		ssize_t vl = path ? getxattr(path, names[i], val, sizeof(val)) :
				    fgetxattr(fd, names[i], val, sizeof(val));
		size_t nl = strlen(names[i]), need;

		if (vl < 0)
			continue;	/* removed meanwhile */
		need = len + 2 + nl + 4 + (size_t)vl;
		if (need > cap) {
			uint8_t *nb = realloc(blob, need * 2);

			if (!nb) {
				free(blob);
				return -ENOMEM;
			}
			blob = nb;
			cap = need * 2;
		}
		blob[len] = (uint8_t)nl;
		blob[len + 1] = (uint8_t)(nl >> 8);
		memcpy(blob + len + 2, names[i], nl);
		len += 2 + nl;
		for (int b = 0; b < 4; b++)
			blob[len + b] = (uint8_t)((uint64_t)vl >> (8 * b));
		memcpy(blob + len + 4, val, (size_t)vl);
		len += 4 + (size_t)vl;
	}
	*out = blob;
	*outlen = len;
	return 0;
}

/* --- the file table ------------------------------------------------------ */

static struct efile **ftab_slot(struct engine *e, uint64_t dev, uint64_t ino)
{
	struct efile **pp = &e->ftab[file_key(dev, ino) % FTAB_BUCKETS];

	while (*pp && !((*pp)->dev == dev && (*pp)->ino == ino))
		pp = &(*pp)->next;
	return pp;
}

/* Under ftab_lock. */
static struct efile *ftab_get(struct engine *e, uint64_t dev, uint64_t ino)
{
	struct efile **pp = ftab_slot(e, dev, ino);

	if (*pp)
		return *pp;
	*pp = calloc(1, sizeof(**pp));
	if (!*pp)
		return NULL;
	(*pp)->dev = dev;
	(*pp)->ino = ino;
	(*pp)->fd = -1;
	return *pp;
}

static void ef_put(struct engine *e, struct efile *ef)
{
	pthread_mutex_lock(&e->ftab_lock);
	if (--ef->refs == 0) {
		struct efile **pp = ftab_slot(e, ef->dev, ef->ino);

		if (*pp == ef)
			*pp = ef->next;
		if (ef->fd >= 0)
			close(ef->fd);
		free(ef);
	}
	pthread_mutex_unlock(&e->ftab_lock);
}

/* --- the event queue ----------------------------------------------------- */

static struct event *ev_new(enum ev_kind kind)
{
	struct event *ev = calloc(1, sizeof(*ev));

	if (ev)
		ev->kind = kind;
	return ev;
}

static void ev_free(struct event *ev)
{
	free(ev->name);
	free(ev->newname);
	free(ev->symlink);
	free(ev->xattrs);
	free(ev);
}

static void ev_push(struct engine *e, struct event *ev)
{
	pthread_mutex_lock(&e->lock);
	ev->seq = ++e->ev_seq;
	if (!ev->t)
		ev->t = eng_now(e);
	if (e->ev_tail)
		e->ev_tail->next = ev;
	else
		e->ev_head = ev;
	e->ev_tail = ev;
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
}

/* --- cuts and jobs ------------------------------------------------------- */

static void job_push(struct engine *e, struct job *jb)
{
	struct worker *w = &e->w[jb->ef->ino % NWORKERS];

	pthread_mutex_lock(&e->lock);
	jb->no = ++e->job_no;
	jb->seq = e->ev_seq;
	if (w->tail)
		w->tail->next = jb;
	else
		w->head = jb;
	w->tail = jb;
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
}

/*
 * Cuts the file (dev, ino) if it has unsaved writes: "the file as it is
 * now" becomes a capture job.  Costs a lock, an fstat and a list swap.
 */
/* The same, with the file's stripe held exclusive by the caller; t = 0:
 * now. */
static void cut_file_locked(struct engine *e, uint64_t dev, uint64_t ino,
			    int reason, uint64_t t);

static void cut_file(struct engine *e, uint64_t dev, uint64_t ino, int reason)
{
	pthread_rwlock_t *lk = stripe(e, ino);

	pthread_rwlock_wrlock(lk);
	cut_file_locked(e, dev, ino, reason, 0);
	pthread_rwlock_unlock(lk);
}

static void cut_file_locked(struct engine *e, uint64_t dev, uint64_t ino,
			    int reason, uint64_t t)
{
	struct efile *ef;
	struct journal_cut *cut;
	struct stat st;
	struct job *jb;
	int fd;

	pthread_mutex_lock(&e->ftab_lock);
	ef = *ftab_slot(e, dev, ino);
	if (!ef || !ef->dirty) {
		pthread_mutex_unlock(&e->ftab_lock);
		return;
	}
	fd = ef->fd;
	ef->fd = -1;
	ef->dirty = 0;		/* its reference passes to the job */
	pthread_mutex_unlock(&e->ftab_lock);
	jb = calloc(1, sizeof(*jb));
	if (!jb || fd < 0 || fstat(fd, &jb->st) < 0) {
		fail(e, "cannot read inode %" PRIu64 " of '%s' to save a version "
		     "(it stays marked dirty and is captured at the next mount)",
		     ino, e->source);
		if (fd >= 0)
			close(fd);
		free(jb);
		ef_put(e, ef);
		return;
	}
	st = jb->st;
	jb->t = t ? t : eng_now(e);
	cut = journal_cut(e->j, file_key(dev, ino), jb->t, (uint64_t)st.st_size,
			  fd);
	if (!cut) {
		/* ENOMEM: the dirty set stays; the next cut takes it. */
		pthread_mutex_lock(&e->ftab_lock);
		ef->dirty = 1;
		if (ef->fd < 0)
			ef->fd = fd;
		else
			close(fd);
		pthread_mutex_unlock(&e->ftab_lock);
		free(jb);
		return;
	}
	jb->ef = ef;
	jb->cut = cut;
	jb->fd = fd;
	jb->reason = reason;
	job_push(e, jb);
}

struct fileid {
	uint64_t dev, ino;
};

/* The files with unsaved writes since at least age ns (0: all of them),
 * into *out (malloc'd, NULL if none); -ENOMEM. */
static int dirty_files(struct engine *e, uint64_t age, struct fileid **out,
		       size_t *n)
{
	uint64_t now = eng_now(e);
	struct fileid *v = NULL;
	size_t cap = 0;
	int err = 0;

	*n = 0;
	pthread_mutex_lock(&e->ftab_lock);
	for (size_t b = 0; b < FTAB_BUCKETS && !err; b++)
		for (struct efile *ef = e->ftab[b]; ef; ef = ef->next) {
			if (!ef->dirty || (age && now - ef->since < age))
				continue;
			v = array_grow(v, &cap, *n + 1, sizeof(*v));
			if (!v) {
				err = -ENOMEM;
				break;
			}
			v[*n].dev = ef->dev;
			v[(*n)++].ino = ef->ino;
		}
	pthread_mutex_unlock(&e->ftab_lock);
	if (err) {
		*n = 0;
		return err;
	}
	*out = v;
	return 0;
}

/* Every dirty file, now (sync, umount), or those dirty for older_than
 * seconds (version_interval). */
static void cut_all(struct engine *e, int reason, double older_than)
{
	struct fileid *v = NULL;
	size_t n;

	if (dirty_files(e, (uint64_t)(older_than * 1e9), &v, &n) < 0) {
		fail(e, "out of memory listing the files to save in '%s'",
		     e->source);
		return;
	}
	for (size_t i = 0; i < n; i++)
		cut_file(e, v[i].dev, v[i].ino, reason);
	free(v);
}

/* --- hooks (request threads) --------------------------------------------- */

static void mark_dirty(struct engine *e, struct fs_inode *in)
{
	struct event *ev = NULL;
	struct efile *ef;

	pthread_mutex_lock(&e->ftab_lock);
	ef = ftab_get(e, in->dev, in->ino);
	if (ef && !ef->dirty) {
		ev = ev_new(EV_DIRTY);
		if (ev) {
			ef->dirty = 1;
			ef->refs += 2;		/* dirty state + the event */
			ef->since = eng_now(e);
			if (ef->fd < 0)
				ef->fd = reopen_rdonly(in->fd);
			ev->ef = ef;
			ev->dev = in->dev;
			ev->ino = in->ino;
			ev->t = ef->since;
		}
	}
	if (ef && !ef->refs) {		/* allocation failed: drop it */
		*ftab_slot(e, ef->dev, ef->ino) = ef->next;
		free(ef);
	}
	pthread_mutex_unlock(&e->ftab_lock);
	if (ev)
		ev_push(e, ev);
	else if (!ef)
		fail(e, "out of memory: a change to inode %lu is not journaled",
		     (unsigned long)in->ino);
}

static void hk_pre_write(void *ctx, struct fs_inode *in, int fd, off_t off,
			 off_t len)
{
	struct engine *e = ctx;

	pthread_rwlock_rdlock(stripe(e, in->ino));
	if (len > 0)
		journal_pre_write(e->j, file_key(in->dev, in->ino), fd,
				  (uint64_t)off, (uint64_t)len);
}

static void hk_write_end(void *ctx, struct fs_inode *in)
{
	struct engine *e = ctx;

	pthread_rwlock_unlock(stripe(e, in->ino));
}

static int stat_inode(struct fs_inode *in, struct stat *st)
{
	return fstatat(in->fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
}

static char *read_symlink(struct fs_inode *in)
{
	char buf[PATH_MAX + 1];
	ssize_t n = readlinkat(in->fd, "", buf, sizeof(buf) - 1);

	if (n < 0)
		return NULL;
	buf[n] = '\0';
	return strdup(buf);
}

static void ev_attr(struct engine *e, struct fs_inode *in, int xattrs)
{
	struct event *ev = ev_new(EV_ATTR);
	char p[40];

	if (!ev || stat_inode(in, &ev->st) < 0) {
		free(ev);
		return;
	}
	ev->dev = in->dev;
	ev->ino = in->ino;
	/* A symlink's target never changes (its version keeps the last
	 * one); reading it would touch its atime. */
	if (xattrs && !S_ISLNK(ev->st.st_mode)) {
		snprintf(p, sizeof(p), "/proc/self/fd/%d", in->fd);
		ev->has_xattrs = xattrs_read(p, -1, &ev->xattrs,
					     &ev->xattrs_len) == 0;
	}
	ev_push(e, ev);
}

static void hk_changed(void *ctx, const struct fs_change *ch)
{
	struct engine *e = ctx;
	struct fs_inode *in = ch->inode;
	struct event *ev;
	uint64_t key = in ? file_key(in->dev, in->ino) : 0;

	switch (ch->kind) {
	case FS_CH_WRITE:
		journal_wrote(e->j, key, (uint64_t)ch->off, (uint64_t)ch->len);
		mark_dirty(e, in);
		break;
	case FS_CH_FALLOCATE:
		if (ch->flags & (0x08 | 0x20))	/* COLLAPSE, INSERT */
			journal_truncated(e->j, key, (uint64_t)ch->off);
		else
			journal_wrote(e->j, key, (uint64_t)ch->off,
				      (uint64_t)ch->len);
		mark_dirty(e, in);
		break;
	case FS_CH_TRUNCATE:
		journal_truncated(e->j, key, (uint64_t)ch->off);
		mark_dirty(e, in);
		break;
	case FS_CH_SETATTR:
		if (ch->flags & SET_ATTR_SIZE) {
			/* truncate(2) has no close to cut at. */
			cut_file(e, in->dev, in->ino, META_REASON_META);
			break;
		}
		if (ch->flags & ~(SET_ATTR_ATIME | SET_ATTR_ATIME_NOW))
			ev_attr(e, in, 0);
		break;
	case FS_CH_XATTR:
		ev_attr(e, in, 1);
		break;
	case FS_CH_CREATE:
	case FS_CH_LINK:
		ev = ev_new(ch->kind == FS_CH_CREATE ? EV_CREATE : EV_LINK);
		if (!ev || !in || stat_inode(in, &ev->st) < 0 ||
		    !(ev->name = strdup(ch->name))) {
			if (ev)
				ev_free(ev);
			fail(e, "cannot journal a new name in '%s'", e->source);
			break;
		}
		ev->dev = in->dev;
		ev->ino = in->ino;
		ev->pdev = ch->parent->dev;
		ev->pino = ch->parent->ino;
		ev->has_pst = stat_inode(ch->parent, &ev->pst) == 0;
		if (ev->kind == EV_CREATE && S_ISLNK(ev->st.st_mode))
			ev->symlink = ch->newname ? strdup(ch->newname) :
						    read_symlink(in);
		ev_push(e, ev);
		break;
	case FS_CH_UNLINK:
	case FS_CH_RENAME:
		ev = ev_new(ch->kind == FS_CH_UNLINK ? EV_UNLINK : EV_RENAME);
		if (!ev || !(ev->name = strdup(ch->name)) ||
		    (ch->newname && !(ev->newname = strdup(ch->newname)))) {
			if (ev)
				ev_free(ev);
			fail(e, "cannot journal a removed name in '%s'",
			     e->source);
			break;
		}
		ev->pdev = ch->parent->dev;
		ev->pino = ch->parent->ino;
		ev->has_pst = stat_inode(ch->parent, &ev->pst) == 0;
		if (ch->newparent) {
			ev->npdev = ch->newparent->dev;
			ev->npino = ch->newparent->ino;
			ev->has_npst = ch->newparent != ch->parent &&
				       stat_inode(ch->newparent, &ev->npst) == 0;
		}
		ev->flags = ch->flags;
		ev_push(e, ev);
		break;
	case FS_CH_CUT:
		cut_file(e, in->dev, in->ino, ch->flags == FS_CUT_FSYNC ?
				      META_REASON_FSYNC : META_REASON_CLOSE);
		break;
	}
}

struct repository *engine_repository(struct engine *e)
{
	return &e->shared_repo;
}

const char *engine_state(struct engine *e)
{
	return e->state;
}

void engine_root(struct engine *e, uint64_t *dev, uint64_t *ino)
{
	*dev = e->root_dev;
	*ino = e->root_ino;
}

void engine_hooks(struct engine *e, struct fs_hooks *h)
{
	memset(h, 0, sizeof(*h));
	h->ctx = e;
	h->pre_write = hk_pre_write;
	h->changed = hk_changed;
	h->write_end = hk_write_end;
}

/* --- the writer thread --------------------------------------------------- */

static int find_live(struct engine *e, struct meta *m, uint64_t dev,
		     uint64_t ino, uint64_t *id)
{
	if (dev == e->root_dev && ino == e->root_ino) {
		*id = META_ROOT_INODE;
		return 0;
	}
	return meta_inode_find_live(m, dev, ino, id);
}

/* The name's inode loses a link at t; it dies with its last one (and its
 * dirty row goes: nothing of it is left to capture). */
static int drop_name(struct meta *m, uint64_t parent, const char *name,
		     uint64_t t)
{
	uint64_t id;
	int err = meta_lookup(m, parent, name, strlen(name), META_T_LIVE, &id);

	if (err)
		return err;
	err = meta_unlink(m, parent, name, strlen(name), t);
	if (!err && id != META_ROOT_INODE &&
	    meta_inode_links(m, id, META_T_LIVE) == 0) {
		err = meta_inode_die(m, id, t);
		if (!err)
			err = meta_dirty_clear(m, id);
	}
	return err;
}

/* A live name in meta.db, as meta_readdir gives it. */
struct mentry {
	char *name;
	size_t len;
	uint64_t id;
	uint32_t kind;
	int seen;
};

struct mlist {
	struct mentry *v;
	size_t n, cap;
};

/* meta_readdir callback: the names of a directory, copied. */
static int collect_cb(void *arg, const void *name, size_t len, uint64_t inode,
		      uint32_t kind)
{
	struct mlist *l = arg;

	l->v = array_grow(l->v, &l->cap, l->n + 1, sizeof(*l->v));
	if (!l->v)
		return -ENOMEM;
	l->v[l->n].name = malloc(len + 1);
	if (!l->v[l->n].name)
		return -ENOMEM;
	memcpy(l->v[l->n].name, name, len);
	l->v[l->n].name[len] = '\0';
	l->v[l->n].len = len;
	l->v[l->n].id = inode;
	l->v[l->n].kind = kind;
	l->v[l->n].seen = 0;
	l->n++;
	return 0;
}

/* drop_name for a name that may be a directory removed with everything
 * in it behind our back (the scan): its live names go first. */
static int drop_tree(struct meta *m, uint64_t parent, const char *name,
		     uint64_t t, int depth)
{
	struct mlist l = { 0 };
	uint64_t id;
	uint32_t kind;
	int err = meta_lookup(m, parent, name, strlen(name), META_T_LIVE, &id);

	if (err)
		return err;
	if (depth < 4096 && meta_inode_info(m, id, &kind, NULL, NULL) == 0 &&
	    kind == S_IFDIR && meta_inode_links(m, id, META_T_LIVE) == 1) {
		err = meta_readdir(m, id, META_T_LIVE, collect_cb, &l);
		for (size_t i = 0; i < l.n; i++) {
			if (!err) {
				err = drop_tree(m, id, l.v[i].name, t,
						depth + 1);
				if (err == -ENOENT)
					err = 0;
			}
			free(l.v[i].name);
		}
		free(l.v);
		if (err)
			return err;
	}
	return drop_name(m, parent, name, t);
}

static int add_attr_version(struct meta *m, uint64_t id, uint64_t t,
			    const struct stat *st, const char *symlink,
			    const uint8_t *xattrs, size_t xlen, int has_xattrs,
			    const void *manifest, int reason)
{
	struct meta_version v = { 0 }, prev;

	meta_version_set_attrs(&v, st);
	v.inode = id;
	v.t = t;
	v.reason = reason;
	v.exact = reason != META_REASON_SCAN;
	v.manifest = manifest;
	v.symlink = symlink;
	if (has_xattrs) {
		v.xattrs = xattrs;
		v.xattrs_len = xlen;
	} else if (meta_version_at(m, id, META_T_LIVE, &prev) == 0) {
		v.xattrs = prev.xattrs;		/* unchanged */
		v.xattrs_len = prev.xattrs_len;
		if (!symlink)
			v.symlink = prev.symlink;
	}
	if (S_ISREG(st->st_mode) && manifest == NULL) {
		/* Attributes only: the size is the content version's. */
		if (meta_version_at(m, id, META_T_LIVE, &prev) == 0)
			v.size = prev.size;
	}
	return meta_version_add(m, &v);
}

static int apply_create(struct engine *e, struct meta *m, struct event *ev)
{
	uint64_t pid, id, old;
	int err = find_live(e, m, ev->pdev, ev->pino, &pid);

	if (err)
		return err;
	err = meta_inode_new(m, ev->st.st_mode & S_IFMT, ev->dev, ev->ino,
			     ev->t, &id);
	if (err == -EEXIST && meta_inode_find_live(m, ev->dev, ev->ino, &old) == 0) {
		/* A stale row: the inode number was freed behind our back. */
		meta_inode_die(m, old, ev->t);
		err = meta_inode_new(m, ev->st.st_mode & S_IFMT, ev->dev,
				     ev->ino, ev->t, &id);
	}
	if (err)
		return err;
	err = meta_link(m, pid, ev->name, strlen(ev->name), id, ev->t);
	if (err == -EEXIST) {
		drop_name(m, pid, ev->name, ev->t);
		err = meta_link(m, pid, ev->name, strlen(ev->name), id, ev->t);
	}
	if (err)
		return err;
	return add_attr_version(m, id, ev->t, &ev->st, ev->symlink, NULL, 0, 1,
				S_ISREG(ev->st.st_mode) ? "" : NULL,
				META_REASON_CREATE);
}

static int apply_event(struct engine *e, struct meta *m, struct event *ev)
{
	uint64_t id, pid, npid, replaced = 0;
	int err = 0;

	switch (ev->kind) {
	case EV_DIRTY:
		err = find_live(e, m, ev->dev, ev->ino, &id);
		if (!err) {
			atomic_store(&ev->ef->meta_id, id);
			err = meta_dirty_reset(m, id, ev->t);
		}
		break;
	case EV_CREATE:
		err = apply_create(e, m, ev);
		break;
	case EV_LINK:
		err = find_live(e, m, ev->dev, ev->ino, &id);
		if (!err)
			err = find_live(e, m, ev->pdev, ev->pino, &pid);
		if (!err)
			err = meta_link(m, pid, ev->name, strlen(ev->name), id,
					ev->t);
		break;
	case EV_UNLINK:
		err = find_live(e, m, ev->pdev, ev->pino, &pid);
		if (!err)
			err = drop_name(m, pid, ev->name, ev->t);
		break;
	case EV_RENAME:
		err = find_live(e, m, ev->pdev, ev->pino, &pid);
		if (!err)
			err = find_live(e, m, ev->npdev, ev->npino, &npid);
		if (err)
			break;
		if (!(ev->flags & META_RENAME_EXCHANGE) &&
		    meta_lookup(m, npid, ev->newname, strlen(ev->newname),
				META_T_LIVE, &replaced) < 0)
			replaced = 0;
		if (meta_lookup(m, pid, ev->name, strlen(ev->name), META_T_LIVE,
				&id) < 0)
			id = 0;
		err = meta_rename(m, pid, ev->name, strlen(ev->name), npid,
				  ev->newname, strlen(ev->newname), ev->t,
				  ev->flags & (META_RENAME_NOREPLACE |
					       META_RENAME_EXCHANGE));
		if (!err && replaced && replaced != id &&
		    meta_inode_links(m, replaced, META_T_LIVE) == 0)
			err = meta_inode_die(m, replaced, ev->t);
		break;
	case EV_ATTR:
		err = find_live(e, m, ev->dev, ev->ino, &id);
		if (!err)
			err = add_attr_version(m, id, ev->t, &ev->st,
					       ev->symlink, ev->xattrs,
					       ev->xattrs_len, ev->has_xattrs,
					       NULL, META_REASON_META);
		break;
	}
	/* The parents' new mtime/ctime (not for a failed event). */
	if (!err && ev->has_pst &&
	    find_live(e, m, ev->pdev, ev->pino, &pid) == 0)
		err = add_attr_version(m, pid, ev->t, &ev->pst, NULL, NULL, 0,
				       0, NULL, META_REASON_META);
	if (!err && ev->has_npst &&
	    find_live(e, m, ev->npdev, ev->npino, &npid) == 0)
		err = add_attr_version(m, npid, ev->t, &ev->npst, NULL, NULL, 0,
				       0, NULL, META_REASON_META);
	return err;
}

/* -ENOENT / -EEXIST / -EINVAL concern one event (the database does not
 * know a name the kernel did: changed behind the mount); the rest are the
 * database's and fail the batch. */
static int event_error_is_local(int err)
{
	return err == -ENOENT || err == -EEXIST || err == -EINVAL ||
	       err == -ENAMETOOLONG;
}

static void *writer_main(void *arg)
{
	struct engine *e = arg;
	uint64_t backoff = BACKOFF_MIN_NS;

	for (;;) {
		struct event *batch, *last;
		int err;

		pthread_mutex_lock(&e->lock);
		while (!e->ev_head && !e->stopping)
			pthread_cond_wait(&e->cond, &e->lock);
		batch = e->ev_head;
		last = e->ev_tail;
		e->ev_head = e->ev_tail = NULL;
		pthread_mutex_unlock(&e->lock);
		if (!batch)
			break;		/* stopping, queue drained */
		for (;;) {
			err = meta_begin(e->wm);
			for (struct event *ev = batch; ev && !err; ev = ev->next) {
				int r = apply_event(e, e->wm, ev);

				if (r && event_error_is_local(r))
					log_debug("event %d on '%s': %s (changed "
						  "behind the mount?)", ev->kind,
						  ev->name ? ev->name : "",
						  strerror(-r));
				else
					err = r;
			}
			if (!err)
				err = meta_commit(e->wm);
			else
				meta_rollback(e->wm);
			if (!err)
				break;
			fail(e, "cannot record changes in '%s/meta.db': %s (%s);"
			     " retrying", e->state, strerror(-err),
			     meta_errmsg(e->wm));
			usleep((useconds_t)(backoff / 1000));
			backoff = backoff * 2 > BACKOFF_MAX_NS ? BACKOFF_MAX_NS :
								 backoff * 2;
		}
		backoff = BACKOFF_MIN_NS;
		pthread_mutex_lock(&e->lock);
		e->ev_applied = last->seq;
		pthread_cond_broadcast(&e->cond);
		pthread_mutex_unlock(&e->lock);
		while (batch) {
			struct event *next = batch->next;

			if (batch->kind == EV_DIRTY)
				ef_put(e, batch->ef);
			ev_free(batch);
			batch = next;
		}
	}
	return NULL;
}

/* --- capture workers ----------------------------------------------------- */

static void pending_free(struct pending *p)
{
	free(p->manifest);
	free(p->xattrs);
	manifest_release(&p->man);
}

static int add_versions(void *arg, struct meta *m)
{
	struct worker *w = arg;

	for (size_t i = 0; i < w->npend; i++) {
		struct pending *p = &w->pend[i];
		int err = p->no_version ? 0 : meta_version_add(m, &p->v);

		if (err == -ENOENT)
			continue;	/* inode gone from meta meanwhile */
		if (err)
			return err;
		err = meta_dirty_clear_upto(m, p->meta_id, p->t);
		if (err)
			return err;
	}
	return 0;
}

/* Commits what the worker captured; on failure keeps it for a retry. */
static int worker_commit(struct worker *w)
{
	struct engine *e = w->e;
	uint64_t upto, added = 0;
	int err;

	if (!w->npend && !w->cap.npacks && w->cap.wfd < 0)
		return 0;
	err = capture_commit(&w->cap, add_versions, w);
	if (err) {
		fail(e, "cannot commit captured versions to '%s': %s; retrying",
		     e->state, strerror(-err));
		w->retry_at = mono_ns() + w->backoff;
		w->backoff = w->backoff * 2 > BACKOFF_MAX_NS ? BACKOFF_MAX_NS :
							       w->backoff * 2;
		return err;
	}
	w->backoff = BACKOFF_MIN_NS;
	w->retry_at = 0;
	upto = w->npend ? w->pend[w->npend - 1].job_no : 0;
	for (size_t i = 0; i < w->npend; i++) {
		added += !w->pend[i].no_version;
		pending_free(&w->pend[i]);
	}
	pthread_mutex_lock(&e->lock);
	e->versions += added;
	if (upto > w->done_no)
		w->done_no = upto;
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
	w->npend = 0;
	return 0;
}

/* The base manifest for the next version of meta_id. */
static int base_manifest(struct worker *w, uint64_t id, struct manifest *out,
			 int *have)
{
	struct meta_version v;
	int err;

	*have = 0;
	for (size_t i = w->npend; i-- > 0;)
		if (w->pend[i].meta_id == id) {
			struct manifest *src = &w->pend[i].man;

			for (size_t k = 0; k < src->n; k++) {
				err = manifest_append(out, src->e[k].offset,
						      src->e[k].id,
						      src->e[k].length);
				if (err)
					return err;
			}
			*have = 1;
			return 0;
		}
	err = meta_version_at(w->m, id, META_T_LIVE, &v);
	if (err == -ENOENT || (!err && !v.manifest))
		return 0;
	if (err)
		return err;
	err = manifest_decode(v.manifest, v.manifest_len, out);
	if (!err)
		*have = 1;
	return err;
}

static int manifest_same(const struct manifest *a, const struct manifest *b)
{
	if (a->n != b->n)
		return 0;
	for (size_t i = 0; i < a->n; i++)
		if (a->e[i].offset != b->e[i].offset ||
		    a->e[i].length != b->e[i].length ||
		    memcmp(a->e[i].id, b->e[i].id, sizeof(a->e[i].id)))
			return 0;
	return 1;
}

static void run_job(struct worker *w, struct job *jb)
{
	struct engine *e = w->e;
	struct manifest old = { 0 }, out = { 0 };
	const struct capture_range *r;
	struct pending *p;
	uint64_t id;
	size_t nr, len;
	int have, err, exact;

	pthread_mutex_lock(&e->lock);
	while (e->ev_applied < jb->seq)
		pthread_cond_wait(&e->cond, &e->lock);
	pthread_mutex_unlock(&e->lock);

	id = atomic_load(&jb->ef->meta_id);
	if (!id) {
		log_debug("inode %" PRIu64 " has no metadata row: version skipped",
			  jb->ef->ino);
		goto out;
	}
	err = base_manifest(w, id, &old, &have);
	r = journal_cut_ranges(jb->cut, &nr);
	if (!err) {
		uint64_t before = w->cap.st.bytes_read;

		err = capture_file_cb(&w->cap, journal_cut_read_ascending,
				      jb->cut, journal_cut_size(jb->cut),
				      have ? &old : NULL, r, nr, &out);
		pthread_mutex_lock(&e->lock);
		e->bytes_captured += w->cap.st.bytes_read - before;
		pthread_mutex_unlock(&e->lock);
	}
	if (err) {
		fail(e, "cannot capture inode %" PRIu64 " of '%s': %s (it stays "
		     "marked dirty and is captured again at the next mount)",
		     jb->ef->ino, e->source, strerror(-err));
		goto out;
	}
	exact = journal_cut_exact(jb->cut) && jb->reason != META_REASON_SCAN;
	w->pend = array_grow(w->pend, &w->cap_pend, w->npend + 1,
			     sizeof(*w->pend));
	if (!w->pend) {
		fail(e, "out of memory capturing '%s'", e->source);
		goto out;
	}
	p = &w->pend[w->npend];
	memset(p, 0, sizeof(*p));
	p->meta_id = id;
	p->t = jb->t;
	p->job_no = jb->no;
	meta_version_set_attrs(&p->v, &jb->st);
	p->v.inode = id;
	p->v.t = jb->t;
	p->v.size = journal_cut_size(jb->cut);
	p->v.reason = jb->reason;
	p->v.exact = exact;
	if (manifest_encode(&out, &p->manifest, &len) < 0) {
		fail(e, "out of memory capturing '%s'", e->source);
		goto out;
	}
	p->v.manifest = p->manifest;
	p->v.manifest_len = len;
	if (xattrs_read(NULL, jb->fd, &p->xattrs, &len) == 0 && p->xattrs) {
		p->v.xattrs = p->xattrs;
		p->v.xattrs_len = len;
	}
	p->man = out;
	memset(&out, 0, sizeof(out));
	/* A scan that found nothing new (the ctime rule is cautious): no
	 * version, but the dirty row goes. */
	if (jb->reason == META_REASON_SCAN && have &&
	    manifest_same(&p->man, &old)) {
		struct meta_version prev;

		if (meta_version_at(w->m, id, META_T_LIVE, &prev) == 0 &&
		    prev.mode == p->v.mode && prev.uid == p->v.uid &&
		    prev.gid == p->v.gid && prev.mtime_ns == p->v.mtime_ns &&
		    prev.size == p->v.size)
			p->no_version = 1;
	}
	if (!w->npend++)
		w->first_pend = mono_ns();
out:
	manifest_release(&old);
	manifest_release(&out);
	journal_cut_done(e->j, jb->cut);
	close(jb->fd);
	ef_put(e, jb->ef);
	pthread_mutex_lock(&e->lock);
	if (!w->npend && jb->no > w->done_no)
		w->done_no = jb->no;	/* nothing left uncommitted */
	pthread_mutex_unlock(&e->lock);
	free(jb);
}

/* Under e->lock: should the worker commit now? */
static int want_commit(struct worker *w, uint64_t now)
{
	struct engine *e = w->e;

	if (!w->npend || (w->retry_at && now < w->retry_at && !e->stopping))
		return 0;
	if (w->npend >= COMMIT_MAX_VERSIONS ||
	    w->cap.w.size >= (w->cap.pack_target ? w->cap.pack_target :
						   PACK_TARGET_DEFAULT))
		return 1;
	if (w->head && !(e->flush_target && w->head->no > e->flush_target))
		return 0;	/* more work first */
	return e->stopping || e->flush_target > w->done_no ||
	       now - w->first_pend >= COMMIT_DELAY_NS;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct engine *e = w->e;

	pthread_mutex_lock(&e->lock);
	for (;;) {
		uint64_t now = mono_ns();

		if (want_commit(w, now)) {
			w->busy = 1;
			pthread_mutex_unlock(&e->lock);
			worker_commit(w);
			pthread_mutex_lock(&e->lock);
			w->busy = 0;
			pthread_cond_broadcast(&e->cond);
			continue;
		}
		if (w->head) {
			struct job *jb = w->head;

			w->head = jb->next;
			if (!w->head)
				w->tail = NULL;
			w->busy = 1;
			pthread_mutex_unlock(&e->lock);
			run_job(w, jb);
			pthread_mutex_lock(&e->lock);
			w->busy = 0;
			pthread_cond_broadcast(&e->cond);
			continue;
		}
		if (e->stopping && (!w->npend || w->retry_at))
			break;
		wait_ms(e, 200);
	}
	pthread_mutex_unlock(&e->lock);
	return NULL;
}

/* --- the uploader -------------------------------------------------------- */

static int upload_one(struct engine *e, uint64_t pack, char *err, size_t errlen)
{
	uint8_t name[32];
	char hex[65];
	int ret = meta_pack_name(e->um, pack, name);

	if (ret) {
		sfmt(err, errlen, "upload queue names pack %" PRIu64 " "
			 "which meta.db does not have: %s", pack, strerror(-ret));
		return ret;
	}
	sodium_bin2hex(hex, sizeof(hex), name, sizeof(name));
	for (int pass = 0; pass < 2; pass++) {
		char local[80], obj[100];
		struct stat st;
		void *data;
		ssize_t n;
		int fd;

		sfmt(local, sizeof(local), pass ? "%s.index" : "%s", hex);
		if (pass)
			sfmt(obj, sizeof(obj), "index/%s", hex);
		else
			sfmt(obj, sizeof(obj), "data/%.2s/%s", hex, hex);
		fd = openat(e->staging_fd, local, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) < 0) {
			ret = -errno;
			if (fd >= 0)
				close(fd);
			sfmt(err, errlen, "cannot read staged pack '%s/staging/"
				 "%s': %s", e->state, local, strerror(-ret));
			return ret;
		}
		data = malloc((size_t)st.st_size + 1);
		n = data ? fd_pread_upto(fd, data, (size_t)st.st_size, 0) : -ENOMEM;
		close(fd);
		if (n != st.st_size) {
			free(data);
			sfmt(err, errlen, "cannot read staged pack '%s/staging/"
				 "%s'", e->state, local);
			return n < 0 ? (int)n : -EIO;
		}
		ret = e->repo->ops->put(e->repo, obj, data, (size_t)n,
					pass ? "STANDARD" : e->rcfg.storage_class);
		free(data);
		if (ret) {
			sfmt(err, errlen, "cannot store '%s' in repository "
				 "'%s': %s", obj, e->url, strerror(-ret));
			return ret;
		}
		pthread_mutex_lock(&e->lock);
		e->bytes_uploaded += (uint64_t)n;
		pthread_mutex_unlock(&e->lock);
	}
	ret = meta_upload_done(e->um, pack);
	if (ret) {
		sfmt(err, errlen, "cannot mark pack %s uploaded in '%s/meta.db'"
			 ": %s", hex, e->state, strerror(-ret));
		return ret;
	}
	/* In the repository now: the staged copy is not needed. */
	{
		char idx[80];

		sfmt(idx, sizeof(idx), "%s.index", hex);
		unlinkat(e->staging_fd, hex, 0);
		unlinkat(e->staging_fd, idx, 0);
	}
	pthread_mutex_lock(&e->lock);
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
	return 0;
}

/* One pass over the due uploads; returns how many failed. */
static int upload_pass(struct engine *e, int retries)
{
	uint64_t pack;
	int failed = 0;

	while (meta_upload_next(e->um, retries ? eng_now(e) : UINT64_MAX - 1,
				&pack) == 0) {
		char err[600];
		int ret = upload_one(e, pack, err, sizeof(err));

		if (!ret)
			continue;
		failed++;
		log_error("%s (retrying)", err);
		pthread_mutex_lock(&e->lock);
		sfmt(e->upload_error, sizeof(e->upload_error), "%s", err);
		memcpy(e->last_error, e->upload_error, sizeof(e->upload_error));
		e->last_error_t = eng_now(e);
		e->errors++;
		e->upload_fail_gen++;
		pthread_cond_broadcast(&e->cond);
		pthread_mutex_unlock(&e->lock);
		if (!retries)
			break;
		{
			/* Exponential backoff with jitter, per pack. */
			static __thread uint64_t backoff = BACKOFF_MIN_NS;
			uint64_t d = backoff + randombytes_uniform(1000) * 1000000ull;

			meta_upload_retry(e->um, pack, eng_now(e) + d);
			backoff = backoff * 2 > BACKOFF_MAX_NS ? BACKOFF_MAX_NS :
								 backoff * 2;
		}
		break;
	}
	return failed;
}

static void *uploader_main(void *arg)
{
	struct engine *e = arg;

	pthread_mutex_lock(&e->lock);
	while (!e->stopping) {
		pthread_mutex_unlock(&e->lock);
		upload_pass(e, 1);
		pthread_mutex_lock(&e->lock);
		if (e->stopping)
			break;
		wait_ms(e, 250);
	}
	pthread_mutex_unlock(&e->lock);
	return NULL;
}

static int engine_snapshot(struct engine *e, const char *name, int pinned,
			   int kind, char *out, size_t outlen, char *err,
			   size_t errlen);

/* --- timer: version_interval --------------------------------------------- */

static void *timer_main(void *arg)
{
	struct engine *e = arg;
	uint64_t last_snap = mono_ns();

	pthread_mutex_lock(&e->lock);
	while (!e->stopping) {
		wait_ms(e, 1000);
		if (e->stopping)
			break;
		pthread_mutex_unlock(&e->lock);
		if (e->interval > 0)
			cut_all(e, META_REASON_INTERVAL, e->interval);
		if (e->snap_interval > 0 &&
		    mono_ns() - last_snap >= (uint64_t)(e->snap_interval * 1e9)) {
			char name[96], err[512];

			last_snap = mono_ns();
			if (engine_snapshot(e, NULL, 0, META_SNAP_SCHEDULED, name,
					    sizeof(name), err, sizeof(err)) < 0 &&
			    !e->stopping)
				fail(e, "scheduled snapshot of '%s' failed: %s",
				     e->source, err);
		}
		pthread_mutex_lock(&e->lock);
	}
	pthread_mutex_unlock(&e->lock);
	return NULL;
}

/* --- sync and status ----------------------------------------------------- */

/* Waits until every cut taken and every event queued so far is committed
 * (the workers commit at once, not after COMMIT_DELAY).  -ESHUTDOWN if
 * the daemon stops meanwhile. */
static int flush_commits(struct engine *e)
{
	uint64_t target, ev_target;

	pthread_mutex_lock(&e->lock);
	target = e->job_no;
	ev_target = e->ev_seq;
	if (target > e->flush_target)
		e->flush_target = target;
	pthread_cond_broadcast(&e->cond);
	for (;;) {
		int ok = e->ev_applied >= ev_target;

		for (int i = 0; i < NWORKERS && ok; i++) {
			struct worker *w = &e->w[i];
			int idle = !w->head && !w->busy && !w->npend;

			ok = idle || w->done_no >= target;
		}
		if (ok)
			break;
		if (e->stopping) {
			pthread_mutex_unlock(&e->lock);
			return -ESHUTDOWN;
		}
		pthread_cond_wait(&e->cond, &e->lock);
	}
	pthread_mutex_unlock(&e->lock);
	return 0;
}

/* A snapshot name given by a user: [A-Za-z0-9._-], not starting with '.'
 * or '@' (those are ".", "..", ".snapshots" and "@TIME"). */
static int snapshot_name_ok(const char *n)
{
	size_t len = strlen(n);

	return len > 0 && len <= META_SNAPSHOT_NAME_MAX && n[0] != '.' &&
	       n[0] != '@' && strspn(n, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				     "abcdefghijklmnopqrstuvwxyz0123456789._-")
				      == len;
}

/*
 * A crash-consistent snapshot (doc/snapshots.md §1): every stripe held
 * exclusive while every dirty file is cut at one instant T, then the
 * captures committed, then the row.
 */
static int engine_snapshot(struct engine *e, const char *name, int pinned,
			   int kind, char *out, size_t outlen, char *err,
			   size_t errlen)
{
	struct fileid *v = NULL;
	size_t n = 0;
	struct meta *m = NULL;
	uint64_t T;
	char merr[256];
	int ret;

	if (name && !snapshot_name_ok(name)) {
		sfmt(err, errlen, "snapshot name '%s' is not valid: use letters, "
		     "digits, '.', '_' and '-' (at most %d), not starting with "
		     "'.' or '@'", name, META_SNAPSHOT_NAME_MAX);
		return -EINVAL;
	}
	for (int i = 0; i < NSTRIPES; i++)
		pthread_rwlock_wrlock(&e->stripes[i]);
	T = eng_now(e);
	ret = dirty_files(e, 0, &v, &n);
	for (size_t i = 0; i < n; i++)
		cut_file_locked(e, v[i].dev, v[i].ino, META_REASON_SNAPSHOT, T);
	for (int i = NSTRIPES; i-- > 0;)
		pthread_rwlock_unlock(&e->stripes[i]);
	free(v);
	if (ret) {
		sfmt(err, errlen, "out of memory taking a snapshot");
		return ret;
	}
	if (flush_commits(e) < 0) {
		sfmt(err, errlen, "the daemon is shutting down");
		return -ESHUTDOWN;
	}
	ret = meta_open(e->state_db, 0, &m, merr, sizeof(merr));
	if (ret) {
		sfmt(err, errlen, "%s", merr);
		return ret;
	}
	if (name) {
		sfmt(out, outlen, "%s", name);
		ret = meta_snapshot_add(m, out, T, kind, pinned);
		if (ret == -EEXIST)
			sfmt(err, errlen, "a snapshot named '%s' exists already",
			     name);
	} else {
		char base[32];
		time_t sec = (time_t)(T / 1000000000u);
		struct tm tm;

		gmtime_r(&sec, &tm);
		strftime(base, sizeof(base), "%Y-%m-%dT%H%M%SZ", &tm);
		sfmt(out, outlen, "%s", base);
		ret = meta_snapshot_add(m, out, T, kind, pinned);
		for (int k = 2; ret == -EEXIST && k < 1000; k++) {
			sfmt(out, outlen, "%s-%d", base, k);
			ret = meta_snapshot_add(m, out, T, kind, pinned);
		}
	}
	if (ret && ret != -EEXIST)
		sfmt(err, errlen, "cannot record the snapshot in '%s': %s",
		     e->state_db, strerror(-ret));
	meta_close(m);
	if (!ret)
		log_info("snapshot %s of '%s' (%zu files cut)", out, e->source, n);
	return ret;
}

/* Every write before the call captured, committed and in the repository. */
static int engine_sync(struct engine *e, char **reply)
{
	uint64_t max_pack = 0, pending = 1, gen;
	struct meta *m = NULL;
	char err[256];
	int ret;

	cut_all(e, META_REASON_SYNC, 0);
	pthread_mutex_lock(&e->lock);
	gen = e->upload_fail_gen;
	pthread_mutex_unlock(&e->lock);
	if (flush_commits(e) < 0) {
		*reply = strdup("the daemon is shutting down");
		return -ESHUTDOWN;
	}

	ret = meta_open(e->state_db, 0, &m, err, sizeof(err));
	if (!ret)
		ret = meta_pack_max(m, &max_pack);
	while (!ret) {
		ret = meta_upload_pending(m, max_pack, &pending);
		if (ret || !pending)
			break;
		pthread_mutex_lock(&e->lock);
		if (e->stopping) {
			pthread_mutex_unlock(&e->lock);
			*reply = strdup("the daemon is shutting down");
			ret = -ESHUTDOWN;
			break;
		}
		if (e->upload_fail_gen != gen) {
			*reply = strdup(e->upload_error);
			pthread_mutex_unlock(&e->lock);
			ret = -EIO;
			break;
		}
		pthread_cond_broadcast(&e->cond);	/* wake the uploader */
		wait_ms(e, 100);
		pthread_mutex_unlock(&e->lock);
	}
	if (m)
		meta_close(m);
	if (ret && !*reply) {
		char msg[400];

		sfmt(msg, sizeof(msg), "cannot read the upload queue in "
			 "'%s/meta.db': %s", e->state, strerror(-ret));
		*reply = strdup(msg);
	}
	return ret;
}

static void fmt_bytes(char *buf, size_t len, uint64_t b)
{
	if (b >= (1ull << 30))
		sfmt(buf, len, "%.2f GiB", (double)b / (1ull << 30));
	else if (b >= (1ull << 20))
		sfmt(buf, len, "%.1f MiB", (double)b / (1ull << 20));
	else if (b >= 1024)
		sfmt(buf, len, "%.1f KiB", (double)b / 1024);
	else
		sfmt(buf, len, "%" PRIu64 " B", b);
}

static void json_str(char *out, size_t len, const char *s)
{
	size_t o = 0;

	for (; *s && o + 8 < len; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			o += (size_t)sfmt(out + o, len - o, "\\%c", c);
		else if (c < 0x20)
			o += (size_t)sfmt(out + o, len - o, "\\u%04x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
}

static int engine_status(struct engine *e, int json, char **reply)
{
	struct meta_stats ms;
	struct meta *m = NULL;
	char err[256], buf[4096], a[32], b[32], c[32], le[1100];
	uint64_t dirty = 0, oldest = 0, jobs = 0, now = eng_now(e);
	uint64_t versions, errors, lerr_t, captured, uploaded;
	double dedup, comp, lag;
	int ret;

	ret = meta_open(e->state_db, 0, &m, err, sizeof(err));
	if (!ret)
		ret = meta_get_stats(m, &ms);
	if (m)
		meta_close(m);
	if (ret) {
		sfmt(buf, sizeof(buf), "cannot read '%s/meta.db': %s",
			 e->state, strerror(-ret));
		*reply = strdup(buf);
		return ret;
	}
	pthread_mutex_lock(&e->ftab_lock);
	for (size_t i = 0; i < FTAB_BUCKETS; i++)
		for (struct efile *ef = e->ftab[i]; ef; ef = ef->next)
			if (ef->dirty) {
				dirty++;
				if (!oldest || ef->since < oldest)
					oldest = ef->since;
			}
	pthread_mutex_unlock(&e->ftab_lock);
	pthread_mutex_lock(&e->lock);
	for (int i = 0; i < NWORKERS; i++) {
		for (struct job *jb = e->w[i].head; jb; jb = jb->next)
			jobs++;
		jobs += e->w[i].npend + (uint64_t)e->w[i].busy;
	}
	versions = e->versions;
	errors = e->errors;
	lerr_t = e->last_error_t;
	captured = e->bytes_captured;
	uploaded = e->bytes_uploaded;
	sfmt(le, sizeof(le), "%s", e->last_error);
	pthread_mutex_unlock(&e->lock);
	/* RPO lag: the oldest write not yet in a committed version. */
	if (ms.oldest_dirty && (!oldest || ms.oldest_dirty < oldest))
		oldest = ms.oldest_dirty;
	lag = oldest && now > oldest ? (double)(now - oldest) / 1e9 : 0;
	dedup = ms.chunk_raw_bytes ? (double)ms.logical_bytes /
				     (double)ms.chunk_raw_bytes : 1.0;
	comp = ms.chunk_stored_bytes ? (double)ms.chunk_raw_bytes /
				       (double)ms.chunk_stored_bytes : 1.0;
	if (json) {
		char jle[2300];

		json_str(jle, sizeof(jle), le);
		sfmt(buf, sizeof(buf),
			 "{\"source\":\"%s\",\"state\":\"%s\",\"repository\":\"%s\","
			 "\"versions\":%" PRIu64 ",\"versions_this_mount\":%" PRIu64
			 ",\"files_dirty\":%" PRIu64 ",\"captures_pending\":%" PRIu64
			 ",\"rpo_lag_seconds\":%.3f,\"upload_pending_packs\":%" PRIu64
			 ",\"upload_pending_bytes\":%" PRIu64
			 ",\"repository_bytes\":%" PRIu64 ",\"unique_bytes\":%" PRIu64
			 ",\"stored_bytes\":%" PRIu64 ",\"dedup_ratio\":%.3f"
			 ",\"compression_ratio\":%.3f,\"bytes_captured\":%" PRIu64
			 ",\"bytes_uploaded\":%" PRIu64 ",\"errors\":%" PRIu64
			 ",\"last_error\":%s%s%s,\"last_error_ns\":%" PRIu64 "}\n",
			 e->source, e->state, e->url, ms.versions, versions,
			 dirty, jobs, lag, ms.upload_packs, ms.upload_bytes,
			 ms.uploaded_bytes, ms.chunk_raw_bytes,
			 ms.chunk_stored_bytes, dedup, comp, captured, uploaded,
			 errors, le[0] ? "\"" : "", le[0] ? jle : "null",
			 le[0] ? "\"" : "", lerr_t);
	} else {
		int n;

		n = sfmt(buf, sizeof(buf),
			 "source:        %s\n"
			 "state:         %s\n"
			 "repository:    %s\n"
			 "versions:      %" PRIu64 " (%" PRIu64 " this mount)\n"
			 "waiting:       %" PRIu64 " files with unsaved writes, "
			 "%" PRIu64 " captures in progress\n"
			 "RPO lag:       %.1f s (oldest write not yet in a version)\n",
			 e->source, e->state, e->url, ms.versions, versions,
			 dirty, jobs, lag);
		fmt_bytes(a, sizeof(a), ms.upload_bytes);
		n += sfmt(buf + n, sizeof(buf) - (size_t)n,
			 "upload queue:  %" PRIu64 " packs, %s\n",
			 ms.upload_packs, a);
		fmt_bytes(a, sizeof(a), ms.uploaded_bytes);
		fmt_bytes(b, sizeof(b), ms.chunk_raw_bytes);
		fmt_bytes(c, sizeof(c), ms.logical_bytes);
		n += sfmt(buf + n, sizeof(buf) - (size_t)n,
			 "repository:    %s in packs; %s unique data for %s of "
			 "versions\n"
			 "ratios:        dedup %.2fx, compression %.2fx\n",
			 a, b, c, dedup, comp);
		if (le[0]) {
			char t[64];
			time_t s = (time_t)(lerr_t / 1000000000u);
			struct tm tm;

			gmtime_r(&s, &tm);
			strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%SZ", &tm);
			sfmt(buf + n, sizeof(buf) - (size_t)n,
				 "errors:        %" PRIu64 ", last at %s: %s\n",
				 errors, t, le);
		} else {
			sfmt(buf + n, sizeof(buf) - (size_t)n,
				 "errors:        none\n");
		}
	}
	*reply = strdup(buf);
	return *reply ? 0 : -ENOMEM;
}

static int ctl_handle(void *arg, const char *req, char **reply)
{
	struct engine *e = arg;

	*reply = NULL;
	if (!strcmp(req, "sync"))
		return engine_sync(e, reply);
	if (!strcmp(req, "status"))
		return engine_status(e, 0, reply);
	if (!strcmp(req, "status json"))
		return engine_status(e, 1, reply);
	if (!strncmp(req, "snapshot ", 9)) {
		/* "snapshot PIN NAME|-" */
		char name[META_SNAPSHOT_NAME_MAX + 16], err[512];
		const char *nm = req + 11;
		int ret;

		if (strlen(req) < 12 || (req[9] != '0' && req[9] != '1') ||
		    req[10] != ' ') {
			*reply = strdup("malformed snapshot request");
			return -EINVAL;
		}
		ret = engine_snapshot(e, strcmp(nm, "-") ? nm : NULL,
				      req[9] == '1', META_SNAP_MANUAL, name,
				      sizeof(name), err, sizeof(err));
		if (ret) {
			*reply = strdup(err);
			return ret;
		}
		{
			size_t l = strlen(name);

			name[l] = '\n';
			name[l + 1] = '\0';
		}
		*reply = strdup(name);
		return 0;
	}
	*reply = strdup("unknown request (is 'backupfs' newer than the daemon?)");
	return -EINVAL;
}

/* --- the mount-time scan ------------------------------------------------- */

struct scan {
	struct engine *e;
	struct meta *m;
	uint64_t *dirty;		/* sorted meta ids with a dirty row */
	size_t ndirty, dirty_cap;
	struct fileid *cuts;
	size_t ncuts, cuts_cap;
	size_t batch;
	uint64_t t;
	uint64_t changed, added, removed;
	int err;
};

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int dirty_cb(void *arg, uint64_t inode, uint64_t since)
{
	struct scan *sc = arg;

	(void)since;
	sc->dirty = array_grow(sc->dirty, &sc->dirty_cap, sc->ndirty + 1,
			       sizeof(*sc->dirty));
	if (!sc->dirty)
		return -ENOMEM;
	sc->dirty[sc->ndirty++] = inode;
	return 0;
}

static int is_dirty(struct scan *sc, uint64_t id)
{
	return sc->ndirty && bsearch(&id, sc->dirty, sc->ndirty,
				     sizeof(uint64_t), u64_cmp) != NULL;
}

/* A file to capture afresh (found changed, or dirty at a crash). */
static int scan_capture(struct scan *sc, int dfd, const char *name,
			const struct stat *st, uint64_t id)
{
	struct engine *e = sc->e;
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
			O_NOATIME | O_NONBLOCK);
	struct efile *ef;

	if (fd < 0 && errno == EPERM)
		fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
			    O_NONBLOCK);
	if (fd < 0)
		return -errno;
	pthread_mutex_lock(&e->ftab_lock);
	ef = ftab_get(e, (uint64_t)st->st_dev, (uint64_t)st->st_ino);
	if (!ef) {
		pthread_mutex_unlock(&e->ftab_lock);
		close(fd);
		return -ENOMEM;
	}
	if (ef->dirty) {	/* a second name of a file already queued */
		pthread_mutex_unlock(&e->ftab_lock);
		close(fd);
		return 0;
	}
	ef->dirty = 1;
	ef->refs++;
	ef->since = sc->t;
	if (ef->fd >= 0)
		close(ef->fd);
	ef->fd = fd;
	atomic_store(&ef->meta_id, id);
	pthread_mutex_unlock(&e->ftab_lock);
	journal_truncated(e->j, file_key(ef->dev, ef->ino), 0);
	sc->cuts = array_grow(sc->cuts, &sc->cuts_cap, sc->ncuts + 1,
			      sizeof(*sc->cuts));
	if (!sc->cuts)
		return -ENOMEM;
	sc->cuts[sc->ncuts].dev = ef->dev;
	sc->cuts[sc->ncuts++].ino = ef->ino;
	return meta_dirty_reset(sc->m, id, sc->t);
}

/* Commits the scan so far and hands its captures to the workers. */
static int scan_flush(struct scan *sc)
{
	struct engine *e = sc->e;
	int err = meta_commit(sc->m);

	if (err)
		return err;
	for (size_t i = 0; i < sc->ncuts; i++)
		cut_file(e, sc->cuts[i].dev, sc->cuts[i].ino, META_REASON_SCAN);
	sc->ncuts = 0;
	sc->batch = 0;
	/* Do not hold thousands of open files: let the workers catch up. */
	pthread_mutex_lock(&e->lock);
	for (;;) {
		size_t queued = 0;

		for (int i = 0; i < NWORKERS; i++)
			for (struct job *jb = e->w[i].head; jb; jb = jb->next)
				queued++;
		if (queued < 256 || e->stopping)
			break;
		pthread_cond_wait(&e->cond, &e->lock);
	}
	pthread_mutex_unlock(&e->lock);
	return meta_begin(sc->m);
}

static int scan_attrs_differ(const struct meta_version *v, const struct stat *st)
{
	int64_t mt = (int64_t)st->st_mtim.tv_sec * 1000000000 +
		     st->st_mtim.tv_nsec;

	return v->mode != st->st_mode || v->uid != st->st_uid ||
	       v->gid != st->st_gid || v->mtime_ns != mt;
}

static int scan_dir(struct scan *sc, int dfd, uint64_t dir_id, int depth);

static int scan_entry(struct scan *sc, int dfd, const char *name,
		      uint64_t dir_id, struct mentry *me, int depth)
{
	struct meta *m = sc->m;
	struct stat st;
	uint64_t id = 0, mdev, mino;
	struct meta_version v;
	char target[PATH_MAX + 1], *symlink = NULL;
	int err, isnew = 0;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (me) {
		me->seen = 1;
		if (meta_inode_devino(m, me->id, &mdev, &mino) == 0 &&
		    mdev == (uint64_t)st.st_dev && mino == (uint64_t)st.st_ino &&
		    me->kind == (st.st_mode & S_IFMT)) {
			id = me->id;
		} else {
			/* Another object under this name now. */
			err = drop_tree(m, dir_id, name, sc->t, 0);
			if (err && err != -ENOENT)
				return err;
			sc->removed++;
		}
	}
	if (!id) {
		isnew = 1;
		if (!S_ISDIR(st.st_mode) && st.st_nlink > 1 &&
		    meta_inode_find_live(m, (uint64_t)st.st_dev,
					 (uint64_t)st.st_ino, &id) == 0 &&
		    meta_inode_links(m, id, META_T_LIVE) > 0) {
			/* A hard link of a file already known. */
			err = meta_link(m, dir_id, name, strlen(name), id, sc->t);
			sc->added++;
			return err == -EEXIST ? 0 : err;
		}
		if (meta_inode_find_live(m, (uint64_t)st.st_dev,
					 (uint64_t)st.st_ino, &id) == 0)
			meta_inode_die(m, id, sc->t);	/* moved: a new life */
		err = meta_inode_new(m, st.st_mode & S_IFMT, (uint64_t)st.st_dev,
				     (uint64_t)st.st_ino, sc->t, &id);
		if (!err)
			err = meta_link(m, dir_id, name, strlen(name), id, sc->t);
		if (err)
			return err;
		sc->added++;
	}
	err = meta_version_at(m, id, META_T_LIVE, &v);
	if (err && err != -ENOENT)
		return err;
	if (S_ISREG(st.st_mode)) {
		/*
		 * Changed if size or mtime differ, or if its ctime is not
		 * clearly older than the last version: mtime can be put
		 * back (cp -p, rsync -t), ctime cannot, and with coarse
		 * timestamps a write in the same tick as the last version
		 * (acknowledged, then a crash before its dirty row was
		 * written) changes neither size nor mtime.  A false
		 * positive costs one read: dedup stores nothing new.
		 */
		uint64_t ctime_ns = (uint64_t)st.st_ctim.tv_sec * 1000000000u +
				    (uint64_t)st.st_ctim.tv_nsec;
		int content = err == -ENOENT || isnew || is_dirty(sc, id) ||
			      v.size != (uint64_t)st.st_size ||
			      v.mtime_ns != (int64_t)st.st_mtim.tv_sec *
						    1000000000 +
						    st.st_mtim.tv_nsec ||
			      ctime_ns + SCAN_CTIME_MARGIN_NS > v.t;

		if (content && st.st_size == 0) {
			err = add_attr_version(m, id, sc->t, &st, NULL, NULL, 0,
					       0, "", META_REASON_SCAN);
			meta_dirty_clear(m, id);
		} else if (content) {
			err = scan_capture(sc, dfd, name, &st, id);
		} else if (scan_attrs_differ(&v, &st)) {
			err = add_attr_version(m, id, sc->t, &st, NULL, NULL, 0,
					       0, NULL, META_REASON_SCAN);
		} else {
			err = 0;
		}
		if (content && !isnew)
			sc->changed++;
	} else if (err == -ENOENT || scan_attrs_differ(&v, &st) ||
		   (S_ISLNK(st.st_mode) && v.size != (uint64_t)st.st_size)) {
		if (S_ISLNK(st.st_mode)) {
			/* Only now: readlink touches the link's atime. */
			ssize_t n = readlinkat(dfd, name, target,
					       sizeof(target) - 1);

			if (n < 0)
				return -errno;
			target[n] = '\0';
			symlink = target;
		}
		err = add_attr_version(m, id, sc->t, &st, symlink, NULL, 0, 0,
				       NULL, META_REASON_SCAN);
		if (!isnew)
			sc->changed++;
	} else {
		err = 0;
	}
	if (err)
		return err;
	if (++sc->batch >= 1000 && (err = scan_flush(sc)))
		return err;
	if (S_ISDIR(st.st_mode)) {
		int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
				 O_CLOEXEC);

		if (sub < 0)
			return errno == ENOENT ? 0 : -errno;
		err = scan_dir(sc, sub, id, depth + 1);
	}
	return err;
}

static int mentry_cmp(const void *key, const void *el)
{
	const struct mentry *k = key, *x = el;
	size_t n = k->len < x->len ? k->len : x->len;
	int c = memcmp(k->name, x->name, n);

	return c ? c : (k->len > x->len) - (k->len < x->len);
}

/* Takes ownership of dfd. */
static int scan_dir(struct scan *sc, int dfd, uint64_t dir_id, int depth)
{
	struct mlist l = { 0 };
	struct dirent *de;
	DIR *d;
	int err;

	if (depth > 4096) {
		close(dfd);
		return -ELOOP;
	}
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return -errno;
	}
	err = meta_readdir(sc->m, dir_id, META_T_LIVE, collect_cb, &l);
	while (!err && (de = readdir(d))) {
		struct mentry key, *me;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		key.name = de->d_name;
		key.len = strlen(de->d_name);
		me = l.n ? bsearch(&key, l.v, l.n, sizeof(*l.v), mentry_cmp) :
			   NULL;
		err = scan_entry(sc, dirfd(d), de->d_name, dir_id, me, depth);
	}
	for (size_t i = 0; i < l.n; i++) {
		if (!err && !l.v[i].seen) {
			err = drop_tree(sc->m, dir_id, l.v[i].name, sc->t, 0);
			if (err == -ENOENT)
				err = 0;
			sc->removed++;
		}
		free(l.v[i].name);
	}
	free(l.v);
	closedir(d);
	return err;
}

/*
 * Brings meta.db in line with SOURCE as found at mount: changes made while
 * unmounted, and files that were dirty at a crash, become versions with
 * reason "scan" (not exact: nobody knows when they changed).
 */
static int engine_scan(struct engine *e)
{
	struct scan sc = { .e = e, .m = e->wm };
	char p[40];
	int fd, err;
	uint64_t t0 = mono_ns();

	sc.t = eng_now(e);
	err = meta_dirty_each(e->wm, dirty_cb, &sc);
	if (err)
		return err;
	if (sc.ndirty)
		qsort(sc.dirty, sc.ndirty, sizeof(uint64_t), u64_cmp);
	snprintf(p, sizeof(p), "/proc/self/fd/%d", e->root_fd);
	fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		free(sc.dirty);
		return -errno;
	}
	err = meta_begin(e->wm);
	if (!err)
		err = scan_dir(&sc, fd, META_ROOT_INODE, 0);
	else
		close(fd);
	if (!err) {
		/* Dirty rows of files that no longer exist. */
		for (size_t i = 0; i < sc.ndirty && !err; i++) {
			uint64_t died;

			if (meta_inode_info(e->wm, sc.dirty[i], NULL, NULL,
					    &died) == 0 && died != META_T_MAX)
				err = meta_dirty_clear(e->wm, sc.dirty[i]);
		}
	}
	if (!err)
		err = scan_flush(&sc);
	if (!err)
		err = meta_commit(e->wm);
	else
		meta_rollback(e->wm);
	free(sc.dirty);
	free(sc.cuts);
	if (!err && (sc.changed || sc.added || sc.removed))
		log_info("scan of '%s': %" PRIu64 " changed, %" PRIu64 " added, %"
			 PRIu64 " removed while unmounted (%.1f s)", e->source,
			 sc.changed, sc.added, sc.removed,
			 (double)(mono_ns() - t0) / 1e9);
	return err;
}

/* --- open, start, stop --------------------------------------------------- */

struct unlock_msg {
	char status;			/* 'K' key, 'E' error */
	uint8_t master[CRYPTO_KEY_BYTES];
	struct repo_config cfg;
	char err[512];
};

/*
 * Unlocks the repository in a child process: Argon2id needs 256 MiB for a
 * moment, and a process's peak RSS never goes down, so the daemon asks a
 * child and receives only the 32-byte master secret through a pipe.
 */
static int unlock_key(struct engine *e, const char *pwfile, char *err,
		      size_t errlen)
{
	struct unlock_msg *msg = sodium_malloc(sizeof(*msg));
	int p[2], status, ret = -EIO;
	ssize_t n;
	size_t got = 0;
	pid_t pid;

	if (!msg || pipe2(p, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "cannot unlock repository '%s': %s",
			 e->url, strerror(errno));
		if (msg)
			sodium_free(msg);
		return -errno;
	}
	memset(msg, 0, sizeof(*msg));
	pid = fork();
	if (pid < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot unlock repository '%s': fork: %s",
			 e->url, strerror(errno));
		close(p[0]);
		close(p[1]);
		sodium_free(msg);
		return ret;
	}
	if (pid == 0) {
		struct repository *r = NULL;
		char *pw = NULL;
		size_t pwlen = 0;

		close(p[0]);
		if (password_get(pwfile, e->url, 0, &pw, &pwlen, msg->err,
				 sizeof(msg->err)) < 0) {
			msg->status = 'E';
		} else if (repository_open(e->url, pw, pwlen, &r, msg->err,
					   sizeof(msg->err)) < 0) {
			msg->status = 'E';
		} else {
			msg->status = 'K';
			memcpy(msg->master, r->mk->master, sizeof(msg->master));
			msg->cfg = r->cfg;
		}
		if (pw)
			password_free(pw);
		n = write(p[1], msg, sizeof(*msg));
		sodium_memzero(msg, sizeof(*msg));
		_exit(n == (ssize_t)sizeof(*msg) ? 0 : 1);
	}
	close(p[1]);
	while (got < sizeof(*msg)) {
		n = read(p[0], (char *)msg + got, sizeof(*msg) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(p[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (got == sizeof(*msg) && msg->status == 'K') {
		crypto_master_key_load(e->mk, msg->master);
		e->rcfg = msg->cfg;
		ret = 0;
	} else if (got == sizeof(*msg) && msg->status == 'E') {
		/* password.c speaks of --password-file; mount's is -o. */
		char *at = strstr(msg->err, "use --password-file FILE");

		if (at)
			snprintf(err, errlen, "%.*suse -o password_file=FILE%s",
				 (int)(at - msg->err), msg->err,
				 at + strlen("use --password-file FILE"));
		else
			snprintf(err, errlen, "%s", msg->err);
		ret = -EACCES;
	} else {
		snprintf(err, errlen, "cannot unlock repository '%s': the "
			 "unlocking process failed", e->url);
	}
	sodium_memzero(msg, sizeof(*msg));
	sodium_free(msg);
	return ret;
}

static int read_line_file(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	int ret = 0;

	if (!f)
		return -errno;
	if (!fgets(buf, (int)len, f))
		ret = -EINVAL;
	fclose(f);
	buf[strcspn(buf, "\r\n")] = '\0';
	return ret;
}

int engine_open(const struct engine_config *cfg, int root_fd,
		struct engine **out, char *err, size_t errlen)
{
	struct engine *e = calloc(1, sizeof(*e));
	char path[PATH_MAX + 32], merr[256];
	struct meta *m = NULL;
	struct stat st;
	pthread_rwlockattr_t ra;
	int ret;

	*out = NULL;
	if (!e || crypto_init() < 0) {
		free(e);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	e->root_fd = -1;
	e->staging_fd = e->journal_fd = -1;
	snprintf(e->source, sizeof(e->source), "%s", cfg->source);
	snprintf(e->mnt, sizeof(e->mnt), "%s", cfg->mountpoint);
	e->interval = cfg->version_interval;
	e->snap_interval = cfg->snapshot_interval;
	if (cfg->state && cfg->state[0]) {
		if (!realpath(cfg->state, e->state)) {
			ret = -errno;
			snprintf(err, errlen, "state directory '%s': %s",
				 cfg->state, strerror(errno));
			goto fail;
		}
	} else if (registry_lookup(e->source, e->state, sizeof(e->state)) < 0) {
		snprintf(err, errlen, "'%s' is not protected by backupfs yet: run "
			 "'backupfs init %s' first (or give its state with "
			 "-o state=DIR)", e->source, e->source);
		ret = -ENOENT;
		goto fail;
	}
	snprintf(e->state_db, sizeof(e->state_db), "%s/meta.db", e->state);
	snprintf(path, sizeof(path), "%s/repo", e->state);
	if (stat(e->state_db, &st) < 0 ||
	    read_line_file(path, e->url, sizeof(e->url)) < 0) {
		snprintf(err, errlen, "state directory '%s' of '%s' is incomplete "
			 "(no meta.db or repo file): was 'backupfs init' "
			 "interrupted? Remove it and run init again", e->state,
			 e->source);
		ret = -ENOENT;
		goto fail;
	}
	ret = meta_open(e->state_db, 0, &m, merr, sizeof(merr));
	if (ret) {
		snprintf(err, errlen, "%s", merr);
		goto fail;
	}
	meta_close(m);		/* reopened after the fork (SQLite rule) */

	e->mk = crypto_master_key_new();
	if (!e->mk) {
		ret = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	ret = repo_open(e->url, &e->repo, err, errlen);
	if (ret)
		goto fail;
	ret = unlock_key(e, cfg->password_file && cfg->password_file[0] ?
				    cfg->password_file : NULL, err, errlen);
	if (ret)
		goto fail;

	snprintf(path, sizeof(path), "%s/staging", e->state);
	e->staging_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	snprintf(path, sizeof(path), "%s/journal", e->state);
	mkdir(path, 0700);
	e->journal_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (e->staging_fd < 0 || e->journal_fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot open '%s': %s", path,
			 strerror(errno));
		goto fail;
	}
	e->j = journal_new(e->journal_fd, JOURNAL_MEM_CAP);
	e->root_fd = dup(root_fd);
	if (!e->j || e->root_fd < 0 || fstat(root_fd, &st) < 0) {
		ret = -ENOMEM;
		snprintf(err, errlen, "cannot set up the journal: %s",
			 strerror(errno));
		goto fail;
	}
	e->root_dev = (uint64_t)st.st_dev;
	e->root_ino = (uint64_t)st.st_ino;
	e->shared_repo.repo = e->repo;
	e->shared_repo.mk = e->mk;
	e->shared_repo.cfg = e->rcfg;
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(&ra,
		PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	for (int i = 0; i < NSTRIPES; i++)
		pthread_rwlock_init(&e->stripes[i], &ra);
	pthread_rwlockattr_destroy(&ra);
	pthread_mutex_init(&e->ftab_lock, NULL);
	pthread_mutex_init(&e->lock, NULL);
	pthread_cond_init(&e->cond, NULL);
	for (int i = 0; i < NWORKERS; i++) {
		e->w[i].e = e;
		e->w[i].backoff = BACKOFF_MIN_NS;
	}
	*out = e;
	return 0;
fail:
	if (e->j)
		journal_free(e->j);
	if (e->root_fd >= 0)
		close(e->root_fd);
	if (e->staging_fd >= 0)
		close(e->staging_fd);
	if (e->journal_fd >= 0)
		close(e->journal_fd);
	repo_close(e->repo);
	crypto_master_key_free(e->mk);
	free(e);
	return ret;
}

/*
 * Staged copies of packs already in the repository (a crash between
 * marking the upload done and unlinking them): not needed, removed.
 */
static void drop_uploaded_staging(struct engine *e)
{
	int fd = dup(e->staging_fd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	int n = 0;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d))) {
		uint8_t name[32];
		size_t len = strlen(de->d_name);
		int state;

		if ((len != 64 && !(len == 70 && !strcmp(de->d_name + 64, ".index"))) ||
		    sodium_hex2bin(name, sizeof(name), de->d_name, 64, NULL, NULL,
				   NULL) < 0 ||
		    meta_pack_state(e->wm, name, &state) < 0 ||
		    state != META_PACK_UPLOADED)
			continue;
		if (unlinkat(e->staging_fd, de->d_name, 0) == 0)
			n++;
	}
	closedir(d);
	if (n)
		log_info("removed %d staged files of packs already in the "
			 "repository", n);
}

static int open_meta(struct engine *e, struct meta **m)
{
	char err[256];
	int ret = meta_open(e->state_db, 0, m, err, sizeof(err));

	if (ret)
		log_error("%s", err);
	return ret;
}

int engine_start(struct engine *e)
{
	uint64_t dev, ino;
	char sock[PATH_MAX], err[256];
	int ret, n;

	if ((ret = open_meta(e, &e->wm)) || (ret = open_meta(e, &e->um)))
		return ret;
	atomic_store(&e->clock_last, meta_now(e->wm));
	n = capture_recover(e->staging_fd, e->wm);
	if (n > 0)
		log_info("removed %d unfinished pack files from '%s/staging' "
			 "(left by a crash; their data is captured again)", n,
			 e->state);
	drop_uploaded_staging(e);
	if (meta_inode_devino(e->wm, META_ROOT_INODE, &dev, &ino) == 0 &&
	    (dev != e->root_dev || ino != e->root_ino))
		meta_inode_set_devino(e->wm, META_ROOT_INODE, e->root_dev,
				      e->root_ino);
	for (int i = 0; i < NWORKERS; i++) {
		struct worker *w = &e->w[i];

		if ((ret = open_meta(e, &w->m)))
			return ret;
		ret = capture_init(&w->cap, w->m, e->mk, e->staging_fd);
		if (ret) {
			log_error("cannot start capture: %s", strerror(-ret));
			return ret;
		}
		w->cap_ok = 1;
		w->cap.pack_target = e->rcfg.pack_size;
		w->cap.zstd_level = e->rcfg.zstd_level;
		if (pthread_create(&w->th, NULL, worker_main, w))
			return -EAGAIN;
		w->running = 1;
	}
	ret = engine_scan(e);
	if (ret) {
		log_error("cannot scan '%s' for changes made while unmounted: %s",
			  e->source, strerror(-ret));
		return ret;
	}
	if (pthread_create(&e->writer, NULL, writer_main, e))
		return -EAGAIN;
	e->writer_on = 1;
	if (pthread_create(&e->uploader, NULL, uploader_main, e))
		return -EAGAIN;
	e->uploader_on = 1;
	if (pthread_create(&e->timer, NULL, timer_main, e))
		return -EAGAIN;
	e->timer_on = 1;
	e->started = 1;
	if (ctl_sockpath(e->mnt, sock, sizeof(sock)) < 0 ||
	    ctl_server_start(sock, ctl_handle, e, &e->ctl, err, sizeof(err)) < 0)
		log_warning("no control socket for '%s' ('backupfs sync' and "
			    "'status' will not reach this daemon): %s", e->mnt,
			    err);
	return 0;
}

void engine_stop(struct engine *e)
{
	if (!e)
		return;
	if (e->started)
		cut_all(e, META_REASON_CLOSE, 0);
	pthread_mutex_lock(&e->lock);
	e->stopping = 1;
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
	ctl_server_stop(e->ctl);
	e->ctl = NULL;
	if (e->timer_on)
		pthread_join(e->timer, NULL);
	if (e->uploader_on)
		pthread_join(e->uploader, NULL);
	if (e->writer_on)
		pthread_join(e->writer, NULL);
	e->timer_on = e->uploader_on = e->writer_on = 0;
	for (int i = 0; i < NWORKERS; i++) {
		struct worker *w = &e->w[i];

		if (w->running)
			pthread_join(w->th, NULL);
		w->running = 0;
	}
	/* One last try to put what is committed into the repository; what
	 * fails stays queued for the next mount. */
	if (e->um && upload_pass(e, 0))
		log_warning("some packs of '%s' are not in the repository yet; "
			    "they are uploaded at the next mount", e->source);
	e->started = 0;
}

void engine_free(struct engine *e)
{
	if (!e)
		return;
	for (int i = 0; i < NWORKERS; i++) {
		struct worker *w = &e->w[i];

		while (w->head) {
			struct job *jb = w->head;

			w->head = jb->next;
			journal_cut_done(e->j, jb->cut);
			close(jb->fd);
			free(jb);
		}
		for (size_t k = 0; k < w->npend; k++)
			pending_free(&w->pend[k]);
		free(w->pend);
		if (w->cap_ok)
			capture_release(&w->cap);
		if (w->m)
			meta_close(w->m);
	}
	while (e->ev_head) {
		struct event *next = e->ev_head->next;

		ev_free(e->ev_head);
		e->ev_head = next;
	}
	for (size_t b = 0; b < FTAB_BUCKETS; b++)
		while (e->ftab[b]) {
			struct efile *ef = e->ftab[b];

			e->ftab[b] = ef->next;
			if (ef->fd >= 0)
				close(ef->fd);
			free(ef);
		}
	if (e->wm)
		meta_close(e->wm);
	if (e->um)
		meta_close(e->um);
	if (e->j)
		journal_free(e->j);
	repo_close(e->repo);
	crypto_master_key_free(e->mk);
	if (e->root_fd >= 0)
		close(e->root_fd);
	if (e->staging_fd >= 0)
		close(e->staging_fd);
	if (e->journal_fd >= 0)
		close(e->journal_fd);
	free(e);
}
