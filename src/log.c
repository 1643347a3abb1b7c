/*
 * log.c - see log.h.  One line per message, written with a single write(2)
 * so lines from worker threads do not interleave.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "banned.h"
#include "log.h"

static int use_syslog;
static enum log_level max_level = LOG_LVL_INFO;

static const char *const level_names[] = {
	[LOG_LVL_ERROR] = "error",
	[LOG_LVL_WARNING] = "warning",
	[LOG_LVL_INFO] = "info",
	[LOG_LVL_DEBUG] = "debug",
};

void log_set_syslog(int on)
{
	if (on && !use_syslog)
		openlog("backupfs", LOG_PID, LOG_DAEMON);
	use_syslog = on;
}

void log_set_level(enum log_level level)
{
	max_level = level;
}

int log_enabled(enum log_level level)
{
	return level <= max_level;
}

static void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	char line[2048];
	int n, saved = errno;

	n = snprintf(line, sizeof(line), "backupfs: %s: ", level_names[level]);
	if (n < 0)
		n = 0;
	vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	if (use_syslog) {
		syslog(prio[level], "%s", line + strlen("backupfs: "));
	} else {
		size_t len = strlen(line);
		line[len++] = '\n';
		if (write(STDERR_FILENO, line, len) < 0) {
			/* nowhere left to report it */
		}
	}
	errno = saved;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

void die(int status, const char *fmt, ...)
{
	va_list ap;

	fputs("backupfs: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(status);
}
