/*
 * bench_sasl.c - the SASL client side of the benchmarks: a small libsasl2
 * application, like Postfix's smtp client, loading the plugins found in
 * PLUGDIR (the driver links the built libxoauth2.so and the system's
 * libplain.so there) with the msoauth.conf CONF (SASL option
 * xoauth2_config). The password callback hands out PASS. The callbacks
 * are the tests' client (tests/sasl/sasl_client.c).
 *
 *   bench_sasl login PLUGDIR CONF USER PASS [IMAP_PORT]
 *       one XOAUTH2 client start; with IMAP_PORT, the whole login to the
 *       Dovecot stand-in on 127.0.0.1 (exit 0 only when it said OK)
 *   bench_sasl hot PLUGDIR CONF MECH USER PASS N
 *       one warm-up start, then N of them in bench_hot_loop (callgrind
 *       collects that function only); prints the step function's offset
 *       and the wall time per start
 *   bench_sasl rss PLUGDIR CONF MECH USER PASS
 *       VmRSS and RssAnon before sasl_client_init and after init + new +
 *       start
 *   bench_sasl heap PLUGDIR CONF MECH USER PASS N
 *       N starts, for valgrind's heap summary
 */
#include "config_build.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sasl/sasl.h>
#include <sasl/saslplug.h>
#include <sasl/saslutil.h>

#include "sasl_client.h"
#include "util.h"

static int bench_log(int level, const char *message) {
  if (level <= SASL_LOG_ERR)
    fprintf(stderr, "bench_sasl: %s\n", message);
  return SASL_OK;
}

/* One client start with mech; the initial response goes to out (may be
 * NULL), base64-encoded. Returns 0 on SASL_OK or SASL_CONTINUE. */
static int start_one(const char *mech, char *out, size_t size) {
  sasl_conn_t *conn = NULL;
  const char *clientout = NULL, *chosen = NULL;
  unsigned clientoutlen = 0, outlen = 0;
  int rc;

  rc = saslc_new("imap", "localhost", NULL, 0, &conn);
  if (rc == SASL_OK)
    rc = sasl_client_start(conn, mech, NULL, &clientout, &clientoutlen,
                           &chosen);
  if (rc != SASL_OK && rc != SASL_CONTINUE)
    fprintf(stderr, "bench_sasl: %s: %s\n", mech,
            conn != NULL ? sasl_errdetail(conn) : sasl_errstring(rc, 0, 0));
  else if (out != NULL &&
           sasl_encode64(clientout, clientoutlen, out, (unsigned)size,
                         &outlen) != SASL_OK)
    rc = SASL_FAIL;
  sasl_dispose(&conn);
  return rc == SASL_OK || rc == SASL_CONTINUE ? 0 : -1;
}

/* What callgrind measures (--toggle-collect=bench_hot_loop): n client
 * starts, each on a new connection, as a client makes them. Not static:
 * callgrind finds it by name. */
int bench_hot_loop(const char *mech, long n) __attribute__((noinline));

int bench_hot_loop(const char *mech, long n) {
  int failed = 0;

  for (long i = 0; i < n; i++)
    failed |= start_one(mech, NULL, 0);
  return failed;
}

/* ------------------------------------------------------------ IMAP */

static int read_line(int fd, char *line, size_t size) {
  size_t n = 0;

  while (n + 1 < size) {
    char c;

    if (read(fd, &c, 1) != 1)
      return -1;
    if (c == '\n')
      break;
    if (c != '\r')
      line[n++] = c;
  }
  line[n] = '\0';
  return 0;
}

static int write_str(int fd, const char *s) {
  size_t len = strlen(s);

  return write(fd, s, len) == (ssize_t)len ? 0 : -1;
}

/* AUTHENTICATE XOAUTH2 with the initial response b64; 0 when the server
 * says OK. An error challenge gets the empty answer XOAUTH2 wants. */
static int imap_login(long port, const char *b64) {
  char line[4096];
  int fd = saslc_connect(port, 30), ok = -1;

  if (fd < 0 || read_line(fd, line, sizeof(line)) != 0 ||
      write_str(fd, "a1 AUTHENTICATE XOAUTH2 ") != 0 ||
      write_str(fd, b64) != 0 || write_str(fd, "\r\n") != 0)
    goto out;
  while (read_line(fd, line, sizeof(line)) == 0) {
    if (line[0] == '+' && write_str(fd, "\r\n") != 0)
      break;
    if (strncmp(line, "a1 ", 3) == 0) {
      ok = strncmp(line, "a1 OK", 5) == 0 ? 0 : -1;
      if (ok != 0)
        fprintf(stderr, "bench_sasl: server: %s\n", line);
      break;
    }
  }
  write_str(fd, "a2 LOGOUT\r\n");
out:
  if (fd >= 0)
    close(fd);
  return ok;
}

/* ------------------------------------------------------------ modes */

static int mode_login(int argc, char **argv) {
  static char b64[16384];
  long port = 0;

  if (argc > 6 && (port = bench_count(argv[6], 65535)) < 0)
    return 2;
  if (saslc_load(saslc.config) != SASL_OK)
    return 1;
  if (start_one("XOAUTH2", b64, sizeof(b64)) != 0)
    return 1;
  if (port > 0 && imap_login(port, b64) != 0)
    return 1;
  saslc_done();
  return 0;
}

static void show_step(client_sasl_mechanism_t *m,
                      sasl_info_callback_stage_t stage, void *rock) {
  Dl_info info;

  (void)rock;
  if (stage != SASL_INFO_LIST_MECH || m == NULL || m->plug == NULL)
    return;
  /* callgrind names a function of a stripped object by its offset in
   * the object. */
  if (dladdr((void *)m->plug->mech_step, &info) != 0)
    printf("step %s %s 0x%lx\n", m->plug->mech_name, info.dli_fname,
           (unsigned long)((const char *)(void *)m->plug->mech_step -
                           (const char *)info.dli_fbase));
}

static int mode_hot(const char *mech, long n) {
  long long t0;

  if (saslc_load(saslc.config) != SASL_OK || start_one(mech, NULL, 0))
    return 1;
  sasl_client_plugin_info(mech, show_step, NULL);
  t0 = bench_now_ns();
  if (bench_hot_loop(mech, n) != 0)
    return 1;
  printf("ns_per_start %.0f\n", (double)(bench_now_ns() - t0) / (double)n);
  saslc_done();
  return 0;
}

static int mode_rss(const char *mech) {
  struct bench_rss before, after;

  bench_rss_sample(&before);
  if (saslc_load(saslc.config) != SASL_OK || start_one(mech, NULL, 0))
    return 1;
  bench_rss_sample(&after);
  bench_rss_print(&before, &after);
  saslc_done();
  return 0;
}

static int mode_heap(const char *mech, long n) {
  if (saslc_load(saslc.config) != SASL_OK)
    return 1;
  for (long i = 0; i < n; i++)
    if (start_one(mech, NULL, 0) != 0)
      return 1;
  saslc_done();
  return 0;
}

static int usage(void) {
  fprintf(stderr, "usage: bench_sasl login PLUGDIR CONF USER PASS [PORT]\n"
                  "       bench_sasl hot|heap PLUGDIR CONF MECH USER PASS N\n"
                  "       bench_sasl rss PLUGDIR CONF MECH USER PASS\n");
  return 2;
}

int main(int argc, char **argv) {
  long n = 1;

  if (argc < 6)
    return usage();
  saslc.plugin_dir = argv[2];
  saslc.config = argv[3];
  saslc.log = bench_log;
  if (strcmp(argv[1], "login") == 0) {
    saslc.user = argv[4];
    saslc.pass = argv[5];
    return mode_login(argc, argv);
  }
  if (argc < 7)
    return usage();
  saslc.user = argv[5];
  saslc.pass = argv[6];
  if (strcmp(argv[1], "rss") == 0)
    return mode_rss(argv[4]);
  if (argc < 8 || (n = bench_count(argv[7], 10000000L)) < 0)
    return usage();
  if (strcmp(argv[1], "hot") == 0)
    return mode_hot(argv[4], n);
  if (strcmp(argv[1], "heap") == 0)
    return mode_heap(argv[4], n);
  return usage();
}
