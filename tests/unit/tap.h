/*
 * tap.h - a minimal Test Anything Protocol emitter for the unit tests.
 * ok(cond, fmt, ...) prints "ok N - ..." or "not ok N - ..." and keeps
 * going; tap_done() prints the plan and returns the exit status.
 * test_rand() is a fixed-seed xorshift64 for reproducible test data.
 */
#ifndef BACKUPFS_TAP_H
#define BACKUPFS_TAP_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

static int tap_n, tap_failed;

__attribute__((format(printf, 2, 3), unused))
static int ok(int cond, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", cond ? "" : "not ", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	if (!cond)
		tap_failed++;
	return cond;
}

__attribute__((unused))
static int tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

static uint64_t test_rng = 0x9e3779b97f4a7c15ULL;

__attribute__((unused))
static uint64_t test_rand(void)
{
	test_rng ^= test_rng << 13;
	test_rng ^= test_rng >> 7;
	test_rng ^= test_rng << 17;
	return test_rng;
}

#endif
