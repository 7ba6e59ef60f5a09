/*
 * config_free.c - what a loaded configuration holds, read by every layer,
 * and its release (config.c loads it). Secrets die wiped.
 */
#include "config_build.h"

#include <stdlib.h>

#include "aliases.h"
#include "config.h"
#include "config_keys.h"
#include "secret.h"

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
  msoauth_free_list(&c->domains, &c->n_domains);
  free(c->default_domain);
  free(c->aliases_file);
  msoauth_aliases_free(&c->aliases, &c->n_aliases);
  free(c->service_account);
  free(c->service_account_password_file);
  msoauth_secret_free(&c->service_account_password);
  free(c->cache_dir);
  msoauth_free_list(&c->allowed_groups, &c->n_allowed_groups);
  free(c->ca_file);
  free(c->ca_path);
  free(c->redis_url);
  msoauth_secret_free(&c->redis_password);
  msoauth_secret_free(&c->redis_key);
  msoauth_secret_free(&c->redis_key_old);
  /* A proxy URL may carry the proxy's password. */
  msoauth_free_wiped(&c->proxy);
  for (int i = 0; i < MSOAUTH_N_SERVICES; i++)
    free(c->backends[i]);
  free(c);
  *cfg = NULL;
}
