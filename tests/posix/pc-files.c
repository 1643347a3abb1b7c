/*
 * pc-files.c - posixcheck: open, link and unlink checks.
 *
 * Expectations follow pjdfstest (tests/open, link, unlink) as resolved on
 * Linux, plus Linux-specific details noted per check.
 */
#include "posixcheck.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

/* A name of LEN bytes ("nnn...n"), LEN < 300. */
static const char *long_name(char *buf, size_t size, size_t len)
{
	if (len >= size)
		len = size - 1;
	memset(buf, 'n', len);
	buf[len] = '\0';
	return buf;
}

/* ---- open(2): pjdfstest open/00.t .. open/25.t ---- */
void t_open(void)
{
	struct timespec ct;
	char name[300];
	int fd;

	/* open/00.t: new file gets mode & ~umask, caller's uid and egid */
	T("open: O_CREAT makes a regular file, mode 0666 & ~022, caller owns it");
	if (ok_sys(fd = open("c1", O_CREAT | O_WRONLY, 0666), "open") &&
	    ok_sys(close(fd), "close") && ok_type("c1", S_IFREG) &&
	    ok_mode("c1", 0644) && ok_size("c1", 0))
		ok_owner("c1", geteuid(), getegid());
	E();

	/* open/22.t */
	T("open: O_CREAT|O_EXCL on an existing file fails with EEXIST");
	if (mkf("x1", 0644, "data"))
		ok_errno(open("x1", O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST,
			 "open O_EXCL");
	E();

	/* POSIX: O_EXCL|O_CREAT fails if the name is a symlink, dangling or not */
	T("open: O_CREAT|O_EXCL on a dangling symlink fails with EEXIST");
	if (mks("nowhere", "x2"))
		ok_errno(open("x2", O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST,
			 "open O_EXCL");
	E();

	/* Linux follows a dangling symlink when creating without O_EXCL */
	T("open: O_CREAT through a dangling symlink creates the target");
	if (mks("x3target", "x3") &&
	    ok_sys(fd = open("x3", O_CREAT | O_WRONLY, 0644), "open") &&
	    ok_sys(close(fd), "close") && ok_type("x3target", S_IFREG))
		ok_type("x3", S_IFLNK);
	E();

	T("open: O_CREAT on an existing file keeps its mode and content");
	if (mkf("x4", 0604, "keep") &&
	    ok_sys(fd = open("x4", O_CREAT | O_RDWR, 0777), "open") &&
	    ok_sys(close(fd), "close") && ok_mode("x4", 0604))
		ok_content("x4", "keep", 4);
	E();

	/* open/00.t: O_TRUNC updates mtime and ctime */
	T("open: O_TRUNC empties the file and updates mtime and ctime");
	if (mkf("t1", 0644, "some data") && set_old("t1") &&
	    ctime_mark("t1", &ct) &&
	    ok_sys(fd = open("t1", O_WRONLY | O_TRUNC), "open O_TRUNC") &&
	    ok_sys(close(fd), "close") && ok_size("t1", 0) &&
	    ok_mtime_moved("t1"))
		ok_ctime_moved("t1", &ct);
	E();

	/* open/04.t, open/05.t */
	T("open: missing file without O_CREAT fails with ENOENT");
	ok_errno(open("missing", O_RDONLY), ENOENT, "open");
	E();

	T("open: O_CREAT in a missing directory fails with ENOENT");
	ok_errno(open("nodir/f", O_CREAT | O_WRONLY, 0644), ENOENT, "open");
	E();

	/* open/01.t */
	T("open: a regular file as a path prefix fails with ENOTDIR");
	if (mkf("nd", 0644, NULL) &&
	    ok_errno(open("nd/x", O_RDONLY), ENOTDIR, "open nd/x"))
		ok_errno(open("nd/y", O_CREAT | O_WRONLY, 0644), ENOTDIR,
			 "open O_CREAT nd/y");
	E();

	/* open/16.t: O_NOFOLLOW on a symlink */
	T("open: O_NOFOLLOW on a symlink fails with ELOOP");
	if (mkf("nf", 0644, NULL) && mks("nf", "nfl"))
		ok_errno(open("nfl", O_RDONLY | O_NOFOLLOW), ELOOP, "open");
	E();

	/* open/12.t */
	T("open: a symlink loop fails with ELOOP");
	if (mks("loop2", "loop1") && mks("loop1", "loop2"))
		ok_errno(open("loop1", O_RDONLY), ELOOP, "open");
	E();

	/* open/13.t */
	T("open: a directory for writing fails with EISDIR (O_WRONLY, O_RDWR)");
	if (mkd("dw", 0755) &&
	    ok_errno(open("dw", O_WRONLY), EISDIR, "open O_WRONLY"))
		ok_errno(open("dw", O_RDWR), EISDIR, "open O_RDWR");
	E();

	T("open: O_DIRECTORY on a regular file fails with ENOTDIR");
	if (mkf("od", 0644, NULL))
		ok_errno(open("od", O_RDONLY | O_DIRECTORY), ENOTDIR, "open");
	E();

	T("open: O_RDONLY|O_DIRECTORY on a directory succeeds");
	if (mkd("od2", 0755) &&
	    ok_sys(fd = open("od2", O_RDONLY | O_DIRECTORY), "open"))
		ok_sys(close(fd), "close");
	E();

	/* open/02.t: NAME_MAX is 255 */
	T("open: a 255-byte name can be created, a 256-byte one gets ENAMETOOLONG");
	if (ok_sys(fd = open(long_name(name, sizeof name, 255),
			     O_CREAT | O_WRONLY, 0644), "open 255") &&
	    ok_sys(close(fd), "close"))
		ok_errno(open(long_name(name, sizeof name, 256),
			      O_CREAT | O_WRONLY, 0644), ENAMETOOLONG,
			 "open 256");
	E();

	/* root bypasses permission bits (CAP_DAC_OVERRIDE) */
	T("open: root opens a mode 0000 file for reading and writing");
	if (need_root() && mkf("z0", 0000, "z") &&
	    ok_sys(fd = open("z0", O_RDWR), "open"))
		ok_sys(close(fd), "close");
	E();

	/* open/06.t: permission checks for another user */
	T("open: another user cannot read a 0600 file (EACCES)");
	if (need_root() && mkf("p600", 0600, "x"))
		ok_errno(as_user(UOP_OPEN, "p600", NULL, O_RDONLY, 0), EACCES,
			 "open O_RDONLY as user");
	E();

	T("open: another user cannot open a 0644 file for writing (EACCES)");
	if (need_root() && mkf("p644", 0644, "x"))
		ok_errno(as_user(UOP_OPEN, "p644", NULL, O_WRONLY, 0), EACCES,
			 "open O_WRONLY as user");
	E();

	T("open: another user can read a 0644 file");
	if (need_root() && mkf("r644", 0644, "x"))
		ok_sys(as_user(UOP_OPEN, "r644", NULL, O_RDONLY, 0),
		       "open O_RDONLY as user");
	E();

	/* open/05.t: search permission on a path prefix */
	T("open: another user without search permission on the directory gets EACCES");
	if (need_root() && mkd("nox", 0755) && mkf("nox/f", 0644, "x") &&
	    ok_sys(chmod("nox", 0644), "chmod"))
		ok_errno(as_user(UOP_OPEN, "nox/f", NULL, O_RDONLY, 0), EACCES,
			 "open as user");
	E();

	/* open/08.t: no write permission on the parent */
	T("open: another user cannot create in a 0755 root directory (EACCES)");
	if (need_root())
		ok_errno(as_user(UOP_CREATE, "ucreate", NULL, 0644, 0), EACCES,
			 "create as user");
	E();

	T("open: a file created by another user is owned by that user");
	if (need_root() && mkd("w777", 0777) &&
	    ok_sys(as_user(UOP_CREATE, "w777/f", NULL, 0640, 0),
		   "create as user") && ok_owner("w777/f", pc.uid, pc.gid))
		ok_mode("w777/f", 0640);
	E();
}

/* ---- link(2): pjdfstest link/00.t .. link/17.t ---- */
void t_link(void)
{
	struct stat a, b;
	struct timespec ct;

	/* link/00.t: both names show the new link count at once */
	T("link: both names show st_nlink 2 and the same st_ino");
	if (mkf("l1", 0644, "abc") && ok_sys(link("l1", "l1b"), "link") &&
	    get_stat("l1", &a) && get_stat("l1b", &b) &&
	    ok_eq((long long)a.st_nlink, 2, "nlink of l1") &&
	    ok_eq((long long)b.st_nlink, 2, "nlink of l1b"))
		ok_eq((long long)b.st_ino, (long long)a.st_ino, "st_ino of l1b");
	E();

	T("link: data written through one name is read through the other");
	if (mkf("l2", 0644, NULL) && ok_sys(link("l2", "l2b"), "link")) {
		int fd = open("l2b", O_WRONLY);

		if (ok_sys(fd, "open l2b") && write_all(fd, "shared", 6) &&
		    ok_sys(close(fd), "close"))
			ok_content("l2", "shared", 6);
	}
	E();

	T("link: a third name in another directory gives st_nlink 3");
	if (mkf("l3", 0644, NULL) && mkd("l3d", 0755) &&
	    ok_sys(link("l3", "l3b"), "link") &&
	    ok_sys(link("l3b", "l3d/l3c"), "link") && ok_nlink("l3", 3))
		ok_nlink("l3d/l3c", 3);
	E();

	/* link/00.t: ctime of the file and mtime/ctime of the parent */
	T("link: updates the ctime of the file");
	if (mkf("l4", 0644, NULL) && ctime_mark("l4", &ct) &&
	    ok_sys(link("l4", "l4b"), "link"))
		ok_ctime_moved("l4", &ct);
	E();

	T("link: updates the mtime of the directory of the new name");
	if (mkf("l5", 0644, NULL) && mkd("l5d", 0755) && set_old("l5d") &&
	    ok_sys(link("l5", "l5d/l5b"), "link"))
		ok_mtime_moved("l5d");
	E();

	/* link/10.t */
	T("link: to an existing name fails with EEXIST (file and symlink)");
	if (mkf("l6", 0644, NULL) && mkf("l6b", 0644, NULL) &&
	    mks("l6", "l6s") &&
	    ok_errno(link("l6", "l6b"), EEXIST, "link to file"))
		ok_errno(link("l6", "l6s"), EEXIST, "link to symlink");
	E();

	/* link/04.t */
	T("link: a missing source fails with ENOENT");
	ok_errno(link("l7missing", "l7"), ENOENT, "link");
	E();

	/* link/11.t: Linux refuses hard links to directories */
	T("link: a directory as source fails with EPERM");
	if (mkd("l8d", 0755))
		ok_errno(link("l8d", "l8e"), EPERM, "link");
	E();

	/* link/01.t */
	T("link: a regular file as a path prefix fails with ENOTDIR");
	if (mkf("l9", 0644, NULL))
		ok_errno(link("l9/x", "l9b"), ENOTDIR, "link");
	E();

	T("link: after unlinking one name the other shows st_nlink 1 at once");
	if (mkf("l10", 0644, NULL) && ok_sys(link("l10", "l10b"), "link") &&
	    ok_nlink("l10b", 2) && ok_sys(unlink("l10"), "unlink"))
		ok_nlink("l10b", 1);
	E();

	/* Linux link(2) does not follow a symlink source */
	T("link: of a symlink links the symlink itself, not its target");
	if (mkf("l11", 0644, NULL) && mks("l11", "l11s") &&
	    ok_sys(link("l11s", "l11h"), "link") && get_stat("l11s", &a) &&
	    get_stat("l11h", &b) && ok_type("l11h", S_IFLNK) &&
	    ok_eq((long long)b.st_ino, (long long)a.st_ino, "st_ino"))
		ok_nlink("l11", 1);
	E();

	T("link: linkat AT_SYMLINK_FOLLOW links the symlink's target");
	if (mkf("l12", 0644, NULL) && mks("l12", "l12s") &&
	    ok_sys(linkat(AT_FDCWD, "l12s", AT_FDCWD, "l12h",
			  AT_SYMLINK_FOLLOW), "linkat") &&
	    ok_type("l12h", S_IFREG))
		ok_nlink("l12", 2);
	E();

	/* link/13.t: no write permission on the target directory (the user
	 * owns the file, so fs.protected_hardlinks does not apply) */
	T("link: another user cannot link into a 0755 root directory (EACCES)");
	if (need_root() && mkf("l13", 0644, NULL) &&
	    give("l13", pc.uid, pc.gid) && mkd("l13d", 0755))
		ok_errno(as_user(UOP_LINK, "l13", "l13d/x", 0, 0), EACCES,
			 "link as user");
	E();
}

/* ---- unlink(2): pjdfstest unlink/00.t .. unlink/14.t ---- */
void t_unlink(void)
{
	struct stat sb;
	struct timespec ct;
	char buf[32];
	int fd;

	T("unlink: removes the name");
	if (mkf("u1", 0644, NULL) && ok_sys(unlink("u1"), "unlink"))
		ok_absent("u1");
	E();

	/* unlink/00.t: nlink and ctime of the remaining link */
	T("unlink: the other link shows st_nlink 1 and a new ctime at once");
	if (mkf("u2", 0644, NULL) && ok_sys(link("u2", "u2b"), "link") &&
	    ctime_mark("u2b", &ct) && ok_sys(unlink("u2"), "unlink") &&
	    ok_nlink("u2b", 1))
		ok_ctime_moved("u2b", &ct);
	E();

	T("unlink: updates the mtime of the parent directory");
	if (mkd("u3d", 0755) && mkf("u3d/f", 0644, NULL) && set_old("u3d") &&
	    ok_sys(unlink("u3d/f"), "unlink"))
		ok_mtime_moved("u3d");
	E();

	/* POSIX: the file lives on while it is open */
	T("unlink: an open descriptor stays readable after unlink");
	fd = -1;
	if (mkf("u4", 0644, "still here") &&
	    ok_sys(fd = open("u4", O_RDONLY), "open") &&
	    ok_sys(unlink("u4"), "unlink") && ok_absent("u4")) {
		ssize_t n = pread(fd, buf, sizeof buf, 0);

		if (ok_sys(n, "pread"))
			ok_true(n == 10 && memcmp(buf, "still here", 10) == 0,
				"read %zd bytes, not the content", n);
	}
	E();

	T("unlink: fstat of the open unlinked file shows st_nlink 0");
	if (fd >= 0 && ok_sys(fstat(fd, &sb), "fstat"))
		ok_eq((long long)sb.st_nlink, 0, "st_nlink");
	else if (fd < 0)
		F("no descriptor from the previous check");
	E();
	if (fd >= 0)
		close(fd);

	T("unlink: an unlinked open file can still be written and read back");
	fd = -1;
	if (mkf("u5", 0644, NULL) && ok_sys(fd = open("u5", O_RDWR), "open") &&
	    ok_sys(unlink("u5"), "unlink") &&
	    ok_eq(pwrite(fd, "later", 5, 100), 5, "pwrite") &&
	    ok_eq(pread(fd, buf, 5, 100), 5, "pread"))
		ok_true(memcmp(buf, "later", 5) == 0, "read back other data");
	if (fd >= 0)
		close(fd);
	E();

	/* unlink/09.t: Linux returns EISDIR for a directory */
	T("unlink: a directory fails with EISDIR");
	if (mkd("u6", 0755))
		ok_errno(unlink("u6"), EISDIR, "unlink");
	E();

	T("unlink: a missing name fails with ENOENT");
	ok_errno(unlink("u7"), ENOENT, "unlink");
	E();

	T("unlink: a regular file as a path prefix fails with ENOTDIR");
	if (mkf("u8", 0644, NULL))
		ok_errno(unlink("u8/x"), ENOTDIR, "unlink");
	E();

	T("unlink: of a symlink removes the link and leaves the target");
	if (mkf("u9", 0644, NULL) && mks("u9", "u9s") &&
	    ok_sys(unlink("u9s"), "unlink") && ok_absent("u9s"))
		ok_type("u9", S_IFREG);
	E();

	T("unlink: removes a fifo");
	if (ok_sys(mkfifo("u10", 0644), "mkfifo") &&
	    ok_sys(unlink("u10"), "unlink"))
		ok_absent("u10");
	E();

	/* unlink/05.t */
	T("unlink: another user cannot unlink in a 0755 root directory (EACCES)");
	if (need_root() && mkf("u11", 0666, NULL))
		ok_errno(as_user(UOP_UNLINK, "u11", NULL, 0, 0), EACCES,
			 "unlink as user");
	E();
}
