/*
 * entra_error.h - the identity platform's error answers, typed.
 *
 * An error body ({"error", "error_description", "error_codes", ...}) becomes
 * an msoauth_rc, the first AADSTS code, and a short sentence that says what
 * to do. Unknown codes map to MSOAUTH_ERR_DENIED, a safe generic failure.
 */
#ifndef MSOAUTH_ENTRA_ERROR_H
#define MSOAUTH_ENTRA_ERROR_H

#include <stddef.h>

#include "result.h"

/* The result for one AADSTS code. */
msoauth_rc msoauth_entra_code_rc(long code);

/* What the user or the administrator should do about code; never NULL. */
const char *msoauth_entra_advice(long code);

/*
 * Reads an error answer of status http_status. Sets err->aadsts and
 * err->detail ("AADSTS50126: <advice>") and returns the typed result: from
 * the first known code in error_codes, else from the OAuth "error" field
 * (authorization_pending, slow_down, authorization_declined, expired_token,
 * invalid_client, ...; RFC 8628's access_denied is a declined sign-in),
 * else MSOAUTH_ERR_DENIED; MSOAUTH_ERR_PROTOCOL when the body is not such
 * an answer. err->why names invalid_client, invalid_scope and
 * invalid_grant, for a grant to answer them as its standard says. Never
 * returns MSOAUTH_OK.
 */
msoauth_rc msoauth_entra_error(long http_status, const char *body, size_t len,
                               struct msoauth_err *err);

/*
 * The error_description of an error answer as a log line may show it (its
 * control characters, CR and LF included, made '?'; cut to fit out, size
 * bytes, at least 4), or "" when there is none. It is the server's text:
 * it may quote what was sent (a password, a token), so the caller shows it
 * only once it has made sure it does not (grant.c).
 */
void msoauth_entra_description(const char *body, size_t len, char *out,
                               size_t size);

#endif
