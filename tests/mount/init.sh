#!/bin/bash
# init.sh - "backupfs init" as a user runs it: state and repository are
# created outside SOURCE, SOURCE's content is imported (deduplicated,
# encrypted: no plaintext in the repository), and every mistake gets one
# clear line, a non-zero exit and nothing left behind.
. "$(dirname "$0")/lib.sh"
setup
S=$T/src
export BACKUPFS_STATE_ROOT=$T/state BACKUPFS_INSECURE_FAST_KDF=1
unset BACKUPFS_PASSWORD
mkdir -p "$S/sub/deep"
head -c 3000000 /dev/urandom >"$S/random"
cp "$S/random" "$S/sub/random-copy"
for i in $(seq 1 200); do echo "PLAINTEXT-MARKER-$i some words" >>"$S/text"; done
ln "$S/text" "$S/sub/hardlink"
ln -s ../random "$S/sub/symlink"
: >"$S/empty"
echo deep >"$S/sub/deep/file"

# No password: a clear line, nothing created.
fails_with "no password for .*BACKUPFS_PASSWORD.*--password-file" \
	"init without a password says where to give one" \
	setsid "$BACKUPFS" init "$S" </dev/null
[ ! -e "$T/state/registry" ] && [ -z "$(ls -A "$T/state" 2>/dev/null)" ]
ok $? "and leaves nothing behind"

echo "pw-from-file" >"$T/pwfile"
out=$("$BACKUPFS" init --password-file "$T/pwfile" "$S" 2>&1)
ok $? "init imports the source" || echo "$out" | sed 's/^/#   /'
echo "$out" | grep -q "imported:   5 files" ; ok $? "it reports what it imported"
echo "$out" | grep -q "^hint: .*another disk"; ok $? "it hints to move the repository"
state=$(awk -F'\t' -v s="$S" '$1 == s {print $2}' "$T/state/registry")
[ -d "$state" ] && [ -f "$state/meta.db" ]
ok $? "the state directory is registered for the source"
repo=$(sed 's|^file://||' "$state/repo")
for o in config keys data index; do [ -e "$repo/$o" ] || echo "# missing $o"; done
[ -f "$repo/config" ] && ls "$repo"/keys/* >/dev/null && ls "$repo"/data/*/* >/dev/null &&
	ls "$repo"/index/* >/dev/null
ok $? "the repository has config, a key slot, packs and indexes"
! grep -rqa "PLAINTEXT-MARKER" "$repo" "$state/staging"
ok $? "no plaintext of the files is in the repository"
! grep -rqa "pw-from-file" "$repo" "$state"
ok $? "nor the password"
size=$(du -sb "$repo" | cut -f1)
[ "$size" -lt 4000000 ]
ok $? "duplicate data is stored once ($size bytes for 6 MB of random data twice)"
case "$state/" in "$S"/*) false ;; *) case "$repo/" in "$S"/*) false ;; esac ;; esac
ok $? "state and repository are outside the source"
[ -z "$(find "$S" -newer "$T/pwfile" ! -type d)" ]
ok $? "nothing in the source was changed"

fails_with "already initialised .*backupfs mount" "a second init of the same source is refused" \
	env BACKUPFS_PASSWORD=x "$BACKUPFS" init "$S"
fails_with "does not exist" "init of a missing directory" \
	env BACKUPFS_PASSWORD=x "$BACKUPFS" init "$T/nope"
mkdir -p "$T/other"
fails_with "is inside the source" "a state directory inside the source is refused" \
	env BACKUPFS_PASSWORD=x "$BACKUPFS" init --state "$T/other/st" "$T/other"
fails_with "a repository already exists at" "init into an existing repository is refused" \
	env BACKUPFS_PASSWORD=x "$BACKUPFS" init --repo "file://$repo" "$T/other"
[ -z "$(ls -A "$T/state" | grep -v -e registry -e repos -e "$(basename "$state")")" ]
ok $? "the refused init removed the state it had started"
fails_with "storage class 'glacier' is not valid" "a malformed storage class" \
	env BACKUPFS_PASSWORD=x "$BACKUPFS" init --storage-class glacier "$T/other"
"$BACKUPFS" init --help | grep -q -- "--password-file"
ok $? "init --help lists the options"
fails_with "zstd level '25' is not valid" "an out-of-range zstd level is refused" \
	env BACKUPFS_PASSWORD=x "$BACKUPFS" init --zstd-level 25 "$T/other"
mkdir -p "$T/z1" "$T/z19"
cat /usr/share/common-licenses/* >"$T/z1/t"	# ~300 KB of real text
cp "$T/z1/t" "$T/z19/t"
env BACKUPFS_PASSWORD=x "$BACKUPFS" init --zstd-level 1 "$T/z1" >/dev/null 2>&1 &&
	env BACKUPFS_PASSWORD=x "$BACKUPFS" init --zstd-level 19 "$T/z19" >/dev/null 2>&1
ok $? "init with a zstd level"
r1=$(sed 's|^file://||' "$(awk -F'\t' -v s="$T/z1" '$1 == s {print $2}' "$T/state/registry")/repo")
r19=$(sed 's|^file://||' "$(awk -F'\t' -v s="$T/z19" '$1 == s {print $2}' "$T/state/registry")/repo")
packsize() { find "$1/data" -type f -printf '%s\n' | awk '{s += $1} END {print s}'; }
[ "$(packsize "$r19")" -lt "$(packsize "$r1")" ]
ok $? "level 19 packs are smaller than level 1 packs (the level is used)"
