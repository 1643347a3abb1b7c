/*
 * fuzz-config.c - libFuzzer target for repo_config_parse() (the repository
 * config's plaintext, src/repo-config.h).  Beyond "does not crash": what
 * parses must format back to exactly the same bytes (the format has one
 * spelling), and the values must be inside the ranges the parser promises.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chunker.h"
#include "repo-config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct repo_config c;
	char buf[REPO_CONFIG_MAX + 1];
	int n;

	if (repo_config_parse((const char *)data, size, &c) != 0)
		return 0;
	if (c.chunk_min >= c.chunk_avg || c.chunk_avg >= c.chunk_max ||
	    c.chunk_max > CHUNKER_MAX_MAX || c.zstd_level < 1 ||
	    c.zstd_level > 19 || c.pack_size < (1u << 20))
		abort();
	n = repo_config_format(&c, buf, sizeof(buf));
	if (n < 0 || (size_t)n != size || memcmp(buf, data, size) != 0)
		abort();
	return 0;
}
