/*
 * repo.c - see repo.h: URL dispatch and object-name validation.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "banned.h"
#include "repo.h"

int repo_name_ok(const char *name)
{
	const char *p = name, *comp;
	size_t n = strlen(name);

	if (n == 0 || n > 255 || name[0] == '/' || name[n - 1] == '/')
		return 0;
	for (comp = p; *p; p++) {
		char c = *p;

		if (c == '/') {
			if (p == comp || (p - comp == 1 && comp[0] == '.') ||
			    (p - comp == 2 && comp[0] == '.' && comp[1] == '.'))
				return 0;
			comp = p + 1;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return 0;
	}
	if ((p - comp == 1 && comp[0] == '.') ||
	    (p - comp == 2 && comp[0] == '.' && comp[1] == '.'))
		return 0;
	return 1;
}

int repo_open(const char *url, struct repo **out, char *err, size_t errlen)
{
	struct repo *r = calloc(1, sizeof(*r));
	const char *path = NULL;
	int ret;

	*out = NULL;
	if (!r || !(r->url = strdup(url))) {
		free(r);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (strncmp(url, "file://", 7) == 0)
		path = url + 7;
	else if (url[0] == '/')
		path = url;
	if (!path || path[0] != '/') {
		snprintf(err, errlen, "unsupported repository URL '%s' (use "
			 "file:///absolute/path or an absolute path)", url);
		ret = -EINVAL;
		goto out_free;
	}
	ret = repo_file_open(path, r, err, errlen);
	if (ret)
		goto out_free;
	*out = r;
	return 0;

out_free:
	free(r->url);
	free(r);
	return ret;
}

void repo_close(struct repo *r)
{
	if (!r)
		return;
	if (r->ops && r->ops->close)
		r->ops->close(r);
	free(r->url);
	free(r);
}
