#!/bin/bash
# key.sh - "backupfs key": key slots are added, listed, removed and
# replaced without touching the backups; the right passwords open the
# repository afterwards and the wrong ones fail with one clear line; the
# last usable slot cannot be removed.  No mount is needed.
. "$(dirname "$0")/lib.sh"
setup
S=$T/src
export BACKUPFS_STATE_ROOT=$T/state BACKUPFS_INSECURE_FAST_KDF=1
unset BACKUPFS_PASSWORD BACKUPFS_NEW_PASSWORD
mkdir -p "$S"
echo "some data" >"$S/file"
for p in one two three four five six; do echo "pw-$p" >"$T/$p"; done

# fails_1line PATTERN DESCRIPTION CMD...: non-zero exit, and the output is
# exactly one line, matching PATTERN.
fails_1line() {
	local pat=$1 desc=$2; shift 2
	local out st
	out=$("$@" 2>&1); st=$?
	if [ $st -ne 0 ] && [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] &&
	   printf '%s' "$out" | grep -qE -- "$pat"; then
		ok 0 "$desc"
	else
		ok 1 "$desc"
		echo "#   exit $st, output: $out"
	fi
}
bfs() { "$BACKUPFS" "$@"; }
# opened PWNAME: the slot id that password opens ('*' in key list), or "".
opened() { bfs key list --password-file "$T/$1" "$S" 2>/dev/null | awk '$1 == "*" { print $2 }'; }
nslots() { find "$repo/keys" -type f | wc -l; }
# Everything in the repository but the key slots: must never change.
others() { (cd "$repo" && find . -path ./keys -prune -o -type f -print0 | sort -z | xargs -0 sha256sum); }

bfs init --password-file "$T/one" "$S" >/dev/null 2>&1
ok $? "init a source with password one"
state=$(awk -F'\t' -v s="$S" '$1 == s {print $2}' "$T/state/registry")
repo=$(sed 's|^file://||' "$state/repo")
before=$(others)

# list
out=$(bfs key list --password-file "$T/one" "$S" 2>&1)
ok $? "key list with the password works" || echo "$out" | sed 's/^/#   /'
slot1=$(opened one)
[ -n "$slot1" ] && [ -f "$repo/keys/$slot1" ] && [ "$(nslots)" -eq 1 ]
ok $? "it marks the one slot there is ($slot1) as the one the password opens"
fails_1line "wrong password for repository '[^']*$repo'" \
	"key list with a wrong password: one line naming the repository" \
	bfs key list --password-file "$T/two" "$S"

# add
slot2=$(bfs key add --password-file "$T/one" --new-password-file "$T/two" "$S")
ok $? "key add a second password"
printf '%s' "$slot2" | grep -qxE '[0-9a-f]{16}' && [ -f "$repo/keys/$slot2" ] &&
	[ "$slot2" != "$slot1" ] && [ "$(nslots)" -eq 2 ]
ok $? "it prints the new slot's id ($slot2) and the slot is there"
is "$(opened one)" "$slot1" "the old password still opens its slot"
is "$(opened two)" "$slot2" "the new password opens the new slot"
[ "$(bfs key list --password-file "$T/two" "$S" | grep -cE '^[* ] [0-9a-f]{16} ')" -eq 2 ]
ok $? "key list shows both slots"

fails_1line "wrong password for repository '[^']*$repo'" \
	"key add with a wrong current password: one clear line" \
	bfs key add --password-file "$T/three" --new-password-file "$T/four" "$S"
is "$(nslots)" 2 "and no slot was added"
fails_1line "new password .* is the current one" \
	"key add with the current password as the new one is refused" \
	bfs key add --password-file "$T/one" --new-password-file "$T/one" "$S"
is "$(nslots)" 2 "and no slot was added"
fails_1line "no new password for .*BACKUPFS_NEW_PASSWORD.*--new-password-file" \
	"key add without a new password (and no terminal) says where to give one" \
	env BACKUPFS_PASSWORD=pw-one setsid "$BACKUPFS" key add "$S" </dev/null
is "$(nslots)" 2 "and no slot was added"
slot=$(BACKUPFS_PASSWORD=pw-two BACKUPFS_NEW_PASSWORD=pw-six bfs key add "$S")
ok $? "the passwords can come from BACKUPFS_PASSWORD and BACKUPFS_NEW_PASSWORD"
is "$(opened six)" "$slot" "and the new one opens the repository"
bfs key remove --password-file "$T/six" "$S" "$slot" >/dev/null 2>&1 &&
	[ "$(nslots)" -eq 2 ] && [ -z "$(opened six)" ]
ok $? "(that slot removed again)"

# remove
fails_1line "no key slot 'ffffffffffffffff' in repository '[^']*$repo'" \
	"key remove of an unknown slot id: one clear line" \
	bfs key remove --password-file "$T/one" "$S" ffffffffffffffff
fails_1line "'\.\./config' is not a key slot id" \
	"key remove of something that is not a slot id is refused" \
	bfs key remove --password-file "$T/one" "$S" ../config
[ -f "$repo/config" ] && [ "$(nslots)" -eq 2 ]
ok $? "and nothing was removed"
out=$(bfs key remove --password-file "$T/two" "$S" "$slot1" 2>&1)
ok $? "key remove of the first slot (with the second password)" ||
	echo "$out" | sed 's/^/#   /'
[ ! -e "$repo/keys/$slot1" ] && [ "$(nslots)" -eq 1 ]
ok $? "the slot is gone"
fails_1line "wrong password for repository '[^']*$repo'" \
	"the first password no longer opens the repository: one clear line" \
	bfs key list --password-file "$T/one" "$S"
is "$(opened two)" "$slot2" "the second password still does"
fails_1line "'$slot2' is the last usable key slot of repository '[^']*$repo'.*key add" \
	"removing the last slot is refused" \
	bfs key remove --password-file "$T/two" "$S" "$slot2"
[ -f "$repo/keys/$slot2" ] && [ "$(opened two)" = "$slot2" ]
ok $? "and the slot is still there and opens"

# A malformed slot is no slot to fall back on.
head -c 112 /dev/zero >"$repo/keys/0000000000000000"
fails_1line "'$slot2' is the last usable key slot" \
	"a malformed slot does not count as another slot" \
	bfs key remove --password-file "$T/two" "$S" "$slot2"
bfs key list --password-file "$T/two" "$S" | grep -qE '^  0000000000000000 +malformed'
ok $? "key list shows the malformed slot as such"
bfs key remove --password-file "$T/two" "$S" 0000000000000000 >/dev/null &&
	[ ! -e "$repo/keys/0000000000000000" ] && [ "$(opened two)" = "$slot2" ]
ok $? "and it can be removed"

# Removing the slot one unlocked with: allowed while another remains.
slot3=$(bfs key add --password-file "$T/two" --new-password-file "$T/three" "$S")
ok $? "key add a third password"
out=$(bfs key remove --password-file "$T/two" "$S" "$slot2" 2>&1)
st=$?
[ $st -eq 0 ] && printf '%s' "$out" | grep -q "this password no longer opens"
ok $? "removing the slot the password opened works, and says so" ||
	echo "#   exit $st: $out"
fails_1line "wrong password for repository" "that password fails now" \
	bfs key list --password-file "$T/two" "$S"
[ -n "$slot3" ] && [ "$(opened three)" = "$slot3" ]
ok $? "the third password works"

# passwd
out=$(bfs key passwd --password-file "$T/three" --new-password-file "$T/four" "$S" 2>&1)
ok $? "key passwd from three to four" || echo "$out" | sed 's/^/#   /'
slot4=$(opened four)
[ -n "$slot4" ] && [ "$slot4" != "$slot3" ] && [ ! -e "$repo/keys/$slot3" ] &&
	[ "$(nslots)" -eq 1 ]
ok $? "the new password has a new slot, the old slot is gone"
fails_1line "wrong password for repository '[^']*$repo'" \
	"the old password fails after passwd: one clear line" \
	bfs key list --password-file "$T/three" "$S"
fails_1line "wrong password for repository '[^']*$repo'" \
	"passwd with a wrong password: one clear line" \
	bfs key passwd --password-file "$T/three" --new-password-file "$T/five" "$S"
[ "$(nslots)" -eq 1 ] && [ "$(opened four)" = "$slot4" ]
ok $? "and nothing changed"
slot5=$(bfs key add --password-file "$T/four" --new-password-file "$T/five" "$S")
bfs key passwd --password-file "$T/four" --new-password-file "$T/six" --state "$state" \
	"$S" >/dev/null 2>&1
ok $? "key passwd with --state"
[ "$(opened five)" = "$slot5" ] && [ -n "$(opened six)" ] && [ -z "$(opened four)" ] &&
	[ "$(nslots)" -eq 2 ]
ok $? "passwd replaces only the slot the old password opened"

[ -n "$before" ] && [ "$(others)" = "$before" ]
ok $? "config, packs and indexes were never touched"

# Finding the repository, usage.
mkdir -p "$T/other"
fails_1line "'$T/other' is not initialised.*backupfs init.*--state" \
	"key on a source that was never initialised: one clear line" \
	bfs key list --password-file "$T/six" "$T/other"
bfs key list --state "$state" --password-file "$T/six" "$T/gone" >/dev/null 2>&1
ok $? "with --state, SOURCE need not exist"
fails_1line "cannot read the repository URL from '$T/other/repo'" \
	"--state naming no state directory: one clear line" \
	bfs key list --state "$T/other" --password-file "$T/six" "$S"
bfs key >/dev/null 2>&1; is $? 2 "key without a command: usage, exit 2"
fails_with "unknown key command 'frob'" "an unknown key command" bfs key frob "$S"
bfs key frob "$S" >/dev/null 2>&1; is $? 2 "exits 2"
bfs key remove --password-file "$T/six" "$S" >/dev/null 2>&1
is $? 2 "key remove without SLOT-ID: usage, exit 2"
bfs key list --new-password-file "$T/one" "$S" >/dev/null 2>&1
is $? 2 "key list takes no --new-password-file: exit 2"
bfs key --help | grep -q "key passwd"
ok $? "key --help lists the commands"
bfs key add --help | grep -q -- "--new-password-file"
ok $? "key add --help lists its options"
bfs key remove --help | grep -q "last usable"
ok $? "key remove --help says what it refuses"
