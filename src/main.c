/*
 * main.c - the backupfs command: dispatches to a verb (cmd-*.c).
 *
 * Invoked as mount.backupfs, or as "backupfs SOURCE MOUNTPOINT -o ..."
 * by mount.fuse3 for an fstab line of type fuse.backupfs, it mounts.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "banned.h"
#include "cmd.h"

static const char usage[] =
	"usage: backupfs VERB [OPTIONS] [ARGS]\n"
	"\n"
	"Verbs:\n"
	"  init [--repo URL] [--state DIR] [--password-file FILE] SOURCE\n"
	"                      create the state and repository, import SOURCE\n"
	"                      as the first full backup (once, before mount)\n"
	"  mount [-f] [-o OPTIONS] SOURCE [MOUNTPOINT]\n"
	"                      mount the overlay over SOURCE (or at MOUNTPOINT)\n"
	"                      and version every change made through it\n"
	"  umount MOUNTPOINT   sync, unmount and wait for the daemon to finish\n"
	"  sync [--timeout SECS] MOUNTPOINT\n"
	"                      save every change and wait until it is in the\n"
	"                      repository\n"
	"  status [--json] MOUNTPOINT\n"
	"                      versions, unsaved files, upload queue, errors\n"
	"  log [--json] [--state DIR] PATH\n"
	"                      list the saved versions of PATH\n"
	"  cat [--at TIME] [--state DIR] [--password-file FILE] PATH\n"
	"                      print PATH as it was at TIME (default: latest)\n"
	"  snapshot [--name NAME] [--pin] MOUNTPOINT\n"
	"                      a crash-consistent snapshot now; prints its name\n"
	"  snapshots [--json] [--state DIR] PATH\n"
	"                      list the snapshots (browse them in .snapshots/)\n"
	"  restore [--at TIME|--snapshot NAME] PATH DEST\n"
	"                      restore a file or tree as it was, to DEST\n"
	"  key list|add|remove|passwd [OPTIONS] SOURCE [SLOT-ID]\n"
	"                      manage the repository's passwords (key slots)\n"
	"\n"
	"  backupfs VERB --help   shows a verb's options; man backupfs has more.\n"
	"  --version              prints the version.\n";

int main(int argc, char **argv)
{
	const char *prog = strrchr(argv[0], '/');
	struct stat st;

	prog = prog ? prog + 1 : argv[0];
	if (strcmp(prog, "mount.backupfs") == 0)
		return cmd_mount(argc, argv);
	if (argc < 2) {
		fputs(usage, stderr);
		return 2;
	}
	if (!strcmp(argv[1], "init"))
		return cmd_init(argc - 1, argv + 1);
	if (!strcmp(argv[1], "mount"))
		return cmd_mount(argc - 1, argv + 1);
	if (!strcmp(argv[1], "umount") || !strcmp(argv[1], "unmount"))
		return cmd_umount(argc - 1, argv + 1);
	if (!strcmp(argv[1], "key"))
		return cmd_key(argc - 1, argv + 1);
	if (!strcmp(argv[1], "log"))
		return cmd_log(argc - 1, argv + 1);
	if (!strcmp(argv[1], "cat"))
		return cmd_cat(argc - 1, argv + 1);
	if (!strcmp(argv[1], "sync"))
		return cmd_sync(argc - 1, argv + 1);
	if (!strcmp(argv[1], "status"))
		return cmd_status(argc - 1, argv + 1);
	if (!strcmp(argv[1], "restore"))
		return cmd_restore(argc - 1, argv + 1);
	if (!strcmp(argv[1], "snapshot"))
		return cmd_snapshot(argc - 1, argv + 1);
	if (!strcmp(argv[1], "snapshots"))
		return cmd_snapshots(argc - 1, argv + 1);
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "help")) {
		fputs(usage, stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("backupfs %s\n", PACKAGE_VERSION);
		return 0;
	}
	/* mount.fuse3 runs "backupfs SOURCE MOUNTPOINT -o OPTIONS". */
	if (argv[1][0] == '/' && stat(argv[1], &st) == 0 && S_ISDIR(st.st_mode))
		return cmd_mount(argc, argv);
	fprintf(stderr, "backupfs: unknown verb '%s' (see 'backupfs --help')\n",
		argv[1]);
	return 2;
}
