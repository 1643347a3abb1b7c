/*
 * posixcheck.h - shared declarations of the posixcheck program (backupfs).
 *
 * posixcheck runs numbered POSIX semantics checks (in the spirit of
 * pjdfstest) inside a fresh directory and prints TAP.  The harness
 * (posixcheck.c) provides:
 *
 *   - check bracketing:  T("desc") ... E();  between them, F() records the
 *     first failure reason; need_root() marks a check as skipped when not
 *     running as root.  Every assertion helper returns 1 on success and 0
 *     (after calling F) on failure, so checks are written as && chains;
 *   - setup helpers that record a failure with the errno text (mkf, mkd...);
 *   - as_user(): run one operation in a child that switched to the
 *     unprivileged uid/gid (-u, default 65534:65534), returning 0 or -1 with
 *     errno set to the child's errno, like the system call itself;
 *   - timestamp helpers: set_old() moves atime/mtime back to 2001-01-01 so a
 *     later update is visible without sleeping; ctime_mark() records a ctime
 *     and then sleeps 20 ms so that an update of the ctime can be observed.
 *
 * All checks run with the work directory as the current directory and use
 * relative names, each check group in its own subdirectory.
 *
 * Files: posixcheck.c (TAP, as_user, work directory, main), pc-util.c
 * (assertion/timestamp/setup helpers), and the checks: pc-files.c (open,
 * link, unlink), pc-nodes.c (symlink, mkfifo/mknod), pc-io.c (truncate,
 * write, sparse files, O_APPEND), pc-dirs.c (mkdir, rmdir, rename,
 * readdir), pc-perms.c (chmod, chown, access), pc-times.c (utimensat),
 * pc-misc.c (xattrs, statfs, locks).
 */
#ifndef POSIXCHECK_H
#define POSIXCHECK_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#define PC_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* 2001-01-01T00:00:00Z: the "old" time set before an operation that must
 * update a timestamp. */
#define OLD_SEC 978307200L

struct pc_options {
	uid_t uid;		/* unprivileged user for permission checks */
	gid_t gid;
	int verbose;
	int root;		/* running with euid 0 */
	int sleeps;		/* ctime_mark() sleeps so far */
};
extern struct pc_options pc;

/* --- check bracketing (TAP) --- */
void T(const char *fmt, ...) PC_PRINTF(1, 2);
int F(const char *fmt, ...) PC_PRINTF(1, 2);
int E(void);
int need_root(void);
void note(const char *fmt, ...) PC_PRINTF(1, 2);
const char *en(int e);		/* "EACCES", or the number */

/* --- assertions: 1 = as expected, 0 = failure recorded --- */
int ok_sys(long rc, const char *what);		/* rc != -1 */
int ok_errno(long rc, int want, const char *what); /* -1 with errno want */
int ok_eq(long long got, long long want, const char *what);
int ok_true(int cond, const char *fmt, ...) PC_PRINTF(2, 3);
int get_stat(const char *path, struct stat *sb);	/* lstat */
int ok_mode(const char *path, mode_t want);	/* permission bits, 07777 */
int ok_type(const char *path, mode_t fmt);	/* S_IFREG, ... */
int ok_nlink(const char *path, nlink_t want);
int ok_size(const char *path, off_t want);
int ok_owner(const char *path, uid_t uid, gid_t gid);
int ok_absent(const char *path);
int ok_content(const char *path, const void *want, size_t len);

/* --- timestamps --- */
int ts_cmp(const struct timespec *a, const struct timespec *b);
int set_old(const char *path);		/* atime = mtime = OLD_SEC */
int ok_recent(const struct timespec *ts, const char *what);
int ok_mtime_moved(const char *path);	/* after set_old: mtime is "now" */
int ok_atime_moved(const char *path);
int ctime_mark(const char *path, struct timespec *out); /* + 20 ms sleep */
int ok_ctime_moved(const char *path, const struct timespec *before);
int ok_ctime_same(const char *path, const struct timespec *before);

/* --- setup helpers: 1 on success, 0 after recording the failure --- */
int mkf(const char *path, mode_t mode, const char *content);
int mkd(const char *path, mode_t mode);
int mks(const char *target, const char *path);
int give(const char *path, uid_t uid, gid_t gid);	/* lchown */
int read_file(const char *path, void *buf, size_t size, ssize_t *got);
int write_all(int fd, const void *buf, size_t len);

/* --- operations as the unprivileged user --- */
enum uop {
	UOP_OPEN,		/* p1, a = flags, b = mode */
	UOP_CREATE,		/* p1, a = mode: O_CREAT|O_EXCL|O_WRONLY */
	UOP_WRITE,		/* p1: open O_WRONLY|O_APPEND, write 1 byte */
	UOP_UNLINK,		/* p1 */
	UOP_RMDIR,		/* p1 */
	UOP_MKDIR,		/* p1, a = mode */
	UOP_RENAME,		/* p1 -> p2 */
	UOP_LINK,		/* p1 -> p2 */
	UOP_CHMOD,		/* p1, a = mode */
	UOP_CHOWN,		/* p1, a = uid, b = gid (-1 = leave) */
	UOP_TRUNCATE,		/* p1, a = length */
	UOP_UTIME_NULL,		/* p1: utimensat(times = NULL) */
	UOP_UTIME_NOW,		/* p1: both UTIME_NOW */
	UOP_UTIME_SET,		/* p1: atime = mtime = a seconds */
	UOP_SETXATTR,		/* p1, p2 = name, value "v" */
	UOP_GETXATTR,		/* p1, p2 = name */
	UOP_ACCESS,		/* p1, a = mode: access() */
	UOP_EACCESS,		/* p1, a = mode: faccessat(AT_EACCESS) */
	UOP_MKNOD,		/* p1, a = mode incl. type, b = dev */
};
int as_user(enum uop op, const char *p1, const char *p2, long a, long b);

/* --- check groups, run in this order by main() --- */
void t_open(void);		/* pc-files.c */
void t_link(void);		/* pc-files.c */
void t_unlink(void);		/* pc-files.c */
void t_symlink(void);		/* pc-nodes.c */
void t_mknod(void);		/* pc-nodes.c */
void t_truncate(void);		/* pc-io.c */
void t_write(void);		/* pc-io.c */
void t_sparse(void);		/* pc-io.c */
void t_append(void);		/* pc-io.c */
void t_locks(void);		/* pc-misc.c */
void t_mkdir(void);		/* pc-dirs.c */
void t_rmdir(void);		/* pc-dirs.c */
void t_rename(void);		/* pc-dirs.c */
void t_readdir(void);		/* pc-dirs.c */
void t_chmod(void);		/* pc-perms.c */
void t_chown(void);		/* pc-perms.c */
void t_access(void);		/* pc-perms.c */
void t_utimens(void);		/* pc-times.c */
void t_xattr(void);		/* pc-misc.c */
void t_statfs(void);		/* pc-misc.c */

#endif
