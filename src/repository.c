/*
 * repository.c - see repository.h.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "banned.h"
#include "repository.h"
#include "util.h"

static const char config_ad[] = "config";	/* AD: "config\0" */

static struct repository *repository_new(void)
{
	struct repository *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->mk = crypto_master_key_new();
	if (!r->mk) {
		free(r);
		return NULL;
	}
	return r;
}

/* A repository object with its backend open and no key yet. */
static int repository_start(const char *url, struct repository **out,
			    char *err, size_t errlen)
{
	struct repository *r = repository_new();
	int ret;

	*out = NULL;
	if (!r) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	ret = repo_open(url, &r->repo, err, errlen);
	if (ret) {
		repository_close(r);
		return ret;
	}
	*out = r;
	return 0;
}

void repository_close(struct repository *r)
{
	if (!r)
		return;
	repo_close(r->repo);
	crypto_master_key_free(r->mk);
	free(r);
}

static int put_config(struct repository *r, char *err, size_t errlen)
{
	char text[REPO_CONFIG_MAX];
	uint8_t sealed[REPO_CONFIG_MAX + CRYPTO_SEAL_OVERHEAD];
	size_t slen;
	int n = repo_config_format(&r->cfg, text, sizeof(text)), ret;

	if (n < 0)
		return n;
	ret = crypto_seal(r->mk, config_ad, sizeof(config_ad), text, (size_t)n,
			  sealed, sizeof(sealed), &slen);
	if (!ret)
		ret = r->repo->ops->put(r->repo, "config", sealed, slen,
					"STANDARD");
	if (ret)
		snprintf(err, errlen, "cannot write the config of repository "
			 "'%s': %s", r->repo->url, strerror(-ret));
	return ret;
}

int repository_create(const char *url, const char *password, size_t pwlen,
		      const struct repo_config *cfg,
		      const struct repository_kdf *kdf,
		      struct repository **out, char *err, size_t errlen)
{
	struct repository *r;
	uint8_t slot_id[8], *slot = NULL;
	char hex[17], name[32];
	size_t slot_len;
	int ret = repository_start(url, &r, err, errlen);

	*out = NULL;
	if (ret)
		return ret;
	ret = r->repo->ops->create(r->repo);
	if (ret == -EEXIST) {
		snprintf(err, errlen, "a repository already exists at '%s' "
			 "(use it with 'backupfs mount', or choose another "
			 "--repo)", url);
		goto out_close;
	}
	if (ret) {
		snprintf(err, errlen, "cannot create repository '%s': %s", url,
			 strerror(-ret));
		goto out_close;
	}
	if (cfg)
		r->cfg = *cfg;
	else
		repo_config_defaults(&r->cfg);
	crypto_master_key_generate(r->mk);
	ret = crypto_key_wrap(r->mk, password, pwlen, kdf->opslimit,
			      kdf->memlimit, &slot, &slot_len);
	if (ret) {
		snprintf(err, errlen, "cannot wrap the repository key: %s",
			 strerror(-ret));
		goto out_close;
	}
	randombytes_buf(slot_id, sizeof(slot_id));
	sodium_bin2hex(hex, sizeof(hex), slot_id, sizeof(slot_id));
	snprintf(name, sizeof(name), "keys/%s", hex);
	snprintf(r->slot, sizeof(r->slot), "%s", hex);
	ret = r->repo->ops->put(r->repo, name, slot, slot_len, "STANDARD");
	free(slot);
	if (ret) {
		snprintf(err, errlen, "cannot write key slot '%s' to '%s': %s",
			 name, url, strerror(-ret));
		goto out_close;
	}
	/* The config last: a repository without one is not a repository. */
	ret = put_config(r, err, errlen);
	if (ret)
		goto out_close;
	*out = r;
	return 0;

out_close:
	repository_close(r);
	return ret;
}

struct slot_try {
	struct repository *r;
	const char *password;
	size_t pwlen;
	const uint8_t *config;
	size_t config_len;
	int foreign;		/* a slot unwrapped but did not open config */
	char foreign_name[64];
	int corrupt;
	char corrupt_name[64];
};

static int open_config(struct repository *r, const uint8_t *sealed, size_t len)
{
	char text[REPO_CONFIG_MAX];
	size_t n;
	int ret = crypto_open(r->mk, config_ad, sizeof(config_ad), sealed, len,
			      text, sizeof(text), &n);

	if (ret)
		return ret;
	ret = repo_config_parse(text, n, &r->cfg);
	sodium_memzero(text, sizeof(text));
	return ret;
}

static int try_slot(void *arg, const char *name, uint64_t size)
{
	struct slot_try *t = arg;
	void *slot;
	size_t len;
	int ret;

	if (size > 4096 ||
	    t->r->repo->ops->get(t->r->repo, name, 4096, &slot, &len) < 0)
		return 0;	/* not ours to judge; try the others */
	ret = crypto_key_unwrap(slot, len, t->password, t->pwlen, t->r->mk);
	free(slot);
	if (ret == -EINVAL) {
		t->corrupt = 1;
		snprintf(t->corrupt_name, sizeof(t->corrupt_name), "%s", name);
		return 0;
	}
	if (ret)
		return 0;	/* wrong password for this slot */
	if (open_config(t->r, t->config, t->config_len) == 0) {
		/* "keys/<id>": remember which slot, for "backupfs key". */
		snprintf(t->r->slot, sizeof(t->r->slot), "%s", name + 5);
		return 1;	/* done */
	}
	t->foreign = 1;
	snprintf(t->foreign_name, sizeof(t->foreign_name), "%s", name);
	return 0;
}

int repository_open(const char *url, const char *password, size_t pwlen,
		    struct repository **out, char *err, size_t errlen)
{
	struct repository *r;
	struct slot_try t = { 0 };
	void *config = NULL;
	size_t config_len;
	int ret = repository_start(url, &r, err, errlen);

	*out = NULL;
	if (ret)
		return ret;
	ret = r->repo->ops->get(r->repo, "config", 64 * 1024, &config,
				&config_len);
	if (ret == -ENOENT) {
		snprintf(err, errlen, "no backupfs repository at '%s' (run "
			 "'backupfs init' to create one)", url);
		goto out_close;
	}
	if (ret) {
		snprintf(err, errlen, "cannot read '%s' in repository '%s': %s",
			 "config", url, strerror(-ret));
		goto out_close;
	}
	t.r = r;
	t.password = password;
	t.pwlen = pwlen;
	t.config = config;
	t.config_len = config_len;
	ret = r->repo->ops->list(r->repo, "keys/", try_slot, &t);
	if (ret == 1) {
		ret = 0;
		*out = r;
		r = NULL;
	} else if (ret < 0) {
		snprintf(err, errlen, "cannot list the key slots of '%s': %s",
			 url, strerror(-ret));
	} else if (t.foreign) {
		/* The password opened a key that cannot open this config. */
		ret = -EBADMSG;
		snprintf(err, errlen, "repository '%s': the config does not "
			 "match key slot '%s' (the config was modified, or the "
			 "slot belongs to another repository)", url,
			 t.foreign_name);
	} else {
		ret = -EACCES;
		snprintf(err, errlen, "wrong password for repository '%s' (no "
			 "key slot opens with it)%s%s", url,
			 t.corrupt ? "; corrupt key slot: " : "",
			 t.corrupt ? t.corrupt_name : "");
	}
	free(config);
out_close:
	repository_close(r);
	return ret;
}

/*
 * Key slot management.
 */

/* A key slot is CRYPTO_KEYFILE_BYTES; try_slot() skips anything over this. */
#define SLOT_READ_MAX 4096

struct slot_names {
	char **names;		/* "keys/..." as listed */
	uint64_t *sizes;
	size_t n, cap, cap_sizes;
};

static int collect_slot(void *arg, const char *name, uint64_t size)
{
	struct slot_names *s = arg;
	char **names = array_grow(s->names, &s->cap, s->n + 1,
				  sizeof(*s->names));
	uint64_t *sizes;

	if (!names)
		return -ENOMEM;
	s->names = names;
	sizes = array_grow(s->sizes, &s->cap_sizes, s->n + 1, sizeof(*sizes));
	if (!sizes)
		return -ENOMEM;
	s->sizes = sizes;
	if (!(s->names[s->n] = strdup(name)))
		return -ENOMEM;
	s->sizes[s->n++] = size;
	return 0;
}

static void free_slot_names(struct slot_names *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->names[i]);
	free(s->names);
	free(s->sizes);
}

static int slot_cmp(const void *a, const void *b)
{
	const struct repository_slot *x = a, *y = b;

	return strcmp(x->id, y->id);
}

int repository_key_list(struct repository *r, struct repository_slot **out,
			size_t *n, char *err, size_t errlen)
{
	struct slot_names names = { 0 };
	struct repository_slot *slots = NULL;
	size_t k = 0;
	int ret;

	*out = NULL;
	*n = 0;
	ret = r->repo->ops->list(r->repo, "keys/", collect_slot, &names);
	if (ret) {
		snprintf(err, errlen, "cannot list the key slots of '%s': %s",
			 r->repo->url, strerror(-ret));
		goto out;
	}
	if (names.n && !(slots = calloc(names.n, sizeof(*slots)))) {
		ret = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < names.n; i++) {
		struct repository_slot *s = &slots[k];
		const char *id = names.names[i] + 5;	/* after "keys/" */
		void *data = NULL;
		size_t len = 0;

		if (strlen(id) >= sizeof(s->id))
			continue;	/* not a name a backend gives (<= 255) */
		memcpy(s->id, id, strlen(id) + 1);
		s->opened = r->slot[0] && strcmp(r->slot, id) == 0;
		if (names.sizes[i] <= SLOT_READ_MAX) {
			ret = r->repo->ops->get(r->repo, names.names[i],
						SLOT_READ_MAX, &data, &len);
			if (ret == -ENOENT)
				continue;	/* removed since the listing */
			if (ret) {
				snprintf(err, errlen, "cannot read key slot '%s' "
					 "of '%s': %s", names.names[i],
					 r->repo->url, strerror(-ret));
				goto out;
			}
			s->valid = crypto_key_inspect(data, len, &s->opslimit,
						      &s->memlimit) == 0;
			free(data);
		}
		k++;
	}
	if (k)
		qsort(slots, k, sizeof(*slots), slot_cmp);
	*out = k ? slots : NULL;
	*n = k;
	if (k)
		slots = NULL;
	ret = 0;
out:
	free(slots);
	free_slot_names(&names);
	return ret;
}

int repository_key_add(struct repository *r, const char *password,
		       size_t pwlen, const struct repository_kdf *kdf,
		       char *id, size_t idlen, char *err, size_t errlen)
{
	uint8_t slot_id[8], *slot = NULL;
	char hex[17], name[32];
	void *back = NULL;
	size_t slot_len, back_len = 0;
	int ret, tries;

	ret = crypto_key_wrap(r->mk, password, pwlen, kdf->opslimit,
			      kdf->memlimit, &slot, &slot_len);
	if (ret) {
		snprintf(err, errlen, "cannot wrap the repository key: %s",
			 strerror(-ret));
		return ret;
	}
	/*
	 * 64 random bits do not collide in practice, but a put over an
	 * existing slot would silently take that slot's password away, so
	 * make sure: a few tries, then give up rather than loop.
	 */
	for (tries = 0; tries < 8; tries++) {
		randombytes_buf(slot_id, sizeof(slot_id));
		sodium_bin2hex(hex, sizeof(hex), slot_id, sizeof(slot_id));
		snprintf(name, sizeof(name), "keys/%s", hex);
		ret = r->repo->ops->get(r->repo, name, SLOT_READ_MAX, &back,
					&back_len);
		free(back);
		back = NULL;
		if (ret == -ENOENT)
			break;
		if (ret && ret != -EFBIG) {
			snprintf(err, errlen, "cannot read '%s' in repository "
				 "'%s': %s", name, r->repo->url, strerror(-ret));
			goto out;
		}
	}
	if (ret != -ENOENT) {
		ret = -EEXIST;
		snprintf(err, errlen, "cannot find an unused key slot id in "
			 "repository '%s'", r->repo->url);
		goto out;
	}
	ret = r->repo->ops->put(r->repo, name, slot, slot_len, "STANDARD");
	if (ret) {
		snprintf(err, errlen, "cannot write key slot '%s' to '%s': %s",
			 name, r->repo->url, strerror(-ret));
		goto out;
	}
	/*
	 * Read it back: "key passwd" removes the old slot next, and a new
	 * slot that did not land intact would lock the user out.
	 */
	ret = r->repo->ops->get(r->repo, name, SLOT_READ_MAX, &back, &back_len);
	if (!ret && (back_len != slot_len || memcmp(back, slot, slot_len)))
		ret = -EIO;
	free(back);
	if (ret) {
		snprintf(err, errlen, "key slot '%s' in '%s' does not read back "
			 "as written (%s); it was removed again", name,
			 r->repo->url, strerror(-ret));
		r->repo->ops->del(r->repo, name);
		goto out;
	}
	snprintf(id, idlen, "%s", hex);
out:
	free(slot);
	return ret;
}

int repository_key_remove(struct repository *r, const char *id, char *err,
			  size_t errlen)
{
	struct repository_slot *slots;
	char name[REPOSITORY_SLOT_ID_MAX + 8];
	size_t n, usable = 0;
	int ret, found = 0;

	snprintf(name, sizeof(name), "keys/%s", id);
	if (!id[0] || strlen(id) >= REPOSITORY_SLOT_ID_MAX ||
	    !repo_name_ok(name)) {
		snprintf(err, errlen, "'%s' is not a key slot id (see 'backupfs "
			 "key list')", id);
		return -EINVAL;
	}
	ret = repository_key_list(r, &slots, &n, err, errlen);
	if (ret)
		return ret;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(slots[i].id, id) == 0)
			found = 1;
		else if (slots[i].valid)
			usable++;
	}
	free(slots);
	if (!found) {
		snprintf(err, errlen, "no key slot '%s' in repository '%s' (see "
			 "'backupfs key list')", id, r->repo->url);
		return -ENOENT;
	}
	/*
	 * Only slots that could still open the repository count: leaving
	 * nothing but malformed ones behind is a lock-out too.  Whether
	 * anyone knows the remaining slots' passwords cannot be checked.
	 */
	if (!usable) {
		snprintf(err, errlen, "key slot '%s' is the last usable key slot "
			 "of repository '%s': removing it would lock everyone "
			 "out (add another with 'backupfs key add' first)", id,
			 r->repo->url);
		return -EPERM;
	}
	ret = r->repo->ops->del(r->repo, name);
	if (ret) {
		snprintf(err, errlen, "cannot remove key slot '%s' from '%s': %s",
			 name, r->repo->url, strerror(-ret));
		return ret;
	}
	if (strcmp(r->slot, id) == 0)
		r->slot[0] = '\0';
	return 0;
}
