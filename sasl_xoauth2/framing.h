/*
 * framing.h - the bytes of XOAUTH2 and OAUTHBEARER (RFC 7628): the initial
 * response the client sends, and the server's error challenge. No SASL
 * types here, so that the fuzz target and the unit tests reach them
 * without libsasl2.
 */
#ifndef MSOAUTH_XOAUTH2_FRAMING_H
#define MSOAUTH_XOAUTH2_FRAMING_H

#include <stddef.h>

#include "buf.h"
#include "result.h"

/* What an initial response is made of. */
struct xoauth2_frame {
  int bearer;           /* OAUTHBEARER (RFC 7628) rather than XOAUTH2 */
  const char *identity; /* the token's user, a C string */
  const char *host;     /* the server's name (SASL serverFQDN); or NULL */
  const char *remote;   /* "ADDR;PORT" (SASL_IPREMOTEPORT); or NULL */
  const char *token;    /* the access token, token_len bytes */
  size_t token_len;
};

/* Whether s (len bytes) holds a byte a SASL frame cannot carry (a control
 * character: \x01 ends a field). */
int xoauth2_has_ctl(const char *s, size_t len);

/* The port of remote ("ADDR;PORT"); 0 when NULL, absent or invalid. */
long xoauth2_remote_port(const char *remote);

/*
 * Appends the initial response of f to buf (the caller's, which it frees
 * on failure as usual): XOAUTH2 "user=ID\1auth=Bearer TOKEN\1\1", or
 * OAUTHBEARER "n,a=SASLNAME,[\1host=H][\1port=P]\1auth=Bearer TOKEN\1\1".
 * A host holding a control character is left out. The caller refuses a
 * token holding one before.
 */
msoauth_rc xoauth2_frame_build(const struct xoauth2_frame *f,
                               struct msoauth_buf *buf)
    __attribute__((warn_unused_result));

/*
 * The "status" of an error challenge (in, len bytes: the JSON the server
 * sent, already base64-decoded by the application) into status (size
 * bytes): the value when it is a non-empty string shorter than size and
 * free of control characters, "unknown" otherwise.
 */
void xoauth2_challenge_status(const char *in, size_t len, char *status,
                              size_t size);

#endif
