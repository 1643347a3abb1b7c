/*
 * reader.c - see reader.h.
 *
 * Nothing here trusts a byte from a pack, local or remote: the sealed
 * length and offset come from meta.db and are bounded before anything is
 * allocated or read, and the raw length the blob must open to is the
 * manifest's (bounded by manifest_decode, capture.h invariant 1), so a blob
 * that authenticates but belongs elsewhere, or a database that names the
 * wrong chunk, fails instead of returning someone else's bytes.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "banned.h"
#include "capture.h"
#include "compress.h"
#include "crypto.h"
#include "fdio.h"
#include "meta.h"
#include "mountinfo.h"
#include "pack.h"
#include "password.h"
#include "reader.h"
#include "repository.h"
#include "state.h"

#define HEX_PACK	(2 * PACK_ID_BYTES)	/* 64 */
/* Chunk ids in messages: enough to tell them apart, short enough to read. */
#define HEX_SHORT	16

struct cached_chunk {
	uint8_t id[CRYPTO_ID_BYTES];
	uint8_t *data;
	size_t len;
	uint64_t used;			/* LRU tick */
};

/* Where the pack of the last chunk read was found. */
struct pack_src {
	uint64_t pack_id;		/* meta's row id; 0: none */
	int fd;				/* a local copy, or -1: the repository */
	char obj[16 + HEX_PACK];	/* data/<xx>/<hex> */
	char what[PATH_MAX + 200];	/* for messages: the file or object */
};

struct reader {
	struct meta *m;
	struct repository *own;		/* opened by reader_unlock */
	struct repository *repo;	/* own or the caller's; NULL: locked */
	struct compressor z;
	int staging, cache;		/* directory fds, -1 if absent */
	char state[PATH_MAX];
	char url[PATH_MAX + 16];

	/* The decoded manifest of the last version read. */
	struct manifest man;
	uint64_t man_inode, man_t;
	size_t man_len;
	int man_valid;

	struct cached_chunk cache_e[READER_CACHE_CHUNKS];
	size_t ncache;
	size_t cache_bytes;
	uint64_t tick;

	struct pack_src src;
	uint8_t *sbuf;			/* one sealed blob */
	size_t scap;

	char err[PATH_MAX + 400];
};

static void set_err(struct reader *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_err(struct reader *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->err, sizeof(r->err), fmt, ap);
	va_end(ap);
}

/* --- locating a path ------------------------------------------------------ */

/*
 * Appends the components of src to the canonical absolute path buf,
 * folding "." and ".." lexically (what is left of a path that no longer
 * exists cannot be asked of the file system).  0 or -ENAMETOOLONG.
 */
static int append_lexical(char *buf, size_t len, const char *src)
{
	size_t n = strlen(buf);

	while (*src) {
		const char *e;
		size_t k;

		while (*src == '/')
			src++;
		if (!*src)
			break;
		e = strchr(src, '/');
		k = e ? (size_t)(e - src) : strlen(src);
		if (k == 1 && src[0] == '.') {
			/* nothing */
		} else if (k == 2 && src[0] == '.' && src[1] == '.') {
			while (n > 1 && buf[n - 1] != '/')
				n--;
			if (n > 1)
				n--;	/* the slash, unless it is the root's */
			buf[n] = '\0';
		} else {
			if (n + (n > 1) + k + 1 > len)
				return -ENAMETOOLONG;
			if (n > 1)
				buf[n++] = '/';
			memcpy(buf + n, src, k);
			n += k;
			buf[n] = '\0';
		}
		src += k;
	}
	return 0;
}

/*
 * The canonical absolute form of path, which need not exist: realpath of
 * the longest existing prefix, then the rest lexically.  The last component
 * is kept as is (not followed) unless it is "." or ".." or followed by '/'.
 */
static int canonical(const char *path, char *out, size_t outlen, char *err,
		     size_t errlen)
{
	char abs[PATH_MAX * 2], head[PATH_MAX * 2], real[PATH_MAX];
	const char *rest;
	size_t n, cut;
	int ret;

	if (path[0] == '/') {
		n = (size_t)snprintf(abs, sizeof(abs), "%s", path);
	} else {
		char cwd[PATH_MAX];

		if (!getcwd(cwd, sizeof(cwd))) {
			snprintf(err, errlen, "cannot find the current directory: "
				 "%s", strerror(errno));
			return -errno;
		}
		n = (size_t)snprintf(abs, sizeof(abs), "%s/%s", cwd, path);
	}
	if (n >= sizeof(abs)) {
		snprintf(err, errlen, "path '%.200s...' is too long", path);
		return -ENAMETOOLONG;
	}
	memcpy(head, abs, n + 1);
	/* Keep the last component out of realpath (do not follow a link). */
	cut = n;
	if (n > 1 && head[n - 1] != '/') {
		char *slash = strrchr(head, '/');
		const char *last = slash + 1;

		if (strcmp(last, ".") && strcmp(last, ".."))
			cut = (size_t)(slash - head);
	}
	for (;;) {
		if (cut == 0) {
			memcpy(real, "/", 2);
			break;
		}
		head[cut] = '\0';
		if (realpath(head, real))
			break;
		if (errno != ENOENT && errno != ENOTDIR) {
			ret = -errno;
			if (errno == ENOTCONN)
				snprintf(err, errlen, "cannot resolve '%s': '%s' "
					 "is a stale mount (transport endpoint "
					 "is not connected)", path, head);
			else
				snprintf(err, errlen, "cannot resolve '%s': %s",
					 path, strerror(errno));
			return ret;
		}
		/* One component up; the rest is appended lexically. */
		while (cut > 0 && head[cut - 1] == '/')
			cut--;
		while (cut > 0 && head[cut - 1] != '/')
			cut--;
		while (cut > 1 && head[cut - 1] == '/')
			cut--;
		if (cut == 1)
			cut = 0;	/* "/" */
	}
	rest = abs + cut;
	if (strlen(real) >= outlen) {
		snprintf(err, errlen, "path '%.200s' is too long", path);
		return -ENAMETOOLONG;
	}
	memcpy(out, real, strlen(real) + 1);
	if (append_lexical(out, outlen, rest)) {
		snprintf(err, errlen, "path '%.200s' is too long", path);
		return -ENAMETOOLONG;
	}
	return 0;
}

/*
 * The deepest backupfs mount containing path (canonical): its mountpoint
 * and its SOURCE (the fsname).  1 if found, 0 if not, -errno.
 */
static int find_mount(const char *path, char *mp, size_t mplen, char *source,
		      size_t srclen)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0, best = 0;
	int found = 0;

	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		char *save = NULL, *fld[6] = { NULL }, *t, *type, *src;
		int i = 0;

		/* id parent maj:min root mountpoint options [opt...] - type src */
		for (t = strtok_r(line, " \n", &save); t;
		     t = strtok_r(NULL, " \n", &save)) {
			fld[i++] = t;
			if (i == 6)
				break;	/* the rest is read below */
		}
		if (i < 6)
			continue;
		for (t = fld[5]; t && strcmp(t, "-");
		     t = strtok_r(NULL, " \n", &save))
			;
		type = t ? strtok_r(NULL, " \n", &save) : NULL;
		src = type ? strtok_r(NULL, " \n", &save) : NULL;
		if (!src || strcmp(type, BACKUPFS_FSTYPE))
			continue;
		mountinfo_unescape(fld[4]);
		if (!path_within(path, fld[4]) || strlen(fld[4]) < best)
			continue;
		mountinfo_unescape(src);
		/* Later lines are mounted on top: >= lets them win. */
		if ((size_t)snprintf(mp, mplen, "%s", fld[4]) >= mplen ||
		    (size_t)snprintf(source, srclen, "%s", src) >= srclen)
			continue;
		best = strlen(fld[4]);
		found = 1;
	}
	free(line);
	fclose(f);
	return found;
}

/* path relative to dir (path_within(path, dir) holds): "/" or "/a/b". */
static int relative(const char *path, const char *dir, char *rel, size_t rlen)
{
	const char *p = strcmp(dir, "/") ? path + strlen(dir) : path;

	if (!*p)
		p = "/";
	return (size_t)snprintf(rel, rlen, "%s", p) >= rlen ? -ENAMETOOLONG : 0;
}

static int same_dir(const char *a, const char *b)
{
	struct stat sa, sb;

	if (stat(a, &sa) == 0 && stat(b, &sb) == 0)
		return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
	return strcmp(a, b) == 0;
}

/*
 * The registered SOURCE containing path, nearest first (path itself, then
 * its parents): 0 with source and its state, or -ENOENT.  want: only a
 * SOURCE whose state is this directory.
 */
static int registered_ancestor(const char *path, const char *want,
			       char *source, size_t srclen, char *state,
			       size_t slen)
{
	char a[PATH_MAX];
	size_t n = strlen(path);

	if (n >= sizeof(a))
		return -ENAMETOOLONG;
	memcpy(a, path, n + 1);
	for (;;) {
		if (registry_lookup(a, state, slen) == 0 &&
		    (!want || same_dir(state, want))) {
			if ((size_t)snprintf(source, srclen, "%s", a) >= srclen)
				return -ENAMETOOLONG;
			return 0;
		}
		if (!strcmp(a, "/"))
			return -ENOENT;
		while (n > 1 && a[n - 1] != '/')
			n--;
		if (n > 1)
			n--;
		a[n] = '\0';
	}
}

int reader_locate(const char *path, const char *state_opt, char *state,
		  size_t slen, char *rel, size_t rlen, char *err,
		  size_t errlen)
{
	char abs[PATH_MAX], mp[PATH_MAX], source[PATH_MAX], reg[PATH_MAX];
	int ret, mounted;

	if (!path || !*path) {
		snprintf(err, errlen, "an empty path names nothing");
		return -EINVAL;
	}
	ret = canonical(path, abs, sizeof(abs), err, errlen);
	if (ret)
		return ret;
	mounted = find_mount(abs, mp, sizeof(mp), source, sizeof(source));
	if (mounted < 0) {
		snprintf(err, errlen, "cannot read /proc/self/mountinfo: %s",
			 strerror(-mounted));
		return mounted;
	}

	if (state_opt) {
		if ((size_t)snprintf(state, slen, "%s", state_opt) >= slen)
			goto too_long;
		if (mounted)
			ret = relative(abs, mp, rel, rlen);
		else if (registered_ancestor(abs, state_opt, source,
					     sizeof(source), reg,
					     sizeof(reg)) == 0)
			ret = relative(abs, source, rel, rlen);
		else {
			/* A state whose SOURCE is gone: PATH names a place in
			 * the tree itself. */
			if (rlen < 2)
				goto too_long;
			memcpy(rel, "/", 2);
			ret = append_lexical(rel, rlen, path);
		}
		if (ret)
			goto too_long;
		return 0;
	}

	if (mounted) {
		if (registry_lookup(source, state, slen) < 0) {
			snprintf(err, errlen, "'%s' is in the backupfs mount '%s' "
				 "of '%s', but no state is registered for '%s': "
				 "give its state directory with --state DIR",
				 path, mp, source, source);
			return -ENOENT;
		}
		if (relative(abs, mp, rel, rlen))
			goto too_long;
		return 0;
	}
	ret = registered_ancestor(abs, NULL, source, sizeof(source), state,
				  slen);
	if (ret == -ENOENT) {
		snprintf(err, errlen, "'%s' is not in a directory protected by "
			 "backupfs (no source registered with 'backupfs init' "
			 "contains '%s'): give the state directory with --state "
			 "DIR", path, abs);
		return ret;
	}
	if (ret || relative(abs, source, rel, rlen))
		goto too_long;
	return 0;

too_long:
	snprintf(err, errlen, "path '%.200s' is too long", path);
	return -ENAMETOOLONG;
}

/* --- opening -------------------------------------------------------------- */

static int open_dir(const char *state, const char *sub)
{
	char path[PATH_MAX + 16];

	snprintf(path, sizeof(path), "%s/%s", state, sub);
	return open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* STATE/repo: the repository URL on one line. */
static int read_url(const char *state, char *url, size_t len)
{
	char path[PATH_MAX + 16];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/repo", state);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	if (!fgets(url, (int)len, f)) {
		fclose(f);
		return -EINVAL;
	}
	fclose(f);
	n = strcspn(url, "\r\n");
	url[n] = '\0';
	return n ? 0 : -EINVAL;
}

int reader_open_shared(const char *state, struct repository *repo,
		       struct reader **out, char *err, size_t errlen)
{
	char path[PATH_MAX + 16];
	struct stat st;
	struct reader *r;
	int ret;

	*out = NULL;
	if ((size_t)snprintf(path, sizeof(path), "%s/meta.db", state) >=
	    sizeof(path) || strlen(state) >= sizeof(r->state)) {
		snprintf(err, errlen, "state directory '%.200s' has too long a "
			 "name", state);
		return -ENAMETOOLONG;
	}
	ret = stat(state, &st) < 0 ? -errno :
	      !S_ISDIR(st.st_mode) ? -ENOTDIR : 0;
	if (ret) {
		snprintf(err, errlen, "state directory '%s' %s", state,
			 ret == -ENOENT ? "does not exist (run 'backupfs init', "
			 "or give the right --state DIR)" :
			 ret == -ENOTDIR ? "is not a directory" : strerror(-ret));
		return ret;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r->staging = r->cache = r->src.fd = -1;
	memcpy(r->state, state, strlen(state) + 1);
	ret = compressor_init(&r->z, 0);
	if (ret) {
		snprintf(err, errlen, "cannot set up decompression: %s",
			 strerror(-ret));
		free(r);
		return ret;
	}
	ret = meta_open(path, 0, &r->m, err, errlen);
	if (ret) {
		reader_close(r);
		return ret;
	}
	/* Missing ones just mean nothing is staged or cached. */
	r->staging = open_dir(state, "staging");
	r->cache = open_dir(state, "cache");
	if (read_url(state, r->url, sizeof(r->url)) < 0)
		r->url[0] = '\0';
	r->repo = repo;
	*out = r;
	return 0;
}

int reader_unlock(struct reader *r, const char *password_file, char *err,
		  size_t errlen)
{
	char *pw = NULL;
	size_t pwlen;
	int ret;

	if (r->repo)
		return 0;
	ret = read_url(r->state, r->url, sizeof(r->url));
	if (ret) {
		snprintf(err, errlen, "cannot read the repository URL from "
			 "'%s/repo': %s", r->state, ret == -EINVAL ?
			 "empty or malformed" : strerror(-ret));
		return ret;
	}
	ret = crypto_init();
	if (ret) {
		snprintf(err, errlen, "cannot initialise libsodium");
		return ret;
	}
	ret = password_get(password_file, r->url, 0, &pw, &pwlen, err, errlen);
	if (ret)
		return ret;
	ret = repository_open(r->url, pw, pwlen, &r->own, err, errlen);
	password_free(pw);
	if (ret)
		return ret;
	r->repo = r->own;
	return 0;
}

int reader_open(const char *state, int with_key, const char *password_file,
		struct reader **out, char *err, size_t errlen)
{
	int ret = reader_open_shared(state, NULL, out, err, errlen);

	if (ret || !with_key)
		return ret;
	ret = reader_unlock(*out, password_file, err, errlen);
	if (ret) {
		reader_close(*out);
		*out = NULL;
	}
	return ret;
}

static void drop_src(struct reader *r)
{
	if (r->src.fd >= 0)
		close(r->src.fd);
	r->src.fd = -1;
	r->src.pack_id = 0;
}

static void drop_cache(struct reader *r)
{
	for (size_t i = 0; i < r->ncache; i++) {
		sodium_memzero(r->cache_e[i].data, r->cache_e[i].len);
		free(r->cache_e[i].data);
	}
	r->ncache = 0;
	r->cache_bytes = 0;
}

void reader_close(struct reader *r)
{
	if (!r)
		return;
	drop_src(r);
	drop_cache(r);
	manifest_release(&r->man);
	free(r->sbuf);
	if (r->staging >= 0)
		close(r->staging);
	if (r->cache >= 0)
		close(r->cache);
	compressor_release(&r->z);
	meta_close(r->m);
	repository_close(r->own);
	free(r);
}

struct meta *reader_meta(struct reader *r)
{
	return r->m;
}

const char *reader_state(const struct reader *r)
{
	return r->state;
}

const char *reader_repo_url(const struct reader *r)
{
	return r->url;
}

const char *reader_errmsg(const struct reader *r)
{
	return r->err;
}

/* --- names ---------------------------------------------------------------- */

int reader_resolve(struct reader *r, const char *rel, uint64_t T,
		   uint64_t *inode)
{
	uint64_t cur = META_ROOT_INODE;
	const char *p = rel;

	r->err[0] = '\0';
	while (*p) {
		const char *e;
		size_t k;
		int ret;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		e = strchr(p, '/');
		k = e ? (size_t)(e - p) : strlen(p);
		if (k == 1 && p[0] == '.') {
			p += k;
			continue;
		}
		if (k == 2 && p[0] == '.' && p[1] == '.')
			return -EINVAL;
		ret = meta_lookup(r->m, cur, p, k, T, &cur);
		if (ret == -ENOENT && T == META_T_LIVE)
			ret = meta_lookup_latest(r->m, cur, p, k, &cur, NULL,
						 NULL);
		if (ret)
			return ret;
		p += k;
	}
	*inode = cur;
	return 0;
}

static int first_version(void *arg, const struct meta_version *v)
{
	*(uint64_t *)arg = v->t;
	return 1;	/* stop: the first is all we want */
}

int reader_history_start(struct reader *r, uint64_t *t)
{
	int ret = meta_versions(r->m, META_ROOT_INODE, first_version, t);

	return ret == 1 ? 0 : ret ? ret : -ENOENT;
}

/* --- content -------------------------------------------------------------- */

/* The decoded manifest of v, cached for the next read of the same version. */
static int get_manifest(struct reader *r, const struct meta_version *v)
{
	char when[READER_TIME_LEN];
	int ret;

	if (r->man_valid && r->man_inode == v->inode && r->man_t == v->t &&
	    r->man_len == v->manifest_len)
		return 0;
	r->man_valid = 0;
	reader_format_time(v->t, when, sizeof(when));
	if (!S_ISREG(v->mode)) {
		set_err(r, "inode %llu at %s is not a regular file",
			(unsigned long long)v->inode, when);
		return S_ISDIR(v->mode) ? -EISDIR : -EINVAL;
	}
	if (!v->manifest) {
		/* meta resolves a NULL manifest from the previous content
		 * version; none at all is a broken database. */
		set_err(r, "metadata database '%s/meta.db' has no content for "
			"the version at %s of inode %llu", r->state, when,
			(unsigned long long)v->inode);
		return -EUCLEAN;
	}
	ret = manifest_decode(v->manifest, v->manifest_len, &r->man);
	if (ret) {
		set_err(r, "metadata database '%s/meta.db' holds a malformed "
			"manifest for the version at %s of inode %llu: %s",
			r->state, when, (unsigned long long)v->inode,
			strerror(-ret));
		return ret == -EBADMSG ? -EUCLEAN : ret;
	}
	r->man_inode = v->inode;
	r->man_t = v->t;
	r->man_len = v->manifest_len;
	r->man_valid = 1;
	return 0;
}

int reader_size(struct reader *r, const struct meta_version *v,
		uint64_t *size)
{
	int ret;

	if (!S_ISREG(v->mode)) {
		*size = 0;
		return 0;
	}
	ret = get_manifest(r, v);
	if (!ret)
		*size = manifest_size(&r->man);
	return ret;
}

static void short_hex(const uint8_t *id, char *out)
{
	sodium_bin2hex(out, HEX_SHORT + 1, id, HEX_SHORT / 2);
}

/* Finds pack_id's bytes: a local copy, else the repository object. */
static int open_pack(struct reader *r, uint64_t pack_id, const char *chunk)
{
	uint8_t name[PACK_ID_BYTES];
	char hex[HEX_PACK + 1];
	int ret, fd = -1;

	if (r->src.pack_id == pack_id && pack_id)
		return 0;
	drop_src(r);
	ret = meta_pack_name(r->m, pack_id, name);
	if (ret) {
		set_err(r, "metadata database '%s/meta.db' names pack %llu for "
			"chunk %s, but %s", r->state,
			(unsigned long long)pack_id, chunk,
			ret == -ENOENT ? "has no such pack" : strerror(-ret));
		return ret == -ENOENT ? -EUCLEAN : ret;
	}
	sodium_bin2hex(hex, sizeof(hex), name, sizeof(name));
	for (int i = 0; i < 2 && fd < 0; i++) {
		int dir = i ? r->cache : r->staging;

		if (dir < 0)
			continue;
		fd = openat(dir, hex, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd >= 0) {
			snprintf(r->src.what, sizeof(r->src.what),
				 "pack file '%s/%s/%s'", r->state,
				 i ? "cache" : "staging", hex);
		} else if (errno != ENOENT) {
			ret = -errno;
			set_err(r, "cannot open pack file '%s/%s/%s': %s",
				r->state, i ? "cache" : "staging", hex,
				strerror(errno));
			return ret;
		}
	}
	snprintf(r->src.obj, sizeof(r->src.obj), "data/%.2s/%s", hex, hex);
	if (fd < 0)
		snprintf(r->src.what, sizeof(r->src.what),
			 "object '%s' in repository '%s'", r->src.obj,
			 r->repo->repo->url);
	r->src.fd = fd;
	r->src.pack_id = pack_id;
	return 0;
}

/* Reads, authenticates and decompresses chunk e into out (e->length). */
static int load_chunk(struct reader *r, const struct manifest_entry *e,
		      uint8_t *out)
{
	char chunk[HEX_SHORT + 1];
	uint64_t pack, off;
	uint32_t slen;
	size_t got;
	int ret;

	short_hex(e->id, chunk);
	if (!r->repo) {
		set_err(r, "the repository is locked: reading content needs "
			"its password");
		return -ENOKEY;
	}
	ret = meta_chunk_find(r->m, e->id, &pack, &off, &slen);
	if (ret) {
		set_err(r, "metadata database '%s/meta.db' has no row for "
			"chunk %s: %s", r->state, chunk, ret == -ENOENT ?
			"the version names a chunk that was never stored" :
			strerror(-ret));
		return ret == -ENOENT ? -EUCLEAN : ret;
	}
	/* pack.h invariant 1's bounds, before anything is read. */
	if (slen < CRYPTO_SEAL_OVERHEAD + 1 ||
	    (uint64_t)slen > (uint64_t)e->length + 1 + CRYPTO_SEAL_OVERHEAD ||
	    off < PACK_HEADER_BYTES || off > UINT64_MAX - slen) {
		set_err(r, "metadata database '%s/meta.db': the row of chunk "
			"%s is inconsistent (offset %llu, %u bytes sealed for "
			"%u raw)", r->state, chunk, (unsigned long long)off,
			slen, e->length);
		return -EUCLEAN;
	}
	ret = open_pack(r, pack, chunk);
	if (ret)
		return ret;
	if (r->scap < slen) {
		uint8_t *nb = realloc(r->sbuf, slen);

		if (!nb) {
			set_err(r, "out of memory");
			return -ENOMEM;
		}
		r->sbuf = nb;
		r->scap = slen;
	}
	if (r->src.fd >= 0) {
		ssize_t n = fd_pread_upto(r->src.fd, r->sbuf, slen, off);

		if (n < 0) {
			set_err(r, "cannot read %s: %s", r->src.what,
				strerror((int)-n));
			return (int)n;
		}
		got = (size_t)n;
	} else {
		ret = r->repo->repo->ops->get_range(r->repo->repo, r->src.obj,
						     off, slen, r->sbuf, &got);
		if (ret) {
			set_err(r, "cannot read %s: %s", r->src.what,
				ret == -ENOENT ? "it is missing" :
				strerror(-ret));
			return ret == -ENOENT ? -EUCLEAN : ret;
		}
	}
	if (got < slen) {
		set_err(r, "%s is truncated: the blob of chunk %s at offset "
			"%llu (%u bytes) goes past its end", r->src.what,
			chunk, (unsigned long long)off, slen);
		return -EBADMSG;
	}
	ret = pack_open_blob(r->repo->mk, &r->z, e->id, e->length, r->sbuf,
			     slen, out, e->length, &got);
	if (!ret && got != e->length)
		ret = -EBADMSG;
	if (ret) {
		set_err(r, "%s is corrupt: the blob of chunk %s at offset %llu "
			"(%u bytes) %s", r->src.what, chunk,
			(unsigned long long)off, slen, ret == -EBADMSG ?
			"does not authenticate (damaged or altered)" :
			strerror(-ret));
		return ret;
	}
	return 0;
}

/* The decoded bytes of chunk e, from the cache or loaded into it. */
static int get_chunk(struct reader *r, const struct manifest_entry *e,
		     const uint8_t **data)
{
	struct cached_chunk *c;
	uint8_t *buf;
	size_t i;
	int ret;

	for (i = 0; i < r->ncache; i++) {
		c = &r->cache_e[i];
		if (c->len == e->length &&
		    !memcmp(c->id, e->id, CRYPTO_ID_BYTES)) {
			c->used = ++r->tick;
			*data = c->data;
			return 0;
		}
	}
	buf = malloc(e->length);
	if (!buf) {
		set_err(r, "out of memory");
		return -ENOMEM;
	}
	ret = load_chunk(r, e, buf);
	if (ret) {
		free(buf);
		return ret;
	}
	/* Evict the least recently used until it fits (one always does). */
	while (r->ncache > 0 && (r->ncache == READER_CACHE_CHUNKS ||
				 r->cache_bytes + e->length > READER_CACHE_BYTES)) {
		size_t lru = 0;

		for (i = 1; i < r->ncache; i++)
			if (r->cache_e[i].used < r->cache_e[lru].used)
				lru = i;
		r->cache_bytes -= r->cache_e[lru].len;
		sodium_memzero(r->cache_e[lru].data, r->cache_e[lru].len);
		free(r->cache_e[lru].data);
		r->cache_e[lru] = r->cache_e[--r->ncache];
	}
	c = &r->cache_e[r->ncache++];
	memcpy(c->id, e->id, CRYPTO_ID_BYTES);
	c->data = buf;
	c->len = e->length;
	c->used = ++r->tick;
	r->cache_bytes += e->length;
	*data = buf;
	return 0;
}

/* The manifest entry holding off (< manifest_size: the manifest is
 * contiguous from 0, invariant 1 of capture.h). */
static size_t entry_at(const struct manifest *man, uint64_t off)
{
	size_t lo = 0, hi = man->n;

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (man->e[mid].offset <= off)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

int reader_read(struct reader *r, const struct meta_version *v, uint64_t off,
		void *buf, size_t len, size_t *got)
{
	const struct manifest *man = &r->man;
	uint8_t *out = buf;
	size_t lo;
	int ret;

	*got = 0;
	r->err[0] = '\0';
	ret = get_manifest(r, v);
	if (ret || len == 0 || off >= manifest_size(man))
		return ret;
	lo = entry_at(man, off);
	for (size_t i = lo; i < man->n && *got < len; i++) {
		const struct manifest_entry *e = &man->e[i];
		const uint8_t *data;
		uint64_t skip = off + *got - e->offset;
		size_t n = e->length - (size_t)skip;

		ret = get_chunk(r, e, &data);
		if (ret)
			return ret;
		if (n > len - *got)
			n = len - *got;
		memcpy(out + *got, data + skip, n);
		*got += n;
	}
	return 0;
}

/* --- time ----------------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* Exactly n decimal digits at *p. */
static int digits(const char **p, int n, unsigned *out)
{
	unsigned v = 0;

	for (int i = 0; i < n; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

static int leap(unsigned y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int parse_zone(const char **p, int *zoned, int64_t *offset)
{
	unsigned zh, zm = 0;
	int sign;

	if (**p == 'Z' || **p == 'z') {
		(*p)++;
		*zoned = 1;
		*offset = 0;
		return 0;
	}
	if (**p != '+' && **p != '-')
		return 0;
	sign = **p == '-' ? -1 : 1;
	(*p)++;
	if (digits(p, 2, &zh))
		return -EINVAL;
	if (**p == ':') {
		(*p)++;
		if (digits(p, 2, &zm))
			return -EINVAL;
	} else if (**p >= '0' && **p <= '9' && digits(p, 2, &zm)) {
		return -EINVAL;
	}
	if (zh > 23 || zm > 59)
		return -EINVAL;
	*zoned = 1;
	*offset = sign * (int64_t)(zh * 3600 + zm * 60);
	return 0;
}

int reader_parse_time(const char *s, uint64_t *ns)
{
	static const unsigned mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31,
					    30, 31, 30, 31 };
	unsigned y, mo, d, h = 0, mi = 0, sec = 0, frac = 0;
	int64_t secs, offset = 0;
	int zoned = 0;
	const char *p = s;

	if (!s)
		return -EINVAL;
	if (s[0] == '@') {
		uint64_t v = 0;

		if (!s[1])
			return -EINVAL;
		for (p = s + 1; *p; p++) {
			if (*p < '0' || *p > '9')
				return -EINVAL;
			if (v > (uint64_t)(INT64_MAX - (*p - '0')) / 10)
				return -ERANGE;
			v = v * 10 + (uint64_t)(*p - '0');
		}
		if (v >= META_T_MAX)	/* that value means "live" */
			return -ERANGE;
		*ns = v;
		return 0;
	}
	if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) ||
	    *p++ != '-' || digits(&p, 2, &d))
		return -EINVAL;
	if (mo < 1 || mo > 12 || d < 1 ||
	    d > mdays[mo - 1] + (mo == 2 && leap(y)))
		return -EINVAL;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi))
			return -EINVAL;
		if (*p == ':') {
			p++;
			if (digits(&p, 2, &sec))
				return -EINVAL;
			if (*p == '.' || *p == ',') {
				int n = 0;

				p++;
				while (*p >= '0' && *p <= '9') {
					if (++n > 9)
						return -EINVAL;
					frac = frac * 10 + (unsigned)(*p++ - '0');
				}
				if (n == 0)
					return -EINVAL;
				for (; n < 9; n++)
					frac *= 10;
			}
		}
		if (h > 23 || mi > 59 || sec > 59)
			return -EINVAL;
		if (parse_zone(&p, &zoned, &offset))
			return -EINVAL;
	}
	if (*p)
		return -EINVAL;
	if (zoned) {
		secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 +
		       sec - offset;
	} else {
		struct tm tm = { 0 };
		time_t t;

		tm.tm_year = (int)y - 1900;
		tm.tm_mon = (int)mo - 1;
		tm.tm_mday = (int)d;
		tm.tm_hour = (int)h;
		tm.tm_min = (int)mi;
		tm.tm_sec = (int)sec;
		tm.tm_isdst = -1;	/* the zone's rules decide */
		t = mktime(&tm);
		if (t == (time_t)-1)
			return -ERANGE;
		secs = (int64_t)t;
	}
	if (secs < 0)
		return -ERANGE;
	/* INT64_MAX ns is 2262-04-11T23:47:16.854775807Z. */
	if (secs > (INT64_MAX - 999999999) / 1000000000)
		return -ERANGE;
	*ns = (uint64_t)secs * 1000000000u + frac;
	return 0;
}

void reader_format_time(uint64_t ns, char *buf, size_t len)
{
	uint64_t secs = ns / 1000000000u, rem = secs % 86400;
	unsigned m, d;
	int64_t y;

	civil_from_days((int64_t)(secs / 86400), &y, &m, &d);
	snprintf(buf, len, "%04lld-%02u-%02uT%02u:%02u:%02u.%09uZ",
		 (long long)y, m, d, (unsigned)(rem / 3600),
		 (unsigned)(rem / 60 % 60), (unsigned)(rem % 60),
		 (unsigned)(ns % 1000000000u));
}

/* --- for restore ---------------------------------------------------------- */

int reader_chunk(struct reader *r, const struct meta_version *v, uint64_t off,
		 const void **data, size_t *len)
{
	const struct manifest *man = &r->man;
	const struct manifest_entry *e;
	const uint8_t *p;
	size_t lo;
	int ret;

	*data = NULL;
	*len = 0;
	r->err[0] = '\0';
	ret = get_manifest(r, v);
	if (ret || off >= manifest_size(man))
		return ret;
	lo = entry_at(man, off);
	e = &man->e[lo];
	ret = get_chunk(r, e, &p);
	if (ret)
		return ret;
	*data = p + (off - e->offset);
	*len = e->length - (size_t)(off - e->offset);
	return 0;
}

int reader_xattr_next(const void *blob, size_t len, size_t *pos, char *name,
		      const void **value, size_t *vlen)
{
	const uint8_t *b = blob;
	size_t p = *pos, nl, vl;

	if (!blob || p >= len)
		return 0;
	if (len - p < 2)
		return -EBADMSG;
	nl = (size_t)b[p] | (size_t)b[p + 1] << 8;
	p += 2;
	if (nl == 0 || nl > READER_XATTR_NAME_MAX || len - p < nl ||
	    memchr(b + p, '\0', nl))
		return -EBADMSG;
	memcpy(name, b + p, nl);
	name[nl] = '\0';
	p += nl;
	if (len - p < 4)
		return -EBADMSG;
	vl = (size_t)b[p] | (size_t)b[p + 1] << 8 | (size_t)b[p + 2] << 16 |
	     (size_t)b[p + 3] << 24;
	p += 4;
	if (len - p < vl)
		return -EBADMSG;
	*value = b + p;
	*vlen = vl;
	*pos = p + vl;
	return 1;
}
