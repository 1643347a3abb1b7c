/*
 * state.c - see state.h.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "banned.h"
#include "runtime.h"
#include "state.h"

int state_root(char *buf, size_t len)
{
	const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	int n;

	if (getenv("BACKUPFS_STATE_ROOT"))	/* tests and packagers */
		n = snprintf(buf, len, "%s", getenv("BACKUPFS_STATE_ROOT"));
	else if (geteuid() == 0)
		n = snprintf(buf, len, "/var/lib/backupfs");
	else if (xdg && xdg[0] == '/')
		n = snprintf(buf, len, "%s/backupfs", xdg);
	else if (home && home[0] == '/')
		n = snprintf(buf, len, "%s/.local/state/backupfs", home);
	else
		return -ENOENT;
	return (n < 0 || (size_t)n >= len) ? -ENAMETOOLONG : 0;
}

static int under_root(const char *source, const char *sub, const char *prefix,
		      char *buf, size_t len)
{
	char root[4096], name[160];
	int n, err = state_root(root, sizeof(root));

	if (err)
		return err;
	runtime_name(source, name, sizeof(name));
	n = snprintf(buf, len, "%s%s%s/%s", prefix, root, sub, name);
	return (n < 0 || (size_t)n >= len) ? -ENAMETOOLONG : 0;
}

int state_default_dir(const char *source, char *buf, size_t len)
{
	return under_root(source, "", "", buf, len);
}

int state_default_repo(const char *source, char *buf, size_t len)
{
	return under_root(source, "/repos", "file://", buf, len);
}

static int registry_path(char *buf, size_t len)
{
	char root[4096];
	int err = state_root(root, sizeof(root));

	if (err)
		return err;
	return (size_t)snprintf(buf, len, "%s/registry", root) >= len ?
		       -ENAMETOOLONG : 0;
}

int registry_lookup(const char *source, char *state, size_t len)
{
	char path[4200], *line = NULL;
	size_t cap = 0, n = strlen(source);
	FILE *f;
	int ret = -ENOENT;

	if (registry_path(path, sizeof(path)) < 0 || !(f = fopen(path, "re")))
		return -ENOENT;
	while (getline(&line, &cap, f) > 0) {
		if (strncmp(line, source, n) == 0 && line[n] == '\t') {
			char *s = line + n + 1, *nl = strchr(s, '\n');

			if (nl)
				*nl = '\0';
			if ((size_t)snprintf(state, len, "%s", s) < len)
				ret = 0;
		}
	}
	free(line);
	fclose(f);
	return ret;
}

int registry_add(const char *source, const char *state)
{
	char path[4200], tmp[4300], root[4096], *line = NULL;
	size_t cap = 0, n = strlen(source);
	FILE *in, *out;
	int lock, ret = 0;

	if (state_root(root, sizeof(root)) < 0 ||
	    registry_path(path, sizeof(path)) < 0)
		return -ENAMETOOLONG;
	if (mkdir(root, 0700) < 0 && errno != EEXIST)
		return -errno;
	snprintf(tmp, sizeof(tmp), "%s.lock", path);
	lock = open(tmp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock < 0 || flock(lock, LOCK_EX) < 0) {
		ret = -errno;
		goto out_lock;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	out = fopen(tmp, "we");
	if (!out) {
		ret = -errno;
		goto out_lock;
	}
	in = fopen(path, "re");
	while (in && getline(&line, &cap, in) > 0)
		if (!(strncmp(line, source, n) == 0 && line[n] == '\t'))
			fputs(line, out);
	if (in)
		fclose(in);
	free(line);
	fprintf(out, "%s\t%s\n", source, state);
	if (fflush(out) != 0 || fsync(fileno(out)) < 0)
		ret = -errno;
	if (fclose(out) != 0 && !ret)
		ret = -errno;
	if (!ret && rename(tmp, path) < 0)
		ret = -errno;
	if (ret)
		unlink(tmp);
out_lock:
	if (lock >= 0)
		close(lock);
	return ret;
}
