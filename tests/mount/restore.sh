#!/bin/bash
# restore.sh - "backupfs restore": a tree built through the mount (nested
# directories, random and sparse and empty files, hard links across
# directories, relative and absolute symlinks, a fifo, a device, setgid,
# setuid and sticky modes, another user's file, xattrs, an mtime in 2001)
# comes back as it was at T after it was changed, renamed and partly
# removed: equal to a cp -a copy taken at T (content, modes, owners,
# xattrs, hard-link groups, mtimes to the nanosecond), sparse files
# sparse.  Also a single file, the latest state, --snapshot, a removed
# tree, restoring into the mount and while unmounted (registry and
# --state), --overwrite (and that it follows no symlink), a non-root
# user (one warning per kind of loss), and every refusal or failure: DEST
# exists, DEST inside PATH, a path that did not exist at T, a malformed
# time (exit 2), before the history, an unknown snapshot, a full disk, a
# wrong password (one line naming the repository), a flipped byte in a
# repository pack (one line naming the object, exit 1, no partial file),
# names and xattrs in meta.db that could escape DEST or are malformed.
. "$(dirname "$0")/lib.sh"
setup
CMP=$TOOLS/treecmp
[ -x "$CMP" ] || skip_all "no treecmp (make check builds it)"
S=$T/src M=$T/mnt
mkdir -p "$S" "$M"
bfs_mount "$S" "$M" || exit 1
state=$(bfs_state "$S")
repo=$(sed 's|^file://||' "$state/repo")
bsync() { "$BACKUPFS" sync "$M"; }
rst() { "$BACKUPFS" restore --no-progress "$@"; }
# same A B [DESC]: treecmp with everything it can compare but directory
# mtimes (the daemon versions a directory at its own changes, not at each
# change of its entries), and the differences in the output on failure
same() {
	local out
	out=$("$CMP" -m -x -i "$1" "$2" 2>&1)
	ok $? "${3:-$2 equals $1}" || printf '%s\n' "$out" | head -20 | sed 's/^/#   /'
}
# --- the tree at T ---------------------------------------------------------
W=$M/sub
mkdir -p "$W/a/b" "$W/c" "$W/gone/deeper" "$W/olddir"
head -c 5000000 /dev/urandom >"$W/a/rand"
truncate -s 100M "$W/sparse"
head -c 65536 /dev/urandom | dd of="$W/sparse" conv=notrunc status=none
head -c 65536 /dev/urandom | dd of="$W/sparse" bs=1M seek=50 conv=notrunc status=none
: >"$W/empty"
printf 'three names\n' >"$W/a/h1"
ln "$W/a/h1" "$W/c/h2"
ln "$W/a/h1" "$W/a/b/h3"
ln -s ../a/rand "$W/c/rel"
ln -s /etc/hostname "$W/c/abs"
ln -s "$T/victim" "$W/c/dangling"
mkfifo "$W/fifo"
mknod "$W/null" c 1 3
mkdir "$W/sg"
chgrp 1001 "$W/sg" && chmod 2775 "$W/sg"
printf 'in a setgid directory\n' >"$W/sg/in"
printf 'not root\n' >"$W/other"
chown 1001:1001 "$W/other"
printf 'x\n' >"$W/suid" && chmod 4755 "$W/suid"
mkdir "$W/sticky" && chmod 1777 "$W/sticky"
# xattrs set before a write reach the version cut at close (xonly, later,
# has one set alone)
: >"$W/a/attr"
setfattr -n user.k -v v "$W/a/attr"
setfattr -n user.other -v 'two words' "$W/a/attr"
printf 'has xattrs\n' >>"$W/a/attr"
printf 'private\n' >"$W/old"
chmod 600 "$W/old"
touch -d 2001-02-03T04:05:06.123456789Z "$W/old"
printf 'deep\n' >"$W/gone/deeper/f"
printf 'top\n' >"$W/gone/g"
printf 'in olddir\n' >"$W/olddir/f"
mkdir "$W/many"
for i in $(seq -w 1 40); do head -c 100000 /dev/urandom >"$W/many/f$i"; done
touch -d 2001-09-09T01:46:40Z "$W/olddir"
bsync; ok $? "sync after building the tree"
cp -a "$W" "$T/ref"
cp -a "$W/a" "$T/ref-a"	# a subtree alone: h1 has two names in it, not three
t_at=$(date +%s%N)
snap=$("$BACKUPFS" snapshot --name before-changes "$M" 2>&1)
is "$snap" before-changes "a snapshot of the same state"

# --- then it changes -------------------------------------------------------
printf 'appended later\n' >>"$W/a/rand"
printf 'new\n' >"$W/new"
chmod 644 "$W/old"
mv "$W/c" "$W/c2"
rm -rf "$W/gone"
setfattr -x user.other "$W/a/attr"
printf 'attr only\n' >"$W/xonly"; bsync
setfattr -n user.only -v yes "$W/xonly"	# an xattr without a content cut
bsync; ok $? "sync after changing it"
cp -a "$W" "$T/ref-latest"

# --- restore at T ----------------------------------------------------------
rst --at "@$t_at" "$W" "$T/r1" 2>"$T/err"
ok $? "restore --at T of the tree" || sed 's/^/#   /' "$T/err"
grep -qE "^[0-9]+ files?, [0-9]+ director(y|ies), [0-9]+ bytes \([0-9.]+ MiB\) restored to '$T/r1'" "$T/err" &&
	[ "$(wc -l <"$T/err")" -eq 1 ]
ok $? "one summary line: files, bytes, DEST" || sed 's/^/#   /' "$T/err"
same "$T/ref" "$T/r1" "the tree equals its cp -a copy at T (content, modes, owners, xattrs, links, mtimes)"
is "$(stat -c '%a %u:%g' "$T/r1/sg" "$T/r1/suid" "$T/r1/sticky" "$T/r1/old" "$T/r1/other" | tr '\n' ' ')" \
	"2775 0:1001 4755 0:0 1777 0:0 600 0:0 644 1001:1001 " \
	"setgid, setuid, sticky, 0600 and another user's owner"
is "$(stat -c %i "$T/r1/a/h1" "$T/r1/c/h2" "$T/r1/a/b/h3" | sort -u | wc -l) $(stat -c %h "$T/r1/a/h1")" \
	"1 3" "three names of one file are one inode again"
is "$(stat -c %y "$T/r1/old")" "$(stat -c %y "$T/ref/old")" "an mtime in 2001, to the nanosecond"
is "$(stat -c %Y "$T/r1/olddir")" "$(stat -c %Y "$T/ref/olddir")" \
	"a directory's mtime is set after its entries"
is "$(stat -c %F "$T/r1/fifo"):$(stat -c '%F %t,%T' "$T/r1/null")" \
	"fifo:character special file 1,3" "a fifo and a device node"
is "$(readlink "$T/r1/c/rel") $(readlink "$T/r1/c/abs") $(readlink "$T/r1/c/dangling")" \
	"../a/rand /etc/hostname $T/victim" "symlinks keep their targets, relative and absolute"
[ ! -e "$T/victim" ]; ok $? "and nothing was written through a dangling one"
is "$(getfattr --only-values -n user.other "$T/r1/a/attr" 2>/dev/null)" "two words" \
	"an xattr comes back with its value"
cmp -s "$T/r1/sparse" "$T/ref/sparse"; ok $? "the sparse file's content"
k=$(du -k "$T/r1/sparse" | cut -f1)
[ "$k" -lt 10240 ]; ok $? "and it stays sparse: $k KiB on disk for 100 MiB"

rst "$W/xonly" "$T/xonly" 2>/dev/null
is "$(getfattr --only-values -n user.only "$T/xonly" 2>/dev/null)" yes \
	"an xattr set without a content change is restored"

# --- one file, other names, the latest state -------------------------------
rst --at "@$t_at" "$W/a/rand" "$T/one" 2>/dev/null
ok $? "restore of a single file"
cmp -s "$T/one" "$T/ref/a/rand" && [ "$(stat -c %a "$T/one")" = 644 ]
ok $? "it is the file at T, not the later one"
rst --at "@$t_at" "$W/c/h2" "$T/h2" 2>/dev/null && cmp -s "$T/h2" "$T/ref/c/h2"
ok $? "a file under the name it had at T (its directory was renamed since)"
rst "$W" "$T/latest" 2>/dev/null
ok $? "restore without --at"
same "$T/ref-latest" "$T/latest" "it is the latest state"

# --- a removed tree ----------------------------------------------------------
fails_with "'$W/gone' does not exist now: '/sub/gone' is gone since .*--at a time before that.*backupfs log" \
	"a removed tree without --at says since when it is gone" \
	rst "$W/gone" "$T/gone"
[ ! -e "$T/gone" ]; ok $? "and creates nothing"
rst --at "@$t_at" "$W/gone" "$T/gone" 2>/dev/null
ok $? "restore --at before the rm"
same "$T/ref/gone" "$T/gone" "the removed tree comes back"

# --- --snapshot ---------------------------------------------------------------
rst --snapshot before-changes "$W/a" "$T/snap" 2>/dev/null
ok $? "restore --snapshot NAME"
same "$T/ref-a" "$T/snap" "it is the state at the snapshot's instant"
fails_with "no snapshot named 'nope' for '$W'.*'backupfs snapshots $W' lists them" \
	"an unknown snapshot says how to list them" rst --snapshot nope "$W" "$T/x"

# --- refusals --------------------------------------------------------------
fails_with "'$T/r1' exists: .*--overwrite" "DEST exists: refused, names --overwrite" \
	rst --at "@$t_at" "$W" "$T/r1"
fails_with "DEST is PATH itself or inside it" "DEST inside PATH (through the mount)" \
	rst --at "@$t_at" "$W" "$W/a/inside"
[ ! -e "$W/a/inside" ]; ok $? "and nothing is created there"
fails_with "DEST is PATH itself or inside it" "DEST inside PATH (its path in SOURCE)" \
	rst --at "@$t_at" "$W" "$S/sub/inside"
fails_with "DEST is PATH itself or inside it" "DEST is PATH, even with --overwrite" \
	rst --overwrite "$W/a" "$W/a"
fails_with "no '$W/new' at .*backupfs log" "a path that did not exist at T" \
	rst --at "@$t_at" "$W/new" "$T/x"
fails_with "no history for '$W/never'" "a path that never existed" \
	rst "$W/never" "$T/x"
fails_with "is before the history of '$W'" "a time before the history" \
	rst --at @1000000000 "$W" "$T/x"
for bad in garbage 2026-02-30 @12x ""; do
	out=$(rst --at "$bad" "$W" "$T/x" 2>&1); st=$?
	[ $st -eq 2 ] && printf '%s' "$out" | grep -q "^backupfs: --at '.*' is not a time"
	ok $? "--at '$bad': exit 2, says it is not a time" || echo "#   exit $st: $out"
done
fails_with "its directory '$T/no/such' does not exist" "DEST in a missing directory" \
	rst "$W/a" "$T/no/such/x"
"$BACKUPFS" restore "$W" >/dev/null 2>&1; is $? 2 "one argument is a usage error"
"$BACKUPFS" restore --at @1 --snapshot s "$W" "$T/x" >/dev/null 2>&1
is $? 2 "--at with --snapshot is a usage error"
[ ! -e "$T/x" ]; ok $? "no refusal created DEST"

# --- --overwrite ------------------------------------------------------------
printf 'changed\n' >"$T/r1/a/rand"
rm "$T/r1/c/h2"
rm -rf "$T/r1/sg" && printf 'a file where a directory was\n' >"$T/r1/sg"
rm "$T/r1/empty" && mkdir -p "$T/r1/empty/full" && echo x >"$T/r1/empty/full/f"
chmod 777 "$T/r1/old"
printf 'kept\n' >"$T/r1/extra"
mkdir "$T/victim"
rm -rf "$T/r1/c" && ln -s "$T/victim" "$T/r1/c"	# a symlink where a directory goes
rst --overwrite --at "@$t_at" "$W" "$T/r1" 2>/dev/null
ok $? "--overwrite restores over an existing tree"
[ -z "$(ls -A "$T/victim")" ]; ok $? "without following a symlink it finds in DEST"
is "$(cat "$T/r1/extra" 2>/dev/null)" "kept" "names not in the backup are kept"
rm -f "$T/r1/extra"
same "$T/ref" "$T/r1" "the rest equals the tree at T again"
rst --overwrite --at "@$t_at" "$W/a/rand" "$T/one" 2>/dev/null && cmp -s "$T/one" "$T/ref/a/rand"
ok $? "--overwrite of a single file"
fails_with "is a directory and .*is not" "--overwrite does not put a file over a directory" \
	rst --overwrite --at "@$t_at" "$W/a/rand" "$T/r1"

# --- progress ----------------------------------------------------------------
if command -v script >/dev/null; then
	script -qec "'$BACKUPFS' restore --at @$t_at '$W/a' '$T/tty'" /dev/null >"$T/tty.out" 2>&1
	grep -qE "restoring: [0-9]+/[0-9]+ files, [0-9.]+/[0-9.]+ MiB, [0-9.]+ MiB/s" "$T/tty.out"
	ok $? "on a terminal: a progress line with files, MiB, rate" || sed 's/^/#   /' "$T/tty.out"
	script -qec "'$BACKUPFS' restore --no-progress --at @$t_at '$W/a' '$T/tty2'" /dev/null >"$T/tty.out" 2>&1
	! grep -q "restoring:" "$T/tty.out"; ok $? "--no-progress turns it off"
fi
rst --at "@$t_at" "$W/a" "$T/notty" 2>"$T/err"
! grep -q "restoring:" "$T/err"; ok $? "no progress line when stderr is not a terminal"

# --- a full disk -------------------------------------------------------------
mkdir "$T/small"
if mount -t tmpfs -o size=1m tmpfs "$T/small" 2>/dev/null; then
	rst --at "@$t_at" "$W/a/rand" "$T/small/rand" 2>"$T/err"
	st=$?
	[ $st -eq 1 ] && [ "$(wc -l <"$T/err")" -eq 1 ] &&
		grep -q "^backupfs: cannot write '$T/small/rand': No space left on device; removed the partial file$" "$T/err"
	ok $? "a full disk: one line naming the file, exit 1" || { cat "$T/err"; echo "# exit $st"; }
	[ ! -e "$T/small/rand" ]; ok $? "and the partial file is removed"
	# Small files are queued whole before the writer fails on one of them:
	# the writer removes it, and every file after it.
	rst --at "@$t_at" "$W/many" "$T/small/many" 2>"$T/err"
	st=$?
	[ $st -eq 1 ] && grep -q "cannot write '$T/small/many/f[0-9]*': No space left on device; removed the partial file" "$T/err"
	ok $? "a full disk in a tree: exit 1, names the file" || { cat "$T/err"; echo "# exit $st"; }
	bad=0 n=0
	for f in "$T"/small/many/f*; do
		[ -e "$f" ] || continue
		n=$((n + 1))
		cmp -s "$f" "$T/ref/many/${f##*/}" || bad=$((bad + 1))
	done
	[ $bad -eq 0 ] && [ $n -lt 40 ]
	ok $? "every file left is complete ($n of 40 left, $bad partial)"
	umount "$T/small"
fi

# --- into the mount ----------------------------------------------------------
rst --at "@$t_at" "$W/a" "$M/restored-a" 2>/dev/null
ok $? "restore into the mount (outside PATH)"
same "$T/ref-a" "$M/restored-a" "what was restored into the mount equals the tree at T"
bsync
"$BACKUPFS" cat "$M/restored-a/rand" | cmp -s - "$T/ref/a/rand"
ok $? "and the daemon versioned what restore wrote"

# --- unmounted ---------------------------------------------------------------
bfs_umount "$M"; ok $? "umount"
rst --at "@$t_at" "$S/sub" "$T/u1" 2>/dev/null
ok $? "restore from SOURCE while unmounted (found in the registry)"
same "$T/ref" "$T/u1" "equal to the tree at T"
(cd / && rst --state "$state" --at "@$t_at" /sub/a "$T/u2" 2>/dev/null)
ok $? "restore with --state and a path in the tree"
same "$T/ref-a" "$T/u2" "equal to the subtree at T"

# --- not root ------------------------------------------------------------------
# A copy of the state and repository the test user owns: restore works,
# owners it may not give and device nodes are one warning line each.
if have_test_user; then
	cp -a "$state" "$T/ustate" && cp -a "$repo" "$T/urepo" &&
		echo "file://$T/urepo" >"$T/ustate/repo" && mkdir "$T/udest" &&
		chown -R "$TEST_USER:" "$T/ustate" "$T/urepo" "$T/udest"
	(cd / && as_user env HOME="$T/udest" "$BACKUPFS" restore --state "$T/ustate" \
		--at "@$t_at" /sub "$T/udest/sub") 2>"$T/err"
	st=$?
	[ $st -eq 1 ] &&
		grep -q "^backupfs: warning: could not set the owner of [0-9]* entries (the first: '$T/udest/sub/.*': Operation not permitted); only root can give files to other users$" "$T/err" &&
		grep -q "^backupfs: warning: could not restore 1 entry (the first: '$T/udest/sub/null', device files need root: Operation not permitted); the restore is incomplete" "$T/err" &&
		[ "$(grep -c warning "$T/err")" -eq 2 ]
	ok $? "not root: one warning for owners, one for the device, exit 1" || { cat "$T/err"; echo "# exit $st"; }
	cmp -s "$T/udest/sub/a/rand" "$T/ref/a/rand" &&
		is "$(stat -c '%a %U' "$T/udest/sub/old" "$T/udest/sub/other" | tr '\n' ' ')" \
			"600 $TEST_USER 644 $TEST_USER " "and the rest is restored, owned by the user"
fi

# --- wrong password ----------------------------------------------------------
BACKUPFS_PASSWORD=wrong rst --at "@$t_at" "$S/sub/a" "$T/pw" 2>"$T/err"
st=$?
[ $st -ne 0 ] && [ "$(wc -l <"$T/err")" -eq 1 ] &&
	grep -q "^backupfs: wrong password for repository 'file://$repo'" "$T/err"
ok $? "a wrong password: one line naming the repository" || { cat "$T/err"; echo "# exit $st"; }
[ ! -e "$T/pw" ]; ok $? "and nothing is created"

# --- a flipped byte in a pack ------------------------------------------------
[ -z "$(find "$state/staging" "$state/cache" -type f 2>/dev/null)" ]
ok $? "after sync and umount, packs are only in the repository"
# The pack and offset of the second chunk of a/rand at T.
loc=$(python3 - "$state/meta.db" "$t_at" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1]); T = int(sys.argv[2]); MAX = 2**63 - 1
ino = 1
for name in (b"sub", b"a", b"rand"):
    (ino,) = db.execute("SELECT inode FROM dentry WHERE parent = ? AND name = ?"
                        " AND t_from <= ? AND t_to > ?", (ino, name, T, T)).fetchone()
(man,) = db.execute("SELECT manifest FROM version WHERE inode = ? AND t <= ? AND"
                    " manifest IS NOT NULL ORDER BY t DESC LIMIT 1", (ino, T)).fetchone()
assert len(man) >= 2 * 44, len(man)
cid = man[44 + 8:44 + 40]
pack, off, length = db.execute("SELECT pack, offset, length FROM chunk WHERE id = ?",
                               (cid,)).fetchone()
(name,) = db.execute("SELECT name FROM pack WHERE id = ?", (pack,)).fetchone()
print(name.hex(), off + length // 2)
PY
)
ok $? "find the second chunk of a/rand in meta.db"
pack=${loc% *} at=${loc#* }
obj=$repo/data/${pack:0:2}/$pack
flip() {	# flip FILE OFFSET: invert one byte in place
	python3 -c '
import sys
f = open(sys.argv[1], "r+b"); f.seek(int(sys.argv[2]))
b = f.read(1); f.seek(int(sys.argv[2])); f.write(bytes([b[0] ^ 0xff]))' "$1" "$2"
}
flip "$obj" "$at"
rst --at "@$t_at" "$S/sub/a/rand" "$T/bad" 2>"$T/err"
st=$?
[ $st -eq 1 ] && [ "$(wc -l <"$T/err")" -eq 1 ] &&
	grep -qE "^backupfs: cannot restore '$S/sub/a/rand' .*object 'data/${pack:0:2}/$pack' in repository 'file://$repo' is corrupt: the blob of chunk [0-9a-f]{16} .*removed the partial file '$T/bad'" "$T/err"
ok $? "a flipped byte: one line naming the object, exit 1" || { cat "$T/err"; echo "# exit $st"; }
[ ! -e "$T/bad" ]; ok $? "no partial file is left"
rst --at "@$t_at" "$S/sub/a" "$T/bad2" 2>"$T/err"
st=$?
[ $st -eq 1 ] && [ ! -e "$T/bad2/rand" ] && grep -q "is corrupt" "$T/err"
ok $? "in a tree too: exit 1, the file is not left half written" || { cat "$T/err"; echo "# exit $st"; }
cp "$T/ref/a/h1" "$T/keep"
rst --overwrite --at "@$t_at" "$S/sub/a/rand" "$T/keep" 2>/dev/null
[ $? -eq 1 ] && cmp -s "$T/keep" "$T/ref/a/h1" && [ -z "$(ls -A "$T" | grep backupfs-restore)" ]
ok $? "--overwrite and a read error: the old file is left as it was"
flip "$obj" "$at"
rst --at "@$t_at" "$S/sub/a/rand" "$T/good" 2>/dev/null && cmp -s "$T/good" "$T/ref/a/rand"
ok $? "with the byte flipped back it restores"

# --- a database that lies ------------------------------------------------------
# Names that could leave DEST ("..", one with '/') and a malformed xattrs
# blob, written into meta.db as if by a broken or hostile writer: skipped
# and said once each, nothing is written outside DEST, no crash.
python3 - "$state/meta.db" "$t_at" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1]); T = int(sys.argv[2]); MAX = 2**63 - 1
def look(parent, name):
    return db.execute("SELECT inode FROM dentry WHERE parent = ? AND name = ? AND"
                      " t_from <= ? AND t_to > ?", (parent, name, T, T)).fetchone()[0]
a = look(look(1, b"sub"), b"a")
h1 = look(a, b"h1")
attr = look(a, b"attr")
for name in (b"..", b"x/../../escape"):
    db.execute("INSERT INTO dentry(parent, name, inode, t_from, t_to) VALUES (?,?,?,?,?)",
               (a, name, h1, T - 1000, MAX))
(t,) = db.execute("SELECT max(t) FROM version WHERE inode = ? AND t <= ?", (attr, T)).fetchone()
db.execute("UPDATE version SET xattrs = ? WHERE inode = ? AND t = ?",
           (bytes([5, 0]) + b"use", attr, t))
db.commit()
PY
ok $? "meta.db takes two escaping names and a malformed xattrs blob"
mkdir -p "$T/lies"
rst --at "@$t_at" "$S/sub/a" "$T/lies/a" 2>"$T/err"
st=$?
[ $st -eq 1 ] &&
	grep -q "^backupfs: warning: could not restore 2 entries (the first: '$T/lies/a', names in the database that are not file names: Structure needs cleaning)" "$T/err" &&
	grep -q "^backupfs: warning: could not set 1 extended attribute (the first: '$T/lies/a/attr', (malformed in the database): Bad message)" "$T/err"
ok $? "bad names and a bad blob: one warning each, exit 1" || { cat "$T/err"; echo "# exit $st"; }
[ ! -e "$T/escape" ] && [ ! -e "$T/lies/escape" ] && [ ! -e "$T/lies/h1" ] &&
	cmp -s "$T/lies/a/rand" "$T/ref/a/rand"
ok $? "nothing is written outside DEST, the rest is restored"
