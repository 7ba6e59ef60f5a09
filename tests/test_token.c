/*
 * test_token.c - the token layer's composer end to end against the
 * emulator: the identity rules before any request (through both entries,
 * msoauth_token_get and msoauth_token_verify_password), the cache, refresh,
 * the auth methods, and many processes on one cold entry.
 */
#include "config_build.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "config.h"
#include "emu.h"
#include "fixture.h"
#include "token.h"
#include "pwhash.h"
#include "token_int.h"

struct fixture {
  struct msoauth_config *cfg;
  struct msoauth_ctx *ctx;
  struct msoauth_err err;
  struct msoauth_token tok;
};

/* A context on the cache directory as it is, logging to log (may be
 * NULL). */
static void load_ctx(struct fixture *f, const char *extra,
                     const struct msoauth_log *log) {
  memset(f, 0, sizeof(*f));
  fixture_ctx("token.conf", extra, 0, log, &f->cfg, &f->ctx, &f->err);
}

/* A context on a fresh cache directory, with extra configuration lines. */
static void open_ctx(struct fixture *f, const char *extra) {
  fixture_cold_cache();
  load_ctx(f, extra, NULL);
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

/* The same user and password through the token layer's other entry, PAM's
 * password verification (the rules are one, whichever entry): *identity_r
 * (when not NULL) gets the identity verified, NULL on failure. */
static msoauth_rc verify(struct fixture *f, const char *user, size_t len,
                         const char *password, char **identity_r) {
  struct msoauth_secret *secret = NULL;
  struct msoauth_verified v;
  msoauth_rc rc;

  if (password != NULL)
    assert_int_equal(msoauth_secret_from_str(password, &secret), MSOAUTH_OK);
  rc = msoauth_token_verify_password(f->ctx, user, len, secret, 0, &v,
                                     &f->err);
  if (identity_r != NULL) {
    *identity_r = v.identity;
    v.identity = NULL;
  }
  msoauth_verified_clear(&v);
  msoauth_secret_free(&secret);
  return rc;
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

/* A token for a relayed password (checkpassword) with
 * MSOAUTH_GET_FAILURE_MEMORY: PAM's failure_cache and lockout memory
 * apply, in the entry PAM uses; without the flag (the SASL plugin,
 * msoauth token) every attempt is sent. */
static msoauth_rc get_remembering(struct fixture *f, const char *user,
                                  const char *password, unsigned flags) {
  struct msoauth_secret *secret = NULL;
  msoauth_rc rc;

  assert_int_equal(msoauth_secret_from_str(password, &secret), MSOAUTH_OK);
  msoauth_token_clear(&f->tok);
  rc = msoauth_token_get_with(f->ctx, user, strlen(user), secret, flags,
                              &f->tok, &f->err);
  msoauth_secret_free(&secret);
  return rc;
}

static void test_password_failure_memory(void **state) {
  struct fixture f;

  (void)state;
  open_ctx(&f, NULL);
  assert_int_equal(get_remembering(&f, "alice@contoso.com", "stale", 0),
                   MSOAUTH_ERR_BAD_CREDENTIALS);
  assert_int_equal(get_remembering(&f, "alice@contoso.com", "stale", 0),
                   MSOAUTH_ERR_BAD_CREDENTIALS);
  assert_int_equal(emu_count(&emu, "grant:password"), 2);
  /* With the flag: one more request, then none for that password. */
  for (int i = 0; i < 3; i++) {
    assert_int_equal(get_remembering(&f, "alice@contoso.com", "stale",
                                     MSOAUTH_GET_FAILURE_MEMORY),
                     MSOAUTH_ERR_BAD_CREDENTIALS);
    assert_null(f.tok.access_token);
  }
  assert_int_equal(emu_count(&emu, "grant:password"), 3);
  assert_non_null(strstr(f.err.detail, "not sent again"));
  /* PAM's verification reads the same memory. */
  assert_int_equal(verify(&f, "alice@contoso.com", 17, "stale", NULL),
                   MSOAUTH_ERR_BAD_CREDENTIALS);
  assert_int_equal(emu_count(&emu, "grant:password"), 3);
  /* Another password is asked; the right one gets its token and clears
   * the memory, as a verified password does. */
  assert_int_equal(get_remembering(&f, "alice@contoso.com", "other",
                                   MSOAUTH_GET_FAILURE_MEMORY),
                   MSOAUTH_ERR_BAD_CREDENTIALS);
  assert_int_equal(get_remembering(&f, "alice@contoso.com",
                                   EMU_ALICE_PASSWORD,
                                   MSOAUTH_GET_FAILURE_MEMORY),
                   MSOAUTH_OK);
  assert_int_equal(emu_count(&emu, "grant:password"), 5);
  assert_int_equal(get_remembering(&f, "alice@contoso.com", "stale",
                                   MSOAUTH_GET_FAILURE_MEMORY),
                   MSOAUTH_ERR_BAD_CREDENTIALS);
  assert_int_equal(emu_count(&emu, "grant:password"), 6);
  /* A locked account is not asked again. */
  assert_int_equal(get_remembering(&f, "locked@contoso.com", "Password1!",
                                   MSOAUTH_GET_FAILURE_MEMORY),
                   MSOAUTH_ERR_LOCKED);
  assert_int_equal(get_remembering(&f, "locked@contoso.com", "Password1!",
                                   MSOAUTH_GET_FAILURE_MEMORY),
                   MSOAUTH_ERR_LOCKED);
  assert_int_equal(emu_count(&emu, "user:locked@contoso.com"), 1);
  close_ctx(&f);
}

/* The verifier made while the request was in flight (issue 17) is the
 * password's; a request that fails stores nothing (and, under valgrind,
 * leaks nothing: the verifier made for it is wiped and freed). */
static void test_password_verifier_stored(void **state) {
  struct fixture f;
  struct msoauth_cache_key key;
  struct msoauth_cache_entry entry;
  struct msoauth_secret *pw = NULL, *wrong = NULL;

  (void)state;
  open_ctx(&f, NULL);
  key = (struct msoauth_cache_key){f.cfg->authority, f.cfg->tenant,
                                   f.cfg->client_id, "alice@contoso.com"};
  assert_int_equal(get_str(&f, "alice@contoso.com", "not her password"),
                   MSOAUTH_ERR_BAD_CREDENTIALS);
  assert_int_equal(msoauth_cache_get(f.ctx->cache, &key, &entry, NULL),
                   MSOAUTH_ERR_NOT_FOUND);
  msoauth_cache_entry_clear(&entry);
  assert_int_equal(get_str(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_OK);
  assert_int_equal(msoauth_cache_get(f.ctx->cache, &key, &entry, NULL),
                   MSOAUTH_OK);
  assert_int_equal(msoauth_secret_from_str(EMU_ALICE_PASSWORD, &pw),
                   MSOAUTH_OK);
  assert_int_equal(msoauth_secret_from_str("not her password", &wrong),
                   MSOAUTH_OK);
  assert_non_null(entry.password_verifier);
  assert_int_equal(msoauth_verifier_check(entry.password_verifier, pw),
                   MSOAUTH_OK);
  assert_int_equal(msoauth_verifier_check(entry.password_verifier, wrong),
                   MSOAUTH_ERR_BAD_CREDENTIALS);
  msoauth_cache_entry_clear(&entry);
  msoauth_secret_free(&pw);
  msoauth_secret_free(&wrong);
  close_ctx(&f);
}

struct local_case {
  const char *user;
  size_t len; /* 0: strlen */
  const char *password;
  msoauth_rc rc;
  const char *detail; /* a piece the detail must hold, or NULL */
};

/* Local rules say no, to a token request and to a password verification:
 * zero requests. */
static void test_local_refusals(void **state) {
  static const struct local_case cases[] = {
      {"alice@fabrikam.com", 0, "x", MSOAUTH_ERR_DOMAIN, "fabrikam.com"},
      {"alice@contoso.com\r\n", 0, "x", MSOAUTH_ERR_NAME, NULL},
      {"alice\r\n@contoso.com", 0, "x", MSOAUTH_ERR_NAME, NULL},
      {"ali\x01"
       "ce@contoso.com",
       0, "x", MSOAUTH_ERR_NAME, NULL},
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

    size_t len = c->len ? c->len : strlen(c->user);

    assert_int_equal(get(&f, c->user, len, c->password), c->rc);
    if (c->detail != NULL)
      assert_non_null(strstr(f.err.detail, c->detail));
    assert_int_equal(verify(&f, c->user, len, c->password, NULL), c->rc);
    if (c->detail != NULL)
      assert_non_null(strstr(f.err.detail, c->detail));
  }
  memset(long_name, 'a', sizeof(long_name) - 1);
  long_name[sizeof(long_name) - 1] = '\0';
  memcpy(long_name + sizeof(long_name) - 13, "@contoso.com", 12);
  assert_int_equal(get_str(&f, long_name, "x"), MSOAUTH_ERR_NAME);
  assert_int_equal(verify(&f, long_name, strlen(long_name), "x", NULL),
                   MSOAUTH_ERR_NAME);
  assert_int_equal(emu_count(&emu, "total"), 0);
  close_ctx(&f);
}

#define ALICE_SMITH "alice.smith@contoso.com"

/* An alias Entra accepts: the token names the primary address (a token
 * request and a password verification alike). */
static void test_alias_by_token(void **state) {
  struct fixture f;
  char *identity = NULL;

  (void)state;
  open_ctx(&f, NULL);
  assert_int_equal(get_str(&f, "alice.smith@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_ERR_ALIAS);
  assert_non_null(strstr(f.err.detail, "alice@contoso.com"));
  assert_int_equal(verify(&f, ALICE_SMITH, strlen(ALICE_SMITH),
                          EMU_ALICE_PASSWORD, NULL),
                   MSOAUTH_ERR_ALIAS);
  assert_non_null(strstr(f.err.detail, "alice@contoso.com"));
  close_ctx(&f);

  open_ctx(&f, "alias_policy = resolve\n");
  assert_int_equal(get_str(&f, "alice.smith@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_OK);
  assert_string_equal(f.tok.identity, "alice@contoso.com");
  assert_int_equal(verify(&f, ALICE_SMITH, strlen(ALICE_SMITH),
                          EMU_ALICE_PASSWORD, &identity),
                   MSOAUTH_OK);
  assert_string_equal(identity, "alice@contoso.com");
  free(identity);
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
  assert_int_equal(
      emu_post(&emu, "/_emu/revoke", "{\"user\":\"bob@contoso.com\"}"), 0);
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
  assert_int_equal(
      emu_post(&emu, "/_emu/revoke", "{\"user\":\"alice@contoso.com\"}"), 0);
  assert_int_equal(msoauth_token_forget(f.ctx, "alice@contoso.com", &f.err),
                   MSOAUTH_OK);
  assert_int_equal(get_str(&f, "alice@contoso.com", NULL),
                   MSOAUTH_ERR_GRANT_EXPIRED);
  close_ctx(&f);
}

/* Every info line and above, for the tests of what is logged. */
static char info_lines[16384];

static void keep_info(void *arg, enum msoauth_level level, const char *msg) {
  size_t used = strlen(info_lines);

  (void)arg;
  (void)level;
  snprintf(info_lines + used, sizeof(info_lines) - used, "%s\n", msg);
}

static const struct msoauth_log infos = {keep_info, NULL, MSOAUTH_LOG_INFO};

/* Issue 14, item 2: a standard server granted less than asked (POP
 * withheld) and refuses a refresh asking for more (invalid_scope): the
 * refresh is asked for once more without scope, the scope granted, and
 * the log says so. A second refusal ends it: two requests, no loop. */
static void test_refresh_granted_scope(void **state) {
  struct fixture f;

  (void)state;
  fixture_cold_cache();
  info_lines[0] = '\0';
  load_ctx(&f, NULL, &infos);
  assert_int_equal(emu_reset(&emu), 0);
  assert_int_equal(emu_post(&emu, "/_emu/options",
                            "{\"strict_rfc\":1,\"expires_in\":700}"),
                   0);
  assert_int_equal(get_str(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_OK);
  /* 500 s left is within refresh_margin: the next call refreshes. */
  assert_int_equal(emu_post(&emu, "/_emu/options", "{\"expires_in\":500}"), 0);
  assert_int_equal(msoauth_token_forget(f.ctx, "alice@contoso.com", &f.err),
                   MSOAUTH_OK);
  assert_int_equal(get_str(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_OK);
  assert_false(f.tok.from_cache);
  assert_int_equal(emu_count(&emu, "grant:password"), 1);
  assert_int_equal(emu_count(&emu, "grant:refresh_token"), 2);
  assert_non_null(strstr(info_lines, "invalid_scope"));
  assert_non_null(strstr(info_lines, "refreshing once more for the scope it "
                                     "granted"));
  /* And again: each refresh asks with the profile's scopes first. */
  assert_int_equal(get_str(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_OK);
  assert_int_equal(emu_count(&emu, "grant:refresh_token"), 4);
  /* Refused both times: the refusal is the answer, after two requests. */
  assert_int_equal(emu_post(&emu, "/_emu/fault",
                            "{\"kind\":\"describe\",\"error\":"
                            "\"invalid_scope\",\"description\":\"no\","
                            "\"count\":-1}"),
                   0);
  assert_int_equal(get_str(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_ERR_CLIENT_CONFIG);
  assert_int_equal(emu_count(&emu, "grant:refresh_token"), 6);
  assert_int_equal(emu_count(&emu, "grant:password"), 1);
  close_ctx(&f);
}

/* Issue 14, item 4: with auth = refresh, a standard server's plain
 * invalid_grant for a revoked refresh token says to run msoauth login for
 * that user again. */
static void test_refresh_mode_strict_revoked(void **state) {
  struct fixture f;
  struct fixture login;

  (void)state;
  open_ctx(&f, "auth = refresh\n");
  assert_int_equal(emu_post(&emu, "/_emu/options", "{\"strict_rfc\":1}"), 0);
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
  assert_int_equal(
      emu_post(&emu, "/_emu/revoke", "{\"user\":\"alice@contoso.com\"}"), 0);
  assert_int_equal(msoauth_token_forget(f.ctx, "alice@contoso.com", &f.err),
                   MSOAUTH_OK);
  assert_int_equal(get_str(&f, "alice@contoso.com", NULL),
                   MSOAUTH_ERR_GRANT_EXPIRED);
  assert_int_equal(f.err.why, MSOAUTH_WHY_NO_SIGN_IN);
  assert_non_null(
      strstr(f.err.detail, "run `msoauth login alice@contoso.com` again"));
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
  assert_int_equal(get_str(&f, "bob@contoso.com", "eyJ0.eyJ1.sig"), MSOAUTH_OK);
  assert_string_equal(msoauth_secret_value(f.tok.access_token),
                      "eyJ0.eyJ1.sig");
  assert_int_equal(get_str(&f, "bob@contoso.com", "eyJ0 x"),
                   MSOAUTH_ERR_INVALID);
  assert_int_equal(get_str(&f, "bob@contoso.com", ""),
                   MSOAUTH_ERR_EMPTY_SECRET);
  assert_int_equal(emu_count(&emu, "total"), 0);
  close_ctx(&f);
}

/* What the cache holds for identity: 1 with an access token for the
 * profile's scope, 0 with an entry but none, -1 with no entry. */
static int cached(struct fixture *f, const char *identity) {
  struct msoauth_cache_key key = {f->cfg->authority, f->cfg->tenant,
                                  f->cfg->client_id, identity};
  struct msoauth_cache_entry entry;
  int found;

  if (msoauth_cache_get(f->ctx->cache, &key, &entry, NULL) != MSOAUTH_OK)
    return -1;
  found = msoauth_cache_entry_find(&entry, f->cfg->scope, 0, 0) != NULL;
  msoauth_cache_entry_clear(&entry);
  return found;
}

/* With a tenant id, a token naming another tenant is refused and not
 * cached, whoever it names. */
static void test_foreign_tenant(void **state) {
  struct fixture f;
  char *identity = NULL;

  (void)state;
  open_ctx(&f, "tenant = " EMU_TENANT_ID "\n");
  assert_int_equal(
      emu_post(&emu, "/_emu/fault",
               "{\"kind\": \"tenant\", "
               "\"tid\": \"" EMU_FOREIGN_TENANT_ID "\"}"),
      0);
  assert_int_equal(get_str(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_ERR_TENANT);
  assert_non_null(strstr(f.err.detail, EMU_FOREIGN_TENANT_ID));
  assert_int_equal(cached(&f, "alice@contoso.com"), -1);
  /* The tenant's own token passes; the tid is compared without case. */
  assert_int_equal(get_str(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_OK);
  assert_int_equal(cached(&f, "alice@contoso.com"), 1);
  /* A password verification applies the same rule: nobody verified. */
  assert_int_equal(emu_post(&emu, "/_emu/fault", "{\"kind\": \"tenant\"}"), 0);
  assert_int_equal(verify(&f, "alice@contoso.com", 17, EMU_ALICE_PASSWORD,
                          &identity),
                   MSOAUTH_ERR_TENANT);
  assert_null(identity);
  assert_int_equal(verify(&f, "alice@contoso.com", 17, EMU_ALICE_PASSWORD,
                          &identity),
                   MSOAUTH_OK);
  free(identity);
  close_ctx(&f);

  /* organizations with domains: the domains rule keeps other tenants out
   * before any request. */
  open_ctx(&f, "tenant = organizations\ndomains = contoso.com\n"
               "client_id = " EMU_MULTI_TENANT_CLIENT "\n");
  assert_int_equal(get_str(&f, "mallory@woodgrove.com", EMU_MALLORY_PASSWORD),
                   MSOAUTH_ERR_DOMAIN);
  assert_int_equal(emu_count(&emu, "total"), 0);
  close_ctx(&f);
}

/* No id token and an opaque access token: nobody can be read, so nothing
 * is served or stored under the name asked for (ROPC and refresh). */
static void test_no_identity(void **state) {
  struct fixture f;
  char *identity = NULL;

  (void)state;
  open_ctx(&f, NULL);
  assert_int_equal(emu_post(&emu, "/_emu/fault", "{\"kind\": \"opaque\"}"), 0);
  assert_int_equal(get_str(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_ERR_NO_IDENTITY);
  assert_null(f.tok.access_token);
  assert_int_equal(cached(&f, "alice@contoso.com"), -1);
  /* A password verification alike: refused, never "unreachable". */
  assert_int_equal(emu_post(&emu, "/_emu/fault", "{\"kind\": \"opaque\"}"), 0);
  assert_int_equal(verify(&f, "alice@contoso.com", 17, EMU_ALICE_PASSWORD,
                          &identity),
                   MSOAUTH_ERR_NO_IDENTITY);
  assert_null(identity);
  assert_false(msoauth_rc_unreachable(MSOAUTH_ERR_NO_IDENTITY));
  /* Every sign-in asks for the id token. */
  {
    char *log = emu_get(&emu, "/_emu/requests?last=1");

    assert_non_null(log);
    assert_non_null(strstr(log, "openid"));
    free(log);
  }
  close_ctx(&f);

  /* auth = refresh: a refresh token from a password sign-in, then a
   * refresh answered without an identity. */
  open_ctx(&f, NULL);
  assert_int_equal(get_str(&f, "bob@contoso.com", EMU_BOB_PASSWORD),
                   MSOAUTH_OK);
  close_ctx(&f);
  load_ctx(&f, "auth = refresh\nscope = https://outlook.office.com/SMTP.Send\n",
           NULL);
  assert_int_equal(emu_reset(&emu), 0);
  assert_int_equal(emu_post(&emu, "/_emu/fault", "{\"kind\": \"opaque\"}"), 0);
  assert_int_equal(get_str(&f, "bob@contoso.com", NULL),
                   MSOAUTH_ERR_NO_IDENTITY);
  assert_int_equal(emu_count(&emu, "grant:refresh_token"), 1);
  assert_int_equal(cached(&f, "bob@contoso.com"), 0);
  /* Without the fault the refresh asks for openid, and passes. */
  assert_int_equal(get_str(&f, "bob@contoso.com", NULL), MSOAUTH_OK);
  assert_int_equal(cached(&f, "bob@contoso.com"), 1);
  {
    char *log = emu_get(&emu, "/_emu/requests?last=1");

    assert_non_null(log);
    assert_non_null(strstr(log, "openid"));
    free(log);
  }
  close_ctx(&f);
}

/* The service account's own sign-in is checked the same way. */
static void test_no_identity_service_account(void **state) {
  struct fixture f;

  (void)state;
  {
    const char *pw = emu_write_file(&emu, "svc.pw", "Service-Account-Pw1\n",
                                    0600);
    char extra[600];

    assert_non_null(pw);
    snprintf(extra, sizeof(extra),
             "auth = service_account\n"
             "service_account = svc-mail@contoso.com\n"
             "service_account_password_file = %s\n",
             pw);
    open_ctx(&f, extra);
  }
  assert_int_equal(emu_post(&emu, "/_emu/fault", "{\"kind\": \"opaque\"}"), 0);
  assert_int_equal(get_str(&f, "bob@contoso.com", NULL),
                   MSOAUTH_ERR_NO_IDENTITY);
  assert_int_equal(cached(&f, "svc-mail@contoso.com"), -1);
  assert_int_equal(get_str(&f, "bob@contoso.com", NULL), MSOAUTH_OK);
  assert_int_equal(cached(&f, "svc-mail@contoso.com"), 1);
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
  assert_int_equal(
      emu_post(&emu, "/_emu/fault", "{\"kind\":\"delay\",\"seconds\":1.0}"), 0);
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

/* One login of alice with password, in a process of its own: its
 * msoauth_rc. */
static int alice_login(const char *path, const char *password) {
  struct msoauth_config *cfg = NULL;
  struct msoauth_ctx *ctx = NULL;
  struct msoauth_secret *pw = NULL;
  struct msoauth_token tok;
  msoauth_rc rc;

  memset(&tok, 0, sizeof(tok));
  rc = msoauth_secret_from_str(password, &pw);
  if (!rc)
    rc = msoauth_config_load(path, NULL, NULL, 0, 0, NULL, &cfg, NULL);
  if (!rc)
    rc = msoauth_ctx_new(cfg, NULL, &ctx, NULL);
  if (!rc)
    rc = msoauth_token_get(ctx, "alice@contoso.com", 17, pw, &tok, NULL);
  msoauth_token_clear(&tok);
  msoauth_ctx_free(&ctx);
  msoauth_config_free(&cfg);
  msoauth_secret_free(&pw);
  return (int)rc;
}

/* A process that waited on the lock while another stored a token checks
 * its password against the new entry after the lock (issue 17: a herd no
 * longer takes turns at PBKDF2), and a password that is not the one the
 * token was obtained with still gets no token: it asks, and is refused. */
static void test_waiter_other_password(void **state) {
  struct fixture f;
  char path[512];
  pid_t pids[2];
  int status[2];

  (void)state;
  open_ctx(&f, NULL);
  snprintf(path, sizeof(path), "%s/token.conf", emu.dir);
  assert_int_equal(
      emu_post(&emu, "/_emu/fault", "{\"kind\":\"delay\",\"seconds\":1.0}"), 0);
  for (int i = 0; i < 2; i++) {
    pids[i] = fork();
    assert_true(pids[i] >= 0);
    if (pids[i] == 0)
      _exit(alice_login(path, i == 0 ? EMU_ALICE_PASSWORD : "not hers"));
    usleep(300000); /* the second finds no entry, then waits */
  }
  for (int i = 0; i < 2; i++) {
    assert_int_equal(waitpid(pids[i], &status[i], 0), pids[i]);
    assert_true(WIFEXITED(status[i]));
  }
  assert_int_equal(WEXITSTATUS(status[0]), MSOAUTH_OK);
  assert_int_equal(WEXITSTATUS(status[1]), MSOAUTH_ERR_BAD_CREDENTIALS);
  assert_int_equal(emu_count(&emu, "grant:password"), 2);
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
  /* A password is not sent again after a 503 without Retry-After (issue
   * 12, item 11): one request, though retries = 1. */
  assert_int_equal(emu_count(&emu, "endpoint:token"), 1);
  assert_int_equal(emu_reset(&emu), 0);
  close_ctx(&f);
}

/* ------------------------------------------------------------ full disk */

static int n_warnings;
static char last_warning[1200];

static void keep_warning(void *arg, enum msoauth_level level, const char *msg) {
  (void)arg;
  if (level > MSOAUTH_LOG_WARNING)
    return;
  n_warnings++;
  snprintf(last_warning, sizeof(last_warning), "%s", msg);
}

static const struct msoauth_log warnings = {keep_warning, NULL,
                                            MSOAUTH_LOG_DEBUG};

/* The one entry file (*.json) of the cache directory, read into buf;
 * fails on a temporary file or a second entry. Returns its length. */
static size_t entry_file(char *buf, size_t size) {
  char dir[300], path[600];
  size_t n = 0, entries = 0;
  struct dirent *de;
  FILE *f;
  DIR *d;

  snprintf(dir, sizeof(dir), "%s/cache", emu.dir);
  d = opendir(dir);
  assert_non_null(d);
  while ((de = readdir(d)) != NULL) {
    size_t len = strlen(de->d_name);

    assert_null(strstr(de->d_name, ".tmp."));
    if (len > 5 && strcmp(de->d_name + len - 5, ".json") == 0) {
      snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
      entries++;
    }
  }
  closedir(d);
  assert_int_equal(entries, 1);
  f = fopen(path, "r");
  assert_non_null(f);
  n = fread(buf, 1, size - 1, f);
  fclose(f);
  buf[n] = '\0';
  return n;
}

typedef void (*disk_fn)(void);

/*
 * alice's entry is stored; the disk becomes full (fill); a token renewal
 * (500 s of life is inside the 600 s refresh_margin) cannot be stored: the
 * caller still gets the new token, with a warning, and the entry file is
 * the earlier one, byte for byte, with no temporary file beside it. Once
 * there is room again (unfill), the entry is read, renewed and stored.
 */
static void full_disk_round(disk_fn fill, disk_fn unfill) {
  static char before[64 * 1024], after[64 * 1024];
  struct fixture f;
  char *first;
  long refreshes, passwords;

  n_warnings = 0;
  load_ctx(&f, "refresh_margin = 600\n", &warnings);
  assert_int_equal(emu_reset(&emu), 0);
  assert_int_equal(emu_post(&emu, "/_emu/options", "{\"expires_in\":500}"), 0);
  assert_int_equal(get_str(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_OK);
  first = strdup(msoauth_secret_value(f.tok.access_token));
  assert_non_null(first);
  assert_int_equal(n_warnings, 0);
  entry_file(before, sizeof(before));
  refreshes = emu_count(&emu, "grant:refresh_token");
  passwords = emu_count(&emu, "grant:password");

  fill();
  assert_int_equal(get_str(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_OK);
  unfill();
  assert_false(f.tok.from_cache);
  assert_string_not_equal(msoauth_secret_value(f.tok.access_token), first);
  assert_int_equal(emu_count(&emu, "grant:refresh_token"), refreshes + 1);
  assert_int_equal(n_warnings, 1);
  fprintf(stderr, "# %s\n", last_warning);
  assert_non_null(strstr(last_warning, "could not cache the token"));
  entry_file(after, sizeof(after));
  assert_string_equal(after, before);

  /* Room again: the earlier entry serves, and the renewal is stored. */
  assert_int_equal(get_str(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_OK);
  assert_int_equal(emu_count(&emu, "grant:refresh_token"), refreshes + 2);
  assert_int_equal(emu_count(&emu, "grant:password"), passwords);
  assert_int_equal(n_warnings, 1);
  entry_file(after, sizeof(after));
  assert_string_not_equal(after, before);
  free(first);
  close_ctx(&f);
}

static struct rlimit saved_fsize;

/* Files may not grow past 1 KiB (an entry holds two tokens: more). */
static void fsize_fill(void) {
  struct rlimit rl;

  assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved_fsize), 0);
  rl.rlim_cur = 1024;
  rl.rlim_max = saved_fsize.rlim_max;
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

static void fsize_unfill(void) {
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved_fsize), 0);
}

/* RLIMIT_FSIZE, SIGXFSZ ignored: writes past the limit get EFBIG. */
static void test_full_disk_fsize(void **state) {
  char cmd[400];

  (void)state;
  snprintf(cmd, sizeof(cmd), "rm -rf '%s/cache'", emu.dir);
  assert_int_equal(system(cmd), 0);
  signal(SIGXFSZ, SIG_IGN);
  full_disk_round(fsize_fill, fsize_unfill);
  signal(SIGXFSZ, SIG_DFL);
}

static char cache_mnt[300];

/* Fills the tmpfs with one file of zeros, to ENOSPC. */
static void bytes_fill(void) {
  static const char zeros[4096];
  char path[400];
  int fd;

  snprintf(path, sizeof(path), "%s/filler", cache_mnt);
  fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  assert_true(fd >= 0);
  while (write(fd, zeros, sizeof(zeros)) > 0)
    ;
  assert_int_equal(errno, ENOSPC);
  close(fd);
}

static void bytes_unfill(void) {
  char path[400];

  snprintf(path, sizeof(path), "%s/filler", cache_mnt);
  assert_int_equal(unlink(path), 0);
}

/* Takes every free inode of the tmpfs with empty files. */
static int n_fillers;

static void inodes_fill(void) {
  char path[400];
  int fd;

  for (n_fillers = 0;; n_fillers++) {
    snprintf(path, sizeof(path), "%s/filler.%d", cache_mnt, n_fillers);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
      break;
    close(fd);
  }
  assert_int_equal(errno, ENOSPC);
}

static void inodes_unfill(void) {
  char path[400];

  for (int i = 0; i < n_fillers; i++) {
    snprintf(path, sizeof(path), "%s/filler.%d", cache_mnt, i);
    assert_int_equal(unlink(path), 0);
  }
}

/* The names in the cache directory (but . and ..). */
static int count_names(void) {
  char dir[300];
  struct dirent *de;
  int n = 0;
  DIR *d;

  snprintf(dir, sizeof(dir), "%s/cache", emu.dir);
  d = opendir(dir);
  assert_non_null(d);
  while ((de = readdir(d)) != NULL)
    n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
  closedir(d);
  return n;
}

/* Not even a lock file can be made for a user never seen: the token all
 * the same, with two warnings (lock, store), and nothing left behind. */
static void no_room_for_a_lock(void) {
  struct fixture f;
  int names;

  n_warnings = 0;
  load_ctx(&f, NULL, &warnings);
  assert_int_equal(emu_reset(&emu), 0);
  names = count_names();
  inodes_fill();
  assert_int_equal(get_str(&f, "bob@contoso.com", EMU_BOB_PASSWORD),
                   MSOAUTH_OK);
  inodes_unfill();
  assert_non_null(f.tok.access_token);
  assert_string_equal(f.tok.identity, "bob@contoso.com");
  assert_int_equal(n_warnings, 2);
  assert_int_equal(emu_count(&emu, "grant:password"), 1);
  assert_int_equal(count_names(), names);
  close_ctx(&f);
}

/* A real ENOSPC: the cache directory a small tmpfs (64 KiB, 32 inodes) in
 * a mount namespace of this process's own. Root only. */
static void test_full_disk_tmpfs(void **state) {
  char cmd[400];

  (void)state;
  if (geteuid() != 0 || unshare(CLONE_NEWNS) != 0 ||
      mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) != 0) {
    fprintf(stderr, "# not root, or no mount namespace: skipped\n");
    skip();
  }
  snprintf(cache_mnt, sizeof(cache_mnt), "%s/cache", emu.dir);
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", cache_mnt);
  assert_int_equal(system(cmd), 0);
  assert_int_equal(mkdir(cache_mnt, 0700), 0);
  assert_int_equal(mount("tmpfs", cache_mnt, "tmpfs", MS_NOSUID | MS_NODEV,
                         "size=64k,nr_inodes=32,mode=0700"),
                   0);
  full_disk_round(bytes_fill, bytes_unfill);
  full_disk_round(inodes_fill, inodes_unfill);
  no_room_for_a_lock();
  assert_int_equal(umount(cache_mnt), 0);
  cache_mnt[0] = '\0';
}

/* A failed test leaves no mount behind (emu_stop removes the dir). */
static int tmpfs_teardown(void **state) {
  (void)state;
  if (cache_mnt[0] != '\0')
    umount2(cache_mnt, MNT_DETACH);
  cache_mnt[0] = '\0';
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_password_cached),
      cmocka_unit_test(test_password_wrong_not_served),
      cmocka_unit_test(test_password_failure_memory),
      cmocka_unit_test(test_password_verifier_stored),
      cmocka_unit_test(test_local_refusals),
      cmocka_unit_test(test_alias_by_token),
      cmocka_unit_test(test_refresh_margin),
      cmocka_unit_test(test_revoked_refresh_falls_back),
      cmocka_unit_test(test_refresh_mode),
      cmocka_unit_test(test_service_account),
      cmocka_unit_test(test_app),
      cmocka_unit_test(test_given_token),
      cmocka_unit_test(test_foreign_tenant),
      cmocka_unit_test(test_no_identity),
      cmocka_unit_test(test_no_identity_service_account),
      cmocka_unit_test(test_herd_one_request),
      cmocka_unit_test(test_waiter_other_password),
      cmocka_unit_test(test_unreachable),
      cmocka_unit_test(test_refresh_granted_scope),
      cmocka_unit_test(test_refresh_mode_strict_revoked),
      cmocka_unit_test(test_full_disk_fsize),
      cmocka_unit_test_teardown(test_full_disk_tmpfs, tmpfs_teardown),
  };

  return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
