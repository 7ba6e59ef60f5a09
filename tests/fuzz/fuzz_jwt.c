/*
 * fuzz_jwt.c - libFuzzer target: the JWT claims decoder (msoauth_jwt_decode).
 *
 * An input starting with '{' is taken as a payload, wrapped into a compact
 * JWT with a fixed header and signature, so that mutations reach the claim
 * checks instead of dying in base64url; any other input is decoded as it
 * is. Beyond memory safety: accepted claims are NUL-free strings and arrays
 * without holes, and a refused token leaves the claims cleared. The same
 * bytes as the id token of a sign-in (msoauth_identity_from_tokens, tenant
 * an id): accepted only as RS256, for the client, of the tenant, naming
 * the user asked for, and a refusal returns nobody.
 */
#include "config_build.h"

#include <strings.h>

#include "base64.h"
#include "buf.h"
#include "fuzz.h"
#include "identity.h"
#include "jwt.h"
#include "secret.h"

/* {"alg":"RS256","typ":"JWT"} and "sig", base64url. */
#define HEADER "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9."
#define SIGNATURE ".c2ln"

static int strings_ok(char **v, size_t n) {
  if ((v == NULL) != (n == 0))
    return 0;
  for (size_t i = 0; i < n; i++)
    if (v[i] == NULL)
      return 0;
  return 1;
}

static void check_claims(const struct msoauth_claims *c) {
  const char *who = msoauth_claims_identity(c);

  FUZZ_CHECK(c->alg != NULL); /* the allow-list of identity.c reads it */
  FUZZ_CHECK(strings_ok(c->roles, c->n_roles));
  FUZZ_CHECK(strings_ok(c->groups, c->n_groups));
  FUZZ_CHECK(who == NULL || who == c->upn || who == c->preferred_username ||
             who == c->unique_name);
  FUZZ_CHECK(who == NULL || who[0] != '\0');
}

static int is_cleared(const struct msoauth_claims *c) {
  static const struct msoauth_claims zero;

  return memcmp(c, &zero, sizeof(zero)) == 0;
}

static void decode(const char *jwt, size_t len) {
  struct msoauth_claims claims;
  struct msoauth_err err;
  msoauth_rc rc;

  msoauth_err_clear(&err);
  rc = msoauth_jwt_decode(jwt, len, &claims, &err);
  fuzz_check_err(&err, rc);
  if (rc == MSOAUTH_OK)
    check_claims(&claims);
  else
    FUZZ_CHECK(is_cleared(&claims));
  msoauth_claims_clear(&claims);
  FUZZ_CHECK(is_cleared(&claims));
}

/* The bytes as a sign-in's id token, for alice under a tenant id. */
static void sign_in(const char *jwt, size_t len) {
  static char tenant[] = "7f0d5b1e-3c2a-4e8b-9a61-2b5c8d4e1f00";
  static char client[] = "11111111-1111-1111-1111-111111111111";
  static char contoso[] = "contoso.com";
  static char *domains[] = {contoso};
  struct msoauth_identity_settings cfg;
  struct msoauth_secret *id = NULL;
  struct msoauth_claims claims;
  struct msoauth_err err;
  char *identity = NULL;
  msoauth_rc rc;

  memset(&cfg, 0, sizeof(cfg));
  cfg.tenant = tenant;
  cfg.client_id = client;
  cfg.domains = domains;
  cfg.n_domains = 1;
  cfg.alias_policy = MSOAUTH_ALIAS_REJECT;
  if (msoauth_secret_new(jwt, len, &id) != MSOAUTH_OK)
    return;
  msoauth_err_clear(&err);
  rc = msoauth_identity_from_tokens(&cfg, "alice@contoso.com", id, NULL,
                                    &claims, &identity, &err);
  fuzz_check_err(&err, rc);
  if (rc == MSOAUTH_OK) {
    FUZZ_CHECK(identity != NULL && strcmp(identity, "alice@contoso.com") == 0);
    FUZZ_CHECK(strcmp(claims.alg, "RS256") == 0);
    FUZZ_CHECK(claims.aud != NULL && strcasecmp(claims.aud, client) == 0);
    FUZZ_CHECK(claims.tid != NULL && strcasecmp(claims.tid, tenant) == 0);
  } else {
    FUZZ_CHECK(identity == NULL && is_cleared(&claims));
  }
  free(identity);
  msoauth_claims_clear(&claims);
  msoauth_secret_free(&id);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct msoauth_buf jwt;

  if (size == 0 || data[0] != '{') {
    decode((const char *)data, size);
    sign_in((const char *)data, size);
    return 0;
  }
  msoauth_buf_init(&jwt, 2 * MSOAUTH_JWT_MAX, 0);
  if (msoauth_buf_adds(&jwt, HEADER) == MSOAUTH_OK &&
      msoauth_base64_encode(&jwt, data, size, 1) == MSOAUTH_OK &&
      msoauth_buf_adds(&jwt, SIGNATURE) == MSOAUTH_OK) {
    decode(jwt.data, jwt.len);
    sign_in(jwt.data, jwt.len);
  }
  msoauth_buf_free(&jwt);
  return 0;
}
