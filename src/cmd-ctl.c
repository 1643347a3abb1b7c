#include "config.h"
#include "cmd.h"
#include <stdio.h>
int cmd_sync(int argc, char **argv) { (void)argc; (void)argv; fputs("backupfs: sync: not built yet\n", stderr); return 2; }
int cmd_status(int argc, char **argv) { (void)argc; (void)argv; fputs("backupfs: status: not built yet\n", stderr); return 2; }
