/*
 * cmd_login.c - msoauth login [USER]: the device-code flow, for profiles
 * with auth = refresh (the user's own sign-in) or service_account (the
 * service account's).
 *
 * Microsoft's message goes to stdout, without its control characters; the
 * code is polled for at the interval given (slow_down adds 5 s); the token
 * layer checks whom the tokens are for and stores the refresh token under
 * the key msoauth_token_get reads. Ctrl-C at any point leaves nothing
 * half-written:
 * cache entries are replaced by rename, and the entry's lock (flock) dies
 * with the process.
 */
#include "config_build.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "text.h"
#include "token.h"
#include "token_settings.h"

/* Longest device-code message shown (Microsoft's is about 130 bytes). */
#define DEVICE_MESSAGE_MAX 1024

/* Microsoft's rule for slow_down. */
#define SLOW_DOWN_SECONDS 5

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
static msoauth_rc wait_tokens(struct msoauth_ctx *ctx, struct cli *cli,
                              struct msoauth_login *login,
                              struct msoauth_err *err) {
  const struct msoauth_login_info *info = msoauth_token_login_info(login);
  long interval = info->interval;
  msoauth_rc rc;

  for (;;) {
    sleep_seconds(interval);
    msoauth_err_clear(err);
    rc = msoauth_token_login_poll(ctx, login, err);
    if (rc == MSOAUTH_ERR_SLOW_DOWN) {
      interval += SLOW_DOWN_SECONDS;
      MSOAUTH_DEBUG(&cli->log, "slow_down: polling every %ld s", interval);
    } else if (transient(rc)) {
      /* The user may be halfway through signing in: keep the code. */
      MSOAUTH_WARN(&cli->log, "polling failed (%s); trying again",
                   err->detail[0] ? err->detail : msoauth_strerror(rc));
    } else if (rc != MSOAUTH_ERR_PENDING) {
      return rc;
    }
    if ((long long)time(NULL) >= info->expires_at)
      return msoauth_fail(err, MSOAUTH_ERR_CODE_EXPIRED,
                          "the code %s expired before the sign-in was "
                          "completed",
                          info->user_code);
  }
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
static int login(struct cli *cli, struct msoauth_ctx *ctx,
                 const struct msoauth_config *cfg, const char *user) {
  struct msoauth_login *login = NULL;
  struct msoauth_err err;
  msoauth_rc rc;
  int status;

  msoauth_err_clear(&err);
  rc = msoauth_token_login_start(ctx, user, &login, &err);
  if (rc == MSOAUTH_ERR_INVALID || rc == MSOAUTH_ERR_NAME ||
      rc == MSOAUTH_ERR_DOMAIN || rc == MSOAUTH_ERR_ALIAS) {
    status = cli_fail("login", rc, &err);
    goto out;
  }
  if (rc) {
    status = cli_fail("cannot start the device-code sign-in", rc, &err);
    goto out;
  }
  show_message(msoauth_token_login_info(login)->message);
  rc = wait_tokens(ctx, cli, login, &err);
  if (rc == MSOAUTH_ERR_DECLINED || rc == MSOAUTH_ERR_CODE_EXPIRED) {
    cli_error("%s (run msoauth login again)", msoauth_strerror(rc));
    status = cli_exit_code(rc);
    goto out;
  }
  if (rc) {
    status = cli_fail("sign-in failed", rc, &err);
    goto out;
  }
  rc = msoauth_token_login_store(ctx, login, &err);
  if (rc && err.why == MSOAUTH_WHY_NO_REFRESH_TOKEN) {
    cli_error("%s", err.detail);
    status = CLI_EXIT_AUTH;
    goto out;
  }
  if (rc) {
    status = cli_fail("sign-in not stored", rc, &err);
    goto out;
  }
  printf("Signed in as %s; the refresh token is stored in %s.\n",
         msoauth_token_login_info(login)->identity, cfg->cache_dir);
  status = CLI_EXIT_OK;
out:
  msoauth_token_login_free(&login);
  return status;
}

int cli_cmd_login(struct cli *cli, int argc, char **argv) {
  struct msoauth_config *cfg = NULL;
  struct msoauth_ctx *ctx = NULL;
  struct msoauth_err err;
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
  if (cfg->auth == MSOAUTH_AUTH_REFRESH && argc == 0) {
    cli_error("usage: msoauth login USER");
    status = CLI_EXIT_USAGE;
    goto out;
  }
  rc = msoauth_ctx_new(cfg, &cli->log, &ctx, &err);
  if (rc) {
    status = cli_fail("cannot start", rc, &err);
    goto out;
  }
  status = login(cli, ctx, cfg, argc == 1 ? argv[0] : NULL);
out:
  msoauth_ctx_free(&ctx);
  msoauth_config_free(&cfg);
  return status;
}
