/*
 * log.h - messages to the user and to the daemon's log.
 *
 * Before the daemon detaches, messages go to stderr as
 * "backupfs: error: ..." lines.  A detached daemon logs to syslog
 * (facility daemon); a foreground daemon (-f) keeps stderr, so tests can read
 * its log.  Messages are lower-case, subject quoted, and say what to do.
 */
#ifndef BACKUPFS_LOG_H
#define BACKUPFS_LOG_H

#include <stdarg.h>

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARNING, LOG_LVL_INFO, LOG_LVL_DEBUG };

void log_set_syslog(int on);
void log_set_level(enum log_level level);
int log_enabled(enum log_level level);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_LVL_WARNING, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)                                                         \
	do {                                                                   \
		if (log_enabled(LOG_LVL_DEBUG))                                \
			log_msg(LOG_LVL_DEBUG, __VA_ARGS__);                   \
	} while (0)

/* Print "backupfs: <msg>" to stderr and exit with status (for the CLI). */
void die(int status, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));

#endif
