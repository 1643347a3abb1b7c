/*
 * cmd.h - the command-line verbs.  Each takes the arguments after the verb
 * (argv[0] is the verb) and returns the process exit status.
 */
#ifndef BACKUPFS_CMD_H
#define BACKUPFS_CMD_H

#include <stddef.h>

int cmd_init(int argc, char **argv);
int cmd_mount(int argc, char **argv);
int cmd_umount(int argc, char **argv);
int cmd_key(int argc, char **argv);	/* cmd-key.c */
int cmd_log(int argc, char **argv);	/* cmd-log.c */
int cmd_cat(int argc, char **argv);	/* cmd-log.c */
int cmd_sync(int argc, char **argv);	/* cmd-ctl.c */
int cmd_status(int argc, char **argv);	/* cmd-ctl.c */
int cmd_restore(int argc, char **argv);	/* cmd-restore.c */
int cmd_snapshot(int argc, char **argv);	/* cmd-snapshot.c */
int cmd_snapshots(int argc, char **argv);	/* cmd-snapshot.c */

/* Checks a directory argument; prints one clear line and returns -1 if bad. */
int check_dir_arg(const char *role, const char *path, char *real, size_t len);

#endif
