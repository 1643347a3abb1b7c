/*
 * cmd-ctl.c - "backupfs sync [--timeout SECS] MOUNTPOINT" and
 * "backupfs status [--json] MOUNTPOINT": questions to the daemon serving a
 * mount, asked through its control socket (ctl.h).
 *
 * The mount is checked first, so that a typo or an unmounted directory is
 * named as such rather than as a daemon that cannot be reached.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "banned.h"
#include "cmd.h"
#include "ctl.h"
#include "mountinfo.h"
#include "util.h"

static const char sync_usage[] =
	"usage: backupfs sync [--timeout SECS] MOUNTPOINT\n"
	"\n"
	"Asks the daemon serving MOUNTPOINT to put every change made so far\n"
	"into the repository, and waits until it has.\n"
	"\n"
	"  -t, --timeout SECS  give up waiting after SECS seconds (default 0:\n"
	"                      wait as long as it takes)\n"
	"  -h, --help          show this help\n";

static const char status_usage[] =
	"usage: backupfs status [--json] MOUNTPOINT\n"
	"\n"
	"Shows the state of the daemon serving MOUNTPOINT.\n"
	"\n"
	"  -j, --json   print it as a JSON object\n"
	"  -h, --help   show this help\n";

/*
 * Finds the daemon of the mount at arg and sends it request: 0 with *reply
 * and *status when it answered; otherwise prints one line and returns -1.
 * real receives the resolved mountpoint (PATH_MAX bytes).
 */
static int ask_daemon(const char *verb, const char *arg, const char *request,
		      int timeout_ms, const char *timeout_arg, char *real,
		      char **reply, int *status)
{
	char type[64], sock[PATH_MAX], err[PATH_MAX + 256];
	struct stat st;
	int ret;

	if (stat(arg, &st) < 0 && errno == ENOTCONN) {
		fprintf(stderr, "backupfs: '%s' is a stale mount: its daemon has "
			"died (run 'backupfs umount %s')\n", arg, arg);
		return -1;
	}
	if (!realpath(arg, real)) {
		if (errno == ENOENT)
			fprintf(stderr, "backupfs: '%s' does not exist\n", arg);
		else
			fprintf(stderr, "backupfs: cannot resolve '%s': %s\n",
				arg, strerror(errno));
		return -1;
	}
	if (mountinfo_find(real, type, sizeof(type), NULL, 0) != 1 ||
	    strcmp(type, BACKUPFS_FSTYPE) != 0) {
		fprintf(stderr, "backupfs: '%s' is not a backupfs mount\n", real);
		return -1;
	}
	ret = ctl_sockpath(real, sock, sizeof(sock));
	if (ret) {
		fprintf(stderr, "backupfs: cannot find the control socket of "
			"'%s': %s\n", real, strerror(-ret));
		return -1;
	}
	ret = ctl_call(sock, request, timeout_ms, reply, status, err,
		       sizeof(err));
	switch (ret) {
	case 0:
		return 0;
	case -ENOENT:
	case -ECONNREFUSED:
		/* The mount is there, so its daemon is: just not ours. */
		fprintf(stderr, "backupfs: cannot reach the daemon of '%s' (%s): "
			"it is not running, or was started by an older backupfs "
			"(unmount and mount again) or by another user (run this "
			"as that user)\n", real, err);
		break;
	case -EACCES:
		fprintf(stderr, "backupfs: %s: run this as the user who mounted "
			"'%s', or as root\n", err, real);
		break;
	case -ETIMEDOUT:
		fprintf(stderr, "backupfs: %s of '%s' gave up after %s seconds "
			"without an answer (the daemon may still finish it)\n",
			verb, real, timeout_arg);
		break;
	default:
		fprintf(stderr, "backupfs: %s of '%s' failed: %s\n", verb, real,
			err);
		break;
	}
	return -1;
}

/* The daemon's error: the first line of its text, or the errno's. */
static void print_failure(const char *verb, const char *real,
			  const char *reply, int status)
{
	int n = reply ? (int)strcspn(reply, "\n") : 0;

	if (n)
		fprintf(stderr, "backupfs: %s of '%s' failed: %.*s\n", verb,
			real, n, reply);
	else
		fprintf(stderr, "backupfs: %s of '%s' failed: %s\n", verb,
			real, strerror(-status));
}

int cmd_sync(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *timeout_arg = "0";
	char real[PATH_MAX], *reply = NULL;
	int c, timeout_ms = 0, status;
	double secs;

	optind = 1;
	while ((c = getopt_long(argc, argv, "ht:", longopts, NULL)) != -1) {
		switch (c) {
		case 't':
			if (parse_seconds(optarg, &secs)) {
				fprintf(stderr, "backupfs: --timeout wants a "
					"number of seconds, not '%s'\n", optarg);
				return 2;
			}
			timeout_arg = optarg;
			/* Rounded up: "0.0001" must not mean "no limit". */
			secs = ceil(secs * 1000);
			timeout_ms = secs > INT_MAX ? INT_MAX : (int)secs;
			break;
		case 'h':
			fputs(sync_usage, stdout);
			return 0;
		default:
			fputs(sync_usage, stderr);
			return 2;
		}
	}
	if (argc - optind != 1) {
		fputs(sync_usage, stderr);
		return 2;
	}
	if (ask_daemon("sync", argv[optind], "sync", timeout_ms, timeout_arg,
		       real, &reply, &status))
		return 1;
	if (status) {
		print_failure("sync", real, reply, status);
		free(reply);
		return 1;
	}
	free(reply);
	return 0;
}

int cmd_status(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char real[PATH_MAX], *reply = NULL;
	int c, json = 0, status, ret = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "hj", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = 1;
			break;
		case 'h':
			fputs(status_usage, stdout);
			return 0;
		default:
			fputs(status_usage, stderr);
			return 2;
		}
	}
	if (argc - optind != 1) {
		fputs(status_usage, stderr);
		return 2;
	}
	if (ask_daemon("status", argv[optind], json ? "status json" : "status",
		       0, NULL, real, &reply, &status))
		return 1;
	if (status) {
		print_failure("status", real, reply, status);
		ret = 1;
	} else if (fputs(reply, stdout) == EOF || fflush(stdout) == EOF) {
		/* A full disk behind a redirect must not look like success. */
		fprintf(stderr, "backupfs: cannot write the status of '%s': "
			"%s\n", real, strerror(errno));
		ret = 1;
	}
	free(reply);
	return ret;
}

static const char snapshot_usage[] =
	"usage: backupfs snapshot [--name NAME] [--pin] MOUNTPOINT\n"
	"\n"
	"Takes a crash-consistent snapshot of the whole tree now: every file\n"
	"exactly as it is at one instant, files being written included.  Prints\n"
	"the snapshot's name (and nothing else); it appears in every\n"
	"directory's .snapshots/.\n"
	"\n"
	"  -n, --name NAME   name it (letters, digits, '.', '_', '-'); default:\n"
	"                    the UTC time, YYYY-MM-DDTHHMMSSZ\n"
	"  -p, --pin         keep it whatever a retention policy says\n"
	"  -h, --help        show this help\n";

int cmd_snapshot(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "pin", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char real[PATH_MAX], req[CTL_REQUEST_MAX], *reply = NULL;
	const char *name = NULL;
	int pin = 0, c, status = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "n:ph", longopts, NULL)) != -1) {
		switch (c) {
		case 'n': name = optarg; break;
		case 'p': pin = 1; break;
		case 'h': fputs(snapshot_usage, stdout); return 0;
		default: fputs(snapshot_usage, stderr); return 2;
		}
	}
	if (argc - optind != 1) {
		fputs(snapshot_usage, stderr);
		return 2;
	}
	if (name && (!*name || strchr(name, ' ') || strchr(name, '\n') ||
		     strlen(name) > 200)) {
		fprintf(stderr, "backupfs: snapshot name '%s' is not valid: use "
			"letters, digits, '.', '_' and '-'\n", name);
		return 2;
	}
	snprintf(req, sizeof(req), "snapshot %d %s", pin, name ? name : "-");
	if (ask_daemon("snapshot", argv[optind], req, 0, "0", real, &reply,
		       &status) < 0)
		return 1;
	if (status) {
		print_failure("snapshot", real, reply, status);
		free(reply);
		return status == -EINVAL ? 2 : 1;
	}
	fputs(reply, stdout);
	free(reply);
	return fflush(stdout) == 0 ? 0 : 1;
}
