/*
 * password.c - see password.h.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "banned.h"
#include "password.h"

void password_free(char *pw)
{
	if (pw)
		sodium_free(pw);	/* wipes */
}

/* Reads one line from fd into buf (NUL-terminated, newline dropped). */
static int read_line(int fd, char *buf, size_t cap, size_t *len)
{
	size_t n = 0;

	for (;;) {
		char c;
		ssize_t r = read(fd, &c, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0 || c == '\n')
			break;
		if (n + 1 >= cap)
			return -E2BIG;
		buf[n++] = c;
	}
	if (n && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	*len = n;
	return 0;
}

static int prompt(int tty, const char *text, char *buf, size_t cap, size_t *len)
{
	struct termios old, quiet;
	int ret, restore = tcgetattr(tty, &old) == 0;

	if (restore) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		quiet.c_lflag |= ECHONL;
		tcsetattr(tty, TCSAFLUSH, &quiet);
	}
	if (write(tty, text, strlen(text)) < 0) {
		/* the prompt is a courtesy */
	}
	ret = read_line(tty, buf, cap, len);
	if (restore)
		tcsetattr(tty, TCSAFLUSH, &old);
	return ret;
}

int password_get(const char *file, const char *what, int confirm, char **out,
		 size_t *len, char *err, size_t errlen)
{
	char *pw = sodium_malloc(PASSWORD_MAX), *again = NULL, text[300];
	const char *env = getenv("BACKUPFS_PASSWORD");
	int ret = 0, tty;

	*out = NULL;
	if (!pw) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (file) {
		int fd = open(file, O_RDONLY | O_CLOEXEC);

		if (fd < 0) {
			ret = -errno;
			snprintf(err, errlen, "cannot read password file '%s': %s",
				 file, strerror(errno));
			goto out_free;
		}
		ret = read_line(fd, pw, PASSWORD_MAX, len);
		close(fd);
		if (ret) {
			snprintf(err, errlen, "cannot read password file '%s': %s",
				 file, strerror(-ret));
			goto out_free;
		}
	} else if (env) {
		*len = strlen(env);
		if (*len >= PASSWORD_MAX) {
			ret = -E2BIG;
			snprintf(err, errlen, "BACKUPFS_PASSWORD is too long");
			goto out_free;
		}
		memcpy(pw, env, *len + 1);
	} else if ((tty = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY)) >= 0) {
		snprintf(text, sizeof(text), "password for %s: ", what);
		ret = prompt(tty, text, pw, PASSWORD_MAX, len);
		if (!ret && confirm) {
			size_t len2;

			again = sodium_malloc(PASSWORD_MAX);
			ret = again ? prompt(tty, "again: ", again, PASSWORD_MAX,
					     &len2) : -ENOMEM;
			if (!ret && (len2 != *len || memcmp(pw, again, len2))) {
				ret = -EINVAL;
				snprintf(err, errlen, "the two passwords differ");
			}
			if (again)
				sodium_free(again);
		}
		close(tty);
		if (ret) {
			if (ret != -EINVAL)
				snprintf(err, errlen, "cannot read the password: %s",
					 strerror(-ret));
			goto out_free;
		}
	} else {
		ret = -ENOKEY;
		snprintf(err, errlen, "no password for %s: set BACKUPFS_PASSWORD, "
			 "use --password-file FILE, or run on a terminal", what);
		goto out_free;
	}
	if (*len == 0) {
		ret = -EINVAL;
		snprintf(err, errlen, "the password for %s is empty", what);
		goto out_free;
	}
	*out = pw;
	return 0;

out_free:
	sodium_free(pw);
	return ret;
}
