/* test-inode-table.c - the overlay's inode table (fs-inode.c). */
#include "config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs-inode.h"
#include "tap.h"

int main(void)
{
	struct inode_table t;
	struct fs_inode root = { .fd = -1, .dev = 1, .ino = 2, .type = S_IFDIR };
	struct fs_inode *a, *b, *many[5000];
	int used, fd, all_new = 1, all_found = 1;

	ok(inode_table_init(&t) == 0, "init");
	inode_table_pin(&t, &root);
	ok(inode_table_get(&t, -1, 1, 2, S_IFDIR, &used) == &root && !used,
	   "the pinned root is found by (dev, ino)");
	ok(inode_table_forget(&t, &root, 100) == 0, "the root is never freed");

	fd = open("/dev/null", O_RDONLY);
	a = inode_table_get(&t, fd, 1, 10, S_IFREG, &used);
	ok(a && used && a->nlookup == 1, "a new entry takes the fd");
	b = inode_table_get(&t, 99, 1, 10, S_IFREG, &used);
	ok(b == a && !used && a->nlookup == 2,
	   "a second lookup (hard link) finds the same entry");
	b = inode_table_get(&t, -1, 2, 10, S_IFREG, &used);
	ok(b != a && used, "same inode number on another device is another entry");
	inode_table_forget(&t, b, 1);
	inode_table_ref(&t, a, 3);
	ok(a->nlookup == 5, "ref adds lookups");
	ok(inode_table_forget(&t, a, 4) == 0 && a->nlookup == 1,
	   "forget below zero keeps the entry");
	ok(inode_table_forget(&t, a, 1) == 1, "forget to zero frees it");
	ok(fcntl(fd, F_GETFD) < 0, "and closes its fd");
	ok(inode_table_count(&t) == 1, "only the root remains");

	for (int i = 0; i < 5000; i++) {
		many[i] = inode_table_get(&t, -1, 3, (ino_t)i + 100, S_IFREG, &used);
		all_new &= many[i] && used;
	}
	ok(all_new, "5000 entries insert (through several resizes)");
	for (int i = 0; i < 5000; i++)
		all_found &= inode_table_get(&t, -1, 3, (ino_t)i + 100, S_IFREG,
					     &used) == many[i];
	ok(all_found, "every entry is found again after the resizes");
	for (int i = 0; i < 5000; i++)
		inode_table_forget(&t, many[i], 2);
	ok(inode_table_count(&t) == 1, "all freed again");
	inode_table_release(&t);
	return tap_done();
}
