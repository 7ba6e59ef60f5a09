/*
 * fuzz_token_response.c - libFuzzer target: the token endpoint's success
 * answer (msoauth_token_response_parse). The input is the HTTP body.
 *
 * Beyond memory safety: an accepted answer has a printable access token
 * and an expiry within MSOAUTH_EXPIRES_IN_MAX of now; a refused one leaves
 * nothing behind.
 */
#include "config_build.h"

#include "fuzz.h"
#include "grant.h"
#include "secret.h"

/* A fixed clock: the parser adds expires_in to it. */
#define NOW 1700000000LL

static int token_ok(const struct msoauth_secret *token) {
  const char *s = msoauth_secret_value(token);
  size_t len = msoauth_secret_len(token);

  if (len == 0 || strlen(s) != len)
    return 0;
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
      return 0;
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct msoauth_tokens tokens;
  struct msoauth_err err;
  msoauth_rc rc;

  msoauth_err_clear(&err);
  rc = msoauth_token_response_parse((const char *)data, size, NOW, &tokens,
                                    &err);
  fuzz_check_err(&err, rc);
  if (rc == MSOAUTH_OK) {
    FUZZ_CHECK(tokens.access_token != NULL && token_ok(tokens.access_token));
    FUZZ_CHECK(tokens.refresh_token == NULL || token_ok(tokens.refresh_token));
    FUZZ_CHECK(tokens.expires_at > NOW &&
               tokens.expires_at <= NOW + MSOAUTH_EXPIRES_IN_MAX);
  } else {
    FUZZ_CHECK(tokens.access_token == NULL && tokens.refresh_token == NULL &&
               tokens.id_token == NULL && tokens.scope == NULL);
  }
  msoauth_tokens_clear(&tokens);
  return 0;
}
