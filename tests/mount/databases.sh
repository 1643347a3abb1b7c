#!/bin/bash
# databases.sh - the crash-consistent cut makes a database stored on the
# mount restorable.  A snapshot is what the disk would hold after a power
# cut at one instant, so a database that survives power cuts must open from
# any snapshot, recover, and show exactly the transactions committed before
# the cut (never a later one, never a torn one):
#   - SQLite (python3's sqlite3), in WAL mode and in rollback-journal mode,
#     synchronous=FULL, a writer committing all the time, a snapshot every
#     half second; each snapshot's files are copied out and checked;
#   - PostgreSQL (Debian's packages) with its data directory on the mount,
#     pgbench's TPC-B plus a counting workload and checkpoints; a second
#     postgres runs crash recovery on each snapshot's copy and its data is
#     checked.
# Each writer logs n after its COMMIT returned; "before" is the last n
# logged when "backupfs snapshot" started, "after" the last n logged when
# it had returned.  A snapshot must hold exactly the rows 1..max with
# before <= max <= after + 1 (after + 1: the one transaction a writer may
# have had in flight, durable but not yet logged, at the cut).
. "$(dirname "$0")/lib.sh"
python3 -c 'import sqlite3' 2>/dev/null || skip_all "no python3 with the sqlite3 module"
setup

_bg=()			# our background processes (writers, pgbench)
declare -A _pg=()	# data directory -> postmaster pid, of every postgres we run
db_cleanup() {
	local p d
	for p in "${_bg[@]+"${_bg[@]}"}"; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	for d in "${!_pg[@]}"; do
		as_pg "$PGBIN/pg_ctl" -D "$d" -m immediate -w -t 20 stop >/dev/null 2>&1
		p=${_pg[$d]}
		[ -n "$p" ] && grep -q postgres "/proc/$p/cmdline" 2>/dev/null && kill -9 "$p"
	done
	cleanup
}
trap db_cleanup EXIT

# lastn LOG: the last n a writer logged (complete lines only), 0 if none.
lastn() {
	local s
	s=$(tail -c 48 "$1" 2>/dev/null; echo .)
	s=${s%.}
	case $s in *$'\n'*) ;; *) echo 0; return ;; esac
	s=${s%$'\n'*}		# drop what follows the last newline
	echo "${s##*$'\n'}"
}

S=$T/src
mkdir -p "$S"
chmod 755 "$S"
bfs_mount -o allow_other "$S" || exit 1

# =========================== SQLite ===========================================
mkdir -p "$S/sqlite"
# sqlite_writer DB MODE LOG STOPFILE: commit transactions until STOPFILE
# exists; transaction n inserts row n (with a blob of varying size, so pages
# split and the tree grows) and sets the counter to n.
sqlite_writer() {
	python3 - "$@" <<'PY'
import os, random, sqlite3, sys
db, mode, log, stop = sys.argv[1:5]
con = sqlite3.connect(db, isolation_level=None)
got = con.execute("PRAGMA journal_mode=" + mode).fetchone()[0]
if got.lower() != mode.lower():
    sys.exit("journal_mode %s, wanted %s" % (got, mode))
con.execute("PRAGMA synchronous=FULL")
con.execute("PRAGMA wal_autocheckpoint=64")	# WAL restarts during the run
con.execute("CREATE TABLE t(seq INTEGER PRIMARY KEY, pad BLOB)")
con.execute("CREATE TABLE c(id INTEGER PRIMARY KEY, counter INTEGER)")
con.execute("INSERT INTO c VALUES (1, 0)")
fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
n = 0
while not os.path.exists(stop):
    n += 1
    con.execute("BEGIN IMMEDIATE")
    con.execute("INSERT INTO t VALUES (?, randomblob(?))",
                (n, random.choice((10, 300, 2000, 9000))))
    if n % 50 == 0:		# now and then, rewrite old rows too
        con.execute("UPDATE t SET pad = randomblob(length(pad)) WHERE seq % 7 = ?",
                    (n % 7,))
    con.execute("UPDATE c SET counter = ? WHERE id = 1", (n,))
    con.execute("COMMIT")
    os.write(fd, b"%d\n" % n)
con.close()
PY
}

# check_sqlite DIR DB BEFORE AFTER: open the copy (SQLite recovers: hot
# journal rollback or WAL replay), check it; prints what it found.
check_sqlite() {
	python3 - "$@" <<'PY'
import sqlite3, sys
d, db, before, after = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
try:
    con = sqlite3.connect("%s/%s" % (d, db), isolation_level=None)
    ic = [r[0] for r in con.execute("PRAGMA integrity_check")]
    mx, mn, cnt = con.execute("SELECT max(seq), min(seq), count(*) FROM t").fetchone()
    counter = con.execute("SELECT counter FROM c WHERE id = 1").fetchone()[0]
except sqlite3.Error as e:
    print("sqlite error: %s" % e)
    sys.exit(1)
mx = mx or 0
bad = []
if ic != ["ok"]:
    bad.append("integrity_check: %s" % "; ".join(ic[:5]))
if counter != mx:
    bad.append("counter %d != max(seq) %d" % (counter, mx))
if cnt != mx or (mx and mn != 1):
    bad.append("rows are not 1..max: count %d, min %s, max %d" % (cnt, mn, mx))
if mx > after + 1:
    bad.append("max %d > %d committed when the snapshot returned (+1 in flight)" % (mx, after))
if mx < before:
    bad.append("max %d < %d committed before the snapshot started" % (mx, before))
print("rows 1..%d, counter %d, %d <= %d <= %d+1%s" %
      (mx, counter, before, mx, after, "" if not bad else ": " + ", ".join(bad)))
sys.exit(1 if bad else 0)
PY
}

stop=$T/sqlite.stop
sqlite_writer "$S/sqlite/wal.db" wal "$T/wal.log" "$stop" 2>"$T/wal.err" &
wal_pid=$!; _bg+=("$wal_pid")
sqlite_writer "$S/sqlite/journal.db" delete "$T/journal.log" "$stop" 2>"$T/journal.err" &
jnl_pid=$!; _bg+=("$jnl_pid")
for _ in $(seq 1 200); do
	[ "$(lastn "$T/wal.log")" -gt 0 ] && [ "$(lastn "$T/journal.log")" -gt 0 ] && break
	sleep 0.05
done
snaps=(); wal_b=(); wal_a=(); jnl_b=(); jnl_a=()
for i in $(seq 1 8); do
	wb=$(lastn "$T/wal.log"); jb=$(lastn "$T/journal.log")
	name=$("$BACKUPFS" snapshot --name "sqlite-$i" "$S") || { echo "# snapshot $i failed"; continue; }
	wal_a+=("$(lastn "$T/wal.log")"); jnl_a+=("$(lastn "$T/journal.log")")
	snaps+=("$name"); wal_b+=("$wb"); jnl_b+=("$jb")
	sleep 0.5
done
touch "$stop"
wait "$wal_pid"; ok $? "the SQLite WAL writer ran without error" || sed 's/^/#   /' "$T/wal.err"
wait "$jnl_pid"; ok $? "the SQLite rollback-journal writer ran without error" || sed 's/^/#   /' "$T/journal.err"
is "${#snaps[@]}" 8 "8 snapshots taken while both SQLite databases were written"

sqlite_checked=0 hot=0
for mode in wal journal; do
	for i in "${!snaps[@]}"; do
		name=${snaps[$i]}
		if [ $mode = wal ]; then b=${wal_b[$i]} a=${wal_a[$i]}; else b=${jnl_b[$i]} a=${jnl_a[$i]}; fi
		c=$T/copy-$mode-$name
		mkdir -p "$c"
		files=$(cd "$S/sqlite/.snapshots/$name" && echo $mode.db*)
		cp $(printf "$S/sqlite/.snapshots/$name/%s " $files) "$c/"
		out=$(check_sqlite "$c" $mode.db "$b" "$a")
		ok $? "SQLite $mode, snapshot $name ($files) recovers: $out"
		sqlite_checked=$((sqlite_checked + 1))
		case $files in *-journal*) hot=$((hot + 1)) ;; esac
		rm -rf "$c"
	done
done
echo "# SQLite: $sqlite_checked snapshot copies checked ($hot rollback-journal copies with a -journal file);" \
	"$(lastn "$T/wal.log") WAL and $(lastn "$T/journal.log") rollback-journal transactions committed"

# =========================== PostgreSQL =======================================
pg_skip=""
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
	{ DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql ||
	  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql; }
	} >"$T/apt.log" 2>&1 ||
		pg_skip="PostgreSQL is not installed and apt-get install postgresql failed: $(tail -1 "$T/apt.log")"
fi
if [ -z "$pg_skip" ]; then
	PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
	[ -x "$PGBIN/initdb" ] && [ -x "$PGBIN/pgbench" ] || pg_skip="no initdb/pgbench in /usr/lib/postgresql/*/bin"
	id postgres >/dev/null 2>&1 || pg_skip="no user postgres"
fi
if [ -n "$pg_skip" ]; then
	ok 0 "# SKIP PostgreSQL tests: $pg_skip"
	bfs_umount "$S"
	exit 0
fi

as_pg() {		# as_pg CMD...: run as user postgres, from /
	(cd / && setpriv --reuid=postgres --regid=postgres --init-groups -- "$@")
}
port=$((5544 + RANDOM % 100)); port2=$((port + 100))
sock=$T/pgsock; sock2=$T/pgsock2; L=$T/pglog	# postgres writes its logs to $L
mkdir -p "$sock" "$sock2" "$L" "$S/pg"
chown postgres: "$sock" "$sock2" "$L" "$S/pg"
PD=$S/pg/data
# pg_ctl_start DATADIR SOCKDIR PORT LOG
pg_ctl_start() {
	_pg[$1]=""
	as_pg "$PGBIN/pg_ctl" -D "$1" -l "$4" -w -t 120 -o "-k $2 -p $3 -c listen_addresses='' \
		-c fsync=on -c full_page_writes=on -c synchronous_commit=on -c shared_buffers=16MB \
		-c min_wal_size=4MB -c max_wal_size=16MB" start >>"$T/pg_ctl.log" 2>&1 || return 1
	_pg[$1]=$(head -1 "$1/postmaster.pid")
}
pg_ctl_stop() {
	as_pg "$PGBIN/pg_ctl" -D "$1" -m fast -w -t 60 stop >>"$T/pg_ctl.log" 2>&1 && unset "_pg[$1]"
}
sql() {			# sql PORT SOCKDIR SQL: one row, fields separated by |
	"$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$2" -p "$1" -U postgres -d postgres -c "$3"
}

# 1 MB WAL segments: segment switches and recycling all through the run.
as_pg "$PGBIN/initdb" -D "$PD" -U postgres --auth=trust -E UTF8 --no-locale --wal-segsize=1 --no-sync \
	>"$T/initdb.log" 2>&1
ok $? "initdb of a PostgreSQL cluster on the mount (as user postgres)" || sed 's/^/#   /' "$T/initdb.log"
pg_ctl_start "$PD" "$sock" $port "$L/main.log"
ok $? "postgres runs on it" || { cat "$T/pg_ctl.log" "$L/main.log" | tail -20 | sed 's/^/#   /'; exit 1; }
scale=1
"$PGBIN/pgbench" -i -q -s $scale -h "$sock" -p $port -U postgres postgres >"$T/pgbench-init.log" 2>&1
ok $? "pgbench -i -s $scale" || sed 's/^/#   /' "$T/pgbench-init.log"
sql $port "$sock" "CREATE TABLE seqlog (n integer PRIMARY KEY)"

pgstop=$T/pg.stop
"$PGBIN/pgbench" -n -c 2 -j 2 -T 6 -h "$sock" -p $port -U postgres postgres >"$T/pgbench.log" 2>&1 &
bench_pid=$!; _bg+=("$bench_pid")
(	# the counting workload: one committed transaction per n
	n=0
	while [ ! -e "$pgstop" ]; do
		n=$((n + 1))
		sql $port "$sock" "INSERT INTO seqlog VALUES ($n)" 2>>"$T/seqlog.err" ||
			{ echo "INSERT $n failed" >>"$T/seqlog.err"; exit 1; }
		echo $n >>"$T/seqlog.log"
	done
) &
count_pid=$!; _bg+=("$count_pid")
(	# checkpoints all the time (data files written, WAL recycled)
	while [ ! -e "$pgstop" ]; do
		sleep 0.7
		sql $port "$sock" "CHECKPOINT" 2>>"$T/checkpoint.err" || exit 1
	done
) &
ckpt_pid=$!; _bg+=("$ckpt_pid")

sleep 0.8
pgsnaps=(); pg_b=(); pg_a=()
for i in 1 2 3 4; do
	b=$(lastn "$T/seqlog.log")
	name=$("$BACKUPFS" snapshot --name "pg-$i" "$S") || { echo "# snapshot pg-$i failed"; continue; }
	pg_a+=("$(lastn "$T/seqlog.log")"); pg_b+=("$b"); pgsnaps+=("$name")
	sleep 0.9
done
wait "$bench_pid"
ok $? "pgbench -c 2 -T 6 ran without error: $(grep -E '^number of transactions actually processed' "$T/pgbench.log")" ||
	sed 's/^/#   /' "$T/pgbench.log"
touch "$pgstop"
wait "$count_pid"; ok $? "the counting workload ran without error" || sed 's/^/#   /' "$T/seqlog.err"
wait "$ckpt_pid"; ok $? "the checkpoint loop ran without error" || sed 's/^/#   /' "$T/checkpoint.err"
is "${#pgsnaps[@]}" 4 "4 snapshots taken while PostgreSQL was busy"
pg_ctl_stop "$PD"
ok $? "the main postgres stops (pg_ctl stop -m fast)"

pg_checked=0
for i in "${!pgsnaps[@]}"; do
	name=${pgsnaps[$i]} b=${pg_b[$i]} a=${pg_a[$i]}
	C=$T/pgcopy-$name
	cp -a "$S/pg/.snapshots/$name/data" "$C"
	[ -f "$C/postmaster.pid" ]
	ok $? "snapshot $name: the data directory of a running server (postmaster.pid) copied out"
	rm -f "$C/postmaster.pid"
	if ! pg_ctl_start "$C" "$sock2" $port2 "$L/$name.log"; then
		ok 1 "snapshot $name: a postgres starts on the copy (crash recovery)"
		cat "$T/pg_ctl.log" "$L/$name.log" | tail -30 | sed 's/^/#   /'
		as_pg "$PGBIN/pg_ctl" -D "$C" -m immediate -w -t 20 stop >/dev/null 2>&1
		continue
	fi
	"$PGBIN/pg_isready" -q -h "$sock2" -p $port2
	ok $? "snapshot $name: a postgres starts on the copy and accepts connections"
	grep -q "not properly shut down; automatic recovery in progress" "$L/$name.log"
	ok $? "snapshot $name: it ran crash recovery ($(grep -oE 'redo done at [0-9A-F/]+' "$L/$name.log"))"
	r=$(sql $port2 "$sock2" "SELECT
		(SELECT count(*) FROM pgbench_accounts),
		(SELECT coalesce(sum(abalance), 0) FROM pgbench_accounts),
		(SELECT coalesce(sum(tbalance), 0) FROM pgbench_tellers),
		(SELECT coalesce(sum(bbalance), 0) FROM pgbench_branches),
		(SELECT coalesce(sum(delta), 0) FROM pgbench_history),
		(SELECT count(*) FROM pgbench_history),
		(SELECT coalesce(max(n), 0) FROM seqlog),
		(SELECT count(*) FROM seqlog),
		(SELECT coalesce(min(n), 1) FROM seqlog)" 2>&1)
	IFS='|' read -r acc sa st sb sh nh mx cnt mn <<<"$r"
	is "$acc" $((100000 * scale)) "snapshot $name: pgbench_accounts has all $((100000 * scale)) rows"
	[ "$sa" = "$sh" ] && [ "$st" = "$sh" ] && [ "$sb" = "$sh" ]
	ok $? "snapshot $name: $nh pgbench transactions, balances of accounts, tellers, branches = sum of history deltas ($sa $st $sb $sh)"
	[ "$cnt" = "$mx" ] && [ "$mn" = 1 ] && [ "$mx" -le $((a + 1)) ] && [ "$mx" -ge "$b" ]
	ok $? "snapshot $name: seqlog holds exactly 1..$mx, $b <= $mx <= $a+1 (count $cnt, min $mn)" || echo "#   $r"
	"$PGBIN/pg_amcheck" -h "$sock2" -p $port2 -U postgres --install-missing --heapallindexed postgres \
		>"$T/amcheck-$name.log" 2>&1
	ok $? "snapshot $name: pg_amcheck --heapallindexed finds no corruption" ||
		head -20 "$T/amcheck-$name.log" | sed 's/^/#   /'
	pg_ctl_stop "$C"
	ok $? "snapshot $name: the postgres on the copy stops"
	pg_checked=$((pg_checked + 1))
	rm -rf "$C"
done
echo "# PostgreSQL: $pg_checked snapshots recovered and checked; $(lastn "$T/seqlog.log") counting" \
	"transactions, $(grep -oE 'processed: [0-9]+' "$T/pgbench.log" | grep -oE '[0-9]+') pgbench transactions"
bfs_umount "$S"
