#include "config_build.h"
/*
 * sasl_loop.c - many SASL client authentications through the plugin
 * libxoauth2.so in one process, as a long-lived Postfix smtp or a mail
 * client makes them: the real libsasl2 loads the plugin from the build
 * tree and this program plays the server. Rounds go in turn:
 *
 *   good      XOAUTH2 or OAUTHBEARER; the token in the initial response is
 *             one the emulator says is active; an empty challenge ends it
 *   wrong     a wrong password: refused at sasl_client_start
 *   refused   the server answers an RFC 7628 error challenge: the plugin
 *             answers it, drops the token; the next good round gets a new
 *             one
 *   down      the authority does not answer (port 1): SASL_TRYAGAIN
 *
 * libsasl2 reads the plugin's configuration at sasl_client_init: the down
 * round and the next good one reload it (sasl_client_done, _init), so
 * that the plugin's init and free run in the loop too. Run by
 * valgrind-loop.sh under valgrind; exits 0 when every result and the
 * request counts were the expected ones.
 *
 *   sasl_loop [COUNT]      (a multiple of 4; MSOAUTH_SASLLOOP_DIR: a private
 * directory for the configurations and the cache)
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <sasl/sasl.h>

#include "../emu.h"
#include "sasl_client.h"

#define USER "alice@contoso.com"
#define CHALLENGE                                                              \
  "{\"status\":\"invalid_token\",\"schemes\":\"bearer\","                      \
  "\"scope\":\"https://outlook.office.com/SMTP.Send\"}"

enum round_kind { GOOD = 0, WRONG = 1, REFUSED = 2, DOWN = 3, KINDS = 4 };

static char plugin_dir[1024];
static char conf_up[512], conf_down[512];
static struct emu emu;

static int loop_log(int level, const char *message) {
  if (getenv("SASL_LOOP_VERBOSE") != NULL)
    fprintf(stderr, "sasl log %d: %s\n", level, message);
  return SASL_OK;
}

/* Loads the plugin with config unless it is loaded with it already. */
static int load(const char *config) {
  if (saslc.loaded && saslc.config == config)
    return 0;
  return saslc_load(config) == SASL_OK ? 0 : -1;
}

/* Whether the emulator says token (len bytes) is active: the server's
 * check of the initial response. */
static int token_active(const char *token, size_t len) {
  struct json_object *obj, *v;
  char json[8192], *body;
  int active;

  if (len == 0 || len > 8000)
    return 0;
  /* A JWT needs no JSON escaping; \1 would have ended the field. */
  snprintf(json, sizeof(json), "{\"token\":\"%.*s\"}", (int)len, token);
  body = emu_post_body(&emu, "/_emu/introspect", json);
  obj = body != NULL ? json_tokener_parse(body) : NULL;
  active = obj != NULL && json_object_object_get_ex(obj, "active", &v) &&
           json_object_is_type(v, json_type_boolean) &&
           json_object_get_boolean(v);
  json_object_put(obj);
  free(body);
  return active;
}

/* The token of an initial response: between "auth=Bearer " and \1\1. */
static int check_response(const char *mech, const char *out, unsigned len) {
  static const char auth[] = "\001auth=Bearer ";
  const char *head =
      strcmp(mech, "XOAUTH2") == 0 ? "user=" USER "\001" : "n,a=" USER ",\001";
  const char *tok;

  if (len < strlen(head) + 2 || strncmp(out, head, strlen(head)) != 0 ||
      memcmp(out + len - 2, "\001\001", 2) != 0)
    return -1;
  tok = memmem(out, len, auth, sizeof(auth) - 1);
  if (tok == NULL)
    return -1;
  tok += sizeof(auth) - 1;
  return token_active(tok, (size_t)(out + len - 2 - tok)) ? 0 : -1;
}

/* The server's part after the initial response: accept, or refuse with an
 * error challenge. 0 when the plugin answered as it should. */
static int finish(sasl_conn_t *conn, const char *mech, enum round_kind kind) {
  const char *out = NULL;
  unsigned len = 0;
  int rc;

  if (kind == GOOD) {
    rc = sasl_client_step(conn, "", 0, NULL, &out, &len);
    return rc == SASL_OK ? 0 : -1;
  }
  rc = sasl_client_step(conn, CHALLENGE, sizeof(CHALLENGE) - 1, NULL, &out,
                        &len);
  if (rc != SASL_CONTINUE)
    return -1;
  /* XOAUTH2 answers with nothing, OAUTHBEARER with a lone \1. */
  if (strcmp(mech, "XOAUTH2") == 0)
    return len == 0 ? 0 : -1;
  return len == 1 && out[0] == '\001' ? 0 : -1;
}

/* One round; 0 when every result was the expected one. */
static int round_of(long i) {
  enum round_kind kind = (enum round_kind)(i % KINDS);
  const char *want_mech = (i / KINDS) % 2 == 0 ? "XOAUTH2" : "OAUTHBEARER";
  static const int want_start[KINDS] = {SASL_CONTINUE, SASL_BADAUTH,
                                        SASL_CONTINUE, SASL_TRYAGAIN};
  sasl_conn_t *conn = NULL;
  const char *out = NULL, *mech = NULL;
  unsigned len = 0;
  int rc, failed = 0;

  if (load(kind == DOWN ? conf_down : conf_up) != 0 ||
      saslc_new("smtp", "smtp.example.org", "127.0.0.1;587", 0, &conn) !=
          SASL_OK)
    return -1;
  saslc.pass = kind == WRONG ? "not her password" : EMU_ALICE_PASSWORD;
  rc = sasl_client_start(conn, want_mech, NULL, &out, &len, &mech);
  if (rc != want_start[kind]) {
    fprintf(stderr, "sasl_loop: round %ld (%s): start gave %d, not %d: %s\n", i,
            want_mech, rc, want_start[kind], sasl_errdetail(conn));
    failed = 1;
  } else if (rc == SASL_CONTINUE && (strcmp(mech, want_mech) != 0 ||
                                     check_response(mech, out, len) != 0 ||
                                     finish(conn, mech, kind) != 0)) {
    fprintf(stderr, "sasl_loop: round %ld (%s): wrong exchange: %s\n", i,
            want_mech, sasl_errdetail(conn));
    failed = 1;
  }
  sasl_dispose(&conn);
  return failed ? -1 : 0;
}

static int write_confs(const char *dir) {
  /* timeout covers the PBKDF2 checks before the request too: under
   * valgrind and a busy machine (make -j check) each takes seconds. */
  static const char extra[] = "auth = password\nretries = 0\ntimeout = 30\n"
                              "connect_timeout = 2\nfailure_cache = 0\n";
  const char *p = emu_write_config(&emu, "up.conf", extra);
  FILE *f;

  if (p == NULL)
    return -1;
  snprintf(conf_up, sizeof(conf_up), "%s", p);
  snprintf(conf_down, sizeof(conf_down), "%s/down.conf", dir);
  f = fopen(conf_down, "w");
  if (f == NULL)
    return -1;
  fprintf(f,
          "authority = https://127.0.0.1:1\ntenant = contoso.com\n"
          "client_id = " EMU_PUBLIC_CLIENT "\nca_file = %s\n"
          "cache_dir = %s/cache\n%s",
          emu.ca, dir, extra);
  return fclose(f);
}

static long parse_count(int argc, char **argv) {
  char *end;
  long count;

  if (argc < 2)
    return 120;
  errno = 0;
  count = strtol(argv[1], &end, 10);
  if (errno != 0 || *end != '\0' || count < KINDS || count > 100000 ||
      count % KINDS != 0)
    return -1;
  return count;
}

int main(int argc, char **argv) {
  const char *dir = getenv("MSOAUTH_SASLLOOP_DIR");
  const char *builddir = getenv("MSOAUTH_BUILDDIR");
  long count = parse_count(argc, argv), failures = 0;
  long grants, refreshes, cycles;

  if (count < 0 || dir == NULL) {
    fprintf(
        stderr,
        "usage: MSOAUTH_SASLLOOP_DIR=DIR sasl_loop [COUNT, a multiple of 4]\n");
    return 2;
  }
  snprintf(plugin_dir, sizeof(plugin_dir), "%s/sasl_xoauth2/.libs",
           builddir != NULL ? builddir : ".");
  saslc.plugin_dir = plugin_dir;
  saslc.user = USER;
  saslc.log = loop_log;
  if (emu_start(&emu, NULL) != 0)
    return 1;
  if (write_confs(dir) != 0) {
    emu_stop(&emu);
    return 1;
  }
  for (long i = 0; i < count; i++)
    if (round_of(i) != 0)
      failures++;
  saslc_done();
  /* The first good round and every wrong one make a password grant; the
   * refused round sends the good round's cached token and drops it, so
   * each later good round redeems the refresh token. */
  cycles = count / KINDS;
  grants = emu_count(&emu, "grant:password");
  refreshes = emu_count(&emu, "grant:refresh_token");
  printf("sasl_loop: %ld authentications, %ld unexpected, %ld password and "
         "%ld refresh grants over %ld connections\n",
         count, failures, grants, refreshes, emu_count(&emu, "connections"));
  if (grants != cycles + 1 || refreshes != cycles - 1) {
    fprintf(stderr, "sasl_loop: %ld password and %ld refresh grants expected\n",
            cycles + 1, cycles - 1);
    failures++;
  }
  emu_stop(&emu);
  return failures == 0 ? 0 : 1;
}
