/*
 * cmd_check.c - msoauth check [USER]: what is wrong and how to fix it.
 *
 * In order: the configuration (every problem, with file and line), the
 * client credential (a certificate's days left), the cache directory, the
 * authority's OpenID discovery document (reachability and tenant), and with
 * USER what the cache holds (the access token valid, close to or past its
 * expiry; a sign-in stored) and a token acquisition (whose token, which
 * scopes). Each finding is one line; the exit status is that of the first
 * error.
 */
#include "config_build.h"

#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "assertion.h"
#include "buf.h"
#include "cli.h"
#include "identity.h"
#include "json.h"
#include "jwt.h"
#include "token_settings.h"
#include "token.h"

/* Most findings kept; config problems beyond are summed up. */
#define FINDINGS_MAX 64
/* A certificate this close to its end is worth a warning. */
#define CERT_WARN_DAYS 30
#define DAY_SECONDS 86400

enum level { LV_OK, LV_INFO, LV_WARNING, LV_ERROR };

static const char *const level_names[] = {"ok", "info", "warning", "error"};

struct finding {
  enum level level;
  char *text;
};

struct check {
  struct cli *cli;
  struct msoauth_log log; /* collects the core's errors and warnings */
  struct finding items[FINDINGS_MAX];
  size_t n;
  size_t dropped;
  int status; /* the exit status of the first error */
};

static void add(struct check *ck, enum level level, int status, const char *fmt,
                ...) __attribute__((format(printf, 4, 5)));

static void add(struct check *ck, enum level level, int status, const char *fmt,
                ...) {
  char text[1024];
  va_list ap;

  if (level == LV_ERROR && ck->status == CLI_EXIT_OK)
    ck->status = status;
  if (ck->n == FINDINGS_MAX) {
    ck->dropped++;
    return;
  }
  va_start(ap, fmt);
  vsnprintf(text, sizeof(text), fmt, ap);
  va_end(ap);
  ck->items[ck->n].level = level;
  ck->items[ck->n].text = strdup(text);
  if (ck->items[ck->n].text != NULL)
    ck->n++;
}

/* The core's errors and warnings become findings (config problems are
 * errors of configuration); the rest goes to stderr with -v. */
static void collect(void *arg, enum msoauth_level level, const char *msg) {
  struct check *ck = arg;

  if (level == MSOAUTH_LOG_ERROR)
    add(ck, LV_ERROR, CLI_EXIT_USAGE, "%s", msg);
  else if (level == MSOAUTH_LOG_WARNING)
    add(ck, LV_WARNING, CLI_EXIT_OK, "%s", msg);
  else if (level <= ck->cli->log.level)
    msoauth_log_stderr(NULL, level, msg);
}

static int has_errors(const struct check *ck) {
  return ck->status != CLI_EXIT_OK;
}

/* Whose users the profile accepts: the domains, and the tenant every
 * token must name when tenant is an id. */
static void check_users(struct check *ck, const struct msoauth_config *cfg) {
  struct msoauth_buf list;
  int by_tid = msoauth_identity_tenant_is_id(cfg->tenant);

  if (cfg->auth == MSOAUTH_AUTH_APP)
    return;
  msoauth_buf_init(&list, 4096, 0);
  for (size_t i = 0; i < cfg->n_domains; i++)
    if (msoauth_buf_adds(&list, i > 0 ? ", " : "") != MSOAUTH_OK ||
        msoauth_buf_adds(&list, cfg->domains[i]) != MSOAUTH_OK)
      break;
  if (cfg->n_domains == 0)
    add(ck, LV_OK, CLI_EXIT_OK,
        "users accepted: any domain of tenant %s (every token's tid must "
        "be it)",
        cfg->tenant);
  else
    add(ck, LV_OK, CLI_EXIT_OK, "users accepted: domains %s%s%s%s",
        msoauth_buf_str(&list), by_tid ? " (every token's tid must be " : "",
        by_tid ? cfg->tenant : "", by_tid ? ")" : "");
  msoauth_buf_free(&list);
}

/* ------------------------------------------------------------ checks */

static void check_credential(struct check *ck,
                             const struct msoauth_config *cfg) {
  struct msoauth_signer *signer = NULL;
  struct msoauth_err err;
  long long now = (long long)time(NULL), not_after, days;
  char when[32];
  msoauth_rc rc;

  if (cfg->client_certificate_file == NULL) {
    if (cfg->client_secret != NULL)
      add(ck, LV_INFO, CLI_EXIT_OK,
          "client secret set: its expiry cannot be seen from here; check "
          "\"Certificates & secrets\" of the app registration %s, or use a "
          "certificate (client_certificate_file), which msoauth check "
          "watches",
          cfg->client_id);
    else
      add(ck, LV_OK, CLI_EXIT_OK, "public client %s (no client credential)",
          cfg->client_id);
    return;
  }
  msoauth_err_clear(&err);
  rc = msoauth_signer_load(cfg->client_certificate_file, cfg->client_key_file,
                           &signer, &err);
  if (rc) {
    add(ck, LV_ERROR, CLI_EXIT_USAGE,
        "client certificate %s or key %s unusable: %s (fix the files, or "
        "set client_certificate_file and client_key_file)",
        cfg->client_certificate_file, cfg->client_key_file, err.detail);
    return;
  }
  not_after = msoauth_signer_not_after(signer);
  msoauth_signer_free(&signer);
  days = (not_after - now) / DAY_SECONDS;
  cli_time(not_after, when, sizeof(when));
  if (not_after <= now)
    add(ck, LV_ERROR, CLI_EXIT_USAGE,
        "client certificate %s expired on %s: make a new one, upload it to "
        "the app registration (\"Certificates & secrets\") and set "
        "client_certificate_file and client_key_file",
        cfg->client_certificate_file, when);
  else if (days < CERT_WARN_DAYS)
    add(ck, LV_WARNING, CLI_EXIT_OK,
        "client certificate %s expires in %lld days (%s): upload a new one "
        "to the app registration before then",
        cfg->client_certificate_file, days, when);
  else
    add(ck, LV_OK, CLI_EXIT_OK,
        "client certificate %s valid until %s (%lld days left)",
        cfg->client_certificate_file, when, days);
}

/* The cache directory, without creating it. */
static void check_cache_dir(struct check *ck,
                            const struct msoauth_config *cfg) {
  const struct passwd *pw = getpwuid(geteuid());
  struct msoauth_err err;
  struct stat st;
  char *parent;

  if (cfg->auth == MSOAUTH_AUTH_TOKEN)
    return; /* tokens given by the caller are not cached */
  if (lstat(cfg->cache_dir, &st) != 0 && errno == ENOENT) {
    parent = strdup(cfg->cache_dir);
    if (parent != NULL && strrchr(parent, '/') != NULL)
      *strrchr(parent, '/') = '\0';
    if (parent != NULL && (parent[0] == '\0' || access(parent, F_OK) == 0))
      add(ck, LV_INFO, CLI_EXIT_OK,
          "cache_dir %s does not exist yet: it is created (mode 0700) by "
          "the first token",
          cfg->cache_dir);
    else
      add(ck, LV_ERROR, CLI_EXIT_USAGE,
          "cache_dir %s: its parent directory does not exist (create it, "
          "or set cache_dir)",
          cfg->cache_dir);
    free(parent);
    return;
  }
  msoauth_err_clear(&err);
  if (msoauth_token_check_cache(cfg, &ck->log, &err) != MSOAUTH_OK)
    add(ck, LV_ERROR, CLI_EXIT_USAGE, "%s", err.detail);
  else
    add(ck, LV_OK, CLI_EXIT_OK,
        "cache_dir %s is private to uid %ld%s%s%s, who runs this check (run "
        "it as the user of the program that uses the profile: Dovecot's "
        "auth user for checkpassword)",
        cfg->cache_dir, (long)geteuid(), pw != NULL ? " (" : "",
        pw != NULL ? pw->pw_name : "", pw != NULL ? ")" : "");
}

/* cache_backend = redis: connection, password and key, through a probe
 * entry the token layer seals, stores, reads back and opens. */
static void check_shared_cache(struct check *ck,
                               const struct msoauth_config *cfg) {
  struct msoauth_err err;
  msoauth_rc rc;

  if (cfg->auth == MSOAUTH_AUTH_TOKEN ||
      cfg->cache_backend != MSOAUTH_CACHE_REDIS)
    return;
  msoauth_err_clear(&err);
  rc = msoauth_token_check_shared(cfg, &ck->log, &err);
  if (!rc)
    add(ck, LV_OK, CLI_EXIT_OK,
        "shared cache %s reachable, its password accepted; redis_key_file "
        "sealed and opened a probe entry",
        cfg->redis_url);
  else if (rc == MSOAUTH_ERR_DENIED)
    add(ck, LV_ERROR, CLI_EXIT_USAGE,
        "shared cache %s: %s (check redis_password_file, the user in "
        "redis_url, and the ACL of that user)",
        cfg->redis_url, err.detail);
  else if (rc == MSOAUTH_ERR_UNAVAILABLE)
    add(ck, LV_ERROR, CLI_EXIT_UNREACHABLE,
        "shared cache %s cannot be used: %s (logins go on with this "
        "host's cache_dir meanwhile; check that Redis runs, redis_url, "
        "ca_file and connect_timeout)",
        cfg->redis_url, err.detail);
  else
    add(ck, LV_ERROR, CLI_EXIT_USAGE, "shared cache %s: %s", cfg->redis_url,
        err.detail);
}

/* GET {authority}/{tenant}/v2.0/.well-known/openid-configuration: the
 * issuer names the tenant's id. */
static void check_authority(struct check *ck,
                            const struct msoauth_config *cfg) {
  struct msoauth_err err;
  char *issuer = NULL;
  long status = 0;
  msoauth_rc rc;

  msoauth_err_clear(&err);
  rc = msoauth_token_check_authority(cfg, &ck->log, &issuer, &status, &err);
  if (!rc)
    add(ck, LV_OK, CLI_EXIT_OK,
        "authority %s reachable; tenant %s has issuer %s", cfg->authority,
        cfg->tenant, issuer);
  else if (status < 0)
    add(ck, LV_ERROR, cli_exit_code(rc), "cannot make an HTTPS client: %s",
        err.detail);
  else if (status == 0)
    add(ck, LV_ERROR, cli_exit_code(rc),
        "cannot reach the authority %s: %s (check the network, proxy, "
        "ca_file and authority)",
        cfg->authority, err.detail[0] ? err.detail : msoauth_strerror(rc));
  else if (status == 200)
    add(ck, LV_ERROR, CLI_EXIT_UNREACHABLE, "%s", err.detail);
  else if (err.aadsts != 0)
    add(ck, LV_ERROR, CLI_EXIT_USAGE,
        "tenant %s refused by %s: %s (set tenant to your tenant's id or "
        "verified domain)",
        cfg->tenant, cfg->authority, err.detail);
  else
    add(ck, LV_ERROR, CLI_EXIT_USAGE, "%s", err.detail);
  free(issuer);
}

/* The cache entry a token for the user would come from, as the lister
 * shows it (never a secret). */
struct cached {
  const struct msoauth_config *cfg;
  const char *identity; /* the entry's identity */
  int found, has_refresh_token;
  long long expires_at; /* of the profile's scope; 0: none cached */
};

static void find_cached(void *arg, const struct msoauth_token_info *info) {
  struct cached *c = arg;
  const struct msoauth_config *cfg = c->cfg;

  if (strcmp(info->authority, cfg->authority) != 0 ||
      strcmp(info->tenant, cfg->tenant) != 0 ||
      strcmp(info->client_id, cfg->client_id) != 0 ||
      strcmp(info->identity, c->identity) != 0)
    return;
  c->found = 1;
  c->has_refresh_token = info->has_refresh_token;
  for (size_t i = 0; i < info->n_access; i++)
    if (strcmp(info->scopes[i], cfg->scope) == 0)
      c->expires_at = info->expires_at[i];
}

/* What the cache holds for user before the acquisition: whether its
 * access token is valid, within refresh_margin of its end (the next use
 * renews it) or past it, and whether a sign-in is stored. */
static void check_cached(struct check *ck, const struct msoauth_config *cfg,
                         const char *user) {
  struct cached c = {cfg, NULL, 0, 0, 0};
  struct msoauth_err err;
  long long now = (long long)time(NULL);
  char *name = NULL, when[32];

  if (cfg->auth == MSOAUTH_AUTH_TOKEN)
    return; /* nothing is cached */
  msoauth_err_clear(&err);
  if (cfg->auth == MSOAUTH_AUTH_SERVICE_ACCOUNT)
    c.identity = cfg->service_account;
  else if (cfg->auth == MSOAUTH_AUTH_APP)
    c.identity = "#app";
  else if (msoauth_token_name(cfg, user, strlen(user), &name, &err) ==
           MSOAUTH_OK)
    c.identity = name;
  else
    return; /* the acquisition says why */
  if (msoauth_token_list(cfg, &ck->log, find_cached, &c, &err) != MSOAUTH_OK)
    goto out; /* the cache directory's check said why */
  cli_time(c.expires_at, when, sizeof(when));
  if (c.expires_at == 0)
    add(ck, LV_INFO, CLI_EXIT_OK, "no cached access token for %s",
        c.identity);
  else if (c.expires_at <= now)
    add(ck, LV_INFO, CLI_EXIT_OK,
        "the cached access token for %s expired at %s: the next use gets "
        "a new one",
        c.identity, when);
  else if (c.expires_at - now <= cfg->refresh_margin)
    add(ck, LV_INFO, CLI_EXIT_OK,
        "the cached access token for %s expires at %s, within "
        "refresh_margin (%ld s): the next use renews it",
        c.identity, when, (long)cfg->refresh_margin);
  else
    add(ck, LV_OK, CLI_EXIT_OK,
        "the cached access token for %s is valid until %s (%lld min left; "
        "renewed %ld s before)",
        c.identity, when, (c.expires_at - now) / 60,
        (long)cfg->refresh_margin);
  if ((cfg->auth == MSOAUTH_AUTH_REFRESH ||
       cfg->auth == MSOAUTH_AUTH_SERVICE_ACCOUNT) &&
      !c.has_refresh_token)
    add(ck, LV_INFO, CLI_EXIT_OK, "no sign-in (refresh token) stored for %s",
        c.identity);
out:
  free(name);
}

/* Whose token it is and what it allows. */
static void describe_token(struct check *ck, const struct msoauth_token *tok) {
  const struct msoauth_secret *t = tok->access_token;
  struct msoauth_claims claims;
  const char *whose;
  char when[32], roles[512] = "";

  cli_time(tok->expires_at, when, sizeof(when));
  if (msoauth_jwt_decode(msoauth_secret_value(t), msoauth_secret_len(t),
                         &claims, NULL) != MSOAUTH_OK) {
    add(ck, LV_OK, CLI_EXIT_OK, "token for %s %s (opaque, expires %s)",
        tok->identity, tok->from_cache ? "from the cache" : "acquired", when);
    return;
  }
  for (size_t i = 0; i < claims.n_roles; i++) {
    size_t used = strlen(roles);

    snprintf(roles + used, sizeof(roles) - used, "%s%s", i > 0 ? " " : "",
             claims.roles[i]);
  }
  whose = msoauth_claims_identity(&claims);
  add(ck, LV_OK, CLI_EXIT_OK,
      "token for %s %s: issued to %s%s, audience %s, %s %s, expires %s",
      tok->identity, tok->from_cache ? "from the cache" : "acquired",
      whose != NULL ? whose : "the app ",
      whose != NULL ? "" : (claims.appid != NULL ? claims.appid : "?"),
      claims.aud != NULL ? claims.aud : "?",
      claims.scp != NULL ? "scopes" : "roles",
      claims.scp != NULL ? claims.scp : (roles[0] ? roles : "(none)"), when);
  msoauth_claims_clear(&claims);
}

static void check_token(struct check *ck, const struct msoauth_config *cfg,
                        const char *user) {
  struct msoauth_ctx *ctx = NULL;
  struct msoauth_secret *secret = NULL;
  struct msoauth_token tok;
  struct msoauth_err err;
  char advice[1024];
  msoauth_rc rc;

  memset(&tok, 0, sizeof(tok));
  msoauth_err_clear(&err);
  check_cached(ck, cfg, user);
  rc = msoauth_ctx_new(cfg, &ck->log, &ctx, &err);
  if (!rc &&
      (cfg->auth == MSOAUTH_AUTH_PASSWORD || cfg->auth == MSOAUTH_AUTH_TOKEN))
    rc = cli_read_secret(ck->cli, user, &secret, &err);
  if (!rc)
    rc = msoauth_token_get(ctx, user, strlen(user), secret, &tok, &err);
  if (rc && cli_login_advice(ck->cli, cfg, user, rc, &err, advice,
                             sizeof(advice)))
    add(ck, LV_ERROR, cli_exit_code(rc), "no token for %s (auth = %s): %s",
        user, msoauth_auth_name(cfg->auth), advice);
  else if (rc)
    add(ck, LV_ERROR, cli_exit_code(rc), "no token for %s (auth = %s): %s",
        user, msoauth_auth_name(cfg->auth),
        err.detail[0] ? err.detail : msoauth_strerror(rc));
  else
    describe_token(ck, &tok);
  msoauth_token_clear(&tok);
  msoauth_secret_free(&secret);
  msoauth_ctx_free(&ctx);
}

/* ------------------------------------------------------------ output */

static void print_text(const struct check *ck) {
  for (size_t i = 0; i < ck->n; i++)
    printf("%s: %s\n", level_names[ck->items[i].level], ck->items[i].text);
  if (ck->dropped > 0)
    printf("error: %zu more findings not shown\n", ck->dropped);
}

static void print_json(const struct check *ck) {
  printf("{\"status\": %d, \"findings\": [", ck->status);
  for (size_t i = 0; i < ck->n; i++) {
    printf("%s\n  {\"level\": \"%s\", \"message\": ", i > 0 ? "," : "",
           level_names[ck->items[i].level]);
    cli_json_string(ck->items[i].text);
    printf("}");
  }
  printf("%s], \"dropped\": %zu}\n", ck->n > 0 ? "\n" : "", ck->dropped);
}

int cli_cmd_check(struct cli *cli, int argc, char **argv) {
  struct msoauth_config *cfg = NULL;
  struct check ck;
  struct msoauth_err err;

  if (argc > 1) {
    cli_error("usage: msoauth check [USER]");
    return CLI_EXIT_USAGE;
  }
  memset(&ck, 0, sizeof(ck));
  msoauth_err_clear(&err);
  ck.cli = cli;
  ck.log.fn = collect;
  ck.log.arg = &ck;
  ck.log.level = cli->log.level > MSOAUTH_LOG_WARNING ? cli->log.level
                                                      : MSOAUTH_LOG_WARNING;
  if (msoauth_config_load(cli->config_path, cli->profile, NULL, 0, 0, &ck.log,
                          &cfg, &err) == MSOAUTH_OK) {
    add(&ck, LV_OK, CLI_EXIT_OK,
        "configuration %s%s%s: auth = %s, tenant %s, client %s", cfg->path,
        cfg->profile != NULL ? ", profile " : "",
        cfg->profile != NULL ? cfg->profile : "", msoauth_auth_name(cfg->auth),
        cfg->tenant, cfg->client_id);
    check_credential(&ck, cfg);
    check_users(&ck, cfg);
    check_cache_dir(&ck, cfg);
    check_shared_cache(&ck, cfg);
    check_authority(&ck, cfg);
    if (argc == 1 && !has_errors(&ck))
      check_token(&ck, cfg, argv[0]);
    else if (argc == 1)
      add(&ck, LV_INFO, CLI_EXIT_OK,
          "no token acquired for %s: fix the errors above first", argv[0]);
  } else if (ck.status == CLI_EXIT_OK) {
    /* A failure the loader did not log (out of memory). */
    add(&ck, LV_ERROR, CLI_EXIT_USAGE, "%s", err.detail);
  }
  if (cli->json)
    print_json(&ck);
  else
    print_text(&ck);
  fflush(stdout);
  for (size_t i = 0; i < ck.n; i++)
    free(ck.items[i].text);
  msoauth_config_free(&cfg);
  return ck.status;
}
