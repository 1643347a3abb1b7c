/*
 * cmd-mount.c - "backupfs mount [-f] [-o OPTIONS] SOURCE [MOUNTPOINT]".
 *
 * Checks everything that can be checked before mounting, so that a mistake
 * gets one clear line and a non-zero exit rather than a half-started daemon:
 * SOURCE exists and is a directory, nothing of ours is mounted there yet, a
 * stale mount is named as such, a separate MOUNTPOINT is empty and not
 * inside SOURCE (the daemon would then walk into its own mount), /dev/fuse
 * exists.  Then SOURCE is opened O_PATH and the overlay mounted, over
 * SOURCE itself when MOUNTPOINT is left out.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "banned.h"
#include "cmd.h"
#include "engine.h"
#include "snapview.h"
#include "fs.h"
#include "log.h"
#include "mountinfo.h"
#include "options.h"
#include "runtime.h"

static const char mount_usage[] =
	"usage: backupfs mount [-f] [-o OPTIONS] SOURCE [MOUNTPOINT]\n"
	"\n"
	"Mounts the backupfs overlay over SOURCE (or at MOUNTPOINT) and versions\n"
	"every change made through it.  SOURCE must have been set up with\n"
	"'backupfs init'.  The repository password comes from -o password_file,\n"
	"else $BACKUPFS_PASSWORD, else a prompt on the terminal.\n"
	"\n"
	"  -f, --foreground   stay in the foreground, log to stderr\n"
	"  -o OPTIONS         comma-separated mount options:\n"
	"       version_interval=SECS\n"
	"                           save a file that has had unsaved writes this\n"
	"                           long even if it stays open (default 60; 0: off)\n"
	"       snapshot_interval=SECS\n"
	"                           take a snapshot this often (default 3600; 0: off)\n"
	"       snapdir=visible     list .snapshots in every directory (it is\n"
	"                           always there by name; hidden by default)\n"
	"       password_file=FILE  read the password from FILE's first line\n"
	"       state=DIR           state directory (default: the one 'backupfs\n"
	"                           init' registered for SOURCE)\n"
	"       allow_other         let other users use the mount (implies\n"
	"                           default_permissions; non-root users need\n"
	"                           user_allow_other in /etc/fuse.conf)\n"
	"       ro                  read-only mount\n"
	"       attr_timeout=SECS   attribute cache time (default 1)\n"
	"       entry_timeout=SECS  name cache time (default 1)\n"
	"       writeback           kernel writeback cache (faster small writes;\n"
	"                           only if nothing changes SOURCE behind the mount)\n"
	"       debug               log every FUSE request\n"
	"       nodev,nosuid,noexec,noatime,...  passed to the kernel\n"
	"  -h, --help         show this help\n";

int check_dir_arg(const char *role, const char *path, char *real, size_t len)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		if (errno == ENOTCONN)
			fprintf(stderr, "backupfs: %s '%s' is a stale mount "
				"(transport endpoint is not connected): run "
				"'fusermount3 -u %s' first\n", role, path, path);
		else if (errno == ENOENT)
			fprintf(stderr, "backupfs: %s '%s' does not exist\n",
				role, path);
		else
			fprintf(stderr, "backupfs: cannot access %s '%s': %s\n",
				role, path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "backupfs: %s '%s' is not a directory\n", role,
			path);
		return -1;
	}
	if (len < PATH_MAX || !realpath(path, real)) {
		fprintf(stderr, "backupfs: cannot resolve %s '%s': %s\n", role,
			path, strerror(errno));
		return -1;
	}
	return 0;
}

static int dir_is_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int empty = 1;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			empty = 0;
			break;
		}
	closedir(d);
	return empty;
}

static int check_not_ours(const char *role, const char *path)
{
	char type[64];

	if (mountinfo_find(path, type, sizeof(type), NULL, 0) == 1 &&
	    strcmp(type, BACKUPFS_FSTYPE) == 0) {
		fprintf(stderr, "backupfs: %s '%s' is already a backupfs mount "
			"(run 'backupfs umount %s' first)\n", role, path, path);
		return -1;
	}
	return 0;
}

static int user_allow_other(void)
{
	FILE *f = fopen("/etc/fuse.conf", "re");
	char line[256];
	int ok = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "user_allow_other", 16) == 0)
			ok = 1;
	fclose(f);
	return ok;
}

struct ready_arg {
	const char *mountpoint;
	struct engine *engine;
	char pidfile[PATH_MAX + 64];
};

/*
 * The kernel caps a FUSE mount's readahead at 128 KiB whatever the daemon
 * offers; a disk has far more (8 MiB here).  Root may raise it through the
 * mount's backing device, found in the mount table: 4 MiB makes a
 * sequential read several 1 MiB requests in flight (4 MiB measured best).
 */
static void raise_readahead(const char *mountpoint)
{
	char devno[32], path[96];
	FILE *f;

	if (geteuid() != 0 ||
	    mountinfo_devno(mountpoint, devno, sizeof(devno)) < 0)
		return;
	snprintf(path, sizeof(path), "/sys/class/bdi/%s/read_ahead_kb", devno);
	f = fopen(path, "we");
	if (!f)
		return;
	fputs("4096\n", f);
	if (fclose(f) != 0)
		log_debug("cannot raise readahead of '%s'", mountpoint);
}

static int on_ready(void *p)
{
	struct ready_arg *r = p;
	int err = engine_start(r->engine);

	if (err) {
		log_error("cannot start versioning for '%s' (%s): unmounting; "
			  "see the messages above", r->mountpoint,
			  strerror(-err));
		return -1;
	}
	err = runtime_pidfile(r->mountpoint, r->pidfile, sizeof(r->pidfile));

	if (!err)
		err = runtime_write_pid(r->pidfile, getpid(), r->mountpoint);
	if (err) {
		log_warning("cannot write the pid file for '%s': %s "
			    "('backupfs umount' will not wait for the daemon)",
			    r->mountpoint, strerror(-err));
		r->pidfile[0] = '\0';
	}
	raise_readahead(r->mountpoint);
	log_info("mounted on '%s'", r->mountpoint);
	return 0;
}

int cmd_mount(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "foreground", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char source[PATH_MAX], mnt[PATH_MAX], err[1024], fuse_opts[1024];
	struct fs_hooks hooks;
	struct snapview *snap = NULL;
	struct mount_opts opts;
	struct ready_arg ready = { 0 };
	int foreground = 0, c, fd, ret;
	struct fs *fs;

	mount_opts_init(&opts);
	optind = 1;
	while ((c = getopt_long(argc, argv, "fho:snv", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			foreground = 1;
			break;
		case 'o':
			if (mount_opts_parse(&opts, optarg, err, sizeof(err))) {
				fprintf(stderr, "backupfs: %s\n", err);
				return 2;
			}
			break;
		case 'h':
			fputs(mount_usage, stdout);
			return 0;
		case 's': case 'n': case 'v':
			break;	/* mount(8) helper flags: nothing to do */
		default:
			fputs(mount_usage, stderr);
			return 2;
		}
	}
	if (argc - optind < 1 || argc - optind > 2) {
		fputs(mount_usage, stderr);
		return 2;
	}
	if (access("/dev/fuse", F_OK) < 0) {
		fprintf(stderr, "backupfs: /dev/fuse is missing: load the fuse "
			"module ('modprobe fuse'), or give the container the "
			"device (--device /dev/fuse)\n");
		return 1;
	}
	if (check_dir_arg("source", argv[optind], source, sizeof(source)) < 0)
		return 1;
	if (argc - optind == 2) {
		if (check_dir_arg("mountpoint", argv[optind + 1], mnt,
				  sizeof(mnt)) < 0)
			return 1;
	} else {
		memcpy(mnt, source, sizeof(mnt));
	}
	if (check_not_ours("source", source) < 0 ||
	    check_not_ours("mountpoint", mnt) < 0)
		return 1;
	if (strcmp(source, mnt) != 0) {
		if (path_within(mnt, source)) {
			fprintf(stderr, "backupfs: mountpoint '%s' is inside the "
				"source '%s': mount over the source itself (leave "
				"MOUNTPOINT out) or somewhere outside it\n", mnt,
				source);
			return 1;
		}
		if (dir_is_empty(mnt) != 1) {
			fprintf(stderr, "backupfs: mountpoint '%s' is not empty "
				"(mount on an empty directory, or over the source "
				"itself by leaving MOUNTPOINT out)\n", mnt);
			return 1;
		}
	}
	if (geteuid() != 0) {
		if (access(mnt, W_OK) < 0) {
			fprintf(stderr, "backupfs: no permission to mount on '%s' "
				"(you need write access to it, or run as root)\n",
				mnt);
			return 1;
		}
		if (access("/dev/fuse", R_OK | W_OK) < 0) {
			fprintf(stderr, "backupfs: /dev/fuse is not open to you "
				"(%s): as root, 'chmod 666 /dev/fuse' (what Debian's "
				"udev rule for fuse3 does), or mount as root\n",
				strerror(errno));
			return 1;
		}
		if (opts.allow_other && !user_allow_other()) {
			fprintf(stderr, "backupfs: option allow_other needs "
				"'user_allow_other' in /etc/fuse.conf when not "
				"run as root\n");
			return 1;
		}
	}
	/*
	 * libfuse mounts nosuid,nodev by default; an overlay in place must
	 * behave like the directory it covers, so root gets suid,dev unless
	 * the options say otherwise (they come later and win).
	 */
	if (geteuid() == 0) {
		size_t n = strlen(opts.kernel);

		if (n + 10 > sizeof(opts.kernel)) {
			fprintf(stderr, "backupfs: too many mount options\n");
			return 2;
		}
		memmove(opts.kernel + 9, opts.kernel, n + 1);
		memcpy(opts.kernel, "suid,dev,", 9);
		if (n == 0)
			opts.kernel[8] = '\0';
	}
	if (mount_opts_fuse_string(&opts, source, fuse_opts,
				   sizeof(fuse_opts)) < 0) {
		fprintf(stderr, "backupfs: mount options too long\n");
		return 2;
	}

	fd = open(source, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "backupfs: cannot open source '%s': %s\n",
			source, strerror(errno));
		return 1;
	}
	{
		struct engine_config ec = {
			.source = source, .mountpoint = mnt,
			.state = opts.state, .password_file = opts.password_file,
			.version_interval = opts.version_interval,
			.snapshot_interval = opts.snapshot_interval,
		};

		if (engine_open(&ec, fd, &ready.engine, err, sizeof(err)) < 0) {
			close(fd);
			fprintf(stderr, "backupfs: %s\n", err);
			return 1;
		}
	}
	engine_hooks(ready.engine, &hooks);
	fs = fs_new(fd, &opts.fs, &hooks);
	{
		uint64_t rdev, rino;

		engine_root(ready.engine, &rdev, &rino);
		snap = snapview_new(engine_state(ready.engine),
				    engine_repository(ready.engine), rdev, rino,
				    opts.fs.attr_timeout);
	}
	if (!fs || !snap) {
		if (fs)
			fs_free(fs);
		else
			close(fd);
		snapview_free(snap);
		engine_free(ready.engine);
		fprintf(stderr, "backupfs: out of memory\n");
		return 1;
	}
	fs_set_snapview(fs, snap);
	ready.mountpoint = mnt;
	ret = fs_serve(fs, mnt, fuse_opts, foreground, on_ready, &ready);
	/* Unmounted: every file is closed; commit what is left. */
	engine_stop(ready.engine);
	if (ready.pidfile[0])
		unlink(ready.pidfile);
	fs_free(fs);
	snapview_free(snap);
	engine_free(ready.engine);
	return ret;
}
