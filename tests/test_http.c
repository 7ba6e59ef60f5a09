#include "config_build.h"
/*
 * test_http.c - URL encoding, and HTTPS requests against the Entra ID
 * emulator: retries, Retry-After, deadlines, caps, redirects, TLS trust,
 * the CA kept in memory and connection reuse.
 */

#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "clock.h"
#include "config.h"
#include "emu.h"
#include "http.h"

#define MAIL_SCOPE                                                             \
  "https://outlook.office.com/IMAP.AccessAsUser.All offline_access"
#define CC_FORM                                                                \
  "grant_type=client_credentials&client_id=" EMU_SECRET_CLIENT                 \
  "&client_secret=" EMU_CLIENT_SECRET                                          \
  "&scope=https%3A%2F%2Foutlook.office365.com%2F.default"

static struct emu emu;
static char token_url[256];
static char discovery_url[256];

/* ------------------------------------------------------------ helpers */

static struct msoauth_http_settings make_settings(long retries,
                                                  const char *ca) {
  struct msoauth_http_settings cfg;

  memset(&cfg, 0, sizeof(cfg));
  cfg.connect_timeout = 5;
  cfg.retries = retries;
  cfg.ca_file = ca;
  return cfg;
}

static struct msoauth_http *new_http(long retries, const char *ca,
                                     const struct msoauth_log *log) {
  struct msoauth_http_settings cfg = make_settings(retries, ca);
  struct msoauth_http *http = NULL;
  struct msoauth_err err;

  assert_int_equal(msoauth_http_new(&cfg, log, &http, &err), MSOAUTH_OK);
  assert_non_null(http);
  return http;
}

static long long deadline_in(long long ms) {
  return msoauth_now_ms() + ms;
}

/* The client-credentials form, built the way grant.c builds it. */
static void cc_form(struct msoauth_buf *form) {
  msoauth_buf_init(form, MSOAUTH_HTTP_FORM_MAX, 1);
  assert_int_equal(msoauth_form_add(form, "grant_type", "client_credentials"),
                   MSOAUTH_OK);
  assert_int_equal(msoauth_form_add(form, "client_id", EMU_SECRET_CLIENT),
                   MSOAUTH_OK);
  assert_int_equal(msoauth_form_add(form, "client_secret", EMU_CLIENT_SECRET),
                   MSOAUTH_OK);
  assert_int_equal(msoauth_form_add(form, "scope", MSOAUTH_SCOPE_APP),
                   MSOAUTH_OK);
}

static void fault(const char *json) {
  assert_int_equal(emu_post(&emu, "/_emu/fault", json), 0);
}

/* POSTs the client-credentials form with a fresh handle. */
static msoauth_rc post_cc(long retries, long long timeout_ms,
                          struct msoauth_http_response *resp,
                          struct msoauth_err *err) {
  struct msoauth_http *http = new_http(retries, emu.ca, NULL);
  struct msoauth_buf form;
  msoauth_rc rc;

  cc_form(&form);
  rc = msoauth_http_request(http, token_url, &form, deadline_in(timeout_ms),
                            resp, err);
  msoauth_buf_free(&form);
  msoauth_http_free(&http);
  assert_null(http);
  return rc;
}

/* Whether the emulator's last request log entry has field == value. */
static int last_request_has(const char *field, const char *value) {
  char *text = emu_get(&emu, "/_emu/requests?last=1");
  struct json_object *root, *list, *req, *val;
  int found = 0;

  assert_non_null(text);
  root = json_tokener_parse(text);
  free(text);
  assert_non_null(root);
  if (json_object_object_get_ex(root, "requests", &list) &&
      json_object_is_type(list, json_type_array) &&
      json_object_array_length(list) == 1) {
    req = json_object_array_get_idx(list, 0);
    if (json_object_object_get_ex(req, field, &val)) {
      if (json_object_is_type(val, json_type_string))
        found = strcmp(json_object_get_string(val), value) == 0;
      else if (json_object_is_type(val, json_type_int))
        found = json_object_get_int64(val) == strtoll(value, NULL, 10);
    }
  }
  json_object_put(root);
  return found;
}

static int setup(void **state) {
  (void)state;
  if (emu_start(&emu, NULL) != 0)
    return -1;
  snprintf(token_url, sizeof(token_url), "%s/contoso.com/oauth2/v2.0/token",
           emu.url);
  snprintf(discovery_url, sizeof(discovery_url),
           "%s/contoso.com/v2.0/.well-known/openid-configuration", emu.url);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  emu_stop(&emu);
  return 0;
}

static int reset(void **state) {
  (void)state;
  return emu_reset(&emu);
}

/* ------------------------------------------------------------ encoding */

struct encode_case {
  const char *in;
  size_t len;
  const char *out;
};

static void test_url_encode(void **state) {
  static const struct encode_case cases[] = {
      {"", 0, ""},
      {"AZaz09-._~", 10, "AZaz09-._~"},
      {" ", 1, "%20"},
      {"&=+%;", 5, "%26%3D%2B%25%3B"},
      {"'\"", 2, "%27%22"},
      {"/?#@", 4, "%2F%3F%23%40"},
      {"a b", 3, "a%20b"},
      {"\xc3\xbc\xc3\xaf", 4, "%C3%BC%C3%AF"},
      {"\x01\r\n\x7f", 4, "%01%0D%0A%7F"},
      {"a\0b", 3, "a%00b"},
      {"\xff", 1, "%FF"},
      {EMU_BOB_PASSWORD, sizeof(EMU_BOB_PASSWORD) - 1,
       "p%26ss%3Dw%2Brd%25%3B%27%22%20%C3%BCn%C3%AF"},
  };
  (void)state;

  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct msoauth_buf out;

    msoauth_buf_init(&out, 1024, 1);
    assert_int_equal(msoauth_url_encode(&out, cases[i].in, cases[i].len),
                     MSOAUTH_OK);
    assert_string_equal(msoauth_buf_str(&out), cases[i].out);
    msoauth_buf_free(&out);
  }
}

static void test_url_encode_long(void **state) {
  struct msoauth_buf out;
  char in[1000];
  (void)state;

  /* Longer than the encoder's chunk, and every byte escaped. */
  memset(in, '/', sizeof(in));
  msoauth_buf_init(&out, 4096, 1);
  assert_int_equal(msoauth_url_encode(&out, in, sizeof(in)), MSOAUTH_OK);
  assert_int_equal(out.len, 3 * sizeof(in));
  for (size_t i = 0; i < out.len; i += 3)
    assert_memory_equal(out.data + i, "%2F", 3);
  msoauth_buf_free(&out);

  /* Past the buffer's cap: an error, and nothing is kept. */
  msoauth_buf_init(&out, 100, 1);
  assert_int_not_equal(msoauth_url_encode(&out, in, sizeof(in)), MSOAUTH_OK);
  assert_null(out.data);
}

static void test_form(void **state) {
  struct msoauth_buf form;
  (void)state;

  msoauth_buf_init(&form, MSOAUTH_HTTP_FORM_MAX, 1);
  assert_int_equal(msoauth_form_add(&form, "grant_type", "password"),
                   MSOAUTH_OK);
  assert_string_equal(msoauth_buf_str(&form), "grant_type=password");
  assert_int_equal(msoauth_form_add(&form, "username", "bob@contoso.com"),
                   MSOAUTH_OK);
  assert_int_equal(msoauth_form_add(&form, "password", "a&b=c"), MSOAUTH_OK);
  assert_int_equal(msoauth_form_add(&form, "empty", ""), MSOAUTH_OK);
  assert_int_equal(msoauth_form_add(&form, "scope", MAIL_SCOPE), MSOAUTH_OK);
  assert_string_equal(
      msoauth_buf_str(&form),
      "grant_type=password&username=bob%40contoso.com&password=a%26b%3Dc"
      "&empty=&scope=https%3A%2F%2Foutlook.office.com%2FIMAP.AccessAsUser.All"
      "%20offline_access");
  assert_int_equal(msoauth_form_add(&form, NULL, "x"), MSOAUTH_ERR_INVALID);
  assert_int_equal(msoauth_form_add(&form, "x", NULL), MSOAUTH_ERR_INVALID);
  assert_int_equal(msoauth_form_add(&form, "", "x"), MSOAUTH_ERR_INVALID);
  msoauth_buf_free(&form);

  /* A form past its cap fails and is freed. */
  msoauth_buf_init(&form, 16, 1);
  assert_int_equal(msoauth_form_add(&form, "k", "0123456789"), MSOAUTH_OK);
  assert_int_not_equal(msoauth_form_add(&form, "k", "0123456789"), MSOAUTH_OK);
  assert_null(form.data);
}

static void test_now_ms(void **state) {
  long long a, b;
  struct timespec ts = {0, 20 * 1000000L};
  (void)state;

  a = msoauth_now_ms();
  nanosleep(&ts, NULL);
  b = msoauth_now_ms();
  assert_true(a > 0);
  assert_true(b - a >= 20);
  assert_true(b - a < 2000);
}

/* ------------------------------------------------------------ the handle */

static void test_bad_ca(void **state) {
  struct msoauth_http_settings cfg;
  struct msoauth_http *http = NULL;
  struct msoauth_err err;
  const char *path;
  size_t big_len = 4 * 1024 * 1024 + 1;
  char *big;
  (void)state;

  cfg = make_settings(0, "/nonexistent/ca.pem");
  assert_int_equal(msoauth_http_new(&cfg, NULL, &http, &err), MSOAUTH_ERR_IO);
  assert_null(http);
  assert_non_null(strstr(err.detail, "/nonexistent/ca.pem"));

  path = emu_write_file(&emu, "not-pem.txt", "hello\n", 0644);
  assert_non_null(path);
  cfg = make_settings(0, path);
  assert_int_equal(msoauth_http_new(&cfg, NULL, &http, &err), MSOAUTH_ERR_IO);
  assert_null(http);

  cfg = make_settings(0, "/");
  assert_int_equal(msoauth_http_new(&cfg, NULL, &http, &err), MSOAUTH_ERR_IO);
  assert_null(http);

  /* A FIFO in the bundle's place is refused at once, not waited on (the
   * alarm fails the test if the open blocks). */
  path = emu_write_file(&emu, "fifo-ca.pem", "", 0644);
  assert_non_null(path);
  assert_int_equal(unlink(path), 0);
  assert_int_equal(mkfifo(path, 0644), 0);
  cfg = make_settings(0, path);
  alarm(10);
  assert_int_equal(msoauth_http_new(&cfg, NULL, &http, &err), MSOAUTH_ERR_IO);
  alarm(0);
  assert_null(http);
  assert_non_null(strstr(err.detail, "is not a file"));

  /* A bundle past the 4 MiB cap is refused, not read whole. */
  big = malloc(big_len + 1);
  assert_non_null(big);
  memset(big, 'A', big_len);
  memcpy(big, "-----BEGIN CERTIFICATE-----\n", 28);
  big[big_len] = '\0';
  path = emu_write_file(&emu, "big-ca.pem", big, 0644);
  free(big);
  assert_non_null(path);
  cfg = make_settings(0, path);
  assert_int_equal(msoauth_http_new(&cfg, NULL, &http, &err), MSOAUTH_ERR_IO);
  assert_null(http);
  assert_non_null(strstr(err.detail, "larger than"));

  /* The system bundle is read when no ca_file is set. */
  cfg = make_settings(0, NULL);
  assert_int_equal(msoauth_http_new(&cfg, NULL, &http, &err), MSOAUTH_OK);
  msoauth_http_free(&http);
  assert_null(http);
  msoauth_http_free(&http); /* twice is harmless */
  msoauth_http_free(NULL);
}

/* ------------------------------------------------------------ requests */

static void test_get(void **state) {
  struct msoauth_http *http = new_http(0, emu.ca, NULL);
  struct msoauth_http_response resp;
  struct msoauth_err err;
  (void)state;

  assert_int_equal(msoauth_http_request(http, discovery_url, NULL,
                                        deadline_in(10000), &resp, &err),
                   MSOAUTH_OK);
  assert_int_equal(resp.status, 200);
  assert_int_equal(resp.attempts, 1);
  assert_non_null(strstr(msoauth_buf_str(&resp.body), "\"token_endpoint\""));
  assert_true(resp.body.wipe); /* bodies hold tokens */
  msoauth_http_response_free(&resp);
  assert_null(resp.body.data);
  msoauth_http_free(&http);
  assert_int_equal(emu_count(&emu, "endpoint:discovery"), 1);
}

static void test_post(void **state) {
  struct msoauth_http_response resp;
  struct msoauth_err err;
  (void)state;

  assert_int_equal(post_cc(0, 10000, &resp, &err), MSOAUTH_OK);
  assert_int_equal(resp.status, 200);
  assert_int_equal(resp.attempts, 1);
  assert_non_null(strstr(msoauth_buf_str(&resp.body), "\"access_token\""));
  msoauth_http_response_free(&resp);

  assert_true(last_request_has("client_auth", "secret"));
  assert_true(last_request_has("client_id", EMU_SECRET_CLIENT));
  assert_true(last_request_has("scope", MSOAUTH_SCOPE_APP));
  assert_true(last_request_has("user_agent", "msoauth/" PACKAGE_VERSION));
  assert_true(
      last_request_has("content_type", "application/x-www-form-urlencoded"));
}

static void test_4xx_is_an_answer(void **state) {
  struct msoauth_http *http = new_http(2, emu.ca, NULL);
  struct msoauth_http_response resp;
  struct msoauth_err err;
  struct msoauth_buf form;
  (void)state;

  msoauth_buf_init(&form, MSOAUTH_HTTP_FORM_MAX, 1);
  assert_int_equal(msoauth_form_add(&form, "grant_type", "client_credentials"),
                   MSOAUTH_OK);
  assert_int_equal(msoauth_form_add(&form, "client_id", EMU_SECRET_CLIENT),
                   MSOAUTH_OK);
  assert_int_equal(msoauth_form_add(&form, "client_secret", "wrong"),
                   MSOAUTH_OK);
  assert_int_equal(msoauth_form_add(&form, "scope", MSOAUTH_SCOPE_APP),
                   MSOAUTH_OK);
  assert_int_equal(msoauth_http_request(http, token_url, &form,
                                        deadline_in(10000), &resp, &err),
                   MSOAUTH_OK);
  /* 4xx is the caller's to read, and never retried. */
  assert_int_equal(resp.status, 401);
  assert_int_equal(resp.attempts, 1);
  assert_non_null(strstr(msoauth_buf_str(&resp.body), "7000215"));
  msoauth_http_response_free(&resp);
  msoauth_buf_free(&form);
  msoauth_http_free(&http);
  assert_int_equal(emu_count(&emu, "endpoint:token"), 1);
}

static void test_tricky_password(void **state) {
  struct msoauth_http *http = new_http(0, emu.ca, NULL);
  struct msoauth_http_response resp;
  struct msoauth_err err;
  struct msoauth_buf form;
  (void)state;

  msoauth_buf_init(&form, MSOAUTH_HTTP_FORM_MAX, 1);
  assert_int_equal(msoauth_form_add(&form, "grant_type", "password"),
                   MSOAUTH_OK);
  assert_int_equal(msoauth_form_add(&form, "client_id", EMU_PUBLIC_CLIENT),
                   MSOAUTH_OK);
  assert_int_equal(msoauth_form_add(&form, "username", "bob@contoso.com"),
                   MSOAUTH_OK);
  assert_int_equal(msoauth_form_add(&form, "password", EMU_BOB_PASSWORD),
                   MSOAUTH_OK);
  assert_int_equal(msoauth_form_add(&form, "scope", MAIL_SCOPE), MSOAUTH_OK);
  assert_int_equal(msoauth_http_request(http, token_url, &form,
                                        deadline_in(10000), &resp, &err),
                   MSOAUTH_OK);
  assert_int_equal(resp.status, 200);
  assert_non_null(strstr(msoauth_buf_str(&resp.body), "\"access_token\""));
  msoauth_http_response_free(&resp);
  msoauth_buf_free(&form);
  msoauth_http_free(&http);

  assert_true(last_request_has("username", "bob@contoso.com"));
  assert_true(last_request_has("scope", MAIL_SCOPE));
  assert_true(last_request_has("grant_type", "password"));
  assert_true(last_request_has("status", "200"));
}

static void test_retry_then_success(void **state) {
  struct msoauth_http_response resp;
  struct msoauth_err err;
  (void)state;

  fault("{\"kind\":\"status\",\"status\":500,\"count\":2}");
  assert_int_equal(post_cc(2, 10000, &resp, &err), MSOAUTH_OK);
  assert_int_equal(resp.status, 200);
  assert_int_equal(resp.attempts, 3);
  assert_int_equal(err.rc, MSOAUTH_OK); /* no stale detail of attempt 1 */
  assert_string_equal(err.detail, "");
  msoauth_http_response_free(&resp);
  assert_int_equal(emu_count(&emu, "endpoint:token"), 3);
}

static void test_retries_exhausted(void **state) {
  struct msoauth_http_response resp;
  struct msoauth_err err;
  (void)state;

  fault("{\"kind\":\"status\",\"status\":500,\"count\":3}");
  assert_int_equal(post_cc(2, 10000, &resp, &err), MSOAUTH_ERR_UNAVAILABLE);
  assert_int_equal(err.rc, MSOAUTH_ERR_UNAVAILABLE);
  assert_int_equal(resp.status, 500);
  assert_int_equal(resp.attempts, 3);
  assert_non_null(strstr(err.detail, "HTTP 500"));
  /* The answer's body is not quoted in the error. */
  assert_null(strstr(err.detail, "temporarily_unavailable"));
  assert_null(strstr(err.detail, "AADSTS"));
  msoauth_http_response_free(&resp);
  assert_int_equal(emu_count(&emu, "endpoint:token"), 3);
}

static void test_no_retries(void **state) {
  struct msoauth_http_response resp;
  struct msoauth_err err;
  (void)state;

  fault("{\"kind\":\"status\",\"status\":503,\"count\":1}");
  assert_int_equal(post_cc(0, 10000, &resp, &err), MSOAUTH_ERR_UNAVAILABLE);
  assert_int_equal(resp.attempts, 1);
  msoauth_http_response_free(&resp);
  fault("{\"kind\":\"throttle\",\"retry_after\":1,\"count\":1}");
  assert_int_equal(post_cc(0, 10000, &resp, &err), MSOAUTH_ERR_THROTTLED);
  assert_int_equal(resp.status, 429);
  assert_int_equal(resp.attempts, 1);
  msoauth_http_response_free(&resp);
  assert_int_equal(emu_count(&emu, "endpoint:token"), 2);
}

static void test_retry_after(void **state) {
  struct msoauth_http_response resp;
  struct msoauth_err err;
  long long start = msoauth_now_ms(), elapsed;
  (void)state;

  fault("{\"kind\":\"throttle\",\"retry_after\":1,\"count\":1}");
  assert_int_equal(post_cc(2, 10000, &resp, &err), MSOAUTH_OK);
  elapsed = msoauth_now_ms() - start;
  assert_int_equal(resp.status, 200);
  assert_int_equal(resp.attempts, 2);
  assert_true(elapsed >= 950);
  assert_true(elapsed < 4000);
  msoauth_http_response_free(&resp);
  assert_int_equal(emu_count(&emu, "endpoint:token"), 2);
}

static void test_retry_after_date(void **state) {
  struct msoauth_http_response resp;
  struct msoauth_err err;
  char json[160], date[64];
  time_t when = time(NULL) + 2;
  struct tm tm;
  long long start, elapsed;
  (void)state;

  gmtime_r(&when, &tm);
  strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  snprintf(json, sizeof(json),
           "{\"kind\":\"throttle\",\"retry_after\":\"%s\",\"count\":1}", date);
  fault(json);
  start = msoauth_now_ms();
  assert_int_equal(post_cc(2, 10000, &resp, &err), MSOAUTH_OK);
  elapsed = msoauth_now_ms() - start;
  assert_int_equal(resp.status, 200);
  assert_int_equal(resp.attempts, 2);
  /* Whole seconds: the wait is one or two of them. */
  assert_true(elapsed >= 500);
  assert_true(elapsed < 4000);
  msoauth_http_response_free(&resp);
}

static void test_retry_after_too_long(void **state) {
  struct msoauth_http_response resp;
  struct msoauth_err err;
  long long start = msoauth_now_ms(), elapsed;
  (void)state;

  fault("{\"kind\":\"throttle\",\"retry_after\":60,\"count\":1}");
  assert_int_equal(post_cc(2, 3000, &resp, &err), MSOAUTH_ERR_THROTTLED);
  elapsed = msoauth_now_ms() - start;
  assert_true(elapsed < 1000);
  assert_int_equal(resp.attempts, 1);
  assert_non_null(strstr(err.detail, "60 s"));
  msoauth_http_response_free(&resp);
  assert_int_equal(emu_count(&emu, "endpoint:token"), 1);
}

static void test_timeout(void **state) {
  struct msoauth_http_response resp;
  struct msoauth_err err;
  long long start = msoauth_now_ms(), elapsed;
  (void)state;

  fault("{\"kind\":\"delay\",\"seconds\":5,\"count\":1}");
  assert_int_equal(post_cc(2, 2000, &resp, &err), MSOAUTH_ERR_TIMEOUT);
  elapsed = msoauth_now_ms() - start;
  assert_true(elapsed >= 1900);
  assert_true(elapsed < 3000);
  assert_int_equal(resp.attempts, 1);
  msoauth_http_response_free(&resp);
}

static void test_no_time_left(void **state) {
  struct msoauth_http *http = new_http(2, emu.ca, NULL);
  struct msoauth_http_response resp;
  struct msoauth_err err;
  (void)state;

  assert_int_equal(msoauth_http_request(http, discovery_url, NULL,
                                        deadline_in(10), &resp, &err),
                   MSOAUTH_ERR_TIMEOUT);
  assert_int_equal(resp.attempts, 0);
  msoauth_http_response_free(&resp);
  msoauth_http_free(&http);
  assert_int_equal(emu_count(&emu, "total"), 0);
}

static long max_rss_kb(void) {
  struct rusage ru;

  assert_int_equal(getrusage(RUSAGE_SELF, &ru), 0);
  return ru.ru_maxrss;
}

static void test_huge(void **state) {
  struct msoauth_http_response resp;
  struct msoauth_err err;
  long before;
  (void)state;

  fault("{\"kind\":\"huge\",\"count\":1}");
  before = max_rss_kb();
  assert_int_equal(post_cc(2, 10000, &resp, &err), MSOAUTH_ERR_PROTOCOL);
  /* Refused from Content-Length: the peak memory did not grow by the
   * answer's 10 MB, and nothing is kept. */
  assert_true(max_rss_kb() - before < 5 * 1024);
  assert_null(resp.body.data);
  assert_int_equal(resp.attempts, 1);
  assert_non_null(strstr(err.detail, "larger than"));
  msoauth_http_response_free(&resp);
  assert_int_equal(emu_count(&emu, "endpoint:token"), 1);
}

static void test_body_at_cap(void **state) {
  struct msoauth_http_response resp;
  struct msoauth_err err;
  char json[96];
  (void)state;

  snprintf(json, sizeof(json), "{\"kind\":\"huge\",\"size\":%d,\"count\":1}",
           MSOAUTH_HTTP_BODY_MAX);
  fault(json);
  assert_int_equal(post_cc(0, 10000, &resp, &err), MSOAUTH_OK);
  assert_int_equal(resp.status, 200);
  assert_int_equal(resp.body.len, MSOAUTH_HTTP_BODY_MAX);
  msoauth_http_response_free(&resp);

  snprintf(json, sizeof(json), "{\"kind\":\"huge\",\"size\":%d,\"count\":1}",
           MSOAUTH_HTTP_BODY_MAX + 1);
  fault(json);
  assert_int_equal(post_cc(0, 10000, &resp, &err), MSOAUTH_ERR_PROTOCOL);
  msoauth_http_response_free(&resp);
}

static void test_close_mid_body(void **state) {
  struct msoauth_http_response resp;
  struct msoauth_err err;
  (void)state;

  fault("{\"kind\":\"close\",\"count\":3}");
  assert_int_equal(post_cc(2, 10000, &resp, &err), MSOAUTH_ERR_UNAVAILABLE);
  assert_int_equal(resp.attempts, 3);
  assert_int_equal(resp.status, 0); /* no complete answer */
  assert_null(resp.body.data);
  msoauth_http_response_free(&resp);
  assert_int_equal(emu_count(&emu, "endpoint:token"), 3);

  /* Closed without an answer, then a good answer: retried. */
  fault("{\"kind\":\"drop\",\"count\":1}");
  assert_int_equal(post_cc(2, 10000, &resp, &err), MSOAUTH_OK);
  assert_int_equal(resp.status, 200);
  assert_int_equal(resp.attempts, 2);
  msoauth_http_response_free(&resp);
}

static void test_redirect(void **state) {
  struct msoauth_http_response resp;
  struct msoauth_err err;
  (void)state;

  fault("{\"kind\":\"redirect\",\"count\":1}");
  assert_int_equal(post_cc(2, 10000, &resp, &err), MSOAUTH_ERR_PROTOCOL);
  assert_int_equal(resp.attempts, 1);
  assert_int_equal(resp.status, 302);
  assert_non_null(strstr(err.detail, "elsewhere.example"));
  msoauth_http_response_free(&resp);
  assert_int_equal(emu_count(&emu, "total"), 1);
}

static void test_not_https(void **state) {
  static const char *const urls[] = {
      "http://127.0.0.1/", "ftp://x/",           "",
      "https://",          "file:///etc/passwd", "127.0.0.1/x"};
  struct msoauth_http *http = new_http(2, emu.ca, NULL);
  struct msoauth_http_response resp;
  struct msoauth_err err;
  char url[600];
  (void)state;

  /* The emulator's own address with http: refused all the same. */
  snprintf(url, sizeof(url), "http://%s/contoso.com/oauth2/v2.0/token",
           emu.url + 8);
  assert_int_equal(
      msoauth_http_request(http, url, NULL, deadline_in(5000), &resp, &err),
      MSOAUTH_ERR_INVALID);
  assert_int_equal(resp.attempts, 0);
  msoauth_http_response_free(&resp);
  for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
    assert_int_equal(msoauth_http_request(http, urls[i], NULL,
                                          deadline_in(5000), &resp, &err),
                     MSOAUTH_ERR_INVALID);
    assert_int_equal(resp.attempts, 0);
    msoauth_http_response_free(&resp);
  }
  msoauth_http_free(&http);
  assert_int_equal(emu_count(&emu, "total"), 0);
}

static void test_refused(void **state) {
  struct msoauth_http *http = new_http(2, emu.ca, NULL);
  struct msoauth_http_response resp;
  struct msoauth_err err;
  long long start = msoauth_now_ms(), elapsed;
  (void)state;

  /* Port 1 on loopback: connection refused, retried with a backoff. */
  assert_int_equal(msoauth_http_request(http, "https://127.0.0.1:1/x", NULL,
                                        deadline_in(10000), &resp, &err),
                   MSOAUTH_ERR_UNAVAILABLE);
  elapsed = msoauth_now_ms() - start;
  assert_int_equal(resp.attempts, 3);
  assert_true(elapsed >= 700); /* 250 + 500 ms */
  assert_true(elapsed < 5000);
  msoauth_http_response_free(&resp);
  msoauth_http_free(&http);
}

static const char *const proxy_vars[] = {
    "https_proxy", "HTTPS_PROXY", "http_proxy", "all_proxy",
    "ALL_PROXY",   "no_proxy",    "NO_PROXY"};

static void set_proxy_env(const char *proxy, const char *no_proxy) {
  for (size_t i = 0; i < sizeof(proxy_vars) / sizeof(proxy_vars[0]); i++) {
    if (proxy == NULL)
      assert_int_equal(unsetenv(proxy_vars[i]), 0);
    else
      assert_int_equal(setenv(proxy_vars[i],
                              strstr(proxy_vars[i], "no") ? no_proxy : proxy,
                              1),
                       0);
  }
}

static void test_proxy(void **state) {
  struct msoauth_http_settings cfg = make_settings(0, emu.ca);
  struct msoauth_http *http = NULL;
  struct msoauth_http_response resp;
  struct msoauth_err err;
  msoauth_rc rc;
  (void)state;

  /* Proxy variables pointing nowhere are ignored. */
  http = new_http(0, emu.ca, NULL);
  set_proxy_env("http://127.0.0.1:1", "");
  rc = msoauth_http_request(http, discovery_url, NULL, deadline_in(10000),
                            &resp, &err);
  set_proxy_env(NULL, NULL);
  assert_int_equal(rc, MSOAUTH_OK);
  assert_int_equal(resp.status, 200);
  msoauth_http_response_free(&resp);
  msoauth_http_free(&http);

  /* The configured proxy is used, whatever no_proxy says. */
  cfg.proxy = "http://127.0.0.1:1";
  assert_int_equal(msoauth_http_new(&cfg, NULL, &http, &err), MSOAUTH_OK);
  set_proxy_env("", "*");
  rc = msoauth_http_request(http, discovery_url, NULL, deadline_in(10000),
                            &resp, &err);
  set_proxy_env(NULL, NULL);
  assert_int_equal(rc, MSOAUTH_ERR_UNAVAILABLE);
  assert_int_equal(resp.attempts, 1);
  msoauth_http_response_free(&resp);
  msoauth_http_free(&http);
  assert_int_equal(emu_count(&emu, "total"), 1);
}

static void untrusted(const char *identity) {
  const char *args[] = {"--tls-identity", identity, NULL};
  struct emu other;
  struct msoauth_http *http;
  struct msoauth_http_response resp;
  struct msoauth_err err;
  char url[256];

  memset(&other, 0, sizeof(other));
  assert_int_equal(emu_start(&other, args), 0);
  /* The ca.pem of this instance signed its normal identity only. */
  http = new_http(2, other.ca, NULL);
  snprintf(url, sizeof(url),
           "%s/contoso.com/v2.0/.well-known/"
           "openid-configuration",
           other.url);
  assert_int_equal(
      msoauth_http_request(http, url, NULL, deadline_in(10000), &resp, &err),
      MSOAUTH_ERR_PROTOCOL);
  /* Final at once: a certificate problem is not retried, and it is not
   * "unreachable" (offline_grace must not be at the mercy of whoever
   * answered instead). */
  assert_int_equal(resp.attempts, 1);
  assert_int_equal(resp.status, 0);
  assert_non_null(strstr(err.detail, "certificate was not trusted"));
  msoauth_http_response_free(&resp);
  msoauth_http_free(&http);
  assert_int_equal(emu_ctl_total(&other), 0);
  emu_stop(&other);
}

static void test_other_ca(void **state) {
  (void)state;
  untrusted("other-ca");
}

static void test_wrong_host(void **state) {
  (void)state;
  untrusted("wrong-host");
}

/* The descriptor open on path in this process, or -1. */
static int fd_of(const char *path) {
  char link[64], target[512];
  ssize_t n;

  for (int fd = 0; fd < 1024; fd++) {
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    n = readlink(link, target, sizeof(target) - 1);
    if (n < 0)
      continue;
    target[n] = '\0';
    if (strcmp(target, path) == 0)
      return fd;
  }
  return -1;
}

/* A copy of the emulator's CA at path (in emu.dir, as name). */
static void copy_ca(const char *name, char *path, size_t size) {
  FILE *f = fopen(emu.ca, "r");
  char *pem;
  long len;

  assert_non_null(f);
  assert_int_equal(fseek(f, 0, SEEK_END), 0);
  len = ftell(f);
  assert_true(len > 0);
  rewind(f);
  pem = calloc(1, (size_t)len + 1);
  assert_non_null(pem);
  assert_int_equal(fread(pem, 1, (size_t)len, f), (size_t)len);
  fclose(f);
  assert_non_null(emu_write_file(&emu, name, pem, 0644));
  free(pem);
  snprintf(path, size, "%s/%s", emu.dir, name);
}

/* GETs the discovery document through http: HTTP 200. */
static void get_discovery(struct msoauth_http *http) {
  struct msoauth_http_response resp;
  struct msoauth_err err;

  assert_int_equal(msoauth_http_request(http, discovery_url, NULL,
                                        deadline_in(10000), &resp, &err),
                   MSOAUTH_OK);
  assert_int_equal(resp.status, 200);
  msoauth_http_response_free(&resp);
}

static void test_ca_in_memory(void **state) {
  struct msoauth_http *http;
  char path[400];
  (void)state;

  /* A copy of the CA, removed once the handle is made (as if chrooted). */
  copy_ca("ca-copy.pem", path, sizeof(path));
  http = new_http(0, path, NULL);
  assert_int_equal(unlink(path), 0);
  get_discovery(http);
  msoauth_http_free(&http);
}

/* The bundle is held open, not read, until the first request, which reads
 * it and closes it. */
static void test_ca_read_by_first_request(void **state) {
  struct msoauth_http *http;
  char path[400];
  (void)state;

  copy_ca("ca-lazy.pem", path, sizeof(path));
  http = new_http(0, path, NULL);
  assert_true(fd_of(path) >= 0);
  get_discovery(http);
  assert_int_equal(fd_of(path), -1);
  msoauth_http_free(&http);
}

/* A host that closed every descriptor and reused the bundle's number for
 * a file of its own: that file is neither read as the bundle nor closed;
 * the bundle is read again by its name. */
static void test_ca_descriptor_reused(void **state) {
  struct msoauth_http *http;
  char path[400], other[400];
  int fd, mine;
  (void)state;

  copy_ca("ca-reused.pem", path, sizeof(path));
  assert_non_null(emu_write_file(&emu, "host-file.txt", "the host's\n", 0644));
  snprintf(other, sizeof(other), "%s/host-file.txt", emu.dir);
  http = new_http(0, path, NULL);
  fd = fd_of(path);
  assert_true(fd >= 0);
  mine = open(other, O_RDONLY | O_CLOEXEC);
  assert_true(mine >= 0);
  assert_int_equal(dup2(mine, fd), fd); /* closes the bundle's descriptor */
  close(mine);
  get_discovery(http);
  msoauth_http_free(&http);
  assert_true(fcntl(fd, F_GETFD) >= 0); /* the host's file is still open */
  assert_int_equal(fd_of(other), fd);
  close(fd);

  /* Freed before any request: the host's file is left open all the same. */
  http = new_http(0, path, NULL);
  fd = fd_of(path);
  mine = open(other, O_RDONLY | O_CLOEXEC);
  assert_true(fd >= 0 && mine >= 0);
  assert_int_equal(dup2(mine, fd), fd);
  close(mine);
  msoauth_http_free(&http);
  assert_int_equal(fd_of(other), fd);
  close(fd);
}

static void test_connection_reuse(void **state) {
  struct msoauth_http *http = new_http(0, emu.ca, NULL);
  struct msoauth_http_response resp;
  struct msoauth_err err;
  struct msoauth_buf form;
  (void)state;

  assert_int_equal(msoauth_http_connects(http), 0);
  for (int i = 0; i < 20; i++) {
    /* GETs and POSTs alternate on the same connection. */
    if (i % 2 == 0) {
      cc_form(&form);
      assert_int_equal(msoauth_http_request(http, token_url, &form,
                                            deadline_in(10000), &resp, &err),
                       MSOAUTH_OK);
      msoauth_buf_free(&form);
    } else {
      assert_int_equal(msoauth_http_request(http, discovery_url, NULL,
                                            deadline_in(10000), &resp, &err),
                       MSOAUTH_OK);
    }
    assert_int_equal(resp.status, 200);
    msoauth_http_response_free(&resp);
  }
  assert_true(msoauth_http_connects(http) <= 1); /* 0: found in the cache */
  msoauth_http_free(&http);
  assert_int_equal(emu_count(&emu, "total"), 20);
  assert_int_equal(emu_count(&emu, "connections"), 1);
}

/* A handle per call, as the PAM module makes them: one connection. */
static void test_connection_shared(void **state) {
  (void)state;

  for (int i = 0; i < 10; i++) {
    struct msoauth_http *http = new_http(0, emu.ca, NULL);

    get_discovery(http);
    if (i > 0)
      assert_int_equal(msoauth_http_connects(http), 0);
    msoauth_http_free(&http);
  }
  assert_int_equal(emu_count(&emu, "total"), 10);
  assert_int_equal(emu_count(&emu, "connections"), 1);
}

/* Threads sharing one handle (a threaded SASL client shares the plugin's):
 * their requests take turns, and all succeed. */
static int thread_ok = 1, thread_bad = 0;

static void *discovery_thread(void *arg) {
  for (int i = 0; i < 10; i++) {
    struct msoauth_http_response resp;
    struct msoauth_err err;
    int good = msoauth_http_request(arg, discovery_url, NULL,
                                    deadline_in(20000), &resp,
                                    &err) == MSOAUTH_OK &&
               resp.status == 200;

    msoauth_http_response_free(&resp);
    if (!good)
      return &thread_bad;
  }
  return &thread_ok;
}

static void test_threads_share_handle(void **state) {
  struct msoauth_http *http = new_http(0, emu.ca, NULL);
  pthread_t threads[4];
  void *result;
  (void)state;

  for (int i = 0; i < 4; i++)
    assert_int_equal(
        pthread_create(&threads[i], NULL, discovery_thread, http), 0);
  for (int i = 0; i < 4; i++) {
    assert_int_equal(pthread_join(threads[i], &result), 0);
    assert_int_equal(*(const int *)result, 1);
  }
  msoauth_http_free(&http);
  assert_int_equal(emu_count(&emu, "total"), 40);
  assert_int_equal(emu_count(&emu, "connections"), 1);
}

/* A child of fork() opens its own connection and leaves its parent's
 * alone: the parent goes on over the one it had. */
static void test_connection_fork(void **state) {
  struct msoauth_http *http = new_http(0, emu.ca, NULL);
  pid_t pid;
  int status;
  (void)state;

  get_discovery(http);
  msoauth_http_free(&http);
  pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    struct msoauth_http *child = new_http(0, emu.ca, NULL);
    struct msoauth_http_response resp;
    struct msoauth_err err;
    int ok = msoauth_http_request(child, discovery_url, NULL,
                                  deadline_in(10000), &resp,
                                  &err) == MSOAUTH_OK &&
             resp.status == 200 && msoauth_http_connects(child) == 1;

    msoauth_http_response_free(&resp);
    msoauth_http_free(&child);
    _exit(ok ? 0 : 1);
  }
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  http = new_http(0, emu.ca, NULL);
  get_discovery(http);
  assert_int_equal(msoauth_http_connects(http), 0);
  msoauth_http_free(&http);
  assert_int_equal(emu_count(&emu, "total"), 3);
  assert_int_equal(emu_count(&emu, "connections"), 2);
}

/* Sockets an exec'd program inherits: ls lists its own descriptors. */
static int inherited_sockets(void) {
  FILE *p = popen("ls -l /proc/self/fd/ 2>&1", "r");
  char line[512];
  int sockets = 0;

  assert_non_null(p);
  while (fgets(line, sizeof(line), p) != NULL)
    if (strstr(line, "socket:") != NULL) {
      fprintf(stderr, "# inherited: %s", line);
      sockets++;
    }
  assert_int_equal(pclose(p), 0);
  return sockets;
}

/* The kept TLS connection (and libcurl's own sockets) never reach a
 * program this process execs, such as su's shell. */
static void test_sockets_cloexec(void **state) {
  struct msoauth_http *http = new_http(0, emu.ca, NULL);
  (void)state;

  get_discovery(http);
  assert_int_equal(inherited_sockets(), 0);
  get_discovery(http);
  assert_int_equal(inherited_sockets(), 0);
  msoauth_http_free(&http);
  assert_int_equal(emu_count(&emu, "connections"), 1);
}

/* A handle made before fork() and used in the child: the child opens its
 * own connection and leaves the parent's alone, which goes on working. */
static void test_handle_fork(void **state) {
  struct msoauth_http *http = new_http(0, emu.ca, NULL);
  long opened, connections;
  pid_t pid;
  int status;
  (void)state;

  /* The connection may come from the process's cache (an earlier test). */
  get_discovery(http);
  opened = msoauth_http_connects(http);
  connections = emu_count(&emu, "connections");
  pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    struct msoauth_http_response resp;
    struct msoauth_err err;
    long before = msoauth_http_connects(http);
    int ok = msoauth_http_request(http, discovery_url, NULL,
                                  deadline_in(10000), &resp,
                                  &err) == MSOAUTH_OK &&
             resp.status == 200 && msoauth_http_connects(http) == before + 1;

    msoauth_http_response_free(&resp);
    msoauth_http_free(&http);
    _exit(ok ? 0 : 1);
  }
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  assert_int_equal(emu_count(&emu, "connections"), connections + 1);
  /* The parent's connection is still good: no new one. */
  get_discovery(http);
  get_discovery(http);
  assert_int_equal(msoauth_http_connects(http), opened);
  msoauth_http_free(&http);
  assert_int_equal(emu_count(&emu, "total"), 4);
  assert_int_equal(emu_count(&emu, "connections"), connections + 1);
}

/* Log lines caught by the test's sink. */
static char log_text[16384];

static void catch_log(void *arg, enum msoauth_level level, const char *msg) {
  size_t len = strlen(log_text);
  (void)arg;
  (void)level;

  snprintf(log_text + len, sizeof(log_text) - len, "%s\n", msg);
}

static void test_debug_log(void **state) {
  struct msoauth_log log = {catch_log, NULL, MSOAUTH_LOG_DEBUG};
  struct msoauth_http *http = new_http(2, emu.ca, &log);
  struct msoauth_http_response resp;
  struct msoauth_err err;
  struct msoauth_buf form;
  char line[512];
  (void)state;

  log_text[0] = '\0';
  fault("{\"kind\":\"status\",\"status\":500,\"count\":3}");
  cc_form(&form);
  assert_int_equal(msoauth_http_request(http, token_url, &form,
                                        deadline_in(10000), &resp, &err),
                   MSOAUTH_ERR_UNAVAILABLE);
  msoauth_http_response_free(&resp);
  assert_int_equal(msoauth_http_request(http, token_url, &form,
                                        deadline_in(10000), &resp, &err),
                   MSOAUTH_OK);
  msoauth_http_response_free(&resp);
  msoauth_buf_free(&form);
  msoauth_http_free(&http);

  snprintf(line, sizeof(line), "POST %s: HTTP 500", token_url);
  assert_non_null(strstr(log_text, line));
  snprintf(line, sizeof(line), "POST %s: HTTP 200", token_url);
  assert_non_null(strstr(log_text, line));
  assert_non_null(strstr(log_text, "(attempt 3)"));
  assert_non_null(strstr(log_text, "retrying"));
  /* Neither the form nor the answer reaches the log or the error. */
  assert_null(strstr(log_text, EMU_CLIENT_SECRET));
  assert_null(strstr(log_text, "client_secret"));
  assert_null(strstr(log_text, "access_token"));
  assert_null(strstr(err.detail, EMU_CLIENT_SECRET));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_url_encode),
      cmocka_unit_test(test_url_encode_long),
      cmocka_unit_test(test_form),
      cmocka_unit_test(test_now_ms),
      cmocka_unit_test_setup(test_huge, reset),
      cmocka_unit_test_setup(test_bad_ca, reset),
      cmocka_unit_test_setup(test_get, reset),
      cmocka_unit_test_setup(test_post, reset),
      cmocka_unit_test_setup(test_4xx_is_an_answer, reset),
      cmocka_unit_test_setup(test_tricky_password, reset),
      cmocka_unit_test_setup(test_retry_then_success, reset),
      cmocka_unit_test_setup(test_retries_exhausted, reset),
      cmocka_unit_test_setup(test_no_retries, reset),
      cmocka_unit_test_setup(test_retry_after, reset),
      cmocka_unit_test_setup(test_retry_after_date, reset),
      cmocka_unit_test_setup(test_retry_after_too_long, reset),
      cmocka_unit_test_setup(test_timeout, reset),
      cmocka_unit_test_setup(test_no_time_left, reset),
      cmocka_unit_test_setup(test_body_at_cap, reset),
      cmocka_unit_test_setup(test_close_mid_body, reset),
      cmocka_unit_test_setup(test_redirect, reset),
      cmocka_unit_test_setup(test_not_https, reset),
      cmocka_unit_test_setup(test_refused, reset),
      cmocka_unit_test_setup(test_proxy, reset),
      cmocka_unit_test_setup(test_other_ca, reset),
      cmocka_unit_test_setup(test_wrong_host, reset),
      cmocka_unit_test_setup(test_ca_in_memory, reset),
      cmocka_unit_test_setup(test_ca_read_by_first_request, reset),
      cmocka_unit_test_setup(test_ca_descriptor_reused, reset),
      cmocka_unit_test_setup(test_connection_reuse, reset),
      cmocka_unit_test_setup(test_connection_shared, reset),
      cmocka_unit_test_setup(test_connection_fork, reset),
      cmocka_unit_test_setup(test_threads_share_handle, reset),
      cmocka_unit_test_setup(test_sockets_cloexec, reset),
      cmocka_unit_test_setup(test_handle_fork, reset),
      cmocka_unit_test_setup(test_debug_log, reset),
  };

  return cmocka_run_group_tests(tests, setup, teardown);
}
