#!/bin/bash
# cache.sh - the kernel's attribute and name caches never show stale data:
# after link, rename, chmod, chown, utimens and unlink, stat through the mount
# agrees with the real file at once; and changes made to SOURCE behind the
# mount's back show through it within the cache timeout (1 s by default).
. "$(dirname "$0")/lib.sh"
setup

S=$T/src; M=$T/mnt
mkdir -p "$S" "$M"
bfs_mount "$S" "$M" || exit 1

# same_stat NAME DESC: mount and disk agree on nlink, mode, owner, times.
same_stat() {
	is "$(stat -c '%h %a %u:%g %Y.%y %Z.%z' "$M/$1")" \
	   "$(stat -c '%h %a %u:%g %Y.%y %Z.%z' "$S/$1")" "$2"
}

echo x >"$M/f"
stat "$M/f" >/dev/null	# prime the cache
sleep 0.02
ln "$M/f" "$M/l"
same_stat f "after link: nlink and ctime of the old name are fresh"
sleep 0.02
chmod 751 "$M/f"
same_stat l "after chmod through one name, the other name is fresh"
sleep 0.02
chown 77:88 "$M/l"
same_stat f "after chown: owner and ctime fresh"
sleep 0.02
touch -d '2003-03-03 03:03:03.5' "$M/f"
same_stat l "after utimens: times fresh"
sleep 0.02
mv "$M/l" "$M/l2"
same_stat f "after rename: ctime of the renamed inode fresh"
same_stat l2 "and under its new name"
rm "$M/l2"
same_stat f "after unlink of one link: nlink fresh"
mkdir "$M/d"; stat "$M/d" >/dev/null; sleep 0.02
mkdir "$M/d/sub"
same_stat d "after mkdir inside: parent nlink and mtime fresh"
sleep 0.02
rmdir "$M/d/sub"
same_stat d "after rmdir inside: parent nlink and mtime fresh"
echo more >>"$M/f"
same_stat f "after a write: size and mtime fresh"

# --- behind the mount's back -------------------------------------------------
# within N: retries a condition for up to 1.5 s (the 1 s cache plus slack).
within() {
	local i
	for i in $(seq 1 30); do
		eval "$1" && return 0
		sleep 0.05
	done
	return 1
}
echo v1 >"$M/ext"; stat "$M/ext" >/dev/null; cat "$M/ext" >/dev/null
echo v2-longer >"$S/ext"
within '[ "$(cat "$M/ext")" = v2-longer ]'
ok $? "a file rewritten behind the mount shows new content within 1.5 s"
within '[ "$(stat -c %s "$M/ext")" = 10 ]'
ok $? "and its new size"
chmod 700 "$S/ext"
within '[ "$(stat -c %a "$M/ext")" = 700 ]'
ok $? "a chmod behind the mount shows within 1.5 s"
ls "$M/new" 2>/dev/null	# prime a negative entry
echo n >"$S/new"
within '[ -f "$M/new" ]'
ok $? "a file created behind the mount appears within 1.5 s"
rm "$S/new"
within '[ ! -e "$M/new" ]'
ok $? "a file deleted behind the mount disappears within 1.5 s"
mkdir "$S/extdir"; touch "$S/extdir/a"
ls "$M/extdir" >/dev/null
touch "$S/extdir/b"
within '[ "$(ls "$M/extdir" | wc -l)" = 2 ]'
ok $? "a directory listing shows an entry added behind the mount"
mv "$S/ext" "$S/ext-renamed"
within '[ ! -e "$M/ext" ] && [ -f "$M/ext-renamed" ]'
ok $? "a rename behind the mount shows within 1.5 s"
