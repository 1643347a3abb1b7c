/*
 * test-crypto.c - keys, chunk ids, sealed blobs and key slots (crypto.c).
 * Key slots use the minimum Argon2 limits so the test runs in well under a
 * second; the limits themselves are covered by the bounds tests.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "crypto.h"
#include "tap.h"

#define MARKER "BACKUPFS-REPOSITORY-MARKER"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void test_keys(void)
{
	struct master_key a, b, *h;

	crypto_master_key_generate(&a);
	crypto_master_key_load(&b, a.master);
	ok(!memcmp(&a, &b, sizeof(a)),
	   "loading a master secret derives the same subkeys");
	ok(memcmp(a.enc, a.id, 32) && memcmp(a.id, a.chunker, 32) &&
	   memcmp(a.enc, a.chunker, 32) && memcmp(a.enc, a.master, 32),
	   "the three subkeys and the master differ");
	crypto_master_key_load(&a, a.master);
	ok(!memcmp(&a, &b, sizeof(a)), "loading from itself (aliasing) works");
	crypto_master_key_generate(&b);
	ok(memcmp(a.master, b.master, 32), "two generated keys differ");

	h = crypto_master_key_new();
	ok(h != NULL, "a guarded master key is allocated");
	if (h) {
		ok(all_zero((uint8_t *)h, sizeof(*h)), "and starts zeroed");
		crypto_master_key_load(h, a.master);
		ok(!memcmp(h->id, a.id, 32), "and works like any other");
		crypto_master_key_free(h);
	}
	crypto_master_key_free(NULL);
	crypto_master_key_wipe(&a);
	ok(all_zero((uint8_t *)&a, sizeof(a)), "wipe zeroes the key");
	crypto_master_key_wipe(&b);
}

static void test_chunk_id(void)
{
	struct master_key a, b;
	uint8_t x[32], y[32], z[32];
	static const char data[] = "some chunk contents";

	crypto_master_key_generate(&a);
	crypto_master_key_generate(&b);
	crypto_chunk_id(&a, data, sizeof(data), x);
	crypto_chunk_id(&a, data, sizeof(data), y);
	ok(!memcmp(x, y, 32), "chunk id is deterministic for one key");
	crypto_chunk_id(&b, data, sizeof(data), z);
	ok(memcmp(x, z, 32), "chunk ids differ across keys");
	crypto_generichash(z, 32, (const uint8_t *)data, sizeof(data), NULL, 0);
	ok(memcmp(x, z, 32), "the chunk id is not the unkeyed hash");
	crypto_chunk_id(&a, data, sizeof(data) - 1, z);
	ok(memcmp(x, z, 32), "a one-byte-shorter chunk has another id");
	crypto_chunk_id(&a, NULL, 0, z);
	ok(1, "an empty chunk has an id");
	crypto_master_key_wipe(&a);
	crypto_master_key_wipe(&b);
}

static void test_seal(void)
{
	struct master_key k, other;
	uint8_t plain[64], sealed[64 + CRYPTO_SEAL_OVERHEAD], back[64];
	uint8_t id[32], id2[32], *big, *bigsealed, *bigback;
	size_t slen, blen, n;
	int bad_ok = 1, bad_leak = 0, trunc_ok = 1, err;
	const size_t bign = 1 << 20;

	crypto_master_key_generate(&k);
	crypto_master_key_generate(&other);
	for (size_t i = 0; i < sizeof(plain); i++)
		plain[i] = (uint8_t)i;
	crypto_chunk_id(&k, plain, sizeof(plain), id);

	ok(crypto_seal(&k, id, 32, plain, sizeof(plain), sealed,
		       sizeof(sealed), &slen) == 0 &&
	   slen == sizeof(plain) + CRYPTO_SEAL_OVERHEAD, "seal 64 bytes");
	ok(crypto_open(&k, id, 32, sealed, slen, back, sizeof(back), &blen) == 0 &&
	   blen == sizeof(plain) && !memcmp(back, plain, blen), "open round trip");

	for (size_t bit = 0; bit < slen * 8; bit++) {
		sealed[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		memset(back, 0xAA, sizeof(back));
		err = crypto_open(&k, id, 32, sealed, slen, back, sizeof(back),
				  &blen);
		if (err != -EBADMSG)
			bad_ok = 0;
		if (!all_zero(back, sizeof(back)))
			bad_leak = 1;
		sealed[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	ok(bad_ok, "every one of %zu single-bit flips is rejected with -EBADMSG",
	   slen * 8);
	ok(!bad_leak, "and the output buffer is zeroed, never partial plaintext");

	for (n = 0; n < slen; n++)
		if (crypto_open(&k, id, 32, sealed, n, back, sizeof(back),
				&blen) != -EBADMSG)
			trunc_ok = 0;
	ok(trunc_ok, "every truncation is rejected with -EBADMSG");
	ok(crypto_open(&k, id, 32, sealed, slen, back, sizeof(back), &blen) == 0,
	   "the original still opens");

	memcpy(id2, id, 32);
	id2[31] ^= 1;
	ok(crypto_open(&k, id2, 32, sealed, slen, back, sizeof(back), &blen) ==
	   -EBADMSG, "wrong associated data is rejected");
	ok(crypto_open(&k, id, 31, sealed, slen, back, sizeof(back), &blen) ==
	   -EBADMSG, "shortened associated data is rejected");
	ok(crypto_open(&k, NULL, 0, sealed, slen, back, sizeof(back), &blen) ==
	   -EBADMSG, "missing associated data is rejected");
	ok(crypto_open(&other, id, 32, sealed, slen, back, sizeof(back),
		       &blen) == -EBADMSG, "another repository's key is rejected");
	ok(crypto_open(&k, id, 32, sealed, slen, back, sizeof(back) - 1,
		       &blen) == -ENOBUFS, "open into too small a buffer: -ENOBUFS");
	ok(crypto_seal(&k, id, 32, plain, sizeof(plain), sealed,
		       sizeof(sealed) - 1, &slen) == -ENOBUFS,
	   "seal into too small a buffer: -ENOBUFS");
	ok(crypto_seal(&k, id, 32, plain, sizeof(plain), sealed, 3, &slen) ==
	   -ENOBUFS, "seal into a buffer smaller than the overhead: -ENOBUFS");

	{
		uint8_t s1[100], s2[100];
		size_t l1, l2;

		crypto_seal(&k, id, 32, plain, 16, s1, sizeof(s1), &l1);
		crypto_seal(&k, id, 32, plain, 16, s2, sizeof(s2), &l2);
		ok(l1 == l2 && memcmp(s1, s2, l1),
		   "sealing twice gives different blobs (random nonce)");
		ok(crypto_seal(&k, NULL, 0, NULL, 0, s1, sizeof(s1), &l1) == 0 &&
		   l1 == CRYPTO_SEAL_OVERHEAD &&
		   crypto_open(&k, NULL, 0, s1, l1, NULL, 0, &l2) == 0 && l2 == 0,
		   "an empty blob with no associated data round-trips");
	}

	big = malloc(bign);
	bigsealed = malloc(bign + CRYPTO_SEAL_OVERHEAD);
	bigback = malloc(bign);
	if (!big || !bigsealed || !bigback) {
		ok(0, "allocate 1 MiB buffers");
		goto out;
	}
	memset(big, '.', bign);
	for (size_t i = 0; i + sizeof(MARKER) - 1 <= bign;
	     i += sizeof(MARKER) - 1)
		memcpy(big + i, MARKER, sizeof(MARKER) - 1);
	ok(crypto_seal(&k, "index/0001", 10, big, bign, bigsealed,
		       bign + CRYPTO_SEAL_OVERHEAD, &slen) == 0,
	   "seal 1 MiB of a repeated marker string");
	ok(!memmem(bigsealed, slen, MARKER, sizeof(MARKER) - 1) &&
	   !memmem(bigsealed, slen, "BACKUPFS", 8),
	   "the marker never appears in the sealed output");
	ok(crypto_open(&k, "index/0001", 10, bigsealed, slen, bigback, bign,
		       &blen) == 0 && blen == bign && !memcmp(big, bigback, bign),
	   "and it opens again");
	ok(crypto_open(&k, "index/0002", 10, bigsealed, slen, bigback, bign,
		       &blen) == -EBADMSG && all_zero(bigback, bign),
	   "under another object name it does not, and nothing leaks");
out:
	free(big);
	free(bigsealed);
	free(bigback);
	crypto_master_key_wipe(&k);
	crypto_master_key_wipe(&other);
}

#define OPS CRYPTO_KEY_OPSLIMIT_TEST
#define MEM CRYPTO_KEY_MEMLIMIT_TEST

static void test_keyfile(void)
{
	static const char pw[] = "correct horse battery staple";
	struct master_key k, got;
	uint8_t *file = NULL, *file2 = NULL, bad[CRYPTO_KEYFILE_BYTES];
	size_t len = 0, len2, mem;
	unsigned long long ops;
	int flips_ok = 1, flips_inval = 0, flips_acces = 0, flips_skipped = 0;
	int err;
	double t;

	crypto_master_key_generate(&k);
	err = crypto_key_wrap(&k, pw, strlen(pw), OPS, MEM, &file, &len);
	ok(err == 0 && len == CRYPTO_KEYFILE_BYTES,
	   "wrap a master key (%zu bytes)", len);
	if (!file)
		return;
	ok(!memcmp(file, "BFSKEY1\0", 8), "key file starts with its magic");
	ok(crypto_key_inspect(file, len, &ops, &mem) == 0 && ops == OPS &&
	   mem == MEM, "inspect reads back the Argon2 limits");
	ok(!memmem(file, len, k.master, 32) && !memmem(file, len, k.enc, 32) &&
	   !memmem(file, len, pw, strlen(pw)),
	   "neither the key nor the passphrase appears in the file");
	ok(crypto_key_unwrap(file, len, pw, strlen(pw), &got) == 0 &&
	   !memcmp(&got, &k, sizeof(k)), "unwrap round trip gives the same keys");

	memset(&got, 0x55, sizeof(got));
	ok(crypto_key_unwrap(file, len, "wrong", 5, &got) == -EACCES,
	   "wrong passphrase: -EACCES");
	ok(all_zero((uint8_t *)&got, sizeof(got)), "and the output key is wiped");
	ok(crypto_key_unwrap(file, len, pw, strlen(pw) - 1, &got) == -EACCES,
	   "passphrase missing its last character: -EACCES");
	ok(crypto_key_unwrap(file, len, NULL, 0, &got) == -EACCES,
	   "empty passphrase: -EACCES");

	ok(crypto_key_wrap(&k, pw, strlen(pw), OPS, MEM, &file2, &len2) == 0 &&
	   memcmp(file, file2, len) &&
	   crypto_key_unwrap(file2, len2, pw, strlen(pw), &got) == 0 &&
	   !memcmp(got.master, k.master, 32),
	   "a second slot for the same key has its own salt and also opens");
	if (file2) {
		memcpy(bad, file, CRYPTO_KEYFILE_HEADER);
		memcpy(bad + CRYPTO_KEYFILE_HEADER, file2 + CRYPTO_KEYFILE_HEADER,
		       len - CRYPTO_KEYFILE_HEADER);
		ok(crypto_key_unwrap(bad, len, pw, strlen(pw), &got) == -EACCES,
		   "one slot's header with another slot's sealed key: -EACCES");
	}
	free(file2);
	file2 = NULL;

	ok(crypto_key_wrap(&k, "", 0, OPS, MEM, &file2, &len2) == -EINVAL,
	   "wrap refuses an empty passphrase");
	ok(crypto_key_wrap(&k, pw, strlen(pw), 0, MEM, &file2, &len2) == -EINVAL,
	   "wrap refuses opslimit 0");
	ok(crypto_key_wrap(&k, pw, strlen(pw), OPS, 1024, &file2, &len2) ==
	   -EINVAL, "wrap refuses memlimit 1 KiB");
	ok(crypto_key_wrap(&k, pw, strlen(pw), CRYPTO_KEY_OPSLIMIT_MAX + 1, MEM,
			   &file2, &len2) == -EINVAL, "wrap refuses opslimit 33");

	/* Malformed files. */
	ok(crypto_key_unwrap(file, len - 1, pw, strlen(pw), &got) == -EINVAL,
	   "a truncated key file: -EINVAL");
	ok(crypto_key_unwrap(file, 0, pw, strlen(pw), &got) == -EINVAL,
	   "an empty key file: -EINVAL");
	ok(crypto_key_unwrap(NULL, 0, pw, strlen(pw), &got) == -EINVAL,
	   "no key file: -EINVAL");
	{
		uint8_t longer[CRYPTO_KEYFILE_BYTES + 1];

		memcpy(longer, file, len);
		longer[len] = 0;
		ok(crypto_key_unwrap(longer, len + 1, pw, strlen(pw), &got) ==
		   -EINVAL, "a key file with a trailing byte: -EINVAL");
	}
	memcpy(bad, file, len);
	bad[6] = '2';
	ok(crypto_key_unwrap(bad, len, pw, strlen(pw), &got) == -EINVAL,
	   "an unknown version (BFSKEY2): -EINVAL");

	memcpy(bad, file, len);
	put_le64(bad + 16, 1ULL << 40);
	t = now();
	err = crypto_key_unwrap(bad, len, pw, strlen(pw), &got);
	t = now() - t;
	ok(err == -EINVAL, "memlimit 1 TiB: -EINVAL");
	ok(t < 0.05, "and it is refused before Argon2 runs (%.6f s)", t);
	put_le64(bad + 16, CRYPTO_KEY_MEMLIMIT_MAX + 1);
	ok(crypto_key_unwrap(bad, len, pw, strlen(pw), &got) == -EINVAL,
	   "memlimit 4 GiB + 1: -EINVAL");
	put_le64(bad + 16, CRYPTO_KEY_MEMLIMIT_MAX);
	ok(crypto_key_inspect(bad, len, &ops, &mem) == 0 &&
	   mem == CRYPTO_KEY_MEMLIMIT_MAX, "memlimit 4 GiB is within bounds");
	put_le64(bad + 16, 8191);
	ok(crypto_key_unwrap(bad, len, pw, strlen(pw), &got) == -EINVAL,
	   "memlimit below 8 KiB: -EINVAL");
	memcpy(bad, file, len);
	put_le64(bad + 8, 0);
	ok(crypto_key_unwrap(bad, len, pw, strlen(pw), &got) == -EINVAL,
	   "opslimit 0: -EINVAL");
	put_le64(bad + 8, UINT64_MAX);
	t = now();
	err = crypto_key_unwrap(bad, len, pw, strlen(pw), &got);
	t = now() - t;
	ok(err == -EINVAL && t < 0.05, "opslimit 2^64-1: -EINVAL at once");

	/* A header swapped for one with other (valid) limits. */
	memcpy(bad, file, len);
	put_le64(bad + 8, OPS + 1);
	ok(crypto_key_unwrap(bad, len, pw, strlen(pw), &got) == -EACCES,
	   "valid but altered opslimit: -EACCES (the header is authenticated)");
	memcpy(bad, file, len);
	bad[30] ^= 0x80;
	ok(crypto_key_unwrap(bad, len, pw, strlen(pw), &got) == -EACCES,
	   "altered salt: -EACCES");

	/*
	 * Every single-bit flip.  Flips that raise the memlimit above 64 MiB
	 * but stay under 4 GiB are valid limits and would run a slow Argon2
	 * (and fail authentication); inspect shows them and they are skipped.
	 */
	for (size_t bit = 0; bit < len * 8; bit++) {
		memcpy(bad, file, len);
		bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		if (crypto_key_inspect(bad, len, &ops, &mem) == 0 &&
		    mem > (64u << 20)) {
			flips_skipped++;
			continue;
		}
		err = crypto_key_unwrap(bad, len, pw, strlen(pw), &got);
		if (err == -EINVAL)
			flips_inval++;
		else if (err == -EACCES)
			flips_acces++;
		else
			flips_ok = 0;
	}
	ok(flips_ok, "every single-bit flip of the key file fails "
	   "(%d -EINVAL, %d -EACCES, %d slow ones skipped)",
	   flips_inval, flips_acces, flips_skipped);
	ok(flips_skipped == 6, "only memlimit bits 26..31 were skipped");

	free(file);
	crypto_master_key_wipe(&k);
	crypto_master_key_wipe(&got);
}

int main(void)
{
	if (!ok(crypto_init() == 0, "crypto_init"))
		return tap_done();
	ok(crypto_init() == 0, "crypto_init again is harmless");
	test_keys();
	test_chunk_id();
	test_seal();
	test_keyfile();
	return tap_done();
}
