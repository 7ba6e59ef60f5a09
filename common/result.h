/*
 * result.h - the one result type that crosses every boundary of msoauth.
 *
 * Every fallible function of the core returns an msoauth_rc. The numbers are
 * part of the code base's memory: never renumber or reuse one. Only the glue
 * (pam_msoauth/, sasl_xoauth2/, tools/) turns them into PAM_*, SASL_* or exit
 * codes.
 */
#ifndef MSOAUTH_RESULT_H
#define MSOAUTH_RESULT_H

#include <stddef.h>

typedef enum {
  MSOAUTH_OK = 0,

  /* local failures */
  MSOAUTH_ERR_NOMEM = 1,         /* out of memory */
  MSOAUTH_ERR_INVALID = 2,       /* bad argument or input */
  MSOAUTH_ERR_CONFIG = 3,        /* configuration rejected locally */
  MSOAUTH_ERR_IO = 4,            /* a file could not be read or written */
  MSOAUTH_ERR_NOT_FOUND = 5,     /* no such cache entry / secret / key */

  /* identity rules (decided locally, before any request) */
  MSOAUTH_ERR_NAME = 10,         /* control characters, empty or too long */
  MSOAUTH_ERR_DOMAIN = 11,       /* domain not in `domains` */
  MSOAUTH_ERR_ALIAS = 12,        /* an alias, with alias_policy = reject */
  MSOAUTH_ERR_CROSS_DOMAIN = 13, /* service account acting for another domain */
  MSOAUTH_ERR_EMPTY_SECRET = 14, /* empty password */
  MSOAUTH_ERR_SECRET_TOO_LONG = 15, /* longer than MSOAUTH_SECRET_MAX: never
                                       anyone's, never sent */

  /* answers of the identity platform */
  MSOAUTH_ERR_BAD_CREDENTIALS = 20, /* AADSTS50126 */
  MSOAUTH_ERR_NO_USER = 21,         /* AADSTS50034 */
  MSOAUTH_ERR_LOCKED = 22,          /* AADSTS50053 */
  MSOAUTH_ERR_DISABLED = 23,        /* AADSTS50057 */
  MSOAUTH_ERR_PASSWORD_EXPIRED = 24, /* AADSTS50055 */
  MSOAUTH_ERR_MFA_REQUIRED = 25,    /* AADSTS50076, 50079, 50158 */
  MSOAUTH_ERR_CONDITIONAL_ACCESS = 26, /* AADSTS53003 */
  MSOAUTH_ERR_CLIENT_CONFIG = 27,   /* app registration, secret, tenant, consent */
  MSOAUTH_ERR_GRANT_EXPIRED = 28,   /* refresh token expired or revoked */
  MSOAUTH_ERR_DENIED = 29,          /* any other refusal (unknown AADSTS code) */
  MSOAUTH_ERR_GROUP = 30,           /* not in allowed_groups */
  MSOAUTH_ERR_TENANT = 31,          /* the token's tid is not `tenant` */
  MSOAUTH_ERR_NO_IDENTITY = 32,     /* no identity could be read from the
                                       tokens of a sign-in: refused */

  /* device-code flow states */
  MSOAUTH_ERR_PENDING = 40,  /* authorization_pending */
  MSOAUTH_ERR_SLOW_DOWN = 41, /* slow_down */
  MSOAUTH_ERR_DECLINED = 42, /* authorization_declined */
  MSOAUTH_ERR_CODE_EXPIRED = 43, /* expired_token */

  /* the identity platform could not be used */
  MSOAUTH_ERR_UNAVAILABLE = 50, /* network error, timeout, 5xx */
  MSOAUTH_ERR_THROTTLED = 51,   /* 429 beyond the time budget */
  MSOAUTH_ERR_PROTOCOL = 52,    /* malformed, oversized or unexpected answer,
                                   a redirect, a TLS or certificate failure */
  MSOAUTH_ERR_TIMEOUT = 53,     /* the `timeout` budget ran out */
} msoauth_rc;

/* Which rule said no, where a host needs more than the result to choose
 * its words: the glue maps these, never the text of a detail. */
enum msoauth_why {
  MSOAUTH_WHY_NONE = 0,
  MSOAUTH_WHY_GROUPS_OVERAGE = 1,    /* too many groups for the token to
                                        list them */
  MSOAUTH_WHY_GROUPS_NO_CLAIM = 2,   /* the token has no groups claim */
  MSOAUTH_WHY_GROUPS_NOT_MEMBER = 3, /* in none of allowed_groups */
  MSOAUTH_WHY_NO_REFRESH_TOKEN = 4,  /* a sign-in that must bring one did
                                        not (offline_access refused) */
  /* The OAuth error of a refusal the grants may answer differently from
   * the identity platform's table (entra_error.c). */
  MSOAUTH_WHY_INVALID_CLIENT = 5, /* invalid_client */
  MSOAUTH_WHY_INVALID_SCOPE = 6,  /* invalid_scope */
  MSOAUTH_WHY_INVALID_GRANT = 7,  /* invalid_grant */
  MSOAUTH_WHY_NO_SIGN_IN = 8,     /* no stored sign-in (refresh token) to
                                     use: `msoauth login` must make one */
};

/* Longest detail message kept with an error. */
#define MSOAUTH_ERR_DETAIL_MAX 256

/*
 * What went wrong: the result, the rule behind it where one result covers
 * several (why), the first AADSTS code of the identity platform's answer
 * (0 when none) and, for a human, a detail line that never holds a secret.
 * Callers may pass NULL where they do not care.
 */
struct msoauth_err {
  msoauth_rc rc;
  enum msoauth_why why;
  long aadsts;
  char detail[MSOAUTH_ERR_DETAIL_MAX];
};

/* A short, static, human sentence for rc. Never NULL. */
const char *msoauth_strerror(msoauth_rc rc);

/* Sets err (when not NULL; why to MSOAUTH_WHY_NONE) and returns rc, for
 * `return msoauth_fail(...)`. */
msoauth_rc msoauth_fail(struct msoauth_err *err, msoauth_rc rc,
                        const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* msoauth_fail, saying which rule (why). */
msoauth_rc msoauth_fail_why(struct msoauth_err *err, msoauth_rc rc,
                            enum msoauth_why why, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Clears err (when not NULL) to MSOAUTH_OK. */
void msoauth_err_clear(struct msoauth_err *err);

/* Whether rc means the identity platform could not be reached or used
 * (unavailable, throttled, timeout, protocol), as opposed to a refusal. */
int msoauth_rc_unreachable(msoauth_rc rc);

/* Whether rc means no answer came at all: no connection, a timeout, a 5xx
 * or a 429 (unavailable, throttled, timeout), the only failures for which
 * PAM's offline_grace may accept a password. A TLS or certificate failure, a
 * redirect or a malformed answer (MSOAUTH_ERR_PROTOCOL) is not: whoever
 * answered instead of the platform must not decide when the grace applies. */
int msoauth_rc_no_answer(msoauth_rc rc);

#endif
