/*
 * repo-config.c - see repo-config.h.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "banned.h"
#include "chunker.h"
#include "repo-config.h"

void repo_config_defaults(struct repo_config *c)
{
	memset(c, 0, sizeof(*c));
	c->format = REPO_CONFIG_FORMAT;
	randombytes_buf(c->id, sizeof(c->id));
	c->chunk_min = CHUNKER_DEFAULT_MIN;
	c->chunk_avg = CHUNKER_DEFAULT_AVG;
	c->chunk_max = CHUNKER_DEFAULT_MAX;
	c->pack_size = 16u << 20;
	c->zstd_level = 3;
	memcpy(c->storage_class, "STANDARD", 9);
}

int repo_config_format(const struct repo_config *c, char *buf, size_t len)
{
	char hex[65];
	int n;

	sodium_bin2hex(hex, sizeof(hex), c->id, sizeof(c->id));
	n = snprintf(buf, len,
		     "backupfs-repository %u\n"
		     "id %s\n"
		     "chunker %u %u %u\n"
		     "pack-size %u\n"
		     "compression zstd %d\n"
		     "storage-class %s\n",
		     c->format, hex, c->chunk_min, c->chunk_avg, c->chunk_max,
		     c->pack_size, c->zstd_level, c->storage_class);
	if (n < 0 || (size_t)n >= len)
		return -ENOBUFS;
	return n;
}

/* A decimal number without sign or leading zeros, at most max. */
static int number(const char **p, const char *end, uint64_t max, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;

	if (s >= end || *s < '0' || *s > '9' || (*s == '0' && s + 1 < end &&
						 s[1] >= '0' && s[1] <= '9'))
		return -EBADMSG;
	for (; s < end && *s >= '0' && *s <= '9'; s++) {
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > max)
			return -EBADMSG;
	}
	*p = s;
	*out = v;
	return 0;
}

static int word(const char **p, const char *end, const char *w)
{
	size_t n = strlen(w);

	if ((size_t)(end - *p) < n || memcmp(*p, w, n) != 0)
		return -EBADMSG;
	*p += n;
	return 0;
}

enum { K_ID = 1, K_CHUNKER = 2, K_PACK = 4, K_COMP = 8, K_CLASS = 16,
       K_ALL = 31 };

static int parse_line(const char *s, const char *end, struct repo_config *c,
		      unsigned *seen)
{
	uint64_t a, b, d;

	if (word(&s, end, "id ") == 0) {
		if (*seen & K_ID || end - s != 64)
			return -EBADMSG;
		/* Lower-case only: the text has exactly one spelling. */
		for (int i = 0; i < 64; i++)
			if (!((s[i] >= '0' && s[i] <= '9') ||
			      (s[i] >= 'a' && s[i] <= 'f')))
				return -EBADMSG;
		if (sodium_hex2bin(c->id, sizeof(c->id), s, 64, NULL, NULL,
				   NULL) != 0)
			return -EBADMSG;
		*seen |= K_ID;
		return 0;
	}
	if (word(&s, end, "chunker ") == 0) {
		if (*seen & K_CHUNKER || number(&s, end, CHUNKER_MAX_MAX, &a) ||
		    word(&s, end, " ") || number(&s, end, CHUNKER_MAX_MAX, &b) ||
		    word(&s, end, " ") || number(&s, end, CHUNKER_MAX_MAX, &d) ||
		    s != end)
			return -EBADMSG;
		/* The chunker's own rules: min < avg < max, avg a power of 2. */
		if (a < CHUNKER_MIN_MIN || b < CHUNKER_MIN_AVG || !(a < b) ||
		    !(b < d) || (b & (b - 1)) != 0)
			return -EBADMSG;
		c->chunk_min = (uint32_t)a;
		c->chunk_avg = (uint32_t)b;
		c->chunk_max = (uint32_t)d;
		*seen |= K_CHUNKER;
		return 0;
	}
	if (word(&s, end, "pack-size ") == 0) {
		if (*seen & K_PACK || number(&s, end, 1ULL << 30, &a) || s != end ||
		    a < (1u << 20))
			return -EBADMSG;
		c->pack_size = (uint32_t)a;
		*seen |= K_PACK;
		return 0;
	}
	if (word(&s, end, "compression zstd ") == 0) {
		if (*seen & K_COMP || number(&s, end, 19, &a) || s != end || a < 1)
			return -EBADMSG;
		c->zstd_level = (int)a;
		*seen |= K_COMP;
		return 0;
	}
	if (word(&s, end, "storage-class ") == 0) {
		size_t n = (size_t)(end - s);

		if (*seen & K_CLASS || n == 0 || n >= sizeof(c->storage_class))
			return -EBADMSG;
		for (size_t i = 0; i < n; i++)
			if (!((s[i] >= 'A' && s[i] <= 'Z') || s[i] == '_' ||
			      (s[i] >= '0' && s[i] <= '9')))
				return -EBADMSG;
		memcpy(c->storage_class, s, n);
		c->storage_class[n] = '\0';
		*seen |= K_CLASS;
		return 0;
	}
	return -EBADMSG;
}

int repo_config_parse(const char *text, size_t len, struct repo_config *out)
{
	struct repo_config c;
	const char *p = text, *end = text + len, *nl;
	unsigned seen = 0;
	uint64_t v;

	if (len == 0 || len > REPO_CONFIG_MAX || text[len - 1] != '\n')
		return -EBADMSG;
	memset(&c, 0, sizeof(c));
	nl = memchr(p, '\n', len);
	if (word(&p, nl, "backupfs-repository ") ||
	    number(&p, nl, 1000, &v) || p != nl || v != REPO_CONFIG_FORMAT)
		return -EBADMSG;
	c.format = (unsigned)v;
	for (p = nl + 1; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl || parse_line(p, nl, &c, &seen) < 0)
			return -EBADMSG;
	}
	if (seen != K_ALL)
		return -EBADMSG;
	*out = c;
	return 0;
}
