/*
 * fuzz_identity.c - libFuzzer target: the identity rules
 * (msoauth_identity_normalize, then msoauth_identity_match_token and
 * msoauth_identity_check_service on what it accepted), with fixed
 * configurations that have domains, a default_domain and aliases.
 *
 * The input is "NAME" or "NAME\nTOKEN_NAME": NAME (any bytes, NUL
 * included) is what a user typed, TOKEN_NAME what a token would name.
 * Beyond memory safety: an accepted name is lowercase ASCII-wise, at most
 * MSOAUTH_NAME_MAX bytes, free of control characters, holds one '@' and a
 * domain of `domains`, is no alias under alias_policy = reject, and is
 * accepted again unchanged.
 */
#include "config_build.h"

#include "config.h"
#include "fuzz.h"
#include "identity.h"

enum cfg_id {
  REJECT,  /* domains contoso.com, fabrikam.com; default contoso.com */
  RESOLVE, /* the same with alias_policy = resolve */
  ANY,     /* no domains: any accepted; no default_domain */
  N_CFGS
};

/* Writable strings, as the configuration holds them (lowercased). */
static char contoso[] = "contoso.com";
static char fabrikam[] = "fabrikam.com";
static char sales[] = "sales@contoso.com";
static char alice[] = "alice@contoso.com";
static char bob_old[] = "bob.old@contoso.com";
static char bob[] = "bob@contoso.com";
static char ext[] = "ext@contoso.com";
static char carol_bravo[] = "carol@bravo.com";
static char broken[] = "broken@fabrikam.com";
static char bad_primary[] = "x@-bad-.com"; /* fails the rules when resolved */
static char chain[] = "chain@contoso.com";
static char svc[] = "svc@contoso.com";

static char *domains[] = {contoso, fabrikam};
static struct msoauth_alias aliases[] = {
    {sales, alice},
    {bob_old, bob},
    {ext, carol_bravo}, /* a primary of a foreign domain */
    {broken, bad_primary},
    {chain, sales}, /* a primary that is an alias itself */
};

static struct msoauth_identity_settings cfgs[N_CFGS];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  for (int i = 0; i < N_CFGS; i++) {
    cfgs[i].aliases = aliases;
    cfgs[i].n_aliases = sizeof(aliases) / sizeof(aliases[0]);
    cfgs[i].alias_policy = MSOAUTH_ALIAS_REJECT;
    cfgs[i].service_account = svc;
  }
  for (int i = REJECT; i <= RESOLVE; i++) {
    cfgs[i].domains = domains;
    cfgs[i].n_domains = sizeof(domains) / sizeof(domains[0]);
    cfgs[i].default_domain = contoso;
  }
  cfgs[RESOLVE].alias_policy = MSOAUTH_ALIAS_RESOLVE;
  return 0;
}

static int in_domains(const struct msoauth_identity_settings *cfg, const char *id) {
  const char *domain = msoauth_identity_domain(id);

  if (domain == NULL)
    return 0;
  if (cfg->n_domains == 0)
    return 1;
  for (size_t i = 0; i < cfg->n_domains; i++)
    if (strcmp(cfg->domains[i], domain) == 0)
      return 1;
  return 0;
}

static int is_alias(const struct msoauth_identity_settings *cfg, const char *id) {
  for (size_t i = 0; i < cfg->n_aliases; i++)
    if (strcmp(cfg->aliases[i].alias, id) == 0)
      return 1;
  return 0;
}

static void check_identity(const struct msoauth_identity_settings *cfg, const char *id) {
  const char *at = strchr(id, '@');

  FUZZ_CHECK(strlen(id) > 0 && strlen(id) <= MSOAUTH_NAME_MAX);
  FUZZ_CHECK(fuzz_printable(id));
  FUZZ_CHECK(at != NULL && at != id && strchr(at + 1, '@') == NULL);
  for (const char *p = id; *p != '\0'; p++)
    FUZZ_CHECK(!(*p >= 'A' && *p <= 'Z'));
  FUZZ_CHECK(in_domains(cfg, id));
  if (cfg->alias_policy == MSOAUTH_ALIAS_REJECT)
    FUZZ_CHECK(!is_alias(cfg, id));
}

/* What the token names, checked against the identity asked for. */
static void match_token(const struct msoauth_identity_settings *cfg, const char *asked,
                        const char *token_name) {
  struct msoauth_err err;
  char *id = NULL;
  msoauth_rc rc;

  msoauth_err_clear(&err);
  rc = msoauth_identity_match_token(cfg, asked, token_name, &id, &err);
  fuzz_check_err(&err, rc);
  if (rc == MSOAUTH_OK) {
    FUZZ_CHECK(id != NULL);
    if (token_name == NULL || cfg->alias_policy == MSOAUTH_ALIAS_REJECT)
      FUZZ_CHECK(strcmp(id, asked) == 0);
    FUZZ_CHECK(in_domains(cfg, id));
  } else {
    FUZZ_CHECK(id == NULL);
  }
  free(id);
}

static void normalize(const struct msoauth_identity_settings *cfg, const char *name,
                      size_t len, const char *token_name) {
  struct msoauth_err err;
  char *id = NULL, *again = NULL;
  msoauth_rc rc;

  msoauth_err_clear(&err);
  rc = msoauth_identity_normalize(cfg, name, len, &id, &err);
  fuzz_check_err(&err, rc);
  if (rc != MSOAUTH_OK) {
    FUZZ_CHECK(id == NULL);
    return;
  }
  FUZZ_CHECK(id != NULL);
  check_identity(cfg, id);
  /* Under reject nothing is replaced: the rules are idempotent. */
  if (cfg->alias_policy == MSOAUTH_ALIAS_REJECT) {
    FUZZ_CHECK(msoauth_identity_normalize(cfg, id, strlen(id), &again, NULL) ==
               MSOAUTH_OK);
    FUZZ_CHECK(strcmp(again, id) == 0);
    free(again);
  }
  msoauth_err_clear(&err);
  rc = msoauth_identity_check_service(cfg, id, &err);
  fuzz_check_err(&err, rc);
  FUZZ_CHECK(rc == MSOAUTH_OK || rc == MSOAUTH_ERR_CROSS_DOMAIN);
  match_token(cfg, id, NULL);
  match_token(cfg, id, token_name);
  free(id);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *nl = memchr(data, '\n', size);
  size_t len = nl != NULL ? (size_t)(nl - data) : size;
  char *token_name = NULL;

  if (nl != NULL)
    token_name = fuzz_strndup(nl + 1, size - len - 1);
  for (int i = 0; i < N_CFGS; i++)
    normalize(&cfgs[i], (const char *)data, len, token_name);
  free(token_name);
  return 0;
}
