/*
 * pc-nodes.c - posixcheck: symlink/readlink and mkfifo/mknod/socket checks.
 *
 * Expectations follow pjdfstest (tests/symlink, mkfifo, mknod) as resolved
 * on Linux; symlink length limits are those of Linux (PATH_MAX 4096
 * including the terminating NUL) on ext4 with 4 KiB blocks.
 */
#include "posixcheck.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

/* A malloc'ed LEN-byte symlink target made of path components. */
static char *make_target(size_t len)
{
	char *t = malloc(len + 1);
	size_t i;

	if (!t)
		return NULL;
	for (i = 0; i < len; i++)
		t[i] = (i % 10 == 9) ? '/' : (char)('a' + (i / 10) % 26);
	t[len] = '\0';
	return t;
}

/* readlink PATH must give exactly WANT, and lstat's st_size its length. */
static int ok_link(const char *path, const char *want)
{
	size_t len = strlen(want);
	char *buf = malloc(len + 2);
	struct stat sb;
	ssize_t n;
	int ok = 0;

	if (!buf)
		return F("out of memory");
	n = readlink(path, buf, len + 2);
	if (!ok_sys(n, "readlink"))
		goto out;
	if (n != (ssize_t)len)
		F("readlink %s: %zd bytes, want %zu", path, n, len);
	else if (memcmp(buf, want, len) != 0)
		F("readlink %s: target differs", path);
	else if (get_stat(path, &sb))
		ok = ok_eq((long long)sb.st_size, (long long)len, "st_size");
out:
	free(buf);
	return ok;
}

/* ---- symlink(2), readlink(2): pjdfstest symlink/00.t .. 12.t ---- */
void t_symlink(void)
{
	struct stat a, b;
	char buf[16];
	char *t;

	T("symlink: target preserved, S_IFLNK, st_size = target length");
	if (mks("some/target", "s1") && ok_type("s1", S_IFLNK))
		ok_link("s1", "some/target");
	E();

	T("symlink: target is not normalised (../x/./y//z/)");
	if (mks("../x/./y//z/", "s2"))
		ok_link("s2", "../x/./y//z/");
	E();

	T("symlink: a 1500-byte target round-trips");
	t = make_target(1500);
	if (!t)
		F("out of memory");
	else if (mks(t, "s3"))
		ok_link("s3", t);
	free(t);
	E();

	/* symlink/03.t: PATH_MAX - 1 is allowed, PATH_MAX is not */
	T("symlink: a 4095-byte target round-trips, 4096 bytes gets ENAMETOOLONG");
	t = make_target(4096);
	if (!t)
		F("out of memory");
	else if (ok_errno(symlink(t, "s4x"), ENAMETOOLONG, "symlink 4096")) {
		t[4095] = '\0';
		if (mks(t, "s4"))
			ok_link("s4", t);
	}
	free(t);
	E();

	T("symlink: a dangling symlink: lstat works, stat gets ENOENT");
	if (mks("does/not/exist", "s5") && get_stat("s5", &a))
		ok_errno(stat("s5", &b), ENOENT, "stat");
	E();

	/* symlink/06.t */
	T("symlink: an existing name fails with EEXIST");
	if (mkf("s6", 0644, NULL) && mks("x", "s6s") &&
	    ok_errno(symlink("x", "s6"), EEXIST, "symlink over file"))
		ok_errno(symlink("x", "s6s"), EEXIST, "symlink over symlink");
	E();

	T("symlink: in a missing directory fails with ENOENT");
	ok_errno(symlink("x", "s7missing/s"), ENOENT, "symlink");
	E();

	/* readlink/ on a non-symlink */
	T("readlink: on a regular file fails with EINVAL");
	if (mkf("s8", 0644, NULL))
		ok_errno(readlink("s8", buf, sizeof buf), EINVAL, "readlink");
	E();

	T("readlink: a short buffer gets the first bytes, returns its size");
	memset(buf, 0, sizeof buf);
	if (mks("0123456789abcdef", "s9"))
		ok_true(readlink("s9", buf, 4) == 4 &&
			memcmp(buf, "0123", 4) == 0 && buf[4] == 0,
			"got '%.8s'", buf);
	E();

	/* Linux: symlinks always have mode 0777 */
	T("symlink: lstat shows permission bits 0777");
	if (mks("x", "s10"))
		ok_mode("s10", 0777);
	E();

	T("symlink: stat and open follow it to the target");
	if (mkf("s11", 0644, "target data") && mks("s11", "s11s") &&
	    get_stat("s11", &a) && ok_sys(stat("s11s", &b), "stat") &&
	    ok_eq((long long)b.st_ino, (long long)a.st_ino, "st_ino"))
		ok_content("s11s", "target data", 11);
	E();

	T("symlink: a symlink to a directory works as a path prefix");
	if (mkd("s12d", 0755) && mkf("s12d/f", 0644, "in dir") &&
	    mks("s12d", "s12s"))
		ok_content("s12s/f", "in dir", 6);
	E();

	T("symlink: relative targets resolve from the symlink's directory");
	if (mkd("s13d", 0755) && mkf("s13d/f", 0644, "rel") &&
	    mks("f", "s13d/l") && mks("s13d/l", "s13l"))
		ok_content("s13l", "rel", 3);
	E();

	/* Linux: a trailing slash forces following the symlink */
	T("symlink: lstat with a trailing slash follows a symlink to a directory");
	if (mkd("s14d", 0755) && mks("s14d", "s14s") &&
	    ok_sys(lstat("s14s/", &a), "lstat s14s/"))
		ok_true(S_ISDIR(a.st_mode), "not a directory");
	E();
}

/* ---- mkfifo(3), mknod(2), bind(2): pjdfstest mkfifo/, mknod/ ---- */
void t_mknod(void)
{
	struct sockaddr_un sun;
	struct stat sb;
	char buf[8];
	int fd, s;

	/* mkfifo/00.t */
	T("mkfifo: creates a fifo with mode 0666 & ~022 owned by the caller");
	if (ok_sys(mkfifo("f1", 0666), "mkfifo") && ok_type("f1", S_IFIFO) &&
	    ok_mode("f1", 0644))
		ok_owner("f1", geteuid(), getegid());
	E();

	/* mkfifo/09.t */
	T("mkfifo: an existing name fails with EEXIST");
	if (mkf("f2", 0644, NULL))
		ok_errno(mkfifo("f2", 0644), EEXIST, "mkfifo");
	E();

	T("mkfifo: data written to the fifo is read back");
	fd = -1;
	if (ok_sys(mkfifo("f3", 0600), "mkfifo") &&
	    ok_sys(fd = open("f3", O_RDWR | O_NONBLOCK), "open") &&
	    ok_eq(write(fd, "pipe", 4), 4, "write") &&
	    ok_eq(read(fd, buf, sizeof buf), 4, "read"))
		ok_true(memcmp(buf, "pipe", 4) == 0, "wrong data");
	if (fd >= 0)
		close(fd);
	E();

	/* mknod/00.t */
	T("mknod: S_IFIFO creates a fifo with mode 0640");
	if (ok_sys(mknod("n1", S_IFIFO | 0640, 0), "mknod") &&
	    ok_type("n1", S_IFIFO))
		ok_mode("n1", 0640);
	E();

	T("mknod: S_IFSOCK creates a socket node");
	if (ok_sys(mknod("n2", S_IFSOCK | 0644, 0), "mknod"))
		ok_type("n2", S_IFSOCK);
	E();

	/* Linux: mknod with S_IFREG (or type 0) creates an empty regular file */
	T("mknod: S_IFREG creates an empty regular file");
	if (ok_sys(mknod("n3", S_IFREG | 0600, 0), "mknod") &&
	    ok_type("n3", S_IFREG) && ok_mode("n3", 0600))
		ok_size("n3", 0);
	E();

	T("mknod: an existing name fails with EEXIST");
	if (mkf("n4", 0644, NULL))
		ok_errno(mknod("n4", S_IFIFO | 0644, 0), EEXIST, "mknod");
	E();

	T("mknod: character device keeps st_rdev (major 250, minor 70000)");
	if (need_root() &&
	    ok_sys(mknod("n5", S_IFCHR | 0600, makedev(250, 70000)), "mknod") &&
	    ok_type("n5", S_IFCHR) && get_stat("n5", &sb) &&
	    ok_eq(major(sb.st_rdev), 250, "major"))
		ok_eq(minor(sb.st_rdev), 70000, "minor");
	E();

	T("mknod: block device keeps st_rdev (major 7, minor 1234)");
	if (need_root() &&
	    ok_sys(mknod("n6", S_IFBLK | 0640, makedev(7, 1234)), "mknod") &&
	    ok_type("n6", S_IFBLK) && ok_mode("n6", 0640) &&
	    get_stat("n6", &sb) && ok_eq(major(sb.st_rdev), 7, "major"))
		ok_eq(minor(sb.st_rdev), 1234, "minor");
	E();

	/* mknod/11.t: device nodes need CAP_MKNOD */
	T("mknod: another user cannot create a character device (EPERM)");
	if (need_root() && mkd("n7d", 0777))
		ok_errno(as_user(UOP_MKNOD, "n7d/c", NULL, S_IFCHR | 0644,
				 (long)makedev(1, 3)), EPERM, "mknod as user");
	E();

	T("bind: an AF_UNIX socket creates a socket node");
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, "sock1", 6);
	if (ok_sys(s, "socket") &&
	    ok_sys(bind(s, (struct sockaddr *)&sun, sizeof sun), "bind"))
		ok_type("sock1", S_IFSOCK);
	if (s >= 0)
		close(s);
	E();
}
