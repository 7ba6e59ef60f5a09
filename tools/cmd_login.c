/*
 * cmd_login.c - msoauth login [USER]: the device-code flow, for profiles
 * with auth = refresh (the user's own sign-in) or service_account (the
 * service account's).
 *
 * Microsoft's message goes to stdout, without its control characters; the
 * code is polled for at the interval given (slow_down adds 5 s); the refresh
 * token obtained is stored under the key token.c reads, once the id token
 * says whom it is for. Ctrl-C at any point leaves nothing half-written:
 * cache entries are replaced by rename, and the entry's lock (flock) dies
 * with the process.
 */
#include "config_build.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "cli.h"
#include "clock.h"
#include "identity.h"
#include "scope.h"
#include "text.h"
#include "token.h"
#include "token_settings.h"

/* Longest device-code message shown (Microsoft's is about 130 bytes). */
#define DEVICE_MESSAGE_MAX 1024

/* Microsoft's rule for slow_down. */
#define SLOW_DOWN_SECONDS 5

/* Who signs in: the user given (auth = refresh) or the service account. */
static msoauth_rc login_subject(const struct msoauth_config *cfg, int argc,
                                char **argv, char **subject_r,
                                struct msoauth_err *err) {
  struct msoauth_identity_settings ids;
  char *asked = NULL;
  msoauth_rc rc;

  *subject_r = NULL;
  msoauth_settings_identity(cfg, &ids);
  if (argc == 1) {
    rc =
        msoauth_identity_normalize(&ids, argv[0], strlen(argv[0]), &asked, err);
    if (rc)
      return rc;
  }
  if (cfg->auth == MSOAUTH_AUTH_REFRESH) {
    if (asked == NULL)
      return msoauth_fail(err, MSOAUTH_ERR_INVALID,
                          "usage: msoauth login USER");
    *subject_r = asked;
    return MSOAUTH_OK;
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

static void sleep_seconds(long seconds) {
  struct timespec ts = {seconds, 0};

  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

/* A failure worth polling again for, until the code expires. */
static int transient(msoauth_rc rc) {
  return rc == MSOAUTH_ERR_UNAVAILABLE || rc == MSOAUTH_ERR_THROTTLED ||
         rc == MSOAUTH_ERR_TIMEOUT;
}

/* Polls until the user has signed in, declined, or the code expired; a
 * network failure on the way is retried. */
static msoauth_rc wait_tokens(struct msoauth_ctx *ctx,
                              const struct msoauth_device_code *dc,
                              struct msoauth_tokens *tokens,
                              struct msoauth_err *err) {
  long interval = dc->interval;
  msoauth_rc rc;

  for (;;) {
    sleep_seconds(interval);
    msoauth_err_clear(err);
    rc = msoauth_grant_device_poll(&ctx->client, dc,
                                   msoauth_now_ms() + ctx->cfg->timeout * 1000,
                                   tokens, err);
    if (rc == MSOAUTH_ERR_SLOW_DOWN) {
      interval += SLOW_DOWN_SECONDS;
      MSOAUTH_DEBUG(ctx->log, "slow_down: polling every %ld s", interval);
    } else if (transient(rc)) {
      /* The user may be halfway through signing in: keep the code. */
      MSOAUTH_WARN(ctx->log, "polling failed (%s); trying again",
                   err->detail[0] ? err->detail : msoauth_strerror(rc));
    } else if (rc != MSOAUTH_ERR_PENDING) {
      return rc;
    }
    if ((long long)time(NULL) >= dc->expires_at)
      return msoauth_fail(err, MSOAUTH_ERR_CODE_EXPIRED,
                          "the code %s expired before the sign-in was "
                          "completed",
                          dc->user_code);
  }
}

/* Rule 3 on whom the tokens name: signing in in the browser as someone
 * else than asked is refused (or resolved, with alias_policy = resolve);
 * tokens that name nobody are refused, never stored as subject's. */
static msoauth_rc signed_in_as(const struct msoauth_config *cfg,
                               const char *subject,
                               const struct msoauth_tokens *tokens,
                               char **identity_r, struct msoauth_err *err) {
  struct msoauth_identity_settings ids;

  msoauth_settings_identity(cfg, &ids);
  return msoauth_identity_from_tokens(&ids, subject, tokens->id_token,
                                      tokens->access_token, NULL, identity_r,
                                      err);
}

/* Under the entry's lock: read, set the refresh token (and the access
 * token), put. */
static msoauth_rc store(struct msoauth_ctx *ctx, const char *identity,
                        struct msoauth_tokens *tokens,
                        struct msoauth_err *err) {
  const struct msoauth_config *cfg = ctx->cfg;
  struct msoauth_cache_key key = {cfg->authority, cfg->tenant, cfg->client_id,
                                  identity};
  struct msoauth_cache_lock *lock = NULL;
  struct msoauth_cache_entry entry;
  long long now = (long long)time(NULL);
  msoauth_rc rc;

  msoauth_cache_entry_init(&entry);
  rc = msoauth_cache_lock(ctx->cache, &key,
                          msoauth_now_ms() + cfg->timeout * 1000, &lock, err);
  if (rc)
    goto out;
  rc = msoauth_cache_get(ctx->cache, &key, &entry, err);
  if (rc && rc != MSOAUTH_ERR_NOT_FOUND)
    goto out;
  msoauth_secret_free(&entry.refresh_token);
  entry.refresh_token = tokens->refresh_token;
  tokens->refresh_token = NULL;
  rc = msoauth_cache_entry_set(&entry, cfg->scope, tokens->access_token,
                               tokens->expires_at, now);
  if (rc) {
    msoauth_fail(err, rc, "cannot cache the access token");
    goto out;
  }
  entry.updated = now;
  rc = msoauth_cache_put(ctx->cache, &key, &entry, err);
out:
  msoauth_cache_unlock(&lock);
  msoauth_cache_entry_clear(&entry);
  return rc;
}

/* Microsoft's message for the user, on a terminal: its control characters
 * (escape sequences, CR, C1) become '?', so an answer cannot clear the
 * screen, retitle the window or fake a prompt. */
static void show_message(const char *message) {
  char shown[DEVICE_MESSAGE_MAX + 4];

  msoauth_text_shown(message, shown, sizeof(shown));
  printf("%s\n", shown);
  fflush(stdout);
}

/* The flow, from the device code to the stored refresh token. */
static int login(struct msoauth_ctx *ctx, const char *subject) {
  const struct msoauth_config *cfg = ctx->cfg;
  struct msoauth_device_code dc;
  struct msoauth_tokens tokens;
  struct msoauth_err err;
  char *scope = NULL, *identity = NULL;
  msoauth_rc rc;
  int status;

  memset(&dc, 0, sizeof(dc));
  memset(&tokens, 0, sizeof(tokens));
  msoauth_err_clear(&err);
  if (login_scope(cfg, &scope) != MSOAUTH_OK) {
    status = cli_fail("login", MSOAUTH_ERR_NOMEM, NULL);
    goto out;
  }
  rc = msoauth_grant_device_start(
      &ctx->client, scope, msoauth_now_ms() + cfg->timeout * 1000, &dc, &err);
  if (rc) {
    status = cli_fail("cannot start the device-code sign-in", rc, &err);
    goto out;
  }
  show_message(dc.message);
  rc = wait_tokens(ctx, &dc, &tokens, &err);
  if (rc == MSOAUTH_ERR_DECLINED || rc == MSOAUTH_ERR_CODE_EXPIRED) {
    cli_error("%s (run msoauth login again)", msoauth_strerror(rc));
    status = cli_exit_code(rc);
    goto out;
  }
  if (rc) {
    status = cli_fail("sign-in failed", rc, &err);
    goto out;
  }
  if (tokens.refresh_token == NULL) {
    cli_error("the identity platform issued no refresh token (is "
              "offline_access allowed for the app?)");
    status = CLI_EXIT_AUTH;
    goto out;
  }
  rc = signed_in_as(cfg, subject, &tokens, &identity, &err);
  if (!rc)
    rc = store(ctx, identity, &tokens, &err);
  if (rc) {
    status = cli_fail("sign-in not stored", rc, &err);
    goto out;
  }
  printf("Signed in as %s; the refresh token is stored in %s.\n", identity,
         cfg->cache_dir);
  status = CLI_EXIT_OK;
out:
  free(identity);
  free(scope);
  msoauth_tokens_clear(&tokens);
  msoauth_device_code_clear(&dc);
  return status;
}

int cli_cmd_login(struct cli *cli, int argc, char **argv) {
  struct msoauth_config *cfg = NULL;
  struct msoauth_ctx *ctx = NULL;
  struct msoauth_err err;
  char *subject = NULL;
  msoauth_rc rc;
  int status;

  msoauth_err_clear(&err);
  if (argc > 1) {
    cli_error("usage: msoauth login [USER]");
    return CLI_EXIT_USAGE;
  }
  status = cli_load_config(cli, &cfg);
  if (status)
    goto out;
  if (cfg->auth != MSOAUTH_AUTH_REFRESH &&
      cfg->auth != MSOAUTH_AUTH_SERVICE_ACCOUNT) {
    cli_error("login stores a refresh token, used by auth = refresh or "
              "service_account; this profile has auth = %s (choose another "
              "profile with -p)",
              msoauth_auth_name(cfg->auth));
    status = CLI_EXIT_USAGE;
    goto out;
  }
  rc = login_subject(cfg, argc, argv, &subject, &err);
  if (rc) {
    status = cli_fail("login", rc, &err);
    goto out;
  }
  rc = msoauth_ctx_new(cfg, &cli->log, &ctx, &err);
  if (rc) {
    status = cli_fail("cannot start", rc, &err);
    goto out;
  }
  status = login(ctx, subject);
out:
  free(subject);
  msoauth_ctx_free(&ctx);
  msoauth_config_free(&cfg);
  return status;
}
