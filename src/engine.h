/*
 * engine.h - the versioning daemon behind a mount: the journal attached to
 * the overlay's hooks, the capture workers, the metadata writer, the
 * uploader, the mount-time scan and the control socket (doc/versioning.md).
 *
 * Life of an engine, in the mount command:
 *
 *	engine_open()    before the mount, in the foreground: finds SOURCE's
 *	                 state, unlocks the repository key (in a child process,
 *	                 so the Argon2 memory never counts against the daemon),
 *	                 checks the metadata database.  Every failure is one
 *	                 line for the user and the mount does not happen.
 *	engine_hooks()   the struct fs_hooks to hand to fs_new().
 *	engine_start()   once the daemon detached (threads do not survive the
 *	                 fork): opens the database, recovers staging, scans
 *	                 SOURCE for changes made while unmounted, starts the
 *	                 threads and the control socket.
 *	engine_stop()    after the unmount: cuts what is still dirty, commits
 *	                 every capture, tries once to upload what is queued.
 *	engine_free()
 *
 * Threads: the FUSE request threads only touch memory (the journal, the
 * file table, the event queue) and never wait for SQLite or the network.
 * One writer thread applies namespace and attribute events to meta.db in
 * batches; two capture workers (files are sharded by inode number, so the
 * versions of one file are captured in order by one worker) capture cuts
 * and commit packs + versions (invariant D); one uploader puts committed
 * packs into the repository; one timer thread makes version_interval cuts.
 *
 * The live tree comes first (DESIGN 2.1): no failure here fails an
 * application's operation.  Failures are logged, counted, shown by
 * "backupfs status", and retried.
 */
#ifndef BACKUPFS_ENGINE_H
#define BACKUPFS_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "fs-hooks.h"

struct engine;

struct engine_config {
	const char *source;		/* canonical SOURCE */
	const char *mountpoint;		/* canonical mountpoint */
	const char *state;		/* NULL or "": from the registry */
	const char *password_file;	/* NULL or "": env or prompt */
	double version_interval;	/* seconds, 0: off */
	double snapshot_interval;	/* seconds, 0: off */
};

int engine_open(const struct engine_config *cfg, int root_fd,
		struct engine **out, char *err, size_t errlen);
void engine_hooks(struct engine *e, struct fs_hooks *h);
/* The unlocked repository (for readers: the .snapshots view); the
 * engine's, valid until engine_free. */
struct repository *engine_repository(struct engine *e);
const char *engine_state(struct engine *e);
void engine_root(struct engine *e, uint64_t *dev, uint64_t *ino);
int engine_start(struct engine *e);
void engine_stop(struct engine *e);
void engine_free(struct engine *e);

#endif
