/*
 * util.h - small helpers shared by the command-line verbs.  The x*()
 * allocators die on OOM and are for the CLI only: request paths in the
 * daemon answer ENOMEM instead.
 */
#ifndef BACKUPFS_UTIL_H
#define BACKUPFS_UTIL_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t n);
char *xstrdup(const char *s);

/* Parse a decimal or 0x number into *out; 0 on success, -EINVAL otherwise. */
int parse_u64(const char *s, unsigned long long *out);
/* Parse seconds with an optional fraction ("1", "0.5"); -EINVAL otherwise. */
int parse_seconds(const char *s, double *out);

#endif
