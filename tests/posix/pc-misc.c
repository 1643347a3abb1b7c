/*
 * pc-misc.c - posixcheck: extended attributes, statfs/statvfs, and flock
 * and fcntl record locks between processes.
 *
 * Expectations: Linux xattr(7) (user.* only on regular files and
 * directories, access governed by the file permission bits; trusted.*
 * needs CAP_SYS_ADMIN; values up to 64 KiB), statfs(2), flock(2) and
 * fcntl(2) F_SETLK/F_GETLK as on Linux.
 */
#include "posixcheck.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

/* getxattr PATH NAME must give exactly the LEN bytes of WANT. */
static int ok_xattr(const char *path, const char *name, const void *want,
		    size_t len)
{
	char *buf = malloc(len + 16);
	ssize_t n;
	int ok = 0;

	if (!buf)
		return F("out of memory");
	n = getxattr(path, name, buf, len + 16);
	if (n < 0)
		F("getxattr %s %s: %s", path, name, en(errno));
	else if ((size_t)n != len)
		F("getxattr %s %s: %zd bytes, want %zu", path, name, n, len);
	else
		ok = ok_true(memcmp(buf, want, len) == 0, "%s: value differs",
			     name);
	free(buf);
	return ok;
}

/* listxattr PATH must contain NAME exactly once. */
static int ok_listed(const char *path, const char *name)
{
	char list[4096];
	ssize_t n = listxattr(path, list, sizeof list);
	size_t off;
	int seen = 0;

	if (n < 0)
		return F("listxattr %s: %s", path, en(errno));
	for (off = 0; off < (size_t)n; off += strlen(list + off) + 1)
		if (strcmp(list + off, name) == 0)
			seen++;
	return ok_true(seen == 1, "%s listed %d times", name, seen);
}

/* ---- extended attributes ---- */
void t_xattr(void)
{
	struct timespec ct;
	size_t big = 65536, i;
	char *val;
	ssize_t n;
	int fd;

	T("xattr: a user.* value set is read back");
	if (mkf("x1", 0644, NULL) &&
	    ok_sys(setxattr("x1", "user.test", "hello", 5, 0), "setxattr"))
		ok_xattr("x1", "user.test", "hello", 5);
	E();

	T("xattr: getxattr with size 0 returns the value length");
	ok_eq(getxattr("x1", "user.test", NULL, 0), 5, "getxattr size");
	E();

	T("xattr: listxattr lists each name once and sizes the list right");
	if (ok_sys(setxattr("x1", "user.other", "", 0, 0), "setxattr") &&
	    ok_listed("x1", "user.test") && ok_listed("x1", "user.other") &&
	    ok_sys(n = listxattr("x1", NULL, 0), "listxattr size")) {
		char list[4096];

		ok_eq(listxattr("x1", list, sizeof list), n, "list length");
	}
	E();

	T("xattr: an empty value round-trips");
	ok_xattr("x1", "user.other", "", 0);
	E();

	T("xattr: a missing name gets ENODATA");
	ok_errno(getxattr("x1", "user.missing", NULL, 0), ENODATA, "getxattr");
	E();

	T("xattr: a too small buffer gets ERANGE");
	{
		char small[2];

		ok_errno(getxattr("x1", "user.test", small, sizeof small),
			 ERANGE, "getxattr");
	}
	E();

	T("xattr: XATTR_CREATE on an existing name fails with EEXIST");
	if (ok_errno(setxattr("x1", "user.test", "new", 3, XATTR_CREATE),
		     EEXIST, "setxattr"))
		ok_xattr("x1", "user.test", "hello", 5);
	E();

	T("xattr: XATTR_REPLACE on a missing name fails with ENODATA");
	if (ok_errno(setxattr("x1", "user.nope", "v", 1, XATTR_REPLACE),
		     ENODATA, "setxattr"))
		ok_errno(getxattr("x1", "user.nope", NULL, 0), ENODATA,
			 "getxattr");
	E();

	T("xattr: XATTR_REPLACE on an existing name replaces the value");
	if (ok_sys(setxattr("x1", "user.test", "replaced", 8, XATTR_REPLACE),
		   "setxattr"))
		ok_xattr("x1", "user.test", "replaced", 8);
	E();

	T("xattr: removexattr removes the name; again gets ENODATA");
	if (ok_sys(removexattr("x1", "user.test"), "removexattr") &&
	    ok_errno(getxattr("x1", "user.test", NULL, 0), ENODATA,
		     "getxattr") && ok_listed("x1", "user.other"))
		ok_errno(removexattr("x1", "user.test"), ENODATA,
			 "removexattr");
	E();

	val = malloc(big);
	for (i = 0; val && i < big; i++)
		val[i] = (char)(i * 13 + i / 251);

	/* ext4 without the ea_inode feature keeps a value in one block */
	T("xattr: a 3000-byte value round-trips");
	if (!val)
		F("out of memory");
	else if (mkf("x2", 0644, NULL) &&
		 ok_sys(setxattr("x2", "user.mid", val, 3000, 0), "setxattr"))
		ok_xattr("x2", "user.mid", val, 3000);
	E();

	/* Linux XATTR_SIZE_MAX; a filesystem may refuse it (ENOSPC, E2BIG)
	 * but must not store it wrongly */
	T("xattr: a 64 KiB value round-trips, or is refused with ENOSPC or E2BIG");
	if (!val)
		F("out of memory");
	else if (setxattr("x2", "user.big", val, big, 0) == 0)
		ok_xattr("x2", "user.big", val, big);
	else if (errno != ENOSPC && errno != E2BIG)
		F("setxattr: %s", en(errno));
	else
		ok_errno(getxattr("x2", "user.big", NULL, 0), ENODATA,
			 "getxattr of the refused name");
	free(val);
	E();

	T("xattr: user.* works on a directory");
	if (mkd("x3", 0755) &&
	    ok_sys(setxattr("x3", "user.d", "dir", 3, 0), "setxattr"))
		ok_xattr("x3", "user.d", "dir", 3);
	E();

	/* xattr(7): user.* is not allowed on symlinks */
	T("xattr: user.* on a symlink (lsetxattr) fails with EPERM");
	if (mks("x1", "x4"))
		ok_errno(lsetxattr("x4", "user.l", "v", 1, 0), EPERM,
			 "lsetxattr");
	E();

	T("xattr: an unknown namespace fails with EOPNOTSUPP");
	ok_errno(setxattr("x1", "bogus.name", "v", 1, 0), EOPNOTSUPP,
		 "setxattr");
	E();

	T("xattr: fsetxattr/fgetxattr work on a descriptor");
	fd = -1;
	if (mkf("x5", 0644, NULL) && ok_sys(fd = open("x5", O_RDONLY), "open") &&
	    ok_sys(fsetxattr(fd, "user.fd", "fdval", 5, 0), "fsetxattr")) {
		char buf[16];

		ok_true(fgetxattr(fd, "user.fd", buf, sizeof buf) == 5 &&
			memcmp(buf, "fdval", 5) == 0, "fgetxattr mismatch");
	}
	if (fd >= 0)
		close(fd);
	E();

	T("xattr: set through one hard link is seen through the other");
	if (mkf("x6", 0644, NULL) && ok_sys(link("x6", "x6b"), "link") &&
	    ok_sys(setxattr("x6", "user.h", "linked", 6, 0), "setxattr"))
		ok_xattr("x6b", "user.h", "linked", 6);
	E();

	T("xattr: setxattr updates ctime");
	if (mkf("x7", 0644, NULL) && ctime_mark("x7", &ct) &&
	    ok_sys(setxattr("x7", "user.c", "c", 1, 0), "setxattr"))
		ok_ctime_moved("x7", &ct);
	E();

	T("xattr: root can set and read trusted.*");
	if (need_root() && mkf("x8", 0644, NULL) &&
	    ok_sys(setxattr("x8", "trusted.t", "root", 4, 0), "setxattr"))
		ok_xattr("x8", "trusted.t", "root", 4);
	E();

	T("xattr: another user cannot set user.* on a file it cannot write (EACCES)");
	if (need_root() && mkf("x9", 0644, NULL))
		ok_errno(as_user(UOP_SETXATTR, "x9", "user.u", 0, 0), EACCES,
			 "setxattr as user");
	E();

	T("xattr: another user can read user.* of a 0644 file");
	if (need_root() && mkf("x10", 0644, NULL) &&
	    ok_sys(setxattr("x10", "user.r", "v", 1, 0), "setxattr"))
		ok_sys(as_user(UOP_GETXATTR, "x10", "user.r", 0, 0),
		       "getxattr as user");
	E();

	T("xattr: another user cannot read user.* of a 0600 file (EACCES)");
	if (need_root() && mkf("x11", 0600, NULL) &&
	    ok_sys(setxattr("x11", "user.r", "v", 1, 0), "setxattr"))
		ok_errno(as_user(UOP_GETXATTR, "x11", "user.r", 0, 0), EACCES,
			 "getxattr as user");
	E();
}

/* ---- statfs(2), fstatfs(2), statvfs(3) ---- */
void t_statfs(void)
{
	struct statfs a, b;
	struct statvfs v;
	int fd;

	T("statfs: succeeds, f_bsize > 0, 0 <= f_bavail <= f_bfree <= f_blocks");
	if (ok_sys(statfs(".", &a), "statfs") &&
	    ok_true(a.f_bsize > 0, "f_bsize %ld", (long)a.f_bsize) &&
	    ok_true(a.f_blocks > 0, "f_blocks 0"))
		ok_true(a.f_bfree <= a.f_blocks && a.f_bavail <= a.f_bfree,
			"f_blocks %llu f_bfree %llu f_bavail %llu",
			(unsigned long long)a.f_blocks,
			(unsigned long long)a.f_bfree,
			(unsigned long long)a.f_bavail);
	E();

	T("statfs: f_files > 0 and f_ffree <= f_files");
	if (ok_sys(statfs(".", &a), "statfs"))
		ok_true(a.f_files > 0 && a.f_ffree <= a.f_files,
			"f_files %llu f_ffree %llu",
			(unsigned long long)a.f_files,
			(unsigned long long)a.f_ffree);
	E();

	T("fstatfs: agrees with statfs on type, block size and block count");
	fd = open(".", O_RDONLY | O_DIRECTORY);
	if (ok_sys(fd, "open") && ok_sys(fstatfs(fd, &b), "fstatfs") &&
	    ok_sys(statfs(".", &a), "statfs") &&
	    ok_eq((long long)b.f_type, (long long)a.f_type, "f_type") &&
	    ok_eq((long long)b.f_bsize, (long long)a.f_bsize, "f_bsize"))
		ok_eq((long long)b.f_blocks, (long long)a.f_blocks, "f_blocks");
	if (fd >= 0)
		close(fd);
	E();

	T("statvfs: f_frsize > 0 and f_namemax >= 255");
	if (ok_sys(statvfs(".", &v), "statvfs") &&
	    ok_true(v.f_frsize > 0, "f_frsize 0"))
		ok_true(v.f_namemax >= 255, "f_namemax %lu", v.f_namemax);
	E();
}

/* ---- flock(2), fcntl(2) record locks ---- */
enum hold_kind { HOLD_FLOCK_EX, HOLD_FLOCK_SH, HOLD_FCNTL_WR_0_100 };

struct holder {
	pid_t pid;
	int release;		/* closing it lets the child exit */
};

static int child_lock(const char *path, enum hold_kind kind)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET,
			    .l_start = 0, .l_len = 100 };
	int fd = open(path, O_RDWR);

	if (fd < 0)
		return errno;
	if (kind == HOLD_FLOCK_EX)
		return flock(fd, LOCK_EX) ? errno : 0;
	if (kind == HOLD_FLOCK_SH)
		return flock(fd, LOCK_SH) ? errno : 0;
	return fcntl(fd, F_SETLK, &fl) ? errno : 0;
}

/* Fork a child that opens PATH itself, takes the lock and holds it until
 * release(); 1 once the child reports the lock taken. */
static int hold(struct holder *h, const char *path, enum hold_kind kind)
{
	int ready[2], rel[2];
	char st = 0;

	h->pid = -1;
	h->release = -1;
	if (pipe(ready) == -1)
		return F("pipe: %s", en(errno));
	if (pipe(rel) == -1) {
		close(ready[0]);
		close(ready[1]);
		return F("pipe: %s", en(errno));
	}
	fflush(stdout);
	h->pid = fork();
	if (h->pid == 0) {
		close(ready[0]);
		close(rel[1]);
		st = (char)child_lock(path, kind);
		if (write(ready[1], &st, 1) == 1)
			while (read(rel[0], &st, 1) == -1 && errno == EINTR)
				;
		_exit(0);
	}
	close(ready[1]);
	close(rel[0]);
	if (h->pid < 0) {
		close(ready[0]);
		close(rel[1]);
		return F("fork: %s", en(errno));
	}
	h->release = rel[1];
	if (read(ready[0], &st, 1) != 1)
		st = (char)EIO;
	close(ready[0]);
	if (st != 0)
		return F("lock in the child: %s", en(st));
	return 1;
}

static void release(struct holder *h)
{
	int st;

	if (h->release >= 0)
		close(h->release);
	if (h->pid > 0)
		while (waitpid(h->pid, &st, 0) == -1 && errno == EINTR)
			;
	h->release = h->pid = -1;
}

static int set_lock(int fd, short type, off_t start, off_t len)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET,
			    .l_start = start, .l_len = len };

	return fcntl(fd, F_SETLK, &fl);
}

void t_locks(void)
{
	struct holder h = { -1, -1 };
	struct flock fl;
	int fd;

	fd = -1;
	T("flock: LOCK_EX held by another process: LOCK_EX|LOCK_NB and LOCK_SH|LOCK_NB get EWOULDBLOCK");
	if (mkf("k1", 0644, "lock") && hold(&h, "k1", HOLD_FLOCK_EX) &&
	    ok_sys(fd = open("k1", O_RDWR), "open") &&
	    ok_errno(flock(fd, LOCK_EX | LOCK_NB), EWOULDBLOCK, "LOCK_EX"))
		ok_errno(flock(fd, LOCK_SH | LOCK_NB), EWOULDBLOCK, "LOCK_SH");
	E();

	T("flock: once the holder exits, LOCK_EX|LOCK_NB succeeds");
	release(&h);
	if (fd >= 0)
		ok_sys(flock(fd, LOCK_EX | LOCK_NB), "flock");
	else
		F("no descriptor");
	if (fd >= 0)
		close(fd);
	E();

	fd = -1;
	T("flock: shared locks coexist; upgrading to LOCK_EX|LOCK_NB gets EWOULDBLOCK");
	if (mkf("k2", 0644, "lock") && hold(&h, "k2", HOLD_FLOCK_SH) &&
	    ok_sys(fd = open("k2", O_RDWR), "open") &&
	    ok_sys(flock(fd, LOCK_SH | LOCK_NB), "LOCK_SH"))
		ok_errno(flock(fd, LOCK_EX | LOCK_NB), EWOULDBLOCK, "LOCK_EX");
	release(&h);
	if (fd >= 0)
		close(fd);
	E();

	fd = -1;
	T("fcntl: a conflicting F_SETLK (write or read) on a locked range gets EAGAIN");
	if (mkf("k3", 0644, "lock") && hold(&h, "k3", HOLD_FCNTL_WR_0_100) &&
	    ok_sys(fd = open("k3", O_RDWR), "open") &&
	    ok_errno(set_lock(fd, F_WRLCK, 50, 10), EAGAIN, "F_WRLCK"))
		ok_errno(set_lock(fd, F_RDLCK, 0, 1), EAGAIN, "F_RDLCK");
	E();

	T("fcntl: F_GETLK reports the holder's F_WRLCK, range 0+100 and l_pid");
	memset(&fl, 0, sizeof fl);
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = 50;
	fl.l_len = 10;
	if (fd >= 0 && ok_sys(fcntl(fd, F_GETLK, &fl), "F_GETLK") &&
	    ok_eq(fl.l_type, F_WRLCK, "l_type") &&
	    ok_eq(fl.l_start, 0, "l_start") && ok_eq(fl.l_len, 100, "l_len"))
		ok_eq(fl.l_pid, h.pid, "l_pid");
	else if (fd < 0)
		F("no descriptor");
	E();

	T("fcntl: F_GETLK on an unlocked range reports F_UNLCK");
	memset(&fl, 0, sizeof fl);
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = 200;
	fl.l_len = 100;
	if (fd >= 0 && ok_sys(fcntl(fd, F_GETLK, &fl), "F_GETLK"))
		ok_eq(fl.l_type, F_UNLCK, "l_type");
	else if (fd < 0)
		F("no descriptor");
	E();

	T("fcntl: a write lock on a non-overlapping range succeeds");
	if (fd >= 0)
		ok_sys(set_lock(fd, F_WRLCK, 200, 100), "F_SETLK");
	else
		F("no descriptor");
	E();

	T("fcntl: once the holder exits, the range can be locked");
	release(&h);
	if (fd >= 0)
		ok_sys(set_lock(fd, F_WRLCK, 50, 10), "F_SETLK");
	else
		F("no descriptor");
	if (fd >= 0)
		close(fd);
	E();
}
