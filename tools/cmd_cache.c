/*
 * cmd_cache.c - msoauth cache list | forget USER.
 *
 * The list shows whose entries there are, which scopes and until when;
 * never a token: the cache hands the lister no secret at all.
 */
#include "config_build.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "token.h"

struct lister {
  int json;
  size_t n; /* entries printed */
};

static void list_text(const struct msoauth_token_info *info) {
  long long now = (long long)time(NULL);
  char when[32];

  cli_time(info->updated, when, sizeof(when));
  printf("%s\n  tenant %s, client %s, authority %s\n", info->identity,
         info->tenant, info->client_id, info->authority);
  printf("  refresh token: %s; updated %s\n",
         info->has_refresh_token ? "yes" : "no", when);
  for (size_t i = 0; i < info->n_access; i++) {
    cli_time(info->expires_at[i], when, sizeof(when));
    printf("  access token for \"%s\": %s %s\n", info->scopes[i],
           info->expires_at[i] > now ? "expires" : "expired", when);
  }
}

static void list_json(const struct msoauth_token_info *info, size_t n) {
  printf("%s\n  {\"identity\": ", n > 0 ? "," : "");
  cli_json_string(info->identity);
  printf(", \"tenant\": ");
  cli_json_string(info->tenant);
  printf(", \"client_id\": ");
  cli_json_string(info->client_id);
  printf(", \"authority\": ");
  cli_json_string(info->authority);
  printf(", \"refresh_token\": %s, \"updated\": %lld, \"access_tokens\": [",
         info->has_refresh_token ? "true" : "false", info->updated);
  for (size_t i = 0; i < info->n_access; i++) {
    printf("%s{\"scope\": ", i > 0 ? ", " : "");
    cli_json_string(info->scopes[i]);
    printf(", \"expires_at\": %lld}", info->expires_at[i]);
  }
  printf("]}");
}

static void list_one(void *arg, const struct msoauth_token_info *info) {
  struct lister *l = arg;

  if (l->json)
    list_json(info, l->n);
  else
    list_text(info);
  l->n++;
}

static int cache_list(struct cli *cli, const struct msoauth_config *cfg) {
  struct lister l = {cli->json, 0};
  struct msoauth_err err;
  msoauth_rc rc;

  msoauth_err_clear(&err);
  if (cli->json)
    printf("[");
  rc = msoauth_token_list(cfg, &cli->log, list_one, &l, &err);
  if (cli->json)
    printf("%s]\n", l.n > 0 ? "\n" : "");
  else if (l.n == 0 && !rc)
    fprintf(stderr, "msoauth: the cache %s holds no entries\n",
            cfg->cache_backend == MSOAUTH_CACHE_REDIS ? cfg->redis_url
                                                      : cfg->cache_dir);
  if (fflush(stdout) != 0) {
    cli_error("cannot write to stdout");
    return CLI_EXIT_USAGE;
  }
  if (rc)
    return cli_fail("cannot list the cache", rc, &err);
  return CLI_EXIT_OK;
}

static int cache_forget(struct cli *cli, const struct msoauth_config *cfg,
                        const char *user) {
  struct msoauth_err err;
  char *identity = NULL;
  msoauth_rc rc;
  int status = CLI_EXIT_OK;

  msoauth_err_clear(&err);
  rc = msoauth_token_forget_all(cfg, &cli->log, user, &identity, &err);
  if (identity == NULL) {
    status = cli_fail("cache forget", MSOAUTH_ERR_NOMEM, NULL);
  } else if (rc == MSOAUTH_ERR_NOT_FOUND) {
    cli_error("no cache entry for %s", identity);
    status = CLI_EXIT_AUTH;
  } else if (rc) {
    status = cli_fail("cache forget", rc, &err);
  } else {
    fprintf(stderr, "msoauth: forgot the cache entry of %s\n", identity);
  }
  free(identity);
  return status;
}

int cli_cmd_cache(struct cli *cli, int argc, char **argv) {
  struct msoauth_config *cfg = NULL;
  int list = argc == 1 && strcmp(argv[0], "list") == 0;
  int forget = argc == 2 && strcmp(argv[0], "forget") == 0;
  int status;

  if (!list && !forget) {
    cli_error("usage: msoauth cache list | msoauth cache forget USER");
    return CLI_EXIT_USAGE;
  }
  status = cli_load_config(cli, &cfg);
  if (status)
    return status;
  if (list)
    status = cache_list(cli, cfg);
  else
    status = cache_forget(cli, cfg, argv[1]);
  msoauth_config_free(&cfg);
  return status;
}
