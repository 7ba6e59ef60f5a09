#include "config_build.h"
/*
 * test_cli.c - the msoauth command end to end: every command and every exit
 * status, against the Entra ID emulator. Runs the built tools/msoauth
 * (MSOAUTH_BUILDDIR/tools/msoauth); MSOAUTH_CLI_WRAPPER, when set, is put
 * in front of it (e.g. "valgrind -q --error-exitcode=99 --leak-check=full").
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "../emu.h"
#include "../leak.h"

#define OUT_MAX (256 * 1024)

static struct emu emu;
static char conf[512];   /* the test configuration, with profiles */
static char pwfile[512]; /* alice's password, mode 0600 */
static char dconf[512];  /* the same with log_level = debug */

struct run {
  int status; /* exit status, or 128 + signal */
  char out[OUT_MAX];
  char err[OUT_MAX];
};

static struct run r; /* big: static */

/* ------------------------------------------------------------ running */

static const char *msoauth_path(void) {
  static char path[512];
  const char *dir = getenv("MSOAUTH_BUILDDIR");

  snprintf(path, sizeof(path), "%s/tools/msoauth", dir != NULL ? dir : ".");
  return path;
}

static void read_file_into(const char *path, char *buf, size_t size) {
  FILE *f = fopen(path, "r");
  size_t n = 0;

  if (f != NULL) {
    n = fread(buf, 1, size - 1, f);
    fclose(f);
  }
  buf[n] = '\0';
}

/* Writes the len bytes at data (a NUL may be among them) to DIR/name,
 * mode 0600; returns the path, in static storage. */
static const char *write_bytes(const char *name, const char *data,
                               size_t len) {
  static char path[400];
  int fd;

  snprintf(path, sizeof(path), "%s/%s", emu.dir, name);
  unlink(path);
  fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, data, len), (ssize_t)len);
  assert_int_equal(close(fd), 0);
  return path;
}

/* Length of stdin_text for the next start(), when it holds a NUL; 0:
 * strlen. */
static size_t stdin_len;

/* Starts msoauth ARGS... (NULL-terminated) with stdin_text on its stdin
 * (NULL: /dev/null), stdout and stderr to files in the emulator's dir. */
static pid_t start(const char *stdin_text, const char *const *args) {
  char in[400], out[400], err[400];
  char *argv[64];
  char *wrapper = NULL;
  size_t n = 0, n_wrapper;
  pid_t pid;

  snprintf(in, sizeof(in), "%s/cli.in", emu.dir);
  snprintf(out, sizeof(out), "%s/cli.out", emu.dir);
  snprintf(err, sizeof(err), "%s/cli.err", emu.dir);
  if (stdin_text != NULL)
    write_bytes("cli.in", stdin_text,
                stdin_len != 0 ? stdin_len : strlen(stdin_text));
  stdin_len = 0;
  if (getenv("MSOAUTH_CLI_WRAPPER") != NULL &&
      *getenv("MSOAUTH_CLI_WRAPPER") != '\0') {
    /* Words separated by single spaces. */
    wrapper = strdup(getenv("MSOAUTH_CLI_WRAPPER"));
    assert_non_null(wrapper);
    for (char *w = wrapper; w != NULL && *w != '\0' && n < 16;) {
      char *space = strchr(w, ' ');

      if (space != NULL)
        *space++ = '\0';
      if (*w != '\0')
        argv[n++] = w;
      w = space;
    }
  }
  /* Copies: execvp wants mutable strings. */
  n_wrapper = n;
  argv[n++] = strdup(msoauth_path());
  for (size_t i = 0; args[i] != NULL && n < 63; i++)
    argv[n++] = strdup(args[i]);
  argv[n] = NULL;
  pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int fd_in = open(stdin_text != NULL ? in : "/dev/null", O_RDONLY);
    int fd_out = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int fd_err = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    if (fd_in < 0 || fd_out < 0 || fd_err < 0)
      _exit(120);
    dup2(fd_in, 0);
    dup2(fd_out, 1);
    dup2(fd_err, 2);
    execvp(argv[0], argv);
    _exit(121);
  }
  for (size_t i = n_wrapper; i < n; i++)
    free(argv[i]);
  free(wrapper);
  return pid;
}

/* Waits for pid and reads what it wrote into r. */
static int finish(pid_t pid) {
  char path[400];
  int status;

  assert_int_equal(waitpid(pid, &status, 0), pid);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  snprintf(path, sizeof(path), "%s/cli.out", emu.dir);
  read_file_into(path, r.out, sizeof(r.out));
  snprintf(path, sizeof(path), "%s/cli.err", emu.dir);
  read_file_into(path, r.err, sizeof(r.err));
  /* Under valgrind, 99 says it found an error. */
  assert_int_not_equal(r.status, 99);
  return r.status;
}

static int run(const char *stdin_text, const char *const *args) {
  return finish(start(stdin_text, args));
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* The token printed: exactly one line. */
static void assert_one_token(void) {
  size_t len = strlen(r.out);

  assert_true(len > 20);
  assert_int_equal(r.out[len - 1], '\n');
  assert_ptr_equal(strchr(r.out, '\n'), r.out + len - 1);
  assert_null(strchr(r.out, ' '));
}

/* The emulator's view of the token in r.out: a JSON object the caller
 * puts. */
static struct json_object *introspect(void) {
  static char cmd[OUT_MAX + 1024], body[OUT_MAX];
  struct json_object *root, *active;
  const char *python = getenv("PYTHON3");
  const char *src = getenv("MSOAUTH_SRCDIR");
  size_t len = strcspn(r.out, "\n");
  FILE *p;
  size_t n;

  /* A token holds only base64url characters and dots: safe in a shell
   * word. (The control URL of emu_get is too short for a token.) */
  for (size_t i = 0; i < len; i++)
    assert_non_null(
        strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
               "0123456789-_.",
               r.out[i]));
  snprintf(cmd, sizeof(cmd),
           "%s %s/tests/emulator/emuctl.py --state-dir %s introspect %.*s",
           python != NULL && *python ? python : "/usr/bin/python3",
           src != NULL ? src : ".", emu.dir, (int)len, r.out);
  p = popen(cmd, "r");
  assert_non_null(p);
  n = fread(body, 1, sizeof(body) - 1, p);
  body[n] = '\0';
  assert_int_equal(pclose(p), 0);
  root = json_tokener_parse(body);
  assert_non_null(root);
  assert_true(json_object_object_get_ex(root, "active", &active));
  assert_true(json_object_get_boolean(active));
  return root;
}

static const char *member(struct json_object *obj, const char *key) {
  struct json_object *v;

  if (!json_object_object_get_ex(obj, key, &v))
    return NULL;
  return json_object_get_string(v);
}

static void clear_cache(void) {
  char cmd[400];

  snprintf(cmd, sizeof(cmd), "rm -rf '%s/cache'", emu.dir);
  assert_int_equal(system(cmd), 0);
}

/* A configuration of its own (emu_write_config's keys cannot be given
 * twice): authority, tenant and cache_dir as given, NULL for the
 * emulator's; extra lines (may be NULL). Returns the path, in static
 * storage. */
static const char *own_config(const char *name, const char *authority,
                              const char *tenant, const char *cache_dir,
                              const char *extra) {
  static char path[512];
  char text[2048];
  const char *written;

  snprintf(text, sizeof(text),
           "authority = %s\ntenant = %s\nclient_id = " EMU_PUBLIC_CLIENT "\n"
           "ca_file = %s\ncache_dir = %s%s\nretries = 0\ntimeout = 5\n"
           "connect_timeout = 2\n%s",
           authority != NULL ? authority : emu.url,
           tenant != NULL ? tenant : "contoso.com", emu.ca,
           cache_dir != NULL ? cache_dir : emu.dir,
           cache_dir != NULL ? "" : "/cache", extra != NULL ? extra : "");
  written = emu_write_file(&emu, name, text, 0600);
  assert_non_null(written);
  snprintf(path, sizeof(path), "%s", written);
  return path;
}

/* What ls and sha256sum say of every file in dir (names, inodes, owners,
 * times to the nanosecond, contents), into buf. */
static void dir_state(const char *dir, char *buf, size_t size) {
  char cmd[800];
  FILE *p;
  size_t n;

  snprintf(cmd, sizeof(cmd),
           "cd '%s' && stat -c '%%n %%i %%u %%s %%y' * && sha256sum *", dir);
  p = popen(cmd, "r");
  assert_non_null(p);
  n = fread(buf, 1, size - 1, p);
  buf[n] = '\0';
  assert_int_equal(pclose(p), 0);
}

/* ------------------------------------------------------------ fixtures */

/* NAME in the emulator's dir: first, then the profiles every test uses. */
static const char *write_profiles(const char *name, const char *first) {
  char extra[4096];

  snprintf(extra, sizeof(extra),
           "%s"
           "retries = 0\n"
           "timeout = 5\n"
           "connect_timeout = 2\n"
           "[refresh]\n"
           "auth = refresh\n"
           "[app]\n"
           "auth = app\n"
           "client_id = " EMU_SECRET_CLIENT "\n"
           "client_secret_file = %s/secret\n"
           "[cert]\n"
           "auth = app\n"
           "client_id = " EMU_CERT_CLIENT "\n"
           "client_certificate_file = %s/client-" EMU_CERT_CLIENT ".crt\n"
           "client_key_file = %s/client-" EMU_CERT_CLIENT ".key\n"
           "[svc]\n"
           "auth = service_account\n"
           "domains = contoso.com, bravo.com\n"
           "service_account = svc-mail@contoso.com\n"
           "service_account_password_file = %s/svc-password\n"
           "[svclogin]\n"
           "auth = service_account\n"
           "service_account = svc-mail@contoso.com\n"
           "[token]\n"
           "auth = token\n",
           first, emu.dir, emu.dir, emu.dir, emu.dir);
  return emu_write_config(&emu, name, extra);
}

static int write_configs(void) {
  const char *path;

  path = emu_write_file(&emu, "secret", EMU_CLIENT_SECRET "\n", 0600);
  if (path == NULL)
    return -1;
  path = emu_write_file(&emu, "svc-password", "Service-Account-Pw1\n", 0600);
  if (path == NULL)
    return -1;
  path = emu_write_file(&emu, "alice-password", EMU_ALICE_PASSWORD "\n", 0600);
  if (path == NULL)
    return -1;
  snprintf(pwfile, sizeof(pwfile), "%s", path);
  path = write_profiles("cli.conf", "");
  if (path == NULL)
    return -1;
  snprintf(conf, sizeof(conf), "%s", path);
  path = write_profiles("debug.conf", "log_level = debug\n");
  if (path == NULL)
    return -1;
  snprintf(dconf, sizeof(dconf), "%s", path);
  return 0;
}

static int setup(void **state) {
  (void)state;
  if (emu_start(&emu, NULL) != 0)
    return -1;
  return write_configs();
}

static int teardown(void **state) {
  (void)state;
  emu_stop(&emu);
  return 0;
}

/* Each test: an empty cache, fresh counters and default options. */
static int before(void **state) {
  (void)state;
  clear_cache();
  return emu_post(&emu, "/_emu/reset", "{\"tokens\": true}");
}

/* ------------------------------------------------------------ usage */

struct usage_case {
  const char *const *args;
  int status;
  const char *out; /* a piece of stdout, or NULL */
  const char *err; /* a piece of stderr, or NULL */
};

static void test_usage(void **state) {
  static char missing[600];
  const struct usage_case cases[] = {
      {ARGS("--help"), 0, "usage: msoauth", NULL},
      {ARGS("-h"), 0, "cache forget USER", NULL},
      {ARGS("--version"), 0, PACKAGE_VERSION, NULL},
      {ARGS("-c", conf), 2, NULL, "usage: msoauth"},
      {ARGS("-c", conf, "frobnicate"), 2, NULL, "unknown command frobnicate"},
      {ARGS("--frobnicate"), 2, NULL, "unknown option --frobnicate"},
      {ARGS("-c"), 2, NULL, "needs an argument"},
      {ARGS("-c", conf, "token"), 2, NULL,
       "usage: msoauth token [--renew] USER"},
      {ARGS("-c", conf, "token", "a", "b"), 2, NULL, "usage"},
      {ARGS("-c", conf, "cache"), 2, NULL, "usage: msoauth cache"},
      {ARGS("-c", conf, "cache", "forget"), 2, NULL, "usage"},
      {ARGS("-c", conf, "check", "a", "b"), 2, NULL, "usage"},
      {ARGS("-c", conf, "login", "a", "b"), 2, NULL, "usage"},
      {ARGS("-c", missing, "token", "alice@contoso.com"), 2, NULL, missing},
      {ARGS("-c", conf, "-p", "nosuch", "token", "alice@contoso.com"), 2, NULL,
       "nosuch"},
      /* login is for the profiles that keep a refresh token */
      {ARGS("-c", conf, "login", "alice@contoso.com"), 2, NULL,
       "auth = password"},
      {ARGS("-c", conf, "-p", "refresh", "login"), 2, NULL,
       "usage: msoauth login USER"},
      {ARGS("-c", conf, "-p", "svclogin", "login", "alice@contoso.com"), 2,
       NULL, "svc-mail@contoso.com"},
  };

  (void)state;
  snprintf(missing, sizeof(missing), "%s/no-such.conf", emu.dir);
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    const struct usage_case *c = &cases[i];

    assert_int_equal(run(NULL, c->args), c->status);
    if (c->out != NULL)
      assert_non_null(strstr(r.out, c->out));
    if (c->err != NULL)
      assert_non_null(strstr(r.err, c->err));
    if (c->status != 0)
      assert_string_equal(r.out, "");
  }
  assert_int_equal(emu_count(&emu, "total"), 0);
}

/* ------------------------------------------------------------ token */

/* auth = password, the password on stdin; the second call is served from
 * the cache. */
static void test_token_password_stdin(void **state) {
  struct json_object *info;
  char first[OUT_MAX];

  (void)state;
  assert_int_equal(run(EMU_ALICE_PASSWORD "\n",
                       ARGS("-c", conf, "token", "Alice@Contoso.com")),
                   0);
  assert_one_token();
  info = introspect();
  assert_string_equal(member(info, "upn"), "alice@contoso.com");
  assert_non_null(strstr(member(info, "scp"), "IMAP.AccessAsUser.All"));
  json_object_put(info);
  assert_int_equal(emu_count(&emu, "grant:password"), 1);
  /* No line end at all works too. */
  memcpy(first, r.out, sizeof(first));
  assert_int_equal(
      run(EMU_ALICE_PASSWORD, ARGS("-c", conf, "token", "alice@contoso.com")),
      0);
  assert_string_equal(r.out, first);
  assert_int_equal(emu_count(&emu, "endpoint:token"), 1);
  /* bob's password is full of form characters. */
  assert_int_equal(run(EMU_BOB_PASSWORD "\r\n",
                       ARGS("-c", conf, "token", "bob@contoso.com")),
                   0);
  assert_one_token();
}

/* auth = password, --password-file: only a private file is accepted. */
static void test_token_password_file(void **state) {
  const char *loose;

  (void)state;
  assert_int_equal(run(NULL, ARGS("-c", conf, "--password-file", pwfile,
                                  "token", "alice@contoso.com")),
                   0);
  assert_one_token();
  loose = emu_write_file(&emu, "loose-password", EMU_ALICE_PASSWORD, 0644);
  assert_non_null(loose);
  assert_int_equal(run(NULL, ARGS("-c", conf, "--password-file", loose, "token",
                                  "alice@contoso.com")),
                   2);
  assert_string_equal(r.out, "");
  assert_int_equal(emu_count(&emu, "endpoint:token"), 1);
}

struct fail_case {
  const char *stdin_text;
  const char *const *args;
  int status;
  const char *err; /* a piece of stderr */
  long requests;   /* token requests it makes */
};

/* Refusals: exit status 1, nothing on stdout, no password in the
 * message. */
static void test_token_refused(void **state) {
  const struct fail_case cases[] = {
      {"wrong password\n", ARGS("-c", conf, "token", "alice@contoso.com"), 1,
       "AADSTS50126", 1},
      {"", ARGS("-c", conf, "token", "alice@contoso.com"), 1, "empty", 0},
      {"x\n", ARGS("-c", conf, "token", "alice@fabrikam.com"), 1,
       "fabrikam.com", 0},
      {"Password1!\n", ARGS("-c", conf, "token", "locked@contoso.com"), 1,
       "AADSTS50053", 1},
      {"Password1!\n", ARGS("-c", conf, "token", "mfa@contoso.com"), 1,
       "AADSTS50076", 1},
      {NULL, ARGS("-c", conf, "-p", "refresh", "token", "alice@contoso.com"), 1,
       "-p refresh login alice@contoso.com", 0},
      {NULL, ARGS("-c", conf, "-p", "svc", "token", "carol@bravo.com"), 1,
       "bravo.com", 0},
      {"has space\n",
       ARGS("-c", conf, "-p", "token", "token", "alice@contoso.com"), 2,
       "cannot hold", 0},
  };

  (void)state;
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    const struct fail_case *c = &cases[i];

    assert_int_equal(emu_reset(&emu), 0);
    assert_int_equal(run(c->stdin_text, c->args), c->status);
    assert_string_equal(r.out, "");
    assert_non_null(strstr(r.err, c->err));
    assert_null(strstr(r.err, "wrong password"));
    assert_int_equal(emu_count(&emu, "endpoint:token"), c->requests);
  }
}

/* auth = app with a client secret, and with a certificate. */
static void test_token_app(void **state) {
  static const char *const profiles[] = {"app", "cert"};
  static const char *const auths[] = {"secret", "assertion"};
  struct json_object *info;
  char *requests;

  (void)state;
  for (size_t i = 0; i < 2; i++) {
    assert_int_equal(run(NULL, ARGS("-c", conf, "-p", profiles[i], "token",
                                    "shared@contoso.com")),
                     0);
    assert_one_token();
    info = introspect();
    assert_non_null(
        strstr(json_object_to_json_string(info), "IMAP.AccessAsApp"));
    json_object_put(info);
    requests = emu_get(&emu, "/_emu/requests?last=1");
    assert_non_null(requests);
    assert_non_null(strstr(requests, auths[i]));
    assert_non_null(strstr(requests, "client_credentials"));
    free(requests);
  }
}

/* auth = service_account: the service account's token, for a target of
 * its domain. */
static void test_token_service_account(void **state) {
  struct json_object *info;

  (void)state;
  assert_int_equal(
      run(NULL, ARGS("-c", conf, "-p", "svc", "token", "bob@contoso.com")), 0);
  assert_one_token();
  info = introspect();
  assert_string_equal(member(info, "upn"), "svc-mail@contoso.com");
  json_object_put(info);
  assert_int_equal(emu_count(&emu, "user:svc-mail@contoso.com"), 1);
}

/* auth = token: the token given on stdin comes out as it is. */
static void test_token_given(void **state) {
  (void)state;
  assert_int_equal(
      run("eyJ0eXAi.given.token\n",
          ARGS("-c", conf, "-p", "token", "token", "alice@contoso.com")),
      0);
  assert_string_equal(r.out, "eyJ0eXAi.given.token\n");
  assert_int_equal(emu_count(&emu, "total"), 0);
}

/* The identity platform cannot be reached or keeps failing: 3. */
static void test_token_unreachable(void **state) {
  const char *dead;

  (void)state;
  assert_int_equal(emu_post(&emu, "/_emu/fault",
                            "{\"kind\": \"status\", \"status\": 503, "
                            "\"count\": -1, \"endpoint\": \"token\"}"),
                   0);
  assert_int_equal(run(EMU_ALICE_PASSWORD "\n",
                       ARGS("-c", conf, "token", "alice@contoso.com")),
                   3);
  assert_string_equal(r.out, "");
  dead = own_config("dead.conf", "https://127.0.0.1:1", NULL, NULL, NULL);
  assert_int_equal(run(EMU_ALICE_PASSWORD "\n",
                       ARGS("-c", dead, "token", "alice@contoso.com")),
                   3);
  assert_string_equal(r.out, "");
  /* login cannot even start the device-code flow. */
  dead = own_config("deadlogin.conf", "https://127.0.0.1:1", NULL, NULL,
                    "auth = refresh\n");
  assert_int_equal(run(NULL, ARGS("-c", dead, "login", "alice@contoso.com")),
                   3);
  assert_non_null(strstr(r.err, "device-code"));
}

/* ------------------------------------------------------------ hostile */

/* A literal that may hold a NUL, and its length. */
#define RAW(s) s, sizeof(s) - 1

static double now_s(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* stderr holds only whole lines of msoauth's, without a raw control
 * character: a name or an answer cannot forge or break a line. */
static void assert_clean_err(void) {
  for (const char *p = r.err; *p != '\0'; p++)
    assert_false(((unsigned char)*p < 0x20 && *p != '\n') || *p == 0x7f);
  for (const char *p = r.err; p != NULL && *p != '\0';) {
    assert_int_equal(strncmp(p, "msoauth: ", 9), 0);
    p = strchr(p, '\n');
    if (p != NULL)
      p++;
  }
}

/* Hostile user names as the argument (an argument cannot hold a NUL):
 * refused before any request, with a clean message. */
static void test_token_hostile_names(void **state) {
  static char name300[301], name64k[64 * 1024 + 1];
  static const struct {
    const char *user;
    const char *err;
  } cases[] = {
      {"alice\001@contoso.com", "control"},
      {"alice@contoso.com\rX", "control"},
      {"alice@contoso.com\nX", "control"},
      {"alice@contoso.com\r\nX", "control"},
      {"\x7f" "alice@contoso.com", "control"},
      {name300, "longer than 256"},
      {name64k, "longer than 256"},
      {"al\xffice@contoso.com", "UTF-8"},
      {"\xc0\xaf" "alice@contoso.com", "UTF-8"},
  };

  (void)state;
  memset(name300, 'a', sizeof(name300) - 1);
  memcpy(name300 + 300 - 12, "@contoso.com", 12);
  memset(name64k, 'a', sizeof(name64k) - 1);
  memcpy(name64k + 64 * 1024 - 12, "@contoso.com", 12);
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    assert_int_equal(
        run(EMU_ALICE_PASSWORD "\n", ARGS("-c", conf, "token", cases[i].user)),
        1);
    if (strstr(r.err, cases[i].err) == NULL)
      fprintf(stderr, "# case %zu: %s", i, r.err);
    assert_string_equal(r.out, "");
    assert_non_null(strstr(r.err, cases[i].err));
    assert_clean_err();
  }
  assert_int_equal(emu_count(&emu, "total"), 0);
}

/* Hostile passwords on stdin and in --password-file: what a local rule
 * decides makes no request; what only Entra can judge is sent whole. */
static void test_token_hostile_passwords(void **state) {
  static char pw64k[64 * 1024 + 1];
  static const struct {
    const char *text;
    size_t len;
    int file;  /* --password-file, else stdin */
    int status;
    const char *err;
    long requests;
  } cases[] = {
      {RAW("   \n"), 0, 1, "AADSTS50126", 1},
      {RAW(EMU_ALICE_PASSWORD "\0junk\n"), 0, 2, "NUL", 0},
      {RAW("\0" EMU_ALICE_PASSWORD "\n"), 0, 2, "NUL", 0},
      {pw64k, 64 * 1024, 0, 1, "AADSTS50126", 1},
      {pw64k, 64 * 1024 + 1, 0, 2, "longer than", 0},
      {RAW("   "), 1, 1, "AADSTS50126", 1},
      {RAW(EMU_ALICE_PASSWORD "\0junk\n"), 1, 2, "NUL", 0},
      {RAW(""), 1, 2, "empty", 0},
      {RAW("\n"), 1, 2, "empty", 0},
      {pw64k, 64 * 1024, 1, 1, "AADSTS50126", 1},
      {pw64k, 64 * 1024 + 1, 1, 2, "larger than", 0},
  };

  (void)state;
  memset(pw64k, 'p', sizeof(pw64k));
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char path[400];
    int status;

    assert_int_equal(emu_reset(&emu), 0);
    if (cases[i].file) {
      snprintf(path, sizeof(path), "%s",
               write_bytes("hostile-pw", cases[i].text, cases[i].len));
      status = run(NULL, ARGS("-c", conf, "--password-file", path, "token",
                              "alice@contoso.com"));
    } else {
      stdin_len = cases[i].len;
      status = run(cases[i].text, ARGS("-c", conf, "token", "alice@contoso.com"));
    }
    if (status != cases[i].status || strstr(r.err, cases[i].err) == NULL)
      fprintf(stderr, "# case %zu: %d %s", i, status, r.err);
    assert_int_equal(status, cases[i].status);
    assert_string_equal(r.out, "");
    assert_non_null(strstr(r.err, cases[i].err));
    assert_clean_err();
    assert_int_equal(emu_count(&emu, "endpoint:token"), cases[i].requests);
  }
}

/* ------------------------------------------------------------ faults */

/* The faults every host runs (tests/emu.c): exit status 0 or 3 within the
 * time bounds; a failure prints nothing, says why and caches nothing. */
static void test_token_faults(void **state) {
  char path[512];

  (void)state;
  snprintf(path, sizeof(path), "%s",
           emu_write_config(&emu, "faults.conf", EMU_FAULT_CONFIG));
  for (size_t i = 0; i < emu_n_faults; i++) {
    const struct emu_fault *c = &emu_faults[i];
    double t0, elapsed;
    int status;

    assert_int_equal(before(NULL), 0);
    assert_int_equal(emu_post(&emu, "/_emu/fault", c->fault), 0);
    t0 = now_s();
    status =
        run(EMU_ALICE_PASSWORD "\n", ARGS("-c", path, "token", "alice@contoso.com"));
    elapsed = now_s() - t0;
    fprintf(stderr, "# fault %zu: exit %d, %.2f s, %ld requests\n", i, status,
            elapsed, emu_count(&emu, "endpoint:token"));
    assert_int_equal(status, c->ok ? 0 : 3);
    assert_true(elapsed >= c->min_s);
    assert_true(elapsed <= c->max_s);
    if (c->requests >= 0)
      assert_int_equal(emu_count(&emu, "endpoint:token"), c->requests);
    if (c->ok) {
      assert_one_token();
      continue;
    }
    assert_string_equal(r.out, "");
    if (strstr(r.err, c->expect) == NULL)
      fprintf(stderr, "# %s", r.err);
    assert_non_null(strstr(r.err, c->expect));
    assert_clean_err();
    /* Nothing was cached: the next call asks, once. */
    assert_int_equal(emu_reset(&emu), 0);
    assert_int_equal(run(EMU_ALICE_PASSWORD "\n",
                         ARGS("-c", path, "token", "alice@contoso.com")),
                     0);
    assert_int_equal(emu_count(&emu, "endpoint:token"), 1);
  }
}

/* A certificate of another CA or for another host: 3, no request. */
static void test_token_untrusted(void **state) {
  static const char *const identities[] = {"other-ca", "wrong-host"};

  (void)state;
  for (size_t i = 0; i < 2; i++) {
    const char *args[] = {"--tls-identity", identities[i], NULL};
    struct emu other;
    char path[512];

    memset(&other, 0, sizeof(other));
    assert_int_equal(emu_start(&other, args), 0);
    snprintf(path, sizeof(path), "%s",
             emu_write_config(&other, "tls.conf", EMU_FAULT_CONFIG));
    assert_int_equal(run(EMU_ALICE_PASSWORD "\n",
                         ARGS("-c", path, "token", "alice@contoso.com")),
                     3);
    assert_string_equal(r.out, "");
    assert_non_null(strstr(r.err, "certificate"));
    assert_clean_err();
    assert_int_equal(emu_ctl_total(&other), 0);
    emu_stop(&other);
  }
}

/* A cached token that expired is replaced once: 1 request, then 0. */
static void test_token_expired(void **state) {
  char path[512], first[OUT_MAX], second[OUT_MAX];

  (void)state;
  snprintf(path, sizeof(path), "%s",
           emu_write_config(&emu, "expiry.conf", "refresh_margin = 0\n"));
  assert_int_equal(emu_post(&emu, "/_emu/fault",
                            "{\"kind\": \"expires\", \"expires_in\": 1}"),
                   0);
  assert_int_equal(
      run(EMU_ALICE_PASSWORD "\n", ARGS("-c", path, "token", "alice@contoso.com")),
      0);
  memcpy(first, r.out, sizeof(first));
  assert_int_equal(emu_count(&emu, "endpoint:token"), 1);
  usleep(1500 * 1000);
  assert_int_equal(
      run(EMU_ALICE_PASSWORD "\n", ARGS("-c", path, "token", "alice@contoso.com")),
      0);
  assert_int_equal(emu_count(&emu, "endpoint:token"), 2);
  assert_string_not_equal(r.out, first);
  snprintf(second, sizeof(second), "%s", r.out);
  assert_int_equal(
      run(EMU_ALICE_PASSWORD "\n", ARGS("-c", path, "token", "alice@contoso.com")),
      0);
  assert_int_equal(emu_count(&emu, "endpoint:token"), 2);
  assert_string_equal(r.out, second);
}

/* Root's msoauth never uses another user's cache (Postfix's, for its
 * auth = refresh): refused with the directory and its owner named, no
 * request, and nobody's entry left exactly as it was. */
static void test_token_foreign_cache(void **state) {
  static char before[8192], after[8192];
  char dir[400], cfg[512], cmd[600];
  const struct {
    const char *const *args;
  } cases[] = {
      {ARGS("-c", cfg, "token", "alice@contoso.com")},
      {ARGS("-c", cfg, "cache", "list")},
      {ARGS("-c", cfg, "cache", "forget", "alice@contoso.com")},
  };

  (void)state;
  if (geteuid() != 0)
    skip(); /* needs root to chown */
  snprintf(dir, sizeof(dir), "%s/nobody-cache", emu.dir);
  snprintf(cfg, sizeof(cfg), "%s",
           own_config("nobody.conf", NULL, NULL, dir, "auth = password\n"));
  /* An entry with a refresh token, then all of it nobody's. */
  assert_int_equal(run(EMU_ALICE_PASSWORD "\n",
                       ARGS("-c", cfg, "token", "alice@contoso.com")),
                   0);
  snprintf(cmd, sizeof(cmd), "chown -R 65534:65534 '%s'", dir);
  assert_int_equal(system(cmd), 0);
  dir_state(dir, before, sizeof(before));
  assert_non_null(strstr(before, ".json "));
  assert_int_equal(emu_reset(&emu), 0);
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    assert_int_equal(run(EMU_ALICE_PASSWORD "\n", cases[i].args), 2);
    assert_string_equal(r.out, "");
    assert_non_null(strstr(r.err, dir));
    assert_non_null(strstr(r.err, "uid 65534"));
  }
  assert_int_equal(emu_count(&emu, "total"), 0);
  dir_state(dir, after, sizeof(after));
  assert_string_equal(after, before);
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

/* A lock file of another owner in root's own cache (left by nobody, say):
 * the token is still printed, but not stored without the lock, and the
 * warning names the lock file. */
static void test_token_foreign_lock(void **state) {
  char dir[400], cfg[512], cmd[800];

  (void)state;
  if (geteuid() != 0)
    skip(); /* needs root to chown */
  snprintf(dir, sizeof(dir), "%s/cache", emu.dir);
  snprintf(cfg, sizeof(cfg), "%s",
           own_config("lock.conf", NULL, NULL, NULL, "auth = password\n"));
  assert_int_equal(run(EMU_ALICE_PASSWORD "\n",
                       ARGS("-c", cfg, "token", "alice@contoso.com")),
                   0);
  snprintf(cmd, sizeof(cmd),
           "cd '%s' && rm *.json && chown 65534:65534 *.lock", dir);
  assert_int_equal(system(cmd), 0);
  assert_int_equal(run(EMU_ALICE_PASSWORD "\n",
                       ARGS("-c", cfg, "token", "alice@contoso.com")),
                   0);
  assert_one_token();
  snprintf(cmd, sizeof(cmd), "ls '%s' | grep -q 'json$'", dir);
  assert_int_not_equal(system(cmd), 0);
  assert_non_null(strstr(r.err, ".lock belongs to uid 65534"));
  assert_non_null(strstr(r.err, "could not cache the token"));
}

/* ------------------------------------------------------------ login */

/* The user code of the one pending device code, waiting for it. */
static void pending_code(char *code, size_t size) {
  for (int i = 0; i < 200; i++) {
    char *body = emu_get(&emu, "/_emu/device");
    struct json_object *root = body != NULL ? json_tokener_parse(body) : NULL;
    struct json_object *pending, *first, *uc;

    free(body);
    if (root != NULL && json_object_object_get_ex(root, "pending", &pending) &&
        json_object_array_length(pending) > 0) {
      first = json_object_array_get_idx(pending, 0);
      assert_true(json_object_object_get_ex(first, "user_code", &uc));
      snprintf(code, size, "%s", json_object_get_string(uc));
      json_object_put(root);
      return;
    }
    json_object_put(root);
    usleep(50 * 1000);
  }
  fail_msg("no device code became pending");
}

/* Runs `login` in profile with USER (may be NULL), and acts on the code. */
static int login(const char *profile, const char *user, const char *action,
                 const char *as) {
  char code[64], json[256];
  pid_t pid;

  pid =
      start(NULL, user != NULL ? ARGS("-c", conf, "-p", profile, "login", user)
                               : ARGS("-c", conf, "-p", profile, "login"));
  pending_code(code, sizeof(code));
  if (action != NULL) {
    snprintf(json, sizeof(json),
             "{\"user_code\": \"%s\", \"action\": \"%s\", \"user\": \"%s\"}",
             code, action, as != NULL ? as : "");
    assert_int_equal(emu_post(&emu, "/_emu/device", json), 0);
  }
  finish(pid);
  /* Microsoft's message, with the code in it, went to stdout. */
  assert_non_null(strstr(r.out, code));
  return r.status;
}

/* Approved: the refresh token is stored, and `token` uses it. */
static void test_login_approve(void **state) {
  struct json_object *info;

  (void)state;
  /* Short-lived access tokens: the next `token` must refresh. */
  assert_int_equal(emu_post(&emu, "/_emu/options",
                            "{\"device_interval\": 1, \"expires_in\": 300}"),
                   0);
  assert_int_equal(
      login("refresh", "alice@contoso.com", "approve", "alice@contoso.com"), 0);
  assert_non_null(strstr(r.out, "Signed in as alice@contoso.com"));
  assert_int_equal(emu_count(&emu, "grant:refresh_token"), 0);
  assert_int_equal(run(NULL, ARGS("-c", conf, "-p", "refresh", "token",
                                  "alice@contoso.com")),
                   0);
  assert_one_token();
  info = introspect();
  assert_string_equal(member(info, "upn"), "alice@contoso.com");
  json_object_put(info);
  assert_int_equal(emu_count(&emu, "grant:refresh_token"), 1);
}

/* A service account signs in once; tokens for its targets follow. */
static void test_login_service_account(void **state) {
  struct json_object *info;

  (void)state;
  assert_int_equal(emu_post(&emu, "/_emu/options", "{\"device_interval\": 1}"),
                   0);
  assert_int_equal(login("svclogin", NULL, "approve", "svc-mail@contoso.com"),
                   0);
  assert_int_equal(
      run(NULL, ARGS("-c", conf, "-p", "svclogin", "token", "bob@contoso.com")),
      0);
  info = introspect();
  assert_string_equal(member(info, "upn"), "svc-mail@contoso.com");
  json_object_put(info);
  /* From what login stored: no password grant at all. */
  assert_int_equal(emu_count(&emu, "grant:password"), 0);
}

struct login_case {
  const char *options;
  const char *action; /* NULL: let it expire */
  const char *as;
  const char *err;
};

/* Denied, expired by the platform, timed out, or someone else signed in:
 * exit status 1 and nothing stored. */
static void test_login_refused(void **state) {
  static const struct login_case cases[] = {
      {"{\"device_interval\": 1}", "deny", NULL, "declined"},
      {"{\"device_interval\": 1}", "expire", NULL, "expired"},
      {"{\"device_interval\": 1, \"device_expires_in\": 3}", NULL, NULL,
       "expired"},
      {"{\"device_interval\": 1}", "approve", "bob@contoso.com",
       "bob@contoso.com"},
  };

  (void)state;
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    const struct login_case *c = &cases[i];

    assert_int_equal(before(NULL), 0);
    assert_int_equal(emu_post(&emu, "/_emu/options", c->options), 0);
    assert_int_equal(login("refresh", "alice@contoso.com", c->action, c->as),
                     1);
    assert_non_null(strstr(r.err, c->err));
    assert_int_equal(run(NULL, ARGS("-c", conf, "-p", "refresh", "token",
                                    "alice@contoso.com")),
                     1);
  }
}

/* The case: `msoauth login alice`, bob signs in in the browser,
 * and the answer has no id token and an opaque access token. Nobody can be
 * read from it: refused, and nothing is stored as alice's. */
static void test_login_no_identity(void **state) {
  (void)state;
  assert_int_equal(emu_post(&emu, "/_emu/options", "{\"device_interval\": 1}"),
                   0);
  assert_int_equal(
      emu_post(&emu, "/_emu/fault", "{\"kind\": \"opaque\", \"count\": -1}"),
      0);
  assert_int_equal(login("refresh", "alice@contoso.com", "approve",
                         "bob@contoso.com"),
                   1);
  assert_non_null(strstr(r.err, "no id token"));
  assert_null(strstr(r.out, "Signed in"));
  assert_int_equal(emu_reset(&emu), 0);
  assert_int_equal(run(NULL, ARGS("-c", conf, "cache", "list")), 0);
  assert_null(strstr(r.out, "alice@contoso.com"));
  assert_null(strstr(r.out, "bob@contoso.com"));
  assert_int_equal(run(NULL, ARGS("-c", conf, "-p", "refresh", "token",
                                  "alice@contoso.com")),
                   1);
  assert_int_equal(emu_count(&emu, "endpoint:token"), 0);
  /* The device-code request asked for the id token. */
  assert_int_equal(before(NULL), 0);
  assert_int_equal(emu_post(&emu, "/_emu/options", "{\"device_interval\": 1}"),
                   0);
  assert_int_equal(
      login("refresh", "alice@contoso.com", "approve", "alice@contoso.com"), 0);
  {
    char *log = emu_get(&emu, "/_emu/requests?last=5");

    assert_non_null(log);
    assert_non_null(strstr(log, "\"endpoint\":\"devicecode\""));
    assert_non_null(strstr(log, "openid"));
    free(log);
  }
}

/* Microsoft's message reaches a terminal: no control character of it
 * (an OSC that retitles the window, CSI that clears the screen, C1 CSI,
 * a CR that rewrites the line, BEL) gets there. */
static void test_login_message_controls(void **state) {
  (void)state;
  assert_int_equal(emu_post(&emu, "/_emu/options", "{\"device_interval\": 1}"),
                   0);
  assert_int_equal(
      emu_post(&emu, "/_emu/fault",
               "{\"kind\": \"message\", \"endpoint\": \"devicecode\", "
               "\"message\": \"\\u001b]0;owned\\u0007\\u001b[2JEnter "
               "{code} at https://microsoft.com/devicelogin\\r\\u009b31m"
               "\\u007fFake prompt: \\u00e9t\\u00e9\"}"),
      0);
  assert_int_equal(
      login("refresh", "alice@contoso.com", "approve", "alice@contoso.com"), 0);
  assert_non_null(strstr(r.out, "https://microsoft.com/devicelogin"));
  assert_null(strchr(r.out, '\x1b'));
  assert_null(strchr(r.out, '\a'));
  assert_null(strchr(r.out, '\r'));
  assert_null(strchr(r.out, '\x7f'));
  assert_null(strstr(r.out, "\xc2\x9b"));
  /* Printable text, UTF-8 included, is kept. */
  assert_non_null(strstr(r.out, "Fake prompt: \xc3\xa9t\xc3\xa9"));
}

/* organizations without domains would take every tenant's users: the
 * file is refused at the line of tenant, and check says so. */
static void test_check_organizations(void **state) {
  const char *path;
  char want[600];

  (void)state;
  path = own_config("orgs.conf", NULL, "organizations", NULL, NULL);
  snprintf(want, sizeof(want), "%s:2: tenant: organizations needs domains",
           path);
  assert_int_equal(run(NULL, ARGS("-c", path, "check")), 2);
  assert_non_null(strstr(r.out, want));
  assert_int_equal(run(EMU_ALICE_PASSWORD "\n",
                       ARGS("-c", path, "token", "alice@contoso.com")),
                   2);
  assert_non_null(strstr(r.err, want));
  assert_int_equal(emu_count(&emu, "total"), 0);
  path = own_config("orgs2.conf", NULL, "organizations", NULL,
                    "domains = contoso.com\n");
  assert_int_equal(run(NULL, ARGS("-c", path, "check")), 0);
  assert_non_null(strstr(r.out, "ok: users accepted: domains contoso.com\n"));
  assert_int_equal(run(EMU_ALICE_PASSWORD "\n",
                       ARGS("-c", path, "token", "alice@contoso.com")),
                   0);
  /* With the tenant id, check says what every token must name. */
  path = own_config("guid.conf", NULL, EMU_TENANT_ID, NULL, NULL);
  assert_int_equal(run(NULL, ARGS("-c", path, "check")), 0);
  assert_non_null(strstr(r.out, "users accepted: any domain of tenant "
                                EMU_TENANT_ID
                                " (every token's tid must be it)"));
}

/* A tenant id: a token naming another tenant is refused (exit 1), and not
 * cached. */
static void test_token_foreign_tenant(void **state) {
  const char *path;

  (void)state;
  path = own_config("guid.conf", NULL, EMU_TENANT_ID, NULL, NULL);
  assert_int_equal(emu_post(&emu, "/_emu/fault", "{\"kind\": \"tenant\"}"), 0);
  assert_int_equal(run(EMU_ALICE_PASSWORD "\n",
                       ARGS("-c", path, "token", "alice@contoso.com")),
                   1);
  assert_non_null(strstr(r.err, "another tenant"));
  assert_string_equal(r.out, "");
  assert_int_equal(run(EMU_ALICE_PASSWORD "\n",
                       ARGS("-c", path, "token", "alice@contoso.com")),
                   0);
  assert_int_equal(emu_count(&emu, "endpoint:token"), 2);
}

/* slow_down: the next poll comes 5 s later, and the sign-in completes. */
static void test_login_slow_down(void **state) {
  time_t t0 = time(NULL);

  (void)state;
  assert_int_equal(emu_post(&emu, "/_emu/options", "{\"device_interval\": 1}"),
                   0);
  /* Microsoft's slow_down answer, once, to the first poll. */
  assert_int_equal(
      emu_post(&emu, "/_emu/fault",
               "{\"kind\": \"status\", \"status\": 400, \"endpoint\": "
               "\"token\", \"content_type\": \"application/json\", "
               "\"body\": \"{\\\"error\\\": \\\"slow_down\\\", "
               "\\\"error_codes\\\": [70016]}\"}"),
      0);
  assert_int_equal(
      login("refresh", "alice@contoso.com", "approve", "alice@contoso.com"), 0);
  /* 1 s, then 1 + 5 s. */
  assert_true(time(NULL) - t0 >= 6);
  assert_int_equal(emu_count(&emu, "endpoint:token"), 2);
}

/* A failing poll (HTTP 503) does not lose the code: polling goes on. */
static void test_login_transient(void **state) {
  (void)state;
  assert_int_equal(emu_post(&emu, "/_emu/options", "{\"device_interval\": 1}"),
                   0);
  assert_int_equal(emu_post(&emu, "/_emu/fault",
                            "{\"kind\": \"status\", \"status\": 503, "
                            "\"endpoint\": \"token\"}"),
                   0);
  assert_int_equal(
      login("refresh", "alice@contoso.com", "approve", "alice@contoso.com"), 0);
  assert_non_null(strstr(r.err, "trying again"));
  assert_int_equal(emu_count(&emu, "endpoint:token"), 2);
}

/* ------------------------------------------------------------ check */

static int count_lines(const char *text, const char *prefix) {
  int n = 0;
  size_t len = strlen(prefix);

  for (const char *p = text; p != NULL && *p != '\0';) {
    if (strncmp(p, prefix, len) == 0)
      n++;
    p = strchr(p, '\n');
    if (p != NULL)
      p++;
  }
  return n;
}

static void test_check_good(void **state) {
  struct json_object *root, *findings, *status;

  (void)state;
  assert_int_equal(run(NULL, ARGS("-c", conf, "check")), 0);
  assert_int_equal(count_lines(r.out, "error:"), 0);
  assert_non_null(strstr(r.out, "ok: authority"));
  assert_non_null(strstr(r.out, EMU_TENANT_ID));
  assert_non_null(strstr(r.out, "does not exist yet"));
  assert_int_equal(emu_count(&emu, "endpoint:discovery"), 1);
  assert_int_equal(emu_count(&emu, "endpoint:token"), 0);
  /* With USER: a token, whose and which scopes. */
  assert_int_equal(run(EMU_ALICE_PASSWORD "\n",
                       ARGS("-c", conf, "check", "alice@contoso.com")),
                   0);
  assert_non_null(strstr(r.out, "issued to alice@contoso.com"));
  assert_non_null(strstr(r.out, "IMAP.AccessAsUser.All"));
  /* The certificate's days left. */
  assert_int_equal(
      run(NULL, ARGS("-c", conf, "-p", "cert", "check", "shared@contoso.com")),
      0);
  assert_non_null(strstr(r.out, "days left"));
  assert_non_null(strstr(r.out, "ok: cache_dir")); /* made by the token */
  assert_non_null(strstr(r.out, "roles IMAP.AccessAsApp"));
  /* --json */
  assert_int_equal(run(NULL, ARGS("-c", conf, "-p", "app", "--json", "check")),
                   0);
  root = json_tokener_parse(r.out);
  assert_non_null(root);
  assert_true(json_object_object_get_ex(root, "status", &status));
  assert_int_equal(json_object_get_int(status), 0);
  assert_true(json_object_object_get_ex(root, "findings", &findings));
  assert_true(json_object_array_length(findings) >= 4);
  assert_non_null(strstr(r.out, "client secret set"));
  json_object_put(root);
}

/* Every problem of a broken file, each with its line; exit status 2. */
static void test_check_broken(void **state) {
  struct json_object *root, *findings, *status;
  const char *path;
  char line3[600], line5[600];

  (void)state;
  path = emu_write_file(&emu, "broken.conf",
                        "# broken on purpose\n"
                        "tenant = contoso.com\n"
                        "colour = blue\n"
                        "client_id = " EMU_PUBLIC_CLIENT "\n"
                        "timeout = soon\n"
                        "authority = http://login.example\n",
                        0600);
  assert_non_null(path);
  snprintf(line3, sizeof(line3), "%s:3:", path);
  snprintf(line5, sizeof(line5), "%s:5: timeout", path);
  assert_int_equal(run(NULL, ARGS("-c", path, "check")), 2);
  assert_int_equal(count_lines(r.out, "error:"), 3);
  assert_non_null(strstr(r.out, line3));
  assert_non_null(strstr(r.out, "colour"));
  assert_non_null(strstr(r.out, line5));
  assert_non_null(strstr(r.out, ":6: authority"));
  assert_int_equal(run(NULL, ARGS("-c", path, "--json", "check")), 2);
  root = json_tokener_parse(r.out);
  assert_non_null(root);
  assert_true(json_object_object_get_ex(root, "status", &status));
  assert_int_equal(json_object_get_int(status), 2);
  assert_true(json_object_object_get_ex(root, "findings", &findings));
  assert_int_equal(json_object_array_length(findings), 3);
  json_object_put(root);
  /* Other commands refuse it too, and say where. */
  assert_int_equal(run(NULL, ARGS("-c", path, "cache", "list")), 2);
  assert_non_null(strstr(r.err, line3));
  assert_int_equal(emu_count(&emu, "total"), 0);
}

/* Problems outside the file: a public cache_dir, an unknown tenant, a
 * refused password. */
static void test_check_problems(void **state) {
  char dir[400];
  const char *path;

  (void)state;
  snprintf(dir, sizeof(dir), "%s/opencache", emu.dir);
  assert_int_equal(mkdir(dir, 0755), 0);
  assert_int_equal(chmod(dir, 0755), 0);
  path = own_config("opencache.conf", NULL, NULL, dir, NULL);
  assert_int_equal(run(NULL, ARGS("-c", path, "check")), 2);
  assert_non_null(strstr(r.out, "chmod 700"));
  rmdir(dir);

  path = own_config("tenant.conf", NULL, "fabrikam.com", NULL, NULL);
  assert_int_equal(run(NULL, ARGS("-c", path, "check")), 2);
  assert_non_null(strstr(r.out, "AADSTS90002"));

  /* A secret file others may read. */
  assert_non_null(
      emu_write_file(&emu, "loose-secret", EMU_CLIENT_SECRET, 0644));
  snprintf(dir, sizeof(dir),
           "auth = app\nclient_secret_file = %s/loose-secret\n", emu.dir);
  path = own_config("loose.conf", NULL, NULL, NULL, dir);
  assert_int_equal(run(NULL, ARGS("-c", path, "check")), 2);
  assert_non_null(strstr(r.out, "client_secret_file"));
  assert_non_null(strstr(r.out, "loose-secret"));

  assert_int_equal(
      run("not the password\n", ARGS("-c", conf, "check", "alice@contoso.com")),
      1);
  assert_non_null(strstr(r.out, "error: no token for alice@contoso.com"));
  assert_non_null(strstr(r.out, "AADSTS50126"));
}

/* The authority cannot be reached: 3, and no token is tried. */
static void test_check_unreachable(void **state) {
  const char *dead;

  (void)state;
  dead = own_config("dead.conf", "https://127.0.0.1:1", NULL, NULL, NULL);
  assert_int_equal(run(NULL, ARGS("-c", dead, "check", "alice@contoso.com")),
                   3);
  assert_non_null(strstr(r.out, "error: cannot reach the authority"));
  assert_non_null(strstr(r.out, "no token acquired"));
  assert_int_equal(emu_post(&emu, "/_emu/fault",
                            "{\"kind\": \"status\", \"status\": 500, "
                            "\"count\": -1, \"endpoint\": \"discovery\"}"),
                   0);
  assert_int_equal(run(NULL, ARGS("-c", conf, "check")), 3);
}

/* ------------------------------------------------------------ cache */

static void test_cache_list_forget(void **state) {
  struct json_object *root, *first, *tokens;
  char token[OUT_MAX];

  (void)state;
  assert_int_equal(run(NULL, ARGS("-c", conf, "cache", "list")), 0);
  assert_string_equal(r.out, "");
  assert_int_equal(run(EMU_ALICE_PASSWORD "\n",
                       ARGS("-c", conf, "token", "alice@contoso.com")),
                   0);
  snprintf(token, sizeof(token), "%.*s", (int)strcspn(r.out, "\n"), r.out);
  assert_int_equal(
      run(NULL, ARGS("-c", conf, "-p", "app", "token", "shared@contoso.com")),
      0);

  assert_int_equal(run(NULL, ARGS("-c", conf, "cache", "list")), 0);
  assert_non_null(strstr(r.out, "alice@contoso.com"));
  assert_non_null(strstr(r.out, "#app"));
  assert_non_null(strstr(r.out, "IMAP.AccessAsUser.All"));
  assert_null(strstr(r.out, token));
  assert_null(strstr(r.out, "eyJ")); /* no JWT at all */
  assert_null(strstr(r.err, token));

  assert_int_equal(run(NULL, ARGS("-c", conf, "--json", "cache", "list")), 0);
  assert_null(strstr(r.out, token));
  root = json_tokener_parse(r.out);
  assert_non_null(root);
  assert_int_equal(json_object_array_length(root), 2);
  for (size_t i = 0; i < 2; i++) {
    first = json_object_array_get_idx(root, i);
    if (strcmp(member(first, "identity"), "alice@contoso.com") != 0)
      continue;
    assert_string_equal(member(first, "tenant"), "contoso.com");
    assert_string_equal(member(first, "client_id"), EMU_PUBLIC_CLIENT);
    assert_true(json_object_object_get_ex(first, "access_tokens", &tokens));
    assert_int_equal(json_object_array_length(tokens), 1);
  }
  json_object_put(root);

  assert_int_equal(
      run(NULL, ARGS("-c", conf, "cache", "forget", "Alice@Contoso.com")), 0);
  assert_int_equal(run(NULL, ARGS("-c", conf, "cache", "list")), 0);
  assert_null(strstr(r.out, "alice@contoso.com"));
  assert_non_null(strstr(r.out, "#app"));
  assert_int_equal(
      run(NULL, ARGS("-c", conf, "cache", "forget", "alice@contoso.com")), 1);
  assert_non_null(strstr(r.err, "no cache entry"));
  assert_int_equal(
      run(NULL, ARGS("-c", conf, "-p", "app", "cache", "forget", "#app")), 0);
  /* The next token is asked for again. */
  assert_int_equal(emu_reset(&emu), 0);
  assert_int_equal(run(EMU_ALICE_PASSWORD "\n",
                       ARGS("-c", conf, "token", "alice@contoso.com")),
                   0);
  assert_int_equal(emu_count(&emu, "endpoint:token"), 1);
}

/* ------------------------------------------------------------ secrets */

static struct leak_sinks sinks;

/* msoauth -v -v -c debug.conf ARGS: keeps stderr, and stdout unless it is
 * the token (`token` prints it by design). Returns the exit status. */
static int leak_run(const char *stdin_text, int keep_out,
                    const char *const *args) {
  const char *argv[40] = {"-v", "-v", "-c", dconf};
  char label[1024] = "msoauth -v -v";
  size_t n = 4;

  for (size_t i = 0; args[i] != NULL && n < 39; i++) {
    argv[n++] = args[i];
    snprintf(label + strlen(label), sizeof(label) - strlen(label), " %s",
             args[i]);
  }
  argv[n] = NULL;
  run(stdin_text, argv);
  assert_int_equal(leak_sink(&sinks, label, r.err, strlen(r.err)), 0);
  if (keep_out)
    assert_int_equal(leak_sink(&sinks, label, r.out, strlen(r.out)), 0);
  return r.status;
}

/* The device-code flow in profile, approved for as. */
static int leak_login(const char *profile, const char *user, const char *as) {
  char code[64], json[256];
  pid_t pid =
      start(NULL, ARGS("-v", "-v", "-c", dconf, "-p", profile, "login", user));

  pending_code(code, sizeof(code));
  snprintf(json, sizeof(json),
           "{\"user_code\": \"%s\", \"action\": \"approve\", \"user\": "
           "\"%s\"}",
           code, as);
  assert_int_equal(emu_post(&emu, "/_emu/device", json), 0);
  finish(pid);
  assert_int_equal(leak_sink(&sinks, "login (stderr)", r.err, strlen(r.err)),
                   0);
  assert_int_equal(leak_sink(&sinks, "login (stdout)", r.out, strlen(r.out)),
                   0);
  return r.status;
}

/* Every token path, good and failing, then check and cache list. */
static void leak_paths(void) {
  static char given[OUT_MAX];

  assert_int_equal(
      leak_run(EMU_ALICE_PASSWORD "\n", 0, ARGS("token", "alice@contoso.com")),
      0);
  snprintf(given, sizeof(given), "%s", r.out);
  assert_int_equal(
      leak_run(EMU_ALICE_PASSWORD "\n", 0, ARGS("token", "alice@contoso.com")),
      0);
  assert_int_equal(
      leak_run(EMU_BOB_PASSWORD "\n", 0, ARGS("token", "bob@contoso.com")), 0);
  assert_int_equal(
      leak_run(EMU_BOB_PASSWORD "x\n", 1, ARGS("token", "alice@contoso.com")),
      1);
  assert_int_equal(
      leak_run("Password1!\n", 1, ARGS("token", "mfa@contoso.com")), 1);
  assert_int_equal(emu_post(&emu, "/_emu/fault",
                            "{\"kind\": \"throttle\", \"retry_after\": 30, "
                            "\"count\": -1}"),
                   0);
  assert_int_equal(
      leak_run("Passw0rd!\n", 1, ARGS("token", "user7@contoso.com")), 3);
  assert_int_equal(emu_reset(&emu), 0);
  assert_int_equal(
      leak_run(NULL, 0, ARGS("-p", "app", "token", "shared@contoso.com")), 0);
  assert_int_equal(
      leak_run(NULL, 0, ARGS("-p", "cert", "token", "shared@contoso.com")), 0);
  assert_int_equal(
      leak_run(NULL, 0, ARGS("-p", "svc", "token", "bob@contoso.com")), 0);
  assert_int_equal(
      leak_run(given, 0, ARGS("-p", "token", "token", "alice@contoso.com")), 0);
  /* Short-lived access tokens: the token after login refreshes. */
  assert_int_equal(emu_post(&emu, "/_emu/options",
                            "{\"device_interval\": 1, \"expires_in\": 300}"),
                   0);
  assert_int_equal(
      leak_login("refresh", "alice@contoso.com", "alice@contoso.com"), 0);
  assert_int_equal(
      leak_run(NULL, 0, ARGS("-p", "refresh", "token", "alice@contoso.com")),
      0);
  assert_int_equal(
      emu_post(&emu, "/_emu/revoke", "{\"user\": \"alice@contoso.com\"}"), 0);
  assert_int_equal(
      leak_run(NULL, 1, ARGS("-p", "refresh", "token", "alice@contoso.com")),
      1);
  assert_int_equal(emu_reset(&emu), 0);
  assert_int_equal(leak_run(NULL, 1, ARGS("check")), 0);
  assert_int_equal(
      leak_run(EMU_ALICE_PASSWORD "\n", 1, ARGS("check", "alice@contoso.com")),
      0);
  assert_int_equal(
      leak_run(NULL, 1, ARGS("-p", "cert", "check", "shared@contoso.com")), 0);
  assert_int_equal(leak_run(NULL, 1, ARGS("-p", "app", "--json", "check")), 0);
  assert_int_equal(leak_run(NULL, 1, ARGS("cache", "list")), 0);
  assert_non_null(strstr(r.out, "alice@contoso.com"));
  assert_int_equal(leak_run(NULL, 1, ARGS("--json", "cache", "list")), 0);
}

/* No password, client secret, key or token the emulator issued, nor a
 * 16-byte piece of one, on stderr (debug level), on stdout (but the
 * token's), or in the cache directory's listing. */
static void test_no_secret_leaks(void **state) {
  struct leak_secrets secrets = {0};
  char path[400];
  long issued;

  (void)state;
  leak_paths();
  snprintf(path, sizeof(path), "%s/cache", emu.dir);
  assert_int_equal(leak_sink_listing(&sinks, path), 0);
  assert_non_null(strstr(sinks.text, "msoauth: debug: "));
  issued = leak_collect(&secrets, &emu);
  snprintf(path, sizeof(path), "%s/client-" EMU_CERT_CLIENT ".key", emu.dir);
  assert_int_equal(leak_add_pem(&secrets, path), 0);
  fprintf(stderr,
          "# %zu secrets (%ld from the fixture and the emulator), "
          "%zu bytes captured\n",
          secrets.n, issued, sinks.len);
  /* Each path above was given or issued something. */
  assert_true(issued >= 25);
  assert_int_equal(leak_find(&secrets, &sinks), 0);
  leak_secrets_free(&secrets);
  leak_sinks_free(&sinks);
}

/* ------------------------------------------------------------ issue 14 */

/* Item 1: a standard server's device answer (no message): the sign-in
 * shows the page and the code, and a denial (access_denied) is a declined
 * sign-in with its advice. */
static void test_login_strict(void **state) {
  (void)state;
  assert_int_equal(emu_post(&emu, "/_emu/options",
                            "{\"device_interval\": 1, \"strict_rfc\": 1}"),
                   0);
  assert_int_equal(
      login("refresh", "alice@contoso.com", "approve", "alice@contoso.com"), 0);
  assert_non_null(strstr(r.out, "/device?user_code="));
  assert_non_null(strstr(r.out, "Signed in as alice@contoso.com"));
  assert_int_equal(before(NULL), 0);
  assert_int_equal(emu_post(&emu, "/_emu/options",
                            "{\"device_interval\": 1, \"strict_rfc\": 1}"),
                   0);
  assert_int_equal(login("refresh", "alice@contoso.com", "deny", NULL), 1);
  assert_non_null(
      strstr(r.err, "declined the sign-in (run msoauth login again)"));
}

/* Item 5: --renew drops the cached access token and keeps the refresh
 * token: a new token, from one refresh, no new sign-in. */
static void test_token_renew(void **state) {
  static char first[OUT_MAX];

  (void)state;
  assert_int_equal(run(NULL, ARGS("-c", conf, "--password-file", pwfile,
                                  "token", "alice@contoso.com")),
                   0);
  assert_one_token();
  memcpy(first, r.out, sizeof(first));
  assert_int_equal(run(NULL, ARGS("-c", conf, "--password-file", pwfile,
                                  "token", "alice@contoso.com")),
                   0);
  assert_string_equal(r.out, first);
  assert_int_equal(emu_count(&emu, "endpoint:token"), 1);
  assert_int_equal(run(NULL, ARGS("-c", conf, "--password-file", pwfile,
                                  "token", "--renew", "alice@contoso.com")),
                   0);
  assert_one_token();
  assert_string_not_equal(r.out, first);
  assert_int_equal(emu_count(&emu, "grant:refresh_token"), 1);
  assert_int_equal(emu_count(&emu, "grant:password"), 1);
  /* A refresh-token profile: the sign-in stays. */
  assert_int_equal(emu_post(&emu, "/_emu/options", "{\"device_interval\": 1}"),
                   0);
  assert_int_equal(
      login("refresh", "alice@contoso.com", "approve", "alice@contoso.com"), 0);
  assert_int_equal(run(NULL, ARGS("-c", conf, "-p", "refresh", "--renew",
                                  "token", "alice@contoso.com")),
                   0);
  assert_int_equal(run(NULL, ARGS("-c", conf, "-p", "refresh", "token",
                                  "--renew", "alice@contoso.com")),
                   0);
  assert_one_token();
  assert_int_equal(emu_count(&emu, "grant:refresh_token"), 3);
  /* Only token takes it. */
  assert_int_equal(run(NULL, ARGS("-c", conf, "--renew", "check")), 2);
  assert_non_null(strstr(r.err, "--renew"));
}

/* Item 9: the advice for a user who never signed in repeats -c and -p. */
static void test_login_advice_profile(void **state) {
  char want[1024];

  (void)state;
  assert_int_equal(run(NULL, ARGS("-c", conf, "-p", "refresh", "token",
                                  "alice@contoso.com")),
                   1);
  snprintf(want, sizeof(want),
           "no sign-in is stored: run `msoauth -c %s -p refresh login "
           "alice@contoso.com`",
           conf);
  assert_non_null(strstr(r.err, want));
  assert_int_equal(emu_count(&emu, "total"), 0);
  assert_int_equal(run(NULL, ARGS("-c", conf, "-p", "refresh", "check",
                                  "alice@contoso.com")),
                   1);
  assert_non_null(strstr(r.out, want + strlen("no sign-in is stored: ")));
  assert_non_null(strstr(r.out, "no sign-in (refresh token) stored"));
}

/* Item 5: check USER says how the cached access token stands before it
 * gets one: valid, within refresh_margin, expired, or none. */
static void test_check_cached_expiry(void **state) {
  (void)state;
  assert_int_equal(run(EMU_ALICE_PASSWORD "\n",
                       ARGS("-c", conf, "check", "alice@contoso.com")),
                   0);
  assert_non_null(strstr(r.out, "no cached access token for "
                                "alice@contoso.com"));
  assert_int_equal(run(EMU_ALICE_PASSWORD "\n",
                       ARGS("-c", conf, "check", "alice@contoso.com")),
                   0);
  assert_non_null(strstr(r.out, "ok: the cached access token for "
                                "alice@contoso.com is valid until"));
  assert_int_equal(emu_post(&emu, "/_emu/options", "{\"expires_in\": 500}"),
                   0);
  assert_int_equal(run(NULL, ARGS("-c", conf, "--password-file", pwfile,
                                  "token", "--renew", "alice@contoso.com")),
                   0);
  assert_int_equal(run(EMU_ALICE_PASSWORD "\n",
                       ARGS("-c", conf, "check", "alice@contoso.com")),
                   0);
  assert_non_null(strstr(r.out, "within refresh_margin (600 s): the next "
                                "use renews it"));
  assert_int_equal(emu_post(&emu, "/_emu/options", "{\"expires_in\": 1}"), 0);
  assert_int_equal(run(NULL, ARGS("-c", conf, "--password-file", pwfile,
                                  "token", "--renew", "alice@contoso.com")),
                   0);
  sleep(2);
  assert_int_equal(run(EMU_ALICE_PASSWORD "\n",
                       ARGS("-c", conf, "check", "alice@contoso.com")),
                   0);
  assert_non_null(strstr(r.out, "expired at"));
}

/* Item 4: -v shows the server's description, without its CR LF. (A
 * password sharing 8 bytes in a row with it, "wrong password" and "...or
 * password.", would hide it.) */
static void test_verbose_description(void **state) {
  (void)state;
  assert_int_equal(
      run("Wr0ng-Pw-17\n", ARGS("-c", conf, "token", "alice@contoso.com")), 1);
  assert_null(strstr(r.err, "says:"));
  assert_int_equal(run("Wr0ng-Pw-17\n", ARGS("-c", conf, "-v", "token",
                                             "alice@contoso.com")),
                   1);
  assert_non_null(strstr(r.err, "the identity platform says: AADSTS50126: "
                                "Error validating credentials"));
  assert_non_null(strstr(r.err, "??Trace ID"));
  assert_null(strchr(r.err, '\r'));
  assert_null(strstr(r.err, "Wr0ng-Pw-17"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_usage, before),
      cmocka_unit_test_setup(test_token_password_stdin, before),
      cmocka_unit_test_setup(test_token_password_file, before),
      cmocka_unit_test_setup(test_token_refused, before),
      cmocka_unit_test_setup(test_token_app, before),
      cmocka_unit_test_setup(test_token_service_account, before),
      cmocka_unit_test_setup(test_token_given, before),
      cmocka_unit_test_setup(test_token_unreachable, before),
      cmocka_unit_test_setup(test_token_hostile_names, before),
      cmocka_unit_test_setup(test_token_hostile_passwords, before),
      cmocka_unit_test_setup(test_token_faults, before),
      cmocka_unit_test_setup(test_token_untrusted, before),
      cmocka_unit_test_setup(test_token_expired, before),
      cmocka_unit_test_setup(test_token_foreign_cache, before),
      cmocka_unit_test_setup(test_token_foreign_lock, before),
      cmocka_unit_test_setup(test_login_approve, before),
      cmocka_unit_test_setup(test_login_service_account, before),
      cmocka_unit_test_setup(test_login_refused, before),
      cmocka_unit_test_setup(test_login_no_identity, before),
      cmocka_unit_test_setup(test_login_message_controls, before),
      cmocka_unit_test_setup(test_check_organizations, before),
      cmocka_unit_test_setup(test_token_foreign_tenant, before),
      cmocka_unit_test_setup(test_login_slow_down, before),
      cmocka_unit_test_setup(test_login_transient, before),
      cmocka_unit_test_setup(test_check_good, before),
      cmocka_unit_test_setup(test_check_broken, before),
      cmocka_unit_test_setup(test_check_problems, before),
      cmocka_unit_test_setup(test_check_unreachable, before),
      cmocka_unit_test_setup(test_cache_list_forget, before),
      cmocka_unit_test_setup(test_no_secret_leaks, before),
      cmocka_unit_test_setup(test_login_strict, before),
      cmocka_unit_test_setup(test_token_renew, before),
      cmocka_unit_test_setup(test_login_advice_profile, before),
      cmocka_unit_test_setup(test_check_cached_expiry, before),
      cmocka_unit_test_setup(test_verbose_description, before),
  };

  return cmocka_run_group_tests(tests, setup, teardown);
}
