/*
 * fuzz_cache_entry.c - libFuzzer target: the cache entry reader
 * (msoauth_cache_entry_parse), without and with an expected key.
 *
 * Beyond memory safety: an entry accepted for the expected key is accepted
 * without one and names that key; an accepted entry, written again with
 * msoauth_cache_entry_format, reads back the same (the writer escapes what
 * the reader unescapes); a refused one leaves the entry empty.
 */
#include "config_build.h"

#include "cache.h"
#include "fuzz.h"
#include "secret.h"

#define NOW 1700000000LL

static const struct msoauth_cache_key expect = {
    .authority = "https://login.microsoftonline.com",
    .tenant = "contoso.com",
    .client_id = "00000000-0000-0000-0000-000000000001",
    .identity = "alice@contoso.com",
};

static int str_eq(const char *a, const char *b) {
  return (a == NULL && b == NULL) ||
         (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static int secret_eq(const struct msoauth_secret *a,
                     const struct msoauth_secret *b) {
  return (a == NULL && b == NULL) ||
         (a != NULL && b != NULL && msoauth_secret_equal(a, b));
}

static int is_empty(const struct msoauth_cache_entry *e) {
  return e->refresh_token == NULL && e->password_verifier == NULL &&
         e->n_failed == 0 && e->locked_at == 0 &&
         e->offline_verifier == NULL &&
         e->n_access == 0;
}

static void check_same(const struct msoauth_cache_entry *a,
                       const struct msoauth_cache_entry *b) {
  FUZZ_CHECK(secret_eq(a->refresh_token, b->refresh_token));
  FUZZ_CHECK(str_eq(a->password_verifier, b->password_verifier));
  FUZZ_CHECK(a->n_failed == b->n_failed);
  for (size_t i = 0; i < a->n_failed; i++) {
    FUZZ_CHECK(str_eq(a->failed[i].verifier, b->failed[i].verifier));
    FUZZ_CHECK(a->failed[i].at == b->failed[i].at);
  }
  FUZZ_CHECK(a->locked_at == b->locked_at);
  FUZZ_CHECK(str_eq(a->offline_verifier, b->offline_verifier));
  FUZZ_CHECK(a->offline_verifier == NULL || a->verified_at == b->verified_at);
  /* The decision travels with the verifier, and only with it. */
  FUZZ_CHECK(a->offline_verifier == NULL ||
             str_eq(a->offline_identity, b->offline_identity));
  FUZZ_CHECK(a->offline_verifier == NULL ||
             str_eq(a->offline_groups, b->offline_groups));
  FUZZ_CHECK(a->n_access == b->n_access);
  for (size_t i = 0; i < a->n_access; i++) {
    FUZZ_CHECK(str_eq(a->access[i].scope, b->access[i].scope));
    FUZZ_CHECK(secret_eq(a->access[i].token, b->access[i].token));
    FUZZ_CHECK(a->access[i].expires_at == b->access[i].expires_at);
  }
}

/* Writes entry for the key it was stored under and reads it back. */
static void round_trip(const struct msoauth_cache_entry *entry,
                       char *const stored[4]) {
  struct msoauth_cache_key key = {stored[0], stored[1], stored[2], stored[3]};
  struct msoauth_cache_entry again;
  char *back[4] = {NULL, NULL, NULL, NULL};
  char *text = NULL;
  struct msoauth_err err;
  msoauth_rc rc;

  if (msoauth_cache_entry_format(&key, entry, NOW, &text) != MSOAUTH_OK)
    return; /* only past MSOAUTH_CACHE_ENTRY_MAX, which inputs cannot reach */
  msoauth_err_clear(&err);
  rc = msoauth_cache_entry_parse(text, strlen(text), &key, &again, back, &err);
  FUZZ_CHECK(rc == MSOAUTH_OK);
  FUZZ_CHECK(again.updated == NOW);
  check_same(entry, &again);
  for (size_t i = 0; i < 4; i++) {
    FUZZ_CHECK(str_eq(back[i], stored[i]));
    free(back[i]);
  }
  msoauth_cache_entry_clear(&again);
  msoauth_free_wiped(&text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *text = (const char *)data;
  struct msoauth_cache_entry entry, keyed;
  char *stored[4] = {NULL, NULL, NULL, NULL};
  struct msoauth_err err;
  msoauth_rc rc, rc_keyed;

  msoauth_err_clear(&err);
  rc = msoauth_cache_entry_parse(text, size, NULL, &entry, stored, &err);
  fuzz_check_err(&err, rc);
  msoauth_err_clear(&err);
  rc_keyed = msoauth_cache_entry_parse(text, size, &expect, &keyed, NULL, &err);
  fuzz_check_err(&err, rc_keyed);

  if (rc == MSOAUTH_OK) {
    FUZZ_CHECK(entry.n_access <= MSOAUTH_CACHE_TOKENS_MAX);
    for (size_t i = 0; i < 4; i++)
      FUZZ_CHECK(stored[i] != NULL && stored[i][0] != '\0');
    round_trip(&entry, stored);
  } else {
    FUZZ_CHECK(is_empty(&entry));
    for (size_t i = 0; i < 4; i++)
      FUZZ_CHECK(stored[i] == NULL);
  }
  if (rc_keyed == MSOAUTH_OK) {
    FUZZ_CHECK(rc == MSOAUTH_OK);
    FUZZ_CHECK(str_eq(stored[0], expect.authority) &&
               str_eq(stored[1], expect.tenant) &&
               str_eq(stored[2], expect.client_id) &&
               str_eq(stored[3], expect.identity));
    check_same(&entry, &keyed);
  } else {
    FUZZ_CHECK(is_empty(&keyed));
  }
  for (size_t i = 0; i < 4; i++)
    free(stored[i]);
  msoauth_cache_entry_clear(&entry);
  msoauth_cache_entry_clear(&keyed);
  return 0;
}
