/*
 * posixcheck.c - POSIX semantics checker for backupfs: harness and main.
 *
 *   posixcheck [-u UID:GID] [-v] DIR
 *
 * Creates DIR/posixcheck.PID, runs the numbered checks of the pc-*.c files
 * in it (each group of checks in its own subdirectory), removes it again and
 * prints TAP: "ok N - desc", "not ok N - desc # what happened", root-only
 * checks as "ok N - desc # SKIP not root" when not running as root, and
 * "1..N" at the end.  Exit status: 0 all passed, 1 a check failed, 2 usage.
 *
 * Permission checks run the operation in a forked child that dropped to
 * UID:GID (default 65534:65534) with no supplementary groups.  -v prints
 * the group names and the runtime of each group as TAP comments.
 *
 * Expectations are those of Linux on a local ext4 filesystem: the intended
 * use is to run this on ext4 and on the FUSE mount and compare (see
 * run-compare.sh); every check that passes on ext4 must pass on the mount.
 * Descriptions are unique, so results can be matched by description.
 */
#include "posixcheck.h"

#include <dirent.h>
#include <grp.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

struct pc_options pc = { .uid = 65534, .gid = 65534 };

/* ------------------------------------------------------------------ */
/* TAP bracketing                                                       */
/* ------------------------------------------------------------------ */

static int n_checks, n_failed;
static int in_check, cur_failed, cur_skipped;
static char cur_desc[300], cur_why[600];

void T(const char *fmt, ...)
{
	va_list ap;

	if (in_check) {		/* a check that forgot E(): close it */
		F("harness: check not closed");
		E();
	}
	va_start(ap, fmt);
	vsnprintf(cur_desc, sizeof cur_desc, fmt, ap);
	va_end(ap);
	in_check = 1;
	cur_failed = cur_skipped = 0;
	cur_why[0] = '\0';
}

int F(const char *fmt, ...)
{
	va_list ap;

	if (!in_check || cur_failed)	/* keep the first reason only */
		return 0;
	va_start(ap, fmt);
	vsnprintf(cur_why, sizeof cur_why, fmt, ap);
	va_end(ap);
	cur_failed = 1;
	return 0;
}

int need_root(void)
{
	if (pc.root)
		return 1;
	cur_skipped = 1;
	return 0;
}

/* Make a string safe to print on one TAP line. */
static void one_line(char *s)
{
	for (; *s; s++)
		if (*s == '\n' || *s == '\r' || *s == '\t')
			*s = ' ';
}

int E(void)
{
	if (!in_check)
		return 0;
	in_check = 0;
	n_checks++;
	one_line(cur_desc);
	one_line(cur_why);
	if (cur_failed) {
		n_failed++;
		printf("not ok %d - %s # %s\n", n_checks, cur_desc, cur_why);
		return 0;
	}
	if (cur_skipped)
		printf("ok %d - %s # SKIP not root\n", n_checks, cur_desc);
	else
		printf("ok %d - %s\n", n_checks, cur_desc);
	return 1;
}

void note(const char *fmt, ...)
{
	va_list ap;
	char buf[600];

	if (!pc.verbose)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	one_line(buf);
	printf("# %s\n", buf);
}

const char *en(int e)
{
	static char buf[4][24];
	static int slot;
	const char *name = strerrorname_np(e);

	if (name)
		return name;
	slot = (slot + 1) % 4;
	snprintf(buf[slot], sizeof buf[slot], "errno %d", e);
	return buf[slot];
}

/* ------------------------------------------------------------------ */
/* Operations as the unprivileged user                                  */
/* ------------------------------------------------------------------ */

static int close_ok(int fd)
{
	if (fd < 0)
		return -1;
	return close(fd);
}

static int uop_run(enum uop op, const char *p1, const char *p2, long a, long b)
{
	struct timespec t[2] = { { a, 0 }, { a, 0 } };
	struct timespec now[2] = { { 0, UTIME_NOW }, { 0, UTIME_NOW } };
	char buf[64];
	int fd;

	switch (op) {
	case UOP_OPEN:
		return close_ok(open(p1, (int)a, (mode_t)b));
	case UOP_CREATE:
		return close_ok(open(p1, O_CREAT | O_EXCL | O_WRONLY, (mode_t)a));
	case UOP_WRITE:
		fd = open(p1, O_WRONLY | O_APPEND);
		if (fd < 0)
			return -1;
		if (write(fd, "x", 1) != 1)
			return -1;
		return close(fd);
	case UOP_UNLINK:
		return unlink(p1);
	case UOP_RMDIR:
		return rmdir(p1);
	case UOP_MKDIR:
		return mkdir(p1, (mode_t)a);
	case UOP_RENAME:
		return rename(p1, p2);
	case UOP_LINK:
		return link(p1, p2);
	case UOP_CHMOD:
		return chmod(p1, (mode_t)a);
	case UOP_CHOWN:
		return chown(p1, (uid_t)a, (gid_t)b);
	case UOP_TRUNCATE:
		return truncate(p1, (off_t)a);
	case UOP_UTIME_NULL:
		return utimensat(AT_FDCWD, p1, NULL, 0);
	case UOP_UTIME_NOW:
		return utimensat(AT_FDCWD, p1, now, 0);
	case UOP_UTIME_SET:
		return utimensat(AT_FDCWD, p1, t, 0);
	case UOP_SETXATTR:
		return setxattr(p1, p2, "v", 1, 0);
	case UOP_GETXATTR:
		return getxattr(p1, p2, buf, sizeof buf) < 0 ? -1 : 0;
	case UOP_ACCESS:
		return access(p1, (int)a);
	case UOP_EACCESS:
		return faccessat(AT_FDCWD, p1, (int)a, AT_EACCESS);
	case UOP_MKNOD:
		return mknod(p1, (mode_t)a, (dev_t)b);
	}
	errno = ENOSYS;
	return -1;
}

#define CHILD_SETUP_FAILED 255
#define CHILD_ODD_ERRNO 254

/* The harness itself failed (reason already recorded with F): -1, ECHILD. */
static int harness_trouble(void)
{
	errno = ECHILD;
	return -1;
}

/*
 * Run one operation as pc.uid/pc.gid (no supplementary groups) in a child;
 * the child's errno comes back as its exit status.  Returns 0, or -1 with
 * errno set to the child's errno.
 */
int as_user(enum uop op, const char *p1, const char *p2, long a, long b)
{
	pid_t pid;
	int status;

	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		F("fork: %s", en(errno));
		return harness_trouble();
	}
	if (pid == 0) {
		if (setgroups(0, NULL) == -1 || setgid(pc.gid) == -1 ||
		    setuid(pc.uid) == -1)
			_exit(CHILD_SETUP_FAILED);
		if (uop_run(op, p1, p2, a, b) == 0)
			_exit(0);
		_exit(errno > 0 && errno < CHILD_ODD_ERRNO ? errno
							   : CHILD_ODD_ERRNO);
	}
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR) {
			F("waitpid: %s", en(errno));
			return harness_trouble();
		}
	if (!WIFEXITED(status)) {
		F("child died (status 0x%x)", status);
		return harness_trouble();
	}
	switch (WEXITSTATUS(status)) {
	case 0:
		return 0;
	case CHILD_SETUP_FAILED:
		F("child could not switch to uid %u gid %u", (unsigned)pc.uid,
		  (unsigned)pc.gid);
		return harness_trouble();
	case CHILD_ODD_ERRNO:
		F("child got an unexpected errno");
		return harness_trouble();
	}
	errno = WEXITSTATUS(status);
	return -1;
}

/* ------------------------------------------------------------------ */
/* Work directory and main                                              */
/* ------------------------------------------------------------------ */

/* Remove NAME (relative to directory fd AT) and everything below it. */
static int rm_tree(int at, const char *name)
{
	struct stat sb;
	struct dirent *de;
	DIR *d;
	int fd, rc = 0;

	if (fstatat(at, name, &sb, AT_SYMLINK_NOFOLLOW) == -1)
		return F("stat %s: %s", name, en(errno));
	if (!S_ISDIR(sb.st_mode)) {
		if (unlinkat(at, name, 0) == -1)
			return F("unlink %s: %s", name, en(errno));
		return 1;
	}
	fchmodat(at, name, 0700, 0);	/* so that it can be emptied */
	fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
	if (fd < 0 || !(d = fdopendir(fd))) {
		rc = errno;
		if (fd >= 0)
			close(fd);
		return F("open dir %s: %s", name, en(rc));
	}
	rc = 1;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (!rm_tree(dirfd(d), de->d_name))
			rc = 0;
	}
	closedir(d);
	if (unlinkat(at, name, AT_REMOVEDIR) == -1)
		return F("rmdir %s: %s", name, en(errno));
	return rc;
}

static const struct check_group {
	const char *name;
	void (*fn)(void);
} groups[] = {
	{ "open", t_open },	{ "link", t_link },
	{ "unlink", t_unlink },	{ "symlink", t_symlink },
	{ "mknod", t_mknod },	{ "truncate", t_truncate },
	{ "write", t_write },	{ "sparse", t_sparse },
	{ "append", t_append },	{ "locks", t_locks },
	{ "mkdir", t_mkdir },	{ "rmdir", t_rmdir },
	{ "rename", t_rename },	{ "readdir", t_readdir },
	{ "chmod", t_chmod },	{ "chown", t_chown },
	{ "access", t_access },	{ "utimensat", t_utimens },
	{ "xattr", t_xattr },	{ "statfs", t_statfs },
};

static double elapsed(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) +
	       (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void usage(void)
{
	fprintf(stderr, "usage: posixcheck [-u UID:GID] [-v] DIR\n");
	exit(2);
}

static int parse_ugid(const char *s)
{
	char *end;
	unsigned long u, g;

	errno = 0;
	u = strtoul(s, &end, 10);
	if (errno || end == s || *end != ':')
		return 0;
	s = end + 1;
	g = strtoul(s, &end, 10);
	if (errno || end == s || *end != '\0' || u >= UINT32_MAX ||
	    g >= UINT32_MAX)
		return 0;
	pc.uid = (uid_t)u;
	pc.gid = (gid_t)g;
	return 1;
}

int main(int argc, char **argv)
{
	char work[64];
	struct timespec t0, tg;
	int opt, wfd;
	size_t i;

	while ((opt = getopt(argc, argv, "u:v")) != -1) {
		if (opt == 'u' && parse_ugid(optarg))
			continue;
		if (opt == 'v') {
			pc.verbose = 1;
			continue;
		}
		usage();
	}
	if (optind != argc - 1)
		usage();
	if (setvbuf(stdout, NULL, _IOLBF, 0) != 0)
		return 2;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	alarm(600);		/* a hung filesystem must not hang us forever */
	umask(022);
	pc.root = geteuid() == 0;
	if (pc.root && pc.uid == 0)
		fprintf(stderr, "posixcheck: warning: -u 0 makes the "
				"permission checks meaningless\n");
	if (!pc.root)
		printf("# not running as root: root-only checks are skipped\n");

	/* the work directory: open by fd so that we can always return */
	snprintf(work, sizeof work, "posixcheck.%ld", (long)getpid());
	printf("# work directory %s/%s\n", argv[optind], work);
	T("setup: create the work directory");
	wfd = -1;
	if (ok_sys(chdir(argv[optind]), "chdir") && mkd(work, 0755) &&
	    ok_sys(chdir(work), "chdir work directory"))
		ok_sys(wfd = open(".", O_RDONLY | O_DIRECTORY), "open .");
	if (!E()) {
		printf("1..%d\n", n_checks);
		return 1;
	}

	for (i = 0; i < sizeof groups / sizeof groups[0]; i++) {
		clock_gettime(CLOCK_MONOTONIC, &tg);
		T("%s: group directory", groups[i].name);
		if (!mkd(groups[i].name, 0755) ||
		    !ok_sys(chdir(groups[i].name), "chdir")) {
			E();	/* counted only when it fails */
			continue;
		}
		in_check = 0;	/* success: not a numbered check */
		groups[i].fn();
		if (in_check)
			E();
		if (fchdir(wfd) == -1) {
			T("%s: return to work directory", groups[i].name);
			F("fchdir: %s", en(errno));
			E();
			break;
		}
		note("group %s: %.3f s", groups[i].name, elapsed(&tg));
	}

	T("cleanup: remove the work directory and everything in it");
	if (ok_sys(fchdir(wfd), "fchdir") && ok_sys(chdir(".."), "chdir .."))
		rm_tree(AT_FDCWD, work);
	close(wfd);
	E();

	printf("1..%d\n", n_checks);
	printf("# %d checks, %d failed, %.2f s, %d ctime sleeps\n", n_checks,
	       n_failed, elapsed(&t0), pc.sleeps);
	return n_failed ? 1 : 0;
}
