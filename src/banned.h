/*
 * banned.h - functions we do not use, made into compile errors (after git's
 * banned.h).  sprintf/strcpy/strcat overrun buffers; strtok keeps hidden
 * state; gmtime/localtime return static buffers that threads share.  Use
 * snprintf, memcpy with a known length, strtok_r and the _r time functions.
 */
#ifndef BACKUPFS_BANNED_H
#define BACKUPFS_BANNED_H

#define BANNED(func) sorry_##func##_is_a_banned_function

#undef strcpy
#define strcpy(x, y) BANNED(strcpy)
#undef strcat
#define strcat(x, y) BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) BANNED(strncpy)
#undef sprintf
#define sprintf(...) BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) BANNED(vsprintf)
#undef strtok
#define strtok(x, y) BANNED(strtok)
#undef gmtime
#define gmtime(t) BANNED(gmtime)
#undef localtime
#define localtime(t) BANNED(localtime)

#endif
