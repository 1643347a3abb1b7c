#!/bin/sh
# Replays the keyfile fuzz target's corpus (fuzz/corpus/keyfile) as an ordinary test.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
exec "$top_builddir/fuzz/regress-keyfile" "$top_srcdir/fuzz/corpus/keyfile"
