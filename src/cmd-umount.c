/*
 * cmd-umount.c - "backupfs umount MOUNTPOINT".
 *
 * Unmounts (umount2 as root, fusermount3 -u otherwise), then waits until the
 * daemon that served the mount has exited, so that when the command returns
 * the daemon's work is done.  A stale mount is cleaned up too.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "banned.h"
#include "cmd.h"
#include "ctl.h"
#include "mountinfo.h"
#include "runtime.h"

static const char umount_usage[] =
	"usage: backupfs umount MOUNTPOINT\n"
	"\n"
	"Saves and uploads every change (as 'backupfs sync' does), unmounts,\n"
	"and waits for the daemon to finish.\n";

static int do_unmount(const char *path)
{
	pid_t pid;
	int status;

	if (geteuid() == 0)
		return umount2(path, UMOUNT_NOFOLLOW) < 0 ? -errno : 0;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		execl(FUSERMOUNT_PATH, "fusermount3", "-u", "--", path,
		      (char *)NULL);
		execlp("fusermount3", "fusermount3", "-u", "--", path,
		       (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return WIFEXITED(status) && WEXITSTATUS(status) == 127 ?
			       -ENOENT : -EBUSY;
	return 0;
}

static void wait_for_daemon(pid_t pid)
{
	struct timespec step = { 0, 20 * 1000 * 1000 };
	int ticks = 0;

	while (kill(pid, 0) == 0 || errno == EPERM) {
		nanosleep(&step, NULL);
		if (++ticks == 100)
			fprintf(stderr, "backupfs: waiting for the daemon (pid %ld)"
				" to finish its work...\n", (long)pid);
	}
}

int cmd_umount(int argc, char **argv)
{
	char real[PATH_MAX], type[64], pidfile[PATH_MAX + 64];
	const char *path;
	struct stat st;
	pid_t pid = -1;
	int err;

	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		fputs(umount_usage, stdout);
		return 0;
	}
	if (argc != 2) {
		fputs(umount_usage, stderr);
		return 2;
	}
	path = argv[1];
	if (stat(path, &st) < 0 && errno == ENOTCONN) {
		/* The daemon died: just take the dead mount away. */
		err = do_unmount(path);
		if (err) {
			fprintf(stderr, "backupfs: cannot remove the stale mount "
				"'%s': %s (try 'fusermount3 -u %s')\n", path,
				strerror(-err), path);
			return 1;
		}
		fprintf(stderr, "backupfs: removed the stale mount '%s'\n", path);
		return 0;
	}
	if (!realpath(path, real)) {
		fprintf(stderr, "backupfs: cannot resolve '%s': %s\n", path,
			strerror(errno));
		return 1;
	}
	if (mountinfo_find(real, type, sizeof(type), NULL, 0) != 1 ||
	    strcmp(type, BACKUPFS_FSTYPE) != 0) {
		fprintf(stderr, "backupfs: '%s' is not a backupfs mount\n", real);
		return 1;
	}
	if (runtime_pidfile(real, pidfile, sizeof(pidfile)) == 0)
		pid = runtime_read_pid(pidfile);
	/*
	 * First what "backupfs sync" does: every write so far captured and
	 * in the repository.  A failure is not a reason to keep the mount:
	 * what is not uploaded stays queued in the state directory and goes
	 * at the next mount.
	 */
	{
		char sock[PATH_MAX], msg[512], *reply = NULL;
		int status = 0;

		if (ctl_sockpath(real, sock, sizeof(sock)) == 0 &&
		    ctl_call(sock, "sync", 0, &reply, &status, msg,
			     sizeof(msg)) == 0 && status != 0)
			fprintf(stderr, "backupfs: warning: sync before unmounting "
				"'%s' failed: %s; unmounting anyway (the rest is "
				"uploaded at the next mount)\n", real,
				reply && *reply ? reply : strerror(-status));
		free(reply);
	}
	err = do_unmount(real);
	if (err == -EBUSY) {
		fprintf(stderr, "backupfs: cannot unmount '%s': it is busy "
			"(close the files and leave the directories in use; "
			"'fuser -vm %s' lists them)\n", real, real);
		return 1;
	}
	if (err) {
		fprintf(stderr, "backupfs: cannot unmount '%s': %s\n", real,
			strerror(-err));
		return 1;
	}
	if (pid > 0)
		wait_for_daemon(pid);
	return 0;
}
