#!/usr/bin/env bash
# run-compare.sh - run posixcheck on a plain local directory and on the
# mount, and report every check that passes on the former but not on the
# latter.
#
#   run-compare.sh POSIXCHECK EXT4DIR MOUNTDIR [extra posixcheck args]
#
# The extra arguments (e.g. -u UID:GID) go to both runs.  Results are
# matched by check description (descriptions are unique), so a check that
# is missing from the mount's output counts as failing there.  A check
# skipped on EXT4DIR is not required on MOUNTDIR.
#
# Output is plain text (the caller wraps it into TAP if it wants):
#   success:  "posix: 249 checks; 249 pass on ext4, 249 on the mount"
#   failure:  one line per regression "  N description  # what happened",
#             then the same summary line.
# Checks that fail on EXT4DIR itself are listed as notes and ignored.
# Exit: 0 no regressions, 1 regressions or a run that did not finish,
# 2 usage.

set -u

if [ $# -lt 3 ]; then
	echo "usage: run-compare.sh POSIXCHECK EXT4DIR MOUNTDIR [posixcheck args]" >&2
	exit 2
fi
pc=$1 ref=$2 mnt=$3
shift 3

tmp=$(mktemp -d "${TMPDIR:-/tmp}/run-compare.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

run() {			# run NAME DIR [args]: output in $tmp/NAME.tap
	local name=$1 dir=$2 rc
	shift 2
	"$pc" "$@" "$dir" >"$tmp/$name.tap" 2>"$tmp/$name.err"
	rc=$?
	if ! grep -Eq '^1\.\.[0-9]+$' "$tmp/$name.tap"; then
		echo "posix: posixcheck on $dir did not finish (exit $rc)"
		tail -n 5 "$tmp/$name.tap" "$tmp/$name.err" | sed 's/^/  /'
		return 1
	fi
	return 0
}

# TAP -> "STATUS<TAB>NUMBER<TAB>DESCRIPTION<TAB>COMMENT", STATUS one of
# pass, fail, skip.
parse() {
	awk '
	/^(not )?ok [0-9]+ - / {
		st = ($1 == "not") ? "fail" : "pass"
		line = $0
		sub(/^(not )?ok /, "", line)
		num = line; sub(/ .*/, "", num)
		sub(/^[0-9]+ - /, "", line)
		comment = ""
		i = index(line, " # ")
		if (i > 0) {
			comment = substr(line, i + 3)
			line = substr(line, 1, i - 1)
		}
		if (st == "pass" && comment ~ /^SKIP/)
			st = "skip"
		printf "%s\t%s\t%s\t%s\n", st, num, line, comment
	}' "$1"
}

run ref "$ref" "$@" || exit 1
run mnt "$mnt" "$@" || exit 1
parse "$tmp/ref.tap" >"$tmp/ref.tsv"
parse "$tmp/mnt.tap" >"$tmp/mnt.tsv"

dups=$(cut -f3 "$tmp/ref.tsv" | sort | uniq -d)
if [ -n "$dups" ]; then
	echo "posix: warning: duplicate check descriptions:"
	printf '%s\n' "$dups" | sed 's/^/  /'
fi

# Without a work directory posixcheck stops at once: say so, not list all.
if grep -q '^fail	1	setup:' "$tmp/mnt.tsv"; then
	echo "posix: posixcheck could not set up on $mnt:"
	awk -F '\t' '{ printf "  %s %s  # %s\n", $2, $3, $4 }' "$tmp/mnt.tsv"
	exit 1
fi

# For each check that passes on the reference: its status on the mount.
awk -F '\t' '
	NR == FNR { st[$3] = $1; why[$3] = $4; next }
	$1 == "pass" {
		if (!($3 in st))
			printf "%s\t%s\tmissing from the output on the mount\n", $2, $3
		else if (st[$3] != "pass")
			printf "%s\t%s\t%s%s\n", $2, $3, st[$3],
			    why[$3] == "" ? "" : ": " why[$3]
	}' "$tmp/mnt.tsv" "$tmp/ref.tsv" >"$tmp/regressions"

total=$(wc -l <"$tmp/ref.tsv")
ref_pass=$(grep -c '^pass' "$tmp/ref.tsv")
mnt_pass=$(grep -c '^pass' "$tmp/mnt.tsv")
skipped=$(grep -c '^skip' "$tmp/ref.tsv")
summary="posix: $total checks; $ref_pass pass on ext4, $mnt_pass on the mount"
[ "$skipped" -gt 0 ] && summary="$summary ($skipped skipped)"

if grep -q '^fail' "$tmp/ref.tsv"; then
	echo "posix: note: checks failing on $ref itself (not compared):"
	awk -F '\t' '$1 == "fail" { printf "  %s %s  # %s\n", $2, $3, $4 }' \
		"$tmp/ref.tsv"
fi

if [ -s "$tmp/regressions" ]; then
	echo "posix: $(wc -l <"$tmp/regressions") checks pass on $ref but not on $mnt:"
	awk -F '\t' '{ printf "  %s %s  # %s\n", $1, $2, $3 }' "$tmp/regressions"
	echo "$summary"
	exit 1
fi
echo "$summary"
exit 0
