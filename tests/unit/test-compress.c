/*
 * test-compress.c - blob compression (compress.c): round trips, the raw
 * fallback, and malformed input rejected without writing past the buffer.
 * Output buffers carry a canary tail that must survive every call.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "compress.h"
#include "tap.h"

#define CANARY 64

static uint8_t rand8(void)
{
	return (uint8_t)test_rand();
}

/* A buffer of n usable bytes followed by CANARY bytes of 0xC5. */
static uint8_t *guarded(size_t n)
{
	uint8_t *p = malloc(n + CANARY);

	if (!p)
		abort();	/* a test may die on OOM */
	memset(p, 0xC5, n + CANARY);
	return p;
}

static int canary_ok(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < CANARY; i++)
		if (p[n + i] != 0xC5)
			return 0;
	return 1;
}

static size_t make_text(uint8_t *p, size_t n)
{
	static const char words[] =
		"the live tree comes first nothing acknowledged is lost "
		"versions are exact everything in the repository is sealed ";
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)words[(i * 7 + i / 13) % (sizeof(words) - 1)];
	return n;
}

/*
 * Offset and width of the Frame_Content_Size field of the zstd frame at f
 * (RFC 8878 §3.1.1.1), or -1 if the frame has none.
 */
static int fcs_field(const uint8_t *f, size_t *off, size_t *width)
{
	static const size_t did[4] = { 0, 1, 2, 4 };
	uint8_t fhd = f[4];
	int single = (fhd >> 5) & 1;
	static const size_t fcs[4] = { 0, 2, 4, 8 };

	*off = 5 + (single ? 0 : 1) + did[fhd & 3];
	*width = (fhd >> 6) == 0 ? (single ? 1 : 0) : fcs[fhd >> 6];
	return *width ? 0 : -1;
}

static void add_to_fcs(uint8_t *f, long delta)
{
	size_t off, width;
	uint64_t v = 0;

	if (fcs_field(f, &off, &width))
		return;
	for (size_t i = 0; i < width; i++)
		v |= (uint64_t)f[off + i] << (8 * i);
	v += (uint64_t)delta;
	for (size_t i = 0; i < width; i++)
		f[off + i] = (uint8_t)(v >> (8 * i));
}

static void test_round_trips(void)
{
	const size_t n = 256 << 10;
	uint8_t *text = guarded(n), *rnd = guarded(n);
	uint8_t *c = guarded(compress_bound(n)), *d = guarded(n);
	size_t clen, dlen;
	struct compressor z;
	int all = 1, err;

	make_text(text, n);
	for (size_t i = 0; i < n; i++)
		rnd[i] = rand8();

	ok(compress_bound(100) == 101 && compress_bound(SIZE_MAX) == 0,
	   "compress_bound is inlen + 1 (0 on overflow)");
	err = compress_blob(0, text, n, c, compress_bound(n), &clen);
	ok(err == 0 && c[0] == COMPRESS_ZSTD && clen < n / 10,
	   "text compresses with zstd (%zu -> %zu bytes)", n, clen);
	ok(decompress_blob(c, clen, d, n, &dlen) == 0 && dlen == n &&
	   !memcmp(d, text, n), "text round trip");
	err = compress_blob(3, rnd, n, c, compress_bound(n), &clen);
	ok(err == 0 && c[0] == COMPRESS_RAW && clen == n + 1,
	   "random data is stored raw (header + %zu bytes)", clen - 1);
	ok(decompress_blob(c, clen, d, n, &dlen) == 0 && dlen == n &&
	   !memcmp(d, rnd, n), "random data round trip");
	ok(compress_blob(3, NULL, 0, c, 1, &clen) == 0 && clen == 1 &&
	   c[0] == COMPRESS_RAW &&
	   decompress_blob(c, clen, NULL, 0, &dlen) == 0 && dlen == 0,
	   "an empty blob is one raw header byte and round-trips");
	ok(compress_blob(3, "x", 1, c, 2, &clen) == 0 && clen == 2 &&
	   c[0] == COMPRESS_RAW && decompress_blob(c, clen, d, 1, &dlen) == 0 &&
	   dlen == 1 && d[0] == 'x', "a one-byte blob round-trips raw");

	ok(compress_blob(ZSTD_maxCLevel() + 1, text, n, c, n + 1, &clen) ==
	   -EINVAL, "a level above zstd's maximum: -EINVAL");
	ok(compress_blob(-5, text, n, c, n + 1, &clen) == 0 &&
	   c[0] == COMPRESS_ZSTD && decompress_blob(c, clen, d, n, &dlen) == 0 &&
	   dlen == n && !memcmp(d, text, n), "a negative (fast) level works");
	ok(compress_blob(19, text, 4096, c, 4097, &clen) == 0 &&
	   decompress_blob(c, clen, d, 4096, &dlen) == 0 && dlen == 4096 &&
	   !memcmp(d, text, 4096), "level 19 works");

	ok(compressor_init(&z, 0) == 0 && z.level == COMPRESS_LEVEL_DEFAULT,
	   "a compressor with level 0 gets the default level 3");
	for (size_t len = 1; len < n; len = len * 3 + 1) {
		const uint8_t *src = (len & 1) ? rnd : text;

		if (compressor_compress(&z, src, len, c, compress_bound(len),
					&clen) ||
		    compressor_decompress(&z, c, clen, d, len, &dlen) ||
		    dlen != len || memcmp(d, src, len) || clen > len + 1)
			all = 0;
	}
	ok(all, "one compressor reused for many sizes round-trips them all");
	compressor_release(&z);
	compressor_release(&z);
	ok(z.cctx == NULL && z.dctx == NULL, "release is idempotent");
	ok(canary_ok(c, compress_bound(n)) && canary_ok(d, n),
	   "no write past any buffer");
	free(text);
	free(rnd);
	free(c);
	free(d);
}

static void test_malformed(void)
{
	const size_t n = 100000;	/* a 4-byte content size field */
	uint8_t *text = guarded(n), *c = guarded(n + 1), *bad = guarded(n + 64);
	uint8_t *d = guarded(n + 64);
	size_t clen, dlen, off, width;
	int err, trunc_ok = 1, hdr_ok = 1, flips_safe = 1;
	ZSTD_CCtx *cctx;

	make_text(text, n);
	compress_blob(3, text, n, c, n + 1, &clen);

	for (int bit = 1; bit < 8; bit++) {
		memcpy(bad, c, clen);
		bad[0] ^= (uint8_t)(1u << bit);
		if (decompress_blob(bad, clen, d, n, &dlen) != -EBADMSG)
			hdr_ok = 0;
	}
	ok(hdr_ok, "a header byte other than 0 or 1: -EBADMSG");
	memcpy(bad, c, clen);
	bad[0] = COMPRESS_RAW;
	ok(decompress_blob(bad, clen, d, n, &dlen) == 0 && dlen == clen - 1,
	   "(header 1 -> 0 reads the frame as raw bytes: only the AEAD tag "
	   "catches that flip)");

	for (size_t len = 0; len < clen; len++)
		if (decompress_blob(c, len, d, n, &dlen) != -EBADMSG)
			trunc_ok = 0;
	ok(trunc_ok, "every truncation of a zstd blob: -EBADMSG");

	memcpy(bad, c, clen);
	bad[clen] = 0;
	ok(decompress_blob(bad, clen + 1, d, n + 64, &dlen) == -EBADMSG,
	   "a trailing byte after the frame: -EBADMSG");
	memcpy(bad, c, clen);
	memcpy(bad + clen, c + 1, clen - 1);
	ok(decompress_blob(bad, 2 * clen - 1, d, n + 64, &dlen) == -EBADMSG,
	   "two frames in one blob: -EBADMSG");

	ok(fcs_field(c + 1, &off, &width) == 0 && width == 4,
	   "the test frame declares its size in 4 bytes");
	memcpy(bad, c, clen);
	add_to_fcs(bad + 1, -1);
	ok(decompress_blob(bad, clen, d, n + 64, &dlen) == -EBADMSG &&
	   canary_ok(d, n + 64),
	   "a declared size one short of the truth: -EBADMSG");
	memcpy(bad, c, clen);
	add_to_fcs(bad + 1, 1);
	ok(decompress_blob(bad, clen, d, n + 64, &dlen) == -EBADMSG,
	   "a declared size one beyond the truth: -EBADMSG");
	memcpy(bad, c, clen);
	add_to_fcs(bad + 1, 1 << 30);
	ok(decompress_blob(bad, clen, d, n + 64, &dlen) == -ENOBUFS &&
	   canary_ok(d, n + 64),
	   "a declared size of 1 GiB against a 100 kB buffer: -ENOBUFS, "
	   "nothing written");

	memset(d, 0xC5, n + 64 + CANARY);
	ok(decompress_blob(c, clen, d, n - 1, &dlen) == -ENOBUFS &&
	   canary_ok(d, n - 1), "zstd blob, outcap one short: -ENOBUFS");
	ok(decompress_blob(c, clen, d, 0, &dlen) == -ENOBUFS &&
	   canary_ok(d, 0), "zstd blob, outcap 0: -ENOBUFS");
	bad[0] = COMPRESS_RAW;
	memset(bad + 1, 'r', 100);
	ok(decompress_blob(bad, 101, d, 99, &dlen) == -ENOBUFS &&
	   canary_ok(d, 99), "raw blob, outcap one short: -ENOBUFS");
	ok(decompress_blob(bad, 0, d, 99, &dlen) == -EBADMSG,
	   "an empty blob: -EBADMSG");

	/* zstd frames that are valid zstd but not our format. */
	cctx = ZSTD_createCCtx();
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 0);
	bad[0] = COMPRESS_ZSTD;
	clen = ZSTD_compress2(cctx, bad + 1, n, text, n);
	ZSTD_freeCCtx(cctx);
	ok(!ZSTD_isError(clen) &&
	   decompress_blob(bad, clen + 1, d, n, &dlen) == -EBADMSG,
	   "a frame without a content size: -EBADMSG");
	/* Skippable frame: magic 0x184D2A50, u32 LE length, that many bytes. */
	memcpy(bad, "\x01\x50\x2a\x4d\x18\x64\x00\x00\x00", 9);
	memcpy(bad + 9, text, 100);
	ok(decompress_blob(bad, 109, d, n, &dlen) == -EBADMSG,
	   "a skippable frame: -EBADMSG");

	/* Compressing into too little room. */
	memset(c, 0xC5, n + 1 + CANARY);
	ok(compress_blob(3, text, n, c, 10, &clen) == -ENOBUFS &&
	   canary_ok(c, 10), "compress text into 10 bytes: -ENOBUFS");
	for (size_t i = 0; i < n; i++)
		text[i] = rand8();
	memset(c, 0xC5, n + 1 + CANARY);
	ok(compress_blob(3, text, n, c, n, &clen) == -ENOBUFS && canary_ok(c, n),
	   "random data into inlen bytes (raw needs inlen + 1): -ENOBUFS");
	ok(compress_blob(3, text, n, c, 0, &clen) == -ENOBUFS,
	   "into 0 bytes: -ENOBUFS");

	/* Every bit flip of a small zstd blob: an error or in-bounds data. */
	make_text(text, 3000);
	compress_blob(3, text, 3000, c, 3001, &clen);
	for (size_t b = 8; b < clen * 8; b++) {
		memcpy(bad, c, clen);
		bad[b / 8] ^= (uint8_t)(1u << (b % 8));
		memset(d, 0xC5, 3000 + CANARY);
		err = decompress_blob(bad, clen, d, 3000, &dlen);
		if (!canary_ok(d, 3000) || (err == 0 && dlen > 3000) ||
		    (err && err != -EBADMSG && err != -ENOBUFS))
			flips_safe = 0;
	}
	ok(flips_safe, "all %zu bit flips of the frame fail cleanly or stay "
	   "in bounds", clen * 8 - 8);

	free(text);
	free(c);
	free(bad);
	free(d);
}

int main(void)
{
	test_round_trips();
	test_malformed();
	return tap_done();
}
