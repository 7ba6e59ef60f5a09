/*
 * verifier.h - salted, slow verifiers of passwords (PBKDF2-HMAC-SHA256).
 *
 * Stored instead of a password where one must be recognised later (a
 * password rejected recently, a password verified online for offline_grace,
 * the password a cached ROPC token was obtained with). The string form is
 * "pbkdf2-sha256$ITERATIONS$SALT$HASH" (base64url), so the parameters travel
 * with it.
 */
#ifndef MSOAUTH_VERIFIER_H
#define MSOAUTH_VERIFIER_H

#include "result.h"
#include "secret.h"

#define MSOAUTH_VERIFIER_ITERATIONS 20000

/* Makes a verifier of password with a fresh random salt. The caller owns
 * *verifier_r (not a secret, but still wiped when freed). */
msoauth_rc msoauth_verifier_make(const struct msoauth_secret *password,
                                 char **verifier_r)
    __attribute__((warn_unused_result));

/* MSOAUTH_OK when password matches verifier (compared in constant time),
 * MSOAUTH_ERR_BAD_CREDENTIALS when not, MSOAUTH_ERR_INVALID for a malformed
 * verifier. */
msoauth_rc msoauth_verifier_check(const char *verifier,
                                  const struct msoauth_secret *password)
    __attribute__((warn_unused_result));

#endif
