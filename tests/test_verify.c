/*
 * test_verify.c - password verification as the PAM module does it: always
 * online, with the failure cache, the offline grace, groups and aliases.
 */
#include "config_build.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "emu.h"
#include "verify.h"

#define GROUP_1 "aaaaaaaa-0000-0000-0000-000000000001"

static struct emu emu;

static int setup(void **state) {
  (void)state;
  return emu_start(&emu, NULL);
}

static int teardown(void **state) {
  (void)state;
  emu_stop(&emu);
  return 0;
}

struct fixture {
  struct msoauth_config *cfg;
  struct msoauth_ctx *ctx;
  struct msoauth_err err;
  struct msoauth_verified v;
};

/* A PAM-style context on a fresh cache, with extra configuration lines. */
static void open_ctx(struct fixture *f, const char *extra) {
  char cmd[400];
  const char *path;

  memset(f, 0, sizeof(*f));
  snprintf(cmd, sizeof(cmd), "rm -rf '%s/cache'", emu.dir);
  assert_int_equal(system(cmd), 0);
  path = emu_write_config(&emu, "verify.conf", extra);
  assert_non_null(path);
  assert_int_equal(msoauth_config_load(path, NULL, NULL, 0, MSOAUTH_CONFIG_PAM,
                                       NULL, &f->cfg, &f->err),
                   MSOAUTH_OK);
  assert_int_equal(msoauth_ctx_new(f->cfg, NULL, &f->ctx, &f->err), MSOAUTH_OK);
  assert_int_equal(emu_reset(&emu), 0);
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
  rc = msoauth_password_verify(f->ctx, user, strlen(user), secret, &f->v,
                               &f->err);
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
static void test_local_refusals(void **state) {
  struct fixture f;

  (void)state;
  open_ctx(&f, NULL);
  assert_int_equal(verify(&f, "alice@fabrikam.com", "x"), MSOAUTH_ERR_DOMAIN);
  assert_int_equal(verify(&f, "alice\r\n@contoso.com", "x"), MSOAUTH_ERR_NAME);
  assert_int_equal(verify(&f, "alice@contoso.com", ""),
                   MSOAUTH_ERR_EMPTY_SECRET);
  assert_int_equal(emu_count(&emu, "total"), 0);
  close_ctx(&f);
}

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

static void test_alias_policy(void **state) {
  struct fixture f;

  (void)state;
  open_ctx(&f, NULL);
  assert_int_equal(verify(&f, "alice.smith@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_ERR_ALIAS);
  assert_non_null(strstr(f.err.detail, "alice@contoso.com"));
  close_ctx(&f);
  open_ctx(&f, "alias_policy = resolve\n");
  assert_int_equal(verify(&f, "alice.smith@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_OK);
  assert_string_equal(f.v.identity, "alice@contoso.com");
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
  /* 250 groups: the overage form lists none. */
  assert_int_equal(verify(&f, "groupie@contoso.com", "Password1!"),
                   MSOAUTH_ERR_GROUP);
  assert_non_null(strstr(f.err.detail, "overage"));
  close_ctx(&f);

  open_ctx(&f, "allowed_groups = cccccccc-0000-0000-0000-000000000009\n");
  assert_int_equal(verify(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_ERR_GROUP);
  assert_non_null(strstr(f.err.detail, "not a member"));
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

/* A tenant id in the configuration: the token's tid must be it. No id
 * token and an opaque access token: refused (never "unreachable"). */
static void test_tenant_and_identity(void **state) {
  struct fixture f;

  (void)state;
  open_ctx(&f, "tenant = " EMU_TENANT_ID "\n");
  assert_int_equal(emu_post(&emu, "/_emu/fault", "{\"kind\": \"tenant\"}"), 0);
  assert_int_equal(verify(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_ERR_TENANT);
  assert_null(f.v.identity);
  assert_int_equal(verify(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_OK);
  assert_int_equal(emu_post(&emu, "/_emu/fault", "{\"kind\": \"opaque\"}"), 0);
  assert_int_equal(verify(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_ERR_NO_IDENTITY);
  assert_false(msoauth_rc_unreachable(MSOAUTH_ERR_NO_IDENTITY));
  close_ctx(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_always_online),
      cmocka_unit_test(test_failure_cache),
      cmocka_unit_test(test_local_refusals),
      cmocka_unit_test(test_platform_outcomes),
      cmocka_unit_test(test_alias_policy),
      cmocka_unit_test(test_allowed_groups),
      cmocka_unit_test(test_offline_grace),
      cmocka_unit_test(test_offline_not_for_refusals),
      cmocka_unit_test(test_store_tokens),
      cmocka_unit_test(test_tenant_and_identity),
  };

  return cmocka_run_group_tests(tests, setup, teardown);
}
