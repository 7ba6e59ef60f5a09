/*
 * entra_error.c - the identity platform's error answers, typed.
 *
 * The decision rests on the AADSTS codes of error_codes (or, without them,
 * the leading "AADSTSnnnn:" of error_description) and on the OAuth "error"
 * field. The detail line is built from our own sentences only: the
 * description may echo what the user typed, so none of it is copied. The
 * description is handed out on its own (msoauth_entra_description), made
 * safe for a log line, for the grants to log once they know it quotes
 * nothing they sent.
 */
#include "config_build.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "entra_error.h"
#include "json.h"
#include "text.h"

/* Far larger than any error answer of the identity platform. */
#define ENTRA_ERROR_MAX (64 * 1024)

/* AADSTS codes have at most 7 digits today; allow a little growth. */
#define AADSTS_MAX 999999999L

static const char GRANT_EXPIRED_ADVICE[] =
    "The stored sign-in expired or was revoked: run `msoauth login USER` "
    "again.";

static const char DEFAULT_ADVICE[] =
    "The identity platform refused the request.";

struct code_info {
  long code;
  msoauth_rc rc;
  const char *advice;
};

static const struct code_info codes[] = {
    /* the user's credentials and account */
    {50126, MSOAUTH_ERR_BAD_CREDENTIALS, "The user name or password is wrong."},
    {50034, MSOAUTH_ERR_NO_USER,
     "The user does not exist in this tenant: check the user name."},
    {50020, MSOAUTH_ERR_NO_USER,
     "The user belongs to another tenant: use an account of this tenant."},
    {90072, MSOAUTH_ERR_NO_USER,
     "The user is not in this tenant: use an account of this tenant."},
    {50053, MSOAUTH_ERR_LOCKED,
     "The account is locked after too many failed sign-ins; wait and try "
     "again."},
    {50057, MSOAUTH_ERR_DISABLED, "The account is disabled in Entra ID."},
    {50055, MSOAUTH_ERR_PASSWORD_EXPIRED,
     "The password has expired: change it at https://aka.ms/sspr or in "
     "Outlook on the web."},
    {50144, MSOAUTH_ERR_PASSWORD_EXPIRED,
     "The Active Directory password has expired: change it on-premises."},
    /* multi-factor authentication and Conditional Access */
    {50076, MSOAUTH_ERR_MFA_REQUIRED,
     "Multi-factor authentication is required: password sign-in (ROPC) "
     "cannot satisfy it. Exclude this app from the MFA policy, or use auth = "
     "refresh with msoauth login."},
    {50079, MSOAUTH_ERR_MFA_REQUIRED,
     "The user must register for multi-factor authentication, which password "
     "sign-in (ROPC) cannot do: use auth = refresh with msoauth login."},
    {50158, MSOAUTH_ERR_MFA_REQUIRED,
     "An external security challenge is required, which password sign-in "
     "(ROPC) cannot satisfy: use auth = refresh with msoauth login."},
    {53003, MSOAUTH_ERR_CONDITIONAL_ACCESS,
     "Blocked by a Conditional Access policy: ask the administrator to exempt "
     "this sign-in or use another method."},
    {53000, MSOAUTH_ERR_CONDITIONAL_ACCESS,
     "Conditional Access requires a compliant device: ask the administrator "
     "to exempt this sign-in."},
    {53001, MSOAUTH_ERR_CONDITIONAL_ACCESS,
     "Conditional Access requires a domain-joined device: ask the "
     "administrator to exempt this sign-in."},
    {530032, MSOAUTH_ERR_CONDITIONAL_ACCESS,
     "Blocked by a security policy of the tenant: ask the administrator."},
    {50097, MSOAUTH_ERR_CONDITIONAL_ACCESS,
     "Device authentication is required: ask the administrator to exempt "
     "this sign-in."},
    /* the app registration and the request */
    {700016, MSOAUTH_ERR_CLIENT_CONFIG,
     "client_id is not an app registration of this tenant."},
    {7000215, MSOAUTH_ERR_CLIENT_CONFIG,
     "The client secret is wrong: use the secret's Value, not its ID."},
    {7000222, MSOAUTH_ERR_CLIENT_CONFIG,
     "The client secret has expired: create a new one."},
    {7000218, MSOAUTH_ERR_CLIENT_CONFIG,
     "This app registration is confidential: configure client_secret or a "
     "certificate, or allow public client flows."},
    {90002, MSOAUTH_ERR_CLIENT_CONFIG,
     "The tenant does not exist: check `tenant`."},
    {65001, MSOAUTH_ERR_CLIENT_CONFIG,
     "The app lacks consent: an administrator must grant consent for its API "
     "permissions."},
    {700027, MSOAUTH_ERR_CLIENT_CONFIG,
     "The certificate was not accepted: upload this certificate to the app "
     "registration."},
    {700024, MSOAUTH_ERR_CLIENT_CONFIG,
     "The client assertion is outside its validity: check the system clock."},
    {700021, MSOAUTH_ERR_CLIENT_CONFIG,
     "The client assertion names another app: check client_id."},
    {700025, MSOAUTH_ERR_CLIENT_CONFIG,
     "This app registration is a public client: remove client_secret and the "
     "certificate from the configuration."},
    {50027, MSOAUTH_ERR_CLIENT_CONFIG,
     "The client assertion was refused (malformed, or for another token "
     "endpoint): check `authority` and `tenant`."},
    {50059, MSOAUTH_ERR_CLIENT_CONFIG,
     "No tenant was named: set `tenant` to the tenant id or a verified "
     "domain."},
    {90014, MSOAUTH_ERR_CLIENT_CONFIG,
     "A required field is missing from the request: check the configuration."},
    {900144, MSOAUTH_ERR_CLIENT_CONFIG,
     "A required parameter is missing from the request: check the "
     "configuration."},
    {70011, MSOAUTH_ERR_CLIENT_CONFIG,
     "A requested scope is invalid: check `scope` (app-only requests take a "
     "single RESOURCE/.default)."},
    {500011, MSOAUTH_ERR_CLIENT_CONFIG,
     "The resource of the requested scope is not in this tenant: check "
     "`scope`."},
    {700054, MSOAUTH_ERR_CLIENT_CONFIG,
     "The app registration does not allow this kind of answer: check its "
     "authentication settings."},
    {50011, MSOAUTH_ERR_CLIENT_CONFIG,
     "The redirect URI does not match the app registration."},
    {7000112, MSOAUTH_ERR_CLIENT_CONFIG,
     "The app registration is disabled: ask the administrator to enable it."},
    /* stored sign-ins (refresh tokens, device codes) */
    {70008, MSOAUTH_ERR_GRANT_EXPIRED, GRANT_EXPIRED_ADVICE},
    {700082, MSOAUTH_ERR_GRANT_EXPIRED, GRANT_EXPIRED_ADVICE},
    {50173, MSOAUTH_ERR_GRANT_EXPIRED, GRANT_EXPIRED_ADVICE},
    {70043, MSOAUTH_ERR_GRANT_EXPIRED, GRANT_EXPIRED_ADVICE},
    {700084, MSOAUTH_ERR_GRANT_EXPIRED, GRANT_EXPIRED_ADVICE},
    {9002313, MSOAUTH_ERR_GRANT_EXPIRED, GRANT_EXPIRED_ADVICE},
    {70000, MSOAUTH_ERR_GRANT_EXPIRED, GRANT_EXPIRED_ADVICE},
    /* the identity platform itself */
    {50196, MSOAUTH_ERR_THROTTLED,
     "Too many identical requests (loop detected): wait and try again."},
    {90055, MSOAUTH_ERR_THROTTLED,
     "Too many requests for this tenant: wait and try again."},
    {90033, MSOAUTH_ERR_UNAVAILABLE,
     "The identity platform is temporarily unavailable; try again later."},
    {50000, MSOAUTH_ERR_UNAVAILABLE,
     "The identity platform could not issue a token; try again later."},
};

/* The OAuth "error" values that decide by themselves (the device flow's
 * states), or that decide when no AADSTS code is known. */
struct oauth_error {
  const char *error;
  msoauth_rc rc;
  int decisive; /* wins over the AADSTS code */
  const char *detail;
};

static const struct oauth_error oauth_errors[] = {
    {"authorization_pending", MSOAUTH_ERR_PENDING, 1,
     "Authorization pending: the user has not finished signing in."},
    {"slow_down", MSOAUTH_ERR_SLOW_DOWN, 1,
     "Slow down: the device code was polled too fast."},
    {"authorization_declined", MSOAUTH_ERR_DECLINED, 1,
     "The user declined the sign-in."},
    {"expired_token", MSOAUTH_ERR_CODE_EXPIRED, 1,
     "The device code expired: start the sign-in again."},
    {"bad_verification_code", MSOAUTH_ERR_CODE_EXPIRED, 1,
     "The device code is not known: start the sign-in again."},
    /* RFC 8628 section 3.5: the standard's word for a declined sign-in. */
    {"access_denied", MSOAUTH_ERR_DECLINED, 1,
     "The user declined the sign-in."},
    {"invalid_client", MSOAUTH_ERR_CLIENT_CONFIG, 0,
     "The app's credential was not accepted: check client_id and its "
     "secret or certificate."},
    {"unauthorized_client", MSOAUTH_ERR_CLIENT_CONFIG, 0,
     "The app may not use this grant: check the app registration."},
    {"invalid_scope", MSOAUTH_ERR_CLIENT_CONFIG, 0,
     "A requested scope is invalid: check `scope`."},
    {"invalid_grant", MSOAUTH_ERR_DENIED, 0, DEFAULT_ADVICE},
    {"temporarily_unavailable", MSOAUTH_ERR_UNAVAILABLE, 0,
     "The identity platform is busy; try again later."},
};

static const struct code_info *find_code(long code) {
  for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
    if (codes[i].code == code)
      return &codes[i];
  return NULL;
}

static const struct oauth_error *find_oauth_error(const char *error) {
  if (error == NULL)
    return NULL;
  for (size_t i = 0; i < sizeof(oauth_errors) / sizeof(oauth_errors[0]); i++)
    if (strcmp(oauth_errors[i].error, error) == 0)
      return &oauth_errors[i];
  return NULL;
}

msoauth_rc msoauth_entra_code_rc(long code) {
  const struct code_info *info = find_code(code);

  return info != NULL ? info->rc : MSOAUTH_ERR_DENIED;
}

const char *msoauth_entra_advice(long code) {
  const struct code_info *info = find_code(code);

  return info != NULL ? info->advice : DEFAULT_ADVICE;
}

/* The codes of the answer, in order: error_codes when it is a non-empty
 * array of positive integers (anything else counts as absent). */
static size_t read_codes(struct json_object *obj, long *out, size_t max) {
  struct json_object *arr;
  size_t n, i;

  if (!json_object_object_get_ex(obj, "error_codes", &arr) ||
      !json_object_is_type(arr, json_type_array))
    return 0;
  n = json_object_array_length(arr);
  for (i = 0; i < n; i++) {
    struct json_object *el = json_object_array_get_idx(arr, i);
    int64_t v;

    if (!json_object_is_type(el, json_type_int))
      return 0;
    v = json_object_get_int64(el);
    if (v <= 0 || v > AADSTS_MAX)
      return 0;
    if (i < max)
      out[i] = (long)v;
  }
  return n < max ? n : max;
}

/* The code of a description starting "AADSTSnnnn:", or 0. */
static long description_code(const char *desc) {
  const char *digits;
  char *end;
  long v;

  if (desc == NULL || strncmp(desc, "AADSTS", 6) != 0)
    return 0;
  digits = desc + 6;
  if (*digits < '0' || *digits > '9')
    return 0;
  errno = 0;
  v = strtol(digits, &end, 10);
  if (errno != 0 || *end != ':' || v <= 0 || v > AADSTS_MAX)
    return 0;
  return v;
}

/* The first known code of the answer, else its first code, else 0; *info_r
 * is the known code's entry or NULL. */
static long answer_code(struct json_object *obj,
                        const struct code_info **info_r) {
  long list[16];
  size_t n;
  int bad = 0;

  *info_r = NULL;
  n = read_codes(obj, list, sizeof(list) / sizeof(list[0]));
  if (n == 0) {
    list[0] =
        description_code(msoauth_json_string(obj, "error_description", &bad));
    n = list[0] != 0 ? 1 : 0;
  }
  for (size_t i = 0; i < n; i++) {
    *info_r = find_code(list[i]);
    if (*info_r != NULL)
      return list[i];
  }
  return n > 0 ? list[0] : 0;
}

static msoauth_rc decide_rc(long http_status, const struct oauth_error *oe,
                            const struct code_info *info, long code,
                            struct msoauth_err *err);

/* The OAuth errors a grant may answer differently (result.h). */
static enum msoauth_why error_why(const char *error) {
  if (error == NULL)
    return MSOAUTH_WHY_NONE;
  if (strcmp(error, "invalid_client") == 0)
    return MSOAUTH_WHY_INVALID_CLIENT;
  if (strcmp(error, "invalid_scope") == 0)
    return MSOAUTH_WHY_INVALID_SCOPE;
  if (strcmp(error, "invalid_grant") == 0)
    return MSOAUTH_WHY_INVALID_GRANT;
  return MSOAUTH_WHY_NONE;
}

/* Decides from the parsed answer obj. The device flow's states win over
 * the codes (Microsoft sends 70000 with authorization_declined, and 70000
 * alone means a revoked grant); then a known code; then the error field. */
static msoauth_rc decide(long http_status, struct json_object *obj,
                         struct msoauth_err *err) {
  const struct code_info *info;
  const struct oauth_error *oe;
  const char *error;
  msoauth_rc rc;
  int bad = 0;
  long code;

  error = msoauth_json_string(obj, "error", &bad);
  oe = find_oauth_error(error);
  code = answer_code(obj, &info);
  if (error == NULL && code == 0)
    return msoauth_fail(err, MSOAUTH_ERR_PROTOCOL,
                        "HTTP %ld without an error body", http_status);
  if (err != NULL)
    err->aadsts = code;
  rc = decide_rc(http_status, oe, info, code, err);
  if (err != NULL)
    err->why = error_why(error);
  return rc;
}

/* The result and detail, once the error and the code are known. */
static msoauth_rc decide_rc(long http_status, const struct oauth_error *oe,
                            const struct code_info *info, long code,
                            struct msoauth_err *err) {
  if (oe != NULL && oe->decisive)
    return msoauth_fail(err, oe->rc, "%s", oe->detail);
  if (info != NULL)
    return msoauth_fail(err, info->rc, "AADSTS%ld: %s", code, info->advice);
  if (code != 0)
    return msoauth_fail(err, oe != NULL ? oe->rc : MSOAUTH_ERR_DENIED,
                        "AADSTS%ld: %s", code,
                        oe != NULL ? oe->detail : DEFAULT_ADVICE);
  /* error is the server's text: named only when it is one we know. */
  if (oe != NULL)
    return msoauth_fail(err, oe->rc, "%s: %s", oe->error, oe->detail);
  return msoauth_fail(err, MSOAUTH_ERR_DENIED, "HTTP %ld: %s", http_status,
                      DEFAULT_ADVICE);
}

msoauth_rc msoauth_entra_error(long http_status, const char *body, size_t len,
                               struct msoauth_err *err) {
  struct json_object *obj;
  msoauth_rc rc;

  msoauth_err_clear(err);
  if (body == NULL || len == 0)
    return msoauth_fail(err, MSOAUTH_ERR_PROTOCOL,
                        "HTTP %ld without an error body", http_status);
  if (len > ENTRA_ERROR_MAX)
    return msoauth_fail(err, MSOAUTH_ERR_PROTOCOL,
                        "HTTP %ld with an oversized error body", http_status);
  obj = msoauth_json_parse(body, len);
  if (!json_object_is_type(obj, json_type_object)) {
    json_object_put(obj);
    return msoauth_fail(err, MSOAUTH_ERR_PROTOCOL,
                        "HTTP %ld without an error body", http_status);
  }
  rc = decide(http_status, obj, err);
  json_object_put(obj);
  return rc;
}

void msoauth_entra_description(const char *body, size_t len, char *out,
                               size_t size) {
  struct json_object *obj = NULL;
  const char *desc = NULL;
  int bad = 0;

  out[0] = '\0';
  if (body != NULL && len > 0 && len <= ENTRA_ERROR_MAX)
    obj = msoauth_json_parse(body, len);
  if (json_object_is_type(obj, json_type_object))
    desc = msoauth_json_string(obj, "error_description", &bad);
  if (desc != NULL && *desc != '\0')
    msoauth_text_shown(desc, out, size);
  json_object_put(obj);
}
