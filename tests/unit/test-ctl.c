/*
 * test-ctl.c - the control socket: round trips, the daemon's errors, a
 * blocked handler beside a served one, refusals (too long, other uid), a
 * client that leaves early, the socket file's life (stale, live, stop).
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "runtime.h"
#include "tap.h"

/* Long enough for a slow machine, short enough that a hang fails. */
#define WAIT_MS 10000

struct state {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int blocked;		/* handlers waiting in "block" */
	int release;		/* lets them go */
	int calls;		/* handler invocations */
	size_t last_len;	/* strlen of the last request */
};

static struct state st = {
	PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0
};

static int handler(void *arg, const char *req, char **reply)
{
	struct state *s = arg;

	pthread_mutex_lock(&s->lock);
	s->calls++;
	s->last_len = strlen(req);
	pthread_mutex_unlock(&s->lock);
	if (strncmp(req, "echo ", 5) == 0) {
		if (asprintf(reply, "line one\nline two\n%s\n", req + 5) < 0) {
			*reply = NULL;
			return -ENOMEM;
		}
		return 0;
	}
	if (strcmp(req, "fail") == 0) {
		*reply = strdup("disk full on purpose");
		return -ENOSPC;
	}
	if (strcmp(req, "fail quietly") == 0)
		return -EIO;
	if (strcmp(req, "big") == 0) {
		*reply = malloc(CTL_REPLY_MAX + 1001);
		if (!*reply)
			return -ENOMEM;
		memset(*reply, 'x', CTL_REPLY_MAX + 1000);
		(*reply)[CTL_REPLY_MAX + 1000] = '\0';
		return 0;
	}
	if (strcmp(req, "block") == 0) {
		pthread_mutex_lock(&s->lock);
		s->blocked++;
		pthread_cond_broadcast(&s->cond);
		while (!s->release)
			pthread_cond_wait(&s->cond, &s->lock);
		s->blocked--;
		pthread_cond_broadcast(&s->cond);
		pthread_mutex_unlock(&s->lock);
		*reply = strdup("unblocked");
		return 0;
	}
	*reply = strdup("unknown request");
	return -EINVAL;
}

static int calls(void)
{
	int n;

	pthread_mutex_lock(&st.lock);
	n = st.calls;
	pthread_mutex_unlock(&st.lock);
	return n;
}

/* Waits (boundedly) until n handlers are blocked; 1 if they are. */
static int wait_blocked(int n)
{
	struct timespec until;
	int r = 0;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += WAIT_MS / 1000;
	pthread_mutex_lock(&st.lock);
	while (st.blocked != n && r == 0)
		r = pthread_cond_timedwait(&st.cond, &st.lock, &until);
	r = st.blocked == n;
	pthread_mutex_unlock(&st.lock);
	return r;
}

/* Lets the blocked handlers go and waits until they have. */
static int release_all(void)
{
	int ok_;

	pthread_mutex_lock(&st.lock);
	st.release = 1;
	pthread_cond_broadcast(&st.cond);
	pthread_mutex_unlock(&st.lock);
	ok_ = wait_blocked(0);
	pthread_mutex_lock(&st.lock);
	st.release = 0;
	pthread_mutex_unlock(&st.lock);
	return ok_;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A bare client, for what ctl_call() would not send. */
static int raw_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { WAIT_MS / 1000, 0 };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || strlen(path) >= sizeof(sa.sun_path)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Reads until EOF, a reset or a full buf; the bytes read. */
static size_t raw_read(int fd, char *buf, size_t len)
{
	size_t n = 0;
	ssize_t r;

	while (n + 1 < len && (r = recv(fd, buf + n, len - 1 - n, 0)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	return n;
}

/* A socket file nobody listens on: what a daemon that died leaves. */
static int make_stale(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, ret;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ret = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	return ret;
}

struct call {
	const char *path, *request;
	int ret, status;
	char *reply;
	char err[512];
};

static void *call_main(void *p)
{
	struct call *c = p;

	c->ret = ctl_call(c->path, c->request, WAIT_MS, &c->reply, &c->status,
			  c->err, sizeof(c->err));
	return NULL;
}

static void *stop_main(void *p)
{
	ctl_server_stop(p);
	return NULL;
}

static int is_socket(const char *path)
{
	struct stat sb;

	return lstat(path, &sb) == 0 && S_ISSOCK(sb.st_mode);
}

/* As uid nobody, with the file modes opened up, ask for an echo: the
 * daemon (uid 0) must refuse by SO_PEERCRED alone. */
static void check_peer_uid(const char *dir, const char *path)
{
	char *reply = NULL, err[512];
	int before = calls(), status = 0, ret, wst = 0;
	pid_t pid;

	if (geteuid() != 0) {
		ok(1, "other uid refused # SKIP needs root to switch uid");
		return;
	}
	chmod(dir, 0755);
	chmod(path, 0666);
	pid = fork();
	if (pid == 0) {
		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(3);
		ret = ctl_call(path, "echo nobody", WAIT_MS, &reply, &status,
			       err, sizeof(err));
		_exit(ret ? 2 : status == -EACCES && strstr(reply, "uid 0") ?
				0 : 1);
	}
	waitpid(pid, &wst, 0);
	chmod(path, 0600);
	chmod(dir, 0700);
	ok(WIFEXITED(wst) && WEXITSTATUS(wst) == 0 && calls() == before,
	   "uid 65534 gets ERR EACCES, its request unread (child exit %d)",
	   WIFEXITED(wst) ? WEXITSTATUS(wst) : -1);
}

static void check_sockpath(void)
{
	char a[PATH_MAX], b[PATH_MAX], pid[PATH_MAX];
	char *lng = malloc(260), *lng2;
	size_t n;
	int ret;

	ok(ctl_sockpath("/srv/data", a, sizeof(a)) == 0 &&
	   runtime_pidfile("/srv/data", pid, sizeof(pid)) == 0,
	   "socket and pid file paths for /srv/data");
	n = strlen(pid) - strlen(".pid");
	ok(strlen(a) == n + strlen(".sock") && strncmp(a, pid, n) == 0 &&
	   strcmp(a + n, ".sock") == 0, "the pid file's, with .sock: %s", a);

	memset(lng, 'a', 259);
	lng[0] = '/';
	lng[259] = '\0';
	lng2 = strdup(lng);
	lng2[258] = 'b';
	a[0] = b[0] = '\0';
	ret = ctl_sockpath(lng, a, sizeof(a)) || ctl_sockpath(lng2, b, sizeof(b));
	n = strlen(a);
	ok(ret == 0 && n < sizeof(((struct sockaddr_un *)0)->sun_path) &&
	   n > 100 && strcmp(a, b) != 0,
	   "long mountpoints fit sun_path and stay apart (%zu bytes)", n);
	ok(ctl_sockpath("/srv/data", a, 10) == -ENAMETOOLONG,
	   "a short buffer is -ENAMETOOLONG");
	free(lng);
	free(lng2);
}

int main(void)
{
	char dir[] = "/tmp/backupfs-test-XXXXXX", path[256], path2[256];
	char path3[256], missing[256], err[512], *reply = NULL, *req;
	struct ctl_server *srv = NULL, *srv2 = NULL;
	struct call a = { 0 }, b = { 0 };
	pthread_t ta, tb;
	struct stat sb;
	int status, ret, fd, before;
	long long t0;
	char buf[256];
	FILE *f;

	/* A hang is a failure, not a stuck test run; a SIGPIPE must kill us
	 * (so the early-leaving client test can fail) even if our parent
	 * ignored it; and what passed before a crash must still show. */
	alarm(120);
	signal(SIGPIPE, SIG_DFL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!ok(mkdtemp(dir) != NULL, "temporary directory"))
		return tap_done();
	snprintf(path, sizeof(path), "%s/a.sock", dir);
	snprintf(path2, sizeof(path2), "%s/b.sock", dir);
	snprintf(path3, sizeof(path3), "%s/c.sock", dir);
	snprintf(missing, sizeof(missing), "%s/none.sock", dir);

	check_sockpath();

	umask(022);
	ret = ctl_server_start(path, handler, &st, &srv, err, sizeof(err));
	if (!ok(ret == 0, "server starts (%s)", ret ? err : "ok"))
		return tap_done();
	memset(&sb, 0, sizeof(sb));
	ret = lstat(path, &sb);
	ok(ret == 0 && S_ISSOCK(sb.st_mode) && (sb.st_mode & 07777) == 0600,
	   "socket file, mode 0600 (%o)", (unsigned)(sb.st_mode & 07777));

	/* Round trips. */
	ret = ctl_call(path, "echo hello", WAIT_MS, &reply, &status, err,
		       sizeof(err));
	ok(ret == 0 && status == 0 && reply &&
	   strcmp(reply, "line one\nline two\nhello\n") == 0,
	   "a multi-line reply comes back whole");
	free(reply);
	ret = ctl_call(path, "fail", WAIT_MS, &reply, &status, err, sizeof(err));
	ok(ret == 0 && status == -ENOSPC && reply &&
	   strcmp(reply, "disk full on purpose") == 0,
	   "the handler's -errno and text come back (status %d)", status);
	free(reply);
	ret = ctl_call(path, "fail quietly", WAIT_MS, &reply, &status, err,
		       sizeof(err));
	ok(ret == 0 && status == -EIO && reply && *reply == '\0',
	   "an error without text: status only, empty body");
	free(reply);
	ret = ctl_call(path, "big", WAIT_MS, &reply, &status, err, sizeof(err));
	ok(ret == 0 && status == 0 && reply && strlen(reply) == CTL_REPLY_MAX,
	   "a reply over CTL_REPLY_MAX is truncated to it (%zu)",
	   reply ? strlen(reply) : 0);
	free(reply);

	/* Request sizes: the limit itself passes, one more does not. */
	req = malloc(CTL_REQUEST_MAX + 200);
	memcpy(req, "echo ", 5);
	memset(req + 5, 'y', CTL_REQUEST_MAX + 100);
	req[CTL_REQUEST_MAX] = '\0';
	ret = ctl_call(path, req, WAIT_MS, &reply, &status, err, sizeof(err));
	ok(ret == 0 && status == 0 && st.last_len == CTL_REQUEST_MAX,
	   "a request of CTL_REQUEST_MAX bytes is served");
	free(reply);
	req[CTL_REQUEST_MAX] = 'y';
	req[CTL_REQUEST_MAX + 1] = '\0';
	before = calls();
	ret = ctl_call(path, req, WAIT_MS, &reply, &status, err, sizeof(err));
	ok(ret == -EMSGSIZE && reply == NULL && calls() == before,
	   "ctl_call refuses a longer one itself: %s", err);
	fd = raw_connect(path);
	req[CTL_REQUEST_MAX + 100] = '\n';
	if (fd >= 0) {
		if (send(fd, req, CTL_REQUEST_MAX + 101, MSG_NOSIGNAL) < 0) {
			/* refused already: the answer is still to be read */
		}
		raw_read(fd, buf, sizeof(buf));
		close(fd);
	}
	snprintf(err, sizeof(err), "ERR %d ", EMSGSIZE);
	ok(fd >= 0 && strncmp(buf, err, strlen(err)) == 0 &&
	   strstr(buf, "too long") && calls() == before,
	   "the server refuses an over-long request: %.*s",
	   (int)strcspn(buf, "\n"), buf);
	free(req);
	fd = raw_connect(path);
	if (fd >= 0) {
		if (send(fd, "echo a\0b\n", 9, MSG_NOSIGNAL) < 0) {
			/* checked by the reply */
		}
		raw_read(fd, buf, sizeof(buf));
		close(fd);
	}
	snprintf(err, sizeof(err), "ERR %d ", EINVAL);
	ok(fd >= 0 && strncmp(buf, err, strlen(err)) == 0 &&
	   calls() == before, "a NUL in the request is refused: %.*s",
	   (int)strcspn(buf, "\n"), buf);

	/* One handler blocked, another client still served. */
	a.path = path;
	a.request = "block";
	pthread_create(&ta, NULL, call_main, &a);
	ok(wait_blocked(1), "the first handler blocks");
	ret = ctl_call(path, "echo beside", WAIT_MS, &reply, &status, err,
		       sizeof(err));
	ok(ret == 0 && status == 0 && reply && strstr(reply, "beside") &&
	   wait_blocked(1), "a second client is served meanwhile");
	free(reply);
	ok(release_all(), "released");
	pthread_join(ta, NULL);
	ok(a.ret == 0 && a.status == 0 && a.reply &&
	   strcmp(a.reply, "unblocked") == 0, "the first gets its reply");
	free(a.reply);

	/* Timeout: the client gives up; the server, replying into a closed
	 * socket later, must not die of SIGPIPE. */
	t0 = now_ms();
	ret = ctl_call(path, "block", 300, &reply, &status, err, sizeof(err));
	ok(ret == -ETIMEDOUT && reply == NULL && now_ms() - t0 < WAIT_MS &&
	   strstr(err, "within"), "timeout_ms: -ETIMEDOUT: %s", err);
	ok(wait_blocked(1) && release_all(), "its handler ran and is released");
	fd = raw_connect(path);
	if (fd >= 0 && send(fd, "block\n", 6, MSG_NOSIGNAL) == 6 &&
	    wait_blocked(1)) {
		close(fd);
		release_all();
		sleep_ms(100);	/* the reply meets the closed socket */
	} else if (fd >= 0) {
		close(fd);
	}
	ret = ctl_call(path, "echo still", WAIT_MS, &reply, &status, err,
		       sizeof(err));
	ok(fd >= 0 && ret == 0 && status == 0 && reply &&
	   strstr(reply, "still"), "clients that left early: server goes on");
	free(reply);

	check_peer_uid(dir, path);

	/* The socket file's life. */
	ret = ctl_server_start(path, handler, &st, &srv2, err, sizeof(err));
	ok(ret == -EADDRINUSE && srv2 == NULL && strstr(err, path),
	   "a second server on a live socket: -EADDRINUSE: %s", err);
	ret = ctl_call(path, "echo first", WAIT_MS, &reply, &status, err,
		       sizeof(err));
	ok(ret == 0 && status == 0 && is_socket(path),
	   "... and the first still answers on it");
	free(reply);

	ok(make_stale(path2) == 0 && is_socket(path2) &&
	   ctl_call(path2, "echo x", WAIT_MS, &reply, &status, err,
		    sizeof(err)) == -ECONNREFUSED,
	   "a stale socket file refuses connections");
	ret = ctl_server_start(path2, handler, &st, &srv2, err, sizeof(err));
	ok(ret == 0, "a server replaces the stale socket (%s)",
	   ret ? err : "ok");
	ret = ctl_call(path2, "echo two", WAIT_MS, &reply, &status, err,
		       sizeof(err));
	ok(ret == 0 && status == 0 && reply && strstr(reply, "two"),
	   "... and answers on it");
	free(reply);
	ctl_server_stop(srv2);
	ok(!is_socket(path2) && errno == ENOENT,
	   "ctl_server_stop unlinks the socket");
	ret = ctl_call(path2, "echo x", WAIT_MS, &reply, &status, err,
		       sizeof(err));
	ok(ret == -ENOENT && reply == NULL, "... after which calls fail");

	f = fopen(path3, "w");
	if (f)
		fclose(f);
	ret = ctl_server_start(path3, handler, &st, &srv2, err, sizeof(err));
	ok(ret == -EEXIST && lstat(path3, &sb) == 0 && S_ISREG(sb.st_mode),
	   "a file that is not a socket is left alone: %s", err);
	unlink(path3);

	ret = ctl_call(missing, "status", WAIT_MS, &reply, &status, err,
		       sizeof(err));
	ok(ret == -ENOENT && reply == NULL && status == 0 &&
	   strstr(err, missing) && !strchr(err, '\n'),
	   "no socket: -ENOENT with one line: %s", err);

	/*
	 * Stop with a handler blocked and a client that never sends: stop
	 * waits for the handler (whose reply still goes out), not for the
	 * silent one, and new clients fail at once meanwhile.
	 */
	b.path = path;
	b.request = "block";
	pthread_create(&tb, NULL, call_main, &b);
	ok(wait_blocked(1), "a handler blocks before stop");
	fd = raw_connect(path);
	sleep_ms(50);
	pthread_create(&ta, NULL, stop_main, srv);
	sleep_ms(300);
	ok(pthread_tryjoin_np(ta, NULL) == EBUSY,
	   "ctl_server_stop waits for the blocked handler");
	ret = ctl_call(path, "echo late", WAIT_MS, &reply, &status, err,
		       sizeof(err));
	ok(ret == -ENOENT && !is_socket(path),
	   "while it waits, the socket is gone (%d)", ret);
	t0 = now_ms();
	release_all();
	pthread_join(ta, NULL);
	ok(now_ms() - t0 < 5000, "then it returns; the silent client did not "
	   "hold it (%lld ms)", now_ms() - t0);
	pthread_join(tb, NULL);
	ok(b.ret == 0 && b.status == 0 && b.reply &&
	   strcmp(b.reply, "unblocked") == 0,
	   "the blocked call got its reply during stop");
	free(b.reply);
	if (fd >= 0)
		close(fd);
	ctl_server_stop(NULL);

	rmdir(dir);
	return tap_done();
}
