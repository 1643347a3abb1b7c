/*
 * pc-util.c - posixcheck: assertion, timestamp and setup helpers shared by
 * the check groups (declared in posixcheck.h).
 *
 * Every helper returns 1 when things are as expected and otherwise records
 * the reason with F() (the errno name for failed system calls) and
 * returns 0, so that a check is one && chain that stops at the first
 * problem and still reports it as "not ok".
 */
#include "posixcheck.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Assertions                                                           */
/* ------------------------------------------------------------------ */

int ok_sys(long rc, const char *what)
{
	if (rc != -1)
		return 1;
	return F("%s failed: %s", what, en(errno));
}

int ok_errno(long rc, int want, const char *what)
{
	if (rc == -1 && errno == want)
		return 1;
	if (rc == -1)
		return F("%s: got %s, want %s", what, en(errno), en(want));
	return F("%s: succeeded, want %s", what, en(want));
}

int ok_eq(long long got, long long want, const char *what)
{
	if (got == want)
		return 1;
	if (got == -1)		/* most likely a failed system call */
		return F("%s = -1 (%s), want %lld", what, en(errno), want);
	return F("%s = %lld, want %lld", what, got, want);
}

int ok_true(int cond, const char *fmt, ...)
{
	va_list ap;
	char buf[600];

	if (cond)
		return 1;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	return F("%s", buf);
}

int get_stat(const char *path, struct stat *sb)
{
	if (lstat(path, sb) == 0)
		return 1;
	return F("lstat %s: %s", path, en(errno));
}

int ok_mode(const char *path, mode_t want)
{
	struct stat sb;

	if (!get_stat(path, &sb))
		return 0;
	if ((sb.st_mode & 07777) == want)
		return 1;
	return F("%s: mode %04o, want %04o", path,
		 (unsigned)(sb.st_mode & 07777), (unsigned)want);
}

int ok_type(const char *path, mode_t fmt)
{
	struct stat sb;

	if (!get_stat(path, &sb))
		return 0;
	if ((sb.st_mode & S_IFMT) == fmt)
		return 1;
	return F("%s: file type %06o, want %06o", path,
		 (unsigned)(sb.st_mode & S_IFMT), (unsigned)fmt);
}

int ok_nlink(const char *path, nlink_t want)
{
	struct stat sb;

	if (!get_stat(path, &sb))
		return 0;
	if (sb.st_nlink == want)
		return 1;
	return F("%s: st_nlink %lu, want %lu", path,
		 (unsigned long)sb.st_nlink, (unsigned long)want);
}

int ok_size(const char *path, off_t want)
{
	struct stat sb;

	if (!get_stat(path, &sb))
		return 0;
	if (sb.st_size == want)
		return 1;
	return F("%s: st_size %lld, want %lld", path,
		 (long long)sb.st_size, (long long)want);
}

int ok_owner(const char *path, uid_t uid, gid_t gid)
{
	struct stat sb;

	if (!get_stat(path, &sb))
		return 0;
	if (sb.st_uid == uid && sb.st_gid == gid)
		return 1;
	return F("%s: owner %u:%u, want %u:%u", path, (unsigned)sb.st_uid,
		 (unsigned)sb.st_gid, (unsigned)uid, (unsigned)gid);
}

int ok_absent(const char *path)
{
	struct stat sb;

	if (lstat(path, &sb) == 0)
		return F("%s still exists", path);
	if (errno == ENOENT)
		return 1;
	return F("lstat %s: %s, want ENOENT", path, en(errno));
}

int ok_content(const char *path, const void *want, size_t len)
{
	char buf[8192];
	ssize_t got;
	size_t i;

	if (len >= sizeof buf)
		return F("harness: content too long");
	if (!read_file(path, buf, sizeof buf, &got))
		return 0;
	for (i = 0; i < len && i < (size_t)got; i++)
		if (buf[i] != ((const char *)want)[i])
			return F("%s: byte %zu is 0x%02x, want 0x%02x", path, i,
				 (unsigned char)buf[i],
				 ((const unsigned char *)want)[i]);
	if ((size_t)got != len)
		return F("%s: read %zd bytes, want %zu", path, got, len);
	return 1;
}

/* ------------------------------------------------------------------ */
/* Timestamps                                                           */
/* ------------------------------------------------------------------ */

int ts_cmp(const struct timespec *a, const struct timespec *b)
{
	if (a->tv_sec != b->tv_sec)
		return a->tv_sec < b->tv_sec ? -1 : 1;
	if (a->tv_nsec != b->tv_nsec)
		return a->tv_nsec < b->tv_nsec ? -1 : 1;
	return 0;
}

int set_old(const char *path)
{
	struct timespec t[2] = { { OLD_SEC, 0 }, { OLD_SEC, 0 } };

	if (utimensat(AT_FDCWD, path, t, AT_SYMLINK_NOFOLLOW) == 0)
		return 1;
	return F("utimensat %s to 2001: %s", path, en(errno));
}

/* A timestamp that was set to OLD_SEC must now be "now" (within 10 s). */
int ok_recent(const struct timespec *ts, const char *what)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	if (ts->tv_sec <= OLD_SEC + 1)
		return F("%s not updated (still %lld.%09ld)", what,
			 (long long)ts->tv_sec, ts->tv_nsec);
	if (ts->tv_sec < now.tv_sec - 10 || ts->tv_sec > now.tv_sec + 10)
		return F("%s = %lld, not within 10 s of now (%lld)", what,
			 (long long)ts->tv_sec, (long long)now.tv_sec);
	return 1;
}

int ok_mtime_moved(const char *path)
{
	struct stat sb;
	char what[300];

	if (!get_stat(path, &sb))
		return 0;
	snprintf(what, sizeof what, "mtime of %s", path);
	return ok_recent(&sb.st_mtim, what);
}

int ok_atime_moved(const char *path)
{
	struct stat sb;
	char what[300];

	if (!get_stat(path, &sb))
		return 0;
	snprintf(what, sizeof what, "atime of %s", path);
	return ok_recent(&sb.st_atim, what);
}

int ctime_mark(const char *path, struct timespec *out)
{
	struct stat sb;
	struct timespec gap = { 0, 20 * 1000 * 1000 };

	if (!get_stat(path, &sb))
		return 0;
	*out = sb.st_ctim;
	pc.sleeps++;
	while (nanosleep(&gap, &gap) == -1 && errno == EINTR)
		;
	return 1;
}

int ok_ctime_moved(const char *path, const struct timespec *before)
{
	struct stat sb;

	if (!get_stat(path, &sb))
		return 0;
	if (ts_cmp(&sb.st_ctim, before) > 0)
		return 1;
	return F("ctime of %s did not move (%lld.%09ld)", path,
		 (long long)sb.st_ctim.tv_sec, sb.st_ctim.tv_nsec);
}

int ok_ctime_same(const char *path, const struct timespec *before)
{
	struct stat sb;

	if (!get_stat(path, &sb))
		return 0;
	if (ts_cmp(&sb.st_ctim, before) == 0)
		return 1;
	return F("ctime of %s changed (%lld.%09ld -> %lld.%09ld)", path,
		 (long long)before->tv_sec, before->tv_nsec,
		 (long long)sb.st_ctim.tv_sec, sb.st_ctim.tv_nsec);
}

/* ------------------------------------------------------------------ */
/* Setup helpers                                                        */
/* ------------------------------------------------------------------ */

int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return F("write: %s", n < 0 ? en(errno) : "short");
		p += n;
		len -= (size_t)n;
	}
	return 1;
}

/* Create a regular file with exactly this mode (not subject to umask). */
int mkf(const char *path, mode_t mode, const char *content)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	int ok;

	if (fd < 0)
		return F("create %s: %s", path, en(errno));
	ok = !content || write_all(fd, content, strlen(content));
	if (ok && fchmod(fd, mode) == -1)
		ok = F("fchmod %s: %s", path, en(errno));
	if (close(fd) == -1 && ok)
		ok = F("close %s: %s", path, en(errno));
	return ok;
}

int mkd(const char *path, mode_t mode)
{
	if (mkdir(path, 0700) == -1)
		return F("mkdir %s: %s", path, en(errno));
	if (chmod(path, mode) == -1)
		return F("chmod %s: %s", path, en(errno));
	return 1;
}

int mks(const char *target, const char *path)
{
	if (symlink(target, path) == 0)
		return 1;
	return F("symlink %s: %s", path, en(errno));
}

int give(const char *path, uid_t uid, gid_t gid)
{
	if (lchown(path, uid, gid) == 0)
		return 1;
	return F("lchown %s: %s", path, en(errno));
}

int read_file(const char *path, void *buf, size_t size, ssize_t *got)
{
	int fd = open(path, O_RDONLY);
	size_t have = 0;

	if (fd < 0)
		return F("open %s: %s", path, en(errno));
	while (have < size) {
		ssize_t n = read(fd, (char *)buf + have, size - have);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			close(fd);
			return F("read %s: %s", path, en(e));
		}
		if (n == 0)
			break;
		have += (size_t)n;
	}
	close(fd);
	*got = (ssize_t)have;
	return 1;
}
