/*
 * test-capture.c - the capture engine (src/capture.h): a 32 MiB file
 * captured, committed and rebuilt from its packs; dedup on a second
 * capture; incremental captures after an overwrite, an insert, an append,
 * a truncation and to empty, each reading little and rebuilding exactly;
 * manifest blobs that must not parse; and recovery of packs that no commit
 * names (invariant Q), including after a failed commit.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "banned.h"
#include "capture.h"
#include "crypto.h"
#include "meta.h"
#include "tap.h"

#define MIB		(1u << 20)
#define RANDOM_BYTES	(24u * MIB)
#define TEXT_BYTES	(8u * MIB)


static void fill_random(uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(test_rand() >> 24);
}

static void fill_text(uint8_t *p, size_t len)
{
	static const char *const words[] = { "the ", "backup ", "overlay ",
		"keeps ", "every ", "version\n", "of ", "a ", "file, ",
		"chunk ", "by ", "chunk. ", "Restore ", "any ", "instant " };
	size_t i = 0;

	while (i < len) {
		const char *w = words[test_rand() % (sizeof(words) / sizeof(*words))];
		size_t n = strlen(w);

		if (n > len - i)
			n = len - i;
		memcpy(p + i, w, n);
		i += n;
	}
}

static void must(int cond, const char *what)
{
	if (!cond) {
		printf("Bail out! %s failed\n", what);
		exit(99);
	}
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int write_file(const char *path, const uint8_t *data, size_t len)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	size_t off = 0;

	if (fd < 0)
		return -1;
	while (off < len) {
		ssize_t r = write(fd, data + off, len - off);

		if (r <= 0) {
			close(fd);
			return -1;
		}
		off += (size_t)r;
	}
	return fd;
}

/* Rebuilds the file from its manifest and compares it with want. */
static int rebuild_equals(struct capture *c, const struct manifest *m,
			  const uint8_t *want, size_t len)
{
	static uint8_t chunk[CHUNKER_MAX_MAX];

	if (manifest_size(m) != len)
		return 0;
	for (size_t i = 0; i < m->n; i++) {
		size_t got;

		if (capture_read_chunk(c, m->e[i].id, chunk, sizeof(chunk),
				       &got) || got != m->e[i].length ||
		    memcmp(chunk, want + m->e[i].offset, got))
			return 0;
	}
	return 1;
}

static int same_manifest(const struct manifest *a, const struct manifest *b)
{
	if (a->n != b->n)
		return 0;
	for (size_t i = 0; i < a->n; i++)
		if (a->e[i].offset != b->e[i].offset ||
		    a->e[i].length != b->e[i].length ||
		    memcmp(a->e[i].id, b->e[i].id, CRYPTO_ID_BYTES))
			return 0;
	return 1;
}

/* Counts staging files: packs, indexes, *.tmp. */
static void count_staging(int dirfd, int *packs, int *indexes, int *tmps)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	struct dirent *de;

	*packs = *indexes = *tmps = 0;
	if (!d)
		return;
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);

		if (n > 4 && !strcmp(de->d_name + n - 4, ".tmp"))
			(*tmps)++;
		else if (n == 64)
			(*packs)++;
		else if (n == 70 && !strcmp(de->d_name + 64, ".index"))
			(*indexes)++;
	}
	closedir(d);
}

static int all_in_meta(struct meta *m, const struct manifest *mf)
{
	for (size_t i = 0; i < mf->n; i++) {
		uint64_t p, o;
		uint32_t l;

		if (meta_chunk_find(m, mf->e[i].id, &p, &o, &l))
			return 0;
	}
	return 1;
}

static int none_in_meta(struct meta *m, const struct manifest *mf,
			const struct manifest *except)
{
	for (size_t i = 0; i < mf->n; i++) {
		uint64_t p, o;
		uint32_t l;
		int shared = 0;

		for (size_t j = 0; except && j < except->n && !shared; j++)
			shared = !memcmp(except->e[j].id, mf->e[i].id,
					 CRYPTO_ID_BYTES);
		if (!shared && meta_chunk_find(m, mf->e[i].id, &p, &o, &l) !=
		    -ENOENT)
			return 0;
	}
	return 1;
}

struct ver {
	uint64_t inode;
	const struct manifest *mf;
	int fail;
};

static int add_version(void *arg, struct meta *m)
{
	struct ver *v = arg;
	struct meta_version mv = { 0 };
	uint8_t *blob;
	size_t len;
	int err;

	if (v->fail)
		return -EIO;
	err = manifest_encode(v->mf, &blob, &len);
	if (err)
		return err;
	mv.inode = v->inode;
	mv.t = meta_now(m);
	mv.size = manifest_size(v->mf);
	mv.mode = S_IFREG | 0644;
	mv.reason = META_REASON_CLOSE;
	mv.exact = 1;
	mv.manifest = blob;
	mv.manifest_len = len;
	err = meta_version_add(m, &mv);
	free(blob);
	return err;
}

static void test_decode(const struct manifest *mf)
{
	struct manifest d = { 0 };
	uint8_t *blob, *bad;
	size_t len;

	ok(manifest_encode(mf, &blob, &len) == 0 &&
	   len == mf->n * MANIFEST_ENTRY_BYTES, "manifest encodes, 44 B/entry");
	ok(manifest_decode(blob, len, &d) == 0 && same_manifest(&d, mf),
	   "manifest round-trips");
	bad = malloc(len);
	memcpy(bad, blob, len);
	bad[MANIFEST_ENTRY_BYTES] ^= 1;		/* entry 1's offset */
	ok(manifest_decode(bad, len, &d) == -EBADMSG && d.n == 0,
	   "non-contiguous offsets rejected");
	memcpy(bad, blob, len);
	bad[0] = 1;
	ok(manifest_decode(bad, len, &d) == -EBADMSG,
	   "first offset not 0 rejected");
	memcpy(bad, blob, len);
	memset(bad + 40, 0, 4);
	ok(manifest_decode(bad, MANIFEST_ENTRY_BYTES, &d) == -EBADMSG,
	   "zero length rejected");
	memset(bad + 40, 0xff, 4);
	ok(manifest_decode(bad, MANIFEST_ENTRY_BYTES, &d) == -EBADMSG,
	   "huge length rejected");
	bad[40] = 0x01; bad[41] = 0; bad[42] = 0; bad[43] = 0x01;
	ok(manifest_decode(bad, MANIFEST_ENTRY_BYTES, &d) == -EBADMSG,
	   "length CHUNKER_MAX_MAX + 1 rejected");
	ok(manifest_decode(blob, len - 1, &d) == -EBADMSG &&
	   manifest_decode(blob, len - MANIFEST_ENTRY_BYTES + 3, &d) == -EBADMSG,
	   "truncated blob rejected");
	ok(manifest_decode(blob, 0, &d) == 0 && d.n == 0,
	   "empty blob is the empty file");
	free(bad);
	free(blob);
	manifest_release(&d);
}

/*
 * With exact dirty ranges, an incremental capture must give the manifest a
 * full capture gives: 40 random overwrites, appends and truncations.
 */
static void test_random_edits(struct capture *c, const char *path,
			      uint8_t *data)
{
	struct manifest old = { 0 }, inc = { 0 }, full = { 0 };
	size_t size = 4 * MIB, agree = 0, rounds = 40;
	uint64_t read_inc = 0;
	int fd;

	fill_text(data, size / 2);
	fill_random(data + size / 2, size / 2);
	fd = write_file(path, data, size);
	capture_file(c, fd, NULL, NULL, 0, &old);
	for (size_t k = 0; k < rounds; k++) {
		struct capture_range r[2];
		size_t nr = 0, off, len;

		switch (test_rand() % 4) {
		case 0: case 1:		/* overwrite one or two spans */
			for (int j = 0; j < 1 + (int)(test_rand() % 2); j++) {
				off = (size_t)(test_rand() % size);
				len = 1 + (size_t)(test_rand() % 20000);
				if (len > size - off)
					len = size - off;
				fill_random(data + off, len);
				must(pwrite(fd, data + off, len, (off_t)off) >= 0,
				     "pwrite");
				r[nr].off = off;
				r[nr++].len = len;
			}
			break;
		case 2:			/* append */
			len = 1 + (size_t)(test_rand() % (300 << 10));
			fill_text(data + size, len);
			must(pwrite(fd, data + size, len, (off_t)size) >= 0,
			     "pwrite");
			r[nr].off = size;
			r[nr++].len = len;
			size += len;
			break;
		default:		/* truncate, then maybe rewrite a tail */
			size -= (size_t)(test_rand() % (size / 8));
			must(ftruncate(fd, (off_t)size) == 0, "ftruncate");
			break;
		}
		memset(&c->st, 0, sizeof(c->st));
		if (capture_file(c, fd, &old, r, nr, &inc))
			break;
		read_inc += c->st.bytes_read;
		if (capture_file(c, fd, NULL, NULL, 0, &full))
			break;
		agree += same_manifest(&inc, &full);
		manifest_release(&old);
		old = inc;
		inc.e = NULL;
		inc.n = inc.cap = 0;
	}
	ok(agree == rounds && capture_commit(c, NULL, NULL) == 0 &&
	   rebuild_equals(c, &old, data, size),
	   "%zu/%zu random edits: incremental manifest == full capture, "
	   "rebuilt (read %llu KiB in all)", agree, rounds,
	   (unsigned long long)(read_inc >> 10));
	manifest_release(&old);
	manifest_release(&inc);
	manifest_release(&full);
	close(fd);
}

int main(void)
{
	char dir[] = "/tmp/test-capture-XXXXXX", path[256], err[256];
	static struct master_key mk;
	struct manifest m1 = { 0 }, m2 = { 0 }, m3 = { 0 }, mx = { 0 };
	struct capture c, c2;
	struct capture_range r;
	struct meta *m = NULL;
	struct ver v = { 0 };
	size_t size = RANDOM_BYTES + TEXT_BYTES, cap = size + 4 * MIB;
	int sfd, fd, packs, idx, tmps, rc, np0, ni0;
	uint8_t *data;
	struct stat st;
	uint64_t oldsize;
	double t0, t1;

	if (crypto_init() || !mkdtemp(dir))
		return 99;
	crypto_master_key_generate(&mk);
	snprintf(path, sizeof(path), "%s/meta.db", dir);
	rc = meta_open(path, 1, &m, err, sizeof(err));
	ok(rc == 0, "meta_open create: %s", rc ? err : "ok");
	if (rc)
		return tap_done();
	snprintf(path, sizeof(path), "%s/staging", dir);
	mkdir(path, 0700);
	sfd = open(path, O_RDONLY | O_DIRECTORY);
	data = malloc(cap);
	if (sfd < 0 || !data)
		return 99;
	fill_random(data, RANDOM_BYTES);
	fill_text(data + RANDOM_BYTES, TEXT_BYTES);
	snprintf(path, sizeof(path), "%s/file", dir);
	fd = write_file(path, data, size);
	fstat(fd, &st);
	ok(meta_inode_new(m, S_IFREG, (uint64_t)st.st_dev, (uint64_t)st.st_ino,
			  meta_now(m), &v.inode) == 0, "inode row");

	/* Full capture, commit, rebuild. */
	ok(capture_init(&c, m, &mk, sfd) == 0, "capture_init");
	t0 = now_s();
	rc = capture_file(&c, fd, NULL, NULL, 0, &m1);
	v.mf = &m1;
	if (!rc)
		rc = capture_commit(&c, add_version, &v);
	t1 = now_s();
	ok(rc == 0, "32 MiB captured and committed (%d)", rc);
	printf("# capture of %zu MiB new data: %.3f s, %.0f MB/s on one core"
	       " (%llu chunks, %llu B stored)\n", size / MIB, t1 - t0,
	       (double)size / 1e6 / (t1 - t0),
	       (unsigned long long)c.st.chunks_new,
	       (unsigned long long)c.st.bytes_stored);
	ok(manifest_size(&m1) == size && m1.n > 32 && m1.n < 512,
	   "manifest covers the file: %zu chunks", m1.n);
	ok(c.st.chunks_new + c.st.chunks_dedup == m1.n &&
	   c.st.bytes_read == size, "every chunk new or dedup, file read once");
	ok(c.st.bytes_stored < size - TEXT_BYTES / 2,
	   "text compressed (%llu B stored)",
	   (unsigned long long)c.st.bytes_stored);
	ok(all_in_meta(m, &m1), "meta has every chunk");
	count_staging(sfd, &packs, &idx, &tmps);
	ok(packs >= 2 && idx == packs && tmps == 0,
	   "staging: %d packs, %d indexes, %d tmp", packs, idx, tmps);
	ok(rebuild_equals(&c, &m1, data, size), "rebuilt byte for byte");

	/* Again: all dedup, same manifest. */
	memset(&c.st, 0, sizeof(c.st));
	rc = capture_file(&c, fd, NULL, NULL, 0, &m2);
	ok(rc == 0 && c.st.chunks_new == 0 && same_manifest(&m1, &m2),
	   "recapture: 0 new chunks (%llu dedup), identical manifest",
	   (unsigned long long)c.st.chunks_dedup);
	memset(&c.st, 0, sizeof(c.st));
	rc = capture_file(&c, fd, &m1, NULL, 0, &m2);
	ok(rc == 0 && c.st.bytes_read == 0 && same_manifest(&m1, &m2),
	   "incremental with nothing dirty reads nothing");
	ok(capture_commit(&c, NULL, NULL) == 0, "empty commit");

	/* Overwrite 4 KiB in the middle. */
	fill_random(data + 16 * MIB + 1234, 4096);
	must(pwrite(fd, data + 16 * MIB + 1234, 4096, 16 * MIB + 1234) >= 0,
	     "pwrite");
	r.off = 16 * MIB + 1234;
	r.len = 4096;
	memset(&c.st, 0, sizeof(c.st));
	rc = capture_file(&c, fd, &m1, &r, 1, &m2);
	if (!rc)
		rc = capture_commit(&c, NULL, NULL);
	ok(rc == 0 && c.st.chunks_new >= 1 && c.st.chunks_new <= 3,
	   "overwrite: %llu new chunks",
	   (unsigned long long)c.st.chunks_new);
	ok(c.st.bytes_read < 3 * MIB, "overwrite: read %llu bytes",
	   (unsigned long long)c.st.bytes_read);
	ok(rebuild_equals(&c, &m2, data, size), "overwrite: rebuilt");

	/* Insert 100 bytes at 10 MiB: dirty from there to the end. */
	memmove(data + 10 * MIB + 100, data + 10 * MIB, size - 10 * MIB);
	fill_random(data + 10 * MIB, 100);
	size += 100;
	close(fd);
	fd = write_file(path, data, size);
	r.off = 10 * MIB;
	r.len = size - r.off;
	memset(&c.st, 0, sizeof(c.st));
	rc = capture_file(&c, fd, &m2, &r, 1, &m3);
	if (!rc)
		rc = capture_commit(&c, NULL, NULL);
	ok(rc == 0 && c.st.chunks_new >= 1 && c.st.chunks_new <= 3,
	   "insert: %llu new chunks, %llu dedup",
	   (unsigned long long)c.st.chunks_new,
	   (unsigned long long)c.st.chunks_dedup);
	ok(rebuild_equals(&c, &m3, data, size), "insert: rebuilt");

	/* Append 1 MiB + 7: only the tail is read. */
	oldsize = size;
	fill_random(data + size, MIB + 7);
	must(pwrite(fd, data + size, MIB + 7, (off_t)size) >= 0, "pwrite");
	size += MIB + 7;
	r.off = oldsize;
	r.len = size - oldsize;
	memset(&c.st, 0, sizeof(c.st));
	rc = capture_file(&c, fd, &m3, &r, 1, &m2);
	if (!rc)
		rc = capture_commit(&c, NULL, NULL);
	ok(rc == 0 && c.st.bytes_read <= (MIB + 7) + c.cp.max,
	   "append: read %llu bytes", (unsigned long long)c.st.bytes_read);
	ok(rebuild_equals(&c, &m2, data, size), "append: rebuilt");

	/* Truncate to half. */
	size /= 2;
	must(ftruncate(fd, (off_t)size) == 0, "ftruncate");
	memset(&c.st, 0, sizeof(c.st));
	rc = capture_file(&c, fd, &m2, NULL, 0, &m3);
	if (!rc)
		rc = capture_commit(&c, NULL, NULL);
	ok(rc == 0 && manifest_size(&m3) == size && c.st.bytes_read <= c.cp.max,
	   "truncate: covers %llu bytes, read %llu",
	   (unsigned long long)manifest_size(&m3),
	   (unsigned long long)c.st.bytes_read);
	ok(rebuild_equals(&c, &m3, data, size), "truncate: rebuilt");

	/* Empty. */
	must(ftruncate(fd, 0) == 0, "ftruncate");
	rc = capture_file(&c, fd, &m3, NULL, 0, &mx);
	ok(rc == 0 && mx.n == 0, "empty file: 0 entries");
	rc = capture_file(&c, fd, NULL, NULL, 0, &mx);
	ok(rc == 0 && mx.n == 0, "empty file, no old: 0 entries");

	test_decode(&m1);
	test_random_edits(&c, path, data);

	/* Capture without commit (a crash), then recover. */
	count_staging(sfd, &np0, &ni0, &tmps);
	fill_random(data, 3 * MIB);
	close(fd);
	fd = write_file(path, data, 3 * MIB);
	ok(capture_init(&c2, m, &mk, sfd) == 0, "second capture");
	c2.pack_target = MIB;
	rc = capture_file(&c2, fd, NULL, NULL, 0, &mx);
	count_staging(sfd, &packs, &idx, &tmps);
	ok(rc == 0 && packs > np0 && tmps == 1,
	   "uncommitted: %d sealed packs, %d tmp", packs - np0, tmps);
	rc = capture_recover(sfd, m);
	ok(rc == 2 * (packs - np0) + 1, "recover removed %d files", rc);
	count_staging(sfd, &packs, &idx, &tmps);
	ok(packs == np0 && idx == ni0 && tmps == 0,
	   "staging back to the committed packs");
	ok(none_in_meta(m, &mx, NULL), "no chunk rows for them");
	capture_release(&c2);

	/* A commit whose version callback fails. */
	ok(capture_init(&c2, m, &mk, sfd) == 0, "third capture");
	rc = capture_file(&c2, fd, NULL, NULL, 0, &mx);
	v.mf = &mx;
	v.fail = 1;
	ok(rc == 0 && capture_commit(&c2, add_version, &v) == -EIO,
	   "commit fails with the callback's error");
	ok(none_in_meta(m, &mx, NULL), "rolled back: no chunk rows");
	count_staging(sfd, &packs, &idx, &tmps);
	ok(packs == np0 + 1 && idx == ni0 + 1 && tmps == 0,
	   "the sealed pack stays in staging");
	capture_release(&c2);
	rc = capture_recover(sfd, m);
	count_staging(sfd, &packs, &idx, &tmps);
	ok(rc == 2 && packs == np0 && idx == ni0,
	   "recover removes it and its index (%d)", rc);
	ok(capture_recover(sfd, m) == 0, "recover again: nothing to do");
	{
		static uint8_t chunk[CHUNKER_MAX_MAX];
		size_t got, good = 0;

		for (size_t i = 0; i < m1.n; i++)
			good += capture_read_chunk(&c, m1.e[i].id, chunk,
						   sizeof(chunk), &got) == 0 &&
				got == m1.e[i].length;
		ok(good == m1.n && all_in_meta(m, &m1),
		   "committed chunks survive recovery and read back");
	}

	capture_release(&c);
	manifest_release(&m1);
	manifest_release(&m2);
	manifest_release(&m3);
	manifest_release(&mx);
	meta_close(m);
	close(fd);
	close(sfd);
	free(data);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	if (system(path) != 0)
		printf("# could not remove %s\n", dir);
	return tap_done();
}
