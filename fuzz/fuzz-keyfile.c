/*
 * fuzz-keyfile.c - libFuzzer target for the key slot parser
 * (crypto_key_inspect, crypto_key_unwrap), the one parser that reads a
 * repository object before anything has been authenticated.
 *
 * Checked on every input:
 *  (1) a file inspect rejects is rejected by unwrap with -EINVAL, without
 *      running Argon2 (if it ran, the 1 TiB memlimit inputs the fuzzer
 *      finds at once would hang or kill it);
 *  (2) a file that parses either unwraps (it really is a slot for
 *      FUZZ_PASSWORD; the seed corpus has one) or fails with -EACCES, and
 *      on failure the output key is all zero;
 *  (3) a key that unwraps wraps again and comes back identical.
 * Files asking for more than the minimum Argon2 work are parsed but not
 * unwrapped, to keep thousands of runs a second; the bounds are the unit
 * test's business.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "banned.h"
#include "crypto.h"

#define FUZZ_PASSWORD	"fuzz"	/* gen-corpus.c writes slots for it */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int is_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint8_t acc = 0;

	for (size_t i = 0; i < n; i++)
		acc |= b[i];
	return acc == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct master_key k, again;
	unsigned long long ops;
	size_t mem, len;
	uint8_t *file;
	int err;

	if (!ready) {
		if (crypto_init())
			abort();
		ready = 1;
	}

	if (crypto_key_inspect(data, size, &ops, &mem)) {
		if (crypto_key_unwrap(data, size, FUZZ_PASSWORD,
				      sizeof(FUZZ_PASSWORD) - 1, &k) != -EINVAL)
			abort();	/* (1) */
		return 0;
	}
	if (ops > CRYPTO_KEY_OPSLIMIT_MIN + 3 || mem > 64 * 1024)
		return 0;

	err = crypto_key_unwrap(data, size, FUZZ_PASSWORD,
				sizeof(FUZZ_PASSWORD) - 1, &k);
	if (err) {
		if (err != -EACCES || !is_zero(&k, sizeof(k)))
			abort();	/* (2) */
		return 0;
	}
	if (crypto_key_wrap(&k, FUZZ_PASSWORD, sizeof(FUZZ_PASSWORD) - 1,
			    ops, mem, &file, &len))
		abort();
	if (crypto_key_unwrap(file, len, FUZZ_PASSWORD,
			      sizeof(FUZZ_PASSWORD) - 1, &again) ||
	    memcmp(&k, &again, sizeof(k)))
		abort();	/* (3) */
	free(file);
	crypto_master_key_wipe(&k);
	crypto_master_key_wipe(&again);
	return 0;
}
