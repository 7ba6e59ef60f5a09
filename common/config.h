/*
 * config.h - msoauth.conf: defaults, [profile] sections, KEY=VALUE overrides.
 *
 * One struct msoauth_config per caller, built once by msoauth_config_load and
 * freed by msoauth_config_free. Files it names that hold secrets are read
 * while loading, so a caller that later chroots keeps them.
 */
#ifndef MSOAUTH_CONFIG_H
#define MSOAUTH_CONFIG_H

#include <stddef.h>

#include "aliases.h"
#include "log.h"
#include "result.h"
#include "secret.h"

/* Largest configuration or aliases file read, and longest line. */
#define MSOAUTH_CONFIG_FILE_MAX (1024 * 1024)
#define MSOAUTH_CONFIG_LINE_MAX 4096

#define MSOAUTH_DEFAULT_AUTHORITY "https://login.microsoftonline.com"
#define MSOAUTH_SCOPE_MAIL                                                    \
  "https://outlook.office.com/IMAP.AccessAsUser.All "                         \
  "https://outlook.office.com/POP.AccessAsUser.All "                          \
  "https://outlook.office.com/SMTP.Send offline_access"
#define MSOAUTH_SCOPE_APP "https://outlook.office365.com/.default"

/* The services msoauth checkpassword relays for Dovecot, and the backends
 * they go to unless proxy_imap, proxy_pop3 and proxy_submission say. */
enum msoauth_service {
  MSOAUTH_SERVICE_IMAP,
  MSOAUTH_SERVICE_POP3,
  MSOAUTH_SERVICE_SUBMISSION,
  MSOAUTH_N_SERVICES
};
#define MSOAUTH_BACKEND_IMAP "outlook.office365.com:993 tls"
#define MSOAUTH_BACKEND_POP3 "outlook.office365.com:995 tls"
#define MSOAUTH_BACKEND_SUBMISSION "smtp.office365.com:587 starttls"

enum msoauth_auth {
  MSOAUTH_AUTH_PASSWORD = 0,        /* ROPC with the caller's password */
  MSOAUTH_AUTH_TOKEN = 1,           /* the caller gives the access token */
  MSOAUTH_AUTH_REFRESH = 2,         /* the user's cached refresh token */
  MSOAUTH_AUTH_SERVICE_ACCOUNT = 3, /* a service account's token */
  MSOAUTH_AUTH_APP = 4,             /* client credentials, app-only */
};

enum msoauth_cache_backend_id {
  MSOAUTH_CACHE_FILE = 0,  /* one machine: cache_dir */
  MSOAUTH_CACHE_REDIS = 1, /* a fleet: Redis, and cache_dir as fallback */
};

struct msoauth_config {
  char *path;    /* the file read, for messages */
  char *profile; /* the profile chosen, NULL for the defaults */

  char *authority; /* https://..., without a trailing slash */
  char *tenant;
  char *client_id;
  struct msoauth_secret *client_secret; /* client_secret or its file; NULL */
  char *client_certificate_file;        /* NULL when none */
  char *client_key_file;                /* NULL when none */
  char *scope;                          /* never NULL after loading */
  enum msoauth_auth auth;

  char **domains; /* lowercased; n_domains == 0 means any domain */
  size_t n_domains;
  char *default_domain; /* lowercased; NULL when none */
  char *aliases_file;
  struct msoauth_alias *aliases; /* read from aliases_file */
  size_t n_aliases;
  enum msoauth_alias_policy alias_policy;

  char *service_account; /* lowercased UPN; NULL when none */
  char *service_account_password_file;
  struct msoauth_secret *service_account_password; /* NULL when none */

  char *cache_dir;
  enum msoauth_cache_backend_id cache_backend;
  char *redis_url;                             /* NULL when none */
  struct msoauth_secret *redis_password;       /* NULL when none */
  struct msoauth_secret *redis_key;            /* as read: 64 hex digits */
  struct msoauth_secret *redis_key_old;        /* NULL when none */
  char **allowed_groups; /* as written (object ids) */
  size_t n_allowed_groups;
  long failure_cache;   /* seconds */
  long offline_grace;   /* seconds */
  long refresh_margin;  /* seconds */
  long timeout;         /* seconds, one whole acquisition */
  long connect_timeout; /* seconds */
  long retries;
  char *ca_file; /* NULL: the system's */
  char *ca_path; /* NULL: none */
  char *proxy;   /* NULL: none */
  enum msoauth_level log_level;
  int store_tokens;
  int canonical_user; /* the host's user name becomes the identity
                         verified */
  char *backends[MSOAUTH_N_SERVICES]; /* "HOST:PORT tls|starttls" */
  /* Not a key of the file: set by a caller that runs as root now and is
   * about to become cache_dir's owner (the SASL plugin in Postfix). Only
   * then may root open another user's cache_dir; see cache.h. */
  int cache_allow_foreign_dir;
};

/* Flags of msoauth_config_load. */
/* The host verifies users' passwords (the PAM module): auth is password
 * whatever the file says, and the scope gains "openid profile", so that
 * the id token names whose password was verified. */
#define MSOAUTH_CONFIG_VERIFY_PASSWORDS 0x1

/*
 * Reads the file at path (NULL: the built-in default path), takes the keys
 * before any section, then those of section [profile] when profile is not
 * NULL, then the n_overrides "KEY=VALUE" strings, validates the result and
 * reads the files it names (secret files, aliases_file).
 *
 * Every problem found is logged to log (may be NULL) as an error naming the
 * file, the line and the key; the first is returned in err and the function
 * fails: no partial configuration is ever returned. The caller owns *cfg_r
 * and frees it with msoauth_config_free.
 */
msoauth_rc msoauth_config_load(const char *path, const char *profile,
                               const char *const *overrides, size_t n_overrides,
                               unsigned flags, const struct msoauth_log *log,
                               struct msoauth_config **cfg_r,
                               struct msoauth_err *err)
    __attribute__((warn_unused_result));

/* Frees *cfg (wiping its secrets) and sets it to NULL. Accepts NULL. */
void msoauth_config_free(struct msoauth_config **cfg);

/* The default configuration file path, set by configure. */
const char *msoauth_config_default_path(void);

/* "password", "token", "refresh", "service_account" or "app". */
const char *msoauth_auth_name(enum msoauth_auth auth);

/* A backend of msoauth checkpassword, as parsed from its key. */
struct msoauth_backend {
  char host[256]; /* a name or an address (IPv6 without brackets) */
  long port;
  int starttls; /* STARTTLS, else TLS from the start */
};

/* Parses value ("HOST:PORT tls|starttls", HOST a name, an IPv4 address or
 * an [IPv6] address) into *out. NULL, or why value is refused. */
const char *msoauth_backend_parse(const char *value,
                                  struct msoauth_backend *out);

/* Whether the client is confidential (a secret or a certificate). */
int msoauth_config_confidential(const struct msoauth_config *cfg);

#endif
