#!/bin/bash
# cli.sh - "backupfs mount/umount" as a user meets them: in place and
# elsewhere, clean unmount by umount and by signals, and one clear line with a
# non-zero exit for every kind of bad input.
. "$(dirname "$0")/lib.sh"
setup

S=$T/src; M=$T/mnt
mkdir -p "$S/sub" "$M"
echo before >"$S/file"

# --- in place -----------------------------------------------------------
bfs_mount "$S"
ok $? "mount over the source itself"
is "$(cat "$S/file")" before "existing content is seen through the mount"
echo after >"$S/file"
is "$(stat -f -c %T "$S")" fuseblk "the path is now served by FUSE" ||
	is "$(stat -f -c %T "$S")" fuse "the path is now served by FUSE"
is "$(mount_field "$S" 1) $(mount_field "$S" 2)" "fuse.backupfs $S" \
	"mountinfo names type fuse.backupfs and the source"

fails_with "already a backupfs mount.*backupfs umount" \
	"mounting the same source again is refused" "$BACKUPFS" mount "$S"
fails_with "already a backupfs mount" \
	"mounting elsewhere from a mounted source is refused" "$BACKUPFS" mount "$S" "$M"

"$BACKUPFS" umount "$S"
ok $? "backupfs umount succeeds"
! kill -0 "$BFS_PID" 2>/dev/null
ok $? "the daemon has exited when umount returns"
! is_mounted "$S"
ok $? "the mount is gone"
is "$(cat "$S/file")" after "the write went through to the real file"

# --- elsewhere ------------------------------------------------------------
bfs_mount "$S" "$M"
ok $? "mount at a separate mountpoint"
is "$(cat "$M/file")" after "the source's content is seen there"
echo new >"$M/sub/new"
kill -TERM "$BFS_PID"
wait "$BFS_PID"
is "$?" 0 "SIGTERM makes the daemon exit 0"
! is_mounted "$M"
ok $? "SIGTERM unmounted"
is "$(cat "$S/sub/new")" new "data written through the mount is in the source"

# A non-interactive shell starts background jobs with SIGINT ignored, and
# libfuse leaves an ignored signal alone: give the daemon the default back.
BACKUPFS_WRAP="env --default-signal=INT" bfs_mount "$S" "$M"
kill -INT "$BFS_PID"; wait "$BFS_PID"
st=$?
! is_mounted "$M" && [ $st -eq 0 ]
ok $? "SIGINT unmounts cleanly too"

# --- daemon mode (no -f) -------------------------------------------------------
"$BACKUPFS" mount "$S" "$M" 2>"$T/bg.err"
ok $? "mount without -f returns once mounted"
_mounts+=("$M")
is_mounted "$M"
ok $? "and the mount is there"
is "$(cat "$M/file")" after "and serves files"
"$BACKUPFS" umount "$M"
ok $? "umount of a detached daemon"
! pgrep -f "backupfs mount $S $M" >/dev/null
ok $? "the detached daemon has exited when umount returns"

# --- bad input ----------------------------------------------------------------
fails_with "source '$T/nope' does not exist" "missing source" \
	"$BACKUPFS" mount "$T/nope"
fails_with "is not a directory" "source is a file" "$BACKUPFS" mount "$S/file"
mkdir -p "$T/full"; touch "$T/full/x"
fails_with "mountpoint '$T/full' is not empty" "non-empty mountpoint" \
	"$BACKUPFS" mount "$S" "$T/full"
fails_with "inside the source" "mountpoint inside the source" \
	"$BACKUPFS" mount "$S" "$S/sub"
fails_with "unknown mount option 'frobnicate'" "unknown -o option" \
	"$BACKUPFS" mount -o frobnicate "$S" "$M"
fails_with "usage: backupfs mount" "no arguments" "$BACKUPFS" mount
fails_with "unknown verb 'frob'" "unknown verb" "$BACKUPFS" frob
fails_with "is not a backupfs mount" "umount of a plain directory" \
	"$BACKUPFS" umount "$T"

# No /dev/fuse: a private mount namespace with an empty /dev.
if unshare -m sh -c "mount -t tmpfs none /dev && \"$BACKUPFS\" mount \"$S\" \"$M\"" >"$T/nofuse.out" 2>&1; then
	ok 1 "missing /dev/fuse is refused"
else
	grep -q "/dev/fuse is missing" "$T/nofuse.out"
	ok $? "missing /dev/fuse gets a clear message"
fi

# No permission: a user who cannot write the mountpoint.
if have_test_user; then
	mkdir -p "$T/rootonly"
	fails_with "no permission to mount on" "user without write access to the mountpoint" \
		as_user "$BACKUPFS" mount "$S" "$T/rootonly"
else
	ok 0 "# SKIP no test user $TEST_USER"
fi

# A stale mount: kill -9 the daemon, the path then fails with ENOTCONN.
bfs_mount "$S" "$M"
kill -9 "$BFS_PID"; wait "$BFS_PID" 2>/dev/null
fails_with "stale mount.*fusermount3 -u $M" "a stale mount is detected and named" \
	"$BACKUPFS" mount "$S" "$M"
"$BACKUPFS" umount "$M" 2>/dev/null
! is_mounted "$M"
ok $? "backupfs umount removes a stale mount"

# --- help and version ---------------------------------------------------------
"$BACKUPFS" --help | grep -q "mount \[-f\]"
ok $? "--help lists the verbs"
"$BACKUPFS" mount --help | grep -q "allow_other"
ok $? "mount --help lists the options"
"$BACKUPFS" --version | grep -qE "^backupfs [0-9]"
ok $? "--version"
