/*
 * test_framing.c - the bytes of the XOAUTH2 and OAUTHBEARER initial
 * responses and the reading of the server's error challenge
 * (sasl_xoauth2/framing.c), without libsasl2.
 */
#include "config_build.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "framing.h"

#define TOKEN "eyJ0eXAi.eyJhdWQi.c2ln"

/* Builds f into a buffer of at most max bytes; returns the result and
 * leaves the bytes in buf (the caller frees it). */
static msoauth_rc build(const struct xoauth2_frame *f, size_t max,
                        struct msoauth_buf *buf) {
  msoauth_buf_init(buf, max, 1);
  return xoauth2_frame_build(f, buf);
}

static void expect_frame(const struct xoauth2_frame *f, const char *want,
                         size_t want_len) {
  struct msoauth_buf buf;

  assert_int_equal(build(f, 4096, &buf), MSOAUTH_OK);
  assert_int_equal(buf.len, want_len);
  assert_memory_equal(buf.data, want, want_len);
  msoauth_buf_free(&buf);
}

static void test_xoauth2_frame(void **state) {
  /* XOAUTH2 takes neither host nor port, even when the server has them. */
  struct xoauth2_frame f = {
      0,     "alice@contoso.com", "imap.example.org", "127.0.0.1;993",
      TOKEN, strlen(TOKEN)};
  static const char want[] =
      "user=alice@contoso.com\001auth=Bearer " TOKEN "\001\001";

  (void)state;
  expect_frame(&f, want, sizeof(want) - 1);
}

static void test_bearer_frame(void **state) {
  struct xoauth2_frame f = {
      1,     "alice@contoso.com", "imap.example.org", "127.0.0.1;993",
      TOKEN, strlen(TOKEN)};
  static const char want[] = "n,a=alice@contoso.com,\001host=imap.example.org"
                             "\001port=993\001auth=Bearer " TOKEN "\001\001";

  (void)state;
  expect_frame(&f, want, sizeof(want) - 1);
}

/* RFC 7628 saslname: ',' and '=' escaped, nothing else. */
static void test_bearer_saslname(void **state) {
  struct xoauth2_frame f = {1, "a,b=c=,@x.org", NULL, NULL, "t", 1};
  static const char want[] = "n,a=a=2Cb=3Dc=3D=2C@x.org,\001auth=Bearer t"
                             "\001\001";

  (void)state;
  expect_frame(&f, want, sizeof(want) - 1);
}

/* A host that could forge a field, or none, or an unusable port: left out. */
static void test_bearer_leaves_out(void **state) {
  static const char want[] = "n,a=u@x.org,\001auth=Bearer t\001\001";
  const char *hosts[] = {NULL, "", "evil\001auth=Bearer x", "a\nb", "a\x7f"};
  const char *remotes[] = {
      NULL,          "",           "127.0.0.1",
      "127.0.0.1;",  "1.2.3.4;0",  "1.2.3.4;65536",
      "1.2.3.4;12a", "1.2.3.4;-5", "1.2.3.4;99999999999999999999999"};

  (void)state;
  for (size_t h = 0; h < sizeof(hosts) / sizeof(hosts[0]); h++)
    for (size_t r = 0; r < sizeof(remotes) / sizeof(remotes[0]); r++) {
      struct xoauth2_frame f = {1, "u@x.org", hosts[h], remotes[r], "t", 1};

      expect_frame(&f, want, sizeof(want) - 1);
    }
}

static void test_remote_port(void **state) {
  (void)state;
  assert_int_equal(xoauth2_remote_port("127.0.0.1;143"), 143);
  assert_int_equal(xoauth2_remote_port("::1;1"), 1);
  assert_int_equal(xoauth2_remote_port("a;b;65535"), 65535);
  assert_int_equal(xoauth2_remote_port("x;65536"), 0);
  assert_int_equal(xoauth2_remote_port("x;0"), 0);
  assert_int_equal(xoauth2_remote_port("x;25 "), 0);
  assert_int_equal(xoauth2_remote_port("25"), 0);
  assert_int_equal(xoauth2_remote_port(NULL), 0);
}

static void test_has_ctl(void **state) {
  (void)state;
  assert_false(xoauth2_has_ctl("", 0));
  assert_false(xoauth2_has_ctl("plain ~ text\xc3\xbc", 14));
  assert_true(xoauth2_has_ctl("a\001", 2));
  assert_true(xoauth2_has_ctl("a\0b", 3)); /* NUL inside the length */
  assert_true(xoauth2_has_ctl("\x7f", 1));
  assert_true(xoauth2_has_ctl("x\r\n", 3));
  assert_false(xoauth2_has_ctl("a\001", 1)); /* only len bytes are read */
}

/* The word-at-a-time check agrees with the byte rule for every byte value
 * at every position of a word and of the tail, among neighbours that are
 * and are not control characters themselves (a borrow must not hide or
 * invent one). */
static void test_has_ctl_words(void **state) {
  const unsigned char fills[] = {'a', 0x20, 0x21, 0x7e, 0x80, 0xff, 0x1f};
  char s[19];

  (void)state;
  for (size_t f = 0; f < sizeof(fills); f++)
    for (size_t pos = 0; pos < sizeof(s); pos++)
      for (int b = 0; b < 256; b++) {
        int want;

        memset(s, fills[f], sizeof(s));
        s[pos] = (char)b;
        want = fills[f] == 0x1f || b < 0x20 || b == 0x7f;
        assert_int_equal(xoauth2_has_ctl(s, sizeof(s)), want);
      }
}

/* A frame past the buffer's cap fails and leaves nothing behind. */
static void test_frame_cap(void **state) {
  struct xoauth2_frame f = {1, "u@x.org", "h", "a;1", TOKEN, strlen(TOKEN)};
  struct msoauth_buf buf;

  (void)state;
  assert_int_equal(build(&f, 40, &buf), MSOAUTH_ERR_INVALID);
  assert_null(buf.data);
  assert_int_equal(buf.len, 0);
  msoauth_buf_free(&buf);
}

struct status_case {
  const char *in;
  size_t size;
  const char *want;
};

static void test_challenge_status(void **state) {
  static const struct status_case cases[] = {
      {"{\"status\":\"invalid_token\",\"schemes\":\"bearer\","
       "\"scope\":\"https://outlook.office.com/IMAP.AccessAsUser.All\"}",
       64, "invalid_token"},
      {"{\"status\":\"401\",\"schemes\":\"Bearer\"}", 64, "401"},
      {"{\"schemes\":\"bearer\"}", 64, "unknown"},   /* no status */
      {"{\"status\":401}", 64, "unknown"},           /* not a string */
      {"{\"status\":null}", 64, "unknown"},          /* not a string */
      {"{\"status\":\"\"}", 64, "unknown"},          /* empty */
      {"{\"status\":\"a\\nb\"}", 64, "unknown"},     /* a forged line */
      {"{\"status\":\"a\\u0001b\"}", 64, "unknown"}, /* a forged field */
      {"{\"status\":\"123456789\"}", 10, "123456789"},
      {"{\"status\":\"1234567890\"}", 10, "unknown"}, /* too long */
      {"{\"status\":\"x\"} trailing", 64, "unknown"},
      {"[\"status\",\"x\"]", 64, "unknown"},
      {"\"status\"", 64, "unknown"},
      {"", 64, "unknown"},
      {"not json", 64, "unknown"},
  };

  (void)state;
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char status[64];

    memset(status, 'Z', sizeof(status));
    xoauth2_challenge_status(cases[i].in, strlen(cases[i].in), status,
                             cases[i].size);
    if (strcmp(status, cases[i].want) != 0)
      fail_msg("case %zu: \"%s\" instead of \"%s\"", i, status, cases[i].want);
    /* Nothing written past size. */
    if (cases[i].size < sizeof(status))
      assert_int_equal(status[cases[i].size], 'Z');
  }
}

/* The length is the caller's: bytes past it are not read. */
static void test_challenge_status_length(void **state) {
  static const char in[] = "{\"status\":\"ok\"}{\"status\":\"no\"}";
  char status[64];

  (void)state;
  xoauth2_challenge_status(in, 15, status, sizeof(status));
  assert_string_equal(status, "ok");
  xoauth2_challenge_status(in, 14, status, sizeof(status));
  assert_string_equal(status, "unknown");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_xoauth2_frame),
      cmocka_unit_test(test_bearer_frame),
      cmocka_unit_test(test_bearer_saslname),
      cmocka_unit_test(test_bearer_leaves_out),
      cmocka_unit_test(test_remote_port),
      cmocka_unit_test(test_has_ctl),
      cmocka_unit_test(test_has_ctl_words),
      cmocka_unit_test(test_frame_cap),
      cmocka_unit_test(test_challenge_status),
      cmocka_unit_test(test_challenge_status_length),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
