/*
 * config.c - loading msoauth.conf: the file, the chosen profile, the
 * overrides, the rules between keys and the files the keys name.
 *
 * Loading runs in three steps. The file is read (ini.c splits its lines)
 * into entries: known keys (config_keys.c), no repeats. The entries of the
 * defaults, then those of the chosen profile, then the overrides are
 * checked one by one and take their key's slot, so the last one wins.
 * Last, the slots become the struct, the rules between keys are checked
 * and the files named are read (secret files; aliases_file, parsed by
 * aliases.c).
 *
 * Every problem is logged and loading goes on, so that an administrator sees
 * them all at once; the first one is returned. Values are never written into
 * a message: one of them may be a secret.
 */
#include "config_build.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "config_keys.h"
#include "ini.h"
#include "scope.h"

#ifndef MSOAUTH_CONFIG_PATH
#define MSOAUTH_CONFIG_PATH "/etc/msoauth.conf"
#endif
#ifndef MSOAUTH_CACHE_DIR
#define MSOAUTH_CACHE_DIR "/var/cache/msoauth"
#endif

#define SECTIONS_MAX 1024 /* repeats are found by comparing every pair */
#define MESSAGE_MAX 1024

/* The line of a value given as an override. */
#define LINE_ARGUMENT (-1)

/* One `key = value` line of the file; key and value point into the text. */
struct entry {
  enum msoauth_key_id id;
  const char *value;
  int line;
  size_t section; /* 0: the defaults */
};

struct section {
  const char *name; /* NULL for the defaults and unusable headers */
  int line;
  int seen[MSOAUTH_N_KEYS]; /* the line of each key set here, 0 when none */
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
  struct msoauth_problems problems;
  struct msoauth_buf text; /* the file, wiped when freed */
  mode_t mode;
  struct entry *entries;
  size_t n_entries, cap_entries;
  struct section *sections;
  size_t n_sections, cap_sections;
  struct slot slots[MSOAUTH_N_KEYS];
};

/* ------------------------------------------------------------ problems */

static msoauth_rc nomem(struct loader *ld) {
  return msoauth_problem_nomem(&ld->problems, ld->path);
}

/* A problem with key id set at line: "FILE:LINE: KEY: why", or "argument
 * KEY=...: why" for an override, or "FILE: KEY: why" when it is unset. Rules
 * between keys add the profile. */
static void key_vproblem(struct loader *ld, msoauth_rc rc,
                         enum msoauth_key_id id, int line, int rule,
                         const char *fmt, va_list ap)
    __attribute__((format(printf, 6, 0)));

static void key_vproblem(struct loader *ld, msoauth_rc rc,
                         enum msoauth_key_id id, int line, int rule,
                         const char *fmt, va_list ap) {
  char why[MESSAGE_MAX];
  const char *name = msoauth_key_name(id);
  const char *in = rule && ld->profile != NULL ? " (profile " : "";
  const char *profile = rule && ld->profile != NULL ? ld->profile : "";
  const char *close = rule && ld->profile != NULL ? ")" : "";

  vsnprintf(why, sizeof(why), fmt, ap);
  if (line == LINE_ARGUMENT)
    msoauth_problem(&ld->problems, rc, "argument %s=...: %s%s%s%s", name, why,
                    in, profile, close);
  else if (line > 0)
    msoauth_problem(&ld->problems, rc, "%s:%d: %s: %s%s%s%s", ld->path, line,
                    name, why, in, profile, close);
  else
    msoauth_problem(&ld->problems, rc, "%s: %s: %s%s%s%s", ld->path, name, why,
                    in, profile, close);
}

static void key_problem(struct loader *ld, msoauth_rc rc,
                        enum msoauth_key_id id, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void key_problem(struct loader *ld, msoauth_rc rc,
                        enum msoauth_key_id id, int line, const char *fmt,
                        ...) {
  va_list ap;

  va_start(ap, fmt);
  key_vproblem(ld, rc, id, line, 0, fmt, ap);
  va_end(ap);
}

/* A broken rule between keys, reported at the slot of id. */
static void rule_problem(struct loader *ld, enum msoauth_key_id id,
                         const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void rule_problem(struct loader *ld, enum msoauth_key_id id,
                         const char *fmt, ...) {
  va_list ap;

  va_start(ap, fmt);
  key_vproblem(ld, MSOAUTH_ERR_CONFIG, id, ld->slots[id].line, 1, fmt, ap);
  va_end(ap);
}

/* Where the slot of id was set, for a message about another key. */
static const char *origin(const struct loader *ld, enum msoauth_key_id id,
                          char *buf, size_t size) {
  if (ld->slots[id].line == LINE_ARGUMENT)
    return "an argument";
  snprintf(buf, size, "line %d", ld->slots[id].line);
  return buf;
}

/* ------------------------------------------------------------ reading */

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

static int add_entry(struct loader *ld, enum msoauth_key_id id,
                     const char *value, int line) {
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

/* "[NAME]" starts a profile; name is NULL for a malformed header. */
static int on_section(void *arg, const char *name, int line) {
  struct loader *ld = arg;

  if (ld->n_sections > SECTIONS_MAX) {
    msoauth_problem(&ld->problems, MSOAUTH_ERR_CONFIG,
                    "%s:%d: more than %d sections", ld->path, line,
                    SECTIONS_MAX);
    return 1;
  }
  for (size_t i = 1; name != NULL && i < ld->n_sections; i++) {
    if (ld->sections[i].name != NULL &&
        strcmp(ld->sections[i].name, name) == 0) {
      msoauth_problem(&ld->problems, MSOAUTH_ERR_CONFIG,
                      "%s:%d: [%s]: section repeated (first at line %d)",
                      ld->path, line, name, ld->sections[i].line);
      return add_section(ld, NULL, line);
    }
  }
  return add_section(ld, name, line);
}

/* "key = value": a known key, a value, once per section. */
static int on_pair(void *arg, char *key, char *value, int line) {
  struct loader *ld = arg;
  struct section *sec = &ld->sections[ld->n_sections - 1];
  int id;

  id = msoauth_key_find(key, strlen(key));
  if (id < 0) {
    msoauth_problem(&ld->problems, MSOAUTH_ERR_CONFIG, "%s:%d: %s: unknown key",
                    ld->path, line, msoauth_key_shown(key));
    return 0;
  }
  if (*value == '\0') {
    msoauth_problem(&ld->problems, MSOAUTH_ERR_CONFIG, "%s:%d: %s: empty value",
                    ld->path, line, key);
    return 0;
  }
  if (sec->seen[id] != 0) {
    msoauth_problem(
        &ld->problems, MSOAUTH_ERR_CONFIG,
        "%s:%d: %s: repeated in the same section (first at line %d)", ld->path,
        line, key, sec->seen[id]);
    return 0;
  }
  sec->seen[id] = line;
  return add_entry(ld, (enum msoauth_key_id)id, value, line);
}

static const struct msoauth_ini_handler config_syntax = {
    .section = on_section,
    .pair = on_pair,
};

/* Reads and splits the configuration file; 0 when there is something to
 * apply. */
static int read_config(struct loader *ld) {
  struct msoauth_err e;
  msoauth_rc rc;

  msoauth_err_clear(&e);
  rc = msoauth_ini_read_file(ld->path, &ld->text, &ld->mode, &e);
  if (rc) {
    msoauth_problem(&ld->problems, rc, "%s", e.detail);
    return -1;
  }
  if (add_section(ld, NULL, 0) != 0)
    return -1;
  if (ld->text.len > 0)
    msoauth_ini_parse(&ld->problems, ld->path, ld->text.data, ld->text.len,
                      &config_syntax, ld);
  if (ld->problems.nomem)
    return -1;
  /* A client secret, or a proxy password, in the file makes the file
   * itself a secret. */
  for (size_t i = 0; i < ld->n_entries && (ld->mode & (S_IRGRP | S_IROTH));
       i++) {
    const struct entry *ent = &ld->entries[i];

    if (ent->id == MSOAUTH_KEY_CLIENT_SECRET) {
      msoauth_problem(
          &ld->problems, MSOAUTH_ERR_CONFIG,
          "%s:%d: client_secret: the file is readable by group or others "
          "(run: chmod 600 %s)",
          ld->path, ent->line, ld->path);
      break;
    }
    if (ent->id == MSOAUTH_KEY_PROXY &&
        msoauth_proxy_has_credentials(ent->value)) {
      msoauth_problem(&ld->problems, MSOAUTH_ERR_CONFIG,
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
static void take(struct loader *ld, enum msoauth_key_id id, const char *value,
                 int line) {
  char why[MESSAGE_MAX];
  const char *problem_text = msoauth_key_check(id, value, why, sizeof(why));
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
  msoauth_problem(&ld->problems, MSOAUTH_ERR_CONFIG,
                  "profile %s not found in %s",
                  msoauth_ini_name_ok(ld->profile, strlen(ld->profile))
                      ? ld->profile
                      : "(a name no section can have)",
                  ld->path);
  return -1;
}

/* "KEY=VALUE" strings, as a host's arguments; the value is never shown. */
static void apply_overrides(struct loader *ld, const char *const *overrides,
                            size_t n) {
  for (size_t i = 0; i < n; i++) {
    const char *arg = overrides[i] != NULL ? overrides[i] : "";
    const char *eq = strchr(arg, '=');
    char key[MSOAUTH_KEY_SHOWN_MAX + 1];
    int id;

    if (eq == NULL || eq == arg) {
      msoauth_problem(&ld->problems, MSOAUTH_ERR_CONFIG,
                      "argument %zu: expected KEY=VALUE with a key", i + 1);
      continue;
    }
    id = msoauth_key_find(arg, (size_t)(eq - arg));
    if (id < 0) {
      size_t len = (size_t)(eq - arg);

      if (len > MSOAUTH_KEY_SHOWN_MAX)
        len = MSOAUTH_KEY_SHOWN_MAX;
      memcpy(key, arg, len);
      key[len] = '\0';
      msoauth_problem(&ld->problems, MSOAUTH_ERR_CONFIG,
                      "argument %s=...: unknown key", msoauth_key_shown(key));
      continue;
    }
    if (eq[1] == '\0') {
      key_problem(ld, MSOAUTH_ERR_CONFIG, (enum msoauth_key_id)id,
                  LINE_ARGUMENT, "empty value");
      continue;
    }
    take(ld, (enum msoauth_key_id)id, eq + 1, LINE_ARGUMENT);
  }
}

/* ------------------------------------------------------------ building */

static int is_set(const struct loader *ld, enum msoauth_key_id id) {
  return ld->slots[id].value != NULL || ld->slots[id].bad;
}

/* A copy of the key's value, or of dflt when unset; NULL stays NULL. */
static int copy_value(struct loader *ld, enum msoauth_key_id id,
                      const char *dflt, int lower, char **out) {
  const char *v = ld->slots[id].value != NULL ? ld->slots[id].value : dflt;

  *out = NULL;
  if (v == NULL)
    return 0;
  *out = strdup(v);
  if (*out == NULL)
    return nomem(ld);
  if (lower)
    msoauth_lowercase(*out);
  return 0;
}

static long long_value(const struct loader *ld, enum msoauth_key_id id) {
  return msoauth_key_long(id, ld->slots[id].value);
}

static int choice_value(const struct loader *ld, enum msoauth_key_id id,
                        int dflt) {
  return msoauth_key_choice(id, ld->slots[id].value, dflt);
}

/* A list of a checked value; out of memory is a problem. */
static int split_list(struct loader *ld, const char *v, int lower,
                      char ***list_r, size_t *n_r) {
  return msoauth_split_list(v, lower, list_r, n_r) ? nomem(ld) : 0;
}

static const char *const backend_defaults[MSOAUTH_N_SERVICES] = {
    MSOAUTH_BACKEND_IMAP, MSOAUTH_BACKEND_POP3, MSOAUTH_BACKEND_SUBMISSION};

static int build_strings(struct loader *ld, struct msoauth_config *cfg) {
  size_t len;

  if (copy_value(ld, MSOAUTH_KEY_AUTHORITY, MSOAUTH_DEFAULT_AUTHORITY, 0,
                 &cfg->authority) ||
      copy_value(ld, MSOAUTH_KEY_TENANT, NULL, 0, &cfg->tenant) ||
      copy_value(ld, MSOAUTH_KEY_CLIENT_ID, NULL, 0, &cfg->client_id) ||
      copy_value(ld, MSOAUTH_KEY_CLIENT_CERTIFICATE_FILE, NULL, 0,
                 &cfg->client_certificate_file) ||
      copy_value(ld, MSOAUTH_KEY_CLIENT_KEY_FILE, NULL, 0,
                 &cfg->client_key_file) ||
      copy_value(ld, MSOAUTH_KEY_DEFAULT_DOMAIN, NULL, 1,
                 &cfg->default_domain) ||
      copy_value(ld, MSOAUTH_KEY_ALIASES_FILE, NULL, 0, &cfg->aliases_file) ||
      copy_value(ld, MSOAUTH_KEY_SERVICE_ACCOUNT, NULL, 1,
                 &cfg->service_account) ||
      copy_value(ld, MSOAUTH_KEY_SERVICE_ACCOUNT_PASSWORD_FILE, NULL, 0,
                 &cfg->service_account_password_file) ||
      copy_value(ld, MSOAUTH_KEY_CACHE_DIR, MSOAUTH_CACHE_DIR, 0,
                 &cfg->cache_dir) ||
      copy_value(ld, MSOAUTH_KEY_CA_FILE, NULL, 0, &cfg->ca_file) ||
      copy_value(ld, MSOAUTH_KEY_CA_PATH, NULL, 0, &cfg->ca_path) ||
      copy_value(ld, MSOAUTH_KEY_REDIS_URL, NULL, 0, &cfg->redis_url) ||
      copy_value(ld, MSOAUTH_KEY_PROXY, NULL, 0, &cfg->proxy))
    return -1;
  for (int i = 0; i < MSOAUTH_N_SERVICES; i++)
    if (copy_value(ld, MSOAUTH_KEY_PROXY_IMAP + i, backend_defaults[i], 0,
                   &cfg->backends[i]))
      return -1;
  /* "https://host/" and "https://host" are one authority. */
  len = strlen(cfg->authority);
  while (len > 0 && cfg->authority[len - 1] == '/')
    cfg->authority[--len] = '\0';
  return 0;
}

static void build_numbers(struct loader *ld, struct msoauth_config *cfg,
                          unsigned flags) {
  cfg->auth = (enum msoauth_auth)choice_value(ld, MSOAUTH_KEY_AUTH,
                                              MSOAUTH_AUTH_PASSWORD);
  /* A host that verifies passwords does so whatever the profile is for. */
  if (flags & MSOAUTH_CONFIG_VERIFY_PASSWORDS)
    cfg->auth = MSOAUTH_AUTH_PASSWORD;
  cfg->alias_policy = (enum msoauth_alias_policy)choice_value(
      ld, MSOAUTH_KEY_ALIAS_POLICY, MSOAUTH_ALIAS_REJECT);
  cfg->log_level = (enum msoauth_level)choice_value(ld, MSOAUTH_KEY_LOG_LEVEL,
                                                    MSOAUTH_LOG_WARNING);
  cfg->store_tokens = choice_value(ld, MSOAUTH_KEY_STORE_TOKENS, 0);
  cfg->canonical_user = choice_value(ld, MSOAUTH_KEY_CANONICAL_USER, 0);
  cfg->cache_backend = (enum msoauth_cache_backend_id)choice_value(
      ld, MSOAUTH_KEY_CACHE_BACKEND, MSOAUTH_CACHE_FILE);
  cfg->failure_cache = long_value(ld, MSOAUTH_KEY_FAILURE_CACHE);
  cfg->offline_grace = long_value(ld, MSOAUTH_KEY_OFFLINE_GRACE);
  cfg->refresh_margin = long_value(ld, MSOAUTH_KEY_REFRESH_MARGIN);
  cfg->timeout = long_value(ld, MSOAUTH_KEY_TIMEOUT);
  cfg->connect_timeout = long_value(ld, MSOAUTH_KEY_CONNECT_TIMEOUT);
  cfg->retries = long_value(ld, MSOAUTH_KEY_RETRIES);
  /* A short timeout shortens the default connect timeout with it. */
  if (!is_set(ld, MSOAUTH_KEY_CONNECT_TIMEOUT) &&
      cfg->connect_timeout > cfg->timeout)
    cfg->connect_timeout = cfg->timeout;
}

static int build_lists(struct loader *ld, struct msoauth_config *cfg) {
  const char *tenant = ld->slots[MSOAUTH_KEY_TENANT].value;

  if (ld->slots[MSOAUTH_KEY_DOMAINS].value != NULL) {
    if (split_list(ld, ld->slots[MSOAUTH_KEY_DOMAINS].value, 1, &cfg->domains,
                   &cfg->n_domains))
      return -1;
  } else if (!is_set(ld, MSOAUTH_KEY_DOMAINS) && tenant != NULL &&
             msoauth_is_domain(tenant, strlen(tenant))) {
    /* The tenant's own domain is the one accepted. */
    if (split_list(ld, tenant, 1, &cfg->domains, &cfg->n_domains))
      return -1;
  }
  if (ld->slots[MSOAUTH_KEY_ALLOWED_GROUPS].value != NULL &&
      split_list(ld, ld->slots[MSOAUTH_KEY_ALLOWED_GROUPS].value, 0,
                 &cfg->allowed_groups, &cfg->n_allowed_groups))
    return -1;
  return 0;
}

/* The scope with single spaces; openid and profile added for a host that
 * verifies passwords (the id token names whose password it was). */
static int build_scope(struct loader *ld, struct msoauth_config *cfg,
                       unsigned flags) {
  const char *v = ld->slots[MSOAUTH_KEY_SCOPE].value;
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
  if (!rc && (flags & MSOAUTH_CONFIG_VERIFY_PASSWORDS) &&
      !msoauth_scope_has(v, "openid"))
    rc = msoauth_buf_adds(&out, " openid");
  if (!rc && (flags & MSOAUTH_CONFIG_VERIFY_PASSWORDS) &&
      !msoauth_scope_has(v, "profile"))
    rc = msoauth_buf_adds(&out, " profile");
  if (!rc)
    cfg->scope = msoauth_buf_take(&out);
  msoauth_buf_free(&out);
  return rc || cfg->scope == NULL ? nomem(ld) : 0;
}

static void check_exclusive(struct loader *ld, enum msoauth_key_id a,
                            enum msoauth_key_id b) {
  char where[32];

  if (is_set(ld, a) && is_set(ld, b))
    rule_problem(ld, b, "exclusive with %s (%s)", msoauth_key_name(a),
                 origin(ld, a, where, sizeof(where)));
}

/* The rules between keys. */
static void check_rules(struct loader *ld, const struct msoauth_config *cfg) {
  int secret = is_set(ld, MSOAUTH_KEY_CLIENT_SECRET) ||
               is_set(ld, MSOAUTH_KEY_CLIENT_SECRET_FILE);
  int cert = is_set(ld, MSOAUTH_KEY_CLIENT_CERTIFICATE_FILE);
  int key = is_set(ld, MSOAUTH_KEY_CLIENT_KEY_FILE);

  if (!is_set(ld, MSOAUTH_KEY_TENANT))
    rule_problem(ld, MSOAUTH_KEY_TENANT, "required, not set");
  if (!is_set(ld, MSOAUTH_KEY_CLIENT_ID))
    rule_problem(ld, MSOAUTH_KEY_CLIENT_ID, "required, not set");
  /* organizations signs in users of every tenant: domains must say whose
   * users are meant (an id or a domain as tenant names one tenant). */
  if (ld->slots[MSOAUTH_KEY_TENANT].value != NULL &&
      strcasecmp(ld->slots[MSOAUTH_KEY_TENANT].value, "organizations") == 0 &&
      !is_set(ld, MSOAUTH_KEY_DOMAINS))
    rule_problem(ld, MSOAUTH_KEY_TENANT,
                 "organizations needs domains: it accepts users of any "
                 "tenant, so name their domains (or set tenant to the "
                 "tenant id)");
  check_exclusive(ld, MSOAUTH_KEY_CLIENT_SECRET,
                  MSOAUTH_KEY_CLIENT_SECRET_FILE);
  if (cert && !key)
    rule_problem(ld, MSOAUTH_KEY_CLIENT_CERTIFICATE_FILE,
                 "needs client_key_file as well");
  if (key && !cert)
    rule_problem(ld, MSOAUTH_KEY_CLIENT_KEY_FILE,
                 "needs client_certificate_file as well");
  if (cert || key) {
    enum msoauth_key_id mine = cert ? MSOAUTH_KEY_CLIENT_CERTIFICATE_FILE
                                    : MSOAUTH_KEY_CLIENT_KEY_FILE;

    check_exclusive(ld, mine, MSOAUTH_KEY_CLIENT_SECRET);
    check_exclusive(ld, mine, MSOAUTH_KEY_CLIENT_SECRET_FILE);
  }
  if (cfg->auth == MSOAUTH_AUTH_APP && !secret && !(cert && key))
    rule_problem(ld, MSOAUTH_KEY_AUTH,
                 "app needs a confidential client: set client_secret, "
                 "client_secret_file, or client_certificate_file and "
                 "client_key_file");
  if (cfg->auth == MSOAUTH_AUTH_SERVICE_ACCOUNT &&
      !is_set(ld, MSOAUTH_KEY_SERVICE_ACCOUNT))
    rule_problem(ld, MSOAUTH_KEY_SERVICE_ACCOUNT,
                 "required with auth = service_account");
  if (cfg->cache_backend == MSOAUTH_CACHE_REDIS)
    for (int id = MSOAUTH_KEY_REDIS_URL; id <= MSOAUTH_KEY_REDIS_KEY_FILE; id++)
      if (id != MSOAUTH_KEY_REDIS_PASSWORD_FILE && !is_set(ld, id))
        rule_problem(ld, id, "required with cache_backend = redis");
  if (!ld->slots[MSOAUTH_KEY_TIMEOUT].bad &&
      !ld->slots[MSOAUTH_KEY_CONNECT_TIMEOUT].bad &&
      cfg->connect_timeout > cfg->timeout)
    rule_problem(ld, MSOAUTH_KEY_CONNECT_TIMEOUT, "%ld exceeds timeout (%ld)",
                 cfg->connect_timeout, cfg->timeout);
}

/* ------------------------------------------------------------ files named */

static int read_secret(struct loader *ld, enum msoauth_key_id id,
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
static void check_cert_file(struct loader *ld, enum msoauth_key_id id,
                            int private) {
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

/* aliases_file is read now, with the configuration: a caller that chroots
 * later keeps it. */
static void read_aliases(struct loader *ld, struct msoauth_config *cfg) {
  struct msoauth_buf text;
  struct msoauth_err e;
  mode_t mode;
  msoauth_rc rc;

  msoauth_buf_init(&text, MSOAUTH_CONFIG_FILE_MAX, 0);
  msoauth_err_clear(&e);
  rc = msoauth_ini_read_file(cfg->aliases_file, &text, &mode, &e);
  if (rc)
    key_problem(ld, rc, MSOAUTH_KEY_ALIASES_FILE,
                ld->slots[MSOAUTH_KEY_ALIASES_FILE].line, "%s", e.detail);
  else if (text.len > 0)
    msoauth_aliases_parse(&ld->problems, cfg->aliases_file, text.data, text.len,
                          &cfg->aliases, &cfg->n_aliases);
  msoauth_buf_free(&text);
}

static int read_files(struct loader *ld, struct msoauth_config *cfg) {
  int secret_ok = !is_set(ld, MSOAUTH_KEY_CLIENT_SECRET_FILE) ||
                  !is_set(ld, MSOAUTH_KEY_CLIENT_SECRET);

  if (ld->slots[MSOAUTH_KEY_CLIENT_SECRET].value != NULL &&
      msoauth_secret_from_str(ld->slots[MSOAUTH_KEY_CLIENT_SECRET].value,
                              &cfg->client_secret) != MSOAUTH_OK)
    return nomem(ld);
  if (ld->slots[MSOAUTH_KEY_CLIENT_SECRET_FILE].value != NULL && secret_ok &&
      read_secret(ld, MSOAUTH_KEY_CLIENT_SECRET_FILE, &cfg->client_secret))
    return -1;
  if (ld->slots[MSOAUTH_KEY_SERVICE_ACCOUNT_PASSWORD_FILE].value != NULL &&
      read_secret(ld, MSOAUTH_KEY_SERVICE_ACCOUNT_PASSWORD_FILE,
                  &cfg->service_account_password))
    return -1;
  struct msoauth_secret **redis[] = {&cfg->redis_password, &cfg->redis_key,
                                     &cfg->redis_key_old}; /* in key order */
  for (int i = 0, id = MSOAUTH_KEY_REDIS_PASSWORD_FILE; i < 3; i++, id++)
    if (ld->slots[id].value != NULL && read_secret(ld, id, redis[i]))
      return -1;
  if (ld->slots[MSOAUTH_KEY_CLIENT_CERTIFICATE_FILE].value != NULL)
    check_cert_file(ld, MSOAUTH_KEY_CLIENT_CERTIFICATE_FILE, 0);
  if (ld->slots[MSOAUTH_KEY_CLIENT_KEY_FILE].value != NULL)
    check_cert_file(ld, MSOAUTH_KEY_CLIENT_KEY_FILE, 1);
  if (cfg->aliases_file != NULL)
    read_aliases(ld, cfg);
  return ld->problems.nomem ? -1 : 0;
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
  ld.problems.log = log;
  ld.problems.err = err;
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
  rc = ld.problems.rc;
  if (rc == MSOAUTH_OK)
    *cfg_r = cfg;
  else
    msoauth_config_free(&cfg);
  loader_free(&ld);
  return rc;
}
