/*
 * cmd-log.c - "backupfs log [--json] [--state DIR] PATH" and
 * "backupfs cat [--at TIME] [--state DIR] [--password-file F] PATH": a
 * file's saved versions, and its bytes at one of them.
 *
 * Both find the state from PATH (reader_locate: inside SOURCE, mounted or
 * not, or inside a backupfs mount elsewhere; PATH may be deleted) and work
 * from meta.db through reader.c.  log needs no password: it reads only the
 * database.  cat resolves PATH and its version first and asks for the
 * password only then, so a typo in PATH costs no Argon2 run.
 *
 * Versions belong to the inode, not to the name, so log of a renamed file
 * shows what it was saved as under its older names too, with the name it
 * had then.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "banned.h"
#include "cmd.h"
#include "crypto.h"
#include "meta.h"
#include "reader.h"
#include "util.h"

static const char log_usage[] =
	"usage: backupfs log [--json] [--state DIR] PATH\n"
	"\n"
	"Lists every saved version of the file PATH names (or named last, if\n"
	"it was deleted), oldest first: time (UTC), size, mode, why it was\n"
	"saved, whether its bytes are exact, and the path it had then when\n"
	"that differs from PATH.  History follows renames.  Needs no password.\n"
	"\n"
	"  --json        print one JSON array of objects instead\n"
	"  --state DIR   state directory (default: found from PATH)\n"
	"  -h, --help    show this help\n";

static const char cat_usage[] =
	"usage: backupfs cat [--at TIME] [--state DIR] [--password-file FILE] PATH\n"
	"\n"
	"Writes the content PATH had at TIME (default: its latest saved version)\n"
	"to standard output.\n"
	"\n"
	"  --at TIME             2026-11-23T10:17:33Z, 2026-11-23T18:17:33.25+08:00,\n"
	"                        2026-11-23 (local midnight; no zone: local time),\n"
	"                        or @NANOSECONDS since the epoch\n"
	"  --state DIR           state directory (default: found from PATH)\n"
	"  --password-file FILE  read the password from FILE's first line\n"
	"                        (else $BACKUPFS_PASSWORD, else a prompt)\n"
	"  -h, --help            show this help\n";

#define READ_SIZE (1u << 20)

static const char *reason_name(int reason, char *buf, size_t len)
{
	switch (reason) {
	case META_REASON_CLOSE: return "close";
	case META_REASON_FSYNC: return "fsync";
	case META_REASON_INTERVAL: return "interval";
	case META_REASON_SCAN: return "scan";
	case META_REASON_SNAPSHOT: return "snapshot";
	case META_REASON_META: return "meta";
	case META_REASON_SYNC: return "sync";
	case META_REASON_CREATE: return "create";
	}
	snprintf(buf, len, "reason-%d", reason);
	return buf;
}

/* --- output helpers ------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0], min, cp;
	size_t len;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2; cp = c & 0x1f; min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3; cp = c & 0x0f; min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4; cp = c & 0x07; min = 0x10000;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* A JSON string.  Names are bytes, JSON is Unicode: a byte that is not part
 * of valid UTF-8 becomes U+FFFD (the output stays valid JSON). */
static void json_string(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);

	fputc('"', f);
	while (n) {
		size_t k = utf8_len(p, n);

		if (k == 0) {
			fputs("\\ufffd", f);
			k = 1;
		} else if (*p == '"' || *p == '\\') {
			fprintf(f, "\\%c", *p);
		} else if (*p == '\n') {
			fputs("\\n", f);
		} else if (*p == '\t') {
			fputs("\\t", f);
		} else if (*p < 0x20 || *p == 0x7f) {
			fprintf(f, "\\u%04x", *p);
		} else {
			fwrite(p, 1, k, f);
		}
		p += k;
		n -= k;
	}
	fputc('"', f);
}

/* A name for a terminal: control characters and backslash as \ooo. */
static void text_path(FILE *f, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f || *p == '\\')
			fprintf(f, "\\%03o", *p);
		else
			fputc(*p, f);
	}
}

/* --- log ------------------------------------------------------------------ */

struct row {
	uint64_t t, size, inode;
	uint32_t mode, uid, gid;
	int64_t mtime_ns;
	int reason, exact;
};

struct rows {
	struct row *v;
	size_t n, cap;
};

/* Copies what log prints: the row's pointers die with the callback. */
static int collect(void *arg, const struct meta_version *v)
{
	struct rows *rs = arg;
	struct row *r;

	rs->v = array_grow(rs->v, &rs->cap, rs->n + 1, sizeof(*rs->v));
	if (!rs->v)
		return -ENOMEM;
	r = &rs->v[rs->n++];
	r->t = v->t;
	r->size = v->size;
	r->inode = v->inode;
	r->mode = v->mode;
	r->uid = v->uid;
	r->gid = v->gid;
	r->mtime_ns = v->mtime_ns;
	r->reason = v->reason;
	r->exact = v->exact;
	return 0;
}

/*
 * The path the file had at t: rel itself if rel named this inode then (a
 * hard link keeps its own name), else its path then; *same says which.
 * 0, or -ENOENT if it had no name at t (unlinked but still open).
 */
static int path_then(struct reader *r, const char *rel, uint64_t inode,
		     uint64_t t, char *buf, size_t len, int *same)
{
	uint64_t ino;

	*same = 0;
	if (reader_resolve(r, rel, t, &ino) == 0 && ino == inode) {
		*same = 1;
		snprintf(buf, len, "%s", rel);
		return 0;
	}
	return meta_path_at(reader_meta(r), inode, t, buf, len);
}

int cmd_log(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "state", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *state_arg = NULL, *path;
	char state[PATH_MAX], rel[PATH_MAX], err[PATH_MAX + 600];
	struct reader *r = NULL;
	struct rows rs = { 0 };
	uint64_t inode;
	int c, json = 0, ret = 1, e;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j': json = 1; break;
		case 's': state_arg = optarg; break;
		case 'h': fputs(log_usage, stdout); return 0;
		default: fputs(log_usage, stderr); return 2;
		}
	}
	if (argc - optind != 1) {
		fputs(log_usage, stderr);
		return 2;
	}
	path = argv[optind];
	if (reader_locate(path, state_arg, state, sizeof(state), rel,
			  sizeof(rel), err, sizeof(err)) < 0 ||
	    reader_open(state, 0, NULL, &r, err, sizeof(err)) < 0) {
		fprintf(stderr, "backupfs: %s\n", err);
		return 1;
	}
	/* One snapshot of the database for every query below. */
	e = meta_begin_read(reader_meta(r));
	if (!e)
		e = reader_resolve(r, rel, META_T_LIVE, &inode);
	if (e == -ENOENT) {
		fprintf(stderr, "backupfs: no history for '%s': '%s' never "
			"existed in the protected tree (state '%s')\n", path,
			rel, state);
		goto out;
	}
	if (!e)
		e = meta_versions(reader_meta(r), inode, collect, &rs);
	if (e) {
		fprintf(stderr, "backupfs: cannot read the history of '%s' from "
			"'%s/meta.db': %s\n", path, state, strerror(-e));
		goto out;
	}
	if (rs.n == 0) {
		fprintf(stderr, "backupfs: '%s' has no saved version yet\n",
			path);
		goto out;
	}
	if (json)
		fputs("[\n", stdout);
	for (size_t i = 0; i < rs.n; i++) {
		const struct row *v = &rs.v[i];
		char when[READER_TIME_LEN], then[PATH_MAX], rbuf[32];
		const char *why = reason_name(v->reason, rbuf, sizeof(rbuf));
		int same, named;

		reader_format_time(v->t, when, sizeof(when));
		named = path_then(r, rel, v->inode, v->t, then, sizeof(then),
				  &same) == 0;
		if (json) {
			printf("  {\"time\":\"%s\",\"t_ns\":%llu,\"size\":%llu,"
			       "\"mode\":\"%04o\",\"uid\":%lu,\"gid\":%lu,"
			       "\"mtime_ns\":%lld,\"reason\":", when,
			       (unsigned long long)v->t,
			       (unsigned long long)v->size, v->mode & 07777,
			       (unsigned long)v->uid, (unsigned long)v->gid,
			       (long long)v->mtime_ns);
			json_string(stdout, why);
			printf(",\"exact\":%s,\"path\":",
			       v->exact ? "true" : "false");
			if (named)
				json_string(stdout, then);
			else
				fputs("null", stdout);
			fputs(i + 1 < rs.n ? "},\n" : "}\n", stdout);
			continue;
		}
		printf("%s  %llu  %04o  %s  %s", when,
		       (unsigned long long)v->size, v->mode & 07777, why,
		       v->exact ? "exact" : "not-exact");
		if (!named) {
			fputs("  (no name)", stdout);
		} else if (!same) {
			fputs("  ", stdout);
			text_path(stdout, then);
		}
		fputc('\n', stdout);
	}
	if (json)
		fputs("]\n", stdout);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "backupfs: cannot write to standard output: %s\n",
			strerror(errno));
		goto out;
	}
	ret = 0;
out:
	free(rs.v);
	reader_close(r);
	return ret;
}

/* --- cat ------------------------------------------------------------------ */

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Writes v's content to stdout; on failure says what, naming the object. */
static int cat_version(struct reader *r, const char *path,
		       const struct meta_version *v)
{
	char when[READER_TIME_LEN];
	uint64_t off = 0;
	size_t got;
	char *buf = malloc(READ_SIZE);
	int ret = -ENOMEM;

	reader_format_time(v->t, when, sizeof(when));
	if (!buf) {
		fprintf(stderr, "backupfs: out of memory\n");
		return ret;
	}
	for (;;) {
		ret = reader_read(r, v, off, buf, READ_SIZE, &got);
		/* What was read is authenticated: a correct prefix. */
		if (got) {
			int w = write_all(STDOUT_FILENO, buf, got);

			if (w) {
				fprintf(stderr, "backupfs: cannot write to "
					"standard output: %s\n", strerror(-w));
				ret = w;
				break;
			}
		}
		if (ret) {
			fprintf(stderr, "backupfs: cannot read '%s' (version of "
				"%s): %s\n", path, when, reader_errmsg(r)[0] ?
				reader_errmsg(r) : strerror(-ret));
			break;
		}
		if (got < READ_SIZE)
			break;
		off += got;
	}
	free(buf);
	return ret;
}

int cmd_cat(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "at", required_argument, NULL, 'a' },
		{ "state", required_argument, NULL, 's' },
		{ "password-file", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *state_arg = NULL, *pwfile = NULL, *at = NULL, *path;
	char state[PATH_MAX], rel[PATH_MAX], err[PATH_MAX + 600];
	char when[READER_TIME_LEN], first[READER_TIME_LEN];
	struct reader *r = NULL;
	struct meta_version v;
	uint64_t T = META_T_LIVE, inode, start;
	int c, ret = 1, e;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'a': at = optarg; break;
		case 's': state_arg = optarg; break;
		case 'p': pwfile = optarg; break;
		case 'h': fputs(cat_usage, stdout); return 0;
		default: fputs(cat_usage, stderr); return 2;
		}
	}
	if (argc - optind != 1) {
		fputs(cat_usage, stderr);
		return 2;
	}
	path = argv[optind];
	if (at && (e = reader_parse_time(at, &T)) < 0) {
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
	if (reader_locate(path, state_arg, state, sizeof(state), rel,
			  sizeof(rel), err, sizeof(err)) < 0 ||
	    reader_open(state, 0, NULL, &r, err, sizeof(err)) < 0) {
		fprintf(stderr, "backupfs: %s\n", err);
		return 1;
	}
	reader_format_time(T, when, sizeof(when));
	e = meta_begin_read(reader_meta(r));
	if (!e && at) {
		e = reader_history_start(r, &start);
		if (!e && T < start) {
			reader_format_time(start, first, sizeof(first));
			fprintf(stderr, "backupfs: %s is before the history of "
				"'%s': it starts at %s (the first backup)\n",
				when, path, first);
			goto out;
		}
	}
	if (!e)
		e = reader_resolve(r, rel, T, &inode);
	if (e == -ENOENT) {
		if (at)
			fprintf(stderr, "backupfs: no '%s' at %s (see 'backupfs "
				"log %s' for when it existed)\n", path, when,
				path);
		else
			fprintf(stderr, "backupfs: no history for '%s': '%s' "
				"never existed in the protected tree (state "
				"'%s')\n", path, rel, state);
		goto out;
	}
	if (!e)
		e = meta_version_at(reader_meta(r), inode, T, &v);
	if (e == -ENOENT) {
		fprintf(stderr, "backupfs: no saved version of '%s' at or before "
			"%s (see 'backupfs log %s')\n", path, at ? when : "now",
			path);
		goto out;
	}
	if (e) {
		fprintf(stderr, "backupfs: cannot read the history of '%s' from "
			"'%s/meta.db': %s\n", path, state, strerror(-e));
		goto out;
	}
	/* The version's manifest was copied out of the row: the snapshot
	 * can end before the (long) content reads. */
	meta_rollback(reader_meta(r));
	reader_format_time(v.t, when, sizeof(when));
	if (S_ISDIR(v.mode)) {
		fprintf(stderr, "backupfs: '%s' is a directory (version of %s): "
			"cat reads files; 'backupfs log %s' lists its versions\n",
			path, when, path);
		goto out;
	}
	if (S_ISLNK(v.mode)) {
		fprintf(stderr, "backupfs: '%s' is a symbolic link to '%s' "
			"(version of %s): cat its target instead\n", path,
			v.symlink ? v.symlink : "?", when);
		goto out;
	}
	if (!S_ISREG(v.mode)) {
		fprintf(stderr, "backupfs: '%s' is not a regular file (version "
			"of %s, mode %06o): it has no content to show\n", path,
			when, v.mode);
		goto out;
	}
	if (reader_unlock(r, pwfile, err, sizeof(err)) < 0) {
		fprintf(stderr, "backupfs: %s\n", err);
		goto out;
	}
	ret = cat_version(r, path, &v) ? 1 : 0;
out:
	reader_close(r);
	return ret;
}
