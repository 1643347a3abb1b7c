/*
 * driver.c - runs a fuzz target over a corpus without libFuzzer, so that
 * every input that once crashed (and every seed) is replayed by "make
 * check" like any other test (zstd's tests/fuzz regression driver, git's
 * oss-fuzz).  Linked with one fuzz-*.c file instead of -fsanitize=fuzzer.
 *
 *	fuzz-keyfile-driver fuzz/corpus/keyfile [more dirs or files...]
 *
 * Speaks TAP: one "ok" per input; a failed check in the target aborts, which
 * the TAP driver reports as a failure with the file named on the line
 * before.  A missing or unreadable path is "not ok".  Directories are read
 * one level deep, in name order, so the numbering is stable.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "banned.h"

#define DRIVER_MAX_INPUT	(64 << 20)	/* libFuzzer's inputs are far smaller */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int n, failed;

static void report(int good, const char *path, const char *why)
{
	printf("%sok %d - %s%s%s\n", good ? "" : "not ", ++n, path,
	       why ? ": " : "", why ? why : "");
	fflush(stdout);
	if (!good)
		failed++;
}

static void run_file(const char *path)
{
	struct stat st;
	uint8_t *buf;
	ssize_t r;
	size_t got = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		report(0, path, strerror(errno));
		goto out_close;
	}
	if (st.st_size > DRIVER_MAX_INPUT) {
		report(0, path, "input larger than 64 MiB");
		goto out_close;
	}
	/* An exact-size copy, so ASan sees a read one byte past the input. */
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf) {
		report(0, path, "out of memory");
		goto out_close;
	}
	while (got < (size_t)st.st_size) {
		r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r <= 0) {
			report(0, path, r < 0 ? strerror(errno) : "short read");
			goto out_free;
		}
		got += (size_t)r;
	}
	printf("# running %s (%zu bytes)\n", path, got);
	fflush(stdout);
	LLVMFuzzerTestOneInput(buf, got);
	report(1, path, NULL);
out_free:
	free(buf);
out_close:
	if (fd >= 0)
		close(fd);
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int regular_entry(const struct dirent *d)
{
	return d->d_name[0] != '.';	/* ., .. and hidden files */
}

static void run_path(const char *path)
{
	struct dirent **names;
	struct stat st;
	char child[4096];
	int count;

	if (stat(path, &st) < 0) {
		report(0, path, strerror(errno));
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		run_file(path);
		return;
	}
	count = scandir(path, &names, regular_entry, by_name);
	if (count < 0) {
		report(0, path, strerror(errno));
		return;
	}
	for (int i = 0; i < count; i++) {
		if (snprintf(child, sizeof(child), "%s/%s", path,
			     names[i]->d_name) >= (int)sizeof(child))
			report(0, names[i]->d_name, "path too long");
		else if (stat(child, &st) == 0 && S_ISREG(st.st_mode))
			run_file(child);
		free(names[i]);
	}
	free(names);
}

int main(int argc, char **argv)
{
	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	if (argc < 2) {
		fprintf(stderr, "usage: %s CORPUS-DIR-OR-FILE...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++)
		run_path(argv[i]);
	printf("1..%d\n", n);
	return failed ? 1 : 0;
}
