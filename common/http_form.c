/*
 * http_form.c - application/x-www-form-urlencoded bodies (RFC 3986
 * percent-encoding of everything but the unreserved characters). Pure text
 * work: no libcurl, no OAuth. The values are often secrets (a password, a
 * client secret), so they are encoded in wiped chunks.
 */
#include "config_build.h"

#include <string.h>

#include "http.h"
#include "secret.h"

static int unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
}

msoauth_rc msoauth_url_encode(struct msoauth_buf *out, const char *value,
                              size_t len) {
  static const char hex[] = "0123456789ABCDEF";
  char chunk[192];
  size_t n = 0;
  msoauth_rc rc = MSOAUTH_OK;

  /* Encoded in chunks, so that a wiped buffer is not regrown per byte. */
  for (size_t i = 0; i < len && !rc; i++) {
    unsigned char c = (unsigned char)value[i];

    if (unreserved(c)) {
      chunk[n++] = (char)c;
    } else {
      chunk[n++] = '%';
      chunk[n++] = hex[c >> 4];
      chunk[n++] = hex[c & 0x0f];
    }
    if (n > sizeof(chunk) - 3) {
      rc = msoauth_buf_add(out, chunk, n);
      n = 0;
    }
  }
  if (!rc && n > 0)
    rc = msoauth_buf_add(out, chunk, n);
  msoauth_wipe(chunk, sizeof(chunk));
  return rc;
}

msoauth_rc msoauth_form_add(struct msoauth_buf *form, const char *key,
                            const char *value) {
  msoauth_rc rc = MSOAUTH_OK;

  if (key == NULL || value == NULL || *key == '\0')
    return MSOAUTH_ERR_INVALID;
  if (form->len > 0)
    rc = msoauth_buf_add(form, "&", 1);
  if (!rc)
    rc = msoauth_url_encode(form, key, strlen(key));
  if (!rc)
    rc = msoauth_buf_add(form, "=", 1);
  if (!rc)
    rc = msoauth_url_encode(form, value, strlen(value));
  return rc;
}
