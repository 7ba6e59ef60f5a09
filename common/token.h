/*
 * token.h - the one entry for the hosts: the token layer.
 *
 * It alone composes the identity rules, the cache (key, lock, read again,
 * store), the grants and the check of whom the tokens name: a token for
 * (profile, identity, secret), a password verified as PAM does, the
 * device-code sign-in of `msoauth login`, and the cache and authority as
 * the CLI lists and checks them. Rules come first (no request when they
 * say no). struct msoauth_ctx is opaque: nothing reaches around it.
 */
#ifndef MSOAUTH_TOKEN_H
#define MSOAUTH_TOKEN_H

#include <stddef.h>

#include "config.h"
#include "log.h"
#include "result.h"
#include "secret.h"

/* Everything a host needs, made once (before any chroot): the
 * configuration's client, HTTP handle, credentials and cache. */
struct msoauth_ctx;

msoauth_rc msoauth_ctx_new(const struct msoauth_config *cfg,
                           const struct msoauth_log *log,
                           struct msoauth_ctx **ctx_r, struct msoauth_err *err)
    __attribute__((warn_unused_result));

void msoauth_ctx_free(struct msoauth_ctx **ctx);

/* For a host that may enter a chroot before its first request: maps
 * libcurl now, which cannot be opened inside one (it is otherwise mapped
 * by the first request). Nothing for auth = token, which makes none. */
msoauth_rc msoauth_ctx_preload(const struct msoauth_ctx *ctx,
                               struct msoauth_err *err)
    __attribute__((warn_unused_result));

/* ------------------------------------------------------------ tokens */

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

/* Flags of msoauth_token_get_with. */
/* auth = password, for a host that relays a client's password to get a
 * token (Dovecot's checkpassword): the memories of
 * msoauth_token_verify_password apply. A password the identity platform
 * rejected (AADSTS50126) is refused again within failure_cache, and a
 * locked account (AADSTS50053) for up to a minute, without a request; a
 * token obtained clears both. Read and written under the entry's lock, so
 * logins racing with one stale password make one request between them. */
#define MSOAUTH_GET_FAILURE_MEMORY 0x1u

/* msoauth_token_get with flags (MSOAUTH_GET_*; ignored where they do not
 * apply). */
msoauth_rc msoauth_token_get_with(struct msoauth_ctx *ctx, const char *user,
                                  size_t len,
                                  const struct msoauth_secret *secret,
                                  unsigned flags, struct msoauth_token *tok,
                                  struct msoauth_err *err)
    __attribute__((warn_unused_result));

/* Drops the cached access token that msoauth_token_get would give for the
 * (normalised) identity, so the next call gets a fresh one. */
msoauth_rc msoauth_token_forget(struct msoauth_ctx *ctx, const char *identity,
                                struct msoauth_err *err);

/* ------------------------------------------------------------ passwords */

/*
 * A user's password verified against the identity platform, as the PAM
 * module does. The password is always checked online (ROPC): a cached
 * token proves nothing about the password typed now. Two local memories
 * bend that rule, both as salted, slow verifiers in the cache entry of the
 * user:
 * - failure_cache: a password the platform rejected (AADSTS50126) is
 *   rejected locally for that many seconds, so a client retrying a stale
 *   password cannot trigger Entra's smart lockout;
 * - offline_grace: when the platform cannot be reached (not when it says
 *   no), the last password verified online is accepted for that many
 *   seconds.
 */
struct msoauth_verified {
  char *identity; /* the primary address verified */
  int offline;    /* accepted within offline_grace, platform unreachable */
  int cached_failure; /* rejected by failure_cache, without a request */
};

void msoauth_verified_clear(struct msoauth_verified *v);

/* The password came from another module (PAM_AUTHTOK, use_first_pass or
 * try_first_pass): no verifier of it is ever kept. */
#define MSOAUTH_VERIFY_FOREIGN 0x1u

/*
 * Verifies password for user (len bytes; the identity rules apply first,
 * and an empty password fails with MSOAUTH_ERR_EMPTY_SECRET; neither sends
 * a request). Then the token's identity must be the one asked for (rule 3:
 * MSOAUTH_ERR_ALIAS, or the primary address with alias_policy = resolve),
 * and with allowed_groups the id token's `groups` claim must name one of
 * them (MSOAUTH_ERR_GROUP, err->why says which rule: also when the claim
 * is absent or overflowed). With store_tokens the refresh token obtained
 * is kept for auth = refresh. out is initialised here; clear it with
 * msoauth_verified_clear.
 */
msoauth_rc msoauth_token_verify_password(struct msoauth_ctx *ctx,
                                         const char *user, size_t len,
                                         const struct msoauth_secret *password,
                                         unsigned flags,
                                         struct msoauth_verified *out,
                                         struct msoauth_err *err)
    __attribute__((warn_unused_result));

/* ------------------------------------------------------------ sign-in */

/* A device-code sign-in under way (msoauth login). */
struct msoauth_login;

/* What the user is shown and how the caller polls. */
struct msoauth_login_info {
  const char *message;   /* Microsoft's own wording for the user */
  const char *user_code;
  long interval;         /* seconds between polls */
  long long expires_at;  /* unix seconds: the code is dead then */
  const char *identity;  /* once signed in: whom the tokens are for */
};

/*
 * Starts the device-code flow for user (auth = refresh; the identity rules
 * apply) or the service account (auth = service_account: user is NULL or
 * must be it), asking for the profile's scope and offline_access. *login_r
 * is freed with msoauth_token_login_free.
 */
msoauth_rc msoauth_token_login_start(struct msoauth_ctx *ctx, const char *user,
                                     struct msoauth_login **login_r,
                                     struct msoauth_err *err)
    __attribute__((warn_unused_result));

const struct msoauth_login_info *
msoauth_token_login_info(const struct msoauth_login *login);

/* One poll of the device-code grant: MSOAUTH_ERR_PENDING or
 * MSOAUTH_ERR_SLOW_DOWN while the user has not signed in, the grant's
 * error, or MSOAUTH_OK once the tokens came (kept in login). */
msoauth_rc msoauth_token_login_poll(struct msoauth_ctx *ctx,
                                    struct msoauth_login *login,
                                    struct msoauth_err *err)
    __attribute__((warn_unused_result));

/*
 * After a poll that brought the tokens: they must name the identity asked
 * for (rule 3, as every sign-in; the info's identity is then set), and the
 * refresh token is stored under the entry's lock for the key
 * msoauth_token_get reads. Tokens without a refresh token are
 * MSOAUTH_ERR_DENIED with err->why = MSOAUTH_WHY_NO_REFRESH_TOKEN.
 */
msoauth_rc msoauth_token_login_store(struct msoauth_ctx *ctx,
                                     struct msoauth_login *login,
                                     struct msoauth_err *err)
    __attribute__((warn_unused_result));

void msoauth_token_login_free(struct msoauth_login **login);

/* ------------------------------------------------------------ the cache */

/* One cache entry as `msoauth cache list` shows it: never a secret. */
struct msoauth_token_info {
  const char *authority;
  const char *tenant;
  const char *client_id;
  const char *identity; /* or "#app" for app-only tokens */
  int has_refresh_token;
  size_t n_access;
  const char *const *scopes;     /* n_access of them */
  const long long *expires_at;   /* n_access, unix seconds */
  long long updated;
};

typedef void (*msoauth_token_list_fn)(void *arg,
                                      const struct msoauth_token_info *info);

/* Calls fn for each entry of cfg's cache; a cache_dir that does not exist
 * (yet) holds none and is not created. */
msoauth_rc msoauth_token_list(const struct msoauth_config *cfg,
                              const struct msoauth_log *log,
                              msoauth_token_list_fn fn, void *arg,
                              struct msoauth_err *err)
    __attribute__((warn_unused_result));

/* Longest identity the rules accept, in bytes (MSOAUTH_NAME_MAX). */
#define MSOAUTH_TOKEN_NAME_MAX 256

/*
 * The identity rules alone, without a request and without a context, for
 * a host that must refuse a name before it asks for a password (PAM):
 * *identity_r is user as the token layer will use it (trimmed, lowercased,
 * default_domain added, an alias resolved or refused), owned by the
 * caller. MSOAUTH_ERR_NAME, MSOAUTH_ERR_DOMAIN or MSOAUTH_ERR_ALIAS when
 * the rules refuse it.
 */
msoauth_rc msoauth_token_name(const struct msoauth_config *cfg,
                              const char *user, size_t len, char **identity_r,
                              struct msoauth_err *err)
    __attribute__((warn_unused_result));

/*
 * Forgets everything cached for user under cfg's key ("#app" for app-only
 * tokens; a name the identity rules now refuse is taken as given,
 * lowercased), under the entry's lock. *identity_r (when not NULL) is the
 * identity looked for, owned by the caller, even on failure.
 * MSOAUTH_ERR_NOT_FOUND when there is no such entry.
 */
msoauth_rc msoauth_token_forget_all(const struct msoauth_config *cfg,
                                    const struct msoauth_log *log,
                                    const char *user, char **identity_r,
                                    struct msoauth_err *err)
    __attribute__((warn_unused_result));

/* Opens cfg's cache as a token request would, which checks that its
 * directory is private; the directory must exist. */
msoauth_rc msoauth_token_check_cache(const struct msoauth_config *cfg,
                                     const struct msoauth_log *log,
                                     struct msoauth_err *err)
    __attribute__((warn_unused_result));

/* With cache_backend = redis: the shared cache reached (redis_url), the
 * password accepted, and a probe entry sealed with redis_key_file, stored,
 * read back and opened; MSOAUTH_OK at once for the file cache. */
msoauth_rc msoauth_token_check_shared(const struct msoauth_config *cfg,
                                      const struct msoauth_log *log,
                                      struct msoauth_err *err)
    __attribute__((warn_unused_result));

/*
 * GET {authority}/{tenant}/v2.0/.well-known/openid-configuration with the
 * profile's HTTP settings. MSOAUTH_OK with *issuer_r (the caller frees it)
 * when the answer is a discovery document; MSOAUTH_ERR_PROTOCOL when a 200
 * is not one; for another status the identity platform's error (err->aadsts
 * when it named one) with *status_r that status; any other failure with
 * *status_r 0 (not reached), or -1 when no HTTPS client could be made.
 */
msoauth_rc msoauth_token_check_authority(const struct msoauth_config *cfg,
                                         const struct msoauth_log *log,
                                         char **issuer_r, long *status_r,
                                         struct msoauth_err *err)
    __attribute__((warn_unused_result));

#endif
