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

/*
 * The fields of the topmost mount at path (later lines are mounted on top
 * of earlier ones, so the last match wins): 1 if found, 0 if not, -errno.
 * Each output may be NULL.
 */
static int scan(const char *path, char *devno, size_t devno_len,
		char *fstype, size_t fstype_len, char *source, size_t source_len)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	int found = 0;

	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		char *save = NULL, *field[6] = { NULL }, *sep, *type, *src;
		int i = 0;

		/* id parent maj:min root mountpoint options [optional...] - ... */
		for (char *t = strtok_r(line, " \n", &save); t;
		     t = strtok_r(NULL, " \n", &save)) {
			field[i++] = t;
			if (i == 6)
				break;	/* the rest is read below */
		}
		if (i < 6)
			continue;
		mountinfo_unescape(field[4]);
		if (strcmp(field[4], path) != 0)
			continue;
		for (sep = field[5]; sep && strcmp(sep, "-") != 0;
		     sep = strtok_r(NULL, " \n", &save))
			;
		type = sep ? strtok_r(NULL, " \n", &save) : NULL;
		src = type ? strtok_r(NULL, " \n", &save) : NULL;
		copy_field(devno, devno_len, field[2]);
		copy_field(fstype, fstype_len, type ? type : "");
		copy_field(source, source_len, src ? src : "");
		found = 1;
	}
	free(line);
	fclose(f);
	return found;
}

int mountinfo_find(const char *path, char *fstype, size_t fstype_len,
		   char *source, size_t source_len)
{
	return scan(path, NULL, 0, fstype, fstype_len, source, source_len);
}

int mountinfo_devno(const char *path, char *buf, size_t len)
{
	int found = scan(path, buf, len, NULL, 0, NULL, 0);

	return found < 0 ? found : found ? 0 : -ENOENT;
}

int path_within(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (strcmp(dir, "/") == 0)
		return path[0] == '/';
	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

