#!/bin/bash
# tools.sh - everyday tools on the mount: cp -a, rsync -aHAX, tar, diff -r,
# find, du; a tree copied in and out through the mount comes back identical
# (content, modes, owners, mtimes, xattrs, hard links, symlinks, sparseness).
. "$(dirname "$0")/lib.sh"
setup
CMP=$TOOLS/treecmp
[ -x "$CMP" ] || skip_all "no treecmp (make check builds it)"

S=$T/src; M=$T/mnt; O=$T/orig
mkdir -p "$S" "$M" "$O/a/b/c" "$O/e"
# A tree with every kind of thing.
for i in $(seq 1 200); do echo "file $i" >"$O/a/f$i"; done
head -c 3000000 /dev/urandom >"$O/a/b/random"
ln "$O/a/b/random" "$O/e/hardlink"
ln -s ../a/b/random "$O/e/symlink"
ln -s /nonexistent "$O/e/dangling"
mkfifo "$O/e/fifo"
truncate -s 100M "$O/e/sparse"; echo tail >>"$O/e/sparse"
: >"$O/e/empty"
chmod 2750 "$O/a/b"; chmod 4755 "$O/a/f1"; chmod 1777 "$O/e"
chown 1234:4321 "$O/a/f2"
setfattr -n user.note -v hello "$O/a/f3"
touch -d '2001-01-01 00:00:00.123456789' "$O/a/f4"

bfs_mount "$S" "$M" || exit 1
cp -a "$O" "$M/cp"
out=$("$CMP" -i -m -x "$O" "$M/cp" 2>&1)
ok $? "cp -a into the mount preserves everything" || echo "$out" | sed 's/^/#   /'
[ "$(stat -c %b "$M/cp/e/sparse")" -lt 1000 ]
ok $? "cp -a keeps the sparse file sparse"

if command -v rsync >/dev/null; then
	rsync -aHAX "$O/" "$M/rsync/"
	out=$("$CMP" -i -m -x "$O" "$M/rsync" 2>&1)
	ok $? "rsync -aHAX into the mount" || echo "$out" | sed 's/^/#   /'
	rsync -aHAX "$M/rsync/" "$T/rsync-out/"
	out=$("$CMP" -i -m -x "$O" "$T/rsync-out" 2>&1)
	ok $? "rsync -aHAX out of the mount" || echo "$out" | sed 's/^/#   /'
	is "$(rsync -aHAXn --itemize-changes "$O/" "$M/rsync/" | wc -l)" 0 \
		"a second rsync finds nothing to do"
fi

tar -C "$M" --xattrs -cf "$T/t.tar" cp
mkdir "$T/untar" && tar -C "$T/untar" --xattrs -xf "$T/t.tar"
out=$("$CMP" -i -m "$O" "$T/untar/cp" 2>&1)
ok $? "tar out of the mount restores the tree" || echo "$out" | sed 's/^/#   /'
tar -C "$M" -xf "$T/t.tar" --xattrs --transform 's/^cp/untar/'
out=$("$CMP" -i -m "$O" "$M/untar" 2>&1)
ok $? "tar into the mount" || echo "$out" | sed 's/^/#   /'

# diff reports any two fifos as different ("is a fifo while ... is a fifo"),
# on plain disks too: leave that one out.
diff -r --no-dereference -x fifo "$O" "$M/cp" >/dev/null 2>&1
ok $? "diff -r finds no difference"
is "$(cd "$M/cp" && find . | sort | md5sum)" "$(cd "$O" && find . | sort | md5sum)" "find lists the same names"
is "$(du -s --apparent-size "$M/cp" | cut -f1)" "$(du -s --apparent-size "$O" | cut -f1)" "du --apparent-size agrees"
is "$(find "$M/cp" -type l | wc -l)" 2 "find -type l sees the symlinks"
is "$(find "$M/cp" -samefile "$M/cp/a/b/random" | wc -l)" 2 "find -samefile sees the hard link"
