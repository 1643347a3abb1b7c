# tests/mount/lib.sh - shared harness of the mount tests (sourced).
#
# Each test gets its own temporary directory ($T), mounts for real with the
# daemon in the foreground and its log kept ($T/daemon.log), and an EXIT trap
# that unmounts whatever is still mounted.  Output is TAP.  At the end,
# a log line with "error" or "warning" that the test did not declare with
# expect_log fails the test (as libfuse's test suite does).
#
# Needs root and /dev/fuse; without them the test is skipped.

set -u
: "${BACKUPFS:=$(cd "$(dirname "$0")/../.." && pwd)/src/backupfs}"
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
TOOLS="$top_builddir/tests/tools"
TEST_USER=${BACKUPFS_TEST_USER:-bfs-test}

_n=0
_failed=0
_mounts=()
_pids=()
_expected_log=()

skip_all() {
	echo "1..0 # SKIP $*"
	exit 0
}

ok() {			# ok COND-STATUS DESCRIPTION  (use: cmd; ok $? "desc")
	local st=$1; shift
	_n=$((_n + 1))
	if [ "$st" -eq 0 ]; then
		echo "ok $_n - $*"
	else
		echo "not ok $_n - $*"
		_failed=$((_failed + 1))
	fi
	return "$st"
}

is() {			# is GOT WANT DESCRIPTION
	local got=$1 want=$2; shift 2
	if [ "$got" = "$want" ]; then
		ok 0 "$*"
	else
		ok 1 "$*"
		echo "#   got:  '$got'"
		echo "#   want: '$want'"
	fi
}

run_ok() {		# run_ok DESCRIPTION CMD...: the command succeeds
	local desc=$1; shift
	local out
	if out=$("$@" 2>&1); then
		ok 0 "$desc"
	else
		ok 1 "$desc"
		echo "#   command: $*"
		printf '%s\n' "$out" | head -20 | sed 's/^/#   /'
	fi
}

fails_with() {		# fails_with PATTERN DESCRIPTION CMD...: non-zero exit, stderr matches
	local pat=$1 desc=$2; shift 2
	local out st
	out=$("$@" 2>&1); st=$?
	if [ $st -ne 0 ] && printf '%s' "$out" | grep -qE -- "$pat"; then
		ok 0 "$desc"
	else
		ok 1 "$desc"
		echo "#   exit $st, output: $out"
	fi
}

need_root() {
	[ "$(id -u)" = 0 ] || skip_all "needs root"
	[ -c /dev/fuse ] || skip_all "no /dev/fuse"
	[ -x "$BACKUPFS" ] || skip_all "no $BACKUPFS (build first)"
}

have_test_user() {
	id "$TEST_USER" >/dev/null 2>&1
}

# as_user CMD...: run a command as the unprivileged test user.
as_user() {
	setpriv --reuid="$TEST_USER" --regid="$TEST_USER" --init-groups -- "$@"
}

setup() {
	need_root
	T=$(mktemp -d "${TMPDIR:-/tmp}/backupfs-test.XXXXXX")
	chmod 755 "$T"
	trap cleanup EXIT
	trap 'exit 1' INT TERM
	# Every mount needs "backupfs init" first: state and repository in $T,
	# a known password, and the cheapest Argon2 (tests only).
	export BACKUPFS_STATE_ROOT=$T/state BACKUPFS_PASSWORD=test-password \
		BACKUPFS_INSECURE_FAST_KDF=1
}

# bfs_init SOURCE: "backupfs init" unless SOURCE is initialised already.
bfs_init() {
	local src
	src=$(realpath "$1") || return 1
	[ -f "$BACKUPFS_STATE_ROOT/registry" ] &&
		awk -F'\t' -v s="$src" '$1 == s {f = 1} END {exit !f}' \
			"$BACKUPFS_STATE_ROOT/registry" && return 0
	"$BACKUPFS" init "$src" >>"$T/init.log" 2>&1 || {
		echo "# backupfs init $src failed:"
		sed 's/^/#   /' "$T/init.log"
		return 1
	}
}

# The state directory of SOURCE.
bfs_state() {
	awk -F'\t' -v s="$(realpath "$1")" '$1 == s {print $2}' \
		"$BACKUPFS_STATE_ROOT/registry"
}

# mount_field PATH N: field N after " - " (1 = fstype, 2 = source) of the
# topmost mount at PATH, empty if none.
mount_field() {
	awk -v p="$(realpath -m "$1")" -v n="$2" '
		$5 == p { for (i = 6; $i != "-"; i++) ; v = $(i + n) }
		END { print v }' /proc/self/mountinfo
}

is_mounted() {
	[ "$(mount_field "$1" 1)" = fuse.backupfs ]
}

# bfs_mount [-o OPTS] SOURCE [MOUNTPOINT]: start the daemon in the
# foreground, wait for the mount; $BFS_PID is its pid.
bfs_mount() {
	local target a src="" skip=0
	eval "target=\${$#}"
	for a in "$@"; do
		if [ $skip = 1 ]; then skip=0; continue; fi
		case $a in -o) skip=1 ;; -*) ;; *) src=$a; break ;; esac
	done
	[ -n "$src" ] && { bfs_init "$src" || return 1; }
	${BACKUPFS_WRAP:-} "$BACKUPFS" mount -f "$@" >>"$T/daemon.log" 2>&1 &
	BFS_PID=$!
	_pids+=("$BFS_PID")
	_mounts+=("$target")
	for _ in $(seq 1 100); do
		is_mounted "$target" && return 0
		kill -0 "$BFS_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "# mount of $target failed; daemon log:"
	sed 's/^/#   /' "$T/daemon.log"
	return 1
}

bfs_umount() {		# bfs_umount MOUNTPOINT: unmount and wait for the daemon
	"$BACKUPFS" umount "$1"
}

expect_log() {		# expect_log REGEX: such error/warning lines are fine
	_expected_log+=("$1")
}

_scan_log() {
	[ -f "$T/daemon.log" ] || return 0
	local line bad=0 re
	while IFS= read -r line; do
		case "$line" in
		*error*|*warning*|*ERROR*|*WARNING*|*AddressSanitizer*|*runtime\ error*) ;;
		*) continue ;;
		esac
		for re in "${_expected_log[@]+"${_expected_log[@]}"}"; do
			printf '%s' "$line" | grep -qE -- "$re" && continue 2
		done
		echo "#   unexpected log line: $line"
		bad=1
	done <"$T/daemon.log"
	return $bad
}

cleanup() {
	local m p
	for m in "${_mounts[@]+"${_mounts[@]}"}"; do
		if is_mounted "$m" || stat "$m" 2>&1 | grep -q 'not connected'; then
			umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
		fi
	done
	for p in "${_pids[@]+"${_pids[@]}"}"; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	if [ -n "${T:-}" ]; then
		_scan_log
		ok $? "daemon log has no unexpected errors or warnings"
		rm -rf "$T"
	fi
	echo "1..$_n"
	[ $_failed -eq 0 ]
	exit $?
}
