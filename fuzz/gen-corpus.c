/*
 * gen-corpus.c - writes the seed corpora under fuzz/corpus/: a few valid
 * inputs and the malformed ones the unit tests name, so that each fuzzer
 * starts from the interesting structure instead of rediscovering a magic
 * number and a zstd frame header.  Run once; the files are kept in git.
 *
 *	gen-corpus fuzz/corpus
 *
 * Key slots use FUZZ_PASSWORD and the minimum Argon2 limits, like
 * fuzz-keyfile.c.  A decompress input is a blob followed by the two-byte
 * big-endian output capacity that fuzz-decompress.c reads off its end.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "banned.h"
#include "compress.h"
#include "crypto.h"

#define FUZZ_PASSWORD	"fuzz"	/* as in fuzz-keyfile.c */

static const char *dir;

static void put(const char *sub, const char *name, const void *p, size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, name);
	f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n || fclose(f)) {
		perror(path);
		exit(1);
	}
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void keyfiles(void)
{
	struct master_key k;
	uint8_t *file, bad[CRYPTO_KEYFILE_BYTES];
	size_t len;

	crypto_master_key_generate(&k);
	if (crypto_key_wrap(&k, FUZZ_PASSWORD, strlen(FUZZ_PASSWORD),
			    CRYPTO_KEY_OPSLIMIT_TEST, CRYPTO_KEY_MEMLIMIT_TEST,
			    &file, &len))
		exit(1);
	put("keyfile", "valid-fuzz-password", file, len);
	memcpy(bad, file, len);
	put_le64(bad + 16, 1ULL << 40);
	put("keyfile", "memlimit-1tib", bad, len);
	memcpy(bad, file, len);
	put_le64(bad + 8, 0);
	put("keyfile", "opslimit-zero", bad, len);
	memcpy(bad, file, len);
	bad[len - 1] ^= 1;
	put("keyfile", "flipped-tag", bad, len);
	put("keyfile", "truncated", file, len - 1);
	put("keyfile", "magic-only", file, 8);
	free(file);
	if (crypto_key_wrap(&k, "not-the-fuzz-password", 21,
			    CRYPTO_KEY_OPSLIMIT_TEST, CRYPTO_KEY_MEMLIMIT_TEST,
			    &file, &len))
		exit(1);
	put("keyfile", "other-password", file, len);
	free(file);
	crypto_master_key_wipe(&k);
}

static void blob(const char *name, const uint8_t *p, size_t n, size_t cap)
{
	uint8_t buf[4096];

	memcpy(buf, p, n);
	buf[n] = (uint8_t)(cap >> 8);
	buf[n + 1] = (uint8_t)cap;
	put("decompress", name, buf, n + 2);
}

static void blobs(void)
{
	static const char text[] =
		"the live tree comes first; nothing acknowledged is lost; "
		"the live tree comes first; nothing acknowledged is lost; "
		"versions are exact; versions are exact; versions are exact";
	uint8_t c[1024], two[2048];
	size_t clen;

	if (compress_blob(3, text, sizeof(text), c, sizeof(c), &clen) ||
	    c[0] != COMPRESS_ZSTD)
		exit(1);
	blob("zstd-text", c, clen, sizeof(text));
	blob("zstd-text-cap-short", c, clen, sizeof(text) - 1);
	blob("zstd-truncated", c, clen - 3, sizeof(text));
	memcpy(two, c, clen);
	memcpy(two + clen, c + 1, clen - 1);
	blob("zstd-two-frames", two, 2 * clen - 1, 2 * sizeof(text));
	c[6] ^= 0x10;	/* inside the frame header */
	blob("zstd-header-flip", c, clen, sizeof(text));
	compress_blob(3, "raw!", 4, c, sizeof(c), &clen);
	blob("raw", c, clen, 16);
	blob("raw-empty", (const uint8_t *)"", 1, 0);
	blob("zstd-magic-only", (const uint8_t *)"\x01\x28\xb5\x2f\xfd", 5, 100);
	blob("skippable", (const uint8_t *)"\x01\x50\x2a\x4d\x18\x02\0\0\0ab",
	     11, 100);
	blob("bad-header", (const uint8_t *)"\x02hello", 6, 100);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS-DIR\n", argv[0]);
		return 2;
	}
	dir = argv[1];
	if (crypto_init())
		return 1;
	keyfiles();
	blobs();
	return 0;
}
