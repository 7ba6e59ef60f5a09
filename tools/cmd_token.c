/*
 * cmd_token.c - msoauth token [--renew] USER: an access token on stdout,
 * for the password commands of mail clients (passwordeval, PassCmd,
 * oauth_refresh_command, ...).
 *
 * --renew is for a client whose server refused the token (revoked before
 * its expiry): the cached access token is dropped first, so that a new one
 * is asked for with the refresh token, which is kept.
 */
#include "config_build.h"

#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "io.h"
#include "token.h"

/* Whether the profile's auth method takes a secret from the caller. */
static int needs_secret(const struct msoauth_config *cfg) {
  return cfg->auth == MSOAUTH_AUTH_PASSWORD || cfg->auth == MSOAUTH_AUTH_TOKEN;
}

/* The token alone and a newline, written straight to the descriptor so no
 * stdio buffer keeps a copy. */
static int print_token(const struct msoauth_token *tok) {
  const struct msoauth_secret *t = tok->access_token;

  if (msoauth_write_all(STDOUT_FILENO, msoauth_secret_value(t),
                    msoauth_secret_len(t)) != 0 ||
      msoauth_write_all(STDOUT_FILENO, "\n", 1) != 0) {
    cli_error("cannot write the token to stdout");
    return CLI_EXIT_USAGE;
  }
  return CLI_EXIT_OK;
}

int cli_cmd_token(struct cli *cli, int argc, char **argv) {
  struct msoauth_config *cfg = NULL;
  struct msoauth_ctx *ctx = NULL;
  struct msoauth_secret *secret = NULL;
  struct msoauth_token tok;
  struct msoauth_err err;
  char advice[1024];
  msoauth_rc rc;
  int status;

  memset(&tok, 0, sizeof(tok));
  msoauth_err_clear(&err);
  if (argc != 1) {
    cli_error("usage: msoauth token [--renew] USER");
    return CLI_EXIT_USAGE;
  }
  status = cli_load_config(cli, &cfg);
  if (status)
    goto out;
  rc = msoauth_ctx_new(cfg, &cli->log, &ctx, &err);
  if (rc) {
    status = cli_fail("cannot start", rc, &err);
    goto out;
  }
  if (needs_secret(cfg)) {
    rc = cli_read_secret(cli, argv[0], &secret, &err);
    if (rc) {
      status = cli_fail("cannot read the secret", rc, &err);
      goto out;
    }
  }
  if (cli->renew) {
    rc = msoauth_token_forget(ctx, argv[0], &err);
    if (rc) {
      status = cli_fail("cannot drop the cached token", rc, &err);
      goto out;
    }
    MSOAUTH_INFO(&cli->log, "dropped the cached access token of %s",
                 argv[0]);
  }
  rc = msoauth_token_get(ctx, argv[0], strlen(argv[0]), secret, &tok, &err);
  if (rc && cli_login_advice(cli, cfg, argv[0], rc, &err, advice,
                             sizeof(advice))) {
    cli_error("no token: %s", advice);
    status = cli_exit_code(rc);
    goto out;
  }
  if (rc) {
    status = cli_fail("no token", rc, &err);
    goto out;
  }
  status = print_token(&tok);
out:
  msoauth_token_clear(&tok);
  msoauth_secret_free(&secret);
  msoauth_ctx_free(&ctx);
  msoauth_config_free(&cfg);
  return status;
}
