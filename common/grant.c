/*
 * grant.c - OAuth 2.0 grants against the Microsoft identity platform.
 *
 * Each grant builds a form, authenticates the client, sends one request (with
 * the retries http.c makes: for the password grant only where nothing was
 * sent or the server asked for it) and reads the answer: tokens on 200, a typed
 * Entra error otherwise. Nothing here keeps state between calls.
 *
 * Microsoft's answers are the default; where Entra says nothing, the
 * standards decide: RFC 8628 (a device answer without Microsoft's message,
 * the client's credential at the device endpoint) and RFC 6749 (a refresh
 * without scope asks for the scope granted; invalid_grant on a refresh is a
 * dead sign-in). The server's error_description is logged at info level,
 * never when it quotes a secret the request carried.
 */
#include "config_build.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "entra_error.h"
#include "grant.h"
#include "json.h"
#include "scope.h"

#define GRANT_TYPE_DEVICE_CODE "urn:ietf:params:oauth:grant-type:device_code"
#define ASSERTION_TYPE "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

/* Longest error_description logged. */
#define DESCRIPTION_MAX 512
/* A run of this many bytes of a secret in a description is a quote of it
 * (a server may cut, or re-encode, what it echoes). */
#define QUOTE_MIN 8

/* The device-code flow's limits: Microsoft gives 900 s and 5 s. */
#define DEVICE_EXPIRES_MAX 3600
#define DEVICE_INTERVAL_DEFAULT 5
#define DEVICE_INTERVAL_MAX 60

msoauth_rc msoauth_client_init(struct msoauth_client *client,
                               const struct msoauth_grant_settings *set,
                               const struct msoauth_log *log,
                               struct msoauth_err *err) {
  msoauth_rc rc;

  memset(client, 0, sizeof(*client));
  client->set = *set;
  client->log = log;
  rc = msoauth_http_new(&set->http, log, &client->http, err);
  if (!rc && set->client_certificate_file != NULL)
    rc = msoauth_signer_load(set->client_certificate_file, set->client_key_file,
                             &client->signer, err);
  if (rc)
    msoauth_client_cleanup(client);
  return rc;
}

void msoauth_client_cleanup(struct msoauth_client *client) {
  msoauth_http_free(&client->http);
  msoauth_signer_free(&client->signer);
}

msoauth_rc msoauth_client_endpoint(const struct msoauth_client *client,
                                   const char *what, char **url_r) {
  struct msoauth_buf url;
  msoauth_rc rc;

  msoauth_buf_init(&url, 4096, 0);
  rc = msoauth_buf_addf(&url, "%s/%s/oauth2/v2.0/%s", client->set.authority,
                        client->set.tenant, what);
  *url_r = rc ? NULL : msoauth_buf_take(&url);
  return rc;
}

void msoauth_tokens_clear(struct msoauth_tokens *tokens) {
  msoauth_secret_free(&tokens->access_token);
  msoauth_secret_free(&tokens->refresh_token);
  msoauth_secret_free(&tokens->id_token);
  free(tokens->scope);
  memset(tokens, 0, sizeof(*tokens));
}

void msoauth_device_code_clear(struct msoauth_device_code *dc) {
  free(dc->user_code);
  msoauth_secret_free(&dc->device_code);
  free(dc->verification_uri);
  free(dc->verification_uri_complete);
  free(dc->message);
  memset(dc, 0, sizeof(*dc));
}

/* Reads token_type, expires_in and scope of a token answer. */
static msoauth_rc parse_token_fields(struct json_object *root, long long now,
                                     struct msoauth_tokens *tokens,
                                     struct msoauth_err *err) {
  const char *type, *scope;
  long long expires_in;
  int bad = 0;

  type = msoauth_json_string(root, "token_type", &bad);
  if (type == NULL || strcasecmp(type, "Bearer") != 0)
    return msoauth_fail(err, MSOAUTH_ERR_PROTOCOL,
                        "token answer without token_type Bearer");
  if (msoauth_json_int(root, "expires_in", &expires_in) != MSOAUTH_OK ||
      expires_in <= 0 || expires_in > MSOAUTH_EXPIRES_IN_MAX)
    return msoauth_fail(err, MSOAUTH_ERR_PROTOCOL,
                        "token answer without a plausible expires_in");
  tokens->expires_at = now + expires_in;
  scope = msoauth_json_string(root, "scope", &bad);
  if (bad)
    return msoauth_fail(err, MSOAUTH_ERR_PROTOCOL,
                        "token answer with a malformed scope");
  if (scope != NULL) {
    tokens->scope = strdup(scope);
    if (tokens->scope == NULL)
      return msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
  }
  return MSOAUTH_OK;
}

/* Moves the three tokens out of the answer, wiping json-c's copies. */
static msoauth_rc take_tokens(struct json_object *root,
                              struct msoauth_tokens *tokens,
                              struct msoauth_err *err) {
  msoauth_rc rc;

  rc = msoauth_json_take_secret(root, "access_token", &tokens->access_token);
  if (!rc)
    rc = msoauth_json_take_secret(root, "refresh_token",
                                  &tokens->refresh_token);
  if (!rc)
    rc = msoauth_json_take_secret(root, "id_token", &tokens->id_token);
  if (rc)
    return msoauth_fail(err, rc, "token answer with a malformed token");
  if (tokens->access_token == NULL)
    return msoauth_fail(err, MSOAUTH_ERR_PROTOCOL,
                        "token answer without access_token");
  if (!msoauth_secret_is_token(tokens->access_token) ||
      (tokens->refresh_token != NULL &&
       !msoauth_secret_is_token(tokens->refresh_token)))
    return msoauth_fail(err, MSOAUTH_ERR_PROTOCOL,
                        "token answer with characters a token cannot hold");
  return MSOAUTH_OK;
}

msoauth_rc msoauth_token_response_parse(const char *body, size_t len,
                                        long long now,
                                        struct msoauth_tokens *tokens,
                                        struct msoauth_err *err) {
  struct json_object *root;
  msoauth_rc rc;

  memset(tokens, 0, sizeof(*tokens));
  root = msoauth_json_parse(body, len);
  if (!json_object_is_type(root, json_type_object)) {
    json_object_put(root);
    return msoauth_fail(err, MSOAUTH_ERR_PROTOCOL,
                        "the token answer is not a JSON object");
  }
  rc = take_tokens(root, tokens, err);
  if (!rc)
    rc = parse_token_fields(root, now, tokens, err);
  json_object_put(root);
  if (rc)
    msoauth_tokens_clear(tokens);
  return rc;
}

/* Whether the client has a credential to send. */
static int has_credential(const struct msoauth_client *client) {
  return client->set.client_secret != NULL || client->signer != NULL;
}

/* Adds client_id and the client's credential for a request whose
 * assertion (if any) is for the token endpoint url; the assertion made is
 * kept in *assertion_r when it is not NULL (the caller frees it). */
static msoauth_rc add_client_auth(struct msoauth_client *client,
                                  struct msoauth_buf *form, const char *url,
                                  struct msoauth_secret **assertion_r,
                                  struct msoauth_err *err) {
  const struct msoauth_grant_settings *set = &client->set;
  struct msoauth_secret *assertion = NULL;
  msoauth_rc rc;

  rc = msoauth_form_add(form, "client_id", set->client_id);
  if (!rc && set->client_secret != NULL)
    rc = msoauth_form_add(form, "client_secret",
                          msoauth_secret_value(set->client_secret));
  if (rc)
    return msoauth_fail(err, rc, "cannot build the request");
  if (client->signer == NULL)
    return MSOAUTH_OK;
  rc = msoauth_signer_assertion(client->signer, set->client_id, url,
                                (long long)time(NULL), &assertion, err);
  if (rc)
    return rc;
  rc = msoauth_form_add(form, "client_assertion_type", ASSERTION_TYPE);
  if (!rc)
    rc = msoauth_form_add(form, "client_assertion",
                          msoauth_secret_value(assertion));
  if (assertion_r != NULL) {
    msoauth_secret_free(assertion_r);
    *assertion_r = assertion;
    assertion = NULL;
  }
  msoauth_secret_free(&assertion);
  if (rc)
    return msoauth_fail(err, rc, "cannot build the request");
  return MSOAUTH_OK;
}

/* Whether text holds QUOTE_MIN bytes in a row of value (len bytes), or
 * all of a shorter value. */
static int quotes(const char *text, const char *value, size_t len) {
  size_t run = len < QUOTE_MIN ? len : QUOTE_MIN;
  size_t tlen = strlen(text);

  for (size_t i = 0; run > 0 && i + run <= len; i++)
    if (memmem(text, tlen, value + i, run) != NULL)
      return 1;
  return 0;
}

/* Whether text quotes secret as it was sent (form-encoded) or decoded. */
static int quotes_secret(const char *text,
                         const struct msoauth_secret *secret) {
  struct msoauth_buf enc;
  int found;

  if (secret == NULL)
    return 0;
  if (quotes(text, msoauth_secret_value(secret), msoauth_secret_len(secret)))
    return 1;
  msoauth_buf_init(&enc, MSOAUTH_HTTP_FORM_MAX, 1);
  /* When it cannot be checked, it is not shown. */
  found = msoauth_url_encode(&enc, msoauth_secret_value(secret),
                             msoauth_secret_len(secret)) != MSOAUTH_OK ||
          quotes(text, msoauth_buf_str(&enc), enc.len);
  msoauth_buf_free(&enc);
  return found;
}

/* The secrets a request carried, for its error answer's description. */
struct sent {
  const struct msoauth_secret *grant;     /* password, refresh token, device
                                             code; NULL: none */
  const struct msoauth_secret *assertion; /* the last one sent; NULL */
};

/*
 * A refusal, typed; its error_description logged at info level (-v): what
 * the server says is often the only clue to a standard server's refusal.
 * A description that quotes a secret the request carried (a server may echo
 * a form field) is withheld whole. A client that sent no credential and
 * got invalid_client without an AADSTS code is told so, not that its
 * credential was refused.
 */
static msoauth_rc refusal(struct msoauth_client *client,
                          const struct msoauth_http_response *resp,
                          const struct sent *sent, struct msoauth_err *err) {
  char desc[DESCRIPTION_MAX];
  msoauth_rc rc;

  rc = msoauth_entra_error(resp->status, msoauth_buf_str(&resp->body),
                           resp->body.len, err);
  msoauth_entra_description(msoauth_buf_str(&resp->body), resp->body.len,
                            desc, sizeof(desc));
  if (desc[0] != '\0' &&
      (quotes_secret(desc, client->set.client_secret) ||
       quotes_secret(desc, sent->grant) ||
       quotes_secret(desc, sent->assertion)))
    MSOAUTH_INFO(client->log, "the identity platform's error description is "
                              "not shown: it quotes a secret of the request");
  else if (desc[0] != '\0')
    MSOAUTH_INFO(client->log, "the identity platform says: %s", desc);
  if (rc == MSOAUTH_ERR_CLIENT_CONFIG && err != NULL &&
      err->why == MSOAUTH_WHY_INVALID_CLIENT && err->aadsts == 0 &&
      !has_credential(client)) {
    rc = msoauth_fail(err, MSOAUTH_ERR_CLIENT_CONFIG,
                      "invalid_client: the app must authenticate, and none "
                      "of its credentials is configured: set client_secret "
                      "or client_certificate_file");
    err->why = MSOAUTH_WHY_INVALID_CLIENT;
  }
  return rc;
}

/* POSTs form to url; on 200 hands the body to the caller, else turns the
 * answer into a typed error. */
static msoauth_rc post(struct msoauth_client *client, const char *url,
                       struct msoauth_buf *form, const struct sent *sent,
                       long long deadline_ms,
                       struct msoauth_http_response *resp,
                       struct msoauth_err *err) {
  msoauth_rc rc;

  rc = msoauth_http_request(client->http, url, form, deadline_ms, resp, err);
  if (rc)
    return rc;
  if (resp->status == 200)
    return MSOAUTH_OK;
  return refusal(client, resp, sent, err);
}

/* A token request's form: the grant's fields, to which each attempt adds
 * the client's credential (a newly signed assertion each time: its jti is
 * single-use). */
struct token_form {
  struct msoauth_client *client;
  const struct msoauth_buf *fields;
  const char *url;
  struct msoauth_secret *assertion; /* the last one sent, or NULL */
};

static msoauth_rc make_token_form(void *arg, struct msoauth_buf *form,
                                  struct msoauth_err *err) {
  struct token_form *tf = arg;
  msoauth_rc rc;

  rc = msoauth_buf_add(form, tf->fields->data, tf->fields->len);
  if (rc)
    return msoauth_fail(err, rc, "cannot build the request");
  return add_client_auth(tf->client, form, tf->url, &tf->assertion, err);
}

/* POSTs the grant's fields (form, carrying the grant's secret: NULL when
 * none) with the client's credential to the token endpoint, retrying as
 * policy allows, and reads the tokens. Frees form. */
static msoauth_rc token_request(struct msoauth_client *client,
                                struct msoauth_buf *form,
                                const struct msoauth_secret *secret,
                                enum msoauth_http_retry policy,
                                long long deadline_ms,
                                struct msoauth_tokens *tokens,
                                struct msoauth_err *err) {
  struct msoauth_http_response resp;
  struct msoauth_http_post req;
  struct token_form tf;
  struct sent sent;
  char *url = NULL;
  msoauth_rc rc;

  memset(tokens, 0, sizeof(*tokens));
  memset(&resp, 0, sizeof(resp));
  memset(&tf, 0, sizeof(tf));
  rc = msoauth_client_endpoint(client, "token", &url);
  if (rc) {
    msoauth_fail(err, rc, "out of memory");
    goto out;
  }
  tf.client = client;
  tf.fields = form;
  tf.url = url;
  req.url = url;
  req.form = NULL;
  req.make_form = make_token_form;
  req.arg = &tf;
  req.retry = policy;
  rc = msoauth_http_post(client->http, &req, deadline_ms, &resp, err);
  sent.grant = secret;
  sent.assertion = tf.assertion;
  if (!rc && resp.status != 200)
    rc = refusal(client, &resp, &sent, err);
  if (!rc)
    rc = msoauth_token_response_parse(msoauth_buf_str(&resp.body),
                                      resp.body.len, (long long)time(NULL),
                                      tokens, err);
out:
  msoauth_secret_free(&tf.assertion);
  msoauth_http_response_free(&resp);
  msoauth_buf_free(form);
  free(url);
  return rc;
}

/* Adds the scope of a grant that signs a user in: the id token, which says
 * whom the tokens are for, comes only with openid, and its name claim
 * (preferred_username) only with profile. */
static msoauth_rc add_user_scope(struct msoauth_buf *form, const char *scope) {
  struct msoauth_buf full;
  msoauth_rc rc;

  msoauth_buf_init(&full, MSOAUTH_HTTP_FORM_MAX, 0);
  rc = msoauth_buf_adds(&full, scope);
  if (!rc && !msoauth_scope_has(scope, "openid"))
    rc = msoauth_buf_adds(&full, " openid");
  if (!rc && !msoauth_scope_has(scope, "profile"))
    rc = msoauth_buf_adds(&full, " profile");
  if (!rc)
    rc = msoauth_form_add(form, "scope", msoauth_buf_str(&full));
  msoauth_buf_free(&full);
  return rc;
}

/* Starts a form with grant_type and scope. */
static msoauth_rc form_start(struct msoauth_buf *form, const char *grant_type,
                             const char *scope) {
  msoauth_rc rc;

  msoauth_buf_init(form, MSOAUTH_HTTP_FORM_MAX, 1);
  rc = msoauth_form_add(form, "grant_type", grant_type);
  if (!rc && scope != NULL)
    rc = msoauth_form_add(form, "scope", scope);
  return rc;
}

/* form_start for a grant that signs a user in; without scope (a refresh
 * asking for the scope granted, RFC 6749 section 6) none is sent. */
static msoauth_rc form_start_user(struct msoauth_buf *form,
                                  const char *grant_type, const char *scope) {
  msoauth_rc rc;

  msoauth_buf_init(form, MSOAUTH_HTTP_FORM_MAX, 1);
  rc = msoauth_form_add(form, "grant_type", grant_type);
  if (!rc && scope != NULL)
    rc = add_user_scope(form, scope);
  return rc;
}

msoauth_rc msoauth_grant_password(struct msoauth_client *client,
                                  const char *username,
                                  const struct msoauth_secret *password,
                                  const char *scope, long long deadline_ms,
                                  struct msoauth_tokens *tokens,
                                  struct msoauth_err *err) {
  struct msoauth_buf form;
  msoauth_rc rc;

  memset(tokens, 0, sizeof(*tokens));
  /* The form carries C strings: a NUL would cut the password short, and
   * "right password, NUL, anything" would then be accepted. */
  if (memchr(msoauth_secret_value(password), '\0',
             msoauth_secret_len(password)) != NULL)
    return msoauth_fail(err, MSOAUTH_ERR_INVALID,
                        "the password for %s holds a NUL byte", username);
  rc = form_start_user(&form, "password", scope);
  if (!rc)
    rc = msoauth_form_add(&form, "username", username);
  if (!rc)
    rc = msoauth_form_add(&form, "password", msoauth_secret_value(password));
  if (rc)
    return msoauth_fail(err, rc, "cannot build the request");
  MSOAUTH_DEBUG(client->log, "ROPC for %s", username);
  /* A password sent twice may count twice towards a lockout. */
  return token_request(client, &form, password, MSOAUTH_HTTP_RETRY_UNSENT,
                       deadline_ms, tokens, err);
}

msoauth_rc msoauth_grant_client_credentials(struct msoauth_client *client,
                                            const char *scope,
                                            long long deadline_ms,
                                            struct msoauth_tokens *tokens,
                                            struct msoauth_err *err) {
  struct msoauth_buf form;
  msoauth_rc rc;

  memset(tokens, 0, sizeof(*tokens));
  rc = form_start(&form, "client_credentials", scope);
  if (rc)
    return msoauth_fail(err, rc, "cannot build the request");
  MSOAUTH_DEBUG(client->log, "client credentials for %s",
                client->set.client_id);
  return token_request(client, &form, NULL, MSOAUTH_HTTP_RETRY_FAILURES,
                       deadline_ms, tokens, err);
}

msoauth_rc msoauth_grant_refresh(struct msoauth_client *client,
                                 const struct msoauth_secret *refresh_token,
                                 const char *scope, long long deadline_ms,
                                 struct msoauth_tokens *tokens,
                                 struct msoauth_err *err) {
  struct msoauth_buf form;
  msoauth_rc rc;

  memset(tokens, 0, sizeof(*tokens));
  rc = form_start_user(&form, "refresh_token", scope);
  if (!rc)
    rc = msoauth_form_add(&form, "refresh_token",
                          msoauth_secret_value(refresh_token));
  if (rc)
    return msoauth_fail(err, rc, "cannot build the request");
  MSOAUTH_DEBUG(client->log, "refresh token grant%s",
                scope == NULL ? " for the scope granted" : "");
  rc = token_request(client, &form, refresh_token, MSOAUTH_HTTP_RETRY_FAILURES,
                     deadline_ms, tokens, err);
  /* RFC 6749 section 5.2: invalid_grant on a refresh is a refresh token
   * expired or revoked (Entra says so with a code: 70008, 50173, ...). */
  if (rc == MSOAUTH_ERR_DENIED && err != NULL &&
      err->why == MSOAUTH_WHY_INVALID_GRANT && err->aadsts == 0)
    rc = msoauth_fail(err, MSOAUTH_ERR_GRANT_EXPIRED,
                      "invalid_grant: the stored sign-in expired or was "
                      "revoked: run `msoauth login USER` again");
  return rc;
}

/* Copies the string member key, which must be present. */
static msoauth_rc dup_member(struct json_object *root, const char *key,
                             char **value_r, struct msoauth_err *err) {
  int bad = 0;
  const char *value = msoauth_json_string(root, key, &bad);

  if (value == NULL || *value == '\0')
    return msoauth_fail(err, MSOAUTH_ERR_PROTOCOL,
                        "device code answer without %s", key);
  *value_r = strdup(value);
  if (*value_r == NULL)
    return msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
  return MSOAUTH_OK;
}

/* Copies the string member key when it is there (*value_r NULL when not);
 * a member of another type is an error. */
static msoauth_rc dup_optional(struct json_object *root, const char *key,
                               char **value_r, struct msoauth_err *err) {
  int bad = 0;
  const char *value = msoauth_json_string(root, key, &bad);

  *value_r = NULL;
  if (bad)
    return msoauth_fail(err, MSOAUTH_ERR_PROTOCOL,
                        "device code answer with a malformed %s", key);
  if (value == NULL || *value == '\0')
    return MSOAUTH_OK;
  *value_r = strdup(value);
  if (*value_r == NULL)
    return msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
  return MSOAUTH_OK;
}

/* The words for the user when the answer has no message (Microsoft's
 * extra): RFC 8628 section 3.3 gives the page and the code, and the page
 * that already holds the code (verification_uri_complete) when there is
 * one. */
static msoauth_rc device_message(struct msoauth_device_code *dc,
                                 struct msoauth_err *err) {
  struct msoauth_buf msg;
  msoauth_rc rc;

  msoauth_buf_init(&msg, 4096, 0);
  rc = msoauth_buf_addf(&msg,
                        "To sign in, use a web browser to open the page %s "
                        "and enter the code %s to authenticate.",
                        dc->verification_uri, dc->user_code);
  if (!rc && dc->verification_uri_complete != NULL)
    rc = msoauth_buf_addf(&msg, " Or open %s, which holds the code.",
                          dc->verification_uri_complete);
  dc->message = rc ? NULL : msoauth_buf_take(&msg);
  msoauth_buf_free(&msg);
  if (dc->message == NULL)
    return msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
  return MSOAUTH_OK;
}

static msoauth_rc parse_device_code(const char *body, size_t len,
                                    struct msoauth_device_code *dc,
                                    struct msoauth_err *err) {
  struct json_object *root = msoauth_json_parse(body, len);
  long long expires_in = 0, interval = DEVICE_INTERVAL_DEFAULT;
  msoauth_rc rc;

  if (!json_object_is_type(root, json_type_object)) {
    json_object_put(root);
    return msoauth_fail(err, MSOAUTH_ERR_PROTOCOL,
                        "the device code answer is not a JSON object");
  }
  rc = msoauth_json_take_secret(root, "device_code", &dc->device_code);
  if (!rc && dc->device_code == NULL)
    rc = MSOAUTH_ERR_PROTOCOL;
  if (rc)
    msoauth_fail(err, rc, "device code answer without device_code");
  if (!rc)
    rc = dup_member(root, "user_code", &dc->user_code, err);
  if (!rc)
    rc = dup_member(root, "verification_uri", &dc->verification_uri, err);
  if (!rc)
    rc = dup_optional(root, "verification_uri_complete",
                      &dc->verification_uri_complete, err);
  if (!rc)
    rc = dup_optional(root, "message", &dc->message, err);
  if (!rc && dc->message == NULL)
    rc = device_message(dc, err);
  if (!rc && (msoauth_json_int(root, "expires_in", &expires_in) != MSOAUTH_OK ||
              expires_in <= 0 || expires_in > DEVICE_EXPIRES_MAX))
    rc = msoauth_fail(err, MSOAUTH_ERR_PROTOCOL,
                      "device code answer without a plausible expires_in");
  if (!rc && msoauth_json_int(root, "interval", &interval) == MSOAUTH_ERR_PROTOCOL)
    rc = msoauth_fail(err, MSOAUTH_ERR_PROTOCOL,
                      "device code answer with a malformed interval");
  json_object_put(root);
  if (rc)
    return rc;
  if (interval < 1 || interval > DEVICE_INTERVAL_MAX)
    interval = DEVICE_INTERVAL_DEFAULT;
  dc->interval = (long)interval;
  dc->expires_at = (long long)time(NULL) + expires_in;
  return MSOAUTH_OK;
}

msoauth_rc msoauth_grant_device_start(struct msoauth_client *client,
                                      const char *scope, long long deadline_ms,
                                      struct msoauth_device_code *dc,
                                      struct msoauth_err *err) {
  struct msoauth_http_response resp;
  struct msoauth_buf form;
  struct sent sent = {NULL, NULL};
  struct msoauth_secret *assertion = NULL;
  char *url = NULL, *token_url = NULL;
  msoauth_rc rc;

  memset(dc, 0, sizeof(*dc));
  memset(&resp, 0, sizeof(resp));
  msoauth_buf_init(&form, MSOAUTH_HTTP_FORM_MAX, 1);
  rc = msoauth_client_endpoint(client, "devicecode", &url);
  if (!rc)
    rc = msoauth_client_endpoint(client, "token", &token_url);
  if (!rc)
    rc = add_user_scope(&form, scope);
  if (rc) {
    msoauth_fail(err, rc, "cannot build the request");
    goto out;
  }
  /* RFC 8628 section 3.1: a confidential client authenticates here as at
   * the token endpoint (Entra ignores it); an assertion names the token
   * endpoint, the audience every grant uses. */
  rc = add_client_auth(client, &form, token_url, &assertion, err);
  if (rc)
    goto out;
  sent.assertion = assertion;
  rc = post(client, url, &form, &sent, deadline_ms, &resp, err);
  if (!rc)
    rc = parse_device_code(msoauth_buf_str(&resp.body), resp.body.len, dc, err);
out:
  if (rc)
    msoauth_device_code_clear(dc);
  msoauth_secret_free(&assertion);
  msoauth_http_response_free(&resp);
  msoauth_buf_free(&form);
  free(url);
  free(token_url);
  return rc;
}

msoauth_rc msoauth_grant_device_poll(struct msoauth_client *client,
                                     const struct msoauth_device_code *dc,
                                     long long deadline_ms,
                                     struct msoauth_tokens *tokens,
                                     struct msoauth_err *err) {
  struct msoauth_buf form;
  msoauth_rc rc;

  memset(tokens, 0, sizeof(*tokens));
  rc = form_start(&form, GRANT_TYPE_DEVICE_CODE, NULL);
  if (!rc)
    rc = msoauth_form_add(&form, "device_code",
                          msoauth_secret_value(dc->device_code));
  if (rc)
    return msoauth_fail(err, rc, "cannot build the request");
  return token_request(client, &form, dc->device_code,
                       MSOAUTH_HTTP_RETRY_FAILURES, deadline_ms, tokens, err);
}
