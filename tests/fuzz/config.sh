#!/bin/sh
# Replays the config fuzz target's corpus (fuzz/corpus/config) as an ordinary test.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
exec "$top_builddir/fuzz/regress-config" "$top_srcdir/fuzz/corpus/config"
