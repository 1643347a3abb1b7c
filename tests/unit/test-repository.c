/* test-repository.c - repository config, create and open (repo-config.c,
 * repository.c) over the file:// backend. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "repository.h"
#include "tap.h"

static const struct repository_kdf fast = { CRYPTO_KEY_OPSLIMIT_TEST,
					    CRYPTO_KEY_MEMLIMIT_TEST };

static int parse(const char *s)
{
	struct repo_config c;

	return repo_config_parse(s, strlen(s), &c);
}

#define HEAD "backupfs-repository 1\nid " \
	"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"
#define TAIL "pack-size 16777216\ncompression zstd 3\nstorage-class STANDARD\n"

static int grep_repo(const char *dir, const char *needle)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "grep -rqaF -- '%s' '%s'", needle, dir);
	return system(cmd) == 0;
}

int main(void)
{
	struct repo_config c, d;
	struct repository *r, *r2;
	char buf[REPO_CONFIG_MAX], err[512], dir[] = "/tmp/bfs-repo-XXXXXX";
	char url[300], url2[300], path[400], cmd[700];
	int n;

	if (crypto_init() < 0)
		return 1;
	repo_config_defaults(&c);
	n = repo_config_format(&c, buf, sizeof(buf));
	ok(n > 0 && repo_config_parse(buf, (size_t)n, &d) == 0 &&
	   memcmp(&c, &d, sizeof(c)) == 0, "config text round-trips");
	ok(parse(HEAD "chunker 65536 262144 1048576\n" TAIL) == 0, "a valid text parses");
	ok(parse(HEAD "chunker 65536 262144 1048576\n" TAIL "extra 1\n") == -EBADMSG,
	   "an unknown key is refused");
	ok(parse(HEAD "chunker 65536 262144 1048576\n" TAIL "pack-size 16777216\n") == -EBADMSG,
	   "a repeated key is refused");
	ok(parse(HEAD TAIL) == -EBADMSG, "a missing key is refused");
	ok(parse(HEAD "chunker 65536 262145 1048576\n" TAIL) == -EBADMSG,
	   "avg not a power of two is refused");
	ok(parse(HEAD "chunker 262144 65536 1048576\n" TAIL) == -EBADMSG,
	   "min > avg is refused");
	ok(parse(HEAD "chunker 65536 262144 99999999999\n" TAIL) == -EBADMSG,
	   "a huge max is refused");
	ok(parse(HEAD "chunker 065536 262144 1048576\n" TAIL) == -EBADMSG,
	   "leading zeros are refused");
	ok(parse(HEAD "chunker 65536 262144 1048576" "\n" TAIL "\n") == -EBADMSG,
	   "an empty line is refused");
	ok(parse("backupfs-repository 2\n") == -EBADMSG, "a newer format is refused");
	ok(parse(HEAD "chunker 65536 262144 1048576\n" "pack-size 16777216\n"
		 "compression zstd 3\nstorage-class glacier\n") == -EBADMSG,
	   "a malformed storage class is refused");
	ok(repo_config_parse("", 0, &c) == -EBADMSG, "empty input is refused");

	if (!mkdtemp(dir))
		return 1;
	snprintf(url, sizeof(url), "file://%s/a", dir);
	snprintf(url2, sizeof(url2), "file://%s/b", dir);
	ok(repository_create(url, "correct horse", 13, NULL, &fast, &r, err,
			     sizeof(err)) == 0, "create a repository");
	repository_close(r);
	ok(repository_create(url, "x", 1, NULL, &fast, &r, err, sizeof(err)) == -EEXIST &&
	   strstr(err, "already exists") != NULL, "create over it: %s", err);
	ok(repository_open(url, "correct horse", 13, &r, err, sizeof(err)) == 0,
	   "open with the right password");
	ok(r && r->cfg.chunk_avg == 262144, "and the config is read");
	repository_close(r);
	ok(repository_open(url, "wrong", 5, &r, err, sizeof(err)) == -EACCES &&
	   strstr(err, "wrong password for repository") && strstr(err, url),
	   "a wrong password is one clear line naming the repository: %s", err);
	snprintf(path, sizeof(path), "file://%s/none", dir);
	ok(repository_open(path, "x", 1, &r, err, sizeof(err)) == -ENOENT &&
	   strstr(err, "backupfs init"), "no repository: %s", err);
	ok(!grep_repo(dir, "correct horse") && !grep_repo(dir, "262144") &&
	   !grep_repo(dir, "STANDARD"), "neither password nor config is in the clear");

	/* A second repository; its key slot copied into the first. */
	ok(repository_create(url2, "correct horse", 13, NULL, &fast, &r2, err,
			     sizeof(err)) == 0, "a second repository");
	repository_close(r2);
	snprintf(cmd, sizeof(cmd), "for f in %s/a/keys/*; do mv $f %s/a/keys-old; done; "
		 "cp %s/b/keys/* %s/a/keys/", dir, dir, dir, dir);
	if (system(cmd) != 0)
		return 1;
	ok(repository_open(url, "correct horse", 13, &r, err, sizeof(err)) == -EBADMSG &&
	   strstr(err, "does not match key slot"),
	   "a key slot from another repository is named: %s", err);
	snprintf(cmd, sizeof(cmd), "rm %s/a/keys/*; mv %s/a/keys-old %s/a/keys/restored",
		 dir, dir, dir);
	if (system(cmd) != 0)
		return 1;
	ok(repository_open(url, "correct horse", 13, &r, err, sizeof(err)) == 0,
	   "the original slot opens again");
	repository_close(r);

	/* Flip one byte of the config. */
	snprintf(cmd, sizeof(cmd), "printf '\\x55' | dd of=%s/a/config bs=1 seek=30 "
		 "conv=notrunc status=none", dir);
	if (system(cmd) != 0)
		return 1;
	ok(repository_open(url, "correct horse", 13, &r, err, sizeof(err)) == -EBADMSG &&
	   strstr(err, "config"), "a modified config is detected: %s", err);

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		return 1;
	return tap_done();
}
