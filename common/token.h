/*
 * token.h - one entry for the hosts: a token for (profile, identity, secret).
 *
 * Rules first (no request when they say no), then the cache (lock, read
 * again), then a grant; what a grant returns is stored for the next caller.
 */
#ifndef MSOAUTH_TOKEN_H
#define MSOAUTH_TOKEN_H

#include <stddef.h>

#include "cache.h"
#include "config.h"
#include "grant.h"
#include "identity.h"
#include "log.h"
#include "result.h"
#include "secret.h"

/* Everything a host needs, made once (before any chroot): the
 * configuration's client, HTTP handle, credentials and cache. */
struct msoauth_ctx {
  const struct msoauth_config *cfg; /* not owned */
  const struct msoauth_log *log;    /* not owned */
  struct msoauth_identity_settings identity; /* points into cfg */
  struct msoauth_client client;
  struct msoauth_cache *cache;
  struct msoauth_verifier_memo *memo; /* auth = password: checks that passed */
};

msoauth_rc msoauth_ctx_new(const struct msoauth_config *cfg,
                           const struct msoauth_log *log,
                           struct msoauth_ctx **ctx_r, struct msoauth_err *err)
    __attribute__((warn_unused_result));

void msoauth_ctx_free(struct msoauth_ctx **ctx);

struct msoauth_token {
  char *identity;                     /* whom it is for (XOAUTH2 user=) */
  struct msoauth_secret *access_token;
  long long expires_at;               /* unix seconds; 0 when unknown */
  int from_cache;                     /* served without a request */
};

void msoauth_token_clear(struct msoauth_token *token);

/*
 * A token for user (len bytes, the identity rules apply) per cfg->auth:
 * the secret is the user's password (password), the access token (token),
 * or unused (refresh, service_account, app: may be NULL). tok is initialised
 * here; clear it with msoauth_token_clear whatever the result.
 */
msoauth_rc msoauth_token_get(struct msoauth_ctx *ctx, const char *user,
                             size_t len, const struct msoauth_secret *secret,
                             struct msoauth_token *tok,
                             struct msoauth_err *err)
    __attribute__((warn_unused_result));

/* Drops the cached access token that msoauth_token_get would give for the
 * (normalised) identity, so the next call gets a fresh one. */
msoauth_rc msoauth_token_forget(struct msoauth_ctx *ctx, const char *identity,
                                struct msoauth_err *err);

#endif
