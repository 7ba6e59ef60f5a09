/*
 * test_entra_error.c - Microsoft's error answers become typed results.
 */
#include "config_build.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "entra_error.h"
#include "result.h"

/* Put in every description and must never reach a detail: the description
 * may echo what the user typed. */
#define MARKER "SECRETMARKER"

#define TRAILER                                                                \
  "\\r\\nTrace ID: 0c5f3e1a-7b2d-4c8e-9f01-2a3b4c5d6e00\\r\\nCorrelation "     \
  "ID: 9d8e7f60-5a4b-4c3d-8e2f-1a0b9c8d7e6f\\r\\nTimestamp: 2024-05-01 "       \
  "10:00:00Z"

/* A realistic Microsoft error body for one code. */
static char *ms_body(const char *error, long code) {
  static char body[2048];

  snprintf(body, sizeof(body),
           "{\"error\":\"%s\",\"error_description\":\"AADSTS%ld: Something "
           "about " MARKER " went wrong." TRAILER "\",\"error_codes\":[%ld],"
           "\"timestamp\":\"2024-05-01 10:00:00Z\","
           "\"trace_id\":\"0c5f3e1a-7b2d-4c8e-9f01-2a3b4c5d6e00\","
           "\"correlation_id\":\"9d8e7f60-5a4b-4c3d-8e2f-1a0b9c8d7e6f\","
           "\"error_uri\":\"https://login.microsoftonline.com/error?code=%ld\","
           "\"suberror\":\"basic_action\"}",
           error, code, code, code);
  return body;
}

struct code_case {
  long code;
  const char *error; /* the OAuth error Microsoft sends with it */
  msoauth_rc rc;
};

static const struct code_case code_cases[] = {
    {50126, "invalid_grant", MSOAUTH_ERR_BAD_CREDENTIALS},
    {50034, "invalid_grant", MSOAUTH_ERR_NO_USER},
    {50020, "invalid_grant", MSOAUTH_ERR_NO_USER},
    {90072, "invalid_grant", MSOAUTH_ERR_NO_USER},
    {50053, "invalid_grant", MSOAUTH_ERR_LOCKED},
    {50057, "invalid_grant", MSOAUTH_ERR_DISABLED},
    {50055, "invalid_grant", MSOAUTH_ERR_PASSWORD_EXPIRED},
    {50144, "invalid_grant", MSOAUTH_ERR_PASSWORD_EXPIRED},
    {50076, "invalid_grant", MSOAUTH_ERR_MFA_REQUIRED},
    {50079, "invalid_grant", MSOAUTH_ERR_MFA_REQUIRED},
    {50158, "invalid_grant", MSOAUTH_ERR_MFA_REQUIRED},
    {53003, "invalid_grant", MSOAUTH_ERR_CONDITIONAL_ACCESS},
    {53000, "invalid_grant", MSOAUTH_ERR_CONDITIONAL_ACCESS},
    {53001, "invalid_grant", MSOAUTH_ERR_CONDITIONAL_ACCESS},
    {530032, "invalid_grant", MSOAUTH_ERR_CONDITIONAL_ACCESS},
    {50097, "invalid_grant", MSOAUTH_ERR_CONDITIONAL_ACCESS},
    {700016, "unauthorized_client", MSOAUTH_ERR_CLIENT_CONFIG},
    {7000215, "invalid_client", MSOAUTH_ERR_CLIENT_CONFIG},
    {7000218, "invalid_client", MSOAUTH_ERR_CLIENT_CONFIG},
    {7000222, "invalid_client", MSOAUTH_ERR_CLIENT_CONFIG},
    {90002, "invalid_request", MSOAUTH_ERR_CLIENT_CONFIG},
    {65001, "invalid_grant", MSOAUTH_ERR_CLIENT_CONFIG},
    {700027, "invalid_client", MSOAUTH_ERR_CLIENT_CONFIG},
    {700024, "invalid_client", MSOAUTH_ERR_CLIENT_CONFIG},
    {700021, "invalid_client", MSOAUTH_ERR_CLIENT_CONFIG},
    {700025, "invalid_client", MSOAUTH_ERR_CLIENT_CONFIG},
    {50027, "invalid_client", MSOAUTH_ERR_CLIENT_CONFIG},
    {50059, "invalid_request", MSOAUTH_ERR_CLIENT_CONFIG},
    {90014, "invalid_request", MSOAUTH_ERR_CLIENT_CONFIG},
    {900144, "invalid_request", MSOAUTH_ERR_CLIENT_CONFIG},
    {70011, "invalid_scope", MSOAUTH_ERR_CLIENT_CONFIG},
    {500011, "invalid_resource", MSOAUTH_ERR_CLIENT_CONFIG},
    {700054, "invalid_request", MSOAUTH_ERR_CLIENT_CONFIG},
    {50011, "invalid_request", MSOAUTH_ERR_CLIENT_CONFIG},
    {7000112, "unauthorized_client", MSOAUTH_ERR_CLIENT_CONFIG},
    {70008, "invalid_grant", MSOAUTH_ERR_GRANT_EXPIRED},
    {700082, "invalid_grant", MSOAUTH_ERR_GRANT_EXPIRED},
    {50173, "invalid_grant", MSOAUTH_ERR_GRANT_EXPIRED},
    {70043, "invalid_grant", MSOAUTH_ERR_GRANT_EXPIRED},
    {700084, "invalid_grant", MSOAUTH_ERR_GRANT_EXPIRED},
    {9002313, "invalid_grant", MSOAUTH_ERR_GRANT_EXPIRED},
    {70000, "invalid_grant", MSOAUTH_ERR_GRANT_EXPIRED},
    {50196, "invalid_request", MSOAUTH_ERR_THROTTLED},
    {90055, "invalid_request", MSOAUTH_ERR_THROTTLED},
    {90033, "temporarily_unavailable", MSOAUTH_ERR_UNAVAILABLE},
    {50000, "server_error", MSOAUTH_ERR_UNAVAILABLE},
    /* unknown codes: a safe generic refusal */
    {12345, "invalid_grant", MSOAUTH_ERR_DENIED},
    {9000411, "invalid_request", MSOAUTH_ERR_DENIED},
    {90016, "invalid_request", MSOAUTH_ERR_DENIED},
};

/* Every listed code maps, in a full body, to its result, with the code in
 * err->aadsts and "AADSTS<code>: <advice>" as the detail. */
static void test_every_code(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof(code_cases) / sizeof(code_cases[0]); i++) {
    const struct code_case *c = &code_cases[i];
    const char *body = ms_body(c->error, c->code);
    struct msoauth_err err;
    char want[MSOAUTH_ERR_DETAIL_MAX];
    msoauth_rc rc;

    print_message("# AADSTS%ld\n", c->code);
    memset(&err, 0x5a, sizeof(err));
    rc = msoauth_entra_error(400, body, strlen(body), &err);
    assert_int_equal(rc, c->rc);
    assert_int_equal(err.rc, c->rc);
    assert_int_equal(err.aadsts, c->code);
    assert_int_equal(msoauth_entra_code_rc(c->code), c->rc);
    snprintf(want, sizeof(want), "AADSTS%ld: %s", c->code,
             msoauth_entra_advice(c->code));
    assert_string_equal(err.detail, want);
    /* The whole sentence fits: nothing was cut. */
    assert_true(strlen(want) < sizeof(want) - 1);
    assert_null(strstr(err.detail, MARKER));
    assert_null(strstr(err.detail, "Trace ID"));
  }
}

/* The advice sentences the contract quotes. */
struct advice_case {
  long code;
  const char *advice;
};

static const struct advice_case advice_cases[] = {
    {50126, "The user name or password is wrong."},
    {50076, "Multi-factor authentication is required: password sign-in "
            "(ROPC) cannot satisfy it. Exclude this app from the MFA policy, "
            "or use auth = refresh with msoauth login."},
    {53003, "Blocked by a Conditional Access policy: ask the administrator to "
            "exempt this sign-in or use another method."},
    {50055, "The password has expired: change it at https://aka.ms/sspr or in "
            "Outlook on the web."},
    {50057, "The account is disabled in Entra ID."},
    {50053, "The account is locked after too many failed sign-ins; wait and "
            "try again."},
    {700016, "client_id is not an app registration of this tenant."},
    {7000215, "The client secret is wrong: use the secret's Value, not its "
              "ID."},
    {7000222, "The client secret has expired: create a new one."},
    {7000218, "This app registration is confidential: configure client_secret "
              "or a certificate, or allow public client flows."},
    {90002, "The tenant does not exist: check `tenant`."},
    {65001, "The app lacks consent: an administrator must grant consent for "
            "its API permissions."},
    {700027, "The certificate was not accepted: upload this certificate to "
             "the app registration."},
    {700024, "The client assertion is outside its validity: check the system "
             "clock."},
    {70008, "The stored sign-in expired or was revoked: run `msoauth login "
            "USER` again."},
    {9002313, "The stored sign-in expired or was revoked: run `msoauth login "
              "USER` again."},
    {50173, "The stored sign-in expired or was revoked: run `msoauth login "
            "USER` again."},
    {12345, "The identity platform refused the request."},
    {0, "The identity platform refused the request."},
    {-1, "The identity platform refused the request."},
};

static void test_advice(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof(advice_cases) / sizeof(advice_cases[0]); i++) {
    print_message("# advice %ld\n", advice_cases[i].code);
    assert_string_equal(msoauth_entra_advice(advice_cases[i].code),
                        advice_cases[i].advice);
  }
  assert_int_equal(msoauth_entra_code_rc(0), MSOAUTH_ERR_DENIED);
  assert_int_equal(msoauth_entra_code_rc(-50126), MSOAUTH_ERR_DENIED);
}

/* Bodies whose OAuth error field matters. */
struct body_case {
  const char *name;
  long status;
  const char *body;
  msoauth_rc rc;
  long aadsts;
  const char *detail_prefix; /* NULL: not checked */
};

static const struct body_case body_cases[] = {
    /* the device flow's states win over the codes Microsoft sends */
    {"pending", 400,
     "{\"error\":\"authorization_pending\",\"error_description\":\"AADSTS70016"
     ": OAuth 2.0 device flow error. Authorization is pending. " MARKER TRAILER
     "\",\"error_codes\":[70016]}",
     MSOAUTH_ERR_PENDING, 70016, "Authorization pending"},
    {"slow down", 400,
     "{\"error\":\"slow_down\",\"error_description\":\"AADSTS70016: " MARKER
         TRAILER "\",\"error_codes\":[70016]}",
     MSOAUTH_ERR_SLOW_DOWN, 70016, "Slow down"},
    {"declined", 400,
     "{\"error\":\"authorization_declined\",\"error_description\":"
     "\"AADSTS70000: The user denied. " MARKER TRAILER "\","
     "\"error_codes\":[70000]}",
     MSOAUTH_ERR_DECLINED, 70000, "The user declined"},
    {"expired", 400,
     "{\"error\":\"expired_token\",\"error_description\":\"AADSTS70020: " MARKER
         TRAILER "\",\"error_codes\":[70020]}",
     MSOAUTH_ERR_CODE_EXPIRED, 70020, "The device code expired"},
    {"bad code", 400,
     "{\"error\":\"bad_verification_code\",\"error_description\":"
     "\"AADSTS70019: " MARKER TRAILER "\",\"error_codes\":[70019]}",
     MSOAUTH_ERR_CODE_EXPIRED, 70019, "The device code is not known"},
    /* without error_codes or a code in the description: the error field */
    {"pending, no code", 400, "{\"error\":\"authorization_pending\"}",
     MSOAUTH_ERR_PENDING, 0, "Authorization pending"},
    {"invalid_client", 401,
     "{\"error\":\"invalid_client\",\"error_description\":\"" MARKER "\"}",
     MSOAUTH_ERR_CLIENT_CONFIG, 0, "invalid_client: "},
    {"unauthorized_client", 400, "{\"error\":\"unauthorized_client\"}",
     MSOAUTH_ERR_CLIENT_CONFIG, 0, "unauthorized_client: "},
    {"invalid_scope", 400, "{\"error\":\"invalid_scope\"}",
     MSOAUTH_ERR_CLIENT_CONFIG, 0, "invalid_scope: "},
    {"invalid_grant", 400, "{\"error\":\"invalid_grant\"}", MSOAUTH_ERR_DENIED,
     0, "invalid_grant: The identity platform refused the request."},
    {"unknown error echoed never", 400,
     "{\"error\":\"" MARKER "\",\"error_description\":\"" MARKER "\"}",
     MSOAUTH_ERR_DENIED, 0, "HTTP 400: The identity platform refused"},
    /* an unknown code with a known error: the error decides */
    {"unknown code, invalid_scope", 400,
     "{\"error\":\"invalid_scope\",\"error_description\":\"AADSTS28000: " MARKER
         TRAILER "\",\"error_codes\":[28000]}",
     MSOAUTH_ERR_CLIENT_CONFIG, 28000, "AADSTS28000: "},
    {"unknown code, invalid_grant", 400,
     "{\"error\":\"invalid_grant\",\"error_codes\":[12345]}",
     MSOAUTH_ERR_DENIED, 12345,
     "AADSTS12345: The identity platform refused the request."},
    /* the first known code decides */
    {"first known code", 400,
     "{\"error\":\"invalid_grant\",\"error_codes\":[12345,50126,50053]}",
     MSOAUTH_ERR_BAD_CREDENTIALS, 50126, "AADSTS50126: "},
    /* no error_codes: the description's leading code */
    {"description code", 400,
     "{\"error\":\"invalid_grant\",\"error_description\":\"AADSTS50126: "
     "Error validating credentials. " MARKER TRAILER "\"}",
     MSOAUTH_ERR_BAD_CREDENTIALS, 50126, "AADSTS50126: "},
    {"description code, no colon", 400,
     "{\"error\":\"invalid_grant\",\"error_description\":\"AADSTS50126 " MARKER
     "\"}",
     MSOAUTH_ERR_DENIED, 0, "invalid_grant: "},
    {"description code not first", 400,
     "{\"error\":\"invalid_grant\",\"error_description\":\"" MARKER
     " AADSTS50126: x\"}",
     MSOAUTH_ERR_DENIED, 0, "invalid_grant: "},
    {"description code too long", 400,
     "{\"error\":\"invalid_grant\",\"error_description\":"
     "\"AADSTS99999999999999999999: x\"}",
     MSOAUTH_ERR_DENIED, 0, "invalid_grant: "},
    /* error_codes of the wrong type counts as absent */
    {"codes a string", 400,
     "{\"error\":\"invalid_grant\",\"error_description\":\"AADSTS50053: " MARKER
     "\",\"error_codes\":\"50126\"}",
     MSOAUTH_ERR_LOCKED, 50053, "AADSTS50053: "},
    {"codes hold a string", 400,
     "{\"error\":\"invalid_grant\",\"error_description\":\"AADSTS50057: " MARKER
     "\",\"error_codes\":[\"50126\"]}",
     MSOAUTH_ERR_DISABLED, 50057, "AADSTS50057: "},
    {"codes hold a string, no description", 400,
     "{\"error\":\"invalid_grant\",\"error_codes\":[\"50126\"]}",
     MSOAUTH_ERR_DENIED, 0, "invalid_grant: "},
    {"codes mixed", 400,
     "{\"error\":\"invalid_grant\",\"error_codes\":[50126,\"x\"]}",
     MSOAUTH_ERR_DENIED, 0, "invalid_grant: "},
    {"codes empty", 400,
     "{\"error\":\"invalid_grant\",\"error_description\":\"AADSTS50034: " MARKER
     "\",\"error_codes\":[]}",
     MSOAUTH_ERR_NO_USER, 50034, "AADSTS50034: "},
    {"codes an object", 400,
     "{\"error\":\"invalid_grant\",\"error_codes\":{\"a\":50126}}",
     MSOAUTH_ERR_DENIED, 0, "invalid_grant: "},
    {"codes a float", 400,
     "{\"error\":\"invalid_grant\",\"error_codes\":[50126.0]}",
     MSOAUTH_ERR_DENIED, 0, "invalid_grant: "},
    {"codes negative", 400,
     "{\"error\":\"invalid_grant\",\"error_codes\":[-50126]}",
     MSOAUTH_ERR_DENIED, 0, "invalid_grant: "},
    {"codes null", 400, "{\"error\":\"invalid_grant\",\"error_codes\":null}",
     MSOAUTH_ERR_DENIED, 0, "invalid_grant: "},
    {"codes huge", 400,
     "{\"error\":\"invalid_grant\",\"error_codes\":[99999999999999999999]}",
     MSOAUTH_ERR_DENIED, 0, "invalid_grant: "},
    {"description a number", 400,
     "{\"error\":\"invalid_grant\",\"error_description\":50126}",
     MSOAUTH_ERR_DENIED, 0, "invalid_grant: "},
    /* error of the wrong type: the codes still decide */
    {"error a number", 400, "{\"error\":7,\"error_codes\":[50126]}",
     MSOAUTH_ERR_BAD_CREDENTIALS, 50126, "AADSTS50126: "},
    /* not an error answer */
    {"error a number, no code", 400, "{\"error\":7}", MSOAUTH_ERR_PROTOCOL, 0,
     "HTTP 400 without an error body"},
    {"empty object", 400, "{}", MSOAUTH_ERR_PROTOCOL, 0,
     "HTTP 400 without an error body"},
    {"array", 400, "[{\"error\":\"invalid_grant\"}]", MSOAUTH_ERR_PROTOCOL, 0,
     "HTTP 400 without an error body"},
    {"string", 401, "\"invalid_grant\"", MSOAUTH_ERR_PROTOCOL, 0,
     "HTTP 401 without an error body"},
    {"number", 400, "50126", MSOAUTH_ERR_PROTOCOL, 0,
     "HTTP 400 without an error body"},
    {"truncated", 400, "{\"error\":\"invalid_grant\",\"error_codes\":[501",
     MSOAUTH_ERR_PROTOCOL, 0, "HTTP 400 without an error body"},
    {"trailing garbage", 400, "{\"error\":\"invalid_grant\"} x",
     MSOAUTH_ERR_PROTOCOL, 0, "HTTP 400 without an error body"},
    {"html", 502, "<html><body>Bad Gateway " MARKER "</body></html>",
     MSOAUTH_ERR_PROTOCOL, 0, "HTTP 502 without an error body"},
    {"empty", 400, "", MSOAUTH_ERR_PROTOCOL, 0,
     "HTTP 400 without an error body"},
};

static void test_bodies(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof(body_cases) / sizeof(body_cases[0]); i++) {
    const struct body_case *c = &body_cases[i];
    struct msoauth_err err;
    msoauth_rc rc;

    print_message("# %s\n", c->name);
    memset(&err, 0x5a, sizeof(err));
    rc = msoauth_entra_error(c->status, c->body, strlen(c->body), &err);
    assert_int_equal(rc, c->rc);
    assert_int_equal(err.rc, c->rc);
    assert_int_equal(err.aadsts, c->aadsts);
    assert_non_null(memchr(err.detail, '\0', sizeof(err.detail)));
    if (c->detail_prefix != NULL)
      assert_memory_equal(err.detail, c->detail_prefix,
                          strlen(c->detail_prefix));
    assert_null(strstr(err.detail, MARKER));
    /* A NULL err is allowed and gives the same result. */
    assert_int_equal(
        msoauth_entra_error(c->status, c->body, strlen(c->body), NULL), c->rc);
  }
}

/* The body is read by length: what follows it does not count. */
static void test_length_bounds_body(void **state) {
  static const char body[] = "{\"error\":\"invalid_grant\",\"error_codes\":"
                             "[50126]}GARBAGE";
  struct msoauth_err err;

  (void)state;
  assert_int_equal(msoauth_entra_error(400, body, strlen(body) - 7, &err),
                   MSOAUTH_ERR_BAD_CREDENTIALS);
  assert_int_equal(msoauth_entra_error(400, body, strlen(body), &err),
                   MSOAUTH_ERR_PROTOCOL);
  assert_int_equal(msoauth_entra_error(400, NULL, 0, &err),
                   MSOAUTH_ERR_PROTOCOL);
  assert_string_equal(err.detail, "HTTP 400 without an error body");
  assert_int_equal(err.aadsts, 0);
}

/* A 1 MB body, valid JSON, is refused unparsed. */
static void test_huge_body(void **state) {
  const size_t size = 1024 * 1024;
  const char *head = "{\"error\":\"invalid_grant\",\"error_codes\":[50126],"
                     "\"error_description\":\"";
  char *body = malloc(size + 1);
  size_t n = strlen(head);
  struct msoauth_err err;

  (void)state;
  assert_non_null(body);
  memcpy(body, head, n);
  memset(body + n, 'A', size - n - 2);
  memcpy(body + size - 2, "\"}", 3);
  assert_int_equal(strlen(body), size);
  assert_int_equal(msoauth_entra_error(400, body, size, &err),
                   MSOAUTH_ERR_PROTOCOL);
  assert_int_equal(err.rc, MSOAUTH_ERR_PROTOCOL);
  assert_non_null(strstr(err.detail, "HTTP 400"));
  assert_null(strstr(err.detail, "AAAA"));
  free(body);
}

/* Deep nesting does not crash the reader. */
static void test_deep_nesting(void **state) {
  char body[4096];
  size_t n = 0;
  struct msoauth_err err;

  (void)state;
  n += (size_t)snprintf(body, sizeof(body),
                        "{\"error\":\"invalid_grant\","
                        "\"x\":");
  for (int i = 0; i < 1000; i++)
    body[n++] = '[';
  for (int i = 0; i < 1000; i++)
    body[n++] = ']';
  body[n++] = '}';
  body[n] = '\0';
  assert_int_equal(msoauth_entra_error(400, body, n, &err),
                   MSOAUTH_ERR_PROTOCOL);
}

/* A Microsoft body as the emulator and the service send it, suberror and
 * all, for the PAM table's codes. */
static void test_pam_outcomes(void **state) {
  static const struct {
    long code;
    msoauth_rc rc;
  } table[] = {
      {50126, MSOAUTH_ERR_BAD_CREDENTIALS},
      {50034, MSOAUTH_ERR_NO_USER},
      {50053, MSOAUTH_ERR_LOCKED},
      {50057, MSOAUTH_ERR_DISABLED},
      {50055, MSOAUTH_ERR_PASSWORD_EXPIRED},
      {50076, MSOAUTH_ERR_MFA_REQUIRED},
      {50079, MSOAUTH_ERR_MFA_REQUIRED},
      {50158, MSOAUTH_ERR_MFA_REQUIRED},
      {53003, MSOAUTH_ERR_CONDITIONAL_ACCESS},
  };

  (void)state;
  for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
    const char *body = ms_body("invalid_grant", table[i].code);
    struct msoauth_err err;
    char prefix[32];

    snprintf(prefix, sizeof(prefix), "AADSTS%ld: ", table[i].code);
    assert_int_equal(msoauth_entra_error(400, body, strlen(body), &err),
                     table[i].rc);
    assert_memory_equal(err.detail, prefix, strlen(prefix));
    assert_string_equal(err.detail + strlen(prefix),
                        msoauth_entra_advice(table[i].code));
  }
}

/* A standard server's answers (RFC 6749 section 5.2, RFC 8628 section
 * 3.5): no AADSTS code, the OAuth error decides, and err->why names the
 * errors a grant answers by its standard (issue 14, items 2-4). */
struct rfc_case {
  const char *error;
  msoauth_rc rc;
  enum msoauth_why why;
};

static const struct rfc_case rfc_cases[] = {
    {"access_denied", MSOAUTH_ERR_DECLINED, MSOAUTH_WHY_NONE},
    {"authorization_pending", MSOAUTH_ERR_PENDING, MSOAUTH_WHY_NONE},
    {"invalid_client", MSOAUTH_ERR_CLIENT_CONFIG, MSOAUTH_WHY_INVALID_CLIENT},
    {"invalid_scope", MSOAUTH_ERR_CLIENT_CONFIG, MSOAUTH_WHY_INVALID_SCOPE},
    {"invalid_grant", MSOAUTH_ERR_DENIED, MSOAUTH_WHY_INVALID_GRANT},
    {"unsupported_grant_type", MSOAUTH_ERR_DENIED, MSOAUTH_WHY_NONE},
};

static void test_rfc_errors(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof(rfc_cases) / sizeof(rfc_cases[0]); i++) {
    const struct rfc_case *c = &rfc_cases[i];
    struct msoauth_err err;
    char body[256];

    print_message("# %s\n", c->error);
    snprintf(body, sizeof(body),
             "{\"error\":\"%s\",\"error_description\":\"" MARKER "\"}",
             c->error);
    assert_int_equal(msoauth_entra_error(400, body, strlen(body), &err),
                     c->rc);
    assert_int_equal(err.why, c->why);
    assert_int_equal(err.aadsts, 0);
    assert_null(strstr(err.detail, MARKER));
  }
}

/* Entra's invalid_grant with a known code keeps the code's result; why
 * still says invalid_grant. */
static void test_why_with_code(void **state) {
  struct msoauth_err err;
  const char *body = ms_body("invalid_scope", 70011);

  (void)state;
  assert_int_equal(msoauth_entra_error(400, body, strlen(body), &err),
                   MSOAUTH_ERR_CLIENT_CONFIG);
  assert_int_equal(err.aadsts, 70011);
  assert_int_equal(err.why, MSOAUTH_WHY_INVALID_SCOPE);
  body = ms_body("invalid_grant", 50126);
  assert_int_equal(msoauth_entra_error(400, body, strlen(body), &err),
                   MSOAUTH_ERR_BAD_CREDENTIALS);
  assert_int_equal(err.why, MSOAUTH_WHY_INVALID_GRANT);
}

/* The description as a log line may show it: CR, LF, ESC and C1 made '?',
 * cut to the buffer; "" without one or for what is not an error body. */
static void test_description(void **state) {
  char out[64];
  const char *body;

  (void)state;
  body = ms_body("invalid_grant", 50126);
  msoauth_entra_description(body, strlen(body), out, sizeof(out));
  assert_memory_equal(out, "AADSTS50126: Something about " MARKER,
                      strlen("AADSTS50126: Something about " MARKER));
  assert_null(strchr(out, '\r'));
  assert_null(strchr(out, '\n'));
  assert_true(strlen(out) < sizeof(out));
  assert_non_null(strstr(out, "..."));
  body = "{\"error\":\"x\",\"error_description\":\"a\\u001b[2Jb\\r\\nc\"}";
  msoauth_entra_description(body, strlen(body), out, sizeof(out));
  assert_string_equal(out, "a?[2Jb??c");
  body = "{\"error\":\"x\"}";
  msoauth_entra_description(body, strlen(body), out, sizeof(out));
  assert_string_equal(out, "");
  body = "{\"error\":\"x\",\"error_description\":7}";
  msoauth_entra_description(body, strlen(body), out, sizeof(out));
  assert_string_equal(out, "");
  msoauth_entra_description("<html>", 6, out, sizeof(out));
  assert_string_equal(out, "");
  msoauth_entra_description(NULL, 0, out, sizeof(out));
  assert_string_equal(out, "");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_code),
      cmocka_unit_test(test_advice),
      cmocka_unit_test(test_bodies),
      cmocka_unit_test(test_length_bounds_body),
      cmocka_unit_test(test_huge_body),
      cmocka_unit_test(test_deep_nesting),
      cmocka_unit_test(test_pam_outcomes),
      cmocka_unit_test(test_rfc_errors),
      cmocka_unit_test(test_why_with_code),
      cmocka_unit_test(test_description),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
