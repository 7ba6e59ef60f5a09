/*
 * cli.h - the msoauth command: shared options, exit codes and helpers of
 * its commands (token, login, check, cache, checkpassword).
 */
#ifndef MSOAUTH_CLI_H
#define MSOAUTH_CLI_H

#include <stddef.h>

#include "config.h"
#include "log.h"
#include "result.h"
#include "secret.h"

/* Exit status, as the contract says. */
enum cli_exit {
  CLI_EXIT_OK = 0,
  CLI_EXIT_AUTH = 1,        /* authentication failure */
  CLI_EXIT_USAGE = 2,       /* usage or configuration error */
  CLI_EXIT_UNREACHABLE = 3, /* the identity platform could not be reached */
};

/* What the command line said, before any command runs. */
struct cli {
  const char *config_path;   /* -c; NULL: the default path */
  const char *profile;       /* -p; NULL: the defaults */
  const char *password_file; /* --password-file; NULL: stdin */
  int verbose;               /* -v, counted */
  int json;                  /* --json */
  int renew;                 /* --renew (token) */
  struct msoauth_log log;    /* stderr, level raised by -v */
};

/* The exit status for a result of the core. */
int cli_exit_code(msoauth_rc rc);

/* Loads the configuration (every problem is logged with file and line);
 * raises the log level to the file's log_level. Returns CLI_EXIT_OK with
 * *cfg_r owned by the caller, or CLI_EXIT_USAGE. */
int cli_load_config(struct cli *cli, struct msoauth_config **cfg_r);

/*
 * For a token refused for want of a stored sign-in (err->why
 * MSOAUTH_WHY_NO_SIGN_IN: none stored, or it expired or was revoked),
 * what to run, with the -c and -p this command was given, into out (size
 * bytes); user is the name given, for a profile with auth = refresh.
 * Returns 0 when the failure is of another kind (out untouched).
 */
int cli_login_advice(const struct cli *cli, const struct msoauth_config *cfg,
                     const char *user, msoauth_rc rc,
                     const struct msoauth_err *err, char *out, size_t size);

/* Prints "msoauth: MSG" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Says why rc happened (err's detail, else the generic sentence) on stderr
 * and returns the exit status for it. */
int cli_fail(const char *what, msoauth_rc rc, const struct msoauth_err *err);

/*
 * The secret of auth = password or token for user: the file given with
 * --password-file (owner-only, one trailing newline dropped), else the first
 * line of stdin (prompted for, without echo, on a terminal). Never a
 * command-line argument: those show in ps. The caller owns *secret_r.
 */
msoauth_rc cli_read_secret(const struct cli *cli, const char *user,
                           struct msoauth_secret **secret_r,
                           struct msoauth_err *err)
    __attribute__((warn_unused_result));

/* Formats unix seconds as "2026-11-22T05:53:03Z" in buf. */
void cli_time(long long t, char *buf, size_t size);

/* Writes s as a JSON string (quoted, escaped) to stdout. */
void cli_json_string(const char *s);

/* The commands: argv holds the words after the command's name. */
int cli_cmd_token(struct cli *cli, int argc, char **argv);
int cli_cmd_login(struct cli *cli, int argc, char **argv);
int cli_cmd_check(struct cli *cli, int argc, char **argv);
int cli_cmd_cache(struct cli *cli, int argc, char **argv);
/* Exits 1, 2 or 111 as Dovecot's checkpassword wants, or execs argv. */
int cli_cmd_checkpassword(struct cli *cli, int argc, char **argv);

#endif
