/* test-options.c - the -o parser of "backupfs mount". */
#include "config.h"

#include <string.h>

#include "options.h"
#include "tap.h"

int main(void)
{
	struct mount_opts o;
	char err[256], buf[512];

	mount_opts_init(&o);
	ok(o.fs.attr_timeout == 1.0 && o.fs.entry_timeout == 1.0,
	   "default cache timeouts are 1 s");
	ok(o.fs.writeback == 0, "writeback cache is off by default");

	ok(mount_opts_parse(&o, "allow_other,attr_timeout=0.5,noexec,nodev",
			    err, sizeof(err)) == 0, "a valid list parses");
	ok(o.allow_other == 1, "allow_other is set");
	ok(o.fs.attr_timeout == 0.5, "attr_timeout=0.5 is read");
	ok(strcmp(o.kernel, "noexec,nodev") == 0,
	   "kernel options are collected (%s)", o.kernel);

	ok(mount_opts_parse(&o, "bogus", err, sizeof(err)) != 0 &&
	   strstr(err, "'bogus'") != NULL, "an unknown option is named: %s", err);
	ok(mount_opts_parse(&o, "attr_timeout=abc", err, sizeof(err)) != 0,
	   "a bad number is refused: %s", err);
	ok(mount_opts_parse(&o, "attr_timeout=-1", err, sizeof(err)) != 0,
	   "a negative timeout is refused");
	ok(mount_opts_parse(&o, "attr_timeout", err, sizeof(err)) != 0,
	   "a missing value is refused");
	ok(mount_opts_parse(&o, "allow_other=1", err, sizeof(err)) != 0,
	   "a value on a flag is refused: %s", err);
	ok(mount_opts_parse(&o, "defaults,noauto,nofail,_netdev,x-systemd.automount,rw",
			    err, sizeof(err)) == 0, "fstab words are accepted");
	ok(mount_opts_parse(&o, "writeback,ro,debug", err, sizeof(err)) == 0 &&
	   o.fs.writeback && o.fs.readonly && o.fs.debug, "flags are set");
	ok(mount_opts_parse(&o, "nowriteback", err, sizeof(err)) == 0 &&
	   !o.fs.writeback, "nowriteback turns it off again");
	ok(mount_opts_parse(&o, ",,", err, sizeof(err)) == 0,
	   "empty items are ignored");

	mount_opts_init(&o);
	mount_opts_parse(&o, "allow_other,nosuid", err, sizeof(err));
	ok(mount_opts_fuse_string(&o, "/srv/a,b\\c", buf, sizeof(buf)) == 0,
	   "the libfuse option string is built");
	ok(strcmp(buf, "fsname=/srv/a\\,b\\\\c,subtype=backupfs,"
		       "default_permissions,allow_other,nosuid") == 0,
	   "commas and backslashes in fsname are escaped: %s", buf);
	ok(mount_opts_fuse_string(&o, "/srv", buf, 20) != 0,
	   "a too-small buffer is an error, not an overflow");
	return tap_done();
}
