/*
 * cmd-key.c - "backupfs key list|add|remove|passwd": the key slots of
 * SOURCE's repository.
 *
 * Every key slot (keys/<id> in the repository) wraps the same master
 * secret under its own password (crypto.h), so a slot can be added or
 * removed without touching a byte of the backups, and any slot's password
 * opens the repository.  Each verb first unlocks the repository with the
 * current password: that proves the caller may manage the keys, and it
 * tells which slot that password opens (repository->slot), which list
 * marks and passwd replaces.
 *
 * Order of operations, for crashes: "add" writes the new slot atomically
 * (and reads it back) before saying so; "passwd" is an add followed by a
 * remove of the old slot, so a crash in between leaves both passwords
 * working, never none.  "remove" refuses to take the last usable slot.
 *
 * SOURCE leads to the state directory through the registry (or --state),
 * and the state directory's file "repo" holds the repository URL, as init
 * wrote it.  The repository is never reached through the mount, so these
 * verbs work whether SOURCE is mounted or not.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "banned.h"
#include "cmd.h"
#include "crypto.h"
#include "password.h"
#include "repository.h"
#include "state.h"

static const char key_usage[] =
	"usage: backupfs key list   [--state DIR] [--password-file FILE] SOURCE\n"
	"       backupfs key add    [--state DIR] [--password-file FILE]\n"
	"                           [--new-password-file FILE] SOURCE\n"
	"       backupfs key remove [--state DIR] [--password-file FILE]\n"
	"                           SOURCE SLOT-ID\n"
	"       backupfs key passwd [--state DIR] [--password-file FILE]\n"
	"                           [--new-password-file FILE] SOURCE\n"
	"\n"
	"Manages the key slots of SOURCE's repository.  Each slot holds the\n"
	"repository key wrapped under one password; any slot's password opens\n"
	"the repository.  Every command first unlocks it with the current\n"
	"password.  'backupfs key COMMAND --help' tells more.\n";

static const char list_usage[] =
	"usage: backupfs key list [--state DIR] [--password-file FILE] SOURCE\n"
	"\n"
	"Lists the key slots of SOURCE's repository with their Argon2id limits;\n"
	"'*' marks the slot the given password opens.\n"
	"\n"
	"  --state DIR           SOURCE's state directory (default: the one\n"
	"                        'backupfs init' registered for SOURCE)\n"
	"  --password-file FILE  read the password from FILE's first line\n"
	"                        (else $BACKUPFS_PASSWORD, else a prompt)\n";

static const char add_usage[] =
	"usage: backupfs key add [--state DIR] [--password-file FILE]\n"
	"                        [--new-password-file FILE] SOURCE\n"
	"\n"
	"Adds a key slot with a new password to SOURCE's repository and prints\n"
	"its id.  The current password keeps working.\n"
	"\n"
	"  --state DIR               SOURCE's state directory (default: the one\n"
	"                            'backupfs init' registered for SOURCE)\n"
	"  --password-file FILE      the current password, from FILE's first line\n"
	"                            (else $BACKUPFS_PASSWORD, else a prompt)\n"
	"  --new-password-file FILE  the new password, from FILE's first line\n"
	"                            (else $BACKUPFS_NEW_PASSWORD, else a prompt,\n"
	"                            asked twice)\n";

static const char remove_usage[] =
	"usage: backupfs key remove [--state DIR] [--password-file FILE]\n"
	"                           SOURCE SLOT-ID\n"
	"\n"
	"Removes key slot SLOT-ID (as 'backupfs key list' shows it) from\n"
	"SOURCE's repository; its password no longer opens it.  The last usable\n"
	"slot cannot be removed.  The slot the given password opens can be,\n"
	"when another slot remains: that password stops working then.\n"
	"\n"
	"  --state DIR           SOURCE's state directory (default: the one\n"
	"                        'backupfs init' registered for SOURCE)\n"
	"  --password-file FILE  read the password from FILE's first line\n"
	"                        (else $BACKUPFS_PASSWORD, else a prompt)\n";

static const char passwd_usage[] =
	"usage: backupfs key passwd [--state DIR] [--password-file FILE]\n"
	"                           [--new-password-file FILE] SOURCE\n"
	"\n"
	"Changes the password: adds a key slot with the new password, then\n"
	"removes the slot the current password opens.  Other slots stay.\n"
	"\n"
	"  --state DIR               SOURCE's state directory (default: the one\n"
	"                            'backupfs init' registered for SOURCE)\n"
	"  --password-file FILE      the current password, from FILE's first line\n"
	"                            (else $BACKUPFS_PASSWORD, else a prompt)\n"
	"  --new-password-file FILE  the new password, from FILE's first line\n"
	"                            (else $BACKUPFS_NEW_PASSWORD, else a prompt,\n"
	"                            asked twice)\n";

struct key_ctx {
	const char *source;		/* as given, for messages */
	const char *state_arg;		/* --state, for messages */
	const char *slot_arg;		/* remove: SLOT-ID */
	const char *newpw_file;
	char url[PATH_MAX + 16];
	struct repository *r;
	char *pw;			/* the current password */
	size_t pwlen;
};

/*
 * The state directory of SOURCE, then the repository URL in its file
 * "repo".  Prints one line and returns -1 on failure.
 */
static int find_repo_url(const char *state_arg, const char *source,
			 char *url, size_t len)
{
	char real[PATH_MAX], state[PATH_MAX], path[PATH_MAX + 8];
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *f;

	if (state_arg) {
		/* SOURCE is not looked at: its disk may be the one that died. */
		snprintf(state, sizeof(state), "%s", state_arg);
	} else {
		if (check_dir_arg("source", source, real, sizeof(real)) < 0)
			return -1;
		if (registry_lookup(real, state, sizeof(state)) < 0) {
			fprintf(stderr, "backupfs: '%s' is not initialised (no "
				"state directory is registered for it): run "
				"'backupfs init %s' first, or give its state "
				"directory with --state DIR\n", real, real);
			return -1;
		}
	}
	snprintf(path, sizeof(path), "%s/repo", state);
	f = fopen(path, "re");
	if (!f) {
		fprintf(stderr, "backupfs: cannot read the repository URL from "
			"'%s': %s (is '%s' a backupfs state directory?)\n", path,
			strerror(errno), state);
		return -1;
	}
	n = getline(&line, &cap, f);
	fclose(f);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' ||
			 line[n - 1] == ' '))
		line[--n] = '\0';
	if (n <= 0 || (size_t)n >= len) {
		fprintf(stderr, "backupfs: '%s' does not hold a repository URL "
			"(is '%s' a backupfs state directory?)\n", path, state);
		free(line);
		return -1;
	}
	memcpy(url, line, (size_t)n + 1);
	free(line);
	return 0;
}

/*
 * The new password: --new-password-file, $BACKUPFS_NEW_PASSWORD, or a
 * prompt asked twice.  Not $BACKUPFS_PASSWORD: that is the current one.
 */
static int new_password_get(const char *file, const char *url, char **out,
			    size_t *len, char *err, size_t errlen)
{
	const char *env = getenv("BACKUPFS_NEW_PASSWORD");
	char what[PATH_MAX + 64], *pw;
	int tty;

	*out = NULL;
	snprintf(what, sizeof(what), "the new key slot of %s", url);
	if (file)
		return password_get(file, what, 0, out, len, err, errlen);
	if (env) {
		*len = strlen(env);
		if (*len == 0 || *len >= PASSWORD_MAX) {
			snprintf(err, errlen, "BACKUPFS_NEW_PASSWORD is %s",
				 *len ? "too long" : "empty");
			return -EINVAL;
		}
		pw = sodium_malloc(PASSWORD_MAX);	/* password_free()s */
		if (!pw) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		memcpy(pw, env, *len + 1);
		*out = pw;
		return 0;
	}
	tty = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (tty < 0) {
		snprintf(err, errlen, "no new password for %s: set "
			 "BACKUPFS_NEW_PASSWORD, use --new-password-file FILE, "
			 "or run on a terminal", url);
		return -ENOKEY;
	}
	close(tty);
	/*
	 * password_get() would take $BACKUPFS_PASSWORD before the terminal;
	 * the current password has been read already, so drop it.
	 */
	unsetenv("BACKUPFS_PASSWORD");
	return password_get(NULL, what, 1, out, len, err, errlen);
}

/* The new password, refused when it is the current one (nothing to do). */
static int get_new(struct key_ctx *k, char **pw, size_t *len)
{
	char err[PATH_MAX + 200];

	if (new_password_get(k->newpw_file, k->url, pw, len, err,
			     sizeof(err)) < 0) {
		fprintf(stderr, "backupfs: %s\n", err);
		return -1;
	}
	if (*len == k->pwlen && sodium_memcmp(*pw, k->pw, *len) == 0) {
		fprintf(stderr, "backupfs: the new password for '%s' is the "
			"current one: nothing changed (give a different new "
			"password)\n", k->url);
		password_free(*pw);
		*pw = NULL;
		return -1;
	}
	return 0;
}

static void kdf_limits(struct repository_kdf *kdf)
{
	kdf->opslimit = CRYPTO_KEY_OPSLIMIT_DEFAULT;
	kdf->memlimit = CRYPTO_KEY_MEMLIMIT_DEFAULT;
	if (getenv("BACKUPFS_INSECURE_FAST_KDF")) {	/* the test suite only */
		kdf->opslimit = CRYPTO_KEY_OPSLIMIT_TEST;
		kdf->memlimit = CRYPTO_KEY_MEMLIMIT_TEST;
	}
}

static void format_mem(size_t mem, char *buf, size_t len)
{
	if (mem >= (1u << 30) && mem % (1u << 30) == 0)
		snprintf(buf, len, "%zu GiB", mem >> 30);
	else if (mem >= (1u << 20) && mem % (1u << 20) == 0)
		snprintf(buf, len, "%zu MiB", mem >> 20);
	else
		snprintf(buf, len, "%zu KiB", mem >> 10);
}

static int key_list(struct key_ctx *k)
{
	struct repository_slot *slots;
	char err[PATH_MAX + 400], mem[32];
	size_t n;

	if (repository_key_list(k->r, &slots, &n, err, sizeof(err)) < 0) {
		fprintf(stderr, "backupfs: %s\n", err);
		return 1;
	}
	printf("key slots of '%s':\n", k->url);
	for (size_t i = 0; i < n; i++) {
		const struct repository_slot *s = &slots[i];

		if (!s->valid) {
			printf("%c %-16s  malformed: no password opens it "
			       "(remove it with 'backupfs key remove')\n",
			       s->opened ? '*' : ' ', s->id);
			continue;
		}
		format_mem(s->memlimit, mem, sizeof(mem));
		printf("%c %-16s  argon2id %llu pass%s, %s\n",
		       s->opened ? '*' : ' ', s->id, s->opslimit,
		       s->opslimit == 1 ? "" : "es", mem);
	}
	printf("(* = the slot this password opens)\n");
	free(slots);
	return 0;
}

static int key_add(struct key_ctx *k)
{
	struct repository_kdf kdf;
	char err[PATH_MAX + 400], id[REPOSITORY_SLOT_ID_MAX], *npw;
	size_t nlen;
	int ret;

	if (get_new(k, &npw, &nlen) < 0)
		return 1;
	kdf_limits(&kdf);
	ret = repository_key_add(k->r, npw, nlen, &kdf, id, sizeof(id), err,
				 sizeof(err));
	password_free(npw);
	if (ret < 0) {
		fprintf(stderr, "backupfs: %s; no key slot was added\n", err);
		return 1;
	}
	/* The id alone, so that scripts can keep it: id=$(backupfs key add). */
	printf("%s\n", id);
	return 0;
}

static int key_remove(struct key_ctx *k)
{
	char err[PATH_MAX + 800];
	const char *id = k->slot_arg;
	int own;

	if (!strncmp(id, "keys/", 5))	/* the object name works too */
		id += 5;
	own = strcmp(k->r->slot, id) == 0;
	if (repository_key_remove(k->r, id, err, sizeof(err)) < 0) {
		fprintf(stderr, "backupfs: %s\n", err);
		return 1;
	}
	printf("removed key slot %s from '%s'%s\n", id, k->url,
	       own ? "; it was the slot this password opened, so this "
		     "password no longer opens the repository (the other "
		     "slots' passwords still do)" : "");
	return 0;
}

static int key_passwd(struct key_ctx *k)
{
	struct repository_kdf kdf;
	char err[PATH_MAX + 800], id[REPOSITORY_SLOT_ID_MAX];
	char old[REPOSITORY_SLOT_ID_MAX], *npw;
	size_t nlen;
	int ret;

	memcpy(old, k->r->slot, sizeof(old));
	if (!old[0]) {	/* cannot happen after repository_open() */
		fprintf(stderr, "backupfs: cannot tell which key slot of '%s' "
			"the password opened; the password is unchanged\n",
			k->url);
		return 1;
	}
	if (get_new(k, &npw, &nlen) < 0)
		return 1;
	kdf_limits(&kdf);
	/* New slot first: a crash before the removal leaves both working. */
	ret = repository_key_add(k->r, npw, nlen, &kdf, id, sizeof(id), err,
				 sizeof(err));
	password_free(npw);
	if (ret < 0) {
		fprintf(stderr, "backupfs: %s; the password is unchanged\n",
			err);
		return 1;
	}
	ret = repository_key_remove(k->r, old, err, sizeof(err));
	if (ret < 0) {
		fprintf(stderr, "backupfs: the new password works (key slot %s), "
			"but the old key slot could not be removed: %s; the old "
			"password still works too: remove it with 'backupfs key "
			"remove %s%s%s%s %s'\n", id, err,
			k->state_arg ? "--state " : "",
			k->state_arg ? k->state_arg : "",
			k->state_arg ? " " : "", k->source, old);
		return 1;
	}
	printf("changed the password of '%s': new key slot %s, removed key "
	       "slot %s\n", k->url, id, old);
	return 0;
}

struct key_verb {
	const char *name;
	const char *usage;
	int new_password;	/* takes --new-password-file */
	int nargs;		/* SOURCE [SLOT-ID] */
	int (*run)(struct key_ctx *k);
};

static const struct key_verb verbs[] = {
	{ "list", list_usage, 0, 1, key_list },
	{ "add", add_usage, 1, 1, key_add },
	{ "remove", remove_usage, 0, 2, key_remove },
	{ "passwd", passwd_usage, 1, 1, key_passwd },
	{ NULL, NULL, 0, 0, NULL },
};

int cmd_key(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "state", required_argument, NULL, 's' },
		{ "password-file", required_argument, NULL, 'p' },
		{ "new-password-file", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct key_verb *v;
	const char *state_arg = NULL, *pwfile = NULL;
	struct key_ctx k = { 0 };
	char err[PATH_MAX + 400];
	int c, ret;

	if (argc < 2) {
		fputs(key_usage, stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		fputs(key_usage, stdout);
		return 0;
	}
	for (v = verbs; v->name && strcmp(v->name, argv[1]); v++)
		;
	if (!v->name) {
		fprintf(stderr, "backupfs: unknown key command '%s' (list, add, "
			"remove or passwd; see 'backupfs key --help')\n", argv[1]);
		return 2;
	}
	argc--;
	argv++;		/* argv[0] is the subcommand now */
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 's': state_arg = optarg; break;
		case 'p': pwfile = optarg; break;
		case 'n':
			if (!v->new_password) {
				fprintf(stderr, "backupfs: key %s takes no "
					"--new-password-file\n", v->name);
				fputs(v->usage, stderr);
				return 2;
			}
			k.newpw_file = optarg;
			break;
		case 'h': fputs(v->usage, stdout); return 0;
		default: fputs(v->usage, stderr); return 2;
		}
	}
	if (argc - optind != v->nargs) {
		fputs(v->usage, stderr);
		return 2;
	}
	k.source = argv[optind];
	k.state_arg = state_arg;
	k.slot_arg = v->nargs > 1 ? argv[optind + 1] : NULL;
	if (crypto_init() < 0) {
		fprintf(stderr, "backupfs: cannot initialise libsodium\n");
		return 1;
	}
	if (find_repo_url(state_arg, k.source, k.url, sizeof(k.url)) < 0)
		return 1;
	if (password_get(pwfile, k.url, 0, &k.pw, &k.pwlen, err,
			 sizeof(err)) < 0) {
		fprintf(stderr, "backupfs: %s\n", err);
		return 1;
	}
	if (repository_open(k.url, k.pw, k.pwlen, &k.r, err, sizeof(err)) < 0) {
		fprintf(stderr, "backupfs: %s\n", err);
		password_free(k.pw);
		return 1;
	}
	ret = v->run(&k);
	repository_close(k.r);
	password_free(k.pw);
	return ret;
}
