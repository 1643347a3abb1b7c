/*
 * ctl.h - the daemon's control socket, through which "backupfs sync" and
 * "backupfs status" talk to the daemon serving a mount.
 *
 * One AF_UNIX stream socket per mount, next to the pid file (runtime.h),
 * mode 0600 in a 0700 directory.  The server also checks the peer's
 * credentials (SO_PEERCRED) and serves only root and the daemon's own euid,
 * so that a socket made reachable by mistake still gives nothing away.
 *
 * Wire format: one request per connection.
 *
 *   client -> server:  REQUEST '\n'
 *       REQUEST is at most CTL_REQUEST_MAX bytes, without '\n' or NUL;
 *       bytes after the '\n' are ignored.
 *   server -> client:  "OK " LEN '\n' BODY
 *                  or  "ERR " ERRNO ' ' LEN '\n' BODY
 *       LEN is the decimal byte count of BODY (at most CTL_REPLY_MAX),
 *       ERRNO a positive decimal errno value (the same machine, so the same
 *       numbering) and BODY, for ERR, a one-line text saying why (it may
 *       be empty: the client then falls back to strerror()).
 *   Then the server closes the connection.
 *
 * LEN lets the client tell a complete reply from one cut short by a daemon
 * that died half-way, which closing alone could not.  The server refuses
 * an over-long request with ERR EMSGSIZE, a peer of another uid with
 * ERR EACCES and, when 32 connections are already being served, a
 * further one with ERR EAGAIN; none of these reaches the handler.
 */
#ifndef BACKUPFS_CTL_H
#define BACKUPFS_CTL_H

#include <stddef.h>

/* Max bytes of a request line and of a reply body. */
#define CTL_REQUEST_MAX 4096
#define CTL_REPLY_MAX (1u << 20)

/*
 * The control socket path for a canonical mountpoint: the runtime directory
 * and base name of runtime_pidfile(), with ".sock" for ".pid"; creates the
 * directory.  A socket path must fit sun_path (108 bytes), so for a long
 * mountpoint the readable part of the name is shortened (its hash suffix
 * is kept, so the names still differ): daemon and client compute the same.
 */
int ctl_sockpath(const char *mountpoint, char *buf, size_t len);

/*
 * The daemon's side.  handler gets one request line (no '\n'), and returns
 * 0 with *reply a malloc'd NUL-terminated body (may be NULL for empty), or
 * -errno with *reply an optional malloc'd one-line error text.  A body over
 * CTL_REPLY_MAX bytes is truncated (and a warning logged).  Each connection
 * is served in its own thread (a "sync" may block for minutes), so handler
 * must be thread-safe.  The server's threads block all signals, so that
 * SIGINT/SIGTERM reach the FUSE loop, not us.
 */
typedef int ctl_handler(void *arg, const char *request, char **reply);
struct ctl_server;

/*
 * Binds and listens on path (mode 0600), then serves in a thread of its
 * own.  A stale socket file (nobody answers: a daemon that died) is
 * replaced; a live one (another daemon answers) is -EADDRINUSE and left
 * alone; any other file there is -EEXIST.  On failure, err has one line.
 */
int ctl_server_start(const char *path, ctl_handler *fn, void *arg,
		     struct ctl_server **out, char *err, size_t errlen);

/*
 * Stops accepting, waits for connections in flight to finish, unlinks the
 * socket (if it is still ours), frees.  NULL is a no-op.  Connections still
 * sending their request are cut off at once, and a reply to a client that
 * does not read it gives up after a few seconds, but a handler is waited
 * for however long it runs: the daemon must first make blocked handlers
 * (a "sync" waiting for the upload) return, e.g. with -ESHUTDOWN.
 */
void ctl_server_stop(struct ctl_server *s);

/*
 * The client's side: sends request, waits for the reply (no timeout unless
 * timeout_ms > 0: then -ETIMEDOUT), *reply malloc'd NUL-terminated body
 * (never NULL on success, "" when empty), *status 0 for OK or the daemon's
 * -errno.  Returns 0 when a reply arrived (whatever its status), -errno
 * when the daemon could not be reached or its reply was incomplete, with
 * one line in err: -ENOENT (no socket: no daemon, or one that predates the
 * control socket), -ECONNREFUSED (a stale socket: the daemon died),
 * -EACCES, -ECONNRESET (closed without a complete reply), -EPROTO (not our
 * wire format).  A request over CTL_REQUEST_MAX or with a '\n' in it is
 * -EMSGSIZE / -EINVAL without connecting.
 */
int ctl_call(const char *path, const char *request, int timeout_ms,
	     char **reply, int *status, char *err, size_t errlen);

#endif
