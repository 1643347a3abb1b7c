/*
 * snapview.c - see snapview.h and doc/snapshots.md §2.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "banned.h"
#include "log.h"
#include "meta.h"
#include "reader.h"
#include "snapview.h"
#include "util.h"

enum { SN_DIR = 1, SN_NODE };

/* A node of the view: D/.snapshots (SN_DIR: id = D's meta inode), or the
 * object `id` as it was at T (SN_NODE). */
struct snode {
	struct snode *next;		/* hash chain */
	uint64_t nlookup;
	int kind;
	uint64_t id, T;
	uint32_t type;			/* S_IFMT */
};

struct pooled {
	struct pooled *next;
	struct reader *r;
};

#define NODE_BUCKETS 1024

struct snapview {
	char state[4096];
	struct repository *repo;
	uint64_t root_dev, root_ino;
	double attr_timeout;
	pthread_mutex_t lock;		/* nodes and the pool */
	struct snode *nodes[NODE_BUCKETS];
	struct pooled *free_readers;
	int nfree;
};

/* Idle readers kept: each holds a chunk cache (up to READER_CACHE_BYTES)
 * and a database connection; more than the cores can use is memory. */
#define POOL_IDLE_MAX 4

/* An open file of the view: its version, with its own copy of the blobs
 * the reader needs. */
struct window {
	char *buf;
	uint64_t off;			/* a multiple of WINDOW_BYTES */
	size_t len;
	int valid;
	uint64_t used;			/* for LRU */
};

struct sfile {
	struct meta_version v;
	void *blob;
	/* Two aligned windows of decoded content: the kernel's readahead
	 * sends several requests at once, out of order, from different
	 * threads, and chunks are larger than requests, so without them
	 * each chunk would be read and authenticated once per request. */
	pthread_mutex_t mu;
	struct window w[2];
	uint64_t clock;
};

#define WINDOW_BYTES (4u << 20)

struct sdirent {
	char *name;
	uint64_t ino;
	uint32_t type;
	uint64_t id, T;			/* the entry's node; id 0: . and .. */
};

struct sdir {
	struct sdirent *e;
	size_t n, cap;
};

/* --- readers ------------------------------------------------------------- */

static struct reader *pool_get(struct snapview *v)
{
	struct pooled *p;
	struct reader *r = NULL;
	char err[512];

	pthread_mutex_lock(&v->lock);
	p = v->free_readers;
	if (p) {
		v->free_readers = p->next;
		v->nfree--;
	}
	pthread_mutex_unlock(&v->lock);
	if (p) {
		r = p->r;
		free(p);
		return r;
	}
	if (reader_open_shared(v->state, v->repo, &r, err, sizeof(err)) < 0) {
		log_error("snapshots view: %s", err);
		return NULL;
	}
	return r;
}

static void pool_put(struct snapview *v, struct reader *r)
{
	struct pooled *p;

	pthread_mutex_lock(&v->lock);
	if (v->nfree >= POOL_IDLE_MAX || !(p = malloc(sizeof(*p)))) {
		pthread_mutex_unlock(&v->lock);
		reader_close(r);
		return;
	}
	p->r = r;
	p->next = v->free_readers;
	v->free_readers = p;
	v->nfree++;
	pthread_mutex_unlock(&v->lock);
}

/* --- nodes --------------------------------------------------------------- */

static struct snode *node_of(fuse_ino_t ino)
{
	return (struct snode *)(uintptr_t)(ino & ~(fuse_ino_t)1);
}

static fuse_ino_t node_ino(struct snode *n)
{
	return (fuse_ino_t)(uintptr_t)n | 1;
}

static size_t node_hash(int kind, uint64_t id, uint64_t T)
{
	uint64_t h = id * 0x9e3779b97f4a7c15ull ^ T * 0xc2b2ae3d27d4eb4full ^
		     (uint64_t)kind;

	return (size_t)(h ^ (h >> 29)) % NODE_BUCKETS;
}

/* The node (kind, id, T) with one more lookup; NULL on ENOMEM. */
static struct snode *node_get(struct snapview *v, int kind, uint64_t id,
			      uint64_t T, uint32_t type)
{
	size_t b = node_hash(kind, id, T);
	struct snode *n;

	pthread_mutex_lock(&v->lock);
	for (n = v->nodes[b]; n; n = n->next)
		if (n->kind == kind && n->id == id && n->T == T)
			break;
	if (!n) {
		n = calloc(1, sizeof(*n));
		if (n) {
			n->kind = kind;
			n->id = id;
			n->T = T;
			n->type = type;
			n->next = v->nodes[b];
			v->nodes[b] = n;
		}
	}
	if (n)
		n->nlookup++;
	pthread_mutex_unlock(&v->lock);
	return n;
}

void snapview_forget(struct snapview *v, fuse_ino_t ino, uint64_t nlookup)
{
	struct snode *n = node_of(ino), **pp;

	pthread_mutex_lock(&v->lock);
	if (n->nlookup > nlookup) {
		n->nlookup -= nlookup;
	} else {
		for (pp = &v->nodes[node_hash(n->kind, n->id, n->T)]; *pp;
		     pp = &(*pp)->next)
			if (*pp == n) {
				*pp = n->next;
				free(n);
				break;
			}
	}
	pthread_mutex_unlock(&v->lock);
}

/* st_ino of (id, T): one number per object per instant, so hard links
 * share it within a snapshot and snapshots do not share them. */
static uint64_t synth_ino(uint64_t id, uint64_t T)
{
	uint64_t h = (id + 1) * 0x9e3779b97f4a7c15ull;

	h ^= T + 0x632be59bd9b4e019ull + (h << 6) + (h >> 2);
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h ? h : 1;
}

/* --- attributes ---------------------------------------------------------- */

static int node_attr(struct snapview *v, struct reader *r, struct snode *n,
		     struct stat *st)
{
	struct meta *m = reader_meta(r);
	struct meta_version ver;
	int err;

	memset(st, 0, sizeof(*st));
	st->st_blksize = 4096;
	if (n->kind == SN_DIR) {
		st->st_ino = synth_ino(n->id, 1);
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
		st->st_mtim.tv_sec = time(NULL);
		st->st_atim = st->st_ctim = st->st_mtim;
		return 0;
	}
	err = meta_version_at(m, n->id, n->T, &ver);
	if (err)
		return err;
	st->st_ino = synth_ino(n->id, n->T);
	st->st_mode = ver.mode;
	st->st_uid = ver.uid;
	st->st_gid = ver.gid;
	st->st_rdev = ver.rdev;
	st->st_size = (off_t)ver.size;
	if (S_ISREG(ver.mode)) {
		uint64_t sz;

		if (reader_size(r, &ver, &sz) == 0)
			st->st_size = (off_t)sz;
	}
	st->st_blocks = (st->st_size + 511) / 512;
	st->st_mtim.tv_sec = (time_t)(ver.mtime_ns / 1000000000);
	st->st_mtim.tv_nsec = (long)(ver.mtime_ns % 1000000000);
	st->st_atim = st->st_ctim = st->st_mtim;
	if (S_ISDIR(ver.mode)) {
		st->st_nlink = 2;
	} else {
		int l = meta_inode_links(m, n->id, n->T);

		st->st_nlink = l > 0 ? (nlink_t)l : 1;
	}
	(void)v;
	return 0;
}

static void reply_entry(struct snapview *v, fuse_req_t req, struct reader *r,
			struct snode *n)
{
	struct fuse_entry_param e;
	int err;

	memset(&e, 0, sizeof(e));
	err = node_attr(v, r, n, &e.attr);
	if (err) {
		snapview_forget(v, node_ino(n), 1);
		fuse_reply_err(req, -err);
		return;
	}
	e.ino = node_ino(n);
	/* The past does not change: cache it long. */
	e.attr_timeout = n->kind == SN_DIR ? v->attr_timeout : 3600;
	e.entry_timeout = n->kind == SN_DIR ? v->attr_timeout : 3600;
	if (fuse_reply_entry(req, &e) == -ENOENT)
		snapview_forget(v, e.ino, 1);
}

/* Is the object id alive at T (it has a version by then and had not died)? */
static int alive_at(struct meta *m, uint64_t id, uint64_t T)
{
	struct meta_version ver;
	uint64_t born, died;

	if (meta_inode_info(m, id, NULL, &born, &died) < 0 || born > T ||
	    died <= T)
		return 0;
	return meta_version_at(m, id, T, &ver) == 0;
}

void snapview_lookup_root(struct snapview *v, fuse_req_t req, uint64_t dev,
			  uint64_t ino)
{
	struct reader *r = pool_get(v);
	struct snode *n;
	uint64_t id;
	int err;

	if (!r) {
		fuse_reply_err(req, EIO);
		return;
	}
	if (dev == v->root_dev && ino == v->root_ino) {
		id = META_ROOT_INODE;
		err = 0;
	} else {
		err = meta_inode_find_live(reader_meta(r), dev, ino, &id);
	}
	if (err) {
		pool_put(v, r);
		fuse_reply_err(req, ENOENT);
		return;
	}
	n = node_get(v, SN_DIR, id, 0, S_IFDIR);
	if (!n)
		fuse_reply_err(req, ENOMEM);
	else
		reply_entry(v, req, r, n);
	pool_put(v, r);
}

/* The instant a name in .snapshots stands for: a snapshot or "@TIME". */
static int snapshot_time(struct reader *r, const char *name, uint64_t *T)
{
	struct meta_snapshot sn;
	uint64_t start;

	if (name[0] == '@') {
		if (reader_parse_time(name + 1, T) < 0)
			return -ENOENT;
		if (reader_history_start(r, &start) == 0 && *T < start)
			return -ENOENT;
		return 0;
	}
	if (meta_snapshot_find(reader_meta(r), name, &sn) < 0)
		return -ENOENT;
	*T = sn.t;
	return 0;
}

void snapview_lookup(struct snapview *v, fuse_req_t req, fuse_ino_t parent,
		     const char *name)
{
	struct snode *p = node_of(parent), *n = NULL;
	struct reader *r = pool_get(v);
	struct meta *m;
	uint64_t id, T;
	uint32_t kind;
	int err;

	if (!r) {
		fuse_reply_err(req, EIO);
		return;
	}
	m = reader_meta(r);
	if (p->kind == SN_DIR) {
		err = snapshot_time(r, name, &T);
		if (!err && !alive_at(m, p->id, T))
			err = -ENOENT;
		id = p->id;
	} else {
		T = p->T;
		err = meta_lookup(m, p->id, name, strlen(name), T, &id);
	}
	if (!err)
		err = meta_inode_info(m, id, &kind, NULL, NULL);
	if (!err) {
		n = node_get(v, SN_NODE, id, T, kind);
		if (!n)
			err = -ENOMEM;
	}
	if (err == -ENOENT) {
		struct fuse_entry_param e;

		memset(&e, 0, sizeof(e));
		e.entry_timeout = p->kind == SN_DIR ? 0 : 3600;
		fuse_reply_entry(req, &e);
	} else if (err) {
		fuse_reply_err(req, -err);
	} else {
		reply_entry(v, req, r, n);
	}
	pool_put(v, r);
}

void snapview_getattr(struct snapview *v, fuse_req_t req, fuse_ino_t ino)
{
	struct snode *n = node_of(ino);
	struct reader *r = pool_get(v);
	struct stat st;
	int err;

	if (!r) {
		fuse_reply_err(req, EIO);
		return;
	}
	err = node_attr(v, r, n, &st);
	pool_put(v, r);
	if (err)
		fuse_reply_err(req, -err);
	else
		fuse_reply_attr(req, &st, n->kind == SN_DIR ? v->attr_timeout :
							      3600);
}

/* --- directories --------------------------------------------------------- */

static int sdir_add(struct sdir *d, const char *name, size_t len,
		    uint64_t ino, uint32_t type, uint64_t id, uint64_t T)
{
	d->e = array_grow(d->e, &d->cap, d->n + 1, sizeof(*d->e));
	if (!d->e)
		return -ENOMEM;
	d->e[d->n].name = malloc(len + 1);
	if (!d->e[d->n].name)
		return -ENOMEM;
	memcpy(d->e[d->n].name, name, len);
	d->e[d->n].name[len] = '\0';
	d->e[d->n].ino = ino;
	d->e[d->n].type = type;
	d->e[d->n].id = id;
	d->e[d->n].T = T;
	d->n++;
	return 0;
}

struct list_ctx {
	struct sdir *d;
	struct meta *m;
	uint64_t dir_id, T;
};

static int list_snap_cb(void *arg, const struct meta_snapshot *sn)
{
	struct list_ctx *c = arg;

	if (!alive_at(c->m, c->dir_id, sn->t))
		return 0;
	return sdir_add(c->d, sn->name, strlen(sn->name),
			synth_ino(c->dir_id, sn->t), S_IFDIR, c->dir_id, sn->t);
}

static int list_child_cb(void *arg, const void *name, size_t len,
			 uint64_t inode, uint32_t kind)
{
	struct list_ctx *c = arg;

	return sdir_add(c->d, name, len, synth_ino(inode, c->T), kind, inode,
			c->T);
}

static void sdir_free(struct sdir *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->e[i].name);
	free(d->e);
	free(d);
}

void snapview_opendir(struct snapview *v, fuse_req_t req, fuse_ino_t ino,
		      struct fuse_file_info *fi)
{
	struct snode *n = node_of(ino);
	struct sdir *d = calloc(1, sizeof(*d));
	struct reader *r = pool_get(v);
	struct list_ctx c;
	int err;

	if (!d || !r) {
		free(d);
		if (r)
			pool_put(v, r);
		fuse_reply_err(req, d ? EIO : ENOMEM);
		return;
	}
	c.d = d;
	c.m = reader_meta(r);
	c.dir_id = n->id;
	c.T = n->T;
	err = sdir_add(d, ".", 1, synth_ino(n->id, n->kind == SN_DIR ? 1 : n->T),
		       S_IFDIR, 0, 0);
	if (!err)
		err = sdir_add(d, "..", 2, 1, S_IFDIR, 0, 0);
	if (!err)
		err = n->kind == SN_DIR ?
			      meta_snapshots(c.m, list_snap_cb, &c) :
			      meta_readdir(c.m, n->id, n->T, list_child_cb, &c);
	pool_put(v, r);
	if (err) {
		sdir_free(d);
		fuse_reply_err(req, -err);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)d;
	fi->cache_readdir = n->kind == SN_NODE;
	fi->keep_cache = n->kind == SN_NODE;
	if (fuse_reply_open(req, fi) == -ENOENT)
		sdir_free(d);
}

void snapview_readdir(struct snapview *v, fuse_req_t req, fuse_ino_t ino,
		      size_t size, off_t off, struct fuse_file_info *fi,
		      int plus)
{
	struct sdir *d = (struct sdir *)(uintptr_t)fi->fh;
	char *buf = malloc(size), *p = buf;
	struct reader *r = NULL;
	size_t rem = size;

	(void)ino;
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* With readdirplus every entry comes with its node and attributes,
	 * so "ls -l" of a snapshot needs no lookup per name. */
	if (plus)
		r = pool_get(v);
	for (size_t i = off < 0 ? 0 : (size_t)off; i < d->n; i++) {
		struct sdirent *de = &d->e[i];
		size_t len;

		if (plus) {
			struct fuse_entry_param e;
			struct snode *n = NULL;

			memset(&e, 0, sizeof(e));
			e.attr.st_ino = de->ino;
			e.attr.st_mode = de->type;
			if (r && de->id &&
			    (n = node_get(v, SN_NODE, de->id, de->T, de->type))) {
				if (node_attr(v, r, n, &e.attr) == 0) {
					e.ino = node_ino(n);
					e.attr_timeout = e.entry_timeout = 3600;
				} else {
					snapview_forget(v, node_ino(n), 1);
					n = NULL;
					e.attr.st_ino = de->ino;
					e.attr.st_mode = de->type;
				}
			}
			/* ino 0 (no node): the kernel takes the name and
			 * type and looks the entry up when it is used. */
			len = fuse_add_direntry_plus(req, p, rem, de->name, &e,
						     (off_t)(i + 1));
			if (len > rem) {
				if (n)
					snapview_forget(v, node_ino(n), 1);
				break;
			}
		} else {
			struct stat st = { .st_ino = de->ino,
					   .st_mode = de->type };

			len = fuse_add_direntry(req, p, rem, de->name, &st,
						(off_t)(i + 1));
			if (len > rem)
				break;
		}
		p += len;
		rem -= len;
	}
	if (r)
		pool_put(v, r);
	fuse_reply_buf(req, buf, size - rem);
	free(buf);
}

void snapview_releasedir(struct snapview *v, fuse_req_t req,
			 struct fuse_file_info *fi)
{
	(void)v;
	sdir_free((struct sdir *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

/* --- files --------------------------------------------------------------- */

void snapview_open(struct snapview *v, fuse_req_t req, fuse_ino_t ino,
		   struct fuse_file_info *fi)
{
	struct snode *n = node_of(ino);
	struct reader *r;
	struct meta_version ver;
	struct sfile *f;
	size_t need;
	char *q;
	int err;

	if ((fi->flags & O_ACCMODE) != O_RDONLY ||
	    (fi->flags & (O_TRUNC | O_APPEND))) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (n->kind != SN_NODE || n->type != S_IFREG) {
		fuse_reply_err(req, n->type == S_IFDIR ? EISDIR : EACCES);
		return;
	}
	r = pool_get(v);
	if (!r) {
		fuse_reply_err(req, EIO);
		return;
	}
	err = meta_version_at(reader_meta(r), n->id, n->T, &ver);
	pool_put(v, r);
	if (err) {
		fuse_reply_err(req, -err);
		return;
	}
	need = ver.manifest_len + ver.xattrs_len + 1;
	f = calloc(1, sizeof(*f));
	if (!f || !(f->blob = malloc(need))) {
		free(f);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	f->v = ver;
	q = f->blob;
	if (ver.manifest) {
		memcpy(q, ver.manifest, ver.manifest_len);
		f->v.manifest = q;
		q += ver.manifest_len;
	}
	if (ver.xattrs) {
		memcpy(q, ver.xattrs, ver.xattrs_len);
		f->v.xattrs = q;
	}
	f->v.symlink = NULL;
	pthread_mutex_init(&f->mu, NULL);
	fi->fh = (uint64_t)(uintptr_t)f;
	fi->keep_cache = 1;		/* the past does not change */
	fi->noflush = 1;
	if (fuse_reply_open(req, fi) == -ENOENT) {
		free(f->blob);
		free(f);
	}
}

/* Under f->mu: the window holding aligned offset base, decoded if need be. */
static struct window *get_window(struct snapview *v, struct sfile *f,
				 uint64_t base, int *err)
{
	struct window *w = NULL;
	struct reader *r;
	size_t got = 0;

	for (int i = 0; i < 2; i++)
		if (f->w[i].valid && f->w[i].off == base)
			w = &f->w[i];
	if (w) {
		w->used = ++f->clock;
		return w;
	}
	w = f->w[0].used <= f->w[1].used ? &f->w[0] : &f->w[1];
	if (!w->buf && !(w->buf = malloc(WINDOW_BYTES))) {
		*err = -ENOMEM;
		return NULL;
	}
	w->valid = 0;
	r = pool_get(v);
	if (!r) {
		*err = -EIO;
		return NULL;
	}
	*err = reader_read(r, &f->v, base, w->buf, WINDOW_BYTES, &got);
	if (*err && *err != -ENOKEY)
		log_error("snapshots view: %s", reader_errmsg(r));
	pool_put(v, r);
	if (*err)
		return NULL;
	w->off = base;
	w->len = got;
	w->valid = 1;
	w->used = ++f->clock;
	return w;
}

void snapview_read(struct snapview *v, fuse_req_t req, size_t size,
		   off_t off, struct fuse_file_info *fi)
{
	struct sfile *f = (struct sfile *)(uintptr_t)fi->fh;
	uint64_t o = (uint64_t)off, end = o + size;
	char *out = malloc(size ? size : 1);
	size_t done = 0;
	int err = 0;

	if (!out) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_lock(&f->mu);
	while (o + done < end) {
		uint64_t at = o + done, base = at - at % WINDOW_BYTES;
		struct window *w = get_window(v, f, base, &err);
		size_t n;

		if (!w || at - base >= w->len)
			break;		/* an error, or the end of the content */
		n = w->len - (size_t)(at - base);
		if (n > end - at)
			n = (size_t)(end - at);
		memcpy(out + done, w->buf + (at - base), n);
		done += n;
		if (w->len < WINDOW_BYTES)
			break;		/* the last window */
	}
	pthread_mutex_unlock(&f->mu);
	if (err && !done)
		fuse_reply_err(req, err == -ENOKEY ? EACCES :
				    err == -ENOMEM ? ENOMEM : EIO);
	else
		fuse_reply_buf(req, out, done);
	free(out);
}

void snapview_release(struct snapview *v, fuse_req_t req,
		      struct fuse_file_info *fi)
{
	struct sfile *f = (struct sfile *)(uintptr_t)fi->fh;

	(void)v;
	pthread_mutex_destroy(&f->mu);
	free(f->w[0].buf);
	free(f->w[1].buf);
	free(f->blob);
	free(f);
	fuse_reply_err(req, 0);
}

void snapview_readlink(struct snapview *v, fuse_req_t req, fuse_ino_t ino)
{
	struct snode *n = node_of(ino);
	struct reader *r = pool_get(v);
	struct meta_version ver;
	int err;

	if (!r) {
		fuse_reply_err(req, EIO);
		return;
	}
	err = n->kind == SN_NODE ?
		      meta_version_at(reader_meta(r), n->id, n->T, &ver) :
		      -EINVAL;
	if (!err && !ver.symlink)
		err = -EINVAL;
	if (err)
		fuse_reply_err(req, -err);
	else
		fuse_reply_readlink(req, ver.symlink);
	pool_put(v, r);
}

/* --- xattrs (the blob of doc/versioning.md §9) --------------------------- */

/*
 * getxattr (name) or listxattr (NULL) from the version's xattrs blob,
 * decoded by reader_xattr_next; the answer is copied out before the
 * reader goes back to the pool (the blob is the reader's).
 */
static void xattr_op(struct snapview *v, fuse_req_t req, fuse_ino_t ino,
		     const char *name, size_t size)
{
	struct snode *n = node_of(ino);
	struct reader *r;
	struct meta_version ver;
	char ename[READER_XATTR_NAME_MAX + 1], *out = NULL;
	size_t outlen = 0, pos = 0;
	int err, found = 0;

	if (n->kind != SN_NODE) {
		if (name)
			fuse_reply_err(req, ENODATA);
		else if (size)
			fuse_reply_buf(req, NULL, 0);
		else
			fuse_reply_xattr(req, 0);
		return;
	}
	r = pool_get(v);
	if (!r) {
		fuse_reply_err(req, EIO);
		return;
	}
	err = meta_version_at(reader_meta(r), n->id, n->T, &ver);
	while (!err && ver.xattrs && !found) {
		const void *val;
		size_t vlen, add;
		char *grown;
		int more = reader_xattr_next(ver.xattrs, ver.xattrs_len, &pos,
					     ename, &val, &vlen);

		if (more <= 0) {
			err = more;
			break;
		}
		if (name && strcmp(name, ename))
			continue;
		add = name ? vlen : strlen(ename) + 1;
		grown = realloc(out, outlen + add + 1);
		if (!grown) {
			err = -ENOMEM;
			break;
		}
		out = grown;
		memcpy(out + outlen, name ? val : (const void *)ename, add);
		outlen += add;
		found = name != NULL;
	}
	pool_put(v, r);
	if (err)
		fuse_reply_err(req, err == -EBADMSG ? EIO : -err);
	else if (name && !found)
		fuse_reply_err(req, ENODATA);
	else if (size == 0)
		fuse_reply_xattr(req, outlen);
	else if (size < outlen)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, out, outlen);
	free(out);
}

void snapview_getxattr(struct snapview *v, fuse_req_t req, fuse_ino_t ino,
		       const char *name, size_t size)
{
	xattr_op(v, req, ino, name, size);
}

void snapview_listxattr(struct snapview *v, fuse_req_t req, fuse_ino_t ino,
			size_t size)
{
	xattr_op(v, req, ino, NULL, size);
}

/* --- life ---------------------------------------------------------------- */

struct snapview *snapview_new(const char *state, struct repository *repo,
			      uint64_t root_dev, uint64_t root_ino,
			      double attr_timeout)
{
	struct snapview *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	snprintf(v->state, sizeof(v->state), "%s", state);
	v->repo = repo;
	v->root_dev = root_dev;
	v->root_ino = root_ino;
	v->attr_timeout = attr_timeout;
	pthread_mutex_init(&v->lock, NULL);
	return v;
}

void snapview_free(struct snapview *v)
{
	if (!v)
		return;
	while (v->free_readers) {
		struct pooled *p = v->free_readers;

		v->free_readers = p->next;
		reader_close(p->r);
		free(p);
	}
	for (size_t b = 0; b < NODE_BUCKETS; b++)
		while (v->nodes[b]) {
			struct snode *n = v->nodes[b];

			v->nodes[b] = n->next;
			free(n);
		}
	pthread_mutex_destroy(&v->lock);
	free(v);
}

void snapview_lseek(struct snapview *v, fuse_req_t req, off_t off, int whence,
		    struct fuse_file_info *fi)
{
	struct sfile *f = (struct sfile *)(uintptr_t)fi->fh;
	off_t size = (off_t)f->v.size;

	(void)v;
	/* No holes are recorded: all of it is data (cp --sparse=always
	 * still finds the zeros). */
	if (whence == SEEK_DATA || whence == SEEK_HOLE) {
		if (off < 0 || off >= size)
			fuse_reply_err(req, ENXIO);
		else
			fuse_reply_lseek(req, whence == SEEK_DATA ? off : size);
	} else {
		fuse_reply_err(req, EINVAL);
	}
}
