#!/bin/bash
# tests/run-all.sh - the whole test suite, as CI runs it (.ci/run), on a
# fresh Debian 12 machine as root:
#   1. installs the build and test packages that are missing (apt-get);
#   2. creates the unprivileged test user (bfs-test) if it is missing;
#   3. builds with --enable-debug (warnings are errors) in build/debug and
#      runs "make check" (unit tests + mount tests, two at a time);
#   4. builds with --enable-sanitizers in build/asan and runs the unit tests
#      and the per-operation mount test once more under ASan+UBSan.
# Without root, only the unit tests can run (mount tests skip).
set -eu
cd "$(dirname "$0")/.."
top=$PWD
jobs=${JOBS:-2}

BUILD_PKGS="build-essential autoconf automake pkg-config libfuse3-dev fuse3
 libcurl4-openssl-dev libsodium-dev libzstd-dev libsqlite3-dev"
TEST_PKGS="xfsprogs attr acl rsync util-linux procps python3 e2fsprogs sqlite3 postgresql"

if [ "$(id -u)" = 0 ]; then
	missing=$(for p in $BUILD_PKGS $TEST_PKGS; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
			grep -q 'install ok installed' || echo "$p"
	done)
	if [ -n "$missing" ]; then
		echo "run-all: installing:" $missing
		apt-get update -qq
		# shellcheck disable=SC2086
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends $missing >/dev/null
	fi
	id bfs-test >/dev/null 2>&1 ||
		useradd --system --no-create-home --shell /usr/sbin/nologin bfs-test
else
	echo "run-all: not root: mount tests will be skipped" >&2
fi

[ -x configure ] || ./autogen.sh >/dev/null 2>&1

echo "run-all: debug build (warnings are errors)"
mkdir -p build/debug
(cd build/debug && "$top/configure" -q --enable-debug &&
	make -s -j"$jobs" && make -s -j"$jobs" check) || {
	for f in build/debug/tests/*/*.log; do
		grep -q '^not ok\|^ERROR\|^FAIL' "$f" 2>/dev/null && { echo "== $f"; cat "$f"; }
	done
	exit 1
}
grep -E '^# (TOTAL|PASS|SKIP|FAIL|ERROR)' build/debug/test-suite.log || true

echo "run-all: ASan+UBSan build"
mkdir -p build/asan
(cd build/asan && "$top/configure" -q --enable-debug --enable-sanitizers &&
	make -s -j"$jobs" && ASAN_OPTIONS=detect_leaks=1 make -s -j"$jobs" check \
	TESTS="\$(UNIT_TESTS) tests/mount/ops.sh tests/mount/cli.sh") || {
	for f in build/asan/tests/*/*.log; do
		grep -q '^not ok\|^ERROR\|^FAIL' "$f" 2>/dev/null && { echo "== $f"; cat "$f"; }
	done
	exit 1
}
grep -E '^# (TOTAL|PASS|SKIP|FAIL|ERROR)' build/asan/test-suite.log || true
count() { cat build/debug/test-suite.log build/asan/test-suite.log |
	awk -v k="$1" '$1 == "#" && $2 == k":" { n += $3 } END { print n + 0 }'; }
echo "run-all: all tests passed"
echo "$(count PASS) passed, $(($(count FAIL) + $(count ERROR))) failed, $(count SKIP) skipped"
