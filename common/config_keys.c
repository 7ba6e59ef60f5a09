/*
 * config_keys.c - the keys of msoauth.conf and the checks of their values.
 *
 * One table names every key with the check its value must pass (and, for
 * numbers and choices, their range or names). A check says why a value is
 * refused without ever repeating the value: it may be a secret. Reading the
 * file and choosing among values is config.c's and ini.c's business.
 */
#include "config_build.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "config_keys.h"

#define ADDRESS_MAX 256
#define DOMAIN_MAX 253
#define LABEL_MAX 63
#define GUID_LEN 36

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
/* In the order of enum msoauth_cache_backend. */
static const char *const backend_names[] = {"file", "redis", NULL};
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
static const char *check_redis_url(const struct key_def *, const char *,
                                   char *, size_t);
static const char *check_backend(const struct key_def *, const char *, char *,
                                 size_t);

#define INTEGER(n, lo, hi, d)                                                  \
  { .name = (n), .check = check_long, .min = (lo), .max = (hi), .dflt = (d) }
#define CHOICE(n, list)                                                        \
  { .name = (n), .check = check_choice, .choices = (list) }

static const struct key_def keys[MSOAUTH_N_KEYS] = {
    [MSOAUTH_KEY_AUTHORITY] = {.name = "authority", .check = check_authority},
    [MSOAUTH_KEY_TENANT] = {.name = "tenant", .check = check_tenant},
    [MSOAUTH_KEY_CLIENT_ID] = {.name = "client_id", .check = check_guid},
    [MSOAUTH_KEY_CLIENT_SECRET] = {.name = "client_secret", .check = check_any},
    [MSOAUTH_KEY_CLIENT_SECRET_FILE] = {.name = "client_secret_file",
                                        .check = check_path},
    [MSOAUTH_KEY_CLIENT_CERTIFICATE_FILE] = {.name = "client_certificate_file",
                                             .check = check_path},
    [MSOAUTH_KEY_CLIENT_KEY_FILE] = {.name = "client_key_file",
                                     .check = check_path},
    [MSOAUTH_KEY_SCOPE] = {.name = "scope", .check = check_scope},
    [MSOAUTH_KEY_AUTH] = CHOICE("auth", auth_names),
    [MSOAUTH_KEY_DOMAINS] = {.name = "domains", .check = check_domains},
    [MSOAUTH_KEY_DEFAULT_DOMAIN] = {.name = "default_domain",
                                    .check = check_domain},
    [MSOAUTH_KEY_ALIASES_FILE] = {.name = "aliases_file", .check = check_path},
    [MSOAUTH_KEY_ALIAS_POLICY] = CHOICE("alias_policy", alias_names),
    [MSOAUTH_KEY_SERVICE_ACCOUNT] = {.name = "service_account",
                                     .check = check_address},
    [MSOAUTH_KEY_SERVICE_ACCOUNT_PASSWORD_FILE] =
        {.name = "service_account_password_file", .check = check_path},
    [MSOAUTH_KEY_CACHE_DIR] = {.name = "cache_dir", .check = check_path},
    [MSOAUTH_KEY_ALLOWED_GROUPS] = {.name = "allowed_groups",
                                    .check = check_guids},
    [MSOAUTH_KEY_FAILURE_CACHE] = INTEGER("failure_cache", 0, 86400, 300),
    [MSOAUTH_KEY_OFFLINE_GRACE] = INTEGER("offline_grace", 0, 2592000, 0),
    [MSOAUTH_KEY_REFRESH_MARGIN] = INTEGER("refresh_margin", 0, 3000, 600),
    [MSOAUTH_KEY_TIMEOUT] = INTEGER("timeout", 1, 300, 10),
    [MSOAUTH_KEY_CONNECT_TIMEOUT] = INTEGER("connect_timeout", 1, 300, 5),
    [MSOAUTH_KEY_RETRIES] = INTEGER("retries", 0, 10, 2),
    [MSOAUTH_KEY_CA_FILE] = {.name = "ca_file", .check = check_path},
    [MSOAUTH_KEY_CA_PATH] = {.name = "ca_path", .check = check_path},
    [MSOAUTH_KEY_PROXY] = {.name = "proxy", .check = check_proxy},
    [MSOAUTH_KEY_LOG_LEVEL] = CHOICE("log_level", level_names),
    [MSOAUTH_KEY_STORE_TOKENS] = CHOICE("store_tokens", bool_names),
    [MSOAUTH_KEY_CANONICAL_USER] = CHOICE("canonical_user", bool_names),
    [MSOAUTH_KEY_CACHE_BACKEND] = CHOICE("cache_backend", backend_names),
    [MSOAUTH_KEY_REDIS_URL] = {.name = "redis_url", .check = check_redis_url},
    [MSOAUTH_KEY_REDIS_PASSWORD_FILE] = {.name = "redis_password_file",
                                         .check = check_path},
    [MSOAUTH_KEY_REDIS_KEY_FILE] = {.name = "redis_key_file",
                                    .check = check_path},
    [MSOAUTH_KEY_REDIS_KEY_FILE_OLD] = {.name = "redis_key_file_old",
                                        .check = check_path},
    [MSOAUTH_KEY_PROXY_IMAP] = {.name = "proxy_imap", .check = check_backend},
    [MSOAUTH_KEY_PROXY_POP3] = {.name = "proxy_pop3", .check = check_backend},
    [MSOAUTH_KEY_PROXY_SUBMISSION] = {.name = "proxy_submission",
                                      .check = check_backend},
};

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

void msoauth_lowercase(char *s) {
  for (; *s != '\0'; s++)
    if (*s >= 'A' && *s <= 'Z')
      *s = (char)(*s - 'A' + 'a');
}

/* The bounds of s[0..len) without its blanks (spaces and tabs). */
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

int msoauth_is_domain(const char *s, size_t len) {
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

const char *msoauth_address_problem(const char *s, size_t len) {
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
  if (at == NULL || at == s ||
      !msoauth_is_domain(at + 1, len - (size_t)(at + 1 - s)))
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
      msoauth_is_domain(value, len))
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
  if (!each_item(value, msoauth_is_domain))
    return "not a comma-separated list of domain names";
  return NULL;
}

static const char *check_domain(const struct key_def *def, const char *value,
                                char *why, size_t size) {
  (void)def;
  (void)why;
  (void)size;
  if (!msoauth_is_domain(value, strlen(value)))
    return "not a domain name";
  return NULL;
}

static const char *check_address(const struct key_def *def, const char *value,
                                 char *why, size_t size) {
  (void)def;
  (void)why;
  (void)size;
  return msoauth_address_problem(value, strlen(value));
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

/* The host of a backend: a name or an IPv4 address (letters, digits, '-'
 * and '.'), or an IPv6 address between brackets, taken without them. */
static const char *backend_host(const char *s, size_t len,
                                struct msoauth_backend *out) {
  int v6 = len > 2 && s[0] == '[' && s[len - 1] == ']';

  if (v6) {
    s++;
    len -= 2;
  }
  if (len == 0 || len >= sizeof(out->host))
    return "a host name missing or longer than 255 bytes";
  for (size_t i = 0; i < len; i++)
    if (!(v6 ? is_hex((unsigned char)s[i]) || s[i] == ':' || s[i] == '.'
             : is_alnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '.'))
      return v6 ? "an IPv6 address with a character it cannot hold"
                : "a host name with a character it cannot hold (an IPv6 "
                  "address goes between brackets)";
  memcpy(out->host, s, len);
  out->host[len] = '\0';
  return NULL;
}

const char *msoauth_backend_parse(const char *value,
                                  struct msoauth_backend *out) {
  const char *space = strchr(value, ' '), *colon, *problem;
  char port[8];
  size_t len;

  memset(out, 0, sizeof(*out));
  if (space == NULL)
    return "expected HOST:PORT tls or HOST:PORT starttls";
  if (strcmp(space + 1, "starttls") == 0)
    out->starttls = 1;
  else if (strcmp(space + 1, "tls") != 0)
    return "expected tls or starttls after HOST:PORT";
  for (colon = space; colon > value && colon[-1] != ':'; colon--)
    ;
  if (colon == value)
    return "expected HOST:PORT before tls or starttls";
  problem = backend_host(value, (size_t)(colon - 1 - value), out);
  if (problem != NULL)
    return problem;
  len = (size_t)(space - colon);
  if (len == 0 || len >= sizeof(port))
    return "a port not from 1 to 65535";
  memcpy(port, colon, len);
  port[len] = '\0';
  if (parse_long(port, &out->port) != 0 || out->port < 1 ||
      out->port > 65535)
    return "a port not from 1 to 65535";
  return NULL;
}

static const char *check_backend(const struct key_def *def, const char *value,
                                 char *why, size_t size) {
  struct msoauth_backend b;

  (void)def;
  (void)why;
  (void)size;
  return msoauth_backend_parse(value, &b);
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

/* redis://[USER@]HOST[:PORT][/DB], rediss://... or unix:PATH; the rest of
 * the syntax is the cache's (redis_conn.c). A password in the URL is
 * refused: it would sit in a file others may read, and in messages. */
static const char *check_redis_url(const struct key_def *def,
                                   const char *value, char *why,
                                   size_t size) {
  const char *host = NULL, *at, *end;

  (void)def;
  (void)why;
  (void)size;
  if (!is_url_text(value))
    return "a URL with a blank, a control or a non-ASCII character";
  if (strncmp(value, "unix:", 5) == 0)
    return value[5] == '/' ? NULL : "unix: needs an absolute path";
  if (strncmp(value, "redis://", 8) == 0)
    host = value + 8;
  else if (strncmp(value, "rediss://", 9) == 0)
    host = value + 9;
  if (host == NULL)
    return "not redis://, rediss:// or unix:";
  end = host + strcspn(host, "/");
  at = memchr(host, '@', (size_t)(end - host));
  if (at != NULL && memchr(host, ':', (size_t)(at - host)) != NULL)
    return "a password in the URL (put it in redis_password_file)";
  if ((at != NULL ? at + 1 : host) == end)
    return "a URL without a host";
  return NULL;
}

int msoauth_key_find(const char *name, size_t len) {
  for (int i = 0; i < MSOAUTH_N_KEYS; i++)
    if (strlen(keys[i].name) == len && memcmp(keys[i].name, name, len) == 0)
      return i;
  return -1;
}

const char *msoauth_key_shown(const char *key) {
  size_t len = strlen(key);

  if (len > MSOAUTH_KEY_SHOWN_MAX)
    return "(a key too long to show)";
  for (size_t i = 0; i < len; i++)
    if (!is_name_char((unsigned char)key[i]))
      return "(a key with characters no key has)";
  return key;
}

const char *msoauth_key_name(enum msoauth_key_id id) {
  return keys[id].name;
}

const char *msoauth_key_check(enum msoauth_key_id id, const char *value,
                              char *why, size_t size) {
  return keys[id].check(&keys[id], value, why, size);
}

long msoauth_key_long(enum msoauth_key_id id, const char *value) {
  long n = keys[id].dflt;

  if (value != NULL && parse_long(value, &n) != 0)
    n = keys[id].dflt;
  return n;
}

int msoauth_key_choice(enum msoauth_key_id id, const char *value, int dflt) {
  int i;

  if (value == NULL)
    return dflt;
  i = choice_index(&keys[id], value);
  return i >= 0 ? i : dflt;
}

const char *msoauth_auth_name(enum msoauth_auth auth) {
  if ((unsigned)auth < sizeof(auth_names) / sizeof(auth_names[0]) - 1)
    return auth_names[auth];
  return "unknown";
}

int msoauth_proxy_has_credentials(const char *url) {
  const char *host = strstr(url, "://");
  size_t len;

  host = host != NULL ? host + 3 : url;
  len = strcspn(host, "/?#");
  return memchr(host, '@', len) != NULL;
}

void msoauth_free_list(char ***list, size_t *n) {
  if (*list != NULL) {
    for (size_t i = 0; i < *n; i++)
      free((*list)[i]);
    free(*list);
  }
  *list = NULL;
  *n = 0;
}

msoauth_rc msoauth_split_list(const char *v, int lower, char ***list_r,
                              size_t *n_r) {
  size_t max = 1;
  char **list;
  size_t n = 0;

  for (const char *p = v; *p != '\0'; p++)
    max += *p == ',';
  list = calloc(max, sizeof(*list));
  if (list == NULL)
    return MSOAUTH_ERR_NOMEM;
  for (;;) {
    const char *comma = strchr(v, ',');
    size_t len = comma != NULL ? (size_t)(comma - v) : strlen(v);
    const char *item = v;
    int repeat = 0;

    trim_span(&item, &len);
    list[n] = strndup(item, len);
    if (list[n] == NULL) {
      msoauth_free_list(&list, &n);
      return MSOAUTH_ERR_NOMEM;
    }
    if (lower)
      msoauth_lowercase(list[n]);
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
  return MSOAUTH_OK;
}
