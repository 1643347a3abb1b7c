/*
 * password.h - where the repository password comes from, in this order:
 * --password-file FILE (its first line), $BACKUPFS_PASSWORD, or a prompt on
 * the terminal (echo off; asked twice when creating).  With none of them
 * the verb fails with one line saying which to use.  The password lives in
 * guarded memory (sodium_malloc) and is wiped when freed.
 */
#ifndef BACKUPFS_PASSWORD_H
#define BACKUPFS_PASSWORD_H

#include <stddef.h>

#define PASSWORD_MAX 1024

int password_get(const char *file, const char *what, int confirm, char **out,
		 size_t *len, char *err, size_t errlen);
void password_free(char *pw);

#endif
