/*
 * pam_msoauth.c - the PAM module: a password verified against Microsoft
 * Entra ID (ROPC, the token layer's msoauth_token_verify_password), its
 * result (and err->why, never the detail's text) turned into a PAM code, a
 * message for the user where there is something to do, and one syslog line
 * per outcome.
 *
 * Everything is built per call and freed before returning: one process (a
 * Dovecot auth worker) authenticates many users with this module, so there
 * is no global mutable state. What setcred and account need from
 * authenticate travels in the handle (pam_set_data).
 */
#include "config_build.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "config.h"
#include "log.h"
#include "result.h"
#include "secret.h"
#include "text.h"
#include "token.h"

#define PUBLIC __attribute__((visibility("default")))

/* The handle data kept by authenticate for setcred and account. */
#define STATE_NAME "pam_msoauth_state"

/* Longest part of a user name shown in a log line. */
#define SHOWN_MAX 256

struct args {
  const char *config;  /* NULL: the default path */
  const char *profile; /* NULL: the keys before any section */
  int debug;
  int use_first_pass;
  int try_first_pass;
  const char **overrides; /* the KEY=VALUE arguments (not owned strings) */
  size_t n_overrides;
};

/* One call of an entry point. */
struct call {
  pam_handle_t *pamh;
  int silent; /* PAM_SILENT: no messages to the user */
  struct args args;
  struct msoauth_log log;
  struct msoauth_config *cfg;
  const char *user;          /* PAM_USER, owned by libpam */
  char shown[SHOWN_MAX + 4]; /* the user, printable */
  struct msoauth_err secret_err; /* why a password was not taken, when it
                                    was refused as such (too long) */
};

/* What authenticate leaves in the handle. */
struct state {
  int verified; /* the password was verified, online or offline */
  int blocked;  /* disabled, expired, MFA or conditional access */
  char *user;   /* PAM_USER when verified (after canonical_user); NULL */
  char identity[MSOAUTH_TOKEN_NAME_MAX + 1]; /* verified as; "" when not */
};

/* How a result of the core is reported. */
struct outcome {
  msoauth_rc rc;
  int pam;            /* the PAM code of authenticate */
  int priority;       /* of the log line */
  const char *result; /* the word logged */
};

static const struct outcome outcomes[] = {
    {MSOAUTH_OK, PAM_SUCCESS, LOG_INFO, "success"},
    {MSOAUTH_ERR_NOMEM, PAM_BUF_ERR, LOG_CRIT, "out-of-memory"},
    {MSOAUTH_ERR_INVALID, PAM_SERVICE_ERR, LOG_ERR, "internal-error"},
    {MSOAUTH_ERR_CONFIG, PAM_AUTHINFO_UNAVAIL, LOG_ERR, "config-error"},
    {MSOAUTH_ERR_IO, PAM_AUTHINFO_UNAVAIL, LOG_ERR, "io-error"},
    {MSOAUTH_ERR_NOT_FOUND, PAM_AUTHINFO_UNAVAIL, LOG_ERR, "io-error"},
    {MSOAUTH_ERR_NAME, PAM_USER_UNKNOWN, LOG_NOTICE, "bad-name"},
    {MSOAUTH_ERR_DOMAIN, PAM_USER_UNKNOWN, LOG_NOTICE, "domain-refused"},
    {MSOAUTH_ERR_ALIAS, PAM_AUTH_ERR, LOG_NOTICE, "alias"},
    {MSOAUTH_ERR_EMPTY_SECRET, PAM_AUTH_ERR, LOG_NOTICE, "empty-password"},
    {MSOAUTH_ERR_SECRET_TOO_LONG, PAM_AUTH_ERR, LOG_NOTICE,
     "password-too-long"},
    {MSOAUTH_ERR_BAD_CREDENTIALS, PAM_AUTH_ERR, LOG_NOTICE, "bad-password"},
    {MSOAUTH_ERR_NO_USER, PAM_USER_UNKNOWN, LOG_NOTICE, "no-such-user"},
    {MSOAUTH_ERR_LOCKED, PAM_MAXTRIES, LOG_WARNING, "locked"},
    {MSOAUTH_ERR_DISABLED, PAM_AUTH_ERR, LOG_NOTICE, "disabled"},
    {MSOAUTH_ERR_PASSWORD_EXPIRED, PAM_AUTH_ERR, LOG_NOTICE,
     "password-expired"},
    {MSOAUTH_ERR_MFA_REQUIRED, PAM_AUTH_ERR, LOG_NOTICE, "mfa-required"},
    {MSOAUTH_ERR_CONDITIONAL_ACCESS, PAM_AUTH_ERR, LOG_NOTICE,
     "conditional-access"},
    {MSOAUTH_ERR_CLIENT_CONFIG, PAM_AUTHINFO_UNAVAIL, LOG_ERR, "config-error"},
    {MSOAUTH_ERR_GROUP, PAM_PERM_DENIED, LOG_NOTICE, "not-in-allowed-groups"},
    {MSOAUTH_ERR_TENANT, PAM_AUTH_ERR, LOG_WARNING, "foreign-tenant"},
    {MSOAUTH_ERR_NO_IDENTITY, PAM_AUTH_ERR, LOG_WARNING, "no-identity"},
    {MSOAUTH_ERR_UNAVAILABLE, PAM_AUTHINFO_UNAVAIL, LOG_ERR, "unreachable"},
    {MSOAUTH_ERR_THROTTLED, PAM_AUTHINFO_UNAVAIL, LOG_ERR, "throttled"},
    {MSOAUTH_ERR_PROTOCOL, PAM_AUTHINFO_UNAVAIL, LOG_ERR, "protocol-error"},
    {MSOAUTH_ERR_TIMEOUT, PAM_AUTHINFO_UNAVAIL, LOG_ERR, "timeout"},
};

/* Any other refusal of the platform. */
static const struct outcome denied = {MSOAUTH_ERR_DENIED, PAM_AUTH_ERR,
                                      LOG_NOTICE, "denied"};

static const struct outcome *outcome_of(msoauth_rc rc) {
  for (size_t i = 0; i < sizeof(outcomes) / sizeof(outcomes[0]); i++)
    if (outcomes[i].rc == rc)
      return &outcomes[i];
  return &denied;
}

/* Refusals that the account phase reports as PAM_PERM_DENIED. */
static int is_blocked(msoauth_rc rc) {
  return rc == MSOAUTH_ERR_DISABLED || rc == MSOAUTH_ERR_PASSWORD_EXPIRED ||
         rc == MSOAUTH_ERR_MFA_REQUIRED || rc == MSOAUTH_ERR_CONDITIONAL_ACCESS;
}

/* ------------------------------------------------------------ logging */

static void sink(void *arg, enum msoauth_level level, const char *msg) {
  static const int priority[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};

  pam_syslog((const pam_handle_t *)arg, priority[level], "%s", msg);
}

/* A user name for a log line: control characters and invalid UTF-8
 * become '?', and a long name is cut. */
static void show_user(const char *user, char *out) {
  msoauth_text_shown(user, out, SHOWN_MAX + 4);
}

/* The one line of an outcome; pam_syslog adds "pam_msoauth(SERVICE:TYPE): ".
 */
static void log_outcome(const struct call *c, int priority, const char *result,
                        long aadsts, const char *detail, const char *hint) {
  pam_syslog(c->pamh, priority, "user=%s result=%s aadsts=%ld: %s%s", c->shown,
             result, aadsts, detail, hint);
}

/* Tells the user, unless the application asked for silence. */
static void tell(const struct call *c, const char *msg) {
  if (!c->silent && msg != NULL)
    pam_prompt(c->pamh, PAM_ERROR_MSG, NULL, "%s", msg);
}

/* ------------------------------------------------------------ arguments */

static const char *arg_value(const char *arg, const char *key) {
  size_t n = strlen(key);

  return strncmp(arg, key, n) == 0 ? arg + n : NULL;
}

/*
 * Why arg may not be a module argument, or NULL: /etc/pam.d is readable by
 * every user, so client_secret, and a proxy URL with credentials, belong in
 * msoauth.conf (mode 0600) or a secret file. "client_secret" or "proxy"
 * alone is the key of "KEY = VALUE" written with blanks, whose value would
 * follow as a bare word.
 */
static const char *secret_arg(const char *arg) {
  const char *v;

  if (strcmp(arg, "client_secret") == 0 ||
      arg_value(arg, "client_secret=") != NULL)
    return "client_secret is refused as a module argument, since /etc/pam.d "
           "is readable by every user: put the secret in a file of mode "
           "0600 named by client_secret_file in the configuration file";
  v = arg_value(arg, "proxy=");
  if (strcmp(arg, "proxy") == 0 || (v != NULL && strchr(v, '@') != NULL))
    return "a proxy URL with credentials (user:password@) is refused as a "
           "module argument, since /etc/pam.d is readable by every user: set "
           "proxy in the configuration file (mode 0600)";
  return NULL;
}

/* Module arguments; unknown bare words are logged and ignored, as pam_unix
 * does. Fails for an empty config= or profile=, a secret (secret_arg), or
 * out of memory. */
static int parse_args(pam_handle_t *pamh, int argc, const char **argv,
                      struct args *a) {
  memset(a, 0, sizeof(*a));
  a->overrides =
      calloc((size_t)(argc > 0 ? argc : 0) + 1, sizeof(*a->overrides));
  if (a->overrides == NULL)
    return PAM_BUF_ERR;
  for (int i = 0; i < argc; i++) {
    const char *arg = argv[i] != NULL ? argv[i] : "";
    const char *why = secret_arg(arg);
    const char *config = arg_value(arg, "config=");
    const char *profile = arg_value(arg, "profile=");

    /* Before anything else is logged: the words after it may be the
     * secret. Its value is never written. */
    if (why != NULL) {
      pam_syslog(pamh, LOG_ERR, "result=config-error: argument %d: %s", i + 1,
                 why);
      return PAM_AUTHINFO_UNAVAIL;
    }
    if (config != NULL)
      a->config = config;
    else if (profile != NULL)
      a->profile = profile;
    else if (strcmp(arg, "debug") == 0)
      a->debug = 1;
    else if (strcmp(arg, "use_first_pass") == 0)
      a->use_first_pass = 1;
    else if (strcmp(arg, "try_first_pass") == 0)
      a->try_first_pass = 1;
    else if (strchr(arg, '=') != NULL)
      a->overrides[a->n_overrides++] = arg;
    else
      pam_syslog(pamh, LOG_WARNING, "unknown option ignored: %.64s", arg);
  }
  if (a->debug)
    a->overrides[a->n_overrides++] = "log_level=debug";
  if ((a->config != NULL && *a->config == '\0') ||
      (a->profile != NULL && *a->profile == '\0')) {
    pam_syslog(pamh, LOG_ERR, "config= and profile= need a value");
    return PAM_AUTHINFO_UNAVAIL;
  }
  return PAM_SUCCESS;
}

/* ------------------------------------------------------------ one call */

static void call_close(struct call *c) {
  msoauth_config_free(&c->cfg);
  free(c->args.overrides);
  c->args.overrides = NULL;
}

/* The arguments and the log. On failure the outcome is logged and the PAM
 * code returned; call_close is needed whatever the result. */
static int call_start(struct call *c, pam_handle_t *pamh, int flags, int argc,
                      const char **argv) {
  int ret;

  memset(c, 0, sizeof(*c));
  c->pamh = pamh;
  c->silent = (flags & PAM_SILENT) != 0;
  show_user(NULL, c->shown);
  c->log.fn = sink;
  c->log.arg = pamh;
  ret = parse_args(pamh, argc, argv, &c->args);
  c->log.level = c->args.debug ? MSOAUTH_LOG_DEBUG : MSOAUTH_LOG_WARNING;
  return ret;
}

/* Arguments, user and configuration (see call_start). */
static int call_open(struct call *c, pam_handle_t *pamh, int flags, int argc,
                     const char **argv) {
  struct msoauth_err err;
  int ret;

  ret = call_start(c, pamh, flags, argc, argv);
  if (ret != PAM_SUCCESS)
    return ret;
  ret = pam_get_user(pamh, &c->user, NULL);
  if (ret != PAM_SUCCESS || c->user == NULL) {
    pam_syslog(pamh, LOG_ERR, "could not get the user name: %s",
               pam_strerror(pamh, ret));
    return ret == PAM_CONV_AGAIN ? PAM_INCOMPLETE : PAM_USER_UNKNOWN;
  }
  show_user(c->user, c->shown);
  if (msoauth_config_load(c->args.config, c->args.profile, c->args.overrides,
                          c->args.n_overrides, MSOAUTH_CONFIG_VERIFY_PASSWORDS,
                          &c->log, &c->cfg, &err) != MSOAUTH_OK) {
    const struct outcome *o = outcome_of(err.rc);

    log_outcome(c, LOG_ERR, "config-error", 0, err.detail, "");
    return o->pam == PAM_BUF_ERR ? PAM_BUF_ERR : PAM_AUTHINFO_UNAVAIL;
  }
  c->log.level = c->cfg->log_level;
  return PAM_SUCCESS;
}

/* ------------------------------------------------------------ passwords */

_Static_assert(MSOAUTH_SECRET_MAX == 65536, "the log line says 65536");

/* The password as a secret. One too long to be anyone's is refused
 * (MSOAUTH_ERR_SECRET_TOO_LONG in c->secret_err: no request is sent for
 * it); PAM_BUF_ERR out of memory. */
static int to_secret(struct call *c, const char *value,
                     struct msoauth_secret **pw_r) {
  if (strlen(value) > MSOAUTH_SECRET_MAX) {
    msoauth_fail(&c->secret_err, MSOAUTH_ERR_SECRET_TOO_LONG,
                 "password longer than 65536 bytes, not sent");
    return PAM_AUTH_ERR;
  }
  return msoauth_secret_from_str(value, pw_r) == MSOAUTH_OK ? PAM_SUCCESS
                                                            : PAM_BUF_ERR;
}

/* The password an earlier module of the stack obtained (PAM_AUTHTOK). */
static int item_password(struct call *c, struct msoauth_secret **pw_r) {
  const void *item = NULL;

  if (pam_get_item(c->pamh, PAM_AUTHTOK, &item) != PAM_SUCCESS || item == NULL)
    return PAM_AUTHTOK_RECOVERY_ERR;
  return to_secret(c, item, pw_r);
}

/* Asks for the password, and keeps it as PAM_AUTHTOK for later modules. */
static int prompt_password(struct call *c, struct msoauth_secret **pw_r) {
  char *resp = NULL;
  int ret;

  ret = pam_prompt(c->pamh, PAM_PROMPT_ECHO_OFF, &resp, "Password: ");
  if (ret == PAM_SUCCESS && resp == NULL)
    ret = PAM_CONV_ERR;
  if (ret == PAM_SUCCESS)
    ret = to_secret(c, resp, pw_r);
  if (ret == PAM_SUCCESS)
    ret = pam_set_item(c->pamh, PAM_AUTHTOK, resp);
  msoauth_free_wiped(&resp);
  if (ret == PAM_CONV_AGAIN)
    ret = PAM_INCOMPLETE;
  return ret;
}

/* Per use_first_pass / try_first_pass; *from_item_r tells where it came
 * from. */
static int get_password(struct call *c, struct msoauth_secret **pw_r,
                        int *from_item_r) {
  int ret;

  *from_item_r = 0;
  if (c->args.use_first_pass || c->args.try_first_pass) {
    ret = item_password(c, pw_r);
    if (ret == PAM_SUCCESS || c->args.use_first_pass) {
      *from_item_r = ret == PAM_SUCCESS;
      return ret;
    }
  }
  return prompt_password(c, pw_r);
}

/* Whether the password begins or ends with white space, which Entra ID does
 * not accept: worth saying in the log, never worth trimming. */
static int edge_space(const struct msoauth_secret *pw) {
  const char *s = msoauth_secret_value(pw);
  size_t n = msoauth_secret_len(pw);

  return n > 0 &&
         (s[0] == ' ' || s[0] == '\t' || s[n - 1] == ' ' || s[n - 1] == '\t');
}

/* ------------------------------------------------------------ outcomes */

/* The message for the user, for the results that need one. */
static const char *user_message(const struct msoauth_err *err) {
  switch (err->rc) {
  case MSOAUTH_ERR_DISABLED:
    return "Your account is disabled. Contact your administrator.";
  case MSOAUTH_ERR_PASSWORD_EXPIRED:
    return "Your password has expired. Change it at "
           "https://myaccount.microsoft.com, then sign in with the new one.";
  case MSOAUTH_ERR_MFA_REQUIRED:
    if (err->aadsts == 50079)
      return "Your account must register for multi-factor authentication: "
             "register at https://aka.ms/mfasetup, then ask your "
             "administrator how to sign in to this service.";
    return "Your organization requires multi-factor authentication for "
           "this sign-in, which this service cannot ask for. Contact your "
           "administrator.";
  case MSOAUTH_ERR_CONDITIONAL_ACCESS:
    return "Sign-in blocked by a Conditional Access policy of your "
           "organization. Contact your administrator.";
  case MSOAUTH_ERR_ALIAS:
    return err->detail; /* "X is an alias: sign in as PRIMARY" */
  case MSOAUTH_ERR_GROUP:
    if (err->why == MSOAUTH_WHY_GROUPS_OVERAGE)
      return "Access denied: your account is in too many groups for this "
             "service to check them. Contact your administrator.";
    if (err->why == MSOAUTH_WHY_GROUPS_NO_CLAIM)
      return "Access denied: your group memberships could not be checked. "
             "Contact your administrator.";
    return "Access denied: your account is not in a group allowed to use "
           "this service.";
  default:
    return NULL;
  }
}

static void state_free(struct state *st) {
  if (st != NULL)
    free(st->user);
  free(st);
}

static void state_cleanup(pam_handle_t *pamh, void *data, int status) {
  (void)pamh;
  (void)status;
  state_free(data);
}

/* Replaces what an earlier authenticate of this handle left. A success is
 * kept with PAM_USER as it is now, the name account and setcred vouch
 * for; when that cannot be kept, the handle holds no success. */
static void save_state(const struct call *c, const char *identity,
                       int blocked) {
  struct state *st = calloc(1, sizeof(*st));
  const void *user = NULL;

  if (st != NULL && identity != NULL &&
      pam_get_item(c->pamh, PAM_USER, &user) == PAM_SUCCESS && user != NULL) {
    st->user = strdup(user);
    st->verified = st->user != NULL;
    snprintf(st->identity, sizeof(st->identity), "%s", identity);
  }
  if (st != NULL)
    st->blocked = blocked;
  if (st == NULL ||
      pam_set_data(c->pamh, STATE_NAME, st, state_cleanup) != PAM_SUCCESS) {
    state_free(st);
    /* Whatever an earlier call left must not outlive this one. */
    (void)pam_set_data(c->pamh, STATE_NAME, NULL, NULL);
    pam_syslog(c->pamh, LOG_ERR, "could not keep the state of the login");
  }
}

/* The state authenticate left in this handle, or NULL. */
static const struct state *handle_state(pam_handle_t *pamh) {
  const void *data = NULL;

  /* pam_get_data's handle is declared non-null: no handle, no state. */
  if (pamh == NULL || pam_get_data(pamh, STATE_NAME, &data) != PAM_SUCCESS)
    return NULL;
  return data;
}

/* Whether this module verified user (PAM_USER now) in this handle: a
 * PAM_USER changed since names someone else. */
static int verified_here(const struct state *st, const char *user) {
  return st != NULL && st->verified && st->user != NULL && user != NULL &&
         strcmp(st->user, user) == 0;
}

/* With canonical_user, PAM_USER becomes the identity verified (trimmed,
 * lowercased, default_domain added, alias resolved) for the modules after
 * this one and the application. */
static int set_canonical(struct call *c, const struct msoauth_verified *v) {
  const void *item = NULL;

  if (!c->cfg->canonical_user)
    return PAM_SUCCESS;
  if (v->identity == NULL)
    return PAM_SERVICE_ERR;
  if (strcmp(c->user, v->identity) == 0)
    return PAM_SUCCESS;
  if (pam_set_item(c->pamh, PAM_USER, v->identity) != PAM_SUCCESS ||
      pam_get_item(c->pamh, PAM_USER, &item) != PAM_SUCCESS || item == NULL)
    return PAM_BUF_ERR;
  c->user = item; /* libpam freed the name c->user pointed to */
  return PAM_SUCCESS;
}

/* Maps, tells, logs and remembers the result of authenticate. */
static int auth_finish(struct call *c, msoauth_rc rc,
                       const struct msoauth_err *err,
                       const struct msoauth_verified *v,
                       const struct msoauth_secret *pw) {
  const struct outcome *o = outcome_of(rc);
  const char *result = o->result;
  const char *hint = "";
  char detail[MSOAUTH_ERR_DETAIL_MAX + 64];
  int priority = o->priority;
  int ret;

  ret = rc == MSOAUTH_OK ? set_canonical(c, v) : PAM_SUCCESS;
  if (ret != PAM_SUCCESS) {
    log_outcome(c, LOG_ERR, "internal-error", 0,
                "verified, but PAM_USER could not be set to the identity "
                "verified (canonical_user)",
                "");
    save_state(c, NULL, 0);
    return ret;
  }
  if (rc == MSOAUTH_OK) {
    snprintf(detail, sizeof(detail), "verified %s as %s%s",
             v->offline ? "offline, within offline_grace," : "online",
             v->identity != NULL ? v->identity : "(unknown)",
             c->cfg->canonical_user ? ", now PAM_USER" : "");
    if (v->offline) {
      result = "success-offline";
      priority = LOG_WARNING;
    }
  } else {
    snprintf(detail, sizeof(detail), "%s",
             err->detail[0] != '\0' ? err->detail : msoauth_strerror(rc));
    if (v != NULL && v->cached_failure)
      result = rc == MSOAUTH_ERR_LOCKED ? "locked-cached"
                                        : "bad-password-cached";
    else if (rc == MSOAUTH_ERR_BAD_CREDENTIALS && pw != NULL && edge_space(pw))
      hint = " (the password begins or ends with white space, which Entra "
             "ID does not accept; it was sent as typed)";
    tell(c, user_message(err));
  }
  log_outcome(c, priority, result, rc ? err->aadsts : 0, detail, hint);
  save_state(c,
             rc != MSOAUTH_OK      ? NULL
             : v->identity != NULL ? v->identity
                                   : "",
             is_blocked(rc));
  return o->pam;
}

/* Verifies, and with try_first_pass asks again once when the earlier
 * module's password was refused as wrong. */
static msoauth_rc verify(struct call *c, struct msoauth_ctx *ctx,
                         struct msoauth_secret **pw, int from_item,
                         struct msoauth_verified *v, struct msoauth_err *err,
                         int *pam_r) {
  msoauth_rc rc;

  /* The core never keeps a verifier of another module's password. */
  rc = msoauth_token_verify_password(ctx, c->user, strlen(c->user), *pw,
                                     from_item ? MSOAUTH_VERIFY_FOREIGN : 0,
                                     v, err);
  if (rc != MSOAUTH_ERR_BAD_CREDENTIALS || !from_item ||
      !c->args.try_first_pass)
    return rc;
  MSOAUTH_DEBUG(&c->log, "the password of an earlier module was refused; "
                         "asking for one");
  msoauth_secret_free(pw);
  *pam_r = prompt_password(c, pw);
  if (*pam_r != PAM_SUCCESS)
    return rc;
  msoauth_verified_clear(v);
  return msoauth_token_verify_password(ctx, c->user, strlen(c->user), *pw, 0,
                                       v, err);
}

/* The identity rules first (no prompt, no request when they refuse), then
 * the password, then the identity platform. */
static int auth_run(struct call *c) {
  struct msoauth_ctx *ctx = NULL;
  struct msoauth_secret *pw = NULL;
  struct msoauth_verified v;
  struct msoauth_err err;
  char *identity = NULL;
  int from_item = 0;
  int ret = PAM_SUCCESS;
  msoauth_rc rc;

  memset(&v, 0, sizeof(v));
  msoauth_err_clear(&err);
  rc = msoauth_token_name(c->cfg, c->user, strlen(c->user), &identity, &err);
  if (!rc)
    rc = msoauth_ctx_new(c->cfg, &c->log, &ctx, &err);
  if (rc) {
    ret = auth_finish(c, rc, &err, NULL, NULL);
    goto out;
  }
  MSOAUTH_DEBUG(&c->log, "%s: accepted by the identity rules as %s (%s%s%s)",
                c->shown, identity, c->cfg->path,
                c->cfg->profile != NULL ? ", profile " : "",
                c->cfg->profile != NULL ? c->cfg->profile : "");
  ret = get_password(c, &pw, &from_item);
  if (ret == PAM_SUCCESS)
    MSOAUTH_DEBUG(&c->log, "password from %s",
                  from_item ? "an earlier module (PAM_AUTHTOK)"
                            : "the conversation");
  if (ret == PAM_SUCCESS)
    rc = verify(c, ctx, &pw, from_item, &v, &err, &ret);
  if (c->secret_err.rc != MSOAUTH_OK) {
    ret = auth_finish(c, c->secret_err.rc, &c->secret_err, NULL, NULL);
    goto out;
  }
  if (ret != PAM_SUCCESS) {
    log_outcome(c, LOG_ERR, "no-password", 0, pam_strerror(c->pamh, ret), "");
    save_state(c, NULL, 0);
    goto out;
  }
  ret = auth_finish(c, rc, &err, &v, pw);
out:
  msoauth_verified_clear(&v);
  msoauth_secret_free(&pw);
  msoauth_ctx_free(&ctx);
  free(identity);
  return ret;
}

/* ------------------------------------------------------------ entry points */

/* Verifies PAM_USER's password (see auth_run). Keeps a small state in the
 * handle, owned and freed by libpam (state_cleanup); nothing else outlives
 * the call. */
PUBLIC int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc,
                               const char **argv) {
  struct call c;
  int ret;

  ret = call_open(&c, pamh, flags, argc, argv);
  if (ret == PAM_SUCCESS)
    ret = auth_run(&c);
  else
    save_state(&c, NULL, 0);
  call_close(&c);
  return ret;
}

/* PAM_USER, when there is one; account never asks for a name. */
static const char *pam_user_item(pam_handle_t *pamh) {
  const void *item = NULL;

  if (pamh == NULL || pam_get_item(pamh, PAM_USER, &item) != PAM_SUCCESS)
    return NULL;
  return item;
}

/* Succeeds after a successful authenticate of PAM_USER in this handle;
 * otherwise the module had no part in the login and stays out of the
 * result. */
PUBLIC int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc,
                          const char **argv) {
  (void)flags;
  (void)argc;
  (void)argv;
  if (verified_here(handle_state(pamh), pam_user_item(pamh)))
    return PAM_SUCCESS;
  return PAM_IGNORE;
}

/*
 * The module vouches only for what it saw: PAM_SUCCESS for the user it
 * verified in this handle, PAM_PERM_DENIED for an account the identity
 * platform refused as disabled, expired or blocked by MFA or conditional
 * access in this handle, PAM_IGNORE for everyone else (a public-key ssh
 * login, another module's user, a user Entra ID does not know), so that
 * the rest of the account stack (pam_unix, pam_sss) decides for them.
 */
static int account_run(struct call *c) {
  const struct state *st = handle_state(c->pamh);

  if (st != NULL && st->blocked) {
    log_outcome(c, LOG_NOTICE, "blocked", 0,
                "the last authentication found the account blocked", "");
    return PAM_PERM_DENIED;
  }
  if (verified_here(st, c->user)) {
    MSOAUTH_DEBUG(&c->log, "account of %s: verified in this handle as %s",
                  c->shown, st->identity);
    return PAM_SUCCESS;
  }
  MSOAUTH_DEBUG(&c->log,
                "account of %s: not verified by this module in this handle, "
                "left to the other modules",
                c->shown);
  return PAM_IGNORE;
}

/* Decided from the handle alone (see account_run): no request, and
 * msoauth.conf is not read. */
PUBLIC int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc,
                            const char **argv) {
  struct call c;
  int ret;

  ret = call_start(&c, pamh, flags, argc, argv);
  if (ret == PAM_SUCCESS) {
    c.user = pam_user_item(pamh);
    show_user(c.user, c.shown);
    ret = account_run(&c);
  }
  call_close(&c);
  return ret;
}

/* Passwords are changed at Microsoft, not here. */
PUBLIC int pam_sm_chauthtok(pam_handle_t *pamh, int flags, int argc,
                            const char **argv) {
  (void)pamh;
  (void)flags;
  (void)argc;
  (void)argv;
  return PAM_IGNORE;
}

/* Sessions are the application's: nothing to open or close. */
PUBLIC int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc,
                               const char **argv) {
  (void)pamh;
  (void)flags;
  (void)argc;
  (void)argv;
  return PAM_IGNORE;
}

PUBLIC int pam_sm_close_session(pam_handle_t *pamh, int flags, int argc,
                                const char **argv) {
  (void)pamh;
  (void)flags;
  (void)argc;
  (void)argv;
  return PAM_IGNORE;
}
