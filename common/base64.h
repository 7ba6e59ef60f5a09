/*
 * base64.h - base64 and base64url (RFC 4648), strict decoding.
 */
#ifndef MSOAUTH_BASE64_H
#define MSOAUTH_BASE64_H

#include <stddef.h>

#include "buf.h"
#include "result.h"

/* Appends the encoding of len bytes at p to out: standard alphabet with
 * padding, or base64url without padding when url is set. */
msoauth_rc msoauth_base64_encode(struct msoauth_buf *out, const void *p,
                                 size_t len, int url)
    __attribute__((warn_unused_result));

/* Appends the decoding of len characters at s to out. Standard input may be
 * padded; base64url input must not be. Any other character, or a bad length,
 * is MSOAUTH_ERR_INVALID. */
msoauth_rc msoauth_base64_decode(struct msoauth_buf *out, const char *s,
                                 size_t len, int url)
    __attribute__((warn_unused_result));

#endif
