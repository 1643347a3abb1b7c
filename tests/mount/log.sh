#!/bin/bash
# log.sh - "backupfs log" and "backupfs cat" as a user runs them on an
# init'ed tree (today only init records versions): every file's history
# and bytes come back exactly, through any path that names it (relative,
# deleted, through a mount in place or elsewhere, --state), times parse in
# every documented form to the nanosecond, and every failure (no such
# path, a time before the history, a flipped byte in a local pack or in
# the repository, a missing object, a wrong password) is one clear line
# naming what is wrong, a non-zero exit and no wrong byte on stdout.
. "$(dirname "$0")/lib.sh"
setup
S=$T/src M=$T/mnt
export BACKUPFS_STATE_ROOT=$T/state BACKUPFS_INSECURE_FAST_KDF=1
export BACKUPFS_PASSWORD=log-test-password
mkdir -p "$S/sub/deep" "$S/olddir" "$M" "$T/saved"
head -c 3000000 /dev/urandom >"$S/random"
cp "$S/random" "$S/sub/random-copy"
: >"$S/empty"
printf 'hello\n' >"$S/hello.txt"
echo deep >"$S/sub/deep/file"
ln -s random "$S/link"
printf 'gone soon\n' >"$S/sub/doomed"
printf 'in a dir that goes\n' >"$S/olddir/inner"
odd=$(printf 'q"uo\\te\tt\303\251')	# quote, backslash, tab, UTF-8 e-acute
printf odd >"$S/$odd"
cp "$S/sub/doomed" "$S/olddir/inner" "$T/saved/"
chmod 0640 "$S/hello.txt"

before=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)
out=$("$BACKUPFS" init "$S" 2>&1)
ok $? "init imports the tree" || echo "$out" | sed 's/^/#   /'
state=$(awk -F'\t' -v s="$S" '$1 == s {print $2}' "$T/state/registry")
repo=$(sed 's|^file://||' "$state/repo")

py() { python3 -c "$@"; }

# --- log -----------------------------------------------------------------
out=$("$BACKUPFS" log "$S/random" 2>&1)
ok $? "log of a file succeeds" || echo "# $out"
is "$(printf '%s\n' "$out" | wc -l)" 1 "it shows one version (the import)"
printf '%s\n' "$out" | grep -qE \
	'^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{9}Z  3000000  0644  scan  not-exact$'
ok $? "with its time, size, mode, reason and exactness" || echo "# $out"
out=$("$BACKUPFS" log "$S/hello.txt")
printf '%s\n' "$out" | grep -qE '  6  0640  scan  not-exact$'
ok $? "log shows a file's own size and mode" || echo "# $out"

"$BACKUPFS" log --json "$S/random" >"$T/log.json"
ok $? "log --json succeeds"
py '
import json, sys, datetime
a = json.load(open(sys.argv[1]))
assert isinstance(a, list) and len(a) == 1, a
o = a[0]
want = {"time", "t_ns", "size", "mode", "uid", "gid", "mtime_ns", "reason",
        "exact", "path"}
assert set(o) == want, set(o) ^ want
assert o["size"] == 3000000 and o["mode"] == "0644", o
assert o["reason"] == "scan" and o["exact"] is False, o
assert o["path"] == "/random", o
assert o["uid"] == 0 and o["gid"] == 0, o
# The time string is the same instant as t_ns, to the nanosecond.
t = o["t_ns"]
d = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=t // 10**9)
assert o["time"] == d.strftime("%Y-%m-%dT%H:%M:%S") + ".%09dZ" % (t % 10**9), o
st = __import__("os").stat(sys.argv[2])
assert o["mtime_ns"] == st.st_mtime_ns, (o, st.st_mtime_ns)
' "$T/log.json" "$S/random"
ok $? "the JSON has every field, right, and time agrees with t_ns"
t_ns=$(py 'import json,sys; print(json.load(open(sys.argv[1]))[0]["t_ns"])' "$T/log.json")
json_time=$(py 'import json,sys; print(json.load(open(sys.argv[1]))[0]["time"])' "$T/log.json")
is "$("$BACKUPFS" log "$S/random" | cut -d' ' -f1)" "$json_time" \
	"text and JSON show the same time"

"$BACKUPFS" log --json "$S/$odd" >"$T/odd.json"
py '
import json, sys
a = json.load(open(sys.argv[1], encoding="utf-8"))
assert a[0]["path"] == "/" + sys.argv[2], (a[0]["path"], sys.argv[2])
' "$T/odd.json" "$odd"
ok $? "JSON escapes quotes, backslashes, tabs and keeps UTF-8 in names"

out=$("$BACKUPFS" log "$S/link")
printf '%s\n' "$out" | grep -qE '  6  0777  scan'
ok $? "log of a symbolic link is the link's history, not its target's" ||
	echo "# $out"
is "$("$BACKUPFS" log "$S/sub/../sub/./deep/file")" \
	"$("$BACKUPFS" log "$S/sub/deep/file")" "a path with . and .. is folded"
(cd "$S/sub" && "$BACKUPFS" log deep/file >/dev/null)
ok $? "a relative path works"

# --- cat -----------------------------------------------------------------
for f in random sub/random-copy empty hello.txt sub/deep/file "$odd"; do
	"$BACKUPFS" cat "$S/$f" >"$T/out" && cmp -s "$T/out" "$S/$f"
	ok $? "cat of '$f' equals the file"
done
"$BACKUPFS" cat "$S/empty" | wc -c | grep -qx 0
ok $? "an empty file comes back empty"
(cd "$S/sub/deep" && "$BACKUPFS" cat file) | cmp -s - "$S/sub/deep/file"
ok $? "cat with a relative path"

fails_with "'$S/sub' is a directory .*backupfs log" "cat of a directory" \
	"$BACKUPFS" cat "$S/sub"
fails_with "symbolic link to 'random'" "cat of a symbolic link names its target" \
	"$BACKUPFS" cat "$S/link"
fails_with "no history for '$S/never': '/never' never existed" \
	"log of a path that never existed" "$BACKUPFS" log "$S/never"
fails_with "no history for '$S/sub/never'" "cat of a path that never existed" \
	"$BACKUPFS" cat "$S/sub/never"
fails_with "not in a directory protected by backupfs.*--state" \
	"a path outside any protected tree" "$BACKUPFS" log /etc/hostname

# --- times ---------------------------------------------------------------
"$BACKUPFS" cat --at "$before" "$S/random" >"$T/out" 2>"$T/err"
st=$?
[ $st -ne 0 ] && [ ! -s "$T/out" ] &&
	grep -q "^backupfs: .* is before the history of '$S/random': it starts at" "$T/err"
ok $? "cat --at a time before init: clear error, no output" || cat "$T/err"
"$BACKUPFS" cat --at 2099-01-01T00:00:00+08:00 "$S/random" | cmp -s - "$S/random"
ok $? "--at a future time with +08:00 is the latest version"
"$BACKUPFS" cat --at 2099-12-31 "$S/hello.txt" | cmp -s - "$S/hello.txt"
ok $? "--at a date alone (local midnight)"
"$BACKUPFS" cat --at "2099-06-01 12:30" "$S/hello.txt" | cmp -s - "$S/hello.txt"
ok $? "--at a local time without seconds or zone"

# The version's own instant, in several forms, to the nanosecond: each
# works at t and fails at t - 1 ns (the file was linked at its version's t).
forms=$(py '
import datetime, sys
t = int(sys.argv[1])
def iso(ns, off_min, zone):
    d = datetime.datetime(1970, 1, 1) + datetime.timedelta(
        seconds=ns // 10**9 + off_min * 60)
    return d.strftime("%Y-%m-%dT%H:%M:%S") + ".%09d" % (ns % 10**9) + zone
for ns in (t, t - 1):
    print("@%d" % ns, iso(ns, 0, "Z"), iso(ns, 480, "+08:00"),
          iso(ns, -300, "-0500"), iso(ns, 330, "+05:30"))
' "$t_ns")
at_ok=$(echo "$forms" | sed -n 1p) at_early=$(echo "$forms" | sed -n 2p)
for a in $at_ok; do
	"$BACKUPFS" cat --at "$a" "$S/random" 2>"$T/err" | cmp -s - "$S/random"
	ok $? "--at $a (the version's instant) gives the version" || cat "$T/err"
done
for a in $at_early; do
	fails_with "no '$S/random' at .*backupfs log" "--at $a (1 ns earlier) finds no file" \
		"$BACKUPFS" cat --at "$a" "$S/random"
done
# Without a zone the time is local: TZ=XST-8 is UTC+8 without tzdata.
local=$(py '
import datetime, sys
for ns in (int(sys.argv[1]), int(sys.argv[1]) - 1):
    d = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=ns // 10**9 + 8 * 3600)
    print(d.strftime("%Y-%m-%dT%H:%M:%S") + ".%09d" % (ns % 10**9))
' "$t_ns")
TZ=XST-8 "$BACKUPFS" cat --at "$(echo "$local" | sed -n 1p)" "$S/random" | cmp -s - "$S/random"
ok $? "--at a local time without zone is read in \$TZ"
fails_with "no '$S/random' at " "and 1 ns earlier finds no file" \
	env TZ=XST-8 "$BACKUPFS" cat --at "$(echo "$local" | sed -n 2p)" "$S/random"
short=$(py '
import datetime, sys
t = int(sys.argv[1]) + 10**9
d = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=t // 10**9)
print(d.strftime("%Y-%m-%dT%H:%M:%S") + ".25Z")' "$t_ns")
"$BACKUPFS" cat --at "$short" "$S/random" | cmp -s - "$S/random"
ok $? "--at with a short fraction ($short)"
for bad in garbage 2026-02-30T00:00:00Z 2026-11-23T24:00:00Z 2026-11-23T10 \
	2026-11-23T10:17:33.1234567891Z 2026-11-23T10:17:33+8 \
	2026-11-23T10:17:33Zjunk @ @12x 2026-11-23T10:17:33. ""; do
	out=$("$BACKUPFS" cat --at "$bad" "$S/hello.txt" 2>&1)
	st=$?
	[ $st -eq 2 ] && echo "$out" | grep -q "^backupfs: --at '.*' is not a time"
	ok $? "--at '$bad' is refused with exit 2" || echo "# exit $st: $out"
done
"$BACKUPFS" cat --at 2026-11-23T10:17 "$S/hello.txt" >/dev/null 2>"$T/err"
! grep -q "is not a time" "$T/err"
ok $? "HH:MM without seconds is a valid time"
fails_with "out of range" "--at before 1970" "$BACKUPFS" cat --at 1969-12-31T23:59:59Z "$S/hello.txt"
fails_with "out of range" "--at after 2262" "$BACKUPFS" cat --at 2263-01-01T00:00:00Z "$S/hello.txt"

# --- deleted files -------------------------------------------------------
rm "$S/sub/doomed"
rm -r "$S/olddir"
out=$("$BACKUPFS" log "$S/sub/doomed")
ok $? "log of a deleted file still works"
printf '%s\n' "$out" | grep -qE '  10  0644  scan  not-exact$'
ok $? "and shows its saved version" || echo "# $out"
"$BACKUPFS" cat "$S/sub/doomed" | cmp -s - "$T/saved/doomed"
ok $? "cat of a deleted file gives its last content"
"$BACKUPFS" cat "$S/olddir/inner" | cmp -s - "$T/saved/inner"
ok $? "cat of a file in a deleted directory"

# --- other ways to name a file -------------------------------------------
(cd / && "$BACKUPFS" cat --state "$state" /hello.txt) | cmp -s - "$S/hello.txt"
ok $? "--state with a path inside the tree"
"$BACKUPFS" cat --state "$state" "$S/hello.txt" | cmp -s - "$S/hello.txt"
ok $? "--state with the file's real path"
fails_with "state directory '$T/nope' does not exist" "--state of a missing directory" \
	"$BACKUPFS" log --state "$T/nope" /hello.txt

if bfs_mount "$S" "$M"; then
	ok 0 "mount elsewhere"
	is "$("$BACKUPFS" log "$M/hello.txt" 2>&1 | head -1)" \
		"$(cd / && "$BACKUPFS" log --state "$state" /hello.txt | head -1)" \
		"log through a mount elsewhere maps it to its source"
	"$BACKUPFS" cat "$M/random" | cmp -s - "$S/random"
	ok $? "cat through a mount elsewhere"
	(cd "$M/sub" && "$BACKUPFS" log doomed >/dev/null)
	ok $? "a deleted file named relative to a directory in the mount"
	bfs_umount "$M"
else
	ok 1 "mount elsewhere"
fi
if bfs_mount "$S"; then
	"$BACKUPFS" cat "$S/sub/random-copy" | cmp -s - "$S/random"
	ok $? "cat through a mount over the source"
	bfs_umount "$S"
else
	ok 1 "mount over the source"
fi

# --- later history ---------------------------------------------------------
# Only init records versions today, so the daemon's later events are written
# into meta.db as meta.c stores them (doc/versioning.md §3): a chmod (reason
# meta, NULL manifest = content unchanged), a rename, and a version with a
# reason code this build does not know.
hist=$(py '
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
MAX = 2**63 - 1
(last,) = db.execute("SELECT last FROM clock").fetchone()
t0 = max(time.time_ns(), last + 1)
(ino,) = db.execute("SELECT inode FROM dentry WHERE parent = 1 AND name = ?"
                    " AND t_to = ?", (b"hello.txt", MAX)).fetchone()
row = db.execute("SELECT size, uid, gid, mtime_ns FROM version WHERE inode = ?",
                 (ino,)).fetchone()
def version(t, mode, reason):
    db.execute("INSERT INTO version(inode, t, size, mode, uid, gid, mtime_ns,"
               " rdev, manifest, reason, exact) VALUES (?,?,?,?,?,?,?,0,NULL,?,1)",
               (ino, t, row[0], mode, row[1], row[2], row[3], reason))
version(t0, 0o100600, 6)
db.execute("UPDATE dentry SET t_to = ? WHERE parent = 1 AND name = ? AND t_to = ?",
           (t0 + 1000, b"hello.txt", MAX))
db.execute("INSERT INTO dentry(parent, name, inode, t_from, t_to) VALUES (1,?,?,?,?)",
           (b"renamed.txt", ino, t0 + 1000, MAX))
version(t0 + 2000, 0o100644, 42)
db.execute("UPDATE clock SET last = ?", (t0 + 2000,))
db.commit()
print(t0, t0 + 1000)
' "$state/meta.db")
ok $? "meta.db takes a chmod, a rename and a version of an unknown reason"
t_meta=${hist% *} t_ren=${hist#* }
out=$("$BACKUPFS" log "$S/renamed.txt")
is "$(printf '%s\n' "$out" | sed 's/^[^ ]*  //')" "$(printf '%s\n' \
	"6  0640  scan  not-exact  /hello.txt" \
	"6  0600  meta  exact  /hello.txt" \
	"6  0644  reason-42  exact")" \
	"log follows the rename: old versions show the name they had"
out=$("$BACKUPFS" log "$S/hello.txt" | sed 's/^[^ ]*  //')
is "$(printf '%s\n' "$out" | tail -1)" "6  0644  reason-42  exact  /renamed.txt" \
	"log of the old name finds the file and shows its new name"
"$BACKUPFS" log --json "$S/renamed.txt" >"$T/ren.json"
py '
import json, sys
a = json.load(open(sys.argv[1]))
assert [o["reason"] for o in a] == ["scan", "meta", "reason-42"], a
assert [o["path"] for o in a] == ["/hello.txt", "/hello.txt", "/renamed.txt"], a
assert [o["mode"] for o in a] == ["0640", "0600", "0644"], a
assert [o["exact"] for o in a] == [False, True, True], a
assert a[1]["t_ns"] == int(sys.argv[2]), a
' "$T/ren.json" "$t_meta"
ok $? "and so does log --json"
"$BACKUPFS" cat "$S/renamed.txt" | cmp -s - "$S/hello.txt"
ok $? "cat of a version without its own manifest gives the content it shares"
"$BACKUPFS" cat --at "@$t_meta" "$S/hello.txt" | cmp -s - "$S/hello.txt"
ok $? "cat --at under the old name before the rename"
fails_with "no '$S/hello.txt' at " "the old name after the rename is gone" \
	"$BACKUPFS" cat --at "@$t_ren" "$S/hello.txt"
"$BACKUPFS" cat --at "@$t_ren" "$S/renamed.txt" | cmp -s - "$S/hello.txt"
ok $? "the new name at the rename's instant"
fails_with "no '$S/renamed.txt' at " "the new name before the rename" \
	"$BACKUPFS" cat --at "@$((t_ren - 1))" "$S/renamed.txt"

# --- corruption ----------------------------------------------------------
pack=$(ls "$repo"/data/*/ | grep -E '^[0-9a-f]{64}$')
is "$(echo "$pack" | wc -l)" 1 "the import made one pack"
[ -z "$(ls -A "$state/staging")" ]
ok $? "init removed the staged pack once it was in the repository"
# A pack waiting for upload is read from staging: put one back there.
cp "$repo/data/${pack:0:2}/$pack" "$state/staging/$pack"
cp "$repo/index/$pack" "$state/staging/$pack.index"
flip() {	# flip FILE OFFSET: invert one byte in place
	py '
import sys
f = open(sys.argv[1], "r+b"); f.seek(int(sys.argv[2]))
b = f.read(1); f.seek(int(sys.argv[2])); f.write(bytes([b[0] ^ 0xff]))' "$1" "$2"
}
check_corrupt() {	# check_corrupt PATTERN DESCRIPTION
	"$BACKUPFS" cat "$S/random" >"$T/out" 2>"$T/err"
	local st=$? n
	n=$(stat -c %s "$T/out")
	[ $st -ne 0 ] && [ "$(wc -l <"$T/err")" -eq 1 ] &&
		grep -qE -- "^backupfs: cannot read '$S/random' .*$1" "$T/err" &&
		[ "$n" -lt 3000000 ] && cmp -s -n "$n" "$T/out" "$S/random"
	ok $? "$2" || { cat "$T/err"; echo "# exit $st, $n bytes out"; }
}
size=$(stat -c %s "$state/staging/$pack")
flip "$state/staging/$pack" $((size / 2))
check_corrupt "pack file '$state/staging/$pack' is corrupt: the blob of chunk [0-9a-f]{16} at offset [0-9]+ \([0-9]+ bytes\) does not authenticate" \
	"a flipped byte in a staged pack: one line naming it, exit 1, only correct bytes out"
flip "$state/staging/$pack" $((size / 2))
"$BACKUPFS" cat "$S/random" | cmp -s - "$S/random"
ok $? "the same byte flipped back reads again"

for f in "$state"/staging/*.index; do
	h=$(basename "$f" .index)
	cmp -s "$state/staging/$h" "$repo/data/${h:0:2}/$h" &&
		cmp -s "$f" "$repo/index/$h" && rm -f "$f" "$state/staging/$h"
done
[ -z "$(ls -A "$state/staging")" ]
ok $? "every staged pack was in the repository and is removed"
for f in random sub/random-copy empty hello.txt sub/deep/file; do
	"$BACKUPFS" cat "$S/$f" | cmp -s - "$S/$f"
	ok $? "cat of '$f' from the repository"
done
obj=$repo/data/${pack:0:2}/$pack
flip "$obj" $((size / 2))
check_corrupt "object 'data/${pack:0:2}/$pack' in repository 'file://$repo' is corrupt" \
	"a flipped byte in the repository's pack: one line naming the object"
flip "$obj" $((size / 2))
cp "$obj" "$state/cache/$pack"
flip "$state/cache/$pack" $((size / 2))
check_corrupt "pack file '$state/cache/$pack' is corrupt" \
	"a cached pack is read before the repository, and checked too"
rm "$state/cache/$pack"
head -c $((size / 2)) "$obj" >"$obj.short"
mv "$obj" "$obj.keep"; mv "$obj.short" "$obj"
check_corrupt "object 'data/${pack:0:2}/$pack' in repository 'file://$repo' is truncated" \
	"a truncated pack object is named as such"
rm "$obj"
check_corrupt "cannot read object 'data/${pack:0:2}/$pack' in repository 'file://$repo': it is missing" \
	"a missing pack object is named"
mv "$obj.keep" "$obj"
"$BACKUPFS" cat "$S/random" | cmp -s - "$S/random"
ok $? "with the object back, cat works again"

# --- passwords -----------------------------------------------------------
out=$(BACKUPFS_PASSWORD=wrong "$BACKUPFS" cat "$S/hello.txt" 2>"$T/err")
st=$?
[ $st -ne 0 ] && [ -z "$out" ] && [ "$(wc -l <"$T/err")" -eq 1 ] &&
	grep -q "^backupfs: wrong password for repository 'file://$repo'" "$T/err"
ok $? "a wrong password: one line naming the repository, no output" ||
	{ cat "$T/err"; echo "# exit $st"; }
echo "$BACKUPFS_PASSWORD" >"$T/pwfile"
BACKUPFS_PASSWORD=wrong "$BACKUPFS" cat --password-file "$T/pwfile" "$S/hello.txt" |
	cmp -s - "$S/hello.txt"
ok $? "--password-file is used before \$BACKUPFS_PASSWORD"
(unset BACKUPFS_PASSWORD; "$BACKUPFS" log "$S/hello.txt" </dev/null >/dev/null)
ok $? "log needs no password"
fails_with "no password for .*BACKUPFS_PASSWORD" "cat without a password says where to give one" \
	env -u BACKUPFS_PASSWORD setsid "$BACKUPFS" cat "$S/hello.txt"

# --- usage ---------------------------------------------------------------
"$BACKUPFS" log >/dev/null 2>&1; is $? 2 "log without PATH is a usage error"
"$BACKUPFS" cat a b >/dev/null 2>&1; is $? 2 "cat with two paths is a usage error"
"$BACKUPFS" cat --bogus x >/dev/null 2>&1; is $? 2 "an unknown option is a usage error"
"$BACKUPFS" log --help | grep -q -- "--json"; ok $? "log --help lists --json"
"$BACKUPFS" cat --help | grep -q -- "--at TIME"; ok $? "cat --help lists --at"
