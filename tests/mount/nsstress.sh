#!/bin/bash
# nsstress.sh - parallel processes create/rename/link/unlink/mkdir/rmdir/
# symlink in shared directories through the mount; the final tree must equal
# the same run (same seed) on plain disk: names, types, modes, sizes,
# contents, link targets and hard-link grouping.
. "$(dirname "$0")/lib.sh"
setup
NS=$TOOLS/nsstress; CMP=$TOOLS/treecmp
[ -x "$NS" ] && [ -x "$CMP" ] || skip_all "no nsstress/treecmp (make check builds them)"

S=$T/src; M=$T/mnt; R=$T/ref
mkdir -p "$S" "$M" "$R"
bfs_mount "$S" "$M" || exit 1
for seed in 11 12; do
	out=$("$NS" -p 4 -n 3000 -S "$seed" "$M/ns$seed" 2>&1)
	ok $? "nsstress seed $seed: 4 processes x 3000 ops through the mount" ||
		printf '%s\n' "$out" | tail -10 | sed 's/^/#   /'
	"$NS" -p 4 -n 3000 -S "$seed" "$R/ns$seed" >/dev/null 2>&1
	out=$("$CMP" -i -x "$M/ns$seed" "$R/ns$seed" 2>&1)
	ok $? "seed $seed: the tree through the mount equals the plain-disk run" ||
		printf '%s\n' "$out" | head -10 | sed 's/^/#   /'
	out=$("$CMP" -i -x "$S/ns$seed" "$R/ns$seed" 2>&1)
	ok $? "seed $seed: and so does the real tree beneath" ||
		printf '%s\n' "$out" | head -10 | sed 's/^/#   /'
done
