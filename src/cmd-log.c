#include "config.h"
#include "cmd.h"
#include <stdio.h>
int cmd_log(int argc, char **argv) { (void)argc; (void)argv; fputs("backupfs: log: not built yet\n", stderr); return 2; }
int cmd_cat(int argc, char **argv) { (void)argc; (void)argv; fputs("backupfs: cat: not built yet\n", stderr); return 2; }
