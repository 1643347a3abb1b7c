/*
 * pc-dirs.c - posixcheck: directory checks: mkdir, rmdir, rename/renameat2
 * (including sticky directories) and readdir.
 *
 * Expectations follow pjdfstest (tests/mkdir, rmdir, rename) as resolved
 * on Linux ext4, renameat2(2) for RENAME_NOREPLACE/RENAME_EXCHANGE, and
 * POSIX readdir(3) (d_ino equal to st_ino, d_type as ext4 reports it).
 */
#include "posixcheck.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static ino_t ino_of(const char *path)
{
	struct stat sb;

	return get_stat(path, &sb) ? sb.st_ino : 0;
}

static nlink_t nlink_of(const char *path)
{
	struct stat sb;

	return get_stat(path, &sb) ? sb.st_nlink : 0;
}

/* ---- mkdir(2): pjdfstest mkdir/00.t .. mkdir/12.t ---- */
void t_mkdir(void)
{
	struct timespec ct;
	char name[300];
	nlink_t n;

	T("mkdir: mode 0777 & ~022, S_IFDIR, st_nlink 2, caller owns it");
	if (ok_sys(mkdir("m1", 0777), "mkdir") && ok_type("m1", S_IFDIR) &&
	    ok_mode("m1", 0755) && ok_nlink("m1", 2))
		ok_owner("m1", geteuid(), getegid());
	E();

	T("mkdir: umask 077 gives mode 0700");
	umask(077);
	if (ok_sys(mkdir("m2", 0777), "mkdir"))
		ok_mode("m2", 0700);
	umask(022);
	E();

	/* Linux vfs_mkdir: mode & (S_IRWXUGO|S_ISVTX), setgid only inherited */
	T("mkdir: mode 07777 with umask 0 gives 01777");
	umask(0);
	if (ok_sys(mkdir("m3", 07777), "mkdir"))
		ok_mode("m3", 01777);
	umask(022);
	E();

	/* mkdir/10.t */
	T("mkdir: an existing directory, file or dangling symlink gets EEXIST");
	if (mkd("m4d", 0755) && mkf("m4f", 0644, NULL) && mks("none", "m4s") &&
	    ok_errno(mkdir("m4d", 0755), EEXIST, "mkdir over dir") &&
	    ok_errno(mkdir("m4f", 0755), EEXIST, "mkdir over file"))
		ok_errno(mkdir("m4s", 0755), EEXIST, "mkdir over symlink");
	E();

	/* mkdir/00.t: parent mtime and ctime */
	T("mkdir: updates the parent's mtime and ctime and st_nlink");
	if (mkd("m5", 0755) && set_old("m5") && (n = nlink_of("m5")) &&
	    ctime_mark("m5", &ct) && ok_sys(mkdir("m5/sub", 0755), "mkdir") &&
	    ok_mtime_moved("m5") && ok_ctime_moved("m5", &ct))
		ok_nlink("m5", n + 1);
	E();

	T("mkdir: in a missing directory fails with ENOENT");
	ok_errno(mkdir("m6/sub", 0755), ENOENT, "mkdir");
	E();

	T("mkdir: a regular file as a path prefix fails with ENOTDIR");
	if (mkf("m7", 0644, NULL))
		ok_errno(mkdir("m7/sub", 0755), ENOTDIR, "mkdir");
	E();

	T("mkdir: a 256-byte name fails with ENAMETOOLONG");
	memset(name, 'd', 256);
	name[256] = '\0';
	ok_errno(mkdir(name, 0755), ENAMETOOLONG, "mkdir");
	E();

	/* POSIX/Linux: BSD group semantics in set-group-ID directories */
	T("mkdir: in a setgid directory the new directory inherits gid and S_ISGID");
	if (need_root() && mkd("sg", 02777) && give("sg", 0, pc.gid) &&
	    ok_sys(chmod("sg", 02777), "chmod") &&
	    ok_sys(mkdir("sg/sub", 0755), "mkdir") &&
	    ok_owner("sg/sub", 0, pc.gid))
		ok_mode("sg/sub", 02755);
	E();

	T("mkdir: in a setgid directory a new file inherits gid, not S_ISGID");
	if (need_root() && mkf("sg/f", 0644, NULL) && ok_owner("sg/f", 0, pc.gid))
		ok_mode("sg/f", 0644);
	E();

	/* mkdir/06.t */
	T("mkdir: another user cannot mkdir in a 0755 root directory (EACCES)");
	if (need_root())
		ok_errno(as_user(UOP_MKDIR, "m8", NULL, 0755, 0), EACCES,
			 "mkdir as user");
	E();
}

/* ---- rmdir(2): pjdfstest rmdir/00.t .. rmdir/15.t ---- */
void t_rmdir(void)
{
	nlink_t n;

	T("rmdir: removes an empty directory, parent mtime and st_nlink drop");
	if (mkd("r1", 0755) && mkd("r1/sub", 0755) && set_old("r1") &&
	    (n = nlink_of("r1")) && ok_sys(rmdir("r1/sub"), "rmdir") &&
	    ok_absent("r1/sub") && ok_mtime_moved("r1"))
		ok_nlink("r1", n - 1);
	E();

	/* rmdir/06.t: Linux ext4 returns ENOTEMPTY */
	T("rmdir: a non-empty directory fails with ENOTEMPTY");
	if (mkd("r2", 0755) && mkf("r2/f", 0644, NULL))
		ok_errno(rmdir("r2"), ENOTEMPTY, "rmdir");
	E();

	/* rmdir/12.t (Linux): "." is EINVAL, ".." is ENOTEMPTY */
	T("rmdir: a path ending in \".\" fails with EINVAL");
	if (mkd("r3", 0755))
		ok_errno(rmdir("r3/."), EINVAL, "rmdir r3/.");
	E();

	T("rmdir: a path ending in \"..\" fails with ENOTEMPTY");
	if (mkd("r4", 0755) && mkd("r4/sub", 0755))
		ok_errno(rmdir("r4/sub/.."), ENOTEMPTY, "rmdir r4/sub/..");
	E();

	T("rmdir: a regular file fails with ENOTDIR");
	if (mkf("r5", 0644, NULL))
		ok_errno(rmdir("r5"), ENOTDIR, "rmdir");
	E();

	T("rmdir: a symlink to a directory fails with ENOTDIR");
	if (mkd("r6", 0755) && mks("r6", "r6s"))
		ok_errno(rmdir("r6s"), ENOTDIR, "rmdir");
	E();

	T("rmdir: a missing directory fails with ENOENT");
	ok_errno(rmdir("r7"), ENOENT, "rmdir");
	E();

	/* rmdir/07.t */
	T("rmdir: another user cannot rmdir in a 0755 root directory (EACCES)");
	if (need_root() && mkd("r8", 0777))
		ok_errno(as_user(UOP_RMDIR, "r8", NULL, 0, 0), EACCES,
			 "rmdir as user");
	E();
}

/* ---- rename(2), renameat2(2): pjdfstest rename/00.t .. rename/24.t ---- */
static void t_rename_sticky(void)
{
	/* rename/09.t, unlink/11.t: sticky directories (POSIX XSI) */
	T("sticky: another user cannot rename a file it does not own (EPERM)");
	if (need_root() && mkd("sticky", 01777) &&
	    mkf("sticky/root", 0666, "root's") &&
	    ok_errno(as_user(UOP_RENAME, "sticky/root", "sticky/moved", 0, 0),
		     EPERM, "rename as user"))
		ok_type("sticky/root", S_IFREG);
	E();

	T("sticky: another user cannot unlink a file it does not own (EPERM)");
	if (need_root() &&
	    ok_errno(as_user(UOP_UNLINK, "sticky/root", NULL, 0, 0), EPERM,
		     "unlink as user"))
		ok_type("sticky/root", S_IFREG);
	E();

	T("sticky: another user cannot rename over a file it does not own (EPERM)");
	if (need_root() &&
	    ok_sys(as_user(UOP_CREATE, "sticky/mine", NULL, 0644, 0),
		   "create as user") &&
	    ok_errno(as_user(UOP_RENAME, "sticky/mine", "sticky/root", 0, 0),
		     EPERM, "rename as user"))
		ok_content("sticky/root", "root's", 6);
	E();

	T("sticky: another user cannot rmdir a directory it does not own (EPERM)");
	if (need_root() && mkd("sticky/rootdir", 0777))
		ok_errno(as_user(UOP_RMDIR, "sticky/rootdir", NULL, 0, 0), EPERM,
			 "rmdir as user");
	E();

	T("sticky: a user can rename and unlink its own file");
	if (need_root() &&
	    ok_sys(as_user(UOP_RENAME, "sticky/mine", "sticky/mine2", 0, 0),
		   "rename as user") && ok_owner("sticky/mine2", pc.uid, pc.gid) &&
	    ok_sys(as_user(UOP_UNLINK, "sticky/mine2", NULL, 0, 0),
		   "unlink as user"))
		ok_absent("sticky/mine2");
	E();
}

void t_rename(void)
{
	struct timespec ct;
	ino_t i1, i2;
	nlink_t n1, n2;

	T("rename: a file keeps its inode and content, old name is gone");
	if (mkf("a1", 0644, "one") && (i1 = ino_of("a1")) &&
	    ok_sys(rename("a1", "b1"), "rename") && ok_absent("a1") &&
	    ok_eq((long long)ino_of("b1"), (long long)i1, "st_ino"))
		ok_content("b1", "one", 3);
	E();

	T("rename: a directory moves; its \"..\" is the new parent");
	if (mkd("p1", 0755) && mkd("p2", 0755) && mkd("p1/d", 0755) &&
	    (i1 = ino_of("p1/d")) && ok_sys(rename("p1/d", "p2/d"), "rename") &&
	    ok_eq((long long)ino_of("p2/d"), (long long)i1, "st_ino"))
		ok_eq((long long)ino_of("p2/d/.."), (long long)ino_of("p2"),
		      "st_ino of p2/d/..");
	E();

	T("rename: moving a directory updates both parents' st_nlink");
	if (mkd("p3", 0755) && mkd("p4", 0755) && mkd("p3/d", 0755) &&
	    (n1 = nlink_of("p3")) && (n2 = nlink_of("p4")) &&
	    ok_sys(rename("p3/d", "p4/d"), "rename") && ok_nlink("p3", n1 - 1))
		ok_nlink("p4", n2 + 1);
	E();

	/* rename/00.t: the replaced inode loses a link */
	T("rename: over an existing file replaces it; its other link has st_nlink 1");
	if (mkf("a2", 0644, "new") && mkf("b2", 0644, "old") &&
	    ok_sys(link("b2", "keep2"), "link") && (i1 = ino_of("a2")) &&
	    ok_sys(rename("a2", "b2"), "rename") &&
	    ok_eq((long long)ino_of("b2"), (long long)i1, "st_ino of b2") &&
	    ok_nlink("keep2", 1) && ok_content("keep2", "old", 3))
		ok_content("b2", "new", 3);
	E();

	T("rename: a directory over an empty directory replaces it");
	if (mkd("a3", 0755) && mkd("b3", 0755) && (i1 = ino_of("a3")) &&
	    ok_sys(rename("a3", "b3"), "rename") && ok_absent("a3"))
		ok_eq((long long)ino_of("b3"), (long long)i1, "st_ino of b3");
	E();

	/* rename/20.t: ext4 returns ENOTEMPTY */
	T("rename: a directory over a non-empty directory fails with ENOTEMPTY");
	if (mkd("a4", 0755) && mkd("b4", 0755) && mkf("b4/f", 0644, NULL))
		ok_errno(rename("a4", "b4"), ENOTEMPTY, "rename");
	E();

	/* rename/14.t, rename/15.t */
	T("rename: a file over a directory fails with EISDIR");
	if (mkf("a5", 0644, NULL) && mkd("b5", 0755))
		ok_errno(rename("a5", "b5"), EISDIR, "rename");
	E();

	T("rename: a directory over a file fails with ENOTDIR");
	if (mkd("a6", 0755) && mkf("b6", 0644, NULL))
		ok_errno(rename("a6", "b6"), ENOTDIR, "rename");
	E();

	/* rename/13.t */
	T("rename: a directory into its own subdirectory fails with EINVAL");
	if (mkd("a7", 0755) && mkd("a7/sub", 0755))
		ok_errno(rename("a7", "a7/sub/x"), EINVAL, "rename");
	E();

	/* rename/00.t: Linux ext4 updates the ctime of the renamed inode */
	T("rename: updates the ctime of the renamed file");
	if (mkf("a8", 0644, NULL) && ctime_mark("a8", &ct) &&
	    ok_sys(rename("a8", "b8"), "rename"))
		ok_ctime_moved("b8", &ct);
	E();

	T("rename: updates the mtime of both parent directories");
	if (mkd("p5", 0755) && mkd("p6", 0755) && mkf("p5/f", 0644, NULL) &&
	    set_old("p5") && set_old("p6") &&
	    ok_sys(rename("p5/f", "p6/f"), "rename") && ok_mtime_moved("p5"))
		ok_mtime_moved("p6");
	E();

	T("rename: to its own name succeeds and changes nothing");
	if (mkf("a9", 0644, "same") && (i1 = ino_of("a9")) &&
	    ok_sys(rename("a9", "a9"), "rename") &&
	    ok_eq((long long)ino_of("a9"), (long long)i1, "st_ino"))
		ok_content("a9", "same", 4);
	E();

	/* POSIX: hard links to the same file: rename does nothing */
	T("rename: onto another link of the same file leaves both names");
	if (mkf("a10", 0644, NULL) && ok_sys(link("a10", "b10"), "link") &&
	    ok_sys(rename("a10", "b10"), "rename") && ok_nlink("a10", 2))
		ok_nlink("b10", 2);
	E();

	T("rename: a missing source fails with ENOENT");
	ok_errno(rename("a11", "b11"), ENOENT, "rename");
	E();

	T("rename: a symlink renames the link, not its target");
	if (mkf("a12", 0644, NULL) && mks("a12", "a12s") &&
	    ok_sys(rename("a12s", "b12s"), "rename") &&
	    ok_type("b12s", S_IFLNK))
		ok_type("a12", S_IFREG);
	E();

	T("rename: over a symlink replaces the link and leaves its target");
	if (mkf("a13", 0644, "src") && mkf("t13", 0644, "tgt") &&
	    mks("t13", "b13") && ok_sys(rename("a13", "b13"), "rename") &&
	    ok_type("b13", S_IFREG))
		ok_content("t13", "tgt", 3);
	E();

	/* renameat2(2) */
	T("renameat2: RENAME_NOREPLACE over an existing name fails with EEXIST");
	if (mkf("a14", 0644, "a") && mkf("b14", 0644, "b") &&
	    ok_errno(renameat2(AT_FDCWD, "a14", AT_FDCWD, "b14",
			       RENAME_NOREPLACE), EEXIST, "renameat2") &&
	    ok_content("a14", "a", 1))
		ok_content("b14", "b", 1);
	E();

	T("renameat2: RENAME_NOREPLACE to a new name succeeds");
	if (mkf("a15", 0644, NULL) &&
	    ok_sys(renameat2(AT_FDCWD, "a15", AT_FDCWD, "b15",
			     RENAME_NOREPLACE), "renameat2") && ok_absent("a15"))
		ok_type("b15", S_IFREG);
	E();

	T("renameat2: RENAME_EXCHANGE swaps two files (inode numbers swap)");
	if (mkf("a16", 0644, "a") && mkf("b16", 0644, "b") &&
	    (i1 = ino_of("a16")) && (i2 = ino_of("b16")) &&
	    ok_sys(renameat2(AT_FDCWD, "a16", AT_FDCWD, "b16",
			     RENAME_EXCHANGE), "renameat2") &&
	    ok_eq((long long)ino_of("a16"), (long long)i2, "st_ino of a16") &&
	    ok_eq((long long)ino_of("b16"), (long long)i1, "st_ino of b16"))
		ok_content("a16", "b", 1);
	E();

	T("renameat2: RENAME_EXCHANGE swaps a file and a directory");
	if (mkf("a17", 0644, NULL) && mkd("b17", 0755) && mkf("b17/in", 0644, NULL) &&
	    ok_sys(renameat2(AT_FDCWD, "a17", AT_FDCWD, "b17",
			     RENAME_EXCHANGE), "renameat2") &&
	    ok_type("a17", S_IFDIR) && ok_type("a17/in", S_IFREG))
		ok_type("b17", S_IFREG);
	E();

	T("renameat2: RENAME_EXCHANGE with a missing target fails with ENOENT");
	if (mkf("a18", 0644, NULL))
		ok_errno(renameat2(AT_FDCWD, "a18", AT_FDCWD, "b18",
				   RENAME_EXCHANGE), ENOENT, "renameat2");
	E();

	/* rename/06.t */
	T("rename: another user cannot rename in a 0755 root directory (EACCES)");
	if (need_root() && mkf("a19", 0666, NULL))
		ok_errno(as_user(UOP_RENAME, "a19", "b19", 0, 0), EACCES,
			 "rename as user");
	E();

	t_rename_sticky();
}

/* ---- readdir(3) ---- */
#define MAX_ENTS 400

struct ent {
	char name[256];
	unsigned char type;
	ino_t ino;
};
static struct ent ents[MAX_ENTS];

/* Read directory PATH into ents[]; returns the count or -1. */
static int list_dir(const char *path)
{
	struct dirent *de;
	DIR *d = opendir(path);
	int n = 0;

	if (!d) {
		F("opendir %s: %s", path, en(errno));
		return -1;
	}
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (n == MAX_ENTS || strlen(de->d_name) >= sizeof ents[0].name) {
			closedir(d);
			F("too many or too long entries");
			return -1;
		}
		snprintf(ents[n].name, sizeof ents[n].name, "%s", de->d_name);
		ents[n].type = de->d_type;
		ents[n].ino = de->d_ino;
		n++;
	}
	if (errno) {
		int e = errno;

		closedir(d);
		F("readdir: %s", en(e));
		return -1;
	}
	closedir(d);
	return n;
}

/* Index of NAME in ents[0..n-1]; -1 if absent, -2 (recorded) if twice. */
static int find_ent(int n, const char *name)
{
	int i, found = -1;

	for (i = 0; i < n; i++)
		if (strcmp(ents[i].name, name) == 0) {
			if (found >= 0) {
				F("%s listed twice", name);
				return -2;
			}
			found = i;
		}
	return found;
}

void t_readdir(void)
{
	static const struct {
		const char *name;
		unsigned char type;
	} want[] = {
		{ ".", DT_DIR }, { "..", DT_DIR }, { "file", DT_REG },
		{ "dir", DT_DIR }, { "link", DT_LNK }, { "fifo", DT_FIFO },
		{ "sock", DT_SOCK }, { "chr", DT_CHR },
	};
	size_t nwant = sizeof want / sizeof want[0] - (pc.root ? 0 : 1);
	char name[300], after[256];
	struct stat sb;
	size_t i;
	int n, k, ok;

	T("readdir: lists exactly the entries created, with . and ..");
	ok = mkd("rd", 0755) && mkf("rd/file", 0644, NULL) &&
	     mkd("rd/dir", 0755) && mks("file", "rd/link") &&
	     ok_sys(mkfifo("rd/fifo", 0644), "mkfifo") &&
	     ok_sys(mknod("rd/sock", S_IFSOCK | 0644, 0), "mknod sock") &&
	     (!pc.root || ok_sys(mknod("rd/chr", S_IFCHR | 0644, makedev(1, 3)),
				 "mknod chr"));
	if (ok && (n = list_dir("rd")) >= 0 &&
	    ok_eq(n, (long long)nwant, "number of entries"))
		for (i = 0; i < nwant && ok; i++)
			ok = ok_true(find_ent(n, want[i].name) >= 0,
				     "%s not listed", want[i].name);
	E();

	T("readdir: d_type is right for file, dir, symlink, fifo, socket, device");
	if (ok && (n = list_dir("rd")) >= 0)
		for (i = 0; i < nwant && ok; i++) {
			k = find_ent(n, want[i].name);
			ok = ok_true(k >= 0 && ents[k].type == want[i].type,
				     "%s: d_type %d, want %d", want[i].name,
				     k >= 0 ? ents[k].type : -1, want[i].type);
		}
	else if (!ok)
		F("setup failed");
	E();

	T("readdir: d_ino equals st_ino of every entry but \"..\"");
	if (ok && (n = list_dir("rd")) >= 0)
		for (k = 0; k < n && ok; k++) {
			if (strcmp(ents[k].name, "..") == 0)
				continue;
			snprintf(name, sizeof name, "rd/%.255s", ents[k].name);
			ok = get_stat(name, &sb) &&
			     ok_true(sb.st_ino == ents[k].ino,
				     "%s: d_ino %llu, st_ino %llu", name,
				     (unsigned long long)ents[k].ino,
				     (unsigned long long)sb.st_ino);
		}
	else if (!ok)
		F("setup failed");
	E();

	T("readdir: an empty directory lists only . and ..");
	if (mkd("rd0", 0755) && (n = list_dir("rd0")) >= 0 &&
	    ok_eq(n, 2, "number of entries") && ok_true(find_ent(n, ".") >= 0,
							". missing"))
		ok_true(find_ent(n, "..") >= 0, ".. missing");
	E();

	T("readdir: 300 entries are each listed once");
	ok = mkd("many", 0755);
	for (i = 0; i < 300 && ok; i++) {
		snprintf(name, sizeof name, "many/entry-%03zu", i);
		ok = mkf(name, 0644, NULL);
	}
	if (ok && (n = list_dir("many")) >= 0 &&
	    ok_eq(n, 302, "number of entries"))
		for (i = 0; i < 300 && ok; i++) {
			snprintf(name, sizeof name, "entry-%03zu", i);
			ok = ok_true(find_ent(n, name) >= 0, "%s missing", name);
		}
	E();

	T("readdir: seekdir to a telldir position continues at the same entry");
	{
		DIR *d = opendir("many");
		struct dirent *de = NULL;
		long pos = -1;

		after[0] = '\0';
		if (!d) {
			F("opendir: %s", en(errno));
		} else {
			for (i = 0; i < 100 && (de = readdir(d)); i++)
				;
			pos = telldir(d);
			if (ok_true(de && (de = readdir(d)) != NULL,
				    "readdir ended early")) {
				snprintf(after, sizeof after, "%s", de->d_name);
				while (readdir(d))
					;
				seekdir(d, pos);
				de = readdir(d);
				ok_true(de && strcmp(de->d_name, after) == 0,
					"got %s, want %s", de ? de->d_name : "end",
					after);
			}
			closedir(d);
		}
	}
	E();

	T("readdir: a new listing shows removed and added entries");
	if (ok_sys(unlink("many/entry-007"), "unlink") &&
	    mkf("many/added", 0644, NULL) && (n = list_dir("many")) >= 0 &&
	    ok_eq(n, 302, "number of entries") &&
	    ok_true(find_ent(n, "entry-007") == -1, "entry-007 still listed"))
		ok_true(find_ent(n, "added") >= 0, "added missing");
	E();
}
