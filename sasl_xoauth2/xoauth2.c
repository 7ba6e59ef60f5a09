/*
 * xoauth2.c - the Cyrus SASL client plugin: mechanisms XOAUTH2 and
 * OAUTHBEARER (RFC 7628) over the msoauth core.
 *
 * Glue only: the credentials come from SASL callbacks or prompts, the token
 * from msoauth_token_get (identity rules, cache, grant), and the core's
 * results become SASL_* codes with a seterror message here.
 *
 * Everything outside a chroot (configuration, secrets, CA bundle, cache
 * directory) is opened in sasl_client_plug_init, which Postfix's smtp runs
 * before it chroots. libcurl is mapped by the first request, or there too
 * in a process that may still chroot.
 */
#include "config_build.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/capability.h>

#include <sasl/sasl.h>
#include <sasl/saslplug.h>

#include "buf.h"
#include "config.h"
#include "framing.h"
#include "log.h"
#include "result.h"
#include "secret.h"
#include "text.h"
#include "token.h"

#define PLUGIN "xoauth2"
/* Longest name taken from the application (the core rejects past 256). */
#define NAME_MAX_LEN 1024
/* Longest response built: a token, a name, a host and the framing. */
#define RESPONSE_MAX (MSOAUTH_SECRET_MAX + 4096)

enum mech_kind { MECH_XOAUTH2 = 0, MECH_OAUTHBEARER = 1 };

/* Shared by both mechanisms, freed when the last one is freed. */
struct glob {
  const sasl_utils_t *utils; /* valid until mech_free */
  struct msoauth_log log;
  struct msoauth_config *cfg;
  struct msoauth_ctx *ctx; /* NULL when the configuration is broken */
  char problem[512];       /* why ctx is NULL */
  int refs;
};

/* glob_context of one mechanism of the table. */
struct mech_ref {
  enum mech_kind kind;
  struct glob *glob;
};

enum conn_state {
  ST_START = 0,   /* nothing sent yet */
  ST_SENT = 1,    /* the initial response is out */
  ST_REFUSED = 2, /* an error challenge was answered */
};

/* One authentication exchange. */
struct conn {
  enum mech_kind kind;
  struct glob *glob;
  enum conn_state state;
  char *authid;                /* from the application */
  size_t authid_len;           /* its length: a NUL may be inside */
  char *authzid;               /* from the application; NULL when none */
  size_t authzid_len;
  struct msoauth_secret *pass; /* the SASL password; NULL when none */
  char *identity;              /* the token's identity, for forget */
  char *out;                   /* the response (holds the token) */
  size_t outlen;
};

static struct mech_ref refs[2] = {{MECH_XOAUTH2, NULL},
                                  {MECH_OAUTHBEARER, NULL}};

static const char *mech_name(enum mech_kind kind) {
  return kind == MECH_XOAUTH2 ? "XOAUTH2" : "OAUTHBEARER";
}

/* ------------------------------------------------------------ logging */

static int sasl_level(enum msoauth_level level) {
  switch (level) {
  case MSOAUTH_LOG_ERROR:
    return SASL_LOG_ERR;
  case MSOAUTH_LOG_WARNING:
    return SASL_LOG_WARN;
  case MSOAUTH_LOG_INFO:
    return SASL_LOG_NOTE;
  default:
    return SASL_LOG_DEBUG;
  }
}

/* The connection whose step this thread is running, or NULL. libsasl2
 * gives a line logged without a connection to syslog, never to the
 * application's SASL_CB_LOG: the core's lines go through this one. */
static _Thread_local sasl_conn_t *step_conn;

/* The core's sink: the application's log callback during a step (syslog,
 * libsasl2's default, outside one). */
static void log_sink(void *arg, enum msoauth_level level, const char *msg) {
  const struct glob *g = arg;

  g->utils->log(step_conn, sasl_level(level), PLUGIN ": %s", msg);
}

/* Sets the connection's error message and logs it; returns code. */
static int fail(const sasl_client_params_t *params, int code,
                enum msoauth_level level, const char *msg) {
  params->utils->seterror(params->utils->conn, 0, "%s", msg);
  params->utils->log(params->utils->conn, sasl_level(level), PLUGIN ": %s",
                     msg);
  return code;
}

/* ------------------------------------------------------------ results */

static int sasl_code(msoauth_rc rc) {
  switch (rc) {
  case MSOAUTH_OK:
    return SASL_OK;
  case MSOAUTH_ERR_NOMEM:
    return SASL_NOMEM;
  case MSOAUTH_ERR_INVALID: /* a secret no identity platform could take */
    return SASL_BADPARAM;
  case MSOAUTH_ERR_CONFIG:
  case MSOAUTH_ERR_CLIENT_CONFIG:
  case MSOAUTH_ERR_IO:
    return SASL_CONFIGERR;
  case MSOAUTH_ERR_NO_USER:
    return SASL_NOUSER;
  case MSOAUTH_ERR_LOCKED:
  case MSOAUTH_ERR_DISABLED:
    return SASL_DISABLED;
  case MSOAUTH_ERR_PASSWORD_EXPIRED:
    return SASL_EXPIRED;
  case MSOAUTH_ERR_TENANT:      /* a token of another tenant */
  case MSOAUTH_ERR_NO_IDENTITY: /* nobody we could check */
    return SASL_BADAUTH;
  default:
    return msoauth_rc_unreachable(rc) ? SASL_TRYAGAIN : SASL_BADAUTH;
  }
}

/* ------------------------------------------------------------ credentials */

/* The answer the application gave to prompt id, or NULL. */
static sasl_interact_t *answered(sasl_interact_t *prompts, unsigned long id) {
  for (sasl_interact_t *p = prompts; p != NULL && p->id != SASL_CB_LIST_END;
       p++)
    if (p->id == id)
      return p;
  return NULL;
}

/* A copy of the len bytes at s (a NUL may be among them: the length goes
 * with the copy, into *len_r, so that the core sees every byte). */
static char *dup_name(const char *s, size_t len, size_t *len_r) {
  char *copy;

  if (len > NAME_MAX_LEN)
    len = NAME_MAX_LEN + 1; /* long enough for the core to refuse */
  copy = malloc(len + 1);
  if (copy == NULL)
    return NULL;
  memcpy(copy, s, len);
  copy[len] = '\0';
  *len_r = len;
  return copy;
}

/*
 * A name (SASL_CB_AUTHNAME or SASL_CB_USER) from a prompt answer or the
 * callback. SASL_OK with *value_r set (NULL when the application has none),
 * SASL_INTERACT when a prompt must ask, or an error.
 */
static int get_name(sasl_client_params_t *params, sasl_interact_t *prompts,
                    unsigned long id, char **value_r, size_t *len_r) {
  const sasl_utils_t *utils = params->utils;
  sasl_interact_t *p = answered(prompts, id);
  sasl_callback_ft proc = NULL;
  void *context = NULL;
  const char *value = NULL;
  unsigned len = 0;
  int ret;

  *value_r = NULL;
  if (p != NULL) {
    if (p->result == NULL)
      return SASL_OK;
    *value_r = dup_name(p->result, p->len, len_r);
    return *value_r != NULL ? SASL_OK : SASL_NOMEM;
  }
  ret = utils->getcallback(utils->conn, id, &proc, &context);
  if (ret == SASL_INTERACT)
    return SASL_INTERACT;
  if (ret != SASL_OK || proc == NULL)
    return SASL_OK; /* no such callback: no value */
  ret = ((sasl_getsimple_t *)(void (*)(void))proc)(context, (int)id, &value,
                                                   &len);
  if (ret != SASL_OK || value == NULL)
    return ret == SASL_INTERACT ? SASL_INTERACT : SASL_OK;
  *value_r = dup_name(value, len != 0 ? len : strlen(value), len_r);
  return *value_r != NULL ? SASL_OK : SASL_NOMEM;
}

/* The password's len bytes at value as a secret; a password too long for
 * one is refused with a message. */
static int new_pass(sasl_client_params_t *params, const char *value,
                    size_t len, struct msoauth_secret **secret_r) {
  char msg[128];

  if (len > MSOAUTH_SECRET_MAX) {
    snprintf(msg, sizeof(msg),
             "XOAUTH2: the SASL password is longer than %d bytes",
             MSOAUTH_SECRET_MAX);
    return fail(params, SASL_BADPARAM, MSOAUTH_LOG_WARNING, msg);
  }
  return msoauth_secret_new(value, len, secret_r) == MSOAUTH_OK ? SASL_OK
                                                                : SASL_NOMEM;
}

/* The SASL password (SASL_CB_PASS): same results as get_name. */
static int get_pass(sasl_client_params_t *params, sasl_interact_t *prompts,
                    struct msoauth_secret **secret_r) {
  const sasl_utils_t *utils = params->utils;
  sasl_interact_t *p = answered(prompts, SASL_CB_PASS);
  sasl_callback_ft proc = NULL;
  void *context = NULL;
  sasl_secret_t *secret = NULL;
  int ret;

  *secret_r = NULL;
  if (p != NULL) {
    if (p->result == NULL)
      return SASL_OK;
    return new_pass(params, p->result, p->len, secret_r);
  }
  ret = utils->getcallback(utils->conn, SASL_CB_PASS, &proc, &context);
  if (ret == SASL_INTERACT)
    return SASL_INTERACT;
  if (ret != SASL_OK || proc == NULL)
    return SASL_OK;
  ret = ((sasl_getsecret_t *)(void (*)(void))proc)(utils->conn, context,
                                                   SASL_CB_PASS, &secret);
  if (ret != SASL_OK || secret == NULL)
    return ret == SASL_INTERACT ? SASL_INTERACT : SASL_OK;
  return new_pass(params, (const char *)secret->data, secret->len, secret_r);
}

/* Whether the configured method takes the SASL password as its secret. */
static int wants_secret(const struct glob *g) {
  return g->cfg->auth == MSOAUTH_AUTH_PASSWORD ||
         g->cfg->auth == MSOAUTH_AUTH_TOKEN;
}

/* Builds the prompt list for the ids whose flag is set; the library gives
 * it back filled on the next step, and we free it then. */
static int make_prompts(struct conn *c, const sasl_client_params_t *params,
                        int need_authid, int need_authzid, int need_pass,
                        sasl_interact_t **prompt_need) {
  size_t n = (size_t)need_authid + (size_t)need_authzid + (size_t)need_pass;
  sasl_interact_t *list;
  size_t i = 0;

  list = params->utils->malloc(sizeof(*list) * (n + 1));
  if (list == NULL)
    return SASL_NOMEM;
  memset(list, 0, sizeof(*list) * (n + 1));
  if (need_authid) {
    list[i].id = SASL_CB_AUTHNAME;
    list[i].challenge = mech_name(c->kind);
    list[i++].prompt = "Mailbox (authentication name)";
  }
  if (need_authzid) {
    list[i].id = SASL_CB_USER;
    list[i].challenge = mech_name(c->kind);
    list[i++].prompt = "Authorization name (empty or the same mailbox)";
  }
  if (need_pass) {
    list[i].id = SASL_CB_PASS;
    list[i].challenge = mech_name(c->kind);
    list[i++].prompt =
        c->glob->cfg->auth == MSOAUTH_AUTH_TOKEN ? "Access token" : "Password";
  }
  list[i].id = SASL_CB_LIST_END;
  *prompt_need = list;
  return SASL_INTERACT;
}

/*
 * Collects the authentication id, the authorization id and (when the method
 * needs one) the password into c, asking through prompts where the
 * application registered callbacks without procedures.
 */
static int get_credentials(struct conn *c, sasl_client_params_t *params,
                           sasl_interact_t **prompt_need) {
  sasl_interact_t *prompts = prompt_need != NULL ? *prompt_need : NULL;
  int r_authid = SASL_OK, r_authzid = SASL_OK, r_pass = SASL_OK;
  int ret = SASL_OK;

  if (c->authid == NULL)
    r_authid =
        get_name(params, prompts, SASL_CB_AUTHNAME, &c->authid, &c->authid_len);
  if (c->authzid == NULL && r_authid != SASL_NOMEM)
    r_authzid = get_name(params, prompts, SASL_CB_USER, &c->authzid,
                         &c->authzid_len);
  if (c->pass == NULL && wants_secret(c->glob))
    r_pass = get_pass(params, prompts, &c->pass);
  /* The answers were copied: the list is ours to free. */
  if (prompts != NULL) {
    params->utils->free(prompts);
    *prompt_need = NULL;
  }
  if (r_authid == SASL_NOMEM || r_authzid == SASL_NOMEM || r_pass == SASL_NOMEM)
    return SASL_NOMEM;
  if (r_authid == SASL_INTERACT || r_authzid == SASL_INTERACT ||
      r_pass == SASL_INTERACT) {
    if (prompt_need == NULL)
      return fail(params, SASL_BADPARAM, MSOAUTH_LOG_ERROR,
                  "XOAUTH2: the application registered callbacks without "
                  "procedures but takes no prompts");
    ret = make_prompts(c, params, r_authid == SASL_INTERACT,
                       r_authzid == SASL_INTERACT, r_pass == SASL_INTERACT,
                       prompt_need);
  } else if (r_authid != SASL_OK || r_authzid != SASL_OK || r_pass != SASL_OK) {
    ret = r_authid != SASL_OK ? r_authid
                              : (r_authzid != SASL_OK ? r_authzid : r_pass);
  }
  return ret;
}

/* ------------------------------------------------------------ framing */

/* The initial response for token tok, into c->out (framing.c). */
static msoauth_rc build_response(struct conn *c,
                                 const sasl_client_params_t *params,
                                 const struct msoauth_token *tok) {
  struct xoauth2_frame f = {
      .bearer = c->kind == MECH_OAUTHBEARER,
      .identity = tok->identity,
      .host = params->serverFQDN,
      .remote = params->ipremoteport,
      .token = msoauth_secret_value(tok->access_token),
      .token_len = msoauth_secret_len(tok->access_token),
  };
  struct msoauth_buf buf;
  msoauth_rc rc;

  msoauth_buf_init(&buf, RESPONSE_MAX, 1);
  rc = xoauth2_frame_build(&f, &buf);
  if (rc)
    return rc;
  c->outlen = buf.len;
  c->out = msoauth_buf_take(&buf);
  return MSOAUTH_OK;
}

/* ------------------------------------------------------------ steps */

/* Whether the authorization id asks to act for someone else. */
static int foreign_authzid(const struct conn *c) {
  const char *a = c->authzid, *b = c->authid;
  size_t la = c->authzid_len, lb = c->authid_len;

  if (a == NULL)
    return 0;
  for (; la > 0 && (*a == ' ' || *a == '\t'); la--)
    a++;
  for (; lb > 0 && (*b == ' ' || *b == '\t'); lb--)
    b++;
  while (la > 0 && (a[la - 1] == ' ' || a[la - 1] == '\t'))
    la--;
  while (lb > 0 && (b[lb - 1] == ' ' || b[lb - 1] == '\t'))
    lb--;
  if (la == 0)
    return 0;
  /* Byte by byte: strncasecmp would stop at a NUL inside. */
  if (la != lb)
    return 1;
  for (size_t i = 0; i < la; i++)
    if (tolower((unsigned char)a[i]) != tolower((unsigned char)b[i]))
      return 1;
  return 0;
}

/* The application's name as a message may show it: C0 controls and NUL
 * (a frame cannot carry them) hide it all; C1 controls and invalid UTF-8
 * become '?'; a long one is cut. */
static const char *shown_authid(const struct conn *c, char *out, size_t size) {
  if (xoauth2_has_ctl(c->authid, c->authid_len))
    return "(unprintable name)";
  msoauth_text_shown(c->authid, out, size);
  return out;
}

/* Refuses what cannot go on before asking the core for a token. */
static int check_request(const struct conn *c,
                         const sasl_client_params_t *params) {
  char msg[512], shown[208];

  if (c->authid == NULL || c->authid_len == 0) {
    snprintf(msg, sizeof(msg),
             "%s: no user name (SASL authentication id) was given",
             mech_name(c->kind));
    return fail(params, SASL_BADPARAM, MSOAUTH_LOG_WARNING, msg);
  }
  if (foreign_authzid(c)) {
    snprintf(msg, sizeof(msg),
             "%s: the authorization id differs from the authentication id "
             "(%s): acting for another user is refused",
             mech_name(c->kind),
             shown_authid(c, shown, sizeof(shown)));
    return fail(params, SASL_BADAUTH, MSOAUTH_LOG_WARNING, msg);
  }
  if (wants_secret(c->glob) &&
      (c->pass == NULL || msoauth_secret_len(c->pass) == 0)) {
    snprintf(msg, sizeof(msg), "%s: no %s was given (SASL password)",
             mech_name(c->kind),
             c->glob->cfg->auth == MSOAUTH_AUTH_TOKEN ? "access token"
                                                      : "password");
    return fail(params, SASL_BADPARAM, MSOAUTH_LOG_WARNING, msg);
  }
  return SASL_OK;
}

/* Gets the token and sends the initial response. */
static int first_step(struct conn *c, sasl_client_params_t *params,
                      sasl_interact_t **prompt_need, const char **clientout,
                      unsigned *clientoutlen, sasl_out_params_t *oparams) {
  struct msoauth_token tok;
  struct msoauth_err err;
  char msg[MSOAUTH_ERR_DETAIL_MAX + 384], shown[260];
  msoauth_rc rc;
  int ret;

  memset(&tok, 0, sizeof(tok));
  if (c->glob->ctx == NULL)
    return fail(params, SASL_CONFIGERR, MSOAUTH_LOG_ERROR, c->glob->problem);
  ret = get_credentials(c, params, prompt_need);
  if (ret == SASL_OK)
    ret = check_request(c, params);
  if (ret != SASL_OK)
    return ret == SASL_NOMEM
               ? fail(params, ret, MSOAUTH_LOG_ERROR, "XOAUTH2: out of memory")
               : ret;
  msoauth_err_clear(&err);
  rc = msoauth_token_get(c->glob->ctx, c->authid, c->authid_len, c->pass, &tok,
                         &err);
  msoauth_secret_free(&c->pass); /* not needed any longer */
  if (rc) {
    snprintf(msg, sizeof(msg), "%s: no token for %s: %s", mech_name(c->kind),
             shown_authid(c, shown, sizeof(shown)),
             err.detail[0] != '\0' ? err.detail : msoauth_strerror(rc));
    ret = fail(params, sasl_code(rc), MSOAUTH_LOG_WARNING, msg);
    goto out;
  }
  /* \x01 ends a field of the frame: such a token would forge fields. */
  if (xoauth2_has_ctl(msoauth_secret_value(tok.access_token),
                      msoauth_secret_len(tok.access_token))) {
    snprintf(msg, sizeof(msg),
             "%s: the access token for %s holds control characters (\\x01 "
             "would break the frame); it was not sent",
             mech_name(c->kind), tok.identity);
    ret = fail(params, SASL_BADPROT, MSOAUTH_LOG_ERROR, msg);
    goto out;
  }
  c->identity = strdup(tok.identity);
  if (c->identity == NULL || build_response(c, params, &tok)) {
    ret = fail(params, SASL_NOMEM, MSOAUTH_LOG_ERROR, "XOAUTH2: out of memory");
    goto out;
  }
  ret = params->canon_user(params->utils->conn, c->identity, 0,
                           SASL_CU_AUTHID | SASL_CU_AUTHZID, oparams);
  if (ret != SASL_OK)
    goto out;
  /* libsasl2 formats a line before it knows whether it is logged: only
   * when log_level asks for it (a cached login is a few microseconds). */
  if (c->glob->log.level >= MSOAUTH_LOG_DEBUG)
    params->utils->log(params->utils->conn, SASL_LOG_DEBUG,
                       PLUGIN ": %s for %s with a token %s",
                       mech_name(c->kind), c->identity,
                       tok.from_cache ? "from the cache" : "just acquired");
  /* Exchange Online refuses a token at once, without a challenge: the
   * application's sasl_errdetail then says this instead of a leftover.
   * Formatted here: libsasl2's formatter takes a call per character. */
  snprintf(msg, sizeof(msg),
           "%s: the server did not accept the token for %s (for Exchange "
           "Online: the app's API permissions, the mailbox's IMAP/POP/SMTP "
           "AUTH setting)",
           mech_name(c->kind), c->identity);
  params->utils->seterror(params->utils->conn, SASL_NOLOG, "%s", msg);
  *clientout = c->out;
  *clientoutlen = (unsigned)c->outlen;
  c->state = ST_SENT;
  /* Not done yet: a server may still send an error challenge. */
  ret = SASL_CONTINUE;
out:
  msoauth_token_clear(&tok);
  return ret;
}

/* The server refused the token: drop it, answer, and fail. */
static int refused(struct conn *c, sasl_client_params_t *params,
                   const char *serverin, unsigned serverinlen,
                   const char **clientout, unsigned *clientoutlen) {
  struct msoauth_err err;
  char status[64], msg[512];

  xoauth2_challenge_status(serverin, serverinlen, status, sizeof(status));
  msoauth_err_clear(&err);
  if (msoauth_token_forget(c->glob->ctx, c->identity, &err))
    params->utils->log(params->utils->conn, SASL_LOG_WARN,
                       PLUGIN ": could not drop the cached token of %s: %s",
                       c->identity, err.detail);
  snprintf(msg, sizeof(msg),
           "%s: the server refused the token for %s (status %s); it was "
           "dropped from the cache, the next attempt gets a new one",
           mech_name(c->kind), c->identity, status);
  fail(params, SASL_BADAUTH, MSOAUTH_LOG_WARNING, msg);
  c->state = ST_REFUSED;
  /* XOAUTH2 answers with an empty response, RFC 7628 with a lone \x01. */
  *clientout = c->kind == MECH_XOAUTH2 ? "" : "\001";
  *clientoutlen = c->kind == MECH_XOAUTH2 ? 0 : 1;
  return SASL_CONTINUE;
}

static int step(struct conn *c, sasl_client_params_t *params,
                const char *serverin, unsigned serverinlen,
                sasl_interact_t **prompt_need, const char **clientout,
                unsigned *clientoutlen, sasl_out_params_t *oparams) {
  *clientout = NULL;
  *clientoutlen = 0;
  switch (c->state) {
  case ST_START:
    return first_step(c, params, prompt_need, clientout, clientoutlen, oparams);
  case ST_SENT:
    if (serverinlen > 0)
      return refused(c, params, serverin, serverinlen, clientout, clientoutlen);
    /* An empty challenge or the end: the server took the token. */
    oparams->doneflag = 1;
    oparams->mech_ssf = 0;
    oparams->maxoutbuf = 0;
    oparams->encode = NULL;
    oparams->decode = NULL;
    oparams->param_version = 0;
    *clientout = "";
    return SASL_OK;
  default:
    params->utils->seterror(params->utils->conn, 0,
                            "%s: the server refused the token for %s",
                            mech_name(c->kind), c->identity);
    return SASL_BADAUTH;
  }
}

static int mech_step(void *conn_context, sasl_client_params_t *params,
                     const char *serverin, unsigned serverinlen,
                     sasl_interact_t **prompt_need, const char **clientout,
                     unsigned *clientoutlen, sasl_out_params_t *oparams) {
  int rc;

  step_conn = params->utils->conn;
  rc = step(conn_context, params, serverin, serverinlen, prompt_need, clientout,
            clientoutlen, oparams);
  step_conn = NULL;
  return rc;
}

/* ------------------------------------------------------------ lifecycle */

static int mech_new(void *glob_context, sasl_client_params_t *params,
                    void **conn_context) {
  const struct mech_ref *ref = glob_context;
  struct conn *c;

  c = params->utils->malloc(sizeof(*c));
  if (c == NULL) {
    params->utils->seterror(params->utils->conn, 0, "XOAUTH2: out of memory");
    return SASL_NOMEM;
  }
  memset(c, 0, sizeof(*c));
  c->kind = ref->kind;
  c->glob = ref->glob;
  *conn_context = c;
  return SASL_OK;
}

static void mech_dispose(void *conn_context, const sasl_utils_t *utils) {
  struct conn *c = conn_context;

  if (c == NULL)
    return;
  if (c->out != NULL)
    msoauth_wipe(c->out, c->outlen);
  free(c->out);
  c->out = NULL;
  free(c->authid);
  free(c->authzid);
  free(c->identity);
  msoauth_secret_free(&c->pass);
  utils->free(c);
}

static void glob_free(struct glob **g) {
  if (*g == NULL)
    return;
  msoauth_ctx_free(&(*g)->ctx);
  msoauth_config_free(&(*g)->cfg);
  free(*g);
  *g = NULL;
}

static void mech_free(void *glob_context, const sasl_utils_t *utils) {
  struct mech_ref *ref = glob_context;

  (void)utils;
  if (ref->glob != NULL && --ref->glob->refs == 0)
    glob_free(&ref->glob);
  ref->glob = NULL;
}

/* The prompts a connection must offer: the name only, since refresh,
 * service_account and app need no password. */
static const unsigned long required_prompts[] = {SASL_CB_AUTHNAME,
                                                 SASL_CB_LIST_END};

/* Only noanonymous: a bearer token is as good as a password while it lives
 * (replayable, and Exchange's may open every mailbox of a tenant), so
 * libsasl2 must keep these mechanisms from an application that asks for
 * noplaintext on a connection without TLS. */
#define FLAGS SASL_SEC_NOANONYMOUS

static sasl_client_plug_t plugins[] = {
    {
        "XOAUTH2",                   /* mech_name */
        0,                           /* max_ssf: no security layer */
        FLAGS,                       /* security_flags */
        SASL_FEAT_WANT_CLIENT_FIRST, /* features */
        required_prompts,            /* required_prompts */
        &refs[MECH_XOAUTH2],         /* glob_context */
        mech_new,                    /* mech_new */
        mech_step,                   /* mech_step */
        mech_dispose,                /* mech_dispose */
        mech_free,                   /* mech_free */
        NULL,                        /* idle */
        NULL,                        /* spare_fptr1 */
        NULL,                        /* spare_fptr2 */
    },
    {
        "OAUTHBEARER",               /* mech_name */
        0,                           /* max_ssf */
        FLAGS,                       /* security_flags */
        SASL_FEAT_WANT_CLIENT_FIRST, /* features */
        required_prompts,            /* required_prompts */
        &refs[MECH_OAUTHBEARER],     /* glob_context */
        mech_new,                    /* mech_new */
        mech_step,                   /* mech_step */
        mech_dispose,                /* mech_dispose */
        mech_free,                   /* mech_free */
        NULL,                        /* idle */
        NULL,                        /* spare_fptr1 */
        NULL,                        /* spare_fptr2 */
    },
};

/* An option of the application (xoauth2_config, xoauth2_profile), or NULL. */
static const char *option(const sasl_utils_t *utils, const char *name) {
  const char *value = NULL;
  unsigned len = 0;

  if (utils->getopt == NULL ||
      utils->getopt(utils->getopt_context, "XOAUTH2", name, &value, &len) !=
          SASL_OK ||
      value == NULL || *value == '\0')
    return NULL;
  return value;
}

/* The configuration read when the application gives no xoauth2_config.
 * The test suite builds a copy of the plugin with its own default, for
 * clients that pass no options (imtest, Postfix). */
static const char *default_path(void) {
#ifdef XOAUTH2_DEFAULT_CONFIG
  return XOAUTH2_DEFAULT_CONFIG;
#else
  return msoauth_config_default_path();
#endif
}

/* Whether this process may still enter a chroot: CAP_SYS_CHROOT in its
 * effective set (root, or a daemon before it drops its privileges). */
static int may_chroot(void) {
  struct __user_cap_header_struct head = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

  if (syscall(SYS_capget, &head, data) != 0)
    return 1; /* unknown: as if it may */
  return (data[CAP_TO_INDEX(CAP_SYS_CHROOT)].effective &
          CAP_TO_MASK(CAP_SYS_CHROOT)) != 0;
}

/*
 * libcurl is mapped by the first request, so a client that serves cached
 * tokens or never uses XOAUTH2 does not carry it. A process that may still
 * chroot (Postfix's smtp initialises the plugin as root, then chroots)
 * would make that request where libcurl cannot be opened: it maps libcurl
 * now, without starting it.
 */
static void preload_http(struct glob *g) {
  struct msoauth_err err;

  if (!may_chroot())
    return;
  msoauth_err_clear(&err);
  if (msoauth_ctx_preload(g->ctx, &err) != MSOAUTH_OK)
    g->utils->log(NULL, SASL_LOG_WARN,
                  PLUGIN ": %s: a request made inside a chroot will fail",
                  err.detail);
}

/* Reads the configuration and makes the core's context; on failure the
 * reason lands in g->problem and the mechanisms fail when used. */
static void glob_setup(struct glob *g) {
  const char *path = option(g->utils, "xoauth2_config");
  const char *profile = option(g->utils, "xoauth2_profile");
  struct msoauth_err err;
  msoauth_rc rc;

  /* Every libsasl2 client of the system loads the plugin: one without a
   * configuration is told when it uses XOAUTH2, not at each start. */
  if (path == NULL)
    path = default_path();
  if (option(g->utils, "xoauth2_config") == NULL && access(path, F_OK) != 0) {
    snprintf(g->problem, sizeof(g->problem),
             "XOAUTH2: no configuration: %s does not exist (see "
             "sasl_xoauth2(8))",
             path);
    g->utils->log(NULL, SASL_LOG_DEBUG, PLUGIN ": %s", g->problem);
    return;
  }
  msoauth_err_clear(&err);
  rc = msoauth_config_load(path, profile, NULL, 0, 0, &g->log, &g->cfg, &err);
  if (!rc) {
    g->log.level = g->cfg->log_level;
    /* Postfix's smtp initialises the plugin as root, then becomes postfix,
     * which owns cache_dir: root may open it now, and writes there only
     * once it is its owner (cache_file.c). */
    g->cfg->cache_allow_foreign_dir = 1;
    rc = msoauth_ctx_new(g->cfg, &g->log, &g->ctx, &err);
  }
  if (!rc) {
    preload_http(g);
    return;
  }
  snprintf(g->problem, sizeof(g->problem),
           "XOAUTH2: the configuration %s%s%s cannot be used (%s): %s", path,
           profile != NULL ? " profile " : "", profile != NULL ? profile : "",
           msoauth_strerror(rc),
           err.detail[0] != '\0' ? err.detail : "no detail");
  g->utils->log(NULL, SASL_LOG_ERR, PLUGIN ": %s", g->problem);
}

__attribute__((visibility("default"))) int
sasl_client_plug_init(const sasl_utils_t *utils, int maxversion,
                      int *out_version, sasl_client_plug_t **pluglist,
                      int *plugcount);

int sasl_client_plug_init(const sasl_utils_t *utils, int maxversion,
                          int *out_version, sasl_client_plug_t **pluglist,
                          int *plugcount) {
  struct glob *g;
  unsigned flags;

  if (maxversion < SASL_CLIENT_PLUG_VERSION) {
    utils->log(NULL, SASL_LOG_ERR,
               PLUGIN ": libsasl2 offers client plugin version %d, %d needed",
               maxversion, SASL_CLIENT_PLUG_VERSION);
    return SASL_BADVERS;
  }
  g = calloc(1, sizeof(*g));
  if (g == NULL)
    return SASL_NOMEM;
  g->utils = utils;
  g->log.fn = log_sink;
  g->log.arg = g;
  g->log.level = MSOAUTH_LOG_WARNING;
  glob_setup(g);
  /* A broken configuration keeps the mechanisms (their failure says why)
   * but drops their security flags: a mechanism that cannot work must never
   * outrank a working one the server also offers, such as PLAIN. */
  flags = g->ctx != NULL ? FLAGS : 0;
  for (size_t i = 0; i < 2; i++) {
    if (refs[i].glob != NULL) /* an earlier init never freed */
      mech_free(&refs[i], utils);
    refs[i].glob = g;
    plugins[i].security_flags = flags;
  }
  g->refs = 2;
  *out_version = SASL_CLIENT_PLUG_VERSION;
  *pluglist = plugins;
  *plugcount = 2;
  return SASL_OK;
}
