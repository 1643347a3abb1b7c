/* test-repo-file.c - the file:// backend against the repo.h contract. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "repo.h"
#include "tap.h"

struct seen {
	char names[16][64];
	int n;
	uint64_t total;
};

static int collect(void *arg, const char *name, uint64_t size)
{
	struct seen *s = arg;

	if (s->n < 16)
		snprintf(s->names[s->n++], 64, "%s", name);
	s->total += size;
	return 0;
}

static int stop_at_first(void *arg, const char *name, uint64_t size)
{
	(void)arg; (void)name; (void)size;
	return 42;
}

static int count_tmp(const char *dir)
{
	char cmd[512];
	FILE *p;
	int n = -1;

	snprintf(cmd, sizeof(cmd), "find '%s' -name '*.tmp.*' | wc -l", dir);
	p = popen(cmd, "r");
	if (p) {
		if (fscanf(p, "%d", &n) != 1)
			n = -1;
		pclose(p);
	}
	return n;
}

int main(void)
{
	char dir[] = "/tmp/backupfs-repo-XXXXXX", url[256], err[256];
	struct repo *r;
	struct seen s = { 0 };
	void *buf;
	size_t len, got;
	char small[8];
	struct stat st;

	ok(repo_name_ok("data/ab/abcdef0123") && repo_name_ok("config") &&
	   repo_name_ok("keys/k-1.x"), "valid names pass");
	ok(!repo_name_ok("") && !repo_name_ok("/abs") && !repo_name_ok("a//b") &&
	   !repo_name_ok("a/../b") && !repo_name_ok("..") && !repo_name_ok("a/.") &&
	   !repo_name_ok("dir/") && !repo_name_ok("sp ace") && !repo_name_ok("a\nb"),
	   "names that could escape or confuse are refused");

	ok(repo_open("s3x://bucket", &r, err, sizeof(err)) == -EINVAL &&
	   strstr(err, "unsupported repository URL") != NULL,
	   "an unknown scheme gets a clear error: %s", err);
	ok(repo_open("relative/path", &r, err, sizeof(err)) == -EINVAL,
	   "a relative path is refused");

	if (!mkdtemp(dir))
		return 1;
	snprintf(url, sizeof(url), "file://%s/repo", dir);
	ok(repo_open(url, &r, err, sizeof(err)) == 0, "open %s", url);
	ok(r->ops->create(r) == 0, "create lays out the repository");
	snprintf(url, sizeof(url), "%s/repo/data", dir);
	ok(stat(url, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700,
	   "data/ exists, mode 0700");

	ok(r->ops->put(r, "config", "cfg-v1", 6, "STANDARD") == 0, "put config");
	ok(r->ops->create(r) == -EEXIST, "create over an existing repository is -EEXIST");
	ok(r->ops->put(r, "data/ab/ab12", "0123456789", 10, "GLACIER") == 0,
	   "put into a new subdirectory");
	ok(r->ops->get(r, "data/ab/ab12", 1 << 20, &buf, &len) == 0 && len == 10 &&
	   memcmp(buf, "0123456789", 10) == 0, "get returns the bytes");
	free(buf);
	ok(r->ops->get(r, "data/ab/ab12", 5, &buf, &len) == -EFBIG && !buf,
	   "get refuses an object larger than the caller's limit");
	ok(r->ops->get_range(r, "data/ab/ab12", 3, 4, small, &got) == 0 && got == 4 &&
	   memcmp(small, "3456", 4) == 0, "get_range in the middle");
	ok(r->ops->get_range(r, "data/ab/ab12", 8, 8, small, &got) == 0 && got == 2,
	   "get_range past the end returns what there is");
	ok(r->ops->get(r, "data/ab/missing", 100, &buf, &len) == -ENOENT,
	   "a missing object is -ENOENT");
	ok(r->ops->get(r, "../escape", 100, &buf, &len) == -EINVAL,
	   "get of an invalid name is -EINVAL");
	ok(r->ops->put(r, "config", "cfg-v2!", 7, NULL) == 0 &&
	   r->ops->get(r, "config", 100, &buf, &len) == 0 && len == 7 &&
	   memcmp(buf, "cfg-v2!", 7) == 0, "put replaces an object whole");
	free(buf);
	ok(count_tmp(dir) == 0, "no temporary files are left behind");

	r->ops->put(r, "index/p1", "i", 1, NULL);
	r->ops->put(r, "data/cd/cd34", "xyz", 3, NULL);
	ok(r->ops->list(r, "data/", collect, &s) == 0 && s.n == 2 && s.total == 13,
	   "list data/ finds both packs (%d, %llu bytes)", s.n,
	   (unsigned long long)s.total);
	memset(&s, 0, sizeof(s));
	r->ops->list(r, "", collect, &s);
	ok(s.n == 4, "list of everything finds 4 objects");
	memset(&s, 0, sizeof(s));
	r->ops->list(r, "data/c", collect, &s);
	ok(s.n == 1 && strcmp(s.names[0], "data/cd/cd34") == 0,
	   "a partial prefix matches inside names");
	ok(r->ops->list(r, "", stop_at_first, NULL) == 42,
	   "list stops at the callback's non-zero return");

	snprintf(url, sizeof(url), "%s/repo/data/ab/x.tmp.1.2", dir);
	fclose(fopen(url, "w"));
	memset(&s, 0, sizeof(s));
	r->ops->list(r, "data/", collect, &s);
	ok(s.n == 2, "list skips leftovers of an interrupted put");

	ok(r->ops->del(r, "data/ab/ab12") == 0, "delete");
	ok(r->ops->del(r, "data/ab/ab12") == -ENOENT, "delete again is -ENOENT");
	ok(r->ops->get(r, "data/ab/ab12", 100, &buf, &len) == -ENOENT,
	   "the deleted object is gone");
	repo_close(r);

	snprintf(url, sizeof(url), "rm -rf '%s'", dir);
	if (system(url) != 0)
		return 1;
	return tap_done();
}
