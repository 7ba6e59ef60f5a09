/*
 * pwhash.h - salted, slow verifiers of passwords (PBKDF2-HMAC-SHA256).
 *
 * Stored instead of a password where one must be recognised later (a
 * password rejected recently, a password verified online for offline_grace,
 * the password a cached ROPC token was obtained with). The string form is
 * "pbkdf2-sha256$ITERATIONS$SALT$HASH" (base64url), so the parameters travel
 * with it.
 */
#ifndef MSOAUTH_PWHASH_H
#define MSOAUTH_PWHASH_H

#include <stddef.h>

#include "result.h"
#include "secret.h"

/* The cost of the verifier a cached token is kept under (token.c), checked
 * on every cached use (remembered per process: see the memo below). */
#define MSOAUTH_VERIFIER_ITERATIONS 20000
/* The cost of the verifiers of a user's real password kept by PAM
 * (failure_cache, offline_grace): OWASP's figure for PBKDF2-HMAC-SHA256
 * (2023). About 180 ms on the machine of docs/BENCHMARKS.md. Verifiers
 * carry their own count, so older, cheaper ones still check. */
#define MSOAUTH_VERIFIER_ITERATIONS_PASSWORD 600000

/* Makes a verifier of password with a fresh random salt. The caller owns
 * *verifier_r (not a secret, but still wiped when freed). */
msoauth_rc msoauth_verifier_make(const struct msoauth_secret *password,
                                 char **verifier_r)
    __attribute__((warn_unused_result));

/* msoauth_verifier_make with the given iterations (within the bounds a
 * verifier may hold). With like not NULL and of the same iterations, its
 * salt is used again: the few passwords rejected for one user share a salt,
 * so that one derivation checks them all (msoauth_verifier_find). */
msoauth_rc msoauth_verifier_make_with(const struct msoauth_secret *password,
                                      long iterations, const char *like,
                                      char **verifier_r)
    __attribute__((warn_unused_result));

/*
 * A verifier made on a thread of its own while the caller waits for
 * something else (the token request it is for): started with a copy of
 * password, taken with msoauth_verifier_finish, which joins the thread.
 * The thread blocks every signal (the host's handlers run on its own
 * threads). When no thread can be made, or the process forked since the
 * start, finish makes the verifier itself: the result is the same.
 */
struct msoauth_verifier_job;

/* NULL in *job_r (out of memory) leaves the caller to make it inline. */
msoauth_rc msoauth_verifier_start(const struct msoauth_secret *password,
                                  struct msoauth_verifier_job **job_r)
    __attribute__((warn_unused_result));

/* Waits for the verifier and frees *job (sets it to NULL; accepts NULL,
 * then MSOAUTH_ERR_INVALID). With verifier_r NULL the verifier is wiped
 * (the request failed: nothing is stored). */
msoauth_rc msoauth_verifier_finish(struct msoauth_verifier_job **job,
                                   char **verifier_r);

/* The index of the first of verifiers[0..n) that password matches, or -1
 * (a malformed or NULL verifier never matches). One PBKDF2 per distinct salt
 * and iteration count. */
int msoauth_verifier_find(const char *const *verifiers, size_t n,
                          const struct msoauth_secret *password);

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
