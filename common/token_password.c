/*
 * token_password.c - the token layer's verification of a user's password,
 * as the PAM module asks for it: the password checked online, with the
 * memories of the cache entry (failure_cache, the lockout, offline_grace),
 * the groups rule and store_tokens. The cache key, the identity check and
 * the store under the lock are token.c's (token_int.h).
 */
#include "config_build.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "clock.h"
#include "identity.h"
#include "jwt.h"
#include "pwhash.h"
#include "token_int.h"

void msoauth_verified_clear(struct msoauth_verified *v) {
  free(v->identity);
  memset(v, 0, sizeof(*v));
}

/* How long a lockout (AADSTS50053) is remembered at most: Entra's smart
 * lockout lasts at least a minute, and asking again within it only extends
 * it. Never longer than failure_cache. */
#define LOCKOUT_MEMORY 60

/* Whether at (unix seconds) lies within the last window seconds. */
static int within(long long at, long window, long long now) {
  return window > 0 && at > 0 && at <= now && now - at <= window;
}

static long lockout_window(const struct msoauth_config *cfg) {
  return cfg->failure_cache < LOCKOUT_MEMORY ? cfg->failure_cache
                                             : LOCKOUT_MEMORY;
}

/* Whether the offline verifier, made at `at`, still matches password within
 * `window` seconds. */
static int recent_match(const char *verifier, long long at, long window,
                        const struct msoauth_secret *password) {
  if (verifier == NULL || !within(at, window, (long long)time(NULL)))
    return 0;
  return msoauth_verifier_check(verifier, password) == MSOAUTH_OK;
}

/* Whether password is one the platform rejected within failure_cache. */
static int recent_failure(const struct msoauth_config *cfg,
                          const struct msoauth_cache_entry *entry,
                          const struct msoauth_secret *password) {
  const char *live[MSOAUTH_CACHE_FAILED_MAX];
  long long now = (long long)time(NULL);
  size_t n = 0;

  for (size_t i = 0; i < entry->n_failed; i++)
    if (within(entry->failed[i].at, cfg->failure_cache, now))
      live[n++] = entry->failed[i].verifier;
  return n > 0 && msoauth_verifier_find(live, n, password) >= 0;
}

/* Drops what has outlived its window: rejected passwords past
 * failure_cache, a lockout past its memory. Returns whether it dropped. */
static int drop_stale(const struct msoauth_config *cfg,
                      struct msoauth_cache_entry *entry, long long now) {
  size_t kept = 0;
  int dropped = 0;

  for (size_t i = 0; i < entry->n_failed; i++) {
    if (within(entry->failed[i].at, cfg->failure_cache, now)) {
      entry->failed[kept++] = entry->failed[i];
      continue;
    }
    msoauth_free_wiped(&entry->failed[i].verifier);
    dropped = 1;
  }
  for (size_t i = kept; i < entry->n_failed; i++)
    memset(&entry->failed[i], 0, sizeof(entry->failed[i]));
  entry->n_failed = kept;
  if (entry->locked_at != 0 &&
      !within(entry->locked_at, lockout_window(cfg), now)) {
    entry->locked_at = 0;
    dropped = 1;
  }
  return dropped;
}

/* The id token's groups against allowed_groups. */
static msoauth_rc check_groups(const struct msoauth_config *cfg,
                               const struct msoauth_claims *claims,
                               const char *identity, struct msoauth_err *err) {
  if (cfg->n_allowed_groups == 0)
    return MSOAUTH_OK;
  if (claims->groups_overage)
    return msoauth_fail_why(err, MSOAUTH_ERR_GROUP,
                            MSOAUTH_WHY_GROUPS_OVERAGE,
                        "%s is in too many groups for the token to list them "
                        "(groups overage): use fewer groups or assign the "
                        "groups to the app registration",
                        identity);
  if (claims->groups == NULL)
    return msoauth_fail_why(err, MSOAUTH_ERR_GROUP,
                            MSOAUTH_WHY_GROUPS_NO_CLAIM,
                        "the token of %s has no groups claim: set "
                        "groupMembershipClaims in the app registration",
                        identity);
  for (size_t i = 0; i < claims->n_groups; i++)
    for (size_t j = 0; j < cfg->n_allowed_groups; j++)
      if (strcasecmp(claims->groups[i], cfg->allowed_groups[j]) == 0)
        return MSOAUTH_OK;
  return msoauth_fail_why(err, MSOAUTH_ERR_GROUP,
                          MSOAUTH_WHY_GROUPS_NOT_MEMBER,
                          "%s is not a member of an allowed group", identity);
}

/* Rule 3, the tenant and allowed_groups on what the platform returned. */
static msoauth_rc check_tokens(struct msoauth_ctx *ctx, const char *identity,
                               const struct msoauth_tokens *tokens,
                               struct msoauth_verified *out,
                               struct msoauth_err *err) {
  struct msoauth_claims claims;
  msoauth_rc rc;

  rc = token_signed_in(ctx, identity, tokens, &claims, &out->identity, err);
  if (!rc)
    rc = check_groups(ctx->cfg, &claims, out->identity, err);
  msoauth_claims_clear(&claims);
  return rc;
}

/* What to remember of this attempt. */
enum outcome {
  TIDY,     /* nothing new: only drop what outlived its window */
  VERIFIED, /* the password and the identity were accepted online */
  REJECTED, /* the password was refused (AADSTS50126) */
  LOCKED,   /* the account is locked (AADSTS50053) */
  REFUSED,  /* any other refusal of this user */
};

/* What one attempt brings to the user's cache entry. */
struct memory {
  enum outcome what;
  unsigned flags;                /* MSOAUTH_VERIFY_* */
  struct msoauth_tokens *tokens; /* VERIFIED: the refresh token is taken */
  const char *identity;          /* VERIFIED: as verified */
  char *groups;                  /* VERIFIED: the allowed groups named */
};

/* Forgets the offline verifier and its decision. Returns whether there was
 * one. */
static int forget_offline(struct msoauth_cache_entry *entry) {
  int had = entry->offline_verifier != NULL;

  msoauth_free_wiped(&entry->offline_verifier);
  free(entry->offline_identity);
  entry->offline_identity = NULL;
  free(entry->offline_groups);
  entry->offline_groups = NULL;
  entry->verified_at = 0;
  return had;
}

/* Forgets the rejected passwords and the lockout. Returns whether there
 * was any. */
static int forget_failures(struct msoauth_cache_entry *entry) {
  int had = entry->n_failed > 0 || entry->locked_at != 0;

  for (size_t i = 0; i < entry->n_failed; i++) {
    msoauth_free_wiped(&entry->failed[i].verifier);
    entry->failed[i].at = 0;
  }
  entry->n_failed = 0;
  entry->locked_at = 0;
  return had;
}

/* Adds the verifier of a rejected password, newest first; the oldest goes
 * when all MSOAUTH_CACHE_FAILED_MAX are taken. */
static int add_failed(struct msoauth_cache_entry *entry,
                      const struct msoauth_secret *password, long long now) {
  char *verifier = NULL;

  if (msoauth_verifier_make_with(password,
                                 MSOAUTH_VERIFIER_ITERATIONS_PASSWORD,
                                 entry->n_failed > 0
                                     ? entry->failed[0].verifier
                                     : NULL,
                                 &verifier) != MSOAUTH_OK)
    return 0;
  if (entry->n_failed == MSOAUTH_CACHE_FAILED_MAX)
    msoauth_free_wiped(&entry->failed[--entry->n_failed].verifier);
  memmove(&entry->failed[1], &entry->failed[0],
          entry->n_failed * sizeof(entry->failed[0]));
  entry->failed[0].verifier = verifier;
  entry->failed[0].at = now;
  entry->n_failed++;
  return 1;
}

/* A success: the wrong passwords and the lockout are forgotten, the
 * offline verifier made anew (at today's cost) with its decision, and the
 * refresh token kept where configured. */
static int keep_success(const struct msoauth_config *cfg,
                        struct msoauth_cache_entry *entry,
                        const struct msoauth_secret *password,
                        struct memory *m, long long now) {
  int changed = forget_offline(entry);

  changed |= forget_failures(entry);
  /* Never a verifier of a password that came from another module. */
  if (cfg->offline_grace > 0 && !(m->flags & MSOAUTH_VERIFY_FOREIGN) &&
      msoauth_verifier_make_with(password,
                                 MSOAUTH_VERIFIER_ITERATIONS_PASSWORD, NULL,
                                 &entry->offline_verifier) == MSOAUTH_OK) {
    entry->verified_at = now;
    entry->offline_identity = strdup(m->identity);
    entry->offline_groups = m->groups;
    m->groups = NULL;
    if (entry->offline_identity == NULL)
      forget_offline(entry);
    changed = 1;
  }
  if (cfg->store_tokens && m->tokens->refresh_token != NULL) {
    msoauth_secret_free(&entry->refresh_token);
    entry->refresh_token = m->tokens->refresh_token;
    m->tokens->refresh_token = NULL;
    changed = 1;
  }
  return changed;
}

/* Applies m to entry; returns whether it changed. */
static int apply(const struct msoauth_config *cfg,
                 struct msoauth_cache_entry *entry,
                 const struct msoauth_secret *password, struct memory *m) {
  long long now = (long long)time(NULL);
  int changed = drop_stale(cfg, entry, now);

  switch (m->what) {
  case VERIFIED:
    return keep_success(cfg, entry, password, m, now) || changed;
  case REJECTED:
    /* An explicit "no" ends the offline grace, failure_cache or not. */
    changed |= forget_offline(entry);
    if (cfg->failure_cache > 0 && !(m->flags & MSOAUTH_VERIFY_FOREIGN))
      changed |= add_failed(entry, password, now);
    return changed;
  case LOCKED:
    changed |= forget_offline(entry);
    if (lockout_window(cfg) > 0) {
      entry->locked_at = now;
      changed = 1;
    }
    return changed;
  case REFUSED:
    return forget_offline(entry) || changed;
  case TIDY:
    break;
  }
  return changed;
}

/* What remember hands to token_update. */
struct lesson {
  const struct msoauth_secret *password;
  struct memory *m;
};

static msoauth_rc learn(struct msoauth_ctx *ctx,
                        struct msoauth_cache_entry *entry, void *arg, int *put,
                        struct msoauth_err *err) {
  struct lesson *l = arg;

  (void)err;
  *put = apply(ctx->cfg, entry, l->password, l->m);
  return MSOAUTH_OK;
}

/* Updates the user's cache entry under its lock with what this attempt
 * taught; writes only when something changed. */
static void remember(struct msoauth_ctx *ctx, const char *identity,
                     const struct msoauth_secret *password,
                     struct memory *m) {
  struct msoauth_cache_key key;
  struct lesson l = {password, m};

  token_key(ctx->cfg, identity, &key);
  if (token_update(ctx, &key, msoauth_now_ms() + 2000, 0, learn, &l, NULL) !=
      MSOAUTH_OK)
    MSOAUTH_WARN(ctx->log, "could not update the cache entry of %s",
                 identity);
}

/* The cached entry of identity (empty when there is none). */
static void read_entry(struct msoauth_ctx *ctx, const char *identity,
                       struct msoauth_cache_entry *entry) {
  struct msoauth_cache_key key;

  token_key(ctx->cfg, identity, &key);
  if (msoauth_cache_get(ctx->cache, &key, entry, NULL) != MSOAUTH_OK)
    msoauth_cache_entry_clear(entry);
}

/* Whether the stored groups name one of allowed_groups as configured now
 * (none configured: any). */
static int groups_allow(const struct msoauth_config *cfg, const char *stored) {
  if (cfg->n_allowed_groups == 0)
    return 1;
  for (const char *g = stored; g != NULL && *g != '\0';) {
    size_t len = strcspn(g, ",");

    for (size_t j = 0; j < cfg->n_allowed_groups; j++)
      if (strlen(cfg->allowed_groups[j]) == len &&
          strncasecmp(g, cfg->allowed_groups[j], len) == 0)
        return 1;
    g += len;
    if (*g == ',')
      g++;
  }
  return 0;
}

/* The allowed_groups the token names, comma-separated, for the offline
 * grace to decide as online; NULL when none is configured or named. */
static char *token_groups(const struct msoauth_config *cfg,
                          const struct msoauth_tokens *tokens) {
  const struct msoauth_secret *jwt =
      tokens->id_token != NULL ? tokens->id_token : tokens->access_token;
  struct msoauth_claims claims;
  struct msoauth_buf out;
  msoauth_rc rc = MSOAUTH_OK;

  if (cfg->n_allowed_groups == 0 || jwt == NULL ||
      msoauth_jwt_decode(msoauth_secret_value(jwt), msoauth_secret_len(jwt),
                         &claims, NULL) != MSOAUTH_OK)
    return NULL;
  msoauth_buf_init(&out, 64 * 1024, 0);
  /* allowed_groups are object ids (checked by config.c): no comma. */
  for (size_t i = 0; !rc && i < claims.n_groups; i++)
    for (size_t j = 0; !rc && j < cfg->n_allowed_groups; j++)
      if (strcasecmp(claims.groups[i], cfg->allowed_groups[j]) == 0) {
        if (out.len > 0)
          rc = msoauth_buf_adds(&out, ",");
        if (!rc)
          rc = msoauth_buf_adds(&out, cfg->allowed_groups[j]);
      }
  msoauth_claims_clear(&claims);
  if (rc || out.len == 0) {
    msoauth_buf_free(&out);
    return NULL;
  }
  return msoauth_buf_take(&out);
}

/* The platform gave no answer: the offline grace may accept the last
 * password verified online, deciding identity and groups as was decided
 * then, under today's rules. Returns rc when it does not. */
static msoauth_rc offline(struct msoauth_ctx *ctx, const char *identity,
                          const struct msoauth_secret *password,
                          const struct msoauth_cache_entry *entry,
                          msoauth_rc rc, struct msoauth_verified *out,
                          struct msoauth_err *err) {
  const struct msoauth_config *cfg = ctx->cfg;
  struct msoauth_err why;
  char *verified = NULL;

  if (entry->offline_identity == NULL ||
      !recent_match(entry->offline_verifier, entry->verified_at,
                    cfg->offline_grace, password))
    return rc;
  msoauth_err_clear(&why);
  if (msoauth_identity_match_token(&ctx->identity, identity,
                                   entry->offline_identity, &verified,
                                   &why) != MSOAUTH_OK) {
    MSOAUTH_WARN(ctx->log, "%s: not accepted offline: %s", identity,
                 why.detail);
    return rc;
  }
  if (!groups_allow(cfg, entry->offline_groups)) {
    MSOAUTH_WARN(ctx->log,
                 "%s: not accepted offline: no group of allowed_groups was "
                 "named when the password was verified online",
                 identity);
    free(verified);
    return rc;
  }
  out->identity = verified;
  out->offline = 1;
  MSOAUTH_WARN(ctx->log,
               "%s: accepted offline (the identity platform is unreachable: "
               "%s)",
               identity, err != NULL ? err->detail : msoauth_strerror(rc));
  msoauth_err_clear(err);
  return MSOAUTH_OK;
}

msoauth_rc token_failure_recall(const struct msoauth_ctx *ctx,
                                const char *identity,
                                const struct msoauth_cache_entry *entry,
                                const struct msoauth_secret *password,
                                struct msoauth_err *err) {
  if (within(entry->locked_at, lockout_window(ctx->cfg),
             (long long)time(NULL)))
    return msoauth_fail(err, MSOAUTH_ERR_LOCKED,
                        "%s: the account was reported locked less than %ld s "
                        "ago; not asked again",
                        identity, lockout_window(ctx->cfg));
  if (recent_failure(ctx->cfg, entry, password))
    return msoauth_fail(err, MSOAUTH_ERR_BAD_CREDENTIALS,
                        "%s: this password was rejected less than %ld s ago; "
                        "not sent again",
                        identity, ctx->cfg->failure_cache);
  return MSOAUTH_OK;
}

/* Refusals of this user by the platform, or of its answer by our rules:
 * each ends the offline grace. */
static int refusal(msoauth_rc rc) {
  switch (rc) {
  case MSOAUTH_ERR_BAD_CREDENTIALS:
  case MSOAUTH_ERR_NO_USER:
  case MSOAUTH_ERR_LOCKED:
  case MSOAUTH_ERR_DISABLED:
  case MSOAUTH_ERR_PASSWORD_EXPIRED:
  case MSOAUTH_ERR_MFA_REQUIRED:
  case MSOAUTH_ERR_CONDITIONAL_ACCESS:
  case MSOAUTH_ERR_DENIED:
  case MSOAUTH_ERR_GROUP:
  case MSOAUTH_ERR_ALIAS:
  case MSOAUTH_ERR_CROSS_DOMAIN:
  case MSOAUTH_ERR_TENANT:
  case MSOAUTH_ERR_NO_IDENTITY:
    return 1;
  default:
    return 0;
  }
}

/* What an online answer teaches; TIDY when nothing. */
static enum outcome outcome_of(msoauth_rc rc) {
  if (rc == MSOAUTH_OK)
    return VERIFIED;
  if (rc == MSOAUTH_ERR_BAD_CREDENTIALS)
    return REJECTED;
  if (rc == MSOAUTH_ERR_LOCKED)
    return LOCKED;
  return refusal(rc) ? REFUSED : TIDY;
}

int token_failure_learn(const struct msoauth_ctx *ctx,
                        struct msoauth_cache_entry *entry,
                        const struct msoauth_secret *password, msoauth_rc rc) {
  struct memory m = {outcome_of(rc), 0, NULL, NULL, NULL};

  /* A token obtained clears the refusals, as a verified password does;
   * what offline_grace remembers is PAM's and stays. */
  if (m.what == VERIFIED)
    return forget_failures(entry) |
           drop_stale(ctx->cfg, entry, (long long)time(NULL));
  return apply(ctx->cfg, entry, password, &m);
}

/* Whether m must be written to the entry read before the request (a
 * login writes the cache only when there is something to keep or to
 * forget). */
static int worth_writing(const struct msoauth_config *cfg,
                         const struct msoauth_cache_entry *entry,
                         const struct memory *m) {
  long long now = (long long)time(NULL);

  switch (m->what) {
  case VERIFIED:
    if (cfg->offline_grace > 0 || cfg->store_tokens ||
        entry->offline_verifier != NULL || entry->n_failed > 0 ||
        entry->locked_at != 0)
      return 1;
    break;
  case REJECTED:
    if (cfg->failure_cache > 0 || entry->offline_verifier != NULL)
      return 1;
    break;
  case LOCKED:
    if (lockout_window(cfg) > 0 || entry->offline_verifier != NULL)
      return 1;
    break;
  case REFUSED:
    if (entry->offline_verifier != NULL)
      return 1;
    break;
  case TIDY:
    break;
  }
  /* Anything past its window is dropped now, not left stored. */
  for (size_t i = 0; i < entry->n_failed; i++)
    if (!within(entry->failed[i].at, cfg->failure_cache, now))
      return 1;
  return entry->locked_at != 0 &&
         !within(entry->locked_at, lockout_window(cfg), now);
}

/* Asks the platform, and remembers the answer where configured. */
static msoauth_rc verify_online(struct msoauth_ctx *ctx, const char *identity,
                                const struct msoauth_secret *password,
                                unsigned flags,
                                const struct msoauth_cache_entry *entry,
                                struct msoauth_verified *out,
                                struct msoauth_err *err) {
  struct msoauth_tokens tokens;
  struct memory m;
  msoauth_rc rc;

  rc = msoauth_grant_password(&ctx->client, identity, password,
                              ctx->cfg->scope, token_deadline(ctx), &tokens,
                              err);
  if (!rc)
    rc = check_tokens(ctx, identity, &tokens, out, err);
  memset(&m, 0, sizeof(m));
  m.what = outcome_of(rc);
  m.flags = flags;
  m.tokens = &tokens;
  m.identity = out->identity;
  if (m.what == VERIFIED && ctx->cfg->offline_grace > 0)
    m.groups = token_groups(ctx->cfg, &tokens);
  if (worth_writing(ctx->cfg, entry, &m))
    remember(ctx, identity, password, &m);
  if (msoauth_rc_no_answer(rc))
    rc = offline(ctx, identity, password, entry, rc, out, err);
  free(m.groups);
  msoauth_tokens_clear(&tokens);
  return rc;
}

msoauth_rc msoauth_token_verify_password(struct msoauth_ctx *ctx,
                                         const char *user, size_t len,
                                         const struct msoauth_secret *password,
                                         unsigned flags,
                                         struct msoauth_verified *out,
                                         struct msoauth_err *err) {
  struct msoauth_cache_entry entry;
  char *identity = NULL;
  msoauth_rc rc;

  memset(out, 0, sizeof(*out));
  msoauth_cache_entry_init(&entry);
  msoauth_err_clear(err);
  rc = msoauth_identity_normalize(&ctx->identity, user, len, &identity, err);
  if (rc)
    return rc;
  if (password == NULL || msoauth_secret_len(password) == 0) {
    rc = msoauth_fail(err, MSOAUTH_ERR_EMPTY_SECRET, "empty password for %s",
                      identity);
    goto out;
  }
  read_entry(ctx, identity, &entry);
  rc = token_failure_recall(ctx, identity, &entry, password, err);
  if (rc) {
    struct memory tidy = {TIDY, flags, NULL, NULL, NULL};

    out->cached_failure = 1;
    if (worth_writing(ctx->cfg, &entry, &tidy))
      remember(ctx, identity, password, &tidy);
    goto out;
  }
  rc = verify_online(ctx, identity, password, flags, &entry, out, err);
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
