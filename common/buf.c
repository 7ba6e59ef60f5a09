/*
 * buf.c - growing byte buffers with a cap.
 */
#include "config_build.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "secret.h"

#define BUF_MIN_ALLOC 64

void msoauth_buf_init(struct msoauth_buf *buf, size_t max, int wipe) {
  buf->data = NULL;
  buf->len = 0;
  buf->cap = 0;
  buf->max = max;
  buf->wipe = wipe;
}

void msoauth_buf_free(struct msoauth_buf *buf) {
  if (buf->data != NULL && buf->wipe)
    msoauth_wipe(buf->data, buf->cap);
  free(buf->data);
  buf->data = NULL;
  buf->len = 0;
  buf->cap = 0;
}

/* Makes room for n more bytes plus the terminator. */
static msoauth_rc buf_reserve(struct msoauth_buf *buf, size_t n) {
  size_t need, cap;
  char *data;

  if (n > buf->max - buf->len) {
    msoauth_buf_free(buf);
    return MSOAUTH_ERR_INVALID;
  }
  need = buf->len + n + 1;
  if (need <= buf->cap)
    return MSOAUTH_OK;
  cap = buf->cap ? buf->cap : BUF_MIN_ALLOC;
  while (cap < need)
    cap = cap > (size_t)-1 / 2 ? need : cap * 2;
  if (cap > buf->max + 1)
    cap = buf->max + 1;
  data = malloc(cap);
  if (data == NULL) {
    msoauth_buf_free(buf);
    return MSOAUTH_ERR_NOMEM;
  }
  /* A fresh allocation instead of realloc, so a secret's old copy can be
   * wiped. */
  if (buf->data != NULL)
    memcpy(data, buf->data, buf->len + 1);
  else
    data[0] = '\0';
  if (buf->data != NULL && buf->wipe)
    msoauth_wipe(buf->data, buf->cap);
  free(buf->data);
  buf->data = data;
  buf->cap = cap;
  return MSOAUTH_OK;
}

msoauth_rc msoauth_buf_add(struct msoauth_buf *buf, const void *p, size_t n) {
  msoauth_rc rc = buf_reserve(buf, n);

  if (rc)
    return rc;
  if (n > 0)
    memcpy(buf->data + buf->len, p, n);
  buf->len += n;
  buf->data[buf->len] = '\0';
  return MSOAUTH_OK;
}

msoauth_rc msoauth_buf_adds(struct msoauth_buf *buf, const char *s) {
  return msoauth_buf_add(buf, s, strlen(s));
}

msoauth_rc msoauth_buf_addf(struct msoauth_buf *buf, const char *fmt, ...) {
  va_list ap;
  int n;
  msoauth_rc rc;

  va_start(ap, fmt);
  n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) {
    msoauth_buf_free(buf);
    return MSOAUTH_ERR_INVALID;
  }
  rc = buf_reserve(buf, (size_t)n);
  if (rc)
    return rc;
  va_start(ap, fmt);
  vsnprintf(buf->data + buf->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  buf->len += (size_t)n;
  return MSOAUTH_OK;
}

const char *msoauth_buf_str(const struct msoauth_buf *buf) {
  return buf->data != NULL ? buf->data : "";
}

char *msoauth_buf_take(struct msoauth_buf *buf) {
  char *data = buf->data;

  buf->data = NULL;
  buf->len = 0;
  buf->cap = 0;
  return data;
}
