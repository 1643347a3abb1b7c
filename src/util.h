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

/*
 * Room for n elements of size bytes in arr (capacity *cap elements),
 * doubling from 64: returns the (possibly moved) array, or NULL with arr
 * and *cap untouched on overflow or out of memory.  For request paths too.
 */
void *array_grow(void *arr, size_t *cap, size_t n, size_t size);

/* mkdir -p: creates path and its missing parents with mode; 0 or -errno. */
int mkdir_p(const char *path, unsigned mode);

/* Parse a decimal or 0x number into *out; 0 on success, -EINVAL otherwise. */
int parse_u64(const char *s, unsigned long long *out);
/* Parse seconds with an optional fraction ("1", "0.5"); -EINVAL otherwise. */
int parse_seconds(const char *s, double *out);

#endif
