/*
 * test_grant.c - every grant against the Entra ID emulator, and the token
 * answer parser.
 */
#include "config_build.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "clock.h"
#include "config.h"
#include "emu.h"
#include "fixture.h"
#include "grant.h"
#include "jwt.h"
#include "token_settings.h"

#define MAIL_SCOPE "https://outlook.office.com/IMAP.AccessAsUser.All offline_access"

/* A client made from a loaded configuration, as token.c makes it. */
static msoauth_rc client_init(struct msoauth_client *client,
                              const struct msoauth_config *cfg,
                              const struct msoauth_log *log,
                              struct msoauth_err *err) {
  struct msoauth_grant_settings set;

  msoauth_settings_grant(cfg, &set);
  return msoauth_client_init(client, &set, log, err);
}

/* A client for the emulator with extra configuration lines. */
struct fixture {
  struct msoauth_config *cfg;
  struct msoauth_client client;
  struct msoauth_err err;
  struct msoauth_tokens tokens;
};

static void fixture_open(struct fixture *f, const char *extra) {
  memset(f, 0, sizeof(*f));
  fixture_config("grant.conf", extra, 0, &f->cfg, &f->err);
  assert_int_equal(client_init(&f->client, f->cfg, NULL, &f->err),
                   MSOAUTH_OK);
  assert_int_equal(emu_reset(&emu), 0);
}

static void fixture_close(struct fixture *f) {
  msoauth_tokens_clear(&f->tokens);
  msoauth_client_cleanup(&f->client);
  msoauth_config_free(&f->cfg);
}

static long long deadline(void) { return msoauth_now_ms() + 10000; }

static msoauth_rc ropc(struct fixture *f, const char *user, const char *pw) {
  struct msoauth_secret *secret = NULL;
  msoauth_rc rc;

  assert_int_equal(msoauth_secret_from_str(pw, &secret), MSOAUTH_OK);
  msoauth_tokens_clear(&f->tokens);
  rc = msoauth_grant_password(&f->client, user, secret, MAIL_SCOPE " openid",
                              deadline(), &f->tokens, &f->err);
  msoauth_secret_free(&secret);
  return rc;
}

/* The identity a JWT names. */
static void assert_names(const struct msoauth_secret *jwt, const char *who) {
  struct msoauth_claims claims;

  assert_int_equal(msoauth_jwt_decode(msoauth_secret_value(jwt),
                                      msoauth_secret_len(jwt), &claims, NULL),
                   MSOAUTH_OK);
  assert_string_equal(msoauth_claims_identity(&claims), who);
  msoauth_claims_clear(&claims);
}

static void test_ropc_success(void **state) {
  struct fixture f;
  long long now = (long long)time(NULL);

  (void)state;
  fixture_open(&f, NULL);
  assert_int_equal(ropc(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_OK);
  assert_non_null(f.tokens.access_token);
  assert_non_null(f.tokens.refresh_token);
  assert_non_null(f.tokens.id_token);
  assert_in_range(f.tokens.expires_at, now + 3500, now + 3700);
  assert_names(f.tokens.access_token, "alice@contoso.com");
  assert_names(f.tokens.id_token, "alice@contoso.com");
  assert_int_equal(emu_count(&emu, "grant:password"), 1);
  assert_int_equal(emu_count(&emu, "user:alice@contoso.com"), 1);
  fixture_close(&f);
}

/* Form encoding: & = + % ; quotes, a space and UTF-8 survive the trip. */
static void test_ropc_tricky_password(void **state) {
  struct fixture f;

  (void)state;
  fixture_open(&f, NULL);
  assert_int_equal(ropc(&f, "bob@contoso.com", EMU_BOB_PASSWORD), MSOAUTH_OK);
  assert_int_equal(ropc(&f, "bob@contoso.com", "p&ss=w+rd%;'\" un"),
                   MSOAUTH_ERR_BAD_CREDENTIALS);
  fixture_close(&f);
}

/* The form carries C strings: a password holding a NUL byte would be cut
 * short ("right password, NUL, anything" accepted). The grant refuses it
 * where the secret becomes a C string, before any request. */
static void test_ropc_nul_refused(void **state) {
  static const char pw[] = EMU_ALICE_PASSWORD "\0anything";
  struct msoauth_secret *secret = NULL;
  struct fixture f;

  (void)state;
  fixture_open(&f, NULL);
  assert_int_equal(msoauth_secret_new(pw, sizeof(pw) - 1, &secret),
                   MSOAUTH_OK);
  assert_int_equal(msoauth_grant_password(&f.client, "alice@contoso.com",
                                          secret, MAIL_SCOPE " openid",
                                          deadline(), &f.tokens, &f.err),
                   MSOAUTH_ERR_INVALID);
  assert_non_null(strstr(f.err.detail, "NUL"));
  assert_null(f.tokens.access_token);
  assert_int_equal(emu_count(&emu, "grant:password"), 0);
  msoauth_secret_free(&secret);
  fixture_close(&f);
}

/* An alias signs in, and the token names the primary address. */
static void test_ropc_alias_names_primary(void **state) {
  struct fixture f;

  (void)state;
  fixture_open(&f, NULL);
  assert_int_equal(ropc(&f, "alice.smith@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_OK);
  assert_names(f.tokens.access_token, "alice@contoso.com");
  fixture_close(&f);
}

struct user_case {
  const char *user;
  const char *password;
  msoauth_rc rc;
  long aadsts;
};

static const struct user_case user_cases[] = {
    {"alice@contoso.com", "Not-Alices-Pw9", MSOAUTH_ERR_BAD_CREDENTIALS, 50126},
    {"nobody@contoso.com", "Password1!", MSOAUTH_ERR_NO_USER, 50034},
    {"locked@contoso.com", "Password1!", MSOAUTH_ERR_LOCKED, 50053},
    {"disabled@contoso.com", "Password1!", MSOAUTH_ERR_DISABLED, 50057},
    {"expired@contoso.com", "Password1!", MSOAUTH_ERR_PASSWORD_EXPIRED, 50055},
    {"mfa@contoso.com", "Password1!", MSOAUTH_ERR_MFA_REQUIRED, 50076},
    {"mfareg@contoso.com", "Password1!", MSOAUTH_ERR_MFA_REQUIRED, 50079},
    {"extmfa@contoso.com", "Password1!", MSOAUTH_ERR_MFA_REQUIRED, 50158},
    {"ca@contoso.com", "Password1!", MSOAUTH_ERR_CONDITIONAL_ACCESS, 53003},
    /* The flags speak only once the password is right. */
    {"mfa@contoso.com", "Not-Mfas-Pw9", MSOAUTH_ERR_BAD_CREDENTIALS, 50126},
};

static void test_ropc_user_errors(void **state) {
  struct fixture f;

  (void)state;
  fixture_open(&f, NULL);
  for (size_t i = 0; i < sizeof(user_cases) / sizeof(user_cases[0]); i++) {
    const struct user_case *c = &user_cases[i];

    assert_int_equal(ropc(&f, c->user, c->password), c->rc);
    assert_int_equal(f.err.aadsts, c->aadsts);
    assert_null(f.tokens.access_token);
    /* The detail names the code and never echoes the password. */
    assert_non_null(strstr(f.err.detail, "AADSTS"));
    assert_null(strstr(f.err.detail, c->password));
  }
  fixture_close(&f);
}

struct client_case {
  const char *extra;
  msoauth_rc rc;
  long aadsts;
};

static void test_client_errors(void **state) {
  static const struct client_case cases[] = {
      {"client_id = 99999999-9999-9999-9999-999999999999\n",
       MSOAUTH_ERR_CLIENT_CONFIG, 700016},
      {"client_id = " EMU_UNCONSENTED_CLIENT "\n", MSOAUTH_ERR_CLIENT_CONFIG,
       65001},
      {"client_secret = whatever\n", MSOAUTH_ERR_CLIENT_CONFIG, 700025},
      {"[p]\n", MSOAUTH_ERR_CLIENT_CONFIG, 7000218},
      {"[p]\nclient_secret = wrong\n", MSOAUTH_ERR_CLIENT_CONFIG, 7000215},
      {"[p]\ntenant = fabrikam.com\n", MSOAUTH_ERR_CLIENT_CONFIG, 90002},
  };

  (void)state;
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    const char *profile = strncmp(cases[i].extra, "[p]", 3) == 0 ? "p" : NULL;
    const char *path;
    struct fixture f;
    char extra[512];

    /* Cases with a profile use the confidential client there. */
    if (profile != NULL)
      snprintf(extra, sizeof(extra), "%s%s", cases[i].extra,
               "client_id = " EMU_SECRET_CLIENT "\n");
    else
      snprintf(extra, sizeof(extra), "%s", cases[i].extra);
    memset(&f, 0, sizeof(f));
    path = emu_write_config(&emu, "client.conf", extra);
    assert_int_equal(msoauth_config_load(path, profile, NULL, 0, 0, NULL,
                                         &f.cfg, &f.err),
                     MSOAUTH_OK);
    assert_int_equal(client_init(&f.client, f.cfg, NULL, &f.err),
                     MSOAUTH_OK);
    assert_int_equal(ropc(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                     cases[i].rc);
    assert_int_equal(f.err.aadsts, cases[i].aadsts);
    fixture_close(&f);
  }
}

static void test_client_credentials_secret(void **state) {
  struct fixture f;
  struct msoauth_claims claims;

  (void)state;
  fixture_open(&f, "client_id = " EMU_SECRET_CLIENT "\n"
                   "client_secret = " EMU_CLIENT_SECRET "\n"
                   "auth = app\n");
  assert_int_equal(msoauth_grant_client_credentials(&f.client, f.cfg->scope,
                                                    deadline(), &f.tokens,
                                                    &f.err),
                   MSOAUTH_OK);
  assert_null(f.tokens.refresh_token);
  assert_int_equal(msoauth_jwt_decode(
                       msoauth_secret_value(f.tokens.access_token),
                       msoauth_secret_len(f.tokens.access_token), &claims, NULL),
                   MSOAUTH_OK);
  assert_null(msoauth_claims_identity(&claims));
  assert_true(claims.n_roles > 0);
  msoauth_claims_clear(&claims);
  assert_int_equal(emu_count(&emu, "grant:client_credentials"), 1);
  fixture_close(&f);
}

static void test_client_credentials_certificate(void **state) {
  struct fixture f;
  char extra[1024];

  (void)state;
  snprintf(extra, sizeof(extra),
           "client_id = " EMU_CERT_CLIENT "\n"
           "client_certificate_file = %s/client-" EMU_CERT_CLIENT ".crt\n"
           "client_key_file = %s/client-" EMU_CERT_CLIENT ".key\n"
           "auth = app\n",
           emu.dir, emu.dir);
  fixture_open(&f, extra);
  assert_non_null(f.client.signer);
  /* Each request carries a fresh assertion: the emulator refuses replays. */
  for (int i = 0; i < 3; i++) {
    msoauth_tokens_clear(&f.tokens);
    assert_int_equal(msoauth_grant_client_credentials(&f.client, f.cfg->scope,
                                                      deadline(), &f.tokens,
                                                      &f.err),
                     MSOAUTH_OK);
  }
  /* The certificate authenticates every grant, ROPC included. */
  assert_int_equal(ropc(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_OK);
  fixture_close(&f);
}

static void test_refresh_rotates_and_revoke(void **state) {
  struct fixture f;
  struct msoauth_secret *refresh = NULL;

  (void)state;
  fixture_open(&f, NULL);
  assert_int_equal(ropc(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_OK);
  assert_int_equal(msoauth_secret_dup(f.tokens.refresh_token, &refresh),
                   MSOAUTH_OK);
  msoauth_tokens_clear(&f.tokens);
  assert_int_equal(msoauth_grant_refresh(&f.client, refresh, MAIL_SCOPE,
                                         deadline(), &f.tokens, &f.err),
                   MSOAUTH_OK);
  assert_non_null(f.tokens.refresh_token);
  assert_false(msoauth_secret_equal(refresh, f.tokens.refresh_token));
  assert_names(f.tokens.access_token, "alice@contoso.com");
  assert_int_equal(emu_count(&emu, "grant:refresh_token"), 1);

  assert_int_equal(emu_post(&emu, "/_emu/revoke",
                            "{\"user\":\"alice@contoso.com\"}"),
                   0);
  msoauth_tokens_clear(&f.tokens);
  assert_int_equal(msoauth_grant_refresh(&f.client, refresh, MAIL_SCOPE,
                                         deadline(), &f.tokens, &f.err),
                   MSOAUTH_ERR_GRANT_EXPIRED);
  assert_int_equal(f.err.aadsts, 50173);
  msoauth_secret_free(&refresh);
  fixture_close(&f);
}

/* Approves, denies or expires the pending device code through the
 * emulator's control API. */
static void device_action(const char *user_code, const char *action) {
  char json[256];

  snprintf(json, sizeof(json),
           "{\"user_code\":\"%s\",\"action\":\"%s\","
           "\"user\":\"alice@contoso.com\"}",
           user_code, action);
  assert_int_equal(emu_post(&emu, "/_emu/device", json), 0);
}

static msoauth_rc device_flow(struct fixture *f, const char *action) {
  struct msoauth_device_code dc;
  msoauth_rc rc;

  assert_int_equal(msoauth_grant_device_start(&f->client, MAIL_SCOPE,
                                              deadline(), &dc, &f->err),
                   MSOAUTH_OK);
  assert_non_null(dc.user_code);
  assert_non_null(strstr(dc.message, dc.user_code));
  assert_non_null(dc.verification_uri);
  assert_true(dc.interval >= 1);
  msoauth_tokens_clear(&f->tokens);
  assert_int_equal(msoauth_grant_device_poll(&f->client, &dc, deadline(),
                                             &f->tokens, &f->err),
                   MSOAUTH_ERR_PENDING);
  device_action(dc.user_code, action);
  /* Wait out the interval, or the emulator answers slow_down. */
  sleep((unsigned)dc.interval);
  rc = msoauth_grant_device_poll(&f->client, &dc, deadline(), &f->tokens,
                                 &f->err);
  msoauth_device_code_clear(&dc);
  return rc;
}

static void test_device_code(void **state) {
  struct fixture f;

  (void)state;
  fixture_open(&f, NULL);
  assert_int_equal(emu_post(&emu, "/_emu/options", "{\"device_interval\":1}"),
                   0);
  assert_int_equal(device_flow(&f, "approve"), MSOAUTH_OK);
  assert_non_null(f.tokens.refresh_token);
  assert_names(f.tokens.access_token, "alice@contoso.com");
  assert_int_equal(device_flow(&f, "deny"), MSOAUTH_ERR_DECLINED);
  assert_int_equal(device_flow(&f, "expire"), MSOAUTH_ERR_CODE_EXPIRED);
  fixture_close(&f);
}

static void test_device_code_slow_down(void **state) {
  struct fixture f;
  struct msoauth_device_code dc;

  (void)state;
  fixture_open(&f, NULL);
  assert_int_equal(emu_post(&emu, "/_emu/options", "{\"device_interval\":5}"),
                   0);
  assert_int_equal(msoauth_grant_device_start(&f.client, MAIL_SCOPE,
                                              deadline(), &dc, &f.err),
                   MSOAUTH_OK);
  assert_int_equal(dc.interval, 5);
  assert_int_equal(msoauth_grant_device_poll(&f.client, &dc, deadline(),
                                             &f.tokens, &f.err),
                   MSOAUTH_ERR_PENDING);
  assert_int_equal(msoauth_grant_device_poll(&f.client, &dc, deadline(),
                                             &f.tokens, &f.err),
                   MSOAUTH_ERR_SLOW_DOWN);
  msoauth_device_code_clear(&dc);
  fixture_close(&f);
}

/* What the client sent, as the emulator saw it. */
static void test_wire_client_auth(void **state) {
  struct fixture f;
  char *seen;

  (void)state;
  fixture_open(&f, "client_id = " EMU_SECRET_CLIENT "\n"
                   "client_secret = " EMU_CLIENT_SECRET "\n");
  assert_int_equal(ropc(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_OK);
  seen = emu_get(&emu, "/_emu/requests?last=1");
  assert_non_null(seen);
  assert_non_null(strstr(seen, "\"grant_type\":\"password\""));
  assert_non_null(strstr(seen, "\"client_auth\":\"secret\""));
  assert_non_null(strstr(seen, "\"username\":\"alice@contoso.com\""));
  assert_non_null(strstr(seen, "IMAP.AccessAsUser.All offline_access openid"));
  /* The emulator's log never holds the secret; neither does ours. */
  assert_null(strstr(seen, EMU_CLIENT_SECRET));
  free(seen);
  fixture_close(&f);
}

struct parse_case {
  const char *body;
  msoauth_rc rc;
};

static void test_token_response_parse(void **state) {
  static const struct parse_case cases[] = {
      {"{\"token_type\":\"Bearer\",\"expires_in\":3599,\"access_token\":\"a\"}",
       MSOAUTH_OK},
      {"{\"token_type\":\"bearer\",\"expires_in\":\"3599\","
       "\"access_token\":\"a\",\"refresh_token\":\"r\",\"scope\":\"s\"}",
       MSOAUTH_OK},
      {"{\"token_type\":\"Bearer\",\"expires_in\":3599}", MSOAUTH_ERR_PROTOCOL},
      {"{\"token_type\":\"Bearer\",\"access_token\":\"a\"}",
       MSOAUTH_ERR_PROTOCOL},
      {"{\"token_type\":\"MAC\",\"expires_in\":1,\"access_token\":\"a\"}",
       MSOAUTH_ERR_PROTOCOL},
      {"{\"expires_in\":1,\"access_token\":\"a\"}", MSOAUTH_ERR_PROTOCOL},
      {"{\"token_type\":\"Bearer\",\"expires_in\":-5,\"access_token\":\"a\"}",
       MSOAUTH_ERR_PROTOCOL},
      {"{\"token_type\":\"Bearer\",\"expires_in\":0,\"access_token\":\"a\"}",
       MSOAUTH_ERR_PROTOCOL},
      {"{\"token_type\":\"Bearer\",\"expires_in\":999999999999,"
       "\"access_token\":\"a\"}",
       MSOAUTH_ERR_PROTOCOL},
      {"{\"token_type\":\"Bearer\",\"expires_in\":1.5,\"access_token\":\"a\"}",
       MSOAUTH_ERR_PROTOCOL},
      {"{\"token_type\":\"Bearer\",\"expires_in\":60,\"access_token\":42}",
       MSOAUTH_ERR_PROTOCOL},
      {"{\"token_type\":\"Bearer\",\"expires_in\":60,\"access_token\":\"\"}",
       MSOAUTH_ERR_PROTOCOL},
      {"{\"token_type\":\"Bearer\",\"expires_in\":60,"
       "\"access_token\":\"a b\"}",
       MSOAUTH_ERR_PROTOCOL},
      {"{\"token_type\":\"Bearer\",\"expires_in\":60,"
       "\"access_token\":\"a\\u0001b\"}",
       MSOAUTH_ERR_PROTOCOL},
      {"{\"token_type\":\"Bearer\",\"expires_in\":60,\"access_token\":\"a\","
       "\"refresh_token\":[]}",
       MSOAUTH_ERR_PROTOCOL},
      {"{\"token_type\":\"Bearer\",\"expires_in\":60,\"access_token\":\"a\","
       "\"scope\":7}",
       MSOAUTH_ERR_PROTOCOL},
      {"[]", MSOAUTH_ERR_PROTOCOL},
      {"{\"token_type\":\"Bearer\"", MSOAUTH_ERR_PROTOCOL},
      {"", MSOAUTH_ERR_PROTOCOL},
  };

  (void)state;
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct msoauth_tokens tokens;
    struct msoauth_err err;
    msoauth_rc rc = msoauth_token_response_parse(
        cases[i].body, strlen(cases[i].body), 1000, &tokens, &err);

    if (rc != cases[i].rc)
      fail_msg("case %zu: %s gave %d", i, cases[i].body, rc);
    if (rc == MSOAUTH_OK)
      assert_true(tokens.expires_at > 1000);
    else
      assert_null(tokens.access_token);
    msoauth_tokens_clear(&tokens);
  }
}

/* ------------------------------------------------------------ retries */

/* A password sent again after the server may have seen it counts again
 * towards a lockout: ROPC is not retried after a 5xx without Retry-After or
 * an answer cut short. Other grants still are. */
static void test_ropc_retries(void **state) {
  struct fixture f;

  (void)state;
  fixture_open(&f, "retries = 2\ntimeout = 8\n");
  assert_int_equal(emu_post(&emu, "/_emu/fault",
                            "{\"kind\":\"status\",\"status\":500,\"count\":2}"),
                   0);
  assert_int_equal(ropc(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_ERR_UNAVAILABLE);
  assert_int_equal(emu_count(&emu, "grant:password"), 1);

  /* 503 without Retry-After, an answer cut mid-body: one request each. */
  assert_int_equal(emu_reset(&emu), 0);
  assert_int_equal(emu_post(&emu, "/_emu/fault",
                            "{\"kind\":\"status\",\"status\":503,\"count\":2}"),
                   0);
  assert_int_equal(ropc(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_ERR_UNAVAILABLE);
  assert_int_equal(emu_count(&emu, "grant:password"), 1);
  assert_int_equal(emu_reset(&emu), 0);
  assert_int_equal(emu_post(&emu, "/_emu/fault",
                            "{\"kind\":\"close\",\"count\":2}"),
                   0);
  assert_int_equal(ropc(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_ERR_UNAVAILABLE);
  assert_int_equal(emu_count(&emu, "grant:password"), 1);

  /* The server's own word: 503 or 429 with Retry-After. */
  assert_int_equal(emu_reset(&emu), 0);
  assert_int_equal(emu_post(&emu, "/_emu/fault",
                            "{\"kind\":\"status\",\"status\":503,"
                            "\"retry_after\":1}"),
                   0);
  assert_int_equal(ropc(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_OK);
  assert_int_equal(emu_count(&emu, "grant:password"), 2);
  assert_int_equal(emu_reset(&emu), 0);
  assert_int_equal(emu_post(&emu, "/_emu/fault",
                            "{\"kind\":\"throttle\",\"retry_after\":1}"),
                   0);
  assert_int_equal(ropc(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_OK);
  assert_int_equal(emu_count(&emu, "grant:password"), 2);
  fixture_close(&f);

  /* Client credentials keep the retries on 5xx. */
  fixture_open(&f, "client_id = " EMU_SECRET_CLIENT "\n"
                   "client_secret = " EMU_CLIENT_SECRET "\n"
                   "auth = app\nretries = 2\ntimeout = 8\n");
  assert_int_equal(emu_post(&emu, "/_emu/fault",
                            "{\"kind\":\"status\",\"status\":500,\"count\":2}"),
                   0);
  assert_int_equal(msoauth_grant_client_credentials(&f.client, f.cfg->scope,
                                                    deadline(), &f.tokens,
                                                    &f.err),
                   MSOAUTH_OK);
  assert_int_equal(emu_count(&emu, "grant:client_credentials"), 3);
  fixture_close(&f);
}

/* A port that refuses connections until the first retry is announced (a
 * debug line of http.c), then relays to the emulator. */
struct relay {
  int fd;
  int port;
  int open;
  volatile int stop;
  pthread_t thread;
};

static struct relay relay;

static int emu_port(void) {
  const char *colon = strrchr(emu.url, ':');

  return colon != NULL ? (int)strtol(colon + 1, NULL, 10) : -1;
}

/* Copies what is readable from a to b; 0 when a closed. */
static int pump(int a, int b) {
  char buf[16384];
  ssize_t n = read(a, buf, sizeof(buf));

  return n > 0 && write(b, buf, (size_t)n) == n;
}

static void *relay_run(void *arg) {
  struct sockaddr_in to;
  int c, e;

  (void)arg;
  c = accept(relay.fd, NULL, NULL);
  e = socket(AF_INET, SOCK_STREAM, 0);
  memset(&to, 0, sizeof(to));
  to.sin_family = AF_INET;
  to.sin_port = htons((unsigned short)emu_port());
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (c >= 0 && e >= 0 && connect(e, (struct sockaddr *)&to, sizeof(to)) == 0) {
    struct pollfd p[2] = {{c, POLLIN, 0}, {e, POLLIN, 0}};

    while (!relay.stop) {
      if (poll(p, 2, 100) <= 0)
        continue;
      if ((p[0].revents && !pump(c, e)) || (p[1].revents && !pump(e, c)))
        break;
    }
  }
  if (c >= 0)
    close(c);
  if (e >= 0)
    close(e);
  return NULL;
}

static void relay_sink(void *arg, enum msoauth_level level, const char *msg) {
  (void)arg;
  (void)level;
  if (!relay.open && strstr(msg, "retrying") != NULL) {
    relay.open = 1;
    assert_int_equal(listen(relay.fd, 4), 0);
    assert_int_equal(pthread_create(&relay.thread, NULL, relay_run, NULL), 0);
  }
}

/* Nothing was sent when the connection was refused: ROPC tries again. */
static void test_ropc_retry_unsent(void **state) {
  struct msoauth_log log = {relay_sink, NULL, MSOAUTH_LOG_DEBUG};
  struct sockaddr_in a;
  socklen_t len = sizeof(a);
  struct fixture f;
  char conf[1024];
  const char *path;

  (void)state;
  memset(&relay, 0, sizeof(relay));
  memset(&a, 0, sizeof(a));
  relay.fd = socket(AF_INET, SOCK_STREAM, 0);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(relay.fd, (struct sockaddr *)&a, sizeof(a)), 0);
  assert_int_equal(getsockname(relay.fd, (struct sockaddr *)&a, &len), 0);
  relay.port = ntohs(a.sin_port);
  snprintf(conf, sizeof(conf),
           "authority = https://127.0.0.1:%d\ntenant = contoso.com\n"
           "client_id = " EMU_PUBLIC_CLIENT "\nca_file = %s\n"
           "cache_dir = %s/cache\nretries = 2\ntimeout = 8\n",
           relay.port, emu.ca, emu.dir);
  path = emu_write_file(&emu, "relay.conf", conf, 0600);
  memset(&f, 0, sizeof(f));
  assert_int_equal(msoauth_config_load(path, NULL, NULL, 0, 0, NULL, &f.cfg,
                                       &f.err),
                   MSOAUTH_OK);
  assert_int_equal(client_init(&f.client, f.cfg, &log, &f.err),
                   MSOAUTH_OK);
  assert_int_equal(emu_reset(&emu), 0);
  assert_int_equal(ropc(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_OK);
  assert_true(relay.open);
  assert_int_equal(emu_count(&emu, "grant:password"), 1);
  fixture_close(&f);
  relay.stop = 1;
  pthread_join(relay.thread, NULL);
  close(relay.fd);
}

/* Each attempt of a grant signs a new assertion: a retried one carries a
 * new jti (the emulator refuses a replay). */
static void test_assertion_per_attempt(void **state) {
  struct fixture f;
  char extra[1024], *log, *p;
  char jti[3][64];
  int n = 0;

  (void)state;
  snprintf(extra, sizeof(extra),
           "client_id = " EMU_CERT_CLIENT "\n"
           "client_certificate_file = %s/client-" EMU_CERT_CLIENT ".crt\n"
           "client_key_file = %s/client-" EMU_CERT_CLIENT ".key\n"
           "auth = app\nretries = 2\ntimeout = 8\n",
           emu.dir, emu.dir);
  fixture_open(&f, extra);
  assert_int_equal(emu_post(&emu, "/_emu/fault",
                            "{\"kind\":\"status\",\"status\":500,\"count\":2}"),
                   0);
  assert_int_equal(msoauth_grant_client_credentials(&f.client, f.cfg->scope,
                                                    deadline(), &f.tokens,
                                                    &f.err),
                   MSOAUTH_OK);
  assert_int_equal(emu_count(&emu, "grant:client_credentials"), 3);
  log = emu_get(&emu, "/_emu/requests?last=3");
  assert_non_null(log);
  for (p = strstr(log, "\"assertion_jti\":\""); p != NULL && n < 3;
       p = strstr(p + 1, "\"assertion_jti\":\"")) {
    char *q = p + strlen("\"assertion_jti\":\"");
    size_t k = strcspn(q, "\"");

    assert_true(k > 0 && k < sizeof(jti[0]));
    memcpy(jti[n], q, k);
    jti[n++][k] = '\0';
  }
  free(log);
  assert_int_equal(n, 3);
  assert_string_not_equal(jti[0], jti[1]);
  assert_string_not_equal(jti[1], jti[2]);
  assert_string_not_equal(jti[0], jti[2]);
  fixture_close(&f);
}

/* ------------------------------------------------------------ issue 14 */

/* Every line logged, for the tests of what reaches a log. */
static char logged[32768];

static void keep_line(void *arg, enum msoauth_level level, const char *msg) {
  size_t used = strlen(logged);

  (void)arg;
  (void)level;
  snprintf(logged + used, sizeof(logged) - used, "%s\n", msg);
}

static const struct msoauth_log keep_log = {keep_line, NULL, MSOAUTH_LOG_INFO};

/* fixture_open, the client logging into logged (emptied). */
static void fixture_open_logged(struct fixture *f, const char *extra) {
  memset(f, 0, sizeof(*f));
  logged[0] = '\0';
  fixture_config("grant.conf", extra, 0, &f->cfg, &f->err);
  assert_int_equal(client_init(&f->client, f->cfg, &keep_log, &f->err),
                   MSOAUTH_OK);
  assert_int_equal(emu_reset(&emu), 0);
}

static void strict(int interval) {
  char json[64];

  snprintf(json, sizeof(json), "{\"strict_rfc\":1,\"device_interval\":%d}",
           interval);
  assert_int_equal(emu_post(&emu, "/_emu/options", json), 0);
}

/* The client_auth the emulator saw in the last request. */
static void assert_last_auth(const char *endpoint, const char *auth) {
  char want[64], *seen = emu_get(&emu, "/_emu/requests?last=1");

  assert_non_null(seen);
  snprintf(want, sizeof(want), "\"endpoint\":\"%s\"", endpoint);
  assert_non_null(strstr(seen, want));
  snprintf(want, sizeof(want), "\"client_auth\":\"%s\"", auth);
  assert_non_null(strstr(seen, want));
  free(seen);
}

/* Item 1: an RFC 8628 answer without Microsoft's message gets one made of
 * the page, the code and the page holding the code; approve and deny
 * (access_denied) end as with Entra. */
static void test_strict_device_code(void **state) {
  struct fixture f;
  struct msoauth_device_code dc;

  (void)state;
  fixture_open(&f, NULL);
  strict(1);
  assert_int_equal(msoauth_grant_device_start(&f.client, MAIL_SCOPE,
                                              deadline(), &dc, &f.err),
                   MSOAUTH_OK);
  assert_non_null(dc.message);
  assert_non_null(dc.verification_uri_complete);
  assert_non_null(strstr(dc.verification_uri, "/device"));
  assert_non_null(strstr(dc.message, dc.verification_uri));
  assert_non_null(strstr(dc.message, dc.user_code));
  assert_non_null(strstr(dc.message, dc.verification_uri_complete));
  assert_int_equal(dc.interval, 1);
  msoauth_device_code_clear(&dc);
  assert_int_equal(device_flow(&f, "approve"), MSOAUTH_OK);
  assert_names(f.tokens.access_token, "alice@contoso.com");
  assert_int_equal(device_flow(&f, "deny"), MSOAUTH_ERR_DECLINED);
  assert_int_equal(f.err.aadsts, 0);
  fixture_close(&f);
}

/* Item 3: a confidential client's credential goes to the device endpoint
 * (RFC 8628 section 3.1); without one configured, the error says so. */
static void test_strict_device_confidential(void **state) {
  struct fixture f;
  struct msoauth_device_code dc;
  char extra[1024];

  (void)state;
  fixture_open(&f, "client_id = " EMU_SECRET_CLIENT "\n"
                   "client_secret = " EMU_CLIENT_SECRET "\n");
  /* Entra ignores it; it is sent all the same. */
  assert_int_equal(msoauth_grant_device_start(&f.client, MAIL_SCOPE,
                                              deadline(), &dc, &f.err),
                   MSOAUTH_OK);
  msoauth_device_code_clear(&dc);
  assert_last_auth("devicecode", "secret");
  strict(1);
  assert_int_equal(msoauth_grant_device_start(&f.client, MAIL_SCOPE,
                                              deadline(), &dc, &f.err),
                   MSOAUTH_OK);
  msoauth_device_code_clear(&dc);
  assert_last_auth("devicecode", "secret");
  fixture_close(&f);

  snprintf(extra, sizeof(extra),
           "client_id = " EMU_CERT_CLIENT "\n"
           "client_certificate_file = %s/client-" EMU_CERT_CLIENT ".crt\n"
           "client_key_file = %s/client-" EMU_CERT_CLIENT ".key\n",
           emu.dir, emu.dir);
  fixture_open(&f, extra);
  strict(1);
  assert_int_equal(msoauth_grant_device_start(&f.client, MAIL_SCOPE,
                                              deadline(), &dc, &f.err),
                   MSOAUTH_OK);
  msoauth_device_code_clear(&dc);
  assert_last_auth("devicecode", "assertion");
  fixture_close(&f);

  /* The confidential app with no credential configured. */
  fixture_open(&f, "client_id = " EMU_SECRET_CLIENT "\n");
  strict(1);
  assert_int_equal(msoauth_grant_device_start(&f.client, MAIL_SCOPE,
                                              deadline(), &dc, &f.err),
                   MSOAUTH_ERR_CLIENT_CONFIG);
  assert_int_equal(f.err.aadsts, 0);
  assert_non_null(strstr(f.err.detail, "none of its credentials"));
  assert_null(strstr(f.err.detail, "not accepted"));
  assert_last_auth("devicecode", "none");
  fixture_close(&f);
}

/* Items 2 and 4: a standard server binds a refresh token to the scope it
 * granted (narrower than asked: POP withheld): asking for more is
 * invalid_scope, asking for none is the scope granted; a revoked refresh
 * token is a plain invalid_grant, which is a dead sign-in. */
static void test_strict_refresh(void **state) {
  struct fixture f;
  struct msoauth_secret *refresh = NULL;
  const char *more = "https://outlook.office.com/IMAP.AccessAsUser.All "
                     "https://outlook.office.com/POP.AccessAsUser.All";

  (void)state;
  fixture_open(&f, NULL);
  strict(1);
  assert_int_equal(ropc(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_OK);
  assert_int_equal(msoauth_secret_dup(f.tokens.refresh_token, &refresh),
                   MSOAUTH_OK);
  msoauth_tokens_clear(&f.tokens);
  assert_int_equal(msoauth_grant_refresh(&f.client, refresh, more, deadline(),
                                         &f.tokens, &f.err),
                   MSOAUTH_ERR_CLIENT_CONFIG);
  assert_int_equal(f.err.why, MSOAUTH_WHY_INVALID_SCOPE);
  assert_int_equal(msoauth_grant_refresh(&f.client, refresh, NULL, deadline(),
                                         &f.tokens, &f.err),
                   MSOAUTH_OK);
  assert_names(f.tokens.access_token, "alice@contoso.com");
  assert_non_null(f.tokens.id_token);
  assert_int_equal(emu_post(&emu, "/_emu/revoke",
                            "{\"user\":\"alice@contoso.com\"}"),
                   0);
  msoauth_tokens_clear(&f.tokens);
  assert_int_equal(msoauth_grant_refresh(&f.client, refresh, NULL, deadline(),
                                         &f.tokens, &f.err),
                   MSOAUTH_ERR_GRANT_EXPIRED);
  assert_int_equal(f.err.aadsts, 0);
  assert_non_null(strstr(f.err.detail, "msoauth login"));
  msoauth_secret_free(&refresh);
  fixture_close(&f);
}

/* Queues a describe fault: an error answer whose description quotes the
 * form ({NAME}: the value sent for NAME). */
static void describe(const char *error, const char *description) {
  char json[512];

  snprintf(json, sizeof(json),
           "{\"kind\":\"describe\",\"error\":\"%s\",\"description\":\"%s\"}",
           error, description);
  assert_int_equal(emu_post(&emu, "/_emu/fault", json), 0);
}

#define WITHHELD "not shown: it quotes a secret"

/* Item 4: the server's description is logged (info, -v), its CR and LF
 * made '?', unless it quotes a secret the request carried: the password
 * (whole, cut, or form-encoded), the client secret, the refresh token, the
 * assertion. */
static void test_description_logged(void **state) {
  struct fixture f;
  struct msoauth_secret *refresh = NULL;
  char extra[1024];

  (void)state;
  fixture_open_logged(&f, NULL);
  assert_int_equal(ropc(&f, "alice@contoso.com", "wrong"),
                   MSOAUTH_ERR_BAD_CREDENTIALS);
  assert_non_null(strstr(logged, "the identity platform says: AADSTS50126: "
                                 "Error validating credentials"));
  assert_non_null(strstr(logged, "??Trace ID: "));
  assert_null(strchr(logged, '\r'));
  /* What quotes nothing secret is shown. */
  logged[0] = '\0';
  describe("invalid_grant", "grant {grant_type} for {username} refused");
  assert_int_equal(ropc(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_ERR_DENIED);
  assert_non_null(strstr(logged, "says: grant password for "
                                 "alice@contoso.com refused"));
  /* The password, whole and cut. */
  logged[0] = '\0';
  describe("invalid_grant", "the password {password} is wrong");
  assert_int_equal(ropc(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_ERR_DENIED);
  describe("invalid_grant", "the password starts with 'Correct ho'");
  assert_int_equal(ropc(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_ERR_DENIED);
  /* Bob's, form-encoded as it was sent. */
  describe("invalid_grant", "the form held p%26ss%3Dw%2Brd%25%3B%27");
  assert_int_equal(ropc(&f, "bob@contoso.com", EMU_BOB_PASSWORD),
                   MSOAUTH_ERR_DENIED);
  assert_null(strstr(logged, "Correct"));
  assert_null(strstr(logged, "%26ss"));
  assert_null(strstr(logged, "says:"));
  assert_non_null(strstr(logged, WITHHELD));
  /* The refresh token. */
  assert_int_equal(ropc(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_OK);
  assert_int_equal(msoauth_secret_dup(f.tokens.refresh_token, &refresh),
                   MSOAUTH_OK);
  logged[0] = '\0';
  describe("invalid_grant", "refresh token {refresh_token} unknown");
  msoauth_tokens_clear(&f.tokens);
  assert_int_equal(msoauth_grant_refresh(&f.client, refresh, MAIL_SCOPE,
                                         deadline(), &f.tokens, &f.err),
                   MSOAUTH_ERR_GRANT_EXPIRED);
  assert_null(strstr(logged, msoauth_secret_value(refresh) + 10));
  assert_non_null(strstr(logged, WITHHELD));
  msoauth_secret_free(&refresh);
  fixture_close(&f);

  /* The client secret. */
  fixture_open_logged(&f, "client_id = " EMU_SECRET_CLIENT "\n"
                          "client_secret = " EMU_CLIENT_SECRET "\n");
  describe("invalid_client", "secret {client_secret} expired");
  assert_int_equal(ropc(&f, "alice@contoso.com", EMU_ALICE_PASSWORD),
                   MSOAUTH_ERR_CLIENT_CONFIG);
  assert_null(strstr(logged, "s3cr3t"));
  assert_non_null(strstr(logged, WITHHELD));
  fixture_close(&f);

  /* The client assertion (cut to the line's length). */
  snprintf(extra, sizeof(extra),
           "client_id = " EMU_CERT_CLIENT "\n"
           "client_certificate_file = %s/client-" EMU_CERT_CLIENT ".crt\n"
           "client_key_file = %s/client-" EMU_CERT_CLIENT ".key\n"
           "auth = app\n",
           emu.dir, emu.dir);
  fixture_open_logged(&f, extra);
  describe("invalid_client", "assertion {client_assertion} refused");
  assert_int_equal(msoauth_grant_client_credentials(&f.client, f.cfg->scope,
                                                    deadline(), &f.tokens,
                                                    &f.err),
                   MSOAUTH_ERR_CLIENT_CONFIG);
  assert_null(strstr(logged, "eyJ"));
  assert_non_null(strstr(logged, WITHHELD));
  fixture_close(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_token_response_parse),
      cmocka_unit_test(test_ropc_success),
      cmocka_unit_test(test_ropc_tricky_password),
      cmocka_unit_test(test_ropc_nul_refused),
      cmocka_unit_test(test_ropc_alias_names_primary),
      cmocka_unit_test(test_ropc_user_errors),
      cmocka_unit_test(test_client_errors),
      cmocka_unit_test(test_client_credentials_secret),
      cmocka_unit_test(test_client_credentials_certificate),
      cmocka_unit_test(test_refresh_rotates_and_revoke),
      cmocka_unit_test(test_device_code),
      cmocka_unit_test(test_device_code_slow_down),
      cmocka_unit_test(test_wire_client_auth),
      cmocka_unit_test(test_ropc_retries),
      cmocka_unit_test(test_ropc_retry_unsent),
      cmocka_unit_test(test_assertion_per_attempt),
      cmocka_unit_test(test_strict_device_code),
      cmocka_unit_test(test_strict_device_confidential),
      cmocka_unit_test(test_strict_refresh),
      cmocka_unit_test(test_description_logged),
  };

  return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
