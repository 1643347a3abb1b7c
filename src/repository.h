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

struct repository {
	struct repo *repo;
	struct master_key *mk;
	struct repo_config cfg;
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

#endif
