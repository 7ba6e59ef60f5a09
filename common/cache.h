/*
 * cache.h - the token cache, behind a small backend interface.
 *
 * One entry per (authority, tenant, client, identity) holds the refresh
 * token, the access tokens by scope, and the verifier of the password the
 * tokens were obtained with. Nothing outside the cache code knows where or
 * how entries are kept: files today (cache_file.c), a shared store later.
 *
 * Concurrency: a caller that finds an entry stale or missing takes the
 * entry's lock, reads the entry again, and only then asks the identity
 * platform; so many processes make one request between them.
 */
#ifndef MSOAUTH_CACHE_H
#define MSOAUTH_CACHE_H

#include <stddef.h>

#include "log.h"
#include "result.h"
#include "secret.h"

/* Largest cache entry read or written. */
#define MSOAUTH_CACHE_ENTRY_MAX (256 * 1024)
/* Most access tokens (scopes) kept in one entry. */
#define MSOAUTH_CACHE_TOKENS_MAX 16
/* The identity under which app-only tokens are kept. */
#define MSOAUTH_CACHE_APP_IDENTITY "#app"

struct msoauth_cache_key {
  const char *authority;
  const char *tenant;
  const char *client_id;
  const char *identity; /* normalised, or MSOAUTH_CACHE_APP_IDENTITY */
};

struct msoauth_cache_token {
  char *scope;                  /* the scope string requested */
  struct msoauth_secret *token; /* the access token */
  long long expires_at;         /* unix seconds */
};

/* Most rejected passwords remembered per user (PAM's failure_cache). */
#define MSOAUTH_CACHE_FAILED_MAX 4

struct msoauth_cache_failed {
  char *verifier; /* see pwhash.h */
  long long at;   /* when the platform rejected it, unix seconds */
};

struct msoauth_cache_entry {
  struct msoauth_secret *refresh_token; /* NULL when none */
  char *password_verifier;              /* see pwhash.h; NULL when none */
  /* PAM: passwords the platform rejected, newest first */
  struct msoauth_cache_failed failed[MSOAUTH_CACHE_FAILED_MAX];
  size_t n_failed;
  long long locked_at;    /* PAM: when the platform said "locked" (50053);
                             0: not */
  char *offline_verifier; /* PAM: the last password verified online; NULL */
  long long verified_at;  /* when, unix seconds */
  /* What was decided with it, for the offline grace to decide alike: the
   * identity verified (NULL: unknown, never accepted offline) and the
   * allowed_groups the token named then (comma-separated; NULL: none). */
  char *offline_identity;
  char *offline_groups;
  struct msoauth_cache_token access[MSOAUTH_CACHE_TOKENS_MAX];
  size_t n_access;
  long long updated; /* unix seconds of the last put */
};

/* What the list callback sees of an entry: never a secret. */
struct msoauth_cache_info {
  const char *authority;
  const char *tenant;
  const char *client_id;
  const char *identity;
  int has_refresh_token;
  size_t n_access;
  const char *scopes[MSOAUTH_CACHE_TOKENS_MAX];
  long long expires_at[MSOAUTH_CACHE_TOKENS_MAX];
  long long updated;
};

typedef void (*msoauth_cache_list_fn)(void *arg,
                                      const struct msoauth_cache_info *info);

/* A backend. Each function has the meaning of the msoauth_cache_* call of the
 * same name below; state is the backend's own. */
struct msoauth_cache_backend {
  const char *name;
  msoauth_rc (*get)(void *state, const struct msoauth_cache_key *key,
                    struct msoauth_cache_entry *entry, struct msoauth_err *err);
  msoauth_rc (*lock)(void *state, const struct msoauth_cache_key *key,
                     long long deadline_ms, void **lock_r,
                     struct msoauth_err *err);
  void (*unlock)(void *state, void *lock);
  msoauth_rc (*put)(void *state, const struct msoauth_cache_key *key,
                    const struct msoauth_cache_entry *entry,
                    struct msoauth_err *err);
  msoauth_rc (*forget)(void *state, const struct msoauth_cache_key *key,
                       struct msoauth_err *err);
  msoauth_rc (*list)(void *state, msoauth_cache_list_fn fn, void *arg,
                     struct msoauth_err *err);
  void (*close)(void *state);
  /* NULL: nothing to probe (a local backend). */
  msoauth_rc (*probe)(void *state, struct msoauth_err *err);
};

struct msoauth_cache;
struct msoauth_cache_lock;

/* What a cache is opened with (token_token_settings.c fills it from the
 * configuration); only read while it is opened. */
struct msoauth_cache_settings {
  const char *dir; /* cache_dir, an absolute path */
  /* Root may open a dir of another user: set by a caller that runs as root
   * now and is about to become dir's owner (the SASL plugin in Postfix). */
  int allow_foreign_dir;
  /* cache_backend = redis: the shared store in front of dir, which keeps
   * a copy of what this host stores and serves when Redis cannot. */
  int redis;
  const char *redis_url;
  const struct msoauth_secret *redis_password; /* NULL: no AUTH */
  const struct msoauth_secret *redis_key;      /* 64 hex digits */
  const struct msoauth_secret *redis_key_old;  /* read only; NULL */
  const char *ca_file, *ca_path;               /* for rediss:// */
  long connect_timeout_ms; /* bounds every wait on Redis */
  long lock_ttl_ms;        /* a dead holder's lock expires (timeout) */
};

/*
 * Opens the cache: with set->redis the shared store in front of the file
 * cache (cache_redis.c), else the file cache alone. The file cache at set->dir: created with mode 0700 when
 * missing (its parent must exist), refused when it is a symlink, not a
 * directory, accessible by group or others, or owned by another user
 * (root included, except with set->allow_foreign_dir, for a caller
 * about to become the owner: until it has, nothing is written there, and
 * entries are read only when they are the reader's own). The directory is
 * opened now and used by descriptor afterwards, so a caller that chroots
 * later keeps it. The caller owns *cache_r.
 */
msoauth_rc msoauth_cache_open(const struct msoauth_cache_settings *set,
                              const struct msoauth_log *log,
                              struct msoauth_cache **cache_r,
                              struct msoauth_err *err)
    __attribute__((warn_unused_result));

/* Wraps any backend (tests, future shared stores). Takes state: on failure
 * be->close(state) has been called. The caller owns *cache_r. */
msoauth_rc msoauth_cache_open_backend(const struct msoauth_cache_backend *be,
                                      void *state,
                                      const struct msoauth_log *log,
                                      struct msoauth_cache **cache_r)
    __attribute__((warn_unused_result));

/* Checks a shared store: reachable, the password accepted, and a probe
 * entry sealed, stored, read and opened. MSOAUTH_OK at once for the file
 * cache. */
msoauth_rc msoauth_cache_probe(struct msoauth_cache *cache,
                               struct msoauth_err *err)
    __attribute__((warn_unused_result));

/* Closes *cache (release its locks first) and sets it to NULL. Accepts
 * NULL. */
void msoauth_cache_close(struct msoauth_cache **cache);

/* Key fields must be non-empty and hold no newline (MSOAUTH_ERR_INVALID
 * otherwise): they are joined by newlines to name the entry. */

/* Reads the entry of key into entry (initialised here; clear it with
 * msoauth_cache_entry_clear whatever the result). MSOAUTH_ERR_NOT_FOUND when
 * there is none, or when what is there is corrupt, of another owner,
 * accessible by others or for another key: such files are logged and
 * ignored, never trusted. */
msoauth_rc msoauth_cache_get(struct msoauth_cache *cache,
                             const struct msoauth_cache_key *key,
                             struct msoauth_cache_entry *entry,
                             struct msoauth_err *err)
    __attribute__((warn_unused_result));

/* Takes the entry's exclusive lock, waiting until deadline_ms (see
 * msoauth_now_ms) at the most (MSOAUTH_ERR_TIMEOUT then). MSOAUTH_ERR_IO
 * when no lock can be had here: a lock file of another owner, or a
 * directory this process does not own (root before it becomes the owner);
 * the caller may still use a token, but stores nothing. The caller owns
 * *lock_r and releases it with msoauth_cache_unlock, before closing cache. */
msoauth_rc msoauth_cache_lock(struct msoauth_cache *cache,
                              const struct msoauth_cache_key *key,
                              long long deadline_ms,
                              struct msoauth_cache_lock **lock_r,
                              struct msoauth_err *err)
    __attribute__((warn_unused_result));

/* Releases and frees *lock, sets it to NULL. Accepts NULL. */
void msoauth_cache_unlock(struct msoauth_cache_lock **lock);

/* Stores entry for key, replacing what was there, atomically: a reader sees
 * the old entry or the new one, never a mix or a half. Only under key's
 * lock, taken by this thread through cache (MSOAUTH_ERR_INVALID
 * otherwise); an entry file of another owner is never replaced
 * (MSOAUTH_ERR_IO). */
msoauth_rc msoauth_cache_put(struct msoauth_cache *cache,
                             const struct msoauth_cache_key *key,
                             const struct msoauth_cache_entry *entry,
                             struct msoauth_err *err)
    __attribute__((warn_unused_result));

/* Removes the entry of key; MSOAUTH_ERR_NOT_FOUND when there is none.
 * Under key's lock only, and never a file of another owner, as put. */
msoauth_rc msoauth_cache_forget(struct msoauth_cache *cache,
                                const struct msoauth_cache_key *key,
                                struct msoauth_err *err)
    __attribute__((warn_unused_result));

/* Calls fn for every valid entry (in no particular order). */
msoauth_rc msoauth_cache_list(struct msoauth_cache *cache,
                              msoauth_cache_list_fn fn, void *arg,
                              struct msoauth_err *err)
    __attribute__((warn_unused_result));

/* Entries. */
void msoauth_cache_entry_init(struct msoauth_cache_entry *entry);
void msoauth_cache_entry_clear(struct msoauth_cache_entry *entry);

/* The access token for scope that is still valid at now + margin seconds,
 * or NULL. Owned by entry. */
const struct msoauth_cache_token *
msoauth_cache_entry_find(const struct msoauth_cache_entry *entry,
                         const char *scope, long long now, long margin);

/* Sets the access token for scope (copying scope and token), replacing one of
 * the same scope; tokens already expired at now are dropped first. */
msoauth_rc msoauth_cache_entry_set(struct msoauth_cache_entry *entry,
                                   const char *scope,
                                   const struct msoauth_secret *token,
                                   long long expires_at, long long now)
    __attribute__((warn_unused_result));

/* Drops the access token for scope, if any. */
void msoauth_cache_entry_drop(struct msoauth_cache_entry *entry,
                              const char *scope);

/* The serialised form (JSON) of an entry for key, with now as its
 * "updated" time; MSOAUTH_ERR_INVALID beyond MSOAUTH_CACHE_ENTRY_MAX. The
 * caller frees *text_r with msoauth_free_wiped. */
msoauth_rc msoauth_cache_entry_format(const struct msoauth_cache_key *key,
                                      const struct msoauth_cache_entry *entry,
                                      long long now, char **text_r)
    __attribute__((warn_unused_result));

/* Parses the serialised form into entry (initialised here; cleared again on
 * failure). Fails with MSOAUTH_ERR_PROTOCOL on malformed text, wrong types,
 * or, when expect is not NULL, a stored key other than expect. With stored_r
 * not NULL the stored key is returned there as four strings (authority,
 * tenant, client_id, identity) that the caller frees. */
msoauth_rc msoauth_cache_entry_parse(const char *text, size_t len,
                                     const struct msoauth_cache_key *expect,
                                     struct msoauth_cache_entry *entry,
                                     char *stored_r[4],
                                     struct msoauth_err *err)
    __attribute__((warn_unused_result));

#endif
