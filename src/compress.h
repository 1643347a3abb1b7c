/*
 * compress.h - zstd compression of blobs, stored raw when it does not pay.
 *
 * Every chunk is compressed before it is sealed (crypto.h); pack indexes
 * are not (their ids are random and they are padded, see pack.h).  So the
 * bytes this module reads back were authenticated first;
 * it still treats them as untrusted, because a bug elsewhere, a fuzzer or a
 * future unauthenticated path must not turn into a buffer overrun.
 *
 * Compressed blob format:
 *
 *	0x00 || raw bytes                    stored as is
 *	0x01 || one zstd frame               with its content size declared
 *
 * Any other first byte is an error, as is an empty blob, a frame without a
 * content size, more than one frame or trailing bytes, and a frame whose
 * decompressed length differs from what it declared.  The content size is
 * checked against the caller's buffer before a byte is decompressed.  zstd's
 * own checksum is off: the AEAD tag already covers every byte.
 *
 * A compressor holds zstd contexts.  Making a context costs an allocation
 * and, for compression, zeroing tables of up to a few MiB at high levels, so
 * a thread that compresses many blobs keeps one struct compressor and reuses
 * it; contexts are made on first use, so a reader never pays for a CCtx.  A
 * compressor is not thread-safe: one per thread.  compress_blob() and
 * decompress_blob() make and free a context per call, for tests, tools and
 * rare callers.
 *
 * zstd's size_t error codes are mapped to errno in one place (compress.c):
 * -EBADMSG for malformed input, -ENOBUFS when the output does not fit,
 * -ENOMEM, -EINVAL for a bad level.  Functions return 0 or -errno.
 */
#ifndef BACKUPFS_COMPRESS_H
#define BACKUPFS_COMPRESS_H

#include <stddef.h>

#define COMPRESS_LEVEL_DEFAULT	3

#define COMPRESS_RAW		0x00	/* first byte of a compressed blob */
#define COMPRESS_ZSTD		0x01

struct ZSTD_CCtx_s;
struct ZSTD_DCtx_s;

struct compressor {
	struct ZSTD_CCtx_s *cctx;	/* made on first compression */
	struct ZSTD_DCtx_s *dctx;	/* made on first decompression */
	int level;
};

/*
 * level: a zstd level from ZSTD_minCLevel() (negative, fastest) to
 * ZSTD_maxCLevel(); 0 means COMPRESS_LEVEL_DEFAULT.  -EINVAL otherwise.
 */
int compressor_init(struct compressor *c, int level);
void compressor_release(struct compressor *c);

/*
 * Largest output of compressing inlen bytes (header included): size out
 * with this and compression never fails for want of room.  0 if inlen is so
 * large that the bound does not fit in a size_t.
 */
size_t compress_bound(size_t inlen);

/*
 * Compresses in into out.  Stores raw when zstd does not make it smaller;
 * that needs outcap >= inlen + 1, and if outcap is smaller and zstd cannot
 * fit, -ENOBUFS.
 */
int compressor_compress(struct compressor *c, const void *in, size_t inlen,
			void *out, size_t outcap, size_t *outlen);

/*
 * Decompresses a blob made by compressor_compress() into out.  -EBADMSG if
 * it is malformed (see the format above), -ENOBUFS if its declared content
 * does not fit in outcap; nothing is written past outcap.  A caller that
 * sized out from a length it trusts (a pack index entry) should read
 * -ENOBUFS as corruption too, never as a hint to retry with more room.
 */
int compressor_decompress(struct compressor *c, const void *in, size_t inlen,
			  void *out, size_t outcap, size_t *outlen);

/* The same with a context made and freed for this one call. */
int compress_blob(int level, const void *in, size_t inlen,
		  void *out, size_t outcap, size_t *outlen);
int decompress_blob(const void *in, size_t inlen,
		    void *out, size_t outcap, size_t *outlen);

#endif
