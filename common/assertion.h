/*
 * assertion.h - certificate credentials: the client assertion JWT.
 *
 * The certificate and the private key are read when the signer is made (so a
 * caller that chroots later keeps them); each request gets a fresh assertion
 * signed with RS256 (PS256 where the key is an RSA-PSS key), header
 * x5t#S256 = base64url(SHA-256(certificate DER)), claims aud = the token
 * endpoint, iss = sub = client_id, a random jti, iat, nbf and exp five
 * minutes ahead.
 */
#ifndef MSOAUTH_ASSERTION_H
#define MSOAUTH_ASSERTION_H

#include "result.h"
#include "secret.h"

#define MSOAUTH_ASSERTION_LIFETIME 300

struct msoauth_signer;

/* Reads a PEM certificate and a PEM RSA private key; the key file must be a
 * regular file not readable by group or others. The caller owns *signer_r. */
msoauth_rc msoauth_signer_load(const char *cert_file, const char *key_file,
                               struct msoauth_signer **signer_r,
                               struct msoauth_err *err)
    __attribute__((warn_unused_result));

void msoauth_signer_free(struct msoauth_signer **signer);

/* A client assertion for client_id and audience (the token endpoint URL),
 * issued at now (unix seconds). The caller owns *jwt_r. */
msoauth_rc msoauth_signer_assertion(const struct msoauth_signer *signer,
                                    const char *client_id, const char *audience,
                                    long long now, struct msoauth_secret **jwt_r,
                                    struct msoauth_err *err)
    __attribute__((warn_unused_result));

/* The certificate's notAfter, unix seconds. */
long long msoauth_signer_not_after(const struct msoauth_signer *signer);

#endif
