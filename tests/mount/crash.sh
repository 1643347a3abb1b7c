#!/bin/bash
# crash.sh - kill -9 of the daemon at random moments, for real, many times
# (doc/versioning.md §7 and its invariants D, Q, R; src/engine.c 1-4):
# every version committed before the kill stays intact and readable, the
# database and the repository are consistent without any repair command,
# and files that were being written are captured afresh.
#
# 1. Rounds: a workload writes through the mount (appends of numbered
#    lines, overwrites in several writes, truncate(2), chmod, create and
#    rename over, unlink, a file kept open and appended to, in-place writes
#    to a 4 MiB file with fsyncs, directories made and removed, "backupfs
#    sync" now and then); after a random 50-1500 ms the daemon gets kill -9
#    (every fifth round: the workload stops and the kill lands 0-60 ms into
#    "backupfs umount" instead), the workload is killed, the stale mount
#    unmounted with fusermount3 -u and the source mounted again; one round
#    in four the new daemon is killed again 0-80 ms in (during its staging
#    recovery, scan and recaptures) and mounted a third time.  Then a
#    "backupfs sync", and:
#      (a) meta.db passes integrity_check and foreign_key_check; pack and
#          upload rows agree;
#      (b) every version committed before the kill (read just before it)
#          is still there; every manifest ends at its version's size and
#          names only chunks of committed packs (D); the newest versions
#          and random older ones read back with "backupfs cat --at @T" with
#          their size and a content the file can have had (the content of
#          every file the workload writes says what it may be);
#      (c) the crash's unfinished packs are gone, staging holds no *.tmp
#          and only packs meta.db knows (Q), and no copy of a pack that is
#          uploaded already; every pack is in the repository with its data
#          object of the recorded size and its index, and the repository
#          has no object meta.db does not know (R);
#      (d) "backupfs cat" of every live file equals the file; meta.db's
#          live names are the tree's, no live name is in a dead directory,
#          and no dirty row is left;
#      (e) the daemon log has no unexpected error or warning (lib.sh).
#    At the end, with staging/ moved away, every file reads back from the
#    repository alone; then §7's last row: files changed while unmounted,
#    and a directory removed behind a crashed mount.
# 2. "backupfs init" of a ~200 MB tree killed during its import, and (a
#    second tree) during its upload: init again refuses, naming the
#    half-made state directory (or succeeds); after removing it init
#    succeeds, and the source mounts and reads back.
# 3. The daemon killed while it uploads 100 MB of new packs (after the
#    writes, and during them): after the remount and a sync, the checks of
#    (a), (c), (d); at the end every file reads back from the repository
#    alone.
# 4. On ext4 with 1-second timestamps (a loop-mounted image; skipped if
#    that cannot be made): a same-size write replied just before kill -9
#    is captured at the next mount.
#
# Checks marked "BUG" below fail today because of a daemon bug (see the
# comment there).  Random but replayable: the seed is printed, CRASH_SEED=N
# replays its choices (not its timing); CRASH_ROUNDS=N runs N rounds
# (default 15, 40-55 s in all).
. "$(dirname "$0")/lib.sh"
setup
PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) ||
	skip_all "needs python3"
command -v fusermount3 >/dev/null || skip_all "needs fusermount3"

SEED=${CRASH_SEED:-$(( $(date +%s%N) % 32768 ))}
RANDOM=$SEED
ROUNDS=${CRASH_ROUNDS:-15}
echo "# seed $SEED (replay with CRASH_SEED=$SEED), $ROUNDS rounds"
t_start=$(date +%s%N)

S=$T/src
mkdir -p "$S/w" "$S/static"

# --- helpers ---------------------------------------------------------------
# The workload: runs on the mount until killed.  Every file's content is
# self-describing so that any version of it can be checked (see check.py).
cat >"$T/work.py" <<'EOF'
import errno, os, random, shutil, subprocess, sys
d, rnd, mnt, bfs, seed = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
R = random.Random(seed)
REC, NREC = 4096, 1024

def rec(i, g):
    s = b"B %08d g%s " % (i, g)
    return s + b"." * (REC - 1 - len(s)) + b"\n"

def main():
    stream = os.open(d + "/stream", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    big = None
    syncs = []
    i = 0
    while True:
        i += 1
        g = b"%d.%d" % (rnd, i)
        for k in range(3):      # open, append one line, close: a cut each
            with open("%s/log%d" % (d, k), "ab") as f:
                f.write(b"r%03d k%d seq %07d\n" % (rnd, k, i))
        os.write(stream, b"r%03d s%07d\n" % (rnd, i))   # never closed
        # Overwrite: O_TRUNC, then several writes.
        data = b"gen %s\n" % g * R.randrange(0, 3000)
        fd = os.open("%s/ow%d" % (d, i % 3), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        for o in range(0, len(data), 8192):
            os.write(fd, data[o:o + 8192])
        if R.random() < 0.1:
            os.fsync(fd)
        os.close(fd)
        if R.random() < 0.1:     # truncate(2): a cut without a close
            f = "%s/ow%d" % (d, R.randrange(3))
            os.truncate(f, os.stat(f).st_size // 2)
        if R.random() < 0.1:     # attributes only: a version sharing content
            os.chmod("%s/ow%d" % (d, R.randrange(3)), R.choice((0o600, 0o644)))
        # In-place writes to a 4 MiB file kept open for a while.
        if big is None or R.random() < 0.05:
            if big is not None:
                os.close(big)
            big = os.open(d + "/big", os.O_WRONLY)
        at = R.randrange(NREC - 16)
        os.pwrite(big, b"".join(rec(at + j, g) for j in range(R.randrange(1, 17))),
                  at * REC)
        if R.random() < 0.05:
            os.fsync(big)
        # Create, rename over, unlink.
        with open("%s/t.%d" % (d, i), "wb") as f:
            f.write(b"tmp %s\n" % g)
        os.rename("%s/t.%d" % (d, i), "%s/ren%d" % (d, i % 5))
        if i % 4 == 0:
            try:
                os.unlink("%s/ren%d" % (d, (i + 2) % 5))
            except FileNotFoundError:
                pass
        if i % 3 == 0:
            k = i // 3 % 3
            os.makedirs("%s/dir%d" % (d, k), exist_ok=True)
            with open("%s/dir%d/f" % (d, k), "wb") as f:
                f.write(b"dir %s\n" % g)
            shutil.rmtree("%s/dir%d" % (d, (k + 1) % 3), ignore_errors=True)
        if i % 25 == 0:          # a second name for an append-only file
            try:
                os.link(d + "/log1", d + "/hl")
            except FileExistsError:
                os.unlink(d + "/hl")
        if i % 40 == 1 and len(syncs) < 4:
            syncs.append(subprocess.Popen([bfs, "sync", "--timeout", "60", mnt],
                                          stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL))
        syncs = [p for p in syncs if p.poll() is None]

try:
    main()
except OSError as e:     # the daemon died under us: ENOTCONN, ECONNABORTED
    if e.errno not in (errno.ENOTCONN, errno.ECONNABORTED):
        print("workload: %s" % e, file=sys.stderr)
        sys.exit(1)
EOF

# The checks on meta.db, staging, the repository and the files.
cat >"$T/check.py" <<'EOF'
import os, random, re, sqlite3, subprocess, sys

BFS = os.environ["BACKUPFS"]
MAX = 2**63 - 1
S_IFREG = 0o100000

def db_open(state):
    return sqlite3.connect("file:%s/meta.db?mode=ro" % state, uri=True, timeout=30)

def bad(msg):
    print("#   " + msg)

def path_at(db, inode, t):
    parts = []
    while inode != 1:
        r = db.execute("SELECT parent, name FROM dentry WHERE inode = ? AND"
                       " t_from <= ? AND t_to > ? LIMIT 1", (inode, t, t)).fetchone()
        if not r or len(parts) > 100:
            return None
        parts.append(bytes(r[1]))
        inode = r[0]
    return b"/".join(reversed(parts))

def manifest_end(blob):
    """End offset of a manifest; None if it is not contiguous."""
    n = len(blob) // 44
    if len(blob) % 44:
        return None
    off = 0
    for k in range(n):
        e = blob[k * 44:(k + 1) * 44]
        o = int.from_bytes(e[0:8], "little")
        ln = int.from_bytes(e[40:44], "little")
        if o != off or ln == 0:
            return None
        off += ln
    return off

def repeats(data, head, many):
    """data is a prefix of HEAD<gen>\n repeated (once unless many)."""
    if not data:
        return True
    nl = data.find(b"\n")
    if nl < 0:
        return (head.startswith(data) or data.startswith(head)) and \
            re.fullmatch(rb"[a-z ]*[0-9.]*", data) is not None
    unit = data[:nl + 1]
    if not re.fullmatch(re.escape(head) + rb"[0-9]+\.[0-9]+\n", unit):
        return False
    if not many and len(data) > len(unit):
        return False
    return (unit * (len(data) // len(unit) + 1)).startswith(data)

def content_ok(rel, data, live):
    """Is data a possible content of the file named rel at some time?"""
    base = os.path.basename(rel)
    if re.fullmatch(rb"(log\d|stream|static\d*)", base):    # append-only
        return live is not None and live.startswith(data)
    if base == b"hl":       # log1's second name, when it has it
        return live is None or live.startswith(data)
    if re.fullmatch(rb"ow\d", base):
        return repeats(data, b"gen ", True)
    if re.fullmatch(rb"(ren\d|t\.\d+)", base):
        return repeats(data, b"tmp ", False)
    if base == b"f":
        return repeats(data, b"dir ", False)
    if base == b"big":
        if len(data) % 4096:
            return False
        for k in range(len(data) // 4096):
            r = data[k * 4096:(k + 1) * 4096]
            if not re.fullmatch(rb"B %08d g[0-9.]+ \.+\n" % k, r):
                return False
        return True
    return True      # anything else: its length only

def cmd_snap(state, out):
    db = db_open(state)
    with open(out, "w") as f:
        for inode, t in db.execute("SELECT inode, t FROM version"):
            f.write("%d %d\n" % (inode, t))

def cmd_db(state):
    db = db_open(state)
    ok = True
    r = [x[0] for x in db.execute("PRAGMA integrity_check")]
    if r != ["ok"]:
        bad("integrity_check: %s" % r[:5]); ok = False
    r = db.execute("PRAGMA foreign_key_check").fetchall()
    if r:
        bad("foreign_key_check: %s" % r[:5]); ok = False
    # Every pack has one upload row; done rows <=> uploaded packs.
    r = db.execute("SELECT p.id, p.state, u.state FROM pack p LEFT JOIN upload u"
                   " ON u.pack = p.id WHERE u.pack IS NULL OR"
                   " (p.state = 2) != (u.state = 1)").fetchall()
    if r:
        bad("packs whose upload row disagrees (id, pack.state, upload.state): %s" % r[:5])
        ok = False
    r = db.execute("SELECT count(*) FROM chunk c LEFT JOIN pack p ON p.id = c.pack"
                   " WHERE p.id IS NULL").fetchone()[0]
    if r:
        bad("%d chunks name no pack" % r); ok = False
    return ok

def cmd_subset(state, snap):
    db = db_open(state)
    have = set(db.execute("SELECT inode, t FROM version").fetchall())
    want = set(tuple(map(int, l.split())) for l in open(snap))
    lost = want - have
    if lost:
        bad("%d of %d versions committed before the kill are gone, e.g. %s"
            % (len(lost), len(want), sorted(lost)[:5]))
        return False
    print("#   %d versions before the kill, %d now" % (len(want), len(have)))
    return True

def cmd_manifests(state):
    """Invariant D: every committed manifest is well formed, ends at the
    version's size, and names only chunks of committed packs."""
    db = db_open(state)
    chunks = set(bytes(r[0]) for r in db.execute("SELECT id FROM chunk"))
    ok, n = True, 0
    for inode, t, size, mode, man in db.execute(
            "SELECT inode, t, size, mode, manifest FROM version"
            " WHERE manifest IS NOT NULL"):
        man = bytes(man)
        n += 1
        end = manifest_end(man)
        if end is None or ((mode & 0o170000) == S_IFREG and end != size):
            bad("version (%d, %d): manifest of %d bytes ends at %s, size %d"
                % (inode, t, len(man), end, size)); ok = False
        for k in range(len(man) // 44):
            if man[k * 44 + 8:k * 44 + 40] not in chunks:
                bad("version (%d, %d) names chunk %s which is in no committed pack"
                    % (inode, t, man[k * 44 + 8:k * 44 + 16].hex())); ok = False
                break
        if not ok:
            return False
    return ok

def cmd_readable(state, snap, src, nsample, seed):
    """A sample of the versions of the snapshot: the newest ones (committed
    just before the kill) and random older ones."""
    db = db_open(state)
    want = set(tuple(map(int, l.split())) for l in open(snap))
    files = sorted(((i, t) for i, t, mode in
                    db.execute("SELECT inode, t, mode FROM version")
                    if (mode & 0o170000) == S_IFREG and (i, t) in want),
                   key=lambda v: v[1])
    rnd = random.Random(seed)
    sample = files[-nsample:] + rnd.sample(files[:-nsample], min(nsample, max(0, len(files) - nsample)))
    ok, checked, unnamed = True, 0, 0
    for inode, t in sample:
        # The size to expect: the last version with content at or before t
        # (an attribute-only version shares the content before it).
        r = db.execute("SELECT size FROM version WHERE inode = ? AND t <= ? AND"
                       " manifest IS NOT NULL ORDER BY t DESC LIMIT 1",
                       (inode, t)).fetchone()
        if not r:
            bad("version (%d, %d) has no content version at or before it" % (inode, t))
            ok = False
            continue
        size = r[0]
        rel = path_at(db, inode, t)
        if rel is None:
            unnamed += 1     # written after its last name went: no path
            continue
        path = os.path.join(os.fsencode(src), rel)
        p = subprocess.run([BFS, "cat", "--at", "@%d" % t, path],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        checked += 1
        if p.returncode != 0:
            bad("cat --at @%d %s: exit %d: %s" % (t, path.decode(errors="replace"),
                p.returncode, p.stderr.decode(errors="replace").strip()))
            ok = False
            continue
        if len(p.stdout) != size:
            bad("cat --at @%d %s: %d bytes, the version has %d"
                % (t, path.decode(errors="replace"), len(p.stdout), size))
            ok = False
            continue
        try:
            live = open(path, "rb").read()
        except OSError:
            live = None
        if not content_ok(rel, p.stdout, live):
            bad("cat --at @%d %s: content is not a possible state of the file: %r"
                % (t, path.decode(errors="replace"), p.stdout[:80]))
            ok = False
    print("#   %d versions read back (%d had no name at their time)" % (checked, unnamed))
    return ok

def list_staging(state):
    return sorted(os.listdir(state + "/staging"))

def cmd_staging(state, postkill):
    """The crash's leftovers are gone; staging holds only known packs."""
    db = db_open(state)
    names = set(bytes(r[0]).hex() for r in db.execute("SELECT name FROM pack"))
    now = set(list_staging(state))
    ok = True
    for n in open(postkill).read().split():
        if n in now and (n.endswith(".tmp") or n.split(".")[0] not in names):
            bad("'%s' left in staging by the crash was not removed" % n); ok = False
    uploaded = set(bytes(r[0]).hex() for r in
                   db.execute("SELECT name FROM pack WHERE state = 2"))
    for n in now:
        if n.endswith(".tmp"):
            bad("staging holds '%s' with the daemon idle" % n); ok = False
        elif not re.fullmatch(r"[0-9a-f]{64}(\.index)?", n) or n[:64] not in names:
            bad("staging holds '%s' which meta.db has no pack row for" % n); ok = False
        elif n[:64] in uploaded:
            pass        # cmd_leftover's business
        elif not n.endswith(".index") and n + ".index" not in now:
            bad("staged pack '%s' has no index beside it" % n); ok = False
    return ok

def cmd_leftover(state, known):
    """A pack's staged copy goes once the pack is uploaded; a crash between
    the two must not leave it there for ever.  Each leftover fails once
    (known lists those reported already)."""
    db = db_open(state)
    uploaded = set(bytes(r[0]).hex() for r in
                   db.execute("SELECT name FROM pack WHERE state = 2"))
    seen = set(open(known).read().split()) if os.path.exists(known) else set()
    ok = True
    for n in list_staging(state):
        if n[:64] in uploaded and not n.endswith(".tmp"):
            if n in seen:
                print("#   (still in staging, reported before: %s)" % n)
                continue
            bad("staging still holds '%s' of a pack uploaded already: nothing"
                " will ever remove it" % n)
            with open(known, "a") as f:
                f.write(n + "\n")
            ok = False
    return ok

def cmd_repo(state):
    """Every pack uploaded, complete; nothing in the repository unknown."""
    db = db_open(state)
    url = open(state + "/repo").read().strip()
    repo = url[len("file://"):]
    ok = True
    packs = {bytes(n).hex(): (s, size) for n, s, size in
             db.execute("SELECT name, state, size FROM pack")}
    r = db.execute("SELECT count(*) FROM upload WHERE state != 1").fetchone()[0]
    if r:
        bad("%d uploads still pending after sync" % r); ok = False
    for hx, (st, size) in packs.items():
        d = "%s/data/%s/%s" % (repo, hx[:2], hx)
        ix = "%s/index/%s" % (repo, hx)
        if st != 2:
            bad("pack %s is not marked uploaded after sync" % hx); ok = False
            continue
        if not os.path.isfile(d) or os.path.getsize(d) != size:
            bad("pack %s: data object %s (pack.size %d)" % (hx,
                "missing" if not os.path.isfile(d) else
                "has %d bytes" % os.path.getsize(d), size)); ok = False
        if not os.path.isfile(ix) or os.path.getsize(ix) == 0:
            bad("pack %s: index object missing or empty" % hx); ok = False
    stray, tmps = [], 0
    for sub in ("data", "index"):
        for root, _, fs in os.walk("%s/%s" % (repo, sub)):
            for f in fs:
                if ".tmp." in f:
                    tmps += 1
                elif f not in packs:
                    stray.append(f)
    if stray:
        bad("%d objects in the repository that meta.db does not know: %s"
            % (len(stray), stray[:3])); ok = False
    print("#   %d packs in the repository%s" % (len(packs),
          ", %d stale .tmp objects of interrupted puts" % tmps if tmps else ""))
    return ok

def cmd_live(src):
    """backupfs cat of every regular file equals the file."""
    ok, n = True, 0
    for root, dirs, fs in os.walk(src):
        for f in sorted(fs):
            path = os.path.join(root, f)
            if not os.path.isfile(path) or os.path.islink(path):
                continue
            want = open(path, "rb").read()
            p = subprocess.run([BFS, "cat", path], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
            n += 1
            if p.returncode != 0 or p.stdout != want:
                bad("cat %s: exit %d, %d bytes, the file has %d%s: %s"
                    % (path, p.returncode, len(p.stdout), len(want),
                       "" if p.returncode else
                       " (first difference at %d)" % next((i for i, (a, b) in
                           enumerate(zip(p.stdout, want)) if a != b),
                           min(len(p.stdout), len(want))),
                       p.stderr.decode(errors="replace").strip()))
                ok = False
    print("#   %d live files compared" % n)
    return ok

def cmd_names(state, src):
    """meta.db's live namespace is the tree's: names, kinds, and no row of
    a name that is gone or of a file that has no row; no dirty row left."""
    db = db_open(state)
    meta, ok = {}, True
    stack = [(1, b"")]
    while stack:
        d, p = stack.pop()
        for name, ino, kind, died in db.execute(
                "SELECT d.name, d.inode, i.kind, i.died FROM dentry d JOIN inode i"
                " ON i.id = d.inode WHERE d.parent = ? AND d.t_to = ?", (d, MAX)):
            path = p + b"/" + bytes(name)
            meta[path] = kind
            if died is not None:
                bad("live name %s is of an inode that died at %d" % (path, died))
                ok = False
            if kind == 0o040000:
                stack.append((ino, path))
    real = {}
    top = os.fsencode(src)
    for root, dirs, fs in os.walk(top):
        for n in dirs + fs:
            path = os.path.join(root, n)
            real[path[len(top):]] = os.lstat(path).st_mode & 0o170000
    for path in sorted(set(meta) | set(real)):
        if meta.get(path) != real.get(path):
            bad("%s: meta.db has %s, the tree has %s" % (path.decode(errors="replace"),
                "kind %o" % meta[path] if path in meta else "no name",
                "kind %o" % real[path] if path in real else "nothing"))
            ok = False
    return ok

def cmd_orphans(state, known):
    """No live name in a directory that died, no live inode without a live
    name, no dirty row once everything is synced.  Each one fails once
    (known lists those reported already: they stay, nothing removes them)."""
    db = db_open(state)
    found = []
    for parent, name, ino, died in db.execute(
            "SELECT d.parent, d.name, d.inode, p.died FROM dentry d JOIN inode p"
            " ON p.id = d.parent WHERE d.t_to = ? AND p.died IS NOT NULL", (MAX,)):
        found.append(("orphan-name:%d/%s" % (parent, bytes(name).decode(errors="replace")),
                      "live name '%s' (inode %d) in directory inode %d, which died at %d"
                      % (bytes(name).decode(errors="replace"), ino, parent, died)))
    for (i,) in db.execute(
            "SELECT id FROM inode i WHERE died IS NULL AND id != 1 AND NOT EXISTS"
            " (SELECT 1 FROM dentry d WHERE d.inode = i.id AND d.t_to = ?)", (MAX,)):
        found.append(("orphan-inode:%d" % i, "inode %d is alive with no live name" % i))
    for i, since in db.execute("SELECT inode, since FROM dirty"):
        found.append(("dirty:%d" % i, "dirty row of inode %d (since %d) left after sync"
                      % (i, since)))
    seen = set(open(known).read().split()) if os.path.exists(known) else set()
    ok = True
    for key, msg in found:
        if key in seen:
            print("#   (still there, reported before: %s)" % msg)
            continue
        bad(msg)
        ok = False
        with open(known, "a") as f:
            f.write(key + "\n")
    return ok

# "checks NAMES STATE SNAP POSTKILL SRC NSAMPLE SEED": the named checks in
# one run, each reported as a line "RESULT <0|1> <description>" after its
# diagnostics (report() in crash.sh makes TAP of them).
CHECKS = {
    "db": (lambda a: cmd_db(a.state),
           "meta.db passes integrity_check and foreign_key_check; packs and uploads agree"),
    "subset": (lambda a: cmd_subset(a.state, a.snap),
               "every version committed before the kill is still there"),
    "manifests": (lambda a: cmd_manifests(a.state),
                  "every manifest is whole and names only chunks of committed packs (D)"),
    "readable": (lambda a: cmd_readable(a.state, a.snap, a.src, a.nsample, a.seed),
                 "versions from before the kill read back with their size and content"),
    "staging": (lambda a: cmd_staging(a.state, a.postkill),
                "staging: the crash's leftovers are gone, no *.tmp, only packs meta.db knows (Q)"),
    "leftover": (lambda a: cmd_leftover(a.state, a.known),
                 "staging holds no copy of a pack uploaded already"),
    "repo": (lambda a: cmd_repo(a.state),
             "repository: every pack uploaded once and whole, nothing unknown (R)"),
    "live": (lambda a: cmd_live(a.src),
             "every live file reads back equal (what was being written is captured afresh)"),
    "names": (lambda a: cmd_names(a.state, a.src),
              "meta.db's live names are the tree's"),
    # BUG (see the report): the scan drops a directory removed behind the
    # mount but leaves the names under it live, and their dirty rows.
    "orphans": (lambda a: cmd_orphans(a.state, a.known + ".orphans"),
                "no live name in a dead directory, no nameless live inode, no dirty row left"),
}

class Args:
    pass

if sys.argv[1] == "snap":
    cmd_snap(sys.argv[2], sys.argv[3])
    sys.exit(0)
if sys.argv[1] == "live":
    sys.exit(0 if cmd_live(sys.argv[2]) else 1)
a = Args()
names = sys.argv[2].split(",")
a.state, a.snap, a.postkill, a.src = sys.argv[3:7]
a.nsample, a.seed = int(sys.argv[7]), int(sys.argv[8])
a.known = a.postkill + ".reported"
for n in names:
    fn, desc = CHECKS[n]
    sys.stdout.flush()
    try:
        r = fn(a)
    except Exception as e:      # a check that cannot run fails
        bad("%s: %s: %s" % (n, type(e).__name__, e))
        r = False
    print("RESULT %d %s" % (0 if r else 1, desc))
    sys.stdout.flush()
EOF
export BACKUPFS
chk() { "$PY" "$T/check.py" "$@"; }
# report PREFIX N < OUTPUT: check.py's N RESULT lines as TAP, the rest as
# is; fewer than N (check.py died) is a failure too.
report() {
	local line st n=0
	while IFS= read -r line; do
		case $line in
		"RESULT "*) st=${line#RESULT }; ok "${st%% *}" "$1: ${st#* }"
			    n=$((n + 1)) ;;
		*) echo "#   $line" | sed 's/^#   #   /#   /' ;;
		esac
	done
	[ $n -eq "$2" ] || ok 1 "$1: all $2 checks ran (only $n did)"
}

ms_sleep() { sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; }

# crash_daemon MOUNTPOINT [WORKLOAD-PID]: kill -9 the daemon, then the
# workload (its whole session), reap both, unmount the stale mount.
crash_daemon() {
	kill -9 "$BFS_PID" 2>/dev/null
	wait "$BFS_PID" 2>/dev/null
	if [ -n "${2:-}" ]; then
		kill -9 -- "-$2" 2>/dev/null
		wait "$2" 2>/dev/null
	fi
	fusermount3 -u "$1" 2>/dev/null || fusermount3 -uz "$1" 2>/dev/null
	for _ in $(seq 1 100); do
		is_mounted "$1" || return 0
		sleep 0.02
	done
	return 1
}

note() { echo "--- crash.sh: $*" >>"$T/daemon.log"; }

# --- 1. rounds of kill -9 under a workload ------------------------------------
# Initial files (imported by init, so they have versions from the start).
"$PY" - "$S/w" <<'EOF'
import sys
d = sys.argv[1]
for k in range(3):
    open("%s/log%d" % (d, k), "wb").write(b"r000 k%d seq 0000000\n" % k)
    open("%s/ow%d" % (d, k), "wb").write(b"gen 0.0\n" * 100)
open(d + "/stream", "wb").write(b"r000 s0000000\n")
open(d + "/big", "wb").write(b"".join(
    (b"B %08d g0.0 " % i).ljust(4095, b".") + b"\n" for i in range(1024)))
EOF
for i in 1 2 3; do head -c $((i * 100000)) /dev/urandom >"$S/static/static$i"; done

bfs_mount "$S" || { ok 1 "first mount"; exit 1; }
state=$(bfs_state "$S")
"$BACKUPFS" sync --timeout 60 "$S"
ok $? "first mount and sync"

for r in $(seq 1 "$ROUNDS"); do
	delay=$((50 + RANDOM % 1451))
	wseed=$RANDOM
	setsid "$PY" "$T/work.py" "$S/w" "$r" "$S" "$BACKUPFS" "$wseed" \
		>/dev/null 2>"$T/work.err" &
	wpid=$!
	ms_sleep "$delay"
	if [ $((r % 5)) = 0 ]; then
		# Every fifth round: the workload stops (its files close), then
		# "backupfs umount" (sync, unmount, final commit and upload) and
		# kill -9 of the daemon a random 0-60 ms into it.
		kill -9 -- "-$wpid" 2>/dev/null
		wait "$wpid" 2>/dev/null
		chk snap "$state" "$T/snap" 2>"$T/snap.err" ||
			echo "# snapshot failed: $(cat "$T/snap.err")"
		"$BACKUPFS" umount "$S" >/dev/null 2>&1 &
		upid=$!
		d=$((RANDOM % 60))
		ms_sleep "$d"
		alive=$(kill -0 "$BFS_PID" 2>/dev/null && echo alive || echo "had exited")
		note "round $r: kill -9 $d ms into 'backupfs umount'"
		crash_daemon "$S"
		ok $? "round $r: kill -9 $d ms into 'backupfs umount' (daemon $alive), mount gone"
		wait "$upid" 2>/dev/null
	else
		# What is committed now stays committed (the daemon is alive:
		# a WAL reader sees a consistent snapshot).
		chk snap "$state" "$T/snap" 2>"$T/snap.err" ||
			echo "# snapshot failed: $(cat "$T/snap.err")"
		note "round $r: kill -9 after $delay ms"
		crash_daemon "$S" "$wpid"
		ok $? "round $r: kill -9 after $delay ms of writes, stale mount unmounted"
	fi
	[ ! -s "$T/work.err" ]
	ok $? "round $r: the workload saw no error before the daemon died" ||
		sed 's/^/#   /' "$T/work.err" | tail -3
	ls "$state/staging" >"$T/postkill"
	recover_kill=""
	if [ $((RANDOM % 4)) = 0 ]; then
		# Again, while the new daemon recovers (staging, scan, recapture).
		recover_kill=$((RANDOM % 80))
		bfs_mount "$S" >/dev/null
		ms_sleep "$recover_kill"
		note "round $r: kill -9 again $recover_kill ms after the remount"
		crash_daemon "$S"
		ls "$state/staging" >>"$T/postkill"
		recover_kill=" (and again $recover_kill ms into the recovery)"
	fi
	bfs_mount "$S"
	ok $? "round $r: mount again$recover_kill" || break
	out=$("$BACKUPFS" sync --timeout 60 "$S" 2>&1)
	ok $? "round $r: sync after the remount" || echo "#   $out"
	report "round $r" 10 < <(chk checks \
		db,subset,manifests,readable,staging,leftover,repo,live,names,orphans \
		"$state" "$T/snap" "$T/postkill" "$S" 8 "$RANDOM" 2>&1)
done
bfs_umount "$S"
ok $? "clean unmount after $ROUNDS rounds"
wait "$BFS_PID"
is $? 0 "the last daemon exits 0"
t1=$(date +%s%N)
echo "# part 1: $(( (t1 - t_start) / 1000000 )) ms"

# from_repo_alone STATE SOURCE DESC: with staging/ and cache/ moved away,
# every file under SOURCE (not mounted) reads back from the repository.
from_repo_alone() {
	local st=$1 src=$2 out
	mkdir -p "$T/away"
	rm -rf "$T/away/"*
	mv "$st/staging" "$T/away/staging" && mv "$st/cache" "$T/away/cache" &&
		mkdir -m 700 "$st/staging" "$st/cache"
	out=$(chk live "$src" 2>&1); ok $? "$3"; echo "$out" | sed "s/^\([^#]\)/#   \1/"
	rm -rf "$st/staging" "$st/cache"
	mv "$T/away/staging" "$st/staging"; mv "$T/away/cache" "$st/cache"
}
from_repo_alone "$state" "$S" "with staging/ moved away, every file reads back from the repository alone"

# §7, last row: files changed while unmounted are found by the stat scan
# "(size, mtime, ctime, ino)".  One file grows; another is rewritten with
# its size kept and its mtime put back, as cp -p, rsync -t or tar do: only
# its ctime tells.
"$PY" - "$S/static" <<'EOF2'
import os, sys
d = sys.argv[1]
with open(d + "/static2", "ab") as f:
    f.write(b"appended while unmounted\n")
p = d + "/static1"
st = os.stat(p)
data = open(p, "rb").read()
open(p, "r+b").write(bytes(b ^ 0x5a for b in data[:4096]))
os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
EOF2
if bfs_mount "$S" && "$BACKUPFS" sync --timeout 60 "$S"; then
	"$BACKUPFS" cat "$S/static/static2" | cmp -s - "$S/static/static2"
	ok $? "changed while unmounted: a file that grew is captured at the mount"
	# BUG (see the report): the scan compares size and mtime only.
	"$BACKUPFS" cat "$S/static/static1" | cmp -s - "$S/static/static1"
	ok $? "changed while unmounted: a same-size rewrite with its mtime put back is captured (ctime, doc §7)"
	bfs_umount "$S"
else
	ok 1 "mount after changes made while unmounted"
fi

# A directory removed behind the mount after a crash, with a file in it
# closed but not yet in a version and one still open: the scan must drop
# the whole subtree (names, inodes, dirty rows), not the directory alone;
# otherwise its files stay "live" in a dead directory and "status" shows
# their dirty rows as an RPO lag that grows for ever.
if bfs_mount "$S"; then
	mkdir "$S/gone"
	echo closed >"$S/gone/f"
	exec 3>>"$S/gone/g"
	echo open >&3
	"$PY" - "$state/meta.db" <<'EOF2'
import sqlite3, sys, time
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True, timeout=30)
for _ in range(500):        # until the writer thread has both dirty rows
    if db.execute("SELECT count(*) FROM dirty").fetchone()[0] >= 2:
        break
    time.sleep(0.01)
EOF2
	note "kill -9 with gone/f and gone/g dirty"
	crash_daemon "$S"
	exec 3>&-
	rm -rf "$S/gone"
	if bfs_mount "$S" && "$BACKUPFS" sync --timeout 60 "$S"; then
		# BUG (see the report): scan_dir drops the directory's name only.
		report "directory removed after a crash" 2 < <(chk checks names,orphans \
			"$state" - "$T/gone" "$S" 0 0 2>&1)
		lag=$("$BACKUPFS" status --json "$S" | grep -o '"rpo_lag_seconds":[0-9.]*')
		is "$lag" '"rpo_lag_seconds":0.000' "directory removed after a crash: status shows no RPO lag once synced"
		bfs_umount "$S"
	else
		ok 1 "mount after a directory was removed behind a crashed mount"
	fi
else
	ok 1 "mount for the removed-directory case"
fi

# --- 2. kill -9 of init, during its import and during its upload -------------
B=$T/big
mkdir -p "$B/rnd" "$B/dup" "$B/text"
for i in $(seq 1 20); do head -c 6000000 /dev/urandom >"$B/rnd/r$i"; done
for i in $(seq 1 10); do cp "$B/rnd/r$i" "$B/dup/c$i"; done
"$PY" - "$B/text" <<'EOF2'
import sys
for i in range(400):
    open("%s/t%d" % (sys.argv[1], i), "w").write(
        ("line of file %d with some words to compress\n" % i) * (i % 50 * 100 + 10))
EOF2
cp -al "$B" "$T/big2"	# the same tree under a second name, for a second init

# named_dir OUTPUT: the first quoted path in OUTPUT that is a directory.
named_dir() {
	local p
	for p in $(printf '%s\n' "$1" | grep -o "'[^']*'" | tr -d "'"); do
		p=${p#file://}
		[ "$p" != "$src" ] && [ -d "$p" ] && { echo "$p"; return 0; }
	done
	return 1
}

# init_crash SOURCE WHEN: "backupfs init SOURCE" killed -9 during its
# import (a random 100-1500 ms in) or its upload (0-400 ms after the first
# object reaches the repository); then init again as a user would.
init_crash() {
	local src=$1 when=$2 pid d t0 st out dir n what phase
	what="init killed during its $when"
	"$BACKUPFS" init "$src" >"$T/init-killed.log" 2>&1 &
	pid=$!
	t0=$(date +%s%N)
	if [ "$when" = import ]; then
		# A random 100-1500 ms, cut short if the upload starts.
		n=$((100 + RANDOM % 1401))
		while [ $((($(date +%s%N) - t0) / 1000000)) -lt $n ] &&
			kill -0 "$pid" 2>/dev/null &&
			! compgen -G "$T/state/repos/*-$(basename "$src")-*/data/*/*" \
				>/dev/null; do
			sleep 0.01
		done
	else
		for _ in $(seq 1 1000); do
			compgen -G "$T/state/repos/*-$(basename "$src")-*/data/*/*" \
				>/dev/null && break
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.01
		done
		ms_sleep $((RANDOM % 400))
	fi
	phase=import
	compgen -G "$T/state/repos/*-$(basename "$src")-*/data/*/*" >/dev/null &&
		phase=upload
	kill -9 "$pid" 2>/dev/null
	d=$((($(date +%s%N) - t0) / 1000000))
	wait "$pid" 2>/dev/null
	st=$?
	echo "# $what: killed $d ms in, exit $st$([ $st = 0 ] &&
		echo ' (it had finished)'), in its $phase"
	out=$("$BACKUPFS" init "$src" 2>&1)
	st=$?
	dir=""
	if [ $st -eq 0 ]; then
		ok 0 "$what: init again succeeds at once"
	elif printf '%s' "$out" | grep -q "is already initialised"; then
		ok 0 "$what: init had finished (already initialised)"
	else
		dir=$(named_dir "$out")
		case $dir in
		"$T/state/"*-"$(basename "$src")"-*) ok 0 "$what: init again refuses, naming the half-made state '$dir'" ;;
		*) ok 1 "$what: init again refuses, naming the half-made state"
		   echo "#   exit $st: $out" ;;
		esac
	fi
	if [ -n "$dir" ]; then
		# The refusal names the state and, if the init got that far,
		# its repository: remove what it names.
		repo_left=$(printf '%s' "$out" | sed -n "s/.*and its repository '\([^']*\)'.*/\1/p")
		rm -rf "$dir" ${repo_left:+"$repo_left"}
		out=$("$BACKUPFS" init "$src" 2>&1)
		ok $? "$what: after removing what the refusal names, init succeeds" ||
			echo "$out" | sed 's/^/#   /'
		n=0
		until [ $n -ge 3 ] || grep -q "^$src	" "$T/state/registry" 2>/dev/null; do
			dir=$(named_dir "$out") || break
			echo "#   removing '$dir' too, as init now says"
			rm -rf "$dir"
			out=$("$BACKUPFS" init "$src" 2>&1)
			n=$((n + 1))
		done
		grep -q "^$src	" "$T/state/registry" 2>/dev/null
		ok $? "$what: once what init names is removed, it succeeds" ||
			echo "$out" | sed 's/^/#   /'
	fi
	if bfs_mount "$src"; then
		"$BACKUPFS" sync --timeout 60 "$src" &&
			"$BACKUPFS" cat "$src/rnd/r7" | cmp -s - "$src/rnd/r7" &&
			"$BACKUPFS" cat "$src/text/t399" | cmp -s - "$src/text/t399" &&
			bfs_umount "$src"
		ok $? "$what: then the source mounts, and its files read back"
	else
		ok 1 "$what: then the source mounts"
	fi
}
init_crash "$B" import
init_crash "$T/big2" upload
rm -rf "$B" "$T/big2"
t2=$(date +%s%N)
echo "# part 2: $(( (t2 - t1) / 1000000 )) ms"

# --- 3. kill -9 of the daemon while it uploads --------------------------------
U=$T/up
mkdir -p "$U"
echo small >"$U/small"
bfs_mount "$U" || { ok 1 "mount for the upload rounds"; exit 1; }
ustate=$(bfs_state "$U")
for r in 1 2; do
	# 100 MB of new data: 6+ packs to seal, commit and upload.
	setsid bash -c 'for i in 1 2 3 4 5; do dd if=/dev/urandom \
		of="$0/data$1.$i" bs=1M count=20 status=none || exit; done' \
		"$U" "$r" 2>/dev/null &
	wpid=$!
	if [ $r = 1 ]; then wait "$wpid"; wpid=""; fi	# round 2: still writing
	"$BACKUPFS" sync --timeout 120 "$U" >/dev/null 2>&1 &
	spid=$!
	pending=no
	for _ in $(seq 1 500); do
		"$BACKUPFS" status --json "$U" 2>/dev/null |
			grep -q '"upload_pending_packs":[1-9]' && { pending=yes; break; }
		sleep 0.01
	done
	d=$((RANDOM % 300))
	ms_sleep "$d"
	note "upload round $r: kill -9 $d ms after uploads were pending"
	crash_daemon "$U" "$wpid"
	ok $? "upload round $r: kill -9 $d ms after 'status' showed uploads pending ($pending)"
	kill "$spid" 2>/dev/null
	wait "$spid" 2>/dev/null
	ls "$ustate/staging" >"$T/upostkill"
	bfs_mount "$U"
	ok $? "upload round $r: mount again" || break
	out=$("$BACKUPFS" sync --timeout 120 "$U" 2>&1)
	ok $? "upload round $r: sync after the remount" || echo "#   $out"
	report "upload round $r" 5 < <(chk checks db,staging,leftover,repo,live \
		"$ustate" - "$T/upostkill" "$U" 0 0 2>&1)
done
bfs_umount "$U"
ok $? "clean unmount"
from_repo_alone "$ustate" "$U" "with staging/ moved away, every uploaded file reads back from the repository alone"
t3=$(date +%s%N)
echo "# part 3: $(( (t3 - t2) / 1000000 )) ms"

# --- 4. a write just before the kill, where timestamps are coarse -------------
# Invariant 2 of src/engine.c: a written file has a dirty row "or its
# EV_DIRTY event is queued" -- in memory, lost by kill -9.  The next mount
# then sees the write only through the file's size and mtime.  Where
# timestamps are coarse (here ext4 with 128-byte inodes: 1 s; also vfat,
# NFS, and every filesystem at jiffy granularity before Linux 6.13) a
# rewrite of the same size in the same tick as the last version changes
# neither: the write is in the file and never in a version.
lo_teardown() {	# whatever happened: no mount left on or in $T/lo
	if is_mounted "$T/lo/src" || stat "$T/lo/src" 2>&1 | grep -q 'not connected'
	then
		fusermount3 -uz "$T/lo/src" 2>/dev/null
		wait "$BFS_PID" 2>/dev/null
	fi
	if mountpoint -q "$T/lo"; then
		umount "$T/lo" 2>/dev/null || umount -l "$T/lo"
	fi
}
lo_cleanup() { lo_teardown; cleanup; }
if command -v mkfs.ext4 >/dev/null && truncate -s 32M "$T/ext4.img" &&
	mkfs.ext4 -q -F -I 128 "$T/ext4.img" >/dev/null 2>&1 &&
	mkdir -p "$T/lo" && mount -o loop "$T/ext4.img" "$T/lo" 2>/dev/null; then
	trap lo_cleanup EXIT
	L=$T/lo/src
	mkdir -p "$L"
	head -c 100000 /dev/urandom >"$L/f"
	lost=0 tries=0
	if bfs_mount "$L"; then
		for i in 1 2 3; do
			tries=$i
			# A version of f (sync); then, with meta.db's commits
			# held back a moment (another process's write
			# transaction, as a slow disk would), 4 KiB rewritten in
			# place and kill -9 as soon as the write has returned.
			# Without the hold the write is lost in 25-70% of tries.
			# (The shell's "Killed" notice goes to /dev/null.)
			{ "$PY" - "$L/f" "$BFS_PID" "$BACKUPFS" "$L" \
				"$(bfs_state "$L")/meta.db" <<'EOF2'
import os, sqlite3, subprocess, sys
f, pid, bfs, mnt, dbpath = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
fd = os.open(f, os.O_WRONLY)
os.pwrite(fd, os.urandom(4096), 4096)
os.close(fd)
subprocess.run([bfs, "sync", mnt], check=True)
db = sqlite3.connect(dbpath, isolation_level=None, timeout=10)
db.execute("BEGIN IMMEDIATE")
fd = os.open(f, os.O_WRONLY)
os.pwrite(fd, os.urandom(4096), 8192)
os.kill(pid, 9)
db.execute("ROLLBACK")
db.close()
EOF2
			note "coarse timestamps: kill -9 right after a write ($i)"
			crash_daemon "$L"; } 2>/dev/null
			bfs_mount "$L" >/dev/null && "$BACKUPFS" sync "$L" || break
			"$BACKUPFS" cat "$L/f" | cmp -s - "$L/f" ||
				{ lost=$((lost + 1)); echo "# try $i: the write is not in any version"; }
		done
		bfs_umount "$L"
	fi
	# BUG (see above): a dirty mark that is only queued dies with the daemon.
	is "$lost of $tries" "0 of 3" "coarse timestamps: a write replied just before kill -9 is captured at the next mount"
	lo_teardown
	trap cleanup EXIT
else
	echo "# part 4 skipped: cannot make and loop-mount an ext4 image"
fi
echo "# part 4: $(( ($(date +%s%N) - t3) / 1000000 )) ms; total $(( ($(date +%s%N) - t_start) / 1000000 )) ms"
