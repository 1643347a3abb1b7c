/*
 * repo-file.c - the file:// repository backend: one file per object under
 * a directory (a second disk, a NAS mount).
 *
 * Atomic, durable put (repo.h contract 1): the object is written to a
 * temporary file beside its final name ("<name>.tmp.XXXXXX"), fsynced,
 * renamed over the final name, and the directory fsynced.  A crash leaves at
 * worst a stray ".tmp." file, which list() never reports and which prune
 * removes.  Directories are created on demand (0700).
 *
 * Everything goes through an fd of the repository root (openat & co), so a
 * name can never leave the root: names are validated by repo_name_ok() and
 * components are opened O_NOFOLLOW.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "banned.h"
#include "fdio.h"
#include "repo.h"
#include "util.h"

struct repo_file {
	int root;		/* O_DIRECTORY fd of the repository */
	char *path;
};

static struct repo_file *rf(struct repo *r)
{
	return r->priv;
}

static const char *const layout[] = { "keys", "data", "index", "meta",
				      "locks", NULL };

static int rf_create(struct repo *r)
{
	int err = 0;

	if (faccessat(rf(r)->root, "config", F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return -EEXIST;
	for (const char *const *d = layout; *d && !err; d++)
		if (mkdirat(rf(r)->root, *d, 0700) < 0 && errno != EEXIST)
			err = -errno;
	if (!err && fsync(rf(r)->root) < 0)
		err = -errno;
	return err;
}

/* Opens (creating if asked) the directory that holds name; *base = last part. */
static int open_parent(struct repo_file *f, const char *name, int create,
		       const char **base)
{
	char comp[256];
	const char *p = name, *slash;
	int dfd = dup(f->root);

	if (dfd < 0)
		return -errno;
	while ((slash = strchr(p, '/'))) {
		size_t n = (size_t)(slash - p);
		int next;

		memcpy(comp, p, n);
		comp[n] = '\0';
		if (create && mkdirat(dfd, comp, 0700) < 0 && errno != EEXIST) {
			int err = -errno;
			close(dfd);
			return err;
		}
		next = openat(dfd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
				  O_CLOEXEC);
		close(dfd);
		if (next < 0)
			return -errno;
		dfd = next;
		p = slash + 1;
	}
	*base = p;
	return dfd;
}

static int rf_put(struct repo *r, const char *name, const void *data,
		  size_t len, const char *storage_class)
{
	char tmp[300];
	const char *base;
	int dfd, fd, err;

	(void)storage_class;	/* one class on a local disk */
	if (!repo_name_ok(name))
		return -EINVAL;
	dfd = open_parent(rf(r), name, 1, &base);
	if (dfd < 0)
		return dfd;
	/* Unique among our threads (counter) and processes (pid); O_EXCL
	 * catches a leftover of an earlier process with the same pid. */
	for (int i = 0;; i++) {
		static _Atomic unsigned seq;

		snprintf(tmp, sizeof(tmp), "%s.tmp.%ld.%u", base, (long)getpid(),
			 seq++);
		fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
			    0600);
		if (fd >= 0 || errno != EEXIST || i > 100)
			break;
	}
	if (fd < 0) {
		err = -errno;
		goto out_dir;
	}
	err = fd_pwrite_all(fd, data, len, 0);
	if (!err && fsync(fd) < 0)
		err = -errno;
	if (close(fd) < 0 && !err)
		err = -errno;
	if (!err && renameat(dfd, tmp, dfd, base) < 0)
		err = -errno;
	if (err)
		unlinkat(dfd, tmp, 0);
	else if (fsync(dfd) < 0)
		err = -errno;
out_dir:
	close(dfd);
	return err;
}

static int open_object(struct repo *r, const char *name)
{
	const char *base;
	int dfd, fd;

	if (!repo_name_ok(name))
		return -EINVAL;
	dfd = open_parent(rf(r), name, 0, &base);
	if (dfd < 0)
		return dfd;
	fd = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	fd = fd < 0 ? -errno : fd;
	close(dfd);
	return fd;
}

static int rf_get(struct repo *r, const char *name, size_t max, void **out,
		  size_t *len)
{
	struct stat st;
	size_t got;
	ssize_t n;
	char *buf;
	int fd = open_object(r, name), err = 0;

	*out = NULL;
	*len = 0;
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto out_close;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
		err = S_ISREG(st.st_mode) ? -EFBIG : -EINVAL;
		goto out_close;
	}
	buf = malloc((size_t)st.st_size ? (size_t)st.st_size : 1);
	if (!buf) {
		err = -ENOMEM;
		goto out_close;
	}
	n = fd_pread_upto(fd, buf, (size_t)st.st_size, 0);
	if (n < 0 || (size_t)n != (size_t)st.st_size) {
		err = n < 0 ? (int)n : -EIO;	/* shrank under us */
		free(buf);
		goto out_close;
	}
	got = (size_t)n;
	*out = buf;
	*len = got;
out_close:
	close(fd);
	return err;
}

static int rf_get_range(struct repo *r, const char *name, uint64_t off,
			size_t len, void *buf, size_t *got)
{
	int fd = open_object(r, name);
	ssize_t n;

	*got = 0;
	if (fd < 0)
		return fd;
	n = fd_pread_upto(fd, buf, len, off);
	close(fd);
	if (n < 0)
		return (int)n;
	*got = (size_t)n;
	return 0;
}

static int is_tmp(const char *name)
{
	return strstr(name, ".tmp.") != NULL;
}

/* Walks dir (relative name rel) and reports files whose names match prefix. */
static int walk(int dfd, char *rel, size_t rlen, size_t cap, const char *prefix,
		int (*cb)(void *, const char *, uint64_t), void *arg)
{
	DIR *d = fdopendir(dfd);
	struct dirent *e;
	int ret = 0;

	if (!d) {
		close(dfd);
		return -errno;
	}
	while (!ret && (e = readdir(d))) {
		struct stat st;
		size_t n = strlen(e->d_name);

		if (e->d_name[0] == '.' || is_tmp(e->d_name) || rlen + n + 2 > cap)
			continue;
		memcpy(rel + rlen, e->d_name, n + 1);
		/* Prune subtrees that cannot match the prefix. */
		if (strncmp(rel, prefix, rlen + n < strlen(prefix) ?
						 rlen + n : strlen(prefix)) != 0)
			continue;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd(d), e->d_name, O_RDONLY |
					 O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub < 0)
				continue;
			rel[rlen + n] = '/';
			rel[rlen + n + 1] = '\0';
			ret = walk(sub, rel, rlen + n + 1, cap, prefix, cb, arg);
		} else if (S_ISREG(st.st_mode) &&
			   strncmp(rel, prefix, strlen(prefix)) == 0) {
			ret = cb(arg, rel, (uint64_t)st.st_size);
		}
	}
	closedir(d);
	return ret;
}

static int rf_list(struct repo *r, const char *prefix,
		   int (*cb)(void *arg, const char *name, uint64_t size),
		   void *arg)
{
	char rel[512] = "";
	int fd = openat(rf(r)->root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	return walk(fd, rel, 0, sizeof(rel), prefix, cb, arg);
}

static int rf_del(struct repo *r, const char *name)
{
	const char *base;
	int dfd, err = 0;

	if (!repo_name_ok(name))
		return -EINVAL;
	dfd = open_parent(rf(r), name, 0, &base);
	if (dfd < 0)
		return dfd;
	if (unlinkat(dfd, base, 0) < 0)
		err = -errno;
	else if (fsync(dfd) < 0)
		err = -errno;
	close(dfd);
	return err;
}

static void rf_close(struct repo *r)
{
	close(rf(r)->root);
	free(rf(r)->path);
	free(rf(r));
	r->priv = NULL;
}

static const struct repo_ops repo_file_ops = {
	.scheme = "file",
	.create = rf_create,
	.put = rf_put,
	.get = rf_get,
	.get_range = rf_get_range,
	.list = rf_list,
	.del = rf_del,
	.close = rf_close,
};

int repo_file_open(const char *path, struct repo *r, char *err, size_t errlen)
{
	struct repo_file *f = calloc(1, sizeof(*f));

	if (!f || !(f->path = strdup(path))) {
		free(f);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	/* The repository directory and its parents may be created (init). */
	if (mkdir_p(path, 0700) < 0) {
		snprintf(err, errlen, "cannot create repository directory '%s': %s",
			 path, strerror(errno));
		goto out_free;
	}
	f->root = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f->root < 0) {
		snprintf(err, errlen, "cannot open repository '%s': %s", path,
			 strerror(errno));
		goto out_free;
	}
	r->ops = &repo_file_ops;
	r->priv = f;
	return 0;

out_free:
	{
		int e = -errno;
		free(f->path);
		free(f);
		return e;
	}
}
