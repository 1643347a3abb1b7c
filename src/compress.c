/*
 * compress.c - see compress.h for the blob format and the context policy.
 *
 * Storing raw is decided by zstd itself: the frame is compressed into room
 * for inlen - 1 bytes, and if it does not fit (dstSize_tooSmall) the blob is
 * stored raw.  So no blob ever grows by more than its one header byte,
 * compress_bound() is simply inlen + 1, and we never compress twice.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <zstd.h>
#include <zstd_errors.h>

#include "banned.h"
#include "compress.h"

/* The one place zstd's error codes become errno. */
static int zstd_errno(size_t rc)
{
	switch (ZSTD_getErrorCode(rc)) {
	case ZSTD_error_no_error:
		return 0;
	case ZSTD_error_memory_allocation:
		return -ENOMEM;
	case ZSTD_error_dstSize_tooSmall:
		return -ENOBUFS;
	case ZSTD_error_parameter_unsupported:
	case ZSTD_error_parameter_combination_unsupported:
	case ZSTD_error_parameter_outOfBound:
		return -EINVAL;
	default:
		/* corruption, checksum, truncated input, unknown frame... */
		return -EBADMSG;
	}
}

int compressor_init(struct compressor *c, int level)
{
	if (level == 0)
		level = COMPRESS_LEVEL_DEFAULT;
	if (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel())
		return -EINVAL;
	c->cctx = NULL;
	c->dctx = NULL;
	c->level = level;
	return 0;
}

void compressor_release(struct compressor *c)
{
	ZSTD_freeCCtx(c->cctx);		/* both accept NULL */
	ZSTD_freeDCtx(c->dctx);
	c->cctx = NULL;
	c->dctx = NULL;
}

static int get_cctx(struct compressor *c)
{
	ZSTD_CCtx *cctx;
	size_t rc;

	if (c->cctx)
		return 0;
	cctx = ZSTD_createCCtx();
	if (!cctx)
		return -ENOMEM;
	/*
	 * Spelled out rather than left to zstd's defaults, because they are
	 * the format: the reader requires the content size.
	 */
	rc = ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, c->level);
	if (!ZSTD_isError(rc))
		rc = ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1);
	if (!ZSTD_isError(rc))
		rc = ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 0);
	if (ZSTD_isError(rc)) {
		ZSTD_freeCCtx(cctx);
		return zstd_errno(rc);
	}
	c->cctx = cctx;
	return 0;
}

size_t compress_bound(size_t inlen)
{
	return inlen == SIZE_MAX ? 0 : inlen + 1;
}

int compressor_compress(struct compressor *c, const void *in, size_t inlen,
			void *out, size_t outcap, size_t *outlen)
{
	uint8_t *o = out;
	size_t room, rc;
	int err;

	if (outcap == 0)
		return -ENOBUFS;
	if (inlen > 1 && outcap > 1) {
		err = get_cctx(c);
		if (err)
			return err;
		/* Room for strictly less than inlen: zstd must shrink it. */
		room = outcap - 1 < inlen - 1 ? outcap - 1 : inlen - 1;
		rc = ZSTD_compress2(c->cctx, o + 1, room, in, inlen);
		if (!ZSTD_isError(rc)) {
			o[0] = COMPRESS_ZSTD;
			*outlen = rc + 1;
			return 0;
		}
		err = zstd_errno(rc);
		if (err != -ENOBUFS)
			return err;
	}
	if (outcap - 1 < inlen)
		return -ENOBUFS;
	o[0] = COMPRESS_RAW;
	if (inlen)
		memcpy(o + 1, in, inlen);
	*outlen = inlen + 1;
	return 0;
}

static int decompress_frame(struct compressor *c, const uint8_t *in,
			    size_t inlen, void *out, size_t outcap,
			    size_t *outlen)
{
	unsigned long long size;
	size_t rc;
	int err;

	/*
	 * Believe nothing yet: one real zstd frame (not a skippable or legacy
	 * one), a declared content size that fits, and a frame that ends
	 * exactly where the blob does.
	 */
	if (inlen < 4 || (in[0] | in[1] << 8 | in[2] << 16 |
			  (uint32_t)in[3] << 24) != ZSTD_MAGICNUMBER)
		return -EBADMSG;
	size = ZSTD_getFrameContentSize(in, inlen);
	if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN)
		return -EBADMSG;
	if (size > outcap)
		return -ENOBUFS;
	rc = ZSTD_findFrameCompressedSize(in, inlen);
	if (ZSTD_isError(rc) || rc != inlen)
		return -EBADMSG;

	if (!c->dctx) {
		c->dctx = ZSTD_createDCtx();
		if (!c->dctx)
			return -ENOMEM;
	}
	/* Room for the declared size only: a frame that lies cannot spill. */
	rc = ZSTD_decompressDCtx(c->dctx, out, (size_t)size, in, inlen);
	err = zstd_errno(rc);
	if (err == -ENOBUFS)
		return -EBADMSG;	/* it decoded to more than it declared */
	if (err)
		return err;
	if (rc != size)
		return -EBADMSG;
	*outlen = rc;
	return 0;
}

int compressor_decompress(struct compressor *c, const void *in, size_t inlen,
			  void *out, size_t outcap, size_t *outlen)
{
	const uint8_t *i = in;

	if (inlen == 0)
		return -EBADMSG;
	switch (i[0]) {
	case COMPRESS_RAW:
		if (inlen - 1 > outcap)
			return -ENOBUFS;
		if (inlen > 1)
			memcpy(out, i + 1, inlen - 1);
		*outlen = inlen - 1;
		return 0;
	case COMPRESS_ZSTD:
		return decompress_frame(c, i + 1, inlen - 1, out, outcap,
					outlen);
	default:
		return -EBADMSG;
	}
}

int compress_blob(int level, const void *in, size_t inlen,
		  void *out, size_t outcap, size_t *outlen)
{
	struct compressor c;
	int err;

	err = compressor_init(&c, level);
	if (err)
		return err;
	err = compressor_compress(&c, in, inlen, out, outcap, outlen);
	compressor_release(&c);
	return err;
}

int decompress_blob(const void *in, size_t inlen,
		    void *out, size_t outcap, size_t *outlen)
{
	struct compressor c;
	int err;

	err = compressor_init(&c, 0);
	if (err)
		return err;
	err = compressor_decompress(&c, in, inlen, out, outcap, outlen);
	compressor_release(&c);
	return err;
}
