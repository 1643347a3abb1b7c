/*
 * pc-times.c - posixcheck: utimensat(2)/futimens(2) checks.
 *
 * Expectations follow pjdfstest (tests/utimensat/00.t .. 09.t) and the
 * Linux utimensat(2) permission rules: explicit times need ownership (or
 * CAP_FOWNER); "now" (NULL, or both UTIME_NOW) also works for anyone with
 * write permission, and without it gets EACCES.  ext4 with 256-byte inodes
 * stores nanoseconds and times from 1901 to 2446.
 */
#include "posixcheck.h"

#include <stdio.h>
#include <unistd.h>

/* PATH's atime and mtime must be exactly A and M (lstat). */
static int ok_times(const char *path, const struct timespec *a,
		    const struct timespec *m)
{
	struct stat sb;

	if (!get_stat(path, &sb))
		return 0;
	if (ts_cmp(&sb.st_atim, a) != 0)
		return F("%s: atime %lld.%09ld, want %lld.%09ld", path,
			 (long long)sb.st_atim.tv_sec, sb.st_atim.tv_nsec,
			 (long long)a->tv_sec, a->tv_nsec);
	if (ts_cmp(&sb.st_mtim, m) != 0)
		return F("%s: mtime %lld.%09ld, want %lld.%09ld", path,
			 (long long)sb.st_mtim.tv_sec, sb.st_mtim.tv_nsec,
			 (long long)m->tv_sec, m->tv_nsec);
	return 1;
}

static int set_times(const char *path, const struct timespec t[2], int flags)
{
	return ok_sys(utimensat(AT_FDCWD, path, t, flags), "utimensat");
}

void t_utimens(void)
{
	const struct timespec old = { OLD_SEC, 0 };
	struct timespec t[2] = { { 1000000000, 123456789 },
				 { 1100000000, 987654321 } };
	struct timespec ct;
	int fd;

	/* utimensat/00.t */
	T("utimensat: explicit times are stored to the nanosecond");
	if (mkf("u1", 0644, NULL) && set_times("u1", t, 0))
		ok_times("u1", &t[0], &t[1]);
	E();

	/* utimensat/01.t */
	T("utimensat: UTIME_NOW sets atime and mtime to the current time");
	t[0].tv_nsec = t[1].tv_nsec = UTIME_NOW;
	if (mkf("u2", 0644, NULL) && set_old("u2") && set_times("u2", t, 0) &&
	    ok_atime_moved("u2"))
		ok_mtime_moved("u2");
	E();

	/* utimensat/02.t */
	T("utimensat: UTIME_OMIT for atime leaves it, mtime is set");
	t[0].tv_nsec = UTIME_OMIT;
	t[1].tv_sec = 1200000000;
	t[1].tv_nsec = 5;
	if (mkf("u3", 0644, NULL) && set_old("u3") && set_times("u3", t, 0))
		ok_times("u3", &old, &t[1]);
	E();

	/* Linux: both UTIME_OMIT is a no-op, even for the ctime */
	T("utimensat: UTIME_OMIT for both changes nothing, not even ctime");
	t[0].tv_nsec = t[1].tv_nsec = UTIME_OMIT;
	if (mkf("u4", 0644, NULL) && set_old("u4") && ctime_mark("u4", &ct) &&
	    set_times("u4", t, 0) && ok_times("u4", &old, &old))
		ok_ctime_same("u4", &ct);
	E();

	T("utimensat: NULL times set atime and mtime to now and update ctime");
	if (mkf("u5", 0644, NULL) && set_old("u5") && ctime_mark("u5", &ct) &&
	    set_times("u5", NULL, 0) && ok_atime_moved("u5") &&
	    ok_mtime_moved("u5"))
		ok_ctime_moved("u5", &ct);
	E();

	T("utimensat: AT_SYMLINK_NOFOLLOW sets the symlink's times, not the target's");
	t[0].tv_sec = t[1].tv_sec = 1300000000;
	t[0].tv_nsec = t[1].tv_nsec = 0;
	if (mkf("u6", 0644, NULL) && set_old("u6") && mks("u6", "u6s") &&
	    set_times("u6s", t, AT_SYMLINK_NOFOLLOW) &&
	    ok_times("u6s", &t[0], &t[1]))
		ok_times("u6", &old, &old);
	E();

	/* utimensat/07.t, 08.t: times outside 1970..2038 */
	T("utimensat: a time before 1970 (1966) is stored exactly");
	t[0].tv_sec = t[1].tv_sec = -100000000;
	t[0].tv_nsec = 1;
	t[1].tv_nsec = 999999999;
	if (mkf("u7", 0644, NULL) && set_times("u7", t, 0))
		ok_times("u7", &t[0], &t[1]);
	E();

	T("utimensat: a time after 2038 (2100) is stored exactly");
	t[0].tv_sec = t[1].tv_sec = 4102444800LL;
	if (mkf("u8", 0644, NULL) && set_times("u8", t, 0))
		ok_times("u8", &t[0], &t[1]);
	E();

	T("utimensat: explicit times on a directory are stored exactly");
	t[0].tv_sec = 1400000000;
	t[1].tv_sec = 1500000000;
	if (mkd("u9", 0755) && set_times("u9", t, 0))
		ok_times("u9", &t[0], &t[1]);
	E();

	T("futimens: sets the times through a descriptor");
	fd = -1;
	t[0].tv_sec = 1600000000;
	t[1].tv_sec = 1600000001;
	if (mkf("u10", 0644, NULL) && ok_sys(fd = open("u10", O_RDONLY), "open") &&
	    ok_sys(futimens(fd, t), "futimens"))
		ok_times("u10", &t[0], &t[1]);
	if (fd >= 0)
		close(fd);
	E();

	/* utimensat/03.t */
	T("utimensat: tv_nsec of 1000000000 fails with EINVAL");
	t[0].tv_nsec = 1000000000;
	if (mkf("u11", 0644, NULL))
		ok_errno(utimensat(AT_FDCWD, "u11", t, 0), EINVAL, "utimensat");
	E();

	T("utimensat: a missing file fails with ENOENT");
	ok_errno(utimensat(AT_FDCWD, "u12", NULL, 0), ENOENT, "utimensat");
	E();

	/* utimensat/04.t .. 06.t: permissions */
	T("utimensat: a non-root owner can set explicit times");
	t[0].tv_sec = t[1].tv_sec = 1234567890;
	t[0].tv_nsec = t[1].tv_nsec = 0;
	if (need_root() && mkf("p1", 0644, NULL) && give("p1", pc.uid, pc.gid) &&
	    ok_sys(as_user(UOP_UTIME_SET, "p1", NULL, 1234567890, 0),
		   "utimensat as user"))
		ok_times("p1", &t[0], &t[1]);
	E();

	T("utimensat: a non-owner with write permission can set NULL times");
	if (need_root() && mkf("p2", 0666, NULL) && set_old("p2") &&
	    ok_sys(as_user(UOP_UTIME_NULL, "p2", NULL, 0, 0),
		   "utimensat as user"))
		ok_mtime_moved("p2");
	E();

	T("utimensat: a non-owner with write permission can set UTIME_NOW times");
	if (need_root() && mkf("p3", 0666, NULL) && set_old("p3") &&
	    ok_sys(as_user(UOP_UTIME_NOW, "p3", NULL, 0, 0),
		   "utimensat as user"))
		ok_mtime_moved("p3");
	E();

	T("utimensat: a non-owner with write permission cannot set explicit times (EPERM)");
	if (need_root() && mkf("p4", 0666, NULL) && set_old("p4") &&
	    ok_errno(as_user(UOP_UTIME_SET, "p4", NULL, 1234567890, 0), EPERM,
		     "utimensat as user"))
		ok_times("p4", &old, &old);
	E();

	T("utimensat: a non-owner without write permission gets EACCES for NULL times");
	if (need_root() && mkf("p5", 0644, NULL) && set_old("p5") &&
	    ok_errno(as_user(UOP_UTIME_NULL, "p5", NULL, 0, 0), EACCES,
		     "utimensat as user"))
		ok_times("p5", &old, &old);
	E();

	T("utimensat: a non-owner without write permission cannot set explicit times (EPERM)");
	if (need_root() && mkf("p6", 0644, NULL))
		ok_errno(as_user(UOP_UTIME_SET, "p6", NULL, 1234567890, 0),
			 EPERM, "utimensat as user");
	E();
}
