/*
 * identity.c - the identity rules of the contract, applied before any
 * request: names are checked, trimmed, lowercased, completed with
 * default_domain, mapped through the aliases and matched against `domains`.
 */
#include "config_build.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "identity.h"
#include "text.h"

/* Shown in place of a name that cannot be written into a log line. */
#define UNPRINTABLE "(a name with control characters)"

static int is_control(unsigned char c) {
  return c < 0x20 || c == 0x7f;
}

/* Whether s holds a control character (C0, DEL, C1) or invalid UTF-8, so
 * it must not be echoed into a log: a tid or a name out of a token has
 * passed no other rule. */
static int has_control(const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  size_t len = strlen(s);

  for (size_t i = 0; i < len;) {
    unsigned long cp = 0;
    size_t n = msoauth_utf8_seq(p + i, len - i, &cp);

    if (n == 0 || cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f))
      return 1;
    i += n;
  }
  return 0;
}

/* s itself when it is safe to write into a detail line. */
static const char *shown(const char *s) {
  if (s == NULL)
    return "(none)";
  return has_control(s) ? UNPRINTABLE : s;
}

/* Rule 4 on the raw bytes, before anything else looks at them. */
static msoauth_rc check_raw(const char *name, size_t len,
                            struct msoauth_err *err) {
  if (name == NULL || len == 0)
    return msoauth_fail(err, MSOAUTH_ERR_NAME, "empty user name");
  for (size_t i = 0; i < len; i++)
    if (is_control((unsigned char)name[i]))
      return msoauth_fail(err, MSOAUTH_ERR_NAME,
                          "user name contains control characters");
  if (len > MSOAUTH_NAME_MAX)
    return msoauth_fail(err, MSOAUTH_ERR_NAME, "user name longer than %d bytes",
                        MSOAUTH_NAME_MAX);
  return MSOAUTH_OK;
}

/* Valid UTF-8 without C1 controls (U+0080..U+009F), which are control
 * characters as much as the C0 ones rule 4 names. */
static msoauth_rc check_utf8(const char *s, size_t len,
                             struct msoauth_err *err) {
  const unsigned char *p = (const unsigned char *)s;

  for (size_t i = 0; i < len;) {
    unsigned long cp;
    size_t n = msoauth_utf8_seq(p + i, len - i, &cp);

    if (n == 0)
      return msoauth_fail(err, MSOAUTH_ERR_NAME,
                          "user name is not valid UTF-8");
    if (cp >= 0x80 && cp <= 0x9f)
      return msoauth_fail(err, MSOAUTH_ERR_NAME,
                          "user name contains control characters");
    i += n;
  }
  return MSOAUTH_OK;
}

/* A label of a domain: [a-z0-9-], not empty, no '-' at either end. */
static int label_ok(const char *s, size_t len) {
  if (len == 0 || s[0] == '-' || s[len - 1] == '-')
    return 0;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];

    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
      return 0;
  }
  return 1;
}

/* Dot-separated labels, at least two. */
static int domain_ok(const char *domain) {
  size_t labels = 0;

  for (;;) {
    const char *dot = strchr(domain, '.');
    size_t len = dot != NULL ? (size_t)(dot - domain) : strlen(domain);

    if (!label_ok(domain, len))
      return 0;
    labels++;
    if (dot == NULL)
      break;
    domain = dot + 1;
  }
  return labels >= 2;
}

/* The syntax of a (lowercased) address: local@domain. */
static msoauth_rc check_address(const char *addr, struct msoauth_err *err) {
  const char *at = strchr(addr, '@');

  if (at == NULL || strchr(at + 1, '@') != NULL)
    return msoauth_fail(err, MSOAUTH_ERR_NAME,
                        "%s: a user name needs exactly one '@'", shown(addr));
  if (at == addr)
    return msoauth_fail(err, MSOAUTH_ERR_NAME, "%s: empty local part",
                        shown(addr));
  if (memchr(addr, ' ', (size_t)(at - addr)) != NULL)
    return msoauth_fail(err, MSOAUTH_ERR_NAME, "%s: spaces in the local part",
                        shown(addr));
  if (!domain_ok(at + 1))
    return msoauth_fail(err, MSOAUTH_ERR_NAME, "%s: malformed domain",
                        shown(addr));
  return MSOAUTH_OK;
}

/* Rule 2, first half: the domain must be one of `domains` (if any). */
static msoauth_rc check_domain(const struct msoauth_identity_settings *set,
                               const char *addr, struct msoauth_err *err) {
  const char *domain = msoauth_identity_domain(addr);

  if (domain == NULL)
    return msoauth_fail(err, MSOAUTH_ERR_NAME, "%s: no domain", shown(addr));
  if (set->n_domains == 0)
    return MSOAUTH_OK;
  for (size_t i = 0; i < set->n_domains; i++)
    if (set->domains[i] != NULL && strcasecmp(set->domains[i], domain) == 0)
      return MSOAUTH_OK;
  return msoauth_fail(err, MSOAUTH_ERR_DOMAIN,
                      "%s: domain %s is not accepted (see `domains`)",
                      shown(addr), shown(domain));
}

/* The detail of a rejected alias; the primary address must survive the
 * cap of the detail, so a long alias is left out rather than it. */
static msoauth_rc fail_alias(const char *alias, const char *primary,
                             struct msoauth_err *err) {
  static const char middle[] = " is an alias: sign in as ";

  if (strlen(alias) + sizeof(middle) + strlen(primary) > MSOAUTH_ERR_DETAIL_MAX)
    return msoauth_fail(err, MSOAUTH_ERR_ALIAS,
                        "an alias was given: sign in as %s", shown(primary));
  return msoauth_fail(err, MSOAUTH_ERR_ALIAS, "%s%s%s", shown(alias), middle,
                      shown(primary));
}

/* Rule 4, trimming, UTF-8 and lowercasing: *out_r is a new string. */
static msoauth_rc clean(const char *name, size_t len, char **out_r,
                        struct msoauth_err *err) {
  char *out;
  msoauth_rc rc;

  *out_r = NULL;
  rc = check_raw(name, len, err);
  if (rc)
    return rc;
  while (len > 0 && name[0] == ' ') {
    name++;
    len--;
  }
  while (len > 0 && name[len - 1] == ' ')
    len--;
  if (len == 0)
    return msoauth_fail(err, MSOAUTH_ERR_NAME, "empty user name");
  rc = check_utf8(name, len, err);
  if (rc)
    return rc;
  out = malloc(len + 1);
  if (out == NULL)
    return msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
  /* Entra UPNs are ASCII in practice: other bytes are left alone. */
  for (size_t i = 0; i < len; i++) {
    char c = name[i];

    out[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
  }
  out[len] = '\0';
  *out_r = out;
  return MSOAUTH_OK;
}

/* Rule 3 with aliases_file: *addr may be replaced by its primary address. */
static msoauth_rc apply_aliases(const struct msoauth_identity_settings *set, char **addr,
                                struct msoauth_err *err) {
  const struct msoauth_alias *hit =
      msoauth_aliases_find(set->aliases, set->n_aliases, *addr);
  char *primary = NULL;

  if (hit == NULL)
    return MSOAUTH_OK;
  if (set->alias_policy != MSOAUTH_ALIAS_RESOLVE)
    return fail_alias(*addr, hit->primary, err);
  /* The aliases file is the administrator's, but what it yields must obey
   * the same rules as what a user types. */
  if (clean(hit->primary, strlen(hit->primary), &primary, NULL) != MSOAUTH_OK ||
      check_address(primary, NULL) != MSOAUTH_OK) {
    free(primary);
    return msoauth_fail(err, MSOAUTH_ERR_CONFIG,
                        "aliases_file: primary address of %s is malformed",
                        shown(*addr));
  }
  free(*addr);
  *addr = primary;
  return MSOAUTH_OK;
}

/* Appends "@default_domain" to a bare name. */
static msoauth_rc add_default_domain(const struct msoauth_identity_settings *set,
                                     char **addr, struct msoauth_err *err) {
  size_t len = strlen(*addr), dlen;
  char *full;

  if (strchr(*addr, '@') != NULL)
    return MSOAUTH_OK;
  if (set->default_domain == NULL || set->default_domain[0] == '\0')
    return msoauth_fail(err, MSOAUTH_ERR_DOMAIN,
                        "%s: no domain and no default_domain", shown(*addr));
  dlen = strlen(set->default_domain);
  if (len + 1 + dlen > MSOAUTH_NAME_MAX)
    return msoauth_fail(err, MSOAUTH_ERR_NAME,
                        "user name longer than %d bytes with default_domain",
                        MSOAUTH_NAME_MAX);
  full = malloc(len + 1 + dlen + 1);
  if (full == NULL)
    return msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
  memcpy(full, *addr, len);
  full[len] = '@';
  memcpy(full + len + 1, set->default_domain, dlen + 1);
  free(*addr);
  *addr = full;
  return MSOAUTH_OK;
}

msoauth_rc msoauth_identity_normalize(const struct msoauth_identity_settings *set,
                                      const char *name, size_t len,
                                      char **identity_r,
                                      struct msoauth_err *err) {
  char *addr = NULL;
  msoauth_rc rc;

  *identity_r = NULL;
  if (set == NULL)
    return msoauth_fail(err, MSOAUTH_ERR_INVALID, "no settings");
  rc = clean(name, len, &addr, err);
  if (!rc)
    rc = add_default_domain(set, &addr, err);
  if (!rc)
    rc = check_address(addr, err);
  if (!rc)
    rc = apply_aliases(set, &addr, err);
  if (!rc)
    rc = check_domain(set, addr, err);
  if (rc)
    goto out;
  *identity_r = addr;
  addr = NULL;
out:
  free(addr);
  return rc;
}

msoauth_rc msoauth_identity_check_service(const struct msoauth_identity_settings *set,
                                          const char *target,
                                          struct msoauth_err *err) {
  const char *mine, *theirs;

  if (set == NULL || set->service_account == NULL)
    return msoauth_fail(err, MSOAUTH_ERR_CONFIG,
                        "auth = service_account needs service_account");
  mine = msoauth_identity_domain(set->service_account);
  if (mine == NULL || mine[0] == '\0')
    return msoauth_fail(err, MSOAUTH_ERR_CONFIG,
                        "service_account %s has no domain",
                        shown(set->service_account));
  theirs = target != NULL ? msoauth_identity_domain(target) : NULL;
  if (theirs == NULL || theirs[0] == '\0')
    return msoauth_fail(err, MSOAUTH_ERR_NAME, "%s: no domain", shown(target));
  /* Exact: a subdomain is another domain, with other mailboxes. */
  if (strcasecmp(mine, theirs) != 0)
    return msoauth_fail(err, MSOAUTH_ERR_CROSS_DOMAIN,
                        "credentials of %s cannot act for %s "
                        "(another domain)",
                        shown(set->service_account), shown(target));
  return MSOAUTH_OK;
}

msoauth_rc msoauth_identity_match_token(const struct msoauth_identity_settings *set,
                                        const char *asked,
                                        const char *token_name,
                                        char **identity_r,
                                        struct msoauth_err *err) {
  char *named = NULL;
  msoauth_rc rc = MSOAUTH_OK;

  *identity_r = NULL;
  if (set == NULL || asked == NULL)
    return msoauth_fail(err, MSOAUTH_ERR_INVALID, "no configuration or user");
  if (token_name != NULL) {
    rc = clean(token_name, strlen(token_name), &named, err);
    if (rc)
      goto out;
  }
  if (named == NULL || strcasecmp(named, asked) == 0) {
    *identity_r = strdup(asked);
    if (*identity_r == NULL)
      rc = msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
    goto out;
  }
  /* The token names another primary identity: asked was an alias. */
  if (set->alias_policy != MSOAUTH_ALIAS_RESOLVE) {
    rc = fail_alias(asked, named, err);
    goto out;
  }
  rc = check_address(named, err);
  if (!rc)
    rc = check_domain(set, named, err);
  if (rc)
    goto out;
  *identity_r = named;
  named = NULL;
out:
  free(named);
  return rc;
}

int msoauth_identity_tenant_is_id(const char *tenant) {
  static const char form[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";

  if (tenant == NULL || strlen(tenant) != sizeof(form) - 1)
    return 0;
  for (size_t i = 0; form[i] != '\0'; i++) {
    unsigned char c = (unsigned char)tenant[i];
    int hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
              (c >= 'A' && c <= 'F');

    if (form[i] == '-' ? c != '-' : !hex)
      return 0;
  }
  return 1;
}

/* The tenant a token names against a tenant id in `tenant`. */
static msoauth_rc check_tid(const struct msoauth_identity_settings *set, const char *what,
                            const char *tid, struct msoauth_err *err) {
  if (!msoauth_identity_tenant_is_id(set->tenant))
    return MSOAUTH_OK;
  if (tid == NULL)
    return msoauth_fail(err, MSOAUTH_ERR_TENANT,
                        "the %s names no tenant (tid); tenant is %s", what,
                        set->tenant);
  if (strcasecmp(tid, set->tenant) != 0)
    return msoauth_fail(err, MSOAUTH_ERR_TENANT,
                        "the %s was issued by tenant %s, not by %s "
                        "(tenant): a user of another tenant",
                        what, shown(tid), set->tenant);
  return MSOAUTH_OK;
}

/* The id token's own checks: its alg, its audience, its tenant. */
static msoauth_rc check_id_token(const struct msoauth_identity_settings *set,
                                 const struct msoauth_claims *c,
                                 struct msoauth_err *err) {
  /* Entra signs id tokens with RS256; "none" or an HMAC would mean
   * anyone could have made it. */
  if (c->alg == NULL || strcmp(c->alg, "RS256") != 0)
    return msoauth_fail(err, MSOAUTH_ERR_NO_IDENTITY,
                        "the id token is signed with %s, not RS256: refused",
                        shown(c->alg));
  if (c->aud == NULL || strcasecmp(c->aud, set->client_id) != 0)
    return msoauth_fail(err, MSOAUTH_ERR_NO_IDENTITY,
                        "the id token is for %s, not for this app (%s): "
                        "refused",
                        shown(c->aud), set->client_id);
  return check_tid(set, "id token", c->tid, err);
}

/* The access token's tenant, when it can be read at all: Microsoft may
 * hand out opaque access tokens, and the id token decides then. */
static msoauth_rc check_access_token(const struct msoauth_identity_settings *set,
                                     const struct msoauth_secret *access,
                                     struct msoauth_err *err) {
  struct msoauth_claims c;
  msoauth_rc rc;

  if (access == NULL ||
      msoauth_jwt_decode(msoauth_secret_value(access),
                         msoauth_secret_len(access), &c, NULL) != MSOAUTH_OK)
    return MSOAUTH_OK;
  rc = c.tid != NULL ? check_tid(set, "access token", c.tid, err) : MSOAUTH_OK;
  msoauth_claims_clear(&c);
  return rc;
}

msoauth_rc msoauth_identity_from_tokens(const struct msoauth_identity_settings *set,
                                        const char *asked,
                                        const struct msoauth_secret *id_token,
                                        const struct msoauth_secret *access,
                                        struct msoauth_claims *claims_r,
                                        char **identity_r,
                                        struct msoauth_err *err) {
  struct msoauth_claims claims;
  struct msoauth_err why;
  const char *named;
  msoauth_rc rc;

  *identity_r = NULL;
  memset(&claims, 0, sizeof(claims));
  if (claims_r != NULL)
    memset(claims_r, 0, sizeof(*claims_r));
  if (set == NULL || asked == NULL)
    return msoauth_fail(err, MSOAUTH_ERR_INVALID, "no configuration or user");
  /* Fail closed: without an id token nobody can say whom the tokens are
   * for, and the name asked for is no evidence. */
  if (id_token == NULL)
    return msoauth_fail(err, MSOAUTH_ERR_NO_IDENTITY,
                        "the identity platform returned no id token for %s, "
                        "so whom the tokens are for cannot be checked: "
                        "refused",
                        shown(asked));
  msoauth_err_clear(&why);
  if (msoauth_jwt_decode(msoauth_secret_value(id_token),
                         msoauth_secret_len(id_token), &claims,
                         &why) != MSOAUTH_OK)
    return msoauth_fail(err, MSOAUTH_ERR_NO_IDENTITY,
                        "the id token for %s cannot be read (%s): refused",
                        shown(asked), why.detail);
  rc = check_id_token(set, &claims, err);
  if (!rc)
    rc = check_access_token(set, access, err);
  if (rc)
    goto out;
  named = msoauth_claims_identity(&claims);
  if (named == NULL) {
    rc = msoauth_fail(err, MSOAUTH_ERR_NO_IDENTITY,
                      "the id token for %s names nobody (no upn or "
                      "preferred_username: is the profile scope allowed?): "
                      "refused",
                      shown(asked));
    goto out;
  }
  rc = msoauth_identity_match_token(set, asked, named, identity_r, err);
out:
  if (!rc && claims_r != NULL)
    *claims_r = claims;
  else
    msoauth_claims_clear(&claims);
  return rc;
}

const char *msoauth_identity_domain(const char *identity) {
  const char *at = identity != NULL ? strrchr(identity, '@') : NULL;

  return at != NULL ? at + 1 : NULL;
}
