/*
 * cmd-init.c - "backupfs init [--repo URL] [--state DIR] [--password-file F]
 * SOURCE": creates the state directory and the repository, imports SOURCE
 * as the first full backup, and registers SOURCE so that later verbs find
 * its state from SOURCE alone.
 *
 * The import walks SOURCE through directory fds (openat), records every
 * object in the temporal namespace (meta) and captures every regular file
 * (capture.c).  Namespace rows and versions are queued and written by
 * capture_commit() in the same transaction as the chunks they name
 * (invariant D of doc/versioning.md), one batch per ~64 MiB of new data.
 * Then the sealed packs are put into the repository with their indexes.
 *
 * Crash behaviour: the source is registered last.  An init killed half way
 * leaves a state directory that is not registered; running init again says
 * so and names the directory to remove.  Nothing in SOURCE is touched.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "banned.h"
#include "capture.h"
#include "fdio.h"
#include "cmd.h"
#include "log.h"
#include "meta.h"
#include "mountinfo.h"
#include "password.h"
#include "repository.h"
#include "state.h"
#include "util.h"

static const char init_usage[] =
	"usage: backupfs init [--repo URL] [--state DIR] [--password-file FILE]\n"
	"                     [--storage-class CLASS] [--zstd-level N] SOURCE\n"
	"\n"
	"Creates the state and the repository for SOURCE and imports its\n"
	"current content as the first full backup.\n"
	"\n"
	"  --repo URL            repository (default: a file:// directory under\n"
	"                        the state root; put it on another disk)\n"
	"  --state DIR           state directory (default: under /var/lib/backupfs)\n"
	"  --password-file FILE  read the password from FILE's first line\n"
	"                        (else $BACKUPFS_PASSWORD, else a prompt)\n"
	"  --storage-class CLASS storage class for data packs (default STANDARD)\n"
	"  --zstd-level N        compression level, 1 (fastest) to 19 (default 3)\n";

#define BATCH_BYTES (64u << 20)

/* A namespace object whose meta id is known once its batch commits. */
struct ref {
	uint64_t id;
	uint64_t dev, ino;	/* for hard-linked files: the links tree's key */
};

struct pend {
	struct ref *parent, *self, *target;	/* target: a hard link */
	char *name;
	uint32_t kind;
	uint64_t dev, ino;
	struct meta_version v;
	uint8_t *manifest;
	char *symlink;
};

struct import {
	struct meta *m;
	struct capture cap;
	struct pend *pend;
	size_t npend, cap_pend;
	struct ref **refs;		/* every ref, freed at the end */
	size_t nrefs, cap_refs;
	void *links;			/* tsearch tree of hard-linked refs */
	uint64_t batch_bytes;
	/* progress */
	uint64_t files, bytes, total_files, total_bytes;
	struct timespec start, last;
	int tty;
	const char *source;
	char err[512];
};

static double since(const struct timespec *a)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - a->tv_sec) +
	       (double)(now.tv_nsec - a->tv_nsec) / 1e9;
}

static void progress(struct import *im, int final)
{
	double t = since(&im->start), rate;

	if (!im->tty || (!final && since(&im->last) < 0.25))
		return;
	clock_gettime(CLOCK_MONOTONIC, &im->last);
	rate = t > 0 ? (double)im->bytes / t : 0;
	fprintf(stderr, "\rimporting: %llu/%llu files, %.1f/%.1f MiB, %.1f MiB/s",
		(unsigned long long)im->files,
		(unsigned long long)im->total_files,
		(double)im->bytes / 1048576.0,
		(double)im->total_bytes / 1048576.0, rate / 1048576.0);
	if (!final && rate > 0 && im->total_bytes > im->bytes)
		fprintf(stderr, ", ETA %.0f s  ",
			(double)(im->total_bytes - im->bytes) / rate);
	else
		fputs("            ", stderr);
	if (final)
		fputc('\n', stderr);
}

static struct ref *new_ref(struct import *im, uint64_t id)
{
	struct ref *r = xcalloc(1, sizeof(*r));

	im->refs = array_grow(im->refs, &im->cap_refs, im->nrefs + 1,
			      sizeof(*im->refs));
	if (!im->refs)
		die(1, "out of memory");
	im->refs[im->nrefs++] = r;
	r->id = id;
	return r;
}

static struct pend *new_pend(struct import *im)
{
	im->pend = array_grow(im->pend, &im->cap_pend, im->npend + 1,
			      sizeof(*im->pend));
	if (!im->pend)
		die(1, "out of memory");
	memset(&im->pend[im->npend], 0, sizeof(*im->pend));
	return &im->pend[im->npend++];
}

static void set_attrs(struct meta_version *v, const struct stat *st)
{
	meta_version_set_attrs(v, st);
	v->reason = META_REASON_SCAN;
	v->exact = 0;	/* read while others may write: not exact */
}

/* Runs inside capture_commit()'s transaction. */
static int apply_pending(void *arg, struct meta *m)
{
	struct import *im = arg;

	for (size_t i = 0; i < im->npend; i++) {
		struct pend *p = &im->pend[i];
		uint64_t t = meta_now(m), id;
		int err;

		if (p->target) {
			err = meta_link(m, p->parent->id, p->name,
					strlen(p->name), p->target->id, t);
			if (err)
				return err;
			continue;
		}
		if (p->parent) {
			err = meta_inode_new(m, p->kind, p->dev, p->ino, t, &id);
			if (!err)
				err = meta_link(m, p->parent->id, p->name,
						strlen(p->name), id, t);
		} else {
			id = 1;	/* the root */
			err = meta_inode_set_devino(m, 1, p->dev, p->ino);
		}
		if (err)
			return err;
		if (p->self)
			p->self->id = id;
		p->v.inode = id;
		p->v.t = t;
		p->v.symlink = p->symlink;
		err = meta_version_add(m, &p->v);
		if (err)
			return err;
	}
	return 0;
}

static void free_pending(struct import *im)
{
	for (size_t i = 0; i < im->npend; i++) {
		free(im->pend[i].name);
		free(im->pend[i].manifest);
		free(im->pend[i].symlink);
	}
	im->npend = 0;
	im->batch_bytes = 0;
}

static int flush_batch(struct import *im)
{
	int err = capture_commit(&im->cap, apply_pending, im);

	if (err)
		snprintf(im->err, sizeof(im->err), "cannot record the import in "
			 "the metadata database: %s", strerror(-err));
	free_pending(im);
	return err;
}

static int ref_cmp(const void *a, const void *b)
{
	const struct ref *x = a, *y = b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static void keep_node(void *p)
{
	(void)p;
}

/* The ref of a hard-linked file already seen, or NULL. */
static struct ref *link_ref(struct import *im, const struct stat *st)
{
	struct ref key = { .dev = st->st_dev, .ino = st->st_ino };
	struct ref **found = tfind(&key, &im->links, ref_cmp);

	return found ? *found : NULL;
}

static void remember_link(struct import *im, const struct stat *st,
			  struct ref *r)
{
	r->dev = st->st_dev;
	r->ino = st->st_ino;
	if (!tsearch(r, &im->links, ref_cmp))
		die(1, "out of memory");
}

static int import_file(struct import *im, int dfd, const char *name,
		       struct pend *p)
{
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
			O_NOATIME);
	struct manifest man = { 0 };
	size_t len;
	int err;

	if (fd < 0 && errno == EPERM)	/* O_NOATIME needs ownership */
		fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	err = capture_file(&im->cap, fd, NULL, NULL, 0, &man);
	close(fd);
	if (err)
		return err;
	err = manifest_encode(&man, &p->manifest, &len);
	if (!err) {
		p->v.manifest = p->manifest ? (const void *)p->manifest : "";
		p->v.manifest_len = len;
		p->v.size = manifest_size(&man);
	}
	manifest_release(&man);
	return err;
}

static int walk(struct import *im, int dfd, struct ref *dir, const char *path)
{
	DIR *d = fdopendir(dfd);
	struct dirent *e;
	int err = 0;

	if (!d) {
		close(dfd);
		return -errno;
	}
	while (!err && (e = readdir(d))) {
		struct stat st;
		struct pend *p;
		struct ref *hard;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;	/* gone meanwhile */
			err = -errno;
			break;
		}
		hard = (!S_ISDIR(st.st_mode) && st.st_nlink > 1) ?
			       link_ref(im, &st) : NULL;
		p = new_pend(im);
		p->parent = dir;
		p->name = xstrdup(e->d_name);
		if (hard) {
			p->target = hard;
			continue;
		}
		p->kind = st.st_mode & S_IFMT;
		p->dev = st.st_dev;
		p->ino = st.st_ino;
		set_attrs(&p->v, &st);
		if (S_ISDIR(st.st_mode) || st.st_nlink > 1)
			p->self = new_ref(im, 0);
		if (!S_ISDIR(st.st_mode) && st.st_nlink > 1)
			remember_link(im, &st, p->self);
		if (S_ISLNK(st.st_mode)) {
			char target[PATH_MAX + 1];
			ssize_t n = readlinkat(dirfd(d), e->d_name, target,
					       sizeof(target) - 1);

			if (n < 0) {
				err = -errno;
				break;
			}
			target[n] = '\0';
			p->symlink = xstrdup(target);
		} else if (S_ISREG(st.st_mode)) {
			size_t idx = (size_t)(p - im->pend);

			err = import_file(im, dirfd(d), e->d_name, p);
			p = &im->pend[idx];
			if (err) {
				snprintf(im->err, sizeof(im->err), "cannot read "
					 "'%s/%s': %s", path, e->d_name,
					 strerror(-err));
				break;
			}
			im->files++;
			im->bytes += (uint64_t)st.st_size;
			im->batch_bytes += (uint64_t)st.st_size;
			progress(im, 0);
		} else if (S_ISDIR(st.st_mode)) {
			struct ref *self = p->self;
			char sub[PATH_MAX];
			int fd = openat(dirfd(d), e->d_name, O_RDONLY |
					O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (fd < 0) {
				err = -errno;
				snprintf(im->err, sizeof(im->err), "cannot open "
					 "'%s/%s': %s", path, e->d_name,
					 strerror(errno));
				break;
			}
			snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
			err = walk(im, fd, self, sub);
		}
		if (!err && im->batch_bytes >= BATCH_BYTES)
			err = flush_batch(im);
	}
	closedir(d);
	return err;
}

/* Counts files and bytes for the progress line's ETA. */
static void prescan(int dfd, uint64_t *files, uint64_t *bytes)
{
	DIR *d = fdopendir(dfd);
	struct dirent *e;

	if (!d) {
		close(dfd);
		return;
	}
	while ((e = readdir(d))) {
		struct stat st;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
		    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISREG(st.st_mode)) {
			(*files)++;
			*bytes += (uint64_t)st.st_size;
		} else if (S_ISDIR(st.st_mode)) {
			int fd = openat(dirfd(d), e->d_name, O_RDONLY |
					O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (fd >= 0)
				prescan(fd, files, bytes);
		}
	}
	closedir(d);
}

static int read_all(int dfd, const char *name, void **out, size_t *len)
{
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
	struct stat st;
	ssize_t n = -ENOMEM;
	char *buf = NULL;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) == 0 && (buf = malloc((size_t)st.st_size + 1)))
		n = fd_pread_upto(fd, buf, (size_t)st.st_size, 0);
	close(fd);
	if (n < 0 || (size_t)n != (size_t)st.st_size) {
		free(buf);
		return n < 0 ? (int)n : -EIO;
	}
	*out = buf;
	*len = (size_t)n;
	return 0;
}

/* Puts every queued pack and its index into the repository. */
static int upload_all(struct meta *m, struct repository *r, int staging,
		      char *err, size_t errlen)
{
	uint64_t pack;
	int ret;

	while ((ret = meta_upload_next(m, UINT64_MAX - 1, &pack)) == 0) {
		uint8_t name[32];
		char hex[65], local[80], obj[100];
		void *data = NULL;
		size_t len = 0;

		if ((ret = meta_pack_name(m, pack, name)) < 0)
			break;
		sodium_bin2hex(hex, sizeof(hex), name, sizeof(name));
		for (int pass = 0; pass < 2; pass++) {
			snprintf(local, sizeof(local), pass ? "%s.index" : "%s", hex);
			if (pass)
				snprintf(obj, sizeof(obj), "index/%s", hex);
			else
				snprintf(obj, sizeof(obj), "data/%.2s/%s", hex, hex);
			ret = read_all(staging, local, &data, &len);
			if (ret) {
				snprintf(err, errlen, "cannot read staged pack "
					 "'%s': %s", local, strerror(-ret));
				return ret;
			}
			ret = r->repo->ops->put(r->repo, obj, data, len,
						pass ? "STANDARD" :
						       r->cfg.storage_class);
			free(data);
			if (ret) {
				snprintf(err, errlen, "cannot store '%s' in "
					 "repository '%s': %s", obj,
					 r->repo->url, strerror(-ret));
				return ret;
			}
		}
		if ((ret = meta_upload_done(m, pack)) < 0)
			break;
		/* In the repository now: the staged copy is not needed. */
		unlinkat(staging, hex, 0);
		snprintf(local, sizeof(local), "%s.index", hex);
		unlinkat(staging, local, 0);
	}
	if (ret == -ENOENT)
		return 0;
	snprintf(err, errlen, "upload queue: %s", strerror(-ret));
	return ret;
}

static int make_state_dir(const char *state, char *err, size_t errlen)
{
	static const char *const subdirs[] = { "staging", "cache", "journal",
					       NULL };
	char path[PATH_MAX + 32];
	int e = mkdir_p(state, 0700);

	snprintf(path, sizeof(path), "%s", state);
	for (const char *const *s = subdirs; *s && !e; s++) {
		snprintf(path, sizeof(path), "%s/%s", state, *s);
		e = mkdir(path, 0700) < 0 && errno != EEXIST ? -errno : 0;
	}
	if (e)
		snprintf(err, errlen, "cannot create state directory '%.400s': %s",
			 path, strerror(-e));
	return e;
}

/* rm -rf of what a failed init created (the directory was empty before). */
static void remove_tree(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
			O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;

	if (!d) {
		if (fd >= 0)
			close(fd);
		unlinkat(dfd, name, 0);
		return;
	}
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			remove_tree(dirfd(d), e->d_name);
	closedir(d);
	unlinkat(dfd, name, AT_REMOVEDIR);
}

static int dir_has_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

int cmd_init(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "repo", required_argument, NULL, 'r' },
		{ "state", required_argument, NULL, 's' },
		{ "password-file", required_argument, NULL, 'p' },
		{ "storage-class", required_argument, NULL, 'c' },
		{ "zstd-level", required_argument, NULL, 'z' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *repo_arg = NULL, *state_arg = NULL, *pwfile = NULL;
	const char *sclass = NULL, *zlevel = NULL;
	char source[PATH_MAX], state[PATH_MAX], url[PATH_MAX + 16];
	char path[PATH_MAX + 32], err[600], type[64];
	struct repository_kdf kdf = { CRYPTO_KEY_OPSLIMIT_DEFAULT,
				      CRYPTO_KEY_MEMLIMIT_DEFAULT };
	struct repo_config cfg;
	struct repository *repo = NULL;
	struct import im = { 0 };
	char *pw = NULL;
	size_t pwlen;
	int c, ret = 1, staging = -1, fd;
	int made_state = 0, made_repo = 0, cap_ready = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'r': repo_arg = optarg; break;
		case 's': state_arg = optarg; break;
		case 'p': pwfile = optarg; break;
		case 'c': sclass = optarg; break;
		case 'z': zlevel = optarg; break;
		case 'h': fputs(init_usage, stdout); return 0;
		default: fputs(init_usage, stderr); return 2;
		}
	}
	if (argc - optind != 1) {
		fputs(init_usage, stderr);
		return 2;
	}
	if (crypto_init() < 0)
		die(1, "cannot initialise libsodium");
	if (check_dir_arg("source", argv[optind], source, sizeof(source)) < 0)
		return 1;
	if (mountinfo_find(source, type, sizeof(type), NULL, 0) == 1 &&
	    strcmp(type, BACKUPFS_FSTYPE) == 0)
		die(1, "source '%s' is a backupfs mount: unmount it first "
		    "('backupfs umount %s')", source, source);
	if (registry_lookup(source, state, sizeof(state)) == 0)
		die(1, "'%s' is already initialised (state in '%s'): mount it "
		    "with 'backupfs mount %s'", source, state, source);

	if (state_arg) {
		if (state_arg[0] != '/')
			die(2, "--state needs an absolute path");
		snprintf(state, sizeof(state), "%s", state_arg);
	} else if (state_default_dir(source, state, sizeof(state)) < 0) {
		die(1, "cannot find a state directory (set HOME or use --state)");
	}
	if (repo_arg)
		snprintf(url, sizeof(url), "%s", repo_arg);
	else if (state_default_repo(source, url, sizeof(url)) < 0)
		die(1, "cannot find a place for the repository (use --repo)");
	/* The daemon must never touch its own mount (STYLE: bindfs #86). */
	if (path_within(state, source))
		die(1, "state directory '%s' is inside the source '%s': choose "
		    "another --state", state, source);
	if ((url[0] == '/' && path_within(url, source)) ||
	    (!strncmp(url, "file://", 7) && path_within(url + 7, source)))
		die(1, "repository '%s' is inside the source '%s': choose another "
		    "--repo (another disk is best)", url, source);
	if (dir_has_entries(state)) {
		/* An init that did not finish made the repository too (it is
		 * named in the state's repo file): say to remove both. */
		char rf[PATH_MAX + 8], old[PATH_MAX + 16] = "";
		FILE *f;

		snprintf(rf, sizeof(rf), "%s/repo", state);
		if ((f = fopen(rf, "re"))) {
			if (fgets(old, sizeof(old), f))
				old[strcspn(old, "\n")] = '\0';
			fclose(f);
		}
		if (old[0] && !strncmp(old, "file://", 7))
			die(1, "state directory '%s' already exists and is not "
			    "empty (an earlier init that did not finish? remove it "
			    "and its repository '%s', or choose another --state)",
			    state, old + 7);
		die(1, "state directory '%s' already exists and is not empty (an "
		    "earlier init that did not finish? remove it, or choose "
		    "another --state)", state);
	}
	repo_config_defaults(&cfg);
	if (sclass) {
		size_t n = strlen(sclass);

		if (n == 0 || n >= sizeof(cfg.storage_class) ||
		    strspn(sclass, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789") != n)
			die(2, "storage class '%s' is not valid (e.g. STANDARD, "
			    "STANDARD_IA, GLACIER, DEEP_ARCHIVE)", sclass);
		memcpy(cfg.storage_class, sclass, n + 1);
	}
	if (zlevel) {
		char *end;
		long l = strtol(zlevel, &end, 10);

		if (!*zlevel || *end || l < 1 || l > 19)
			die(2, "zstd level '%s' is not valid: give 1 (fastest) "
			    "to 19 (smallest); the default is 3", zlevel);
		cfg.zstd_level = (int)l;
	}
	if (getenv("BACKUPFS_INSECURE_FAST_KDF")) {	/* the test suite only */
		kdf.opslimit = CRYPTO_KEY_OPSLIMIT_TEST;
		kdf.memlimit = CRYPTO_KEY_MEMLIMIT_TEST;
	}
	if (password_get(pwfile, url, 1, &pw, &pwlen, err, sizeof(err)) < 0)
		die(1, "%s", err);

	if (make_state_dir(state, err, sizeof(err)) < 0)
		die(1, "%s", err);
	made_state = 1;
	ret = repository_create(url, pw, pwlen, &cfg, &kdf, &repo, err,
				sizeof(err));
	password_free(pw);
	if (ret < 0) {
		fprintf(stderr, "backupfs: %s\n", err);
		goto out;
	}
	made_repo = 1;
	snprintf(path, sizeof(path), "%s/repo", state);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || dprintf(fd, "%s\n", url) < 0 || fsync(fd) < 0) {
		fprintf(stderr, "backupfs: cannot write '%s': %s\n", path,
			strerror(errno));
		ret = -EIO;
		goto out;
	}
	close(fd);
	snprintf(path, sizeof(path), "%s/meta.db", state);
	if ((ret = meta_open(path, 1, &im.m, err, sizeof(err))) < 0) {
		fprintf(stderr, "backupfs: %s\n", err);
		goto out;
	}
	snprintf(path, sizeof(path), "%s/staging", state);
	staging = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (staging < 0 ||
	    (ret = capture_init(&im.cap, im.m, repo->mk, staging)) < 0) {
		fprintf(stderr, "backupfs: cannot open '%s': %s\n", path,
			strerror(errno));
		ret = -EIO;
		goto out;
	}
	cap_ready = 1;
	im.cap.zstd_level = cfg.zstd_level;
	im.cap.pack_target = cfg.pack_size;

	/* Import. */
	im.tty = isatty(STDERR_FILENO);
	im.source = source;
	clock_gettime(CLOCK_MONOTONIC, &im.start);
	fd = open(source, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0 && im.tty)
		prescan(dup(fd), &im.total_files, &im.total_bytes);
	if (fd >= 0) {
		struct stat st;
		struct pend *root = new_pend(&im);

		fstat(fd, &st);
		root->kind = S_IFDIR;
		root->dev = st.st_dev;
		root->ino = st.st_ino;
		set_attrs(&root->v, &st);
		ret = walk(&im, fd, new_ref(&im, 1), source);
	} else {
		ret = -errno;
	}
	if (!ret)
		ret = flush_batch(&im);
	progress(&im, 1);
	if (ret) {
		fprintf(stderr, "backupfs: import of '%s' failed: %s\n", source,
			im.err[0] ? im.err : strerror(-ret));
		goto out;
	}
	ret = upload_all(im.m, repo, staging, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "backupfs: %s\n", err);
		goto out;
	}
	ret = registry_add(source, state);
	if (ret) {
		fprintf(stderr, "backupfs: cannot register '%s': %s\n", source,
			strerror(-ret));
		goto out;
	}
	printf("initialised '%s'\n"
	       "  state:      %s\n"
	       "  repository: %s\n"
	       "  imported:   %llu files, %.1f MiB (%llu new chunks, %.1f MiB "
	       "stored)\n",
	       source, state, url, (unsigned long long)im.files,
	       (double)im.bytes / 1048576.0,
	       (unsigned long long)im.cap.st.chunks_new,
	       (double)im.cap.st.bytes_stored / 1048576.0);
	if (!repo_arg)
		printf("hint: the repository is on the same disk as the state; "
		       "put it on another disk or in object storage with "
		       "--repo for real protection\n");
	ret = 0;
out:
	free_pending(&im);
	if (cap_ready)
		capture_release(&im.cap);
	for (size_t i = 0; i < im.nrefs; i++)
		free(im.refs[i]);
	free(im.refs);
	free(im.pend);
	tdestroy(im.links, keep_node);	/* the refs are freed above */
	if (staging >= 0)
		close(staging);
	if (im.m)
		meta_close(im.m);
	repository_close(repo);
	if (ret && made_state) {
		/* Nothing is registered: take back what this init created. */
		remove_tree(AT_FDCWD, state);
		if (made_repo && !repo_arg && !strncmp(url, "file://", 7))
			remove_tree(AT_FDCWD, url + 7);
		fprintf(stderr, "backupfs: removed the state directory '%s'%s; "
			"nothing was changed in '%s'\n", state,
			made_repo && !repo_arg ? " and the repository" : "",
			source);
	}
	return ret ? 1 : 0;
}
