/*
 * token_int.h - what the files of the token layer share (token.c, the
 * composer; token_password.c, PAM's memory of passwords; token_login.c,
 * the device-code sign-in; token_admin.c, the cache and authority as the
 * CLI sees them). Nothing outside the token layer includes it.
 */
#ifndef MSOAUTH_TOKEN_INT_H
#define MSOAUTH_TOKEN_INT_H

#include "cache.h"
#include "grant.h"
#include "identity.h"
#include "token.h"

struct msoauth_ctx {
  const struct msoauth_config *cfg; /* not owned */
  const struct msoauth_log *log;    /* not owned */
  struct msoauth_identity_settings identity; /* points into cfg */
  struct msoauth_client client;
  struct msoauth_cache *cache;
  struct msoauth_verifier_memo *memo; /* auth = password: checks that passed */
};

/* What token_ctx_open makes besides the configuration. */
#define TOKEN_CTX_CLIENT 0x1u /* the grants' client (HTTP, credentials) */
#define TOKEN_CTX_CACHE 0x2u  /* the cache (creates cache_dir) */
#define TOKEN_CTX_HTTP 0x4u   /* only the client's HTTP handle (no
                                 credential), without TOKEN_CTX_CLIENT */

/* The one place the client and the cache are made from the configuration:
 * msoauth_ctx_new for the hosts, and the CLI's operations that need only
 * part of it. */
msoauth_rc token_ctx_open(const struct msoauth_config *cfg,
                          const struct msoauth_log *log, unsigned what,
                          struct msoauth_ctx **ctx_r, struct msoauth_err *err)
    __attribute__((warn_unused_result));

/* The cache key of subject (NULL: app-only tokens) under cfg's
 * authority, tenant and client; key points into cfg and subject. */
void token_key(const struct msoauth_config *cfg, const char *subject,
               struct msoauth_cache_key *key);

/* When a request started now must be answered (cfg->timeout). */
long long token_deadline(const struct msoauth_ctx *ctx);

/* Rule 3 and the tenant on what a sign-in of subject returned, the one
 * identity check of the tokens (see msoauth_identity_from_tokens). */
msoauth_rc token_signed_in(const struct msoauth_ctx *ctx, const char *subject,
                           const struct msoauth_tokens *tokens,
                           struct msoauth_claims *claims_r, char **identity_r,
                           struct msoauth_err *err)
    __attribute__((warn_unused_result));

/*
 * What token_update does to an entry read under its lock: edit it and set
 * *put when it must be written. A failure (not MSOAUTH_OK) writes nothing.
 */
typedef msoauth_rc (*token_change_fn)(struct msoauth_ctx *ctx,
                                      struct msoauth_cache_entry *entry,
                                      void *arg, int *put,
                                      struct msoauth_err *err);

/* A lock that cannot be made (a full disk) is worth going on without. */
#define TOKEN_LOCK_OPTIONAL 0x1u

/*
 * The one store-under-lock: locks key's entry until deadline_ms, reads it
 * again (empty when there is none), lets change edit it, and writes it when
 * change says so. Returns change's failure, else the write's.
 */
msoauth_rc token_update(struct msoauth_ctx *ctx,
                        const struct msoauth_cache_key *key,
                        long long deadline_ms, unsigned flags,
                        token_change_fn change, void *arg,
                        struct msoauth_err *err)
    __attribute__((warn_unused_result));

/* Puts what a grant returned into entry: the newest refresh token (when
 * one came) and the access token for scope. */
msoauth_rc token_keep(struct msoauth_cache_entry *entry, const char *scope,
                      struct msoauth_tokens *tokens, struct msoauth_err *err)
    __attribute__((warn_unused_result));

/*
 * failure_cache and the lockout memory of an entry (token_password.c), for
 * PAM's verification and for msoauth_token_get_with's
 * MSOAUTH_GET_FAILURE_MEMORY: MSOAUTH_ERR_LOCKED or
 * MSOAUTH_ERR_BAD_CREDENTIALS (err says why, without a request) when the
 * entry remembers a refusal that applies to password, else MSOAUTH_OK.
 */
msoauth_rc token_failure_recall(const struct msoauth_ctx *ctx,
                                const char *identity,
                                const struct msoauth_cache_entry *entry,
                                const struct msoauth_secret *password,
                                struct msoauth_err *err);

/* What the platform's answer rc to a sign-in with password teaches entry
 * (a rejected password kept, a lockout, refusals forgotten on success),
 * as PAM remembers it. Returns whether entry changed. */
int token_failure_learn(const struct msoauth_ctx *ctx,
                        struct msoauth_cache_entry *entry,
                        const struct msoauth_secret *password, msoauth_rc rc);

#endif
