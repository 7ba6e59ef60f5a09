/*
 * identity.h - the identity rules of the contract, applied before any request.
 *
 * 1. Names are trimmed and lowercased; a bare name gets default_domain.
 * 2. The domain must be one of `domains`; with auth = service_account the
 *    target's domain must also be the service account's.
 * 3. An alias (aliases_file, or a token naming another primary identity) is
 *    rejected naming the primary address, or replaced by it
 *    (alias_policy = resolve).
 * 4. Control characters (any byte < 0x20, and 0x7f; also U+0080..U+009F
 *    in UTF-8), invalid UTF-8 and names longer than MSOAUTH_NAME_MAX bytes
 *    are rejected.
 *
 * An error detail names the user only when it holds no control character.
 */
#ifndef MSOAUTH_IDENTITY_H
#define MSOAUTH_IDENTITY_H

#include <stddef.h>

#include "aliases.h"
#include "jwt.h"
#include "result.h"
#include "secret.h"

#define MSOAUTH_NAME_MAX 256

/* What the rules are made of (token_token_settings.c fills it from the configuration;
 * nothing is copied). */
struct msoauth_identity_settings {
  char *const *domains; /* lowercased; n_domains == 0 means any domain */
  size_t n_domains;
  const char *default_domain;          /* lowercased; NULL when none */
  const struct msoauth_alias *aliases; /* read from aliases_file */
  size_t n_aliases;
  enum msoauth_alias_policy alias_policy;
  const char *tenant;          /* a token's tid must be it when a GUID */
  const char *client_id;       /* an id token's aud */
  const char *service_account; /* lowercased UPN; NULL when none */
};

/*
 * Applies rules 1 to 4 (aliases from aliases_file) to the len bytes of name
 * (len, so an embedded NUL is seen and refused). On success *identity_r is
 * the normalised primary address, owned by the caller. Fails with
 * MSOAUTH_ERR_NAME, MSOAUTH_ERR_DOMAIN or MSOAUTH_ERR_ALIAS (err->detail
 * names the primary address) and a detail saying why; MSOAUTH_ERR_CONFIG
 * when alias_policy = resolve maps to a malformed primary address.
 */
msoauth_rc
msoauth_identity_normalize(const struct msoauth_identity_settings *set,
                           const char *name, size_t len, char **identity_r,
                           struct msoauth_err *err)
    __attribute__((warn_unused_result));

/* Rule 2 for auth = service_account: the (normalised) target's domain must be
 * the service account's, exactly (a subdomain is another domain).
 * MSOAUTH_ERR_CROSS_DOMAIN otherwise; MSOAUTH_ERR_CONFIG without a
 * service_account; MSOAUTH_ERR_NAME for a target without a domain. */
msoauth_rc
msoauth_identity_check_service(const struct msoauth_identity_settings *set,
                               const char *target, struct msoauth_err *err)
    __attribute__((warn_unused_result));

/*
 * Rule 3 for the identity a token names: when token_name (may be NULL: then
 * asked stands) differs from asked, asked was an alias: MSOAUTH_ERR_ALIAS
 * naming token_name, or with alias_policy = resolve *identity_r is
 * token_name, normalised (it must pass rule 4 and the domain rule, else
 * that error). Otherwise *identity_r is a copy of asked. The caller owns
 * *identity_r; it is NULL on failure.
 */
msoauth_rc
msoauth_identity_match_token(const struct msoauth_identity_settings *set,
                             const char *asked, const char *token_name,
                             char **identity_r, struct msoauth_err *err)
    __attribute__((warn_unused_result));

/*
 * Rule 3 and the tenant on what a user's sign-in returned (ROPC, refresh,
 * device code; never app-only tokens, which name no user). The identity is
 * read from the id token, which must be there (every such grant asks for
 * openid): a JWT whose alg is RS256, whose aud is client_id and which names
 * the user (upn, preferred_username or unique_name); otherwise
 * MSOAUTH_ERR_NO_IDENTITY, as nothing may then be stored under the name
 * asked for. With a tenant id (GUID) as `tenant`, the id token's tid, and
 * the access token's when it is a readable JWT, must be that tenant
 * (MSOAUTH_ERR_TENANT); a domain or organizations as `tenant` cannot be
 * compared with a tid, and the domain rule stands for it. Then
 * msoauth_identity_match_token(asked, the name read). On success
 * *identity_r is as there, and *claims_r (when not NULL) holds the id
 * token's claims, both owned by the caller; on failure both are empty.
 * The signature is not checked: the tokens came from the token endpoint
 * over TLS that was verified (OpenID Connect Core 3.1.3.7).
 */
msoauth_rc msoauth_identity_from_tokens(
    const struct msoauth_identity_settings *set, const char *asked,
    const struct msoauth_secret *id_token, const struct msoauth_secret *access,
    struct msoauth_claims *claims_r, char **identity_r, struct msoauth_err *err)
    __attribute__((warn_unused_result));

/* Whether `tenant` is a tenant id (a GUID), which a token's tid can be
 * compared with. */
int msoauth_identity_tenant_is_id(const char *tenant);

/* The part after the last '@', or NULL. */
const char *msoauth_identity_domain(const char *identity);

#endif
