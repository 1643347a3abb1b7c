/*
 * crypto.h - keys, chunk ids, sealed blobs and passphrase-wrapped key slots.
 *
 * Everything backupfs writes to a repository passes through here, because
 * object storage is untrusted (DESIGN §2.4): a flipped bit, a truncated
 * object or an object swapped for another must be detected, never returned
 * as data.  The module is a thin layer over libsodium; it never logs and
 * never includes FUSE headers.
 *
 * Keys.  A repository has one random 32-byte master secret.  It is the only
 * thing stored in key slots; everything else is derived from it with
 * crypto_kdf (BLAKE2b, context "backupfs") when it is loaded:
 *
 *	subkey 1  enc      XChaCha20-Poly1305 key for every sealed blob
 *	subkey 2  id       BLAKE2b key for chunk ids
 *	subkey 3  chunker  seed of the content-defined chunker's gear table
 *
 * One secret instead of three independent ones keeps a key slot at 32 bytes
 * of plaintext, and new purposes (a MAC for the lock file, say) can get a
 * new subkey id without rewriting every slot.  The subkeys are independent
 * for any practical purpose: knowing one says nothing about the others.
 *
 * Sealed blob (the unit of encryption: a chunk, a pack header, an index):
 *
 *	nonce[24] || XChaCha20-Poly1305-IETF(enc, nonce, ad, plain) || tag[16]
 *
 * The nonce is random (192 bits, so random nonces never collide in
 * practice).  The associated data is supplied by the caller and is not
 * stored: the chunk id for chunks, the object name for headers and indexes.
 * A blob moved to a place where a different id or name is expected fails
 * to open.
 *
 * Key slot file (keys/<id> in the repository), all integers little endian:
 *
 *	off  len
 *	  0    8  magic "BFSKEY1\0" (format version 1)
 *	  8    8  Argon2id opslimit
 *	 16    8  Argon2id memlimit in bytes
 *	 24   16  salt
 *	 40   72  sealed blob of the 32-byte master secret, sealed under
 *	          Argon2id(passphrase, salt, opslimit, memlimit) with the
 *	          first 40 bytes (magic, limits, salt) as associated data
 *	=112
 *
 * Numbered invariants:
 *  (1) crypto_open() and crypto_key_unwrap() never hand out plaintext that
 *      did not authenticate: on failure the output buffer is zeroed.
 *  (2) A key file is parsed and its Argon2 limits checked against fixed
 *      bounds before Argon2 runs, so a forged file cannot make us allocate
 *      a terabyte or hash for an hour.  crypto_key_wrap() refuses limits
 *      outside the same bounds, so we never write a file we won't read.
 *  (3) Every derived key and plaintext copy of a secret made here is wiped
 *      with sodium_memzero before its memory is released.
 *
 * Threads: crypto_init() must run once before other threads start (it is
 * idempotent); every other function is reentrant.  Every function returns
 * 0 or -errno unless its comment says otherwise.
 */
#ifndef BACKUPFS_CRYPTO_H
#define BACKUPFS_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define CRYPTO_KEY_BYTES	32
#define CRYPTO_ID_BYTES		32	/* a chunk id */
#define CRYPTO_NONCE_BYTES	24
#define CRYPTO_TAG_BYTES	16
/* A sealed blob is this much larger than its plaintext. */
#define CRYPTO_SEAL_OVERHEAD	(CRYPTO_NONCE_BYTES + CRYPTO_TAG_BYTES)

#define CRYPTO_KEYFILE_MAGIC	"BFSKEY1"	/* 8 bytes with its NUL */
#define CRYPTO_KEYFILE_HEADER	40
#define CRYPTO_KEYFILE_BYTES \
	(CRYPTO_KEYFILE_HEADER + CRYPTO_KEY_BYTES + CRYPTO_SEAL_OVERHEAD)

/*
 * Bounds on Argon2id limits in a key file.  libsodium would take opslimit up
 * to 2^32-1 and memlimit up to 4 TiB; a key file asking for that is forged
 * or broken, and believing it would hang or kill the mount.
 */
#define CRYPTO_KEY_OPSLIMIT_MIN	1ULL
#define CRYPTO_KEY_OPSLIMIT_MAX	32ULL
#define CRYPTO_KEY_MEMLIMIT_MIN	(8ULL << 10)	/* 8 KiB, Argon2's minimum */
#define CRYPTO_KEY_MEMLIMIT_MAX	(4ULL << 30)	/* 4 GiB */

/*
 * Limits for new key slots: libsodium's MODERATE (3 passes over 256 MiB,
 * about a second), and the INTERACTIVE/MIN limits for tests and fuzzing.
 */
#define CRYPTO_KEY_OPSLIMIT_DEFAULT		3ULL
#define CRYPTO_KEY_MEMLIMIT_DEFAULT		(256ULL << 20)
#define CRYPTO_KEY_OPSLIMIT_INTERACTIVE	2ULL
#define CRYPTO_KEY_MEMLIMIT_INTERACTIVE	(64ULL << 20)
#define CRYPTO_KEY_OPSLIMIT_TEST		CRYPTO_KEY_OPSLIMIT_MIN
#define CRYPTO_KEY_MEMLIMIT_TEST		CRYPTO_KEY_MEMLIMIT_MIN

struct master_key {
	uint8_t master[CRYPTO_KEY_BYTES];	/* what key slots wrap */
	uint8_t enc[CRYPTO_KEY_BYTES];		/* kdf subkey 1: sealing */
	uint8_t id[CRYPTO_KEY_BYTES];		/* kdf subkey 2: chunk ids */
	uint8_t chunker[CRYPTO_KEY_BYTES];	/* kdf subkey 3: gear seed */
};

/* Initializes libsodium; -EIO if it cannot (no entropy source). */
int crypto_init(void);

/*
 * A master key in guarded, mlocked memory that core dumps leave out
 * (sodium_malloc), for keys that live as long as the daemon.  NULL on
 * ENOMEM.  crypto_master_key_free() wipes it; NULL is allowed.
 */
struct master_key *crypto_master_key_new(void);
void crypto_master_key_free(struct master_key *mk);

/* Fills mk with a new random master secret and its subkeys. */
void crypto_master_key_generate(struct master_key *mk);
/* Sets mk from a 32-byte master secret, deriving the subkeys. */
void crypto_master_key_load(struct master_key *mk,
			    const uint8_t master[CRYPTO_KEY_BYTES]);
void crypto_master_key_wipe(struct master_key *mk);

/* out = BLAKE2b-256 of data keyed with mk->id.  Cannot fail. */
void crypto_chunk_id(const struct master_key *mk, const void *data, size_t len,
		     uint8_t out[CRYPTO_ID_BYTES]);

/*
 * Seals plain under mk->enc with a fresh random nonce into out, which needs
 * plen + CRYPTO_SEAL_OVERHEAD bytes (-ENOBUFS otherwise) and must not
 * overlap plain.  ad may be NULL when adlen is 0.
 */
int crypto_seal(const struct master_key *mk, const void *ad, size_t adlen,
		const void *plain, size_t plen,
		void *out, size_t outcap, size_t *outlen);

/*
 * Opens a sealed blob.  -EBADMSG if it does not authenticate under mk->enc
 * and this ad (truncated, altered, wrong ad, wrong key); out is zeroed then.
 * -ENOBUFS if outcap < inlen - CRYPTO_SEAL_OVERHEAD.  out must not overlap
 * in.
 */
int crypto_open(const struct master_key *mk, const void *ad, size_t adlen,
		const void *in, size_t inlen,
		void *out, size_t outcap, size_t *outlen);

/*
 * Wraps mk's master secret under a passphrase into a new key file of
 * CRYPTO_KEYFILE_BYTES, returned in *out (malloc'd; not secret; the caller
 * frees it).  -EINVAL for an empty passphrase or limits outside the
 * CRYPTO_KEY_* bounds; -ENOMEM if Argon2 cannot get its memory.
 */
int crypto_key_wrap(const struct master_key *mk,
		    const char *password, size_t pwlen,
		    unsigned long long opslimit, size_t memlimit,
		    uint8_t **out, size_t *outlen);

/*
 * Reads a key file's Argon2 limits without running Argon2, e.g. to tell the
 * user how long unlocking will take.  -EINVAL if the file is malformed
 * (length, magic, limits out of bounds).  Either output may be NULL.
 */
int crypto_key_inspect(const uint8_t *file, size_t len,
		       unsigned long long *opslimit, size_t *memlimit);

/*
 * Unwraps a key file into *out.  -EINVAL if it is malformed (checked before
 * Argon2 runs), -EACCES if the passphrase is wrong or the file's sealed part
 * or header was altered (the two cannot be told apart), -ENOMEM if Argon2
 * cannot get its memory.  *out is wiped on any failure.
 */
int crypto_key_unwrap(const uint8_t *file, size_t len,
		      const char *password, size_t pwlen,
		      struct master_key *out);

#endif
