#include "config_build.h"
/*
 * test_checkpassword.c - `msoauth checkpassword` as Dovecot runs it, against
 * the Entra ID emulator: USER\0PASSWORD\0 on fd 3, the reply program appended,
 * the verdict in the exit status (1, 2, 111) or the proxy fields in the reply
 * program's environment. Runs the built tools/msoauth; MSOAUTH_CLI_WRAPPER,
 * when set, is put in front of it (e.g. "valgrind -q --error-exitcode=99").
 * Where Dovecot's own checkpassword-reply is installed, it is the reply
 * program of the success cases, so the fields are read back as Dovecot
 * reads them (fd 4).
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
#include <unistd.h>

#include <cmocka.h>

#include "../emu.h"

#define OUT_MAX (64 * 1024)
#define DOVECOT_REPLY "/usr/lib/dovecot/checkpassword-reply"

static struct emu emu;
static char conf[512];   /* profiles: default (password), refresh, token, v6 */
static char reply[512];  /* a reply program writing its env and argv */

struct run {
  int status; /* exit status, or 128 + signal */
  char err[OUT_MAX];
  char env[OUT_MAX];  /* what the reply program saw: env, one a line */
  char args[OUT_MAX]; /* ... its arguments, one a line */
  char fd4[OUT_MAX];  /* ... what it wrote on fd 4 */
};

static struct run r;

/* ------------------------------------------------------------ running */

static const char *msoauth_path(void) {
  static char path[512];
  const char *dir = getenv("MSOAUTH_BUILDDIR");

  snprintf(path, sizeof(path), "%s/tools/msoauth", dir != NULL ? dir : ".");
  return path;
}

static const char *in_dir(const char *name) {
  static char path[4][512];
  static int next;

  next = (next + 1) % 4;
  snprintf(path[next], sizeof(path[next]), "%s/%s", emu.dir, name);
  return path[next];
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

/* What one run gets: fd 3 (NULL: closed), SERVICE (NULL: unset), more
 * environment ("K=V", NULL-terminated; may be NULL). */
struct call {
  const char *input;
  size_t len;
  const char *service;
  const char *const *env;
};

/* Starts msoauth -c conf [-p profile] checkpassword PROGRAM... */
static pid_t start(const struct call *c, const char *profile,
                   const char *const *program) {
  static unsigned serial; /* a file of its own for each fd 3 */
  char *argv[64], *envp[32];
  char service[64], fd3[32];
  char *wrapper = NULL;
  size_t n = 0, ne = 0, n_wrapper;
  pid_t pid;
  int fd;

  snprintf(fd3, sizeof(fd3), "fd3-%u", serial++);
  if (c->input != NULL) {
    fd = open(in_dir(fd3), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, c->input, c->len), (ssize_t)c->len);
    close(fd);
  }
  if (getenv("MSOAUTH_CLI_WRAPPER") != NULL &&
      *getenv("MSOAUTH_CLI_WRAPPER") != '\0') {
    wrapper = strdup(getenv("MSOAUTH_CLI_WRAPPER"));
    assert_non_null(wrapper);
    for (char *w = strtok(wrapper, " "); w != NULL && n < 16;
         w = strtok(NULL, " "))
      argv[n++] = w;
  }
  /* Copies: execve wants mutable strings. */
  n_wrapper = n;
  argv[n++] = strdup(msoauth_path());
  argv[n++] = strdup("-c");
  argv[n++] = strdup(conf);
  if (profile != NULL) {
    argv[n++] = strdup("-p");
    argv[n++] = strdup(profile);
  }
  argv[n++] = strdup("checkpassword");
  for (size_t i = 0; program[i] != NULL && n < 63; i++)
    argv[n++] = strdup(program[i]);
  argv[n] = NULL;
  /* Dovecot's environment, as its auth process passes it on. */
  envp[ne++] = strdup("PATH=/usr/bin:/bin");
  envp[ne++] = strdup("USER=dovecot");
  envp[ne++] = strdup("TCPREMOTEIP=192.0.2.7");
  envp[ne++] = strdup("PROTO=TCP");
  /* Dovecot's checkpassword-reply refuses to run without it. */
  snprintf(service, sizeof(service), "ORIG_UID=%ld", (long)getuid());
  envp[ne++] = strdup(service);
  if (c->service != NULL) {
    snprintf(service, sizeof(service), "SERVICE=%s", c->service);
    envp[ne++] = strdup(service);
  }
  for (size_t i = 0; c->env != NULL && c->env[i] != NULL && ne < 31; i++)
    envp[ne++] = strdup(c->env[i]);
  envp[ne] = NULL;
  unlink(in_dir("reply.env"));
  unlink(in_dir("reply.args"));
  unlink(in_dir("reply.fd4"));
  pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int in = c->input != NULL ? open(in_dir(fd3), O_RDONLY) : -1;
    int err = open(in_dir("err"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int out4 = open(in_dir("reply.fd4"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int null = open("/dev/null", O_RDWR);

    if (err < 0 || out4 < 0 || null < 0 || (c->input != NULL && in < 0))
      _exit(120);
    dup2(null, 0);
    dup2(null, 1);
    dup2(err, 2);
    /* fd 4 first: in may be 3 or 4 already. */
    if (in >= 0 && in <= 4) {
      int moved = fcntl(in, F_DUPFD, 10);

      close(in);
      in = moved;
    }
    dup2(out4, 4);
    if (in >= 0)
      dup2(in, 3);
    else
      close(3);
    for (int f = 5; f < 64; f++)
      close(f);
    execvpe(argv[0], argv, envp);
    _exit(121);
  }
  for (size_t i = n_wrapper; i < n; i++)
    free(argv[i]);
  for (size_t i = 0; i < ne; i++)
    free(envp[i]);
  free(wrapper);
  return pid;
}

static int finish(pid_t pid) {
  int status;

  assert_int_equal(waitpid(pid, &status, 0), pid);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  read_file_into(in_dir("err"), r.err, sizeof(r.err));
  read_file_into(in_dir("reply.env"), r.env, sizeof(r.env));
  read_file_into(in_dir("reply.args"), r.args, sizeof(r.args));
  read_file_into(in_dir("reply.fd4"), r.fd4, sizeof(r.fd4));
  /* Under valgrind, 99 says it found an error. */
  assert_int_not_equal(r.status, 99);
  return r.status;
}

#define PROGRAM(...) ((const char *const[]){__VA_ARGS__, NULL})

/* USER\0PASSWORD\0\0 as Dovecot writes it, through the reply script. */
static int login(const char *service, const char *user, const char *password) {
  static char input[1024];
  size_t ul = strlen(user), pl = strlen(password);
  struct call c = {input, ul + pl + 3, service, NULL};

  assert_true(ul + pl + 3 <= sizeof(input));
  memcpy(input, user, ul + 1);
  memcpy(input + ul + 1, password, pl + 1);
  input[ul + pl + 2] = '\0';
  return finish(start(&c, NULL, PROGRAM(reply, "--an-arg")));
}

static int run_call(const struct call *c, const char *profile) {
  return finish(start(c, profile, PROGRAM(reply)));
}

/* The value of NAME in what the reply program saw, or NULL. */
static const char *env_value(const char *name) {
  static char value[OUT_MAX];
  size_t len = strlen(name);

  for (const char *l = r.env; *l != '\0';) {
    size_t n = strcspn(l, "\n");

    if (n > len && strncmp(l, name, len) == 0 && l[len] == '=') {
      snprintf(value, sizeof(value), "%.*s", (int)(n - len - 1), l + len + 1);
      return value;
    }
    l += n + (l[n] == '\n');
  }
  return NULL;
}

static long requests(void) {
  return emu_count(&emu, "endpoint:token");
}

/* The emulator's view of the token handed on: active and alice's. */
static void assert_token_of(const char *token, const char *upn) {
  char json[OUT_MAX + 64];
  char *body;

  snprintf(json, sizeof(json), "{\"token\": \"%s\"}", token);
  body = emu_post_body(&emu, "/_emu/introspect", json);
  assert_non_null(body);
  assert_non_null(strstr(body, "\"active\":true"));
  assert_non_null(strstr(body, upn));
  free(body);
}

/* ------------------------------------------------------------ fixtures */

static int setup(void **state) {
  const char *path;
  char script[1024];

  (void)state;
  if (emu_start(&emu, NULL) != 0)
    return -1;
  path = emu_write_config(&emu, "ckpw.conf",
                          "retries = 0\ntimeout = 5\nconnect_timeout = 2\n"
                          "default_domain = contoso.com\n"
                          "proxy_submission = smtp.example.net:2587 "
                          "starttls\n"
                          "[refresh]\nauth = refresh\n"
                          "[token]\nauth = token\n"
                          "[v6]\nproxy_imap = [2001:db8::1]:1993 tls\n"
                          "[slow]\ntimeout = 60\n");
  if (path == NULL)
    return -1;
  snprintf(conf, sizeof(conf), "%s", path);
  snprintf(script, sizeof(script),
           "#!/bin/sh\nenv >'%s/reply.env'\n"
           "printf '%%s\\n' \"$@\" >'%s/reply.args'\n"
           "echo fd4 >&4\n",
           emu.dir, emu.dir);
  path = emu_write_file(&emu, "reply.sh", script, 0700);
  if (path == NULL)
    return -1;
  snprintf(reply, sizeof(reply), "%s", path);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  emu_stop(&emu);
  return 0;
}

static int before(void **state) {
  char cmd[600];

  (void)state;
  snprintf(cmd, sizeof(cmd), "rm -rf '%s/cache'", emu.dir);
  assert_int_equal(system(cmd), 0);
  return emu_post(&emu, "/_emu/reset", "{\"tokens\": true}");
}

/* ------------------------------------------------------------ success */

/* The fields Dovecot's proxy needs, listed in EXTRA; USER not passed on;
 * the password nowhere; Dovecot's other variables kept; fd 4 open. */
static void test_imap_fields(void **state) {
  const char *pass;

  (void)state;
  assert_int_equal(login("imap", "Alice@Contoso.com", EMU_ALICE_PASSWORD), 0);
  assert_string_equal(r.err, "");
  assert_string_equal(env_value("PROXY"), "y");
  assert_string_equal(env_value("HOST"), "outlook.office365.com");
  assert_string_equal(env_value("PORT"), "993");
  assert_string_equal(env_value("SSL"), "yes");
  assert_null(env_value("STARTTLS"));
  assert_string_equal(env_value("PROXY_MECH"), "xoauth2");
  assert_string_equal(env_value("DESTUSER"), "alice@contoso.com");
  assert_string_equal(env_value("EXTRA"),
                      "PROXY HOST PORT SSL STARTTLS PASS PROXY_MECH DESTUSER");
  assert_null(env_value("USER"));
  assert_string_equal(env_value("TCPREMOTEIP"), "192.0.2.7");
  pass = env_value("PASS");
  assert_non_null(pass);
  assert_token_of(pass, "alice@contoso.com");
  assert_null(strstr(r.env, EMU_ALICE_PASSWORD));
  assert_null(strstr(r.args, EMU_ALICE_PASSWORD));
  /* The reply program gets its own arguments, and fd 4. */
  assert_non_null(strstr(r.args, "--an-arg"));
  assert_string_equal(r.fd4, "fd4\n");
  assert_int_equal(requests(), 1);
}

static void test_services(void **state) {
  (void)state;
  assert_int_equal(login("pop3", "alice@contoso.com", EMU_ALICE_PASSWORD), 0);
  assert_string_equal(env_value("HOST"), "outlook.office365.com");
  assert_string_equal(env_value("PORT"), "995");
  assert_string_equal(env_value("SSL"), "yes");
  /* The key of the file, STARTTLS and no SSL. */
  assert_int_equal(
      login("submission", "alice@contoso.com", EMU_ALICE_PASSWORD), 0);
  assert_string_equal(env_value("HOST"), "smtp.example.net");
  assert_string_equal(env_value("PORT"), "2587");
  assert_string_equal(env_value("STARTTLS"), "yes");
  assert_null(env_value("SSL"));
  /* One token serves all three. */
  assert_int_equal(requests(), 1);
}

/* A bare name gets default_domain; the login goes on as the address. */
static void test_bare_name(void **state) {
  (void)state;
  assert_int_equal(login("imap", "alice", EMU_ALICE_PASSWORD), 0);
  assert_string_equal(env_value("DESTUSER"), "alice@contoso.com");
}

/* Dovecot's own reply program reads the fields back on fd 4. */
static void test_dovecot_reply(void **state) {
  static char input[256];
  const char *user = "alice@contoso.com";
  struct call c = {input, 0, "imap", NULL};

  (void)state;
  if (access(DOVECOT_REPLY, X_OK) != 0) {
    print_message("# no %s: skipped\n", DOVECOT_REPLY);
    skip();
  }
  c.len = (size_t)snprintf(input, sizeof(input), "%s%c%s%c", user, 0,
                           EMU_ALICE_PASSWORD, 0) + 1;
  assert_int_equal(finish(start(&c, NULL, PROGRAM(DOVECOT_REPLY))), 0);
  assert_non_null(strstr(r.fd4, "proxy=y\t"));
  assert_non_null(strstr(r.fd4, "host=outlook.office365.com\t"));
  assert_non_null(strstr(r.fd4, "port=993\t"));
  assert_non_null(strstr(r.fd4, "ssl=yes\t"));
  assert_non_null(strstr(r.fd4, "proxy_mech=xoauth2\t"));
  assert_non_null(strstr(r.fd4, "destuser=alice@contoso.com\t"));
  assert_non_null(strstr(r.fd4, "pass=ey"));
  /* No user= field: the login keeps the name the client gave. */
  assert_true(strncmp(r.fd4, "user=", 5) != 0);
  assert_null(strstr(r.fd4, "\tuser="));
  assert_null(strstr(r.fd4, EMU_ALICE_PASSWORD));
}

/* An IPv6 backend goes without its brackets. */
static void test_ipv6_backend(void **state) {
  static char input[256];
  struct call c = {input, 0, "imap", NULL};

  (void)state;
  c.len = (size_t)snprintf(input, sizeof(input), "alice@contoso.com%c%s%c",
                           0, EMU_ALICE_PASSWORD, 0) + 1;
  assert_int_equal(run_call(&c, "v6"), 0);
  assert_string_equal(env_value("HOST"), "2001:db8::1");
  assert_string_equal(env_value("PORT"), "1993");
}

/* ------------------------------------------------------------ refusals */

/* A wrong password: 1, with the AADSTS code; the same one again makes no
 * request (failure_cache); the right one still gets a token, and a cached
 * token is never served for another password. */
static void test_wrong_password(void **state) {
  (void)state;
  assert_int_equal(login("imap", "alice@contoso.com", EMU_ALICE_PASSWORD), 0);
  assert_int_equal(login("imap", "alice@contoso.com", "stale password"), 1);
  assert_non_null(strstr(r.err, "alice@contoso.com: refused: AADSTS50126"));
  assert_string_equal(r.env, "");
  assert_int_equal(requests(), 2);
  assert_int_equal(login("pop3", "alice@contoso.com", "stale password"), 1);
  assert_non_null(strstr(r.err, "not sent again"));
  assert_int_equal(requests(), 2);
  assert_int_equal(login("imap", "alice@contoso.com", EMU_ALICE_PASSWORD), 0);
  assert_int_equal(requests(), 2);
  assert_null(strstr(r.err, "stale password"));
}

/* Five logins racing with one stale password: one request between them.
 * The first asks; the others, waiting for the entry's lock, see the
 * refusal it remembered and check their password against it (PBKDF2,
 * 600,000 iterations) outside the lock. A timeout that leaves room for
 * valgrind and the sanitizers. */
static void test_wrong_password_race(void **state) {
  static char input[256];
  struct call c = {input, 0, "imap", NULL};
  pid_t pids[5];

  (void)state;
  c.len = (size_t)snprintf(input, sizeof(input), "bob@contoso.com%cnope%c",
                           0, 0) + 1;
  for (int i = 0; i < 5; i++)
    pids[i] = start(&c, "slow", PROGRAM(reply));
  for (int i = 0; i < 5; i++)
    assert_int_equal(finish(pids[i]), 1);
  assert_int_equal(requests(), 1);
}

/* A locked account: 1, and not asked again for a while. */
static void test_locked(void **state) {
  (void)state;
  assert_int_equal(login("imap", "locked@contoso.com", "Password1!"), 1);
  assert_non_null(strstr(r.err, "AADSTS50053"));
  assert_int_equal(login("imap", "locked@contoso.com", "Password1!"), 1);
  assert_int_equal(requests(), 1);
}

/* The identity rules: no request for a foreign domain or a bad name; an
 * alias refused naming the primary address. */
static void test_identity_rules(void **state) {
  (void)state;
  assert_int_equal(login("imap", "mallory@woodgrove.com", "Password1!"), 1);
  assert_non_null(strstr(r.err, "woodgrove.com"));
  assert_int_equal(login("imap", "alice@contoso.com\r\nx", "pw"), 1);
  assert_null(strchr(r.err, '\r'));
  assert_int_equal(login("imap", "alice@contoso.com", ""), 1);
  assert_int_equal(requests(), 0);
  assert_int_equal(login("imap", "asmith@contoso.com", EMU_ALICE_PASSWORD), 1);
  assert_non_null(strstr(r.err, "alice@contoso.com"));
  assert_string_equal(r.env, "");
}

/* ------------------------------------------------------------ 111 */

static void test_unreachable(void **state) {
  (void)state;
  assert_int_equal(emu_post(&emu, "/_emu/fault",
                            "{\"kind\": \"status\", \"status\": 503}"),
                   0);
  assert_int_equal(login("imap", "alice@contoso.com", EMU_ALICE_PASSWORD),
                   111);
  assert_non_null(strstr(r.err, "temporary failure"));
  assert_string_equal(r.env, "");
  assert_int_equal(emu_post(&emu, "/_emu/fault", "{\"kind\": \"drop\"}"), 0);
  assert_int_equal(login("imap", "alice@contoso.com", EMU_ALICE_PASSWORD),
                   111);
  /* The platform back: nothing was remembered against the password. */
  assert_int_equal(login("imap", "alice@contoso.com", EMU_ALICE_PASSWORD), 0);
}

/* A configuration that cannot work is a temporary failure (fix it and the
 * clients come back), never "wrong password"; no request. */
static void test_configuration(void **state) {
  static char input[256];
  const char *missing = in_dir("no-such.conf");
  char saved[sizeof(conf)];
  struct call c = {input, 0, "imap", NULL};

  (void)state;
  c.len = (size_t)snprintf(input, sizeof(input), "alice@contoso.com%c%s%c",
                           0, EMU_ALICE_PASSWORD, 0) + 1;
  /* auth = refresh would hand anyone's mailbox to whoever names it. */
  assert_int_equal(run_call(&c, "refresh"), 111);
  assert_non_null(strstr(r.err, "auth = refresh"));
  /* auth = token: an Entra token does not fit in fd 3's 512 bytes. */
  assert_int_equal(run_call(&c, "token"), 111);
  assert_non_null(strstr(r.err, "needs auth = password"));
  memcpy(saved, conf, sizeof(conf));
  snprintf(conf, sizeof(conf), "%s", missing);
  assert_int_equal(run_call(&c, NULL), 111);
  memcpy(conf, saved, sizeof(conf));
  assert_int_equal(requests(), 0);
}

/* ------------------------------------------------------------ misuse */

static void test_misuse(void **state) {
  static char big[600];
  const char *const authorized[] = {"AUTHORIZED=1", NULL};
  const struct call cases[] = {
      {NULL, 0, "imap", NULL},                         /* no fd 3 */
      {big, sizeof(big), "imap", NULL},                /* > 512 bytes */
      {"alice@contoso.com", 17, "imap", NULL},         /* no NUL */
      {"alice@contoso.com\0pw", 20, "imap", NULL},     /* one NUL */
      {"", 0, "imap", NULL},                           /* nothing */
      {"alice@contoso.com\0pw\0", 21, NULL, NULL},     /* no SERVICE */
      {"alice@contoso.com\0pw\0", 21, "sieve", NULL},  /* no backend */
      {"alice@contoso.com\0\0", 19, "imap", authorized}, /* a lookup */
  };

  (void)state;
  memset(big, 'a', sizeof(big));
  big[100] = '\0';
  big[200] = '\0';
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    assert_int_equal(run_call(&cases[i], NULL), 2);
    assert_true(r.err[0] != '\0');
    assert_string_equal(r.env, "");
  }
  /* Without a program. */
  assert_int_equal(finish(start(&cases[2], NULL, PROGRAM(NULL))), 2);
  assert_non_null(strstr(r.err, "usage: msoauth checkpassword"));
  assert_int_equal(requests(), 0);
}

/* The reply program's options are its own: `-c` after checkpassword is
 * not msoauth's. */
static void test_program_options(void **state) {
  static char input[256];
  struct call c = {input, 0, "imap", NULL};

  (void)state;
  c.len = (size_t)snprintf(input, sizeof(input), "alice@contoso.com%c%s%c",
                           0, EMU_ALICE_PASSWORD, 0) + 1;
  assert_int_equal(finish(start(&c, NULL, PROGRAM(reply, "-c", "/nonexistent",
                                                  "-p", "app"))),
                   0);
  assert_non_null(strstr(r.args, "-c\n/nonexistent\n-p\napp\n"));
}

/* A reply program that cannot be run: a temporary failure. */
static void test_no_program(void **state) {
  static char input[256];
  struct call c = {input, 0, "imap", NULL};

  (void)state;
  c.len = (size_t)snprintf(input, sizeof(input), "alice@contoso.com%c%s%c",
                           0, EMU_ALICE_PASSWORD, 0) + 1;
  assert_int_equal(finish(start(&c, NULL, PROGRAM("/nonexistent/reply"))),
                   111);
  assert_non_null(strstr(r.err, "/nonexistent/reply"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_imap_fields, before),
      cmocka_unit_test_setup(test_services, before),
      cmocka_unit_test_setup(test_bare_name, before),
      cmocka_unit_test_setup(test_dovecot_reply, before),
      cmocka_unit_test_setup(test_ipv6_backend, before),
      cmocka_unit_test_setup(test_wrong_password, before),
      cmocka_unit_test_setup(test_wrong_password_race, before),
      cmocka_unit_test_setup(test_locked, before),
      cmocka_unit_test_setup(test_identity_rules, before),
      cmocka_unit_test_setup(test_unreachable, before),
      cmocka_unit_test_setup(test_configuration, before),
      cmocka_unit_test_setup(test_misuse, before),
      cmocka_unit_test_setup(test_program_options, before),
      cmocka_unit_test_setup(test_no_program, before),
  };

  return cmocka_run_group_tests(tests, setup, teardown);
}
