#include "config_build.h"
/*
 * test_environ.c - what the caller's environment may tell libcurl and
 * OpenSSL (environ.c), and libcurl started by the first request only.
 *
 * The first request of a process is what matters (libcurl reads
 * SSLKEYLOGFILE when it is initialised), so those cases run this program
 * again, as a fresh process: `test_environ --request URL CA [secure]`. The
 * secure-exec cases need root: the child takes a real group id (nobody's)
 * other than its effective one, and its exec is then marked AT_SECURE by
 * the kernel, as a setgid program's is.
 */

#include <errno.h>
#include <grp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "clock.h"
#include "emu.h"
#include "environ.h"
#include "http.h"

#define NOBODY_GID 65534

static struct emu emu;
static char discovery_url[256];
static char keylog[400];

/* ------------------------------------------------------------ libcurl calls
 * curl_lib.c finds libcurl's functions with dlsym; the program is linked
 * with --wrap=dlsym, which hands it counted ones for three of them. */

static int global_inits, easy_inits, share_inits;
static CURLcode (*real_global_init)(long flags);
static CURL *(*real_easy_init)(void);
static CURLSH *(*real_share_init)(void);

void *__real_dlsym(void *handle, const char *name);
void *__wrap_dlsym(void *handle, const char *name);

static CURLcode counted_global_init(long flags) {
  global_inits++;
  return real_global_init(flags);
}

static CURL *counted_easy_init(void) {
  easy_inits++;
  return real_easy_init();
}

static CURLSH *counted_share_init(void) {
  share_inits++;
  return real_share_init();
}

void *__wrap_dlsym(void *handle, const char *name) {
  union {
    void *p;
    CURLcode (*global_init)(long);
    CURL *(*easy_init)(void);
    CURLSH *(*share_init)(void);
  } u;

  u.p = __real_dlsym(handle, name);
  if (u.p == NULL)
    return NULL;
  if (strcmp(name, "curl_global_init") == 0) {
    real_global_init = u.global_init;
    u.global_init = counted_global_init;
  } else if (strcmp(name, "curl_easy_init") == 0) {
    real_easy_init = u.easy_init;
    u.easy_init = counted_easy_init;
  } else if (strcmp(name, "curl_share_init") == 0) {
    real_share_init = u.share_init;
    u.share_init = counted_share_init;
  }
  return u.p;
}

/* ------------------------------------------------------------ the child */

/* The variables a caller of a setuid program might set to steer libcurl
 * or OpenSSL; set in the child's environment. */
static const char *const steering[] = {
    "https_proxy",      "HTTPS_PROXY",     "http_proxy",    "ALL_PROXY",
    "all_proxy",        "no_proxy",        "NO_PROXY",      "ftp_proxy",
    "CURL_SSL_BACKEND", "CURL_CA_BUNDLE",  "CURL_HOME",     "QLOGDIR",
    "OPENSSL_CONF",     "OPENSSL_MODULES", "SSL_CERT_FILE", "SSL_CERT_DIR",
};
#define STEERING (sizeof(steering) / sizeof(steering[0]))

static int child_fail(const char *what) {
  fprintf(stderr, "test_environ child: %s\n", what);
  return 1;
}

/* One request as the first use of libcurl in the process. */
static int child_request(const char *url, const char *ca, int secure) {
  struct msoauth_http_settings cfg;
  struct msoauth_http *http = NULL;
  struct msoauth_http_response resp;
  struct msoauth_err err;
  int ok;

  memset(&cfg, 0, sizeof(cfg));
  cfg.connect_timeout = 5;
  cfg.retries = 0;
  cfg.ca_file = ca;
  if (secure && getauxval(AT_SECURE) == 0)
    return child_fail("not a secure-exec process");
  if (msoauth_http_new(&cfg, NULL, &http, &err) != MSOAUTH_OK)
    return child_fail(err.detail);
  /* A handle is made before the password prompt: libcurl must not have
   * started yet. */
  if (global_inits != 0 || easy_inits != 0 || share_inits != 0)
    return child_fail("libcurl was initialised when the handle was made");
  ok = msoauth_http_request(http, url, NULL, msoauth_now_ms() + 10000, &resp,
                            &err) == MSOAUTH_OK &&
       resp.status == 200;
  msoauth_http_response_free(&resp);
  msoauth_http_free(&http);
  if (!ok)
    return child_fail(err.detail);
  if (global_inits != 1 || easy_inits != 1)
    return child_fail("the request did not initialise libcurl once");
  if (getenv("SSLKEYLOGFILE") != NULL)
    return child_fail("SSLKEYLOGFILE is still set");
  for (size_t i = 0; i < STEERING; i++)
    if ((getenv(steering[i]) != NULL) != !secure)
      return child_fail(secure ? "a variable was left in a setgid process"
                               : "a variable was removed in a plain process");
  if (getenv("PATH") == NULL || getenv("MSOAUTH_KEEP") == NULL)
    return child_fail("a variable nobody reads was removed");
  return 0;
}

/* Runs this program as a fresh process making one request; secure: with
 * nobody's group as its real one (an AT_SECURE exec). Returns its exit
 * status. */
static int run_child(int secure) {
  static char name[] = "test_environ", request[] = "--request",
              secure_arg[] = "secure";
  char *argv[] = {
      name, request, discovery_url, emu.ca, secure ? secure_arg : NULL, NULL};
  int status;
  pid_t pid;

  pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    setenv("SSLKEYLOGFILE", keylog, 1);
    setenv("MSOAUTH_KEEP", "yes", 1);
    for (size_t i = 0; i < STEERING; i++)
      setenv(steering[i], "http://127.0.0.1:1", 1);
    umask(0);
    if (secure && setresgid(NOBODY_GID, 0, 0) != 0)
      _exit(126);
    execv("/proc/self/exe", argv);
    _exit(127);
  }
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  return WEXITSTATUS(status);
}

static int file_exists(const char *path) {
  struct stat st;

  return lstat(path, &st) == 0 || errno != ENOENT;
}

/* ------------------------------------------------------------ tests */

static int setup(void **state) {
  (void)state;
  if (emu_start(&emu, NULL) != 0)
    return -1;
  snprintf(discovery_url, sizeof(discovery_url),
           "%s/contoso.com/v2.0/.well-known/openid-configuration", emu.url);
  snprintf(keylog, sizeof(keylog), "%s/keylog", emu.dir);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  emu_stop(&emu);
  return 0;
}

/* The first request of a plain process: libcurl starts then, not when the
 * handle is made, and SSLKEYLOGFILE makes it write nothing. */
static void test_first_request(void **state) {
  (void)state;

  unlink(keylog);
  assert_int_equal(run_child(0), 0);
  assert_false(file_exists(keylog));
  assert_int_equal(emu_count(&emu, "connections"), 1);
}

/* The same in a setgid-like process (needs root): every variable libcurl
 * or OpenSSL would read is gone, and the request still works. */
static void test_first_request_secure(void **state) {
  (void)state;

  if (geteuid() != 0)
    skip();
  unlink(keylog);
  assert_int_equal(emu_reset(&emu), 0);
  assert_int_equal(run_child(1), 0);
  assert_false(file_exists(keylog));
  assert_int_equal(emu_count(&emu, "connections"), 1);
}

static void test_plain_process(void **state) {
  struct msoauth_err err;
  (void)state;

  if (msoauth_secure_exec())
    skip(); /* the test itself runs setuid: nothing to compare with */
  setenv("SSLKEYLOGFILE", "/nonexistent/keylog", 1);
  setenv("https_proxy", "http://proxy.example:3128", 1);
  setenv("OPENSSL_ia32cap", "~0x200000200000000", 1);
  assert_int_equal(msoauth_environ_prepare(NULL, &err), MSOAUTH_OK);
  assert_null(getenv("SSLKEYLOGFILE"));
  /* The administrator's environment of a daemon is left as it is. */
  assert_string_equal(getenv("https_proxy"), "http://proxy.example:3128");
  assert_non_null(getenv("OPENSSL_ia32cap"));
  unsetenv("https_proxy");
  unsetenv("OPENSSL_ia32cap");
}

/* Log lines caught by the test's sink. */
static char log_text[8192];

static void catch_log(void *arg, enum msoauth_level level, const char *msg) {
  size_t len = strlen(log_text);
  (void)arg;
  (void)level;

  snprintf(log_text + len, sizeof(log_text) - len, "%s\n", msg);
}

/* In a child with nobody's real group id (no exec: AT_SECURE is not set,
 * the differing ids are enough). Returns 0 when everything held. */
static int secure_child(void) {
  struct msoauth_log log = {catch_log, NULL, MSOAUTH_LOG_DEBUG};
  struct msoauth_err err;
  char long_name[400];

  memset(long_name, 'X', 300);
  memcpy(long_name + 300, "_Proxy", 7);
  setenv(long_name, "http://127.0.0.1:1", 1);
  setenv("SSLKEYLOGFILE", "/nonexistent/keylog-value", 1);
  for (size_t i = 0; i < STEERING; i++)
    setenv(steering[i], "steering-value", 1);
  setenv("MSOAUTH_KEEP", "yes", 1);
  if (setresgid(NOBODY_GID, 0, 0) != 0 || !msoauth_secure_exec())
    return 2;
  if (msoauth_environ_prepare(&log, &err) != MSOAUTH_OK)
    return 3;
  if (getenv("SSLKEYLOGFILE") != NULL || getenv(long_name) != NULL)
    return 4;
  for (size_t i = 0; i < STEERING; i++)
    if (getenv(steering[i]) != NULL)
      return 5;
  if (getenv("MSOAUTH_KEEP") == NULL || getenv("PATH") == NULL)
    return 6;
  /* Names at debug, never values. */
  if (strstr(log_text, "removed SSLKEYLOGFILE") == NULL ||
      strstr(log_text, "removed https_proxy") == NULL ||
      strstr(log_text, "value") != NULL)
    return 7;
  /* Read by libcrypto as it was loaded: too late to remove, refused. */
  setenv("OPENSSL_ia32cap", "~0x200000200000000", 1);
  if (msoauth_environ_prepare(&log, &err) != MSOAUTH_ERR_CONFIG ||
      strstr(err.detail, "OPENSSL_ia32cap") == NULL)
    return 8;
  return 0;
}

static void test_secure_process(void **state) {
  int status;
  pid_t pid;
  (void)state;

  if (geteuid() != 0)
    skip();
  pid = fork();
  assert_true(pid >= 0);
  if (pid == 0)
    _exit(secure_child());
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_first_request),
      cmocka_unit_test(test_first_request_secure),
      cmocka_unit_test(test_plain_process),
      cmocka_unit_test(test_secure_process),
  };

  if (argc >= 4 && strcmp(argv[1], "--request") == 0)
    return child_request(argv[2], argv[3],
                         argc > 4 && strcmp(argv[4], "secure") == 0);
  return cmocka_run_group_tests(tests, setup, teardown);
}
