/*
 * cmd_cache.c - msoauth cache list | forget USER.
 *
 * The list shows whose entries there are, which scopes and until when;
 * never a token: the cache hands the lister no secret at all.
 */
#include "config_build.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cache.h"
#include "cli.h"
#include "clock.h"
#include "identity.h"
#include "token_settings.h"

struct lister {
  int json;
  size_t n; /* entries printed */
};

static void list_text(const struct msoauth_cache_info *info) {
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

static void list_json(const struct msoauth_cache_info *info, size_t n) {
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

static void list_one(void *arg, const struct msoauth_cache_info *info) {
  struct lister *l = arg;

  if (l->json)
    list_json(info, l->n);
  else
    list_text(info);
  l->n++;
}

/* Opens the cache; *cache_r stays NULL when cache_dir does not exist yet
 * (listing must not create it). */
static int open_cache(struct cli *cli, const struct msoauth_config *cfg,
                      int create, struct msoauth_cache **cache_r) {
  struct msoauth_cache_settings set;
  struct msoauth_err err;
  struct stat st;
  msoauth_rc rc;

  *cache_r = NULL;
  msoauth_err_clear(&err);
  if (!create && cfg->cache_dir != NULL && lstat(cfg->cache_dir, &st) != 0 &&
      errno == ENOENT)
    return CLI_EXIT_OK;
  msoauth_settings_cache(cfg, &set);
  rc = msoauth_cache_open(&set, &cli->log, cache_r, &err);
  if (rc)
    return cli_fail("cannot open the cache", rc, &err);
  return CLI_EXIT_OK;
}

static int cache_list(struct cli *cli, const struct msoauth_config *cfg) {
  struct msoauth_cache *cache = NULL;
  struct lister l = {cli->json, 0};
  struct msoauth_err err;
  msoauth_rc rc = MSOAUTH_OK;
  int status;

  msoauth_err_clear(&err);
  status = open_cache(cli, cfg, 0, &cache);
  if (status)
    return status;
  if (cli->json)
    printf("[");
  if (cache != NULL)
    rc = msoauth_cache_list(cache, list_one, &l, &err);
  if (cli->json)
    printf("%s]\n", l.n > 0 ? "\n" : "");
  else if (l.n == 0 && !rc)
    fprintf(stderr, "msoauth: the cache %s holds no entries\n", cfg->cache_dir);
  msoauth_cache_close(&cache);
  if (fflush(stdout) != 0) {
    cli_error("cannot write to stdout");
    return CLI_EXIT_USAGE;
  }
  if (rc)
    return cli_fail("cannot list the cache", rc, &err);
  return CLI_EXIT_OK;
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
  for (char *p = identity; p != NULL && *p != '\0'; p++)
    if (*p >= 'A' && *p <= 'Z')
      *p = (char)(*p - 'A' + 'a');
  return identity;
}

static int cache_forget(struct cli *cli, const struct msoauth_config *cfg,
                        const char *user) {
  struct msoauth_cache *cache = NULL;
  struct msoauth_cache_lock *lock = NULL;
  struct msoauth_cache_key key = {cfg->authority, cfg->tenant, cfg->client_id,
                                  NULL};
  struct msoauth_err err;
  char *identity;
  msoauth_rc rc;
  int status;

  msoauth_err_clear(&err);
  identity = forget_identity(cfg, user);
  if (identity == NULL)
    return cli_fail("cache forget", MSOAUTH_ERR_NOMEM, NULL);
  key.identity = identity;
  status = open_cache(cli, cfg, 0, &cache);
  if (status || cache == NULL) {
    if (!status) {
      cli_error("no cache entry for %s", identity);
      status = CLI_EXIT_AUTH;
    }
    goto out;
  }
  /* Under the lock: a token request in flight cannot put it back. */
  rc = msoauth_cache_lock(cache, &key, msoauth_now_ms() + cfg->timeout * 1000,
                          &lock, &err);
  if (!rc)
    rc = msoauth_cache_forget(cache, &key, &err);
  msoauth_cache_unlock(&lock);
  if (rc == MSOAUTH_ERR_NOT_FOUND) {
    cli_error("no cache entry for %s", identity);
    status = CLI_EXIT_AUTH;
  } else if (rc) {
    status = cli_fail("cache forget", rc, &err);
  } else {
    fprintf(stderr, "msoauth: forgot the cache entry of %s\n", identity);
  }
out:
  msoauth_cache_close(&cache);
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
