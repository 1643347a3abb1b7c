/*
 * cmd-snapshot.c - "backupfs snapshots [--json] PATH": the snapshots of the
 * protected tree PATH is in, read from its metadata database (the daemon
 * need not run).  "backupfs snapshot" (taking one) talks to the daemon and
 * lives in cmd-ctl.c.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "banned.h"
#include "cmd.h"
#include "meta.h"
#include "reader.h"

static const char snapshots_usage[] =
	"usage: backupfs snapshots [--json] [--state DIR] PATH\n"
	"\n"
	"Lists the snapshots of the protected tree PATH belongs to (a mount,\n"
	"or its source, mounted or not): name, time (UTC), kind, files and\n"
	"bytes in the tree then.  Each is browsable as DIR/.snapshots/NAME in\n"
	"every directory of the mount.\n"
	"\n"
	"  -j, --json    one JSON array of objects\n"
	"  --state DIR   state directory (default: found from PATH)\n"
	"  -h, --help    show this help\n";

struct list {
	struct meta *m;
	int json, n;
};

static int print_one(void *arg, const struct meta_snapshot *sn)
{
	struct list *l = arg;
	char when[READER_TIME_LEN];
	uint64_t files = 0, bytes = 0;
	int err = meta_tree_size_at(l->m, sn->t, &files, &bytes);

	if (err)
		return err;
	reader_format_time(sn->t, when, sizeof(when));
	if (l->json)
		printf("%s\n  {\"name\":\"%s\",\"time\":\"%s\",\"t_ns\":%" PRIu64
		       ",\"kind\":\"%s\",\"pinned\":%s,\"files\":%" PRIu64
		       ",\"bytes\":%" PRIu64 "}", l->n ? "," : "", sn->name,
		       when, sn->t,
		       sn->kind == META_SNAP_SCHEDULED ? "scheduled" : "manual",
		       sn->pinned ? "true" : "false", files, bytes);
	else
		printf("%-24s  %s  %-9s  %8" PRIu64 " files  %14" PRIu64
		       " bytes%s\n", sn->name, when,
		       sn->kind == META_SNAP_SCHEDULED ? "scheduled" : "manual",
		       files, bytes, sn->pinned ? "  pinned" : "");
	l->n++;
	return 0;
}

int cmd_snapshots(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "state", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char state[PATH_MAX], rel[PATH_MAX], err[PATH_MAX + 256];
	const char *state_opt = NULL;
	struct reader *r = NULL;
	struct list l = { 0 };
	int c, ret;

	optind = 1;
	while ((c = getopt_long(argc, argv, "jh", longopts, NULL)) != -1) {
		switch (c) {
		case 'j': l.json = 1; break;
		case 's': state_opt = optarg; break;
		case 'h': fputs(snapshots_usage, stdout); return 0;
		default: fputs(snapshots_usage, stderr); return 2;
		}
	}
	if (argc - optind != 1) {
		fputs(snapshots_usage, stderr);
		return 2;
	}
	if (reader_locate(argv[optind], state_opt, state, sizeof(state), rel,
			  sizeof(rel), err, sizeof(err)) < 0 ||
	    reader_open(state, 0, NULL, &r, err, sizeof(err)) < 0) {
		fprintf(stderr, "backupfs: %s\n", err);
		return 1;
	}
	l.m = reader_meta(r);
	if (l.json)
		fputs("[", stdout);
	ret = meta_snapshots(l.m, print_one, &l);
	if (l.json)
		fputs(l.n ? "\n]\n" : "]\n", stdout);
	if (ret)
		fprintf(stderr, "backupfs: cannot list the snapshots in '%s': "
			"%s\n", state, strerror(-ret));
	reader_close(r);
	if (fflush(stdout) != 0)
		return 1;
	return ret ? 1 : 0;
}
