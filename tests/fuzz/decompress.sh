#!/bin/sh
# Replays the decompress fuzz target's corpus (fuzz/corpus/decompress) as an ordinary test.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
exec "$top_builddir/fuzz/regress-decompress" "$top_srcdir/fuzz/corpus/decompress"
