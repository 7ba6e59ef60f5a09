/*
 * config.c - msoauth.conf: reading, profiles, overrides and validation.
 *
 * Loading runs in three steps. The file is read and split into entries
 * (syntax, known keys, repeats). The entries of the defaults, then those of
 * the chosen profile, then the overrides are checked one by one and take
 * their key's slot, so the last one wins. Last, the slots become the struct,
 * the rules between keys are checked and the files named are read.
 *
 * Every problem is logged and loading goes on, so that an administrator sees
 * them all at once; the first one is returned. Values are never written into
 * a message: one of them may be a secret.
 */
#include "config_build.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"

#ifndef MSOAUTH_CONFIG_PATH
#define MSOAUTH_CONFIG_PATH "/etc/msoauth.conf"
#endif
#ifndef MSOAUTH_CACHE_DIR
#define MSOAUTH_CACHE_DIR "/var/cache/msoauth"
#endif

#define SECTION_NAME_MAX 64
#define SECTIONS_MAX 1024 /* repeats are found by comparing every pair */
#define KEY_SHOWN_MAX 64
#define ADDRESS_MAX 256
#define DOMAIN_MAX 253
#define LABEL_MAX 63
#define GUID_LEN 36
#define MESSAGE_MAX 1024
#define CHUNK 4096

/* The line of a value given as an override. */
#define LINE_ARGUMENT (-1)

enum key_id {
  KEY_AUTHORITY,
  KEY_TENANT,
  KEY_CLIENT_ID,
  KEY_CLIENT_SECRET,
  KEY_CLIENT_SECRET_FILE,
  KEY_CLIENT_CERTIFICATE_FILE,
  KEY_CLIENT_KEY_FILE,
  KEY_SCOPE,
  KEY_AUTH,
  KEY_DOMAINS,
  KEY_DEFAULT_DOMAIN,
  KEY_ALIASES_FILE,
  KEY_ALIAS_POLICY,
  KEY_SERVICE_ACCOUNT,
  KEY_SERVICE_ACCOUNT_PASSWORD_FILE,
  KEY_CACHE_DIR,
  KEY_ALLOWED_GROUPS,
  KEY_FAILURE_CACHE,
  KEY_OFFLINE_GRACE,
  KEY_REFRESH_MARGIN,
  KEY_TIMEOUT,
  KEY_CONNECT_TIMEOUT,
  KEY_RETRIES,
  KEY_CA_FILE,
  KEY_CA_PATH,
  KEY_PROXY,
  KEY_LOG_LEVEL,
  KEY_STORE_TOKENS,
  KEY_CANONICAL_USER,
  N_KEYS
};

struct key_def;

/* Returns NULL when value is acceptable, else why not (static, or written
 * into why). */
typedef const char *(*check_fn)(const struct key_def *def, const char *value,
                                char *why, size_t size);

struct key_def {
  const char *name;
  check_fn check;
  long min, max, dflt;        /* integers */
  const char *const *choices; /* enumerations, in the order of the enum */
};

/* In the order of enum msoauth_auth. */
static const char *const auth_names[] = {"password",        "token", "refresh",
                                         "service_account", "app",   NULL};
/* In the order of enum msoauth_alias_policy. */
static const char *const alias_names[] = {"reject", "resolve", NULL};
/* In the order of enum msoauth_level. */
static const char *const level_names[] = {"error", "warning", "info", "debug",
                                          NULL};
static const char *const bool_names[] = {"no", "yes", NULL};
static const char *const proxy_schemes[] = {
    "http://", "https://", "socks4://", "socks5://", "socks5h://", NULL};

static const char *check_any(const struct key_def *, const char *, char *,
                             size_t);
static const char *check_authority(const struct key_def *, const char *, char *,
                                   size_t);
static const char *check_tenant(const struct key_def *, const char *, char *,
                                size_t);
static const char *check_guid(const struct key_def *, const char *, char *,
                              size_t);
static const char *check_path(const struct key_def *, const char *, char *,
                              size_t);
static const char *check_scope(const struct key_def *, const char *, char *,
                               size_t);
static const char *check_choice(const struct key_def *, const char *, char *,
                                size_t);
static const char *check_domains(const struct key_def *, const char *, char *,
                                 size_t);
static const char *check_domain(const struct key_def *, const char *, char *,
                                size_t);
static const char *check_address(const struct key_def *, const char *, char *,
                                 size_t);
static const char *check_guids(const struct key_def *, const char *, char *,
                               size_t);
static const char *check_long(const struct key_def *, const char *, char *,
                              size_t);
static const char *check_proxy(const struct key_def *, const char *, char *,
                               size_t);

#define INTEGER(n, lo, hi, d)                                                  \
  { .name = (n), .check = check_long, .min = (lo), .max = (hi), .dflt = (d) }
#define CHOICE(n, list)                                                        \
  { .name = (n), .check = check_choice, .choices = (list) }

static const struct key_def keys[N_KEYS] = {
    [KEY_AUTHORITY] = {.name = "authority", .check = check_authority},
    [KEY_TENANT] = {.name = "tenant", .check = check_tenant},
    [KEY_CLIENT_ID] = {.name = "client_id", .check = check_guid},
    [KEY_CLIENT_SECRET] = {.name = "client_secret", .check = check_any},
    [KEY_CLIENT_SECRET_FILE] = {.name = "client_secret_file",
                                .check = check_path},
    [KEY_CLIENT_CERTIFICATE_FILE] = {.name = "client_certificate_file",
                                     .check = check_path},
    [KEY_CLIENT_KEY_FILE] = {.name = "client_key_file", .check = check_path},
    [KEY_SCOPE] = {.name = "scope", .check = check_scope},
    [KEY_AUTH] = CHOICE("auth", auth_names),
    [KEY_DOMAINS] = {.name = "domains", .check = check_domains},
    [KEY_DEFAULT_DOMAIN] = {.name = "default_domain", .check = check_domain},
    [KEY_ALIASES_FILE] = {.name = "aliases_file", .check = check_path},
    [KEY_ALIAS_POLICY] = CHOICE("alias_policy", alias_names),
    [KEY_SERVICE_ACCOUNT] = {.name = "service_account", .check = check_address},
    [KEY_SERVICE_ACCOUNT_PASSWORD_FILE] = {.name =
                                               "service_account_password_file",
                                           .check = check_path},
    [KEY_CACHE_DIR] = {.name = "cache_dir", .check = check_path},
    [KEY_ALLOWED_GROUPS] = {.name = "allowed_groups", .check = check_guids},
    [KEY_FAILURE_CACHE] = INTEGER("failure_cache", 0, 86400, 300),
    [KEY_OFFLINE_GRACE] = INTEGER("offline_grace", 0, 2592000, 0),
    [KEY_REFRESH_MARGIN] = INTEGER("refresh_margin", 0, 3000, 600),
    [KEY_TIMEOUT] = INTEGER("timeout", 1, 300, 10),
    [KEY_CONNECT_TIMEOUT] = INTEGER("connect_timeout", 1, 300, 5),
    [KEY_RETRIES] = INTEGER("retries", 0, 10, 2),
    [KEY_CA_FILE] = {.name = "ca_file", .check = check_path},
    [KEY_CA_PATH] = {.name = "ca_path", .check = check_path},
    [KEY_PROXY] = {.name = "proxy", .check = check_proxy},
    [KEY_LOG_LEVEL] = CHOICE("log_level", level_names),
    [KEY_STORE_TOKENS] = CHOICE("store_tokens", bool_names),
    [KEY_CANONICAL_USER] = CHOICE("canonical_user", bool_names),
};

/* One `key = value` line of the file; key and value point into the text. */
struct entry {
  enum key_id id;
  const char *value;
  int line;
  size_t section; /* 0: the defaults */
};

struct section {
  const char *name; /* NULL for the defaults and unusable headers */
  int line;
  int seen[N_KEYS]; /* the line of each key set here, 0 when none */
};

/* The value a key ends up with, and where it came from. */
struct slot {
  const char *value; /* NULL when unset or rejected */
  int line;          /* file line, LINE_ARGUMENT, or 0 when unset */
  int bad;           /* a value was rejected: rules that need it are skipped */
};

struct loader {
  const char *path;
  const char *profile;
  const struct msoauth_log *log;
  struct msoauth_err *err;
  msoauth_rc rc; /* the first problem */
  int nomem;
  struct msoauth_buf text; /* the file, wiped when freed */
  mode_t mode;
  struct entry *entries;
  size_t n_entries, cap_entries;
  struct section *sections;
  size_t n_sections, cap_sections;
  struct slot slots[N_KEYS];
};

/* ------------------------------------------------------------ problems */

/* Logs a problem and keeps the first one for the caller. */
static void problem(struct loader *ld, msoauth_rc rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void problem(struct loader *ld, msoauth_rc rc, const char *fmt, ...) {
  char msg[MESSAGE_MAX];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  MSOAUTH_ERROR(ld->log, "%s", msg);
  if (ld->rc == MSOAUTH_OK) {
    ld->rc = rc;
    msoauth_fail(ld->err, rc, "%s", msg);
  }
}

static msoauth_rc nomem(struct loader *ld) {
  if (!ld->nomem)
    problem(ld, MSOAUTH_ERR_NOMEM, "%s: out of memory", ld->path);
  ld->nomem = 1;
  return MSOAUTH_ERR_NOMEM;
}

/* A problem with key id set at line: "FILE:LINE: KEY: why", or "argument
 * KEY=...: why" for an override, or "FILE: KEY: why" when it is unset. Rules
 * between keys add the profile. */
static void key_vproblem(struct loader *ld, msoauth_rc rc, enum key_id id,
                         int line, int rule, const char *fmt, va_list ap)
    __attribute__((format(printf, 6, 0)));

static void key_vproblem(struct loader *ld, msoauth_rc rc, enum key_id id,
                         int line, int rule, const char *fmt, va_list ap) {
  char why[MESSAGE_MAX];
  const char *name = keys[id].name;
  const char *in = rule && ld->profile != NULL ? " (profile " : "";
  const char *profile = rule && ld->profile != NULL ? ld->profile : "";
  const char *close = rule && ld->profile != NULL ? ")" : "";

  vsnprintf(why, sizeof(why), fmt, ap);
  if (line == LINE_ARGUMENT)
    problem(ld, rc, "argument %s=...: %s%s%s%s", name, why, in, profile, close);
  else if (line > 0)
    problem(ld, rc, "%s:%d: %s: %s%s%s%s", ld->path, line, name, why, in,
            profile, close);
  else
    problem(ld, rc, "%s: %s: %s%s%s%s", ld->path, name, why, in, profile,
            close);
}

static void key_problem(struct loader *ld, msoauth_rc rc, enum key_id id,
                        int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void key_problem(struct loader *ld, msoauth_rc rc, enum key_id id,
                        int line, const char *fmt, ...) {
  va_list ap;

  va_start(ap, fmt);
  key_vproblem(ld, rc, id, line, 0, fmt, ap);
  va_end(ap);
}

/* A broken rule between keys, reported at the slot of id. */
static void rule_problem(struct loader *ld, enum key_id id, const char *fmt,
                         ...) __attribute__((format(printf, 3, 4)));

static void rule_problem(struct loader *ld, enum key_id id, const char *fmt,
                         ...) {
  va_list ap;

  va_start(ap, fmt);
  key_vproblem(ld, MSOAUTH_ERR_CONFIG, id, ld->slots[id].line, 1, fmt, ap);
  va_end(ap);
}

/* Where the slot of id was set, for a message about another key. */
static const char *origin(const struct loader *ld, enum key_id id, char *buf,
                          size_t size) {
  if (ld->slots[id].line == LINE_ARGUMENT)
    return "an argument";
  snprintf(buf, size, "line %d", ld->slots[id].line);
  return buf;
}

/* ------------------------------------------------------------ characters */

static int is_blank(int c) {
  return c == ' ' || c == '\t';
}

static int is_control(int c) {
  return (c >= 0 && c < 0x20) || c == 0x7f;
}

static int is_alnum(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9');
}

static int is_hex(int c) {
  return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
         (c >= '0' && c <= '9');
}

static int is_name_char(int c) {
  return is_alnum(c) || c == '_' || c == '.' || c == '-';
}

static void lowercase(char *s) {
  for (; *s != '\0'; s++)
    if (*s >= 'A' && *s <= 'Z')
      *s = (char)(*s - 'A' + 'a');
}

/* Trims blanks on both sides, in place. */
static char *trim(char *s) {
  size_t len;

  while (is_blank((unsigned char)*s))
    s++;
  len = strlen(s);
  while (len > 0 && is_blank((unsigned char)s[len - 1]))
    len--;
  s[len] = '\0';
  return s;
}

/* The bounds of s[0..len) without its blanks. */
static void trim_span(const char **s, size_t *len) {
  while (*len > 0 && is_blank((unsigned char)**s)) {
    (*s)++;
    (*len)--;
  }
  while (*len > 0 && is_blank((unsigned char)(*s)[*len - 1]))
    (*len)--;
}

/* ------------------------------------------------------------ values */

static int is_guid(const char *s, size_t len) {
  if (len != GUID_LEN)
    return 0;
  for (size_t i = 0; i < len; i++) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-')
        return 0;
    } else if (!is_hex((unsigned char)s[i])) {
      return 0;
    }
  }
  return 1;
}

/* Labels of letters, digits and '-', at least two of them. */
static int is_domain(const char *s, size_t len) {
  size_t label = 0;
  int dots = 0;

  if (len == 0 || len > DOMAIN_MAX)
    return 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] == '.') {
      if (label == 0)
        return 0;
      label = 0;
      dots++;
    } else if (is_alnum((unsigned char)s[i]) || s[i] == '-') {
      if (++label > LABEL_MAX)
        return 0;
    } else {
      return 0;
    }
  }
  return label > 0 && dots > 0;
}

/* local@domain, as the identity rules want it. */
static const char *address_problem(const char *s, size_t len) {
  const char *at;

  if (len > ADDRESS_MAX)
    return "an address longer than 256 bytes";
  for (size_t i = 0; i < len; i++) {
    if (is_control((unsigned char)s[i]))
      return "an address with a control character";
    if (is_blank((unsigned char)s[i]))
      return "an address with a blank";
  }
  at = memchr(s, '@', len);
  if (at == NULL || at == s || !is_domain(at + 1, len - (size_t)(at + 1 - s)))
    return "not an address (expected local@domain)";
  return NULL;
}

/* Calls ok on each comma-separated item, trimmed; 0 when one fails. */
static int each_item(const char *v, int (*ok)(const char *s, size_t len)) {
  for (;;) {
    const char *comma = strchr(v, ',');
    size_t len = comma != NULL ? (size_t)(comma - v) : strlen(v);
    const char *item = v;

    trim_span(&item, &len);
    if (!ok(item, len))
      return 0;
    if (comma == NULL)
      return 1;
    v = comma + 1;
  }
}

static const char *check_any(const struct key_def *def, const char *value,
                             char *why, size_t size) {
  (void)def;
  (void)value;
  (void)why;
  (void)size;
  return NULL;
}

/* Printable ASCII without blanks. */
static int is_url_text(const char *s) {
  for (; *s != '\0'; s++)
    if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
      return 0;
  return 1;
}

/* The HOST[:PORT] of a URL, len bytes: a name or an [IPv6] literal, and a
 * port from 1 to 65535 when there is one. */
static const char *host_port_problem(const char *s, size_t len) {
  const char *end = s + len, *colon;
  long port = 0;

  if (len > 0 && s[0] == '[') {
    const char *close = memchr(s, ']', len);

    if (close == NULL)
      return "a URL with an unclosed '['";
    colon = close + 1 < end ? close + 1 : NULL;
    if (colon != NULL && *colon != ':')
      return "a URL with text after ']'";
  } else {
    if (memchr(s, '[', len) != NULL || memchr(s, ']', len) != NULL)
      return "a URL with '[' or ']' around no IPv6 address";
    colon = memchr(s, ':', len);
  }
  if (len == 0 || colon == s)
    return "a URL without a host";
  if (colon == NULL)
    return NULL;
  for (const char *p = colon + 1; p < end; p++) {
    if (*p < '0' || *p > '9' || port > 65535)
      return "a URL with a port not from 1 to 65535";
    port = port * 10 + (*p - '0');
  }
  if (port < 1 || port > 65535)
    return "a URL with a port not from 1 to 65535";
  return NULL;
}

static const char *check_authority(const struct key_def *def, const char *value,
                                   char *why, size_t size) {
  const char *problem;

  (void)def;
  (void)why;
  (void)size;
  if (strncasecmp(value, "https://", 8) != 0)
    return "only https:// URLs are accepted";
  if (value[8] == '\0' || value[8] == '/')
    return "a URL without a host";
  if (!is_url_text(value))
    return "a URL with a blank, a control or a non-ASCII character";
  problem = host_port_problem(value + 8, strcspn(value + 8, "/"));
  if (problem != NULL)
    return problem;
  if (strchr(value, '@') != NULL)
    return "a URL with user information ('@')";
  if (strpbrk(value, "?#") != NULL)
    return "a URL with a query or a fragment";
  return NULL;
}

static const char *check_tenant(const struct key_def *def, const char *value,
                                char *why, size_t size) {
  size_t len = strlen(value);

  (void)def;
  (void)why;
  (void)size;
  if (strcasecmp(value, "common") == 0 || strcasecmp(value, "consumers") == 0)
    return "common and consumers are refused: ROPC and app-only tokens need "
           "a work tenant (its id or a verified domain)";
  if (strcasecmp(value, "organizations") == 0 || is_guid(value, len) ||
      is_domain(value, len))
    return NULL;
  return "not a tenant id (GUID), a domain name or organizations";
}

static const char *check_guid(const struct key_def *def, const char *value,
                              char *why, size_t size) {
  (void)def;
  (void)why;
  (void)size;
  if (!is_guid(value, strlen(value)))
    return "not a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)";
  return NULL;
}

static const char *check_path(const struct key_def *def, const char *value,
                              char *why, size_t size) {
  (void)def;
  (void)why;
  (void)size;
  if (value[0] != '/')
    return "not an absolute path";
  for (; *value != '\0'; value++)
    if (is_control((unsigned char)*value))
      return "a path with a control character";
  return NULL;
}

/* RFC 6749 scope tokens: printable ASCII but '"' and '\'. */
static const char *check_scope(const struct key_def *def, const char *value,
                               char *why, size_t size) {
  int tokens = 0;

  (void)def;
  (void)why;
  (void)size;
  for (const char *p = value; *p != '\0'; p++) {
    unsigned char c = (unsigned char)*p;

    if (c == ' ')
      continue;
    if (c < 0x21 || c > 0x7e || c == '"' || c == '\\')
      return "scopes are printable ASCII tokens separated by spaces";
    tokens++;
  }
  return tokens > 0 ? NULL : "no scope";
}

static int choice_index(const struct key_def *def, const char *value) {
  for (int i = 0; def->choices[i] != NULL; i++)
    if (strcasecmp(value, def->choices[i]) == 0)
      return i;
  return -1;
}

static const char *check_choice(const struct key_def *def, const char *value,
                                char *why, size_t size) {
  size_t used;

  if (choice_index(def, value) >= 0)
    return NULL;
  used = (size_t)snprintf(why, size, "must be");
  for (int i = 0; def->choices[i] != NULL && used < size; i++) {
    const char *sep = i == 0 ? " " : def->choices[i + 1] ? ", " : " or ";

    used +=
        (size_t)snprintf(why + used, size - used, "%s%s", sep, def->choices[i]);
  }
  return why;
}

static const char *check_domains(const struct key_def *def, const char *value,
                                 char *why, size_t size) {
  (void)def;
  (void)why;
  (void)size;
  if (!each_item(value, is_domain))
    return "not a comma-separated list of domain names";
  return NULL;
}

static const char *check_domain(const struct key_def *def, const char *value,
                                char *why, size_t size) {
  (void)def;
  (void)why;
  (void)size;
  if (!is_domain(value, strlen(value)))
    return "not a domain name";
  return NULL;
}

static const char *check_address(const struct key_def *def, const char *value,
                                 char *why, size_t size) {
  (void)def;
  (void)why;
  (void)size;
  return address_problem(value, strlen(value));
}

static const char *check_guids(const struct key_def *def, const char *value,
                               char *why, size_t size) {
  (void)def;
  (void)why;
  (void)size;
  if (!each_item(value, is_guid))
    return "not a comma-separated list of group object ids (GUIDs)";
  return NULL;
}

/* Decimal digits only: no sign, no blank, no base prefix. */
static int parse_long(const char *value, long *n_r) {
  char *end = NULL;
  long n;

  if (*value == '\0')
    return -1;
  for (const char *p = value; *p != '\0'; p++)
    if (*p < '0' || *p > '9')
      return -1;
  errno = 0;
  n = strtol(value, &end, 10);
  if (errno != 0 || end == value || *end != '\0')
    return -1;
  *n_r = n;
  return 0;
}

static const char *check_long(const struct key_def *def, const char *value,
                              char *why, size_t size) {
  long n;

  if (parse_long(value, &n) == 0 && n >= def->min && n <= def->max)
    return NULL;
  snprintf(why, size, "must be a whole number from %ld to %ld", def->min,
           def->max);
  return why;
}

static const char *check_proxy(const struct key_def *def, const char *value,
                               char *why, size_t size) {
  (void)def;
  (void)why;
  (void)size;
  for (int i = 0; proxy_schemes[i] != NULL; i++) {
    size_t len = strlen(proxy_schemes[i]);

    if (strncasecmp(value, proxy_schemes[i], len) != 0)
      continue;
    if (value[len] == '\0' || value[len] == '/')
      return "a proxy URL without a host";
    if (!is_url_text(value))
      return "a URL with a blank, a control or a non-ASCII character";
    return NULL;
  }
  return "not a proxy URL (http, https, socks4, socks5 or socks5h)";
}

/* ------------------------------------------------------------ reading */

static int find_key(const char *name, size_t len) {
  for (int i = 0; i < N_KEYS; i++)
    if (strlen(keys[i].name) == len && memcmp(keys[i].name, name, len) == 0)
      return i;
  return -1;
}

/* A key is written into messages only when it looks like one: a line meant
 * as "client_secret: VALUE" must not leak the value. */
static const char *shown_key(const char *key) {
  size_t len = strlen(key);

  if (len > KEY_SHOWN_MAX)
    return "(a key too long to show)";
  for (size_t i = 0; i < len; i++)
    if (!is_name_char((unsigned char)key[i]))
      return "(a key with characters no key has)";
  return key;
}

/*
 * Opens and reads path: a regular file owned by root or the effective user,
 * not writable by group or others, at most MSOAUTH_CONFIG_FILE_MAX bytes.
 * text must be initialised; its mode goes to *mode_r.
 */
static msoauth_rc read_file(const char *path, struct msoauth_buf *text,
                            mode_t *mode_r, struct msoauth_err *err) {
  char chunk[CHUNK];
  struct stat st;
  msoauth_rc rc = MSOAUTH_OK;
  int fd;

  /* O_NONBLOCK: a FIFO put in its place must not hang the caller. */
  fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0)
    return msoauth_fail(err, MSOAUTH_ERR_IO, "%s: %s", path, strerror(errno));
  if (fstat(fd, &st) != 0) {
    rc = msoauth_fail(err, MSOAUTH_ERR_IO, "%s: %s", path, strerror(errno));
    goto out;
  }
  if (!S_ISREG(st.st_mode)) {
    rc = msoauth_fail(err, MSOAUTH_ERR_CONFIG, "%s: not a regular file", path);
    goto out;
  }
  if (st.st_uid != 0 && st.st_uid != geteuid()) {
    rc = msoauth_fail(err, MSOAUTH_ERR_CONFIG,
                      "%s: owned by uid %ld, not by root or the running user",
                      path, (long)st.st_uid);
    goto out;
  }
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    rc = msoauth_fail(err, MSOAUTH_ERR_CONFIG,
                      "%s: writable by group or others (run: chmod go-w %s)",
                      path, path);
    goto out;
  }
  if (st.st_size > MSOAUTH_CONFIG_FILE_MAX) {
    rc = msoauth_fail(err, MSOAUTH_ERR_CONFIG, "%s: larger than %d bytes", path,
                      MSOAUTH_CONFIG_FILE_MAX);
    goto out;
  }
  *mode_r = st.st_mode;
  for (;;) {
    ssize_t n = read(fd, chunk, sizeof(chunk));

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      rc = msoauth_fail(err, MSOAUTH_ERR_IO, "%s: %s", path, strerror(errno));
      break;
    }
    if (n == 0)
      break;
    rc = msoauth_buf_add(text, chunk, (size_t)n);
    if (rc) {
      /* The file grew past the cap while being read. */
      rc = rc == MSOAUTH_ERR_NOMEM
               ? msoauth_fail(err, rc, "%s: out of memory", path)
               : msoauth_fail(err, MSOAUTH_ERR_CONFIG,
                              "%s: larger than %d bytes", path,
                              MSOAUTH_CONFIG_FILE_MAX);
      break;
    }
  }
out:
  msoauth_wipe(chunk, sizeof(chunk));
  close(fd);
  return rc;
}

/*
 * Calls fn on each line of text (mutable, NUL-terminated), with its number,
 * after dropping a CR before the LF and refusing long lines and NUL bytes.
 * The line is NUL-terminated in place. Stops when fn returns nonzero.
 */
static void each_line(struct loader *ld, const char *path, char *text,
                      size_t len,
                      int (*fn)(struct loader *, char *, int, void *),
                      void *arg) {
  char *p = text, *end = text + len;
  int line = 0;

  while (p < end) {
    char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t n = (size_t)((nl != NULL ? nl : end) - p);

    line++;
    if (n > 0 && p[n - 1] == '\r')
      n--;
    if (n > MSOAUTH_CONFIG_LINE_MAX) {
      problem(ld, MSOAUTH_ERR_CONFIG, "%s:%d: line longer than %d bytes", path,
              line, MSOAUTH_CONFIG_LINE_MAX);
    } else if (memchr(p, '\0', n) != NULL) {
      problem(ld, MSOAUTH_ERR_CONFIG, "%s:%d: NUL byte in line", path, line);
    } else {
      p[n] = '\0';
      if (fn(ld, p, line, arg) != 0)
        return;
    }
    p = nl != NULL ? nl + 1 : end;
  }
}

/* Adds a section; name NULL makes one that is never chosen. */
static int add_section(struct loader *ld, const char *name, int line) {
  struct section *sec;

  if (ld->n_sections == ld->cap_sections) {
    size_t cap = ld->cap_sections ? ld->cap_sections * 2 : 8;
    struct section *grown = realloc(ld->sections, cap * sizeof(*grown));

    if (grown == NULL)
      return nomem(ld);
    ld->sections = grown;
    ld->cap_sections = cap;
  }
  sec = &ld->sections[ld->n_sections++];
  memset(sec, 0, sizeof(*sec));
  sec->name = name;
  sec->line = line;
  return 0;
}

static int add_entry(struct loader *ld, enum key_id id, const char *value,
                     int line) {
  struct entry *e;

  if (ld->n_entries == ld->cap_entries) {
    size_t cap = ld->cap_entries ? ld->cap_entries * 2 : 32;
    struct entry *grown = realloc(ld->entries, cap * sizeof(*grown));

    if (grown == NULL)
      return nomem(ld);
    ld->entries = grown;
    ld->cap_entries = cap;
  }
  e = &ld->entries[ld->n_entries++];
  e->id = id;
  e->value = value;
  e->line = line;
  e->section = ld->n_sections - 1;
  return 0;
}

static int section_name_ok(const char *name, size_t len) {
  if (len == 0 || len > SECTION_NAME_MAX)
    return 0;
  for (size_t i = 0; i < len; i++)
    if (!is_name_char((unsigned char)name[i]))
      return 0;
  return 1;
}

/* "[NAME]": starts a profile. */
static int parse_header(struct loader *ld, char *s, int line) {
  size_t len = strlen(s);

  if (ld->n_sections > SECTIONS_MAX) {
    problem(ld, MSOAUTH_ERR_CONFIG, "%s:%d: more than %d sections", ld->path,
            line, SECTIONS_MAX);
    return 1;
  }
  if (len < 2 || s[len - 1] != ']' || !section_name_ok(s + 1, len - 2)) {
    problem(ld, MSOAUTH_ERR_CONFIG,
            "%s:%d: bad section header (expected [NAME], NAME of 1 to %d "
            "letters, digits, '_', '.' or '-')",
            ld->path, line, SECTION_NAME_MAX);
    return add_section(ld, NULL, line);
  }
  s[len - 1] = '\0';
  s++;
  for (size_t i = 1; i < ld->n_sections; i++) {
    if (ld->sections[i].name != NULL && strcmp(ld->sections[i].name, s) == 0) {
      problem(ld, MSOAUTH_ERR_CONFIG,
              "%s:%d: [%s]: section repeated (first at line %d)", ld->path,
              line, s, ld->sections[i].line);
      return add_section(ld, NULL, line);
    }
  }
  return add_section(ld, s, line);
}

/* One line of the configuration file. */
static int parse_line(struct loader *ld, char *s, int line, void *arg) {
  struct section *sec = &ld->sections[ld->n_sections - 1];
  char *eq, *key, *value;
  int id;

  (void)arg;
  s = trim(s);
  if (*s == '\0' || *s == '#')
    return 0;
  if (*s == '[')
    return parse_header(ld, s, line);
  eq = strchr(s, '=');
  if (eq == NULL) {
    problem(ld, MSOAUTH_ERR_CONFIG, "%s:%d: no '=' (expected key = value)",
            ld->path, line);
    return 0;
  }
  *eq = '\0';
  key = trim(s);
  value = trim(eq + 1);
  if (*key == '\0') {
    problem(ld, MSOAUTH_ERR_CONFIG, "%s:%d: empty key", ld->path, line);
    return 0;
  }
  id = find_key(key, strlen(key));
  if (id < 0) {
    problem(ld, MSOAUTH_ERR_CONFIG, "%s:%d: %s: unknown key", ld->path, line,
            shown_key(key));
    return 0;
  }
  if (*value == '\0') {
    problem(ld, MSOAUTH_ERR_CONFIG, "%s:%d: %s: empty value", ld->path, line,
            key);
    return 0;
  }
  if (sec->seen[id] != 0) {
    problem(ld, MSOAUTH_ERR_CONFIG,
            "%s:%d: %s: repeated in the same section (first at line %d)",
            ld->path, line, key, sec->seen[id]);
    return 0;
  }
  sec->seen[id] = line;
  return add_entry(ld, (enum key_id)id, value, line);
}

/* Whether a proxy URL carries user information (user:password@host). */
static int proxy_has_credentials(const char *url) {
  const char *host = strstr(url, "://");
  size_t len;

  host = host != NULL ? host + 3 : url;
  len = strcspn(host, "/?#");
  return memchr(host, '@', len) != NULL;
}

/* Reads and splits the configuration file; 0 when there is something to
 * apply. */
static int read_config(struct loader *ld) {
  struct msoauth_err e;
  msoauth_rc rc;

  msoauth_err_clear(&e);
  rc = read_file(ld->path, &ld->text, &ld->mode, &e);
  if (rc) {
    problem(ld, rc, "%s", e.detail);
    return -1;
  }
  if (add_section(ld, NULL, 0) != 0)
    return -1;
  if (ld->text.len > 0)
    each_line(ld, ld->path, ld->text.data, ld->text.len, parse_line, NULL);
  if (ld->nomem)
    return -1;
  /* A client secret, or a proxy password, in the file makes the file
   * itself a secret. */
  for (size_t i = 0; i < ld->n_entries && (ld->mode & (S_IRGRP | S_IROTH));
       i++) {
    const struct entry *ent = &ld->entries[i];

    if (ent->id == KEY_CLIENT_SECRET) {
      problem(ld, MSOAUTH_ERR_CONFIG,
              "%s:%d: client_secret: the file is readable by group or others "
              "(run: chmod 600 %s)",
              ld->path, ent->line, ld->path);
      break;
    }
    if (ent->id == KEY_PROXY && proxy_has_credentials(ent->value)) {
      problem(ld, MSOAUTH_ERR_CONFIG,
              "%s:%d: proxy: the URL holds credentials and the file is "
              "readable by group or others (run: chmod 600 %s)",
              ld->path, ent->line, ld->path);
      break;
    }
  }
  return 0;
}

/* ------------------------------------------------------------ applying */

/* Checks one value and makes it the one of its key. */
static void take(struct loader *ld, enum key_id id, const char *value,
                 int line) {
  char why[MESSAGE_MAX];
  const char *problem_text = keys[id].check(&keys[id], value, why, sizeof(why));
  struct slot *slot = &ld->slots[id];

  slot->line = line;
  if (problem_text != NULL) {
    key_problem(ld, MSOAUTH_ERR_CONFIG, id, line, "%s", problem_text);
    slot->value = NULL;
    slot->bad = 1;
    return;
  }
  slot->value = value;
  slot->bad = 0;
}

static void apply_section(struct loader *ld, size_t section) {
  for (size_t i = 0; i < ld->n_entries; i++)
    if (ld->entries[i].section == section)
      take(ld, ld->entries[i].id, ld->entries[i].value, ld->entries[i].line);
}

/* Finds the profile; 0 when found (or none was asked for). */
static int apply_profile(struct loader *ld) {
  if (ld->profile == NULL)
    return 0;
  for (size_t i = 1; i < ld->n_sections; i++) {
    if (ld->sections[i].name != NULL &&
        strcmp(ld->sections[i].name, ld->profile) == 0) {
      apply_section(ld, i);
      return 0;
    }
  }
  problem(ld, MSOAUTH_ERR_CONFIG, "profile %s not found in %s",
          section_name_ok(ld->profile, strlen(ld->profile))
              ? ld->profile
              : "(a name no section can have)",
          ld->path);
  return -1;
}

/* "KEY=VALUE" strings, as PAM arguments; the value is never shown. */
static void apply_overrides(struct loader *ld, const char *const *overrides,
                            size_t n) {
  for (size_t i = 0; i < n; i++) {
    const char *arg = overrides[i] != NULL ? overrides[i] : "";
    const char *eq = strchr(arg, '=');
    char key[KEY_SHOWN_MAX + 1];
    int id;

    if (eq == NULL || eq == arg) {
      problem(ld, MSOAUTH_ERR_CONFIG,
              "argument %zu: expected KEY=VALUE with a key", i + 1);
      continue;
    }
    id = find_key(arg, (size_t)(eq - arg));
    if (id < 0) {
      size_t len = (size_t)(eq - arg);

      if (len > KEY_SHOWN_MAX)
        len = KEY_SHOWN_MAX;
      memcpy(key, arg, len);
      key[len] = '\0';
      problem(ld, MSOAUTH_ERR_CONFIG, "argument %s=...: unknown key",
              shown_key(key));
      continue;
    }
    if (eq[1] == '\0') {
      key_problem(ld, MSOAUTH_ERR_CONFIG, (enum key_id)id, LINE_ARGUMENT,
                  "empty value");
      continue;
    }
    take(ld, (enum key_id)id, eq + 1, LINE_ARGUMENT);
  }
}

/* ------------------------------------------------------------ building */

static int is_set(const struct loader *ld, enum key_id id) {
  return ld->slots[id].value != NULL || ld->slots[id].bad;
}

/* A copy of the key's value, or of dflt when unset; NULL stays NULL. */
static int copy_value(struct loader *ld, enum key_id id, const char *dflt,
                      int lower, char **out) {
  const char *v = ld->slots[id].value != NULL ? ld->slots[id].value : dflt;

  *out = NULL;
  if (v == NULL)
    return 0;
  *out = strdup(v);
  if (*out == NULL)
    return nomem(ld);
  if (lower)
    lowercase(*out);
  return 0;
}

static long long_value(const struct loader *ld, enum key_id id) {
  long n = keys[id].dflt;

  if (ld->slots[id].value != NULL && parse_long(ld->slots[id].value, &n) != 0)
    n = keys[id].dflt;
  return n;
}

static int choice_value(const struct loader *ld, enum key_id id, int dflt) {
  int i;

  if (ld->slots[id].value == NULL)
    return dflt;
  i = choice_index(&keys[id], ld->slots[id].value);
  return i >= 0 ? i : dflt;
}

static void free_list(char ***list, size_t *n) {
  if (*list != NULL) {
    for (size_t i = 0; i < *n; i++)
      free((*list)[i]);
    free(*list);
  }
  *list = NULL;
  *n = 0;
}

/* Splits a comma-separated list (already checked), trimming each item; with
 * lower, items are lowercased and repeats dropped. */
static int split_list(struct loader *ld, const char *v, int lower,
                      char ***list_r, size_t *n_r) {
  size_t max = 1;
  char **list;
  size_t n = 0;

  for (const char *p = v; *p != '\0'; p++)
    max += *p == ',';
  list = calloc(max, sizeof(*list));
  if (list == NULL)
    return nomem(ld);
  for (;;) {
    const char *comma = strchr(v, ',');
    size_t len = comma != NULL ? (size_t)(comma - v) : strlen(v);
    const char *item = v;
    int repeat = 0;

    trim_span(&item, &len);
    list[n] = strndup(item, len);
    if (list[n] == NULL) {
      free_list(&list, &n);
      return nomem(ld);
    }
    if (lower)
      lowercase(list[n]);
    for (size_t i = 0; lower && i < n && !repeat; i++)
      repeat = strcmp(list[i], list[n]) == 0;
    if (repeat) {
      free(list[n]);
      list[n] = NULL;
    } else {
      n++;
    }
    if (comma == NULL)
      break;
    v = comma + 1;
  }
  *list_r = list;
  *n_r = n;
  return 0;
}

static int build_strings(struct loader *ld, struct msoauth_config *cfg) {
  size_t len;

  if (copy_value(ld, KEY_AUTHORITY, MSOAUTH_DEFAULT_AUTHORITY, 0,
                 &cfg->authority) ||
      copy_value(ld, KEY_TENANT, NULL, 0, &cfg->tenant) ||
      copy_value(ld, KEY_CLIENT_ID, NULL, 0, &cfg->client_id) ||
      copy_value(ld, KEY_CLIENT_CERTIFICATE_FILE, NULL, 0,
                 &cfg->client_certificate_file) ||
      copy_value(ld, KEY_CLIENT_KEY_FILE, NULL, 0, &cfg->client_key_file) ||
      copy_value(ld, KEY_DEFAULT_DOMAIN, NULL, 1, &cfg->default_domain) ||
      copy_value(ld, KEY_ALIASES_FILE, NULL, 0, &cfg->aliases_file) ||
      copy_value(ld, KEY_SERVICE_ACCOUNT, NULL, 1, &cfg->service_account) ||
      copy_value(ld, KEY_SERVICE_ACCOUNT_PASSWORD_FILE, NULL, 0,
                 &cfg->service_account_password_file) ||
      copy_value(ld, KEY_CACHE_DIR, MSOAUTH_CACHE_DIR, 0, &cfg->cache_dir) ||
      copy_value(ld, KEY_CA_FILE, NULL, 0, &cfg->ca_file) ||
      copy_value(ld, KEY_CA_PATH, NULL, 0, &cfg->ca_path) ||
      copy_value(ld, KEY_PROXY, NULL, 0, &cfg->proxy))
    return -1;
  /* "https://host/" and "https://host" are one authority. */
  len = strlen(cfg->authority);
  while (len > 0 && cfg->authority[len - 1] == '/')
    cfg->authority[--len] = '\0';
  return 0;
}

static void build_numbers(struct loader *ld, struct msoauth_config *cfg,
                          unsigned flags) {
  cfg->auth =
      (enum msoauth_auth)choice_value(ld, KEY_AUTH, MSOAUTH_AUTH_PASSWORD);
  /* PAM verifies passwords, whatever the profile is for. */
  if (flags & MSOAUTH_CONFIG_PAM)
    cfg->auth = MSOAUTH_AUTH_PASSWORD;
  cfg->alias_policy = (enum msoauth_alias_policy)choice_value(
      ld, KEY_ALIAS_POLICY, MSOAUTH_ALIAS_REJECT);
  cfg->log_level =
      (enum msoauth_level)choice_value(ld, KEY_LOG_LEVEL, MSOAUTH_LOG_WARNING);
  cfg->store_tokens = choice_value(ld, KEY_STORE_TOKENS, 0);
  cfg->canonical_user = choice_value(ld, KEY_CANONICAL_USER, 0);
  cfg->failure_cache = long_value(ld, KEY_FAILURE_CACHE);
  cfg->offline_grace = long_value(ld, KEY_OFFLINE_GRACE);
  cfg->refresh_margin = long_value(ld, KEY_REFRESH_MARGIN);
  cfg->timeout = long_value(ld, KEY_TIMEOUT);
  cfg->connect_timeout = long_value(ld, KEY_CONNECT_TIMEOUT);
  cfg->retries = long_value(ld, KEY_RETRIES);
  /* A short timeout shortens the default connect timeout with it. */
  if (!is_set(ld, KEY_CONNECT_TIMEOUT) && cfg->connect_timeout > cfg->timeout)
    cfg->connect_timeout = cfg->timeout;
}

static int build_lists(struct loader *ld, struct msoauth_config *cfg) {
  const char *tenant = ld->slots[KEY_TENANT].value;

  if (ld->slots[KEY_DOMAINS].value != NULL) {
    if (split_list(ld, ld->slots[KEY_DOMAINS].value, 1, &cfg->domains,
                   &cfg->n_domains))
      return -1;
  } else if (!is_set(ld, KEY_DOMAINS) && tenant != NULL &&
             is_domain(tenant, strlen(tenant))) {
    /* The tenant's own domain is the one accepted. */
    if (split_list(ld, tenant, 1, &cfg->domains, &cfg->n_domains))
      return -1;
  }
  if (ld->slots[KEY_ALLOWED_GROUPS].value != NULL &&
      split_list(ld, ld->slots[KEY_ALLOWED_GROUPS].value, 0,
                 &cfg->allowed_groups, &cfg->n_allowed_groups))
    return -1;
  return 0;
}

/* Whether the space-separated scope holds token. */
static int has_scope(const char *scope, const char *token) {
  size_t len = strlen(token);

  for (const char *p = scope; *p != '\0';) {
    size_t n = strcspn(p, " ");

    if (n == len && memcmp(p, token, len) == 0)
      return 1;
    p += n;
    p += strspn(p, " ");
  }
  return 0;
}

/* The scope with single spaces, PAM's openid and profile added. */
static int build_scope(struct loader *ld, struct msoauth_config *cfg,
                       unsigned flags) {
  const char *v = ld->slots[KEY_SCOPE].value;
  struct msoauth_buf out;
  msoauth_rc rc = MSOAUTH_OK;

  if (v == NULL)
    v = cfg->auth == MSOAUTH_AUTH_APP ? MSOAUTH_SCOPE_APP : MSOAUTH_SCOPE_MAIL;
  msoauth_buf_init(&out, MSOAUTH_CONFIG_LINE_MAX + 64, 0);
  for (const char *p = v + strspn(v, " "); *p != '\0' && !rc;) {
    size_t n = strcspn(p, " ");

    if (out.len > 0)
      rc = msoauth_buf_adds(&out, " ");
    if (!rc)
      rc = msoauth_buf_add(&out, p, n);
    p += n;
    p += strspn(p, " ");
  }
  if (!rc && (flags & MSOAUTH_CONFIG_PAM) && !has_scope(v, "openid"))
    rc = msoauth_buf_adds(&out, " openid");
  if (!rc && (flags & MSOAUTH_CONFIG_PAM) && !has_scope(v, "profile"))
    rc = msoauth_buf_adds(&out, " profile");
  if (!rc)
    cfg->scope = msoauth_buf_take(&out);
  msoauth_buf_free(&out);
  return rc || cfg->scope == NULL ? nomem(ld) : 0;
}

static void check_exclusive(struct loader *ld, enum key_id a, enum key_id b) {
  char where[32];

  if (is_set(ld, a) && is_set(ld, b))
    rule_problem(ld, b, "exclusive with %s (%s)", keys[a].name,
                 origin(ld, a, where, sizeof(where)));
}

/* The rules between keys. */
static void check_rules(struct loader *ld, const struct msoauth_config *cfg) {
  int secret =
      is_set(ld, KEY_CLIENT_SECRET) || is_set(ld, KEY_CLIENT_SECRET_FILE);
  int cert = is_set(ld, KEY_CLIENT_CERTIFICATE_FILE);
  int key = is_set(ld, KEY_CLIENT_KEY_FILE);

  if (!is_set(ld, KEY_TENANT))
    rule_problem(ld, KEY_TENANT, "required, not set");
  if (!is_set(ld, KEY_CLIENT_ID))
    rule_problem(ld, KEY_CLIENT_ID, "required, not set");
  /* organizations signs in users of every tenant: domains must say whose
   * users are meant (an id or a domain as tenant names one tenant). */
  if (ld->slots[KEY_TENANT].value != NULL &&
      strcasecmp(ld->slots[KEY_TENANT].value, "organizations") == 0 &&
      !is_set(ld, KEY_DOMAINS))
    rule_problem(ld, KEY_TENANT,
                 "organizations needs domains: it accepts users of any "
                 "tenant, so name their domains (or set tenant to the "
                 "tenant id)");
  check_exclusive(ld, KEY_CLIENT_SECRET, KEY_CLIENT_SECRET_FILE);
  if (cert && !key)
    rule_problem(ld, KEY_CLIENT_CERTIFICATE_FILE,
                 "needs client_key_file as well");
  if (key && !cert)
    rule_problem(ld, KEY_CLIENT_KEY_FILE,
                 "needs client_certificate_file as well");
  if (cert || key) {
    enum key_id mine = cert ? KEY_CLIENT_CERTIFICATE_FILE : KEY_CLIENT_KEY_FILE;

    check_exclusive(ld, mine, KEY_CLIENT_SECRET);
    check_exclusive(ld, mine, KEY_CLIENT_SECRET_FILE);
  }
  if (cfg->auth == MSOAUTH_AUTH_APP && !secret && !(cert && key))
    rule_problem(ld, KEY_AUTH,
                 "app needs a confidential client: set client_secret, "
                 "client_secret_file, or client_certificate_file and "
                 "client_key_file");
  if (cfg->auth == MSOAUTH_AUTH_SERVICE_ACCOUNT &&
      !is_set(ld, KEY_SERVICE_ACCOUNT))
    rule_problem(ld, KEY_SERVICE_ACCOUNT,
                 "required with auth = service_account");
  if (!ld->slots[KEY_TIMEOUT].bad && !ld->slots[KEY_CONNECT_TIMEOUT].bad &&
      cfg->connect_timeout > cfg->timeout)
    rule_problem(ld, KEY_CONNECT_TIMEOUT, "%ld exceeds timeout (%ld)",
                 cfg->connect_timeout, cfg->timeout);
}

/* ------------------------------------------------------------ files named */

static int read_secret(struct loader *ld, enum key_id id,
                       struct msoauth_secret **secret_r) {
  struct msoauth_err e;
  msoauth_rc rc;

  msoauth_err_clear(&e);
  rc = msoauth_secret_read_file(ld->slots[id].value, secret_r, &e);
  if (rc == MSOAUTH_ERR_NOMEM)
    return nomem(ld);
  if (rc)
    key_problem(ld, rc, id, ld->slots[id].line, "%s", e.detail);
  return 0;
}

/* The certificate is read later (assertion.c); here it must exist, and the
 * key must be the owner's alone, as a secret file (read later with the
 * same rules: this names the line). */
static void check_cert_file(struct loader *ld, enum key_id id, int private) {
  const char *path = ld->slots[id].value;
  struct stat st;

  if ((private ? lstat(path, &st) : stat(path, &st)) != 0)
    key_problem(ld, MSOAUTH_ERR_IO, id, ld->slots[id].line, "%s: %s", path,
                strerror(errno));
  else if (S_ISLNK(st.st_mode))
    key_problem(ld, MSOAUTH_ERR_CONFIG, id, ld->slots[id].line,
                "%s: is a symbolic link", path);
  else if (!S_ISREG(st.st_mode))
    key_problem(ld, MSOAUTH_ERR_CONFIG, id, ld->slots[id].line,
                "%s: not a regular file", path);
  else if (private && (st.st_mode & (S_IRWXG | S_IRWXO)))
    key_problem(ld, MSOAUTH_ERR_CONFIG, id, ld->slots[id].line,
                "%s: accessible by group or others (run: chmod 600 %s)", path,
                path);
  else if (private && st.st_uid != geteuid() && st.st_uid != 0)
    key_problem(ld, MSOAUTH_ERR_CONFIG, id, ld->slots[id].line,
                "%s: owned by another user (uid %ld)", path, (long)st.st_uid);
}

struct alias_list {
  struct msoauth_config *cfg;
  const char *path;
  size_t cap;
};

/* Cuts the next blank-separated word off *s. */
static char *next_word(char **s) {
  char *p = *s, *word;

  while (is_blank((unsigned char)*p))
    p++;
  word = p;
  while (*p != '\0' && !is_blank((unsigned char)*p))
    p++;
  if (*p != '\0')
    *p++ = '\0';
  *s = p;
  return word;
}

static int add_alias(struct loader *ld, struct alias_list *list,
                     const char *alias, const char *primary) {
  struct msoauth_config *cfg = list->cfg;
  struct msoauth_alias *a;

  if (cfg->n_aliases == list->cap) {
    size_t cap = list->cap ? list->cap * 2 : 16;
    struct msoauth_alias *grown = realloc(cfg->aliases, cap * sizeof(*grown));

    if (grown == NULL)
      return nomem(ld);
    cfg->aliases = grown;
    list->cap = cap;
  }
  a = &cfg->aliases[cfg->n_aliases];
  a->alias = strdup(alias);
  a->primary = strdup(primary);
  if (a->alias == NULL || a->primary == NULL) {
    free(a->alias);
    free(a->primary);
    return nomem(ld);
  }
  lowercase(a->alias);
  lowercase(a->primary);
  cfg->n_aliases++;
  return 0;
}

/* "ALIAS PRIMARY", blank lines or "# comments". */
static int parse_alias(struct loader *ld, char *s, int line, void *arg) {
  struct alias_list *list = arg;
  char *alias, *primary, *rest;
  const char *why;

  s = trim(s);
  if (*s == '\0' || *s == '#')
    return 0;
  alias = next_word(&s);
  primary = next_word(&s);
  rest = next_word(&s);
  if (*primary == '\0' || *rest != '\0') {
    problem(ld, MSOAUTH_ERR_CONFIG,
            "%s:%d: expected two addresses: ALIAS PRIMARY", list->path, line);
    return 0;
  }
  why = address_problem(alias, strlen(alias));
  if (why == NULL)
    why = address_problem(primary, strlen(primary));
  if (why != NULL) {
    problem(ld, MSOAUTH_ERR_CONFIG, "%s:%d: %s", list->path, line, why);
    return 0;
  }
  return add_alias(ld, list, alias, primary);
}

static void read_aliases(struct loader *ld, struct msoauth_config *cfg) {
  struct alias_list list = {.cfg = cfg, .path = cfg->aliases_file};
  struct msoauth_buf text;
  struct msoauth_err e;
  mode_t mode;
  msoauth_rc rc;

  msoauth_buf_init(&text, MSOAUTH_CONFIG_FILE_MAX, 0);
  msoauth_err_clear(&e);
  rc = read_file(cfg->aliases_file, &text, &mode, &e);
  if (rc)
    key_problem(ld, rc, KEY_ALIASES_FILE, ld->slots[KEY_ALIASES_FILE].line,
                "%s", e.detail);
  else if (text.len > 0)
    each_line(ld, cfg->aliases_file, text.data, text.len, parse_alias, &list);
  msoauth_buf_free(&text);
}

static int read_files(struct loader *ld, struct msoauth_config *cfg) {
  int secret_ok =
      !is_set(ld, KEY_CLIENT_SECRET_FILE) || !is_set(ld, KEY_CLIENT_SECRET);

  if (ld->slots[KEY_CLIENT_SECRET].value != NULL &&
      msoauth_secret_from_str(ld->slots[KEY_CLIENT_SECRET].value,
                              &cfg->client_secret) != MSOAUTH_OK)
    return nomem(ld);
  if (ld->slots[KEY_CLIENT_SECRET_FILE].value != NULL && secret_ok &&
      read_secret(ld, KEY_CLIENT_SECRET_FILE, &cfg->client_secret))
    return -1;
  if (ld->slots[KEY_SERVICE_ACCOUNT_PASSWORD_FILE].value != NULL &&
      read_secret(ld, KEY_SERVICE_ACCOUNT_PASSWORD_FILE,
                  &cfg->service_account_password))
    return -1;
  if (ld->slots[KEY_CLIENT_CERTIFICATE_FILE].value != NULL)
    check_cert_file(ld, KEY_CLIENT_CERTIFICATE_FILE, 0);
  if (ld->slots[KEY_CLIENT_KEY_FILE].value != NULL)
    check_cert_file(ld, KEY_CLIENT_KEY_FILE, 1);
  if (cfg->aliases_file != NULL)
    read_aliases(ld, cfg);
  return ld->nomem ? -1 : 0;
}

static int build(struct loader *ld, struct msoauth_config *cfg,
                 unsigned flags) {
  if (build_strings(ld, cfg))
    return -1;
  build_numbers(ld, cfg, flags);
  if (build_lists(ld, cfg) || build_scope(ld, cfg, flags))
    return -1;
  check_rules(ld, cfg);
  return read_files(ld, cfg);
}

/* ------------------------------------------------------------ public */

const char *msoauth_config_default_path(void) {
  return MSOAUTH_CONFIG_PATH;
}

const char *msoauth_auth_name(enum msoauth_auth auth) {
  if ((unsigned)auth < sizeof(auth_names) / sizeof(auth_names[0]) - 1)
    return auth_names[auth];
  return "unknown";
}

int msoauth_config_confidential(const struct msoauth_config *cfg) {
  return cfg != NULL &&
         (cfg->client_secret != NULL || (cfg->client_certificate_file != NULL &&
                                         cfg->client_key_file != NULL));
}

void msoauth_config_free(struct msoauth_config **cfg) {
  struct msoauth_config *c;

  if (cfg == NULL || *cfg == NULL)
    return;
  c = *cfg;
  free(c->path);
  free(c->profile);
  free(c->authority);
  free(c->tenant);
  free(c->client_id);
  msoauth_secret_free(&c->client_secret);
  free(c->client_certificate_file);
  free(c->client_key_file);
  free(c->scope);
  free_list(&c->domains, &c->n_domains);
  free(c->default_domain);
  free(c->aliases_file);
  for (size_t i = 0; i < c->n_aliases; i++) {
    free(c->aliases[i].alias);
    free(c->aliases[i].primary);
  }
  free(c->aliases);
  free(c->service_account);
  free(c->service_account_password_file);
  msoauth_secret_free(&c->service_account_password);
  free(c->cache_dir);
  free_list(&c->allowed_groups, &c->n_allowed_groups);
  free(c->ca_file);
  free(c->ca_path);
  /* A proxy URL may carry the proxy's password. */
  msoauth_free_wiped(&c->proxy);
  free(c);
  *cfg = NULL;
}

static void loader_free(struct loader *ld) {
  msoauth_buf_free(&ld->text);
  free(ld->entries);
  ld->entries = NULL;
  free(ld->sections);
  ld->sections = NULL;
}

msoauth_rc msoauth_config_load(const char *path, const char *profile,
                               const char *const *overrides, size_t n_overrides,
                               unsigned flags, const struct msoauth_log *log,
                               struct msoauth_config **cfg_r,
                               struct msoauth_err *err) {
  struct msoauth_config *cfg = NULL;
  struct loader ld;
  msoauth_rc rc;

  if (cfg_r == NULL)
    return msoauth_fail(err, MSOAUTH_ERR_INVALID, "no place for the result");
  *cfg_r = NULL;
  if (overrides == NULL && n_overrides > 0)
    return msoauth_fail(err, MSOAUTH_ERR_INVALID, "overrides missing");
  msoauth_err_clear(err);
  memset(&ld, 0, sizeof(ld));
  ld.path = path != NULL ? path : msoauth_config_default_path();
  ld.profile = profile;
  ld.log = log;
  ld.err = err;
  /* The file may hold client_secret: wiped when freed. */
  msoauth_buf_init(&ld.text, MSOAUTH_CONFIG_FILE_MAX, 1);
  if (read_config(&ld) != 0)
    goto out;
  apply_section(&ld, 0);
  if (apply_profile(&ld) != 0) {
    /* Without the profile, its required keys would be reported missing. */
    apply_overrides(&ld, overrides, n_overrides);
    goto out;
  }
  apply_overrides(&ld, overrides, n_overrides);
  cfg = calloc(1, sizeof(*cfg));
  if (cfg == NULL) {
    nomem(&ld);
    goto out;
  }
  cfg->path = strdup(ld.path);
  cfg->profile = profile != NULL ? strdup(profile) : NULL;
  if (cfg->path == NULL || (profile != NULL && cfg->profile == NULL)) {
    nomem(&ld);
    goto out;
  }
  build(&ld, cfg, flags);
out:
  rc = ld.rc;
  if (rc == MSOAUTH_OK)
    *cfg_r = cfg;
  else
    msoauth_config_free(&cfg);
  loader_free(&ld);
  return rc;
}
