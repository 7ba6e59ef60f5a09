/*
 * config_keys.h - the keys of msoauth.conf and the syntax of their values.
 *
 * Internal to the configuration code (config.c, aliases.c): a table of
 * every key with the check its value must pass, and the small syntax
 * helpers (domains, addresses, numbers, choices) those checks are made of.
 * Nothing here reads a file or knows about sections and profiles.
 */
#ifndef MSOAUTH_CONFIG_KEYS_H
#define MSOAUTH_CONFIG_KEYS_H

#include <stddef.h>

#include "result.h"

/* Longest key written into a message. */
#define MSOAUTH_KEY_SHOWN_MAX 64

enum msoauth_key_id {
  MSOAUTH_KEY_AUTHORITY,
  MSOAUTH_KEY_TENANT,
  MSOAUTH_KEY_CLIENT_ID,
  MSOAUTH_KEY_CLIENT_SECRET,
  MSOAUTH_KEY_CLIENT_SECRET_FILE,
  MSOAUTH_KEY_CLIENT_CERTIFICATE_FILE,
  MSOAUTH_KEY_CLIENT_KEY_FILE,
  MSOAUTH_KEY_SCOPE,
  MSOAUTH_KEY_AUTH,
  MSOAUTH_KEY_DOMAINS,
  MSOAUTH_KEY_DEFAULT_DOMAIN,
  MSOAUTH_KEY_ALIASES_FILE,
  MSOAUTH_KEY_ALIAS_POLICY,
  MSOAUTH_KEY_SERVICE_ACCOUNT,
  MSOAUTH_KEY_SERVICE_ACCOUNT_PASSWORD_FILE,
  MSOAUTH_KEY_CACHE_DIR,
  MSOAUTH_KEY_ALLOWED_GROUPS,
  MSOAUTH_KEY_FAILURE_CACHE,
  MSOAUTH_KEY_OFFLINE_GRACE,
  MSOAUTH_KEY_REFRESH_MARGIN,
  MSOAUTH_KEY_TIMEOUT,
  MSOAUTH_KEY_CONNECT_TIMEOUT,
  MSOAUTH_KEY_RETRIES,
  MSOAUTH_KEY_CA_FILE,
  MSOAUTH_KEY_CA_PATH,
  MSOAUTH_KEY_PROXY,
  MSOAUTH_KEY_LOG_LEVEL,
  MSOAUTH_KEY_STORE_TOKENS,
  MSOAUTH_KEY_CANONICAL_USER,
  MSOAUTH_KEY_CACHE_BACKEND,
  MSOAUTH_KEY_REDIS_URL,
  MSOAUTH_KEY_REDIS_PASSWORD_FILE,
  MSOAUTH_KEY_REDIS_KEY_FILE,
  MSOAUTH_KEY_REDIS_KEY_FILE_OLD,
  MSOAUTH_KEY_PROXY_IMAP, /* the backends of msoauth checkpassword, in the */
  MSOAUTH_KEY_PROXY_POP3, /* order of enum msoauth_service */
  MSOAUTH_KEY_PROXY_SUBMISSION,
  MSOAUTH_N_KEYS
};

/* The name of key id, as written in the file. */
const char *msoauth_key_name(enum msoauth_key_id id);

/* The key named by the len bytes of name, or -1 when there is none. */
int msoauth_key_find(const char *name, size_t len);

/* key itself when it looks like a key, else a placeholder: a line meant as
 * "client_secret: VALUE" must not leak the value into a message. */
const char *msoauth_key_shown(const char *key);

/* NULL when value is acceptable for key id, else why not (a static text,
 * or one written into why, size bytes). The value is never in it. */
const char *msoauth_key_check(enum msoauth_key_id id, const char *value,
                              char *why, size_t size);

/* The number of an integer key, its default when value is NULL or not a
 * number (checked values always are). */
long msoauth_key_long(enum msoauth_key_id id, const char *value);

/* The index of value among the choices of an enumerated key (in the order
 * of its enum), or dflt when value is NULL or no choice. */
int msoauth_key_choice(enum msoauth_key_id id, const char *value, int dflt);

/* Labels of letters, digits and '-', at least two of them. */
int msoauth_is_domain(const char *s, size_t len);

/* NULL when the len bytes of s are an address (local@domain) as the
 * identity rules want it, else why not. */
const char *msoauth_address_problem(const char *s, size_t len);

/* Lowercases the ASCII letters of s in place. */
void msoauth_lowercase(char *s);

/* Whether a proxy URL carries user information (user:password@host). */
int msoauth_proxy_has_credentials(const char *url);

/* Splits a comma-separated list (already checked) into *list_r, *n_r,
 * trimming each item; with lower, items are lowercased and repeats
 * dropped. Free it with msoauth_free_list. */
msoauth_rc msoauth_split_list(const char *v, int lower, char ***list_r,
                              size_t *n_r) __attribute__((warn_unused_result));

/* Frees *list and its *n items, and empties both. */
void msoauth_free_list(char ***list, size_t *n);

#endif
