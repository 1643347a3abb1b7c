/* test-meta.c - the metadata database: the namespace through time. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "meta.h"
#include "tap.h"

#define S(x) x, strlen(x)

struct names {
	char buf[64][32];
	int n;
	int total;
};

static int collect(void *arg, const void *name, size_t len, uint64_t inode,
		   uint32_t kind)
{
	struct names *nm = arg;

	(void)inode;
	(void)kind;
	if (nm->n < 64 && len < 32) {
		memcpy(nm->buf[nm->n], name, len);
		nm->buf[nm->n++][len] = '\0';
	}
	nm->total++;
	return 0;
}

static int listing_is(struct meta *m, uint64_t dir, uint64_t T,
		      const char *want)
{
	struct names nm = { .n = 0 };
	char got[512] = "";
	size_t off = 0;

	if (meta_readdir(m, dir, T, collect, &nm))
		return 0;
	for (int i = 0; i < nm.n; i++)
		off += (size_t)snprintf(got + off, sizeof(got) - off, "%s%s",
					i ? " " : "", nm.buf[i]);
	if (strcmp(got, want))
		printf("# readdir got '%s', want '%s'\n", got, want);
	return !strcmp(got, want);
}

/* Rows in a table, from a connection of our own (committed state). */
static long count_rows(const char *db, const char *table)
{
	char sql[512];
	sqlite3 *h;
	sqlite3_stmt *s;
	long n = -1;

	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		return -1;
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	if (sqlite3_prepare_v2(h, sql, -1, &s, NULL) == SQLITE_OK) {
		if (sqlite3_step(s) == SQLITE_ROW)
			n = sqlite3_column_int64(s, 0);
		sqlite3_finalize(s);
	}
	sqlite3_close(h);
	return n;
}

static int exec_raw(const char *db, const char *sql)
{
	sqlite3 *h;
	int rc;

	if (sqlite3_open(db, &h) != SQLITE_OK)
		return -1;
	rc = sqlite3_exec(h, sql, NULL, NULL, NULL);
	sqlite3_close(h);
	return rc;
}

static int path_is(struct meta *m, uint64_t ino, uint64_t T, const char *want)
{
	char buf[256];
	int err = meta_path_at(m, ino, T, buf, sizeof(buf));

	if (err) {
		printf("# meta_path_at: %s\n", strerror(-err));
		return 0;
	}
	if (strcmp(buf, want))
		printf("# path got '%s', want '%s'\n", buf, want);
	return !strcmp(buf, want);
}

/* Resolves an absolute path at T by walking dentries. */
static int resolve(struct meta *m, const char *path, uint64_t T, uint64_t *out)
{
	uint64_t cur = META_ROOT_INODE;
	const char *p = path;

	while (*p) {
		const char *e;
		int err;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		e = strchrnul(p, '/');
		err = meta_lookup(m, cur, p, (size_t)(e - p), T, &cur);
		if (err)
			return err;
		p = e;
	}
	*out = cur;
	return 0;
}

struct vlist {
	uint64_t t[8];
	size_t mlen[8];
	int n;
};

static int collect_versions(void *arg, const struct meta_version *v)
{
	struct vlist *l = arg;

	if (l->n < 8) {
		l->t[l->n] = v->t;
		l->mlen[l->n++] = v->manifest_len;
	}
	return 0;
}

static int count_dirty(void *arg, uint64_t inode, uint64_t since)
{
	(void)inode;
	(void)since;
	++*(int *)arg;
	return 0;
}

static double secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(void)
{
	char dir[] = "/tmp/backupfs-meta-XXXXXX", db[256], cmd[300];
	char err[512];
	struct meta *m;
	uint64_t a, b, c, z, x, y, t0, t1, t2, t3, last, got, prev;
	int rc, mono;
	struct vlist vl = { .n = 0 };
	struct meta_version v, out;
	uint8_t man1[44] = { 1 }, man2[88] = { 2 };

	if (!mkdtemp(dir))
		return 99;
	snprintf(db, sizeof(db), "%s/meta.db", dir);

	/* --- open, schema ------------------------------------------------ */
	rc = meta_open(db, 0, &m, err, sizeof(err));
	ok(rc == -ENOENT && strstr(err, "backupfs init"),
	   "open without create of a missing file: %s", err);
	rc = meta_open(db, 1, &m, err, sizeof(err));
	if (!ok(rc == 0, "create %s", rc ? err : db))
		return tap_done();
	ok(count_rows(db, "sqlite_schema WHERE type = 'table'") == 9,
	   "nine tables (eight of §3 and clock)");
	ok(count_rows(db, "sqlite_schema WHERE type = 'index' AND name NOT"
		      " LIKE 'sqlite_%'") == 7, "seven named indexes");
	ok(count_rows(db, "inode WHERE id = 1 AND kind = 16384 AND born = 0")
	   == 1, "root inode 1 is a directory born at 0");

	/* --- time -------------------------------------------------------- */
	prev = meta_now(m);
	mono = 1;
	for (int i = 0; i < 1000; i++) {
		uint64_t t = meta_now(m);

		mono &= t > prev;
		prev = t;
	}
	ok(mono, "1000 quick timestamps strictly increase");
	/* Push the clock ahead of the wall clock: a restart must stay above. */
	rc = meta_inode_new(m, S_IFREG, 9, 9, prev + 3600000000000ull, &x);
	ok(rc == 0, "inode_new with a time in the future");
	last = meta_now(m);
	ok(last > prev + 3600000000000ull, "the clock follows a stored time");
	meta_close(m);
	rc = meta_open(db, 0, &m, err, sizeof(err));
	if (!ok(rc == 0, "reopen %s", rc ? err : ""))
		return tap_done();
	ok(meta_now(m) > last, "after reopen, time stays above the last issued");

	/* --- a tree /a/b/c.txt ------------------------------------------ */
	t0 = meta_now(m);
	rc = meta_begin(m);
	rc = rc ? rc : meta_inode_new(m, S_IFDIR, 1, 100, t0, &a);
	rc = rc ? rc : meta_link(m, META_ROOT_INODE, S("a"), a, t0);
	rc = rc ? rc : meta_inode_new(m, S_IFDIR, 1, 101, t0, &b);
	rc = rc ? rc : meta_link(m, a, S("b"), b, t0);
	rc = rc ? rc : meta_inode_new(m, S_IFREG, 1, 102, t0, &c);
	rc = rc ? rc : meta_link(m, b, S("c.txt"), c, t0);
	rc = rc ? rc : meta_commit(m);
	ok(rc == 0, "create /a/b/c.txt in one transaction");
	ok(meta_inode_find_live(m, 1, 102, &got) == 0 && got == c,
	   "inode_find_live by (dev, ino)");
	ok(meta_inode_find_live(m, 1, 999, &got) == -ENOENT,
	   "inode_find_live of an unknown (dev, ino): -ENOENT");
	ok(meta_inode_new(m, S_IFREG, 1, 102, meta_now(m), &got) == -EEXIST,
	   "a second live inode with the same (dev, ino): -EEXIST");
	ok(meta_link(m, a, S("b"), c, meta_now(m)) == -EEXIST,
	   "link over a live name: -EEXIST");
	ok(meta_link(m, a, S("x/y"), c, meta_now(m)) == -EINVAL,
	   "link of a name with '/': -EINVAL");
	ok(meta_link(m, 424242, S("q"), c, meta_now(m)) == -ENOENT,
	   "link under a missing parent: -ENOENT (foreign key)");
	ok(meta_lookup(m, META_ROOT_INODE, S("a"), t0 - 1, &got) == -ENOENT,
	   "lookup before creation: -ENOENT");
	ok(meta_lookup(m, META_ROOT_INODE, S("a"), t0, &got) == 0 && got == a,
	   "lookup at the creation instant");
	ok(resolve(m, "/a/b/c.txt", META_T_LIVE, &got) == 0 && got == c,
	   "/a/b/c.txt resolves live");

	/* --- directory rename a -> z ------------------------------------ */
	long rows = count_rows(db, "dentry");
	long open_rows = count_rows(db, "dentry WHERE t_to = 9223372036854775807");
	t1 = meta_now(m);
	ok(meta_rename(m, META_ROOT_INODE, S("a"), META_ROOT_INODE, S("z"),
		       t1, 0) == 0, "rename /a -> /z");
	ok(count_rows(db, "dentry") == rows + 1 &&
	   count_rows(db, "dentry WHERE t_to = 9223372036854775807") == open_rows,
	   "the rename added one row and closed one (subtree untouched)");
	ok(count_rows(db, "dentry WHERE t_to = 9223372036854775807 AND"
		      " t_from < (SELECT max(t_from) FROM dentry)") == open_rows - 1,
	   "every other open row is as it was");
	ok(meta_lookup(m, META_ROOT_INODE, S("a"), t1 - 1, &got) == 0 &&
	   got == a, "'a' found at T < t1");
	ok(meta_lookup(m, META_ROOT_INODE, S("a"), t1, &got) == -ENOENT,
	   "'a' gone at T = t1");
	ok(meta_lookup(m, META_ROOT_INODE, S("a"), META_T_LIVE, &got) == -ENOENT,
	   "'a' gone now");
	ok(resolve(m, "/z/b/c.txt", t1, &got) == 0 && got == c,
	   "/z/b/c.txt resolves at t1");
	ok(resolve(m, "/z/b/c.txt", t1 - 1, &got) == -ENOENT,
	   "/z/b/c.txt does not resolve before t1");
	ok(resolve(m, "/a/b/c.txt", t1 - 1, &got) == 0 && got == c,
	   "/a/b/c.txt still resolves before t1");
	ok(path_is(m, c, t1 - 1, "/a/b/c.txt"), "path_at before: /a/b/c.txt");
	ok(path_is(m, c, t1, "/z/b/c.txt"), "path_at after: /z/b/c.txt");
	ok(path_is(m, META_ROOT_INODE, t1, "/"), "path_at of the root: /");
	ok(meta_path_at(m, c, t0 - 1, err, sizeof(err)) == -ENOENT,
	   "path_at before the file existed: -ENOENT");
	ok(meta_path_at(m, c, t1, err, 6) == -ENAMETOOLONG,
	   "path_at into a short buffer: -ENAMETOOLONG");
	z = a;

	/* --- unlink and re-create --------------------------------------- */
	t2 = meta_now(m);
	ok(meta_unlink(m, b, S("c.txt"), t2) == 0, "unlink /z/b/c.txt");
	ok(meta_unlink(m, b, S("c.txt"), meta_now(m)) == -ENOENT,
	   "unlink again: -ENOENT");
	ok(meta_inode_die(m, c, t2) == 0, "the inode dies");
	ok(meta_inode_die(m, c, meta_now(m)) == -ENOENT, "dies once");
	ok(meta_inode_find_live(m, 1, 102, &got) == -ENOENT,
	   "a died inode is not live");
	t3 = meta_now(m);
	rc = meta_inode_new(m, S_IFREG, 1, 102, t3, &x);	/* ino reused */
	rc = rc ? rc : meta_link(m, b, S("c.txt"), x, t3);
	ok(rc == 0 && x != c, "re-create c.txt: a new inode (ino reused)");
	ok(count_rows(db, "dentry WHERE name = CAST('c.txt' AS BLOB)") == 2,
	   "two dentry rows for c.txt");
	ok(count_rows(db, "dentry d1 JOIN dentry d2 ON d1.rowid < d2.rowid"
		      " AND d1.name = d2.name AND d1.parent = d2.parent"
		      " WHERE d1.name = CAST('c.txt' AS BLOB)"
		      " AND d1.t_from < d2.t_to AND d2.t_from < d1.t_to") == 0,
	   "their intervals are disjoint");
	ok(meta_lookup(m, b, S("c.txt"), t2 - 1, &got) == 0 && got == c,
	   "before the unlink: the old inode");
	ok(meta_lookup(m, b, S("c.txt"), t2, &got) == -ENOENT,
	   "between unlink and re-create: nothing");
	ok(meta_lookup(m, b, S("c.txt"), t3, &got) == 0 && got == x,
	   "after: the new inode");
	ok(meta_path_at(m, c, t2, err, sizeof(err)) == -ENOENT &&
	   path_is(m, c, t2 - 1, "/z/b/c.txt"), "the old inode's path ends at t2");

	/* --- exchange, noreplace, hard links ---------------------------- */
	uint64_t te, tn;
	rc = meta_inode_new(m, S_IFREG, 1, 200, meta_now(m), &y);
	rc = rc ? rc : meta_link(m, z, S("d"), y, meta_now(m));
	ok(rc == 0, "create /z/d");
	te = meta_now(m);
	rows = count_rows(db, "dentry");
	ok(meta_rename(m, b, S("c.txt"), z, S("d"), te,
		       META_RENAME_EXCHANGE) == 0, "RENAME_EXCHANGE c.txt <-> d");
	ok(count_rows(db, "dentry") == rows + 2, "exchange: two rows opened");
	ok(meta_lookup(m, b, S("c.txt"), te, &got) == 0 && got == y &&
	   meta_lookup(m, z, S("d"), te, &got) == 0 && got == x,
	   "exchanged at te");
	ok(meta_lookup(m, b, S("c.txt"), te - 1, &got) == 0 && got == x &&
	   meta_lookup(m, z, S("d"), te - 1, &got) == 0 && got == y,
	   "as before at te - 1");
	ok(meta_rename(m, b, S("c.txt"), z, S("nope"), meta_now(m),
		       META_RENAME_EXCHANGE) == -ENOENT,
	   "exchange with a missing target: -ENOENT");
	ok(meta_rename(m, b, S("c.txt"), z, S("d"), meta_now(m),
		       META_RENAME_NOREPLACE) == -EEXIST,
	   "RENAME_NOREPLACE onto a live name: -EEXIST");
	ok(meta_lookup(m, b, S("c.txt"), META_T_LIVE, &got) == 0 && got == y,
	   "a failed rename changed nothing");
	ok(meta_rename(m, b, S("nope"), z, S("e"), meta_now(m), 0) == -ENOENT,
	   "rename of a missing name: -ENOENT");
	tn = meta_now(m);
	ok(meta_rename(m, z, S("d"), META_ROOT_INODE, S("top"), tn,
		       META_RENAME_NOREPLACE) == 0, "RENAME_NOREPLACE to a free name");
	/* plain rename over a live target */
	rows = count_rows(db, "dentry WHERE t_to = 9223372036854775807");
	ok(meta_rename(m, META_ROOT_INODE, S("top"), b, S("c.txt"), meta_now(m),
		       0) == 0, "plain rename over a live target");
	ok(count_rows(db, "dentry WHERE t_to = 9223372036854775807") == rows - 1,
	   "the replaced target's dentry is closed");
	ok(meta_lookup(m, b, S("c.txt"), META_T_LIVE, &got) == 0 && got == x,
	   "the target name now means the source inode");
	/* hard link */
	ok(meta_link(m, META_ROOT_INODE, S("hard"), x, meta_now(m)) == 0,
	   "hard link /hard -> c.txt's inode");
	uint64_t h1, h2;
	ok(meta_lookup(m, META_ROOT_INODE, S("hard"), META_T_LIVE, &h1) == 0 &&
	   meta_lookup(m, b, S("c.txt"), META_T_LIVE, &h2) == 0 && h1 == h2 &&
	   h1 == x, "two names, one inode");
	rows = count_rows(db, "dentry");
	ok(meta_rename(m, META_ROOT_INODE, S("hard"), b, S("c.txt"), meta_now(m),
		       0) == 0 && count_rows(db, "dentry") == rows,
	   "rename onto another link of the same inode does nothing");
	ok(path_is(m, x, META_T_LIVE, "/z/b/c.txt"),
	   "path_at with two links: the oldest name");

	/* --- versions ---------------------------------------------------- */
	memset(&v, 0, sizeof(v));
	uint64_t tv1 = meta_now(m), tv2, tv3;
	v = (struct meta_version){ .inode = x, .t = tv1, .size = 10,
		.mode = S_IFREG | 0644, .uid = 1, .gid = 2, .mtime_ns = 5,
		.reason = META_REASON_CLOSE, .exact = 1, .manifest = man1,
		.manifest_len = sizeof(man1), .xattrs = "k\0v", .xattrs_len = 3 };
	ok(meta_version_add(m, &v) == 0, "version 1 (close)");
	tv2 = meta_now(m);
	v.t = tv2;
	v.mode = S_IFREG | 0600;
	v.reason = META_REASON_META;
	v.manifest = NULL;		/* chmod: content unchanged */
	v.manifest_len = 0;
	ok(meta_version_add(m, &v) == 0, "version 2 (chmod, shared manifest)");
	tv3 = meta_now(m);
	v.t = tv3;
	v.size = 20;
	v.reason = META_REASON_FSYNC;
	v.manifest = man2;
	v.manifest_len = sizeof(man2);
	ok(meta_version_add(m, &v) == 0, "version 3 (fsync)");
	ok(meta_version_add(m, &v) == -EEXIST, "a second version at the same t");
	ok(meta_version_at(m, x, tv1 - 1, &out) == -ENOENT,
	   "version_at before the first: -ENOENT");
	ok(meta_version_at(m, x, tv1, &out) == 0 && out.t == tv1 &&
	   out.size == 10 && out.manifest_len == sizeof(man1) &&
	   !memcmp(out.manifest, man1, sizeof(man1)) && out.xattrs_len == 3 &&
	   !memcmp(out.xattrs, "k\0v", 3) && out.exact && !out.symlink,
	   "version_at tv1: version 1");
	ok(meta_version_at(m, x, tv3 - 1, &out) == 0 && out.t == tv2 &&
	   out.mode == (S_IFREG | 0600) && out.manifest_len == sizeof(man1) &&
	   !memcmp(out.manifest, man1, sizeof(man1)),
	   "version_at between 2 and 3: version 2, manifest of version 1");
	ok(meta_version_at(m, x, META_T_LIVE, &out) == 0 && out.t == tv3 &&
	   out.size == 20 && out.manifest_len == sizeof(man2),
	   "version_at now: version 3");
	ok(meta_versions(m, x, collect_versions, &vl) == 0 && vl.n == 3 &&
	   vl.t[0] == tv1 && vl.t[1] == tv2 && vl.t[2] == tv3 &&
	   vl.mlen[1] == sizeof(man1), "versions: all three in order of t");
	v = (struct meta_version){ .inode = y, .t = meta_now(m),
		.mode = S_IFLNK | 0777, .reason = META_REASON_SCAN,
		.symlink = "../target" };
	ok(meta_version_add(m, &v) == 0 &&
	   meta_version_at(m, y, META_T_LIVE, &out) == 0 && out.symlink &&
	   !strcmp(out.symlink, "../target") && !out.manifest,
	   "a symlink version keeps its target");
	v = (struct meta_version){ .inode = 777777, .t = meta_now(m),
		.mode = S_IFREG };
	ok(meta_version_add(m, &v) == -ENOENT,
	   "a version of a missing inode: -ENOENT");

	/* --- readdir at T ------------------------------------------------ */
	ok(listing_is(m, META_ROOT_INODE, t0, "a"), "readdir / at t0: a");
	ok(listing_is(m, META_ROOT_INODE, t1, "z"), "readdir / at t1: z");
	ok(listing_is(m, META_ROOT_INODE, tn, "top z"),
	   "readdir / at tn: top z");
	ok(listing_is(m, META_ROOT_INODE, META_T_LIVE, "hard z"),
	   "readdir / now: hard z");
	ok(listing_is(m, b, t2, ""), "readdir /z/b between unlink and create");
	ok(listing_is(m, b, t3, "c.txt"), "readdir /z/b after re-create");

	/* --- rollback ---------------------------------------------------- */
	rc = meta_begin(m);
	rc = rc ? rc : meta_link(m, META_ROOT_INODE, S("ghost"), x, meta_now(m));
	ok(rc == 0 && meta_lookup(m, META_ROOT_INODE, S("ghost"), META_T_LIVE,
				  &got) == 0, "inside a transaction the name exists");
	ok(meta_begin(m) == -EINVAL, "transactions do not nest");
	ok(meta_rollback(m) == 0 && meta_lookup(m, META_ROOT_INODE, S("ghost"),
						META_T_LIVE, &got) == -ENOENT,
	   "rollback discards it");
	/* a failed op inside a transaction leaves the rest of it intact */
	rc = meta_begin(m);
	rc = rc ? rc : meta_link(m, META_ROOT_INODE, S("kept"), x, meta_now(m));
	ok(rc == 0 && meta_rename(m, META_ROOT_INODE, S("kept"), z, S("b"),
				  meta_now(m), META_RENAME_NOREPLACE) == -EEXIST &&
	   meta_commit(m) == 0 &&
	   meta_lookup(m, META_ROOT_INODE, S("kept"), META_T_LIVE, &got) == 0,
	   "a failed op in a transaction keeps the transaction's other work");

	/* --- chunks, packs, uploads, dirty ------------------------------ */
	uint8_t cid[32], pname[32];
	uint64_t pack, p2, off, next;
	uint32_t len;
	int nd = 0;

	memset(cid, 7, sizeof(cid));
	memset(pname, 9, sizeof(pname));
	ok(meta_chunk_find(m, cid, &pack, &off, &len) == -ENOENT,
	   "unknown chunk: -ENOENT");
	rc = meta_begin(m);
	rc = rc ? rc : meta_pack_add(m, pname, 1 << 24, "STANDARD", &pack);
	rc = rc ? rc : meta_chunk_add(m, cid, pack, 4096, 1000, 2000);
	rc = rc ? rc : meta_upload_enqueue(m, pack, 1);
	rc = rc ? rc : meta_commit(m);
	ok(rc == 0, "seal: pack, chunk and upload row in one transaction");
	ok(meta_chunk_find(m, cid, &got, &off, &len) == 0 && got == pack &&
	   off == 4096 && len == 1000, "chunk found");
	ok(meta_chunk_add(m, cid, pack, 0, 1, 1) == -EEXIST, "chunk twice: -EEXIST");
	ok(meta_pack_add(m, pname, 1, NULL, &p2) == -EEXIST,
	   "pack name twice: -EEXIST");
	pname[0] = 1;
	ok(meta_pack_add(m, pname, 1, NULL, &p2) == 0 &&
	   meta_upload_enqueue(m, p2, 1) == 0, "a second pack queued");
	ok(meta_upload_next(m, 0, &next) == 0 && next == pack,
	   "upload_next: the oldest first");
	ok(meta_upload_retry(m, pack, 1000) == 0 &&
	   meta_upload_next(m, 999, &next) == 0 && next == p2,
	   "a pack backing off is skipped");
	ok(meta_upload_next(m, 1000, &next) == 0 && next == pack,
	   "and taken when due");
	ok(meta_upload_done(m, pack) == 0 && meta_upload_done(m, p2) == 0 &&
	   meta_upload_next(m, META_T_LIVE, &next) == -ENOENT,
	   "all done: upload_next -ENOENT");
	ok(count_rows(db, "pack WHERE state = 2") == 2, "packs marked uploaded");
	ok(meta_dirty_set(m, x, 5) == 0 && meta_dirty_set(m, x, 9) == 0 &&
	   meta_dirty_set(m, y, 6) == 0, "dirty_set");
	ok(count_rows(db, "dirty WHERE since = 5") == 1 &&
	   count_rows(db, "dirty WHERE since = 9") == 0,
	   "dirty_set keeps the first since");
	ok(meta_dirty_each(m, count_dirty, &nd) == 0 && nd == 2, "dirty_each: 2");
	nd = 0;
	ok(meta_dirty_clear(m, x) == 0 && meta_dirty_clear(m, x) == 0 &&
	   meta_dirty_each(m, count_dirty, &nd) == 0 && nd == 1,
	   "dirty_clear (twice is fine)");

	/* --- 10,000 names in one directory ------------------------------ */
	uint64_t big, tb, ino, tmid = 0;
	struct names nm = { .n = 0 };
	char name[32];
	double s0, s1;
	int found = 1;

	rc = meta_inode_new(m, S_IFDIR, 2, 1, meta_now(m), &big);
	rc = rc ? rc : meta_link(m, META_ROOT_INODE, S("big"), big, meta_now(m));
	s0 = secs();
	rc = rc ? rc : meta_begin(m);
	for (int i = 0; i < 10000 && !rc; i++) {
		snprintf(name, sizeof(name), "f%05d", i);
		tb = meta_now(m);
		if (i == 5000)
			tmid = tb;
		rc = meta_inode_new(m, S_IFREG, 2, 100 + (uint64_t)i, tb, &ino);
		rc = rc ? rc : meta_link(m, big, S(name), ino, tb);
	}
	rc = rc ? rc : meta_commit(m);
	s1 = secs();
	ok(rc == 0, "10,000 files created");
	printf("# 10,000 inode+link in one transaction: %.1f ms\n",
	       (s1 - s0) * 1e3);
	s0 = secs();
	ok(meta_readdir(m, big, META_T_LIVE, collect, &nm) == 0 &&
	   nm.total == 10000, "readdir now: 10,000 names");
	s1 = secs();
	printf("# readdir of 10,000: %.1f ms\n", (s1 - s0) * 1e3);
	nm.total = nm.n = 0;
	ok(meta_readdir(m, big, tmid - 1, collect, &nm) == 0 &&
	   nm.total == 5000 && !strcmp(nm.buf[0], "f00000"),
	   "readdir at the middle: 5,000 names, sorted");
	s0 = secs();
	for (int i = 0; i < 10000; i++) {
		snprintf(name, sizeof(name), "f%05d", (i * 7919) % 10000);
		found &= meta_lookup(m, big, S(name), META_T_LIVE, &ino) == 0;
	}
	s1 = secs();
	ok(found, "10,000 lookups all found");
	printf("# 10,000 lookups: %.1f ms (%.2f us each)\n", (s1 - s0) * 1e3,
	       (s1 - s0) * 1e6 / 10000);

	/* --- a newer schema is refused ---------------------------------- */
	meta_close(m);
	ok(exec_raw(db, "PRAGMA user_version = 99") == SQLITE_OK,
	   "bump user_version behind its back");
	rc = meta_open(db, 0, &m, err, sizeof(err));
	ok(rc < 0 && strstr(err, "newer") && strstr(err, "99"),
	   "newer schema refused: %s", err);
	snprintf(db, sizeof(db), "%s/other.db", dir);
	exec_raw(db, "CREATE TABLE t(x)");
	rc = meta_open(db, 1, &m, err, sizeof(err));
	ok(rc < 0 && strstr(err, "not a backupfs"),
	   "a foreign SQLite file is refused: %s", err);

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	return tap_done();
}
