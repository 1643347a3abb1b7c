/*
 * state.h - where a protected directory's state lives, and how a verb finds
 * it from the directory alone.
 *
 * The state root is /var/lib/backupfs for root, $XDG_STATE_HOME/backupfs
 * (or ~/.local/state/backupfs) otherwise.  Under it: one state directory
 * per SOURCE, named like the runtime files ("srv-data-1a2b3c4d"), the default
 * repositories under repos/, and "registry": lines "SOURCE<TAB>STATE-DIR"
 * that let "backupfs mount SOURCE" find its state.  The registry is
 * rewritten whole (temporary file + rename) under an flock.
 */
#ifndef BACKUPFS_STATE_H
#define BACKUPFS_STATE_H

#include <stddef.h>

int state_root(char *buf, size_t len);
/* Default state directory and repository URL for a canonical SOURCE. */
int state_default_dir(const char *source, char *buf, size_t len);
int state_default_repo(const char *source, char *buf, size_t len);

/* The state directory registered for SOURCE: 0, or -ENOENT. */
int registry_lookup(const char *source, char *state, size_t len);
int registry_add(const char *source, const char *state);

#endif
