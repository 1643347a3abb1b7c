/*
 * journal.h - dirty ranges and cuts: exact versions of files that keep
 * changing while they are captured (doc/versioning.md §4, invariant E).
 *
 * What it does.  Per mount, a journal tracks for every file (named by a
 * uint64_t key chosen by the caller, e.g. the struct fs_inode pointer):
 *   - the dirty set: the byte ranges written since the last cut, kept
 *     sorted and merged;
 *   - the cuts being captured.  journal_cut() takes "the file as it is
 *     now": it moves the dirty set into the cut and records the size; it
 *     costs a list swap, nothing is frozen or copied.
 * While a cut is captured, a write to a byte that the capture may still
 * read first saves the old bytes (the pre-image): journal_pre_write(), in
 * the request thread, before the write.  Capture reads through
 * journal_cut_read() (a capture_read_fn), which reads the real file and
 * lays the saved pre-images over it.
 *
 * The protected region of a cut is [0, size_at_cut) minus what was
 * released: capture may read any byte below the size (it widens dirty
 * ranges to chunk boundaries), and every byte it reads is released (it is
 * never read again).  journal_cut_read() releases exactly what it read;
 * journal_cut_read_ascending() also releases everything below (for a
 * reader that never goes back, such as capture_file_cb: then the region
 * is just [read position, size) and clean chunks it skipped stop costing
 * pre-images); journal_cut_release() releases without reading.
 *
 * Numbered invariants:
 *  (1) (versioning.md E) The bytes journal_cut_read() returns for an
 *      unreleased offset x < size_at_cut are the file's bytes at the cut.
 *      Either no write touched x since the cut: the real file still has
 *      them.  Or one did: the first such write called journal_pre_write()
 *      first, which, under the file lock, found x protected and not yet
 *      saved for this cut and saved its old value; later writes find it
 *      saved and leave it; the overlay returns the saved value.
 *  (2) The file lock is held across "pread the real file, overlay the
 *      pre-images, release" in journal_cut_read(), and across "find the
 *      protected unsaved part, pread it, save it" in journal_pre_write().
 *      So a concurrent writer's pre_write for x either completed before
 *      the read took the lock (x is in the overlay, whatever the real file
 *      holds by now), or starts after the read dropped it (x is released:
 *      its change no longer concerns this cut).  A write cannot land
 *      between the two halves of either, because the caller calls
 *      pre_write before its write: the only window is "pre_write done,
 *      write not yet done", where the real file and the pre-image agree.
 *  (3) Pre-images are saved once per byte per cut, and only for protected
 *      bytes; a saved extent is freed as soon as all of it is released.
 *  (4) A failure to save a pre-image (ENOMEM, spill I/O error, no spill
 *      directory) never fails the caller's write: the cut is marked not
 *      exact (journal_cut_exact() == 0) and the version must say so.  A
 *      failure to record a dirty range degrades to "the whole file is
 *      dirty" at the next cut (JOURNAL_CUT_FULL), which is still exact.
 *  (5) Byte ranges are clamped: dirty ranges to size_at_cut when cut,
 *      pre-images to [0, size_at_cut); reads past size_at_cut fail with
 *      -EINVAL.
 *
 * The caller's part of invariant E: every change to a file's bytes is
 * reported, journal_pre_write() before it (write, truncate to smaller,
 * fallocate punch/zero, copy_file_range target, O_TRUNC) and
 * journal_wrote()/journal_truncated() after it; and a cut must not fall
 * between a write's pre_write and its wrote, or that write is torn between
 * this version and the next (it is in the next dirty set, but the capture
 * may see some of its bytes).  The overlay does that with a per-inode
 * rwlock: writes hold it shared from pre_write to wrote, a cut takes it
 * exclusive for the journal_cut() call only.  The fd a cut reads from is
 * the caller's and must stay open until journal_cut_done().
 *
 * Locking: one mutex per journal (the key -> file map, the lost-key list)
 * and one per file (its dirty set and cuts, with their released ranges,
 * saved extents and spill file).  Lock order: journal lock, then file
 * lock, never the reverse.  Nothing blocks under either but pread of the
 * real file and pread/pwrite of a cut's spill file.  Counters (stats,
 * memory in use) are atomics.  journal_pre_write() with no active cut on
 * the file is one hash lookup under the journal lock.
 *
 * Errors: 0 or -errno.  No structs are shared across the API but through
 * pointers; nothing here aborts on ENOMEM.
 */
#ifndef BACKUPFS_JOURNAL_H
#define BACKUPFS_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "capture.h"

struct journal;
struct journal_cut;

/* Saved extents are at most this long (one malloc or one spill write). */
#define JOURNAL_EXTENT_MAX	(1u << 20)

/* journal_cut_flags() */
#define JOURNAL_CUT_TRUNCATED	1u	/* journal_truncated() since the last cut */
#define JOURNAL_CUT_CLAMPED	2u	/* a dirty range reached past size_at_cut */
#define JOURNAL_CUT_FULL	4u	/* dirty set lost: ranges = [0, size) */

struct journal_stats {
	uint64_t preimage_bytes;	/* pre-image bytes saved, in total */
	uint64_t spilled_bytes;		/* of which to a spill file */
	uint64_t mem_bytes;		/* pre-image bytes in memory now */
	uint64_t active_cuts;		/* cut, not yet done */
	uint64_t cuts;			/* cuts taken, in total */
	uint64_t failures;		/* pre-images or dirty ranges lost */
};

/*
 * Pre-images are kept in memory up to mem_cap bytes in total; past that
 * they are appended to an unlinked temporary file per cut, created in
 * spill_dirfd (O_TMPFILE, else a random name unlinked at once); -1: no
 * spilling (a pre-image over mem_cap makes its cut not exact).
 * spill_dirfd stays the caller's.  NULL on ENOMEM.
 */
struct journal *journal_new(int spill_dirfd, size_t mem_cap);
/* Every cut must be done first. */
void journal_free(struct journal *j);

/* --- hooks (fs-hooks.h) ------------------------------------------------- */

/*
 * Before bytes [off, off + len) of key's real file are overwritten or
 * discarded: saves the old bytes, read from the cut's fd (or from fd if
 * the cut has none), of every active cut's
 * protected and not yet saved part of the range.  len may run past the
 * end (truncation: len = UINT64_MAX - off).
 */
void journal_pre_write(struct journal *j, uint64_t key, int fd,
		       uint64_t off, uint64_t len);
/* After a write of [off, off + len): adds it to the dirty set. */
void journal_wrote(struct journal *j, uint64_t key, uint64_t off, uint64_t len);
/* After the size was set to new_size: [new_size, end) is dirty. */
void journal_truncated(struct journal *j, uint64_t key, uint64_t new_size);
/* The file is gone (inode forgotten): drops its dirty set.  Cuts stay. */
void journal_forget(struct journal *j, uint64_t key);

/* --- cuts --------------------------------------------------------------- */

/*
 * Cuts key's file at time t with size size_at_cut, read later from fd:
 * the dirty set moves into the cut (clamped to the size) and the file's
 * starts empty; the cut is active until journal_cut_done().  NULL with
 * errno = ENOMEM (nothing changed: the dirty set stays for the next cut).
 */
struct journal_cut *journal_cut(struct journal *j, uint64_t key, uint64_t t,
				uint64_t size_at_cut, int fd);
void journal_cut_set_fd(struct journal_cut *c, int fd);
/* The dirty ranges at the cut, sorted, disjoint, within [0, size). */
const struct capture_range *journal_cut_ranges(const struct journal_cut *c,
					       size_t *n);
uint64_t journal_cut_size(const struct journal_cut *c);
uint64_t journal_cut_time(const struct journal_cut *c);
uint64_t journal_cut_key(const struct journal_cut *c);
unsigned int journal_cut_flags(const struct journal_cut *c);
/* 1, or 0 if a pre-image could not be saved: the version is not exact. */
int journal_cut_exact(const struct journal_cut *c);

/*
 * capture_read_fn: the file's bytes [off, off + len) at the cut into buf
 * (arg is the struct journal_cut *), then releases them.  -EINVAL past
 * size_at_cut, -errno on a read error.  The _ascending variant releases
 * [0, off + len): the reader promises never to read below that again.
 * A released byte read again is whatever the file holds now.
 */
int journal_cut_read(void *cut, uint64_t off, size_t len, void *buf);
int journal_cut_read_ascending(void *cut, uint64_t off, size_t len, void *buf);
/* Releases [off, off + len) unread (capture skipped a clean chunk). */
void journal_cut_release(struct journal_cut *c, uint64_t off, uint64_t len);

/* Frees the cut's pre-images and deregisters it. */
void journal_cut_done(struct journal *j, struct journal_cut *c);

void journal_get_stats(struct journal *j, struct journal_stats *st);

#endif
