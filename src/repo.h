/*
 * repo.h - the repository interface: named objects on a backend.
 *
 * A repository is a flat namespace of objects ("config", "keys/<id>",
 * "data/<xx>/<pack>", "index/<pack>", "meta/<time>", "locks/<id>"; see
 * doc/versioning.md) behind one vtable, struct repo_ops, implemented by
 * repo-file.c (file://, the default) and later repo-s3.c (s3://).  The
 * storage layers above never know which.
 *
 * Contract of every backend:
 *  (1) put is atomic: a reader sees the old object, or the whole new one,
 *      never a part; once put returns 0 the object is durable.
 *  (2) get and get_range return exactly the stored bytes or an error;
 *      authenticity is the caller's business (everything stored is sealed).
 *  (3) A missing object is -ENOENT; every other failure a -errno the caller
 *      can report with repo_strerror-style context (the URL and the name).
 *  (4) Names are validated here (repo_name_ok): [A-Za-z0-9._-] components
 *      separated by single '/', no "." or ".." component, at most 255 bytes.
 *
 * Calls may come from several threads at once; a backend serialises
 * internally where it must.
 */
#ifndef BACKUPFS_REPO_H
#define BACKUPFS_REPO_H

#include <stddef.h>
#include <stdint.h>

struct repo;

struct repo_ops {
	const char *scheme;	/* "file" */
	/* Creates an empty repository layout; -EEXIST if one is there. */
	int (*create)(struct repo *r);
	int (*put)(struct repo *r, const char *name, const void *data,
		   size_t len, const char *storage_class);
	/* Whole object into a malloc'ed buffer (*out, *len); at most max bytes. */
	int (*get)(struct repo *r, const char *name, size_t max, void **out,
		   size_t *len);
	/* Bytes [off, off+len) into buf; *got < len only at the object's end. */
	int (*get_range)(struct repo *r, const char *name, uint64_t off,
			 size_t len, void *buf, size_t *got);
	/* Calls cb for every object whose name starts with prefix; stops on a
	 * non-zero return of cb and returns it. */
	int (*list)(struct repo *r, const char *prefix,
		    int (*cb)(void *arg, const char *name, uint64_t size),
		    void *arg);
	int (*del)(struct repo *r, const char *name);
	void (*close)(struct repo *r);
};

struct repo {
	const struct repo_ops *ops;
	char *url;		/* as given, for messages */
	void *priv;
};

/*
 * Opens the repository at url ("file:///path", or an absolute path).
 * On failure returns -errno and writes one line for the user into err.
 */
int repo_open(const char *url, struct repo **out, char *err, size_t errlen);
void repo_close(struct repo *r);

int repo_name_ok(const char *name);

/* Backends. */
int repo_file_open(const char *path, struct repo *r, char *err, size_t errlen);

#endif
