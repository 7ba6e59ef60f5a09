/*
 * jwt.c - reading the claims of a JWT issued by the identity platform.
 *
 * Strict on shape and types: exactly three non-empty base64url parts, a
 * header object with a string alg, a payload object, and each claim we read
 * of the JSON type Microsoft documents. A claim of another type (null
 * included) is an error rather than a guess: identity decisions rest on
 * these values.
 */
#include "config_build.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "buf.h"
#include "json.h"
#include "jwt.h"

static msoauth_rc bad_claim(struct msoauth_err *err, const char *name,
                            const char *want) {
  return msoauth_fail(err, MSOAUTH_ERR_PROTOCOL, "token claim %s is not %s",
                      name, want);
}

/* Whether val is a JSON string without an embedded NUL (which would make
 * the C string differ from the claim). */
static int is_clean_string(struct json_object *val) {
  const char *s;

  if (!json_object_is_type(val, json_type_string))
    return 0;
  s = json_object_get_string(val);
  return strlen(s) == (size_t)json_object_get_string_len(val);
}

/* Decodes one base64url part and parses it as a JSON object. */
static msoauth_rc decode_part(const char *s, size_t len, const char *what,
                              struct json_object **obj_r,
                              struct msoauth_err *err) {
  struct msoauth_buf buf;
  msoauth_rc rc;

  *obj_r = NULL;
  msoauth_buf_init(&buf, MSOAUTH_JWT_MAX, 1);
  rc = msoauth_base64_decode(&buf, s, len, 1);
  if (rc == MSOAUTH_ERR_NOMEM) {
    rc = msoauth_fail(err, rc, "out of memory");
    goto out;
  }
  if (rc) {
    rc = msoauth_fail(err, MSOAUTH_ERR_PROTOCOL, "token %s is not base64url",
                      what);
    goto out;
  }
  *obj_r = msoauth_json_parse(buf.data, buf.len);
  if (!json_object_is_type(*obj_r, json_type_object)) {
    json_object_put(*obj_r);
    *obj_r = NULL;
    rc = msoauth_fail(err, MSOAUTH_ERR_PROTOCOL,
                      "token %s is not a JSON object", what);
  }
out:
  msoauth_buf_free(&buf);
  return rc;
}

/* Copies the string claim key into *out (left NULL when absent). */
static msoauth_rc get_string(struct json_object *obj, const char *key,
                             char **out, struct msoauth_err *err) {
  struct json_object *val;

  if (!json_object_object_get_ex(obj, key, &val))
    return MSOAUTH_OK;
  if (!is_clean_string(val))
    return bad_claim(err, key, "a string");
  *out = strdup(json_object_get_string(val));
  if (*out == NULL)
    return msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
  return MSOAUTH_OK;
}

/* Copies an array of strings into a new vector (*out, *n_r). */
static msoauth_rc copy_strings(struct json_object *arr, const char *key,
                               char ***out, size_t *n_r,
                               struct msoauth_err *err) {
  size_t n = json_object_array_length(arr);

  for (size_t i = 0; i < n; i++)
    if (!is_clean_string(json_object_array_get_idx(arr, i)))
      return bad_claim(err, key, "an array of strings");
  if (n == 0)
    return MSOAUTH_OK;
  *out = calloc(n, sizeof(**out));
  if (*out == NULL)
    return msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
  for (*n_r = 0; *n_r < n; (*n_r)++) {
    (*out)[*n_r] =
        strdup(json_object_get_string(json_object_array_get_idx(arr, *n_r)));
    if ((*out)[*n_r] == NULL)
      return msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
  }
  return MSOAUTH_OK;
}

/* The array-of-strings claim key (roles, groups). */
static msoauth_rc get_strings(struct json_object *obj, const char *key,
                              char ***out, size_t *n_r,
                              struct msoauth_err *err) {
  struct json_object *val;

  if (!json_object_object_get_ex(obj, key, &val))
    return MSOAUTH_OK;
  if (!json_object_is_type(val, json_type_array))
    return bad_claim(err, key, "an array of strings");
  return copy_strings(val, key, out, n_r, err);
}

/* aud: a string, or an array of strings of which the first is kept. */
static msoauth_rc get_aud(struct json_object *obj, char **out,
                          struct msoauth_err *err) {
  struct json_object *val;
  struct json_object *first;

  if (!json_object_object_get_ex(obj, "aud", &val))
    return MSOAUTH_OK;
  if (!json_object_is_type(val, json_type_array))
    return get_string(obj, "aud", out, err);
  for (size_t i = 0; i < json_object_array_length(val); i++)
    if (!is_clean_string(json_object_array_get_idx(val, i)))
      return bad_claim(err, "aud", "a string or an array of strings");
  if (json_object_array_length(val) == 0)
    return MSOAUTH_OK;
  first = json_object_array_get_idx(val, 0);
  *out = strdup(json_object_get_string(first));
  if (*out == NULL)
    return msoauth_fail(err, MSOAUTH_ERR_NOMEM, "out of memory");
  return MSOAUTH_OK;
}

/* An integer claim (NumericDate); a number in a string is not accepted. */
static msoauth_rc get_int(struct json_object *obj, const char *key,
                          long long *out, struct msoauth_err *err) {
  struct json_object *val;
  int64_t v;

  if (!json_object_object_get_ex(obj, key, &val))
    return MSOAUTH_OK;
  if (!json_object_is_type(val, json_type_int))
    return bad_claim(err, key, "an integer");
  v = json_object_get_int64(val);
  /* json-c clamps what does not fit to the int64 limits. */
  if (v == INT64_MAX || v == INT64_MIN)
    return bad_claim(err, key, "an integer in range");
  *out = (long long)v;
  return MSOAUTH_OK;
}

/* Whether the groups claim was replaced by an overage indication:
 * _claim_names.groups (id tokens) or hasgroups: true (implicit flow). */
static msoauth_rc get_overage(struct json_object *obj, int *out,
                              struct msoauth_err *err) {
  struct json_object *val;

  if (json_object_object_get_ex(obj, "_claim_names", &val)) {
    if (!json_object_is_type(val, json_type_object))
      return bad_claim(err, "_claim_names", "an object");
    if (json_object_object_get_ex(val, "groups", NULL))
      *out = 1;
  }
  if (json_object_object_get_ex(obj, "hasgroups", &val)) {
    if (!json_object_is_type(val, json_type_boolean))
      return bad_claim(err, "hasgroups", "a boolean");
    if (json_object_get_boolean(val))
      *out = 1;
  }
  return MSOAUTH_OK;
}

/* Reads the claims we use from the payload object. */
static msoauth_rc read_claims(struct json_object *obj, struct msoauth_claims *c,
                              struct msoauth_err *err) {
  msoauth_rc rc;

  rc = get_string(obj, "upn", &c->upn, err);
  if (!rc)
    rc = get_string(obj, "preferred_username", &c->preferred_username, err);
  if (!rc)
    rc = get_string(obj, "unique_name", &c->unique_name, err);
  if (!rc)
    rc = get_string(obj, "oid", &c->oid, err);
  if (!rc)
    rc = get_string(obj, "tid", &c->tid, err);
  if (!rc)
    rc = get_aud(obj, &c->aud, err);
  if (!rc)
    rc = get_string(obj, "appid", &c->appid, err);
  if (!rc && c->appid == NULL)
    rc = get_string(obj, "azp", &c->appid, err);
  /* RFC 9068, the standard's access token: client_id and scope. */
  if (!rc && c->appid == NULL)
    rc = get_string(obj, "client_id", &c->appid, err);
  if (!rc)
    rc = get_string(obj, "scp", &c->scp, err);
  if (!rc && c->scp == NULL)
    rc = get_string(obj, "scope", &c->scp, err);
  if (!rc)
    rc = get_strings(obj, "roles", &c->roles, &c->n_roles, err);
  if (!rc)
    rc = get_strings(obj, "groups", &c->groups, &c->n_groups, err);
  if (!rc)
    rc = get_overage(obj, &c->groups_overage, err);
  if (!rc)
    rc = get_int(obj, "exp", &c->exp, err);
  if (!rc)
    rc = get_int(obj, "iat", &c->iat, err);
  if (!rc)
    rc = get_int(obj, "nbf", &c->nbf, err);
  return rc;
}

/* Splits jwt into its three parts: the header ends at *dot1, the payload
 * at *dot2. */
static msoauth_rc split(const char *jwt, size_t len, size_t *dot1, size_t *dot2,
                        struct msoauth_err *err) {
  const char *p1 = memchr(jwt, '.', len);
  const char *p2;

  if (p1 == NULL)
    return msoauth_fail(err, MSOAUTH_ERR_PROTOCOL, "token is not a JWT");
  p2 = memchr(p1 + 1, '.', len - (size_t)(p1 + 1 - jwt));
  if (p2 == NULL || memchr(p2 + 1, '.', len - (size_t)(p2 + 1 - jwt)) != NULL)
    return msoauth_fail(err, MSOAUTH_ERR_PROTOCOL,
                        "token does not have three parts");
  *dot1 = (size_t)(p1 - jwt);
  *dot2 = (size_t)(p2 - jwt);
  if (*dot1 == 0 || *dot2 == *dot1 + 1 || *dot2 + 1 == len)
    return msoauth_fail(err, MSOAUTH_ERR_PROTOCOL, "token has an empty part");
  return MSOAUTH_OK;
}

msoauth_rc msoauth_jwt_decode(const char *jwt, size_t len,
                              struct msoauth_claims *claims,
                              struct msoauth_err *err) {
  struct json_object *header = NULL;
  struct json_object *payload = NULL;
  size_t dot1 = 0, dot2 = 0;
  int bad = 0;
  msoauth_rc rc;

  memset(claims, 0, sizeof(*claims));
  if (jwt == NULL || len == 0)
    return msoauth_fail(err, MSOAUTH_ERR_PROTOCOL, "empty token");
  if (len > MSOAUTH_JWT_MAX)
    return msoauth_fail(err, MSOAUTH_ERR_PROTOCOL, "token longer than %d bytes",
                        MSOAUTH_JWT_MAX);
  if (memchr(jwt, '\0', len) != NULL)
    return msoauth_fail(err, MSOAUTH_ERR_PROTOCOL, "token holds a NUL byte");
  rc = split(jwt, len, &dot1, &dot2, err);
  if (!rc)
    rc = decode_part(jwt, dot1, "header", &header, err);
  if (!rc && msoauth_json_string(header, "alg", &bad) == NULL)
    rc = msoauth_fail(err, MSOAUTH_ERR_PROTOCOL,
                      "token header has no string alg");
  if (!rc)
    rc = get_string(header, "alg", &claims->alg, err);
  if (!rc)
    rc = decode_part(jwt + dot1 + 1, dot2 - dot1 - 1, "payload", &payload, err);
  if (!rc)
    rc = read_claims(payload, claims, err);
  if (rc)
    msoauth_claims_clear(claims);
  json_object_put(header);
  json_object_put(payload);
  return rc;
}

static void free_strings(char ***v, size_t *n) {
  if (*v != NULL) {
    for (size_t i = 0; i < *n; i++)
      free((*v)[i]);
    free(*v);
  }
  *v = NULL;
  *n = 0;
}

void msoauth_claims_clear(struct msoauth_claims *claims) {
  if (claims == NULL)
    return;
  free(claims->alg);
  free(claims->upn);
  free(claims->preferred_username);
  free(claims->unique_name);
  free(claims->oid);
  free(claims->tid);
  free(claims->aud);
  free(claims->appid);
  free(claims->scp);
  free_strings(&claims->roles, &claims->n_roles);
  free_strings(&claims->groups, &claims->n_groups);
  memset(claims, 0, sizeof(*claims));
}

const char *msoauth_claims_identity(const struct msoauth_claims *claims) {
  if (claims->upn != NULL && claims->upn[0] != '\0')
    return claims->upn;
  if (claims->preferred_username != NULL &&
      claims->preferred_username[0] != '\0')
    return claims->preferred_username;
  if (claims->unique_name != NULL && claims->unique_name[0] != '\0')
    return claims->unique_name;
  return NULL;
}
