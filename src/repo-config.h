/*
 * repo-config.h - the repository's "config" object: its id, format version
 * and the parameters every writer must share (chunker sizes, pack size,
 * compression, storage class).
 *
 * Stored sealed under the master key (associated data "config\0"), so it is
 * authenticated; the plaintext is a few lines of text, one key per line,
 * which repo_config_parse() reads strictly: every key exactly once, nothing
 * unknown, every number in range.  The parser is fuzzed (fuzz/fuzz-config.c)
 * because a config read back is data from untrusted storage even after its
 * seal checks out (a bug or an old version could have written it).
 *
 *	backupfs-repository 1
 *	id <64 hex digits>
 *	chunker <min> <avg> <max>
 *	pack-size <bytes>
 *	compression zstd <level>
 *	storage-class <NAME>
 */
#ifndef BACKUPFS_REPO_CONFIG_H
#define BACKUPFS_REPO_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define REPO_CONFIG_FORMAT	1
#define REPO_CONFIG_MAX		1024	/* bytes of plaintext, at most */

struct repo_config {
	unsigned format;
	uint8_t id[32];
	uint32_t chunk_min, chunk_avg, chunk_max;
	uint32_t pack_size;
	int zstd_level;
	char storage_class[32];
};

/* Defaults and a fresh random id. */
void repo_config_defaults(struct repo_config *c);

/* Writes the text form; returns its length or -ENOBUFS. */
int repo_config_format(const struct repo_config *c, char *buf, size_t len);

/* Parses the text form; 0, or -EBADMSG for anything not exactly right. */
int repo_config_parse(const char *text, size_t len, struct repo_config *c);

#endif
