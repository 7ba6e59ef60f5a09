/*
 * secret.h - passwords, client secrets and tokens.
 *
 * A secret lives in an opaque struct msoauth_secret, which the logger cannot
 * print, and is wiped with OPENSSL_cleanse where it dies.
 */
#ifndef MSOAUTH_SECRET_H
#define MSOAUTH_SECRET_H

#include <stddef.h>

#include "result.h"

/* Longest secret accepted from a file or a caller (a JWT fits easily). */
#define MSOAUTH_SECRET_MAX (64 * 1024)

struct msoauth_secret;

/* Copies len bytes of value into a new secret (NUL-terminated inside).
 * The caller owns *secret_r and frees it with msoauth_secret_free. */
msoauth_rc msoauth_secret_new(const char *value, size_t len,
                              struct msoauth_secret **secret_r)
    __attribute__((warn_unused_result));

/* Same for a NUL-terminated string. */
msoauth_rc msoauth_secret_from_str(const char *value,
                                   struct msoauth_secret **secret_r)
    __attribute__((warn_unused_result));

/* Copies a secret; the caller owns *copy_r. */
msoauth_rc msoauth_secret_dup(const struct msoauth_secret *secret,
                              struct msoauth_secret **copy_r)
    __attribute__((warn_unused_result));

/* The value, NUL-terminated, owned by the secret. Only code that must send
 * the value (the HTTP form, the SASL response, a cache file) asks for it. */
const char *msoauth_secret_value(const struct msoauth_secret *secret);
size_t msoauth_secret_len(const struct msoauth_secret *secret);

/* Whether two secrets are equal, in time independent of their contents. */
int msoauth_secret_equal(const struct msoauth_secret *a,
                         const struct msoauth_secret *b);

/* Whether the secret can travel as a bearer token (in XOAUTH2 framing and
 * HTTP headers): visible ASCII only, no space or control character. */
int msoauth_secret_is_token(const struct msoauth_secret *secret);

/* Wipes and frees *secret, and sets it to NULL. Accepts NULL. */
void msoauth_secret_free(struct msoauth_secret **secret);

/*
 * Reads a secret file: opened with O_NOFOLLOW, a regular file, not readable
 * or writable by group or others, at most MSOAUTH_SECRET_MAX bytes; one
 * trailing newline (LF or CRLF) is not part of the secret. An empty secret is
 * an error. The caller owns *secret_r.
 */
msoauth_rc msoauth_secret_read_file(const char *path,
                                    struct msoauth_secret **secret_r,
                                    struct msoauth_err *err)
    __attribute__((warn_unused_result));

/* Wipes len bytes at p (OPENSSL_cleanse). */
void msoauth_wipe(void *p, size_t len);

/* Wipes the string *s, frees it and sets *s to NULL. Accepts NULL. */
void msoauth_free_wiped(char **s);

#endif
