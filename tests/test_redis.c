/*
 * test_redis.c - the shared cache of a fleet (cache_backend = redis), on a
 * real redis-server the test starts itself: a loopback TCP port, a TLS
 * port (the emulator's CA) and a Unix socket, an ACL user with a password
 * and a default user with another, no persistence, its own directory.
 *
 * Sealing (seal.c) and the transport (redis_conn.c) are tested on their
 * own; then "hosts" (configurations with their own cache_dir and the same
 * Redis) run as separate processes through the token layer, against the
 * emulator: single flight across hosts, the shared failure memory, no
 * secret in Redis, entries that must not open, and Redis faults.
 * Skipped, saying why, when redis-server is not installed.
 */
#include "config_build.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "cache.h"
#include "clock.h"
#include "config.h"
#include "emu.h"
#include "fixture.h"
#include "leak.h"
#include "redis_conn.h"
#include "redis_server.h"
#include "seal.h"
#include "token.h"
#include "token_settings.h"

#define USER_PW REDIS_USER_PW
#define DEFAULT_PW REDIS_DEFAULT_PW
#define KEY1 "6f1c0e2b9a8d7c6b5a49382716050403f2e1d0c9b8a7968574635241302f1e0d"
#define KEY2 "a0b1c2d3e4f5061728394a5b6c7d8e9f00112233445566778899aabbccddeeff"
#define FLEET_PROCS 10
#define LOG_NAME "fleet.log"

static struct redis_server rs;
static const char *skip_reason;

/* ------------------------------------------------------------ redis-server */

static int free_port(void) {
  return redis_free_port();
}

static struct msoauth_redis *admin(void) {
  return redis_server_admin(&rs);
}

/* A command of the test's own (argv strings). */
static redisReply *cmd(struct msoauth_redis *r, int argc, const char **argv) {
  size_t lens[8];
  redisReply *reply = NULL;

  for (int i = 0; i < argc; i++)
    lens[i] = strlen(argv[i]);
  assert_int_equal(msoauth_redis_command(r, argc, argv, lens, &reply, NULL),
                   MSOAUTH_OK);
  return reply;
}

static int redis_start(void) {
  return redis_server_restart(&rs);
}

static void redis_stop(void) {
  redis_server_stop(&rs);
}

static int setup(void **state) {
  char dir[400];

  if (!redis_installed()) {
    skip_reason =
        "redis-server is not installed (apt-get install redis-server)";
    return 0;
  }
  if (fixture_setup(state) != 0)
    return -1;
  snprintf(dir, sizeof(dir), "%s/redis", emu.dir);
  return redis_server_start(&rs, dir, emu.dir);
}

static int teardown(void **state) {
  if (skip_reason != NULL)
    return 0;
  redis_stop();
  return fixture_teardown(state);
}

#define NEED_REDIS()                                                           \
  do {                                                                         \
    if (skip_reason != NULL) {                                                 \
      fprintf(stderr, "# skipped: %s\n", skip_reason);                         \
      skip();                                                                  \
    }                                                                          \
  } while (0)

static void flush_all(void) {
  struct msoauth_redis *r = admin();
  const char *argv[] = {"FLUSHALL"};

  assert_non_null(r);
  freeReplyObject(cmd(r, 1, argv));
  msoauth_redis_close(&r);
}

/* ------------------------------------------------------------ hosts */

/* Writes DIR/NAME for host n: its own cache_dir DIR/hN, the shared Redis
 * (url NULL: the ACL user over TCP), key and password files by name. */
static const char *host_config(const char *name, int n, const char *url,
                               const char *pw_file, const char *key_file,
                               const char *extra) {
  char text[3000], tcp[200];

  snprintf(tcp, sizeof(tcp), "redis://msoauth@127.0.0.1:%d", rs.port);
  snprintf(text, sizeof(text),
           "authority = %s\ntenant = contoso.com\n"
           "client_id = " EMU_PUBLIC_CLIENT "\nca_file = %s\n"
           "cache_dir = %s/h%d\ncache_backend = redis\nredis_url = %s\n"
           "%s%s%s"
           "redis_key_file = %s/%s\nconnect_timeout = 1\n%s",
           emu.url, emu.ca, emu.dir, n, url != NULL ? url : tcp,
           pw_file != NULL ? "redis_password_file = " : "",
           pw_file != NULL ? pw_file : "", pw_file != NULL ? "\n" : "", emu.dir,
           key_file, extra != NULL ? extra : "timeout = 5\n");
  return emu_write_file(&emu, name, text, 0600);
}

static char pw_path[400];

static void write_secrets(void) {
  assert_non_null(emu_write_file(&emu, "key1", KEY1 "\n", 0600));
  assert_non_null(emu_write_file(&emu, "key2", KEY2 "\n", 0600));
  assert_non_null(emu_write_file(&emu, "badkey", "not-hex\n", 0600));
  assert_non_null(emu_write_file(&emu, "wrong.pw", "not-the-password\n", 0600));
  snprintf(pw_path, sizeof(pw_path), "%s",
           emu_write_file(&emu, "redis.pw", USER_PW "\n", 0600));
}

static void cold_hosts(void) {
  char cmdline[1200];

  snprintf(cmdline, sizeof(cmdline), "rm -rf '%s'/h1 '%s'/h2 '%s'/h3 '%s'/h4",
           emu.dir, emu.dir, emu.dir, emu.dir);
  assert_int_equal(system(cmdline), 0);
  flush_all();
  assert_int_equal(emu_reset(&emu), 0);
}

/* The core's warnings of every process, appended to DIR/fleet.log. */
static void to_file(void *arg, enum msoauth_level level, const char *msg) {
  char path[400], line[1400];
  int fd, n;

  (void)arg;
  if (level > MSOAUTH_LOG_WARNING)
    return;
  snprintf(path, sizeof(path), "%s/" LOG_NAME, emu.dir);
  n = snprintf(line, sizeof(line), "%d %s\n", (int)getpid(), msg);
  fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd >= 0) {
    if (write(fd, line, (size_t)n) < 0)
      n = 0;
    close(fd);
  }
}

static const struct msoauth_log file_log = {to_file, NULL, MSOAUTH_LOG_DEBUG};

/* How many lines of the log hold what (and empties it with clear). */
static int log_count(const char *what, int clear) {
  char path[400], line[1400];
  int n = 0;
  FILE *f;

  snprintf(path, sizeof(path), "%s/" LOG_NAME, emu.dir);
  f = fopen(path, "r");
  if (f == NULL)
    return 0;
  while (fgets(line, sizeof(line), f) != NULL)
    n += strstr(line, what) != NULL;
  fclose(f);
  if (clear)
    unlink(path);
  return n;
}

/* One login of one process on the host of path: a token for user with
 * password (NULL: alice's). Exit status 0 when it got one for user. */
static int member(const char *path, const char *user, const char *password) {
  struct msoauth_config *cfg = NULL;
  struct msoauth_ctx *ctx = NULL;
  struct msoauth_secret *pw = NULL;
  struct msoauth_token tok;
  msoauth_rc rc;

  memset(&tok, 0, sizeof(tok));
  rc = msoauth_config_load(path, NULL, NULL, 0, 0, &file_log, &cfg, NULL);
  if (!rc)
    rc = msoauth_secret_from_str(password, &pw);
  if (!rc)
    rc = msoauth_ctx_new(cfg, &file_log, &ctx, NULL);
  if (!rc)
    rc = msoauth_token_get(ctx, user, strlen(user), pw, &tok, NULL);
  if (!rc && strcmp(tok.identity, user) != 0)
    rc = MSOAUTH_ERR_INVALID;
  msoauth_token_clear(&tok);
  msoauth_secret_free(&pw);
  msoauth_ctx_free(&ctx);
  msoauth_config_free(&cfg);
  return rc == MSOAUTH_OK ? 0 : 1;
}

static pid_t spawn(const char *path, const char *user, const char *password) {
  pid_t pid = fork();

  assert_true(pid >= 0);
  if (pid == 0)
    _exit(member(path, user, password));
  return pid;
}

static int reap(pid_t pid) {
  int status;

  assert_int_equal(waitpid(pid, &status, 0), pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* One login, waited for: its exit status; *ms_r how long it took. */
static int login(const char *path, const char *user, const char *password,
                 long long *ms_r) {
  long long start = msoauth_now_ms();
  int status = reap(spawn(path, user, password));

  if (ms_r != NULL)
    *ms_r = msoauth_now_ms() - start;
  return status;
}

/* hosts x FLEET_PROCS processes at once; all must succeed. */
static void fleet(const char *const *paths, int hosts, const char *user,
                  const char *password) {
  pid_t pids[4 * FLEET_PROCS];
  int n = 0, failed = 0;

  for (int i = 0; i < FLEET_PROCS; i++)
    for (int h = 0; h < hosts; h++)
      pids[n++] = spawn(paths[h], user, password);
  for (int i = 0; i < n; i++)
    failed += reap(pids[i]) != 0;
  assert_int_equal(failed, 0);
}

static char paths[4][400];

static void three_hosts(const char *extra) {
  for (int h = 0; h < 3; h++) {
    char name[16];

    snprintf(name, sizeof(name), "h%d.conf", h + 1);
    snprintf(paths[h], sizeof(paths[h]), "%s",
             host_config(name, h + 1, NULL, pw_path, "key1", extra));
  }
}

/* ------------------------------------------------------------ sealing */

static void test_seal(void **state) {
  unsigned char key[32], other[32], *sealed = NULL;
  struct msoauth_secret *hex = NULL;
  char *plain = NULL;
  size_t len = 0, plen = 0;
  const char *bad[] = {
      "", "abc", KEY1 "00",
      "zz1c0e2b9a8d7c6b5a49382716050403f2e1d0c9b8a7968574635241302f1e0d"};

  (void)state;
  assert_int_equal(msoauth_secret_from_str(KEY1, &hex), MSOAUTH_OK);
  assert_int_equal(msoauth_seal_key_parse(hex, key, NULL), MSOAUTH_OK);
  msoauth_secret_free(&hex);
  assert_int_equal(msoauth_secret_from_str(KEY2, &hex), MSOAUTH_OK);
  assert_int_equal(msoauth_seal_key_parse(hex, other, NULL), MSOAUTH_OK);
  msoauth_secret_free(&hex);
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    if (bad[i][0] == '\0')
      continue;
    assert_int_equal(msoauth_secret_from_str(bad[i], &hex), MSOAUTH_OK);
    assert_int_equal(msoauth_seal_key_parse(hex, other + 0, NULL),
                     MSOAUTH_ERR_CONFIG);
    msoauth_secret_free(&hex);
    assert_int_equal(msoauth_secret_from_str(KEY2, &hex), MSOAUTH_OK);
    assert_int_equal(msoauth_seal_key_parse(hex, other, NULL), MSOAUTH_OK);
    msoauth_secret_free(&hex);
  }
  assert_int_equal(msoauth_seal(key, "msoauth:entry:a", "a refresh token", 15,
                                &sealed, &len, NULL),
                   MSOAUTH_OK);
  assert_int_equal(len, 15 + MSOAUTH_SEAL_OVERHEAD);
  assert_null(memmem(sealed, len, "refresh", 7));
  assert_int_equal(msoauth_seal_open(key, "msoauth:entry:a", sealed, len,
                                     &plain, &plen, NULL),
                   MSOAUTH_OK);
  assert_int_equal(plen, 15);
  assert_string_equal(plain, "a refresh token");
  msoauth_free_wiped(&plain);
  /* Another name (an entry copied under another key), another key. */
  assert_int_equal(msoauth_seal_open(key, "msoauth:entry:b", sealed, len,
                                     &plain, &plen, NULL),
                   MSOAUTH_ERR_PROTOCOL);
  assert_int_equal(msoauth_seal_open(other, "msoauth:entry:a", sealed, len,
                                     &plain, &plen, NULL),
                   MSOAUTH_ERR_PROTOCOL);
  assert_null(plain);
  /* Any byte changed: version, nonce, ciphertext, tag; or cut short. */
  for (size_t i = 0; i < len; i++) {
    sealed[i] ^= 0x01;
    assert_int_equal(msoauth_seal_open(key, "msoauth:entry:a", sealed, len,
                                       &plain, &plen, NULL),
                     MSOAUTH_ERR_PROTOCOL);
    sealed[i] ^= 0x01;
  }
  assert_int_equal(msoauth_seal_open(key, "msoauth:entry:a", sealed, len - 1,
                                     &plain, &plen, NULL),
                   MSOAUTH_ERR_PROTOCOL);
  assert_int_equal(
      msoauth_seal_open(key, "msoauth:entry:a", sealed, 5, &plain, &plen, NULL),
      MSOAUTH_ERR_PROTOCOL);
  free(sealed);
  /* A fresh nonce each time: the same plaintext seals differently. */
  {
    unsigned char *a = NULL, *b = NULL;
    size_t la, lb;

    assert_int_equal(msoauth_seal(key, "n", "same", 4, &a, &la, NULL),
                     MSOAUTH_OK);
    assert_int_equal(msoauth_seal(key, "n", "same", 4, &b, &lb, NULL),
                     MSOAUTH_OK);
    assert_memory_not_equal(a + 1, b + 1, 12);
    free(a);
    free(b);
  }
}

/* ------------------------------------------------------------ transport */

static msoauth_rc open_with(const char *url, const char *password,
                            const char *ca, long timeout_ms,
                            struct msoauth_redis **r_r,
                            struct msoauth_err *err) {
  struct msoauth_redis_settings set = {0};
  struct msoauth_secret *pw = NULL;
  msoauth_rc rc;

  if (password != NULL)
    assert_int_equal(msoauth_secret_from_str(password, &pw), MSOAUTH_OK);
  set.url = url;
  set.password = pw;
  set.ca_file = ca;
  set.timeout_ms = timeout_ms;
  rc = msoauth_redis_open(&set, r_r, err);
  msoauth_secret_free(&pw);
  return rc;
}

/* SET and GET of binary bytes on a connection of url. */
static void round_trip(const char *url, const char *password, const char *ca) {
  struct msoauth_redis *r = NULL;
  const char value[] = {'a', 0, '\r', '\n', (char)0xff, 'z'};
  const char *set[] = {"SET", "msoauth:t", value};
  size_t lens[] = {3, 9, sizeof(value)};
  redisReply *reply = NULL;
  struct msoauth_err err;

  msoauth_err_clear(&err);
  assert_int_equal(open_with(url, password, ca, 2000, &r, &err), MSOAUTH_OK);
  assert_int_equal(msoauth_redis_command(r, 3, set, lens, &reply, NULL),
                   MSOAUTH_OK);
  freeReplyObject(reply);
  set[0] = "GET";
  lens[0] = 3;
  assert_int_equal(msoauth_redis_command(r, 2, set, lens, &reply, NULL),
                   MSOAUTH_OK);
  assert_int_equal(reply->type, REDIS_REPLY_STRING);
  assert_int_equal(reply->len, sizeof(value));
  assert_memory_equal(reply->str, value, sizeof(value));
  freeReplyObject(reply);
  msoauth_redis_close(&r);
}

static void test_transport(void **state) {
  struct msoauth_redis *r = NULL;
  struct msoauth_err err;
  char url[400];
  redisReply *reply = NULL;
  const char *get[] = {"GET", "msoauth:t"};
  size_t lens[] = {3, 9};

  (void)state;
  NEED_REDIS();
  snprintf(url, sizeof(url), "redis://msoauth@127.0.0.1:%d", rs.port);
  round_trip(url, USER_PW, NULL);
  snprintf(url, sizeof(url), "redis://127.0.0.1:%d/3", rs.port);
  round_trip(url, DEFAULT_PW, NULL);
  snprintf(url, sizeof(url), "unix:%s", rs.sock);
  round_trip(url, DEFAULT_PW, NULL);
  snprintf(url, sizeof(url), "rediss://msoauth@127.0.0.1:%d", rs.tls_port);
  round_trip(url, USER_PW, emu.ca);
  snprintf(url, sizeof(url), "rediss://msoauth@localhost:%d", rs.tls_port);
  round_trip(url, USER_PW, emu.ca);
  /* TLS verified: not against the system's anchors. */
  msoauth_err_clear(&err);
  snprintf(url, sizeof(url), "rediss://msoauth@127.0.0.1:%d", rs.tls_port);
  assert_int_equal(open_with(url, USER_PW, NULL, 2000, &r, &err),
                   MSOAUTH_ERR_UNAVAILABLE);
  assert_non_null(strstr(err.detail, "TLS"));
  /* A wrong password, a wrong user, no password. */
  snprintf(url, sizeof(url), "redis://msoauth@127.0.0.1:%d", rs.port);
  msoauth_err_clear(&err);
  assert_int_equal(open_with(url, "nope", NULL, 2000, &r, &err),
                   MSOAUTH_ERR_DENIED);
  assert_non_null(strstr(err.detail, "refused the password"));
  assert_null(strstr(err.detail, "nope"));
  snprintf(url, sizeof(url), "redis://mallory@127.0.0.1:%d", rs.port);
  assert_int_equal(open_with(url, USER_PW, NULL, 2000, &r, NULL),
                   MSOAUTH_ERR_DENIED);
  snprintf(url, sizeof(url), "redis://127.0.0.1:%d", rs.port);
  assert_int_equal(open_with(url, NULL, NULL, 2000, &r, NULL), MSOAUTH_OK);
  assert_int_equal(msoauth_redis_command(r, 2, get, lens, &reply, NULL),
                   MSOAUTH_ERR_DENIED);
  msoauth_redis_close(&r);
  /* Nobody there; URLs that cannot be used. */
  snprintf(url, sizeof(url), "redis://127.0.0.1:%d", free_port());
  assert_int_equal(open_with(url, NULL, NULL, 2000, &r, NULL),
                   MSOAUTH_ERR_UNAVAILABLE);
  assert_int_equal(open_with("http://x", NULL, NULL, 2000, &r, NULL),
                   MSOAUTH_ERR_CONFIG);
  assert_int_equal(open_with("redis://u:p@x", NULL, NULL, 2000, &r, NULL),
                   MSOAUTH_ERR_CONFIG);
  assert_int_equal(open_with("redis://x:99999", NULL, NULL, 2000, &r, NULL),
                   MSOAUTH_ERR_CONFIG);
  assert_int_equal(open_with("unix:relative", NULL, NULL, 2000, &r, NULL),
                   MSOAUTH_ERR_CONFIG);
}

/* A listener that accepts connections (the kernel does) and never
 * answers; its port. */
static int silent_listener(int *fd_r) {
  struct sockaddr_in sa;
  socklen_t len = sizeof(sa);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_true(fd >= 0);
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  assert_int_equal(listen(fd, 64), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
  *fd_r = fd;
  return ntohs(sa.sin_port);
}

static void test_transport_silent(void **state) {
  struct msoauth_redis *r = NULL;
  struct msoauth_err err;
  char url[200];
  long long start, took;
  int fd, port;

  (void)state;
  NEED_REDIS(); /* emu.ca */
  port = silent_listener(&fd);
  snprintf(url, sizeof(url), "redis://msoauth@127.0.0.1:%d", port);
  start = msoauth_now_ms();
  msoauth_err_clear(&err);
  assert_int_equal(open_with(url, USER_PW, NULL, 700, &r, &err),
                   MSOAUTH_ERR_UNAVAILABLE);
  took = msoauth_now_ms() - start;
  assert_true(took >= 650 && took < 1500);
  assert_non_null(strstr(err.detail, "in time"));
  snprintf(url, sizeof(url), "rediss://127.0.0.1:%d", port);
  start = msoauth_now_ms();
  assert_int_equal(open_with(url, NULL, emu.ca, 700, &r, NULL),
                   MSOAUTH_ERR_UNAVAILABLE);
  took = msoauth_now_ms() - start;
  assert_true(took >= 650 && took < 1500);
  close(fd);
}

/* ------------------------------------------------------------ the fleet */

/* 3 hosts x 10 processes on a cold cache, each token request delayed 1 s:
 * one request, 30 tokens. */
static void test_fleet_cold(void **state) {
  const char *p[3];

  (void)state;
  NEED_REDIS();
  write_secrets();
  cold_hosts();
  three_hosts(NULL);
  for (int h = 0; h < 3; h++)
    p[h] = paths[h];
  assert_int_equal(
      emu_post(&emu, "/_emu/fault", "{\"kind\":\"delay\",\"seconds\":1.0}"), 0);
  fleet(p, 3, "alice@contoso.com", EMU_ALICE_PASSWORD);
  assert_int_equal(emu_count(&emu, "endpoint:token"), 1);
  assert_int_equal(log_count("", 1) >= 0, 1);
}

/* The same on an entry due for refresh, with strict rotation: one
 * refresh_token request (a second one would be refused). */
static void test_fleet_refresh(void **state) {
  const char *p[3];

  (void)state;
  NEED_REDIS();
  cold_hosts();
  three_hosts("timeout = 5\nrefresh_margin = 600\n");
  for (int h = 0; h < 3; h++)
    p[h] = paths[h];
  assert_int_equal(emu_post(&emu, "/_emu/options",
                            "{\"expires_in\": 602, \"strict_rotation\": 1}"),
                   0);
  assert_int_equal(login(p[0], "alice@contoso.com", EMU_ALICE_PASSWORD, NULL),
                   0);
  assert_int_equal(emu_count(&emu, "endpoint:token"), 1);
  msoauth_sleep_ms(2500); /* within refresh_margin of its expiry now */
  assert_int_equal(
      emu_post(&emu, "/_emu/fault", "{\"kind\":\"delay\",\"seconds\":1.0}"), 0);
  fleet(p, 3, "alice@contoso.com", EMU_ALICE_PASSWORD);
  assert_int_equal(emu_count(&emu, "endpoint:token"), 2);
  assert_int_equal(emu_count(&emu, "grant:refresh_token"), 1);
  log_count("", 1);
}

/* PAM on two hosts: one wrong password from both is one request. */
static void test_fleet_failure_memory(void **state) {
  struct msoauth_config *cfg = NULL;
  struct msoauth_ctx *ctx = NULL;
  struct msoauth_secret *pw = NULL;
  struct msoauth_verified v;

  (void)state;
  NEED_REDIS();
  cold_hosts();
  three_hosts(NULL);
  assert_int_equal(msoauth_secret_from_str("stale password", &pw), MSOAUTH_OK);
  for (int h = 0; h < 2; h++) {
    assert_int_equal(msoauth_config_load(paths[h], NULL, NULL, 0,
                                         MSOAUTH_CONFIG_VERIFY_PASSWORDS, NULL,
                                         &cfg, NULL),
                     MSOAUTH_OK);
    assert_int_equal(msoauth_ctx_new(cfg, NULL, &ctx, NULL), MSOAUTH_OK);
    for (int i = 0; i < 3; i++) {
      assert_int_equal(msoauth_token_verify_password(ctx, "bob@contoso.com", 15,
                                                     pw, 0, &v, NULL),
                       MSOAUTH_ERR_BAD_CREDENTIALS);
      assert_int_equal(v.cached_failure, h > 0 || i > 0);
      msoauth_verified_clear(&v);
    }
    msoauth_ctx_free(&ctx);
    msoauth_config_free(&cfg);
  }
  msoauth_secret_free(&pw);
  assert_int_equal(emu_count(&emu, "endpoint:token"), 1);
}

/* Adds every string of the JSON entry files of host dir: tokens, refresh
 * tokens, verifiers, names. */
static void add_strings(struct leak_secrets *set, struct json_object *obj) {
  if (json_object_is_type(obj, json_type_string)) {
    assert_int_equal(leak_add(set, json_object_get_string(obj)), 0);
  } else if (json_object_is_type(obj, json_type_array)) {
    for (size_t i = 0; i < json_object_array_length(obj); i++)
      add_strings(set, json_object_array_get_idx(obj, i));
  } else if (json_object_is_type(obj, json_type_object)) {
    json_object_object_foreach(obj, k, v) {
      (void)k;
      add_strings(set, v);
    }
  }
}

static size_t add_host_files(struct leak_secrets *set, int host) {
  char dir[400], path[800];
  struct dirent *de;
  size_t n = 0;
  DIR *d;

  snprintf(dir, sizeof(dir), "%s/h%d", emu.dir, host);
  d = opendir(dir);
  if (d == NULL)
    return 0;
  while ((de = readdir(d)) != NULL) {
    struct json_object *root;

    if (strstr(de->d_name, ".json") == NULL)
      continue;
    snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
    root = json_object_from_file(path);
    assert_non_null(root);
    add_strings(set, root);
    json_object_put(root);
    n++;
  }
  closedir(d);
  return n;
}

/* Every key and value in Redis, appended to sinks. */
static size_t dump_redis(struct leak_sinks *sinks) {
  struct msoauth_redis *r = admin();
  const char *keys[] = {"KEYS", "*"};
  redisReply *all;
  size_t n;

  assert_non_null(r);
  all = cmd(r, 2, keys);
  assert_int_equal(all->type, REDIS_REPLY_ARRAY);
  n = all->elements;
  for (size_t i = 0; i < all->elements; i++) {
    const char *get[] = {"GET", all->element[i]->str};
    redisReply *v = cmd(r, 2, get);

    assert_int_equal(leak_sink(sinks, "redis key", all->element[i]->str,
                               all->element[i]->len),
                     0);
    if (v->type == REDIS_REPLY_STRING)
      assert_int_equal(leak_sink(sinks, "redis value", v->str, v->len), 0);
    freeReplyObject(v);
    if (strncmp(all->element[i]->str, "msoauth:entry:", 14) == 0) {
      const char *ttl[] = {"TTL", all->element[i]->str};
      redisReply *t = cmd(r, 2, ttl);

      /* An entry goes 90 days after its last store (an unused refresh
       * token's lifetime): a departed user's stays no longer. */
      assert_int_equal(t->type, REDIS_REPLY_INTEGER);
      assert_true(t->integer > 90 * 86400 - 600 && t->integer <= 90 * 86400);
      freeReplyObject(t);
    }
  }
  freeReplyObject(all);
  msoauth_redis_close(&r);
  return n;
}

/* No token, refresh token, password, verifier, identity or key in clear
 * in Redis. */
static void test_no_secret_in_redis(void **state) {
  struct leak_secrets secrets = {0};
  struct leak_sinks sinks = {0};
  struct msoauth_config *cfg = NULL;
  struct msoauth_ctx *ctx = NULL;
  struct msoauth_secret *pw = NULL;
  struct msoauth_verified v;
  size_t files = 0;

  (void)state;
  NEED_REDIS();
  cold_hosts();
  three_hosts("timeout = 5\noffline_grace = 3600\nstore_tokens = yes\n");
  /* A token with a refresh token, a failure memory, an offline verifier. */
  assert_int_equal(
      login(paths[0], "alice@contoso.com", EMU_ALICE_PASSWORD, NULL), 0);
  assert_int_equal(msoauth_config_load(paths[1], NULL, NULL, 0,
                                       MSOAUTH_CONFIG_VERIFY_PASSWORDS, NULL,
                                       &cfg, NULL),
                   MSOAUTH_OK);
  assert_int_equal(msoauth_ctx_new(cfg, NULL, &ctx, NULL), MSOAUTH_OK);
  assert_int_equal(msoauth_secret_from_str(EMU_BOB_PASSWORD, &pw), MSOAUTH_OK);
  assert_int_equal(msoauth_token_verify_password(ctx, "bob@contoso.com", 15, pw,
                                                 0, &v, NULL),
                   MSOAUTH_OK);
  msoauth_verified_clear(&v);
  msoauth_secret_free(&pw);
  assert_int_equal(msoauth_secret_from_str("stale password", &pw), MSOAUTH_OK);
  assert_int_equal(msoauth_token_verify_password(ctx, "bob@contoso.com", 15, pw,
                                                 0, &v, NULL),
                   MSOAUTH_ERR_BAD_CREDENTIALS);
  msoauth_verified_clear(&v);
  msoauth_secret_free(&pw);
  msoauth_ctx_free(&ctx);
  msoauth_config_free(&cfg);
  /* What the hosts hold in clear is what Redis must not. */
  for (int h = 1; h <= 3; h++)
    files += add_host_files(&secrets, h);
  assert_int_equal(files, 2);
  assert_true(leak_collect(&secrets, &emu) > 0);
  assert_int_equal(leak_add(&secrets, USER_PW), 0);
  assert_int_equal(leak_add(&secrets, DEFAULT_PW), 0);
  assert_int_equal(leak_add(&secrets, KEY1), 0);
  assert_int_equal(leak_add(&secrets, "contoso"), 0);
  assert_true(dump_redis(&sinks) >= 2);
  assert_int_equal(leak_find(&secrets, &sinks), 0);
  leak_secrets_free(&secrets);
  leak_sinks_free(&sinks);
}

/* The Redis name of user's entry under key hex (as cache_redis.c makes
 * it: the HMAC of the key's fields joined by newlines). */
static void entry_name(const char *hex_key, const char *user, char out[80]) {
  struct msoauth_secret *hex = NULL;
  unsigned char key[32], names[32];
  char text[600];

  assert_int_equal(msoauth_secret_from_str(hex_key, &hex), MSOAUTH_OK);
  assert_int_equal(msoauth_seal_key_parse(hex, key, NULL), MSOAUTH_OK);
  msoauth_secret_free(&hex);
  assert_int_equal(msoauth_seal_derive(key, "msoauth redis entry names", names),
                   MSOAUTH_OK);
  snprintf(text, sizeof(text), "%s\ncontoso.com\n" EMU_PUBLIC_CLIENT "\n%s",
           emu.url, user);
  strcpy(out, "msoauth:entry:");
  assert_int_equal(msoauth_seal_name(names, text, out + 14), MSOAUTH_OK);
}

/* alice's entry copied onto bob's name does not open: bob gets his own
 * token, and the copy is logged. */
static void test_copied_entry(void **state) {
  struct msoauth_redis *r;
  char alice[80], bob[80];
  redisReply *v;

  (void)state;
  NEED_REDIS();
  cold_hosts();
  three_hosts(NULL);
  assert_int_equal(
      login(paths[0], "alice@contoso.com", EMU_ALICE_PASSWORD, NULL), 0);
  entry_name(KEY1, "alice@contoso.com", alice);
  entry_name(KEY1, "bob@contoso.com", bob);
  r = admin();
  {
    const char *get[] = {"GET", alice};

    v = cmd(r, 2, get);
    assert_int_equal(v->type, REDIS_REPLY_STRING);
  }
  {
    const char *set[] = {"SET", bob, v->str};
    size_t lens[] = {3, strlen(bob), v->len};
    redisReply *ok = NULL;

    assert_int_equal(msoauth_redis_command(r, 3, set, lens, &ok, NULL),
                     MSOAUTH_OK);
    freeReplyObject(ok);
  }
  freeReplyObject(v);
  msoauth_redis_close(&r);
  log_count("", 1);
  /* member() checks the token is bob's. */
  assert_int_equal(login(paths[1], "bob@contoso.com", EMU_BOB_PASSWORD, NULL),
                   0);
  assert_int_equal(emu_count(&emu, "endpoint:token"), 2);
  /* Logged where it was read: before the lock and again under it. */
  assert_true(log_count("ignored", 1) >= 1);
}

/* A host with another key ignores the entries and makes its own request;
 * with that key as redis_key_file_old, it reads them (rotation). */
static void test_other_key(void **state) {
  char rotated[300];
  const char *other;

  (void)state;
  NEED_REDIS();
  cold_hosts();
  three_hosts(NULL);
  assert_int_equal(
      login(paths[0], "alice@contoso.com", EMU_ALICE_PASSWORD, NULL), 0);
  snprintf(rotated, sizeof(rotated),
           "timeout = 5\nredis_key_file_old = %s/key1\n", emu.dir);
  other = host_config("h4r.conf", 4, NULL, pw_path, "key2", rotated);
  assert_non_null(other);
  assert_int_equal(login(other, "alice@contoso.com", EMU_ALICE_PASSWORD, NULL),
                   0);
  assert_int_equal(emu_count(&emu, "endpoint:token"), 1);
  other = host_config("h4.conf", 4, NULL, pw_path, "key2", NULL);
  assert_int_equal(system("true"), 0);
  {
    char cmdline[400];

    snprintf(cmdline, sizeof(cmdline), "rm -rf '%s/h4'", emu.dir);
    assert_int_equal(system(cmdline), 0);
  }
  assert_int_equal(login(other, "alice@contoso.com", EMU_ALICE_PASSWORD, NULL),
                   0);
  assert_int_equal(emu_count(&emu, "endpoint:token"), 2);
  /* The first host still reads its own entry. */
  assert_int_equal(
      login(paths[0], "alice@contoso.com", EMU_ALICE_PASSWORD, NULL), 0);
  assert_int_equal(emu_count(&emu, "endpoint:token"), 2);
}

struct names {
  char seen[1024];
};

static void note(void *arg, const struct msoauth_token_info *info) {
  struct names *n = arg;

  strncat(n->seen, info->identity, sizeof(n->seen) - strlen(n->seen) - 2);
  strcat(n->seen, " ");
}

/* msoauth check's probe and msoauth cache list, through the token layer. */
static void test_check_and_list(void **state) {
  struct msoauth_config *cfg = NULL;
  struct msoauth_err err;
  struct names n = {""};
  const char *path;

  (void)state;
  NEED_REDIS();
  cold_hosts();
  three_hosts(NULL);
  assert_int_equal(
      login(paths[0], "alice@contoso.com", EMU_ALICE_PASSWORD, NULL), 0);
  assert_int_equal(login(paths[1], "bob@contoso.com", EMU_BOB_PASSWORD, NULL),
                   0);
  assert_int_equal(
      msoauth_config_load(paths[2], NULL, NULL, 0, 0, NULL, &cfg, NULL),
      MSOAUTH_OK);
  msoauth_err_clear(&err);
  assert_int_equal(msoauth_token_check_shared(cfg, NULL, &err), MSOAUTH_OK);
  /* Host 3 fetched nothing: what it lists is the fleet's. */
  assert_int_equal(msoauth_token_list(cfg, NULL, note, &n, NULL), MSOAUTH_OK);
  assert_non_null(strstr(n.seen, "alice@contoso.com"));
  assert_non_null(strstr(n.seen, "bob@contoso.com"));
  msoauth_config_free(&cfg);
  /* The same fleet over TLS (ca_file: the emulator's CA signed both). */
  {
    char url[200];

    snprintf(url, sizeof(url), "rediss://msoauth@127.0.0.1:%d", rs.tls_port);
    path = host_config("tls.conf", 4, url, pw_path, "key1", NULL);
    assert_int_equal(
        msoauth_config_load(path, NULL, NULL, 0, 0, NULL, &cfg, NULL),
        MSOAUTH_OK);
    assert_int_equal(msoauth_token_check_shared(cfg, NULL, &err), MSOAUTH_OK);
    msoauth_config_free(&cfg);
    assert_int_equal(login(path, "alice@contoso.com", EMU_ALICE_PASSWORD, NULL),
                     0);
    assert_int_equal(emu_count(&emu, "endpoint:token"), 2);
  }
  /* A wrong password; a key that is not one. */
  path = host_config("wrongpw.conf", 3, NULL, "/dev/null", "key1", NULL);
  assert_non_null(path);
  path = host_config("wrongpw.conf", 3, NULL, NULL, "key1", NULL);
  {
    char extra[400];

    snprintf(extra, sizeof(extra),
             "timeout = 5\nredis_password_file = %s/wrong.pw\n", emu.dir);
    path = host_config("wrongpw.conf", 3, NULL, NULL, "key1", extra);
  }
  assert_int_equal(
      msoauth_config_load(path, NULL, NULL, 0, 0, NULL, &cfg, NULL),
      MSOAUTH_OK);
  msoauth_err_clear(&err);
  assert_int_equal(msoauth_token_check_shared(cfg, NULL, &err),
                   MSOAUTH_ERR_DENIED);
  assert_non_null(strstr(err.detail, "password"));
  msoauth_config_free(&cfg);
  path = host_config("badkey.conf", 3, NULL, pw_path, "badkey", NULL);
  assert_int_equal(
      msoauth_config_load(path, NULL, NULL, 0, 0, NULL, &cfg, NULL),
      MSOAUTH_OK);
  msoauth_err_clear(&err);
  assert_int_equal(msoauth_token_check_shared(cfg, NULL, &err),
                   MSOAUTH_ERR_CONFIG);
  assert_non_null(strstr(err.detail, "redis_key_file"));
  assert_null(strstr(err.detail, "not-hex"));
  msoauth_config_free(&cfg);
}

/* Runs the built msoauth with args (a shell word list) on host config
 * path; its stdout and stderr into out. Returns the exit status. */
static int run_cli(const char *path, const char *args, char *out, size_t size) {
  const char *builddir = getenv("MSOAUTH_BUILDDIR");
  char cmdline[1600];
  size_t n;
  FILE *p;
  int status;

  snprintf(cmdline, sizeof(cmdline), "'%s/tools/msoauth' -c '%s' %s 2>&1",
           builddir != NULL ? builddir : ".", path, args);
  p = popen(cmdline, "r");
  assert_non_null(p);
  n = fread(out, 1, size - 1, p);
  out[n] = '\0';
  status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* msoauth check and msoauth cache list as an administrator runs them:
 * the probe said, the fleet's entries listed, no secret shown. */
static void test_cli(void **state) {
  struct leak_secrets secrets = {0};
  struct leak_sinks sinks = {0};
  static char out[16384];
  char extra[400];
  const char *path;

  (void)state;
  NEED_REDIS();
  cold_hosts();
  three_hosts(NULL);
  assert_int_equal(
      login(paths[0], "alice@contoso.com", EMU_ALICE_PASSWORD, NULL), 0);
  assert_int_equal(run_cli(paths[2], "check", out, sizeof(out)), 0);
  assert_non_null(strstr(out, "ok: shared cache redis://msoauth@127.0.0.1"));
  assert_int_equal(leak_sink(&sinks, "check", out, strlen(out)), 0);
  assert_int_equal(run_cli(paths[2], "cache list", out, sizeof(out)), 0);
  assert_non_null(strstr(out, "alice@contoso.com"));
  assert_non_null(strstr(out, "refresh token: yes"));
  assert_int_equal(leak_sink(&sinks, "list", out, strlen(out)), 0);
  snprintf(extra, sizeof(extra),
           "timeout = 5\nredis_password_file = %s/wrong.pw\n", emu.dir);
  path = host_config("wrongcli.conf", 3, NULL, NULL, "key1", extra);
  assert_int_equal(run_cli(path, "check", out, sizeof(out)), 2);
  assert_non_null(strstr(out, "error: shared cache"));
  assert_non_null(strstr(out, "refused the password"));
  assert_int_equal(leak_sink(&sinks, "check wrong", out, strlen(out)), 0);
  assert_true(leak_collect(&secrets, &emu) > 0);
  assert_int_equal(leak_add(&secrets, USER_PW), 0);
  assert_int_equal(leak_add(&secrets, KEY1), 0);
  assert_int_equal(leak_add(&secrets, "not-the-password"), 0);
  assert_int_equal(leak_find(&secrets, &sinks), 0);
  leak_secrets_free(&secrets);
  leak_sinks_free(&sinks);
}

/* ------------------------------------------------------------ faults */

/* Redis stopped: logins go on from each host's file cache, at once; one
 * warning per outage on a host. Restarted (empty): one request again. */
static void test_redis_stopped(void **state) {
  const char *p[3];
  long long ms;

  (void)state;
  NEED_REDIS();
  cold_hosts();
  three_hosts(NULL);
  for (int h = 0; h < 3; h++)
    p[h] = paths[h];
  assert_int_equal(login(p[0], "alice@contoso.com", EMU_ALICE_PASSWORD, NULL),
                   0);
  log_count("", 1);
  redis_stop();
  for (int i = 0; i < 3; i++) {
    assert_int_equal(login(p[0], "alice@contoso.com", EMU_ALICE_PASSWORD, &ms),
                     0);
    assert_true(ms < 1000);
  }
  assert_int_equal(emu_count(&emu, "endpoint:token"), 1);
  /* Another host, which fetched nothing, goes on alone. */
  assert_int_equal(login(p[1], "alice@contoso.com", EMU_ALICE_PASSWORD, &ms),
                   0);
  assert_int_equal(emu_count(&emu, "endpoint:token"), 2);
  /* One warning per host for the outage, not one per login. */
  assert_int_equal(log_count("out of use", 1), 2);
  assert_int_equal(redis_start(), 0);
  msoauth_sleep_ms(2200); /* 2 x connect_timeout: Redis is tried again */
  assert_int_equal(emu_reset(&emu), 0);
  assert_int_equal(
      emu_post(&emu, "/_emu/fault", "{\"kind\":\"delay\",\"seconds\":1.0}"), 0);
  fleet(p, 3, "bob@contoso.com", EMU_BOB_PASSWORD);
  assert_int_equal(emu_count(&emu, "endpoint:token"), 1);
  assert_int_equal(log_count("back in use", 1), 2);
}

/* A wrong Redis password: a clear error, logins from the file cache. */
static void test_wrong_password(void **state) {
  char extra[400];
  const char *path;
  long long ms;

  (void)state;
  NEED_REDIS();
  cold_hosts();
  snprintf(extra, sizeof(extra),
           "timeout = 5\nredis_password_file = %s/wrong.pw\n", emu.dir);
  path = host_config("wrong.conf", 1, NULL, NULL, "key1", extra);
  assert_int_equal(login(path, "alice@contoso.com", EMU_ALICE_PASSWORD, &ms),
                   0);
  assert_int_equal(login(path, "alice@contoso.com", EMU_ALICE_PASSWORD, &ms),
                   0);
  assert_int_equal(emu_count(&emu, "endpoint:token"), 1);
  assert_int_equal(log_count("refused the password", 1), 1);
}

/* A holder killed with the lock: the others proceed after its expiry. */
static void test_killed_holder(void **state) {
  const char *holder;
  pid_t pid;
  long long ms;
  int status;

  (void)state;
  NEED_REDIS();
  cold_hosts();
  three_hosts(NULL);
  holder =
      host_config("holder.conf", 4, NULL, pw_path, "key1", "timeout = 2\n");
  pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    struct msoauth_config *cfg = NULL;
    struct msoauth_cache_settings set;
    struct msoauth_cache *cache = NULL;
    struct msoauth_cache_lock *lock = NULL;
    struct msoauth_cache_key key = {emu.url, "contoso.com", EMU_PUBLIC_CLIENT,
                                    "alice@contoso.com"};

    if (msoauth_config_load(holder, NULL, NULL, 0, 0, NULL, &cfg, NULL) ||
        (msoauth_settings_cache(cfg, &set), 0) ||
        msoauth_cache_open(&set, NULL, &cache, NULL) ||
        msoauth_cache_lock(cache, &key, msoauth_now_ms() + 1000, &lock, NULL))
      _exit(1);
    kill(getpid(), SIGKILL);
  }
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFSIGNALED(status));
  assert_int_equal(
      login(paths[1], "alice@contoso.com", EMU_ALICE_PASSWORD, &ms), 0);
  /* The lock's expiry is the holder's timeout, 2 s. */
  assert_true(ms >= 1500 && ms < 4000);
  assert_int_equal(emu_count(&emu, "endpoint:token"), 1);
}

/* A Redis that accepts and never answers: a login waits connect_timeout
 * once, and the next ones on the host not at all. */
static void test_silent_redis(void **state) {
  char url[200];
  const char *path;
  long long ms;
  int fd, port;

  (void)state;
  NEED_REDIS();
  cold_hosts();
  port = silent_listener(&fd);
  snprintf(url, sizeof(url), "redis://msoauth@127.0.0.1:%d", port);
  path = host_config("silent.conf", 1, url, pw_path, "key1", NULL);
  assert_int_equal(login(path, "alice@contoso.com", EMU_ALICE_PASSWORD, &ms),
                   0);
  assert_true(ms >= 900 && ms < 3000);
  assert_int_equal(login(path, "alice@contoso.com", EMU_ALICE_PASSWORD, &ms),
                   0);
  assert_true(ms < 800);
  assert_int_equal(emu_count(&emu, "endpoint:token"), 1);
  assert_int_equal(log_count("out of use", 1), 1);
  close(fd);
}

/* ------------------------------------------------------------ name lookup */

#define SILENT_NAME "redis.invalid-test.example"

static char resolv_mnt[2][40];

/* A DNS server that never answers, on address ip port 53 (UDP and TCP; the
 * kernel queues what it is sent, nobody reads it): fds in fd_r. */
static void silent_dns(const char *ip, int fd_r[2]) {
  struct sockaddr_in sa;
  int type[2] = {SOCK_DGRAM, SOCK_STREAM};

  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_port = htons(53);
  assert_int_equal(inet_pton(AF_INET, ip, &sa.sin_addr), 1);
  for (int i = 0; i < 2; i++) {
    fd_r[i] = socket(AF_INET, type[i] | SOCK_CLOEXEC, 0);
    assert_true(fd_r[i] >= 0);
    assert_int_equal(bind(fd_r[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
  }
  assert_int_equal(listen(fd_r[1], 16), 0);
}

/* Puts text over /etc/NAME in this process's mount namespace. */
static void bind_etc(int i, const char *name, const char *text) {
  const char *src = emu_write_file(&emu, name, text, 0644);

  snprintf(resolv_mnt[i], sizeof(resolv_mnt[i]), "/etc/%s", name);
  assert_int_equal(mount(src, resolv_mnt[i], NULL, MS_BIND, NULL), 0);
}

/* A resolver that never answers (timeout:5 attempts:2, so a plain
 * getaddrinfo of a name waits 10 s): the name in redis_url costs
 * connect_timeout and no more, the login goes on from the file cache, and
 * names /etc/hosts knows, and addresses, still work. Root only (a mount
 * namespace of the test's own, port 53 on a loopback address). */
static void test_silent_resolver(void **state) {
  char url[200], ip[40], conf[200];
  const char *path;
  struct msoauth_redis *r = NULL;
  struct msoauth_err err;
  long long start, ms;
  int fds[2], status;

  (void)state;
  NEED_REDIS();
  if (geteuid() != 0 || unshare(CLONE_NEWNS) != 0 ||
      mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
    fprintf(stderr, "# not root, or no mount namespace: skipped\n");
    skip();
  }
  /* An address of this run's own: tests run side by side. */
  snprintf(ip, sizeof(ip), "127.53.%d.%d", (int)(getpid() >> 8) & 0xff,
           (int)(getpid() & 0xff) | 1);
  silent_dns(ip, fds);
  snprintf(conf, sizeof(conf), "nameserver %s\noptions timeout:5 attempts:2\n",
           ip);
  bind_etc(0, "resolv.conf", conf);
  bind_etc(1, "nsswitch.conf", "hosts: files dns\n");
  cold_hosts();
  snprintf(url, sizeof(url), "redis://msoauth@" SILENT_NAME ":%d", rs.port);
  path = host_config("resolver.conf", 1, url, pw_path, "key1", NULL);
  status = login(path, "alice@contoso.com", EMU_ALICE_PASSWORD, &ms);
  fprintf(stderr, "# login with a silent resolver: %lld ms\n", ms);
  assert_int_equal(status, 0);
  assert_true(ms >= 900 && ms < 2500);
  assert_int_equal(login(path, "alice@contoso.com", EMU_ALICE_PASSWORD, &ms),
                   0);
  assert_true(ms < 800);
  assert_int_equal(emu_count(&emu, "endpoint:token"), 1);
  assert_int_equal(log_count("out of use", 1), 1);
  /* A name of /etc/hosts and an address need no DNS. */
  snprintf(url, sizeof(url), "redis://msoauth@localhost:%d", rs.port);
  round_trip(url, USER_PW, NULL);
  snprintf(url, sizeof(url), "redis://msoauth@127.0.0.1:%d", rs.port);
  round_trip(url, USER_PW, NULL);
  /* The opening alone, in this process (its lookup left to libc). */
  snprintf(url, sizeof(url), "redis://msoauth@" SILENT_NAME ":%d", rs.port);
  start = msoauth_now_ms();
  msoauth_err_clear(&err);
  assert_int_equal(open_with(url, USER_PW, NULL, 700, &r, &err),
                   MSOAUTH_ERR_UNAVAILABLE);
  ms = msoauth_now_ms() - start;
  fprintf(stderr, "# opening with a silent resolver: %lld ms\n", ms);
  assert_true(ms >= 650 && ms < 1500);
  assert_non_null(strstr(err.detail, "in time"));
  close(fds[0]);
  close(fds[1]);
}

/* A failed test leaves no mount behind in this namespace. */
static int resolver_teardown(void **state) {
  (void)state;
  for (int i = 0; i < 2; i++)
    if (resolv_mnt[i][0] != '\0')
      umount2(resolv_mnt[i], MNT_DETACH);
  return 0;
}

/* conf/fleet's examples: known keys, valid values, the shared cache
 * chosen (their files replaced by the test's). */
static void test_fleet_examples(void **state) {
  const char *names[] = {"msoauth-relay.conf", "msoauth-imap.conf"};
  const char *srcdir = getenv("MSOAUTH_SRCDIR");
  char pw[500], key[500], svc[500], path[600];

  (void)state;
  NEED_REDIS(); /* the emulator's directory holds the files */
  if (srcdir == NULL)
    skip();
  write_secrets();
  snprintf(pw, sizeof(pw), "redis_password_file=%s", pw_path);
  snprintf(key, sizeof(key), "redis_key_file=%s/key1", emu.dir);
  snprintf(svc, sizeof(svc), "service_account_password_file=%s", pw_path);
  for (size_t i = 0; i < 2; i++) {
    const char *over[] = {pw, key, svc};
    struct msoauth_config *cfg = NULL;
    struct msoauth_err err;

    snprintf(path, sizeof(path), "%s/conf/fleet/%s", srcdir, names[i]);
    msoauth_err_clear(&err);
    assert_int_equal(msoauth_config_load(path, NULL, over, i == 0 ? 3 : 2, 0,
                                         NULL, &cfg, &err),
                     MSOAUTH_OK);
    assert_int_equal(cfg->cache_backend, MSOAUTH_CACHE_REDIS);
    assert_non_null(strstr(cfg->redis_url, "rediss://msoauth@"));
    msoauth_config_free(&cfg);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fleet_examples),
      cmocka_unit_test(test_seal),
      cmocka_unit_test(test_transport),
      cmocka_unit_test(test_transport_silent),
      cmocka_unit_test(test_fleet_cold),
      cmocka_unit_test(test_fleet_refresh),
      cmocka_unit_test(test_fleet_failure_memory),
      cmocka_unit_test(test_no_secret_in_redis),
      cmocka_unit_test(test_copied_entry),
      cmocka_unit_test(test_other_key),
      cmocka_unit_test(test_check_and_list),
      cmocka_unit_test(test_cli),
      cmocka_unit_test(test_redis_stopped),
      cmocka_unit_test(test_wrong_password),
      cmocka_unit_test(test_killed_holder),
      cmocka_unit_test(test_silent_redis),
      /* Last: it leaves this process in a mount namespace of its own. */
      cmocka_unit_test_teardown(test_silent_resolver, resolver_teardown),
  };

  return cmocka_run_group_tests(tests, setup, teardown);
}
