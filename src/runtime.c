/*
 * runtime.c - see runtime.h.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "banned.h"
#include "runtime.h"

void runtime_name(const char *mountpoint, char *buf, size_t len)
{
	uint32_t h = 2166136261u;	/* FNV-1a */
	size_t n = 0;
	const char *s;

	for (s = mountpoint; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	for (s = mountpoint; *s == '/'; s++)
		;
	for (; *s && n + 1 < len && n < 96; s++)
		buf[n++] = (*s == '/' || *s == ' ') ? '-' : *s;
	if (n == 0 && len > 5) {
		memcpy(buf, "root", 4);
		n = 4;
	}
	snprintf(buf + n, len - n, "-%08x", h);
}

static int runtime_dir(char *buf, size_t len)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	int n;

	if (geteuid() == 0)
		n = snprintf(buf, len, "/run/backupfs");
	else if (xdg && *xdg == '/')
		n = snprintf(buf, len, "%s/backupfs", xdg);
	else
		n = snprintf(buf, len, "/tmp/backupfs-%u", (unsigned)geteuid());
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	if (mkdir(buf, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int runtime_pidfile(const char *mountpoint, char *buf, size_t len)
{
	char name[160];
	size_t n;
	int err = runtime_dir(buf, len);

	if (err)
		return err;
	runtime_name(mountpoint, name, sizeof(name));
	n = strlen(buf);
	if ((size_t)snprintf(buf + n, len - n, "/%s.pid", name) >= len - n)
		return -ENAMETOOLONG;
	return 0;
}

int runtime_write_pid(const char *file, pid_t pid, const char *mountpoint)
{
	char tmp[4200];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", file);
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	fprintf(f, "%ld\n%s\n", (long)pid, mountpoint);
	if (fclose(f) != 0 || rename(tmp, file) < 0) {
		int err = -errno;
		unlink(tmp);
		return err;
	}
	return 0;
}

pid_t runtime_read_pid(const char *file)
{
	FILE *f = fopen(file, "re");
	long pid = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &pid) != 1 || pid <= 0)
		pid = -1;
	fclose(f);
	return (pid_t)pid;
}
