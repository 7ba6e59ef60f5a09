/*
 * test_jwt.c - reading the claims of tokens shaped like Entra ID's.
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

#include "base64.h"
#include "buf.h"
#include "jwt.h"
#include "result.h"

#define TID "7f0d5b1e-3c2a-4e8b-9a61-2b5c8d4e1f00"
#define OID "6e1c4a2b-8d3f-4b5a-9c7e-0f1a2b3c4d5e"
#define HEADER_V1                                                              \
  "{\"typ\":\"JWT\",\"nonce\":\"mSx0cBqNPlNl8vQbB2kYvA\",\"alg\":\"RS256\","   \
  "\"x5t\":\"kWbkaa6qs8wsTnBwiiNYOhHbnAw\",\"kid\":"                           \
  "\"kWbkaa6qs8wsTnBwiiNYOhHbnAw\"}"
#define HEADER_V2                                                              \
  "{\"typ\":\"JWT\",\"alg\":\"RS256\",\"kid\":"                                \
  "\"kWbkaa6qs8wsTnBwiiNYOhHbnAw\"}"
/* A stand-in signature: it is not checked, but must be base64url. */
#define SIG "c2lnbmF0dXJlLWJ5dGVzLW5vdC1jaGVja2Vk"

/* base64url of s, appended to buf. */
static void add_b64(struct msoauth_buf *buf, const char *s) {
  assert_int_equal(msoauth_base64_encode(buf, s, strlen(s), 1), MSOAUTH_OK);
}

/* HEADER.PAYLOAD.SIG from JSON texts; the caller frees it. */
static char *make_jwt(const char *header, const char *payload) {
  struct msoauth_buf buf;

  msoauth_buf_init(&buf, 1024 * 1024, 0);
  add_b64(&buf, header);
  assert_int_equal(msoauth_buf_adds(&buf, "."), MSOAUTH_OK);
  add_b64(&buf, payload);
  assert_int_equal(msoauth_buf_adds(&buf, "." SIG), MSOAUTH_OK);
  return msoauth_buf_take(&buf);
}

/* Decodes a token made of header and payload; returns the result. */
static msoauth_rc decode(const char *header, const char *payload,
                         struct msoauth_claims *claims,
                         struct msoauth_err *err) {
  char *jwt = make_jwt(header, payload);
  msoauth_rc rc = msoauth_jwt_decode(jwt, strlen(jwt), claims, err);

  free(jwt);
  return rc;
}

static void assert_cleared(const struct msoauth_claims *c) {
  static const struct msoauth_claims zero;

  assert_memory_equal(c, &zero, sizeof(zero));
}

/* A v1.0 delegated access token for Exchange Online, as ROPC returns it. */
static void test_delegated_outlook(void **state) {
  static const char payload[] =
      "{\"aud\":\"https://outlook.office.com\",\"iss\":\"https://sts.windows."
      "net/" TID "/\",\"iat\":1714557600,\"nbf\":1714557600,"
      "\"exp\":1714561499,\"acct\":0,\"acr\":\"1\",\"aio\":\"E2NgYJj\","
      "\"amr\":[\"pwd\"],\"app_displayname\":\"msoauth\","
      "\"appid\":\"11111111-1111-1111-1111-111111111111\",\"appidacr\":\"0\","
      "\"enfpolids\":[],\"family_name\":\"Smith\",\"given_name\":\"Alice\","
      "\"idtyp\":\"user\",\"ipaddr\":\"203.0.113.5\",\"name\":\"Alice Smith\","
      "\"oid\":\"" OID "\",\"puid\":\"10032001A2B3C4D5\","
      "\"scp\":\"IMAP.AccessAsUser.All POP.AccessAsUser.All SMTP.Send\","
      "\"sid\":\"8f1e\",\"sub\":\"q3-5aBcD\",\"tid\":\"" TID "\","
      "\"unique_name\":\"alice@contoso.com\",\"upn\":\"alice@contoso.com\","
      "\"uti\":\"AbCd\",\"ver\":\"1.0\",\"wids\":[\"b79fbf4d\"]}";
  struct msoauth_claims c;
  struct msoauth_err err;

  (void)state;
  assert_int_equal(decode(HEADER_V1, payload, &c, &err), MSOAUTH_OK);
  assert_string_equal(c.upn, "alice@contoso.com");
  assert_string_equal(c.unique_name, "alice@contoso.com");
  assert_null(c.preferred_username);
  assert_string_equal(c.oid, OID);
  assert_string_equal(c.tid, TID);
  assert_string_equal(c.aud, "https://outlook.office.com");
  assert_string_equal(c.appid, "11111111-1111-1111-1111-111111111111");
  assert_string_equal(c.scp,
                      "IMAP.AccessAsUser.All POP.AccessAsUser.All SMTP.Send");
  assert_int_equal(c.n_roles, 0);
  assert_null(c.roles);
  assert_int_equal(c.n_groups, 0);
  assert_int_equal(c.groups_overage, 0);
  assert_int_equal(c.exp, 1714561499LL);
  assert_int_equal(c.iat, 1714557600LL);
  assert_int_equal(c.nbf, 1714557600LL);
  assert_string_equal(msoauth_claims_identity(&c), "alice@contoso.com");
  msoauth_claims_clear(&c);
  assert_cleared(&c);
}

/* A v2.0 id_token with groups; aud as an array; azp for the app. */
static void test_v2_id_token(void **state) {
  static const char payload[] =
      "{\"aud\":[\"11111111-1111-1111-1111-111111111111\",\"other\"],"
      "\"iss\":\"https://login.microsoftonline.com/" TID "/v2.0\","
      "\"iat\":1714557600,\"nbf\":1714557600,\"exp\":1714561500,"
      "\"azp\":\"11111111-1111-1111-1111-111111111111\","
      "\"groups\":[\"aaaaaaaa-0000-0000-0000-000000000001\","
      "\"aaaaaaaa-0000-0000-0000-000000000002\"],"
      "\"name\":\"Alice Smith\",\"oid\":\"" OID "\","
      "\"preferred_username\":\"Alice@Contoso.com\",\"rh\":\"0.AR8\","
      "\"sub\":\"q3-5aBcD\",\"tid\":\"" TID "\",\"uti\":\"x\","
      "\"ver\":\"2.0\"}";
  struct msoauth_claims c;

  (void)state;
  assert_int_equal(decode(HEADER_V2, payload, &c, NULL), MSOAUTH_OK);
  assert_null(c.upn);
  assert_string_equal(c.preferred_username, "Alice@Contoso.com");
  assert_string_equal(msoauth_claims_identity(&c), "Alice@Contoso.com");
  assert_string_equal(c.aud, "11111111-1111-1111-1111-111111111111");
  assert_string_equal(c.appid, "11111111-1111-1111-1111-111111111111");
  assert_int_equal(c.n_groups, 2);
  assert_string_equal(c.groups[0], "aaaaaaaa-0000-0000-0000-000000000001");
  assert_string_equal(c.groups[1], "aaaaaaaa-0000-0000-0000-000000000002");
  assert_int_equal(c.groups_overage, 0);
  assert_int_equal(c.exp, 1714561500LL);
  msoauth_claims_clear(&c);
  assert_cleared(&c);
}

/* Past the groups limit, the id token points at Graph instead. */
static void test_overage(void **state) {
  static const char *const payloads[] = {
      "{\"aud\":\"1111\",\"preferred_username\":\"groupie@contoso.com\","
      "\"_claim_names\":{\"groups\":\"src1\"},\"_claim_sources\":{\"src1\":"
      "{\"endpoint\":\"https://graph.microsoft.com/v1.0/users/" OID
      "/getMemberObjects\"}},\"exp\":1714561500}",
      "{\"upn\":\"groupie@contoso.com\",\"hasgroups\":true}",
  };

  (void)state;
  for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
    struct msoauth_claims c;

    assert_int_equal(decode(HEADER_V2, payloads[i], &c, NULL), MSOAUTH_OK);
    assert_int_equal(c.groups_overage, 1);
    assert_int_equal(c.n_groups, 0);
    assert_null(c.groups);
    assert_string_equal(msoauth_claims_identity(&c), "groupie@contoso.com");
    msoauth_claims_clear(&c);
  }
}

/* Claims that look like overage but are not. */
static void test_no_overage(void **state) {
  static const char *const payloads[] = {
      "{\"_claim_names\":{\"wids\":\"src1\"}}",
      "{\"hasgroups\":false}",
      "{\"groups\":[]}",
  };

  (void)state;
  for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
    struct msoauth_claims c;

    assert_int_equal(decode(HEADER_V2, payloads[i], &c, NULL), MSOAUTH_OK);
    assert_int_equal(c.groups_overage, 0);
    assert_int_equal(c.n_groups, 0);
    msoauth_claims_clear(&c);
  }
}

/* An app-only token of the client-credentials grant. */
static void test_app_only(void **state) {
  static const char payload[] =
      "{\"aud\":\"https://outlook.office365.com\",\"iss\":\"https://sts."
      "windows.net/" TID "/\",\"iat\":1714557600,\"nbf\":1714557600,"
      "\"exp\":1714561500,\"aio\":\"k2Bg\",\"app_displayname\":\"msoauth\","
      "\"appid\":\"33333333-3333-3333-3333-333333333333\",\"appidacr\":\"2\","
      "\"idp\":\"https://sts.windows.net/" TID "/\",\"idtyp\":\"app\","
      "\"oid\":\"" OID "\",\"rh\":\"0.AR8\",\"roles\":[\"IMAP.AccessAsApp\","
      "\"SMTP.SendAsApp\",\"full_access_as_app\"],\"sid\":\"x\","
      "\"sub\":\"" OID "\",\"tid\":\"" TID "\",\"uti\":\"y\",\"ver\":\"1.0\","
      "\"wids\":[\"0997a1d0\"]}";
  struct msoauth_claims c;

  (void)state;
  assert_int_equal(decode(HEADER_V1, payload, &c, NULL), MSOAUTH_OK);
  assert_null(c.upn);
  assert_null(c.preferred_username);
  assert_null(c.unique_name);
  assert_null(c.scp);
  assert_null(msoauth_claims_identity(&c));
  assert_string_equal(c.appid, "33333333-3333-3333-3333-333333333333");
  assert_string_equal(c.aud, "https://outlook.office365.com");
  assert_int_equal(c.n_roles, 3);
  assert_string_equal(c.roles[0], "IMAP.AccessAsApp");
  assert_string_equal(c.roles[1], "SMTP.SendAsApp");
  assert_string_equal(c.roles[2], "full_access_as_app");
  msoauth_claims_clear(&c);
  assert_cleared(&c);
}

/* appid (v1) wins over azp (v2) when both are present. */
static void test_appid_over_azp(void **state) {
  struct msoauth_claims c;

  (void)state;
  assert_int_equal(
      decode(HEADER_V2, "{\"azp\":\"v2\",\"appid\":\"v1\"}", &c, NULL),
      MSOAUTH_OK);
  assert_string_equal(c.appid, "v1");
  msoauth_claims_clear(&c);
}

/* An RFC 9068 access token (a standard server's): client_id and scope
 * stand for Entra's appid and scp (issue 14, item 8). */
static void test_rfc9068_claims(void **state) {
  struct msoauth_claims c;

  (void)state;
  assert_int_equal(
      decode(HEADER_V2,
             "{\"iss\":\"https://op.example\",\"sub\":\"app-1\","
             "\"client_id\":\"app-1\",\"scope\":\"IMAP.AccessAsUser.All "
             "SMTP.Send\",\"aud\":\"https://outlook.office.com\"}",
             &c, NULL),
      MSOAUTH_OK);
  assert_non_null(c.appid);
  assert_string_equal(c.appid, "app-1");
  assert_non_null(c.scp);
  assert_string_equal(c.scp, "IMAP.AccessAsUser.All SMTP.Send");
  msoauth_claims_clear(&c);
  /* Entra's names win where both are present. */
  assert_int_equal(decode(HEADER_V2,
                          "{\"appid\":\"v1\",\"client_id\":\"x\","
                          "\"scp\":\"a\",\"scope\":\"b\"}",
                          &c, NULL),
                   MSOAUTH_OK);
  assert_string_equal(c.appid, "v1");
  assert_string_equal(c.scp, "a");
  msoauth_claims_clear(&c);
}

/* Tokens of the wrong shape. */
struct raw_case {
  const char *name;
  const char *jwt;
};

static const struct raw_case raw_cases[] = {
    {"one part", "eyJhbGciOiJSUzI1NiJ9"},
    {"two parts", "eyJhbGciOiJSUzI1NiJ9.eyJ1cG4iOiJhIn0"},
    {"four parts", "eyJhbGciOiJSUzI1NiJ9.eyJ1cG4iOiJhIn0." SIG "." SIG},
    {"empty header", ".eyJ1cG4iOiJhIn0." SIG},
    {"empty payload", "eyJhbGciOiJSUzI1NiJ9.." SIG},
    {"empty signature", "eyJhbGciOiJSUzI1NiJ9.eyJ1cG4iOiJhIn0."},
    {"only dots", ".."},
    /* {"upn":"a"} is eyJ1cG4iOiJhIn0; padded: eyJ1cG4iOiJhIn0= */
    {"padding in the payload", "eyJhbGciOiJSUzI1NiJ9.eyJ1cG4iOiJhIn0=." SIG},
    {"padding in the header", "eyJhbGciOiJSUzI1NiJ9=.eyJ1cG4iOiJhIn0." SIG},
    {"standard alphabet", "eyJhbGciOiJSUzI1NiJ9.eyJ1cG4iOiJhIn0+." SIG},
    {"invalid character", "eyJhbGciOiJSUzI1NiJ9.eyJ1cG4iOi*hIn0." SIG},
    {"white space", "eyJhbGciOiJSUzI1NiJ9.eyJ1cG4iO iJhIn0." SIG},
    {"bad base64url length", "eyJhbGciOiJSUzI1NiJ9.eyJ1cG4iOiJhIn0ab." SIG},
    {"Bearer prefix", "Bearer eyJhbGciOiJSUzI1NiJ9.eyJ1cG4iOiJhIn0." SIG},
};

static void test_bad_shapes(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof(raw_cases) / sizeof(raw_cases[0]); i++) {
    struct msoauth_claims c;
    struct msoauth_err err;

    print_message("# %s\n", raw_cases[i].name);
    memset(&c, 0x5a, sizeof(c));
    assert_int_equal(msoauth_jwt_decode(raw_cases[i].jwt,
                                        strlen(raw_cases[i].jwt), &c, &err),
                     MSOAUTH_ERR_PROTOCOL);
    assert_int_equal(err.rc, MSOAUTH_ERR_PROTOCOL);
    assert_cleared(&c);
  }
}

/* The well-formed control of test_bad_shapes' tokens decodes. */
static void test_shape_control(void **state) {
  static const char jwt[] = "eyJhbGciOiJSUzI1NiJ9.eyJ1cG4iOiJhIn0." SIG;
  struct msoauth_claims c;

  (void)state;
  assert_int_equal(msoauth_jwt_decode(jwt, strlen(jwt), &c, NULL), MSOAUTH_OK);
  assert_string_equal(c.upn, "a");
  msoauth_claims_clear(&c);
}

/* Header and payload JSON that is wrong. */
struct json_case {
  const char *name;
  const char *header;
  const char *payload;
};

static const struct json_case json_cases[] = {
    {"payload not JSON", HEADER_V2, "upn=alice@contoso.com"},
    {"payload truncated JSON", HEADER_V2, "{\"upn\":\"a\""},
    {"payload an array", HEADER_V2, "[{\"upn\":\"a\"}]"},
    {"payload a string", HEADER_V2, "\"alice@contoso.com\""},
    {"payload trailing garbage", HEADER_V2, "{\"upn\":\"a\"}x"},
    {"header without alg", "{\"typ\":\"JWT\"}", "{\"upn\":\"a\"}"},
    {"header alg a number", "{\"alg\":256}", "{\"upn\":\"a\"}"},
    {"header not JSON", "alg=RS256", "{\"upn\":\"a\"}"},
    {"header an array", "[\"RS256\"]", "{\"upn\":\"a\"}"},
    {"upn a number", HEADER_V2, "{\"upn\":12}"},
    {"upn an array", HEADER_V2, "{\"upn\":[\"alice@contoso.com\"]}"},
    {"upn null", HEADER_V2, "{\"upn\":null}"},
    {"upn with a NUL", HEADER_V2,
     "{\"upn\":\"alice@contoso.com\\u0000@evil.example\"}"},
    {"preferred_username an object", HEADER_V2, "{\"preferred_username\":{}}"},
    {"unique_name true", HEADER_V2, "{\"unique_name\":true}"},
    {"oid a number", HEADER_V2, "{\"oid\":1}"},
    {"tid a number", HEADER_V2, "{\"tid\":1}"},
    {"aud a number", HEADER_V2, "{\"aud\":1}"},
    {"aud an array with a number", HEADER_V2, "{\"aud\":[\"a\",1]}"},
    {"appid a number", HEADER_V2, "{\"appid\":1}"},
    {"azp a number", HEADER_V2, "{\"azp\":1}"},
    {"scp an array", HEADER_V2, "{\"scp\":[\"IMAP.AccessAsUser.All\"]}"},
    {"roles a string", HEADER_V2, "{\"roles\":\"IMAP.AccessAsApp\"}"},
    {"roles with null", HEADER_V2, "{\"roles\":[\"a\",null]}"},
    {"groups with a number", HEADER_V2,
     "{\"upn\":\"alice@contoso.com\",\"groups\":[\"g1\",2]}"},
    {"groups an object", HEADER_V2, "{\"groups\":{\"g1\":true}}"},
    {"exp a string", HEADER_V2, "{\"upn\":\"a\",\"exp\":\"1714561500\"}"},
    {"exp a float", HEADER_V2, "{\"exp\":1714561500.5}"},
    {"exp out of range", HEADER_V2, "{\"exp\":99999999999999999999}"},
    {"iat a boolean", HEADER_V2, "{\"iat\":true}"},
    {"nbf null", HEADER_V2, "{\"nbf\":null}"},
    {"_claim_names a string", HEADER_V2, "{\"_claim_names\":\"groups\"}"},
    {"hasgroups a string", HEADER_V2, "{\"hasgroups\":\"true\"}"},
};

static void test_bad_json(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof(json_cases) / sizeof(json_cases[0]); i++) {
    struct msoauth_claims c;
    struct msoauth_err err;

    print_message("# %s\n", json_cases[i].name);
    assert_int_equal(
        decode(json_cases[i].header, json_cases[i].payload, &c, &err),
        MSOAUTH_ERR_PROTOCOL);
    assert_int_equal(err.rc, MSOAUTH_ERR_PROTOCOL);
    assert_true(err.detail[0] != '\0');
    assert_cleared(&c);
  }
}

/* A token past MSOAUTH_JWT_MAX is refused; one just under it is read. */
static void test_size_cap(void **state) {
  const size_t pad = 70 * 1024;
  char *payload = malloc(pad + 64);
  char *jwt;
  struct msoauth_claims c;
  struct msoauth_err err;
  size_t n;

  (void)state;
  assert_non_null(payload);
  n = (size_t)snprintf(payload, pad + 64, "{\"upn\":\"a\",\"pad\":\"");
  memset(payload + n, 'x', pad);
  memcpy(payload + n + pad, "\"}", 3);
  jwt = make_jwt(HEADER_V2, payload);
  assert_true(strlen(jwt) > MSOAUTH_JWT_MAX);
  assert_int_equal(msoauth_jwt_decode(jwt, strlen(jwt), &c, &err),
                   MSOAUTH_ERR_PROTOCOL);
  assert_non_null(strstr(err.detail, "longer"));
  assert_cleared(&c);
  free(jwt);

  /* 40 KiB of padding: base64 makes it about 54 KiB, under the cap. */
  memset(payload + n, 'x', 40 * 1024);
  memcpy(payload + n + 40 * 1024, "\"}", 3);
  jwt = make_jwt(HEADER_V2, payload);
  assert_true(strlen(jwt) < MSOAUTH_JWT_MAX);
  assert_int_equal(msoauth_jwt_decode(jwt, strlen(jwt), &c, &err), MSOAUTH_OK);
  assert_string_equal(c.upn, "a");
  msoauth_claims_clear(&c);
  free(jwt);
  free(payload);
}

/* The length, not the NUL, delimits the token; a NUL inside is refused. */
static void test_embedded_nul(void **state) {
  char *jwt = make_jwt(HEADER_V2, "{\"upn\":\"alice@contoso.com\"}");
  size_t len = strlen(jwt);
  char *longer = malloc(len + 8);
  struct msoauth_claims c;
  struct msoauth_err err;

  (void)state;
  assert_non_null(longer);
  memcpy(longer, jwt, len + 1);
  memcpy(longer + len + 1, "abc.de", 7);
  assert_int_equal(msoauth_jwt_decode(longer, len + 7, &c, &err),
                   MSOAUTH_ERR_PROTOCOL);
  assert_cleared(&c);
  /* A NUL in the middle of the payload part. */
  longer[len - strlen(SIG) - 3] = '\0';
  assert_int_equal(msoauth_jwt_decode(longer, len, &c, &err),
                   MSOAUTH_ERR_PROTOCOL);
  /* The same bytes, bounded at the real length, decode. */
  assert_int_equal(msoauth_jwt_decode(jwt, len, &c, &err), MSOAUTH_OK);
  assert_string_equal(c.upn, "alice@contoso.com");
  msoauth_claims_clear(&c);
  /* A length shorter than the string cuts the signature: still three
   * parts, still read; one that cuts into the payload is refused. */
  assert_int_equal(msoauth_jwt_decode(jwt, len - 4, &c, &err), MSOAUTH_OK);
  msoauth_claims_clear(&c);
  assert_int_equal(msoauth_jwt_decode(jwt, len - strlen(SIG) - 3, &c, &err),
                   MSOAUTH_ERR_PROTOCOL);
  assert_int_equal(msoauth_jwt_decode(jwt, 0, &c, &err), MSOAUTH_ERR_PROTOCOL);
  assert_int_equal(msoauth_jwt_decode(NULL, 10, &c, &err),
                   MSOAUTH_ERR_PROTOCOL);
  assert_cleared(&c);
  free(longer);
  free(jwt);
}

/* Which name a token gives. */
struct identity_case {
  const char *payload;
  const char *identity; /* NULL: none */
};

static const struct identity_case identity_cases[] = {
    {"{\"upn\":\"u@c.com\",\"preferred_username\":\"p@c.com\","
     "\"unique_name\":\"n@c.com\"}",
     "u@c.com"},
    {"{\"preferred_username\":\"p@c.com\",\"unique_name\":\"n@c.com\"}",
     "p@c.com"},
    {"{\"unique_name\":\"n@c.com\"}", "n@c.com"},
    {"{\"upn\":\"\",\"preferred_username\":\"p@c.com\"}", "p@c.com"},
    {"{\"upn\":\"\",\"preferred_username\":\"\",\"unique_name\":\"n@c.com\"}",
     "n@c.com"},
    {"{\"upn\":\"\"}", NULL},
    {"{\"email\":\"e@c.com\",\"sub\":\"x\",\"oid\":\"" OID "\"}", NULL},
    {"{}", NULL},
};

static void test_identity_precedence(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof(identity_cases) / sizeof(identity_cases[0]);
       i++) {
    struct msoauth_claims c;
    const char *got;

    print_message("# %s\n", identity_cases[i].payload);
    assert_int_equal(decode(HEADER_V2, identity_cases[i].payload, &c, NULL),
                     MSOAUTH_OK);
    got = msoauth_claims_identity(&c);
    if (identity_cases[i].identity == NULL)
      assert_null(got);
    else
      assert_string_equal(got, identity_cases[i].identity);
    msoauth_claims_clear(&c);
  }
}

/* Clearing is safe on a zeroed struct and twice; NULL is accepted. */
static void test_clear(void **state) {
  struct msoauth_claims c;

  (void)state;
  memset(&c, 0, sizeof(c));
  msoauth_claims_clear(&c);
  assert_cleared(&c);
  assert_int_equal(
      decode(HEADER_V2, "{\"upn\":\"a\",\"roles\":[\"r\"],\"groups\":[\"g\"]}",
             &c, NULL),
      MSOAUTH_OK);
  assert_int_equal(c.n_roles, 1);
  msoauth_claims_clear(&c);
  assert_cleared(&c);
  msoauth_claims_clear(&c);
  assert_cleared(&c);
  msoauth_claims_clear(NULL);
}

/* Claims we do not read may have any type. */
static void test_other_claims_ignored(void **state) {
  struct msoauth_claims c;

  (void)state;
  assert_int_equal(decode(HEADER_V2,
                          "{\"upn\":\"a\",\"amr\":1,\"wids\":\"x\","
                          "\"ver\":2.0,\"xms_st\":{\"sub\":[]}}",
                          &c, NULL),
                   MSOAUTH_OK);
  assert_string_equal(c.upn, "a");
  msoauth_claims_clear(&c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_delegated_outlook),
      cmocka_unit_test(test_v2_id_token),
      cmocka_unit_test(test_overage),
      cmocka_unit_test(test_no_overage),
      cmocka_unit_test(test_app_only),
      cmocka_unit_test(test_appid_over_azp),
      cmocka_unit_test(test_rfc9068_claims),
      cmocka_unit_test(test_bad_shapes),
      cmocka_unit_test(test_shape_control),
      cmocka_unit_test(test_bad_json),
      cmocka_unit_test(test_size_cap),
      cmocka_unit_test(test_embedded_nul),
      cmocka_unit_test(test_identity_precedence),
      cmocka_unit_test(test_clear),
      cmocka_unit_test(test_other_claims_ignored),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
