/*
 * cache_redis.c - the shared cache of a fleet: Redis in front of the file
 * cache of each host.
 *
 * One Redis key per entry, msoauth:entry:NAME, one per lock,
 * msoauth:lock:NAME; NAME is the hex HMAC-SHA256 of the entry's key under
 * a key derived from redis_key_file, so Redis names no identity. The value
 * is the entry's serialised form (cache_entry.c) sealed (seal.c) with the
 * Redis key as associated data; the identity travels inside, for `cache
 * list`.
 *
 * Locks: the host's file lock first (processes of one host queue there),
 * then SET lock RANDOM NX PX lock_ttl_ms, retried with bounded back-off
 * until the caller's deadline; a store or a removal is made only while
 * the lock is still this holder's, and the lock is released only by its
 * holder, each in one server-side step (EVAL). A holder that died delays
 * the others by at most lock_ttl_ms.
 *
 * Every store also goes to the file cache. When Redis cannot be reached in
 * connect_timeout, or refuses the password, the file cache serves and
 * stores alone; a marker file in cache_dir makes that one warning per
 * outage across the host's processes, and spares them further waits on a
 * silent Redis for RETRY_FACTOR x connect_timeout.
 */
#include "config_build.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "cache_int.h"
#include "clock.h"
#include "redis_conn.h"
#include "seal.h"

#define ENTRY_PREFIX "msoauth:entry:"
#define LOCK_PREFIX "msoauth:lock:"
#define RKEY_MAX 80
#define DOWN_MARKER "redis-down" /* in cache_dir while Redis is out */
#define RETRY_FACTOR 2
/* Lock polling: the first and the longest sleep. */
#define LOCK_SLEEP_MIN_MS 5
#define LOCK_SLEEP_MAX_MS 100
#define HELD_MAX 8

/* One server-side step each: the holder alone stores, removes, releases.
 * A stored entry expires 90 days after its last store, the lifetime of an
 * unused Entra refresh token: a departed user's entry does not stay. */
static const char put_script[] =
    "if redis.call('get',KEYS[1])==ARGV[1] then "
    "redis.call('set',KEYS[2],ARGV[2],'EX',7776000) return 1 end return 0";
static const char forget_script[] =
    "if redis.call('get',KEYS[1])==ARGV[1] then "
    "return 1+redis.call('del',KEYS[2]) end return 0";
static const char unlock_script[] =
    "if redis.call('get',KEYS[1])==ARGV[1] then "
    "return redis.call('del',KEYS[1]) end return 0";

struct sealing {
  unsigned char seal[MSOAUTH_SEAL_KEY_LEN];
  unsigned char names[MSOAUTH_SEAL_KEY_LEN];
};

struct held {
  char lock[RKEY_MAX];
  char token[33];
};

struct redis_cache {
  void *file; /* the file backend's state */
  struct msoauth_log log;
  struct msoauth_redis_settings rs;
  struct msoauth_secret *password;
  char *url, *ca_file, *ca_path;
  struct sealing keys[2]; /* the key, and the old one for reading */
  int n_keys;
  long lock_ttl_ms;
  pthread_mutex_t mu; /* one command at a time on the connection */
  struct msoauth_redis *conn;
  pid_t conn_pid; /* a child never speaks on its parent's connection */
  long long down_until_ms;
  struct held held[HELD_MAX]; /* Redis locks held through this handle */
};

struct redis_lock {
  void *file_lock; /* NULL: the file lock could not be had here */
  int slot;        /* in held[], or -1: no Redis lock (Redis out) */
};

/* ------------------------------------------------------------ names */

/* prefix + hex HMAC-SHA256(names, the key's text) into out[RKEY_MAX]. */
static msoauth_rc rkey(const struct sealing *k, const char *prefix,
                       const struct msoauth_cache_key *key, char out[RKEY_MAX],
                       struct msoauth_err *err) {
  char *text = cache_key_text(key);
  size_t plen = strlen(prefix);
  msoauth_rc r;

  if (text == NULL)
    return msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
  memcpy(out, prefix, plen);
  r = msoauth_seal_name(k->names, text, out + plen);
  free(text);
  return r ? msoauth_fail(err, r, "HMAC-SHA256 failed") : MSOAUTH_OK;
}

/* ------------------------------------------------------------ outages */

/* Redis failed (err says how): the file cache serves from now on, and
 * the host hears of it once. */
static void outage(struct redis_cache *rc, const struct msoauth_err *err) {
  long long retry = RETRY_FACTOR * rc->rs.timeout_ms;
  const char *why = err != NULL ? err->detail : "";
  int marked;

  msoauth_redis_close(&rc->conn);
  rc->down_until_ms = msoauth_now_ms() + retry;
  marked = cache_file_mark(rc->file, DOWN_MARKER, 1);
  if (marked != 0)
    MSOAUTH_WARN(&rc->log,
                 "shared cache %s out of use (%s): logins go on with this "
                 "host's cache until it is back",
                 rc->url, why);
  else
    MSOAUTH_DEBUG(&rc->log, "shared cache %s still out of use (%s)", rc->url,
                  why);
}

/* The connection, opened when needed; NULL while Redis is out (waits on
 * it are spared for a while after a failure, here and on the host). */
static struct msoauth_redis *conn(struct redis_cache *rc, int force,
                                  struct msoauth_err *err) {
  long long now = msoauth_now_ms(), age;
  struct msoauth_err e;

  if (rc->conn != NULL && rc->conn_pid != getpid())
    msoauth_redis_drop(&rc->conn);
  if (rc->conn != NULL && msoauth_redis_ok(rc->conn))
    return rc->conn;
  msoauth_redis_close(&rc->conn);
  msoauth_err_clear(&e);
  if (!force && now < rc->down_until_ms) {
    msoauth_fail(err, MSOAUTH_ERR_UNAVAILABLE, "Redis out of use");
    return NULL;
  }
  age = cache_file_mark_age_ms(rc->file, DOWN_MARKER);
  if (!force && age >= 0 && age < RETRY_FACTOR * rc->rs.timeout_ms) {
    rc->down_until_ms = now + RETRY_FACTOR * rc->rs.timeout_ms - age;
    msoauth_fail(err, MSOAUTH_ERR_UNAVAILABLE, "Redis out of use");
    return NULL;
  }
  if (msoauth_redis_open(&rc->rs, &rc->conn, &e) != MSOAUTH_OK) {
    outage(rc, &e);
    if (err != NULL)
      *err = e;
    return NULL;
  }
  rc->conn_pid = getpid();
  if (age >= 0 && cache_file_mark(rc->file, DOWN_MARKER, 0) == 1)
    MSOAUTH_WARN(&rc->log, "shared cache %s back in use", rc->url);
  return rc->conn;
}

/* One command; a failure of the connection or of the password is an
 * outage. */
static msoauth_rc command(struct redis_cache *rc, int argc,
                          const char *const *argv, const size_t *lens,
                          redisReply **reply_r, struct msoauth_err *err) {
  struct msoauth_redis *c = conn(rc, 0, err);
  msoauth_rc r;

  *reply_r = NULL;
  if (c == NULL)
    return MSOAUTH_ERR_UNAVAILABLE;
  r = msoauth_redis_command(c, argc, argv, lens, reply_r, err);
  if (r == MSOAUTH_ERR_UNAVAILABLE || r == MSOAUTH_ERR_DENIED) {
    outage(rc, err);
    r = MSOAUTH_ERR_UNAVAILABLE;
  }
  return r;
}

/* EVAL script 2 lock key token [value]: the integer it returns, or -1. */
static long long eval(struct redis_cache *rc, const char *script,
                      const char *lock, const char *key, const char *token,
                      const unsigned char *value, size_t vlen,
                      struct msoauth_err *err) {
  const char *argv[7] = {"EVAL", script, key != NULL ? "2" : "1", lock,
                         key,    token,  (const char *)value};
  size_t lens[7] = {4, strlen(script), 1, strlen(lock), 0, strlen(token), vlen};
  redisReply *reply = NULL;
  long long n = -1;
  int argc = 7;

  if (key == NULL) {
    argv[4] = token;
    lens[4] = strlen(token);
    argc = 5;
  } else {
    lens[4] = strlen(key);
    if (value == NULL)
      argc = 6;
  }
  if (command(rc, argc, argv, lens, &reply, err) == MSOAUTH_OK &&
      reply->type == REDIS_REPLY_INTEGER)
    n = reply->integer;
  freeReplyObject(reply);
  return n;
}

/* ------------------------------------------------------------ reading */

/* Opens and parses a sealed value stored under name with keys[k]; expect
 * and stored_r as with msoauth_cache_entry_parse. */
static msoauth_rc open_entry(struct redis_cache *rc, int k, const char *name,
                             const redisReply *reply,
                             const struct msoauth_cache_key *expect,
                             struct msoauth_cache_entry *entry,
                             char *stored_r[4], struct msoauth_err *err) {
  char *plain = NULL;
  size_t len = 0;
  msoauth_rc r;

  msoauth_cache_entry_init(entry);
  r = msoauth_seal_open(rc->keys[k].seal, name, reply->str, reply->len, &plain,
                        &len, err);
  if (!r)
    r = msoauth_cache_entry_parse(plain, len, expect, entry, stored_r, err);
  msoauth_free_wiped(&plain);
  return r;
}

/* GET name: MSOAUTH_ERR_NOT_FOUND when there is none, or when what is
 * there does not open (logged: never trusted). */
static msoauth_rc get_one(struct redis_cache *rc, int k,
                          const struct msoauth_cache_key *key,
                          struct msoauth_cache_entry *entry,
                          struct msoauth_err *err) {
  char name[RKEY_MAX];
  const char *argv[2] = {"GET", name};
  size_t lens[2] = {3, 0};
  redisReply *reply = NULL;
  struct msoauth_err perr;
  msoauth_rc r;

  msoauth_cache_entry_init(entry);
  r = rkey(&rc->keys[k], ENTRY_PREFIX, key, name, err);
  if (r)
    return r;
  lens[1] = strlen(name);
  r = command(rc, 2, argv, lens, &reply, err);
  if (r)
    return r;
  msoauth_err_clear(&perr);
  if (reply->type == REDIS_REPLY_NIL) {
    r = msoauth_fail(err, MSOAUTH_ERR_NOT_FOUND, "no cache entry");
    goto out;
  }
  if (reply->type != REDIS_REPLY_STRING)
    r = msoauth_fail(&perr, MSOAUTH_ERR_PROTOCOL, "not a string");
  else
    r = open_entry(rc, k, name, reply, key, entry, NULL, &perr);
  if (r == MSOAUTH_ERR_PROTOCOL) {
    MSOAUTH_WARN(&rc->log, "shared cache entry %s of %s ignored: %s", name,
                 key->identity, perr.detail);
    r = msoauth_fail(err, MSOAUTH_ERR_NOT_FOUND, "cache entry ignored");
  } else if (r) {
    msoauth_fail(err, r, "%s", perr.detail);
  }
out:
  freeReplyObject(reply);
  return r;
}

static msoauth_rc redis_get(void *state, const struct msoauth_cache_key *key,
                            struct msoauth_cache_entry *entry,
                            struct msoauth_err *err) {
  struct redis_cache *rc = state;
  msoauth_rc r = MSOAUTH_ERR_NOT_FOUND;

  pthread_mutex_lock(&rc->mu);
  for (int k = 0; k < rc->n_keys && r == MSOAUTH_ERR_NOT_FOUND; k++)
    r = get_one(rc, k, key, entry, err);
  pthread_mutex_unlock(&rc->mu);
  if (r == MSOAUTH_OK || r == MSOAUTH_ERR_NOT_FOUND || r == MSOAUTH_ERR_NOMEM)
    return r;
  /* Redis out, or answering what it should not: this host's copy. */
  msoauth_err_clear(err);
  return cache_file_backend.get(rc->file, key, entry, err);
}

/* ------------------------------------------------------------ locks */

static int free_slot(struct redis_cache *rc) {
  for (int i = 0; i < HELD_MAX; i++)
    if (rc->held[i].lock[0] == '\0')
      return i;
  return -1;
}

/* The slot of the Redis lock of key held through rc, or -1. */
static int held_slot(struct redis_cache *rc,
                     const struct msoauth_cache_key *key) {
  char lock[RKEY_MAX];

  if (rkey(&rc->keys[0], LOCK_PREFIX, key, lock, NULL) != MSOAUTH_OK)
    return -1;
  for (int i = 0; i < HELD_MAX; i++)
    if (strcmp(rc->held[i].lock, lock) == 0)
      return i;
  return -1;
}

/* SET lock token NX PX ttl until it is ours or deadline_ms passes:
 * MSOAUTH_OK, MSOAUTH_ERR_TIMEOUT, or MSOAUTH_ERR_UNAVAILABLE (Redis out:
 * the file lock alone serves). */
static msoauth_rc take_lock(struct redis_cache *rc, struct held *h,
                            long long deadline_ms, struct msoauth_err *err) {
  char ttl[24];
  const char *argv[6] = {"SET", h->lock, h->token, "NX", "PX", ttl};
  size_t lens[6];
  long long delay = LOCK_SLEEP_MIN_MS;

  snprintf(ttl, sizeof(ttl), "%ld", rc->lock_ttl_ms);
  for (int i = 0; i < 6; i++)
    lens[i] = strlen(argv[i]);
  for (;;) {
    redisReply *reply = NULL;
    long long now;
    int ours;
    msoauth_rc r = command(rc, 6, argv, lens, &reply, err);

    if (r)
      return r;
    ours = reply->type == REDIS_REPLY_STATUS;
    freeReplyObject(reply);
    if (ours)
      return MSOAUTH_OK;
    now = msoauth_now_ms();
    if (now >= deadline_ms)
      return msoauth_fail(err, MSOAUTH_ERR_TIMEOUT,
                          "timed out waiting for the shared cache lock");
    msoauth_sleep_ms(delay < deadline_ms - now ? delay : deadline_ms - now);
    if (delay < LOCK_SLEEP_MAX_MS)
      delay *= 2;
  }
}

/* The Redis lock of key into a free slot; *slot_r -1 when Redis is out. */
static msoauth_rc redis_lock_key(struct redis_cache *rc,
                                 const struct msoauth_cache_key *key,
                                 long long deadline_ms, int *slot_r,
                                 struct msoauth_err *err) {
  unsigned char rnd[16];
  struct held *h;
  int slot;
  msoauth_rc r;

  *slot_r = -1;
  pthread_mutex_lock(&rc->mu);
  slot = free_slot(rc);
  if (slot < 0) {
    pthread_mutex_unlock(&rc->mu);
    return msoauth_fail(err, MSOAUTH_ERR_INVALID, "too many locks held");
  }
  h = &rc->held[slot];
  r = rkey(&rc->keys[0], LOCK_PREFIX, key, h->lock, err);
  if (!r && RAND_bytes(rnd, sizeof(rnd)) != 1)
    r = msoauth_fail(err, MSOAUTH_ERR_IO, "no random bytes");
  if (!r) {
    msoauth_seal_hex(rnd, sizeof(rnd), h->token);
    r = take_lock(rc, h, deadline_ms, err);
  }
  if (r == MSOAUTH_ERR_PROTOCOL)
    MSOAUTH_WARN(&rc->log, "shared cache lock of %s not taken: %s",
                 key->identity, err != NULL ? err->detail : "");
  if (r == MSOAUTH_ERR_UNAVAILABLE || r == MSOAUTH_ERR_PROTOCOL) {
    msoauth_err_clear(err);
    r = MSOAUTH_OK; /* the file lock alone, as when Redis is out */
  } else if (!r) {
    *slot_r = slot;
  }
  if (*slot_r < 0)
    memset(h, 0, sizeof(*h));
  pthread_mutex_unlock(&rc->mu);
  return r;
}

static void redis_unlock(void *state, void *handle) {
  struct redis_cache *rc = state;
  struct redis_lock *lock = handle;

  if (lock == NULL)
    return;
  if (lock->slot >= 0) {
    struct held *h = &rc->held[lock->slot];

    pthread_mutex_lock(&rc->mu);
    eval(rc, unlock_script, h->lock, NULL, h->token, NULL, 0, NULL);
    memset(h, 0, sizeof(*h));
    pthread_mutex_unlock(&rc->mu);
  }
  if (lock->file_lock != NULL)
    cache_file_backend.unlock(rc->file, lock->file_lock);
  free(lock);
}

static msoauth_rc redis_lock(void *state, const struct msoauth_cache_key *key,
                             long long deadline_ms, void **lock_r,
                             struct msoauth_err *err) {
  struct redis_cache *rc = state;
  struct redis_lock *lock;
  struct msoauth_err ferr;
  msoauth_rc r, fr;

  *lock_r = NULL;
  lock = calloc(1, sizeof(*lock));
  if (lock == NULL)
    return msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
  lock->slot = -1;
  /* The host's lock first: its processes queue here, not on Redis. */
  msoauth_err_clear(&ferr);
  fr = cache_file_backend.lock(rc->file, key, deadline_ms, &lock->file_lock,
                               &ferr);
  if (fr && fr != MSOAUTH_ERR_IO) {
    free(lock);
    return msoauth_fail(err, fr, "%s", ferr.detail);
  }
  r = redis_lock_key(rc, key, deadline_ms, &lock->slot, err);
  /* Neither lock: as the file cache says (a store would not be safe). */
  if (!r && lock->slot < 0 && fr)
    r = msoauth_fail(err, fr, "%s", ferr.detail);
  if (r) {
    redis_unlock(rc, lock);
    return r;
  }
  *lock_r = lock;
  return MSOAUTH_OK;
}

/* ------------------------------------------------------------ writing */

/* The entry sealed under its Redis name into the store, while the lock of
 * slot is still ours. */
static msoauth_rc put_shared(struct redis_cache *rc, int slot,
                             const struct msoauth_cache_key *key,
                             const struct msoauth_cache_entry *entry,
                             struct msoauth_err *err) {
  char name[RKEY_MAX], *text = NULL;
  unsigned char *sealed = NULL;
  size_t len = 0;
  long long n;
  msoauth_rc r;

  r = rkey(&rc->keys[0], ENTRY_PREFIX, key, name, err);
  if (!r)
    r = msoauth_cache_entry_format(key, entry, (long long)time(NULL), &text);
  if (!r)
    r = msoauth_seal(rc->keys[0].seal, name, text, strlen(text), &sealed, &len,
                     err);
  msoauth_free_wiped(&text);
  if (r)
    return r;
  n = eval(rc, put_script, rc->held[slot].lock, name, rc->held[slot].token,
           sealed, len, err);
  free(sealed);
  if (n == 1)
    return MSOAUTH_OK;
  if (n == 0)
    MSOAUTH_WARN(&rc->log,
                 "shared cache entry of %s not stored: its lock expired "
                 "(timeout) and may be another host's now",
                 key->identity);
  return MSOAUTH_ERR_UNAVAILABLE;
}

static msoauth_rc redis_put(void *state, const struct msoauth_cache_key *key,
                            const struct msoauth_cache_entry *entry,
                            struct msoauth_err *err) {
  struct redis_cache *rc = state;
  struct msoauth_err e;
  int slot;
  msoauth_rc shared = MSOAUTH_ERR_UNAVAILABLE, local;

  msoauth_err_clear(&e);
  pthread_mutex_lock(&rc->mu);
  slot = held_slot(rc, key);
  if (slot >= 0)
    shared = put_shared(rc, slot, key, entry, &e);
  pthread_mutex_unlock(&rc->mu);
  /* The host keeps a copy: it serves while Redis is out. */
  local = cache_file_backend.put(rc->file, key, entry, err);
  if (shared == MSOAUTH_OK || shared == MSOAUTH_ERR_UNAVAILABLE) {
    if (local && shared == MSOAUTH_OK) {
      MSOAUTH_INFO(&rc->log, "local copy of %s not stored: %s", key->identity,
                   err != NULL ? err->detail : "");
      msoauth_err_clear(err);
      return MSOAUTH_OK;
    }
    return local;
  }
  return msoauth_fail(err, shared, "%s", e.detail);
}

static msoauth_rc redis_forget(void *state, const struct msoauth_cache_key *key,
                               struct msoauth_err *err) {
  struct redis_cache *rc = state;
  char name[RKEY_MAX];
  long long n = -1;
  int slot;
  msoauth_rc local;

  pthread_mutex_lock(&rc->mu);
  slot = held_slot(rc, key);
  for (int k = 0; slot >= 0 && k < rc->n_keys; k++) {
    long long one;

    if (rkey(&rc->keys[k], ENTRY_PREFIX, key, name, NULL) != MSOAUTH_OK)
      break;
    one = eval(rc, forget_script, rc->held[slot].lock, name,
               rc->held[slot].token, NULL, 0, NULL);
    n = one > n ? one : n;
  }
  pthread_mutex_unlock(&rc->mu);
  local = cache_file_backend.forget(rc->file, key, err);
  if (n == 2 && local == MSOAUTH_ERR_NOT_FOUND) {
    msoauth_err_clear(err);
    return MSOAUTH_OK;
  }
  return local;
}

/* ------------------------------------------------------------ listing */

/* Opens the value of name and calls fn when it is an entry stored where
 * its key says it belongs. */
static void list_one(struct redis_cache *rc, const char *name,
                     const redisReply *value, msoauth_cache_list_fn fn,
                     void *arg) {
  struct msoauth_cache_entry entry;
  struct msoauth_cache_info info;
  struct msoauth_cache_key key;
  char *stored[4] = {NULL, NULL, NULL, NULL}, expected[RKEY_MAX];
  int k;

  for (k = 0; k < rc->n_keys; k++)
    if (open_entry(rc, k, name, value, NULL, &entry, stored, NULL) ==
        MSOAUTH_OK)
      break;
  if (k == rc->n_keys) {
    MSOAUTH_WARN(&rc->log,
                 "shared cache entry %s ignored: it does not "
                 "open",
                 name);
    return;
  }
  key.authority = stored[0];
  key.tenant = stored[1];
  key.client_id = stored[2];
  key.identity = stored[3];
  if (rkey(&rc->keys[k], ENTRY_PREFIX, &key, expected, NULL) == MSOAUTH_OK &&
      strcmp(expected, name) == 0) {
    cache_entry_info(&key, &entry, &info);
    fn(arg, &info);
  } else {
    MSOAUTH_WARN(&rc->log,
                 "shared cache entry %s ignored: stored for "
                 "another key",
                 name);
  }
  msoauth_cache_entry_clear(&entry);
  for (int i = 0; i < 4; i++)
    free(stored[i]);
}

/* The entries of one SCAN page; *cursor_r the next ("0": done). */
static msoauth_rc list_page(struct redis_cache *rc, char cursor[32],
                            msoauth_cache_list_fn fn, void *arg,
                            struct msoauth_err *err) {
  const char *argv[6] = {"SCAN",           cursor,  "MATCH",
                         ENTRY_PREFIX "*", "COUNT", "100"};
  size_t lens[6];
  redisReply *page = NULL;
  msoauth_rc r;

  for (int i = 0; i < 6; i++)
    lens[i] = strlen(argv[i]);
  r = command(rc, 6, argv, lens, &page, err);
  if (r)
    return r;
  if (page->type != REDIS_REPLY_ARRAY || page->elements != 2 ||
      page->element[0]->type != REDIS_REPLY_STRING ||
      page->element[1]->type != REDIS_REPLY_ARRAY ||
      page->element[0]->len >= 32) {
    freeReplyObject(page);
    return msoauth_fail(err, MSOAUTH_ERR_PROTOCOL, "SCAN: unexpected reply");
  }
  snprintf(cursor, 32, "%s", page->element[0]->str);
  for (size_t i = 0; !r && i < page->element[1]->elements; i++) {
    const redisReply *name = page->element[1]->element[i];
    const char *get[2] = {"GET", name->str};
    size_t glens[2] = {3, name->len};
    redisReply *value = NULL;

    if (name->type != REDIS_REPLY_STRING || name->len >= RKEY_MAX)
      continue;
    r = command(rc, 2, get, glens, &value, err);
    if (!r && value->type == REDIS_REPLY_STRING)
      list_one(rc, name->str, value, fn, arg);
    freeReplyObject(value);
  }
  freeReplyObject(page);
  return r;
}

static msoauth_rc redis_list(void *state, msoauth_cache_list_fn fn, void *arg,
                             struct msoauth_err *err) {
  struct redis_cache *rc = state;
  char cursor[32] = "0";
  msoauth_rc r;

  pthread_mutex_lock(&rc->mu);
  do
    r = list_page(rc, cursor, fn, arg, err);
  while (!r && strcmp(cursor, "0") != 0);
  pthread_mutex_unlock(&rc->mu);
  if (r == MSOAUTH_ERR_UNAVAILABLE) {
    MSOAUTH_WARN(&rc->log,
                 "shared cache %s out of use: listing this host's cache",
                 rc->url);
    msoauth_err_clear(err);
    r = cache_file_backend.list(rc->file, fn, arg, err);
  }
  return r;
}

/* ------------------------------------------------------------ probing */

/* On a connection of its own: what the host's logins see is untouched. */
static msoauth_rc redis_probe(void *state, struct msoauth_err *err) {
  struct redis_cache *rc = state;
  struct msoauth_redis *c = NULL;
  msoauth_rc r = msoauth_redis_open(&rc->rs, &c, err);

  if (!r)
    r = cache_probe_entry(rc->keys[0].seal, c, err);
  msoauth_redis_close(&c);
  return r;
}

/* ------------------------------------------------------------ opening */

static void redis_close(void *state) {
  struct redis_cache *rc = state;

  if (rc == NULL)
    return;
  msoauth_redis_close(&rc->conn);
  cache_file_backend.close(rc->file);
  msoauth_secret_free(&rc->password);
  free(rc->url);
  free(rc->ca_file);
  free(rc->ca_path);
  msoauth_wipe(rc->keys, sizeof(rc->keys));
  SSL_CTX_free(rc->rs.tls);
  pthread_mutex_destroy(&rc->mu);
  free(rc);
}

const struct msoauth_cache_backend cache_redis_backend = {
    .name = "redis",
    .get = redis_get,
    .lock = redis_lock,
    .unlock = redis_unlock,
    .put = redis_put,
    .forget = redis_forget,
    .list = redis_list,
    .close = redis_close,
    .probe = redis_probe,
};

/* The sealing key of hex, and the naming key derived from it. */
static msoauth_rc load_key(const struct msoauth_secret *hex, const char *what,
                           struct sealing *k, struct msoauth_err *err) {
  msoauth_rc r = msoauth_seal_key_parse(hex, k->seal, err);

  if (r)
    return msoauth_fail(err, r, "%s: %s", what,
                        err != NULL ? err->detail : "bad key");
  if (msoauth_seal_derive(k->seal, "msoauth redis entry names", k->names))
    return msoauth_fail(err, MSOAUTH_ERR_IO, "HMAC-SHA256 failed");
  return MSOAUTH_OK;
}

static int dup_to(const char *s, char **d) {
  return (*d = s != NULL ? strdup(s) : NULL) == NULL && s != NULL;
}

msoauth_rc cache_redis_new(const struct msoauth_cache_settings *set,
                           const struct msoauth_log *log, void *file_state,
                           void **state_r, struct msoauth_err *err) {
  struct redis_cache *rc;
  msoauth_rc r = MSOAUTH_OK;

  *state_r = NULL;
  rc = calloc(1, sizeof(*rc));
  if (rc == NULL) {
    cache_file_backend.close(file_state);
    return msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
  }
  pthread_mutex_init(&rc->mu, NULL);
  rc->file = file_state;
  if (log != NULL)
    rc->log = *log;
  if (dup_to(set->redis_url, &rc->url) || dup_to(set->ca_file, &rc->ca_file) ||
      dup_to(set->ca_path, &rc->ca_path) ||
      (set->redis_password != NULL &&
       msoauth_secret_dup(set->redis_password, &rc->password) != MSOAUTH_OK)) {
    r = msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
    goto out;
  }
  if (set->redis_url == NULL || set->redis_key == NULL) {
    r = msoauth_fail(err, MSOAUTH_ERR_CONFIG,
                     "cache_backend = redis needs redis_url and "
                     "redis_key_file");
    goto out;
  }
  r = load_key(set->redis_key, "redis_key_file", &rc->keys[0], err);
  rc->n_keys = 1;
  if (!r && set->redis_key_old != NULL) {
    r = load_key(set->redis_key_old, "redis_key_file_old", &rc->keys[1], err);
    rc->n_keys = 2;
  }
  if (r)
    goto out;
  rc->rs.url = rc->url;
  rc->rs.password = rc->password;
  rc->rs.ca_file = rc->ca_file;
  rc->rs.ca_path = rc->ca_path;
  rc->rs.timeout_ms =
      set->connect_timeout_ms > 0 ? set->connect_timeout_ms : 5000;
  /* Trust anchors read now: the SASL plugin chroots afterwards. */
  r = msoauth_redis_tls_new(&rc->rs, &rc->rs.tls, err);
  if (r)
    goto out;
  rc->lock_ttl_ms = set->lock_ttl_ms > 0 ? set->lock_ttl_ms : 10000;
  *state_r = rc;
  rc = NULL;
out:
  redis_close(rc);
  return r;
}
