/*
 * cache_entry.c - cache entries: their helpers and their serialised form,
 * the one every backend stores (a file, or a sealed Redis value).
 *
 * The serialised form is JSON written by hand into a wiping buffer: json-c
 * would free its copies of the tokens without wiping them. It is read with
 * json-c, whose copies of the tokens are wiped before the object is put.
 */
#include "config_build.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cache_int.h"
#include "json.h"

/* ------------------------------------------------------------ entries */

void cache_entry_info(const struct msoauth_cache_key *key,
                      const struct msoauth_cache_entry *entry,
                      struct msoauth_cache_info *info) {
  memset(info, 0, sizeof(*info));
  info->authority = key->authority;
  info->tenant = key->tenant;
  info->client_id = key->client_id;
  info->identity = key->identity;
  info->has_refresh_token = entry->refresh_token != NULL;
  info->n_access = entry->n_access;
  for (size_t i = 0; i < entry->n_access; i++) {
    info->scopes[i] = entry->access[i].scope;
    info->expires_at[i] = entry->access[i].expires_at;
  }
  info->updated = entry->updated;
}

void msoauth_cache_entry_init(struct msoauth_cache_entry *entry) {
  memset(entry, 0, sizeof(*entry));
}

static void token_clear(struct msoauth_cache_token *t) {
  free(t->scope);
  t->scope = NULL;
  msoauth_secret_free(&t->token);
  t->expires_at = 0;
}

void msoauth_cache_entry_clear(struct msoauth_cache_entry *entry) {
  if (entry == NULL)
    return;
  msoauth_secret_free(&entry->refresh_token);
  msoauth_free_wiped(&entry->password_verifier);
  for (size_t i = 0; i < entry->n_failed; i++) {
    msoauth_free_wiped(&entry->failed[i].verifier);
    entry->failed[i].at = 0;
  }
  entry->n_failed = 0;
  entry->locked_at = 0;
  msoauth_free_wiped(&entry->offline_verifier);
  entry->verified_at = 0;
  free(entry->offline_identity);
  entry->offline_identity = NULL;
  free(entry->offline_groups);
  entry->offline_groups = NULL;
  for (size_t i = 0; i < entry->n_access; i++)
    token_clear(&entry->access[i]);
  entry->n_access = 0;
  entry->updated = 0;
}

/* Removes the token at index i, keeping the others in order. */
static void remove_at(struct msoauth_cache_entry *entry, size_t i) {
  token_clear(&entry->access[i]);
  memmove(&entry->access[i], &entry->access[i + 1],
          (entry->n_access - i - 1) * sizeof(entry->access[0]));
  entry->n_access--;
  memset(&entry->access[entry->n_access], 0, sizeof(entry->access[0]));
}

/* The index of scope's token, or entry->n_access when there is none. */
static size_t find_scope(const struct msoauth_cache_entry *entry,
                         const char *scope) {
  size_t i;

  for (i = 0; i < entry->n_access; i++) {
    if (strcmp(entry->access[i].scope, scope) == 0)
      break;
  }
  return i;
}

const struct msoauth_cache_token *
msoauth_cache_entry_find(const struct msoauth_cache_entry *entry,
                         const char *scope, long long now, long margin) {
  size_t i = find_scope(entry, scope);

  if (i == entry->n_access || entry->access[i].token == NULL ||
      entry->access[i].expires_at <= now + margin)
    return NULL;
  return &entry->access[i];
}

msoauth_rc msoauth_cache_entry_set(struct msoauth_cache_entry *entry,
                                   const char *scope,
                                   const struct msoauth_secret *token,
                                   long long expires_at, long long now) {
  struct msoauth_secret *copy = NULL;
  struct msoauth_cache_token *t;
  char *scope_copy;
  size_t i;
  msoauth_rc rc;

  if (scope == NULL || *scope == '\0' || token == NULL)
    return MSOAUTH_ERR_INVALID;
  for (i = entry->n_access; i > 0; i--) {
    if (entry->access[i - 1].expires_at <= now)
      remove_at(entry, i - 1);
  }
  i = find_scope(entry, scope);
  if (i == MSOAUTH_CACHE_TOKENS_MAX)
    return MSOAUTH_ERR_INVALID;
  rc = msoauth_secret_dup(token, &copy);
  if (rc)
    return rc;
  t = &entry->access[i];
  if (i < entry->n_access) {
    msoauth_secret_free(&t->token);
    t->token = copy;
    t->expires_at = expires_at;
    return MSOAUTH_OK;
  }
  scope_copy = strdup(scope);
  if (scope_copy == NULL) {
    msoauth_secret_free(&copy);
    return MSOAUTH_ERR_NOMEM;
  }
  entry->n_access++;
  t->scope = scope_copy;
  t->token = copy;
  t->expires_at = expires_at;
  return MSOAUTH_OK;
}

void msoauth_cache_entry_drop(struct msoauth_cache_entry *entry,
                              const char *scope) {
  size_t i = find_scope(entry, scope);

  if (i < entry->n_access)
    remove_at(entry, i);
}

/* ------------------------------------------------------------ format */

/* Appends s as a JSON string: quotes, backslashes and control characters
 * escaped. */
static msoauth_rc add_string(struct msoauth_buf *buf, const char *s) {
  msoauth_rc rc = msoauth_buf_add(buf, "\"", 1);

  for (const unsigned char *p = (const unsigned char *)s; !rc && *p; p++) {
    if (*p == '"' || *p == '\\') {
      char esc[2] = {'\\', (char)*p};
      rc = msoauth_buf_add(buf, esc, 2);
    } else if (*p < 0x20) {
      rc = msoauth_buf_addf(buf, "\\u%04x", (unsigned)*p);
    } else {
      rc = msoauth_buf_add(buf, p, 1);
    }
  }
  if (!rc)
    rc = msoauth_buf_add(buf, "\"", 1);
  return rc;
}

/* Appends ,"name":"value". */
static msoauth_rc add_member(struct msoauth_buf *buf, const char *name,
                             const char *value) {
  msoauth_rc rc = msoauth_buf_addf(buf, ",\"%s\":", name);

  if (!rc)
    rc = add_string(buf, value);
  return rc;
}

/* Appends ,"NAME_verifier":"...","NAME_at":N. */
static msoauth_rc add_verifier(struct msoauth_buf *buf, const char *name,
                               const char *verifier, long long at) {
  msoauth_rc rc = msoauth_buf_addf(buf, ",\"%s_verifier\":", name);

  if (!rc)
    rc = add_string(buf, verifier);
  if (!rc)
    rc = msoauth_buf_addf(buf, ",\"%s_at\":%lld", name, at);
  return rc;
}

/* Appends ,"failed":[{"verifier":"...","at":N},...]. */
static msoauth_rc add_failed(struct msoauth_buf *buf,
                             const struct msoauth_cache_entry *entry) {
  msoauth_rc rc = msoauth_buf_adds(buf, ",\"failed\":[");

  for (size_t i = 0; !rc && i < entry->n_failed; i++) {
    if (entry->failed[i].verifier == NULL)
      return MSOAUTH_ERR_INVALID;
    rc = msoauth_buf_adds(buf, i == 0 ? "{\"verifier\":" : ",{\"verifier\":");
    if (!rc)
      rc = add_string(buf, entry->failed[i].verifier);
    if (!rc)
      rc = msoauth_buf_addf(buf, ",\"at\":%lld}", entry->failed[i].at);
  }
  if (!rc)
    rc = msoauth_buf_adds(buf, "]");
  return rc;
}

static msoauth_rc add_token(struct msoauth_buf *buf,
                            const struct msoauth_cache_token *t, int first) {
  msoauth_rc rc;

  /* Only msoauth_cache_entry_set fills tokens; a hand-made hole is a bug. */
  if (t->scope == NULL || t->token == NULL) {
    msoauth_buf_free(buf);
    return MSOAUTH_ERR_INVALID;
  }
  rc = msoauth_buf_adds(buf, first ? "{\"scope\":" : ",{\"scope\":");
  if (!rc)
    rc = add_string(buf, t->scope);
  if (!rc)
    rc = add_member(buf, "access_token", msoauth_secret_value(t->token));
  if (!rc)
    rc = msoauth_buf_addf(buf, ",\"expires_at\":%lld}", t->expires_at);
  return rc;
}

msoauth_rc msoauth_cache_entry_format(const struct msoauth_cache_key *key,
                                      const struct msoauth_cache_entry *entry,
                                      long long now, char **text_r) {
  struct msoauth_buf buf;
  msoauth_rc rc;

  *text_r = NULL;
  msoauth_buf_init(&buf, MSOAUTH_CACHE_ENTRY_MAX, 1);
  rc = msoauth_buf_adds(&buf, "{\"version\":1");
  if (!rc)
    rc = add_member(&buf, "authority", key->authority);
  if (!rc)
    rc = add_member(&buf, "tenant", key->tenant);
  if (!rc)
    rc = add_member(&buf, "client_id", key->client_id);
  if (!rc)
    rc = add_member(&buf, "identity", key->identity);
  if (!rc)
    rc = msoauth_buf_addf(&buf, ",\"updated\":%lld", now);
  if (!rc && entry->refresh_token != NULL)
    rc = add_member(&buf, "refresh_token",
                    msoauth_secret_value(entry->refresh_token));
  if (!rc && entry->password_verifier != NULL)
    rc = add_member(&buf, "password_verifier", entry->password_verifier);
  if (!rc && entry->n_failed > MSOAUTH_CACHE_FAILED_MAX)
    rc = MSOAUTH_ERR_INVALID;
  if (!rc && entry->n_failed > 0)
    rc = add_failed(&buf, entry);
  if (!rc && entry->locked_at != 0)
    rc = msoauth_buf_addf(&buf, ",\"locked_at\":%lld", entry->locked_at);
  if (!rc && entry->offline_verifier != NULL)
    rc = add_verifier(&buf, "verified", entry->offline_verifier,
                      entry->verified_at);
  if (!rc && entry->offline_verifier != NULL &&
      entry->offline_identity != NULL)
    rc = add_member(&buf, "verified_identity", entry->offline_identity);
  if (!rc && entry->offline_verifier != NULL && entry->offline_groups != NULL)
    rc = add_member(&buf, "verified_groups", entry->offline_groups);
  if (!rc)
    rc = msoauth_buf_adds(&buf, ",\"access_tokens\":[");
  for (size_t i = 0; !rc && i < entry->n_access; i++)
    rc = add_token(&buf, &entry->access[i], i == 0);
  if (!rc)
    rc = msoauth_buf_adds(&buf, "]}");
  if (rc) {
    msoauth_buf_free(&buf);
    return rc;
  }
  *text_r = msoauth_buf_take(&buf);
  return MSOAUTH_OK;
}

/* ------------------------------------------------------------ parse */

/* The string member name of obj; NULL when absent, or with *bad set when
 * present as another type (null included), empty or holding a NUL. */
static const char *get_string(struct json_object *obj, const char *name,
                              int *bad) {
  struct json_object *val;
  const char *s;

  if (!json_object_object_get_ex(obj, name, &val))
    return NULL;
  if (!json_object_is_type(val, json_type_string)) {
    *bad = 1;
    return NULL;
  }
  s = json_object_get_string(val);
  if (*s == '\0' || strlen(s) != (size_t)json_object_get_string_len(val)) {
    *bad = 1;
    return NULL;
  }
  return s;
}

/* Copies the optional secret member name of obj into *secret_r (NULL when
 * absent); json-c's copy is wiped by the caller before the put. */
static msoauth_rc get_secret(struct json_object *obj, const char *name,
                             struct msoauth_secret **secret_r) {
  int bad = 0;
  const char *s = get_string(obj, name, &bad);

  *secret_r = NULL;
  if (bad)
    return MSOAUTH_ERR_PROTOCOL;
  if (s == NULL)
    return MSOAUTH_OK;
  return msoauth_secret_from_str(s, secret_r);
}

/* The JSON integer member name of obj (a string of digits is refused
 * here: the cache writes integers). */
static msoauth_rc get_int(struct json_object *obj, const char *name,
                          long long *value_r) {
  struct json_object *val;

  if (!json_object_object_get_ex(obj, name, &val) || val == NULL)
    return MSOAUTH_ERR_NOT_FOUND;
  if (!json_object_is_type(val, json_type_int))
    return MSOAUTH_ERR_PROTOCOL;
  return msoauth_json_int(obj, name, value_r);
}

/* Wipes json-c's copies of every secret the object may hold, whatever
 * their types turned out to be. */
static void wipe_secrets(struct json_object *root) {
  struct json_object *arr;

  msoauth_json_wipe_string(root, "refresh_token");
  msoauth_json_wipe_string(root, "password_verifier");
  msoauth_json_wipe_string(root, "failed_verifier");
  msoauth_json_wipe_string(root, "verified_verifier");
  if (json_object_object_get_ex(root, "failed", &arr) &&
      json_object_is_type(arr, json_type_array))
    for (size_t i = 0; i < json_object_array_length(arr); i++)
      msoauth_json_wipe_string(json_object_array_get_idx(arr, i), "verifier");
  if (!json_object_object_get_ex(root, "access_tokens", &arr) ||
      !json_object_is_type(arr, json_type_array))
    return;
  for (size_t i = 0; i < json_object_array_length(arr); i++)
    msoauth_json_wipe_string(json_object_array_get_idx(arr, i), "access_token");
}

static msoauth_rc parse_token(struct json_object *obj,
                              struct msoauth_cache_entry *entry, size_t i,
                              struct msoauth_err *err) {
  struct msoauth_cache_token *t = &entry->access[entry->n_access];
  const char *scope;
  int bad = 0;

  if (!json_object_is_type(obj, json_type_object))
    return msoauth_fail(err, MSOAUTH_ERR_PROTOCOL,
                        "access_tokens[%zu] is not an object", i);
  scope = get_string(obj, "scope", &bad);
  if (scope == NULL)
    return msoauth_fail(err, MSOAUTH_ERR_PROTOCOL,
                        "access_tokens[%zu]: bad or missing scope", i);
  if (find_scope(entry, scope) < entry->n_access)
    return msoauth_fail(err, MSOAUTH_ERR_PROTOCOL,
                        "access_tokens[%zu]: scope repeated", i);
  if (get_int(obj, "expires_at", &t->expires_at) != MSOAUTH_OK)
    return msoauth_fail(err, MSOAUTH_ERR_PROTOCOL,
                        "access_tokens[%zu]: bad or missing expires_at", i);
  if (get_secret(obj, "access_token", &t->token) != MSOAUTH_OK ||
      t->token == NULL) {
    token_clear(t);
    return msoauth_fail(err, MSOAUTH_ERR_PROTOCOL,
                        "access_tokens[%zu]: bad or missing access_token", i);
  }
  t->scope = strdup(scope);
  if (t->scope == NULL) {
    token_clear(t);
    return msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
  }
  entry->n_access++;
  return MSOAUTH_OK;
}

static msoauth_rc parse_tokens(struct json_object *root,
                               struct msoauth_cache_entry *entry,
                               struct msoauth_err *err) {
  struct json_object *arr;
  size_t n;
  msoauth_rc rc = MSOAUTH_OK;

  if (!json_object_object_get_ex(root, "access_tokens", &arr) ||
      !json_object_is_type(arr, json_type_array))
    return msoauth_fail(err, MSOAUTH_ERR_PROTOCOL,
                        "access_tokens missing or not an array");
  n = json_object_array_length(arr);
  if (n > MSOAUTH_CACHE_TOKENS_MAX)
    return msoauth_fail(err, MSOAUTH_ERR_PROTOCOL, "more than %d access tokens",
                        MSOAUTH_CACHE_TOKENS_MAX);
  for (size_t i = 0; !rc && i < n; i++)
    rc = parse_token(json_object_array_get_idx(arr, i), entry, i, err);
  return rc;
}

/* Copies the optional verifier member name of root into *verifier_r, and
 * with at_name (then required) its time into *at_r. */
static msoauth_rc get_verifier(struct json_object *root, const char *name,
                               const char *at_name, char **verifier_r,
                               long long *at_r, struct msoauth_err *err) {
  int bad = 0;
  const char *verifier = get_string(root, name, &bad);

  if (bad)
    return msoauth_fail(err, MSOAUTH_ERR_PROTOCOL, "bad %s", name);
  if (verifier == NULL)
    return MSOAUTH_OK;
  if (at_name != NULL && get_int(root, at_name, at_r) != MSOAUTH_OK)
    return msoauth_fail(err, MSOAUTH_ERR_PROTOCOL, "bad or missing %s",
                        at_name);
  *verifier_r = strdup(verifier);
  if (*verifier_r == NULL)
    return msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
  return MSOAUTH_OK;
}

/* The rejected passwords: "failed":[{"verifier","at"}...], or the single
 * "failed_verifier" and "failed_at" of earlier versions. */
static msoauth_rc parse_failed(struct json_object *root,
                               struct msoauth_cache_entry *entry,
                               struct msoauth_err *err) {
  struct json_object *arr;
  size_t n;
  msoauth_rc rc = MSOAUTH_OK;

  if (!json_object_object_get_ex(root, "failed", &arr)) {
    rc = get_verifier(root, "failed_verifier", "failed_at",
                      &entry->failed[0].verifier, &entry->failed[0].at, err);
    entry->n_failed = entry->failed[0].verifier != NULL;
    return rc;
  }
  if (!json_object_is_type(arr, json_type_array) ||
      (n = json_object_array_length(arr)) > MSOAUTH_CACHE_FAILED_MAX)
    return msoauth_fail(err, MSOAUTH_ERR_PROTOCOL, "bad failed");
  for (size_t i = 0; !rc && i < n; i++) {
    struct json_object *obj = json_object_array_get_idx(arr, i);

    if (!json_object_is_type(obj, json_type_object))
      return msoauth_fail(err, MSOAUTH_ERR_PROTOCOL, "bad failed[%zu]", i);
    rc = get_verifier(obj, "verifier", "at", &entry->failed[i].verifier,
                      &entry->failed[i].at, err);
    if (!rc && entry->failed[i].verifier == NULL)
      rc = msoauth_fail(err, MSOAUTH_ERR_PROTOCOL, "bad failed[%zu]", i);
    if (!rc)
      entry->n_failed++;
  }
  return rc;
}

/* The optional string member name of root, copied into *value_r. */
static msoauth_rc get_copy(struct json_object *root, const char *name,
                           char **value_r, struct msoauth_err *err) {
  return get_verifier(root, name, NULL, value_r, NULL, err);
}

/* The optional secrets of the entry itself. */
static msoauth_rc parse_secrets(struct json_object *root,
                                struct msoauth_cache_entry *entry,
                                struct msoauth_err *err) {
  msoauth_rc rc;

  if (get_secret(root, "refresh_token", &entry->refresh_token))
    return msoauth_fail(err, MSOAUTH_ERR_PROTOCOL, "bad refresh_token");
  rc = get_verifier(root, "password_verifier", NULL,
                    &entry->password_verifier, NULL, err);
  if (!rc)
    rc = parse_failed(root, entry, err);
  if (!rc && get_int(root, "locked_at", &entry->locked_at) ==
                 MSOAUTH_ERR_PROTOCOL)
    rc = msoauth_fail(err, MSOAUTH_ERR_PROTOCOL, "bad locked_at");
  if (!rc)
    rc = get_verifier(root, "verified_verifier", "verified_at",
                      &entry->offline_verifier, &entry->verified_at, err);
  if (!rc)
    rc = get_copy(root, "verified_identity", &entry->offline_identity, err);
  if (!rc)
    rc = get_copy(root, "verified_groups", &entry->offline_groups, err);
  return rc;
}

static const char *const key_names[4] = {"authority", "tenant", "client_id",
                                         "identity"};

/* Reads the stored key into fields[4] (owned by root) and checks it against
 * expect when not NULL. */
static msoauth_rc parse_key(struct json_object *root,
                            const struct msoauth_cache_key *expect,
                            const char *fields[4], struct msoauth_err *err) {
  for (size_t i = 0; i < 4; i++) {
    int bad = 0;

    fields[i] = get_string(root, key_names[i], &bad);
    if (fields[i] == NULL)
      return msoauth_fail(err, MSOAUTH_ERR_PROTOCOL, "bad or missing %s",
                          key_names[i]);
  }
  if (expect != NULL && (strcmp(fields[0], expect->authority) != 0 ||
                         strcmp(fields[1], expect->tenant) != 0 ||
                         strcmp(fields[2], expect->client_id) != 0 ||
                         strcmp(fields[3], expect->identity) != 0))
    return msoauth_fail(err, MSOAUTH_ERR_PROTOCOL,
                        "the entry is stored for another key");
  return MSOAUTH_OK;
}

static msoauth_rc copy_key(const char *fields[4], char *stored_r[4],
                           struct msoauth_err *err) {
  for (size_t i = 0; i < 4; i++) {
    stored_r[i] = strdup(fields[i]);
    if (stored_r[i] == NULL) {
      for (size_t j = 0; j < i; j++) {
        free(stored_r[j]);
        stored_r[j] = NULL;
      }
      return msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
    }
  }
  return MSOAUTH_OK;
}

static msoauth_rc parse_root(struct json_object *root,
                             const struct msoauth_cache_key *expect,
                             struct msoauth_cache_entry *entry,
                             char *stored_r[4], struct msoauth_err *err) {
  const char *fields[4];
  long long version;
  msoauth_rc rc;

  if (!json_object_is_type(root, json_type_object))
    return msoauth_fail(err, MSOAUTH_ERR_PROTOCOL, "not a JSON object");
  if (get_int(root, "version", &version) != MSOAUTH_OK)
    return msoauth_fail(err, MSOAUTH_ERR_PROTOCOL, "bad or missing version");
  if (version != 1)
    return msoauth_fail(err, MSOAUTH_ERR_PROTOCOL, "unknown version %lld",
                        version);
  rc = parse_key(root, expect, fields, err);
  if (rc)
    return rc;
  if (get_int(root, "updated", &entry->updated) != MSOAUTH_OK)
    return msoauth_fail(err, MSOAUTH_ERR_PROTOCOL, "bad or missing updated");
  rc = parse_secrets(root, entry, err);
  if (!rc)
    rc = parse_tokens(root, entry, err);
  if (!rc && stored_r != NULL)
    rc = copy_key(fields, stored_r, err);
  return rc;
}

msoauth_rc msoauth_cache_entry_parse(const char *text, size_t len,
                                     const struct msoauth_cache_key *expect,
                                     struct msoauth_cache_entry *entry,
                                     char *stored_r[4],
                                     struct msoauth_err *err) {
  struct json_object *root;
  msoauth_rc rc;

  msoauth_cache_entry_init(entry);
  if (stored_r != NULL)
    memset(stored_r, 0, 4 * sizeof(stored_r[0]));
  root = msoauth_json_parse(text, len);
  if (root == NULL)
    return msoauth_fail(err, MSOAUTH_ERR_PROTOCOL, "not valid JSON");
  rc = parse_root(root, expect, entry, stored_r, err);
  wipe_secrets(root);
  json_object_put(root);
  if (rc)
    msoauth_cache_entry_clear(entry);
  return rc;
}
