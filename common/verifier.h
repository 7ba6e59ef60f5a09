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

/*
 * A process's memory of the checks that succeeded, so that a long-lived
 * caller serving cached tokens to the same passwords again does not pay
 * PBKDF2 each time. It holds, for up to MSOAUTH_VERIFIER_MEMO_MAX successes
 * (then it starts again empty), a tag of (verifier, password): an
 * HMAC-SHA256 under a random key of the memo's own, never a password. A hit
 * needs the very verifier and the very password. Failures are never
 * remembered. Thread-safe.
 */
#define MSOAUTH_VERIFIER_MEMO_MAX 1024

struct msoauth_verifier_memo;

msoauth_rc msoauth_verifier_memo_new(struct msoauth_verifier_memo **memo_r)
    __attribute__((warn_unused_result));

void msoauth_verifier_memo_free(struct msoauth_verifier_memo **memo);

/* Checks the memo answered so far (tests, benchmarks). */
unsigned long msoauth_verifier_memo_hits(struct msoauth_verifier_memo *memo);

/* msoauth_verifier_check, answered from memo (may be NULL: no memory) when
 * this password succeeded against this verifier before. */
msoauth_rc msoauth_verifier_check_memo(struct msoauth_verifier_memo *memo,
                                       const char *verifier,
                                       const struct msoauth_secret *password)
    __attribute__((warn_unused_result));

#endif
