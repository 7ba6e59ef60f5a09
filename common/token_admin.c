/*
 * token_admin.c - the token layer as the CLI administers it: the cache
 * listed and forgotten (msoauth cache), the cache and the authority
 * checked (msoauth check). No token leaves here: the cache hands the
 * lister no secret at all.
 */
#include "config_build.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config_keys.h"
#include "entra_error.h"
#include "json.h"
#include "token_int.h"
#include "token_settings.h"

/* Opens cfg's cache; *ctx_r stays NULL when cache_dir does not exist
 * (yet): listing or forgetting must not create it. */
static msoauth_rc open_existing(const struct msoauth_config *cfg,
                                const struct msoauth_log *log,
                                struct msoauth_ctx **ctx_r,
                                struct msoauth_err *err) {
  struct stat st;

  *ctx_r = NULL;
  /* The shared cache is there whatever this host's directory is. */
  if (cfg->cache_backend == MSOAUTH_CACHE_FILE && cfg->cache_dir != NULL &&
      lstat(cfg->cache_dir, &st) != 0 && errno == ENOENT)
    return MSOAUTH_OK;
  return token_ctx_open(cfg, log, TOKEN_CTX_CACHE, ctx_r, err);
}

struct lister {
  msoauth_token_list_fn fn;
  void *arg;
};

static void list_one(void *arg, const struct msoauth_cache_info *info) {
  struct lister *l = arg;
  struct msoauth_token_info shown;

  shown.authority = info->authority;
  shown.tenant = info->tenant;
  shown.client_id = info->client_id;
  shown.identity = info->identity;
  shown.has_refresh_token = info->has_refresh_token;
  shown.n_access = info->n_access;
  shown.scopes = info->scopes;
  shown.expires_at = info->expires_at;
  shown.updated = info->updated;
  l->fn(l->arg, &shown);
}

msoauth_rc msoauth_token_list(const struct msoauth_config *cfg,
                              const struct msoauth_log *log,
                              msoauth_token_list_fn fn, void *arg,
                              struct msoauth_err *err) {
  struct msoauth_ctx *ctx = NULL;
  struct lister l = {fn, arg};
  msoauth_rc rc;

  rc = open_existing(cfg, log, &ctx, err);
  if (!rc && ctx != NULL)
    rc = msoauth_cache_list(ctx->cache, list_one, &l, err);
  msoauth_ctx_free(&ctx);
  return rc;
}

/* The entry's identity: "#app" for app-only tokens; else the name after
 * the identity rules, or, for a name the rules now refuse (the
 * configuration changed since), the name as given, lowercased. */
static char *forget_identity(const struct msoauth_config *cfg,
                             const char *user) {
  struct msoauth_identity_settings ids;
  char *identity = NULL;

  if (strcmp(user, MSOAUTH_CACHE_APP_IDENTITY) == 0)
    return strdup(user);
  msoauth_settings_identity(cfg, &ids);
  if (msoauth_identity_normalize(&ids, user, strlen(user), &identity, NULL) ==
      MSOAUTH_OK)
    return identity;
  identity = strdup(user);
  if (identity != NULL)
    msoauth_lowercase(identity);
  return identity;
}

msoauth_rc msoauth_token_forget_all(const struct msoauth_config *cfg,
                                    const struct msoauth_log *log,
                                    const char *user, char **identity_r,
                                    struct msoauth_err *err) {
  struct msoauth_ctx *ctx = NULL;
  struct msoauth_cache_lock *lock = NULL;
  struct msoauth_cache_key key;
  char *identity;
  msoauth_rc rc;

  if (identity_r != NULL)
    *identity_r = NULL;
  identity = forget_identity(cfg, user);
  if (identity == NULL)
    return msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
  rc = open_existing(cfg, log, &ctx, err);
  if (!rc && ctx == NULL)
    rc = msoauth_fail(err, MSOAUTH_ERR_NOT_FOUND, "no cache entry for %s",
                      identity);
  if (rc)
    goto out;
  token_key(cfg, identity, &key);
  /* Under the lock: a token request in flight cannot put it back. */
  rc = msoauth_cache_lock(ctx->cache, &key, token_deadline(ctx), &lock, err);
  if (!rc)
    rc = msoauth_cache_forget(ctx->cache, &key, err);
  msoauth_cache_unlock(&lock);
out:
  msoauth_ctx_free(&ctx);
  if (identity_r != NULL)
    *identity_r = identity;
  else
    free(identity);
  return rc;
}

msoauth_rc msoauth_token_check_cache(const struct msoauth_config *cfg,
                                     const struct msoauth_log *log,
                                     struct msoauth_err *err) {
  struct msoauth_ctx *ctx = NULL;
  msoauth_rc rc;

  rc = token_ctx_open(cfg, log, TOKEN_CTX_CACHE, &ctx, err);
  msoauth_ctx_free(&ctx);
  return rc;
}

msoauth_rc msoauth_token_check_shared(const struct msoauth_config *cfg,
                                      const struct msoauth_log *log,
                                      struct msoauth_err *err) {
  struct msoauth_ctx *ctx = NULL;
  msoauth_rc rc;

  rc = token_ctx_open(cfg, log, TOKEN_CTX_CACHE, &ctx, err);
  if (!rc)
    rc = msoauth_cache_probe(ctx->cache, err);
  msoauth_ctx_free(&ctx);
  return rc;
}

/* The issuer of a discovery document (it names the tenant's id). */
static msoauth_rc discovery_found(const struct msoauth_config *cfg,
                                  const char *url, const char *body,
                                  size_t len, char **issuer_r,
                                  struct msoauth_err *err) {
  struct json_object *root = msoauth_json_parse(body, len);
  const char *issuer = NULL, *endpoint = NULL;
  msoauth_rc rc = MSOAUTH_OK;
  int bad = 0;

  if (json_object_is_type(root, json_type_object)) {
    issuer = msoauth_json_string(root, "issuer", &bad);
    endpoint = msoauth_json_string(root, "token_endpoint", &bad);
  }
  if (issuer == NULL || endpoint == NULL || bad)
    rc = msoauth_fail(err, MSOAUTH_ERR_PROTOCOL,
                      "%s is not an OpenID discovery document (is authority "
                      "%s the identity platform?)",
                      url, cfg->authority);
  else if ((*issuer_r = strdup(issuer)) == NULL)
    rc = msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
  json_object_put(root);
  return rc;
}

/* Another status than 200: the platform's error when it names one. */
static msoauth_rc discovery_refused(const char *url,
                                    const struct msoauth_http_response *resp,
                                    struct msoauth_err *err) {
  msoauth_rc rc;

  rc = msoauth_entra_error(resp->status, msoauth_buf_str(&resp->body),
                           resp->body.len, err);
  if (rc != MSOAUTH_ERR_PROTOCOL && err != NULL && err->aadsts != 0)
    return rc;
  msoauth_err_clear(err);
  return msoauth_fail(err, MSOAUTH_ERR_PROTOCOL,
                      "%s answered HTTP %ld (check authority and tenant)", url,
                      resp->status);
}

msoauth_rc msoauth_token_check_authority(const struct msoauth_config *cfg,
                                         const struct msoauth_log *log,
                                         char **issuer_r, long *status_r,
                                         struct msoauth_err *err) {
  struct msoauth_ctx *ctx = NULL;
  struct msoauth_http_response resp;
  char url[2048];
  msoauth_rc rc;

  *issuer_r = NULL;
  *status_r = -1;
  memset(&resp, 0, sizeof(resp));
  snprintf(url, sizeof(url), "%s/%s/v2.0/.well-known/openid-configuration",
           cfg->authority, cfg->tenant);
  rc = token_ctx_open(cfg, log, TOKEN_CTX_HTTP, &ctx, err);
  if (rc)
    return rc;
  *status_r = 0;
  rc = msoauth_http_request(ctx->client.http, url, NULL, token_deadline(ctx),
                            &resp, err);
  if (!rc) {
    *status_r = resp.status;
    if (resp.status == 200)
      rc = discovery_found(cfg, url, msoauth_buf_str(&resp.body),
                           resp.body.len, issuer_r, err);
    else
      rc = discovery_refused(url, &resp, err);
  }
  msoauth_http_response_free(&resp);
  msoauth_ctx_free(&ctx);
  return rc;
}

msoauth_rc msoauth_token_name(const struct msoauth_config *cfg,
                              const char *user, size_t len, char **identity_r,
                              struct msoauth_err *err) {
  struct msoauth_identity_settings ids;

  _Static_assert(MSOAUTH_TOKEN_NAME_MAX == MSOAUTH_NAME_MAX,
                 "token.h and identity.h agree on the longest name");
  msoauth_settings_identity(cfg, &ids);
  return msoauth_identity_normalize(&ids, user, len, identity_r, err);
}
