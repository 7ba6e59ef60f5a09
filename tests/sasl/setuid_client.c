#include "config_build.h"
/*
 * setuid_client.c - a minimal libsasl2 client, for test_setuid.sh to
 * install setuid root and run as nobody: it loads the plugin from
 * PLUGIN_DIR with xoauth2_config = CONFIG, and starts XOAUTH2 for USER
 * with the password read from standard input.
 *
 *   setuid_client PLUGIN_DIR CONFIG USER
 *
 * Prints one line, "result=N curl_at_init=yes|no curl_started=yes|no
 * response=yes|no" (N: sasl_client_start's result; response: an initial
 * response holding a bearer token), and exits 0; 2 on a usage error.
 *
 * Like tests/pam/setuid_driver.c, the program defines and exports
 * curl_global_init, to see when the plugin starts libcurl.
 */

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <sasl/sasl.h>

static const char *plugin_dir, *config, *user;
static char password[1024];
static int curl_inits;

__attribute__((visibility("default"))) CURLcode curl_global_init(long flags);

CURLcode curl_global_init(long flags) {
  void *lib = dlopen("libcurl.so.4", RTLD_LAZY | RTLD_NOLOAD);
  CURLcode (*real)(long) = NULL;

  curl_inits++;
  if (lib != NULL)
    *(void **)&real = dlsym(lib, "curl_global_init");
  if (real == NULL || real == curl_global_init)
    return CURLE_FAILED_INIT;
  return real(flags);
}

typedef int (*cb_fn)(void);

static int cb_getpath(void *context, const char **path) {
  (void)context;
  *path = plugin_dir;
  return SASL_OK;
}

static int cb_getopt(void *context, const char *plugin, const char *option,
                     const char **result, unsigned *len) {
  (void)context;
  (void)plugin;
  if (strcmp(option, "xoauth2_config") != 0)
    return SASL_FAIL;
  *result = config;
  if (len != NULL)
    *len = (unsigned)strlen(config);
  return SASL_OK;
}

static int cb_simple(void *context, int id, const char **result,
                     unsigned *len) {
  (void)context;
  *result = id == SASL_CB_USER ? "" : user;
  if (len != NULL)
    *len = (unsigned)strlen(*result);
  return SASL_OK;
}

static int cb_secret(sasl_conn_t *conn, void *context, int id,
                     sasl_secret_t **psecret) {
  static sasl_secret_t *secret; /* libsasl2 does not free it */
  size_t len = strlen(password);

  (void)conn;
  (void)context;
  (void)id;
  free(secret);
  secret = malloc(sizeof(*secret) + len + 1);
  if (secret == NULL)
    return SASL_NOMEM;
  secret->len = (unsigned long)len;
  memcpy(secret->data, password, len + 1);
  *psecret = secret;
  return SASL_OK;
}

static const sasl_callback_t global_cbs[] = {
    {SASL_CB_GETPATH, (cb_fn)(void (*)(void))cb_getpath, NULL},
    {SASL_CB_GETOPT, (cb_fn)(void (*)(void))cb_getopt, NULL},
    {SASL_CB_LIST_END, NULL, NULL},
};

static const sasl_callback_t conn_cbs[] = {
    {SASL_CB_AUTHNAME, (cb_fn)(void (*)(void))cb_simple, NULL},
    {SASL_CB_USER, (cb_fn)(void (*)(void))cb_simple, NULL},
    {SASL_CB_PASS, (cb_fn)(void (*)(void))cb_secret, NULL},
    {SASL_CB_LIST_END, NULL, NULL},
};

int main(int argc, char **argv) {
  sasl_conn_t *conn = NULL;
  const char *out = NULL, *mech = NULL;
  unsigned len = 0;
  int at_init, rc;

  if (argc != 4) {
    fprintf(stderr, "usage: setuid_client PLUGIN_DIR CONFIG USER\n");
    return 2;
  }
  plugin_dir = argv[1];
  config = argv[2];
  user = argv[3];
  if (fgets(password, sizeof(password), stdin) == NULL)
    password[0] = '\0';
  password[strcspn(password, "\n")] = '\0';
  rc = sasl_client_init(global_cbs);
  at_init = curl_inits > 0;
  if (rc == SASL_OK)
    rc = sasl_client_new("smtp", "smtp.example.org", NULL, "127.0.0.1;587",
                         conn_cbs, 0, &conn);
  if (rc == SASL_OK)
    rc = sasl_client_start(conn, "XOAUTH2", NULL, &out, &len, &mech);
  printf("result=%d curl_at_init=%s curl_started=%s response=%s\n", rc,
         at_init ? "yes" : "no", curl_inits > 0 ? "yes" : "no",
         out != NULL && memmem(out, len, "auth=Bearer ey", 14) != NULL ? "yes"
                                                                       : "no");
  sasl_dispose(&conn);
  sasl_client_done();
  return 0;
}
