/*
 * test_verify.c - the token layer's password verification as the PAM module
 * does it: always online, with the failure cache, the offline grace and
 * groups. The identity rules it shares with msoauth_token_get (local
 * refusals, aliases, tenant, no identity) are tested once, through both
 * entries, in test_token.c.
 */
#include "config_build.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "emu.h"
#include "fixture.h"
#include "token_int.h"

#define GROUP_1 "aaaaaaaa-0000-0000-0000-000000000001"

struct fixture {
  struct msoauth_config *cfg;
  struct msoauth_ctx *ctx;
  struct msoauth_err err;
  struct msoauth_verified v;
};

/* A PAM-style context on the cache as it is, with extra configuration
 * lines (another configuration of the same host). */
static void reopen_ctx(struct fixture *f, const char *extra) {
  memset(f, 0, sizeof(*f));
  fixture_ctx("verify.conf", extra, MSOAUTH_CONFIG_VERIFY_PASSWORDS, NULL, &f->cfg, &f->ctx,
              &f->err);
  assert_int_equal(emu_reset(&emu), 0);
}

/* The same on a fresh cache. */
static void open_ctx(struct fixture *f, const char *extra) {
  fixture_cold_cache();
  reopen_ctx(f, extra);
}

static void close_ctx(struct fixture *f) {
  msoauth_verified_clear(&f->v);
  msoauth_ctx_free(&f->ctx);
  msoauth_config_free(&f->cfg);
}

static msoauth_rc verify(struct fixture *f, const char *user,
                         const char *password) {
  struct msoauth_secret *secret = NULL;
  msoauth_rc rc;

  assert_int_equal(msoauth_secret_from_str(password, &secret), MSOAUTH_OK);
  msoauth_verified_clear(&f->v);
  rc = msoauth_token_verify_password(f->ctx, user, strlen(user), secret, 0,
                                     &f->v, &f->err);
  msoauth_secret_free(&secret);
  return rc;
}

static void test_always_online(void **state) {
  struct fixture f;

  (void)state;
  open_ctx(&f, NULL);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(verify(&f, "Alice@contoso.com", EMU_ALICE_PASSWORD),
                     MSOAUTH_OK);
    assert_string_equal(f.v.identity, "alice@contoso.com");
    assert_false(f.v.offline);
  }
  /* A cached token proves nothing about the password typed now. */
  assert_int_equal(emu_count(&emu, "grant:password"), 3);
  close_ctx(&f);
}

/* A client retrying a stale password: one request, then local refusals;
 * another password still goes online. */
static void test_failure_cache(void **state) {
  struct fixture f;

  (void)state;
  open_ctx(&f, NULL);
  for (int i = 0; i < 10; i++) {
    assert_int_equal(verify(&f, "alice@contoso.com", "Stale-Password-1"),
                     MSOAUTH_ERR_BAD_CREDENTIALS);
    /* The caller learns which refusals were local. */
    assert_int_equal(f.v.cached_failure, i > 0);
    assert_null(f.v.identity);
  }
  assert_int_equal(emu_count(&emu, "grant:password"), 1);
  assert_non_null(strstr(f.err.detail, "not sent again"));
  assert_int_equal(verify(&f, "alice@contoso.com", "Another-Stale-2"),
                   MSOAUTH_ERR_BAD_CREDENTIALS);
  assert_int_equal(emu_count(&emu, "grant:password"), 2);
  assert_int_equal(verify(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_OK);
  assert_int_equal(emu_count(&emu, "grant:password"), 3);
  close_ctx(&f);

  /* failure_cache = 0: every attempt goes online. */
  open_ctx(&f, "failure_cache = 0\n");
  for (int i = 0; i < 3; i++)
    assert_int_equal(verify(&f, "alice@contoso.com", "Stale-Password-1"),
                     MSOAUTH_ERR_BAD_CREDENTIALS);
  assert_int_equal(emu_count(&emu, "grant:password"), 3);
  close_ctx(&f);
}

/* Local rules and empty passwords send nothing. */
struct outcome_case {
  const char *user;
  msoauth_rc rc;
  long aadsts;
};

static void test_platform_outcomes(void **state) {
  static const struct outcome_case cases[] = {
      {"nobody@contoso.com", MSOAUTH_ERR_NO_USER, 50034},
      {"locked@contoso.com", MSOAUTH_ERR_LOCKED, 50053},
      {"disabled@contoso.com", MSOAUTH_ERR_DISABLED, 50057},
      {"expired@contoso.com", MSOAUTH_ERR_PASSWORD_EXPIRED, 50055},
      {"mfa@contoso.com", MSOAUTH_ERR_MFA_REQUIRED, 50076},
      {"ca@contoso.com", MSOAUTH_ERR_CONDITIONAL_ACCESS, 53003},
  };
  struct fixture f;

  (void)state;
  open_ctx(&f, NULL);
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    assert_int_equal(verify(&f, cases[i].user, "Password1!"), cases[i].rc);
    assert_int_equal(f.err.aadsts, cases[i].aadsts);
    assert_null(f.v.identity);
  }
  close_ctx(&f);
}

static void test_allowed_groups(void **state) {
  struct fixture f;

  (void)state;
  open_ctx(&f, "allowed_groups = " GROUP_1 "\n");
  assert_int_equal(verify(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_OK);
  /* bob's token carries no groups claim: fail closed, say why. */
  assert_int_equal(verify(&f, "bob@contoso.com", EMU_BOB_PASSWORD),
                   MSOAUTH_ERR_GROUP);
  assert_non_null(strstr(f.err.detail, "no groups claim"));
  /* The glue chooses its words from why, never from the detail. */
  assert_int_equal(f.err.why, MSOAUTH_WHY_GROUPS_NO_CLAIM);
  /* 250 groups: the overage form lists none. */
  assert_int_equal(verify(&f, "groupie@contoso.com", "Password1!"),
                   MSOAUTH_ERR_GROUP);
  assert_non_null(strstr(f.err.detail, "overage"));
  assert_int_equal(f.err.why, MSOAUTH_WHY_GROUPS_OVERAGE);
  close_ctx(&f);

  open_ctx(&f, "allowed_groups = cccccccc-0000-0000-0000-000000000009\n");
  assert_int_equal(verify(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_ERR_GROUP);
  assert_non_null(strstr(f.err.detail, "not a member"));
  assert_int_equal(f.err.why, MSOAUTH_WHY_GROUPS_NOT_MEMBER);
  /* A later failure of another kind says no rule. */
  assert_int_equal(verify(&f, "alice@contoso.com", ""),
                   MSOAUTH_ERR_EMPTY_SECRET);
  assert_int_equal(f.err.why, MSOAUTH_WHY_NONE);
  close_ctx(&f);
}

/* The platform unreachable: only a password verified online within the
 * grace is accepted. */
static void test_offline_grace(void **state) {
  struct fixture f;

  (void)state;
  open_ctx(&f, "offline_grace = 3\ntimeout = 2\nretries = 0\n");
  assert_int_equal(verify(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_OK);
  assert_false(f.v.offline);
  assert_int_equal(emu_post(&emu, "/_emu/fault",
                            "{\"kind\":\"status\",\"status\":503,"
                            "\"count\":-1}"),
                   0);
  assert_int_equal(verify(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_OK);
  assert_true(f.v.offline);
  assert_string_equal(f.v.identity, "alice@contoso.com");
  /* A wrong password never succeeds offline. */
  assert_int_equal(verify(&f, "alice@contoso.com", "Not-Alices-Pw9"),
                   MSOAUTH_ERR_UNAVAILABLE);
  /* Nor a user never verified online. */
  assert_int_equal(verify(&f, "bob@contoso.com", EMU_BOB_PASSWORD),
                   MSOAUTH_ERR_UNAVAILABLE);
  sleep(4);
  assert_int_equal(verify(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_ERR_UNAVAILABLE);
  assert_int_equal(emu_reset(&emu), 0);
  close_ctx(&f);

  /* Without offline_grace, nothing is accepted offline. */
  open_ctx(&f, "timeout = 2\nretries = 0\n");
  assert_int_equal(verify(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_OK);
  assert_int_equal(emu_post(&emu, "/_emu/fault",
                            "{\"kind\":\"status\",\"status\":503,"
                            "\"count\":-1}"),
                   0);
  assert_int_equal(verify(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_ERR_UNAVAILABLE);
  assert_int_equal(emu_reset(&emu), 0);
  close_ctx(&f);
}

/* A refusal is not unreachability: the grace does not apply. */
static void test_offline_not_for_refusals(void **state) {
  struct fixture f;

  (void)state;
  open_ctx(&f, "offline_grace = 600\n");
  assert_int_equal(verify(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_OK);
  assert_int_equal(emu_post(&emu, "/_emu/revoke",
                            "{\"user\":\"alice@contoso.com\"}"),
                   0);
  assert_int_equal(verify(&f, "alice@contoso.com", "Changed-Pw-2"),
                   MSOAUTH_ERR_BAD_CREDENTIALS);
  assert_false(f.v.offline);
  close_ctx(&f);
}

/* store_tokens keeps the refresh token for auth = refresh. */
static void test_store_tokens(void **state) {
  struct fixture f;
  struct msoauth_cache_entry entry;
  struct msoauth_cache_key key;

  (void)state;
  open_ctx(&f, NULL);
  assert_int_equal(verify(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_OK);
  key.authority = f.cfg->authority;
  key.tenant = f.cfg->tenant;
  key.client_id = f.cfg->client_id;
  key.identity = "alice@contoso.com";
  /* Not asked to keep anything: nothing was written. */
  assert_int_equal(msoauth_cache_get(f.ctx->cache, &key, &entry, NULL),
                   MSOAUTH_ERR_NOT_FOUND);
  msoauth_cache_entry_clear(&entry);
  close_ctx(&f);

  open_ctx(&f, "store_tokens = yes\n");
  assert_int_equal(verify(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_OK);
  key.authority = f.cfg->authority;
  key.tenant = f.cfg->tenant;
  key.client_id = f.cfg->client_id;
  assert_int_equal(msoauth_cache_get(f.ctx->cache, &key, &entry, NULL),
                   MSOAUTH_OK);
  assert_non_null(entry.refresh_token);
  assert_null(entry.offline_verifier);
  msoauth_cache_entry_clear(&entry);
  close_ctx(&f);

  /* The mail tools then act for alice with no password: one refresh. */
  {
    struct msoauth_config *cfg = NULL;
    struct msoauth_ctx *ctx = NULL;
    struct msoauth_token tok;
    const char *path = emu_write_config(&emu, "refresh.conf", "auth = refresh\n");

    assert_int_equal(emu_reset(&emu), 0);
    assert_int_equal(msoauth_config_load(path, NULL, NULL, 0, 0, NULL, &cfg,
                                         NULL),
                     MSOAUTH_OK);
    assert_int_equal(msoauth_ctx_new(cfg, NULL, &ctx, NULL), MSOAUTH_OK);
    assert_int_equal(msoauth_token_get(ctx, "alice@contoso.com", 17, NULL,
                                       &tok, NULL),
                     MSOAUTH_OK);
    assert_string_equal(tok.identity, "alice@contoso.com");
    assert_int_equal(emu_count(&emu, "grant:refresh_token"), 1);
    assert_int_equal(emu_count(&emu, "grant:password"), 0);
    msoauth_token_clear(&tok);
    msoauth_ctx_free(&ctx);
    msoauth_config_free(&cfg);
  }
}

/* ------------------------------------------------------------ issue 12 */

#define GRACE "offline_grace = 600\ntimeout = 2\nretries = 0\n"
#define UNREACHABLE "{\"kind\":\"status\",\"status\":503,\"count\":-1}"

/* Sets the emulator's flags of user (a JSON list). */
static void set_flags(const char *user, const char *flags) {
  char json[256];

  snprintf(json, sizeof(json), "{\"user\":\"%s\",\"flags\":%s}", user, flags);
  assert_int_equal(emu_post(&emu, "/_emu/user", json), 0);
}

/* The text of every cache entry, concatenated (the caller frees it). */
static char *cache_text(void) {
  char dir[300], path[600], *all = calloc(1, 1);
  struct dirent *de;
  size_t len = 0;
  DIR *d;

  snprintf(dir, sizeof(dir), "%s/cache", emu.dir);
  assert_non_null(all);
  d = opendir(dir);
  while (d != NULL && (de = readdir(d)) != NULL) {
    char buf[65536];
    size_t n;
    FILE *fp;

    if (strstr(de->d_name, ".json") == NULL)
      continue;
    snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
    fp = fopen(path, "r");
    assert_non_null(fp);
    n = fread(buf, 1, sizeof(buf), fp);
    fclose(fp);
    all = realloc(all, len + n + 1);
    assert_non_null(all);
    memcpy(all + len, buf, n);
    len += n;
    all[len] = '\0';
  }
  if (d != NULL)
    closedir(d);
  return all;
}

static int cache_has(const char *what) {
  char *text = cache_text();
  int has = strstr(text, what) != NULL;

  free(text);
  return has;
}

struct refusal_case {
  const char *name;
  const char *extra;    /* more configuration */
  const char *flags;    /* the emulator's flags of alice for the refusal */
  const char *password; /* the password of the refusal */
  msoauth_rc rc;
};

/* Item 2: an explicit "no" of the platform erases the offline verifier,
 * also with failure_cache = 0. */
static void test_refusal_ends_grace(void **state) {
  static const struct refusal_case cases[] = {
      {"wrong password", "", NULL, "Wrong-Password-1",
       MSOAUTH_ERR_BAD_CREDENTIALS},
      {"wrong password, failure_cache = 0", "failure_cache = 0\n", NULL,
       "Wrong-Password-1", MSOAUTH_ERR_BAD_CREDENTIALS},
      {"disabled", "", "[\"disabled\"]", EMU_ALICE_PASSWORD,
       MSOAUTH_ERR_DISABLED},
      {"disabled, failure_cache = 0", "failure_cache = 0\n", "[\"disabled\"]",
       EMU_ALICE_PASSWORD, MSOAUTH_ERR_DISABLED},
      {"expired", "", "[\"password_expired\"]", EMU_ALICE_PASSWORD,
       MSOAUTH_ERR_PASSWORD_EXPIRED},
      {"mfa", "", "[\"mfa\"]", EMU_ALICE_PASSWORD, MSOAUTH_ERR_MFA_REQUIRED},
      {"external mfa", "", "[\"external_mfa\"]", EMU_ALICE_PASSWORD,
       MSOAUTH_ERR_MFA_REQUIRED},
      {"conditional access", "", "[\"conditional_access\"]",
       EMU_ALICE_PASSWORD, MSOAUTH_ERR_CONDITIONAL_ACCESS},
      {"locked", "failure_cache = 0\n", "[\"locked\"]", EMU_ALICE_PASSWORD,
       MSOAUTH_ERR_LOCKED},
  };
  char extra[256];
  struct fixture f;

  (void)state;
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    const struct refusal_case *c = &cases[i];

    fprintf(stderr, "# %s\n", c->name);
    snprintf(extra, sizeof(extra), GRACE "%s", c->extra);
    open_ctx(&f, extra);
    assert_int_equal(verify(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                     MSOAUTH_OK);
    if (c->flags != NULL)
      set_flags("alice@contoso.com", c->flags);
    assert_int_equal(verify(&f, "alice@contoso.com", c->password), c->rc);
    set_flags("alice@contoso.com", "[]");
    assert_int_equal(emu_post(&emu, "/_emu/fault", UNREACHABLE), 0);
    assert_int_equal(verify(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                     MSOAUTH_ERR_UNAVAILABLE);
    assert_false(f.v.offline);
    assert_int_equal(emu_reset(&emu), 0);
    close_ctx(&f);
  }
}

/* A token of another tenant, or one that names nobody, is refused by our
 * rules: that ends the grace too. */
static void test_answer_refusal_ends_grace(void **state) {
  static const struct {
    const char *fault;
    msoauth_rc rc;
  } cases[] = {
      {"{\"kind\": \"tenant\"}", MSOAUTH_ERR_TENANT},
      {"{\"kind\": \"opaque\"}", MSOAUTH_ERR_NO_IDENTITY},
  };
  struct fixture f;

  (void)state;
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    fprintf(stderr, "# %s\n", cases[i].fault);
    open_ctx(&f, GRACE "tenant = " EMU_TENANT_ID "\n");
    assert_int_equal(verify(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                     MSOAUTH_OK);
    assert_int_equal(emu_post(&emu, "/_emu/fault", cases[i].fault), 0);
    assert_int_equal(verify(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                     cases[i].rc);
    assert_int_equal(emu_reset(&emu), 0);
    assert_int_equal(emu_post(&emu, "/_emu/fault", UNREACHABLE), 0);
    assert_int_equal(verify(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                     MSOAUTH_ERR_UNAVAILABLE);
    assert_false(f.v.offline);
    assert_int_equal(emu_reset(&emu), 0);
    close_ctx(&f);
  }
}

/* A group refusal erases it too (allowed_groups changed, then back). */
static void test_group_refusal_ends_grace(void **state) {
  struct fixture f;

  (void)state;
  open_ctx(&f, GRACE "allowed_groups = " GROUP_1 "\n");
  assert_int_equal(verify(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_OK);
  close_ctx(&f);
  reopen_ctx(&f, GRACE "allowed_groups = cccccccc-0000-0000-0000-000000000009\n");
  assert_int_equal(verify(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_ERR_GROUP);
  close_ctx(&f);
  reopen_ctx(&f, GRACE "allowed_groups = " GROUP_1 "\n");
  assert_int_equal(emu_post(&emu, "/_emu/fault", UNREACHABLE), 0);
  assert_int_equal(verify(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_ERR_UNAVAILABLE);
  assert_int_equal(emu_reset(&emu), 0);
  close_ctx(&f);
}

/* The group and identity decision travels with the verifier: offline, the
 * rules of today decide on what was verified online. */
static void test_offline_decision(void **state) {
  struct fixture f;

  (void)state;
  /* Verified in GROUP_1; offline, the same rules accept. */
  open_ctx(&f, GRACE "allowed_groups = " GROUP_1 "\n");
  assert_int_equal(verify(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_OK);
  assert_int_equal(emu_post(&emu, "/_emu/fault", UNREACHABLE), 0);
  assert_int_equal(verify(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_OK);
  assert_true(f.v.offline);
  close_ctx(&f);
  /* allowed_groups now names another group only: refused offline. */
  reopen_ctx(&f, GRACE "allowed_groups = cccccccc-0000-0000-0000-000000000009\n");
  assert_int_equal(emu_post(&emu, "/_emu/fault", UNREACHABLE), 0);
  assert_int_not_equal(verify(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                       MSOAUTH_OK);
  assert_false(f.v.offline);
  assert_int_equal(emu_reset(&emu), 0);
  close_ctx(&f);

  /* Verified without allowed_groups; then configured: refused offline. */
  open_ctx(&f, GRACE);
  assert_int_equal(verify(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_OK);
  close_ctx(&f);
  reopen_ctx(&f, GRACE "allowed_groups = " GROUP_1 "\n");
  assert_int_equal(emu_post(&emu, "/_emu/fault", UNREACHABLE), 0);
  assert_int_not_equal(verify(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                       MSOAUTH_OK);
  assert_false(f.v.offline);
  assert_int_equal(emu_reset(&emu), 0);
  close_ctx(&f);

  /* An alias resolved online is the primary offline too... */
  open_ctx(&f, GRACE "alias_policy = resolve\n");
  assert_int_equal(verify(&f, "alice.smith@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_OK);
  assert_int_equal(emu_post(&emu, "/_emu/fault", UNREACHABLE), 0);
  assert_int_equal(verify(&f, "alice.smith@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_OK);
  assert_true(f.v.offline);
  assert_string_equal(f.v.identity, "alice@contoso.com");
  close_ctx(&f);
  /* ... and refused offline once alias_policy = reject. */
  reopen_ctx(&f, GRACE);
  assert_int_equal(emu_post(&emu, "/_emu/fault", UNREACHABLE), 0);
  assert_int_not_equal(
      verify(&f, "alice.smith@contoso.com", EMU_ALICE_PASSWORD), MSOAUTH_OK);
  assert_false(f.v.offline);
  assert_int_equal(emu_reset(&emu), 0);
  close_ctx(&f);
}

/* A certificate the platform would not present is not "unreachable": the
 * offline grace does not apply. The emulator comes back on the same port
 * (the same cache key) with another identity. */
static void test_offline_not_after_tls_failure(void **state) {
  static const char *const identities[] = {"other-ca", "wrong-host"};
  char port[16];
  struct fixture f;

  (void)state;
  snprintf(port, sizeof(port), "%s", strrchr(emu.url, ':') + 1);
  for (size_t i = 0; i < 2; i++) {
    const char *args[] = {"--port", port, "--tls-identity", identities[i],
                          NULL};
    const char *normal[] = {"--port", port, NULL};

    open_ctx(&f, GRACE);
    assert_int_equal(verify(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                     MSOAUTH_OK);
    assert_int_equal(emu_restart(&emu, args), 0);
    assert_int_equal(verify(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                     MSOAUTH_ERR_PROTOCOL);
    assert_false(f.v.offline);
    assert_non_null(strstr(f.err.detail, "certificate"));
    close_ctx(&f);
    assert_int_equal(emu_restart(&emu, normal), 0);
  }
}

/* Item 7: the verifiers of a real password cost 600,000 iterations. */
static void test_verifier_cost(void **state) {
  struct fixture f;

  (void)state;
  open_ctx(&f, GRACE);
  assert_int_equal(verify(&f, "alice@contoso.com", "Wrong-Password-1"),
                   MSOAUTH_ERR_BAD_CREDENTIALS);
  assert_true(cache_has("pbkdf2-sha256$600000$"));
  assert_int_equal(verify(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_OK);
  assert_true(cache_has("\"verified_verifier\":\"pbkdf2-sha256$600000$"));
  close_ctx(&f);
}

/* Item 7: a rejected password's verifier is dropped once failure_cache
 * has passed, at the next attempt of any kind. */
static void test_failure_dropped_when_expired(void **state) {
  struct fixture f;

  (void)state;
  open_ctx(&f, "failure_cache = 2\ntimeout = 2\nretries = 0\n");
  assert_int_equal(verify(&f, "alice@contoso.com", "Wrong-Password-1"),
                   MSOAUTH_ERR_BAD_CREDENTIALS);
  assert_true(cache_has("failed"));
  sleep(3);
  /* The platform unreachable: nothing learnt, but the stale verifier
   * goes. */
  assert_int_equal(emu_post(&emu, "/_emu/fault", UNREACHABLE), 0);
  assert_int_equal(verify(&f, "alice@contoso.com", "Another-Password-2"),
                   MSOAUTH_ERR_UNAVAILABLE);
  assert_false(cache_has("failed"));
  assert_false(cache_has("pbkdf2"));
  assert_int_equal(emu_reset(&emu), 0);
  close_ctx(&f);
}

/* Item 11: a few rejected passwords per user, not one; the oldest of
 * five is forgotten. */
static void test_failed_passwords_kept(void **state) {
  static const char *const stale[] = {"Stale-1", "Stale-2", "Stale-3",
                                      "Stale-4", "Stale-5"};
  struct fixture f;

  (void)state;
  open_ctx(&f, NULL);
  assert_int_equal(verify(&f, "alice@contoso.com", stale[0]),
                   MSOAUTH_ERR_BAD_CREDENTIALS);
  assert_int_equal(verify(&f, "alice@contoso.com", stale[1]),
                   MSOAUTH_ERR_BAD_CREDENTIALS);
  assert_int_equal(emu_count(&emu, "grant:password"), 2);
  /* Two clients with two stale passwords: both refused locally. */
  for (int i = 0; i < 3; i++) {
    assert_int_equal(verify(&f, "alice@contoso.com", stale[i % 2]),
                     MSOAUTH_ERR_BAD_CREDENTIALS);
    assert_true(f.v.cached_failure);
  }
  assert_int_equal(emu_count(&emu, "grant:password"), 2);
  for (int i = 2; i < 5; i++)
    assert_int_equal(verify(&f, "alice@contoso.com", stale[i]),
                     MSOAUTH_ERR_BAD_CREDENTIALS);
  assert_int_equal(emu_count(&emu, "grant:password"), 5);
  /* Four are kept: the first went, the last four stay. */
  assert_int_equal(verify(&f, "alice@contoso.com", stale[4]),
                   MSOAUTH_ERR_BAD_CREDENTIALS);
  assert_int_equal(verify(&f, "alice@contoso.com", stale[1]),
                   MSOAUTH_ERR_BAD_CREDENTIALS);
  assert_int_equal(emu_count(&emu, "grant:password"), 5);
  assert_int_equal(verify(&f, "alice@contoso.com", stale[0]),
                   MSOAUTH_ERR_BAD_CREDENTIALS);
  assert_false(f.v.cached_failure);
  assert_int_equal(emu_count(&emu, "grant:password"), 6);
  close_ctx(&f);
}

/* Item 11: a lockout (50053) is remembered for min(60 s, failure_cache):
 * the next attempts, whatever the password, are refused without a request.
 */
static void test_lockout_remembered(void **state) {
  struct fixture f;

  (void)state;
  open_ctx(&f, NULL);
  set_flags("alice@contoso.com", "[\"locked\"]");
  assert_int_equal(verify(&f, "alice@contoso.com", "Wrong-Password-1"),
                   MSOAUTH_ERR_LOCKED);
  assert_false(f.v.cached_failure);
  assert_int_equal(verify(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_ERR_LOCKED);
  assert_true(f.v.cached_failure);
  assert_non_null(strstr(f.err.detail, "not asked again"));
  assert_int_equal(emu_count(&emu, "grant:password"), 1);
  close_ctx(&f);

  /* failure_cache = 2: two seconds, then asked again. */
  open_ctx(&f, "failure_cache = 2\n");
  assert_int_equal(verify(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_ERR_LOCKED);
  assert_int_equal(verify(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_ERR_LOCKED);
  assert_int_equal(emu_count(&emu, "grant:password"), 1);
  sleep(3);
  set_flags("alice@contoso.com", "[]");
  assert_int_equal(verify(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_OK);
  assert_int_equal(emu_count(&emu, "grant:password"), 2);
  close_ctx(&f);

  /* failure_cache = 0: no memory at all. */
  open_ctx(&f, "failure_cache = 0\n");
  set_flags("alice@contoso.com", "[\"locked\"]");
  for (int i = 0; i < 2; i++)
    assert_int_equal(verify(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                     MSOAUTH_ERR_LOCKED);
  assert_int_equal(emu_count(&emu, "grant:password"), 2);
  set_flags("alice@contoso.com", "[]");
  close_ctx(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_always_online),
      cmocka_unit_test(test_failure_cache),
      cmocka_unit_test(test_platform_outcomes),
      cmocka_unit_test(test_allowed_groups),
      cmocka_unit_test(test_offline_grace),
      cmocka_unit_test(test_offline_not_for_refusals),
      cmocka_unit_test(test_store_tokens),
      cmocka_unit_test(test_refusal_ends_grace),
      cmocka_unit_test(test_group_refusal_ends_grace),
      cmocka_unit_test(test_answer_refusal_ends_grace),
      cmocka_unit_test(test_offline_decision),
      cmocka_unit_test(test_offline_not_after_tls_failure),
      cmocka_unit_test(test_verifier_cost),
      cmocka_unit_test(test_failure_dropped_when_expired),
      cmocka_unit_test(test_failed_passwords_kept),
      cmocka_unit_test(test_lockout_remembered),
  };

  return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
