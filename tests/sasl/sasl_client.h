/*
 * sasl_client.h - the test side's libsasl2 client: the callbacks a mail
 * client registers (the plugin directory, the xoauth2_config option, the
 * log; the name, authorization name and password, or prompts for them).
 * test_sasl, sasl_loop, setuid_client and bench_sasl all sign in through
 * it, and reach the mail server with saslc_connect.
 *
 * One client a process: the program sets saslc (what the callbacks hand
 * out) before it loads libsasl2 or opens a connection. Nothing here reads
 * the environment: setuid_client runs it setuid root as nobody.
 */
#ifndef MSOAUTH_TESTS_SASL_CLIENT_H
#define MSOAUTH_TESTS_SASL_CLIENT_H

#include <stddef.h>

#include <sasl/sasl.h>

struct saslc {
  const char *plugin_dir; /* SASL_CB_GETPATH */
  const char *config;     /* the option xoauth2_config; NULL: none */
  const char *user;       /* SASL_CB_AUTHNAME; NULL: none */
  const char *authzid;    /* SASL_CB_USER; NULL: "" (act as oneself) */
  const char *pass;       /* SASL_CB_PASS; NULL: none */
  /* Lengths of user, authzid and pass, for values holding a NUL; 0:
   * strlen. */
  size_t user_len, authzid_len, pass_len;
  /* SASL_CB_LOG, registered at saslc_load when set: returns a SASL_ code.
   * Unset, libsasl2 logs as it does by default. */
  int (*log)(int level, const char *message);
  int prompts_answered; /* prompts saslc_answer filled in */
  int loaded;           /* saslc_load succeeded, saslc_done not since */
};

extern struct saslc saslc;

/* Loads libsasl2 and its plugins with saslc.config = config (the plugin
 * reads its configuration at sasl_client_init): a loaded library is done
 * first. Returns sasl_client_init's result. */
int saslc_load(const char *config);

/* sasl_client_done, and the password handed out is wiped. */
void saslc_done(void);

/* sasl_client_new for service at host (remote: "IP;PORT" or NULL) with
 * the callbacks of saslc, or with prompts only (as mbsync) when prompts is
 * not 0: saslc_answer fills them in. Returns sasl_client_new's result. */
int saslc_new(const char *service, const char *host, const char *remote,
              int prompts, sasl_conn_t **conn);

/* A TCP connection to 127.0.0.1:port whose reads give up after timeout_s
 * seconds: the mail server's side. Returns the socket, or -1. */
int saslc_connect(long port, long timeout_s);

/* Answers libsasl2's prompts p (up to SASL_CB_LIST_END) from saslc. */
void saslc_answer(sasl_interact_t *p);

#endif
