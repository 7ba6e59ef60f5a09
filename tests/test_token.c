/*
 * test_token.c - msoauth_token_get end to end against the emulator: the
 * identity rules before any request, the cache, refresh, the auth methods,
 * and many processes on one cold entry.
 */
#include "config_build.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "emu.h"
#include "token.h"
#include "verifier.h"

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
  struct msoauth_token tok;
};

/* A context on a fresh cache directory, with extra configuration lines. */
static void open_ctx(struct fixture *f, const char *extra) {
  char cmd[400];
  const char *path;

  memset(f, 0, sizeof(*f));
  snprintf(cmd, sizeof(cmd), "rm -rf '%s/cache'", emu.dir);
  assert_int_equal(system(cmd), 0);
  path = emu_write_config(&emu, "token.conf", extra);
  assert_non_null(path);
  assert_int_equal(msoauth_config_load(path, NULL, NULL, 0, 0, NULL, &f->cfg,
                                       &f->err),
                   MSOAUTH_OK);
  assert_int_equal(msoauth_ctx_new(f->cfg, NULL, &f->ctx, &f->err), MSOAUTH_OK);
  assert_int_equal(emu_reset(&emu), 0);
}

static void close_ctx(struct fixture *f) {
  msoauth_token_clear(&f->tok);
  msoauth_ctx_free(&f->ctx);
  msoauth_config_free(&f->cfg);
}

static msoauth_rc get(struct fixture *f, const char *user, size_t len,
                      const char *password) {
  struct msoauth_secret *secret = NULL;
  msoauth_rc rc;

  if (password != NULL)
    assert_int_equal(msoauth_secret_from_str(password, &secret), MSOAUTH_OK);
  msoauth_token_clear(&f->tok);
  rc = msoauth_token_get(f->ctx, user, len, secret, &f->tok, &f->err);
  msoauth_secret_free(&secret);
  return rc;
}

static msoauth_rc get_str(struct fixture *f, const char *user,
                          const char *password) {
  return get(f, user, strlen(user), password);
}

static void test_password_cached(void **state) {
  struct fixture f;

  (void)state;
  open_ctx(&f, NULL);
  assert_int_equal(get_str(&f, "Alice@Contoso.com ", EMU_ALICE_PASSWORD),
                   MSOAUTH_OK);
  assert_string_equal(f.tok.identity, "alice@contoso.com");
  assert_false(f.tok.from_cache);
  assert_non_null(f.tok.access_token);
  for (int i = 0; i < 5; i++) {
    assert_int_equal(get_str(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                     MSOAUTH_OK);
    assert_true(f.tok.from_cache);
  }
  assert_int_equal(emu_count(&emu, "endpoint:token"), 1);
  /* PBKDF2 once for the first cached use, then the process's memo. */
  assert_int_equal(msoauth_verifier_memo_hits(f.ctx->memo), 4);
  close_ctx(&f);
}

/* A cached token serves only the password it was obtained with. */
static void test_password_wrong_not_served(void **state) {
  struct fixture f;

  (void)state;
  open_ctx(&f, NULL);
  assert_int_equal(get_str(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_OK);
  assert_int_equal(get_str(&f, "alice@contoso.com", "not her password"),
                   MSOAUTH_ERR_BAD_CREDENTIALS);
  assert_null(f.tok.access_token);
  assert_int_equal(emu_count(&emu, "grant:password"), 2);
  assert_int_equal(emu_count(&emu, "grant:refresh_token"), 0);
  /* The good entry survived the failure. */
  assert_int_equal(get_str(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_OK);
  assert_true(f.tok.from_cache);
  close_ctx(&f);
}

struct local_case {
  const char *user;
  size_t len; /* 0: strlen */
  const char *password;
  msoauth_rc rc;
  const char *detail; /* a piece the detail must hold, or NULL */
};

/* Local rules say no: zero requests. */
static void test_local_refusals(void **state) {
  static const struct local_case cases[] = {
      {"alice@fabrikam.com", 0, "x", MSOAUTH_ERR_DOMAIN, "fabrikam.com"},
      {"alice@contoso.com\r\n", 0, "x", MSOAUTH_ERR_NAME, NULL},
      {"ali\x01" "ce@contoso.com", 0, "x", MSOAUTH_ERR_NAME, NULL},
      {"alice@contoso.com\0evil", 22, "x", MSOAUTH_ERR_NAME, NULL},
      {"asmith@contoso.com", 0, "x", MSOAUTH_ERR_ALIAS, "alice@contoso.com"},
      {"alice", 0, "x", MSOAUTH_ERR_DOMAIN, NULL},
      {"alice@contoso.com", 0, "", MSOAUTH_ERR_EMPTY_SECRET, NULL},
      {"alice@contoso.com", 0, NULL, MSOAUTH_ERR_EMPTY_SECRET, NULL},
  };
  char long_name[300];
  struct fixture f;
  const char *aliases;

  (void)state;
  aliases = emu_write_file(&emu, "aliases",
                           "asmith@contoso.com alice@contoso.com\n", 0600);
  assert_non_null(aliases);
  {
    char extra[600];

    snprintf(extra, sizeof(extra), "aliases_file = %s\n", aliases);
    open_ctx(&f, extra);
  }
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    const struct local_case *c = &cases[i];

    assert_int_equal(get(&f, c->user, c->len ? c->len : strlen(c->user),
                         c->password),
                     c->rc);
    if (c->detail != NULL)
      assert_non_null(strstr(f.err.detail, c->detail));
  }
  memset(long_name, 'a', sizeof(long_name) - 1);
  long_name[sizeof(long_name) - 1] = '\0';
  memcpy(long_name + sizeof(long_name) - 13, "@contoso.com", 12);
  assert_int_equal(get_str(&f, long_name, "x"), MSOAUTH_ERR_NAME);
  assert_int_equal(emu_count(&emu, "total"), 0);
  close_ctx(&f);
}

/* An alias Entra accepts: the token names the primary address. */
static void test_alias_by_token(void **state) {
  struct fixture f;

  (void)state;
  open_ctx(&f, NULL);
  assert_int_equal(get_str(&f, "alice.smith@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_ERR_ALIAS);
  assert_non_null(strstr(f.err.detail, "alice@contoso.com"));
  close_ctx(&f);

  open_ctx(&f, "alias_policy = resolve\n");
  assert_int_equal(get_str(&f, "alice.smith@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_OK);
  assert_string_equal(f.tok.identity, "alice@contoso.com");
  close_ctx(&f);
}

/* Tokens are renewed refresh_margin before they expire, with the refresh
 * token. */
static void test_refresh_margin(void **state) {
  struct fixture f;

  (void)state;
  open_ctx(&f, "refresh_margin = 600\n");
  assert_int_equal(emu_post(&emu, "/_emu/options", "{\"expires_in\":700}"), 0);
  assert_int_equal(get_str(&f, "bob@contoso.com", EMU_BOB_PASSWORD),
                   MSOAUTH_OK);
  assert_int_equal(get_str(&f, "bob@contoso.com", EMU_BOB_PASSWORD),
                   MSOAUTH_OK);
  assert_true(f.tok.from_cache);
  assert_int_equal(emu_post(&emu, "/_emu/options", "{\"expires_in\":500}"), 0);
  msoauth_token_forget(f.ctx, "bob@contoso.com", &f.err);
  assert_int_equal(get_str(&f, "bob@contoso.com", EMU_BOB_PASSWORD),
                   MSOAUTH_OK);
  assert_false(f.tok.from_cache);
  /* 500 s left is inside the margin: every call renews. */
  assert_int_equal(get_str(&f, "bob@contoso.com", EMU_BOB_PASSWORD),
                   MSOAUTH_OK);
  assert_false(f.tok.from_cache);
  assert_int_equal(emu_count(&emu, "grant:password"), 1);
  assert_int_equal(emu_count(&emu, "grant:refresh_token"), 2);
  close_ctx(&f);
}

/* A revoked refresh token: with the password at hand, sign in again. */
static void test_revoked_refresh_falls_back(void **state) {
  struct fixture f;

  (void)state;
  open_ctx(&f, NULL);
  assert_int_equal(get_str(&f, "bob@contoso.com", EMU_BOB_PASSWORD),
                   MSOAUTH_OK);
  assert_int_equal(emu_post(&emu, "/_emu/revoke",
                            "{\"user\":\"bob@contoso.com\"}"),
                   0);
  assert_int_equal(msoauth_token_forget(f.ctx, "bob@contoso.com", &f.err),
                   MSOAUTH_OK);
  assert_int_equal(get_str(&f, "bob@contoso.com", EMU_BOB_PASSWORD),
                   MSOAUTH_OK);
  assert_int_equal(emu_count(&emu, "grant:refresh_token"), 1);
  assert_int_equal(emu_count(&emu, "grant:password"), 2);
  close_ctx(&f);
}

static void test_refresh_mode(void **state) {
  struct fixture f;
  struct fixture login;

  (void)state;
  open_ctx(&f, "auth = refresh\n");
  assert_int_equal(get_str(&f, "alice@contoso.com", NULL),
                   MSOAUTH_ERR_NOT_FOUND);
  assert_non_null(strstr(f.err.detail, "msoauth login"));
  assert_int_equal(emu_count(&emu, "total"), 0);

  /* A password sign-in under the same key leaves a refresh token. */
  memset(&login, 0, sizeof(login));
  assert_int_equal(msoauth_config_load(emu_write_config(&emu, "pw.conf", NULL),
                                       NULL, NULL, 0, 0, NULL, &login.cfg,
                                       &login.err),
                   MSOAUTH_OK);
  assert_int_equal(msoauth_ctx_new(login.cfg, NULL, &login.ctx, &login.err),
                   MSOAUTH_OK);
  assert_int_equal(get_str(&login, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_OK);
  close_ctx(&login);

  assert_int_equal(get_str(&f, "alice@contoso.com", NULL), MSOAUTH_OK);
  assert_string_equal(f.tok.identity, "alice@contoso.com");
  assert_int_equal(get_str(&f, "alice@contoso.com", NULL), MSOAUTH_OK);
  assert_true(f.tok.from_cache);
  assert_int_equal(emu_count(&emu, "grant:refresh_token"), 0);

  /* Revoked: refresh mode cannot sign in again by itself. */
  assert_int_equal(emu_post(&emu, "/_emu/revoke",
                            "{\"user\":\"alice@contoso.com\"}"),
                   0);
  assert_int_equal(msoauth_token_forget(f.ctx, "alice@contoso.com", &f.err),
                   MSOAUTH_OK);
  assert_int_equal(get_str(&f, "alice@contoso.com", NULL),
                   MSOAUTH_ERR_GRANT_EXPIRED);
  close_ctx(&f);
}

static void test_service_account(void **state) {
  struct fixture f;
  const char *pw;
  char extra[600];

  (void)state;
  pw = emu_write_file(&emu, "svc.pw", "Service-Account-Pw1\n", 0600);
  assert_non_null(pw);
  snprintf(extra, sizeof(extra),
           "auth = service_account\n"
           "domains = contoso.com, bravo.com\n"
           "service_account = svc-mail@contoso.com\n"
           "service_account_password_file = %s\n",
           pw);
  open_ctx(&f, extra);
  /* Credentials of contoso.com cannot act for bravo.com. */
  assert_int_equal(get_str(&f, "carol@bravo.com", NULL),
                   MSOAUTH_ERR_CROSS_DOMAIN);
  assert_int_equal(emu_count(&emu, "total"), 0);
  assert_int_equal(get_str(&f, "bob@contoso.com", NULL), MSOAUTH_OK);
  assert_string_equal(f.tok.identity, "bob@contoso.com");
  /* One service token serves every mailbox of the domain. */
  assert_int_equal(get_str(&f, "alice@contoso.com", NULL), MSOAUTH_OK);
  assert_string_equal(f.tok.identity, "alice@contoso.com");
  assert_true(f.tok.from_cache);
  assert_int_equal(emu_count(&emu, "user:svc-mail@contoso.com"), 1);
  assert_int_equal(emu_count(&emu, "total"), 1);
  close_ctx(&f);
}

static void test_app(void **state) {
  struct fixture f;
  char extra[1024];

  (void)state;
  open_ctx(&f, "auth = app\n"
               "client_id = " EMU_SECRET_CLIENT "\n"
               "client_secret = " EMU_CLIENT_SECRET "\n");
  assert_int_equal(get_str(&f, "bob@contoso.com", NULL), MSOAUTH_OK);
  assert_string_equal(f.tok.identity, "bob@contoso.com");
  assert_int_equal(get_str(&f, "alice@contoso.com", NULL), MSOAUTH_OK);
  assert_true(f.tok.from_cache);
  assert_int_equal(emu_count(&emu, "grant:client_credentials"), 1);
  close_ctx(&f);

  snprintf(extra, sizeof(extra),
           "auth = app\n"
           "client_id = " EMU_CERT_CLIENT "\n"
           "client_certificate_file = %s/client-" EMU_CERT_CLIENT ".crt\n"
           "client_key_file = %s/client-" EMU_CERT_CLIENT ".key\n",
           emu.dir, emu.dir);
  open_ctx(&f, extra);
  assert_int_equal(get_str(&f, "bob@contoso.com", NULL), MSOAUTH_OK);
  assert_int_equal(emu_count(&emu, "grant:client_credentials"), 1);
  close_ctx(&f);
}

static void test_given_token(void **state) {
  struct fixture f;

  (void)state;
  open_ctx(&f, "auth = token\n");
  assert_int_equal(get_str(&f, "bob@contoso.com", "eyJ0.eyJ1.sig"),
                   MSOAUTH_OK);
  assert_string_equal(msoauth_secret_value(f.tok.access_token),
                      "eyJ0.eyJ1.sig");
  assert_int_equal(get_str(&f, "bob@contoso.com", "eyJ0 x"),
                   MSOAUTH_ERR_INVALID);
  assert_int_equal(get_str(&f, "bob@contoso.com", ""),
                   MSOAUTH_ERR_EMPTY_SECRET);
  assert_int_equal(emu_count(&emu, "total"), 0);
  close_ctx(&f);
}

#define HERD 20

/* One process of the herd: its own configuration, context and cache
 * handle, as separate Postfix smtp processes have. */
static int herd_member(const char *path) {
  struct msoauth_config *cfg = NULL;
  struct msoauth_ctx *ctx = NULL;
  struct msoauth_token tok;
  msoauth_rc rc;

  memset(&tok, 0, sizeof(tok));
  rc = msoauth_config_load(path, NULL, NULL, 0, 0, NULL, &cfg, NULL);
  if (!rc)
    rc = msoauth_ctx_new(cfg, NULL, &ctx, NULL);
  if (!rc)
    rc = msoauth_token_get(ctx, "bob@contoso.com", 15, NULL, &tok, NULL);
  msoauth_token_clear(&tok);
  msoauth_ctx_free(&ctx);
  msoauth_config_free(&cfg);
  return rc == MSOAUTH_OK ? 0 : 1;
}

/* Twenty processes on a cold entry make one request between them. */
static void test_herd_one_request(void **state) {
  struct fixture f;
  pid_t pids[HERD];
  char path[512];

  (void)state;
  open_ctx(&f, "auth = app\n"
               "client_id = " EMU_SECRET_CLIENT "\n"
               "client_secret = " EMU_CLIENT_SECRET "\n");
  snprintf(path, sizeof(path), "%s/token.conf", emu.dir);
  /* A slow first answer makes sure the herd piles up on the lock. */
  assert_int_equal(emu_post(&emu, "/_emu/fault",
                            "{\"kind\":\"delay\",\"seconds\":1.0}"),
                   0);
  for (int i = 0; i < HERD; i++) {
    pids[i] = fork();
    assert_true(pids[i] >= 0);
    if (pids[i] == 0)
      _exit(herd_member(path));
  }
  for (int i = 0; i < HERD; i++) {
    int status;

    assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
  }
  assert_int_equal(emu_count(&emu, "endpoint:token"), 1);
  close_ctx(&f);
}

/* The identity platform unreachable: a clean failure within the budget. */
static void test_unreachable(void **state) {
  struct fixture f;
  long long start;

  (void)state;
  open_ctx(&f, "timeout = 2\nretries = 1\n");
  assert_int_equal(emu_post(&emu, "/_emu/fault",
                            "{\"kind\":\"status\",\"status\":503,"
                            "\"count\":-1}"),
                   0);
  start = msoauth_now_ms();
  assert_int_equal(get_str(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_ERR_UNAVAILABLE);
  assert_true(msoauth_now_ms() - start < 3000);
  assert_int_equal(emu_count(&emu, "endpoint:token"), 2);
  assert_int_equal(emu_reset(&emu), 0);
  close_ctx(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_password_cached),
      cmocka_unit_test(test_password_wrong_not_served),
      cmocka_unit_test(test_local_refusals),
      cmocka_unit_test(test_alias_by_token),
      cmocka_unit_test(test_refresh_margin),
      cmocka_unit_test(test_revoked_refresh_falls_back),
      cmocka_unit_test(test_refresh_mode),
      cmocka_unit_test(test_service_account),
      cmocka_unit_test(test_app),
      cmocka_unit_test(test_given_token),
      cmocka_unit_test(test_herd_one_request),
      cmocka_unit_test(test_unreachable),
  };

  return cmocka_run_group_tests(tests, setup, teardown);
}
