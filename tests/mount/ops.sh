#!/bin/bash
# ops.sh - every operation passes through the mount correctly, checked with
# the tools a user has (coreutils, util-linux, xfs_io, attr, acl) and, where
# it helps, against the same operation on the real directory beneath.
. "$(dirname "$0")/lib.sh"
setup
command -v xfs_io >/dev/null || skip_all "needs xfs_io (apt-get install xfsprogs)"
command -v setfattr >/dev/null || skip_all "needs setfattr (apt-get install attr)"

S=$T/src; M=$T/mnt
mkdir -p "$S" "$M"
bfs_mount "$S" "$M" || exit 1

# --- create, read, write, getattr ---------------------------------------------
echo hello >"$M/a"
is "$(cat "$M/a")" hello "create + write + read"
is "$(cat "$S/a")" hello "the data is in the real file"
is "$(stat -c %s "$M/a")" 6 "getattr size"
is "$(stat -c %i "$M/a")" "$(stat -c %i "$S/a")" "inode numbers are the real ones"
printf 'xy' | dd of="$M/a" bs=1 seek=1 conv=notrunc status=none
is "$(cat "$M/a")" hxylo "overwrite in the middle"

# --- setattr ---------------------------------------------------------------------
chmod 640 "$M/a"
is "$(stat -c %a "$M/a")" 640 "chmod"
chmod 4755 "$M/a"
is "$(stat -c %a "$S/a")" 4755 "chmod sets the set-uid bit on the real file"
chown 1234:5678 "$M/a"
is "$(stat -c %u:%g "$M/a")" 1234:5678 "chown"
is "$(stat -c %u:%g "$S/a")" 1234:5678 "chown reaches the real file"
chown 0:0 "$M/a"
truncate -s 3 "$M/a"
is "$(cat "$M/a")" hxy "truncate shrinks"
truncate -s 10 "$M/a"
is "$(stat -c %s "$M/a")" 10 "truncate grows"
is "$(od -An -tx1 -j3 -N7 "$M/a" | tr -d ' ')" 00000000000000 "grown part reads zeros"
touch -d '2001-02-03 04:05:06.123456789 UTC' "$M/a"
is "$(stat -c '%X %Y' "$M/a")" "981173106 981173106" "utimens with explicit times"
is "$(stat -c %y "$S/a")" "$(stat -c %y "$M/a")" \
	"explicit times reach the real file to the nanosecond"
touch -m "$M/a"	# UTIME_NOW for mtime, UTIME_OMIT for atime
is "$(stat -c %X "$M/a")" 981173106 "UTIME_OMIT leaves atime alone"
[ "$(stat -c %Y "$M/a")" -ge "$(($(date +%s) - 5))" ]
ok $? "UTIME_NOW sets mtime to now"
touch -a -d '2002-01-01 UTC' "$M/a"
is "$(stat -c %X "$M/a")" 1009843200 "atime alone"

# --- nodes ---------------------------------------------------------------------------
mkfifo "$M/fifo"
is "$(stat -c %F "$M/fifo")" fifo "mkfifo"
mknod "$M/chr" c 1 3
is "$(stat -c '%F %t:%T' "$M/chr")" "character special file 1:3" "mknod char device (root)"
mknod "$M/blk" b 7 200
is "$(stat -c '%F %t:%T' "$S/blk")" "block special file 7:c8" "mknod block device"
echo x >"$M/chr"
ok $? "writing to /dev/null's twin works (dev mount option)"
mkdir "$M/d"
is "$(stat -c %F "$M/d")" directory "mkdir"
mkdir -m 700 "$M/d700"
is "$(stat -c %a "$M/d700")" 700 "mkdir honours the mode"
rmdir "$M/d700"
[ ! -e "$M/d700" ] && [ ! -e "$S/d700" ]
ok $? "rmdir"
mkdir "$M/full"; touch "$M/full/x"
fails_with "not empty" "rmdir of a non-empty directory fails" rmdir "$M/full"
ln -s ../a "$M/d/sym"
is "$(readlink "$M/d/sym")" ../a "symlink + readlink"
is "$(cat "$M/d/sym")" hxy "following a symlink"
long=$(printf 'x%.0s' $(seq 1 2000))
ln -s "$long" "$M/longsym"
is "$(readlink "$M/longsym")" "$long" "a 2000-byte symlink target"
rm "$M/fifo" "$M/chr" "$M/blk" "$M/longsym"
[ ! -e "$S/fifo" ]
ok $? "unlink"

# --- links and renames -----------------------------------------------------------
echo data >"$M/f"
ln "$M/f" "$M/d/f2"
is "$(stat -c '%h %i' "$M/f")" "2 $(stat -c %i "$M/d/f2")" "hard link: nlink 2, one inode number"
is "$(stat -c %h "$M/d/f2")" 2 "both names show nlink 2 at once"
rm "$M/f"
is "$(stat -c %h "$M/d/f2")" 1 "unlink of one name: the other shows nlink 1 at once"
mv "$M/d/f2" "$M/g"
[ -f "$M/g" ] && [ ! -e "$M/d/f2" ] && [ -f "$S/g" ]
ok $? "rename across directories"
echo other >"$M/h"
mv -f "$M/g" "$M/h"
is "$(cat "$M/h")" data "rename over an existing file replaces it"
mkdir -p "$M/tree/a/b"; echo deep >"$M/tree/a/b/c"
mv "$M/tree" "$M/d/tree2"
is "$(cat "$M/d/tree2/a/b/c")" deep "rename of a directory tree"
echo keep >"$M/k"
if mv --help | grep -q -- '--no-clobber'; then
	mv -n "$M/h" "$M/k" 2>/dev/null
	is "$(cat "$M/k")" keep "mv -n (RENAME_NOREPLACE) keeps the target"
fi

# --- big, sparse, odd writes -------------------------------------------------------
dd if=/dev/urandom of="$T/chunk" bs=1M count=2 status=none
dd if="$T/chunk" of="$M/big" bs=1M seek=5120 status=none
is "$(stat -c %s "$M/big")" $((5122 * 1024 * 1024)) "a file over 4 GiB (5 GiB + 2 MiB)"
is "$(dd if="$M/big" bs=1M skip=5120 status=none | md5sum)" "$(md5sum <"$T/chunk")" \
	"data past 4 GiB reads back"
[ "$(stat -c %b "$M/big")" -lt 10000 ]
ok $? "the big file is sparse (st_blocks $(stat -c %b "$M/big"))"
is "$(xfs_io -c 'seek -d 0' "$M/big" | awk 'NR==2{print $2}')" $((5120 * 1024 * 1024)) \
	"SEEK_DATA finds the data at 5 GiB"
is "$(xfs_io -c 'seek -h 0' "$M/big" | awk 'NR==2{print $2}')" 0 "SEEK_HOLE finds the hole at 0"
cp --sparse=always "$M/big" "$T/big.copy"
[ "$(stat -c %b "$T/big.copy")" -lt 10000 ]
ok $? "cp --sparse=always out of the mount stays sparse"
rm -f "$M/big" "$T/big.copy"

fallocate -l 1M "$M/falloc"
is "$(stat -c %s "$M/falloc")" 1048576 "fallocate allocates"
[ "$(stat -c %b "$S/falloc")" -ge 2048 ]
ok $? "and the real file has the blocks"
fallocate -n -o 1M -l 1M "$M/falloc"
is "$(stat -c %s "$M/falloc")" 1048576 "fallocate --keep-size keeps the size"
dd if=/dev/urandom of="$M/punch" bs=64k count=4 status=none
fallocate -p -o 65536 -l 65536 "$M/punch"
is "$(dd if="$M/punch" bs=64k skip=1 count=1 status=none | tr -d '\0' | wc -c)" 0 \
	"punch hole zeroes the range"
is "$(stat -c %s "$M/punch")" 262144 "punch hole keeps the size"

dd if=/dev/urandom of="$M/cfr-src" bs=64k count=3 status=none
xfs_io -f -c "copy_range -s 65536 -d 0 -l 131072 $M/cfr-src" "$M/cfr-dst"
is "$(md5sum <"$M/cfr-dst")" "$(dd if="$M/cfr-src" bs=64k skip=1 status=none | md5sum)" \
	"copy_file_range copies the range"

dd if=/dev/urandom of="$T/ref" bs=4k count=64 status=none
dd if="$T/ref" of="$M/direct" bs=4k oflag=direct status=none
ok $? "O_DIRECT write"
is "$(dd if="$M/direct" bs=4k iflag=direct status=none | md5sum)" "$(md5sum <"$T/ref")" \
	"O_DIRECT read returns what was written"

dd if=/dev/zero of="$M/mmap" bs=64k count=1 status=none
xfs_io -c "mmap -w 0 65536" -c "mwrite -S 0x61 4096 8192" -c "msync -s 0 65536" "$M/mmap"
is "$(dd if="$S/mmap" bs=4096 skip=1 count=2 status=none | tr -d a | wc -c)" 0 \
	"shared writable mmap reaches the real file after msync"
is "$(od -An -tx1 -N1 -j12288 "$M/mmap" | tr -d ' ')" 00 "and only the mapped range changed"

# O_APPEND is atomic: 4 writers append 300 records of 64 bytes each.
writers=()
for w in 1 2 3 4; do
	(for i in $(seq 1 300); do
		printf '%-63s\n' "writer $w record $i" | dd of="$M/append" oflag=append conv=notrunc bs=64 status=none
	done) &
	writers+=($!)
done
wait "${writers[@]}"
is "$(stat -c %s "$M/append")" $((4 * 300 * 64)) "O_APPEND: no record lost"
is "$(grep -c '^writer [1-4] record [0-9]* *$' "$M/append")" 1200 "O_APPEND: every record intact"

# --- fsync, directories, statfs --------------------------------------------------------
xfs_io -c "pwrite 0 4096" -c fsync -c fdatasync "$M/a" >/dev/null
ok $? "fsync and fdatasync"
sync "$M/d"
ok $? "fsync of a directory"
mkdir "$M/many"
(cd "$M/many" && seq 1 1500 | xargs touch)
is "$(ls "$M/many" | wc -l)" 1500 "readdir returns all 1500 entries (several replies)"
is "$(ls -U "$M/many" | sort | md5sum)" "$(ls -U "$S/many" | sort | md5sum)" \
	"the listing equals the real directory's"
is "$(find "$M/many" -type f | wc -l)" 1500 "find sees them as files (d_type)"
is "$(stat -f -c '%b %S' "$M")" "$(stat -f -c '%b %S' "$S")" "statfs reports the real filesystem"

# --- xattrs and ACLs --------------------------------------------------------------
setfattr -n user.colour -v blue "$M/a"
is "$(getfattr --only-values -n user.colour "$M/a")" blue "user xattr set and get"
is "$(getfattr --only-values -n user.colour "$S/a")" blue "the xattr is on the real file"
setfattr -n trusted.t -v 1 "$M/a" && setfattr -n security.s -v 2 "$M/a"
is "$(getfattr -d -m - "$M/a" | grep -c '^[a-z]')" 3 "trusted. and security. xattrs, listed"
setfattr -x user.colour "$M/a"
fails_with "No such attribute" "removexattr, then get fails with ENODATA" \
	getfattr -n user.colour "$M/a"
# ext4 keeps xattrs in one block: 3000 bytes fit, as on the real disk.
head -c 3000 /dev/urandom | base64 -w0 | head -c 3000 >"$T/bigval"
setfattr -n user.big -v "$(cat "$T/bigval")" "$M/a"
is "$(getfattr --only-values -n user.big "$M/a" | md5sum)" "$(md5sum <"$T/bigval")" "a 3000-byte xattr value"
if command -v setfacl >/dev/null; then
	setfacl -m u:1234:rw "$M/a"
	is "$(getfacl -cp "$S/a" | grep '^user:1234')" "user:1234:rw-" "POSIX ACL reaches the real file"
	setfacl -d -m u:1234:rx "$M/d"
	touch "$M/d/inherit"
	getfacl -cp "$M/d/inherit" | grep -q '^user:1234:r-x'
	ok $? "a default ACL is inherited by a new file"
fi

# --- locks --------------------------------------------------------------------------
touch "$M/lock"
flock "$M/lock" sleep 2 &
holder=$!
sleep 0.5
! flock -n "$M/lock" true
ok $? "flock: a second exclusive lock is refused while held"
wait $holder
flock -n "$M/lock" true
ok $? "flock: free again after release"
