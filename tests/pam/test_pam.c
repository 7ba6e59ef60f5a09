#include "config_build.h"
/*
 * test_pam.c - pam_msoauth.so through the real libpam (pam_wrapper and
 * libpamtest) against the Entra ID emulator: every row of the contract's
 * outcome table, the arguments, failure_cache, allowed_groups,
 * offline_grace, store_tokens, the other PAM phases, the exported symbols;
 * faults of the identity platform (unusable answers, timeouts, retries,
 * Retry-After, untrusted certificates) and hostile user names and
 * passwords, which must fail closed, cleanly logged, with nothing cached.
 *
 * The process first prepares a directory with the PAM service files, then
 * runs itself again with pam_wrapper preloaded (LD_PRELOAD must be set
 * before the process starts).
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpamtest.h>
#include <security/pam_appl.h>

#include "config.h"
#include "../emu.h"
#include "../leak.h"
#include "clock.h"
#include "pam_driver.h"
#include "../redis_server.h"
#include "secret.h"
#include "token.h"

#ifndef PAM_MODULE_PATH
#define PAM_MODULE_PATH "pam_msoauth/.libs/pam_msoauth.so"
#endif

#define DIR_ENV "MSOAUTH_PAMTEST_DIR"
#define GROUP1 "aaaaaaaa-0000-0000-0000-000000000001"
/* The password of a proxy URL given as a module argument. */
#define PROXY_PASSWORD "pr0xy-Pa55word"

static struct emu emu;
static char topdir[256]; /* service files, configurations, cache */

/* ------------------------------------------------------------ stage one */

static char module[1024];

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");

  if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
    fprintf(stderr, "cannot write %s\n", path);
    exit(99);
  }
}

/* Where pam_wrapper keeps its test modules (pam_set_items.so). */
static void wrapper_modules(char *out, size_t size) {
  FILE *p = popen("pkg-config --variable=modules pam_wrapper 2>/dev/null", "r");

  out[0] = '\0';
  if (p != NULL) {
    if (fgets(out, (int)size, p) == NULL)
      out[0] = '\0';
    pclose(p);
  }
  out[strcspn(out, "\r\n")] = '\0';
  if (out[0] == '\0')
    snprintf(out, size, "/usr/lib/x86_64-linux-gnu/pam_wrapper");
}

static void service(const char *name, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void service(const char *name, const char *fmt, ...) {
  char path[512], *text = NULL;
  va_list ap;

  va_start(ap, fmt);
  if (vasprintf(&text, fmt, ap) < 0)
    exit(99);
  va_end(ap);
  snprintf(path, sizeof(path), "%s/svc/%s", topdir, name);
  write_text(path, text);
  free(text);
}

/* The pam_msoauth lines of the example conf/pam.d/NAME, with the module
 * line m; an empty string when the source tree is not known. */
static void example_lines(const char *name, const char *m, char *out,
                          size_t size) {
  const char *src = getenv("MSOAUTH_SRCDIR");
  const char *word = "pam_msoauth.so config=/etc/msoauth.conf";
  char path[600], line[1024];
  size_t len = 0;
  FILE *f;

  out[0] = '\0';
  if (src == NULL)
    return;
  snprintf(path, sizeof(path), "%s/conf/pam.d/%s", src, name);
  f = fopen(path, "r");
  if (f == NULL)
    exit(99);
  while (fgets(line, sizeof(line), f) != NULL) {
    char *at = strstr(line, word);

    if (line[0] == '#' || at == NULL)
      continue;
    len += (size_t)snprintf(out + len, size - len, "%.*s%s%s",
                            (int)(at - line), line, m, at + strlen(word));
    if (len >= size)
      exit(99);
  }
  fclose(f);
}

/* The account lines of a probe of module line mod (see write_services). */
static void probe_lines(char *out, size_t size, const char *mod) {
  snprintf(out, size,
           "account [success=2 ignore=ignore default=die] %s\n"
           "account optional pam_echo.so probe: ignore\n"
           "account requisite pam_deny.so\n"
           "account optional pam_echo.so probe: success\n"
           "account required pam_permit.so\n",
           mod);
}

static void write_services(void) {
  char wrap[512], m[1400], svc[300], probe[1800];

  wrapper_modules(wrap, sizeof(wrap));
  snprintf(svc, sizeof(svc), "%s/svc", topdir);
  if (mkdir(svc, 0700) != 0)
    exit(99);
  snprintf(m, sizeof(m), "%s config=%s/main.conf", module, topdir);
  service("other", "auth required pam_deny.so\naccount required pam_deny.so\n"
                   "password required pam_deny.so\n"
                   "session required pam_deny.so\n");
  service("msoauth",
          "auth required %s\naccount required %s\npassword required %s\n"
          "session required %s\n",
          m, m, m, m);
  /* IGNORE passes to pam_permit; SUCCESS or a failure is "bad". */
  service("msoauth-ignore",
          "auth [success=bad ignore=ignore default=bad] %s\n"
          "auth required pam_permit.so\n"
          "password [success=bad ignore=ignore default=bad] %s\n"
          "password required pam_permit.so\n"
          "session [success=bad ignore=ignore default=bad] %s\n"
          "session required pam_permit.so\n",
          m, m, m);
  service(
      "msoauth-first",
      "auth required %s/pam_set_items.so\nauth required %s use_first_pass\n",
      wrap, m);
  service(
      "msoauth-try",
      "auth required %s/pam_set_items.so\nauth required %s try_first_pass\n",
      wrap, m);
  service("msoauth-args",
          "auth required %s frobnicate default_domain=contoso.com "
          "alias_policy=resolve\n",
          m);
  service("msoauth-badarg", "auth required %s no_such_key=1\n", m);
  service("msoauth-badval", "auth required %s failure_cache=soon\n", m);
  service("msoauth-noconf",
          "auth required %s config=%s/missing.conf\n"
          "account required %s config=%s/missing.conf\n",
          module, topdir, module, topdir);
  service("msoauth-profile", "auth required %s profile=strict\n", m);
  service("msoauth-debug", "auth required %s debug\n", m);
  /* Arguments overriding the file's timeout = 5 and retries = 0. */
  service("msoauth-timeout", "auth required %s timeout=2\n", m);
  service("msoauth-retry", "auth required %s retries=2 timeout=5\n", m);
  /* conf/pam.d/sshd's own lines, pam_permit or pam_deny standing for
   * common-auth and common-account. */
  example_lines("sshd", m, probe, sizeof(probe));
  if (probe[0] != '\0') {
    service("sshd-example-permit",
            "%sauth required pam_permit.so\naccount required pam_permit.so\n",
            probe);
    service("sshd-example-deny",
            "%sauth required pam_permit.so\naccount required pam_deny.so\n",
            probe);
  }
  /* Probes of the module's own answer in account, which libpam never
   * hands to the application as such: PAM_SUCCESS jumps to "probe:
   * success" and pam_permit, PAM_IGNORE falls to "probe: ignore" and
   * pam_deny (PAM_AUTH_ERR), anything else ends the stack with the
   * module's code (die). */
  probe_lines(probe, sizeof(probe), m);
  service("msoauth-probe", "auth required %s\n%s", m, probe);
  {
    char noconf[1400], probe_noconf[1800];

    snprintf(noconf, sizeof(noconf), "%s config=%s/missing.conf", module,
             topdir);
    probe_lines(probe_noconf, sizeof(probe_noconf), noconf);
    service("msoauth-probe-noconf", "%s", probe_noconf);
  }
  /* Another module authenticates (pam_permit standing for pam_unix). */
  service("msoauth-probe-other", "auth required pam_permit.so\n%s", probe);
  /* The auth stack of conf/pam.d/sshd: a user Entra ID does not know
   * falls through to pam_permit. */
  service("msoauth-probe-stack",
          "auth [success=done new_authtok_reqd=done user_unknown=ignore "
          "ignore=ignore default=die] %s\nauth required pam_permit.so\n%s",
          m, probe);
  /* canonical_user=yes as an argument, with and without the name rules
   * that change the name. */
  service("msoauth-canon", "auth required %s canonical_user=yes\n%s", m,
          probe);
  service("msoauth-canon-args",
          "auth required %s default_domain=contoso.com alias_policy=resolve "
          "canonical_user=yes\n%s",
          m, probe);
  service("msoauth-canon-bad", "auth required %s canonical_user=maybe\n", m);
  /* Secrets as arguments, in a file every user can read: refused. */
  service("msoauth-secret-arg",
          "auth required %s client_id=" EMU_SECRET_CLIENT
          " client_secret=" EMU_CLIENT_SECRET "\n"
          "account required %s client_secret=" EMU_CLIENT_SECRET "\n",
          m, m);
  service("msoauth-secret-spaced",
          "auth required %s client_id=" EMU_SECRET_CLIENT
          " client_secret = " EMU_CLIENT_SECRET "\n",
          m);
  service("msoauth-proxy-password",
          "auth required %s proxy=http://proxyuser:" PROXY_PASSWORD
          "@127.0.0.1:9\n",
          m);
  service("msoauth-proxy-plain",
          "auth required %s proxy=http://127.0.0.1:9\n", m);
  /* A second host of a fleet: its own cache_dir, the same Redis. */
  service("msoauth-host2", "auth required %s cache_dir=%s/cache2\n", m,
          topdir);
  /* The fall-through stack of conf/pam.d/sshd, pam_permit standing for
   * pam_unix. */
  service("msoauth-stack",
          "auth [success=done new_authtok_reqd=done user_unknown=ignore "
          "ignore=ignore default=die] %s\nauth required pam_permit.so\n",
          m);
}

/* Preloads pam_wrapper. In an ASan build with the runtime as a shared
 * library (gcc's), that runtime must stay first in the initial library
 * list, or it refuses to start: it is preloaded before pam_wrapper. */
static void preload_wrapper(void) {
  void *asan = dlsym(RTLD_DEFAULT, "__asan_init");
  char list[1200];
  Dl_info info;

  if (asan != NULL && dladdr(asan, &info) != 0 && info.dli_fname != NULL &&
      strstr(info.dli_fname, "libasan") != NULL) {
    snprintf(list, sizeof(list), "%s libpam_wrapper.so", info.dli_fname);
    /* pam_wrapper loads libpam with RTLD_DEEPBIND, which ASan cannot run
     * (it aborts the process); this asks it not to (pam_wrapper 1.1.4
     * reads the first name). */
    setenv("UID_WRAPPER_DISABLE_DEEPBIND", "1", 1);
    setenv("PAM_WRAPPER_DISABLE_DEEPBIND", "1", 1);
  } else {
    snprintf(list, sizeof(list), "libpam_wrapper.so");
  }
  setenv("LD_PRELOAD", list, 1);
}

/* Prepares the directory and runs this program again under pam_wrapper. */
static void stage_one(char **argv) {
  const char *builddir = getenv("MSOAUTH_BUILDDIR");
  char svc[300];

  if (PAM_MODULE_PATH[0] == '/' || builddir == NULL)
    snprintf(module, sizeof(module), "%s", PAM_MODULE_PATH);
  else
    snprintf(module, sizeof(module), "%s/%s", builddir, PAM_MODULE_PATH);
  snprintf(topdir, sizeof(topdir), "/tmp/msoauth-pamtest-XXXXXX");
  if (mkdtemp(topdir) == NULL)
    exit(99);
  write_services();
  setenv(DIR_ENV, topdir, 1);
  setenv("MSOAUTH_PAMTEST_MODULE", module, 1);
  setenv("PAM_WRAPPER", "1", 1);
  snprintf(svc, sizeof(svc), "%s/svc", topdir);
  setenv("PAM_WRAPPER_SERVICE_DIR", svc, 1);
  /* Level 2 sends pam_syslog lines to stderr, where the tests read them;
   * level 3 would also print the items, passwords included. */
  setenv("PAM_WRAPPER_DEBUGLEVEL", "2", 1);
  preload_wrapper();
  /* argv[0] rather than /proc/self/exe, which is valgrind's own under
   * valgrind --trace-children. */
  execv(strchr(argv[0], '/') != NULL ? argv[0] : "/proc/self/exe", argv);
  perror("exec");
  exit(99);
}

/* ------------------------------------------------------------ helpers */

static void clean_cache(void) {
  char cmd[400];

  snprintf(cmd, sizeof(cmd), "rm -rf '%s/cache'", topdir);
  assert_int_equal(system(cmd), 0);
}

/* topdir/NAME.conf: the defaults of emulator e, then extra. */
static void write_conf_at(const struct emu *e, const char *name,
                          const char *extra) {
  char path[400], *text = NULL;

  snprintf(path, sizeof(path), "%s/%s.conf", topdir, name);
  assert_true(asprintf(&text,
                       "authority = %s\ntenant = contoso.com\n"
                       "client_id = " EMU_PUBLIC_CLIENT "\n"
                       "ca_file = %s\ncache_dir = %s/cache\n"
                       "retries = 0\ntimeout = 5\n%s",
                       e->url, e->ca, topdir, extra != NULL ? extra : "") > 0);
  unlink(path);
  write_text(path, text);
  assert_int_equal(chmod(path, 0600), 0);
  free(text);
}

/* topdir/NAME.conf: the emulator's defaults, then extra. */
static void write_conf(const char *name, const char *extra) {
  write_conf_at(&emu, name, extra);
}

/* A fresh main.conf and cache, and zeroed counters. */
static void fresh(const char *extra) {
  write_conf("main", extra);
  clean_cache();
  assert_int_equal(emu_reset(&emu), 0);
}

/* Every syslog line and conversation message of the whole run, for
 * test_no_secret_leaks. */
static struct leak_sinks sinks;

/* The conversation is pamd_conv (pam_driver.h); its messages also go
 * to the sinks first. */
static int conv_fn(int n, const struct pam_message **msg,
                   struct pam_response **resp, void *arg) {
  for (int i = 0; i < n; i++) {
    int style = msg[i]->msg_style;

    if ((style == PAM_ERROR_MSG || style == PAM_TEXT_INFO) &&
        leak_sink(&sinks, "conversation", msg[i]->msg, strlen(msg[i]->msg)) !=
            0)
      return PAM_BUF_ERR;
  }
  return pamd_conv(n, msg, resp, arg);
}

/* stderr, where pam_wrapper writes pam_syslog lines, into a file. */
static int saved_stderr = -1;
static char logbuf[64 * 1024];

static void capture_begin(void) {
  char path[400];
  int fd;

  snprintf(path, sizeof(path), "%s/stderr.log", topdir);
  fflush(stderr);
  saved_stderr = dup(2);
  fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true(fd >= 0 && saved_stderr >= 0);
  dup2(fd, 2);
  close(fd);
}

static const char *capture_end(void) {
  char path[400];
  FILE *f;
  size_t n;

  fflush(stderr);
  dup2(saved_stderr, 2);
  close(saved_stderr);
  snprintf(path, sizeof(path), "%s/stderr.log", topdir);
  f = fopen(path, "r");
  assert_non_null(f);
  n = fread(logbuf, 1, sizeof(logbuf) - 1, f);
  fclose(f);
  logbuf[n] = '\0';
  assert_int_equal(leak_sink(&sinks, "syslog (stderr)", logbuf, n), 0);
  /* Shown in the test log, for whoever reads a failure. */
  fputs(logbuf, stderr);
  return logbuf;
}

static size_t count_of(const char *hay, const char *needle) {
  size_t n = 0;

  for (const char *p = strstr(hay, needle); p != NULL;
       p = strstr(p + 1, needle))
    n++;
  return n;
}

/* Every line of a captured log is a line of pam_wrapper's (no line was
 * split by a character of the input), printable, and of a bounded length. */
static void assert_clean_log(const char *log) {
  for (const char *line = log; *line != '\0';) {
    const char *nl = strchr(line, '\n');
    size_t len = nl != NULL ? (size_t)(nl - line) : strlen(line);

    /* pam_wrapper's debug line about loading libpam may leave its newline
     * in the capture: an empty line carries nothing of the input, and a
     * line split by the input still shows as a line not pam_wrapper's. */
    if (len == 0) {
      line += nl != NULL;
      continue;
    }
    if (strncmp(line, "PWRAP_", 6) != 0 || !leak_printable(line, len) ||
        len > 1024)
      fprintf(stderr, "# not a clean log line: %.200s\n", line);
    assert_int_equal(strncmp(line, "PWRAP_", 6), 0);
    assert_true(leak_printable(line, len));
    assert_true(len <= 1024);
    line += len + (nl != NULL);
  }
}

/* How many cache files (*.json: entries, *.tmp.*: half-written ones) the
 * cache directory holds. */
static int cache_files(void) {
  char path[400];
  struct dirent *de;
  DIR *d;
  int n = 0;

  snprintf(path, sizeof(path), "%s/cache", topdir);
  d = opendir(path);
  if (d == NULL)
    return 0;
  while ((de = readdir(d)) != NULL) {
    size_t len = strlen(de->d_name);

    if ((len > 5 && strcmp(de->d_name + len - 5, ".json") == 0) ||
        strstr(de->d_name, ".tmp.") != NULL)
      n++;
  }
  closedir(d);
  return n;
}

/* Runs the operations ops[0..n) on one handle, expecting rvs; returns the
 * captured log. */
static const char *run_ops(const char *svc, const char *user, struct pamd *cv,
                           const enum pamtest_ops *ops, const int *rvs,
                           size_t n) {
  struct pam_testcase tc[8];
  enum pamtest_err perr;
  const char *log;

  assert_true(n <= 8);
  memset(tc, 0, sizeof(tc));
  for (size_t i = 0; i < n; i++) {
    tc[i].pam_operation = ops[i];
    tc[i].expected_rv = rvs[i];
  }
  capture_begin();
  perr = _pamtest_conv(svc, user, conv_fn, cv, tc, n, NULL);
  log = capture_end();
  for (size_t i = 0; i < n; i++) {
    if (tc[i].op_rv != rvs[i])
      fprintf(stderr, "# op %zu of %s for %s: %d (%s), expected %d (%s)\n", i,
              svc, user, tc[i].op_rv, pam_strerror(NULL, tc[i].op_rv), rvs[i],
              pam_strerror(NULL, rvs[i]));
    assert_int_equal(tc[i].op_rv, rvs[i]);
  }
  assert_int_equal(perr, PAMTEST_ERR_OK);
  return log;
}

/* One pam_authenticate with password typed at the prompt. */
static const char *auth(const char *svc, const char *user, const char *password,
                        int expected, struct pamd *cv) {
  enum pamtest_ops op = PAMTEST_AUTHENTICATE;

  memset(cv, 0, sizeof(*cv));
  cv->passwords[0] = password;
  return run_ops(svc, user, cv, &op, &expected, 1);
}

/* ------------------------------------------------------------ fixtures */

static int group_setup(void **state) {
  char path[400];

  (void)state;
  snprintf(path, sizeof(path), "%s/aliases", topdir);
  write_text(path, "al@contoso.com alice@contoso.com\n");
  return emu_start(&emu, NULL);
}

static int group_teardown(void **state) {
  char cmd[400];

  (void)state;
  emu_stop(&emu);
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", topdir);
  return system(cmd) == 0 ? 0 : -1;
}

/* ------------------------------------------------------------ the table */

struct row {
  const char *name;
  const char *user;
  const char *password; /* typed at the prompt; NULL: no prompt expected */
  const char *conf;     /* extra lines of main.conf */
  const char *fault;    /* queued at /_emu/fault */
  int expected;
  int local;           /* decided without a request */
  const char *result;  /* in the log line */
  long aadsts;         /* in the log line */
  const char *message; /* in a PAM_ERROR_MSG, or NULL for none */
};

/* Not const: each row is the initial state of its own test. */
static struct row rows[] = {
    {"verified", "alice@contoso.com", EMU_ALICE_PASSWORD, NULL, NULL,
     PAM_SUCCESS, 0, "success", 0, NULL},
    {"verified, case and spaces", " Alice@CONTOSO.com", EMU_ALICE_PASSWORD,
     NULL, NULL, PAM_SUCCESS, 0, "success", 0, NULL},
    {"password with form characters", "bob@contoso.com", EMU_BOB_PASSWORD, NULL,
     NULL, PAM_SUCCESS, 0, "success", 0, NULL},
    {"empty password", "alice@contoso.com", "", NULL, NULL, PAM_AUTH_ERR, 1,
     "empty-password", 0, NULL},
    {"domain not accepted", "eve@fabrikam.com", NULL, NULL, NULL,
     PAM_USER_UNKNOWN, 1, "domain-refused", 0, NULL},
    {"bare local name", "root", NULL, NULL, NULL, PAM_USER_UNKNOWN, 1,
     "domain-refused", 0, NULL},
    {"domain outside domains", "carol@bravo.com", NULL,
     "domains = contoso.com\n", NULL, PAM_USER_UNKNOWN, 1, "domain-refused", 0,
     NULL},
    {"control character", "alice\001@contoso.com", NULL, NULL, NULL,
     PAM_USER_UNKNOWN, 1, "bad-name", 0, NULL},
    {"alias in the token", "asmith@contoso.com", EMU_ALICE_PASSWORD, NULL, NULL,
     PAM_AUTH_ERR, 0, "alias", 0,
     "asmith@contoso.com is an alias: sign in as alice@contoso.com"},
    {"alias in aliases_file", "al@contoso.com", NULL,
     "aliases_file = @DIR@/aliases\n", NULL, PAM_AUTH_ERR, 1, "alias", 0,
     "al@contoso.com is an alias: sign in as alice@contoso.com"},
    {"wrong password", "alice@contoso.com", "not her password", NULL, NULL,
     PAM_AUTH_ERR, 0, "bad-password", 50126, NULL},
    {"password with a leading space", "alice@contoso.com",
     " " EMU_ALICE_PASSWORD, NULL, NULL, PAM_AUTH_ERR, 0, "bad-password", 50126,
     NULL},
    {"no such user", "nobody@contoso.com", "Password1!", NULL, NULL,
     PAM_USER_UNKNOWN, 0, "no-such-user", 50034, NULL},
    {"locked", "locked@contoso.com", "Password1!", NULL, NULL, PAM_MAXTRIES, 0,
     "locked", 50053, NULL},
    {"disabled", "disabled@contoso.com", "Password1!", NULL, NULL, PAM_AUTH_ERR,
     0, "disabled", 50057, "Your account is disabled"},
    {"password expired", "expired@contoso.com", "Password1!", NULL, NULL,
     PAM_AUTH_ERR, 0, "password-expired", 50055, "Your password has expired"},
    {"mfa", "mfa@contoso.com", "Password1!", NULL, NULL, PAM_AUTH_ERR, 0,
     "mfa-required", 50076, "requires multi-factor authentication"},
    {"mfa registration", "mfareg@contoso.com", "Password1!", NULL, NULL,
     PAM_AUTH_ERR, 0, "mfa-required", 50079,
     "must register for multi-factor authentication"},
    {"external mfa", "extmfa@contoso.com", "Password1!", NULL, NULL,
     PAM_AUTH_ERR, 0, "mfa-required", 50158,
     "requires multi-factor authentication"},
    {"conditional access", "ca@contoso.com", "Password1!", NULL, NULL,
     PAM_AUTH_ERR, 0, "conditional-access", 53003, "Conditional Access"},
    {"5xx", "alice@contoso.com", EMU_ALICE_PASSWORD, NULL,
     "{\"kind\": \"status\", \"status\": 503, \"count\": -1}",
     PAM_AUTHINFO_UNAVAIL, 0, "unreachable", 0, NULL},
    {"429", "alice@contoso.com", EMU_ALICE_PASSWORD, NULL,
     "{\"kind\": \"throttle\", \"retry_after\": 30, \"count\": -1}",
     PAM_AUTHINFO_UNAVAIL, 0, "throttled", 0, NULL},
    {"timeout", "alice@contoso.com", EMU_ALICE_PASSWORD, "timeout = 1\n",
     "{\"kind\": \"delay\", \"seconds\": 3, \"count\": 1}",
     PAM_AUTHINFO_UNAVAIL, 0, "timeout", 0, NULL},
    {"connection dropped", "alice@contoso.com", EMU_ALICE_PASSWORD, NULL,
     "{\"kind\": \"drop\", \"count\": -1}", PAM_AUTHINFO_UNAVAIL, 0,
     "unreachable", 0, NULL},
    {"unconsented app", "alice@contoso.com", EMU_ALICE_PASSWORD,
     "client_id = " EMU_UNCONSENTED_CLIENT "\n", NULL, PAM_AUTHINFO_UNAVAIL, 0,
     "config-error", 65001, NULL},
    {"unknown app", "alice@contoso.com", EMU_ALICE_PASSWORD,
     "client_id = 99999999-9999-9999-9999-999999999999\n", NULL,
     PAM_AUTHINFO_UNAVAIL, 0, "config-error", 700016, NULL},
    {"confidential app without secret", "alice@contoso.com", EMU_ALICE_PASSWORD,
     "client_id = " EMU_SECRET_CLIENT "\n", NULL, PAM_AUTHINFO_UNAVAIL, 0,
     "config-error", 7000218, NULL},
    {"wrong client secret", "alice@contoso.com", EMU_ALICE_PASSWORD,
     "client_id = " EMU_SECRET_CLIENT "\nclient_secret = wrong\n", NULL,
     PAM_AUTHINFO_UNAVAIL, 0, "config-error", 7000215, NULL},
    {"unknown tenant", "alice@contoso.com", EMU_ALICE_PASSWORD,
     "tenant = fabrikam.onmicrosoft.com\ndomains = contoso.com\n", NULL,
     PAM_AUTHINFO_UNAVAIL, 0, "config-error", 90002, NULL},
    /* A token whose tid is not the tenant id configured. */
    {"token of another tenant", "alice@contoso.com", EMU_ALICE_PASSWORD,
     "tenant = " EMU_TENANT_ID "\n", "{\"kind\": \"tenant\"}", PAM_AUTH_ERR,
     0, "foreign-tenant", 0, NULL},
    /* No id token, an opaque access token: nobody to check, refused. */
    {"no identity in the answer", "alice@contoso.com", EMU_ALICE_PASSWORD,
     NULL, "{\"kind\": \"opaque\"}", PAM_AUTH_ERR, 0, "no-identity", 0, NULL},
    /* organizations would let a multi-tenant app sign in every tenant's
     * users: without domains the configuration is refused. */
    {"another tenant's user, organizations", "mallory@woodgrove.com", NULL,
     "tenant = organizations\nclient_id = " EMU_MULTI_TENANT_CLIENT "\n", NULL,
     PAM_AUTHINFO_UNAVAIL, 1, "config-error", 0, NULL},
    {"another tenant's user, organizations and domains",
     "mallory@woodgrove.com", NULL,
     "tenant = organizations\ndomains = contoso.com\n"
     "client_id = " EMU_MULTI_TENANT_CLIENT "\n",
     NULL, PAM_USER_UNKNOWN, 1, "domain-refused", 0, NULL},
};

/* client_id etc. set twice would be an error: a row's conf replaces the
 * default line instead. */
static void write_row_conf(const struct row *r) {
  char extra[512];
  const char *conf = r->conf != NULL ? r->conf : "";
  const char *dir = strstr(conf, "@DIR@");

  if (dir != NULL)
    snprintf(extra, sizeof(extra), "%.*s%s%s", (int)(dir - conf), conf, topdir,
             dir + 5);
  else
    snprintf(extra, sizeof(extra), "%s", conf);
  fresh(NULL);
  if (extra[0] != '\0') {
    char path[400], *text = NULL;

    /* The emulator's defaults, with the row's keys replacing them. */
    assert_true(
        asprintf(&text,
                 "authority = %s\n%s"
                 "%s"
                 "ca_file = %s\ncache_dir = %s/cache\n"
                 "retries = 0\n%s%s",
                 emu.url,
                 strstr(extra, "tenant =") ? "" : "tenant = contoso.com\n",
                 strstr(extra, "client_id =") ? ""
                                              : "client_id = " EMU_PUBLIC_CLIENT
                                                "\n",
                 emu.ca, topdir,
                 strncmp(extra, "timeout =", 9) == 0 ? "" : "timeout = 5\n",
                 extra) > 0);
    snprintf(path, sizeof(path), "%s/main.conf", topdir);
    unlink(path);
    write_text(path, text);
    assert_int_equal(chmod(path, 0600), 0);
    free(text);
  }
}

static void check_row(const struct row *r) {
  struct pamd cv;
  char want[600];
  const char *log;

  fprintf(stderr, "# row: %s\n", r->name);
  write_row_conf(r);
  if (r->fault != NULL)
    assert_int_equal(emu_post(&emu, "/_emu/fault", r->fault), 0);
  log = auth("msoauth", r->user, r->password, r->expected, &cv);
  /* Local decisions send nothing; a refused name is not even asked for a
   * password. */
  if (r->local)
    assert_int_equal(emu_count(&emu, "total"), 0);
  else
    assert_true(emu_count(&emu, "endpoint:token") >= 1);
  assert_int_equal(cv.prompts, r->password != NULL ? 1 : 0);
  snprintf(want, sizeof(want), "result=%s aadsts=%ld:", r->result, r->aadsts);
  assert_non_null(strstr(log, want));
  assert_int_equal(count_of(log, "result="), 1);
  assert_clean_log(log);
  if (strchr(r->user, '\001') == NULL) {
    snprintf(want, sizeof(want), "user=%s result=", r->user);
    assert_non_null(strstr(log, want));
  }
  if (r->password != NULL && strlen(r->password) > 3)
    assert_null(strstr(log, r->password));
  if (r->message != NULL) {
    assert_int_equal(cv.n_errors, 1);
    assert_non_null(strstr(cv.errors[0], r->message));
  } else {
    assert_int_equal(cv.n_errors, 0);
  }
  assert_int_equal(emu_reset(&emu), 0);
}

/* One test per row of the table. */
static void test_row(void **state) {
  check_row(*state);
}

/* The white-space hint of a refused password. */
static void test_space_hint(void **state) {
  struct pamd cv;
  const char *log;

  (void)state;
  fresh(NULL);
  log = auth("msoauth", "alice@contoso.com", EMU_ALICE_PASSWORD " ",
             PAM_AUTH_ERR, &cv);
  assert_non_null(strstr(log, "white space"));
  log =
      auth("msoauth", "alice@contoso.com", "plainly wrong", PAM_AUTH_ERR, &cv);
  assert_null(strstr(log, "white space"));
  /* A password of spaces is not empty: sent as typed, refused by Entra. */
  log = auth("msoauth", "alice@contoso.com", "    ", PAM_AUTH_ERR, &cv);
  assert_non_null(strstr(log, "result=bad-password aadsts=50126:"));
  assert_non_null(strstr(log, "white space"));
  assert_int_equal(emu_count(&emu, "grant:password"), 3);
}

/* PAM_SILENT: the same refusal, and no message. */
static void test_silent(void **state) {
  struct pam_testcase tc[] = {
      pam_test_flags(PAMTEST_AUTHENTICATE, PAM_AUTH_ERR, PAM_SILENT)};
  struct pamd cv;

  (void)state;
  fresh(NULL);
  memset(&cv, 0, sizeof(cv));
  cv.passwords[0] = "Password1!";
  capture_begin();
  tc[0].op_rv = -1;
  _pamtest_conv("msoauth", "disabled@contoso.com", conv_fn, &cv, tc, 1, NULL);
  capture_end();
  assert_int_equal(tc[0].op_rv, PAM_AUTH_ERR);
  assert_int_equal(cv.prompts, 1);
  assert_int_equal(cv.n_errors, 0);
}

/* ------------------------------------------------------------ arguments */

static void test_use_first_pass(void **state) {
  struct pamd cv;
  const char *log;

  (void)state;
  fresh(NULL);
  setenv("PAM_AUTHTOK", EMU_ALICE_PASSWORD, 1);
  auth("msoauth-first", "alice@contoso.com", NULL, PAM_SUCCESS, &cv);
  assert_int_equal(cv.prompts, 0);
  /* A wrong first password is not followed by a prompt. */
  setenv("PAM_AUTHTOK", "wrong", 1);
  auth("msoauth-first", "alice@contoso.com", EMU_ALICE_PASSWORD, PAM_AUTH_ERR,
       &cv);
  assert_int_equal(cv.prompts, 0);
  /* Without one, nothing is asked either. */
  unsetenv("PAM_AUTHTOK");
  log = auth("msoauth-first", "alice@contoso.com", EMU_ALICE_PASSWORD,
             PAM_AUTHTOK_RECOVERY_ERR, &cv);
  assert_int_equal(cv.prompts, 0);
  assert_non_null(strstr(log, "result=no-password"));
  assert_int_equal(emu_count(&emu, "grant:password"), 2);
}

static void test_try_first_pass(void **state) {
  struct pamd cv;

  (void)state;
  fresh(NULL);
  setenv("PAM_AUTHTOK", EMU_ALICE_PASSWORD, 1);
  auth("msoauth-try", "alice@contoso.com", NULL, PAM_SUCCESS, &cv);
  assert_int_equal(cv.prompts, 0);
  assert_int_equal(emu_count(&emu, "grant:password"), 1);
  /* The earlier module's password is refused: asked once more. */
  setenv("PAM_AUTHTOK", "the unix password", 1);
  auth("msoauth-try", "alice@contoso.com", EMU_ALICE_PASSWORD, PAM_SUCCESS,
       &cv);
  assert_int_equal(cv.prompts, 1);
  assert_int_equal(emu_count(&emu, "grant:password"), 3);
  unsetenv("PAM_AUTHTOK");
  auth("msoauth-try", "alice@contoso.com", EMU_ALICE_PASSWORD, PAM_SUCCESS,
       &cv);
  assert_int_equal(cv.prompts, 1);
}

/* Issue 12, item 7: a password that came from another module
 * (use_first_pass, try_first_pass) is never kept as a verifier, neither for
 * offline_grace nor for failure_cache; one typed here is. */
static void test_first_pass_not_kept(void **state) {
  struct pamd cv;

  (void)state;
  fresh("offline_grace = 3600\n");
  setenv("PAM_AUTHTOK", EMU_ALICE_PASSWORD, 1);
  auth("msoauth-first", "alice@contoso.com", NULL, PAM_SUCCESS, &cv);
  assert_int_equal(cache_files(), 0);
  setenv("PAM_AUTHTOK", "the unix password", 1);
  auth("msoauth-first", "alice@contoso.com", NULL, PAM_AUTH_ERR, &cv);
  assert_int_equal(cache_files(), 0);
  /* try_first_pass: the earlier module's wrong password is not kept, the
   * one then typed here is. */
  auth("msoauth-try", "alice@contoso.com", EMU_ALICE_PASSWORD, PAM_SUCCESS,
       &cv);
  assert_int_equal(cv.prompts, 1);
  assert_int_equal(cache_files(), 1);
  unsetenv("PAM_AUTHTOK");
}

/* KEY=VALUE overrides, and an unknown bare word is ignored. */
static void test_overrides(void **state) {
  struct pamd cv;
  const char *log;

  (void)state;
  fresh(NULL);
  log = auth("msoauth-args", "alice", EMU_ALICE_PASSWORD, PAM_SUCCESS, &cv);
  assert_non_null(strstr(log, "as alice@contoso.com"));
  assert_non_null(strstr(log, "unknown option ignored: frobnicate"));
  /* alias_policy=resolve from the arguments. */
  log = auth("msoauth-args", "asmith", EMU_ALICE_PASSWORD, PAM_SUCCESS, &cv);
  assert_non_null(strstr(log, "verified online as alice@contoso.com"));
  assert_int_equal(emu_count(&emu, "grant:password"), 2);
  /* The file alone has neither. */
  auth("msoauth", "alice", NULL, PAM_USER_UNKNOWN, &cv);
}

/* Bad arguments fail closed, before any prompt or request. */
static void test_bad_arguments(void **state) {
  static const char *const services[] = {"msoauth-badarg", "msoauth-badval",
                                         "msoauth-noconf"};
  struct pamd cv;
  const char *log;

  (void)state;
  fresh(NULL);
  for (size_t i = 0; i < 3; i++) {
    log =
        auth(services[i], "alice@contoso.com", NULL, PAM_AUTHINFO_UNAVAIL, &cv);
    assert_int_equal(cv.prompts, 0);
    assert_non_null(strstr(log, "result=config-error"));
  }
  assert_non_null(strstr(log, "missing.conf"));
  assert_int_equal(emu_count(&emu, "total"), 0);
}

static void test_profile(void **state) {
  struct pamd cv;

  (void)state;
  fresh("[strict]\ndomains = bravo.com\n");
  auth("msoauth-profile", "carol@bravo.com", "Password1!", PAM_SUCCESS, &cv);
  auth("msoauth-profile", "alice@contoso.com", NULL, PAM_USER_UNKNOWN, &cv);
  assert_int_equal(emu_count(&emu, "total"), 1);
  /* Without the profile, contoso.com is the domain. */
  auth("msoauth", "alice@contoso.com", EMU_ALICE_PASSWORD, PAM_SUCCESS, &cv);
}

static void test_debug(void **state) {
  struct pamd cv;
  const char *log;

  (void)state;
  fresh(NULL);
  log = auth("msoauth-debug", "alice@contoso.com", EMU_ALICE_PASSWORD,
             PAM_SUCCESS, &cv);
  assert_non_null(strstr(log, "SYSLOG(7)"));
  assert_null(strstr(log, EMU_ALICE_PASSWORD));
  log = auth("msoauth", "alice@contoso.com", EMU_ALICE_PASSWORD, PAM_SUCCESS,
             &cv);
  assert_null(strstr(log, "SYSLOG(7)"));
}

/* ------------------------------------------------------------ faults */

/* An answer of the identity platform that cannot be used. */
struct fault_case {
  const char *name;
  const char *fault;  /* queued at /_emu/fault, or NULL */
  const char *tls;    /* --tls-identity of a second emulator, or NULL */
  const char *result; /* in the log line */
  long requests;      /* token requests it received */
};

static const struct fault_case fault_cases[] = {
    {"malformed JSON", "{\"kind\": \"malformed\", \"count\": -1}", NULL,
     "protocol-error", 1},
    {"wrong types", "{\"kind\": \"wrong_types\", \"count\": -1}", NULL,
     "protocol-error", 1},
    {"missing fields", "{\"kind\": \"missing_fields\", \"count\": -1}", NULL,
     "protocol-error", 1},
    {"negative expires_in",
     "{\"kind\": \"expires\", \"expires_in\": -3600, \"count\": -1}", NULL,
     "protocol-error", 1},
    {"absurd expires_in",
     "{\"kind\": \"expires\", \"expires_in\": 100000000000, \"count\": -1}",
     NULL, "protocol-error", 1},
    {"10 MB body", "{\"kind\": \"huge\", \"size\": 10485760, \"count\": -1}",
     NULL, "protocol-error", 1},
    {"closed mid-body", "{\"kind\": \"close\", \"count\": -1}", NULL,
     "unreachable", 1},
    {"redirect to another host", "{\"kind\": \"redirect\", \"count\": -1}",
     NULL, "protocol-error", 1},
    /* Not "unreachable": offline_grace never applies to these. */
    {"certificate from another CA", NULL, "other-ca", "protocol-error", 0},
    {"certificate for another host", NULL, "wrong-host", "protocol-error", 0},
};

/* What a login that succeeds keeps: without a fault, a cache file. */
#define KEEPING "store_tokens = yes\noffline_grace = 3600\n"

static void check_fault(const struct fault_case *fc) {
  const char *args[] = {"--tls-identity", fc->tls, NULL};
  struct emu other;
  struct pamd cv;
  const char *log;
  char want[128];
  long long start, elapsed;

  fprintf(stderr, "# fault: %s\n", fc->name);
  memset(&other, 0, sizeof(other));
  if (fc->tls != NULL)
    assert_int_equal(emu_start(&other, args), 0);
  write_conf_at(fc->tls != NULL ? &other : &emu, "main", KEEPING);
  clean_cache();
  assert_int_equal(emu_reset(&emu), 0);
  if (fc->fault != NULL)
    assert_int_equal(emu_post(&emu, "/_emu/fault", fc->fault), 0);
  start = msoauth_now_ms();
  log = auth("msoauth", "alice@contoso.com", EMU_ALICE_PASSWORD,
             PAM_AUTHINFO_UNAVAIL, &cv);
  elapsed = msoauth_now_ms() - start;
  fprintf(stderr, "# %s: %lld ms\n", fc->name, elapsed);
  /* timeout = 5 in main.conf, and one more second. */
  assert_true(elapsed < 6000);
  assert_int_equal(cv.prompts, 1);
  assert_int_equal(cv.n_errors, 0);
  snprintf(want, sizeof(want), "result=%s aadsts=0:", fc->result);
  assert_non_null(strstr(log, want));
  assert_int_equal(count_of(log, "result="), 1);
  assert_null(strstr(log, EMU_ALICE_PASSWORD));
  assert_clean_log(log);
  assert_int_equal(cache_files(), 0);
  if (fc->tls != NULL) {
    assert_int_equal(emu_ctl_total(&other), 0);
    emu_stop(&other);
  } else {
    assert_int_equal(emu_count(&emu, "endpoint:token"), fc->requests);
  }
  /* The next login of this process is not harmed. */
  fresh(NULL);
  auth("msoauth", "alice@contoso.com", EMU_ALICE_PASSWORD, PAM_SUCCESS, &cv);
}

/* Answers that cannot be used fail closed: PAM_AUTHINFO_UNAVAIL (never a
 * success, never "bad password"), nothing kept, in time. */
static void test_faults(void **state) {
  struct pamd cv;

  (void)state;
  /* Without a fault, the same login keeps a cache file: the check below
   * can fail. */
  write_conf("main", KEEPING);
  clean_cache();
  auth("msoauth", "alice@contoso.com", EMU_ALICE_PASSWORD, PAM_SUCCESS, &cv);
  assert_int_equal(cache_files(), 1);
  for (size_t i = 0; i < sizeof(fault_cases) / sizeof(fault_cases[0]); i++)
    check_fault(&fault_cases[i]);
}

/* timeout=2 as a module argument (the file says 5): a slow answer fails
 * within timeout + 1 s. */
static void test_timeout_argument(void **state) {
  struct pamd cv;
  const char *log;
  long long start, elapsed;

  (void)state;
  fresh(NULL);
  assert_int_equal(emu_post(&emu, "/_emu/fault",
                            "{\"kind\": \"delay\", \"seconds\": 8, "
                            "\"count\": 1}"),
                   0);
  start = msoauth_now_ms();
  log = auth("msoauth-timeout", "alice@contoso.com", EMU_ALICE_PASSWORD,
             PAM_AUTHINFO_UNAVAIL, &cv);
  elapsed = msoauth_now_ms() - start;
  fprintf(stderr, "# timeout=2: %lld ms\n", elapsed);
  assert_true(elapsed >= 1900 && elapsed < 3000);
  assert_non_null(strstr(log, "result=timeout aadsts=0:"));
  assert_clean_log(log);
  assert_int_equal(emu_count(&emu, "endpoint:token"), 1);
  assert_int_equal(cache_files(), 0);
}

/* retries=2 timeout=5 as module arguments. */
static void test_retries(void **state) {
  struct pamd cv;
  const char *log;
  long long start, elapsed;

  (void)state;
  /* 503 with Retry-After: 1, then the answer. */
  fresh(NULL);
  assert_int_equal(emu_post(&emu, "/_emu/fault",
                            "{\"kind\": \"status\", \"status\": 503, "
                            "\"retry_after\": 1, \"count\": 1}"),
                   0);
  auth("msoauth-retry", "alice@contoso.com", EMU_ALICE_PASSWORD, PAM_SUCCESS,
       &cv);
  assert_int_equal(emu_count(&emu, "endpoint:token"), 2);
  /* 500 without Retry-After: the password is not sent again (on-premises
   * AD would count each as a failure), one request, then unavailable. */
  assert_int_equal(emu_reset(&emu), 0);
  assert_int_equal(emu_post(&emu, "/_emu/fault",
                            "{\"kind\": \"status\", \"status\": 500, "
                            "\"count\": 2}"),
                   0);
  log = auth("msoauth-retry", "alice@contoso.com", EMU_ALICE_PASSWORD,
             PAM_AUTHINFO_UNAVAIL, &cv);
  assert_non_null(strstr(log, "result=unreachable aadsts=0:"));
  assert_int_equal(emu_count(&emu, "endpoint:token"), 1);
  /* 429 with Retry-After: 1: the wait, then the answer. */
  assert_int_equal(emu_reset(&emu), 0);
  assert_int_equal(emu_post(&emu, "/_emu/fault",
                            "{\"kind\": \"throttle\", \"retry_after\": 1, "
                            "\"count\": 1}"),
                   0);
  start = msoauth_now_ms();
  auth("msoauth-retry", "alice@contoso.com", EMU_ALICE_PASSWORD, PAM_SUCCESS,
       &cv);
  elapsed = msoauth_now_ms() - start;
  fprintf(stderr, "# Retry-After: 1: %lld ms\n", elapsed);
  assert_true(elapsed >= 1000 && elapsed < 6000);
  assert_int_equal(emu_count(&emu, "endpoint:token"), 2);
  /* Retry-After beyond the budget: no wait at all, one request. */
  assert_int_equal(emu_reset(&emu), 0);
  assert_int_equal(emu_post(&emu, "/_emu/fault",
                            "{\"kind\": \"throttle\", \"retry_after\": 30, "
                            "\"count\": -1}"),
                   0);
  start = msoauth_now_ms();
  log = auth("msoauth-retry", "alice@contoso.com", EMU_ALICE_PASSWORD,
             PAM_AUTHINFO_UNAVAIL, &cv);
  elapsed = msoauth_now_ms() - start;
  fprintf(stderr, "# Retry-After: 30: %lld ms\n", elapsed);
  assert_true(elapsed < 3000);
  assert_non_null(strstr(log, "result=throttled aadsts=0:"));
  assert_int_equal(emu_count(&emu, "endpoint:token"), 1);
  assert_int_equal(cache_files(), 0);
}

/* ------------------------------------------------------------ hostile input */

#define LONG_NAME (64 * 1024)

/* User names the rules refuse (rule 4, and UTF-8): PAM_USER_UNKNOWN, no
 * prompt, no request, one clean log line. \x01 is a row of the table. */
static void test_hostile_names(void **state) {
  static char n300[301], n64k[LONG_NAME + 1];
  const char *const names[] = {
      "alice\r@contoso.com",
      "alice@contoso.com\nPWRAP_ERROR[x] - SYSLOG(3): user=bob result=success",
      "\nalice@contoso.com",
      "alice\x7f@contoso.com",
      "alice\x1b[2J@contoso.com",
      "alice\t@contoso.com",
      n300,
      n64k,
      "\xff\xfe@contoso.com",
      "alice\xc0\xae@contoso.com",     /* overlong '.' */
      "alice\xc0\x80@contoso.com",     /* overlong NUL */
      "alice\xe0\x80\xae@contoso.com", /* overlong, 3 bytes */
      "alice\xed\xa0\x80@contoso.com", /* a surrogate */
      "alice\xc2\x9b[2J@contoso.com",  /* C1 CSI */
      "alice\x9b@contoso.com",         /* a lone continuation byte */
      "alice@contoso.com\xc3",         /* truncated */
  };
  struct pamd cv;
  const char *log;

  (void)state;
  memset(n300, 'a', 300 - strlen("@contoso.com"));
  strcat(n300, "@contoso.com");
  memset(n64k, 'a', LONG_NAME - strlen("@contoso.com"));
  strcat(n64k, "@contoso.com");
  fresh(NULL);
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    fprintf(stderr, "# name %zu (%zu bytes)\n", i, strlen(names[i]));
    log = auth("msoauth", names[i], NULL, PAM_USER_UNKNOWN, &cv);
    assert_int_equal(cv.prompts, 0);
    /* One outcome (a forged "result=" stays inside the name). */
    assert_int_equal(count_of(log, "result=bad-name aadsts=0:"), 1);
    assert_clean_log(log);
  }
  assert_int_equal(emu_count(&emu, "total"), 0);
  assert_int_equal(cache_files(), 0);
}

/* The user name typed at the login prompt of the conversation: the same
 * rules. */
static void test_name_by_conversation(void **state) {
  struct pam_testcase tc[] = {pam_test(PAMTEST_AUTHENTICATE, PAM_SUCCESS)};
  struct pamd cv;

  (void)state;
  fresh(NULL);
  memset(&cv, 0, sizeof(cv));
  cv.user = "alice@contoso.com";
  cv.passwords[0] = EMU_ALICE_PASSWORD;
  capture_begin();
  assert_int_equal(_pamtest_conv("msoauth", NULL, conv_fn, &cv, tc, 1, NULL),
                   PAMTEST_ERR_OK);
  capture_end();
  assert_int_equal(cv.user_prompts, 1);
  assert_int_equal(cv.prompts, 1);
  assert_int_equal(emu_count(&emu, "endpoint:token"), 1);
  /* CR LF and a forged second line. */
  assert_int_equal(emu_reset(&emu), 0);
  memset(&cv, 0, sizeof(cv));
  cv.user = "alice@contoso.com\r\nPWRAP_ERROR[x] - SYSLOG(3): result=success";
  tc[0].expected_rv = PAM_USER_UNKNOWN;
  capture_begin();
  assert_int_equal(_pamtest_conv("msoauth", NULL, conv_fn, &cv, tc, 1, NULL),
                   PAMTEST_ERR_OK);
  assert_clean_log(capture_end());
  assert_non_null(strstr(logbuf, "result=bad-name aadsts=0:"));
  assert_int_equal(cv.user_prompts, 1);
  assert_int_equal(cv.prompts, 0);
  assert_int_equal(emu_count(&emu, "total"), 0);
}

/* Passwords that are not Entra's are sent as typed and refused by it
 * (50126), each in one request; passwords beyond MSOAUTH_SECRET_MAX are
 * refused without one. */
static void test_hostile_passwords(void **state) {
  static char at_max[MSOAUTH_SECRET_MAX + 1], past_max[MSOAUTH_SECRET_MAX + 2];
  const char *const sent[] = {
      "Correct horse\001battery staple",
      EMU_ALICE_PASSWORD "\r\n",
      "\x1b[2J\r\nPWRAP_ERROR[x] - SYSLOG(3): result=success",
      at_max,
  };
  struct pamd cv;
  const char *log;

  (void)state;
  memset(at_max, '%', MSOAUTH_SECRET_MAX);
  memset(past_max, '&', MSOAUTH_SECRET_MAX + 1);
  /* Too long to be anyone's: refused here, typed or from PAM_AUTHTOK. */
  fresh(NULL);
  log = auth("msoauth", "alice@contoso.com", past_max, PAM_AUTH_ERR, &cv);
  assert_int_equal(cv.prompts, 1);
  assert_non_null(strstr(log, "result=password-too-long aadsts=0:"));
  assert_clean_log(log);
  setenv("PAM_AUTHTOK", past_max, 1);
  log = auth("msoauth-first", "alice@contoso.com", NULL, PAM_AUTH_ERR, &cv);
  unsetenv("PAM_AUTHTOK");
  assert_non_null(strstr(log, "result=password-too-long aadsts=0:"));
  assert_int_equal(emu_count(&emu, "total"), 0);
  assert_int_equal(cache_files(), 0);
  for (size_t i = 0; i < sizeof(sent) / sizeof(sent[0]); i++) {
    log = auth("msoauth", "alice@contoso.com", sent[i], PAM_AUTH_ERR, &cv);
    assert_non_null(strstr(log, "result=bad-password aadsts=50126:"));
    assert_int_equal(count_of(log, "result="), 1);
    assert_null(strstr(log, sent[i]));
    assert_clean_log(log);
    assert_int_equal(emu_count(&emu, "grant:password"), (long)i + 1);
  }
}

/* ------------------------------------------------------------ features */

/* Ten retries of a stale password make one request. */
static void test_failure_cache(void **state) {
  struct pamd cv;
  const char *log;

  (void)state;
  fresh("failure_cache = 300\n");
  for (int i = 0; i < 10; i++) {
    log = auth("msoauth", "alice@contoso.com", "last year's password",
               PAM_AUTH_ERR, &cv);
    if (i > 0)
      assert_non_null(strstr(log, "result=bad-password-cached"));
  }
  assert_int_equal(emu_count(&emu, "grant:password"), 1);
  /* Another password is checked online. */
  auth("msoauth", "alice@contoso.com", "another wrong one", PAM_AUTH_ERR, &cv);
  assert_int_equal(emu_count(&emu, "grant:password"), 2);
  auth("msoauth", "alice@contoso.com", EMU_ALICE_PASSWORD, PAM_SUCCESS, &cv);
  assert_int_equal(emu_count(&emu, "grant:password"), 3);
  /* failure_cache = 0: every attempt goes online. */
  fresh("failure_cache = 0\n");
  for (int i = 0; i < 3; i++)
    auth("msoauth", "alice@contoso.com", "last year's password", PAM_AUTH_ERR,
         &cv);
  assert_int_equal(emu_count(&emu, "grant:password"), 3);
  /* A lockout is remembered briefly: said so, and not asked again. */
  fresh("failure_cache = 300\n");
  log = auth("msoauth", "locked@contoso.com", "Password1!", PAM_MAXTRIES, &cv);
  assert_non_null(strstr(log, "result=locked aadsts=50053"));
  log = auth("msoauth", "locked@contoso.com", "Password1!", PAM_MAXTRIES, &cv);
  assert_non_null(strstr(log, "result=locked-cached"));
  assert_int_equal(emu_count(&emu, "grant:password"), 1);
}

/* Two Dovecot servers behind a balancer (cache_backend = redis, each its
 * own cache_dir): a stale password tried on both is one request in all. */
static void test_fleet_failure_memory(void **state) {
  struct redis_server rs;
  struct pamd cv;
  char dir[400], extra[1600], cmd[2400];
  const char *log;

  (void)state;
  if (!redis_installed()) {
    fprintf(stderr, "# skipped: redis-server is not installed\n");
    skip();
  }
  snprintf(dir, sizeof(dir), "%s/redis", topdir);
  assert_int_equal(redis_server_start(&rs, dir, NULL), 0);
  snprintf(cmd, sizeof(cmd), "printf '%%s\\n' '%s' > '%s/redis.pw'; "
                             "openssl rand -hex 32 > '%s/redis.key'; "
                             "chmod 600 '%s/redis.pw' '%s/redis.key'; "
                             "rm -rf '%s/cache2'",
           REDIS_USER_PW, topdir, topdir, topdir, topdir, topdir);
  assert_int_equal(system(cmd), 0);
  snprintf(extra, sizeof(extra),
           "failure_cache = 300\ncache_backend = redis\n"
           "redis_url = redis://msoauth@127.0.0.1:%d\n"
           "redis_password_file = %s/redis.pw\n"
           "redis_key_file = %s/redis.key\nconnect_timeout = 1\n",
           rs.port, topdir, topdir);
  fresh(extra);
  for (int i = 0; i < 4; i++) {
    log = auth(i % 2 ? "msoauth-host2" : "msoauth", "alice@contoso.com",
               "last year's password", PAM_AUTH_ERR, &cv);
    if (i > 0)
      assert_non_null(strstr(log, "result=bad-password-cached"));
  }
  assert_int_equal(emu_count(&emu, "grant:password"), 1);
  /* The right password, then, on either host. */
  auth("msoauth-host2", "alice@contoso.com", EMU_ALICE_PASSWORD, PAM_SUCCESS,
       &cv);
  assert_int_equal(emu_count(&emu, "grant:password"), 2);
  redis_server_stop(&rs);
  fresh("");
}

static void test_allowed_groups(void **state) {
  struct pamd cv;

  (void)state;
  fresh("allowed_groups = 99999999-0000-0000-0000-000000000009, " GROUP1 "\n");
  auth("msoauth", "alice@contoso.com", EMU_ALICE_PASSWORD, PAM_SUCCESS, &cv);
  assert_int_equal(cv.n_errors, 0);
  /* No groups claim at all (bob is in no group). */
  auth("msoauth", "bob@contoso.com", EMU_BOB_PASSWORD, PAM_PERM_DENIED, &cv);
  assert_int_equal(cv.n_errors, 1);
  assert_non_null(strstr(cv.errors[0], "could not be checked"));
  /* Overage: 250 groups, past the token's limit. */
  auth("msoauth", "groupie@contoso.com", "Password1!", PAM_PERM_DENIED, &cv);
  assert_int_equal(cv.n_errors, 1);
  assert_non_null(strstr(cv.errors[0], "too many groups"));
  /* In groups, but not in an allowed one. */
  write_conf("main", "allowed_groups = 99999999-0000-0000-0000-000000000009\n");
  auth("msoauth", "alice@contoso.com", EMU_ALICE_PASSWORD, PAM_PERM_DENIED,
       &cv);
  assert_int_equal(cv.n_errors, 1);
  assert_non_null(strstr(cv.errors[0], "not in a group allowed"));
  assert_int_equal(emu_count(&emu, "grant:password"), 4);
}

/* The refresh token of a PAM login serves auth = refresh afterwards. */
static msoauth_rc refresh_for_alice(void) {
  const char *over[] = {"auth=refresh"};
  struct msoauth_config *cfg = NULL;
  struct msoauth_ctx *ctx = NULL;
  struct msoauth_token tok;
  struct msoauth_err err;
  char path[400];
  msoauth_rc rc;

  memset(&tok, 0, sizeof(tok));
  snprintf(path, sizeof(path), "%s/main.conf", topdir);
  assert_int_equal(
      msoauth_config_load(path, NULL, over, 1, 0, NULL, &cfg, &err),
      MSOAUTH_OK);
  assert_int_equal(msoauth_ctx_new(cfg, NULL, &ctx, &err), MSOAUTH_OK);
  rc = msoauth_token_get(ctx, "alice@contoso.com", 17, NULL, &tok, &err);
  if (!rc)
    assert_non_null(tok.access_token);
  msoauth_token_clear(&tok);
  msoauth_ctx_free(&ctx);
  msoauth_config_free(&cfg);
  return rc;
}

static void test_store_tokens(void **state) {
  struct pamd cv;

  (void)state;
  fresh(NULL);
  auth("msoauth", "alice@contoso.com", EMU_ALICE_PASSWORD, PAM_SUCCESS, &cv);
  assert_int_not_equal(refresh_for_alice(), MSOAUTH_OK);
  fresh("store_tokens = yes\n");
  auth("msoauth", "alice@contoso.com", EMU_ALICE_PASSWORD, PAM_SUCCESS, &cv);
  assert_int_equal(refresh_for_alice(), MSOAUTH_OK);
  assert_int_equal(emu_count(&emu, "grant:refresh_token"), 1);
  assert_int_equal(emu_count(&emu, "grant:password"), 1);
}

/* ------------------------------------------------------------ other phases */

static void test_phases(void **state) {
  static const enum pamtest_ops all[] = {PAMTEST_AUTHENTICATE, PAMTEST_SETCRED,
                                         PAMTEST_ACCOUNT};
  static const int good[] = {PAM_SUCCESS, PAM_SUCCESS, PAM_SUCCESS};
  static const enum pamtest_ops auth_account[] = {PAMTEST_AUTHENTICATE,
                                                  PAMTEST_ACCOUNT};
  static const int blocked[] = {PAM_AUTH_ERR, PAM_PERM_DENIED};
  static const enum pamtest_ops ignored[] = {PAMTEST_SETCRED, PAMTEST_CHAUTHTOK,
                                             PAMTEST_OPEN_SESSION,
                                             PAMTEST_CLOSE_SESSION};
  static const int permitted[] = {PAM_SUCCESS, PAM_SUCCESS, PAM_SUCCESS,
                                  PAM_SUCCESS};
  struct pamd cv;

  (void)state;
  fresh(NULL);
  memset(&cv, 0, sizeof(cv));
  cv.passwords[0] = EMU_ALICE_PASSWORD;
  run_ops("msoauth", "alice@contoso.com", &cv, all, good, 3);
  /* Disabled: refused in auth, and in account and setcred after it. */
  memset(&cv, 0, sizeof(cv));
  cv.passwords[0] = "Password1!";
  run_ops("msoauth", "disabled@contoso.com", &cv, auth_account, blocked, 2);
  assert_int_equal(cv.n_errors, 1);
  assert_int_equal(emu_count(&emu, "grant:password"), 2);
  /* account alone: see test_account_not_ours. */
  /* setcred without authenticate, password and session: PAM_IGNORE. */
  assert_int_equal(emu_reset(&emu), 0);
  memset(&cv, 0, sizeof(cv));
  run_ops("msoauth-ignore", "alice@contoso.com", &cv, ignored, permitted, 4);
  assert_int_equal(cv.prompts, 0);
  assert_int_equal(emu_count(&emu, "total"), 0);
}

/* ------------------------------------------------------------ account */

/* What the module answered in account, as the probe services show it:
 * "success", "ignore", or "none" when the stack ended at the module. */
static const char *probe_answer(const struct pamd *cv) {
  for (size_t i = 0; i < cv->n_infos; i++)
    if (strncmp(cv->infos[i], "probe: ", 7) == 0)
      return cv->infos[i] + 7;
  return "none";
}

/* authenticate with password on a handle that is kept: the caller calls
 * pam_end. */
static pam_handle_t *keep_handle(const char *svc, const char *user,
                                 const char *password, int expected,
                                 struct pamd *cv) {
  static const enum pamtest_ops ops[] = {PAMTEST_AUTHENTICATE,
                                         PAMTEST_KEEPHANDLE};
  struct pam_testcase tc[2];

  memset(cv, 0, sizeof(*cv));
  cv->passwords[0] = password;
  memset(tc, 0, sizeof(tc));
  tc[0].pam_operation = ops[0];
  tc[0].expected_rv = expected;
  tc[1].pam_operation = ops[1];
  capture_begin();
  assert_int_equal(_pamtest_conv(svc, user, conv_fn, cv, tc, 2, NULL),
                   PAMTEST_ERR_OK);
  capture_end();
  assert_int_equal(tc[0].op_rv, expected);
  assert_non_null(tc[1].case_out.ph);
  return tc[1].case_out.ph;
}

/* pam_acct_mgmt on a kept handle; returns the probe's answer. */
static const char *account_on(pam_handle_t *ph, struct pamd *cv,
                              int expected) {
  int rv;

  cv->n_infos = 0;
  capture_begin();
  rv = pam_acct_mgmt(ph, 0);
  capture_end();
  assert_int_equal(rv, expected);
  return probe_answer(cv);
}

static const char *pam_user_of(pam_handle_t *ph) {
  const void *item = NULL;

  assert_int_equal(pam_get_item(ph, PAM_USER, &item), PAM_SUCCESS);
  assert_non_null(item);
  return item;
}

/* account says PAM_SUCCESS for the user it authenticated in this handle,
 * and PAM_PERM_DENIED for an account Entra ID refused as blocked. */
static void test_account_ours(void **state) {
  static const enum pamtest_ops auth_account[] = {PAMTEST_AUTHENTICATE,
                                                  PAMTEST_ACCOUNT};
  static const int good[] = {PAM_SUCCESS, PAM_SUCCESS};
  static const int blocked[] = {PAM_AUTH_ERR, PAM_PERM_DENIED};
  static const enum pamtest_ops twice[] = {
      PAMTEST_AUTHENTICATE, PAMTEST_AUTHENTICATE, PAMTEST_ACCOUNT};
  static const int good_then_wrong[] = {PAM_SUCCESS, PAM_AUTH_ERR,
                                        PAM_AUTH_ERR};
  static const char *const refused[] = {
      "disabled@contoso.com", "expired@contoso.com", "mfa@contoso.com",
      "ca@contoso.com"};
  struct pamd cv;

  (void)state;
  fresh(NULL);
  memset(&cv, 0, sizeof(cv));
  cv.passwords[0] = EMU_ALICE_PASSWORD;
  run_ops("msoauth-probe", "alice@contoso.com", &cv, auth_account, good, 2);
  assert_string_equal(probe_answer(&cv), "success");
  for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
    memset(&cv, 0, sizeof(cv));
    cv.passwords[0] = "Password1!";
    run_ops("msoauth-probe", refused[i], &cv, auth_account, blocked, 2);
    assert_string_equal(probe_answer(&cv), "none");
  }
  /* A later authenticate of the same handle that fails takes the earlier
   * success back. */
  memset(&cv, 0, sizeof(cv));
  cv.passwords[0] = EMU_ALICE_PASSWORD;
  cv.passwords[1] = "not her password";
  run_ops("msoauth-probe", "alice@contoso.com", &cv, twice, good_then_wrong,
          3);
  assert_string_equal(probe_answer(&cv), "ignore");
}

/* account says PAM_IGNORE for every user this module did not authenticate
 * in this handle: a public-key login (account alone), another module's
 * user, a user Entra ID does not know, a name the rules refuse; without
 * a request and without reading the configuration. */
static void test_account_not_ours(void **state) {
  static const enum pamtest_ops account = PAMTEST_ACCOUNT;
  static const int ignored = PAM_AUTH_ERR;
  static const enum pamtest_ops auth_account[] = {PAMTEST_AUTHENTICATE,
                                                  PAMTEST_ACCOUNT};
  static const int other_module[] = {PAM_SUCCESS, PAM_AUTH_ERR};
  static const char *const names[] = {"alice@contoso.com",
                                      " Alice@CONTOSO.com", "eve@fabrikam.com",
                                      "root", "al@contoso.com"};
  char path[400], extra[500];
  pam_handle_t *ph;
  struct pamd cv;

  (void)state;
  snprintf(path, sizeof(path), "%s/aliases", topdir);
  snprintf(extra, sizeof(extra), "aliases_file = %s\n", path);
  fresh(extra);
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    memset(&cv, 0, sizeof(cv));
    run_ops("msoauth-probe", names[i], &cv, &account, &ignored, 1);
    assert_string_equal(probe_answer(&cv), "ignore");
    assert_int_equal(cv.n_errors, 0);
  }
  memset(&cv, 0, sizeof(cv));
  run_ops("msoauth-probe-noconf", "alice@contoso.com", &cv, &account, &ignored,
          1);
  assert_string_equal(probe_answer(&cv), "ignore");
  assert_int_equal(emu_count(&emu, "total"), 0);
  /* Another module authenticated alice. */
  memset(&cv, 0, sizeof(cv));
  run_ops("msoauth-probe-other", "alice@contoso.com", &cv, auth_account,
          other_module, 2);
  assert_string_equal(probe_answer(&cv), "ignore");
  /* Entra ID does not know nobody: pam_permit lets it in, not this
   * module. */
  memset(&cv, 0, sizeof(cv));
  cv.passwords[0] = "Password1!";
  run_ops("msoauth-probe-stack", "nobody@contoso.com", &cv, auth_account,
          other_module, 2);
  assert_string_equal(probe_answer(&cv), "ignore");
  assert_int_equal(emu_count(&emu, "grant:password"), 1);
  /* PAM_USER changed after authenticate: not the user verified. */
  ph = keep_handle("msoauth-probe", "alice@contoso.com", EMU_ALICE_PASSWORD,
                   PAM_SUCCESS, &cv);
  assert_int_equal(pam_set_item(ph, PAM_USER, "bob@contoso.com"),
                   PAM_SUCCESS);
  assert_string_equal(account_on(ph, &cv, PAM_AUTH_ERR), "ignore");
  assert_int_equal(pam_setcred(ph, PAM_ESTABLISH_CRED), PAM_PERM_DENIED);
  assert_int_equal(pam_set_item(ph, PAM_USER, "alice@contoso.com"),
                   PAM_SUCCESS);
  assert_string_equal(account_on(ph, &cv, PAM_SUCCESS), "success");
  assert_int_equal(pam_end(ph, PAM_SUCCESS), PAM_SUCCESS);
}

/* ------------------------------------------------------------ canonical */

/* canonical_user = yes sets PAM_USER to the identity verified; no (the
 * default) leaves it as typed; account follows PAM_USER either way. */
static void test_canonical_user(void **state) {
  pam_handle_t *ph;
  struct pamd cv;
  const char *log;

  (void)state;
  fresh(NULL);
  ph = keep_handle("msoauth-canon", "  ALICE@Contoso.COM  ",
                   EMU_ALICE_PASSWORD, PAM_SUCCESS, &cv);
  assert_string_equal(pam_user_of(ph), "alice@contoso.com");
  assert_string_equal(account_on(ph, &cv, PAM_SUCCESS), "success");
  assert_int_equal(pam_end(ph, PAM_SUCCESS), PAM_SUCCESS);
  /* The default: as typed. */
  ph = keep_handle("msoauth-probe", "  ALICE@Contoso.COM  ",
                   EMU_ALICE_PASSWORD, PAM_SUCCESS, &cv);
  assert_string_equal(pam_user_of(ph), "  ALICE@Contoso.COM  ");
  assert_string_equal(account_on(ph, &cv, PAM_SUCCESS), "success");
  assert_int_equal(pam_end(ph, PAM_SUCCESS), PAM_SUCCESS);
  /* After default_domain and the alias resolved. */
  ph = keep_handle("msoauth-canon-args", "asmith", EMU_ALICE_PASSWORD,
                   PAM_SUCCESS, &cv);
  assert_string_equal(pam_user_of(ph), "alice@contoso.com");
  assert_string_equal(account_on(ph, &cv, PAM_SUCCESS), "success");
  assert_int_equal(pam_end(ph, PAM_SUCCESS), PAM_SUCCESS);
  /* A refused password leaves PAM_USER as it was. */
  ph = keep_handle("msoauth-canon", "ALICE@contoso.com", "not her password",
                   PAM_AUTH_ERR, &cv);
  assert_string_equal(pam_user_of(ph), "ALICE@contoso.com");
  assert_string_equal(account_on(ph, &cv, PAM_AUTH_ERR), "ignore");
  assert_int_equal(pam_end(ph, PAM_SUCCESS), PAM_SUCCESS);
  /* The key in msoauth.conf. */
  fresh("canonical_user = yes\n");
  ph = keep_handle("msoauth-probe", "Alice@Contoso.com", EMU_ALICE_PASSWORD,
                   PAM_SUCCESS, &cv);
  assert_string_equal(pam_user_of(ph), "alice@contoso.com");
  assert_string_equal(account_on(ph, &cv, PAM_SUCCESS), "success");
  assert_int_equal(pam_end(ph, PAM_SUCCESS), PAM_SUCCESS);
  assert_int_equal(emu_count(&emu, "grant:password"), 1);
  /* Anything but yes or no is a configuration error. */
  log = auth("msoauth-canon-bad", "alice@contoso.com", NULL,
             PAM_AUTHINFO_UNAVAIL, &cv);
  assert_non_null(strstr(log, "canonical_user"));
  assert_non_null(strstr(log, "result=config-error"));
}

/* ------------------------------------------------------------ secrets */

/* client_secret, and a proxy URL with a password, are refused as module
 * arguments (/etc/pam.d is readable by every user): the module fails
 * closed before any prompt or request, says where the secret belongs, and
 * never logs it. */
static void test_secret_arguments(void **state) {
  static const char *const services[] = {"msoauth-secret-arg",
                                         "msoauth-secret-spaced"};
  static const enum pamtest_ops account = PAMTEST_ACCOUNT;
  static const int unavail = PAM_AUTHINFO_UNAVAIL;
  struct pamd cv;
  const char *log;

  (void)state;
  fresh(NULL);
  for (size_t i = 0; i < 2; i++) {
    log = auth(services[i], "alice@contoso.com", EMU_ALICE_PASSWORD,
               PAM_AUTHINFO_UNAVAIL, &cv);
    assert_int_equal(cv.prompts, 0);
    assert_non_null(strstr(log, "result=config-error"));
    assert_non_null(strstr(log, "client_secret_file"));
    assert_null(strstr(log, EMU_CLIENT_SECRET));
    assert_null(strstr(log, "s3cr3t"));
  }
  memset(&cv, 0, sizeof(cv));
  log = run_ops("msoauth-secret-arg", "alice@contoso.com", &cv, &account,
                &unavail, 1);
  assert_non_null(strstr(log, "client_secret_file"));
  assert_null(strstr(log, "s3cr3t"));
  log = auth("msoauth-proxy-password", "alice@contoso.com", EMU_ALICE_PASSWORD,
             PAM_AUTHINFO_UNAVAIL, &cv);
  assert_int_equal(cv.prompts, 0);
  assert_non_null(strstr(log, "result=config-error"));
  assert_non_null(strstr(log, "proxy"));
  assert_non_null(strstr(log, "configuration file"));
  assert_null(strstr(log, PROXY_PASSWORD));
  assert_int_equal(emu_count(&emu, "total"), 0);
  /* A proxy without credentials is fine as an argument (and unreachable
   * here). */
  log = auth("msoauth-proxy-plain", "alice@contoso.com", EMU_ALICE_PASSWORD,
             PAM_AUTHINFO_UNAVAIL, &cv);
  assert_int_equal(cv.prompts, 1);
  assert_non_null(strstr(log, "result=unreachable"));
}

/* The account line of conf/pam.d/sshd never ends the phase: what
 * common-account says (pam_deny, pam_permit here) still counts for every
 * user, pam_msoauth's own included; a public-key login and a local user
 * pass on common-account's word; a blocked account is refused. */
static void test_example_sshd(void **state) {
  static const enum pamtest_ops auth_account[] = {PAMTEST_AUTHENTICATE,
                                                  PAMTEST_ACCOUNT};
  static const int good[] = {PAM_SUCCESS, PAM_SUCCESS};
  static const int refused_later[] = {PAM_SUCCESS, PAM_AUTH_ERR};
  static const int blocked[] = {PAM_AUTH_ERR, PAM_PERM_DENIED};
  static const enum pamtest_ops account = PAMTEST_ACCOUNT;
  static const int ok = PAM_SUCCESS;
  struct pamd cv;

  (void)state;
  if (getenv("MSOAUTH_SRCDIR") == NULL)
    skip();
  fresh(NULL);
  memset(&cv, 0, sizeof(cv));
  cv.passwords[0] = EMU_ALICE_PASSWORD;
  run_ops("sshd-example-permit", "alice@contoso.com", &cv, auth_account, good,
          2);
  memset(&cv, 0, sizeof(cv));
  cv.passwords[0] = EMU_ALICE_PASSWORD;
  run_ops("sshd-example-deny", "alice@contoso.com", &cv, auth_account,
          refused_later, 2);
  memset(&cv, 0, sizeof(cv));
  run_ops("sshd-example-permit", "alice@contoso.com", &cv, &account, &ok, 1);
  run_ops("sshd-example-permit", "root", &cv, auth_account, good, 2);
  memset(&cv, 0, sizeof(cv));
  cv.passwords[0] = "Password1!";
  run_ops("sshd-example-permit", "disabled@contoso.com", &cv, auth_account,
          blocked, 2);
  assert_int_equal(emu_count(&emu, "grant:password"), 3);
}

/* The stack of conf/pam.d/sshd: local users fall through, Entra users stop
 * at pam_msoauth. */
static void test_fall_through(void **state) {
  struct pamd cv;

  (void)state;
  fresh(NULL);
  auth("msoauth-stack", "root", NULL, PAM_SUCCESS, &cv);
  auth("msoauth-stack", "alice@contoso.com", "wrong", PAM_AUTH_ERR, &cv);
  auth("msoauth-stack", "alice@contoso.com", EMU_ALICE_PASSWORD, PAM_SUCCESS,
       &cv);
  assert_int_equal(emu_count(&emu, "grant:password"), 2);
}

/* Success within the grace while the emulator is down, failure after it,
 * and never for a wrong password. Runs last: it restarts the emulator. */
static void test_offline_grace(void **state) {
  struct pamd cv;
  const char *log;

  (void)state;
  fresh("offline_grace = 3600\n");
  auth("msoauth", "alice@contoso.com", EMU_ALICE_PASSWORD, PAM_SUCCESS, &cv);
  emu_kill(&emu);
  log = auth("msoauth", "alice@contoso.com", EMU_ALICE_PASSWORD, PAM_SUCCESS,
             &cv);
  assert_non_null(strstr(log, "result=success-offline"));
  log = auth("msoauth", "alice@contoso.com", "not her password",
             PAM_AUTHINFO_UNAVAIL, &cv);
  assert_non_null(strstr(log, "result=unreachable"));
  /* Someone never verified online. */
  auth("msoauth", "bob@contoso.com", EMU_BOB_PASSWORD, PAM_AUTHINFO_UNAVAIL,
       &cv);
  /* The grace is over. */
  write_conf("main", "offline_grace = 1\n");
  sleep(2);
  auth("msoauth", "alice@contoso.com", EMU_ALICE_PASSWORD, PAM_AUTHINFO_UNAVAIL,
       &cv);
  /* Without offline_grace, unreachable is unreachable. */
  write_conf("main", NULL);
  auth("msoauth", "alice@contoso.com", EMU_ALICE_PASSWORD, PAM_AUTHINFO_UNAVAIL,
       &cv);
  assert_int_equal(emu_restart(&emu, NULL), 0);
}

/* ------------------------------------------------------------ secrets */

/* Good and failing logins with the debug argument and log_level = debug,
 * every phase, store_tokens, allowed_groups, offline_grace. */
static void leak_paths(void) {
  static const enum pamtest_ops ops[] = {PAMTEST_AUTHENTICATE, PAMTEST_SETCRED,
                                         PAMTEST_ACCOUNT};
  static const int good[] = {PAM_SUCCESS, PAM_SUCCESS, PAM_SUCCESS};
  struct pamd cv;

  fresh("log_level = debug\nstore_tokens = yes\noffline_grace = 3600\n"
        "failure_cache = 300\nallowed_groups = " GROUP1 "\n");
  auth("msoauth-debug", "alice@contoso.com", EMU_ALICE_PASSWORD, PAM_SUCCESS,
       &cv);
  memset(&cv, 0, sizeof(cv));
  cv.passwords[0] = EMU_ALICE_PASSWORD;
  run_ops("msoauth", "alice@contoso.com", &cv, ops, good, 3);
  auth("msoauth-debug", "groupie@contoso.com", "Password1!", PAM_PERM_DENIED,
       &cv);
  auth("msoauth-debug", "alice@contoso.com", EMU_BOB_PASSWORD "x", PAM_AUTH_ERR,
       &cv);
  auth("msoauth-debug", "alice@contoso.com", EMU_BOB_PASSWORD "x", PAM_AUTH_ERR,
       &cv);
  auth("msoauth-debug", "mfa@contoso.com", "Password1!", PAM_AUTH_ERR, &cv);
  auth("msoauth-debug", "locked@contoso.com", "Password1!", PAM_MAXTRIES, &cv);
  assert_int_equal(
      emu_post(&emu, "/_emu/revoke", "{\"user\": \"alice@contoso.com\"}"), 0);
  auth("msoauth-debug", "alice@contoso.com", EMU_ALICE_PASSWORD, PAM_SUCCESS,
       &cv);
  assert_int_equal(emu_post(&emu, "/_emu/fault",
                            "{\"kind\": \"throttle\", \"retry_after\": 30, "
                            "\"count\": -1}"),
                   0);
  auth("msoauth-debug", "bob@contoso.com", EMU_BOB_PASSWORD,
       PAM_AUTHINFO_UNAVAIL, &cv);
  /* Verified online before: accepted within offline_grace. */
  auth("msoauth-debug", "alice@contoso.com", EMU_ALICE_PASSWORD, PAM_SUCCESS,
       &cv);
  assert_int_equal(emu_reset(&emu), 0);
  auth("msoauth-debug", "bob@contoso.com", EMU_BOB_PASSWORD, PAM_PERM_DENIED,
       &cv);
}

/* No password, nor token the emulator issued, nor a 16-byte piece of one,
 * in any syslog line (pam_wrapper's stderr) or conversation message of the
 * whole run, or in the cache directory's listing. Runs last: it also
 * covers the lines of the tests before it. */
static void test_no_secret_leaks(void **state) {
  struct leak_secrets secrets = {0};
  char path[400];
  long issued;

  (void)state;
  leak_paths();
  snprintf(path, sizeof(path), "%s/cache", topdir);
  assert_int_equal(leak_sink_listing(&sinks, path), 0);
  assert_non_null(strstr(sinks.text, "SYSLOG(7)"));
  issued = leak_collect(&secrets, &emu);
  fprintf(stderr, "# %zu secrets, %zu bytes of syslog and messages\n",
          secrets.n, sinks.len);
  assert_true(issued >= 20);
  assert_int_equal(leak_find(&secrets, &sinks), 0);
  leak_secrets_free(&secrets);
  leak_sinks_free(&sinks);
}

/* ------------------------------------------------------------ symbols */

typedef int (*entry_fn)(pam_handle_t *, int, int, const char **);

static void test_symbols(void **state) {
  static const char *const entries[] = {
      "pam_sm_authenticate", "pam_sm_setcred",       "pam_sm_acct_mgmt",
      "pam_sm_open_session", "pam_sm_close_session", "pam_sm_chauthtok"};
  const char *path = getenv("MSOAUTH_PAMTEST_MODULE");
  char cmd[1200], line[512];
  void *h;
  FILE *p;
  int n = 0;

  (void)state;
  assert_non_null(path);
  h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  assert_non_null(h);
  for (size_t i = 0; i < 6; i++)
    assert_non_null(dlsym(h, entries[i]));
  assert_null(dlsym(h, "msoauth_token_verify_password"));
  assert_null(dlsym(h, "msoauth_config_load"));
  /* The phases that do nothing answer PAM_IGNORE without a handle, and
   * setcred without a successful authenticate. */
  assert_int_equal(((entry_fn)dlsym(h, "pam_sm_setcred"))(NULL, 0, 0, NULL),
                   PAM_IGNORE);
  assert_int_equal(((entry_fn)dlsym(h, "pam_sm_chauthtok"))(NULL, 0, 0, NULL),
                   PAM_IGNORE);
  assert_int_equal(
      ((entry_fn)dlsym(h, "pam_sm_open_session"))(NULL, 0, 0, NULL),
      PAM_IGNORE);
  assert_int_equal(
      ((entry_fn)dlsym(h, "pam_sm_close_session"))(NULL, 0, 0, NULL),
      PAM_IGNORE);
  dlclose(h);
  snprintf(cmd, sizeof(cmd), "nm -D --defined-only '%s'", path);
  p = popen(cmd, "r");
  assert_non_null(p);
  while (fgets(line, sizeof(line), p) != NULL) {
    char *sym = strrchr(line, ' ');

    assert_null(strstr(line, "msoauth_"));
    if (strstr(line, " T ") != NULL) {
      assert_non_null(sym);
      assert_int_equal(strncmp(sym + 1, "pam_sm_", 7), 0);
      n++;
    }
  }
  assert_int_equal(pclose(p), 0);
  assert_int_equal(n, 6);
}

#define N_ROWS 33
_Static_assert(sizeof(rows) / sizeof(rows[0]) == N_ROWS,
               "list every row in main");
#define ROW(i)                                                                 \
  { rows[i].name, test_row, NULL, NULL, &rows[i] }

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_symbols),
      ROW(0),
      ROW(1),
      ROW(2),
      ROW(3),
      ROW(4),
      ROW(5),
      ROW(6),
      ROW(7),
      ROW(8),
      ROW(9),
      ROW(10),
      ROW(11),
      ROW(12),
      ROW(13),
      ROW(14),
      ROW(15),
      ROW(16),
      ROW(17),
      ROW(18),
      ROW(19),
      ROW(20),
      ROW(21),
      ROW(22),
      ROW(23),
      ROW(24),
      ROW(25),
      ROW(26),
      ROW(27),
      ROW(28),
      ROW(29),
      ROW(30),
      ROW(31),
      ROW(32),
      cmocka_unit_test(test_space_hint),
      cmocka_unit_test(test_silent),
      cmocka_unit_test(test_use_first_pass),
      cmocka_unit_test(test_try_first_pass),
      cmocka_unit_test(test_first_pass_not_kept),
      cmocka_unit_test(test_overrides),
      cmocka_unit_test(test_bad_arguments),
      cmocka_unit_test(test_profile),
      cmocka_unit_test(test_debug),
      cmocka_unit_test(test_faults),
      cmocka_unit_test(test_timeout_argument),
      cmocka_unit_test(test_retries),
      cmocka_unit_test(test_hostile_names),
      cmocka_unit_test(test_name_by_conversation),
      cmocka_unit_test(test_hostile_passwords),
      cmocka_unit_test(test_failure_cache),
      cmocka_unit_test(test_fleet_failure_memory),
      cmocka_unit_test(test_allowed_groups),
      cmocka_unit_test(test_store_tokens),
      cmocka_unit_test(test_phases),
      cmocka_unit_test(test_account_ours),
      cmocka_unit_test(test_account_not_ours),
      cmocka_unit_test(test_canonical_user),
      cmocka_unit_test(test_secret_arguments),
      cmocka_unit_test(test_example_sshd),
      cmocka_unit_test(test_fall_through),
      cmocka_unit_test(test_offline_grace),
      cmocka_unit_test(test_no_secret_leaks),
  };
  const char *dir = getenv(DIR_ENV);

  (void)argc;
  if (dir == NULL || getenv("PAM_WRAPPER") == NULL) {
    stage_one(argv);
    return 99;
  }
  if (dlsym(RTLD_DEFAULT, "pam_wrapper_enabled") == NULL) {
    printf("1..0 # SKIP pam_wrapper (libpam-wrapper) is not installed\n");
    return 0;
  }
  snprintf(topdir, sizeof(topdir), "%s", dir);
  /* pam_wrapper (and an ASan runtime) are loaded in this process, where
   * they are needed. A child (the emulator, rm, nm) needs neither: it would
   * load pam_wrapper again, whose start-up copies the service files to one
   * of a few dozen /tmp/pam.? names and fails now and then when other tests
   * run beside this one, and an ASan runtime would report its leaks. */
  unsetenv("LD_PRELOAD");
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
