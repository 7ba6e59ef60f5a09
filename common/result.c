/*
 * result.c - human messages for msoauth_rc.
 */
#include "config_build.h"

#include <stdarg.h>
#include <stdio.h>

#include "result.h"

const char *msoauth_strerror(msoauth_rc rc) {
  switch (rc) {
  case MSOAUTH_OK: return "success";
  case MSOAUTH_ERR_NOMEM: return "out of memory";
  case MSOAUTH_ERR_INVALID: return "invalid argument";
  case MSOAUTH_ERR_CONFIG: return "configuration error";
  case MSOAUTH_ERR_IO: return "file error";
  case MSOAUTH_ERR_NOT_FOUND: return "not found";
  case MSOAUTH_ERR_NAME: return "user name refused";
  case MSOAUTH_ERR_DOMAIN: return "user domain not accepted";
  case MSOAUTH_ERR_ALIAS: return "an alias was used instead of the primary address";
  case MSOAUTH_ERR_CROSS_DOMAIN:
    return "the service account cannot act for users of another domain";
  case MSOAUTH_ERR_EMPTY_SECRET: return "empty password";
  case MSOAUTH_ERR_SECRET_TOO_LONG: return "password too long";
  case MSOAUTH_ERR_BAD_CREDENTIALS: return "wrong user name or password";
  case MSOAUTH_ERR_NO_USER: return "no such user in the tenant";
  case MSOAUTH_ERR_LOCKED: return "account locked";
  case MSOAUTH_ERR_DISABLED: return "account disabled";
  case MSOAUTH_ERR_PASSWORD_EXPIRED: return "password expired";
  case MSOAUTH_ERR_MFA_REQUIRED: return "multi-factor authentication required";
  case MSOAUTH_ERR_CONDITIONAL_ACCESS: return "blocked by conditional access";
  case MSOAUTH_ERR_CLIENT_CONFIG:
    return "the identity platform rejected the app configuration";
  case MSOAUTH_ERR_GRANT_EXPIRED: return "the stored sign-in expired or was revoked";
  case MSOAUTH_ERR_DENIED: return "the identity platform refused the request";
  case MSOAUTH_ERR_GROUP: return "not a member of an allowed group";
  case MSOAUTH_ERR_TENANT: return "the token was issued by another tenant";
  case MSOAUTH_ERR_NO_IDENTITY:
    return "the sign-in returned no identity that can be checked";
  case MSOAUTH_ERR_PENDING: return "authorization pending";
  case MSOAUTH_ERR_SLOW_DOWN: return "polling too fast";
  case MSOAUTH_ERR_DECLINED: return "the user declined the sign-in";
  case MSOAUTH_ERR_CODE_EXPIRED: return "the device code expired";
  case MSOAUTH_ERR_UNAVAILABLE: return "the identity platform is unreachable";
  case MSOAUTH_ERR_THROTTLED: return "throttled by the identity platform";
  case MSOAUTH_ERR_PROTOCOL: return "unexpected answer from the identity platform";
  case MSOAUTH_ERR_TIMEOUT: return "the identity platform did not answer in time";
  }
  return "unknown error";
}

static void set(struct msoauth_err *err, msoauth_rc rc, enum msoauth_why why,
                const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static void set(struct msoauth_err *err, msoauth_rc rc, enum msoauth_why why,
                const char *fmt, va_list ap) {
  err->rc = rc;
  err->why = why;
  vsnprintf(err->detail, sizeof(err->detail), fmt, ap);
}

msoauth_rc msoauth_fail(struct msoauth_err *err, msoauth_rc rc,
                        const char *fmt, ...) {
  va_list ap;

  if (err == NULL)
    return rc;
  va_start(ap, fmt);
  set(err, rc, MSOAUTH_WHY_NONE, fmt, ap);
  va_end(ap);
  return rc;
}

msoauth_rc msoauth_fail_why(struct msoauth_err *err, msoauth_rc rc,
                            enum msoauth_why why, const char *fmt, ...) {
  va_list ap;

  if (err == NULL)
    return rc;
  va_start(ap, fmt);
  set(err, rc, why, fmt, ap);
  va_end(ap);
  return rc;
}

void msoauth_err_clear(struct msoauth_err *err) {
  if (err == NULL)
    return;
  err->rc = MSOAUTH_OK;
  err->why = MSOAUTH_WHY_NONE;
  err->aadsts = 0;
  err->detail[0] = '\0';
}

int msoauth_rc_unreachable(msoauth_rc rc) {
  return rc == MSOAUTH_ERR_UNAVAILABLE || rc == MSOAUTH_ERR_THROTTLED ||
         rc == MSOAUTH_ERR_TIMEOUT || rc == MSOAUTH_ERR_PROTOCOL;
}

int msoauth_rc_no_answer(msoauth_rc rc) {
  return rc == MSOAUTH_ERR_UNAVAILABLE || rc == MSOAUTH_ERR_THROTTLED ||
         rc == MSOAUTH_ERR_TIMEOUT;
}
