/*
 * bench/chunker.c - throughput of the chunker alone (chunker.c) on one
 * core: splits 256 MiB of pseudo-random data with the default parameters
 * (64 KiB / 256 KiB / 1 MiB) five times and prints the median in MB/s
 * (10^6 bytes per second), measured on the thread's CPU clock (so other
 * load on a shared machine does not understate it) and on the wall clock.
 * Not part of the build; from the top directory:
 *
 *	gcc -std=gnu11 -O2 -D_GNU_SOURCE -I. -Isrc bench/chunker.c \
 *	    src/chunker.c -o /tmp/bench-chunker && /tmp/bench-chunker
 *
 * An optional argument gives the size in MiB.  The data is generated and
 * touched before timing, so page faults are not counted.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "banned.h"
#include "chunker.h"

#define RUNS 5

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static double now(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	size_t len = (size_t)(argc > 1 ? atoi(argv[1]) : 256) << 20;
	uint8_t seed[CHUNKER_SEED_SIZE] = { 1 };
	struct chunker_params p;
	double mbs[RUNS], wall[RUNS];
	uint64_t s = 1;
	size_t chunks = 0;
	uint8_t *buf;

	buf = malloc(len);
	if (!buf || len < 8) {
		fprintf(stderr, "bench-chunker: cannot allocate %zu bytes\n",
			len);
		return 1;
	}
	for (size_t i = 0; i + 8 <= len; i += 8) {
		uint64_t v = rng_next(&s);

		memcpy(buf + i, &v, 8);
	}
	if (chunker_params_init(&p, CHUNKER_DEFAULT_MIN, CHUNKER_DEFAULT_AVG,
				CHUNKER_DEFAULT_MAX, seed)) {
		fprintf(stderr, "bench-chunker: bad parameters\n");
		return 1;
	}
	for (int r = 0; r < RUNS; r++) {
		double w = now(CLOCK_MONOTONIC);
		double t = now(CLOCK_THREAD_CPUTIME_ID);

		chunks = 0;
		for (size_t off = 0; off < len; chunks++)
			off += chunker_cut(&p, buf + off, len - off);
		mbs[r] = (double)len / (now(CLOCK_THREAD_CPUTIME_ID) - t) / 1e6;
		wall[r] = (double)len / (now(CLOCK_MONOTONIC) - w) / 1e6;
	}
	qsort(mbs, RUNS, sizeof(mbs[0]), cmp_double);
	qsort(wall, RUNS, sizeof(wall[0]), cmp_double);
	printf("chunker: %zu MiB, %zu chunks (avg %zu bytes): %.0f MB/s "
	       "median of %d (min %.0f, max %.0f); wall clock %.0f MB/s\n",
	       len >> 20, chunks, len / chunks, mbs[RUNS / 2], RUNS, mbs[0],
	       mbs[RUNS - 1], wall[RUNS / 2]);
	free(buf);
	return 0;
}
