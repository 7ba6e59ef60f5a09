/*
 * msoauth.c - the msoauth command: options and dispatch.
 *
 *   msoauth [-c PATH] [-p PROFILE] [-v] COMMAND [ARGS]
 *
 * Tokens go to stdout, everything else to stderr; the exit status says
 * success (0), authentication failure (1), usage or configuration error (2)
 * or an unreachable identity platform (3).
 */
#include "config_build.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char usage_text[] =
    "usage: msoauth [-c PATH] [-p PROFILE] [-v] COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  token USER          print an access token for USER on stdout\n"
    "  token --renew USER  the same, dropping the cached access token first\n"
    "                      (a server refused it); the refresh token is kept\n"
    "  login [USER]        sign in with a device code; store the refresh "
    "token\n"
    "  check [USER]        check the configuration, the authority and, with\n"
    "                      USER, a token acquisition\n"
    "  cache list          show the cache entries (never a token)\n"
    "  cache forget USER   drop USER's cache entry\n"
    "  checkpassword PROGRAM [ARGS]\n"
    "                      Dovecot's checkpassword passdb: USER and password\n"
    "                      on fd 3; proxies the login to Exchange Online\n"
    "\n"
    "options:\n"
    "  -c, --config PATH         configuration file (default: %s)\n"
    "  -p, --profile NAME        profile (section) of the configuration\n"
    "  -v, --verbose             more messages on stderr (twice: debug)\n"
    "      --password-file FILE  the password (or token) for auth = password\n"
    "                            (or token); default: the first line of stdin\n"
    "      --json                JSON output (check, cache list)\n"
    "  -h, --help                this text\n"
    "  -V, --version             the version\n"
    "\n"
    "exit status: 0 success, 1 authentication failure, 2 usage or\n"
    "configuration error, 3 identity platform unreachable (checkpassword:\n"
    "1 authentication failed, 2 misuse, 111 temporary failure)\n";

enum { OPT_JSON = 256, OPT_PASSWORD_FILE, OPT_RENEW };

static const struct option options[] = {
    {"config", required_argument, NULL, 'c'},
    {"profile", required_argument, NULL, 'p'},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {"json", no_argument, NULL, OPT_JSON},
    {"password-file", required_argument, NULL, OPT_PASSWORD_FILE},
    {"renew", no_argument, NULL, OPT_RENEW},
    {NULL, 0, NULL, 0},
};

struct command {
  const char *name;
  int (*run)(struct cli *cli, int argc, char **argv);
};

static const struct command commands[] = {
    {"token", cli_cmd_token},
    {"login", cli_cmd_login},
    {"check", cli_cmd_check},
    {"cache", cli_cmd_cache},
    {"checkpassword", cli_cmd_checkpassword},
};

static void usage(FILE *out) {
  fprintf(out, usage_text, msoauth_config_default_path());
}

/* Whether argv holds the checkpassword command: what follows it is the
 * reply program's command line, which getopt must not take options from
 * (its options come before the command, as Dovecot's args write them). */
static int stops_at_command(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "checkpassword") == 0)
      return 1;
  return 0;
}

/* Reads the options into cli; returns -1 to go on, else the exit status. */
static int parse_options(struct cli *cli, int argc, char **argv) {
  const char *optstring =
      stops_at_command(argc, argv) ? "+:c:p:vhV" : ":c:p:vhV";
  int c;

  opterr = 0;
  for (;;) {
    c = getopt_long(argc, argv, optstring, options, NULL);
    if (c == -1)
      break;
    switch (c) {
    case 'c':
      cli->config_path = optarg;
      break;
    case 'p':
      cli->profile = optarg;
      break;
    case 'v':
      cli->verbose++;
      break;
    case OPT_JSON:
      cli->json = 1;
      break;
    case OPT_PASSWORD_FILE:
      cli->password_file = optarg;
      break;
    case OPT_RENEW:
      cli->renew = 1;
      break;
    case 'h':
      usage(stdout);
      return CLI_EXIT_OK;
    case 'V':
      printf("%s\n", PACKAGE_STRING);
      return CLI_EXIT_OK;
    case ':':
      cli_error("option %s needs an argument (see msoauth --help)",
                argv[optind - 1]);
      return CLI_EXIT_USAGE;
    default:
      cli_error("unknown option %s (see msoauth --help)", argv[optind - 1]);
      return CLI_EXIT_USAGE;
    }
  }
  return -1;
}

static int dispatch(struct cli *cli, int argc, char **argv) {
  if (argc < 1) {
    usage(stderr);
    return CLI_EXIT_USAGE;
  }
  if (cli->renew && strcmp(argv[0], "token") != 0) {
    cli_error("--renew is an option of msoauth token only");
    return CLI_EXIT_USAGE;
  }
  for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
    if (strcmp(argv[0], commands[i].name) == 0)
      return commands[i].run(cli, argc - 1, argv + 1);
  cli_error("unknown command %s (see msoauth --help)", argv[0]);
  return CLI_EXIT_USAGE;
}

int main(int argc, char **argv) {
  struct cli cli;
  int status;

  memset(&cli, 0, sizeof(cli));
  status = parse_options(&cli, argc, argv);
  if (status >= 0)
    return status;
  cli.log.fn = msoauth_log_stderr;
  cli.log.level = MSOAUTH_LOG_WARNING + cli.verbose > MSOAUTH_LOG_DEBUG
                      ? MSOAUTH_LOG_DEBUG
                      : (enum msoauth_level)(MSOAUTH_LOG_WARNING + cli.verbose);
  return dispatch(&cli, argc - optind, argv + optind);
}
