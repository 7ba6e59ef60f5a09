/*
 * fuzz_entra_error.c - libFuzzer target: the identity platform's error
 * answers (msoauth_entra_error). The input is the HTTP body.
 *
 * Beyond memory safety: never MSOAUTH_OK, the same result with and without
 * an err to fill, a printable detail (it is logged), and a code that
 * msoauth_entra_code_rc and msoauth_entra_advice accept.
 */
#include "config_build.h"

#include "entra_error.h"
#include "fuzz.h"

#define STATUS 400L

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *body = (const char *)data;
  struct msoauth_err err;
  msoauth_rc rc;

  rc = msoauth_entra_error(STATUS, body, size, &err);
  FUZZ_CHECK(rc != MSOAUTH_OK);
  fuzz_check_err(&err, rc);
  FUZZ_CHECK(err.aadsts >= 0);
  FUZZ_CHECK(msoauth_entra_error(STATUS, body, size, NULL) == rc);
  FUZZ_CHECK(msoauth_entra_advice(err.aadsts) != NULL);
  /* A known code decides the result unless the OAuth error field does. */
  (void)msoauth_entra_code_rc(err.aadsts);
  return 0;
}
