#include "config_build.h"

/*
 * test_sasl.c - the plugin libxoauth2.so, loaded by the real libsasl2 from
 * the build tree, signing in over IMAP, POP3 and SMTP submission to a real
 * Dovecot (tests/sasl/standin.py) whose oauth2 passdb asks the Entra ID
 * emulator whether a token opens a mailbox (Exchange's rules).
 *
 * The client here is a small libsasl2 application: it registers
 * SASL_CB_GETOPT to point the plugin at each test's msoauth.conf (imtest,
 * pop3test and smtptest pass no options: tests/sasl/clients.sh drives them
 * with a test build of the plugin). TEST_SASL_VERBOSE=1 shows the SASL log
 * and the server's lines; TEST_SASL_KEEP=1 keeps the state directory (the
 * emulator's, with standin/dovecot.log) for reading.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sasl/sasl.h>
#include <sasl/saslutil.h>

#include "config.h"
#include "emu.h"
#include "leak.h"
#include "sasl_client.h"
#include "token.h"

#define SVC_PASSWORD "Service-Account-Pw1"
#define PLAIN_PASSWORD "plain-password"

enum proto { IMAP = 0, POP3 = 1, SMTP = 2 };
static const char *const proto_names[] = {"imap", "pop3", "smtp"};

/* The test's world: one emulator, one stand-in, the plugin directory. */
static struct emu emu;
static char standin_dir[300];
static pid_t standin_pid;
static int ports[3];
static char plugin_dir[1024];

/* What the SASL callbacks hand out for the current login: saslc
 * (sasl_client.h). */
static char last_log[2048];
/* Every SASL log line and error detail of the whole run, for
 * test_no_secret_leaks. */
static struct leak_sinks sinks;
static int log_ctl; /* log messages with a control character, since login() */

/* ------------------------------------------------------------ stand-in */

static const char *env_or(const char *name, const char *dflt) {
  const char *v = getenv(name);

  return v != NULL && *v != '\0' ? v : dflt;
}

static int read_ports(void) {
  char path[320], buf[256];
  FILE *f;
  size_t n;

  snprintf(path, sizeof(path), "%s/ports", standin_dir);
  f = fopen(path, "r");
  if (f == NULL)
    return -1;
  n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[n] = '\0';
  for (int i = 0; i < 3; i++) {
    const char *key = i == IMAP ? "imap=" : i == POP3 ? "pop3=" : "submission=";
    const char *p = strstr(buf, key);
    char *end;

    /* "submission=" also ends "submission_direct=": take the exact key. */
    while (p != NULL && p != buf && p[-1] != ' ')
      p = strstr(p + 1, key);
    if (p == NULL)
      return -1;
    ports[i] = (int)strtol(p + strlen(key), &end, 10);
  }
  return 0;
}

static int standin_start(void) {
  char ready[320], script[512];
  const char *python = env_or("PYTHON3", "/usr/bin/python3");

  snprintf(standin_dir, sizeof(standin_dir), "%s/standin", emu.dir);
  snprintf(script, sizeof(script), "%s/tests/sasl/standin.py",
           env_or("MSOAUTH_SRCDIR", "."));
  snprintf(ready, sizeof(ready), "%s/ready", standin_dir);
  standin_pid = fork();
  if (standin_pid < 0)
    return -1;
  if (standin_pid == 0) {
    execl(python, python, script, "--dir", standin_dir, "--emu-dir", emu.dir,
          (char *)NULL);
    _exit(127);
  }
  for (int i = 0; i < 300; i++) {
    struct timespec ts = {0, 100000000L};
    int status;

    if (access(ready, F_OK) == 0)
      return read_ports();
    if (waitpid(standin_pid, &status, WNOHANG) == standin_pid) {
      standin_pid = 0;
      return -1;
    }
    nanosleep(&ts, NULL);
  }
  return -1;
}

static void standin_stop(void) {
  if (standin_pid > 0) {
    kill(standin_pid, SIGTERM);
    waitpid(standin_pid, NULL, 0);
    standin_pid = 0;
  }
}

/* ------------------------------------------------------------ callbacks */

/* Whether s holds a control character (a forged or broken log line). */
/* A control character (C0, DEL, C1) or invalid UTF-8. */
static int has_ctl(const char *s) {
  return !leak_printable(s, strlen(s));
}

/* saslc.log: every SASL log line of the run. */
static int sasl_log(int level, const char *message) {
  if (has_ctl(message)) {
    log_ctl++;
    fprintf(stderr, "# control character in the SASL log: \"%s\"\n", message);
  }
  if (level <= SASL_LOG_WARN)
    snprintf(last_log, sizeof(last_log), "%s", message);
  if (leak_sink(&sinks, "sasl log", message, strlen(message)) != 0)
    return SASL_NOMEM;
  if (getenv("TEST_SASL_VERBOSE") != NULL)
    fprintf(stderr, "# sasl log %d: %s\n", level, message);
  return SASL_OK;
}

/* Loads the plugin anew with config (its configuration is read at init). */
static void sasl_reload(const char *config) {
  assert_int_equal(saslc_load(config), SASL_OK);
}

/* ------------------------------------------------------------ protocol */

struct session {
  int fd;
  char buf[16384];
  size_t len;
};

static int read_line(struct session *s, char *line, size_t size) {
  for (;;) {
    char *nl = memchr(s->buf, '\n', s->len);
    ssize_t n;

    if (nl != NULL) {
      size_t l = (size_t)(nl - s->buf);
      size_t keep = l < size - 1 ? l : size - 1;

      memcpy(line, s->buf, keep);
      line[keep] = '\0';
      if (keep > 0 && line[keep - 1] == '\r')
        line[keep - 1] = '\0';
      memmove(s->buf, nl + 1, s->len - l - 1);
      s->len -= l + 1;
      return 0;
    }
    if (s->len == sizeof(s->buf))
      return -1;
    n = read(s->fd, s->buf + s->len, sizeof(s->buf) - s->len);
    if (n <= 0)
      return -1;
    s->len += (size_t)n;
  }
}

static int send_str(struct session *s, const char *str) {
  size_t len = strlen(str);

  return write(s->fd, str, len) == (ssize_t)len ? 0 : -1;
}

/* Reads lines until one that is not an SMTP continuation ("250-"). */
static int read_reply(struct session *s, enum proto p, char *line,
                      size_t size) {
  do {
    if (read_line(s, line, size) != 0)
      return -1;
  } while (p == SMTP && strlen(line) > 3 && line[3] == '-');
  return 0;
}

static int greet(struct session *s, enum proto p) {
  char line[1024];

  if (read_reply(s, p, line, sizeof(line)) != 0)
    return -1;
  if (p == SMTP) {
    if (send_str(s, "EHLO client.test\r\n") != 0 ||
        read_reply(s, p, line, sizeof(line)) != 0 || strncmp(line, "250", 3))
      return -1;
  }
  return 0;
}

/* The result of a login attempt. */
struct outcome {
  int sasl_start;    /* sasl_client_start's result */
  int authenticated; /* the server said yes */
  const char *mech;  /* the mechanism libsasl2 chose */
  char detail[1024]; /* sasl_errdetail after the exchange */
  char server[512];  /* the server's last line */
};

static int encode(const char *in, unsigned len, char **out) {
  unsigned cap = len * 4 / 3 + 8, outlen = 0;

  *out = malloc(cap);
  if (*out == NULL)
    return -1;
  return sasl_encode64(in, len, *out, cap, &outlen) == SASL_OK ? 0 : -1;
}

static const char *auth_prefix(enum proto p) {
  return p == IMAP ? "a1 AUTHENTICATE" : "AUTH";
}

/* Whether line is the server's final answer; sets *ok. */
static int final_reply(enum proto p, const char *line, int *ok) {
  if (p == IMAP && strncmp(line, "a1 ", 3) == 0) {
    *ok = strncmp(line, "a1 OK", 5) == 0;
    return 1;
  }
  if (p == POP3 && (line[0] == '+' || line[0] == '-') &&
      strncmp(line, "+ ", 2) != 0 && strcmp(line, "+") != 0) {
    *ok = strncmp(line, "+OK", 3) == 0;
    return 1;
  }
  if (p == SMTP && strncmp(line, "334", 3) != 0) {
    *ok = strncmp(line, "235", 3) == 0;
    return 1;
  }
  return 0;
}

static const char *challenge_of(enum proto p, const char *line) {
  if (p == SMTP)
    return line[3] == ' ' ? line + 4 : line + 3;
  return line[1] == ' ' ? line + 2 : line + 1;
}

/* The SASL exchange on an open session; fills out. */
static void exchange(struct session *s, enum proto p, sasl_conn_t *conn,
                     const char *mechlist, struct outcome *out) {
  sasl_interact_t *prompts = NULL;
  const char *clientout = NULL, *mech = NULL;
  unsigned clientoutlen = 0;
  char line[8192], *b64 = NULL, *cmd = NULL;
  int rc;

  do {
    rc = sasl_client_start(conn, mechlist, &prompts, &clientout, &clientoutlen,
                           &mech);
    if (rc == SASL_INTERACT)
      saslc_answer(prompts);
  } while (rc == SASL_INTERACT);
  out->sasl_start = rc;
  out->mech = mech;
  if (rc != SASL_OK && rc != SASL_CONTINUE) {
    snprintf(out->detail, sizeof(out->detail), "%s", sasl_errdetail(conn));
    return;
  }
  if (encode(clientout, clientoutlen, &b64) != 0)
    return;
  if (asprintf(&cmd, "%s %s %s\r\n", auth_prefix(p), mech,
               clientoutlen > 0 ? b64 : "=") < 0)
    goto out;
  if (send_str(s, cmd) != 0)
    goto out;
  for (;;) {
    char decoded[4096];
    unsigned dlen = 0;
    const char *chal;
    int ok = 0;

    if (read_line(s, line, sizeof(line)) != 0)
      break;
    if (getenv("TEST_SASL_VERBOSE") != NULL)
      fprintf(stderr, "# %ld S: %.60s\n", (long)time(NULL), line);
    snprintf(out->server, sizeof(out->server), "%.500s", line);
    if (p == IMAP && strncmp(line, "* ", 2) == 0)
      continue; /* untagged: "Waiting for authentication process" */
    if (final_reply(p, line, &ok)) {
      out->authenticated = ok;
      break;
    }
    chal = challenge_of(p, line);
    if (sasl_decode64(chal, (unsigned)strlen(chal), decoded, sizeof(decoded),
                      &dlen) != SASL_OK)
      break;
    rc = sasl_client_step(conn, decoded, dlen, &prompts, &clientout,
                          &clientoutlen);
    free(b64);
    b64 = NULL;
    if ((rc != SASL_OK && rc != SASL_CONTINUE) ||
        encode(clientout != NULL ? clientout : "", clientoutlen, &b64) != 0) {
      send_str(s, p == IMAP ? "*\r\n" : "*\r\n");
      continue;
    }
    free(cmd);
    cmd = NULL;
    if (asprintf(&cmd, "%s\r\n", b64) < 0 || send_str(s, cmd) != 0)
      break;
  }
out:
  snprintf(out->detail, sizeof(out->detail), "%s", sasl_errdetail(conn));
  assert_int_equal(
      leak_sink(&sinks, "sasl_errdetail", out->detail, strlen(out->detail)), 0);
  free(b64);
  free(cmd);
}

/*
 * Signs in as user with pass over protocol p, offering the mechanisms in
 * mechlist; prompts: callbacks without procedures.
 */
static void login(enum proto p, const char *mechlist, const char *user,
                  const char *authzid, const char *pass, int prompts,
                  struct outcome *out) {
  struct session s;
  sasl_conn_t *conn = NULL;
  sasl_security_properties_t props;
  char remote[64], line[1024];

  memset(out, 0, sizeof(*out));
  memset(&s, 0, sizeof(s));
  saslc.user = user;
  saslc.authzid = authzid;
  saslc.pass = pass;
  last_log[0] = '\0';
  log_ctl = 0;
  s.fd = saslc_connect(ports[p], 20);
  assert_true(s.fd >= 0);
  assert_int_equal(greet(&s, p), 0);
  snprintf(remote, sizeof(remote), "127.0.0.1;%d", ports[p]);
  assert_int_equal(saslc_new(p == SMTP ? "smtp" : proto_names[p], "localhost",
                             remote, prompts, &conn),
                   SASL_OK);
  /* What Postfix asks inside TLS under the examples'
   * smtp_sasl_tls_security_options = noanonymous (the stand-in's ports
   * here speak no TLS: test_security_flags covers noplaintext). */
  memset(&props, 0, sizeof(props));
  props.security_flags = SASL_SEC_NOANONYMOUS;
  props.maxbufsize = 65536;
  assert_int_equal(sasl_setprop(conn, SASL_SEC_PROPS, &props), SASL_OK);
  exchange(&s, p, conn, mechlist, out);
  send_str(&s, p == IMAP ? "a2 LOGOUT\r\n" : "QUIT\r\n");
  read_line(&s, line, sizeof(line));
  close(s.fd);
  sasl_dispose(&conn);
}

/* ------------------------------------------------------------ helpers */

static const char *config(const char *name, const char *extra) {
  static char path[3][512];
  static int next;
  const char *p = emu_write_config(&emu, name, extra);
  char *slot = path[next++ % 3];

  assert_non_null(p);
  snprintf(slot, 512, "%s", p);
  return slot;
}

static long requests(void) {
  return emu_count(&emu, "total");
}

/* A fresh cache and fresh counters for every test. */
static int reset(void **state) {
  char cmd[600];

  (void)state;
  snprintf(cmd, sizeof(cmd), "rm -rf '%s/cache'", emu.dir);
  if (system(cmd) != 0 || emu_reset(&emu) != 0)
    return -1;
  return 0;
}

/* A token of user obtained through the core with auth = password (which
 * also stores the refresh token in the cache). The caller frees it. */
static char *core_token(const char *user, const char *password) {
  struct msoauth_config *cfg = NULL;
  struct msoauth_ctx *ctx = NULL;
  struct msoauth_secret *secret = NULL;
  struct msoauth_token tok;
  char *value;
  const char *path = config("core.conf", "auth = password\n");

  assert_int_equal(
      msoauth_config_load(path, NULL, NULL, 0, 0, NULL, &cfg, NULL),
      MSOAUTH_OK);
  assert_int_equal(msoauth_ctx_new(cfg, NULL, &ctx, NULL), MSOAUTH_OK);
  assert_int_equal(msoauth_secret_from_str(password, &secret), MSOAUTH_OK);
  assert_int_equal(
      msoauth_token_get(ctx, user, strlen(user), secret, &tok, NULL),
      MSOAUTH_OK);
  value = strdup(msoauth_secret_value(tok.access_token));
  msoauth_token_clear(&tok);
  msoauth_secret_free(&secret);
  msoauth_ctx_free(&ctx);
  msoauth_config_free(&cfg);
  return value;
}

static void expect_login(enum proto p, const char *mech, const char *user,
                         const char *pass) {
  struct outcome out;

  login(p, mech, user, NULL, pass, 0, &out);
  if (!out.authenticated)
    fprintf(stderr, "# %s %s as %s: start %d, server \"%s\", detail \"%s\"\n",
            proto_names[p], mech, user, out.sasl_start, out.server, out.detail);
  assert_true(out.authenticated);
  assert_string_equal(out.mech, mech);
}

/* Every protocol with XOAUTH2, and IMAP with OAUTHBEARER. */
static void all_logins(const char *user, const char *pass) {
  expect_login(IMAP, "XOAUTH2", user, pass);
  expect_login(POP3, "XOAUTH2", user, pass);
  expect_login(SMTP, "XOAUTH2", user, pass);
  expect_login(IMAP, "OAUTHBEARER", user, pass);
  expect_login(SMTP, "OAUTHBEARER", user, pass);
}

/* ------------------------------------------------------------ tests */

static void test_exports(void **state) {
  char lib[600], cmd[700], line[256];
  void *h;
  FILE *f;
  int symbols = 0;

  (void)state;
  snprintf(lib, sizeof(lib), "%s/sasl_xoauth2/.libs/libxoauth2.so",
           env_or("MSOAUTH_BUILDDIR", "."));
  h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
  assert_non_null(h);
  assert_non_null(dlsym(h, "sasl_client_plug_init"));
  assert_null(dlsym(h, "msoauth_token_get"));
  assert_null(dlsym(h, "msoauth_config_load"));
  assert_null(dlsym(h, "sasl_server_plug_init"));
  dlclose(h);
  snprintf(cmd, sizeof(cmd), "nm -D --defined-only '%s'", lib);
  f = popen(cmd, "r");
  assert_non_null(f);
  while (fgets(line, sizeof(line), f) != NULL) {
    char *type = strchr(line, ' ');

    /* Global code and data: " T name", " D name", " B name", " R name". */
    if (type != NULL && type[1] != '\0' && strchr("TDBRVW", type[1]) != NULL) {
      assert_non_null(strstr(line, "sasl_client_plug_init"));
      symbols++;
    }
  }
  assert_int_equal(pclose(f), 0);
  assert_int_equal(symbols, 1);
}

static void test_password(void **state) {
  (void)state;
  sasl_reload(config("password.conf", "auth = password\n"));
  all_logins("alice@contoso.com", EMU_ALICE_PASSWORD);
  /* One ROPC request: every other login took the cached token. */
  assert_int_equal(emu_count(&emu, "endpoint:token"), 1);
  /* A bare name gets default_domain, as Postfix maps may give it. */
  sasl_reload(config("password.conf",
                     "auth = password\ndefault_domain = contoso.com\n"));
  expect_login(IMAP, "XOAUTH2", "bob", EMU_BOB_PASSWORD);
}

static void test_wrong_password(void **state) {
  struct outcome out;

  (void)state;
  sasl_reload(config("password.conf", "auth = password\n"));
  login(IMAP, "XOAUTH2", "alice@contoso.com", NULL, "wrong", 0, &out);
  assert_int_equal(out.sasl_start, SASL_BADAUTH);
  assert_false(out.authenticated);
  assert_non_null(strstr(out.detail, "alice@contoso.com"));
  assert_int_equal(requests(), 1);
}

/* A token of another tenant, or one naming nobody: SASL_BADAUTH, no
 * login, and nothing cached for the next connection. */
static void test_tenant_and_identity(void **state) {
  static const char *const faults[] = {
      "{\"kind\": \"tenant\"}",
      "{\"kind\": \"opaque\"}",
  };
  static const char *const expect[] = {"another tenant", "no id token"};

  (void)state;
  sasl_reload(config("tenant.conf",
                     "auth = password\ntenant = " EMU_TENANT_ID "\n"));
  for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
    struct outcome out;

    assert_int_equal(emu_post(&emu, "/_emu/fault", faults[i]), 0);
    login(IMAP, "XOAUTH2", "alice@contoso.com", NULL, EMU_ALICE_PASSWORD, 0,
          &out);
    assert_int_equal(out.sasl_start, SASL_BADAUTH);
    assert_false(out.authenticated);
    assert_non_null(strstr(out.detail, expect[i]));
  }
  assert_int_equal(emu_count(&emu, "endpoint:token"), 2);
  /* Nothing was cached: the next login asks again, and passes. */
  expect_login(IMAP, "XOAUTH2", "alice@contoso.com", EMU_ALICE_PASSWORD);
  assert_int_equal(emu_count(&emu, "endpoint:token"), 3);
}

static void test_token(void **state) {
  char *token;

  (void)state;
  token = core_token("alice@contoso.com", EMU_ALICE_PASSWORD);
  assert_int_equal(emu_reset(&emu), 0);
  sasl_reload(config("token.conf", "auth = token\n"));
  all_logins("alice@contoso.com", token);
  assert_int_equal(requests(), 0);
  free(token);
}

static void test_refresh(void **state) {
  char *token;

  (void)state;
  /* A password sign-in through the core seeds the refresh token. */
  token = core_token("alice@contoso.com", EMU_ALICE_PASSWORD);
  free(token);
  /* Only the refresh token may serve: drop the access tokens. */
  assert_int_equal(emu_reset(&emu), 0);
  sasl_reload(config("refresh.conf",
                     "auth = refresh\n"
                     "scope = https://outlook.office.com/IMAP.AccessAsUser.All "
                     "https://outlook.office.com/POP.AccessAsUser.All "
                     "https://outlook.office.com/SMTP.Send offline_access "
                     "https://outlook.office.com/User.Read\n"));
  all_logins("alice@contoso.com", NULL);
  assert_int_equal(emu_count(&emu, "grant:refresh_token"), 1);
  assert_int_equal(emu_count(&emu, "grant:password"), 0);
}

static void test_service_account(void **state) {
  const char *pw;

  (void)state;
  pw = emu_write_file(&emu, "svc.pw", SVC_PASSWORD "\n", 0600);
  assert_non_null(pw);
  {
    char extra[1024];

    snprintf(extra, sizeof(extra),
             "auth = service_account\n"
             "service_account = svc-mail@contoso.com\n"
             "service_account_password_file = %s\n",
             pw);
    sasl_reload(config("svc.conf", extra));
  }
  /* The service account's token opens alice's and bob's mailboxes. */
  all_logins("alice@contoso.com", NULL);
  expect_login(IMAP, "XOAUTH2", "bob@contoso.com", NULL);
  assert_int_equal(emu_count(&emu, "user:svc-mail@contoso.com"), 1);
}

static void test_service_account_cross_domain(void **state) {
  struct outcome out;
  const char *pw;
  char extra[1024];

  (void)state;
  pw = emu_write_file(&emu, "svc.pw", SVC_PASSWORD "\n", 0600);
  snprintf(extra, sizeof(extra),
           "auth = service_account\n"
           "domains = contoso.com, bravo.com\n"
           "service_account = svc-mail@contoso.com\n"
           "service_account_password_file = %s\n",
           pw);
  sasl_reload(config("svc.conf", extra));
  login(SMTP, "XOAUTH2", "carol@bravo.com", NULL, NULL, 0, &out);
  assert_false(out.authenticated);
  assert_int_not_equal(out.sasl_start, SASL_OK);
  assert_non_null(strstr(out.detail, "bravo.com"));
  assert_int_equal(requests(), 0);
}

static void test_app_secret(void **state) {
  (void)state;
  sasl_reload(config("app.conf", "auth = app\n"
                                 "client_id = " EMU_SECRET_CLIENT "\n"
                                 "client_secret = " EMU_CLIENT_SECRET "\n"));
  all_logins("alice@contoso.com", NULL);
  expect_login(POP3, "XOAUTH2", "bob@contoso.com", NULL);
  /* One app-only token serves every mailbox. */
  assert_int_equal(emu_count(&emu, "grant:client_credentials"), 1);
}

static void test_app_certificate(void **state) {
  char extra[1024];

  (void)state;
  snprintf(extra, sizeof(extra),
           "auth = app\n"
           "client_id = " EMU_CERT_CLIENT "\n"
           "client_certificate_file = %s/client-" EMU_CERT_CLIENT ".crt\n"
           "client_key_file = %s/client-" EMU_CERT_CLIENT ".key\n",
           emu.dir, emu.dir);
  sasl_reload(config("cert.conf", extra));
  all_logins("alice@contoso.com", NULL);
  assert_int_equal(emu_count(&emu, "grant:client_credentials"), 1);
  assert_int_equal(emu_count(&emu, "client:" EMU_CERT_CLIENT), 1);
}

/* Builds an address of len bytes (a long local part) in buf. */
static const char *long_name(char *buf, size_t len) {
  static const char domain[] = "@contoso.com";

  memset(buf, 'a', len - (sizeof(domain) - 1));
  memcpy(buf + len - (sizeof(domain) - 1), domain, sizeof(domain));
  return buf;
}

/* A literal that may hold a NUL, and its length. */
#define RAW(s) s, sizeof(s) - 1

/* Identity rules: refused locally, with a message, and no request; the
 * callbacks hand out pointer and length, so a NUL travels inside a name. */
static void test_identity_refusals(void **state) {
  static char name300[301], name64k[64 * 1024 + 1];
  static const struct {
    const char *user;
    size_t user_len; /* 0: strlen */
    const char *authzid;
    size_t authzid_len;
    const char *expect; /* in sasl_errdetail */
  } cases[] = {
      {RAW("carol@bravo.com"), NULL, 0, "bravo.com"},
      {RAW("asmith@contoso.com"), NULL, 0, "alice@contoso.com"},
      {RAW("alice\001@contoso.com"), NULL, 0, "control"},
      {RAW("alice@contoso.com\r\nX"), NULL, 0, "control"},
      {RAW("alice@contoso.com\rX"), NULL, 0, "control"},
      {RAW("alice@contoso.com\nX"), NULL, 0, "control"},
      {RAW("alice@contoso.com\0evil"), NULL, 0, "control"},
      {RAW("alice\0@contoso.com"), NULL, 0, "control"},
      {name300, 300, NULL, 0, "longer than 256"},
      {name64k, 64 * 1024, NULL, 0, "longer than 256"},
      {RAW("al\xffice@contoso.com"), NULL, 0, "UTF-8"},
      {RAW("\xc0\xaf" "alice@contoso.com"), NULL, 0, "UTF-8"},
      {RAW("alice\xc2\x9b[2J@contoso.com"), NULL, 0, "control"},
      {RAW("alice@contoso.com"), "bob@contoso.com", 0, "authorization id"},
      {RAW("alice@contoso.com"), RAW("alice@contoso.com\0bob"),
       "authorization id"},
  };
  const char *aliases;
  char extra[600];

  (void)state;
  long_name(name300, 300);
  long_name(name64k, 64 * 1024);
  aliases = emu_write_file(&emu, "aliases",
                           "asmith@contoso.com alice@contoso.com\n", 0600);
  snprintf(extra, sizeof(extra), "auth = password\naliases_file = %s\n",
           aliases);
  sasl_reload(config("rules.conf", extra));
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct outcome out;

    saslc.user_len = cases[i].user_len;
    saslc.authzid_len = cases[i].authzid_len;
    login(IMAP, "XOAUTH2", cases[i].user, cases[i].authzid, EMU_ALICE_PASSWORD,
          0, &out);
    saslc.user_len = saslc.authzid_len = 0;
    if (strstr(out.detail, cases[i].expect) == NULL || out.authenticated)
      fprintf(stderr, "# case %zu: start %d, \"%s\"\n", i, out.sasl_start,
              out.detail);
    assert_int_not_equal(out.sasl_start, SASL_OK);
    assert_int_not_equal(out.sasl_start, SASL_CONTINUE);
    assert_false(out.authenticated);
    assert_non_null(strstr(out.detail, cases[i].expect));
    /* The refusal reached the application's log too, and no line of it
     * (nor the message) carries a raw control character. */
    assert_true(last_log[0] != '\0');
    assert_int_equal(log_ctl, 0);
    assert_false(has_ctl(out.detail));
    assert_int_equal(requests(), 0);
  }
}

/* Hostile passwords through SASL_CB_PASS (a sasl_secret_t with a length):
 * what a local rule decides makes no request; what only Entra can judge is
 * sent whole and refused there. */
static void test_hostile_passwords(void **state) {
  static char pw64k[64 * 1024 + 2];
  static const struct {
    const char *pass;
    size_t len;
    int sasl_rc;        /* sasl_client_start's result */
    const char *expect; /* in sasl_errdetail */
    long requests;
  } cases[] = {
      {RAW(""), SASL_BADPARAM, "no password", 0},
      {RAW("   "), SASL_BADAUTH, "AADSTS50126", 1},
      /* A NUL must not cut the password short: the right one, then junk. */
      {RAW(EMU_ALICE_PASSWORD "\0junk"), SASL_BADPARAM, "NUL", 0},
      {RAW("\0" EMU_ALICE_PASSWORD), SASL_BADPARAM, "NUL", 0},
      {pw64k, 64 * 1024, SASL_BADAUTH, "AADSTS50126", 1},
      {pw64k, 64 * 1024 + 1, SASL_BADPARAM, "longer than", 0},
  };

  (void)state;
  memset(pw64k, 'p', sizeof(pw64k) - 1);
  sasl_reload(config("password.conf", "auth = password\n"));
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct outcome out;
    long before = requests();

    /* An empty one through a length of 0 and strlen alike. */
    saslc.pass_len = cases[i].len;
    login(IMAP, "XOAUTH2", "alice@contoso.com", NULL, cases[i].pass, 0, &out);
    saslc.pass_len = 0;
    if (out.sasl_start != cases[i].sasl_rc ||
        strstr(out.detail, cases[i].expect) == NULL)
      fprintf(stderr, "# case %zu: start %d, \"%s\"\n", i, out.sasl_start,
              out.detail);
    assert_false(out.authenticated);
    assert_int_equal(out.sasl_start, cases[i].sasl_rc);
    assert_non_null(strstr(out.detail, cases[i].expect));
    assert_true(last_log[0] != '\0');
    assert_int_equal(log_ctl, 0);
    assert_false(has_ctl(out.detail));
    assert_int_equal(requests() - before, cases[i].requests);
  }
  /* Nothing above left a token behind: the right password asks anew. */
  expect_login(IMAP, "XOAUTH2", "alice@contoso.com", EMU_ALICE_PASSWORD);
  assert_int_equal(emu_count(&emu, "grant:password"), 3);
}

static double now_s(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One fault case through the plugin (config loaded, cache empty). */
static void sasl_fault(const struct emu_fault *c, size_t i) {
  struct outcome out;
  double t0, elapsed;

  assert_int_equal(emu_post(&emu, "/_emu/fault", c->fault), 0);
  t0 = now_s();
  login(IMAP, "XOAUTH2", "alice@contoso.com", NULL, EMU_ALICE_PASSWORD, 0,
        &out);
  elapsed = now_s() - t0;
  fprintf(stderr, "# fault %zu: %.2f s, %ld requests, \"%s\"\n", i, elapsed,
          emu_count(&emu, "endpoint:token"), out.authenticated ? "" : out.detail);
  assert_int_equal(out.authenticated, c->ok);
  assert_true(elapsed >= c->min_s);
  assert_true(elapsed <= c->max_s);
  if (c->requests >= 0)
    assert_int_equal(emu_count(&emu, "endpoint:token"), c->requests);
  assert_int_equal(log_ctl, 0);
  if (c->ok)
    return;
  assert_int_not_equal(out.sasl_start, SASL_OK);
  assert_int_not_equal(out.sasl_start, SASL_CONTINUE);
  assert_non_null(strstr(out.detail, c->expect));
  assert_false(has_ctl(out.detail));
}

/* Faults of the identity platform: each fails cleanly and within its time,
 * or recovers as retries allow; a failure caches nothing (the next login
 * asks again, once). */
static void test_faults(void **state) {
  const char *path;

  (void)state;
  for (size_t i = 0; i < emu_n_faults; i++) {
    assert_int_equal(reset(NULL), 0);
    path = config("faults.conf", "auth = password\n" EMU_FAULT_CONFIG);
    sasl_reload(path);
    sasl_fault(&emu_faults[i], i);
    if (emu_faults[i].ok)
      continue;
    assert_int_equal(emu_reset(&emu), 0);
    expect_login(IMAP, "XOAUTH2", "alice@contoso.com", EMU_ALICE_PASSWORD);
    assert_int_equal(emu_count(&emu, "endpoint:token"), 1);
  }
}

/* The identity platform's TLS identity is not one to trust: no request
 * gets through, the exchange fails and says why. */
static void test_untrusted_platform(void **state) {
  static const char *const identities[] = {"other-ca", "wrong-host"};

  (void)state;
  for (size_t i = 0; i < 2; i++) {
    const char *args[] = {"--tls-identity", identities[i], NULL};
    struct emu other;
    struct outcome out;
    const char *path;

    memset(&other, 0, sizeof(other));
    assert_int_equal(emu_start(&other, args), 0);
    path = emu_write_config(&other, "tls.conf",
                            "auth = password\ntimeout = 3\nretries = 1\n");
    assert_non_null(path);
    sasl_reload(path);
    login(IMAP, "XOAUTH2", "alice@contoso.com", NULL, EMU_ALICE_PASSWORD, 0,
          &out);
    fprintf(stderr, "# %s: \"%s\"\n", identities[i], out.detail);
    assert_false(out.authenticated);
    assert_int_equal(out.sasl_start, SASL_TRYAGAIN);
    assert_non_null(strstr(out.detail, "certificate"));
    assert_false(has_ctl(out.detail));
    assert_int_equal(log_ctl, 0);
    assert_int_equal(emu_ctl_total(&other), 0);
    emu_stop(&other);
  }
}

/* A cached token that expired is replaced once: one request, then none. */
static void test_expired(void **state) {
  (void)state;
  /* The server takes the first token for 60 s, the plugin for 3 (the
   * margin): it expires for the plugin alone, however slow the run. */
  sasl_reload(config("expiry.conf", "auth = password\nrefresh_margin = 57\n"));
  assert_int_equal(emu_post(&emu, "/_emu/fault",
                            "{\"kind\": \"expires\", \"expires_in\": 60}"),
                   0);
  expect_login(IMAP, "XOAUTH2", "alice@contoso.com", EMU_ALICE_PASSWORD);
  assert_int_equal(emu_count(&emu, "endpoint:token"), 1);
  usleep(3500 * 1000);
  expect_login(IMAP, "XOAUTH2", "alice@contoso.com", EMU_ALICE_PASSWORD);
  expect_login(SMTP, "OAUTHBEARER", "alice@contoso.com", EMU_ALICE_PASSWORD);
  assert_int_equal(emu_count(&emu, "endpoint:token"), 2);
}

/* A revoked token: the server's error challenge drops it, and the next
 * connection gets a new one. */
static void test_revoked(void **state) {
  static const char *const mechs[] = {"XOAUTH2", "OAUTHBEARER"};

  (void)state;
  sasl_reload(config("password.conf", "auth = password\n"));
  for (size_t i = 0; i < 2; i++) {
    struct outcome out;
    long before;

    expect_login(IMAP, mechs[i], "alice@contoso.com", EMU_ALICE_PASSWORD);
    assert_int_equal(emu_count(&emu, "grant:password"), i + 1);
    assert_int_equal(
        emu_post(&emu, "/_emu/revoke", "{\"user\": \"alice@contoso.com\"}"), 0);
    before = emu_count(&emu, "endpoint:token");
    login(IMAP, mechs[i], "alice@contoso.com", NULL, EMU_ALICE_PASSWORD, 0,
          &out);
    if (strstr(out.detail, "refused the token") == NULL)
      fprintf(stderr, "# %s: server \"%s\", detail \"%s\"\n", mechs[i],
              out.server, out.detail);
    assert_false(out.authenticated);
    assert_non_null(strstr(out.detail, "refused the token"));
    /* The refusal itself asked nothing. */
    assert_int_equal(emu_count(&emu, "endpoint:token"), before);
    /* Replaced once: the revoked refresh token is tried (AADSTS50173),
     * then the password gets the new token ... */
    expect_login(IMAP, mechs[i], "alice@contoso.com", EMU_ALICE_PASSWORD);
    assert_int_equal(emu_count(&emu, "endpoint:token"), before + 2);
    assert_int_equal(emu_count(&emu, "grant:password"), i + 2);
    /* ... which the next login takes from the cache. */
    expect_login(SMTP, mechs[i], "alice@contoso.com", EMU_ALICE_PASSWORD);
    assert_int_equal(emu_count(&emu, "endpoint:token"), before + 2);
  }
}

/* The stand-in enforces Exchange's rules: a user's token opens only that
 * user's mailbox; its error challenge makes the plugin fail with a reason. */
static void test_server_rules(void **state) {
  static const char *const mechs[] = {"XOAUTH2", "OAUTHBEARER"};
  char *token;

  (void)state;
  token = core_token("bob@contoso.com", EMU_BOB_PASSWORD);
  sasl_reload(config("token.conf", "auth = token\n"));
  for (size_t i = 0; i < 2; i++) {
    struct outcome out;

    login(IMAP, mechs[i], "alice@contoso.com", NULL, token, 0, &out);
    assert_false(out.authenticated);
    assert_non_null(strstr(out.detail, "refused the token"));
    assert_non_null(strstr(out.detail, "alice@contoso.com"));
    login(SMTP, mechs[i], "alice@contoso.com", NULL, token, 0, &out);
    assert_false(out.authenticated);
  }
  expect_login(POP3, "XOAUTH2", "bob@contoso.com", token);
  free(token);
}

/* A broken configuration: XOAUTH2 says why, PLAIN keeps working. */
static void test_broken_config(void **state) {
  struct outcome out;
  const char *path = config("broken.conf", "no_such_key = 1\n");

  (void)state;
  sasl_reload(path);
  login(IMAP, "PLAIN XOAUTH2", "alice@contoso.com", NULL, PLAIN_PASSWORD, 0,
        &out);
  assert_non_null(out.mech);
  assert_string_equal(out.mech, "PLAIN");
  assert_true(out.authenticated);
  login(IMAP, "XOAUTH2", "alice@contoso.com", NULL, PLAIN_PASSWORD, 0, &out);
  /* An application asking noanonymous (Postfix) skips it ... */
  assert_int_equal(out.sasl_start, SASL_NOMECH);
  /* ... an application without it gets the reason. */
  {
    struct session s;
    sasl_conn_t *conn = NULL;
    const char *co = NULL, *mech = NULL;
    unsigned colen = 0;
    int rc;

    memset(&s, 0, sizeof(s));
    saslc.user = "alice@contoso.com";
    saslc.authzid = NULL;
    saslc.pass = "x";
    assert_int_equal(saslc_new("imap", "localhost", NULL, 0, &conn), SASL_OK);
    rc = sasl_client_start(conn, "XOAUTH2", NULL, &co, &colen, &mech);
    assert_int_equal(rc, SASL_CONFIGERR);
    assert_non_null(strstr(sasl_errdetail(conn), "no_such_key"));
    assert_non_null(strstr(sasl_errdetail(conn), path));
    sasl_dispose(&conn);
  }
  assert_int_equal(requests(), 0);
}

/* sasl_client_start for mechlist on a connection that asks flags, with an
 * external security layer of ssf (TLS: 256); *mech_r: the choice. */
static int start_with(unsigned flags, sasl_ssf_t ssf, const char *mechlist,
                      const char **mech_r) {
  sasl_security_properties_t props;
  sasl_conn_t *conn = NULL;
  const char *co = NULL;
  unsigned colen = 0;
  int rc;

  saslc.user = "alice@contoso.com";
  saslc.authzid = NULL;
  saslc.pass = EMU_ALICE_PASSWORD;
  *mech_r = NULL;
  assert_int_equal(saslc_new("smtp", "localhost", NULL, 0, &conn), SASL_OK);
  memset(&props, 0, sizeof(props));
  props.security_flags = flags;
  props.maxbufsize = 65536;
  assert_int_equal(sasl_setprop(conn, SASL_SEC_PROPS, &props), SASL_OK);
  if (ssf > 0)
    assert_int_equal(sasl_setprop(conn, SASL_SSF_EXTERNAL, &ssf), SASL_OK);
  rc = sasl_client_start(conn, mechlist, NULL, &co, &colen, mech_r);
  /* The name is the plugin's table entry: it outlives the connection. */
  sasl_dispose(&conn);
  return rc;
}

/* Whether libsasl2 lists mech for a connection asking flags, ssf 0. */
static int listed(unsigned flags, const char *mech) {
  sasl_security_properties_t props;
  sasl_conn_t *conn = NULL;
  const char *list = NULL;
  unsigned len = 0;
  int count = 0, found;

  assert_int_equal(saslc_new("smtp", "localhost", NULL, 0, &conn), SASL_OK);
  memset(&props, 0, sizeof(props));
  props.security_flags = flags;
  assert_int_equal(sasl_setprop(conn, SASL_SEC_PROPS, &props), SASL_OK);
  assert_int_equal(sasl_listmech(conn, NULL, " ", " ", " ", &list, &len,
                                 &count),
                   SASL_OK);
  found = strstr(list, mech) != NULL;
  sasl_dispose(&conn);
  return found;
}

/*
 * A bearer token is replayable for its lifetime: an application that asks
 * for noplaintext on a connection without a security layer (no TLS, a
 * STARTTLS stripped) is not offered XOAUTH2 or OAUTHBEARER, and no token
 * is requested; with TLS (an external SSF), or asking noanonymous only,
 * they are chosen.
 */
static void test_security_flags(void **state) {
  const unsigned noplain = SASL_SEC_NOPLAINTEXT | SASL_SEC_NOANONYMOUS;
  const char *mech = NULL;

  (void)state;
  sasl_reload(config("password.conf", "auth = password\n"));
  assert_int_equal(start_with(noplain, 0, "XOAUTH2 OAUTHBEARER", &mech),
                   SASL_NOMECH);
  assert_int_equal(
      start_with(SASL_SEC_NOPLAINTEXT, 0, "XOAUTH2 OAUTHBEARER", &mech),
      SASL_NOMECH);
  assert_int_equal(start_with(noplain, 0, "OAUTHBEARER", &mech), SASL_NOMECH);
  assert_false(listed(noplain, "XOAUTH2"));
  assert_false(listed(noplain, "OAUTHBEARER"));
  assert_int_equal(requests(), 0);
  /* noanonymous (Postfix inside TLS under the examples) or nothing asked:
   * chosen, and they sign in. */
  assert_true(listed(SASL_SEC_NOANONYMOUS, "XOAUTH2"));
  assert_true(listed(SASL_SEC_NOANONYMOUS, "OAUTHBEARER"));
  assert_int_equal(
      start_with(SASL_SEC_NOANONYMOUS, 0, "XOAUTH2 OAUTHBEARER", &mech),
      SASL_CONTINUE);
  assert_non_null(mech);
  assert_string_equal(mech, "XOAUTH2");
  assert_int_equal(start_with(0, 0, "OAUTHBEARER", &mech), SASL_CONTINUE);
  assert_string_equal(mech, "OAUTHBEARER");
  expect_login(SMTP, "XOAUTH2", "alice@contoso.com", EMU_ALICE_PASSWORD);
  expect_login(SMTP, "OAUTHBEARER", "alice@contoso.com", EMU_ALICE_PASSWORD);
  /* noplaintext over TLS: the application tells libsasl2 the layer's SSF,
   * and the mechanisms are chosen (imtest -t, mbsync with TLS). */
  assert_int_equal(start_with(noplain, 256, "XOAUTH2 OAUTHBEARER", &mech),
                   SASL_CONTINUE);
  assert_string_equal(mech, "XOAUTH2");
}

/* Callbacks without procedures: libsasl2 hands out prompts (mbsync). */
static void test_interact(void **state) {
  struct outcome out;

  (void)state;
  sasl_reload(config("password.conf", "auth = password\n"));
  saslc.prompts_answered = 0;
  login(IMAP, "XOAUTH2", "alice@contoso.com", NULL, EMU_ALICE_PASSWORD, 1,
        &out);
  assert_true(out.authenticated);
  /* Name, authorization name and password were asked. */
  assert_int_equal(saslc.prompts_answered, 3);
  login(SMTP, "OAUTHBEARER", "alice@contoso.com", NULL, EMU_ALICE_PASSWORD, 1,
        &out);
  assert_true(out.authenticated);
}

/* No password given for a method that needs one: a message, no request. */
static void test_missing_password(void **state) {
  struct outcome out;

  (void)state;
  sasl_reload(config("password.conf", "auth = password\n"));
  login(IMAP, "XOAUTH2", "alice@contoso.com", NULL, NULL, 0, &out);
  assert_false(out.authenticated);
  assert_non_null(strstr(out.detail, "no password"));
  assert_null(strstr(out.detail, "Unable to find a callback"));
  assert_int_equal(requests(), 0);
}

/* Separate processes share one token: 20 concurrent cold logins make one
 * token request between them, and 100 sequential ones after them none. */
/* With log_level = debug, the core's lines (the grant, the request) reach
 * the application's log callback, not syslog. */
static void test_core_log(void **state) {
  size_t before = sinks.len;

  (void)state;
  sasl_reload(config("debug.conf", "log_level = debug\nauth = password\n"));
  expect_login(IMAP, "XOAUTH2", "alice@contoso.com", EMU_ALICE_PASSWORD);
  assert_non_null(
      strstr(sinks.text + before, "msoauth_grant_password: ROPC for alice"));
  assert_non_null(strstr(sinks.text + before, "attempt_once: POST https://"));
  /* The plugin's own debug line, formatted only at this level. */
  assert_non_null(strstr(sinks.text + before, "XOAUTH2 for alice@contoso.com "
                                              "with a token "));
}

static void test_cache_sharing(void **state) {
  enum { CONCURRENT = 20, SEQUENTIAL = 100 };
  const char *path;
  pid_t pids[CONCURRENT];
  int failed = 0;

  (void)state;
  /* 20 processes queue on one lock: under valgrind that takes a while. */
  path = config("password.conf", "auth = password\ntimeout = 120\n");
  for (int round = 0; round < 2; round++) {
    int n = round == 0 ? CONCURRENT : SEQUENTIAL;

    for (int i = 0; i < n; i++) {
      pid_t pid = fork();

      assert_true(pid >= 0);
      if (pid == 0) {
        struct outcome out;

        if (saslc_load(path) != SASL_OK)
          _exit(2);
        login(IMAP, "XOAUTH2", "alice@contoso.com", NULL, EMU_ALICE_PASSWORD, 0,
              &out);
        if (!out.authenticated)
          fprintf(stderr, "# child: start %d, server \"%s\", \"%s\"\n",
                  out.sasl_start, out.server, out.detail);
        _exit(out.authenticated ? 0 : 1);
      }
      if (round == 0) {
        pids[i] = pid;
      } else {
        int status;

        waitpid(pid, &status, 0);
        failed += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
      }
    }
    for (int i = 0; round == 0 && i < n; i++) {
      int status;

      waitpid(pids[i], &status, 0);
      failed += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    }
    assert_int_equal(failed, 0);
    assert_int_equal(emu_count(&emu, "endpoint:token"), 1);
  }
  assert_int_equal(emu_count(&emu, "endpoint:token"), 1);
}

/* The paths of the tests above once more with log_level = debug (every
 * auth method; wrong password, MFA, throttled, revoked), then a search of
 * every SASL log line and error detail of the whole run for any password,
 * client secret, key or token the emulator issued, or a 16-byte piece of
 * one. Runs last: it also covers the lines of the tests before it. */
static void leak_paths(void) {
  char extra[1024];
  struct outcome out;
  char *token, pw[512];

  /* emu_write_file's path is overwritten by the next config(). */
  snprintf(pw, sizeof(pw), "%s",
           emu_write_file(&emu, "svc.pw", SVC_PASSWORD "\n", 0600));

  sasl_reload(config("debug.conf", "log_level = debug\nauth = password\n"));
  all_logins("alice@contoso.com", EMU_ALICE_PASSWORD);
  expect_login(SMTP, "XOAUTH2", "bob@contoso.com", EMU_BOB_PASSWORD);
  login(IMAP, "XOAUTH2", "carol@bravo.com", NULL, EMU_BOB_PASSWORD "x", 0,
        &out);
  assert_false(out.authenticated);
  login(IMAP, "XOAUTH2", "mfa@contoso.com", NULL, "Password1!", 0, &out);
  assert_non_null(strstr(out.detail, "AADSTS50076"));
  assert_int_equal(emu_post(&emu, "/_emu/fault",
                            "{\"kind\": \"throttle\", \"retry_after\": 30, "
                            "\"count\": -1}"),
                   0);
  login(SMTP, "XOAUTH2", "user3@contoso.com", NULL, "Passw0rd!", 0, &out);
  assert_false(out.authenticated);
  assert_int_equal(emu_reset(&emu), 0);
  assert_int_equal(
      emu_post(&emu, "/_emu/revoke", "{\"user\": \"alice@contoso.com\"}"), 0);
  login(IMAP, "OAUTHBEARER", "alice@contoso.com", NULL, EMU_ALICE_PASSWORD, 0,
        &out);
  assert_non_null(strstr(out.detail, "refused the token"));
  expect_login(IMAP, "XOAUTH2", "alice@contoso.com", EMU_ALICE_PASSWORD);

  token = core_token("bob@contoso.com", EMU_BOB_PASSWORD);
  sasl_reload(config("debug.conf", "log_level = debug\nauth = token\n"));
  all_logins("bob@contoso.com", token);
  free(token);
  sasl_reload(config("debug.conf",
                     "log_level = debug\nauth = refresh\n"
                     "scope = https://outlook.office.com/IMAP.AccessAsUser.All "
                     "offline_access https://outlook.office.com/User.Read\n"));
  expect_login(IMAP, "XOAUTH2", "bob@contoso.com", NULL);
  snprintf(extra, sizeof(extra),
           "log_level = debug\nauth = service_account\n"
           "service_account = svc-mail@contoso.com\n"
           "service_account_password_file = %s\n",
           pw);
  sasl_reload(config("debug.conf", extra));
  all_logins("alice@contoso.com", NULL);
  sasl_reload(config("debug.conf", "log_level = debug\nauth = app\n"
                                   "client_id = " EMU_SECRET_CLIENT "\n"
                                   "client_secret = " EMU_CLIENT_SECRET "\n"));
  all_logins("alice@contoso.com", NULL);
  snprintf(extra, sizeof(extra),
           "log_level = debug\nauth = app\n"
           "client_id = " EMU_CERT_CLIENT "\n"
           "client_certificate_file = %s/client-" EMU_CERT_CLIENT ".crt\n"
           "client_key_file = %s/client-" EMU_CERT_CLIENT ".key\n",
           emu.dir, emu.dir);
  sasl_reload(config("debug.conf", extra));
  all_logins("alice@contoso.com", NULL);
}

static void test_no_secret_leaks(void **state) {
  struct leak_secrets secrets = {0};
  char path[400];
  long issued;

  (void)state;
  leak_paths();
  snprintf(path, sizeof(path), "%s/cache", emu.dir);
  assert_int_equal(leak_sink_listing(&sinks, path), 0);
  /* The debug lines did reach the application's log callback. */
  assert_non_null(strstr(sinks.text, "attempt_once: POST"));
  issued = leak_collect(&secrets, &emu);
  snprintf(path, sizeof(path), "%s/client-" EMU_CERT_CLIENT ".key", emu.dir);
  assert_int_equal(leak_add_pem(&secrets, path), 0);
  fprintf(stderr, "# %zu secrets, %zu bytes of SASL log and details\n",
          secrets.n, sinks.len);
  assert_true(issued >= 30);
  assert_int_equal(leak_find(&secrets, &sinks), 0);
  leak_secrets_free(&secrets);
  leak_sinks_free(&sinks);
}

static int group_setup(void **state) {
  (void)state;
  /* The plugin of the build tree first, then the system's (PLAIN). */
  snprintf(plugin_dir, sizeof(plugin_dir), "%s/sasl_xoauth2/.libs:%s",
           env_or("MSOAUTH_BUILDDIR", "."), SASL_SYSTEM_PLUGINDIR);
  saslc.plugin_dir = plugin_dir;
  saslc.log = sasl_log;
  if (emu_start(&emu, NULL) != 0)
    return -1;
  if (chmod(emu.dir, 0755) != 0 || standin_start() != 0) {
    fprintf(stderr, "# the Dovecot stand-in did not start\n");
    standin_stop();
    emu_stop(&emu);
    return -1;
  }
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  saslc_done();
  standin_stop();
  /* TEST_SASL_KEEP keeps the logs (DIR/standin/dovecot.log) to read. */
  if (getenv("TEST_SASL_KEEP") != NULL) {
    fprintf(stderr, "# kept %s\n", emu.dir);
    emu_kill(&emu);
  } else {
    emu_stop(&emu);
  }
  return 0;
}

/* Whether Dovecot, the stand-in's server, is installed. */
static int have_dovecot(void) {
  return access("/usr/sbin/dovecot", X_OK) == 0 ||
         system("command -v dovecot >/dev/null 2>&1") == 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_exports),
      cmocka_unit_test_setup(test_password, reset),
      cmocka_unit_test_setup(test_wrong_password, reset),
      cmocka_unit_test_setup(test_tenant_and_identity, reset),
      cmocka_unit_test_setup(test_token, reset),
      cmocka_unit_test_setup(test_refresh, reset),
      cmocka_unit_test_setup(test_service_account, reset),
      cmocka_unit_test_setup(test_service_account_cross_domain, reset),
      cmocka_unit_test_setup(test_app_secret, reset),
      cmocka_unit_test_setup(test_app_certificate, reset),
      cmocka_unit_test_setup(test_identity_refusals, reset),
      cmocka_unit_test_setup(test_hostile_passwords, reset),
      cmocka_unit_test_setup(test_faults, reset),
      cmocka_unit_test_setup(test_untrusted_platform, reset),
      cmocka_unit_test_setup(test_expired, reset),
      cmocka_unit_test_setup(test_revoked, reset),
      cmocka_unit_test_setup(test_server_rules, reset),
      cmocka_unit_test_setup(test_broken_config, reset),
      cmocka_unit_test_setup(test_security_flags, reset),
      cmocka_unit_test_setup(test_interact, reset),
      cmocka_unit_test_setup(test_missing_password, reset),
      cmocka_unit_test_setup(test_core_log, reset),
      cmocka_unit_test_setup(test_cache_sharing, reset),
      cmocka_unit_test_setup(test_no_secret_leaks, reset),
  };

  signal(SIGPIPE, SIG_IGN);
  if (!have_dovecot()) {
    /* TAP: a plan of nothing, skipped (Debian: dovecot-imapd,
     * dovecot-pop3d, dovecot-submissiond). */
    printf("1..0 # SKIP dovecot is not installed\n");
    return 0;
  }
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
