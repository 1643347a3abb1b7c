/* test-runtime.c - runtime file names and pid files. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime.h"
#include "tap.h"

int main(void)
{
	char a[160], b[160], dir[] = "/tmp/backupfs-test-XXXXXX", file[256];

	runtime_name("/srv/data", a, sizeof(a));
	ok(strncmp(a, "srv-data-", 9) == 0 && strlen(a) == 17,
	   "readable name with a hash: %s", a);
	runtime_name("/srv-data", b, sizeof(b));
	ok(strcmp(a, b) != 0, "/srv/data and /srv-data differ (%s, %s)", a, b);
	runtime_name("/", a, sizeof(a));
	ok(strncmp(a, "root-", 5) == 0, "/ gets a name: %s", a);

	ok(mkdtemp(dir) != NULL, "temporary directory");
	snprintf(file, sizeof(file), "%s/x.pid", dir);
	ok(runtime_read_pid(file) == -1, "no file: no pid");
	ok(runtime_write_pid(file, 4242, "/srv/data") == 0, "write pid file");
	ok(runtime_read_pid(file) == 4242, "read it back");
	unlink(file);
	rmdir(dir);
	return tap_done();
}
