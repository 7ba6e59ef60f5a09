/*
 * base64.c - base64 and base64url, written out for strictness: OpenSSL's
 * decoder skips white space and accepts padding in the middle.
 */
#include "config_build.h"

#include <string.h>

#include "base64.h"

static const char std_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

msoauth_rc msoauth_base64_encode(struct msoauth_buf *out, const void *p,
                                 size_t len, int url) {
  const unsigned char *in = p;
  const char *abc = url ? url_alphabet : std_alphabet;
  msoauth_rc rc = MSOAUTH_OK;

  for (size_t i = 0; i < len && !rc; i += 3) {
    unsigned v = (unsigned)in[i] << 16;
    size_t n = len - i < 3 ? len - i : 3;
    char quad[4];

    if (n > 1)
      v |= (unsigned)in[i + 1] << 8;
    if (n > 2)
      v |= in[i + 2];
    quad[0] = abc[(v >> 18) & 63];
    quad[1] = abc[(v >> 12) & 63];
    quad[2] = n > 1 ? abc[(v >> 6) & 63] : '=';
    quad[3] = n > 2 ? abc[v & 63] : '=';
    rc = msoauth_buf_add(out, quad, url ? n + 1 : 4);
  }
  if (!rc && out->data == NULL)
    rc = msoauth_buf_add(out, "", 0);
  return rc;
}

/* The value of c in the alphabet, or -1. */
static int sextet(char c, int url) {
  const char *abc = url ? url_alphabet : std_alphabet;
  const char *hit = c != '\0' ? strchr(abc, c) : NULL;

  return hit != NULL ? (int)(hit - abc) : -1;
}

msoauth_rc msoauth_base64_decode(struct msoauth_buf *out, const char *s,
                                 size_t len, int url) {
  unsigned char bytes[3];
  unsigned v = 0;
  size_t bits = 0, n = 0;
  msoauth_rc rc;

  if (!url) {
    if (len % 4 != 0)
      return MSOAUTH_ERR_INVALID;
    if (len > 0 && s[len - 1] == '=')
      len--;
    if (len > 0 && s[len - 1] == '=')
      len--;
  }
  if (len % 4 == 1)
    return MSOAUTH_ERR_INVALID;
  rc = msoauth_buf_add(out, "", 0);
  for (size_t i = 0; i < len && !rc; i++) {
    int x = sextet(s[i], url);

    if (x < 0)
      return MSOAUTH_ERR_INVALID;
    v = (v << 6) | (unsigned)x;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes[n++] = (unsigned char)(v >> bits);
      v &= (1u << bits) - 1;
      if (n == sizeof(bytes)) {
        rc = msoauth_buf_add(out, bytes, n);
        n = 0;
      }
    }
  }
  /* Leftover bits must be zero: one encoding per value. */
  if (!rc && v != 0)
    return MSOAUTH_ERR_INVALID;
  if (!rc && n > 0)
    rc = msoauth_buf_add(out, bytes, n);
  return rc;
}
