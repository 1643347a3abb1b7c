#!/bin/sh
# Replays the pack-index fuzz target's corpus (fuzz/corpus/pack-index) as an ordinary test.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
exec "$top_builddir/fuzz/regress-pack-index" "$top_srcdir/fuzz/corpus/pack-index"
