/*
 * token.c - the composer of the token layer: rules, cache, grant, identity
 * check and store, for a token for (profile, identity, secret).
 *
 * The identity rules decide first, without a request. Then the cache: a
 * valid access token is used as it is; a stale or missing one is acquired
 * under the entry's lock after reading the entry again, so processes that
 * race make one request between them. The cache key, the identity check of
 * returned tokens and the store under the lock are made here only; the
 * other files of the layer (token_int.h) use them.
 */
#include "config_build.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "pwhash.h"
#include "token_int.h"
#include "token_settings.h"

/* Who the request is for and under which cache key its tokens are kept. */
struct request {
  char *identity;             /* normalised user or target mailbox */
  const char *subject;        /* who signs in: identity, the service
                                 account, or NULL (app) */
  struct msoauth_cache_key key;
  const struct msoauth_secret *secret;
  long long deadline_ms;
  unsigned flags; /* MSOAUTH_GET_* */
};

msoauth_rc token_ctx_open(const struct msoauth_config *cfg,
                          const struct msoauth_log *log, unsigned what,
                          struct msoauth_ctx **ctx_r,
                          struct msoauth_err *err) {
  struct msoauth_grant_settings grant;
  struct msoauth_cache_settings cache;
  struct msoauth_ctx *ctx;
  msoauth_rc rc = MSOAUTH_OK;

  *ctx_r = NULL;
  ctx = calloc(1, sizeof(*ctx));
  if (ctx == NULL)
    return msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
  ctx->cfg = cfg;
  ctx->log = log;
  msoauth_settings_identity(cfg, &ctx->identity);
  msoauth_settings_grant(cfg, &grant);
  if (what & TOKEN_CTX_CLIENT)
    rc = msoauth_client_init(&ctx->client, &grant, log, err);
  else if (what & TOKEN_CTX_HTTP)
    rc = msoauth_http_new(&grant.http, log, &ctx->client.http, err);
  if (rc) {
    free(ctx);
    return rc;
  }
  msoauth_settings_cache(cfg, &cache);
  if (what & TOKEN_CTX_CACHE)
    rc = msoauth_cache_open(&cache, log, &ctx->cache, err);
  if (!rc && cfg->auth == MSOAUTH_AUTH_PASSWORD &&
      msoauth_verifier_memo_new(&ctx->memo) != MSOAUTH_OK)
    rc = msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
  if (rc) {
    msoauth_ctx_free(&ctx);
    return rc;
  }
  *ctx_r = ctx;
  return MSOAUTH_OK;
}

msoauth_rc msoauth_ctx_new(const struct msoauth_config *cfg,
                           const struct msoauth_log *log,
                           struct msoauth_ctx **ctx_r,
                           struct msoauth_err *err) {
  /* A caller that hands over its own tokens needs no cache. */
  return token_ctx_open(cfg, log,
                        cfg->auth == MSOAUTH_AUTH_TOKEN
                            ? TOKEN_CTX_CLIENT
                            : TOKEN_CTX_CLIENT | TOKEN_CTX_CACHE,
                        ctx_r, err);
}

msoauth_rc msoauth_ctx_preload(const struct msoauth_ctx *ctx,
                               struct msoauth_err *err) {
  if (ctx->cfg->auth == MSOAUTH_AUTH_TOKEN)
    return MSOAUTH_OK;
  return msoauth_http_preload(ctx->log, err);
}

void msoauth_ctx_free(struct msoauth_ctx **ctx) {
  if (ctx == NULL || *ctx == NULL)
    return;
  msoauth_client_cleanup(&(*ctx)->client);
  msoauth_cache_close(&(*ctx)->cache);
  msoauth_verifier_memo_free(&(*ctx)->memo);
  free(*ctx);
  *ctx = NULL;
}

void token_key(const struct msoauth_config *cfg, const char *subject,
               struct msoauth_cache_key *key) {
  key->authority = cfg->authority;
  key->tenant = cfg->tenant;
  key->client_id = cfg->client_id;
  key->identity = subject != NULL ? subject : MSOAUTH_CACHE_APP_IDENTITY;
}

long long token_deadline(const struct msoauth_ctx *ctx) {
  return msoauth_now_ms() + ctx->cfg->timeout * 1000;
}

msoauth_rc token_signed_in(const struct msoauth_ctx *ctx, const char *subject,
                           const struct msoauth_tokens *tokens,
                           struct msoauth_claims *claims_r, char **identity_r,
                           struct msoauth_err *err) {
  return msoauth_identity_from_tokens(&ctx->identity, subject, tokens->id_token,
                                      tokens->access_token, claims_r,
                                      identity_r, err);
}

msoauth_rc token_update(struct msoauth_ctx *ctx,
                        const struct msoauth_cache_key *key,
                        long long deadline_ms, unsigned flags,
                        token_change_fn change, void *arg,
                        struct msoauth_err *err) {
  struct msoauth_cache_entry entry;
  struct msoauth_cache_lock *lock = NULL;
  int put = 0;
  msoauth_rc rc;

  msoauth_cache_entry_init(&entry);
  rc = msoauth_cache_lock(ctx->cache, key, deadline_ms, &lock, err);
  /* A lock that cannot be made costs at most a request more, as a store
   * that fails does, where the caller says so. */
  if (rc == MSOAUTH_ERR_IO && (flags & TOKEN_LOCK_OPTIONAL)) {
    MSOAUTH_WARN(ctx->log, "going on without the cache lock of %s: %s",
                 key->identity, err != NULL ? err->detail : "");
    msoauth_err_clear(err);
    rc = MSOAUTH_OK;
  }
  if (rc)
    goto out;
  rc = msoauth_cache_get(ctx->cache, key, &entry, err);
  if (rc == MSOAUTH_ERR_NOT_FOUND) {
    msoauth_err_clear(err);
    rc = MSOAUTH_OK;
  }
  if (!rc)
    rc = change(ctx, &entry, arg, &put, err);
  if (!rc && put)
    rc = msoauth_cache_put(ctx->cache, key, &entry, err);
out:
  msoauth_cache_entry_clear(&entry);
  msoauth_cache_unlock(&lock);
  return rc;
}

msoauth_rc token_keep(struct msoauth_cache_entry *entry, const char *scope,
                      struct msoauth_tokens *tokens, struct msoauth_err *err) {
  long long now = (long long)time(NULL);
  msoauth_rc rc;

  /* Microsoft rotates refresh tokens on use: keep the newest. */
  if (tokens->refresh_token != NULL) {
    msoauth_secret_free(&entry->refresh_token);
    entry->refresh_token = tokens->refresh_token;
    tokens->refresh_token = NULL;
  }
  rc = msoauth_cache_entry_set(entry, scope, tokens->access_token,
                               tokens->expires_at, now);
  if (rc)
    return msoauth_fail(err, rc, "cannot cache the access token");
  entry->updated = now;
  return MSOAUTH_OK;
}

void msoauth_token_clear(struct msoauth_token *token) {
  free(token->identity);
  msoauth_secret_free(&token->access_token);
  memset(token, 0, sizeof(*token));
}

/* Applies the identity rules and sets the cache key of the request. */
static msoauth_rc request_init(struct msoauth_ctx *ctx, struct request *req,
                               const char *user, size_t len,
                               struct msoauth_err *err) {
  const struct msoauth_config *cfg = ctx->cfg;
  msoauth_rc rc;

  rc = msoauth_identity_normalize(&ctx->identity, user, len, &req->identity,
                                  err);
  if (!rc && cfg->auth == MSOAUTH_AUTH_SERVICE_ACCOUNT)
    rc = msoauth_identity_check_service(&ctx->identity, req->identity, err);
  if (rc)
    return rc;
  switch (cfg->auth) {
  case MSOAUTH_AUTH_SERVICE_ACCOUNT:
    req->subject = cfg->service_account;
    break;
  case MSOAUTH_AUTH_APP:
    req->subject = NULL;
    break;
  default:
    req->subject = req->identity;
  }
  token_key(cfg, req->subject, &req->key);
  req->deadline_ms = token_deadline(ctx);
  return MSOAUTH_OK;
}

/* With auth = password, cached tokens serve only the password they were
 * obtained with (PBKDF2, once per process and password: ctx->memo). */
static int password_matches(const struct msoauth_ctx *ctx,
                            const struct request *req,
                            const struct msoauth_cache_entry *entry) {
  if (ctx->cfg->auth != MSOAUTH_AUTH_PASSWORD)
    return 1;
  return entry->password_verifier != NULL &&
         msoauth_verifier_check_memo(ctx->memo, entry->password_verifier,
                                     req->secret) == MSOAUTH_OK;
}

/* Fills tok from a valid cached access token; MSOAUTH_ERR_NOT_FOUND when
 * the entry has none usable. */
static msoauth_rc from_entry(struct msoauth_ctx *ctx, const struct request *req,
                             const struct msoauth_cache_entry *entry,
                             struct msoauth_token *tok) {
  const struct msoauth_cache_token *hit;

  hit = msoauth_cache_entry_find(entry, ctx->cfg->scope, (long long)time(NULL),
                                 ctx->cfg->refresh_margin);
  if (hit == NULL || !password_matches(ctx, req, entry))
    return MSOAUTH_ERR_NOT_FOUND;
  if (msoauth_secret_dup(hit->token, &tok->access_token) != MSOAUTH_OK)
    return MSOAUTH_ERR_NOMEM;
  tok->expires_at = hit->expires_at;
  tok->from_cache = 1;
  return MSOAUTH_OK;
}

/* The first grant that applies when there is no usable refresh token. */
static msoauth_rc first_grant(struct msoauth_ctx *ctx,
                              const struct request *req,
                              struct msoauth_tokens *tokens,
                              struct msoauth_err *err) {
  const struct msoauth_config *cfg = ctx->cfg;

  switch (cfg->auth) {
  case MSOAUTH_AUTH_PASSWORD:
    return msoauth_grant_password(&ctx->client, req->subject, req->secret,
                                  cfg->scope, req->deadline_ms, tokens, err);
  case MSOAUTH_AUTH_SERVICE_ACCOUNT:
    if (cfg->service_account_password == NULL)
      return msoauth_fail_why(err, MSOAUTH_ERR_NOT_FOUND,
                              MSOAUTH_WHY_NO_SIGN_IN,
                              "no refresh token for %s in the cache and no "
                              "service_account_password_file: run "
                              "`msoauth login %s`",
                              req->subject, req->subject);
    return msoauth_grant_password(&ctx->client, req->subject,
                                  cfg->service_account_password, cfg->scope,
                                  req->deadline_ms, tokens, err);
  case MSOAUTH_AUTH_APP:
    return msoauth_grant_client_credentials(&ctx->client, cfg->scope,
                                            req->deadline_ms, tokens, err);
  case MSOAUTH_AUTH_REFRESH:
  default:
    return msoauth_fail_why(err, MSOAUTH_ERR_NOT_FOUND, MSOAUTH_WHY_NO_SIGN_IN,
                            "no refresh token for %s in the cache: run "
                            "`msoauth login %s`",
                            req->subject, req->subject);
  }
}

/*
 * The refresh grant. It sends the profile's scopes, as Entra's refresh
 * tokens (not bound to the scopes of the sign-in) need for another
 * resource; a standard server refuses a scope beyond the one it granted
 * (RFC 6749 section 6, invalid_scope), so then it asks once more without
 * scope, which is the scope granted. Once: no loop.
 */
static msoauth_rc refresh(struct msoauth_ctx *ctx, const struct request *req,
                          const struct msoauth_cache_entry *entry,
                          struct msoauth_tokens *tokens,
                          struct msoauth_err *err) {
  msoauth_rc rc;

  rc = msoauth_grant_refresh(&ctx->client, entry->refresh_token,
                             ctx->cfg->scope, req->deadline_ms, tokens, err);
  if (rc != MSOAUTH_ERR_CLIENT_CONFIG || err == NULL ||
      err->why != MSOAUTH_WHY_INVALID_SCOPE)
    return rc;
  MSOAUTH_INFO(ctx->log,
               "the identity platform refused the scope asked for %s "
               "(invalid_scope: more than it granted?); refreshing once "
               "more for the scope it granted",
               req->subject);
  msoauth_err_clear(err);
  return msoauth_grant_refresh(&ctx->client, entry->refresh_token, NULL,
                               req->deadline_ms, tokens, err);
}

/* Asks the identity platform: the refresh token when there is one the
 * caller may use, else the first grant. */
static msoauth_rc acquire(struct msoauth_ctx *ctx, const struct request *req,
                          const struct msoauth_cache_entry *entry,
                          struct msoauth_tokens *tokens,
                          struct msoauth_err *err) {
  msoauth_rc rc;

  if (entry->refresh_token != NULL && password_matches(ctx, req, entry)) {
    rc = refresh(ctx, req, entry, tokens, err);
    if (rc == MSOAUTH_ERR_GRANT_EXPIRED &&
        ctx->cfg->auth == MSOAUTH_AUTH_REFRESH && err != NULL) {
      /* The advice names the user, which the grant cannot. */
      char code[32] = "";

      if (err->aadsts != 0)
        snprintf(code, sizeof(code), " (AADSTS%ld)", err->aadsts);
      return msoauth_fail_why(err, rc, MSOAUTH_WHY_NO_SIGN_IN,
                              "the stored sign-in of %s expired or was "
                              "revoked%s: run `msoauth login %s` again",
                              req->subject, code, req->subject);
    }
    if (rc != MSOAUTH_ERR_GRANT_EXPIRED ||
        ctx->cfg->auth == MSOAUTH_AUTH_REFRESH)
      return rc;
    MSOAUTH_INFO(ctx->log, "the refresh token of %s expired; signing in again",
                 req->subject);
  }
  return first_grant(ctx, req, tokens, err);
}

/* Rule 3 on the identity the new tokens name; sets tok->identity. */
static msoauth_rc check_identity(struct msoauth_ctx *ctx,
                                 const struct request *req,
                                 const struct msoauth_tokens *tokens,
                                 struct msoauth_token *tok,
                                 struct msoauth_err *err) {
  char *named = NULL;
  msoauth_rc rc;

  /* App-only tokens name no user: they act for the target asked. */
  if (req->subject == NULL)
    goto target;
  rc = token_signed_in(ctx, req->subject, tokens, NULL, &named, err);
  if (rc)
    return rc;
  if (ctx->cfg->auth != MSOAUTH_AUTH_SERVICE_ACCOUNT) {
    tok->identity = named;
    return MSOAUTH_OK;
  }
  /* A service account's token acts for the target. */
  free(named);
target:
  tok->identity = strdup(req->identity);
  if (tok->identity == NULL)
    return msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
  return MSOAUTH_OK;
}

/* Puts what a grant returned into entry, with the verifier of the
 * password it was obtained with when *job (made during the request) or
 * need says one is due (auth = password). */
static msoauth_rc store(struct msoauth_ctx *ctx, const struct request *req,
                        struct msoauth_cache_entry *entry, int need,
                        struct msoauth_verifier_job **job,
                        struct msoauth_tokens *tokens,
                        struct msoauth_err *err) {
  msoauth_rc rc = MSOAUTH_OK;

  if (*job != NULL || need) {
    msoauth_free_wiped(&entry->password_verifier);
    if (*job != NULL)
      rc = msoauth_verifier_finish(job, &entry->password_verifier);
    else
      rc = msoauth_verifier_make(req->secret, &entry->password_verifier);
    if (rc)
      return msoauth_fail(err, rc, "cannot make a password verifier");
  }
  return token_keep(entry, ctx->cfg->scope, tokens, err);
}

/* What the failure memory of an entry looked like when it was checked: a
 * refusal another login remembers since shows as a change. */
struct memory_mark {
  size_t n_failed;
  long long newest;
  long long locked_at;
};

static void mark_of(const struct msoauth_cache_entry *entry,
                    struct memory_mark *m) {
  m->n_failed = entry->n_failed;
  m->newest = entry->n_failed > 0 ? entry->failed[0].at : 0;
  m->locked_at = entry->locked_at;
}

static int same_mark(const struct memory_mark *a,
                     const struct memory_mark *b) {
  return a->n_failed == b->n_failed && a->newest == b->newest &&
         a->locked_at == b->locked_at;
}

/* How often a login goes back to make, outside the lock, a check another
 * login made due while it waited for the lock: a refusal remembered, or a
 * token stored whose password is to be compared (PBKDF2). */
#define RECHECKS 2

/* A request and its answer, for get_locked. */
struct getting {
  const struct request *req;
  struct msoauth_token *tok;
  struct memory_mark seen; /* the failure memory checked before the lock */
  int had_token;           /* a valid token was there before the lock */
  int recheck;             /* may go back to check a change */
  int again;               /* went back: check and lock again */
  msoauth_rc refused;      /* a refusal the entry now remembers */
  struct msoauth_err why;  /* ... and what it said */
};

/* With MSOAUTH_GET_FAILURE_MEMORY, what the answer rc teaches the entry
 * (written with it); a refusal is handed back through g, since a failure
 * of the change would write nothing. Returns the result for token_update. */
static msoauth_rc learn_failure(struct msoauth_ctx *ctx,
                                struct msoauth_cache_entry *entry,
                                struct getting *g, msoauth_rc rc, int *put,
                                struct msoauth_err *err) {
  /* A token that could not be stored leaves the entry as it was. */
  if (!(g->req->flags & MSOAUTH_GET_FAILURE_MEMORY) || (!rc && !*put) ||
      !token_failure_learn(ctx, entry, g->req->secret, rc))
    return rc;
  *put = 1;
  if (rc) {
    g->refused = rc;
    if (err != NULL)
      g->why = *err;
  }
  return MSOAUTH_OK;
}

/* Under the lock, with MSOAUTH_GET_FAILURE_MEMORY: a refusal remembered
 * while this login waited (logins racing with one stale password make one
 * request between them). Its check (PBKDF2) is made outside the lock, so
 * that the others do not wait for it: g->again sends the login back. */
static msoauth_rc recall_locked(struct msoauth_ctx *ctx,
                                const struct msoauth_cache_entry *entry,
                                struct getting *g, struct msoauth_err *err) {
  struct memory_mark now;

  mark_of(entry, &now);
  if (same_mark(&now, &g->seen))
    return MSOAUTH_OK; /* checked already */
  if (g->recheck) {
    g->again = 1;
    return MSOAUTH_OK;
  }
  return token_failure_recall(ctx, g->req->identity, entry, g->req->secret,
                              err);
}

/* Under the lock: another login stored a token while this one waited. Its
 * password check (PBKDF2) is made outside the lock, or a herd of
 * processes would take turns at it: g->again sends the login back. */
static int stored_meanwhile(struct msoauth_ctx *ctx,
                            const struct msoauth_cache_entry *entry,
                            struct getting *g) {
  if (!g->recheck || g->had_token || ctx->cfg->auth != MSOAUTH_AUTH_PASSWORD ||
      msoauth_cache_entry_find(entry, ctx->cfg->scope, (long long)time(NULL),
                               ctx->cfg->refresh_margin) == NULL)
    return 0;
  g->again = 1;
  return 1;
}

/* Under the entry's lock, on the entry read again: use it, or acquire
 * and store (token_update writes it). */
static msoauth_rc get_locked(struct msoauth_ctx *ctx,
                             struct msoauth_cache_entry *entry, void *arg,
                             int *put, struct msoauth_err *err) {
  struct getting *g = arg;
  const struct request *req = g->req;
  struct msoauth_token *tok = g->tok;
  struct msoauth_tokens tokens;
  struct msoauth_verifier_job *job = NULL;
  int need;
  msoauth_rc rc;

  memset(&tokens, 0, sizeof(tokens));
  if (stored_meanwhile(ctx, entry, g))
    return MSOAUTH_OK;
  if (from_entry(ctx, req, entry, tok) == MSOAUTH_OK) {
    tok->identity = strdup(req->identity);
    return tok->identity != NULL ? MSOAUTH_OK : MSOAUTH_ERR_NOMEM;
  }
  if (req->flags & MSOAUTH_GET_FAILURE_MEMORY) {
    rc = recall_locked(ctx, entry, g, err);
    if (rc || g->again)
      return rc;
  }
  /* The verifier of a new password is made while the request is in
   * flight (PBKDF2 is milliseconds; the request tens of them or more).
   * Without a thread, store makes it afterwards. */
  need = ctx->cfg->auth == MSOAUTH_AUTH_PASSWORD &&
         !password_matches(ctx, req, entry);
  if (need && msoauth_verifier_start(req->secret, &job) != MSOAUTH_OK)
    job = NULL;
  rc = acquire(ctx, req, entry, &tokens, err);
  if (!rc)
    rc = check_identity(ctx, req, &tokens, tok, err);
  if (!rc)
    rc = msoauth_secret_dup(tokens.access_token, &tok->access_token);
  if (!rc) {
    tok->expires_at = tokens.expires_at;
    /* A token that cannot be cached is still the caller's. */
    if (store(ctx, req, entry, need, &job, &tokens, err) == MSOAUTH_OK)
      *put = 1;
    else
      MSOAUTH_WARN(ctx->log, "could not cache the token of %s: %s",
                   req->key.identity, err != NULL ? err->detail : "");
  }
  /* The request failed: the verifier goes, wiped, unstored. */
  if (job != NULL)
    (void)msoauth_verifier_finish(&job, NULL);
  msoauth_tokens_clear(&tokens);
  return learn_failure(ctx, entry, g, rc, put, err);
}

/* Without the lock: a valid cached token (MSOAUTH_OK), a refusal the
 * failure memory holds (MSOAUTH_GET_FAILURE_MEMORY), or
 * MSOAUTH_ERR_NOT_FOUND: go on under the lock. */
static msoauth_rc get_unlocked(struct msoauth_ctx *ctx, struct getting *g,
                               struct msoauth_err *err) {
  const struct request *req = g->req;
  struct msoauth_cache_entry entry;
  msoauth_rc rc = MSOAUTH_ERR_NOT_FOUND;

  /* An entry that cannot be read is empty here (the lock reads it
   * again, and says why). */
  if (msoauth_cache_get(ctx->cache, &req->key, &entry, NULL) != MSOAUTH_OK)
    goto out;
  g->had_token =
      msoauth_cache_entry_find(&entry, ctx->cfg->scope, (long long)time(NULL),
                               ctx->cfg->refresh_margin) != NULL;
  if (from_entry(ctx, req, &entry, g->tok) == MSOAUTH_OK) {
    g->tok->identity = strdup(req->identity);
    rc = g->tok->identity != NULL
             ? MSOAUTH_OK
             : msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
  }
out:
  if (rc == MSOAUTH_ERR_NOT_FOUND &&
      (req->flags & MSOAUTH_GET_FAILURE_MEMORY)) {
    msoauth_rc refusal =
        token_failure_recall(ctx, req->identity, &entry, req->secret, err);

    mark_of(&entry, &g->seen);
    if (refusal)
      rc = refusal;
  }
  msoauth_cache_entry_clear(&entry);
  return rc;
}

/* The token, from the cache or the identity platform. */
static msoauth_rc get_cached(struct msoauth_ctx *ctx, const struct request *req,
                             struct msoauth_token *tok,
                             struct msoauth_err *err) {
  struct getting g;
  msoauth_rc rc;

  memset(&g, 0, sizeof(g));
  g.req = req;
  g.tok = tok;
  for (int round = 0;; round++) {
    g.had_token = 0;
    rc = get_unlocked(ctx, &g, err);
    if (rc != MSOAUTH_ERR_NOT_FOUND)
      return rc;
    msoauth_err_clear(err);
    g.recheck = round < RECHECKS;
    g.again = 0;
    rc = token_update(ctx, &req->key, req->deadline_ms, TOKEN_LOCK_OPTIONAL,
                      get_locked, &g, err);
    if (!g.again)
      break;
  }
  if (g.refused) {
    if (rc)
      MSOAUTH_WARN(ctx->log, "could not remember the refusal of %s: %s",
                   req->key.identity, err != NULL ? err->detail : "");
    if (err != NULL)
      *err = g.why;
    return g.refused;
  }
  /* Acquired, but the write failed: the token is still good. */
  if (rc && tok->access_token != NULL && !tok->from_cache) {
    MSOAUTH_WARN(ctx->log, "could not cache the token of %s: %s",
                 req->key.identity, err != NULL ? err->detail : "");
    msoauth_err_clear(err);
    rc = MSOAUTH_OK;
  }
  return rc;
}

/* auth = token: the caller's secret is the access token. */
static msoauth_rc given_token(const struct request *req,
                              struct msoauth_token *tok,
                              struct msoauth_err *err) {
  if (!msoauth_secret_is_token(req->secret))
    return msoauth_fail(err, MSOAUTH_ERR_INVALID,
                        "the access token given holds characters a token "
                        "cannot hold");
  tok->identity = strdup(req->identity);
  if (tok->identity == NULL ||
      msoauth_secret_dup(req->secret, &tok->access_token) != MSOAUTH_OK)
    return msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
  return MSOAUTH_OK;
}

msoauth_rc msoauth_token_get(struct msoauth_ctx *ctx, const char *user,
                             size_t len, const struct msoauth_secret *secret,
                             struct msoauth_token *tok,
                             struct msoauth_err *err) {
  return msoauth_token_get_with(ctx, user, len, secret, 0, tok, err);
}

msoauth_rc msoauth_token_get_with(struct msoauth_ctx *ctx, const char *user,
                                  size_t len,
                                  const struct msoauth_secret *secret,
                                  unsigned flags, struct msoauth_token *tok,
                                  struct msoauth_err *err) {
  struct request req;
  enum msoauth_auth auth = ctx->cfg->auth;
  msoauth_rc rc;

  memset(tok, 0, sizeof(*tok));
  memset(&req, 0, sizeof(req));
  msoauth_err_clear(err);
  req.secret = secret;
  if (auth == MSOAUTH_AUTH_PASSWORD)
    req.flags = flags & MSOAUTH_GET_FAILURE_MEMORY;
  rc = request_init(ctx, &req, user, len, err);
  if (rc)
    goto out;
  if ((auth == MSOAUTH_AUTH_PASSWORD || auth == MSOAUTH_AUTH_TOKEN) &&
      (secret == NULL || msoauth_secret_len(secret) == 0)) {
    rc = msoauth_fail(err, MSOAUTH_ERR_EMPTY_SECRET, "empty %s for %s",
                      auth == MSOAUTH_AUTH_TOKEN ? "token" : "password",
                      req.identity);
    goto out;
  }
  if (auth == MSOAUTH_AUTH_TOKEN)
    rc = given_token(&req, tok, err);
  else
    rc = get_cached(ctx, &req, tok, err);
  if (!rc)
    MSOAUTH_INFO(ctx->log, "token for %s %s", tok->identity,
                 tok->from_cache ? "from the cache" : "acquired");
out:
  if (rc)
    msoauth_token_clear(tok);
  free(req.identity);
  return rc;
}

/* Under the entry's lock: the access token of the profile's scope goes;
 * the entry is written only when it held one. */
static msoauth_rc drop_scope(struct msoauth_ctx *ctx,
                             struct msoauth_cache_entry *entry, void *arg,
                             int *put, struct msoauth_err *err) {
  size_t before = entry->n_access;

  (void)arg;
  (void)err;
  msoauth_cache_entry_drop(entry, ctx->cfg->scope);
  *put = entry->n_access != before;
  return MSOAUTH_OK;
}

msoauth_rc msoauth_token_forget(struct msoauth_ctx *ctx, const char *identity,
                                struct msoauth_err *err) {
  struct request req;
  msoauth_rc rc;

  memset(&req, 0, sizeof(req));
  if (ctx->cache == NULL)
    return MSOAUTH_OK;
  rc = request_init(ctx, &req, identity, strlen(identity), err);
  if (!rc)
    rc = token_update(ctx, &req.key, req.deadline_ms, 0, drop_scope, NULL,
                      err);
  free(req.identity);
  return rc;
}
