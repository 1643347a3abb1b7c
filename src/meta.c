/*
 * meta.c - the metadata database: the temporal namespace in SQLite.
 *
 * A struct meta is one connection to meta.db with its prepared statements.
 * The writer thread calls it for every batch of overlay events (thousands a
 * second under load); readers call the query half.  Every statement is
 * prepared once (SQLITE_PREPARE_PERSISTENT) and reset after each use; a
 * statement still stepping (a callback of meta_readdir that recurses into
 * meta_readdir) gets a temporary copy instead.
 *
 * Invariants (the schema enforces those it can):
 *  (1) Times are strictly increasing within a database: meta_now() returns
 *      max(CLOCK_REALTIME, last + 1), and every commit (and meta_close)
 *      stores the last time issued in the one-row table clock, which
 *      meta_open reads back.  A time issued but never committed may be
 *      issued again after a crash; nothing stored carries it.
 *  (2) A dentry row is valid in [t_from, t_to) with t_from < t_to (CHECK);
 *      t_to = META_T_MAX while live.  At most one live row per (parent,
 *      name) (unique partial index dentry_live); the closed rows of a name
 *      have disjoint intervals because a name is only opened when no row of
 *      it is live, at a time later than every earlier close.
 *  (3) Rows are closed, never rewritten or deleted, by the namespace
 *      operations: the database answers for any past T.  A rename is one
 *      row closed and one opened (an exchange two and two), so a directory
 *      rename is O(1) whatever its subtree.
 *  (4) At most one live inode per (dev, ino) (unique partial index
 *      inode_live); a died inode is never revived.
 *  (5) Each write function is atomic: outside a transaction it runs in one
 *      of its own; inside one, under a savepoint rolled back on failure.
 *  (6) Every commit is made with synchronous=FULL: once meta_commit
 *      returns 0 the transaction survives a power cut (doc/versioning.md
 *      §7 asks it for commits that name a version; SQLite cannot change
 *      the setting inside a transaction, and the writer batches events, so
 *      one fsync of the WAL per commit is cheap enough for all).
 *  (7) SQLite result codes become -errno in exactly one place, meta_errno().
 *
 * The root directory is inode META_ROOT_INODE (1), created with the schema
 * as a directory born at t = 0, so every path has something to hang from.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sqlite3.h>

#include "banned.h"
#include "meta.h"

#ifdef RENAME_NOREPLACE
_Static_assert(META_RENAME_NOREPLACE == RENAME_NOREPLACE, "rename flags");
_Static_assert(META_RENAME_EXCHANGE == RENAME_EXCHANGE, "rename flags");
#endif

/* 'BFS1' in PRAGMA application_id: this file is a backupfs meta.db. */
#define META_APP_ID 0x42465331

#define T_MAX_SQL "9223372036854775807"

static const char schema_sql[] =
	"CREATE TABLE clock(id INTEGER PRIMARY KEY CHECK (id = 0),"
	"  last INTEGER NOT NULL);"
	"CREATE TABLE inode(id INTEGER PRIMARY KEY, kind INTEGER NOT NULL,"
	"  dev INTEGER, ino INTEGER, born INTEGER NOT NULL, died INTEGER,"
	"  CHECK (died IS NULL OR died >= born));"
	"CREATE TABLE dentry(parent INTEGER NOT NULL REFERENCES inode(id),"
	"  name BLOB NOT NULL, inode INTEGER NOT NULL REFERENCES inode(id),"
	"  t_from INTEGER NOT NULL, t_to INTEGER NOT NULL,"
	"  CHECK (t_from < t_to));"
	"CREATE TABLE version(inode INTEGER NOT NULL REFERENCES inode(id),"
	"  t INTEGER NOT NULL, size INTEGER NOT NULL, mode INTEGER NOT NULL,"
	"  uid INTEGER NOT NULL, gid INTEGER NOT NULL,"
	"  mtime_ns INTEGER NOT NULL, rdev INTEGER NOT NULL,"
	"  symlink BLOB, xattrs BLOB, manifest BLOB,"
	"  reason INTEGER NOT NULL, exact INTEGER NOT NULL);"
	"CREATE TABLE pack(id INTEGER PRIMARY KEY, name BLOB NOT NULL,"
	"  state INTEGER NOT NULL, size INTEGER NOT NULL, class TEXT);"
	"CREATE TABLE chunk(id BLOB PRIMARY KEY,"
	"  pack INTEGER NOT NULL REFERENCES pack(id),"
	"  \"offset\" INTEGER NOT NULL, length INTEGER NOT NULL,"
	"  raw_length INTEGER NOT NULL, refs INTEGER NOT NULL DEFAULT 0)"
	"  WITHOUT ROWID;"
	"CREATE TABLE upload(pack INTEGER NOT NULL REFERENCES pack(id),"
	"  repo INTEGER NOT NULL, state INTEGER NOT NULL DEFAULT 0,"
	"  tries INTEGER NOT NULL DEFAULT 0,"
	"  next_try INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (pack, repo));"
	"CREATE TABLE snapshot(name TEXT PRIMARY KEY, t INTEGER NOT NULL,"
	"  kind INTEGER NOT NULL, pinned INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE dirty(inode INTEGER PRIMARY KEY REFERENCES inode(id),"
	"  since INTEGER NOT NULL);"
	"CREATE INDEX dentry_name ON dentry(parent, name, t_to);"
	"CREATE UNIQUE INDEX dentry_live ON dentry(parent, name)"
	"  WHERE t_to = " T_MAX_SQL ";"
	"CREATE INDEX dentry_inode ON dentry(inode, t_to);"
	"CREATE UNIQUE INDEX version_t ON version(inode, t);"
	"CREATE UNIQUE INDEX inode_live ON inode(dev, ino) WHERE died IS NULL;"
	"CREATE UNIQUE INDEX pack_name ON pack(name);"
	"CREATE INDEX upload_queue ON upload(state, next_try);"
	"INSERT INTO clock VALUES (0, 0);"
	"INSERT INTO inode(id, kind, born) VALUES (1, 16384, 0);";

/* Columns of a version as struct meta_version wants them; a regular file's
 * NULL manifest is the previous version's (content unchanged), and so is
 * its size (an attribute version may be recorded before the content
 * version of an earlier cut commits: its own size is not trusted). */
#define VERSION_COLS \
	"SELECT v.inode, v.t," \
	" CASE WHEN v.manifest IS NULL AND (v.mode & 61440) = 32768 THEN" \
	"  coalesce((SELECT p.size FROM version p WHERE p.inode = v.inode" \
	"   AND p.t < v.t AND p.manifest IS NOT NULL ORDER BY p.t DESC" \
	"   LIMIT 1), v.size) ELSE v.size END," \
	" v.mode, v.uid, v.gid, v.mtime_ns," \
	" v.rdev, v.reason, v.exact," \
	" CASE WHEN v.manifest IS NULL AND (v.mode & 61440) = 32768 THEN" \
	"  (SELECT p.manifest FROM version p WHERE p.inode = v.inode" \
	"   AND p.t < v.t AND p.manifest IS NOT NULL ORDER BY p.t DESC" \
	"   LIMIT 1) ELSE v.manifest END," \
	" v.xattrs, v.symlink FROM version v"

enum st {
	ST_CLOCK_SET,
	ST_INODE_NEW,
	ST_INODE_FIND,
	ST_INODE_DEVINO,
	ST_INODE_DIE,
	ST_LINK,
	ST_CLOSE,
	ST_LOOKUP,
	ST_READDIR,
	ST_UP,
	ST_VERSION_ADD,
	ST_VERSIONS,
	ST_VERSION_AT,
	ST_CHUNK_FIND,
	ST_PACK_NAME,
	ST_CHUNK_ADD,
	ST_PACK_ADD,
	ST_UPLOAD_ADD,
	ST_UPLOAD_NEXT,
	ST_UPLOAD_RETRY,
	ST_UPLOAD_DONE,
	ST_PACK_UPLOADED,
	ST_DIRTY_SET,
	ST_DIRTY_CLEAR,
	ST_DIRTY_EACH,
	ST__COUNT
};

static const char *const st_sql[ST__COUNT] = {
	[ST_CLOCK_SET] = "UPDATE clock SET last = max(last, ?1) WHERE id = 0",
	[ST_INODE_NEW] = "INSERT INTO inode(kind, dev, ino, born)"
			 " VALUES (?1, ?2, ?3, ?4)",
	[ST_INODE_FIND] = "SELECT id FROM inode WHERE dev = ?1 AND ino = ?2"
			  " AND died IS NULL",
	[ST_INODE_DEVINO] = "UPDATE inode SET dev = ?2, ino = ?3"
			    " WHERE id = ?1 AND died IS NULL",
	[ST_INODE_DIE] = "UPDATE inode SET died = ?2"
			 " WHERE id = ?1 AND died IS NULL",
	[ST_LINK] = "INSERT INTO dentry(parent, name, inode, t_from, t_to)"
		    " VALUES (?1, ?2, ?3, ?4, " T_MAX_SQL ")",
	[ST_CLOSE] = "UPDATE dentry SET t_to = ?3 WHERE parent = ?1"
		     " AND name = ?2 AND t_to = " T_MAX_SQL,
	/* Intervals of one name are disjoint and ordered: the first row
	 * ending after T is the only candidate. */
	[ST_LOOKUP] = "SELECT inode, t_from FROM dentry WHERE parent = ?1"
		      " AND name = ?2 AND t_to > ?3 ORDER BY t_to LIMIT 1",
	[ST_READDIR] = "SELECT d.name, d.inode, i.kind FROM dentry d"
		       " JOIN inode i ON i.id = d.inode WHERE d.parent = ?1"
		       " AND d.t_to > ?2 AND d.t_from <= ?2 ORDER BY d.name",
	[ST_UP] = "SELECT parent, name FROM dentry WHERE inode = ?1"
		  " AND t_to > ?2 AND t_from <= ?2 ORDER BY t_from, rowid"
		  " LIMIT 1",
	[ST_VERSION_ADD] = "INSERT INTO version(inode, t, size, mode, uid, gid,"
			   " mtime_ns, rdev, symlink, xattrs, manifest, reason,"
			   " exact) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,"
			   " ?10, ?11, ?12, ?13)",
	[ST_VERSIONS] = VERSION_COLS " WHERE v.inode = ?1 ORDER BY v.t",
	[ST_VERSION_AT] = VERSION_COLS " WHERE v.inode = ?1 AND v.t <= ?2"
			  " ORDER BY v.t DESC LIMIT 1",
	[ST_CHUNK_FIND] = "SELECT pack, \"offset\", length FROM chunk"
			  " WHERE id = ?1",
	[ST_PACK_NAME] = "SELECT name FROM pack WHERE id = ?1",
	[ST_CHUNK_ADD] = "INSERT INTO chunk(id, pack, \"offset\", length,"
			 " raw_length) VALUES (?1, ?2, ?3, ?4, ?5)",
	[ST_PACK_ADD] = "INSERT INTO pack(name, state, size, class)"
			" VALUES (?1, 1, ?2, ?3)",
	[ST_UPLOAD_ADD] = "INSERT INTO upload(pack, repo) VALUES (?1, ?2)",
	[ST_UPLOAD_NEXT] = "SELECT pack FROM upload WHERE state = 0"
			   " AND next_try <= ?1 ORDER BY pack LIMIT 1",
	[ST_UPLOAD_RETRY] = "UPDATE upload SET tries = tries + 1,"
			    " next_try = ?2 WHERE pack = ?1 AND state = 0",
	[ST_UPLOAD_DONE] = "UPDATE upload SET state = 1 WHERE pack = ?1",
	[ST_PACK_UPLOADED] = "UPDATE pack SET state = 2 WHERE id = ?1",
	[ST_DIRTY_SET] = "INSERT INTO dirty(inode, since) VALUES (?1, ?2)"
			 " ON CONFLICT(inode) DO NOTHING",
	[ST_DIRTY_CLEAR] = "DELETE FROM dirty WHERE inode = ?1",
	[ST_DIRTY_EACH] = "SELECT inode, since FROM dirty ORDER BY inode",
};

struct meta {
	sqlite3 *db;
	uint64_t last;		/* last time issued (invariant 1) */
	uint64_t stored;	/* last time known to be in table clock */
	int in_tx;		/* 1 write, 2 read transaction */
	sqlite3_stmt *st[ST__COUNT];
	void *vbuf;		/* meta_version_at's copies */
	size_t vbuf_size;
};

/* The one boundary between SQLite's codes and errno (invariant 7). */
static int meta_errno(struct meta *m, int rc)
{
	int sys = m && m->db ? sqlite3_system_errno(m->db) : 0;

	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_INTERRUPT:
		return -EINTR;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_IOERR:
		return sys > 0 ? -sys : -EIO;
	case SQLITE_CANTOPEN:
		return sys > 0 ? -sys : -ENOENT;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return -EUCLEAN;
	case SQLITE_TOOBIG:
		return -EFBIG;
	case SQLITE_CONSTRAINT:
		switch (rc) {
		case SQLITE_CONSTRAINT_UNIQUE:
		case SQLITE_CONSTRAINT_PRIMARYKEY:
		case SQLITE_CONSTRAINT_ROWID:
			return -EEXIST;
		case SQLITE_CONSTRAINT_FOREIGNKEY:
			return -ENOENT;
		default:
			return -EINVAL;
		}
	case SQLITE_MISMATCH:
	case SQLITE_RANGE:
	case SQLITE_MISUSE:
		return -EINVAL;
	default:
		return -EIO;
	}
}

const char *meta_errmsg(struct meta *m)
{
	return sqlite3_errmsg(m->db);
}

/* --- statements ----------------------------------------------------- */

/* The cached statement, or a fresh one if the cached one is stepping. */
static int st_get(struct meta *m, enum st id, sqlite3_stmt **out)
{
	sqlite3_stmt *s = m->st[id];
	int rc;

	if (s && !sqlite3_stmt_busy(s)) {
		*out = s;
		return 0;
	}
	rc = sqlite3_prepare_v3(m->db, st_sql[id], -1,
				s ? 0 : SQLITE_PREPARE_PERSISTENT, out, NULL);
	if (rc != SQLITE_OK)
		return meta_errno(m, rc);
	if (!s)
		m->st[id] = *out;
	return 0;
}

static void st_put(struct meta *m, enum st id, sqlite3_stmt *s)
{
	if (s != m->st[id]) {
		sqlite3_finalize(s);
		return;
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

static int64_t i64(uint64_t v)
{
	return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
}

/* Binds ?n as integer. */
static int bind_u(struct meta *m, sqlite3_stmt *s, int n, uint64_t v)
{
	return meta_errno(m, sqlite3_bind_int64(s, n, i64(v)));
}

/* Binds a byte string; NULL binds SQL NULL, a non-NULL empty one an empty
 * blob (distinct, see struct meta_version). */
static int bind_blob(struct meta *m, sqlite3_stmt *s, int n, const void *p,
		     size_t len)
{
	if (!p)
		return meta_errno(m, sqlite3_bind_null(s, n));
	if (!len)
		return meta_errno(m, sqlite3_bind_zeroblob(s, n, 0));
	return meta_errno(m, sqlite3_bind_blob64(s, n, p, len,
						 SQLITE_STATIC));
}

/* Steps a statement that returns no rows (or ignores them). */
static int st_done(struct meta *m, sqlite3_stmt *s)
{
	int rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		;
	return rc == SQLITE_DONE ? 0 : meta_errno(m, rc);
}

/* Steps to the first row: 0 on a row, -ENOENT on none, else -errno. */
static int st_row(struct meta *m, sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? -ENOENT : meta_errno(m, rc);
}

static int exec(struct meta *m, const char *sql)
{
	return meta_errno(m, sqlite3_exec(m->db, sql, NULL, NULL, NULL));
}

/* --- time and transactions ------------------------------------------ */

uint64_t meta_now(struct meta *m)
{
	struct timespec ts;
	uint64_t t;

	clock_gettime(CLOCK_REALTIME, &ts);
	t = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	if (t <= m->last)
		t = m->last + 1;
	m->last = t;
	return t;
}

/* A time passed in that meta_now did not issue still moves the clock. */
static void clock_note(struct meta *m, uint64_t t)
{
	if (t != META_T_MAX && t > m->last)
		m->last = t;
}

static int clock_store(struct meta *m)
{
	sqlite3_stmt *s;
	int err;

	if (m->last <= m->stored)
		return 0;
	err = st_get(m, ST_CLOCK_SET, &s);
	if (err)
		return err;
	err = bind_u(m, s, 1, m->last);
	if (!err)
		err = st_done(m, s);
	st_put(m, ST_CLOCK_SET, s);
	return err;
}

int meta_begin(struct meta *m)
{
	int err;

	if (m->in_tx)
		return -EINVAL;
	err = exec(m, "BEGIN IMMEDIATE");
	if (err)
		return err;
	m->in_tx = 1;
	return 0;
}

int meta_begin_read(struct meta *m)
{
	int err;

	if (m->in_tx)
		return -EINVAL;
	/* A deferred BEGIN takes its snapshot at the first read: read now. */
	err = exec(m, "BEGIN; SELECT last FROM clock");
	if (err)
		return err;
	m->in_tx = 2;
	return 0;
}

int meta_commit(struct meta *m)
{
	uint64_t last = m->last;
	int err;

	if (m->in_tx != 1)
		return m->in_tx ? meta_rollback(m) : -EINVAL;
	err = clock_store(m);
	if (!err)
		err = exec(m, "COMMIT");
	if (err && !sqlite3_get_autocommit(m->db))
		exec(m, "ROLLBACK");
	else if (!err && last > m->stored)
		m->stored = last;
	m->in_tx = 0;
	return err;
}

int meta_rollback(struct meta *m)
{
	int err;

	if (!m->in_tx)
		return -EINVAL;
	err = sqlite3_get_autocommit(m->db) ? 0 : exec(m, "ROLLBACK");
	m->in_tx = 0;
	return err;
}

/* Makes one write function atomic (invariant 5). */
static int op_begin(struct meta *m)
{
	if (m->in_tx == 2)
		return -EINVAL;		/* a write in a read transaction */
	if (m->in_tx)
		return exec(m, "SAVEPOINT op");
	return meta_begin(m);
}

static int op_end(struct meta *m, int outer, int err)
{
	if (outer) {
		if (err)
			exec(m, "ROLLBACK TO op");
		exec(m, "RELEASE op");
		return err;
	}
	if (err) {
		meta_rollback(m);
		return err;
	}
	return meta_commit(m);
}

/* --- open and close ------------------------------------------------- */

static int pragma_int(struct meta *m, const char *sql, int64_t *v)
{
	sqlite3_stmt *s;
	int rc = sqlite3_prepare_v2(m->db, sql, -1, &s, NULL);

	if (rc != SQLITE_OK)
		return meta_errno(m, rc);
	rc = sqlite3_step(s);
	*v = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_finalize(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : meta_errno(m, rc);
}

static int create_schema(struct meta *m)
{
	char sql[128];
	int err = meta_begin(m);

	if (err)
		return err;
	err = exec(m, schema_sql);
	snprintf(sql, sizeof(sql),
		 "PRAGMA user_version = %d; PRAGMA application_id = %d",
		 META_SCHEMA_VERSION, META_APP_ID);
	if (!err)
		err = exec(m, sql);
	if (err) {
		meta_rollback(m);
		return err;
	}
	return meta_commit(m);
}

/* Creates the schema in a new database, or checks an existing one's. */
static int check_schema(struct meta *m, const char *path, int create,
			char *err, size_t errlen)
{
	int64_t version, app, tables;
	int rc;

	rc = pragma_int(m, "PRAGMA user_version", &version);
	if (!rc)
		rc = pragma_int(m, "PRAGMA application_id", &app);
	if (!rc)
		rc = pragma_int(m, "SELECT count(*) FROM sqlite_schema", &tables);
	if (rc) {
		snprintf(err, errlen, "cannot read metadata database '%s': %s",
			 path, sqlite3_errmsg(m->db));
		return rc;
	}
	if (version == 0 && app == 0 && tables == 0) {
		if (!create) {
			snprintf(err, errlen, "metadata database '%s' is empty"
				 " (run 'backupfs init')", path);
			return -ENOENT;
		}
		rc = create_schema(m);
		if (rc)
			snprintf(err, errlen, "cannot create metadata database"
				 " '%s': %s", path, sqlite3_errmsg(m->db));
		return rc;
	}
	if (app != META_APP_ID) {
		snprintf(err, errlen, "'%s' is not a backupfs metadata database",
			 path);
		return -EINVAL;
	}
	if (version > META_SCHEMA_VERSION) {
		snprintf(err, errlen, "metadata database '%s' has schema version"
			 " %" PRId64 ", newer than this backupfs understands (%d):"
			 " upgrade backupfs", path, version, META_SCHEMA_VERSION);
		return -EPROTONOSUPPORT;
	}
	if (version < 1) {
		snprintf(err, errlen, "metadata database '%s' has unknown schema"
			 " version %" PRId64, path, version);
		return -EINVAL;
	}
	/* Migrations from older versions go here. */
	return 0;
}

int meta_open(const char *path, int create, struct meta **out, char *err,
	      size_t errlen)
{
	struct meta *m;
	int64_t last;
	int rc, flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
		(create ? SQLITE_OPEN_CREATE : 0);
	char mode[16] = "";
	sqlite3_stmt *s;

	*out = NULL;
	m = calloc(1, sizeof(*m));
	if (!m) {
		snprintf(err, errlen, "cannot open metadata database '%s': out"
			 " of memory", path);
		return -ENOMEM;
	}
	rc = sqlite3_open_v2(path, &m->db, flags, NULL);
	if (rc != SQLITE_OK) {
		rc = meta_errno(m, rc);
		snprintf(err, errlen, "cannot open metadata database '%s': %s%s",
			 path, strerror(-rc), rc == -ENOENT && !create ?
			 " (run 'backupfs init')" : "");
		goto out_close;
	}
	sqlite3_extended_result_codes(m->db, 1);
	sqlite3_busy_timeout(m->db, 5000);
	rc = exec(m, "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL");
	if (!rc && !(rc = sqlite3_prepare_v2(m->db, "PRAGMA journal_mode = WAL",
					     -1, &s, NULL))) {
		if (sqlite3_step(s) == SQLITE_ROW)
			snprintf(mode, sizeof(mode), "%s",
				 (const char *)sqlite3_column_text(s, 0));
		rc = meta_errno(m, sqlite3_finalize(s));
	} else if (rc > 0) {
		rc = meta_errno(m, rc);
	}
	if (rc || strcmp(mode, "wal")) {
		snprintf(err, errlen, "cannot open metadata database '%s': %s",
			 path, rc ? sqlite3_errmsg(m->db) :
			 "cannot enable WAL mode");
		rc = rc ? rc : -EIO;
		goto out_close;
	}
	rc = check_schema(m, path, create, err, errlen);
	if (rc)
		goto out_close;
	rc = pragma_int(m, "SELECT last FROM clock", &last);
	if (rc) {
		snprintf(err, errlen, "cannot read metadata database '%s': %s",
			 path, sqlite3_errmsg(m->db));
		goto out_close;
	}
	m->last = m->stored = last > 0 ? (uint64_t)last : 0;
	*out = m;
	return 0;

out_close:
	sqlite3_close_v2(m->db);
	free(m);
	return rc;
}

void meta_close(struct meta *m)
{
	if (!m)
		return;
	if (m->in_tx)
		meta_rollback(m);
	if (m->last > m->stored && !op_begin(m))
		op_end(m, 0, 0);	/* the commit stores the clock */
	for (int i = 0; i < ST__COUNT; i++)
		sqlite3_finalize(m->st[i]);
	sqlite3_close_v2(m->db);
	free(m->vbuf);
	free(m);
}

/* --- inodes --------------------------------------------------------- */

int meta_inode_new(struct meta *m, uint32_t kind, uint64_t dev, uint64_t ino,
		   uint64_t t, uint64_t *id)
{
	int outer = m->in_tx, err = op_begin(m);
	sqlite3_stmt *s;

	if (err)
		return err;
	clock_note(m, t);
	err = st_get(m, ST_INODE_NEW, &s);
	if (err)
		return op_end(m, outer, err);
	if (!(err = bind_u(m, s, 1, kind & S_IFMT)) &&
	    !(err = bind_u(m, s, 2, dev)) && !(err = bind_u(m, s, 3, ino)) &&
	    !(err = bind_u(m, s, 4, t)) && !(err = st_done(m, s)))
		*id = (uint64_t)sqlite3_last_insert_rowid(m->db);
	st_put(m, ST_INODE_NEW, s);
	return op_end(m, outer, err);
}

int meta_inode_find_live(struct meta *m, uint64_t dev, uint64_t ino,
			 uint64_t *id)
{
	sqlite3_stmt *s;
	int err = st_get(m, ST_INODE_FIND, &s);

	if (err)
		return err;
	if (!(err = bind_u(m, s, 1, dev)) && !(err = bind_u(m, s, 2, ino)) &&
	    !(err = st_row(m, s)))
		*id = (uint64_t)sqlite3_column_int64(s, 0);
	st_put(m, ST_INODE_FIND, s);
	return err;
}

/* Runs a one-statement update binding ?1..?3; -ENOENT if no row changed. */
static int update3(struct meta *m, enum st id, uint64_t a, uint64_t b,
		   uint64_t c, int nargs)
{
	int outer = m->in_tx, err = op_begin(m);
	sqlite3_stmt *s;

	if (err)
		return err;
	err = st_get(m, id, &s);
	if (err)
		return op_end(m, outer, err);
	err = bind_u(m, s, 1, a);
	if (!err && nargs > 1)
		err = bind_u(m, s, 2, b);
	if (!err && nargs > 2)
		err = bind_u(m, s, 3, c);
	if (!err)
		err = st_done(m, s);
	if (!err && sqlite3_changes(m->db) == 0)
		err = -ENOENT;
	st_put(m, id, s);
	return op_end(m, outer, err);
}

int meta_inode_set_devino(struct meta *m, uint64_t id, uint64_t dev,
			  uint64_t ino)
{
	return update3(m, ST_INODE_DEVINO, id, dev, ino, 3);
}

int meta_inode_die(struct meta *m, uint64_t id, uint64_t t)
{
	clock_note(m, t);
	return update3(m, ST_INODE_DIE, id, t, 0, 2);
}

/* --- names ---------------------------------------------------------- */

static int name_ok(const void *name, size_t len)
{
	if (len == 0 || memchr(name, '/', len) || memchr(name, '\0', len))
		return -EINVAL;
	return len > 255 ? -ENAMETOOLONG : 0;
}

/* The live inode of (parent, name); -ENOENT if none. */
static int live(struct meta *m, uint64_t parent, const void *name,
		size_t len, uint64_t *inode)
{
	return meta_lookup(m, parent, name, len, META_T_LIVE, inode);
}

static int open_row(struct meta *m, uint64_t parent, const void *name,
		    size_t len, uint64_t inode, uint64_t t)
{
	sqlite3_stmt *s;
	int err = st_get(m, ST_LINK, &s);

	if (err)
		return err;
	if (!(err = bind_u(m, s, 1, parent)) &&
	    !(err = bind_blob(m, s, 2, name, len)) &&
	    !(err = bind_u(m, s, 3, inode)) && !(err = bind_u(m, s, 4, t)))
		err = st_done(m, s);
	st_put(m, ST_LINK, s);
	return err;
}

static int close_row(struct meta *m, uint64_t parent, const void *name,
		     size_t len, uint64_t t)
{
	sqlite3_stmt *s;
	int err = st_get(m, ST_CLOSE, &s);

	if (err)
		return err;
	if (!(err = bind_u(m, s, 1, parent)) &&
	    !(err = bind_blob(m, s, 2, name, len)) &&
	    !(err = bind_u(m, s, 3, t)) && !(err = st_done(m, s)) &&
	    sqlite3_changes(m->db) == 0)
		err = -ENOENT;
	st_put(m, ST_CLOSE, s);
	return err;
}

int meta_link(struct meta *m, uint64_t parent, const void *name,
	      size_t namelen, uint64_t inode, uint64_t t)
{
	int outer = m->in_tx, err = name_ok(name, namelen);

	if (err)
		return err;
	err = op_begin(m);
	if (err)
		return err;
	clock_note(m, t);
	err = open_row(m, parent, name, namelen, inode, t);
	return op_end(m, outer, err);
}

int meta_unlink(struct meta *m, uint64_t parent, const void *name,
		size_t namelen, uint64_t t)
{
	int outer = m->in_tx, err = name_ok(name, namelen);

	if (err)
		return err;
	err = op_begin(m);
	if (err)
		return err;
	clock_note(m, t);
	err = close_row(m, parent, name, namelen, t);
	return op_end(m, outer, err);
}

int meta_rename(struct meta *m, uint64_t parent, const void *name,
		size_t namelen, uint64_t newparent, const void *newname,
		size_t newnamelen, uint64_t t, unsigned flags)
{
	uint64_t src, dst;
	int outer = m->in_tx, err, have_dst;

	if (flags & ~(META_RENAME_NOREPLACE | META_RENAME_EXCHANGE) ||
	    flags == (META_RENAME_NOREPLACE | META_RENAME_EXCHANGE))
		return -EINVAL;
	if ((err = name_ok(name, namelen)) ||
	    (err = name_ok(newname, newnamelen)))
		return err;
	err = op_begin(m);
	if (err)
		return err;
	clock_note(m, t);
	err = live(m, parent, name, namelen, &src);
	if (err)
		goto out;
	err = live(m, newparent, newname, newnamelen, &dst);
	if (err && err != -ENOENT)
		goto out;
	have_dst = !err;
	err = 0;
	if (flags & META_RENAME_NOREPLACE && have_dst) {
		err = -EEXIST;
		goto out;
	}
	if (flags & META_RENAME_EXCHANGE && !have_dst) {
		err = -ENOENT;
		goto out;
	}
	/* rename(2) of a name onto itself or onto another link of the same
	 * inode does nothing; exchanging them would reopen identical rows. */
	if (have_dst && src == dst)
		goto out;
	if (have_dst)
		err = close_row(m, newparent, newname, newnamelen, t);
	if (!err)
		err = close_row(m, parent, name, namelen, t);
	if (!err)
		err = open_row(m, newparent, newname, newnamelen, src, t);
	if (!err && flags & META_RENAME_EXCHANGE)
		err = open_row(m, parent, name, namelen, dst, t);
out:
	return op_end(m, outer, err);
}

/* --- queries -------------------------------------------------------- */

/* T = META_T_LIVE must satisfy T < t_to = META_T_MAX of live rows. */
static uint64_t instant(uint64_t T)
{
	return T >= META_T_MAX ? META_T_MAX - 1 : T;
}

int meta_lookup(struct meta *m, uint64_t parent, const void *name,
		size_t namelen, uint64_t T, uint64_t *inode)
{
	sqlite3_stmt *s;
	int err;

	if (namelen == 0)
		return -ENOENT;
	err = st_get(m, ST_LOOKUP, &s);
	if (err)
		return err;
	T = instant(T);
	if (!(err = bind_u(m, s, 1, parent)) &&
	    !(err = bind_blob(m, s, 2, name, namelen)) &&
	    !(err = bind_u(m, s, 3, T)) && !(err = st_row(m, s))) {
		if ((uint64_t)sqlite3_column_int64(s, 1) > T)
			err = -ENOENT;	/* the next row of the name, later */
		else
			*inode = (uint64_t)sqlite3_column_int64(s, 0);
	}
	st_put(m, ST_LOOKUP, s);
	return err;
}

int meta_readdir(struct meta *m, uint64_t parent, uint64_t T,
		 int (*cb)(void *arg, const void *name, size_t namelen,
			   uint64_t inode, uint32_t kind),
		 void *arg)
{
	sqlite3_stmt *s;
	int err = st_get(m, ST_READDIR, &s), rc;

	if (err)
		return err;
	if ((err = bind_u(m, s, 1, parent)) ||
	    (err = bind_u(m, s, 2, instant(T))))
		goto out;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const void *name = sqlite3_column_blob(s, 0);
		size_t len = (size_t)sqlite3_column_bytes(s, 0);

		err = cb(arg, name, len, (uint64_t)sqlite3_column_int64(s, 1),
			 (uint32_t)sqlite3_column_int64(s, 2));
		if (err)
			goto out;
	}
	err = meta_errno(m, rc);
out:
	st_put(m, ST_READDIR, s);
	return err;
}

int meta_path_at(struct meta *m, uint64_t inode, uint64_t T, char *buf,
		 size_t len)
{
	sqlite3_stmt *s;
	size_t pos = len;	/* the path is built backwards at buf[pos..] */
	int err, depth = 0;

	if (len < 2)
		return -ENAMETOOLONG;
	buf[--pos] = '\0';
	err = st_get(m, ST_UP, &s);
	if (err)
		return err;
	T = instant(T);
	while (inode != META_ROOT_INODE) {
		const void *name;
		size_t n;

		if (++depth > 4096) {
			err = -ELOOP;	/* a cycle: a corrupt database */
			break;
		}
		sqlite3_reset(s);
		if ((err = bind_u(m, s, 1, inode)) ||
		    (err = bind_u(m, s, 2, T)) || (err = st_row(m, s)))
			break;
		name = sqlite3_column_blob(s, 1);
		n = (size_t)sqlite3_column_bytes(s, 1);
		if (n + 1 > pos) {
			err = -ENAMETOOLONG;
			break;
		}
		pos -= n;
		memcpy(buf + pos, name, n);
		buf[--pos] = '/';
		inode = (uint64_t)sqlite3_column_int64(s, 0);
	}
	st_put(m, ST_UP, s);
	if (err)
		return err;
	if (pos == len - 1)
		buf[--pos] = '/';	/* the root itself */
	memmove(buf, buf + pos, len - pos);
	return 0;
}

/* --- versions ------------------------------------------------------- */

int meta_version_add(struct meta *m, const struct meta_version *v)
{
	int outer = m->in_tx, err = op_begin(m);
	sqlite3_stmt *s;

	if (err)
		return err;
	clock_note(m, v->t);
	err = st_get(m, ST_VERSION_ADD, &s);
	if (err)
		return op_end(m, outer, err);
	if (!(err = bind_u(m, s, 1, v->inode)) &&
	    !(err = bind_u(m, s, 2, v->t)) &&
	    !(err = bind_u(m, s, 3, v->size)) &&
	    !(err = bind_u(m, s, 4, v->mode)) &&
	    !(err = bind_u(m, s, 5, v->uid)) &&
	    !(err = bind_u(m, s, 6, v->gid)) &&
	    !(err = meta_errno(m, sqlite3_bind_int64(s, 7, v->mtime_ns))) &&
	    !(err = bind_u(m, s, 8, v->rdev)) &&
	    !(err = bind_blob(m, s, 9, v->symlink,
			      v->symlink ? strlen(v->symlink) : 0)) &&
	    !(err = bind_blob(m, s, 10, v->xattrs, v->xattrs_len)) &&
	    !(err = bind_blob(m, s, 11, v->manifest, v->manifest_len)) &&
	    !(err = bind_u(m, s, 12, (uint64_t)v->reason)) &&
	    !(err = bind_u(m, s, 13, v->exact != 0)))
		err = st_done(m, s);
	st_put(m, ST_VERSION_ADD, s);
	return op_end(m, outer, err);
}

/* Fills v from the current row; pointers into s's row. */
static void version_row(sqlite3_stmt *s, struct meta_version *v)
{
	v->inode = (uint64_t)sqlite3_column_int64(s, 0);
	v->t = (uint64_t)sqlite3_column_int64(s, 1);
	v->size = (uint64_t)sqlite3_column_int64(s, 2);
	v->mode = (uint32_t)sqlite3_column_int64(s, 3);
	v->uid = (uint32_t)sqlite3_column_int64(s, 4);
	v->gid = (uint32_t)sqlite3_column_int64(s, 5);
	v->mtime_ns = sqlite3_column_int64(s, 6);
	v->rdev = (uint64_t)sqlite3_column_int64(s, 7);
	v->reason = sqlite3_column_int(s, 8);
	v->exact = sqlite3_column_int(s, 9);
	v->manifest = sqlite3_column_blob(s, 10);
	v->manifest_len = (size_t)sqlite3_column_bytes(s, 10);
	if (!v->manifest && sqlite3_column_type(s, 10) == SQLITE_BLOB)
		v->manifest = "";	/* an empty file's empty manifest */
	v->xattrs = sqlite3_column_blob(s, 11);
	v->xattrs_len = (size_t)sqlite3_column_bytes(s, 11);
	if (!v->xattrs && sqlite3_column_type(s, 11) == SQLITE_BLOB)
		v->xattrs = "";
	v->symlink = sqlite3_column_type(s, 12) == SQLITE_NULL ? NULL :
		(const char *)sqlite3_column_text(s, 12);
}

int meta_versions(struct meta *m, uint64_t inode,
		  int (*cb)(void *arg, const struct meta_version *v),
		  void *arg)
{
	struct meta_version v;
	sqlite3_stmt *s;
	int err = st_get(m, ST_VERSIONS, &s), rc;

	if (err)
		return err;
	if ((err = bind_u(m, s, 1, inode)))
		goto out;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		version_row(s, &v);
		if ((err = cb(arg, &v)))
			goto out;
	}
	err = meta_errno(m, rc);
out:
	st_put(m, ST_VERSIONS, s);
	return err;
}

int meta_version_at(struct meta *m, uint64_t inode, uint64_t T,
		    struct meta_version *out)
{
	sqlite3_stmt *s;
	size_t sl, need;
	char *p;
	int err = st_get(m, ST_VERSION_AT, &s);

	if (err)
		return err;
	if ((err = bind_u(m, s, 1, inode)) ||
	    (err = bind_u(m, s, 2, instant(T))) || (err = st_row(m, s)))
		goto out;
	version_row(s, out);
	/* The row dies with the reset: copy its bytes into m->vbuf. */
	sl = out->symlink ? strlen(out->symlink) + 1 : 0;
	need = out->manifest_len + out->xattrs_len + sl + 1;
	if (need > m->vbuf_size) {
		void *nb = realloc(m->vbuf, need);

		if (!nb) {
			err = -ENOMEM;
			goto out;
		}
		m->vbuf = nb;
		m->vbuf_size = need;
	}
	p = m->vbuf;
	if (out->manifest) {
		memcpy(p, out->manifest, out->manifest_len);
		out->manifest = p;
		p += out->manifest_len;
	}
	if (out->xattrs) {
		memcpy(p, out->xattrs, out->xattrs_len);
		out->xattrs = p;
		p += out->xattrs_len;
	}
	if (out->symlink) {
		memcpy(p, out->symlink, sl);
		out->symlink = p;
	}
out:
	st_put(m, ST_VERSION_AT, s);
	return err;
}

/* --- chunks, packs, uploads ----------------------------------------- */

int meta_chunk_find(struct meta *m, const uint8_t id[32], uint64_t *pack,
		    uint64_t *offset, uint32_t *length)
{
	sqlite3_stmt *s;
	int err = st_get(m, ST_CHUNK_FIND, &s);

	if (err)
		return err;
	if (!(err = bind_blob(m, s, 1, id, 32)) && !(err = st_row(m, s))) {
		*pack = (uint64_t)sqlite3_column_int64(s, 0);
		*offset = (uint64_t)sqlite3_column_int64(s, 1);
		*length = (uint32_t)sqlite3_column_int64(s, 2);
	}
	st_put(m, ST_CHUNK_FIND, s);
	return err;
}

int meta_pack_name(struct meta *m, uint64_t pack_id, uint8_t name[32])
{
	sqlite3_stmt *s;
	int err = st_get(m, ST_PACK_NAME, &s);

	if (err)
		return err;
	if (!(err = bind_u(m, s, 1, pack_id)) && !(err = st_row(m, s))) {
		if (sqlite3_column_bytes(s, 0) == 32)
			memcpy(name, sqlite3_column_blob(s, 0), 32);
		else
			err = -EUCLEAN;
	}
	st_put(m, ST_PACK_NAME, s);
	return err;
}

int meta_chunk_add(struct meta *m, const uint8_t id[32], uint64_t pack,
		   uint64_t offset, uint32_t length, uint32_t raw_length)
{
	int outer = m->in_tx, err = op_begin(m);
	sqlite3_stmt *s;

	if (err)
		return err;
	err = st_get(m, ST_CHUNK_ADD, &s);
	if (err)
		return op_end(m, outer, err);
	if (!(err = bind_blob(m, s, 1, id, 32)) &&
	    !(err = bind_u(m, s, 2, pack)) && !(err = bind_u(m, s, 3, offset)) &&
	    !(err = bind_u(m, s, 4, length)) &&
	    !(err = bind_u(m, s, 5, raw_length)))
		err = st_done(m, s);
	st_put(m, ST_CHUNK_ADD, s);
	return op_end(m, outer, err);
}

int meta_pack_add(struct meta *m, const uint8_t name[32], uint64_t size,
		  const char *storage_class, uint64_t *pack_id)
{
	int outer = m->in_tx, err = op_begin(m);
	sqlite3_stmt *s;

	if (err)
		return err;
	err = st_get(m, ST_PACK_ADD, &s);
	if (err)
		return op_end(m, outer, err);
	if (!(err = bind_blob(m, s, 1, name, 32)) &&
	    !(err = bind_u(m, s, 2, size)) &&
	    !(err = meta_errno(m, storage_class ?
			       sqlite3_bind_text(s, 3, storage_class, -1,
						 SQLITE_STATIC) :
			       sqlite3_bind_null(s, 3))) &&
	    !(err = st_done(m, s)))
		*pack_id = (uint64_t)sqlite3_last_insert_rowid(m->db);
	st_put(m, ST_PACK_ADD, s);
	return op_end(m, outer, err);
}

int meta_upload_enqueue(struct meta *m, uint64_t pack_id, uint64_t repo_id)
{
	int outer = m->in_tx, err = op_begin(m);
	sqlite3_stmt *s;

	if (err)
		return err;
	err = st_get(m, ST_UPLOAD_ADD, &s);
	if (err)
		return op_end(m, outer, err);
	if (!(err = bind_u(m, s, 1, pack_id)) &&
	    !(err = bind_u(m, s, 2, repo_id)))
		err = st_done(m, s);
	st_put(m, ST_UPLOAD_ADD, s);
	return op_end(m, outer, err);
}

int meta_upload_next(struct meta *m, uint64_t now, uint64_t *pack_id)
{
	sqlite3_stmt *s;
	int err = st_get(m, ST_UPLOAD_NEXT, &s);

	if (err)
		return err;
	if (!(err = bind_u(m, s, 1, now)) && !(err = st_row(m, s)))
		*pack_id = (uint64_t)sqlite3_column_int64(s, 0);
	st_put(m, ST_UPLOAD_NEXT, s);
	return err;
}

int meta_upload_retry(struct meta *m, uint64_t pack_id, uint64_t next_try)
{
	return update3(m, ST_UPLOAD_RETRY, pack_id, next_try, 0, 2);
}

int meta_upload_done(struct meta *m, uint64_t pack_id)
{
	int outer = m->in_tx, err = op_begin(m);

	if (err)
		return err;
	/* update3 nests under our savepoint: both rows or neither. */
	err = update3(m, ST_UPLOAD_DONE, pack_id, 0, 0, 1);
	if (!err)
		err = update3(m, ST_PACK_UPLOADED, pack_id, 0, 0, 1);
	return op_end(m, outer, err);
}

/* --- dirty inodes --------------------------------------------------- */

int meta_dirty_set(struct meta *m, uint64_t inode, uint64_t since)
{
	int outer = m->in_tx, err = op_begin(m);
	sqlite3_stmt *s;

	if (err)
		return err;
	err = st_get(m, ST_DIRTY_SET, &s);
	if (err)
		return op_end(m, outer, err);
	if (!(err = bind_u(m, s, 1, inode)) && !(err = bind_u(m, s, 2, since)))
		err = st_done(m, s);
	st_put(m, ST_DIRTY_SET, s);
	return op_end(m, outer, err);
}

int meta_dirty_clear(struct meta *m, uint64_t inode)
{
	int err = update3(m, ST_DIRTY_CLEAR, inode, 0, 0, 1);

	return err == -ENOENT ? 0 : err;
}

int meta_dirty_each(struct meta *m,
		    int (*cb)(void *arg, uint64_t inode, uint64_t since),
		    void *arg)
{
	sqlite3_stmt *s;
	int err = st_get(m, ST_DIRTY_EACH, &s), rc;

	if (err)
		return err;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		err = cb(arg, (uint64_t)sqlite3_column_int64(s, 0),
			 (uint64_t)sqlite3_column_int64(s, 1));
		if (err)
			goto out;
	}
	err = meta_errno(m, rc);
out:
	st_put(m, ST_DIRTY_EACH, s);
	return err;
}

/* --- for the daemon and the readers (uncached statements) ------------ */

/* Prepares sql, binds up to three integers (nargs), steps once. */
static int once(struct meta *m, const char *sql, int nargs, uint64_t a,
		uint64_t b, uint64_t c, sqlite3_stmt **out)
{
	sqlite3_stmt *s;
	int err = meta_errno(m, sqlite3_prepare_v2(m->db, sql, -1, &s, NULL));

	if (err)
		return err;
	if (nargs > 0)
		err = bind_u(m, s, 1, a);
	if (!err && nargs > 1)
		err = bind_u(m, s, 2, b);
	if (!err && nargs > 2)
		err = bind_u(m, s, 3, c);
	if (err) {
		sqlite3_finalize(s);
		return err;
	}
	*out = s;
	return 0;
}

int meta_lookup_latest(struct meta *m, uint64_t parent, const void *name,
		       size_t namelen, uint64_t *inode, uint64_t *t_from,
		       uint64_t *t_to)
{
	sqlite3_stmt *s;
	int err;

	if (namelen == 0)
		return -ENOENT;
	err = once(m, "SELECT inode, t_from, t_to FROM dentry WHERE parent = ?1"
		   " AND name = ?2 ORDER BY t_to DESC LIMIT 1", 1, parent, 0, 0,
		   &s);
	if (err)
		return err;
	if (!(err = bind_blob(m, s, 2, name, namelen)) &&
	    !(err = st_row(m, s))) {
		*inode = (uint64_t)sqlite3_column_int64(s, 0);
		if (t_from)
			*t_from = (uint64_t)sqlite3_column_int64(s, 1);
		if (t_to)
			*t_to = (uint64_t)sqlite3_column_int64(s, 2);
	}
	sqlite3_finalize(s);
	return err;
}

int meta_inode_links(struct meta *m, uint64_t inode, uint64_t T)
{
	sqlite3_stmt *s;
	int err;

	T = instant(T);
	err = once(m, "SELECT count(*) FROM dentry WHERE inode = ?1"
		   " AND t_to > ?2 AND t_from <= ?2", 2, inode, T, 0, &s);
	if (err)
		return err;
	if (!(err = st_row(m, s)))
		err = (int)sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return err;
}

int meta_inode_info(struct meta *m, uint64_t inode, uint32_t *kind,
		    uint64_t *born, uint64_t *died)
{
	sqlite3_stmt *s;
	int err = once(m, "SELECT kind, born, died FROM inode WHERE id = ?1", 1,
		       inode, 0, 0, &s);

	if (err)
		return err;
	if (!(err = st_row(m, s))) {
		if (kind)
			*kind = (uint32_t)sqlite3_column_int64(s, 0);
		if (born)
			*born = (uint64_t)sqlite3_column_int64(s, 1);
		if (died)
			*died = sqlite3_column_type(s, 2) == SQLITE_NULL ?
				META_T_MAX :
				(uint64_t)sqlite3_column_int64(s, 2);
	}
	sqlite3_finalize(s);
	return err;
}

static int run_write(struct meta *m, const char *sql, int nargs, uint64_t a,
		     uint64_t b)
{
	int outer = m->in_tx, err = op_begin(m);
	sqlite3_stmt *s;

	if (err)
		return err;
	err = once(m, sql, nargs, a, b, 0, &s);
	if (!err) {
		err = st_done(m, s);
		sqlite3_finalize(s);
	}
	return op_end(m, outer, err);
}

int meta_dirty_reset(struct meta *m, uint64_t inode, uint64_t since)
{
	return run_write(m, "INSERT INTO dirty(inode, since) VALUES (?1, ?2)"
			 " ON CONFLICT(inode) DO UPDATE SET since = excluded.since",
			 2, inode, since);
}

int meta_dirty_clear_upto(struct meta *m, uint64_t inode, uint64_t t)
{
	return run_write(m, "DELETE FROM dirty WHERE inode = ?1 AND since <= ?2",
			 2, inode, t);
}

static int64_t scalar(struct meta *m, const char *sql, int *err)
{
	sqlite3_stmt *s;
	int64_t v = 0;

	if (*err)
		return 0;
	*err = once(m, sql, 0, 0, 0, 0, &s);
	if (*err)
		return 0;
	*err = st_row(m, s);
	if (!*err)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

int meta_get_stats(struct meta *m, struct meta_stats *st)
{
	int err = 0;

	memset(st, 0, sizeof(*st));
	st->versions = (uint64_t)scalar(m, "SELECT count(*) FROM version", &err);
	st->chunks = (uint64_t)scalar(m, "SELECT count(*) FROM chunk", &err);
	st->chunk_raw_bytes = (uint64_t)scalar(m,
		"SELECT coalesce(sum(raw_length), 0) FROM chunk", &err);
	st->chunk_stored_bytes = (uint64_t)scalar(m,
		"SELECT coalesce(sum(length), 0) FROM chunk", &err);
	st->packs = (uint64_t)scalar(m, "SELECT count(*) FROM pack", &err);
	st->pack_bytes = (uint64_t)scalar(m,
		"SELECT coalesce(sum(size), 0) FROM pack", &err);
	st->upload_packs = (uint64_t)scalar(m,
		"SELECT count(*) FROM upload WHERE state = 0", &err);
	st->upload_bytes = (uint64_t)scalar(m,
		"SELECT coalesce(sum(p.size), 0) FROM upload u JOIN pack p"
		" ON p.id = u.pack WHERE u.state = 0", &err);
	st->uploaded_bytes = (uint64_t)scalar(m,
		"SELECT coalesce(sum(size), 0) FROM pack WHERE state = 2", &err);
	/* What the versions describe: every distinct manifest's bytes, i.e.
	 * the sum of sizes of versions that carry content. */
	st->logical_bytes = (uint64_t)scalar(m,
		"SELECT coalesce(sum(size), 0) FROM version"
		" WHERE manifest IS NOT NULL", &err);
	st->dirty = (uint64_t)scalar(m, "SELECT count(*) FROM dirty", &err);
	st->oldest_dirty = (uint64_t)scalar(m,
		"SELECT coalesce(min(since), 0) FROM dirty", &err);
	st->live_files = (uint64_t)scalar(m,
		"SELECT count(*) FROM inode WHERE died IS NULL", &err);
	return err;
}

int meta_pack_max(struct meta *m, uint64_t *pack_id)
{
	int err = 0;

	*pack_id = (uint64_t)scalar(m, "SELECT coalesce(max(id), 0) FROM pack",
				    &err);
	return err;
}

int meta_upload_pending(struct meta *m, uint64_t upto, uint64_t *count)
{
	sqlite3_stmt *s;
	int err = once(m, "SELECT count(*) FROM upload WHERE state = 0"
		       " AND pack <= ?1", 1, upto, 0, 0, &s);

	if (err)
		return err;
	if (!(err = st_row(m, s)))
		*count = (uint64_t)sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return err;
}

int meta_inode_devino(struct meta *m, uint64_t inode, uint64_t *dev,
		      uint64_t *ino)
{
	sqlite3_stmt *s;
	int err = once(m, "SELECT dev, ino FROM inode WHERE id = ?1", 1, inode,
		       0, 0, &s);

	if (err)
		return err;
	if (!(err = st_row(m, s))) {
		*dev = (uint64_t)sqlite3_column_int64(s, 0);
		*ino = (uint64_t)sqlite3_column_int64(s, 1);
	}
	sqlite3_finalize(s);
	return err;
}

/* --- snapshots ------------------------------------------------------- */

int meta_snapshot_add(struct meta *m, const char *name, uint64_t t, int kind,
		      int pinned)
{
	int outer = m->in_tx, err = op_begin(m);
	sqlite3_stmt *s;

	if (err)
		return err;
	err = once(m, "INSERT INTO snapshot(name, t, kind, pinned)"
		   " VALUES (?4, ?1, ?2, ?3)", 3, t, (uint64_t)kind,
		   (uint64_t)!!pinned, &s);
	if (!err) {
		err = meta_errno(m, sqlite3_bind_text(s, 4, name, -1,
						      SQLITE_STATIC));
		if (!err)
			err = st_done(m, s);
		sqlite3_finalize(s);
	}
	if (!err)
		clock_note(m, t);
	return op_end(m, outer, err);
}

int meta_snapshot_find(struct meta *m, const char *name, struct meta_snapshot *out)
{
	sqlite3_stmt *s;
	int err = meta_errno(m, sqlite3_prepare_v2(m->db,
		"SELECT name, t, kind, pinned FROM snapshot WHERE name = ?1",
		-1, &s, NULL));

	if (err)
		return err;
	err = meta_errno(m, sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC));
	if (!err && !(err = st_row(m, s))) {
		snprintf(out->name, sizeof(out->name), "%s",
			 (const char *)sqlite3_column_text(s, 0));
		out->t = (uint64_t)sqlite3_column_int64(s, 1);
		out->kind = sqlite3_column_int(s, 2);
		out->pinned = sqlite3_column_int(s, 3);
	}
	sqlite3_finalize(s);
	return err;
}

int meta_snapshots(struct meta *m,
		   int (*cb)(void *arg, const struct meta_snapshot *sn),
		   void *arg)
{
	sqlite3_stmt *s;
	int err = meta_errno(m, sqlite3_prepare_v2(m->db,
		"SELECT name, t, kind, pinned FROM snapshot ORDER BY t, name",
		-1, &s, NULL)), rc;

	if (err)
		return err;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct meta_snapshot sn;

		snprintf(sn.name, sizeof(sn.name), "%s",
			 (const char *)sqlite3_column_text(s, 0));
		sn.t = (uint64_t)sqlite3_column_int64(s, 1);
		sn.kind = sqlite3_column_int(s, 2);
		sn.pinned = sqlite3_column_int(s, 3);
		err = cb(arg, &sn);
		if (err)
			break;
	}
	if (!err && rc != SQLITE_DONE && rc != SQLITE_ROW)
		err = meta_errno(m, rc);
	sqlite3_finalize(s);
	return err;
}

int meta_tree_size_at(struct meta *m, uint64_t T, uint64_t *files,
		      uint64_t *bytes)
{
	sqlite3_stmt *s;
	int err;

	T = instant(T);
	/* Regular files alive at T, each with its last content version. */
	err = once(m, "SELECT count(*), coalesce(sum((SELECT v.size FROM version v"
		   " WHERE v.inode = i.id AND v.t <= ?1 AND v.manifest IS NOT NULL"
		   " ORDER BY v.t DESC LIMIT 1)), 0) FROM inode i"
		   " WHERE i.kind = 32768 AND i.born <= ?1"
		   " AND (i.died IS NULL OR i.died > ?1)", 1, T, 0, 0, &s);
	if (err)
		return err;
	if (!(err = st_row(m, s))) {
		*files = (uint64_t)sqlite3_column_int64(s, 0);
		*bytes = (uint64_t)sqlite3_column_int64(s, 1);
	}
	sqlite3_finalize(s);
	return err;
}

int meta_pack_state(struct meta *m, const uint8_t name[32], int *state)
{
	sqlite3_stmt *s;
	int err = meta_errno(m, sqlite3_prepare_v2(m->db,
		"SELECT state FROM pack WHERE name = ?1", -1, &s, NULL));

	if (err)
		return err;
	if (!(err = bind_blob(m, s, 1, name, 32)) && !(err = st_row(m, s)))
		*state = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return err;
}

void meta_version_set_attrs(struct meta_version *v, const struct stat *st)
{
	v->size = S_ISREG(st->st_mode) || S_ISLNK(st->st_mode) ?
			  (uint64_t)st->st_size : 0;
	v->mode = st->st_mode;
	v->uid = st->st_uid;
	v->gid = st->st_gid;
	v->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 +
		      st->st_mtim.tv_nsec;
	v->rdev = st->st_rdev;
}
