#!/bin/bash
# perms.sh - run as root with -o allow_other, the mount enforces permissions
# for every user exactly as the disk beneath does, and what a user creates
# belongs to that user.  Also: a mount by an unprivileged user (fusermount3).
. "$(dirname "$0")/lib.sh"
setup
have_test_user || skip_all "no test user $TEST_USER (useradd $TEST_USER)"
U=$TEST_USER
uid=$(id -u "$U"); gid=$(id -g "$U")

S=$T/src; M=$T/mnt
mkdir -p "$S" "$M"
chmod 755 "$S"
bfs_mount -o allow_other "$S" "$M" || exit 1
grep -q "default_permissions" <<<"$(grep " $M " /proc/self/mountinfo)"
ok $? "allow_other mounts with default_permissions"

mkdir -m 1777 "$M/pub"
as_user sh -c "echo mine >'$M/pub/u'"
ok $? "a user creates a file in a world-writable directory"
is "$(stat -c %u:%g "$M/pub/u")" "$uid:$gid" "the file belongs to the user (through the mount)"
is "$(stat -c %u:%g "$S/pub/u")" "$uid:$gid" "and on the real disk"
as_user mkdir "$M/pub/ud"
is "$(stat -c %u:%g "$S/pub/ud")" "$uid:$gid" "mkdir by a user: owned by the user"
as_user ln -s target "$M/pub/ul"
is "$(stat -c %u:%g "$S/pub/ul")" "$uid:$gid" "symlink by a user: owned by the user"
as_user mkfifo "$M/pub/uf"
is "$(stat -c %u:%g "$S/pub/uf")" "$uid:$gid" "mkfifo by a user: owned by the user"

as_user sh -c "umask 077; echo x >'$M/pub/u077'"
is "$(stat -c %a "$M/pub/u077")" 600 "the user's umask 077 applies"
as_user sh -c "umask 022; mkdir '$M/pub/d022'"
is "$(stat -c %a "$M/pub/d022")" 755 "the user's umask 022 applies to mkdir"

echo secret >"$M/secret"; chmod 600 "$M/secret"
! as_user cat "$M/secret" 2>/dev/null
ok $? "a user cannot read root's 0600 file"
echo open >"$M/open"; chmod 644 "$M/open"
is "$(as_user cat "$M/open")" open "a user can read a 0644 file"
! as_user sh -c "echo x >>'$M/open'" 2>/dev/null
ok $? "a user cannot write root's 0644 file"
! as_user touch "$M/newfile" 2>/dev/null
ok $? "a user cannot create in root's 0755 directory"
! as_user rm -f "$M/open" 2>/dev/null && [ -f "$S/open" ]
ok $? "a user cannot delete from root's 0755 directory"
touch "$M/pub/rootfile"
! as_user rm -f "$M/pub/rootfile" 2>/dev/null && [ -f "$S/pub/rootfile" ]
ok $? "sticky directory: a user cannot delete root's file"
as_user rm "$M/pub/u077"
ok $? "sticky directory: a user deletes its own file"
! as_user chown root "$M/pub/u" 2>/dev/null
ok $? "a user cannot give a file away"
! as_user chmod 777 "$M/open" 2>/dev/null
ok $? "a user cannot chmod root's file"
as_user chmod 600 "$M/pub/u"
is "$(stat -c %a "$S/pub/u")" 600 "a user chmods its own file"
mkdir -m 700 "$M/private"; echo x >"$M/private/f"; chmod 644 "$M/private/f"
! as_user cat "$M/private/f" 2>/dev/null
ok $? "no search permission on a directory blocks access below it"
touch -d 2001-01-01 "$M/pub/u"
! as_user touch -d 2002-01-01 "$M/pub/rootfile" 2>/dev/null
ok $? "a user cannot set explicit times on root's file"
as_user touch -d 2002-01-01 "$M/pub/u"
is "$(stat -c %Y "$M/pub/u")" "$(date -d 2002-01-01 +%s)" "a user sets times on its own file"

# set-gid directory: new entries take the directory's group.
mkdir -m 2777 "$M/sgid"; chgrp 4242 "$M/sgid"
as_user touch "$M/sgid/f"; as_user mkdir "$M/sgid/d"
is "$(stat -c %g "$S/sgid/f")" 4242 "set-gid directory: a user's file gets the directory's group"
is "$(stat -c '%g %A' "$S/sgid/d")" "4242 drwxr-sr-x" "set-gid directory: a subdirectory inherits group and set-gid"

# Writing to a set-uid file as another user clears the bit, as on ext4.
echo x >"$M/pub/suid"; chmod 4777 "$M/pub/suid"
as_user sh -c "echo y >>'$M/pub/suid'"
is "$(stat -c %a "$S/pub/suid")" 777 "a write by another user clears set-uid"

# POSIX ACLs are enforced.
if command -v setfacl >/dev/null; then
	echo acl >"$M/acl"; chmod 600 "$M/acl"
	setfacl -m "u:$U:r" "$M/acl"
	is "$(as_user cat "$M/acl" 2>&1)" acl "an ACL entry grants read to the user"
	setfacl -m "u:$U:---" "$M/acl"; chmod 644 "$M/acl"
	! as_user cat "$M/acl" 2>/dev/null
	ok $? "an ACL entry denies the user though the mode would allow"
	mkdir "$M/dacl"; setfacl -m "u:$U:rwx" "$M/dacl"; setfacl -d -m "u:$U:rwx" "$M/dacl"
	as_user sh -c "umask 077; echo z >'$M/dacl/f'"
	ok $? "an ACL lets the user create in root's directory"
	getfacl -cp "$S/dacl/f" | grep -q "^user:$U:rwx"
	ok $? "the default ACL is inherited (not cut by the umask)"
fi

# access(2) as the user
as_user test -r "$M/open"
ok $? "access R_OK for a readable file"
! as_user test -w "$M/open"
ok $? "access W_OK denied for root's file"

# --- a mount by an unprivileged user -----------------------------------------
US=$T/usrc; UM=$T/umnt
mkdir -p "$US" "$UM"; chown "$U:$U" "$US" "$UM"
fuse_mode=$(stat -c %a /dev/fuse)
if [ "$fuse_mode" != 666 ]; then
	# No udev here: /dev/fuse is not yet open to users.
	fails_with "/dev/fuse is not open to you.*chmod 666 /dev/fuse" \
		"a user without access to /dev/fuse is told what to do" \
		as_user "$BACKUPFS" mount -f "$US" "$UM"
	chmod 666 /dev/fuse
	restore_fuse() { chmod "$fuse_mode" /dev/fuse; cleanup; }
	trap restore_fuse EXIT
fi
# The user's own state and repository, as "backupfs init" makes them.
mkdir -p "$T/ustate"; chown "$U:$U" "$T/ustate"
as_user env BACKUPFS_STATE_ROOT="$T/ustate" "$BACKUPFS" init "$US" >>"$T/init.log" 2>&1
ok $? "the user initialises its own directory"
as_user env BACKUPFS_STATE_ROOT="$T/ustate" "$BACKUPFS" mount -f "$US" "$UM" >>"$T/daemon.log" 2>&1 &
_pids+=($!); _mounts+=("$UM")
for _ in $(seq 1 100); do is_mounted "$UM" && break; sleep 0.05; done
is_mounted "$UM"
ok $? "an unprivileged user mounts its own directory"
as_user sh -c "echo u >'$UM/f' && mkdir '$UM/d' && ln '$UM/f' '$UM/d/l' && mv '$UM/d/l' '$UM/g'"
ok $? "create, mkdir, link, rename in a user mount"
is "$(stat -c '%u %h' "$US/f")" "$uid 2" "the user's files are the user's, links counted"
! as_user sh -c "cat /proc/self/mountinfo >/dev/null; echo x > '$UM/f2'; chown root '$UM/f2'" 2>/dev/null
ok $? "a user mount cannot give files away"
as_user "$BACKUPFS" umount "$UM"
ok $? "the user unmounts with backupfs umount (fusermount3)"
! is_mounted "$UM"
ok $? "and the mount is gone"
