/*
 * cache_int.h - what the cache's own files share (cache.c, cache_file.c,
 * cache_redis.c); nothing outside the cache includes it.
 */
#ifndef MSOAUTH_CACHE_INT_H
#define MSOAUTH_CACHE_INT_H

#include "cache.h"
#include "redis_conn.h"
#include "seal.h"

/* The file backend: its operations, and its state for set->dir (see
 * msoauth_cache_open for the rules). */
extern const struct msoauth_cache_backend cache_file_backend;
msoauth_rc cache_file_new(const struct msoauth_cache_settings *set,
                          const struct msoauth_log *log, void **state_r,
                          struct msoauth_err *err)
    __attribute__((warn_unused_result));

/* A marker file name in the directory (not an entry): on creates it, or
 * renews its time (1: created now, 0: it was there, -1: cannot: not the
 * directory's owner, or I/O); !on removes it (1: removed now, else 0). */
int cache_file_mark(void *state, const char *name, int on);

/* Milliseconds since the marker was created or renewed; -1 when none. */
long long cache_file_mark_age_ms(void *state, const char *name);

/* The Redis backend in front of a file backend's state, which it takes
 * (closed on failure too). */
extern const struct msoauth_cache_backend cache_redis_backend;
msoauth_rc cache_redis_new(const struct msoauth_cache_settings *set,
                           const struct msoauth_log *log, void *file_state,
                           void **state_r, struct msoauth_err *err)
    __attribute__((warn_unused_result));

/* Seals, stores, reads back and opens a probe entry under key on c
 * (cache_probe.c). */
msoauth_rc cache_probe_entry(const unsigned char key[MSOAUTH_SEAL_KEY_LEN],
                             struct msoauth_redis *c, struct msoauth_err *err)
    __attribute__((warn_unused_result));

/* The key's fields joined by newlines (the key checked), or NULL. */
char *cache_key_text(const struct msoauth_cache_key *key);

/* What the lister is shown of entry, stored under key. */
void cache_entry_info(const struct msoauth_cache_key *key,
                      const struct msoauth_cache_entry *entry,
                      struct msoauth_cache_info *info);

#endif
