/* test-state.c - state paths, the registry, and password sources. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "password.h"
#include "state.h"
#include "tap.h"

int main(void)
{
	char dir[] = "/tmp/bfs-state-XXXXXX", buf[4200], err[300], file[300];
	char *pw;
	size_t len;
	FILE *f;

	if (sodium_init() < 0 || !mkdtemp(dir))
		return 1;
	setenv("BACKUPFS_STATE_ROOT", dir, 1);
	ok(state_root(buf, sizeof(buf)) == 0 && strcmp(buf, dir) == 0,
	   "BACKUPFS_STATE_ROOT sets the root");
	ok(state_default_dir("/srv/data", buf, sizeof(buf)) == 0 &&
	   strncmp(buf + strlen(dir), "/srv-data-", 10) == 0,
	   "default state dir: %s", buf);
	ok(state_default_repo("/srv/data", buf, sizeof(buf)) == 0 &&
	   strncmp(buf, "file://", 7) == 0 && strstr(buf, "/repos/srv-data-"),
	   "default repository: %s", buf);

	ok(registry_lookup("/srv/data", buf, sizeof(buf)) == -ENOENT,
	   "nothing registered yet");
	ok(registry_add("/srv/data", "/state/one") == 0 &&
	   registry_add("/srv/data2", "/state/two") == 0, "register two sources");
	ok(registry_lookup("/srv/data", buf, sizeof(buf)) == 0 &&
	   strcmp(buf, "/state/one") == 0, "find the first");
	ok(registry_lookup("/srv/data2", buf, sizeof(buf)) == 0 &&
	   strcmp(buf, "/state/two") == 0, "a prefix does not match the wrong one");
	ok(registry_add("/srv/data", "/state/three") == 0 &&
	   registry_lookup("/srv/data", buf, sizeof(buf)) == 0 &&
	   strcmp(buf, "/state/three") == 0, "re-registering replaces");
	ok(registry_lookup("/srv", buf, sizeof(buf)) == -ENOENT,
	   "a parent path is not registered");

	snprintf(file, sizeof(file), "%s/pw", dir);
	f = fopen(file, "w");
	fputs("s3cret pass\nsecond line\n", f);
	fclose(f);
	ok(password_get(file, "test", 0, &pw, &len, err, sizeof(err)) == 0 &&
	   len == 11 && strcmp(pw, "s3cret pass") == 0,
	   "--password-file: the first line");
	password_free(pw);
	setenv("BACKUPFS_PASSWORD", "from-env", 1);
	ok(password_get(NULL, "test", 0, &pw, &len, err, sizeof(err)) == 0 &&
	   strcmp(pw, "from-env") == 0, "BACKUPFS_PASSWORD");
	password_free(pw);
	ok(password_get(file, "test", 0, &pw, &len, err, sizeof(err)) == 0 &&
	   strcmp(pw, "s3cret pass") == 0, "the file wins over the environment");
	password_free(pw);
	setenv("BACKUPFS_PASSWORD", "", 1);
	ok(password_get(NULL, "test", 0, &pw, &len, err, sizeof(err)) == -EINVAL &&
	   strstr(err, "empty"), "an empty password is refused: %s", err);
	ok(password_get("/nonexistent/pw", "test", 0, &pw, &len, err,
			sizeof(err)) == -ENOENT && strstr(err, "/nonexistent/pw"),
	   "a missing password file is named: %s", err);

	snprintf(buf, sizeof(buf), "rm -rf '%s'", dir);
	if (system(buf) != 0)
		return 1;
	return tap_done();
}
