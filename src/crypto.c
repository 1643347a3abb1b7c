/*
 * crypto.c - see crypto.h for the key hierarchy and the two formats (sealed
 * blob, key file).  libsodium's return codes are mapped to errno here and
 * nowhere else: an AEAD failure is -EBADMSG for a blob and -EACCES for a key
 * slot, because for a key slot it almost always means a wrong passphrase.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "banned.h"
#include "crypto.h"
#include "le.h"

static_assert(CRYPTO_KEY_BYTES == crypto_aead_xchacha20poly1305_ietf_KEYBYTES,
	      "aead key size");
static_assert(CRYPTO_NONCE_BYTES ==
	      crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, "aead nonce size");
static_assert(CRYPTO_TAG_BYTES == crypto_aead_xchacha20poly1305_ietf_ABYTES,
	      "aead tag size");
static_assert(CRYPTO_KEY_BYTES == crypto_kdf_KEYBYTES, "kdf key size");
static_assert(CRYPTO_KEY_BYTES >= crypto_generichash_KEYBYTES_MIN &&
	      CRYPTO_KEY_BYTES <= crypto_generichash_KEYBYTES_MAX,
	      "chunk id key size");
static_assert(CRYPTO_ID_BYTES >= crypto_generichash_BYTES_MIN &&
	      CRYPTO_ID_BYTES <= crypto_generichash_BYTES_MAX, "chunk id size");
static_assert(sizeof(CRYPTO_KEYFILE_MAGIC) == 8, "key file magic is 8 bytes");
static_assert(16 == crypto_pwhash_SALTBYTES, "key file salt size");
static_assert(CRYPTO_KEYFILE_HEADER == 8 + 8 + 8 + 16, "key file header");
static_assert(CRYPTO_KEY_OPSLIMIT_MIN >= crypto_pwhash_argon2id_OPSLIMIT_MIN &&
	      CRYPTO_KEY_OPSLIMIT_MAX <= crypto_pwhash_argon2id_OPSLIMIT_MAX,
	      "opslimit bounds within libsodium's");
static_assert(CRYPTO_KEY_MEMLIMIT_MIN >= crypto_pwhash_argon2id_MEMLIMIT_MIN,
	      "memlimit lower bound within libsodium's");
static_assert(CRYPTO_KEY_OPSLIMIT_DEFAULT ==
	      crypto_pwhash_argon2id_OPSLIMIT_MODERATE &&
	      CRYPTO_KEY_MEMLIMIT_DEFAULT ==
	      crypto_pwhash_argon2id_MEMLIMIT_MODERATE, "default = MODERATE");
static_assert(CRYPTO_KEY_OPSLIMIT_INTERACTIVE ==
	      crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE &&
	      CRYPTO_KEY_MEMLIMIT_INTERACTIVE ==
	      crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE, "INTERACTIVE");

/* crypto_kdf context: exactly crypto_kdf_CONTEXTBYTES (8) characters. */
static const char kdf_context[crypto_kdf_CONTEXTBYTES] = {
	'b', 'a', 'c', 'k', 'u', 'p', 'f', 's'
};

enum subkey_id {
	SUBKEY_ENC = 1,
	SUBKEY_ID = 2,
	SUBKEY_CHUNKER = 3,
};

int crypto_init(void)
{
	/* 0: initialized now, 1: already was; -1: no usable entropy. */
	return sodium_init() < 0 ? -EIO : 0;
}

struct master_key *crypto_master_key_new(void)
{
	struct master_key *mk = sodium_malloc(sizeof(*mk));

	if (mk)
		sodium_memzero(mk, sizeof(*mk));
	return mk;
}

void crypto_master_key_free(struct master_key *mk)
{
	sodium_free(mk);	/* wipes, unlocks and unmaps; NULL is a no-op */
}

void crypto_master_key_load(struct master_key *mk,
			    const uint8_t master[CRYPTO_KEY_BYTES])
{
	/* Copy first: master may point into mk (or into a buffer we wipe). */
	memmove(mk->master, master, CRYPTO_KEY_BYTES);
	crypto_kdf_derive_from_key(mk->enc, sizeof(mk->enc), SUBKEY_ENC,
				   kdf_context, mk->master);
	crypto_kdf_derive_from_key(mk->id, sizeof(mk->id), SUBKEY_ID,
				   kdf_context, mk->master);
	crypto_kdf_derive_from_key(mk->chunker, sizeof(mk->chunker),
				   SUBKEY_CHUNKER, kdf_context, mk->master);
}

void crypto_master_key_generate(struct master_key *mk)
{
	randombytes_buf(mk->master, sizeof(mk->master));
	crypto_master_key_load(mk, mk->master);
}

void crypto_master_key_wipe(struct master_key *mk)
{
	sodium_memzero(mk, sizeof(*mk));
}

void crypto_chunk_id(const struct master_key *mk, const void *data, size_t len,
		     uint8_t out[CRYPTO_ID_BYTES])
{
	crypto_generichash(out, CRYPTO_ID_BYTES, data, len,
			   mk->id, sizeof(mk->id));
}

/* The sealed-blob format, under any key; crypto_seal/open and key slots. */
static int seal_with(const uint8_t key[CRYPTO_KEY_BYTES],
		     const void *ad, size_t adlen,
		     const void *plain, size_t plen,
		     void *out, size_t outcap, size_t *outlen)
{
	uint8_t *nonce = out, *ct = nonce + CRYPTO_NONCE_BYTES;
	unsigned long long clen;

	if (plen > crypto_aead_xchacha20poly1305_ietf_MESSAGEBYTES_MAX ||
	    outcap < CRYPTO_SEAL_OVERHEAD ||
	    outcap - CRYPTO_SEAL_OVERHEAD < plen)
		return -ENOBUFS;
	randombytes_buf(nonce, CRYPTO_NONCE_BYTES);
	crypto_aead_xchacha20poly1305_ietf_encrypt(ct, &clen, plain, plen,
						   ad, adlen, NULL, nonce, key);
	*outlen = CRYPTO_NONCE_BYTES + (size_t)clen;
	return 0;
}

static int open_with(const uint8_t key[CRYPTO_KEY_BYTES],
		     const void *ad, size_t adlen,
		     const void *in, size_t inlen,
		     void *out, size_t outcap, size_t *outlen)
{
	const uint8_t *nonce = in, *ct = nonce + CRYPTO_NONCE_BYTES;
	unsigned long long plen;

	if (inlen < CRYPTO_SEAL_OVERHEAD)
		return -EBADMSG;	/* truncated below nonce + tag */
	if (inlen - CRYPTO_SEAL_OVERHEAD > outcap)
		return -ENOBUFS;
	/* libsodium checks the tag before it decrypts anything. */
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, &plen, NULL,
			ct, inlen - CRYPTO_NONCE_BYTES, ad, adlen,
			nonce, key) != 0) {
		if (inlen > CRYPTO_SEAL_OVERHEAD)
			sodium_memzero(out, inlen - CRYPTO_SEAL_OVERHEAD);
		return -EBADMSG;
	}
	*outlen = (size_t)plen;
	return 0;
}

int crypto_seal(const struct master_key *mk, const void *ad, size_t adlen,
		const void *plain, size_t plen,
		void *out, size_t outcap, size_t *outlen)
{
	return seal_with(mk->enc, ad, adlen, plain, plen, out, outcap, outlen);
}

int crypto_open(const struct master_key *mk, const void *ad, size_t adlen,
		const void *in, size_t inlen,
		void *out, size_t outcap, size_t *outlen)
{
	return open_with(mk->enc, ad, adlen, in, inlen, out, outcap, outlen);
}

static int limits_ok(uint64_t opslimit, uint64_t memlimit)
{
	return opslimit >= CRYPTO_KEY_OPSLIMIT_MIN &&
	       opslimit <= CRYPTO_KEY_OPSLIMIT_MAX &&
	       memlimit >= CRYPTO_KEY_MEMLIMIT_MIN &&
	       memlimit <= CRYPTO_KEY_MEMLIMIT_MAX &&
	       memlimit <= SIZE_MAX;
}

/* Argon2id into a 32-byte key; its only failure is running out of memory. */
static int derive(uint8_t key[CRYPTO_KEY_BYTES],
		  const char *password, size_t pwlen, const uint8_t *salt,
		  uint64_t opslimit, uint64_t memlimit)
{
	static const char empty[1];

	if (crypto_pwhash(key, CRYPTO_KEY_BYTES, password ? password : empty,
			  pwlen, salt, opslimit, (size_t)memlimit,
			  crypto_pwhash_ALG_ARGON2ID13) != 0) {
		sodium_memzero(key, CRYPTO_KEY_BYTES);
		return -ENOMEM;
	}
	return 0;
}

int crypto_key_wrap(const struct master_key *mk,
		    const char *password, size_t pwlen,
		    unsigned long long opslimit, size_t memlimit,
		    uint8_t **out, size_t *outlen)
{
	uint8_t key[CRYPTO_KEY_BYTES], *file;
	size_t sealed;
	int err;

	if (!password || pwlen == 0 || !limits_ok(opslimit, memlimit))
		return -EINVAL;
	file = malloc(CRYPTO_KEYFILE_BYTES);
	if (!file)
		return -ENOMEM;
	memcpy(file, CRYPTO_KEYFILE_MAGIC, sizeof(CRYPTO_KEYFILE_MAGIC));
	put_le64(file + 8, opslimit);
	put_le64(file + 16, memlimit);
	randombytes_buf(file + 24, crypto_pwhash_SALTBYTES);

	err = derive(key, password, pwlen, file + 24, opslimit, memlimit);
	if (err)
		goto out_free;
	err = seal_with(key, file, CRYPTO_KEYFILE_HEADER,
			mk->master, sizeof(mk->master),
			file + CRYPTO_KEYFILE_HEADER,
			CRYPTO_KEYFILE_BYTES - CRYPTO_KEYFILE_HEADER, &sealed);
	sodium_memzero(key, sizeof(key));
	if (err)
		goto out_free;
	*out = file;
	*outlen = CRYPTO_KEYFILE_HEADER + sealed;
	return 0;

out_free:
	free(file);
	return err;
}

int crypto_key_inspect(const uint8_t *file, size_t len,
		       unsigned long long *opslimit, size_t *memlimit)
{
	uint64_t ops, mem;

	if (!file || len != CRYPTO_KEYFILE_BYTES ||
	    memcmp(file, CRYPTO_KEYFILE_MAGIC, sizeof(CRYPTO_KEYFILE_MAGIC)))
		return -EINVAL;
	ops = get_le64(file + 8);
	mem = get_le64(file + 16);
	if (!limits_ok(ops, mem))
		return -EINVAL;
	if (opslimit)
		*opslimit = ops;
	if (memlimit)
		*memlimit = (size_t)mem;
	return 0;
}

int crypto_key_unwrap(const uint8_t *file, size_t len,
		      const char *password, size_t pwlen,
		      struct master_key *out)
{
	uint8_t key[CRYPTO_KEY_BYTES], master[CRYPTO_KEY_BYTES];
	unsigned long long ops;
	size_t mem, mlen;
	int err;

	crypto_master_key_wipe(out);
	if (!password && pwlen)
		return -EINVAL;
	/* Invariant (2): bounds before Argon2 sees a single parameter. */
	err = crypto_key_inspect(file, len, &ops, &mem);
	if (err)
		return err;
	err = derive(key, password, pwlen, file + 24, ops, mem);
	if (err)
		return err;
	err = open_with(key, file, CRYPTO_KEYFILE_HEADER,
			file + CRYPTO_KEYFILE_HEADER, len - CRYPTO_KEYFILE_HEADER,
			master, sizeof(master), &mlen);
	sodium_memzero(key, sizeof(key));
	if (err == 0 && mlen != sizeof(master))
		err = -EBADMSG;	/* cannot happen: the length is fixed */
	if (err == 0)
		crypto_master_key_load(out, master);
	sodium_memzero(master, sizeof(master));
	return err == -EBADMSG ? -EACCES : err;
}
