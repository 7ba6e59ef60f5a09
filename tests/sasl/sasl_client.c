#include "config_build.h"
/*
 * sasl_client.c - the test side's libsasl2 client (see sasl_client.h).
 */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "sasl_client.h"

struct saslc saslc;

/* The password handed out last: libsasl2 keeps the pointer and never
 * frees it. Kept while it is the same, so that a loop of sign-ins
 * (bench_sasl's heap count) makes no allocation here. */
static sasl_secret_t *secret;

typedef int (*cb_fn)(void);

static int cb_getpath(void *context, const char **path) {
  (void)context;
  *path = saslc.plugin_dir;
  return SASL_OK;
}

static int cb_getopt(void *context, const char *plugin, const char *option,
                     const char **result, unsigned *len) {
  (void)context;
  (void)plugin;
  if (strcmp(option, "xoauth2_config") != 0 || saslc.config == NULL)
    return SASL_FAIL;
  *result = saslc.config;
  if (len != NULL)
    *len = (unsigned)strlen(saslc.config);
  return SASL_OK;
}

static int cb_log(void *context, int level, const char *message) {
  (void)context;
  return saslc.log(level, message);
}

static int cb_simple(void *context, int id, const char **result,
                     unsigned *len) {
  const char *value = id == SASL_CB_USER ? saslc.authzid : saslc.user;
  size_t n = id == SASL_CB_USER ? saslc.authzid_len : saslc.user_len;

  (void)context;
  if (value == NULL && id == SASL_CB_USER)
    value = ""; /* no authorization id: act as oneself */
  if (value == NULL)
    return SASL_FAIL;
  *result = value;
  if (len != NULL)
    *len = (unsigned)(n != 0 ? n : strlen(value));
  return SASL_OK;
}

static void secret_free(void) {
  if (secret != NULL)
    explicit_bzero(secret->data, secret->len);
  free(secret);
  secret = NULL;
}

static int cb_secret(sasl_conn_t *conn, void *context, int id,
                     sasl_secret_t **psecret) {
  size_t len;

  (void)conn;
  (void)context;
  (void)id;
  if (saslc.pass == NULL)
    return SASL_FAIL;
  len = saslc.pass_len != 0 ? saslc.pass_len : strlen(saslc.pass);
  if (secret == NULL || secret->len != len ||
      memcmp(secret->data, saslc.pass, len) != 0) {
    secret_free();
    secret = malloc(sizeof(*secret) + len + 1);
    if (secret == NULL)
      return SASL_NOMEM;
    secret->len = (unsigned long)len;
    memcpy(secret->data, saslc.pass, len);
    secret->data[len] = '\0';
  }
  *psecret = secret;
  return SASL_OK;
}

/* The log callback comes first: without saslc.log, the list starts
 * after it. */
static const sasl_callback_t global_cbs[] = {
    {SASL_CB_LOG, (cb_fn)(void (*)(void))cb_log, NULL},
    {SASL_CB_GETPATH, (cb_fn)(void (*)(void))cb_getpath, NULL},
    {SASL_CB_GETOPT, (cb_fn)(void (*)(void))cb_getopt, NULL},
    {SASL_CB_LIST_END, NULL, NULL},
};

/* Per connection: procedures (as Postfix), or none (as mbsync). */
static const sasl_callback_t conn_cbs[] = {
    {SASL_CB_AUTHNAME, (cb_fn)(void (*)(void))cb_simple, NULL},
    {SASL_CB_USER, (cb_fn)(void (*)(void))cb_simple, NULL},
    {SASL_CB_PASS, (cb_fn)(void (*)(void))cb_secret, NULL},
    {SASL_CB_LIST_END, NULL, NULL},
};
static const sasl_callback_t prompt_cbs[] = {
    {SASL_CB_AUTHNAME, NULL, NULL},
    {SASL_CB_USER, NULL, NULL},
    {SASL_CB_PASS, NULL, NULL},
    {SASL_CB_LIST_END, NULL, NULL},
};

int saslc_load(const char *config) {
  int rc;

  if (saslc.loaded)
    saslc_done();
  saslc.config = config;
  rc = sasl_client_init(saslc.log != NULL ? global_cbs : global_cbs + 1);
  saslc.loaded = rc == SASL_OK;
  return rc;
}

void saslc_done(void) {
  sasl_client_done();
  saslc.loaded = 0;
  secret_free();
}

int saslc_new(const char *service, const char *host, const char *remote,
              int prompts, sasl_conn_t **conn) {
  return sasl_client_new(service, host, NULL, remote,
                         prompts ? prompt_cbs : conn_cbs, 0, conn);
}

void saslc_answer(sasl_interact_t *p) {
  for (; p->id != SASL_CB_LIST_END; p++) {
    const char *v = p->id == SASL_CB_PASS   ? saslc.pass
                    : p->id == SASL_CB_USER ? saslc.authzid
                                            : saslc.user;
    p->result = v != NULL ? v : "";
    p->len = (unsigned)strlen(p->result);
    saslc.prompts_answered++;
  }
}

int saslc_connect(long port, long timeout_s) {
  struct sockaddr_in sa;
  struct timeval tv = {timeout_s, 0};
  int fd = socket(AF_INET, SOCK_STREAM, 0);

  if (fd < 0)
    return -1;
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_port = htons((unsigned short)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}
