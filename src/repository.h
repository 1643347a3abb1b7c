/*
 * repository.h - an unlocked repository: the backend, the master key and
 * the authenticated config.
 *
 * Creating one (backupfs init) lays out the backend, makes a random master
 * key, wraps it in a first key slot (keys/<16 hex>) under the password, and
 * puts the config sealed under the master key.  Opening one reads the
 * config, tries the password on every key slot (each try costs one Argon2
 * run, about a second with the default limits), and opens the config with
 * the key that unwrapped: only then is the repository known to be this one
 * (a slot copied from another repository unwraps, but its key cannot open
 * this config, and that is said so).
 *
 * Every failure comes back as -errno with one line for the user in err that
 * names the repository URL and, where it helps, the object:
 *   -ENOENT   no repository there (no config)        -> run 'backupfs init'
 *   -EEXIST   create over an existing repository
 *   -EACCES   no key slot opens with this password
 *   -EBADMSG  config or key slot corrupt or modified (authentication failed)
 */
#ifndef BACKUPFS_REPOSITORY_H
#define BACKUPFS_REPOSITORY_H

#include <stddef.h>

#include "crypto.h"
#include "repo-config.h"
#include "repo.h"

/* A key slot's id: its object name after "keys/" (init makes 16 hex). */
#define REPOSITORY_SLOT_ID_MAX	256

struct repository {
	struct repo *repo;
	struct master_key *mk;
	struct repo_config cfg;
	/*
	 * The id of the key slot the password opened (the first slot after
	 * create), "" once repository_key_remove() took it away: what
	 * "backupfs key" marks and what "key passwd" removes.
	 */
	char slot[REPOSITORY_SLOT_ID_MAX];
};

/* Argon2id limits for new key slots (tests use the minimum). */
struct repository_kdf {
	unsigned long long opslimit;
	size_t memlimit;
};

int repository_create(const char *url, const char *password, size_t pwlen,
		      const struct repo_config *cfg,
		      const struct repository_kdf *kdf,
		      struct repository **out, char *err, size_t errlen);

int repository_open(const char *url, const char *password, size_t pwlen,
		    struct repository **out, char *err, size_t errlen);

void repository_close(struct repository *r);

/*
 * Key slot management ("backupfs key").  Every slot wraps the same master
 * secret, so adding or removing one never touches the data.  These work on
 * an open repository (the password already proved) and, like the rest,
 * return 0 or -errno with one line for the user in err.
 *
 * Not safe against a second "backupfs key" on the same repository at the
 * same moment (two removes could each leave the other's slot as the last):
 * the repository has no lock yet.  A running daemon is not affected, it
 * keeps the master key in memory.
 */
struct repository_slot {
	char id[REPOSITORY_SLOT_ID_MAX];
	int valid;			/* well-formed (crypto_key_inspect) */
	int opened;			/* the slot r->slot names */
	unsigned long long opslimit;	/* Argon2id limits, when valid */
	size_t memlimit;
};

/*
 * Every object under keys/, sorted by id, into *out (malloc'd, the caller
 * frees it; NULL when there are none) and *n.  A slot too big or malformed
 * to be one is listed with valid = 0 rather than hidden, so it can be seen
 * and removed.  No Argon2 runs.
 */
int repository_key_list(struct repository *r, struct repository_slot **out,
			size_t *n, char *err, size_t errlen);

/*
 * Wraps r's master secret under password with kdf's limits into a new slot
 * keys/<16 random hex> (an id not in use), put atomically, then read back
 * and compared so that a slot that did not land intact is reported (and
 * deleted) here rather than found out at the next unlock.  The new id goes
 * to id (idlen >= 17).  -EINVAL for an empty password or limits out of
 * bounds; backend errors as they come.
 */
int repository_key_add(struct repository *r, const char *password,
		       size_t pwlen, const struct repository_kdf *kdf,
		       char *id, size_t idlen, char *err, size_t errlen);

/*
 * Deletes key slot keys/<id>, unless that would leave no well-formed slot:
 * the last usable slot locks everyone out with it.  The slot r was opened
 * with may go when another usable one remains (r->slot becomes ""; the
 * caller should say that this password no longer opens the repository).
 *   -EINVAL  id is not a slot id ("keys/<id>" is not a valid name)
 *   -ENOENT  no such slot
 *   -EPERM   it is the last usable slot
 */
int repository_key_remove(struct repository *r, const char *id, char *err,
			  size_t errlen);

#endif
