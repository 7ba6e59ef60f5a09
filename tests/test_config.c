#include "config_build.h"
/*
 * test_config.c - msoauth.conf: syntax, defaults, profiles, overrides, the
 * PAM flag, validation of every key, the files it names, and the messages.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cache.h"
#include "config.h"
#include "grant.h"
#include "identity.h"
#include "log.h"
#include "result.h"
#include "secret.h"
#include "token_settings.h"

#define CLIENT "11111111-2222-3333-4444-555555555555"
#define GROUP1 "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
#define GROUP2 "AAAAAAAA-0000-1111-2222-333333333333"
#define TENANT_ID "7f0d5b1e-3c2a-4e8b-9a61-2b5c8d4e1f00"
#define SECRET "TopSecret42"
/* Two lines: what every valid file needs. Lines added after it are 3, 4... */
#define MIN "tenant = contoso.com\nclient_id = " CLIENT "\n"

static char dir[64];
static char conf[128]; /* dir/t.conf */

/* ------------------------------------------------------------ helpers */

/* Writes dir/name with exactly len bytes and mode; returns 0 or -1. */
static int write_file(const char *name, const char *text, size_t len,
                      int mode) {
  char path[256];
  int fd;
  int rc = 0;

  snprintf(path, sizeof(path), "%s/%s", dir, name);
  unlink(path);
  fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return -1;
  if (fchmod(fd, (mode_t)mode) != 0 ||
      (len > 0 && write(fd, text, len) != (ssize_t)len))
    rc = -1;
  close(fd);
  return rc;
}

/* Copies in to out, with every "$D" replaced by the test directory. */
static void expand(const char *in, char *out, size_t size) {
  size_t used = 0;

  out[0] = '\0';
  while (*in != '\0' && used + 1 < size) {
    if (in[0] == '$' && in[1] == 'D') {
      used += (size_t)snprintf(out + used, size - used, "%s", dir);
      in += 2;
    } else {
      out[used++] = *in++;
      out[used] = '\0';
    }
  }
  assert_true(used + 1 < size);
}

/* What the log callback received. */
struct logbook {
  int n;
  int not_error; /* messages at another level than error */
  char first[1024];
  int leaked; /* a message held SECRET */
};

static void record(void *arg, enum msoauth_level level, const char *msg) {
  struct logbook *book = arg;

  if (book->n == 0)
    snprintf(book->first, sizeof(book->first), "%s", msg);
  book->n++;
  if (level != MSOAUTH_LOG_ERROR)
    book->not_error++;
  if (strstr(msg, SECRET) != NULL)
    book->leaked++;
}

/* Writes text (with "$D" expanded) to dir/t.conf, mode 0600, and loads it. */
static msoauth_rc load_text(const char *text, const char *profile,
                            const char *const *overrides, size_t n,
                            unsigned flags, struct logbook *book,
                            struct msoauth_config **cfg_r,
                            struct msoauth_err *err) {
  static char buf[8192];
  struct msoauth_log log = {record, book, MSOAUTH_LOG_DEBUG};

  expand(text, buf, sizeof(buf));
  assert_int_equal(write_file("t.conf", buf, strlen(buf), 0600), 0);
  return msoauth_config_load(conf, profile, overrides, n, flags,
                             book != NULL ? &log : NULL, cfg_r, err);
}

/* Loads text that must be valid. */
static struct msoauth_config *load_ok(const char *text, const char *profile,
                                      const char *const *overrides, size_t n,
                                      unsigned flags) {
  struct msoauth_config *cfg = NULL;
  struct msoauth_err err;
  struct logbook book = {0};
  msoauth_rc rc;

  rc = load_text(text, profile, overrides, n, flags, &book, &cfg, &err);
  if (rc != MSOAUTH_OK)
    print_error("unexpected failure: %s\n", err.detail);
  assert_int_equal(rc, MSOAUTH_OK);
  assert_non_null(cfg);
  assert_int_equal(book.n, 0);
  return cfg;
}

static int remove_one(const char *path, const struct stat *st, int type,
                      struct FTW *ftw) {
  (void)st;
  (void)type;
  (void)ftw;
  return remove(path);
}

/* dir/name: size bytes of 'x', mode 0600. */
static int write_huge(const char *name, size_t size) {
  char *text = malloc(size);
  int rc;

  if (text == NULL)
    return -1;
  memset(text, 'x', size);
  rc = write_file(name, text, size, 0600);
  free(text);
  return rc;
}

/* dir/name, a symbolic link to dir/target. */
static int link_to(const char *target, const char *name) {
  char from[256], to[256];

  snprintf(to, sizeof(to), "%s/%s", dir, target);
  snprintf(from, sizeof(from), "%s/%s", dir, name);
  return symlink(to, from);
}

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof(dir), "/tmp/msoauth-config-XXXXXX");
  if (mkdtemp(dir) == NULL)
    return -1;
  snprintf(conf, sizeof(conf), "%s/t.conf", dir);
  /* Files that configurations of the tests name. */
  if (write_file("secret", SECRET "\n", strlen(SECRET) + 1, 0600) ||
      write_file("secret644", SECRET "\n", strlen(SECRET) + 1, 0644) ||
      write_file("cert.pem", "not parsed here\n", 16, 0644) ||
      write_file("key.pem", "not parsed here\n", 16, 0600) ||
      write_file("key640.pem", "not parsed here\n", 16, 0640) ||
      write_file("svc.pw", "Svc-Pw1\r\n", 9, 0600) ||
      write_file("empty", "\n", 1, 0600) || write_huge("huge", 1048577) ||
      link_to("secret", "secret-link") || link_to("key.pem", "key-link"))
    return -1;
  return 0;
}

static int teardown(void **state) {
  (void)state;
  return nftw(dir, remove_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* ------------------------------------------------------------ valid files */

static void test_minimal(void **state) {
  struct msoauth_config *cfg;

  (void)state;
  cfg = load_ok("# a comment\n\n" MIN, NULL, NULL, 0, 0);
  assert_string_equal(cfg->tenant, "contoso.com");
  assert_string_equal(cfg->client_id, CLIENT);
  assert_string_equal(cfg->path, conf);
  assert_null(cfg->profile);
  msoauth_config_free(&cfg);
  assert_null(cfg);
  msoauth_config_free(&cfg); /* NULL is accepted */
  msoauth_config_free(NULL);
}

static void test_defaults(void **state) {
  struct msoauth_config *cfg;

  (void)state;
  cfg = load_ok(MIN, NULL, NULL, 0, 0);
  assert_string_equal(cfg->authority, MSOAUTH_DEFAULT_AUTHORITY);
  assert_null(cfg->client_secret);
  assert_null(cfg->client_certificate_file);
  assert_null(cfg->client_key_file);
  assert_string_equal(cfg->scope, MSOAUTH_SCOPE_MAIL);
  assert_int_equal(cfg->auth, MSOAUTH_AUTH_PASSWORD);
  assert_int_equal(cfg->n_domains, 1);
  assert_string_equal(cfg->domains[0], "contoso.com");
  assert_null(cfg->default_domain);
  assert_null(cfg->aliases_file);
  assert_null(cfg->aliases);
  assert_int_equal(cfg->n_aliases, 0);
  assert_int_equal(cfg->alias_policy, MSOAUTH_ALIAS_REJECT);
  assert_null(cfg->service_account);
  assert_null(cfg->service_account_password_file);
  assert_null(cfg->service_account_password);
  assert_string_equal(cfg->cache_dir, MSOAUTH_CACHE_DIR);
  assert_null(cfg->allowed_groups);
  assert_int_equal(cfg->n_allowed_groups, 0);
  assert_int_equal(cfg->failure_cache, 300);
  assert_int_equal(cfg->offline_grace, 0);
  assert_int_equal(cfg->refresh_margin, 600);
  assert_int_equal(cfg->timeout, 10);
  assert_int_equal(cfg->connect_timeout, 5);
  assert_int_equal(cfg->retries, 2);
  assert_null(cfg->ca_file);
  assert_null(cfg->ca_path);
  assert_null(cfg->proxy);
  assert_int_equal(cfg->log_level, MSOAUTH_LOG_WARNING);
  assert_int_equal(cfg->store_tokens, 0);
  assert_false(msoauth_config_confidential(cfg));
  msoauth_config_free(&cfg);

  /* auth = app has its own default scope. */
  cfg =
      load_ok(MIN "auth = app\nclient_secret = " SECRET "\n", NULL, NULL, 0, 0);
  assert_string_equal(cfg->scope, MSOAUTH_SCOPE_APP);
  assert_true(msoauth_config_confidential(cfg));
  msoauth_config_free(&cfg);

  /* A short timeout takes the default connect timeout down with it. */
  cfg = load_ok(MIN "timeout = 3\n", NULL, NULL, 0, 0);
  assert_int_equal(cfg->connect_timeout, 3);
  msoauth_config_free(&cfg);
}

static void test_every_key(void **state) {
  struct msoauth_config *cfg;

  (void)state;
  assert_int_equal(
      write_file("aliases", "a@contoso.com b@contoso.com\n", 28, 0600), 0);
  cfg = load_ok("  authority = https://login.example.org/base/  \n"
                "tenant=" TENANT_ID "\n"
                "client_id\t=\t" CLIENT "\n"
                "client_secret = a b=c#d " SECRET "\n"
                "scope = a   b  offline_access\n"
                "auth = Refresh\n"
                "domains = Contoso.com , bravo.COM,contoso.COM\n"
                "default_domain = Contoso.Com\n"
                "aliases_file = $D/aliases\n"
                "alias_policy = resolve\n"
                "service_account = Svc@Contoso.com\n"
                "service_account_password_file = $D/svc.pw\n"
                "cache_dir = /var/tmp/msoauth cache\n"
                "allowed_groups = " GROUP1 ", " GROUP2 "\n"
                "failure_cache = 0\n"
                "offline_grace = 2592000\n"
                "refresh_margin = 3000\n"
                "timeout = 300\n"
                "connect_timeout = 300\n"
                "retries = 10\n"
                "ca_file = /etc/ssl/ca.pem\n"
                "ca_path = /etc/ssl/certs\n"
                "proxy = socks5h://user:pw@proxy.example:1080\n"
                "log_level = debug\n"
                "store_tokens = yes\n",
                NULL, NULL, 0, 0);
  assert_string_equal(cfg->authority, "https://login.example.org/base");
  assert_string_equal(cfg->tenant, TENANT_ID);
  assert_string_equal(cfg->client_id, CLIENT);
  assert_non_null(cfg->client_secret);
  assert_string_equal(msoauth_secret_value(cfg->client_secret),
                      "a b=c#d " SECRET);
  assert_string_equal(cfg->scope, "a b offline_access");
  assert_int_equal(cfg->auth, MSOAUTH_AUTH_REFRESH);
  assert_int_equal(cfg->n_domains, 2);
  assert_string_equal(cfg->domains[0], "contoso.com");
  assert_string_equal(cfg->domains[1], "bravo.com");
  assert_string_equal(cfg->default_domain, "contoso.com");
  assert_int_equal(cfg->n_aliases, 1);
  assert_int_equal(cfg->alias_policy, MSOAUTH_ALIAS_RESOLVE);
  assert_string_equal(cfg->service_account, "svc@contoso.com");
  assert_non_null(cfg->service_account_password);
  assert_string_equal(msoauth_secret_value(cfg->service_account_password),
                      "Svc-Pw1");
  assert_string_equal(cfg->cache_dir, "/var/tmp/msoauth cache");
  assert_int_equal(cfg->n_allowed_groups, 2);
  assert_string_equal(cfg->allowed_groups[0], GROUP1);
  assert_string_equal(cfg->allowed_groups[1], GROUP2);
  assert_int_equal(cfg->failure_cache, 0);
  assert_int_equal(cfg->offline_grace, 2592000);
  assert_int_equal(cfg->refresh_margin, 3000);
  assert_int_equal(cfg->timeout, 300);
  assert_int_equal(cfg->connect_timeout, 300);
  assert_int_equal(cfg->retries, 10);
  assert_string_equal(cfg->ca_file, "/etc/ssl/ca.pem");
  assert_string_equal(cfg->ca_path, "/etc/ssl/certs");
  assert_string_equal(cfg->proxy, "socks5h://user:pw@proxy.example:1080");
  assert_int_equal(cfg->log_level, MSOAUTH_LOG_DEBUG);
  assert_int_equal(cfg->store_tokens, 1);
  assert_true(msoauth_config_confidential(cfg));
  msoauth_config_free(&cfg);
}

static void test_certificate(void **state) {
  struct msoauth_config *cfg;

  (void)state;
  cfg = load_ok(MIN "auth = app\n"
                    "client_certificate_file = $D/cert.pem\n"
                    "client_key_file = $D/key.pem\n",
                NULL, NULL, 0, 0);
  assert_true(msoauth_config_confidential(cfg));
  assert_null(cfg->client_secret);
  assert_non_null(strstr(cfg->client_certificate_file, "/cert.pem"));
  assert_non_null(strstr(cfg->client_key_file, "/key.pem"));
  assert_int_equal(cfg->auth, MSOAUTH_AUTH_APP);
  msoauth_config_free(&cfg);
}

static void test_profiles(void **state) {
  static const char text[] = MIN "timeout = 20\n"
                                 "\n"
                                 "[relay]\n"
                                 "auth = app\n"
                                 "client_secret_file = $D/secret\n"
                                 "timeout = 30\n"
                                 "[other.name-2_x]\n"
                                 "tenant = fabrikam.com\n"
                                 "[broken]\n"
                                 "timeout = soon\n";
  struct msoauth_config *cfg;
  struct msoauth_err err;

  (void)state;
  /* No profile: the defaults only, whatever the sections say. */
  cfg = load_ok(text, NULL, NULL, 0, 0);
  assert_null(cfg->profile);
  assert_int_equal(cfg->auth, MSOAUTH_AUTH_PASSWORD);
  assert_int_equal(cfg->timeout, 20);
  assert_null(cfg->client_secret);
  msoauth_config_free(&cfg);

  /* A profile inherits the defaults and overrides some. */
  cfg = load_ok(text, "relay", NULL, 0, 0);
  assert_string_equal(cfg->profile, "relay");
  assert_int_equal(cfg->auth, MSOAUTH_AUTH_APP);
  assert_int_equal(cfg->timeout, 30);
  assert_string_equal(cfg->tenant, "contoso.com");
  assert_string_equal(cfg->scope, MSOAUTH_SCOPE_APP);
  assert_non_null(cfg->client_secret);
  assert_string_equal(msoauth_secret_value(cfg->client_secret), SECRET);
  msoauth_config_free(&cfg);

  cfg = load_ok(text, "other.name-2_x", NULL, 0, 0);
  assert_string_equal(cfg->tenant, "fabrikam.com");
  assert_string_equal(cfg->domains[0], "fabrikam.com");
  assert_int_equal(cfg->timeout, 20);
  msoauth_config_free(&cfg);

  /* A bad value counts only in the profile chosen. */
  assert_int_equal(load_text(text, "broken", NULL, 0, 0, NULL, &cfg, &err),
                   MSOAUTH_ERR_CONFIG);
  assert_null(cfg);
  assert_non_null(strstr(err.detail, "t.conf:12: timeout: must be"));
}

static void test_overrides(void **state) {
  static const char text[] = MIN "timeout = 20\nretries = 1\n"
                                 "[p]\ntimeout = 30\nretries = 3\n";
  static const char *const args[] = {"timeout=40", "scope=x  y", "auth=token",
                                     "timeout=50"};
  struct msoauth_config *cfg;

  (void)state;
  cfg = load_ok(text, "p", args, 4, 0);
  assert_int_equal(cfg->timeout, 50); /* the last argument wins */
  assert_int_equal(cfg->retries, 3);
  assert_string_equal(cfg->scope, "x y");
  assert_int_equal(cfg->auth, MSOAUTH_AUTH_TOKEN);
  msoauth_config_free(&cfg);

  /* Arguments can supply required keys the file lacks. */
  {
    static const char *const required[] = {"tenant=organizations",
                                           "client_id=" CLIENT,
                                           "domains=contoso.com"};

    cfg = load_ok("retries = 4\n", NULL, required, 3, 0);
    assert_string_equal(cfg->tenant, "organizations");
    assert_int_equal(cfg->n_domains, 1);
    assert_int_equal(cfg->retries, 4);
    msoauth_config_free(&cfg);
  }
}

static void test_pam_flag(void **state) {
  static const struct {
    const char *text;
    const char *scope;
  } cases[] = {
      {MIN, MSOAUTH_SCOPE_MAIL " openid profile"},
      {MIN "auth = app\nclient_secret = " SECRET "\n",
       MSOAUTH_SCOPE_MAIL " openid profile"},
      {MIN "auth = service_account\n", MSOAUTH_SCOPE_MAIL " openid profile"},
      {MIN "scope = openid x\n", "openid x profile"},
      {MIN "scope = profile x\n", "profile x openid"},
      {MIN "scope = x openid profile\n", "x openid profile"},
      {MIN "scope = openidx profiles\n", "openidx profiles openid profile"},
  };

  (void)state;
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct msoauth_config *cfg;

    cfg =
        load_ok(cases[i].text, NULL, NULL, 0, MSOAUTH_CONFIG_VERIFY_PASSWORDS);
    assert_int_equal(cfg->auth, MSOAUTH_AUTH_PASSWORD);
    assert_string_equal(cfg->scope, cases[i].scope);
    msoauth_config_free(&cfg);
  }
}

static void test_domains(void **state) {
  static const struct {
    const char *tenant;
    size_t n;
    const char *first;
  } cases[] = {
      {"Contoso.COM", 1, "contoso.com"},
      {TENANT_ID, 0, NULL}, /* any domain; the token's tid must match */
      {"organizations\ndomains = Bravo.com", 1, "bravo.com"},
      {"contoso.onmicrosoft.com", 1, "contoso.onmicrosoft.com"},
  };

  (void)state;
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct msoauth_config *cfg;
    char text[256];

    snprintf(text, sizeof(text), "tenant = %s\nclient_id = " CLIENT "\n",
             cases[i].tenant);
    cfg = load_ok(text, NULL, NULL, 0, 0);
    assert_int_equal(cfg->n_domains, cases[i].n);
    if (cases[i].first != NULL)
      assert_string_equal(cfg->domains[0], cases[i].first);
    else
      assert_null(cfg->domains);
    msoauth_config_free(&cfg);
  }
}

/* ------------------------------------------------------------ errors */

struct bad_case {
  const char *text;     /* "$D" is the test directory */
  const char *profile;  /* NULL: the defaults */
  const char *override; /* one KEY=VALUE, or NULL */
  msoauth_rc rc;
  const char *expect; /* in err.detail, "$D" expanded */
};

#define CONF "$D/t.conf"
#define E MSOAUTH_ERR_CONFIG

static const struct bad_case bad_cases[] = {
    /* syntax */
    {MIN "tennant = x\n", NULL, NULL, E, CONF ":3: tennant: unknown key"},
    {MIN "[p]\nbogus = 1\n", NULL, NULL, E, CONF ":4: bogus: unknown key"},
    {MIN "client_secret: " SECRET "=x\n", NULL, NULL, E,
     CONF ":3: (a key with characters no key has): unknown key"},
    {MIN "timeout 10\n", NULL, NULL, E, CONF ":3: no '='"},
    {MIN "timeout =\n", NULL, NULL, E, CONF ":3: timeout: empty value"},
    {MIN "  = 10\n", NULL, NULL, E, CONF ":3: empty key"},
    {MIN "timeout = 5\ntimeout = 6\n", NULL, NULL, E,
     CONF ":4: timeout: repeated in the same section (first at line 3)"},
    {MIN "[p]\ntimeout = 5\n\ntimeout = 6\n", "p", NULL, E,
     CONF ":6: timeout: repeated in the same section (first at line 4)"},
    {MIN "[a]\n[b]\n[a]\n", NULL, NULL, E,
     CONF ":5: [a]: section repeated (first at line 3)"},
    {MIN "[a b]\n", NULL, NULL, E, CONF ":3: bad section header"},
    {MIN "[p] x\n", NULL, NULL, E, CONF ":3: bad section header"},
    {MIN "]\n", NULL, NULL, E, CONF ":3: no '='"},
    {MIN "; comment\n", NULL, NULL, E, CONF ":3: no '='"},
    {MIN "timeout == 5\n", NULL, NULL, E, CONF ":3: timeout: must be"},
    {MIN "timeout = 5 # five\n", NULL, NULL, E, CONF ":3: timeout: must be"},
    {MIN "Timeout = 5\n", NULL, NULL, E, CONF ":3: Timeout: unknown key"},
    {MIN "time out = 5\n", NULL, NULL, E,
     CONF ":3: (a key with characters no key has): unknown key"},
    {MIN "\xef\xbb\xbf"
         "timeout = 5\n",
     NULL, NULL, E, CONF ":3: (a key with characters no key has): unknown key"},
    {MIN "aliases_file = $D/huge\n", NULL, NULL, E,
     CONF ":3: aliases_file: $D/huge: larger than 1048576 bytes"},
    {MIN "[]\n", NULL, NULL, E, CONF ":3: bad section header"},
    {MIN "[a\n", NULL, NULL, E, CONF ":3: bad section header"},
    {MIN "[a/b]\n", NULL, NULL, E, CONF ":3: bad section header"},
    {MIN
     "[aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]\n",
     NULL, NULL, E, CONF ":3: bad section header"},
    {MIN "[p]\n", "q", NULL, E, "profile q not found in " CONF},
    {MIN "[p]\n", "../x", NULL, E,
     "profile (a name no section can have) not found"},
    /* required keys */
    {"client_id = " CLIENT "\n", NULL, NULL, E,
     CONF ": tenant: required, not set"},
    {"client_id = " CLIENT "\n[p]\nretries = 1\n", "p", NULL, E,
     CONF ": tenant: required, not set (profile p)"},
    {"tenant = contoso.com\n", NULL, NULL, E,
     CONF ": client_id: required, not set"},
    /* values */
    {"tenant = contoso.com\nclient_id = 1111-2222\n", NULL, NULL, E,
     CONF ":2: client_id: not a GUID"},
    {"tenant = contoso.com\nclient_id = " CLIENT "x\n", NULL, NULL, E,
     CONF ":2: client_id: not a GUID"},
    {"tenant = contoso.com\n"
     "client_id = 1111111g-2222-3333-4444-555555555555\n",
     NULL, NULL, E, CONF ":2: client_id: not a GUID"},
    {"tenant = common\nclient_id = " CLIENT "\n", NULL, NULL, E,
     CONF ":1: tenant: common and consumers are refused: ROPC and app-only "
          "tokens need a work tenant"},
    {"tenant = Consumers\nclient_id = " CLIENT "\n", NULL, NULL, E,
     CONF ":1: tenant: common and consumers are refused"},
    /* organizations takes users of any tenant: domains must say which */
    {"tenant = organizations\nclient_id = " CLIENT "\n", NULL, NULL, E,
     CONF ":1: tenant: organizations needs domains"},
    {"client_id = " CLIENT "\n[p]\nretries = 1\ntenant = Organizations\n", "p",
     NULL, E, CONF ":4: tenant: organizations needs domains"},
    {"tenant = contoso\nclient_id = " CLIENT "\n", NULL, NULL, E,
     CONF ":1: tenant: not a tenant id"},
    {"tenant = contoso..com\nclient_id = " CLIENT "\n", NULL, NULL, E,
     CONF ":1: tenant: not a tenant id"},
    {MIN "authority = http://login.microsoftonline.com\n", NULL, NULL, E,
     CONF ":3: authority: only https:// URLs"},
    {MIN "authority = https://user@login.example\n", NULL, NULL, E,
     CONF ":3: authority: a URL with user information"},
    {MIN "authority = https://login.example/?x=1\n", NULL, NULL, E,
     CONF ":3: authority: a URL with a query or a fragment"},
    {MIN "authority = https://login example\n", NULL, NULL, E,
     CONF ":3: authority: a URL with a blank"},
    {MIN "authority = https:///path\n", NULL, NULL, E,
     CONF ":3: authority: a URL without a host"},
    {MIN "authority = https://:443\n", NULL, NULL, E,
     CONF ":3: authority: a URL without a host"},
    {MIN "authority = https://login.example:99999\n", NULL, NULL, E,
     CONF ":3: authority: a URL with a port not from 1 to 65535"},
    {MIN "authority = https://login.example:0/\n", NULL, NULL, E,
     CONF ":3: authority: a URL with a port not from 1 to 65535"},
    {MIN "authority = https://login.example:\n", NULL, NULL, E,
     CONF ":3: authority: a URL with a port not from 1 to 65535"},
    {MIN "authority = https://login.example:-1\n", NULL, NULL, E,
     CONF ":3: authority: a URL with a port not from 1 to 65535"},
    {MIN "authority = https://login.example:443:443\n", NULL, NULL, E,
     CONF ":3: authority: a URL with a port not from 1 to 65535"},
    {MIN "authority = https://[::1\n", NULL, NULL, E,
     CONF ":3: authority: a URL with an unclosed '['"},
    {MIN "authority = https://[::1]x/\n", NULL, NULL, E,
     CONF ":3: authority: a URL with text after ']'"},
    {MIN "authority = https://login]example\n", NULL, NULL, E,
     CONF ":3: authority: a URL with '[' or ']' around no IPv6 address"},
    {MIN, NULL, "authority=http://login.example", E,
     "argument authority=...: only https:// URLs are accepted"},
    {MIN "timeout = -1\n", NULL, NULL, E,
     CONF ":3: timeout: must be a whole number from 1 to 300"},
    {MIN "timeout = 1x\n", NULL, NULL, E, CONF ":3: timeout: must be"},
    {MIN "timeout = 99999999999\n", NULL, NULL, E, CONF ":3: timeout: must be"},
    {MIN "timeout = 99999999999999999999999\n", NULL, NULL, E,
     CONF ":3: timeout: must be"},
    {MIN "timeout = +5\n", NULL, NULL, E, CONF ":3: timeout: must be"},
    {MIN "timeout = 1 0\n", NULL, NULL, E, CONF ":3: timeout: must be"},
    {MIN "timeout = 0x10\n", NULL, NULL, E, CONF ":3: timeout: must be"},
    {MIN, NULL, "timeout=", E, "argument timeout=...: empty value"},
    {MIN, NULL, "timeout=abc", E,
     "argument timeout=...: must be a whole number from 1 to 300"},
    {MIN "timeout = 0\n", NULL, NULL, E, CONF ":3: timeout: must be"},
    {MIN "timeout = 301\n", NULL, NULL, E, CONF ":3: timeout: must be"},
    {MIN "connect_timeout = 0\n", NULL, NULL, E,
     CONF ":3: connect_timeout: must be a whole number from 1 to 300"},
    {MIN "failure_cache = 86401\n", NULL, NULL, E,
     CONF ":3: failure_cache: must be a whole number from 0 to 86400"},
    {MIN "offline_grace = 2592001\n", NULL, NULL, E,
     CONF ":3: offline_grace: must be a whole number from 0 to 2592000"},
    {MIN "refresh_margin = 3001\n", NULL, NULL, E,
     CONF ":3: refresh_margin: must be a whole number from 0 to 3000"},
    {MIN "retries = 11\n", NULL, NULL, E,
     CONF ":3: retries: must be a whole number from 0 to 10"},
    {MIN "timeout = 5\nconnect_timeout = 6\n", NULL, NULL, E,
     CONF ":4: connect_timeout: 6 exceeds timeout (5)"},
    {MIN "auth = ropc\n", NULL, NULL, E,
     CONF ":3: auth: must be password, token, refresh, service_account or "
          "app"},
    {MIN "alias_policy = ignore\n", NULL, NULL, E,
     CONF ":3: alias_policy: must be reject or resolve"},
    {MIN "log_level = trace\n", NULL, NULL, E,
     CONF ":3: log_level: must be error, warning, info or debug"},
    {MIN "store_tokens = true\n", NULL, NULL, E,
     CONF ":3: store_tokens: must be no or yes"},
    {MIN "canonical_user = 1\n", NULL, NULL, E,
     CONF ":3: canonical_user: must be no or yes"},
    {MIN "scope = a\"b\n", NULL, NULL, E, CONF ":3: scope: scopes are"},
    {MIN "scope = a\tb\n", NULL, NULL, E, CONF ":3: scope: scopes are"},
    {MIN, NULL, "scope=   ", E, "argument scope=...: no scope"},
    {MIN "domains = contoso.com,,bravo.com\n", NULL, NULL, E,
     CONF ":3: domains: not a comma-separated list of domain names"},
    {MIN "domains = contoso.com, bravo\n", NULL, NULL, E,
     CONF ":3: domains: not a comma-separated list"},
    {MIN "default_domain = contoso_com\n", NULL, NULL, E,
     CONF ":3: default_domain: not a domain name"},
    {MIN "service_account = svc\n", NULL, NULL, E,
     CONF ":3: service_account: not an address"},
    {MIN "service_account = @contoso.com\n", NULL, NULL, E,
     CONF ":3: service_account: not an address"},
    {MIN "allowed_groups = " GROUP1 ", admins\n", NULL, NULL, E,
     CONF ":3: allowed_groups: not a comma-separated list of group object "
          "ids"},
    {MIN "cache_dir = var/cache\n", NULL, NULL, E,
     CONF ":3: cache_dir: not an absolute path"},
    {MIN "ca_file = ca.pem\n", NULL, NULL, E,
     CONF ":3: ca_file: not an absolute path"},
    {MIN "ca_path = certs\n", NULL, NULL, E,
     CONF ":3: ca_path: not an absolute path"},
    {MIN "aliases_file = aliases\n", NULL, NULL, E,
     CONF ":3: aliases_file: not an absolute path"},
    {MIN "proxy = ftp://proxy:21\n", NULL, NULL, E,
     CONF ":3: proxy: not a proxy URL"},
    {MIN "proxy = http://\n", NULL, NULL, E,
     CONF ":3: proxy: a proxy URL without a host"},
    /* credentials */
    {MIN "client_secret = " SECRET "\nclient_secret_file = $D/secret\n", NULL,
     NULL, E,
     CONF ":4: client_secret_file: exclusive with client_secret "
          "(line 3)"},
    {MIN "client_secret_file = $D/secret\n", NULL, "client_secret=" SECRET, E,
     CONF ":3: client_secret_file: exclusive with client_secret (an "
          "argument)"},
    {MIN "client_certificate_file = $D/cert.pem\n", NULL, NULL, E,
     CONF ":3: client_certificate_file: needs client_key_file"},
    {MIN "client_key_file = $D/key.pem\n", NULL, NULL, E,
     CONF ":3: client_key_file: needs client_certificate_file"},
    {MIN "client_certificate_file = $D/cert.pem\n"
         "client_key_file = $D/key.pem\n"
         "client_secret = " SECRET "\n",
     NULL, NULL, E,
     CONF ":5: client_secret: exclusive with client_certificate_file (line "
          "3)"},
    {MIN "client_certificate_file = $D/none.pem\n"
         "client_key_file = $D/key.pem\n",
     NULL, NULL, MSOAUTH_ERR_IO,
     CONF ":3: client_certificate_file: $D/none.pem: No such file"},
    {MIN "client_certificate_file = $D/cert.pem\n"
         "client_key_file = $D/key640.pem\n",
     NULL, NULL, E,
     CONF ":4: client_key_file: $D/key640.pem: accessible by group or "
          "others"},
    {MIN "auth = app\n", NULL, NULL, E,
     CONF ":3: auth: app needs a confidential client"},
    {MIN "[relay]\nauth = app\n", "relay", NULL, E,
     CONF ":4: auth: app needs a confidential client: set client_secret, "
          "client_secret_file, or client_certificate_file and client_key_file "
          "(profile relay)"},
    {MIN, NULL, "auth=app", E,
     "argument auth=...: app needs a confidential client"},
    {MIN "auth = service_account\n", NULL, NULL, E,
     CONF ": service_account: required with auth = service_account"},
    {MIN "client_secret_file = $D/secret644\n", NULL, NULL, E,
     CONF ":3: client_secret_file: $D/secret644: readable or writable by "
          "group or others"},
    {MIN "client_secret_file = $D/nothing\n", NULL, NULL, MSOAUTH_ERR_IO,
     CONF ":3: client_secret_file: $D/nothing: No such file"},
    {MIN "service_account_password_file = $D/secret644\n", NULL, NULL, E,
     CONF ":3: service_account_password_file: $D/secret644: readable"},
    {MIN "aliases_file = $D/nothing\n", NULL, NULL, MSOAUTH_ERR_IO,
     CONF ":3: aliases_file: $D/nothing: No such file"},
    {MIN "client_secret_file = $D/secret-link\n", NULL, NULL, E,
     CONF ":3: client_secret_file: $D/secret-link: is a symbolic link"},
    {MIN "service_account_password_file = $D/secret-link\n", NULL, NULL, E,
     CONF ":3: service_account_password_file: $D/secret-link: is a symbolic "
          "link"},
    {MIN "client_secret_file = $D/empty\n", NULL, NULL, E,
     CONF ":3: client_secret_file: $D/empty: empty"},
    {MIN "client_secret_file = $D/huge\n", NULL, NULL, E,
     CONF ":3: client_secret_file: $D/huge: larger than 65536 bytes"},
    {MIN "client_secret_file = $D\n", NULL, NULL, E,
     CONF ":3: client_secret_file: $D: not a regular file"},
    {MIN "client_certificate_file = $D/cert.pem\n"
         "client_key_file = $D/key-link\n",
     NULL, NULL, E,
     CONF ":4: client_key_file: $D/key-link: is a symbolic link"},
    /* overrides */
    {MIN, NULL, "nokey=1", E, "argument nokey=...: unknown key"},
    {MIN, NULL, "timeout", E, "argument 1: expected KEY=VALUE"},
    {MIN, NULL, "=5", E, "argument 1: expected KEY=VALUE"},
    {MIN, NULL, "tenant=common", E,
     "argument tenant=...: common and consumers are refused"},
};

/* Authorities of every legitimate shape are accepted as given. */
static void test_authority_forms(void **state) {
  static const char *const good[] = {
      "https://login.microsoftonline.com", "https://login.microsoftonline.us/",
      "HTTPS://login.chinacloudapi.cn",    "https://127.0.0.1:8443",
      "https://[::1]:65535/base",          "https://[fe80::1]",
      "https://login.example:1/",
  };

  (void)state;
  for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
    char text[512];
    struct msoauth_config *cfg;

    snprintf(text, sizeof(text), MIN "authority = %s\n", good[i]);
    cfg = load_ok(text, NULL, NULL, 0, 0);
    assert_non_null(strstr(good[i], cfg->authority));
    msoauth_config_free(&cfg);
  }
}

static void test_errors(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
    const struct bad_case *c = &bad_cases[i];
    const char *args[1] = {c->override};
    struct msoauth_config *cfg = NULL;
    struct msoauth_err err;
    struct logbook book = {0};
    char expect[512];
    msoauth_rc rc;

    expand(c->expect, expect, sizeof(expect));
    rc = load_text(c->text, c->profile, args, c->override != NULL ? 1 : 0, 0,
                   &book, &cfg, &err);
    if (rc != c->rc || strstr(err.detail, expect) == NULL)
      print_error("case %zu: rc %d, detail \"%s\"\n  expected \"%s\"\n", i, rc,
                  rc ? err.detail : "", expect);
    assert_int_equal(rc, c->rc);
    assert_null(cfg);
    assert_int_equal(err.rc, c->rc);
    assert_non_null(strstr(err.detail, expect));
    /* The first problem logged is the one returned; no secret anywhere. */
    assert_true(book.n >= 1);
    assert_int_equal(book.not_error, 0);
    assert_int_equal(strncmp(book.first, err.detail, strlen(err.detail)), 0);
    assert_int_equal(book.leaked, 0);
    assert_null(strstr(err.detail, SECRET));
  }
}

/* ------------------------------------------------------------ the files */

static void test_file_checks(void **state) {
  struct msoauth_config *cfg = NULL;
  struct msoauth_err err;
  char path[256];
  char missing[160];

  (void)state;
  /* A client secret makes the file private. */
  assert_int_equal(write_file("t.conf", MIN "client_secret = " SECRET "\n",
                              strlen(MIN "client_secret = " SECRET "\n"), 0644),
                   0);
  assert_int_equal(
      msoauth_config_load(conf, NULL, NULL, 0, 0, NULL, &cfg, &err),
      MSOAUTH_ERR_CONFIG);
  assert_null(cfg);
  snprintf(path, sizeof(path),
           "%s:3: client_secret: the file is readable by group or others",
           conf);
  assert_non_null(strstr(err.detail, path));
  assert_null(strstr(err.detail, SECRET));

  /* So does a proxy URL with a password; one without stays readable. */
  assert_int_equal(
      write_file("t.conf", MIN "proxy = http://relay:" SECRET "@proxy:3128\n",
                 strlen(MIN "proxy = http://relay:" SECRET "@proxy:3128\n"),
                 0644),
      0);
  assert_int_equal(
      msoauth_config_load(conf, NULL, NULL, 0, 0, NULL, &cfg, &err),
      MSOAUTH_ERR_CONFIG);
  assert_null(cfg);
  snprintf(path, sizeof(path),
           "%s:3: proxy: the URL holds credentials and the file is readable "
           "by group or others",
           conf);
  assert_non_null(strstr(err.detail, path));
  assert_null(strstr(err.detail, SECRET));
  assert_int_equal(
      write_file("t.conf", MIN "proxy = http://proxy.example:3128/\n",
                 strlen(MIN "proxy = http://proxy.example:3128/\n"), 0644),
      0);
  assert_int_equal(
      msoauth_config_load(conf, NULL, NULL, 0, 0, NULL, &cfg, &err),
      MSOAUTH_OK);
  msoauth_config_free(&cfg);

  /* Without one, others may read it, but never write it. */
  assert_int_equal(write_file("t.conf", MIN, strlen(MIN), 0644), 0);
  assert_int_equal(
      msoauth_config_load(conf, NULL, NULL, 0, 0, NULL, &cfg, &err),
      MSOAUTH_OK);
  msoauth_config_free(&cfg);
  for (int mode = 0; mode < 2; mode++) {
    assert_int_equal(write_file("t.conf", MIN, strlen(MIN), mode ? 0666 : 0620),
                     0);
    assert_int_equal(
        msoauth_config_load(conf, NULL, NULL, 0, 0, NULL, &cfg, &err),
        MSOAUTH_ERR_CONFIG);
    assert_null(cfg);
    assert_non_null(strstr(err.detail, "writable by group or others"));
    assert_non_null(strstr(err.detail, conf));
  }

  /* Owned by someone else (only root can set that up). */
  if (geteuid() == 0) {
    assert_int_equal(write_file("t.conf", MIN, strlen(MIN), 0600), 0);
    assert_int_equal(chown(conf, 12345, 12345), 0);
    assert_int_equal(
        msoauth_config_load(conf, NULL, NULL, 0, 0, NULL, &cfg, &err),
        MSOAUTH_ERR_CONFIG);
    assert_non_null(strstr(err.detail, "owned by uid 12345"));
  }

  /* A missing file, a directory. */
  snprintf(missing, sizeof(missing), "%s/missing.conf", dir);
  assert_int_equal(
      msoauth_config_load(missing, NULL, NULL, 0, 0, NULL, &cfg, &err),
      MSOAUTH_ERR_IO);
  assert_non_null(strstr(err.detail, missing));
  assert_int_equal(msoauth_config_load(dir, NULL, NULL, 0, 0, NULL, &cfg, &err),
                   MSOAUTH_ERR_CONFIG);
  assert_non_null(strstr(err.detail, "not a regular file"));

  /* A symbolic link to the file is followed (msoauth.conf(5), Permissions);
   * a FIFO in its place is refused at once (the alarm fails the test if the
   * open blocks). */
  assert_int_equal(write_file("t.conf", MIN, strlen(MIN), 0644), 0);
  assert_int_equal(link_to("t.conf", "linked.conf"), 0);
  snprintf(missing, sizeof(missing), "%s/linked.conf", dir);
  assert_int_equal(
      msoauth_config_load(missing, NULL, NULL, 0, 0, NULL, &cfg, &err),
      MSOAUTH_OK);
  msoauth_config_free(&cfg);
  snprintf(missing, sizeof(missing), "%s/fifo.conf", dir);
  assert_int_equal(mkfifo(missing, 0644), 0);
  alarm(10);
  assert_int_equal(
      msoauth_config_load(missing, NULL, NULL, 0, 0, NULL, &cfg, &err),
      MSOAUTH_ERR_CONFIG);
  alarm(0);
  assert_non_null(strstr(err.detail, "not a regular file"));

  /* path NULL is the built-in default. */
  assert_non_null(msoauth_config_default_path());
  assert_int_equal(msoauth_config_default_path()[0], '/');
  if (access(msoauth_config_default_path(), F_OK) != 0) {
    assert_int_equal(
        msoauth_config_load(NULL, NULL, NULL, 0, 0, NULL, &cfg, &err),
        MSOAUTH_ERR_IO);
    assert_non_null(strstr(err.detail, msoauth_config_default_path()));
  }
}

/* Files of another user (only root can set that up): every secret file
 * and the aliases file are refused at their line. */
static void test_foreign_files(void **state) {
  static const struct {
    const char *text;
    const char *expect;
  } cases[] = {
      {MIN "client_secret_file = $D/foreign\n",
       CONF ":3: client_secret_file: $D/foreign: owned by another user "
            "(uid 12345)"},
      {MIN "service_account_password_file = $D/foreign\n",
       CONF ":3: service_account_password_file: $D/foreign: owned by another "
            "user (uid 12345)"},
      {MIN "client_certificate_file = $D/cert.pem\n"
           "client_key_file = $D/foreign\n",
       CONF ":4: client_key_file: $D/foreign: owned by another user "
            "(uid 12345)"},
      {MIN "aliases_file = $D/foreign\n",
       CONF ":3: aliases_file: $D/foreign: owned by uid 12345"},
  };
  char path[256], expect[512];

  (void)state;
  if (geteuid() != 0)
    skip();
  assert_int_equal(
      write_file("foreign", "a@contoso.com b@contoso.com\n", 28, 0600), 0);
  snprintf(path, sizeof(path), "%s/foreign", dir);
  assert_int_equal(chown(path, 12345, 12345), 0);
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct msoauth_config *cfg = NULL;
    struct msoauth_err err;

    expand(cases[i].expect, expect, sizeof(expect));
    assert_int_equal(
        load_text(cases[i].text, NULL, NULL, 0, 0, NULL, &cfg, &err),
        MSOAUTH_ERR_CONFIG);
    if (strstr(err.detail, expect) == NULL)
      print_error("case %zu: \"%s\"\n", i, err.detail);
    assert_non_null(strstr(err.detail, expect));
    assert_null(cfg);
  }
}

static void test_secret_file(void **state) {
  struct msoauth_config *cfg;
  struct msoauth_err err;

  (void)state;
  /* 0600: read, the trailing newline is not part of the secret. */
  cfg = load_ok(MIN "client_secret_file = $D/secret\n", NULL, NULL, 0, 0);
  assert_non_null(cfg->client_secret);
  assert_string_equal(msoauth_secret_value(cfg->client_secret), SECRET);
  assert_int_equal(msoauth_secret_len(cfg->client_secret), strlen(SECRET));
  msoauth_config_free(&cfg);

  /* 0644: refused, naming the secret file. */
  assert_int_equal(load_text(MIN "client_secret_file = $D/secret644\n", NULL,
                             NULL, 0, 0, NULL, &cfg, &err),
                   MSOAUTH_ERR_CONFIG);
  assert_null(cfg);
  assert_non_null(strstr(err.detail, "secret644"));
  assert_null(strstr(err.detail, SECRET));
}

static void test_aliases(void **state) {
  static const char good[] = "# ALIAS PRIMARY\n"
                             "\n"
                             "ASmith@Contoso.com  Alice@contoso.com\r\n"
                             "   # indented comment\n"
                             "\tbob.b@contoso.com\tbob@contoso.com  \n"
                             "x@bravo.com y@bravo.com";
  static const char bad[] =
      "a@contoso.com b@contoso.com\n"
      "# fine\n"
      "\n"
      "lonely@contoso.com\n"                        /* 4 */
      "a@contoso.com b@contoso.com c@contoso.com\n" /* 5 */
      "nodomain b@contoso.com\n"                    /* 6 */
      "a@contoso.com b@\x01.com\n";                 /* 7 */
  struct msoauth_config *cfg;
  struct msoauth_err err;
  struct logbook book = {0};
  char expect[256];

  (void)state;
  assert_int_equal(write_file("aliases", good, strlen(good), 0600), 0);
  cfg = load_ok(MIN "aliases_file = $D/aliases\n", NULL, NULL, 0, 0);
  assert_int_equal(cfg->n_aliases, 3);
  assert_string_equal(cfg->aliases[0].alias, "asmith@contoso.com");
  assert_string_equal(cfg->aliases[0].primary, "alice@contoso.com");
  assert_string_equal(cfg->aliases[1].alias, "bob.b@contoso.com");
  assert_string_equal(cfg->aliases[1].primary, "bob@contoso.com");
  assert_string_equal(cfg->aliases[2].alias, "x@bravo.com");
  assert_string_equal(cfg->aliases[2].primary, "y@bravo.com");
  msoauth_config_free(&cfg);

  /* Each bad line is reported with its number; the first is returned. */
  assert_int_equal(write_file("aliases", bad, strlen(bad), 0600), 0);
  assert_int_equal(load_text(MIN "aliases_file = $D/aliases\n", NULL, NULL, 0,
                             0, &book, &cfg, &err),
                   MSOAUTH_ERR_CONFIG);
  assert_null(cfg);
  snprintf(expect, sizeof(expect),
           "%s/aliases:4: expected two addresses: ALIAS PRIMARY", dir);
  assert_string_equal(err.detail, expect);
  assert_int_equal(book.n, 4);

  /* An aliases file others can write is refused. */
  assert_int_equal(write_file("aliases", good, strlen(good), 0602), 0);
  assert_int_equal(load_text(MIN "aliases_file = $D/aliases\n", NULL, NULL, 0,
                             0, NULL, &cfg, &err),
                   MSOAUTH_ERR_CONFIG);
  assert_non_null(strstr(err.detail, "aliases_file:"));
  assert_non_null(strstr(err.detail, "writable by group or others"));
}

static void test_raw_bytes(void **state) {
  static const char nul[] = MIN "timeout = 1\0"
                                "0\nretries = 1\n";
  struct msoauth_config *cfg = NULL;
  struct msoauth_err err;
  char expect[256];
  char *big;
  size_t len;

  (void)state;
  /* A NUL byte. */
  assert_int_equal(write_file("t.conf", nul, sizeof(nul) - 1, 0600), 0);
  assert_int_equal(
      msoauth_config_load(conf, NULL, NULL, 0, 0, NULL, &cfg, &err),
      MSOAUTH_ERR_CONFIG);
  snprintf(expect, sizeof(expect), "%s:3: NUL byte in line", conf);
  assert_string_equal(err.detail, expect);

  /* CRLF line ends, and no newline at the end. */
  cfg = load_ok("tenant = contoso.com\r\nclient_id = " CLIENT "\r\n"
                "\r\n# comment\r\n[p]\r\nretries = 7\r\ntimeout = 9",
                "p", NULL, 0, 0);
  assert_string_equal(cfg->client_id, CLIENT);
  assert_int_equal(cfg->retries, 7);
  assert_int_equal(cfg->timeout, 9);
  msoauth_config_free(&cfg);

  /* A line of exactly MSOAUTH_CONFIG_LINE_MAX bytes is fine, one more is
   * not. */
  len = strlen(MIN) + MSOAUTH_CONFIG_LINE_MAX + 2;
  big = malloc(len + 1);
  assert_non_null(big);
  for (int extra = 0; extra < 2; extra++) {
    size_t n = strlen(MIN);

    memcpy(big, MIN, n);
    memcpy(big + n, "scope = ", 8);
    n += 8;
    memset(big + n, 'a', MSOAUTH_CONFIG_LINE_MAX - 8 + (size_t)extra);
    n += MSOAUTH_CONFIG_LINE_MAX - 8 + (size_t)extra;
    memcpy(big + n, "\r\n", 2);
    n += 2;
    assert_int_equal(write_file("t.conf", big, n, 0600), 0);
    if (!extra) {
      assert_int_equal(
          msoauth_config_load(conf, NULL, NULL, 0, 0, NULL, &cfg, &err),
          MSOAUTH_OK);
      assert_int_equal(strlen(cfg->scope), MSOAUTH_CONFIG_LINE_MAX - 8);
      msoauth_config_free(&cfg);
    } else {
      assert_int_equal(
          msoauth_config_load(conf, NULL, NULL, 0, 0, NULL, &cfg, &err),
          MSOAUTH_ERR_CONFIG);
      snprintf(expect, sizeof(expect), "%s:3: line longer than %d bytes", conf,
               MSOAUTH_CONFIG_LINE_MAX);
      assert_string_equal(err.detail, expect);
    }
  }
  free(big);

  /* A 2 MB file of comments. */
  len = 2 * 1024 * 1024;
  big = malloc(len);
  assert_non_null(big);
  memset(big, '#', len);
  for (size_t i = 63; i < len; i += 64)
    big[i] = '\n';
  memcpy(big, MIN, strlen(MIN));
  assert_int_equal(write_file("t.conf", big, len, 0600), 0);
  free(big);
  assert_int_equal(
      msoauth_config_load(conf, NULL, NULL, 0, 0, NULL, &cfg, &err),
      MSOAUTH_ERR_CONFIG);
  assert_null(cfg);
  assert_non_null(strstr(err.detail, "larger than 1048576 bytes"));
  assert_non_null(strstr(err.detail, conf));
}

/* ------------------------------------------------------------ the log */

static void test_log_every_problem(void **state) {
  static const char text[] = "tenant = contoso.com\n" /* 1 */
                             "bogus = 1\n"            /* 2: unknown */
                             "no equals here\n"       /* 3: no '=' */
                             "timeout = x\n"          /* 4: bad integer */
                             "auth = app\n"           /* 5: no credential */
                             "[p]\n"                  /* 6 */
                             "retries = 1\n"          /* 7 */
                             "retries = 2\n"          /* 8: repeated */
                             "[p]\n"                  /* 9: repeated */
                             "client_secret = " SECRET "\n"; /* 10: mode */
  struct msoauth_config *cfg = NULL;
  struct msoauth_err err;
  struct logbook book = {0};
  char expect[256];

  (void)state;
  assert_int_equal(write_file("t.conf", text, strlen(text), 0640), 0);
  {
    struct msoauth_log log = {record, &book, MSOAUTH_LOG_ERROR};

    assert_int_equal(
        msoauth_config_load(conf, NULL, NULL, 0, 0, &log, &cfg, &err),
        MSOAUTH_ERR_CONFIG);
  }
  assert_null(cfg);
  /* bogus, no '=', repeated key, repeated section, client_secret in a
   * readable file, timeout, client_id missing, app without credential. */
  assert_int_equal(book.n, 8);
  assert_int_equal(book.not_error, 0);
  assert_int_equal(book.leaked, 0);
  snprintf(expect, sizeof(expect), "%s:2: bogus: unknown key", conf);
  assert_string_equal(err.detail, expect);
  assert_string_equal(book.first, expect);

  /* Without a log, the same first problem is returned. */
  assert_int_equal(
      msoauth_config_load(conf, NULL, NULL, 0, 0, NULL, &cfg, &err),
      MSOAUTH_ERR_CONFIG);
  assert_string_equal(err.detail, expect);
  /* And without err either. */
  assert_int_equal(
      msoauth_config_load(conf, NULL, NULL, 0, 0, NULL, &cfg, NULL),
      MSOAUTH_ERR_CONFIG);
  assert_null(cfg);
}

/* ------------------------------------------------------------ the example */

static const char *const all_keys[] = {"authority",
                                       "tenant",
                                       "client_id",
                                       "client_secret",
                                       "client_secret_file",
                                       "client_certificate_file",
                                       "client_key_file",
                                       "scope",
                                       "auth",
                                       "domains",
                                       "default_domain",
                                       "aliases_file",
                                       "alias_policy",
                                       "service_account",
                                       "service_account_password_file",
                                       "cache_dir",
                                       "allowed_groups",
                                       "failure_cache",
                                       "offline_grace",
                                       "refresh_margin",
                                       "timeout",
                                       "connect_timeout",
                                       "retries",
                                       "ca_file",
                                       "ca_path",
                                       "proxy",
                                       "log_level",
                                       "store_tokens",
                                       "canonical_user",
                                       "cache_backend",
                                       "redis_url",
                                       "redis_password_file",
                                       "redis_key_file",
                                       "redis_key_file_old"};
/* Keys whose commented-out line shows the built-in default. */
static const char *const defaulted[] = {
    "authority",       "scope",         "auth",           "alias_policy",
    "failure_cache",   "offline_grace", "refresh_margin", "timeout",
    "connect_timeout", "retries",       "log_level",      "store_tokens",
    "canonical_user",  "cache_backend"};

static int in_list(const char *const *list, size_t n, const char *key,
                   size_t len) {
  for (size_t i = 0; i < n; i++)
    if (strlen(list[i]) == len && strncmp(list[i], key, len) == 0)
      return (int)i;
  return -1;
}

static void append_line(char *text, size_t size, const char *line) {
  size_t used = strlen(text);
  int n = snprintf(text + used, size - used, "%s\n", line);

  assert_true(n > 0 && (size_t)n < size - used);
}

/* conf/msoauth.conf shows every key, its defaults are the real ones, and
 * its example profiles are valid. */
static void test_example_file(void **state) {
  const char *srcdir = getenv("MSOAUTH_SRCDIR");
  size_t n_keys = sizeof(all_keys) / sizeof(all_keys[0]);
  int shown[sizeof(all_keys) / sizeof(all_keys[0])] = {0};
  static char example[65536], defaults[8192], profiles[8192];
  struct msoauth_config *mine, *builtin;
  char path[512];
  FILE *f;
  size_t len;
  int in_profiles = 0;

  (void)state;
  if (srcdir == NULL)
    skip();
  snprintf(path, sizeof(path), "%s/conf/msoauth.conf", srcdir);
  f = fopen(path, "r");
  assert_non_null(f);
  len = fread(example, 1, sizeof(example) - 1, f);
  fclose(f);
  assert_true(len > 0 && len < sizeof(example) - 1);
  example[len] = '\0';
  snprintf(defaults, sizeof(defaults), "%s", MIN);
  snprintf(profiles, sizeof(profiles), "%s", MIN);
  for (char *p = example, *nl; *p != '\0'; p = nl + 1) {
    size_t klen;

    nl = strchr(p, '\n');
    assert_non_null(nl);
    *nl = '\0';
    if (p[0] != '#' || !((p[1] >= 'a' && p[1] <= 'z') || p[1] == '['))
      continue;
    in_profiles |= p[1] == '[';
    if (in_profiles) {
      append_line(profiles, sizeof(profiles), p + 1);
      continue;
    }
    klen = strcspn(p + 1, " =");
    assert_true(in_list(all_keys, n_keys, p + 1, klen) >= 0);
    shown[in_list(all_keys, n_keys, p + 1, klen)] = 1;
    if (in_list(defaulted, sizeof(defaulted) / sizeof(defaulted[0]), p + 1,
                klen) >= 0) {
      append_line(defaults, sizeof(defaults), p + 1);
    }
  }
  for (size_t i = 0; i < n_keys; i++) {
    if (!shown[i])
      print_error("%s is missing from %s\n", all_keys[i], path);
    assert_true(shown[i]);
  }
  mine = load_ok(defaults, NULL, NULL, 0, 0);
  builtin = load_ok(MIN, NULL, NULL, 0, 0);
  assert_string_equal(mine->authority, builtin->authority);
  assert_string_equal(mine->scope, builtin->scope);
  assert_int_equal(mine->auth, builtin->auth);
  assert_int_equal(mine->alias_policy, builtin->alias_policy);
  assert_int_equal(mine->failure_cache, builtin->failure_cache);
  assert_int_equal(mine->offline_grace, builtin->offline_grace);
  assert_int_equal(mine->refresh_margin, builtin->refresh_margin);
  assert_int_equal(mine->timeout, builtin->timeout);
  assert_int_equal(mine->connect_timeout, builtin->connect_timeout);
  assert_int_equal(mine->retries, builtin->retries);
  assert_int_equal(mine->log_level, builtin->log_level);
  assert_int_equal(mine->store_tokens, builtin->store_tokens);
  assert_int_equal(mine->canonical_user, builtin->canonical_user);
  assert_int_equal(builtin->canonical_user, 0);
  assert_int_equal(mine->cache_backend, builtin->cache_backend);
  assert_int_equal(builtin->cache_backend, MSOAUTH_CACHE_FILE);
  msoauth_config_free(&mine);
  msoauth_config_free(&builtin);

  /* The example profiles: known keys everywhere; those that name no file
   * load. */
  mine = load_ok(profiles, NULL, NULL, 0, 0);
  msoauth_config_free(&mine);
  mine = load_ok(profiles, "mail", NULL, 0, 0);
  assert_int_equal(mine->auth, MSOAUTH_AUTH_REFRESH);
  msoauth_config_free(&mine);
  mine = load_ok(profiles, "pam", NULL, 0, MSOAUTH_CONFIG_VERIFY_PASSWORDS);
  assert_int_equal(mine->n_allowed_groups, 1);
  assert_int_equal(mine->store_tokens, 1);
  msoauth_config_free(&mine);
}

static void test_names(void **state) {
  static const struct {
    enum msoauth_auth auth;
    const char *name;
  } cases[] = {
      {MSOAUTH_AUTH_PASSWORD, "password"},
      {MSOAUTH_AUTH_TOKEN, "token"},
      {MSOAUTH_AUTH_REFRESH, "refresh"},
      {MSOAUTH_AUTH_SERVICE_ACCOUNT, "service_account"},
      {MSOAUTH_AUTH_APP, "app"},
  };

  (void)state;
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    assert_string_equal(msoauth_auth_name(cases[i].auth), cases[i].name);
  assert_string_equal(msoauth_auth_name((enum msoauth_auth)42), "unknown");
  assert_false(msoauth_config_confidential(NULL));
}

static void test_bad_arguments(void **state) {
  struct msoauth_config *cfg = NULL;
  struct msoauth_err err;

  (void)state;
  assert_int_equal(
      msoauth_config_load(conf, NULL, NULL, 0, 0, NULL, NULL, &err),
      MSOAUTH_ERR_INVALID);
  assert_int_equal(
      msoauth_config_load(conf, NULL, NULL, 2, 0, NULL, &cfg, &err),
      MSOAUTH_ERR_INVALID);
  assert_null(cfg);
}

/* At most 1024 sections: the header past them ends the reading with that
 * reason, even when it is malformed too (the count is checked first). */
static void test_many_sections(void **state) {
  struct msoauth_config *cfg = NULL;
  struct msoauth_log log;
  struct logbook book = {0};
  struct msoauth_err err;
  size_t size = 16 * 1024, used;
  char *text = malloc(size);

  (void)state;
  assert_non_null(text);
  used = (size_t)snprintf(text, size, "%s", MIN);
  for (int i = 0; i < 1024; i++)
    used += (size_t)snprintf(text + used, size - used, "[s%d]\n", i);
  used += (size_t)snprintf(text + used, size - used, "[bad header\n[x]\n");
  assert_true(used < size);
  assert_int_equal(write_file("t.conf", text, used, 0600), 0);
  log = (struct msoauth_log){record, &book, MSOAUTH_LOG_DEBUG};
  assert_int_equal(
      msoauth_config_load(conf, "s1", NULL, 0, 0, &log, &cfg, &err),
      MSOAUTH_ERR_CONFIG);
  assert_null(cfg);
  assert_true(strstr(err.detail, "t.conf:1027: more than 1024 sections") !=
              NULL);
  assert_int_equal(book.n, 1);
  free(text);
}

/* Each layer's settings come from the keys it uses, and from nowhere
 * else (token_settings.c). */
static void test_settings(void **state) {
  struct msoauth_http_settings http;
  struct msoauth_grant_settings grant;
  struct msoauth_cache_settings cache;
  struct msoauth_identity_settings ids;
  struct msoauth_config *cfg;

  (void)state;
  assert_int_equal(
      write_file("aliases", "a@contoso.com b@contoso.com\n", 28, 0600), 0);
  cfg = load_ok("authority = https://login.example.org/\n"
                "tenant = " TENANT_ID "\n"
                "client_id = " CLIENT "\n"
                "client_secret = " SECRET "\n"
                "domains = contoso.com, bravo.com\n"
                "default_domain = Contoso.com\n"
                "aliases_file = $D/aliases\n"
                "alias_policy = resolve\n"
                "service_account = Svc@Contoso.com\n"
                "cache_dir = /var/tmp/msoauth\n"
                "connect_timeout = 7\n"
                "timeout = 20\n"
                "retries = 3\n"
                "ca_file = /etc/ssl/ca.pem\n"
                "ca_path = /etc/ssl/certs\n"
                "proxy = http://proxy.example:3128\n",
                NULL, NULL, 0, 0);
  cfg->cache_allow_foreign_dir = 1;
  msoauth_settings_http(cfg, &http);
  assert_int_equal(http.connect_timeout, 7);
  assert_int_equal(http.retries, 3);
  assert_string_equal(http.ca_file, "/etc/ssl/ca.pem");
  assert_string_equal(http.ca_path, "/etc/ssl/certs");
  assert_string_equal(http.proxy, "http://proxy.example:3128");
  msoauth_settings_grant(cfg, &grant);
  assert_string_equal(grant.authority, "https://login.example.org");
  assert_string_equal(grant.tenant, TENANT_ID);
  assert_string_equal(grant.client_id, CLIENT);
  assert_ptr_equal(grant.client_secret, cfg->client_secret);
  assert_null(grant.client_certificate_file);
  assert_null(grant.client_key_file);
  assert_int_equal(grant.http.connect_timeout, 7);
  assert_string_equal(grant.http.proxy, "http://proxy.example:3128");
  msoauth_settings_cache(cfg, &cache);
  assert_string_equal(cache.dir, "/var/tmp/msoauth");
  assert_int_equal(cache.allow_foreign_dir, 1);
  msoauth_settings_identity(cfg, &ids);
  assert_int_equal(ids.n_domains, 2);
  assert_string_equal(ids.domains[1], "bravo.com");
  assert_string_equal(ids.default_domain, "contoso.com");
  assert_int_equal(ids.n_aliases, 1);
  assert_string_equal(ids.aliases[0].primary, "b@contoso.com");
  assert_int_equal(ids.alias_policy, MSOAUTH_ALIAS_RESOLVE);
  assert_string_equal(ids.tenant, TENANT_ID);
  assert_string_equal(ids.client_id, CLIENT);
  assert_string_equal(ids.service_account, "svc@contoso.com");
  msoauth_config_free(&cfg);
}

/* The shared cache's keys: read, checked, handed to the cache. */
static void test_redis_keys(void **state) {
  struct msoauth_cache_settings cache;
  struct msoauth_config *cfg;
  struct msoauth_err err;
  struct logbook book = {0};
  static const struct {
    const char *text, *expect;
  } bad[] = {
      {"cache_backend = redis\nredis_key_file = $D/key\n",
       "redis_url: required with cache_backend = redis"},
      {"cache_backend = redis\nredis_url = unix:/run/redis.sock\n",
       "redis_key_file: required with cache_backend = redis"},
      {"redis_url = redis://msoauth:" SECRET "@host\n",
       "a password in the URL"},
      {"redis_url = http://host\n", "not redis://"},
      {"redis_url = unix:relative\n", "absolute path"},
      {"cache_backend = memcached\n", "cache_backend"},
  };

  (void)state;
  assert_int_equal(write_file("key", "00ff\n", 5, 0600), 0);
  assert_int_equal(write_file("pw", SECRET "\n", strlen(SECRET) + 1, 0600),
                   0);
  cfg = load_ok(MIN "cache_backend = redis\n"
                    "redis_url = rediss://msoauth@redis.example:6380/2\n"
                    "redis_password_file = $D/pw\n"
                    "redis_key_file = $D/key\nredis_key_file_old = $D/key\n"
                    "timeout = 9\nconnect_timeout = 2\n",
                NULL, NULL, 0, 0);
  assert_int_equal(cfg->cache_backend, MSOAUTH_CACHE_REDIS);
  assert_string_equal(msoauth_secret_value(cfg->redis_password), SECRET);
  assert_string_equal(msoauth_secret_value(cfg->redis_key), "00ff");
  msoauth_settings_cache(cfg, &cache);
  assert_int_equal(cache.redis, 1);
  assert_string_equal(cache.redis_url,
                      "rediss://msoauth@redis.example:6380/2");
  assert_ptr_equal(cache.redis_password, cfg->redis_password);
  assert_ptr_equal(cache.redis_key_old, cfg->redis_key_old);
  assert_int_equal(cache.connect_timeout_ms, 2000);
  assert_int_equal(cache.lock_ttl_ms, 9000);
  msoauth_config_free(&cfg);
  /* A key file readable by others is refused, as every secret file. */
  assert_int_equal(write_file("key", "00ff\n", 5, 0644), 0);
  assert_int_equal(load_text(MIN "redis_key_file = $D/key\n", NULL, NULL, 0,
                             0, &book, &cfg, &err),
                   MSOAUTH_ERR_CONFIG);
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    char text[512];

    memset(&book, 0, sizeof(book));
    snprintf(text, sizeof(text), "%s%s", MIN, bad[i].text);
    assert_int_equal(write_file("key", "00ff\n", 5, 0600), 0);
    assert_int_not_equal(
        load_text(text, NULL, NULL, 0, 0, &book, &cfg, &err), MSOAUTH_OK);
    if (strstr(err.detail, bad[i].expect) == NULL)
      print_error("%s: got %s\n", bad[i].expect, err.detail);
    assert_non_null(strstr(err.detail, bad[i].expect));
    assert_int_equal(book.leaked, 0);
    assert_null(strstr(err.detail, SECRET));
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_redis_keys),
      cmocka_unit_test(test_minimal),
      cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_every_key),
      cmocka_unit_test(test_certificate),
      cmocka_unit_test(test_profiles),
      cmocka_unit_test(test_overrides),
      cmocka_unit_test(test_pam_flag),
      cmocka_unit_test(test_domains),
      cmocka_unit_test(test_authority_forms),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_file_checks),
      cmocka_unit_test(test_foreign_files),
      cmocka_unit_test(test_secret_file),
      cmocka_unit_test(test_aliases),
      cmocka_unit_test(test_raw_bytes),
      cmocka_unit_test(test_log_every_problem),
      cmocka_unit_test(test_example_file),
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_bad_arguments),
      cmocka_unit_test(test_many_sections),
      cmocka_unit_test(test_settings),
  };

  return cmocka_run_group_tests(tests, setup, teardown);
}
