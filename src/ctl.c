/*
 * ctl.c - see ctl.h.
 *
 * Threads: each server has one accept thread, woken for shutdown through a
 * pipe, and one joinable thread per connection, kept on the server's list.
 * The accept thread joins the finished ones as it goes; ctl_server_stop()
 * joins the rest, so no thread outlives the server it points into.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "banned.h"
#include "ctl.h"
#include "log.h"
#include "runtime.h"

/* Connections served at once: each is a thread, and only our own uid or
 * root can connect, so this only stops a runaway script. */
#define CTL_MAX_CONNS 32
/* Per send()/recv() on the server's side.  Our client sends its request at
 * once and reads the reply at once; one that stalls is dropped rather than
 * left holding a thread (and ctl_server_stop()) for ever. */
#define CTL_IO_TIMEOUT_SEC 10
#define CTL_SUN_PATH_MAX sizeof(((struct sockaddr_un *)0)->sun_path)
/* "-" and the 8 hex digits that end runtime_name(). */
#define CTL_HASH_LEN 9

struct ctl_conn {
	struct ctl_server *srv;
	pthread_t thread;
	int fd;			/* -1 once the thread has closed it */
	int done;		/* the thread has finished: join it */
	struct ctl_conn *next;
};

struct ctl_server {
	char path[CTL_SUN_PATH_MAX];
	dev_t dev;		/* of the socket file we bound, so that we */
	ino_t ino;		/* unlink only our own */
	int bound;
	int fd;
	int wake[2];		/* a byte here stops the accept thread */
	int running;		/* the accept thread was started */
	ctl_handler *fn;
	void *arg;
	uid_t euid;
	pthread_t thread;
	pthread_mutex_t lock;	/* conns, nconns, and each conn's fd, done */
	struct ctl_conn *conns;
	unsigned nconns;
};

__attribute__((format(printf, 3, 4)))
static void seterr(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!err || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

int ctl_sockpath(const char *mountpoint, char *buf, size_t len)
{
	char pid[PATH_MAX + 64];
	const char *slash, *name;
	size_t dirlen, namelen, keep, fixed;
	int err = runtime_pidfile(mountpoint, pid, sizeof(pid));

	if (err)
		return err;
	slash = strrchr(pid, '/');
	namelen = strlen(pid);
	if (!slash || namelen < 4 || strcmp(pid + namelen - 4, ".pid") != 0)
		return -EINVAL;
	dirlen = (size_t)(slash - pid);
	name = slash + 1;
	namelen = strlen(name) - 4;
	if (namelen < CTL_HASH_LEN)
		return -EINVAL;
	/*
	 * The name is "<readable>-<hash>": shorten the readable part until
	 * the path fits sun_path.  The hash keeps distinct mountpoints apart.
	 */
	keep = namelen - CTL_HASH_LEN;
	fixed = dirlen + 1 + CTL_HASH_LEN + strlen(".sock") + 1;
	if (fixed > CTL_SUN_PATH_MAX)
		return -ENAMETOOLONG;
	if (fixed + keep > CTL_SUN_PATH_MAX)
		keep = CTL_SUN_PATH_MAX - fixed;
	err = snprintf(buf, len, "%.*s/%.*s%.*s.sock", (int)dirlen, pid,
		       (int)keep, name, CTL_HASH_LEN, name + namelen - CTL_HASH_LEN);
	if (err < 0 || (size_t)err >= len)
		return -ENAMETOOLONG;
	return 0;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until fd is ready for events, or the deadline (0: none) passes. */
static int wait_fd(int fd, short events, long long deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	long long left;
	int r;

	if (!deadline)
		return 0;
	for (;;) {
		left = deadline - now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

/* MSG_NOSIGNAL: a peer that went away is EPIPE, not a dead daemon. */
static int send_all(int fd, const char *p, size_t len, int flags,
		    long long deadline)
{
	ssize_t w;
	int ret;

	while (len) {
		ret = wait_fd(fd, POLLOUT, deadline);
		if (ret)
			return ret;
		w = send(fd, p, len, flags | MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

static ssize_t recv_some(int fd, char *buf, size_t len, long long deadline)
{
	ssize_t r;
	int ret;

	for (;;) {
		ret = wait_fd(fd, POLLIN, deadline);
		if (ret)
			return ret;
		r = recv(fd, buf, len, 0);
		if (r >= 0)
			return r;
		if (errno != EINTR)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
	}
}

static int unix_connect(const char *path, int timeout_ms, int *fdp)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n = strlen(path);
	int fd, ret;

	if (n >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, n + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (timeout_ms > 0) {
		/* connect() waits this long when the listen backlog is full. */
		struct timeval tv = { timeout_ms / 1000,
				      (timeout_ms % 1000) * 1000 };
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	/* An AF_UNIX connect() either happens or not: EINTR can retry. */
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno == EINTR)
			continue;
		ret = errno == EAGAIN ? -ETIMEDOUT : -errno;
		close(fd);
		return ret;
	}
	*fdp = fd;
	return 0;
}

/* --- the server -------------------------------------------------------- */

static void send_reply(int fd, int status, const char *body, int flags,
		       const char *req)
{
	size_t len = body ? strlen(body) : 0;
	char head[64];
	int ret;

	if (len > CTL_REPLY_MAX) {
		log_warning("control socket: the reply to '%.64s' is %zu bytes; "
			    "only the first %u are sent", req, len,
			    CTL_REPLY_MAX);
		len = CTL_REPLY_MAX;
	}
	if (status)
		snprintf(head, sizeof(head), "ERR %d %zu\n", -status, len);
	else
		snprintf(head, sizeof(head), "OK %zu\n", len);
	ret = send_all(fd, head, strlen(head), flags, 0);
	if (!ret && len)
		ret = send_all(fd, body, len, flags, 0);
	if (ret)
		log_debug("control socket: reply to '%.64s' not delivered: %s",
			  req, strerror(-ret));
}

/*
 * The request line into req (CTL_REQUEST_MAX + 1 bytes), NUL-terminated:
 * 0, -EMSGSIZE, -EINVAL for a NUL in it, or -errno when the client went
 * away (-ECONNRESET) or sent nothing for CTL_IO_TIMEOUT_SEC.
 */
static int read_request(int fd, char *req)
{
	size_t n = 0;
	ssize_t r;
	char *nl;

	while (n < CTL_REQUEST_MAX + 1) {
		r = recv_some(fd, req + n, CTL_REQUEST_MAX + 1 - n, 0);
		if (r < 0)
			return (int)r;
		if (r == 0)
			return -ECONNRESET;
		nl = memchr(req + n, '\n', (size_t)r);
		n += (size_t)r;
		if (nl) {
			*nl = '\0';
			return memchr(req, '\0', (size_t)(nl - req)) ? -EINVAL : 0;
		}
	}
	return -EMSGSIZE;
}

static void serve(struct ctl_server *s, int fd)
{
	struct timeval tv = { CTL_IO_TIMEOUT_SEC, 0 };
	char req[CTL_REQUEST_MAX + 1], msg[128];
	socklen_t clen = sizeof(struct ucred);
	struct ucred cred;
	const char *body = NULL;
	char *reply = NULL;
	int status;

	req[0] = '\0';
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	/*
	 * Refused peers are answered without reading their request: the
	 * unread bytes make the close a reset, but our client reads the
	 * answer queued before it all the same.
	 */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0 ||
	    (cred.uid != 0 && cred.uid != s->euid)) {
		log_warning("control socket '%s': refused a connection from "
			    "uid %ld", s->path,
			    clen == sizeof(cred) ? (long)cred.uid : -1L);
		snprintf(msg, sizeof(msg), "only root and uid %u may use this "
			 "daemon's control socket", (unsigned)s->euid);
		status = -EACCES;
		body = msg;
	} else {
		status = read_request(fd, req);
		if (status == -EMSGSIZE) {
			snprintf(msg, sizeof(msg), "request too long (the limit "
				 "is %d bytes)", CTL_REQUEST_MAX);
			body = msg;
		} else if (status == -EINVAL) {
			body = "request contains a NUL byte";
		} else if (status < 0) {
			/* Gone or silent: nobody to answer. */
			log_debug("control socket '%s': no request read: %s",
				  s->path, strerror(-status));
			return;
		} else {
			status = s->fn(s->arg, req, &reply);
			if (status > 0 || status < -4095) {
				log_error("control socket: the handler of "
					  "'%.64s' returned %d", req, status);
				status = -EIO;
			}
			body = reply;
		}
	}
	send_reply(fd, status, body, 0, req);
	free(reply);
}

static void *conn_main(void *p)
{
	struct ctl_conn *c = p;
	struct ctl_server *s = c->srv;

	serve(s, c->fd);
	/* Under the lock: ctl_server_stop() must not shutdown() a number
	 * that is closed, and perhaps already reused by another open(). */
	pthread_mutex_lock(&s->lock);
	close(c->fd);
	c->fd = -1;
	c->done = 1;
	s->nconns--;
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static void reap(struct ctl_server *s)
{
	struct ctl_conn **pp, *c, *dead = NULL;

	pthread_mutex_lock(&s->lock);
	for (pp = &s->conns; (c = *pp);) {
		if (c->done) {
			*pp = c->next;
			c->next = dead;
			dead = c;
		} else {
			pp = &c->next;
		}
	}
	pthread_mutex_unlock(&s->lock);
	while ((c = dead)) {
		dead = c->next;
		pthread_join(c->thread, NULL);
		free(c);
	}
}

static void spawn(struct ctl_server *s, int fd)
{
	struct ctl_conn *c = NULL;
	int ret = -EAGAIN;

	pthread_mutex_lock(&s->lock);
	if (s->nconns < CTL_MAX_CONNS && (c = calloc(1, sizeof(*c)))) {
		c->srv = s;
		c->fd = fd;
		/* The thread sets done under this lock: it is listed first. */
		ret = -pthread_create(&c->thread, NULL, conn_main, c);
		if (ret == 0) {
			c->next = s->conns;
			s->conns = c;
			s->nconns++;
		} else {
			free(c);
		}
	}
	pthread_mutex_unlock(&s->lock);
	if (ret) {
		/* MSG_DONTWAIT: the accept loop must not wait on this one. */
		send_reply(fd, -EAGAIN, "too many control connections at "
			   "once; try again", MSG_DONTWAIT, "");
		close(fd);
	}
}

static void *accept_main(void *p)
{
	struct ctl_server *s = p;
	struct pollfd pfd[2];
	int fd, warned = 0;

	for (;;) {
		pfd[0] = (struct pollfd){ .fd = s->fd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = s->wake[0], .events = POLLIN };
		if (poll(pfd, 2, -1) < 0) {
			if (errno != EINTR)
				poll(NULL, 0, 100);
			continue;
		}
		if (pfd[1].revents)
			break;
		if (!pfd[0].revents)
			continue;
		fd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				if (!warned++)
					log_warning("control socket '%s': cannot "
						    "accept a connection: %s",
						    s->path, strerror(errno));
				/* It stays queued: back off, do not spin. */
				poll(&pfd[1], 1, 100);
			}
			continue;
		}
		warned = 0;
		reap(s);
		spawn(s, fd);
	}
	return NULL;
}

/*
 * bind(), replacing a socket file nobody listens on any more (its daemon
 * died), but not one that answers, nor a file that is not a socket.
 */
static int bind_path(int fd, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int tries, probe, ret;

	memcpy(sa.sun_path, path, strlen(path) + 1);
	for (tries = 0;; tries++) {
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return 0;
		ret = -errno;
		if (ret != -EADDRINUSE || tries == 2)
			break;
		if (lstat(path, &st) < 0) {
			ret = -errno;
			if (ret == -ENOENT)
				continue;	/* gone meanwhile */
			break;
		}
		if (!S_ISSOCK(st.st_mode)) {
			seterr(err, errlen, "'%s' exists and is not a socket: "
			       "remove it", path);
			return -EEXIST;
		}
		ret = unix_connect(path, 1000, &probe);
		if (ret == 0 || ret == -ETIMEDOUT) {
			/* Answered, or queued on a full backlog: alive. */
			if (ret == 0)
				close(probe);
			seterr(err, errlen, "another backupfs daemon is already "
			       "serving the control socket '%s'", path);
			return -EADDRINUSE;
		}
		if (ret == -ENOENT)
			continue;
		if (ret != -ECONNREFUSED)
			break;
		log_info("replacing the stale control socket '%s'", path);
		if (unlink(path) < 0 && errno != ENOENT) {
			ret = -errno;
			break;
		}
	}
	seterr(err, errlen, "cannot create the control socket '%s': %s", path,
	       strerror(-ret));
	return ret;
}

/* Removes the socket file if it is still the one we bound. */
static void unlink_ours(struct ctl_server *s)
{
	struct stat st;

	if (s->bound && lstat(s->path, &st) == 0 && st.st_dev == s->dev &&
	    st.st_ino == s->ino)
		unlink(s->path);
	s->bound = 0;
}

static void server_free(struct ctl_server *s)
{
	if (s->fd >= 0)
		close(s->fd);
	unlink_ours(s);
	if (s->wake[0] >= 0)
		close(s->wake[0]);
	if (s->wake[1] >= 0)
		close(s->wake[1]);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

int ctl_server_start(const char *path, ctl_handler *fn, void *arg,
		     struct ctl_server **out, char *err, size_t errlen)
{
	struct ctl_server *s;
	sigset_t all, old;
	struct stat st;
	int ret;

	*out = NULL;
	if (strlen(path) >= CTL_SUN_PATH_MAX) {
		seterr(err, errlen, "the control socket path '%s' is too long "
		       "(the limit is %zu bytes)", path, CTL_SUN_PATH_MAX - 1);
		return -ENAMETOOLONG;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		seterr(err, errlen, "out of memory");
		return -ENOMEM;
	}
	memcpy(s->path, path, strlen(path) + 1);
	s->fn = fn;
	s->arg = arg;
	s->euid = geteuid();
	s->wake[0] = s->wake[1] = -1;
	pthread_mutex_init(&s->lock, NULL);
	s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->fd < 0) {
		ret = -errno;
		seterr(err, errlen, "cannot create the control socket '%s': %s",
		       path, strerror(-ret));
		goto fail;
	}
	ret = bind_path(s->fd, path, err, errlen);
	if (ret)
		goto fail;
	if (lstat(path, &st) < 0) {
		ret = -errno;
		unlink(path);
		goto fail_setup;
	}
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	s->bound = 1;
	/* Before listen(): until then nobody can connect, whatever the mode
	 * bind() gave it from the umask. */
	if (chmod(path, 0600) < 0 || listen(s->fd, 16) < 0 ||
	    pipe2(s->wake, O_CLOEXEC) < 0) {
		ret = -errno;
		goto fail_setup;
	}
	/*
	 * With every signal blocked, inherited by the connection threads too:
	 * SIGINT/SIGTERM must interrupt the FUSE loop's wait in the main
	 * thread, which a handler running in one of ours would not.
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = -pthread_create(&s->thread, NULL, accept_main, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret)
		goto fail_setup;
	s->running = 1;
	*out = s;
	return 0;

fail_setup:
	seterr(err, errlen, "cannot set up the control socket '%s': %s", path,
	       strerror(-ret));
fail:
	server_free(s);
	return ret;
}

void ctl_server_stop(struct ctl_server *s)
{
	struct ctl_conn *c;
	ssize_t w;

	if (!s)
		return;
	if (s->running) {
		do
			w = write(s->wake[1], "", 1);
		while (w < 0 && errno == EINTR);
		pthread_join(s->thread, NULL);
		s->running = 0;
	}
	/* New clients now fail at once instead of queueing for nothing. */
	close(s->fd);
	s->fd = -1;
	unlink_ours(s);
	/*
	 * Cut off those still waiting for their request (SHUT_RD makes
	 * recv() return 0); replies being written still go out.
	 */
	pthread_mutex_lock(&s->lock);
	for (c = s->conns; c; c = c->next)
		if (c->fd >= 0)
			shutdown(c->fd, SHUT_RD);
	pthread_mutex_unlock(&s->lock);
	while ((c = s->conns)) {
		s->conns = c->next;
		pthread_join(c->thread, NULL);
		free(c);
	}
	server_free(s);
}

/* --- the client -------------------------------------------------------- */

/* "OK LEN" or "ERR ERRNO LEN": 0 with *status and *len, or -EPROTO. */
static int parse_head(const char *h, int *status, size_t *len)
{
	unsigned long e = 0, l;
	char *end;

	if (strncmp(h, "OK ", 3) == 0) {
		h += 3;
	} else if (strncmp(h, "ERR ", 4) == 0) {
		h += 4;
		if (*h < '1' || *h > '9')
			return -EPROTO;
		e = strtoul(h, &end, 10);
		if (*end != ' ' || e > 4095)
			return -EPROTO;
		h = end + 1;
	} else {
		return -EPROTO;
	}
	if (*h < '0' || *h > '9')
		return -EPROTO;
	errno = 0;
	l = strtoul(h, &end, 10);
	if (errno || *end || l > CTL_REPLY_MAX)
		return -EPROTO;
	*status = -(int)e;
	*len = l;
	return 0;
}

int ctl_call(const char *path, const char *request, int timeout_ms,
	     char **reply, int *status, char *err, size_t errlen)
{
	long long deadline = timeout_ms > 0 ? now_ms() + timeout_ms : 0;
	size_t reqlen = strlen(request), n = 0, len = 0, have;
	char head[64], *nl = NULL, *body = NULL;
	int fd, ret, got_head = 0;
	ssize_t r;

	*reply = NULL;
	*status = 0;
	if (reqlen > CTL_REQUEST_MAX) {
		seterr(err, errlen, "request too long (%zu bytes; the limit is "
		       "%d)", reqlen, CTL_REQUEST_MAX);
		return -EMSGSIZE;
	}
	if (memchr(request, '\n', reqlen)) {
		seterr(err, errlen, "a request must be one line");
		return -EINVAL;
	}
	ret = unix_connect(path, timeout_ms, &fd);
	if (ret) {
		seterr(err, errlen, "cannot connect to the control socket "
		       "'%s': %s", path, strerror(-ret));
		return ret;
	}
	ret = send_all(fd, request, reqlen, 0, deadline);
	if (!ret)
		ret = send_all(fd, "\n", 1, 0, deadline);
	/* A refusal may be answered, and the connection closed, before our
	 * request is read: the answer is still there to read. */
	if (ret && ret != -EPIPE && ret != -ECONNRESET)
		goto fail;

	/* The status line, and maybe the start of the body after it. */
	while (!(nl = memchr(head, '\n', n))) {
		if (n == sizeof(head) - 1) {
			ret = -EPROTO;
			goto fail;
		}
		r = recv_some(fd, head + n, sizeof(head) - 1 - n, deadline);
		if (r <= 0) {
			ret = r ? (int)r : -ECONNRESET;
			goto fail;
		}
		n += (size_t)r;
	}
	*nl = '\0';
	ret = parse_head(head, status, &len);
	if (ret)
		goto fail;
	got_head = 1;
	body = malloc(len + 1);
	if (!body) {
		ret = -ENOMEM;
		goto fail;
	}
	have = n - (size_t)(nl + 1 - head);
	if (have > len)
		have = len;
	memcpy(body, nl + 1, have);
	while (have < len) {
		r = recv_some(fd, body + have, len - have, deadline);
		if (r <= 0) {
			ret = r ? (int)r : -ECONNRESET;
			goto fail;
		}
		have += (size_t)r;
	}
	body[len] = '\0';
	close(fd);
	*reply = body;
	return 0;

fail:
	close(fd);
	free(body);
	*status = 0;
	if (ret == -ETIMEDOUT)
		seterr(err, errlen, "no reply on '%s' within %g seconds", path,
		       timeout_ms / 1000.0);
	else if (ret == -ECONNRESET && !got_head)
		seterr(err, errlen, "the daemon closed '%s' without replying "
		       "(is it shutting down?)", path);
	else if (ret == -ECONNRESET)
		seterr(err, errlen, "the daemon's reply on '%s' was cut short",
		       path);
	else if (ret == -EPROTO)
		seterr(err, errlen, "unexpected reply on '%s' (from a daemon of "
		       "another backupfs version?)", path);
	else
		seterr(err, errlen, "talking to the daemon on '%s': %s", path,
		       strerror(-ret));
	return ret;
}
