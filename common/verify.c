/*
 * verify.c - a user's password checked against the identity platform, with
 * the failure cache and the offline grace of the PAM module.
 */
#include "config_build.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "identity.h"
#include "jwt.h"
#include "verifier.h"
#include "verify.h"

void msoauth_verified_clear(struct msoauth_verified *v) {
  free(v->identity);
  memset(v, 0, sizeof(*v));
}

static void cache_key(const struct msoauth_ctx *ctx, const char *identity,
                      struct msoauth_cache_key *key) {
  key->authority = ctx->cfg->authority;
  key->tenant = ctx->cfg->tenant;
  key->client_id = ctx->cfg->client_id;
  key->identity = identity;
}

/* Whether verifier, made at `at`, still matches password within `window`
 * seconds. */
static int recent_match(const char *verifier, long long at, long window,
                        const struct msoauth_secret *password) {
  long long now = (long long)time(NULL);

  if (verifier == NULL || window <= 0 || at > now || now - at > window)
    return 0;
  return msoauth_verifier_check(verifier, password) == MSOAUTH_OK;
}

/* The id token's groups against allowed_groups. */
static msoauth_rc check_groups(const struct msoauth_config *cfg,
                               const struct msoauth_claims *claims,
                               const char *identity, struct msoauth_err *err) {
  if (cfg->n_allowed_groups == 0)
    return MSOAUTH_OK;
  if (claims->groups_overage)
    return msoauth_fail(err, MSOAUTH_ERR_GROUP,
                        "%s is in too many groups for the token to list them "
                        "(groups overage): use fewer groups or assign the "
                        "groups to the app registration",
                        identity);
  if (claims->groups == NULL)
    return msoauth_fail(err, MSOAUTH_ERR_GROUP,
                        "the token of %s has no groups claim: set "
                        "groupMembershipClaims in the app registration",
                        identity);
  for (size_t i = 0; i < claims->n_groups; i++)
    for (size_t j = 0; j < cfg->n_allowed_groups; j++)
      if (strcasecmp(claims->groups[i], cfg->allowed_groups[j]) == 0)
        return MSOAUTH_OK;
  return msoauth_fail(err, MSOAUTH_ERR_GROUP,
                      "%s is not a member of an allowed group", identity);
}

/* Rule 3, the tenant and allowed_groups on what the platform returned. */
static msoauth_rc check_tokens(struct msoauth_ctx *ctx, const char *identity,
                               const struct msoauth_tokens *tokens,
                               struct msoauth_verified *out,
                               struct msoauth_err *err) {
  struct msoauth_claims claims;
  msoauth_rc rc;

  rc = msoauth_identity_from_tokens(ctx->cfg, identity, tokens->id_token,
                                    tokens->access_token, &claims,
                                    &out->identity, err);
  if (!rc)
    rc = check_groups(ctx->cfg, &claims, out->identity, err);
  msoauth_claims_clear(&claims);
  return rc;
}

/* What to remember of this attempt. */
enum outcome { VERIFIED, REJECTED };

/* Updates the user's cache entry under its lock: the verifier of the
 * password verified or rejected, and the refresh token to keep. */
static void remember(struct msoauth_ctx *ctx, const char *identity,
                     const struct msoauth_secret *password, enum outcome what,
                     struct msoauth_tokens *tokens) {
  const struct msoauth_config *cfg = ctx->cfg;
  struct msoauth_cache_entry entry;
  struct msoauth_cache_lock *lock = NULL;
  struct msoauth_cache_key key;
  long long now = (long long)time(NULL);
  char **verifier;
  msoauth_rc rc;

  cache_key(ctx, identity, &key);
  msoauth_cache_entry_init(&entry);
  rc = msoauth_cache_lock(ctx->cache, &key, msoauth_now_ms() + 2000, &lock,
                          NULL);
  if (!rc && msoauth_cache_get(ctx->cache, &key, &entry, NULL) ==
                 MSOAUTH_ERR_NOT_FOUND)
    rc = MSOAUTH_OK;
  if (rc)
    goto out;
  verifier = what == REJECTED ? &entry.failed_verifier : &entry.offline_verifier;
  msoauth_free_wiped(verifier);
  if (what == VERIFIED) {
    /* The right password clears any memory of a wrong one. */
    msoauth_free_wiped(&entry.failed_verifier);
    if (cfg->offline_grace > 0 &&
        msoauth_verifier_make(password, verifier) == MSOAUTH_OK)
      entry.verified_at = now;
    if (cfg->store_tokens && tokens->refresh_token != NULL) {
      msoauth_secret_free(&entry.refresh_token);
      entry.refresh_token = tokens->refresh_token;
      tokens->refresh_token = NULL;
    }
  } else if (msoauth_verifier_make(password, verifier) == MSOAUTH_OK) {
    entry.failed_at = now;
  }
  rc = msoauth_cache_put(ctx->cache, &key, &entry, NULL);
out:
  if (rc)
    MSOAUTH_WARN(ctx->log, "could not update the cache entry of %s",
                 identity);
  msoauth_cache_entry_clear(&entry);
  msoauth_cache_unlock(&lock);
}

/* The cached entry of identity (empty when there is none). */
static void read_entry(struct msoauth_ctx *ctx, const char *identity,
                       struct msoauth_cache_entry *entry) {
  struct msoauth_cache_key key;

  cache_key(ctx, identity, &key);
  if (msoauth_cache_get(ctx->cache, &key, entry, NULL) != MSOAUTH_OK)
    msoauth_cache_entry_clear(entry);
}

/* The platform could not be reached: the offline grace may accept the last
 * password verified online. Returns rc when it does not. */
static msoauth_rc offline(struct msoauth_ctx *ctx, const char *identity,
                          const struct msoauth_secret *password,
                          const struct msoauth_cache_entry *entry,
                          msoauth_rc rc, struct msoauth_verified *out,
                          struct msoauth_err *err) {
  if (!recent_match(entry->offline_verifier, entry->verified_at,
                    ctx->cfg->offline_grace, password))
    return rc;
  out->identity = strdup(identity);
  if (out->identity == NULL)
    return msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
  out->offline = 1;
  MSOAUTH_WARN(ctx->log,
               "%s: accepted offline (the identity platform is unreachable: "
               "%s)",
               identity, err != NULL ? err->detail : msoauth_strerror(rc));
  msoauth_err_clear(err);
  return MSOAUTH_OK;
}

/* Asks the platform, and remembers the answer where configured. */
static msoauth_rc verify_online(struct msoauth_ctx *ctx, const char *identity,
                                const struct msoauth_secret *password,
                                const struct msoauth_cache_entry *entry,
                                struct msoauth_verified *out,
                                struct msoauth_err *err) {
  struct msoauth_tokens tokens;
  msoauth_rc rc;

  rc = msoauth_grant_password(&ctx->client, identity, password,
                              ctx->cfg->scope,
                              msoauth_now_ms() + ctx->cfg->timeout * 1000,
                              &tokens, err);
  if (rc == MSOAUTH_ERR_BAD_CREDENTIALS && ctx->cfg->failure_cache > 0)
    remember(ctx, identity, password, REJECTED, &tokens);
  else if (msoauth_rc_unreachable(rc))
    rc = offline(ctx, identity, password, entry, rc, out, err);
  else if (!rc)
    rc = check_tokens(ctx, identity, &tokens, out, err);
  /* A login writes the cache only when there is something to keep or a
   * rejected password to forget. */
  if (!rc && !out->offline &&
      (ctx->cfg->offline_grace > 0 || ctx->cfg->store_tokens ||
       entry->failed_verifier != NULL))
    remember(ctx, identity, password, VERIFIED, &tokens);
  msoauth_tokens_clear(&tokens);
  return rc;
}

msoauth_rc msoauth_password_verify(struct msoauth_ctx *ctx, const char *user,
                                   size_t len,
                                   const struct msoauth_secret *password,
                                   struct msoauth_verified *out,
                                   struct msoauth_err *err) {
  struct msoauth_cache_entry entry;
  char *identity = NULL;
  msoauth_rc rc;

  memset(out, 0, sizeof(*out));
  msoauth_cache_entry_init(&entry);
  msoauth_err_clear(err);
  rc = msoauth_identity_normalize(ctx->cfg, user, len, &identity, err);
  if (rc)
    return rc;
  if (password == NULL || msoauth_secret_len(password) == 0) {
    rc = msoauth_fail(err, MSOAUTH_ERR_EMPTY_SECRET, "empty password for %s",
                      identity);
    goto out;
  }
  read_entry(ctx, identity, &entry);
  if (recent_match(entry.failed_verifier, entry.failed_at,
                   ctx->cfg->failure_cache, password)) {
    out->cached_failure = 1;
    rc = msoauth_fail(err, MSOAUTH_ERR_BAD_CREDENTIALS,
                      "%s: this password was rejected less than %ld s ago; "
                      "not sent again",
                      identity, ctx->cfg->failure_cache);
    goto out;
  }
  rc = verify_online(ctx, identity, password, &entry, out, err);
out:
  if (rc) {
    /* The caller must still learn that no request was sent. */
    int cached_failure = out->cached_failure;

    msoauth_verified_clear(out);
    out->cached_failure = cached_failure;
  }
  msoauth_cache_entry_clear(&entry);
  free(identity);
  return rc;
}
