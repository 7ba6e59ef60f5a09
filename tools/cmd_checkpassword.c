/*
 * cmd_checkpassword.c - msoauth checkpassword PROGRAM [ARGS]: Dovecot's
 * checkpassword passdb, for a Dovecot that proxies password-only clients
 * to Exchange Online with XOAUTH2.
 *
 * Dovecot writes USER\0PASSWORD\0 (and an empty timestamp) on fd 3 and
 * appends its reply program to our arguments. The token layer gets the
 * user's token (identity rules first, then the cache, single flight and
 * failure_cache: msoauth_token_get_with); on success PROGRAM is exec'd with
 * the proxy fields in its environment, listed in EXTRA, and Dovecot reads
 * them back through fd 4, which stays open for it. Otherwise the exit
 * status is the verdict: 1 authentication failed, 111 temporary failure,
 * 2 misuse, with one line on stderr (Dovecot logs it) saying why. The
 * password is read from fd 3 only and wiped; the token goes only into the
 * reply program's environment.
 */
#include "config_build.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "text.h"
#include "token.h"

/* Exit status, as Dovecot's checkpassword reads it. */
enum {
  CKPW_FAIL = 1,      /* authentication failed */
  CKPW_MISUSE = 2,    /* called wrongly */
  CKPW_TEMPFAIL = 111 /* temporary failure: try again later */
};

/* Dovecot never writes more to fd 3 (CHECKPASSWORD_MAX_REQUEST_LEN). */
#define CKPW_INPUT_MAX 512
#define CKPW_FD 3

/* The fields the reply program hands back to Dovecot. */
#define CKPW_EXTRA "PROXY HOST PORT SSL STARTTLS PASS PROXY_MECH DESTUSER"

/* Dovecot's SERVICE, in the order of enum msoauth_service. */
static const char *const services[MSOAUTH_N_SERVICES] = {"imap", "pop3",
                                                         "submission"};

/* What fd 3 said; input is wiped where it dies. */
struct request {
  char input[CKPW_INPUT_MAX + 1];
  size_t len;
  const char *user; /* points into input */
  struct msoauth_secret *password;
};

static void ckpw_error(const char *user, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* One line on stderr, which Dovecot logs: "msoauth checkpassword: USER: ..."
 * with the user name made safe for a log line. */
static void ckpw_error(const char *user, const char *fmt, ...) {
  char shown[MSOAUTH_TOKEN_NAME_MAX + 8];
  va_list ap;

  fputs("msoauth checkpassword: ", stderr);
  if (user != NULL) {
    msoauth_text_shown(user, shown, sizeof(shown));
    fprintf(stderr, "%s: ", shown);
  }
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

/* Reads fd 3 to its end: USER\0PASSWORD\0, at most CKPW_INPUT_MAX bytes. */
static int read_request(struct request *req) {
  const char *pw;
  size_t user_len;

  for (;;) {
    ssize_t n = read(CKPW_FD, req->input + req->len,
                     sizeof(req->input) - req->len);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      ckpw_error(NULL, "cannot read fd 3 (%s): run by Dovecot's "
                 "checkpassword passdb, which writes USER\\0PASSWORD\\0 "
                 "there",
                 strerror(errno));
      return CKPW_MISUSE;
    }
    if (n == 0)
      break;
    req->len += (size_t)n;
    if (req->len > CKPW_INPUT_MAX) {
      ckpw_error(NULL, "more than %d bytes on fd 3", CKPW_INPUT_MAX);
      return CKPW_MISUSE;
    }
  }
  close(CKPW_FD);
  user_len = strnlen(req->input, req->len);
  pw = req->input + user_len + 1;
  if (user_len >= req->len || memchr(pw, '\0', req->len - user_len - 1) ==
                                  NULL) {
    ckpw_error(NULL, "fd 3 does not hold USER\\0PASSWORD\\0");
    return CKPW_MISUSE;
  }
  req->user = req->input;
  if (msoauth_secret_from_str(pw, &req->password) != MSOAUTH_OK) {
    ckpw_error(req->user, "out of memory");
    return CKPW_TEMPFAIL;
  }
  return CLI_EXIT_OK;
}

/* The backend of Dovecot's SERVICE, parsed (the key was checked when the
 * configuration was loaded). */
static int find_backend(const struct msoauth_config *cfg, const char *user,
                        struct msoauth_backend *b) {
  const char *service = getenv("SERVICE");

  for (int i = 0; service != NULL && i < MSOAUTH_N_SERVICES; i++)
    if (strcmp(service, services[i]) == 0 &&
        msoauth_backend_parse(cfg->backends[i], b) == NULL)
      return CLI_EXIT_OK;
  ckpw_error(user,
             "service %s has no backend: checkpassword serves imap, pop3 and "
             "submission (proxy_imap, proxy_pop3, proxy_submission)",
             service != NULL ? service : "(SERVICE not set)");
  return CKPW_MISUSE;
}

/* The verdict for a result of the token layer: who is refused gets 1,
 * everything that may pass (the platform unreachable, the configuration)
 * 111, so Dovecot answers "try again later", never "wrong password". */
static int verdict(msoauth_rc rc) {
  switch (rc) {
  case MSOAUTH_ERR_NAME:
  case MSOAUTH_ERR_DOMAIN:
  case MSOAUTH_ERR_ALIAS:
  case MSOAUTH_ERR_CROSS_DOMAIN:
  case MSOAUTH_ERR_EMPTY_SECRET:
  case MSOAUTH_ERR_SECRET_TOO_LONG:
  case MSOAUTH_ERR_INVALID:
  case MSOAUTH_ERR_BAD_CREDENTIALS:
  case MSOAUTH_ERR_NO_USER:
  case MSOAUTH_ERR_LOCKED:
  case MSOAUTH_ERR_DISABLED:
  case MSOAUTH_ERR_PASSWORD_EXPIRED:
  case MSOAUTH_ERR_MFA_REQUIRED:
  case MSOAUTH_ERR_CONDITIONAL_ACCESS:
  case MSOAUTH_ERR_GRANT_EXPIRED:
  case MSOAUTH_ERR_DENIED:
  case MSOAUTH_ERR_GROUP:
  case MSOAUTH_ERR_TENANT:
  case MSOAUTH_ERR_NO_IDENTITY:
    return CKPW_FAIL;
  default:
    return CKPW_TEMPFAIL;
  }
}

/* Says why rc, with the AADSTS code, and returns the verdict. */
static int refuse(const char *user, msoauth_rc rc,
                  const struct msoauth_err *err) {
  char detail[MSOAUTH_ERR_DETAIL_MAX + 4];
  int status = verdict(rc);

  msoauth_text_shown(err->detail[0] != '\0' ? err->detail
                                            : msoauth_strerror(rc),
                     detail, sizeof(detail));
  if (err->aadsts != 0 && strstr(detail, "AADSTS") == NULL)
    ckpw_error(user, "%s: %s (AADSTS%ld)",
               status == CKPW_FAIL ? "refused" : "temporary failure", detail,
               err->aadsts);
  else
    ckpw_error(user, "%s: %s",
               status == CKPW_FAIL ? "refused" : "temporary failure", detail);
  return status;
}

/* The environment of the reply program: Dovecot's proxy fields, listed in
 * EXTRA. USER would rename the login: it is not passed on. */
static int export_fields(const struct msoauth_backend *b,
                         const struct msoauth_token *tok) {
  char port[16];

  snprintf(port, sizeof(port), "%ld", b->port);
  if (unsetenv("USER") != 0 || unsetenv(b->starttls ? "SSL" : "STARTTLS") ||
      setenv("PROXY", "y", 1) != 0 || setenv("HOST", b->host, 1) != 0 ||
      setenv("PORT", port, 1) != 0 ||
      setenv(b->starttls ? "STARTTLS" : "SSL", "yes", 1) != 0 ||
      setenv("PASS", msoauth_secret_value(tok->access_token), 1) != 0 ||
      setenv("PROXY_MECH", "xoauth2", 1) != 0 ||
      setenv("DESTUSER", tok->identity, 1) != 0 ||
      setenv("EXTRA", CKPW_EXTRA, 1) != 0) {
    ckpw_error(tok->identity, "cannot set the environment: %s",
               strerror(errno));
    return CKPW_TEMPFAIL;
  }
  return CLI_EXIT_OK;
}

/* Loads the configuration and gets the user's token; any status but
 * CLI_EXIT_OK is the verdict. */
static int get_token(struct cli *cli, struct request *req,
                     struct msoauth_backend *b, struct msoauth_token *tok) {
  struct msoauth_config *cfg = NULL;
  struct msoauth_ctx *ctx = NULL;
  struct msoauth_err err;
  msoauth_rc rc;
  int status;

  msoauth_err_clear(&err);
  /* Configuration problems are logged with file and line. */
  status = cli_load_config(cli, &cfg) ? CKPW_TEMPFAIL : CLI_EXIT_OK;
  if (!status)
    status = find_backend(cfg, req->user, b);
  if (status)
    goto out;
  /* refresh, service_account and app would hand anyone's token to
   * whoever names a user; a token (2-3 KB from Entra) does not fit in the
   * 512 bytes of fd 3. */
  if (cfg->auth != MSOAUTH_AUTH_PASSWORD) {
    ckpw_error(req->user,
               "auth = %s: checkpassword takes the user's password, and "
               "needs auth = password",
               msoauth_auth_name(cfg->auth));
    status = CKPW_TEMPFAIL;
    goto out;
  }
  rc = msoauth_ctx_new(cfg, &cli->log, &ctx, &err);
  if (!rc)
    rc = msoauth_token_get_with(ctx, req->user, strlen(req->user),
                                req->password, MSOAUTH_GET_FAILURE_MEMORY, tok,
                                &err);
  if (rc)
    status = refuse(req->user, rc, &err);
out:
  msoauth_ctx_free(&ctx);
  msoauth_config_free(&cfg);
  return status;
}

int cli_cmd_checkpassword(struct cli *cli, int argc, char **argv) {
  struct request *req;
  struct msoauth_backend b;
  struct msoauth_token tok;
  int status;

  memset(&tok, 0, sizeof(tok));
  if (argc < 1) {
    cli_error("usage: msoauth checkpassword PROGRAM [ARGS] (Dovecot's "
              "checkpassword passdb appends its reply program)");
    return CKPW_MISUSE;
  }
  /* A lookup without a password (a userdb, a non-plaintext mechanism)
   * cannot make a token. */
  if (getenv("AUTHORIZED") != NULL) {
    ckpw_error(NULL, "a lookup without a password: use msoauth checkpassword "
               "as a passdb only, with auth_mechanisms = plain login");
    return CKPW_MISUSE;
  }
  req = calloc(1, sizeof(*req));
  if (req == NULL)
    return CKPW_TEMPFAIL;
  status = read_request(req);
  if (!status)
    status = get_token(cli, req, &b, &tok);
  if (!status)
    status = export_fields(&b, &tok);
  /* Nothing of the password or the token outlives this process image. */
  msoauth_secret_free(&req->password);
  msoauth_wipe(req->input, sizeof(req->input));
  free(req);
  msoauth_token_clear(&tok);
  if (status)
    return status;
  fflush(NULL);
  execvp(argv[0], argv);
  ckpw_error(NULL, "cannot run the reply program %s: %s", argv[0],
             strerror(errno));
  return CKPW_TEMPFAIL;
}
