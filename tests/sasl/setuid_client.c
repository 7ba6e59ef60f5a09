#include "config_build.h"
/*
 * setuid_client.c - a minimal libsasl2 client, for test_setuid.sh to
 * install setuid root and run as nobody: it loads the plugin from
 * PLUGIN_DIR with xoauth2_config = CONFIG, and starts XOAUTH2 for USER
 * with the password read from standard input.
 *
 *   setuid_client PLUGIN_DIR CONFIG USER
 *
 * Prints one line, "result=N mapped_at_init=yes|no curl_at_init=yes|no
 * curl_started=yes|no mapped=yes|no response=yes|no" (N:
 * sasl_client_start's result; mapped: libcurl in the process; curl: libcurl
 * started; response: an initial response holding a bearer token), and
 * exits 0; 2 on a usage error.
 *
 * The callbacks are those of every test client (sasl_client.c): no log
 * callback, so libsasl2 logs as it does by default.
 *
 * Like tests/pam/setuid_driver.c, it sees when the plugin maps and starts
 * libcurl (curl_spy.h). It also serves test_lazy_curl.sh, run without
 * setuid.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sasl/sasl.h>

#include "../curl_spy.h"
#include "sasl_client.h"

static char password[1024];

int main(int argc, char **argv) {
  sasl_conn_t *conn = NULL;
  const char *out = NULL, *mech = NULL;
  unsigned len = 0;
  int at_init, mapped_at_init, rc;

  if (argc != 4) {
    fprintf(stderr, "usage: setuid_client PLUGIN_DIR CONFIG USER\n");
    return 2;
  }
  saslc.plugin_dir = argv[1];
  saslc.user = argv[3];
  saslc.pass = password;
  if (fgets(password, sizeof(password), stdin) == NULL)
    password[0] = '\0';
  password[strcspn(password, "\n")] = '\0';
  rc = saslc_load(argv[2]);
  at_init = curl_spy_tls_starts > 0;
  mapped_at_init = curl_spy_mapped();
  if (rc == SASL_OK)
    rc = saslc_new("smtp", "smtp.example.org", "127.0.0.1;587", 0, &conn);
  if (rc == SASL_OK)
    rc = sasl_client_start(conn, "XOAUTH2", NULL, &out, &len, &mech);
  printf("result=%d mapped_at_init=%s curl_at_init=%s curl_started=%s "
         "mapped=%s response=%s\n",
         rc, mapped_at_init ? "yes" : "no", at_init ? "yes" : "no",
         curl_spy_tls_starts > 0 ? "yes" : "no",
         curl_spy_mapped() ? "yes" : "no",
         out != NULL && memmem(out, len, "auth=Bearer ey", 14) != NULL ? "yes"
                                                                       : "no");
  sasl_dispose(&conn);
  saslc_done();
  explicit_bzero(password, sizeof(password));
  return 0;
}
