/*
 * mountinfo.c - see mountinfo.h.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "banned.h"
#include "mountinfo.h"

void mountinfo_unescape(char *s)
{
	char *out = s;

	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' &&
		    s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
					(s[3] - '0'));
			s += 4;
		} else {
			*out++ = *s++;
		}
	}
	*out = '\0';
}

static void copy_field(char *dst, size_t len, const char *src)
{
	if (dst && len) {
		snprintf(dst, len, "%s", src);
		mountinfo_unescape(dst);
	}
}

int mountinfo_find(const char *path, char *fstype, size_t fstype_len,
		   char *source, size_t source_len)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	int found = 0;

	if (!f)
		return -errno;
	/* Later lines are mounted on top of earlier ones: keep the last. */
	while (getline(&line, &cap, f) > 0) {
		char *save = NULL, *field, *mnt = NULL, *sep;
		int i = 0;

		for (field = strtok_r(line, " \n", &save); field && i < 5;
		     field = strtok_r(NULL, " \n", &save), i++)
			if (i == 4)
				mnt = field;
		if (!mnt)
			continue;
		mountinfo_unescape(mnt);
		if (strcmp(mnt, path) != 0)
			continue;
		/* Optional fields end with "-", then fstype and source. */
		for (sep = field; sep && strcmp(sep, "-") != 0;
		     sep = strtok_r(NULL, " \n", &save))
			;
		char *type = sep ? strtok_r(NULL, " \n", &save) : NULL;
		char *src = type ? strtok_r(NULL, " \n", &save) : NULL;

		copy_field(fstype, fstype_len, type ? type : "");
		copy_field(source, source_len, src ? src : "");
		found = 1;
	}
	free(line);
	fclose(f);
	return found;
}

int path_within(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (strcmp(dir, "/") == 0)
		return path[0] == '/';
	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

int mountinfo_devno(const char *path, char *buf, size_t len)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	int found = -ENOENT;

	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		char *save = NULL, *field, *dev = NULL, *mnt = NULL;
		int i = 0;

		for (field = strtok_r(line, " \n", &save); field && i < 5;
		     field = strtok_r(NULL, " \n", &save), i++) {
			if (i == 2)
				dev = field;
			else if (i == 4)
				mnt = field;
		}
		if (!dev || !mnt)
			continue;
		mountinfo_unescape(mnt);
		if (strcmp(mnt, path) == 0) {
			snprintf(buf, len, "%s", dev);
			found = 0;
		}
	}
	free(line);
	fclose(f);
	return found;
}
