/*
 * grant.h - OAuth 2.0 grants against {authority}/{tenant}/oauth2/v2.0/.
 *
 * A grant is one request and its answer: it knows no cache. Every grant
 * authenticates the client as configured: public (client_id only), client
 * secret, or a certificate's client assertion. Every grant that signs a
 * user in (password, refresh, device code) asks for `openid profile` on top
 * of the scope given, so that an id token says whom the tokens are for.
 */
#ifndef MSOAUTH_GRANT_H
#define MSOAUTH_GRANT_H

#include <stddef.h>

#include "assertion.h"
#include "http.h"
#include "log.h"
#include "result.h"
#include "secret.h"

/* Longest expires_in believed (Entra's tokens live about an hour). */
#define MSOAUTH_EXPIRES_IN_MAX (24 * 3600)

/* The app registration and where it signs in (token_token_settings.c fills it from
 * the configuration). The strings and the secret are not copied: they
 * must outlive the client made from them. */
struct msoauth_grant_settings {
  const char *authority; /* https://..., without a trailing slash */
  const char *tenant;
  const char *client_id;
  const struct msoauth_secret *client_secret; /* NULL: none */
  const char *client_certificate_file;        /* NULL: none */
  const char *client_key_file;                /* NULL: none */
  struct msoauth_http_settings http;
};

/* The app registration as seen by the grants: settings and credentials,
 * all read when it is made. */
struct msoauth_client {
  struct msoauth_grant_settings set; /* its strings not owned */
  const struct msoauth_log *log;     /* not owned */
  struct msoauth_http *http;
  struct msoauth_signer *signer; /* NULL without a certificate credential */
};

/* Makes the HTTP handle and loads the certificate credential, if any.
 * Release with msoauth_client_cleanup. */
msoauth_rc msoauth_client_init(struct msoauth_client *client,
                               const struct msoauth_grant_settings *set,
                               const struct msoauth_log *log,
                               struct msoauth_err *err)
    __attribute__((warn_unused_result));

void msoauth_client_cleanup(struct msoauth_client *client);

/* "{authority}/{tenant}/oauth2/v2.0/{what}"; the caller frees *url_r. */
msoauth_rc msoauth_client_endpoint(const struct msoauth_client *client,
                                   const char *what, char **url_r)
    __attribute__((warn_unused_result));

struct msoauth_tokens {
  struct msoauth_secret *access_token;
  struct msoauth_secret *refresh_token; /* NULL when none was issued */
  struct msoauth_secret *id_token;      /* NULL when none was issued */
  long long expires_at;                 /* unix seconds */
  char *scope;                          /* as granted; NULL when not said */
};

/* Wipes and frees the contents; the struct may be reused. */
void msoauth_tokens_clear(struct msoauth_tokens *tokens);

/*
 * Reads a successful token answer received at now (unix seconds): token_type
 * Bearer, access_token a string, expires_in a positive integer no larger
 * than MSOAUTH_EXPIRES_IN_MAX, refresh_token and id_token strings when
 * present. Anything else is MSOAUTH_ERR_PROTOCOL. tokens is initialised here.
 */
msoauth_rc msoauth_token_response_parse(const char *body, size_t len,
                                        long long now,
                                        struct msoauth_tokens *tokens,
                                        struct msoauth_err *err)
    __attribute__((warn_unused_result));

/* grant_type=password (ROPC) for username. */
msoauth_rc msoauth_grant_password(struct msoauth_client *client,
                                  const char *username,
                                  const struct msoauth_secret *password,
                                  const char *scope, long long deadline_ms,
                                  struct msoauth_tokens *tokens,
                                  struct msoauth_err *err)
    __attribute__((warn_unused_result));

/* grant_type=client_credentials (app-only). */
msoauth_rc msoauth_grant_client_credentials(struct msoauth_client *client,
                                            const char *scope,
                                            long long deadline_ms,
                                            struct msoauth_tokens *tokens,
                                            struct msoauth_err *err)
    __attribute__((warn_unused_result));

/* grant_type=refresh_token, sending the scopes again; scope NULL sends
 * none, which asks for the scope granted (RFC 6749 section 6). A plain
 * invalid_grant (no AADSTS code) is MSOAUTH_ERR_GRANT_EXPIRED, as Entra's
 * codes for a dead refresh token are. */
msoauth_rc msoauth_grant_refresh(struct msoauth_client *client,
                                 const struct msoauth_secret *refresh_token,
                                 const char *scope, long long deadline_ms,
                                 struct msoauth_tokens *tokens,
                                 struct msoauth_err *err)
    __attribute__((warn_unused_result));

struct msoauth_device_code {
  char *user_code;
  struct msoauth_secret *device_code;
  char *verification_uri;
  char *verification_uri_complete; /* RFC 8628: holds the code; NULL */
  char *message;         /* Microsoft's own wording for the user, or ours
                            from the page and the code (RFC 8628) */
  long interval;         /* seconds between polls */
  long long expires_at;  /* unix seconds */
};

void msoauth_device_code_clear(struct msoauth_device_code *dc);

/* POST /devicecode: starts the device-code flow, with the client's
 * credential when it has one. dc is initialised here. */
msoauth_rc msoauth_grant_device_start(struct msoauth_client *client,
                                      const char *scope, long long deadline_ms,
                                      struct msoauth_device_code *dc,
                                      struct msoauth_err *err)
    __attribute__((warn_unused_result));

/* One poll of the device-code grant: MSOAUTH_OK with tokens, or
 * MSOAUTH_ERR_PENDING, MSOAUTH_ERR_SLOW_DOWN (add 5 s to the interval),
 * MSOAUTH_ERR_DECLINED, MSOAUTH_ERR_CODE_EXPIRED, or another failure. */
msoauth_rc msoauth_grant_device_poll(struct msoauth_client *client,
                                     const struct msoauth_device_code *dc,
                                     long long deadline_ms,
                                     struct msoauth_tokens *tokens,
                                     struct msoauth_err *err)
    __attribute__((warn_unused_result));

#endif
