#!/bin/bash
# fsx.sh - the random-operation exerciser (tests/tools/fsx): the same random
# sequence of write/truncate/fallocate/punch/mmap/append/reopen operations on
# a file in the mount and on a reference file on plain disk, compared after
# every step.  Several seeds, with and without the writeback cache.
. "$(dirname "$0")/lib.sh"
setup
FSX=$TOOLS/fsx
[ -x "$FSX" ] || skip_all "no $FSX (make check builds it)"
: "${FSX_OPS:=4000}"

S=$T/src; M=$T/mnt; R=$T/ref
mkdir -p "$S" "$M" "$R"
for opts in "" "-o writeback"; do
	# shellcheck disable=SC2086
	bfs_mount $opts "$S" "$M" || exit 1
	for seed in 1 2 3; do
		out=$("$FSX" -N "$FSX_OPS" -S "$seed" -l 2097152 -o 131072 \
			"$M/fsx$seed" "$R/fsx$seed" 2>&1)
		ok $? "fsx seed $seed, $FSX_OPS ops ${opts:-(default)}" ||
			printf '%s\n' "$out" | tail -25 | sed 's/^/#   /'
		rm -f "$M/fsx$seed" "$R/fsx$seed"
	done
	bfs_umount "$M"
done
