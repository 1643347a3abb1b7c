/*
 * options.h - the -o option list of "backupfs mount".
 *
 * Parsed into struct mount_opts; the options that are the kernel's (nodev,
 * noexec, ...) are collected into the string handed to libfuse.  An unknown
 * option is an error naming it; the generic fstab words (defaults, noauto,
 * nofail, _netdev, x-*, ...) are accepted and ignored so that /etc/fstab
 * lines work through mount.backupfs.
 */
#ifndef BACKUPFS_OPTIONS_H
#define BACKUPFS_OPTIONS_H

#include <stddef.h>

#include "fs.h"

struct mount_opts {
	struct fs_config fs;
	int allow_other;
	double version_interval;	/* seconds; 0 = off (default 60) */
	double snapshot_interval;	/* seconds; 0 = off (default 3600) */
	char password_file[4096];	/* "" = $BACKUPFS_PASSWORD or a prompt */
	char state[4096];		/* "" = the registry's */
	char kernel[512];	/* kernel mount options, comma-separated */
};

void mount_opts_init(struct mount_opts *o);

/*
 * Parses one comma-separated list (may be called for each -o).  Returns 0,
 * or -EINVAL with a message for the user in err.
 */
int mount_opts_parse(struct mount_opts *o, const char *list,
		     char *err, size_t errlen);

/*
 * The option string for libfuse: fsname=SOURCE (commas escaped),
 * subtype=backupfs, default_permissions, allow_other if asked, ro, and the
 * kernel options.  Returns 0, or -ENAMETOOLONG if it does not fit.
 */
int mount_opts_fuse_string(const struct mount_opts *o, const char *source,
			   char *buf, size_t len);

#endif
