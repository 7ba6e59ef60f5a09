/*
 * buf.h - a growing byte buffer with a maximum size, after curl's dynbuf.
 *
 * Every buffer has a cap; growing past it is an error, and on any error the
 * buffer frees (and, for secrets, wipes) what it held.
 */
#ifndef MSOAUTH_BUF_H
#define MSOAUTH_BUF_H

#include <stddef.h>

#include "result.h"

struct msoauth_buf {
  char *data;  /* NUL-terminated while non-NULL */
  size_t len;  /* bytes used, excluding the terminator */
  size_t cap;  /* bytes allocated */
  size_t max;  /* most bytes it may hold, excluding the terminator */
  int wipe;    /* wipe freed memory: the buffer holds secrets */
};

/* Initialises an empty buffer holding at most max bytes. */
void msoauth_buf_init(struct msoauth_buf *buf, size_t max, int wipe);

/* Appends n bytes. On failure (MSOAUTH_ERR_NOMEM, or MSOAUTH_ERR_INVALID
 * past max) the buffer is freed and left empty. */
msoauth_rc msoauth_buf_add(struct msoauth_buf *buf, const void *p, size_t n)
    __attribute__((warn_unused_result));

/* Appends a NUL-terminated string. */
msoauth_rc msoauth_buf_adds(struct msoauth_buf *buf, const char *s)
    __attribute__((warn_unused_result));

/* Appends formatted text. */
msoauth_rc msoauth_buf_addf(struct msoauth_buf *buf, const char *fmt, ...)
    __attribute__((warn_unused_result, format(printf, 2, 3)));

/* The contents ("" when empty); owned by the buffer. */
const char *msoauth_buf_str(const struct msoauth_buf *buf);

/* Hands the allocation to the caller (who frees it; NULL when empty) and
 * leaves the buffer empty. */
char *msoauth_buf_take(struct msoauth_buf *buf);

/* Frees (wiping first when buf->wipe) and empties the buffer. */
void msoauth_buf_free(struct msoauth_buf *buf);

#endif
