#!/bin/bash
# quickstart.sh - on a fresh Debian 12 machine, as root: installs the Debian
# packages backupfs needs, builds and installs it, and mounts the overlay over
# a demo directory (/srv/backupfs-demo, or the directory given).
set -eu
cd "$(dirname "$0")"
demo=${1:-/srv/backupfs-demo}
[ "$(id -u)" = 0 ] || { echo "quickstart: run as root (sudo $0)" >&2; exit 1; }

apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	build-essential autoconf automake pkg-config libfuse3-dev fuse3 \
	libcurl4-openssl-dev libsodium-dev libzstd-dev libsqlite3-dev >/dev/null
[ -x configure ] || ./autogen.sh >/dev/null 2>&1
./configure -q --prefix=/usr/local
make -s -j"$(nproc)"
make -s install

mkdir -p "$demo"
[ -e "$demo/README" ] || echo "Files here are protected by backupfs." >"$demo/README"
# The repository is encrypted: for an unattended mount the password lives
# in a root-only file.  Keep a copy of it somewhere else: without it the
# backups cannot be read.
pwfile=/etc/backupfs/$(basename "$demo").password
if [ ! -s "$pwfile" ]; then
	install -d -m 700 /etc/backupfs
	(umask 077; head -c 24 /dev/urandom | base64 >"$pwfile")
	echo "quickstart: repository password generated in $pwfile (keep a copy elsewhere)"
fi
if ! grep -q "^$(realpath "$demo")	" /var/lib/backupfs/registry 2>/dev/null; then
	backupfs init --password-file "$pwfile" "$demo"
fi
if findmnt -n -t fuse.backupfs --mountpoint "$demo" >/dev/null; then
	echo "quickstart: $demo is already mounted"
else
	backupfs mount -o password_file="$pwfile" "$demo"
fi
echo "quickstart: backupfs is mounted over $demo (see 'mount | grep backupfs')."
echo "quickstart: unmount with 'backupfs umount $demo'; 'man backupfs' has more."
