/*
 * jwt.h - reading the claims of a JWT issued by the identity platform.
 *
 * Used to learn whom a token names (the alias rule, allowed_groups, the
 * cache list). The token came over a verified TLS connection from the token
 * endpoint; the signature is not checked here.
 */
#ifndef MSOAUTH_JWT_H
#define MSOAUTH_JWT_H

#include <stddef.h>

#include "result.h"

/* Largest JWT decoded. */
#define MSOAUTH_JWT_MAX (64 * 1024)

struct msoauth_claims {
  char *alg;                /* of the header; never NULL after decoding */
  char *upn;                /* each string NULL when absent */
  char *preferred_username;
  char *unique_name;
  char *oid;
  char *tid;
  char *aud;
  char *appid;              /* appid (v1), azp (v2) or client_id (RFC 9068) */
  char *scp;                /* scp, or scope (RFC 9068); space-separated */
  char **roles;
  size_t n_roles;
  char **groups;
  size_t n_groups;
  int groups_overage;       /* _claim_names.groups present: groups not listed */
  long long exp, iat, nbf;  /* 0 when absent */
};

/*
 * Decodes the payload of a compact JWT of exactly three base64url parts.
 * Claims of the wrong JSON type are an error (MSOAUTH_ERR_PROTOCOL), never
 * guessed. On success the caller owns claims' contents and releases them with
 * msoauth_claims_clear; on failure claims is left cleared.
 */
msoauth_rc msoauth_jwt_decode(const char *jwt, size_t len,
                              struct msoauth_claims *claims,
                              struct msoauth_err *err)
    __attribute__((warn_unused_result));

void msoauth_claims_clear(struct msoauth_claims *claims);

/* Whom the token names: upn, else preferred_username, else unique_name;
 * NULL for app-only tokens. Owned by claims. */
const char *msoauth_claims_identity(const struct msoauth_claims *claims);

#endif
