/*
 * pc-perms.c - posixcheck: ownership and permission checks: chmod,
 * chown/lchown/fchown and access/faccessat.
 *
 * Expectations follow pjdfstest (tests/chmod, chown) as resolved on Linux
 * (setattr_prepare() and chown_common() for the clearing of set-ID bits)
 * and access(2) as documented for Linux (root needs one execute bit).
 * The "other user" is -u UID:GID (default 65534:65534), no supplementary
 * groups.
 */
#include "posixcheck.h"

#include <stdio.h>
#include <unistd.h>

/* ---- chmod(2), fchmod(2), fchmodat(2): pjdfstest chmod/00.t .. 12.t ---- */
void t_chmod(void)
{
	static const mode_t modes[] = { 0, 0751, 0644, 0444, 0777 };
	struct timespec ct;
	size_t i;
	int fd, ok;

	/* chmod/00.t */
	T("chmod: sets permission bits 0000, 0751, 0644, 0444, 0777 on a file");
	ok = mkf("c1", 0644, NULL);
	for (i = 0; ok && i < sizeof modes / sizeof modes[0]; i++)
		ok = ok_sys(chmod("c1", modes[i]), "chmod") &&
		     ok_mode("c1", modes[i]);
	E();

	T("chmod: sets set-user-ID (04755) on a regular file");
	if (mkf("c2", 0644, NULL) && ok_sys(chmod("c2", 04755), "chmod"))
		ok_mode("c2", 04755);
	E();

	T("chmod: sets set-group-ID (02755) on a file of the caller's group");
	if (mkf("c3", 0644, NULL) && ok_sys(chmod("c3", 02755), "chmod"))
		ok_mode("c3", 02755);
	E();

	T("chmod: sets the sticky bit (01755) on a regular file");
	if (mkf("c4", 0644, NULL) && ok_sys(chmod("c4", 01755), "chmod"))
		ok_mode("c4", 01755);
	E();

	T("chmod: sets 07777 on a directory");
	if (mkd("c5", 0755) && ok_sys(chmod("c5", 07777), "chmod"))
		ok_mode("c5", 07777);
	E();

	/* chmod/00.t: ctime changes */
	T("chmod: updates ctime");
	if (mkf("c6", 0644, NULL) && ctime_mark("c6", &ct) &&
	    ok_sys(chmod("c6", 0600), "chmod"))
		ok_ctime_moved("c6", &ct);
	E();

	T("fchmod: sets the mode through a descriptor");
	fd = -1;
	if (mkf("c7", 0644, NULL) && ok_sys(fd = open("c7", O_RDONLY), "open") &&
	    ok_sys(fchmod(fd, 0710), "fchmod"))
		ok_mode("c7", 0710);
	if (fd >= 0)
		close(fd);
	E();

	T("chmod: through a symlink changes the target, not the link");
	if (mkf("c8", 0644, NULL) && mks("c8", "c8s") &&
	    ok_sys(chmod("c8s", 0600), "chmod") && ok_mode("c8", 0600))
		ok_mode("c8s", 0777);
	E();

	/* Linux has no lchmod: glibc reports EOPNOTSUPP for a symlink */
	T("fchmodat: AT_SYMLINK_NOFOLLOW on a symlink fails with EOPNOTSUPP");
	if (mkf("c9", 0644, NULL) && mks("c9", "c9s") &&
	    ok_errno(fchmodat(AT_FDCWD, "c9s", 0600, AT_SYMLINK_NOFOLLOW),
		     EOPNOTSUPP, "fchmodat"))
		ok_mode("c9", 0644);
	E();

	/* chmod/04.t, chmod/01.t */
	T("chmod: a missing file gets ENOENT, a file as path prefix ENOTDIR");
	if (mkf("c10", 0644, NULL) &&
	    ok_errno(chmod("c10missing", 0644), ENOENT, "chmod missing"))
		ok_errno(chmod("c10/x", 0644), ENOTDIR, "chmod c10/x");
	E();

	/* chmod/07.t */
	T("chmod: another user who does not own the file gets EPERM");
	if (need_root() && mkf("c11", 0666, NULL) &&
	    ok_errno(as_user(UOP_CHMOD, "c11", NULL, 0777, 0), EPERM,
		     "chmod as user"))
		ok_mode("c11", 0666);
	E();

	T("chmod: a non-root owner can change the mode of its file");
	if (need_root() && mkf("c12", 0644, NULL) &&
	    give("c12", pc.uid, pc.gid) &&
	    ok_sys(as_user(UOP_CHMOD, "c12", NULL, 04711, 0), "chmod as user"))
		ok_mode("c12", 04711);
	E();

	/* chmod/12.t, Linux setattr_prepare(): S_ISGID silently dropped when
	 * the caller is not in the file's group and lacks CAP_FSETID */
	T("chmod: a non-root owner outside the file's group cannot set S_ISGID");
	if (need_root() && mkf("c13", 0644, NULL) && give("c13", pc.uid, 0) &&
	    ok_sys(as_user(UOP_CHMOD, "c13", NULL, 02755, 0), "chmod as user"))
		ok_mode("c13", 0755);
	E();
}

/* ---- chown(2), lchown(2), fchown(2): pjdfstest chown/00.t .. 10.t ---- */
void t_chown(void)
{
	struct timespec ct;
	struct stat sb;
	uid_t me = geteuid();
	gid_t mygid = getegid();
	int fd;

	T("chown: root sets owner and group");
	if (need_root() && mkf("o1", 0644, NULL) &&
	    ok_sys(chown("o1", pc.uid, pc.gid), "chown"))
		ok_owner("o1", pc.uid, pc.gid);
	E();

	T("chown: (-1, -1) changes neither owner nor group");
	if (mkf("o2", 0644, NULL) && get_stat("o2", &sb) &&
	    ok_sys(chown("o2", (uid_t)-1, (gid_t)-1), "chown"))
		ok_owner("o2", sb.st_uid, sb.st_gid);
	E();

	T("chown: (uid, -1) changes only the owner");
	if (need_root() && mkf("o3", 0644, NULL) && give("o3", 0, 0) &&
	    ok_sys(chown("o3", pc.uid, (gid_t)-1), "chown"))
		ok_owner("o3", pc.uid, 0);
	E();

	T("chown: (-1, gid) changes only the group");
	if (need_root() && mkf("o4", 0644, NULL) && give("o4", 0, 0) &&
	    ok_sys(chown("o4", (uid_t)-1, pc.gid), "chown"))
		ok_owner("o4", 0, pc.gid);
	E();

	/* chown/05.t: non-root cannot give a file away */
	T("chown: a non-root owner cannot give the file to another user (EPERM)");
	if (need_root() && mkf("o5", 0644, NULL) &&
	    give("o5", pc.uid, pc.gid) &&
	    ok_errno(as_user(UOP_CHOWN, "o5", NULL, 0, -1), EPERM,
		     "chown as user"))
		ok_owner("o5", pc.uid, pc.gid);
	E();

	T("chown: a non-root owner can change the group to its own group");
	if (need_root() && mkf("o6", 0644, NULL) && give("o6", pc.uid, 0) &&
	    ok_sys(as_user(UOP_CHOWN, "o6", NULL, -1, (long)pc.gid),
		   "chown as user"))
		ok_owner("o6", pc.uid, pc.gid);
	E();

	T("chown: a non-root owner cannot change to a group it is not in (EPERM)");
	if (need_root() && mkf("o7", 0644, NULL) &&
	    give("o7", pc.uid, pc.gid) &&
	    ok_errno(as_user(UOP_CHOWN, "o7", NULL, -1, 0), EPERM,
		     "chown as user"))
		ok_owner("o7", pc.uid, pc.gid);
	E();

	/* chown/00.t: (-1, -1) needs no ownership */
	T("chown: another user may chown (-1, -1) a file it does not own");
	if (need_root() && mkf("o8", 0644, NULL) &&
	    ok_sys(as_user(UOP_CHOWN, "o8", NULL, -1, -1), "chown as user"))
		ok_owner("o8", 0, 0);
	E();

	/* Linux chown_common(): ATTR_KILL_SUID always, S_ISGID when
	 * group-executable, for non-directories, even for root */
	T("chown: by root clears S_ISUID and S_ISGID of an executable file");
	if (need_root() && mkf("o9", 06755, NULL) &&
	    ok_sys(chown("o9", pc.uid, pc.gid), "chown"))
		ok_mode("o9", 0755);
	E();

	T("chown: keeps S_ISGID of a file without group execute (02644)");
	if (need_root() && mkf("o10", 02644, NULL) &&
	    ok_sys(chown("o10", pc.uid, pc.gid), "chown"))
		ok_mode("o10", 02644);
	E();

	/* chown/00.t: non-root owner changing the group */
	T("chown: by a non-root owner clears S_ISUID and S_ISGID (06555 -> 0555)");
	if (need_root() && mkf("o11", 0644, NULL) && give("o11", pc.uid, 0) &&
	    ok_sys(chmod("o11", 06555), "chmod") &&
	    ok_sys(as_user(UOP_CHOWN, "o11", NULL, -1, (long)pc.gid),
		   "chown as user") && ok_owner("o11", pc.uid, pc.gid))
		ok_mode("o11", 0555);
	E();

	T("chown: a directory keeps S_ISGID");
	if (need_root() && mkd("o12", 02755) &&
	    ok_sys(chown("o12", pc.uid, pc.gid), "chown"))
		ok_mode("o12", 02755);
	E();

	/* chown/00.t: ctime changes on success, not on failure */
	T("chown: updates ctime");
	if (mkf("o13", 0644, NULL) && ctime_mark("o13", &ct) &&
	    ok_sys(chown("o13", me, mygid), "chown"))
		ok_ctime_moved("o13", &ct);
	E();

	T("chown: a failed chown (EPERM) leaves ctime alone");
	if (need_root() && mkf("o14", 0644, NULL) && ctime_mark("o14", &ct) &&
	    ok_errno(as_user(UOP_CHOWN, "o14", NULL, (long)pc.uid, -1), EPERM,
		     "chown as user"))
		ok_ctime_same("o14", &ct);
	E();

	T("lchown: changes the symlink itself, not its target");
	if (need_root() && mkf("o15", 0644, NULL) && mks("o15", "o15s") &&
	    ok_sys(lchown("o15s", pc.uid, pc.gid), "lchown") &&
	    ok_owner("o15s", pc.uid, pc.gid))
		ok_owner("o15", 0, 0);
	E();

	T("chown: through a symlink changes the target, not the link");
	if (need_root() && mkf("o16", 0644, NULL) && mks("o16", "o16s") &&
	    ok_sys(chown("o16s", pc.uid, pc.gid), "chown") &&
	    ok_owner("o16", pc.uid, pc.gid))
		ok_owner("o16s", 0, 0);
	E();

	T("fchown: changes the owner through a descriptor");
	fd = -1;
	if (need_root() && mkf("o17", 0644, NULL) &&
	    ok_sys(fd = open("o17", O_RDONLY), "open") &&
	    ok_sys(fchown(fd, pc.uid, pc.gid), "fchown"))
		ok_owner("o17", pc.uid, pc.gid);
	if (fd >= 0)
		close(fd);
	E();

	T("chown: a missing file fails with ENOENT");
	ok_errno(chown("o18", me, mygid), ENOENT, "chown");
	E();
}

/* ---- access(2), faccessat(2) ---- */
void t_access(void)
{
	T("access: another user: R_OK on 0644 succeeds, W_OK gets EACCES");
	if (need_root() && mkf("a1", 0644, NULL) &&
	    ok_sys(as_user(UOP_ACCESS, "a1", NULL, R_OK, 0), "R_OK"))
		ok_errno(as_user(UOP_ACCESS, "a1", NULL, W_OK, 0), EACCES,
			 "W_OK");
	E();

	T("access: another user: X_OK on 0644 gets EACCES, on 0755 succeeds");
	if (need_root() && mkf("a2", 0755, NULL) &&
	    ok_errno(as_user(UOP_ACCESS, "a1", NULL, X_OK, 0), EACCES,
		     "X_OK 0644"))
		ok_sys(as_user(UOP_ACCESS, "a2", NULL, X_OK, 0), "X_OK 0755");
	E();

	/* POSIX: only the owner class applies to the owner */
	T("access: the owner of a 0077 file gets EACCES for R_OK");
	if (need_root() && mkf("a3", 0077, NULL) && give("a3", pc.uid, pc.gid))
		ok_errno(as_user(UOP_ACCESS, "a3", NULL, R_OK, 0), EACCES,
			 "R_OK");
	E();

	T("access: a group member of a 0640 file: R_OK succeeds, W_OK EACCES");
	if (need_root() && mkf("a4", 0640, NULL) && give("a4", 0, pc.gid) &&
	    ok_sys(as_user(UOP_ACCESS, "a4", NULL, R_OK, 0), "R_OK"))
		ok_errno(as_user(UOP_ACCESS, "a4", NULL, W_OK, 0), EACCES,
			 "W_OK");
	E();

	T("faccessat: AT_EACCESS as another user: W_OK on 0666 succeeds");
	if (need_root() && mkf("a5", 0666, NULL))
		ok_sys(as_user(UOP_EACCESS, "a5", NULL, W_OK, 0), "W_OK");
	E();

	T("access: another user without search permission on the directory gets EACCES");
	if (need_root() && mkd("a6", 0700) && mkf("a6/f", 0644, NULL))
		ok_errno(as_user(UOP_ACCESS, "a6/f", NULL, F_OK, 0), EACCES,
			 "F_OK");
	E();

	/* Linux access(2): root gets X_OK only if some execute bit is set */
	T("access: root: R_OK|W_OK on 0000 succeeds, X_OK on 0644 gets EACCES");
	if (need_root() && mkf("a7", 0000, NULL) && mkf("a8", 0644, NULL) &&
	    ok_sys(access("a7", R_OK | W_OK), "R_OK|W_OK"))
		ok_errno(access("a8", X_OK), EACCES, "X_OK");
	E();

	T("access: root: X_OK on 0100 succeeds");
	if (need_root() && mkf("a9", 0100, NULL))
		ok_sys(access("a9", X_OK), "X_OK");
	E();

	T("access: F_OK on a missing file fails with ENOENT");
	ok_errno(access("a10", F_OK), ENOENT, "F_OK");
	E();
}
