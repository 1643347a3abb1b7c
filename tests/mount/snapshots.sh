#!/bin/bash
# snapshots.sh - the past under .snapshots: "backupfs snapshot" and
# "snapshots", the read-only view in every directory (names and @TIME),
# exactly as it was (content, modes, owners, mtimes, symlinks, hard links,
# xattrs, sparse files), EROFS on every mutation, hidden vs snapdir=visible,
# rm -rf then cp -a back, rename history, crash-consistent cut under a
# writer, a 10,000-file tree.
. "$(dirname "$0")/lib.sh"
setup
CMP=$TOOLS/treecmp
[ -x "$CMP" ] || skip_all "no treecmp (make check builds it)"
S=$T/src
mkdir -p "$S"
bfs_mount "$S" || exit 1
bsync() { "$BACKUPFS" sync "$S"; }
iso() {	# iso NS: the ISO 8601 form of a time in ns, with its fraction
	printf '%s.%09dZ' "$(date -u -d "@$(($1 / 1000000000))" +%Y-%m-%dT%H:%M:%S)" $(($1 % 1000000000))
}

# --- a tree with everything ------------------------------------------------
mkdir -p "$S/tree/sub/deep" "$S/tree/sgid"
chmod 2775 "$S/tree/sgid"
head -c 3000000 /dev/urandom >"$S/tree/random"
printf 'hello\n' >"$S/tree/sub/hello"
: >"$S/tree/empty"
truncate -s 200M "$S/tree/sparse"
printf 'data at 100M' | dd of="$S/tree/sparse" bs=1 seek=100M conv=notrunc status=none
ln "$S/tree/sub/hello" "$S/tree/hardlink"
ln "$S/tree/sub/hello" "$S/tree/sub/deep/hardlink2"
ln -s sub/hello "$S/tree/rel-link"
ln -s /etc/hostname "$S/tree/abs-link"
mkfifo "$S/tree/fifo"
printf 'mine\n' >"$S/tree/owned"; chown 1001:1001 "$S/tree/owned"
printf 'secret\n' >"$S/tree/private"; chmod 600 "$S/tree/private"
touch -d '2001-02-03 04:05:06.789' "$S/tree/private"
setfattr -n user.color -v blue "$S/tree/random"
setfattr -n user.empty "$S/tree/sub/hello" 2>/dev/null
bsync
cp -a "$S/tree" "$T/copy"	# the model, taken at the snapshot

name=$("$BACKUPFS" snapshot "$S")
ok $? "backupfs snapshot succeeds"
[[ $name =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{6}Z$ ]]
ok $? "and prints only the new name, YYYY-MM-DDTHHMMSSZ ($name)"
"$BACKUPFS" snapshots "$S" | grep -q "^$name "
ok $? "snapshots lists it"
"$BACKUPFS" snapshots --json "$S" | python3 -c '
import json, sys
a = json.load(sys.stdin)
s = [x for x in a if x["name"] == sys.argv[1]][0]
# random, hello (3 names, 1 inode), empty, sparse, owned, private
assert s["files"] == 6 and s["bytes"] > 200000000 and s["kind"] == "manual", s' "$name"
ok $? "snapshots --json has its time, files and size"
is "$("$BACKUPFS" snapshot --name before-change --pin "$S")" before-change "a named, pinned snapshot"
fails_with "exists already" "a second snapshot of the same name is refused" \
	"$BACKUPFS" snapshot --name before-change "$S"
fails_with "not valid" "a name with a slash is refused" \
	"$BACKUPFS" snapshot --name a/b "$S"

# --- exactly as it was -------------------------------------------------------
printf 'changed\n' >"$S/tree/sub/hello"
rm "$S/tree/random"; chmod 644 "$S/tree/private"; setfattr -x user.color "$S/tree/empty" 2>/dev/null
bsync
snap=$S/tree/.snapshots/$name
"$CMP" -t -x -i "$T/copy" "$snap"
ok $? "the snapshot equals the tree as it was: content, modes, owners, mtimes (directories too), xattrs, hard links"
a=$(stat -c %i "$snap/hardlink"); b=$(stat -c %i "$snap/sub/deep/hardlink2")
is "$a" "$b" "hard links share one inode number within a snapshot"
is "$(readlink "$snap/rel-link")" sub/hello "a relative symlink's target"
is "$(getfattr --only-values -n user.color "$snap/random" 2>/dev/null)" blue "an xattr"
[ -p "$snap/fifo" ]; ok $? "a fifo is a fifo"
is "$(stat -c %s "$snap/sparse")" 209715200 "the sparse file's size"
cp --sparse=always "$snap/sparse" "$T/sparse-out"
[ "$(du -k "$T/sparse-out" | cut -f1)" -lt 1024 ] && cmp -s "$T/sparse-out" "$T/copy/sparse"
ok $? "cp --sparse=always of the 200 MB sparse file stays sparse and equal"
[ ! -s "$snap/empty" ] && [ -f "$snap/empty" ]; ok $? "an empty file"

# --- hidden, and visible ---------------------------------------------------
! ls -a "$S/tree" | grep -q '^\.snapshots$'
ok $? ".snapshots is not listed by default"
! find "$S" -name random -path '*snapshots*' | grep -q .
ok $? "so find does not descend into history"
[ -d "$S/tree/sub/.snapshots/$name/deep" ]
ok $? "every directory has .snapshots (sub/.snapshots/NAME shows sub)"

# --- read-only -----------------------------------------------------------------
ro=0
for cmd in "touch $snap/new" "mkdir $snap/d" "rm $snap/empty" "rmdir $snap/sub/deep" \
	"mv $snap/empty $snap/e2" "chmod 777 $snap/empty" "chown 1:1 $snap/empty" \
	"ln $snap/empty $snap/l" "ln -s x $snap/s" "truncate -s 0 $snap/sub/hello" \
	"setfattr -n user.x -v y $snap/random" "setfattr -x user.color $snap/random" \
	"touch -d 2000-01-01 $snap/empty" "mkfifo $snap/f2" "mv $S/tree/owned $snap/" \
	"rm -rf $S/tree/.snapshots" "mkdir $S/tree/sub/.snapshots/x"; do
	out=$(sh -c "$cmd" 2>&1) && { echo "# '$cmd' succeeded"; ro=1; continue; }
	case $out in *"Read-only file system"*|*"File exists"*) ;;
		*) echo "# '$cmd': $out"; ro=1 ;; esac
done
ok $ro "every mutation under .snapshots fails with EROFS"
sh -c "echo x >>'$snap/sub/hello'" 2>&1 | grep -q "Read-only file system"
ok $? "writing to a file in a snapshot: EROFS"

# --- @TIME -----------------------------------------------------------------------
t=$("$BACKUPFS" log --json "$S/tree/sub/hello" | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["t_ns"])')
is "$(cat "$S/tree/.snapshots/@$(iso "$t")/sub/hello")" changed "@TIME at a version's instant shows that version"
is "$(cat "$S/tree/.snapshots/@$(iso $((t - 1)))/sub/hello")" hello "@TIME one ns before shows the previous one"
is "$(cat "$S/tree/.snapshots/@$(date -u -d "@$((t / 1000000000 + 1))" +%Y-%m-%dT%H:%M:%S+00:00)/sub/hello")" changed \
	"@TIME with a zone"
[ ! -e "$S/tree/.snapshots/@garbage" ]; ok $? "a malformed @TIME is ENOENT"
[ ! -e "$S/tree/.snapshots/@1999-01-01T00:00:00Z" ]; ok $? "a @TIME before the history is ENOENT"
[ ! -e "$S/tree/.snapshots/$name/random-never" ]; ok $? "a name that did not exist then is ENOENT"
[ ! -e "$S/tree/.snapshots/no-such-snapshot" ]; ok $? "an unknown snapshot name is ENOENT"

# --- rename history, rm -rf and cp -a back --------------------------------------
printf 'v1\n' >"$S/tree/doc"; bsync
before=$("$BACKUPFS" snapshot "$S")
mv "$S/tree/doc" "$S/tree/doc-renamed"; printf 'v2\n' >>"$S/tree/doc-renamed"; bsync
is "$(cat "$S/tree/.snapshots/$before/doc")" v1 "a renamed-then-modified file shows under its old name in the old snapshot"
[ ! -e "$S/tree/.snapshots/$before/doc-renamed" ]; ok $? "and not under its new name"
cp -a "$S/tree" "$T/model2"
mid=$("$BACKUPFS" snapshot --name mid "$S")
rm -rf "$S/tree"
[ ! -e "$S/tree" ]; ok $? "rm -rf of the tree"
cp -a "$S/.snapshots/$mid/tree" "$S/tree"
"$CMP" -t -x -i "$T/model2" "$S/tree"
ok $? "cp -a back from the snapshot gives the identical tree"

# --- crash-consistent cut under a writer -----------------------------------------
python3 - "$S/stamp" <<'PY' &
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
end = time.time() + 3
seq = 0
while time.time() < end:
    seq += 1
    os.pwrite(fd, (b"%08d" % seq).ljust(4096, b".") * 32, 0)
os.close(fd)
PY
wpid=$!
for _ in $(seq 1 100); do [ "$(stat -c %s "$S/stamp" 2>/dev/null)" = 131072 ] && break; sleep 0.05; done
names=()
for _ in 1 2 3 4 5; do names+=("$("$BACKUPFS" snapshot "$S")"); sleep 0.3; done
wait $wpid
bad=0
for n in "${names[@]}"; do
	python3 -c '
import sys
d = open(sys.argv[1], "rb").read()
sys.exit(0 if len(d) == 131072 and len({d[i:i+8] for i in range(0, len(d), 4096)}) == 1 else 1)' \
		"$S/.snapshots/$n/stamp" || { bad=$((bad + 1)); echo "# $n/stamp is torn"; }
done
is "$bad" 0 "5 snapshots taken while a writer rewrote a file: each shows one whole state"

# --- a deep tree of 10,000 files ------------------------------------------------
mkdir -p "$S/many"
for d in $(seq 1 20); do
	mkdir -p "$S/many/d$d/e"
	for f in $(seq 1 500); do echo "$d/$f"; done | while read -r x; do : >"$S/many/d${x%/*}/e/f${x#*/}"; done
done
bsync
big=$("$BACKUPFS" snapshot "$S")
n=$(find "$S/many/.snapshots/$big" -type f | wc -l)
is "$n" 10000 "a snapshot of 10,000 files lists them all"
is "$(cat "$S/many/.snapshots/$big/d7/e/f123")" "" "and a file deep in it reads"

bfs_umount "$S"
# snapdir=visible
bfs_mount -o snapdir=visible "$S" || exit 1
ls -a "$S" | grep -q '^\.snapshots$'; ok $? "-o snapdir=visible lists .snapshots"
ls "$S/.snapshots" | grep -q "^$name$"; ok $? "the snapshots survive a remount"
bfs_umount "$S"
