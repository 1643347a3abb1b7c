#!/bin/bash
# posix.sh - POSIX semantics (tests/posix/posixcheck, ~250 checks in the
# manner of pjdfstest): run as root on a plain directory of the same disk
# and on the mount with -o allow_other; every check that passes on the disk
# must pass on the mount.  (Under -o writeback, SEEK_DATA/SEEK_HOLE do not
# see data still dirty in the kernel's page cache: a documented limit of
# that option, so it is not compared here; fsx.sh covers its data path.)
. "$(dirname "$0")/lib.sh"
setup
PC=$top_builddir/tests/posix/posixcheck
CMPSH=$top_srcdir/tests/posix/run-compare.sh
[ -x "$PC" ] || skip_all "no $PC (make check builds it)"

S=$T/src; M=$T/mnt; R=$T/ref
mkdir -p "$S" "$M" "$R"
chmod 755 "$S" "$R"
for opts in allow_other; do
	bfs_mount -o $opts "$S" "$M" || exit 1
	out=$(bash "$CMPSH" "$PC" "$R" "$M" 2>&1)
	ok $? "posixcheck: the mount (-o $opts) passes all that ext4 passes"
	printf '%s\n' "$out" | tail -30 | sed 's/^/# /'
	bfs_umount "$M"
done
