/*
 * options.c - see options.h.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "banned.h"
#include "options.h"
#include "util.h"

/* Options of the kernel mount that we pass on unchanged. */
static const char *const kernel_opts[] = {
	"dev", "nodev", "suid", "nosuid", "exec", "noexec", "atime",
	"noatime", "relatime", "norelatime", "strictatime", "nostrictatime",
	"nodiratime", "diratime", "dirsync", "sync", "async", NULL,
};

/* fstab and mount(8) words that mean nothing to us. */
static const char *const ignored_opts[] = {
	"defaults", "auto", "noauto", "nofail", "_netdev", "user", "users",
	"nouser", "owner", "group", "rw", "default_permissions", NULL,
};

static int in_list(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (strcmp(*list, s) == 0)
			return 1;
	return 0;
}

void mount_opts_init(struct mount_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->fs.attr_timeout = 1.0;
	o->fs.entry_timeout = 1.0;
	o->version_interval = 60.0;
	o->snapshot_interval = 3600.0;
}

static int append(char *buf, size_t len, const char *s)
{
	size_t n = strlen(buf);
	int w = snprintf(buf + n, len - n, "%s%s", n ? "," : "", s);

	return (w < 0 || (size_t)w >= len - n) ? -ENAMETOOLONG : 0;
}

static int parse_one(struct mount_opts *o, char *opt, char *err, size_t errlen)
{
	char *val = strchr(opt, '=');
	double secs;

	if (val)
		*val++ = '\0';
	if (!*opt)
		return 0;
	if (strcmp(opt, "attr_timeout") == 0 || strcmp(opt, "entry_timeout") == 0) {
		if (!val || parse_seconds(val, &secs) < 0) {
			snprintf(err, errlen, "option '%s' needs a number of "
				 "seconds, e.g. %s=1", opt, opt);
			return -EINVAL;
		}
		if (opt[0] == 'a')
			o->fs.attr_timeout = secs;
		else
			o->fs.entry_timeout = secs;
		return 0;
	}
	if (strcmp(opt, "version_interval") == 0 ||
	    strcmp(opt, "snapshot_interval") == 0) {
		if (!val || parse_seconds(val, &secs) < 0) {
			snprintf(err, errlen, "option '%s' needs a number of "
				 "seconds, e.g. %s=%s (0 turns it off)", opt, opt,
				 opt[0] == 'v' ? "60" : "3600");
			return -EINVAL;
		}
		if (opt[0] == 'v')
			o->version_interval = secs;
		else
			o->snapshot_interval = secs;
		return 0;
	}
	if (strcmp(opt, "snapdir") == 0) {
		if (!val || (strcmp(val, "visible") && strcmp(val, "hidden"))) {
			snprintf(err, errlen, "option 'snapdir' is 'visible' or "
				 "'hidden' (the default)");
			return -EINVAL;
		}
		o->fs.snapdir_visible = val[0] == 'v';
		return 0;
	}
	if (strcmp(opt, "password_file") == 0 || strcmp(opt, "state") == 0) {
		char *dst = opt[0] == 'p' ? o->password_file : o->state;

		if (!val || !*val || strlen(val) >= sizeof(o->state)) {
			snprintf(err, errlen, "option '%s' needs a path, e.g. "
				 "%s=/etc/backupfs/pw", opt, opt);
			return -EINVAL;
		}
		memcpy(dst, val, strlen(val) + 1);
		return 0;
	}
	if (val && strncmp(opt, "x-", 2) != 0 && strcmp(opt, "comment") != 0) {
		snprintf(err, errlen, "option '%s' takes no value", opt);
		return -EINVAL;
	}
	if (strcmp(opt, "allow_other") == 0)
		o->allow_other = 1;
	else if (strcmp(opt, "ro") == 0)
		o->fs.readonly = 1;
	else if (strcmp(opt, "writeback") == 0)
		o->fs.writeback = 1;
	else if (strcmp(opt, "nowriteback") == 0)
		o->fs.writeback = 0;
	else if (strcmp(opt, "debug") == 0)
		o->fs.debug = 1;
	else if (in_list(kernel_opts, opt)) {
		if (append(o->kernel, sizeof(o->kernel), opt) < 0) {
			snprintf(err, errlen, "too many mount options");
			return -EINVAL;
		}
	} else if (!in_list(ignored_opts, opt) && strncmp(opt, "x-", 2) != 0 &&
		   strcmp(opt, "comment") != 0) {
		snprintf(err, errlen, "unknown mount option '%s' (see "
			 "'man backupfs' for the list)", opt);
		return -EINVAL;
	}
	return 0;
}

int mount_opts_parse(struct mount_opts *o, const char *list,
		     char *err, size_t errlen)
{
	char *copy = strdup(list), *save = NULL, *opt;
	int ret = 0;

	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (opt = strtok_r(copy, ",", &save); opt && !ret;
	     opt = strtok_r(NULL, ",", &save))
		ret = parse_one(o, opt, err, errlen);
	free(copy);
	return ret;
}

int mount_opts_fuse_string(const struct mount_opts *o, const char *source,
			   char *buf, size_t len)
{
	size_t n = 0;
	const char *s;

	/* fsname=SOURCE with ',' and '\' escaped for libfuse's parser. */
	if (len < 8)
		return -ENAMETOOLONG;
	memcpy(buf, "fsname=", 7);
	n = 7;
	for (s = source; *s; s++) {
		if (n + 3 >= len)
			return -ENAMETOOLONG;
		if (*s == ',' || *s == '\\')
			buf[n++] = '\\';
		buf[n++] = *s;
	}
	buf[n] = '\0';
	if (append(buf, len, "subtype=backupfs") < 0 ||
	    append(buf, len, "default_permissions") < 0 ||
	    (o->allow_other && append(buf, len, "allow_other") < 0) ||
	    (o->fs.readonly && append(buf, len, "ro") < 0) ||
	    (o->kernel[0] && append(buf, len, o->kernel) < 0))
		return -ENAMETOOLONG;
	return 0;
}
