/*
 * cache_copy.c - the file backend's in-process copies of cache entries
 * (see cache_copy.h).
 */
#include "config_build.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache_copy.h"

/* A copy: the key it serves, the file it came from, and the entry. */
struct copy {
  char *fields[4]; /* authority, tenant, client_id, identity */
  char *name;
  struct stat st;
  struct msoauth_cache_entry entry;
  unsigned long used; /* the copies' clock at the last use */
};

struct msoauth_copies {
  pthread_mutex_t mu;
  struct copy slot[MSOAUTH_COPY_MAX];
  unsigned long clock;
};

static unsigned long hits;

/* ------------------------------------------------------------ entries */

static int dup_str(const char *s, char **out) {
  *out = NULL;
  if (s == NULL)
    return 0;
  *out = strdup(s);
  return *out == NULL;
}

/* A deep copy of src into dst (initialised); non-zero when out of memory
 * (dst is then partly filled: the caller clears it). */
static int entry_copy(const struct msoauth_cache_entry *src,
                      struct msoauth_cache_entry *dst) {
  int bad = 0;

  if (src->refresh_token != NULL)
    bad |= msoauth_secret_dup(src->refresh_token, &dst->refresh_token) != 0;
  bad |= dup_str(src->password_verifier, &dst->password_verifier);
  for (size_t i = 0; i < src->n_failed; i++) {
    bad |= dup_str(src->failed[i].verifier, &dst->failed[i].verifier);
    dst->failed[i].at = src->failed[i].at;
  }
  dst->n_failed = src->n_failed;
  dst->locked_at = src->locked_at;
  bad |= dup_str(src->offline_verifier, &dst->offline_verifier);
  dst->verified_at = src->verified_at;
  bad |= dup_str(src->offline_identity, &dst->offline_identity);
  bad |= dup_str(src->offline_groups, &dst->offline_groups);
  for (size_t i = 0; i < src->n_access; i++) {
    bad |= dup_str(src->access[i].scope, &dst->access[i].scope);
    bad |= msoauth_secret_dup(src->access[i].token, &dst->access[i].token) !=
           0;
    dst->access[i].expires_at = src->access[i].expires_at;
  }
  dst->n_access = src->n_access;
  dst->updated = src->updated;
  return bad;
}

/* ------------------------------------------------------------ slots */

static void slot_clear(struct copy *c) {
  for (int i = 0; i < 4; i++)
    free(c->fields[i]);
  free(c->name);
  msoauth_cache_entry_clear(&c->entry); /* wipes the tokens */
  memset(c, 0, sizeof(*c));
}

static int slot_is(const struct copy *c, const struct msoauth_cache_key *key) {
  return c->name != NULL && strcmp(c->fields[3], key->identity) == 0 &&
         strcmp(c->fields[2], key->client_id) == 0 &&
         strcmp(c->fields[1], key->tenant) == 0 &&
         strcmp(c->fields[0], key->authority) == 0;
}

/* key's slot, or NULL (the lock held). */
static struct copy *find(struct msoauth_copies *copies,
                         const struct msoauth_cache_key *key) {
  for (size_t i = 0; i < MSOAUTH_COPY_MAX; i++)
    if (slot_is(&copies->slot[i], key))
      return &copies->slot[i];
  return NULL;
}

/* Whether a and b are the same file, unchanged. */
static int same_file(const struct stat *a, const struct stat *b) {
  return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
         a->st_size == b->st_size && a->st_uid == b->st_uid &&
         a->st_mode == b->st_mode && a->st_nlink == b->st_nlink &&
         a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
         a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
         a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
         a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Whether st's mtime is old enough that no write can still hide behind
 * it (the clock's tick), and the file is still what may be served: the
 * effective user's, private. */
static int settled(const struct stat *st) {
  struct timespec now;
  long long age;

  if (!S_ISREG(st->st_mode) || st->st_uid != geteuid() ||
      (st->st_mode & 077) != 0 ||
      clock_gettime(CLOCK_REALTIME, &now) != 0)
    return 0;
  age = ((long long)now.tv_sec - st->st_mtim.tv_sec) * 1000000000LL +
        (now.tv_nsec - st->st_mtim.tv_nsec);
  return age >= MSOAUTH_COPY_SETTLE_NS;
}

/* ------------------------------------------------------------ calls */

struct msoauth_copies *msoauth_copies_new(void) {
  struct msoauth_copies *copies = calloc(1, sizeof(*copies));

  if (copies != NULL)
    pthread_mutex_init(&copies->mu, NULL);
  return copies;
}

void msoauth_copies_free(struct msoauth_copies *copies) {
  if (copies == NULL)
    return;
  for (size_t i = 0; i < MSOAUTH_COPY_MAX; i++)
    slot_clear(&copies->slot[i]);
  pthread_mutex_destroy(&copies->mu);
  free(copies);
}

int msoauth_copies_name(struct msoauth_copies *copies,
                        const struct msoauth_cache_key *key, char *name,
                        size_t name_size) {
  struct copy *c;
  int found = 0;

  if (copies == NULL)
    return 0;
  pthread_mutex_lock(&copies->mu);
  c = find(copies, key);
  if (c != NULL && strlen(c->name) < name_size) {
    memcpy(name, c->name, strlen(c->name) + 1);
    found = 1;
  }
  pthread_mutex_unlock(&copies->mu);
  return found;
}

int msoauth_copies_get(struct msoauth_copies *copies,
                       const struct msoauth_cache_key *key,
                       const struct stat *st,
                       struct msoauth_cache_entry *entry) {
  struct copy *c;
  int served = 0;

  if (copies == NULL)
    return 0;
  pthread_mutex_lock(&copies->mu);
  c = find(copies, key);
  if (c != NULL && (!same_file(&c->st, st) || !settled(st))) {
    slot_clear(c);
    c = NULL;
  }
  if (c != NULL) {
    c->used = ++copies->clock;
    served = entry_copy(&c->entry, entry) == 0;
    if (served)
      __atomic_add_fetch(&hits, 1, __ATOMIC_RELAXED);
  }
  pthread_mutex_unlock(&copies->mu);
  if (!served)
    msoauth_cache_entry_clear(entry);
  return served;
}

/* The slot for a new copy: a free one, else the least recently used. */
static struct copy *victim(struct msoauth_copies *copies) {
  struct copy *best = &copies->slot[0];

  for (size_t i = 0; i < MSOAUTH_COPY_MAX; i++) {
    struct copy *c = &copies->slot[i];

    if (c->name == NULL)
      return c;
    if (c->used < best->used)
      best = c;
  }
  return best;
}

void msoauth_copies_put(struct msoauth_copies *copies,
                        const struct msoauth_cache_key *key, const char *name,
                        const struct stat *st,
                        const struct msoauth_cache_entry *entry) {
  struct copy *c;
  const char *fields[4] = {key->authority, key->tenant, key->client_id,
                           key->identity};
  int bad = 0;

  if (copies == NULL || !settled(st))
    return;
  pthread_mutex_lock(&copies->mu);
  c = find(copies, key);
  if (c == NULL)
    c = victim(copies);
  slot_clear(c);
  for (int i = 0; i < 4; i++)
    bad |= dup_str(fields[i], &c->fields[i]);
  bad |= dup_str(name, &c->name);
  bad |= entry_copy(entry, &c->entry);
  c->st = *st;
  c->used = ++copies->clock;
  if (bad)
    slot_clear(c);
  pthread_mutex_unlock(&copies->mu);
}

void msoauth_copies_drop(struct msoauth_copies *copies,
                         const struct msoauth_cache_key *key) {
  struct copy *c;

  if (copies == NULL)
    return;
  pthread_mutex_lock(&copies->mu);
  c = find(copies, key);
  if (c != NULL)
    slot_clear(c);
  pthread_mutex_unlock(&copies->mu);
}

unsigned long msoauth_copies_hits(void) {
  return __atomic_load_n(&hits, __ATOMIC_RELAXED);
}
