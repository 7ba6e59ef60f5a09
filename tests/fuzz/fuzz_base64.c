/*
 * fuzz_base64.c - libFuzzer target: strict base64 and base64url decoding
 * (msoauth_base64_decode), both alphabets.
 *
 * Beyond memory safety: decoding is strict, so every value has one
 * encoding: what decodes must encode back to exactly the input; and any
 * bytes encode into text that decodes back to them.
 */
#include "config_build.h"

#include "base64.h"
#include "buf.h"
#include "fuzz.h"

/* Twice the largest input libFuzzer is asked to make, and more. */
#define OUT_MAX (1024 * 1024)

/* Decodes s in the alphabet url; when it is accepted, re-encodes it. */
static void decode(const char *s, size_t len, int url) {
  struct msoauth_buf out, again;
  msoauth_rc rc;

  msoauth_buf_init(&out, OUT_MAX, 0);
  msoauth_buf_init(&again, OUT_MAX, 0);
  rc = msoauth_base64_decode(&out, s, len, url);
  FUZZ_CHECK(rc == MSOAUTH_OK || rc == MSOAUTH_ERR_INVALID);
  if (rc == MSOAUTH_OK) {
    FUZZ_CHECK(out.len <= len / 4 * 3 + 2);
    FUZZ_CHECK(msoauth_base64_encode(&again, out.data, out.len, url) ==
               MSOAUTH_OK);
    FUZZ_CHECK(again.len == len && memcmp(again.data, s, len) == 0);
  }
  msoauth_buf_free(&out);
  msoauth_buf_free(&again);
}

/* Encodes the raw bytes and decodes them back. */
static void encode(const uint8_t *p, size_t len, int url) {
  struct msoauth_buf text, back;

  msoauth_buf_init(&text, OUT_MAX, 0);
  msoauth_buf_init(&back, OUT_MAX, 0);
  FUZZ_CHECK(msoauth_base64_encode(&text, p, len, url) == MSOAUTH_OK);
  FUZZ_CHECK(msoauth_base64_decode(&back, text.data, text.len, url) ==
             MSOAUTH_OK);
  FUZZ_CHECK(back.len == len && (len == 0 || memcmp(back.data, p, len) == 0));
  msoauth_buf_free(&text);
  msoauth_buf_free(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *s = (const char *)data;

  decode(s, size, 0);
  decode(s, size, 1);
  encode(data, size, 0);
  encode(data, size, 1);
  return 0;
}
