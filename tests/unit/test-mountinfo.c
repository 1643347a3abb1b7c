/* test-mountinfo.c - mount table lookups and path containment. */
#include "config.h"

#include <string.h>

#include "mountinfo.h"
#include "tap.h"

int main(void)
{
	char s[64], type[64];

	memcpy(s, "/mnt/a\\040b\\011c\\134d", 22);
	mountinfo_unescape(s);
	ok(strcmp(s, "/mnt/a b\tc\\d") == 0, "octal escapes decode: %s", s);
	memcpy(s, "/x\\0", 5);
	mountinfo_unescape(s);
	ok(strcmp(s, "/x\\0") == 0, "a truncated escape is left alone");

	ok(mountinfo_find("/proc", type, sizeof(type), NULL, 0) == 1 &&
	   strcmp(type, "proc") == 0, "/proc is a proc mount (%s)", type);
	ok(mountinfo_find("/proc/self", type, sizeof(type), NULL, 0) == 0,
	   "/proc/self is not a mount point");

	ok(path_within("/a/b", "/a"), "/a/b is within /a");
	ok(path_within("/a", "/a"), "/a is within /a");
	ok(!path_within("/ab", "/a"), "/ab is not within /a");
	ok(!path_within("/a", "/a/b"), "/a is not within /a/b");
	ok(path_within("/x", "/"), "everything is within /");
	return tap_done();
}
