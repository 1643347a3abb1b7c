/*
 * pc-io.c - posixcheck: file data checks: truncate/ftruncate, write/read
 * side effects, large sparse files and SEEK_DATA/SEEK_HOLE, O_APPEND
 * atomicity between processes.
 *
 * Expectations: pjdfstest (tests/truncate, ftruncate, posix_fallocate),
 * POSIX write(2)/O_APPEND, and Linux on ext4 (4 KiB blocks) for sparse
 * files and the privilege-clearing rules of should_remove_suid().
 */
#include "posixcheck.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define GiB (1024LL * 1024 * 1024)

static int all_zero(const char *buf, size_t len)
{
	while (len > 0)
		if (buf[--len] != 0)
			return 0;
	return 1;
}

/* ---- truncate(2), ftruncate(2): pjdfstest truncate/, ftruncate/ ---- */
void t_truncate(void)
{
	struct timespec ct;
	char buf[100];
	ssize_t got;
	int fd;

	T("truncate: growing a file reads back zeros");
	if (mkf("t1", 0644, "abc") && ok_sys(truncate("t1", 100), "truncate") &&
	    ok_size("t1", 100) && read_file("t1", buf, sizeof buf, &got) &&
	    ok_eq(got, 100, "bytes read"))
		ok_true(memcmp(buf, "abc", 3) == 0 && all_zero(buf + 3, 97),
			"not \"abc\" and zeros");
	E();

	T("truncate: shrinking keeps the leading bytes");
	if (mkf("t2", 0644, "abcdefgh") && ok_sys(truncate("t2", 3), "truncate") &&
	    ok_size("t2", 3))
		ok_content("t2", "abc", 3);
	E();

	/* truncate/00.t: mtime and ctime change */
	T("truncate: updates mtime and ctime");
	if (mkf("t3", 0644, "abcdefgh") && set_old("t3") &&
	    ctime_mark("t3", &ct) && ok_sys(truncate("t3", 2), "truncate") &&
	    ok_mtime_moved("t3"))
		ok_ctime_moved("t3", &ct);
	E();

	T("ftruncate: sets the size through a descriptor");
	fd = -1;
	if (mkf("t4", 0644, "abcdefgh") &&
	    ok_sys(fd = open("t4", O_RDWR), "open") &&
	    ok_sys(ftruncate(fd, 5), "ftruncate"))
		ok_size("t4", 5);
	if (fd >= 0)
		close(fd);
	E();

	/* ftruncate/13.t (Linux): descriptor not open for writing */
	T("ftruncate: a descriptor opened O_RDONLY fails with EINVAL");
	fd = -1;
	if (mkf("t5", 0644, "x") && ok_sys(fd = open("t5", O_RDONLY), "open"))
		ok_errno(ftruncate(fd, 0), EINVAL, "ftruncate");
	if (fd >= 0)
		close(fd);
	E();

	/* truncate/13.t */
	T("truncate: a negative length fails with EINVAL");
	if (mkf("t6", 0644, "x"))
		ok_errno(truncate("t6", -1), EINVAL, "truncate");
	E();

	/* truncate/09.t */
	T("truncate: a directory fails with EISDIR");
	if (mkd("t7", 0755))
		ok_errno(truncate("t7", 0), EISDIR, "truncate");
	E();

	T("truncate: a missing file fails with ENOENT");
	ok_errno(truncate("t8", 0), ENOENT, "truncate");
	E();

	/* truncate/05.t */
	T("truncate: another user without write permission gets EACCES");
	if (need_root() && mkf("t9", 0644, "abc") &&
	    ok_errno(as_user(UOP_TRUNCATE, "t9", NULL, 0, 0), EACCES,
		     "truncate as user"))
		ok_size("t9", 3);
	E();

	T("truncate: another user with write permission can truncate");
	if (need_root() && mkf("t10", 0666, "abc") &&
	    ok_sys(as_user(UOP_TRUNCATE, "t10", NULL, 1, 0), "truncate as user"))
		ok_size("t10", 1);
	E();

	/* Linux should_remove_suid(): a caller without CAP_FSETID clears
	 * S_ISUID, and S_ISGID when group-executable */
	T("truncate: by another user clears set-user-ID and set-group-ID");
	if (need_root() && mkf("t11", 06777, "abc") &&
	    ok_sys(as_user(UOP_TRUNCATE, "t11", NULL, 1, 0), "truncate as user"))
		ok_mode("t11", 0777);
	E();
}

/* ---- write(2), read(2), mmap(2) side effects ---- */
void t_write(void)
{
	struct timespec ct;
	char buf[16];
	char *big, *back, *map;
	ssize_t got;
	size_t i, len = 1024 * 1024 + 123;
	int fd;

	/* POSIX write(2): mark for update st_ctime and st_mtime */
	T("write: updates mtime and ctime");
	fd = -1;
	if (mkf("w1", 0644, "abc") && set_old("w1") && ctime_mark("w1", &ct) &&
	    ok_sys(fd = open("w1", O_WRONLY), "open") &&
	    ok_eq(write(fd, "x", 1), 1, "write") && ok_sys(close(fd), "close") &&
	    ok_mtime_moved("w1"))
		ok_ctime_moved("w1", &ct);
	E();

	/* Linux relatime: an atime older than 24 h is updated on read */
	T("read: updates an atime that is older than a day (relatime)");
	if (mkf("w2", 0644, "abc") && set_old("w2") &&
	    read_file("w2", buf, sizeof buf, &got))
		ok_atime_moved("w2");
	E();

	T("write: by another user clears set-user-ID and set-group-ID");
	if (need_root() && mkf("w3", 06777, "abc") &&
	    ok_sys(as_user(UOP_WRITE, "w3", NULL, 0, 0), "write as user"))
		ok_mode("w3", 0777);
	E();

	T("write: by root (CAP_FSETID) keeps set-user-ID");
	fd = -1;
	if (need_root() && mkf("w4", 04755, "abc") &&
	    ok_sys(fd = open("w4", O_WRONLY | O_APPEND), "open") &&
	    ok_eq(write(fd, "x", 1), 1, "write") && ok_sys(close(fd), "close"))
		ok_mode("w4", 04755);
	E();

	T("pwrite: beyond the end extends the file with zeros");
	fd = -1;
	memset(buf, 'q', sizeof buf);
	if (mkf("w5", 0644, NULL) && ok_sys(fd = open("w5", O_RDWR), "open") &&
	    ok_eq(pwrite(fd, "A", 1, 10), 1, "pwrite") && ok_size("w5", 11) &&
	    ok_eq(pread(fd, buf, sizeof buf, 0), 11, "pread"))
		ok_true(memcmp(buf, "\0\0\0\0\0\0\0\0\0\0A", 11) == 0,
			"wrong bytes");
	if (fd >= 0)
		close(fd);
	E();

	T("write: 1 MiB + 123 bytes of a pattern read back intact; fsync works");
	fd = -1;
	big = malloc(len);
	back = malloc(len + 1);
	if (!big || !back) {
		F("out of memory");
	} else {
		for (i = 0; i < len; i++)
			big[i] = (char)(i * 7 + i / 4096);
		if (ok_sys(fd = open("w6", O_RDWR | O_CREAT, 0644), "open") &&
		    write_all(fd, big, len) && ok_sys(fsync(fd), "fsync") &&
		    ok_sys(fdatasync(fd), "fdatasync") &&
		    ok_sys(close(fd), "close") &&
		    read_file("w6", back, len + 1, &got) &&
		    ok_eq(got, (long long)len, "bytes read"))
			ok_true(memcmp(big, back, len) == 0, "data differs");
	}
	free(big);
	free(back);
	E();

	T("mmap: a MAP_SHARED store is visible through read()");
	fd = -1;
	map = MAP_FAILED;
	if (mkf("w7", 0644, "0123456789") &&
	    ok_sys(fd = open("w7", O_RDWR), "open") &&
	    ok_true((map = mmap(NULL, 10, PROT_READ | PROT_WRITE, MAP_SHARED,
				fd, 0)) != MAP_FAILED, "mmap: %s", en(errno))) {
		memcpy(map + 2, "MM", 2);
		if (ok_sys(msync(map, 10, MS_SYNC), "msync"))
			ok_content("w7", "01MM456789", 10);
	}
	if (map != MAP_FAILED)
		munmap(map, 10);
	if (fd >= 0)
		close(fd);
	E();
}

/* ---- large and sparse files, lseek SEEK_DATA/SEEK_HOLE ---- */
void t_sparse(void)
{
	struct stat sb;
	char buf[4096];
	int fd;

	memset(buf, 'D', sizeof buf);
	T("sparse: pwrite 1 byte at 5 GiB gives st_size 5 GiB + 1");
	fd = open("big", O_RDWR | O_CREAT | O_EXCL, 0644);
	if (ok_sys(fd, "open") &&
	    ok_eq(pwrite(fd, "Z", 1, 5 * GiB), 1, "pwrite"))
		ok_size("big", 5 * GiB + 1);
	E();

	T("sparse: the 5 GiB file allocates few blocks (st_blocks < 64)");
	if (fd >= 0 && ok_sys(fstat(fd, &sb), "fstat"))
		ok_true(sb.st_blocks < 64, "st_blocks = %lld",
			(long long)sb.st_blocks);
	else
		F("no file");
	E();

	T("sparse: the hole reads as zeros, the byte at 5 GiB as written");
	memset(buf, 'q', 8);
	if (fd >= 0 && ok_eq(pread(fd, buf, 8, 5 * GiB - 3), 4, "pread"))
		ok_true(memcmp(buf, "\0\0\0Z", 4) == 0, "wrong bytes");
	else
		F("no file");
	if (fd >= 0)
		close(fd);
	E();

	T("sparse: ftruncate to 5 GiB allocates no blocks");
	fd = open("big2", O_RDWR | O_CREAT | O_EXCL, 0644);
	if (ok_sys(fd, "open") && ok_sys(ftruncate(fd, 5 * GiB), "ftruncate") &&
	    ok_sys(fstat(fd, &sb), "fstat") &&
	    ok_eq(sb.st_size, 5 * GiB, "st_size"))
		ok_eq(sb.st_blocks, 0, "st_blocks");
	if (fd >= 0)
		close(fd);
	E();

	/* Linux lseek(2) SEEK_DATA/SEEK_HOLE; ext4 reports exact extents */
	memset(buf, 'D', sizeof buf);
	fd = open("holes", O_RDWR | O_CREAT | O_EXCL, 0644);
	T("lseek: SEEK_HOLE from 0 finds the hole at 4096 (data at 0 and 1 GiB)");
	if (ok_sys(fd, "open") &&
	    ok_eq(pwrite(fd, buf, 4096, 0), 4096, "pwrite at 0") &&
	    ok_eq(pwrite(fd, buf, 4096, GiB), 4096, "pwrite at 1 GiB") &&
	    ok_eq(lseek(fd, 0, SEEK_DATA), 0, "SEEK_DATA from 0"))
		ok_eq(lseek(fd, 0, SEEK_HOLE), 4096, "SEEK_HOLE from 0");
	E();

	T("lseek: SEEK_DATA from the hole finds the data at 1 GiB");
	if (fd >= 0 && ok_eq(lseek(fd, 4096, SEEK_DATA), GiB, "SEEK_DATA"))
		ok_eq(lseek(fd, GiB + 100, SEEK_DATA), GiB + 100,
		      "SEEK_DATA inside data");
	else
		F("no file");
	E();

	T("lseek: SEEK_HOLE after the last data is the end of file");
	if (fd >= 0)
		ok_eq(lseek(fd, GiB, SEEK_HOLE), GiB + 4096, "SEEK_HOLE");
	else
		F("no file");
	E();

	T("lseek: SEEK_DATA at the end of file fails with ENXIO");
	if (fd >= 0)
		ok_errno(lseek(fd, GiB + 4096, SEEK_DATA), ENXIO, "SEEK_DATA");
	else
		F("no file");
	if (fd >= 0)
		close(fd);
	E();

	/* pjdfstest posix_fallocate/00.t */
	T("posix_fallocate: allocates 1 MiB of blocks and sets the size");
	fd = open("falloc", O_RDWR | O_CREAT | O_EXCL, 0644);
	if (ok_sys(fd, "open")) {
		int e = posix_fallocate(fd, 0, 1 << 20);

		if (ok_true(e == 0, "posix_fallocate: %s", en(e)) &&
		    ok_sys(fstat(fd, &sb), "fstat") &&
		    ok_eq(sb.st_size, 1 << 20, "st_size"))
			ok_true(sb.st_blocks >= 2048, "st_blocks = %lld",
				(long long)sb.st_blocks);
		close(fd);
	}
	E();
}

/* ---- O_APPEND: POSIX says each write appends atomically ---- */
#define APP_PROCS 4
#define APP_RECS 500
#define APP_LEN 100

static void make_record(char *rec, int p, int r)
{
	int n = snprintf(rec, APP_LEN, "P%d R%04d ", p, r);

	memset(rec + n, 'a' + (p * 7 + r) % 26, (size_t)(APP_LEN - 1 - n));
	rec[APP_LEN - 1] = '\n';
}

static void append_child(int p)
{
	char rec[APP_LEN];
	int fd = open("app", O_WRONLY | O_APPEND);
	int r;

	if (fd < 0)
		_exit(1);
	for (r = 0; r < APP_RECS; r++) {
		make_record(rec, p, r);
		if (write(fd, rec, APP_LEN) != APP_LEN)
			_exit(1);
	}
	_exit(close(fd) == 0 ? 0 : 1);
}

/* Every record intact, each (process, number) once, in order per process. */
static int check_records(const char *data, size_t len)
{
	int next[APP_PROCS] = { 0 };
	char rec[APP_LEN];
	size_t off;
	int p, r;

	for (off = 0; off + APP_LEN <= len; off += APP_LEN) {
		if (sscanf(data + off, "P%d R%d ", &p, &r) != 2 || p < 0 ||
		    p >= APP_PROCS || r != next[p])
			return F("bad record header at offset %zu", off);
		make_record(rec, p, r);
		if (memcmp(rec, data + off, APP_LEN) != 0)
			return F("record P%d R%d at %zu is damaged", p, r, off);
		next[p]++;
	}
	for (p = 0; p < APP_PROCS; p++)
		if (next[p] != APP_RECS)
			return F("process %d: %d records", p, next[p]);
	return 1;
}

void t_append(void)
{
	size_t total = (size_t)APP_PROCS * APP_RECS * APP_LEN;
	pid_t pids[APP_PROCS];
	char *data;
	ssize_t got;
	int fd, p, st, bad = 0;

	T("append: O_APPEND writes go to the end even after lseek to 0");
	fd = -1;
	if (mkf("a1", 0644, "start") &&
	    ok_sys(fd = open("a1", O_WRONLY | O_APPEND), "open") &&
	    ok_sys(lseek(fd, 0, SEEK_SET), "lseek") &&
	    ok_eq(write(fd, "+end", 4), 4, "write"))
		ok_content("a1", "start+end", 9);
	if (fd >= 0)
		close(fd);
	E();

	T("append: %d processes x %d records of %d bytes give the exact size",
	  APP_PROCS, APP_RECS, APP_LEN);
	if (mkf("app", 0644, NULL)) {
		fflush(stdout);
		for (p = 0; p < APP_PROCS; p++) {
			pids[p] = fork();
			if (pids[p] == 0)
				append_child(p);
			if (pids[p] < 0)
				bad = F("fork: %s", en(errno));
		}
		for (p = 0; p < APP_PROCS; p++)
			if (pids[p] > 0 && (waitpid(pids[p], &st, 0) < 0 ||
					    !WIFEXITED(st) || WEXITSTATUS(st)))
				bad = F("appending process %d failed", p);
		if (!bad)
			ok_size("app", (off_t)total);
	}
	E();

	T("append: every record is intact and present once, in order per process");
	data = malloc(total + 1);
	if (ok_true(data != NULL, "out of memory") &&
	    read_file("app", data, total + 1, &got) &&
	    ok_eq(got, (long long)total, "bytes read"))
		check_records(data, (size_t)got);
	free(data);
	E();
}
