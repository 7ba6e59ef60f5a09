/*
 * base64.c - base64 and base64url over OpenSSL's EVP_EncodeBlock and
 * EVP_DecodeBlock; base64url is a character swap on top ('+' '/' become
 * '-' '_', no padding).
 *
 * Decoding is strict, so that every value has one encoding: OpenSSL's
 * decoder skips white space and turns padding into zero bytes, so the
 * alphabet, the length, the place of the padding and the unused bits of the
 * last character are checked here first, and the true length is computed
 * from the padding.
 */
#include "config_build.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "base64.h"

/* Characters per EVP call: a multiple of 4 (and 3 / 4 of it in bytes). */
#define B64_CHUNK 1024
#define B64_CHUNK_BYTES (B64_CHUNK / 4 * 3)

static const char std_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Replaces each character of s (n bytes) found in from by the one at the
 * same place in to. */
static void swap_chars(char *s, size_t n, const char *from, const char *to) {
  for (size_t i = 0; i < n; i++) {
    const char *hit = strchr(from, s[i]);

    if (s[i] != '\0' && hit != NULL)
      s[i] = to[hit - from];
  }
}

msoauth_rc msoauth_base64_encode(struct msoauth_buf *out, const void *p,
                                 size_t len, int url) {
  const unsigned char *in = p;
  unsigned char text[B64_CHUNK + 1];
  msoauth_rc rc = MSOAUTH_OK;

  for (size_t i = 0, n; i < len && !rc; i += n) {
    size_t got;

    n = len - i < B64_CHUNK_BYTES ? len - i : B64_CHUNK_BYTES;
    got = (size_t)EVP_EncodeBlock(text, in + i, (int)n);
    if (url) {
      swap_chars((char *)text, got, "+/", "-_");
      while (got > 0 && text[got - 1] == '=')
        got--;
    }
    rc = msoauth_buf_add(out, text, got);
  }
  if (!rc && out->data == NULL)
    rc = msoauth_buf_add(out, "", 0);
  if (out->wipe)
    OPENSSL_cleanse(text, sizeof(text));
  return rc;
}

/* The value of c in the alphabet, or -1. */
static int sextet(char c, int url) {
  const char *abc = url ? url_alphabet : std_alphabet;
  const char *hit = c != '\0' ? strchr(abc, c) : NULL;

  return hit != NULL ? (int)(hit - abc) : -1;
}

/* The number of characters of s (len) that carry data, or -1 when s is not
 * the one encoding of a value: a bad length, padding anywhere but at the
 * end (or in base64url at all), a character outside the alphabet, or
 * unused bits of the last character that are not zero. */
static long data_chars(const char *s, size_t len, int url) {
  size_t n = len;
  int last;

  if (!url && len % 4 != 0)
    return -1;
  for (int pad = 0; !url && pad < 2 && n > 0 && s[n - 1] == '='; pad++)
    n--;
  if (n % 4 == 1)
    return -1;
  for (size_t i = 0; i < n; i++)
    if (sextet(s[i], url) < 0)
      return -1;
  last = n > 0 ? sextet(s[n - 1], url) : 0;
  if ((n % 4 == 2 && (last & 0x0f)) || (n % 4 == 3 && (last & 0x03)))
    return -1;
  return (long)n;
}

msoauth_rc msoauth_base64_decode(struct msoauth_buf *out, const char *s,
                                 size_t len, int url) {
  char text[B64_CHUNK];
  unsigned char bytes[B64_CHUNK_BYTES];
  long data = data_chars(s, len, url);
  msoauth_rc rc;

  if (data < 0)
    return MSOAUTH_ERR_INVALID;
  rc = msoauth_buf_add(out, "", 0);
  for (size_t i = 0, n; i < (size_t)data && !rc; i += n) {
    size_t quads;

    n = (size_t)data - i < B64_CHUNK ? (size_t)data - i : B64_CHUNK;
    quads = (n + 3) / 4;
    memcpy(text, s + i, n);
    if (url)
      swap_chars(text, n, "-_", "+/");
    /* 'A' is zero bits, as padding would be; only the true bytes are kept:
     * 3 per full group, one fewer than the characters of a short one. */
    memset(text + n, 'A', quads * 4 - n);
    if (EVP_DecodeBlock(bytes, (unsigned char *)text, (int)(quads * 4)) !=
        (int)(quads * 3))
      rc = MSOAUTH_ERR_INVALID; /* cannot happen: checked above */
    else
      rc = msoauth_buf_add(out, bytes, n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0));
  }
  if (out->wipe) {
    OPENSSL_cleanse(text, sizeof(text));
    OPENSSL_cleanse(bytes, sizeof(bytes));
  }
  return rc;
}
