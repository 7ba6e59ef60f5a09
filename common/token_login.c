/*
 * token_login.c - the token layer's device-code sign-in (msoauth login),
 * for profiles with auth = refresh (the user's own sign-in) or
 * service_account (the service account's).
 *
 * The start and each poll are grant operations; what the sign-in brought
 * is checked for whom it names and stored under the entry's lock as every
 * other sign-in is (token.c), for the key msoauth_token_get reads.
 */
#include "config_build.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "scope.h"
#include "token_int.h"
#include "token_settings.h"

struct msoauth_login {
  char *subject; /* who signs in, normalised */
  struct msoauth_device_code dc;
  struct msoauth_tokens tokens; /* once the poll brought them */
  char *identity;               /* once stored: whom they are for */
  struct msoauth_login_info info;
};

/* Who signs in: the user given (auth = refresh) or the service account. */
static msoauth_rc login_subject(const struct msoauth_config *cfg,
                                const char *user, char **subject_r,
                                struct msoauth_err *err) {
  struct msoauth_identity_settings ids;
  char *asked = NULL;
  msoauth_rc rc;

  *subject_r = NULL;
  msoauth_settings_identity(cfg, &ids);
  if (user != NULL) {
    rc = msoauth_identity_normalize(&ids, user, strlen(user), &asked, err);
    if (rc)
      return rc;
  }
  if (cfg->auth == MSOAUTH_AUTH_REFRESH) {
    if (asked == NULL)
      return msoauth_fail(err, MSOAUTH_ERR_INVALID, "no user to sign in");
    *subject_r = asked;
    return MSOAUTH_OK;
  }
  if (cfg->auth != MSOAUTH_AUTH_SERVICE_ACCOUNT) {
    free(asked);
    return msoauth_fail(err, MSOAUTH_ERR_INVALID,
                        "a sign-in is stored for auth = refresh or "
                        "service_account only");
  }
  /* auth = service_account: the tokens are the service account's. */
  if (asked != NULL && strcmp(asked, cfg->service_account) != 0) {
    rc = msoauth_fail(err, MSOAUTH_ERR_INVALID,
                      "this profile signs in as its service_account %s, "
                      "not as %s (run: msoauth login %s)",
                      cfg->service_account, asked, cfg->service_account);
    free(asked);
    return rc;
  }
  free(asked);
  *subject_r = strdup(cfg->service_account);
  if (*subject_r == NULL)
    return msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
  return MSOAUTH_OK;
}

/* The profile's scope, with offline_access so that a refresh token comes.
 * The caller frees *scope_r. */
static msoauth_rc login_scope(const struct msoauth_config *cfg,
                              char **scope_r) {
  struct msoauth_buf out;
  msoauth_rc rc;

  msoauth_buf_init(&out, MSOAUTH_CONFIG_LINE_MAX + 64, 0);
  rc = msoauth_buf_adds(&out, cfg->scope);
  if (!rc && !msoauth_scope_has(cfg->scope, "offline_access"))
    rc = msoauth_buf_adds(&out, " offline_access");
  *scope_r = rc ? NULL : msoauth_buf_take(&out);
  msoauth_buf_free(&out);
  return rc ? rc : (*scope_r != NULL ? MSOAUTH_OK : MSOAUTH_ERR_NOMEM);
}

msoauth_rc msoauth_token_login_start(struct msoauth_ctx *ctx, const char *user,
                                     struct msoauth_login **login_r,
                                     struct msoauth_err *err) {
  struct msoauth_login *login;
  char *scope = NULL;
  msoauth_rc rc;

  *login_r = NULL;
  msoauth_err_clear(err);
  login = calloc(1, sizeof(*login));
  if (login == NULL)
    return msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
  rc = login_subject(ctx->cfg, user, &login->subject, err);
  if (rc)
    goto out;
  if (login_scope(ctx->cfg, &scope) != MSOAUTH_OK) {
    rc = msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
    goto out;
  }
  rc = msoauth_grant_device_start(&ctx->client, scope, token_deadline(ctx),
                                  &login->dc, err);
  if (rc)
    goto out;
  login->info.message = login->dc.message;
  login->info.user_code = login->dc.user_code;
  login->info.interval = login->dc.interval;
  login->info.expires_at = login->dc.expires_at;
  *login_r = login;
  login = NULL;
out:
  free(scope);
  msoauth_token_login_free(&login);
  return rc;
}

const struct msoauth_login_info *
msoauth_token_login_info(const struct msoauth_login *login) {
  return &login->info;
}

msoauth_rc msoauth_token_login_poll(struct msoauth_ctx *ctx,
                                    struct msoauth_login *login,
                                    struct msoauth_err *err) {
  msoauth_tokens_clear(&login->tokens);
  return msoauth_grant_device_poll(&ctx->client, &login->dc,
                                   token_deadline(ctx), &login->tokens, err);
}

/* Under the entry's lock: the refresh token (and the access token) into
 * the entry read again. */
static msoauth_rc keep_sign_in(struct msoauth_ctx *ctx,
                               struct msoauth_cache_entry *entry, void *arg,
                               int *put, struct msoauth_err *err) {
  struct msoauth_login *login = arg;
  msoauth_rc rc;

  rc = token_keep(entry, ctx->cfg->scope, &login->tokens, err);
  *put = rc == MSOAUTH_OK;
  return rc;
}

msoauth_rc msoauth_token_login_store(struct msoauth_ctx *ctx,
                                     struct msoauth_login *login,
                                     struct msoauth_err *err) {
  struct msoauth_cache_key key;
  msoauth_rc rc;

  msoauth_err_clear(err);
  if (login->tokens.access_token == NULL)
    return msoauth_fail(err, MSOAUTH_ERR_INVALID, "not signed in yet");
  if (login->tokens.refresh_token == NULL)
    return msoauth_fail_why(err, MSOAUTH_ERR_DENIED,
                            MSOAUTH_WHY_NO_REFRESH_TOKEN,
                            "the identity platform issued no refresh token "
                            "(is offline_access allowed for the app?)");
  free(login->identity);
  login->identity = NULL;
  login->info.identity = NULL;
  /* Signing in in the browser as someone else than asked is refused (or
   * resolved, with alias_policy = resolve); tokens that name nobody are
   * never stored as the subject's. */
  rc = token_signed_in(ctx, login->subject, &login->tokens, NULL,
                       &login->identity, err);
  if (rc)
    return rc;
  token_key(ctx->cfg, login->identity, &key);
  rc = token_update(ctx, &key, token_deadline(ctx), 0, keep_sign_in, login,
                    err);
  if (!rc)
    login->info.identity = login->identity;
  return rc;
}

void msoauth_token_login_free(struct msoauth_login **login) {
  if (login == NULL || *login == NULL)
    return;
  free((*login)->subject);
  free((*login)->identity);
  msoauth_device_code_clear(&(*login)->dc);
  msoauth_tokens_clear(&(*login)->tokens);
  free(*login);
  *login = NULL;
}
