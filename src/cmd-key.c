#include "config.h"
#include "cmd.h"
#include <stdio.h>
int cmd_key(int argc, char **argv) { (void)argc; (void)argv; fputs("backupfs: key: not built yet\n", stderr); return 2; }
