/*
 * cli_util.c - what the msoauth commands share: exit codes, the
 * configuration, error messages, reading a secret, output helpers.
 */
#include "config_build.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "text.h"
#include "token.h"

int cli_exit_code(msoauth_rc rc) {
  if (rc == MSOAUTH_OK)
    return CLI_EXIT_OK;
  if (msoauth_rc_unreachable(rc))
    return CLI_EXIT_UNREACHABLE;
  switch (rc) {
  case MSOAUTH_ERR_INVALID:
  case MSOAUTH_ERR_CONFIG:
  case MSOAUTH_ERR_IO:
  case MSOAUTH_ERR_CLIENT_CONFIG:
    return CLI_EXIT_USAGE;
  case MSOAUTH_ERR_TENANT:
  case MSOAUTH_ERR_NO_IDENTITY:
    return CLI_EXIT_AUTH;
  default:
    return CLI_EXIT_AUTH;
  }
}

int cli_load_config(struct cli *cli, struct msoauth_config **cfg_r) {
  struct msoauth_err err;
  msoauth_rc rc;

  msoauth_err_clear(&err);
  /* Every problem reaches stderr through cli->log, with file and line. */
  rc = msoauth_config_load(cli->config_path, cli->profile, NULL, 0, 0,
                           &cli->log, cfg_r, &err);
  if (rc)
    return CLI_EXIT_USAGE;
  if ((*cfg_r)->log_level > cli->log.level)
    cli->log.level = (*cfg_r)->log_level;
  return CLI_EXIT_OK;
}

void cli_error(const char *fmt, ...) {
  va_list ap;

  fputs("msoauth: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

int cli_fail(const char *what, msoauth_rc rc, const struct msoauth_err *err) {
  char detail[MSOAUTH_ERR_DETAIL_MAX + 4];

  /* A detail may quote the identity platform (a user code, a tid): no
   * control character of it reaches the terminal. */
  msoauth_text_shown(err != NULL && err->detail[0] != '\0'
                         ? err->detail
                         : msoauth_strerror(rc),
                     detail, sizeof(detail));
  cli_error("%s: %s", what, detail);
  return cli_exit_code(rc);
}

int cli_login_advice(const struct cli *cli, const struct msoauth_config *cfg,
                     const char *user, msoauth_rc rc,
                     const struct msoauth_err *err, char *out, size_t size) {
  const char *who = cfg->auth == MSOAUTH_AUTH_SERVICE_ACCOUNT
                        ? cfg->service_account
                        : user;
  char shown[MSOAUTH_TOKEN_NAME_MAX + 4], code[32] = "";

  if (err == NULL || err->why != MSOAUTH_WHY_NO_SIGN_IN)
    return 0;
  if (err->aadsts != 0)
    snprintf(code, sizeof(code), " (AADSTS%ld)", err->aadsts);
  /* The name given may hold anything: it is shown, never interpreted. */
  msoauth_text_shown(who, shown, sizeof(shown));
  snprintf(out, size, "%s: run `msoauth%s%s%s%s login %s`%s",
           rc == MSOAUTH_ERR_GRANT_EXPIRED
               ? "the stored sign-in expired or was revoked"
               : "no sign-in is stored",
           cli->config_path != NULL ? " -c " : "",
           cli->config_path != NULL ? cli->config_path : "",
           cli->profile != NULL ? " -p " : "",
           cli->profile != NULL ? cli->profile : "", shown,
           rc == MSOAUTH_ERR_GRANT_EXPIRED ? " again" : "");
  if (code[0] != '\0' && strlen(out) + strlen(code) < size)
    memcpy(out + strlen(out), code, strlen(code) + 1);
  return 1;
}

/* Reads one line from fd into secret (a wiped buffer), without the line
 * end. */
static msoauth_rc read_line(int fd, struct msoauth_buf *line,
                            struct msoauth_err *err) {
  char c;

  for (;;) {
    ssize_t n = read(fd, &c, 1);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return msoauth_fail(err, MSOAUTH_ERR_IO, "cannot read stdin: %s",
                          strerror(errno));
    if (n == 0 || c == '\n')
      break;
    if (msoauth_buf_add(line, &c, 1) != MSOAUTH_OK) {
      msoauth_wipe(&c, 1);
      return msoauth_fail(err, MSOAUTH_ERR_INVALID,
                          "the secret on stdin is longer than %d bytes",
                          MSOAUTH_SECRET_MAX);
    }
  }
  msoauth_wipe(&c, 1);
  if (line->len > 0 && line->data[line->len - 1] == '\r')
    line->data[--line->len] = '\0';
  return MSOAUTH_OK;
}

/* On a terminal: a prompt on stderr and no echo while the line is typed. */
static msoauth_rc read_tty(const char *user, struct msoauth_buf *line,
                           struct msoauth_err *err) {
  struct termios saved, quiet;
  int restore = 0;
  msoauth_rc rc;

  fprintf(stderr, "Password or token for %s: ", user);
  fflush(stderr);
  if (tcgetattr(STDIN_FILENO, &saved) == 0) {
    quiet = saved;
    quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
    restore = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
  }
  rc = read_line(STDIN_FILENO, line, err);
  if (restore)
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
  fputc('\n', stderr);
  return rc;
}

msoauth_rc cli_read_secret(const struct cli *cli, const char *user,
                           struct msoauth_secret **secret_r,
                           struct msoauth_err *err) {
  struct msoauth_buf line;
  msoauth_rc rc;

  *secret_r = NULL;
  if (cli->password_file != NULL)
    return msoauth_secret_read_file(cli->password_file, secret_r, err);
  msoauth_buf_init(&line, MSOAUTH_SECRET_MAX, 1);
  if (isatty(STDIN_FILENO))
    rc = read_tty(user, &line, err);
  else
    rc = read_line(STDIN_FILENO, &line, err);
  if (!rc && msoauth_secret_new(msoauth_buf_str(&line), line.len, secret_r))
    rc = msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
  msoauth_buf_free(&line);
  return rc;
}

void cli_time(long long t, char *buf, size_t size) {
  time_t tt = (time_t)t;
  struct tm tm;

  if (t <= 0 || gmtime_r(&tt, &tm) == NULL ||
      strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    snprintf(buf, size, "unknown");
}

void cli_json_string(const char *s) {
  putchar('"');
  for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
    if (*p == '"' || *p == '\\')
      printf("\\%c", *p);
    else if (*p < 0x20 || *p == 0x7f)
      printf("\\u%04x", *p);
    else
      putchar(*p);
  }
  putchar('"');
}
