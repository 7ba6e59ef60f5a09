/*
 * token_settings.c - the configuration, cut into the settings of each layer.
 *
 * Every field a layer reads from msoauth.conf is chosen here, so a layer
 * that gains a setting gains it in one place, and a second backend or host
 * fills the same structs from elsewhere.
 */
#include "config_build.h"

#include <string.h>

#include "cache.h"
#include "grant.h"
#include "identity.h"
#include "token_settings.h"

void msoauth_settings_http(const struct msoauth_config *cfg,
                           struct msoauth_http_settings *set) {
  memset(set, 0, sizeof(*set));
  set->connect_timeout = cfg->connect_timeout;
  set->retries = cfg->retries;
  set->ca_file = cfg->ca_file;
  set->ca_path = cfg->ca_path;
  set->proxy = cfg->proxy;
}

void msoauth_settings_grant(const struct msoauth_config *cfg,
                            struct msoauth_grant_settings *set) {
  memset(set, 0, sizeof(*set));
  set->authority = cfg->authority;
  set->tenant = cfg->tenant;
  set->client_id = cfg->client_id;
  set->client_secret = cfg->client_secret;
  set->client_certificate_file = cfg->client_certificate_file;
  set->client_key_file = cfg->client_key_file;
  msoauth_settings_http(cfg, &set->http);
}

void msoauth_settings_cache(const struct msoauth_config *cfg,
                            struct msoauth_cache_settings *set) {
  memset(set, 0, sizeof(*set));
  set->dir = cfg->cache_dir;
  set->allow_foreign_dir = cfg->cache_allow_foreign_dir;
  set->redis = cfg->cache_backend == MSOAUTH_CACHE_REDIS;
  set->redis_url = cfg->redis_url;
  set->redis_password = cfg->redis_password;
  set->redis_key = cfg->redis_key;
  set->redis_key_old = cfg->redis_key_old;
  set->ca_file = cfg->ca_file;
  set->ca_path = cfg->ca_path;
  set->connect_timeout_ms = cfg->connect_timeout * 1000;
  set->lock_ttl_ms = cfg->timeout * 1000;
}

void msoauth_settings_identity(const struct msoauth_config *cfg,
                               struct msoauth_identity_settings *set) {
  memset(set, 0, sizeof(*set));
  set->domains = cfg->domains;
  set->n_domains = cfg->n_domains;
  set->default_domain = cfg->default_domain;
  set->aliases = cfg->aliases;
  set->n_aliases = cfg->n_aliases;
  set->alias_policy = cfg->alias_policy;
  set->tenant = cfg->tenant;
  set->client_id = cfg->client_id;
  set->service_account = cfg->service_account;
}
