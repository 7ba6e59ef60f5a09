/*
 * verify.h - verifying a user's password against the identity platform, as
 * the PAM module does.
 *
 * The password is always checked online (ROPC): a cached token proves
 * nothing about the password typed now. Two local memories bend that rule,
 * both as salted, slow verifiers in the cache entry of the user:
 * - failure_cache: a password the platform rejected (AADSTS50126) is
 *   rejected locally for that many seconds, so a client retrying a stale
 *   password cannot trigger Entra's smart lockout;
 * - offline_grace: when the platform cannot be reached (not when it says
 *   no), the last password verified online is accepted for that many
 *   seconds.
 */
#ifndef MSOAUTH_VERIFY_H
#define MSOAUTH_VERIFY_H

#include <stddef.h>

#include "result.h"
#include "secret.h"
#include "token.h"

struct msoauth_verified {
  char *identity; /* the primary address verified */
  int offline;    /* accepted within offline_grace, platform unreachable */
  int cached_failure; /* rejected by failure_cache, without a request */
};

void msoauth_verified_clear(struct msoauth_verified *v);

/* The password came from another module (PAM_AUTHTOK, use_first_pass or
 * try_first_pass): no verifier of it is ever kept. */
#define MSOAUTH_VERIFY_FOREIGN 0x1u

/*
 * Verifies password for user (len bytes; the identity rules apply first,
 * and an empty password fails with MSOAUTH_ERR_EMPTY_SECRET; neither sends
 * a request). Then the token's identity must be the one asked for (rule 3:
 * MSOAUTH_ERR_ALIAS, or the primary address with alias_policy = resolve),
 * and with allowed_groups the id token's `groups` claim must name one of
 * them (MSOAUTH_ERR_GROUP, also when the claim is absent or overflowed).
 * With store_tokens the refresh token obtained is kept for auth = refresh.
 * out is initialised here; clear it with msoauth_verified_clear.
 */
msoauth_rc msoauth_password_verify(struct msoauth_ctx *ctx, const char *user,
                                   size_t len,
                                   const struct msoauth_secret *password,
                                   unsigned flags,
                                   struct msoauth_verified *out,
                                   struct msoauth_err *err)
    __attribute__((warn_unused_result));

#endif
