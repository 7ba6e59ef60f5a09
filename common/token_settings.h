/*
 * token_settings.h - the one place that turns the configuration into the
 * small settings each layer takes (HTTP, grants, the cache, the identity
 * rules). It belongs to the token layer, which composes the layers; the
 * structs are declared by each layer's header.
 *
 * The layers know no struct msoauth_config: each takes only what it uses,
 * as Dovecot's lib-oauth2 takes struct oauth2_settings. The settings point
 * into cfg (nothing is copied): cfg must outlive what is made from them.
 */
#ifndef MSOAUTH_TOKEN_SETTINGS_H
#define MSOAUTH_TOKEN_SETTINGS_H

#include "config.h"

struct msoauth_http_settings;     /* http.h */
struct msoauth_grant_settings;    /* grant.h */
struct msoauth_cache_settings;    /* cache.h */
struct msoauth_identity_settings; /* identity.h */

void msoauth_settings_http(const struct msoauth_config *cfg,
                           struct msoauth_http_settings *set);

/* The HTTP settings included. */
void msoauth_settings_grant(const struct msoauth_config *cfg,
                            struct msoauth_grant_settings *set);

void msoauth_settings_cache(const struct msoauth_config *cfg,
                            struct msoauth_cache_settings *set);

void msoauth_settings_identity(const struct msoauth_config *cfg,
                               struct msoauth_identity_settings *set);

#endif
