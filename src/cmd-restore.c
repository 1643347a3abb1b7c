#include "config.h"
#include <stdio.h>
#include "cmd.h"
int cmd_restore(int argc, char **argv) { (void)argc; (void)argv; fputs("backupfs: restore: not built yet\n", stderr); return 2; }
