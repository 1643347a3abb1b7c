#include "config.h"
#include <stdio.h>
#include "cmd.h"
int cmd_snapshot(int argc, char **argv) { (void)argc; (void)argv; fputs("backupfs: snapshot: not built yet\n", stderr); return 2; }
int cmd_snapshots(int argc, char **argv) { (void)argc; (void)argv; fputs("backupfs: snapshots: not built yet\n", stderr); return 2; }
