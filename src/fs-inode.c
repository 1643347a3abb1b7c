/*
 * fs-inode.c - see fs-inode.h.  A chained hash table that doubles when its
 * load passes 1; entries are never moved in memory, so their addresses can
 * serve as FUSE node ids.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "banned.h"
#include "fs-inode.h"

#define PINNED UINT64_MAX	/* nlookup of an entry forget never frees */

static size_t hash_key(dev_t dev, ino_t ino)
{
	uint64_t h = (uint64_t)ino * 0x9E3779B97F4A7C15ULL;

	h ^= (uint64_t)dev * 0xC2B2AE3D27D4EB4FULL;
	return (size_t)(h ^ (h >> 29));
}

int inode_table_init(struct inode_table *t)
{
	t->nbuckets = 1024;
	t->count = 0;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	if (!t->buckets)
		return -ENOMEM;
	pthread_mutex_init(&t->lock, NULL);
	return 0;
}

void inode_table_release(struct inode_table *t)
{
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct fs_inode *in = t->buckets[i], *next;

		for (; in; in = next) {
			next = in->next;
			if (in->nlookup == PINNED)
				continue;
			if (in->fd >= 0)
				close(in->fd);
			free(in);
		}
	}
	free(t->buckets);
	t->buckets = NULL;
	t->count = 0;
	pthread_mutex_destroy(&t->lock);
}

static void grow(struct inode_table *t)
{
	size_t n = t->nbuckets * 2;
	struct fs_inode **b = calloc(n, sizeof(*b));

	if (!b)
		return;	/* longer chains, still correct */
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct fs_inode *in = t->buckets[i], *next;

		for (; in; in = next) {
			size_t h = hash_key(in->dev, in->ino) & (n - 1);

			next = in->next;
			in->next = b[h];
			b[h] = in;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = n;
}

static struct fs_inode **find_slot(struct inode_table *t, dev_t dev, ino_t ino)
{
	struct fs_inode **p = &t->buckets[hash_key(dev, ino) & (t->nbuckets - 1)];

	while (*p && ((*p)->dev != dev || (*p)->ino != ino))
		p = &(*p)->next;
	return p;
}

struct fs_inode *inode_table_get(struct inode_table *t, int fd,
				 dev_t dev, ino_t ino, mode_t type,
				 int *fd_used)
{
	struct fs_inode *in;

	*fd_used = 0;
	pthread_mutex_lock(&t->lock);
	in = *find_slot(t, dev, ino);
	if (in) {
		if (in->nlookup != PINNED)
			in->nlookup++;
		pthread_mutex_unlock(&t->lock);
		return in;
	}
	in = calloc(1, sizeof(*in));
	if (!in) {
		pthread_mutex_unlock(&t->lock);
		return NULL;
	}
	in->fd = fd;
	in->dev = dev;
	in->ino = ino;
	in->type = type;
	in->nlookup = 1;
	if (t->count >= t->nbuckets)
		grow(t);
	struct fs_inode **slot = find_slot(t, dev, ino);
	in->next = *slot;
	*slot = in;
	t->count++;
	*fd_used = 1;
	pthread_mutex_unlock(&t->lock);
	return in;
}

void inode_table_ref(struct inode_table *t, struct fs_inode *in, uint64_t n)
{
	pthread_mutex_lock(&t->lock);
	if (in->nlookup != PINNED)
		in->nlookup += n;
	pthread_mutex_unlock(&t->lock);
}

int inode_table_forget(struct inode_table *t, struct fs_inode *in, uint64_t n)
{
	pthread_mutex_lock(&t->lock);
	if (in->nlookup == PINNED) {
		pthread_mutex_unlock(&t->lock);
		return 0;
	}
	/* A kernel that forgets more than it looked up is a bug; clamp. */
	in->nlookup = n >= in->nlookup ? 0 : in->nlookup - n;
	if (in->nlookup) {
		pthread_mutex_unlock(&t->lock);
		return 0;
	}
	struct fs_inode **p = find_slot(t, in->dev, in->ino);
	if (*p == in)
		*p = in->next;
	t->count--;
	pthread_mutex_unlock(&t->lock);
	if (in->fd >= 0)
		close(in->fd);
	free(in);
	return 1;
}

void inode_table_pin(struct inode_table *t, struct fs_inode *in)
{
	pthread_mutex_lock(&t->lock);
	in->nlookup = PINNED;
	struct fs_inode **slot = find_slot(t, in->dev, in->ino);
	in->next = *slot;
	*slot = in;
	t->count++;
	pthread_mutex_unlock(&t->lock);
}

size_t inode_table_count(struct inode_table *t)
{
	size_t n;

	pthread_mutex_lock(&t->lock);
	n = t->count;
	pthread_mutex_unlock(&t->lock);
	return n;
}
