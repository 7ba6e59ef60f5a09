/*
 * cache.c - the token cache: the backend chosen (cache_file.c, and
 * cache_redis.c in front of it), the calls dispatched to it, and the
 * locks held through a handle. The entries and their serialised form,
 * which every backend shares, are cache_entry.c's.
 */
#include "config_build.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache_int.h"

struct msoauth_cache {
  const struct msoauth_cache_backend *be;
  void *state;
  struct msoauth_log log;
  /* The locks taken through this handle and not yet released: a write
   * must find its entry's among them. */
  pthread_mutex_t mu;
  struct msoauth_cache_lock *held;
};

struct msoauth_cache_lock {
  struct msoauth_cache *cache;
  void *handle;  /* the backend's */
  char *name;    /* the key, its fields joined by newlines */
  pthread_t who; /* the thread that took it */
  struct msoauth_cache_lock *next;
};

/* ------------------------------------------------------------ dispatch */

msoauth_rc msoauth_cache_open_backend(const struct msoauth_cache_backend *be,
                                      void *state,
                                      const struct msoauth_log *log,
                                      struct msoauth_cache **cache_r) {
  struct msoauth_cache *cache;

  *cache_r = NULL;
  cache = calloc(1, sizeof(*cache));
  if (cache == NULL) {
    be->close(state);
    return MSOAUTH_ERR_NOMEM;
  }
  cache->be = be;
  cache->state = state;
  if (log != NULL)
    cache->log = *log;
  pthread_mutex_init(&cache->mu, NULL);
  *cache_r = cache;
  return MSOAUTH_OK;
}

msoauth_rc msoauth_cache_open(const struct msoauth_cache_settings *set,
                              const struct msoauth_log *log,
                              struct msoauth_cache **cache_r,
                              struct msoauth_err *err) {
  const struct msoauth_cache_backend *be = &cache_file_backend;
  void *state = NULL;
  msoauth_rc rc;

  *cache_r = NULL;
  rc = cache_file_new(set, log, &state, err);
  if (!rc && set->redis) {
    be = &cache_redis_backend;
    rc = cache_redis_new(set, log, state, &state, err);
  }
  if (rc)
    return rc;
  rc = msoauth_cache_open_backend(be, state, log, cache_r);
  return rc ? msoauth_fail(err, rc, "out of memory") : MSOAUTH_OK;
}

msoauth_rc msoauth_cache_probe(struct msoauth_cache *cache,
                               struct msoauth_err *err) {
  return cache->be->probe != NULL ? cache->be->probe(cache->state, err)
                                  : MSOAUTH_OK;
}

void msoauth_cache_close(struct msoauth_cache **cache) {
  if (cache == NULL || *cache == NULL)
    return;
  (*cache)->be->close((*cache)->state);
  pthread_mutex_destroy(&(*cache)->mu);
  free(*cache);
  *cache = NULL;
}

/* A key field is hashed and stored joined by newlines: it must hold none,
 * or two keys could share an entry. */
static int key_field_ok(const char *s) {
  return s != NULL && *s != '\0' && strchr(s, '\n') == NULL;
}

static msoauth_rc check_key(const struct msoauth_cache_key *key,
                            struct msoauth_err *err) {
  if (key == NULL || !key_field_ok(key->authority) ||
      !key_field_ok(key->tenant) || !key_field_ok(key->client_id) ||
      !key_field_ok(key->identity))
    return msoauth_fail(err, MSOAUTH_ERR_INVALID,
                        "cache key with an empty field or a newline");
  return MSOAUTH_OK;
}

char *cache_key_text(const struct msoauth_cache_key *key) {
  size_t len = strlen(key->authority) + strlen(key->tenant) +
               strlen(key->client_id) + strlen(key->identity) + 4;
  char *text = malloc(len);

  if (text != NULL)
    snprintf(text, len, "%s\n%s\n%s\n%s", key->authority, key->tenant,
             key->client_id, key->identity);
  return text;
}

/* Refuses a write to key's entry unless this thread holds its lock
 * through cache: two writers that both skipped the lock would lose one
 * another's refresh token (rotated on use, so the lost one is dead). */
static msoauth_rc check_held(struct msoauth_cache *cache,
                             const struct msoauth_cache_key *key,
                             struct msoauth_err *err) {
  char *text = cache_key_text(key);
  int held = 0;

  if (text == NULL)
    return msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
  pthread_mutex_lock(&cache->mu);
  for (const struct msoauth_cache_lock *l = cache->held; l != NULL && !held;
       l = l->next)
    held = pthread_equal(l->who, pthread_self()) && strcmp(l->name, text) == 0;
  pthread_mutex_unlock(&cache->mu);
  free(text);
  if (held)
    return MSOAUTH_OK;
  return msoauth_fail(err, MSOAUTH_ERR_INVALID,
                      "the cache entry of %s was not written: its lock is "
                      "not held",
                      key->identity);
}

msoauth_rc msoauth_cache_get(struct msoauth_cache *cache,
                             const struct msoauth_cache_key *key,
                             struct msoauth_cache_entry *entry,
                             struct msoauth_err *err) {
  msoauth_rc rc;

  msoauth_cache_entry_init(entry);
  rc = check_key(key, err);
  if (rc)
    return rc;
  rc = cache->be->get(cache->state, key, entry, err);
  if (rc)
    msoauth_cache_entry_clear(entry);
  return rc;
}

msoauth_rc msoauth_cache_lock(struct msoauth_cache *cache,
                              const struct msoauth_cache_key *key,
                              long long deadline_ms,
                              struct msoauth_cache_lock **lock_r,
                              struct msoauth_err *err) {
  struct msoauth_cache_lock *lock;
  msoauth_rc rc;

  *lock_r = NULL;
  rc = check_key(key, err);
  if (rc)
    return rc;
  lock = calloc(1, sizeof(*lock));
  if (lock != NULL)
    lock->name = cache_key_text(key);
  if (lock == NULL || lock->name == NULL) {
    free(lock);
    return msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
  }
  rc = cache->be->lock(cache->state, key, deadline_ms, &lock->handle, err);
  if (rc) {
    free(lock->name);
    free(lock);
    return rc;
  }
  lock->cache = cache;
  lock->who = pthread_self();
  pthread_mutex_lock(&cache->mu);
  lock->next = cache->held;
  cache->held = lock;
  pthread_mutex_unlock(&cache->mu);
  *lock_r = lock;
  return MSOAUTH_OK;
}

void msoauth_cache_unlock(struct msoauth_cache_lock **lock) {
  struct msoauth_cache *cache;

  if (lock == NULL || *lock == NULL)
    return;
  cache = (*lock)->cache;
  pthread_mutex_lock(&cache->mu);
  for (struct msoauth_cache_lock **p = &cache->held; *p != NULL;
       p = &(*p)->next) {
    if (*p == *lock) {
      *p = (*lock)->next;
      break;
    }
  }
  pthread_mutex_unlock(&cache->mu);
  cache->be->unlock(cache->state, (*lock)->handle);
  free((*lock)->name);
  free(*lock);
  *lock = NULL;
}

msoauth_rc msoauth_cache_put(struct msoauth_cache *cache,
                             const struct msoauth_cache_key *key,
                             const struct msoauth_cache_entry *entry,
                             struct msoauth_err *err) {
  msoauth_rc rc = check_key(key, err);

  if (!rc)
    rc = check_held(cache, key, err);
  if (rc)
    return rc;
  return cache->be->put(cache->state, key, entry, err);
}

msoauth_rc msoauth_cache_forget(struct msoauth_cache *cache,
                                const struct msoauth_cache_key *key,
                                struct msoauth_err *err) {
  msoauth_rc rc = check_key(key, err);

  if (!rc)
    rc = check_held(cache, key, err);
  if (rc)
    return rc;
  return cache->be->forget(cache->state, key, err);
}

msoauth_rc msoauth_cache_list(struct msoauth_cache *cache,
                              msoauth_cache_list_fn fn, void *arg,
                              struct msoauth_err *err) {
  return cache->be->list(cache->state, fn, arg, err);
}
