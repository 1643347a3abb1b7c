/*
 * fuzz-decompress.c - libFuzzer target for decompress_blob's parser, which
 * reads a frame header's declared size and must believe it only after
 * bounding it.
 *
 * The output buffer is malloc'd at exactly its capacity so that
 * AddressSanitizer sees any byte written past it.  The capacity comes from
 * the input's last two bytes (up to 64 KiB), so that both "fits" and "too
 * small" are reached.
 * Checked on every input:
 *  (1) the result is 0, -EBADMSG or -ENOBUFS (or -ENOMEM), nothing else;
 *  (2) a success reports no more than the capacity;
 *  (3) what decompresses compresses and decompresses back to itself.
 * One compressor is kept for the whole run, as a worker thread would.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "banned.h"
#include "compress.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct compressor z;
	static int ready;
	size_t cap = 1 << 16, len, clen, len2;
	uint8_t *out, *c, *back;
	int err;

	if (!ready) {
		if (compressor_init(&z, 1))
			abort();
		ready = 1;
	}
	if (size >= 2) {
		cap = (size_t)data[size - 2] << 8 | data[size - 1];
		size -= 2;
	}
	out = malloc(cap ? cap : 1);
	if (!out)
		return 0;
	err = compressor_decompress(&z, data, size, out, cap, &len);
	if (err && err != -EBADMSG && err != -ENOBUFS && err != -ENOMEM)
		abort();	/* (1) */
	if (err)
		goto out_free;
	if (len > cap)
		abort();	/* (2) */

	c = malloc(compress_bound(len));
	back = malloc(len ? len : 1);
	if (!c || !back)
		goto out_free2;
	if (compressor_compress(&z, out, len, c, compress_bound(len), &clen) ||
	    compressor_decompress(&z, c, clen, back, len, &len2) ||
	    len2 != len || memcmp(out, back, len))
		abort();	/* (3) */
out_free2:
	free(c);
	free(back);
out_free:
	free(out);
	return 0;
}
